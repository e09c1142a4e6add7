/*
 * admin.c - hub administration (see admin.h): the directory, operator-made
 * rooms, enrolment codes, revocation and the hub's settings.
 *
 * Validation first, naming the field; then one captured store_tx (room ""
 * for the directory) so the change is canonical at once and reaches the
 * devices through the hub log.  Enrolment codes are local: only their
 * BLAKE2b hash is stored (hub_code_hash), and the code itself is never
 * logged.
 */
#include "daemon/admin.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/api.h"
#include "common/id.h"
#include "common/log.h"
#include "daemon/hub.h"
#include "daemon/retention.h"
#include "daemon/store.h"
#include "daemon/wire.h"

static const char *const admin_agency_kinds[] = {
	"clinic", "hospital", "visiting-nurse", "care-management", "pharmacy",
	"dental", "home-help", "community-support", "municipality", NULL,
};

static const char *const admin_professions[] = {
	"doctor", "dentist", "pharmacist", "nurse", "care-manager", "pt",
	"ot", "st", "helper", "social-worker", NULL,
};

/* ---- small helpers ------------------------------------------------------ */

static int
admin_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
		log_warnx("admin: %s: %s", sql, sqlite3_errmsg(db));
		*st = NULL;
		return RK_EDB;
	}
	return 0;
}

static int
admin_step_done(sqlite3 *db, sqlite3_stmt *st, struct rk_why *why)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	return rk_whyf(why, store_sqlite_err(db), "cannot save: %s",
	    sqlite3_errmsg(db));
}

static void
admin_bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static json_t *
admin_col_json(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, i));
	case SQLITE_TEXT:
		return json_string((const char *)sqlite3_column_text(st, i));
	case SQLITE_BLOB: {
		int n = sqlite3_column_bytes(st, i);
		char hex[129];

		if (n > 64)
			return json_null();
		sodium_bin2hex(hex, sizeof(hex), sqlite3_column_blob(st, i),
		    (size_t)n);
		return json_string(hex);
	}
	}
	return json_null();
}

static int
admin_opt_string(json_t *in, const char *key, const char **out,
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

static int
admin_req_string(json_t *in, const char *key, const char **out,
    struct rk_why *why)
{
	int rc;

	if ((rc = admin_opt_string(in, key, out, why)) != 0)
		return rc;
	if (*out == NULL || (*out)[0] == '\0')
		return rk_whyf(why, RK_EINVAL, "%s: required", key);
	return 0;
}

/* A required id a person chose (room, staff, agency, device). */
static int
admin_req_id(json_t *in, const char *key, const char **out,
    struct rk_why *why)
{
	int rc;

	if ((rc = admin_req_string(in, key, out, why)) != 0)
		return rc;
	if (!id_valid_name(*out))
		return rk_whyf(why, RK_EINVAL, "%s: '%.64s' is not a valid id "
		    "(letters, digits, '.', '_', '-'; at most 64)", key, *out);
	return 0;
}

static int
admin_in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

static int
admin_list_text(const char *const *list, char *out, size_t outlen)
{
	size_t n = 0;

	out[0] = '\0';
	for (; *list != NULL; list++) {
		int k = snprintf(out + n, outlen - n, "%s%s", n ? ", " : "",
		    *list);

		if (k < 0 || (size_t)k >= outlen - n)
			break;
		n += (size_t)k;
	}
	return 0;
}

static int
admin_check(struct rec_ctx *c, json_t *in, struct rk_why *why)
{
	if (!c->is_hub && (c->role == NULL || strcmp(c->role, "hub") != 0))
		return rk_whyf(why, RK_EDENIED, "only a hub keeps the "
		    "directory: run this against the hub's data dir");
	if (in != NULL && !json_is_object(in))
		return rk_whyf(why, RK_EINVAL, "body: must be a JSON object");
	return 0;
}

/* 1 if a row matches sql (one text parameter), 0 if not, or an rk_err. */
static int
admin_exists(sqlite3 *db, const char *sql, const char *p1)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = admin_prepare(db, sql, &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 :
	    store_sqlite_err(db);
	sqlite3_finalize(st);
	return rc;
}

/* Runs one bound write (st, prepared inside tx) and commits tx. */
static int
admin_commit(struct store_tx *tx, sqlite3 *db, sqlite3_stmt *st,
    int64_t *hub_seq, struct rk_why *why)
{
	int rc;

	if (st != NULL && (rc = admin_step_done(db, st, why)) != 0) {
		store_tx_abort(tx);
		return rc;
	}
	return store_tx_commit(tx, hub_seq, why);
}

/* Today's date in Japan (UTC+9), where the users are. */
static void
admin_today(struct rec_ctx *c, char out[11])
{
	time_t t = (time_t)(rk_now_ms(store_clock(c->store)) / 1000) +
	    9 * 3600;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

static int
admin_past_date(struct rec_ctx *c, const char *field, const char *v,
    struct rk_why *why)
{
	char today[11];

	if (!rec_valid_date(v))
		return rk_whyf(why, RK_EINVAL,
		    "%s: '%.32s' is not a date (YYYY-MM-DD)", field, v);
	admin_today(c, today);
	if (strcmp(v, today) > 0)
		return rk_whyf(why, RK_EINVAL, "%s: %s is in the future",
		    field, v);
	return 0;
}

/* ---- the directory ------------------------------------------------------ */

int
admin_agency_add(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *id, *name, *kind;
	char kinds[256];
	int64_t seq = 0;
	int rc;

	if ((rc = admin_check(c, in, why)) != 0)
		return rc;
	if ((rc = admin_req_id(in, "id", &id, why)) != 0 ||
	    (rc = admin_req_string(in, "name", &name, why)) != 0 ||
	    (rc = admin_req_string(in, "kind", &kind, why)) != 0)
		return rc;
	if (!admin_in_list(admin_agency_kinds, kind)) {
		admin_list_text(admin_agency_kinds, kinds, sizeof(kinds));
		return rk_whyf(why, RK_EINVAL, "kind: '%.32s' is not one of %s",
		    kind, kinds);
	}
	if ((rc = admin_exists(db, "SELECT 1 FROM agencies WHERE id = ?1",
	    id)) != 0)
		return rc < 0 ? rk_whyf(why, rc, "cannot read agencies") :
		    rk_whyf(why, RK_EEXIST, "id: agency %s already exists", id);
	if ((rc = store_tx_begin(c->store, "", &tx)) != 0)
		return rk_whyf(why, rc, "cannot start a write");
	if ((rc = admin_prepare(db, "INSERT INTO agencies (id, name, kind, "
	    "hlc) VALUES (?1, ?2, ?3, ?4)", &st)) != 0) {
		store_tx_abort(tx);
		return rc;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = admin_commit(tx, db, st, &seq, why)) != 0)
		return rc;
	if ((*out = json_pack("{s:s, s:I}", "id", id, "hub_seq",
	    (json_int_t)seq)) == NULL)
		return RK_ENOMEM;
	return 0;
}

int
admin_staff_add(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *id, *agency, *name, *prof, *phone;
	char profs[256];
	int64_t seq = 0;
	int rc;

	if ((rc = admin_check(c, in, why)) != 0)
		return rc;
	if ((rc = admin_req_id(in, "id", &id, why)) != 0 ||
	    (rc = admin_req_id(in, "agency", &agency, why)) != 0 ||
	    (rc = admin_req_string(in, "name", &name, why)) != 0 ||
	    (rc = admin_req_string(in, "profession", &prof, why)) != 0 ||
	    (rc = admin_opt_string(in, "phone", &phone, why)) != 0)
		return rc;
	if (!admin_in_list(admin_professions, prof)) {
		admin_list_text(admin_professions, profs, sizeof(profs));
		return rk_whyf(why, RK_EINVAL, "profession: '%.32s' is not one "
		    "of %s", prof, profs);
	}
	if ((rc = admin_exists(db, "SELECT 1 FROM agencies WHERE id = ?1",
	    agency)) <= 0)
		return rc < 0 ? rk_whyf(why, rc, "cannot read agencies") :
		    rk_whyf(why, RK_EINVAL, "agency: no agency %s (add it "
		    "first)", agency);
	if ((rc = admin_exists(db, "SELECT 1 FROM staff WHERE id = ?1",
	    id)) != 0)
		return rc < 0 ? rk_whyf(why, rc, "cannot read staff") :
		    rk_whyf(why, RK_EEXIST, "id: staff %s already exists", id);
	if ((rc = store_tx_begin(c->store, "", &tx)) != 0)
		return rk_whyf(why, rc, "cannot start a write");
	if ((rc = admin_prepare(db, "INSERT INTO staff (id, agency_id, name, "
	    "profession, phone, hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	    &st)) != 0) {
		store_tx_abort(tx);
		return rc;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, agency, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, prof, -1, SQLITE_STATIC);
	admin_bind_opt(st, 5, phone);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = admin_commit(tx, db, st, &seq, why)) != 0)
		return rc;
	if ((*out = json_pack("{s:s, s:I}", "id", id, "hub_seq",
	    (json_int_t)seq)) == NULL)
		return RK_ENOMEM;
	return 0;
}

static int
admin_staff_status(struct rec_ctx *c, json_t *in, const char *status,
    json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *id;
	int rc;

	if ((rc = admin_check(c, in, why)) != 0 ||
	    (rc = admin_req_id(in, "staff", &id, why)) != 0)
		return rc;
	if ((rc = admin_exists(db, "SELECT 1 FROM staff WHERE id = ?1",
	    id)) <= 0)
		return rc < 0 ? rk_whyf(why, rc, "cannot read staff") :
		    rk_whyf(why, RK_ENOTFOUND, "staff: no staff %s", id);
	if ((rc = store_tx_begin(c->store, "", &tx)) != 0)
		return rk_whyf(why, rc, "cannot start a write");
	if ((rc = admin_prepare(db, "UPDATE staff SET status = ?2, hlc = ?3 "
	    "WHERE id = ?1 AND status <> ?2", &st)) != 0) {
		store_tx_abort(tx);
		return rc;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = admin_commit(tx, db, st, NULL, why)) != 0)
		return rc;
	if (strcmp(status, "suspended") == 0)
		log_info("staff %s suspended", id);
	if ((*out = json_pack("{s:s, s:s}", "staff", id, "status",
	    status)) == NULL)
		return RK_ENOMEM;
	return 0;
}

int
admin_staff_suspend(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why)
{
	return admin_staff_status(c, in, "suspended", out, why);
}

int
admin_staff_resume(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why)
{
	return admin_staff_status(c, in, "active", out, why);
}

int
admin_revoke(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	sqlite3_stmt *st = NULL;
	const char *id;
	int rc;

	if ((rc = admin_check(c, in, why)) != 0 ||
	    (rc = admin_req_id(in, "device", &id, why)) != 0)
		return rc;
	if ((rc = admin_exists(db, "SELECT 1 FROM devices WHERE id = ?1",
	    id)) <= 0)
		return rc < 0 ? rk_whyf(why, rc, "cannot read devices") :
		    rk_whyf(why, RK_ENOTFOUND, "device: no device %s", id);
	if ((rc = store_tx_begin(c->store, "", &tx)) != 0)
		return rk_whyf(why, rc, "cannot start a write");
	if ((rc = admin_prepare(db, "UPDATE devices SET status = 'revoked', "
	    "hlc = ?2 WHERE id = ?1 AND status <> 'revoked'", &st)) != 0) {
		store_tx_abort(tx);
		return rc;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = admin_commit(tx, db, st, NULL, why)) != 0)
		return rc;
	log_info("device %s revoked", id);
	if ((*out = json_pack("{s:s, s:s}", "device", id, "status",
	    "revoked")) == NULL)
		return RK_ENOMEM;
	return 0;
}

/* ---- rooms -------------------------------------------------------------- */

static int
admin_insert_room(struct rec_ctx *c, struct store_tx *tx, const char *room,
    const char *kind, const char *title, json_t *in, json_t *members,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	const char *pname = NULL, *cdate = NULL, *consenter = NULL;
	const char *cname = NULL, *relation = NULL, *scope = NULL;
	const char *paper = NULL, *bdate = NULL;
	char cid[ID_LEN + 1];
	json_t *m;
	size_t i;
	int rc;

	if ((rc = admin_prepare(db, "INSERT INTO rooms (room_id, kind, title, "
	    "created_by, created_at, hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	    &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, store_tx_now_ms(tx));
	sqlite3_bind_int64(st, 6, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = admin_step_done(db, st, why)) != 0)
		return rc;

	if (strcmp(kind, "patient") == 0) {
		/* Validated by the caller already. */
		(void)admin_opt_string(in, "patient_name", &pname, NULL);
		(void)admin_opt_string(in, "consent_date", &cdate, NULL);
		(void)admin_opt_string(in, "consenter", &consenter, NULL);
		(void)admin_opt_string(in, "consenter_name", &cname, NULL);
		(void)admin_opt_string(in, "relation", &relation, NULL);
		(void)admin_opt_string(in, "scope", &scope, NULL);
		(void)admin_opt_string(in, "paper_location", &paper, NULL);
		(void)admin_opt_string(in, "birth_date", &bdate, NULL);
		if ((rc = admin_prepare(db, "INSERT INTO patients (room_id, "
		    "name, birth_date, hlc) VALUES (?1, ?2, ?3, ?4)",
		    &st)) != 0)
			return rc;
		sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, pname, -1, SQLITE_STATIC);
		admin_bind_opt(st, 3, bdate);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)store_tx_hlc(tx));
		if ((rc = admin_step_done(db, st, why)) != 0)
			return rc;
		id_new(store_clock(c->store), cid);
		if ((rc = admin_prepare(db, "INSERT INTO consents (room_id, "
		    "id, consent_date, consenter, consenter_name, relation, "
		    "scope, paper_location, recorded_by, recorded_at, hlc) "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
		    &st)) != 0)
			return rc;
		sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, cid, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, cdate, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, consenter ? consenter : "patient", -1,
		    SQLITE_STATIC);
		admin_bind_opt(st, 5, cname);
		admin_bind_opt(st, 6, relation);
		admin_bind_opt(st, 7, scope);
		admin_bind_opt(st, 8, paper);
		sqlite3_bind_text(st, 9, c->staff, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 10, store_tx_now_ms(tx));
		sqlite3_bind_int64(st, 11, (sqlite3_int64)store_tx_hlc(tx));
		if ((rc = admin_step_done(db, st, why)) != 0)
			return rc;
	}
	json_array_foreach(members, i, m) {
		if ((rc = admin_prepare(db, "INSERT INTO memberships (room_id, "
		    "staff_id, role, added_by, added_at, hlc) VALUES (?1, ?2, "
		    "'member', ?3, ?4, ?5)", &st)) != 0)
			return rc;
		sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, json_string_value(m), -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(st, 3, c->staff, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, store_tx_now_ms(tx));
		sqlite3_bind_int64(st, 5, (sqlite3_int64)store_tx_hlc(tx));
		if ((rc = admin_step_done(db, st, why)) != 0)
			return rc;
	}
	return 0;
}

int
admin_room_create(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	const char *room, *kind, *title, *pname = NULL, *cdate = NULL;
	const char *consenter, *cname, *relation, *bdate, *s;
	json_t *members, *m, *all = NULL;
	char gone[400];
	int64_t seq = 0;
	size_t i;
	int rc, patient;

	if ((rc = admin_check(c, in, why)) != 0)
		return rc;
	if ((rc = admin_req_id(in, "room_id", &room, why)) != 0 ||
	    (rc = admin_opt_string(in, "kind", &kind, why)) != 0 ||
	    (rc = admin_opt_string(in, "title", &title, why)) != 0 ||
	    (rc = admin_opt_string(in, "consenter", &consenter, why)) != 0 ||
	    (rc = admin_opt_string(in, "consenter_name", &cname, why)) != 0 ||
	    (rc = admin_opt_string(in, "relation", &relation, why)) != 0 ||
	    (rc = admin_opt_string(in, "scope", &s, why)) != 0 ||
	    (rc = admin_opt_string(in, "paper_location", &s, why)) != 0 ||
	    (rc = admin_opt_string(in, "birth_date", &bdate, why)) != 0)
		return rc;
	if (kind == NULL)
		kind = "patient";
	if (strcmp(kind, "patient") && strcmp(kind, "disaster") &&
	    strcmp(kind, "notice"))
		return rk_whyf(why, RK_EINVAL, "kind: must be patient, "
		    "disaster or notice");
	patient = strcmp(kind, "patient") == 0;
	if (patient) {
		if ((rc = admin_req_string(in, "patient_name", &pname,
		    why)) != 0)
			return rc;
		/* The consent rule: a patient room exists only with the
		 * patient's (or family's) recorded consent. */
		if ((rc = admin_opt_string(in, "consent_date", &cdate,
		    why)) != 0)
			return rc;
		if (cdate == NULL || cdate[0] == '\0')
			return rk_whyf(why, RK_EINVAL, "consent_date: a "
			    "patient room needs the date the patient "
			    "consented");
		if ((rc = admin_past_date(c, "consent_date", cdate, why)) != 0)
			return rc;
		if (bdate != NULL && (rc = admin_past_date(c, "birth_date",
		    bdate, why)) != 0)
			return rc;
		if (consenter != NULL && strcmp(consenter, "patient") &&
		    strcmp(consenter, "family"))
			return rk_whyf(why, RK_EINVAL,
			    "consenter: must be 'patient' or 'family'");
		if (consenter != NULL && !strcmp(consenter, "family") &&
		    (cname == NULL || relation == NULL))
			return rk_whyf(why, RK_EINVAL, "consenter_name and "
			    "relation: required when a family member "
			    "consents");
		if (title == NULL || title[0] == '\0')
			title = pname;
	} else if (title == NULL || title[0] == '\0') {
		return rk_whyf(why, RK_EINVAL, "title: required for a %s room",
		    kind);
	}
	members = json_object_get(in, "members");
	if (!json_is_array(members) || json_array_size(members) == 0)
		return rk_whyf(why, RK_EINVAL,
		    "members: at least one member is required");
	if ((all = json_array()) == NULL)
		return RK_ENOMEM;
	json_array_foreach(members, i, m) {
		size_t k;
		json_t *seen;
		int dup = 0;

		if (!json_is_string(m) ||
		    !id_valid_name(json_string_value(m))) {
			rc = rk_whyf(why, RK_EINVAL,
			    "members[%zu]: not a staff id", i);
			goto out;
		}
		if ((rc = admin_exists(db, "SELECT 1 FROM staff WHERE id = ?1",
		    json_string_value(m))) <= 0) {
			if (rc == 0)
				rc = rk_whyf(why, RK_EINVAL, "members: every "
				    "member must be in the staff directory; %s "
				    "is not", json_string_value(m));
			goto out;
		}
		json_array_foreach(all, k, seen)
			dup |= json_equal(seen, m);
		if (!dup && json_array_append(all, m) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if ((rc = admin_exists(db, "SELECT 1 FROM rooms WHERE room_id = ?1",
	    room)) != 0) {
		if (rc > 0)
			rc = rk_whyf(why, RK_EEXIST, "room_id: room %s already "
			    "exists", room);
		goto out;
	}
	if ((rc = retention_purged(db, room, gone, sizeof(gone))) != 0) {
		if (rc > 0)
			rc = rk_whyf(why, RK_EEXIST, "room_id: %s", gone);
		goto out;
	}
	if ((rc = store_tx_begin(c->store, room, &tx)) != 0) {
		rk_whyf(why, rc, "cannot start a write");
		goto out;
	}
	if ((rc = admin_insert_room(c, tx, room, kind, title, in, all,
	    why)) != 0)
		goto out;
	/* The same rules the hub applies to a room a device makes. */
	if ((rc = hub_room_rules(db, room, why)) != 0)
		goto out;
	rc = store_tx_commit(tx, &seq, why);
	tx = NULL;
	if (rc != 0)
		goto out;
	if ((*out = json_pack("{s:s, s:I}", "room_id", room, "hub_seq",
	    (json_int_t)seq)) == NULL)
		rc = RK_ENOMEM;
out:
	store_tx_abort(tx);
	json_decref(all);
	return rc;
}

/* ---- enrolment codes ---------------------------------------------------- */

int
admin_enroll_code(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	const char *staff;
	uint8_t rnd[8], hash[32];
	uint64_t bits = 0;
	char code[HUB_CODE_CHARS + 3];
	int64_t now, expires;
	int rc, i, j;

	if ((rc = admin_check(c, in, why)) != 0 ||
	    (rc = admin_req_id(in, "staff", &staff, why)) != 0)
		return rc;
	if ((rc = admin_exists(db, "SELECT 1 FROM staff WHERE id = ?1",
	    staff)) <= 0)
		return rc < 0 ? rk_whyf(why, rc, "cannot read staff") :
		    rk_whyf(why, RK_ENOTFOUND, "staff: no staff %s (add them "
		    "first)", staff);
	if ((rc = admin_exists(db, "SELECT 1 FROM staff WHERE id = ?1 AND "
	    "status = 'active'", staff)) <= 0)
		return rc < 0 ? rk_whyf(why, rc, "cannot read staff") :
		    rk_whyf(why, RK_EDENIED, "staff %s is suspended", staff);
	/* 50 random bits as 10 Crockford digits, XXXX-XXXX-XX. */
	rk_random(store_clock(c->store), rnd, sizeof(rnd));
	for (i = 0; i < 8; i++)
		bits = bits << 8 | rnd[i];
	for (i = 0, j = 0; i < HUB_CODE_CHARS; i++) {
		if (i == 4 || i == 8)
			code[j++] = '-';
		code[j++] = alphabet[(bits >> (5 * i)) & 31];
	}
	code[j] = '\0';
	if (hub_code_hash(code, hash) != 0) {
		rc = RK_EINVAL;	/* cannot happen: the same alphabet */
		goto out;
	}
	now = rk_now_ms(store_clock(c->store));
	expires = now + WIRE_CODE_TTL_MS;
	if ((rc = admin_prepare(db, "INSERT INTO local_enroll_codes "
	    "(code_hash, staff_id, created_at, expires_at) VALUES (?1, ?2, "
	    "?3, ?4)", &st)) != 0)
		goto out;
	sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_text(st, 2, staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, expires);
	if ((rc = admin_step_done(db, st, why)) != 0)
		goto out;
	log_info("enrolment code issued for staff %s", staff);
	if ((*out = json_pack("{s:s, s:s, s:I}", "code", code, "staff", staff,
	    "expires_at", (json_int_t)expires)) == NULL)
		rc = RK_ENOMEM;
out:
	sodium_memzero(code, sizeof(code));
	sodium_memzero(rnd, sizeof(rnd));
	sodium_memzero(&bits, sizeof(bits));
	return rc;
}

/* ---- listing and settings ----------------------------------------------- */

/* Rows of sql as objects with keys; ?1, if sql has it, is p1. */
static int
admin_rows(sqlite3 *db, const char *sql, int64_t p1,
    const char *const *keys, json_t **out)
{
	sqlite3_stmt *st = NULL;
	json_t *arr, *o;
	int rc, i;

	if ((arr = json_array()) == NULL)
		return RK_ENOMEM;
	if ((rc = admin_prepare(db, sql, &st)) != 0) {
		json_decref(arr);
		return rc;
	}
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, p1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((o = json_object()) == NULL)
			break;
		for (i = 0; keys[i] != NULL; i++)
			json_object_set_new(o, keys[i], admin_col_json(st, i));
		if (json_array_append_new(arr, o) != 0)
			break;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return rc == SQLITE_ROW ? RK_ENOMEM : store_sqlite_err(db);
	}
	*out = arr;
	return 0;
}

int
admin_list(struct rec_ctx *c, json_t **out, struct rk_why *why)
{
	static const char *const akeys[] = { "id", "name", "kind", NULL };
	static const char *const skeys[] = { "id", "agency", "name",
	    "profession", "phone", "status", NULL };
	static const char *const dkeys[] = { "id", "staff", "status",
	    "enrolled_at", "sign_pk", NULL };
	static const char *const ckeys[] = { "head", "open_codes", NULL };
	sqlite3 *db = store_db(c->store);
	json_t *ag = NULL, *sf = NULL, *dv = NULL, *cnt = NULL, *o;
	int rc;

	if ((rc = admin_check(c, NULL, why)) != 0)
		return rc;
	if ((rc = admin_rows(db, "SELECT id, name, kind FROM agencies ORDER "
	    "BY id", 0, akeys, &ag)) != 0 ||
	    (rc = admin_rows(db, "SELECT id, agency_id, name, profession, "
	    "phone, status FROM staff ORDER BY id", 0, skeys, &sf)) != 0 ||
	    (rc = admin_rows(db, "SELECT id, staff_id, status, enrolled_at, "
	    "sign_pk FROM devices ORDER BY id", 0, dkeys, &dv)) != 0 ||
	    (rc = admin_rows(db, "SELECT (SELECT coalesce(max(hub_seq), 0) "
	    "FROM local_hub_log), (SELECT count(*) FROM local_enroll_codes "
	    "WHERE used_at IS NULL AND expires_at > ?1)",
	    rk_now_ms(store_clock(c->store)), ckeys, &cnt)) != 0) {
		rk_whyf(why, rc, "cannot read the directory");
		goto out;
	}
	o = json_pack("{s:O, s:O, s:O, s:b, s:O, s:O}", "agencies", ag,
	    "staff", sf, "devices", dv, "require_doctor",
	    hub_require_doctor(db), "head",
	    json_object_get(json_array_get(cnt, 0), "head"), "open_codes",
	    json_object_get(json_array_get(cnt, 0), "open_codes"));
	if (o == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	*out = o;
out:
	json_decref(ag);
	json_decref(sf);
	json_decref(dv);
	json_decref(cnt);
	return rc;
}

int
admin_settings_set(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *v;
	int rc;

	if ((rc = admin_check(c, in, why)) != 0)
		return rc;
	v = json_object_get(in, "require_doctor");
	if (!json_is_boolean(v) || json_object_size(in) != 1)
		return rk_whyf(why, RK_EINVAL, "require_doctor: true or false "
		    "(the only setting)");
	if ((rc = admin_prepare(db, "INSERT INTO local_meta (key, value) "
	    "VALUES ('" HUB_META_REQUIRE_DOCTOR "', ?1) ON CONFLICT (key) DO "
	    "UPDATE SET value = excluded.value", &st)) != 0)
		return rc;
	sqlite3_bind_int(st, 1, json_is_true(v));
	if ((rc = admin_step_done(db, st, why)) != 0)
		return rc;
	log_info("hub setting require_doctor = %s", json_is_true(v) ? "on" :
	    "off");
	if ((*out = json_pack("{s:b}", "require_doctor",
	    hub_require_doctor(db))) == NULL)
		return RK_ENOMEM;
	return 0;
}

int
admin_purge_expired(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why)
{
	json_t *v;
	int rc;

	if ((rc = admin_check(c, in, why)) != 0)
		return rc;
	v = json_object_get(in, "dry_run");
	if ((v != NULL && !json_is_boolean(v)) ||
	    json_object_size(in) > (v != NULL ? 1u : 0u))
		return rk_whyf(why, RK_EINVAL, "dry_run: true or false (the "
		    "only field)");
	return retention_purge(c->store, rk_now_ms(store_clock(c->store)),
	    c->retention_ms, json_is_true(v), out, why);
}
