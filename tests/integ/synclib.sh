# synclib.sh - helpers for the sync integration tests (t_sync_*.sh), on top
# of lib.sh (sourced here first; see it for run, rk, checks, rk_start ...).
#
# A test builds a hub and devices in its temp dir:
#   sk_hub HUB                 init a hub, start it on a free loopback port
#                              (SK_PORT, SK_URL), register the agencies,
#                              staff dr-1 (doctor) and nurse-1 (nurse) and
#                              room tanaka with both as members
#   sk_device DEV STAFF        init a device, start it, enrol it with a
#                              fresh code for STAFF, first sync
#   sk_start DIR [ARGS...]     like rk_start, extra renkeid args, returns 1
#                              instead of failing the test
#   sk_restart DIR             start DIR again (a hub on the same port)
#   sk_sync DEV                renkei sync (RK_RC, RK_OUT, RK_ERR)
#   sk_converge DEV...         sync each in turn until all are in step in
#                              one pass (at most SK_CONVERGE_PASSES)
#   sk_texts DIR ROOM RE       the room's post bodies and visit notes that
#                              match the extended regexp RE, one a line,
#                              sorted (LC_ALL=C)
#   sk_hash DIR ROOM           the room's content hash
#   sk_device_id DIR, sk_status_str DIR KEY, sk_status_num DIR KEY,
#   sk_status_has DIR TEXT, sk_wait SECONDS CMD...
#   sk_check_replicas ROOM RE EXPECTED_FILE DIR...
#                              every replica has each line of the file
#                              exactly once, nothing else matching RE,
#                              equal hashes, pending 0
#   sk_http CURL-ARGS...       a raw request to the hub with curl:
#                              SK_HTTP_CODE, SK_HTTP_BODY
#   sk_assert_http CODE WHAT   ... answered CODE with a JSON error body
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export LC_ALL=C		# sort, comm and grep agree; texts are bytes
SK_CONVERGE_PASSES=${SK_CONVERGE_PASSES:-6}
SK_PORT=
SK_URL=
SK_HUB=

# sk_pass DIR: a passphrase file for DIR (mode 0600, in the temp dir).
sk_pass() {
	local d=$1 pf pw
	pf="$RK_TMP/$(basename "$d").pass"
	pw="pw-$(basename "$d")-$(rand_hex 12)"
	(umask 077 && printf '%s\n' "$pw" >"$pf") || fail "cannot write $pf"
	RK_PASSFILE[$d]=$pf
	RK_PASSPHRASE[$d]=$pw
}

# sk_start DIR [ARGS...]: starts renkeid for DIR with extra ARGS and waits
# until 'renkei status' answers (10 s).  0 on success; 1 (and the log
# shown) if it exited or never answered.
sk_start() {
	local d=$1 pid i
	shift
	[ -z "${RK_PID[$d]:-}" ] || fail "sk_start $d: already started"
	[[ " ${RK_LOGS[*]} " == *" $d.log "* ]] || RK_LOGS+=("$d.log")
	"$RENKEID" --dir "$d" --passphrase-file "${RK_PASSFILE[$d]}" "$@" \
	    >>"$d.log" 2>&1 &
	pid=$!
	RK_PID[$d]=$pid
	for i in $(seq 1 200); do
		if "$RENKEI" --dir "$d" status >/dev/null 2>&1; then
			return 0
		fi
		if rk_pid_gone "$pid"; then
			wait "$pid" 2>/dev/null
			unset "RK_PID[$d]"
			return 1
		fi
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "RK_PID[$d]"
	echo "renkeid for $d does not answer after 10 s; its log:"
	tail -n 20 "$d.log"
	return 1
}

# sk_restart DIR: starts DIR's renkeid again (a hub on SK_PORT); fatal if
# it does not come up.
sk_restart() {
	local d=$1
	if [ "$d" = "$SK_HUB" ]; then
		sk_start "$d" --listen "127.0.0.1:$SK_PORT" ||
		    { tail -n 20 "$d.log"; fail "hub did not restart on port $SK_PORT"; }
	else
		sk_start "$d" ||
		    { tail -n 20 "$d.log"; fail "renkeid --dir $d did not restart"; }
	fi
}

# sk_hub_start HUB: starts the hub on a loopback port from 20000-59999,
# trying others while the port is taken.  The ports come from /dev/urandom,
# not RANDOM: a seeded test replays the same choices whatever port it got.
sk_hub_start() {
	local h=$1 try port
	for try in $(seq 1 20); do
		port=$((20000 + $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 40000))
		if sk_start "$h" --listen "127.0.0.1:$port"; then
			SK_PORT=$port
			SK_URL="http://127.0.0.1:$port"
			SK_HUB=$h
			return 0
		fi
		grep -q "cannot listen" "$h.log" ||
		    { tail -n 20 "$h.log"; fail "hub did not start"; }
	done
	fail "hub: no free port after 20 tries"
}

# sk_hub HUB: the standard hub (see the top of the file).
sk_hub() {
	local h=$1
	sk_pass "$h"
	run "$RENKEI" init --dir "$h" --role hub --passphrase-file \
	    "${RK_PASSFILE[$h]}" --kdf interactive
	[ "$RK_RC" -eq 0 ] || fail "renkei init hub: exit $RK_RC: $RK_ERR"
	sk_hub_start "$h"
	echo "hub on $SK_URL"
	rk "$h" agency add clinic-a --name 鈴木医院 --kind clinic
	[ "$RK_RC" -eq 0 ] || fail "agency add clinic-a: $RK_ERR"
	rk "$h" agency add vn-a --name 訪問看護A --kind visiting-nurse
	[ "$RK_RC" -eq 0 ] || fail "agency add vn-a: $RK_ERR"
	rk "$h" staff add dr-1 --agency clinic-a --name 鈴木一郎 \
	    --profession doctor
	[ "$RK_RC" -eq 0 ] || fail "staff add dr-1: $RK_ERR"
	rk "$h" staff add nurse-1 --agency vn-a --name 佐藤花 \
	    --profession nurse
	[ "$RK_RC" -eq 0 ] || fail "staff add nurse-1: $RK_ERR"
	rk "$h" room create tanaka --patient-name 田中花子 \
	    --consent-date 2026-04-01 --member dr-1 --member nurse-1
	[ "$RK_RC" -eq 0 ] || fail "room create tanaka on the hub: $RK_ERR"
}

# sk_code STAFF: a fresh enrolment code (its last line) into SK_CODE.
sk_code() {
	rk "$SK_HUB" enroll-code --staff "$1"
	[ "$RK_RC" -eq 0 ] || fail "enroll-code --staff $1: $RK_ERR"
	SK_CODE=$(printf '%s\n' "$RK_OUT" | tail -n 1)
	[ -n "$SK_CODE" ] || fail "enroll-code printed no code"
}

# sk_device DEV STAFF: init, start, enrol at the hub as STAFF, sync.
sk_device() {
	local d=$1 staff=$2
	sk_pass "$d"
	run "$RENKEI" init --dir "$d" --role device --passphrase-file \
	    "${RK_PASSFILE[$d]}" --kdf interactive
	[ "$RK_RC" -eq 0 ] || fail "renkei init $d: exit $RK_RC: $RK_ERR"
	sk_start "$d" || { tail -n 20 "$d.log"; fail "renkeid $d did not start"; }
	sk_code "$staff"
	rk "$d" enroll "$SK_CODE" --hub "$SK_URL"
	[ "$RK_RC" -eq 0 ] ||
	    fail "enroll $(basename "$d") as $staff: exit $RK_RC: $RK_ERR"
	sk_sync "$d"
	[ "$RK_RC" -eq 0 ] ||
	    fail "first sync of $(basename "$d"): exit $RK_RC: $RK_ERR"
}

sk_sync() {
	rk "$1" sync --timeout "${SK_SYNC_TIMEOUT:-30}"
}

# sk_converge DEV...: rounds of 'renkei sync' on each DEV in turn until one
# round where every sync exits 0.  0 when that happened; SK_CONVERGE_LOG
# holds the failures seen on the way.
sk_converge() {
	local pass d ok
	SK_CONVERGE_LOG=
	for pass in $(seq 1 "$SK_CONVERGE_PASSES"); do
		ok=1
		for d in "$@"; do
			sk_sync "$d"
			if [ "$RK_RC" -ne 0 ]; then
				ok=0
				SK_CONVERGE_LOG+="pass $pass $(basename "$d"): exit $RK_RC: $RK_ERR"$'\n'
			fi
		done
		if [ "$ok" = 1 ]; then
			SK_CONVERGE_PASSES_USED=$pass
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# sk_texts DIR ROOM RE: post bodies and visit notes matching RE, sorted.
# Texts must not hold '"' or '\'.
sk_texts() {
	"$RENKEI" --dir "$1" timeline "$2" --json 2>/dev/null |
	    grep -oE '"(body|note)": *"[^"]*"' |
	    sed -E 's/^"(body|note)": *"//; s/"$//' |
	    grep -E -- "$3" | sort
}

sk_hash() {
	"$RENKEI" --dir "$1" hash "$2" 2>/dev/null | tail -n 1
}

sk_status_str() {
	"$RENKEI" --dir "$1" status --json 2>/dev/null | json_str "$2"
}

sk_status_num() {
	"$RENKEI" --dir "$1" status --json 2>/dev/null | json_num "$2"
}

sk_device_id() {
	sk_status_str "$1" device_id
}

# sk_check_replicas ROOM RE EXPECTED DIR...: see the top of the file.
sk_check_replicas() {
	local room=$1 re=$2 exp=$3 d n got dups missing extra h h0="" hs=""
	shift 3
	n=$(sort -u "$exp" | wc -l)
	for d in "$@"; do
		got=$RK_TMP/.texts.$(basename "$d")
		sk_texts "$d" "$room" "$re" >"$got"
		dups=$(uniq -d "$got" | head -n 10 | tr '\n' ' ')
		missing=$(sort -u "$got" | comm -23 <(sort -u "$exp") - |
		    head -n 10 | tr '\n' ' ')
		extra=$(sort -u "$got" | comm -13 <(sort -u "$exp") - |
		    head -n 10 | tr '\n' ' ')
		if [ -z "$dups$missing$extra" ]; then
			pass "$(basename "$d"): all $n writes in $room exactly once"
		else
			check_fail "$(basename "$d"): room $room:" \
			    "${missing:+missing: $missing}" \
			    "${dups:+twice: $dups}" "${extra:+unexpected: $extra}" \
			    "($(wc -l <"$got") texts, want $n)"
		fi
		h=$(sk_hash "$d" "$room")
		hs+="$(basename "$d")=${h:0:12} "
		[ -n "$h0" ] || h0=$h
		[ "$h" = "$h0" ] || h0=DIFFERENT
	done
	if [ -n "$h0" ] && [ "$h0" != DIFFERENT ]; then
		pass "room $room hash equal on all $# replicas (${h0:0:16})"
	else
		check_fail "room $room hashes differ: $hs"
	fi
	for d in "$@"; do
		[ "$d" = "$SK_HUB" ] && continue
		assert_eq 0 "$(sk_status_num "$d" pending)" \
		    "$(basename "$d"): pending 0"
	done
}

# sk_wait SECONDS CMD...: runs CMD (e.g. sk_status_has DEV TEXT) every
# 50 ms until it succeeds or SECONDS pass; 0 if it succeeded.
sk_wait() {
	local n=$(($1 * 20))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}

# sk_status_has DIR TEXT: 'status --json' of DIR contains TEXT.
sk_status_has() {
	"$RENKEI" --dir "$1" status --json 2>/dev/null | grep -qF -- "$2"
}

# sk_http ARGS...: curl ARGS (a URL among them) against the hub; sets
# SK_HTTP_CODE (000 when no HTTP answer) and SK_HTTP_BODY (first 4 KiB).
sk_http() {
	SK_HTTP_CODE=$(curl -s -o "$RK_TMP/.http" -w '%{http_code}' \
	    --max-time 30 "$@" 2>/dev/null)
	[ -n "$SK_HTTP_CODE" ] || SK_HTTP_CODE=000
	SK_HTTP_BODY=$(head -c 4096 "$RK_TMP/.http" 2>/dev/null)
}

# sk_assert_http CODE WHAT: the last sk_http answered CODE with a JSON
# error body {"error": "...", "code": "..."} (wire.h).
sk_assert_http() {
	local err code
	err=$(printf '%s' "$SK_HTTP_BODY" | json_str error)
	code=$(printf '%s' "$SK_HTTP_BODY" | json_str code)
	if [ "$SK_HTTP_CODE" = "$1" ] && [ -n "$err" ] && [ -n "$code" ]; then
		pass "$2: $1 ($code: $err)"
	else
		check_fail "$2: HTTP $SK_HTTP_CODE, want $1 with a JSON" \
		    "error; body: $(printf '%s' "$SK_HTTP_BODY" | head -c 300)"
	fi
}
