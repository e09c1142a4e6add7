/*
 * test_id.c - record identifiers (common/id.h): shape, alphabet, the
 * embedded milliseconds, time order, determinism under an injected random
 * source, and the rules for names people choose.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/id.h"
#include "testutil.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* A random source that always gives the same byte. */
static void
fill_random(void *arg, void *buf, size_t n)
{
	memset(buf, *(const uint8_t *)arg, n);
}

static int64_t fixed_ms;

static int64_t
fixed_now(void *arg)
{
	(void)arg;
	return fixed_ms;
}

static int
digit(char c)
{
	const char *p = strchr(alphabet, c);

	return c != '\0' && p != NULL ? (int)(p - alphabet) : -1;
}

/* The first 10 characters are 50 bits: two zero bits and the ms. */
static int64_t
decode_ms(const char *id)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 10; i++) {
		int d = digit(id[i]);

		assert_true(d >= 0);
		v = v << 5 | (uint64_t)d;
	}
	assert_true(v >> 48 == 0);
	return (int64_t)v;
}

static void
check_shape(const char *id)
{
	int i;

	assert_int_equal(strlen(id), ID_LEN);
	for (i = 0; i < ID_LEN; i++)
		if (digit(id[i]) < 0)
			fail_msg("id %s: '%c' at %d is not Crockford base32",
			    id, id[i], i);
	/* 128 bits in 130: the first digit carries only 3 bits. */
	assert_true(digit(id[0]) < 8);
}

static void
test_shape_and_alphabet(void **state)
{
	struct tu_clock tc;
	char id[ID_LEN + 1];
	int seen[32] = { 0 }, i, k, nseen = 0;

	(void)state;
	tu_clock_init(&tc, INT64_C(1700000000000), tu_seed());
	for (i = 0; i < 2000; i++) {
		memset(id, '#', sizeof(id));
		id_new(&tc.clock, id);
		assert_int_equal(id[ID_LEN], '\0');
		check_shape(id);
		/* The random part uses the whole alphabet over many ids. */
		for (k = 10; k < ID_LEN; k++)
			seen[digit(id[k])] = 1;
		tu_clock_advance(&tc, 1);
	}
	for (i = 0; i < 32; i++)
		nseen += seen[i];
	assert_int_equal(nseen, 32);
	/* No I, L, O, U: easy to misread. */
	assert_null(strpbrk(alphabet, "ILOUilou"));
}

static void
test_embeds_ms(void **state)
{
	static const int64_t cases[] = {
		0, 1, 1000, INT64_C(1700000000000), INT64_C(1795456536123),
		(INT64_C(1) << 48) - 1,
	};
	struct rk_clock c = { fixed_now, fill_random, NULL };
	uint8_t byte = 0xa5;
	char id[ID_LEN + 1];
	size_t i;

	(void)state;
	c.arg = &byte;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fixed_ms = cases[i];
		id_new(&c, id);
		check_shape(id);
		assert_true(decode_ms(id) == cases[i]);
	}
}

static void
test_known_vectors(void **state)
{
	struct rk_clock c = { fixed_now, fill_random, NULL };
	uint8_t byte;
	char id[ID_LEN + 1];

	(void)state;
	c.arg = &byte;
	/* The 80 random bits are exactly the last 16 digits. */
	fixed_ms = 0;
	byte = 0x00;
	id_new(&c, id);
	assert_string_equal(id, "00000000000000000000000000");
	byte = 0xff;
	id_new(&c, id);
	assert_string_equal(id, "0000000000ZZZZZZZZZZZZZZZZ");
	fixed_ms = (INT64_C(1) << 48) - 1;
	id_new(&c, id);
	assert_string_equal(id, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
	byte = 0x00;
	id_new(&c, id);
	assert_string_equal(id, "7ZZZZZZZZZ0000000000000000");
	/* Same layout as a ULID: 1469918176385 ms -> 01ARYZ6S41. */
	fixed_ms = INT64_C(1469918176385);
	id_new(&c, id);
	assert_memory_equal(id, "01ARYZ6S41", 10);
}

static void
test_sorts_by_time(void **state)
{
	struct rk_clock c = { fixed_now, fill_random, NULL };
	uint8_t hi = 0xff, lo = 0x00;
	char prev[ID_LEN + 1], id[ID_LEN + 1];
	struct tu_clock tc;
	int i;

	(void)state;
	/* The largest random part of one ms still sorts before the smallest
	 * of the next. */
	fixed_ms = INT64_C(1700000000000);
	c.arg = &hi;
	id_new(&c, prev);
	fixed_ms++;
	c.arg = &lo;
	id_new(&c, id);
	assert_true(strcmp(prev, id) < 0);

	/* Many ids at increasing (irregular) times sort in that order. */
	tu_clock_init(&tc, INT64_C(1600000000000), tu_seed());
	id_new(&tc.clock, prev);
	for (i = 0; i < 5000; i++) {
		tu_clock_advance(&tc, 1 + (int64_t)(tu_splitmix64(&tc.state) %
		    (i % 2 ? 3 : 100000000)));
		id_new(&tc.clock, id);
		if (strcmp(prev, id) >= 0)
			fail_msg("%s then %s: out of time order", prev, id);
		assert_true(decode_ms(id) == tc.now_ms);
		memcpy(prev, id, sizeof(id));
	}
}

static void
test_same_ms_differs(void **state)
{
	struct tu_clock tc;
	char a[ID_LEN + 1], b[ID_LEN + 1];
	int i;

	(void)state;
	tu_clock_init(&tc, INT64_C(1700000000000), tu_seed());
	id_new(&tc.clock, a);
	for (i = 0; i < 1000; i++) {
		id_new(&tc.clock, b);
		assert_memory_equal(a, b, 10);		/* same ms */
		assert_string_not_equal(a, b);		/* random differs */
		memcpy(a, b, sizeof(a));
	}
}

static void
test_deterministic_with_seed(void **state)
{
	struct tu_clock t1, t2, t3;
	char a[ID_LEN + 1], b[ID_LEN + 1], c[ID_LEN + 1];
	int i, differ = 0;

	(void)state;
	tu_clock_init(&t1, INT64_C(1700000000000), 12345);
	tu_clock_init(&t2, INT64_C(1700000000000), 12345);
	tu_clock_init(&t3, INT64_C(1700000000000), 12346);
	for (i = 0; i < 100; i++) {
		id_new(&t1.clock, a);
		id_new(&t2.clock, b);
		id_new(&t3.clock, c);
		assert_string_equal(a, b);
		differ += strcmp(a, c) != 0;
	}
	assert_int_equal(differ, 100);
}

static void
test_default_clock(void **state)
{
	char a[ID_LEN + 1], b[ID_LEN + 1];
	struct timespec ts;
	int64_t before, after, ms;

	(void)state;
	clock_gettime(CLOCK_REALTIME, &ts);
	before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	id_new(NULL, a);
	id_new(NULL, b);
	clock_gettime(CLOCK_REALTIME, &ts);
	after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	check_shape(a);
	check_shape(b);
	ms = decode_ms(a);
	assert_true(ms >= before && ms <= after);
	assert_string_not_equal(a, b);
}

static void
test_valid_name(void **state)
{
	static const char *const good[] = {
		"a", "Z", "0", "room-1", "room_1", "yamada.hanako", "A.b_c-9",
		"_x", "x.", "x-", "0123456789", "nurse-1", "dr-1",
	};
	static const char *const bad[] = {
		"", ".", "-", ".hidden", "-rf", "a b", " a", "a ", "a/b",
		"../etc", "a\\b", "a:b", "a\n", "a\tb", "a;b", "a'b", "a\"b",
		"a%b", "a*b", "日本", "ｒｏｏｍ", "a\xff",
	};
	char s[80];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!id_valid_name(good[i]))
			fail_msg("'%s' refused", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (id_valid_name(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
	/* 64 characters are fine, 65 are not. */
	memset(s, 'a', sizeof(s));
	s[64] = '\0';
	assert_true(id_valid_name(s));
	s[64] = 'a';
	s[65] = '\0';
	assert_false(id_valid_name(s));
	/* A generated id is a valid name too. */
	{
		struct tu_clock tc;
		char id[ID_LEN + 1];

		tu_clock_init(&tc, INT64_C(1700000000000), tu_seed());
		id_new(&tc.clock, id);
		assert_true(id_valid_name(id));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shape_and_alphabet),
		cmocka_unit_test(test_embeds_ms),
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_sorts_by_time),
		cmocka_unit_test(test_same_ms_differs),
		cmocka_unit_test(test_deterministic_with_seed),
		cmocka_unit_test(test_default_clock),
		cmocka_unit_test(test_valid_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
