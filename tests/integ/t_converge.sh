#!/usr/bin/env bash
# t_converge.sh - randomized convergence with real processes: a hub and
# three devices (nurse-1, dr-1, cm-1) in two rooms (tanaka: nurse and
# doctor; kimura: all three), a seeded schedule of random steps, then
# everyone syncs and the result is checked against a model.
#
# Each step picks one of (weights in cv_step):
#   a write on a random device in a random room of its: a post, a visit,
#     an emergency-card edit (1-2 fields, unique values), a medication
#     added or stopped (a unique stop date), a request made, acknowledged,
#     done or declined (by the doctor it is asked of), or withdrawn (a
#     soft delete, by its requester); or the settling of an open review
#     conflict with a typed value (an ordinary write that syncs);
#   a sync of a random device; sometimes that device, or the hub, is
#     killed -9 at a random moment during it;
#   the hub stopped or started again;
#   a device killed -9 while idle and restarted.
# Every device runs with transport fault injection (daemon/fault.h:
# RENKEI_FAULT, seeded): requests are lost (before or after the hub acted
# on them), duplicated and delayed at random; and a per-device "gate" file
# keeps it offline except during the schedule's own sync steps, so that
# the order in which writes reach the hub is the schedule's.
#
# The model.  It knows what each device saw when it wrote (the test reads
# the device's own replica just before each write), and the order in
# which writes reached the hub: a sync that exits 0 applied all of the
# device's pending writes; after a failed or killed one the device is
# restarted and the hub is asked which of them it holds (values are
# unique).  It applies conflict/merge.h's rules per column: a review
# column whose old value (what the writer saw) differs from the hub's
# and whose new value differs too is a conflict -- the later write (the
# schedule's order, which is the HLC order on one machine) wins and a
# review record keeps both; an edit of a request that was withdrawn
# meanwhile is kept and flagged (deleted_edit).  To keep the model exact,
# a device has at most one unsent write per row (a further one waits for
# a sync), so envelope merging cannot change what the hub sees.
#
# At the end, everyone syncs (one device at a time, then all again), and:
#   - every room's hash is equal on the hub and on every member;
#   - nothing is pending anywhere;
#   - every acknowledged post and visit is present exactly once; every
#     request and medication exactly once, with the model's status, stop
#     date and withdrawal; the card holds the model's values;
#   - every acknowledged card value is on the card, in a conflict record,
#     or was seen by a later write that replaced it;
#   - the conflict records on the hub are exactly the model's (kind,
#     table, column, both values, open or resolved).
#
# SEED=N replays a run (printed first as "seed: N"); schedule k of a run
# uses seed N+k and prints it, and SEED=that RK_CONVERGE_SCHEDULES=1
# replays that schedule alone.  RK_CONVERGE_SCHEDULES (default 3: about a
# minute and a half) and RK_CONVERGE_STEPS (default 30) set the budget;
# RK_CONVERGE_FAULTS (default drop=0.08,dup=0.08,delay=0.15:150) the
# faults.  The timing of kills and faults is seeded too, but the OS may
# still schedule a replay slightly differently.
. "$(dirname "$0")/conflictlib.sh"

BASE=${SEED:-$(((RANDOM << 15) | RANDOM))}
echo "seed: $BASE"
NSCHED=${RK_CONVERGE_SCHEDULES:-3}
NSTEPS=${RK_CONVERGE_STEPS:-30}
FAULTS=${RK_CONVERGE_FAULTS:-drop=0.08,dup=0.08,delay=0.15:150}
FIELDS=(allergies medications family_contacts)

# cv_flat: the indented JSON of 'renkei ... --json' on stdin as lines
# path=value (path: keys and array indexes joined with '.'; value: JSON
# text).  No jq on the CI image.
cv_flat() {
	awk '
	function prefix(k,   p, i) {
		p = ""
		for (i = 2; i <= depth; i++)
			p = p path[i] "."
		return p k
	}
	{
		line = $0
		sub(/^[ \t]+/, "", line)
		sub(/,$/, "", line)
		if (match(line, /^"[^"]*": /)) {
			key = substr(line, 2, RLENGTH - 4)
			line = substr(line, RLENGTH + 1)
		} else if (depth > 0 && arr[depth]) {
			key = cnt[depth]++
		} else {
			key = ""
		}
		if (line == "{" || line == "[") {
			depth++
			path[depth] = key
			arr[depth] = (line == "[")
			cnt[depth] = 0
			next
		}
		if (line == "}" || line == "]") {
			depth--
			next
		}
		print prefix(key) "=" line
	}'
}

# cv_get FLAT PATH: the value at PATH (JSON text), or nothing.
cv_get() {
	printf '%s\n' "$1" | awk -v p="$2" '
	    index($0, p "=") == 1 { print substr($0, length(p) + 2); exit }'
}

# cv_unq VALUE: a JSON string's text (no escapes in this test's values).
cv_unq() {
	local v=$1
	v=${v#\"}
	v=${v%\"}
	printf '%s' "$v"
}

# --- one schedule -----------------------------------------------------------

# The model, per schedule.  Rows are "card:ROOM", "med:ROOM:NAME",
# "req:ROOM:TITLE"; values are JSON text.
#   HV[row|column]  the hub's value      HH[row]  time of the row's hlc
#   HW[row]         a request withdrawn  HS[record]  resolved
#   PEND[dev|row]   the device's unsent write of that row
#   W*[w]           write w: device, kind, room, row, time, fields,
#                   old and new values, the record it resolves, ...
#   EXPREC          the conflict records expected
#   WPEND, ACKED    writes not yet at the hub; every acknowledged write
declare -A GATE FAULT ROOMS STAFF PEND HV HH HW HS WDEV WKIND WROOM WROW WT
declare -A WOLD WNEW WFIELDS WREC WTITLE REQBY EXPREC STARTS DEVNO
declare -a WPEND
CV_FAILED_BEFORE=0

# cv_start_dev DEV: starts DEV's renkeid with its faults; each start
# draws them from a new seed (a restarted daemon must not meet the very
# same faults again).
cv_start_dev() {
	STARTS[$1]=$((${STARTS[$1]:-0} + 1))
	RENKEI_FAULT="seed=$((S * 1000 + ${DEVNO[$1]} * 100 + ${STARTS[$1]})),${FAULT[$1]}" \
	    sk_start "$1" || fail "renkeid $(basename "$1") did not start"
}

# cv_gate DEV open|close
cv_gate() {
	if [ "$2" = open ]; then
		: >"${GATE[$1]}"
	else
		rm -f "${GATE[$1]}"
	fi
}

cv_hub_up() {
	[ -n "${RK_PID[$HUB]:-}" ]
}

cv_ensure_hub() {
	cv_hub_up || sk_restart "$HUB"
}

# A write reached the hub: the model applies it (merge.h's rules).
cv_apply() {
	local w=$1 row=${WROW[$1]} f o v cur t later contrib=0 key room table
	t=${WT[$w]}
	room=${WROOM[$w]}
	table=$(cv_table "$row")
	case ${WKIND[$w]} in
	card | medstop | resolve)
		for f in ${WFIELDS[$w]}; do
			key="$row|$f"
			cur=${HV[$key]}
			o=${WOLD[$w|$f]}
			v=${WNEW[$w|$f]}
			if [ "$v" = "$cur" ]; then
				continue
			elif [ "$o" = "$cur" ]; then
				HV[$key]=$v
				contrib=1
			else
				later=0
				[ "$t" -gt "${HH[$row]}" ] && later=1
				if [ "$later" = 1 ]; then
					EXPREC[$((${#EXPREC[@]}))]="$room|review|$table|$f|$v|$cur|$w"
					HV[$key]=$v
					contrib=1
				else
					EXPREC[$((${#EXPREC[@]}))]="$room|review|$table|$f|$cur|$v|$w"
				fi
			fi
		done
		if [ "$contrib" = 1 ] && [ "$t" -gt "${HH[$row]}" ]; then
			HH[$row]=$t
		fi
		if [ "${WKIND[$w]}" = resolve ]; then
			HS[${WREC[$w]}]=resolved
		fi
		;;
	status)
		if [ "${HW[$row]}" = 1 ]; then
			EXPREC[$((${#EXPREC[@]}))]="$room|deleted_edit|requests|deleted_at|*|null|$w"
		fi
		HV[$row|status]=${WNEW[$w|status]}
		;;
	withdraw)
		HW[$row]=1
		;;
	esac
}

# The model's table name of a row key.
cv_table() {
	case $1 in
	card:*) echo emergency_cards ;;
	med:*) echo medications ;;
	req:*) echo requests ;;
	esac
}

# cv_mark_applied DEV: every pending write of DEV reached the hub (in
# order).
cv_mark_applied() {
	local d=$1 w rest=()
	for w in "${WPEND[@]}"; do
		if [ "${WDEV[$w]}" = "$d" ]; then
			cv_apply "$w"
			[ -n "${WROW[$w]}" ] && unset "PEND[$d|${WROW[$w]}]"
		else
			rest+=("$w")
		fi
	done
	WPEND=("${rest[@]}")
}

# cv_observe DEV: after a failed sync: which of DEV's pending writes does
# the hub hold?  Those are applied, in order; the others stay pending.
cv_observe() {
	local d=$1 w rest=() at= hubrec room f v hit flat
	declare -A HUBCARD HUBMED HUBREQ HUBTXT
	cv_ensure_hub
	hubrec=$(cf_lines "$HUB" --all)
	for room in tanaka kimura; do
		HUBCARD[$room]=$("$RENKEI" --dir "$HUB" card "$room" --json 2>/dev/null | cv_flat)
		HUBMED[$room]=$("$RENKEI" --dir "$HUB" med "$room" --json 2>/dev/null | cv_flat)
		HUBREQ[$room]=$("$RENKEI" --dir "$HUB" requests "$room" --all --json 2>/dev/null | cv_flat)
		HUBTXT[$room]=$(sk_texts "$HUB" "$room" '^cv')
	done
	for w in "${WPEND[@]}"; do
		if [ "${WDEV[$w]}" != "$d" ]; then
			rest+=("$w")
			continue
		fi
		room=${WROOM[$w]}
		hit=0
		case ${WKIND[$w]} in
		post | visit)
			grep -qxF -- "${WNEW[$w|text]}" <<<"${HUBTXT[$room]}" && hit=1 ;;
		card | resolve)
			for f in ${WFIELDS[$w]}; do
				v=${WNEW[$w|$f]}
				if [ "$(cv_get "${HUBCARD[$room]}" "$f")" = "$v" ] ||
				    grep -qF -- "|$v|" <<<"$hubrec"; then
					hit=1
				fi
			done ;;
		medadd)
			grep -qF -- "=\"${WNEW[$w|name]}\"" <<<"${HUBMED[$room]}" && hit=1 ;;
		medstop)
			v=${WNEW[$w|stop_date]}
			if grep -qF -- "=$v" <<<"${HUBMED[$room]}" ||
			    grep -qF -- "|$v|" <<<"$hubrec"; then
				hit=1
			fi ;;
		reqnew)
			grep -qF -- "=\"${WNEW[$w|title]}\"" <<<"${HUBREQ[$room]}" && hit=1 ;;
		status | withdraw)
			flat=$(cv_req_of "${HUBREQ[$room]}" "${WTITLE[$w]}")
			if [ "${WKIND[$w]}" = status ]; then
				[ "$(cv_get "$flat" status)" = "${WNEW[$w|status]}" ] && hit=1
			else
				[ "$(cv_get "$flat" withdrawn)" = true ] && hit=1
			fi ;;
		esac
		if [ "$hit" = 1 ]; then
			cv_apply "$w"
			[ -n "${WROW[$w]}" ] && unset "PEND[$d|${WROW[$w]}]"
			at+=" $w"
		else
			rest+=("$w")
		fi
	done
	WPEND=("${rest[@]}")
	[ -z "$at" ] || echo "#   the hub had:$at"
}

# cv_req_of FLAT TITLE: the fields of the request titled TITLE, as
# path=value lines relative to it (status=..., id=..., ...).
cv_req_of() {
	local i p
	i=$(printf '%s\n' "$1" | awk -v t="\"$2\"" -F= '
	    $2 == t && $1 ~ /\.title$/ { sub(/\.title$/, "", $1); print $1; exit }')
	[ -n "$i" ] || return 0
	printf '%s\n' "$1" | awk -v p="$i." '
	    index($0, p) == 1 { print substr($0, length(p) + 1) }'
}

# cv_med_of FLAT NAME: the same for the medication named NAME.
cv_med_of() {
	local i
	i=$(printf '%s\n' "$1" | awk -v t="\"$2\"" -F= '
	    $2 == t && $1 ~ /\.name$/ { sub(/\.name$/, "", $1); print $1; exit }')
	[ -n "$i" ] || return 0
	printf '%s\n' "$1" | awk -v p="$i." '
	    index($0, p) == 1 { print substr($0, length(p) + 1) }'
}

# cv_record W KIND ROOM ROW: a write acknowledged to the user, pending.
cv_record() {
	WKIND[$1]=$2
	WROOM[$1]=$3
	WROW[$1]=$4
	WDEV[$1]=$D
	WT[$1]=$T
	WPEND+=("$1")
	[ -n "$4" ] && PEND[$D|$4]=$1
	ACKED+=("$1")
}

# cv_pick LINES: PICK := one of the lines, chosen with RANDOM in this
# shell (in a command substitution it would not follow the seed).
cv_pick() {
	local n i
	n=$(printf '%s\n' "$1" | grep -c .)
	i=$((1 + RANDOM % n))
	PICK=$(printf '%s\n' "$1" | sed -n "${i}p")
}

# --- writes -----------------------------------------------------------------

cv_post() {
	local w="w$T" text="cv-$S-$T 訪問記録"
	if [ $((RANDOM % 3)) = 0 ]; then
		text="cv-$S-$T 血圧測定"
		rk "$D" visit "$R" --bp "$((110 + RANDOM % 40))/$((60 + RANDOM % 30))" --note "$text"
		[ "$RK_RC" = 0 ] || { check_fail "visit on $(basename "$D"): $RK_ERR"; return; }
		WNEW[$w|text]=$text
		cv_record "$w" visit "$R" ""
	else
		rk "$D" post "$R" "$text"
		[ "$RK_RC" = 0 ] || { check_fail "post on $(basename "$D"): $RK_ERR"; return; }
		WNEW[$w|text]=$text
		cv_record "$w" post "$R" ""
	fi
	echo "# $T $(basename "$D"): ${WKIND[$w]} in $R"
}

cv_card() {
	local w="w$T" row="card:$R" flat f n i args=() used=""
	[ -z "${PEND[$D|$row]:-}" ] || { cv_post; return; }
	flat=$("$RENKEI" --dir "$D" card "$R" --json 2>/dev/null | cv_flat)
	n=$((1 + RANDOM % 2))
	for i in $(seq 1 "$n"); do
		f=${FIELDS[$((RANDOM % ${#FIELDS[@]}))]}
		[[ " $used " == *" $f "* ]] && continue
		used+=" $f"
		WOLD[$w|$f]=$(cv_get "$flat" "$f")
		WNEW[$w|$f]="\"v$S-$T-$f\""
		args+=(--set "$f=v$S-$T-$f")
	done
	rk "$D" card "$R" "${args[@]}"
	[ "$RK_RC" = 0 ] || { check_fail "card on $(basename "$D"): $RK_ERR"; return; }
	WFIELDS[$w]=$used
	cv_record "$w" card "$R" "$row"
	echo "# $T $(basename "$D"): card $R:$used"
}

cv_medadd() {
	local w="w$T" name="med-$S-$T"
	rk "$D" med "$R" add --name "$name" --dose 10mg
	[ "$RK_RC" = 0 ] || { check_fail "med add on $(basename "$D"): $RK_ERR"; return; }
	WNEW[$w|name]=$name
	MEDS+=("$R|$name")
	HV[med:$R:$name|stop_date]=null
	HH[med:$R:$name]=$T
	cv_record "$w" medadd "$R" ""
	echo "# $T $(basename "$D"): med add $name in $R"
}

cv_medstop() {
	local w="w$T" flat names name row med id date
	flat=$("$RENKEI" --dir "$D" med "$R" --json 2>/dev/null | cv_flat)
	names=$(printf '%s\n' "$flat" | sed -n 's/^[^=]*\.name="\(med-[^"]*\)"$/\1/p' | sort)
	[ -n "$names" ] || { cv_post; return; }
	cv_pick "$names"
	name=$PICK
	row="med:$R:$name"
	[ -z "${PEND[$D|$row]:-}" ] || { cv_post; return; }
	med=$(cv_med_of "$flat" "$name")
	id=$(cv_unq "$(cv_get "$med" id)")
	date=$(date -u -d "2020-01-01 + $T days" +%Y-%m-%d)
	WOLD[$w|stop_date]=$(cv_get "$med" stop_date)
	WNEW[$w|stop_date]="\"$date\""
	rk "$D" med "$R" stop "$id" --date "$date"
	[ "$RK_RC" = 0 ] || { check_fail "med stop on $(basename "$D"): $RK_ERR"; return; }
	WFIELDS[$w]=" stop_date"
	cv_record "$w" medstop "$R" "$row"
	echo "# $T $(basename "$D"): med stop $name $date"
}

cv_reqnew() {
	local w="w$T" title="req-$S-$T"
	[ "${STAFF[$D]}" != dr-1 ] && [ "$R" = kimura ] || { cv_post; return; }
	rk "$D" request "$R" --to dr-1 --kind free --title "$title"
	[ "$RK_RC" = 0 ] || { check_fail "request on $(basename "$D"): $RK_ERR"; return; }
	WNEW[$w|title]=$title
	REQS+=("$R|$title")
	REQBY[$title]=$D
	HV[req:$R:$title|status]='"open"'
	HW[req:$R:$title]=0
	cv_record "$w" reqnew "$R" ""
	echo "# $T $(basename "$D"): request $title"
}

# The doctor answers a request, or its requester withdraws it.
cv_reqchange() {
	local w="w$T" flat titles title row req id st want verb t args=()
	[ "$R" = kimura ] || { cv_post; return; }
	flat=$("$RENKEI" --dir "$D" requests "$R" --all --json 2>/dev/null | cv_flat)
	titles=$(printf '%s\n' "$flat" | sed -n 's/^[^=]*\.title="\(req-[^"]*\)"$/\1/p' | sort)
	if [ "${STAFF[$D]}" != dr-1 ]; then
		titles=$(for t in $titles; do
			[ "${REQBY[$t]:-}" = "$D" ] && echo "$t"
		done)
	fi
	[ -n "$titles" ] || { cv_post; return; }
	cv_pick "$titles"
	title=$PICK
	row="req:$R:$title"
	[ -z "${PEND[$D|$row]:-}" ] || { cv_post; return; }
	req=$(cv_req_of "$flat" "$title")
	id=$(cv_unq "$(cv_get "$req" id)")
	st=$(cv_unq "$(cv_get "$req" status)")
	[ "$(cv_get "$req" withdrawn)" = false ] || { cv_post; return; }
	if [ "${STAFF[$D]}" = dr-1 ]; then
		case $st in
		open) case $((RANDOM % 3)) in
			0) want=acknowledged verb=ack ;;
			1) want=done verb=done ;;
			*) want=declined verb=decline args=(--reason "入院のため") ;;
			esac ;;
		acknowledged) if [ $((RANDOM % 2)) = 0 ]; then
				want=done verb=done
			else
				want=declined verb=decline args=(--reason "入院のため")
			fi ;;
		*) cv_post; return ;;
		esac
		rk "$D" request "$verb" "$R" "$id" "${args[@]}"
		[ "$RK_RC" = 0 ] || { check_fail "request $verb on $(basename "$D"): $RK_ERR"; return; }
		WNEW[$w|status]="\"$want\""
		WTITLE[$w]=$title
		cv_record "$w" status "$R" "$row"
		echo "# $T $(basename "$D"): request $title $want"
	elif [ "${REQBY[$title]:-}" = "$D" ] && [ "$st" != done ] &&
	    [ "$st" != declined ]; then
		rk "$D" request withdraw "$R" "$id"
		[ "$RK_RC" = 0 ] || { check_fail "request withdraw on $(basename "$D"): $RK_ERR"; return; }
		WTITLE[$w]=$title
		cv_record "$w" withdraw "$R" "$row"
		echo "# $T $(basename "$D"): request $title withdrawn"
	else
		cv_post
	fi
}

# Settles an open review of a card field with a typed value.
cv_resolve() {
	local w="w$T" lines line id room col row flat v
	lines=$(cf_lines "$D" | grep '|review|emergency_cards|')
	[ -n "$lines" ] || { cv_card; return; }
	cv_pick "$lines"
	line=$PICK
	IFS='|' read -r id room _ _ col _ _ _ _ _ _ <<<"$line"
	R=$room
	row="card:$room"
	[ -z "${PEND[$D|$row]:-}" ] || { cv_post; return; }
	flat=$("$RENKEI" --dir "$D" card "$room" --json 2>/dev/null | cv_flat)
	v="v$S-$T-$col"
	WOLD[$w|$col]=$(cv_get "$flat" "$col")
	WNEW[$w|$col]="\"$v\""
	rk "$D" resolve "$id" --keep "$v"
	[ "$RK_RC" = 0 ] || { check_fail "resolve on $(basename "$D"): $RK_ERR"; return; }
	WFIELDS[$w]=" $col"
	# The record the model expects, by its content.
	WREC[$w]=$(printf '%s\n' "$line" | cut -d'|' -f2-5,7-8)
	cv_record "$w" resolve "$room" "$row"
	echo "# $T $(basename "$D"): resolve $col in $room"
}

# A write of a random kind; the kind picks who can make it (the doctor
# answers requests, a requester withdraws hers).
cv_write() {
	local rooms r2=$((RANDOM % 100)) t
	T=$((T + 1))
	if [ "$r2" -ge 68 ] && [ "$r2" -lt 78 ]; then
		D=${DEVS[1]}			# dr-1 answers
	elif [ "$r2" -ge 78 ] && [ "$r2" -lt 87 ]; then
		D=${DEVS[$((RANDOM % 2 * 2))]}	# a requester: d1 or d3
	fi
	rooms=(${ROOMS[$D]})
	R=${rooms[$((RANDOM % ${#rooms[@]}))]}
	if [ "$r2" -lt 14 ]; then cv_post
	elif [ "$r2" -lt 50 ]; then
		# A room whose card this device has not changed since its
		# last sync, if there is one.
		for t in "${rooms[@]}"; do
			[ -z "${PEND[$D|card:$R]:-}" ] && break
			R=$t
		done
		cv_card
	elif [ "$r2" -lt 64 ]; then cv_medstop
	elif [ "$r2" -lt 68 ]; then cv_medadd
	elif [ "$r2" -lt 78 ]; then R=kimura; cv_reqchange
	elif [ "$r2" -lt 83 ]; then R=kimura; cv_reqchange
	elif [ "$r2" -lt 87 ]; then R=kimura; cv_reqnew
	else cv_resolve
	fi
}

# --- syncs, kills, outages ----------------------------------------------------

# cv_quiesce DEV: kill -9 and restart DEV (offline), so nothing of a
# failed sync is still on its way to the hub.
cv_quiesce() {
	rk_kill9 "$1"
	cv_gate "$1" close
	sleep 0.3
	cv_start_dev "$1"
}

cv_sync() {
	local d=$1 how=${2:-plain} pid t
	if ! cv_hub_up; then
		cv_gate "$d" open
		run "$RENKEI" --dir "$d" sync --timeout 20 --quiet
		cv_gate "$d" close
		echo "# sync $(basename "$d") while the hub is down: exit $RK_RC"
		[ "$RK_RC" != 0 ] || check_fail "sync with the hub down exits 0"
		return
	fi
	cv_gate "$d" open
	if [ "$how" = plain ]; then
		run "$RENKEI" --dir "$d" sync --timeout 30 --quiet
	else
		"$RENKEI" --dir "$d" sync --timeout 30 --quiet >/dev/null 2>&1 &
		pid=$!
		t=$((RANDOM % 500))
		sleep "$((t / 1000)).$(printf '%03d' $((t % 1000)))"
		if [ "$how" = killdev ]; then
			rk_kill9 "$d"
		else
			rk_kill9 "$HUB"
		fi
		wait "$pid"
		RK_RC=$?
	fi
	cv_gate "$d" close
	echo "# sync $(basename "$d") ($how): exit $RK_RC"
	if [ "$RK_RC" = 0 ] && [ "$how" = plain ]; then
		cv_mark_applied "$d"
		return 0
	fi
	[ "$how" = killhub ] && sk_restart "$HUB"
	if [ -n "${RK_PID[$d]:-}" ]; then
		cv_quiesce "$d"
	else
		sleep 0.3
		cv_start_dev "$d"
	fi
	cv_observe "$d"
	return 1
}

cv_step() {
	local r=$((RANDOM % 100)) i=$((RANDOM % 3))
	D=${DEVS[$i]}
	if [ "$r" -lt 56 ]; then
		cv_write
	elif [ "$r" -lt 82 ]; then
		case $((RANDOM % 10)) in
		0 | 1) cv_sync "$D" killdev ;;
		2) cv_sync "$D" killhub ;;
		*) cv_sync "$D" ;;
		esac
	elif [ "$r" -lt 94 ]; then
		if cv_hub_up; then
			echo "# hub stopped"
			rk_stop "$HUB"
		else
			echo "# hub started"
			sk_restart "$HUB"
		fi
	else
		echo "# $(basename "$D") killed -9 while idle"
		rk_kill9 "$D"
		cv_start_dev "$D"
	fi
}

# --- the end: sync everyone, compare with the model ---------------------------

cv_final() {
	local pass d ok room h h0 line clean
	cv_ensure_hub
	echo "# --- final syncs"
	for pass in 1 2 3 4 5 6 7 8; do
		clean=0
		[ "${#WPEND[@]}" = 0 ] && clean=1
		ok=1
		for d in "${DEVS[@]}"; do
			cv_sync "$d" || ok=0
		done
		[ "$ok" = 1 ] && [ "$clean" = 1 ] && break
	done
	[ "$ok" = 1 ] || check_fail "schedule $S: no pass where every sync succeeded"
	[ "${#WPEND[@]}" = 0 ] || check_fail "schedule $S: writes never reached the hub: ${WPEND[*]}"

	# Hashes and pending.
	for room in tanaka kimura; do
		h0=$(sk_hash "$HUB" "$room")
		for d in "${DEVS[@]}"; do
			[[ " ${ROOMS[$d]} " == *" $room "* ]] || continue
			h=$(sk_hash "$d" "$room")
			[ "$h" = "$h0" ] || check_fail "schedule $S: $room: $(basename "$d")'s hash ${h:0:12} != hub's ${h0:0:12}"
		done
	done
	for d in "${DEVS[@]}"; do
		[ "$(sk_status_num "$d" pending)" = 0 ] ||
		    check_fail "schedule $S: $(basename "$d") still has pending changes"
	done
	cv_check_rows
	cv_check_records
	pass "schedule $S: $T writes, ${#EXPREC[@]} conflicts, converged"
}

cv_check_rows() {
	local room exp got w f v d med req flat title name hubrec final
	hubrec=$(cf_lines "$HUB" --all)
	for room in tanaka kimura; do
		exp=$(for w in "${ACKED[@]}"; do
			[ "${WROOM[$w]}" = "$room" ] || continue
			case ${WKIND[$w]} in post | visit) echo "${WNEW[$w|text]}" ;; esac
		done | sort)
		for d in "$HUB" "${DEVS[@]}"; do
			[ "$d" = "$HUB" ] || [[ " ${ROOMS[$d]} " == *" $room "* ]] || continue
			got=$(sk_texts "$d" "$room" '^cv')
			[ "$got" = "$exp" ] || check_fail "schedule $S: $room on $(basename "$d"): posts and visits differ: missing [$(comm -23 <(printf '%s\n' "$exp") <(printf '%s\n' "$got") | tr '\n' ' ')] twice or extra [$(printf '%s\n' "$got" | sort | uniq -d | tr '\n' ' ')$(comm -13 <(printf '%s\n' "$exp") <(printf '%s\n' "$got" | sort -u) | tr '\n' ' ')]"
		done
		flat=$("$RENKEI" --dir "$HUB" card "$room" --json 2>/dev/null | cv_flat)
		for f in "${FIELDS[@]}"; do
			v=$(cv_get "$flat" "$f")
			[ "$v" = "${HV[card:$room|$f]}" ] ||
			    check_fail "schedule $S: $room card $f: hub has $v, model ${HV[card:$room|$f]}"
		done
	done
	# Every acknowledged card value: on the card, in a record, or seen
	# by a later write that replaced it.
	for w in "${ACKED[@]}"; do
		case ${WKIND[$w]} in card | resolve) ;; *) continue ;; esac
		for f in ${WFIELDS[$w]}; do
			v=${WNEW[$w|$f]}
			final=${HV[card:${WROOM[$w]}|$f]}
			[ "$v" = "$final" ] && continue
			grep -qF -- "|$v|" <<<"$hubrec" && continue
			cv_seen_by_later "$w" "$f" && continue
			check_fail "schedule $S: $w's $f=$v was lost"
		done
	done
	# Medications and requests: once each, as the model says.
	for med in "${MEDS[@]}"; do
		room=${med%%|*}
		name=${med#*|}
		flat=$("$RENKEI" --dir "$HUB" med "$room" --json 2>/dev/null | cv_flat)
		[ "$(printf '%s\n' "$flat" | grep -cF "=\"$name\"")" = 1 ] ||
		    check_fail "schedule $S: medication $name not exactly once"
		v=$(cv_get "$(cv_med_of "$flat" "$name")" stop_date)
		[ "$v" = "${HV[med:$room:$name|stop_date]}" ] ||
		    check_fail "schedule $S: $name stop date: hub $v, model ${HV[med:$room:$name|stop_date]}"
	done
	for req in "${REQS[@]}"; do
		room=${req%%|*}
		title=${req#*|}
		flat=$("$RENKEI" --dir "$HUB" requests "$room" --all --json 2>/dev/null | cv_flat)
		[ "$(printf '%s\n' "$flat" | grep -cF "title=\"$title\"")" = 1 ] ||
		    check_fail "schedule $S: request $title not exactly once"
		flat=$(cv_req_of "$flat" "$title")
		[ "$(cv_get "$flat" status)" = "${HV[req:$room:$title|status]}" ] ||
		    check_fail "schedule $S: $title status: hub $(cv_get "$flat" status), model ${HV[req:$room:$title|status]}"
		v=false
		[ "${HW[req:$room:$title]}" = 1 ] && v=true
		[ "$(cv_get "$flat" withdrawn)" = "$v" ] ||
		    check_fail "schedule $S: $title withdrawn: hub $(cv_get "$flat" withdrawn), model $v"
	done
}

# cv_seen_by_later W F: a write applied after W replaced F's value having
# seen it.
cv_seen_by_later() {
	local x
	for x in "${ACKED[@]}"; do
		[ "${WROOM[$x]}" = "${WROOM[$1]}" ] || continue
		[ "${WOLD[$x|$2]:-}" = "${WNEW[$1|$2]}" ] && return 0
	done
	return 1
}

cv_check_records() {
	local exp got e st key w
	exp=$(for e in "${EXPREC[@]}"; do
		w=${e##*|}
		e=${e%|*}
		IFS='|' read -r room kind table col wv lv <<<"$e"
		key="$room|$table|$col|$wv|$lv"
		st=open
		[ "${HS[$room|$kind|$table|$col|$wv|$lv]:-}" = resolved ] && st=resolved
		echo "$room|$kind|$table|$col|$st|$wv|$lv"
	done | sort)
	got=$(cf_lines "$HUB" --all | cut -d'|' -f2-8 |
	    awk -F'|' -v OFS='|' '$2 == "deleted_edit" { $6 = "*" } { print }' | sort)
	if [ "$got" = "$exp" ]; then
		pass "schedule $S: the hub's conflict records are exactly the model's ($(printf '%s' "$exp" | grep -c .): $(printf '%s\n' "$exp" | grep . | cut -d'|' -f2,3,5 | sort | uniq -c | awk '{ printf "%s%s x%s", n++ ? ", " : "", $2, $1 }'))"
	else
		check_fail "schedule $S: conflict records differ from the model"
		echo "# expected:"
		printf '%s\n' "$exp" | sed 's/^/#   /'
		echo "# hub:"
		printf '%s\n' "$got" | sed 's/^/#   /'
	fi
	for d in "${DEVS[@]}"; do
		got=$(cf_lines "$d" --all | cut -d'|' -f2-8 | sort)
		[ "$got" = "$(cf_lines "$HUB" --all | cut -d'|' -f2-8 | sort |
		    awk -F'|' -v r="${ROOMS[$d]}" 'index(" " r " ", " " $1 " ")')" ] ||
		    check_fail "schedule $S: $(basename "$d")'s records differ from the hub's"
	done
}

run_schedule() {
	local i d dir room f
	S=$1
	echo "# --- schedule seed $S"
	RANDOM=$S
	dir=$RK_TMP/s$S
	mkdir -p "$dir"
	HUB=$dir/hub
	DEVS=("$dir/d1" "$dir/d2" "$dir/d3")
	DEVNO[${DEVS[0]}]=1
	DEVNO[${DEVS[1]}]=2
	DEVNO[${DEVS[2]}]=3
	STAFF[${DEVS[0]}]=nurse-1
	STAFF[${DEVS[1]}]=dr-1
	STAFF[${DEVS[2]}]=cm-1
	ROOMS[${DEVS[0]}]="tanaka kimura"
	ROOMS[${DEVS[1]}]="tanaka kimura"
	ROOMS[${DEVS[2]}]="kimura"
	PEND=() HV=() HH=() HW=() HS=() EXPREC=() WPEND=() ACKED=() MEDS=()
	REQS=()
	T=0

	sk_hub "$HUB"
	rk "$HUB" agency add cma-1 --name 居宅介護支援 --kind care-management
	[ "$RK_RC" = 0 ] || fail "agency: $RK_ERR"
	rk "$HUB" staff add cm-1 --agency cma-1 --name 高橋 --profession care-manager
	[ "$RK_RC" = 0 ] || fail "staff cm-1: $RK_ERR"
	rk "$HUB" room create kimura --patient-name 木村一郎 \
	    --consent-date 2026-04-01 --member dr-1 --member nurse-1 --member cm-1
	[ "$RK_RC" = 0 ] || fail "room kimura: $RK_ERR"
	for i in 0 1 2; do
		d=${DEVS[$i]}
		GATE[$d]=$d.gate
		cv_gate "$d" open
		RENKEI_FAULT="gate=${GATE[$d]}" sk_device "$d" "${STAFF[$d]}"
	done
	# What everyone starts from: a card in each room, a medication, a
	# request to the doctor.
	for room in tanaka kimura; do
		rk "${DEVS[0]}" card "$room" --set allergies=なし \
		    --set medications=なし --set family_contacts=長女 \
		    --set diagnoses=心不全
		[ "$RK_RC" = 0 ] || fail "first card in $room: $RK_ERR"
		HV[card:$room|allergies]='"なし"'
		HV[card:$room|medications]='"なし"'
		HV[card:$room|family_contacts]='"長女"'
		HV[card:$room|diagnoses]='"心不全"'
		HH[card:$room]=0
	done
	for room in tanaka kimura; do
		rk "${DEVS[0]}" med "$room" add --name "med-$S-0-$room" --dose 20mg
		[ "$RK_RC" = 0 ] || fail "first medication in $room: $RK_ERR"
		MEDS+=("$room|med-$S-0-$room")
		HV[med:$room:med-$S-0-$room|stop_date]=null
		HH[med:$room:med-$S-0-$room]=0
	done
	for i in 0 2 2; do
		d=${DEVS[$i]}
		f="req-$S-0-$i-$RANDOM"
		rk "$d" request kimura --to dr-1 --kind free --title "$f"
		[ "$RK_RC" = 0 ] || fail "first request: $RK_ERR"
		REQS+=("kimura|$f")
		REQBY[$f]=$d
		HV[req:kimura:$f|status]='"open"'
		HW[req:kimura:$f]=0
	done
	sk_converge "${DEVS[@]}" || fail "schedule $S: not in step at the start: $SK_CONVERGE_LOG"
	# From now on offline but for the schedule's syncs, and faulty.
	for i in 0 1 2; do
		d=${DEVS[$i]}
		cv_gate "$d" close
		FAULT[$d]="gate=${GATE[$d]},$FAULTS"
		rk_kill9 "$d"
		cv_start_dev "$d"
	done

	for i in $(seq 1 "$NSTEPS"); do
		cv_step
	done
	cv_final
	for d in "$HUB" "${DEVS[@]}"; do
		[ -z "${RK_PID[$d]:-}" ] || rk_kill9 "$d"
	done
	if [ "$RK_FAILED" -gt "$CV_FAILED_BEFORE" ]; then
		echo "# FAILED: replay with SEED=$S RK_CONVERGE_SCHEDULES=1"
		CV_FAILED_BEFORE=$RK_FAILED
	elif [ "${RK_KEEP:-0}" != 1 ]; then
		rm -rf "$dir"
	fi
}

for k in $(seq 0 $((NSCHED - 1))); do
	run_schedule $((BASE + k))
done
