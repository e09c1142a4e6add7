/*
 * test_roomhash.c - the room content hash (daemon/roomhash.h): equal rows
 * give equal hashes whatever order they were written in; any single change
 * of a value, a storage class (1 vs 1.0, NULL vs '' vs X'') or a row
 * changes it; rows of other rooms do not matter; room "" covers the
 * directory; and one fixed state hashes to a pinned value (room hash v1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "daemon/roomhash.h"
#include "schema/schema.h"
#include "testutil.h"

static sqlite3 *
open_db(void)
{
	sqlite3 *db = NULL;
	struct rk_why why = { "" };

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	if (schema_migrate(db, &why) != 0)
		fail_msg("schema_migrate: %s", why.text);
	return db;
}

static void
exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

static void
hash(sqlite3 *db, const char *room, char out[ROOMHASH_HEX_LEN + 1])
{
	int rc = roomhash_compute(db, room, out);

	if (rc != 0)
		fail_msg("roomhash_compute(%s): %d", room, rc);
	assert_int_equal(strlen(out), ROOMHASH_HEX_LEN);
}

/*
 * Column affinity turns 4.0 into 4 in an INTEGER column, so to show that
 * the hash itself tells storage classes apart, posts is remade untyped.
 */
static void
untype_posts(sqlite3 *db)
{
	exec(db, "DROP TABLE posts");
	exec(db, "CREATE TABLE posts (room_id, id, author, created_at, body,"
	    " deleted_at, hlc, PRIMARY KEY (room_id, id)) WITHOUT ROWID");
}

/* Room r1 with a post, a visit and a card; room r2 with a post. */
static const char *rows_a[] = {
	"INSERT INTO rooms VALUES ('r1', 'patient', 'Sato', 'active', NULL,"
	" 'dr', 1, 10)",
	"INSERT INTO memberships VALUES ('r1', 'dr', 'member', 'active', 'dr',"
	" 1, 10)",
	"INSERT INTO memberships VALUES ('r1', 'ns', 'member', 'active', 'dr',"
	" 1, 11)",
	"INSERT INTO posts VALUES ('r1', 'p2', 'ns', 5, 'second', NULL, 12)",
	"INSERT INTO posts VALUES ('r1', 'p1', 'dr', 4, 'first', NULL, 11)",
	"INSERT INTO visits (room_id, id, author, visited_at, bp_sys, temp,"
	" note, hlc) VALUES ('r1', 'v1', 'ns', 6, 128, 36.5, '', 13)",
	"INSERT INTO emergency_cards (room_id, allergies, updated_by,"
	" updated_at, hlc) VALUES ('r1', 'penicillin', 'dr', 7, 14)",
	"INSERT INTO rooms VALUES ('r2', 'patient', 'Ito', 'active', NULL,"
	" 'dr', 1, 10)",
	"INSERT INTO posts VALUES ('r2', 'q1', 'dr', 4, 'other', NULL, 11)",
	"INSERT INTO agencies VALUES ('ag1', 'Clinic', 'clinic', 1)",
	"INSERT INTO staff (id, agency_id, name, profession, hlc) VALUES"
	" ('dr', 'ag1', 'Dr', 'doctor', 1)",
	NULL,
};

static void
load(sqlite3 *db, int reverse)
{
	size_t n = 0, i;

	while (rows_a[n] != NULL)
		n++;
	for (i = 0; i < n; i++)
		exec(db, rows_a[reverse ? n - 1 - i : i]);
}

static void
test_equal_rows_equal_hash(void **state)
{
	sqlite3 *a = open_db(), *b = open_db();
	char ha[65], hb[65];

	(void)state;
	load(a, 0);
	load(b, 1);	/* other insertion order */
	hash(a, "r1", ha);
	hash(b, "r1", hb);
	assert_string_equal(ha, hb);
	hash(a, "r2", ha);
	hash(b, "r2", hb);
	assert_string_equal(ha, hb);
	hash(a, "", ha);
	hash(b, "", hb);
	assert_string_equal(ha, hb);
	/* Rows deleted and written again still hash the same. */
	exec(b, "DELETE FROM posts WHERE room_id = 'r1'");
	exec(b, "INSERT INTO posts VALUES ('r1', 'p1', 'dr', 4, 'first', NULL,"
	    " 11), ('r1', 'p2', 'ns', 5, 'second', NULL, 12)");
	hash(a, "r1", ha);
	hash(b, "r1", hb);
	assert_string_equal(ha, hb);
	sqlite3_close(a);
	sqlite3_close(b);
}

/* Each statement applied alone to a copy of rows_a changes r1's hash. */
static void
test_any_change_differs(void **state)
{
	static const char *changes[] = {
		"UPDATE posts SET body = 'firsT' WHERE id = 'p1'",
		"UPDATE posts SET hlc = 12 WHERE id = 'p1'",
		/* NULL vs '' vs X'' */
		"UPDATE visits SET note = NULL WHERE id = 'v1'",
		"UPDATE visits SET note = X'' WHERE id = 'v1'",
		"UPDATE visits SET pulse = '' WHERE id = 'v1'",
		/* text vs blob of the same bytes */
		"UPDATE posts SET body = CAST('first' AS BLOB) WHERE id = 'p1'",
		"UPDATE visits SET temp = 36.50000000000001 WHERE id = 'v1'",
		"UPDATE visits SET bp_sys = 129 WHERE id = 'v1'",
		"DELETE FROM memberships WHERE staff_id = 'ns'",
		"INSERT INTO read_receipts VALUES ('r1', 'p1', 'ns', 8, 15)",
		"UPDATE emergency_cards SET allergies = NULL",
		"UPDATE rooms SET status = 'archived' WHERE room_id = 'r1'",
		NULL,
	};
	static const char *typed[] = {
		"UPDATE posts SET created_at = 4.0 WHERE id = 'p1'",
		"UPDATE posts SET created_at = '4' WHERE id = 'p1'",
		"UPDATE posts SET deleted_at = '' WHERE id = 'p1'",
		"UPDATE posts SET deleted_at = X'' WHERE id = 'p1'",
		"UPDATE posts SET deleted_at = 0 WHERE id = 'p1'",
		NULL,
	};
	char base[65], h[65];
	size_t i;

	(void)state;
	{
		sqlite3 *db = open_db();

		load(db, 0);
		hash(db, "r1", base);
		sqlite3_close(db);
	}
	for (i = 0; changes[i] != NULL; i++) {
		sqlite3 *db = open_db();

		load(db, 0);
		exec(db, changes[i]);
		hash(db, "r1", h);
		if (strcmp(h, base) == 0)
			fail_msg("unchanged hash after: %s", changes[i]);
		sqlite3_close(db);
	}
	{
		sqlite3 *db = open_db();

		untype_posts(db);
		load(db, 0);
		hash(db, "r1", base);
		sqlite3_close(db);
	}
	for (i = 0; typed[i] != NULL; i++) {
		sqlite3 *db = open_db();

		untype_posts(db);
		load(db, 0);
		exec(db, typed[i]);
		hash(db, "r1", h);
		if (strcmp(h, base) == 0)
			fail_msg("unchanged hash after: %s", typed[i]);
		sqlite3_close(db);
	}
}

static void
test_other_rooms_do_not_matter(void **state)
{
	sqlite3 *db = open_db();
	char before[65], after[65], dir1[65], dir2[65];

	(void)state;
	load(db, 0);
	hash(db, "r1", before);
	hash(db, "", dir1);
	exec(db, "INSERT INTO posts VALUES ('r2', 'q2', 'dr', 9, 'x', NULL, 20)");
	exec(db, "UPDATE rooms SET title = 'changed' WHERE room_id = 'r2'");
	exec(db, "INSERT INTO posts VALUES ('r3', 'p1', 'dr', 4, 'first', NULL,"
	    " 11)");
	/* local tables are not content */
	exec(db, "INSERT INTO local_meta VALUES ('cursor', 5)");
	hash(db, "r1", after);
	assert_string_equal(before, after);
	/* room rows do not touch the directory hash, directory rows do */
	hash(db, "", dir2);
	assert_string_equal(dir1, dir2);
	exec(db, "UPDATE staff SET phone = '090' WHERE id = 'dr'");
	hash(db, "", dir2);
	assert_string_not_equal(dir1, dir2);
	hash(db, "r1", after);
	assert_string_equal(before, after);
	sqlite3_close(db);
}

/* An empty room, an unknown room: BLAKE2b-256 of nothing. */
static void
test_empty_room(void **state)
{
	sqlite3 *db = open_db();
	uint8_t raw[32];
	char want[65], h[65];

	(void)state;
	crypto_generichash(raw, sizeof(raw), NULL, 0, NULL, 0);
	sodium_bin2hex(want, sizeof(want), raw, sizeof(raw));
	hash(db, "nobody", h);
	assert_string_equal(h, want);
	hash(db, "", h);
	assert_string_equal(h, want);
	sqlite3_close(db);
}

/* One row's bytes written out by hand per the format in roomhash.c. */
static void
test_format_pinned(void **state)
{
	sqlite3 *db = open_db();
	crypto_generichash_state st;
	static const uint8_t bytes[] = {
		/* "posts" */
		5, 0, 0, 0, 'p', 'o', 's', 't', 's',
		/* room_id TEXT 'r' */
		3, 1, 0, 0, 0, 'r',
		/* id TEXT 'i' */
		3, 1, 0, 0, 0, 'i',
		/* author TEXT 'a' */
		3, 1, 0, 0, 0, 'a',
		/* created_at INTEGER -2 */
		1, 8, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		/* body BLOB x'0102' */
		4, 2, 0, 0, 0, 1, 2,
		/* deleted_at NULL */
		5,
		/* hlc REAL 1.5 (0x3ff8000000000000) */
		2, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f,
		/* a second row, key ('r', 'j'), sorts after 'i' */
		5, 0, 0, 0, 'p', 'o', 's', 't', 's',
		3, 1, 0, 0, 0, 'r',
		3, 1, 0, 0, 0, 'j',
		3, 0, 0, 0, 0,
		1, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0,
		3, 1, 0, 0, 0, 'b',
		5,
		1, 8, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,
	};
	uint8_t raw[32];
	char want[65], h[65];

	(void)state;
	exec(db, "INSERT INTO posts VALUES ('r', 'j', '', 257, 'b', NULL, 7)");
	exec(db, "INSERT INTO posts VALUES ('r', 'i', 'a', -2, X'0102', NULL,"
	    " 1.5)");
	crypto_generichash_init(&st, NULL, 0, sizeof(raw));
	crypto_generichash_update(&st, bytes, sizeof(bytes));
	crypto_generichash_final(&st, raw, sizeof(raw));
	sodium_bin2hex(want, sizeof(want), raw, sizeof(raw));
	hash(db, "r", h);
	assert_string_equal(h, want);
	sqlite3_close(db);
}

/* Inside the caller's transaction it reads what that transaction sees. */
static void
test_inside_transaction(void **state)
{
	sqlite3 *db = open_db();
	char h1[65], h2[65];

	(void)state;
	load(db, 0);
	hash(db, "r1", h1);
	exec(db, "BEGIN");
	exec(db, "DELETE FROM posts WHERE id = 'p1'");
	hash(db, "r1", h2);
	assert_string_not_equal(h1, h2);
	exec(db, "ROLLBACK");
	hash(db, "r1", h2);
	assert_string_equal(h1, h2);
	assert_int_equal(sqlite3_get_autocommit(db), 1);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal_rows_equal_hash),
		cmocka_unit_test(test_any_change_differs),
		cmocka_unit_test(test_other_rooms_do_not_matter),
		cmocka_unit_test(test_empty_room),
		cmocka_unit_test(test_format_pinned),
		cmocka_unit_test(test_inside_transaction),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
