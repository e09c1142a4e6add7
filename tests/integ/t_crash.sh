#!/usr/bin/env bash
# t_crash.sh - kill -9 in the middle of concurrent writes loses nothing that
# was acknowledged, duplicates nothing, and keeps write and outbox entry
# together (store.h: one SQLite transaction for both).
#
# Each round: several client processes post unique texts ("w-R-C-I") as
# fast as they can; at a random moment renkeid is killed with SIGKILL; it
# is restarted and then
#   - every post whose 'renkei post' exited 0 is in the timeline exactly once,
#   - no text is in it twice (acknowledged or not),
#   - no post failed before the kill (a write refused while the daemon ran
#     is a bug, e.g. "busy" under concurrency),
#   - pending (outbox entries) == posts in the timeline + the setup writes:
#     no write without its outbox entry, no outbox entry without its write.
#
# Before the rounds, the very first start is killed while it creates the
# replica.
#
# SEED=N replays a run's choices (rounds' delays, client counts, burst
# sizes); RK_CRASH_ROUNDS=N runs more rounds (default 8).
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-$(((RANDOM << 15) | RANDOM))}
echo "seed: $SEED"
RANDOM=$SEED
ROUNDS=${RK_CRASH_ROUNDS:-8}
export LC_COLLATE=C	# sort and comm must agree

D=$RK_TMP/dev
W=$RK_TMP/work
mkdir "$W"
: >"$W/acked.all"
: >"$W/tried.all"

rk_init_device "$D" nurse-1

# First a crash while the very first start creates the replica and runs
# the schema migrations: the next start must finish the job.
"$RENKEID" --dir "$D" --passphrase-file "${RK_PASSFILE[$D]}" 2>>"$D.log" &
first=$!
for i in $(seq 1 1000); do
	[ -e "$D/replica.db" ] && break
	rk_pid_gone "$first" && break
	sleep 0.005
done
sleep "0.00$((RANDOM % 10))"
kill -KILL "$first" 2>/dev/null
wait "$first" 2>/dev/null
echo "killed the first start; replica.db:" \
    "$(stat -c %s "$D/replica.db" 2>/dev/null || echo absent) bytes," \
    "WAL: $(stat -c %s "$D/replica.db-wal" 2>/dev/null || echo absent) bytes"
rk_start "$D"
rk "$D" room create r1 --patient-name "クラッシュ試験" \
    --consent-date 2024-04-01 --member doctor-1
assert_ok "room create r1"
SETUP=$(rk_pending "$D")
echo "setup writes in the outbox: $SETUP"
assert_eq 1 "$SETUP" "room create is one outbox entry"

# client ROUND C MAX: posts until MAX or until RW/stop appears (RW: the
# round's dir).  Records each
# text before trying it (tried), once 'renkei post' exited 0 (acked), and
# each failure with the time it ended (failed: "ms text: message").
client() {
	local r=$1 c=$2 max=$3 i=0 t
	while [ "$i" -lt "$max" ] && [ ! -e "$RW/stop" ]; do
		i=$((i + 1))
		t="w-$r-$c-$i"
		echo "$t" >>"$RW/tried.$c"
		if "$RENKEI" --dir "$D" post r1 "$t" >/dev/null \
		    2>"$RW/err.$c"; then
			echo "$t" >>"$RW/acked.$c"
		else
			echo "$(now_ms) $t: $(head -n 1 "$RW/err.$c")" \
			    >>"$RW/failed.$c"
		fi
	done
}

# verify ROUND: the checks above, against the restarted daemon.
verify() {
	local r=$1 tl dups missing present pending total bad
	tl=$("$RENKEI" --dir "$D" timeline r1 --json 2>"$W/tl.err")
	[ $? -eq 0 ] || { check_fail "round $r: timeline: $(cat "$W/tl.err")"; return; }
	printf '%s\n' "$tl" | grep -oE '"w-[0-9]+-[0-9]+-[0-9]+"' | tr -d '"' |
	    sort | uniq -c | awk '{ print $2, $1 }' >"$W/present"
	total=$(awk '{ n += $2 } END { print n + 0 }' "$W/present")
	present=$(wc -l <"$W/present")
	dups=$(awk '$2 > 1 { printf "%s(x%d) ", $1, $2 }' "$W/present")
	if [ -z "$dups" ]; then
		pass "round $r: no post twice ($present distinct in the timeline)"
	else
		check_fail "round $r: posts more than once: $dups"
	fi
	missing=$(cut -d' ' -f1 "$W/present" | sort |
	    comm -23 <(sort "$W/acked.all") - | head -n 20 | tr '\n' ' ')
	if [ -z "$missing" ]; then
		pass "round $r: all $(wc -l <"$W/acked.all") acknowledged posts" \
		    "are there"
	else
		check_fail "round $r: acknowledged posts lost: $missing"
	fi
	bad=$(cut -d' ' -f1 "$W/present" | sort |
	    comm -13 <(sort "$W/tried.all") - | head -n 5 | tr '\n' ' ')
	[ -z "$bad" ] || check_fail "round $r: posts nobody wrote: $bad"
	pending=$(rk_pending "$D")
	assert_eq "$((SETUP + total))" "$pending" \
	    "round $r: pending = $SETUP setup + $total posts (one outbox entry each)"
}

for r in $(seq 1 "$ROUNDS"); do
	clients=$((2 + RANDOM % 4))		# 2..5
	max=$((20 + RANDOM % 61))		# 20..80 posts each
	delay=$(printf '0.%03d' $((RANDOM % 301)))	# 0..300 ms
	echo "round $r: $clients clients, up to $max posts each, kill after ${delay}s"
	RW=$W/round-$r
	mkdir "$RW"
	pids=()
	for c in $(seq 1 "$clients"); do
		client "$r" "$c" "$max" &
		pids+=($!)
	done
	sleep "$delay"
	kill_ms=$(now_ms)
	rk_kill9 "$D"
	touch "$RW/stop"
	wait "${pids[@]}"

	cat "$RW"/acked.* >>"$W/acked.all" 2>/dev/null
	cat "$RW"/tried.* >>"$W/tried.all" 2>/dev/null
	nacked=$(cat "$RW"/acked.* 2>/dev/null | wc -l)
	ntried=$(cat "$RW"/tried.* 2>/dev/null | wc -l)
	echo "round $r: $nacked acknowledged of $ntried tried"
	# A post that failed before the kill was sent failed for a reason of
	# its own.
	early=$(cat "$RW"/failed.* 2>/dev/null |
	    awk -v k="$kill_ms" '$1 < k' | head -n 5)
	if [ -z "$early" ]; then
		pass "round $r: no post failed while renkeid ran"
	else
		check_fail "round $r: posts failed before the kill: $early"
	fi
	if [ "${RK_VERBOSE:-0}" = 1 ]; then
		cat "$RW"/failed.* 2>/dev/null | cut -d: -f2- | sort |
		    uniq -c
	fi

	rk_start "$D"
	verify "$r"
done

nall=$(wc -l <"$W/acked.all")
if [ "$nall" -gt 0 ]; then
	pass "$nall posts acknowledged over $ROUNDS rounds"
else
	check_fail "no post was ever acknowledged: the test tested nothing"
fi

# A clean stop and start at the end keeps it all too.
rk_stop "$D"
rk_start "$D"
verify final
rk_stop "$D"
