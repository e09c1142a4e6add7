/*
 * roomwork_clinical.c - the patient's details, ACP (人生会議) revisions and
 * the medication list of a room.
 *
 * ACP revisions are only ever added: the history is the record of who
 * wished what, when, and who was there.  The latest revision is the
 * current one; recording it also sets the emergency card's ACP summary
 * (and DNAR when given) in the same write, so the card a crew reads never
 * lags behind.  Medication fields are clinical (review policy in
 * conflict/columns.c): two offline edits keep both values for a person to
 * confirm.
 */
#include "daemon/roomwork.h"

#include <stdio.h>
#include <string.h>

#include "common/id.h"
#include "daemon/roomwork_int.h"
#include "daemon/store.h"

/* --- the patient ---------------------------------------------------------- */

static const char *const rw_patient_fields[] = {
	"name", "name_kana", "birth_date", "sex", "address", "phone", NULL,
};

int
roomwork_patient_get(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *o = NULL;
	int rc, i;

	if ((rc = rw_room_access(c, room, 0, NULL, why)) != 0)
		return rc;
	if ((rc = roomwork_audit_read(c, room, "patient")) != 0)
		return rk_whyf(why, rc, "cannot note the read in the audit "
		    "trail");
	if ((rc = rw_prepare(db, "SELECT p.name, p.name_kana, p.birth_date, "
	    "p.sex, p.address, p.phone FROM rooms r LEFT JOIN patients p "
	    "USING (room_id) WHERE r.room_id = ?1", &st)) != 0)
		return rk_whyf(why, rc, "cannot read the patient");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read the "
		    "patient");
		goto out;
	}
	if ((o = json_pack("{s:s}", "room_id", room)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	for (i = 0; rw_patient_fields[i] != NULL; i++)
		if (json_object_set_new(o, rw_patient_fields[i],
		    rw_column_json(st, i)) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	*out = o;
	o = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	json_decref(o);
	return rc;
}

int
roomwork_patient_patch(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	struct buf sql = BUF_INIT, what = BUF_INIT;
	const char *key, *text[8];
	json_t *val;
	int64_t have = 0;
	int rc, n = 0, i;

	if ((rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, rw_patient_fields, why)) != 0)
		return rc;
	if (json_object_size(in) == 0)
		return rk_whyf(why, RK_EINVAL, "body: give the patient fields "
		    "to set (name, name_kana, birth_date, sex, address, "
		    "phone)");
	json_object_foreach(in, key, val) {
		if ((rc = rw_opt_string(in, key, &text[n], why)) != 0)
			return rc;
		if (!strcmp(key, "name") && (text[n] == NULL ||
		    strspn(text[n], " \t") == strlen(text[n])))
			return rk_whyf(why, RK_EINVAL, "name: the patient's "
			    "name cannot be empty");
		if (!strcmp(key, "birth_date") && text[n] != NULL &&
		    (rc = rw_check_date(c, "birth_date", text[n], 1, NULL,
		    NULL, why)) != 0)
			return rc;
		n++;
	}
	if ((rc = rw_room_access(c, room, 1, NULL, why)) != 0)
		return rc;
	if ((rc = rw_query_int(db, "SELECT count(*) FROM patients WHERE "
	    "room_id = ?1", room, NULL, &have)) != 0)
		return rk_whyf(why, rc, "cannot read the patient");
	if (!have && json_object_get(in, "name") == NULL)
		return rk_whyf(why, RK_EINVAL, "name: required (room %s has no "
		    "patient yet)", room);

	/* Only the fields given are written, so the change carries just
	 * them. */
	rc = have ? buf_appendf(&sql, "UPDATE patients SET hlc = ?2") :
	    buf_appendf(&sql, "INSERT INTO patients (room_id, hlc");
	if (rc == 0)
		rc = buf_appendf(&what, "patient edited:");
	i = 0;
	json_object_foreach(in, key, val) {
		if (rc == 0)
			rc = have ? buf_appendf(&sql, ", %s = ?%d", key, 3 + i) :
			    buf_appendf(&sql, ", %s", key);
		if (rc == 0)
			rc = buf_appendf(&what, " %s", key);
		i++;
	}
	if (rc == 0 && have)
		rc = buf_appendf(&sql, " WHERE room_id = ?1");
	if (rc == 0 && !have) {
		rc = buf_appendf(&sql, ") VALUES (?1, ?2");
		for (i = 0; rc == 0 && i < n; i++)
			rc = buf_appendf(&sql, ", ?%d", 3 + i);
		if (rc == 0)
			rc = buf_appendf(&sql, ")");
	}
	if (rc == 0)
		rc = buf_append(&sql, "", 1);
	if (rc == 0)
		rc = buf_append(&what, "", 1);
	if (rc != 0)
		goto out;

	if ((rc = rw_begin(c, room, !have, &tx, why)) != 0)
		goto out;
	if ((rc = rw_prepare(db, (const char *)sql.data, &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)store_tx_hlc(tx));
	for (i = 0; i < n; i++)
		rw_bind_text_or_null(st, 3 + i, text[i]);
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	rc = rw_commit(c, tx, room, (const char *)what.data, NULL, why);
	tx = NULL;
	if (rc == 0)
		rc = roomwork_patient_get(c, room, out, why);
out:
	store_tx_abort(tx);
	buf_release(&sql);
	buf_release(&what);
	return rc;
}

/* --- ACP ------------------------------------------------------------------ */

#define RW_ACP_COLS "a.id, a.recorded_by, s.name, a.recorded_at, " \
	"a.discussed_on, a.present, a.wishes, a.dnar, a.summary"

static json_t *
rw_acp_json(sqlite3_stmt *st)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "id", rw_column_json(st, 0),
	    "recorded_by", rw_column_json(st, 1),
	    "recorded_by_name", rw_column_json(st, 2),
	    "recorded_at", rw_column_json(st, 3),
	    "discussed_on", rw_column_json(st, 4),
	    "present", rw_column_json(st, 5),
	    "wishes", rw_column_json(st, 6),
	    "dnar", rw_column_json(st, 7),
	    "summary", rw_column_json(st, 8));
}

int
rw_acp_revisions(sqlite3 *db, const char *room, json_t *arr,
    struct rk_why *why)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = rw_prepare(db, "SELECT " RW_ACP_COLS " FROM acp_revisions a "
	    "LEFT JOIN staff s ON s.id = a.recorded_by WHERE a.room_id = ?1 "
	    "AND a.deleted_at IS NULL ORDER BY a.recorded_at DESC, a.id DESC",
	    &st)) != 0)
		return rk_whyf(why, rc, "cannot read ACP");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *r = rw_acp_json(st);

		if (r == NULL || json_array_append_new(arr, r) != 0) {
			sqlite3_finalize(st);
			return RK_ENOMEM;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rk_whyf(why, store_sqlite_err(db), "cannot read ACP");
	return 0;
}

int
roomwork_acp_list(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why)
{
	json_t *arr = NULL;
	int rc;

	if ((rc = rw_room_access(c, room, 0, NULL, why)) != 0)
		return rc;
	if ((rc = roomwork_audit_read(c, room, "acp")) != 0)
		return rk_whyf(why, rc, "cannot note the read in the audit "
		    "trail");
	if ((arr = json_array()) == NULL)
		return RK_ENOMEM;
	if ((rc = rw_acp_revisions(store_db(c->store), room, arr, why)) == 0 &&
	    (*out = json_pack("{s:s, s:O, s:O}", "room_id", room, "current",
	    json_array_size(arr) ? json_array_get(arr, 0) : json_null(),
	    "revisions", arr)) == NULL)
		rc = RK_ENOMEM;
	json_decref(arr);
	return rc;
}

int
roomwork_acp_record(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "wishes", "present", "dnar",
	    "summary", "discussed_on", NULL };
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *wishes, *present, *dnar, *summary, *on;
	char id[ID_LEN + 1], what[80];
	int64_t seq = 0;
	int rc;

	if ((rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, keys, why)) != 0 ||
	    (rc = rw_req_string(in, "wishes", &wishes, why)) != 0 ||
	    (rc = rw_req_string(in, "present", &present, why)) != 0 ||
	    (rc = rw_opt_string(in, "dnar", &dnar, why)) != 0 ||
	    (rc = rw_opt_string(in, "summary", &summary, why)) != 0 ||
	    (rc = rw_opt_string(in, "discussed_on", &on, why)) != 0)
		return rc;
	if (on != NULL && (rc = rw_check_date(c, "discussed_on", on, 1, NULL,
	    NULL, why)) != 0)
		return rc;
	if ((rc = rw_room_access(c, room, 1, NULL, why)) != 0)
		return rc;

	if ((rc = rw_begin(c, room, 0, &tx, why)) != 0)
		return rc;
	id_new(store_clock(c->store), id);
	if ((rc = rw_prepare(db, "INSERT INTO acp_revisions (room_id, id, "
	    "recorded_by, recorded_at, discussed_on, present, wishes, dnar, "
	    "summary, hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	    &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, store_tx_now_ms(tx));
	rw_bind_text_or_null(st, 5, on);
	sqlite3_bind_text(st, 6, present, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, wishes, -1, SQLITE_STATIC);
	rw_bind_text_or_null(st, 8, dnar);
	rw_bind_text_or_null(st, 9, summary);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	/* The current summary feeds the card (only the columns it sets). */
	if ((rc = rw_prepare(db, dnar != NULL ? "INSERT INTO emergency_cards "
	    "(room_id, acp_summary, dnar, updated_by, updated_at, hlc) VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (room_id) DO UPDATE SET "
	    "acp_summary = excluded.acp_summary, dnar = excluded.dnar, "
	    "updated_by = excluded.updated_by, updated_at = "
	    "excluded.updated_at, hlc = excluded.hlc" : "INSERT INTO "
	    "emergency_cards (room_id, acp_summary, updated_by, updated_at, "
	    "hlc) VALUES (?1, ?2, ?4, ?5, ?6) ON CONFLICT (room_id) DO UPDATE "
	    "SET acp_summary = excluded.acp_summary, updated_by = "
	    "excluded.updated_by, updated_at = excluded.updated_at, hlc = "
	    "excluded.hlc", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, summary != NULL ? summary : wishes, -1,
	    SQLITE_STATIC);
	rw_bind_text_or_null(st, 3, dnar);
	sqlite3_bind_text(st, 4, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, store_tx_now_ms(tx));
	sqlite3_bind_int64(st, 6, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	snprintf(what, sizeof(what), "acp revision %s recorded", id);
	rc = rw_commit(c, tx, room, what, &seq, why);
	tx = NULL;
	if (rc == 0 && (*out = json_pack("{s:s, s:I}", "id", id, "seq",
	    (json_int_t)seq)) == NULL)
		rc = RK_ENOMEM;
out:
	store_tx_abort(tx);
	return rc;
}

/* --- medications ------------------------------------------------------------ */

#define RW_MED_COLS "id, name, dose, route, frequency, start_date, " \
	"stop_date, prescriber"
#define RW_MED_CURRENT "(deleted_at IS NULL AND (start_date IS NULL OR " \
	"start_date <= ?2) AND (stop_date IS NULL OR stop_date >= ?2))"

static json_t *
rw_med_json(sqlite3_stmt *st)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}",
	    "id", rw_column_json(st, 0),
	    "name", rw_column_json(st, 1),
	    "dose", rw_column_json(st, 2),
	    "route", rw_column_json(st, 3),
	    "frequency", rw_column_json(st, 4),
	    "start_date", rw_column_json(st, 5),
	    "stop_date", rw_column_json(st, 6),
	    "prescriber", rw_column_json(st, 7),
	    "current", sqlite3_column_int(st, 8));
}

int
rw_meds(struct rec_ctx *c, const char *room, int current_only, json_t *arr,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	char today[11];
	int rc;

	rw_today(c, today);
	if ((rc = rw_prepare(db, "SELECT " RW_MED_COLS ", " RW_MED_CURRENT
	    " AS cur FROM medications WHERE room_id = ?1 AND deleted_at IS "
	    "NULL AND (NOT ?3 OR " RW_MED_CURRENT ") ORDER BY cur DESC, "
	    "start_date, id", &st)) != 0)
		return rk_whyf(why, rc, "cannot read medications");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, today, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, current_only);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *m = rw_med_json(st);

		if (m == NULL || json_array_append_new(arr, m) != 0) {
			sqlite3_finalize(st);
			return RK_ENOMEM;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rk_whyf(why, store_sqlite_err(db), "cannot read "
		    "medications");
	return 0;
}

int
roomwork_meds_list(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why)
{
	json_t *arr = NULL;
	int rc;

	if ((rc = rw_room_access(c, room, 0, NULL, why)) != 0)
		return rc;
	if ((rc = roomwork_audit_read(c, room, "medications")) != 0)
		return rk_whyf(why, rc, "cannot note the read in the audit "
		    "trail");
	if ((arr = json_array()) == NULL)
		return RK_ENOMEM;
	if ((rc = rw_meds(c, room, 0, arr, why)) == 0 &&
	    (*out = json_pack("{s:s, s:O}", "room_id", room, "medications",
	    arr)) == NULL)
		rc = RK_ENOMEM;
	json_decref(arr);
	return rc;
}

static int
rw_med_load(struct rec_ctx *c, const char *room, const char *id,
    json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	char today[11];
	int rc;

	rw_today(c, today);
	if ((rc = rw_prepare(db, "SELECT " RW_MED_COLS ", " RW_MED_CURRENT
	    " FROM medications WHERE room_id = ?1 AND id = ?3", &st)) != 0)
		return rk_whyf(why, rc, "cannot read medications");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, today, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = (*out = rw_med_json(st)) != NULL ? 0 : RK_ENOMEM;
	else
		rc = rk_whyf(why, RK_ENOTFOUND, "id: no medication %s in room "
		    "%s", id, room);
	sqlite3_finalize(st);
	return rc;
}

int
roomwork_med_add(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "name", "dose", "route",
	    "frequency", "start_date", "stop_date", "prescriber", NULL };
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *v[7];
	char id[ID_LEN + 1], what[80];
	int64_t seq = 0;
	int rc, i;

	if ((rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, keys, why)) != 0 ||
	    (rc = rw_req_string(in, "name", &v[0], why)) != 0)
		return rc;
	for (i = 1; keys[i] != NULL; i++)
		if ((rc = rw_opt_string(in, keys[i], &v[i], why)) != 0)
			return rc;
	if (v[4] != NULL && (rc = rw_check_date(c, "start_date", v[4], 0,
	    NULL, NULL, why)) != 0)
		return rc;
	if (v[5] != NULL && (rc = rw_check_date(c, "stop_date", v[5], 0,
	    v[4], "the start date", why)) != 0)
		return rc;
	if ((rc = rw_room_access(c, room, 1, NULL, why)) != 0)
		return rc;

	if ((rc = rw_begin(c, room, 1, &tx, why)) != 0)
		return rc;
	id_new(store_clock(c->store), id);
	if ((rc = rw_prepare(db, "INSERT INTO medications (room_id, id, name, "
	    "dose, route, frequency, start_date, stop_date, prescriber, hlc) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	for (i = 0; i < 7; i++)
		rw_bind_text_or_null(st, 3 + i, v[i]);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	snprintf(what, sizeof(what), "medication %s added", id);
	rc = rw_commit(c, tx, room, what, &seq, why);
	tx = NULL;
	if (rc == 0 && (*out = json_pack("{s:s, s:I}", "id", id, "seq",
	    (json_int_t)seq)) == NULL)
		rc = RK_ENOMEM;
out:
	store_tx_abort(tx);
	return rc;
}

int
roomwork_med_stop(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "id", "stop_date", NULL };
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *id, *stop;
	char start[16] = "", old[16] = "", what[80];
	int rc, got;

	if ((rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, keys, why)) != 0 ||
	    (rc = rw_req_string(in, "id", &id, why)) != 0 ||
	    (rc = rw_req_string(in, "stop_date", &stop, why)) != 0)
		return rc;
	if ((rc = rw_room_access(c, room, 1, NULL, why)) != 0)
		return rc;
	if ((rc = rw_prepare(db, "SELECT start_date, stop_date FROM "
	    "medications WHERE room_id = ?1 AND id = ?2 AND deleted_at IS "
	    "NULL", &st)) != 0)
		return rk_whyf(why, rc, "cannot read medications");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	got = sqlite3_step(st);
	if (got == SQLITE_ROW) {
		snprintf(start, sizeof(start), "%s", rw_column_text(st, 0));
		snprintf(old, sizeof(old), "%s", rw_column_text(st, 1));
	}
	sqlite3_finalize(st);
	st = NULL;
	if (got != SQLITE_ROW)
		return rk_whyf(why, RK_ENOTFOUND, "id: no medication %s in room "
		    "%s", id, room);
	if ((rc = rw_check_date(c, "stop_date", stop, 0, start[0] ? start :
	    NULL, "the start date", why)) != 0)
		return rc;
	if (strcmp(old, stop) == 0)
		return rw_med_load(c, room, id, out, why);

	if ((rc = rw_begin(c, room, 0, &tx, why)) != 0)
		return rc;
	if ((rc = rw_prepare(db, "UPDATE medications SET stop_date = ?3, hlc = "
	    "?4 WHERE room_id = ?1 AND id = ?2", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, stop, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	snprintf(what, sizeof(what), "medication %s stopped", id);
	rc = rw_commit(c, tx, room, what, NULL, why);
	tx = NULL;
	if (rc == 0)
		rc = rw_med_load(c, room, id, out, why);
out:
	store_tx_abort(tx);
	return rc;
}
