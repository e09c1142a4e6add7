/*
 * fuzz_pull_signed.c - the pull response parser and decompressor behind
 * the signature check: the input's last 64 bytes are replaced by a valid
 * signature with the test hub key over the rest.  A decoded response is
 * written again with pull_writer_* and must decode to the same contents.
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
	static const char label[] = "renkei golden hub key v1";
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
round_trip(const struct pull_response *r)
{
	struct pull_writer *w = NULL;
	struct pull_response d;
	struct buf b = BUF_INIT;
	size_t i, total = 0;

	for (i = 0; i < r->count; i++)
		total += r->entries[i].changeset_len;
	if (total > 256 * 1024)		/* keep executions fast */
		return;
	if (pull_writer_new(r->next_cursor, r->head, r->ctl_json, &w) != 0)
		abort();
	for (i = 0; i < r->count; i++)
		if (pull_writer_add(w, r->entries[i].hub_seq, r->entries[i].room,
		    r->entries[i].changeset, r->entries[i].changeset_len) != 0)
			abort();
	if (pull_writer_finish(w, sk, &b) != 0)
		abort();
	memset(&d, 0, sizeof(d));
	if (pull_decode_why(b.data, b.len, pk, &d, NULL) != 0)
		abort();
	if (d.next_cursor != r->next_cursor || d.head != r->head ||
	    strcmp(d.ctl_json, r->ctl_json) != 0 || d.count != r->count)
		abort();
	for (i = 0; i < d.count; i++)
		if (d.entries[i].hub_seq != r->entries[i].hub_seq ||
		    strcmp(d.entries[i].room, r->entries[i].room) != 0 ||
		    d.entries[i].changeset_len != r->entries[i].changeset_len ||
		    (d.entries[i].changeset_len > 0 &&
		    memcmp(d.entries[i].changeset, r->entries[i].changeset,
		    d.entries[i].changeset_len) != 0))
			abort();
	pull_response_release(&d);
	buf_release(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char domain[] = WIRE_SIG_PULL;	/* with its NUL */
	size_t n = size >= 64 ? size - 64 : size;
	uint8_t *msg, *p;
	struct pull_response r;
	int rc;

	if ((msg = malloc(sizeof(domain) + n + 64)) == NULL)
		return 0;
	memcpy(msg, domain, sizeof(domain));
	if (n > 0)
		memcpy(msg + sizeof(domain), data, n);
	p = msg + sizeof(domain);
	crypto_sign_detached(p + n, NULL, msg, sizeof(domain) + n, sk);
	memset(&r, 0, sizeof(r));
	rc = pull_decode_why(p, n + 64, pk, &r, NULL);
	if (rc == RK_EAUTH)
		abort();	/* a valid signature was refused */
	if (rc == 0) {
		round_trip(&r);
		pull_response_release(&r);
	} else if (rc != RK_EPROTO) {
		abort();
	}
	free(msg);
	return 0;
}
