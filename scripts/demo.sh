#!/bin/sh
# demo.sh - make demo with the field web UI: a hub and two devices on
# loopback, sample staff and patient rooms, each device's web UI address
# and how to sign in printed; served until Ctrl-C.
#
#   hub      127.0.0.1:$RK_DEMO_HUB_PORT (8443): agencies, staff, rooms
#   nurse    visiting nurse 佐藤 (nurse-sato), a tablet: web UI on
#            http://127.0.0.1:$RK_DEMO_NURSE_PORT/ (8081)
#   doctor   home doctor 鈴木 (dr-suzuki), the clinic PC: web UI on
#            http://127.0.0.1:$RK_DEMO_DOCTOR_PORT/ (8082)
#
# Data lives in ./demo (made afresh each run; RK_DEMO_DIR moves it);
# each data dir's passphrase is in demo/NAME.passphrase for the demo
# only -- a real device asks.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
case $build in
/*) bin=$build ;;
*) bin="$top/$build" ;;
esac
demo=${RK_DEMO_DIR:-$top/demo}
renkei="$bin/client/renkei"
renkeid="$bin/daemon/renkeid"
hub_port=${RK_DEMO_HUB_PORT:-8443}
nurse_port=${RK_DEMO_NURSE_PORT:-8081}
doctor_port=${RK_DEMO_DOCTOR_PORT:-8082}
pids=""

for d in hub nurse doctor; do
	if [ -S "$demo/$d/renkeid.sock" ] &&
	    "$renkei" --dir "$demo/$d" status >/dev/null 2>&1; then
		echo "demo: a demo daemon is still running for $demo/$d; stop it first" >&2
		exit 1
	fi
done
rm -rf "$demo"
mkdir -p "$demo"
chmod 700 "$demo"

stop() {
	for p in $pids; do
		kill "$p" 2>/dev/null || true
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || true
	done
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

# start NAME [ARGS...]: renkeid for demo/NAME in the background, waits
# until it answers.
start() {
	name=$1
	shift
	"$renkeid" --dir "$demo/$name" --passphrase-file "$demo/$name.passphrase" \
	    "$@" 2>>"$demo/$name.log" &
	pids="$pids $!"
	i=0
	until "$renkei" --dir "$demo/$name" status >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "demo: renkeid for $name did not start:" >&2
			cat "$demo/$name.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

init() {
	name=$1
	shift
	printf 'demo-%s-%s\n' "$name" "$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')" \
	    >"$demo/$name.passphrase"
	chmod 600 "$demo/$name.passphrase"
	"$renkei" init --dir "$demo/$name" --passphrase-file "$demo/$name.passphrase" \
	    --kdf interactive "$@" >/dev/null
}

h() { "$renkei" --dir "$demo/hub" "$@" >/dev/null; }
n() { "$renkei" --dir "$demo/nurse" "$@" >/dev/null; }
dr() { "$renkei" --dir "$demo/doctor" "$@" >/dev/null; }

# enrol NAME STAFF
enrol() {
	code=$("$renkei" --dir "$demo/hub" enroll-code --staff "$2" | tail -n 1)
	"$renkei" --dir "$demo/$1" enroll "$code" --hub "http://127.0.0.1:$hub_port" >/dev/null
	"$renkei" --dir "$demo/$1" sync >/dev/null
}

init hub --role hub --listen "127.0.0.1:$hub_port"
start hub
h agency add suzuki-clinic --name 鈴木在宅クリニック --kind clinic
h agency add hikari-vn --name ひかり訪問看護ステーション --kind visiting-nurse
h agency add midori-cm --name みどり居宅介護支援事業所 --kind care-management
h agency add aozora-ph --name あおぞら薬局 --kind pharmacy
h staff add dr-suzuki --agency suzuki-clinic --name "鈴木 一郎" --profession doctor
h staff add nurse-sato --agency hikari-vn --name "佐藤 花" --profession nurse
h staff add cm-yamada --agency midori-cm --name "山田 美和" --profession care-manager
h staff add ph-ito --agency aozora-ph --name "伊藤 健" --profession pharmacist
h room create tanaka-hanako --patient-name "田中 花子" --consent-date 2026-04-01 \
    --member dr-suzuki --member nurse-sato --member cm-yamada --member ph-ito
h room create yamamoto-taro --patient-name "山本 太郎" --consent-date 2026-05-10 \
    --member dr-suzuki --member nurse-sato --member cm-yamada

init nurse --role device
start nurse --listen "127.0.0.1:$nurse_port"
enrol nurse nurse-sato
init doctor --role device
start doctor --listen "127.0.0.1:$doctor_port"
enrol doctor dr-suzuki

dr card tanaka-hanako --set diagnoses="慢性心不全、2型糖尿病" \
	--set allergies="ペニシリン系抗菌薬（発疹）" \
	--set medications="フロセミド20mg 朝
メトホルミン500mg 朝夕" \
	--set primary_doctor="鈴木在宅クリニック 鈴木一郎" \
	--set family_contacts="長女 田中美咲 090-0000-0000" \
	--set care_level="要介護2" \
	--set acp_summary="自宅での看取りを希望（2026-03 人生会議）" \
	--set hospital="武蔵野赤十字病院"
dr visit tanaka-hanako --bp 138/82 --pulse 78 --temp 36.9 --spo2 95 \
	--note "往診。下肢浮腫軽度、肺音清。フロセミド継続。"
dr post tanaka-hanako "体重が 2kg 以上増えたら連絡をお願いします。"
n visit tanaka-hanako --bp 132/78 --pulse 76 --temp 36.7 --spo2 96 --weight 52.4 \
	--note "下肢浮腫軽度。服薬確認済み。"
n post tanaka-hanako "本日訪問しました。夜間の息苦しさはないとのことです。"
dr card yamamoto-taro --set diagnoses="パーキンソン病" --set care_level="要介護3"
n post yamamoto-taro "明日の訪問は14時です。"
for d in nurse doctor nurse; do
	"$renkei" --dir "$demo/$d" sync >/dev/null 2>&1 || true
done

cat <<MSG

renkei demo with the field web UI: a hub and two devices on this machine.

  訪問看護師 佐藤 花 (nurse-sato), tablet:
      http://127.0.0.1:$nurse_port/
      パスフレーズ / passphrase: $(cat "$demo/nurse.passphrase")
  在宅医 鈴木 一郎 (dr-suzuki), clinic PC:
      http://127.0.0.1:$doctor_port/
      パスフレーズ / passphrase: $(cat "$demo/doctor.passphrase")

Open an address in a browser on this machine and sign in with its
passphrase (the one its renkeid was started with).  Patient rooms:
tanaka-hanako (田中 花子), yamamoto-taro (山本 太郎).

Try working offline: stop the hub (kill $(echo "$pids" | awk '{print $1}')), record a visit on the
tablet -- it shows 送信待ち (waiting to sync) -- then run this script's
hub again by hand:
  $renkeid --dir $demo/hub --passphrase-file $demo/hub.passphrase
and press 今すぐ同期 (sync now).

The CLI works alongside:  $renkei --dir $demo/nurse status
Logs: $demo/*.log.  Ctrl-C stops everything.
MSG
wait
