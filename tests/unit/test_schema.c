/*
 * test_schema.c - the embedded migrations (schema/schema.h) and the rules
 * the rest of renkei relies on: which databases are refused, that
 * migrating is idempotent and atomic, and that the schema agrees with the
 * sync policy (conflict/policy.h): room tables keyed by room_id first,
 * every synced table keyed and clocked, everything else local_*.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "conflict/policy.h"
#include "schema/schema.h"
#include "testutil.h"
#include "tu_sql.h"

#define RENKEI_APP_ID 0x524e4b49	/* "RNKI" */

static sqlite3 *
open_mem(void)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	return db;
}

static void
exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

/* The first column of the first row, in a static buffer. */
static const char *
qtext(sqlite3 *db, const char *sql)
{
	static char buf[256];
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(buf, sizeof(buf), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

/* All of sqlite_schema as one string, to compare before and after. */
static char *
schema_text(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	char *s;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(type || "
	    "' ' || name || ' ' || ifnull(sql, ''), char(10)) FROM (SELECT * "
	    "FROM sqlite_schema ORDER BY name)", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	s = sqlite3_mprintf("%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return s;	/* sqlite3_free */
}

static int
table_exists(sqlite3 *db, const char *name)
{
	char *sql = sqlite3_mprintf("SELECT count(*) FROM sqlite_schema WHERE "
	    "type = 'table' AND name = %Q", name);
	int n = (int)tu_qint(db, "%s", sql);

	sqlite3_free(sql);
	return n;
}

struct col {
	char name[64];
	char type[32];
	int notnull;
	int pk;		/* 1-based position in the primary key, 0 if not */
};

/* PRAGMA table_info of table into cols (at most max); the count. */
static int
table_info(sqlite3 *db, const char *table, struct col *cols, int max)
{
	sqlite3_stmt *st = NULL;
	char *sql = sqlite3_mprintf("PRAGMA table_info(%Q)", table);
	int n = 0;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_free(sql);
	while (sqlite3_step(st) == SQLITE_ROW) {
		assert_true(n < max);
		snprintf(cols[n].name, sizeof(cols[n].name), "%s",
		    sqlite3_column_text(st, 1));
		snprintf(cols[n].type, sizeof(cols[n].type), "%s",
		    sqlite3_column_text(st, 2));
		cols[n].notnull = sqlite3_column_int(st, 3);
		cols[n].pk = sqlite3_column_int(st, 5);
		n++;
	}
	sqlite3_finalize(st);
	return n;
}

static sqlite3 *
migrated_mem(void)
{
	sqlite3 *db = open_mem();
	struct rk_why why = { "" };

	if (schema_migrate(db, &why) != 0)
		fail_msg("migrate: %s", why.text);
	return db;
}

/* --- the migration table itself ----------------------------------------- */

static void
test_migrations_numbered(void **state)
{
	int i, prev = 0;

	(void)state;
	assert_true(schema_nmigrations >= 1);
	for (i = 0; i < schema_nmigrations; i++) {
		const struct schema_migration *m = &schema_migrations[i];
		char num[4];

		assert_non_null(m->name);
		assert_non_null(m->sql);
		assert_true(strlen(m->sql) > 0);
		/* NNN_name.sql, versions increasing from 1, NNN = version. */
		assert_true(strlen(m->name) > 8);
		assert_int_equal(m->name[3], '_');
		assert_string_equal(m->name + strlen(m->name) - 4, ".sql");
		snprintf(num, sizeof(num), "%.3s", m->name);
		assert_int_equal(atoi(num), m->version);
		assert_true(m->version > prev);
		prev = m->version;
	}
	assert_int_equal(schema_migrations[0].version, 1);
	assert_int_equal(schema_version(), prev);
	/* Every migration is complete SQL (the embedding kept every byte). */
	for (i = 0; i < schema_nmigrations; i++)
		assert_true(sqlite3_complete(schema_migrations[i].sql));
}

/* --- migrating --------------------------------------------------------- */

static void
test_migrate_empty(void **state)
{
	sqlite3 *db = open_mem();
	struct rk_why why = { "" };
	const struct table_policy *p;

	(void)state;
	assert_int_equal(schema_migrate(db, &why), 0);
	assert_int_equal(tu_qint(db, "PRAGMA user_version"), schema_version());
	assert_int_equal(tu_qint(db, "PRAGMA application_id"), RENKEI_APP_ID);
	for (p = policy_tables; p->table != NULL; p++)
		assert_true(table_exists(db, p->table));
	assert_true(table_exists(db, "local_outbox"));
	assert_true(table_exists(db, "local_meta"));
	assert_string_equal(qtext(db, "PRAGMA integrity_check"), "ok");
	sqlite3_close(db);
}

/* The file change counter (header bytes 24..27) moves with every write
 * transaction in rollback-journal mode. */
static uint32_t
change_counter(const char *path)
{
	unsigned char h[28];
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fread(h, 1, sizeof(h), f), sizeof(h));
	fclose(f);
	return (uint32_t)h[24] << 24 | (uint32_t)h[25] << 16 |
	    (uint32_t)h[26] << 8 | h[27];
}

static void
test_migrate_twice_is_noop(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	sqlite3 *db = NULL;
	struct rk_why why = { "" };
	char *before, *after;
	uint32_t ctr;
	int changes;

	(void)state;
	tu_tmpdir(dir, sizeof(dir), "schema");
	snprintf(path, sizeof(path), "%s/db.sqlite", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(schema_migrate(db, &why), 0);
	before = schema_text(db);
	ctr = change_counter(path);
	changes = sqlite3_total_changes(db);

	/* Again on the same connection... */
	assert_int_equal(schema_migrate(db, &why), 0);
	assert_int_equal(sqlite3_total_changes(db), changes);
	assert_int_equal(change_counter(path), ctr);
	sqlite3_close(db);

	/* ...and on a new one. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(schema_migrate(db, &why), 0);
	assert_int_equal(change_counter(path), ctr);
	after = schema_text(db);
	assert_string_equal(before, after);
	assert_int_equal(tu_qint(db, "PRAGMA user_version"), schema_version());
	sqlite3_free(before);
	sqlite3_free(after);
	sqlite3_close(db);
	assert_int_equal(tu_rm_rf(dir), 0);
}

static void
test_keeps_data(void **state)
{
	sqlite3 *db = migrated_mem();
	struct rk_why why = { "" };

	(void)state;
	exec(db, "INSERT INTO local_meta (key, value) VALUES ('k', 'v')");
	assert_int_equal(schema_migrate(db, &why), 0);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM local_meta"), 1);
	sqlite3_close(db);
}

static void
test_refuses_newer(void **state)
{
	sqlite3 *db = open_mem();
	struct rk_why why = { "" };
	char sql[128];

	(void)state;
	/* A database made by a later renkei. */
	snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; "
	    "PRAGMA user_version = %d", RENKEI_APP_ID, schema_version() + 1);
	exec(db, sql);
	exec(db, "CREATE TABLE future_table (x)");
	assert_int_equal(schema_migrate(db, &why), RK_ESCHEMA);
	assert_non_null(strstr(why.text, "newer"));
	/* Untouched. */
	assert_int_equal(tu_qint(db, "PRAGMA user_version"),
	    schema_version() + 1);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM sqlite_schema"), 1);
	sqlite3_close(db);
}

static void
test_refuses_foreign_tables(void **state)
{
	sqlite3 *db = open_mem();
	struct rk_why why = { "" };

	(void)state;
	exec(db, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
	    "INSERT INTO customers (name) VALUES ('x')");
	assert_int_equal(schema_migrate(db, &why), RK_ESCHEMA);
	assert_non_null(strstr(why.text, "not made by renkei"));
	/* Nothing was added or changed. */
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM sqlite_schema"), 1);
	assert_int_equal(tu_qint(db, "PRAGMA application_id"), 0);
	assert_int_equal(tu_qint(db, "PRAGMA user_version"), 0);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM customers"), 1);
	sqlite3_close(db);
}

static void
test_refuses_foreign_ids(void **state)
{
	struct rk_why why = { "" };
	sqlite3 *db;

	(void)state;
	/* Another application's id, even with no tables. */
	db = open_mem();
	exec(db, "PRAGMA application_id = 305419896");
	assert_int_equal(schema_migrate(db, &why), RK_ESCHEMA);
	assert_non_null(strstr(why.text, "not made by renkei"));
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM sqlite_schema"), 0);
	sqlite3_close(db);

	/* Someone else's user_version without our application_id. */
	db = open_mem();
	exec(db, "PRAGMA user_version = 1; CREATE TABLE t (x)");
	why.text[0] = '\0';
	assert_int_equal(schema_migrate(db, &why), RK_ESCHEMA);
	assert_non_null(strstr(why.text, "not made by renkei"));
	sqlite3_close(db);

	/* A newer version under someone else's id is foreign, not newer. */
	db = open_mem();
	exec(db, "PRAGMA application_id = 1; PRAGMA user_version = 999");
	why.text[0] = '\0';
	assert_int_equal(schema_migrate(db, &why), RK_ESCHEMA);
	assert_non_null(strstr(why.text, "not made by renkei"));
	sqlite3_close(db);
}

static void
test_migration_is_atomic_when_full(void **state)
{
	sqlite3 *db = open_mem();
	struct rk_why why = { "" };
	int rc;

	(void)state;
	/* Room for a few pages only: the migration cannot complete. */
	exec(db, "PRAGMA max_page_count = 4");
	rc = schema_migrate(db, &why);
	assert_int_not_equal(rc, 0);
	/* A full disk is reported as such (the daemon tells the user to
	 * free space rather than that the database is broken). */
	if (rc != RK_EFULL)
		fail_msg("a full disk gave %d (%s), not RK_EFULL", rc,
		    why.text);
	/* All or nothing: no table, no version, no id. */
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM sqlite_schema"), 0);
	assert_int_equal(tu_qint(db, "PRAGMA user_version"), 0);
	assert_int_equal(tu_qint(db, "PRAGMA application_id"), 0);
	assert_true(sqlite3_get_autocommit(db));
	/* With room again, it completes. */
	exec(db, "PRAGMA max_page_count = 100000");
	assert_int_equal(schema_migrate(db, &why), 0);
	assert_int_equal(tu_qint(db, "PRAGMA user_version"), schema_version());
	sqlite3_close(db);
}

/* --- the schema agrees with the sync policy ---------------------------- */

static void
test_policy_tables_exist(void **state)
{
	sqlite3 *db = migrated_mem();
	const struct table_policy *p;
	int n = 0;

	(void)state;
	for (p = policy_tables; p->table != NULL; p++, n++) {
		if (!table_exists(db, p->table))
			fail_msg("policy table %s is not in the schema",
			    p->table);
		assert_ptr_equal(policy_for_table(p->table), p);
		assert_true(p->scope == SYNC_ROOM ||
		    p->scope == SYNC_DIRECTORY);
	}
	assert_true(n > 0);
	assert_null(policy_for_table("local_outbox"));
	assert_null(policy_for_table("local_meta"));
	assert_null(policy_for_table("no_such_table"));
	sqlite3_close(db);
}

static void
test_room_tables_keyed_by_room(void **state)
{
	sqlite3 *db = migrated_mem();
	const struct table_policy *p;
	struct col cols[64];
	int n, i, nroom = 0;

	(void)state;
	for (p = policy_tables; p->table != NULL; p++) {
		int npk = 0, first = -1;

		n = table_info(db, p->table, cols, 64);
		assert_true(n > 0);
		for (i = 0; i < n; i++) {
			if (cols[i].pk > 0)
				npk++;
			if (cols[i].pk == 1)
				first = i;
		}
		/* The session extension ignores tables without a primary
		 * key: a synced table without one would never sync. */
		if (npk == 0)
			fail_msg("synced table %s has no primary key",
			    p->table);
		if (p->scope != SYNC_ROOM)
			continue;
		nroom++;
		assert_true(first >= 0);
		if (strcmp(cols[first].name, "room_id") != 0)
			fail_msg("room table %s: first key column is %s, not "
			    "room_id", p->table, cols[first].name);
		/* The capture check reads the room from column 0 of each
		 * changeset row: room_id must also be the first column. */
		if (first != 0)
			fail_msg("room table %s: room_id is column %d, not 0",
			    p->table, first);
		assert_true(cols[first].notnull);
	}
	assert_true(nroom > 0);
	sqlite3_close(db);
}

static void
test_other_tables_are_local(void **state)
{
	sqlite3 *db = migrated_mem();
	sqlite3_stmt *st = NULL;
	int nlocal = 0;

	(void)state;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM "
	    "sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
	    "ESCAPE '\\'", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		if (policy_for_table(name) != NULL)
			continue;
		if (strncmp(name, "local_", 6) != 0)
			fail_msg("table %s is neither in policy_tables nor "
			    "named local_*", name);
		nlocal++;
	}
	sqlite3_finalize(st);
	assert_true(nlocal >= 2);
	/* And no synced table is named local_*. */
	{
		const struct table_policy *p;

		for (p = policy_tables; p->table != NULL; p++)
			assert_int_not_equal(strncmp(p->table, "local_", 6), 0);
	}
	sqlite3_close(db);
}

static void
test_mutable_tables_have_hlc(void **state)
{
	sqlite3 *db = migrated_mem();
	const struct table_policy *p;
	struct col cols[64];
	int n, i;

	(void)state;
	for (p = policy_tables; p->table != NULL; p++) {
		int hlc = -1, mutable_rows = p->policy != POLICY_APPEND_ONLY;

		n = table_info(db, p->table, cols, 64);
		for (i = 0; i < n; i++) {
			if (!strcmp(cols[i].name, "hlc"))
				hlc = i;
			/* Soft deletion or a status makes rows mutable even
			 * in an append-only table. */
			if (!strcmp(cols[i].name, "deleted_at") ||
			    !strcmp(cols[i].name, "status"))
				mutable_rows = 1;
		}
		if (!mutable_rows)
			continue;
		if (hlc < 0)
			fail_msg("table %s has mutable rows but no hlc column",
			    p->table);
		assert_string_equal(cols[hlc].type, "INTEGER");
		assert_true(cols[hlc].notnull);
	}
	sqlite3_close(db);
}

static void
test_outbox_shape(void **state)
{
	sqlite3 *db = migrated_mem();
	struct col cols[16];
	const char *want[] = { "seq", "origin", "room_id", "hlc",
	    "schema_version", "created_at", "changeset", "acked_hub_seq" };
	int n, i, k;

	(void)state;
	/* store.c writes these columns; pending entries are found by status. */
	n = table_info(db, "local_outbox", cols, 16);
	for (k = 0; k < (int)(sizeof(want) / sizeof(want[0])); k++) {
		for (i = 0; i < n; i++)
			if (!strcmp(cols[i].name, want[k]))
				break;
		if (i == n)
			fail_msg("local_outbox has no %s column", want[k]);
	}
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM sqlite_schema "
	    "WHERE type = 'index' AND name = 'local_outbox_status'"), 1);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM sqlite_schema "
	    "WHERE type = 'index' AND name = 'local_outbox_pending'"), 0);
	sqlite3_close(db);
}

/*
 * A replica written before 007 names each entry's envelope on the entry;
 * migrated, it has one envelope row per range, answered when none of its
 * entries waits any more, and the next range starts after the last one.
 */
static void
test_outbox_envelopes_migrated(void **state)
{
	sqlite3 *db = open_mem();
	struct rk_why why = { "" };
	char bump[64];
	int i;

	(void)state;
	for (i = 0; i < schema_nmigrations &&
	    schema_migrations[i].version < 7; i++)
		exec(db, schema_migrations[i].sql);
	snprintf(bump, sizeof(bump), "PRAGMA application_id = %d; PRAGMA "
	    "user_version = %d", RENKEI_APP_ID, schema_migrations[i - 1].version);
	exec(db, bump);
	/* r1's 1..4 acked, r2's 2..2 refused, r1's 5..6 waiting, 7 not
	 * sent yet. */
	exec(db, "INSERT INTO local_outbox (seq, origin, room_id, hlc, "
	    "schema_version, created_at, changeset, env_first, env_last, "
	    "status, acked_hub_seq) VALUES "
	    "(1, 'd', 'r1', 1, 1, 1, X'00', 1, 4, 'acked', 10),"
	    "(2, 'd', 'r2', 1, 1, 1, X'00', 2, 2, 'refused', NULL),"
	    "(3, 'd', 'r1', 1, 1, 1, X'00', 1, 4, 'acked', 10),"
	    "(4, 'd', 'r1', 1, 1, 1, X'00', 1, 4, 'acked', 10),"
	    "(5, 'd', 'r1', 1, 1, 1, X'00', 5, 6, 'pending', NULL),"
	    "(6, 'd', 'r1', 1, 1, 1, X'00', 5, 6, 'pending', NULL),"
	    "(7, 'd', 'r1', 1, 1, 1, X'00', NULL, NULL, 'pending', NULL)");
	assert_int_equal(schema_migrate(db, &why), 0);
	assert_string_equal(qtext(db, "SELECT group_concat(env_first || '-' || "
	    "env_last || ':' || room_id || ':' || origin || ':' || answered, "
	    "' ') FROM (SELECT * FROM local_outbox_envelopes ORDER BY "
	    "env_first)"), "1-4:r1:d:1 2-2:r2:d:1 5-6:r1:d:0");
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM local_outbox WHERE "
	    "status = 'pending' AND seq > (SELECT max(env_last) FROM "
	    "local_outbox_envelopes)"), 1);
	/* 008: the answers were written on the entries, so every envelope
	 * is settled and no result is kept on it; the entries waiting are
	 * the pending ones. */
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM "
	    "local_outbox_envelopes WHERE settled = 1 AND result IS NULL AND "
	    "hub_seq IS NULL AND reason IS NULL"), 3);
	assert_string_equal(qtext(db, "SELECT group_concat(seq, ' ') FROM "
	    "(SELECT seq FROM local_outbox_waiting ORDER BY seq)"), "5 6 7");
	/* An answer not settled: its entries wait no more. */
	exec(db, "UPDATE local_outbox_envelopes SET answered = 1, result = "
	    "'acked', hub_seq = 11, settled = 0 WHERE env_first = 5");
	assert_string_equal(qtext(db, "SELECT group_concat(seq, ' ') FROM "
	    "(SELECT seq FROM local_outbox_waiting ORDER BY seq)"), "7");
	assert_int_not_equal(sqlite3_exec(db, "UPDATE local_outbox_envelopes "
	    "SET result = 'maybe' WHERE env_first = 5", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrations_numbered),
		cmocka_unit_test(test_migrate_empty),
		cmocka_unit_test(test_migrate_twice_is_noop),
		cmocka_unit_test(test_keeps_data),
		cmocka_unit_test(test_refuses_newer),
		cmocka_unit_test(test_refuses_foreign_tables),
		cmocka_unit_test(test_refuses_foreign_ids),
		cmocka_unit_test(test_migration_is_atomic_when_full),
		cmocka_unit_test(test_policy_tables_exist),
		cmocka_unit_test(test_room_tables_keyed_by_room),
		cmocka_unit_test(test_other_tables_are_local),
		cmocka_unit_test(test_mutable_tables_have_hlc),
		cmocka_unit_test(test_outbox_shape),
		cmocka_unit_test(test_outbox_envelopes_migrated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
