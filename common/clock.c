/* clock.c - the default clock and random source. */
#include "common/clock.h"

#include <sodium.h>
#include <time.h>

int64_t
rk_now_ms(const struct rk_clock *c)
{
	struct timespec ts;

	if (c != NULL && c->now_ms != NULL)
		return c->now_ms(c->arg);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
rk_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
rk_random(const struct rk_clock *c, void *buf, size_t n)
{
	if (c != NULL && c->random != NULL)
		c->random(c->arg, buf, n);
	else
		randombytes_buf(buf, n);
}
