#!/usr/bin/env bash
# run.sh - the field web UI, end to end, in real headless Chromium: a real
# hub and two real devices (renkeid processes on loopback, set up with
# tests/integ/synclib.sh), each serving its web UI on --listen, driven by
# webui.test.mjs with playwright-core (npm) and Debian's /usr/bin/chromium.
#
#   hub     agencies, staff dr-1 (doctor) and nurse-1 (nurse), room tanaka
#   nurse   device of nurse-1, web UI on a free port (the main user)
#   doctor  device of dr-1, web UI on another port, idle lock after
#           E2E_IDLE (8s) so the idle test is quick
#
# The doctor writes a post and a visit first (CLI), so the nurse sees an
# unread post and last vital values.  webui.test.mjs then drives both UIs,
# stops and restarts the hub itself (its pid goes to $RK_TMP/e2e.pids), and
# writes screenshots at tablet size to $RK_SCREENSHOTS (default
# $RENKEI_BIN/screenshots, i.e. build/screenshots).
#
# Skips (exit 77, ctest's SKIP_RETURN_CODE) only when node or
# /usr/bin/chromium is missing; scripts/deps.sh installs both, and the
# Makefile installs playwright-core (tests/e2e/node_modules).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHROMIUM=${E2E_CHROMIUM:-/usr/bin/chromium}

if ! command -v node >/dev/null 2>&1; then
	echo "SKIP: node is not installed (scripts/deps.sh installs nodejs)"
	exit 77
fi
if [ ! -x "$CHROMIUM" ]; then
	echo "SKIP: $CHROMIUM is missing (scripts/deps.sh installs Debian's chromium)"
	exit 77
fi
if [ ! -d "$HERE/node_modules/playwright-core" ]; then
	echo "installing playwright-core into $HERE/node_modules (npm ci)"
	if ! (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null 2>&1); then
		echo "cannot install playwright-core: run 'make e2e-deps'"
		echo "0 passed, 1 failed"
		exit 1
	fi
fi

. "$HERE/../integ/synclib.sh"

SHOTS=${RK_SCREENSHOTS:-$RENKEI_BIN/screenshots}
mkdir -p "$SHOTS" || fail "cannot make $SHOTS"
rm -f "$SHOTS"/*.png	# this run's only (FAILED-N.png: a failed step)
E2E_PIDS=$RK_TMP/e2e.pids
: >"$E2E_PIDS"

# renkeid processes the browser test started (the restarted hub) are
# killed too if it dies half-way.
e2e_cleanup() {
	local st=$? pid
	while read -r pid; do
		[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	done <"$E2E_PIDS"
	(exit "$st")
	rk_cleanup
}
trap e2e_cleanup EXIT

# e2e_device DEV STAFF [IDLE]: init, start with the web UI on a free
# loopback port (E2E_PORT), enrol as STAFF, first sync.
e2e_device() {
	local d=$1 staff=$2 idle=${3:-} try port
	sk_pass "$d"
	run "$RENKEI" init --dir "$d" --role device --passphrase-file \
	    "${RK_PASSFILE[$d]}" --kdf interactive
	[ "$RK_RC" -eq 0 ] || fail "renkei init $d: exit $RK_RC: $RK_ERR"
	E2E_PORT=
	for try in $(seq 1 20); do
		port=$((20000 + $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 40000))
		if RENKEI_UI_IDLE=$idle sk_start "$d" --listen "127.0.0.1:$port"; then
			E2E_PORT=$port
			break
		fi
		grep -q "cannot listen" "$d.log" ||
		    { tail -n 20 "$d.log"; fail "renkeid $d did not start"; }
	done
	[ -n "$E2E_PORT" ] || fail "$d: no free port after 20 tries"
	sk_code "$staff"
	rk "$d" enroll "$SK_CODE" --hub "$SK_URL"
	[ "$RK_RC" -eq 0 ] || fail "enroll $(basename "$d") as $staff: $RK_ERR"
	sk_sync "$d"
	[ "$RK_RC" -eq 0 ] || fail "first sync of $(basename "$d"): $RK_ERR"
	grep -q "web UI on http://127.0.0.1:$E2E_PORT/" "$d.log" &&
	    pass "$(basename "$d"): web UI on http://127.0.0.1:$E2E_PORT/" ||
	    fail "$(basename "$d"): renkeid does not log its web UI address"
}

HUB=$RK_TMP/hub
NURSE=$RK_TMP/nurse
DOCTOR=$RK_TMP/doctor
sk_hub "$HUB"
e2e_device "$NURSE" nurse-1
NURSE_PORT=$E2E_PORT
e2e_device "$DOCTOR" dr-1 "${E2E_IDLE:-8s}"
DOCTOR_PORT=$E2E_PORT

# What the nurse finds when she opens the room.
rk "$DOCTOR" visit tanaka --bp 140/85 --pulse 80 --temp 37.1 --spo2 95 \
    --note "e2e-seed 往診: 下肢浮腫あり"
[ "$RK_RC" -eq 0 ] || fail "doctor's seed visit: $RK_ERR"
rk "$DOCTOR" post tanaka "e2e-seed 利尿薬を増量しました。体重の記録をお願いします。"
[ "$RK_RC" -eq 0 ] || fail "doctor's seed post: $RK_ERR"
rk "$DOCTOR" card tanaka --set diagnoses="慢性心不全" \
    --set medications="フロセミド20mg 朝" --set care_level="要介護2"
[ "$RK_RC" -eq 0 ] || fail "doctor's seed card: $RK_ERR"
sk_converge "$DOCTOR" "$NURSE" || fail "seed not in step: $SK_CONVERGE_LOG"
pass "seed data written by the doctor is on the nurse's device"

export E2E_CHROMIUM=$CHROMIUM E2E_SHOTS=$SHOTS E2E_PIDS RENKEI RENKEID
export E2E_HUB_DIR=$HUB E2E_HUB_PORT=$SK_PORT E2E_HUB_PID=${RK_PID[$HUB]}
export E2E_HUB_PASSFILE=${RK_PASSFILE[$HUB]}
export E2E_NURSE_DIR=$NURSE E2E_NURSE_URL=http://127.0.0.1:$NURSE_PORT
export E2E_NURSE_PASS=${RK_PASSPHRASE[$NURSE]}
export E2E_DOCTOR_DIR=$DOCTOR E2E_DOCTOR_URL=http://127.0.0.1:$DOCTOR_PORT
export E2E_DOCTOR_PASS=${RK_PASSPHRASE[$DOCTOR]}
export E2E_COUNTS=$RK_TMP/e2e.counts E2E_FIRST=$((RK_CHECKS + 1))

timeout "${E2E_TIMEOUT:-600}" node "$HERE/webui.test.mjs"
st=$?
if [ -s "$E2E_COUNTS" ]; then
	read -r p f <"$E2E_COUNTS"
	RK_PASSED=$((RK_PASSED + p))
	RK_FAILED=$((RK_FAILED + f))
	RK_CHECKS=$((RK_CHECKS + p + f))
fi
[ "$st" -eq 0 ] || check_fail "webui.test.mjs exited with status $st"
echo "screenshots: $SHOTS"

# The hub webui.test.mjs restarted is its to stop; the devices stop here
# with their web UIs running: a clean exit 0 each.
unset "RK_PID[$HUB]"
rk_stop "$NURSE"
rk_stop "$DOCTOR"
