/*
 * clock.h - injected time and randomness.  Production code passes NULL and
 * gets the wall clock and libsodium's generator; tests pass their own so a
 * seed replays a run exactly.
 */
#ifndef RK_CLOCK_H
#define RK_CLOCK_H

#include <stddef.h>
#include <stdint.h>

struct rk_clock {
	int64_t (*now_ms)(void *arg);		/* Unix time in milliseconds */
	void (*random)(void *arg, void *buf, size_t n);
	void *arg;
};

int64_t rk_now_ms(const struct rk_clock *c);
void rk_random(const struct rk_clock *c, void *buf, size_t n);

/* Milliseconds of CLOCK_MONOTONIC, for timeouts and intervals; never
 * injected (it says nothing about the date). */
int64_t rk_mono_ms(void);

#endif
