/*
 * hubhttp.h - serves the sync protocol (daemon/wire.h) of a hub over TCP
 * with libmicrohttpd, onto hub.h.
 *
 * Plain HTTP: TLS is the job of a reverse proxy in front of the hub
 * (nginx, caddy, ...), which must pass the request target unchanged (the
 * request signature covers it) and should cap bodies at WIRE_MAX_BODY
 * too.  Devices insist on https for any hub that is not on loopback.
 *
 * A pool of two threads serves the requests; the store lock serialises
 * their database work, so a slow or hostile client holds a thread, not
 * the hub.  Bodies over their cap are answered 413 without being kept,
 * connections idle for 30 s are closed, and a refused enrolment is
 * answered after HUB_ENROLL_DELAY_MS without holding a thread.
 */
#ifndef RK_HUBHTTP_H
#define RK_HUBHTTP_H

#include "common/err.h"

struct hub;
struct hubhttp;
struct store;

/* Bodies of JSON calls (/v1/enroll, /v1/hashes); pushes may be
 * WIRE_MAX_BODY. */
#define HUBHTTP_MAX_JSON (1024u * 1024)
/* Request bodies held in memory at once, over all connections. */
#define HUBHTTP_MAX_BUFFERED (256u * 1024 * 1024)
#define HUBHTTP_THREADS 2u
#define HUBHTTP_TIMEOUT_S 30u

/* Listens on listen_addr -- "IPv4:PORT", "[IPv6]:PORT" or
 * "localhost:PORT"; PORT 0 picks a free one (see hubhttp_port) -- and
 * serves h.  h and s must outlive the server.  RK_EINVAL for an address
 * it cannot parse, RK_EIO if it cannot listen. */
int hubhttp_start(struct hub *h, struct store *s, const char *listen_addr,
    struct hubhttp **out) RK_MUST_CHECK;
/* The TCP port listened on. */
unsigned hubhttp_port(const struct hubhttp *hh);
/* Answers the delayed requests, stops, frees; NULL is fine. */
void hubhttp_stop(struct hubhttp *hh);

#endif
