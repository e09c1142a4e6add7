/*
 * reqsig.c - signing and checking sync requests (wire.h, REQUEST
 * SIGNATURE): the device signs what it asks for, the hub checks the
 * signature, the clock and that the request is new.
 *
 * renkei request signature v1
 *
 *   Renkei-Device:    the device id: 1..64 bytes in 0x21..0x7e
 *   Renkei-Time:      Unix ms in decimal: 1..19 digits, no sign, no
 *                     leading zero (one text per time), <= 2^63-1
 *   Renkei-Nonce:     32 lowercase hex digits (16 random bytes)
 *   Renkei-Signature: 128 lowercase hex digits: Ed25519 over
 *
 *       "renkei-request-v1\n" DEVICE "\n" METHOD "\n" PATH-WITH-QUERY "\n"
 *       hex(BLAKE2b-256(body)) "\n" TIME "\n" NONCE
 *
 *   DEVICE is signed too (wire.h as first written left it out): the hub
 *   picks the key, the revocation status and the nonce history by that
 *   header, so it must not be changeable.  Unsigned, a request by a device
 *   whose key is also enrolled under another id (a re-enrolled tablet)
 *   could be replayed as the other id, past that id's nonce history and
 *   revocation.
 *
 *   METHOD is 1..16 of A-Z; PATH-WITH-QUERY starts with '/' and is
 *   1..2048 bytes in 0x21..0x7e, exactly as sent on the request line (the
 *   hub must check the raw request target, not a decoded one).  Neither
 *   may hold "\n", so the fields cannot be shifted across each other.
 *   BLAKE2b-256 is crypto_generichash with a 32-byte output and no key;
 *   hex is lowercase.
 *
 *   The hub checks, in order: the header formats, the signature, the time
 *   (at most WIRE_SKEW_MS from its clock either way), then hands the nonce
 *   to its store, which refuses one seen from that device.  The store must
 *   keep a nonce until its time is WIRE_SKEW_MS in the past; after that
 *   the clock check refuses the request anyway.
 *
 * renkei answer signature v1
 *
 *   Renkei-Answer-Signature: 128 lowercase hex digits: Ed25519 by the hub
 *   over
 *
 *       "renkei-answer-v1\n" DEVICE "\n" NONCE "\n" STATUS "\n"
 *       hex(BLAKE2b-256(body))
 *
 *   on every 2xx answer to a signed request: DEVICE and NONCE are the
 *   request's, STATUS the HTTP status in decimal.  It binds the answer to
 *   the one request it answers, so that an answer recorded earlier (an
 *   empty pull that would hide new changes, a push answer acking entries
 *   the hub never received) cannot be played back to the device.
 */
#include "daemon/reqsig.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "daemon/wire.h"

#define RS_ID_MAX 64
#define RS_METHOD_MAX 16
#define RS_PATH_MAX 2048
#define RS_NONCE_BYTES 16
#define RS_HASH_BYTES 32
#define RS_SIG_BYTES 64

_Static_assert(sizeof(((struct reqsig_headers *)0)->nonce) ==
    2 * RS_NONCE_BYTES + 1, "nonce is 32 hex digits");
_Static_assert(sizeof(((struct reqsig_headers *)0)->signature) ==
    2 * RS_SIG_BYTES + 1, "signature is 128 hex digits");

/* n bytes within s's array of cap, each in 0x21..0x7e, NUL-terminated. */
static int
rs_printable(const char *s, size_t cap, size_t max)
{
	size_t n, i;

	if (s == NULL)
		return 0;
	n = strnlen(s, cap);
	if (n == 0 || n > max || n == cap)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int
rs_method_ok(const char *m)
{
	size_t i;

	if (m == NULL || m[0] == '\0')
		return 0;
	for (i = 0; m[i] != '\0'; i++)
		if (i >= RS_METHOD_MAX || m[i] < 'A' || m[i] > 'Z')
			return 0;
	return 1;
}

static int
rs_path_ok(const char *p)
{
	return p != NULL && p[0] == '/' &&
	    rs_printable(p, RS_PATH_MAX + 1, RS_PATH_MAX);
}

/* Exactly n lowercase hex digits and a NUL within the array. */
static int
rs_lowerhex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

/* Renkei-Time: 1..19 digits, no leading zero, <= INT64_MAX. */
static int
rs_parse_time(const char *s, size_t cap, int64_t *out)
{
	uint64_t v = 0;
	size_t i, n = strnlen(s, cap);

	if (n == 0 || n > 19 || n == cap || (s[0] == '0' && n > 1))
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');	/* < 10^19 < 2^64 */
	}
	if (v > (uint64_t)INT64_MAX)
		return 0;
	*out = (int64_t)v;
	return 1;
}

/* The signed message (see the top of this file) into m. */
static int
rs_message(struct buf *m, const char *device, const char *method,
    const char *path, const uint8_t *body, size_t len, const char *time,
    const char *nonce)
{
	uint8_t hash[RS_HASH_BYTES];
	char hex[2 * RS_HASH_BYTES + 1];

	crypto_generichash(hash, sizeof(hash), len > 0 ? body : NULL, len,
	    NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	return buf_appendf(m, "%s%s\n%s\n%s\n%s\n%s\n%s", WIRE_SIG_REQUEST,
	    device, method, path, hex, time, nonce);
}

int
reqsig_sign(const char *device, const uint8_t sign_sk[64],
    const char *method, const char *path, const uint8_t *body, size_t len,
    const struct rk_clock *clock, struct reqsig_headers *h)
{
	struct reqsig_headers t;
	struct buf m = BUF_INIT;
	uint8_t nonce[RS_NONCE_BYTES], sig[RS_SIG_BYTES];
	int64_t now;
	int rc;

	if (sodium_init() < 0)
		return RK_ECRYPTO;
	if (!rs_printable(device, RS_ID_MAX + 1, RS_ID_MAX) ||
	    !rs_method_ok(method) || !rs_path_ok(path) ||
	    (body == NULL && len > 0)) {
		log_warnx("reqsig: refusing to sign a malformed request "
		    "(device, method or path)");
		return RK_EINVAL;
	}
	if ((now = rk_now_ms(clock)) < 0) {
		log_warnx("reqsig: the clock reads before 1970");
		return RK_EINVAL;
	}
	memset(&t, 0, sizeof(t));
	memcpy(t.device, device, strlen(device) + 1);
	snprintf(t.time, sizeof(t.time), "%" PRId64, now);
	rk_random(clock, nonce, sizeof(nonce));
	sodium_bin2hex(t.nonce, sizeof(t.nonce), nonce, sizeof(nonce));
	if ((rc = rs_message(&m, t.device, method, path, body, len, t.time,
	    t.nonce)) != 0)
		goto out;
	crypto_sign_detached(sig, NULL, m.data, m.len, sign_sk);
	sodium_bin2hex(t.signature, sizeof(t.signature), sig, sizeof(sig));
	*h = t;
out:
	buf_release(&m);
	return rc;
}

/* "7 minutes", "5 hours", "3 days": how far off a clock is. */
static void
rs_span(int64_t ms, char *out, size_t outlen)
{
	int64_t min = ms / 60000;

	if (min < 120)
		snprintf(out, outlen, "%" PRId64 " minutes", min);
	else if (min < 48 * 60)
		snprintf(out, outlen, "%" PRId64 " hours", min / 60);
	else
		snprintf(out, outlen, "%" PRId64 " days", min / (24 * 60));
}

int
reqsig_verify(const struct reqsig_headers *h, const uint8_t sign_pk[32],
    const char *method, const char *path, const uint8_t *body, size_t len,
    const struct rk_clock *clock,
    int (*seen)(void *arg, const char *device, const char *nonce,
        int64_t time_ms),
    void *arg, struct rk_why *why)
{
	struct buf m = BUF_INIT;
	uint8_t sig[RS_SIG_BYTES];
	int64_t t, now;
	uint64_t off;
	char span[48];
	int rc;

	if (sodium_init() < 0)
		return rk_whyf(why, RK_ECRYPTO, "cannot initialise libsodium");
	if (seen == NULL)
		return rk_whyf(why, RK_EINVAL, "no nonce store to check "
		    "replays against");
	if (!rs_method_ok(method) || !rs_path_ok(path) ||
	    (body == NULL && len > 0))
		return rk_whyf(why, RK_EAUTH, "request method or path cannot "
		    "be signed");
	if (!rs_printable(h->device, sizeof(h->device), RS_ID_MAX))
		return rk_whyf(why, RK_EAUTH, "Renkei-Device is not 1-64 "
		    "printable characters");
	if (!rs_parse_time(h->time, sizeof(h->time), &t))
		return rk_whyf(why, RK_EAUTH, "Renkei-Time is not a time in "
		    "milliseconds");
	if (!rs_lowerhex(h->nonce, 2 * RS_NONCE_BYTES))
		return rk_whyf(why, RK_EAUTH, "Renkei-Nonce is not 32 "
		    "lowercase hex digits");
	if (!rs_lowerhex(h->signature, 2 * RS_SIG_BYTES) ||
	    sodium_hex2bin(sig, sizeof(sig), h->signature, 2 * RS_SIG_BYTES,
	    NULL, NULL, NULL) != 0)
		return rk_whyf(why, RK_EAUTH, "Renkei-Signature is not 128 "
		    "lowercase hex digits");
	if ((rc = rs_message(&m, h->device, method, path, body, len, h->time,
	    h->nonce)) != 0) {
		rk_whyf(why, rc, "out of memory");
		goto out;
	}
	if (crypto_sign_verify_detached(sig, m.data, m.len, sign_pk) != 0) {
		rc = rk_whyf(why, RK_EAUTH, "request signature does not "
		    "verify");
		goto out;
	}
	now = rk_now_ms(clock);
	/* Unsigned: neither time can make the difference overflow. */
	off = t >= now ? (uint64_t)t - (uint64_t)now :
	    (uint64_t)now - (uint64_t)t;
	if (off > (uint64_t)WIRE_SKEW_MS) {
		rs_span(off > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)off,
		    span, sizeof(span));
		rc = rk_whyf(why, RK_EAUTH, "request time is %s off the hub's "
		    "clock (the device's clock is %s)", span,
		    t > now ? "ahead" : "behind");
		goto out;
	}
	rc = seen(arg, h->device, h->nonce, t);
	if (rc == RK_EEXIST)
		rc = rk_whyf(why, RK_EAUTH, "replayed request");
	else if (rc != 0)
		rk_whyf(why, rc, "cannot check the request nonce: %s",
		    rk_strerror(rc));
out:
	buf_release(&m);
	return rc;
}

/* The answer's signed message (see the top of this file) into m. */
static int
rs_answer_message(struct buf *m, const char *device, const char *nonce,
    unsigned status, const uint8_t *body, size_t len)
{
	uint8_t hash[RS_HASH_BYTES];
	char hex[2 * RS_HASH_BYTES + 1];

	crypto_generichash(hash, sizeof(hash), len > 0 ? body : NULL, len,
	    NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	return buf_appendf(m, "%s%s\n%s\n%u\n%s", WIRE_SIG_ANSWER, device,
	    nonce, status, hex);
}

static int
rs_answer_args_ok(const char *device, const char *nonce,
    const uint8_t *body, size_t len)
{
	return rs_printable(device, RS_ID_MAX + 1, RS_ID_MAX) &&
	    nonce != NULL && rs_lowerhex(nonce, 2 * RS_NONCE_BYTES) &&
	    (body != NULL || len == 0);
}

int
reqsig_answer_sign(const uint8_t hub_sk[64], const char *device,
    const char *nonce, unsigned status, const uint8_t *body, size_t len,
    char sig_hex[129])
{
	struct buf m = BUF_INIT;
	uint8_t sig[RS_SIG_BYTES];
	int rc;

	if (sodium_init() < 0)
		return RK_ECRYPTO;
	if (!rs_answer_args_ok(device, nonce, body, len))
		return RK_EINVAL;
	if ((rc = rs_answer_message(&m, device, nonce, status, body, len)) ==
	    0) {
		crypto_sign_detached(sig, NULL, m.data, m.len, hub_sk);
		sodium_bin2hex(sig_hex, 2 * RS_SIG_BYTES + 1, sig,
		    sizeof(sig));
	}
	buf_release(&m);
	return rc;
}

int
reqsig_answer_verify(const uint8_t hub_pk[32], const char *device,
    const char *nonce, unsigned status, const uint8_t *body, size_t len,
    const char *sig_hex)
{
	struct buf m = BUF_INIT;
	uint8_t sig[RS_SIG_BYTES];
	int rc;

	if (sodium_init() < 0)
		return RK_ECRYPTO;
	if (!rs_answer_args_ok(device, nonce, body, len) || sig_hex == NULL ||
	    strnlen(sig_hex, 2 * RS_SIG_BYTES + 1) != 2 * RS_SIG_BYTES ||
	    !rs_lowerhex(sig_hex, 2 * RS_SIG_BYTES) ||
	    sodium_hex2bin(sig, sizeof(sig), sig_hex, 2 * RS_SIG_BYTES, NULL,
	    NULL, NULL) != 0)
		return RK_EAUTH;
	if ((rc = rs_answer_message(&m, device, nonce, status, body, len)) ==
	    0 && crypto_sign_verify_detached(sig, m.data, m.len, hub_pk) != 0)
		rc = RK_EAUTH;
	buf_release(&m);
	return rc;
}
