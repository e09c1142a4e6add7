/*
 * retention.c - purging archived rooms at the end of the retention
 * period (see retention.h), and the tombstones they leave.
 *
 * The purge is not a change to sync: it runs outside store_tx (no
 * session, nothing in the outbox or the hub log), straight on the hub's
 * database, one BEGIN IMMEDIATE .. COMMIT per room.  Which tables hold a
 * room's rows is read from the schema (every table with a room_id
 * column), so a room table added later is purged without a change here;
 * the few that must outlive the room are listed in retention_keep.
 */
#include "daemon/retention.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "daemon/store.h"

/* When a room's retention period starts (SQL over rooms r and
 * room_details d; see retention_purge). */
#define RETENTION_SINCE "max(d.archived_at, coalesce((SELECT " \
	"max(l.created_at) FROM local_hub_log l WHERE l.room_id = " \
	"r.room_id), 0))"

/* Tables with a room_id column whose rows are kept or handled apart. */
static const char *const retention_keep[] = {
	"local_purged_rooms",		/* the tombstones themselves */
	"local_hub_device_rooms",	/* each device's pending purge */
	"local_hub_received",		/* (origin, seq) deduplication */
	"local_hub_log",		/* emptied, keeps its hub_seq */
	NULL,
};

#define RETENTION_REASON "room purged after its retention period"

/* The tables holding room rows: a NULL-terminated malloc'd array of
 * malloc'd names, freed with retention_tables_free. */
struct retention_tables {
	char **name;
	size_t n;
};

static void
retention_tables_free(struct retention_tables *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->name[i]);
	free(t->name);
	t->name = NULL;
	t->n = 0;
}

/* Runs sql with room as ?1 to completion; *changed (may be NULL) gets
 * the rows it changed. */
static int
retention_exec_room(sqlite3 *db, const char *sql, const char *room,
    int64_t *changed)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = store_prepare(db, sql, &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		log_warnx("retention: %s: %s", sql, sqlite3_errmsg(db));
		rc = store_sqlite_err(db);
	} else if (changed != NULL) {
		*changed = sqlite3_changes64(db);
	}
	store_finalize(st);
	return rc;
}

static int
retention_is_kept(const char *table)
{
	size_t i;

	for (i = 0; retention_keep[i] != NULL; i++)
		if (strcmp(retention_keep[i], table) == 0)
			return 1;
	return 0;
}

static int
retention_tables_load(sqlite3 *db, struct retention_tables *t)
{
	sqlite3_stmt *st = NULL;
	char **nn;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = store_prepare(db, "SELECT m.name FROM sqlite_master m "
	    "JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND "
	    "p.name = 'room_id' ORDER BY m.name", &st)) != 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		if (name == NULL || retention_is_kept(name))
			continue;
		if ((nn = realloc(t->name, (t->n + 1) * sizeof(*nn))) == NULL)
			break;
		t->name = nn;
		if ((t->name[t->n] = strdup(name)) == NULL)
			break;
		t->n++;
	}
	store_finalize(st);
	if (rc != SQLITE_DONE) {
		retention_tables_free(t);
		return rc == SQLITE_ROW ? RK_ENOMEM : store_sqlite_err(db);
	}
	return 0;
}

/* Unix ms as the date in Japan, where the users are: "YYYY-MM-DD". */
static void
retention_date(int64_t ms, char out[11])
{
	time_t t = (time_t)(ms / 1000 + 9 * 3600);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		snprintf(out, 11, "0000-00-00");
}

int
retention_purged(sqlite3 *db, const char *room, char *reason,
    size_t reasonlen)
{
	sqlite3_stmt *st = NULL;
	char day[11];
	int rc;

	if ((rc = store_prepare(db, "SELECT purged_at FROM "
	    "local_purged_rooms WHERE room_id = ?1", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		retention_date(sqlite3_column_int64(st, 0), day);
		snprintf(reason, reasonlen, "room %s was purged on %s after "
		    "its retention period (保存期間満了により削除済み): it "
		    "holds nothing and takes no writes, and its id cannot be "
		    "used again", room, day);
		rc = 1;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = store_sqlite_err(db);
	}
	store_finalize(st);
	return rc;
}

/* What one room's purge did (or would do). */
struct retention_room {
	const char *room;
	int64_t archived_at;
	int64_t rows;		/* room rows deleted, every table */
	int64_t log_emptied;	/* hub log entries emptied */
	int64_t audit_entries;	/* chain length */
	char audit_head[65];	/* "" if no chain */
};

/* The room's audit chain: its length and last hash. */
static int
retention_chain_head(sqlite3 *db, struct retention_room *r)
{
	sqlite3_stmt *st = NULL;
	int rc;

	r->audit_entries = 0;
	r->audit_head[0] = '\0';
	if ((rc = store_prepare(db, "SELECT (SELECT count(*) FROM "
	    "local_audit_chain WHERE room_id = ?1), (SELECT hash FROM "
	    "local_audit_chain WHERE room_id = ?1 ORDER BY seq DESC LIMIT "
	    "1)", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, r->room, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		r->audit_entries = sqlite3_column_int64(st, 0);
		if (sqlite3_column_text(st, 1) != NULL)
			snprintf(r->audit_head, sizeof(r->audit_head), "%s",
			    (const char *)sqlite3_column_text(st, 1));
	} else {
		rc = store_sqlite_err(db);
	}
	store_finalize(st);
	return rc;
}

/*
 * Removes every row of r->room inside the caller's transaction, then
 * writes the tombstone.  The order matters only for the bookkeeping that
 * finds its rows through others: the conflict log through the hub log's
 * entries, the noted writers through the room tables' names.
 */
static int
retention_purge_room(sqlite3 *db, const struct retention_tables *t,
    int64_t now_ms, struct retention_room *r)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	size_t i;
	int rc;

	r->rows = r->log_emptied = 0;
	if ((rc = retention_chain_head(db, r)) != 0)
		return rc;
	/* The conflict log and the noted writers may hold values of the
	 * room's rows; neither has a room_id column. */
	if ((rc = retention_exec_room(db, "DELETE FROM local_hub_conflict_log "
	    "WHERE hub_seq IN (SELECT hub_seq FROM local_hub_log WHERE "
	    "room_id = ?1)", r->room, &n)) != 0)
		return rc;
	r->rows += n;
	if ((rc = retention_exec_room(db, "DELETE FROM local_hub_writers "
	    "WHERE table_name IN (SELECT m.name FROM sqlite_master m JOIN "
	    "pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = "
	    "'room_id') AND json_valid(row_key) AND json_extract(row_key, "
	    "'$[0]') = ?1", r->room, &n)) != 0)
		return rc;
	r->rows += n;
	for (i = 0; i < t->n; i++) {
		char *sql = sqlite3_mprintf("DELETE FROM \"%w\" WHERE room_id "
		    "= ?1", t->name[i]);

		if (sql == NULL)
			return RK_ENOMEM;
		rc = retention_exec_room(db, sql, r->room, &n);
		sqlite3_free(sql);
		if (rc != 0)
			return rc;
		r->rows += n;
	}
	if ((rc = retention_exec_room(db, "UPDATE local_hub_log SET changeset "
	    "= X'' WHERE room_id = ?1 AND length(changeset) > 0", r->room,
	    &r->log_emptied)) != 0 ||
	    (rc = retention_exec_room(db, "UPDATE local_hub_received SET "
	    "reason = '" RETENTION_REASON "' WHERE room_id = ?1 AND reason "
	    "IS NOT NULL", r->room, NULL)) != 0)
		return rc;
	if ((rc = store_prepare(db, "INSERT INTO local_purged_rooms "
	    "(room_id, archived_at, purged_at, rows_removed, audit_entries, "
	    "audit_head) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, r->room, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->archived_at);
	sqlite3_bind_int64(st, 3, now_ms);
	sqlite3_bind_int64(st, 4, r->rows);
	sqlite3_bind_int64(st, 5, r->audit_entries);
	if (r->audit_head[0])
		sqlite3_bind_text(st, 6, r->audit_head, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	if (sqlite3_step(st) != SQLITE_DONE) {
		log_warnx("retention: tombstone of room %s: %s", r->room,
		    sqlite3_errmsg(db));
		rc = store_sqlite_err(db);
	}
	store_finalize(st);
	return rc;
}

/* One room in its own transaction: committed, or rolled back (dry_run
 * or failure).  The room is checked again inside the transaction. */
static int
retention_one(sqlite3 *db, const struct retention_tables *t, int64_t now_ms,
    int64_t cutoff, int dry_run, struct retention_room *r, int *done,
    struct rk_why *why)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	*done = 0;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return rk_whyf(why, store_sqlite_err(db), "cannot start the "
		    "purge of room %s: %s", r->room, sqlite3_errmsg(db));
	if ((rc = store_prepare(db, "SELECT 1 FROM rooms r JOIN "
	    "room_details d USING (room_id) WHERE r.room_id = ?1 AND "
	    "r.status = 'archived' AND d.archived_at IS NOT NULL AND "
	    RETENTION_SINCE " <= ?2", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, r->room, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, cutoff);
	step = sqlite3_step(st);
	store_finalize(st);
	if (step == SQLITE_DONE) {
		rc = 0;		/* changed meanwhile: not due any more */
		goto out;
	}
	if (step != SQLITE_ROW) {
		rc = store_sqlite_err(db);
		goto out;
	}
	if ((rc = retention_purge_room(db, t, now_ms, r)) != 0)
		goto out;
	if (dry_run) {
		*done = 1;
		goto out;	/* rolled back below */
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = store_sqlite_err(db);
		goto out;
	}
	*done = 1;
	log_info("retention: room %s purged after its retention period",
	    r->room);
	return 0;
out:
	if (rc != 0)
		rk_whyf(why, rc, "cannot purge room %s (nothing of it was "
		    "removed): %s", r->room, sqlite3_errmsg(db));
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* {"room_id", ...} of a room done, for the summary. */
static json_t *
retention_room_json(const struct retention_room *r, int64_t now_ms)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:s?}", "room_id",
	    r->room, "archived_at", (json_int_t)r->archived_at, "purged_at",
	    (json_int_t)now_ms, "rows_removed", (json_int_t)r->rows,
	    "log_entries_emptied", (json_int_t)r->log_emptied,
	    "audit_entries", (json_int_t)r->audit_entries, "audit_head",
	    r->audit_head[0] ? r->audit_head : NULL);
}

int
retention_purge(struct store *s, int64_t now_ms, int64_t retention_ms,
    int dry_run, json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	struct retention_tables t = { NULL, 0 };
	json_t *purged = NULL, *kept = NULL, *o = NULL, *due = NULL, *v;
	int64_t cutoff, already = 0;
	size_t i;
	int rc;

	if (retention_ms < 0)
		return rk_whyf(why, RK_EINVAL, "retention: %lld ms is not a "
		    "period", (long long)retention_ms);
	cutoff = now_ms - retention_ms;
	if ((purged = json_array()) == NULL || (kept = json_array()) == NULL
	    || (due = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	if ((rc = retention_tables_load(db, &t)) != 0) {
		rk_whyf(why, rc, "cannot read the schema");
		goto out;
	}
	/*
	 * Archived rooms, oldest first.  One without archived_at (none is
	 * written so) has no date to count from: it is kept.  archived_at is
	 * the archiving device's clock; a device whose clock runs behind
	 * must not make a room go early, so the period counts from the later
	 * of it and the hub's own time of the last change it logged for the
	 * room (the archive itself, or anything after it).
	 */
	if ((rc = store_prepare(db, "SELECT r.room_id, d.archived_at, "
	    RETENTION_SINCE " AS since FROM rooms r JOIN room_details d USING "
	    "(room_id) WHERE r.status = 'archived' AND d.archived_at IS NOT "
	    "NULL ORDER BY since, r.room_id", &st)) != 0) {
		rk_whyf(why, rc, "cannot read the rooms");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t at = sqlite3_column_int64(st, 1);
		int64_t since = sqlite3_column_int64(st, 2);
		json_t *e;

		if (since <= cutoff)
			e = json_pack("{s:s, s:I}", "room_id",
			    (const char *)sqlite3_column_text(st, 0),
			    "archived_at", (json_int_t)at);
		else
			e = json_pack("{s:s, s:I, s:I}", "room_id",
			    (const char *)sqlite3_column_text(st, 0),
			    "archived_at", (json_int_t)at, "purge_after",
			    (json_int_t)(since + retention_ms));
		if (e == NULL || json_array_append_new(since <= cutoff ? due :
		    kept, e) != 0)
			break;
	}
	store_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE) {
		rc = rc == SQLITE_ROW ? RK_ENOMEM : rk_whyf(why,
		    store_sqlite_err(db), "cannot read the rooms: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	json_array_foreach(due, i, v) {
		struct retention_room r;
		int done;

		memset(&r, 0, sizeof(r));
		r.room = json_string_value(json_object_get(v, "room_id"));
		r.archived_at = json_integer_value(json_object_get(v,
		    "archived_at"));
		if ((rc = retention_one(db, &t, now_ms, cutoff, dry_run, &r,
		    &done, why)) != 0)
			goto out;
		if (done && json_array_append_new(purged,
		    retention_room_json(&r, now_ms)) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if ((rc = store_prepare(db, "SELECT count(*) FROM "
	    "local_purged_rooms", &st)) != 0)
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW)
		already = sqlite3_column_int64(st, 0);
	store_finalize(st);
	st = NULL;
	if (!dry_run)
		already -= (int64_t)json_array_size(purged);
	if ((o = json_pack("{s:b, s:I, s:I, s:I, s:O, s:O, s:I}", "dry_run",
	    dry_run, "now", (json_int_t)now_ms, "retention_days",
	    (json_int_t)(retention_ms / RETENTION_DAY_MS), "retention_ms",
	    (json_int_t)retention_ms, "purged", purged, "kept", kept,
	    "already_purged", (json_int_t)already)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	*out = o;	/* the caller's: json_decref */
	rc = 0;
out:
	store_finalize(st);
	retention_tables_free(&t);
	json_decref(purged);
	json_decref(kept);
	json_decref(due);
	return rc;
}

void
retention_run(struct store *s, int64_t retention_ms)
{
	struct rk_why why = { "" };
	json_t *o = NULL;
	size_t n;
	int rc;

	store_lock(s);
	rc = retention_purge(s, rk_now_ms(store_clock(s)), retention_ms, 0,
	    &o, &why);
	store_unlock(s);
	if (rc != 0) {
		log_warnx("retention: %s", why.text[0] ? why.text :
		    rk_strerror(rc));
		return;
	}
	n = json_array_size(json_object_get(o, "purged"));
	if (n > 0)
		log_info("retention: %zu archived room(s) purged, %zu kept "
		    "until their retention period ends", n,
		    json_array_size(json_object_get(o, "kept")));
	json_decref(o);
}
