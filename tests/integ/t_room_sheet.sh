#!/usr/bin/env bash
# t_room_sheet.sh - admission and discharge sheets (入院時情報提供書,
# 退院時情報) filled from what the room already holds, so nobody types it
# twice; editable; printable.
#
#   hub: dr-1, nurse-1, and cm-1 of a care-management agency.  nurse-1's
#   device opens room kato with dr-1 and cm-1 and records the patient's
#   details, the card, a medication, a visit with vitals, dr-1 as main
#   doctor; dr-1 records ACP.
#   The admission draft holds all of it (name, birth date, address,
#   diagnoses, allergies, the medication, main doctor with phone, the care
#   manager and the team, the last vitals, the wishes and DNAR) without
#   anyone typing it.  Bad input (an unknown field, an impossible date)
#   is refused naming the field, nothing saved.  nurse-1 adds the
#   admission date, the reason and ADL: the sheet is saved; its printable
#   page holds the filled and the typed values, and its PDF (headless
#   Chromium, where installed) reads the same.  dr-1's device gets the
#   same saved sheet.  A later card change does not alter the saved sheet;
#   --new starts the next one from the room as it is now.
#   Discharge: the draft takes the admission date from the admission
#   sheet; a discharge date before it is refused; a valid one is saved and
#   printed.
. "$(dirname "$0")/synclib.sh"

HUB=$RK_TMP/hub
NS=$RK_TMP/ns		# nurse-1
DR=$RK_TMP/dr		# dr-1

TODAY=$(TZ=JST-9 date +%F)
YESTERDAY=$(TZ=JST-9 date -d '-1 day' +%F)

sk_hub "$HUB"
rk "$HUB" agency add cm-a --name ケアプランむさしの --kind care-management
assert_ok "hub: care-management agency"
rk "$HUB" staff add cm-1 --agency cm-a --name 山本ケア --profession care-manager \
    --phone 0422-55-6666
assert_ok "hub: care manager cm-1"
sk_device "$NS" nurse-1
sk_device "$DR" dr-1

rk "$NS" room create kato --patient-name 加藤正男 --consent-date "$TODAY" \
    --birth-date 1941-09-30 --member dr-1 --member cm-1
assert_ok "nurse-1 opens room kato"
rk "$NS" patient kato --set address="東京都武蔵野市境1-2-3" --set phone=0422-77-8888 \
    --set sex=男
assert_ok "patient details"
rk "$NS" card kato --set diagnoses="COPD（在宅酸素療法中）" --set allergies=なし \
    --set family_contacts="妻 加藤良子 0422-77-8888" --set care_level=要介護2 \
    --set hospital="武蔵野赤十字病院"
assert_ok "card fields"
rk "$NS" med kato add --name チオトロピウム吸入 --dose 1吸入 --route 吸入 \
    --frequency 1日1回 --start 2025-04-01 --prescriber 鈴木一郎
assert_ok "a medication"
rk "$NS" visit kato --bp 132/78 --pulse 88 --spo2 91 --temp 37.2 --note 呼吸苦増強
assert_ok "a visit with vitals"
rk "$NS" member doctors kato --primary dr-1
assert_ok "dr-1 main doctor"
sk_converge "$NS" "$DR" || check_fail "in step: $SK_CONVERGE_LOG"
rk "$DR" acp kato --record --wishes "入院しても自宅に戻りたい。" \
    --present "本人、妻、鈴木医師" --dnar "DNAR"
assert_ok "dr-1 records ACP"
sk_converge "$DR" "$NS" || check_fail "in step: $SK_CONVERGE_LOG"

# --- the admission draft: filled from the room ----------------------------------------

rk "$NS" sheet kato admission --json
assert_ok "nurse-1 opens the admission sheet"
J=$(printf '%s' "$RK_OUT" | tr -d '\n' | sed 's/  */ /g')
assert_contains "$J" '"draft": true' "it is a draft, not saved yet"
for fv in '"patient_name", "label": "氏名", "value": "加藤正男"' \
    '"birth_date", "label": "生年月日", "value": "1941-09-30"' \
    '"address", "label": "住所", "value": "東京都武蔵野市境1-2-3"' \
    '"care_level", "label": "要介護度", "value": "要介護2"' \
    '"diagnoses", "label": "診断名・既往歴", "value": "COPD（在宅酸素療法中）"' \
    '"allergies", "label": "アレルギー", "value": "なし"' \
    '"value": "チオトロピウム吸入 1吸入 吸入 1日1回 (2025-04-01〜)"' \
    '"value": "鈴木一郎（鈴木医院）"' \
    '"value": "山本ケア（ケアプランむさしの） TEL 0422-55-6666"' \
    '"hospital", "label": "入院先医療機関", "value": "武蔵野赤十字病院"' \
    '"dnar", "label": "DNAR", "value": "DNAR"'; do
	assert_contains "$J" "$fv" "pre-filled: $fv"
done
assert_contains "$J" "血圧 132/78 脈拍 88 体温 37.2 SpO2 91" \
    "pre-filled: the last vitals"
assert_contains "$J" "入院しても自宅に戻りたい。\\n（話し合った人: 本人、妻、鈴木医師）" \
    "pre-filled: the wishes and who was present"
assert_contains "$J" "care-manager 山本ケア" "pre-filled: the team"
assert_contains "$J" '"field": "admission_date", "label": "入院日", "value": null' \
    "the admission date is left to type"

# --- bad input ---------------------------------------------------------------------------

rk "$NS" sheet kato admission --set blood_type=A
assert_refused "an unknown field is refused" "blood_type"
rk "$NS" sheet kato admission --set admission_date=2026-13-01
assert_refused "an impossible date is refused" "admission_date"
rk "$NS" sheet kato admission --json
assert_contains "$RK_OUT" '"draft": true' "nothing was saved by the refusals"

# --- saving and printing ----------------------------------------------------------------

rk "$NS" sheet kato admission --set admission_date="$YESTERDAY" \
    --set reason="呼吸苦増強、SpO2低下のため救急搬送" \
    --set adl="屋内は歩行器で自立。入浴は訪問介護で介助。"
assert_ok "nurse-1 adds what only a person knows: the sheet is saved"
assert_contains "$RK_OUT" "id " "it now has an id"
assert_contains "$RK_OUT" "歩行器で自立" "with the ADL typed"
assert_contains "$RK_OUT" "加藤正男" "and the name filled from the room"
rk "$NS" sheet kato admission --print --out "$RK_TMP/admission.html"
assert_ok "the admission sheet is printed"
P=$(cat "$RK_TMP/admission.html")
assert_contains "$P" "<h1>入院時情報提供書</h1>" "the printed sheet has its title"
assert_contains "$P" "<th>入院日</th><td>$YESTERDAY</td>" "the typed admission date"
assert_contains "$P" "<th>氏名</th><td>加藤正男</td>" "the filled name"
assert_contains "$P" "<th>アレルギー</th><td>なし</td>" "the filled allergies"
assert_not_contains "$P" "下書き" "a saved sheet is not marked as a draft"
assert_eq 600 "$(stat -c %a "$RK_TMP/admission.html")" \
    "the HTML is readable by its owner only"
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
	assert_eq "$RK_TMP/admission.pdf" "$(printf '%s\n' "$RK_OUT" | tail -n 1)" \
	    "and its PDF is written beside it"
	assert_eq 600 "$(stat -c %a "$RK_TMP/admission.pdf" 2>/dev/null)" \
	    "readable by its owner only"
	if command -v pdftotext >/dev/null 2>&1; then
		T=$(pdftotext -layout "$RK_TMP/admission.pdf" - 2>/dev/null)
		for want in 入院時情報提供書 加藤正男 "COPD（在宅酸素療法中）" \
		    チオトロピウム吸入 "$YESTERDAY" "歩行器で自立"; do
			assert_contains "$T" "$want" "the PDF reads: $want"
		done
	fi
else
	assert_contains "$RK_ERR" "no PDF converter" \
	    "without Chromium: the HTML only, saying so"
fi
sk_converge "$NS" "$DR" || check_fail "in step: $SK_CONVERGE_LOG"
rk "$DR" sheet kato admission --json
assert_contains "$RK_OUT" '"draft": false' "dr-1's device has the saved sheet"
assert_contains "$RK_OUT" "SpO2低下のため救急搬送" "with nurse-1's typing"

rk "$NS" card kato --set allergies="造影剤"
assert_ok "the card changes later"
rk "$NS" sheet kato admission --json
assert_contains "$RK_OUT" '"value": "なし"' \
    "the saved sheet keeps what was sent to the hospital"
rk "$NS" sheet kato admission --new --json
assert_ok "--new starts the next admission's sheet"
assert_contains "$RK_OUT" '"value": "造影剤"' "filled from the room as it is now"

# --- discharge ---------------------------------------------------------------------------

rk "$DR" sheet kato discharge --json
assert_ok "dr-1 opens the discharge sheet"
assert_contains "$(printf '%s' "$RK_OUT" | tr -d '\n' | sed 's/  */ /g')" \
    "\"admission_date\", \"label\": \"入院日\", \"value\": \"$YESTERDAY\"" \
    "the admission date comes from the admission sheet"
rk "$DR" sheet kato discharge --set discharge_date=2020-01-01
assert_refused "a discharge before the admission is refused" "discharge_date"
rk "$DR" sheet kato discharge --set discharge_date="$TODAY" \
    --set treatment="抗菌薬点滴、ステロイド。酸素 2L/分で退院。" \
    --set medical_care="在宅酸素 安静時1L/分、労作時2L/分" \
    --print --out "$RK_TMP/discharge.html"
assert_ok "the discharge sheet is saved and printed"
P=$(cat "$RK_TMP/discharge.html")
assert_contains "$P" "退院時情報" "its title"
assert_contains "$P" "<th>退院日</th><td>$TODAY</td>" "the discharge date"
assert_contains "$P" "在宅酸素 安静時1L/分" "the care at home"
assert_contains "$P" "<th>診断名</th><td>COPD（在宅酸素療法中）</td>" \
    "the diagnoses filled from the room"

# Every daemon stops cleanly (under ASan: no leak, no error).
for d in "$NS" "$DR" "$HUB"; do
	rk_stop "$d"
done
