/*
 * webui.c - the field web UI's HTTP server (see webui.h): the embedded
 * assets, the unlock session, and the local API behind it.
 *
 * Every request passes, in this order: the Host check (DNS rebinding),
 * the method and size limits, and for the /ui/ and /v1/ calls the
 * browser's Sec-Fetch-Site, the Origin of anything but a GET, and then
 * the session -- its cookie and its CSRF header.  Only then does a call
 * reach the store, under store_lock, through localapi_call: the UI speaks
 * exactly the local API the CLI speaks.
 */
#include "daemon/webui.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "common/api.h"
#include "common/buf.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/vitals.h"
#include "daemon/localapi.h"
#include "daemon/records.h"
#include "daemon/store.h"

#define WEBUI_THREADS 4
#define WEBUI_TIMEOUT_S 60u
#define WEBUI_DRAIN_MS 5000
#define WEBUI_UNLOCK_MAX 4096		/* bytes of passphrase body */
#define WEBUI_TOKEN_BYTES 32
#define WEBUI_TOKEN_HEX (2 * WEBUI_TOKEN_BYTES)

#define WEBUI_CSRF_HEADER "X-Renkei-CSRF"
#define WEBUI_BG_HEADER "X-Renkei-Background"

/* The assets may load only themselves; nothing inline, nothing remote. */
#define WEBUI_CSP_PAGE "default-src 'self'; script-src 'self'; " \
	"style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
	"font-src 'self'; object-src 'none'; base-uri 'none'; " \
	"form-action 'self'; frame-ancestors 'none'"
#define WEBUI_CSP_DATA "default-src 'none'; frame-ancestors 'none'"
/* The printable card sheet (api.h card.html) has inline styles only. */
#define WEBUI_CSP_SHEET "default-src 'none'; style-src 'unsafe-inline'; " \
	"frame-ancestors 'none'"

struct webui_session {
	int used;
	uint8_t id_hash[crypto_generichash_BYTES];	/* of the cookie */
	char csrf[WEBUI_TOKEN_HEX + 1];
	int64_t created_ms;
	int64_t active_ms;	/* the person's last request */
};

struct webui {
	struct MHD_Daemon *mhd;
	struct rec_ctx *ctx;
	const struct rk_clock *clock;
	const char *keys_path;
	int64_t idle_ms;
	unsigned port;
	char cookie_name[32];		/* rk_ui_PORT: cookies ignore ports */
	pthread_mutex_t mu;		/* all below */
	pthread_mutex_t unlock_mu;	/* one Argon2id at a time */
	struct webui_session sessions[WEBUI_MAX_SESSIONS];
	unsigned failures;		/* wrong passphrases in a row */
	int64_t retry_at_ms;		/* no tries before this */
	int inflight;			/* requests being answered */
};

struct webui_req {
	struct buf body;
	size_t cap;
	int too_big;
};

/* ---- Host and Origin ---------------------------------------------------- */

int
webui_host_ok(const char *host, unsigned port)
{
	static const char *const names[] = { "127.0.0.1", "localhost",
		"[::1]" };
	char want[64];
	size_t i;

	if (host == NULL)
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(want, sizeof(want), "%s:%u", names[i], port);
		if (strcmp(host, want) == 0)
			return 1;
		/* A browser leaves out the scheme's default port. */
		if (port == 80 && strcmp(host, names[i]) == 0)
			return 1;
	}
	return 0;
}

int
webui_origin_ok(const char *origin, unsigned port)
{
	if (origin == NULL || strncmp(origin, "http://", 7) != 0)
		return 0;
	return webui_host_ok(origin + 7, port);
}

int
webui_idle_parse(const char *s, int64_t *ms)
{
	char *end;
	long long v;
	int64_t unit = 1000;

	if (s == NULL || s[0] == '\0') {
		*ms = WEBUI_IDLE_MS_DEFAULT;
		return 0;
	}
	if (s[0] < '0' || s[0] > '9')
		return RK_EINVAL;
	v = strtoll(s, &end, 10);
	if (*end == 's')
		end++;
	else if (*end == 'm') {
		unit = 60 * 1000;
		end++;
	} else if (*end == 'h') {
		unit = 60 * 60 * 1000;
		end++;
	}
	if (*end != '\0' || v < 1 || v > 24LL * 60 * 60 ||
	    v * unit > INT64_C(24) * 60 * 60 * 1000)
		return RK_EINVAL;
	*ms = (int64_t)v * unit;
	return 0;
}

/* ---- answers -------------------------------------------------------------- */

static void
webui_security_headers(struct MHD_Response *r, const char *csp)
{
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy",
	    "same-origin");
}

/*
 * Queues an answer.  data is malloc'd and becomes the response's (freed
 * with free()) unless persistent, when it is static.  cookie, if not
 * NULL, is a Set-Cookie value.
 */
static enum MHD_Result
webui_send(struct MHD_Connection *conn, int status, const char *type,
    void *data, size_t len, int persistent, const char *csp,
    const char *cookie, const char *retry_after)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, data, persistent ?
	    MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		if (!persistent)
			free(data);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", persistent ? "no-cache" :
	    "no-store");
	webui_security_headers(r, csp);
	if (cookie != NULL)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	if (retry_after != NULL)
		MHD_add_response_header(r, "Retry-After", retry_after);
	ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Sends o (a reference the caller keeps) as JSON. */
static enum MHD_Result
webui_send_json(struct MHD_Connection *conn, int status, json_t *o,
    const char *cookie, const char *retry_after)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s == NULL)
		return MHD_NO;
	return webui_send(conn, status, "application/json", s, strlen(s), 0,
	    WEBUI_CSP_DATA, cookie, retry_after);
}

/* {"error": text, "code": code}, as every local API error. */
static enum MHD_Result
webui_error(struct MHD_Connection *conn, int status, const char *code,
    const char *fmt, ...) RK_PRINTF(4, 5);

static enum MHD_Result
webui_error(struct MHD_Connection *conn, int status, const char *code,
    const char *fmt, ...)
{
	char text[256];
	va_list ap;
	json_t *o;
	enum MHD_Result ret;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	o = json_pack("{s:s, s:s}", "error", text, "code", code);
	ret = webui_send_json(conn, status, o, NULL, NULL);
	json_decref(o);
	return ret;
}

static enum MHD_Result
webui_ok(struct MHD_Connection *conn)
{
	json_t *o = json_pack("{s:b}", "ok", 1);
	enum MHD_Result ret = webui_send_json(conn, 200, o, NULL, NULL);

	json_decref(o);
	return ret;
}

/* ---- sessions ------------------------------------------------------------- */

static void
webui_token_hash(const char *token, uint8_t out[crypto_generichash_BYTES])
{
	crypto_generichash(out, crypto_generichash_BYTES,
	    (const unsigned char *)token, strlen(token), NULL, 0);
}

static int
webui_session_live(const struct webui *w, const struct webui_session *s,
    int64_t now)
{
	return s->used && now - s->active_ms <= w->idle_ms &&
	    now - s->created_ms <= WEBUI_SESSION_MAX_MS &&
	    now >= s->created_ms;
}

/* Ends every session past its time.  Holds w->mu. */
static void
webui_sessions_expire(struct webui *w, int64_t now)
{
	size_t i;

	for (i = 0; i < WEBUI_MAX_SESSIONS; i++)
		if (w->sessions[i].used &&
		    !webui_session_live(w, &w->sessions[i], now))
			sodium_memzero(&w->sessions[i],
			    sizeof(w->sessions[i]));
}

/* The session whose cookie is token, or NULL.  Holds w->mu. */
static struct webui_session *
webui_session_find(struct webui *w, const char *token, int64_t now)
{
	uint8_t h[crypto_generichash_BYTES];
	size_t i;

	if (token == NULL || strlen(token) != WEBUI_TOKEN_HEX)
		return NULL;
	webui_sessions_expire(w, now);
	webui_token_hash(token, h);
	for (i = 0; i < WEBUI_MAX_SESSIONS; i++)
		if (w->sessions[i].used && sodium_memcmp(w->sessions[i].id_hash,
		    h, sizeof(h)) == 0)
			return &w->sessions[i];
	return NULL;
}

/*
 * A new session: its cookie value into token, its CSRF token copied into
 * csrf.  The oldest session makes room when the table is full.  Holds
 * w->mu.
 */
static void
webui_session_new(struct webui *w, int64_t now, char token[WEBUI_TOKEN_HEX + 1],
    char csrf[WEBUI_TOKEN_HEX + 1])
{
	uint8_t raw[WEBUI_TOKEN_BYTES];
	struct webui_session *s = NULL;
	size_t i;

	webui_sessions_expire(w, now);
	for (i = 0; i < WEBUI_MAX_SESSIONS; i++) {
		if (!w->sessions[i].used) {
			s = &w->sessions[i];
			break;
		}
		if (s == NULL || w->sessions[i].active_ms < s->active_ms)
			s = &w->sessions[i];
	}
	sodium_memzero(s, sizeof(*s));
	rk_random(w->clock, raw, sizeof(raw));
	sodium_bin2hex(token, WEBUI_TOKEN_HEX + 1, raw, sizeof(raw));
	rk_random(w->clock, raw, sizeof(raw));
	sodium_bin2hex(s->csrf, sizeof(s->csrf), raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	webui_token_hash(token, s->id_hash);
	memcpy(csrf, s->csrf, sizeof(s->csrf));
	s->created_ms = s->active_ms = now;
	s->used = 1;
}

static const char *
webui_cookie(struct webui *w, struct MHD_Connection *conn)
{
	return MHD_lookup_connection_value(conn, MHD_COOKIE_KIND,
	    w->cookie_name);
}

enum webui_auth { AUTH_OK, AUTH_NONE, AUTH_CSRF };

/*
 * Checks the session of a request: its cookie names a live session and
 * its CSRF header matches.  A request from the person (no background
 * header) resets the idle timer.
 */
static enum webui_auth
webui_auth(struct webui *w, struct MHD_Connection *conn)
{
	const char *token = webui_cookie(w, conn);
	const char *csrf = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    WEBUI_CSRF_HEADER);
	const char *bg = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    WEBUI_BG_HEADER);
	int64_t now = rk_now_ms(w->clock);
	struct webui_session *s;
	enum webui_auth a;

	pthread_mutex_lock(&w->mu);
	s = webui_session_find(w, token, now);
	if (s == NULL)
		a = AUTH_NONE;
	else if (csrf == NULL || strlen(csrf) != WEBUI_TOKEN_HEX ||
	    sodium_memcmp(csrf, s->csrf, WEBUI_TOKEN_HEX) != 0)
		a = AUTH_CSRF;
	else {
		a = AUTH_OK;
		if (bg == NULL || strcmp(bg, "1") != 0)
			s->active_ms = now;
	}
	pthread_mutex_unlock(&w->mu);
	return a;
}

/* ---- routes --------------------------------------------------------------- */

static enum MHD_Result
webui_config(struct webui *w, struct MHD_Connection *conn)
{
	static const char *const card_fields[] = { API_CARD_FIELDS, NULL };
	const struct vital_range *v;
	json_t *o, *vitals, *fields;
	enum MHD_Result ret;
	size_t i;

	vitals = json_array();
	fields = json_array();
	o = json_pack("{s:I, s:i, s:[s], s:o, s:o}", "idle_ms",
	    (json_int_t)w->idle_ms, "port", (int)w->port, "unlock",
	    "passphrase", "vitals", vitals, "card_fields", fields);
	if (o == NULL)
		return MHD_NO;
	for (v = vital_ranges; v->field != NULL; v++)
		json_array_append_new(vitals, json_pack("{s:s, s:s, s:s, s:f, "
		    "s:f, s:b}", "field", v->field, "label_ja", v->label_ja,
		    "unit", v->unit, "min", v->min, "max", v->max, "integer",
		    v->integer));
	for (i = 0; card_fields[i] != NULL; i++)
		json_array_append_new(fields, json_string(card_fields[i]));
	ret = webui_send_json(conn, 200, o, NULL, NULL);
	json_decref(o);
	return ret;
}

static enum MHD_Result
webui_unlock(struct webui *w, struct MHD_Connection *conn,
    struct webui_req *req)
{
	char token[WEBUI_TOKEN_HEX + 1], csrf[WEBUI_TOKEN_HEX + 1];
	char cookie[160], retry[32];
	const char *old = webui_cookie(w, conn);
	struct keys *k = NULL;
	struct webui_session *s;
	json_t *o;
	int64_t now, pause;
	enum MHD_Result ret;
	int rc;

	if (req->body.len == 0 || req->body.len > WEBUI_UNLOCK_MAX)
		return webui_error(conn, 400, "invalid", "body: the passphrase "
		    "(1-%d bytes of UTF-8 text)", WEBUI_UNLOCK_MAX);
	/* One try at a time: Argon2id is costly, and a queue of guesses
	 * must meet the limiter one by one. */
	pthread_mutex_lock(&w->unlock_mu);
	pthread_mutex_lock(&w->mu);
	now = rk_now_ms(w->clock);
	if (w->failures >= WEBUI_FREE_FAILURES && now < w->retry_at_ms) {
		snprintf(retry, sizeof(retry), "%lld",
		    (long long)((w->retry_at_ms - now + 999) / 1000));
		pthread_mutex_unlock(&w->mu);
		pthread_mutex_unlock(&w->unlock_mu);
		o = json_pack("{s:s, s:s, s:I}", "error", "too many wrong "
		    "passphrases: wait before trying again", "code", "busy",
		    "retry_after_ms", (json_int_t)(w->retry_at_ms - now));
		ret = webui_send_json(conn, 429, o, NULL, retry);
		json_decref(o);
		return ret;
	}
	pthread_mutex_unlock(&w->mu);
	rc = keys_unlock(w->keys_path, (const char *)req->body.data,
	    req->body.len, &k);
	keys_free(k);
	pthread_mutex_lock(&w->mu);
	now = rk_now_ms(w->clock);
	if (rc == RK_EAUTH || rc == RK_EINVAL) {
		unsigned failures = ++w->failures;

		if (failures >= WEBUI_FREE_FAILURES) {
			unsigned n = failures - WEBUI_FREE_FAILURES;

			pause = n >= 5 ? WEBUI_LOCKOUT_MAX_MS :
			    (int64_t)WEBUI_LOCKOUT_MIN_MS << n;
			if (pause > WEBUI_LOCKOUT_MAX_MS)
				pause = WEBUI_LOCKOUT_MAX_MS;
			w->retry_at_ms = now + pause;
		}
		pthread_mutex_unlock(&w->mu);
		pthread_mutex_unlock(&w->unlock_mu);
		log_warnx("web UI: wrong passphrase (%u in a row)", failures);
		return webui_error(conn, 401, "auth", "wrong passphrase");
	}
	if (rc != 0) {
		pthread_mutex_unlock(&w->mu);
		pthread_mutex_unlock(&w->unlock_mu);
		log_warnx("web UI: cannot check the passphrase against %s: %s",
		    w->keys_path, rk_strerror(rc));
		return webui_error(conn, 500, api_code_name(rc), "cannot check "
		    "the passphrase: %s", rk_strerror(rc));
	}
	w->failures = 0;
	w->retry_at_ms = 0;
	/* The session this browser had, if any, ends here. */
	if ((s = webui_session_find(w, old, now)) != NULL)
		sodium_memzero(s, sizeof(*s));
	webui_session_new(w, now, token, csrf);
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_unlock(&w->unlock_mu);
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; "
	    "SameSite=Strict", w->cookie_name, token);
	sodium_memzero(token, sizeof(token));
	o = json_pack("{s:s, s:s, s:s, s:I}", "csrf", csrf, "staff",
	    w->ctx->staff ? w->ctx->staff : "", "device_id",
	    w->ctx->device_id ? w->ctx->device_id : "", "idle_ms",
	    (json_int_t)w->idle_ms);
	sodium_memzero(csrf, sizeof(csrf));
	ret = webui_send_json(conn, 200, o, cookie, NULL);
	sodium_memzero(cookie, sizeof(cookie));
	json_decref(o);
	return ret;
}

static enum MHD_Result
webui_lock(struct webui *w, struct MHD_Connection *conn)
{
	char cookie[96];
	struct webui_session *s;
	json_t *o;
	enum MHD_Result ret;

	pthread_mutex_lock(&w->mu);
	if ((s = webui_session_find(w, webui_cookie(w, conn),
	    rk_now_ms(w->clock))) != NULL)
		sodium_memzero(s, sizeof(*s));
	pthread_mutex_unlock(&w->mu);
	snprintf(cookie, sizeof(cookie), "%s=; Path=/; HttpOnly; "
	    "SameSite=Strict; Max-Age=0", w->cookie_name);
	o = json_pack("{s:b}", "locked", 1);
	ret = webui_send_json(conn, 200, o, cookie, NULL);
	json_decref(o);
	return ret;
}

/*
 * The room's posts, visits, medications and requests, and its card, whose
 * outbox entry is not
 * acknowledged: rows carry the HLC of the transaction that wrote them, and
 * so does its outbox entry.  Called with the store lock held.
 */
static int
webui_pending_query(struct webui *w, const char *room, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(w->ctx->store);
	sqlite3_stmt *st = NULL;
	json_t *pending = NULL, *refused = NULL, *card = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT EXISTS (SELECT 1 FROM memberships "
	    "WHERE room_id = ?1 AND staff_id = ?2 AND status = 'active')",
	    -1, &st, NULL) != SQLITE_OK)
		return rk_whyf(why, RK_EDB, "cannot read the replica: %s",
		    sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, w->ctx->staff, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	st = NULL;
	if (rc != 1)
		return rk_whyf(why, rc < 0 ? RK_EDB : RK_ENOTFOUND,
		    "no room %s among this device's rooms", room);
	if (sqlite3_prepare_v2(db, "WITH o AS (SELECT hlc, status FROM "
	    "local_outbox_waiting WHERE room_id = ?1 UNION ALL SELECT hlc, "
	    "status FROM local_outbox WHERE room_id = ?1 AND status = "
	    "'refused') "
	    "SELECT p.id, o.status FROM posts p JOIN o ON o.hlc = p.hlc "
	    "WHERE p.room_id = ?1 "
	    "UNION ALL SELECT v.id, o.status FROM visits v JOIN o ON "
	    "o.hlc = v.hlc WHERE v.room_id = ?1 "
	    "UNION ALL SELECT m.id, o.status FROM medications m JOIN o ON "
	    "o.hlc = m.hlc WHERE m.room_id = ?1 "
	    "UNION ALL SELECT r.id, o.status FROM requests r JOIN o ON "
	    "o.hlc = r.hlc WHERE r.room_id = ?1 "
	    "UNION ALL SELECT NULL, o.status FROM emergency_cards e JOIN o "
	    "ON o.hlc = e.hlc WHERE e.room_id = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return rk_whyf(why, RK_EDB, "cannot read the outbox: %s",
		    sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	pending = json_array();
	refused = json_array();
	card = json_null();
	if (pending == NULL || refused == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *status = (const char *)sqlite3_column_text(st, 1);
		int is_refused = status != NULL && !strcmp(status, "refused");

		if (id == NULL) {
			/* A refusal outranks a later pending edit. */
			if (json_is_null(card) || is_refused) {
				json_decref(card);
				card = json_string(is_refused ? "refused" :
				    "pending");
			}
			continue;
		}
		if (json_array_append_new(is_refused ? refused : pending,
		    json_string(id)) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, RK_EDB, "cannot read the outbox: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	if ((*out = json_pack("{s:s, s:O, s:O, s:O}", "room_id", room,
	    "pending", pending, "refused", refused, "card", card)) == NULL)
		rc = RK_ENOMEM;
	else
		rc = 0;
out:
	sqlite3_finalize(st);
	json_decref(pending);
	json_decref(refused);
	json_decref(card);
	return rc;
}

/*
 * POST /ui/home {"rooms": [ROOM...], "seen": {ROOM: ms}} -> {"rooms":
 * {ROOM: {"unread", "last_visit" (ms or null), "waiting"}}} for each
 * room named that the acting staff is an active member of: what today's
 * patients shows of a room.  unread counts the newest 200 timeline items
 * (posts and visits) later than seen[ROOM] and written by someone else;
 * waiting the room's entries not yet taken by the hub (webui_pending).
 * Counts and a time, not the records: like the list of rooms, this is
 * not a read of any room's record, and the audit trail notes none (the
 * screen used to fetch every room's timeline, each noted as read).
 */
#define WEBUI_HOME_ROOMS 1000

static int
webui_home_room(struct webui *w, const char *room, int64_t seen,
    json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(w->ctx->store);
	sqlite3_stmt *st = NULL;
	json_t *pend = NULL;
	int64_t unread = 0, waiting;
	json_t *last = NULL;
	int rc;

	*out = NULL;
	if ((rc = webui_pending_query(w, room, &pend, why)) != 0)
		return rc;	/* RK_ENOTFOUND: not a room of this staff */
	waiting = (int64_t)json_array_size(json_object_get(pend, "pending")) +
	    (json_is_null(json_object_get(pend, "card")) ? 0 : 1);
	json_decref(pend);
	if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM (SELECT "
	    "author, at FROM (SELECT p.author, p.created_at AS at FROM posts p "
	    "WHERE p.room_id = ?1 AND p.deleted_at IS NULL UNION ALL SELECT "
	    "v.author, v.visited_at FROM visits v WHERE v.room_id = ?1 AND "
	    "v.deleted_at IS NULL) ORDER BY at DESC LIMIT 200) WHERE at > ?2 "
	    "AND author IS NOT ?3), (SELECT max(visited_at) FROM visits WHERE "
	    "room_id = ?1 AND deleted_at IS NULL)", -1, &st, NULL) !=
	    SQLITE_OK)
		return rk_whyf(why, RK_EDB, "cannot read the replica: %s",
		    sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seen);
	sqlite3_bind_text(st, 3, w->ctx->staff, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		unread = sqlite3_column_int64(st, 0);
		last = sqlite3_column_type(st, 1) == SQLITE_NULL ? json_null() :
		    json_integer(sqlite3_column_int64(st, 1));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return rk_whyf(why, RK_EDB, "cannot read the replica: %s",
		    sqlite3_errmsg(db));
	if (last == NULL || (*out = json_pack("{s:I, s:o, s:I}", "unread",
	    (json_int_t)unread, "last_visit", last, "waiting",
	    (json_int_t)waiting)) == NULL)
		return RK_ENOMEM;
	return 0;
}

static enum MHD_Result
webui_home(struct webui *w, struct MHD_Connection *conn,
    const struct webui_req *req)
{
	struct rk_why why = { "" };
	json_t *in = NULL, *rooms, *seen, *v, *o, *ans = NULL;
	enum MHD_Result ret;
	size_t i;
	int rc = 0;

	if ((in = json_loadb((const char *)req->body.data, req->body.len, 0,
	    NULL)) == NULL || !json_is_object(in) ||
	    !json_is_array(rooms = json_object_get(in, "rooms")) ||
	    json_array_size(rooms) > WEBUI_HOME_ROOMS ||
	    ((seen = json_object_get(in, "seen")) != NULL &&
	    !json_is_object(seen))) {
		json_decref(in);
		return webui_error(conn, 400, "invalid", "body: expected "
		    "{\"rooms\": [ROOM...] (at most %d), \"seen\": {ROOM: "
		    "ms}}", WEBUI_HOME_ROOMS);
	}
	if ((ans = json_object()) == NULL) {
		json_decref(in);
		return MHD_NO;
	}
	json_array_foreach(rooms, i, v) {
		const char *room = json_string_value(v);
		json_t *t = seen != NULL && room != NULL ?
		    json_object_get(seen, room) : NULL;

		if (room == NULL || room[0] == '\0' || strlen(room) > 64) {
			rc = rk_whyf(&why, RK_EINVAL, "rooms: item %zu is not "
			    "a room id", i);
			break;
		}
		if (t != NULL && !json_is_integer(t)) {
			rc = rk_whyf(&why, RK_EINVAL, "seen: %s is not a time "
			    "in ms", room);
			break;
		}
		/* The lock room by room: a long list does not hold up sync
		 * and writes meanwhile. */
		store_lock(w->ctx->store);
		rc = webui_home_room(w, room, t != NULL ?
		    (int64_t)json_integer_value(t) : 0, &o, &why);
		store_unlock(w->ctx->store);
		if (rc == RK_ENOTFOUND) {	/* left, or not yet pulled */
			rc = 0;
			continue;
		}
		if (rc != 0 || json_object_set_new(ans, room, o) != 0) {
			rc = rc ? rc : RK_ENOMEM;
			break;
		}
	}
	json_decref(in);
	if (rc != 0) {
		json_decref(ans);
		if (rc == RK_ENOMEM)
			return MHD_NO;
		return webui_error(conn, rk_err_http_status(rc),
		    api_code_name(rc), "%s", why.text);
	}
	if ((o = json_pack("{s:o}", "rooms", ans)) == NULL)
		return MHD_NO;
	ret = webui_send_json(conn, 200, o, NULL, NULL);
	json_decref(o);
	return ret;
}

static enum MHD_Result
webui_pending(struct webui *w, struct MHD_Connection *conn)
{
	const char *room = MHD_lookup_connection_value(conn,
	    MHD_GET_ARGUMENT_KIND, "room");
	struct rk_why why = { "" };
	json_t *o = NULL;
	enum MHD_Result ret;
	int rc;

	if (room == NULL || room[0] == '\0' || strlen(room) > 64)
		return webui_error(conn, 400, "invalid", "?room=ROOM required");
	store_lock(w->ctx->store);
	rc = webui_pending_query(w, room, &o, &why);
	store_unlock(w->ctx->store);
	if (rc != 0) {
		if (rc == RK_ENOMEM)
			return MHD_NO;
		return webui_error(conn, rk_err_http_status(rc),
		    api_code_name(rc), "%s", why.text);
	}
	ret = webui_send_json(conn, 200, o, NULL, NULL);
	json_decref(o);
	return ret;
}

static enum MHD_Result
webui_api(struct webui *w, struct MHD_Connection *conn, const char *method,
    const char *url, struct webui_req *req)
{
	struct localapi_answer ans;
	struct localapi_query q;
	int rc;

	localapi_query_read(conn, method, &q);
	store_lock(w->ctx->store);
	rc = localapi_call(w->ctx, method, url, &q, req->body.data,
	    req->body.len, &ans);
	store_unlock(w->ctx->store);
	if (rc != 0)
		return MHD_NO;
	/* ans.data is malloc'd; the response frees it. */
	return webui_send(conn, ans.status, ans.content_type, ans.data,
	    ans.len, 0, strncmp(ans.content_type, "text/html", 9) == 0 ?
	    WEBUI_CSP_SHEET : WEBUI_CSP_DATA, NULL, NULL);
}

static enum MHD_Result
webui_asset(struct MHD_Connection *conn, const char *url)
{
	const struct webui_asset *a;

	if (!strcmp(url, "/"))
		url = "/index.html";
	for (a = webui_assets; a->path != NULL; a++)
		if (!strcmp(a->path, url))
			return webui_send(conn, 200, a->type, (void *)a->data,
			    a->len, 1, WEBUI_CSP_PAGE, NULL, NULL);
	return webui_error(conn, 404, "notfound", "no such page: %s", url);
}

/* Everything after the body has arrived. */
static enum MHD_Result
webui_route(struct webui *w, struct MHD_Connection *conn, const char *url,
    const char *method, struct webui_req *req)
{
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	const char *origin = MHD_lookup_connection_value(conn,
	    MHD_HEADER_KIND, "Origin");
	const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Sec-Fetch-Site");
	int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	int is_api = !strncmp(url, "/v1/", 4) || !strncmp(url, "/ui/", 4);

	if (!webui_host_ok(host, w->port))
		return webui_error(conn, 403, "denied", "Host %s is not this "
		    "device's web UI (open http://127.0.0.1:%u/)",
		    host ? host : "(none)", w->port);
	if (!is_get && strcmp(method, "POST") && strcmp(method, "PATCH") &&
	    strcmp(method, "PUT") && strcmp(method, "DELETE"))
		return webui_error(conn, 405, "invalid", "method %s is not "
		    "served", method);
	if (req->too_big)
		return webui_error(conn, 413, "too_large", "body: larger than "
		    "%zu bytes", req->cap);
	if (!is_api) {
		if (!is_get)
			return webui_error(conn, 405, "invalid", "%s %s: pages "
			    "are read with GET", method, url);
		return webui_asset(conn, url);
	}
	/* A browser tells where a request comes from: only our own pages
	 * may call.  Clients that are not browsers hold no session. */
	if (site != NULL && strcmp(site, "same-origin") != 0)
		return webui_error(conn, 403, "denied", "a request from another "
		    "site (%s)", site);
	if (!is_get && !webui_origin_ok(origin, w->port))
		return webui_error(conn, 403, "denied", "Origin %s may not "
		    "call this device", origin ? origin : "(none)");
	if (!strcmp(url, "/ui/config") && is_get)
		return webui_config(w, conn);
	if (!strcmp(url, "/ui/unlock") && !strcmp(method, "POST"))
		return webui_unlock(w, conn, req);
	switch (webui_auth(w, conn)) {
	case AUTH_NONE:
		return webui_error(conn, 401, "locked", "locked: unlock with "
		    "the passphrase first");
	case AUTH_CSRF:
		return webui_error(conn, 403, "denied", "missing or wrong "
		    WEBUI_CSRF_HEADER " header");
	case AUTH_OK:
		break;
	}
	if (!strcmp(url, "/ui/lock") && !strcmp(method, "POST"))
		return webui_lock(w, conn);
	if (!strcmp(url, "/ui/touch") && !strcmp(method, "POST"))
		return webui_ok(conn);
	if (!strcmp(url, "/ui/pending") && is_get)
		return webui_pending(w, conn);
	if (!strcmp(url, "/ui/home") && !strcmp(method, "POST"))
		return webui_home(w, conn, req);
	if (!strncmp(url, "/v1/", 4))
		return webui_api(w, conn, method, url, req);
	return webui_error(conn, 404, "notfound", "no such call: %s %s",
	    method, url);
}

static enum MHD_Result
webui_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct webui *w = cls;
	struct webui_req *req = *con_cls;

	if (req == NULL) {
		if ((req = calloc(1, sizeof(*req))) == NULL)
			return MHD_NO;
		/* The passphrase must not be left behind by a realloc: its
		 * whole buffer is taken at once and wiped at the end. */
		if (!strcmp(url, "/ui/unlock")) {
			req->cap = WEBUI_UNLOCK_MAX;
			if (buf_reserve(&req->body, WEBUI_UNLOCK_MAX + 1) != 0) {
				free(req);
				return MHD_NO;
			}
		} else
			req->cap = API_MAX_BODY;
		*con_cls = req;
		pthread_mutex_lock(&w->mu);
		w->inflight++;
		pthread_mutex_unlock(&w->mu);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!req->too_big && req->body.len + *upload_data_size >
		    req->cap)
			req->too_big = 1;
		if (!req->too_big &&
		    buf_append(&req->body, upload_data, *upload_data_size) != 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return webui_route(w, conn, url, method, req);
}

static void
webui_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct webui *w = cls;
	struct webui_req *req = *con_cls;

	if (req == NULL)
		return;
	if (req->body.data != NULL)
		sodium_memzero(req->body.data, req->body.cap);
	buf_release(&req->body);
	free(req);
	*con_cls = NULL;
	pthread_mutex_lock(&w->mu);
	w->inflight--;
	pthread_mutex_unlock(&w->mu);
}

static void
webui_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug("web UI: %s", line);
}

/* ---- start and stop ------------------------------------------------------- */

union webui_addr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

/* "127.x.y.z:P", "localhost:P", "[::1]:P" -> a, *v6; loopback only. */
static int
webui_parse_addr(const char *s, union webui_addr *a, int *v6)
{
	char host[64], *end;
	const char *colon, *hs = s;
	size_t hl;
	unsigned long port;

	memset(a, 0, sizeof(*a));
	*v6 = 0;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return RK_EINVAL;
		hs = s + 1;
		hl = (size_t)(rb - hs);
		colon = rb + 1;
		*v6 = 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return RK_EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host) || colon[1] < '0' || colon[1] > '9')
		return RK_EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port > 65535)
		return RK_EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	if (*v6) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->in6.sin6_addr) != 1 ||
		    !IN6_IS_ADDR_LOOPBACK(&a->in6.sin6_addr))
			return RK_EINVAL;
		return 0;
	}
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	a->in4.sin_family = AF_INET;
	a->in4.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a->in4.sin_addr) != 1 ||
	    (ntohl(a->in4.sin_addr.s_addr) >> 24) != 127)
		return RK_EINVAL;
	return 0;
}

int
webui_start(const struct webui_opts *o, struct rec_ctx *ctx,
    struct webui **out)
{
	struct webui *w = NULL;
	union webui_addr addr;
	const union MHD_DaemonInfo *info;
	unsigned flags;
	int v6, rc;

	if (webui_parse_addr(o->listen, &addr, &v6) != 0) {
		log_warnx("--listen %s: the web UI listens on loopback only: "
		    "give 127.0.0.1:PORT, localhost:PORT or [::1]:PORT",
		    o->listen);
		return RK_EINVAL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return RK_ENOMEM;
	w->ctx = ctx;
	w->clock = o->clock;
	w->keys_path = o->keys_path;
	w->idle_ms = o->idle_ms > 0 ? o->idle_ms : WEBUI_IDLE_MS_DEFAULT;
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->unlock_mu, NULL);
	/* poll, not epoll: with epoll, MHD_quiesce_daemon (webui_stop) takes
	 * the listening socket out of the pool threads' epoll sets, and once
	 * in a test run libmicrohttpd 0.9.75 aborted the process there
	 * ("Failed to remove listen FD from epoll set").  Quiescing a poll
	 * daemon touches no epoll set.  A tablet's browser on loopback needs
	 * no epoll. */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	    MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	w->mhd = MHD_start_daemon(flags, 0, NULL, NULL, webui_handler, w,
	    MHD_OPTION_EXTERNAL_LOGGER, webui_mhd_log, w,
	    MHD_OPTION_SOCK_ADDR, &addr.sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)WEBUI_THREADS,
	    MHD_OPTION_CONNECTION_TIMEOUT, WEBUI_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_LIMIT, 64u,
	    MHD_OPTION_NOTIFY_COMPLETED, webui_completed, w,
	    MHD_OPTION_END);
	if (w->mhd == NULL) {
		log_warnx("web UI: cannot listen on %s (in use?)", o->listen);
		rc = RK_EIO;
		goto out;
	}
	info = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_BIND_PORT);
	w->port = info != NULL ? info->port : 0;
	snprintf(w->cookie_name, sizeof(w->cookie_name), "rk_ui_%u", w->port);
	log_info("web UI on http://%s:%u/ (loopback only; idle lock after "
	    "%lld s)", v6 ? "[::1]" : "127.0.0.1", w->port,
	    (long long)(w->idle_ms / 1000));
	*out = w;	/* the caller's: webui_stop */
	w = NULL;
	rc = 0;
out:
	webui_stop(w);
	return rc;
}

unsigned
webui_port(const struct webui *w)
{
	return w->port;
}

/*
 * Like the local API: a write that was taken is answered.  Stop
 * accepting, give the requests in flight up to WEBUI_DRAIN_MS, stop.
 * Idle keep-alive connections of a browser do not hold the stop up.
 */
void
webui_stop(struct webui *w)
{
	MHD_socket lfd = MHD_INVALID_SOCKET;
	int waited, busy;

	if (w == NULL)
		return;
	if (w->mhd != NULL) {
		lfd = MHD_quiesce_daemon(w->mhd);
		for (waited = 0; waited < WEBUI_DRAIN_MS; waited += 10) {
			pthread_mutex_lock(&w->mu);
			busy = w->inflight;
			pthread_mutex_unlock(&w->mu);
			if (busy <= 0)
				break;
			usleep(10 * 1000);
		}
		MHD_stop_daemon(w->mhd);
		/* MHD gave the listening socket back to us. */
		if (lfd != MHD_INVALID_SOCKET)
			close(lfd);
	}
	sodium_memzero(w->sessions, sizeof(w->sessions));
	pthread_mutex_destroy(&w->unlock_mu);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
