/*
 * fuzz_hub_push.c - hub_push with raw bodies from an enrolled device: the
 * framing, envelope heads, signatures and everything before the first
 * verified byte.  Almost every input stops at a signature, as it should.
 */
#include "tests/fuzz/fuzz_hub.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	fuzz_hub_push_body(data, size);
	return 0;
}
