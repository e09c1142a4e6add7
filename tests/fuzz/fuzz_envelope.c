/*
 * fuzz_envelope.c - envelope_peek, envelope_decode and envelope_split on
 * raw bytes, as they arrive in a push body.  The key is the golden
 * device's, so the seed (tests/golden/envelope_v1.bin) decodes and the
 * fuzzer starts from a valid envelope.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon/envelope.h"
#include "daemon/wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pk[32];

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

static void
check_id(const char *s, size_t min)
{
	size_t n = strnlen(s, 65), i;

	if (n < min || n > 64)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			abort();
}

static int
one(void *arg, const uint8_t *p, size_t n)
{
	char origin[65], room[65];
	struct envelope e;
	int rc;

	(void)arg;
	if (envelope_peek(p, n, origin, room) == 0) {
		check_id(origin, 1);
		check_id(room, 1);
	}
	memset(&e, 0, sizeof(e));
	rc = envelope_decode_why(p, n, pk, &e, NULL);
	if (rc == 0) {
		check_id(e.origin, 1);
		check_id(e.room, 1);
		if (e.seq_first < 1 || e.seq_last < e.seq_first ||
		    e.changeset_len > WIRE_MAX_RAW || e.changeset == NULL)
			abort();
		envelope_release(&e);
	} else if (rc != RK_EAUTH && rc != RK_EPROTO) {
		abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc;

	one(NULL, data, size);
	rc = envelope_split(data, size, one, NULL);
	if (rc != 0 && rc != RK_EPROTO)
		abort();
	return 0;
}
