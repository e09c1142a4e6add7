/*
 * conflicts.c - conflict records: the apply_v2 conflict handler around
 * conflict/merge.h (hub and device), the records as rows of `conflicts`,
 * the writers of the hub's rows, and the local API's list and resolve.
 * See conflicts.h for who writes what; the table is written down in
 * schema/004_conflicts.sql.
 *
 * Values in records are JSON text (ca_value_json): "text", 12, 1.5, null,
 * {"blob": "hex"}, {"text_hex": "hex"} for text that is not UTF-8,
 * {"float": "inf"} for a non-finite number; SQL NULL is "no row".  The
 * same text read back (ca_bind_json) binds the same SQLite value.
 */
#include "daemon/conflicts.h"

#include <math.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/api.h"
#include "common/buf.h"
#include "common/hlc.h"
#include "common/id.h"
#include "common/log.h"
#include "conflict/merge.h"
#include "conflict/policy.h"
#include "daemon/records.h"
#include "daemon/roomwork.h"
#include "daemon/store.h"

#define CA_KEY_MAX 1024		/* a row key as a JSON array */

/* ---- values as JSON text ------------------------------------------------ */

static json_t *
ca_hex_json(const char *key, const void *p, size_t n)
{
	char *hex;
	json_t *o;

	if ((hex = malloc(2 * n + 1)) == NULL)
		return NULL;
	sodium_bin2hex(hex, 2 * n + 1, p, n);
	o = json_pack("{s:s}", key, hex);
	free(hex);
	return o;
}

/* A new reference, or NULL for MERGE_UNDEFINED (and out of memory). */
static json_t *
ca_value_json(const struct merge_value *v)
{
	char num[40];
	json_t *j;

	switch (v->type) {
	case MERGE_INTEGER:
		return json_integer((json_int_t)v->i);
	case MERGE_FLOAT:
		if (isfinite(v->f))
			return json_real(v->f);
		snprintf(num, sizeof(num), "%g", v->f);
		return json_pack("{s:s}", "float", num);
	case MERGE_TEXT:
		if ((j = json_stringn(v->n ? v->p : "", v->n)) != NULL)
			return j;
		return ca_hex_json("text_hex", v->p, v->n);
	case MERGE_BLOB:
		return ca_hex_json("blob", v->p, v->n);
	case MERGE_NULL:
		return json_null();
	case MERGE_UNDEFINED:
		break;
	}
	return NULL;
}

/* JSON text of v, malloc'd (free()), or NULL for MERGE_UNDEFINED; *nomem
 * is set when NULL means out of memory. */
static char *
ca_value_text(const struct merge_value *v, int *nomem)
{
	json_t *j;
	char *s;

	if (v->type == MERGE_UNDEFINED)
		return NULL;
	if ((j = ca_value_json(v)) == NULL) {
		*nomem = 1;
		return NULL;
	}
	s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		*nomem = 1;
	return s;
}

static int
ca_unhex(const char *hex, uint8_t **out, size_t *n)
{
	size_t len = strlen(hex), bin = 0;
	uint8_t *p;

	if ((p = malloc(len / 2 + 1)) == NULL)
		return RK_ENOMEM;
	if (sodium_hex2bin(p, len / 2 + 1, hex, len, NULL, &bin, NULL) != 0 ||
	    bin * 2 != len) {
		free(p);
		return RK_EINVAL;
	}
	*out = p;	/* the caller's: free() */
	*n = bin;
	return 0;
}

/* Binds the value JSON j stands for to parameter i. */
static int
ca_bind_jvalue(sqlite3_stmt *st, int i, json_t *j)
{
	const char *hex;
	uint8_t *bin = NULL;
	size_t n = 0;
	int rc;

	switch (json_typeof(j)) {
	case JSON_STRING:
		sqlite3_bind_text(st, i, json_string_value(j),
		    (int)json_string_length(j), SQLITE_TRANSIENT);
		return 0;
	case JSON_INTEGER:
		sqlite3_bind_int64(st, i, (sqlite3_int64)json_integer_value(j));
		return 0;
	case JSON_REAL:
		sqlite3_bind_double(st, i, json_real_value(j));
		return 0;
	case JSON_NULL:
		sqlite3_bind_null(st, i);
		return 0;
	case JSON_OBJECT:
		if ((hex = json_string_value(json_object_get(j, "float")))) {
			sqlite3_bind_double(st, i, strtod(hex, NULL));
			return 0;
		}
		if ((hex = json_string_value(json_object_get(j, "blob"))) ==
		    NULL && (hex = json_string_value(json_object_get(j,
		    "text_hex"))) == NULL)
			return RK_EINVAL;
		if ((rc = ca_unhex(hex, &bin, &n)) != 0)
			return rc;
		if (json_object_get(j, "blob") != NULL)
			sqlite3_bind_blob(st, i, n ? bin : (void *)"", (int)n,
			    SQLITE_TRANSIENT);
		else
			sqlite3_bind_text(st, i, n ? (char *)bin : "", (int)n,
			    SQLITE_TRANSIENT);
		free(bin);
		return 0;
	default:
		return RK_EINVAL;
	}
}

/* Binds the value of JSON text s to parameter i. */
static int
ca_bind_json(sqlite3_stmt *st, int i, const char *s)
{
	json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
	int rc;

	if (j == NULL)
		return RK_EINVAL;
	rc = ca_bind_jvalue(st, i, j);
	json_decref(j);
	return rc;
}

static void
ca_bind_merge(sqlite3_stmt *st, int i, const struct merge_value *v)
{
	switch (v->type) {
	case MERGE_INTEGER:
		sqlite3_bind_int64(st, i, v->i);
		break;
	case MERGE_FLOAT:
		sqlite3_bind_double(st, i, v->f);
		break;
	case MERGE_TEXT:
		sqlite3_bind_text(st, i, v->n ? v->p : "", (int)v->n,
		    SQLITE_TRANSIENT);
		break;
	case MERGE_BLOB:
		sqlite3_bind_blob(st, i, v->n ? v->p : "", (int)v->n,
		    SQLITE_TRANSIENT);
		break;
	default:
		sqlite3_bind_null(st, i);
		break;
	}
}

/* The key values of a change (pk flags from the iterator) as a JSON
 * array text into out; 0, or -1 if it does not fit or memory ran out. */
static int
ca_key_array(const unsigned char *pk, int ncol, const struct merge_value *v,
    char *out, size_t outlen)
{
	json_t *arr = json_array(), *j;
	char *s = NULL;
	int i, rc = -1;

	for (i = 0; arr != NULL && i < ncol && i < MERGE_MAX_COLS; i++) {
		if (!pk[i])
			continue;
		if ((j = ca_value_json(&v[i])) == NULL)
			j = json_null();
		if (json_array_append_new(arr, j) != 0)
			goto out;
	}
	if (arr == NULL || (s = json_dumps(arr, JSON_COMPACT)) == NULL ||
	    strlen(s) >= outlen)
		goto out;
	memcpy(out, s, strlen(s) + 1);
	rc = 0;
out:
	free(s);
	json_decref(arr);
	return rc;
}

/* ---- the pre-apply walk ------------------------------------------------- */

struct ca_scratch {
	struct merge_rows rows;
	struct merge_change c;
	struct merge_decision d;
};

/* Columns a device may set in a conflict record: resolving it. */
static int
ca_resolvable(const char *col)
{
	static const char *const ok[] = { "status", "resolved_by",
	    "resolved_at", "resolution", "resolved_value", "hlc", NULL };
	int i;

	for (i = 0; ok[i] != NULL; i++)
		if (strcmp(ok[i], col) == 0)
			return 1;
	return 0;
}

static int
ca_text_is(const struct merge_value *v, const char *s)
{
	return v->type == MERGE_TEXT && v->n == strlen(s) &&
	    memcmp(v->p, s, v->n) == 0;
}

static int
ca_walk_conflicts_table(const struct merge_change *c, const char *staff,
    char *reason, size_t rlen)
{
	const struct table_columns *t = policy_columns_for_table("conflicts");
	int i;

	if (c->op != MERGE_OP_UPDATE) {
		snprintf(reason, rlen, "conflict records are written by the "
		    "hub only: a device may resolve one, not %s one",
		    c->op == MERGE_OP_INSERT ? "insert" : "delete");
		return 1;
	}
	for (i = 0; t != NULL && i < c->ncol && i < t->ncol; i++) {
		const char *name = t->cols[i].name;

		if (c->new[i].type == MERGE_UNDEFINED)
			continue;
		if (!ca_resolvable(name)) {
			snprintf(reason, rlen, "conflicts: a device may only "
			    "resolve a record; this change sets %s", name);
			return 1;
		}
		if (strcmp(name, "status") == 0 &&
		    !ca_text_is(&c->new[i], "resolved")) {
			snprintf(reason, rlen, "conflicts: a record is "
			    "resolved, never reopened");
			return 1;
		}
		if (strcmp(name, "resolved_by") == 0 && staff != NULL &&
		    !ca_text_is(&c->new[i], staff)) {
			snprintf(reason, rlen, "conflicts: a record is "
			    "resolved in the name of the device's staff (%s)",
			    staff);
			return 1;
		}
	}
	return 0;
}

int
conflicts_walk_change(sqlite3_changeset_iter *it, const char *staff,
    char *reason, size_t rlen)
{
	struct ca_scratch *w;
	int rc = 0;

	if ((w = malloc(sizeof(*w))) == NULL) {
		snprintf(reason, rlen, "the hub is out of memory");
		return 1;
	}
	if (merge_change_from_iter(it, 0, &w->rows, &w->c) != 0) {
		rc = RK_EPROTO;
		goto out;
	}
	if (merge_decide(&w->c, &w->d) != 0) {
		rc = RK_EPROTO;
		goto out;
	}
	if (w->d.verdict == MERGE_REFUSE) {
		snprintf(reason, rlen, "%s", w->d.reason);
		rc = 1;
		goto out;
	}
	if (w->c.table != NULL && strcmp(w->c.table, "conflicts") == 0)
		rc = ca_walk_conflicts_table(&w->c, staff, reason, rlen);
out:
	free(w);
	return rc;
}

/* ---- the conflict handler ----------------------------------------------- */

/* A record as the handler keeps it until the apply is over (the merge
 * decision's values are borrowed from the iterator). */
struct ca_rec {
	enum merge_kind kind;
	char table[64], column[64];
	char key[MERGE_KEY_MAX];
	char *winner, *loser;		/* JSON text, malloc'd; NULL: no row */
	uint64_t winner_hlc, loser_hlc;
	char winner_origin[65], loser_origin[65];
};

struct conflicts_apply {
	sqlite3 *db;
	char origin[65];
	char cur_origin[65];	/* the hub row's last writer, or "" */
	uint64_t hlc;
	int predict;
	struct merge_rows rows;
	struct merge_change c;
	struct merge_decision d;
	char key[CA_KEY_MAX];	/* the current change's key, "" unknown */
	struct ca_rec *recs;
	size_t nrec, cap;
	sqlite3_stmt *who;	/* writer of (table, key, column) */
	char refusal[MERGE_REASON_MAX];
	int err;
};

int
conflicts_apply_begin(sqlite3 *db, const char *origin, uint64_t hlc,
    int predict, struct conflicts_apply **out)
{
	struct conflicts_apply *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return RK_ENOMEM;
	a->db = db;
	snprintf(a->origin, sizeof(a->origin), "%s", origin);
	a->hlc = hlc;
	a->predict = predict;
	if (!predict && sqlite3_prepare_v2(db, "SELECT origin FROM "
	    "local_hub_writers WHERE table_name = ?1 AND row_key = ?2 AND "
	    "column_name = ?3", -1, &a->who, NULL) != SQLITE_OK) {
		log_warnx("conflicts: %s", sqlite3_errmsg(db));
		free(a);
		return store_sqlite_err(db);
	}
	*out = a;	/* the caller's: conflicts_apply_free */
	return 0;
}

void
conflicts_apply_free(struct conflicts_apply *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nrec; i++) {
		free(a->recs[i].winner);
		free(a->recs[i].loser);
	}
	free(a->recs);
	sqlite3_finalize(a->who);
	free(a);
}

const char *
conflicts_apply_refusal(const struct conflicts_apply *a)
{
	return a->refusal;
}

int
conflicts_apply_error(const struct conflicts_apply *a)
{
	return a->err;
}

size_t
conflicts_apply_count(const struct conflicts_apply *a)
{
	return a->nrec;
}

/* The device that last wrote column of the current row, into out ("" if
 * unknown). */
static void
ca_writer(struct conflicts_apply *a, const char *table, const char *column,
    char *out, size_t outlen)
{
	out[0] = '\0';
	if (a->who == NULL || a->key[0] == '\0')
		return;
	sqlite3_bind_text(a->who, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(a->who, 2, a->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(a->who, 3, column, -1, SQLITE_STATIC);
	if (sqlite3_step(a->who) == SQLITE_ROW &&
	    sqlite3_column_text(a->who, 0) != NULL)
		snprintf(out, outlen, "%s", sqlite3_column_text(a->who, 0));
	sqlite3_reset(a->who);
}

static int
ca_keep(struct conflicts_apply *a, const struct merge_record *r)
{
	struct ca_rec *k, *n;
	int nomem = 0;

	if (a->nrec == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;

		if ((n = realloc(a->recs, cap * sizeof(*n))) == NULL)
			return RK_ENOMEM;
		a->recs = n;
		a->cap = cap;
	}
	k = &a->recs[a->nrec];
	memset(k, 0, sizeof(*k));
	k->kind = r->kind;
	snprintf(k->table, sizeof(k->table), "%s", r->table ? r->table :
	    a->d.table);
	snprintf(k->column, sizeof(k->column), "%s", r->column);
	snprintf(k->key, sizeof(k->key), "%s", a->d.key_text);
	k->winner = ca_value_text(&r->winner, &nomem);
	k->loser = ca_value_text(&r->loser, &nomem);
	if (nomem) {
		free(k->winner);
		free(k->loser);
		return RK_ENOMEM;
	}
	k->winner_hlc = r->winner_hlc;
	k->loser_hlc = r->loser_hlc;
	snprintf(k->winner_origin, sizeof(k->winner_origin), "%s",
	    r->winner_origin ? r->winner_origin : "");
	snprintf(k->loser_origin, sizeof(k->loser_origin), "%s",
	    r->loser_origin ? r->loser_origin : "");
	/* merge knows only the row's last writer; the hub knows who wrote
	 * this column (the side merge gave cur_origin is the hub's). */
	if (r->winner_origin == a->c.cur_origin)
		ca_writer(a, k->table, k->column, k->winner_origin,
		    sizeof(k->winner_origin));
	else if (r->loser_origin == a->c.cur_origin)
		ca_writer(a, k->table, k->column, k->loser_origin,
		    sizeof(k->loser_origin));
	if (r->winner_origin == a->c.cur_origin && !k->winner_origin[0])
		snprintf(k->winner_origin, sizeof(k->winner_origin), "%s",
		    a->c.cur_origin);
	if (r->loser_origin == a->c.cur_origin && !k->loser_origin[0])
		snprintf(k->loser_origin, sizeof(k->loser_origin), "%s",
		    a->c.cur_origin);
	a->nrec++;
	return 0;
}

/* MERGE_SET: one UPDATE of exactly the decided columns. */
static int
ca_run_set(sqlite3 *db, const struct merge_decision *d)
{
	struct buf sql = BUF_INIT;
	sqlite3_stmt *st = NULL;
	int i, rc;

	rc = buf_appendf(&sql, "UPDATE \"%s\" SET", d->table);
	for (i = 0; rc == 0 && i < d->nset; i++)
		rc = buf_appendf(&sql, "%s \"%s\" = ?%d", i ? "," : "",
		    d->set[i].name, i + 1);
	for (i = 0; rc == 0 && i < d->nkey; i++)
		rc = buf_appendf(&sql, " %s \"%s\" = ?%d", i ? "AND" : "WHERE",
		    d->key[i].name, d->nset + i + 1);
	if (rc != 0)
		goto out;
	if (sqlite3_prepare_v2(db, (char *)sql.data, -1, &st, NULL) !=
	    SQLITE_OK) {
		log_warnx("conflicts: merge of %s: %s", d->table,
		    sqlite3_errmsg(db));
		rc = store_sqlite_err(db);
		goto out;
	}
	for (i = 0; i < d->nset; i++)
		ca_bind_merge(st, i + 1, &d->set[i].value);
	for (i = 0; i < d->nkey; i++)
		ca_bind_merge(st, d->nset + i + 1, &d->key[i].value);
	if (sqlite3_step(st) != SQLITE_DONE) {
		log_warnx("conflicts: merge of %s: %s", d->table,
		    sqlite3_errmsg(db));
		rc = store_sqlite_err(db);
	} else if (sqlite3_changes(db) != 1) {
		log_warnx("conflicts: merge of %s changed %d rows", d->table,
		    sqlite3_changes(db));
		rc = RK_EDB;
	}
out:
	sqlite3_finalize(st);
	buf_release(&sql);
	return rc;
}

static int
ca_refuse(struct conflicts_apply *a, const char *reason)
{
	snprintf(a->refusal, sizeof(a->refusal), "%s", reason);
	return SQLITE_CHANGESET_ABORT;
}

int
conflicts_apply_on_conflict(void *arg, int kind, sqlite3_changeset_iter *it)
{
	struct conflicts_apply *a = arg;
	struct merge_decision *d = &a->d;
	unsigned char *pk = NULL;
	int npk = 0, i, rc;

	if (a->err != 0 || a->refusal[0] != '\0')
		return SQLITE_CHANGESET_ABORT;
	if (merge_change_from_iter(it, kind, &a->rows, &a->c) != 0)
		return ca_refuse(a, "a change that cannot be read");
	a->c.hlc = a->hlc;
	a->c.origin = a->origin;
	a->c.flags = MERGE_F_HISTORY;
	a->cur_origin[0] = '\0';
	a->key[0] = '\0';
	a->c.cur_origin = a->cur_origin;
	if (!a->predict && a->c.table != NULL && a->c.ncol <= MERGE_MAX_COLS &&
	    sqlite3changeset_pk(it, &pk, &npk) == SQLITE_OK && npk == a->c.ncol) {
		if (ca_key_array(pk, npk, a->c.op == MERGE_OP_INSERT ?
		    a->rows.new : a->rows.old, a->key, sizeof(a->key)) != 0)
			a->key[0] = '\0';
		ca_writer(a, a->c.table, "hlc", a->cur_origin,
		    sizeof(a->cur_origin));
	}
	if (merge_decide(&a->c, d) != 0)
		return ca_refuse(a, "a change the conflict rules cannot read");
	if (!a->predict && d->verdict != MERGE_REFUSE) {
		for (i = 0; i < d->nrecord; i++) {
			if ((rc = ca_keep(a, &d->record[i])) != 0) {
				a->err = rc;
				return SQLITE_CHANGESET_ABORT;
			}
		}
	}
	switch (d->verdict) {
	case MERGE_APPLY:
		if (kind == SQLITE_CHANGESET_DATA ||
		    kind == SQLITE_CHANGESET_CONFLICT)
			return SQLITE_CHANGESET_REPLACE;
		return SQLITE_CHANGESET_OMIT;
	case MERGE_OMIT:
		return SQLITE_CHANGESET_OMIT;
	case MERGE_SET:
		if ((rc = ca_run_set(a->db, d)) != 0) {
			a->err = rc;
			return SQLITE_CHANGESET_ABORT;
		}
		return SQLITE_CHANGESET_OMIT;
	case MERGE_REFUSE:
		return ca_refuse(a, d->reason);
	}
	return ca_refuse(a, "an unknown verdict");
}

int
conflicts_apply_write(struct conflicts_apply *a, const char *room,
    const struct rk_clock *clock, int64_t now)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc = 0;

	if (a->nrec == 0)
		return 0;
	if (sqlite3_prepare_v2(a->db, "INSERT INTO conflicts (room_id, id, "
	    "created_at, table_name, row_key, column_name, kind, winner_value,"
	    " loser_value, winner_hlc, loser_hlc, winner_origin, loser_origin,"
	    " status, resolved_at, resolution, hlc) VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)", -1,
	    &st, NULL) != SQLITE_OK) {
		log_warnx("conflicts: %s", sqlite3_errmsg(a->db));
		return store_sqlite_err(a->db);
	}
	for (i = 0; i < a->nrec && rc == 0; i++) {
		const struct ca_rec *r = &a->recs[i];
		int history = r->kind == MERGE_LWW_LOST ||
		    r->kind == MERGE_STATE_LOST;
		uint64_t hlc = a->hlc;
		char id[ID_LEN + 1];

		/* The record is newer than both values it holds. */
		if (r->winner_hlc > hlc)
			hlc = r->winner_hlc;
		if (r->loser_hlc > hlc)
			hlc = r->loser_hlc;
		id_new(clock, id);
		sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_text(st, 4, r->table, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, r->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, r->column, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, merge_kind_name(r->kind), -1,
		    SQLITE_STATIC);
		if (r->winner != NULL)
			sqlite3_bind_text(st, 8, r->winner, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 8);
		if (r->loser != NULL)
			sqlite3_bind_text(st, 9, r->loser, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 9);
		sqlite3_bind_int64(st, 10, (sqlite3_int64)r->winner_hlc);
		sqlite3_bind_int64(st, 11, (sqlite3_int64)r->loser_hlc);
		sqlite3_bind_text(st, 12, r->winner_origin, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 13, r->loser_origin, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 14, history ? "resolved" : "open", -1,
		    SQLITE_STATIC);
		if (history) {
			sqlite3_bind_int64(st, 15, now);
			sqlite3_bind_text(st, 16, "auto", -1, SQLITE_STATIC);
		} else {
			sqlite3_bind_null(st, 15);
			sqlite3_bind_null(st, 16);
		}
		sqlite3_bind_int64(st, 17, (sqlite3_int64)hlc);
		if (sqlite3_step(st) != SQLITE_DONE) {
			log_warnx("conflicts: recording: %s",
			    sqlite3_errmsg(a->db));
			rc = store_sqlite_err(a->db);
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- the writers of the hub's rows -------------------------------------- */

/* Whether writers are kept for table: rows others may edit. */
static int
ca_tracked(const char *table)
{
	const struct table_policy *p = policy_for_table(table);

	return p != NULL && p->scope == SYNC_ROOM &&
	    p->policy != POLICY_APPEND_ONLY && strcmp(table, "conflicts") != 0;
}

int
conflicts_note_writers(sqlite3 *db, const void *cs, int n, const char *origin)
{
	sqlite3_changeset_iter *it = NULL;
	sqlite3_stmt *up = NULL, *del = NULL;
	struct merge_rows *rows = NULL;
	struct merge_change c;
	char key[CA_KEY_MAX];
	int rc = 0, step, i;

	if (n <= 0)
		return 0;
	if ((rows = malloc(sizeof(*rows))) == NULL)
		return RK_ENOMEM;
	if (sqlite3changeset_start(&it, n, (void *)cs) != SQLITE_OK) {
		rc = RK_EPROTO;
		goto out;
	}
	while ((step = sqlite3changeset_next(it)) == SQLITE_ROW && rc == 0) {
		const struct table_columns *t;
		unsigned char *pk = NULL;
		const char *table;
		int npk = 0, ncol, op, ind;

		/* Most rows are of append-only tables: nothing to note, so
		 * nothing to decode (or prepare). */
		if (sqlite3changeset_op(it, &table, &ncol, &op, &ind) !=
		    SQLITE_OK) {
			rc = RK_EPROTO;
			break;
		}
		if (!ca_tracked(table))
			continue;
		if (up == NULL && (sqlite3_prepare_v2(db, "INSERT INTO "
		    "local_hub_writers (table_name, row_key, column_name, "
		    "origin) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET "
		    "origin = excluded.origin", -1, &up, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(db, "DELETE FROM local_hub_writers WHERE "
		    "table_name = ?1 AND row_key = ?2", -1, &del, NULL) !=
		    SQLITE_OK)) {
			log_warnx("conflicts: %s", sqlite3_errmsg(db));
			rc = store_sqlite_err(db);
			break;
		}
		if (merge_change_from_iter(it, 0, rows, &c) != 0 ||
		    sqlite3changeset_pk(it, &pk, &npk) != SQLITE_OK) {
			rc = RK_EPROTO;
			break;
		}
		if ((t = policy_columns_for_table(c.table)) == NULL ||
		    t->ncol != c.ncol || npk != c.ncol)
			continue;
		if (ca_key_array(pk, npk, c.op == MERGE_OP_INSERT ? rows->new :
		    rows->old, key, sizeof(key)) != 0)
			continue;	/* such a row gets no records either */
		if (c.op == MERGE_OP_DELETE) {
			sqlite3_bind_text(del, 1, c.table, -1, SQLITE_STATIC);
			sqlite3_bind_text(del, 2, key, -1, SQLITE_STATIC);
			if (sqlite3_step(del) != SQLITE_DONE)
				rc = store_sqlite_err(db);
			sqlite3_reset(del);
			continue;
		}
		for (i = 0; i < c.ncol && rc == 0; i++) {
			enum column_rule r = t->cols[i].rule;

			if (r == COL_KEY || r == COL_BOOK ||
			    rows->new[i].type == MERGE_UNDEFINED)
				continue;
			sqlite3_bind_text(up, 1, c.table, -1, SQLITE_STATIC);
			sqlite3_bind_text(up, 2, key, -1, SQLITE_STATIC);
			sqlite3_bind_text(up, 3, t->cols[i].name, -1,
			    SQLITE_STATIC);
			sqlite3_bind_text(up, 4, origin, -1, SQLITE_STATIC);
			if (sqlite3_step(up) != SQLITE_DONE)
				rc = store_sqlite_err(db);
			sqlite3_reset(up);
		}
	}
	if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = RK_EPROTO;
	if (rc != 0 && rc != RK_EPROTO)
		log_warnx("conflicts: noting writers: %s", sqlite3_errmsg(db));
out:
	sqlite3changeset_finalize(it);
	sqlite3_finalize(up);
	sqlite3_finalize(del);
	free(rows);
	return rc;
}

/* ---- the local API: list ------------------------------------------------ */

#define CA_SELECT "SELECT c.room_id, c.id, c.created_at, c.table_name, " \
	"c.row_key, c.column_name, c.kind, c.winner_value, c.loser_value, " \
	"c.winner_hlc, c.loser_hlc, c.winner_origin, c.loser_origin, " \
	"c.status, c.resolved_by, c.resolved_at, c.resolution, " \
	"c.resolved_value, " \
	"(SELECT d.staff_id FROM devices d WHERE d.id = c.winner_origin), " \
	"(SELECT s.name FROM devices d JOIN staff s ON s.id = d.staff_id " \
	"WHERE d.id = c.winner_origin), " \
	"(SELECT d.staff_id FROM devices d WHERE d.id = c.loser_origin), " \
	"(SELECT s.name FROM devices d JOIN staff s ON s.id = d.staff_id " \
	"WHERE d.id = c.loser_origin), " \
	"(SELECT s.name FROM staff s WHERE s.id = c.resolved_by) " \
	"FROM conflicts c "

enum {
	CA_ROOM, CA_ID, CA_CREATED, CA_TABLE, CA_KEY, CA_COLUMN, CA_KIND,
	CA_WVAL, CA_LVAL, CA_WHLC, CA_LHLC, CA_WORIG, CA_LORIG, CA_STATUS,
	CA_RBY, CA_RAT, CA_RES, CA_RVAL, CA_WSTAFF, CA_WNAME, CA_LSTAFF,
	CA_LNAME, CA_RNAME,
};

static const char *
ca_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : NULL;
}

static json_t *
ca_text_or_null(const char *s)
{
	json_t *j = s != NULL ? json_string(s) : NULL;

	return j != NULL ? j : json_null();
}

/* A stored JSON value text as JSON (invalid text: null). */
static json_t *
ca_stored_json(const char *s)
{
	json_t *j = s != NULL ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;

	return j != NULL ? j : json_null();
}

/* One side of a record: {"value", "missing", "hlc", "at", "origin",
 * "staff", "staff_name", "mine"}. */
static json_t *
ca_side_json(sqlite3_stmt *st, int val, int hlc, int orig, int staff,
    int name, const struct rec_ctx *c)
{
	const char *o = ca_col_text(st, orig), *s = ca_col_text(st, staff);
	uint64_t h = (uint64_t)sqlite3_column_int64(st, hlc);
	int mine = (s != NULL && c->staff != NULL &&
	    strcmp(s, c->staff) == 0) || (o != NULL && o[0] &&
	    c->device_id != NULL && strcmp(o, c->device_id) == 0);

	return json_pack("{s:o, s:b, s:I, s:I, s:o, s:o, s:o, s:b}",
	    "value", ca_stored_json(ca_col_text(st, val)),
	    "missing", sqlite3_column_type(st, val) == SQLITE_NULL,
	    "hlc", (json_int_t)h, "at", (json_int_t)HLC_MS(h),
	    "origin", ca_text_or_null(o && o[0] ? o : NULL),
	    "staff", ca_text_or_null(s),
	    "staff_name", ca_text_or_null(ca_col_text(st, name)),
	    "mine", mine);
}

static json_t *
ca_record_json(sqlite3_stmt *st, const struct rec_ctx *c)
{
	json_t *o, *key;

	key = ca_stored_json(ca_col_text(st, CA_KEY));
	o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o, s:s, s:s}",
	    "id", ca_col_text(st, CA_ID) ? ca_col_text(st, CA_ID) : "",
	    "room_id", ca_col_text(st, CA_ROOM) ? ca_col_text(st, CA_ROOM) :
	    "", "created_at", (json_int_t)sqlite3_column_int64(st, CA_CREATED),
	    "table", ca_col_text(st, CA_TABLE) ? ca_col_text(st, CA_TABLE) :
	    "", "column", ca_col_text(st, CA_COLUMN) ?
	    ca_col_text(st, CA_COLUMN) : "", "key", key,
	    "kind", ca_col_text(st, CA_KIND) ? ca_col_text(st, CA_KIND) : "",
	    "status", ca_col_text(st, CA_STATUS) ?
	    ca_col_text(st, CA_STATUS) : "");
	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "winner", ca_side_json(st, CA_WVAL,
	    CA_WHLC, CA_WORIG, CA_WSTAFF, CA_WNAME, c)) != 0 ||
	    json_object_set_new(o, "loser", ca_side_json(st, CA_LVAL,
	    CA_LHLC, CA_LORIG, CA_LSTAFF, CA_LNAME, c)) != 0 ||
	    json_object_set_new(o, "resolved_by",
	    ca_text_or_null(ca_col_text(st, CA_RBY))) != 0 ||
	    json_object_set_new(o, "resolved_by_name",
	    ca_text_or_null(ca_col_text(st, CA_RNAME))) != 0 ||
	    json_object_set_new(o, "resolved_at",
	    sqlite3_column_type(st, CA_RAT) == SQLITE_NULL ? json_null() :
	    json_integer(sqlite3_column_int64(st, CA_RAT))) != 0 ||
	    json_object_set_new(o, "resolution",
	    ca_text_or_null(ca_col_text(st, CA_RES))) != 0 ||
	    json_object_set_new(o, "resolved_value",
	    ca_stored_json(ca_col_text(st, CA_RVAL))) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int
conflicts_open_count(sqlite3 *db, int64_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM conflicts WHERE "
	    "status = 'open'", -1, &st, NULL) != SQLITE_OK)
		return store_sqlite_err(db);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*n = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = store_sqlite_err(db);
	}
	sqlite3_finalize(st);
	return rc;
}

int
conflicts_list(struct rec_ctx *c, int all, json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	json_t *list = NULL, *rooms = NULL, *r, *v;
	json_int_t open = 0;
	const char *room;
	int rc;

	if (sqlite3_prepare_v2(db, CA_SELECT "WHERE (?1 OR c.status = 'open')"
	    " AND (?2 OR EXISTS (SELECT 1 FROM memberships m WHERE m.room_id "
	    "= c.room_id AND m.staff_id = ?3 AND m.status = 'active')) "
	    "ORDER BY c.created_at, c.id", -1, &st, NULL) != SQLITE_OK) {
		log_warnx("conflicts: %s", sqlite3_errmsg(db));
		return rk_whyf(why, store_sqlite_err(db),
		    "cannot read the conflicts");
	}
	sqlite3_bind_int(st, 1, all != 0);
	sqlite3_bind_int(st, 2, c->is_hub != 0);
	sqlite3_bind_text(st, 3, c->staff ? c->staff : "", -1, SQLITE_STATIC);
	if ((list = json_array()) == NULL || (rooms = json_object()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *status = ca_col_text(st, CA_STATUS);
		const char *rid = ca_col_text(st, CA_ROOM);

		if (status != NULL && strcmp(status, "open") == 0)
			open++;
		/* The values are patient data: the read is audited, once
		 * per room (the rows come in time order, rooms mixed). */
		if (rid != NULL && json_object_get(rooms, rid) == NULL) {
			if (json_object_set_new(rooms, rid, json_true()) != 0) {
				rc = RK_ENOMEM;
				goto out;
			}
		}
		if ((r = ca_record_json(st, c)) == NULL ||
		    json_array_append_new(list, r) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db),
		    "cannot read the conflicts");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	json_object_foreach(rooms, room, v) {
		if ((rc = roomwork_audit_read(c, room, "conflicts")) != 0) {
			rk_whyf(why, rc, "cannot note the read in the audit "
			    "trail");
			goto out;
		}
	}
	if ((*out = json_pack("{s:O, s:I}", "conflicts", list, "open",
	    open)) == NULL)
		rc = RK_ENOMEM;
	else
		rc = 0;
out:
	sqlite3_finalize(st);
	json_decref(list);
	json_decref(rooms);
	return rc;
}

/* ---- the local API: resolve --------------------------------------------- */

/* The record id or a unique end of one (at least 6 characters), into
 * full; RK_ENOTFOUND or RK_EINVAL (ambiguous) with the reason. */
static int
ca_find(sqlite3 *db, const char *id, char *full, size_t len,
    struct rk_why *why)
{
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	if (id == NULL || id[0] == '\0' || strlen(id) > 64)
		return rk_whyf(why, RK_EINVAL, "give the conflict's id (as "
		    "'renkei conflicts' lists it)");
	if (sqlite3_prepare_v2(db, "SELECT id FROM conflicts WHERE id = ?1 "
	    "UNION ALL SELECT id FROM conflicts WHERE length(?1) >= 6 AND "
	    "id <> ?1 AND substr(id, -length(?1)) = ?1 LIMIT 3", -1, &st,
	    NULL) != SQLITE_OK)
		return rk_whyf(why, store_sqlite_err(db),
		    "cannot read the conflicts");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = ca_col_text(st, 0);

		if (n == 0 && t != NULL)
			snprintf(full, len, "%s", t);
		if (n == 0 && t != NULL && strcmp(t, id) == 0) {
			n = 1;
			rc = SQLITE_DONE;
			break;
		}
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rk_whyf(why, store_sqlite_err(db),
		    "cannot read the conflicts");
	if (n == 0)
		return rk_whyf(why, RK_ENOTFOUND, "no conflict '%s' on this "
		    "replica ('renkei conflicts --all' lists them)", id);
	if (n > 1)
		return rk_whyf(why, RK_EINVAL, "'%s' names more than one "
		    "conflict: give more of its id", id);
	return 0;
}

/* Room id of record id is room; the acting staff must be an active member
 * of an active room to settle it. */
static int
ca_room_access(struct rec_ctx *c, const char *room, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	char status[16] = "";
	int rc, member = 0;

	if (sqlite3_prepare_v2(db, "SELECT r.status, EXISTS (SELECT 1 FROM "
	    "memberships m WHERE m.room_id = r.room_id AND m.staff_id = ?2 "
	    "AND m.status = 'active') FROM rooms r WHERE r.room_id = ?1", -1,
	    &st, NULL) != SQLITE_OK)
		return rk_whyf(why, store_sqlite_err(db), "cannot read rooms");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->staff ? c->staff : "", -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(status, sizeof(status), "%s",
		    ca_col_text(st, 0) ? ca_col_text(st, 0) : "");
		member = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return rk_whyf(why, RK_ENOTFOUND, "no room '%s' on this "
		    "device", room);
	if (rc != SQLITE_ROW)
		return rk_whyf(why, store_sqlite_err(db), "cannot read rooms");
	if (!member)
		return rk_whyf(why, RK_EDENIED, "%s is not a member of room "
		    "'%s'", c->staff ? c->staff : "?", room);
	if (strcmp(status, "active") != 0)
		return rk_whyf(why, RK_EDENIED, "room '%s' is archived: "
		    "read-only", room);
	return 0;
}

/* Appends " WHERE k1 = ?p AND ..." for the key columns of t, their
 * values from the record's row_key object bound from parameter p on
 * (call ca_where_bind after preparing). */
static int
ca_where(const struct table_columns *t, json_t *key, struct buf *sql,
    int p)
{
	int i, n = 0, rc = 0;

	for (i = 0; i < t->ncol && rc == 0; i++) {
		if (t->cols[i].rule != COL_KEY)
			continue;
		if (json_object_get(key, t->cols[i].name) == NULL)
			return RK_EINVAL;
		rc = buf_appendf(sql, " %s \"%s\" = ?%d", n++ ? "AND" :
		    "WHERE", t->cols[i].name, p++);
	}
	return rc != 0 ? rc : n > 0 ? 0 : RK_EINVAL;
}

static int
ca_where_bind(const struct table_columns *t, json_t *key, sqlite3_stmt *st,
    int p)
{
	int i, rc;

	for (i = 0; i < t->ncol; i++) {
		if (t->cols[i].rule != COL_KEY)
			continue;
		if ((rc = ca_bind_jvalue(st, p++, json_object_get(key,
		    t->cols[i].name))) != 0)
			return rc;
	}
	return 0;
}

/* What resolving needs from the record. */
struct ca_target {
	char room[80], table[64], column[64], kind[32], status[16];
	char *row_key, *winner, *loser;		/* malloc'd; NULL as stored */
	int winner_mine, loser_mine;
	char resolved_by[80];
};

static void
ca_target_release(struct ca_target *t)
{
	free(t->row_key);
	free(t->winner);
	free(t->loser);
	memset(t, 0, sizeof(*t));
}

static char *
ca_dup_col(sqlite3_stmt *st, int i)
{
	const char *s = ca_col_text(st, i);

	return s != NULL ? strdup(s) : NULL;
}

static int
ca_target_load(struct rec_ctx *c, const char *id, struct ca_target *t,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	int rc;

	memset(t, 0, sizeof(*t));
	if (sqlite3_prepare_v2(db, CA_SELECT "WHERE c.id = ?1", -1, &st,
	    NULL) != SQLITE_OK)
		return rk_whyf(why, store_sqlite_err(db),
		    "cannot read the conflicts");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rk_whyf(why, rc == SQLITE_DONE ? RK_ENOTFOUND :
		    store_sqlite_err(db), "cannot read conflict %s", id);
	}
	snprintf(t->room, sizeof(t->room), "%s", ca_col_text(st, CA_ROOM) ?
	    ca_col_text(st, CA_ROOM) : "");
	snprintf(t->table, sizeof(t->table), "%s", ca_col_text(st, CA_TABLE) ?
	    ca_col_text(st, CA_TABLE) : "");
	snprintf(t->column, sizeof(t->column), "%s",
	    ca_col_text(st, CA_COLUMN) ? ca_col_text(st, CA_COLUMN) : "");
	snprintf(t->kind, sizeof(t->kind), "%s", ca_col_text(st, CA_KIND) ?
	    ca_col_text(st, CA_KIND) : "");
	snprintf(t->status, sizeof(t->status), "%s",
	    ca_col_text(st, CA_STATUS) ? ca_col_text(st, CA_STATUS) : "");
	snprintf(t->resolved_by, sizeof(t->resolved_by), "%s",
	    ca_col_text(st, CA_RBY) ? ca_col_text(st, CA_RBY) : "someone");
	t->row_key = ca_dup_col(st, CA_KEY);
	t->winner = ca_dup_col(st, CA_WVAL);
	t->loser = ca_dup_col(st, CA_LVAL);
#define CA_MINE(staffcol, origcol) \
	((ca_col_text(st, staffcol) != NULL && c->staff != NULL && \
	strcmp(ca_col_text(st, staffcol), c->staff) == 0) || \
	(ca_col_text(st, origcol) != NULL && c->device_id != NULL && \
	strcmp(ca_col_text(st, origcol), c->device_id) == 0))
	t->winner_mine = CA_MINE(CA_WSTAFF, CA_WORIG);
	t->loser_mine = CA_MINE(CA_LSTAFF, CA_LORIG);
#undef CA_MINE
	rc = 0;
	if (t->row_key == NULL ||
	    (sqlite3_column_type(st, CA_WVAL) != SQLITE_NULL &&
	    t->winner == NULL) ||
	    (sqlite3_column_type(st, CA_LVAL) != SQLITE_NULL &&
	    t->loser == NULL))
		rc = RK_ENOMEM;
	sqlite3_finalize(st);
	if (rc != 0)
		ca_target_release(t);
	return rc;
}

/*
 * The value to keep as JSON text into *keep (malloc'd; NULL: the side
 * without a row) and the resolution's name.  "mine": the side the acting
 * staff member wrote, when exactly one is theirs; "theirs": the other one
 * then; anything else is the value itself.
 */
static int
ca_choose(struct rec_ctx *c, const struct ca_target *t, json_t *keep,
    char **out, const char **resolution, struct rk_why *why)
{
	const char *k = json_string_value(keep);
	char *s;

	*out = NULL;
	if (keep == NULL)
		return rk_whyf(why, RK_EINVAL, "keep: required: \"mine\", "
		    "\"theirs\" or the value to keep");
	if (k != NULL && (strcmp(k, "mine") == 0 ||
	    strcmp(k, "theirs") == 0)) {
		int mine = strcmp(k, "mine") == 0;
		const char *pick;

		if (t->winner_mine && t->loser_mine)
			return rk_whyf(why, RK_EINVAL, "keep %s: both values "
			    "were written by %s: give the value to keep", k,
			    c->staff ? c->staff : "you");
		if (!t->winner_mine && !t->loser_mine)
			return rk_whyf(why, RK_EINVAL, "keep %s: %s wrote "
			    "neither value: give the value to keep (see "
			    "'renkei conflicts')", k,
			    c->staff ? c->staff : "you");
		pick = (t->winner_mine == mine) ? t->winner : t->loser;
		if (pick != NULL && (*out = strdup(pick)) == NULL)
			return RK_ENOMEM;
		*resolution = k;
		return 0;
	}
	if (!json_is_string(keep) && !json_is_number(keep) &&
	    !json_is_null(keep))
		return rk_whyf(why, RK_EINVAL, "keep: \"mine\", \"theirs\", "
		    "or a value (text, number or null)");
	if (k != NULL && (json_string_length(keep) > API_MAX_TEXT ||
	    strlen(k) != json_string_length(keep)))
		return rk_whyf(why, RK_EINVAL, "keep: longer than %d bytes "
		    "or holds a NUL byte", API_MAX_TEXT);
	if ((s = json_dumps(keep, JSON_ENCODE_ANY | JSON_COMPACT)) == NULL)
		return RK_ENOMEM;
	*out = s;
	*resolution = "value";
	return 0;
}

static int
ca_ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), m = strlen(end);

	return n >= m && strcmp(s + n - m, end) == 0;
}

/*
 * Inside tx: writes keep (JSON text) into the record's column when the
 * row holds something else.  Bookkeeping that describes the column
 * (updated_by/_at, status_by/_at) names the acting staff and now.
 */
static int
ca_write_value(struct rec_ctx *c, struct store_tx *tx,
    const struct ca_target *t, const char *keep, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	const struct table_policy *tp = policy_for_table(t->table);
	const struct table_columns *tc = policy_columns_for_table(t->table);
	struct buf sql = BUF_INIT;
	sqlite3_stmt *st = NULL;
	json_t *key = NULL;
	struct merge_value cur;
	char *curtext = NULL;
	int rc, i, col = -1, p, nomem = 0, exists = 0;

	for (i = 0; tc != NULL && i < tc->ncol; i++)
		if (strcmp(tc->cols[i].name, t->column) == 0)
			col = i;
	if (tp == NULL || tc == NULL || tp->scope != SYNC_ROOM || col < 0 ||
	    tc->cols[col].rule == COL_KEY || tc->cols[col].rule == COL_HLC ||
	    (key = json_loads(t->row_key, 0, NULL)) == NULL ||
	    !json_is_object(key)) {
		rc = rk_whyf(why, RK_EPROTO, "the conflict names a row this "
		    "replica cannot write (%s.%s)", t->table, t->column);
		goto out;
	}
	/* What the row holds now. */
	if ((rc = buf_appendf(&sql, "SELECT \"%s\" FROM \"%s\"", t->column,
	    t->table)) != 0 || (rc = ca_where(tc, key, &sql, 1)) != 0)
		goto badkey;
	if (sqlite3_prepare_v2(db, (char *)sql.data, -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read %s: %s",
		    t->table, sqlite3_errmsg(db));
		goto out;
	}
	if ((rc = ca_where_bind(tc, key, st, 1)) != 0)
		goto badkey;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		exists = 1;
		merge_value_from_sqlite(sqlite3_column_value(st, 0), &cur);
		if (cur.type == MERGE_UNDEFINED)
			cur.type = MERGE_NULL;
		curtext = ca_value_text(&cur, &nomem);
	} else if (rc == SQLITE_DONE) {
		exists = 0;
	} else {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read %s: %s",
		    t->table, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (nomem) {
		rc = RK_ENOMEM;
		goto out;
	}
	rc = 0;
	if (keep == NULL)	/* the side without a row: nothing to write */
		goto out;
	if (!exists) {
		rc = rk_whyf(why, RK_ENOTFOUND, "the row of this conflict "
		    "(%s) no longer exists, so no value can be kept in it: "
		    "keep the side without a row", t->table);
		goto out;
	}
	if (curtext != NULL && strcmp(curtext, keep) == 0)
		goto out;	/* already there */
	if (tp->policy == POLICY_APPEND_ONLY) {
		rc = rk_whyf(why, RK_EDENIED, "%s is append-only: what it "
		    "holds stays as written; keep its current value (and "
		    "write a new entry to correct it)", t->table);
		goto out;
	}
	sql.len = 0;
	if ((rc = buf_appendf(&sql, "UPDATE \"%s\" SET \"%s\" = ?1, hlc = ?2",
	    t->table, t->column)) != 0)
		goto out;
	p = 3;
	for (i = 0; i < tc->ncol && rc == 0; i++) {
		const struct column_policy *cp = &tc->cols[i];

		if (cp->rule != COL_BOOK || (cp->leader != NULL &&
		    strcmp(cp->leader, t->column) != 0))
			continue;
		if (ca_ends_with(cp->name, "_by") ||
		    ca_ends_with(cp->name, "_at"))
			rc = buf_appendf(&sql, ", \"%s\" = ?%d", cp->name, p++);
	}
	if (rc != 0 || (rc = ca_where(tc, key, &sql, p)) != 0)
		goto badkey;
	if (sqlite3_prepare_v2(db, (char *)sql.data, -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot save: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	if ((rc = ca_bind_json(st, 1, keep)) != 0)
		goto badkey;
	sqlite3_bind_int64(st, 2, (sqlite3_int64)store_tx_hlc(tx));
	p = 3;
	for (i = 0; i < tc->ncol; i++) {
		const struct column_policy *cp = &tc->cols[i];

		if (cp->rule != COL_BOOK || (cp->leader != NULL &&
		    strcmp(cp->leader, t->column) != 0))
			continue;
		if (ca_ends_with(cp->name, "_by"))
			sqlite3_bind_text(st, p++, c->staff, -1, SQLITE_STATIC);
		else if (ca_ends_with(cp->name, "_at"))
			sqlite3_bind_int64(st, p++, store_tx_now_ms(tx));
	}
	if ((rc = ca_where_bind(tc, key, st, p)) != 0)
		goto badkey;
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot save: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
	goto out;
badkey:
	if (rc != RK_ENOMEM)
		rc = rk_whyf(why, RK_EPROTO, "the conflict's row key does "
		    "not fit table %s", t->table);
out:
	sqlite3_finalize(st);
	buf_release(&sql);
	json_decref(key);
	free(curtext);
	return rc;
}

int
conflicts_resolve(struct rec_ctx *c, const char *id, json_t *in,
    json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	struct store_tx *tx = NULL;
	struct ca_target t;
	sqlite3_stmt *st = NULL;
	const char *resolution = NULL;
	char full[80], *keep = NULL;
	json_t *list = NULL;
	int rc;

	memset(&t, 0, sizeof(t));
	if (c->is_hub)
		return rk_whyf(why, RK_EDENIED, "conflicts are settled on a "
		    "device by a member of the room, not on the hub");
	if (!json_is_object(in))
		return rk_whyf(why, RK_EINVAL, "body: {\"keep\": \"mine\" | "
		    "\"theirs\" | value}");
	if ((rc = ca_find(db, id, full, sizeof(full), why)) != 0 ||
	    (rc = ca_target_load(c, full, &t, why)) != 0)
		goto out;
	if ((rc = ca_room_access(c, t.room, why)) != 0)
		goto out;
	if (strcmp(t.status, "open") != 0) {
		rc = rk_whyf(why, RK_EEXIST, "conflict %s is already resolved "
		    "(by %s)", full, t.resolved_by);
		goto out;
	}
	if ((rc = ca_choose(c, &t, json_object_get(in, "keep"), &keep,
	    &resolution, why)) != 0)
		goto out;
	if ((rc = store_tx_begin(c->store, t.room, &tx)) != 0) {
		rk_whyf(why, rc, "cannot start a write");
		goto out;
	}
	if ((rc = ca_write_value(c, tx, &t, keep, why)) != 0)
		goto out;
	if (sqlite3_prepare_v2(db, "UPDATE conflicts SET status = 'resolved', "
	    "resolved_by = ?1, resolved_at = ?2, resolution = ?3, "
	    "resolved_value = ?4, hlc = ?5 WHERE room_id = ?6 AND id = ?7",
	    -1, &st, NULL) != SQLITE_OK) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot save: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(st, 1, c->staff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, store_tx_now_ms(tx));
	sqlite3_bind_text(st, 3, resolution, -1, SQLITE_STATIC);
	if (keep != NULL)
		sqlite3_bind_text(st, 4, keep, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)store_tx_hlc(tx));
	sqlite3_bind_text(st, 6, t.room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, full, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(db) != 1) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot save: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	{
		char what[128];

		snprintf(what, sizeof(what), "conflict %s resolved", full);
		if ((rc = roomwork_audit_write(c, t.room, what)) != 0) {
			rk_whyf(why, rc, "cannot note the write in the audit "
			    "trail");
			goto out;
		}
	}
	rc = store_tx_commit(tx, NULL, why);
	tx = NULL;
	if (rc != 0)
		goto out;
	/* The record as it stands now. */
	if (sqlite3_prepare_v2(db, CA_SELECT "WHERE c.id = ?1", -1, &st,
	    NULL) != SQLITE_OK) {
		rc = rk_whyf(why, store_sqlite_err(db),
		    "cannot read the conflicts");
		goto out;
	}
	sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW || (list = ca_record_json(st,
	    c)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	*out = list;	/* the caller's: json_decref */
	list = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	store_tx_abort(tx);
	ca_target_release(&t);
	free(keep);
	json_decref(list);
	return rc;
}
