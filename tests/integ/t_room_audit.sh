#!/usr/bin/env bash
# t_room_audit.sh - every read and write of a room through the API is
# recorded (who, device, when, what); the hub keeps the records
# append-only and hash-chained; `renkei --dir HUB audit ROOM` lists them
# and verifies the chain, and fails naming the entry once one is altered.
#
#   hub + nurse-1's device (vn-a) + dr-1's device (clinic-a), room tanaka.
#   nurse-1 reads the timeline and the card, posts, asks dr-1 a request;
#   dr-1 reads the card and the request (by its last characters: no read
#   of the list is noted), acknowledges it.  Reads alone
#   leave the outbox and the room hash as they were.  After a sync the hub
#   lists every one of those events with staff and device, and the chain
#   verifies; a second look adds the operator's own read and still
#   verifies.  Then, with the hub stopped, an insider holding the hub's key
#   alters one chained event in the encrypted replica (test_roomwork
#   --tamper): `audit` exits 1 naming the broken entry.
. "$(dirname "$0")/synclib.sh"

HUB=$RK_TMP/hub
NS=$RK_TMP/ns		# nurse-1
DR=$RK_TMP/dr		# dr-1
TAMPER=$RENKEI_BIN/tests/test_roomwork

sk_hub "$HUB"
sk_device "$NS" nurse-1
sk_device "$DR" dr-1
NS_ID=$(sk_device_id "$NS")
DR_ID=$(sk_device_id "$DR")

h0=$(sk_hash "$NS" tanaka)
p0=$(sk_status_num "$NS" pending)
rk "$NS" timeline tanaka
assert_ok "nurse-1 reads the timeline"
rk "$NS" card tanaka
assert_ok "nurse-1 reads the card"
assert_eq "$h0" "$(sk_hash "$NS" tanaka)" "reading leaves the room hash as it was"
assert_eq "$p0" "$(sk_status_num "$NS" pending)" "reading queues nothing by itself"
rk "$NS" post tanaka "朝の訪問：変わりなし"
assert_ok "nurse-1 posts"
POST=$(printf '%s\n' "$RK_OUT" | tail -n 1)
rk "$NS" request tanaka --to dr-1 --kind home-visit-request --title 往診のお願い
assert_ok "nurse-1 asks dr-1 for a home visit"
RQ=$(printf '%s\n' "$RK_OUT" | tail -n 1)
rk "$NS" requests tanaka
assert_ok "nurse-1 looks at the requests"
rk "$NS" audit tanaka
assert_ok "nurse-1's device lists what it holds and queues its reads"
assert_contains "$RK_OUT" "the hub keeps the chain" "a device says where the chain is"
sk_converge "$NS" "$DR" || check_fail "in step: $SK_CONVERGE_LOG"

rk "$DR" card tanaka
assert_ok "dr-1 reads the card"
rk "$DR" read tanaka "${RQ: -6}"
assert_ok "dr-1 reads the request, naming it by its last characters"
assert_contains "$RK_OUT" "$RQ" "the answer names the whole id"
rk "$DR" request ack tanaka "$RQ"
assert_ok "dr-1 acknowledges it"
rk "$DR" timeline tanaka
assert_ok "dr-1 reads the timeline (queued until the next write or flush)"
rk "$DR" audit tanaka
assert_ok "dr-1's device queues its reads"
sk_converge "$DR" "$NS" || check_fail "in step: $SK_CONVERGE_LOG"

# --- the hub's chain ---------------------------------------------------------------

rk "$HUB" audit tanaka
assert_ok "the hub lists the room's audit and verifies its chain"
A=$RK_OUT
assert_contains "$A" "chain verified" "the chain verifies"
for want in "read  nurse-1     $NS_ID  timeline" \
    "read  nurse-1     $NS_ID  card" \
    "write nurse-1     $NS_ID  post $POST" \
    "write nurse-1     $NS_ID  request $RQ created (home-visit-request, to dr-1)" \
    "read  nurse-1     $NS_ID  requests" \
    "read  dr-1        $DR_ID  card" \
    "write dr-1        $DR_ID  read receipt for request $RQ" \
    "write dr-1        $DR_ID  request $RQ acknowledged" \
    "read  dr-1        $DR_ID  timeline"; do
	assert_contains "$A" "$want" "the hub has: $want"
done
# Naming a request (in full or by its end) is not looking at the list.
assert_not_contains "$A" "read  dr-1        $DR_ID  requests" \
    "no read of the requests list that dr-1 did not make"
rk "$HUB" audit tanaka --json
J=$(printf '%s' "$RK_OUT" | tr -d '\n' | sed 's/  */ /g')
assert_contains "$J" '"verified": true' "JSON: verified"
n1=$(printf '%s' "$J" | sed -n 's/.*"entries": \([0-9]*\).*/\1/p')
[ "${n1:-0}" -ge 10 ] && pass "the chain has $n1 entries" ||
    check_fail "chain entries: '$n1'"
assert_contains "$J" '"staff": "'"$(sk_status_str "$HUB" staff)"'"' \
    "the operator's own look at the audit is in it too"

# --- tampering -----------------------------------------------------------------------

rk_stop "$HUB"
run "$TAMPER" --tamper "$HUB" "${RK_PASSFILE[$HUB]}" tanaka alter
assert_ok "an insider with the hub's key alters the second chained event"
sk_restart "$HUB"
rk "$HUB" audit tanaka
assert_refused "audit fails once an entry was altered" "broken at entry 2" \
    "altered"
rk "$HUB" audit tanaka --json
[ "$RK_RC" -ne 0 ] && pass "--json exits non-zero too" ||
    check_fail "--json exit 0 with a broken chain"
assert_contains "$RK_OUT" '"verified": false' "JSON: not verified"

# Every daemon stops cleanly (under ASan: no leak, no error).
for d in "$NS" "$DR" "$HUB"; do
	rk_stop "$d"
done
