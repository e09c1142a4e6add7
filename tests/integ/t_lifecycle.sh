#!/usr/bin/env bash
# t_lifecycle.sh - a device's life: init, configuration check (-n), start,
# status, writes, the printable emergency card, a clean SIGTERM shutdown
# (exit 0, socket gone), restart with everything still there.
. "$(dirname "$0")/lib.sh"

D=$RK_TMP/dev
rk_init_device "$D" nurse-1

# The data dir and its secrets are private.
assert_eq 700 "$(stat -c %a "$D")" "the data dir is mode 0700"
assert_eq 600 "$(stat -c %a "$D/keys")" "keys is mode 0600"
device_id=$(sed -n 's/^[[:space:]]*device_id[[:space:]]*=[[:space:]]*\([^[:space:];]*\).*/\1/p' \
    "$D/renkei.conf" | head -n 1)
assert_ne "" "$device_id" "renkei.conf names a device_id"

run "$RENKEI" init --dir "$D" --role device \
    --passphrase-file "${RK_PASSFILE[$D]}" --staff nurse-1 --kdf interactive
assert_refused "init over an existing data dir"

# -n checks the configuration and exits, without a passphrase.
run timeout 30 "$RENKEID" -n --dir "$D"
assert_ok "renkeid -n --dir D exits 0"
assert_eq "absent" "$([ -e "$D/renkeid.sock" ] && echo present || echo absent)" \
    "renkeid -n serves nothing"
run timeout 30 "$RENKEID" -n --dir "$RK_TMP/nosuchdir"
if [ "$RK_RC" -ne 0 ] && [ "$RK_RC" -ne 124 ] && [ -n "$RK_ERR" ]; then
	pass "renkeid -n on a missing data dir fails (exit $RK_RC: $RK_ERR)"
else
	check_fail "renkeid -n on a missing data dir: exit $RK_RC: $RK_ERR"
fi

rk_start "$D"
assert_eq 600 "$(stat -c %a "$D/renkeid.sock")" "renkeid.sock is mode 0600"

rk "$D" status --json
assert_ok "status --json"
S=$RK_OUT
echo "status: $(printf '%s' "$S" | tr -d '\n' | tr -s ' ')"
assert_eq device "$(printf '%s' "$S" | json_str role)" "status role = device"
assert_eq "$device_id" "$(printf '%s' "$S" | json_str device_id)" \
    "status device_id = renkei.conf's"
assert_eq 0 "$(printf '%s' "$S" | json_num pending)" "status pending = 0"
sv=$(printf '%s' "$S" | json_num schema_version)
if [[ "$sv" =~ ^[0-9]+$ ]] && [ "$sv" -ge 1 ]; then
	pass "status schema_version = $sv"
else
	check_fail "status schema_version: '$sv'"
fi
assert_eq nurse-1 "$(printf '%s' "$S" | json_str staff)" "status staff = nurse-1"

rk "$D" status
assert_ok "status (for a person)"
assert_contains "$RK_OUT" "$device_id" "status names the device id"

# Writes, then the printable card.
rk "$D" room create r1 --patient-name "高橋和子" --consent-date 2024-04-01 \
    --member doctor-1 --member pharm-1
assert_ok "room create r1"
rk "$D" post r1 "訪問予定を変更しました"
assert_ok "post"
rk "$D" visit r1 --bp 132/80 --pulse 68 --temp 36.4 --spo2 98 --note "変化なし"
assert_ok "visit"
rk "$D" card r1 --set "allergies=ペニシリン" --set "care_level=要介護3" \
    --set "hospital=市立病院"
assert_ok "card --set"
assert_eq 4 "$(rk_pending "$D")" "pending = 4 (room, post, visit, card)"

rk "$D" card r1 --json
assert_ok "card --json"
assert_contains "$RK_OUT" "ペニシリン" "card --json holds allergies as UTF-8"
assert_contains "$RK_OUT" "高橋和子" "card --json holds the patient name"

rk "$D" card r1 --print --no-pdf --out "$RK_TMP/card.html"
assert_ok "card --print --out FILE"
if [ -s "$RK_TMP/card.html" ]; then
	html=$(cat "$RK_TMP/card.html")
	pass "card --print wrote $(wc -c <"$RK_TMP/card.html") bytes"
else
	html=""
	check_fail "card --print wrote no file"
fi
assert_contains "$html" "高橋和子" "the sheet names the patient"
assert_contains "$html" "救急情報" "the sheet is titled 救急情報"
assert_contains "$html" "ペニシリン" "the sheet lists the allergies"
assert_contains "$html" "<html" "the sheet is HTML"

# The longest valid room id (64 characters) works like any other.
R64=$(printf 'r%.0s' $(seq 1 64))
rk "$D" room create "$R64" --patient-name "長い部屋" --consent-date 2024-04-01 \
    --member doctor-1
assert_ok "room create with a 64-character id"
rk "$D" post "$R64" "64"
assert_ok "post to the room with a 64-character id"
rk "$D" timeline "$R64"
assert_ok "timeline of the room with a 64-character id"
rk "$D" room create "r$R64" --patient-name "長すぎ" --consent-date 2024-04-01 \
    --member doctor-1
assert_refused "room create with a 65-character id" "r$R64"
rk "$D" status --json
assert_eq 2 "$(printf '%s' "$RK_OUT" | json_num rooms)" "status rooms = 2"
PENDING=$(rk_pending "$D")

# A clean stop: exit 0, socket removed.
rk_stop "$D"
assert_eq "absent" "$([ -e "$D/renkeid.sock" ] && echo present || echo absent)" \
    "renkeid.sock removed on shutdown"
if grep -qiE 'leak|sanitizer|runtime error' "$D.log"; then
	check_fail "the log shows sanitizer reports"
else
	pass "no sanitizer reports in the log"
fi
rk "$D" status
assert_refused "status after shutdown" "renkeid --dir"

# Restart: everything is still there.
rk_start "$D"
rk "$D" timeline r1
assert_ok "timeline after restart"
assert_contains "$RK_OUT" "訪問予定を変更しました" "the post survived the restart"
assert_contains "$RK_OUT" "変化なし" "the visit survived the restart"
assert_eq "$PENDING" "$(rk_pending "$D")" "pending unchanged by the restart"

# SIGINT stops it cleanly too.
kill -INT "${RK_PID[$D]}"
rk_wait_pid "${RK_PID[$D]}" 10
unset "RK_PID[$D]"
assert_eq 0 "$RK_EXIT" "renkeid exits 0 on SIGINT"
assert_eq "absent" "$([ -e "$D/renkeid.sock" ] && echo present || echo absent)" \
    "renkeid.sock removed after SIGINT"

# The replica's files are the owner's alone.
mode=$(stat -c %a "$D/replica.db")
assert_eq 600 "$mode" "replica.db is mode 600"

# A replica that vanished is not silently remade: its outbox numbering would
# restart and the hub would drop the new writes as already seen.
rm -f "$D/replica.db" "$D/replica.db-wal"
run "$RENKEID" --dir "$D" --passphrase-file "${RK_PASSFILE[$D]}"
assert_refused "renkeid with its replica.db deleted" "missing" "backup"
assert_eq "absent" "$([ -e "$D/replica.db" ] && echo present || echo absent)" \
    "no new replica.db was made"
