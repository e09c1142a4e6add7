/*
 * fault.c - transport fault injection for tests (see fault.h).  The
 * settings are read once from RENKEI_FAULT; the generator is a seeded
 * splitmix64 under a mutex (the sync thread and enrolment may both send).
 */
#include "daemon/fault.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

struct fault {
	int on;
	double drop, dup, delay;
	long delay_ms;
	char gate[512];
	uint64_t state;
};

static struct fault fault_cfg;
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;

static int
fault_prob(const char *v, double *out)
{
	char *end;
	double p = strtod(v, &end);

	if (end == v || (*end != '\0' && *end != ':') || p < 0 || p > 1)
		return -1;
	*out = p;
	return 0;
}

static void
fault_load(void)
{
	const char *env = getenv("RENKEI_FAULT");
	struct fault f;
	char buf[1024], *tok, *save = NULL, *eq;
	unsigned long long seed = 1;

	if (env == NULL || env[0] == '\0')
		return;
	memset(&f, 0, sizeof(f));
	f.delay_ms = 300;
	if (strlen(env) >= sizeof(buf))
		goto bad;
	memcpy(buf, env, strlen(env) + 1);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if ((eq = strchr(tok, '=')) == NULL &&
		    (eq = strchr(tok, ':')) == NULL)
			goto bad;
		*eq++ = '\0';
		if (strcmp(tok, "seed") == 0) {
			char *end;

			seed = strtoull(eq, &end, 10);
			if (end == eq || *end != '\0')
				goto bad;
		} else if (strcmp(tok, "drop") == 0) {
			if (fault_prob(eq, &f.drop) != 0)
				goto bad;
		} else if (strcmp(tok, "dup") == 0) {
			if (fault_prob(eq, &f.dup) != 0)
				goto bad;
		} else if (strcmp(tok, "delay") == 0) {
			char *ms = strchr(eq, ':');

			if (fault_prob(eq, &f.delay) != 0)
				goto bad;
			if (ms != NULL && (f.delay_ms = atol(ms + 1)) <= 0)
				goto bad;
		} else if (strcmp(tok, "gate") == 0) {
			if (eq[0] == '\0' || strlen(eq) >= sizeof(f.gate))
				goto bad;
			memcpy(f.gate, eq, strlen(eq) + 1);
		} else {
			goto bad;
		}
	}
	f.state = (uint64_t)seed;
	f.on = 1;
	fault_cfg = f;
	log_warnx("fault injection on (RENKEI_FAULT=%s): for tests only", env);
	return;
bad:
	log_warnx("RENKEI_FAULT=%s: give seed=N,drop=P,dup=P,delay=P[:MS],"
	    "gate=PATH (P between 0 and 1); fault injection stays off", env);
}

/* A number in [0, 1). */
static double
fault_rand(void)
{
	uint64_t z;

	pthread_mutex_lock(&fault_mu);
	z = (fault_cfg.state += UINT64_C(0x9e3779b97f4a7c15));
	pthread_mutex_unlock(&fault_mu);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return (double)(z >> 11) / (double)(UINT64_C(1) << 53);
}

int
fault_before(const char *method, const char *path, enum fault_verdict *v,
    struct rk_why *why)
{
	double r;

	pthread_once(&fault_once, fault_load);
	*v = FAULT_SEND;
	if (!fault_cfg.on)
		return 0;
	if (fault_cfg.gate[0] && access(fault_cfg.gate, F_OK) != 0)
		return rk_whyf(why, RK_EUNAVAIL, "hub unreachable (test gate "
		    "closed)");
	if (fault_cfg.delay > 0 && fault_rand() < fault_cfg.delay) {
		struct timespec ts;
		long ms = (long)(fault_rand() * (double)fault_cfg.delay_ms);

		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		log_debug("fault: %s %s delayed %ld ms", method, path, ms);
		nanosleep(&ts, NULL);
	}
	if (fault_cfg.drop > 0 && fault_rand() < fault_cfg.drop) {
		r = fault_rand();
		log_info("fault: %s %s: %s lost", method, path, r < 0.5 ?
		    "request" : "answer");
		if (r < 0.5)
			return rk_whyf(why, RK_EUNAVAIL, "hub unreachable "
			    "(fault injection: request lost)");
		*v = FAULT_LOSE_ANSWER;
		return 0;
	}
	if (fault_cfg.dup > 0 && fault_rand() < fault_cfg.dup) {
		log_info("fault: %s %s: sent twice", method, path);
		*v = FAULT_SEND_TWICE;
	}
	return 0;
}

int
fault_lost(struct rk_why *why)
{
	return rk_whyf(why, RK_EUNAVAIL, "hub unreachable (fault injection: "
	    "answer lost)");
}
