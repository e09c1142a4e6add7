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
#   future is refused, today's shows with next year's due date.
#   card --print also writes the PDF beside the HTML (renkei runs headless
#   Chromium): both mode 0600, no temporary file left; the PDF is one page
#   (pdfinfo), holds the patient's data (pdftotext), and pdftoppm renders
#   it to a PNG of A4 proportions that is not blank.  Where Chromium is
#   missing, card --print says so, writes the HTML and exits 0, and the
#   rendering is skipped, saying so.  dr-1's device prints the same card
#   to the default file names; the hub prints it too.
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
# --date is stop's, --stop is add's: each refused with the other.
rk "$NS" med tanaka add --name アムロジピン --date 2025-10-01
assert_refused "med add --date is refused, not taken as the stop date" \
    "--date" "--stop"
rk "$NS" med tanaka stop "$M3" --stop 2025-10-14
assert_refused "med stop --stop is refused: stop takes --date" "--date"
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
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
mkdir -p "$RK_TMP/tmp"
TMPDIR=$RK_TMP/tmp rk "$NS" card tanaka --print --out "$RK_TMP/card.html"
assert_ok "card --print writes the sheet"
assert_eq "$RK_TMP/card.html" "$(printf '%s\n' "$RK_OUT" | head -n 1)" \
    "and names the HTML file"
assert_eq 600 "$(stat -c %a "$RK_TMP/card.html")" \
    "the HTML file is readable by its owner only"
if [ -n "$CHROMIUM" ]; then
	assert_eq "$RK_TMP/card.pdf" "$(printf '%s\n' "$RK_OUT" | sed -n 2p)" \
	    "and the PDF beside it ($CHROMIUM)"
	assert_eq 600 "$(stat -c %a "$RK_TMP/card.pdf" 2>/dev/null)" \
	    "the PDF is readable by its owner only"
else
	assert_contains "$RK_ERR" "no PDF converter" \
	    "without Chromium: a note that no PDF was made"
	[ ! -e "$RK_TMP/card.pdf" ] && pass "and no PDF" ||
	    check_fail "a PDF without a converter"
fi
assert_eq "" "$(ls -A "$RK_TMP/tmp")" "no temporary file is left behind"
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

mkdir -p "$RK_TMP/dr-print"
pushd "$RK_TMP/dr-print" >/dev/null || fail "cd $RK_TMP/dr-print"
rk "$DR" card tanaka --print --no-pdf
popd >/dev/null || fail "cd back"
assert_ok "dr-1's device prints the card too (HTML only)"
assert_eq "tanaka-card.html" "$RK_OUT" "to ROOM-card.html by default"
assert_eq "tanaka-card.html" "$(ls "$RK_TMP/dr-print")" "and nothing else"
assert_eq "$(grep -o '<table>.*</table>' "$RK_TMP/card.html")" \
    "$(grep -o '<table>.*</table>' "$RK_TMP/dr-print/tanaka-card.html")" \
    "the same card on the doctor's device"
rk "$HUB" card tanaka --print --no-pdf --out "$RK_TMP/card-hub.html"
assert_ok "the hub operator prints it"
assert_contains "$(cat "$RK_TMP/card-hub.html")" "<th>氏名</th><td>田中花子</td>" \
    "the hub's sheet names the patient"

# --- the PDF, rendered as it will be printed -------------------------------------------

if [ -z "$CHROMIUM" ]; then
	echo "SKIP the PDF: headless Chromium is not installed" \
	    "(scripts/deps.sh installs Debian's chromium)"
else
	[ "$(head -c 5 "$RK_TMP/card.pdf")" = "%PDF-" ] &&
	    pass "card.pdf is a PDF ($(wc -c <"$RK_TMP/card.pdf") bytes)" ||
	    check_fail "card.pdf is not a PDF"
	if command -v pdfinfo >/dev/null 2>&1; then
		pages=$(pdfinfo "$RK_TMP/card.pdf" 2>/dev/null |
		    sed -n 's/^Pages: *//p')
		assert_eq 1 "$pages" "the card is exactly one page (pdfinfo)"
		size=$(pdfinfo "$RK_TMP/card.pdf" 2>/dev/null |
		    sed -n 's/^Page size: *\([0-9.]*\) x \([0-9.]*\).*/\1 \2/p')
		# A4 is 595 x 842 points; Chromium rounds to its own units.
		if awk -v s="$size" 'BEGIN { split(s, a, " "); exit !(a[1] > 590 &&
		    a[1] < 600 && a[2] > 836 && a[2] < 848) }'; then
			pass "an A4 page, portrait ($size pt)"
		else
			check_fail "page size '$size' pt, want A4 portrait"
		fi
	else
		echo "SKIP pdfinfo: poppler-utils is not installed"
	fi
	if command -v pdftotext >/dev/null 2>&1; then
		T=$(pdftotext -layout "$RK_TMP/card.pdf" - 2>/dev/null)
		for want in 田中花子 1938-04-02 "ペニシリン（発疹）" フロセミド錠20mg \
		    メトホルミン錠250mg 鈴木一郎 0422-33-4444 "DNAR" \
		    "自宅での看取りを希望" "090-1111-2222" "印刷日 $TODAY"; do
			assert_contains "$T" "$want" "the PDF reads: $want"
		done
		assert_not_contains "$T" "ロキソプロフェン" \
		    "the stopped medication is not in the PDF"
	fi
	if command -v pdftoppm >/dev/null 2>&1; then
		pdftoppm -png -r 50 -singlefile "$RK_TMP/card.pdf" "$RK_TMP/card"
		png=$RK_TMP/card.png
		if [ -s "$png" ] && [ "$(head -c 8 "$png" | od -An -tx1 |
		    tr -d ' \n')" = 89504e470d0a1a0a ]; then
			# IHDR: width and height, big-endian, at bytes 16 and 20.
			w=$((16#$(od -An -tx1 -j16 -N4 "$png" | tr -d ' \n')))
			h=$((16#$(od -An -tx1 -j20 -N4 "$png" | tr -d ' \n')))
			if [ "$w" -ge 380 ] && [ "$w" -le 450 ] &&
			    [ "$h" -ge 530 ] && [ "$h" -le 600 ]; then
				pass "pdftoppm renders it to a ${w}x${h} PNG (A4 portrait at 50 dpi)"
			else
				check_fail "PNG of ${w}x${h}, want about 413x585"
			fi
			[ "$(wc -c <"$png")" -gt 8000 ] &&
			    pass "the PNG is not trivially small ($(wc -c <"$png") bytes)" ||
			    check_fail "PNG of $(wc -c <"$png") bytes: blank?"
		else
			check_fail "pdftoppm made no PNG"
		fi
		# Dark pixels of a grey rendering: text, not a blank page.
		pdftoppm -gray -r 50 -singlefile "$RK_TMP/card.pdf" "$RK_TMP/card-g"
		pgm=$RK_TMP/card-g.pgm
		read -r gw gh < <(sed -n 2p "$pgm")
		dark=$(tail -c $((gw * gh)) "$pgm" | od -An -v -tu1 |
		    awk '{ for (i = 1; i <= NF; i++) if ($i < 128) n++ }
		    END { print n + 0 }')
		[ "$dark" -gt $((gw * gh / 200)) ] &&
		    pass "the page has text on it ($dark of $((gw * gh)) pixels dark)" ||
		    check_fail "the page is blank: $dark of $((gw * gh)) pixels dark"
		if [ -n "${RK_SCREENSHOTS:-}" ]; then
			mkdir -p "$RK_SCREENSHOTS" && cp "$png" \
			    "$RK_SCREENSHOTS/emergency-card.png"
		fi
	else
		echo "SKIP pdftoppm: poppler-utils is not installed"
	fi
fi

# Every daemon stops cleanly (under ASan: no leak, no error).
for d in "$NS" "$DR" "$HUB"; do
	rk_stop "$d"
done
