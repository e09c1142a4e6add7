/*
 * roomwork_sheet.c - what a room prints: the emergency card (救急情報カード
 * / 救急連絡シート) for the patient's fridge, and the admission (入院時情報
 * 提供) and discharge (退院時情報) sheets exchanged with a hospital.
 *
 * Nobody types twice: a sheet starts as a draft filled from what the room
 * already holds (patient, card, members, ACP, medications, the last
 * vitals); saving it keeps that content, which people then edit.  The
 * printable pages are self-contained HTML (inline style, no script, no
 * external resources), one A4 page, dated.
 */
#include "daemon/roomwork.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/api.h"
#include "common/id.h"
#include "daemon/roomwork_int.h"
#include "daemon/store.h"

/* --- the card's extras --------------------------------------------------- */

/* "name（agency）" of a staff JSON, or NULL (malloc'd, free it). */
static char *
rw_staff_label(const json_t *s)
{
	const char *name = json_string_value(json_object_get(s, "name"));
	const char *ag = json_string_value(json_object_get(s, "agency_name"));
	const char *id = json_string_value(json_object_get(s, "id"));
	struct buf b = BUF_INIT;
	size_t n;

	if (id == NULL)
		return NULL;
	if (buf_appendf(&b, "%s", name != NULL ? name : id) != 0 ||
	    (ag != NULL && buf_appendf(&b, "（%s）", ag) != 0) ||
	    buf_append(&b, "", 1) != 0) {
		buf_release(&b);
		return NULL;
	}
	return (char *)buf_detach(&b, &n);
}

int
roomwork_card_extras(struct rec_ctx *c, const char *room, json_t *card)
{
	sqlite3 *db = store_db(c->store);
	struct rw_room r;
	struct rk_why why;
	json_t *acp = NULL, *meds = NULL;
	char addr[4096], phone[256];
	char today[11], base[11] = "", due[11] = "";
	const char *reviewed, *by;
	json_t *upd;
	int rc;

	if ((rc = rw_room_load(c, room, &r, &why)) != 0)
		return rc;
	if ((rc = rw_query_text(db, "SELECT address FROM patients WHERE "
	    "room_id = ?1", room, NULL, addr, sizeof(addr))) < 0 ||
	    (rc = rw_query_text(db, "SELECT phone FROM patients WHERE "
	    "room_id = ?1", room, NULL, phone, sizeof(phone))) < 0)
		return rc;
	if ((acp = json_array()) == NULL || (meds = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	if ((rc = rw_acp_revisions(db, room, acp, &why)) != 0 ||
	    (rc = rw_meds(c, room, 1, meds, &why)) != 0)
		goto out;
	rw_today(c, today);
	/* The yearly review counts from the last review, else the last
	 * edit of the card. */
	reviewed = json_string_value(json_object_get(card, "reviewed_at"));
	upd = json_object_get(card, "updated_at");
	if (reviewed != NULL && rec_valid_date(reviewed))
		snprintf(base, sizeof(base), "%s", reviewed);
	else if (json_is_integer(upd))
		rw_date_of_ms(json_integer_value(upd), base);
	if (base[0])
		rw_plus_year(base, due);
	by = json_string_value(json_object_get(card, "updated_by"));
	if (json_object_set_new(card, "address", addr[0] ? json_string(addr) :
	    json_null()) ||
	    json_object_set_new(card, "phone", phone[0] ? json_string(phone) :
	    json_null()) ||
	    json_object_set_new(card, "primary_doctor_member",
	    rw_staff_json(db, r.primary_doctor)) ||
	    json_object_set_new(card, "deputy_doctor_member",
	    rw_staff_json(db, r.deputy_doctor)) ||
	    json_object_set(card, "acp", json_array_size(acp) ?
	    json_array_get(acp, 0) : json_null()) ||
	    json_object_set(card, "current_medications", meds) ||
	    json_object_set_new(card, "review_due", due[0] ?
	    json_string(due) : json_null()) ||
	    json_object_set_new(card, "review_overdue", json_boolean(due[0] &&
	    strcmp(today, due) >= 0)) ||
	    json_object_set_new(card, "updated_by_name", json_null())) {
		rc = RK_ENOMEM;
		goto out;
	}
	if (by != NULL) {
		json_t *s = rw_staff_json(db, by);

		if (s != NULL && json_is_string(json_object_get(s, "name")))
			json_object_set(card, "updated_by_name",
			    json_object_get(s, "name"));
		json_decref(s);
	}
	rc = 0;
out:
	json_decref(acp);
	json_decref(meds);
	return rc;
}

/* --- small text builders ---------------------------------------------------- */

/* Full years between birth (YYYY-MM-DD) and today; -1 if not a date. */
static int
rw_age(const char *birth, const char *today)
{
	int age;

	if (birth == NULL || !rec_valid_date(birth))
		return -1;
	age = atoi(today) - atoi(birth);
	if (strcmp(today + 5, birth + 5) < 0)
		age--;
	return age;
}

/* "name（agency） TEL phone" for a doctor: the card's text and phone
 * first, the named member's directory entry otherwise.  Appended to b. */
static int
rw_doctor_line(struct buf *b, const json_t *card, const char *text_key,
    const char *phone_key, const char *member_key)
{
	const char *text = json_string_value(json_object_get(card, text_key));
	const char *phone = json_string_value(json_object_get(card, phone_key));
	const json_t *m = json_object_get(card, member_key);
	char *label = NULL;
	int rc = 0;

	if ((text == NULL || text[0] == '\0') && json_is_object(m))
		text = label = rw_staff_label(m);
	if ((phone == NULL || phone[0] == '\0') && json_is_object(m))
		phone = json_string_value(json_object_get(m, "phone"));
	if (text != NULL && text[0] != '\0')
		rc = buf_appendf(b, "%s", text);
	if (rc == 0 && phone != NULL && phone[0] != '\0')
		rc = buf_appendf(b, "%sTEL %s", b->len ? "　" : "", phone);
	free(label);
	return rc;
}

/* One medication as "name dose route frequency (start〜stop)". */
static int
rw_med_line(struct buf *b, const json_t *m)
{
	static const char *const keys[] = { "name", "dose", "route",
	    "frequency" };
	const char *start = json_string_value(json_object_get(m, "start_date"));
	const char *stop = json_string_value(json_object_get(m, "stop_date"));
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = json_string_value(json_object_get(m, keys[i]));

		if (v != NULL && v[0] != '\0')
			rc = buf_appendf(b, "%s%s", i ? " " : "", v);
	}
	if (rc == 0 && (start != NULL || stop != NULL))
		rc = buf_appendf(b, " (%s〜%s)", start ? start : "",
		    stop ? stop : "");
	return rc;
}

/* The current medications, one a line, after text (the card's own field)
 * if set.  Appended to b. */
static int
rw_meds_text(struct buf *b, const char *text, const json_t *meds)
{
	const json_t *m;
	size_t i;
	int rc = 0;

	if (text != NULL && text[0] != '\0')
		rc = buf_appendf(b, "%s", text);
	json_array_foreach(meds, i, m) {
		if (rc == 0 && b->len > 0)
			rc = buf_append(b, "\n", 1);
		if (rc == 0)
			rc = rw_med_line(b, m);
	}
	return rc;
}

/* b as a C string (NUL appended once); "" on failure. */
static const char *
rw_str(struct buf *b)
{
	if (b->len == 0 || b->data[b->len - 1] != '\0')
		if (buf_append(b, "", 1) != 0)
			return "";
	return (const char *)b->data;
}

/* --- the printable emergency card -------------------------------------------- */

int
roomwork_card_html(struct rec_ctx *c, const char *room, struct buf *out,
    struct rk_why *why)
{
	struct buf html = BUF_INIT, t = BUF_INIT;
	json_t *card = NULL, *acp;
	const char *dnar, *s, *by;
	char today[11], when[32] = "";
	int rc, age;
	int64_t at;

	if ((rc = rec_card_get(c, room, &card, why)) != 0)
		return rc;
	if (!json_is_array(json_object_get(card, "current_medications")) &&
	    (rc = roomwork_card_extras(c, room, card)) != 0)
		goto out;
	rw_today(c, today);
	acp = json_object_get(card, "acp");
	dnar = json_string_value(json_object_get(card, "dnar"));
	if ((dnar == NULL || dnar[0] == '\0') && json_is_object(acp))
		dnar = json_string_value(json_object_get(acp, "dnar"));

	rc = rw_html_head(&html, "救急情報カード");
	if (rc == 0)
		rc = buf_appendf(&html, "<h1>救急情報カード"
		    "<span class=\"d\">（救急連絡シート）</span></h1>");
	if (rc == 0 && dnar != NULL && dnar[0] != '\0') {
		rc = buf_appendf(&html, "<div class=\"warn\">DNAR・延命治療の"
		    "意思: ");
		if (rc == 0)
			rc = rw_html_escape(&html, dnar);
		if (rc == 0)
			rc = buf_appendf(&html, "</div>");
	}
	if (rc == 0)
		rc = buf_appendf(&html, "<table>");
	if (rc == 0)
		rc = rw_html_row(&html, "氏名", json_string_value(
		    json_object_get(card, "patient_name")));
	if (rc == 0)
		rc = rw_html_row(&html, "生年月日", json_string_value(
		    json_object_get(card, "birth_date")));
	age = rw_age(json_string_value(json_object_get(card, "birth_date")),
	    today);
	if (rc == 0 && age >= 0) {
		char a[16];

		snprintf(a, sizeof(a), "%d歳", age);
		rc = rw_html_row(&html, "年齢", a);
	}
	if (rc == 0)
		rc = rw_html_row(&html, "住所", json_string_value(
		    json_object_get(card, "address")));
	if (rc == 0)
		rc = rw_html_row(&html, "電話", json_string_value(
		    json_object_get(card, "phone")));
	if (rc == 0)
		rc = rw_html_row(&html, "診断名", json_string_value(
		    json_object_get(card, "diagnoses")));
	if (rc == 0)
		rc = rw_html_row(&html, "アレルギー", json_string_value(
		    json_object_get(card, "allergies")));
	if (rc == 0)
		rc = rw_meds_text(&t, json_string_value(json_object_get(card,
		    "medications")), json_object_get(card,
		    "current_medications"));
	if (rc == 0)
		rc = rw_html_row(&html, "内服薬", rw_str(&t));
	buf_release(&t);
	if (rc == 0)
		rc = rw_doctor_line(&t, card, "primary_doctor",
		    "primary_doctor_phone", "primary_doctor_member");
	if (rc == 0)
		rc = rw_html_row(&html, "主治医", rw_str(&t));
	buf_release(&t);
	if (rc == 0)
		rc = rw_doctor_line(&t, card, "deputy_doctor",
		    "deputy_doctor_phone", "deputy_doctor_member");
	if (rc == 0)
		rc = rw_html_row(&html, "副主治医", rw_str(&t));
	buf_release(&t);
	if (rc == 0)
		rc = rw_html_row(&html, "家族連絡先", json_string_value(
		    json_object_get(card, "family_contacts")));
	if (rc == 0)
		rc = rw_html_row(&html, "要介護度", json_string_value(
		    json_object_get(card, "care_level")));
	if (rc == 0)
		rc = rw_html_row(&html, "DNAR", dnar);
	s = json_string_value(json_object_get(card, "acp_summary"));
	if (rc == 0)
		rc = buf_appendf(&t, "%s", s != NULL ? s : "");
	if (rc == 0 && json_is_object(acp)) {
		const char *on = json_string_value(json_object_get(acp,
		    "discussed_on"));
		const char *who = json_string_value(json_object_get(acp,
		    "recorded_by_name"));

		if (on == NULL) {
			rw_date_of_ms(json_integer_value(json_object_get(acp,
			    "recorded_at")), when);
			on = when;
		}
		rc = buf_appendf(&t, "%s（人生会議 %s、記録 %s）", t.len ?
		    "\n" : "", on, who != NULL ? who : json_string_value(
		    json_object_get(acp, "recorded_by")));
	}
	if (rc == 0)
		rc = rw_html_row(&html, "ACP・本人の意思", rw_str(&t));
	buf_release(&t);
	if (rc == 0)
		rc = rw_html_row(&html, "希望搬送先", json_string_value(
		    json_object_get(card, "hospital")));
	if (rc == 0)
		rc = buf_appendf(&html, "</table><p class=\"d\">最終更新 ");
	if (rc == 0 && json_is_integer(json_object_get(card, "updated_at"))) {
		at = json_integer_value(json_object_get(card, "updated_at"));
		rw_date_of_ms(at, when);
		s = json_string_value(json_object_get(card, "updated_by_name"));
		by = json_string_value(json_object_get(card, "updated_by"));
		rc = buf_appendf(&html, "%s ", when);
		if (rc == 0)
			rc = rw_html_escape(&html, s != NULL ? s : by);
	} else if (rc == 0) {
		rc = buf_appendf(&html, "未記入");
	}
	if (rc == 0)
		rc = buf_appendf(&html, " / 印刷日 %s / 見直し ", today);
	s = json_string_value(json_object_get(card, "reviewed_at"));
	if (rc == 0)
		rc = buf_appendf(&html, "%s", s != NULL ? s : "未");
	s = json_string_value(json_object_get(card, "review_due"));
	if (rc == 0 && s != NULL)
		rc = buf_appendf(&html, "（次回 %s%s）", s,
		    json_is_true(json_object_get(card, "review_overdue")) ?
		    " 期限超過・要見直し" : "");
	if (rc == 0)
		rc = buf_appendf(&html, " / 部屋 ");
	if (rc == 0)
		rc = rw_html_escape(&html, room);
	if (rc == 0)
		rc = buf_appendf(&html, "</p><p class=\"d\">年に1回、内容を"
		    "見直してください。冷蔵庫など救急隊の目につく場所に貼って"
		    "ください。</p></body></html>\n");
	if (rc == 0)
		rc = buf_append(out, html.data, html.len);
out:
	buf_release(&html);
	buf_release(&t);
	json_decref(card);
	return rc;
}

/* --- admission and discharge sheets ------------------------------------------ */

/* Where a field's first value comes from. */
enum rw_src {
	SRC_NONE,		/* typed by people */
	SRC_PATIENT,		/* patients.<key> */
	SRC_CARD,		/* emergency_cards.<key> */
	SRC_MEDS,		/* the current medications */
	SRC_PRIMARY,		/* the main doctor */
	SRC_CARE_MANAGER,	/* the care manager(s) among the members */
	SRC_TEAM,		/* every active member */
	SRC_VITALS,		/* the last visit with vitals */
	SRC_WISHES,		/* the current ACP revision */
	SRC_DNAR,		/* the card's DNAR, else the ACP's */
	SRC_ADMITTED,		/* the latest admission sheet's date */
};

struct rw_field {
	const char *field, *label;
	enum rw_src src;
	const char *key;	/* the column for SRC_PATIENT, SRC_CARD */
	int date;		/* a date field: checked */
};

static const struct rw_field rw_admission_fields[] = {
	{ "patient_name", "氏名", SRC_PATIENT, "name", 0 },
	{ "name_kana", "ふりがな", SRC_PATIENT, "name_kana", 0 },
	{ "birth_date", "生年月日", SRC_PATIENT, "birth_date", 1 },
	{ "sex", "性別", SRC_PATIENT, "sex", 0 },
	{ "address", "住所", SRC_PATIENT, "address", 0 },
	{ "phone", "電話", SRC_PATIENT, "phone", 0 },
	{ "hospital", "入院先医療機関", SRC_CARD, "hospital", 0 },
	{ "admission_date", "入院日", SRC_NONE, NULL, 1 },
	{ "reason", "入院の理由・経緯", SRC_NONE, NULL, 0 },
	{ "care_level", "要介護度", SRC_CARD, "care_level", 0 },
	{ "diagnoses", "診断名・既往歴", SRC_CARD, "diagnoses", 0 },
	{ "allergies", "アレルギー", SRC_CARD, "allergies", 0 },
	{ "medications", "内服薬", SRC_MEDS, "medications", 0 },
	{ "primary_doctor", "かかりつけ医（主治医）", SRC_PRIMARY, NULL, 0 },
	{ "care_manager", "担当ケアマネジャー", SRC_CARE_MANAGER, NULL, 0 },
	{ "care_team", "在宅の支援チーム", SRC_TEAM, NULL, 0 },
	{ "family_contacts", "家族・キーパーソン", SRC_CARD,
	  "family_contacts", 0 },
	{ "living", "生活状況（同居・住環境）", SRC_NONE, NULL, 0 },
	{ "adl", "ADL（移動・食事・排泄・入浴）", SRC_NONE, NULL, 0 },
	{ "cognition", "認知機能・精神状態", SRC_NONE, NULL, 0 },
	{ "services", "利用中のサービス", SRC_NONE, NULL, 0 },
	{ "vitals", "最近のバイタル", SRC_VITALS, NULL, 0 },
	{ "wishes", "本人・家族の意向（ACP）", SRC_WISHES, NULL, 0 },
	{ "dnar", "DNAR", SRC_DNAR, NULL, 0 },
	{ "notes", "特記事項", SRC_NONE, NULL, 0 },
	{ NULL, NULL, SRC_NONE, NULL, 0 },
};

static const struct rw_field rw_discharge_fields[] = {
	{ "patient_name", "氏名", SRC_PATIENT, "name", 0 },
	{ "birth_date", "生年月日", SRC_PATIENT, "birth_date", 1 },
	{ "address", "住所", SRC_PATIENT, "address", 0 },
	{ "hospital", "入院先医療機関", SRC_CARD, "hospital", 0 },
	{ "admission_date", "入院日", SRC_ADMITTED, NULL, 1 },
	{ "discharge_date", "退院日", SRC_NONE, NULL, 1 },
	{ "diagnoses", "診断名", SRC_CARD, "diagnoses", 0 },
	{ "treatment", "入院中の経過・治療", SRC_NONE, NULL, 0 },
	{ "medications", "退院時処方", SRC_MEDS, "medications", 0 },
	{ "medical_care", "医療処置（在宅酸素・胃ろう・カテーテル等）",
	  SRC_NONE, NULL, 0 },
	{ "adl", "退院時のADL", SRC_NONE, NULL, 0 },
	{ "rehabilitation", "リハビリテーション", SRC_NONE, NULL, 0 },
	{ "nutrition", "栄養・食事形態", SRC_NONE, NULL, 0 },
	{ "follow_up", "外来受診・フォローアップ", SRC_NONE, NULL, 0 },
	{ "primary_doctor", "在宅の主治医", SRC_PRIMARY, NULL, 0 },
	{ "care_manager", "担当ケアマネジャー", SRC_CARE_MANAGER, NULL, 0 },
	{ "family_contacts", "家族・キーパーソン", SRC_CARD,
	  "family_contacts", 0 },
	{ "wishes", "本人・家族の意向（ACP）", SRC_WISHES, NULL, 0 },
	{ "notes", "特記事項・在宅への申し送り", SRC_NONE, NULL, 0 },
	{ NULL, NULL, SRC_NONE, NULL, 0 },
};

static const struct rw_field *
rw_sheet_fields(const char *kind)
{
	if (kind != NULL && strcmp(kind, "admission") == 0)
		return rw_admission_fields;
	if (kind != NULL && strcmp(kind, "discharge") == 0)
		return rw_discharge_fields;
	return NULL;
}

static const char *
rw_sheet_title(const char *kind)
{
	return strcmp(kind, "admission") == 0 ? "入院時情報提供書" :
	    "退院時情報（退院時連携シート）";
}

/* Staff lines "profession name（agency） TEL phone" of the active
 * members, only care managers if cm_only. */
static int
rw_members_text(sqlite3 *db, const char *room, int cm_only, struct buf *b)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = rw_prepare(db, "SELECT s.profession, coalesce(s.name, "
	    "m.staff_id), a.name, s.phone FROM memberships m LEFT JOIN staff s "
	    "ON s.id = m.staff_id LEFT JOIN agencies a ON a.id = s.agency_id "
	    "WHERE m.room_id = ?1 AND m.status = 'active' AND (NOT ?2 OR "
	    "s.profession = 'care-manager') ORDER BY s.profession, m.staff_id",
	    &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, cm_only);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *ag = rw_column_text(st, 2), *ph = rw_column_text(st,
		    3);

		if (b->len > 0)
			rc = buf_append(b, "\n", 1);
		if (rc == 0 && !cm_only)
			rc = buf_appendf(b, "%s ", rw_column_text(st, 0));
		if (rc == 0)
			rc = buf_appendf(b, "%s", rw_column_text(st, 1));
		if (rc == 0 && ag[0])
			rc = buf_appendf(b, "（%s）", ag);
		if (rc == 0 && ph[0])
			rc = buf_appendf(b, " TEL %s", ph);
	}
	sqlite3_finalize(st);
	return rc;
}

/* "YYYY-MM-DD 血圧 128/76 脈拍 72 体温 36.5 SpO2 97 呼吸 18 体重 45.0" of
 * the last visit that measured something. */
static int
rw_vitals_text(sqlite3 *db, const char *room, struct buf *b)
{
	sqlite3_stmt *st = NULL;
	char day[11];
	int rc;

	if ((rc = rw_prepare(db, "SELECT visited_at, bp_sys, bp_dia, pulse, "
	    "temp, spo2, resp, weight FROM visits WHERE room_id = ?1 AND "
	    "deleted_at IS NULL AND coalesce(bp_sys, pulse, temp, spo2, resp, "
	    "weight) IS NOT NULL ORDER BY visited_at DESC LIMIT 1", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		rw_date_of_ms(sqlite3_column_int64(st, 0), day);
		rc = buf_appendf(b, "%s", day);
		if (rc == 0 && sqlite3_column_type(st, 1) != SQLITE_NULL)
			rc = buf_appendf(b, " 血圧 %d/%d",
			    sqlite3_column_int(st, 1), sqlite3_column_int(st, 2));
		if (rc == 0 && sqlite3_column_type(st, 3) != SQLITE_NULL)
			rc = buf_appendf(b, " 脈拍 %d", sqlite3_column_int(st, 3));
		if (rc == 0 && sqlite3_column_type(st, 4) != SQLITE_NULL)
			rc = buf_appendf(b, " 体温 %.1f",
			    sqlite3_column_double(st, 4));
		if (rc == 0 && sqlite3_column_type(st, 5) != SQLITE_NULL)
			rc = buf_appendf(b, " SpO2 %d", sqlite3_column_int(st, 5));
		if (rc == 0 && sqlite3_column_type(st, 6) != SQLITE_NULL)
			rc = buf_appendf(b, " 呼吸 %d", sqlite3_column_int(st, 6));
		if (rc == 0 && sqlite3_column_type(st, 7) != SQLITE_NULL)
			rc = buf_appendf(b, " 体重 %.1fkg",
			    sqlite3_column_double(st, 7));
	}
	sqlite3_finalize(st);
	return rc;
}

/* The draft of a sheet: every field of kind filled from the room, as a
 * JSON object field -> text (absent when the room holds nothing). */
static int
rw_sheet_prefill(struct rec_ctx *c, const char *room, const char *kind,
    json_t **out, struct rk_why *why)
{
	const struct rw_field *f = rw_sheet_fields(kind);
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *o = NULL, *card = NULL, *acp = NULL, *meds = NULL;
	struct buf t = BUF_INIT;
	struct rw_room r;
	char *sql;
	int rc;

	if ((rc = rw_room_load(c, room, &r, why)) != 0)
		return rc;
	if ((o = json_object()) == NULL || (card = json_object()) == NULL ||
	    (acp = json_array()) == NULL || (meds = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	if ((rc = rw_acp_revisions(db, room, acp, why)) != 0 ||
	    (rc = rw_meds(c, room, 1, meds, why)) != 0)
		goto out;
	/* The card's row, field by field, for SRC_CARD and the doctors. */
	if ((rc = rw_prepare(db, "SELECT * FROM emergency_cards WHERE room_id "
	    "= ?1", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		int i;

		for (i = 0; i < sqlite3_column_count(st); i++)
			json_object_set_new(card, sqlite3_column_name(st, i),
			    rw_column_json(st, i));
	}
	sqlite3_finalize(st);
	st = NULL;
	if (json_object_set_new(card, "primary_doctor_member",
	    rw_staff_json(db, r.primary_doctor)) != 0) {
		rc = RK_ENOMEM;
		goto out;
	}

	for (; f->field != NULL; f++) {
		const char *v = NULL;
		char text[4096];

		buf_release(&t);
		text[0] = '\0';
		switch (f->src) {
		case SRC_NONE:
			break;
		case SRC_PATIENT:
			sql = sqlite3_mprintf("SELECT \"%w\" FROM patients WHERE "
			    "room_id = ?1", f->key);
			rc = sql ? rw_query_text(db, sql, room, NULL, text,
			    sizeof(text)) : RK_ENOMEM;
			sqlite3_free(sql);
			if (rc < 0)
				goto out;
			v = text;
			break;
		case SRC_CARD:
			v = json_string_value(json_object_get(card, f->key));
			break;
		case SRC_MEDS:
			if ((rc = rw_meds_text(&t, json_string_value(
			    json_object_get(card, "medications")), meds)) != 0)
				goto out;
			v = rw_str(&t);
			break;
		case SRC_PRIMARY:
			if ((rc = rw_doctor_line(&t, card, "primary_doctor",
			    "primary_doctor_phone",
			    "primary_doctor_member")) != 0)
				goto out;
			v = rw_str(&t);
			break;
		case SRC_CARE_MANAGER:
		case SRC_TEAM:
			if ((rc = rw_members_text(db, room, f->src ==
			    SRC_CARE_MANAGER, &t)) != 0)
				goto out;
			v = rw_str(&t);
			break;
		case SRC_VITALS:
			if ((rc = rw_vitals_text(db, room, &t)) != 0)
				goto out;
			v = rw_str(&t);
			break;
		case SRC_WISHES:
			if (json_array_size(acp) > 0) {
				json_t *a = json_array_get(acp, 0);
				const char *w = json_string_value(
				    json_object_get(a, "wishes"));
				const char *p = json_string_value(
				    json_object_get(a, "present"));

				if ((rc = buf_appendf(&t, "%s", w ? w : "")) ||
				    (p != NULL && (rc = buf_appendf(&t,
				    "\n（話し合った人: %s）", p)) != 0))
					goto out;
				v = rw_str(&t);
			}
			break;
		case SRC_DNAR:
			v = json_string_value(json_object_get(card, "dnar"));
			if ((v == NULL || !v[0]) && json_array_size(acp) > 0)
				v = json_string_value(json_object_get(
				    json_array_get(acp, 0), "dnar"));
			break;
		case SRC_ADMITTED:
			if ((rc = rw_query_text(db, "SELECT json_extract("
			    "content, '$.admission_date') FROM sheets WHERE "
			    "room_id = ?1 AND kind = 'admission' AND deleted_at "
			    "IS NULL ORDER BY created_at DESC, id DESC LIMIT 1",
			    room, NULL, text, sizeof(text))) < 0)
				goto out;
			v = text;
			break;
		}
		if (v != NULL && v[0] != '\0' &&
		    json_object_set_new(o, f->field, json_string(v)) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	*out = o;
	o = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	buf_release(&t);
	json_decref(o);
	json_decref(card);
	json_decref(acp);
	json_decref(meds);
	return rc;
}

/* The latest sheet of kind: 1 with its id and content (json_decref), 0
 * if none, or an rk_err. */
static int
rw_sheet_latest(sqlite3 *db, const char *room, const char *kind,
    char id[ID_LEN + 1], json_t **content, json_t **meta)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*content = *meta = NULL;
	if ((rc = rw_prepare(db, "SELECT id, content, created_by, created_at, "
	    "updated_by, updated_at FROM sheets WHERE room_id = ?1 AND kind = "
	    "?2 AND deleted_at IS NULL ORDER BY created_at DESC, id DESC "
	    "LIMIT 1", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(id, ID_LEN + 1, "%s", rw_column_text(st, 0));
		*content = json_loads(rw_column_text(st, 1), 0, NULL);
		if (*content == NULL || !json_is_object(*content)) {
			/* Kept as text if it is not ours: nothing is lost. */
			json_decref(*content);
			*content = json_pack("{s:s}", "notes",
			    rw_column_text(st, 1));
		}
		*meta = json_pack("{s:o, s:o, s:o, s:o}",
		    "created_by", rw_column_json(st, 2),
		    "created_at", rw_column_json(st, 3),
		    "updated_by", rw_column_json(st, 4),
		    "updated_at", rw_column_json(st, 5));
		rc = *content != NULL && *meta != NULL ? 1 : RK_ENOMEM;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = store_sqlite_err(db);
	}
	sqlite3_finalize(st);
	if (rc < 0) {
		json_decref(*content);
		json_decref(*meta);
		*content = *meta = NULL;
	}
	return rc;
}

/* The sheet (or draft) as the API returns it. */
static int
rw_sheet_view(struct rec_ctx *c, const char *room, const char *kind,
    json_t **out, struct rk_why *why)
{
	const struct rw_field *f = rw_sheet_fields(kind);
	sqlite3 *db = store_db(c->store);
	json_t *content = NULL, *meta = NULL, *fields = NULL, *o = NULL;
	char id[ID_LEN + 1];
	int rc, have;

	if ((have = rw_sheet_latest(db, room, kind, id, &content,
	    &meta)) < 0)
		return rk_whyf(why, have, "cannot read sheets");
	if (!have && (rc = rw_sheet_prefill(c, room, kind, &content,
	    why)) != 0)
		goto out;
	if ((fields = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	for (; f->field != NULL; f++) {
		json_t *v = json_object_get(content, f->field);
		json_t *e = json_pack("{s:s, s:s, s:O}", "field", f->field,
		    "label", f->label, "value", v != NULL ? v : json_null());

		if (e == NULL || json_array_append_new(fields, e) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	o = json_pack("{s:s, s:s, s:o, s:b, s:s, s:O}", "room_id", room,
	    "kind", kind, "id", have ? json_string(id) : json_null(), "draft",
	    !have, "title", rw_sheet_title(kind), "fields", fields);
	if (o == NULL || (meta != NULL && json_object_update(o, meta) != 0)) {
		rc = RK_ENOMEM;
		goto out;
	}
	*out = o;
	o = NULL;
	rc = 0;
out:
	json_decref(content);
	json_decref(meta);
	json_decref(fields);
	json_decref(o);
	return rc;
}

static int
rw_sheet_kind(const char *kind, struct rk_why *why)
{
	if (rw_sheet_fields(kind) == NULL)
		return rk_whyf(why, RK_EINVAL, "kind: '%s' is not a sheet "
		    "(admission, discharge)", kind ? kind : "");
	return 0;
}

int
roomwork_sheet_get(struct rec_ctx *c, const char *room, const char *kind,
    json_t **out, struct rk_why *why)
{
	char what[40];
	int rc;

	if ((rc = rw_sheet_kind(kind, why)) != 0 ||
	    (rc = rw_room_access(c, room, 0, NULL, why)) != 0)
		return rc;
	snprintf(what, sizeof(what), "%s sheet", kind);
	if ((rc = roomwork_audit_read(c, room, what)) != 0)
		return rk_whyf(why, rc, "cannot note the read in the audit "
		    "trail");
	return rw_sheet_view(c, room, kind, out, why);
}

int
roomwork_sheet_patch(struct rec_ctx *c, const char *room, const char *kind,
    json_t *in, json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "fields", "new", NULL };
	const struct rw_field *f;
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	json_t *fields, *content = NULL, *meta = NULL, *v, *nw;
	const char *key, *adm, *dis;
	char id[ID_LEN + 1], what[120], *text = NULL;
	int rc, have;

	if ((rc = rw_sheet_kind(kind, why)) != 0 ||
	    (rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, keys, why)) != 0)
		return rc;
	fields = json_object_get(in, "fields");
	nw = json_object_get(in, "new");
	if (nw != NULL && !json_is_boolean(nw))
		return rk_whyf(why, RK_EINVAL, "new: true or false");
	if (fields != NULL && !json_is_object(fields))
		return rk_whyf(why, RK_EINVAL, "fields: an object of field: "
		    "text");
	if ((fields == NULL || json_object_size(fields) == 0) &&
	    !json_is_true(nw))
		return rk_whyf(why, RK_EINVAL, "fields: give the fields to set "
		    "(or new: true to start a sheet from the room)");
	json_object_foreach(fields, key, v) {
		const char *s;

		for (f = rw_sheet_fields(kind); f->field != NULL; f++)
			if (strcmp(f->field, key) == 0)
				break;
		if (f->field == NULL)
			return rk_whyf(why, RK_EINVAL, "%s: not a field of the "
			    "%s sheet", key, kind);
		if ((rc = rw_opt_string(fields, key, &s, why)) != 0)
			return rc;
		if (f->date && s != NULL && (rc = rw_check_date(c, key, s,
		    !strcmp(key, "birth_date"), NULL, NULL, why)) != 0)
			return rc;
	}
	if ((rc = rw_room_access(c, room, 1, NULL, why)) != 0)
		return rc;
	if ((have = rw_sheet_latest(db, room, kind, id, &content,
	    &meta)) < 0)
		return rk_whyf(why, have, "cannot read sheets");
	if (!have || json_is_true(nw)) {
		json_decref(content);
		content = NULL;
		have = 0;
		if ((rc = rw_sheet_prefill(c, room, kind, &content, why)) != 0)
			goto out;
	}
	json_object_foreach(fields, key, v) {
		if (json_is_null(v) ? json_object_del(content, key), 0 :
		    json_object_set(content, key, v) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	/* A stay ends after it starts. */
	adm = json_string_value(json_object_get(content, "admission_date"));
	dis = json_string_value(json_object_get(content, "discharge_date"));
	if (adm != NULL && dis != NULL && rec_valid_date(adm) &&
	    strcmp(dis, adm) < 0) {
		rc = rk_whyf(why, RK_EINVAL, "discharge_date: %s is before the "
		    "admission date (%s)", dis, adm);
		goto out;
	}
	if ((text = json_dumps(content, JSON_COMPACT)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}

	if ((rc = rw_begin(c, room, !have, &tx, why)) != 0)
		goto out;
	if (!have) {
		id_new(store_clock(c->store), id);
		rc = rw_prepare(db, "INSERT INTO sheets (room_id, id, kind, "
		    "content, created_by, created_at, updated_by, updated_at, "
		    "hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, ?6, ?7)", &st);
	} else {
		rc = rw_prepare(db, "UPDATE sheets SET content = ?4, "
		    "updated_by = ?5, updated_at = ?6, hlc = ?7 WHERE room_id = "
		    "?1 AND id = ?2 AND kind = ?3", &st);
	}
	if (rc != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, store_tx_now_ms(tx));
	sqlite3_bind_int64(st, 7, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	snprintf(what, sizeof(what), "%s sheet %s %s", kind, id, have ?
	    "edited" : "created");
	rc = rw_commit(c, tx, room, what, NULL, why);
	tx = NULL;
	if (rc == 0)
		rc = rw_sheet_view(c, room, kind, out, why);
out:
	store_tx_abort(tx);
	free(text);
	json_decref(content);
	json_decref(meta);
	return rc;
}

int
roomwork_sheet_print(struct rec_ctx *c, const char *room, const char *kind,
    json_t **out, struct rk_why *why)
{
	struct buf html = BUF_INIT;
	json_t *sheet = NULL, *fields, *e;
	const char *s;
	char today[11], when[11];
	size_t i;
	int rc;

	if ((rc = roomwork_sheet_get(c, room, kind, &sheet, why)) != 0)
		return rc;
	rw_today(c, today);
	rc = rw_html_head(&html, rw_sheet_title(kind));
	if (rc == 0)
		rc = buf_appendf(&html, "<h1>%s</h1>", rw_sheet_title(kind));
	if (rc == 0 && json_is_true(json_object_get(sheet, "draft")))
		rc = buf_appendf(&html, "<p class=\"d\">下書き（部屋の記録から"
		    "作成、未保存）</p>");
	if (rc == 0)
		rc = buf_appendf(&html, "<table>");
	fields = json_object_get(sheet, "fields");
	json_array_foreach(fields, i, e) {
		if (rc == 0)
			rc = rw_html_row(&html, json_string_value(
			    json_object_get(e, "label")), json_string_value(
			    json_object_get(e, "value")));
	}
	if (rc == 0)
		rc = buf_appendf(&html, "</table><p class=\"d\">作成日 %s", today);
	if (rc == 0 && json_is_integer(json_object_get(sheet, "updated_at"))) {
		rw_date_of_ms(json_integer_value(json_object_get(sheet,
		    "updated_at")), when);
		s = json_string_value(json_object_get(sheet, "updated_by"));
		rc = buf_appendf(&html, " / 最終更新 %s ", when);
		if (rc == 0)
			rc = rw_html_escape(&html, s);
	}
	if (rc == 0)
		rc = buf_appendf(&html, " / 部屋 ");
	if (rc == 0)
		rc = rw_html_escape(&html, room);
	if (rc == 0)
		rc = buf_appendf(&html, "</p></body></html>\n");
	if (rc == 0 && buf_append(&html, "", 1) != 0)
		rc = RK_ENOMEM;
	if (rc == 0 && (*out = json_pack("{s:s, s:s, s:s}", "room_id", room,
	    "kind", kind, "html", (const char *)html.data)) == NULL)
		rc = RK_ENOMEM;
	buf_release(&html);
	json_decref(sheet);
	return rc;
}

int
roomwork_sheets_list(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;
	int rc;

	if ((rc = rw_room_access(c, room, 0, NULL, why)) != 0)
		return rc;
	if ((rc = roomwork_audit_read(c, room, "sheets")) != 0)
		return rk_whyf(why, rc, "cannot note the read in the audit "
		    "trail");
	if ((rc = rw_prepare(db, "SELECT id, kind, created_by, created_at, "
	    "updated_by, updated_at FROM sheets WHERE room_id = ?1 AND "
	    "deleted_at IS NULL ORDER BY created_at DESC, id DESC", &st)) != 0)
		return rk_whyf(why, rc, "cannot read sheets");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	if ((arr = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
		    "id", rw_column_json(st, 0), "kind", rw_column_json(st, 1),
		    "created_by", rw_column_json(st, 2),
		    "created_at", rw_column_json(st, 3),
		    "updated_by", rw_column_json(st, 4),
		    "updated_at", rw_column_json(st, 5));

		if (o == NULL || json_array_append_new(arr, o) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read sheets");
		goto out;
	}
	rc = (*out = json_pack("{s:s, s:O}", "room_id", room, "sheets",
	    arr)) ? 0 : RK_ENOMEM;
out:
	sqlite3_finalize(st);
	json_decref(arr);
	return rc;
}
