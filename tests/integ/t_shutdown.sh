#!/usr/bin/env bash
# t_shutdown.sh - SIGTERM in the middle of concurrent writes is a clean
# shutdown: exit 0, and every write renkeid committed was acknowledged to
# its client (and the other way round).  Unlike kill -9 (t_crash.sh), a
# clean stop has no excuse for telling a client that a saved post failed:
# the user would post it again and the room would hold it twice.  In-flight
# requests are answered before renkeid exits; new ones are refused.
#
# SEED=N replays the choices; RK_SHUTDOWN_ROUNDS=N (default 6).
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-$(((RANDOM << 15) | RANDOM))}
echo "seed: $SEED"
RANDOM=$SEED
ROUNDS=${RK_SHUTDOWN_ROUNDS:-6}
export LC_COLLATE=C

D=$RK_TMP/dev
W=$RK_TMP/work
mkdir "$W"
: >"$W/acked"
: >"$W/failed"
rk_init_device "$D" nurse-1
rk_start "$D"
rk "$D" room create r1 --patient-name "終了試験" --consent-date 2024-04-01 \
    --member doctor-1
assert_ok "room create r1"
SETUP=$(rk_pending "$D")

# client ROUND C: posts until a post fails after the stop began; records
# acknowledged and refused texts, and when each refusal came back.
client() {
	local r=$1 c=$2 i=0 t
	while [ "$i" -lt 200 ]; do
		i=$((i + 1))
		t="s-$r-$c-$i"
		if "$RENKEI" --dir "$D" post r1 "$t" >/dev/null 2>&1; then
			echo "$t" >>"$W/acked.$r.$c"
		else
			echo "$t" >>"$W/failed.$r.$c"
			echo "$(now_ms) $t" >>"$W/failtime.$r.$c"
			[ -e "$W/stop.$r" ] && break
		fi
	done
}

for r in $(seq 1 "$ROUNDS"); do
	delay=$(printf '0.%03d' $((50 + RANDOM % 200)))
	pids=()
	for c in 1 2 3 4; do
		client "$r" "$c" &
		pids+=($!)
	done
	sleep "$delay"
	touch "$W/stop.$r"
	stop_ms=$(now_ms)
	rk_stop "$D"
	wait "${pids[@]}"
	early=$(cat "$W"/failtime."$r".* 2>/dev/null |
	    awk -v k="$stop_ms" '$1 < k { print $2 }' | head -n 5 | tr '\n' ' ')
	assert_eq "" "$early" "round $r: no post failed before SIGTERM"
	cat "$W"/acked."$r".* >>"$W/acked" 2>/dev/null
	cat "$W"/failed."$r".* >>"$W/failed" 2>/dev/null
	rk_start "$D"
done

"$RENKEI" --dir "$D" timeline r1 --json | grep -oE '"s-[0-9]+-[0-9]+-[0-9]+"' |
    tr -d '"' | sort >"$W/present"
sort -o "$W/acked" "$W/acked"
sort -o "$W/failed" "$W/failed"
echo "$(wc -l <"$W/acked") acknowledged, $(wc -l <"$W/failed") refused," \
    "$(wc -l <"$W/present") in the timeline"
[ -s "$W/acked" ] || check_fail "no post was acknowledged: the test tested nothing"
lost=$(comm -23 "$W/acked" "$W/present" | head -n 10 | tr '\n' ' ')
assert_eq "" "$lost" "every acknowledged post is in the timeline"
ghost=$(comm -12 "$W/failed" "$W/present" | head -n 10 | tr '\n' ' ')
assert_eq "" "$ghost" "no post reported as failed was saved"
assert_eq "$(sort -u "$W/present" | wc -l)" "$(wc -l <"$W/present")" \
    "no post twice"
assert_eq "$((SETUP + $(wc -l <"$W/present")))" "$(rk_pending "$D")" \
    "pending = setup + posts"
rk_stop "$D"
