/*
 * hlc.h - hybrid logical clock.
 *
 * A timestamp is a uint64_t: the high 48 bits are Unix milliseconds, the low
 * 16 bits a counter that orders events within one millisecond or while the
 * wall clock stands behind the last timestamp seen.  Timestamps from one
 * clock strictly increase; hlc_observe() folds in a remote timestamp so that
 * causally later events compare later even across skewed device clocks.
 * Stored as INTEGER in SQLite (fits in 63 bits until the year 10889).
 */
#ifndef RK_HLC_H
#define RK_HLC_H

#include <stdint.h>

#include "common/err.h"

#define HLC_COUNTER_BITS 16
#define HLC_MS(t) ((int64_t)((t) >> HLC_COUNTER_BITS))
#define HLC_COUNTER(t) ((unsigned)((t) & 0xffff))

/* A remote timestamp more than this far ahead of our wall clock is refused:
 * a device with a wild clock must not drag everyone's clock forward. */
#define HLC_MAX_AHEAD_MS (10LL * 60 * 1000)

struct hlc {
	uint64_t last;
};

/* Next timestamp for a local event at wall time now_ms. */
uint64_t hlc_now(struct hlc *h, int64_t now_ms);

/* Folds a remote timestamp in.  RK_EINVAL (and h unchanged) if remote is
 * more than HLC_MAX_AHEAD_MS ahead of now_ms. */
int hlc_observe(struct hlc *h, uint64_t remote, int64_t now_ms) RK_MUST_CHECK;

/* "2026-11-23T17:55:36.123Z+0003" into out (at least 32 bytes). */
void hlc_format(uint64_t t, char *out, unsigned outlen);

#endif
