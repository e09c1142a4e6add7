/*
 * localapi.h - serves the local API (common/api.h) over HTTP on the data
 * dir's Unix socket, with libmicrohttpd.  One internal thread handles every
 * request in turn, so the store sees one caller at a time.
 */
#ifndef RK_LOCALAPI_H
#define RK_LOCALAPI_H

#include "common/err.h"
#include "daemon/records.h"

#include <stddef.h>
#include <stdint.h>

struct localapi;

/* One answer of the local API; data is malloc'd (the caller frees it). */
struct localapi_answer {
	int status;
	const char *content_type;	/* static */
	uint8_t *data;
	size_t len;
};

/* The query arguments a GET may carry: ?limit=N (timelines) and ?all=1
 * (conflicts, resolved ones too). */
struct localapi_query {
	const char *limit;	/* NULL if absent */
	int all;
};

struct MHD_Connection;
/* Reads them from a request (both servers use libmicrohttpd). */
void localapi_query_read(struct MHD_Connection *conn, const char *method,
    struct localapi_query *q);

/*
 * Runs one local API call -- routing, JSON in and out, errors as
 * {"error", "code"} -- with no transport: the Unix socket server and the
 * field UI's server both call it, holding the store lock.  A GET's query
 * arguments (q, may be NULL) reach the route as its input object
 * ({"limit": N, "all": true}).  Fails only for lack of memory (every
 * refusal is an answer).
 */
int localapi_call(struct rec_ctx *c, const char *method, const char *url,
    const struct localapi_query *q, const uint8_t *body, size_t len,
    struct localapi_answer *ans) RK_MUST_CHECK;

/* Listens on sock_path (replacing a stale socket file; mode 0600) and
 * starts serving ctx.  ctx must outlive the server. */
int localapi_start(const char *sock_path, struct rec_ctx *ctx,
    struct localapi **out) RK_MUST_CHECK;
/* Finishes requests in progress, stops, removes the socket file. */
void localapi_stop(struct localapi *la);

#endif
