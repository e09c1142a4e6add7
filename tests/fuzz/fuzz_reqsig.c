/*
 * fuzz_reqsig.c - reqsig_verify on hostile headers and requests.  The
 * input is split at newlines into Renkei-Device, Renkei-Time,
 * Renkei-Nonce, Renkei-Signature, the method and the path; the rest is
 * the body.  A header longer than its field fills it without a NUL, as a
 * careless caller might leave it.  Nothing can forge a signature here: this
 * exercises the header parsing in front of it.  The same fields then go
 * through reqsig_answer_verify as a hub's answer would.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/clock.h"
#include "daemon/reqsig.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pk[32];

static int64_t
fixed_now(void *arg)
{
	(void)arg;
	return INT64_C(1795456536123);
}

static int
seen(void *arg, const char *device, const char *nonce, int64_t time_ms)
{
	(void)arg;
	(void)device;
	(void)nonce;
	(void)time_ms;
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char label[] = "renkei golden device key v1";
	uint8_t seed[32], sk[64];

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	crypto_generichash(seed, sizeof(seed), (const uint8_t *)label,
	    sizeof(label) - 1, NULL, 0);
	crypto_sign_seed_keypair(pk, sk, seed);
	return 0;
}

/* The next newline-terminated field of data into out (cap bytes, NUL
 * added only if it fits). */
static void
field(const uint8_t **p, const uint8_t *end, char *out, size_t cap)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = (size_t)((nl != NULL ? nl : end) - *p);

	memset(out, 0, cap);
	memcpy(out, *p, n < cap ? n : cap);
	*p = nl != NULL ? nl + 1 : end;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rk_clock clock = { fixed_now, NULL, NULL };
	struct reqsig_headers h;
	struct rk_why why;
	const uint8_t *p = data, *end = data + size;
	char method[24], path[2100];
	int rc;

	field(&p, end, h.device, sizeof(h.device));
	field(&p, end, h.time, sizeof(h.time));
	field(&p, end, h.nonce, sizeof(h.nonce));
	field(&p, end, h.signature, sizeof(h.signature));
	field(&p, end, method, sizeof(method) - 1);
	field(&p, end, path, sizeof(path) - 1);
	method[sizeof(method) - 1] = '\0';
	path[sizeof(path) - 1] = '\0';
	rc = reqsig_verify(&h, pk, method, path, p, (size_t)(end - p), &clock,
	    seen, NULL, &why);
	if (rc != RK_EAUTH)
		abort();	/* nothing here is signed */
	/* The same fields read as the hub's answer to that request (device,
	 * nonce, Renkei-Answer-Signature, body): never valid either. */
	if (reqsig_answer_verify(pk, h.device, h.nonce, 200, p,
	    (size_t)(end - p), h.signature) != RK_EAUTH)
		abort();
	return 0;
}
