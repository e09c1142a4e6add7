/*
 * hubhttp.c - the hub's HTTP server (see hubhttp.h): routing, body caps,
 * request signatures and error answers around hub.c.
 *
 * Every request object is made in the URI callback, which sees the raw
 * request target with its query: that is what the device signed, so it is
 * what hub_auth checks (not MHD's decoded path).  Every error is answered
 * {"error": "...", "code": "..."} with its 4xx/5xx status; 410 from a pull
 * adds "snapshot": true.
 */
#include "daemon/hubhttp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/api.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "daemon/hub.h"
#include "daemon/reqsig.h"
#include "daemon/wire.h"

/* A refused enrolment waiting for its answer. */
struct hh_delay {
	struct MHD_Connection *conn;
	int64_t due_ms;			/* CLOCK_MONOTONIC */
	struct hh_delay *next;
};

struct hubhttp {
	struct hub *hub;
	struct store *store;
	struct MHD_Daemon *mhd;
	unsigned port;

	pthread_mutex_t mu;		/* guards what follows */
	size_t buffered;		/* body bytes held, all requests */
	struct hh_delay *delays;	/* sorted by due_ms */
	int stopping;
	pthread_cond_t cond;
	pthread_t timer;
	int timer_started;
};

struct hh_req {
	char *uri;		/* raw request target; malloc'd */
	struct buf body;
	size_t cap;		/* this route's body limit */
	size_t reserved;	/* counted in hubhttp.buffered */
	int started;
	int too_big;
	int busy;
	/* A delayed answer (refused enrolment): sent after resume. */
	int delayed;
	unsigned delayed_status;
	char *delayed_body;	/* malloc'd JSON */
};

/* ---- answers ------------------------------------------------------------ */

/* sig: the answer signature header's value, or NULL for none. */
static enum MHD_Result
hh_send_sig(struct MHD_Connection *conn, unsigned status, const char *type,
    void *data, size_t len, const char *sig)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	/* data is malloc'd; the response frees it with free(). */
	r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (sig != NULL)
		MHD_add_response_header(r, "Renkei-Answer-Signature", sig);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
hh_send(struct MHD_Connection *conn, unsigned status, const char *type,
    void *data, size_t len)
{
	return hh_send_sig(conn, status, type, data, len, NULL);
}

/* The JSON text of an error (malloc'd), never NULL unless out of memory. */
static char *
hh_error_text(int err, const char *text, int snapshot)
{
	json_t *o;
	char *s;

	o = json_pack("{s:s, s:s}", "error", text && text[0] ? text :
	    rk_strerror(err), "code", snapshot ? "gone" : api_code_name(err));
	if (o == NULL)	/* text was not UTF-8: say what we can */
		o = json_pack("{s:s, s:s}", "error", rk_strerror(err), "code",
		    api_code_name(err));
	if (o != NULL && snapshot)
		json_object_set_new(o, "snapshot", json_true());
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

static enum MHD_Result
hh_send_error_status(struct MHD_Connection *conn, unsigned status, int err,
    const char *text, int snapshot)
{
	char *s = hh_error_text(err, text, snapshot);

	if (s == NULL)
		return MHD_NO;
	return hh_send(conn, status, "application/json", s, strlen(s));
}

static enum MHD_Result
hh_send_error(struct MHD_Connection *conn, int err, const struct rk_why *why)
{
	return hh_send_error_status(conn, (unsigned)rk_err_http_status(err),
	    err, why ? why->text : NULL, 0);
}

static enum MHD_Result
hh_send_json(struct MHD_Connection *conn, unsigned status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	if (s == NULL)
		return MHD_NO;
	return hh_send(conn, status, "application/json", s, strlen(s));
}

/* A 200 answer to device's signed request with nonce, signed by the hub
 * (wire.h, ANSWER SIGNATURE).  data is malloc'd, as for hh_send. */
static enum MHD_Result
hh_send_answer(struct hubhttp *hh, struct MHD_Connection *conn,
    const char *device, const char *nonce, const char *type, void *data,
    size_t len)
{
	char sig[129];

	if (hub_sign_answer(hh->hub, device, nonce, 200, data, len, sig) !=
	    0) {
		free(data);
		return hh_send_error_status(conn, 500, RK_ECRYPTO,
		    "cannot sign the answer", 0);
	}
	return hh_send_sig(conn, 200, type, data, len, sig);
}

/* ---- delayed answers (refused enrolments) ------------------------------- */

static void *
hh_timer_main(void *arg)
{
	struct hubhttp *hh = arg;
	struct hh_delay *d;
	struct timespec ts;

	pthread_mutex_lock(&hh->mu);
	while (!hh->stopping) {
		int64_t now = rk_mono_ms();

		if (hh->delays == NULL) {
			pthread_cond_wait(&hh->cond, &hh->mu);
			continue;
		}
		if (hh->delays->due_ms <= now) {
			d = hh->delays;
			hh->delays = d->next;
			MHD_resume_connection(d->conn);
			free(d);
			continue;
		}
		ts.tv_sec = (time_t)(hh->delays->due_ms / 1000);
		ts.tv_nsec = (long)(hh->delays->due_ms % 1000) * 1000000;
		pthread_cond_timedwait(&hh->cond, &hh->mu, &ts);
	}
	/* Stopping: MHD must not be stopped with connections suspended. */
	while ((d = hh->delays) != NULL) {
		hh->delays = d->next;
		MHD_resume_connection(d->conn);
		free(d);
	}
	pthread_mutex_unlock(&hh->mu);
	return NULL;
}

/* Answers conn with (status, json) after HUB_ENROLL_DELAY_MS, holding
 * neither a thread nor the store meanwhile.  json is malloc'd; req owns
 * it from here. */
static enum MHD_Result
hh_delay_answer(struct hubhttp *hh, struct MHD_Connection *conn,
    struct hh_req *req, unsigned status, char *json)
{
	struct hh_delay *d, **pp;

	req->delayed_status = status;
	req->delayed_body = json;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto now;
	d->conn = conn;
	d->due_ms = rk_mono_ms() + HUB_ENROLL_DELAY_MS;
	pthread_mutex_lock(&hh->mu);
	if (hh->stopping || !hh->timer_started) {
		pthread_mutex_unlock(&hh->mu);
		free(d);
		goto now;
	}
	req->delayed = 1;
	MHD_suspend_connection(conn);
	for (pp = &hh->delays; *pp != NULL && (*pp)->due_ms <= d->due_ms;
	    pp = &(*pp)->next)
		;
	d->next = *pp;
	*pp = d;
	pthread_cond_signal(&hh->cond);
	pthread_mutex_unlock(&hh->mu);
	return MHD_YES;
now:
	req->delayed_body = NULL;
	return hh_send(conn, status, "application/json", json, strlen(json));
}

/* ---- routes ------------------------------------------------------------- */

/* A decimal uint64 with nothing else; 0 or -1. */
static int
hh_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 19)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* The Renkei-* headers; 0 or RK_EAUTH with why. */
static int
hh_headers(struct MHD_Connection *conn, struct reqsig_headers *hd,
    struct rk_why *why)
{
	static const char *const names[] = { "Renkei-Device", "Renkei-Time",
	    "Renkei-Nonce", "Renkei-Signature" };
	char *fields[4];
	size_t sizes[4];
	int i;

	memset(hd, 0, sizeof(*hd));
	fields[0] = hd->device;
	sizes[0] = sizeof(hd->device);
	fields[1] = hd->time;
	sizes[1] = sizeof(hd->time);
	fields[2] = hd->nonce;
	sizes[2] = sizeof(hd->nonce);
	fields[3] = hd->signature;
	sizes[3] = sizeof(hd->signature);
	for (i = 0; i < 4; i++) {
		const char *v = MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, names[i]);

		if (v == NULL || v[0] == '\0')
			return rk_whyf(why, RK_EAUTH, "missing %s: requests to "
			    "a hub are signed by an enrolled device", names[i]);
		if (strlen(v) >= sizes[i])
			return rk_whyf(why, RK_EAUTH, "%s: too long", names[i]);
		memcpy(fields[i], v, strlen(v) + 1);
	}
	return 0;
}

static json_t *
hh_body_json(struct hh_req *req, struct rk_why *why, int *rc)
{
	json_error_t jerr;
	json_t *in;

	if (req->body.len == 0) {
		*rc = rk_whyf(why, RK_EINVAL,
		    "body: a JSON object is required");
		return NULL;
	}
	in = json_loadb((const char *)req->body.data, req->body.len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (in == NULL)
		*rc = rk_whyf(why, RK_EINVAL, "body: not JSON (%s)", jerr.text);
	return in;
}

static enum MHD_Result
hh_enroll(struct hubhttp *hh, struct MHD_Connection *conn,
    struct hh_req *req)
{
	struct rk_why why = { "" };
	json_t *in, *out = NULL;
	enum MHD_Result ret;
	char *s;
	int rc = 0;

	if ((in = hh_body_json(req, &why, &rc)) == NULL)
		return hh_send_error(conn, rc, &why);
	rc = hub_enroll(hh->hub, in, &out, &why);
	json_decref(in);
	if (rc == RK_EAUTH) {
		log_info("enrolment refused: %s", why.text);
		if ((s = hh_error_text(rc, why.text, 0)) == NULL)
			return MHD_NO;
		return hh_delay_answer(hh, conn, req, 401, s);
	}
	if (rc != 0)
		return hh_send_error(conn, rc, &why);
	ret = hh_send_json(conn, 200, out);
	json_decref(out);
	return ret;
}

/* rooms=A,B,...: split at commas ("" is the directory), then one
 * snapshot answer for them all. */
static int
hh_snapshot_rooms(struct hubhttp *hh, const char *device, const char *list,
    unsigned flags, struct buf *b, struct rk_why *why)
{
	const char *rooms[WIRE_SNAPSHOT_ROOMS_MAX];
	char *copy, *p, *comma;
	size_t n = 0;
	int rc;

	if (strlen(list) > WIRE_SNAPSHOT_ROOMS_MAX * 65)
		return rk_whyf(why, RK_EINVAL, "rooms: too long");
	if ((copy = strdup(list)) == NULL)
		return RK_ENOMEM;
	for (p = copy;; p = comma + 1) {
		if (n == WIRE_SNAPSHOT_ROOMS_MAX) {
			free(copy);
			return rk_whyf(why, RK_EINVAL, "rooms: at most %u",
			    WIRE_SNAPSHOT_ROOMS_MAX);
		}
		rooms[n++] = p;
		if ((comma = strchr(p, ',')) == NULL)
			break;
		*comma = '\0';
	}
	rc = hub_snapshot_rooms(hh->hub, device, rooms, n, flags, b, why);
	free(copy);
	return rc;
}

static enum MHD_Result
hh_signed(struct hubhttp *hh, struct MHD_Connection *conn, const char *url,
    const char *method, struct hh_req *req)
{
	struct reqsig_headers hd;
	struct rk_why why = { "" };
	struct buf b = BUF_INIT;
	char device[65];
	json_t *in = NULL, *out = NULL;
	uint8_t *p;
	size_t len;
	int rc;

	if ((rc = hh_headers(conn, &hd, &why)) != 0 ||
	    (rc = hub_auth(hh->hub, &hd, method, req->uri, req->body.data,
	    req->body.len, device, &why)) != 0) {
		if (rc == RK_EAUTH || rc == RK_EDENIED)
			log_info("%s %s: refused: %s", method, url, why.text);
		return hh_send_error(conn, rc, &why);
	}
	if (strcmp(url, "/v1/push") == 0) {
		rc = hub_push(hh->hub, device, req->body.data, req->body.len,
		    &out, &why);
	} else if (strcmp(url, "/v1/hashes") == 0) {
		if ((in = hh_body_json(req, &why, &rc)) != NULL)
			rc = hub_hashes(hh->hub, device, in, &out, &why);
		json_decref(in);
	} else if (strcmp(url, "/v1/pull") == 0) {
		const char *a = MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "after");
		const char *l = MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "limit");
		uint64_t after = 0, limit = 0;

		if ((a != NULL && hh_parse_u64(a, &after) != 0) ||
		    after > INT64_MAX)
			rc = rk_whyf(&why, RK_EINVAL, "after: a hub seq");
		else if (l != NULL && (hh_parse_u64(l, &limit) != 0 ||
		    limit == 0 || limit > HUB_PULL_LIMIT_MAX))
			rc = rk_whyf(&why, RK_EINVAL, "limit: 1..%u",
			    HUB_PULL_LIMIT_MAX);
		else
			rc = hub_pull(hh->hub, device, after, (unsigned)limit,
			    &b, &why);
		if (rc == RK_ENOTFOUND) {
			buf_release(&b);
			return hh_send_error_status(conn, MHD_HTTP_GONE, rc,
			    why.text, 1);
		}
	} else {	/* /v1/snapshot */
		const char *room = MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "room");
		const char *list = MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "rooms");
		const char *joined = MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "joined");

		if (joined != NULL && (strcmp(joined, "1") != 0 ||
		    room != NULL))
			rc = rk_whyf(&why, RK_EINVAL, "joined: 1, with rooms "
			    "or alone");
		else if (joined != NULL && list == NULL)
			rc = hub_snapshot_rooms(hh->hub, device, NULL, 0,
			    HUB_SNAP_JOINED, &b, &why);
		else if (list != NULL && room == NULL)
			rc = hh_snapshot_rooms(hh, device, list, joined ?
			    HUB_SNAP_JOINED : 0, &b, &why);
		else if (list != NULL)
			rc = rk_whyf(&why, RK_EINVAL, "room and rooms: one or "
			    "the other");
		else
			rc = hub_snapshot(hh->hub, device, room ? room : "",
			    &b, &why);
	}
	if (rc != 0) {
		buf_release(&b);
		if (rc != RK_EINVAL && rc != RK_EPROTO && rc != RK_EDENIED &&
		    rc != RK_EAUTH && rc != RK_ENOTFOUND)
			log_warnx("%s %s from %s: %s", method, url, device,
			    why.text[0] ? why.text : rk_strerror(rc));
		else
			log_info("%s %s from %s: %s", method, url, device,
			    why.text[0] ? why.text : rk_strerror(rc));
		return hh_send_error(conn, rc, &why);
	}
	if (out != NULL) {
		char *js = json_dumps(out, JSON_COMPACT);

		json_decref(out);
		if (js == NULL)
			return MHD_NO;
		return hh_send_answer(hh, conn, device, hd.nonce,
		    "application/json", js, strlen(js));
	}
	p = buf_detach(&b, &len);
	if (p == NULL && (p = malloc(1)) == NULL)
		return MHD_NO;
	return hh_send_answer(hh, conn, device, hd.nonce,
	    "application/octet-stream", p, len);
}

/* The body cap of a route; 0 for a call without a body. */
static size_t
hh_route_cap(const char *url, const char *method, int *known)
{
	int post = strcmp(method, "POST") == 0;
	int get = strcmp(method, "GET") == 0;

	*known = 1;
	if (post && strcmp(url, "/v1/push") == 0)
		return WIRE_MAX_BODY;
	if (post && (strcmp(url, "/v1/enroll") == 0 ||
	    strcmp(url, "/v1/hashes") == 0))
		return HUBHTTP_MAX_JSON;
	if (get && (strcmp(url, "/v1/pull") == 0 ||
	    strcmp(url, "/v1/snapshot") == 0))
		return 0;
	*known = 0;
	return 0;
}

static enum MHD_Result
hh_dispatch(struct hubhttp *hh, struct MHD_Connection *conn,
    const char *url, const char *method, struct hh_req *req)
{
	struct rk_why why = { "" };
	int known;

	hh_route_cap(url, method, &known);
	if (!known) {
		static const char *const paths[] = { "/v1/enroll", "/v1/push",
		    "/v1/pull", "/v1/snapshot", "/v1/hashes", NULL };
		int i;

		for (i = 0; paths[i] != NULL; i++)
			if (strcmp(url, paths[i]) == 0)
				return hh_send_error_status(conn,
				    MHD_HTTP_METHOD_NOT_ALLOWED, RK_EINVAL,
				    "method not allowed here", 0);
		rk_whyf(&why, RK_ENOTFOUND, "no such call: %.16s %.128s",
		    method, url);
		return hh_send_error(conn, RK_ENOTFOUND, &why);
	}
	if (strcmp(url, "/v1/enroll") == 0)
		return hh_enroll(hh, conn, req);
	return hh_signed(hh, conn, url, method, req);
}

static enum MHD_Result
hh_too_large(struct MHD_Connection *conn, size_t cap)
{
	char text[96];

	snprintf(text, sizeof(text), "body: larger than %zu bytes", cap);
	return hh_send_error_status(conn, MHD_HTTP_CONTENT_TOO_LARGE,
	    RK_EINVAL, text, 0);
}

static enum MHD_Result
hh_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct hubhttp *hh = cls;
	struct hh_req *req = *con_cls;
	int known;

	if (req == NULL)	/* the URI callback ran out of memory */
		return MHD_NO;
	if (!req->started) {
		const char *cl = MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t n = 0;

		req->started = 1;
		req->cap = hh_route_cap(url, method, &known);
		/* No such call: answered before a byte of body is read. */
		if (!known)
			return hh_dispatch(hh, conn, url, method, req);
		/* Refuse a declared oversize body likewise. */
		if (cl != NULL && (hh_parse_u64(cl, &n) != 0 ||
		    n > req->cap)) {
			req->too_big = 1;
			return hh_too_large(conn, req->cap);
		}
		return MHD_YES;
	}
	if (req->delayed) {
		char *s = req->delayed_body;

		req->delayed = 0;
		req->delayed_body = NULL;
		return hh_send(conn, req->delayed_status, "application/json",
		    s, strlen(s));
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (req->too_big || req->busy)
			return MHD_YES;		/* read and dropped */
		if (n > req->cap - req->body.len) {
			req->too_big = 1;
			goto drop;
		}
		pthread_mutex_lock(&hh->mu);
		if (hh->buffered + n > HUBHTTP_MAX_BUFFERED) {
			req->busy = 1;
		} else {
			hh->buffered += n;
			req->reserved += n;
		}
		pthread_mutex_unlock(&hh->mu);
		if (req->busy)
			goto drop;
		if (buf_append(&req->body, upload_data, n) != 0)
			return MHD_NO;
		return MHD_YES;
drop:
		buf_release(&req->body);
		return MHD_YES;
	}
	if (req->too_big)
		return hh_too_large(conn, req->cap);
	if (req->busy)
		return hh_send_error_status(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    RK_EUNAVAIL, "the hub is busy: try again shortly", 0);
	return hh_dispatch(hh, conn, url, method, req);
}

static void *
hh_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct hh_req *req;

	(void)cls;
	(void)conn;
	if ((req = calloc(1, sizeof(*req))) == NULL)
		return NULL;
	if ((req->uri = strdup(uri ? uri : "")) == NULL) {
		free(req);
		return NULL;
	}
	return req;	/* freed by hh_completed */
}

static void
hh_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct hubhttp *hh = cls;
	struct hh_req *req = *con_cls;

	if (req == NULL)
		return;
	pthread_mutex_lock(&hh->mu);
	hh->buffered -= req->reserved;
	pthread_mutex_unlock(&hh->mu);
	buf_release(&req->body);
	free(req->delayed_body);
	free(req->uri);
	free(req);
	*con_cls = NULL;
}

static void
hh_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug("hub http: %s", line);
}

/* ---- start and stop ----------------------------------------------------- */

union hh_addr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

/* "1.2.3.4:P", "[::1]:P", "localhost:P" -> a, *v6.  0 or RK_EINVAL. */
static int
hh_parse_addr(const char *s, union hh_addr *a, int *v6)
{
	char host[64];
	const char *colon, *hs = s;
	size_t hl;
	uint64_t port;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':')
			return RK_EINVAL;
		hs = s + 1;
		hl = (size_t)(end - hs);
		colon = end + 1;
		*v6 = 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return RK_EINVAL;
		hl = (size_t)(colon - s);
		*v6 = 0;
	}
	if (hl == 0 || hl >= sizeof(host) || hh_parse_u64(colon + 1, &port) != 0
	    || port > 65535)
		return RK_EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	if (*v6) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &a->in6.sin6_addr) == 1 ? 0 :
		    RK_EINVAL;
	}
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	a->in4.sin_family = AF_INET;
	a->in4.sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &a->in4.sin_addr) == 1 ? 0 : RK_EINVAL;
}

int
hubhttp_start(struct hub *h, struct store *s, const char *listen_addr,
    struct hubhttp **out)
{
	struct hubhttp *hh = NULL;
	union hh_addr addr;
	pthread_condattr_t ca;
	const union MHD_DaemonInfo *info;
	unsigned flags;
	int v6 = 0, rc;

	if (hh_parse_addr(listen_addr, &addr, &v6) != 0) {
		log_warnx("--listen %s: give IPv4:PORT, [IPv6]:PORT or "
		    "localhost:PORT", listen_addr);
		return RK_EINVAL;
	}
	if ((hh = calloc(1, sizeof(*hh))) == NULL)
		return RK_ENOMEM;
	hh->hub = h;
	hh->store = s;
	pthread_mutex_init(&hh->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hh->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&hh->timer, NULL, hh_timer_main, hh) != 0) {
		log_warnx("hub http: cannot start a thread");
		rc = RK_ENOMEM;
		goto out;
	}
	hh->timer_started = 1;
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	hh->mhd = MHD_start_daemon(flags, 0, NULL, NULL, hh_handler, hh,
	    MHD_OPTION_EXTERNAL_LOGGER, hh_mhd_log, hh,
	    MHD_OPTION_SOCK_ADDR, &addr.sa,
	    MHD_OPTION_THREAD_POOL_SIZE, HUBHTTP_THREADS,
	    MHD_OPTION_CONNECTION_TIMEOUT, HUBHTTP_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
	    MHD_OPTION_CONNECTION_LIMIT, 512u,
	    MHD_OPTION_URI_LOG_CALLBACK, hh_uri, hh,
	    MHD_OPTION_NOTIFY_COMPLETED, hh_completed, hh,
	    MHD_OPTION_END);
	if (hh->mhd == NULL) {
		log_warnx("hub http: cannot listen on %s (in use, or not an "
		    "address of this host?)", listen_addr);
		rc = RK_EIO;
		goto out;
	}
	info = MHD_get_daemon_info(hh->mhd, MHD_DAEMON_INFO_BIND_PORT);
	hh->port = info != NULL ? info->port : 0;
	log_info("hub: serving the sync protocol on %s (port %u; plain HTTP: "
	    "put TLS in front)", listen_addr, hh->port);
	*out = hh;	/* the caller's: hubhttp_stop */
	hh = NULL;
	rc = 0;
out:
	hubhttp_stop(hh);
	return rc;
}

unsigned
hubhttp_port(const struct hubhttp *hh)
{
	return hh->port;
}

void
hubhttp_stop(struct hubhttp *hh)
{
	if (hh == NULL)
		return;
	if (hh->timer_started) {
		pthread_mutex_lock(&hh->mu);
		hh->stopping = 1;
		pthread_cond_signal(&hh->cond);
		pthread_mutex_unlock(&hh->mu);
		pthread_join(hh->timer, NULL);
	}
	if (hh->mhd != NULL)
		MHD_stop_daemon(hh->mhd);
	pthread_cond_destroy(&hh->cond);
	pthread_mutex_destroy(&hh->mu);
	free(hh);
}
