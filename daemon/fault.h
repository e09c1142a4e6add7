/*
 * fault.h - fault injection in the device's transport to the hub, for the
 * randomized convergence tests (tests/integ/t_converge.sh).  Off unless
 * the environment variable RENKEI_FAULT is set when renkeid starts:
 *
 *   RENKEI_FAULT="seed=N,drop=P,dup=P,delay=P[:MS],gate=PATH"
 *
 *   seed   the generator's seed (decimal; default 1): the same seed and
 *          the same sequence of requests make the same faults
 *   drop   probability that a request is lost: half the time before it
 *          is sent (the hub never sees it), half the time after (the hub
 *          acted on it, the answer is lost); either way the caller sees
 *          "hub unreachable"
 *   dup    probability that a request is sent twice, as a network may
 *          duplicate it; the first answer is used, the second discarded
 *   delay  probability that a request waits up to MS (default 300) ms
 *          before it is sent
 *   gate   a file: while it does not exist, every request fails as if
 *          the hub were unreachable, so a test decides exactly when a
 *          device talks to the hub (its background syncs included)
 *
 * Probabilities are between 0 and 1.  A malformed value is logged and
 * fault injection stays off.  Only sync.c's HTTP layer calls this.
 */
#ifndef RK_FAULT_H
#define RK_FAULT_H

#include "common/err.h"

enum fault_verdict {
	FAULT_SEND,		/* send it as usual */
	FAULT_SEND_TWICE,	/* send it, then again; keep the first answer */
	FAULT_LOSE_ANSWER,	/* send it, then report it lost */
};

/*
 * Before a request (method, path for the log): 0 with *v set, after any
 * delay; RK_EUNAVAIL with why when the request is lost before it is sent
 * or the gate is closed.
 */
int fault_before(const char *method, const char *path,
    enum fault_verdict *v, struct rk_why *why) RK_MUST_CHECK;

/* The error for a request whose answer was lost (FAULT_LOSE_ANSWER). */
int fault_lost(struct rk_why *why) RK_MUST_CHECK;

#endif
