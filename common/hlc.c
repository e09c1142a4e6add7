/* hlc.c - hybrid logical clock (see hlc.h for the encoding). */
#include "common/hlc.h"

#include <stdio.h>
#include <time.h>

static uint64_t
hlc_pack(int64_t ms, unsigned counter)
{
	return ((uint64_t)ms << HLC_COUNTER_BITS) | (counter & 0xffff);
}

uint64_t
hlc_now(struct hlc *h, int64_t now_ms)
{
	uint64_t wall = hlc_pack(now_ms < 0 ? 0 : now_ms, 0);

	/* The counter overflowing carries into the milliseconds, which keeps
	 * the order strict at the cost of running a little ahead. */
	h->last = wall > h->last ? wall : h->last + 1;
	return h->last;
}

int
hlc_observe(struct hlc *h, uint64_t remote, int64_t now_ms)
{
	if (HLC_MS(remote) > now_ms + HLC_MAX_AHEAD_MS)
		return RK_EINVAL;
	if (remote > h->last)
		h->last = remote;
	return 0;
}

void
hlc_format(uint64_t t, char *out, unsigned outlen)
{
	int64_t ms = HLC_MS(t);
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ+%04x",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ms % 1000), HLC_COUNTER(t));
}
