#!/usr/bin/env bash
# t_room_requests.sh - the seed 000 story (Musashino): a visiting-nurse
# instruction (訪問看護指示書) asked of the doctor must not be only a chat
# message; it is assigned, seen, acknowledged and completed, and the care
# manager who asked sees who read it and who acknowledged it.
#
#   hub: agencies clinic-a (dr-1), vn-a (nurse-1), cm-a (cm-1, a care
#   manager: the second agency on the asking side).
#   cm-1's device opens room suzuki with dr-1 and nurse-1 (consent by the
#   daughter).  Bad input first: a request to a non-member, a due date
#   before today, an unknown kind, nurse-1 acknowledging a request asked
#   of dr-1 -- each refused naming the field, nothing written.
#   cm-1 asks dr-1 for the instruction (due in a week); everyone syncs;
#   nurse-1 reads it ("OK"); cm-1 sees that read receipt, not yet
#   acknowledged.  The hub goes down (the doctor on rounds, no
#   signal): dr-1's device lists it, reads, acknowledges and completes it
#   offline; pending > 0.  The hub returns; everyone syncs; cm-1 sees it
#   done, acknowledged by dr-1, read ("seen") by dr-1 and nurse-1, in the
#   printed list as in the JSON; the room's content hash is the same on
#   all four replicas.
#   A second request (薬の確認) to nurse-1: declining needs a reason; with
#   one, cm-1 sees it declined with the reason.  A done request cannot go
#   back to acknowledged.  status counts open requests.
. "$(dirname "$0")/synclib.sh"

HUB=$RK_TMP/hub
CM=$RK_TMP/cm		# cm-1, care manager
DR=$RK_TMP/dr		# dr-1, doctor
NS=$RK_TMP/ns		# nurse-1, visiting nurse

# Dates in Japan, where the users are (POSIX TZ: no tzdata needed).
TODAY=$(TZ=JST-9 date +%F)
DUE=$(TZ=JST-9 date -d '+7 days' +%F)
YESTERDAY=$(TZ=JST-9 date -d '-1 day' +%F)

sk_hub "$HUB"
rk "$HUB" agency add cm-a --name 居宅介護支援センターみどり --kind care-management
assert_ok "hub: care-management agency registered"
rk "$HUB" staff add cm-1 --agency cm-a --name 山本ケア --profession care-manager
assert_ok "hub: care manager cm-1 registered"

sk_device "$CM" cm-1
sk_device "$DR" dr-1
sk_device "$NS" nurse-1

rk "$CM" room create suzuki --patient-name "鈴木 梅子" --consent-date "$TODAY" \
    --consenter family --consenter-name "鈴木 花子" --relation 長女 \
    --scope "訪問看護・訪問診療・居宅介護支援" --paper-location "居宅介護支援センター書庫" \
    --member dr-1 --member nurse-1
assert_ok "cm-1 opens room suzuki with dr-1 and nurse-1"
sk_converge "$CM" "$DR" "$NS" || check_fail "in step after the room: $SK_CONVERGE_LOG"

# --- bad input: each refused naming the field, nothing written -------------

before=$(sk_status_num "$CM" pending)
rk "$CM" request suzuki --to nurse-2 --kind visiting-nurse-instruction \
    --title 指示書 --due "$DUE"
assert_refused "a request to a non-member is refused" "assignee" "nurse-2"
rk "$CM" request suzuki --to dr-1 --kind visiting-nurse-instruction \
    --title 指示書 --due "$YESTERDAY"
assert_refused "a due date before today is refused" "due_date" "$YESTERDAY"
rk "$CM" request suzuki --to dr-1 --kind 紹介状 --title 指示書
assert_refused "an unknown kind is refused, listing the kinds" "--kind" \
    "visiting-nurse-instruction"
rk "$CM" request suzuki --to dr-1 --kind free --title 指示書 --due 2026-02-30
assert_refused "an impossible date is refused" "--due"
rk "$CM" request suzuki --to cm-1 --kind free --title 自分に
assert_refused "a request to oneself is refused" "assignee"
assert_eq "$before" "$(sk_status_num "$CM" pending)" \
    "nothing was written by the refused requests"

# --- the instruction request ---------------------------------------------------

rk "$CM" request suzuki --to dr-1 --kind 訪問看護指示書 \
    --title "訪問看護指示書の発行をお願いします" --due "$DUE" \
    --body "12月からの訪問看護開始に向けて、指示書（12/1〜5/31）をお願いします。"
assert_ok "cm-1 asks dr-1 for a visiting-nurse instruction"
RQ=$(printf '%s\n' "$RK_OUT" | tail -n 1)
[ ${#RQ} -eq 26 ] && pass "the request has an id ($RQ)" ||
    check_fail "request id: '$RQ'"
rk "$CM" post suzuki "指示書の件、依頼に登録しました"
assert_ok "cm-1 also says so in the room (a post is not the request)"
CMPOST=$(printf '%s\n' "$RK_OUT" | tail -n 1)
rk "$CM" timeline suzuki
assert_contains "$RK_OUT" "指示書の件、依頼に登録しました  #${CMPOST: -6}" \
    "the timeline shows the post with the end of its id"
sk_converge "$CM" "$DR" "$NS" || check_fail "in step after the request: $SK_CONVERGE_LOG"

rk "$DR" requests
assert_ok "dr-1 lists the requests asked of or by them (all rooms)"
assert_contains "$RK_OUT" "$RQ" "dr-1 sees the request among theirs"
assert_contains "$RK_OUT" "訪問看護指示書" "with its kind's Japanese label"

rk "$NS" request ack suzuki "$RQ"
assert_refused "nurse-1 cannot acknowledge a request asked of dr-1" \
    "asked of dr-1"
rk "$NS" read suzuki "${RQ: -6}"
assert_ok "nurse-1 reads the request (OK), by the last 6 characters of its id"
assert_contains "$RK_OUT" "佐藤花" "the read shows nurse-1 among the readers"
SHOWN=$(rk "$NS" timeline suzuki; printf '%s\n' "$RK_OUT" |
    sed -n 's/.*指示書の件、依頼に登録しました  #\([0-9A-Za-z]*\)$/\1/p')
rk "$NS" read suzuki "$SHOWN"
assert_ok "nurse-1 reads cm-1's post (OK) by the id the timeline shows"
assert_contains "$RK_OUT" "post $CMPOST" "the answer names the whole post id"
sk_sync "$NS"
assert_ok "nurse-1 syncs the receipt"
sk_sync "$CM"
rk "$CM" requests suzuki
assert_contains "$RK_OUT" "既読 read: 佐藤花 (" \
    "cm-1, who asked, sees nurse-1's read receipt"
assert_contains "$RK_OUT" "確認 acknowledged: -" "not acknowledged yet"
assert_not_contains "$RK_OUT" "鈴木一郎 (" "the doctor has not read it yet"

# --- the doctor, offline -------------------------------------------------------

rk_stop "$HUB"
rk "$DR" requests suzuki
assert_ok "dr-1 lists the room's requests offline"
assert_contains "$RK_OUT" "open" "the request is open"
assert_contains "$RK_OUT" "期限 due $DUE" "with its due date"
rk "$DR" read suzuki "$RQ"
assert_ok "dr-1 reads it offline"
rk "$DR" request ack suzuki "$RQ" --reason "了解"
assert_refused "a reason with ack is refused: it goes with done or decline" \
    "--reason" "done" "decline"
rk "$DR" request ack suzuki "$RQ"
assert_ok "dr-1 acknowledges it offline"
assert_contains "$RK_OUT" "acknowledged" "it is acknowledged"
rk "$DR" request done suzuki "$RQ" --reason "指示書を郵送しました"
assert_ok "dr-1 completes it offline"
assert_contains "$RK_OUT" "done" "it is done"
[ "$(sk_status_num "$DR" pending)" -gt 0 ] &&
    pass "dr-1's device holds the offline work (pending > 0)" ||
    check_fail "dr-1 pending: $(sk_status_num "$DR" pending)"
sk_sync "$DR"
[ "$RK_RC" -ne 0 ] && pass "dr-1's sync fails while the hub is down" ||
    check_fail "sync succeeded with the hub down"
rk "$CM" requests suzuki --json
assert_contains "$RK_OUT" '"status": "open"' \
    "cm-1 does not see the answer while the doctor is out of reach"

sk_restart "$HUB"
sk_converge "$DR" "$CM" "$NS" || check_fail "in step after the outage: $SK_CONVERGE_LOG"

rk "$CM" requests suzuki --json
assert_ok "cm-1 lists the requests"
J=$RK_OUT
assert_contains "$J" '"status": "done"' "cm-1 sees the request done"
assert_contains "$J" '"status_reason": "指示書を郵送しました"' "with dr-1's note"
assert_contains "$J" '"acknowledged_at": 1' "and when it was acknowledged"
assert_contains "$J" '"staff": "dr-1"' "read by dr-1"
assert_contains "$J" '"staff": "nurse-1"' "read by nurse-1"
rk "$CM" requests suzuki
assert_contains "$RK_OUT" "確認 acknowledged: " "the list says who acknowledged"
assert_contains "$RK_OUT" "by 鈴木一郎" "acknowledged by dr-1 (鈴木一郎)"
readers=$(printf '%s\n' "$RK_OUT" | grep -F "既読 read: " | head -n 1)
assert_contains "$readers" "鈴木一郎 (" "the doctor's offline read reaches cm-1 (seen)"
assert_contains "$readers" "佐藤花 (" "beside nurse-1's"
assert_contains "$RK_OUT" "完了 done" "and that it is done"

rk "$DR" request ack suzuki "$RQ"
assert_refused "a done request cannot go back to acknowledged" "status" \
    "already done"

# --- decline needs a reason ------------------------------------------------------

rk "$CM" request suzuki --to nurse-1 --kind medication-check \
    --title "残薬の確認をお願いします" --due "$TODAY"
assert_ok "cm-1 asks nurse-1 to check the remaining medicines (due today)"
RQ2=$(printf '%s\n' "$RK_OUT" | tail -n 1)
rk "$CM" status --json
assert_contains "$RK_OUT" '"requests_open": 1' "status counts one open request"
assert_contains "$RK_OUT" '"requests_overdue": 0' "none overdue"
sk_converge "$CM" "$NS" || check_fail "in step: $SK_CONVERGE_LOG"
rk "$NS" status --json
assert_contains "$RK_OUT" '"requests_for_me": 1' "nurse-1's status: one asked of them"
rk "$NS" request decline suzuki "$RQ2"
assert_refused "declining without a reason is refused" "reason"
rk "$NS" request decline suzuki "$RQ2" --reason "今週は訪問がありません。薬局に依頼してください"
assert_ok "nurse-1 declines with a reason"
sk_converge "$NS" "$CM" || check_fail "in step: $SK_CONVERGE_LOG"
rk "$CM" requests suzuki --json
assert_contains "$RK_OUT" '"status": "declined"' "cm-1 sees it declined"
assert_contains "$RK_OUT" "薬局に依頼してください" "with the reason"

sk_converge "$CM" "$DR" "$NS" || check_fail "final sync: $SK_CONVERGE_LOG"
h=$(sk_hash "$HUB" suzuki)
for d in "$CM" "$DR" "$NS"; do
	assert_eq "$h" "$(sk_hash "$d" suzuki)" \
	    "$(basename "$d"): room suzuki in step with the hub"
done

# Every daemon stops cleanly (under ASan: no leak, no error).
for d in "$CM" "$DR" "$NS" "$HUB"; do
	rk_stop "$d"
done
