#!/usr/bin/env bash
# t_sync_rules.sh - the hub's rules, at the CLI and at push:
#
#   admin: a patient room without a doctor or dentist is refused naming the
#     rule, accepted with dr-1; a room with an unknown member is refused
#     naming it; a room id that exists is refused.
#   enrolment: a wrong code, a used code, and plain http to a
#     non-loopback hub (also disguised: user@, a name, v4-mapped v6,
#     0.0.0.0) are refused with a reason; the refused attempts do not use
#     up a good code.
#   device rooms: nurse-1's device creates r2 with dr-1: the hub accepts it
#     at sync and dr-1's device receives it (snapshot of the new room), with
#     what was posted in it, same hash everywhere.
#   refused at push: nurse-1's device creates a room whose only other
#     member (nurse-2, registered at the hub after the device's last sync,
#     so the device cannot check the rule itself) is no doctor: the hub
#     refuses it; 'sync' exits non-zero naming the doctor rule; status shows
#     refused 1 and the reason; the room never reaches the hub or dr-1; the
#     device is in step afterwards.  The same when renkeid's own sync (the
#     one each write starts) meets the refusal before 'renkei sync' runs:
#     'renkei sync' then still names it (failure or note).
#   no hijack: a device creating a room whose id exists at the hub (a room
#     its staff is not in) is refused; the hub's room keeps its members.
. "$(dirname "$0")/synclib.sh"

HUB=$RK_TMP/hub
D1=$RK_TMP/dev1		# nurse-1
D2=$RK_TMP/dev2		# dr-1

sk_hub "$HUB"

# refused_above DEV N: DEV's status counts more than N refused changes.
refused_above() {
	[ "$(sk_status_num "$1" refused)" -gt "$2" ]
}

# --- admin room rules --------------------------------------------------------

rk "$HUB" room create r-nodoc --patient-name 山田太郎 \
    --consent-date 2026-01-01 --member nurse-1
assert_refused "hub: room without a doctor or dentist refused" \
    "doctor or dentist"
rk "$HUB" room create r-nodoc --patient-name 山田太郎 \
    --consent-date 2026-01-01 --member nurse-1 --member dr-1
assert_ok "hub: the same room with dr-1 accepted"
rk "$HUB" room create r-ghost --patient-name 山田次郎 \
    --consent-date 2026-01-01 --member dr-1 --member ghost-9
assert_refused "hub: room with an unknown member refused" "ghost-9"
rk "$HUB" room create tanaka --patient-name 別人 \
    --consent-date 2026-01-01 --member dr-1
assert_refused "hub: room id that exists refused" "tanaka"
rk "$HUB" room list
assert_not_contains "$RK_OUT" "r-ghost" "hub: no trace of the refused room"

# --- enrolment ---------------------------------------------------------------

sk_device "$D1" nurse-1

sk_pass "$D2"
run "$RENKEI" init --dir "$D2" --role device --passphrase-file \
    "${RK_PASSFILE[$D2]}" --kdf interactive
[ "$RK_RC" -eq 0 ] || fail "init dev2: $RK_ERR"
sk_start "$D2" || fail "dev2 did not start"

rk "$D2" enroll "ZZZZ-ZZZZ-ZZ" --hub "$SK_URL"
assert_refused "enroll with a wrong code refused" "code"
# A code used by another device (dev3) is used up.
sk_code nurse-1
USED=$SK_CODE
sk_pass "$RK_TMP/dev3"
run "$RENKEI" init --dir "$RK_TMP/dev3" --role device --passphrase-file \
    "${RK_PASSFILE[$RK_TMP/dev3]}" --kdf interactive
[ "$RK_RC" -eq 0 ] || fail "init dev3: $RK_ERR"
sk_start "$RK_TMP/dev3" || fail "dev3 did not start"
rk "$RK_TMP/dev3" enroll "$USED" --hub "$SK_URL"
assert_ok "dev3 enrols with a fresh code"
rk "$D2" enroll "$USED" --hub "$SK_URL"
assert_refused "enroll with a used code refused" "code"
rk_stop "$RK_TMP/dev3"

sk_code dr-1
rk "$D2" enroll "$SK_CODE" --hub http://10.1.2.3:8080
assert_refused "enroll over plain http to a non-loopback address refused" \
    "http"
# Ways around "loopback only" (refused before any connection is made).
for u in "http://127.0.0.1@10.1.2.3:8080" "http://127.0.0.1.nip.io:8080" \
    "http://[::ffff:10.1.2.3]:8080" "http://0.0.0.0:$SK_PORT"; do
	rk "$D2" enroll "$SK_CODE" --hub "$u"
	assert_refused "enroll --hub $u refused"
done
rk "$D2" enroll "$SK_CODE" --hub "$SK_URL"
assert_ok "the code is still good after the refused attempts"
assert_contains "$RK_OUT" "dr-1" "dev2 enrolled as dr-1"
sk_sync "$D2"
assert_ok "dev2 first sync"

# --- a room made on a device -------------------------------------------------

rk "$D1" room create r2 --patient-name 高橋一 --consent-date 2026-01-01 \
    --member dr-1
assert_ok "dev1 creates room r2 with dr-1"
rk "$D1" post r2 "ru-r2-first 初回訪問"
assert_ok "dev1 posts in r2"
sk_sync "$D1"
assert_ok "dev1 sync: the hub accepts r2"
rk "$HUB" room list
assert_contains "$RK_OUT" "r2 " "hub: r2 is there"
assert_eq "ru-r2-first 初回訪問" "$(sk_texts "$HUB" r2 '^ru-')" \
    "hub: the post in r2"
sk_sync "$D2"
assert_ok "dev2 (dr-1) sync after r2"
rk "$D2" room list
assert_contains "$RK_OUT" "r2 " "dev2: dr-1 became a member of r2 (snapshot)"
assert_eq "ru-r2-first 初回訪問" "$(sk_texts "$D2" r2 '^ru-')" \
    "dev2: the post in r2"
rk "$D2" post r2 "ru-r2-reply 了解"
assert_ok "dev2 replies in r2"
sk_converge "$D2" "$D1" || check_fail "r2 in step: $SK_CONVERGE_LOG"
printf '%s\n' "ru-r2-first 初回訪問" "ru-r2-reply 了解" >"$RK_TMP/exp.r2"
sk_check_replicas r2 '^ru-' "$RK_TMP/exp.r2" "$HUB" "$D1" "$D2"

# --- a device room refused at push -------------------------------------------

# nurse-2 is registered after dev1's last sync: dev1 cannot know nurse-2
# is not a doctor, so only the hub can refuse the room.  renkeid syncs by
# itself after each write; to have 'renkei sync' be the one that meets
# the refusal, nurse-1 is suspended while the room is made (the automatic
# sync is refused and backs off for about a second), then resumed.
rk "$HUB" staff add nurse-2 --agency vn-a --name 山本 --profession nurse
assert_ok "hub: staff add nurse-2"
REF0=$(sk_status_num "$D1" refused)
rk "$HUB" staff suspend nurse-1
rk "$D1" room create r3 --patient-name 伊藤 --consent-date 2026-01-01 \
    --member nurse-2
assert_ok "dev1 creates r3 with nurse-2 only (it cannot check the rule)"
sk_wait 5 sk_status_has "$D1" suspended ||
    check_fail "dev1's own sync after the write did not run"
rk "$HUB" staff resume nurse-1
sk_sync "$D1"
assert_ne 0 "$RK_RC" "dev1: sync exits non-zero when the hub refuses r3"
assert_contains "$RK_ERR" "doctor or dentist" \
    "dev1: the sync message names the doctor rule"
assert_eq $((REF0 + 1)) "$(sk_status_num "$D1" refused)" "dev1: refused 1"
rk "$D1" status --json
echo "dev1 status --json after the refusal:"
printf '%s\n' "$RK_OUT" | grep -E '"(pending|refused|last_error|last_refusal|rooms)"'
assert_contains "$(printf '%s' "$RK_OUT" | json_str last_refusal)" \
    "doctor or dentist" "dev1: status --json last_refusal names the rule"
assert_eq 0 "$(printf '%s' "$RK_OUT" | json_num pending)" \
    "dev1: the refused change is not pending"
rk "$D1" status
assert_contains "$RK_OUT" "doctor or dentist" "dev1: status names the rule"
# Nothing the nurse wrote is lost: the refused change stays readable.
rk "$D1" refused
assert_ok "dev1: refused lists the refused changes"
assert_contains "$RK_OUT" "doctor or dentist" "dev1: refused gives the reason"
assert_contains "$RK_OUT" "伊藤" "dev1: refused shows the patient's name"
assert_contains "$RK_OUT" "r3" "dev1: refused names the room"
rk "$HUB" room list
assert_not_contains "$RK_OUT" "r3 " "hub: r3 is not there"
sk_converge "$D1" "$D2" ||
    check_fail "in step after the refusal: $SK_CONVERGE_LOG"
rk "$D2" room list
assert_not_contains "$RK_OUT" "r3 " "dev2: r3 never arrived"
rk "$D1" room list
echo "dev1 rooms after the refusal: $(printf "%s\n" "$RK_OUT" | cut -d" " -f1 | tr "\n" " ")"

# The same, as it happens to a user: write, then sync at once.  renkeid's
# own sync may meet the refusal first; 'renkei sync' must still tell.
rk "$HUB" staff add nurse-3 --agency vn-a --name 中村 --profession nurse
rk "$D1" room create r4 --patient-name 小林 --consent-date 2026-01-01 \
    --member nurse-3
assert_ok "dev1 creates r4 with nurse-3 only"
sk_sync "$D1"
echo "sync right after the write: exit $RK_RC: $RK_ERR"
assert_contains "$RK_ERR" "doctor or dentist" \
    "dev1: sync right after the write names the refusal (failure or note)"
# ... and when renkeid's own sync surely came first.
rk "$HUB" staff add nurse-4 --agency vn-a --name 加藤 --profession nurse
REF0=$(sk_status_num "$D1" refused)
rk "$D1" room create r5 --patient-name 吉田 --consent-date 2026-01-01 \
    --member nurse-4
assert_ok "dev1 creates r5 with nurse-4 only"
sk_wait 5 refused_above "$D1" "$REF0" ||
    check_fail "dev1's own sync did not push r5 within 5 s"
sk_sync "$D1"
echo "sync after renkeid's own sync refused r5: exit $RK_RC: $RK_ERR"
assert_contains "$RK_ERR" "doctor or dentist" \
    "dev1: a later sync still names the refusal (failure or note)"
rk "$D1" status
assert_contains "$RK_OUT" "doctor or dentist" \
    "dev1: status names the last refusal after a clean sync"

# --- no hijack of an existing room ------------------------------------------

rk "$HUB" room create secret --patient-name 秘密 --consent-date 2026-01-01 \
    --member dr-1 --member nurse-2
assert_ok "hub: room secret without nurse-1"
sk_sync "$D1"
REF0=$(sk_status_num "$D1" refused)
rk "$D1" room create secret --patient-name 乗っ取り --consent-date 2026-01-01 \
    --member dr-1
assert_ok "dev1 (not a member, does not know the room) creates 'secret'"
sk_wait 5 refused_above "$D1" "$REF0" ||
    sk_sync "$D1"
assert_eq $((REF0 + 1)) "$(sk_status_num "$D1" refused)" \
    "hub refuses a device room whose id exists"
rk "$HUB" room list
line=$(printf '%s\n' "$RK_OUT" | grep '^secret ')
assert_contains "$line" "秘密" "hub: secret keeps its patient name"
assert_not_contains "$line" "nurse-1" "hub: nurse-1 did not become a member of secret"
rk "$D1" timeline secret
assert_ne 0 "$RK_RC" "dev1 cannot read room secret"

sk_converge "$D1" "$D2" || check_fail "in step at the end: $SK_CONVERGE_LOG"
for r in tanaka r2; do
	assert_eq "$(sk_hash "$HUB" $r)" "$(sk_hash "$D1" $r)" "$r: dev1 = hub"
	assert_eq "$(sk_hash "$HUB" $r)" "$(sk_hash "$D2" $r)" "$r: dev2 = hub"
done

rk_stop "$D1"
rk_stop "$D2"
rk_stop "$HUB"
