#!/bin/sh
# make demo: a device with a sample patient room, served until Ctrl-C.
# Data lives in ./demo (made afresh each run); the passphrase is in
# ./demo/passphrase for the demo only -- a real device asks for it.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/$build"
demo="$top/demo"
dev="$demo/device"
renkei="$bin/client/renkei"
renkeid="$bin/daemon/renkeid"

if [ -d "$demo" ]; then
	if [ -S "$dev/renkeid.sock" ] && "$renkei" --dir "$dev" status >/dev/null 2>&1; then
		echo "demo: a demo daemon is still running for $dev; stop it first" >&2
		exit 1
	fi
	rm -rf "$demo"
fi
mkdir -p "$demo"
chmod 700 "$demo"
printf 'demo-passphrase-%s\n' "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" >"$demo/passphrase"
chmod 600 "$demo/passphrase"

"$renkei" init --dir "$dev" --role device --staff nurse-sato \
	--passphrase-file "$demo/passphrase" --kdf interactive >/dev/null
"$renkeid" --dir "$dev" --passphrase-file "$demo/passphrase" 2>"$demo/renkeid.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' INT TERM
i=0
until "$renkei" --dir "$dev" status >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $pid 2>/dev/null; then
		echo "demo: renkeid did not start:" >&2
		cat "$demo/renkeid.log" >&2
		exit 1
	fi
	sleep 0.1
done

r() { "$renkei" --dir "$dev" "$@"; }
r room create tanaka-hanako --patient-name "田中 花子" \
	--consent-date 2026-04-01 --member dr-suzuki --member cm-yamada >/dev/null
r card tanaka-hanako --set diagnoses="慢性心不全、2型糖尿病" \
	--set allergies="ペニシリン系抗菌薬（発疹）" \
	--set medications="フロセミド20mg 朝、メトホルミン500mg 朝夕" \
	--set primary_doctor="鈴木医院 鈴木一郎 0422-00-0000" \
	--set family_contacts="長女 田中美咲 090-0000-0000" \
	--set care_level="要介護2" \
	--set acp_summary="自宅での看取りを希望（2026-03 人生会議）" \
	--set hospital="武蔵野赤十字病院" >/dev/null
r visit tanaka-hanako --bp 132/78 --pulse 76 --temp 36.7 --spo2 96 \
	--note "下肢浮腫軽度。体重増加なし。服薬確認済み。" >/dev/null
r post tanaka-hanako "本日訪問しました。夜間の息苦しさはないとのことです。" >/dev/null

cat <<MSG

renkei demo: a device for visiting nurse 'nurse-sato' with the patient
room 'tanaka-hanako' (田中 花子).  The replica in $dev is encrypted.

Try, in another terminal:
  $renkei --dir $dev status
  $renkei --dir $dev timeline tanaka-hanako
  $renkei --dir $dev visit tanaka-hanako --bp 128/76 --pulse 72 --temp 36.8
  $renkei --dir $dev post tanaka-hanako "明日の訪問は14時です"
  $renkei --dir $dev card tanaka-hanako
  $renkei --dir $dev card tanaka-hanako --print --out /tmp/card.html

Timeline now:
MSG
r timeline tanaka-hanako
echo
echo "renkeid is serving (log: $demo/renkeid.log). Ctrl-C stops it."
wait $pid
