/*
 * test_store.c - the replica store (daemon/store.h) through the real
 * encrypting VFS (daemon/vfs.h): change capture into the outbox, the
 * one-room and directory rules, local tables, a full disk, reopening, the
 * clock across restarts, wrong keys and foreign files, and crashes in the
 * middle of a transaction (fork + _exit / SIGKILL).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "common/hlc.h"
#include "daemon/store.h"
#include "daemon/vfs.h"
#include "schema/schema.h"
#include "testutil.h"
#include "tu_sql.h"

#define VFS_NAME "rk-test-store"
#define VFS_OTHER "rk-test-store-other"	/* same VFS, another key */
#define ORIGIN "dev-A"

/* 2025-06-01T03:00:00Z, 12:00 in Japan. */
#define T0 INT64_C(1748746800000)

static struct vfs_crypt *g_vfs, *g_vfs_other;

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX + 32];
	struct tu_clock clk;
	struct store *s;
	int is_hub;
};

/* --- helpers ------------------------------------------------------------ */

static int
try_open(struct fx *f, const char *vfs, const char *path, int is_hub,
    struct store **out, struct rk_why *why)
{
	struct store_opts o;

	memset(&o, 0, sizeof(o));
	o.path = path;
	o.vfs = vfs;
	o.origin = ORIGIN;
	o.is_hub = is_hub;
	o.clock = &f->clk.clock;
	return store_open(&o, out, why);
}

static void
reopen(struct fx *f, int is_hub)
{
	struct rk_why why = { "" };
	int rc;

	store_close(f->s);
	f->s = NULL;
	f->is_hub = is_hub;
	rc = try_open(f, VFS_NAME, f->path, is_hub, &f->s, &why);
	if (rc != 0)
		fail_msg("store_open %s: %d %s", f->path, rc, why.text);
}

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

static const char *
qtext(sqlite3 *db, const char *sql)
{
	static char buf[512];
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s: no row: %s", sql, sqlite3_errmsg(db));
	snprintf(buf, sizeof(buf), "%s", sqlite3_column_text(st, 0) ?
	    (const char *)sqlite3_column_text(st, 0) : "(null)");
	sqlite3_finalize(st);
	return buf;
}

static int64_t
outbox_count(struct fx *f)
{
	return tu_qint(db_of(f), "SELECT count(*) FROM local_outbox");
}

static int64_t
post_count(struct fx *f, const char *room)
{
	return tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE room_id = %Q",
	    room);
}

/* INSERT INTO posts; the sqlite3_step result. */
static int
insert_post(sqlite3 *db, const char *room, const char *id, const char *body)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES (?1, ?2, 'nurse-1', 1, ?3, 1)", -1,
	    &st, NULL) != SQLITE_OK)
		fail_msg("prepare: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc;
}

static void
must_insert_post(sqlite3 *db, const char *room, const char *id,
    const char *body)
{
	if (insert_post(db, room, id, body) != SQLITE_DONE)
		fail_msg("insert post %s/%s: %s", room, id, sqlite3_errmsg(db));
}

static struct store_tx *
begin(struct fx *f, const char *room)
{
	struct store_tx *tx = NULL;
	int rc = store_tx_begin(f->s, room, &tx);

	if (rc != 0)
		fail_msg("store_tx_begin %s: %d", room, rc);
	assert_non_null(tx);
	return tx;
}

static int64_t
commit_ok(struct store_tx *tx)
{
	struct rk_why why = { "" };
	int64_t seq = -1;
	int rc = store_tx_commit(tx, &seq, &why);

	if (rc != 0)
		fail_msg("store_tx_commit: %d %s", rc, why.text);
	return seq;
}

/* One committed transaction writing one post. */
static int64_t
write_post(struct fx *f, const char *room, const char *id, const char *body)
{
	struct store_tx *tx = begin(f, room);

	must_insert_post(db_of(f), room, id, body);
	return commit_ok(tx);
}

/* One row of a changeset, decoded. */
struct cs_row {
	char table[32];
	int op;			/* SQLITE_INSERT, _UPDATE, _DELETE */
	int ncol;
	char col0[80];		/* column 0 (room_id / id): new for INSERT */
	char col1[80];		/* column 1 as text */
	unsigned char has_new[32];	/* UPDATE: column carried */
	char body[64];		/* posts.body (new value), truncated */
	int body_len;
};

static void
value_text(sqlite3_value *v, char *out, size_t n)
{
	const unsigned char *t = v ? sqlite3_value_text(v) : NULL;

	snprintf(out, n, "%s", t ? (const char *)t : "");
}

static int
cs_decode(const void *cs, int n, struct cs_row *rows, int max)
{
	sqlite3_changeset_iter *it = NULL;
	int count = 0, rc;

	assert_int_equal(sqlite3changeset_start(&it, n, (void *)cs),
	    SQLITE_OK);
	while ((rc = sqlite3changeset_next(it)) == SQLITE_ROW) {
		struct cs_row *r = &rows[count];
		const char *table;
		sqlite3_value *v;
		int indirect, i;

		assert_true(count < max);
		memset(r, 0, sizeof(*r));
		assert_int_equal(sqlite3changeset_op(it, &table, &r->ncol,
		    &r->op, &indirect), SQLITE_OK);
		snprintf(r->table, sizeof(r->table), "%s", table);
		assert_false(indirect);
		for (i = 0; i < 2 && i < r->ncol; i++) {
			v = NULL;
			if (r->op == SQLITE_INSERT)
				sqlite3changeset_new(it, i, &v);
			else
				sqlite3changeset_old(it, i, &v);
			value_text(v, i == 0 ? r->col0 : r->col1,
			    sizeof(r->col0));
		}
		if (r->op != SQLITE_DELETE)
			for (i = 0; i < r->ncol && i < 32; i++) {
				v = NULL;
				sqlite3changeset_new(it, i, &v);
				r->has_new[i] = v != NULL;
				if (!strcmp(table, "posts") && i == 4 && v) {
					value_text(v, r->body,
					    sizeof(r->body));
					r->body_len = sqlite3_value_bytes(v);
				}
			}
		count++;
	}
	assert_int_equal(rc, SQLITE_DONE);
	assert_int_equal(sqlite3changeset_finalize(it), SQLITE_OK);
	return count;
}

/* The changeset in table's row keycol = seq, decoded into rows. */
static int
log_rows(struct fx *f, const char *table, const char *keycol, int64_t seq,
    struct cs_row *rows, int max)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = db_of(f);
	char *sql;
	int n;

	sql = sqlite3_mprintf("SELECT changeset FROM %s WHERE %s = ?1", table,
	    keycol);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_free(sql);
	sqlite3_bind_int64(st, 1, seq);
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("no %s entry %lld", table, (long long)seq);
	n = cs_decode(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0),
	    rows, max);
	sqlite3_finalize(st);
	return n;
}

/* The changeset of outbox entry seq, decoded into rows. */
static int
outbox_rows(struct fx *f, int64_t seq, struct cs_row *rows, int max)
{
	return log_rows(f, "local_outbox", "seq", seq, rows, max);
}

static const struct cs_row *
find_row(const struct cs_row *rows, int n, const char *table,
    const char *col0, const char *col1)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(rows[i].table, table) &&
		    !strcmp(rows[i].col0, col0) &&
		    (col1 == NULL || !strcmp(rows[i].col1, col1)))
			return &rows[i];
	return NULL;
}

static void
assert_integrity(sqlite3 *db)
{
	assert_string_equal(qtext(db, "PRAGMA integrity_check"), "ok");
}

/* The whole file, for byte comparison; free() it. */
static unsigned char *
slurp(const char *path, long *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *p;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	*len = ftell(fp);
	assert_true(*len >= 0);
	rewind(fp);
	p = malloc((size_t)*len + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)*len, fp), (size_t)*len);
	fclose(fp);
	return p;
}

/* --- fixtures ----------------------------------------------------------- */

static int
group_setup(void **state)
{
	uint8_t key[VFS_KEY_LEN];

	(void)state;
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(key, sizeof(key));
	if (vfs_crypt_register(VFS_NAME, key, &g_vfs) != 0)
		return -1;
	randombytes_buf(key, sizeof(key));
	if (vfs_crypt_register(VFS_OTHER, key, &g_vfs_other) != 0)
		return -1;
	sodium_memzero(key, sizeof(key));
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	vfs_crypt_unregister(g_vfs_other);
	vfs_crypt_unregister(g_vfs);
	return 0;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	tu_tmpdir(f->dir, sizeof(f->dir), "store");
	snprintf(f->path, sizeof(f->path), "%s/replica.db", f->dir);
	tu_clock_init(&f->clk, T0, tu_seed());
	*state = f;
	reopen(f, 0);
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

/* --- opening ------------------------------------------------------------ */

static void
test_open_fresh(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	int reserve = -1;

	assert_string_equal(store_origin(f->s), ORIGIN);
	assert_ptr_equal(store_clock(f->s), &f->clk.clock);
	assert_int_equal(tu_qint(db, "PRAGMA user_version"), schema_version());
	assert_int_equal(tu_qint(db, "PRAGMA page_size"), VFS_PAGE_SIZE);
	assert_int_equal(sqlite3_file_control(db, "main",
	    SQLITE_FCNTL_RESERVE_BYTES, &reserve), SQLITE_OK);
	assert_int_equal(reserve, VFS_RESERVE);
	assert_string_equal(qtext(db, "PRAGMA journal_mode"), "wal");
	assert_int_equal(tu_qint(db, "PRAGMA temp_store"), 2);	/* MEMORY */
	assert_int_equal(tu_qint(db, "PRAGMA synchronous"), 2);	/* FULL */
	assert_int_equal(outbox_count(f), 0);
	assert_integrity(db);
}

static void
test_open_bad_path(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct rk_why why = { "" };
	char path[PATH_MAX + 64];
	int rc;

	snprintf(path, sizeof(path), "%s/no/such/dir/replica.db", f->dir);
	rc = try_open(f, VFS_NAME, path, 0, &s, &why);
	assert_int_not_equal(rc, 0);
	assert_null(s);
	assert_non_null(strstr(why.text, path));
}

/* --- capture ------------------------------------------------------------ */

static void
test_write_makes_one_outbox_entry(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	struct cs_row rows[16];
	const struct cs_row *r;
	struct store_tx *tx;
	uint64_t hlc;
	int64_t seq;
	int n;

	tx = begin(f, "r1");
	hlc = store_tx_hlc(tx);
	assert_true(HLC_MS(hlc) == T0);
	assert_true(store_tx_now_ms(tx) == T0);
	exec(db, "INSERT INTO rooms (room_id, title, created_by, created_at,"
	    " hlc) VALUES ('r1', 'Room 1', 'nurse-1', 1, 1)");
	exec(db, "INSERT INTO memberships (room_id, staff_id, added_by, "
	    "added_at, hlc) VALUES ('r1', 'nurse-1', 'nurse-1', 1, 1)");
	must_insert_post(db, "r1", "p1", "hello");
	must_insert_post(db, "r1", "p2", "world");
	seq = commit_ok(tx);
	assert_true(seq > 0);

	/* Exactly one entry, describing this transaction. */
	assert_int_equal(outbox_count(f), 1);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM local_outbox WHERE "
	    "seq = %lld AND origin = '" ORIGIN "' AND room_id = 'r1' AND "
	    "hlc = %lld AND schema_version = %d AND created_at = %lld AND "
	    "acked_hub_seq IS NULL", (long long)seq, (long long)hlc,
	    schema_version(), (long long)T0), 1);

	/* Its changeset holds exactly the rows written. */
	n = outbox_rows(f, seq, rows, 16);
	assert_int_equal(n, 4);
	assert_non_null(r = find_row(rows, n, "rooms", "r1", NULL));
	assert_int_equal(r->op, SQLITE_INSERT);
	assert_non_null(r = find_row(rows, n, "memberships", "r1", "nurse-1"));
	assert_int_equal(r->op, SQLITE_INSERT);
	assert_non_null(r = find_row(rows, n, "posts", "r1", "p1"));
	assert_int_equal(r->op, SQLITE_INSERT);
	assert_string_equal(r->body, "hello");
	assert_non_null(r = find_row(rows, n, "posts", "r1", "p2"));
	assert_int_equal(r->op, SQLITE_INSERT);
	assert_string_equal(r->body, "world");
	assert_int_equal(post_count(f, "r1"), 2);
}

static void
test_update_and_delete_captured(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	struct cs_row rows[8];
	const struct cs_row *r;
	struct store_tx *tx;
	int64_t s1, s2;
	int n;

	s1 = write_post(f, "r1", "p1", "first");
	must_insert_post(db, "r1", "p-outside", "x");	/* not in a tx */
	tx = begin(f, "r1");
	exec(db, "UPDATE posts SET body = 'edited', deleted_at = 5 WHERE "
	    "room_id = 'r1' AND id = 'p1'");
	exec(db, "DELETE FROM posts WHERE room_id = 'r1' AND id = "
	    "'p-outside'");
	s2 = commit_ok(tx);
	assert_true(s2 > s1);
	assert_int_equal(outbox_count(f), 2);

	n = outbox_rows(f, s2, rows, 8);
	assert_int_equal(n, 2);
	assert_non_null(r = find_row(rows, n, "posts", "r1", "p1"));
	assert_int_equal(r->op, SQLITE_UPDATE);
	/* An UPDATE carries the changed columns only: body (4) and
	 * deleted_at (5), not author (2) or created_at (3). */
	assert_true(r->has_new[4]);
	assert_true(r->has_new[5]);
	assert_false(r->has_new[2]);
	assert_false(r->has_new[3]);
	assert_string_equal(r->body, "edited");
	assert_non_null(r = find_row(rows, n, "posts", "r1", "p-outside"));
	assert_int_equal(r->op, SQLITE_DELETE);
}

static void
test_seq_and_hlc_increase(void **state)
{
	struct fx *f = *state;
	struct store_tx *tx;
	uint64_t prev = 0, h;
	int64_t seq, prevseq = 0;
	char id[16];
	int i;

	/* A frozen clock: still strictly increasing. */
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "p%d", i);
		tx = begin(f, "r1");
		h = store_tx_hlc(tx);
		assert_true(h > prev);
		must_insert_post(db_of(f), "r1", id, "x");
		seq = commit_ok(tx);
		assert_int_equal(seq, prevseq + 1);
		assert_int_equal(tu_qint(db_of(f), "SELECT hlc FROM local_outbox "
		    "WHERE seq = %lld", (long long)seq), (int64_t)h);
		prev = h;
		prevseq = seq;
	}
	/* A device writes no clock row per write: the outbox holds the
	 * last timestamp handed out, and a reopened store continues after
	 * it even with the wall clock behind. */
	assert_int_equal(tu_qint(db_of(f), "SELECT max(hlc) FROM local_outbox"),
	    (int64_t)prev);
	reopen(f, 0);
	assert_int_equal(store_tx_begin(f->s, "r1", &tx), 0);
	assert_true(store_tx_hlc(tx) > prev);
	store_tx_abort(tx);
}

/* The changeset of outbox entry seq, copied into buf (at most cap bytes). */
static int
outbox_blob(sqlite3 *db, int64_t seq, unsigned char *buf, int cap)
{
	sqlite3_stmt *st = NULL;
	int n = -1;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT changeset FROM "
	    "local_outbox WHERE seq = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	if (sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_bytes(st, 0);
		assert_true(n <= cap);
		memcpy(buf, sqlite3_column_blob(st, 0), (size_t)n);
	}
	sqlite3_finalize(st);
	return n;
}

#define VISIT_SQL(id) "INSERT INTO visits (room_id, id, author, visited_at," \
	" bp_sys, bp_dia, temp, weight, note, hlc) VALUES ('r1', '" id "'," \
	" 'nurse-1', 1700000000000, 128, 76, 36.8, NULL, " \
	"'\xe4\xb8\x8b\xe8\x82\xa2\xe6\xb5\xae\xe8\x85\xab', 4611686018427387904)"

/*
 * Append capture writes the changeset a session would: the same row
 * captured both ways gives the same bytes (but for the id), and the
 * result applies to another replica.
 */
static void
test_append_capture_matches_session(void **state)
{
	struct fx *f = *state;
	struct store_tx *tx = NULL;
	unsigned char a[4096], b[4096], *p;
	int64_t s1, s2;
	int na, nb;

	tx = begin(f, "r1");
	exec(db_of(f), VISIT_SQL("v1"));
	s1 = commit_ok(tx);
	assert_int_equal(store_tx_begin_append(f->s, "r1", &tx), 0);
	exec(db_of(f), VISIT_SQL("v2"));
	s2 = commit_ok(tx);
	na = outbox_blob(db_of(f), s1, a, sizeof(a));
	nb = outbox_blob(db_of(f), s2, b, sizeof(b));
	assert_true(na > 0);
	assert_int_equal(na, nb);
	for (p = b; p + 1 < b + nb && !(p[0] == 'v' && p[1] == '2'); p++)
		;
	assert_true(p + 1 < b + nb);
	p[1] = '1';
	assert_memory_equal(a, b, (size_t)na);
}

/* Several rows and tables in one append capture all arrive. */
static void
test_append_capture_many_rows(void **state)
{
	struct fx *f = *state;
	struct store_tx *tx = NULL;
	sqlite3_changeset_iter *it = NULL;
	unsigned char buf[65536];
	int64_t seq;
	int n, rows = 0, posts = 0, visits = 0, op, ncol, ind;
	const char *tab;

	assert_int_equal(store_tx_begin_append(f->s, "r1", &tx), 0);
	must_insert_post(db_of(f), "r1", "p1", "一");
	exec(db_of(f), VISIT_SQL("v1"));
	must_insert_post(db_of(f), "r1", "p2", "二");
	seq = commit_ok(tx);
	n = outbox_blob(db_of(f), seq, buf, sizeof(buf));
	assert_int_equal(sqlite3changeset_start(&it, n, buf), SQLITE_OK);
	while (sqlite3changeset_next(it) == SQLITE_ROW) {
		sqlite3changeset_op(it, &tab, &ncol, &op, &ind);
		assert_int_equal(op, SQLITE_INSERT);
		rows++;
		posts += strcmp(tab, "posts") == 0;
		visits += strcmp(tab, "visits") == 0;
	}
	assert_int_equal(sqlite3changeset_finalize(it), SQLITE_OK);
	assert_int_equal(rows, 3);
	assert_int_equal(posts, 2);
	assert_int_equal(visits, 1);
}

/* An append capture refuses anything but inserts, and leaves nothing. */
static void
test_append_capture_refuses_update(void **state)
{
	struct fx *f = *state;
	struct store_tx *tx = NULL;
	struct rk_why why = { "" };
	int64_t before, seq = -1;

	write_post(f, "r1", "p1", "a");
	before = tu_qint(db_of(f), "SELECT count(*) FROM local_outbox");
	assert_int_equal(store_tx_begin_append(f->s, "r1", &tx), 0);
	must_insert_post(db_of(f), "r1", "p2", "b");
	exec(db_of(f), "UPDATE posts SET body = 'changed' WHERE id = 'p1'");
	assert_int_equal(store_tx_commit(tx, &seq, &why), RK_EINVAL);
	assert_non_null(strstr(why.text, "update"));
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"),
	    before);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE "
	    "id = 'p2' OR body = 'changed'"), 0);
	/* The store is usable again, with sessions as before. */
	write_post(f, "r1", "p3", "c");
}

/* A large change is kept compressed in the outbox and read back whole. */
static void
test_outbox_large_compressed(void **state)
{
	struct fx *f = *state;
	struct store_tx *tx = NULL;
	sqlite3_changeset_iter *it = NULL;
	sqlite3_stmt *st = NULL;
	sqlite3_value *v = NULL;
	const void *raw = NULL;
	size_t rawlen = 0, i;
	void *owned = NULL;
	char *body, id[16];
	int64_t seq;
	int rows = 0, op, ncol, ind;
	const char *tab;

	body = malloc(2000);
	assert_non_null(body);
	for (i = 0; i < 1999; i++)
		body[i] = "訪問記録"[i % 12];
	body[1999] = '\0';
	assert_int_equal(store_tx_begin_append(f->s, "r1", &tx), 0);
	for (i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "big%03zu", i);
		must_insert_post(db_of(f), "r1", id, body);
	}
	seq = commit_ok(tx);
	assert_int_equal(sqlite3_prepare_v2(db_of(f), "SELECT changeset FROM "
	    "local_outbox WHERE seq = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	/* Stored as a zstd frame, far smaller than 100 rows of 2 KB. */
	assert_memory_equal(sqlite3_column_blob(st, 0), "\x28\xb5\x2f\xfd",
	    4);
	assert_true(sqlite3_column_bytes(st, 0) < STORE_OUTBOX_ZMIN);
	assert_int_equal(store_outbox_raw(sqlite3_column_blob(st, 0),
	    (size_t)sqlite3_column_bytes(st, 0), &raw, &rawlen, &owned), 0);
	assert_non_null(owned);
	assert_true(rawlen > 100 * 1999);
	assert_int_equal(sqlite3changeset_start(&it, (int)rawlen, (void *)raw),
	    SQLITE_OK);
	while (sqlite3changeset_next(it) == SQLITE_ROW) {
		sqlite3changeset_op(it, &tab, &ncol, &op, &ind);
		assert_string_equal(tab, "posts");
		assert_int_equal(sqlite3changeset_new(it, 4, &v), SQLITE_OK);
		assert_string_equal((const char *)sqlite3_value_text(v), body);
		rows++;
	}
	assert_int_equal(sqlite3changeset_finalize(it), SQLITE_OK);
	assert_int_equal(rows, 100);
	free(owned);
	/* A small change stays as it is: the accessor hands it straight. */
	assert_int_equal(store_outbox_raw("T\x01", 2, &raw, &rawlen, &owned),
	    0);
	assert_null(owned);
	assert_int_equal(rawlen, 2);
	/* A damaged frame is an error, never a changeset. */
	assert_int_equal(store_outbox_raw("\x28\xb5\x2f\xfd\x00\x00", 6,
	    &raw, &rawlen, &owned), RK_EPROTO);
	sqlite3_finalize(st);
	free(body);
}

static void
test_empty_tx_no_outbox(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	struct store_tx *tx;
	struct rk_why why = { "" };
	int64_t seq;

	/* Nothing at all. */
	tx = begin(f, "r1");
	seq = -1;
	assert_int_equal(store_tx_commit(tx, &seq, &why), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(outbox_count(f), 0);

	/* A row inserted and deleted again: no net change. */
	tx = begin(f, "r1");
	must_insert_post(db, "r1", "tmp", "x");
	exec(db, "DELETE FROM posts WHERE id = 'tmp'");
	seq = -1;
	assert_int_equal(store_tx_commit(tx, &seq, &why), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(outbox_count(f), 0);

	/* An UPDATE that writes the same values. */
	write_post(f, "r1", "p1", "same");
	tx = begin(f, "r1");
	exec(db, "UPDATE posts SET body = 'same' WHERE id = 'p1'");
	seq = -1;
	assert_int_equal(store_tx_commit(tx, &seq, &why), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(outbox_count(f), 1);

	/* seq may be NULL. */
	tx = begin(f, "r1");
	assert_int_equal(store_tx_commit(tx, NULL, &why), 0);
	assert_int_equal(outbox_count(f), 1);
}

static void
test_other_room_refused(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	struct store_tx *tx;
	struct rk_why why = { "" };
	int64_t seq;

	write_post(f, "r2", "q1", "theirs");
	assert_int_equal(outbox_count(f), 1);

	/* A new row in another room. */
	tx = begin(f, "r1");
	must_insert_post(db, "r2", "q2", "sneaky");
	seq = -1;
	assert_int_equal(store_tx_commit(tx, &seq, &why), RK_EINVAL);
	assert_int_equal(seq, -1);	/* outputs only on success */
	assert_non_null(strstr(why.text, "r2"));
	assert_int_equal(post_count(f, "r2"), 1);
	assert_int_equal(outbox_count(f), 1);

	/* A row of its own room together with one of another: neither. */
	tx = begin(f, "r1");
	must_insert_post(db, "r1", "p1", "mine");
	exec(db, "UPDATE posts SET body = 'changed' WHERE room_id = 'r2' AND "
	    "id = 'q1'");
	assert_int_equal(store_tx_commit(tx, &seq, &why), RK_EINVAL);
	assert_int_equal(post_count(f, "r1"), 0);
	assert_string_equal(qtext(db, "SELECT body FROM posts WHERE id = "
	    "'q1'"), "theirs");
	assert_int_equal(outbox_count(f), 1);

	/* Deleting another room's row. */
	tx = begin(f, "r1");
	exec(db, "DELETE FROM posts WHERE room_id = 'r2'");
	assert_int_equal(store_tx_commit(tx, &seq, &why), RK_EINVAL);
	assert_int_equal(post_count(f, "r2"), 1);

	/* Moving a row between rooms (a key change: DELETE + INSERT). */
	tx = begin(f, "r1");
	exec(db, "UPDATE posts SET room_id = 'r1' WHERE id = 'q1'");
	assert_int_equal(store_tx_commit(tx, &seq, &why), RK_EINVAL);
	assert_int_equal(post_count(f, "r2"), 1);
	assert_int_equal(post_count(f, "r1"), 0);

	/* Another room's rooms row. */
	tx = begin(f, "r1");
	exec(db, "INSERT INTO rooms (room_id, title, created_by, created_at,"
	    " hlc) VALUES ('r2', 'x', 'n', 1, 1)");
	assert_int_equal(store_tx_commit(tx, &seq, &why), RK_EINVAL);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM rooms"), 0);

	assert_int_equal(outbox_count(f), 1);
	assert_integrity(db);
	/* The store is still usable. */
	assert_int_equal(write_post(f, "r1", "p1", "ok"), 2);
}

static void
test_device_cannot_write_directory(void **state)
{
	struct fx *f = *state;
	sqlite3 *db;
	struct store_tx *tx;
	struct rk_why why = { "" };
	struct cs_row rows[4];
	int64_t seq;
	static const char *const writes[] = {
		"INSERT INTO staff (id, agency_id, name, profession, hlc) "
		    "VALUES ('dr-1', 'ag-1', 'Dr', 'doctor', 1)",
		"INSERT INTO agencies (id, name, kind, hlc) VALUES "
		    "('ag-1', 'Clinic', 'clinic', 1)",
		"INSERT INTO devices (id, staff_id, sign_pk, box_pk, "
		    "enrolled_at, hlc) VALUES ('d-1', 'dr-1', x'00', x'00', "
		    "1, 1)",
	};
	size_t i;

	assert_int_equal(f->is_hub, 0);
	db = db_of(f);
	for (i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		why.text[0] = '\0';
		tx = begin(f, "r1");
		must_insert_post(db, "r1", "p1", "with it");
		exec(db, writes[i]);
		assert_int_equal(store_tx_commit(tx, &seq, &why), RK_EDENIED);
		assert_true(why.text[0] != '\0');
		assert_int_equal(tu_qint(db, "SELECT (SELECT count(*) FROM "
		    "staff) + (SELECT count(*) FROM agencies) + (SELECT "
		    "count(*) FROM devices)"), 0);
		assert_int_equal(post_count(f, "r1"), 0);
		assert_int_equal(outbox_count(f), 0);
	}
	assert_non_null(strstr(why.text, "devices"));

	/* The same write on a hub ("" is the directory) is canonical at
	 * once: it goes to the hub log, not to an outbox. */
	reopen(f, 1);
	db = db_of(f);
	tx = begin(f, "");
	exec(db, writes[0]);
	seq = commit_ok(tx);
	assert_true(seq > 0);
	assert_int_equal(outbox_count(f), 0);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM local_hub_log WHERE "
	    "hub_seq = %lld AND room_id = '' AND origin = '" ORIGIN "'",
	    (long long)seq), 1);
	assert_int_equal(log_rows(f, "local_hub_log", "hub_seq", seq, rows, 4),
	    1);
	assert_string_equal(rows[0].table, "staff");
	assert_string_equal(rows[0].col0, "dr-1");
	assert_int_equal(rows[0].op, SQLITE_INSERT);
	assert_int_equal(tu_qint(db, "SELECT count(*) FROM staff"), 1);
}

static void
test_hub_clock_survives_reopen(void **state)
{
	struct fx *f = *state;
	struct store_tx *tx;
	uint64_t h1;

	reopen(f, 1);
	tx = begin(f, "");
	h1 = store_tx_hlc(tx);
	exec(db_of(f), "INSERT INTO agencies (id, name, kind, hlc) VALUES "
	    "('ag-1', 'Clinic', 'clinic', 1)");
	assert_true(commit_ok(tx) > 0);
	/* The hub restarts with its wall clock behind. */
	tu_clock_set(&f->clk, T0 - 3600 * 1000);
	reopen(f, 1);
	tx = begin(f, "");
	if (store_tx_hlc(tx) <= h1)
		fail_msg("hub clock went back across a restart: %llx <= %llx",
		    (unsigned long long)store_tx_hlc(tx),
		    (unsigned long long)h1);
	store_tx_abort(tx);
}

static void
test_observed_clock_survives_reopen(void **state)
{
	struct fx *f = *state;
	struct store_tx *tx;
	uint64_t remote = ((uint64_t)(T0 + 5 * 60 * 1000) << HLC_COUNTER_BITS)
	    | 9;

	/* Too far ahead: refused. */
	assert_int_equal(store_hlc_observe(f->s, ((uint64_t)(T0 +
	    HLC_MAX_AHEAD_MS + 1) << HLC_COUNTER_BITS)), RK_EINVAL);
	tx = begin(f, "r1");
	assert_true(HLC_MS(store_tx_hlc(tx)) == T0);
	store_tx_abort(tx);

	/* A pulled change from a device 5 minutes ahead. */
	assert_int_equal(store_hlc_observe(f->s, remote), 0);
	tx = begin(f, "r1");
	assert_true(store_tx_hlc(tx) > remote);
	store_tx_abort(tx);
	/* A local edit after a restart is still later than what was seen
	 * before it, or last-writer-wins would let the older edit win. */
	reopen(f, 0);
	tx = begin(f, "r1");
	if (store_tx_hlc(tx) <= remote)
		fail_msg("observed clock lost across a restart: %llx <= %llx",
		    (unsigned long long)store_tx_hlc(tx),
		    (unsigned long long)remote);
	store_tx_abort(tx);
}

static void
test_local_tables_not_captured(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	struct store_tx *tx;
	struct cs_row rows[4];
	int64_t seq;

	/* Only local tables: committed, nothing queued. */
	tx = begin(f, "r1");
	exec(db, "INSERT INTO local_meta (key, value) VALUES ('cursor', 42)");
	seq = commit_ok(tx);
	assert_int_equal(seq, 0);
	assert_int_equal(outbox_count(f), 0);
	assert_int_equal(tu_qint(db, "SELECT value FROM local_meta WHERE key = "
	    "'cursor'"), 42);

	/* A hand-written outbox row is not captured either. */
	tx = begin(f, "r1");
	exec(db, "INSERT INTO local_outbox (origin, room_id, hlc, "
	    "schema_version, created_at, changeset) VALUES ('x', 'r1', 1, 1, "
	    "1, x'')");
	exec(db, "UPDATE local_outbox SET acked_hub_seq = 7");
	seq = commit_ok(tx);
	assert_int_equal(seq, 0);
	assert_int_equal(outbox_count(f), 1);
	exec(db, "DELETE FROM local_outbox");

	/* Mixed: the changeset holds the synced row only. */
	tx = begin(f, "r1");
	exec(db, "UPDATE local_meta SET value = 43 WHERE key = 'cursor'");
	must_insert_post(db, "r1", "p1", "x");
	exec(db, "INSERT INTO local_meta (key, value) VALUES ('other', 1)");
	seq = commit_ok(tx);
	assert_true(seq > 0);
	assert_int_equal(outbox_rows(f, seq, rows, 4), 1);
	assert_string_equal(rows[0].table, "posts");
}

static void
test_abort_and_busy(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	struct store_tx *tx, *tx2 = NULL;
	char longroom[80];

	tx = begin(f, "r1");
	must_insert_post(db, "r1", "p1", "x");
	/* One transaction at a time. */
	assert_int_equal(store_tx_begin(f->s, "r1", &tx2), RK_EBUSY);
	assert_null(tx2);
	store_tx_abort(tx);
	assert_int_equal(post_count(f, "r1"), 0);
	assert_int_equal(outbox_count(f), 0);
	assert_true(sqlite3_get_autocommit(db));
	store_tx_abort(NULL);

	/* A room id too long to be one. */
	memset(longroom, 'r', sizeof(longroom));
	longroom[65] = '\0';
	assert_int_equal(store_tx_begin(f->s, longroom, &tx2), RK_EINVAL);
	assert_null(tx2);

	/* Usable afterwards; the aborted write left no gap. */
	assert_int_equal(write_post(f, "r1", "p1", "x"), 1);
}

static void
test_close_with_open_tx(void **state)
{
	struct fx *f = *state;
	struct store_tx *tx;

	write_post(f, "r1", "p0", "kept");
	tx = begin(f, "r1");
	must_insert_post(db_of(f), "r1", "p1", "dropped");
	(void)tx;	/* store_close aborts and frees it */
	store_close(f->s);
	f->s = NULL;
	reopen(f, 0);
	assert_int_equal(post_count(f, "r1"), 1);
	assert_int_equal(outbox_count(f), 1);
	assert_integrity(db_of(f));
}

static void
test_pending_count(void **state)
{
	struct fx *f = *state;
	int64_t n = -1;

	assert_int_equal(store_pending_count(f->s, &n), 0);
	assert_int_equal(n, 0);
	write_post(f, "r1", "p1", "a");
	write_post(f, "r1", "p2", "b");
	write_post(f, "r2", "q1", "c");
	assert_int_equal(store_pending_count(f->s, &n), 0);
	assert_int_equal(n, 3);
	/* Acknowledged entries are no longer pending. */
	exec(db_of(f), "UPDATE local_outbox SET acked_hub_seq = 100, "
	    "status = 'acked' WHERE seq = 2");
	assert_int_equal(store_pending_count(f->s, &n), 0);
	assert_int_equal(n, 2);
	reopen(f, 0);
	assert_int_equal(store_pending_count(f->s, &n), 0);
	assert_int_equal(n, 2);
}

/* --- a full disk ---------------------------------------------------------- */

static void
test_disk_full(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = db_of(f);
	struct rk_why why;
	struct store_tx *tx;
	char *body, id[16], sql[64];
	size_t sz = 24000;
	int iter, written = 0, stmt_full = 0, commit_full = 0, rc;
	int64_t seq, pages, i, nout;
	sqlite3_stmt *st = NULL;

	body = malloc(sz + 1);
	assert_non_null(body);
	write_post(f, "r1", "seed", "before the disk filled");
	written++;
	pages = tu_qint(db, "PRAGMA page_count");
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
	    (long long)pages + 40);
	exec(db, sql);

	/* Big rows until the disk is full; then smaller and smaller ones, so
	 * that some fail at the row and some at the outbox entry. */
	for (iter = 0; iter < 2000 && sz >= 32; iter++) {
		snprintf(id, sizeof(id), "p%04d", iter);
		memset(body, 'a' + iter % 26, sz);
		body[sz] = '\0';
		tx = begin(f, "r1");
		if (insert_post(db, "r1", id, body) != SQLITE_DONE) {
			assert_int_equal(store_sqlite_err(db), RK_EFULL);
			store_tx_abort(tx);
			stmt_full++;
			sz /= 2;
			continue;
		}
		seq = -1;
		memset(&why, 0, sizeof(why));
		rc = store_tx_commit(tx, &seq, &why);
		if (rc == 0) {
			assert_true(seq > 0);
			written++;
			continue;
		}
		if (rc != RK_EFULL)
			fail_msg("commit on a full disk: %d (%s), not RK_EFULL",
			    rc, why.text);
		assert_int_equal(seq, -1);
		assert_true(why.text[0] != '\0');
		commit_full++;
		sz /= 2;
	}
	free(body);
	print_message("# disk full: %d written, %d refused at the row, %d at "
	    "commit\n", written, stmt_full, commit_full);
	assert_true(written > 2);
	assert_true(commit_full > 0);
	assert_true(sqlite3_get_autocommit(db));

	/* Rows and outbox entries match one to one. */
	nout = outbox_count(f);
	assert_int_equal(nout, written);
	assert_int_equal(post_count(f, "r1"), written);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq FROM local_outbox "
	    "ORDER BY seq", -1, &st, NULL), SQLITE_OK);
	for (i = 0; i < nout; i++) {
		struct cs_row rows[2];

		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		seq = sqlite3_column_int64(st, 0);
		assert_int_equal(outbox_rows(f, seq, rows, 2), 1);
		assert_string_equal(rows[0].table, "posts");
		assert_int_equal(rows[0].op, SQLITE_INSERT);
		/* The row exists, with the body the changeset carries. */
		assert_int_equal(tu_qint(db, "SELECT count(*) FROM posts WHERE "
		    "room_id = %Q AND id = %Q AND length(body) = %d",
		    rows[0].col0, rows[0].col1, rows[0].body_len), 1);
	}
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	/* Every post is in exactly one entry (ids are distinct, and the
	 * counts are equal, so the map above is a bijection). */
	assert_int_equal(tu_qint(db, "SELECT count(DISTINCT id) FROM posts"),
	    written);
	assert_integrity(db);

	/* With room again, writes succeed. */
	exec(db, "PRAGMA max_page_count = 1000000");
	assert_true(write_post(f, "r1", "after", "room again") > 0);
	assert_int_equal(outbox_count(f), written + 1);

	/* And it all survives a reopen. */
	reopen(f, 0);
	assert_integrity(db_of(f));
	assert_int_equal(outbox_count(f), written + 1);
	assert_int_equal(post_count(f, "r1"), written + 1);
}

/* --- reopening ---------------------------------------------------------- */

static void
test_reopen_keeps_data_and_clock(void **state)
{
	struct fx *f = *state;
	struct store_tx *tx;
	uint64_t h1, h2;
	int64_t s1, s2;

	tx = begin(f, "r1");
	h1 = store_tx_hlc(tx);
	must_insert_post(db_of(f), "r1", "p1", "before restart");
	s1 = commit_ok(tx);

	/* Restart with the wall clock an hour behind. */
	tu_clock_set(&f->clk, T0 - 3600 * 1000);
	reopen(f, 0);
	assert_string_equal(qtext(db_of(f), "SELECT body FROM posts WHERE id ="
	    " 'p1'"), "before restart");
	assert_int_equal(outbox_count(f), 1);

	tx = begin(f, "r1");
	h2 = store_tx_hlc(tx);
	assert_true(h2 > h1);
	must_insert_post(db_of(f), "r1", "p2", "after restart");
	s2 = commit_ok(tx);
	assert_true(s2 > s1);
	assert_true(tu_qint(db_of(f), "SELECT hlc FROM local_outbox WHERE seq = "
	    "%lld", (long long)s2) > tu_qint(db_of(f), "SELECT hlc FROM "
	    "local_outbox WHERE seq = %lld", (long long)s1));

	/* Again, several times, with the clock frozen behind. */
	reopen(f, 0);
	tx = begin(f, "r1");
	assert_true(store_tx_hlc(tx) > h2);
	store_tx_abort(tx);
	assert_integrity(db_of(f));
}

/* --- keys and foreign files ------------------------------------------- */

static void
test_wrong_key(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct rk_why why = { "" };
	unsigned char *before, *after;
	long nb, na;
	int rc;

	write_post(f, "r1", "p1", "secret");
	store_close(f->s);
	f->s = NULL;
	before = slurp(f->path, &nb);

	rc = try_open(f, VFS_OTHER, f->path, 0, &s, &why);
	assert_int_not_equal(rc, 0);
	assert_null(s);
	print_message("# wrong key: %d %s\n", rc, why.text);
	assert_true(rc == RK_ECRYPTO || rc == RK_EAUTH);
	/* A reason a person can act on. */
	assert_non_null(strstr(why.text, "key"));
	assert_non_null(strstr(why.text, f->path));

	/* The failed open changed nothing. */
	after = slurp(f->path, &na);
	assert_int_equal(na, nb);
	assert_memory_equal(after, before, (size_t)nb);
	free(before);
	free(after);

	/* The right key still opens it. */
	reopen(f, 0);
	assert_string_equal(qtext(db_of(f), "SELECT body FROM posts"),
	    "secret");
}

static void
test_foreign_file(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct rk_why why = { "" };
	char path[PATH_MAX + 32];
	unsigned char *before, *after;
	long nb, na;
	sqlite3 *db = NULL;
	int rc;

	/* Someone else's plain SQLite database. */
	snprintf(path, sizeof(path), "%s/foreign.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec(db, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
	    "INSERT INTO customers (name) VALUES ('Tanaka')");
	sqlite3_close(db);
	before = slurp(path, &nb);

	rc = try_open(f, VFS_NAME, path, 0, &s, &why);
	assert_int_not_equal(rc, 0);
	assert_null(s);
	print_message("# foreign file: %d %s\n", rc, why.text);
	assert_true(why.text[0] != '\0');

	/* Left exactly as it was, still readable by its owner. */
	after = slurp(path, &na);
	assert_int_equal(na, nb);
	assert_memory_equal(after, before, (size_t)nb);
	free(before);
	free(after);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_string_equal(qtext(db, "SELECT name FROM customers"), "Tanaka");
	sqlite3_close(db);
}

static void
test_no_plaintext_on_disk(void **state)
{
	struct fx *f = *state;
	static const char marker[] = "MARKER-9f3a-山田花子-ペニシリン";
	char first[PATH_MAX] = "", cdir[PATH_MAX], cfile[PATH_MAX + 16];
	struct store_tx *tx;
	FILE *fp;
	int i;

	tx = begin(f, "r1");
	exec(db_of(f), "INSERT INTO patients (room_id, name, hlc) VALUES "
	    "('r1', 'MARKER-9f3a-山田花子-ペニシリン', 1)");
	commit_ok(tx);
	for (i = 0; i < 50; i++) {
		char id[16];

		snprintf(id, sizeof(id), "p%d", i);
		write_post(f, "r1", id, marker);
	}
	/* While open (the WAL holds the pages)... */
	assert_true(tu_file_size(f->path) >= 0);
	if (tu_tree_contains(f->dir, marker, strlen(marker), first) != 0)
		fail_msg("plaintext in %s", first);
	if (tu_tree_contains(f->dir, "CREATE TABLE", 12, first) != 0)
		fail_msg("the schema in plain text in %s", first);
	/* ...and after a checkpoint and close. */
	store_close(f->s);
	f->s = NULL;
	if (tu_tree_contains(f->dir, marker, strlen(marker), first) != 0)
		fail_msg("plaintext in %s", first);

	/* The scan itself works: it finds the marker in a plain file. */
	tu_tmpdir(cdir, sizeof(cdir), "store-control");
	snprintf(cfile, sizeof(cfile), "%s/x", cdir);
	assert_non_null(fp = fopen(cfile, "wb"));
	fprintf(fp, "....%s....", marker);
	fclose(fp);
	assert_int_equal(tu_tree_contains(cdir, marker, strlen(marker), NULL),
	    1);
	assert_int_equal(tu_rm_rf(cdir), 0);
	reopen(f, 0);
}

/* --- crashes ------------------------------------------------------------ */

enum crash { CRASH_EXIT, CRASH_KILL, CRASH_KILL_AFTER_COMMIT };

/*
 * In a child: open the store, write many rows in one transaction (with a
 * tiny page cache, so pages spill into the WAL before any COMMIT), then
 * die the given way.  Exit codes above 0 report where the child failed.
 */
static void
crash_child(struct fx *f, enum crash how)
{
	struct store *s = NULL;
	struct store_tx *tx = NULL;
	char body[1500], id[16];
	int i;

	if (try_open(f, VFS_NAME, f->path, 0, &s, NULL) != 0)
		_exit(10);
	if (sqlite3_exec(store_db(s), "PRAGMA cache_size = 8", NULL, NULL,
	    NULL) != SQLITE_OK)
		_exit(11);
	if (store_tx_begin(s, "r1", &tx) != 0)
		_exit(12);
	memset(body, 'c', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "crash%03d", i);
		if (insert_post(store_db(s), "r1", id, body) != SQLITE_DONE)
			_exit(13);
	}
	if (how == CRASH_KILL_AFTER_COMMIT) {
		int64_t seq = 0;

		if (store_tx_commit(tx, &seq, NULL) != 0 || seq != 2)
			_exit(14);
	}
	if (how == CRASH_EXIT)
		_exit(0);
	raise(SIGKILL);
	_exit(15);
}

static void
crash_run(struct fx *f, enum crash how)
{
	char wal[PATH_MAX + 48];
	pid_t pid;
	int status = 0;
	int64_t seq;

	write_post(f, "r1", "kept", "committed before the crash");
	store_close(f->s);
	f->s = NULL;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		crash_child(f, how);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (how == CRASH_EXIT) {
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	} else {
		if (WIFEXITED(status))
			fail_msg("child exited %d", WEXITSTATUS(status));
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
	}
	/* The test means something only if pages reached the WAL. */
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_true(tu_file_size(wal) > 0);

	reopen(f, 0);
	assert_integrity(db_of(f));
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE id ="
	    " 'kept'"), 1);
	if (how == CRASH_KILL_AFTER_COMMIT) {
		/* Committed: the rows and their entry, both. */
		assert_int_equal(post_count(f, "r1"), 301);
		assert_int_equal(outbox_count(f), 2);
		seq = write_post(f, "r1", "after", "x");
		assert_int_equal(seq, 3);
		/* The killed writer never saved its clock: the store found
		 * the last timestamp in the newest outbox entry. */
		assert_true(tu_qint(db_of(f), "SELECT hlc FROM local_outbox WHERE"
		    " seq = 3") > tu_qint(db_of(f), "SELECT hlc FROM local_outbox"
		    " WHERE seq = 2"));
	} else {
		/* Not committed: neither the rows nor an entry. */
		assert_int_equal(post_count(f, "r1"), 1);
		assert_int_equal(outbox_count(f), 1);
		seq = write_post(f, "r1", "after", "x");
		assert_int_equal(seq, 2);
	}
	assert_integrity(db_of(f));
}

/* --- checkpoints and durability ------------------------------------------ */

static struct store *
open_ckpt(struct fx *f, const char *name, int idle, char *path, size_t plen)
{
	struct store_opts o;
	struct store *s = NULL;
	struct rk_why why = { "" };

	snprintf(path, plen, "%s/%s", f->dir, name);
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.vfs = VFS_NAME;
	o.origin = ORIGIN;
	o.clock = &f->clk.clock;
	o.idle_checkpoint = idle;
	if (store_open(&o, &s, &why) != 0)
		fail_msg("store_open %s: %s", path, why.text);
	exec(store_db(s), "CREATE TABLE local_test_blobs (b BLOB)");
	return s;
}

static int64_t
file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (int64_t)st.st_size;
}

/* mib MiB of random (incompressible) bytes in one transaction. */
static void
write_mib(struct store *s, int mib)
{
	int i;

	exec(store_db(s), "BEGIN");
	for (i = 0; i < mib; i++)
		exec(store_db(s), "INSERT INTO local_test_blobs VALUES "
		    "(randomblob(1048576))");
	exec(store_db(s), "COMMIT");
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* idle_checkpoint: a WAL past STORE_WAL_IDLE_PAGES is copied back only
 * once nobody holds the store, and then without anyone asking. */
static void
test_idle_checkpoint(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 64];
	struct store *s = open_ckpt(f, "idle.db", 1, path, sizeof(path));
	int64_t before, size = 0;
	int i;

	store_lock(s);
	before = file_size(path);
	write_mib(s, 6);	/* ~1500 pages: past the idle mark, not the cap */
	assert_int_equal(file_size(path), before);
	/* Held: the thread may not take it, however long it is idle. */
	nap_ms(4 * STORE_IDLE_MS);
	assert_int_equal(file_size(path), before);
	store_unlock(s);
	for (i = 0; i < 200; i++) {
		if ((size = file_size(path)) >= before + 5 * 1048576)
			break;
		nap_ms(50);
	}
	assert_true(size >= before + 5 * 1048576);
	assert_integrity(store_db(s));
	store_close(s);
}

/* A burst past STORE_WAL_MAX_PAGES is checkpointed by its own COMMIT. */
static void
test_wal_cap_checkpoint(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 64];
	struct store *s = open_ckpt(f, "cap.db", 1, path, sizeof(path));
	int64_t before;

	store_lock(s);
	before = file_size(path);
	write_mib(s, STORE_WAL_MAX_PAGES * 4096 / 1048576 + 2);
	assert_true(file_size(path) >= before + STORE_WAL_MAX_PAGES * 4096LL);
	store_unlock(s);
	store_close(s);
}

/* Without idle_checkpoint, SQLite's own: at the COMMIT past 1000 pages. */
static void
test_default_checkpoint(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 64];
	struct store *s = open_ckpt(f, "plain.db", 0, path, sizeof(path));
	int64_t before;

	store_lock(s);
	before = file_size(path);
	write_mib(s, 6);
	assert_true(file_size(path) >= before + 5 * 1048576);
	store_unlock(s);
	store_close(s);
}

/* store_set_durable switches FULL and NORMAL, never inside a transaction,
 * and commits made either way are all there after a reopen. */
static void
test_set_durable(void **state)
{
	struct fx *f = *state;

	assert_int_equal(tu_qint(db_of(f), "PRAGMA synchronous"), 2);
	assert_int_equal(store_set_durable(f->s, 0), 0);
	assert_int_equal(tu_qint(db_of(f), "PRAGMA synchronous"), 1);
	exec(db_of(f), "BEGIN");
	assert_int_not_equal(store_set_durable(f->s, 1), 0);
	exec(db_of(f), "INSERT INTO local_meta (key, value) VALUES "
	    "('lazy', 1)");
	exec(db_of(f), "COMMIT");
	assert_int_equal(store_set_durable(f->s, 1), 0);
	assert_int_equal(tu_qint(db_of(f), "PRAGMA synchronous"), 2);
	exec(db_of(f), "INSERT INTO local_meta (key, value) VALUES "
	    "('full', 1)");
	reopen(f, 0);
	assert_int_equal(tu_qint(db_of(f), "PRAGMA synchronous"), 2);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_meta "
	    "WHERE key IN ('lazy', 'full')"), 2);
}

static void
test_crash_exit_mid_tx(void **state)
{
	crash_run(*state, CRASH_EXIT);
}

static void
test_crash_kill_mid_tx(void **state)
{
	crash_run(*state, CRASH_KILL);
}

static void
test_crash_kill_after_commit(void **state)
{
	crash_run(*state, CRASH_KILL_AFTER_COMMIT);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_fresh),
		T(test_open_bad_path),
		T(test_write_makes_one_outbox_entry),
		T(test_update_and_delete_captured),
		T(test_seq_and_hlc_increase),
		T(test_append_capture_matches_session),
		T(test_append_capture_many_rows),
		T(test_append_capture_refuses_update),
		T(test_outbox_large_compressed),
		T(test_empty_tx_no_outbox),
		T(test_other_room_refused),
		T(test_device_cannot_write_directory),
		T(test_hub_clock_survives_reopen),
		T(test_observed_clock_survives_reopen),
		T(test_local_tables_not_captured),
		T(test_abort_and_busy),
		T(test_close_with_open_tx),
		T(test_pending_count),
		T(test_disk_full),
		T(test_reopen_keeps_data_and_clock),
		T(test_wrong_key),
		T(test_foreign_file),
		T(test_no_plaintext_on_disk),
		T(test_idle_checkpoint),
		T(test_wal_cap_checkpoint),
		T(test_default_checkpoint),
		T(test_set_durable),
		T(test_crash_exit_mid_tx),
		T(test_crash_kill_mid_tx),
		T(test_crash_kill_after_commit),
	};
#undef T

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
