#!/usr/bin/env bash
# t_room_card.sh - the emergency card (救急情報カード / 救急連絡シート) for the
# patient's fridge, with what a crew needs, filled from the room: the
# patient's details, the card's fields, the current medications (the list,
# not typed twice), the main doctor with a phone, the DNAR/ACP summary from
# the current ACP revision (whose history is kept), last update and by
# whom, the printed date and the yearly review.
#
#   hub + nurse-1's device + dr-1's device, room tanaka (田中花子).
#   nurse-1: patient details (a birth date in the future refused), card
#   fields, two medications and one stopped (a stop before its start
#   refused), dr-1 named main doctor; dr-1 records ACP twice (both kept,
#   the latest current).  The printed sheet (card --print) holds every one
#   of those by text, the stopped medication not; a review date in the
#   future is refused, today's shows with next year's due date.  Headless
#   Chromium renders the sheet to PNG (and PDF; pdftoppm renders that too
#   where installed) -- skipped, saying so, where Chromium is missing.
#   The hub prints the same card.
. "$(dirname "$0")/synclib.sh"

HUB=$RK_TMP/hub
NS=$RK_TMP/ns		# nurse-1
DR=$RK_TMP/dr		# dr-1

TODAY=$(TZ=JST-9 date +%F)
TOMORROW=$(TZ=JST-9 date -d '+1 day' +%F)
NEXT_YEAR=$(TZ=JST-9 date -d '+1 year' +%F)
case "$TODAY" in *-02-29) NEXT_YEAR=$(( ${TODAY%%-*} + 1 ))-02-28 ;; esac

sk_hub "$HUB"
rk "$HUB" staff add dr-3 --agency clinic-a --name 鈴木三郎 --profession doctor
assert_ok "hub: another doctor of the clinic (not in the room)"
sk_device "$NS" nurse-1
sk_device "$DR" dr-1

# --- the patient --------------------------------------------------------------------

rk "$NS" patient tanaka --set birth_date="$TOMORROW"
assert_refused "a birth date in the future is refused" "birth_date" "future"
rk "$NS" patient tanaka --set birth_date=1938-04-02 --set name_kana=たなか\ はなこ \
    --set address="東京都武蔵野市緑町2-2-28 ひばり荘101" --set phone=0422-11-2233
assert_ok "nurse-1 records the patient's details"
assert_contains "$RK_OUT" "ひばり荘101" "the address is kept"

# --- card fields, medications, doctors -------------------------------------------------

rk "$NS" card tanaka --set diagnoses="慢性心不全、2型糖尿病" \
    --set allergies="ペニシリン（発疹）" --set family_contacts="長女 田中一子 090-1111-2222" \
    --set care_level=要介護3 --set hospital="武蔵野赤十字病院" \
    --set primary_doctor_phone="0422-33-4444（24時間）"
assert_ok "nurse-1 fills the card"
rk "$NS" med tanaka add --name フロセミド錠20mg --dose "1錠" --route 内服 \
    --frequency 朝食後 --start 2026-01-10 --prescriber 鈴木一郎
assert_ok "medication 1 added"
rk "$NS" med tanaka add --name メトホルミン錠250mg --dose "2錠" --route 内服 \
    --frequency 朝夕食後 --start 2025-06-01 --prescriber 鈴木一郎
assert_ok "medication 2 added"
rk "$NS" med tanaka add --name セファレキシン --start 2026-01-10 --stop 2026-01-05
assert_refused "a stop date before the start is refused" "stop_date"
rk "$NS" med tanaka add --name ロキソプロフェン錠60mg --dose 1錠 --start 2025-10-01
assert_ok "medication 3 added"
M3=$(printf '%s\n' "$RK_OUT" | tail -n 1)
rk "$NS" med tanaka stop "$M3" --date 2025-09-01
assert_refused "stopping before it started is refused" "stop_date"
rk "$NS" med tanaka stop "$M3" --date 2025-10-14
assert_ok "medication 3 stopped"
rk "$NS" med tanaka
assert_contains "$RK_OUT" "* " "current medications are marked"
rk "$NS" member doctors tanaka --primary dr-3
assert_refused "a doctor outside the room cannot be main doctor" "dr-3"
rk "$NS" member doctors tanaka --primary dr-1
assert_ok "dr-1 is the main doctor"
sk_converge "$NS" "$DR" || check_fail "in step: $SK_CONVERGE_LOG"

# --- ACP: every revision kept, the latest on the card ---------------------------------

rk "$DR" acp tanaka --record --wishes "できる限り自宅で過ごしたい。" \
    --present "本人、長女、鈴木医師、佐藤看護師" --date 2026-01-20
assert_ok "dr-1 records the first ACP conversation"
rk "$DR" acp tanaka --record --date "$TODAY" \
    --wishes "自宅で最期を迎えたい。苦痛は取ってほしい。" \
    --present "本人、長女、長男、鈴木医師" \
    --dnar "DNAR（心肺蘇生を希望しない）" \
    --summary "自宅での看取りを希望。心肺蘇生・挿管は希望しない。"
assert_ok "dr-1 records a second conversation"
rk "$DR" acp tanaka
assert_contains "$RK_OUT" "2 revision(s)" "both revisions are kept"
assert_contains "$RK_OUT" "できる限り自宅で過ごしたい" "the first one too"
assert_contains "$RK_OUT" "本人、長女、長男、鈴木医師" "with who was present"
rk "$DR" acp tanaka --record --wishes x
assert_refused "a revision without who was present is refused" "--present"
sk_converge "$DR" "$NS" || check_fail "in step: $SK_CONVERGE_LOG"

# --- the printable card -------------------------------------------------------------

rk "$NS" card tanaka --set reviewed_at="$TOMORROW"
assert_refused "a review date in the future is refused" "reviewed_at"
rk "$NS" card tanaka --set reviewed_at="$TODAY"
assert_ok "nurse-1 records today's yearly review"
rk "$NS" card tanaka --print --out "$RK_TMP/card.html"
assert_ok "card --print writes the sheet"
assert_eq "$RK_TMP/card.html" "$RK_OUT" "and names the file"
H=$(cat "$RK_TMP/card.html")
for want in "<th>氏名</th><td>田中花子</td>" \
    "<th>生年月日</th><td>1938-04-02</td>" \
    "<th>住所</th><td>東京都武蔵野市緑町2-2-28 ひばり荘101</td>" \
    "<th>電話</th><td>0422-11-2233</td>" \
    "<th>診断名</th><td>慢性心不全、2型糖尿病</td>" \
    "<th>アレルギー</th><td>ペニシリン（発疹）</td>" \
    "フロセミド錠20mg 1錠 内服 朝食後 (2026-01-10〜)" \
    "メトホルミン錠250mg 2錠 内服 朝夕食後" \
    "<th>主治医</th><td>鈴木一郎（鈴木医院）　TEL 0422-33-4444（24時間）</td>" \
    "<th>家族連絡先</th><td>長女 田中一子 090-1111-2222</td>" \
    "<th>要介護度</th><td>要介護3</td>" \
    "DNAR（心肺蘇生を希望しない）" \
    "自宅での看取りを希望。心肺蘇生・挿管は希望しない。" \
    "<th>希望搬送先</th><td>武蔵野赤十字病院</td>" \
    "印刷日 $TODAY" "見直し $TODAY（次回 $NEXT_YEAR）" "佐藤花"; do
	assert_contains "$H" "$want" "the sheet holds: $want"
done
assert_not_contains "$H" "ロキソプロフェン" "a stopped medication is not on it"
assert_not_contains "$H" "できる限り自宅で過ごしたい" \
    "an earlier ACP revision is not on it"
assert_not_contains "$H" "<script" "the sheet runs no script"
age=$(( $(TZ=JST-9 date +%Y) - 1938 ))
[ "$(TZ=JST-9 date +%m%d)" \< "0402" ] && age=$((age - 1))
assert_contains "$H" "<th>年齢</th><td>${age}歳</td>" "the age is printed ($age)"

rk "$DR" card tanaka --print --out "$RK_TMP/card-dr.html"
assert_ok "dr-1's device prints the card too"
assert_eq "$(grep -o '<table>.*</table>' "$RK_TMP/card.html")" \
    "$(grep -o '<table>.*</table>' "$RK_TMP/card-dr.html")" \
    "the same card on the doctor's device"
rk "$HUB" card tanaka --print --out "$RK_TMP/card-hub.html"
assert_ok "the hub operator prints it"
assert_contains "$(cat "$RK_TMP/card-hub.html")" "<th>氏名</th><td>田中花子</td>" \
    "the hub's sheet names the patient"

# --- rendered, as it will be printed ---------------------------------------------------

CHROMIUM=${RK_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
	echo "SKIP rendering: headless Chromium is not installed" \
	    "(scripts/deps.sh installs Debian's chromium)"
else
	cr() {
		timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
		    --disable-background-networking --disable-dev-shm-usage \
		    --no-first-run --user-data-dir="$RK_TMP/chromium" "$@" \
		    >"$RK_TMP/chromium.log" 2>&1
	}
	cr --screenshot="$RK_TMP/card.png" --window-size=1240,1754 \
	    "file://$RK_TMP/card.html"
	if [ -s "$RK_TMP/card.png" ] &&
	    [ "$(head -c 8 "$RK_TMP/card.png" | od -An -tx1 | tr -d ' \n')" = \
	    89504e470d0a1a0a ]; then
		pass "Chromium renders the card to PNG ($(wc -c <"$RK_TMP/card.png") bytes)"
	else
		check_fail "no PNG from Chromium: $(tail -n 5 "$RK_TMP/chromium.log")"
	fi
	cr --print-to-pdf="$RK_TMP/card.pdf" --no-pdf-header-footer \
	    "file://$RK_TMP/card.html"
	if [ "$(head -c 4 "$RK_TMP/card.pdf" 2>/dev/null)" = "%PDF" ]; then
		pass "and prints it to PDF"
		if command -v pdftoppm >/dev/null 2>&1; then
			pdftoppm -png -r 60 -f 1 -l 1 "$RK_TMP/card.pdf" \
			    "$RK_TMP/card-pdf"
			ls "$RK_TMP"/card-pdf*.png >/dev/null 2>&1 &&
			    pass "pdftoppm renders the PDF's page" ||
			    check_fail "pdftoppm made no PNG"
		else
			echo "SKIP pdftoppm: poppler-utils is not installed"
		fi
		pages=$(grep -ao '/Type */Pages\{0,1\}' "$RK_TMP/card.pdf" |
		    grep -vc Pages)
		assert_eq 1 "$pages" "the card is one page"
	else
		check_fail "no PDF from Chromium: $(tail -n 5 "$RK_TMP/chromium.log")"
	fi
	if [ -n "${RK_SCREENSHOTS:-}" ]; then
		mkdir -p "$RK_SCREENSHOTS" && cp "$RK_TMP/card.png" \
		    "$RK_SCREENSHOTS/emergency-card.png"
	fi
fi

# Every daemon stops cleanly (under ASan: no leak, no error).
for d in "$NS" "$DR" "$HUB"; do
	rk_stop "$d"
done
