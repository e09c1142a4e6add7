#!/usr/bin/env bash
# t_sync_kill.sh - kill -9 in the middle of syncs loses nothing that was
# acknowledged and duplicates nothing, on any replica.
#
# A hub and two devices (dev1 nurse-1, dev2 dr-1) in room tanaka.  Each
# round: both devices write a burst (posts and visits with unique texts
# "k-R-dN-I"; a write is acknowledged when 'renkei post'/'visit' exits 0);
# then 'renkei sync' starts on both in the background while both go on
# writing, and after a seeded 0-300 ms one of the hub, dev1 or dev2
# (seeded) is killed with SIGKILL and started again.  After each round a
# device still holds every write it acknowledged.  At the end everyone
# syncs until in step, and then on every replica (hub included):
#   - every acknowledged write is there exactly once,
#   - nothing is there twice, nothing nobody wrote,
#   - the same texts on all three, equal room hashes, pending 0,
#   - no write failed on a device that was not killed.
#
# SEED=N replays a run's choices (burst sizes, kinds, delays, victims);
# RK_SYNC_KILL_ROUNDS=N runs more rounds (default 6).
. "$(dirname "$0")/synclib.sh"

SEED=${SEED:-$(((RANDOM << 15) | RANDOM))}
echo "seed: $SEED"
RANDOM=$SEED
ROUNDS=${RK_SYNC_KILL_ROUNDS:-6}

HUB=$RK_TMP/hub
D1=$RK_TMP/dev1
D2=$RK_TMP/dev2
W=$RK_TMP/work
mkdir "$W"
: >"$W/acked"
: >"$W/tried"
: >"$W/failed"

sk_hub "$HUB"
sk_device "$D1" nurse-1
sk_device "$D2" dr-1
SK_SYNC_TIMEOUT=20

# writer DIR TAG KINDS STOPFILE: one write per character of KINDS (p post,
# v visit), text "TAG-I"; stops early once STOPFILE exists.  Appends to
# RW/tried.TAG, RW/acked.TAG, RW/failed.TAG ("ms text: reason").
writer() {
	local d=$1 tag=$2 kinds=$3 stop=$4 i t k
	for ((i = 0; i < ${#kinds}; i++)); do
		[ -n "$stop" ] && [ -e "$stop" ] && break
		k=${kinds:i:1}
		t="$tag-$((i + 1))"
		echo "$t" >>"$RW/tried.$tag"
		if [ "$k" = v ]; then
			"$RENKEI" --dir "$d" visit tanaka --bp 128/76 --pulse 70 \
			    --note "$t" >/dev/null 2>"$RW/err.$tag"
		else
			"$RENKEI" --dir "$d" post tanaka "$t" >/dev/null \
			    2>"$RW/err.$tag"
		fi
		if [ $? -eq 0 ]; then
			echo "$t" >>"$RW/acked.$tag"
		else
			echo "$(now_ms) $t: $(head -n 1 "$RW/err.$tag")" \
			    >>"$RW/failed.$tag"
		fi
	done
}

# kinds N: N seeded write kinds, about one visit in four.
kinds() {
	local i s=
	for ((i = 0; i < $1; i++)); do
		if [ $((RANDOM % 4)) -eq 0 ]; then s+=v; else s+=p; fi
	done
	echo "$s"
}

# texts DIR: the k- texts of tanaka on DIR, sorted, with duplicates.
texts() {
	sk_texts "$1" tanaka '^k-'
}

NAMES=(hub dev1 dev2)
DIRS=("$HUB" "$D1" "$D2")
for r in $(seq 1 "$ROUNDS"); do
	RW=$W/round-$r
	mkdir "$RW"
	b1=$(kinds $((3 + RANDOM % 10)))
	b2=$(kinds $((3 + RANDOM % 10)))
	c1=$(kinds $((5 + RANDOM % 20)))
	c2=$(kinds $((5 + RANDOM % 20)))
	delay=$(printf '0.%03d' $((RANDOM % 301)))
	v=$((RANDOM % 3))
	victim=${DIRS[$v]}
	echo "round $r: bursts ${#b1}+${#b2}, then sync with up to" \
	    "${#c1}+${#c2} more writes; kill -9 ${NAMES[$v]} after ${delay}s"

	writer "$D1" "k-$r-d1" "$b1" "" &
	p1=$!
	writer "$D2" "k-$r-d2" "$b2" "" &
	p2=$!
	wait "$p1" "$p2"

	"$RENKEI" --dir "$D1" sync --timeout 20 >"$RW/sync1.out" 2>&1 &
	s1=$!
	"$RENKEI" --dir "$D2" sync --timeout 20 >"$RW/sync2.out" 2>&1 &
	s2=$!
	writer "$D1" "k-$r-d1c" "$c1" "$RW/stop" &
	p1=$!
	writer "$D2" "k-$r-d2c" "$c2" "$RW/stop" &
	p2=$!
	sleep "$delay"
	kill_ms=$(now_ms)
	rk_kill9 "$victim"
	touch "$RW/stop"
	wait "$p1" "$p2"
	wait "$s1"
	e1=$?
	wait "$s2"
	e2=$?
	echo "round $r: syncs exited $e1 (dev1) and $e2 (dev2)"
	sk_restart "$victim"

	cat "$RW"/acked.* >>"$W/acked" 2>/dev/null
	cat "$RW"/tried.* >>"$W/tried" 2>/dev/null
	# A write may fail only on a device that was killed, after the kill.
	for tag in d1 d2 d1c d2c; do
		f=$RW/failed.k-$r-$tag
		[ -s "$f" ] || continue
		dn=dev${tag:1:1}
		if [ "$dn" = "${NAMES[$v]}" ]; then
			bad=$(awk -v k="$kill_ms" '$1 < k' "$f" | head -n 3)
		else
			bad=$(head -n 3 "$f")
		fi
		[ -z "$bad" ] || check_fail "round $r: $dn writes failed while its renkeid ran: $bad"
		cat "$f" >>"$W/failed"
	done

	# Each device still holds what it acknowledged (a kill -9 of a device
	# in the middle of a pull must not undo its writes).
	for d in "$D1" "$D2"; do
		dn=$(basename "$d")
		tag=k-$r-d${dn#dev}
		missing=$(cat "$RW/acked.$tag" "$RW/acked.${tag}c" 2>/dev/null |
		    sort | comm -23 - <(texts "$d" | sort -u) | head -n 10 |
		    tr '\n' ' ')
		if [ -z "$missing" ]; then
			pass "round $r: $dn holds its $(cat "$RW/acked.$tag" \
			    "$RW/acked.${tag}c" 2>/dev/null | wc -l) acknowledged writes"
		else
			check_fail "round $r: $dn lost acknowledged writes: $missing"
		fi
	done
done

nacked=$(wc -l <"$W/acked")
ntried=$(wc -l <"$W/tried")
echo "$nacked writes acknowledged of $ntried tried;" \
    "$(wc -l <"$W/failed") failed (on killed devices)"
[ "$nacked" -gt 0 ] || check_fail "no write was acknowledged: nothing tested"

if sk_converge "$D1" "$D2" "$D1" "$D2"; then
	pass "in step after $ROUNDS rounds (pass $SK_CONVERGE_PASSES_USED)"
else
	check_fail "not in step after $SK_CONVERGE_PASSES passes: $SK_CONVERGE_LOG"
fi
[ -z "$SK_CONVERGE_LOG" ] || printf 'on the way:\n%s' "$SK_CONVERGE_LOG"

sort -u "$W/acked" >"$W/acked.s"
sort -u "$W/tried" >"$W/tried.s"
first=
for d in "$HUB" "$D1" "$D2"; do
	dn=$(basename "$d")
	texts "$d" >"$W/have.$dn"
	dups=$(uniq -d "$W/have.$dn" | head -n 10 | tr '\n' ' ')
	if [ -z "$dups" ]; then
		pass "$dn: no write twice ($(wc -l <"$W/have.$dn") writes)"
	else
		check_fail "$dn: writes more than once: $dups"
	fi
	missing=$(sort -u "$W/have.$dn" | comm -23 "$W/acked.s" - | head -n 10 |
	    tr '\n' ' ')
	if [ -z "$missing" ]; then
		pass "$dn: all $nacked acknowledged writes are there"
	else
		check_fail "$dn: acknowledged writes missing: $missing"
	fi
	bogus=$(sort -u "$W/have.$dn" | comm -13 "$W/tried.s" - | head -n 5 |
	    tr '\n' ' ')
	[ -z "$bogus" ] || check_fail "$dn: writes nobody made: $bogus"
	if [ -z "$first" ]; then
		first=$dn
	elif cmp -s "$W/have.$first" "$W/have.$dn"; then
		pass "$dn: same writes as $first"
	else
		check_fail "$dn: writes differ from $first:" \
		    "$(diff "$W/have.$first" "$W/have.$dn" | grep '^[<>]' |
		    head -n 6 | tr '\n' ' ')"
	fi
done
extra=$(comm -13 "$W/acked.s" <(sort -u "$W/have.hub") | wc -l)
echo "unacknowledged writes that made it anyway: $extra"
h=$(sk_hash "$HUB" tanaka)
assert_eq "$h" "$(sk_hash "$D1" tanaka)" "tanaka hash: dev1 = hub"
assert_eq "$h" "$(sk_hash "$D2" tanaka)" "tanaka hash: dev2 = hub"
assert_eq 0 "$(sk_status_num "$D1" pending)" "dev1: pending 0"
assert_eq 0 "$(sk_status_num "$D2" pending)" "dev2: pending 0"
assert_eq 0 "$(sk_status_num "$D1" refused)" "dev1: nothing refused"
assert_eq 0 "$(sk_status_num "$D2" refused)" "dev2: nothing refused"

rk_stop "$D1"
rk_stop "$D2"
rk_stop "$HUB"
