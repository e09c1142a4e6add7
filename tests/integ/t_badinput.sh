#!/usr/bin/env bash
# t_badinput.sh - what must be refused is refused, in one line that names
# the problem, and a refused write leaves no trace: the outbox (status
# pending) and the timeline are unchanged afterwards.
. "$(dirname "$0")/lib.sh"

D=$RK_TMP/dev
rk_init_device "$D" nurse-1

# --- before any daemon runs ---------------------------------------------

rk "$D" status
assert_refused "status with no renkeid running" "renkeid --dir"

printf 'not-the-passphrase\n' >"$RK_TMP/wrong.pass"
chmod 600 "$RK_TMP/wrong.pass"
t0=$(now_ms)
run timeout 60 "$RENKEID" --dir "$D" --passphrase-file "$RK_TMP/wrong.pass"
t1=$(now_ms)
if [ "$RK_RC" -ne 0 ] && [ "$RK_RC" -ne 124 ]; then
	pass "renkeid refuses a wrong passphrase (exit $RK_RC)"
else
	check_fail "renkeid with a wrong passphrase: exit $RK_RC"
fi
assert_contains "$RK_ERR" "passphrase" "the refusal names the passphrase"
if [ $((t1 - t0)) -ge 1000 ]; then
	pass "the refusal took $((t1 - t0)) ms (>= 1000)"
else
	check_fail "the refusal took $((t1 - t0)) ms: no delay against guessing"
fi
assert_eq "absent" "$([ -e "$D/renkeid.sock" ] && echo present || echo absent)" \
    "no socket left by the refused start"

# --- one daemon per data dir --------------------------------------------

rk_start "$D"
run timeout 30 "$RENKEID" --dir "$D" --passphrase-file "${RK_PASSFILE[$D]}"
if [ "$RK_RC" -ne 0 ] && [ "$RK_RC" -ne 124 ]; then
	pass "a second renkeid on the same dir is refused (exit $RK_RC)"
else
	check_fail "a second renkeid on the same dir: exit $RK_RC"
fi
assert_contains "$RK_ERR" "already running" "the refusal says already running"
if rk_pid_gone "${RK_PID[$D]}"; then
	fail "the first renkeid died when a second one was started"
fi
rk "$D" status
assert_ok "the first renkeid still serves"

# --- writes that must be refused ------------------------------------------

rk "$D" room create r1 --patient-name "佐藤一郎" --consent-date 2024-04-01 \
    --member doctor-1
assert_ok "room create r1"
rk "$D" post r1 "first post"
assert_ok "post to r1"
rk "$D" visit r1 --bp 128/76 --temp 36.5
assert_ok "a valid visit"

snapshot() {
	SNAP_PENDING=$(rk_pending "$D")
	SNAP_TIMELINE=$("$RENKEI" --dir "$D" timeline r1 --json 2>&1)
	SNAP_CARD=$("$RENKEI" --dir "$D" card r1 --json 2>&1)
	SNAP_ROOMS=$("$RENKEI" --dir "$D" status --json 2>/dev/null |
	    json_num rooms)
}
snapshot
[ -n "$SNAP_PENDING" ] || fail "status --json has no pending count"
echo "pending before the refused writes: $SNAP_PENDING"
assert_eq 3 "$SNAP_PENDING" "pending counts room create, post and visit"

# The refused write left no trace.
unchanged() {
	local p t c r
	p=$(rk_pending "$D")
	t=$("$RENKEI" --dir "$D" timeline r1 --json 2>&1)
	c=$("$RENKEI" --dir "$D" card r1 --json 2>&1)
	r=$("$RENKEI" --dir "$D" status --json 2>/dev/null | json_num rooms)
	if [ "$p" = "$SNAP_PENDING" ] && [ "$t" = "$SNAP_TIMELINE" ] &&
	    [ "$c" = "$SNAP_CARD" ] && [ "$r" = "$SNAP_ROOMS" ]; then
		pass "  ... and left pending ($p), rooms, timeline, card unchanged"
	else
		check_fail "  ... but changed something: pending $SNAP_PENDING ->" \
		    "$p, rooms $SNAP_ROOMS -> $r, timeline/card" \
		    "$([ "$t" = "$SNAP_TIMELINE" ] && [ "$c" = "$SNAP_CARD" ] &&
		    echo same || echo differ)"
		snapshot
	fi
}

rk "$D" visit r1 --temp 420
assert_refused "visit --temp 420" "temp"
unchanged
rk "$D" visit r1 --bp 80/120
assert_refused "visit --bp 80/120 (diastolic above systolic)" "bp"
unchanged
rk "$D" visit r1 --pulse abc
assert_refused "visit --pulse abc" "pulse"
unchanged
rk "$D" visit r1 --spo2 101
assert_refused "visit --spo2 101" "spo2"
unchanged
rk "$D" visit r1
assert_refused "visit with nothing to record"
unchanged
rk "$D" post nosuchroom "hello"
assert_refused "post to an unknown room" "nosuchroom"
unchanged
rk "$D" visit nosuchroom --pulse 70
assert_refused "visit to an unknown room" "nosuchroom"
unchanged
rk "$D" post r1 ""
assert_refused "an empty post"
unchanged
rk "$D" card r1 --set nosuchfield=1
assert_refused "card --set nosuchfield=1" "nosuchfield"
unchanged
rk "$D" card r1 --set allergies=ok --set nosuchfield=1
assert_refused "card --set with one good and one unknown field" "nosuchfield"
unchanged
rk "$D" room create r2 --patient-name "未来太郎" --consent-date 2099-01-01 \
    --member doctor-1
assert_refused "room with consent date 2099-01-01" "consent"
unchanged
rk "$D" room create r2 --patient-name "誤日付" --consent-date 2024-02-30 \
    --member doctor-1
assert_refused "room with consent date 2024-02-30" "consent"
unchanged
rk "$D" room create r1 --patient-name "佐藤一郎" --consent-date 2024-04-01 \
    --member doctor-1
assert_refused "duplicate room r1" "r1"
unchanged
rk "$D" room create r3 --patient-name "鈴木" --consent-date 2024-04-01
assert_refused "room without members" "member"
unchanged

# After all that, writes still work.
rk "$D" post r1 "after the refusals"
assert_ok "a valid post after the refusals"
assert_eq $((SNAP_PENDING + 1)) "$(rk_pending "$D")" "pending grew by one"
rk_stop "$D"

# --- a replica.db that is some other SQLite file ---------------------------

F=$RK_TMP/foreign
rk_init_device "$F" nurse-2
if [ -e "$F/replica.db" ]; then
	echo "renkei init made $F/replica.db; replacing it"
	rm -f "$F"/replica.db*
fi
sqlite3 "$F/replica.db" "CREATE TABLE other (x TEXT);
    INSERT INTO other VALUES ('someone else''s data');" ||
    fail "sqlite3 cannot make a plain database"
before=$(sha256sum "$F/replica.db" | cut -d' ' -f1)
listing() { ls -A "$1" | grep -v '^renkeid\.lock$' | sort | tr '\n' ' '; }
ls_before=$(listing "$F")
run timeout 30 "$RENKEID" --dir "$F" --passphrase-file "${RK_PASSFILE[$F]}"
if [ "$RK_RC" -ne 0 ] && [ "$RK_RC" -ne 124 ]; then
	pass "renkeid refuses a replica.db that is another SQLite file" \
	    "(exit $RK_RC: $RK_ERR)"
else
	check_fail "renkeid on a foreign replica.db: exit $RK_RC: $RK_ERR"
fi
assert_contains "$RK_ERR" "replica.db" "the refusal names replica.db"
assert_eq "$before" "$(sha256sum "$F/replica.db" | cut -d' ' -f1)" \
    "the foreign replica.db is unchanged"
assert_eq "$ls_before" "$(listing "$F")" \
    "no WAL, journal or socket left beside it"
run sqlite3 "$F/replica.db" "SELECT x FROM other"
assert_eq "someone else's data" "$RK_OUT" "its data still reads with sqlite3"

# A newer schema cannot be made from outside the encryption without the
# database key; tests/unit covers it.
echo "skip: replica.db with a newer schema version (needs the database key)"
