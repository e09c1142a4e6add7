/*
 * localapi.h - serves the local API (common/api.h) over HTTP on the data
 * dir's Unix socket, with libmicrohttpd.  One internal thread handles every
 * request in turn, so the store sees one caller at a time.
 */
#ifndef RK_LOCALAPI_H
#define RK_LOCALAPI_H

#include "common/err.h"
#include "daemon/records.h"

struct localapi;

/* Listens on sock_path (replacing a stale socket file; mode 0600) and
 * starts serving ctx.  ctx must outlive the server. */
int localapi_start(const char *sock_path, struct rec_ctx *ctx,
    struct localapi **out) RK_MUST_CHECK;
/* Finishes requests in progress, stops, removes the socket file. */
void localapi_stop(struct localapi *la);

#endif
