/*
 * test_purge.c - the purge of archived rooms at the end of the retention
 * period (daemon/retention.h), on a real encrypted hub store: which rooms
 * are due (archived long enough; never one that is not archived), that a
 * purged room leaves no row and no byte of its content anywhere in the
 * hub's database, that the hub log keeps its numbering, the tombstone's
 * content, one transaction per room (a failure half-way leaves the room
 * whole), the dry run, idempotence, and the refusals that follow (a new
 * room with that id, reads on the hub); and a device told to purge the
 * room keeps nothing of it, not even in its outbox.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "common/conf.h"
#include "daemon/admin.h"
#include "daemon/records.h"
#include "daemon/retention.h"
#include "daemon/roomwork.h"
#include "daemon/store.h"
#include "daemon/sync.h"
#include "daemon/vfs.h"
#include "testutil.h"
#include "tu_sql.h"

#define VFS_NAME "rk-test-purge"

/* 2025-06-01T03:00:00Z. */
#define T0 INT64_C(1748746800000)
#define DAY_MS INT64_C(86400000)
#define RET_MS ((int64_t)RK_RETENTION_DAYS_DEFAULT * DAY_MS)
/* Text that only the room to purge holds, in every kind of column. */
#define MARK "purge-marker-2f7c"

static struct vfs_crypt *g_vfs;

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX + 32];
	struct tu_clock clk;
	struct store *h;
	struct rec_ctx hc;
};

/* --- helpers ------------------------------------------------------------ */

static sqlite3 *
hdb(struct fx *f)
{
	return store_db(f->h);
}

static void
exec(sqlite3 *db, const char *fmt, ...)
{
	char *err = NULL, *sql;
	va_list ap;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
	sqlite3_free(sql);
}

static const char *
qtext(sqlite3 *db, const char *fmt, ...)
{
	static char buf[4096];
	sqlite3_stmt *st = NULL;
	va_list ap;
	char *sql;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s: no row", sql);
	snprintf(buf, sizeof(buf), "%s", sqlite3_column_text(st, 0) ?
	    (const char *)sqlite3_column_text(st, 0) : "(null)");
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return buf;
}

/*
 * A room as the hub holds it after some months of work: the room, its
 * members, patient, consent, posts, a visit, the card, a conflict record,
 * audit events and their chain, hub log entries (their changesets hold
 * the content, here the marker), a conflict-log line, noted writers, a
 * device that follows it and the hash it reported.  archived_at < 0: not
 * archived.  Every text that describes the patient holds MARK when mark.
 */
static void
add_room(struct fx *f, const char *room, int64_t archived_at, int mark)
{
	sqlite3 *db = hdb(f);
	const char *m = mark ? MARK : "other";
	struct rk_why why = { "" };
	char at[32];
	int64_t n = 0, seq;
	int i;

	exec(db, "INSERT INTO rooms (room_id, kind, title, status, "
	    "archive_reason, created_by, created_at, hlc) VALUES (%Q, "
	    "'patient', 'title %s', %Q, %Q, 'cm-1', %lld, 1)", room, m,
	    archived_at >= 0 ? "archived" : "active", archived_at >= 0 ?
	    "death" : NULL, (long long)(T0 - 400 * DAY_MS));
	snprintf(at, sizeof(at), "%lld", (long long)archived_at);
	exec(db, "INSERT INTO room_details (room_id, primary_doctor, "
	    "archived_at, archived_by, hlc) VALUES (%Q, 'dr-1', %s, %s, 2)",
	    room, archived_at >= 0 ? at : "NULL", archived_at >= 0 ?
	    "'cm-1'" : "NULL");
	exec(db, "INSERT INTO memberships (room_id, staff_id, role, status, "
	    "added_by, added_at, hlc) VALUES (%Q, 'dr-1', 'member', 'active', "
	    "'cm-1', 1, 1), (%Q, 'nurse-1', 'member', 'active', 'cm-1', 1, 1)",
	    room, room);
	exec(db, "INSERT INTO patients (room_id, name, address, hlc) VALUES "
	    "(%Q, '山田 花子 %s', 'addr %s', 1)", room, m, m);
	exec(db, "INSERT INTO consents (room_id, id, consent_date, "
	    "consenter_name, recorded_by, recorded_at, hlc) VALUES (%Q, 'c1', "
	    "'2024-05-01', 'family %s', 'cm-1', 1, 1)", room, m);
	for (i = 0; i < 3; i++)
		exec(db, "INSERT INTO posts (room_id, id, author, created_at, "
		    "body, hlc) VALUES (%Q, 'p%d', 'nurse-1', %d, 'post %s', "
		    "%d)", room, i, i, m, i + 1);
	exec(db, "INSERT INTO visits (room_id, id, author, visited_at, bp_sys, "
	    "note, hlc) VALUES (%Q, 'v1', 'nurse-1', 5, 128, 'note %s', 1)",
	    room, m);
	exec(db, "INSERT INTO emergency_cards (room_id, allergies, updated_by, "
	    "updated_at, hlc) VALUES (%Q, 'allergy %s', 'dr-1', 1, 1)", room,
	    m);
	exec(db, "INSERT INTO conflicts (room_id, id, created_at, table_name, "
	    "row_key, column_name, kind, winner_value, loser_value, "
	    "winner_hlc, loser_hlc, winner_origin, loser_origin, hlc) VALUES "
	    "(%Q, 'k1', 1, 'emergency_cards', '{\"room_id\": \"%q\"}', "
	    "'allergies', 'review', '\"a %s\"', '\"b %s\"', 2, 1, 'dev-1', "
	    "'dev-2', 2)", room, room, m, m);
	for (i = 1; i <= 3; i++)
		exec(db, "INSERT INTO audit_events (room_id, id, at, staff, "
		    "device, action, what, hlc) VALUES (%Q, 'ev%d', %lld, "
		    "'nurse-1', 'dev-1', 'read', 'timeline', %d)", room, i,
		    (long long)(T0 + i), i);
	assert_int_equal(roomwork_audit_chain_extend(f->h, room, &n, &why), 0);
	assert_int_equal(n, 3);
	exec(db, "INSERT INTO local_audit_pending (room_id, id, at, staff, "
	    "device, action, what) VALUES (%Q, 'ev9', 9, 'hub-1', 'hub-1', "
	    "'read', 'audit')", room);
	for (i = 0; i < 2; i++)
		exec(db, "INSERT INTO local_hub_log (room_id, origin, seq_first, "
		    "seq_last, created_at, changeset) VALUES (%Q, 'dev-1', %d, "
		    "%d, 1, CAST('changeset %s' AS BLOB))", room, i + 1, i + 1,
		    m);
	seq = tu_qint(db, "SELECT max(hub_seq) FROM local_hub_log");
	exec(db, "INSERT INTO local_hub_conflict_log (hub_seq, origin, "
	    "seq_first, table_name, kind, action, detail, at) VALUES (%lld, "
	    "'dev-1', 2, 'emergency_cards', 'data', 'merged', 'detail %s', 1)",
	    (long long)seq, m);
	exec(db, "INSERT INTO local_hub_writers (table_name, row_key, "
	    "column_name, origin) VALUES ('emergency_cards', '[\"%q\"]', "
	    "'allergies', 'dev-1'), ('posts', '[\"%q\",\"p1\"]', 'body', "
	    "'dev-1')", room, room);
	exec(db, "INSERT INTO local_hub_received (origin, room_id, seq_first, "
	    "seq_last, status, hub_seq, reason, received_at) VALUES "
	    "('dev-1', %Q, 1, 1, 'applied', 1, NULL, 1), ('dev-1', %Q, 3, 3, "
	    "'refused', NULL, 'refused %s', 1)", room, room, m);
	exec(db, "INSERT INTO local_hub_device_rooms (device_id, room_id, "
	    "since_seq) VALUES ('dev-1', %Q, 0)", room);
	exec(db, "INSERT INTO local_room_hashes (device_id, room_id, cursor, "
	    "hash, matches, reported_at) VALUES ('dev-1', %Q, 1, 'ab', 1, 1)",
	    room);
}

/* How many cells of the whole database hold MARK (text or blob). */
static int64_t
marks_in(sqlite3 *db)
{
	sqlite3_stmt *t = NULL, *c = NULL;
	int64_t n = 0;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT m.name, p.name FROM "
	    "sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = "
	    "'table'", -1, &t, NULL), SQLITE_OK);
	while (sqlite3_step(t) == SQLITE_ROW) {
		char *sql = sqlite3_mprintf("SELECT count(*) FROM \"%w\" WHERE "
		    "instr(CAST(\"%w\" AS BLOB), CAST('" MARK "' AS BLOB)) > 0",
		    (const char *)sqlite3_column_text(t, 0),
		    (const char *)sqlite3_column_text(t, 1));

		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &c, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_step(c), SQLITE_ROW);
		n += sqlite3_column_int64(c, 0);
		sqlite3_finalize(c);
		sqlite3_free(sql);
	}
	sqlite3_finalize(t);
	return n;
}

static int64_t
marks(struct fx *f)
{
	return marks_in(hdb(f));
}

/* Rows of room in every table with a room_id column, except those that
 * outlive it (retention.c); and the rows with no room_id that belong to
 * it (conflict log, writers). */
static int64_t
room_rows(struct fx *f, const char *room)
{
	sqlite3 *db = hdb(f);
	sqlite3_stmt *t = NULL;
	int64_t n = 0;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT m.name FROM "
	    "sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = "
	    "'table' AND p.name = 'room_id' AND m.name NOT IN "
	    "('local_purged_rooms', 'local_hub_device_rooms', "
	    "'local_hub_received', 'local_hub_log')", -1, &t, NULL),
	    SQLITE_OK);
	while (sqlite3_step(t) == SQLITE_ROW)
		n += tu_qint(db, "SELECT count(*) FROM \"%w\" WHERE room_id = %Q",
		    (const char *)sqlite3_column_text(t, 0), room);
	sqlite3_finalize(t);
	n += tu_qint(db, "SELECT count(*) FROM local_hub_conflict_log WHERE "
	    "hub_seq IN (SELECT hub_seq FROM local_hub_log WHERE room_id = "
	    "%Q)", room);
	n += tu_qint(db, "SELECT count(*) FROM local_hub_writers WHERE "
	    "json_extract(row_key, '$[0]') = %Q", room);
	return n;
}

/* A digest of the whole database: every cell of every table. */
static void
digest(struct fx *f, char out[65])
{
	sqlite3 *db = hdb(f);
	sqlite3_stmt *t = NULL, *r = NULL;
	crypto_generichash_state h;
	unsigned char d[32];
	int i;

	crypto_generichash_init(&h, NULL, 0, 32);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM "
	    "sqlite_master WHERE type = 'table' ORDER BY name", -1, &t, NULL),
	    SQLITE_OK);
	while (sqlite3_step(t) == SQLITE_ROW) {
		char *sql = sqlite3_mprintf("SELECT * FROM \"%w\" ORDER BY 1, 2",
		    (const char *)sqlite3_column_text(t, 0));

		crypto_generichash_update(&h, sqlite3_column_text(t, 0),
		    (size_t)sqlite3_column_bytes(t, 0));
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &r, NULL),
		    SQLITE_OK);
		while (sqlite3_step(r) == SQLITE_ROW)
			for (i = 0; i < sqlite3_column_count(r); i++) {
				const void *b = sqlite3_column_blob(r, i);

				crypto_generichash_update(&h, (const unsigned
				    char *)"|", 1);
				if (b != NULL)
					crypto_generichash_update(&h, b,
					    (size_t)sqlite3_column_bytes(r, i));
			}
		sqlite3_finalize(r);
		sqlite3_free(sql);
	}
	sqlite3_finalize(t);
	crypto_generichash_final(&h, d, sizeof(d));
	sodium_bin2hex(out, 65, d, sizeof(d));
}

/* Purges at now; returns the summary (json_decref it). */
static json_t *
purge(struct fx *f, int64_t now, int dry)
{
	struct rk_why why = { "" };
	json_t *o = NULL;
	int rc = retention_purge(f->h, now, RET_MS, dry, &o, &why);

	if (rc != 0)
		fail_msg("retention_purge: %d %s", rc, why.text);
	assert_true(sqlite3_get_autocommit(hdb(f)));
	return o;
}

static size_t
npurged(json_t *o)
{
	return json_array_size(json_object_get(o, "purged"));
}

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int64_t
jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static int
count_commits(void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* --- fixtures ----------------------------------------------------------- */

static int
group_setup(void **state)
{
	uint8_t key[VFS_KEY_LEN];
	int rc;

	(void)state;
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(key, sizeof(key));
	rc = vfs_crypt_register(VFS_NAME, key, &g_vfs);
	sodium_memzero(key, sizeof(key));
	return rc;
}

static int
group_teardown(void **state)
{
	(void)state;
	vfs_crypt_unregister(g_vfs);
	return 0;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_opts o;
	struct rk_why why = { "" };

	if (f == NULL)
		return -1;
	tu_tmpdir(f->dir, sizeof(f->dir), "purge");
	snprintf(f->path, sizeof(f->path), "%s/hub.db", f->dir);
	tu_clock_init(&f->clk, T0, tu_seed());
	memset(&o, 0, sizeof(o));
	o.path = f->path;
	o.vfs = VFS_NAME;
	o.origin = "hub-1";
	o.is_hub = 1;
	o.clock = &f->clk.clock;
	if (store_open(&o, &f->h, &why) != 0) {
		fprintf(stderr, "store_open: %s\n", why.text);
		return -1;
	}
	f->hc.store = f->h;
	f->hc.is_hub = 1;
	f->hc.staff = "hub-1";
	f->hc.role = "hub";
	f->hc.device_id = "hub-1";
	f->hc.retention_ms = RET_MS;
	exec(hdb(f), "INSERT INTO agencies (id, name, kind, hlc) VALUES "
	    "('ag-d', '山田医院', 'clinic', 1), ('ag-n', 'ひまわり', "
	    "'visiting-nurse', 1);"
	    "INSERT INTO staff (id, agency_id, name, profession, hlc) VALUES "
	    "('dr-1', 'ag-d', '医師 太郎', 'doctor', 1), ('nurse-1', 'ag-n', "
	    "'看護 一子', 'nurse', 1), ('cm-1', 'ag-n', 'ケアマネ', "
	    "'care-manager', 1)");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->h);
	if (tu_rm_rf(f->dir) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

/* --- the decision --------------------------------------------------------- */

static void
test_not_expired(void **state)
{
	struct fx *f = *state;
	int64_t rows;
	json_t *o;

	add_room(f, "room-a", T0, 1);
	rows = room_rows(f, "room-a");
	/* One millisecond short of the period: kept, and listed as kept
	 * with the day it becomes due. */
	o = purge(f, T0 + RET_MS - 1, 0);
	assert_int_equal(npurged(o), 0);
	assert_int_equal(json_array_size(json_object_get(o, "kept")), 1);
	assert_string_equal(jstr(json_array_get(json_object_get(o, "kept"),
	    0), "room_id"), "room-a");
	assert_int_equal(jint(json_array_get(json_object_get(o, "kept"), 0),
	    "purge_after"), T0 + RET_MS);
	assert_int_equal(jint(o, "retention_days"),
	    RK_RETENTION_DAYS_DEFAULT);
	json_decref(o);
	assert_int_equal(room_rows(f, "room-a"), rows);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM "
	    "local_purged_rooms"), 0);
}

/* A device whose clock ran ten years behind archived the room: the period
 * counts from when the hub logged the archive, never earlier. */
static void
test_device_clock_behind(void **state)
{
	struct fx *f = *state;
	json_t *o;

	add_room(f, "room-a", T0 - 3650 * DAY_MS, 0);
	exec(hdb(f), "UPDATE local_hub_log SET created_at = %lld WHERE "
	    "room_id = 'room-a'", (long long)T0);
	o = purge(f, T0 + RET_MS - 1, 0);
	assert_int_equal(npurged(o), 0);
	assert_int_equal(jint(json_array_get(json_object_get(o, "kept"), 0),
	    "purge_after"), T0 + RET_MS);
	assert_int_equal(jint(json_array_get(json_object_get(o, "kept"), 0),
	    "archived_at"), T0 - 3650 * DAY_MS);
	json_decref(o);
	o = purge(f, T0 + RET_MS, 0);
	assert_int_equal(npurged(o), 1);
	json_decref(o);
	/* The tombstone keeps the date the device wrote. */
	assert_int_equal(tu_qint(hdb(f), "SELECT archived_at FROM "
	    "local_purged_rooms WHERE room_id = 'room-a'"), T0 - 3650 * DAY_MS);
}

static void
test_not_archived(void **state)
{
	struct fx *f = *state;
	int64_t rows;
	json_t *o;

	add_room(f, "room-a", -1, 1);
	/* Active, but with an archived_at (never written so): the status
	 * decides. */
	add_room(f, "room-b", -1, 0);
	exec(hdb(f), "UPDATE room_details SET archived_at = 1 WHERE room_id "
	    "= 'room-b'");
	rows = room_rows(f, "room-a");
	o = purge(f, T0 + 100 * RET_MS, 0);
	assert_int_equal(npurged(o), 0);
	assert_int_equal(json_array_size(json_object_get(o, "kept")), 0);
	json_decref(o);
	assert_int_equal(room_rows(f, "room-a"), rows);
	assert_true(room_rows(f, "room-b") > 0);
}

static void
test_expired(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = hdb(f);
	int64_t rows, keep_rows, head, low, nlog, now = T0 + RET_MS;
	char chain_head[65];
	json_t *o, *r;

	add_room(f, "room-b", T0 - 10 * DAY_MS, 0);	/* also due */
	add_room(f, "room-a", T0, 1);
	add_room(f, "room-k", T0 + DAY_MS, 0);		/* not yet */
	snprintf(chain_head, sizeof(chain_head), "%s", qtext(db, "SELECT hash "
	    "FROM local_audit_chain WHERE room_id = 'room-a' ORDER BY seq DESC "
	    "LIMIT 1"));
	rows = room_rows(f, "room-a");
	keep_rows = room_rows(f, "room-k");
	head = tu_qint(db, "SELECT max(hub_seq) FROM local_hub_log");
	low = tu_qint(db, "SELECT min(hub_seq) FROM local_hub_log");
	nlog = tu_qint(db, "SELECT count(*) FROM local_hub_log");
	assert_true(marks(f) > 10);

	o = purge(f, now, 0);
	assert_int_equal(npurged(o), 2);
	/* Oldest archive first. */
	assert_string_equal(jstr(json_array_get(json_object_get(o, "purged"),
	    0), "room_id"), "room-b");
	r = json_array_get(json_object_get(o, "purged"), 1);
	assert_string_equal(jstr(r, "room_id"), "room-a");
	assert_int_equal(jint(r, "archived_at"), T0);
	assert_int_equal(jint(r, "purged_at"), now);
	assert_int_equal(jint(r, "rows_removed"), rows);
	assert_int_equal(jint(r, "log_entries_emptied"), 2);
	assert_int_equal(jint(r, "audit_entries"), 3);
	assert_string_equal(jstr(r, "audit_head"), chain_head);
	assert_int_equal(json_array_size(json_object_get(o, "kept")), 1);
	json_decref(o);

	/* Nothing of the room is left, not a byte of its content. */
	assert_int_equal(room_rows(f, "room-a"), 0);
	assert_int_equal(marks(f), 0);
	/* The room not yet due is whole. */
	assert_int_equal(room_rows(f, "room-k"), keep_rows);
	/* The log keeps its numbering: same entries, same first and last. */
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM local_hub_log"), nlog);
	assert_int_equal(tu_qint(db, "SELECT max(hub_seq) FROM local_hub_log"),
	    head);
	assert_int_equal(tu_qint(db, "SELECT min(hub_seq) FROM local_hub_log"),
	    low);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM local_hub_log WHERE "
	    "room_id = 'room-a' AND length(changeset) > 0"), 0);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM local_hub_log WHERE "
	    "room_id = 'room-k' AND length(changeset) > 0"), 2);
	/* Deduplication and each device's pending purge outlive it. */
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM local_hub_received "
	    "WHERE room_id = 'room-a'"), 2);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM "
	    "local_hub_device_rooms WHERE room_id = 'room-a'"), 1);

	/* The tombstone: ids, dates, counts and the chain's head only. */
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM local_purged_rooms"),
	    2);
	assert_int_equal(tu_qint(db, "SELECT archived_at FROM local_purged_rooms "
	    "WHERE room_id = 'room-a'"), T0);
	assert_int_equal(tu_qint(db, "SELECT purged_at FROM local_purged_rooms "
	    "WHERE room_id = 'room-a'"), now);
	assert_int_equal(tu_qint(db, "SELECT rows_removed FROM local_purged_rooms "
	    "WHERE room_id = 'room-a'"), rows);
	assert_int_equal(tu_qint(db, "SELECT audit_entries FROM "
	    "local_purged_rooms WHERE room_id = 'room-a'"), 3);
	assert_string_equal(qtext(db, "SELECT audit_head FROM "
	    "local_purged_rooms WHERE room_id = 'room-a'"), chain_head);
}

static void
test_one_transaction(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = hdb(f);
	struct rk_why why = { "" };
	char before[65], after[65];
	int64_t rows;
	json_t *o = NULL;
	int commits = 0;

	add_room(f, "room-a", T0, 1);
	rows = room_rows(f, "room-a");
	digest(f, before);
	/* The purge fails half-way (visits come after most tables): the
	 * room stays whole, as if a crash had hit before COMMIT. */
	exec(db, "CREATE TEMP TRIGGER boom BEFORE DELETE ON main.visits BEGIN "
	    "SELECT RAISE(ABORT, 'disk on fire'); END");
	assert_int_not_equal(retention_purge(f->h, T0 + RET_MS, RET_MS, 0,
	    &o, &why), 0);
	assert_null(o);
	assert_non_null(strstr(why.text, "room-a"));
	assert_true(sqlite3_get_autocommit(db));
	exec(db, "DROP TRIGGER temp.boom");
	digest(f, after);
	assert_string_equal(before, after);
	assert_int_equal(room_rows(f, "room-a"), rows);

	/* And a whole room is one COMMIT. */
	sqlite3_commit_hook(db, count_commits, &commits);
	o = purge(f, T0 + RET_MS, 0);
	sqlite3_commit_hook(db, NULL, NULL);
	assert_int_equal(npurged(o), 1);
	assert_int_equal(commits, 1);
	json_decref(o);
	assert_int_equal(room_rows(f, "room-a"), 0);
}

static void
test_dry_run(void **state)
{
	struct fx *f = *state;
	char before[65], after[65];
	json_t *dry, *real;

	add_room(f, "room-a", T0, 1);
	add_room(f, "room-k", T0 + DAY_MS, 0);
	digest(f, before);
	dry = purge(f, T0 + RET_MS, 1);
	digest(f, after);
	assert_string_equal(before, after);
	assert_true(json_is_true(json_object_get(dry, "dry_run")));
	assert_int_equal(npurged(dry), 1);
	real = purge(f, T0 + RET_MS, 0);
	/* The dry run told exactly what the real one did. */
	json_object_set_new(dry, "dry_run", json_false());
	assert_true(json_equal(dry, real));
	json_decref(dry);
	json_decref(real);
	assert_int_equal(room_rows(f, "room-a"), 0);
}

static void
test_idempotent(void **state)
{
	struct fx *f = *state;
	char before[65], after[65];
	json_t *o;

	add_room(f, "room-a", T0, 1);
	json_decref(purge(f, T0 + RET_MS, 0));
	digest(f, before);
	o = purge(f, T0 + RET_MS + DAY_MS, 0);
	assert_int_equal(npurged(o), 0);
	assert_int_equal(jint(o, "already_purged"), 1);
	json_decref(o);
	o = purge(f, T0 + RET_MS + DAY_MS, 1);
	assert_int_equal(npurged(o), 0);
	json_decref(o);
	digest(f, after);
	assert_string_equal(before, after);
}

/* --- after the purge ------------------------------------------------------ */

static void
test_refusals(void **state)
{
	struct fx *f = *state;
	struct rk_why why = { "" };
	char reason[400];
	json_t *in, *o = NULL;

	add_room(f, "room-a", T0, 1);
	add_room(f, "room-k", T0 + DAY_MS, 0);
	assert_int_equal(retention_purged(hdb(f), "room-a", reason,
	    sizeof(reason)), 0);
	tu_clock_set(&f->clk, T0 + RET_MS);
	/* Through the admin call, with the hub's configured period. */
	in = json_pack("{s:b}", "dry_run", 0);
	assert_int_equal(admin_purge_expired(&f->hc, in, &o, &why), 0);
	json_decref(in);
	assert_int_equal(npurged(o), 1);
	json_decref(o);
	o = NULL;
	in = json_pack("{s:s}", "dry_run", "yes");
	assert_int_equal(admin_purge_expired(&f->hc, in, &o, &why), RK_EINVAL);
	json_decref(in);

	assert_int_equal(retention_purged(hdb(f), "room-a", reason,
	    sizeof(reason)), 1);
	assert_non_null(strstr(reason, "room-a"));
	assert_non_null(strstr(reason, "retention period"));
	assert_int_equal(retention_purged(hdb(f), "room-k", reason,
	    sizeof(reason)), 0);

	/* Reads on the hub say what happened. */
	assert_int_equal(rec_timeline(&f->hc, "room-a", 10, &o, &why),
	    RK_ENOTFOUND);
	assert_non_null(strstr(why.text, "purged"));
	assert_int_equal(roomwork_members(&f->hc, "room-a", &o, &why),
	    RK_ENOTFOUND);
	assert_non_null(strstr(why.text, "purged"));
	/* The id is never used again: nothing could come back under it. */
	in = json_pack("{s:s, s:s, s:s, s:[s, s]}", "room_id", "room-a",
	    "patient_name", "別人", "consent_date", "2025-05-01", "members",
	    "dr-1", "nurse-1");
	assert_int_equal(admin_room_create(&f->hc, in, &o, &why), RK_EEXIST);
	assert_non_null(strstr(why.text, "purged"));
	json_decref(in);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM rooms WHERE "
	    "room_id = 'room-a'"), 0);
}

/* --- on a device ---------------------------------------------------------- */

/* A captured write to room on the device store d. */
static void
dev_write(struct store *d, const char *room, const char *sql)
{
	struct rk_why why = { "" };
	struct store_tx *tx = NULL;
	int64_t seq = 0;

	assert_int_equal(store_tx_begin(d, room, &tx), 0);
	exec(store_db(d), "%s", sql);
	if (store_tx_commit(tx, &seq, &why) != 0)
		fail_msg("commit: %s", why.text);
	assert_true(seq > 0);
}

static void
test_device_keeps_nothing(void **state)
{
	struct fx *f = *state;
	struct store_opts so;
	struct store *d = NULL;
	struct rk_why why = { "" };
	const char *purge[] = { "room-a" };
	struct sync_batch b;
	char path[PATH_MAX + 32];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/dev.db", f->dir);
	memset(&so, 0, sizeof(so));
	so.path = path;
	so.vfs = VFS_NAME;
	so.origin = "dev-1";
	so.clock = &f->clk.clock;
	if (store_open(&so, &d, &why) != 0)
		fail_msg("store_open device: %s", why.text);
	db = store_db(d);
	/* The room as the device got it, and its own writes, acknowledged
	 * by the hub long ago. */
	exec(db, "INSERT INTO rooms (room_id, title, status, created_by, "
	    "created_at, hlc) VALUES ('room-a', 't', 'archived', 'cm-1', 1, 1), "
	    "('room-k', 't', 'active', 'cm-1', 1, 1);"
	    "INSERT INTO memberships (room_id, staff_id, added_by, added_at, "
	    "hlc) VALUES ('room-a', 'nurse-1', 'cm-1', 1, 1), ('room-k', "
	    "'nurse-1', 'cm-1', 1, 1)");
	dev_write(d, "room-a", "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('room-a', 'p1', 'nurse-1', 1, "
	    "'" MARK " post', 1)");
	dev_write(d, "room-a", "INSERT INTO visits (room_id, id, author, "
	    "visited_at, note, hlc) VALUES ('room-a', 'v1', 'nurse-1', 1, "
	    "'" MARK " note', 1)");
	dev_write(d, "room-k", "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('room-k', 'p1', 'nurse-1', 1, "
	    "'kept', 1)");
	exec(db, "UPDATE local_outbox SET status = 'acked', acked_hub_seq = "
	    "seq, applied = X''");
	assert_true(marks_in(db) > 0);

	memset(&b, 0, sizeof(b));
	b.purge = purge;
	b.npurge = 1;
	if (sync_apply_batch(db, &b, &why) != 0)
		fail_msg("sync_apply_batch: %s", why.text);
	assert_int_equal(marks_in(db), 0);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM rooms WHERE room_id = "
	    "'room-a'"), 0);
	/* The entries stay (the numbering goes on), empty. */
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM local_outbox WHERE "
	    "room_id = 'room-a' AND length(changeset) = 0"), 2);
	/* The other room is untouched. */
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM posts WHERE room_id = "
	    "'room-k'"), 1);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM local_outbox WHERE "
	    "room_id = 'room-k' AND length(changeset) > 0"), 1);
	store_close(d);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_not_expired),
		T(test_device_clock_behind),
		T(test_not_archived),
		T(test_expired),
		T(test_one_transaction),
		T(test_dry_run),
		T(test_idempotent),
		T(test_refusals),
		T(test_device_keeps_nothing),
	};
#undef T

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
