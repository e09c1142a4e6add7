#!/usr/bin/env bash
# t_sync_offline.sh - the offline scenario: two devices keep working while
# the hub is down, and everything meets once it is back.
#
#   hub + dev1 (nurse-1) + dev2 (dr-1), both members of room tanaka,
#   enrolled and in step; the hub stopped (SIGTERM); both write posts and
#   visits (unique texts) in tanaka; 'renkei sync' fails while the hub is
#   down and status names the problem; pending > 0; the hub started again;
#   dev1, dev2, dev1 sync until in step; then on all three replicas:
#   every write exactly once (sorted lists of texts compared), equal room
#   hashes, pending 0.
#
# SEED=N replays the run (how many writes of each kind, their order).
. "$(dirname "$0")/synclib.sh"

SEED=${SEED:-$(((RANDOM << 15) | RANDOM))}
echo "seed: $SEED"
RANDOM=$SEED

HUB=$RK_TMP/hub
D1=$RK_TMP/dev1
D2=$RK_TMP/dev2
EXP=$RK_TMP/expected
: >"$EXP"
RE='^off-'

sk_hub "$HUB"
sk_device "$D1" nurse-1
sk_device "$D2" dr-1
assert_eq "$(sk_hash "$HUB" tanaka)" "$(sk_hash "$D1" tanaka)" \
    "dev1 in step with the hub before the outage"
assert_eq "$(sk_hash "$HUB" tanaka)" "$(sk_hash "$D2" tanaka)" \
    "dev2 in step with the hub before the outage"

# One write before the outage, from each side, so the devices hold each
# other's work too.
rk "$D1" post tanaka "off-before-d1 朝の訪問、変わりなし"
assert_ok "dev1 posts while online"
echo "off-before-d1 朝の訪問、変わりなし" >>"$EXP"
rk "$D2" visit tanaka --bp 130/80 --pulse 72 --note "off-before-d2 往診"
assert_ok "dev2 records a visit while online"
echo "off-before-d2 往診" >>"$EXP"
sk_converge "$D1" "$D2" "$D1" || check_fail "in step before the outage: $SK_CONVERGE_LOG"

rk_stop "$HUB"

# write DEV TAG N: N writes, posts and visits in a seeded mix.
write() {
	local d=$1 tag=$2 n=$3 i t ok=0
	for i in $(seq 1 "$n"); do
		if [ $((RANDOM % 3)) -eq 0 ]; then
			t="off-$tag-v$i 血圧測定"
			rk "$d" visit tanaka --bp "$((110 + RANDOM % 40))/$((60 + RANDOM % 30))" \
			    --temp 36.$((RANDOM % 10)) --note "$t"
		else
			t="off-$tag-p$i 訪問記録 $((RANDOM))"
			rk "$d" post tanaka "$t"
		fi
		if [ "$RK_RC" -eq 0 ]; then
			echo "$t" >>"$EXP"
			ok=$((ok + 1))
		else
			check_fail "$tag: write $i while the hub is down: exit $RK_RC: $RK_ERR"
		fi
	done
	[ "$ok" -eq "$n" ] && pass "$tag: all $n writes accepted while the hub is down"
}
N1=$((4 + RANDOM % 5))
N2=$((4 + RANDOM % 5))
write "$D1" d1 "$N1"
write "$D2" d2 "$N2"

for d in "$D1" "$D2"; do
	b=$(basename "$d")
	sk_sync "$d"
	if [ "$RK_RC" -ne 0 ]; then
		pass "$b: sync fails while the hub is down (exit $RK_RC)"
	else
		check_fail "$b: sync exits 0 while the hub is down: $RK_OUT"
	fi
	assert_contains "$RK_ERR" "unreachable" "$b: sync says the hub is unreachable"
	rk "$d" status
	assert_contains "$RK_OUT" "unreachable" "$b: status names the problem"
	# One outbox entry per write, none acknowledged.
	want=$(grep -c "^off-${b/dev/d}-[pv]" "$EXP")
	assert_eq "$want" "$(sk_status_num "$d" pending)" \
	    "$b: pending = its $want offline writes"
	# What was written offline is readable on the device itself.
	n=$(sk_texts "$d" tanaka "^off-${b/dev/d}-" | wc -l)
	want=$(grep -c "^off-${b/dev/d}-" "$EXP")
	assert_eq "$want" "$n" "$b: its offline writes are in its own timeline"
done

sk_restart "$HUB"
pass "hub started again on port $SK_PORT"

if sk_converge "$D1" "$D2" "$D1"; then
	pass "dev1, dev2, dev1 in step after the outage (pass $SK_CONVERGE_PASSES_USED)"
else
	check_fail "not in step after $SK_CONVERGE_PASSES passes: $SK_CONVERGE_LOG"
fi
[ -z "$SK_CONVERGE_LOG" ] || printf 'on the way:\n%s' "$SK_CONVERGE_LOG"

echo "$(wc -l <"$EXP") writes: dev1 $N1 + dev2 $N2 offline, 2 before"
sk_check_replicas tanaka "$RE" "$EXP" "$HUB" "$D1" "$D2"

# The hub's copy is durable: a clean restart of the hub changes nothing.
h=$(sk_hash "$HUB" tanaka)
rk_stop "$HUB"
sk_restart "$HUB"
assert_eq "$h" "$(sk_hash "$HUB" tanaka)" "hub: same room hash after a restart"
rk_stop "$D1"
rk_stop "$D2"
rk_stop "$HUB"
