#!/usr/bin/env bash
# t_room_print.sh - how `card --print` (and `sheet --print`, the same code:
# client/print.c) runs the PDF converter, and what it says when there is
# none or it fails.  Stand-in converters (shell scripts that record their
# arguments) play Chromium, so this runs in a second where Chromium is
# missing too.
#
#   hub alone, room tanaka (sk_hub); the hub's operator prints the card.
#   The converter gets its arguments unsplit (no shell), headless, no
#   network, a fresh profile and HOME in a private temporary directory
#   that is gone afterwards; its PDF is copied out with mode 0600, named
#   by --pdf or beside the HTML.  No converter on PATH: the HTML is
#   written, a note in Japanese and English, exit 0.  A converter that
#   exits 3, is killed, hangs past RENKEI_PDF_TIMEOUT (its helpers stopped
#   with it), writes no PDF, or that RENKEI_PDF_CONVERTER names but does
#   not exist: exit 1, one line naming it and how it ended, the HTML
#   written, no PDF, no temporary file left.  SIGTERM to renkei while the
#   converter runs stops the converter and leaves nothing behind either.  Misused options are usage
#   errors (exit 2).
. "$(dirname "$0")/synclib.sh"

HUB=$RK_TMP/hub
BIN=$RK_TMP/bin
TMPD=$RK_TMP/tmp
mkdir -p "$BIN" "$TMPD" "$RK_TMP/empty-path" || fail "mkdir"

sk_hub "$HUB"

# fake NAME BODY: a stand-in converter in $BIN.  It records its arguments,
# one a line, in $RK_TMP/NAME.args.
fake() {
	{
		echo '#!/bin/sh'
		echo 'PATH=/usr/local/bin:/usr/bin:/bin'
		echo "for a in \"\$@\"; do printf '%s\\n' \"\$a\"; done >'$RK_TMP/$1.args'"
		echo "env >'$RK_TMP/$1.env'"
		printf '%s\n' "$2"
	} >"$BIN/$1"
	chmod 755 "$BIN/$1"
}
# The --print-to-pdf=FILE argument, as the stand-ins find it.
OUTARG='out=; for a in "$@"; do case "$a" in --print-to-pdf=*) out=${a#--print-to-pdf=} ;; esac; done'

# penv PATH ARGS...: renkei --dir HUB ARGS with PATH (where converters are
# looked up) and temporary files in $TMPD.
penv() {
	local p=$1
	shift
	run /usr/bin/env PATH="$p" TMPDIR="$TMPD" "$RENKEI" --dir "$HUB" "$@"
}
# pr ARGS...: the hub's operator prints the card, converters looked up in
# $BIN only.
pr() {
	penv "$BIN" card tanaka --print "$@"
}
no_tmp_left() {
	assert_eq "" "$(ls -A "$TMPD")" "$1: no temporary file is left"
}

# --- a converter that works --------------------------------------------------------

fake good "$OUTARG"'
printf "%%PDF-1.4 fake\n" >"$out"'
RENKEI_PDF_CONVERTER=$BIN/good pr --out "$RK_TMP/a.html"
assert_ok "card --print with a converter"
assert_eq "$RK_TMP/a.html"$'\n'"$RK_TMP/a.pdf" "$RK_OUT" \
    "prints the HTML's path and the PDF's beside it"
assert_eq "%PDF-1.4 fake" "$(cat "$RK_TMP/a.pdf")" "the converter's PDF is copied out"
assert_eq "600 600" "$(stat -c %a "$RK_TMP/a.html") $(stat -c %a "$RK_TMP/a.pdf")" \
    "both files are readable by their owner only"
A=$(cat "$RK_TMP/good.args")
for want in --headless --disable-gpu --disable-background-networking \
    "--host-resolver-rules=MAP * ~NOTFOUND" --no-pdf-header-footer; do
	assert_contains $'\n'"$A"$'\n' $'\n'"$want"$'\n' "the converter gets $want"
done
[ "$(id -u)" = 0 ] && assert_contains "$A" "--no-sandbox" "as root: --no-sandbox"
udd=$(printf '%s\n' "$A" | sed -n 's/^--user-data-dir=//p')
url=$(printf '%s\n' "$A" | tail -n 1)
case "$udd" in
"$TMPD"/renkei-print.*/profile) pass "a fresh profile in a private temporary dir" ;;
*) check_fail "--user-data-dir=$udd" ;;
esac
assert_eq "file://${udd%/profile}/sheet.html" "$url" "it reads a private copy of the sheet"
assert_contains "$(cat "$RK_TMP/good.env")" "HOME=${udd%/profile}" \
    "its HOME is the temporary dir too"
[ ! -e "${udd%/profile}" ] && pass "the temporary dir is removed" ||
    check_fail "${udd%/profile} left behind"
no_tmp_left "a converter that works"

RENKEI_PDF_CONVERTER=good pr --out "$RK_TMP/b" --pdf "$RK_TMP/pdfs/b.pdf"
assert_refused "a --pdf in a missing directory fails" "b.pdf"
mkdir -p "$RK_TMP/pdfs"
RENKEI_PDF_CONVERTER=good pr --out "$RK_TMP/b" --pdf "$RK_TMP/pdfs/b.pdf"
assert_ok "RENKEI_PDF_CONVERTER may name a program on PATH; --pdf names the PDF"
assert_eq "$RK_TMP/b"$'\n'"$RK_TMP/pdfs/b.pdf" "$RK_OUT" "both paths printed"
[ -f "$RK_TMP/pdfs/b.pdf" ] && [ ! -e "$RK_TMP/b.pdf" ] &&
    pass "the PDF is where --pdf says" || check_fail "no $RK_TMP/pdfs/b.pdf"
RENKEI_PDF_CONVERTER=good penv "$BIN" --json card tanaka --print \
    --out "$RK_TMP/c.html"
assert_contains "$RK_OUT" "\"pdf\": \"$RK_TMP/c.pdf\"" "--json names the PDF"
RENKEI_PDF_CONVERTER=good penv "$BIN" card tanaka --print --out - \
    --pdf "$RK_TMP/d.pdf"
assert_ok "--out - with --pdf FILE"
assert_contains "$RK_OUT" "<th>氏名</th><td>田中花子</td>" "the sheet on standard output"
[ -f "$RK_TMP/d.pdf" ] && pass "and the PDF in its file" || check_fail "no d.pdf"
rm -f "$RK_TMP/good.args"
RENKEI_PDF_CONVERTER=good pr --out "$RK_TMP/e.html" --no-pdf
assert_eq "$RK_TMP/e.html" "$RK_OUT" "--no-pdf: the HTML only"
[ ! -e "$RK_TMP/e.pdf" ] && [ ! -e "$RK_TMP/good.args" ] &&
    pass "and the converter does not run" || check_fail "--no-pdf ran it"
no_tmp_left "--no-pdf"

# --- no converter installed ----------------------------------------------------------

penv "$RK_TMP/empty-path" card tanaka --print --out "$RK_TMP/f.html"
assert_ok "no converter on PATH: card --print still succeeds"
assert_eq "$RK_TMP/f.html" "$RK_OUT" "it names the HTML file only"
assert_contains "$RK_ERR" "PDF 変換ツール" "the note says so in Japanese"
assert_contains "$RK_ERR" "no PDF converter" "and in English"
[ -s "$RK_TMP/f.html" ] && [ ! -e "$RK_TMP/f.pdf" ] &&
    pass "the HTML is written, no PDF" || check_fail "f.html / f.pdf"
penv "$RK_TMP/empty-path" --json card tanaka --print --out "$RK_TMP/f.html"
assert_contains "$RK_OUT" '"pdf": null' "--json: pdf null"
assert_contains "$RK_OUT" '"pdf_skipped": "no PDF converter installed"' \
    "--json: and why"

# --- converters that fail -------------------------------------------------------------

# failing NAME WHAT NEEDLE...: the last pr failed as it should.
failing() {
	local name=$1 what=$2 html
	shift 2
	html=$RK_TMP/$name.html
	assert_refused "$what" "$@"
	[ -s "$html" ] && pass "$what: the HTML is written" ||
	    check_fail "$what: no $html"
	[ ! -e "${html%.html}.pdf" ] && pass "$what: no PDF" ||
	    check_fail "$what: a PDF"
	no_tmp_left "$what"
}

fake exit3 'echo "chromium: something broke" >&2; exit 3'
RENKEI_PDF_CONVERTER=$BIN/exit3 pr --out "$RK_TMP/exit3.html"
failing exit3 "a converter exiting 3" "$BIN/exit3" "status 3" \
    "cannot make the PDF" "PDF を作成できませんでした"
[ "$RK_RC" = 1 ] && pass "exit status 1" || check_fail "exit $RK_RC"

fake killed 'kill -9 $$'
RENKEI_PDF_CONVERTER=$BIN/killed pr --out "$RK_TMP/killed.html"
failing killed "a converter killed by a signal" "$BIN/killed" "signal 9"

fake nopdf 'exit 0'
RENKEI_PDF_CONVERTER=$BIN/nopdf pr --out "$RK_TMP/nopdf.html"
failing nopdf "a converter that writes no PDF" "$BIN/nopdf" "wrote no PDF"

fake notpdf "$OUTARG"'
echo "<html>not a pdf</html>" >"$out"'
RENKEI_PDF_CONVERTER=$BIN/notpdf pr --out "$RK_TMP/notpdf.html"
failing notpdf "a converter that writes something else" "wrote no PDF"

# It hangs, and so does a helper it started: both are stopped.
fake hang "sleep 300 & echo \$! >'$RK_TMP/hang.helper'; echo \$\$ >'$RK_TMP/hang.pid'; wait"
t0=$(date +%s)
RENKEI_PDF_TIMEOUT=1 RENKEI_PDF_CONVERTER=$BIN/hang pr --out "$RK_TMP/hang.html"
t1=$(date +%s)
failing hang "a converter past RENKEI_PDF_TIMEOUT" "$BIN/hang" "within 1 s"
[ $((t1 - t0)) -lt 10 ] && pass "stopped after $((t1 - t0)) s" ||
    check_fail "took $((t1 - t0)) s"
sleep 0.2
for f in hang.pid hang.helper; do
	p=$(cat "$RK_TMP/$f" 2>/dev/null)
	if [ -n "$p" ] && rk_pid_gone "$p"; then
		pass "the converter's ${f#hang.} process is gone"
	else
		check_fail "${f#hang.} process '$p' still runs"
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	fi
done

# Interrupted while the converter runs: it is stopped, nothing is left.
rm -f "$RK_TMP/hang.pid" "$RK_TMP/hang.helper"
RENKEI_PDF_CONVERTER=$BIN/hang /usr/bin/env PATH="$BIN" TMPDIR="$TMPD" \
    "$RENKEI" --dir "$HUB" card tanaka --print --out "$RK_TMP/int.html" \
    >/dev/null 2>"$RK_TMP/int.err" &
pid=$!
sk_wait 10 test -s "$RK_TMP/hang.helper" || check_fail "the converter did not start"
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -ne 0 ] && pass "SIGTERM while converting: renkei fails (exit $rc)" ||
    check_fail "SIGTERM while converting: exit 0"
assert_contains "$(cat "$RK_TMP/int.err")" "interrupted by signal 15" \
    "it says it was interrupted"
no_tmp_left "interrupted"
sleep 0.2
for f in hang.pid hang.helper; do
	p=$(cat "$RK_TMP/$f" 2>/dev/null)
	if [ -n "$p" ] && rk_pid_gone "$p"; then
		pass "interrupted: the converter's ${f#hang.} process is gone"
	else
		check_fail "interrupted: ${f#hang.} process '$p' still runs"
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	fi
done

RENKEI_PDF_CONVERTER=$RK_TMP/no-such-converter pr --out "$RK_TMP/missing.html"
failing missing "RENKEI_PDF_CONVERTER naming nothing" "no-such-converter" \
    "RENKEI_PDF_CONVERTER"
RENKEI_PDF_TIMEOUT=soon RENKEI_PDF_CONVERTER=$BIN/good pr --out "$RK_TMP/bad-timeout.html"
assert_refused "a RENKEI_PDF_TIMEOUT that is not seconds" "RENKEI_PDF_TIMEOUT"

# --- usage -----------------------------------------------------------------------------

rk "$HUB" card tanaka --pdf "$RK_TMP/x.pdf"
assert_refused "--pdf without --print" "--pdf goes with --print"
[ "$RK_RC" = 2 ] && pass "a usage error (exit 2)" || check_fail "exit $RK_RC"
rk "$HUB" card tanaka --print --pdf "$RK_TMP/x.pdf" --no-pdf
assert_refused "--pdf with --no-pdf" "--no-pdf"
rk "$HUB" card tanaka --print --pdf -
assert_refused "a PDF on standard output" "--pdf"
rk "$HUB" card tanaka --print --out "$RK_TMP/same" --pdf "$RK_TMP/same"
assert_refused "--out and --pdf naming one file" "same file"
rk "$HUB" sheet tanaka admission --no-pdf
assert_refused "sheet: --no-pdf without --print" "--no-pdf goes with --print"

rk_stop "$HUB"
