/*
 * test_records.c - the local API's operations (daemon/records.h) on a real
 * encrypted store: room creation and its rules (consent, members, the
 * doctor rule), posts, visits and their vital-sign checks, the timeline,
 * the emergency card (field-level patches and the printable sheet).  Every
 * refused write must leave the replica and its outbox as they were.
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

#include "common/api.h"
#include "common/buf.h"
#include "common/id.h"
#include "daemon/records.h"
#include "daemon/store.h"
#include "daemon/vfs.h"
#include "testutil.h"
#include "tu_sql.h"

#define VFS_NAME "rk-test-records"

/* 2025-06-01T03:00:00Z = 2025-06-01 12:00 in Japan. */
#define T0 INT64_C(1748746800000)
#define DAY_MS INT64_C(86400000)

static struct vfs_crypt *g_vfs;

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX + 32];
	struct tu_clock clk;
	struct store *s;
	struct rec_ctx c;
};

/* --- helpers ------------------------------------------------------------ */

static sqlite3 *
db_of(struct fx *f)
{
	return store_db(f->s);
}

static void
exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

/* The first column of the first row as text ("(null)" for NULL). */
static const char *
qtext(sqlite3 *db, const char *fmt, ...)
{
	static char buf[1024];
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

static int64_t
outbox_count(struct fx *f)
{
	return tu_qint(db_of(f), "SELECT count(*) FROM local_outbox");
}

/* JSON from text, for readable inputs; json_decref it. */
static json_t *
J(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);

	if (j == NULL)
		fail_msg("bad test JSON %s: %s", text, err.text);
	return j;
}

/* A refused call: the code, a reason naming what was wrong, and nothing
 * queued.  Consumes in. */
static void
expect_refused(struct fx *f, int rc, json_t *out, int want,
    const struct rk_why *why, const char *mention, int64_t outbox_before)
{
	if (rc != want)
		fail_msg("got %d (%s), want %d", rc, why->text, want);
	assert_null(out);
	if (mention != NULL && strstr(why->text, mention) == NULL)
		fail_msg("reason '%s' does not mention '%s'", why->text,
		    mention);
	assert_int_equal(outbox_count(f), outbox_before);
	assert_true(sqlite3_get_autocommit(db_of(f)));
}

static int
room_create(struct fx *f, const char *text, json_t **out, struct rk_why *why)
{
	json_t *in = J(text);
	int rc;

	*out = NULL;
	memset(why, 0, sizeof(*why));
	rc = rec_room_create(&f->c, in, out, why);
	json_decref(in);
	return rc;
}

/* Creates room with dr-1 as the other member; returns its outbox seq. */
static int64_t
make_room(struct fx *f, const char *room)
{
	struct rk_why why;
	json_t *out = NULL;
	char text[512];
	int64_t seq;

	snprintf(text, sizeof(text), "{\"room_id\": \"%s\", \"patient_name\": "
	    "\"山田 花子\", \"consent_date\": \"2025-05-01\", \"members\": "
	    "[\"dr-1\"]}", room);
	if (room_create(f, text, &out, &why) != 0)
		fail_msg("room create %s: %s", room, why.text);
	seq = json_integer_value(json_object_get(out, "seq"));
	json_decref(out);
	return seq;
}

static int
post_add(struct fx *f, const char *room, const char *text, json_t **out,
    struct rk_why *why)
{
	json_t *in = J(text);
	int rc;

	*out = NULL;
	memset(why, 0, sizeof(*why));
	rc = rec_post_add(&f->c, room, in, out, why);
	json_decref(in);
	return rc;
}

static int
visit_add(struct fx *f, const char *room, const char *text, json_t **out,
    struct rk_why *why)
{
	json_t *in = J(text);
	int rc;

	*out = NULL;
	memset(why, 0, sizeof(*why));
	rc = rec_visit_add(&f->c, room, in, out, why);
	json_decref(in);
	return rc;
}

static int
card_patch(struct fx *f, const char *room, const char *text, json_t **out,
    struct rk_why *why)
{
	json_t *in = J(text);
	int rc;

	*out = NULL;
	memset(why, 0, sizeof(*why));
	rc = rec_card_patch(&f->c, room, in, out, why);
	json_decref(in);
	return rc;
}

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Column names of a table, by index. */
static int
column_names(sqlite3 *db, const char *table, char names[][32], int max)
{
	sqlite3_stmt *st = NULL;
	char *sql = sqlite3_mprintf("PRAGMA table_info(%Q)", table);
	int n = 0;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_free(sql);
	while (sqlite3_step(st) == SQLITE_ROW && n < max) {
		snprintf(names[n], 32, "%s", sqlite3_column_text(st, 1));
		n++;
	}
	sqlite3_finalize(st);
	return n;
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
	tu_tmpdir(f->dir, sizeof(f->dir), "records");
	snprintf(f->path, sizeof(f->path), "%s/replica.db", f->dir);
	tu_clock_init(&f->clk, T0, tu_seed());
	memset(&o, 0, sizeof(o));
	o.path = f->path;
	o.vfs = VFS_NAME;
	o.origin = "dev-1";
	o.is_hub = 0;
	o.clock = &f->clk.clock;
	if (store_open(&o, &f->s, &why) != 0) {
		fprintf(stderr, "store_open: %s\n", why.text);
		return -1;
	}
	f->c.store = f->s;
	f->c.staff = "nurse-1";
	f->c.role = "device";
	f->c.device_id = "dev-1";
	f->c.hub_url = NULL;
	/* The directory as the hub would have sent it (written here
	 * outside any captured transaction). */
	exec(db_of(f), "INSERT INTO staff (id, agency_id, name, profession, "
	    "hlc) VALUES ('nurse-1', 'ag-n', '看護 一子', 'nurse', 1), "
	    "('nurse-2', 'ag-n', '看護 二郎', 'nurse', 1), "
	    "('cm-1', 'ag-c', 'ケアマネ 三子', 'care-manager', 1), "
	    "('dr-1', 'ag-d', '医師 太郎', 'doctor', 1), "
	    "('dds-1', 'ag-s', '歯科 花子', 'dentist', 1)");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	if (tu_rm_rf(f->dir) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

/* --- dates -------------------------------------------------------------- */

static void
test_valid_date(void **state)
{
	static const char *const good[] = {
		"2025-06-01", "2024-02-29", "2000-02-29", "1900-01-01",
		"2025-12-31", "2025-01-31", "2025-04-30",
	};
	static const char *const bad[] = {
		"2025-02-30", "2023-02-29", "1900-02-29", "2100-02-29",
		"2025-04-31", "2025-13-01", "2025-00-10", "2025-01-00",
		"2025-01-32", "1899-12-31", "2025-6-1", "2025/06/01",
		"20250601", "2025-06-01T00:00", "2025-06-1 ", " 2025-06-01",
		"+025-06-01", "2025-0a-01", "", "yesterday", "2025-06-０1",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!rec_valid_date(good[i]))
			fail_msg("%s refused", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rec_valid_date(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
}

/* --- rooms -------------------------------------------------------------- */

static void
test_room_create(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	struct rk_why why;
	json_t *out = NULL, *list = NULL, *rooms, *st = NULL;
	sqlite3_changeset_iter *it = NULL;
	sqlite3_stmt *q = NULL;
	int64_t seq, hlc;
	int rc, nrows = 0;

	rc = room_create(f, "{\"room_id\": \"room-a\", \"patient_name\": "
	    "\"山田 花子\", \"consent_date\": \"2025-05-01\", \"birth_date\": "
	    "\"1938-04-02\", \"scope\": \"all\", \"paper_location\": \"cabinet"
	    "\", \"members\": [\"dr-1\", \"cm-1\"]}", &out, &why);
	if (rc != 0)
		fail_msg("%d %s", rc, why.text);
	assert_string_equal(jstr(out, "room_id"), "room-a");
	seq = json_integer_value(json_object_get(out, "seq"));
	assert_int_equal(seq, 1);
	json_decref(out);

	hlc = tu_qint(db, "SELECT hlc FROM local_outbox WHERE seq = 1");
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM rooms WHERE room_id = "
	    "'room-a' AND kind = 'patient' AND status = 'active' AND title = "
	    "'山田 花子' AND created_by = 'nurse-1' AND created_at = %lld AND "
	    "hlc = %lld", (long long)T0, (long long)hlc), 1);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM patients WHERE "
	    "room_id = 'room-a' AND name = '山田 花子' AND birth_date = "
	    "'1938-04-02' AND hlc = %lld", (long long)hlc), 1);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM consents WHERE "
	    "room_id = 'room-a' AND consent_date = '2025-05-01' AND "
	    "consenter = 'patient' AND scope = 'all' AND paper_location = "
	    "'cabinet' AND recorded_by = 'nurse-1' AND recorded_at = %lld AND "
	    "length(id) = %d", (long long)T0, ID_LEN), 1);
	/* The creator is a member (the owner) without being listed. */
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM memberships WHERE "
	    "room_id = 'room-a'"), 3);
	assert_string_equal(qtext(db, "SELECT role FROM memberships WHERE "
	    "staff_id = 'nurse-1'"), "owner");
	assert_string_equal(qtext(db, "SELECT role FROM memberships WHERE "
	    "staff_id = 'dr-1'"), "member");
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM memberships WHERE "
	    "status = 'active' AND added_by = 'nurse-1' AND hlc = %lld",
	    (long long)hlc), 3);

	/* One outbox entry for the room, holding exactly those rows. */
	assert_int_equal(outbox_count(f), 1);
	assert_string_equal(qtext(db, "SELECT room_id FROM local_outbox"),
	    "room-a");
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT changeset FROM "
	    "local_outbox WHERE seq = 1", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3changeset_start(&it, sqlite3_column_bytes(q, 0),
	    (void *)sqlite3_column_blob(q, 0)), SQLITE_OK);
	while (sqlite3changeset_next(it) == SQLITE_ROW) {
		const char *table;
		int ncol, op, ind;
		sqlite3_value *v = NULL;

		sqlite3changeset_op(it, &table, &ncol, &op, &ind);
		assert_int_equal(op, SQLITE_INSERT);
		sqlite3changeset_new(it, 0, &v);
		assert_non_null(v);
		assert_string_equal((const char *)sqlite3_value_text(v),
		    "room-a");
		nrows++;
	}
	assert_int_equal(sqlite3changeset_finalize(it), SQLITE_OK);
	sqlite3_finalize(q);
	assert_int_equal(nrows, 1 + 1 + 1 + 3);	/* room, patient, consent */

	/* Listed for its members. */
	assert_int_equal(rec_rooms_list(&f->c, &list, &why), 0);
	rooms = json_object_get(list, "rooms");
	assert_int_equal(json_array_size(rooms), 1);
	assert_string_equal(jstr(json_array_get(rooms, 0), "room_id"),
	    "room-a");
	assert_string_equal(jstr(json_array_get(rooms, 0), "patient_name"),
	    "山田 花子");
	assert_int_equal(json_array_size(json_object_get(json_array_get(rooms,
	    0), "members")), 3);
	json_decref(list);
	assert_int_equal(rec_status(&f->c, &st, &why), 0);
	assert_int_equal(json_integer_value(json_object_get(st, "pending")), 1);
	assert_int_equal(json_integer_value(json_object_get(st, "rooms")), 1);
	assert_string_equal(jstr(st, "staff"), "nurse-1");
	json_decref(st);
}

static void
test_room_members_deduplicated(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *out = NULL;

	assert_int_equal(room_create(f, "{\"room_id\": \"room-a\", "
	    "\"patient_name\": \"P\", \"consent_date\": \"2025-05-01\", "
	    "\"members\": [\"dr-1\", \"nurse-1\", \"dr-1\"]}", &out, &why), 0);
	json_decref(out);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM memberships"), 2);
}

static void
test_room_create_duplicate(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *out = NULL;
	int rc;

	make_room(f, "room-a");
	rc = room_create(f, "{\"room_id\": \"room-a\", \"patient_name\": "
	    "\"別人\", \"consent_date\": \"2025-05-01\", \"members\": "
	    "[\"dds-1\"]}", &out, &why);
	expect_refused(f, rc, out, RK_EEXIST, &why, "room-a", 1);
	assert_string_equal(qtext(db_of(f), "SELECT name FROM patients"),
	    "山田 花子");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM memberships"), 2);
}

static void
test_room_create_refusals(void **state)
{
	static const struct {
		const char *json;
		const char *mention;
	} cases[] = {
		{ "[1, 2]", "body" },
		{ "{\"patient_name\": \"P\", \"consent_date\": \"2025-05-01\", "
		  "\"members\": [\"dr-1\"]}", "room_id" },
		{ "{\"room_id\": \"\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"members\": [\"dr-1\"]}",
		  "room_id" },
		{ "{\"room_id\": 5, \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"members\": [\"dr-1\"]}",
		  "room_id" },
		{ "{\"room_id\": \"../etc\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"members\": [\"dr-1\"]}",
		  "room_id" },
		{ "{\"room_id\": \"a b\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"members\": [\"dr-1\"]}",
		  "room_id" },
		{ "{\"room_id\": \".hidden\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"members\": [\"dr-1\"]}",
		  "room_id" },
		{ "{\"room_id\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaa\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"members\": [\"dr-1\"]}",
		  "room_id" },
		{ "{\"room_id\": \"r\", \"consent_date\": \"2025-05-01\", "
		  "\"members\": [\"dr-1\"]}", "patient_name" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"members\": [\"dr-1\"]}", "consent_date" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-06-02\", \"members\": [\"dr-1\"]}",
		  "consent_date" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2030-01-01\", \"members\": [\"dr-1\"]}",
		  "consent_date" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-02-30\", \"members\": [\"dr-1\"]}",
		  "consent_date" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-5-1\", \"members\": [\"dr-1\"]}",
		  "consent_date" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": 20250501, \"members\": [\"dr-1\"]}",
		  "consent_date" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"birth_date\": "
		  "\"2026-01-01\", \"members\": [\"dr-1\"]}", "birth_date" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"birth_date\": "
		  "\"1950-02-29\", \"members\": [\"dr-1\"]}", "birth_date" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"kind\": \"disaster\", "
		  "\"members\": [\"dr-1\"]}", "kind" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"consenter\": "
		  "\"neighbour\", \"members\": [\"dr-1\"]}", "consenter" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", "
		  "\"consenter\": \"family\", "
		  "\"members\": [\"dr-1\"]}", "consenter_name" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", "
		  "\"consenter\": \"family\", "
		  "\"relation\": \"長女\", \"members\": [\"dr-1\"]}",
		  "consenter_name" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", "
		  "\"consenter\": \"family\", "
		  "\"consenter_name\": \"山田 一郎\", \"members\": [\"dr-1\"]}",
		  "relation" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\"}", "members" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"members\": []}",
		  "members" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"members\": \"dr-1\"}",
		  "members" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", "
		  "\"members\": [\"dr-1\", 5]}",
		  "members[1]" },
		{ "{\"room_id\": \"r\", \"patient_name\": \"P\", "
		  "\"consent_date\": \"2025-05-01\", \"members\": [\"a b\"]}",
		  "members[0]" },
	};
	struct fx *f = *state;
	struct rk_why why;
	json_t *out = NULL, *in;
	char *big;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = room_create(f, cases[i].json, &out, &why);
		if (rc != RK_EINVAL)
			fail_msg("case %zu (%s): %d %s", i, cases[i].json, rc,
			    why.text);
		expect_refused(f, rc, out, RK_EINVAL, &why, cases[i].mention,
		    0);
	}

	/* Too long, and with a NUL inside. */
	big = malloc(API_MAX_TEXT + 2);
	assert_non_null(big);
	memset(big, 'x', API_MAX_TEXT + 1);
	big[API_MAX_TEXT + 1] = '\0';
	in = json_pack("{s:s, s:s, s:s, s:[s]}", "room_id", "r",
	    "patient_name", big, "consent_date", "2025-05-01", "members",
	    "dr-1");
	free(big);
	out = NULL;
	rc = rec_room_create(&f->c, in, &out, &why);
	json_decref(in);
	expect_refused(f, rc, out, RK_EINVAL, &why, "patient_name", 0);
	in = json_pack("{s:s, s:s%, s:s, s:[s]}", "room_id", "r",
	    "patient_name", "ab\0cd", (size_t)5, "consent_date", "2025-05-01",
	    "members", "dr-1");
	assert_non_null(in);
	rc = rec_room_create(&f->c, in, &out, &why);
	json_decref(in);
	expect_refused(f, rc, out, RK_EINVAL, &why, "patient_name", 0);

	assert_int_equal(tu_qint(db_of(f), "SELECT (SELECT count(*) FROM rooms) + "
	    "(SELECT count(*) FROM patients) + (SELECT count(*) FROM consents) "
	    "+ (SELECT count(*) FROM memberships)"), 0);
}

static void
test_consent_date_is_japan_today(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *out = NULL;
	int rc;

	/* 2025-05-31T16:00Z is already 2025-06-01 01:00 in Japan. */
	tu_clock_set(&f->clk, T0 - 11 * 3600 * 1000);
	rc = room_create(f, "{\"room_id\": \"r1\", \"patient_name\": \"P\", "
	    "\"consent_date\": \"2025-06-01\", \"members\": [\"dr-1\"]}", &out,
	    &why);
	if (rc != 0)
		fail_msg("today in Japan refused: %s", why.text);
	json_decref(out);
	rc = room_create(f, "{\"room_id\": \"r2\", \"patient_name\": \"P\", "
	    "\"consent_date\": \"2025-06-02\", \"members\": [\"dr-1\"]}", &out,
	    &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, "consent_date", 1);
	/* 2025-05-31T14:59Z is still 2025-05-31 in Japan. */
	tu_clock_set(&f->clk, T0 - 12 * 3600 * 1000 - 60 * 1000);
	rc = room_create(f, "{\"room_id\": \"r3\", \"patient_name\": \"P\", "
	    "\"consent_date\": \"2025-06-01\", \"members\": [\"dr-1\"]}", &out,
	    &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, "future", 1);
}

static void
test_family_consent(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *out = NULL;
	int rc;

	rc = room_create(f, "{\"room_id\": \"r1\", \"patient_name\": \"P\", "
	    "\"consent_date\": \"2025-05-01\", \"consenter\": \"family\", "
	    "\"consenter_name\": \"山田 一郎\", \"relation\": \"長男\", "
	    "\"members\": [\"dr-1\"]}", &out, &why);
	if (rc != 0)
		fail_msg("%s", why.text);
	json_decref(out);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM consents WHERE "
	    "consenter = 'family' AND consenter_name = '山田 一郎' AND "
	    "relation = '長男'"), 1);
}

static void
test_doctor_rule(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *out = NULL;
	int rc;

	/* Every member known, none a doctor or dentist. */
	rc = room_create(f, "{\"room_id\": \"r1\", \"patient_name\": \"P\", "
	    "\"consent_date\": \"2025-05-01\", \"members\": [\"nurse-2\"]}",
	    &out, &why);
	expect_refused(f, rc, out, RK_EDENIED, &why, "members", 0);
	rc = room_create(f, "{\"room_id\": \"r1\", \"patient_name\": \"P\", "
	    "\"consent_date\": \"2025-05-01\", \"members\": [\"nurse-2\", "
	    "\"cm-1\"]}", &out, &why);
	expect_refused(f, rc, out, RK_EDENIED, &why, "doctor", 0);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM rooms"), 0);

	/* A doctor, or a dentist, is enough. */
	assert_int_equal(room_create(f, "{\"room_id\": \"r1\", "
	    "\"patient_name\": \"P\", \"consent_date\": \"2025-05-01\", "
	    "\"members\": "
	    "[\"nurse-2\", \"dr-1\"]}", &out, &why), 0);
	json_decref(out);
	assert_int_equal(room_create(f, "{\"room_id\": \"r2\", "
	    "\"patient_name\": \"P\", \"consent_date\": \"2025-05-01\", "
	    "\"members\": "
	    "[\"dds-1\"]}", &out, &why), 0);
	json_decref(out);
	/* A member this device does not know: the hub decides. */
	assert_int_equal(room_create(f, "{\"room_id\": \"r3\", "
	    "\"patient_name\": \"P\", \"consent_date\": \"2025-05-01\", "
	    "\"members\": "
	    "[\"nurse-2\", \"dr-elsewhere\"]}", &out, &why), 0);
	json_decref(out);
	/* The creator counts: a doctor may open a room with a nurse. */
	f->c.staff = "dr-1";
	assert_int_equal(room_create(f, "{\"room_id\": \"r4\", "
	    "\"patient_name\": \"P\", \"consent_date\": \"2025-05-01\", "
	    "\"members\": "
	    "[\"nurse-2\"]}", &out, &why), 0);
	json_decref(out);
	assert_int_equal(outbox_count(f), 4);
}

static void
test_room_create_disk_full(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *in, *out = NULL;
	char *big, sql[64];
	int rc;

	/* No page may be added: a 60 kB patient name needs overflow pages. */
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
	    (long long)tu_qint(db_of(f), "PRAGMA page_count"));
	exec(db_of(f), sql);
	big = malloc(60001);
	assert_non_null(big);
	memset(big, 'n', 60000);
	big[60000] = '\0';
	in = json_pack("{s:s, s:s, s:s, s:[s]}", "room_id", "r1",
	    "patient_name", big, "consent_date", "2025-05-01", "members",
	    "dr-1");
	free(big);
	memset(&why, 0, sizeof(why));
	rc = rec_room_create(&f->c, in, &out, &why);
	expect_refused(f, rc, out, RK_EFULL, &why, NULL, 0);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM rooms"), 0);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM patients"), 0);

	/* With room again it succeeds, and the store is sound. */
	exec(db_of(f), "PRAGMA max_page_count = 1000000");
	rc = rec_room_create(&f->c, in, &out, &why);
	if (rc != 0)
		fail_msg("%d %s", rc, why.text);
	json_decref(out);
	json_decref(in);
	assert_int_equal(outbox_count(f), 1);
	assert_string_equal(qtext(db_of(f), "PRAGMA integrity_check"), "ok");
}

/* --- posts -------------------------------------------------------------- */

static void
test_post_add(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	struct rk_why why;
	json_t *out = NULL;
	const char *id;
	int64_t seq;

	make_room(f, "room-a");
	tu_clock_advance(&f->clk, 1000);
	if (post_add(f, "room-a", "{\"body\": \"本日訪問、変わりなし。\"}",
	    &out, &why) != 0)
		fail_msg("%s", why.text);
	id = jstr(out, "id");
	assert_non_null(id);
	assert_int_equal(strlen(id), ID_LEN);
	seq = json_integer_value(json_object_get(out, "seq"));
	assert_int_equal(seq, 2);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM posts p JOIN "
	    "local_outbox o ON o.seq = %lld AND o.room_id = p.room_id AND "
	    "o.hlc = p.hlc WHERE p.room_id = 'room-a' AND p.id = %Q AND "
	    "p.author = 'nurse-1' AND p.created_at = %lld AND p.body = "
	    "'本日訪問、変わりなし。' AND p.deleted_at IS NULL", (long long)seq,
	    id, (long long)(T0 + 1000)), 1);
	json_decref(out);
}

static void
test_post_refusals(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *out = NULL;
	int rc;

	make_room(f, "room-a");
	make_room(f, "room-b");

	rc = post_add(f, "room-a", "{\"body\": \"\"}", &out, &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, "body", 2);
	rc = post_add(f, "room-a", "{}", &out, &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, "body", 2);
	rc = post_add(f, "room-a", "{\"body\": 42}", &out, &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, "body", 2);
	rc = post_add(f, "room-a", "\"just text\"", &out, &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, "body", 2);
	rc = post_add(f, "no-such-room", "{\"body\": \"x\"}", &out, &why);
	expect_refused(f, rc, out, RK_ENOTFOUND, &why, "no room", 2);
	rc = post_add(f, "../room-a", "{\"body\": \"x\"}", &out, &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, "room", 2);

	/* Not a member. */
	f->c.staff = "nurse-2";
	rc = post_add(f, "room-a", "{\"body\": \"x\"}", &out, &why);
	expect_refused(f, rc, out, RK_EDENIED, &why, "nurse-2", 2);
	f->c.staff = "nurse-1";

	/* A member who left. */
	exec(db_of(f), "UPDATE memberships SET status = 'left' WHERE room_id ="
	    " 'room-b' AND staff_id = 'nurse-1'");
	rc = post_add(f, "room-b", "{\"body\": \"x\"}", &out, &why);
	expect_refused(f, rc, out, RK_EDENIED, &why, "member", 2);

	/* An archived room is read-only. */
	exec(db_of(f), "UPDATE rooms SET status = 'archived' WHERE room_id = "
	    "'room-a'");
	rc = post_add(f, "room-a", "{\"body\": \"x\"}", &out, &why);
	expect_refused(f, rc, out, RK_EDENIED, &why, "archived", 2);

	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts"), 0);
}

/* --- visits ------------------------------------------------------------- */

static void
test_visit_refusals(void **state)
{
	static const struct {
		const char *json;
		const char *mention;
	} cases[] = {
		{ "{\"temp\": 420}", "temp" },
		{ "{\"temp\": 29.9}", "temp" },
		{ "{\"temp\": \"36.5\"}", "temp" },
		{ "{\"bp_sys\": 80, \"bp_dia\": 90}", "bp_dia" },
		{ "{\"bp_sys\": 120, \"bp_dia\": 120}", "bp_dia" },
		{ "{\"bp_sys\": 128}", "bp" },
		{ "{\"bp_dia\": 76}", "bp" },
		{ "{\"bp_sys\": 128, \"bp_dia\": null}", "bp" },
		{ "{\"bp_sys\": 400, \"bp_dia\": 76}", "bp_sys" },
		{ "{\"pulse\": 72.5}", "pulse" },
		{ "{\"pulse\": \"72\"}", "pulse" },
		{ "{\"pulse\": true}", "pulse" },
		{ "{\"pulse\": [72]}", "pulse" },
		{ "{\"spo2\": 101}", "spo2" },
		{ "{\"resp\": 0}", "resp" },
		{ "{\"weight\": 0.5}", "weight" },
		{ "{}", "visit" },
		{ "{\"note\": \"\"}", "visit" },
		{ "{\"note\": null, \"temp\": null}", "visit" },
		{ "{\"note\": 5}", "note" },
		{ "[36.5]", "body" },
		/* visited_at: after the transaction has begun. */
		{ "{\"pulse\": 72, \"visited_at\": 1748747400001}",
		  "visited_at" },
		{ "{\"pulse\": 72, \"visited_at\": \"yesterday\"}",
		  "visited_at" },
		{ "{\"pulse\": 72, \"visited_at\": -1}", "visited_at" },
		{ "{\"pulse\": 72, \"visited_at\": 1748746800000.5}",
		  "visited_at" },
	};
	struct fx *f = *state;
	struct rk_why why;
	json_t *out = NULL;
	size_t i;
	int rc;

	make_room(f, "room-a");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = visit_add(f, "room-a", cases[i].json, &out, &why);
		if (rc != RK_EINVAL)
			fail_msg("case %zu (%s): %d %s", i, cases[i].json, rc,
			    why.text);
		expect_refused(f, rc, out, RK_EINVAL, &why, cases[i].mention,
		    1);
	}
	rc = visit_add(f, "nowhere", "{\"pulse\": 72}", &out, &why);
	expect_refused(f, rc, out, RK_ENOTFOUND, &why, "no room", 1);
	f->c.staff = "cm-1";
	rc = visit_add(f, "room-a", "{\"pulse\": 72}", &out, &why);
	expect_refused(f, rc, out, RK_EDENIED, &why, NULL, 1);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM visits"), 0);
}

static void
test_visit_stored(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	struct rk_why why;
	json_t *out = NULL;
	char id[ID_LEN + 1];

	make_room(f, "room-a");
	if (visit_add(f, "room-a", "{\"bp_sys\": 128, \"bp_dia\": 76, "
	    "\"pulse\": 72, \"temp\": 36.6, \"spo2\": 97, \"note\": "
	    "\"食欲あり\"}", &out, &why) != 0)
		fail_msg("%s", why.text);
	snprintf(id, sizeof(id), "%s", jstr(out, "id"));
	assert_int_equal(json_integer_value(json_object_get(out, "seq")), 2);
	json_decref(out);
	assert_string_equal(qtext(db, "SELECT typeof(bp_sys) || typeof(bp_dia)"
	    " || typeof(pulse) || typeof(temp) || typeof(spo2) || typeof(resp) "
	    "|| typeof(weight) FROM visits WHERE id = %Q", id),
	    "integerintegerintegerrealintegernullnull");
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM visits WHERE id = %Q "
	    "AND room_id = 'room-a' AND author = 'nurse-1' AND visited_at = "
	    "%lld AND bp_sys = 128 AND bp_dia = 76 AND pulse = 72 AND temp = "
	    "36.6 AND spo2 = 97 AND note = '食欲あり'", id, (long long)T0), 1);

	/* Whole numbers given as reals are stored as integers; a whole
	 * temperature as a real. */
	if (visit_add(f, "room-a", "{\"pulse\": 80.0, \"temp\": 37, "
	    "\"weight\": 52, \"resp\": 18}", &out, &why) != 0)
		fail_msg("%s", why.text);
	snprintf(id, sizeof(id), "%s", jstr(out, "id"));
	json_decref(out);
	assert_string_equal(qtext(db, "SELECT typeof(pulse) || typeof(temp) || "
	    "typeof(weight) || typeof(resp) || typeof(note) FROM visits WHERE "
	    "id = %Q", id), "integerrealrealintegernull");

	/* A note alone, at a time given in the past. */
	if (visit_add(f, "room-a", "{\"note\": \"不在\", \"visited_at\": "
	    "1748700000000}", &out, &why) != 0)
		fail_msg("%s", why.text);
	snprintf(id, sizeof(id), "%s", jstr(out, "id"));
	json_decref(out);
	assert_int_equal(tu_qint(db, "SELECT visited_at FROM visits WHERE id = %Q",
	    id), INT64_C(1748700000000));
	assert_int_equal(outbox_count(f), 4);
}

/* --- the timeline ------------------------------------------------------- */

static void
test_timeline(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *out = NULL, *tl = NULL, *items, *it;
	const char *want[] = { "visit:early", "post:first", "visit:",
	    "post:third" };
	size_t i;

	make_room(f, "room-a");
	make_room(f, "room-b");
	tu_clock_advance(&f->clk, 60 * 1000);
	assert_int_equal(post_add(f, "room-a", "{\"body\": \"first\"}", &out,
	    &why), 0);
	json_decref(out);
	tu_clock_advance(&f->clk, 60 * 1000);
	assert_int_equal(visit_add(f, "room-a", "{\"bp_sys\": 130, \"bp_dia\":"
	    " 80, \"temp\": 36.9}", &out, &why), 0);
	json_decref(out);
	tu_clock_advance(&f->clk, 60 * 1000);
	assert_int_equal(post_add(f, "room-a", "{\"body\": \"third\"}", &out,
	    &why), 0);
	json_decref(out);
	/* Recorded last, but visited before everything else. */
	tu_clock_advance(&f->clk, 60 * 1000);
	assert_int_equal(visit_add(f, "room-a", "{\"note\": \"early\", "
	    "\"visited_at\": 1748746000000}", &out, &why), 0);
	json_decref(out);
	/* Another room's post does not appear. */
	assert_int_equal(post_add(f, "room-b", "{\"body\": \"elsewhere\"}",
	    &out, &why), 0);
	json_decref(out);

	assert_int_equal(rec_timeline(&f->c, "room-a", 0, &tl, &why), 0);
	assert_string_equal(jstr(tl, "room_id"), "room-a");
	items = json_object_get(tl, "items");
	assert_int_equal(json_array_size(items), 4);
	json_array_foreach(items, i, it) {
		const char *type = jstr(it, "type");
		const char *text = !strcmp(type, "post") ? jstr(it, "body") :
		    jstr(it, "note");
		char got[64];

		snprintf(got, sizeof(got), "%s:%s", type, text ? text : "");
		assert_string_equal(got, want[i]);
		assert_string_equal(jstr(it, "author"), "nurse-1");
		assert_string_equal(jstr(it, "author_name"), "看護 一子");
		if (i > 0)
			assert_true(json_integer_value(json_object_get(it,
			    "at")) >= json_integer_value(json_object_get(
			    json_array_get(items, i - 1), "at")));
	}
	it = json_array_get(items, 2);
	assert_int_equal(json_integer_value(json_object_get(it, "bp_sys")),
	    130);
	assert_true(json_real_value(json_object_get(it, "temp")) == 36.9);
	assert_true(json_is_null(json_object_get(it, "pulse")));
	json_decref(tl);

	/* limit keeps the newest, still oldest first. */
	assert_int_equal(rec_timeline(&f->c, "room-a", 2, &tl, &why), 0);
	items = json_object_get(tl, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(jstr(json_array_get(items, 0), "type"), "visit");
	assert_non_null(json_object_get(json_array_get(items, 0), "bp_sys"));
	assert_string_equal(jstr(json_array_get(items, 1), "body"), "third");
	json_decref(tl);

	/* An archived room is still readable; a non-member may not read. */
	exec(db_of(f), "UPDATE rooms SET status = 'archived' WHERE room_id = "
	    "'room-a'");
	assert_int_equal(rec_timeline(&f->c, "room-a", 0, &tl, &why), 0);
	json_decref(tl);
	f->c.staff = "nurse-2";
	tl = NULL;
	assert_int_equal(rec_timeline(&f->c, "room-a", 0, &tl, &why),
	    RK_EDENIED);
	assert_null(tl);
	assert_int_equal(rec_timeline(&f->c, "zzz", 0, &tl, &why),
	    RK_ENOTFOUND);
}

/* --- the emergency card ------------------------------------------------- */

static void
test_card_patch_only_given_fields(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	struct rk_why why;
	json_t *out = NULL;
	sqlite3_stmt *q = NULL;
	sqlite3_changeset_iter *it = NULL;
	char names[32][32];
	int ncols, i, nrows = 0;

	make_room(f, "room-a");

	/* An empty card before anything is set. */
	assert_int_equal(rec_card_get(&f->c, "room-a", &out, &why), 0);
	assert_string_equal(jstr(out, "patient_name"), "山田 花子");
	assert_true(json_is_null(json_object_get(out, "allergies")));
	json_decref(out);

	tu_clock_advance(&f->clk, 1000);
	if (card_patch(f, "room-a", "{\"allergies\": \"ペニシリン\"}", &out,
	    &why) != 0)
		fail_msg("%s", why.text);
	assert_string_equal(jstr(out, "allergies"), "ペニシリン");
	assert_true(json_is_null(json_object_get(out, "hospital")));
	assert_string_equal(jstr(out, "updated_by"), "nurse-1");
	json_decref(out);

	tu_clock_advance(&f->clk, 1000);
	if (card_patch(f, "room-a", "{\"hospital\": \"市立病院\"}", &out,
	    &why) != 0)
		fail_msg("%s", why.text);
	assert_string_equal(jstr(out, "allergies"), "ペニシリン");
	assert_string_equal(jstr(out, "hospital"), "市立病院");
	assert_int_equal(json_integer_value(json_object_get(out,
	    "updated_at")), T0 + 2000);
	json_decref(out);
	assert_int_equal(outbox_count(f), 3);

	/* The second change is an UPDATE carrying hospital and the
	 * bookkeeping columns only: not allergies, which another member may
	 * be editing elsewhere. */
	ncols = column_names(db, "emergency_cards", names, 32);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT changeset FROM "
	    "local_outbox WHERE seq = 3", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3changeset_start(&it, sqlite3_column_bytes(q, 0),
	    (void *)sqlite3_column_blob(q, 0)), SQLITE_OK);
	while (sqlite3changeset_next(it) == SQLITE_ROW) {
		const char *table;
		int ncol, op, ind, hospital = 0, hlc = 0;

		sqlite3changeset_op(it, &table, &ncol, &op, &ind);
		assert_string_equal(table, "emergency_cards");
		assert_int_equal(op, SQLITE_UPDATE);
		assert_int_equal(ncol, ncols);
		for (i = 0; i < ncol; i++) {
			sqlite3_value *v = NULL;

			sqlite3changeset_new(it, i, &v);
			if (v == NULL)
				continue;
			if (!strcmp(names[i], "hospital")) {
				hospital = 1;
				assert_string_equal((const char *)
				    sqlite3_value_text(v), "市立病院");
			} else if (!strcmp(names[i], "hlc")) {
				hlc = 1;
			} else if (strcmp(names[i], "updated_at") &&
			    strcmp(names[i], "updated_by")) {
				fail_msg("the hospital patch carried %s",
				    names[i]);
			}
		}
		assert_true(hospital && hlc);
		nrows++;
	}
	assert_int_equal(sqlite3changeset_finalize(it), SQLITE_OK);
	sqlite3_finalize(q);
	assert_int_equal(nrows, 1);

	/* null clears one field. */
	assert_int_equal(card_patch(f, "room-a", "{\"allergies\": null}", &out,
	    &why), 0);
	assert_true(json_is_null(json_object_get(out, "allergies")));
	assert_string_equal(jstr(out, "hospital"), "市立病院");
	json_decref(out);
}

static void
test_card_patch_refusals(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *out = NULL;
	int rc;

	make_room(f, "room-a");
	rc = card_patch(f, "room-a", "{\"blood_type\": \"A\"}", &out, &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, "blood_type", 1);
	rc = card_patch(f, "room-a", "{\"allergies\": \"x\", \"hospital = "
	    "'h', diagnoses\": \"y\"}", &out, &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, "not a card field", 1);
	rc = card_patch(f, "room-a", "{\"updated_by\": \"someone\"}", &out,
	    &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, "updated_by", 1);
	rc = card_patch(f, "room-a", "{\"allergies\": 5}", &out, &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, "allergies", 1);
	rc = card_patch(f, "room-a", "{}", &out, &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, NULL, 1);
	rc = card_patch(f, "room-a", "[\"allergies\"]", &out, &why);
	expect_refused(f, rc, out, RK_EINVAL, &why, NULL, 1);
	rc = card_patch(f, "nowhere", "{\"allergies\": \"x\"}", &out, &why);
	expect_refused(f, rc, out, RK_ENOTFOUND, &why, "no room", 1);
	f->c.staff = "nurse-2";
	rc = card_patch(f, "room-a", "{\"allergies\": \"x\"}", &out, &why);
	expect_refused(f, rc, out, RK_EDENIED, &why, NULL, 1);
	f->c.staff = "nurse-1";
	exec(db_of(f), "UPDATE rooms SET status = 'archived'");
	rc = card_patch(f, "room-a", "{\"allergies\": \"x\"}", &out, &why);
	expect_refused(f, rc, out, RK_EDENIED, &why, "archived", 1);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM emergency_cards"),
	    0);
}

static void
test_card_html(void **state)
{
	static const char *const labels[] = {
		"救急情報カード", "氏名", "生年月日", "診断名", "アレルギー",
		"内服薬", "主治医", "副主治医", "家族連絡先", "要介護度",
		"ACP・本人の意思", "希望搬送先",
	};
	struct fx *f = *state;
	struct rk_why why;
	json_t *out = NULL;
	struct buf b = BUF_INIT;
	const char *html;
	size_t i;

	assert_int_equal(room_create(f, "{\"room_id\": \"room-a\", "
	    "\"patient_name\": \"山田 <花子>\", \"consent_date\": "
	    "\"2025-05-01\", \"birth_date\": \"1938-04-02\", \"members\": "
	    "[\"dr-1\"]}", &out, &why), 0);
	json_decref(out);
	if (card_patch(f, "room-a", "{\"diagnoses\": \"<script>alert('x')"
	    "</script>\", \"allergies\": \"卵 & 小麦\", \"hospital\": "
	    "\"市立病院\\n救急外来\", \"care_level\": \"要介護3\"}", &out,
	    &why) != 0)
		fail_msg("%s", why.text);
	json_decref(out);

	assert_int_equal(rec_card_html(&f->c, "room-a", &b, &why), 0);
	assert_int_equal(buf_append(&b, "", 1), 0);	/* terminate */
	html = (const char *)b.data;
	assert_int_equal(strncmp(html, "<!DOCTYPE html>", 15), 0);
	assert_non_null(strstr(html, "<html lang=\"ja\">"));
	assert_non_null(strstr(html, "charset=\"utf-8\""));
	/* Escaped, never live. */
	assert_null(strstr(html, "<script"));
	assert_non_null(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)"
	    "&lt;/script&gt;"));
	assert_non_null(strstr(html, "山田 &lt;花子&gt;"));
	assert_non_null(strstr(html, "卵 &amp; 小麦"));
	assert_non_null(strstr(html, "市立病院<br>救急外来"));
	/* Japanese labels, each beside its own value. */
	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		if (strstr(html, labels[i]) == NULL)
			fail_msg("no label %s", labels[i]);
	assert_non_null(strstr(html, "<th>アレルギー</th><td>卵 &amp; 小麦"
	    "</td>"));
	assert_non_null(strstr(html, "<th>要介護度</th><td>要介護3</td>"));
	assert_non_null(strstr(html, "<th>生年月日</th><td>1938-04-02</td>"));
	assert_non_null(strstr(html, "<th>内服薬</th><td></td>"));
	/* Printed today, in Japan. */
	assert_non_null(strstr(html, "2025-06-01"));
	buf_release(&b);

	/* Not a member: refused, nothing written to the buffer. */
	f->c.staff = "nurse-2";
	assert_int_equal(rec_card_html(&f->c, "room-a", &b, &why), RK_EDENIED);
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_date),
		T(test_room_create),
		T(test_room_members_deduplicated),
		T(test_room_create_duplicate),
		T(test_room_create_refusals),
		T(test_consent_date_is_japan_today),
		T(test_family_consent),
		T(test_doctor_rule),
		T(test_post_add),
		T(test_post_refusals),
		T(test_visit_refusals),
		T(test_visit_stored),
		T(test_timeline),
		T(test_card_patch_only_given_fields),
		T(test_card_patch_refusals),
		T(test_card_html),
		/* Last: a crash here (a bug) must not hide the others. */
		T(test_room_create_disk_full),
	};
#undef T

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
