/*
 * test_conflicts_apply.c - conflict records wired into the hub and the
 * devices (daemon/conflicts.h), over real encrypted stores in one
 * process: a hub, the visiting nurse's tablet, the care manager's PC and
 * the doctor's PC, syncing through the sync engine's own steps (ranges,
 * envelopes, hub_push, hub_pull / hub_snapshot, sync_apply_batch).
 *
 * The scenario: both offline, the nurse changes the allergies on
 * the emergency card, the care manager changes the allergies too and the
 * family contact; after syncing both edits survive (the family contact,
 * the later allergies) and one review record keeps both allergies, the
 * same on every replica; resolving it is an ordinary change that syncs.
 * Then: the device predicts without writing records; an edit of a
 * soft-deleted medication is kept and flagged, and undeleting settles
 * it; "mine" and "theirs" for someone who wrote neither value; what the
 * hub refuses of a device's writes to the conflicts table.
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

#include "common/hlc.h"
#include "common/keys.h"
#include "daemon/admin.h"
#include "daemon/conflicts.h"
#include "daemon/envelope.h"
#include "daemon/hub.h"
#include "daemon/records.h"
#include "daemon/roomhash.h"
#include "daemon/store.h"
#include "daemon/sync.h"
#include "daemon/vfs.h"
#include "daemon/wire.h"
#include "schema/schema.h"
#include "testutil.h"
#include "tu_sql.h"

#define VFS_NAME "rk-test-conflicts"
#define HUB_ID "hub-1"
#define T0 INT64_C(1748746800000)	/* 2025-06-01 12:00 JST */

static struct vfs_crypt *g_vfs;
static size_t g_echoed;		/* sync_batch.echoed, summed */

struct dev {
	char id[65];
	char staff[65];
	struct keys k;
	struct store *s;
};

struct fx {
	char dir[PATH_MAX];
	struct tu_clock clk;
	struct keys hk;
	struct store *hs;
	struct hub *hub;
	struct rec_ctx admin;
	struct dev ns, cm, dr;	/* nurse, care manager, doctor */
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
	static char buf[2048];
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

static struct store *
open_store(struct fx *f, const char *name, const char *origin, int is_hub)
{
	struct store_opts o;
	struct store *s = NULL;
	struct rk_why why = { "" };
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s.db", f->dir, name);
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

static void
admin_ok(struct fx *f, int (*op)(struct rec_ctx *, json_t *, json_t **,
    struct rk_why *), const char *json)
{
	struct rk_why why = { "" };
	json_t *in = json_loads(json, 0, NULL), *out = NULL;

	assert_non_null(in);
	if (op(&f->admin, in, &out, &why) != 0)
		fail_msg("admin %s: %s", json, why.text);
	json_decref(in);
	json_decref(out);
}

static void
dev_init(struct fx *f, struct dev *d, const char *id, const char *staff)
{
	struct rk_why why = { "" };
	json_t *in, *out = NULL;
	char code[32], msg[256], spk[65], bpk[65], proof[129];
	uint8_t sig[64];

	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->staff, sizeof(d->staff), "%s", staff);
	make_keys(f, &d->k);
	d->s = open_store(f, id, id, 0);
	in = json_pack("{s:s}", "staff", staff);
	if (admin_enroll_code(&f->admin, in, &out, &why) != 0)
		fail_msg("enroll-code: %s", why.text);
	snprintf(code, sizeof(code), "%s", json_string_value(
	    json_object_get(out, "code")));
	json_decref(in);
	json_decref(out);
	out = NULL;
	snprintf(msg, sizeof(msg), "%s%s\n%s", WIRE_SIG_ENROLL, code, id);
	crypto_sign_detached(sig, NULL, (const uint8_t *)msg, strlen(msg),
	    d->k.sign_sk);
	sodium_bin2hex(proof, sizeof(proof), sig, sizeof(sig));
	sodium_bin2hex(spk, sizeof(spk), d->k.sign_pk, 32);
	sodium_bin2hex(bpk, sizeof(bpk), d->k.box_pk, 32);
	in = json_pack("{s:s, s:s, s:s, s:s, s:s}", "code", code, "device_id",
	    id, "sign_pk", spk, "box_pk", bpk, "proof", proof);
	if (hub_enroll(f->hub, in, &out, &why) != 0)
		fail_msg("enrol %s: %s", id, why.text);
	json_decref(in);
	json_decref(out);
}

static struct rec_ctx
ctx_of(struct dev *d)
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

static sqlite3 *
db_of(struct dev *d)
{
	return store_db(d->s);
}

/* Applies one signed pull answer (a pull or a snapshot of room). */
static void
apply_answer(struct fx *f, struct dev *d, struct buf *ans, const char *snap)
{
	struct pull_response pr;
	struct sync_batch b;
	struct rk_why why = { "" };
	int rc;

	memset(&pr, 0, sizeof(pr));
	assert_int_equal(pull_decode(ans->data, ans->len, f->hk.sign_pk, &pr),
	    0);
	memset(&b, 0, sizeof(b));
	if (snap != NULL) {
		b.snap_rooms = &snap;
		b.nsnap = 1;
		b.snap = &pr;
	} else {
		b.pull = &pr;
		b.set_cursor = 1;
		b.cursor = pr.next_cursor;
		b.head = pr.head;
	}
	store_lock(d->s);
	rc = sync_apply_batch(db_of(d), &b, &why);
	g_echoed += b.echoed;
	if (rc == 0 && b.hlc_seen > 0 && store_hlc_observe(d->s,
	    b.hlc_seen) != 0)
		fail_msg("%s: the hub's clock is far ahead", d->id);
	store_unlock(d->s);
	if (rc != 0)
		fail_msg("%s: apply: %s", d->id, why.text);
	pull_response_release(&pr);
}

/* Pulls until at the hub's head, taking the snapshots the hub asks for
 * (what sync_pull does over HTTP). */
static void
dev_pull(struct fx *f, struct dev *d)
{
	struct rk_why why = { "" };
	struct buf ans = BUF_INIT;
	int round;

	for (round = 0; round < 10; round++) {
		struct pull_response pr;
		json_t *ctl, *rooms, *r;
		int64_t cur, head;
		size_t i;

		store_lock(d->s);
		cur = tu_qint(db_of(d), "SELECT coalesce((SELECT value FROM "
		    "local_meta WHERE key = 'sync_cursor'), 0)");
		store_unlock(d->s);
		ans.len = 0;
		if (hub_pull(f->hub, d->id, (uint64_t)cur, 0, &ans, &why) != 0)
			fail_msg("%s: pull: %s", d->id, why.text);
		memset(&pr, 0, sizeof(pr));
		assert_int_equal(pull_decode(ans.data, ans.len, f->hk.sign_pk,
		    &pr), 0);
		ctl = json_loads(pr.ctl_json ? pr.ctl_json : "{}", 0, NULL);
		assert_non_null(ctl);
		head = (int64_t)pr.head;
		pull_response_release(&pr);
		rooms = json_object_get(ctl, "snapshot");
		json_array_foreach(rooms, i, r) {
			struct buf snap = BUF_INIT;

			if (hub_snapshot(f->hub, d->id, json_string_value(r),
			    &snap, &why) != 0)
				fail_msg("%s: snapshot: %s", d->id, why.text);
			apply_answer(f, d, &snap, json_string_value(r));
			buf_release(&snap);
		}
		json_decref(ctl);
		apply_answer(f, d, &ans, NULL);
		store_lock(d->s);
		cur = tu_qint(db_of(d), "SELECT value FROM local_meta WHERE key = "
		    "'sync_cursor'");
		store_unlock(d->s);
		if (cur >= head && json_array_size(rooms) == 0)
			break;
	}
	buf_release(&ans);
}

/* Pushes every pending entry; returns the answer (json_decref). */
static json_t *
dev_push(struct fx *f, struct dev *d)
{
	struct rk_why why = { "" };
	struct sync_range *ranges = NULL;
	struct buf body = BUF_INIT;
	json_t *ans = NULL;
	int64_t refused = 0, deferred = 0;
	char reason[256];
	size_t n = 0, i;

	store_lock(d->s);
	assert_int_equal(sync_assign_ranges(db_of(d), 64, 1u << 20), 0);
	assert_int_equal(sync_pending_ranges(db_of(d), &ranges, &n), 0);
	for (i = 0; i < n; i++) {
		struct buf env = BUF_INIT;
		uint8_t len[4];

		assert_int_equal(sync_build_envelope(db_of(d), &ranges[i],
		    d->k.sign_sk, &env), 0);
		len[0] = (uint8_t)env.len;
		len[1] = (uint8_t)(env.len >> 8);
		len[2] = (uint8_t)(env.len >> 16);
		len[3] = (uint8_t)(env.len >> 24);
		assert_int_equal(buf_append(&body, len, 4), 0);
		assert_int_equal(buf_append(&body, env.data, env.len), 0);
		buf_release(&env);
	}
	store_unlock(d->s);
	free(ranges);
	if (n == 0) {
		buf_release(&body);
		return json_pack("{s:[]}", "results");
	}
	if (hub_push(f->hub, d->id, body.data, body.len, &ans, &why) != 0)
		fail_msg("%s: push: %s", d->id, why.text);
	buf_release(&body);
	store_lock(d->s);
	assert_int_equal(sync_push_results(db_of(d), ans, &refused, &deferred,
	    reason, sizeof(reason), &why), 0);
	store_unlock(d->s);
	return ans;
}

static void
dev_sync(struct fx *f, struct dev *d)
{
	json_decref(dev_push(f, d));
	dev_pull(f, d);
}

static void
room_hash(sqlite3 *db, const char *room, char hex[65])
{
	assert_int_equal(roomhash_compute(db, room, hex), 0);
}

static void
assert_same_everywhere(struct fx *f, const char *room)
{
	char h[65], x[65];

	room_hash(store_db(f->hs), room, h);
	room_hash(db_of(&f->ns), room, x);
	assert_string_equal(h, x);
	room_hash(db_of(&f->cm), room, x);
	assert_string_equal(h, x);
	room_hash(db_of(&f->dr), room, x);
	assert_string_equal(h, x);
}

static void
card_set(struct dev *d, const char *room, const char *json)
{
	struct rec_ctx c = ctx_of(d);
	struct rk_why why = { "" };
	json_t *in = json_loads(json, 0, NULL), *out = NULL;

	assert_non_null(in);
	store_lock(d->s);
	if (rec_card_patch(&c, room, in, &out, &why) != 0)
		fail_msg("%s: card: %s", d->id, why.text);
	store_unlock(d->s);
	json_decref(in);
	json_decref(out);
}

/* A raw captured write on a device (what a client of another table
 * would do through records). */
static void
dev_write(struct dev *d, const char *room, const char *sql)
{
	struct store_tx *tx = NULL;
	struct rk_why why = { "" };

	store_lock(d->s);
	assert_int_equal(store_tx_begin(d->s, room, &tx), 0);
	exec(db_of(d), sql);
	if (store_tx_commit(tx, NULL, &why) != 0)
		fail_msg("%s: write: %s", d->id, why.text);
	store_unlock(d->s);
}

static json_t *
list_of(struct dev *d, int all)
{
	struct rec_ctx c = ctx_of(d);
	struct rk_why why = { "" };
	json_t *out = NULL;

	store_lock(d->s);
	if (conflicts_list(&c, all, &out, &why) != 0)
		fail_msg("%s: conflicts: %s", d->id, why.text);
	store_unlock(d->s);
	return out;
}

static int
resolve(struct dev *d, const char *id, const char *json, json_t **out,
    struct rk_why *why)
{
	struct rec_ctx c = ctx_of(d);
	json_t *in = json_loads(json, JSON_DECODE_ANY, NULL);
	int rc;

	assert_non_null(in);
	store_lock(d->s);
	rc = conflicts_resolve(&c, id, in, out, why);
	store_unlock(d->s);
	json_decref(in);
	return rc;
}

static const char *
side_str(json_t *rec, const char *side, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(rec,
	    side), key));

	return s ? s : "(null)";
}

/* ---- fixture ------------------------------------------------------------ */

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
	struct rec_ctx c;
	struct rk_why why = { "" };
	json_t *in, *out = NULL;

	assert_non_null(f);
	tu_tmpdir(f->dir, sizeof(f->dir), "conflicts");
	tu_clock_init(&f->clk, T0, tu_seed());
	make_keys(f, &f->hk);
	f->hs = open_store(f, "hub", HUB_ID, 1);
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
	admin_ok(f, admin_agency_add, "{\"id\": \"cma-1\", \"name\": "
	    "\"居宅介護支援\", \"kind\": \"care-management\"}");
	admin_ok(f, admin_staff_add, "{\"id\": \"dr-1\", \"agency\": "
	    "\"clinic-1\", \"name\": \"鈴木\", \"profession\": \"doctor\"}");
	admin_ok(f, admin_staff_add, "{\"id\": \"ns-1\", \"agency\": \"vn-1\", "
	    "\"name\": \"佐藤\", \"profession\": \"nurse\"}");
	admin_ok(f, admin_staff_add, "{\"id\": \"cm-1\", \"agency\": "
	    "\"cma-1\", \"name\": \"高橋\", \"profession\": "
	    "\"care-manager\"}");
	dev_init(f, &f->ns, "devN", "ns-1");
	dev_init(f, &f->cm, "devC", "cm-1");
	dev_init(f, &f->dr, "devD", "dr-1");
	dev_sync(f, &f->ns);
	dev_sync(f, &f->cm);
	dev_sync(f, &f->dr);

	/* The care manager opens the room; the nurse fills in the card. */
	c = ctx_of(&f->cm);
	in = json_loads("{\"room_id\": \"tanaka\", \"patient_name\": "
	    "\"田中 花子\", \"consent_date\": \"2025-05-30\", \"members\": "
	    "[\"dr-1\", \"ns-1\", \"cm-1\"]}", 0, NULL);
	store_lock(f->cm.s);
	if (rec_room_create(&c, in, &out, &why) != 0)
		fail_msg("room: %s", why.text);
	store_unlock(f->cm.s);
	json_decref(in);
	json_decref(out);
	dev_sync(f, &f->cm);
	dev_sync(f, &f->ns);
	f->clk.now_ms += 1000;
	card_set(&f->ns, "tanaka", "{\"allergies\": \"なし\", "
	    "\"family_contacts\": \"長女 090-1111-2222\", \"diagnoses\": "
	    "\"心不全\"}");
	dev_sync(f, &f->ns);
	dev_sync(f, &f->cm);
	dev_sync(f, &f->dr);
	assert_same_everywhere(f, "tanaka");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	hub_close(f->hub);
	store_close(f->ns.s);
	store_close(f->cm.s);
	store_close(f->dr.s);
	store_close(f->hs);
	if (getenv("RK_TEST_KEEP") == NULL)
		tu_rm_rf(f->dir);
	free(f);
	return 0;
}

/* ---- the scenario ----------------------------------------------- */

/* Both offline: the nurse at the patient's home at 12:10, the care
 * manager at the office at 12:20. */
static void
offline_edits(struct fx *f)
{
	f->clk.now_ms += 10 * 60 * 1000;
	card_set(&f->ns, "tanaka", "{\"allergies\": \"ペニシリン\"}");
	f->clk.now_ms += 10 * 60 * 1000;
	card_set(&f->cm, "tanaka", "{\"allergies\": \"セフェム系\", "
	    "\"family_contacts\": \"長男 080-3333-4444\"}");
}

static void
check_one_review(struct fx *f, struct dev *d, char id[64])
{
	json_t *l = list_of(d, 0), *r;

	assert_int_equal(json_integer_value(json_object_get(l, "open")), 1);
	assert_int_equal(json_array_size(json_object_get(l, "conflicts")), 1);
	r = json_array_get(json_object_get(l, "conflicts"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "kind")),
	    "review");
	assert_string_equal(json_string_value(json_object_get(r, "table")),
	    "emergency_cards");
	assert_string_equal(json_string_value(json_object_get(r, "column")),
	    "allergies");
	assert_string_equal(side_str(r, "winner", "value"), "セフェム系");
	assert_string_equal(side_str(r, "winner", "staff"), "cm-1");
	assert_string_equal(side_str(r, "winner", "staff_name"), "高橋");
	assert_string_equal(side_str(r, "loser", "value"), "ペニシリン");
	assert_string_equal(side_str(r, "loser", "staff"), "ns-1");
	assert_true(json_integer_value(json_object_get(json_object_get(r,
	    "winner"), "at")) > json_integer_value(json_object_get(
	    json_object_get(r, "loser"), "at")));
	/* "mine" is from the asking device's point of view. */
	assert_int_equal(json_is_true(json_object_get(json_object_get(r,
	    "loser"), "mine")), d == &f->ns);
	snprintf(id, 64, "%s", json_string_value(json_object_get(r, "id")));
	json_decref(l);
	(void)f;
}

static void
check_card(struct fx *f, struct dev *d, const char *allergies,
    const char *family)
{
	sqlite3 *db = d ? db_of(d) : store_db(f->hs);

	assert_string_equal(qtext(db, "SELECT allergies FROM emergency_cards "
	    "WHERE room_id = 'tanaka'"), allergies);
	assert_string_equal(qtext(db, "SELECT family_contacts FROM "
	    "emergency_cards WHERE room_id = 'tanaka'"), family);
	assert_string_equal(qtext(db, "SELECT diagnoses FROM emergency_cards "
	    "WHERE room_id = 'tanaka'"), "心不全");
}

static void
scenario(struct fx *f, int nurse_first)
{
	struct rk_why why = { "" };
	json_t *out = NULL;
	char id[64], id2[64];

	offline_edits(f);
	if (nurse_first) {
		dev_sync(f, &f->ns);
		dev_sync(f, &f->cm);
	} else {
		dev_sync(f, &f->cm);
		dev_sync(f, &f->ns);
	}
	dev_sync(f, &f->ns);
	dev_sync(f, &f->cm);
	dev_sync(f, &f->dr);

	/* Both edits survive: the care manager's family contact, and the
	 * later allergies; the nurse's allergies are kept for review. */
	check_card(f, NULL, "セフェム系", "長男 080-3333-4444");
	check_card(f, &f->ns, "セフェム系", "長男 080-3333-4444");
	check_card(f, &f->cm, "セフェム系", "長男 080-3333-4444");
	check_card(f, &f->dr, "セフェム系", "長男 080-3333-4444");
	assert_int_equal(tu_qint(store_db(f->hs), "SELECT count(*) FROM "
	    "conflicts"), 1);
	check_one_review(f, &f->ns, id);
	check_one_review(f, &f->cm, id2);
	assert_string_equal(id, id2);
	check_one_review(f, &f->dr, id2);
	assert_string_equal(id, id2);
	assert_same_everywhere(f, "tanaka");

	/* The care manager, who is one side, may not keep "theirs" for the
	 * doctor, who wrote neither value. */
	assert_int_equal(resolve(&f->dr, id, "{\"keep\": \"mine\"}", &out,
	    &why), RK_EINVAL);
	assert_non_null(strstr(why.text, "neither"));
	assert_null(out);

	/* The nurse confirms her own entry; the resolution syncs. */
	f->clk.now_ms += 60 * 1000;
	assert_int_equal(resolve(&f->ns, id + strlen(id) - 8,
	    "{\"keep\": \"mine\"}", &out, &why), 0);
	assert_string_equal(json_string_value(json_object_get(out, "status")),
	    "resolved");
	assert_string_equal(json_string_value(json_object_get(out,
	    "resolution")), "mine");
	assert_string_equal(json_string_value(json_object_get(out,
	    "resolved_value")), "ペニシリン");
	json_decref(out);
	out = NULL;
	/* Local at once, with the nurse's name on the card. */
	check_card(f, &f->ns, "ペニシリン", "長男 080-3333-4444");
	assert_string_equal(qtext(db_of(&f->ns), "SELECT updated_by FROM "
	    "emergency_cards"), "ns-1");
	dev_sync(f, &f->ns);
	dev_sync(f, &f->cm);
	dev_sync(f, &f->dr);
	check_card(f, NULL, "ペニシリン", "長男 080-3333-4444");
	check_card(f, &f->cm, "ペニシリン", "長男 080-3333-4444");
	check_card(f, &f->dr, "ペニシリン", "長男 080-3333-4444");
	/* Resolved everywhere, kept as history, no new conflict. */
	assert_int_equal(tu_qint(store_db(f->hs), "SELECT count(*) FROM "
	    "conflicts"), 1);
	assert_string_equal(qtext(db_of(&f->dr), "SELECT status || '|' || "
	    "resolution || '|' || resolved_by || '|' || resolved_value FROM "
	    "conflicts"), "resolved|mine|ns-1|\"ペニシリン\"");
	{
		json_t *l = list_of(&f->cm, 0);

		assert_int_equal(json_array_size(json_object_get(l,
		    "conflicts")), 0);
		json_decref(l);
		l = list_of(&f->cm, 1);
		assert_int_equal(json_array_size(json_object_get(l,
		    "conflicts")), 1);
		json_decref(l);
	}
	assert_int_equal(resolve(&f->cm, id, "{\"keep\": \"theirs\"}", &out,
	    &why), RK_EEXIST);
	assert_same_everywhere(f, "tanaka");
}

static void
test_card_nurse_first(void **state)
{
	scenario(*state, 1);
}

static void
test_card_care_manager_first(void **state)
{
	scenario(*state, 0);
}

/* ---- a device predicts, the hub records --------------------------------- */

static void
test_device_predicts_without_records(void **state)
{
	struct fx *f = *state;
	json_t *l;

	offline_edits(f);
	dev_sync(f, &f->cm);
	/* The nurse pulls before she pushes: her pending allergies go back
	 * on top with the hub's rules -- the care manager's later value
	 * wins, and nothing is recorded here (the hub will). */
	dev_pull(f, &f->ns);
	check_card(f, &f->ns, "セフェム系", "長男 080-3333-4444");
	assert_int_equal(tu_qint(db_of(&f->ns), "SELECT count(*) FROM "
	    "conflicts"), 0);
	assert_int_equal(tu_qint(db_of(&f->ns), "SELECT count(*) FROM "
	    "local_outbox WHERE status = 'pending'"), 1);
	dev_sync(f, &f->ns);
	l = list_of(&f->ns, 0);
	assert_int_equal(json_array_size(json_object_get(l, "conflicts")), 1);
	json_decref(l);
	dev_sync(f, &f->cm);
	dev_sync(f, &f->dr);
	assert_same_everywhere(f, "tanaka");
}

/* ---- deletion: an edit of a soft-deleted row is kept and flagged -------- */

static void
test_edit_of_deleted_medication(void **state)
{
	struct fx *f = *state;
	struct rk_why why = { "" };
	json_t *l, *r, *out = NULL;
	char id[64];

	f->clk.now_ms += 1000;
	dev_write(&f->dr, "tanaka", "INSERT INTO medications (room_id, id, "
	    "name, dose, hlc) VALUES ('tanaka', 'm1', 'フロセミド', '20mg', 1)");
	dev_sync(f, &f->dr);
	dev_sync(f, &f->ns);
	/* The doctor stops it (soft delete); the nurse, offline, corrects
	 * the dose. */
	f->clk.now_ms += 60 * 1000;
	dev_write(&f->dr, "tanaka", "UPDATE medications SET deleted_at = "
	    "1748747000000, hlc = 2 WHERE id = 'm1'");
	f->clk.now_ms += 60 * 1000;
	dev_write(&f->ns, "tanaka", "UPDATE medications SET dose = '40mg', "
	    "hlc = 3 WHERE id = 'm1'");
	dev_sync(f, &f->dr);
	dev_sync(f, &f->ns);
	dev_sync(f, &f->dr);
	dev_sync(f, &f->cm);
	/* The edit is kept in the row, the row stays deleted, flagged. */
	assert_string_equal(qtext(store_db(f->hs), "SELECT dose || '|' || "
	    "deleted_at FROM medications"), "40mg|1748747000000");
	l = list_of(&f->cm, 0);
	assert_int_equal(json_array_size(json_object_get(l, "conflicts")), 1);
	r = json_array_get(json_object_get(l, "conflicts"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "kind")),
	    "deleted_edit");
	assert_string_equal(json_string_value(json_object_get(r, "column")),
	    "deleted_at");
	assert_true(json_is_null(json_object_get(json_object_get(r, "loser"),
	    "value")));
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r,
	    "id")));
	json_decref(l);
	assert_same_everywhere(f, "tanaka");

	/* The nurse keeps hers: the medication is taken up again. */
	assert_int_equal(resolve(&f->ns, id, "{\"keep\": \"mine\"}", &out,
	    &why), 0);
	json_decref(out);
	dev_sync(f, &f->ns);
	dev_sync(f, &f->dr);
	dev_sync(f, &f->cm);
	assert_string_equal(qtext(db_of(&f->dr), "SELECT dose || '|' || "
	    "ifnull(deleted_at, 'live') FROM medications"), "40mg|live");
	assert_int_equal(tu_qint(store_db(f->hs), "SELECT count(*) FROM "
	    "conflicts WHERE status = 'open'"), 0);
	assert_same_everywhere(f, "tanaka");
}

/* ---- a value typed in, and what the hub refuses ------------------------- */

static void
test_keep_value_and_refusals(void **state)
{
	struct fx *f = *state;
	struct rk_why why = { "" };
	json_t *out = NULL, *l, *ans;
	char id[64];

	offline_edits(f);
	dev_sync(f, &f->ns);
	dev_sync(f, &f->cm);
	dev_sync(f, &f->dr);
	l = list_of(&f->dr, 0);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(
	    json_array_get(json_object_get(l, "conflicts"), 0), "id")));
	json_decref(l);

	assert_int_equal(resolve(&f->dr, "no-such-conflict",
	    "{\"keep\": \"x\"}", &out, &why), RK_ENOTFOUND);
	assert_int_equal(resolve(&f->dr, id, "{\"keep\": true}", &out, &why),
	    RK_EINVAL);
	assert_int_equal(resolve(&f->dr, id, "{}", &out, &why), RK_EINVAL);
	/* The doctor checked both with the family: neither, but both. */
	f->clk.now_ms += 1000;
	assert_int_equal(resolve(&f->dr, id, "{\"keep\": \"ペニシリン、"
	    "セフェム系\"}", &out, &why), 0);
	assert_string_equal(json_string_value(json_object_get(out,
	    "resolution")), "value");
	json_decref(out);
	out = NULL;
	dev_sync(f, &f->dr);
	dev_sync(f, &f->ns);
	dev_sync(f, &f->cm);
	check_card(f, &f->cm, "ペニシリン、セフェム系", "長男 080-3333-4444");
	assert_same_everywhere(f, "tanaka");

	/* A device may not insert records, nor resolve in another's name,
	 * nor rewrite a record's content. */
	dev_write(&f->ns, "tanaka", "INSERT INTO conflicts (room_id, id, "
	    "created_at, table_name, row_key, column_name, kind, winner_hlc, "
	    "loser_hlc, winner_origin, loser_origin, hlc) VALUES ('tanaka', "
	    "'x1', 1, 'emergency_cards', '{}', 'allergies', 'review', 1, 1, "
	    "'', '', 1)");
	ans = dev_push(f, &f->ns);
	assert_non_null(strstr(json_string_value(json_object_get(
	    json_array_get(json_object_get(ans, "results"), 0), "reason")),
	    "written by the hub only"));
	json_decref(ans);
	exec(store_db(f->hs), "SELECT 1");	/* the hub is fine */
	dev_write(&f->ns, "tanaka", "UPDATE conflicts SET loser_value = "
	    "'\"x\"', hlc = hlc + 1");
	ans = dev_push(f, &f->ns);
	assert_non_null(strstr(json_string_value(json_object_get(
	    json_array_get(json_object_get(ans, "results"), 0), "reason")),
	    "may only resolve"));
	json_decref(ans);
	/* The refused writes leave the replica at the next pull. */
	dev_pull(f, &f->ns);
	assert_same_everywhere(f, "tanaka");
}

/* ---- a constraint the device's schema did not have ---------------------- */

/* A changeset as other software could send it: a post without its text
 * (NOT NULL at the hub) next to a clean change.  The constraint conflict
 * refuses the whole envelope; nothing of it is applied. */
static void
test_constraint_refuses_envelope(void **state)
{
	struct fx *f = *state;
	struct rk_why why = { "" };
	struct envelope e;
	struct buf one = BUF_INIT, body = BUF_INIT;
	sqlite3 *db = NULL;
	sqlite3_session *sess = NULL;
	json_t *ans = NULL;
	void *cs = NULL;
	int n = 0;
	int64_t head;
	uint8_t len[4];

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	exec(db, "CREATE TABLE posts (room_id, id, author, created_at, body, "
	    "deleted_at, hlc, PRIMARY KEY (room_id, id)) WITHOUT ROWID;"
	    "CREATE TABLE patients (room_id PRIMARY KEY, name, name_kana, "
	    "birth_date, sex, address, phone, hlc) WITHOUT ROWID;"
	    "INSERT INTO patients VALUES ('tanaka', 'x', NULL, NULL, NULL, "
	    "NULL, NULL, 1)");
	assert_int_equal(sqlite3session_create(db, "main", &sess), SQLITE_OK);
	assert_int_equal(sqlite3session_attach(sess, NULL), SQLITE_OK);
	exec(db, "UPDATE patients SET phone = '03-9999' WHERE room_id = "
	    "'tanaka'; INSERT INTO posts VALUES ('tanaka', 'px', 'ns-1', 1, "
	    "NULL, NULL, 2)");
	assert_int_equal(sqlite3session_changeset(sess, &n, &cs), SQLITE_OK);
	sqlite3session_delete(sess);
	sqlite3_close(db);

	memset(&e, 0, sizeof(e));
	snprintf(e.origin, sizeof(e.origin), "%s", f->ns.id);
	snprintf(e.room, sizeof(e.room), "tanaka");
	e.seq_first = e.seq_last = 1000;
	e.schema_version = (uint16_t)schema_version();
	e.hlc = (uint64_t)f->clk.now_ms << HLC_COUNTER_BITS;
	e.changeset = cs;
	e.changeset_len = (size_t)n;
	assert_int_equal(envelope_encode(&e, f->ns.k.sign_sk, &one), 0);
	len[0] = (uint8_t)one.len;
	len[1] = (uint8_t)(one.len >> 8);
	len[2] = (uint8_t)(one.len >> 16);
	len[3] = (uint8_t)(one.len >> 24);
	assert_int_equal(buf_append(&body, len, 4), 0);
	assert_int_equal(buf_append(&body, one.data, one.len), 0);
	head = tu_qint(store_db(f->hs), "SELECT max(hub_seq) FROM local_hub_log");
	if (hub_push(f->hub, f->ns.id, body.data, body.len, &ans, &why) != 0)
		fail_msg("push: %s", why.text);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(ans, "results"), 0), "status")), "refused");
	assert_non_null(strstr(json_string_value(json_object_get(
	    json_array_get(json_object_get(ans, "results"), 0), "reason")),
	    "constraint"));
	/* Nothing partial: the clean phone change is not there either. */
	assert_string_equal(qtext(store_db(f->hs), "SELECT ifnull(phone, "
	    "'none') FROM patients WHERE room_id = 'tanaka'"), "none");
	assert_int_equal(tu_qint(store_db(f->hs), "SELECT max(hub_seq) FROM "
	    "local_hub_log"), head);
	assert_int_equal(tu_qint(store_db(f->hs), "SELECT count(*) FROM "
	    "conflicts"), 0);
	json_decref(ans);
	buf_release(&one);
	buf_release(&body);
	sqlite3_free(cs);
}

/* ---- a device's own changes coming back --------------------------------- */

static void
post(struct dev *d, const char *id, int64_t hlc)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('tanaka', '%s', '%s', 1, '本文 %s',"
	    " %lld)", id, d->staff, id, (long long)hlc);
	dev_write(d, "tanaka", sql);
}

/*
 * A pull that brings back the device's own envelopes, as sent, leaves its
 * rows alone (echoed), and takes another device's entries after them when
 * none of its own in the same room follows; anything else -- another
 * device's entry before its own in that room, a change the hub merged --
 * takes the general way.  The replica ends the same either way.
 */
static void
test_own_changes_echoed(void **state)
{
	struct fx *f = *state;

	/* Three posts, pushed and pulled back: all three echoed. */
	post(&f->ns, "e1", 10);
	post(&f->ns, "e2", 11);
	post(&f->ns, "e3", 12);
	g_echoed = 0;
	dev_sync(f, &f->ns);
	assert_int_equal(g_echoed, 3);
	dev_pull(f, &f->cm);
	dev_pull(f, &f->dr);
	assert_same_everywhere(f, "tanaka");
	assert_int_equal(tu_qint(db_of(&f->ns), "SELECT count(*) FROM "
	    "local_outbox WHERE applied IS NULL OR length(applied) > 0"), 0);

	/* Pushed, then one more written before the pull: the pushed one is
	 * echoed, the new one stays on top, pending and in effect. */
	post(&f->ns, "e4", 13);
	json_decref(dev_push(f, &f->ns));
	post(&f->ns, "e5", 14);
	g_echoed = 0;
	dev_pull(f, &f->ns);
	assert_int_equal(g_echoed, 1);
	assert_int_equal(tu_qint(db_of(&f->ns), "SELECT count(*) FROM posts "
	    "WHERE id IN ('e4', 'e5')"), 2);
	assert_int_equal(tu_qint(db_of(&f->ns), "SELECT count(*) FROM "
	    "local_outbox WHERE status = 'pending' AND applied IS NULL"), 1);
	dev_sync(f, &f->ns);
	dev_pull(f, &f->cm);
	dev_pull(f, &f->dr);
	assert_same_everywhere(f, "tanaka");

	/* Another device's post after its own: the nurse's is echoed and
	 * the other taken after it; for the care manager, whose post came
	 * second, the nurse's comes first in the same room: nothing is
	 * echoed there. */
	post(&f->ns, "e6", 15);
	json_decref(dev_push(f, &f->ns));
	post(&f->cm, "c1", 16);
	json_decref(dev_push(f, &f->cm));
	g_echoed = 0;
	dev_pull(f, &f->ns);
	assert_int_equal(g_echoed, 1);
	assert_int_equal(tu_qint(db_of(&f->ns), "SELECT count(*) FROM posts "
	    "WHERE id = 'c1'"), 1);
	g_echoed = 0;
	dev_pull(f, &f->cm);
	assert_int_equal(g_echoed, 0);
	dev_pull(f, &f->dr);
	assert_same_everywhere(f, "tanaka");
	assert_int_equal(tu_qint(db_of(&f->dr), "SELECT count(*) FROM posts "
	    "WHERE id IN ('e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'c1')"), 7);

	/* A card edit that the hub merges with a newer one: the canonical
	 * change differs from what was sent, so it is not echoed. */
	f->clk.now_ms += 1000;
	card_set(&f->cm, "tanaka", "{\"allergies\": \"卵\"}");
	f->clk.now_ms += 1000;
	card_set(&f->ns, "tanaka", "{\"allergies\": \"そば\"}");
	dev_sync(f, &f->ns);
	g_echoed = 0;
	dev_sync(f, &f->cm);
	assert_int_equal(g_echoed, 0);
	dev_sync(f, &f->ns);
	dev_sync(f, &f->dr);
	assert_same_everywhere(f, "tanaka");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_card_nurse_first),
		T(test_card_care_manager_first),
		T(test_device_predicts_without_records),
		T(test_edit_of_deleted_medication),
		T(test_keep_value_and_refusals),
		T(test_constraint_refuses_envelope),
		T(test_own_changes_echoed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
