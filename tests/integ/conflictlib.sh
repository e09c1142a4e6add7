# conflictlib.sh - helpers for the conflict integration tests
# (t_conflict_*.sh, t_converge.sh), on top of synclib.sh (sourced first).
#
#   cf_lines DIR [--all]   one line per conflict record 'renkei conflicts
#                          --json' lists, sorted:
#                          ID|ROOM|KIND|TABLE|COLUMN|STATUS|WINNER|LOSER|
#                          WINNER_STAFF|LOSER_STAFF|RESOLUTION
#                          (values as JSON text: "text", 12, null; no jq
#                          on the CI image, so this reads the indented
#                          JSON line by line)
#   cf_card DIR ROOM FIELD the card field's text (empty for null)
#   cf_open DIR            the open count from 'renkei status --json'
. "$(dirname "${BASH_SOURCE[0]}")/synclib.sh"

cf_lines() {
	local d=$1
	shift
	"$RENKEI" --dir "$d" conflicts --json "$@" 2>/dev/null | awk '
	function val(line,   v) {
		v = line
		sub(/^[ ]*"[a-z_]+": /, "", v)
		sub(/,$/, "", v)
		return v
	}
	/^    \{$/ { id = room = kind = table = column = status = ""
		wv = lv = ws = ls = res = ""; side = ""; next }
	/^      "winner": \{/ { side = "w"; next }
	/^      "loser": \{/ { side = "l"; next }
	/^      \}/ { side = ""; next }
	/^      "id": / { id = val($0); next }
	/^      "room_id": / { room = val($0); next }
	/^      "kind": / { kind = val($0); next }
	/^      "table": / { table = val($0); next }
	/^      "column": / { column = val($0); next }
	/^      "status": / { status = val($0); next }
	/^      "resolution": / { res = val($0); next }
	/^        "value": / { if (side == "w") wv = val($0);
		else if (side == "l") lv = val($0); next }
	/^        "staff": / { if (side == "w") ws = val($0);
		else if (side == "l") ls = val($0); next }
	/^    \}/ { gsub(/"/, "", id); gsub(/"/, "", room)
		gsub(/"/, "", kind); gsub(/"/, "", table)
		gsub(/"/, "", column); gsub(/"/, "", status)
		gsub(/"/, "", ws); gsub(/"/, "", ls); gsub(/"/, "", res)
		print id "|" room "|" kind "|" table "|" column "|" status "|" \
		    wv "|" lv "|" ws "|" ls "|" res }
	' | sort
}

cf_card() {
	"$RENKEI" --dir "$1" card "$2" --json 2>/dev/null | json_str "$3"
}

cf_open() {
	sk_status_num "$1" conflicts
}
