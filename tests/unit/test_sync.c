/*
 * test_sync.c - the device sync engine's steps that need no network
 * (daemon/sync.h, "for tests"), on a real encrypted store:
 *
 *   - envelope ranges: consecutive entries of one room grouped, limits,
 *     ranges never regrouped once given (stable re-sends), the merged and
 *     signed envelope;
 *   - push answers: applied/duplicate -> acked, refused -> refused;
 *   - a pull: pending local writes are undone, the hub's canonical changes
 *     applied, the pending ones re-applied on top with `applied` recorded;
 *     the replica then equals "hub state + pending", and equals the hub's
 *     exactly once the hub has folded them in;
 *   - refused entries leave the replica but stay readable in the outbox;
 *   - purging a room removes only that room's rows;
 *   - snapshots replace a room and keep pending changes on top;
 *   - a hub change outside its room is refused and nothing is applied;
 *   - backoff, hub URLs, and the engine without a hub (enrolment errors).
 *
 * The "hub" here is a plain SQLite database with the schema; its canonical
 * changesets are captured with a session, as the hub does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>
#include <sqlite3.h>

#include "common/conf.h"
#include "common/keys.h"
#include "daemon/envelope.h"
#include "daemon/reqsig.h"
#include "daemon/roomhash.h"
#include "daemon/store.h"
#include "daemon/sync.h"
#include "daemon/vfs.h"
#include "schema/schema.h"
#include "testutil.h"
#include "tu_sql.h"

#define VFS_NAME "rk-test-sync"
#define ORIGIN "dev-A"
#define T0 INT64_C(1748746800000)

static struct vfs_crypt *g_vfs;

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX + 32];
	struct tu_clock clk;
	struct store *s;
	sqlite3 *hub;		/* the hub's canonical state */
	uint64_t hub_seq;	/* its last log position */
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

/* The first column of the first row as text ("(null)", "(none)"). */
static const char *
qtext(sqlite3 *db, const char *fmt, ...)
{
	static char buf[512];
	sqlite3_stmt *st = NULL;
	va_list ap;
	char *sql;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) != SQLITE_ROW)
		snprintf(buf, sizeof(buf), "(none)");
	else
		snprintf(buf, sizeof(buf), "%s", sqlite3_column_text(st, 0) ?
		    (const char *)sqlite3_column_text(st, 0) : "(null)");
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return buf;
}

static sqlite3 *
schema_db(void)
{
	sqlite3 *db = NULL;
	struct rk_why why = { "" };

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	if (schema_migrate(db, &why) != 0)
		fail_msg("schema_migrate: %s", why.text);
	return db;
}

/* A copy of src in memory. */
static sqlite3 *
copy_db(sqlite3 *src)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b;

	assert_int_equal(sqlite3_open(":memory:", &dst), SQLITE_OK);
	b = sqlite3_backup_init(dst, "main", src, "main");
	assert_non_null(b);
	assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
	assert_int_equal(sqlite3_backup_finish(b), SQLITE_OK);
	return dst;
}

/* One local write through the store's capture; its outbox seq. */
static int64_t
dev_write(struct fx *f, const char *room, const char *sql)
{
	struct store_tx *tx = NULL;
	struct rk_why why = { "" };
	int64_t seq = -1;
	int rc;

	if ((rc = store_tx_begin(f->s, room, &tx)) != 0)
		fail_msg("store_tx_begin: %d", rc);
	exec(db_of(f), sql);
	if ((rc = store_tx_commit(tx, &seq, &why)) != 0)
		fail_msg("store_tx_commit: %d %s", rc, why.text);
	assert_true(seq > 0);
	return seq;
}

/* Runs sql on db with a session attached: the changeset (malloc'd). */
static uint8_t *
capture(sqlite3 *db, const char *sql, size_t *len)
{
	sqlite3_session *sess = NULL;
	void *cs = NULL;
	uint8_t *copy;
	int n = 0;

	assert_int_equal(sqlite3session_create(db, "main", &sess), SQLITE_OK);
	assert_int_equal(sqlite3session_attach(sess, NULL), SQLITE_OK);
	exec(db, sql);
	assert_int_equal(sqlite3session_changeset(sess, &n, &cs), SQLITE_OK);
	sqlite3session_delete(sess);
	copy = malloc(n > 0 ? (size_t)n : 1);
	assert_non_null(copy);
	if (n > 0)
		memcpy(copy, cs, (size_t)n);
	sqlite3_free(cs);
	*len = (size_t)n;
	return copy;
}

/* A pull response built in memory (what pull_decode would give). */
static void
resp_init(struct pull_response *r, uint64_t next, uint64_t head)
{
	memset(r, 0, sizeof(*r));
	r->next_cursor = next;
	r->head = head;
}

static void
resp_add(struct pull_response *r, uint64_t hub_seq, const char *room,
    uint8_t *cs, size_t len)
{
	struct pull_entry *e;

	r->entries = realloc(r->entries, (r->count + 1) * sizeof(*e));
	assert_non_null(r->entries);
	e = &r->entries[r->count++];
	memset(e, 0, sizeof(*e));
	e->hub_seq = hub_seq;
	snprintf(e->room, sizeof(e->room), "%s", room);
	e->changeset = cs;	/* freed by pull_response_release */
	e->changeset_len = len;
}

/* The hub makes a change to room: a pull response entry for it. */
static void
hub_change(struct fx *f, struct pull_response *r, const char *room,
    const char *sql)
{
	size_t len;
	uint8_t *cs = capture(f->hub, sql, &len);

	resp_add(r, ++f->hub_seq, room, cs, len);
}

static void
apply_ok(struct fx *f, struct sync_batch *b)
{
	struct rk_why why = { "" };
	int rc = sync_apply_batch(db_of(f), b, &why);

	if (rc != 0)
		fail_msg("sync_apply_batch: %d %s", rc, why.text);
	assert_int_equal(sqlite3_get_autocommit(db_of(f)), 1);
}

/* Pulls r: cursor and head from it; the entries it left in place (the
 * echo of this device's own) into *echoed. */
static void
pull_echo(struct fx *f, struct pull_response *r, size_t *echoed)
{
	struct sync_batch b;

	memset(&b, 0, sizeof(b));
	b.pull = r;
	b.set_cursor = 1;
	b.cursor = r->next_cursor;
	b.head = r->head;
	apply_ok(f, &b);
	*echoed = b.echoed;
}

static void
pull(struct fx *f, struct pull_response *r)
{
	size_t echoed;

	pull_echo(f, r, &echoed);
}

/* A pull that brings nothing new. */
static void
pull_nothing(struct fx *f)
{
	struct pull_response r;
	int64_t cur = tu_qint(db_of(f), "SELECT coalesce((SELECT value FROM"
	    " local_meta WHERE key = 'sync_cursor'), 0)");

	resp_init(&r, (uint64_t)cur, f->hub_seq);
	pull(f, &r);
}

static void
hash_of(sqlite3 *db, const char *room, char out[65])
{
	if (roomhash_compute(db, room, out) != 0)
		fail_msg("roomhash_compute %s", room);
}

static void
assert_same_room(sqlite3 *a, sqlite3 *b, const char *room)
{
	char ha[65], hb[65];

	hash_of(a, room, ha);
	hash_of(b, room, hb);
	if (strcmp(ha, hb) != 0)
		fail_msg("room %s differs", room);
}

static int64_t
cursor_of(struct fx *f)
{
	return tu_qint(db_of(f), "SELECT coalesce((SELECT value FROM local_meta"
	    " WHERE key = 'sync_cursor'), -1)");
}

#define ROOM_R1 \
	"INSERT INTO rooms VALUES ('r1', 'patient', 'Sato', 'active', NULL,"  \
	" 'dr', 1, 1);"							      \
	"INSERT INTO memberships VALUES ('r1', 'ns', 'member', 'active',"     \
	" 'dr', 1, 1);"							      \
	"INSERT INTO patients (room_id, name, hlc) VALUES ('r1', 'Sato', 1);" \
	"INSERT INTO posts VALUES ('r1', 'p0', 'dr', 1, 'welcome', NULL, 1);"

#define ROOM_R2 \
	"INSERT INTO rooms VALUES ('r2', 'patient', 'Ito', 'active', NULL,"   \
	" 'dr', 1, 1);"							      \
	"INSERT INTO memberships VALUES ('r2', 'ns', 'member', 'active',"     \
	" 'dr', 1, 1);"							      \
	"INSERT INTO posts VALUES ('r2', 'q0', 'dr', 1, 'hello', NULL, 1);"

/* The hub creates the directory and rooms r1, r2; the device pulls. */
static void
start_in_step(struct fx *f)
{
	struct pull_response r;

	resp_init(&r, 0, 0);
	hub_change(f, &r, "", "INSERT INTO agencies VALUES ('ag', 'Clinic',"
	    " 'clinic', 1); INSERT INTO staff (id, agency_id, name,"
	    " profession, hlc) VALUES ('ns', 'ag', 'Nurse', 'nurse', 1)");
	hub_change(f, &r, "r1", ROOM_R1);
	hub_change(f, &r, "r2", ROOM_R2);
	r.next_cursor = r.head = f->hub_seq;
	pull(f, &r);
	pull_response_release(&r);
	assert_same_room(db_of(f), f->hub, "");
	assert_same_room(db_of(f), f->hub, "r1");
	assert_same_room(db_of(f), f->hub, "r2");
	assert_int_equal(cursor_of(f), 3);
}

/* A push answer for one range. */
static void
answer(struct fx *f, int64_t first, int64_t last, const char *status,
    int64_t hub_seq, const char *reason, int64_t want_refused)
{
	struct rk_why why = { "" };
	json_t *a = json_pack("{s:[{s:s, s:I, s:I, s:s, s:I, s:s?}], s:b}",
	    "results", "origin", ORIGIN, "seq_first", (json_int_t)first,
	    "seq_last", (json_int_t)last, "status", status, "hub_seq",
	    (json_int_t)hub_seq, "reason", reason, "root", 1);
	char first_reason[128];
	int64_t refused = -1, deferred = -1;
	int rc;

	assert_non_null(a);
	rc = sync_push_results(db_of(f), a, &refused, &deferred, first_reason,
	    sizeof(first_reason), &why);
	if (rc != 0)
		fail_msg("sync_push_results: %d %s", rc, why.text);
	assert_int_equal(refused, want_refused);
	assert_int_equal(deferred, 0);
	if (want_refused > 0)
		assert_string_equal(first_reason, reason);
	json_decref(a);
}

static void
assign(struct fx *f, size_t max_entries, size_t max_raw)
{
	assert_int_equal(sync_assign_ranges(db_of(f), max_entries, max_raw),
	    0);
}

/* What the next push (or pull) does first: answers onto their entries. */
static void
settle(struct fx *f)
{
	assert_int_equal(sync_settle(db_of(f)), 0);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM"
	    " local_outbox_envelopes WHERE settled = 0"), 0);
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
	sodium_memzero(key, sizeof(key));
	return 0;
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
	tu_tmpdir(f->dir, sizeof(f->dir), "sync");
	snprintf(f->path, sizeof(f->path), "%s/replica.db", f->dir);
	tu_clock_init(&f->clk, T0, tu_seed());
	memset(&o, 0, sizeof(o));
	o.path = f->path;
	o.vfs = VFS_NAME;
	o.origin = ORIGIN;
	o.clock = &f->clk.clock;
	if (store_open(&o, &f->s, &why) != 0) {
		fprintf(stderr, "store_open: %s\n", why.text);
		return -1;
	}
	f->hub = schema_db();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	sqlite3_close(f->hub);
	if (tu_rm_rf(f->dir) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

/* --- envelope ranges ------------------------------------------------------ */

static void
test_ranges_group_room_entries(void **state)
{
	struct fx *f = *state;
	struct sync_range *r = NULL;
	size_t n = 0;

	start_in_step(f);
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'a', 'ns', 2, 'a',"
	    " NULL, 2)");
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'b', 'ns', 2, 'b',"
	    " NULL, 2)");
	dev_write(f, "r1", "UPDATE posts SET body = 'b2' WHERE id = 'b'");
	dev_write(f, "r2", "INSERT INTO posts VALUES ('r2', 'c', 'ns', 2, 'c',"
	    " NULL, 2)");
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'd', 'ns', 2, 'd',"
	    " NULL, 2)");
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	assert_int_equal(sync_pending_ranges(db_of(f), &r, &n), 0);
	/* One envelope per room: r1's entries 1, 2, 3 and 5 go together
	 * although r2's entry 4 lies between them. */
	assert_int_equal(n, 2);
	assert_int_equal(r[0].first, 1);
	assert_int_equal(r[0].last, 5);
	assert_string_equal(r[0].room, "r1");
	assert_string_equal(r[0].origin, ORIGIN);
	assert_int_equal(r[1].first, 4);
	assert_int_equal(r[1].last, 4);
	assert_string_equal(r[1].room, "r2");
	free(r);
	/* One row per envelope, none per entry. */
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM"
	    " local_outbox_envelopes"), 2);
	assert_string_equal(qtext(db_of(f), "SELECT group_concat(env_first ||"
	    " '-' || env_last || ':' || room_id || ':' || answered, ' ') FROM"
	    " (SELECT * FROM local_outbox_envelopes ORDER BY env_first)"),
	    "1-5:r1:0 4-4:r2:0");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE env_first IS NOT NULL"), 0);

	/* Ranges once given never change: later entries get their own. */
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'e', 'ns', 2, 'e',"
	    " NULL, 2)");
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'g', 'ns', 2, 'g',"
	    " NULL, 2)");
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	assign(f, 1, 1);	/* nothing left to assign: no effect */
	assert_int_equal(sync_pending_ranges(db_of(f), &r, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].first, 1);
	assert_int_equal(r[0].last, 5);
	assert_int_equal(r[2].first, 6);
	assert_int_equal(r[2].last, 7);
	assert_string_equal(r[2].room, "r1");
	free(r);
	/* Every pending entry lies in a range now. */
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'pending' AND seq > (SELECT max(env_last) FROM"
	    " local_outbox_envelopes)"), 0);

	/* An acked range is no longer sent; the others stay as they were. */
	answer(f, 1, 5, "applied", 9, NULL, 0);
	assert_int_equal(sync_pending_ranges(db_of(f), &r, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].first, 4);
	assert_int_equal(r[1].first, 6);
	free(r);
	assert_int_equal(tu_qint(db_of(f), "SELECT answered FROM"
	    " local_outbox_envelopes WHERE env_first = 1"), 1);
	/* The answer is on the envelope's row; its entries wait for
	 * nothing, and take it when settled. */
	assert_string_equal(qtext(db_of(f), "SELECT result || ':' || hub_seq"
	    " || ':' || settled FROM local_outbox_envelopes WHERE env_first ="
	    " 1"), "acked:9:0");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM"
	    " local_outbox_waiting"), 3);
	settle(f);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'acked' AND acked_hub_seq = 9"), 4);
	/* An answer about a range this device never gave changes nothing. */
	answer(f, 2, 3, "applied", 10, NULL, 0);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'acked'"), 4);
	assert_int_equal(sync_pending_ranges(db_of(f), &r, &n), 0);
	assert_int_equal(n, 2);
	free(r);
}

/*
 * An entry of the room refused before its range was given (its room was
 * purged meanwhile; here set by hand) lies inside the range but is not in
 * the envelope: only the pending entries of the room go.
 */
static void
test_envelope_skips_entry_refused_before(void **state)
{
	struct fx *f = *state;
	struct sync_range *r = NULL;
	struct buf b = BUF_INIT;
	struct envelope e;
	sqlite3_changeset_iter *it = NULL;
	uint8_t pk[32], sk[64];
	size_t n = 0;
	int changes = 0;

	crypto_sign_keypair(pk, sk);
	start_in_step(f);
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'a', 'ns', 2, 'a',"
	    " NULL, 2)");
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'b', 'ns', 2, 'b',"
	    " NULL, 2)");
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'c', 'ns', 2, 'c',"
	    " NULL, 2)");
	exec(db_of(f), "UPDATE local_outbox SET status = 'refused',"
	    " refused_reason = 'test' WHERE seq = 2");
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	assert_int_equal(sync_pending_ranges(db_of(f), &r, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].first, 1);
	assert_int_equal(r[0].last, 3);
	assert_int_equal(sync_build_envelope(db_of(f), &r[0], sk, &b), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(envelope_decode(b.data, b.len, pk, &e), 0);
	assert_int_equal(sqlite3changeset_start(&it, (int)e.changeset_len,
	    e.changeset), SQLITE_OK);
	while (sqlite3changeset_next(it) == SQLITE_ROW) {
		sqlite3_value *v = NULL;
		const char *id;

		assert_int_equal(sqlite3changeset_new(it, 1, &v), SQLITE_OK);
		id = (const char *)sqlite3_value_text(v);
		assert_non_null(id);
		assert_string_not_equal(id, "b");
		changes++;
	}
	assert_int_equal(sqlite3changeset_finalize(it), SQLITE_OK);
	assert_int_equal(changes, 2);
	/* Acked, the refused entry stays refused. */
	answer(f, 1, 3, "applied", 9, NULL, 0);
	settle(f);
	assert_string_equal(qtext(db_of(f), "SELECT group_concat(status, ' ')"
	    " FROM (SELECT status FROM local_outbox ORDER BY seq)"),
	    "acked refused acked");
	envelope_release(&e);
	buf_release(&b);
	free(r);
}

static void
test_ranges_limits(void **state)
{
	struct fx *f = *state;
	struct sync_range *r = NULL;
	size_t n = 0;
	int i;
	char sql[128];

	start_in_step(f);
	for (i = 0; i < 5; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO posts VALUES ('r1',"
		    " 'x%d', 'ns', 2, 'body', NULL, 2)", i);
		dev_write(f, "r1", sql);
	}
	assign(f, 2, SYNC_ENV_MAX_RAW);
	assert_int_equal(sync_pending_ranges(db_of(f), &r, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].last - r[0].first, 1);
	assert_int_equal(r[1].last - r[1].first, 1);
	assert_int_equal(r[2].first, 5);
	assert_int_equal(r[2].last, 5);
	free(r);

	/* A byte limit smaller than one entry: one entry per envelope. */
	for (i = 5; i < 8; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO posts VALUES ('r1',"
		    " 'x%d', 'ns', 2, 'body', NULL, 2)", i);
		dev_write(f, "r1", sql);
	}
	assign(f, 100, 10);
	assert_int_equal(sync_pending_ranges(db_of(f), &r, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(r[3].first, 6);
	assert_int_equal(r[3].last, 6);
	assert_int_equal(r[5].first, 8);
	free(r);
}

/* The envelope carries the merged range, signed by the device key. */
static void
test_envelope_merges_range(void **state)
{
	struct fx *f = *state;
	struct sync_range *r = NULL;
	struct buf b = BUF_INIT;
	struct envelope e;
	uint8_t pk[32], sk[64];
	size_t n = 0;
	sqlite3 *copy;

	crypto_sign_keypair(pk, sk);
	start_in_step(f);
	copy = copy_db(db_of(f));	/* the state the hub has */
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'a', 'ns', 2, 'a',"
	    " NULL, 2)");
	dev_write(f, "r1", "UPDATE posts SET body = 'a2' WHERE id = 'a'");
	dev_write(f, "r1", "UPDATE patients SET phone = '090'");
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	assert_int_equal(sync_pending_ranges(db_of(f), &r, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sync_build_envelope(db_of(f), &r[0], sk, &b), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(envelope_decode(b.data, b.len, pk, &e), 0);
	assert_string_equal(e.origin, ORIGIN);
	assert_string_equal(e.room, "r1");
	assert_int_equal(e.seq_first, 1);
	assert_int_equal(e.seq_last, 3);
	assert_int_equal(e.schema_version, schema_version());
	assert_int_equal(e.hlc, (uint64_t)tu_qint(db_of(f), "SELECT hlc FROM"
	    " local_outbox WHERE seq = 3"));
	/* Applied to the hub's state it gives the device's. */
	assert_int_equal(sqlite3changeset_apply(copy, (int)e.changeset_len,
	    e.changeset, NULL, NULL, NULL), SQLITE_OK);
	assert_same_room(copy, db_of(f), "r1");
	assert_string_equal(qtext(copy, "SELECT body FROM posts WHERE id ="
	    " 'a'"), "a2");
	/* Not signed by this key: refused. */
	crypto_sign_keypair(pk, sk);
	envelope_release(&e);
	assert_int_equal(envelope_decode(b.data, b.len, pk, &e), RK_EAUTH);
	envelope_release(&e);
	buf_release(&b);
	free(r);
	sqlite3_close(copy);
}

/*
 * A room's envelope holds its entries although other rooms' entries lie
 * between them: r1's posts around r2's both go out, each envelope builds,
 * and applied to the hub's state they give the device's rooms.
 */
static void
test_envelope_interleaved_rooms(void **state)
{
	struct fx *f = *state;
	struct sync_range *r = NULL;
	struct envelope e;
	uint8_t pk[32], sk[64];
	size_t n = 0, i;
	sqlite3 *copy;

	crypto_sign_keypair(pk, sk);
	start_in_step(f);
	copy = copy_db(db_of(f));
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'a', 'ns', 2, 'a',"
	    " NULL, 2)");
	dev_write(f, "r2", "INSERT INTO posts VALUES ('r2', 'b', 'ns', 2, 'b',"
	    " NULL, 2)");
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'c', 'ns', 2, 'c',"
	    " NULL, 2)");
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	assert_int_equal(sync_pending_ranges(db_of(f), &r, &n), 0);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		struct buf b = BUF_INIT;

		assert_int_equal(sync_build_envelope(db_of(f), &r[i], sk, &b),
		    0);
		memset(&e, 0, sizeof(e));
		assert_int_equal(envelope_decode(b.data, b.len, pk, &e), 0);
		assert_string_equal(e.room, r[i].room);
		assert_int_equal(sqlite3changeset_apply(copy,
		    (int)e.changeset_len, e.changeset, NULL, NULL, NULL),
		    SQLITE_OK);
		envelope_release(&e);
		buf_release(&b);
	}
	assert_same_room(copy, db_of(f), "r1");
	assert_same_room(copy, db_of(f), "r2");
	assert_int_equal(tu_qint(copy, "SELECT count(*) FROM posts WHERE id IN"
	    " ('a', 'b', 'c')"), 3);
	/* Built together in one walk, byte for byte as one by one. */
	{
		struct buf one = BUF_INIT, all = BUF_INIT;
		size_t lens[2];

		for (i = 0; i < n; i++)
			assert_int_equal(sync_build_envelope(db_of(f), &r[i],
			    sk, &one), 0);
		assert_int_equal(sync_build_envelopes(db_of(f), r, n, sk,
		    &all, lens), 0);
		assert_int_equal(all.len, one.len);
		assert_int_equal(lens[0] + lens[1], all.len);
		assert_memory_equal(all.data, one.data, all.len);
		buf_release(&one);
		buf_release(&all);
	}
	free(r);
	sqlite3_close(copy);
}

/* --- push answers ---------------------------------------------------------- */

static void
test_push_results(void **state)
{
	struct fx *f = *state;
	struct rk_why why = { "" };
	json_t *bad;
	int64_t refused, deferred;

	start_in_step(f);
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'a', 'ns', 2, 'a',"
	    " NULL, 2)");
	dev_write(f, "r2", "INSERT INTO posts VALUES ('r2', 'b', 'ns', 2, 'b',"
	    " NULL, 2)");
	/* A third room: each entry is a range of its own. */
	dev_write(f, "r3", "INSERT INTO posts VALUES ('r3', 'c', 'ns', 2, 'c',"
	    " NULL, 2)");
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	answer(f, 1, 1, "duplicate", 7, NULL, 0);
	answer(f, 2, 2, "refused", 0, "not a member of r2", 1);
	/* A range that was never sent like this changes nothing. */
	answer(f, 3, 4, "applied", 8, NULL, 0);
	answer(f, 1, 1, "refused", 0, "late", 0);	/* already acked */
	settle(f);
	assert_string_equal(qtext(db_of(f), "SELECT status || ':' ||"
	    " acked_hub_seq FROM local_outbox WHERE seq = 1"), "acked:7");
	assert_string_equal(qtext(db_of(f), "SELECT status || ':' ||"
	    " refused_reason FROM local_outbox WHERE seq = 2"),
	    "refused:not a member of r2");
	assert_string_equal(qtext(db_of(f), "SELECT status FROM local_outbox"
	    " WHERE seq = 3"), "pending");

	/* A refusal the hub did not record ("retry"): still pending. */
	bad = json_pack("{s:[{s:s, s:i, s:i, s:s, s:s, s:b}]}", "results",
	    "origin", ORIGIN, "seq_first", 3, "seq_last", 3, "status",
	    "refused", "reason", "unknown schema version 9", "retry", 1);
	{
		char reason[64];

		assert_int_equal(sync_push_results(db_of(f), bad, &refused,
		    &deferred, reason, sizeof(reason), &why), 0);
		assert_int_equal(refused, 0);
		assert_int_equal(deferred, 1);
		assert_string_equal(reason, "unknown schema version 9");
	}
	json_decref(bad);
	assert_string_equal(qtext(db_of(f), "SELECT status FROM local_outbox"
	    " WHERE seq = 3"), "pending");
	assert_string_equal(qtext(db_of(f), "SELECT env_first || '-' ||"
	    " env_last || ':' || answered FROM local_outbox_envelopes WHERE"
	    " env_first = 3"), "3-3:0");

	bad = json_pack("{s:[{s:s, s:i, s:i, s:s}]}", "results", "origin",
	    ORIGIN, "seq_first", 3, "seq_last", 3, "status", "maybe");
	assert_int_equal(sync_push_results(db_of(f), bad, &refused, &deferred,
	    NULL, 0, &why), RK_EPROTO);
	json_decref(bad);
	bad = json_pack("{s:s}", "error", "x");
	assert_int_equal(sync_push_results(db_of(f), bad, &refused, &deferred,
	    NULL, 0, &why), RK_EPROTO);
	json_decref(bad);
	assert_int_equal(sqlite3_get_autocommit(db_of(f)), 1);
	assert_string_equal(qtext(db_of(f), "SELECT status FROM local_outbox"
	    " WHERE seq = 3"), "pending");
}

/* A nurse's rounds interleave rooms: r1's envelope 1..4 spans r2's entry
 * 2, and each answer decides its own envelope's entries only; one
 * malformed result in an answer leaves every entry as it was. */
static void
test_push_results_interleaved(void **state)
{
	struct fx *f = *state;
	struct rk_why why = { "" };
	json_t *a;
	int64_t refused, deferred;
	char reason[64];

	start_in_step(f);
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'a', 'ns', 2, 'a',"
	    " NULL, 2)");
	dev_write(f, "r2", "INSERT INTO posts VALUES ('r2', 'b', 'ns', 2, 'b',"
	    " NULL, 2)");
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'c', 'ns', 2, 'c',"
	    " NULL, 2)");
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'd', 'ns', 2, 'd',"
	    " NULL, 2)");
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	assert_string_equal(qtext(db_of(f), "SELECT group_concat(env_first ||"
	    " '-' || env_last || ':' || room_id, ' ') FROM (SELECT * FROM"
	    " local_outbox_envelopes ORDER BY env_first)"), "1-4:r1 2-2:r2");

	/* r2's envelope acked, then a malformed second result: rolled
	 * back whole. */
	a = json_pack("{s:[{s:s, s:i, s:i, s:s, s:i}, {s:s, s:i}]}",
	    "results", "origin", ORIGIN, "seq_first", 2, "seq_last", 2,
	    "status", "applied", "hub_seq", 9, "origin", ORIGIN,
	    "seq_first", 1);
	assert_non_null(a);
	assert_int_equal(sync_push_results(db_of(f), a, &refused, &deferred,
	    reason, sizeof(reason), &why), RK_EPROTO);
	json_decref(a);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'pending'"), 4);

	/* r1's envelope refused: its three entries, not r2's in between. */
	a = json_pack("{s:[{s:s, s:i, s:i, s:s, s:s}, {s:s, s:i, s:i, s:s,"
	    " s:i}]}", "results", "origin", ORIGIN, "seq_first", 1,
	    "seq_last", 4, "status", "refused", "reason", "room r1 is archived",
	    "origin", ORIGIN, "seq_first", 2, "seq_last", 2, "status",
	    "applied", "hub_seq", 9);
	assert_non_null(a);
	assert_int_equal(sync_push_results(db_of(f), a, &refused, &deferred,
	    reason, sizeof(reason), &why), 0);
	json_decref(a);
	assert_int_equal(refused, 3);
	assert_int_equal(deferred, 0);
	assert_string_equal(reason, "room r1 is archived");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'refused' AND room_id = 'r1' AND refused_reason ="
	    " 'room r1 is archived'"), 3);
	settle(f);
	assert_string_equal(qtext(db_of(f), "SELECT status || ':' ||"
	    " acked_hub_seq FROM local_outbox WHERE seq = 2"), "acked:9");
	assert_int_equal(sqlite3_get_autocommit(db_of(f)), 1);
}

/* --- pull: undo, apply, re-apply ------------------------------------------- */

#define DEV_POST \
	"INSERT INTO posts VALUES ('r1', 'pd', 'ns', 2, 'mine', NULL, 2)"
#define DEV_CARD \
	"INSERT INTO emergency_cards (room_id, allergies, updated_by,"	\
	" updated_at, hlc) VALUES ('r1', 'none', 'ns', 2, 2)"
#define DEV_PHONE "UPDATE patients SET phone = '090' WHERE room_id = 'r1'"
/* What the hub does when it applies the device's envelope: the card
 * both created, the hub's later one (hlc 3) keeps its allergies (the
 * device's 'none' goes into an insert_differs record, written by the
 * hub only; conflict/merge.h rule 9). */
#define HUB_FOLDS_DEVICE DEV_POST "; " DEV_PHONE

static void
test_pull_keeps_pending_on_top(void **state)
{
	struct fx *f = *state;
	struct pull_response r;
	sqlite3 *want;
	char before[65], after[65];

	start_in_step(f);
	dev_write(f, "r1", DEV_POST);
	dev_write(f, "r1", DEV_CARD);
	dev_write(f, "r1", DEV_PHONE);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE applied IS NULL"), 3);

	/* Someone else's work reaches the hub first; it touches the same
	 * card (a conflict) and the same patient row (other column). */
	resp_init(&r, 0, 0);
	hub_change(f, &r, "r1", "INSERT INTO posts VALUES ('r1', 'ph', 'dr',"
	    " 3, 'theirs', NULL, 3); INSERT INTO emergency_cards (room_id,"
	    " allergies, updated_by, updated_at, hlc) VALUES ('r1',"
	    " 'penicillin', 'dr', 3, 3); UPDATE patients SET address = 'Mito'"
	    " WHERE room_id = 'r1'");
	hub_change(f, &r, "", "UPDATE staff SET phone = '029' WHERE id = 'ns'");
	r.next_cursor = r.head = f->hub_seq;
	pull(f, &r);
	pull_response_release(&r);
	assert_int_equal(cursor_of(f), 5);

	/* hub state + pending on top, as the hub's rules would decide */
	want = copy_db(f->hub);
	exec(want, HUB_FOLDS_DEVICE);
	assert_same_room(db_of(f), want, "r1");
	assert_same_room(db_of(f), f->hub, "");
	assert_same_room(db_of(f), f->hub, "r2");
	assert_string_equal(qtext(db_of(f), "SELECT address || ',' || phone"
	    " FROM patients"), "Mito,090");
	assert_string_equal(qtext(db_of(f), "SELECT allergies FROM"
	    " emergency_cards"), "penicillin");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE"
	    " room_id = 'r1'"), 3);
	/* A device predicts, it writes no conflict record. */
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM conflicts"), 0);
	/* What re-applying really did is kept for the next undo (the card
	 * changed nothing). */
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE length(applied) > 0 AND status = 'pending'"), 2);
	/* Nothing of this went to the outbox. */
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"), 3);

	/* Undo and re-apply again with nothing new: the same state. */
	hash_of(db_of(f), "r1", before);
	pull_nothing(f);
	pull_nothing(f);
	hash_of(db_of(f), "r1", after);
	assert_string_equal(before, after);

	/* The hub acks at seq 6 but the device has not pulled it yet: the
	 * changes stay on top. */
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	answer(f, 1, 3, "applied", 6, NULL, 0);
	pull_nothing(f);
	assert_same_room(db_of(f), want, "r1");

	/* The hub's canonical version arrives: the replica is the hub's. */
	resp_init(&r, 0, 0);
	hub_change(f, &r, "r1", HUB_FOLDS_DEVICE);
	assert_int_equal(f->hub_seq, 6);
	r.next_cursor = r.head = 6;
	pull(f, &r);
	pull_response_release(&r);
	assert_same_room(db_of(f), f->hub, "r1");
	assert_same_room(db_of(f), want, "r1");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE applied IS NULL OR length(applied) > 0"), 0);
	pull_nothing(f);
	assert_same_room(db_of(f), f->hub, "r1");
	sqlite3_close(want);
}

/* Several pending edits of one row undo and redo exactly (LIFO). */
static void
test_undo_is_exact(void **state)
{
	struct fx *f = *state;
	struct pull_response r;
	sqlite3 *want;

	start_in_step(f);
	dev_write(f, "r1", DEV_POST);
	dev_write(f, "r1", "UPDATE posts SET body = 'edited' WHERE id = 'pd'");
	dev_write(f, "r1", "UPDATE posts SET deleted_at = 9 WHERE id = 'pd'");
	dev_write(f, "r1", "DELETE FROM memberships WHERE room_id = 'r1' AND"
	    " staff_id = 'ns'");
	/* The hub deletes the welcome post the device has not touched and
	 * changes the membership the device deleted. */
	resp_init(&r, 0, 0);
	hub_change(f, &r, "r1", "UPDATE posts SET deleted_at = 5 WHERE id ="
	    " 'p0'; UPDATE memberships SET role = 'lead' WHERE room_id = 'r1'"
	    " AND staff_id = 'ns'");
	r.next_cursor = r.head = f->hub_seq;
	pull(f, &r);
	pull_response_release(&r);
	want = copy_db(f->hub);
	/* The hub's rules refuse the edit of a post's text (append-only)
	 * and the hard delete of a membership: predicted, those entries stay
	 * un-applied and say why; the soft delete applies. */
	exec(want, "INSERT INTO posts VALUES ('r1', 'pd', 'ns', 2, 'mine',"
	    " 9, 2)");
	assert_same_room(db_of(f), want, "r1");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE predicted_refusal IS NOT NULL"), 2);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE predicted_refusal LIKE '%%append-only%%'"), 1);
	pull_nothing(f);
	assert_same_room(db_of(f), want, "r1");
	sqlite3_close(want);
}

/* --- push answers on the envelopes, settled later ------------------------- */

static int64_t
pending_of(struct fx *f)
{
	int64_t n = -1;

	assert_int_equal(store_pending_count(f->s, &n), 0);
	return n;
}

/* Closes the store without the pull that would follow, and opens it again:
 * what a crash between a push's answer and its pull leaves. */
static void
reopen(struct fx *f)
{
	struct store_opts o;
	struct rk_why why = { "" };

	store_close(f->s);
	f->s = NULL;
	memset(&o, 0, sizeof(o));
	o.path = f->path;
	o.vfs = VFS_NAME;
	o.origin = ORIGIN;
	o.clock = &f->clk.clock;
	if (store_open(&o, &f->s, &why) != 0)
		fail_msg("store_open: %s", why.text);
}

/*
 * The hub takes every envelope waiting as it is, at its next seqs: *echo
 * gets them as the next pull brings them back, and the answer returned
 * (json_decref) acks each.
 */
static json_t *
hub_takes_all(struct fx *f, struct pull_response *echo)
{
	struct sync_range *rg = NULL;
	json_t *results = json_array();
	uint8_t pk[32], sk[64];
	size_t n = 0, i;

	assert_non_null(results);
	crypto_sign_keypair(pk, sk);
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	assert_int_equal(sync_pending_ranges(db_of(f), &rg, &n), 0);
	resp_init(echo, 0, 0);
	for (i = 0; i < n; i++) {
		struct buf b = BUF_INIT;
		struct envelope e;
		uint8_t *cs;

		assert_int_equal(sync_build_envelope(db_of(f), &rg[i], sk, &b),
		    0);
		memset(&e, 0, sizeof(e));
		assert_int_equal(envelope_decode(b.data, b.len, pk, &e), 0);
		assert_int_equal(sqlite3changeset_apply(f->hub,
		    (int)e.changeset_len, e.changeset, NULL, NULL, NULL),
		    SQLITE_OK);
		cs = malloc(e.changeset_len ? e.changeset_len : 1);
		assert_non_null(cs);
		memcpy(cs, e.changeset, e.changeset_len);
		resp_add(echo, ++f->hub_seq, rg[i].room, cs, e.changeset_len);
		assert_int_equal(json_array_append_new(results, json_pack(
		    "{s:s, s:I, s:I, s:s, s:I}", "origin", ORIGIN, "seq_first",
		    (json_int_t)rg[i].first, "seq_last", (json_int_t)rg[i].last,
		    "status", "applied", "hub_seq", (json_int_t)f->hub_seq)),
		    0);
		envelope_release(&e);
		buf_release(&b);
	}
	echo->next_cursor = echo->head = f->hub_seq;
	free(rg);
	return json_pack("{s:o, s:b}", "results", results, "root", 1);
}

static void
push_answer(struct fx *f, json_t *ans)
{
	struct rk_why why = { "" };
	int64_t refused = -1, deferred = -1;

	if (sync_push_results(db_of(f), ans, &refused, &deferred, NULL, 0,
	    &why) != 0)
		fail_msg("sync_push_results: %s", why.text);
	assert_int_equal(refused, 0);
	assert_int_equal(deferred, 0);
	json_decref(ans);
}

/* Two rooms' rounds, interleaved: r1 gets 1, 3, 5 and r2 2, 4. */
static void
write_rounds(struct fx *f)
{
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'a', 'ns', 2, 'a',"
	    " NULL, 2)");
	dev_write(f, "r2", "INSERT INTO posts VALUES ('r2', 'b', 'ns', 2, 'b',"
	    " NULL, 2)");
	dev_write(f, "r1", "UPDATE posts SET deleted_at = 5 WHERE id = 'a'");
	dev_write(f, "r2", "UPDATE posts SET deleted_at = 6 WHERE id = 'b'");
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'c', 'ns', 2, 'c',"
	    " NULL, 2)");
}

/*
 * The answer goes on the envelopes' rows and no entry row is written;
 * nothing reads the entries as waiting any more, and the echo gives each
 * entry its ack in the one rewrite it makes anyway.
 */
static void
test_answer_on_envelopes_only(void **state)
{
	struct fx *f = *state;
	struct pull_response echo;
	struct sync_range *rg = NULL;
	json_t *ans, *room = NULL;
	struct rk_why why = { "" };
	size_t n = 9, echoed = 0;
	int before;

	start_in_step(f);
	write_rounds(f);
	assert_int_equal(pending_of(f), 5);
	ans = hub_takes_all(f, &echo);
	before = sqlite3_total_changes(db_of(f));
	push_answer(f, ans);
	/* Two rows written: the envelopes', none of the five entries'. */
	assert_int_equal(sqlite3_total_changes(db_of(f)) - before, 2);
	assert_string_equal(qtext(db_of(f), "SELECT group_concat(env_first ||"
	    " '-' || env_last || ':' || answered || ':' || result || ':' ||"
	    " hub_seq || ':' || settled, ' ') FROM (SELECT * FROM"
	    " local_outbox_envelopes ORDER BY env_first)"),
	    "1-5:1:acked:4:0 2-4:1:acked:5:0");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'pending' AND acked_hub_seq IS NULL AND applied IS"
	    " NULL"), 5);
	/* Read as answered everywhere: nothing waits, nothing goes again. */
	assert_int_equal(pending_of(f), 0);
	assert_int_equal(sync_room_hash(f->s, "r1", &room, &why), 0);
	assert_int_equal(json_integer_value(json_object_get(room, "pending")),
	    0);
	json_decref(room);
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	assert_int_equal(sync_pending_ranges(db_of(f), &rg, &n), 0);
	assert_int_equal(n, 0);
	free(rg);

	/* The echo: each entry rewritten once, acked and out of effect in
	 * the same UPDATE; then the envelopes are settled, and the cursor
	 * and head saved. */
	before = sqlite3_total_changes(db_of(f));
	pull_echo(f, &echo, &echoed);
	pull_response_release(&echo);
	assert_int_equal(echoed, 5);
	assert_int_equal(sqlite3_total_changes(db_of(f)) - before, 5 + 2 + 2);
	assert_string_equal(qtext(db_of(f), "SELECT group_concat(status || ':'"
	    " || acked_hub_seq || ':' || length(applied), ' ') FROM (SELECT *"
	    " FROM local_outbox ORDER BY seq)"),
	    "acked:4:0 acked:5:0 acked:4:0 acked:5:0 acked:4:0");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM"
	    " local_outbox_envelopes WHERE settled = 0"), 0);
	assert_int_equal(pending_of(f), 0);
	assert_same_room(db_of(f), f->hub, "r1");
	assert_same_room(db_of(f), f->hub, "r2");
	/* Settling again finds nothing to do. */
	before = sqlite3_total_changes(db_of(f));
	settle(f);
	assert_int_equal(sqlite3_total_changes(db_of(f)) - before, 0);
}

/* Moves src's entries to the end of dst (src left empty). */
static void
resp_move(struct pull_response *dst, struct pull_response *src)
{
	size_t i;

	for (i = 0; i < src->count; i++)
		resp_add(dst, src->entries[i].hub_seq, src->entries[i].room,
		    src->entries[i].changeset, src->entries[i].changeset_len);
	free(src->entries);
	src->entries = NULL;
	src->count = 0;
}

/*
 * The echo may come with others' changes: a directory change before the
 * envelopes, and a change of r2 after this device's own of r2, are taken
 * after its own (rooms share no rows) and the entries stay as they are.
 * A change of r1 before its own of r1 cannot be: the general way then.
 * Either way every room ends as the hub's.
 */
static void
echo_with_others(struct fx *f, int other_first_in_r1)
{
	struct pull_response pre, echo, post, all;
	json_t *ans;
	size_t echoed = 9;

	start_in_step(f);
	write_rounds(f);
	resp_init(&pre, 0, 0);
	hub_change(f, &pre, "", "INSERT INTO agencies VALUES ('ag2',"
	    " 'Clinic 2', 'clinic', 3)");
	if (other_first_in_r1)
		hub_change(f, &pre, "r1", "INSERT INTO posts VALUES ('r1',"
		    " 'x', 'dr', 3, 'before', NULL, 3)");
	ans = hub_takes_all(f, &echo);
	push_answer(f, ans);
	resp_init(&post, 0, 0);
	hub_change(f, &post, "r2", "INSERT INTO posts VALUES ('r2', 'y', 'dr',"
	    " 9, 'after', NULL, 9)");
	resp_init(&all, f->hub_seq, f->hub_seq);
	resp_move(&all, &pre);
	resp_move(&all, &echo);
	resp_move(&all, &post);
	pull_echo(f, &all, &echoed);
	pull_response_release(&all);
	assert_int_equal(echoed, other_first_in_r1 ? 0 : 5);
	assert_int_equal(pending_of(f), 0);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'acked' AND length(applied) = 0"), 5);
	assert_same_room(db_of(f), f->hub, "");
	assert_same_room(db_of(f), f->hub, "r1");
	assert_same_room(db_of(f), f->hub, "r2");
	assert_int_equal(cursor_of(f), (int64_t)f->hub_seq);
}

static void
test_echo_with_others_changes(void **state)
{
	echo_with_others(*state, 0);
}

static void
test_echo_other_first_in_room(void **state)
{
	echo_with_others(*state, 1);
}

/* A refusal is settled with the answer: the entries list as refused, with
 * the reason, at once; the other room's entry still waits. */
static void
test_answer_refused_lists_at_once(void **state)
{
	struct fx *f = *state;
	struct sync_range *rg = NULL;
	size_t n = 0;

	start_in_step(f);
	dev_write(f, "r1", DEV_POST);
	dev_write(f, "r2", "INSERT INTO posts VALUES ('r2', 'b', 'ns', 2, 'b',"
	    " NULL, 2)");
	dev_write(f, "r1", DEV_PHONE);
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	answer(f, 1, 3, "refused", 0, "room r1 is archived", 2);
	assert_string_equal(qtext(db_of(f), "SELECT result || ':' || reason ||"
	    " ':' || settled FROM local_outbox_envelopes WHERE env_first = 1"),
	    "refused:room r1 is archived:1");
	/* What `renkei refused` lists (rec_refused). */
	assert_string_equal(qtext(db_of(f), "SELECT group_concat(seq || ':' ||"
	    " refused_reason, ' ') FROM (SELECT seq, refused_reason FROM"
	    " local_outbox WHERE status = 'refused' ORDER BY seq)"),
	    "1:room r1 is archived 3:room r1 is archived");
	assert_int_equal(pending_of(f), 1);
	assert_int_equal(sync_pending_ranges(db_of(f), &rg, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rg[0].first, 2);
	free(rg);
	/* Nothing left for settling. */
	settle(f);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'refused'"), 2);
}

/* A deferred result ("retry") is not recorded: the envelope and its
 * entries go again, byte for byte as before. */
static void
test_answer_retry_goes_again(void **state)
{
	struct fx *f = *state;
	struct sync_range *rg = NULL;
	struct buf first = BUF_INIT, again = BUF_INIT;
	struct rk_why why = { "" };
	uint8_t pk[32], sk[64];
	json_t *a;
	int64_t refused = -1, deferred = -1;
	size_t n = 0;

	crypto_sign_keypair(pk, sk);
	start_in_step(f);
	dev_write(f, "r1", DEV_POST);
	dev_write(f, "r1", DEV_PHONE);
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	assert_int_equal(sync_pending_ranges(db_of(f), &rg, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sync_build_envelope(db_of(f), &rg[0], sk, &first), 0);
	free(rg);
	a = json_pack("{s:[{s:s, s:i, s:i, s:s, s:s, s:b}]}", "results",
	    "origin", ORIGIN, "seq_first", 1, "seq_last", 2, "status",
	    "refused", "reason", "the hub is busy", "retry", 1);
	assert_int_equal(sync_push_results(db_of(f), a, &refused, &deferred,
	    NULL, 0, &why), 0);
	json_decref(a);
	assert_int_equal(refused, 0);
	assert_int_equal(deferred, 2);
	assert_string_equal(qtext(db_of(f), "SELECT answered || ':' ||"
	    " coalesce(result, '-') || ':' || settled FROM"
	    " local_outbox_envelopes"), "0:-:1");
	assert_int_equal(pending_of(f), 2);
	settle(f);
	assert_int_equal(pending_of(f), 2);
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	assert_int_equal(sync_pending_ranges(db_of(f), &rg, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rg[0].first, 1);
	assert_int_equal(rg[0].last, 2);
	assert_int_equal(sync_build_envelope(db_of(f), &rg[0], sk, &again), 0);
	assert_int_equal(again.len, first.len);
	assert_memory_equal(again.data, first.data, first.len);
	free(rg);
	buf_release(&first);
	buf_release(&again);
	/* Taken the next time, it is answered like any other. */
	answer(f, 1, 2, "applied", 9, NULL, 0);
	assert_int_equal(pending_of(f), 0);
}

/*
 * A crash between the answer and its pull: reopened, the entries still
 * count as answered and are never sent again; a pull that fails leaves
 * that so; the next push settles them, and the echo still finds them.
 */
static void
test_answer_settled_after_crash(void **state)
{
	struct fx *f = *state;
	struct pull_response echo, bad;
	struct sync_range *rg = NULL;
	struct sync_batch b;
	struct rk_why why = { "" };
	sqlite3 *scratch;
	uint8_t *cs;
	size_t n = 9, echoed = 0, len;
	int before;

	start_in_step(f);
	write_rounds(f);
	push_answer(f, hub_takes_all(f, &echo));
	reopen(f);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM"
	    " local_outbox_envelopes WHERE settled = 0"), 2);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'pending'"), 5);
	assert_int_equal(pending_of(f), 0);
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	assert_int_equal(sync_pending_ranges(db_of(f), &rg, &n), 0);
	assert_int_equal(n, 0);
	free(rg);

	/* A pull that fails (a change labelled r1, a row of r2) settles
	 * nothing: all of it is rolled back. */
	scratch = copy_db(f->hub);
	cs = capture(scratch, "INSERT INTO posts VALUES ('r2', 'sly', 'dr', 4,"
	    " 'x', NULL, 4)", &len);
	sqlite3_close(scratch);
	resp_init(&bad, f->hub_seq + 1, f->hub_seq + 1);
	resp_add(&bad, f->hub_seq + 1, "r1", cs, len);
	memset(&b, 0, sizeof(b));
	b.pull = &bad;
	b.set_cursor = 1;
	b.cursor = b.head = bad.next_cursor;
	assert_int_equal(sync_apply_batch(db_of(f), &b, &why), RK_EPROTO);
	pull_response_release(&bad);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM"
	    " local_outbox_envelopes WHERE settled = 0"), 2);
	assert_int_equal(pending_of(f), 0);

	/* The next push settles first; again, nothing changes. */
	settle(f);
	assert_string_equal(qtext(db_of(f), "SELECT group_concat(status || ':'"
	    " || acked_hub_seq, ' ') FROM (SELECT * FROM local_outbox ORDER BY"
	    " seq)"), "acked:4 acked:5 acked:4 acked:5 acked:4");
	before = sqlite3_total_changes(db_of(f));
	settle(f);
	assert_int_equal(sqlite3_total_changes(db_of(f)) - before, 0);
	assert_int_equal(pending_of(f), 0);

	/* The pull after it still recognises its echo. */
	pull_echo(f, &echo, &echoed);
	pull_response_release(&echo);
	assert_int_equal(echoed, 5);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'acked' AND length(applied) = 0"), 5);
	assert_same_room(db_of(f), f->hub, "r1");
	assert_same_room(db_of(f), f->hub, "r2");
}

/* Unsettled answers and a pull that is not their echo (a purge of one of
 * their rooms): settled before the purge, so the acked entries stay
 * acked and only the unsent one is refused. */
static void
test_answer_settled_before_purge(void **state)
{
	struct fx *f = *state;
	const char *purge[] = { "r2" };
	struct pull_response echo, r;
	struct sync_batch b;

	start_in_step(f);
	write_rounds(f);
	push_answer(f, hub_takes_all(f, &echo));
	pull_response_release(&echo);
	dev_write(f, "r2", "INSERT INTO posts VALUES ('r2', 'z', 'ns', 2, 'z',"
	    " NULL, 2)");
	assert_int_equal(pending_of(f), 1);
	resp_init(&r, f->hub_seq, f->hub_seq);
	memset(&b, 0, sizeof(b));
	b.purge = purge;
	b.npurge = 1;
	b.pull = &r;
	b.set_cursor = 1;
	b.cursor = b.head = f->hub_seq;
	apply_ok(f, &b);
	assert_int_equal(b.echoed, 0);
	assert_string_equal(qtext(db_of(f), "SELECT group_concat(seq || ':' ||"
	    " status || ':' || coalesce(acked_hub_seq, refused_reason), ' ')"
	    " FROM (SELECT * FROM local_outbox ORDER BY seq)"),
	    "1:acked:4 2:acked:5 3:acked:4 4:acked:5 5:acked:4 "
	    "6:refused:removed from room r2");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM"
	    " local_outbox_envelopes WHERE settled = 0"), 0);
	assert_int_equal(pending_of(f), 0);
}

/* --- refused entries ------------------------------------------------------- */

static void
test_refused_leave_replica_stay_in_outbox(void **state)
{
	struct fx *f = *state;
	int64_t seq;

	start_in_step(f);
	seq = dev_write(f, "r1", DEV_POST);
	dev_write(f, "r2", "INSERT INTO posts VALUES ('r2', 'ok', 'ns', 2,"
	    " 'kept', NULL, 2)");
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);
	answer(f, seq, seq, "refused", 0, "room r1 is archived", 1);
	/* Still on screen until the next pull ... */
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE"
	    " id = 'pd'"), 1);
	pull_nothing(f);
	/* ... then gone from the replica, but readable in the outbox. */
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE"
	    " id = 'pd'"), 0);
	assert_same_room(db_of(f), f->hub, "r1");
	assert_string_equal(qtext(db_of(f), "SELECT status || ':' ||"
	    " refused_reason FROM local_outbox WHERE seq = %lld",
	    (long long)seq), "refused:room r1 is archived");
	assert_true(tu_qint(db_of(f), "SELECT length(changeset) FROM"
	    " local_outbox WHERE seq = %lld", (long long)seq) > 0);
	/* The pending one in r2 is untouched. */
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE"
	    " id = 'ok'"), 1);
	pull_nothing(f);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE"
	    " id = 'pd'"), 0);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE"
	    " id = 'ok'"), 1);
}

/* --- purge ---------------------------------------------------------------- */

static void
test_purge_removes_only_that_room(void **state)
{
	struct fx *f = *state;
	const char *purge[] = { "r2" };
	struct pull_response r;
	struct sync_batch b;
	char r1_before[65];

	start_in_step(f);
	dev_write(f, "r2", "INSERT INTO posts VALUES ('r2', 'x', 'ns', 2, 'x',"
	    " NULL, 2)");
	dev_write(f, "r2", "INSERT INTO emergency_cards (room_id, updated_by,"
	    " updated_at, hlc) VALUES ('r2', 'ns', 2, 2)");
	dev_write(f, "r1", DEV_POST);
	assign(f, SYNC_ENV_MAX_ENTRIES, SYNC_ENV_MAX_RAW);	/* sent once */
	hash_of(db_of(f), "r1", r1_before);

	/* The same answer carries a late change of r2: it is skipped. */
	resp_init(&r, 0, 0);
	hub_change(f, &r, "r2", "INSERT INTO posts VALUES ('r2', 'late', 'dr',"
	    " 4, 'late', NULL, 4)");
	r.next_cursor = r.head = f->hub_seq;
	memset(&b, 0, sizeof(b));
	b.purge = purge;
	b.npurge = 1;
	b.pull = &r;
	b.set_cursor = 1;
	b.cursor = b.head = f->hub_seq;
	apply_ok(f, &b);
	pull_response_release(&r);

	assert_int_equal(tu_qint(db_of(f), "SELECT (SELECT count(*) FROM rooms"
	    " WHERE room_id = 'r2') + (SELECT count(*) FROM memberships WHERE"
	    " room_id = 'r2') + (SELECT count(*) FROM posts WHERE room_id ="
	    " 'r2') + (SELECT count(*) FROM emergency_cards WHERE room_id ="
	    " 'r2')"), 0);
	assert_string_equal(qtext(db_of(f), "SELECT group_concat(DISTINCT"
	    " status || ':' || refused_reason) FROM local_outbox WHERE room_id"
	    " = 'r2'"), "refused:removed from room r2");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM local_outbox"
	    " WHERE room_id = 'r2'"), 2);
	/* r1 keeps its rows and its pending post. */
	{
		char r1_after[65];

		hash_of(db_of(f), "r1", r1_after);
		assert_string_equal(r1_before, r1_after);
	}
	assert_string_equal(qtext(db_of(f), "SELECT status FROM local_outbox"
	    " WHERE room_id = 'r1'"), "pending");
	/* r2's envelope is not sent again; r1's still is. */
	{
		struct sync_range *rg = NULL;
		size_t n = 0;

		assert_int_equal(sync_pending_ranges(db_of(f), &rg, &n), 0);
		assert_int_equal(n, 1);
		assert_string_equal(rg[0].room, "r1");
		free(rg);
	}
	assert_same_room(db_of(f), f->hub, "");
	pull_nothing(f);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE"
	    " room_id = 'r2'"), 0);
}

/* --- snapshots -------------------------------------------------------------- */

static void
test_snapshot_replaces_room_keeps_pending(void **state)
{
	struct fx *f = *state;
	struct pull_response snap;
	struct sync_batch b;
	sqlite3 *fresh, *want;
	size_t len;
	uint8_t *cs;
	char r2_before[65], r2_after[65];
	const char *r1_only[1] = { "r1" };

	start_in_step(f);
	dev_write(f, "r1", DEV_POST);
	hash_of(db_of(f), "r2", r2_before);
	/* The hub's log moved on (compacted): r1 now has other rows. */
	exec(f->hub, "DELETE FROM posts WHERE id = 'p0'; INSERT INTO posts"
	    " VALUES ('r1', 'p9', 'dr', 9, 'new', NULL, 9); UPDATE rooms SET"
	    " title = 'Sato H.' WHERE room_id = 'r1'");
	f->hub_seq = 40;
	/* The snapshot: every r1 row of the hub as INSERTs. */
	fresh = schema_db();
	{
		sqlite3 *h = f->hub;
		const char *tables[] = { "rooms", "memberships", "patients",
		    "posts", NULL };
		struct buf sql = BUF_INIT;
		sqlite3_stmt *st;
		int i, c;

		/* Rows copied as literal INSERTs so capture() sees them. */
		for (i = 0; tables[i] != NULL; i++) {
			char *q = sqlite3_mprintf("SELECT * FROM %s WHERE"
			    " room_id = 'r1'", tables[i]);

			assert_int_equal(sqlite3_prepare_v2(h, q, -1, &st,
			    NULL), SQLITE_OK);
			while (sqlite3_step(st) == SQLITE_ROW) {
				assert_int_equal(buf_appendf(&sql, "INSERT INTO"
				    " %s VALUES (", tables[i]), 0);
				for (c = 0; c < sqlite3_column_count(st); c++) {
					char *v = sqlite3_mprintf("%s%Q",
					    c ? ", " : "", (const char *)
					    sqlite3_column_text(st, c));

					if (sqlite3_column_type(st, c) ==
					    SQLITE_INTEGER) {
						sqlite3_free(v);
						v = sqlite3_mprintf("%s%lld",
						    c ? ", " : "", (long long)
						    sqlite3_column_int64(st,
						    c));
					}
					assert_int_equal(buf_appendf(&sql, "%s",
					    v), 0);
					sqlite3_free(v);
				}
				assert_int_equal(buf_appendf(&sql, ");"), 0);
			}
			sqlite3_finalize(st);
			sqlite3_free(q);
		}
		assert_int_equal(buf_append(&sql, "", 1), 0);
		cs = capture(fresh, (const char *)sql.data, &len);
		buf_release(&sql);
	}
	assert_same_room(fresh, f->hub, "r1");
	resp_init(&snap, 40, 40);
	resp_add(&snap, 40, "r1", cs, len);
	memset(&b, 0, sizeof(b));
	b.snap_rooms = r1_only;
	b.nsnap = 1;
	b.snap = &snap;
	apply_ok(f, &b);
	pull_response_release(&snap);

	want = copy_db(f->hub);
	exec(want, DEV_POST);
	assert_same_room(db_of(f), want, "r1");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE"
	    " id = 'p0'"), 0);
	/* Other rooms and the cursor are the next pull's business. */
	hash_of(db_of(f), "r2", r2_after);
	assert_string_equal(r2_before, r2_after);
	assert_int_equal(cursor_of(f), 3);
	sqlite3_close(fresh);
	sqlite3_close(want);
}

/* --- hostile or wrong answers ---------------------------------------------- */

static void
test_change_outside_its_room_refused(void **state)
{
	struct fx *f = *state;
	struct pull_response r;
	struct sync_batch b;
	struct rk_why why = { "" };
	char r1[65], r2[65], h1[65], h2[65];

	start_in_step(f);
	dev_write(f, "r1", DEV_POST);
	hash_of(db_of(f), "r1", r1);
	hash_of(db_of(f), "r2", r2);
	resp_init(&r, 0, 0);
	hub_change(f, &r, "r1", "INSERT INTO posts VALUES ('r1', 'ok', 'dr',"
	    " 4, 'fine', NULL, 4)");
	/* Labelled r1, but a row of r2. */
	hub_change(f, &r, "r1", "INSERT INTO posts VALUES ('r2', 'sly', 'dr',"
	    " 4, 'wrong room', NULL, 4)");
	r.next_cursor = r.head = f->hub_seq;
	memset(&b, 0, sizeof(b));
	b.pull = &r;
	b.set_cursor = 1;
	b.cursor = b.head = f->hub_seq;
	assert_int_equal(sync_apply_batch(db_of(f), &b, &why), RK_EPROTO);
	assert_non_null(strstr(why.text, "room r2"));
	pull_response_release(&r);
	/* Nothing of it applied; pending work still there; cursor kept. */
	assert_int_equal(sqlite3_get_autocommit(db_of(f)), 1);
	hash_of(db_of(f), "r1", h1);
	hash_of(db_of(f), "r2", h2);
	assert_string_equal(r1, h1);
	assert_string_equal(r2, h2);
	assert_int_equal(cursor_of(f), 3);

	/* A local table is never reachable, even in a signed answer. */
	resp_init(&r, 0, 0);
	hub_change(f, &r, "", "INSERT INTO local_meta VALUES ('hub_sign_pk',"
	    " 'evil')");
	r.next_cursor = r.head = f->hub_seq;
	b.pull = &r;
	b.cursor = b.head = f->hub_seq;
	assert_int_equal(sync_apply_batch(db_of(f), &b, &why), RK_EPROTO);
	pull_response_release(&r);
	assert_string_equal(qtext(db_of(f), "SELECT value FROM local_meta"
	    " WHERE key = 'hub_sign_pk'"), "(none)");

	/* The directory label on room rows, and room rows as directory. */
	resp_init(&r, 0, 0);
	hub_change(f, &r, "", "INSERT INTO posts VALUES ('r1', 'd', 'dr', 4,"
	    " 'x', NULL, 4)");
	b.pull = &r;
	assert_int_equal(sync_apply_batch(db_of(f), &b, &why), RK_EPROTO);
	pull_response_release(&r);
	resp_init(&r, 0, 0);
	hub_change(f, &r, "r1", "INSERT INTO agencies VALUES ('x', 'X',"
	    " 'clinic', 4)");
	b.pull = &r;
	assert_int_equal(sync_apply_batch(db_of(f), &b, &why), RK_EPROTO);
	pull_response_release(&r);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM agencies"), 1);

	/* The same in a snapshot (rows go in by cached INSERTs, each row
	 * checked as it goes): r1's snapshot with a row of r2, a local
	 * table, and a change that is not a new row.  Nothing stays. */
	{
		const char *r1_only[1] = { "r1" };
		static const char other_room[] = "INSERT INTO posts VALUES "
		    "('r2', 'sly2', 'dr', 4, 'wrong room', NULL, 4)";
		static const char local_table[] = "INSERT INTO local_meta "
		    "VALUES ('hub_sign_pk2', 'evil')";
		static const char update[] = "UPDATE posts SET body = "
		    "'changed' WHERE id = 'ok'";
		static const char *const bad[] = { other_room, local_table,
		    update };
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char ok[128];

			snprintf(ok, sizeof(ok), "INSERT INTO posts VALUES "
			    "('r1', 's%zu', 'dr', 4, 'fine', NULL, 4)", i);
			resp_init(&r, 0, 0);
			hub_change(f, &r, "r1", ok);
			hub_change(f, &r, "r1", bad[i]);
			r.next_cursor = r.head = f->hub_seq;
			memset(&b, 0, sizeof(b));
			b.snap_rooms = r1_only;
			b.nsnap = 1;
			b.snap = &r;
			why.text[0] = '\0';
			assert_int_equal(sync_apply_batch(db_of(f), &b, &why),
			    RK_EPROTO);
			assert_true(why.text[0] != '\0');
			if (i == 0)
				assert_non_null(strstr(why.text, "room r2"));
			pull_response_release(&r);
			assert_int_equal(sqlite3_get_autocommit(db_of(f)), 1);
			hash_of(db_of(f), "r1", h1);
			assert_string_equal(r1, h1);
			assert_string_equal(qtext(db_of(f), "SELECT value FROM "
			    "local_meta WHERE key = 'hub_sign_pk2'"), "(none)");
		}
	}
}

/*
 * A hub change of new rows goes in by cached INSERTs; one that is not
 * INSERTs only, or whose row is already here (a replica that drifted),
 * the general way, the hub's row winning.  Either way the room ends as
 * the hub's, every row once.
 */
static void
test_pull_inserts_fast_and_fallback(void **state)
{
	struct fx *f = *state;
	struct pull_response r;

	start_in_step(f);
	/* Drift: a row the hub is about to send, here already with another
	 * body (not through the outbox). */
	exec(db_of(f), "INSERT INTO posts VALUES ('r1', 'drift', 'dr', 4,"
	    " 'stale text', NULL, 4)");
	resp_init(&r, 0, 0);
	hub_change(f, &r, "r1", "INSERT INTO posts VALUES ('r1', 'n1', 'dr',"
	    " 5, 'first', NULL, 5); INSERT INTO posts VALUES ('r1', 'n2',"
	    " 'dr', 5, 'second', NULL, 5)");
	/* The new row first, the one already here second: the first must
	 * not be left in twice when the entry goes the general way. */
	hub_change(f, &r, "r1", "INSERT INTO posts VALUES ('r1', 'n3', 'dr',"
	    " 6, 'third', NULL, 6); INSERT INTO posts VALUES ('r1', 'drift',"
	    " 'dr', 6, 'hub text', NULL, 6)");
	/* A new row and an edit in one change. */
	hub_change(f, &r, "r2", "INSERT INTO posts VALUES ('r2', 'm1', 'dr',"
	    " 7, 'other room', NULL, 7)");
	hub_change(f, &r, "r2", "INSERT INTO posts VALUES ('r2', 'm2', 'dr',"
	    " 8, 'more', NULL, 8); UPDATE posts SET body = 'edited', hlc = 8"
	    " WHERE id = 'm1'");
	r.next_cursor = r.head = f->hub_seq;
	pull(f, &r);
	pull_response_release(&r);
	assert_string_equal(qtext(db_of(f), "SELECT body FROM posts WHERE id ="
	    " 'drift'"), "hub text");
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE"
	    " room_id = 'r1' AND id IN ('n1', 'n2', 'n3', 'drift')"), 4);
	assert_string_equal(qtext(db_of(f), "SELECT body FROM posts WHERE id ="
	    " 'm1'"), "edited");
	assert_same_room(db_of(f), f->hub, "r1");
	assert_same_room(db_of(f), f->hub, "r2");
	assert_int_equal(cursor_of(f), (int64_t)f->hub_seq);
}

/* The largest hlc the hub's rows carry is handed back for the clock. */
static void
test_hlc_seen(void **state)
{
	struct fx *f = *state;
	struct pull_response r;
	struct sync_batch b;
	uint64_t big = (uint64_t)(T0 + 5000) << 16 | 7;
	char sql[256];

	start_in_step(f);
	resp_init(&r, 0, 0);
	snprintf(sql, sizeof(sql), "UPDATE posts SET body = 'x', hlc = %llu"
	    " WHERE id = 'p0'; UPDATE rooms SET title = 'y' WHERE room_id ="
	    " 'r1'", (unsigned long long)big);
	hub_change(f, &r, "r1", sql);
	hub_change(f, &r, "", "UPDATE agencies SET name = 'Z', hlc = 99");
	hub_change(f, &r, "r2", "DELETE FROM posts WHERE id = 'q0'");
	r.next_cursor = r.head = f->hub_seq;
	memset(&b, 0, sizeof(b));
	b.pull = &r;
	b.set_cursor = 1;
	b.cursor = b.head = f->hub_seq;
	apply_ok(f, &b);
	assert_int_equal(b.hlc_seen, big);
	pull_response_release(&r);
	/* Folded into the store's clock, the next local write is later. */
	assert_int_equal(store_hlc_observe(f->s, b.hlc_seen), 0);
	dev_write(f, "r1", DEV_POST);
	assert_true((uint64_t)tu_qint(db_of(f), "SELECT hlc FROM local_outbox")
	    > big);
}

/* --- backoff, URLs ------------------------------------------------------------ */

/* A pull answer must continue from the cursor asked from: one replayed
 * from an earlier request, or out of order, is refused before anything
 * of it is applied. */
static void
test_pull_check(void **state)
{
	struct pull_response r;
	struct rk_why why = { "" };

	(void)state;
	/* 10 -> 13 with changes 11 and 13: fine; so is nothing new. */
	resp_init(&r, 13, 20);
	resp_add(&r, 11, "r1", NULL, 0);
	resp_add(&r, 13, "r1", NULL, 0);
	assert_int_equal(sync_pull_check(&r, 10, &why), 0);
	/* The same answer replayed once the replica is at 13: its changes
	 * are not after the cursor. */
	assert_int_equal(sync_pull_check(&r, 13, &why), RK_EPROTO);
	assert_non_null(strstr(why.text, "change 11"));
	/* From 11: change 11 again. */
	why.text[0] = '\0';
	assert_int_equal(sync_pull_check(&r, 11, &why), RK_EPROTO);
	assert_non_null(strstr(why.text, "change 11"));
	/* Behind the cursor. */
	why.text[0] = '\0';
	assert_int_equal(sync_pull_check(&r, 14, &why), RK_EPROTO);
	assert_non_null(strstr(why.text, "backwards"));
	pull_response_release(&r);

	/* Out of order, repeated, beyond next_cursor. */
	resp_init(&r, 13, 20);
	resp_add(&r, 12, "r1", NULL, 0);
	resp_add(&r, 11, "r1", NULL, 0);
	assert_int_equal(sync_pull_check(&r, 10, &why), RK_EPROTO);
	pull_response_release(&r);
	resp_init(&r, 13, 20);
	resp_add(&r, 12, "r1", NULL, 0);
	resp_add(&r, 12, "r2", NULL, 0);
	assert_int_equal(sync_pull_check(&r, 10, &why), RK_EPROTO);
	pull_response_release(&r);
	resp_init(&r, 13, 20);
	resp_add(&r, 14, "r1", NULL, 0);
	assert_int_equal(sync_pull_check(&r, 10, &why), RK_EPROTO);
	pull_response_release(&r);
	/* A head behind next_cursor. */
	resp_init(&r, 13, 12);
	assert_int_equal(sync_pull_check(&r, 10, &why), RK_EPROTO);
	pull_response_release(&r);
	resp_init(&r, 10, 10);
	assert_int_equal(sync_pull_check(&r, 10, &why), 0);
	pull_response_release(&r);
}

static void
test_backoff(void **state)
{
	unsigned n;
	int64_t prev_lo = 0;
	struct tu_clock c;

	(void)state;
	assert_int_equal(sync_backoff_ms(1, 0), 800);
	assert_int_equal(sync_backoff_ms(1, UINT32_C(0x80000000)), 1000);
	assert_true(sync_backoff_ms(1, UINT32_MAX) < 1200);
	assert_true(sync_backoff_ms(1, UINT32_MAX) >= 1199);
	assert_int_equal(sync_backoff_ms(2, UINT32_C(0x80000000)), 2000);
	assert_int_equal(sync_backoff_ms(4, UINT32_C(0x80000000)), 8000);
	for (n = 1; n < 100; n++) {
		int64_t lo = sync_backoff_ms(n, 0);

		assert_true(lo >= prev_lo);
		assert_true(sync_backoff_ms(n, UINT32_MAX) <=
		    SYNC_BACKOFF_MAX_MS * 12 / 10);
		prev_lo = lo;
	}
	/* 1 s doubling: 256 s at the 9th failure, the 5 min cap at the 10th */
	assert_int_equal(sync_backoff_ms(9, UINT32_C(0x80000000)), 256000);
	assert_int_equal(sync_backoff_ms(10, UINT32_C(0x80000000)),
	    SYNC_BACKOFF_MAX_MS);
	assert_int_equal(sync_backoff_ms(1000, 0), SYNC_BACKOFF_MAX_MS * 8 / 10);
	/* Jitter from a seeded source stays within +-20%. */
	tu_clock_init(&c, T0, tu_seed());
	for (n = 0; n < 1000; n++) {
		uint32_t rnd;
		int64_t d;

		rk_random(&c.clock, &rnd, sizeof(rnd));
		d = sync_backoff_ms(3, rnd);
		assert_true(d >= 3200 && d < 4800);
	}
}

static void
test_hub_urls(void **state)
{
	static const char *good[] = {
		"https://hub.example/", "https://hub.example:8443",
		"https://10.0.0.5/renkei", "http://127.0.0.1:8080",
		"http://127.9.8.7/", "http://localhost:9000/",
		"http://LOCALHOST", "http://[::1]:8080/", NULL,
	};
	static const char *bad[] = {
		"http://hub.example/", "http://10.0.0.5:8080",
		"http://127.evil.example/", "http://127.0.0.1.evil.example/",
		"http://[::2]/", "http://user@127.0.0.1/",
		"http://127.0.0.1@evil.example/", "ftp://hub.example/",
		"file:///etc/passwd", "hub.example", "", "https://hub.example/ x",
		"https://hub.example/\n[renkei]", "https://hub.example/?a=b",
		NULL,
	};
	struct rk_why why;
	int i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		if (sync_check_url(good[i], &why) != 0)
			fail_msg("%s refused: %s", good[i], why.text);
	for (i = 0; bad[i] != NULL; i++) {
		why.text[0] = '\0';
		if (sync_check_url(bad[i], &why) != RK_EINVAL)
			fail_msg("%s accepted", bad[i]);
		assert_true(why.text[0] != '\0');
	}
	assert_int_equal(sync_check_url("http://hub.example/", &why),
	    RK_EINVAL);
	assert_string_equal(why.text, "plain http only to loopback: use https");
}

/* --- the engine without a hub ------------------------------------------------ */

/* A loopback port nothing listens on. */
static int
closed_port(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void
test_engine_not_enrolled(void **state)
{
	struct fx *f = *state;
	struct rk_conf conf;
	struct keys k;
	struct sync *sy = NULL;
	struct rk_why why = { "" };
	json_t *o, *p, *out = NULL;
	char url[64];

	memset(&conf, 0, sizeof(conf));
	snprintf(conf.role, sizeof(conf.role), "device");
	snprintf(conf.device_id, sizeof(conf.device_id), ORIGIN);
	snprintf(conf.staff, sizeof(conf.staff), "ns");
	memset(&k, 0, sizeof(k));
	crypto_sign_keypair(k.sign_pk, k.sign_sk);
	crypto_box_keypair(k.box_pk, k.box_sk);
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'a', 'ns', 2, 'a',"
	    " NULL, 2)");

	assert_int_equal(sync_start(f->s, &k, f->dir, &conf, &f->clk.clock,
	    &sy), 0);
	assert_int_equal(sync_request(sy), 0);	/* nothing will run */
	sync_kick(sy);
	o = json_object();
	assert_int_equal(sync_progress(sy, o), 0);
	p = json_object_get(o, "sync");
	assert_true(json_is_false(json_object_get(p, "enrolled")));
	assert_true(json_is_false(json_object_get(p, "running")));
	assert_true(json_is_null(json_object_get(p, "hub")));
	assert_true(json_is_null(json_object_get(p, "last_sync")));
	assert_string_equal(json_string_value(json_object_get(p, "phase")),
	    "idle");
	assert_int_equal(json_integer_value(json_object_get(p, "pending")), 1);
	assert_true(json_is_false(json_object_get(p, "in_step")));
	json_decref(o);

	store_lock(f->s);
	assert_int_equal(sync_enroll(sy, "CODE-1", "http://hub.example/", NULL,
	    &out, &why), RK_EINVAL);
	assert_string_equal(why.text, "plain http only to loopback: use https");
	assert_int_equal(sync_enroll(sy, "two words", "https://hub.example/", NULL,
	    &out, &why), RK_EINVAL);
	/* A pin must be libcurl's sha256//BASE64 form. */
	assert_int_equal(sync_enroll(sy, "CODE-1", "https://hub.example/",
	    "md5//abc", &out, &why), RK_EINVAL);
	assert_non_null(strstr(why.text, "pin"));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
	assert_int_equal(sync_enroll(sy, "CODE-1", url, NULL, &out, &why),
	    RK_EUNAVAIL);
	assert_string_equal(why.text, "hub unreachable (connection refused)");
	store_unlock(f->s);
	assert_null(out);
	/* Nothing was saved: still not enrolled. */
	assert_string_equal(conf.hub_url, "");
	assert_string_equal(qtext(db_of(f), "SELECT value FROM local_meta"
	    " WHERE key = 'hub_sign_pk'"), "(none)");
	sync_stop(sy);
	sync_stop(NULL);
	sync_kick(NULL);
}

/* A hub never enrols anywhere and runs no device sync. */
static void
test_engine_on_a_hub(void **state)
{
	struct fx *f = *state;
	struct rk_conf conf;
	struct keys k;
	struct sync *sy = NULL;
	struct rk_why why = { "" };
	json_t *out = NULL;

	memset(&conf, 0, sizeof(conf));
	snprintf(conf.role, sizeof(conf.role), "hub");
	snprintf(conf.device_id, sizeof(conf.device_id), "hub-1");
	memset(&k, 0, sizeof(k));
	crypto_sign_keypair(k.sign_pk, k.sign_sk);
	assert_int_equal(sync_start(f->s, &k, f->dir, &conf, NULL, &sy), 0);
	store_lock(f->s);
	assert_int_equal(sync_enroll(sy, "CODE", "https://other.example/", NULL,
	    &out, &why), RK_EINVAL);
	store_unlock(f->s);
	assert_int_equal(sync_request(sy), 0);
	sync_stop(sy);
}

static void
test_room_hash_entry(void **state)
{
	struct fx *f = *state;
	struct rk_why why = { "" };
	json_t *o = NULL;
	char h[65];

	start_in_step(f);
	dev_write(f, "r1", DEV_POST);
	assert_int_equal(sync_room_hash(f->s, "r1", &o, &why), 0);
	hash_of(db_of(f), "r1", h);
	assert_string_equal(json_string_value(json_object_get(o, "hash")), h);
	assert_string_equal(json_string_value(json_object_get(o, "room")),
	    "r1");
	assert_int_equal(json_integer_value(json_object_get(o, "pending")), 1);
	json_decref(o);
	assert_int_equal(sync_room_hash(f->s, "", &o, &why), 0);
	json_decref(o);
	assert_int_equal(sync_room_hash(f->s, "nope", &o, &why), RK_ENOTFOUND);
	assert_int_equal(sync_room_hash(f->s, "../x", &o, &why), RK_EINVAL);
}


/* --- end to end against a fake hub ----------------------------------------- */

/*
 * Just enough of a hub, in this process on loopback: enrolment with the
 * proof checked, signed requests checked with reqsig_verify, push applied
 * to a canonical database with a session, pull and snapshot answers built
 * with pull_writer and signed, hashes compared.  Room r1 is the device's.
 */
struct fh_entry {
	uint64_t seq;
	char room[65];
	uint8_t *cs;
	size_t len;
};

struct fakehub {
	struct MHD_Daemon *d;
	int port;
	sqlite3 *db;
	uint8_t pk[32], sk[64];
	uint8_t dev_pk[32];
	int enrolled;
	struct fh_entry log[64];
	size_t nlog;
	int given_r1, given_dir;
	uint64_t r1_since;
	int pushes, bad_sigs, hashes_ok, hashes_bad;
	int gone_once;		/* answer the next pull 410 */
	int snapshots;		/* snapshot answers given */
	int answer_mode;	/* FH_ANSWER_*: how 2xx answers are signed */
};

#define FH_ANSWER_SIGNED	0	/* as a hub does */
#define FH_ANSWER_UNSIGNED	1	/* no Renkei-Answer-Signature */
#define FH_ANSWER_OTHER_NONCE	2	/* signed for another request */

static struct fakehub *fh_cur;	/* the one running: fh_send signs for it */

struct fh_req {
	char uri[512];
	struct buf body;
	int started;	/* MHD calls once with the headers only */
};

static void *
fh_uri_cb(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct fh_req *r = calloc(1, sizeof(*r));

	(void)cls;
	(void)c;
	if (r != NULL)
		snprintf(r->uri, sizeof(r->uri), "%s", uri);
	return r;
}

static void
fh_done_cb(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct fh_req *r = *req_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r != NULL) {
		buf_release(&r->body);
		free(r);
	}
	*req_cls = NULL;
}

static enum MHD_Result
fh_send(struct MHD_Connection *c, unsigned status, const char *type,
    const void *p, size_t n)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(n,
	    (void *)p, MHD_RESPMEM_MUST_COPY);
	const char *dev = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "Renkei-Device");
	const char *nonce = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "Renkei-Nonce");
	enum MHD_Result ret;
	char sig[129];

	MHD_add_response_header(r, "Content-Type", type);
	/* A 2xx answer to a signed request: the answer signature, as the
	 * test asks for it. */
	if (status / 100 == 2 && dev != NULL && nonce != NULL &&
	    fh_cur != NULL && fh_cur->answer_mode != FH_ANSWER_UNSIGNED) {
		if (fh_cur->answer_mode == FH_ANSWER_OTHER_NONCE)
			nonce = "0123456789abcdef0123456789abcdef";
		if (reqsig_answer_sign(fh_cur->sk, dev, nonce, status, p, n,
		    sig) == 0)
			MHD_add_response_header(r, "Renkei-Answer-Signature",
			    sig);
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
fh_json(struct MHD_Connection *c, unsigned status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	enum MHD_Result ret = fh_send(c, status, "application/json", s,
	    strlen(s));

	free(s);
	json_decref(o);
	return ret;
}

static int
fh_seen(void *arg, const char *device, const char *nonce, int64_t t)
{
	(void)arg;
	(void)device;
	(void)nonce;
	(void)t;
	return 0;
}

static void
fh_log(struct fakehub *h, const char *room, uint8_t *cs, size_t len)
{
	struct fh_entry *e = &h->log[h->nlog];

	e->seq = ++h->nlog;
	snprintf(e->room, sizeof(e->room), "%s", room);
	e->cs = cs;
	e->len = len;
}

static int
fh_conflict(void *arg, int kind, sqlite3_changeset_iter *it)
{
	(void)arg;
	(void)it;
	return kind == SQLITE_CHANGESET_DATA ||
	    kind == SQLITE_CHANGESET_CONFLICT ? SQLITE_CHANGESET_REPLACE :
	    SQLITE_CHANGESET_OMIT;
}

struct fh_push {
	struct fakehub *h;
	json_t *results;
};

static int
fh_push_one(void *arg, const uint8_t *p, size_t n)
{
	struct fh_push *ps = arg;
	struct fakehub *h = ps->h;
	struct envelope e;
	sqlite3_session *sess = NULL;
	void *cs = NULL;
	uint8_t *copy;
	int len = 0;

	memset(&e, 0, sizeof(e));
	if (envelope_decode(p, n, h->dev_pk, &e) != 0)
		return RK_EAUTH;
	sqlite3session_create(h->db, "main", &sess);
	sqlite3session_attach(sess, NULL);
	sqlite3changeset_apply_v2(h->db, (int)e.changeset_len, e.changeset,
	    NULL, fh_conflict, NULL, NULL, NULL, 0);
	sqlite3session_changeset(sess, &len, &cs);
	sqlite3session_delete(sess);
	copy = malloc(len > 0 ? (size_t)len : 1);
	if (len > 0)
		memcpy(copy, cs, (size_t)len);
	sqlite3_free(cs);
	fh_log(h, e.room, copy, (size_t)len);
	json_array_append_new(ps->results, json_pack("{s:s, s:I, s:I, s:s,"
	    " s:I}", "origin", e.origin, "seq_first", (json_int_t)e.seq_first,
	    "seq_last", (json_int_t)e.seq_last, "status", "applied", "hub_seq",
	    (json_int_t)h->nlog));
	h->pushes++;
	envelope_release(&e);
	return 0;
}

/* A pull or snapshot answer: entries of room (NULL: the device's). */
static enum MHD_Result
fh_pull(struct fakehub *h, struct MHD_Connection *c, uint64_t after,
    const char *snap_room)
{
	struct pull_writer *w = NULL;
	struct buf out = BUF_INIT;
	const char *ctl = "{}";
	enum MHD_Result ret;
	size_t i;

	/* Like the hub: the directory too is followed after a snapshot. */
	if (snap_room == NULL && !h->given_dir)
		ctl = h->given_r1 ? "{\"snapshot\": [\"\"]}" :
		    "{\"snapshot\": [\"\", \"r1\"], \"purge\": []}";
	else if (snap_room == NULL && !h->given_r1)
		ctl = "{\"snapshot\": [\"r1\"]}";
	if (snap_room != NULL) {
		char *q = sqlite3_mprintf("{\"rooms\": [\"%s\"], "
		    "\"refused\": []}", snap_room);

		assert_int_equal(pull_writer_new(h->nlog, h->nlog, q, &w), 0);
		sqlite3_free(q);
	} else {
		assert_int_equal(pull_writer_new(h->nlog, h->nlog, ctl, &w), 0);
	}
	if (snap_room != NULL) {
		sqlite3_changegroup *g = NULL;
		void *cs = NULL;
		int n = 0;

		sqlite3changegroup_new(&g);
		for (i = 0; i < h->nlog; i++)
			if (strcmp(h->log[i].room, snap_room) == 0)
				sqlite3changegroup_add(g, (int)h->log[i].len,
				    h->log[i].cs);
		sqlite3changegroup_output(g, &n, &cs);
		sqlite3changegroup_delete(g);
		assert_int_equal(pull_writer_add(w, h->nlog, snap_room, cs,
		    (size_t)n), 0);
		sqlite3_free(cs);
		if (strcmp(snap_room, "r1") == 0) {
			h->given_r1 = 1;
			h->r1_since = h->nlog;
		}
		if (snap_room[0] == '\0')
			h->given_dir = 1;
	} else {
		for (i = 0; i < h->nlog; i++) {
			struct fh_entry *e = &h->log[i];

			if (e->seq <= after || !h->given_dir || (e->room[0] &&
			    (!h->given_r1 || strcmp(e->room, "r1") != 0 ||
			    e->seq <= h->r1_since)))
				continue;
			assert_int_equal(pull_writer_add(w, e->seq, e->room,
			    e->cs, e->len), 0);
		}
	}
	assert_int_equal(pull_writer_finish(w, h->sk, &out), 0);
	ret = fh_send(c, 200, "application/octet-stream", out.data, out.len);
	buf_release(&out);
	return ret;
}

static enum MHD_Result
fh_enroll(struct fakehub *h, struct MHD_Connection *c, struct fh_req *r)
{
	json_t *in = json_loadb((const char *)r->body.data, r->body.len, 0,
	    NULL);
	const char *code = json_string_value(json_object_get(in, "code"));
	const char *dev = json_string_value(json_object_get(in, "device_id"));
	const char *spk = json_string_value(json_object_get(in, "sign_pk"));
	const char *proof = json_string_value(json_object_get(in, "proof"));
	uint8_t pk[32], sig[64];
	char msg[256], hex[65];
	int ok, good;

	ok = code && dev && spk && proof &&
	    sodium_hex2bin(pk, 32, spk, strlen(spk), NULL, NULL, NULL) == 0 &&
	    sodium_hex2bin(sig, 64, proof, strlen(proof), NULL, NULL, NULL) ==
	    0;
	snprintf(msg, sizeof(msg), "renkei-enroll-v1\n%s\n%s", code ? code :
	    "", dev ? dev : "");
	ok = ok && crypto_sign_verify_detached(sig, (const uint8_t *)msg,
	    strlen(msg), pk) == 0;
	good = ok && strcmp(code, "GOOD-CODE") == 0;
	json_decref(in);
	if (!ok)
		return fh_json(c, 400, json_pack("{s:s, s:s}", "error",
		    "bad proof", "code", "invalid"));
	if (!good)
		return fh_json(c, 403, json_pack("{s:s, s:s}", "error",
		    "unknown or expired code", "code", "denied"));
	memcpy(h->dev_pk, pk, 32);
	h->enrolled = 1;
	sodium_bin2hex(hex, sizeof(hex), h->pk, 32);
	return fh_json(c, 200, json_pack("{s:s, s:s, s:s, s:s}", "staff", "ns",
	    "agency", "ag", "hub_id", "hub-1", "hub_sign_pk", hex));
}

static enum MHD_Result
fh_handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **req_cls)
{
	struct fakehub *h = cls;
	struct fh_req *r = *req_cls;
	struct reqsig_headers rs;
	struct rk_why why = { "" };
	const char *v;

	(void)version;
	if (!r->started) {
		r->started = 1;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		assert_int_equal(buf_append(&r->body, upload, *upload_size), 0);
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/v1/enroll") == 0)
		return fh_enroll(h, c, r);
	memset(&rs, 0, sizeof(rs));
#define H(field, name)							\
	v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);	\
	snprintf(rs.field, sizeof(rs.field), "%s", v ? v : "");
	H(device, "Renkei-Device");
	H(time, "Renkei-Time");
	H(nonce, "Renkei-Nonce");
	H(signature, "Renkei-Signature");
#undef H
	if (!h->enrolled || reqsig_verify(&rs, h->dev_pk, method, r->uri,
	    r->body.data ? r->body.data : (const uint8_t *)"", r->body.len,
	    NULL, fh_seen, NULL, &why) != 0) {
		h->bad_sigs++;
		return fh_json(c, 401, json_pack("{s:s, s:s}", "error",
		    "bad signature", "code", "auth"));
	}
	if (strcmp(url, "/v1/push") == 0) {
		struct fh_push ps = { h, json_array() };

		assert_int_equal(envelope_split(r->body.data, r->body.len,
		    fh_push_one, &ps), 0);
		return fh_json(c, 200, json_pack("{s:o, s:b}", "results",
		    ps.results, "root", 1));
	}
	if (strcmp(url, "/v1/pull") == 0 && h->gone_once) {
		h->gone_once = 0;
		return fh_json(c, 410, json_pack("{s:s, s:s, s:b}", "error",
		    "cursor older than the log", "code", "notfound",
		    "snapshot", 1));
	}
	if (strcmp(url, "/v1/pull") == 0) {
		v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
		    "after");
		return fh_pull(h, c, strtoull(v ? v : "0", NULL, 10), NULL);
	}
	if (strcmp(url, "/v1/snapshot") == 0) {
		/* One room an answer, the first asked for: the device must
		 * ask again for the rest. */
		char first[65];

		v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
		    "rooms");
		snprintf(first, sizeof(first), "%.*s", v ? (int)strcspn(v,
		    ",") : 0, v ? v : "");
		h->snapshots++;
		return fh_pull(h, c, 0, first);
	}
	if (strcmp(url, "/v1/hashes") == 0) {
		json_t *in = json_loadb((const char *)r->body.data,
		    r->body.len, 0, NULL), *mism = json_array(), *hv;
		const char *room;
		char mine[65];

		json_object_foreach(json_object_get(in, "rooms"), room, hv) {
			assert_int_equal(roomhash_compute(h->db, room, mine),
			    0);
			if (strcmp(mine, json_string_value(hv)) == 0) {
				h->hashes_ok++;
			} else {
				h->hashes_bad++;
				json_array_append_new(mism, json_string(room));
			}
		}
		json_decref(in);
		return fh_json(c, 200, json_pack("{s:o}", "mismatched", mism));
	}
	return fh_json(c, 404, json_pack("{s:s}", "error", "no such call"));
}

static void
fh_start(struct fakehub *h)
{
	const union MHD_DaemonInfo *di;
	size_t len;
	uint8_t *cs;

	memset(h, 0, sizeof(*h));
	crypto_sign_keypair(h->pk, h->sk);
	fh_cur = h;
	h->db = schema_db();
	cs = capture(h->db, "INSERT INTO agencies VALUES ('ag', 'Clinic',"
	    " 'clinic', 1); INSERT INTO staff (id, agency_id, name,"
	    " profession, hlc) VALUES ('ns', 'ag', 'Nurse', 'nurse', 1)", &len);
	fh_log(h, "", cs, len);
	cs = capture(h->db, ROOM_R1, &len);
	fh_log(h, "r1", cs, len);
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_ERROR_LOG, 0, NULL, NULL, fh_handler, h,
	    MHD_OPTION_URI_LOG_CALLBACK, fh_uri_cb, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, fh_done_cb, NULL,
	    MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
	assert_non_null(h->d);
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(di);
	h->port = di->port;
}

static void
fh_stop(struct fakehub *h)
{
	size_t i;

	if (h->d != NULL)
		MHD_stop_daemon(h->d);
	h->d = NULL;
	for (i = 0; i < h->nlog; i++)
		free(h->log[i].cs);
	h->nlog = 0;
	sqlite3_close(h->db);
	h->db = NULL;
	fh_cur = NULL;
}

/* Waits until attempt ticket has finished; the progress object (decref). */
static json_t *
wait_for(struct sync *sy, uint64_t ticket)
{
	int i;

	for (i = 0; i < 3000; i++) {
		json_t *o = json_object(), *p;

		assert_int_equal(sync_progress(sy, o), 0);
		p = json_object_get(o, "sync");
		if ((uint64_t)json_integer_value(json_object_get(p,
		    "finished")) >= ticket) {
			json_incref(p);
			json_decref(o);
			return p;
		}
		json_decref(o);
		usleep(10000);
	}
	fail_msg("sync attempt %llu did not finish", (unsigned long long)ticket);
	return NULL;
}

static void
test_end_to_end_with_fake_hub(void **state)
{
	struct fx *f = *state;
	struct fakehub h;
	struct rk_conf conf;
	struct keys k;
	struct sync *sy = NULL;
	struct rk_why why = { "" };
	json_t *out = NULL, *p;
	char url[64], dh[65], hh[65];
	uint64_t ticket, cur0;
	int64_t t0;
	int rc;

	fh_start(&h);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", h.port);
	memset(&conf, 0, sizeof(conf));
	snprintf(conf.role, sizeof(conf.role), "device");
	snprintf(conf.device_id, sizeof(conf.device_id), ORIGIN);
	memset(&k, 0, sizeof(k));
	crypto_sign_keypair(k.sign_pk, k.sign_sk);
	crypto_box_keypair(k.box_pk, k.box_sk);
	assert_int_equal(sync_start(f->s, &k, f->dir, &conf, NULL, &sy), 0);

	/* A wrong code: the hub's words come back. */
	store_lock(f->s);
	rc = sync_enroll(sy, "BAD-CODE", url, NULL, &out, &why);
	store_unlock(f->s);
	if (rc != RK_EDENIED)
		fail_msg("bad code: %d %s", rc, why.text);
	assert_string_equal(why.text, "hub refused the request: unknown or "
	    "expired code");
	assert_string_equal(conf.hub_url, "");

	store_lock(f->s);
	rc = sync_enroll(sy, "GOOD-CODE", url, NULL, &out, &why);
	store_unlock(f->s);
	if (rc != 0)
		fail_msg("sync_enroll: %d %s", rc, why.text);
	assert_string_equal(json_string_value(json_object_get(out, "staff")),
	    "ns");
	assert_string_equal(json_string_value(json_object_get(out, "hub_id")),
	    "hub-1");
	assert_true(json_is_null(json_object_get(out, "warning")));
	json_decref(out);
	assert_string_equal(conf.hub_url, url);
	assert_string_equal(conf.staff, "ns");
	{
		struct rk_conf saved;

		assert_int_equal(conf_load(f->dir, &saved, &why), 0);
		assert_string_equal(saved.hub_url, url);
		assert_string_equal(saved.staff, "ns");
	}

	/* First sync: directory snapshot, then r1 as the hub asks. */
	p = wait_for(sy, 1);
	if (!json_is_true(json_object_get(p, "ok")))
		fail_msg("first sync: %s", json_string_value(json_object_get(p,
		    "last_error")));
	assert_true(json_is_true(json_object_get(p, "in_step")));
	assert_true(json_is_true(json_object_get(p, "enrolled")));
	assert_true(json_is_null(json_object_get(p, "last_error")));
	assert_true(json_is_integer(json_object_get(p, "last_sync")));
	assert_int_equal(json_integer_value(json_object_get(p, "cursor")), 2);
	json_decref(p);
	store_lock(f->s);
	assert_same_room(db_of(f), h.db, "");
	assert_same_room(db_of(f), h.db, "r1");
	assert_string_equal(qtext(db_of(f), "SELECT value FROM local_meta"
	    " WHERE key = 'hub_id'"), "hub-1");
	assert_string_equal(qtext(db_of(f), "SELECT value FROM local_meta"
	    " WHERE key = 'last_error'"), "(none)");
	store_unlock(f->s);
	assert_int_equal(h.hashes_ok, 2);	/* "" and r1 */
	assert_int_equal(h.bad_sigs, 0);

	/* A local write: pushed, acked, pulled back canonical. */
	store_lock(f->s);
	dev_write(f, "r1", DEV_POST);
	store_unlock(f->s);
	sync_kick(sy);
	ticket = sync_request(sy);
	assert_true(ticket >= 2);
	p = wait_for(sy, ticket);
	if (!json_is_true(json_object_get(p, "ok")))
		fail_msg("second sync: %s", json_string_value(json_object_get(p,
		    "last_error")));
	assert_true(json_is_true(json_object_get(p, "in_step")));
	assert_int_equal(json_integer_value(json_object_get(p, "pending")), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "cursor")), 3);
	json_decref(p);
	assert_int_equal(h.pushes, 1);
	store_lock(f->s);
	hash_of(db_of(f), "r1", dh);
	hash_of(h.db, "r1", hh);
	assert_string_equal(dh, hh);
	assert_string_equal(qtext(db_of(f), "SELECT status || ':' ||"
	    " acked_hub_seq FROM local_outbox"), "acked:3");
	assert_int_equal(tu_qint(h.db, "SELECT count(*) FROM posts WHERE id ="
	    " 'pd'"), 1);
	store_unlock(f->s);
	assert_int_equal(h.bad_sigs, 0);
	assert_true(h.hashes_ok >= 4);
	assert_int_equal(h.hashes_bad, 0);

	/* The hub names the directory for a snapshot again (it lost its
	 * record of this device): fetched, no error. */
	h.given_dir = 0;
	ticket = sync_request(sy);
	p = wait_for(sy, ticket);
	if (!json_is_true(json_object_get(p, "ok")))
		fail_msg("third sync: %s", json_string_value(json_object_get(p,
		    "last_error")));
	json_decref(p);
	assert_int_equal(h.given_dir, 1);

	/* The hub's log was compacted past the cursor (410): the directory
	 * and every room held here come again from snapshots. */
	h.gone_once = 1;
	rc = h.snapshots;
	ticket = sync_request(sy);
	p = wait_for(sy, ticket);
	if (!json_is_true(json_object_get(p, "ok")))
		fail_msg("sync after 410: %s", json_string_value(
		    json_object_get(p, "last_error")));
	assert_true(json_is_true(json_object_get(p, "in_step")));
	assert_int_equal(json_integer_value(json_object_get(p, "cursor")),
	    (json_int_t)h.nlog);
	json_decref(p);
	assert_int_equal(h.snapshots - rc, 2);	/* "" and r1 */
	store_lock(f->s);
	assert_same_room(db_of(f), h.db, "r1");
	assert_same_room(db_of(f), h.db, "");
	assert_string_equal(qtext(db_of(f), "SELECT value FROM local_meta"
	    " WHERE key = 'sync_full_snapshot'"), "(none)");
	store_unlock(f->s);

	/*
	 * Answers not signed for their request -- played back from another
	 * one -- and unsigned answers are refused before anything reads
	 * them: the new post stays pending, the cursor stays.  Signed again,
	 * the same sync goes through.
	 */
	cur0 = (uint64_t)h.nlog;	/* the cursor, in step */
	store_lock(f->s);
	dev_write(f, "r1", "INSERT INTO posts VALUES ('r1', 'pe', 'ns', 3,"
	    " 'later', NULL, 3)");
	store_unlock(f->s);
	for (rc = FH_ANSWER_UNSIGNED; rc <= FH_ANSWER_OTHER_NONCE; rc++) {

		h.answer_mode = rc;
		ticket = sync_request(sy);
		p = wait_for(sy, ticket);
		assert_true(json_is_false(json_object_get(p, "ok")));
		assert_string_equal(json_string_value(json_object_get(p,
		    "last_error")), rc == FH_ANSWER_UNSIGNED ? "the hub's "
		    "answer is not signed (is this a renkei hub, or an old "
		    "one?)" : "the hub's answer is not signed for this "
		    "request (played back, or not from the hub the device "
		    "enrolled with)");
		assert_int_equal(json_integer_value(json_object_get(p,
		    "pending")), 1);
		assert_int_equal(json_integer_value(json_object_get(p,
		    "cursor")), (json_int_t)cur0);
		json_decref(p);
	}
	h.answer_mode = FH_ANSWER_SIGNED;
	ticket = sync_request(sy);
	p = wait_for(sy, ticket);
	if (!json_is_true(json_object_get(p, "ok")))
		fail_msg("sync signed again: %s", json_string_value(
		    json_object_get(p, "last_error")));
	assert_int_equal(json_integer_value(json_object_get(p, "pending")), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "cursor")),
	    (json_int_t)h.nlog);
	json_decref(p);
	store_lock(f->s);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM posts WHERE"
	    " id = 'pe'"), 1);
	assert_same_room(db_of(f), h.db, "r1");
	store_unlock(f->s);

	/* The hub goes away: the error in words, kept in the replica. */
	MHD_stop_daemon(h.d);
	h.d = NULL;
	ticket = sync_request(sy);
	p = wait_for(sy, ticket);
	assert_true(json_is_false(json_object_get(p, "ok")));
	assert_string_equal(json_string_value(json_object_get(p,
	    "last_error")), "hub unreachable (connection refused)");
	json_decref(p);
	store_lock(f->s);
	assert_string_equal(qtext(db_of(f), "SELECT value FROM local_meta"
	    " WHERE key = 'last_error'"), "hub unreachable (connection refused)");
	store_unlock(f->s);

	/* Stopping is prompt even while backing off. */
	t0 = rk_now_ms(NULL);
	sync_stop(sy);
	assert_true(rk_now_ms(NULL) - t0 < 2000);
	fh_stop(&h);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_ranges_group_room_entries),
		T(test_ranges_limits),
		T(test_envelope_merges_range),
		T(test_envelope_skips_entry_refused_before),
		T(test_envelope_interleaved_rooms),
		T(test_push_results),
		T(test_push_results_interleaved),
		T(test_answer_on_envelopes_only),
		T(test_answer_refused_lists_at_once),
		T(test_answer_retry_goes_again),
		T(test_answer_settled_after_crash),
		T(test_answer_settled_before_purge),
		T(test_pull_keeps_pending_on_top),
		T(test_undo_is_exact),
		T(test_refused_leave_replica_stay_in_outbox),
		T(test_purge_removes_only_that_room),
		T(test_snapshot_replaces_room_keeps_pending),
		T(test_change_outside_its_room_refused),
		T(test_pull_inserts_fast_and_fallback),
		T(test_echo_with_others_changes),
		T(test_echo_other_first_in_room),
		T(test_hlc_seen),
		T(test_pull_check),
		T(test_backoff),
		T(test_hub_urls),
		T(test_engine_not_enrolled),
		T(test_engine_on_a_hub),
		T(test_room_hash_entry),
		T(test_end_to_end_with_fake_hub),
	};
#undef T

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
