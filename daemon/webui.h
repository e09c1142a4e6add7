/*
 * webui.h - the field web UI's HTTP server: a device's renkeid serves the
 * UI (client/web/, embedded at build time) and the local API on its
 * --listen loopback address, to a browser on the same machine.
 *
 * Routes (every answer is JSON unless it is an asset):
 *   GET  /, /index.html, /app.js, /style.css ...  the embedded assets
 *   GET  /ui/config   -> {"idle_ms", "port", "unlock": ["passphrase"],
 *                        "vitals": [{"field", "label_ja", "unit", "min",
 *                        "max", "integer"}], "card_fields": [...]}
 *   POST /ui/unlock   {"passphrase"} -> 200 {"csrf", "staff", "idle_ms"}
 *                     and Set-Cookie rk_ui_PORT=...; HttpOnly;
 *                     SameSite=Strict.  401 wrong, 429 too many tries.
 *   POST /ui/lock     ends the session (cookie expired)
 *   POST /ui/touch    the person is active: resets the idle timer
 *   GET  /ui/pending?room=R
 *                     -> {"room_id", "pending": [ids], "refused": [ids],
 *                        "card": "pending"|"refused"|null}: the
 *                        room's posts, visits, medications and requests
 *                        (and its card) whose last write the hub has not
 *                        acknowledged yet
 *   *    /v1/...      the local API (common/api.h), exactly as the CLI
 *                     sees it on the Unix socket (localapi_call)
 *
 * Security.  Loopback only (the caller checked the address).  Every
 * request must name a loopback Host with our port (127.0.0.1:P,
 * localhost:P, [::1]:P), which defeats DNS rebinding.  /ui/ and /v1/
 * calls other than /ui/config and /ui/unlock need the session: the cookie
 * and the X-Renkei-CSRF header holding the token issued with it (the page
 * keeps it in memory; a cookie alone, which a page on another loopback
 * port could make the browser send, is not enough).  A browser's
 * Sec-Fetch-Site must be same-origin, and every request that is not a GET
 * must carry our Origin.  The unlock passphrase is checked with
 * keys_unlock against D/keys (its wrong-passphrase delay applies); after
 * WEBUI_FREE_FAILURES failures in a row, tries are refused (429) for a
 * pause that doubles, up to WEBUI_LOCKOUT_MAX_MS.  A session ends after
 * idle_ms without a request from the person (the page's background polls
 * send X-Renkei-Background: 1 and do not count), and after
 * WEBUI_SESSION_MAX_MS in any case.  Answers carry a strict
 * Content-Security-Policy (no inline script), nosniff, no-referrer and
 * frame-ancestors 'none'.
 *
 * Threads: a small pool of MHD threads; sessions and the unlock limiter
 * are under the server's mutex, local API calls under store_lock.
 */
#ifndef RK_WEBUI_H
#define RK_WEBUI_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/err.h"

struct rec_ctx;
struct webui;

#define WEBUI_IDLE_MS_DEFAULT (10 * 60 * 1000)
#define WEBUI_SESSION_MAX_MS (12 * 60 * 60 * 1000)
#define WEBUI_MAX_SESSIONS 8
#define WEBUI_FREE_FAILURES 5
#define WEBUI_LOCKOUT_MIN_MS 30000
#define WEBUI_LOCKOUT_MAX_MS (15 * 60 * 1000)

struct webui_opts {
	const char *listen;	/* "127.0.0.1:PORT" (0: any free port),
				 * "localhost:PORT" or "[::1]:PORT" */
	const char *keys_path;	/* D/keys: checks the unlock passphrase */
	int64_t idle_ms;	/* 0: WEBUI_IDLE_MS_DEFAULT */
	const struct rk_clock *clock;	/* NULL: wall clock, libsodium */
};

/* Starts serving; o's strings, ctx and the clock must outlive the server.
 * *out is freed with webui_stop. */
int webui_start(const struct webui_opts *o, struct rec_ctx *ctx,
    struct webui **out) RK_MUST_CHECK;
/* The port it listens on (the one chosen when asked for port 0). */
unsigned webui_port(const struct webui *w);
/* Answers the requests in progress, stops, ends every session.  NULL is
 * fine. */
void webui_stop(struct webui *w);

/* "600", "600s", "10m", "1h" -> milliseconds (at least 1 s, at most a
 * day); NULL or "" -> WEBUI_IDLE_MS_DEFAULT.  RK_EINVAL otherwise.  For
 * RENKEI_UI_IDLE. */
int webui_idle_parse(const char *s, int64_t *ms) RK_MUST_CHECK;

/* One embedded asset (client/web/embed.cmake writes the table). */
struct webui_asset {
	const char *path;	/* "/app.js" */
	const char *type;	/* Content-Type */
	const unsigned char *data;
	size_t len;
};
extern const struct webui_asset webui_assets[];	/* path NULL ends */

/* ---- for tests --------------------------------------------------------- */

/* 1 if host (a Host header) names this loopback server on port. */
int webui_host_ok(const char *host, unsigned port);
/* 1 if origin (an Origin header) is this server's own. */
int webui_origin_ok(const char *origin, unsigned port);

#endif
