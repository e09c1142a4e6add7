#!/usr/bin/env bash
# t_room_purge.sh - an archived room is purged by the hub when its
# retention period ends, and by every device that held it at its next
# sync; a room still in its period is kept; the purged id is never used
# again.
#
#   hub (retention_days 1827, the default) + dev1 (nurse-1) + dev2 (dr-1),
#   rooms tanaka and yamada with both as members, posts and a visit
#   carrying marker texts in each, everyone in step.
#   dev1 archives tanaka, then, 8 s later, yamada; synced.
#   Now (real time): purge-expired --dry-run and purge-expired purge
#   nothing and list both rooms as kept.
#   The hub is stopped and started again under libfaketime just before
#   tanaka's period ends (its run at start purges nothing); once tanaka's
#   period has ended, but not yamada's: --dry-run says tanaka would be
#   purged and changes nothing, the real run purges tanaka only (a log
#   line naming the room only), a second run is a no-op.  The hub goes
#   back to real time (devices sign requests with the time; the hub's
#   faked clock would refuse them).
#   After: the hub refuses reads of tanaka naming the purge, and a new
#   room with that id; each device's sync removes tanaka (timeline
#   refused, room list without it) and keeps yamada; a device that makes
#   a room tanaka again has its push refused naming the purge, and the
#   hub holds nothing under that id; no file of either data dir holds a
#   marker text in the clear.
. "$(dirname "$0")/synclib.sh"

FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
if [ ! -r "$FAKETIME_LIB" ]; then
	echo "SKIP: libfaketime is not installed ($FAKETIME_LIB)"
	pass "skipped: no libfaketime"
	exit 0
fi

HUB=$RK_TMP/hub
D1=$RK_TMP/dev1		# nurse-1
D2=$RK_TMP/dev2		# dr-1
RET_DAYS=1827
RET_MS=$((RET_DAYS * 86400000))
TODAY=$(TZ=JST-9 date +%F)
MARK_T="pg-tanaka-$(rand_hex 4)"
MARK_Y="pg-yamada-$(rand_hex 4)"

sk_hub "$HUB"
grep -q "^retention_days = $RET_DAYS\$" "$HUB/renkei.conf" &&
    pass "renkei init --role hub writes retention_days = $RET_DAYS" ||
    check_fail "hub renkei.conf: $(cat "$HUB/renkei.conf")"
rk "$HUB" room create yamada --patient-name 山田太郎 --consent-date "$TODAY" \
    --member dr-1 --member nurse-1
assert_ok "hub: room yamada"
sk_device "$D1" nurse-1
sk_device "$D2" dr-1

rk "$D1" post tanaka "$MARK_T 褥瘡あり"
assert_ok "dev1 posts in tanaka"
rk "$D1" visit tanaka --bp 128/76 --note "$MARK_T visit"
assert_ok "dev1 records a visit in tanaka"
rk "$D2" post tanaka "$MARK_T from the doctor"
assert_ok "dev2 posts in tanaka"
rk "$D1" post yamada "$MARK_Y 経過良好"
assert_ok "dev1 posts in yamada"
sk_converge "$D1" "$D2" || check_fail "in step: $SK_CONVERGE_LOG"
assert_eq 3 "$(sk_texts "$D2" tanaka "^$MARK_T" | wc -l | tr -d ' ')" \
    "dev2 holds tanaka's three texts"

# --- archive ------------------------------------------------------------------

rk "$D1" --json room archive tanaka --reason death
assert_ok "dev1 archives tanaka"
ARCH_T=$(printf '%s' "$RK_OUT" | json_num archived_at)
[ -n "$ARCH_T" ] || fail "no archived_at in: $RK_OUT"
sleep 8
rk "$D1" room archive yamada --reason moved
assert_ok "dev1 archives yamada, 8 s later"
sk_converge "$D1" "$D2" || check_fail "in step: $SK_CONVERGE_LOG"
rk "$D2" room list
assert_contains "$RK_OUT" "archived" "dev2 holds the rooms archived"

# Now: both rooms are in their retention period.
rk "$HUB" purge-expired --dry-run
assert_ok "purge-expired --dry-run now"
assert_contains "$RK_OUT" "no room would be purged" "nothing would be purged yet"
assert_contains "$RK_OUT" "保存期間 retention period: $RET_DAYS 日" \
    "it names the retention period"
rk "$HUB" purge-expired --json
assert_ok "purge-expired now"
assert_contains "$(printf '%s' "$RK_OUT" | tr -d ' \n')" '"purged":[]' \
    "nothing is purged yet"
assert_contains "$RK_OUT" '"room_id": "tanaka"' "tanaka is listed as kept"
assert_contains "$RK_OUT" '"room_id": "yamada"' "yamada is listed as kept"
rk "$HUB" purge-expired --bogus
assert_refused "an unknown option is refused" "bogus"
rk "$D1" purge-expired
assert_refused "a device refuses purge-expired" "hub"
H_HASH=$(sk_hash "$HUB" tanaka)
[ -n "$H_HASH" ] && pass "the hub still holds tanaka (hash $H_HASH)" ||
    check_fail "the hub has no hash of tanaka before the purge"

# --- the hub, years later --------------------------------------------------------

# Devices must not talk to the hub while its clock is faked: the request
# signatures carry the time, which it would refuse.
rk_stop "$D1"
rk_stop "$D2"
rk_stop "$HUB"
# The faked clock starts 4 s before tanaka's period ends, and runs on.
now_s=$(date +%s)
OFFSET=$(( (ARCH_T + RET_MS) / 1000 - 4 - now_s ))
echo "hub clock offset: +${OFFSET}s"
# (Under ASan the preloaded library comes before ASan's runtime: allowed.)
ASAN_SAVED=${ASAN_OPTIONS-}
export FAKETIME="+${OFFSET}" FAKETIME_DONT_FAKE_MONOTONIC=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
LD_PRELOAD=$FAKETIME_LIB sk_start "$HUB" --listen "127.0.0.1:$SK_PORT" ||
    fail "the hub does not start under libfaketime"
unset FAKETIME FAKETIME_DONT_FAKE_MONOTONIC
if [ -n "$ASAN_SAVED" ]; then
	export ASAN_OPTIONS=$ASAN_SAVED
else
	unset ASAN_OPTIONS
fi
assert_not_contains "$(cat "$HUB.log")" "room tanaka purged" \
    "the run at start purges nothing: tanaka's period has not ended"
rk "$HUB" purge-expired --dry-run
assert_contains "$RK_OUT" "no room would be purged" \
    "seconds before the end of the period nothing would be purged"
sleep 6		# past tanaka's end (+2 s), before yamada's (+4 s after)
rk "$HUB" purge-expired --dry-run --json
assert_ok "purge-expired --dry-run at the end of tanaka's period"
dry=$(printf '%s' "$RK_OUT" | tr -d ' \n')
assert_contains "$dry" '"dry_run":true' "the answer says it was a dry run"
assert_contains "$dry" '"purged":[{"room_id":"tanaka"' "tanaka would be purged"
assert_not_contains "$dry" '"purged":[{"room_id":"yamada"' \
    "yamada would not (its period goes on)"
rk "$HUB" purge-expired --dry-run
assert_contains "$RK_OUT" "削除予定" "the dry run speaks Japanese"
assert_contains "$RK_OUT" "would purge 1 room(s)" "and English"
assert_contains "$RK_OUT" "nothing was changed" "and says nothing changed"
rk "$HUB" purge-expired
assert_ok "purge-expired"
assert_contains "$RK_OUT" "purged 1 room(s)" "it purged one room"
assert_contains "$RK_OUT" "tanaka" "it names tanaka"
assert_contains "$RK_OUT" "kept" "and says a room is kept"
assert_contains "$RK_OUT" "yamada" "that room is yamada"
assert_not_contains "$RK_OUT" "$MARK_T" "no room content is printed"
rk "$HUB" purge-expired --json
assert_contains "$(printf '%s' "$RK_OUT" | tr -d ' \n')" '"purged":[]' \
    "a second purge is a no-op"
assert_contains "$(printf '%s' "$RK_OUT" | tr -d ' \n')" '"already_purged":1' \
    "it counts tanaka as purged before"
sleep 0.2
assert_contains "$(cat "$HUB.log")" "retention: room tanaka purged" \
    "the hub logs the purge, naming the room"
assert_not_contains "$(cat "$HUB.log")" "$MARK_T" "the log holds no content"
assert_not_contains "$(grep retention "$HUB.log")" "田中" \
    "the purge's log lines hold no patient name"
rk_stop "$HUB"

# --- back to real time --------------------------------------------------------------

sk_restart "$HUB"
rk "$HUB" timeline tanaka
assert_refused "the hub refuses to read tanaka" "tanaka" "purged" \
    "retention period"
rk "$HUB" hash tanaka
assert_refused "the hub has no hash of tanaka, and says it was purged" \
    "tanaka" "purged" "保存期間満了"
rk "$HUB" audit tanaka
assert_refused "the hub's audit of tanaka says it was purged" "purged"
rk "$HUB" room create tanaka --patient-name 田中花子 --consent-date "$TODAY" \
    --member dr-1 --member nurse-1
assert_refused "the hub refuses a new room tanaka" "purged"
rk "$HUB" timeline yamada
assert_ok "the hub still reads yamada"
rk "$HUB" room list
assert_not_contains "$RK_OUT" "tanaka" "the hub's room list has no tanaka"

sk_restart "$D1"
sk_restart "$D2"
for d in "$D1" "$D2"; do
	n=$(basename "$d")
	sk_sync "$d"
	assert_ok "$n syncs after the purge"
	rk "$d" timeline tanaka
	assert_refused "$n: tanaka is gone" "tanaka"
	rk "$d" room list
	assert_not_contains "$RK_OUT" "tanaka" "$n: the room list has no tanaka"
	assert_contains "$RK_OUT" "yamada" "$n: yamada is kept"
	assert_eq "$MARK_Y 経過良好" "$(sk_texts "$d" yamada "^$MARK_Y")" \
	    "$n: yamada's post is still there"
	assert_contains "$(cat "$d.log")" "room tanaka: its rows were" \
	    "$n: its log says the room's rows were removed"
done
sk_converge "$D1" "$D2" || check_fail "in step: $SK_CONVERGE_LOG"
assert_eq "$(sk_hash "$HUB" yamada)" "$(sk_hash "$D2" yamada)" \
    "yamada: dev2 and the hub in step"

# A device makes a room tanaka again: the hub refuses it.
rk "$D2" room create tanaka --patient-name 田中花子 --consent-date "$TODAY" \
    --member nurse-1
assert_ok "dev2 can make a room tanaka locally (it cannot know)"
rk "$D2" post tanaka "$MARK_T again"
sk_sync "$D2"
rk "$D2" refused
assert_contains "$RK_OUT" "purged" "the hub refused it, naming the purge"
rk "$HUB" timeline tanaka
assert_refused "the hub still holds nothing of tanaka" "purged"

# No marker in the clear anywhere (the stores are encrypted anyway; the
# API checks above are the real ones).
for d in "$HUB" "$D1"; do
	found=$(grep -rlF "$MARK_T" "$d" 2>/dev/null)
	assert_eq "" "$found" "no file of $(basename "$d") holds tanaka's text"
done

for d in "$D1" "$D2" "$HUB"; do
	rk_stop "$d"
done
