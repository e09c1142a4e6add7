#!/usr/bin/env bash
# t_sync_garbage.sh - the hub keeps serving its devices while garbage
# arrives on its port.  Each request below is answered with the right 4xx
# status and a JSON error {"error", "code"} (wire.h), and after each one a
# device posts and syncs successfully (exit 0).  At the end every post is
# on the hub exactly once, the room hashes agree, and the hub stops
# cleanly.
#
#   unsigned random bytes to /v1/push -> 401; a body of exactly 32 MiB is
#   still read (401, unsigned), one byte more -> 413, also chunked without
#   Content-Length -> 413; malformed enrolment JSON -> 400 (several kinds);
#   GET /v1/pull, /v1/snapshot, POST /v1/hashes without signature -> 401;
#   forged signatures (zero signature for a real device, unknown device,
#   bad time) -> 401; unknown paths -> 404; wrong method -> 405; raw
#   non-HTTP bytes and 50 idle half-open connections do not stop a sync,
#   nor a clean SIGTERM of the hub.
. "$(dirname "$0")/synclib.sh"

command -v curl >/dev/null || fail "curl is needed"

HUB=$RK_TMP/hub
D1=$RK_TMP/dev1
EXP=$RK_TMP/expected
: >"$EXP"
N=0

sk_hub "$HUB"
sk_device "$D1" nurse-1
DEV1=$(sk_device_id "$D1")
U=$SK_URL

# still_serving WHAT: dev1 posts a new text and syncs; both must work.
still_serving() {
	N=$((N + 1))
	rk "$D1" post tanaka "gb-$N"
	if [ "$RK_RC" -ne 0 ]; then
		check_fail "after $1: dev1 post: $RK_ERR"
		return
	fi
	echo "gb-$N" >>"$EXP"
	sk_sync "$D1"
	if [ "$RK_RC" -eq 0 ]; then
		pass "after $1: dev1 syncs (exit 0)"
	else
		check_fail "after $1: dev1 sync: exit $RK_RC: $RK_ERR"
	fi
}

still_serving "setup"

head -c 4096 /dev/urandom >"$RK_TMP/rnd"
sk_http -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary @"$RK_TMP/rnd" "$U/v1/push"
sk_assert_http 401 "unsigned random bytes to /v1/push"
still_serving "random push"

head -c 33554432 /dev/zero >"$RK_TMP/32m"
sk_http -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary @"$RK_TMP/32m" "$U/v1/push"
sk_assert_http 401 "unsigned body of exactly 32 MiB (the limit) to /v1/push"
printf 'x' >>"$RK_TMP/32m"
sk_http -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary @"$RK_TMP/32m" "$U/v1/push"
sk_assert_http 413 "body of 32 MiB + 1 byte to /v1/push"
rm -f "$RK_TMP/32m"
still_serving "oversized push"

head -c 40000000 /dev/zero | sk_http -X POST \
    -H 'Transfer-Encoding: chunked' --data-binary @- "$U/v1/push"
sk_assert_http 413 "chunked 40 MB body without Content-Length to /v1/push"
still_serving "oversized chunked push"

for body in '{"code": ' 'not json' '[1,2]' '{}' '{"code": 7}' \
    '{"code":"AAAA-BBBB-CC","device_id":"x","sign_pk":"zz","box_pk":"zz","proof":"zz"}'; do
	sk_http -X POST -H 'Content-Type: application/json' \
	    --data-binary "$body" "$U/v1/enroll"
	sk_assert_http 400 "malformed enrolment $(printf '%s' "$body" | head -c 30)"
done
sk_http -X POST -H 'Content-Type: application/json' \
    --data-binary "$(head -c 3000 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    "$U/v1/enroll"
sk_assert_http 400 "hex garbage as enrolment"
still_serving "malformed enrolments"

sk_http "$U/v1/pull?after=0&limit=10"
sk_assert_http 401 "GET /v1/pull without signature"
sk_http "$U/v1/snapshot?room=tanaka"
sk_assert_http 401 "GET /v1/snapshot without signature"
sk_http -X POST --data-binary '{"cursor": 0, "rooms": {}}' "$U/v1/hashes"
sk_assert_http 401 "POST /v1/hashes without signature"
still_serving "unsigned calls"

now=$(now_ms)
zsig=$(printf '%0128d' 0)
nonce=$(rand_hex 16)
sk_http -H "Renkei-Device: $DEV1" -H "Renkei-Time: $now" \
    -H "Renkei-Nonce: $nonce" -H "Renkei-Signature: $zsig" \
    "$U/v1/pull?after=0&limit=10"
sk_assert_http 401 "pull with a forged signature for dev1's id"
sk_http -X POST -H "Renkei-Device: $DEV1" -H "Renkei-Time: $now" \
    -H "Renkei-Nonce: $(rand_hex 16)" -H "Renkei-Signature: $zsig" \
    --data-binary @"$RK_TMP/rnd" "$U/v1/push"
sk_assert_http 401 "push of random bytes with a forged signature for dev1's id"
sk_http -H "Renkei-Device: NO-SUCH-DEVICE" -H "Renkei-Time: $now" \
    -H "Renkei-Nonce: $(rand_hex 16)" -H "Renkei-Signature: $zsig" \
    "$U/v1/pull?after=0&limit=10"
sk_assert_http 401 "pull as an unknown device"
sk_http -H "Renkei-Device: $DEV1" -H "Renkei-Time: yesterday" \
    -H "Renkei-Nonce: zz" -H "Renkei-Signature: x" \
    "$U/v1/pull?after=0&limit=10"
sk_assert_http 401 "pull with malformed signature headers"
still_serving "forged signatures"

sk_http "$U/v1/nothing-here"
sk_assert_http 404 "unknown path"
sk_http "$U/"
sk_assert_http 404 "GET /"
sk_http "$U/v2/pull"
sk_assert_http 404 "unknown version"
sk_http -X GET "$U/v1/push"
sk_assert_http 405 "GET /v1/push"
sk_http -X DELETE "$U/v1/enroll"
sk_assert_http 405 "DELETE /v1/enroll"
still_serving "unknown paths and methods"

# Raw bytes that are not HTTP at all, then a request that never ends, then
# many that never end, held open while dev1 syncs.  The hub may close a
# connection under our feet: the writes run in a subshell that ignores
# SIGPIPE (bash would die of it, without its EXIT trap).
raw() {	# raw FD BYTES-FILE|-: writes to the connection, errors ignored
	( trap '' PIPE; if [ "$2" = - ]; then cat; else cat "$2"; fi >&"$1" ) \
	    2>/dev/null
	return 0
}
head -c 2000 /dev/urandom >"$RK_TMP/rnd2"
printf '\r\n\r\n' >>"$RK_TMP/rnd2"
if exec {fd}<>"/dev/tcp/127.0.0.1/$SK_PORT"; then
	raw "$fd" "$RK_TMP/rnd2"
	exec {fd}>&-
else
	check_fail "cannot connect to the hub"
fi
if exec {fd}<>"/dev/tcp/127.0.0.1/$SK_PORT"; then
	printf 'GET /v1/pull HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n' |
	    raw "$fd" -
	exec {fd}>&-
fi
still_serving "raw garbage"

idle=()
for i in $(seq 1 50); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$SK_PORT" || break
	printf 'POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc' |
	    raw "$fd" -
	idle+=("$fd")
done
echo "${#idle[@]} half-open connections held"
still_serving "${#idle[@]} half-open connections"
sk_check_replicas tanaka '^gb-' "$EXP" "$HUB" "$D1"
if [ -n "${RK_PID[$HUB]:-}" ] && ! rk_pid_gone "${RK_PID[$HUB]}"; then
	pass "the hub is still running"
else
	check_fail "the hub died"
fi
rk_stop "$D1"
# The half-open connections are still held: a stop must not wait for them.
t0=$(now_ms)
rk_stop "$HUB"
echo "hub stopped in $(($(now_ms) - t0)) ms with ${#idle[@]} connections held open"
for fd in "${idle[@]}"; do
	exec {fd}>&-
done
