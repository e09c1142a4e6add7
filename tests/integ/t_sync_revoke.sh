#!/usr/bin/env bash
# t_sync_revoke.sh - a suspended staff member's device and a revoked device
# are refused by the hub at once, say so, and lose nothing of their own;
# the other devices keep syncing.
#
#   hub + dev1 (nurse-1) + dev2 (dr-1) in room tanaka, in step.
#   Suspension: 'staff suspend nurse-1'; dev1 writes; its sync fails
#     naming the suspension (sync message and status); the write stays
#     pending and readable on dev1; the hub does not get it, and dev1 does
#     not get what dev2 wrote meanwhile (pull refused too); dev2 syncs.
#     'staff resume nurse-1': dev1 syncs again and everything meets.
#   Revocation: 'revoke DEV1'; dev1's sync fails saying it was revoked
#     (message and status); a post written afterwards stays pending and in
#     dev1's timeline, through further sync attempts; it never reaches the
#     hub; dev2 keeps syncing; the directory shows the device revoked; a
#     fresh code does not re-enrol it, nor does a restart bring it back.
. "$(dirname "$0")/synclib.sh"

HUB=$RK_TMP/hub
D1=$RK_TMP/dev1
D2=$RK_TMP/dev2
EXP=$RK_TMP/expected	# what the hub and dev2 must hold
: >"$EXP"
RE='^rv-'

sk_hub "$HUB"
sk_device "$D1" nurse-1
sk_device "$D2" dr-1
DEV1=$(sk_device_id "$D1")
[ -n "$DEV1" ] || fail "no device id for dev1"

rk "$D1" post tanaka "rv-start-d1"
assert_ok "dev1 posts"
echo "rv-start-d1" >>"$EXP"
sk_sync "$D1"
assert_ok "dev1 syncs before anything is suspended or revoked"

# --- suspension -------------------------------------------------------------

rk "$HUB" staff suspend ghost-7
assert_refused "hub: staff suspend of unknown staff refused" "ghost-7"
rk "$HUB" staff suspend nurse-1
assert_ok "hub: staff suspend nurse-1"

rk "$D1" post tanaka "rv-susp-d1 停止中の記録"
assert_ok "dev1 (suspended staff) can still write locally"
echo "rv-susp-d1 停止中の記録" >>"$EXP"

sk_sync "$D1"
if [ "$RK_RC" -ne 0 ]; then
	pass "dev1: sync refused while nurse-1 is suspended (exit $RK_RC)"
else
	check_fail "dev1: sync exits 0 while nurse-1 is suspended"
fi
assert_contains "$RK_ERR" "suspended" "dev1: the sync message names the suspension"
rk "$D1" status
assert_contains "$RK_OUT" "suspended" "dev1: status names the suspension"
assert_eq 1 "$(sk_status_num "$D1" pending)" "dev1: the write stays pending"
assert_eq "rv-susp-d1 停止中の記録" "$(sk_texts "$D1" tanaka '^rv-susp')" \
    "dev1: the write is in its own timeline"
assert_eq "" "$(sk_texts "$HUB" tanaka '^rv-susp')" \
    "hub: nothing from the suspended staff member's device"

rk "$D2" post tanaka "rv-d2-during-susp"
assert_ok "dev2 posts while nurse-1 is suspended"
echo "rv-d2-during-susp" >>"$EXP"
sk_sync "$D2"
assert_ok "dev2 keeps syncing while nurse-1 is suspended"
sk_sync "$D1"
assert_eq "" "$(sk_texts "$D1" tanaka '^rv-d2-during-susp')" \
    "dev1: pulls nothing while suspended"

rk "$HUB" staff resume nurse-1
assert_ok "hub: staff resume nurse-1"
if sk_converge "$D1" "$D2" "$D1"; then
	pass "after resume dev1 and dev2 are in step again"
else
	check_fail "not in step after resume: $SK_CONVERGE_LOG"
fi
sk_check_replicas tanaka "$RE" "$EXP" "$HUB" "$D1" "$D2"

# --- revocation -------------------------------------------------------------

rk "$HUB" revoke "$DEV1"
assert_ok "hub: revoke dev1"
assert_contains "$RK_OUT" "revoked" "revoke says revoked"
rk "$HUB" directory --json
st=$(printf '%s\n' "$RK_OUT" | sed -n "/\"$DEV1\"/,/}/p" | json_str status)
assert_eq revoked "$st" "the directory shows dev1 revoked"

rk "$HUB" revoke NOSUCHDEVICE
if [ "$RK_RC" -ne 0 ] && [[ "$RK_ERR" == *NOSUCHDEVICE* ]]; then
	pass "revoke of an unknown device refused, naming it ($RK_ERR)"
else
	check_fail "revoke NOSUCHDEVICE: exit $RK_RC, stderr '$RK_ERR'"
fi

sk_sync "$D1"
if [ "$RK_RC" -ne 0 ]; then
	pass "dev1: sync refused after revocation (exit $RK_RC)"
else
	check_fail "dev1: sync exits 0 after revocation"
fi
assert_contains "$RK_ERR" "revoked" "dev1: the sync message says it was revoked"
rk "$D1" status
assert_contains "$RK_OUT" "revoked" "dev1: status says it was revoked"

REFUSED0=$(sk_status_num "$D1" refused)
rk "$D1" post tanaka "rv-after-revoke-d1 失効後の記録"
assert_ok "dev1 can still write locally after revocation"
assert_eq 1 "$(sk_status_num "$D1" pending)" "dev1: the post is pending"
sk_sync "$D1"
assert_ne 0 "$RK_RC" "dev1: the next sync fails too"
sk_sync "$D1"
assert_eq 1 "$(sk_status_num "$D1" pending)" \
    "dev1: the post is still pending after sync attempts (not dropped)"
assert_eq "$REFUSED0" "$(sk_status_num "$D1" refused)" \
    "dev1: the post is not marked refused (the hub never judged it)"
assert_eq "rv-after-revoke-d1 失効後の記録" \
    "$(sk_texts "$D1" tanaka '^rv-after-revoke')" \
    "dev1: the post is in its own timeline"

rk "$D2" post tanaka "rv-d2-after-revoke"
assert_ok "dev2 posts after dev1's revocation"
echo "rv-d2-after-revoke" >>"$EXP"
if sk_converge "$D2"; then
	pass "dev2 keeps syncing after dev1's revocation"
else
	check_fail "dev2 sync after dev1's revocation: $SK_CONVERGE_LOG"
fi
assert_eq "" "$(sk_texts "$HUB" tanaka '^rv-after-revoke')" \
    "hub: nothing from the revoked device"
sk_check_replicas tanaka "$RE" "$EXP" "$HUB" "$D2"
assert_eq "" "$(sk_texts "$D1" tanaka '^rv-d2-after-revoke')" \
    "dev1: pulls nothing after revocation"

# Revocation sticks: a fresh code does not re-enrol the same device keys.
sk_code nurse-1
rk "$D1" enroll "$SK_CODE" --hub "$SK_URL"
assert_refused "dev1: re-enrolment of the revoked device refused" "revoked"

# A restart does not bring a revoked device back.
rk_stop "$D1"
sk_restart "$D1"
sk_sync "$D1"
assert_contains "$RK_ERR" "revoked" "dev1 after a restart: still revoked"
assert_eq 1 "$(sk_status_num "$D1" pending)" "dev1 after a restart: post still pending"

rk_stop "$D1"
rk_stop "$D2"
rk_stop "$HUB"
