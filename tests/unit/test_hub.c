/*
 * test_hub.c - the hub role (daemon/hub.h, admin.h, hubhttp.h) over real
 * encrypted stores: a hub store and device stores in one process, with
 * envelopes built from the devices' real outbox changesets and keys.
 *
 * Push: apply and log, deduplication, canonical changesets that rebuild a
 * replica, one bad envelope among good ones, non-members, unknown schema,
 * bad signatures, truncation, a zstd bomb, the room rules; enrolment;
 * request authentication (revocation, replay, clock skew); pull with its
 * snapshot and purge lists; snapshots; conflicts decided column by column
 * and kept as conflict records; room hashes; and the HTTP server under garbage.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <zstd.h>

#include "common/hlc.h"
#include "common/keys.h"
#include "daemon/admin.h"
#include "daemon/envelope.h"
#include "daemon/hub.h"
#include "daemon/hubhttp.h"
#include "daemon/records.h"
#include "daemon/reqsig.h"
#include "daemon/roomhash.h"
#include "daemon/store.h"
#include "daemon/vfs.h"
#include "daemon/wire.h"
#include "schema/schema.h"
#include "testutil.h"
#include "tu_sql.h"

#define VFS_NAME "rk-test-hub"
#define HUB_ID "hub-1"

/* 2025-06-01T03:00:00Z, 12:00 in Japan. */
#define T0 INT64_C(1748746800000)

static struct vfs_crypt *g_vfs;

struct dev {
	char id[65];
	char staff[65];
	struct keys k;
	struct store *s;
	char path[PATH_MAX + 32];
};

struct fx {
	char dir[PATH_MAX];
	struct tu_clock clk;
	struct keys hk;
	struct store *hs;
	struct hub *hub;
	struct rec_ctx admin;
	struct dev a, b, c;	/* a: cm-1, b: ns-1, c: a bare replica */
};

/* ---- helpers ------------------------------------------------------------ */

static void
exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
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
		fail_msg("%s: no row: %s", sql, sqlite3_errmsg(db));
	snprintf(buf, sizeof(buf), "%s", sqlite3_column_text(st, 0) ?
	    (const char *)sqlite3_column_text(st, 0) : "(null)");
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return buf;
}

static sqlite3 *
hdb(struct fx *f)
{
	return store_db(f->hs);
}

static int64_t
head(struct fx *f)
{
	return tu_qint(hdb(f), "SELECT coalesce(max(hub_seq), 0) FROM "
	    "local_hub_log");
}

static struct store *
open_store(struct fx *f, const char *path, const char *origin, int is_hub)
{
	struct store_opts o;
	struct store *s = NULL;
	struct rk_why why = { "" };

	memset(&o, 0, sizeof(o));
	o.path = path;
	o.vfs = VFS_NAME;
	o.origin = origin;
	o.is_hub = is_hub;
	o.clock = &f->clk.clock;
	if (store_open(&o, &s, &why) != 0)
		fail_msg("store_open %s: %s", path, why.text);
	return s;
}

static void
make_keys(struct fx *f, struct keys *k)
{
	uint8_t seed[32];

	memset(k, 0, sizeof(*k));
	rk_random(&f->clk.clock, seed, sizeof(seed));
	crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, seed);
	rk_random(&f->clk.clock, k->box_sk, sizeof(k->box_sk));
	crypto_scalarmult_base(k->box_pk, k->box_sk);
}

/* An admin op that must succeed; its output is dropped. */
static void
admin_ok(struct fx *f, int (*op)(struct rec_ctx *, json_t *, json_t **,
    struct rk_why *), const char *json)
{
	struct rk_why why = { "" };
	json_t *in = json_loads(json, 0, NULL), *out = NULL;
	int rc;

	assert_non_null(in);
	rc = op(&f->admin, in, &out, &why);
	if (rc != 0)
		fail_msg("admin %s: %d %s", json, rc, why.text);
	json_decref(in);
	json_decref(out);
}

/* Room `room` for patient `name`, consent given, with dr-1 and `other`. */
static void
room_with(struct fx *f, const char *room, const char *name, const char *other)
{
	char js[2048];

	snprintf(js, sizeof(js), "{\"room_id\": \"%s\", \"patient_name\": "
	    "\"%s\", \"consent_date\": \"2025-05-01\", \"members\": "
	    "[\"dr-1\", \"%s\"]}", room, name, other);
	admin_ok(f, admin_room_create, js);
}

/* An admin op that must fail with rc, why containing want. */
static void
admin_fails(struct fx *f, int (*op)(struct rec_ctx *, json_t *, json_t **,
    struct rk_why *), const char *json, int want, const char *text)
{
	struct rk_why why = { "" };
	json_t *in = json_loads(json, 0, NULL), *out = NULL;
	int rc;

	assert_non_null(in);
	rc = op(&f->admin, in, &out, &why);
	print_message("# %s -> %d %s\n", json, rc, why.text);
	assert_int_equal(rc, want);
	assert_null(out);
	if (strstr(why.text, text) == NULL)
		fail_msg("'%s' does not say '%s'", why.text, text);
	json_decref(in);
}

/* The proof a device signs to enrol. */
static void
proof_hex(const struct keys *k, const char *code, const char *device,
    char out[129])
{
	char msg[256];
	uint8_t sig[64];

	snprintf(msg, sizeof(msg), "%s%s\n%s", WIRE_SIG_ENROLL, code, device);
	crypto_sign_detached(sig, NULL, (const uint8_t *)msg, strlen(msg),
	    k->sign_sk);
	sodium_bin2hex(out, 129, sig, sizeof(sig));
}

static json_t *
enroll_body(const struct keys *k, const char *code, const char *device)
{
	char spk[65], bpk[65], proof[129];

	sodium_bin2hex(spk, sizeof(spk), k->sign_pk, 32);
	sodium_bin2hex(bpk, sizeof(bpk), k->box_pk, 32);
	proof_hex(k, code, device, proof);
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "code", code,
	    "device_id", device, "sign_pk", spk, "box_pk", bpk, "proof",
	    proof);
}

/* A fresh code for staff (its text copied to code). */
static void
new_code(struct fx *f, const char *staff, char code[32])
{
	struct rk_why why = { "" };
	json_t *in = json_pack("{s:s}", "staff", staff), *out = NULL;

	if (admin_enroll_code(&f->admin, in, &out, &why) != 0)
		fail_msg("enroll-code: %s", why.text);
	snprintf(code, 32, "%s", json_string_value(json_object_get(out,
	    "code")));
	json_decref(in);
	json_decref(out);
}

static int
enroll(struct fx *f, const struct keys *k, const char *code,
    const char *device, json_t **out, struct rk_why *why)
{
	json_t *in = enroll_body(k, code, device);
	int rc;

	assert_non_null(in);
	rc = hub_enroll(f->hub, in, out, why);
	json_decref(in);
	return rc;
}

static void
dev_init(struct fx *f, struct dev *d, const char *id, const char *staff,
    int enrol)
{
	struct rk_why why = { "" };
	json_t *out = NULL;
	char code[32];

	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->staff, sizeof(d->staff), "%s", staff);
	snprintf(d->path, sizeof(d->path), "%s/%s.db", f->dir, id);
	make_keys(f, &d->k);
	d->s = open_store(f, d->path, id, 0);
	if (!enrol)
		return;
	new_code(f, staff, code);
	if (enroll(f, &d->k, code, id, &out, &why) != 0)
		fail_msg("enrol %s: %s", id, why.text);
	json_decref(out);
}

static struct rec_ctx
dev_ctx(struct dev *d)
{
	struct rec_ctx c;

	memset(&c, 0, sizeof(c));
	c.store = d->s;
	c.staff = d->staff;
	c.role = "device";
	c.device_id = d->id;
	c.hub_url = "";
	return c;
}

/* rec_room_create on the device; returns the outbox seq. */
static int64_t
dev_room(struct dev *d, const char *room, const char *members_json)
{
	struct rec_ctx c = dev_ctx(d);
	struct rk_why why = { "" };
	char json[512];
	json_t *in, *out = NULL;
	int64_t seq;

	snprintf(json, sizeof(json), "{\"room_id\": \"%s\", \"patient_name\":"
	    " \"田中 花子\", \"consent_date\": \"2025-05-30\", \"members\": %s}",
	    room, members_json);
	assert_non_null(in = json_loads(json, 0, NULL));
	if (rec_room_create(&c, in, &out, &why) != 0)
		fail_msg("room %s: %s", room, why.text);
	seq = json_integer_value(json_object_get(out, "seq"));
	json_decref(in);
	json_decref(out);
	return seq;
}

static int64_t
dev_post(struct dev *d, const char *room, const char *body)
{
	struct rec_ctx c = dev_ctx(d);
	struct rk_why why = { "" };
	json_t *in = json_pack("{s:s}", "body", body), *out = NULL;
	int64_t seq;

	if (rec_post_add(&c, room, in, &out, &why) != 0)
		fail_msg("post %s: %s", room, why.text);
	seq = json_integer_value(json_object_get(out, "seq"));
	json_decref(in);
	json_decref(out);
	return seq;
}

static int64_t
dev_last_seq(struct dev *d)
{
	return tu_qint(store_db(d->s), "SELECT max(seq) FROM local_outbox");
}

static void
put_le32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 24) };

	assert_int_equal(buf_append(b, x, 4), 0);
}

/* Appends (u32 len, envelope) of a raw changeset to body. */
static void
env_raw(struct buf *body, const char *origin, const char *room,
    uint64_t first, uint64_t last, unsigned schema, uint64_t hlc,
    const void *cs, size_t n, const uint8_t sk[64])
{
	struct envelope e;
	struct buf one = BUF_INIT;

	memset(&e, 0, sizeof(e));
	snprintf(e.origin, sizeof(e.origin), "%s", origin);
	snprintf(e.room, sizeof(e.room), "%s", room);
	e.seq_first = first;
	e.seq_last = last;
	e.schema_version = (uint16_t)schema;
	e.hlc = hlc;
	e.changeset = (uint8_t *)cs;
	e.changeset_len = n;
	assert_int_equal(envelope_encode(&e, sk, &one), 0);
	put_le32(body, (uint32_t)one.len);
	assert_int_equal(buf_append(body, one.data, one.len), 0);
	buf_release(&one);
}

/* Appends the envelope of device d's outbox entry seq, as sync.c would
 * (schema overrides the entry's version when not 0). */
static void
env_outbox(struct dev *d, int64_t seq, unsigned schema, struct buf *body)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = store_db(d->s);

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT room_id, hlc, "
	    "schema_version, changeset FROM local_outbox WHERE seq = ?1", -1,
	    &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("no outbox entry %lld", (long long)seq);
	env_raw(body, d->id, (const char *)sqlite3_column_text(st, 0),
	    (uint64_t)seq, (uint64_t)seq, schema ? schema :
	    (unsigned)sqlite3_column_int(st, 2),
	    (uint64_t)sqlite3_column_int64(st, 1), sqlite3_column_blob(st, 3),
	    (size_t)sqlite3_column_bytes(st, 3), d->k.sign_sk);
	sqlite3_finalize(st);
}

/* A changeset of sql run on db, rolled back afterwards: what a device
 * with other software could send.  sqlite3_free *cs. */
static void
craft(sqlite3 *db, const char *sql, void **cs, int *n)
{
	sqlite3_session *sess = NULL;

	exec(db, "BEGIN");
	assert_int_equal(sqlite3session_create(db, "main", &sess), SQLITE_OK);
	assert_int_equal(sqlite3session_attach(sess, NULL), SQLITE_OK);
	exec(db, sql);
	assert_int_equal(sqlite3session_changeset(sess, n, cs), SQLITE_OK);
	sqlite3session_delete(sess);
	exec(db, "ROLLBACK");
	assert_true(*n > 0);
}

static uint64_t
now_hlc(struct fx *f)
{
	return (uint64_t)f->clk.now_ms << HLC_COUNTER_BITS;
}

static int
push(struct fx *f, const char *device, struct buf *body, json_t **out,
    struct rk_why *why)
{
	return hub_push(f->hub, device, body->data, body->len, out, why);
}

static json_t *
push_ok(struct fx *f, const char *device, struct buf *body)
{
	struct rk_why why = { "" };
	json_t *out = NULL;
	int rc = push(f, device, body, &out, &why);

	if (rc != 0)
		fail_msg("push: %d %s", rc, why.text);
	assert_non_null(out);
	assert_true(json_is_true(json_object_get(out, "root")));
	return out;
}

static json_t *
result(json_t *out, size_t i)
{
	json_t *r = json_array_get(json_object_get(out, "results"), i);

	assert_non_null(r);
	return r;
}

static const char *
rstatus(json_t *out, size_t i)
{
	return json_string_value(json_object_get(result(out, i), "status"));
}

static int64_t
rseq(json_t *out, size_t i)
{
	json_t *v = json_object_get(result(out, i), "hub_seq");

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *
rreason(json_t *out, size_t i)
{
	const char *s = json_string_value(json_object_get(result(out, i),
	    "reason"));

	return s ? s : "";
}

static void
assert_has(const char *text, const char *want)
{
	if (text == NULL || strstr(text, want) == NULL)
		fail_msg("'%s' does not say '%s'", text ? text : "(null)",
		    want);
}

static int
apply_abort(void *ctx, int kind, sqlite3_changeset_iter *it)
{
	(void)ctx;
	(void)it;
	print_message("# replica apply: conflict %d\n", kind);
	return SQLITE_CHANGESET_ABORT;
}

static void
apply_cs(sqlite3 *db, const void *cs, size_t n)
{
	int rc = sqlite3changeset_apply(db, (int)n, (void *)cs, NULL,
	    apply_abort, NULL);

	if (rc != SQLITE_OK)
		fail_msg("apply: %d %s", rc, sqlite3_errmsg(db));
}

/* Applies the hub's log entries of room after `after` to db; returns
 * the last hub_seq applied. */
static int64_t
apply_log(struct fx *f, sqlite3 *db, const char *room, int64_t after)
{
	sqlite3_stmt *st = NULL;
	int64_t last = after;

	assert_int_equal(sqlite3_prepare_v2(hdb(f), "SELECT hub_seq, "
	    "changeset FROM local_hub_log WHERE room_id = ?1 AND hub_seq > ?2 "
	    "ORDER BY hub_seq", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, after);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const uint8_t *blob = sqlite3_column_blob(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1), len = 0;
		uint8_t *raw = NULL;

		last = sqlite3_column_int64(st, 0);
		/* The log keeps a large change as the frame a pull sends. */
		if (pull_frame_is(blob, n)) {
			assert_int_equal(pull_frame_inflate(blob, n, &raw,
			    &len), 0);
			apply_cs(db, raw, len);
			free(raw);
		} else {
			apply_cs(db, blob, n);
		}
	}
	sqlite3_finalize(st);
	return last;
}

static void
room_hash(sqlite3 *db, const char *room, char hex[65])
{
	assert_int_equal(roomhash_compute(db, room, hex), 0);
}

static void
assert_same_room(struct fx *f, sqlite3 *db, const char *room)
{
	char a[65], b[65];

	room_hash(hdb(f), room, a);
	room_hash(db, room, b);
	assert_string_equal(a, b);
}

/* A hub write of its own (store_tx), e.g. a membership change. */
static void
hub_write(struct fx *f, const char *room, const char *sql)
{
	struct store_tx *tx = NULL;
	struct rk_why why = { "" };

	assert_int_equal(store_tx_begin(f->hs, room, &tx), 0);
	exec(hdb(f), sql);
	if (store_tx_commit(tx, NULL, &why) != 0)
		fail_msg("hub write: %s", why.text);
}

static void
pull_ok(struct fx *f, struct dev *d, uint64_t after, unsigned limit,
    struct pull_response *r)
{
	struct buf b = BUF_INIT;
	struct rk_why why = { "" };
	int rc = hub_pull(f->hub, d->id, after, limit, &b, &why);

	if (rc != 0)
		fail_msg("pull: %d %s", rc, why.text);
	assert_int_equal(pull_decode(b.data, b.len, f->hk.sign_pk, r), 0);
	buf_release(&b);
}

static void
snapshot_ok(struct fx *f, struct dev *d, const char *room,
    struct pull_response *r)
{
	struct buf b = BUF_INIT;
	struct rk_why why = { "" };
	int rc = hub_snapshot(f->hub, d->id, room, &b, &why);

	if (rc != 0)
		fail_msg("snapshot %s: %d %s", room, rc, why.text);
	assert_int_equal(pull_decode(b.data, b.len, f->hk.sign_pk, r), 0);
	buf_release(&b);
}

/* The rooms named in ctl[key], joined with ',' (sorted as given). */
static const char *
ctl_list(const struct pull_response *r, const char *key)
{
	static char buf[512];
	json_t *ctl = json_loads(r->ctl_json, 0, NULL), *v;
	size_t i, n = 0;

	assert_non_null(ctl);
	buf[0] = '\0';
	json_array_foreach(json_object_get(ctl, key), i, v)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
		    i ? "," : "", json_string_value(v)[0] ?
		    json_string_value(v) : "(dir)");
	json_decref(ctl);
	return buf;
}

/* ---- fixtures ----------------------------------------------------------- */

static int
group_setup(void **state)
{
	uint8_t key[VFS_KEY_LEN];

	(void)state;
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(key, sizeof(key));
	return vfs_crypt_register(VFS_NAME, key, &g_vfs) == 0 ? 0 : -1;
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
	char path[PATH_MAX + 32];

	assert_non_null(f);
	tu_tmpdir(f->dir, sizeof(f->dir), "hub");
	tu_clock_init(&f->clk, T0, tu_seed());
	make_keys(f, &f->hk);
	snprintf(path, sizeof(path), "%s/hub.db", f->dir);
	f->hs = open_store(f, path, HUB_ID, 1);
	assert_int_equal(hub_open(f->hs, &f->hk, &f->clk.clock, &f->hub), 0);
	f->admin.store = f->hs;
	f->admin.staff = "operator";
	f->admin.role = "hub";
	f->admin.is_hub = 1;
	f->admin.device_id = HUB_ID;
	f->admin.hub_url = "";

	admin_ok(f, admin_agency_add, "{\"id\": \"clinic-1\", \"name\": "
	    "\"すずき医院\", \"kind\": \"clinic\"}");
	admin_ok(f, admin_agency_add, "{\"id\": \"vn-1\", \"name\": "
	    "\"訪問看護ステーション\", \"kind\": \"visiting-nurse\"}");
	admin_ok(f, admin_staff_add, "{\"id\": \"dr-1\", \"agency\": "
	    "\"clinic-1\", \"name\": \"鈴木\", \"profession\": \"doctor\"}");
	admin_ok(f, admin_staff_add, "{\"id\": \"ns-1\", \"agency\": \"vn-1\", "
	    "\"name\": \"佐藤\", \"profession\": \"nurse\"}");
	admin_ok(f, admin_staff_add, "{\"id\": \"cm-1\", \"agency\": \"vn-1\", "
	    "\"name\": \"高橋\", \"profession\": \"care-manager\", \"phone\": "
	    "\"0422-00-0000\"}");
	admin_ok(f, admin_staff_add, "{\"id\": \"ph-1\", \"agency\": "
	    "\"clinic-1\", \"name\": \"伊藤\", \"profession\": "
	    "\"pharmacist\"}");
	dev_init(f, &f->a, "devA", "cm-1", 1);
	dev_init(f, &f->b, "devB", "ns-1", 1);
	dev_init(f, &f->c, "devC", "ph-1", 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	hub_close(f->hub);
	store_close(f->a.s);
	store_close(f->b.s);
	store_close(f->c.s);
	store_close(f->hs);
	if (getenv("RK_TEST_KEEP") == NULL)
		tu_rm_rf(f->dir);
	free(f);
	return 0;
}

/* ---- push --------------------------------------------------------------- */

static void
test_push_applies_and_dedupes(void **state)
{
	struct fx *f = *state;
	struct buf body = BUF_INIT;
	json_t *out, *again;
	int64_t h0, s1, s2, s3, i;

	s1 = dev_room(&f->a, "r1", "[\"dr-1\", \"ns-1\"]");
	s2 = dev_post(&f->a, "r1", "初回訪問しました。");
	s3 = dev_post(&f->a, "r1", "血圧 128/76");
	env_outbox(&f->a, s1, 0, &body);
	env_outbox(&f->a, s2, 0, &body);
	env_outbox(&f->a, s3, 0, &body);
	h0 = head(f);

	out = push_ok(f, "devA", &body);
	for (i = 0; i < 3; i++) {
		assert_string_equal(rstatus(out, (size_t)i), "applied");
		assert_int_equal(rseq(out, (size_t)i), h0 + 1 + i);
		assert_string_equal(json_string_value(json_object_get(
		    result(out, (size_t)i), "origin")), "devA");
		assert_int_equal(json_integer_value(json_object_get(
		    result(out, (size_t)i), "seq_first")), s1 + i);
	}
	assert_int_equal(head(f), h0 + 3);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM posts WHERE "
	    "room_id = 'r1'"), 2);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM memberships "
	    "WHERE room_id = 'r1' AND status = 'active'"), 3);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM local_hub_log "
	    "WHERE room_id = 'r1' AND origin = 'devA' AND seq_first = "
	    "seq_last"), 3);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM "
	    "local_hub_received WHERE origin = 'devA' AND status = "
	    "'applied'"), 3);

	/* The same push again: acknowledged again, nothing doubled. */
	again = push_ok(f, "devA", &body);
	for (i = 0; i < 3; i++) {
		assert_string_equal(rstatus(again, (size_t)i), "duplicate");
		assert_int_equal(rseq(again, (size_t)i), h0 + 1 + i);
	}
	assert_int_equal(head(f), h0 + 3);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM posts"), 2);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM "
	    "local_hub_received"), 3);

	/* The canonical changesets rebuild the room on a fresh replica. */
	assert_int_equal(apply_log(f, store_db(f->c.s), "r1", 0), h0 + 3);
	assert_same_room(f, store_db(f->c.s), "r1");
	assert_int_equal(tu_qint(store_db(f->c.s), "SELECT count(*) FROM posts"),
	    2);
	assert_string_equal(qtext(store_db(f->c.s), "SELECT name FROM "
	    "patients WHERE room_id = 'r1'"), "田中 花子");
	json_decref(out);
	json_decref(again);
	buf_release(&body);
}

static void
test_push_room_mismatch_others_applied(void **state)
{
	struct fx *f = *state;
	struct buf body = BUF_INIT;
	void *cs = NULL;
	int n = 0;
	int64_t s1, s2, h0;
	json_t *out;

	s1 = dev_room(&f->a, "r1", "[\"dr-1\"]");
	env_outbox(&f->a, s1, 0, &body);
	json_decref(push_ok(f, "devA", &body));
	body.len = 0;

	/* A row of r2 (and one of r1) in an envelope for r1. */
	craft(store_db(f->a.s), "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r1', 'p-ok', 'cm-1', 1, 'x', 1),"
	    " ('r2', 'p-bad', 'cm-1', 1, 'sneaky', 1)", &cs, &n);
	env_raw(&body, "devA", "r1", 100, 100, 1, now_hlc(f), cs, (size_t)n,
	    f->a.k.sign_sk);
	sqlite3_free(cs);
	s2 = dev_post(&f->a, "r1", "good one");
	env_outbox(&f->a, s2, 0, &body);
	h0 = head(f);

	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "row of room r2 in an envelope for "
	    "room r1");
	assert_string_equal(rstatus(out, 1), "applied");
	assert_int_equal(rseq(out, 1), h0 + 1);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM posts WHERE "
	    "room_id = 'r2' OR id = 'p-ok'"), 0);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM posts WHERE "
	    "room_id = 'r1'"), 1);
	/* Recorded: the same envelope is refused the same way again. */
	assert_string_equal(qtext(hdb(f), "SELECT status FROM "
	    "local_hub_received WHERE origin = 'devA' AND seq_first = 100"),
	    "refused");
	json_decref(out);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "row of room r2");
	assert_string_equal(rstatus(out, 1), "duplicate");
	json_decref(out);

	/* The directory is the hub's alone. */
	body.len = 0;
	craft(store_db(f->a.s), "INSERT INTO staff (id, agency_id, name, "
	    "profession, hlc) VALUES ('evil', 'vn-1', 'x', 'doctor', 1)", &cs,
	    &n);
	env_raw(&body, "devA", "r1", 101, 101, 1, now_hlc(f), cs, (size_t)n,
	    f->a.k.sign_sk);
	sqlite3_free(cs);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "directory");
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM staff WHERE id = "
	    "'evil'"), 0);
	json_decref(out);
	buf_release(&body);
}

static void
test_push_non_member_refused(void **state)
{
	struct fx *f = *state;
	struct buf body = BUF_INIT;
	void *cs = NULL;
	int n = 0;
	int64_t s1, h0;
	json_t *out;

	s1 = dev_room(&f->a, "r1", "[\"dr-1\"]");
	env_outbox(&f->a, s1, 0, &body);
	json_decref(push_ok(f, "devA", &body));

	/* The nurse is not in r1. */
	body.len = 0;
	craft(store_db(f->b.s), "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r1', 'p1', 'ns-1', 1, 'x', 1)",
	    &cs, &n);
	env_raw(&body, "devB", "r1", 1, 1, 1, now_hlc(f), cs, (size_t)n,
	    f->b.k.sign_sk);
	sqlite3_free(cs);
	h0 = head(f);
	out = push_ok(f, "devB", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "staff ns-1 is not a member of room r1");
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM posts"), 0);
	assert_int_equal(head(f), h0);
	json_decref(out);

	/* Nor can she make herself one of an existing room. */
	body.len = 0;
	craft(store_db(f->b.s), "INSERT INTO rooms (room_id, title, "
	    "created_by, created_at, hlc) VALUES ('r1', 't', 'ns-1', 1, 1);"
	    "INSERT INTO memberships (room_id, staff_id, added_by, added_at, "
	    "hlc) VALUES ('r1', 'ns-1', 'ns-1', 1, 1)", &cs, &n);
	env_raw(&body, "devB", "r1", 2, 2, 1, now_hlc(f), cs, (size_t)n,
	    f->b.k.sign_sk);
	sqlite3_free(cs);
	out = push_ok(f, "devB", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "not a member");
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM memberships WHERE "
	    "staff_id = 'ns-1'"), 0);
	json_decref(out);
	buf_release(&body);
}

static void
test_push_unknown_schema(void **state)
{
	struct fx *f = *state;
	struct buf body = BUF_INIT;
	int64_t s1;
	json_t *out;

	s1 = dev_room(&f->a, "r1", "[\"dr-1\"]");
	env_outbox(&f->a, s1, 99, &body);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "unknown schema version 99");
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM rooms"), 0);
	/* Not recorded: once the hub knows the version, it applies. */
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM "
	    "local_hub_received"), 0);
	json_decref(out);
	body.len = 0;
	env_outbox(&f->a, s1, 0, &body);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "applied");
	json_decref(out);
	buf_release(&body);
}

static void
test_push_more_refusals(void **state)
{
	struct fx *f = *state;
	struct buf body = BUF_INIT;
	sqlite3 *loose = NULL;
	sqlite3_session *sess = NULL;
	void *cs = NULL;
	int n = 0;
	int64_t s1, s2, h0;
	json_t *out;

	s1 = dev_room(&f->a, "r1", "[\"dr-1\"]");
	env_outbox(&f->a, s1, 0, &body);
	json_decref(push_ok(f, "devA", &body));
	h0 = head(f);

	/* 1..2 overlaps the 1 received; not recorded. */
	body.len = 0;
	s2 = dev_post(&f->a, "r1", "x");
	craft(store_db(f->a.s), "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r1', 'q1', 'cm-1', 1, 'x', 1)",
	    &cs, &n);
	env_raw(&body, "devA", "r1", (uint64_t)s1, (uint64_t)s2, 1, now_hlc(f),
	    cs, (size_t)n, f->a.k.sign_sk);
	/* A clock an hour ahead; not recorded either. */
	env_raw(&body, "devA", "r1", 10, 10, 1, now_hlc(f) +
	    ((uint64_t)3600 * 1000 << HLC_COUNTER_BITS), cs, (size_t)n,
	    f->a.k.sign_sk);
	sqlite3_free(cs);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "overlapping sequence range");
	assert_string_equal(rstatus(out, 1), "refused");
	assert_has(rreason(out, 1), "too far ahead");
	json_decref(out);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM "
	    "local_hub_received"), 1);
	assert_int_equal(head(f), h0);

	/* A device does not turn a patient room into a notice room (which
	 * would escape the consent and doctor rules). */
	body.len = 0;
	craft(store_db(f->a.s), "UPDATE rooms SET kind = 'notice' WHERE "
	    "room_id = 'r1'", &cs, &n);
	env_raw(&body, "devA", "r1", 11, 11, 1, now_hlc(f), cs, (size_t)n,
	    f->a.k.sign_sk);
	sqlite3_free(cs);
	/* A room id the hub does not accept. */
	craft(store_db(f->a.s), "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('../x', 'q2', 'cm-1', 1, 'x', 1)",
	    &cs, &n);
	env_raw(&body, "devA", "../x", 12, 12, 1, now_hlc(f), cs, (size_t)n,
	    f->a.k.sign_sk);
	sqlite3_free(cs);
	/* A row the hub's schema refuses (NOT NULL body), made where the
	 * constraint does not hold: the apply aborts, the envelope is
	 * refused, nothing of it stays. */
	assert_int_equal(sqlite3_open(":memory:", &loose), SQLITE_OK);
	exec(loose, "CREATE TABLE posts (room_id TEXT NOT NULL, id TEXT NOT "
	    "NULL, author TEXT, created_at INTEGER, body TEXT, deleted_at "
	    "INTEGER, hlc INTEGER, PRIMARY KEY (room_id, id)) WITHOUT ROWID");
	assert_int_equal(sqlite3session_create(loose, "main", &sess),
	    SQLITE_OK);
	assert_int_equal(sqlite3session_attach(sess, NULL), SQLITE_OK);
	exec(loose, "INSERT INTO posts VALUES ('r1', 'q3', 'cm-1', 1, 'fine', "
	    "NULL, 1), ('r1', 'q4', 'cm-1', 1, NULL, NULL, 1)");
	assert_int_equal(sqlite3session_changeset(sess, &n, &cs), SQLITE_OK);
	sqlite3session_delete(sess);
	sqlite3_close(loose);
	env_raw(&body, "devA", "r1", 13, 13, 1, now_hlc(f), cs, (size_t)n,
	    f->a.k.sign_sk);
	sqlite3_free(cs);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "patient rooms only");
	assert_string_equal(rstatus(out, 1), "refused");
	assert_has(rreason(out, 1), "not valid");
	assert_string_equal(rstatus(out, 2), "refused");
	assert_has(rreason(out, 2), "breaks a constraint");
	json_decref(out);
	assert_string_equal(qtext(hdb(f), "SELECT kind FROM rooms WHERE "
	    "room_id = 'r1'"), "patient");
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM posts"), 0);
	assert_int_equal(head(f), h0);
	buf_release(&body);
}

/* Nothing of a refused request reached the hub. */
static void
assert_nothing_applied(struct fx *f, int64_t h0)
{
	assert_int_equal(head(f), h0);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM rooms"), 0);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM posts"), 0);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM "
	    "local_hub_received"), 0);
}

static void
test_push_bad_signature(void **state)
{
	struct fx *f = *state;
	struct buf body = BUF_INIT;
	struct rk_why why = { "" };
	json_t *out = NULL;
	int64_t s1, s2, h0 = head(f);
	int rc;

	s1 = dev_room(&f->a, "r1", "[\"dr-1\"]");
	s2 = dev_post(&f->a, "r1", "x");
	env_outbox(&f->a, s1, 0, &body);
	/* Signed with the nurse's key, claiming to be devA. */
	{
		struct keys k = f->a.k;

		memcpy(f->a.k.sign_sk, f->b.k.sign_sk, 64);
		env_outbox(&f->a, s2, 0, &body);
		f->a.k = k;
	}
	rc = push(f, "devA", &body, &out, &why);
	print_message("# bad signature: %d %s\n", rc, why.text);
	assert_int_equal(rc, RK_EAUTH);
	assert_int_equal(rk_err_http_status(rc), 401);
	assert_has(why.text, "envelope 2");
	assert_has(why.text, "signature");
	assert_null(out);
	assert_nothing_applied(f, h0);

	/* An envelope from another device in devA's request. */
	body.len = 0;
	env_outbox(&f->a, s1, 0, &body);
	rc = push(f, "devB", &body, &out, &why);
	assert_int_equal(rc, RK_EDENIED);
	assert_has(why.text, "relaying");
	assert_nothing_applied(f, h0);
	buf_release(&body);
}

/* Bytes on which SQLite 3.40.1's changeset iterator never returns (found
 * by fuzzing): the hub must refuse them before SQLite reads them. */
static const uint8_t spinning_changeset[300] = {
	0x54, 0xc6, 0x69, 0x73, 0x51, 0xff, 0x4a, 0xec, 0x29, 0xcd, 0xba, 0xab,
	0xf2, 0xfb, 0xe3, 0x46, 0x7c, 0xc2, 0x54, 0xf8, 0x1b, 0xe8, 0xe7, 0x8d,
	0x76, 0x5a, 0x2e, 0x63, 0x33, 0x9f, 0xc9, 0x9a, 0x66, 0x32, 0x0d, 0xb7,
	0x31, 0x58, 0xa3, 0x5a, 0x25, 0x5d, 0x05, 0x17, 0x58, 0xe9, 0x5e, 0xd4,
	0xab, 0xb2, 0xcd, 0xc6, 0x9b, 0xb4, 0x54, 0x11, 0x0e, 0x82, 0x74, 0x41,
	0x21, 0x3d, 0xdc, 0x87, 0x70, 0xe9, 0x3e, 0xa1, 0x41, 0xe1, 0xfc, 0x67,
	0x3e, 0x01, 0x7e, 0x97, 0xea, 0xdc, 0x6b, 0x96, 0x8f, 0x38, 0x5c, 0x2a,
	0xec, 0xb0, 0x3b, 0xfb, 0x32, 0xaf, 0x3c, 0x54, 0xec, 0x18, 0xdb, 0x5c,
	0x02, 0x1a, 0xfe, 0x43, 0xfb, 0xfa, 0xaa, 0x3a, 0xfb, 0x29, 0xd1, 0xe6,
	0x05, 0x3c, 0x7c, 0x94, 0x75, 0xd8, 0xbe, 0x61, 0x89, 0xf9, 0x5c, 0xbb,
	0xa8, 0x99, 0x0f, 0x95, 0xb1, 0xeb, 0xf1, 0xb3, 0x05, 0xef, 0xf7, 0x00,
	0xe9, 0xa1, 0x3a, 0xe5, 0xca, 0x0b, 0xcb, 0xd0, 0x48, 0x47, 0x64, 0xbd,
	0x1f, 0x23, 0x1e, 0xa8, 0x1c, 0x7b, 0x64, 0xc5, 0x14, 0x73, 0x5a, 0xc5,
	0x5e, 0x4b, 0x79, 0x63, 0x3b, 0x70, 0x64, 0x24, 0x11, 0x9e, 0x09, 0xdc,
	0xaa, 0xd4, 0xac, 0xf2, 0x1b, 0x10, 0xaf, 0x3b, 0x33, 0xcd, 0xe3, 0x50,
	0x48, 0x47, 0x15, 0x5c, 0xbb, 0x6f, 0x22, 0x19, 0xba, 0x9b, 0x7d, 0xf5,
	0x0b, 0xe1, 0x1a, 0x1c, 0x7f, 0x23, 0xf8, 0x29, 0xf8, 0xa4, 0x1b, 0x13,
	0xb5, 0xca, 0x4e, 0xe8, 0x98, 0x32, 0x38, 0xe0, 0x79, 0x4d, 0x3d, 0x34,
	0xbc, 0x5f, 0x4e, 0x77, 0xfa, 0xcb, 0x6c, 0x05, 0xac, 0x86, 0x21, 0x2b,
	0xaa, 0x1a, 0x55, 0xa2, 0xbe, 0x70, 0xb5, 0x73, 0x3b, 0x04, 0x5c, 0xd3,
	0x36, 0x94, 0xb3, 0xaf, 0xe2, 0xf0, 0xe4, 0x9e, 0x4f, 0x32, 0x15, 0x49,
	0xfd, 0x82, 0x4e, 0xa9, 0x08, 0x70, 0xd4, 0xb2, 0x8a, 0x29, 0x54, 0x48,
	0x9a, 0x0a, 0xbc, 0xd5, 0x0e, 0x18, 0xa8, 0x44, 0xac, 0x5b, 0xf3, 0x8e,
	0x4c, 0xd7, 0x2d, 0x9b, 0x09, 0x42, 0xe5, 0x06, 0xc4, 0x33, 0xaf, 0xcd,
	0xa3, 0x84, 0x7f, 0x2d, 0xad, 0xd4, 0x76, 0x47, 0xde, 0x32, 0x1c, 0xec,
};

static void
test_push_truncated_and_malformed(void **state)
{
	struct fx *f = *state;
	struct buf body = BUF_INIT, one = BUF_INIT;
	struct rk_why why = { "" };
	json_t *out = NULL;
	int64_t s1, s2, h0 = head(f);
	uint8_t garbage[300];
	size_t good_len;
	int rc, i;

	s1 = dev_room(&f->a, "r1", "[\"dr-1\"]");
	s2 = dev_post(&f->a, "r1", "x");
	env_outbox(&f->a, s1, 0, &body);
	good_len = body.len;
	/* The second envelope loses its last 10 bytes; its length says so. */
	env_outbox(&f->a, s2, 0, &one);
	put_le32(&body, (uint32_t)(one.len - 4 - 10));
	assert_int_equal(buf_append(&body, one.data + 4, one.len - 4 - 10), 0);
	rc = push(f, "devA", &body, &out, &why);
	print_message("# truncated envelope: %d %s\n", rc, why.text);
	assert_int_equal(rc, RK_EPROTO);
	assert_int_equal(rk_err_http_status(rc), 400);
	assert_null(out);
	assert_nothing_applied(f, h0);

	/* Framing that claims more than the body holds. */
	body.len = good_len;
	put_le32(&body, 5000);
	assert_int_equal(buf_append(&body, one.data + 4, 200), 0);
	assert_int_equal(push(f, "devA", &body, &out, &why), RK_EPROTO);
	assert_has(why.text, "framing");
	assert_nothing_applied(f, h0);

	/* Properly signed, but the changeset is not one: seeded garbage,
	 * and bytes that would make SQLite's iterator spin. */
	for (i = 0; i < 50; i++) {
		body.len = good_len;
		rk_random(&f->clk.clock, garbage, sizeof(garbage));
		garbage[0] = 'T';
		if (i == 0)
			memcpy(garbage, spinning_changeset, sizeof(garbage));
		env_raw(&body, "devA", "r1", 50, 50, 1, now_hlc(f), garbage,
		    sizeof(garbage), f->a.k.sign_sk);
		rc = push(f, "devA", &body, &out, &why);
		if (i == 0)
			print_message("# garbage changeset: %d %s\n", rc,
			    why.text);
		assert_int_equal(rc, RK_EPROTO);
		assert_has(why.text, "malformed");
		assert_nothing_applied(f, h0);
	}

	/* An empty body is an empty push. */
	body.len = 0;
	out = push_ok(f, "devA", &body);
	assert_int_equal(json_array_size(json_object_get(out, "results")), 0);
	json_decref(out);
	buf_release(&body);
	buf_release(&one);
}

/* The head of an envelope per wire.h, for frames envelope_encode would
 * never make. */
static void
le_append(struct buf *b, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		uint8_t x = (uint8_t)(v >> (8 * i));

		assert_int_equal(buf_append(b, &x, 1), 0);
	}
}

/*
 * A push of many envelopes is read ahead of its apply by another thread
 * (hub.c); the results, refusals and errors must be those of reading them
 * one by one, in order, whether the reader runs far ahead or in step.
 */
static void
push_many(struct fx *f, size_t ahead, int64_t *seqs, size_t n)
{
	struct buf body = BUF_INIT;
	struct rk_why why = { "" };
	json_t *out = NULL;
	void *cs = NULL;
	int64_t h0 = head(f);
	size_t i, bad = n * 3 / 4;
	int nc = 0, rc;

	hub_set_read_ahead(f->hub, ahead);
	/* Envelope bad+1 signed with another device's key: nothing of the
	 * request applies, and the error names that envelope. */
	for (i = 0; i < n; i++) {
		if (i == bad) {
			struct keys k = f->a.k;

			memcpy(f->a.k.sign_sk, f->b.k.sign_sk, 64);
			env_outbox(&f->a, seqs[i], 0, &body);
			f->a.k = k;
		} else {
			env_outbox(&f->a, seqs[i], 0, &body);
		}
	}
	rc = push(f, "devA", &body, &out, &why);
	assert_int_equal(rc, RK_EAUTH);
	assert_has(why.text, "signature");
	{
		char want[32];

		snprintf(want, sizeof(want), "envelope %zu:", bad + 1);
		assert_has(why.text, want);
	}
	assert_null(out);
	assert_int_equal(head(f), h0);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM posts"), 0);

	/* A malformed changeset late in the request fails it too. */
	body.len = 0;
	for (i = 0; i < n; i++)
		env_outbox(&f->a, seqs[i], 0, &body);
	env_raw(&body, "devA", "r1", 9000, 9000, 1, now_hlc(f),
	    spinning_changeset, sizeof(spinning_changeset), f->a.k.sign_sk);
	rc = push(f, "devA", &body, &out, &why);
	assert_int_equal(rc, RK_EPROTO);
	{
		char want[32];

		snprintf(want, sizeof(want), "envelope %zu ", n + 1);
		assert_has(why.text, want);
	}
	assert_has(why.text, "malformed");
	assert_int_equal(head(f), h0);

	/* All of them, with a row of another room at a third of the way:
	 * that one refused, every other applied, in order. */
	body.len = 0;
	craft(store_db(f->a.s), "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r2', 'p-bad', 'cm-1', 1, 'x', 1)",
	    &cs, &nc);
	for (i = 0; i < n; i++) {
		if (i == n / 3)
			env_raw(&body, "devA", "r1", 9001, 9001, 1, now_hlc(f),
			    cs, (size_t)nc, f->a.k.sign_sk);
		env_outbox(&f->a, seqs[i], 0, &body);
	}
	sqlite3_free(cs);
	out = push_ok(f, "devA", &body);
	assert_int_equal(json_array_size(json_object_get(out, "results")),
	    n + 1);
	for (i = 0; i <= n; i++) {
		if (i == n / 3) {
			assert_string_equal(rstatus(out, i), "refused");
			assert_has(rreason(out, i), "row of room r2");
			continue;
		}
		assert_string_equal(rstatus(out, i), "applied");
		assert_int_equal(rseq(out, i), h0 + 1 + (int64_t)i -
		    (i > n / 3));
	}
	assert_int_equal(head(f), h0 + (int64_t)n);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM posts WHERE "
	    "room_id = 'r1'"), (int64_t)n - 1);
	json_decref(out);
	buf_release(&body);
	hub_set_read_ahead(f->hub, 0);
}

static void
read_ahead_case(struct fx *f, size_t ahead)
{
	int64_t seqs[150];
	char text[64];
	size_t i, n = sizeof(seqs) / sizeof(seqs[0]);

	seqs[0] = dev_room(&f->a, "r1", "[\"dr-1\"]");
	for (i = 1; i < n; i++) {
		snprintf(text, sizeof(text), "訪問記録 %zu", i);
		seqs[i] = dev_post(&f->a, "r1", text);
	}
	push_many(f, ahead, seqs, n);
}

/* In step: nothing is read past the envelope being applied. */
static void
test_push_read_ahead_in_step(void **state)
{
	read_ahead_case(*state, 1);
}

/* As far ahead as the reader gets. */
static void
test_push_read_ahead_far(void **state)
{
	read_ahead_case(*state, 0);
}

static void
test_push_zstd_bomb(void **state)
{
	struct fx *f = *state;
	struct buf m = BUF_INIT, body = BUF_INIT;
	struct rk_why why = { "" };
	json_t *out = NULL;
	size_t raw = WIRE_MAX_RAW + 1, zcap = ZSTD_compressBound(raw), zn;
	uint8_t *zeros = calloc(1, raw), *z = malloc(zcap), sig[64];
	int64_t h0 = head(f);
	int rc;

	assert_non_null(zeros);
	assert_non_null(z);
	zn = ZSTD_compress(z, zcap, zeros, raw, 3);
	assert_false(ZSTD_isError(zn));
	print_message("# bomb: %zu bytes expand to %zu\n", zn, raw);
	/* domain || head || frame, signed by devA's real key. */
	assert_int_equal(buf_append(&m, WIRE_SIG_ENVELOPE,
	    sizeof(WIRE_SIG_ENVELOPE)), 0);
	assert_int_equal(buf_append(&m, "RKE1", 4), 0);
	le_append(&m, 4, 1);
	assert_int_equal(buf_append(&m, "devA", 4), 0);
	le_append(&m, 2, 1);
	assert_int_equal(buf_append(&m, "r1", 2), 0);
	le_append(&m, 1, 8);
	le_append(&m, 1, 8);
	le_append(&m, 1, 2);
	le_append(&m, now_hlc(f), 8);
	le_append(&m, 0, 4);
	le_append(&m, raw, 4);
	le_append(&m, zn, 4);
	assert_int_equal(buf_append(&m, z, zn), 0);
	crypto_sign_detached(sig, NULL, m.data, m.len, f->a.k.sign_sk);
	assert_int_equal(buf_append(&m, sig, sizeof(sig)), 0);
	put_le32(&body, (uint32_t)(m.len - sizeof(WIRE_SIG_ENVELOPE)));
	assert_int_equal(buf_append(&body, m.data + sizeof(WIRE_SIG_ENVELOPE),
	    m.len - sizeof(WIRE_SIG_ENVELOPE)), 0);

	rc = push(f, "devA", &body, &out, &why);
	print_message("# zstd bomb: %d %s\n", rc, why.text);
	assert_int_equal(rc, RK_EPROTO);
	assert_true(why.text[0] != '\0');
	assert_null(out);
	assert_nothing_applied(f, h0);
	free(zeros);
	free(z);
	buf_release(&m);
	buf_release(&body);
}

static void
test_room_rules(void **state)
{
	struct fx *f = *state;
	struct buf body = BUF_INIT;
	void *cs = NULL;
	int n = 0;
	int64_t s1, s2;
	json_t *out;

	/* A care manager and a nurse alone: no doctor. */
	s1 = dev_room(&f->a, "r-nodoc", "[\"ns-1\"]");
	env_outbox(&f->a, s1, 0, &body);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "room r-nodoc: a patient room needs a "
	    "doctor or dentist among its members");
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM rooms"), 0);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM memberships"), 0);
	json_decref(out);

	/* No consent on record. */
	body.len = 0;
	craft(store_db(f->a.s), "INSERT INTO rooms (room_id, title, "
	    "created_by, created_at, hlc) VALUES ('r-nocons', 't', 'cm-1', 1, "
	    "1); INSERT INTO memberships (room_id, staff_id, added_by, "
	    "added_at, hlc) VALUES ('r-nocons', 'cm-1', 'cm-1', 1, 1), "
	    "('r-nocons', 'dr-1', 'cm-1', 1, 1)", &cs, &n);
	env_raw(&body, "devA", "r-nocons", 200, 200, 1, now_hlc(f), cs,
	    (size_t)n, f->a.k.sign_sk);
	sqlite3_free(cs);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "consent");
	json_decref(out);

	/* A member the directory does not know. */
	body.len = 0;
	s2 = dev_room(&f->a, "r-ghost", "[\"dr-1\", \"ghost-1\"]");
	env_outbox(&f->a, s2, 0, &body);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "member ghost-1 is not in the staff "
	    "directory");
	json_decref(out);

	/* The same rules for the operator. */
	admin_fails(f, admin_room_create, "{\"room_id\": \"h-1\", "
	    "\"patient_name\": \"x\", \"consent_date\": \"2025-05-01\", "
	    "\"members\": [\"ns-1\", \"cm-1\"]}", RK_EDENIED,
	    "doctor or dentist");
	admin_fails(f, admin_room_create, "{\"room_id\": \"h-1\", "
	    "\"patient_name\": \"x\", \"members\": [\"dr-1\"]}", RK_EINVAL,
	    "consent_date");
	admin_fails(f, admin_room_create, "{\"room_id\": \"h-1\", "
	    "\"patient_name\": \"x\", \"consent_date\": \"2025-06-02\", "
	    "\"members\": [\"dr-1\"]}", RK_EINVAL, "in the future");
	admin_fails(f, admin_room_create, "{\"room_id\": \"h-1\", "
	    "\"patient_name\": \"x\", \"consent_date\": \"2025-05-01\", "
	    "\"members\": [\"dr-1\", \"nobody\"]}", RK_EINVAL,
	    "staff directory");
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM rooms"), 0);
	admin_ok(f, admin_room_create, "{\"room_id\": \"h-1\", "
	    "\"patient_name\": \"x\", \"consent_date\": \"2025-05-01\", "
	    "\"members\": [\"dr-1\", \"ns-1\"]}");
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM memberships "
	    "WHERE room_id = 'h-1'"), 2);	/* no creator added */
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM local_hub_log "
	    "WHERE room_id = 'h-1'"), 1);

	/* With the setting off, a room without a doctor is accepted. */
	admin_ok(f, admin_settings_set, "{\"require_doctor\": false}");
	body.len = 0;
	s2 = dev_room(&f->a, "r-nodoc2", "[\"ns-1\"]");
	env_outbox(&f->a, s2, 0, &body);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "applied");
	json_decref(out);
	admin_ok(f, admin_room_create, "{\"room_id\": \"h-2\", "
	    "\"patient_name\": \"x\", \"consent_date\": \"2025-05-01\", "
	    "\"members\": [\"ns-1\"]}");
	/* The consent rule is not a setting. */
	body.len = 0;
	craft(store_db(f->a.s), "INSERT INTO rooms (room_id, title, "
	    "created_by, created_at, hlc) VALUES ('r-nocons2', 't', 'cm-1', 1,"
	    " 1); INSERT INTO memberships (room_id, staff_id, added_by, "
	    "added_at, hlc) VALUES ('r-nocons2', 'cm-1', 'cm-1', 1, 1)", &cs,
	    &n);
	env_raw(&body, "devA", "r-nocons2", 201, 201, 1, now_hlc(f), cs,
	    (size_t)n, f->a.k.sign_sk);
	sqlite3_free(cs);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "consent");
	json_decref(out);
	buf_release(&body);
}

/* ---- enrolment ---------------------------------------------------------- */

static void
test_enrolment(void **state)
{
	struct fx *f = *state;
	struct rk_why why = { "" };
	struct keys k, k2;
	json_t *out = NULL;
	char code[32], code2[32], lower[32], hex[65];
	int64_t h0;
	size_t i, j;
	int rc;

	make_keys(f, &k);
	make_keys(f, &k2);
	new_code(f, "ns-1", code);
	print_message("# code %s\n", code);
	assert_int_equal(strlen(code), 12);
	assert_true(code[4] == '-' && code[9] == '-');
	/* Stored hashed only. */
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM local_enroll_codes "
	    "WHERE instr(CAST(code_hash AS TEXT), %Q) > 0", code), 0);

	h0 = head(f);
	rc = enroll(f, &k, code, "tablet-9", &out, &why);
	if (rc != 0)
		fail_msg("enrol: %s", why.text);
	assert_string_equal(json_string_value(json_object_get(out, "staff")),
	    "ns-1");
	assert_string_equal(json_string_value(json_object_get(out, "agency")),
	    "vn-1");
	assert_string_equal(json_string_value(json_object_get(out, "hub_id")),
	    HUB_ID);
	sodium_bin2hex(hex, sizeof(hex), f->hk.sign_pk, 32);
	assert_string_equal(json_string_value(json_object_get(out,
	    "hub_sign_pk")), hex);
	json_decref(out);
	out = NULL;
	/* The devices row is a directory change in the hub log. */
	assert_int_equal(head(f), h0 + 1);
	assert_string_equal(qtext(hdb(f), "SELECT room_id || '|' || origin "
	    "FROM local_hub_log WHERE hub_seq = %lld", (long long)h0 + 1),
	    "|" HUB_ID);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM devices WHERE id = "
	    "'tablet-9' AND staff_id = 'ns-1' AND status = 'active'"), 1);

	/* Used once: the second use is refused, in the same words. */
	assert_int_equal(enroll(f, &k2, code, "tablet-10", &out, &why),
	    RK_EAUTH);
	assert_string_equal(why.text, "enrolment code is wrong, used or "
	    "expired");
	assert_null(out);
	/* A wrong code, likewise. */
	assert_int_equal(enroll(f, &k2, "0000-0000-00", "tablet-10", &out,
	    &why), RK_EAUTH);
	assert_string_equal(why.text, "enrolment code is wrong, used or "
	    "expired");
	/* An expired one, likewise. */
	new_code(f, "ns-1", code2);
	tu_clock_advance(&f->clk, WIRE_CODE_TTL_MS + 1000);
	assert_int_equal(enroll(f, &k2, code2, "tablet-10", &out, &why),
	    RK_EAUTH);
	assert_string_equal(why.text, "enrolment code is wrong, used or "
	    "expired");
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM devices WHERE id = "
	    "'tablet-10'"), 0);

	/* A proof by another key. */
	new_code(f, "ns-1", code2);
	{
		json_t *in = enroll_body(&k2, code2, "tablet-10");
		char spk[65];

		sodium_bin2hex(spk, sizeof(spk), k.sign_pk, 32);
		json_object_set_new(in, "sign_pk", json_string(spk));
		assert_int_equal(hub_enroll(f->hub, in, &out, &why), RK_EAUTH);
		assert_has(why.text, "proof");
		json_decref(in);
	}
	/* Another key under an enrolled id. */
	assert_int_equal(enroll(f, &k2, code2, "tablet-9", &out, &why),
	    RK_EEXIST);
	assert_has(why.text, "other keys");
	/* Typed by a person: lower case, no hyphens, O for 0, L for 1. */
	for (i = 0, j = 0; code2[i] != '\0'; i++) {
		char ch = code2[i];

		if (ch == '-')
			continue;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch == '0')
			ch = 'o';
		if (ch == '1')
			ch = 'l';
		lower[j++] = ch;
	}
	lower[j] = '\0';
	rc = enroll(f, &k2, lower, "tablet-10", &out, &why);
	if (rc != 0)
		fail_msg("enrol with %s: %s", lower, why.text);
	json_decref(out);
	out = NULL;

	/* A revoked device does not come back with a code. */
	admin_ok(f, admin_revoke, "{\"device\": \"tablet-10\"}");
	new_code(f, "ns-1", code2);
	assert_int_equal(enroll(f, &k2, code2, "tablet-10", &out, &why),
	    RK_EDENIED);
	assert_has(why.text, "revoked");
	/* Nor does a suspended member get a code. */
	admin_ok(f, admin_staff_suspend, "{\"staff\": \"ph-1\"}");
	admin_fails(f, admin_enroll_code, "{\"staff\": \"ph-1\"}", RK_EDENIED,
	    "suspended");
	admin_fails(f, admin_enroll_code, "{\"staff\": \"nobody\"}",
	    RK_ENOTFOUND, "nobody");
}

/* ---- request authentication --------------------------------------------- */

static int
auth(struct fx *f, struct dev *d, const struct rk_clock *clock,
    const char *method, const char *path, struct reqsig_headers *hd,
    struct rk_why *why)
{
	char device[65] = "";
	int rc;

	if (reqsig_sign(d->id, d->k.sign_sk, method, path,
	    (const uint8_t *)"", 0, clock, hd) != 0)
		fail_msg("reqsig_sign");
	rc = hub_auth(f->hub, hd, method, path, (const uint8_t *)"", 0,
	    device, why);
	if (rc == 0)
		assert_string_equal(device, d->id);
	return rc;
}

static void
test_auth(void **state)
{
	struct fx *f = *state;
	struct reqsig_headers hd;
	struct rk_why why = { "" };
	struct tu_clock ahead;
	struct dev ghost;
	char device[65];
	int rc;

	assert_int_equal(auth(f, &f->a, &f->clk.clock, "GET",
	    "/v1/pull?after=0", &hd, &why), 0);
	/* The same request again: a replay. */
	rc = hub_auth(f->hub, &hd, "GET", "/v1/pull?after=0",
	    (const uint8_t *)"", 0, device, &why);
	print_message("# replay: %d %s\n", rc, why.text);
	assert_int_equal(rc, RK_EAUTH);
	assert_has(why.text, "replayed");
	/* Signed for another path. */
	assert_int_equal(reqsig_sign("devA", f->a.k.sign_sk, "GET",
	    "/v1/pull?after=0", (const uint8_t *)"", 0, &f->clk.clock, &hd),
	    0);
	assert_int_equal(hub_auth(f->hub, &hd, "GET", "/v1/pull?after=5",
	    (const uint8_t *)"", 0, device, &why), RK_EAUTH);
	/* A device clock 10 minutes ahead. */
	tu_clock_init(&ahead, T0 + 10 * 60 * 1000, 7);
	rc = auth(f, &f->a, &ahead.clock, "GET", "/v1/pull?after=0", &hd,
	    &why);
	print_message("# skew: %d %s\n", rc, why.text);
	assert_int_equal(rc, RK_EAUTH);
	assert_has(why.text, "ahead");
	/* Unknown. */
	memset(&ghost, 0, sizeof(ghost));
	snprintf(ghost.id, sizeof(ghost.id), "ghost");
	make_keys(f, &ghost.k);
	assert_int_equal(auth(f, &ghost, &f->clk.clock, "GET", "/v1/pull",
	    &hd, &why), RK_EAUTH);
	assert_has(why.text, "unknown device ghost");

	/* A suspended member's device, then resumed. */
	admin_ok(f, admin_staff_suspend, "{\"staff\": \"ns-1\"}");
	rc = auth(f, &f->b, &f->clk.clock, "GET", "/v1/pull", &hd, &why);
	assert_int_equal(rc, RK_EDENIED);
	assert_int_equal(rk_err_http_status(rc), 403);
	assert_has(why.text, "staff ns-1 is suspended");
	admin_ok(f, admin_staff_resume, "{\"staff\": \"ns-1\"}");
	assert_int_equal(auth(f, &f->b, &f->clk.clock, "GET", "/v1/pull", &hd,
	    &why), 0);

	/* Revoked: the next request is refused and says so. */
	admin_ok(f, admin_revoke, "{\"device\": \"devA\"}");
	rc = auth(f, &f->a, &f->clk.clock, "GET", "/v1/pull", &hd, &why);
	print_message("# revoked: %d %s\n", rc, why.text);
	assert_int_equal(rc, RK_EDENIED);
	assert_int_equal(rk_err_http_status(rc), 403);
	assert_has(why.text, "device devA has been revoked");
	/* Idempotent. */
	admin_ok(f, admin_revoke, "{\"device\": \"devA\"}");

	/* Nonces are forgotten once no request could carry them. */
	assert_true(tu_qint(hdb(f), "SELECT count(*) FROM local_nonces") >= 3);
	tu_clock_advance(&f->clk, 2 * WIRE_SKEW_MS + 1000);
	assert_int_equal(auth(f, &f->b, &f->clk.clock, "GET", "/v1/pull", &hd,
	    &why), 0);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM local_nonces"), 1);
	/* Nonces skip the disk wait; the hub's other commits do not,
	 * after a refusal as after a pass. */
	assert_int_equal(tu_qint(hdb(f), "PRAGMA synchronous"), 2);
}

/* ---- pull and snapshot -------------------------------------------------- */

static void
apply_entries(sqlite3 *db, const struct pull_response *r)
{
	size_t i;

	for (i = 0; i < r->count; i++)
		apply_cs(db, r->entries[i].changeset,
		    r->entries[i].changeset_len);
}

static void
test_pull_snapshot_purge(void **state)
{
	struct fx *f = *state;
	struct pull_response r;
	struct buf b = BUF_INIT;
	struct rk_why why = { "" };
	sqlite3 *cdb = store_db(f->c.s);
	int64_t h, cur;
	size_t i;

	room_with(f, "r-a", "A", "cm-1");
	room_with(f, "r-b", "B", "ph-1");
	h = head(f);

	/* A new device: it must fetch the directory and its room first. */
	pull_ok(f, &f->a, 0, 0, &r);
	assert_string_equal(ctl_list(&r, "snapshot"), "(dir),r-a");
	assert_string_equal(ctl_list(&r, "purge"), "");
	assert_int_equal(r.count, 0);
	assert_int_equal(r.next_cursor, (uint64_t)h);
	assert_int_equal(r.head, (uint64_t)h);
	pull_response_release(&r);

	/* Snapshots rebuild them exactly. */
	snapshot_ok(f, &f->a, "", &r);
	assert_int_equal(r.next_cursor, (uint64_t)h);
	assert_true(r.count >= 1);	/* every table, cut at HUB_SNAPSHOT_CHUNK */
	for (i = 0; i < r.count; i++) {
		assert_int_equal(r.entries[i].hub_seq, (uint64_t)h);
		assert_string_equal(r.entries[i].room, "");
	}
	apply_entries(cdb, &r);
	pull_response_release(&r);
	assert_same_room(f, cdb, "");
	snapshot_ok(f, &f->a, "r-a", &r);
	apply_entries(cdb, &r);
	pull_response_release(&r);
	assert_same_room(f, cdb, "r-a");
	assert_int_equal(tu_qint(cdb, "SELECT count(*) FROM memberships WHERE "
	    "room_id = 'r-a'"), 2);
	assert_int_equal(tu_qint(cdb, "SELECT count(*) FROM rooms"), 1);
	/* Not a member of r-b. */
	assert_int_equal(hub_snapshot(f->hub, "devA", "r-b", &b, &why),
	    RK_EDENIED);
	assert_has(why.text, "not a member of room r-b");
	assert_int_equal(b.len, 0);

	/* Changes to its rooms and the directory reach it; r-b's do not. */
	hub_write(f, "r-a", "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r-a', 'p1', 'dr-1', 1, 'ok', 1)");
	hub_write(f, "r-b", "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r-b', 'p2', 'dr-1', 1, 'no', 1)");
	admin_ok(f, admin_agency_add, "{\"id\": \"ph-ag\", \"name\": \"薬局\", "
	    "\"kind\": \"pharmacy\"}");
	pull_ok(f, &f->a, (uint64_t)h, 0, &r);
	assert_string_equal(ctl_list(&r, "snapshot"), "");
	assert_int_equal(r.count, 2);
	assert_string_equal(r.entries[0].room, "r-a");
	assert_string_equal(r.entries[1].room, "");
	assert_int_equal(r.next_cursor, (uint64_t)head(f));
	apply_entries(cdb, &r);
	cur = (int64_t)r.next_cursor;
	pull_response_release(&r);
	assert_same_room(f, cdb, "r-a");
	assert_same_room(f, cdb, "");

	/* A limit: the cursor stops at the last entry sent. */
	hub_write(f, "r-a", "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r-a', 'p3', 'dr-1', 1, 'a', 1)");
	hub_write(f, "r-a", "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r-a', 'p4', 'dr-1', 1, 'b', 1)");
	pull_ok(f, &f->a, (uint64_t)cur, 1, &r);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.next_cursor, r.entries[0].hub_seq);
	assert_true(r.head > r.next_cursor);
	apply_entries(cdb, &r);
	cur = (int64_t)r.next_cursor;
	pull_response_release(&r);
	pull_ok(f, &f->a, (uint64_t)cur, 0, &r);
	assert_int_equal(r.count, 1);
	apply_entries(cdb, &r);
	cur = (int64_t)r.next_cursor;
	pull_response_release(&r);
	assert_same_room(f, cdb, "r-a");

	/* Joining r-b: a snapshot first; its log is not sent meanwhile. */
	hub_write(f, "r-b", "INSERT INTO memberships (room_id, staff_id, "
	    "added_by, added_at, hlc) VALUES ('r-b', 'cm-1', 'dr-1', 1, 1)");
	pull_ok(f, &f->a, (uint64_t)cur, 0, &r);
	assert_string_equal(ctl_list(&r, "snapshot"), "r-b");
	assert_int_equal(r.count, 0);
	cur = (int64_t)r.next_cursor;
	pull_response_release(&r);
	snapshot_ok(f, &f->a, "r-b", &r);
	apply_entries(cdb, &r);
	pull_response_release(&r);
	assert_same_room(f, cdb, "r-b");
	pull_ok(f, &f->a, (uint64_t)cur, 0, &r);
	assert_string_equal(ctl_list(&r, "snapshot"), "");
	assert_int_equal(r.count, 0);	/* nothing after the snapshot */
	pull_response_release(&r);

	/* Leaving r-a: purge, repeated until the device's cursor passes. */
	hub_write(f, "r-a", "UPDATE memberships SET status = 'left' WHERE "
	    "room_id = 'r-a' AND staff_id = 'cm-1'");
	pull_ok(f, &f->a, (uint64_t)cur, 0, &r);
	assert_string_equal(ctl_list(&r, "purge"), "r-a");
	assert_int_equal(r.count, 0);	/* r-a is no longer sent */
	pull_response_release(&r);
	pull_ok(f, &f->a, (uint64_t)cur, 0, &r);	/* answer lost */
	assert_string_equal(ctl_list(&r, "purge"), "r-a");
	cur = (int64_t)r.next_cursor;
	pull_response_release(&r);
	pull_ok(f, &f->a, (uint64_t)cur, 0, &r);
	assert_string_equal(ctl_list(&r, "purge"), "");
	pull_response_release(&r);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM "
	    "local_hub_device_rooms WHERE device_id = 'devA' AND room_id = "
	    "'r-a'"), 0);

	/* A cursor past the head is another hub's; a compacted log. */
	assert_int_equal(hub_pull(f->hub, "devA", (uint64_t)head(f) + 5, 0, &b,
	    &why), RK_ENOTFOUND);
	assert_has(why.text, "snapshot");
	exec(hdb(f), "DELETE FROM local_hub_log WHERE hub_seq < 5");
	assert_int_equal(hub_pull(f->hub, "devA", 2, 0, &b, &why),
	    RK_ENOTFOUND);
	assert_int_equal(b.len, 0);
	pull_ok(f, &f->a, 4, 0, &r);
	pull_response_release(&r);
}

static void
test_snapshot_chunks(void **state)
{
	struct fx *f = *state;
	struct pull_response r;
	size_t i, posts = 0;

	room_with(f, "r-a", "A", "cm-1");
	/* About 5 MiB of posts: more than one snapshot entry. */
	hub_write(f, "r-a", "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
	    "SELECT i + 1 FROM c WHERE i < 80) INSERT INTO posts (room_id, "
	    "id, author, created_at, body, hlc) SELECT 'r-a', 'p' || i, "
	    "'dr-1', i, hex(randomblob(32768)), 1 FROM c");
	snapshot_ok(f, &f->a, "r-a", &r);
	for (i = 0; i < r.count; i++) {
		assert_true(r.entries[i].changeset_len <= HUB_SNAPSHOT_CHUNK +
		    70000);
		if (r.entries[i].changeset_len > 1000000)
			posts++;
	}
	print_message("# snapshot: %zu entries, %zu large\n", r.count, posts);
	assert_true(posts >= 2);
	apply_entries(store_db(f->c.s), &r);
	pull_response_release(&r);
	assert_same_room(f, store_db(f->c.s), "r-a");
	assert_int_equal(tu_qint(store_db(f->c.s), "SELECT count(*) FROM posts"),
	    80);
}


/* Several rooms in one answer: given in order at one head, a non-member's
 * room refused (not an error), each given room recorded for the device;
 * bad lists refused whole. */
static void
test_snapshot_rooms(void **state)
{
	struct fx *f = *state;
	struct pull_response r;
	struct buf b = BUF_INIT;
	struct rk_why why = { "" };
	sqlite3 *cdb = store_db(f->c.s);
	const char *three[3] = { "", "r-b", "r-a" };
	const char *twice[2] = { "r-a", "r-a" };
	const char *bad[1] = { "no such/room" };
	const char *many[WIRE_SNAPSHOT_ROOMS_MAX + 1];
	int64_t h;
	size_t i;

	room_with(f, "r-a", "A", "cm-1");
	room_with(f, "r-b", "B", "ph-1");
	hub_write(f, "r-a", "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r-a', 'p1', 'dr-1', 1, 'ok', 1)");
	h = head(f);

	assert_int_equal(hub_snapshot_rooms(f->hub, "devA", three, 3, 0, &b,
	    &why), 0);
	assert_int_equal(pull_decode(b.data, b.len, f->hk.sign_pk, &r), 0);
	buf_release(&b);
	assert_string_equal(ctl_list(&r, "rooms"), "(dir),r-a");
	assert_string_equal(ctl_list(&r, "refused"), "r-b");
	assert_int_equal(r.next_cursor, (uint64_t)h);
	assert_int_equal(r.head, (uint64_t)h);
	for (i = 0; i < r.count; i++) {
		assert_int_equal(r.entries[i].hub_seq, (uint64_t)h);
		assert_true(strcmp(r.entries[i].room, "") == 0 ||
		    strcmp(r.entries[i].room, "r-a") == 0);
	}
	apply_entries(cdb, &r);
	pull_response_release(&r);
	assert_same_room(f, cdb, "");
	assert_same_room(f, cdb, "r-a");
	assert_int_equal(tu_qint(cdb, "SELECT count(*) FROM posts"), 1);
	assert_int_equal(tu_qint(store_db(f->hs), "SELECT count(*) FROM "
	    "local_hub_device_rooms WHERE device_id = 'devA' AND room_id IN "
	    "('', 'r-a') AND since_seq = (SELECT max(hub_seq) FROM "
	    "local_hub_log)"), 2);
	assert_int_equal(tu_qint(store_db(f->hs), "SELECT count(*) FROM "
	    "local_hub_device_rooms WHERE device_id = 'devA' AND room_id = "
	    "'r-b'"), 0);
	/* The next pull asks for no snapshot: both are followed. */
	pull_ok(f, &f->a, (uint64_t)h, 0, &r);
	assert_string_equal(ctl_list(&r, "snapshot"), "");
	pull_response_release(&r);

	assert_int_equal(hub_snapshot_rooms(f->hub, "devA", twice, 2, 0, &b,
	    &why), RK_EINVAL);
	assert_has(why.text, "named twice");
	assert_int_equal(hub_snapshot_rooms(f->hub, "devA", bad, 1, 0, &b,
	    &why), RK_EINVAL);
	for (i = 0; i < WIRE_SNAPSHOT_ROOMS_MAX + 1; i++)
		many[i] = "r-a";
	assert_int_equal(hub_snapshot_rooms(f->hub, "devA", many,
	    WIRE_SNAPSHOT_ROOMS_MAX + 1, 0, &b, &why), RK_EINVAL);
	assert_int_equal(hub_snapshot_rooms(f->hub, "nobody", three, 3, 0, &b,
	    &why), RK_EAUTH);
	assert_int_equal(b.len, 0);
	/* The record of what was given skipped the disk wait; every
	 * commit after it waits again. */
	assert_int_equal(tu_qint(store_db(f->hs), "PRAGMA synchronous"), 2);
}

/* Entries in ctl's list key; -1 when the key is absent. */
static int
ctl_count(const struct pull_response *r, const char *key)
{
	json_t *ctl = json_loads(r->ctl_json, 0, NULL), *a;
	int n;

	assert_non_null(ctl);
	a = json_object_get(ctl, key);
	n = json_is_array(a) ? (int)json_array_size(a) : -1;
	json_decref(ctl);
	return n;
}

static void
snapshot_joined(struct fx *f, const char *const *rooms, size_t n,
    struct pull_response *r)
{
	struct buf b = BUF_INIT;
	struct rk_why why = { "" };

	assert_int_equal(hub_snapshot_rooms(f->hub, "devA", rooms, n,
	    HUB_SNAP_JOINED, &b, &why), 0);
	assert_int_equal(pull_decode(b.data, b.len, f->hk.sign_pk, r), 0);
	buf_release(&b);
}

/* &joined=1: the rooms named, then every room of the staff's the device
 * was not given yet, at most WIRE_SNAPSHOT_ROOMS_MAX an answer, the rest
 * listed under "joined"; rooms given are not given again. */
static void
test_snapshot_joined(void **state)
{
	struct fx *f = *state;
	struct pull_response r;
	sqlite3 *cdb = store_db(f->c.s);
	const char *dir[1] = { "" }, *ra[1] = { "r-a" };
	struct buf b = BUF_INIT;
	struct rk_why why = { "" };
	char js[512];
	size_t i;

	room_with(f, "r-a", "A", "cm-1");
	room_with(f, "r-b", "B", "ph-1");
	room_with(f, "r-c", "C", "cm-1");
	hub_write(f, "r-c", "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r-c', 'p1', 'dr-1', 1, 'ok', 1)");

	/* The directory asked for, the staff's two rooms brought along. */
	snapshot_joined(f, dir, 1, &r);
	assert_string_equal(ctl_list(&r, "rooms"), "(dir),r-a,r-c");
	assert_int_equal(ctl_count(&r, "joined"), 0);
	assert_int_equal(ctl_count(&r, "refused"), 0);
	for (i = 0; i < r.count; i++)
		assert_true(strcmp(r.entries[i].room, "r-b") != 0);
	apply_entries(cdb, &r);
	pull_response_release(&r);
	assert_same_room(f, cdb, "");
	assert_same_room(f, cdb, "r-a");
	assert_same_room(f, cdb, "r-c");
	assert_int_equal(tu_qint(cdb, "SELECT count(*) FROM posts"), 1);

	/* Nothing new: nothing given; a room named is given again. */
	snapshot_joined(f, NULL, 0, &r);
	assert_string_equal(ctl_list(&r, "rooms"), "");
	assert_int_equal(ctl_count(&r, "joined"), 0);
	assert_int_equal(r.count, 0);
	pull_response_release(&r);
	snapshot_joined(f, ra, 1, &r);
	assert_string_equal(ctl_list(&r, "rooms"), "r-a");
	assert_int_equal(ctl_count(&r, "joined"), 0);
	pull_response_release(&r);
	/* Without the flag: the rooms named only, and no "joined". */
	assert_int_equal(hub_snapshot_rooms(f->hub, "devA", dir, 1, 0, &b,
	    &why), 0);
	assert_int_equal(pull_decode(b.data, b.len, f->hk.sign_pk, &r), 0);
	buf_release(&b);
	assert_string_equal(ctl_list(&r, "rooms"), "(dir)");
	assert_int_equal(ctl_count(&r, "joined"), -1);
	pull_response_release(&r);
	assert_int_equal(hub_snapshot_rooms(f->hub, "devA", NULL, 0, 0, &b,
	    &why), RK_EINVAL);

	/* More rooms joined than one answer takes. */
	for (i = 0; i < WIRE_SNAPSHOT_ROOMS_MAX + 2; i++) {
		snprintf(js, sizeof(js), "j-%02zu", i);
		room_with(f, js, "J", "cm-1");
	}
	snapshot_joined(f, NULL, 0, &r);
	assert_int_equal(ctl_count(&r, "rooms"), WIRE_SNAPSHOT_ROOMS_MAX);
	assert_int_equal(ctl_count(&r, "joined"), 2);
	assert_string_equal(ctl_list(&r, "joined"), "j-64,j-65");
	pull_response_release(&r);
	snapshot_joined(f, NULL, 0, &r);
	assert_string_equal(ctl_list(&r, "rooms"), "j-64,j-65");
	assert_int_equal(ctl_count(&r, "joined"), 0);
	pull_response_release(&r);
	assert_int_equal(tu_qint(store_db(f->hs), "SELECT count(*) FROM "
	    "local_hub_device_rooms WHERE device_id = 'devA' AND since_seq >= "
	    "0"), 3 + WIRE_SNAPSHOT_ROOMS_MAX + 2);
	assert_int_equal(tu_qint(store_db(f->hs), "PRAGMA synchronous"), 2);
}

/* ---- conflicts ---------------------------------------------------------- */

static void
card_patch(struct dev *d, const char *room, const char *json)
{
	struct rec_ctx c = dev_ctx(d);
	struct rk_why why = { "" };
	json_t *in = json_loads(json, 0, NULL), *out = NULL;

	if (rec_card_patch(&c, room, in, &out, &why) != 0)
		fail_msg("card: %s", why.text);
	json_decref(in);
	json_decref(out);
}

static void
test_conflict_records(void **state)
{
	struct fx *f = *state;
	struct buf body = BUF_INIT;
	json_t *out;
	int64_t s;
	void *cs = NULL;
	int n = 0;

	s = dev_room(&f->a, "r1", "[\"dr-1\", \"ns-1\"]");
	env_outbox(&f->a, s, 0, &body);
	json_decref(push_ok(f, "devA", &body));
	card_patch(&f->a, "r1", "{\"allergies\": \"ペニシリン\"}");
	body.len = 0;
	env_outbox(&f->a, dev_last_seq(&f->a), 0, &body);
	json_decref(push_ok(f, "devA", &body));
	/* The nurse's tablet is in step with the hub. */
	apply_log(f, store_db(f->b.s), "r1", 0);
	assert_same_room(f, store_db(f->b.s), "r1");

	/* Both edit the same field from the same state, offline; the
	 * nurse (devB) a little later. */
	card_patch(&f->a, "r1", "{\"allergies\": \"セフェム系\"}");
	f->clk.now_ms += 1000;
	card_patch(&f->b, "r1", "{\"allergies\": \"なし\"}");
	body.len = 0;
	env_outbox(&f->a, dev_last_seq(&f->a), 0, &body);
	json_decref(push_ok(f, "devA", &body));
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM conflicts"), 0);
	body.len = 0;
	env_outbox(&f->b, dev_last_seq(&f->b), 0, &body);
	out = push_ok(f, "devB", &body);
	assert_string_equal(rstatus(out, 0), "applied");
	json_decref(out);

	/* The later edit won; the other one is kept for review, with both
	 * authors (the hub knows who wrote its value). */
	assert_string_equal(qtext(hdb(f), "SELECT allergies FROM "
	    "emergency_cards WHERE room_id = 'r1'"), "なし");
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM conflicts"), 1);
	assert_string_equal(qtext(hdb(f), "SELECT room_id || '|' || "
	    "table_name || '|' || column_name || '|' || kind || '|' || "
	    "winner_value || '|' || loser_value || '|' || winner_origin || "
	    "'|' || loser_origin || '|' || status || '|' || row_key FROM "
	    "conflicts"), "r1|emergency_cards|allergies|review|\"なし\"|"
	    "\"セフェム系\"|devB|devA|open|{\"room_id\":\"r1\"}");
	assert_true(tu_qint(hdb(f), "SELECT winner_hlc > loser_hlc FROM "
	    "conflicts"));
	/* The record is in the canonical changeset of that push. */
	apply_log(f, store_db(f->c.s), "r1", 0);
	assert_same_room(f, store_db(f->c.s), "r1");
	assert_int_equal(tu_qint(store_db(f->c.s), "SELECT count(*) FROM "
	    "conflicts WHERE status = 'open'"), 1);

	/* An insert the hub already has, byte for byte: a replay, dropped
	 * without a record; a different one keeps the first text (posts are
	 * written once) and the other one in a record. */
	body.len = 0;
	craft(store_db(f->b.s), "DELETE FROM posts; INSERT INTO posts "
	    "(room_id, id, author, created_at, body, hlc) VALUES ('r1', 'px', "
	    "'ns-1', 5, 'same', 5)", &cs, &n);
	env_raw(&body, "devB", "r1", 300, 300, 1, now_hlc(f), cs, (size_t)n,
	    f->b.k.sign_sk);
	env_raw(&body, "devB", "r1", 301, 301, 1, now_hlc(f), cs, (size_t)n,
	    f->b.k.sign_sk);
	sqlite3_free(cs);
	craft(store_db(f->b.s), "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r1', 'px', 'ns-1', 5, 'other', "
	    "6)", &cs, &n);
	env_raw(&body, "devB", "r1", 302, 302, 1, now_hlc(f), cs, (size_t)n,
	    f->b.k.sign_sk);
	sqlite3_free(cs);
	out = push_ok(f, "devB", &body);
	assert_string_equal(rstatus(out, 0), "applied");
	assert_string_equal(rstatus(out, 1), "applied");
	assert_int_equal(rseq(out, 1), rseq(out, 0));	/* nothing new */
	assert_string_equal(rstatus(out, 2), "applied");
	json_decref(out);
	assert_string_equal(qtext(hdb(f), "SELECT body FROM posts WHERE id = "
	    "'px'"), "same");
	assert_string_equal(qtext(hdb(f), "SELECT kind || '|' || column_name "
	    "|| '|' || winner_value || '|' || loser_value FROM conflicts WHERE "
	    "table_name = 'posts'"), "insert_differs|body|\"same\"|"
	    "\"other\"");

	/* An edit of a post's text is refused outright, nothing applied. */
	body.len = 0;
	exec(store_db(f->b.s), "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r1', 'pz', 'ns-1', 5, 'v1', 5)");
	craft(store_db(f->b.s), "UPDATE posts SET body = 'v2' WHERE id = 'pz'",
	    &cs, &n);
	env_raw(&body, "devB", "r1", 303, 303, 1, now_hlc(f), cs, (size_t)n,
	    f->b.k.sign_sk);
	sqlite3_free(cs);
	out = push_ok(f, "devB", &body);
	assert_string_equal(rstatus(out, 0), "refused");
	assert_has(rreason(out, 0), "append-only");
	json_decref(out);

	/* An update of a row the hub does not have: omitted, on record. */
	body.len = 0;
	exec(store_db(f->b.s), "INSERT INTO medications (room_id, id, name, "
	    "hlc) VALUES ('r1', 'mz', 'furosemide', 5)");
	craft(store_db(f->b.s), "UPDATE medications SET dose = '40mg' WHERE "
	    "id = 'mz'", &cs, &n);
	env_raw(&body, "devB", "r1", 304, 304, 1, now_hlc(f), cs, (size_t)n,
	    f->b.k.sign_sk);
	sqlite3_free(cs);
	out = push_ok(f, "devB", &body);
	assert_string_equal(rstatus(out, 0), "applied");
	json_decref(out);
	assert_string_equal(qtext(hdb(f), "SELECT kind || '|' || column_name "
	    "|| '|' || ifnull(winner_value, 'NO ROW') || '|' || loser_value "
	    "FROM conflicts WHERE table_name = 'medications'"),
	    "update_missing|dose|NO ROW|\"40mg\"");
	buf_release(&body);
}

/* The raw changeset of log entry seq (inflated if kept as a frame);
 * *frame says which.  free() it. */
static uint8_t *
log_changeset(struct fx *f, int64_t seq, size_t *len, int *frame)
{
	sqlite3_stmt *st = NULL;
	const uint8_t *blob;
	uint8_t *raw = NULL;
	size_t n;

	assert_int_equal(sqlite3_prepare_v2(hdb(f), "SELECT changeset FROM "
	    "local_hub_log WHERE hub_seq = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	blob = sqlite3_column_blob(st, 0);
	n = (size_t)sqlite3_column_bytes(st, 0);
	*frame = pull_frame_is(blob, n);
	if (*frame) {
		assert_int_equal(pull_frame_inflate(blob, n, &raw, len), 0);
	} else {
		assert_non_null(raw = malloc(n ? n : 1));
		memcpy(raw, blob, n);
		*len = n;
	}
	sqlite3_finalize(st);
	return raw;
}

static void
assert_outbox_changeset(struct dev *d, int64_t seq, const uint8_t *cs,
    size_t n)
{
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_prepare_v2(store_db(d->s), "SELECT changeset "
	    "FROM local_outbox WHERE seq = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal((size_t)sqlite3_column_bytes(st, 0), n);
	assert_memory_equal(sqlite3_column_blob(st, 0), cs, n);
	sqlite3_finalize(st);
}

/*
 * An envelope of new rows over HUB_LOG_FRAME_MIN is logged as the zstd
 * frame a pull carries, so pulls copy it; small ones, and whatever went
 * the general way (an edit, a conflict), are logged raw.  A pull gives
 * every change back as it was.
 */
static void
test_push_log_keeps_frames(void **state)
{
	struct fx *f = *state;
	struct buf body = BUF_INIT;
	struct pull_response pr;
	char big[4096], card[4200];
	uint8_t *cs;
	size_t i, len;
	int64_t s1, s2, s3, s4, h0;
	int frame, n;
	void *raw = NULL;
	json_t *out;

	for (i = 0; i + 12 < sizeof(big); i += 12)
		memcpy(big + i, "訪問記録", 12);
	big[i] = '\0';
	s1 = dev_room(&f->a, "r1", "[\"dr-1\", \"ns-1\"]");
	env_outbox(&f->a, s1, 0, &body);
	json_decref(push_ok(f, "devA", &body));
	snapshot_ok(f, &f->b, "r1", &pr);
	pull_response_release(&pr);
	h0 = head(f);

	s2 = dev_post(&f->a, "r1", big);
	s3 = dev_post(&f->a, "r1", "短い");
	body.len = 0;
	env_outbox(&f->a, s2, 0, &body);
	env_outbox(&f->a, s3, 0, &body);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 0), "applied");
	assert_string_equal(rstatus(out, 1), "applied");
	json_decref(out);
	cs = log_changeset(f, h0 + 1, &len, &frame);
	assert_true(frame);
	assert_outbox_changeset(&f->a, s2, cs, len);
	free(cs);
	cs = log_changeset(f, h0 + 2, &len, &frame);
	assert_false(frame);
	assert_outbox_changeset(&f->a, s3, cs, len);
	free(cs);

	/* A card edit over the size goes the general way: logged raw. */
	card_patch(&f->a, "r1", "{\"allergies\": \"none\"}");
	snprintf(card, sizeof(card), "{\"allergies\": \"%s\"}", big);
	card_patch(&f->a, "r1", card);
	s4 = tu_qint(store_db(f->a.s), "SELECT max(seq) FROM local_outbox");
	body.len = 0;
	env_outbox(&f->a, s4 - 1, 0, &body);
	env_outbox(&f->a, s4, 0, &body);
	out = push_ok(f, "devA", &body);
	assert_string_equal(rstatus(out, 1), "applied");
	json_decref(out);
	cs = log_changeset(f, head(f), &len, &frame);
	assert_false(frame);
	assert_true(len > 2048);
	free(cs);

	/* New rows that meet a row already here (another body under the
	 * same key) go the general way too, with a conflict record. */
	{
		char sql[4400];
		const char *id = qtext(store_db(f->a.s), "SELECT id FROM posts "
		    "WHERE length(body) > 100");
		char idc[80];

		snprintf(idc, sizeof(idc), "%s", id);
		snprintf(sql, sizeof(sql), "INSERT INTO posts (room_id, id, "
		    "author, created_at, body, hlc) VALUES ('r1', '%s', "
		    "'ns-1', 5, '%s!', 5)", idc, big);
		craft(store_db(f->b.s), sql, &raw, &n);
	}
	body.len = 0;
	env_raw(&body, "devB", "r1", 400, 400, 1, now_hlc(f), raw, (size_t)n,
	    f->b.k.sign_sk);
	sqlite3_free(raw);
	h0 = head(f);
	out = push_ok(f, "devB", &body);
	assert_string_equal(rstatus(out, 0), "applied");
	json_decref(out);
	assert_int_equal(head(f), h0 + 1);
	cs = log_changeset(f, h0 + 1, &len, &frame);
	assert_false(frame);
	free(cs);

	/* B pulls all of it: each change as it was made, the frame too. */
	pull_ok(f, &f->b, (uint64_t)h0 - 4, 0, &pr);
	assert_int_equal(pr.count, 5);
	for (i = 0; i < pr.count; i++) {
		cs = log_changeset(f, (int64_t)pr.entries[i].hub_seq, &len,
		    &frame);
		assert_int_equal(pr.entries[i].changeset_len, len);
		assert_memory_equal(pr.entries[i].changeset, cs, len);
		free(cs);
	}
	pull_response_release(&pr);
	buf_release(&body);
}

/* ---- room hashes -------------------------------------------------------- */

static void
test_hashes(void **state)
{
	struct fx *f = *state;
	struct rk_why why = { "" };
	char good[65], bad[65];
	json_t *in, *out = NULL;
	int64_t h;

	room_with(f, "r-a", "A", "cm-1");
	h = head(f);
	room_hash(hdb(f), "r-a", good);
	memset(bad, 'a', 64);
	bad[64] = '\0';

	in = json_pack("{s:I, s:{s:s, s:s}}", "cursor", (json_int_t)h, "rooms",
	    "r-a", good, "r-secret", bad);
	assert_int_equal(hub_hashes(f->hub, "devA", in, &out, &why), 0);
	assert_int_equal(json_array_size(json_object_get(out, "mismatched")),
	    0);
	assert_int_equal(tu_qint(hdb(f), "SELECT matches FROM local_room_hashes "
	    "WHERE device_id = 'devA' AND room_id = 'r-a'"), 1);
	/* A room it does not belong to is ignored. */
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM local_room_hashes "
	    "WHERE room_id = 'r-secret'"), 0);
	json_decref(in);
	json_decref(out);

	in = json_pack("{s:I, s:{s:s}}", "cursor", (json_int_t)h, "rooms",
	    "r-a", bad);
	assert_int_equal(hub_hashes(f->hub, "devA", in, &out, &why), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    out, "mismatched"), 0)), "r-a");
	assert_int_equal(tu_qint(hdb(f), "SELECT matches FROM local_room_hashes "
	    "WHERE device_id = 'devA' AND room_id = 'r-a'"), 0);
	json_decref(out);
	/* The room changed after the device's cursor: not comparable. */
	hub_write(f, "r-a", "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('r-a', 'p1', 'dr-1', 1, 'x', 1)");
	assert_int_equal(hub_hashes(f->hub, "devA", in, &out, &why), 0);
	assert_int_equal(json_array_size(json_object_get(out, "mismatched")),
	    0);
	assert_int_equal(tu_qint(hdb(f), "SELECT matches FROM local_room_hashes "
	    "WHERE device_id = 'devA' AND room_id = 'r-a'"), -1);
	json_decref(in);
	json_decref(out);

	in = json_pack("{s:I, s:{s:s}}", "cursor", (json_int_t)h, "rooms",
	    "r-a", "not hex");
	assert_int_equal(hub_hashes(f->hub, "devA", in, &out, &why), RK_EINVAL);
	json_decref(in);
}

/* ---- admin -------------------------------------------------------------- */

static void
test_admin_directory(void **state)
{
	struct fx *f = *state;
	struct rk_why why = { "" };
	struct rec_ctx dc = dev_ctx(&f->a);
	json_t *out = NULL, *in;

	admin_fails(f, admin_agency_add, "{\"id\": \"x\", \"name\": \"X\", "
	    "\"kind\": \"bakery\"}", RK_EINVAL, "kind");
	admin_fails(f, admin_agency_add, "{\"id\": \"clinic-1\", \"name\": "
	    "\"X\", \"kind\": \"clinic\"}", RK_EEXIST, "already exists");
	admin_fails(f, admin_staff_add, "{\"id\": \"s9\", \"agency\": "
	    "\"nowhere\", \"name\": \"X\", \"profession\": \"nurse\"}",
	    RK_EINVAL, "agency");
	admin_fails(f, admin_staff_add, "{\"id\": \"s9\", \"agency\": "
	    "\"vn-1\", \"name\": \"X\", \"profession\": \"wizard\"}",
	    RK_EINVAL, "profession");
	admin_fails(f, admin_staff_add, "{\"id\": \"../x\", \"agency\": "
	    "\"vn-1\", \"name\": \"X\", \"profession\": \"nurse\"}",
	    RK_EINVAL, "id");
	admin_fails(f, admin_revoke, "{\"device\": \"nope\"}", RK_ENOTFOUND,
	    "nope");
	/* Only on a hub. */
	in = json_pack("{s:s, s:s, s:s}", "id", "x", "name", "X", "kind",
	    "clinic");
	assert_int_equal(admin_agency_add(&dc, in, &out, &why), RK_EDENIED);
	json_decref(in);

	assert_int_equal(admin_list(&f->admin, &out, &why), 0);
	assert_int_equal(json_array_size(json_object_get(out, "agencies")), 2);
	assert_int_equal(json_array_size(json_object_get(out, "staff")), 4);
	assert_int_equal(json_array_size(json_object_get(out, "devices")), 2);
	assert_true(json_is_true(json_object_get(out, "require_doctor")));
	assert_int_equal(json_integer_value(json_object_get(out, "head")),
	    head(f));
	assert_int_equal(json_integer_value(json_object_get(out,
	    "open_codes")), 0);
	json_decref(out);
	/* Every directory write is in the log as a directory change. */
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM local_hub_log "
	    "WHERE room_id <> ''"), 0);
	assert_int_equal(tu_qint(hdb(f), "SELECT count(*) FROM local_hub_log"),
	    2 + 4 + 2);
}

/* ---- HTTP --------------------------------------------------------------- */

/* Sends req to 127.0.0.1:port and reads the answer until the server
 * closes; the status, with the body copied to body. */
static int
http_raw(unsigned port, const void *req, size_t reqlen, char *body,
    size_t bodylen)
{
	static char resp[1 << 20];
	struct sockaddr_in a;
	struct timeval tv = { 20, 0 };
	size_t got = 0, off = 0;
	ssize_t k;
	int fd, status = 0;
	char *p;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	while (off < reqlen && (k = send(fd, (const char *)req + off,
	    reqlen - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)k;
	while (got < sizeof(resp) - 1 && (k = recv(fd, resp + got,
	    sizeof(resp) - 1 - got, 0)) > 0)
		got += (size_t)k;
	resp[got] = '\0';
	close(fd);
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	if (body != NULL) {
		body[0] = '\0';
		if ((p = strstr(resp, "\r\n\r\n")) != NULL)
			snprintf(body, bodylen, "%s", p + 4);
	}
	return status;
}

static int
http_req(unsigned port, const char *fmt, ...)
{
	char req[8192], body[4096];
	va_list ap;
	int status;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	status = http_raw(port, req, strlen(req), body, sizeof(body));
	print_message("# http %d %s\n", status, body);
	return status;
}

/* Sends bytes and half-closes: for garbage that may never end a request. */
static void
http_fire(unsigned port, const void *req, size_t reqlen)
{
	struct sockaddr_in a;
	struct timeval tv = { 0, 500 * 1000 };	/* a body it waits for */
	char sink[4096];
	int fd;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	(void)send(fd, req, reqlen, MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	while (recv(fd, sink, sizeof(sink), 0) > 0)
		;
	close(fd);
}

static void
http_fuzz(struct fx *f, unsigned port, int rounds)
{
	static const char *const starts[] = { "POST /v1/push", "GET /v1/pull",
	    "POST /v1/enroll", "POST /v1/hashes", "GET /v1/snapshot",
	    "GET /v1/pull?after=18446744073709551615&limit=0",
	    "GET /v1/snapshot?room=%ff%00", "DELETE /v1/push", "GET /" };
	static const char *const hdrs[] = { "Renkei-Device", "Renkei-Time",
	    "Renkei-Nonce", "Renkei-Signature", "Content-Length",
	    "Transfer-Encoding" };
	char req[8192];
	uint8_t rnd[2048];
	int i, k;
	size_t n, j;

	for (i = 0; i < rounds; i++) {
		rk_random(&f->clk.clock, rnd, sizeof(rnd));
		if (rnd[0] % 4 == 0) {		/* bytes */
			http_fire(port, rnd + 2, 1 + rnd[1] % 512);
			continue;
		}
		n = (size_t)snprintf(req, sizeof(req), "%s HTTP/1.1\r\nHost: "
		    "x\r\nConnection: close\r\n", starts[rnd[1] %
		    (sizeof(starts) / sizeof(starts[0]))]);
		for (k = 0; k < rnd[2] % 6; k++) {
			n += (size_t)snprintf(req + n, sizeof(req) - n,
			    "%s: ", hdrs[rnd[3 + k] % 6]);
			for (j = 0; j < rnd[10 + k] % 140; j++)
				req[n++] = (char)(0x21 + rnd[20 + j] % 94);
			n += (size_t)snprintf(req + n, sizeof(req) - n,
			    "\r\n");
		}
		n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
		memcpy(req + n, rnd + 300, rnd[4] * 4u);
		n += rnd[4] * 4u;
		http_fire(port, req, n);
	}
}

static void
test_http(void **state)
{
	struct fx *f = *state;
	struct hubhttp *hh = NULL;
	struct reqsig_headers hd;
	struct pull_response r;
	struct timespec t0, t1;
	char body[4096], req[4096], code[32];
	unsigned port;
	int status, n, slow[4];
	json_t *eb;
	char *ebs;
	static char resp[1 << 20];

	assert_int_equal(hubhttp_start(f->hub, f->hs, "nonsense", &hh),
	    RK_EINVAL);
	assert_int_equal(hubhttp_start(f->hub, f->hs, "127.0.0.1:0", &hh), 0);
	port = hubhttp_port(hh);
	assert_true(port > 0);

	/* Unsigned. */
	assert_int_equal(http_req(port, "GET /v1/pull?after=0 HTTP/1.1\r\n"
	    "Host: x\r\nConnection: close\r\n\r\n"), 401);
	/* No such call; wrong method. */
	assert_int_equal(http_req(port, "GET /v2/x HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n"), 404);
	assert_int_equal(http_req(port, "GET /v1/push HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n"), 405);
	/* Too large, refused before the body is read. */
	assert_int_equal(http_req(port, "POST /v1/push HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 999999999\r\nConnection: close\r\n\r\n"), 413);
	assert_int_equal(http_req(port, "POST /v1/enroll HTTP/1.1\r\nHost: "
	    "x\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n"), 413);
	/* Garbage. */
	http_req(port, "\x01\x02garbage\r\n\r\n");
	http_req(port, "POST /v1/enroll HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 5\r\nConnection: close\r\n\r\n{{{{{");

	http_fuzz(f, port, 100);
	assert_int_equal(http_req(port, "GET /v1/pull HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n"), 401);

	/* Clients that stall mid-upload hold no server thread. */
	for (n = 0; n < 4; n++) {
		static const char part[] = "POST /v1/push HTTP/1.1\r\nHost: x"
		    "\r\nContent-Length: 100000\r\n\r\nRKE1 and then nothing";
		struct sockaddr_in a;

		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		slow[n] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(connect(slow[n], (struct sockaddr *)&a,
		    sizeof(a)), 0);
		assert_int_equal(send(slow[n], part, sizeof(part) - 1,
		    MSG_NOSIGNAL), (ssize_t)sizeof(part) - 1);
	}
	usleep(100 * 1000);

	/* A signed pull, as a device sends it. */
	assert_int_equal(reqsig_sign("devA", f->a.k.sign_sk, "GET",
	    "/v1/pull?after=0&limit=10", (const uint8_t *)"", 0,
	    &f->clk.clock, &hd), 0);
	n = snprintf(req, sizeof(req), "GET /v1/pull?after=0&limit=10 "
	    "HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRenkei-Device: %s\r\n"
	    "Renkei-Time: %s\r\nRenkei-Nonce: %s\r\nRenkei-Signature: %s\r\n"
	    "\r\n", hd.device, hd.time, hd.nonce, hd.signature);
	{
		struct sockaddr_in a;
		size_t got = 0;
		ssize_t k;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		char *p;

		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)),
		    0);
		assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
		while ((k = recv(fd, resp + got, sizeof(resp) - got, 0)) > 0)
			got += (size_t)k;
		close(fd);
		assert_int_equal(strncmp(resp, "HTTP/1.1 200", 12), 0);
		for (p = resp; p + 4 <= resp + got && memcmp(p, "\r\n\r\n",
		    4) != 0; p++)
			;
		assert_true(p + 4 <= resp + got);
		p += 4;
		assert_int_equal(pull_decode((uint8_t *)p, got - (size_t)(p -
		    resp), f->hk.sign_pk, &r), 0);
		assert_string_equal(ctl_list(&r, "snapshot"), "(dir)");
		pull_response_release(&r);
	}
	/* The same bytes again: a replay. */
	assert_int_equal(http_raw(port, req, (size_t)n, body, sizeof(body)),
	    401);
	assert_has(body, "replayed");

	/* A refused enrolment is answered after the delay, and the server
	 * still serves meanwhile. */
	eb = enroll_body(&f->c.k, "AAAA-AAAA-AA", "devC");
	ebs = json_dumps(eb, JSON_COMPACT);
	n = snprintf(req, sizeof(req), "POST /v1/enroll HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\nContent-Length: %zu\r\n\r\n%s", strlen(ebs),
	    ebs);
	free(ebs);
	json_decref(eb);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	status = http_raw(port, req, (size_t)n, body, sizeof(body));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("# enrol refused in %ld ms: %s\n", (long)((t1.tv_sec -
	    t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000), body);
	assert_int_equal(status, 401);
	assert_has(body, "wrong, used or expired");
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec -
	    t0.tv_nsec) / 1000000 >= HUB_ENROLL_DELAY_MS - 50);

	/* A good enrolment over HTTP. */
	new_code(f, "ph-1", code);
	eb = enroll_body(&f->c.k, code, "devC");
	ebs = json_dumps(eb, JSON_COMPACT);
	n = snprintf(req, sizeof(req), "POST /v1/enroll HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\nContent-Length: %zu\r\n\r\n%s", strlen(ebs),
	    ebs);
	free(ebs);
	json_decref(eb);
	assert_int_equal(http_raw(port, req, (size_t)n, body, sizeof(body)),
	    200);
	assert_has(body, "\"hub_id\":\"" HUB_ID "\"");

	/* Revoked over HTTP: 403, and it says so. */
	admin_ok(f, admin_revoke, "{\"device\": \"devA\"}");
	assert_int_equal(reqsig_sign("devA", f->a.k.sign_sk, "GET",
	    "/v1/snapshot?room=", (const uint8_t *)"", 0, &f->clk.clock,
	    &hd), 0);
	assert_int_equal(http_req(port, "GET /v1/snapshot?room= HTTP/1.1\r\n"
	    "Host: x\r\nConnection: close\r\nRenkei-Device: %s\r\n"
	    "Renkei-Time: %s\r\nRenkei-Nonce: %s\r\nRenkei-Signature: %s\r\n"
	    "\r\n", hd.device, hd.time, hd.nonce, hd.signature), 403);

	for (n = 0; n < 4; n++)
		close(slow[n]);

	/* Stopping with a refused enrolment still waiting. */
	{
		eb = enroll_body(&f->c.k, "BBBB-BBBB-BB", "devC");
		ebs = json_dumps(eb, JSON_COMPACT);
		n = snprintf(req, sizeof(req), "POST /v1/enroll HTTP/1.1\r\n"
		    "Host: x\r\nContent-Length: %zu\r\n\r\n%s", strlen(ebs),
		    ebs);
		free(ebs);
		json_decref(eb);
		{
			struct sockaddr_in a;
			int fd = socket(AF_INET, SOCK_STREAM, 0);

			memset(&a, 0, sizeof(a));
			a.sin_family = AF_INET;
			a.sin_port = htons((uint16_t)port);
			inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
			assert_int_equal(connect(fd, (struct sockaddr *)&a,
			    sizeof(a)), 0);
			assert_int_equal(send(fd, req, (size_t)n,
			    MSG_NOSIGNAL), n);
			usleep(200 * 1000);
			hubhttp_stop(hh);
			close(fd);
		}
	}
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_push_applies_and_dedupes),
		T(test_push_room_mismatch_others_applied),
		T(test_push_non_member_refused),
		T(test_push_unknown_schema),
		T(test_push_more_refusals),
		T(test_push_bad_signature),
		T(test_push_truncated_and_malformed),
		T(test_push_read_ahead_in_step),
		T(test_push_read_ahead_far),
		T(test_push_zstd_bomb),
		T(test_push_log_keeps_frames),
		T(test_room_rules),
		T(test_enrolment),
		T(test_auth),
		T(test_pull_snapshot_purge),
		T(test_snapshot_chunks),
		T(test_snapshot_rooms),
		T(test_snapshot_joined),
		T(test_conflict_records),
		T(test_hashes),
		T(test_admin_directory),
		T(test_http),
	};
#undef T

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
