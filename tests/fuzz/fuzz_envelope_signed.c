/*
 * fuzz_envelope_signed.c - the envelope parser and decompressor behind the
 * signature check.  The input stands for an envelope whose last 64 bytes
 * (the signature) are replaced by a valid signature with the test key
 * over the rest, so every input passes verification and reaches the head
 * parser, the length checks and zstd.  A decoded envelope is encoded again
 * and must decode to the same fields and changeset.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/buf.h"
#include "daemon/envelope.h"
#include "daemon/wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pk[32], sk[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char label[] = "renkei golden device key v1";
	uint8_t seed[32];

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	crypto_generichash(seed, sizeof(seed), (const uint8_t *)label,
	    sizeof(label) - 1, NULL, 0);
	crypto_sign_seed_keypair(pk, sk, seed);
	return 0;
}

static void
round_trip(const struct envelope *e)
{
	struct buf b = BUF_INIT;
	struct envelope d;

	if (e->changeset_len > 256 * 1024)	/* keep executions fast */
		return;
	if (envelope_encode(e, sk, &b) != 0)
		abort();
	memset(&d, 0, sizeof(d));
	if (envelope_decode_why(b.data, b.len, pk, &d, NULL) != 0)
		abort();
	if (strcmp(d.origin, e->origin) != 0 || strcmp(d.room, e->room) != 0 ||
	    d.seq_first != e->seq_first || d.seq_last != e->seq_last ||
	    d.schema_version != e->schema_version || d.hlc != e->hlc ||
	    d.changeset_len != e->changeset_len ||
	    (d.changeset_len > 0 &&
	    memcmp(d.changeset, e->changeset, d.changeset_len) != 0))
		abort();
	envelope_release(&d);
	buf_release(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char domain[] = WIRE_SIG_ENVELOPE;	/* with its NUL */
	size_t n = size >= 64 ? size - 64 : size;
	uint8_t *msg, *env;
	struct envelope e;
	int rc;

	if ((msg = malloc(sizeof(domain) + n + 64)) == NULL)
		return 0;
	memcpy(msg, domain, sizeof(domain));
	if (n > 0)
		memcpy(msg + sizeof(domain), data, n);
	env = msg + sizeof(domain);
	crypto_sign_detached(env + n, NULL, msg, sizeof(domain) + n, sk);
	memset(&e, 0, sizeof(e));
	rc = envelope_decode_why(env, n + 64, pk, &e, NULL);
	if (rc == RK_EAUTH && n + 64 >= ENVELOPE_MIN_SIZE)
		abort();	/* a valid signature was refused */
	if (rc == 0) {
		round_trip(&e);
		envelope_release(&e);
	} else if (rc != RK_EPROTO && rc != RK_EAUTH) {
		abort();
	}
	free(msg);
	return 0;
}
