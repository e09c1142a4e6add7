/*
 * test_webui.c - the field web UI's server (daemon/webui.h) over real HTTP
 * on loopback, with libcurl: the Host and Origin rules, the assets and
 * their headers, unlocking against a real key file, the session cookie and
 * its CSRF token, the idle timeout (an injected clock), the unlock rate
 * limit, body caps, locking, the session table's limit, and the pending
 * marks read from the outbox.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "common/api.h"
#include "common/buf.h"
#include "common/keys.h"
#include "daemon/records.h"
#include "daemon/store.h"
#include "daemon/vfs.h"
#include "daemon/webui.h"
#include "testutil.h"
#include "tu_sql.h"

#define VFS_NAME "rk-test-webui"
#define PASS "correct horse battery staple"
#define T0 INT64_C(1748746800000)
#define IDLE_MS INT64_C(60000)

static struct vfs_crypt *g_vfs;

struct fx {
	char dir[PATH_MAX];
	char db[PATH_MAX + 32];
	char keys[PATH_MAX + 32];
	struct tu_clock clk;
	struct store *s;
	struct rec_ctx c;
	struct webui *w;
	unsigned port;
	char origin[64];
	char cookie[160];	/* "rk_ui_PORT=..." after unlock() */
	char csrf[80];
};

/* One HTTP answer. */
struct resp {
	long status;
	struct buf body;
	struct buf head;
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	if (buf_append(arg, p, size * n) != 0)
		return 0;
	return size * n;
}

static void
resp_release(struct resp *r)
{
	buf_release(&r->body);
	buf_release(&r->head);
}

/* The body as a NUL-terminated string (owned by r). */
static const char *
resp_text(struct resp *r)
{
	if (buf_append(&r->body, "", 1) != 0)
		fail_msg("out of memory");
	r->body.len--;
	return (const char *)r->body.data;
}

/* The response header named name (case-insensitive), or "" (static). */
static const char *
resp_header(struct resp *r, const char *name)
{
	static char val[512];
	size_t nl = strlen(name);
	const char *p, *end;

	val[0] = '\0';
	if (buf_append(&r->head, "", 1) != 0)
		fail_msg("out of memory");
	r->head.len--;
	for (p = (const char *)r->head.data; p != NULL && *p; ) {
		end = strchr(p, '\n');
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t len;

			while (*v == ' ')
				v++;
			len = end ? (size_t)(end - v) : strlen(v);
			while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n'))
				len--;
			if (len >= sizeof(val))
				len = sizeof(val) - 1;
			memcpy(val, v, len);
			val[len] = '\0';
			return val;
		}
		p = end ? end + 1 : NULL;
	}
	return val;
}

/*
 * method path with the extra headers (NULL-terminated list of "Name:
 * value"), body (NULL: none) of len bytes.  The session cookie and CSRF
 * header go along when with_session.
 */
static void
req(struct fx *f, const char *method, const char *path, const char *const *hdrs,
    const char *body, size_t len, int with_session, struct resp *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[256], line[256];
	CURLcode rc;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (c == NULL)
		fail_msg("curl_easy_init");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f->port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->head);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	h = curl_slist_append(h, "Expect:");
	if (with_session) {
		snprintf(line, sizeof(line), "Cookie: %s", f->cookie);
		h = curl_slist_append(h, line);
		snprintf(line, sizeof(line), "X-Renkei-CSRF: %s", f->csrf);
		h = curl_slist_append(h, line);
	}
	for (i = 0; hdrs != NULL && hdrs[i] != NULL; i++)
		h = curl_slist_append(h, hdrs[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if ((rc = curl_easy_perform(c)) != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

/* A GET or a write from this server's own page. */
static long
call(struct fx *f, const char *method, const char *path, const char *body,
    int with_session, struct resp *out)
{
	const char *hdrs[] = { f->origin, "Content-Type: application/json", NULL };

	req(f, method, path, strcmp(method, "GET") ? hdrs : NULL, body,
	    body ? strlen(body) : 0, with_session, out);
	return out->status;
}

/* POST /ui/unlock with pass; on 200 keeps the cookie and token. */
static long
unlock_with(struct fx *f, const char *pass)
{
	const char *hdrs[] = { f->origin, "Content-Type: text/plain", NULL };
	struct resp r;
	long st;

	req(f, "POST", "/ui/unlock", hdrs, pass, strlen(pass), 0, &r);
	st = r.status;
	if (st == 200) {
		json_t *o = json_loads(resp_text(&r), 0, NULL);
		const char *set = resp_header(&r, "Set-Cookie");

		assert_non_null(o);
		snprintf(f->csrf, sizeof(f->csrf), "%s",
		    json_string_value(json_object_get(o, "csrf")));
		assert_int_equal(strlen(f->csrf), 64);
		assert_non_null(strstr(set, "HttpOnly"));
		assert_non_null(strstr(set, "SameSite=Strict"));
		assert_non_null(strstr(set, "Path=/"));
		snprintf(f->cookie, sizeof(f->cookie), "%.*s",
		    (int)strcspn(set, ";"), set);
		json_decref(o);
	}
	resp_release(&r);
	return st;
}

static void
unlock(struct fx *f)
{
	assert_int_equal(unlock_with(f, PASS), 200);
}

static void
exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

/* --- fixtures -------------------------------------------------------------- */

static int
group_setup(void **state)
{
	uint8_t key[VFS_KEY_LEN];
	int rc;

	(void)state;
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return -1;
	keys_wrong_delay_ms = 1;
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
	curl_global_cleanup();
	return 0;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_opts o;
	struct webui_opts wo;
	struct rk_why why = { "" };

	if (f == NULL)
		return -1;
	tu_tmpdir(f->dir, sizeof(f->dir), "webui");
	snprintf(f->db, sizeof(f->db), "%s/replica.db", f->dir);
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->dir);
	if (keys_create(f->keys, PASS, strlen(PASS), KEYS_COST_INTERACTIVE,
	    NULL) != 0)
		return -1;
	tu_clock_init(&f->clk, T0, tu_seed());
	memset(&o, 0, sizeof(o));
	o.path = f->db;
	o.vfs = VFS_NAME;
	o.origin = "dev-1";
	o.clock = &f->clk.clock;
	if (store_open(&o, &f->s, &why) != 0) {
		fprintf(stderr, "store_open: %s\n", why.text);
		return -1;
	}
	f->c.store = f->s;
	f->c.staff = "nurse-1";
	f->c.role = "device";
	f->c.device_id = "dev-1";
	exec(store_db(f->s), "INSERT INTO staff (id, agency_id, name, "
	    "profession, hlc) VALUES ('nurse-1', 'ag-n', '看護 一子', 'nurse', "
	    "1), ('dr-1', 'ag-d', '医師 太郎', 'doctor', 1)");
	memset(&wo, 0, sizeof(wo));
	wo.listen = "127.0.0.1:0";
	wo.keys_path = f->keys;
	wo.idle_ms = IDLE_MS;
	wo.clock = &f->clk.clock;
	if (webui_start(&wo, &f->c, &f->w) != 0)
		return -1;
	f->port = webui_port(f->w);
	snprintf(f->origin, sizeof(f->origin), "Origin: http://127.0.0.1:%u",
	    f->port);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	webui_stop(f->w);
	store_close(f->s);
	if (tu_rm_rf(f->dir) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

/* --- pure checks ------------------------------------------------------------- */

static void
test_host_and_origin(void **state)
{
	(void)state;
	assert_true(webui_host_ok("127.0.0.1:8080", 8080));
	assert_true(webui_host_ok("localhost:8080", 8080));
	assert_true(webui_host_ok("[::1]:8080", 8080));
	assert_true(webui_host_ok("localhost", 80));
	assert_false(webui_host_ok("127.0.0.1:8081", 8080));
	assert_false(webui_host_ok("127.0.0.1", 8080));
	assert_false(webui_host_ok("evil.example:8080", 8080));
	assert_false(webui_host_ok("127.0.0.1.evil.example:8080", 8080));
	assert_false(webui_host_ok("127.0.0.1:8080 ", 8080));
	assert_false(webui_host_ok("127.0.0.1:80800", 8080));
	assert_false(webui_host_ok("", 8080));
	assert_false(webui_host_ok(NULL, 8080));
	assert_true(webui_origin_ok("http://127.0.0.1:8080", 8080));
	assert_true(webui_origin_ok("http://localhost:8080", 8080));
	assert_false(webui_origin_ok("https://127.0.0.1:8080", 8080));
	assert_false(webui_origin_ok("http://127.0.0.1:8080/", 8080));
	assert_false(webui_origin_ok("http://127.0.0.1:9090", 8080));
	assert_false(webui_origin_ok("null", 8080));
	assert_false(webui_origin_ok(NULL, 8080));
}

static void
test_idle_parse(void **state)
{
	int64_t ms = 0;

	(void)state;
	assert_int_equal(webui_idle_parse(NULL, &ms), 0);
	assert_int_equal(ms, WEBUI_IDLE_MS_DEFAULT);
	assert_int_equal(webui_idle_parse("", &ms), 0);
	assert_int_equal(ms, WEBUI_IDLE_MS_DEFAULT);
	assert_int_equal(webui_idle_parse("90", &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(webui_idle_parse("8s", &ms), 0);
	assert_int_equal(ms, 8000);
	assert_int_equal(webui_idle_parse("10m", &ms), 0);
	assert_int_equal(ms, 600000);
	assert_int_equal(webui_idle_parse("2h", &ms), 0);
	assert_int_equal(ms, 7200000);
	assert_int_equal(webui_idle_parse("0", &ms), RK_EINVAL);
	assert_int_equal(webui_idle_parse("-5", &ms), RK_EINVAL);
	assert_int_equal(webui_idle_parse("25h", &ms), RK_EINVAL);
	assert_int_equal(webui_idle_parse("10 m", &ms), RK_EINVAL);
	assert_int_equal(webui_idle_parse("ten", &ms), RK_EINVAL);
	assert_int_equal(webui_idle_parse("5d", &ms), RK_EINVAL);
}

/* --- over HTTP --------------------------------------------------------------- */

static void
test_assets(void **state)
{
	struct fx *f = *state;
	struct resp r;
	const char *csp;

	assert_int_equal(call(f, "GET", "/", NULL, 0, &r), 200);
	assert_non_null(strstr(resp_header(&r, "Content-Type"), "text/html"));
	csp = resp_header(&r, "Content-Security-Policy");
	assert_non_null(strstr(csp, "default-src 'self'"));
	assert_non_null(strstr(csp, "frame-ancestors 'none'"));
	assert_null(strstr(csp, "unsafe-inline"));
	assert_string_equal(resp_header(&r, "X-Content-Type-Options"),
	    "nosniff");
	assert_non_null(strstr(resp_text(&r), "/app.js"));
	resp_release(&r);
	assert_int_equal(call(f, "GET", "/app.js", NULL, 0, &r), 200);
	assert_non_null(strstr(resp_header(&r, "Content-Type"),
	    "text/javascript"));
	resp_release(&r);
	assert_int_equal(call(f, "GET", "/style.css", NULL, 0, &r), 200);
	resp_release(&r);
	assert_int_equal(call(f, "GET", "/../keys", NULL, 0, &r), 404);
	resp_release(&r);
	assert_int_equal(call(f, "POST", "/index.html", "{}", 0, &r), 405);
	resp_release(&r);
	/* The config is public: the page needs it before unlocking. */
	assert_int_equal(call(f, "GET", "/ui/config", NULL, 0, &r), 200);
	assert_non_null(strstr(resp_text(&r), "\"bp_sys\""));
	assert_non_null(strstr(resp_text(&r), "\"idle_ms\":60000"));
	resp_release(&r);
}

static void
test_host_checked(void **state)
{
	struct fx *f = *state;
	const char *evil[] = { "Host: rebind.example", NULL };
	char host[64];
	const char *other[] = { host, NULL };
	struct resp r;

	req(f, "GET", "/", evil, NULL, 0, 0, &r);
	assert_int_equal(r.status, 403);
	resp_release(&r);
	snprintf(host, sizeof(host), "Host: 127.0.0.1:%u", f->port + 1);
	req(f, "GET", "/ui/config", other, NULL, 0, 0, &r);
	assert_int_equal(r.status, 403);
	resp_release(&r);
	snprintf(host, sizeof(host), "Host: localhost:%u", f->port);
	req(f, "GET", "/", other, NULL, 0, 0, &r);
	assert_int_equal(r.status, 200);
	resp_release(&r);
}

static void
test_session(void **state)
{
	struct fx *f = *state;
	const char *cross[] = { "Sec-Fetch-Site: cross-site", NULL };
	const char *site[] = { "Sec-Fetch-Site: same-site", NULL };
	char bad_origin[80], good_csrf[80];
	const char *wrong_origin[] = { bad_origin, NULL };
	struct resp r;

	/* No session: 401, whatever the call. */
	assert_int_equal(call(f, "GET", "/v1/status", NULL, 0, &r), 401);
	assert_non_null(strstr(resp_text(&r), "\"code\":\"locked\""));
	resp_release(&r);
	assert_int_equal(call(f, "POST", "/v1/rooms/x/posts", "{\"body\":"
	    "\"a\"}", 0, &r), 401);
	resp_release(&r);
	assert_int_equal(call(f, "GET", "/ui/pending?room=x", NULL, 0, &r),
	    401);
	resp_release(&r);

	assert_int_equal(unlock_with(f, "wrong"), 401);
	assert_int_equal(unlock_with(f, ""), 400);
	unlock(f);
	assert_int_equal(call(f, "GET", "/v1/status", NULL, 1, &r), 200);
	assert_non_null(strstr(resp_text(&r), "\"staff\":\"nurse-1\""));
	resp_release(&r);

	/* The cookie alone is not enough. */
	snprintf(good_csrf, sizeof(good_csrf), "%s", f->csrf);
	f->csrf[0] = f->csrf[0] == 'a' ? 'b' : 'a';
	assert_int_equal(call(f, "GET", "/v1/status", NULL, 1, &r), 403);
	resp_release(&r);
	f->csrf[0] = '\0';
	assert_int_equal(call(f, "GET", "/v1/status", NULL, 1, &r), 403);
	resp_release(&r);
	snprintf(f->csrf, sizeof(f->csrf), "%s", good_csrf);

	/* A browser's word that the call comes from another site. */
	req(f, "GET", "/v1/status", cross, NULL, 0, 1, &r);
	assert_int_equal(r.status, 403);
	resp_release(&r);
	req(f, "GET", "/v1/status", site, NULL, 0, 1, &r);
	assert_int_equal(r.status, 403);
	resp_release(&r);

	/* Writes need our Origin. */
	req(f, "POST", "/v1/sync", NULL, "{}", 2, 1, &r);
	assert_int_equal(r.status, 403);
	resp_release(&r);
	snprintf(bad_origin, sizeof(bad_origin), "Origin: http://127.0.0.1:%u",
	    f->port + 1);
	req(f, "POST", "/v1/sync", wrong_origin, "{}", 2, 1, &r);
	assert_int_equal(r.status, 403);
	resp_release(&r);
	req(f, "POST", "/ui/unlock", wrong_origin, PASS, strlen(PASS), 0, &r);
	assert_int_equal(r.status, 403);
	resp_release(&r);

	/* A room write through the UI reaches the local API. */
	assert_int_equal(call(f, "POST", "/v1/rooms", "{\"room_id\": "
	    "\"tanaka\", \"patient_name\": \"田中 花子\", \"consent_date\": "
	    "\"2025-05-01\", \"members\": [\"dr-1\"]}", 1, &r), 201);
	resp_release(&r);
	assert_int_equal(call(f, "GET", "/v1/rooms", NULL, 1, &r), 200);
	assert_non_null(strstr(resp_text(&r), "tanaka"));
	resp_release(&r);

	/* Locking ends it. */
	assert_int_equal(call(f, "POST", "/ui/lock", "{}", 1, &r), 200);
	assert_non_null(strstr(resp_header(&r, "Set-Cookie"), "Max-Age=0"));
	resp_release(&r);
	assert_int_equal(call(f, "GET", "/v1/status", NULL, 1, &r), 401);
	resp_release(&r);
}

static void
test_idle(void **state)
{
	struct fx *f = *state;
	const char *bg[] = { "X-Renkei-Background: 1", NULL };
	struct resp r;
	int64_t start;

	unlock(f);
	/* Background polls keep nothing alive ... */
	tu_clock_advance(&f->clk, IDLE_MS / 2);
	req(f, "GET", "/v1/status", bg, NULL, 0, 1, &r);
	assert_int_equal(r.status, 200);
	resp_release(&r);
	tu_clock_advance(&f->clk, IDLE_MS / 2 + 1);
	req(f, "GET", "/v1/status", bg, NULL, 0, 1, &r);
	assert_int_equal(r.status, 401);
	resp_release(&r);

	/* ... the person's requests do. */
	unlock(f);
	tu_clock_advance(&f->clk, IDLE_MS - 1000);
	assert_int_equal(call(f, "POST", "/ui/touch", "{}", 1, &r), 200);
	resp_release(&r);
	tu_clock_advance(&f->clk, IDLE_MS - 1000);
	assert_int_equal(call(f, "GET", "/v1/status", NULL, 1, &r), 200);
	resp_release(&r);
	tu_clock_advance(&f->clk, IDLE_MS + 1);
	assert_int_equal(call(f, "GET", "/v1/status", NULL, 1, &r), 401);
	resp_release(&r);

	/* And no session outlives WEBUI_SESSION_MAX_MS. */
	unlock(f);
	start = f->clk.now_ms;
	for (;;) {
		tu_clock_advance(&f->clk, IDLE_MS / 2);
		call(f, "POST", "/ui/touch", "{}", 1, &r);
		resp_release(&r);
		if (f->clk.now_ms - start > WEBUI_SESSION_MAX_MS)
			break;
		assert_int_equal(r.status, 200);
	}
	assert_int_equal(r.status, 401);
}

static void
test_rate_limit(void **state)
{
	struct fx *f = *state;
	struct resp r;
	const char *hdrs[] = { f->origin, NULL };
	int i;

	for (i = 0; i < WEBUI_FREE_FAILURES; i++)
		assert_int_equal(unlock_with(f, "guess"), 401);
	/* Now even the right passphrase waits. */
	req(f, "POST", "/ui/unlock", hdrs, PASS, strlen(PASS), 0, &r);
	assert_int_equal(r.status, 429);
	assert_string_equal(resp_header(&r, "Retry-After"), "30");
	resp_release(&r);
	tu_clock_advance(&f->clk, WEBUI_LOCKOUT_MIN_MS - 1);
	assert_int_equal(unlock_with(f, PASS), 429);
	tu_clock_advance(&f->clk, 1);
	/* One more wrong try doubles the pause. */
	assert_int_equal(unlock_with(f, "guess"), 401);
	tu_clock_advance(&f->clk, 2 * WEBUI_LOCKOUT_MIN_MS - 1);
	assert_int_equal(unlock_with(f, PASS), 429);
	tu_clock_advance(&f->clk, 1);
	assert_int_equal(unlock_with(f, PASS), 200);
	/* Success starts the count again. */
	for (i = 0; i < WEBUI_FREE_FAILURES - 1; i++)
		assert_int_equal(unlock_with(f, "guess"), 401);
	assert_int_equal(unlock_with(f, PASS), 200);
}

static void
test_body_caps(void **state)
{
	struct fx *f = *state;
	const char *hdrs[] = { f->origin, NULL };
	size_t big = API_MAX_BODY + 10;
	char *body = malloc(big);
	struct resp r;

	assert_non_null(body);
	memset(body, 'a', big);
	unlock(f);
	req(f, "POST", "/v1/rooms/tanaka/posts", hdrs, body, big, 1, &r);
	assert_int_equal(r.status, 413);
	resp_release(&r);
	req(f, "POST", "/ui/unlock", hdrs, body, 5000, 0, &r);
	assert_int_equal(r.status, 413);
	resp_release(&r);
	free(body);
	/* Still serving. */
	assert_int_equal(call(f, "GET", "/v1/status", NULL, 1, &r), 200);
	resp_release(&r);
}

static void
test_session_table(void **state)
{
	struct fx *f = *state;
	char first_cookie[160], first_csrf[80];
	struct resp r;
	int i;

	unlock(f);
	snprintf(first_cookie, sizeof(first_cookie), "%s", f->cookie);
	snprintf(first_csrf, sizeof(first_csrf), "%s", f->csrf);
	for (i = 0; i < WEBUI_MAX_SESSIONS; i++) {
		tu_clock_advance(&f->clk, 10);
		/* A fresh browser each time: no cookie goes with unlock. */
		f->cookie[0] = '\0';
		unlock(f);
	}
	assert_int_equal(call(f, "GET", "/v1/status", NULL, 1, &r), 200);
	resp_release(&r);
	/* The oldest made room. */
	snprintf(f->cookie, sizeof(f->cookie), "%s", first_cookie);
	snprintf(f->csrf, sizeof(f->csrf), "%s", first_csrf);
	assert_int_equal(call(f, "GET", "/v1/status", NULL, 1, &r), 401);
	resp_release(&r);
}

/* Unlocks, makes room tanaka (with dr-1) and posts in it a second
 * later; id gets the post's id. */
static void
tanaka_with_post(struct fx *f, char *id, size_t idlen)
{
	struct resp r;
	json_t *o;

	unlock(f);
	assert_int_equal(call(f, "POST", "/v1/rooms", "{\"room_id\": "
	    "\"tanaka\", \"patient_name\": \"田中 花子\", \"consent_date\": "
	    "\"2025-05-01\", \"members\": [\"dr-1\"]}", 1, &r), 201);
	resp_release(&r);
	tu_clock_advance(&f->clk, 1000);
	assert_int_equal(call(f, "POST", "/v1/rooms/tanaka/posts",
	    "{\"body\": \"訪問しました\"}", 1, &r), 201);
	o = json_loads(resp_text(&r), 0, NULL);
	assert_non_null(o);
	snprintf(id, idlen, "%s", json_string_value(json_object_get(o,
	    "id")));
	json_decref(o);
	resp_release(&r);
}

static void
test_pending(void **state)
{
	struct fx *f = *state;
	struct resp r;
	json_t *o;
	char id[64], path[256];

	tanaka_with_post(f, id, sizeof(id));
	tu_clock_advance(&f->clk, 1000);
	assert_int_equal(call(f, "PATCH", "/v1/rooms/tanaka/card",
	    "{\"allergies\": \"なし\"}", 1, &r), 200);
	resp_release(&r);

	assert_int_equal(call(f, "GET", "/ui/pending?room=tanaka", NULL, 1,
	    &r), 200);
	assert_non_null(strstr(resp_text(&r), id));
	assert_non_null(strstr(resp_text(&r), "\"card\":\"pending\""));
	resp_release(&r);

	/* Query arguments reach the local API as on the Unix socket. */
	assert_int_equal(call(f, "POST", "/v1/rooms/tanaka/posts",
	    "{\"body\": \"二つ目\"}", 1, &r), 201);
	resp_release(&r);
	assert_int_equal(call(f, "GET", "/v1/rooms/tanaka/timeline?limit=1",
	    NULL, 1, &r), 200);
	o = json_loads(resp_text(&r), 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_array_size(json_object_get(o, "items")), 1);
	json_decref(o);
	resp_release(&r);

	/* The hub acknowledged everything: nothing waits. */
	exec(store_db(f->s), "UPDATE local_outbox SET status = 'acked', "
	    "acked_hub_seq = seq");
	assert_int_equal(call(f, "GET", "/ui/pending?room=tanaka", NULL, 1,
	    &r), 200);
	assert_null(strstr(resp_text(&r), id));
	assert_non_null(strstr(resp_text(&r), "\"card\":null"));
	resp_release(&r);

	/* A refused write is told apart. */
	snprintf(path, sizeof(path), "UPDATE local_outbox SET status = "
	    "'refused', acked_hub_seq = NULL WHERE hlc = (SELECT hlc FROM "
	    "posts WHERE id = '%s')", id);
	exec(store_db(f->s), path);
	assert_int_equal(call(f, "GET", "/ui/pending?room=tanaka", NULL, 1,
	    &r), 200);
	o = json_loads(resp_text(&r), 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_array_size(json_object_get(o, "refused")), 1);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(o, "refused"), 0)), id);
	json_decref(o);
	resp_release(&r);

	/* Not a room of this staff member. */
	assert_int_equal(call(f, "GET", "/ui/pending?room=elsewhere", NULL, 1,
	    &r), 404);
	resp_release(&r);
	assert_int_equal(call(f, "GET", "/ui/pending", NULL, 1, &r), 400);
	resp_release(&r);
}

/* Today's patients in one call: unread counts, the last visit, what
 * waits; no room's record noted as read. */
static void
test_home(void **state)
{
	struct fx *f = *state;
	struct resp r;
	json_t *o, *t;
	int64_t reads;
	char id[64];

	tanaka_with_post(f, id, sizeof(id));
	/* The doctor's post and visit, as a pull would bring them. */
	exec(store_db(f->s), "INSERT INTO posts (room_id, id, author, "
	    "created_at, body, hlc) VALUES ('tanaka', 'p-dr', 'dr-1', 5000, "
	    "'利尿薬を増量', 1)");
	exec(store_db(f->s), "INSERT INTO visits (room_id, id, author, "
	    "visited_at, hlc) VALUES ('tanaka', 'v-dr', 'dr-1', 4000, 1)");

	reads = tu_qint(store_db(f->s), "SELECT count(*) FROM "
	    "local_audit_pending WHERE action = 'read'");
	assert_int_equal(call(f, "POST", "/ui/home", "{\"rooms\": "
	    "[\"tanaka\", \"elsewhere\"], \"seen\": {\"tanaka\": 4500}}", 1,
	    &r), 200);
	o = json_loads(resp_text(&r), 0, NULL);
	resp_release(&r);
	assert_non_null(o);
	t = json_object_get(json_object_get(o, "rooms"), "tanaka");
	assert_non_null(t);
	/* Her own post is not unread; the doctor's after 4500 is. */
	assert_int_equal(json_integer_value(json_object_get(t, "unread")), 1);
	assert_int_equal(json_integer_value(json_object_get(t,
	    "last_visit")), 4000);
	assert_true(json_integer_value(json_object_get(t, "waiting")) >= 1);
	assert_null(json_object_get(json_object_get(o, "rooms"),
	    "elsewhere"));
	json_decref(o);
	assert_int_equal(tu_qint(store_db(f->s), "SELECT count(*) FROM "
	    "local_audit_pending WHERE action = 'read'"), reads);
	/* Seen after everything: nothing unread. */
	assert_int_equal(call(f, "POST", "/ui/home", "{\"rooms\": "
	    "[\"tanaka\"], \"seen\": {\"tanaka\": 999999999999}}", 1, &r),
	    200);
	assert_non_null(strstr(resp_text(&r), "\"unread\":0"));
	resp_release(&r);
	/* The timeline itself is a read, noted (the count is watched). */
	assert_int_equal(call(f, "GET", "/v1/rooms/tanaka/timeline", NULL, 1,
	    &r), 200);
	resp_release(&r);
	assert_true(tu_qint(store_db(f->s), "SELECT count(*) FROM "
	    "local_audit_pending WHERE action = 'read'") > reads);

	/* Bad bodies. */
	assert_int_equal(call(f, "POST", "/ui/home", "[]", 1, &r), 400);
	resp_release(&r);
	assert_int_equal(call(f, "POST", "/ui/home", "{\"rooms\": [1]}", 1,
	    &r), 400);
	resp_release(&r);
	assert_int_equal(call(f, "POST", "/ui/home", "{\"rooms\": "
	    "[\"tanaka\"], \"seen\": {\"tanaka\": \"yesterday\"}}", 1, &r),
	    400);
	resp_release(&r);
	assert_int_equal(call(f, "POST", "/ui/home", "{\"rooms\": []}", 0,
	    &r), 401);
	resp_release(&r);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_and_origin),
		cmocka_unit_test(test_idle_parse),
		T(test_assets),
		T(test_host_checked),
		T(test_session),
		T(test_idle),
		T(test_rate_limit),
		T(test_body_caps),
		T(test_session_table),
		T(test_pending),
		T(test_home),
	};
#undef T

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
