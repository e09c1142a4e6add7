/*
 * fuzz_pull.c - pull_decode on raw bytes, as a device receives them.  The
 * key is the golden hub's, so the seed (tests/golden/pull_v1.bin) decodes.
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
	static const char label[] = "renkei golden hub key v1";
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pull_response r;
	size_t i;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = pull_decode_why(data, size, pk, &r, NULL);
	if (rc == 0) {
		if (r.ctl_json == NULL || (r.count > 0 && r.entries == NULL))
			abort();
		for (i = 0; i < r.count; i++)
			if (strnlen(r.entries[i].room, 65) > 64 ||
			    r.entries[i].changeset_len > WIRE_MAX_RAW)
				abort();
		pull_response_release(&r);
	} else if (rc != RK_EAUTH && rc != RK_EPROTO) {
		abort();
	}
	return 0;
}
