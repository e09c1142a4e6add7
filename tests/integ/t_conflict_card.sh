#!/usr/bin/env bash
# t_conflict_card.sh - the issue's scenario with real processes: two staff
# edit the same patient's emergency card while offline.
#
#   hub + NS (nurse-1, the visiting nurse's tablet) + CM (cm-1, the care
#   manager's PC), both members of room kimura, in step, the card filled
#   in (diagnoses, allergies, family contact).  The hub stops (no signal
#   anywhere); the nurse sets the allergies at the patient's home; later
#   the care manager sets the allergies to another value and the family
#   contact.  The hub returns; everyone syncs.  Then on all three:
#     - both edits survive: the care manager's family contact, and the
#       later allergies (hers) on the card;
#     - exactly one open conflict: review, emergency_cards.allergies,
#       with both values (winner セフェム系 by cm-1, loser ペニシリン by
#       nurse-1), listed by 'renkei conflicts' side by side;
#     - status says conflicts 1; room hashes equal.
#   The nurse resolves it with --keep mine; everyone syncs; on all three
#   the record is resolved (kept as history), the card holds ペニシリン,
#   status says conflicts 0, hashes equal.
. "$(dirname "$0")/conflictlib.sh"

HUB=$RK_TMP/hub
NS=$RK_TMP/ns
CM=$RK_TMP/cm
ROOM=kimura

sk_hub "$HUB"
rk "$HUB" agency add cma-1 --name 居宅介護支援センター --kind care-management
assert_ok "agency cma-1"
rk "$HUB" staff add cm-1 --agency cma-1 --name 高橋 --profession care-manager
assert_ok "staff cm-1"
rk "$HUB" room create "$ROOM" --patient-name 木村一郎 \
    --consent-date 2026-04-01 --member dr-1 --member nurse-1 --member cm-1
assert_ok "room $ROOM with the doctor, the nurse and the care manager"
sk_device "$NS" nurse-1
sk_device "$CM" cm-1

rk "$NS" card "$ROOM" --set diagnoses=心不全 --set allergies=なし \
    --set "family_contacts=長女 090-1111-2222"
assert_ok "the nurse fills in the card"
sk_converge "$NS" "$CM" || fail "in step before going offline: $SK_CONVERGE_LOG"
assert_eq "長女 090-1111-2222" "$(cf_card "$CM" "$ROOM" family_contacts)" \
    "the care manager sees the card"

# No signal anywhere.
rk_stop "$HUB"
rk "$NS" card "$ROOM" --set allergies=ペニシリン
assert_ok "the nurse, offline at the patient's home, sets the allergies"
sleep 0.2	# the care manager's edit is the later one
rk "$CM" card "$ROOM" --set allergies=セフェム系 \
    --set "family_contacts=長男 080-3333-4444"
assert_ok "the care manager, offline, sets the allergies and the family contact"
sk_restart "$HUB"
sk_converge "$NS" "$CM" "$NS" || fail "sync after the outage: $SK_CONVERGE_LOG"

for d in "$HUB" "$NS" "$CM"; do
	b=$(basename "$d")
	assert_eq "長男 080-3333-4444" "$(cf_card "$d" "$ROOM" family_contacts)" \
	    "$b: the care manager's family contact survived"
	assert_eq "セフェム系" "$(cf_card "$d" "$ROOM" allergies)" \
	    "$b: the later allergies are on the card"
	assert_eq "心不全" "$(cf_card "$d" "$ROOM" diagnoses)" \
	    "$b: the untouched field is intact"
	lines=$(cf_lines "$d")
	assert_eq 1 "$(printf '%s\n' "$lines" | grep -c .)" \
	    "$b: exactly one open conflict"
	assert_eq "$ROOM|review|emergency_cards|allergies|open|\"セフェム系\"|\"ペニシリン\"|cm-1|nurse-1|null" \
	    "$(printf '%s\n' "$lines" | cut -d'|' -f2-)" \
	    "$b: a review of the allergies with both values and both authors"
	assert_eq 1 "$(cf_open "$d")" "$b: status says 1 conflict"
done
ID=$(cf_lines "$NS" | cut -d'|' -f1)
[ "$ID" = "$(cf_lines "$HUB" | cut -d'|' -f1)" ] &&
    [ "$ID" = "$(cf_lines "$CM" | cut -d'|' -f1)" ] &&
    pass "the same record (id $ID) on all three" ||
    check_fail "record ids differ: $(cf_lines "$HUB" | cut -d'|' -f1) $(cf_lines "$NS" | cut -d'|' -f1) $(cf_lines "$CM" | cut -d'|' -f1)"
h=$(sk_hash "$HUB" "$ROOM")
assert_eq "$h" "$(sk_hash "$NS" "$ROOM")" "nurse's hash equals the hub's"
assert_eq "$h" "$(sk_hash "$CM" "$ROOM")" "care manager's hash equals the hub's"

# What a person reads: both values side by side, with Japanese labels.
rk "$NS" conflicts
assert_ok "renkei conflicts"
assert_contains "$RK_OUT" "アレルギー" "the column's Japanese label"
assert_contains "$RK_OUT" "セフェム系" "the value on the card"
assert_contains "$RK_OUT" "ペニシリン" "the value kept for review"
assert_contains "$RK_OUT" "＊自分" "the nurse's own value is marked"
printf '%s\n' "$RK_OUT" | sed -n '1,12p'

# Settling it from the care manager's PC with "mine" would keep hers; the
# nurse confirms her own value instead.  A wrong id says so.
rk "$NS" resolve nonexistent-id --keep mine
assert_refused "resolve an unknown id"
rk "$NS" resolve "${ID: -8}" --keep mine
assert_ok "the nurse resolves it (by the end of its id) keeping hers"
assert_eq "ペニシリン" "$(cf_card "$NS" "$ROOM" allergies)" \
    "her value is on her card at once"
sk_converge "$NS" "$CM" "$NS" || fail "sync after resolving: $SK_CONVERGE_LOG"
for d in "$HUB" "$NS" "$CM"; do
	b=$(basename "$d")
	assert_eq "ペニシリン" "$(cf_card "$d" "$ROOM" allergies)" \
	    "$b: the kept value is on the card"
	assert_eq "長男 080-3333-4444" "$(cf_card "$d" "$ROOM" family_contacts)" \
	    "$b: the family contact stays"
	assert_eq "" "$(cf_lines "$d")" "$b: no open conflict"
	assert_eq "$ID|$ROOM|review|emergency_cards|allergies|resolved|\"セフェム系\"|\"ペニシリン\"|cm-1|nurse-1|mine" \
	    "$(cf_lines "$d" --all)" "$b: the record is resolved and kept"
	assert_eq 0 "$(cf_open "$d")" "$b: status says 0 conflicts"
done
rk "$CM" resolve "$ID" --keep theirs
assert_refused "resolving it again"
assert_contains "$RK_ERR" "already resolved" "says it is already resolved"
h=$(sk_hash "$HUB" "$ROOM")
assert_eq "$h" "$(sk_hash "$NS" "$ROOM")" "nurse's hash equals the hub's after resolving"
assert_eq "$h" "$(sk_hash "$CM" "$ROOM")" "care manager's hash equals the hub's after resolving"
