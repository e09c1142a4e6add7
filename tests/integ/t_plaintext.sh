#!/usr/bin/env bash
# t_plaintext.sh - nothing a user writes reaches the disk in clear.
#
# A random marker goes in through a post, a visit note, the emergency card
# (with Japanese text) and the patient name.  Then every file of the data
# dir -- replica.db, its WAL and journals, keys, renkei.conf, the lock --
# is searched byte for byte for the marker, for the Japanese text's UTF-8,
# for "SQLite format 3" and for the passphrase: while the daemon runs (the
# WAL holds the frames) and after it stopped.  The sqlite3 tool must not be
# able to read the replica; the right passphrase brings everything back.
. "$(dirname "$0")/lib.sh"

D=$RK_TMP/dev
M="MARKER-$(rand_hex 8)"
JA="ペニシリン禁忌${M}"
PATIENT="山田花子${M}"
SQLITE_MAGIC="SQLite format 3"
echo "marker: $M"

# scan_dir WHAT DIR NEEDLE...: no file under DIR holds any NEEDLE (bytes).
scan_dir() {
	local what=$1 dir=$2 n f hits
	shift 2
	for n in "$@"; do
		hits=""
		while IFS= read -r f; do
			if LC_ALL=C grep -a -q -F -- "$n" "$f"; then
				hits="$hits $(basename "$f")"
			fi
		done < <(rk_files "$dir")
		if [ -z "$hits" ]; then
			pass "$what: '$n' is in no file"
		else
			check_fail "$what: '$n' found in:$hits"
		fi
	done
}

# The scan itself must be able to find things: plant each needle in a
# scratch dir and expect a hit, so a broken grep cannot pass silently.
mkdir "$RK_TMP/selftest"
printf 'x%sx\0%s\0%s\n' "$M" "$JA" "$SQLITE_MAGIC" >"$RK_TMP/selftest/f"
for n in "$M" "$JA" "$SQLITE_MAGIC"; do
	if LC_ALL=C grep -a -q -F -- "$n" "$RK_TMP/selftest/f"; then
		pass "scanner self-test finds '$n'"
	else
		fail "scanner self-test: '$n' not found in a file holding it"
	fi
done

rk_init_device "$D" nurse-1
rk_start "$D"

rk "$D" room create r1 --patient-name "$PATIENT" --consent-date 2024-04-01 \
    --member doctor-1
assert_ok "room create r1"
rk "$D" post r1 "post $M"
assert_ok "post with the marker"
rk "$D" visit r1 --bp 128/76 --pulse 72 --temp 36.8 --spo2 97 \
    --note "note $M 褥瘡なし"
assert_ok "visit with a note holding the marker"
rk "$D" card r1 --set "allergies=$JA" --set "medications=med $M"
assert_ok "card --set allergies (Japanese) and medications"

rk "$D" timeline r1
assert_ok "timeline r1"
assert_contains "$RK_OUT" "post $M" "timeline shows the post"
assert_contains "$RK_OUT" "note $M" "timeline shows the visit note"
rk "$D" card r1
assert_ok "card r1"
assert_contains "$RK_OUT" "$JA" "card shows the Japanese allergy text"
assert_contains "$RK_OUT" "$PATIENT" "card shows the patient name"

# While it runs: the last writes may live only in the WAL.
[ -s "$D/replica.db" ] || [ -s "$D/replica.db-wal" ] ||
    check_fail "no replica.db or replica.db-wal with content in $D"
echo "files while running: $(rk_files "$D" | xargs -n1 basename | tr '\n' ' ')"
scan_dir "running" "$D" "$M" "$JA" "$SQLITE_MAGIC" "${RK_PASSPHRASE[$D]}"

rk_stop "$D"
assert_eq "absent" "$([ -e "$D/renkeid.sock" ] && echo present || echo absent)" \
    "socket removed after SIGTERM"
[ -s "$D/replica.db" ] || fail "no replica.db with content in $D after stop"
echo "files after stop: $(rk_files "$D" | xargs -n1 basename | tr '\n' ' ')"
scan_dir "stopped" "$D" "$M" "$JA" "$SQLITE_MAGIC" "${RK_PASSPHRASE[$D]}"

# Nor does the daemon's log hold patient data (it ends up in the journal).
if LC_ALL=C grep -a -q -F -- "$M" "$D.log"; then
	check_fail "renkeid's log holds the marker"
else
	pass "renkeid's log does not hold the marker"
fi

# The key file: the passphrase, in any form, is not in it.
if LC_ALL=C grep -a -q -F -- "${RK_PASSPHRASE[$D]}" "$D/keys"; then
	check_fail "keys holds the passphrase"
else
	pass "keys does not hold the passphrase"
fi

# The sqlite3 tool sees no database (on a copy, so nothing can touch D).
mkdir "$RK_TMP/copy"
cp "$D"/replica.db* "$RK_TMP/copy/"
run sqlite3 "$RK_TMP/copy/replica.db" 'select * from sqlite_master'
if [ "$RK_RC" -ne 0 ] && [[ "$RK_ERR" == *"file is not a database"* ]]; then
	pass "sqlite3 cannot read replica.db ($RK_ERR)"
else
	check_fail "sqlite3 on replica.db: exit $RK_RC, stdout '$RK_OUT'," \
	    "stderr '$RK_ERR' (want 'file is not a database')"
fi

# The right passphrase brings it all back.
rk_start "$D"
rk "$D" timeline r1
assert_ok "timeline after restart"
assert_contains "$RK_OUT" "post $M" "post is back after restart"
assert_contains "$RK_OUT" "note $M" "visit note is back after restart"
rk "$D" card r1
assert_contains "$RK_OUT" "$JA" "card allergies are back after restart"
rk_stop "$D"
