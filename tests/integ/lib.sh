# lib.sh - helpers sourced by the integration tests (tests/integ/t_*.sh).
#
# Each test runs the real binaries in a private temp dir:
#   RENKEI_BIN  the build dir (binaries at daemon/renkeid, client/renkei);
#               defaults to $RK_SRC/build, RK_SRC to this file's ../..
# The temp dir is removed on exit (RK_KEEP=1 keeps it), and every renkeid a
# test started is killed then.  Checks print "ok N - what" or
# "not ok N - what"; the last line of the output is the summary
# "N passed, N failed", and the exit status is non-zero if any check failed.
#
# Helpers:
#   rk_init_device DIR STAFF   renkei init (device, --kdf interactive)
#   rk_start DIR               start renkeid, wait until it serves
#   rk_stop DIR                SIGTERM, wait, check exit status 0
#   rk_kill9 DIR               SIGKILL, wait
#   run CMD...                 runs CMD: RK_RC, RK_OUT (stdout), RK_ERR
#   rk DIR ARGS...             run renkei --dir DIR ARGS...
#   pass / check_fail / fail   record a passed / failed / fatal check
#   assert_eq, assert_ne, assert_contains, assert_not_contains,
#   assert_ok, assert_refused  checks (see each)
#   json_num KEY, json_str KEY read a top-level member from stdin (JSON)

set -u
set -o pipefail
unset RENKEI_DIR

RK_SRC=${RK_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RENKEI_BIN=${RENKEI_BIN:-$RK_SRC/build}
RENKEID=$RENKEI_BIN/daemon/renkeid
RENKEI=$RENKEI_BIN/client/renkei

RK_PASSED=0
RK_FAILED=0
RK_CHECKS=0
declare -A RK_PID=()		# data dir -> pid of its renkeid
declare -A RK_PASSFILE=()	# data dir -> passphrase file
declare -A RK_PASSPHRASE=()	# data dir -> the passphrase itself
RK_LOGS=()			# every DIR.log written, shown on failure

for _b in "$RENKEID" "$RENKEI"; do
	if [ ! -x "$_b" ]; then
		echo "missing $_b: build first (cmake --build build) or set" \
		    "RENKEI_BIN" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

RK_TMP=$(mktemp -d "${TMPDIR:-/tmp}/rk-integ.XXXXXX") || {
	echo "mktemp failed" >&2
	exit 1
}

rk_cleanup() {
	local st=$? d pid
	trap - EXIT
	for d in "${!RK_PID[@]}"; do
		pid=${RK_PID[$d]}
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ "$RK_FAILED" -gt 0 ] && [ "${#RK_LOGS[@]}" -gt 0 ]; then
		for d in "${RK_LOGS[@]}"; do
			[ -s "$d" ] || continue
			echo "--- last lines of $d"
			tail -n 20 "$d"
		done
	fi
	if [ "${RK_KEEP:-0}" = 1 ]; then
		echo "kept $RK_TMP"
	else
		rm -rf "$RK_TMP"
	fi
	echo "$RK_PASSED passed, $RK_FAILED failed"
	if [ "$RK_FAILED" -gt 0 ] || [ "$RK_PASSED" -eq 0 ]; then
		[ "$st" -ne 0 ] || st=1
	fi
	exit "$st"
}
trap rk_cleanup EXIT
trap 'exit 130' INT TERM

# --- checks ---------------------------------------------------------------

pass() {
	RK_CHECKS=$((RK_CHECKS + 1))
	RK_PASSED=$((RK_PASSED + 1))
	echo "ok $RK_CHECKS - $*"
}

# A failed check; the test goes on.
check_fail() {
	RK_CHECKS=$((RK_CHECKS + 1))
	RK_FAILED=$((RK_FAILED + 1))
	echo "not ok $RK_CHECKS - $*"
}

# A failed check after which the test cannot go on.
fail() {
	check_fail "$@"
	exit 1
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
	if [ "$1" == "$2" ]; then
		pass "$3"
	else
		check_fail "$3: expected '$1', got '$2'"
	fi
}

# assert_ne UNEXPECTED ACTUAL WHAT
assert_ne() {
	if [ "$1" != "$2" ]; then
		pass "$3"
	else
		check_fail "$3: got '$2'"
	fi
}

# assert_contains HAYSTACK NEEDLE WHAT (fixed string)
assert_contains() {
	if [[ "$1" == *"$2"* ]]; then
		pass "$3"
	else
		check_fail "$3: '$2' not found in: $(printf '%s' "$1" | head -c 600)"
	fi
}

# assert_not_contains HAYSTACK NEEDLE WHAT (fixed string)
assert_not_contains() {
	if [[ "$1" != *"$2"* ]]; then
		pass "$3"
	else
		check_fail "$3: '$2' found in: $(printf '%s' "$1" | head -c 600)"
	fi
}

# The last run succeeded.
assert_ok() {
	if [ "$RK_RC" -eq 0 ]; then
		pass "$1"
	else
		check_fail "$1: exit $RK_RC: $RK_ERR"
	fi
}

# The last run was refused as the contract says: non-zero exit, nothing on
# stdout, one line on stderr (the reason) containing each of the remaining
# arguments (case-insensitive).  A malformed command line (exit 2) may be
# followed by the command's synopsis ("usage: ...", "   or: ..." and their
# indented continuation lines), as main.c prints it.
assert_refused() {
	local what=$1 lines reason w ok=1 why=""
	shift
	reason=$(printf '%s\n' "$RK_ERR" | head -n 1)
	if [ "$RK_RC" -eq 2 ]; then
		lines=$(printf '%s\n' "$RK_ERR" | grep . |
		    grep -vcE '^(usage: |   or: |       )')
	else
		lines=$(printf '%s\n' "$RK_ERR" | grep -c .)
	fi
	if [ "$RK_RC" -eq 0 ]; then
		ok=0 why="exit 0 (accepted)"
	elif [ "$lines" -ne 1 ]; then
		ok=0 why="$lines lines of reason on stderr, want 1"
	elif [ -n "$RK_OUT" ]; then
		ok=0 why="printed on stdout: $RK_OUT"
	fi
	for w in "$@"; do
		if ! printf '%s' "$reason" | grep -qiF -- "$w"; then
			ok=0 why="${why:+$why; }message does not name '$w'"
		fi
	done
	if [ "$ok" = 1 ]; then
		pass "$what (exit $RK_RC: $reason)"
	else
		check_fail "$what: $why [exit $RK_RC; stderr: $RK_ERR]"
	fi
}

# --- running commands -----------------------------------------------------

run() {
	"$@" >"$RK_TMP/.out" 2>"$RK_TMP/.err"
	RK_RC=$?
	RK_OUT=$(cat "$RK_TMP/.out")
	RK_ERR=$(cat "$RK_TMP/.err")
}

rk() {
	local d=$1
	shift
	run "$RENKEI" --dir "$d" "$@"
}

# Milliseconds since the epoch.
now_ms() {
	local ns
	ns=$(date +%s%N)
	echo $((ns / 1000000))
}

# A random hex string of 2*N characters (N bytes, default 8).
rand_hex() {
	od -An -N"${1:-8}" -tx1 /dev/urandom | tr -d ' \n'
}

# Top-level members of a JSON object on stdin, compact or indented (the
# keys used here occur once).  No jq on the CI image.
json_num() {
	sed -n "s/.*\"$1\" *: *\\(-\\{0,1\\}[0-9][0-9.eE+-]*\\).*/\\1/p" | head -n 1
}
json_str() {
	sed -n "s/.*\"$1\" *: *\"\\([^\"]*\\)\".*/\\1/p" | head -n 1
}

# The pending count of D from 'status --json' (empty if status fails).
rk_pending() {
	"$RENKEI" --dir "$1" status --json 2>/dev/null | json_num pending
}

# --- data dirs and daemons ------------------------------------------------

# rk_init_device DIR STAFF: a device data dir with a passphrase file of its
# own (mode 0600, in the temp dir).
rk_init_device() {
	local d=$1 staff=$2 pf pw
	pf="$RK_TMP/$(basename "$d").pass"
	pw="pw-$(basename "$d")-$(rand_hex 12)"
	(umask 077 && printf '%s\n' "$pw" >"$pf") || fail "cannot write $pf"
	chmod 600 "$pf"
	RK_PASSFILE[$d]=$pf
	RK_PASSPHRASE[$d]=$pw
	run "$RENKEI" init --dir "$d" --role device --passphrase-file "$pf" \
	    --staff "$staff" --kdf interactive
	[ "$RK_RC" -eq 0 ] ||
	    fail "renkei init --dir $d: exit $RK_RC: $RK_ERR $RK_OUT"
	[ -f "$d/renkei.conf" ] || fail "renkei init made no $d/renkei.conf"
}

# 1 if pid has exited (gone or a zombie waiting to be reaped).
rk_pid_gone() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -z "$st" ] || [ "$st" = Z ]
}

# rk_start DIR [PASSFILE]: starts renkeid in the background (its output to
# DIR.log, appended) and waits until 'renkei status' answers, up to 10 s.
rk_start() {
	local d=$1 pf=${2:-${RK_PASSFILE[$1]:-}} pid i
	[ -z "${RK_PID[$d]:-}" ] || fail "rk_start $d: already started"
	[[ " ${RK_LOGS[*]} " == *" $d.log "* ]] || RK_LOGS+=("$d.log")
	"$RENKEID" --dir "$d" --passphrase-file "$pf" >>"$d.log" 2>&1 &
	pid=$!
	RK_PID[$d]=$pid
	for i in $(seq 1 200); do
		if "$RENKEI" --dir "$d" status >/dev/null 2>&1; then
			return 0
		fi
		if rk_pid_gone "$pid"; then
			wait "$pid"
			echo "renkeid for $d exited with status $?; its log:"
			cat "$d.log"
			unset "RK_PID[$d]"
			fail "renkeid --dir $d did not start"
		fi
		sleep 0.05
	done
	echo "renkeid for $d does not answer after 10 s; its log:"
	cat "$d.log"
	fail "renkeid --dir $d did not start within 10 s"
}

# Waits up to $2 seconds (default 10) for pid $1 to exit; then reaps it and
# sets RK_EXIT to its status (or "timeout" after killing it).
rk_wait_pid() {
	local pid=$1 n=$((${2:-10} * 20))
	while [ "$n" -gt 0 ] && ! rk_pid_gone "$pid"; do
		sleep 0.05
		n=$((n - 1))
	done
	if ! rk_pid_gone "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		RK_EXIT=timeout
		return 1
	fi
	wait "$pid"
	RK_EXIT=$?
}

# rk_stop DIR: SIGTERM, wait for the exit, which must be status 0.
rk_stop() {
	local d=$1 pid=${RK_PID[$1]:-}
	[ -n "$pid" ] || fail "rk_stop $d: no renkeid started"
	kill -TERM "$pid" 2>/dev/null
	rk_wait_pid "$pid" 10
	unset "RK_PID[$d]"
	if [ "$RK_EXIT" = 0 ]; then
		pass "renkeid --dir $(basename "$d") exits 0 on SIGTERM"
	else
		check_fail "renkeid --dir $(basename "$d") on SIGTERM: exit" \
		    "$RK_EXIT (want 0)"
		tail -n 20 "$d.log"
	fi
}

# rk_kill9 DIR: SIGKILL, reap.
rk_kill9() {
	local d=$1 pid=${RK_PID[$1]:-}
	[ -n "$pid" ] || fail "rk_kill9 $d: no renkeid started"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "RK_PID[$d]"
}

# The files of D that grep can read (sockets excluded).
rk_files() {
	find "$1" -type f | sort
}
