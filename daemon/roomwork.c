/*
 * roomwork.c - requests (依頼), read receipts, members (invitations, the
 * doctor or dentist rule when someone leaves, main and deputy doctor),
 * archiving and the status counts; plus the helpers the other roomwork
 * files share (roomwork_int.h).
 *
 * Each call validates everything first and names the field; then one
 * captured transaction on the room does the write and notes it in the
 * audit trail (rw_commit).  Reads note themselves too (roomwork_audit.c).
 */
#include "daemon/roomwork.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/api.h"
#include "common/id.h"
#include "common/log.h"
#include "daemon/retention.h"
#include "daemon/roomwork_int.h"
#include "daemon/store.h"

/* ======================================================================
 * Shared helpers (roomwork_int.h)
 * ====================================================================== */

int
rw_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
		log_warnx("roomwork: %s: %s", sql, sqlite3_errmsg(db));
		return RK_EDB;
	}
	return 0;
}

int
rw_step_done(sqlite3 *db, sqlite3_stmt *st, struct rk_why *why)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	return rk_whyf(why, store_sqlite_err(db), "cannot save: %s",
	    sqlite3_errmsg(db));
}

void
rw_bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

json_t *
rw_column_json(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, i));
	case SQLITE_FLOAT:
		return json_real(sqlite3_column_double(st, i));
	case SQLITE_TEXT:
		return json_string((const char *)sqlite3_column_text(st, i));
	default:
		return json_null();
	}
}

const char *
rw_column_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s != NULL ? (const char *)s : "";
}

int
rw_query_int(sqlite3 *db, const char *sql, const char *p1, const char *p2,
    int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = rw_prepare(db, sql, &st)) != 0)
		return rc;
	if (p1 != NULL)
		sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
	if (p2 != NULL)
		sqlite3_bind_text(st, 2, p2, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = store_sqlite_err(db);
	}
	sqlite3_finalize(st);
	return rc;
}

int
rw_query_text(sqlite3 *db, const char *sql, const char *p1, const char *p2,
    char *out, size_t outlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	out[0] = '\0';
	if ((rc = rw_prepare(db, sql, &st)) != 0)
		return rc;
	if (p1 != NULL)
		sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
	if (p2 != NULL)
		sqlite3_bind_text(st, 2, p2, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out, outlen, "%s", rw_column_text(st, 0));
		rc = 1;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = store_sqlite_err(db);
	}
	sqlite3_finalize(st);
	return rc;
}

int
rw_opt_string(json_t *in, const char *key, const char **out,
    struct rk_why *why)
{
	json_t *v = json_object_get(in, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return rk_whyf(why, RK_EINVAL, "%s: must be text", key);
	if (json_string_length(v) > API_MAX_TEXT)
		return rk_whyf(why, RK_EINVAL, "%s: longer than %d bytes", key,
		    API_MAX_TEXT);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return rk_whyf(why, RK_EINVAL, "%s: contains a NUL byte", key);
	*out = json_string_value(v);
	return 0;
}

int
rw_req_string(json_t *in, const char *key, const char **out,
    struct rk_why *why)
{
	int rc;

	if ((rc = rw_opt_string(in, key, out, why)) != 0)
		return rc;
	if (*out == NULL || strspn(*out, " \t\r\n") == strlen(*out))
		return rk_whyf(why, RK_EINVAL, "%s: required", key);
	return 0;
}

int
rw_need_object(json_t *in, int allow_null, struct rk_why *why)
{
	if (in == NULL && allow_null)
		return 0;
	if (!json_is_object(in))
		return rk_whyf(why, RK_EINVAL, "body: must be a JSON object");
	return 0;
}

int
rw_known_keys(json_t *in, const char *const *keys, struct rk_why *why)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(in, key, v) {
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(keys[i], key) == 0)
				break;
		if (keys[i] == NULL)
			return rk_whyf(why, RK_EINVAL, "%s: not a field of "
			    "this call", key);
	}
	return 0;
}

void
rw_date_of_ms(int64_t ms, char out[11])
{
	time_t t = (time_t)(ms / 1000) + 9 * 3600;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

void
rw_today(struct rec_ctx *c, char out[11])
{
	rw_date_of_ms(rk_now_ms(store_clock(c->store)), out);
}

void
rw_plus_year(const char *d, char out[11])
{
	int y = atoi(d), m = atoi(d + 5), day = atoi(d + 8);
	char t[40];

	if (m == 2 && day == 29)
		day = 28;
	snprintf(t, sizeof(t), "%04d-%02d-%02d", (y + 1) % 10000, m % 100,
	    day % 100);
	memcpy(out, t, 10);
	out[10] = '\0';
}

int
rw_check_date(struct rec_ctx *c, const char *field, const char *v,
    int past_only, const char *not_before, const char *before_what,
    struct rk_why *why)
{
	char today[11];

	if (!rec_valid_date(v))
		return rk_whyf(why, RK_EINVAL,
		    "%s: '%s' is not a date (YYYY-MM-DD)", field, v);
	rw_today(c, today);
	if (past_only && strcmp(v, today) > 0)
		return rk_whyf(why, RK_EINVAL, "%s: %s is in the future "
		    "(today is %s)", field, v, today);
	if (not_before != NULL && strcmp(v, not_before) < 0)
		return rk_whyf(why, RK_EINVAL, "%s: %s is before %s (%s)",
		    field, v, before_what, not_before);
	return 0;
}

int
rw_room_load(struct rec_ctx *c, const char *room, struct rw_room *r,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!id_valid_name(room))
		return rk_whyf(why, RK_EINVAL, "room: '%s' is not a room id",
		    room);
	if ((rc = rw_prepare(db, "SELECT r.kind, r.status, d.primary_doctor, "
	    "d.deputy_doctor, EXISTS (SELECT 1 FROM memberships m WHERE "
	    "m.room_id = r.room_id AND m.staff_id = ?2 AND m.status = "
	    "'active') FROM rooms r LEFT JOIN room_details d USING (room_id) "
	    "WHERE r.room_id = ?1", &st)) != 0)
		return rk_whyf(why, rc, "cannot read rooms");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->staff ? c->staff : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(r->kind, sizeof(r->kind), "%s", rw_column_text(st, 0));
		snprintf(r->status, sizeof(r->status), "%s",
		    rw_column_text(st, 1));
		snprintf(r->primary_doctor, sizeof(r->primary_doctor), "%s",
		    rw_column_text(st, 2));
		snprintf(r->deputy_doctor, sizeof(r->deputy_doctor), "%s",
		    rw_column_text(st, 3));
		r->member = sqlite3_column_int(st, 4);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		char gone[400];

		if (retention_purged(db, room, gone, sizeof(gone)) == 1)
			rc = rk_whyf(why, RK_ENOTFOUND, "%s", gone);
		else
			rc = rk_whyf(why, RK_ENOTFOUND, "no room '%s' on this "
			    "%s", room, c->is_hub ? "hub" : "device");
	} else {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read rooms");
	}
	sqlite3_finalize(st);
	return rc;
}

int
rw_room_access(struct rec_ctx *c, const char *room, int for_write,
    struct rw_room *out, struct rk_why *why)
{
	struct rw_room r;
	int rc;

	if ((rc = rw_room_load(c, room, &r, why)) != 0)
		return rc;
	/* The hub operator reads every room; nobody writes on the hub. */
	if (c->is_hub && for_write)
		return rk_whyf(why, RK_EDENIED, "room work is done on devices, "
		    "not on the hub");
	if (!r.member && !c->is_hub)
		return rk_whyf(why, RK_EDENIED,
		    "%s is not a member of room '%s'", c->staff, room);
	if (for_write && strcmp(r.status, "active") != 0)
		return rk_whyf(why, RK_EDENIED,
		    "room '%s' is archived: read-only", room);
	if (out != NULL)
		*out = r;
	return 0;
}

int
rw_member_status(sqlite3 *db, const char *room, const char *staff,
    char out[16])
{
	int rc = rw_query_text(db, "SELECT status FROM memberships WHERE "
	    "room_id = ?1 AND staff_id = ?2", room, staff, out, 16);

	return rc < 0 ? rc : 0;
}

int
rw_is_doctor(sqlite3 *db, const char *staff)
{
	int64_t v = 0;

	if (rw_query_int(db, "SELECT EXISTS (SELECT 1 FROM staff WHERE id = "
	    "?1 AND profession IN ('doctor', 'dentist'))", staff, NULL,
	    &v) != 0)
		return 0;
	return v != 0;
}

json_t *
rw_staff_json(sqlite3 *db, const char *staff)
{
	sqlite3_stmt *st = NULL;
	json_t *o;

	if (staff == NULL || staff[0] == '\0')
		return json_null();
	if (rw_prepare(db, "SELECT s.name, s.profession, s.agency_id, a.name, "
	    "s.phone FROM staff s LEFT JOIN agencies a ON a.id = s.agency_id "
	    "WHERE s.id = ?1", &st) != 0)
		return NULL;
	sqlite3_bind_text(st, 1, staff, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "id", staff,
		    "name", rw_column_json(st, 0),
		    "profession", rw_column_json(st, 1),
		    "agency_id", rw_column_json(st, 2),
		    "agency_name", rw_column_json(st, 3),
		    "phone", rw_column_json(st, 4));
	else
		o = json_pack("{s:s, s:n, s:n, s:n, s:n, s:n}", "id", staff,
		    "name", "profession", "agency_id", "agency_name", "phone");
	sqlite3_finalize(st);
	return o;
}

int
rw_begin(struct rec_ctx *c, const char *room, int append,
    struct store_tx **tx, struct rk_why *why)
{
	int rc;

	rc = append ? store_tx_begin_append(c->store, room, tx) :
	    store_tx_begin(c->store, room, tx);
	if (rc != 0)
		return rk_whyf(why, rc, "cannot start a write");
	return 0;
}

int
rw_commit(struct rec_ctx *c, struct store_tx *tx, const char *room,
    const char *what, int64_t *seq, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	int rc;

	if ((rc = rw_audit_note(c, room, "write", what)) != 0) {
		rk_whyf(why, rc, "cannot note the write in the audit trail: %s",
		    sqlite3_errmsg(db));
		store_tx_abort(tx);
		return rc;
	}
	if ((rc = rw_audit_ship(tx, db, room, why)) != 0) {
		store_tx_abort(tx);
		return rc;
	}
	return store_tx_commit(tx, seq, why);
}

int
rw_html_escape(struct buf *b, const char *s)
{
	int rc = 0;

	for (; s != NULL && *s && rc == 0; s++) {
		switch (*s) {
		case '<': rc = buf_append(b, "&lt;", 4); break;
		case '>': rc = buf_append(b, "&gt;", 4); break;
		case '&': rc = buf_append(b, "&amp;", 5); break;
		case '"': rc = buf_append(b, "&quot;", 6); break;
		case '\'': rc = buf_append(b, "&#39;", 5); break;
		case '\n': rc = buf_append(b, "<br>", 4); break;
		case '\r': break;
		default: rc = buf_append(b, s, 1);
		}
	}
	return rc;
}

int
rw_html_head(struct buf *b, const char *title)
{
	int rc;

	rc = buf_appendf(b, "<!DOCTYPE html>\n<html lang=\"ja\"><head>"
	    "<meta charset=\"utf-8\"><title>");
	if (rc == 0)
		rc = rw_html_escape(b, title);
	if (rc == 0)
		rc = buf_appendf(b, "</title><style>"
		    "@page{size:A4;margin:12mm}body{font-family:'Noto Sans CJK "
		    "JP','IPAexGothic',sans-serif;font-size:11pt;margin:0}"
		    "h1{font-size:18pt;border-bottom:3px solid #000;margin:0 0 "
		    "6px}h2{font-size:12pt;margin:10px 0 4px}table{border-"
		    "collapse:collapse;width:100%%}th,td{border:1px solid #000;"
		    "padding:4px 6px;vertical-align:top;text-align:left}th{width:"
		    "26%%;background:#eee;font-weight:bold}.d{font-size:9pt}"
		    ".warn{font-weight:bold;border:2px solid #000;padding:4px;"
		    "margin:6px 0}.big{font-size:14pt;font-weight:bold}"
		    "@media screen{body{margin:12mm}}"
		    "</style></head><body>");
	return rc;
}

int
rw_html_row(struct buf *b, const char *label, const char *value)
{
	int rc = buf_appendf(b, "<tr><th>%s</th><td>", label);

	if (rc == 0)
		rc = rw_html_escape(b, value);
	if (rc == 0)
		rc = buf_appendf(b, "</td></tr>");
	return rc;
}

/* ======================================================================
 * Requests (依頼)
 * ====================================================================== */

static const struct {
	const char *id, *label;
} rw_request_kinds[] = {
	{ "visiting-nurse-instruction", "訪問看護指示書" },
	{ "information-letter", "情報提供書" },
	{ "home-visit-request", "往診依頼" },
	{ "medication-check", "薬の確認" },
	{ "free", "その他の依頼" },
};
#define RW_NKINDS (sizeof(rw_request_kinds) / sizeof(rw_request_kinds[0]))

const char *
roomwork_request_kind_label(const char *kind)
{
	size_t i;

	for (i = 0; kind != NULL && i < RW_NKINDS; i++)
		if (strcmp(rw_request_kinds[i].id, kind) == 0)
			return rw_request_kinds[i].label;
	return NULL;
}

/* The readers of a post or request: [{"staff", "name", "read_at"}]. */
static json_t *
rw_readers(sqlite3 *db, const char *room, const char *target)
{
	sqlite3_stmt *st = NULL;
	json_t *a = json_array();

	if (a == NULL)
		return NULL;
	if (rw_prepare(db, "SELECT r.staff_id, s.name, r.read_at FROM "
	    "read_receipts r LEFT JOIN staff s ON s.id = r.staff_id WHERE "
	    "r.room_id = ?1 AND r.target_id = ?2 ORDER BY r.read_at, "
	    "r.staff_id", &st) != 0) {
		json_decref(a);
		return NULL;
	}
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *r = json_pack("{s:o, s:o, s:o}",
		    "staff", rw_column_json(st, 0),
		    "name", rw_column_json(st, 1),
		    "read_at", rw_column_json(st, 2));

		if (r == NULL || json_array_append_new(a, r) != 0) {
			json_decref(a);
			a = NULL;
			break;
		}
	}
	sqlite3_finalize(st);
	return a;
}

#define RW_REQUEST_COLS "q.id, q.kind, q.title, q.body, q.requester, " \
	"sr.name, q.assignee, sa.name, q.created_at, q.due_date, q.status, " \
	"q.status_reason, q.status_by, q.status_at, q.acknowledged_at, " \
	"q.deleted_at, q.room_id"
#define RW_REQUEST_FROM "FROM requests q LEFT JOIN staff sr ON sr.id = " \
	"q.requester LEFT JOIN staff sa ON sa.id = q.assignee"

/* One request row (RW_REQUEST_COLS) as JSON. */
static json_t *
rw_request_json(sqlite3 *db, sqlite3_stmt *st, const char *today)
{
	const char *status = rw_column_text(st, 10);
	const char *due = rw_column_text(st, 9);
	int withdrawn = sqlite3_column_type(st, 15) != SQLITE_NULL;
	int open = !strcmp(status, "open") || !strcmp(status, "acknowledged");
	json_t *o, *readers;

	o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
	    "s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:o}",
	    "id", rw_column_json(st, 0),
	    "kind", rw_column_json(st, 1),
	    "title", rw_column_json(st, 2),
	    "body", rw_column_json(st, 3),
	    "requester", rw_column_json(st, 4),
	    "requester_name", rw_column_json(st, 5),
	    "assignee", rw_column_json(st, 6),
	    "assignee_name", rw_column_json(st, 7),
	    "created_at", rw_column_json(st, 8),
	    "due_date", rw_column_json(st, 9),
	    "status", rw_column_json(st, 10),
	    "status_reason", rw_column_json(st, 11),
	    "status_by", rw_column_json(st, 12),
	    "status_at", rw_column_json(st, 13),
	    "acknowledged_at", rw_column_json(st, 14),
	    "room_id", rw_column_json(st, 16),
	    "withdrawn", withdrawn,
	    "overdue", !withdrawn && open && due[0] != '\0' &&
	    strcmp(due, today) < 0,
	    "kind_label", json_string(roomwork_request_kind_label(
	    rw_column_text(st, 1)) ? roomwork_request_kind_label(
	    rw_column_text(st, 1)) : rw_column_text(st, 1)));
	if (o == NULL)
		return NULL;
	readers = rw_readers(db, rw_column_text(st, 16), rw_column_text(st, 0));
	if (readers == NULL || json_object_set_new(o, "read_by", readers)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int
rw_request_load(struct rec_ctx *c, const char *room, const char *id,
    json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	char today[11];
	int rc;

	rw_today(c, today);
	if ((rc = rw_prepare(db, "SELECT " RW_REQUEST_COLS " "
	    RW_REQUEST_FROM " WHERE q.room_id = ?1 AND q.id = ?2", &st)) != 0)
		return rk_whyf(why, rc, "cannot read requests");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = (*out = rw_request_json(db, st, today)) ? 0 : RK_ENOMEM;
	} else if (rc == SQLITE_DONE) {
		rc = rk_whyf(why, RK_ENOTFOUND, "id: no request %s in room %s",
		    id, room);
	} else {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read requests");
	}
	sqlite3_finalize(st);
	return rc;
}

int
roomwork_request_add(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "assignee", "kind", "title",
	    "body", "due_date", NULL };
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *assignee, *kind, *title, *body, *due;
	char id[ID_LEN + 1], mstatus[16], today[11], what[160];
	int64_t seq = 0;
	int rc;

	if ((rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, keys, why)) != 0 ||
	    (rc = rw_req_string(in, "assignee", &assignee, why)) != 0 ||
	    (rc = rw_req_string(in, "kind", &kind, why)) != 0 ||
	    (rc = rw_req_string(in, "title", &title, why)) != 0 ||
	    (rc = rw_opt_string(in, "body", &body, why)) != 0 ||
	    (rc = rw_opt_string(in, "due_date", &due, why)) != 0)
		return rc;
	if (roomwork_request_kind_label(kind) == NULL)
		return rk_whyf(why, RK_EINVAL, "kind: '%s' is not a kind of "
		    "request (visiting-nurse-instruction, information-letter, "
		    "home-visit-request, medication-check, free)", kind);
	if (strlen(title) > 200)
		return rk_whyf(why, RK_EINVAL, "title: longer than 200 bytes "
		    "(put the details in the body)");
	rw_today(c, today);
	if (due != NULL && (rc = rw_check_date(c, "due_date", due, 0, today,
	    "today", why)) != 0)
		return rc;
	if ((rc = rw_room_access(c, room, 1, NULL, why)) != 0)
		return rc;
	if (!id_valid_name(assignee))
		return rk_whyf(why, RK_EINVAL, "assignee: '%s' is not a staff "
		    "id", assignee);
	if (strcmp(assignee, c->staff) == 0)
		return rk_whyf(why, RK_EINVAL, "assignee: a request asks "
		    "another member; it cannot be asked of yourself");
	if ((rc = rw_member_status(db, room, assignee, mstatus)) != 0)
		return rk_whyf(why, rc, "cannot read memberships");
	if (strcmp(mstatus, "active") != 0)
		return rk_whyf(why, RK_EINVAL, "assignee: %s is not %s member "
		    "of room %s", assignee, mstatus[0] ? "an active" : "a",
		    room);

	if ((rc = rw_begin(c, room, 1, &tx, why)) != 0)
		return rc;
	id_new(store_clock(c->store), id);
	if ((rc = rw_prepare(db, "INSERT INTO requests (room_id, id, kind, "
	    "title, body, requester, assignee, created_at, due_date, status, "
	    "hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'open', ?10)",
	    &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, title, -1, SQLITE_STATIC);
	rw_bind_text_or_null(st, 5, body);
	sqlite3_bind_text(st, 6, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, assignee, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, store_tx_now_ms(tx));
	rw_bind_text_or_null(st, 9, due);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	snprintf(what, sizeof(what), "request %s created (%s, to %s)", id,
	    kind, assignee);
	rc = rw_commit(c, tx, room, what, &seq, why);
	tx = NULL;
	if (rc == 0 && (*out = json_pack("{s:s, s:I}", "id", id, "seq",
	    (json_int_t)seq)) == NULL)
		rc = RK_ENOMEM;
out:
	store_tx_abort(tx);
	return rc;
}

/* Inserts the acting staff's receipt for target unless there is one. */
static int
rw_receipt_insert(struct rec_ctx *c, struct store_tx *tx, const char *room,
    const char *target, int *inserted, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	int64_t have = 0;
	int rc;

	*inserted = 0;
	if ((rc = rw_prepare(db, "SELECT EXISTS (SELECT 1 FROM read_receipts "
	    "WHERE room_id = ?1 AND target_id = ?2 AND staff_id = ?3)",
	    &st)) != 0)
		return rk_whyf(why, rc, "cannot read receipts");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->staff, -1, SQLITE_STATIC);
	have = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (have < 0)
		return rk_whyf(why, store_sqlite_err(db), "cannot read receipts");
	if (have)
		return 0;
	if ((rc = rw_prepare(db, "INSERT INTO read_receipts (room_id, "
	    "target_id, staff_id, read_at, hlc) VALUES (?1, ?2, ?3, ?4, ?5)",
	    &st)) != 0)
		return rk_whyf(why, rc, "cannot save the receipt");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, store_tx_now_ms(tx));
	sqlite3_bind_int64(st, 5, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		return rc;
	*inserted = 1;
	return 0;
}

/* Where a state stands in the request's life (done = declined). */
static int
rw_state_rank(const char *s)
{
	if (!strcmp(s, "open"))
		return 0;
	if (!strcmp(s, "acknowledged"))
		return 1;
	return 2;
}

/*
 * The id of the request (or, with posts_too, the live post or request)
 * of room that given names: itself, or the one id ending in given (at
 * least 4 characters, any case), as the lists show ids by their last
 * characters.  Resolved here rather than by the client listing the room
 * first, so that naming a record by its end notes no read of the room
 * in the audit trail that the person did not make.  RK_ENOTFOUND or
 * RK_EINVAL (several match) with why; full gets the id.
 */
static int
rw_resolve_id(sqlite3 *db, const char *room, const char *given,
    int posts_too, char full[65], struct rk_why *why)
{
	sqlite3_stmt *st = NULL;
	size_t g = strlen(given), i;
	int rc, n = 0;

	if (g == 0 || g > 64)
		return rk_whyf(why, RK_EINVAL, "id: expected 1 to 64 "
		    "characters");
	if ((rc = rw_prepare(db, posts_too ? "SELECT id FROM requests WHERE "
	    "room_id = ?1 AND id = ?2 AND deleted_at IS NULL UNION ALL SELECT "
	    "id FROM posts WHERE room_id = ?1 AND id = ?2 AND deleted_at IS "
	    "NULL" : "SELECT id FROM requests WHERE room_id = ?1 AND id = ?2",
	    &st)) != 0)
		return rk_whyf(why, rc, "cannot read the room");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, given, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (rc == SQLITE_ROW) {
		snprintf(full, 65, "%s", given);
		return 0;
	}
	if (rc != SQLITE_DONE)
		return rk_whyf(why, store_sqlite_err(db), "cannot read the "
		    "room");
	for (i = 0; i < g; i++)
		if (!((given[i] >= '0' && given[i] <= '9') ||
		    (given[i] >= 'A' && given[i] <= 'Z') ||
		    (given[i] >= 'a' && given[i] <= 'z')))
			break;
	if (g < 4 || i < g)
		goto none;
	if ((rc = rw_prepare(db, posts_too ? "SELECT id FROM requests WHERE "
	    "room_id = ?1 AND deleted_at IS NULL AND length(id) >= length(?2) "
	    "AND upper(substr(id, -length(?2))) = upper(?2) UNION ALL SELECT "
	    "id FROM posts WHERE room_id = ?1 AND deleted_at IS NULL AND "
	    "length(id) >= length(?2) AND upper(substr(id, -length(?2))) = "
	    "upper(?2) LIMIT 2" : "SELECT id FROM requests WHERE room_id = ?1 "
	    "AND length(id) >= length(?2) AND upper(substr(id, -length(?2))) = "
	    "upper(?2) LIMIT 2", &st)) != 0)
		return rk_whyf(why, rc, "cannot read the room");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, given, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (n++ == 0)
			snprintf(full, 65, "%s", rw_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rk_whyf(why, store_sqlite_err(db), "cannot read the "
		    "room");
	if (n == 1)
		return 0;
	if (n > 1)
		return rk_whyf(why, RK_EINVAL, "id: '%s' matches more than one "
		    "record in room %s; give more of it", given, room);
none:
	return rk_whyf(why, RK_ENOTFOUND, "id: no %s %s in room %s",
	    posts_too ? "post or request" : "request", given, room);
}

int
roomwork_request_status(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "id", "status", "reason", NULL };
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *id, *want, *reason;
	char status[16] = "", requester[65] = "", assignee[65] = "";
	char what[160], full[65];
	int rc, withdrawn = 0, withdraw, got;

	if ((rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, keys, why)) != 0 ||
	    (rc = rw_req_string(in, "id", &id, why)) != 0 ||
	    (rc = rw_req_string(in, "status", &want, why)) != 0 ||
	    (rc = rw_opt_string(in, "reason", &reason, why)) != 0)
		return rc;
	withdraw = !strcmp(want, "withdrawn");
	if (strcmp(want, "acknowledged") && strcmp(want, "done") &&
	    strcmp(want, "declined") && !withdraw)
		return rk_whyf(why, RK_EINVAL, "status: '%s' is not one of "
		    "acknowledged, done, declined, withdrawn", want);
	if (!strcmp(want, "declined") && (reason == NULL ||
	    strspn(reason, " \t\r\n") == strlen(reason)))
		return rk_whyf(why, RK_EINVAL, "reason: required to decline a "
		    "request (say why, so the requester can ask elsewhere)");
	if (reason != NULL && strcmp(want, "declined") != 0 &&
	    strcmp(want, "done") != 0)
		return rk_whyf(why, RK_EINVAL, "reason: goes with declined or "
		    "done only");
	if ((rc = rw_room_access(c, room, 1, NULL, why)) != 0 ||
	    (rc = rw_resolve_id(db, room, id, 0, full, why)) != 0)
		return rc;
	id = full;

	if ((rc = rw_prepare(db, "SELECT status, requester, assignee, "
	    "deleted_at IS NOT NULL FROM requests WHERE room_id = ?1 AND id = "
	    "?2", &st)) != 0)
		return rk_whyf(why, rc, "cannot read requests");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	got = sqlite3_step(st);
	if (got == SQLITE_ROW) {
		snprintf(status, sizeof(status), "%s", rw_column_text(st, 0));
		snprintf(requester, sizeof(requester), "%s",
		    rw_column_text(st, 1));
		snprintf(assignee, sizeof(assignee), "%s",
		    rw_column_text(st, 2));
		withdrawn = sqlite3_column_int(st, 3);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (got == SQLITE_DONE)
		return rk_whyf(why, RK_ENOTFOUND, "id: no request %s in room %s",
		    id, room);
	if (got != SQLITE_ROW)
		return rk_whyf(why, store_sqlite_err(db), "cannot read requests");

	if (withdraw) {
		if (strcmp(requester, c->staff) != 0)
			return rk_whyf(why, RK_EDENIED, "request %s was made by "
			    "%s: only they can withdraw it", id, requester);
		if (withdrawn)
			return rw_request_load(c, room, id, out, why);
		if (rw_state_rank(status) == 2)
			return rk_whyf(why, RK_EINVAL, "status: request %s is "
			    "already %s: it cannot be withdrawn", id, status);
	} else {
		if (strcmp(assignee, c->staff) != 0)
			return rk_whyf(why, RK_EDENIED, "request %s is asked of "
			    "%s, not of %s: only %s can mark it %s", id,
			    assignee, c->staff, assignee, want);
		if (withdrawn)
			return rk_whyf(why, RK_EINVAL, "status: request %s was "
			    "withdrawn by %s", id, requester);
		if (strcmp(status, want) == 0)
			return rw_request_load(c, room, id, out, why);
		if (rw_state_rank(want) <= rw_state_rank(status))
			return rk_whyf(why, RK_EINVAL, "status: request %s is "
			    "already %s; it cannot become %s", id, status,
			    want);
	}

	if ((rc = rw_begin(c, room, 0, &tx, why)) != 0)
		return rc;
	if (withdraw) {
		rc = rw_prepare(db, "UPDATE requests SET deleted_at = ?3, "
		    "hlc = ?4 WHERE room_id = ?1 AND id = ?2", &st);
	} else {
		/* Done straight from open: it was acknowledged then too. */
		rc = rw_prepare(db, "UPDATE requests SET status = ?5, "
		    "status_reason = ?6, status_by = ?7, status_at = ?3, "
		    "acknowledged_at = coalesce(acknowledged_at, CASE WHEN ?5 "
		    "IN ('acknowledged', 'done') THEN ?3 END), hlc = ?4 WHERE "
		    "room_id = ?1 AND id = ?2", &st);
	}
	if (rc != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, store_tx_now_ms(tx));
	sqlite3_bind_int64(st, 4, (sqlite3_int64)store_tx_hlc(tx));
	if (!withdraw) {
		sqlite3_bind_text(st, 5, want, -1, SQLITE_STATIC);
		rw_bind_text_or_null(st, 6, reason);
		sqlite3_bind_text(st, 7, c->staff, -1, SQLITE_STATIC);
	}
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	if (!withdraw) {
		int ins;

		/* Whoever answers a request has read it. */
		if ((rc = rw_receipt_insert(c, tx, room, id, &ins, why)) != 0)
			goto out;
	}
	snprintf(what, sizeof(what), "request %s %s", id, want);
	rc = rw_commit(c, tx, room, what, NULL, why);
	tx = NULL;
	if (rc == 0)
		rc = rw_request_load(c, room, id, out, why);
out:
	store_tx_abort(tx);
	return rc;
}

/* Appends the rows of a prepared request query to arr. */
static int
rw_requests_collect(sqlite3 *db, sqlite3_stmt *st, const char *today,
    json_t *arr, struct rk_why *why)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = rw_request_json(db, st, today);

		if (o == NULL || json_array_append_new(arr, o) != 0)
			return RK_ENOMEM;
	}
	if (rc != SQLITE_DONE)
		return rk_whyf(why, store_sqlite_err(db), "cannot read requests");
	return 0;
}

/* Overdue first, then open before acknowledged before finished, then by
 * due date (none last), then oldest first. */
#define RW_REQUEST_ORDER " ORDER BY (q.deleted_at IS NULL AND q.status IN " \
	"('open', 'acknowledged') AND q.due_date < ?9) DESC, CASE q.status " \
	"WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END, " \
	"q.due_date IS NULL, q.due_date, q.created_at, q.id"

int
roomwork_requests_list(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL, *all = json_object_get(in, "all");
	char today[11];
	int rc;

	if ((rc = rw_room_access(c, room, 0, NULL, why)) != 0)
		return rc;
	if ((rc = roomwork_audit_read(c, room, "requests")) != 0)
		return rk_whyf(why, rc, "cannot note the read in the audit "
		    "trail");
	rw_today(c, today);
	if ((rc = rw_prepare(db, "SELECT " RW_REQUEST_COLS " " RW_REQUEST_FROM
	    " WHERE q.room_id = ?1 AND (?2 OR q.deleted_at IS NULL)"
	    RW_REQUEST_ORDER, &st)) != 0)
		return rk_whyf(why, rc, "cannot read requests");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, json_is_true(all));
	sqlite3_bind_text(st, 9, today, -1, SQLITE_STATIC);
	if ((arr = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	if ((rc = rw_requests_collect(db, st, today, arr, why)) != 0)
		goto out;
	if ((*out = json_pack("{s:s, s:s, s:O}", "room_id", room, "today",
	    today, "requests", arr)) == NULL)
		rc = RK_ENOMEM;
out:
	sqlite3_finalize(st);
	json_decref(arr);
	return rc;
}

int
roomwork_requests_mine(struct rec_ctx *c, json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;
	char today[11];
	int rc;

	rw_today(c, today);
	if ((rc = rw_prepare(db, "SELECT " RW_REQUEST_COLS " " RW_REQUEST_FROM
	    " WHERE q.deleted_at IS NULL AND q.status IN ('open', "
	    "'acknowledged') AND (?2 OR q.assignee = ?1 OR q.requester = ?1) "
	    "AND (?2 OR EXISTS (SELECT 1 FROM memberships m WHERE m.room_id "
	    "= q.room_id AND m.staff_id = ?1 AND m.status = 'active'))"
	    RW_REQUEST_ORDER, &st)) != 0)
		return rk_whyf(why, rc, "cannot read requests");
	sqlite3_bind_text(st, 1, c->staff ? c->staff : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, c->is_hub);
	sqlite3_bind_text(st, 9, today, -1, SQLITE_STATIC);
	if ((arr = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	if ((rc = rw_requests_collect(db, st, today, arr, why)) != 0)
		goto out;
	if ((*out = json_pack("{s:s, s:O}", "today", today, "requests",
	    arr)) == NULL)
		rc = RK_ENOMEM;
out:
	sqlite3_finalize(st);
	json_decref(arr);
	return rc;
}

/* ======================================================================
 * Read receipts
 * ====================================================================== */

int
roomwork_read_mark(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "id", NULL };
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	const char *id;
	char type[16] = "", what[120], full[65];
	json_t *readers = NULL;
	int64_t read_at = 0;
	int rc, ins = 0;

	if ((rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, keys, why)) != 0 ||
	    (rc = rw_req_string(in, "id", &id, why)) != 0)
		return rc;
	if ((rc = rw_room_access(c, room, 1, NULL, why)) != 0 ||
	    (rc = rw_resolve_id(db, room, id, 1, full, why)) != 0)
		return rc;
	id = full;
	if ((rc = rw_query_text(db, "SELECT 'post' FROM posts WHERE room_id = "
	    "?1 AND id = ?2 AND deleted_at IS NULL UNION ALL SELECT 'request' "
	    "FROM requests WHERE room_id = ?1 AND id = ?2 AND deleted_at IS "
	    "NULL", room, id, type, sizeof(type))) < 0)
		return rk_whyf(why, rc, "cannot read the room");
	if (rc == 0)
		return rk_whyf(why, RK_ENOTFOUND, "id: no post or request %s in "
		    "room %s", id, room);

	if ((rc = rw_begin(c, room, 1, &tx, why)) != 0)
		return rc;
	if ((rc = rw_receipt_insert(c, tx, room, id, &ins, why)) != 0)
		goto out;
	if (ins) {
		snprintf(what, sizeof(what), "read receipt for %s %s", type, id);
		rc = rw_commit(c, tx, room, what, NULL, why);
	} else {
		store_tx_abort(tx);
		rc = roomwork_audit_read(c, room, type);
	}
	tx = NULL;
	if (rc != 0)
		goto out;
	{
		sqlite3_stmt *st = NULL;

		if ((rc = rw_prepare(db, "SELECT read_at FROM read_receipts "
		    "WHERE room_id = ?1 AND target_id = ?2 AND staff_id = ?3",
		    &st)) != 0)
			goto out;
		sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, c->staff, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			read_at = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if ((readers = rw_readers(db, room, id)) == NULL ||
	    (*out = json_pack("{s:s, s:s, s:I, s:b, s:O}", "id", id, "type",
	    type, "read_at", (json_int_t)read_at, "new", ins, "read_by",
	    readers)) == NULL)
		rc = RK_ENOMEM;
out:
	store_tx_abort(tx);
	json_decref(readers);
	return rc;
}

int
roomwork_receipts(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *map = NULL;
	int rc;

	if ((rc = rw_room_access(c, room, 0, NULL, why)) != 0)
		return rc;
	if ((rc = roomwork_audit_read(c, room, "receipts")) != 0)
		return rk_whyf(why, rc, "cannot note the read in the audit "
		    "trail");
	if ((rc = rw_prepare(db, "SELECT r.target_id, r.staff_id, s.name, "
	    "r.read_at FROM read_receipts r LEFT JOIN staff s ON s.id = "
	    "r.staff_id WHERE r.room_id = ?1 ORDER BY r.target_id, r.read_at, "
	    "r.staff_id", &st)) != 0)
		return rk_whyf(why, rc, "cannot read receipts");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	if ((map = json_object()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = rw_column_text(st, 0);
		json_t *a = json_object_get(map, t), *r;

		if (a == NULL) {
			if ((a = json_array()) == NULL ||
			    json_object_set_new(map, t, a) != 0) {
				rc = RK_ENOMEM;
				goto out;
			}
		}
		r = json_pack("{s:o, s:o, s:o}", "staff", rw_column_json(st, 1),
		    "name", rw_column_json(st, 2), "read_at",
		    rw_column_json(st, 3));
		if (r == NULL || json_array_append_new(a, r) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read receipts");
		goto out;
	}
	rc = (*out = json_pack("{s:s, s:O}", "room_id", room, "receipts",
	    map)) ? 0 : RK_ENOMEM;
out:
	sqlite3_finalize(st);
	json_decref(map);
	return rc;
}

/* ======================================================================
 * Members, the main and deputy doctor, archiving
 * ====================================================================== */

int
roomwork_members(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;
	struct rw_room r;
	char reason[32] = "";
	int rc;

	if ((rc = rw_room_access(c, room, 0, &r, why)) != 0)
		return rc;
	if ((rc = roomwork_audit_read(c, room, "members")) != 0)
		return rk_whyf(why, rc, "cannot note the read in the audit "
		    "trail");
	if ((rc = rw_query_text(db, "SELECT archive_reason FROM rooms WHERE "
	    "room_id = ?1", room, NULL, reason, sizeof(reason))) < 0)
		return rk_whyf(why, rc, "cannot read rooms");
	if ((rc = rw_prepare(db, "SELECT m.staff_id, s.name, s.profession, "
	    "s.agency_id, a.name, s.phone, m.role, m.status, m.added_by, "
	    "m.added_at FROM memberships m LEFT JOIN staff s ON s.id = "
	    "m.staff_id LEFT JOIN agencies a ON a.id = s.agency_id WHERE "
	    "m.room_id = ?1 ORDER BY CASE m.status WHEN 'active' THEN 0 WHEN "
	    "'invited' THEN 1 ELSE 2 END, m.added_at, m.staff_id", &st)) != 0)
		return rk_whyf(why, rc, "cannot read memberships");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	if ((arr = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *m = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
		    "s:o, s:o}",
		    "staff_id", rw_column_json(st, 0),
		    "name", rw_column_json(st, 1),
		    "profession", rw_column_json(st, 2),
		    "agency_id", rw_column_json(st, 3),
		    "agency_name", rw_column_json(st, 4),
		    "phone", rw_column_json(st, 5),
		    "role", rw_column_json(st, 6),
		    "status", rw_column_json(st, 7),
		    "added_by", rw_column_json(st, 8),
		    "added_at", rw_column_json(st, 9));

		if (m == NULL || json_array_append_new(arr, m) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db),
		    "cannot read memberships");
		goto out;
	}
	rc = (*out = json_pack("{s:s, s:s, s:s?, s:o, s:o, s:O}", "room_id",
	    room, "status", r.status, "archive_reason", reason[0] ? reason :
	    NULL, "primary_doctor", r.primary_doctor[0] ?
	    json_string(r.primary_doctor) : json_null(), "deputy_doctor",
	    r.deputy_doctor[0] ? json_string(r.deputy_doctor) : json_null(),
	    "members", arr)) ? 0 : RK_ENOMEM;
out:
	sqlite3_finalize(st);
	json_decref(arr);
	return rc;
}

int
roomwork_member_invite(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "staff", NULL };
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *staff;
	char mstatus[16], sstatus[16], what[120];
	int64_t seq = 0;
	int rc;

	if ((rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, keys, why)) != 0 ||
	    (rc = rw_req_string(in, "staff", &staff, why)) != 0)
		return rc;
	if (!id_valid_name(staff))
		return rk_whyf(why, RK_EINVAL, "staff: '%s' is not a staff id",
		    staff);
	if ((rc = rw_room_access(c, room, 1, NULL, why)) != 0)
		return rc;
	if ((rc = rw_query_text(db, "SELECT status FROM staff WHERE id = ?1",
	    staff, NULL, sstatus, sizeof(sstatus))) < 0)
		return rk_whyf(why, rc, "cannot read the directory");
	if (rc == 0)
		return rk_whyf(why, RK_EINVAL, "staff: %s is not in the staff "
		    "directory of this device (sync first if they were "
		    "registered just now)", staff);
	if (strcmp(sstatus, "active") != 0)
		return rk_whyf(why, RK_EINVAL, "staff: %s is suspended", staff);
	if ((rc = rw_member_status(db, room, staff, mstatus)) != 0)
		return rk_whyf(why, rc, "cannot read memberships");
	if (!strcmp(mstatus, "active") || !strcmp(mstatus, "invited"))
		return rk_whyf(why, RK_EEXIST, "staff: %s is already %s in room "
		    "%s", staff, !strcmp(mstatus, "active") ? "a member" :
		    "invited", room);

	if ((rc = rw_begin(c, room, mstatus[0] == '\0', &tx, why)) != 0)
		return rc;
	/* Someone who left comes back by a new invitation. */
	if ((rc = rw_prepare(db, mstatus[0] == '\0' ? "INSERT INTO memberships "
	    "(room_id, staff_id, role, status, added_by, added_at, hlc) VALUES "
	    "(?1, ?2, 'member', 'invited', ?3, ?4, ?5)" : "UPDATE memberships "
	    "SET status = 'invited', role = 'member', added_by = ?3, added_at "
	    "= ?4, hlc = ?5 WHERE room_id = ?1 AND staff_id = ?2", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, staff, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, store_tx_now_ms(tx));
	sqlite3_bind_int64(st, 5, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	snprintf(what, sizeof(what), "member %s invited", staff);
	rc = rw_commit(c, tx, room, what, &seq, why);
	tx = NULL;
	if (rc == 0 && (*out = json_pack("{s:s, s:s, s:s, s:I}", "room_id",
	    room, "staff", staff, "status", "invited", "seq",
	    (json_int_t)seq)) == NULL)
		rc = RK_ENOMEM;
out:
	store_tx_abort(tx);
	return rc;
}

int
roomwork_invitation_answer(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "accept", NULL };
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	struct rw_room r;
	json_t *acc;
	char mstatus[16], what[120];
	const char *to;
	int64_t seq = 0;
	int rc;

	if ((rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, keys, why)) != 0)
		return rc;
	acc = json_object_get(in, "accept");
	if (!json_is_boolean(acc))
		return rk_whyf(why, RK_EINVAL, "accept: true or false "
		    "required");
	to = json_is_true(acc) ? "active" : "left";
	if (c->is_hub)
		return rk_whyf(why, RK_EDENIED, "invitations are answered on "
		    "the invitee's device, not on the hub");
	if ((rc = rw_room_load(c, room, &r, why)) != 0) {
		if (rc == RK_ENOTFOUND)
			rk_whyf(why, rc, "no invitation to room '%s' on this "
			    "device (sync first)", room);
		return rc;
	}
	if ((rc = rw_member_status(db, room, c->staff, mstatus)) != 0)
		return rk_whyf(why, rc, "cannot read memberships");
	if (strcmp(mstatus, "invited") != 0)
		return rk_whyf(why, RK_EINVAL, "room %s: %s has no invitation "
		    "to answer (%s)", room, c->staff, mstatus[0] ?
		    (!strcmp(mstatus, "active") ? "already a member" :
		    "left the room") : "not invited");
	if (strcmp(r.status, "active") != 0)
		return rk_whyf(why, RK_EDENIED, "room '%s' is archived: "
		    "read-only", room);

	if ((rc = rw_begin(c, room, 0, &tx, why)) != 0)
		return rc;
	if ((rc = rw_prepare(db, "UPDATE memberships SET status = ?3, hlc = ?4 "
	    "WHERE room_id = ?1 AND staff_id = ?2", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	snprintf(what, sizeof(what), "invitation %s by %s", json_is_true(acc) ?
	    "accepted" : "declined", c->staff);
	rc = rw_commit(c, tx, room, what, &seq, why);
	tx = NULL;
	if (rc == 0 && (*out = json_pack("{s:s, s:s, s:s, s:I}", "room_id",
	    room, "staff", c->staff, "status", to, "seq",
	    (json_int_t)seq)) == NULL)
		rc = RK_ENOMEM;
out:
	store_tx_abort(tx);
	return rc;
}

/*
 * The doctor or dentist rule on a device: with staff gone, a patient room
 * still needs an active member who is a doctor or dentist.  The device
 * checks what its directory knows; the hub decides (hub_room_rules).
 */
static int
rw_check_doctor_left(sqlite3 *db, const char *room, const char *kind,
    const char *staff, struct rk_why *why)
{
	int64_t n = 0;
	int rc;

	if (strcmp(kind, "patient") != 0 || !rw_is_doctor(db, staff))
		return 0;
	if ((rc = rw_query_int(db, "SELECT count(*) FROM memberships m JOIN "
	    "staff s ON s.id = m.staff_id WHERE m.room_id = ?1 AND "
	    "m.staff_id <> ?2 AND m.status = 'active' AND s.profession IN "
	    "('doctor', 'dentist')", room, staff, &n)) != 0)
		return rk_whyf(why, rc, "cannot read memberships");
	if (n == 0)
		return rk_whyf(why, RK_EDENIED, "members: %s is the only doctor "
		    "or dentist of room %s, and a patient room needs one: "
		    "another doctor or dentist must join first (or archive the "
		    "room)", staff, room);
	return 0;
}

int
roomwork_member_leave(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "staff", NULL };
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	struct rw_room r;
	const char *staff;
	char mstatus[16], role[32] = "", what[120];
	int64_t seq = 0;
	int rc, self;

	if ((rc = rw_need_object(in, 1, why)) != 0 ||
	    (in != NULL && (rc = rw_known_keys(in, keys, why)) != 0) ||
	    (rc = rw_opt_string(in, "staff", &staff, why)) != 0)
		return rc;
	if (staff == NULL)
		staff = c->staff;
	if (!id_valid_name(staff))
		return rk_whyf(why, RK_EINVAL, "staff: '%s' is not a staff id",
		    staff);
	self = strcmp(staff, c->staff) == 0;
	if ((rc = rw_room_access(c, room, 1, &r, why)) != 0)
		return rc;
	if ((rc = rw_member_status(db, room, staff, mstatus)) != 0)
		return rk_whyf(why, rc, "cannot read memberships");
	if (strcmp(mstatus, "active") != 0 && strcmp(mstatus, "invited") != 0)
		return rk_whyf(why, RK_EINVAL, "staff: %s is not a member of "
		    "room %s", staff, room);
	if (!self && !strcmp(mstatus, "active")) {
		if ((rc = rw_query_text(db, "SELECT role FROM memberships WHERE "
		    "room_id = ?1 AND staff_id = ?2", room, c->staff, role,
		    sizeof(role))) < 0)
			return rk_whyf(why, rc, "cannot read memberships");
		if (strcmp(role, "owner") != 0)
			return rk_whyf(why, RK_EDENIED, "staff: only the room's "
			    "owner removes another member; %s can leave by "
			    "themselves", staff);
	}
	if (!strcmp(mstatus, "active") &&
	    (rc = rw_check_doctor_left(db, room, r.kind, staff, why)) != 0)
		return rc;

	if ((rc = rw_begin(c, room, 0, &tx, why)) != 0)
		return rc;
	if ((rc = rw_prepare(db, "UPDATE memberships SET status = 'left', "
	    "hlc = ?3 WHERE room_id = ?1 AND staff_id = ?2", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	/* Who is gone covers nobody. */
	if (!strcmp(r.primary_doctor, staff) || !strcmp(r.deputy_doctor,
	    staff)) {
		if ((rc = rw_prepare(db, "UPDATE room_details SET "
		    "primary_doctor = nullif(primary_doctor, ?2), "
		    "deputy_doctor = nullif(deputy_doctor, ?2), hlc = ?3 WHERE "
		    "room_id = ?1", &st)) != 0)
			goto out;
		sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, staff, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)store_tx_hlc(tx));
		if ((rc = rw_step_done(db, st, why)) != 0)
			goto out;
	}
	snprintf(what, sizeof(what), "member %s %s", staff, self ? "left" :
	    !strcmp(mstatus, "invited") ? "invitation withdrawn" : "removed");
	/* rw_commit ships this replica's noted reads of the room with the
	 * leave: after it the hub would refuse them. */
	rc = rw_commit(c, tx, room, what, &seq, why);
	tx = NULL;
	if (rc == 0 && (*out = json_pack("{s:s, s:s, s:s, s:s, s:I}",
	    "room_id", room, "staff", staff, "status", "left", "was", mstatus,
	    "seq", (json_int_t)seq)) == NULL)
		rc = RK_ENOMEM;
out:
	store_tx_abort(tx);
	return rc;
}

int
roomwork_invitations(struct rec_ctx *c, json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;
	int rc;

	if ((rc = rw_prepare(db, "SELECT m.room_id, p.name, r.title, "
	    "m.added_by, s.name, m.added_at FROM memberships m JOIN rooms r "
	    "USING (room_id) LEFT JOIN patients p USING (room_id) LEFT JOIN "
	    "staff s ON s.id = m.added_by WHERE m.staff_id = ?1 AND m.status "
	    "= 'invited' AND r.status = 'active' ORDER BY m.added_at, "
	    "m.room_id", &st)) != 0)
		return rk_whyf(why, rc, "cannot read memberships");
	sqlite3_bind_text(st, 1, c->staff ? c->staff : "", -1, SQLITE_STATIC);
	if ((arr = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
		    "room_id", rw_column_json(st, 0),
		    "patient_name", rw_column_json(st, 1),
		    "title", rw_column_json(st, 2),
		    "invited_by", rw_column_json(st, 3),
		    "invited_by_name", rw_column_json(st, 4),
		    "invited_at", rw_column_json(st, 5));

		if (o == NULL || json_array_append_new(arr, o) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db),
		    "cannot read memberships");
		goto out;
	}
	rc = (*out = json_pack("{s:O}", "invitations", arr)) ? 0 : RK_ENOMEM;
out:
	sqlite3_finalize(st);
	json_decref(arr);
	return rc;
}

/* One of "primary"/"deputy": absent (keep), null (clear) or a doctor. */
static int
rw_doctor_arg(sqlite3 *db, json_t *in, const char *key, const char *room,
    int *given, const char **staff, struct rk_why *why)
{
	json_t *v = json_object_get(in, key);
	char mstatus[16];
	int rc;

	*given = v != NULL;
	*staff = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !id_valid_name(json_string_value(v)))
		return rk_whyf(why, RK_EINVAL, "%s: a staff id or null", key);
	*staff = json_string_value(v);
	if ((rc = rw_member_status(db, room, *staff, mstatus)) != 0)
		return rk_whyf(why, rc, "cannot read memberships");
	if (strcmp(mstatus, "active") != 0)
		return rk_whyf(why, RK_EINVAL, "%s: %s is not an active member "
		    "of room %s", key, *staff, room);
	if (!rw_is_doctor(db, *staff))
		return rk_whyf(why, RK_EINVAL, "%s: %s is not a doctor or "
		    "dentist", key, *staff);
	return 0;
}

int
roomwork_room_doctors(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "primary", "deputy", NULL };
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	struct rw_room r;
	const char *primary, *deputy, *p, *d;
	char what[200];
	int gp, gd, rc;

	if ((rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, keys, why)) != 0)
		return rc;
	if ((rc = rw_room_access(c, room, 1, &r, why)) != 0)
		return rc;
	if ((rc = rw_doctor_arg(db, in, "primary", room, &gp, &primary,
	    why)) != 0 || (rc = rw_doctor_arg(db, in, "deputy", room, &gd,
	    &deputy, why)) != 0)
		return rc;
	if (!gp && !gd)
		return rk_whyf(why, RK_EINVAL, "primary or deputy: give at "
		    "least one");
	p = gp ? primary : (r.primary_doctor[0] ? r.primary_doctor : NULL);
	d = gd ? deputy : (r.deputy_doctor[0] ? r.deputy_doctor : NULL);
	if (p != NULL && d != NULL && strcmp(p, d) == 0)
		return rk_whyf(why, RK_EINVAL, "deputy: %s cannot be both the "
		    "main and the deputy doctor", p);

	if ((rc = rw_begin(c, room, 0, &tx, why)) != 0)
		return rc;
	if ((rc = rw_prepare(db, "INSERT INTO room_details (room_id, "
	    "primary_doctor, deputy_doctor, hlc) VALUES (?1, ?2, ?3, ?4) ON "
	    "CONFLICT (room_id) DO UPDATE SET primary_doctor = "
	    "excluded.primary_doctor, deputy_doctor = excluded.deputy_doctor, "
	    "hlc = excluded.hlc", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	rw_bind_text_or_null(st, 2, p);
	rw_bind_text_or_null(st, 3, d);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	snprintf(what, sizeof(what), "doctors: primary %s, deputy %s",
	    p ? p : "-", d ? d : "-");
	rc = rw_commit(c, tx, room, what, NULL, why);
	tx = NULL;
	if (rc == 0)
		rc = roomwork_members(c, room, out, why);
out:
	store_tx_abort(tx);
	return rc;
}

int
roomwork_room_archive(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why)
{
	static const char *const keys[] = { "reason", NULL };
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *reason;
	char what[120];
	int64_t seq = 0, at = 0;
	int rc;

	if ((rc = rw_need_object(in, 0, why)) != 0 ||
	    (rc = rw_known_keys(in, keys, why)) != 0 ||
	    (rc = rw_req_string(in, "reason", &reason, why)) != 0)
		return rc;
	if (strcmp(reason, "death") && strcmp(reason, "moved") &&
	    strcmp(reason, "consent_withdrawn"))
		return rk_whyf(why, RK_EINVAL, "reason: '%s' is not one of "
		    "death, moved, consent_withdrawn", reason);
	if ((rc = rw_room_access(c, room, 1, NULL, why)) != 0)
		return rc;

	if ((rc = rw_begin(c, room, 0, &tx, why)) != 0)
		return rc;
	at = store_tx_now_ms(tx);
	if ((rc = rw_prepare(db, "UPDATE rooms SET status = 'archived', "
	    "archive_reason = ?2, hlc = ?3 WHERE room_id = ?1", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	/* When and by whom: the retention period counts from here. */
	if ((rc = rw_prepare(db, "INSERT INTO room_details (room_id, "
	    "archived_at, archived_by, hlc) VALUES (?1, ?2, ?3, ?4) ON CONFLICT "
	    "(room_id) DO UPDATE SET archived_at = excluded.archived_at, "
	    "archived_by = excluded.archived_by, hlc = excluded.hlc",
	    &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_text(st, 3, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		goto out;
	snprintf(what, sizeof(what), "room archived (%s)", reason);
	rc = rw_commit(c, tx, room, what, &seq, why);
	tx = NULL;
	if (rc == 0 && (*out = json_pack("{s:s, s:s, s:s, s:I, s:I}",
	    "room_id", room, "status", "archived", "archive_reason", reason,
	    "archived_at", (json_int_t)at, "seq", (json_int_t)seq)) == NULL)
		rc = RK_ENOMEM;
out:
	store_tx_abort(tx);
	return rc;
}

/* ======================================================================
 * Status counts
 * ====================================================================== */

int
roomwork_status(struct rec_ctx *c, json_t *o)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	char today[11], year_ago[11];
	int64_t open = 0, overdue = 0, mine = 0, inv = 0, cards = 0;
	int rc;

	rw_today(c, today);
	/* A card reviewed (or last edited) on or before this date a year ago
	 * is due for its yearly review. */
	{
		char t[40];

		snprintf(t, sizeof(t), "%04d%.6s", (atoi(today) - 1) % 10000,
		    today + 4);
		memcpy(year_ago, t, 10);
		year_ago[10] = '\0';
	}
	if ((rc = rw_prepare(db, "SELECT "
	    "(SELECT count(*) FROM requests q WHERE q.deleted_at IS NULL AND "
	    "q.status IN ('open', 'acknowledged') AND q.room_id IN (SELECT "
	    "room_id FROM rooms r WHERE ?2 OR EXISTS (SELECT 1 FROM "
	    "memberships m WHERE m.room_id = r.room_id AND m.staff_id = ?1 "
	    "AND m.status = 'active'))), "
	    "(SELECT count(*) FROM requests q WHERE q.deleted_at IS NULL AND "
	    "q.status IN ('open', 'acknowledged') AND q.due_date < ?3 AND "
	    "q.room_id IN (SELECT room_id FROM rooms r WHERE ?2 OR EXISTS "
	    "(SELECT 1 FROM memberships m WHERE m.room_id = r.room_id AND "
	    "m.staff_id = ?1 AND m.status = 'active'))), "
	    "(SELECT count(*) FROM requests q WHERE q.deleted_at IS NULL AND "
	    "q.status IN ('open', 'acknowledged') AND q.assignee = ?1), "
	    "(SELECT count(*) FROM memberships m JOIN rooms r USING (room_id) "
	    "WHERE m.staff_id = ?1 AND m.status = 'invited' AND r.status = "
	    "'active'), "
	    "(SELECT count(*) FROM emergency_cards e JOIN rooms r USING "
	    "(room_id) WHERE r.status = 'active' AND coalesce(e.reviewed_at, "
	    "date(e.updated_at / 1000 + 32400, 'unixepoch')) <= ?4 AND (?2 OR "
	    "EXISTS (SELECT 1 FROM memberships m WHERE m.room_id = r.room_id "
	    "AND m.staff_id = ?1 AND m.status = 'active')))", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, c->staff ? c->staff : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, c->is_hub);
	sqlite3_bind_text(st, 3, today, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, year_ago, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		open = sqlite3_column_int64(st, 0);
		overdue = sqlite3_column_int64(st, 1);
		mine = sqlite3_column_int64(st, 2);
		inv = sqlite3_column_int64(st, 3);
		cards = sqlite3_column_int64(st, 4);
		rc = 0;
	} else {
		rc = store_sqlite_err(db);
	}
	sqlite3_finalize(st);
	if (rc != 0)
		return rc;
	if (json_object_set_new(o, "requests_open", json_integer(open)) ||
	    json_object_set_new(o, "requests_overdue",
	    json_integer(overdue)) ||
	    json_object_set_new(o, "requests_for_me", json_integer(mine)) ||
	    json_object_set_new(o, "invitations", json_integer(inv)) ||
	    json_object_set_new(o, "cards_review_due", json_integer(cards)))
		return RK_ENOMEM;
	return 0;
}
