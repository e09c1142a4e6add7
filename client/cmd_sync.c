/*
 * cmd_sync.c - renkei sync, on a device: asks renkeid to push and pull now
 * (POST /v1/sync), follows it (GET /v1/sync every SYNC_POLL_MS) with a
 * progress line on standard error, and exits 0 only when the device is in
 * step: every change written here acknowledged by the hub, the hub's
 * changes pulled, no error.  Scripts and the nightly tests rely on that
 * exit status (DESIGN.md, Contracts).
 *
 * Knowing when "our" sync has ended.  renkeid numbers its attempts
 * (daemon/sync.h: "attempt" started, "finished"): when the POST answers
 * with a "ticket", ours has ended once finished >= ticket; without one,
 * an idle engine's next attempt (attempt + 1 before the POST) is ours.
 * A daemon without these counters leaves only running, which a short
 * sync may turn on and off between the POST and the first poll; so the
 * state before the POST is kept, and the sync counts as ended when
 * running is false and either it was seen running, or last_sync or
 * last_error differ from before (it ended, well or not), or SYNC_GRACE_MS
 * have passed without a sign of it (it ended with the same outcome as the
 * last one, e.g. the same "hub unreachable").
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/cli.h"
#include "common/clock.h"

#define SYNC_POLL_MS 200
#define SYNC_GRACE_MS 1000
#define SYNC_LOG_EVERY_MS 2000		/* progress lines when not a tty */
#define SYNC_TIMEOUT_DEFAULT 120	/* seconds */
#define SYNC_TIMEOUT_MAX 86400L
#define SYNC_BAR 20
#define SYNC_LABEL "同期中"		/* "syncing" */

enum { SYNC_TIMEOUT = 1, SYNC_QUIET };

static const struct cli_opt sync_opts[] = {
	{ "timeout", 1, SYNC_TIMEOUT },
	{ "quiet", 0, SYNC_QUIET },
	CLI_OPT_END,
};

/* The progress line on standard error. */
struct sync_progress {
	int tty;		/* redraw one line with \r */
	int quiet;
	size_t drawn;		/* columns of the line on screen (tty) */
	int64_t last_log;	/* when the last line was written (not tty) */
	int64_t start;
};

static void
sync_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* The "sync" object of a GET /v1/sync answer. */
static const json_t *
sync_obj(const json_t *st)
{
	return json_object_get(st, "sync");
}

static int
sync_running(const json_t *st)
{
	return json_is_true(json_object_get(sync_obj(st), "running"));
}

/* A member of the sync object, JSON null when absent. */
static const json_t *
sync_member(const json_t *st, const char *key)
{
	const json_t *v = json_object_get(sync_obj(st), key);

	return v != NULL ? v : json_null();
}

/* pending, refused: beside the sync object (common/api.h) or in it. */
static double
sync_count(const json_t *st, const char *key)
{
	double d;

	if (cli_jnum(st, key, &d) || cli_jnum(sync_obj(st), key, &d))
		return d;
	return 0;
}

/* The attempt that is ours (see the top of the file), 0 if unknown. */
static double
sync_ticket(const json_t *before, const json_t *posted)
{
	double t, f;

	if (cli_jnum(posted, "ticket", &t) && t > 0)
		return t;
	if (!sync_running(before) &&
	    cli_jnum(sync_obj(before), "attempt", &t) &&
	    cli_jnum(sync_obj(before), "finished", &f))
		return t + 1;
	return 0;
}

/* 1 if the sync the POST asked for has ended (see the top of the file). */
static int
sync_ended(const json_t *before, const json_t *st, double ticket,
    int seen_running, int64_t since_post)
{
	double f;

	if (ticket > 0)
		return cli_jnum(sync_obj(st), "finished", &f) && f >= ticket;
	if (sync_running(st))
		return 0;
	return seen_running ||
	    !json_equal(sync_member(before, "last_sync"),
	    sync_member(st, "last_sync")) ||
	    !json_equal(sync_member(before, "last_error"),
	    sync_member(st, "last_error")) ||
	    since_post >= SYNC_GRACE_MS;
}

/* last_error as text, NULL when there is none. */
static const char *
sync_error(const json_t *st)
{
	const char *s = cli_jstr(sync_obj(st), "last_error");

	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* GET /v1/sync, checked for the shape the rest of this file reads. */
static int
sync_get(struct cli *cli, json_t **out)
{
	json_t *st = NULL;
	int rc;

	if ((rc = cli_call(cli, "GET", "/v1/sync", NULL, &st)) != 0)
		return rc;
	if (!json_is_object(sync_obj(st))) {
		json_decref(st);
		return rk_whyf(&cli->why, RK_EPROTO, "renkeid's answer to GET "
		    "/v1/sync holds no \"sync\" object");
	}
	*out = st;	/* the caller json_decref()s it */
	return 0;
}

/* "同期中 push 120/600 [######              ]" into line. */
static void
sync_line(const json_t *st, char *line, size_t len)
{
	const char *phase = cli_jstr(sync_obj(st), "phase");
	char bar[SYNC_BAR + 1];
	double done = 0, total = 0;
	int i, fill;

	cli_jnum(sync_obj(st), "done", &done);
	cli_jnum(sync_obj(st), "total", &total);
	if (phase == NULL || phase[0] == '\0')
		phase = "...";
	if (total > 0) {
		fill = done >= total ? SYNC_BAR : done <= 0 ? 0 :
		    (int)(done / total * SYNC_BAR);
		for (i = 0; i < SYNC_BAR; i++)
			bar[i] = i < fill ? '#' : ' ';
		bar[SYNC_BAR] = '\0';
		snprintf(line, len, SYNC_LABEL " %.20s %.0f/%.0f [%s]", phase,
		    done, total, bar);
	} else if (done > 0)
		snprintf(line, len, SYNC_LABEL " %.20s %.0f", phase, done);
	else
		snprintf(line, len, SYNC_LABEL " %.20s", phase);
}

static void
sync_show(struct sync_progress *p, const json_t *st)
{
	char line[128];
	size_t w;
	int64_t now;

	if (p->quiet)
		return;
	sync_line(st, line, sizeof(line));
	if (p->tty) {
		fputc('\r', stderr);
		cli_put_text(stderr, line, NULL);
		for (w = cli_width(line); w < p->drawn; w++)
			fputc(' ', stderr);
		if (cli_width(line) > p->drawn)
			p->drawn = cli_width(line);
		fflush(stderr);
		return;
	}
	/* A log, not an animation: a line every few seconds, none at all
	 * for a sync that ends quickly. */
	now = rk_mono_ms();
	if (now - p->start < SYNC_LOG_EVERY_MS ||
	    now - p->last_log < SYNC_LOG_EVERY_MS)
		return;
	p->last_log = now;
	cli_put_text(stderr, line, NULL);
	fputc('\n', stderr);
}

/* Wipes the progress line so that what follows starts on a clean one. */
static void
sync_clear(struct sync_progress *p)
{
	size_t w;

	if (!p->tty || p->drawn == 0)
		return;
	fputc('\r', stderr);
	for (w = 0; w < p->drawn; w++)
		fputc(' ', stderr);
	fputc('\r', stderr);
	fflush(stderr);
	p->drawn = 0;
}

/*
 * Starts a sync and waits until it has ended or deadline (monotonic ms)
 * has passed.  *last is the latest GET /v1/sync answer on return (also on
 * a timeout, RK_EUNAVAIL with the reason set), or NULL on another
 * failure.  "Seen running" counts only after the POST: a sync running
 * before it may end just as ours starts.
 */
static int
sync_run(struct cli *cli, struct sync_progress *p, int64_t deadline,
    long timeout, json_t **last)
{
	json_t *before = NULL, *resp = NULL, *st = NULL;
	const json_t *enrolled;
	double ticket;
	int64_t posted;
	int rc, seen_running = 0, timed_out = 0;

	*last = NULL;
	if ((rc = sync_get(cli, &before)) != 0)
		goto out;
	enrolled = json_object_get(sync_obj(before), "enrolled");
	if (json_is_false(enrolled)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "this device is not "
		    "enrolled at a hub: run 'renkei enroll CODE --hub URL' "
		    "first");
		goto out;
	}
	if ((rc = cli_call(cli, "POST", "/v1/sync", NULL, &resp)) != 0)
		goto out;
	posted = rk_mono_ms();
	ticket = sync_ticket(before, resp);
	for (;;) {
		if ((rc = sync_get(cli, &st)) != 0)
			goto out;
		json_decref(*last);
		*last = st;	/* now the caller's */
		if (sync_ended(before, st, ticket, seen_running,
		    rk_mono_ms() - posted))
			break;
		if (sync_running(st)) {
			seen_running = 1;
			sync_show(p, st);
		}
		if (rk_mono_ms() >= deadline) {
			timed_out = 1;
			rc = rk_whyf(&cli->why, RK_EUNAVAIL, "sync did not "
			    "finish within %ld s (renkeid goes on with it; "
			    "see 'renkei status')", timeout);
			goto out;
		}
		sync_sleep_ms(SYNC_POLL_MS);
	}
	rc = 0;
out:
	sync_clear(p);
	if (rc != 0 && !timed_out) {
		json_decref(*last);
		*last = NULL;
	}
	json_decref(resp);
	json_decref(before);
	return rc;
}

/*
 * The hub's reason for the last refusal, without renkeid's own "N
 * change(s) refused by the hub: " in front (the count is said here);
 * NULL if renkeid gives none.
 */
static const char *
sync_refusal(const json_t *st)
{
	static const char mid[] = " refused by the hub: ";
	const char *s = cli_jstr(sync_obj(st), "last_refusal"), *p;

	if (s == NULL || s[0] == '\0')
		return NULL;
	p = s + strspn(s, "0123456789");
	if (p > s && (strncmp(p, " change", 7) == 0) &&
	    (p = strstr(p, mid)) != NULL && p[sizeof(mid) - 1] != '\0')
		return p + sizeof(mid) - 1;
	return s;
}

/* 0 if st says in step, else the reason. */
static int
sync_verdict(struct cli *cli, const json_t *st, double refused_before)
{
	const char *err = sync_error(st), *why = sync_refusal(st);
	double pending = sync_count(st, "pending");
	double refused = sync_count(st, "refused");

	if (refused > refused_before)
		return rk_whyf(&cli->why, RK_EDENIED, "%.0f change%s refused "
		    "by the hub: %s", refused - refused_before,
		    refused - refused_before == 1 ? " was" : "s were",
		    why != NULL ? why : err != NULL ? err :
		    "see 'renkei status'");
	if (err != NULL)
		return rk_whyf(&cli->why, RK_EUNAVAIL, "sync failed: %s",
		    err);
	if (pending > 0)
		return rk_whyf(&cli->why, RK_EUNAVAIL, "not in step: %.0f "
		    "change%s not yet acknowledged by the hub", pending,
		    pending == 1 ? "" : "s");
	if (!json_is_true(json_object_get(sync_obj(st), "in_step")))
		return rk_whyf(&cli->why, RK_EUNAVAIL, "not in step: the "
		    "hub's changes are not all pulled yet");
	return 0;
}

/*
 * In step, but the hub refused changes before this run (renkeid syncs by
 * itself right after each write, so that is where most refusals happen):
 * a reminder on standard error, as they never reach the others.
 */
static void
sync_note_refused(const json_t *st)
{
	const char *why = sync_refusal(st);
	double refused = sync_count(st, "refused");

	if (refused <= 0)
		return;
	fflush(stdout);
	fprintf(stderr, "renkei: note: %.0f change%s refused by the hub "
	    "earlier", refused, refused == 1 ? " was" : "s were");
	if (why != NULL) {
		fputs(" (last: ", stderr);
		cli_put_text(stderr, why, NULL);
		fputc(')', stderr);
	}
	fputs("; see 'renkei status'\n", stderr);
}

int
cmd_sync(int argc, char **argv, struct cli *cli)
{
	struct sync_progress p;
	struct cli_args a;
	json_t *first = NULL, *st = NULL;
	const char *val, *hub;
	double refused_before;
	int64_t deadline;
	long timeout = SYNC_TIMEOUT_DEFAULT;
	int id, rc, rc2;

	memset(&p, 0, sizeof(p));
	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, sync_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == SYNC_TIMEOUT) {
			if ((rc = cli_parse_long(cli, "--timeout", val, 1,
			    SYNC_TIMEOUT_MAX, &timeout)) != 0)
				goto out;
		} else if (id == SYNC_QUIET)
			p.quiet = 1;
		else {
			rc = cli_usage(cli, "unexpected argument '%s'", val);
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	p.tty = isatty(fileno(stderr));
	p.start = rk_mono_ms();
	deadline = p.start + (int64_t)timeout * 1000;

	/* Refusals counted before this run are not this run's failure. */
	if ((rc = sync_get(cli, &first)) != 0)
		goto out;
	refused_before = sync_count(first, "refused");

	rc = sync_run(cli, &p, deadline, timeout, &st);
	/*
	 * A sync that was already running when we asked may have pushed
	 * before the latest local writes: one more round takes them.
	 */
	if (rc == 0 && sync_running(first) && sync_error(st) == NULL &&
	    sync_count(st, "pending") > 0) {
		json_decref(st);
		rc = sync_run(cli, &p, deadline, timeout, &st);
	}
	if (st == NULL)
		goto out;
	if (cli->json && (rc2 = cli_print_json(cli, st)) != 0) {
		rc = rc2;
		goto out;
	}
	if (rc != 0 || (rc = sync_verdict(cli, st, refused_before)) != 0)
		goto out;
	if (!cli->json && !p.quiet) {
		hub = cli_jstr(sync_obj(st), "hub");
		fputs("in step with ", stdout);
		cli_put_text(stdout, hub != NULL ? hub : "the hub", NULL);
		putchar('\n');
	}
	if (!p.quiet)
		sync_note_refused(st);
out:
	json_decref(st);
	json_decref(first);
	return rc;
}
