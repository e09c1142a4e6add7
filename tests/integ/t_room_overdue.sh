#!/usr/bin/env bash
# t_room_overdue.sh - overdue requests stand out in `status` and in the
# room's list (issue #6), shown with real processes: a due date before
# today is refused when asking, so the daemons are run ten days later
# instead, with libfaketime.
#
#   hub: clinic-a dr-1, cm-a cm-1 (a care manager: the second agency).
#   cm-1's device opens room suzuki with dr-1 and asks dr-1 for four
#   things: the instruction (訪問看護指示書) due in 3 days, an opinion
#   (意見書) due in 30 days, a medication check due in 3 days that dr-1
#   completes at once, and one without a due date.  Today nothing is
#   overdue, on either device.
#   Ten days later (hub and devices restarted under faketime +10d, so the
#   signed requests' times still agree): dr-1's status counts one overdue
#   request and marks it "!! 期限超過"; the room's list marks the
#   instruction OVERDUE and lists it first, not the opinion (not yet due),
#   nor the completed check, nor the one without a due date; cm-1, who
#   asked, sees the same.  dr-1 acknowledges it (still overdue: not done)
#   and completes it; once synced, nothing is overdue on either device.
#   Skipped, saying so, where libfaketime is not installed.
. "$(dirname "$0")/synclib.sh"

HUB=$RK_TMP/hub
CM=$RK_TMP/cm		# cm-1, care manager
DR=$RK_TMP/dr		# dr-1, doctor

TODAY=$(TZ=JST-9 date +%F)
DUE3=$(TZ=JST-9 date -d '+3 days' +%F)
DUE30=$(TZ=JST-9 date -d '+30 days' +%F)
LATER=$(TZ=JST-9 date -d '+10 days' +%F)

FAKETIME_LIB=
for l in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
    /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
	[ -f "$l" ] && { FAKETIME_LIB=$l; break; }
done

sk_hub "$HUB"
rk "$HUB" agency add cm-a --name 居宅介護支援センターみどり --kind care-management
assert_ok "hub: care-management agency"
rk "$HUB" staff add cm-1 --agency cm-a --name 山本ケア --profession care-manager
assert_ok "hub: care manager cm-1"
sk_device "$CM" cm-1
sk_device "$DR" dr-1

rk "$CM" room create suzuki --patient-name "鈴木 梅子" --consent-date "$TODAY" \
    --member dr-1
assert_ok "cm-1 opens room suzuki with dr-1"

ask() {
	rk "$CM" request suzuki --to dr-1 "$@"
	[ "$RK_RC" -eq 0 ] || fail "request $*: exit $RK_RC: $RK_ERR"
	printf '%s\n' "$RK_OUT" | tail -n 1
}
R1=$(ask --kind visiting-nurse-instruction --title "訪問看護指示書（12月分）" \
    --due "$DUE3")
R2=$(ask --kind free --title "主治医意見書の作成" --due "$DUE30")
R3=$(ask --kind medication-check --title "残薬の確認" --due "$DUE3")
R4=$(ask --kind free --title "次回カンファレンスの日程")
pass "cm-1 asks dr-1 four things (${R1: -6} ${R2: -6} ${R3: -6} ${R4: -6})"
sk_converge "$CM" "$DR" || check_fail "in step: $SK_CONVERGE_LOG"
rk "$DR" request done suzuki "$R3" --reason "残薬なし"
assert_ok "dr-1 completes the medication check at once"
sk_converge "$DR" "$CM" || check_fail "in step: $SK_CONVERGE_LOG"

for d in "$CM" "$DR"; do
	n=$(basename "$d")
	assert_eq 0 "$(sk_status_num "$d" requests_overdue)" "$n: today nothing is overdue"
	rk "$d" requests suzuki
	assert_contains "$RK_OUT" "4, 0 overdue (today $TODAY)" "$n: the room's list says so"
	assert_not_contains "$RK_OUT" "OVERDUE" "$n: nothing marked overdue"
done

if [ -z "$FAKETIME_LIB" ]; then
	echo "SKIP ten days later: libfaketime is not installed" \
	    "(scripts/deps.sh installs Debian's faketime)"
	for d in "$CM" "$DR" "$HUB"; do
		rk_stop "$d"
	done
	exit 0
fi

# --- ten days later --------------------------------------------------------------------

for d in "$CM" "$DR" "$HUB"; do
	rk_stop "$d"
done
# The whole team moves on together: requests to the hub are signed with
# the time, which the hub checks against its own.  An ASan build must be
# told that libfaketime comes first.
later() {
	LD_PRELOAD=$FAKETIME_LIB FAKETIME=+10d \
	    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	    "$@"
}
later sk_restart "$HUB"
later sk_restart "$CM"
later sk_restart "$DR"
rk "$DR" requests suzuki --json
assert_contains "$RK_OUT" "\"today\": \"$LATER\"" "dr-1's renkeid runs ten days later ($LATER)"

# line_of ID: the line of the last listing that starts request ID.
line_of() {
	printf '%s\n' "$RK_OUT" | grep -F -- "$1  " | head -n 1
}
# not_overdue ID STATE WHAT: the last listing shows ID in STATE, unmarked.
not_overdue() {
	local l
	l=$(line_of "$1")
	if [[ "$l" == *"$1  $2"* ]] && [[ "$l" != *OVERDUE* ]]; then
		pass "$3"
	else
		check_fail "$3: '$l'"
	fi
}
for d in "$DR" "$CM"; do
	n=$(basename "$d")
	assert_eq 1 "$(sk_status_num "$d" requests_overdue)" "$n: status counts one overdue"
	rk "$d" status
	assert_contains "$RK_OUT" "overdue      1  !! 期限超過" "$n: status makes it stand out"
	rk "$d" requests suzuki
	assert_ok "$n lists the room's requests"
	assert_contains "$RK_OUT" "4, 1 overdue (today $LATER)" "$n: one of four overdue"
	assert_contains "$(line_of "$R1")" "!! 期限超過 OVERDUE  $R1  open" \
	    "$n: the instruction due $DUE3 is marked overdue"
	first=$(printf '%s\n' "$RK_OUT" | sed -n 2p)
	assert_contains "$first" "$R1" "$n: and listed first"
	not_overdue "$R2" open "$n: the opinion due $DUE30 is not (not yet due)"
	not_overdue "$R3" done "$n: the completed check is not, though its date passed"
	not_overdue "$R4" open "$n: nor the one without a due date"
	rk "$d" requests suzuki --all --json
	assert_eq 1 "$(printf '%s\n' "$RK_OUT" | grep -c '"overdue": true')" \
	    "$n: JSON: exactly one request overdue"
done
rk "$DR" requests
assert_contains "$(line_of "$R1")" "!! 期限超過 OVERDUE  suzuki  $R1" \
    "dr-1's own list (all rooms) marks it too"

rk "$DR" request ack suzuki "$R1"
assert_ok "dr-1 acknowledges the instruction"
assert_eq 1 "$(sk_status_num "$DR" requests_overdue)" \
    "acknowledged is not done: still overdue"
rk "$DR" request done suzuki "$R1" --reason "本日郵送しました"
assert_ok "dr-1 completes it"
assert_eq 0 "$(sk_status_num "$DR" requests_overdue)" "dr-1: nothing overdue"
sk_converge "$DR" "$CM" || check_fail "in step ten days later: $SK_CONVERGE_LOG"
assert_eq 0 "$(sk_status_num "$CM" requests_overdue)" \
    "cm-1, once synced: nothing overdue"
rk "$CM" requests suzuki
assert_contains "$RK_OUT" "0 overdue (today $LATER)" "cm-1's list: none overdue"
assert_contains "$(line_of "$R1")" "$R1  done" "the instruction is done"
h=$(sk_hash "$HUB" suzuki)
assert_eq "$h" "$(sk_hash "$CM" suzuki)" "cm-1 in step with the hub"
assert_eq "$h" "$(sk_hash "$DR" suzuki)" "dr-1 in step with the hub"

# Every daemon stops cleanly (under ASan: no leak, no error).
for d in "$CM" "$DR" "$HUB"; do
	rk_stop "$d"
done
