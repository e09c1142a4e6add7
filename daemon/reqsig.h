/*
 * reqsig.h - signing and checking sync requests (wire.h, REQUEST
 * SIGNATURE).  The device signs method, path, body hash, time and nonce;
 * the hub checks signature, clock skew and nonce freshness.
 */
#ifndef RK_REQSIG_H
#define RK_REQSIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/err.h"

struct reqsig_headers {
	char device[65];
	char time[24];
	char nonce[33];
	char signature[129];
};

/* Fills h for a request by device signed with sign_sk. */
int reqsig_sign(const char *device, const uint8_t sign_sk[64],
    const char *method, const char *path, const uint8_t *body, size_t len,
    const struct rk_clock *clock, struct reqsig_headers *h) RK_MUST_CHECK;

/* Checks h against sign_pk and the clock: RK_EAUTH (with why) for a bad
 * signature or a time outside WIRE_SKEW_MS; then calls seen(arg, device,
 * nonce, time_ms), which must record the nonce and return RK_EEXIST if it
 * was seen already (a replay). */
int reqsig_verify(const struct reqsig_headers *h, const uint8_t sign_pk[32],
    const char *method, const char *path, const uint8_t *body, size_t len,
    const struct rk_clock *clock,
    int (*seen)(void *arg, const char *device, const char *nonce,
        int64_t time_ms),
    void *arg, struct rk_why *why) RK_MUST_CHECK;

/*
 * The hub's signature on a 2xx answer (wire.h, ANSWER SIGNATURE): over
 * the requesting device, the request's nonce, the status and the body's
 * hash.  sig_hex gets 128 lowercase hex digits and a NUL.  RK_EINVAL for
 * a device or nonce that is not one.
 */
int reqsig_answer_sign(const uint8_t hub_sk[64], const char *device,
    const char *nonce, unsigned status, const uint8_t *body, size_t len,
    char sig_hex[129]) RK_MUST_CHECK;

/* 0 if sig_hex is the hub's signature on exactly this answer to this
 * request; RK_EAUTH otherwise (missing, malformed or not matching). */
int reqsig_answer_verify(const uint8_t hub_pk[32], const char *device,
    const char *nonce, unsigned status, const uint8_t *body, size_t len,
    const char *sig_hex) RK_MUST_CHECK;

#endif
