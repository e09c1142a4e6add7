/*
 * test_csins.c - the changeset writer without a session (csenc.c) and the
 * INSERT-only applier with cached statements (csins.c), checked against
 * SQLite's own session and changeset_apply on the same rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/buf.h"
#include "common/err.h"
#include "daemon/csenc.h"
#include "daemon/csins.h"

#define SCHEMA \
	"CREATE TABLE posts (room_id TEXT NOT NULL, id TEXT NOT NULL, " \
	"body TEXT NOT NULL, n INTEGER, r REAL, b BLOB, " \
	"PRIMARY KEY (room_id, id)) WITHOUT ROWID;" \
	"CREATE TABLE notes (room_id TEXT PRIMARY KEY, t TEXT) WITHOUT ROWID;"

#define ROWS \
	"INSERT INTO posts VALUES ('r1', 'a', '本文', 1, 1.5, X'00ff');" \
	"INSERT INTO posts VALUES ('r1', 'b', '', NULL, -2.25e300, NULL);" \
	"INSERT INTO posts VALUES ('r2', 'c', 'x', 9223372036854775807, " \
	"NULL, X'');" \
	"INSERT INTO notes VALUES ('r1', NULL);"

static sqlite3 *
mem_db(void)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, SCHEMA, NULL, NULL, NULL), SQLITE_OK);
	return db;
}

/* Every row of both tables, in key order, as one text. */
static char *
dump(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	struct buf b = BUF_INIT;
	size_t len;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT quote(room_id) || "
	    "quote(id) || quote(body) || quote(n) || quote(r) || quote(b) "
	    "FROM posts UNION ALL SELECT quote(room_id) || quote(t) FROM "
	    "notes ORDER BY 1", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		assert_int_equal(buf_appendf(&b, "%s\n",
		    (const char *)sqlite3_column_text(st, 0)), 0);
	sqlite3_finalize(st);
	assert_int_equal(buf_append(&b, "", 1), 0);
	return (char *)buf_detach(&b, &len);
}

/* The rows as a session records them. */
static void
session_cs(void **cs, int *n)
{
	sqlite3 *db = mem_db();
	sqlite3_session *s = NULL;

	assert_int_equal(sqlite3session_create(db, "main", &s), SQLITE_OK);
	assert_int_equal(sqlite3session_attach(s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, ROWS, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3session_changeset(s, n, cs), SQLITE_OK);
	sqlite3session_delete(s);
	sqlite3_close(db);
}

/* The rows written by csenc from a SELECT, as the hub's snapshot does. */
static void
csenc_cs(struct buf *out)
{
	sqlite3 *db = mem_db();
	sqlite3_stmt *st = NULL;
	static const uint8_t pk_posts[6] = { 1, 2, 0, 0, 0, 0 };
	static const uint8_t pk_notes[2] = { 1, 0 };
	int err = 0, i;

	assert_int_equal(sqlite3_exec(db, ROWS, NULL, NULL, NULL), SQLITE_OK);
	csenc_table(out, "posts", 6, pk_posts, &err);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT * FROM posts", -1, &st,
	    NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		csenc_insert(out, &err);
		for (i = 0; i < 6; i++)
			csenc_value(out, sqlite3_column_value(st, i), &err);
	}
	sqlite3_finalize(st);
	csenc_table(out, "notes", 2, pk_notes, &err);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT * FROM notes", -1, &st,
	    NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		csenc_insert(out, &err);
		for (i = 0; i < 2; i++)
			csenc_value(out, sqlite3_column_value(st, i), &err);
	}
	sqlite3_finalize(st);
	assert_int_equal(err, 0);
	sqlite3_close(db);
}

static int
no_conflict(void *ctx, int kind, sqlite3_changeset_iter *it)
{
	(void)ctx;
	(void)kind;
	(void)it;
	fail_msg("a conflict where none was expected");
	return SQLITE_CHANGESET_ABORT;
}

/* csenc's bytes apply, through SQLite's own apply, to the same rows a
 * session's do; csins applies both to the same rows too. */
static void
test_encode_and_apply(void **state)
{
	struct buf mine = BUF_INIT;
	struct csins *c = NULL;
	sqlite3 *a = mem_db(), *b = mem_db(), *d = mem_db();
	char *want, *got;
	void *cs = NULL;
	int n = 0;

	(void)state;
	session_cs(&cs, &n);
	csenc_cs(&mine);
	assert_int_equal(sqlite3changeset_apply(a, n, cs, NULL, no_conflict,
	    NULL), SQLITE_OK);
	want = dump(a);
	assert_int_equal(sqlite3changeset_apply(b, (int)mine.len, mine.data,
	    NULL, no_conflict, NULL), SQLITE_OK);
	got = dump(b);
	assert_string_equal(want, got);
	free(got);
	assert_int_equal(csins_new(d, 0, &c), 0);
	assert_int_equal(csins_apply(c, cs, (size_t)n), 0);
	got = dump(d);
	assert_string_equal(want, got);
	free(got);
	/* Again: every key exists now. */
	assert_int_equal(csins_apply(c, mine.data, mine.len), RK_EEXIST);
	csins_free(c);
	/* Replacing: the same rows, no error. */
	assert_int_equal(csins_new(d, 1, &c), 0);
	assert_int_equal(csins_apply(c, mine.data, mine.len), 0);
	got = dump(d);
	assert_string_equal(want, got);
	free(got);
	csins_free(c);
	free(want);
	sqlite3_free(cs);
	buf_release(&mine);
	sqlite3_close(a);
	sqlite3_close(b);
	sqlite3_close(d);
}

/* What csins leaves to the general way: updates and deletes, rows for a
 * table that is not there or has other columns, broken bytes, NOT NULL. */
static void
test_refusals(void **state)
{
	sqlite3 *db = mem_db(), *src = mem_db();
	sqlite3_session *s = NULL;
	struct csins *c = NULL;
	struct buf b = BUF_INIT;
	static const uint8_t pk[3] = { 1, 0, 0 };
	void *cs = NULL;
	int n = 0, err = 0;
	sqlite3_stmt *st = NULL;

	(void)state;
	assert_int_equal(sqlite3_exec(src, ROWS, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3session_create(src, "main", &s), SQLITE_OK);
	assert_int_equal(sqlite3session_attach(s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(src, "UPDATE posts SET body = 'y' WHERE "
	    "id = 'c'", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3session_changeset(s, &n, &cs), SQLITE_OK);
	sqlite3session_delete(s);
	assert_int_equal(csins_new(db, 0, &c), 0);
	assert_int_equal(csins_apply(c, cs, (size_t)n), RK_EINVAL);
	sqlite3_free(cs);

	/* notes has two columns, not three. */
	csenc_table(&b, "notes", 3, pk, &err);
	csenc_insert(&b, &err);
	assert_int_equal(sqlite3_prepare_v2(src, "SELECT 'r9', 'x', 1", -1,
	    &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	csenc_value(&b, sqlite3_column_value(st, 0), &err);
	csenc_value(&b, sqlite3_column_value(st, 1), &err);
	csenc_value(&b, sqlite3_column_value(st, 2), &err);
	assert_int_equal(err, 0);
	assert_int_equal(csins_apply(c, b.data, b.len), RK_EINVAL);
	/* No such table. */
	b.len = 0;
	csenc_table(&b, "nope", 3, pk, &err);
	csenc_insert(&b, &err);
	csenc_value(&b, sqlite3_column_value(st, 0), &err);
	csenc_value(&b, sqlite3_column_value(st, 1), &err);
	csenc_value(&b, sqlite3_column_value(st, 2), &err);
	assert_int_equal(csins_apply(c, b.data, b.len), RK_EINVAL);
	/* Cut short. */
	assert_int_not_equal(csins_apply(c, b.data, b.len - 3), 0);
	sqlite3_finalize(st);
	/* body is NOT NULL. */
	b.len = 0;
	{
		static const uint8_t pk6[6] = { 1, 2, 0, 0, 0, 0 };
		int i;

		assert_int_equal(sqlite3_prepare_v2(src, "SELECT 'r9', 'z', "
		    "NULL, NULL, NULL, NULL", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		csenc_table(&b, "posts", 6, pk6, &err);
		csenc_insert(&b, &err);
		for (i = 0; i < 6; i++)
			csenc_value(&b, sqlite3_column_value(st, i), &err);
		sqlite3_finalize(st);
	}
	assert_int_equal(csins_apply(c, b.data, b.len), RK_EEXIST);
	csins_free(c);
	buf_release(&b);
	sqlite3_close(db);
	sqlite3_close(src);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_and_apply),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
