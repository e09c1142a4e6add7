/*
 * fuzz_hub_push_signed.c - what an enrolled but hostile device reaches:
 * the input is a changeset, put into an envelope for room r1 that the
 * device's key signs, so it passes verification and reaches the hub's
 * changeset check, the room and membership checks, the apply and the
 * canonical log.  Sequence numbers advance so deduplication never
 * short-circuits an input.
 */
#include "common/buf.h"
#include "daemon/envelope.h"
#include "schema/schema.h"
#include "tests/fuzz/fuzz_hub.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fuzz_seq;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_hub_setup();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope e;
	struct buf env = BUF_INIT, body = BUF_INIT;
	uint8_t len[4];

	if (size == 0 || size > 64 * 1024)
		return 0;
	memset(&e, 0, sizeof(e));
	snprintf(e.origin, sizeof(e.origin), "%s", FUZZ_DEVICE);
	snprintf(e.room, sizeof(e.room), "r1");
	e.seq_first = e.seq_last = ++fuzz_seq;
	e.schema_version = (uint16_t)schema_version();
	e.hlc = (uint64_t)1700000000000ULL << 16;
	e.changeset = (uint8_t *)data;
	e.changeset_len = size;
	if (envelope_encode(&e, fuzz_dev_keys->sign_sk, &env) != 0)
		abort();
	len[0] = (uint8_t)env.len;
	len[1] = (uint8_t)(env.len >> 8);
	len[2] = (uint8_t)(env.len >> 16);
	len[3] = (uint8_t)(env.len >> 24);
	if (buf_append(&body, len, 4) != 0 ||
	    buf_append(&body, env.data, env.len) != 0)
		abort();
	fuzz_hub_push_body(body.data, body.len);
	buf_release(&env);
	buf_release(&body);
	return 0;
}
