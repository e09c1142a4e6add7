/*
 * test_roomwork.c - the room's work (daemon/roomwork.h) on a real
 * encrypted store: requests and their states (who may move them, which
 * way, overdue), read receipts, invitations and the doctor-or-dentist rule
 * when someone leaves, the main and deputy doctor, archiving, ACP
 * history, medications, the patient's details, the sheets filled from the
 * room, and the audit trail with the hub's hash chain (its format pinned
 * by a known answer).  Every refused call must leave the replica and its
 * outbox as they were.
 *
 * The same program is also a tool for tests/integ/t_room_audit.sh, which
 * must alter a hub's encrypted replica the way an insider holding its key
 * could:
 *     test_roomwork --tamper DIR PASSFILE ROOM alter|delete
 * changes (or deletes) the second chained audit event of ROOM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "common/conf.h"
#include "common/fsutil.h"
#include "common/keys.h"
#include "common/pass.h"
#include "daemon/records.h"
#include "daemon/retention.h"
#include "daemon/roomwork.h"
#include "daemon/store.h"
#include "daemon/vfs.h"
#include "testutil.h"
#include "tu_sql.h"

#define VFS_NAME "rk-test-roomwork"

/* 2025-06-01T03:00:00Z = 2025-06-01 12:00 in Japan. */
#define T0 INT64_C(1748746800000)
#define DAY_MS INT64_C(86400000)

static struct vfs_crypt *g_vfs;

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX + 32];
	char hpath[PATH_MAX + 32];
	struct tu_clock clk;
	struct store *s;	/* the device */
	struct store *h;	/* a hub, for the chain */
	struct rec_ctx c;
	struct rec_ctx hc;
};

/* --- helpers ------------------------------------------------------------ */

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
		fail_msg("%s: no row", sql);
	snprintf(buf, sizeof(buf), "%s", sqlite3_column_text(st, 0) ?
	    (const char *)sqlite3_column_text(st, 0) : "(null)");
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return buf;
}

static sqlite3 *
db_of(struct fx *f)
{
	return store_db(f->s);
}

static int64_t
outbox(struct fx *f)
{
	return tu_qint(db_of(f), "SELECT count(*) FROM local_outbox");
}

static json_t *
J(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);

	if (j == NULL)
		fail_msg("bad test JSON %s: %s", text, err.text);
	return j;
}

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

typedef int (*call_fn)(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why);

/* The reads without a body, in the shape of call_fn. */
static int
members_fn(struct rec_ctx *c, const char *room, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_members(c, room, out, why);
}

static int
acp_list_fn(struct rec_ctx *c, const char *room, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_acp_list(c, room, out, why);
}

/* Calls fn with JSON text as input; *out NULL unless it succeeds. */
static int
call(struct fx *f, call_fn fn, const char *room, const char *text,
    json_t **out, struct rk_why *why)
{
	json_t *in = text != NULL ? J(text) : NULL;
	int rc;

	*out = NULL;
	memset(why, 0, sizeof(*why));
	rc = fn(&f->c, room, in, out, why);
	json_decref(in);
	return rc;
}

/* A call that must succeed; returns its answer (json_decref it). */
static json_t *
ok(struct fx *f, call_fn fn, const char *room, const char *text)
{
	struct rk_why why;
	json_t *out = NULL;
	int rc = call(f, fn, room, text, &out, &why);

	if (rc != 0)
		fail_msg("%s: %d %s", text ? text : "(no body)", rc, why.text);
	assert_non_null(out);
	return out;
}

/* A call that must be refused with want, naming mention, writing nothing. */
static void
refused(struct fx *f, call_fn fn, const char *room, const char *text,
    int want, const char *mention)
{
	struct rk_why why;
	json_t *out = NULL;
	int64_t before = outbox(f);
	int rc = call(f, fn, room, text, &out, &why);

	if (rc != want)
		fail_msg("%s: got %d (%s), want %d", text ? text : "(none)", rc,
		    why.text, want);
	assert_null(out);
	if (mention != NULL && strstr(why.text, mention) == NULL)
		fail_msg("reason '%s' does not mention '%s'", why.text, mention);
	assert_int_equal(outbox(f), before);
	assert_true(sqlite3_get_autocommit(db_of(f)));
}

static void
as(struct fx *f, const char *staff)
{
	f->c.staff = staff;
}

/* Room with the acting staff (owner), dr-1 and nurse-2. */
static void
make_room(struct fx *f, const char *room)
{
	struct rk_why why;
	json_t *in, *out = NULL;
	char text[512];

	snprintf(text, sizeof(text), "{\"room_id\": \"%s\", \"patient_name\": "
	    "\"山田 花子\", \"consent_date\": \"2025-05-01\", \"birth_date\": "
	    "\"1938-04-02\", \"members\": [\"dr-1\", \"nurse-2\"]}", room);
	in = J(text);
	if (rec_room_create(&f->c, in, &out, &why) != 0)
		fail_msg("room create %s: %s", room, why.text);
	json_decref(in);
	json_decref(out);
}

/* The id of a new request to assignee. */
static char *
request(struct fx *f, const char *assignee, const char *due)
{
	char text[512];
	json_t *o;
	char *id;

	snprintf(text, sizeof(text), "{\"assignee\": \"%s\", \"kind\": "
	    "\"visiting-nurse-instruction\", \"title\": \"指示書をお願いします\""
	    "%s%s%s}", assignee, due ? ", \"due_date\": \"" : "",
	    due ? due : "", due ? "\"" : "");
	o = ok(f, roomwork_request_add, "room-a", text);
	id = strdup(jstr(o, "id"));
	json_decref(o);
	return id;
}

static json_t *
set_status(struct fx *f, const char *id, const char *status,
    const char *reason)
{
	char text[512];

	snprintf(text, sizeof(text), "{\"id\": \"%s\", \"status\": \"%s\"%s%s%s}",
	    id, status, reason ? ", \"reason\": \"" : "", reason ? reason : "",
	    reason ? "\"" : "");
	return ok(f, roomwork_request_status, "room-a", text);
}

static void
status_refused(struct fx *f, const char *id, const char *status,
    const char *reason, int want, const char *mention)
{
	char text[512];

	snprintf(text, sizeof(text), "{\"id\": \"%s\", \"status\": \"%s\"%s%s%s}",
	    id, status, reason ? ", \"reason\": \"" : "", reason ? reason : "",
	    reason ? "\"" : "");
	refused(f, roomwork_request_status, "room-a", text, want, mention);
}

/* The changeset of outbox entry seq: how many rows of table it holds. */
static int
rows_in(struct fx *f, int64_t seq, const char *table)
{
	sqlite3_stmt *q = NULL;
	sqlite3_changeset_iter *it = NULL;
	int n = 0;

	assert_int_equal(sqlite3_prepare_v2(db_of(f), "SELECT changeset FROM "
	    "local_outbox WHERE seq = ?1", -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_int64(q, 1, seq);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3changeset_start(&it, sqlite3_column_bytes(q, 0),
	    (void *)sqlite3_column_blob(q, 0)), SQLITE_OK);
	while (sqlite3changeset_next(it) == SQLITE_ROW) {
		const char *t;
		int nc, op, ind;

		sqlite3changeset_op(it, &t, &nc, &op, &ind);
		if (strcmp(t, table) == 0)
			n++;
	}
	sqlite3changeset_finalize(it);
	sqlite3_finalize(q);
	return n;
}

static int64_t
last_seq(struct fx *f)
{
	return tu_qint(db_of(f), "SELECT max(seq) FROM local_outbox");
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

static const char directory_sql[] =
    "INSERT INTO agencies (id, name, kind, hlc) VALUES ('ag-d', '山田医院', "
    "'clinic', 1), ('ag-n', '訪問看護ひまわり', 'visiting-nurse', 1), "
    "('ag-c', 'ケアプランさくら', 'care-management', 1);"
    "INSERT INTO staff (id, agency_id, name, profession, phone, status, hlc) "
    "VALUES ('nurse-1', 'ag-n', '看護 一子', 'nurse', NULL, 'active', 1), "
    "('nurse-2', 'ag-n', '看護 二郎', 'nurse', NULL, 'active', 1), "
    "('cm-1', 'ag-c', 'ケアマネ 三子', 'care-manager', '0422-00-0003', "
    "'active', 1), "
    "('dr-1', 'ag-d', '医師 太郎', 'doctor', '0422-00-0001', 'active', 1), "
    "('dr-2', 'ag-d', '医師 次郎', 'doctor', '0422-00-0002', 'active', 1), "
    "('dds-1', 'ag-d', '歯科 花子', 'dentist', NULL, 'active', 1), "
    "('gone-1', 'ag-n', '休止 中', 'nurse', NULL, 'suspended', 1)";

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_opts o;
	struct rk_why why = { "" };

	if (f == NULL)
		return -1;
	tu_tmpdir(f->dir, sizeof(f->dir), "roomwork");
	snprintf(f->path, sizeof(f->path), "%s/replica.db", f->dir);
	snprintf(f->hpath, sizeof(f->hpath), "%s/hub.db", f->dir);
	tu_clock_init(&f->clk, T0, tu_seed());
	memset(&o, 0, sizeof(o));
	o.path = f->path;
	o.vfs = VFS_NAME;
	o.origin = "dev-1";
	o.clock = &f->clk.clock;
	if (store_open(&o, &f->s, &why) != 0) {
		fprintf(stderr, "store_open: %s\n", why.text);
		return -1;
	}
	o.path = f->hpath;
	o.origin = "hub-1";
	o.is_hub = 1;
	if (store_open(&o, &f->h, &why) != 0) {
		fprintf(stderr, "store_open hub: %s\n", why.text);
		return -1;
	}
	f->c.store = f->s;
	f->c.staff = "nurse-1";
	f->c.role = "device";
	f->c.device_id = "dev-1";
	f->hc.store = f->h;
	f->hc.is_hub = 1;
	f->hc.staff = "hub-1";
	f->hc.role = "hub";
	f->hc.device_id = "hub-1";
	exec(store_db(f->s), directory_sql);
	exec(store_db(f->h), directory_sql);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	store_close(f->h);
	if (tu_rm_rf(f->dir) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

/* --- requests ------------------------------------------------------------- */

static void
test_request_refusals(void **state)
{
	struct fx *f = *state;

	make_room(f, "room-a");
	make_room(f, "room-b");
	refused(f, roomwork_request_add, "room-a", "{\"assignee\": \"cm-1\", "
	    "\"kind\": \"free\", \"title\": \"t\"}", RK_EINVAL, "assignee");
	refused(f, roomwork_request_add, "room-a", "{\"assignee\": \"nobody\", "
	    "\"kind\": \"free\", \"title\": \"t\"}", RK_EINVAL, "assignee");
	refused(f, roomwork_request_add, "room-a", "{\"assignee\": "
	    "\"nurse-1\", \"kind\": \"free\", \"title\": \"t\"}", RK_EINVAL,
	    "yourself");
	refused(f, roomwork_request_add, "room-a", "{\"assignee\": \"dr-1\", "
	    "\"kind\": \"letter\", \"title\": \"t\"}", RK_EINVAL, "kind");
	refused(f, roomwork_request_add, "room-a", "{\"assignee\": \"dr-1\", "
	    "\"kind\": \"free\"}", RK_EINVAL, "title");
	refused(f, roomwork_request_add, "room-a", "{\"assignee\": \"dr-1\", "
	    "\"kind\": \"free\", \"title\": \"   \"}", RK_EINVAL, "title");
	refused(f, roomwork_request_add, "room-a", "{\"assignee\": \"dr-1\", "
	    "\"kind\": \"free\", \"title\": \"t\", \"due_date\": "
	    "\"2025-05-31\"}", RK_EINVAL, "due_date: 2025-05-31 is before "
	    "today");
	refused(f, roomwork_request_add, "room-a", "{\"assignee\": \"dr-1\", "
	    "\"kind\": \"free\", \"title\": \"t\", \"due_date\": "
	    "\"2025-06-31\"}", RK_EINVAL, "due_date");
	refused(f, roomwork_request_add, "room-a", "{\"assignee\": \"dr-1\", "
	    "\"kind\": \"free\", \"title\": \"t\", \"extra\": 1}", RK_EINVAL,
	    "extra");
	refused(f, roomwork_request_add, "room-a", "[]", RK_EINVAL, "body");
	refused(f, roomwork_request_add, "room-x", "{\"assignee\": \"dr-1\", "
	    "\"kind\": \"free\", \"title\": \"t\"}", RK_ENOTFOUND, "no room");
	as(f, "cm-1");
	refused(f, roomwork_request_add, "room-a", "{\"assignee\": \"dr-1\", "
	    "\"kind\": \"free\", \"title\": \"t\"}", RK_EDENIED, "not a member");
	as(f, "nurse-1");
	exec(db_of(f), "UPDATE rooms SET status = 'archived' WHERE room_id = "
	    "'room-b'");
	refused(f, roomwork_request_add, "room-b", "{\"assignee\": \"dr-1\", "
	    "\"kind\": \"free\", \"title\": \"t\"}", RK_EDENIED, "archived");
	/* Due today is fine. */
	json_decref(ok(f, roomwork_request_add, "room-a", "{\"assignee\": "
	    "\"dr-1\", \"kind\": \"free\", \"title\": \"t\", \"due_date\": "
	    "\"2025-06-01\"}"));
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM requests"), 1);
}

static void
test_request_life(void **state)
{
	struct fx *f = *state;
	json_t *o, *list;
	char *id, *id2;
	int64_t n;

	make_room(f, "room-a");
	id = request(f, "dr-1", "2025-06-10");
	/* One write: the request and its audit note in one changeset. */
	assert_int_equal(rows_in(f, last_seq(f), "requests"), 1);
	assert_int_equal(rows_in(f, last_seq(f), "audit_events"), 2);

	/* Only the assignee moves it. */
	status_refused(f, id, "acknowledged", NULL, RK_EDENIED,
	    "asked of dr-1");
	as(f, "nurse-2");
	status_refused(f, id, "done", NULL, RK_EDENIED, "only dr-1");
	as(f, "dr-1");
	status_refused(f, id, "declined", NULL, RK_EINVAL, "reason");
	status_refused(f, id, "declined", "  ", RK_EINVAL, "reason");
	status_refused(f, id, "closed", NULL, RK_EINVAL, "status");
	status_refused(f, id, "withdrawn", NULL, RK_EDENIED, "withdraw");
	status_refused(f, "01NOSUCHREQUEST0000000000", "done", NULL,
	    RK_ENOTFOUND, "no request");

	tu_clock_advance(&f->clk, 60 * 1000);
	o = set_status(f, id, "acknowledged", NULL);
	assert_string_equal(jstr(o, "status"), "acknowledged");
	assert_int_equal(json_integer_value(json_object_get(o,
	    "acknowledged_at")), T0 + 60 * 1000);
	/* Answering implies reading. */
	assert_int_equal(json_array_size(json_object_get(o, "read_by")), 1);
	json_decref(o);
	/* The same state again writes nothing (the request named by the
	 * end of its id, as the lists show it). */
	n = outbox(f);
	o = set_status(f, id + strlen(id) - 6, "acknowledged", NULL);
	assert_string_equal(jstr(o, "id"), id);
	json_decref(o);
	assert_int_equal(outbox(f), n);

	tu_clock_advance(&f->clk, 60 * 1000);
	o = set_status(f, id, "done", "郵送しました");
	assert_string_equal(jstr(o, "status"), "done");
	assert_string_equal(jstr(o, "status_by"), "dr-1");
	assert_string_equal(jstr(o, "status_reason"), "郵送しました");
	assert_int_equal(json_integer_value(json_object_get(o,
	    "acknowledged_at")), T0 + 60 * 1000);
	json_decref(o);
	status_refused(f, id, "acknowledged", NULL, RK_EINVAL, "already done");
	status_refused(f, id, "declined", "x", RK_EINVAL, "already done");

	/* Done straight from open: acknowledged then too. */
	as(f, "nurse-1");
	id2 = request(f, "dr-1", NULL);
	as(f, "dr-1");
	o = set_status(f, id2, "done", NULL);
	assert_true(json_is_integer(json_object_get(o, "acknowledged_at")));
	json_decref(o);

	/* Withdrawn by the requester only; then nobody moves it. */
	as(f, "nurse-1");
	free(id2);
	id2 = request(f, "nurse-2", NULL);
	as(f, "nurse-2");
	status_refused(f, id2, "withdrawn", NULL, RK_EDENIED,
	    "only they can withdraw");
	as(f, "nurse-1");
	o = set_status(f, id2, "withdrawn", NULL);
	assert_true(json_is_true(json_object_get(o, "withdrawn")));
	json_decref(o);
	as(f, "nurse-2");
	status_refused(f, id2, "acknowledged", NULL, RK_EINVAL, "withdrawn");

	/* The list hides withdrawn ones unless asked. */
	as(f, "nurse-1");
	list = ok(f, roomwork_requests_list, "room-a", NULL);
	assert_int_equal(json_array_size(json_object_get(list, "requests")), 2);
	json_decref(list);
	list = ok(f, roomwork_requests_list, "room-a", "{\"all\": true}");
	assert_int_equal(json_array_size(json_object_get(list, "requests")), 3);
	json_decref(list);
	free(id);
	free(id2);
}

static void
test_request_overdue(void **state)
{
	struct fx *f = *state;
	json_t *list, *st, *q;
	struct rk_why why;
	char *late, *later;

	make_room(f, "room-a");
	later = request(f, "dr-1", "2025-06-20");
	late = request(f, "dr-1", "2025-06-03");
	json_decref(ok(f, roomwork_request_add, "room-a", "{\"assignee\": "
	    "\"dr-1\", \"kind\": \"free\", \"title\": \"期限なし\"}"));

	/* 2025-06-04 09:00 in Japan: the one due on the 3rd is overdue. */
	tu_clock_set(&f->clk, T0 + 2 * DAY_MS + 18 * 3600 * 1000);
	list = ok(f, roomwork_requests_list, "room-a", NULL);
	assert_string_equal(jstr(list, "today"), "2025-06-04");
	q = json_array_get(json_object_get(list, "requests"), 0);
	assert_string_equal(jstr(q, "id"), late);
	assert_true(json_is_true(json_object_get(q, "overdue")));
	q = json_array_get(json_object_get(list, "requests"), 1);
	assert_string_equal(jstr(q, "id"), later);
	assert_false(json_is_true(json_object_get(q, "overdue")));
	json_decref(list);

	assert_int_equal(rec_status(&f->c, &st, &why), 0);
	assert_int_equal(json_integer_value(json_object_get(st,
	    "requests_open")), 3);
	assert_int_equal(json_integer_value(json_object_get(st,
	    "requests_overdue")), 1);
	json_decref(st);
	as(f, "dr-1");
	assert_int_equal(rec_status(&f->c, &st, &why), 0);
	assert_int_equal(json_integer_value(json_object_get(st,
	    "requests_for_me")), 3);
	json_decref(st);

	/* Done is never overdue. */
	json_decref(set_status(f, late, "done", NULL));
	assert_int_equal(rec_status(&f->c, &st, &why), 0);
	assert_int_equal(json_integer_value(json_object_get(st,
	    "requests_overdue")), 0);
	json_decref(st);
	assert_int_equal(roomwork_requests_mine(&f->c, &list, &why), 0);
	assert_int_equal(json_array_size(json_object_get(list, "requests")), 2);
	json_decref(list);
	free(late);
	free(later);
}

/* --- read receipts ------------------------------------------------------------- */

static void
test_read_receipts(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *in, *o, *r;
	char text[200];
	char *post, *rq;
	int64_t n;

	make_room(f, "room-a");
	in = J("{\"body\": \"今日の様子\"}");
	assert_int_equal(rec_post_add(&f->c, "room-a", in, &o, &why), 0);
	json_decref(in);
	post = strdup(jstr(o, "id"));
	json_decref(o);
	rq = request(f, "dr-1", NULL);

	as(f, "dr-1");
	tu_clock_advance(&f->clk, 5000);
	snprintf(text, sizeof(text), "{\"id\": \"%s\"}", post);
	o = ok(f, roomwork_read_mark, "room-a", text);
	assert_string_equal(jstr(o, "type"), "post");
	assert_int_equal(json_integer_value(json_object_get(o, "read_at")),
	    T0 + 5000);
	json_decref(o);
	/* Twice: the first time stays, nothing is written. */
	n = outbox(f);
	tu_clock_advance(&f->clk, 5000);
	o = ok(f, roomwork_read_mark, "room-a", text);
	assert_int_equal(json_integer_value(json_object_get(o, "read_at")),
	    T0 + 5000);
	assert_false(json_is_true(json_object_get(o, "new")));
	json_decref(o);
	assert_int_equal(outbox(f), n);

	as(f, "nurse-2");
	/* Named by its last characters, in any case, as the lists show
	 * ids: the answer says the whole id. */
	snprintf(text, sizeof(text), "{\"id\": \"%s\"}", rq + strlen(rq) - 6);
	for (char *p = text; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	o = ok(f, roomwork_read_mark, "room-a", text);
	assert_string_equal(jstr(o, "id"), rq);
	assert_string_equal(jstr(o, "type"), "request");
	json_decref(o);
	snprintf(text, sizeof(text), "{\"id\": \"%s\"}", rq);
	json_decref(ok(f, roomwork_read_mark, "room-a", text));
	/* Fewer than 4 characters name nothing; an end shared by the post
	 * and the request names neither. */
	snprintf(text, sizeof(text), "{\"id\": \"%s\"}", rq + strlen(rq) - 3);
	refused(f, roomwork_read_mark, "room-a", text, RK_ENOTFOUND,
	    "no post or request");
	{
		char sql[400];

		/* A post whose id ends as the request's does (written here
		 * directly: generated ids would rarely share an end). */
		snprintf(sql, sizeof(sql), "INSERT INTO posts (room_id, id, "
		    "author, created_at, body, hlc) VALUES ('room-a', "
		    "'ZZ%s', 'nurse-1', 1, 'x', 1)", rq + strlen(rq) - 8);
		exec(store_db(f->c.store), sql);
		snprintf(text, sizeof(text), "{\"id\": \"%s\"}",
		    rq + strlen(rq) - 6);
		refused(f, roomwork_read_mark, "room-a", text, RK_EINVAL,
		    "more than one");
	}
	refused(f, roomwork_read_mark, "room-a", "{\"id\": \"nothing\"}",
	    RK_ENOTFOUND, "no post or request");
	refused(f, roomwork_read_mark, "room-a", "{}", RK_EINVAL, "id");

	as(f, "nurse-1");
	assert_int_equal(roomwork_receipts(&f->c, "room-a", &o, &why), 0);
	r = json_object_get(json_object_get(o, "receipts"), post);
	assert_int_equal(json_array_size(r), 1);
	assert_string_equal(jstr(json_array_get(r, 0), "staff"), "dr-1");
	assert_string_equal(jstr(json_array_get(r, 0), "name"), "医師 太郎");
	json_decref(o);
	/* The requester sees who read the request. */
	o = ok(f, roomwork_requests_list, "room-a", NULL);
	r = json_object_get(json_array_get(json_object_get(o, "requests"), 0),
	    "read_by");
	assert_int_equal(json_array_size(r), 1);
	assert_string_equal(jstr(json_array_get(r, 0), "staff"), "nurse-2");
	json_decref(o);
	free(post);
	free(rq);
}

/* --- members -------------------------------------------------------------------- */

static void
test_invite_and_answer(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *o;

	make_room(f, "room-a");
	refused(f, roomwork_member_invite, "room-a", "{\"staff\": \"dr-1\"}",
	    RK_EEXIST, "already a member");
	refused(f, roomwork_member_invite, "room-a", "{\"staff\": \"ghost\"}",
	    RK_EINVAL, "not in the staff directory");
	refused(f, roomwork_member_invite, "room-a", "{\"staff\": \"gone-1\"}",
	    RK_EINVAL, "suspended");
	refused(f, roomwork_member_invite, "room-a", "{\"staff\": \"../x\"}",
	    RK_EINVAL, "staff");
	o = ok(f, roomwork_member_invite, "room-a", "{\"staff\": \"cm-1\"}");
	assert_string_equal(jstr(o, "status"), "invited");
	json_decref(o);
	refused(f, roomwork_member_invite, "room-a", "{\"staff\": \"cm-1\"}",
	    RK_EEXIST, "already invited");

	/* The invitee sees the invitation, not the room. */
	as(f, "cm-1");
	assert_int_equal(roomwork_invitations(&f->c, &o, &why), 0);
	assert_int_equal(json_array_size(json_object_get(o, "invitations")), 1);
	assert_string_equal(jstr(json_array_get(json_object_get(o,
	    "invitations"), 0), "invited_by"), "nurse-1");
	json_decref(o);
	assert_int_equal(rec_status(&f->c, &o, &why), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "invitations")),
	    1);
	json_decref(o);
	refused(f, roomwork_requests_list, "room-a", NULL, RK_EDENIED,
	    "not a member");
	refused(f, roomwork_invitation_answer, "room-a", "{}", RK_EINVAL,
	    "accept");
	o = ok(f, roomwork_invitation_answer, "room-a", "{\"accept\": true}");
	assert_string_equal(jstr(o, "status"), "active");
	json_decref(o);
	/* Only the invitee's membership changed (with the audit note). */
	assert_int_equal(rows_in(f, last_seq(f), "memberships"), 1);
	refused(f, roomwork_invitation_answer, "room-a", "{\"accept\": true}",
	    RK_EINVAL, "already a member");
	json_decref(ok(f, roomwork_requests_list, "room-a", NULL));

	/* Declining leaves; a new invitation brings one back. */
	as(f, "nurse-1");
	json_decref(ok(f, roomwork_member_invite, "room-a",
	    "{\"staff\": \"dr-2\"}"));
	as(f, "dr-2");
	o = ok(f, roomwork_invitation_answer, "room-a", "{\"accept\": false}");
	assert_string_equal(jstr(o, "status"), "left");
	json_decref(o);
	as(f, "nurse-1");
	json_decref(ok(f, roomwork_member_invite, "room-a",
	    "{\"staff\": \"dr-2\"}"));
	assert_string_equal(qtext(db_of(f), "SELECT status FROM memberships "
	    "WHERE staff_id = 'dr-2'"), "invited");
}

static void
test_leave_and_doctor_rule(void **state)
{
	struct fx *f = *state;
	json_t *o;

	make_room(f, "room-a");
	/* dr-1 is the only doctor: they cannot leave, nor be removed. */
	as(f, "dr-1");
	refused(f, roomwork_member_leave, "room-a", NULL, RK_EDENIED,
	    "only doctor or dentist");
	as(f, "nurse-1");
	refused(f, roomwork_member_leave, "room-a", "{\"staff\": \"dr-1\"}",
	    RK_EDENIED, "only doctor or dentist");
	/* Not the owner: cannot remove others. */
	as(f, "nurse-2");
	refused(f, roomwork_member_leave, "room-a", "{\"staff\": \"nurse-1\"}",
	    RK_EDENIED, "owner");
	refused(f, roomwork_member_leave, "room-a", "{\"staff\": \"cm-1\"}",
	    RK_EINVAL, "not a member");

	/* A dentist counts; an invited doctor does not. */
	as(f, "nurse-1");
	json_decref(ok(f, roomwork_member_invite, "room-a",
	    "{\"staff\": \"dr-2\"}"));
	as(f, "dr-1");
	refused(f, roomwork_member_leave, "room-a", NULL, RK_EDENIED,
	    "only doctor");
	as(f, "nurse-1");
	json_decref(ok(f, roomwork_member_invite, "room-a",
	    "{\"staff\": \"dds-1\"}"));
	as(f, "dds-1");
	json_decref(ok(f, roomwork_invitation_answer, "room-a",
	    "{\"accept\": true}"));

	/* Main and deputy doctor. */
	as(f, "nurse-1");
	refused(f, roomwork_room_doctors, "room-a", "{\"primary\": "
	    "\"nurse-2\"}", RK_EINVAL, "not a doctor");
	refused(f, roomwork_room_doctors, "room-a", "{\"primary\": \"dr-2\"}",
	    RK_EINVAL, "not an active member");
	refused(f, roomwork_room_doctors, "room-a", "{\"primary\": \"dr-1\", "
	    "\"deputy\": \"dr-1\"}", RK_EINVAL, "both");
	refused(f, roomwork_room_doctors, "room-a", "{}", RK_EINVAL, "primary");
	o = ok(f, roomwork_room_doctors, "room-a", "{\"primary\": \"dr-1\", "
	    "\"deputy\": \"dds-1\"}");
	assert_string_equal(jstr(o, "primary_doctor"), "dr-1");
	assert_string_equal(jstr(o, "deputy_doctor"), "dds-1");
	json_decref(o);

	/* Now dr-1 may leave; they stop being the main doctor. */
	as(f, "dr-1");
	o = ok(f, roomwork_member_leave, "room-a", NULL);
	assert_string_equal(jstr(o, "status"), "left");
	json_decref(o);
	as(f, "nurse-1");
	o = ok(f, members_fn, "room-a", NULL);
	assert_true(json_is_null(json_object_get(o, "primary_doctor")));
	assert_string_equal(jstr(o, "deputy_doctor"), "dds-1");
	json_decref(o);
	/* The owner withdraws an invitation, removes a member. */
	json_decref(ok(f, roomwork_member_leave, "room-a",
	    "{\"staff\": \"dr-2\"}"));
	json_decref(ok(f, roomwork_member_leave, "room-a",
	    "{\"staff\": \"nurse-2\"}"));
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM memberships WHERE "
	    "room_id = 'room-a' AND status = 'active'"), 2);
}

static void
test_archive(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *o, *in;

	make_room(f, "room-a");
	refused(f, roomwork_room_archive, "room-a", "{\"reason\": \"bored\"}",
	    RK_EINVAL, "reason");
	refused(f, roomwork_room_archive, "room-a", "{}", RK_EINVAL, "reason");
	o = ok(f, roomwork_room_archive, "room-a", "{\"reason\": \"death\"}");
	assert_string_equal(jstr(o, "status"), "archived");
	json_decref(o);
	assert_string_equal(qtext(db_of(f), "SELECT archive_reason FROM rooms"),
	    "death");
	assert_int_equal(tu_qint(db_of(f), "SELECT archived_at FROM room_details"),
	    T0);
	/* Read-only from now on, every kind of write. */
	refused(f, roomwork_room_archive, "room-a", "{\"reason\": \"moved\"}",
	    RK_EDENIED, "archived");
	refused(f, roomwork_request_add, "room-a", "{\"assignee\": \"dr-1\", "
	    "\"kind\": \"free\", \"title\": \"t\"}", RK_EDENIED, "archived");
	refused(f, roomwork_member_invite, "room-a", "{\"staff\": \"cm-1\"}",
	    RK_EDENIED, "archived");
	refused(f, roomwork_acp_record, "room-a", "{\"wishes\": \"w\", "
	    "\"present\": \"p\"}", RK_EDENIED, "archived");
	refused(f, roomwork_med_add, "room-a", "{\"name\": \"m\"}", RK_EDENIED,
	    "archived");
	refused(f, roomwork_patient_patch, "room-a", "{\"phone\": \"1\"}",
	    RK_EDENIED, "archived");
	in = J("{\"body\": \"x\"}");
	assert_int_equal(rec_post_add(&f->c, "room-a", in, &o, &why),
	    RK_EDENIED);
	json_decref(in);
	/* Still readable. */
	json_decref(ok(f, members_fn, "room-a", NULL));
	json_decref(ok(f, roomwork_requests_list, "room-a", NULL));
}

/* --- the patient, ACP, medications -------------------------------------------- */

static void
test_patient_acp_meds(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *o, *card;
	char text[200];

	make_room(f, "room-a");
	refused(f, roomwork_patient_patch, "room-a", "{\"birth_date\": "
	    "\"2025-06-02\"}", RK_EINVAL, "birth_date: 2025-06-02 is in the "
	    "future");
	refused(f, roomwork_patient_patch, "room-a", "{\"name\": null}",
	    RK_EINVAL, "name");
	refused(f, roomwork_patient_patch, "room-a", "{\"blood\": \"A\"}",
	    RK_EINVAL, "blood");
	o = ok(f, roomwork_patient_patch, "room-a", "{\"address\": "
	    "\"武蔵野市緑町2-2-28\", \"phone\": \"0422-60-1941\"}");
	assert_string_equal(jstr(o, "address"), "武蔵野市緑町2-2-28");
	assert_string_equal(jstr(o, "name"), "山田 花子");
	json_decref(o);

	refused(f, roomwork_acp_record, "room-a", "{\"wishes\": \"w\"}",
	    RK_EINVAL, "present");
	refused(f, roomwork_acp_record, "room-a", "{\"present\": \"p\"}",
	    RK_EINVAL, "wishes");
	refused(f, roomwork_acp_record, "room-a", "{\"wishes\": \"w\", "
	    "\"present\": \"p\", \"discussed_on\": \"2025-07-01\"}", RK_EINVAL,
	    "discussed_on");
	json_decref(ok(f, roomwork_acp_record, "room-a", "{\"wishes\": "
	    "\"家で過ごしたい\", \"present\": \"本人、長女\"}"));
	tu_clock_advance(&f->clk, DAY_MS);
	as(f, "dr-1");
	json_decref(ok(f, roomwork_acp_record, "room-a", "{\"wishes\": "
	    "\"家で看取りを\", \"present\": \"本人、長女、医師\", \"dnar\": "
	    "\"DNAR\", \"summary\": \"自宅看取り希望\"}"));
	o = ok(f, acp_list_fn, "room-a", NULL);
	assert_int_equal(json_array_size(json_object_get(o, "revisions")), 2);
	assert_string_equal(jstr(json_object_get(o, "current"), "wishes"),
	    "家で看取りを");
	assert_string_equal(jstr(json_object_get(o, "current"),
	    "recorded_by"), "dr-1");
	json_decref(o);
	/* The current summary and DNAR feed the card. */
	assert_int_equal(rec_card_get(&f->c, "room-a", &card, &why), 0);
	assert_string_equal(jstr(card, "acp_summary"), "自宅看取り希望");
	assert_string_equal(jstr(card, "dnar"), "DNAR");
	assert_string_equal(jstr(json_object_get(card, "acp"), "present"),
	    "本人、長女、医師");
	json_decref(card);

	refused(f, roomwork_med_add, "room-a", "{\"name\": \"x\", "
	    "\"start_date\": \"2025-05-10\", \"stop_date\": \"2025-05-01\"}",
	    RK_EINVAL, "stop_date: 2025-05-01 is before the start date");
	refused(f, roomwork_med_add, "room-a", "{\"dose\": \"1錠\"}", RK_EINVAL,
	    "name");
	o = ok(f, roomwork_med_add, "room-a", "{\"name\": \"アムロジピン\", "
	    "\"dose\": \"5mg\", \"route\": \"内服\", \"start_date\": "
	    "\"2025-01-01\", \"prescriber\": \"医師 太郎\"}");
	snprintf(text, sizeof(text), "{\"id\": \"%s\", \"stop_date\": "
	    "\"2024-12-31\"}", jstr(o, "id"));
	refused(f, roomwork_med_stop, "room-a", text, RK_EINVAL, "stop_date");
	snprintf(text, sizeof(text), "{\"id\": \"%s\", \"stop_date\": "
	    "\"2025-06-02\"}", jstr(o, "id"));
	json_decref(o);
	json_decref(ok(f, roomwork_med_add, "room-a", "{\"name\": \"酸化Mg\"}"));
	assert_int_equal(rec_card_get(&f->c, "room-a", &card, &why), 0);
	assert_int_equal(json_array_size(json_object_get(card,
	    "current_medications")), 2);
	json_decref(card);
	/* Stopped today: current until the end of the day; then not. */
	o = ok(f, roomwork_med_stop, "room-a", text);
	assert_true(json_is_true(json_object_get(o, "current")));
	json_decref(o);
	tu_clock_advance(&f->clk, DAY_MS);
	assert_int_equal(rec_card_get(&f->c, "room-a", &card, &why), 0);
	assert_int_equal(json_array_size(json_object_get(card,
	    "current_medications")), 1);
	assert_string_equal(jstr(card, "address"), "武蔵野市緑町2-2-28");
	json_decref(card);
}

/* --- the card and the sheets -------------------------------------------------- */

static void
test_card_review_and_html(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	struct buf b = BUF_INIT;
	json_t *in, *card;
	const char *html;

	make_room(f, "room-a");
	json_decref(ok(f, roomwork_room_doctors, "room-a", "{\"primary\": "
	    "\"dr-1\"}"));
	in = J("{\"reviewed_at\": \"2025-06-02\"}");
	assert_int_equal(rec_card_patch(&f->c, "room-a", in, &card, &why),
	    RK_EINVAL);
	json_decref(in);
	assert_non_null(strstr(why.text, "reviewed_at"));
	in = J("{\"allergies\": \"卵\", \"reviewed_at\": \"2024-06-01\", "
	    "\"dnar\": \"DNAR <確認済>\"}");
	assert_int_equal(rec_card_patch(&f->c, "room-a", in, &card, &why), 0);
	json_decref(in);
	/* Reviewed a year ago today: due now. */
	assert_string_equal(jstr(card, "review_due"), "2025-06-01");
	assert_true(json_is_true(json_object_get(card, "review_overdue")));
	assert_string_equal(jstr(json_object_get(card,
	    "primary_doctor_member"), "phone"), "0422-00-0001");
	assert_string_equal(jstr(card, "updated_by_name"), "看護 一子");
	json_decref(card);
	assert_int_equal(rec_status(&f->c, &card, &why), 0);
	assert_int_equal(json_integer_value(json_object_get(card,
	    "cards_review_due")), 1);
	json_decref(card);

	assert_int_equal(rec_card_html(&f->c, "room-a", &b, &why), 0);
	assert_int_equal(buf_append(&b, "", 1), 0);
	html = (const char *)b.data;
	assert_non_null(strstr(html, "<th>主治医</th><td>医師 太郎（山田医院）"
	    "　TEL 0422-00-0001</td>"));
	assert_non_null(strstr(html, "DNAR &lt;確認済&gt;"));
	assert_non_null(strstr(html, "<th>年齢</th><td>87歳</td>"));
	assert_non_null(strstr(html, "期限超過"));
	assert_non_null(strstr(html, "印刷日 2025-06-01"));
	assert_null(strstr(html, "<script"));
	buf_release(&b);
}

static const char *
sheet_value(json_t *sheet, const char *field)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(sheet, "fields"), i, e)
		if (strcmp(jstr(e, "field"), field) == 0)
			return jstr(e, "value");
	fail_msg("no field %s", field);
	return NULL;
}

static void
test_sheets(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *o, *in, *card;
	char id[64];

	make_room(f, "room-a");
	in = J("{\"diagnoses\": \"心不全\", \"allergies\": \"なし\"}");
	assert_int_equal(rec_card_patch(&f->c, "room-a", in, &card, &why), 0);
	json_decref(in);
	json_decref(card);
	in = J("{\"bp_sys\": 130, \"bp_dia\": 80, \"pulse\": 70, \"note\": "
	    "\"n\"}");
	assert_int_equal(rec_visit_add(&f->c, "room-a", in, &card, &why), 0);
	json_decref(in);
	json_decref(card);
	json_decref(ok(f, roomwork_room_doctors, "room-a", "{\"primary\": "
	    "\"dr-1\"}"));

	assert_int_equal(roomwork_sheet_get(&f->c, "room-a", "admission", &o,
	    &why), 0);
	assert_true(json_is_true(json_object_get(o, "draft")));
	assert_string_equal(sheet_value(o, "patient_name"), "山田 花子");
	assert_string_equal(sheet_value(o, "diagnoses"), "心不全");
	assert_string_equal(sheet_value(o, "primary_doctor"),
	    "医師 太郎（山田医院）　TEL 0422-00-0001");
	assert_string_equal(sheet_value(o, "vitals"),
	    "2025-06-01 血圧 130/80 脈拍 70");
	assert_null(sheet_value(o, "admission_date"));
	json_decref(o);
	assert_int_equal(roomwork_sheet_get(&f->c, "room-a", "transfer", &o,
	    &why), RK_EINVAL);

	in = J("{\"fields\": {\"blood\": \"A\"}}");
	assert_int_equal(roomwork_sheet_patch(&f->c, "room-a", "admission",
	    in, &o, &why), RK_EINVAL);
	assert_non_null(strstr(why.text, "blood"));
	json_decref(in);
	in = J("{\"fields\": {\"admission_date\": \"2025-02-30\"}}");
	assert_int_equal(roomwork_sheet_patch(&f->c, "room-a", "admission",
	    in, &o, &why), RK_EINVAL);
	assert_non_null(strstr(why.text, "admission_date"));
	json_decref(in);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM sheets"), 0);

	in = J("{\"fields\": {\"admission_date\": \"2025-05-30\", \"adl\": "
	    "\"自立\", \"allergies\": null}}");
	assert_int_equal(roomwork_sheet_patch(&f->c, "room-a", "admission",
	    in, &o, &why), 0);
	json_decref(in);
	assert_false(json_is_true(json_object_get(o, "draft")));
	snprintf(id, sizeof(id), "%s", jstr(o, "id"));
	assert_string_equal(sheet_value(o, "adl"), "自立");
	assert_null(sheet_value(o, "allergies"));
	assert_string_equal(sheet_value(o, "diagnoses"), "心不全");
	json_decref(o);
	/* A second edit changes the same sheet. */
	in = J("{\"fields\": {\"notes\": \"補聴器あり\"}}");
	assert_int_equal(roomwork_sheet_patch(&f->c, "room-a", "admission",
	    in, &o, &why), 0);
	json_decref(in);
	assert_string_equal(jstr(o, "id"), id);
	assert_string_equal(sheet_value(o, "adl"), "自立");
	json_decref(o);

	/* Discharge: its admission date from the admission sheet. */
	assert_int_equal(roomwork_sheet_get(&f->c, "room-a", "discharge", &o,
	    &why), 0);
	assert_string_equal(sheet_value(o, "admission_date"), "2025-05-30");
	json_decref(o);
	in = J("{\"fields\": {\"discharge_date\": \"2025-05-01\"}}");
	assert_int_equal(roomwork_sheet_patch(&f->c, "room-a", "discharge",
	    in, &o, &why), RK_EINVAL);
	assert_non_null(strstr(why.text, "discharge_date"));
	json_decref(in);
	assert_int_equal(roomwork_sheet_print(&f->c, "room-a", "admission", &o,
	    &why), 0);
	assert_non_null(strstr(jstr(o, "html"), "<th>ADL（移動・食事・排泄・"
	    "入浴）</th><td>自立</td>"));
	json_decref(o);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM sheets"), 1);
}

/* --- the audit trail ---------------------------------------------------------- */

static void
test_audit_notes_ship_with_writes(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *o;
	int64_t n = 0, before;
	char *id;

	make_room(f, "room-a");
	/* The room's creation note waits: rooms are made by records.c. */
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM "
	    "local_audit_pending"), 1);
	before = outbox(f);
	/* Reads are noted, never written by themselves. */
	json_decref(ok(f, roomwork_requests_list, "room-a", NULL));
	json_decref(ok(f, members_fn, "room-a", NULL));
	assert_int_equal(rec_timeline(&f->c, "room-a", 0, &o, &why), 0);
	json_decref(o);
	assert_int_equal(outbox(f), before);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM "
	    "local_audit_pending"), 4);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM audit_events"),
	    0);

	/* A write carries them and its own note, in one changeset. */
	id = request(f, "dr-1", NULL);
	assert_int_equal(rows_in(f, last_seq(f), "audit_events"), 5);
	assert_int_equal(tu_qint(db_of(f), "SELECT count(*) FROM "
	    "local_audit_pending"), 0);
	assert_string_equal(qtext(db_of(f), "SELECT group_concat(action || ' ' "
	    "|| what, '|') FROM (SELECT * FROM audit_events ORDER BY at, id)"),
	    qtext(db_of(f), "SELECT 'write room created|read requests|read "
	    "members|read timeline|write request %q created "
	    "(visiting-nurse-instruction, to dr-1)'", id));
	assert_string_equal(qtext(db_of(f), "SELECT DISTINCT device FROM "
	    "audit_events"), "dev-1");

	/* Flush ships what is left, one transaction per room. */
	json_decref(ok(f, acp_list_fn, "room-a", NULL));
	assert_int_equal(roomwork_audit_flush(f->s, 0, NULL, &n, &why), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows_in(f, last_seq(f), "audit_events"), 1);
	assert_int_equal(roomwork_audit_flush(f->s, 0, NULL, &n, &why), 0);
	assert_int_equal(n, 0);
	/* Notes of a room this staff no longer belongs to are dropped. */
	json_decref(ok(f, acp_list_fn, "room-a", NULL));
	exec(db_of(f), "UPDATE memberships SET status = 'left' WHERE staff_id "
	    "= 'nurse-1'");
	before = outbox(f);
	assert_int_equal(roomwork_audit_flush(f->s, 0, "room-a", &n, &why), 0);
	assert_int_equal(n, 0);
	assert_int_equal(outbox(f), before);
	free(id);
}

/* Events for room r1 on the hub, as a device's envelope would bring. */
static void
hub_events(struct fx *f, int from, int count)
{
	sqlite3 *h = store_db(f->h);
	int i;

	for (i = from; i < from + count; i++) {
		char *sql = sqlite3_mprintf("INSERT INTO audit_events (room_id, "
		    "id, at, staff, device, action, what, hlc) VALUES ('r1', "
		    "'ev%03d', %lld, 'nurse-1', 'dev-1', 'read', 'timeline', %d)",
		    i, (long long)(T0 + i), i);

		exec(h, sql);
		sqlite3_free(sql);
	}
}

static void
test_audit_chain(void **state)
{
	struct fx *f = *state;
	sqlite3 *h = store_db(f->h);
	struct rk_why why;
	unsigned char prev[32], hash[32], len[4];
	char hex[65];
	crypto_generichash_state st;
	const char *fields[7] = { "r1", "ev001", "1748746800001", "nurse-1",
	    "dev-1", "read", "timeline" };
	int64_t n = 0;
	int i, okv = 0;

	exec(h, "INSERT INTO rooms (room_id, kind, title, created_by, "
	    "created_at, hlc) VALUES ('r1', 'patient', 't', 'x', 1, 1)");
	hub_events(f, 1, 3);
	assert_int_equal(roomwork_audit_chain_extend(f->h, "r1", &n, &why), 0);
	assert_int_equal(n, 3);
	assert_int_equal(roomwork_audit_chain_extend(f->h, "r1", &n, &why), 0);
	assert_int_equal(n, 0);

	/* Known answer: the format (roomwork_audit.c) is frozen. */
	memset(prev, 0, sizeof(prev));
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, prev, 32);
	for (i = 0; i < 7; i++) {
		size_t l = strlen(fields[i]);

		len[0] = (unsigned char)(l >> 24);
		len[1] = (unsigned char)(l >> 16);
		len[2] = (unsigned char)(l >> 8);
		len[3] = (unsigned char)l;
		crypto_generichash_update(&st, len, 4);
		crypto_generichash_update(&st, (const unsigned char *)fields[i],
		    l);
	}
	crypto_generichash_final(&st, hash, 32);
	sodium_bin2hex(hex, sizeof(hex), hash, 32);
	assert_string_equal(qtext(h, "SELECT hash FROM local_audit_chain WHERE "
	    "seq = 1"), hex);
	assert_string_equal(qtext(h, "SELECT prev_hash FROM local_audit_chain "
	    "WHERE seq = 2"), hex);

	assert_int_equal(roomwork_audit_verify(f->h, "r1", &okv, &why), 0);
	assert_int_equal(okv, 1);

	/* Later events extend it. */
	hub_events(f, 4, 2);
	assert_int_equal(roomwork_audit_chain_extend(f->h, "r1", &n, &why), 0);
	assert_int_equal(n, 2);
	assert_int_equal(roomwork_audit_verify(f->h, "r1", &okv, &why), 0);
	assert_int_equal(okv, 1);

	/* An altered event breaks the chain at its entry. */
	exec(h, "UPDATE audit_events SET staff = 'dr-1' WHERE id = 'ev002'");
	assert_int_equal(roomwork_audit_verify(f->h, "r1", &okv, &why), 0);
	assert_int_equal(okv, 0);
	assert_non_null(strstr(why.text, "broken at entry 2"));
	assert_non_null(strstr(why.text, "ev002"));
	assert_non_null(strstr(why.text, "altered"));
	exec(h, "UPDATE audit_events SET staff = 'nurse-1' WHERE id = 'ev002'");
	assert_int_equal(roomwork_audit_verify(f->h, "r1", &okv, &why), 0);
	assert_int_equal(okv, 1);

	/* A deleted event, an altered link, a missing entry. */
	exec(h, "DELETE FROM audit_events WHERE id = 'ev004'");
	assert_int_equal(roomwork_audit_verify(f->h, "r1", &okv, &why), 0);
	assert_int_equal(okv, 0);
	assert_non_null(strstr(why.text, "ev004 is missing"));
	hub_events(f, 4, 1);
	exec(h, "UPDATE local_audit_chain SET prev_hash = hash WHERE seq = 3");
	assert_int_equal(roomwork_audit_verify(f->h, "r1", &okv, &why), 0);
	assert_int_equal(okv, 0);
	assert_non_null(strstr(why.text, "entry 3"));
	exec(h, "UPDATE local_audit_chain SET prev_hash = (SELECT hash FROM "
	    "local_audit_chain WHERE seq = 2) WHERE seq = 3");
	exec(h, "DELETE FROM local_audit_chain WHERE seq = 4");
	assert_int_equal(roomwork_audit_verify(f->h, "r1", &okv, &why), 0);
	assert_int_equal(okv, 0);
	assert_non_null(strstr(why.text, "entry 4 is missing"));
}

static void
test_audit_on_the_hub(void **state)
{
	struct fx *f = *state;
	struct rk_why why;
	json_t *o, *ev;
	int64_t hub_log;

	exec(store_db(f->h), "INSERT INTO rooms (room_id, kind, title, "
	    "created_by, created_at, hlc) VALUES ('r1', 'patient', 't', 'x', 1, "
	    "1)");
	hub_events(f, 1, 2);
	hub_log = tu_qint(store_db(f->h), "SELECT count(*) FROM local_hub_log");
	/* The operator's read of the audit is itself an event, canonical at
	 * once (in the hub log) and chained. */
	assert_int_equal(roomwork_audit_list(&f->hc, "r1", &o, &why), 0);
	assert_true(json_is_true(json_object_get(json_object_get(o, "chain"),
	    "verified")));
	assert_int_equal(json_array_size(json_object_get(o, "events")), 3);
	ev = json_array_get(json_object_get(o, "events"), 2);
	assert_string_equal(jstr(ev, "staff"), "hub-1");
	assert_string_equal(jstr(ev, "what"), "audit");
	assert_int_equal(json_integer_value(json_object_get(ev, "seq")), 3);
	json_decref(o);
	assert_int_equal(tu_qint(store_db(f->h), "SELECT count(*) FROM "
	    "local_hub_log"), hub_log + 1);
	exec(store_db(f->h), "UPDATE audit_events SET what = 'nothing' WHERE "
	    "id = 'ev001'");
	assert_int_equal(roomwork_audit_list(&f->hc, "r1", &o, &why), 0);
	assert_false(json_is_true(json_object_get(json_object_get(o, "chain"),
	    "verified")));
	assert_non_null(strstr(jstr(json_object_get(o, "chain"), "error"),
	    "entry 1"));
	json_decref(o);
	/* A room that is not archived is never purged, however old; the
	 * purge itself is tested in test_purge.c. */
	hub_log = tu_qint(store_db(f->h), "SELECT count(*) FROM "
	    "local_audit_chain WHERE room_id = 'r1'");
	assert_int_equal(retention_purge(f->h, T0 + 3650 * DAY_MS, DAY_MS, 0,
	    &o, &why), 0);
	assert_int_equal(json_array_size(json_object_get(o, "purged")), 0);
	json_decref(o);
	assert_int_equal(tu_qint(store_db(f->h), "SELECT count(*) FROM "
	    "local_audit_chain WHERE room_id = 'r1'"), hub_log);
}

/* --- the tamper tool (tests/integ/t_room_audit.sh) ------------------------- */

static int
tamper(const char *dir, const char *passfile, const char *room,
    const char *how)
{
	struct rk_conf conf;
	struct rk_why why = { "" };
	struct keys *keys = NULL;
	struct vfs_crypt *vfs = NULL;
	struct store *s = NULL;
	struct store_opts o;
	char path[4096], *pass = NULL, *sql = NULL, *err = NULL;
	size_t passlen = 0;
	int rc = 1;

	if (sodium_init() < 0 || conf_load(dir, &conf, &why) != 0 ||
	    pass_read(passfile, "passphrase: ", &pass, &passlen) != 0 ||
	    fs_path(path, sizeof(path), dir, RK_KEYS_FILE) != 0 ||
	    keys_unlock(path, pass, passlen, &keys) != 0 ||
	    vfs_crypt_register("rk-tamper", keys->db_key, &vfs) != 0 ||
	    fs_path(path, sizeof(path), dir, RK_DB_FILE) != 0) {
		fprintf(stderr, "tamper: cannot open %s: %s\n", dir, why.text);
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.vfs = "rk-tamper";
	o.origin = conf.device_id;
	o.is_hub = strcmp(conf.role, "hub") == 0;
	if (store_open(&o, &s, &why) != 0) {
		fprintf(stderr, "tamper: %s\n", why.text);
		goto out;
	}
	sql = sqlite3_mprintf(strcmp(how, "delete") == 0 ? "DELETE FROM "
	    "audit_events WHERE room_id = %Q AND id = (SELECT event_id FROM "
	    "local_audit_chain WHERE room_id = %Q ORDER BY seq LIMIT 1 OFFSET "
	    "1)" : "UPDATE audit_events SET what = what || ' (nothing to see)' "
	    "WHERE room_id = %Q AND id = (SELECT event_id FROM "
	    "local_audit_chain WHERE room_id = %Q ORDER BY seq LIMIT 1 OFFSET "
	    "1)", room, room);
	if (sqlite3_exec(store_db(s), sql, NULL, NULL, &err) != SQLITE_OK ||
	    sqlite3_changes(store_db(s)) != 1) {
		fprintf(stderr, "tamper: %s\n", err ? err : "no such event");
		goto out;
	}
	printf("tampered with room %s (%s)\n", room, how);
	rc = 0;
out:
	sqlite3_free(err);
	sqlite3_free(sql);
	store_close(s);
	vfs_crypt_unregister(vfs);
	keys_free(keys);
	pass_free(pass);
	return rc;
}

int
main(int argc, char **argv)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_request_refusals),
		T(test_request_life),
		T(test_request_overdue),
		T(test_read_receipts),
		T(test_invite_and_answer),
		T(test_leave_and_doctor_rule),
		T(test_archive),
		T(test_patient_acp_meds),
		T(test_card_review_and_html),
		T(test_sheets),
		T(test_audit_notes_ship_with_writes),
		T(test_audit_chain),
		T(test_audit_on_the_hub),
	};
#undef T

	if (argc == 6 && strcmp(argv[1], "--tamper") == 0)
		return tamper(argv[2], argv[3], argv[4], argv[5]);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
