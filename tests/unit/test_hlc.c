/*
 * test_hlc.c - the hybrid logical clock (common/hlc.h): strict order under
 * a frozen or backward clock, counter carry, folding in remote timestamps
 * and refusing wild ones, and the printed form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/hlc.h"

/* 2026-11-23T17:55:36.123Z */
#define T0 INT64_C(1795456536123)

static uint64_t
pack(int64_t ms, unsigned counter)
{
	return ((uint64_t)ms << HLC_COUNTER_BITS) | counter;
}

static void
test_encoding(void **state)
{
	uint64_t t = pack(T0, 7);

	(void)state;
	assert_int_equal(HLC_COUNTER_BITS, 16);
	assert_true(HLC_MS(t) == T0);
	assert_int_equal(HLC_COUNTER(t), 7);
	/* Stored as a signed SQLite INTEGER: must stay positive. */
	assert_true((int64_t)pack(T0, 0xffff) > 0);
}

static void
test_follows_wall_clock(void **state)
{
	struct hlc h = { 0 };
	uint64_t a, b;

	(void)state;
	a = hlc_now(&h, T0);
	assert_true(HLC_MS(a) == T0);
	assert_int_equal(HLC_COUNTER(a), 0);
	b = hlc_now(&h, T0 + 5);
	assert_true(HLC_MS(b) == T0 + 5);
	assert_int_equal(HLC_COUNTER(b), 0);
	assert_true(h.last == b);
}

static void
test_frozen_clock_strictly_increases(void **state)
{
	struct hlc h = { 0 };
	uint64_t prev, t;
	int i;

	(void)state;
	prev = hlc_now(&h, T0);
	for (i = 1; i <= 1000; i++) {
		t = hlc_now(&h, T0);
		assert_true(t > prev);
		assert_true(HLC_MS(t) == T0);
		assert_int_equal(HLC_COUNTER(t), (unsigned)i);
		prev = t;
	}
}

static void
test_backward_clock_strictly_increases(void **state)
{
	struct hlc h = { 0 };
	uint64_t first, prev, t;
	int64_t now = T0;
	int i;

	(void)state;
	first = prev = hlc_now(&h, now);
	/* The wall clock jumps back an hour and keeps going backwards. */
	for (i = 0; i < 500; i++) {
		now -= (i == 0) ? 3600 * 1000 : 7;
		t = hlc_now(&h, now);
		assert_true(t > prev);
		/* It never falls behind what it already handed out. */
		assert_true(HLC_MS(t) >= HLC_MS(first));
		prev = t;
	}
	/* Once the wall clock passes the last timestamp, it follows again. */
	t = hlc_now(&h, T0 + 10);
	assert_true(t > prev);
	assert_true(t == pack(T0 + 10, 0));
}

static void
test_negative_wall_clock(void **state)
{
	struct hlc h = { 0 };
	uint64_t a, b;

	(void)state;
	a = hlc_now(&h, -5000);
	b = hlc_now(&h, -5000);
	assert_true(b > a);
	assert_true((int64_t)b >= 0);
}

static void
test_counter_overflow_carries(void **state)
{
	struct hlc h = { 0 };
	uint64_t t, prev;

	(void)state;
	h.last = pack(T0, 0xfffe);
	t = hlc_now(&h, T0);
	assert_true(t == pack(T0, 0xffff));
	prev = t;
	t = hlc_now(&h, T0);
	/* Carries into the milliseconds rather than wrapping to 0. */
	assert_true(t > prev);
	assert_true(HLC_MS(t) == T0 + 1);
	assert_int_equal(HLC_COUNTER(t), 0);
	/* The wall clock catching up to the carried ms still moves on. */
	prev = t;
	t = hlc_now(&h, T0 + 1);
	assert_true(t > prev);
	assert_true(t == pack(T0 + 1, 1));
}

static void
test_full_ms_of_events(void **state)
{
	struct hlc h = { 0 };
	uint64_t prev, t;
	int i;

	(void)state;
	/* 200000 events in one frozen millisecond: several carries, never a
	 * repeat or a step back. */
	prev = hlc_now(&h, T0);
	for (i = 0; i < 200000; i++) {
		t = hlc_now(&h, T0);
		if (t <= prev)
			fail_msg("step %d: %llu <= %llu", i,
			    (unsigned long long)t, (unsigned long long)prev);
		prev = t;
	}
	assert_true(HLC_MS(prev) == T0 + 200000 / 65536);
}

static void
test_observe_folds_remote(void **state)
{
	struct hlc h = { 0 };
	uint64_t local, remote, next;

	(void)state;
	local = hlc_now(&h, T0);
	/* A remote event 2 minutes ahead (a fast device clock, in bounds). */
	remote = pack(T0 + 2 * 60 * 1000, 42);
	assert_int_equal(hlc_observe(&h, remote, T0), 0);
	next = hlc_now(&h, T0 + 1);
	assert_true(next > remote);
	assert_true(next > local);
	assert_true(next == remote + 1);

	/* An older remote timestamp changes nothing. */
	assert_int_equal(hlc_observe(&h, pack(T0 - 1000, 3), T0 + 2), 0);
	assert_true(h.last == next);
	assert_true(hlc_now(&h, T0 + 2) == next + 1);
}

static void
test_observe_equal_remote(void **state)
{
	struct hlc h = { 0 };
	uint64_t local;

	(void)state;
	local = hlc_now(&h, T0);
	assert_int_equal(hlc_observe(&h, local, T0), 0);
	assert_true(hlc_now(&h, T0) > local);
}

static void
test_observe_refuses_far_future(void **state)
{
	struct hlc h = { 0 };
	uint64_t local, before, limit;

	(void)state;
	local = hlc_now(&h, T0);
	before = h.last;

	/* Exactly at the limit (any counter) is accepted... */
	limit = pack(T0 + HLC_MAX_AHEAD_MS, 0xffff);
	{
		struct hlc h2 = h;

		assert_int_equal(hlc_observe(&h2, limit, T0), 0);
		assert_true(h2.last == limit);
	}
	/* ...one millisecond beyond is refused, and h is unchanged. */
	assert_int_equal(hlc_observe(&h, pack(T0 + HLC_MAX_AHEAD_MS + 1, 0),
	    T0), RK_EINVAL);
	assert_true(h.last == before);
	/* A wild clock years ahead, too. */
	assert_int_equal(hlc_observe(&h, pack(T0 * 2, 0), T0), RK_EINVAL);
	assert_true(h.last == before);
	/* The next local timestamp ignores the refused ones. */
	assert_true(hlc_now(&h, T0) == local + 1);
}

static void
test_format_shape(void **state)
{
	char out[64];

	(void)state;
	memset(out, 'x', sizeof(out));
	hlc_format(pack(T0, 3), out, sizeof(out));
	assert_string_equal(out, "2026-11-23T17:55:36.123Z+0003");
	assert_int_equal(strlen(out), 29);

	hlc_format(pack(0, 0), out, sizeof(out));
	assert_string_equal(out, "1970-01-01T00:00:00.000Z+0000");

	/* Milliseconds keep their leading zeros; the counter is 4 hex
	 * digits, enough for all 16 bits. */
	hlc_format(pack(T0 - 123 + 5, 0xffff), out, sizeof(out));
	assert_string_equal(out, "2026-11-23T17:55:36.005Z+ffff");

	/* A short buffer is truncated and still terminated. */
	memset(out, 'x', sizeof(out));
	hlc_format(pack(T0, 3), out, 11);
	assert_string_equal(out, "2026-11-23");
}

static void
test_format_orders_like_timestamps(void **state)
{
	struct hlc h = { 0 };
	char a[32], b[32];
	uint64_t ta, tb;
	int64_t now = T0;
	int i;

	(void)state;
	/* Formatted timestamps of one clock sort like the timestamps, within
	 * a counter below 0x10000 (hex digits sort as lower-case letters). */
	ta = hlc_now(&h, now);
	for (i = 0; i < 2000; i++) {
		now += (i % 3 == 0) ? 1 : 0;
		tb = hlc_now(&h, now);
		hlc_format(ta, a, sizeof(a));
		hlc_format(tb, b, sizeof(b));
		assert_true(strcmp(a, b) < 0);
		ta = tb;
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_follows_wall_clock),
		cmocka_unit_test(test_frozen_clock_strictly_increases),
		cmocka_unit_test(test_backward_clock_strictly_increases),
		cmocka_unit_test(test_negative_wall_clock),
		cmocka_unit_test(test_counter_overflow_carries),
		cmocka_unit_test(test_full_ms_of_events),
		cmocka_unit_test(test_observe_folds_remote),
		cmocka_unit_test(test_observe_equal_remote),
		cmocka_unit_test(test_observe_refuses_far_future),
		cmocka_unit_test(test_format_shape),
		cmocka_unit_test(test_format_orders_like_timestamps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
