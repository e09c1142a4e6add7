/*
 * records.c - the local API's operations on a replica (see records.h).
 *
 * Validation comes first and names the field; then one captured
 * transaction (store_tx) does the write.  Reads check that the room exists
 * on this replica and that the acting staff member belongs to it.
 */
#include "daemon/records.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/api.h"
#include "common/id.h"
#include "common/log.h"
#include "common/vitals.h"
#include "daemon/conflicts.h"
#include "daemon/retention.h"
#include "daemon/roomwork.h"
#include "daemon/roomwork_int.h"
#include "daemon/store.h"
#include "schema/schema.h"

static const char *const rec_card_fields[] = { API_CARD_FIELDS, NULL };

/* --- small helpers ------------------------------------------------------ */

int
rec_valid_date(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, m, d, i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) ||
	    y % 400 == 0))
		return 0;
	return 1;
}

static int
rec_past_date(struct rec_ctx *c, const char *field, const char *v,
    struct rk_why *why)
{
	char today[11];

	if (!rec_valid_date(v))
		return rk_whyf(why, RK_EINVAL,
		    "%s: '%s' is not a date (YYYY-MM-DD)", field, v);
	rw_today(c, today);
	if (strcmp(v, today) > 0)
		return rk_whyf(why, RK_EINVAL, "%s: %s is in the future",
		    field, v);
	return 0;
}

/*
 * The room must exist here; for_write also requires it active.  The acting
 * staff member must be an active member.
 */
static int
rec_room_access(struct rec_ctx *c, const char *room, int for_write,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	int rc, member;
	char status[16] = "";

	if (!id_valid_name(room))
		return rk_whyf(why, RK_EINVAL, "room: '%s' is not a room id",
		    room);
	if ((rc = rw_prepare(db, "SELECT r.status, EXISTS (SELECT 1 FROM "
	    "memberships m WHERE m.room_id = r.room_id AND m.staff_id = ?2 "
	    "AND m.status = 'active') FROM rooms r WHERE r.room_id = ?1",
	    &st)) != 0)
		return rk_whyf(why, rc, "cannot read rooms");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->staff, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc == SQLITE_DONE) {
			char gone[400];

			if (retention_purged(db, room, gone, sizeof(gone)) == 1)
				return rk_whyf(why, RK_ENOTFOUND, "%s", gone);
			return rk_whyf(why, RK_ENOTFOUND,
			    "no room '%s' on this device", room);
		}
		return rk_whyf(why, store_sqlite_err(db), "cannot read rooms");
	}
	snprintf(status, sizeof(status), "%s", sqlite3_column_text(st, 0));
	member = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	/* The hub operator reads every room; nobody writes on the hub. */
	if (c->is_hub && for_write)
		return rk_whyf(why, RK_EDENIED, "posts, visits and card edits "
		    "are made on devices, not on the hub");
	if (!member && !c->is_hub)
		return rk_whyf(why, RK_EDENIED,
		    "%s is not a member of room '%s'", c->staff, room);
	if (for_write && strcmp(status, "active") != 0)
		return rk_whyf(why, RK_EDENIED,
		    "room '%s' is archived: read-only", room);
	return 0;
}

/* Notes a write in the audit trail inside its transaction (roomwork.h). */
static int
rec_audit_write(struct rec_ctx *c, const char *room, const char *what,
    const char *id, struct rk_why *why)
{
	char text[128];
	int rc;

	snprintf(text, sizeof(text), "%s%s%s", what, id ? " " : "",
	    id ? id : "");
	if ((rc = roomwork_audit_write(c, room, text)) != 0)
		return rk_whyf(why, rc, "cannot note the write in the audit "
		    "trail");
	return 0;
}

/* The same for a read, outside any transaction. */
static int
rec_audit_read(struct rec_ctx *c, const char *room, const char *what,
    struct rk_why *why)
{
	int rc;

	if ((rc = roomwork_audit_read(c, room, what)) != 0)
		return rk_whyf(why, rc, "cannot note the read in the audit "
		    "trail");
	return 0;
}

/* --- status and rooms ------------------------------------------------- */

static int
rec_count(sqlite3 *db, const char *sql, json_int_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = rw_prepare(db, sql, &st)) != 0)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*n = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = store_sqlite_err(db);
	}
	sqlite3_finalize(st);
	return rc;
}

static json_t *
rec_meta(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st = NULL;
	json_t *v;

	if (rw_prepare(db, "SELECT value FROM local_meta WHERE key = ?1",
	    &st) != 0)
		return json_null();
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	v = sqlite3_step(st) == SQLITE_ROW ? rw_column_json(st, 0) :
	    json_null();
	sqlite3_finalize(st);
	return v;
}

int
rec_status(struct rec_ctx *c, json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	json_int_t rooms = 0, pending = 0, refused = 0, likely = 0;
	int64_t conflicts = 0;
	json_t *o;

	if (conflicts_open_count(db, &conflicts) != 0 ||
	    rec_count(db, "SELECT count(*) FROM local_outbox_waiting WHERE"
	    " predicted_refusal IS NOT NULL", &likely) != 0 ||
	    rec_count(db, "SELECT count(*) FROM rooms", &rooms) != 0 ||
	    rec_count(db, "SELECT count(*) FROM local_outbox_waiting",
	    &pending) != 0 ||
	    rec_count(db, "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'refused'", &refused) != 0)
		return rk_whyf(why, RK_EDB, "cannot read the replica");
	o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:o, s:o, s:o, "
	    "s:I, s:i, s:I}",
	    "role", c->role, "device_id", c->device_id, "staff", c->staff,
	    "hub", c->hub_url && c->hub_url[0] ? json_string(c->hub_url) :
	    json_null(), "rooms", rooms, "pending", pending,
	    "refused", refused,
	    "last_sync", rec_meta(db, "last_sync"),
	    "last_error", rec_meta(db, "last_error"),
	    "last_refusal", rec_meta(db, "last_refusal"),
	    "conflicts", (json_int_t)conflicts,
	    "schema_version", schema_version(),
	    "likely_refused", likely);
	if (o == NULL)
		return RK_ENOMEM;
	/* Open and overdue requests, invitations, cards due for review. */
	if (roomwork_status(c, o) != 0) {
		json_decref(o);
		return rk_whyf(why, RK_EDB, "cannot read the replica");
	}
	*out = o;
	return 0;
}

int
rec_rooms_list(struct rec_ctx *c, json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *rooms = NULL, *o = NULL;
	int rc;

	if ((rc = rw_prepare(db, "SELECT r.room_id, r.kind, r.title, "
	    "r.status, p.name, (SELECT json_group_array(staff_id) FROM "
	    "memberships m WHERE m.room_id = r.room_id AND m.status = "
	    "'active') FROM rooms r LEFT JOIN patients p USING (room_id) "
	    "WHERE ?2 OR EXISTS (SELECT 1 FROM memberships m WHERE "
	    "m.room_id = r.room_id AND m.staff_id = ?1 AND m.status = "
	    "'active') ORDER BY r.room_id", &st)) != 0)
		return rk_whyf(why, rc, "cannot read rooms");
	sqlite3_bind_text(st, 1, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, c->is_hub);
	if ((rooms = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *members = json_loads(
		    (const char *)sqlite3_column_text(st, 5), 0, NULL);
		json_t *r = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
		    "room_id", rw_column_json(st, 0),
		    "kind", rw_column_json(st, 1),
		    "title", rw_column_json(st, 2),
		    "status", rw_column_json(st, 3),
		    "patient_name", rw_column_json(st, 4),
		    "members", members ? members : json_array());

		if (r == NULL || json_array_append_new(rooms, r) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read rooms");
		goto out;
	}
	if ((o = json_pack("{s:O}", "rooms", rooms)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	*out = o;
	rc = 0;
out:
	sqlite3_finalize(st);
	json_decref(rooms);
	return rc;
}

/* --- room creation ------------------------------------------------------ */

/*
 * A patient room needs a doctor or dentist among its members.  The rule is
 * the hub's to enforce (it knows the directory); a device checks it only
 * when it knows every member's profession already.
 */
static int
rec_check_doctor_rule(sqlite3 *db, json_t *members, struct rk_why *why)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	json_t *m;
	int known = 0, doctors = 0, rc;

	if ((rc = rw_prepare(db, "SELECT profession FROM staff WHERE id = ?1",
	    &st)) != 0)
		return rk_whyf(why, rc, "cannot read the directory");
	json_array_foreach(members, i, m) {
		sqlite3_bind_text(st, 1, json_string_value(m), -1,
		    SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			const char *p = (const char *)sqlite3_column_text(st, 0);

			known++;
			if (p && (!strcmp(p, "doctor") || !strcmp(p, "dentist")))
				doctors++;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (known == (int)json_array_size(members) && doctors == 0)
		return rk_whyf(why, RK_EDENIED, "members: a patient room needs a "
		    "doctor or dentist among its members");
	return 0;
}

int
rec_room_create(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *room, *pname, *cdate, *consenter, *cname, *relation;
	const char *scope, *paper, *bdate, *kind;
	json_t *members, *m, *all = NULL;
	char cid[ID_LEN + 1];
	size_t i;
	int rc, exists;
	int64_t seq = 0;

	if (!json_is_object(in))
		return rk_whyf(why, RK_EINVAL, "body: must be a JSON object");
	if ((rc = rw_req_string(in, "room_id", &room, why)) != 0 ||
	    (rc = rw_req_string(in, "patient_name", &pname, why)) != 0 ||
	    (rc = rw_req_string(in, "consent_date", &cdate, why)) != 0 ||
	    (rc = rw_opt_string(in, "kind", &kind, why)) != 0 ||
	    (rc = rw_opt_string(in, "consenter", &consenter, why)) != 0 ||
	    (rc = rw_opt_string(in, "consenter_name", &cname, why)) != 0 ||
	    (rc = rw_opt_string(in, "relation", &relation, why)) != 0 ||
	    (rc = rw_opt_string(in, "scope", &scope, why)) != 0 ||
	    (rc = rw_opt_string(in, "paper_location", &paper, why)) != 0 ||
	    (rc = rw_opt_string(in, "birth_date", &bdate, why)) != 0)
		return rc;
	if (!id_valid_name(room))
		return rk_whyf(why, RK_EINVAL, "room_id: '%s' is not a valid id "
		    "(letters, digits, '.', '_', '-'; at most 64)", room);
	if (kind != NULL && strcmp(kind, "patient") != 0)
		return rk_whyf(why, RK_EINVAL,
		    "kind: only patient rooms are made on a device");
	if ((rc = rec_past_date(c, "consent_date", cdate, why)) != 0)
		return rc;
	if (bdate != NULL && (rc = rec_past_date(c, "birth_date", bdate,
	    why)) != 0)
		return rc;
	if (consenter == NULL)
		consenter = "patient";
	if (strcmp(consenter, "patient") != 0 && strcmp(consenter, "family"))
		return rk_whyf(why, RK_EINVAL,
		    "consenter: must be 'patient' or 'family'");
	if (!strcmp(consenter, "family") && (cname == NULL || relation == NULL))
		return rk_whyf(why, RK_EINVAL, "consenter_name and relation: "
		    "required when a family member consents");
	members = json_object_get(in, "members");
	if (!json_is_array(members) || json_array_size(members) == 0)
		return rk_whyf(why, RK_EINVAL,
		    "members: at least one member is required");
	/* The creator is always a member. */
	if ((all = json_array()) == NULL ||
	    json_array_append_new(all, json_string(c->staff)) != 0) {
		rc = RK_ENOMEM;
		goto out;
	}
	json_array_foreach(members, i, m) {
		size_t k;
		json_t *seen;
		int dup = 0;

		if (!json_is_string(m) || !id_valid_name(json_string_value(m))) {
			rc = rk_whyf(why, RK_EINVAL,
			    "members[%zu]: not a staff id", i);
			goto out;
		}
		json_array_foreach(all, k, seen)
			dup |= json_equal(seen, m);
		if (!dup && json_array_append(all, m) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if ((rc = rec_check_doctor_rule(db, all, why)) != 0)
		goto out;

	if ((rc = store_tx_begin_append(c->store, room, &tx)) != 0) {
		rk_whyf(why, rc, "cannot start a write");
		goto out;
	}
	if ((rc = rw_prepare(db, "SELECT EXISTS (SELECT 1 FROM rooms WHERE "
	    "room_id = ?1)", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	exists = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (exists) {
		rc = rk_whyf(why, RK_EEXIST, "room_id: room '%s' already exists",
		    room);
		goto out;
	}

	if ((rc = rw_prepare(db, "INSERT INTO rooms (room_id, kind, title, "
	    "created_by, created_at, hlc) VALUES (?1, 'patient', ?2, ?3, ?4, "
	    "?5)", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, store_tx_now_ms(tx));
	sqlite3_bind_int64(st, 5, (sqlite3_int64)store_tx_hlc(tx));
	rc = rw_step_done(db, st, why);
	st = NULL;
	if (rc != 0)
		goto out;

	if ((rc = rw_prepare(db, "INSERT INTO patients (room_id, name, "
	    "birth_date, hlc) VALUES (?1, ?2, ?3, ?4)", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pname, -1, SQLITE_STATIC);
	rw_bind_text_or_null(st, 3, bdate);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)store_tx_hlc(tx));
	rc = rw_step_done(db, st, why);
	st = NULL;
	if (rc != 0)
		goto out;

	id_new(store_clock(c->store), cid);
	if ((rc = rw_prepare(db, "INSERT INTO consents (room_id, id, "
	    "consent_date, consenter, consenter_name, relation, scope, "
	    "paper_location, recorded_by, recorded_at, hlc) VALUES (?1, ?2, "
	    "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, cid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cdate, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, consenter, -1, SQLITE_STATIC);
	rw_bind_text_or_null(st, 5, cname);
	rw_bind_text_or_null(st, 6, relation);
	rw_bind_text_or_null(st, 7, scope);
	rw_bind_text_or_null(st, 8, paper);
	sqlite3_bind_text(st, 9, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, store_tx_now_ms(tx));
	sqlite3_bind_int64(st, 11, (sqlite3_int64)store_tx_hlc(tx));
	rc = rw_step_done(db, st, why);
	st = NULL;
	if (rc != 0)
		goto out;

	json_array_foreach(all, i, m) {
		if ((rc = rw_prepare(db, "INSERT INTO memberships (room_id, "
		    "staff_id, role, added_by, added_at, hlc) VALUES (?1, ?2, "
		    "?3, ?4, ?5, ?6)", &st)) != 0)
			goto out;
		sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, json_string_value(m), -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(st, 3, i == 0 ? "owner" : "member", -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(st, 4, c->staff, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, store_tx_now_ms(tx));
		sqlite3_bind_int64(st, 6, (sqlite3_int64)store_tx_hlc(tx));
		rc = rw_step_done(db, st, why);
		st = NULL;
		if (rc != 0)
			goto out;
	}
	st = NULL;
	if ((rc = roomwork_audit_write(c, room, "room created")) != 0) {
		rk_whyf(why, rc, "cannot note the write in the audit trail");
		goto out;
	}
	rc = store_tx_commit(tx, &seq, why);
	tx = NULL;
	if (rc != 0)
		goto out;
	if ((*out = json_pack("{s:s, s:I}", "room_id", room, "seq",
	    (json_int_t)seq)) == NULL)
		rc = RK_ENOMEM;
out:
	sqlite3_finalize(st);
	store_tx_abort(tx);
	json_decref(all);
	return rc;
}

/* --- posts and visits ---------------------------------------------------- */

int
rec_post_add(struct rec_ctx *c, const char *room, json_t *in, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *body;
	char id[ID_LEN + 1];
	int64_t seq = 0;
	int rc;

	if (!json_is_object(in))
		return rk_whyf(why, RK_EINVAL, "body: must be a JSON object");
	if ((rc = rw_req_string(in, "body", &body, why)) != 0)
		return rc;
	if ((rc = rec_room_access(c, room, 1, why)) != 0)
		return rc;
	if ((rc = store_tx_begin_append(c->store, room, &tx)) != 0)
		return rk_whyf(why, rc, "cannot start a write");
	id_new(store_clock(c->store), id);
	if ((rc = rw_prepare(db, "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, store_tx_now_ms(tx));
	sqlite3_bind_text(st, 5, body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)store_tx_hlc(tx));
	rc = rw_step_done(db, st, why);
	st = NULL;
	if (rc != 0)
		goto out;
	if ((rc = rec_audit_write(c, room, "post", id, why)) != 0)
		goto out;
	rc = store_tx_commit(tx, &seq, why);
	tx = NULL;
	if (rc == 0 && (*out = json_pack("{s:s, s:I}", "id", id, "seq",
	    (json_int_t)seq)) == NULL)
		rc = RK_ENOMEM;
out:
	store_tx_abort(tx);
	return rc;
}

static const char *const rec_vital_cols[] = {
	"bp_sys", "bp_dia", "pulse", "temp", "spo2", "resp", "weight", NULL,
};

int
rec_visit_add(struct rec_ctx *c, const char *room, json_t *in, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *note;
	double v[7];
	int have[7], nhave = 0, rc, i;
	char id[ID_LEN + 1];
	int64_t seq = 0, at;
	json_t *jat;

	if (!json_is_object(in))
		return rk_whyf(why, RK_EINVAL, "body: must be a JSON object");
	for (i = 0; rec_vital_cols[i] != NULL; i++) {
		json_t *x = json_object_get(in, rec_vital_cols[i]);

		have[i] = x != NULL && !json_is_null(x);
		if (!have[i])
			continue;
		if (!json_is_number(x))
			return rk_whyf(why, RK_EINVAL, "%s: must be a number",
			    rec_vital_cols[i]);
		v[i] = json_number_value(x);
		if ((rc = vital_check(rec_vital_cols[i], v[i], why)) != 0)
			return rc;
		nhave++;
	}
	if (have[0] != have[1])
		return rk_whyf(why, RK_EINVAL,
		    "bp: give both systolic and diastolic (e.g. 128/76)");
	if (have[0] && v[1] >= v[0])
		return rk_whyf(why, RK_EINVAL, "bp_dia: %g is not below the "
		    "systolic %g", v[1], v[0]);
	if ((rc = rw_opt_string(in, "note", &note, why)) != 0)
		return rc;
	if (nhave == 0 && (note == NULL || note[0] == '\0'))
		return rk_whyf(why, RK_EINVAL,
		    "visit: record at least one vital sign or a note");
	if ((rc = rec_room_access(c, room, 1, why)) != 0)
		return rc;
	if ((rc = store_tx_begin_append(c->store, room, &tx)) != 0)
		return rk_whyf(why, rc, "cannot start a write");
	at = store_tx_now_ms(tx);
	if ((jat = json_object_get(in, "visited_at")) != NULL &&
	    !json_is_null(jat)) {
		if (!json_is_integer(jat) || json_integer_value(jat) <= 0 ||
		    json_integer_value(jat) > at + 5 * 60 * 1000) {
			rc = rk_whyf(why, RK_EINVAL, "visited_at: must be a time "
			    "(ms) not in the future");
			goto out;
		}
		at = json_integer_value(jat);
	}
	id_new(store_clock(c->store), id);
	if ((rc = rw_prepare(db, "INSERT INTO visits (room_id, id, author, "
	    "visited_at, bp_sys, bp_dia, pulse, temp, spo2, resp, weight, "
	    "note, hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
	    "?12, ?13)", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, at);
	for (i = 0; rec_vital_cols[i] != NULL; i++) {
		if (!have[i])
			sqlite3_bind_null(st, 5 + i);
		else if (vital_range_for(rec_vital_cols[i])->integer)
			sqlite3_bind_int64(st, 5 + i, (sqlite3_int64)v[i]);
		else
			sqlite3_bind_double(st, 5 + i, v[i]);
	}
	rw_bind_text_or_null(st, 12, note);
	sqlite3_bind_int64(st, 13, (sqlite3_int64)store_tx_hlc(tx));
	rc = rw_step_done(db, st, why);
	st = NULL;
	if (rc != 0)
		goto out;
	if ((rc = rec_audit_write(c, room, "visit", id, why)) != 0)
		goto out;
	rc = store_tx_commit(tx, &seq, why);
	tx = NULL;
	if (rc == 0 && (*out = json_pack("{s:s, s:I}", "id", id, "seq",
	    (json_int_t)seq)) == NULL)
		rc = RK_ENOMEM;
out:
	store_tx_abort(tx);
	return rc;
}

int
rec_timeline(struct rec_ctx *c, const char *room, int limit, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *items = NULL;
	int rc;

	if ((rc = rec_room_access(c, room, 0, why)) != 0 ||
	    (rc = rec_audit_read(c, room, "timeline", why)) != 0)
		return rc;
	if (limit <= 0 || limit > 10000)
		limit = 10000;
	/* The newest `limit` items, shown oldest first. */
	if ((rc = rw_prepare(db, "SELECT * FROM (SELECT 'post', p.id, "
	    "p.author, s.name, p.created_at AS at, p.body, NULL, NULL, NULL, "
	    "NULL, NULL, NULL, NULL FROM posts p LEFT JOIN staff s ON s.id = "
	    "p.author WHERE p.room_id = ?1 AND p.deleted_at IS NULL "
	    "UNION ALL SELECT 'visit', v.id, v.author, s.name, v.visited_at, "
	    "v.note, v.bp_sys, v.bp_dia, v.pulse, v.temp, v.spo2, v.resp, "
	    "v.weight FROM visits v LEFT JOIN staff s ON s.id = v.author "
	    "WHERE v.room_id = ?1 AND v.deleted_at IS NULL "
	    "ORDER BY at DESC, 2 DESC LIMIT ?2) ORDER BY at, 2", &st)) != 0)
		return rk_whyf(why, rc, "cannot read the timeline");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, limit);
	if ((items = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		json_t *it;
		int i;

		it = json_pack("{s:s, s:o, s:o, s:o, s:o}", "type", type,
		    "id", rw_column_json(st, 1),
		    "author", rw_column_json(st, 2),
		    "author_name", rw_column_json(st, 3),
		    "at", rw_column_json(st, 4));
		if (it == NULL) {
			rc = RK_ENOMEM;
			goto out;
		}
		if (strcmp(type, "post") == 0) {
			json_object_set_new(it, "body", rw_column_json(st, 5));
		} else {
			for (i = 0; rec_vital_cols[i] != NULL; i++)
				json_object_set_new(it, rec_vital_cols[i],
				    rw_column_json(st, 6 + i));
			json_object_set_new(it, "note", rw_column_json(st, 5));
		}
		if (json_array_append_new(items, it) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db),
		    "cannot read the timeline");
		goto out;
	}
	if ((*out = json_pack("{s:s, s:O}", "room_id", room, "items",
	    items)) == NULL)
		rc = RK_ENOMEM;
	else
		rc = 0;
out:
	sqlite3_finalize(st);
	json_decref(items);
	return rc;
}

/* --- the emergency card ------------------------------------------------ */

int
rec_card_get(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	struct buf sql = BUF_INIT;
	json_t *o = NULL;
	int rc, i;

	if ((rc = rec_room_access(c, room, 0, why)) != 0 ||
	    (rc = rec_audit_read(c, room, "card", why)) != 0)
		return rc;
	rc = buf_appendf(&sql, "SELECT p.name, p.birth_date, e.updated_by, "
	    "e.updated_at");
	for (i = 0; rc == 0 && rec_card_fields[i] != NULL; i++)
		rc = buf_appendf(&sql, ", e.%s", rec_card_fields[i]);
	if (rc == 0)
		rc = buf_appendf(&sql, " FROM rooms r LEFT JOIN patients p "
		    "USING (room_id) LEFT JOIN emergency_cards e USING "
		    "(room_id) WHERE r.room_id = ?1");
	if (rc != 0)
		goto out;
	if ((rc = rw_prepare(db, (char *)sql.data, &st)) != 0) {
		rk_whyf(why, rc, "cannot read the card");
		goto out;
	}
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read the card");
		goto out;
	}
	if ((o = json_pack("{s:s, s:o, s:o}", "room_id", room,
	    "patient_name", rw_column_json(st, 0),
	    "birth_date", rw_column_json(st, 1))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	for (i = 0; rec_card_fields[i] != NULL; i++)
		json_object_set_new(o, rec_card_fields[i],
		    rw_column_json(st, 4 + i));
	json_object_set_new(o, "updated_by", rw_column_json(st, 2));
	json_object_set_new(o, "updated_at", rw_column_json(st, 3));
	/* What the room holds besides the card row: the patient's address,
	 * the main and deputy doctor, ACP, current medications, review. */
	if ((rc = roomwork_card_extras(c, room, o)) != 0) {
		rk_whyf(why, rc, "cannot read the card");
		goto out;
	}
	*out = o;
	o = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	buf_release(&sql);
	json_decref(o);
	return rc;
}

int
rec_card_patch(struct rec_ctx *c, const char *room, json_t *in, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	struct buf cols = BUF_INIT, vals = BUF_INIT, sets = BUF_INIT;
	struct buf sql = BUF_INIT;
	const char *key, *text[16];
	json_t *val;
	int n = 0, rc, i;

	if (!json_is_object(in) || json_object_size(in) == 0)
		return rk_whyf(why, RK_EINVAL,
		    "body: an object of card fields to set");
	json_object_foreach(in, key, val) {
		for (i = 0; rec_card_fields[i] != NULL; i++)
			if (strcmp(rec_card_fields[i], key) == 0)
				break;
		if (rec_card_fields[i] == NULL)
			return rk_whyf(why, RK_EINVAL, "%s: not a card field",
			    key);
		if ((rc = rw_opt_string(in, key, &text[n], why)) != 0)
			return rc;
		/* The yearly review's date: a real day, not in the future. */
		if (!strcmp(key, "reviewed_at") && text[n] != NULL &&
		    (rc = rec_past_date(c, "reviewed_at", text[n], why)) != 0)
			return rc;
		n++;
	}
	if ((rc = rec_room_access(c, room, 1, why)) != 0)
		return rc;

	/* Only the fields given are written, so the change carries just
	 * them: another member's edit of another field is not touched. */
	rc = buf_appendf(&cols, "room_id, updated_by, updated_at, hlc");
	if (rc == 0)
		rc = buf_appendf(&vals, "?1, ?2, ?3, ?4");
	if (rc == 0)
		rc = buf_appendf(&sets, "updated_by = excluded.updated_by, "
		    "updated_at = excluded.updated_at, hlc = excluded.hlc");
	i = 0;
	json_object_foreach(in, key, val) {
		if (rc == 0)
			rc = buf_appendf(&cols, ", %s", key);
		if (rc == 0)
			rc = buf_appendf(&vals, ", ?%d", 5 + i);
		if (rc == 0)
			rc = buf_appendf(&sets, ", %s = excluded.%s", key, key);
		i++;
	}
	if (rc == 0)
		rc = buf_appendf(&sql, "INSERT INTO emergency_cards (%s) VALUES "
		    "(%s) ON CONFLICT (room_id) DO UPDATE SET %s",
		    (char *)cols.data, (char *)vals.data, (char *)sets.data);
	if (rc != 0)
		goto out;

	if ((rc = store_tx_begin(c->store, room, &tx)) != 0) {
		rk_whyf(why, rc, "cannot start a write");
		goto out;
	}
	if ((rc = rw_prepare(db, (char *)sql.data, &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, store_tx_now_ms(tx));
	sqlite3_bind_int64(st, 4, (sqlite3_int64)store_tx_hlc(tx));
	for (i = 0; i < n; i++)
		rw_bind_text_or_null(st, 5 + i, text[i]);
	rc = rw_step_done(db, st, why);
	st = NULL;
	if (rc != 0)
		goto out;
	if ((rc = rec_audit_write(c, room, "card edited", NULL, why)) != 0)
		goto out;
	rc = store_tx_commit(tx, NULL, why);
	tx = NULL;
	if (rc == 0)
		rc = rec_card_get(c, room, out, why);
out:
	store_tx_abort(tx);
	buf_release(&cols);
	buf_release(&vals);
	buf_release(&sets);
	buf_release(&sql);
	return rc;
}

/* Drawn by roomwork_sheet.c with the other printable sheets. */
int
rec_card_html(struct rec_ctx *c, const char *room, struct buf *out,
    struct rk_why *why)
{
	return roomwork_card_html(c, room, out, why);
}

/* --- changes the hub refused ------------------------------------------- */

/* The rows of a captured changeset as [{"table", "op", "row": {col: v}}],
 * with column names from the schema. */
static int
rec_changeset_rows(sqlite3 *db, const void *cs, int n, json_t *rows)
{
	sqlite3_changeset_iter *it = NULL;
	sqlite3_stmt *ti = NULL;
	int rc = 0, step;

	if (sqlite3changeset_start(&it, n, (void *)cs) != SQLITE_OK)
		return RK_EPROTO;
	if (rw_prepare(db, "SELECT name FROM pragma_table_info(?1) ORDER BY "
	    "cid", &ti) != 0) {
		sqlite3changeset_finalize(it);
		return RK_EDB;
	}
	while ((step = sqlite3changeset_next(it)) == SQLITE_ROW) {
		const char *table;
		int ncol, op, ind, i;
		json_t *row = json_object(), *o;

		sqlite3changeset_op(it, &table, &ncol, &op, &ind);
		sqlite3_bind_text(ti, 1, table, -1, SQLITE_TRANSIENT);
		for (i = 0; i < ncol && row != NULL; i++) {
			sqlite3_value *v = NULL;
			const char *name;

			if (sqlite3_step(ti) != SQLITE_ROW)
				break;
			name = (const char *)sqlite3_column_text(ti, 0);
			if (op == SQLITE_DELETE)
				sqlite3changeset_old(it, i, &v);
			else
				sqlite3changeset_new(it, i, &v);
			if (v == NULL)
				continue;	/* an UPDATE's unchanged column */
			switch (sqlite3_value_type(v)) {
			case SQLITE_INTEGER:
				o = json_integer(sqlite3_value_int64(v));
				break;
			case SQLITE_FLOAT:
				o = json_real(sqlite3_value_double(v));
				break;
			case SQLITE_TEXT:
				o = json_string((const char *)
				    sqlite3_value_text(v));
				break;
			case SQLITE_NULL:
				o = json_null();
				break;
			default:
				o = json_string("(binary)");
			}
			json_object_set_new(row, name, o);
		}
		sqlite3_reset(ti);
		o = json_pack("{s:s, s:s, s:o}", "table", table, "op",
		    op == SQLITE_INSERT ? "insert" : op == SQLITE_UPDATE ?
		    "update" : "delete", "row", row ? row : json_null());
		if (o == NULL || json_array_append_new(rows, o) != 0) {
			rc = RK_ENOMEM;
			break;
		}
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = RK_EPROTO;
	sqlite3_finalize(ti);
	sqlite3changeset_finalize(it);
	return rc;
}

int
rec_refused(struct rec_ctx *c, json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *list = NULL;
	int rc;

	if ((rc = rw_prepare(db, "SELECT seq, room_id, created_at, "
	    "refused_reason, changeset FROM local_outbox WHERE status = "
	    "'refused' ORDER BY seq", &st)) != 0)
		return rk_whyf(why, rc, "cannot read the outbox");
	if ((list = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *rows = json_array(), *e;

		if (rows == NULL) {
			rc = RK_ENOMEM;
			goto out;
		}
		{
			const void *raw;
			size_t rawlen;
			void *owned = NULL;

			rc = store_outbox_raw(sqlite3_column_blob(st, 4),
			    (size_t)sqlite3_column_bytes(st, 4), &raw, &rawlen,
			    &owned);
			if (rc == 0)
				rc = rawlen > INT32_MAX ? RK_EPROTO :
				    rec_changeset_rows(db, raw, (int)rawlen,
				    rows);
			free(owned);
		}
		if (rc != 0) {
			json_decref(rows);
			rk_whyf(why, rc, "outbox entry %lld cannot be read",
			    (long long)sqlite3_column_int64(st, 0));
			goto out;
		}
		e = json_pack("{s:I, s:o, s:o, s:o, s:o}",
		    "seq", (json_int_t)sqlite3_column_int64(st, 0),
		    "room_id", rw_column_json(st, 1),
		    "at", rw_column_json(st, 2),
		    "reason", rw_column_json(st, 3), "rows", rows);
		if (e == NULL || json_array_append_new(list, e) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read the outbox");
		goto out;
	}
	if ((*out = json_pack("{s:O}", "refused", list)) == NULL)
		rc = RK_ENOMEM;
	else
		rc = 0;
out:
	sqlite3_finalize(st);
	json_decref(list);
	return rc;
}
