/*
 * bench_sync.c - end-to-end sync throughput and bytes on the wire, with
 * the real components in one process: a hub store + hub_open +
 * hubhttp_start on 127.0.0.1:0, device stores (each with its own keys and
 * encrypting VFS) with their own sync engines (sync_start, sync_enroll,
 * sync_request), real HTTP over loopback.  Writes go through
 * rec_visit_add, one transaction per record (a user action), and are
 * timed apart from the sync.
 *
 *   ceiling     visits-100000 into a plain SQLite file (default VFS, WAL,
 *               synchronous=FULL, the store's cache_size, the real schema),
 *               one transaction per 1000 rows; three runs before and one
 *               after the ingest, the best counts.  Also the nurse day's
 *               600 rows in one transaction: the floor for persisting them.
 *   nurse day   visits-600 mapped onto the 20 rooms of one nurse's
 *               caseload (FNV-1a of room_id, as bench_store), one author
 *               (device A).  push = sync_request until A leaves the push
 *               phase (its outbox all acked); pull = device B of another
 *               member, enrolled and in step before the day, until in step
 *               again; fresh pull = a new device of another member, from
 *               sync_enroll to in step (the reference's "fresh pull").
 *               Several rounds (-r), each with its own staff, rooms and
 *               devices; best and median shown.
 *   history     the nurse day on a device whose outbox already holds
 *               150,000 entries (30,000 with --quick), acked and pulled
 *               back, as a year of days leaves it: push and attempt
 *               times, beside the day's.
 *   ingest      visits-100000 spread over 50 devices (a room belongs to
 *               one device: room index % 50, ~8 rooms and ~2000 records
 *               each, in the file's order), 50 engines pushing at once;
 *               rows/s = rows acked / wall time from the first
 *               sync_request until the last device's outbox is acked.
 *   initial     a fresh device of a member of every room, from
 *               sync_enroll until in step (snapshots of the directory and
 *               every room, then pull).  The hub holds the data because
 *               the ingest's devices pushed it, not by hub-side writes.
 *
 * Bytes on the wire: devices whose bytes are counted talk to the hub
 * through a counting TCP relay in this process (the hub has no counter
 * and the engine's curl handle is internal).  The relay parses HTTP/1.1
 * framing to split header and body bytes per call (enroll, push, pull,
 * snapshot, hashes) and times each call from the request's last byte to
 * the answer's first byte: the hub's share.  Fresh pulls and the initial
 * sync are timed on a twin device that talks to the hub directly; the
 * push and the in-step pull go through the relay.
 *
 * Analysis (round 1's devices):
 *   - envelopes of A's outbox as the engine grouped them
 *     (sync_build_envelope; checked against the relay's count) and per
 *     room (every entry of a room in seq order, changegroup-merged,
 *     envelope_encode), the push answers and pull responses each causes,
 *     and both with zstd dictionaries trained on visit changesets of
 *     records that are not in the nurse day;
 *   - A's push steps and B's pull steps replayed on copies of their
 *     replicas opened with store_open, beside measured alternatives;
 *   - what-if: the day as sent and per room through hub_push / hub_pull
 *     on copies of the hub taken before the push, and the ingest's
 *     envelopes pushed with hub_push alone into copies of the hub taken
 *     before the ingest (per-room sequence ranges are renumbered so that
 *     today's hub deduplication takes them; its work is the same).
 *
 * usage: bench_sync [--quick] [-r rounds] [-k] [-v] [-t tmpdir]
 *                   [-s day,history,ingest,ceiling] [DATADIR]
 *   --quick (or RK_BENCH_QUICK=1): visits-10000 and 10 devices.
 *   DATADIR (or RK_BENCH_DATA) holds the workload; tests/bench/run.sh
 *   passes it last.  -k keeps the files; -v shows the daemon code's log
 *   lines (else they go to a file in the temp dir, whose tail is shown if
 *   something fails).  RK_BENCH_PERF=DIR runs `perf record` on this
 *   process around each measured phase (DIR/PHASE.data;
 *   RK_BENCH_PERF_ARGS replaces "-F 999 -g").
 * Prints figures, never judges a time by its exit status: 0 unless
 * something failed (a sync error, a room that differs from the hub's).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zdict.h>
#include <zstd.h>

#include "common/conf.h"
#include "common/err.h"
#include "common/hlc.h"
#include "common/id.h"
#include "common/keys.h"
#include "common/log.h"
#include "daemon/admin.h"
#include "daemon/envelope.h"
#include "daemon/hub.h"
#include "daemon/hubhttp.h"
#include "daemon/records.h"
#include "daemon/roomhash.h"
#include "daemon/store.h"
#include "daemon/sync.h"
#include "daemon/vfs.h"
#include "daemon/wire.h"
#include "schema/schema.h"

#define B_HUB_ID "hub-bench"
#define B_DAY_FILE "visits-600.jsonl"
#define B_BIG_FILE "visits-100000.jsonl.zst"
#define B_QUICK_FILE "visits-10000.jsonl.zst"
#define B_DAY_ROOMS 20
#define B_BIG_DEVICES 50
#define B_QUICK_DEVICES 10
#define B_CEIL_TX 1000		/* rows per transaction of the ceiling */
#define B_TIMEOUT_S 1800.0	/* one wait, before we call it a failure */
#define B_POLL_US 200		/* progress polling */
#define B_ROOM_MAX 24
#define B_TRAIN_MAX 5000	/* changesets the dictionary is trained on */
#define B_HIST_N 150000		/* outbox history: ~250 days of 600 */
#define B_QUICK_HIST_N 30000

/* ---- output, time ----------------------------------------------------------- */

static FILE *b_err;		/* our own stderr (the daemon's may be a file) */
static char b_logpath[PATH_MAX + 128];

static void RK_PRINTF(1, 2)
bwarn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(b_err, "bench_sync: ");
	vfprintf(b_err, fmt, ap);
	fprintf(b_err, "\n");
	fflush(b_err);
	va_end(ap);
}

static void RK_PRINTF(1, 2)
bnote(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(b_err, fmt, ap);
	fflush(b_err);
	va_end(ap);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Minor page faults of the whole process so far: on a virtual machine
 * each costs microseconds. */
static long
minflt(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ru.ru_minflt;
}

static void
nap(void)
{
	struct timespec ts = { 0, B_POLL_US * 1000L };

	nanosleep(&ts, NULL);
}

/* ---- perf around a phase (RK_BENCH_PERF=DIR) ------------------------------- */

static pid_t b_perf_pid;

static void
perf_start(const char *phase)
{
	const char *dir = getenv("RK_BENCH_PERF");
	const char *extra = getenv("RK_BENCH_PERF_ARGS");
	char pid[32], out[PATH_MAX + 64], args[512], *argv[48], *p;
	int argc = 0, fd;
	pid_t child;

	if (dir == NULL || dir[0] == '\0')
		return;
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	snprintf(out, sizeof(out), "%s/%s.data", dir, phase);
	snprintf(args, sizeof(args), "%s", extra && extra[0] ? extra :
	    "-F 999 -g");
	argv[argc++] = "perf";
	argv[argc++] = "record";
	for (p = strtok(args, " "); p != NULL && argc < 40;
	    p = strtok(NULL, " "))
		argv[argc++] = p;
	argv[argc++] = "-p";
	argv[argc++] = pid;
	argv[argc++] = "-o";
	argv[argc++] = out;
	argv[argc] = NULL;
	if ((child = fork()) == -1) {
		bwarn("fork perf: %s", strerror(errno));
		return;
	}
	if (child == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp("perf", argv);
		_exit(127);
	}
	b_perf_pid = child;
	usleep(500 * 1000);	/* let it attach */
}

static void
perf_stop(void)
{
	int st;

	if (b_perf_pid <= 0)
		return;
	kill(b_perf_pid, SIGINT);
	waitpid(b_perf_pid, &st, 0);
	b_perf_pid = 0;
}

/* ---- the workload ------------------------------------------------------------ */

struct visit {
	char room[B_ROOM_MAX];	/* the workload's room_id */
	int64_t at;		/* created_at, Unix ms */
	json_int_t bp_sys, bp_dia, pulse, spo2;
	double temp;
	char *body;		/* malloc'd */
};

struct dataset {
	struct visit *v;
	size_t n;
	char (*rooms)[B_ROOM_MAX];	/* sorted, unique */
	size_t nrooms;
};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int
parse_time(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec, ms;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &y, &mo, &d, &h, &mi,
	    &sec, &ms) != 7 || mo < 1 || mo > 12 || d < 1 || d > 31)
		return RK_EINVAL;
	*out = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) *
	    60 + mi) * 60000 + (int64_t)sec * 1000 + ms;
	return 0;
}

/* The whole file at path, decompressed if it ends in ".zst". */
static int
read_file(const char *path, char **out, size_t *outlen)
{
	FILE *f;
	char *raw = NULL, *dst = NULL, *np;
	size_t rlen = 0, rcap = 0, dlen = 0, dcap = 0, n, plen = strlen(path);
	ZSTD_DCtx *dctx = NULL;
	ZSTD_inBuffer in;
	size_t zr = 1;
	int rc = RK_EIO;

	if ((f = fopen(path, "rb")) == NULL) {
		bwarn("%s: %s", path, strerror(errno));
		return RK_EIO;
	}
	for (;;) {
		if (rcap - rlen < 65536) {
			rcap = rcap ? rcap * 2 : 1 << 20;
			if ((np = realloc(raw, rcap + 1)) == NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			raw = np;
		}
		n = fread(raw + rlen, 1, rcap - rlen, f);
		rlen += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		bwarn("%s: read error", path);
		goto out;
	}
	if (plen < 4 || strcmp(path + plen - 4, ".zst") != 0) {
		raw[rlen] = '\0';
		*out = raw;
		*outlen = rlen;
		raw = NULL;
		rc = 0;
		goto out;
	}
	if ((dctx = ZSTD_createDCtx()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	in.src = raw;
	in.size = rlen;
	in.pos = 0;
	for (;;) {
		ZSTD_outBuffer o;

		if (dcap - dlen < ZSTD_DStreamOutSize()) {
			dcap = dcap ? dcap * 2 : 8u << 20;
			if ((np = realloc(dst, dcap + 1)) == NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			dst = np;
		}
		o.dst = dst + dlen;
		o.size = dcap - dlen;
		o.pos = 0;
		zr = ZSTD_decompressStream(dctx, &o, &in);
		if (ZSTD_isError(zr)) {
			bwarn("%s: zstd: %s", path, ZSTD_getErrorName(zr));
			goto out;
		}
		dlen += o.pos;
		if (in.pos == in.size && o.pos < o.size)
			break;
	}
	if (zr != 0) {
		bwarn("%s: truncated zstd frame", path);
		goto out;
	}
	dst[dlen] = '\0';
	*out = dst;
	*outlen = dlen;
	dst = NULL;
	rc = 0;
out:
	ZSTD_freeDCtx(dctx);
	free(raw);
	free(dst);
	fclose(f);
	return rc;
}

static int
cmp_room(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
dataset_free(struct dataset *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->v[i].body);
	free(d->v);
	free(d->rooms);
	memset(d, 0, sizeof(*d));
}

static int
dataset_load(const char *dir, const char *name, struct dataset *d)
{
	char path[PATH_MAX + 64], *text = NULL, *p, *end, *nl;
	size_t len = 0, cap = 0, lineno = 0, i, j;
	json_error_t jerr;
	int rc;

	memset(d, 0, sizeof(*d));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((rc = read_file(path, &text, &len)) != 0)
		return rc;
	rc = RK_EINVAL;
	for (p = text, end = text + len; p < end; p = nl + 1) {
		struct visit *v;
		json_t *o, *t;
		const char *room, *at, *body;

		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		lineno++;
		if (nl == p)
			continue;
		if ((o = json_loadb(p, (size_t)(nl - p), 0, &jerr)) == NULL) {
			bwarn("%s:%zu: %s", path, lineno, jerr.text);
			goto out;
		}
		if (d->n == cap) {
			struct visit *nv;

			cap = cap ? cap * 2 : 1024;
			if ((nv = realloc(d->v, cap * sizeof(*nv))) == NULL) {
				json_decref(o);
				rc = RK_ENOMEM;
				goto out;
			}
			d->v = nv;
		}
		v = &d->v[d->n];
		memset(v, 0, sizeof(*v));
		room = json_string_value(json_object_get(o, "room_id"));
		at = json_string_value(json_object_get(o, "created_at"));
		body = json_string_value(json_object_get(o, "body"));
		t = json_object_get(o, "temp");
		if (room == NULL || strlen(room) >= sizeof(v->room) ||
		    !id_valid_name(room) || at == NULL || body == NULL ||
		    parse_time(at, &v->at) != 0 || !json_is_number(t) ||
		    !json_is_integer(json_object_get(o, "bp_sys")) ||
		    !json_is_integer(json_object_get(o, "bp_dia")) ||
		    !json_is_integer(json_object_get(o, "pulse")) ||
		    !json_is_integer(json_object_get(o, "spo2"))) {
			bwarn("%s:%zu: missing or mistyped field", path,
			    lineno);
			json_decref(o);
			goto out;
		}
		snprintf(v->room, sizeof(v->room), "%s", room);
		v->bp_sys = json_integer_value(json_object_get(o, "bp_sys"));
		v->bp_dia = json_integer_value(json_object_get(o, "bp_dia"));
		v->pulse = json_integer_value(json_object_get(o, "pulse"));
		v->spo2 = json_integer_value(json_object_get(o, "spo2"));
		v->temp = json_number_value(t);
		v->body = strdup(body);
		json_decref(o);
		if (v->body == NULL) {
			rc = RK_ENOMEM;
			goto out;
		}
		d->n++;
	}
	if (d->n == 0) {
		bwarn("%s: no records", path);
		goto out;
	}
	if ((d->rooms = calloc(d->n, sizeof(*d->rooms))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	for (i = 0; i < d->n; i++)
		memcpy(d->rooms[i], d->v[i].room, sizeof(d->rooms[i]));
	qsort(d->rooms, d->n, sizeof(*d->rooms), cmp_room);
	for (i = j = 0; i < d->n; i++)
		if (j == 0 || strcmp(d->rooms[j - 1], d->rooms[i]) != 0)
			memmove(d->rooms[j++], d->rooms[i], sizeof(d->rooms[i]));
	d->nrooms = j;
	rc = 0;
out:
	free(text);
	if (rc != 0)
		dataset_free(d);
	return rc;
}

/* The index of room in d->rooms, or -1. */
static long
room_index(const struct dataset *d, const char *room)
{
	char key[B_ROOM_MAX];
	char (*hit)[B_ROOM_MAX];

	snprintf(key, sizeof(key), "%s", room);
	hit = bsearch(key, d->rooms, d->nrooms, sizeof(*d->rooms), cmp_room);
	return hit == NULL ? -1 : (long)(hit - d->rooms);
}

/* The nurse day's mapping of the workload's rooms onto her 20 (the same
 * FNV-1a as bench_store). */
static int
day_room_of(const char *room_id)
{
	uint32_t h = 2166136261u;

	for (; *room_id; room_id++)
		h = (h ^ (unsigned char)*room_id) * 16777619u;
	return (int)(h % B_DAY_ROOMS);
}

/* The local API's input for one visit: body -> note, vitals as they are. */
static json_t *
visit_json(const struct visit *v)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:I}", "note", v->body,
	    "visited_at", (json_int_t)v->at, "bp_sys", v->bp_sys, "bp_dia",
	    v->bp_dia, "pulse", v->pulse, "temp", v->temp, "spo2", v->spo2);
}

/* ---- the counting relay ------------------------------------------------------ */

enum { PC_ENROLL, PC_PUSH, PC_PULL, PC_SNAPSHOT, PC_HASHES, PC_OTHER, PC_N };
static const char *const pc_names[PC_N] = { "enroll", "push", "pull",
    "snapshot", "hashes", "other" };

struct pclass {
	uint64_t n;			/* requests */
	uint64_t req_hdr, req_body, resp_hdr, resp_body;
	double server_s;	/* request's last byte -> answer's first */
};

/* One direction's HTTP/1.1 framing. */
struct hmsg {
	int started, in_body, until_close;
	uint64_t remain;
	char hdr[4096];
	size_t hlen;
	unsigned crlf;		/* progress through "\r\n\r\n" */
	uint64_t hdr_bytes, body_bytes;
};

struct proxy;

struct pconn {
	struct proxy *px;
	int cfd, ufd;
	pthread_t th;
	struct pconn *next;
	struct hmsg req, resp;
	int req_cls, cls;	/* class of the request being read / answered */
	int capturing;		/* this answer's body goes to px->cap */
	double t_req_done;	/* its last byte went upstream; 0: none */
};

struct proxy {
	int lfd;
	unsigned port, upstream;
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	int stop;
	struct pclass c[PC_N];
	struct pconn *conns;
	int cap_cls;		/* answers of this call are kept; -1 none */
	struct buf cap;		/* the last such answer's body */
};

static int
px_stopping(struct proxy *px)
{
	int s;

	pthread_mutex_lock(&px->mu);
	s = px->stop;
	pthread_mutex_unlock(&px->mu);
	return s;
}

static int
px_class(const char *line)
{
	const char *sp = strchr(line, ' ');

	if (sp == NULL)
		return PC_OTHER;
	sp++;
	if (strncmp(sp, "/v1/enroll", 10) == 0)
		return PC_ENROLL;
	if (strncmp(sp, "/v1/push", 8) == 0)
		return PC_PUSH;
	if (strncmp(sp, "/v1/pull", 8) == 0)
		return PC_PULL;
	if (strncmp(sp, "/v1/snapshot", 12) == 0)
		return PC_SNAPSHOT;
	if (strncmp(sp, "/v1/hashes", 10) == 0)
		return PC_HASHES;
	return PC_OTHER;
}

/* Content-Length of a header block, or -1. */
static long long
px_content_length(const char *h)
{
	const char *p = h;

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, "content-length:", 15) == 0)
			return strtoll(p + 15, NULL, 10);
	}
	return -1;
}

static void
px_add(struct proxy *px, int cls, int is_req, const struct hmsg *m)
{
	pthread_mutex_lock(&px->mu);
	if (is_req) {
		px->c[cls].n++;
		px->c[cls].req_hdr += m->hdr_bytes;
		px->c[cls].req_body += m->body_bytes;
	} else {
		px->c[cls].resp_hdr += m->hdr_bytes;
		px->c[cls].resp_body += m->body_bytes;
	}
	pthread_mutex_unlock(&px->mu);
}

/* A message ends: counted, and the parser made ready for the next. */
static void
px_done(struct pconn *c, int is_req)
{
	struct hmsg *m = is_req ? &c->req : &c->resp;

	if (is_req) {
		c->cls = c->req_cls;
		c->t_req_done = now_s();
	}
	px_add(c->px, is_req ? c->req_cls : c->cls, is_req, m);
	memset(m, 0, sizeof(*m));
}

/* Walks n bytes of one direction through its framing. */
static void
px_parse(struct pconn *c, int is_req, const char *p, size_t n)
{
	struct hmsg *m = is_req ? &c->req : &c->resp;
	static const char end4[] = "\r\n\r\n";

	while (n > 0) {
		if (!m->started) {
			m->started = 1;
			if (!is_req) {
				pthread_mutex_lock(&c->px->mu);
				c->capturing = c->cls == c->px->cap_cls;
				if (c->capturing)
					c->px->cap.len = 0;
				pthread_mutex_unlock(&c->px->mu);
			}
			if (!is_req && c->t_req_done > 0) {
				double d = now_s() - c->t_req_done;

				pthread_mutex_lock(&c->px->mu);
				c->px->c[c->cls].server_s += d;
				pthread_mutex_unlock(&c->px->mu);
				c->t_req_done = 0;
			}
		}
		if (m->in_body) {
			size_t take = n;

			if (!m->until_close && take > m->remain)
				take = (size_t)m->remain;
			m->body_bytes += take;
			m->remain -= m->until_close ? 0 : take;
			if (!is_req && c->capturing) {
				pthread_mutex_lock(&c->px->mu);
				if (buf_append(&c->px->cap, p, take) != 0) {
					c->px->cap_cls = -1;
					c->px->cap.len = 0;
					c->capturing = 0;
				}
				pthread_mutex_unlock(&c->px->mu);
			}
			p += take;
			n -= take;
			if (!m->until_close && m->remain == 0)
				px_done(c, is_req);
			continue;
		}
		/* Header bytes, one at a time up to the blank line. */
		if (m->hlen < sizeof(m->hdr) - 1)
			m->hdr[m->hlen++] = *p;
		m->hdr_bytes++;
		m->crlf = *p == end4[m->crlf] ? m->crlf + 1 :
		    *p == '\r' ? 1 : 0;
		p++;
		n--;
		if (m->crlf == 4) {
			long long cl;

			m->hdr[m->hlen] = '\0';
			cl = px_content_length(m->hdr);
			if (is_req)
				c->req_cls = px_class(m->hdr);
			m->in_body = 1;
			if (cl > 0) {
				m->remain = (uint64_t)cl;
			} else if (cl < 0 && !is_req) {
				m->until_close = 1;
			} else {
				px_done(c, is_req);
			}
		}
	}
}

static int
px_write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = send(fd, p, n, MSG_NOSIGNAL)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *
pconn_main(void *arg)
{
	struct pconn *c = arg;
	size_t cap = 256 * 1024;
	char *buf = malloc(cap);
	int open_c = 1, open_u = 1, i;

	while (buf != NULL && (open_c || open_u) && !px_stopping(c->px)) {
		struct pollfd pf[2];

		pf[0].fd = open_c ? c->cfd : -1;
		pf[0].events = POLLIN;
		pf[0].revents = 0;
		pf[1].fd = open_u ? c->ufd : -1;
		pf[1].events = POLLIN;
		pf[1].revents = 0;
		if (poll(pf, 2, 200) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < 2; i++) {
			int src = i == 0 ? c->cfd : c->ufd;
			int dst = i == 0 ? c->ufd : c->cfd;
			ssize_t r;

			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(src, buf, cap);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				shutdown(dst, SHUT_WR);
				if (i == 0)
					open_c = 0;
				else
					open_u = 0;
				continue;
			}
			if (i == 1)	/* the answer's first byte: timed now */
				px_parse(c, 0, buf, (size_t)r);
			if (px_write_all(dst, buf, (size_t)r) != 0) {
				open_c = open_u = 0;
				break;
			}
			if (i == 0)	/* the request's last byte: sent now */
				px_parse(c, 1, buf, (size_t)r);
		}
	}
	if (c->resp.started && c->resp.until_close)
		px_add(c->px, c->cls, 0, &c->resp);
	free(buf);
	close(c->cfd);
	close(c->ufd);
	return NULL;
}

static void *
proxy_main(void *arg)
{
	struct proxy *px = arg;

	while (!px_stopping(px)) {
		struct pollfd pf = { px->lfd, POLLIN, 0 };
		struct sockaddr_in a;
		struct pconn *c;
		int cfd, ufd, one = 1;

		if (poll(&pf, 1, 200) <= 0)
			continue;
		if ((cfd = accept(px->lfd, NULL, NULL)) < 0)
			continue;
		if ((ufd = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
			close(cfd);
			continue;
		}
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)px->upstream);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(ufd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			close(cfd);
			close(ufd);
			continue;
		}
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->px = px;
		c->cfd = cfd;
		c->ufd = ufd;
		if (pthread_create(&c->th, NULL, pconn_main, c) != 0) {
			close(cfd);
			close(ufd);
			free(c);
			continue;
		}
		pthread_mutex_lock(&px->mu);
		c->next = px->conns;
		px->conns = c;
		pthread_mutex_unlock(&px->mu);
	}
	return NULL;
}

static void
proxy_stop(struct proxy *px)
{
	struct pconn *c, *next;

	if (px == NULL)
		return;
	pthread_mutex_lock(&px->mu);
	px->stop = 1;
	pthread_mutex_unlock(&px->mu);
	if (px->started)
		pthread_join(px->th, NULL);
	for (c = px->conns; c != NULL; c = next) {
		next = c->next;
		pthread_join(c->th, NULL);
		free(c);
	}
	if (px->lfd >= 0)
		close(px->lfd);
	buf_release(&px->cap);
	pthread_mutex_destroy(&px->mu);
	free(px);
}

static int
proxy_start(unsigned upstream, struct proxy **out)
{
	struct proxy *px;
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	if ((px = calloc(1, sizeof(*px))) == NULL)
		return RK_ENOMEM;
	pthread_mutex_init(&px->mu, NULL);
	px->upstream = upstream;
	px->cap_cls = -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((px->lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(px->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(px->lfd, 64) != 0 ||
	    getsockname(px->lfd, (struct sockaddr *)&a, &alen) != 0) {
		bwarn("relay: %s", strerror(errno));
		proxy_stop(px);
		return RK_EIO;
	}
	px->port = ntohs(a.sin_port);
	if (pthread_create(&px->th, NULL, proxy_main, px) != 0) {
		proxy_stop(px);
		return RK_ENOMEM;
	}
	px->started = 1;
	*out = px;
	return 0;
}

static void
px_snap(struct proxy *px, struct pclass out[PC_N])
{
	pthread_mutex_lock(&px->mu);
	memcpy(out, px->c, sizeof(px->c));
	pthread_mutex_unlock(&px->mu);
}

/* out = after - before. */
static void
px_diff(const struct pclass before[PC_N], const struct pclass after[PC_N],
    struct pclass out[PC_N])
{
	int i;

	for (i = 0; i < PC_N; i++) {
		out[i].n = after[i].n - before[i].n;
		out[i].req_hdr = after[i].req_hdr - before[i].req_hdr;
		out[i].req_body = after[i].req_body - before[i].req_body;
		out[i].resp_hdr = after[i].resp_hdr - before[i].resp_hdr;
		out[i].resp_body = after[i].resp_body - before[i].resp_body;
		out[i].server_s = after[i].server_s - before[i].server_s;
	}
}

static uint64_t
pc_body(const struct pclass *c)
{
	return c->req_body + c->resp_body;
}

static uint64_t
pc_all(const struct pclass *c)
{
	return c->req_hdr + c->req_body + c->resp_hdr + c->resp_body;
}

static void
pc_print(const char *title, const struct pclass c[PC_N], size_t nrec)
{
	int i;

	printf("  %s (per call; B/rec = request+response bodies / %zu "
	    "records)\n", title, nrec);
	printf("    %-9s %6s %10s %10s %10s %11s %9s %9s %9s\n", "call",
	    "calls", "req hdr", "req body", "resp hdr", "resp body", "B/rec",
	    "+hdr/rec", "hub ms");
	for (i = 0; i < PC_N; i++) {
		if (c[i].n == 0)
			continue;
		printf("    %-9s %6" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10"
		    PRIu64 " %11" PRIu64 " %9.1f %9.1f %9.1f\n", pc_names[i],
		    c[i].n, c[i].req_hdr, c[i].req_body, c[i].resp_hdr,
		    c[i].resp_body, (double)pc_body(&c[i]) / (double)nrec,
		    (double)pc_all(&c[i]) / (double)nrec, c[i].server_s * 1e3);
	}
}

/* ---- the hub -------------------------------------------------------------------- */

struct hubctx {
	char dir[PATH_MAX + 64];
	struct keys *k;
	struct vfs_crypt *vfs;
	struct store *s;
	struct hub *hub;
	struct hubhttp *hh;
	unsigned port;
	struct rec_ctx admin;
};

typedef int (*admin_fn)(struct rec_ctx *, json_t *, json_t **,
    struct rk_why *);

/* An admin op with in (stolen); *out (may be NULL) is the caller's. */
static int
admin_do(struct hubctx *h, admin_fn op, json_t *in, json_t **out)
{
	struct rk_why why = { "" };
	json_t *o = NULL;
	int rc;

	if (in == NULL)
		return RK_ENOMEM;
	store_lock(h->s);
	rc = op(&h->admin, in, &o, &why);
	store_unlock(h->s);
	if (rc != 0) {
		char *s = json_dumps(in, JSON_COMPACT);

		bwarn("admin %s: %s", s ? s : "?", why.text[0] ? why.text :
		    rk_strerror(rc));
		free(s);
	}
	json_decref(in);
	if (rc == 0 && out != NULL)
		*out = o;
	else
		json_decref(o);
	return rc;
}

static struct keys *
keys_fresh(void)
{
	struct keys *k = sodium_malloc(sizeof(*k));

	if (k == NULL)
		return NULL;
	memset(k, 0, sizeof(*k));
	randombytes_buf(k->db_key, sizeof(k->db_key));
	crypto_sign_keypair(k->sign_pk, k->sign_sk);
	crypto_box_keypair(k->box_pk, k->box_sk);
	return k;
}

static int
hub_up(const char *base, struct hubctx *h)
{
	struct store_opts so;
	struct rk_why why = { "" };
	char path[PATH_MAX + 128];
	int rc;

	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "%s/hub", base);
	if (mkdir(h->dir, 0700) != 0) {
		bwarn("mkdir %s: %s", h->dir, strerror(errno));
		return RK_EIO;
	}
	if ((h->k = keys_fresh()) == NULL)
		return RK_ENOMEM;
	if ((rc = vfs_crypt_register("bench-hub", h->k->db_key,
	    &h->vfs)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/replica.db", h->dir);
	memset(&so, 0, sizeof(so));
	so.path = path;
	so.vfs = "bench-hub";
	so.origin = B_HUB_ID;
	so.is_hub = 1;
	so.idle_checkpoint = 1;		/* as renkeid */
	if ((rc = store_open(&so, &h->s, &why)) != 0) {
		bwarn("hub store: %s", why.text);
		return rc;
	}
	if ((rc = hub_open(h->s, h->k, NULL, &h->hub)) != 0) {
		bwarn("hub_open: %s", rk_strerror(rc));
		return rc;
	}
	if ((rc = hubhttp_start(h->hub, h->s, "127.0.0.1:0", &h->hh)) != 0) {
		bwarn("hubhttp_start: %s", rk_strerror(rc));
		return rc;
	}
	h->port = hubhttp_port(h->hh);
	h->admin.store = h->s;
	h->admin.is_hub = 1;
	h->admin.staff = "operator";
	h->admin.role = "hub";
	h->admin.device_id = B_HUB_ID;
	h->admin.hub_url = "";
	if ((rc = admin_do(h, admin_settings_set, json_pack("{s:b}",
	    "require_doctor", 0), NULL)) != 0 ||
	    (rc = admin_do(h, admin_agency_add, json_pack("{s:s, s:s, s:s}",
	    "id", "vn-1", "name", "訪問看護ステーション", "kind",
	    "visiting-nurse"), NULL)) != 0)
		return rc;
	return 0;
}

static void
hub_down(struct hubctx *h)
{
	hubhttp_stop(h->hh);
	hub_close(h->hub);
	store_close(h->s);
	if (h->vfs != NULL)
		vfs_crypt_unregister(h->vfs);
	keys_free(h->k);
	memset(h, 0, sizeof(*h));
}

static int
hub_staff(struct hubctx *h, const char *id)
{
	return admin_do(h, admin_staff_add, json_pack("{s:s, s:s, s:s, s:s}",
	    "id", id, "agency", "vn-1", "name", id, "profession", "nurse"),
	    NULL);
}

/* A patient room with members (stolen). */
static int
hub_room(struct hubctx *h, const char *room, json_t *members)
{
	char name[64];

	snprintf(name, sizeof(name), "患者 %s", room);
	return admin_do(h, admin_room_create, json_pack("{s:s, s:s, s:s, s:o}",
	    "room_id", room, "patient_name", name, "consent_date",
	    "2025-03-01", "members", members), NULL);
}

static int
hub_code(struct hubctx *h, const char *staff, char code[32])
{
	json_t *out = NULL;
	int rc;

	if ((rc = admin_do(h, admin_enroll_code, json_pack("{s:s}", "staff",
	    staff), &out)) != 0)
		return rc;
	snprintf(code, 32, "%s", json_string_value(json_object_get(out,
	    "code")) ? json_string_value(json_object_get(out, "code")) : "");
	json_decref(out);
	return 0;
}

/* One integer from the hub's database. */
static int64_t
hub_q(struct hubctx *h, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	store_lock(h->s);
	if (sqlite3_prepare_v2(store_db(h->s), sql, -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	store_unlock(h->s);
	return v;
}

/* ---- devices ------------------------------------------------------------------ */

struct job {
	const struct visit *v;
	const char *room;
};

struct dev {
	char name[32];
	char id[ID_LEN + 1];
	char dir[PATH_MAX + 64];
	char vfsname[48];
	struct keys *k;
	struct vfs_crypt *vfs;
	struct store *s;
	struct sync *sy;
	struct rk_conf conf;
	struct rec_ctx rc;
	struct proxy *px;
	struct job *jobs;
	size_t njobs;
	int write_rc;
	double write_s;
	/* ingest progress */
	uint64_t ticket;
	double t_acked, t_done;
	int retries;
};

static unsigned b_ndev;

static int
dev_open(struct dev *d, const char *base, const char *name,
    unsigned hub_port, int relay)
{
	struct store_opts so;
	struct rk_why why = { "" };
	char path[PATH_MAX + 128];
	int rc;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	id_new(NULL, d->id);
	snprintf(d->dir, sizeof(d->dir), "%s/dev-%s", base, name);
	snprintf(d->vfsname, sizeof(d->vfsname), "bench-dev-%u", b_ndev++);
	if (mkdir(d->dir, 0700) != 0) {
		bwarn("mkdir %s: %s", d->dir, strerror(errno));
		return RK_EIO;
	}
	if ((d->k = keys_fresh()) == NULL)
		return RK_ENOMEM;
	if ((rc = vfs_crypt_register(d->vfsname, d->k->db_key, &d->vfs)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/replica.db", d->dir);
	memset(&so, 0, sizeof(so));
	so.path = path;
	so.vfs = d->vfsname;
	so.origin = d->id;
	so.idle_checkpoint = 1;		/* as renkeid */
	if ((rc = store_open(&so, &d->s, &why)) != 0) {
		bwarn("device %s store: %s", name, why.text);
		return rc;
	}
	snprintf(d->conf.role, sizeof(d->conf.role), "device");
	snprintf(d->conf.device_id, sizeof(d->conf.device_id), "%s", d->id);
	if ((rc = sync_start(d->s, d->k, d->dir, &d->conf, NULL,
	    &d->sy)) != 0) {
		bwarn("device %s: sync_start: %s", name, rk_strerror(rc));
		return rc;
	}
	/* Only our sync_request makes it sync after the first. */
	sync_set_interval(d->sy, 24LL * 3600 * 1000);
	d->rc.store = d->s;
	d->rc.sync = NULL;	/* writes must not start a sync */
	d->rc.staff = d->conf.staff;
	d->rc.role = "device";
	d->rc.device_id = d->id;
	d->rc.hub_url = d->conf.hub_url;
	if (relay && (rc = proxy_start(hub_port, &d->px)) != 0)
		return rc;
	return 0;
}

static void
dev_close(struct dev *d)
{
	sync_stop(d->sy);
	d->sy = NULL;
	store_close(d->s);
	d->s = NULL;
	if (d->vfs != NULL)
		vfs_crypt_unregister(d->vfs);
	d->vfs = NULL;
	keys_free(d->k);
	d->k = NULL;
	proxy_stop(d->px);
	d->px = NULL;
	free(d->jobs);
	d->jobs = NULL;
}

struct prog {
	uint64_t attempt, finished;
	int ok, in_step, running;
	char phase[16];
	int64_t pending, cursor, head;
	char err[256];
};

static int
dev_prog(struct dev *d, struct prog *p)
{
	json_t *o = json_object(), *s;
	const char *t;

	memset(p, 0, sizeof(*p));
	if (o == NULL || sync_progress(d->sy, o) != 0) {
		json_decref(o);
		return RK_ENOMEM;
	}
	s = json_object_get(o, "sync");
	p->attempt = (uint64_t)json_integer_value(json_object_get(s,
	    "attempt"));
	p->finished = (uint64_t)json_integer_value(json_object_get(s,
	    "finished"));
	p->ok = json_is_true(json_object_get(s, "ok"));
	p->in_step = json_is_true(json_object_get(s, "in_step"));
	p->running = json_is_true(json_object_get(s, "running"));
	snprintf(p->phase, sizeof(p->phase), "%s",
	    (t = json_string_value(json_object_get(s, "phase"))) ? t : "?");
	p->pending = json_integer_value(json_object_get(s, "pending"));
	p->cursor = json_integer_value(json_object_get(s, "cursor"));
	p->head = json_integer_value(json_object_get(s, "head"));
	snprintf(p->err, sizeof(p->err), "%s",
	    (t = json_string_value(json_object_get(s, "last_error"))) ? t :
	    "");
	json_decref(o);
	return 0;
}

/* The attempt ticket has left the push phase (the outbox is acked). */
static int
prog_pushed(const struct prog *p, uint64_t ticket)
{
	return p->finished >= ticket || (p->attempt >= ticket &&
	    strcmp(p->phase, "push") != 0 && strcmp(p->phase, "idle") != 0);
}

/* Waits until attempt ticket has finished; *t_push (may be NULL) gets the
 * time it left the push phase.  RK_EIO if it failed (message shown). */
static int
dev_wait(struct dev *d, uint64_t ticket, double *t_push, double *t_end,
    struct prog *last)
{
	struct prog p;
	double start = now_s(), t;

	if (t_push != NULL)
		*t_push = 0;
	for (;;) {
		if (dev_prog(d, &p) != 0)
			return RK_ENOMEM;
		t = now_s();
		if (t_push != NULL && *t_push == 0 && prog_pushed(&p, ticket))
			*t_push = t;
		if (p.finished >= ticket)
			break;
		if (t - start > B_TIMEOUT_S) {
			bwarn("device %s: sync %" PRIu64 " still running after "
			    "%.0f s (phase %s)", d->name, ticket, t - start,
			    p.phase);
			return RK_EIO;
		}
		nap();
	}
	*t_end = t;
	if (last != NULL)
		*last = p;
	if (!p.ok) {
		bwarn("device %s: sync failed: %s", d->name, p.err);
		return RK_EIO;
	}
	return 0;
}

/* Enrols d (its relay if it has one) with a fresh code for staff; the
 * engine starts its first sync at once.  *t0 (may be NULL): when
 * sync_enroll was called. */
static int
dev_enroll(struct dev *d, struct hubctx *h, const char *staff, double *t0)
{
	struct rk_why why = { "" };
	json_t *out = NULL;
	char code[32], url[64];
	int rc;

	if ((rc = hub_code(h, staff, code)) != 0)
		return rc;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", d->px ?
	    d->px->port : h->port);
	if (t0 != NULL)
		*t0 = now_s();
	store_lock(d->s);
	rc = sync_enroll(d->sy, code, url, NULL, &out, &why);
	store_unlock(d->s);
	json_decref(out);
	if (rc != 0)
		bwarn("device %s: sync_enroll: %s", d->name, why.text);
	return rc;
}

/* Writes d's jobs, one rec_visit_add (one transaction) each. */
static void *
dev_write_main(void *arg)
{
	struct dev *d = arg;
	struct rk_why why = { "" };
	double t0 = now_s();
	size_t i;
	int rc = 0;

	for (i = 0; i < d->njobs && rc == 0; i++) {
		json_t *in = visit_json(d->jobs[i].v), *out = NULL;

		if (in == NULL) {
			rc = RK_ENOMEM;
			break;
		}
		store_lock(d->s);
		rc = rec_visit_add(&d->rc, d->jobs[i].room, in, &out, &why);
		store_unlock(d->s);
		json_decref(in);
		json_decref(out);
		if (rc != 0)
			bwarn("device %s: rec_visit_add %s: %s", d->name,
			    d->jobs[i].room, why.text);
	}
	d->write_s = now_s() - t0;
	d->write_rc = rc;
	return NULL;
}

/* The room hash of room on a store. */
static int
store_hash(struct store *s, const char *room, char hex[65])
{
	int rc;

	store_lock(s);
	rc = roomhash_compute(store_db(s), room, hex);
	store_unlock(s);
	return rc;
}

static int64_t
store_q(struct store *s, const char *sql, const char *p1)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	store_lock(s);
	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) == SQLITE_OK) {
		if (p1 != NULL)
			sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	store_unlock(s);
	return v;
}

/* ---- results ------------------------------------------------------------------ */

struct ref {
	size_t n;
	double push_lo, push_hi;
	int bytes_lo, bytes_hi;
	double pull_lo, pull_hi;
};

static const struct ref b_refs[] = {
	{ 600, 0.170, 0.220, 724, 766, 0.140, 0.210 },
	{ 10000, 1.7, 2.8, 724, 768, 1.7, 3.0 },
	{ 100000, 14, 22, 724, 767, 13, 24 },
};

static const struct ref *
ref_for(size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(b_refs) / sizeof(b_refs[0]); i++)
		if (b_refs[i].n == n)
			return &b_refs[i];
	return NULL;
}

#define B_ROUNDS_MAX 9
#define B_CEIL_RUNS 3

struct results {
	/* nurse day, per round */
	int day_rounds;		/* completed */
	size_t day_n;
	double day_write_s[B_ROUNDS_MAX];
	double day_push_s[B_ROUNDS_MAX], day_attempt_s[B_ROUNDS_MAX];
	double day_push_cpu[B_ROUNDS_MAX];
	long day_push_flt[B_ROUNDS_MAX], day_pull_flt[B_ROUNDS_MAX];
	long day_fresh_flt[B_ROUNDS_MAX];
	double day_pull_s[B_ROUNDS_MAX], day_pull_cpu[B_ROUNDS_MAX];
	double day_fresh_s[B_ROUNDS_MAX], day_fresh_px_s[B_ROUNDS_MAX];
	double day_push_hub_s[B_ROUNDS_MAX], day_pull_hub_s[B_ROUNDS_MAX];
	char day_load[B_ROUNDS_MAX][32];
	/* the nurse day on a device with a long outbox history */
	int hist_run;
	size_t hist_n;
	double hist_push_s, hist_attempt_s, hist_fill_s;
	/* bytes and hub times of round 1 (through the relay) */
	struct pclass day_push[PC_N], day_pull[PC_N], day_fresh[PC_N];
	/* envelope analysis (bytes of the whole day) */
	int env_run;
	size_t env_cur_n, env_room_n;
	uint64_t env_cur_body, env_room_body;
	uint64_t env_cur_resp, env_room_resp;
	uint64_t pull_cur_body, pull_room_body;
	uint64_t env_cur_t16, env_room_t16, env_cur_t64, env_room_t64;
	uint64_t pull_cur_t64, pull_room_t64;
	/* replays of the device's steps on copies of the replicas; unit costs */
	int rp_run;
	size_t rp_nranges, rp_pull_entries;
	double rp_assign_s, rp_build_s, rp_results_s, rp_results_idx_s;
	double rp_settle_s;
	double rp_decode_s, rp_apply_s, rp_apply_merged_s;
	double u_sign_us, u_verify_us, u_fault_us;
	double u_z19_new_us, u_z19_us, u_z3_us, u_z1_us;
	double u_z19_b, u_z3_b, u_z1_b;
	double pull1_z3_b, pull1_z19_b, pull1_z3_ms;
	/* ingest + initial */
	int big_run;
	size_t big_n;
	unsigned big_ndev;
	double big_write_s, big_write_cpu;
	double ingest_s, ingest_done_s, ingest_cpu;
	int ingest_retries;
	char ingest_err[256], ingest_load[32], init_load[32];
	double init_s, init_px_s, init_cpu;
	struct pclass init[PC_N];
	/* ceiling */
	int ceil_runs;
	size_t ceil_n;
	double ceil_s[B_CEIL_RUNS + 1];
	double floor_s[B_CEIL_RUNS];	/* the day's rows, one transaction */
};

static struct results R;

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
v_best(const double *v, int n)
{
	double b = v[0];
	int i;

	for (i = 1; i < n; i++)
		if (v[i] < b)
			b = v[i];
	return b;
}

static double
v_median(const double *v, int n)
{
	double t[B_ROUNDS_MAX + 1];

	memcpy(t, v, (size_t)n * sizeof(*t));
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void
min_into(double *acc, double v, int first)
{
	if (first || v < *acc)
		*acc = v;
}

/* The 1-minute load average, as text. */
static void
loadavg(char out[32])
{
	FILE *f = fopen("/proc/loadavg", "r");
	double a = -1, b = -1;

	if (f != NULL) {
		if (fscanf(f, "%lf %lf", &a, &b) != 2)
			a = -1;
		fclose(f);
	}
	snprintf(out, 32, "%.1f", a);
}

static int
file_copy(const char *from, const char *to)
{
	char buf[65536];
	FILE *in, *out;
	size_t n;
	int rc = 0;

	if ((in = fopen(from, "rb")) == NULL)
		return RK_EIO;
	if ((out = fopen(to, "wb")) == NULL) {
		fclose(in);
		return RK_EIO;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = RK_EIO;
	if (ferror(in))
		rc = RK_EIO;
	fclose(in);
	if (fclose(out) != 0)
		rc = RK_EIO;
	return rc;
}

/* A copy of src in a file through the encrypting VFS vfs (its key); the
 * caller holds whatever lock guards src. */
static int
db_copy_file(sqlite3 *src, const char *vfs, const char *path)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int rc = RK_EDB, st;

	unlink(path);
	if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, vfs) != SQLITE_OK ||
	    vfs_prepare_new_db(dst) != 0) {
		bwarn("copy %s: %s", path, dst ? sqlite3_errmsg(dst) : "?");
		goto out;
	}
	if ((b = sqlite3_backup_init(dst, "main", src, "main")) != NULL) {
		st = sqlite3_backup_step(b, -1);
		if (sqlite3_backup_finish(b) == SQLITE_OK && st == SQLITE_DONE)
			rc = 0;
	}
	if (rc != 0)
		bwarn("copy %s: %s", path, sqlite3_errmsg(dst));
out:
	sqlite3_close(dst);
	return rc;
}

/* A copy of the hub's database in a file (same VFS and key). */
static int
hub_copy(struct hubctx *h, const char *path)
{
	int rc;

	store_lock(h->s);
	rc = db_copy_file(store_db(h->s), "bench-hub", path);
	store_unlock(h->s);
	return rc;
}

/* A fresh copy of the file pre (made by db_copy_file), opened as a store
 * with the real settings: path gets its name. */
static int
store_scratch(const char *pre, const char *vfs, const char *origin,
    int is_hub, int tag, struct store **out, char *path, size_t pathlen)
{
	struct store_opts so;
	struct rk_why why = { "" };
	int rc;

	snprintf(path, pathlen, "%s.run%d", pre, tag);
	if ((rc = file_copy(pre, path)) != 0) {
		bwarn("cannot copy %s", pre);
		return rc;
	}
	memset(&so, 0, sizeof(so));
	so.path = path;
	so.vfs = vfs;
	so.origin = origin;
	so.is_hub = is_hub;
	if ((rc = store_open(&so, out, &why)) != 0)
		bwarn("%s: %s", path, why.text);
	return rc;
}

static void
scratch_drop(struct store *s, const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char f[PATH_MAX + 200];
	int k;

	store_close(s);
	for (k = 0; k < 3; k++) {
		snprintf(f, sizeof(f), "%s%s", path, sfx[k]);
		unlink(f);
	}
}

struct whatif {
	char hub_pre[2][PATH_MAX + 128];	/* before round 1's push */
	int have;
};

static struct whatif W;

/* ---- scenario: the nurse day ----------------------------------------------- */

struct day {
	struct dev a, b, c, d;
	char rooms[B_DAY_ROOMS][40];
	struct job *jobs;
	char b_pre[PATH_MAX + 128];	/* round 1: B before its pull */
	struct buf pull_body;	/* round 1: the pull answer B got */
};

static void
day_close(struct day *y)
{
	dev_close(&y->a);
	dev_close(&y->b);
	dev_close(&y->c);
	dev_close(&y->d);
	free(y->jobs);
	y->jobs = NULL;
	if (y->b_pre[0] != '\0')
		unlink(y->b_pre);
	y->b_pre[0] = '\0';
	buf_release(&y->pull_body);
}

static int
day_verify(struct hubctx *h, struct day *y)
{
	struct dev *devs[4] = { &y->a, &y->b, &y->c, &y->d };
	char hh[65], dh[65];
	int i, j;

	for (i = 0; i < B_DAY_ROOMS; i++) {
		if (store_hash(h->s, y->rooms[i], hh) != 0)
			return RK_EDB;
		for (j = 0; j < 4; j++) {
			if (store_hash(devs[j]->s, y->rooms[i], dh) != 0)
				return RK_EDB;
			if (strcmp(hh, dh) != 0) {
				bwarn("nurse day: room %s on device %s differs "
				    "from the hub's", y->rooms[i],
				    devs[j]->name);
				return RK_EIO;
			}
		}
	}
	return 0;
}

/* Round r (0-based): its own four staff, 20 rooms and devices A-D. */
static int
run_day_round(const char *base, struct hubctx *h, const struct dataset *day,
    struct day *y, int r)
{
	struct pclass p0[PC_N], p1[PC_N];
	struct prog pg;
	char st[4][40], name[40], phase[48];
	double t0, t1, c0, tp;
	long f0;
	uint64_t ticket;
	int64_t pend = -1, n;
	size_t i;
	int rc;

	loadavg(R.day_load[r]);
	for (i = 0; i < 4; i++) {
		snprintf(st[i], sizeof(st[i]), "nurse-0%d%zu", r + 1, i + 1);
		if ((rc = hub_staff(h, st[i])) != 0)
			return rc;
	}
	for (i = 0; i < B_DAY_ROOMS; i++) {
		snprintf(y->rooms[i], sizeof(y->rooms[i]), "nd%d-%05zu", r + 1,
		    i + 1);
		if ((rc = hub_room(h, y->rooms[i], json_pack("[s, s, s, s]",
		    st[0], st[1], st[2], st[3]))) != 0)
			return rc;
	}
	snprintf(name, sizeof(name), "A%d", r + 1);
	if ((rc = dev_open(&y->a, base, name, h->port, 1)) != 0)
		return rc;
	snprintf(name, sizeof(name), "B%d", r + 1);
	if ((rc = dev_open(&y->b, base, name, h->port, 1)) != 0 ||
	    (rc = dev_enroll(&y->a, h, st[0], NULL)) != 0 ||
	    (rc = dev_enroll(&y->b, h, st[1], NULL)) != 0 ||
	    (rc = dev_wait(&y->a, 1, NULL, &t1, NULL)) != 0 ||
	    (rc = dev_wait(&y->b, 1, NULL, &t1, NULL)) != 0)
		return rc;

	/* The day: 600 user actions on A. */
	if ((y->jobs = calloc(day->n, sizeof(*y->jobs))) == NULL)
		return RK_ENOMEM;
	for (i = 0; i < day->n; i++) {
		y->jobs[i].v = &day->v[i];
		y->jobs[i].room = y->rooms[day_room_of(day->v[i].room)];
	}
	y->a.jobs = y->jobs;
	y->a.njobs = day->n;
	dev_write_main(&y->a);
	y->a.jobs = NULL;
	if (y->a.write_rc != 0)
		return y->a.write_rc;
	R.day_n = day->n;
	R.day_write_s[r] = y->a.write_s;

	/* Round 1: copies of the hub as it is before the push (what-if). */
	if (r == 0) {
		for (i = 0; i < 2; i++) {
			snprintf(W.hub_pre[i], sizeof(W.hub_pre[i]),
			    "%s/hub/whatif-%zu.db", base, i);
			if ((rc = hub_copy(h, W.hub_pre[i])) != 0)
				return rc;
		}
		W.have = 1;
	}

	/* Push: sync_request until A's outbox is acked. */
	px_snap(y->a.px, p0);
	snprintf(phase, sizeof(phase), "day%d-push", r + 1);
	perf_start(phase);
	c0 = cpu_s();
	f0 = minflt();
	t0 = now_s();
	ticket = sync_request(y->a.sy);
	rc = dev_wait(&y->a, ticket, &tp, &t1, &pg);
	R.day_push_cpu[r] = cpu_s() - c0;
	R.day_push_flt[r] = minflt() - f0;
	perf_stop();
	if (rc != 0)
		return rc;
	px_snap(y->a.px, p1);
	if (r == 0)
		px_diff(p0, p1, R.day_push);
	R.day_push_hub_s[r] = p1[PC_PUSH].server_s - p0[PC_PUSH].server_s;
	R.day_push_s[r] = tp - t0;
	R.day_attempt_s[r] = t1 - t0;
	store_lock(y->a.s);
	rc = store_pending_count(y->a.s, &pend);
	store_unlock(y->a.s);
	if (rc != 0 || pend != 0 || p1[PC_PUSH].n == p0[PC_PUSH].n) {
		bwarn("nurse day: %" PRId64 " entries still pending after the "
		    "push", pend);
		return RK_EIO;
	}

	/* Pull on B, in step before the day. */
	if (r == 0) {
		store_lock(y->b.s);
		snprintf(y->b_pre, sizeof(y->b_pre), "%s/pre-pull.db",
		    y->b.dir);
		rc = db_copy_file(store_db(y->b.s), y->b.vfsname, y->b_pre);
		store_unlock(y->b.s);
		if (rc != 0)
			return rc;
		pthread_mutex_lock(&y->b.px->mu);
		y->b.px->cap_cls = PC_PULL;
		pthread_mutex_unlock(&y->b.px->mu);
	}
	px_snap(y->b.px, p0);
	snprintf(phase, sizeof(phase), "day%d-pull", r + 1);
	perf_start(phase);
	c0 = cpu_s();
	f0 = minflt();
	t0 = now_s();
	ticket = sync_request(y->b.sy);
	rc = dev_wait(&y->b, ticket, NULL, &t1, &pg);
	R.day_pull_cpu[r] = cpu_s() - c0;
	R.day_pull_flt[r] = minflt() - f0;
	perf_stop();
	if (rc != 0)
		return rc;
	if (!pg.in_step) {
		bwarn("nurse day: B is not in step after its pull");
		return RK_EIO;
	}
	px_snap(y->b.px, p1);
	R.day_pull_hub_s[r] = p1[PC_PULL].server_s - p0[PC_PULL].server_s;
	if (r == 0) {
		px_diff(p0, p1, R.day_pull);
		pthread_mutex_lock(&y->b.px->mu);
		y->b.px->cap_cls = -1;
		rc = buf_append(&y->pull_body, y->b.px->cap.data,
		    y->b.px->cap.len);
		pthread_mutex_unlock(&y->b.px->mu);
		if (rc != 0)
			return rc;
	}
	R.day_pull_s[r] = t1 - t0;

	/* Fresh pulls: D straight to the hub (timed), C through the relay
	 * (bytes); both from sync_enroll to in step. */
	snprintf(name, sizeof(name), "D%d", r + 1);
	if ((rc = dev_open(&y->d, base, name, h->port, 0)) != 0)
		return rc;
	snprintf(phase, sizeof(phase), "day%d-fresh", r + 1);
	perf_start(phase);
	f0 = minflt();
	if ((rc = dev_enroll(&y->d, h, st[3], &t0)) != 0 ||
	    (rc = dev_wait(&y->d, 1, NULL, &t1, &pg)) != 0) {
		perf_stop();
		return rc;
	}
	R.day_fresh_flt[r] = minflt() - f0;
	perf_stop();
	R.day_fresh_s[r] = t1 - t0;
	snprintf(name, sizeof(name), "C%d", r + 1);
	if ((rc = dev_open(&y->c, base, name, h->port, 1)) != 0)
		return rc;
	px_snap(y->c.px, p0);
	if ((rc = dev_enroll(&y->c, h, st[2], &t0)) != 0 ||
	    (rc = dev_wait(&y->c, 1, NULL, &t1, &pg)) != 0)
		return rc;
	px_snap(y->c.px, p1);
	if (r == 0)
		px_diff(p0, p1, R.day_fresh);
	R.day_fresh_px_s[r] = t1 - t0;

	if ((rc = day_verify(h, y)) != 0)
		return rc;
	n = store_q(y->d.s, "SELECT count(*) FROM visits", NULL);
	if (n != (int64_t)day->n) {
		bwarn("nurse day: the fresh device has %" PRId64 " visits, not "
		    "%zu", n, day->n);
		return RK_EIO;
	}
	return 0;
}

struct ing_wi;
static int run_ingest_whatif(struct hubctx *h, struct dev *devs,
    unsigned ndev);
static int ing_pre_copies(struct hubctx *h, const char *base);

/* ---- scenario: the nurse day after a long history ------------------------- */

/*
 * A device keeps every outbox entry it ever wrote.  Here device A starts
 * with hist_n of them already acked and pulled back (about a year of a
 * nurse's days), written straight into its outbox, then writes the day
 * and pushes it: the push and the attempt should take what they take
 * without the history.
 */
static int
run_history(const char *base, struct hubctx *h, const struct dataset *day,
    size_t hist_n)
{
	struct day y;
	struct prog pg;
	char st[2][40], sql[1024];
	double t0, t1, tp;
	uint64_t ticket;
	sqlite3 *db;
	size_t i;
	int rc;

	memset(&y, 0, sizeof(y));
	for (i = 0; i < 2; i++) {
		snprintf(st[i], sizeof(st[i]), "nurse-h%zu", i + 1);
		if ((rc = hub_staff(h, st[i])) != 0)
			return rc;
	}
	for (i = 0; i < B_DAY_ROOMS; i++) {
		snprintf(y.rooms[i], sizeof(y.rooms[i]), "nh-%05zu", i + 1);
		if ((rc = hub_room(h, y.rooms[i], json_pack("[s, s]", st[0],
		    st[1]))) != 0)
			return rc;
	}
	if ((rc = dev_open(&y.a, base, "H", h->port, 0)) != 0 ||
	    (rc = dev_enroll(&y.a, h, st[0], NULL)) != 0 ||
	    (rc = dev_wait(&y.a, 1, NULL, &t1, NULL)) != 0)
		goto out;

	/* The history: entries as a day's, acked at the hub seq of the
	 * enrolment and pulled back (applied = X''). */
	t0 = now_s();
	store_lock(y.a.s);
	db = store_db(y.a.s);
	snprintf(sql, sizeof(sql), "WITH RECURSIVE n(i) AS (SELECT 1 UNION "
	    "ALL SELECT i + 1 FROM n WHERE i < %zu) INSERT INTO local_outbox "
	    "(origin, room_id, hlc, schema_version, created_at, changeset, "
	    "status, acked_hub_seq, applied) SELECT '%s', "
	    "'nh-' || printf('%%05d', 1 + i %% %d), 1, %d, 0, randomblob(440), "
	    "'acked', 1, X'' FROM n; INSERT INTO local_outbox_envelopes "
	    "(env_first, env_last, room_id, origin, answered) SELECT seq, seq, "
	    "room_id, origin, 1 FROM local_outbox", hist_n, y.a.id,
	    B_DAY_ROOMS, schema_version());
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : RK_EDB;
	if (rc != 0)
		bwarn("history: %s", sqlite3_errmsg(db));
	store_unlock(y.a.s);
	R.hist_fill_s = now_s() - t0;
	if (rc != 0)
		goto out;

	if ((y.jobs = calloc(day->n, sizeof(*y.jobs))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	for (i = 0; i < day->n; i++) {
		y.jobs[i].v = &day->v[i];
		y.jobs[i].room = y.rooms[day_room_of(day->v[i].room)];
	}
	y.a.jobs = y.jobs;
	y.a.njobs = day->n;
	dev_write_main(&y.a);
	y.a.jobs = NULL;
	if ((rc = y.a.write_rc) != 0)
		goto out;
	t0 = now_s();
	ticket = sync_request(y.a.sy);
	if ((rc = dev_wait(&y.a, ticket, &tp, &t1, &pg)) != 0)
		goto out;
	R.hist_n = hist_n;
	R.hist_push_s = tp - t0;
	R.hist_attempt_s = t1 - t0;
	R.hist_run = 1;
out:
	day_close(&y);
	return rc;
}

/* ---- scenario: ingest by 50 devices, then a fresh device's initial sync -- */

static int
run_big(const char *base, struct hubctx *h, const struct dataset *big,
    unsigned ndev)
{
	struct dev *devs = NULL, r1, r2;
	struct pclass p0[PC_N], p1[PC_N];
	char (*staff)[16] = NULL;
	pthread_t *th = NULL;
	size_t *fill = NULL, i;
	double t0, t1, c0, tmax;
	int64_t n, hub_before;
	unsigned k, left;
	int rc = 0, opened_r1 = 0, opened_r2 = 0;

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	if ((devs = calloc(ndev, sizeof(*devs))) == NULL ||
	    (staff = calloc(ndev, sizeof(*staff))) == NULL ||
	    (th = calloc(ndev, sizeof(*th))) == NULL ||
	    (fill = calloc(ndev, sizeof(*fill))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	bnote("  setting up %zu rooms, %u devices...\n", big->nrooms, ndev);
	if ((rc = hub_staff(h, "nurse-200")) != 0)
		goto out;
	for (k = 0; k < ndev; k++) {
		snprintf(staff[k], sizeof(staff[k]), "nurse-%03u", 101 + k);
		if ((rc = hub_staff(h, staff[k])) != 0)
			goto out;
	}
	for (i = 0; i < big->nrooms; i++)
		if ((rc = hub_room(h, big->rooms[i], json_pack("[s, s]",
		    staff[i % ndev], "nurse-200"))) != 0)
			goto out;
	/* Each device's share, in the file's order. */
	for (i = 0; i < big->n; i++)
		fill[room_index(big, big->v[i].room) % ndev]++;
	for (k = 0; k < ndev; k++) {
		char name[16];

		snprintf(name, sizeof(name), "I%02u", k + 1);
		if ((rc = dev_open(&devs[k], base, name, h->port, 0)) != 0)
			goto out;
		if ((devs[k].jobs = calloc(fill[k] ? fill[k] : 1,
		    sizeof(struct job))) == NULL) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < big->n; i++) {
		long ri = room_index(big, big->v[i].room);
		struct dev *d = &devs[(size_t)ri % ndev];

		d->jobs[d->njobs].v = &big->v[i];
		d->jobs[d->njobs].room = big->rooms[ri];
		d->njobs++;
	}
	for (k = 0; k < ndev; k++)
		if ((rc = dev_enroll(&devs[k], h, staff[k], NULL)) != 0)
			goto out;
	for (k = 0; k < ndev; k++)
		if ((rc = dev_wait(&devs[k], 1, NULL, &t1, NULL)) != 0)
			goto out;

	/* The days: every device writes its share, all at once. */
	bnote("  writing %zu visits on %u devices...\n", big->n, ndev);
	c0 = cpu_s();
	t0 = now_s();
	for (k = 0; k < ndev; k++)
		if (pthread_create(&th[k], NULL, dev_write_main,
		    &devs[k]) != 0) {
			bwarn("pthread_create failed");
			for (; k > 0; k--)
				pthread_join(th[k - 1], NULL);
			rc = RK_ENOMEM;
			goto out;
		}
	for (k = 0; k < ndev; k++)
		pthread_join(th[k], NULL);
	R.big_write_s = now_s() - t0;
	R.big_write_cpu = cpu_s() - c0;
	for (k = 0; k < ndev; k++)
		if ((rc = devs[k].write_rc) != 0)
			goto out;

	/* Copies of the hub for the hub-only what-if (not timed). */
	if ((rc = ing_pre_copies(h, base)) != 0)
		goto out;

	/* Ingest: every engine pushes at once. */
	bnote("  ingest...\n");
	hub_before = hub_q(h, "SELECT count(*) FROM visits");
	loadavg(R.ingest_load);
	perf_start("ingest");
	c0 = cpu_s();
	t0 = now_s();
	for (k = 0; k < ndev; k++)
		devs[k].ticket = sync_request(devs[k].sy);
	left = ndev;
	while (left > 0) {
		double t;

		for (k = 0; k < ndev; k++) {
			struct dev *d = &devs[k];
			struct prog p;

			if (d->t_done > 0)
				continue;
			if ((rc = dev_prog(d, &p)) != 0)
				goto out_perf;
			t = now_s();
			if (d->t_acked == 0 && prog_pushed(&p, d->ticket) &&
			    p.attempt >= d->ticket && (p.finished < d->ticket ||
			    p.ok))
				d->t_acked = t;
			if (p.finished < d->ticket)
				continue;
			if (!p.ok) {
				/* A failed attempt (the hub busy, a timeout):
				 * the engine would retry after its backoff;
				 * we ask at once and count it. */
				if (R.ingest_err[0] == '\0')
					snprintf(R.ingest_err, sizeof(R.ingest_err),
					    "%s", p.err);
				if (++d->retries > 10) {
					bwarn("device %s: sync keeps failing: "
					    "%s", d->name, p.err);
					rc = RK_EIO;
					goto out_perf;
				}
				d->t_acked = 0;
				d->ticket = sync_request(d->sy);
				continue;
			}
			d->t_done = t;
			left--;
		}
		if (now_s() - t0 > B_TIMEOUT_S) {
			bwarn("ingest: still running after %.0f s", B_TIMEOUT_S);
			rc = RK_EIO;
			goto out_perf;
		}
		/* Coarser than nap(): 50 progress reads cost CPU the hub and
		 * the engines share. */
		usleep(2000);
	}
out_perf:
	R.ingest_cpu = cpu_s() - c0;
	perf_stop();
	if (rc != 0)
		goto out;
	tmax = 0;
	R.ingest_done_s = 0;
	for (k = 0; k < ndev; k++) {
		if (devs[k].t_acked - t0 > tmax)
			tmax = devs[k].t_acked - t0;
		if (devs[k].t_done - t0 > R.ingest_done_s)
			R.ingest_done_s = devs[k].t_done - t0;
		R.ingest_retries += devs[k].retries;
		if (store_q(devs[k].s, "SELECT count(*) FROM local_outbox WHERE "
		    "status <> 'acked'", NULL) != 0) {
			bwarn("device %s: entries not acked after the ingest",
			    devs[k].name);
			rc = RK_EIO;
			goto out;
		}
	}
	R.ingest_s = tmax;
	n = hub_q(h, "SELECT count(*) FROM visits");
	if (n - hub_before != (int64_t)big->n) {
		bwarn("ingest: the hub holds %" PRId64 " new visits, not %zu",
		    n - hub_before, big->n);
		rc = RK_EIO;
		goto out;
	}
	R.big_n = big->n;
	R.big_ndev = ndev;
	if ((rc = run_ingest_whatif(h, devs, ndev)) != 0)
		goto out;
	for (k = 0; k < ndev; k++)
		dev_close(&devs[k]);

	/* Initial sync: R2 straight (timed), R1 through the relay (bytes). */
	bnote("  initial sync of a fresh device...\n");
	loadavg(R.init_load);
	opened_r2 = 1;
	if ((rc = dev_open(&r2, base, "R2", h->port, 0)) != 0)
		goto out;
	perf_start("initial");
	c0 = cpu_s();
	if ((rc = dev_enroll(&r2, h, "nurse-200", &t0)) != 0 ||
	    (rc = dev_wait(&r2, 1, NULL, &t1, NULL)) != 0) {
		perf_stop();
		goto out;
	}
	R.init_cpu = cpu_s() - c0;
	perf_stop();
	R.init_s = t1 - t0;
	opened_r1 = 1;
	if ((rc = dev_open(&r1, base, "R1", h->port, 1)) != 0)
		goto out;
	px_snap(r1.px, p0);
	if ((rc = dev_enroll(&r1, h, "nurse-200", &t0)) != 0 ||
	    (rc = dev_wait(&r1, 1, NULL, &t1, NULL)) != 0)
		goto out;
	px_snap(r1.px, p1);
	px_diff(p0, p1, R.init);
	R.init_px_s = t1 - t0;
	n = store_q(r2.s, "SELECT count(*) FROM visits", NULL);
	if (n != (int64_t)big->n) {
		bwarn("initial sync: the fresh device has %" PRId64 " visits, "
		    "not %zu", n, big->n);
		rc = RK_EIO;
		goto out;
	}
	for (i = 0; i < big->nrooms; i++) {
		char hh[65], d1[65], d2[65];

		if (store_hash(h->s, big->rooms[i], hh) != 0 ||
		    store_hash(r1.s, big->rooms[i], d1) != 0 ||
		    store_hash(r2.s, big->rooms[i], d2) != 0 ||
		    strcmp(hh, d1) != 0 || strcmp(hh, d2) != 0) {
			bwarn("initial sync: room %s differs from the hub's",
			    big->rooms[i]);
			rc = RK_EIO;
			goto out;
		}
	}
	R.big_run = 1;
out:
	if (devs != NULL)
		for (k = 0; k < ndev; k++)
			dev_close(&devs[k]);
	if (opened_r1)
		dev_close(&r1);
	if (opened_r2)
		dev_close(&r2);
	free(devs);
	free(staff);
	free(th);
	free(fill);
	return rc;
}

/* ---- scenario: the ceiling ------------------------------------------------- */

/* ds's rows into a fresh plain SQLite file, per_tx rows a transaction;
 * authors as the ingest maps them (ndev devices), or one (ndev 0). */
static int
run_plain(const char *base, const struct dataset *big, size_t per_tx,
    unsigned ndev, double *secs)
{
	static const char sql[] = "INSERT INTO visits (room_id, id, author, "
	    "visited_at, bp_sys, bp_dia, pulse, temp, spo2, resp, weight, note, "
	    "hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, ?10, "
	    "?11)";
	struct rk_why why = { "" };
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct hlc hc = { 0 };
	char path[PATH_MAX + 128], id[ID_LEN + 1], author[16];
	double t0;
	size_t i;
	int rc = RK_EDB;

	snprintf(path, sizeof(path), "%s/plain.db", base);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA page_size = 4096; PRAGMA cache_size = -65536; PRAGMA journal_mode ="
	    " WAL; PRAGMA synchronous = FULL;", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		bwarn("ceiling: %s", db ? sqlite3_errmsg(db) : "open");
		goto out;
	}
	if (schema_migrate(db, &why) != 0) {
		bwarn("ceiling: %s", why.text);
		goto out;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	t0 = now_s();
	for (i = 0; i < big->n; i++) {
		const struct visit *v = &big->v[i];
		long ri = room_index(big, v->room);

		if (i % per_tx == 0 && sqlite3_exec(db, "BEGIN IMMEDIATE",
		    NULL, NULL, NULL) != SQLITE_OK)
			break;
		id_new(NULL, id);
		if (ndev > 0)
			snprintf(author, sizeof(author), "nurse-%03u",
			    101 + (unsigned)((size_t)ri % ndev));
		else
			snprintf(author, sizeof(author), "nurse-011");
		sqlite3_bind_text(st, 1, v->room, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, author, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, v->at);
		sqlite3_bind_int64(st, 5, v->bp_sys);
		sqlite3_bind_int64(st, 6, v->bp_dia);
		sqlite3_bind_int64(st, 7, v->pulse);
		sqlite3_bind_double(st, 8, v->temp);
		sqlite3_bind_int64(st, 9, v->spo2);
		sqlite3_bind_text(st, 10, v->body, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 11, (sqlite3_int64)hlc_now(&hc,
		    v->at));
		if (sqlite3_step(st) != SQLITE_DONE)
			break;
		sqlite3_reset(st);
		if ((i + 1) % per_tx == 0 || i + 1 == big->n)
			if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) !=
			    SQLITE_OK)
				break;
	}
	*secs = now_s() - t0;
	if (i != big->n) {
		bwarn("ceiling: %s", sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	{
		static const char *const sfx[] = { "", "-wal", "-shm" };
		char f[PATH_MAX + 160];
		int k;

		for (k = 0; k < 3; k++) {
			snprintf(f, sizeof(f), "%s%s", path, sfx[k]);
			unlink(f);
		}
	}
	return rc;
}

/* ---- envelope analysis ---------------------------------------------------- */

struct oentry {
	int64_t seq, env_first, env_last;
	char room[65];
	uint8_t *cs;
	size_t n;
	uint64_t hlc;
	int ver;
};

struct group {
	char room[65];
	int64_t first, last;
	uint64_t hlc;
	int ver;
	void *cs;		/* merged, sqlite3_malloc'd */
	int n;
	size_t entries;
};

static void
groups_free(struct group *g, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sqlite3_free(g[i].cs);
	free(g);
}

static void
oentries_free(struct oentry *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(e[i].cs);
	free(e);
}

/*
 * sync_build_envelope builds an envelope of entries waiting for the hub;
 * to rebuild those already acked, the analysis shows them as pending
 * inside a transaction it rolls back (on: BEGIN and mark; off: ROLLBACK).
 * Under the store lock.
 */
static int
outbox_as_pending(sqlite3 *db, int on)
{
	if (!on)
		return sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) ==
		    SQLITE_OK ? 0 : RK_EDB;
	if (sqlite3_exec(db, "BEGIN; UPDATE local_outbox SET status = "
	    "'pending' WHERE status = 'acked'", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	bwarn("outbox: %s", sqlite3_errmsg(db));
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return RK_EDB;
}

/* Every outbox entry of s, in seq order (takes the store lock). */
static int
outbox_load(struct store *s, struct oentry **out, size_t *nout)
{
	sqlite3_stmt *st = NULL;
	struct oentry *e = NULL, *nx, *x;
	size_t ne = 0, cap = 0;
	int rc = 0;

	store_lock(s);
	/* An entry's envelope: the last range of its room from at or
	 * before it, if it reaches that far. */
	if (sqlite3_prepare_v2(store_db(s), "SELECT o.seq, o.room_id, "
	    "o.changeset, o.hlc, o.schema_version, e.env_first, e.env_last "
	    "FROM local_outbox o LEFT JOIN local_outbox_envelopes e ON "
	    "e.env_first = (SELECT max(env_first) FROM local_outbox_envelopes "
	    "WHERE room_id = o.room_id AND env_first <= o.seq) AND "
	    "e.env_last >= o.seq ORDER BY o.seq", -1, &st, NULL) != SQLITE_OK)
		rc = RK_EDB;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		if (ne == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((nx = realloc(e, cap * sizeof(*e))) == NULL) {
				rc = RK_ENOMEM;
				break;
			}
			e = nx;
		}
		x = &e[ne];
		memset(x, 0, sizeof(*x));
		x->seq = sqlite3_column_int64(st, 0);
		snprintf(x->room, sizeof(x->room), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		x->n = (size_t)sqlite3_column_bytes(st, 2);
		x->hlc = (uint64_t)sqlite3_column_int64(st, 3);
		x->ver = sqlite3_column_int(st, 4);
		x->env_first = sqlite3_column_int64(st, 5);
		x->env_last = sqlite3_column_int64(st, 6);
		if ((x->cs = malloc(x->n ? x->n : 1)) == NULL) {
			rc = RK_ENOMEM;
			break;
		}
		memcpy(x->cs, sqlite3_column_blob(st, 2), x->n);
		ne++;
	}
	sqlite3_finalize(st);
	store_unlock(s);
	if (rc != 0) {
		oentries_free(e, ne);
		return rc;
	}
	*out = e;
	*nout = ne;
	return 0;
}

/* Merges entries idx[0..k) (one room, seq order) into g. */
static int
group_merge(const struct oentry *e, const size_t *idx, size_t k,
    struct group *g)
{
	sqlite3_changegroup *cg = NULL;
	size_t i;
	int rc = RK_EDB;

	memset(g, 0, sizeof(*g));
	if (sqlite3changegroup_new(&cg) != SQLITE_OK)
		return RK_ENOMEM;
	for (i = 0; i < k; i++)
		if (sqlite3changegroup_add(cg, (int)e[idx[i]].n,
		    e[idx[i]].cs) != SQLITE_OK)
			goto out;
	if (sqlite3changegroup_output(cg, &g->n, &g->cs) != SQLITE_OK)
		goto out;
	snprintf(g->room, sizeof(g->room), "%s", e[idx[0]].room);
	g->first = e[idx[0]].seq;
	g->last = e[idx[k - 1]].seq;
	g->hlc = e[idx[k - 1]].hlc;
	g->ver = e[idx[k - 1]].ver;
	g->entries = k;
	rc = 0;
out:
	sqlite3changegroup_delete(cg);
	return rc;
}

/* The push answer hub.c would give for these ranges (its JSON layout). */
static size_t
answer_len(const char *origin, const int64_t *first, const int64_t *last,
    size_t n, int64_t hub_seq0)
{
	json_t *arr = json_array(), *o;
	char *s;
	size_t i, len;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:s, "
		    "s:I}", "origin", origin, "seq_first", (json_int_t)first[i],
		    "seq_last", (json_int_t)last[i], "status", "applied",
		    "hub_seq", (json_int_t)(hub_seq0 + (int64_t)i)));
	o = json_pack("{s:o, s:b}", "results", arr, "root", 1);
	s = json_dumps(o, JSON_COMPACT);
	len = s ? strlen(s) : 0;
	free(s);
	json_decref(o);
	return len;
}

/* The pull response body hub_pull would send for these changesets. */
static int
pull_len(const char *const *rooms, void *const *cs, const int *ns, size_t n,
    int64_t hub_seq0, const uint8_t sk[64], size_t *len)
{
	struct pull_writer *w = NULL;
	struct buf b = BUF_INIT;
	size_t i;
	int rc;

	if ((rc = pull_writer_new((uint64_t)(hub_seq0 + (int64_t)n),
	    (uint64_t)(hub_seq0 + (int64_t)n), "{\"snapshot\":[],\"purge\":[]}",
	    &w)) != 0)
		return rc;
	for (i = 0; i < n; i++)
		if ((rc = pull_writer_add(w, (uint64_t)(hub_seq0 + (int64_t)i),
		    rooms[i], cs[i], (size_t)ns[i])) != 0) {
			pull_writer_free(w);
			return rc;
		}
	if ((rc = pull_writer_finish(w, sk, &b)) == 0)
		*len = b.len;
	buf_release(&b);
	return rc;
}

/* zstd frame bytes of src at level 19 with cd (NULL: no dictionary) or
 * the raw-content prefix (pre, plen). */
static size_t
zframe(ZSTD_CCtx *cc, const ZSTD_CDict *cd, const void *pre, size_t plen,
    const void *src, size_t n, uint8_t *dst, size_t cap)
{
	size_t r;

	ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel,
	    n <= 64 * 1024 ? 19 : 3);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_dictIDFlag, 0);
	if (cd != NULL)
		ZSTD_CCtx_refCDict(cc, cd);
	else if (pre != NULL)
		ZSTD_CCtx_refPrefix(cc, pre, plen);
	r = ZSTD_compress2(cc, dst, cap, n > 0 ? src : (const void *)"", n);
	return ZSTD_isError(r) ? 0 : r;
}

/* Changesets of visits of records not in the nurse day, captured by a
 * session as a device's store does; *out[i] malloc'd. */
static int
train_samples(const struct dataset *big, const struct dataset *day,
    unsigned ndev, uint8_t ***out, size_t **sizes, size_t *nout)
{
	static const char sql[] = "INSERT INTO visits (room_id, id, author, "
	    "visited_at, bp_sys, bp_dia, pulse, temp, spo2, resp, weight, note, "
	    "hlc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, ?10, "
	    "?11)";
	struct rk_why why = { "" };
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct hlc hc = { 0 };
	uint8_t **cs = NULL;
	size_t *ns = NULL, i, j, k = 0;
	char id[ID_LEN + 1], author[16];
	int rc = RK_EDB;

	if ((cs = calloc(B_TRAIN_MAX, sizeof(*cs))) == NULL ||
	    (ns = calloc(B_TRAIN_MAX, sizeof(*ns))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
	    schema_migrate(db, &why) != 0 ||
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	for (i = big->n; i > 0 && k < B_TRAIN_MAX; i--) {
		const struct visit *v = &big->v[i - 1];
		sqlite3_session *sess = NULL;
		void *p = NULL;
		int n = 0, dup = 0;

		for (j = 0; j < day->n && !dup; j++)
			dup = strcmp(day->v[j].body, v->body) == 0;
		if (dup)
			continue;
		if (sqlite3session_create(db, "main", &sess) != SQLITE_OK ||
		    sqlite3session_attach(sess, "visits") != SQLITE_OK) {
			sqlite3session_delete(sess);
			goto out;
		}
		id_new(NULL, id);
		snprintf(author, sizeof(author), "nurse-%03u", 101 +
		    (unsigned)((size_t)room_index(big, v->room) % ndev));
		sqlite3_bind_text(st, 1, v->room, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, author, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, v->at);
		sqlite3_bind_int64(st, 5, v->bp_sys);
		sqlite3_bind_int64(st, 6, v->bp_dia);
		sqlite3_bind_int64(st, 7, v->pulse);
		sqlite3_bind_double(st, 8, v->temp);
		sqlite3_bind_int64(st, 9, v->spo2);
		sqlite3_bind_text(st, 10, v->body, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 11, (sqlite3_int64)hlc_now(&hc,
		    (int64_t)time(NULL) * 1000));
		if (sqlite3_step(st) != SQLITE_DONE ||
		    sqlite3session_changeset(sess, &n, &p) != SQLITE_OK) {
			sqlite3session_delete(sess);
			goto out;
		}
		sqlite3_reset(st);
		sqlite3session_delete(sess);
		if ((cs[k] = malloc((size_t)n)) == NULL) {
			sqlite3_free(p);
			rc = RK_ENOMEM;
			goto out;
		}
		memcpy(cs[k], p, (size_t)n);
		ns[k++] = (size_t)n;
		sqlite3_free(p);
	}
	*out = cs;
	*sizes = ns;
	*nout = k;
	cs = NULL;
	ns = NULL;
	rc = 0;
out:
	if (cs != NULL)
		for (i = 0; i < k; i++)
			free(cs[i]);
	free(cs);
	free(ns);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* A dictionary of cap bytes trained on the samples; *dict malloc'd. */
static int
train_dict(uint8_t **cs, const size_t *ns, size_t n, size_t cap,
    uint8_t **dict, size_t *len)
{
	uint8_t *flat, *d;
	size_t total = 0, i, r;

	for (i = 0; i < n; i++)
		total += ns[i];
	if ((flat = malloc(total ? total : 1)) == NULL ||
	    (d = malloc(cap)) == NULL) {
		free(flat);
		return RK_ENOMEM;
	}
	for (i = 0, total = 0; i < n; i++) {
		memcpy(flat + total, cs[i], ns[i]);
		total += ns[i];
	}
	r = ZDICT_trainFromBuffer(d, cap, flat, ns, (unsigned)n);
	free(flat);
	if (ZDICT_isError(r)) {
		bwarn("ZDICT_trainFromBuffer: %s", ZDICT_getErrorName(r));
		free(d);
		return RK_EINVAL;
	}
	*dict = d;
	*len = r;
	return 0;
}

static int
run_envelopes(struct day *y, const struct dataset *big,
    const struct dataset *day, unsigned ndev)
{
	sqlite3 *db = store_db(y->a.s);
	struct oentry *e = NULL;
	struct group *cur = NULL, *per = NULL;
	struct buf env = BUF_INIT;
	size_t ne = 0, ncur = 0, nper = 0, i, j, k;
	size_t *idx = NULL, zcap = 1 << 20;
	uint8_t **ts = NULL, *dict16 = NULL, *dict64 = NULL, *zb = NULL;
	size_t *tn = NULL, nts = 0, d16 = 0, d64 = 0, plen = 0;
	const uint8_t *v1;
	ZSTD_CCtx *cc = NULL;
	ZSTD_CDict *cd16 = NULL, *cd64 = NULL, *cdp64 = NULL;
	uint8_t hub_sk[64], hub_pk[32];
	int64_t *firsts = NULL, *lasts = NULL;
	const char **rooms = NULL;
	void **css = NULL;
	int *nss = NULL, rc = RK_EDB;
	uint64_t raw_total = 0;

	crypto_sign_keypair(hub_pk, hub_sk);
	/* A's outbox: the day's entries, all acked now. */
	if ((rc = outbox_load(y->a.s, &e, &ne)) != 0)
		goto out;
	for (i = 0; i < ne; i++)
		raw_total += e[i].n;
	store_lock(y->a.s);
	if ((rc = outbox_as_pending(db, 1)) != 0) {
		store_unlock(y->a.s);
		goto out;
	}
	rc = RK_EDB;
	/* The envelopes as pushed: exactly what the engine built. */
	for (i = 0; i < ne; i++) {
		struct sync_range r;

		/* An envelope's first entry is the one at env_first (its
		 * entries need not be consecutive: one room's, in seq order). */
		if (e[i].seq != e[i].env_first)
			continue;
		memset(&r, 0, sizeof(r));
		r.first = e[i].env_first;
		r.last = e[i].env_last;
		snprintf(r.room, sizeof(r.room), "%s", e[i].room);
		snprintf(r.origin, sizeof(r.origin), "%s", y->a.id);
		env.len = 0;
		if ((rc = sync_build_envelope(db, &r, y->a.k->sign_sk,
		    &env)) != 0) {
			(void)outbox_as_pending(db, 0);
			store_unlock(y->a.s);
			goto out;
		}
		R.env_cur_body += 4 + env.len;
		R.env_cur_n++;
	}
	rc = outbox_as_pending(db, 0);
	store_unlock(y->a.s);
	if (rc != 0)
		goto out;
	if (ne == 0)
		goto out;

	/* Merged changesets: as grouped now (consecutive seqs of a room), and
	 * per room (every entry of a room in seq order, in chunks of
	 * SYNC_ENV_MAX_ENTRIES / SYNC_ENV_MAX_RAW). */
	if ((idx = calloc(ne, sizeof(*idx))) == NULL ||
	    (cur = calloc(ne, sizeof(*cur))) == NULL ||
	    (per = calloc(ne, sizeof(*per))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	ncur = 0;
	for (i = 0; i < ne; i++) {
		if (e[i].seq != e[i].env_first)
			continue;
		for (j = i, k = 0; j < ne && e[j].seq <= e[i].env_last; j++)
			if (e[j].env_first == e[i].env_first &&
			    strcmp(e[j].room, e[i].room) == 0)
				idx[k++] = j;
		if ((rc = group_merge(e, idx, k, &cur[ncur])) != 0)
			goto out;
		ncur++;
	}
	{
		unsigned char *done = calloc(ne, 1);

		if (done == NULL) {
			rc = RK_ENOMEM;
			goto out;
		}
		for (i = 0; i < ne; i++) {
			size_t bytes = 0;

			if (done[i])
				continue;
			for (j = i, k = 0; j < ne; j++) {
				if (done[j] || strcmp(e[j].room, e[i].room) != 0)
					continue;
				if (k == SYNC_ENV_MAX_ENTRIES ||
				    (k > 0 && bytes + e[j].n > SYNC_ENV_MAX_RAW))
					break;
				idx[k++] = j;
				bytes += e[j].n;
				done[j] = 1;
			}
			if ((rc = group_merge(e, idx, k, &per[nper])) != 0) {
				free(done);
				goto out;
			}
			nper++;
		}
		free(done);
	}
	R.env_room_n = nper;
	for (i = 0; i < nper; i++) {
		struct envelope ev;

		memset(&ev, 0, sizeof(ev));
		snprintf(ev.origin, sizeof(ev.origin), "%s", y->a.id);
		snprintf(ev.room, sizeof(ev.room), "%s", per[i].room);
		ev.seq_first = (uint64_t)per[i].first;
		ev.seq_last = (uint64_t)per[i].last;
		ev.schema_version = (uint16_t)per[i].ver;
		ev.hlc = per[i].hlc;
		ev.changeset = per[i].cs;
		ev.changeset_len = (size_t)per[i].n;
		env.len = 0;
		if ((rc = envelope_encode(&ev, y->a.k->sign_sk, &env)) != 0)
			goto out;
		R.env_room_body += 4 + env.len;
	}

	/* Push answers and pull responses each grouping causes. */
	k = ncur > nper ? ncur : nper;
	if ((firsts = calloc(k, sizeof(*firsts))) == NULL ||
	    (lasts = calloc(k, sizeof(*lasts))) == NULL ||
	    (rooms = calloc(k, sizeof(*rooms))) == NULL ||
	    (css = calloc(k, sizeof(*css))) == NULL ||
	    (nss = calloc(k, sizeof(*nss))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	for (i = 0; i < ncur; i++) {
		firsts[i] = cur[i].first;
		lasts[i] = cur[i].last;
		rooms[i] = cur[i].room;
		css[i] = cur[i].cs;
		nss[i] = cur[i].n;
	}
	R.env_cur_resp = answer_len(y->a.id, firsts, lasts, ncur, 1000);
	if ((rc = pull_len(rooms, css, nss, ncur, 1000, hub_sk, &k)) != 0)
		goto out;
	R.pull_cur_body = k;
	for (i = 0; i < nper; i++) {
		firsts[i] = per[i].first;
		lasts[i] = per[i].last;
		rooms[i] = per[i].room;
		css[i] = per[i].cs;
		nss[i] = per[i].n;
	}
	R.env_room_resp = answer_len(y->a.id, firsts, lasts, nper, 1000);
	if ((rc = pull_len(rooms, css, nss, nper, 1000, hub_sk, &k)) != 0)
		goto out;
	R.pull_room_body = k;

	/* A trained dictionary: frames of the same changesets, swapped in
	 * for those of dictionary v1 (envelopes) or none (pulls). */
	if ((rc = train_samples(big, day, ndev, &ts, &tn, &nts)) != 0 ||
	    (rc = train_dict(ts, tn, nts, 16 * 1024, &dict16, &d16)) != 0 ||
	    (rc = train_dict(ts, tn, nts, 64 * 1024, &dict64, &d64)) != 0)
		goto out;
	if ((cc = ZSTD_createCCtx()) == NULL || (zb = malloc(zcap)) == NULL ||
	    (cd16 = ZSTD_createCDict(dict16, d16, 19)) == NULL ||
	    (cd64 = ZSTD_createCDict(dict64, d64, 19)) == NULL ||
	    (cdp64 = ZSTD_createCDict(dict64, d64, 3)) == NULL ||
	    (v1 = envelope_dict(ENVELOPE_DICT_V1, &plen)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	R.env_cur_t16 = R.env_cur_t64 = R.env_cur_body;
	R.pull_cur_t64 = R.pull_cur_body;
	for (i = 0; i < ncur; i++) {
		size_t zv1 = zframe(cc, NULL, v1, plen, cur[i].cs,
		    (size_t)cur[i].n, zb, zcap);
		size_t zno = zframe(cc, NULL, NULL, 0, cur[i].cs,
		    (size_t)cur[i].n, zb, zcap);
		size_t z16 = zframe(cc, cd16, NULL, 0, cur[i].cs,
		    (size_t)cur[i].n, zb, zcap);
		size_t z64 = zframe(cc, cd64, NULL, 0, cur[i].cs,
		    (size_t)cur[i].n, zb, zcap);

		R.env_cur_t16 = R.env_cur_t16 - zv1 + z16;
		R.env_cur_t64 = R.env_cur_t64 - zv1 + z64;
		R.pull_cur_t64 = R.pull_cur_t64 - zno + z64;
	}
	R.env_room_t16 = R.env_room_t64 = R.env_room_body;
	R.pull_room_t64 = R.pull_room_body;
	for (i = 0; i < nper; i++) {
		size_t zv1 = zframe(cc, NULL, v1, plen, per[i].cs,
		    (size_t)per[i].n, zb, zcap);
		size_t zno = zframe(cc, NULL, NULL, 0, per[i].cs,
		    (size_t)per[i].n, zb, zcap);
		size_t z16 = zframe(cc, cd16, NULL, 0, per[i].cs,
		    (size_t)per[i].n, zb, zcap);
		size_t z64 = zframe(cc, cd64, NULL, 0, per[i].cs,
		    (size_t)per[i].n, zb, zcap);

		R.env_room_t16 = R.env_room_t16 - zv1 + z16;
		R.env_room_t64 = R.env_room_t64 - zv1 + z64;
		R.pull_room_t64 = R.pull_room_t64 - zno + z64;
	}
	printf("  outbox of A: %zu entries, %.0f raw changeset bytes each on "
	    "average; %zu training changesets (records not in the day), "
	    "dictionaries %zu and %zu bytes\n", ne, (double)raw_total /
	    (double)ne, nts, d16, d64);
	R.env_run = 1;
	rc = 0;
out:
	for (i = 0; i < ne; i++)
		free(e[i].cs);
	free(e);
	free(idx);
	if (cur != NULL)
		groups_free(cur, ncur);
	if (per != NULL)
		groups_free(per, nper);
	buf_release(&env);
	for (i = 0; i < nts; i++)
		free(ts[i]);
	free(ts);
	free(tn);
	free(dict16);
	free(dict64);
	free(zb);
	ZSTD_freeCCtx(cc);
	ZSTD_freeCDict(cd16);
	ZSTD_freeCDict(cd64);
	ZSTD_freeCDict(cdp64);
	free(firsts);
	free(lasts);
	free(rooms);
	free(css);
	free(nss);
	return rc;
}

/* ---- replays of the device's steps, unit costs ------------------------------- */

static int
rp_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		bwarn("%s: %s", sql, err ? err : "?");
		sqlite3_free(err);
		return RK_EDB;
	}
	return 0;
}

/* The hub's rule for its own stream on a device: what is received wins. */
static int
rp_conflict(void *arg, int kind, sqlite3_changeset_iter *it)
{
	(void)arg;
	(void)it;
	return kind == SQLITE_CHANGESET_DATA ||
	    kind == SQLITE_CHANGESET_CONFLICT ? SQLITE_CHANGESET_REPLACE :
	    SQLITE_CHANGESET_OMIT;
}

/*
 * Device A's push steps and device B's pull steps of round 1, re-run on
 * copies of their replicas opened with store_open (the same encrypting VFS,
 * settings and fsyncs), beside the changes proposed for them; and unit
 * costs of signing and compressing.
 */
static int
run_replays(struct hubctx *h, struct day *y, int first)
{
	sqlite3 *ca = NULL, *cb1 = NULL, *cb2 = NULL;
	struct store *sa = NULL, *sb1 = NULL, *sb2 = NULL;
	char apre[PATH_MAX + 160], arun[PATH_MAX + 200];
	char b1run[PATH_MAX + 200], b2run[PATH_MAX + 200];
	sqlite3_stmt *st = NULL;
	sqlite3_changegroup *cg = NULL;
	struct sync_range *ranges = NULL;
	struct buf env = BUF_INIT, all = BUF_INIT;
	struct pull_response pr;
	struct sync_batch b;
	struct rk_why why = { "" };
	json_t *arr = NULL, *ans = NULL;
	ZSTD_CCtx *cc = NULL;
	uint8_t **cs = NULL, *zb = NULL, sig[64], msg[400];
	size_t *ns = NULL, ncs = 0, n = 0, i, zcap = 1 << 22, plen = 0, z;
	size_t *lens = NULL;
	const uint8_t *v1;
	void *merged = NULL;
	int nmerged = 0, rc, k;
	int64_t refused = 0, deferred = 0, left;
	char reason[256];
	double t0, sz;

	memset(&pr, 0, sizeof(pr));
	/* A: assign ranges, build envelopes, record the answer. */
	snprintf(apre, sizeof(apre), "%s/replay-pre.db", y->a.dir);
	store_lock(y->a.s);
	rc = db_copy_file(store_db(y->a.s), y->a.vfsname, apre);
	store_unlock(y->a.s);
	if (rc != 0 || (rc = store_scratch(apre, y->a.vfsname, y->a.id, 0, 0,
	    &sa, arun, sizeof(arun))) != 0)
		goto out;
	ca = store_db(sa);
	if ((rc = rp_exec(ca, "UPDATE local_outbox SET status = 'pending', "
	    "acked_hub_seq = NULL; DELETE FROM local_outbox_envelopes")) != 0)
		goto out;
	t0 = now_s();
	if ((rc = sync_assign_ranges(ca, SYNC_ENV_MAX_ENTRIES,
	    SYNC_ENV_MAX_RAW)) != 0)
		goto out;
	min_into(&R.rp_assign_s, now_s() - t0, first);
	if ((rc = sync_pending_ranges(ca, &ranges, &n)) != 0)
		goto out;
	R.rp_nranges = n;
	/* As the engine does: one walk over the outbox for all of them. */
	if ((lens = calloc(n ? n : 1, sizeof(*lens))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	t0 = now_s();
	env.len = 0;
	if ((rc = sync_build_envelopes(ca, ranges, n, y->a.k->sign_sk, &env,
	    lens)) != 0)
		goto out;
	min_into(&R.rp_build_s, now_s() - t0, first);
	if ((arr = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:s, s:I}",
		    "origin", ranges[i].origin, "seq_first",
		    (json_int_t)ranges[i].first, "seq_last",
		    (json_int_t)ranges[i].last, "status", "applied", "hub_seq",
		    (json_int_t)(1000 + i)));
	if ((ans = json_pack("{s:O, s:b}", "results", arr, "root", 1)) ==
	    NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	t0 = now_s();
	if ((rc = sync_push_results(ca, ans, &refused, &deferred, reason,
	    sizeof(reason), &why)) != 0) {
		bwarn("replay: sync_push_results: %s", why.text);
		goto out;
	}
	min_into(&R.rp_results_s, now_s() - t0, first);
	/* The entries' part, where no echo does it (a failed pull: the next
	 * push settles). */
	t0 = now_s();
	if ((rc = sync_settle(ca)) != 0) {
		bwarn("replay: sync_settle: %d", rc);
		goto out;
	}
	min_into(&R.rp_settle_s, now_s() - t0, first);
	/* The same as one UPDATE per envelope over its seq range (the
	 * range spans the other rooms' entries too). */
	if ((rc = rp_exec(ca, "UPDATE local_outbox SET status = 'pending', "
	    "acked_hub_seq = NULL")) != 0)
		goto out;
	t0 = now_s();
	if ((rc = rp_exec(ca, "BEGIN IMMEDIATE")) != 0)
		goto out;
	if (sqlite3_prepare_v2(ca, "UPDATE local_outbox SET status = 'acked',"
	    " acked_hub_seq = ?1 WHERE seq BETWEEN ?3 AND ?4 AND origin = ?2"
	    " AND room_id = ?5 AND status = 'pending'", -1,
	    &st, NULL) != SQLITE_OK) {
		rc = RK_EDB;
		goto out;
	}
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)(1000 + i));
		sqlite3_bind_text(st, 2, ranges[i].origin, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, ranges[i].first);
		sqlite3_bind_int64(st, 4, ranges[i].last);
		sqlite3_bind_text(st, 5, ranges[i].room, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = RK_EDB;
			goto out;
		}
		sqlite3_reset(st);
	}
	if ((rc = rp_exec(ca, "COMMIT")) != 0)
		goto out;
	min_into(&R.rp_results_idx_s, now_s() - t0, first);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(ca, "SELECT count(*) FROM local_outbox WHERE "
	    "status = 'pending'", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = RK_EDB;
		goto out;
	}
	left = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (left != 0) {
		bwarn("replay: the keyed UPDATE left %" PRId64 " entries",
		    left);
		rc = RK_EIO;
		goto out;
	}

	/* A's changesets for the unit costs. */
	if (sqlite3_prepare_v2(ca, "SELECT changeset FROM local_outbox ORDER "
	    "BY seq", -1, &st, NULL) != SQLITE_OK) {
		rc = RK_EDB;
		goto out;
	}
	if ((cs = calloc(R.day_n + 1, sizeof(*cs))) == NULL ||
	    (ns = calloc(R.day_n + 1, sizeof(*ns))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while (ncs < R.day_n && sqlite3_step(st) == SQLITE_ROW) {
		ns[ncs] = (size_t)sqlite3_column_bytes(st, 0);
		if ((cs[ncs] = malloc(ns[ncs] ? ns[ncs] : 1)) == NULL) {
			rc = RK_ENOMEM;
			goto out;
		}
		memcpy(cs[ncs], sqlite3_column_blob(st, 0), ns[ncs]);
		ncs++;
	}
	sqlite3_finalize(st);
	st = NULL;

	/* B: decode and apply the pull answer it got. */
	if (y->b_pre[0] != '\0' && y->pull_body.len > 0) {
		char h1[65], h2[65], hh[65];

		t0 = now_s();
		if ((rc = pull_decode(y->pull_body.data, y->pull_body.len,
		    h->k->sign_pk, &pr)) != 0) {
			bwarn("replay: pull_decode: %s", rk_strerror(rc));
			goto out;
		}
		min_into(&R.rp_decode_s, now_s() - t0, first);
		R.rp_pull_entries = pr.count;
		if ((rc = store_scratch(y->b_pre, y->b.vfsname, y->b.id, 0, 1,
		    &sb1, b1run, sizeof(b1run))) != 0 ||
		    (rc = store_scratch(y->b_pre, y->b.vfsname, y->b.id, 0, 2,
		    &sb2, b2run, sizeof(b2run))) != 0)
			goto out;
		cb1 = store_db(sb1);
		cb2 = store_db(sb2);
		memset(&b, 0, sizeof(b));
		b.pull = &pr;
		b.set_cursor = 1;
		b.cursor = pr.next_cursor;
		b.head = pr.head;
		t0 = now_s();
		if ((rc = sync_apply_batch(cb1, &b, &why)) != 0) {
			bwarn("replay: sync_apply_batch: %s", why.text);
			goto out;
		}
		min_into(&R.rp_apply_s, now_s() - t0, first);
		/* The entries merged into one changeset, applied once. */
		t0 = now_s();
		if (sqlite3changegroup_new(&cg) != SQLITE_OK) {
			rc = RK_ENOMEM;
			goto out;
		}
		for (i = 0; i < pr.count; i++)
			if (sqlite3changegroup_add(cg,
			    (int)pr.entries[i].changeset_len,
			    pr.entries[i].changeset) != SQLITE_OK) {
				rc = RK_EDB;
				goto out;
			}
		if (sqlite3changegroup_output(cg, &nmerged, &merged) !=
		    SQLITE_OK || (rc = rp_exec(cb2, "BEGIN IMMEDIATE")) != 0 ||
		    sqlite3changeset_apply_v2(cb2, nmerged, merged, NULL,
		    rp_conflict, NULL, NULL, NULL, 0) != SQLITE_OK ||
		    (rc = rp_exec(cb2, "COMMIT")) != 0) {
			bwarn("replay: merged apply: %s", sqlite3_errmsg(cb2));
			rc = RK_EDB;
			goto out;
		}
		min_into(&R.rp_apply_merged_s, now_s() - t0, first);
		for (k = 0; k < B_DAY_ROOMS; k++) {
			if (roomhash_compute(cb1, y->rooms[k], h1) != 0 ||
			    roomhash_compute(cb2, y->rooms[k], h2) != 0 ||
			    store_hash(h->s, y->rooms[k], hh) != 0 ||
			    strcmp(h1, hh) != 0 || strcmp(h2, hh) != 0) {
				bwarn("replay: room %s differs after the "
				    "replayed pull", y->rooms[k]);
				rc = RK_EIO;
				goto out;
			}
		}
		/* The whole answer's entries as one zstd frame. */
		for (i = 0; i < pr.count; i++) {
			const struct pull_entry *e = &pr.entries[i];
			uint8_t hd[8 + 1 + 64 + 4];
			size_t rl = strlen(e->room), o = 0;
			int j;

			for (j = 0; j < 8; j++)
				hd[o++] = (uint8_t)(e->hub_seq >> (8 * j));
			hd[o++] = (uint8_t)rl;
			memcpy(hd + o, e->room, rl);
			o += rl;
			for (j = 0; j < 4; j++)
				hd[o++] = (uint8_t)(e->changeset_len >> (8 * j));
			if ((rc = buf_append(&all, hd, o)) != 0 ||
			    (rc = buf_append(&all, e->changeset,
			    e->changeset_len)) != 0)
				goto out;
		}
	}

	/* Unit costs. */
	if ((cc = ZSTD_createCCtx()) == NULL || (zb = malloc(zcap)) == NULL ||
	    (v1 = envelope_dict(ENVELOPE_DICT_V1, &plen)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	randombytes_buf(msg, sizeof(msg));
	t0 = now_s();
	for (k = 0; k < 1000; k++)
		crypto_sign_detached(sig, NULL, msg, sizeof(msg),
		    y->a.k->sign_sk);
	min_into(&R.u_sign_us, (now_s() - t0) * 1e3, first);
	t0 = now_s();
	for (k = 0; k < 1000; k++)
		if (crypto_sign_verify_detached(sig, msg, sizeof(msg),
		    y->a.k->sign_pk) != 0)
			break;
	min_into(&R.u_verify_us, (now_s() - t0) * 1e3, first);
	{
		/* The first touch of fresh pages: a minor fault each. */
		size_t np = 512, pg = (size_t)sysconf(_SC_PAGESIZE);
		volatile uint8_t *m = mmap(NULL, np * pg, PROT_READ |
		    PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m != MAP_FAILED) {
			t0 = now_s();
			for (k = 0; k < (int)np; k++)
				m[(size_t)k * pg] = 1;
			min_into(&R.u_fault_us, (now_s() - t0) * 1e6 /
			    (double)np, first);
			munmap((void *)m, np * pg);
		}
	}
	if (ncs > 0) {
		t0 = now_s();
		for (i = 0; i < ncs; i++) {
			ZSTD_CCtx *c1 = ZSTD_createCCtx();

			if (c1 == NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			(void)zframe(c1, NULL, v1, plen, cs[i], ns[i], zb, zcap);
			ZSTD_freeCCtx(c1);
		}
		min_into(&R.u_z19_new_us, (now_s() - t0) * 1e6 /
		    (double)ncs, first);
		for (k = 0, sz = 0, t0 = now_s(); k < 1; k++)
			for (i = 0; i < ncs; i++)
				sz += (double)zframe(cc, NULL, v1, plen, cs[i],
				    ns[i], zb, zcap);
		min_into(&R.u_z19_us, (now_s() - t0) * 1e6 /
		    (double)ncs, first);
		R.u_z19_b = sz / (double)ncs;
		for (i = 0, sz = 0, t0 = now_s(); i < ncs; i++) {
			ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
			ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
			ZSTD_CCtx_refPrefix(cc, v1, plen);
			z = ZSTD_compress2(cc, zb, zcap, cs[i], ns[i]);
			sz += ZSTD_isError(z) ? 0 : (double)z;
		}
		min_into(&R.u_z3_us, (now_s() - t0) * 1e6 /
		    (double)ncs, first);
		R.u_z3_b = sz / (double)ncs;
		for (i = 0, sz = 0, t0 = now_s(); i < ncs; i++) {
			ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
			ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
			ZSTD_CCtx_refPrefix(cc, v1, plen);
			z = ZSTD_compress2(cc, zb, zcap, cs[i], ns[i]);
			sz += ZSTD_isError(z) ? 0 : (double)z;
		}
		min_into(&R.u_z1_us, (now_s() - t0) * 1e6 /
		    (double)ncs, first);
		R.u_z1_b = sz / (double)ncs;
	}
	if (all.len > 0 && R.day_n > 0) {
		/* head 24, ctl, count 4, signature 64 */
		double fixed = 24 + 26 + 4 + 64;

		t0 = now_s();
		ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
		z = ZSTD_compress2(cc, zb, zcap, all.data, all.len);
		min_into(&R.pull1_z3_ms, (now_s() - t0) * 1e3, first);
		R.pull1_z3_b = ZSTD_isError(z) ? 0 : ((double)z + fixed) /
		    (double)R.day_n;
		ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 19);
		z = ZSTD_compress2(cc, zb, zcap, all.data, all.len);
		R.pull1_z19_b = ZSTD_isError(z) ? 0 : ((double)z + fixed) /
		    (double)R.day_n;
	}
	R.rp_run = 1;
	rc = 0;
out:
	sqlite3_finalize(st);
	if (sa != NULL)
		scratch_drop(sa, arun);
	if (sb1 != NULL)
		scratch_drop(sb1, b1run);
	if (sb2 != NULL)
		scratch_drop(sb2, b2run);
	unlink(apre);
	sqlite3changegroup_delete(cg);
	sqlite3_free(merged);
	free(ranges);
	buf_release(&env);
	buf_release(&all);
	pull_response_release(&pr);
	json_decref(arr);
	json_decref(ans);
	ZSTD_freeCCtx(cc);
	free(zb);
	for (i = 0; i < ncs; i++)
		free(cs[i]);
	free(cs);
	free(ns);
	free(lens);
	return rc;
}

/* ---- what-if: per-room grouping on the real hub code ------------------------ */


struct wi_res {
	size_t nenv;
	double build_s, z3_s, z19_s, merge_s, sign_s;
	double push_s, pull_s, decode_s, apply_s, pz19_s, pz3_s;
	size_t push_body, answer, pull_body;
	size_t entries;
};

static struct wi_res WI[2];	/* 0: as grouped now, 1: per room */

static void
frame_u32(struct buf *body, size_t n, int *rc)
{
	uint8_t l[4];

	l[0] = (uint8_t)n;
	l[1] = (uint8_t)(n >> 8);
	l[2] = (uint8_t)(n >> 16);
	l[3] = (uint8_t)(n >> 24);
	if (*rc == 0)
		*rc = buf_append(body, l, 4);
}


/* Pushes body into a fresh copy of the hub as A, then pulls as B and
 * applies that on a copy of B's replica. */
static int
wi_run(struct hubctx *h, struct day *y, const char *pre,
    const struct buf *body, struct wi_res *res, int first)
{
	char path[PATH_MAX + 160];
	ZSTD_CCtx *cc = NULL;
	uint8_t *zb = NULL;
	size_t zcap = 1 << 22;
	struct store_opts so;
	struct store *s = NULL;
	struct hub *hb = NULL;
	struct buf pb = BUF_INIT;
	struct pull_response pr;
	struct sync_batch b;
	struct rk_why why = { "" };
	json_t *out = NULL, *v;
	struct store *sb = NULL;
	char brun[PATH_MAX + 200];
	sqlite3 *cb = NULL;
	sqlite3_stmt *st = NULL;
	int64_t cursor = 0;
	double t0;
	char *txt;
	size_t i;
	int rc, k;

	memset(&pr, 0, sizeof(pr));
	snprintf(path, sizeof(path), "%s.run", pre);
	if ((rc = file_copy(pre, path)) != 0) {
		bwarn("what-if: cannot copy %s", pre);
		return rc;
	}
	memset(&so, 0, sizeof(so));
	so.path = path;
	so.vfs = "bench-hub";
	so.origin = B_HUB_ID;
	so.is_hub = 1;
	if ((rc = store_open(&so, &s, &why)) != 0) {
		bwarn("what-if: hub copy: %s", why.text);
		goto out;
	}
	if ((rc = hub_open(s, h->k, NULL, &hb)) != 0)
		goto out;
	t0 = now_s();
	rc = hub_push(hb, y->a.id, body->data, body->len, &out, &why);
	min_into(&res->push_s, now_s() - t0, first);
	if (rc != 0) {
		bwarn("what-if: hub_push: %s", why.text);
		goto out;
	}
	json_array_foreach(json_object_get(out, "results"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "status")) ?
		    json_string_value(json_object_get(v, "status")) : "",
		    "applied") != 0) {
			bwarn("what-if: envelope %zu not applied: %s", i,
			    json_string_value(json_object_get(v, "reason")));
			rc = RK_EIO;
			goto out;
		}
	txt = json_dumps(out, JSON_COMPACT);
	res->answer = txt ? strlen(txt) : 0;
	free(txt);
	res->push_body = body->len;

	/* B pulls from where it stood before the day. */
	if ((rc = store_scratch(y->b_pre, y->b.vfsname, y->b.id, 0, 3, &sb,
	    brun, sizeof(brun))) != 0)
		goto out;
	cb = store_db(sb);
	if (sqlite3_prepare_v2(cb, "SELECT value FROM local_meta WHERE "
	    "key = 'sync_cursor'", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		cursor = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	t0 = now_s();
	rc = hub_pull(hb, y->b.id, (uint64_t)cursor, 0, &pb, &why);
	min_into(&res->pull_s, now_s() - t0, first);
	if (rc != 0) {
		bwarn("what-if: hub_pull: %s", why.text);
		goto out;
	}
	res->pull_body = pb.len;
	t0 = now_s();
	if ((rc = pull_decode(pb.data, pb.len, h->k->sign_pk, &pr)) != 0)
		goto out;
	min_into(&res->decode_s, now_s() - t0, first);
	res->entries = pr.count;
	/* What the hub's per-entry compression costs, at 19 and at 3. */
	if ((cc = ZSTD_createCCtx()) == NULL || (zb = malloc(zcap)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	for (k = 0; k < 2; k++) {
		t0 = now_s();
		for (i = 0; i < pr.count; i++) {
			ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
			ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel,
			    k == 0 && pr.entries[i].changeset_len <= 65536 ?
			    19 : 3);
			(void)ZSTD_compress2(cc, zb, zcap,
			    pr.entries[i].changeset,
			    pr.entries[i].changeset_len);
		}
		min_into(k == 0 ? &res->pz19_s : &res->pz3_s, now_s() - t0,
		    first);
	}
	memset(&b, 0, sizeof(b));
	b.pull = &pr;
	b.set_cursor = 1;
	b.cursor = pr.next_cursor;
	b.head = pr.head;
	t0 = now_s();
	if ((rc = sync_apply_batch(cb, &b, &why)) != 0) {
		bwarn("what-if: sync_apply_batch: %s", why.text);
		goto out;
	}
	min_into(&res->apply_s, now_s() - t0, first);
	for (k = 0; k < B_DAY_ROOMS; k++) {
		char h1[65], h2[65];

		if (roomhash_compute(cb, y->rooms[k], h1) != 0 ||
		    store_hash(h->s, y->rooms[k], h2) != 0 ||
		    strcmp(h1, h2) != 0) {
			bwarn("what-if: room %s differs from the real hub's",
			    y->rooms[k]);
			rc = RK_EIO;
			goto out;
		}
	}
out:
	if (sb != NULL)
		scratch_drop(sb, brun);
	pull_response_release(&pr);
	buf_release(&pb);
	json_decref(out);
	hub_close(hb);
	store_close(s);
	ZSTD_freeCCtx(cc);
	free(zb);
	{
		static const char *const sfx[] = { "", "-wal", "-shm" };
		char f[PATH_MAX + 200];

		for (k = 0; k < 3; k++) {
			snprintf(f, sizeof(f), "%s%s", path, sfx[k]);
			unlink(f);
		}
	}
	return rc;
}

static int
run_whatif(struct hubctx *h, struct day *y)
{
	sqlite3 *db = store_db(y->a.s);
	struct oentry *e = NULL;
	struct group g;
	struct buf body[2] = { BUF_INIT, BUF_INIT }, env = BUF_INIT;
	ZSTD_CCtx *cc = NULL;
	uint8_t *zb = NULL, *done = NULL;
	size_t ne = 0, i, j, k, *idx = NULL, zcap = 1 << 22, plen;
	const uint8_t *v1;
	uint64_t seq = 0;
	double t0;
	uint8_t sig[64];
	int pass;
	int rc = RK_EDB, v;

	memset(&g, 0, sizeof(g));
	if (!W.have || y->b_pre[0] == '\0')
		return 0;
	/* A's outbox, and the envelopes exactly as the engine sent them. */
	if ((rc = outbox_load(y->a.s, &e, &ne)) != 0)
		goto out;
	store_lock(y->a.s);
	rc = outbox_as_pending(db, 1);
	t0 = now_s();
	for (i = 0; i < ne && rc == 0; i++) {
		struct sync_range r;

		/* An envelope's first entry is the one at env_first (its
		 * entries need not be consecutive: one room's, in seq order). */
		if (e[i].seq != e[i].env_first)
			continue;
		memset(&r, 0, sizeof(r));
		r.first = e[i].env_first;
		r.last = e[i].env_last;
		snprintf(r.room, sizeof(r.room), "%s", e[i].room);
		snprintf(r.origin, sizeof(r.origin), "%s", y->a.id);
		env.len = 0;
		if ((rc = sync_build_envelope(db, &r, y->a.k->sign_sk,
		    &env)) == 0) {
			frame_u32(&body[0], env.len, &rc);
			if (rc == 0)
				rc = buf_append(&body[0], env.data, env.len);
		}
		WI[0].nenv++;
	}
	WI[0].build_s = now_s() - t0;
	if (outbox_as_pending(db, 0) != 0 && rc == 0)
		rc = RK_EDB;
	store_unlock(y->a.s);
	if (rc != 0 || ne == 0)
		goto out;

	/* Per room: every entry of a room in seq order, merged, one
	 * envelope per SYNC_ENV_MAX_ENTRIES / SYNC_ENV_MAX_RAW.  Sequence
	 * ranges are renumbered contiguously so that today's hub (which
	 * refuses overlapping ranges) takes them: its work is the same. */
	if ((idx = calloc(ne, sizeof(*idx))) == NULL ||
	    (done = calloc(ne, 1)) == NULL || (zb = malloc(zcap)) == NULL ||
	    (cc = ZSTD_createCCtx()) == NULL ||
	    (v1 = envelope_dict(ENVELOPE_DICT_V1, &plen)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	/* Three passes, the least time of each part counts; the bodies
	 * come from the first. */
	for (pass = 0; pass < 3; pass++) {
		double t_merge = 0, t_enc = 0, t_z3 = 0, t_z19 = 0, t_sign = 0;

		memset(done, 0, ne);
		seq = 0;
		for (i = 0; i < ne; i++) {
			struct envelope ev;
			size_t bytes = 0;

			if (done[i])
				continue;
			for (j = i, k = 0; j < ne; j++) {
				if (done[j] ||
				    strcmp(e[j].room, e[i].room) != 0)
					continue;
				if (k == SYNC_ENV_MAX_ENTRIES || (k > 0 &&
				    bytes + e[j].n > SYNC_ENV_MAX_RAW))
					break;
				idx[k++] = j;
				bytes += e[j].n;
				done[j] = 1;
			}
			t0 = now_s();
			if ((rc = group_merge(e, idx, k, &g)) != 0)
				goto out;
			t_merge += now_s() - t0;
			memset(&ev, 0, sizeof(ev));
			snprintf(ev.origin, sizeof(ev.origin), "%s", y->a.id);
			snprintf(ev.room, sizeof(ev.room), "%s", g.room);
			ev.seq_first = seq + 1;
			ev.seq_last = seq + k;
			seq += k;
			ev.schema_version = (uint16_t)g.ver;
			ev.hlc = g.hlc;
			ev.changeset = g.cs;
			ev.changeset_len = (size_t)g.n;
			env.len = 0;
			t0 = now_s();
			if ((rc = envelope_encode(&ev, y->a.k->sign_sk,
			    &env)) != 0)
				goto out;
			t_enc += now_s() - t0;
			if (pass == 0) {
				frame_u32(&body[1], env.len, &rc);
				if (rc == 0)
					rc = buf_append(&body[1], env.data,
					    env.len);
				if (rc != 0)
					goto out;
				WI[1].nenv++;
			}
			t0 = now_s();
			ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
			ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
			ZSTD_CCtx_refPrefix(cc, v1, plen);
			(void)ZSTD_compress2(cc, zb, zcap, g.cs, (size_t)g.n);
			t_z3 += now_s() - t0;
			t0 = now_s();
			(void)zframe(cc, NULL, v1, plen, g.cs, (size_t)g.n, zb,
			    zcap);
			t_z19 += now_s() - t0;
			t0 = now_s();
			crypto_sign_detached(sig, NULL, env.data, env.len,
			    y->a.k->sign_sk);
			t_sign += now_s() - t0;
			sqlite3_free(g.cs);
			memset(&g, 0, sizeof(g));
		}
		min_into(&WI[1].build_s, t_merge + t_enc, pass == 0);
		min_into(&WI[1].merge_s, t_merge, pass == 0);
		min_into(&WI[1].z3_s, t_z3, pass == 0);
		min_into(&WI[1].z19_s, t_z19, pass == 0);
		min_into(&WI[1].sign_s, t_sign, pass == 0);
	}
	for (k = 0; k < 3; k++)
		for (v = 0; v < 2; v++)
			if ((rc = wi_run(h, y, W.hub_pre[v], &body[v], &WI[v],
			    k == 0)) != 0)
				goto out;
	rc = 0;
out:
	for (i = 0; i < ne; i++)
		free(e[i].cs);
	free(e);
	free(idx);
	free(done);
	free(zb);
	ZSTD_freeCCtx(cc);
	sqlite3_free(g.cs);
	buf_release(&body[0]);
	buf_release(&body[1]);
	buf_release(&env);
	return rc;
}

static void
report_whatif(void)
{
	const struct wi_res *c = &WI[0], *p = &WI[1];
	double n = (double)R.day_n;

	if (c->nenv == 0)
		return;
	printf("\n== what-if: the same day grouped per room, through the real "
	    "hub code (hub_push as A, then hub_pull as B, on copies of the hub "
	    "taken before round 1's push;\n   B's apply on an encrypted copy "
	    "of B; best of 3)\n");
	printf("  %-52s %10s %10s\n", "", "as now", "per room");
	printf("  %-52s %10zu %10zu\n", "envelopes", c->nenv, p->nenv);
	printf("  %-52s %10.1f %10.1f\n", "device: build the envelopes (ms, "
	    "zstd level 19)", c->build_s * 1e3, p->build_s * 1e3);
	printf("  %-52s %10s %10.1f\n", "  of which changegroup merges (ms)",
	    "-", p->merge_s * 1e3);
	printf("  %-52s %10s %10.1f\n", "  zstd of the merged changesets at "
	    "level 19 (ms)", "-", p->z19_s * 1e3);
	printf("  %-52s %10s %10.1f\n", "  the same at level 3 (ms)", "-",
	    p->z3_s * 1e3);
	printf("  %-52s %10s %10.1f\n", "  Ed25519 signatures (ms)", "-",
	    p->sign_s * 1e3);
	printf("  %-52s %10.1f %10.1f\n", "hub_push (ms, incl. its COMMIT)",
	    c->push_s * 1e3, p->push_s * 1e3);
	printf("  %-52s %10.1f %10.1f\n", "push request body B/record",
	    (double)c->push_body / n, (double)p->push_body / n);
	printf("  %-52s %10.1f %10.1f\n", "push answer B/record",
	    (double)c->answer / n, (double)p->answer / n);
	printf("  %-52s %10.1f %10.1f\n", "hub_pull for B (ms)",
	    c->pull_s * 1e3, p->pull_s * 1e3);
	printf("  %-52s %10.1f %10.1f\n", "  of which zstd of its entries "
	    "(ms, level 19)", c->pz19_s * 1e3, p->pz19_s * 1e3);
	printf("  %-52s %10.1f %10.1f\n", "  the same at level 3 (ms)",
	    c->pz3_s * 1e3, p->pz3_s * 1e3);
	printf("  %-52s %10zu %10zu\n", "pull entries", c->entries,
	    p->entries);
	printf("  %-52s %10.1f %10.1f\n", "pull body B/record",
	    (double)c->pull_body / n, (double)p->pull_body / n);
	printf("  %-52s %10.1f %10.1f\n", "device B: decode + sync_apply_batch "
	    "(ms)", (c->decode_s + c->apply_s) * 1e3,
	    (p->decode_s + p->apply_s) * 1e3);
	if (R.day_rounds > 0 && R.rp_run) {
		double push_now = v_best(R.day_push_s, R.day_rounds);
		double pull_now = v_best(R.day_pull_s, R.day_rounds);
		double other = 1e9, pull_other = 1e9, est, pull_est;
		int r;

		/* What neither the hub nor the replayed steps account for:
		 * the least over the rounds (noise only adds). */
		for (r = 0; r < R.day_rounds; r++) {
			double o = R.day_push_s[r] - R.day_push_hub_s[r] -
			    R.rp_assign_s - R.rp_build_s - R.rp_results_s;
			double q = R.day_pull_s[r] - R.day_pull_hub_s[r] -
			    R.rp_decode_s - R.rp_apply_s;

			other = o < other ? o : other;
			pull_other = q < pull_other ? q : pull_other;
		}
		if (other < 0)
			other = 0;
		if (pull_other < 0)
			pull_other = 0;
		/* assign + build with level 3 + hub_push + answer recorded
		 * with the keyed UPDATE (20 rows) + what is neither (HTTP,
		 * auth, fsyncs) as measured now */
		est = R.rp_assign_s + p->merge_s + p->z3_s + p->sign_s +
		    p->push_s + R.rp_results_idx_s * (double)p->nenv /
		    (double)(c->nenv ? c->nenv : 1) + other;
		pull_est = p->pull_s - p->pz19_s + p->pz3_s + p->decode_s +
		    p->apply_s + pull_other;
		printf("  estimate, per room with zstd level 3 on both sides "
		    "(the measured parts summed; what is neither hub nor these "
		    "steps -- HTTP, auth,\n  fsyncs, wake-ups, room hashes -- "
		    "kept as measured now: %.1f ms push, %.1f ms pull, least over "
		    "the rounds):\n    push %.1f ms (now, best round %.1f; the "
		    "target implies <= %.1f), pull in step %.1f ms (now %.1f)\n",
		    other * 1e3, pull_other * 1e3, est * 1e3, push_now * 1e3,
		    170.0 / 20, pull_est * 1e3, pull_now * 1e3);
	}
}

/* ---- what-if: the ingest's hub work alone, as grouped now and per room ---- */

struct ing_body {
	char id[ID_LEN + 1];
	struct buf b[2];	/* 0: as the engine grouped, 1: per room */
	size_t rows, nenv[2];
};

/* d's push bodies: the envelopes exactly as the engine sent them, and the
 * same entries per room (renumbered contiguously, see run_whatif). */
static int
ing_bodies(struct dev *d, struct ing_body *ib)
{
	struct oentry *e = NULL;
	struct group g;
	struct buf env = BUF_INIT;
	unsigned char *done = NULL;
	size_t ne = 0, i, j, k, *idx = NULL;
	uint64_t seq = 0;
	int rc;

	memset(&g, 0, sizeof(g));
	snprintf(ib->id, sizeof(ib->id), "%s", d->id);
	if ((rc = outbox_load(d->s, &e, &ne)) != 0)
		return rc;
	ib->rows = ne;
	store_lock(d->s);
	rc = outbox_as_pending(store_db(d->s), 1);
	for (i = 0; i < ne && rc == 0; i++) {
		struct sync_range r;

		/* An envelope's first entry is the one at env_first (its
		 * entries need not be consecutive: one room's, in seq order). */
		if (e[i].seq != e[i].env_first)
			continue;
		memset(&r, 0, sizeof(r));
		r.first = e[i].env_first;
		r.last = e[i].env_last;
		snprintf(r.room, sizeof(r.room), "%s", e[i].room);
		snprintf(r.origin, sizeof(r.origin), "%s", d->id);
		env.len = 0;
		if ((rc = sync_build_envelope(store_db(d->s), &r, d->k->sign_sk,
		    &env)) == 0) {
			frame_u32(&ib->b[0], env.len, &rc);
			if (rc == 0)
				rc = buf_append(&ib->b[0], env.data, env.len);
		}
		ib->nenv[0]++;
	}
	if (outbox_as_pending(store_db(d->s), 0) != 0 && rc == 0)
		rc = RK_EDB;
	store_unlock(d->s);
	if (rc != 0)
		goto out;
	if ((idx = calloc(ne ? ne : 1, sizeof(*idx))) == NULL ||
	    (done = calloc(ne ? ne : 1, 1)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	for (i = 0; i < ne; i++) {
		struct envelope ev;
		size_t bytes = 0;

		if (done[i])
			continue;
		for (j = i, k = 0; j < ne; j++) {
			if (done[j] || strcmp(e[j].room, e[i].room) != 0)
				continue;
			if (k == SYNC_ENV_MAX_ENTRIES ||
			    (k > 0 && bytes + e[j].n > SYNC_ENV_MAX_RAW))
				break;
			idx[k++] = j;
			bytes += e[j].n;
			done[j] = 1;
		}
		if ((rc = group_merge(e, idx, k, &g)) != 0)
			goto out;
		memset(&ev, 0, sizeof(ev));
		snprintf(ev.origin, sizeof(ev.origin), "%s", d->id);
		snprintf(ev.room, sizeof(ev.room), "%s", g.room);
		ev.seq_first = seq + 1;
		ev.seq_last = seq + k;
		seq += k;
		ev.schema_version = (uint16_t)g.ver;
		ev.hlc = g.hlc;
		ev.changeset = g.cs;
		ev.changeset_len = (size_t)g.n;
		env.len = 0;
		if ((rc = envelope_encode(&ev, d->k->sign_sk, &env)) != 0)
			goto out;
		frame_u32(&ib->b[1], env.len, &rc);
		if (rc == 0)
			rc = buf_append(&ib->b[1], env.data, env.len);
		if (rc != 0)
			goto out;
		sqlite3_free(g.cs);
		memset(&g, 0, sizeof(g));
		ib->nenv[1]++;
	}
	if (ib->nenv[0] > WIRE_MAX_ENVELOPES || ib->b[0].len > WIRE_MAX_BODY) {
		bwarn("what-if: device %s holds more than one push request",
		    d->name);
		rc = RK_EINVAL;
	}
out:
	sqlite3_free(g.cs);
	oentries_free(e, ne);
	free(idx);
	free(done);
	buf_release(&env);
	return rc;
}

struct ing_push {
	struct hub *hb;
	struct ing_body *ib;
	unsigned n, next;
	int v, rc;
	size_t applied;
	pthread_mutex_t mu;
};

/* One of two pushers, as hubhttp's two threads would call hub_push. */
static void *
ing_push_main(void *arg)
{
	struct ing_push *ip = arg;

	for (;;) {
		struct rk_why why = { "" };
		json_t *out = NULL, *v;
		size_t i, ok = 0;
		unsigned k;
		int rc;

		pthread_mutex_lock(&ip->mu);
		k = ip->next++;
		pthread_mutex_unlock(&ip->mu);
		if (k >= ip->n)
			break;
		rc = hub_push(ip->hb, ip->ib[k].id, ip->ib[k].b[ip->v].data,
		    ip->ib[k].b[ip->v].len, &out, &why);
		if (rc == 0)
			json_array_foreach(json_object_get(out, "results"), i,
			    v)
				ok += json_string_value(json_object_get(v,
				    "status")) != NULL && strcmp(
				    json_string_value(json_object_get(v,
				    "status")), "applied") == 0;
		json_decref(out);
		pthread_mutex_lock(&ip->mu);
		if (rc != 0 && ip->rc == 0) {
			bwarn("what-if: hub_push: %s", why.text);
			ip->rc = rc;
		}
		ip->applied += ok;
		pthread_mutex_unlock(&ip->mu);
	}
	return NULL;
}

/* Pushes every body of variant v into a fresh copy of pre; seconds. */
static int
ing_push_run(struct hubctx *h, const char *pre, struct ing_body *ib,
    unsigned n, int v, double *secs)
{
	struct store_opts so;
	struct store *s = NULL;
	struct ing_push ip;
	struct rk_why why = { "" };
	pthread_t th[HUBHTTP_THREADS];
	char path[PATH_MAX + 160], f[PATH_MAX + 200];
	size_t want = 0;
	unsigned i, started = 0;
	double t0;
	int rc;

	memset(&ip, 0, sizeof(ip));
	pthread_mutex_init(&ip.mu, NULL);
	snprintf(path, sizeof(path), "%s.run", pre);
	if ((rc = file_copy(pre, path)) != 0)
		goto out;
	memset(&so, 0, sizeof(so));
	so.path = path;
	so.vfs = "bench-hub";
	so.origin = B_HUB_ID;
	so.is_hub = 1;
	if ((rc = store_open(&so, &s, &why)) != 0) {
		bwarn("what-if: hub copy: %s", why.text);
		goto out;
	}
	if ((rc = hub_open(s, h->k, NULL, &ip.hb)) != 0)
		goto out;
	ip.ib = ib;
	ip.n = n;
	ip.v = v;
	t0 = now_s();
	for (i = 0; i < HUBHTTP_THREADS; i++)
		if (pthread_create(&th[i], NULL, ing_push_main, &ip) == 0)
			started++;
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	*secs = now_s() - t0;
	for (i = 0; i < n; i++)
		want += ib[i].nenv[v];
	rc = started == 0 ? RK_ENOMEM : ip.rc;
	if (rc == 0 && ip.applied != want) {
		bwarn("what-if: %zu of %zu envelopes applied", ip.applied, want);
		rc = RK_EIO;
	}
out:
	hub_close(ip.hb);
	store_close(s);
	pthread_mutex_destroy(&ip.mu);
	{
		static const char *const sfx[] = { "", "-wal", "-shm" };

		for (i = 0; i < 3; i++) {
			snprintf(f, sizeof(f), "%s%s", path, sfx[i]);
			unlink(f);
		}
	}
	return rc;
}

struct ing_wi {
	char pre[2][PATH_MAX + 128];
	int have;
	size_t rows, nenv[2];
	double secs[2];
};

static struct ing_wi IW;

static int
ing_pre_copies(struct hubctx *h, const char *base)
{
	int v, rc;

	for (v = 0; v < 2; v++) {
		snprintf(IW.pre[v], sizeof(IW.pre[v]), "%s/hub/ingest-%d.db",
		    base, v);
		if ((rc = hub_copy(h, IW.pre[v])) != 0)
			return rc;
	}
	IW.have = 1;
	return 0;
}

static int
run_ingest_whatif(struct hubctx *h, struct dev *devs, unsigned ndev)
{
	struct ing_body *ib;
	unsigned k;
	int rc = 0, v;

	if (!IW.have)
		return 0;
	if ((ib = calloc(ndev, sizeof(*ib))) == NULL)
		return RK_ENOMEM;
	bnote("  what-if: rebuilding the ingest's envelopes...\n");
	for (k = 0; k < ndev && rc == 0; k++) {
		rc = ing_bodies(&devs[k], &ib[k]);
		IW.rows += ib[k].rows;
		IW.nenv[0] += ib[k].nenv[0];
		IW.nenv[1] += ib[k].nenv[1];
	}
	for (v = 0; v < 2 && rc == 0; v++) {
		bnote("  what-if: hub_push alone, %s...\n", v ? "per room" :
		    "as grouped now");
		rc = ing_push_run(h, IW.pre[v], ib, ndev, v, &IW.secs[v]);
	}
	for (k = 0; k < ndev; k++) {
		buf_release(&ib[k].b[0]);
		buf_release(&ib[k].b[1]);
	}
	free(ib);
	return rc;
}

/* ---- the report --------------------------------------------------------------- */

static void
verdict_speed(const char *name, double ours, double lo, double hi,
    double want)
{
	double f_lo = lo / ours, f_hi = hi / ours;
	char o[32], r[32], f[32], t[32];

	snprintf(o, sizeof(o), "%.1f ms", ours * 1e3);
	snprintf(r, sizeof(r), "%.0f-%.0f ms", lo * 1e3, hi * 1e3);
	snprintf(f, sizeof(f), "%.1fx-%.1fx", f_lo, f_hi);
	snprintf(t, sizeof(t), ">=%.0fx faster", want);
	printf("  %-34s %12s %15s %13s %16s  %s\n", name, o, r, f, t,
	    f_lo >= want ? "met" : f_hi >= want ? "met only against the "
	    "slowest reference" : "below");
}

static void
verdict_bytes(const char *name, double ours, const char *ref)
{
	char o[32];

	snprintf(o, sizeof(o), "%.0f B", ours);
	printf("  %-34s %12s %15s %13s %16s  %s\n", name, o, ref, "",
	    "<=150 B", ours <= 150 ? "met" : "below");
}

static void
report(void)
{
	const struct ref *rd = ref_for(R.day_n), *rb = ref_for(R.big_n);
	int nr = R.day_rounds;

	printf("\n== summary (nurse day: best of %d round(s); ceiling: best of "
	    "%d run(s))\n", nr, R.ceil_runs);
	printf("  %-34s %12s %15s %13s %16s  %s\n", "figure", "ours",
	    "reference", "speed-up", "target", "verdict");
	if (nr > 0 && rd != NULL) {
		double push = v_best(R.day_push_s, nr);
		double fresh = v_best(R.day_fresh_s, nr);
		double pull = v_best(R.day_pull_s, nr);
		double push_b = (double)pc_body(&R.day_push[PC_PUSH]) /
		    (double)R.day_n;
		double pull_b = (double)pc_body(&R.day_pull[PC_PULL]) /
		    (double)R.day_n;
		double fresh_b = (double)(pc_body(&R.day_fresh[PC_SNAPSHOT]) +
		    pc_body(&R.day_fresh[PC_PULL])) / (double)R.day_n;
		char ref[32];

		verdict_speed("nurse day: push", push, rd->push_lo,
		    rd->push_hi, 20);
		verdict_speed("nurse day: fresh pull", fresh, rd->pull_lo,
		    rd->pull_hi, 20);
		verdict_speed("nurse day: push + fresh pull", push + fresh,
		    rd->push_lo + rd->pull_lo, rd->push_hi + rd->pull_hi, 20);
		snprintf(ref, sizeof(ref), "%.1f ms", pull * 1e3);
		printf("  %-34s %12s %15s\n", "nurse day: pull (in step before)",
		    ref, "-");
		if (R.hist_run) {
			char what[48];

			snprintf(what, sizeof(what), "  push after %zuk entries",
			    R.hist_n / 1000);
			snprintf(ref, sizeof(ref), "%.1f ms", R.hist_push_s *
			    1e3);
			printf("  %-34s %12s %15s\n", what, ref, "-");
		}
		snprintf(ref, sizeof(ref), "%d-%d B", rd->bytes_lo,
		    rd->bytes_hi);
		verdict_bytes("nurse day: push B/record", push_b, ref);
		verdict_bytes("nurse day: pull B/record (in step)", pull_b,
		    "-");
		verdict_bytes("nurse day: fresh pull B/record", fresh_b, "-");
		if (R.ceil_runs > 0) {
			snprintf(ref, sizeof(ref), "%.1f ms",
			    v_best(R.floor_s, B_CEIL_RUNS) * 1e3);
			printf("  %-34s %12s %15s %13s %16s  (the push target "
			    "implies <= %.1f ms)\n", "  floor: plain SQLite, 1 tx",
			    ref, "", "", "", rd->push_lo * 1e3 / 20);
		}
		if (R.env_run) {
			verdict_bytes("  per-room grouping: push (est.)",
			    (double)(R.env_room_body + R.env_room_resp) /
			    (double)R.day_n, "-");
			verdict_bytes("  per-room grouping: pull (est.)",
			    (double)R.pull_room_body / (double)R.day_n, "-");
		}
	}
	if (R.big_run && rb != NULL) {
		char name[64], o[32], r[32], f[32];

		snprintf(name, sizeof(name), "initial sync of %zu", R.big_n);
		snprintf(o, sizeof(o), "%.2f s", R.init_s);
		snprintf(r, sizeof(r), "%.1f-%.1f s", rb->pull_lo, rb->pull_hi);
		snprintf(f, sizeof(f), "%.1fx-%.1fx", rb->pull_lo / R.init_s,
		    rb->pull_hi / R.init_s);
		printf("  %-34s %12s %15s %13s %16s  %s\n", name, o, r, f,
		    ">=10x faster", rb->pull_lo / R.init_s >= 10 ? "met" :
		    rb->pull_hi / R.init_s >= 10 ? "met only against the "
		    "slowest reference" : "below");
	}
	if (R.big_run && R.ceil_runs > 0) {
		double ing = (double)R.big_n / R.ingest_s;
		double ceil = (double)R.ceil_n / v_best(R.ceil_s, R.ceil_runs);
		char o[32], r[32], f[32];

		snprintf(o, sizeof(o), "%.0f rows/s", ing);
		snprintf(r, sizeof(r), "ceil %.0f r/s", ceil);
		snprintf(f, sizeof(f), "%.1f%%", 100.0 * ing / ceil);
		printf("  %-34s %12s %15s %13s %16s  %s\n", "hub ingest", o, r,
		    f, ">=25% of ceiling", ing / ceil >= 0.25 ? "met" :
		    "below");
		if (IW.secs[0] > 0 && IW.secs[1] > 0) {
			int v;

			for (v = 0; v < 2; v++) {
				ing = (double)IW.rows / IW.secs[v];
				snprintf(o, sizeof(o), "%.0f rows/s", ing);
				snprintf(f, sizeof(f), "%.1f%%", 100.0 * ing /
				    ceil);
				printf("  %-34s %12s %15s %13s %16s  %s\n", v ?
				    "  hub_push alone, per room" :
				    "  hub_push alone, as grouped now", o, "",
				    f, "", ing / ceil >= 0.25 ? "(would meet)" :
				    "(would be below)");
			}
		}
	}
	printf("  (speed-up = reference / ours, against the fastest and the "
	    "slowest reference;\n   a target counts as met only against the "
	    "fastest)\n");
}

/* A remainder in ms: the parts were timed apart, so it can come out
 * below zero by noise. */
static const char *
rest_ms(double s, char buf[32])
{
	if (s < 0)
		snprintf(buf, 32, "~0");
	else
		snprintf(buf, 32, "%.1f", s * 1e3);
	return buf;
}

/* Where the time of round 1's push and pull went. */
static void
report_split(void)
{
	double tot, hub, dev;
	char rb[32];

	if (R.day_rounds == 0)
		return;
	printf("\n== where the time goes (round 1; hub = the relay's request "
	    "-> answer time; device steps replayed on a copy of the replica\n"
	    "   opened with store_open: same VFS, settings and fsyncs; best "
	    "of 3)\n");
	tot = R.day_push_s[0];
	hub = R.day_push[PC_PUSH].server_s;
	dev = R.rp_assign_s + R.rp_build_s + R.rp_results_s;
	printf("  push %.1f ms = hub push call %.1f ms (%zu envelopes, %.0f us "
	    "each) + device: assign ranges %.1f ms, build %zu envelopes %.1f ms "
	    "(%.0f us each), record the answer %.1f ms + the rest %s ms "
	    "(HTTP, fsyncs, wake-ups)\n", tot * 1e3, hub * 1e3, R.env_cur_n,
	    R.env_cur_n ? hub * 1e6 / (double)R.env_cur_n : 0,
	    R.rp_assign_s * 1e3, R.rp_nranges, R.rp_build_s * 1e3,
	    R.rp_nranges ? R.rp_build_s * 1e6 / (double)R.rp_nranges : 0,
	    R.rp_results_s * 1e3, rest_ms(tot - hub - dev, rb));
	printf("  A's whole attempt %.1f ms: after the push, pulling its own "
	    "%zu changes back (undo + apply each) and hashes took %.1f ms "
	    "(hub pull call %.1f ms, hashes %.1f ms)\n",
	    R.day_attempt_s[0] * 1e3, R.day_n, (R.day_attempt_s[0] -
	    R.day_push_s[0]) * 1e3, R.day_push[PC_PULL].server_s * 1e3,
	    R.day_push[PC_HASHES].server_s * 1e3);
	tot = R.day_pull_s[0];
	hub = R.day_pull[PC_PULL].server_s + R.day_pull[PC_HASHES].server_s;
	dev = R.rp_decode_s + R.rp_apply_s;
	printf("  pull %.1f ms = hub pull call %.1f ms + hashes call %.1f ms "
	    "+ device: decode %.1f ms, apply %zu entries %.1f ms + the rest "
	    "%s ms (room hashes on the device, HTTP, fsync)\n", tot * 1e3,
	    R.day_pull[PC_PULL].server_s * 1e3,
	    R.day_pull[PC_HASHES].server_s * 1e3, R.rp_decode_s * 1e3,
	    R.rp_pull_entries, R.rp_apply_s * 1e3, rest_ms(tot - hub - dev,
	    rb));
	printf("  fresh pull (C, relay) %.1f ms = hub: %" PRIu64 " snapshot "
	    "calls %.1f ms, pull %.1f ms, hashes %.1f ms, enrol %.1f ms + "
	    "device and HTTP %.1f ms\n", R.day_fresh_px_s[0] * 1e3,
	    R.day_fresh[PC_SNAPSHOT].n, R.day_fresh[PC_SNAPSHOT].server_s *
	    1e3, R.day_fresh[PC_PULL].server_s * 1e3,
	    R.day_fresh[PC_HASHES].server_s * 1e3,
	    R.day_fresh[PC_ENROLL].server_s * 1e3, (R.day_fresh_px_s[0] -
	    R.day_fresh[PC_SNAPSHOT].server_s - R.day_fresh[PC_PULL].server_s -
	    R.day_fresh[PC_HASHES].server_s - R.day_fresh[PC_ENROLL].server_s) *
	    1e3);
	if (R.big_run)
		printf("  initial sync (R1, relay) %.2f s = hub: %" PRIu64
		    " snapshot calls %.2f s, pull %.2f s, hashes %.2f s + "
		    "device and HTTP %.2f s\n", R.init_px_s,
		    R.init[PC_SNAPSHOT].n, R.init[PC_SNAPSHOT].server_s,
		    R.init[PC_PULL].server_s, R.init[PC_HASHES].server_s,
		    R.init_px_s - R.init[PC_SNAPSHOT].server_s -
		    R.init[PC_PULL].server_s - R.init[PC_HASHES].server_s -
		    R.init[PC_ENROLL].server_s);
	if (!R.rp_run)
		return;
	printf("  unit costs: Ed25519 sign %.0f us, verify %.0f us (400-byte "
	    "message); a minor page fault (first touch of a fresh page) %.1f "
	    "us; zstd of one visit changeset with dictionary v1: level 19 in "
	    "a new context %.0f us, level 19 reused context (as env_deflate) "
	    "%.0f us (%.0f B), level 3 %.0f us (%.0f B), level 1 %.0f us "
	    "(%.0f B)\n", R.u_sign_us, R.u_verify_us, R.u_fault_us,
	    R.u_z19_new_us, R.u_z19_us, R.u_z19_b, R.u_z3_us, R.u_z3_b,
	    R.u_z1_us, R.u_z1_b);
	printf("  measured alternatives (same data, encrypted copies of the "
	    "replicas):\n");
	printf("    recording the push answer: sync_push_results (on the "
	    "envelope rows) %.1f ms, then settling it on the entries without "
	    "an echo (sync_settle, entry by entry) %.1f ms; one UPDATE per "
	    "envelope over its room's seq BETWEEN env_first AND env_last "
	    "%.1f ms\n", R.rp_results_s * 1e3, R.rp_settle_s * 1e3,
	    R.rp_results_idx_s * 1e3);
	printf("    applying the pull: sync_apply_batch (one changeset_apply "
	    "per entry) %.1f ms; the %zu entries merged with changegroup and "
	    "applied once %.1f ms (same room hashes)\n", R.rp_apply_s * 1e3,
	    R.rp_pull_entries, R.rp_apply_merged_s * 1e3);
	printf("    the pull answer's entries as one zstd frame: %.1f B/record "
	    "at level 3 (%.1f ms), %.1f B/record at level 19 (now: %.1f "
	    "B/record, one frame per entry at level 19)\n", R.pull1_z3_b,
	    R.pull1_z3_ms, R.pull1_z19_b, (double)pc_body(&R.day_pull[PC_PULL]) /
	    (double)R.day_n);
}

/* ---- main ------------------------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr, "usage: bench_sync [--quick] [-k] [-v] [-r rounds] "
	    "[-t tmpdir] [-s day,history,ingest,ceiling] [DATADIR]\n");
}

static void
rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char sub[PATH_MAX];

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void
log_tail(void)
{
	char line[1024];
	long n = 0, skip;
	FILE *f;

	if (b_logpath[0] == '\0' || (f = fopen(b_logpath, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		n++;
	rewind(f);
	skip = n > 40 ? n - 40 : 0;
	bnote("--- the last %ld of %ld lines the daemon code logged:\n",
	    n - skip, n);
	while (fgets(line, sizeof(line), f) != NULL)
		if (skip-- <= 0)
			bnote("  %s", line);
	fclose(f);
}

int
main(int argc, char **argv)
{
	struct dataset day, big;
	struct hubctx hub;
	struct day y[B_ROUNDS_MAX];
	const char *datadir = getenv("RK_BENCH_DATA"), *tmpbase = NULL;
	const char *only = "day,history,ingest,ceiling";
	const char *q = getenv("RK_BENCH_QUICK");
	char base[PATH_MAX];
	int quick = q != NULL && q[0] != '\0' && strcmp(q, "0") != 0;
	int keep = 0, verbose = 0, i, status = 1, hub_is_up = 0, rounds = 3;
	int do_day, do_big, do_ceil, do_hist, r;
	unsigned ndev;
	double t0;

	memset(&day, 0, sizeof(day));
	memset(&big, 0, sizeof(big));
	memset(y, 0, sizeof(y));
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick") || !strcmp(argv[i], "-q"))
			quick = 1;
		else if (!strcmp(argv[i], "-k"))
			keep = 1;
		else if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			tmpbase = argv[++i];
		else if (!strcmp(argv[i], "-s") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "-r") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
			if (rounds < 1 || rounds > B_ROUNDS_MAX) {
				usage();
				return 2;
			}
		} else if (!strcmp(argv[i], "-h") ||
		    !strcmp(argv[i], "--help")) {
			usage();
			return 0;
		} else if (argv[i][0] == '-') {
			usage();
			return 2;
		} else
			datadir = argv[i];
	}
	if (datadir == NULL || datadir[0] == '\0') {
		fprintf(stderr, "bench_sync: no workload: pass the bench data "
		    "dir or set RK_BENCH_DATA\n");
		return 2;
	}
	do_day = strstr(only, "day") != NULL;
	do_big = strstr(only, "ingest") != NULL;
	do_ceil = strstr(only, "ceiling") != NULL;
	do_hist = strstr(only, "history") != NULL;
	ndev = quick ? B_QUICK_DEVICES : B_BIG_DEVICES;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("bench_sync", verbose);
	if (sodium_init() < 0) {
		fprintf(stderr, "bench_sync: libsodium cannot start\n");
		return 1;
	}
	if (tmpbase == NULL && ((tmpbase = getenv("TMPDIR")) == NULL ||
	    tmpbase[0] == '\0'))
		tmpbase = "/tmp";
	snprintf(base, sizeof(base), "%s/bench_sync.XXXXXX", tmpbase);
	if (mkdtemp(base) == NULL) {
		fprintf(stderr, "bench_sync: mkdtemp %s: %s\n", base,
		    strerror(errno));
		return 1;
	}
	/* Our messages on the real stderr; the daemon code's log lines
	 * (one per snapshot, enrolment...) into a file unless -v. */
	{
		int fd = dup(2);

		b_err = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (b_err == NULL)
			b_err = stderr;
		if (!verbose) {
			snprintf(b_logpath, sizeof(b_logpath), "%s/daemon.log",
			    base);
			if ((fd = open(b_logpath, O_WRONLY | O_CREAT | O_TRUNC,
			    0600)) >= 0) {
				dup2(fd, 2);
				close(fd);
			} else
				b_logpath[0] = '\0';
		}
	}

	t0 = now_s();
	if (dataset_load(datadir, B_DAY_FILE, &day) != 0 ||
	    dataset_load(datadir, quick ? B_QUICK_FILE : B_BIG_FILE,
	    &big) != 0)
		goto out;
	{
		char la[32];

		loadavg(la);
		printf("bench_sync: SQLite %s, libsodium %s, zstd %s, %ld CPUs, "
		    "load average %s; files in %s\n", sqlite3_libversion(),
		    sodium_version_string(), ZSTD_versionString(),
		    sysconf(_SC_NPROCESSORS_ONLN), la, base);
	}
	printf("workload: %s (%zu records) and %s (%zu records, %zu rooms), "
	    "loaded in %.2f s%s\n", B_DAY_FILE, day.n, quick ? B_QUICK_FILE :
	    B_BIG_FILE, big.n, big.nrooms, now_s() - t0, quick ?
	    "; --quick" : "");

	if (do_ceil) {
		printf("\n== ceiling: %zu rows into a plain SQLite file (default "
		    "VFS, WAL, synchronous=FULL, cache_size as the store's, the "
		    "real schema, %d rows per transaction)\n", big.n, B_CEIL_TX);
		for (i = 0; i < B_CEIL_RUNS; i++) {
			char la[32];

			loadavg(la);
			if (run_plain(base, &big, B_CEIL_TX, ndev,
			    &R.ceil_s[i]) != 0)
				goto out;
			R.ceil_n = big.n;
			R.ceil_runs++;
			printf("  run %d: %.3f s, %.0f rows/s (load %s)\n", i + 1,
			    R.ceil_s[i], (double)R.ceil_n / R.ceil_s[i], la);
		}
		for (i = 0; i < B_CEIL_RUNS; i++)
			if (run_plain(base, &day, day.n, 0, &R.floor_s[i]) != 0)
				goto out;
		printf("  the nurse day's %zu rows in one transaction (the floor "
		    "for persisting them once): best %.1f ms of %d runs\n",
		    day.n, v_best(R.floor_s, B_CEIL_RUNS) * 1e3, B_CEIL_RUNS);
	}
	if (do_day || do_big || do_hist) {
		if (hub_up(base, &hub) != 0)
			goto out;
		hub_is_up = 1;
		printf("hub on 127.0.0.1:%u\n", hub.port);
	}
	if (do_day) {
		printf("\n== nurse day: %zu visits by one author over %d rooms "
		    "(device A), %d round(s), each with its own staff, rooms "
		    "and devices\n", day.n, B_DAY_ROOMS, rounds);
		printf("  %-5s %6s %9s %9s %9s %9s %9s %9s %8s\n", "round",
		    "load", "writes", "push", "attempt", "pull", "fresh",
		    "fresh-rl", "push cpu");
		printf("  %-5s %6s %9s %9s %9s %9s %9s %9s %8s\n", "", "",
		    "rows/s", "ms", "ms", "ms", "ms", "ms", "s");
		for (r = 0; r < rounds; r++) {
			if (run_day_round(base, &hub, &day, &y[r], r) != 0)
				goto out;
			R.day_rounds = r + 1;
			printf("  %-5d %6s %9.0f %9.1f %9.1f %9.1f %9.1f %9.1f "
			    "%8.3f\n", r + 1, R.day_load[r], (double)day.n /
			    R.day_write_s[r], R.day_push_s[r] * 1e3,
			    R.day_attempt_s[r] * 1e3, R.day_pull_s[r] * 1e3,
			    R.day_fresh_s[r] * 1e3, R.day_fresh_px_s[r] * 1e3,
			    R.day_push_cpu[r]);
			if (r > 0)	/* round 1 stays for the analysis */
				day_close(&y[r]);
		}
		printf("  %-5s %6s %9.0f %9.1f %9.1f %9.1f %9.1f %9.1f\n",
		    "best", "", (double)day.n / v_best(R.day_write_s, rounds),
		    v_best(R.day_push_s, rounds) * 1e3,
		    v_best(R.day_attempt_s, rounds) * 1e3,
		    v_best(R.day_pull_s, rounds) * 1e3,
		    v_best(R.day_fresh_s, rounds) * 1e3,
		    v_best(R.day_fresh_px_s, rounds) * 1e3);
		printf("  %-5s %6s %9.0f %9.1f %9.1f %9.1f %9.1f %9.1f\n",
		    "median", "", (double)day.n / v_median(R.day_write_s, rounds),
		    v_median(R.day_push_s, rounds) * 1e3,
		    v_median(R.day_attempt_s, rounds) * 1e3,
		    v_median(R.day_pull_s, rounds) * 1e3,
		    v_median(R.day_fresh_s, rounds) * 1e3,
		    v_median(R.day_fresh_px_s, rounds) * 1e3);
		printf("  writes = %zu rec_visit_add calls, one transaction each "
		    "(not in the sync times); push = sync_request until the "
		    "outbox is acked;\n  attempt = A's whole sync (push, then "
		    "pulling its own changes back, hashes); pull = B, in step "
		    "before the day, until in step;\n  fresh = a new device, "
		    "sync_enroll until in step (direct; fresh-rl the same "
		    "through the relay)\n", day.n);
		printf("  the hub's share (the relay's request -> answer "
		    "times), per round:\n    push ");
		for (r = 0; r < R.day_rounds; r++)
			printf(" %.1f", R.day_push_hub_s[r] * 1e3);
		printf(" ms\n    pull ");
		for (r = 0; r < R.day_rounds; r++)
			printf(" %.1f", R.day_pull_hub_s[r] * 1e3);
		printf(" ms\n  minor page faults of the whole process (hub and "
		    "devices), per round:\n    A's attempt");
		for (r = 0; r < R.day_rounds; r++)
			printf(" %ld", R.day_push_flt[r]);
		printf(", B's pull");
		for (r = 0; r < R.day_rounds; r++)
			printf(" %ld", R.day_pull_flt[r]);
		printf(", D's fresh pull");
		for (r = 0; r < R.day_rounds; r++)
			printf(" %ld", R.day_fresh_flt[r]);
		printf("\n");
		pc_print("round 1, bytes of A's push attempt", R.day_push,
		    R.day_n);
		pc_print("round 1, bytes of B's pull", R.day_pull, R.day_n);
		pc_print("round 1, bytes of C's fresh pull", R.day_fresh,
		    R.day_n);
	}
	if (do_hist) {
		size_t hn = quick ? B_QUICK_HIST_N : B_HIST_N;

		printf("\n== the nurse day on a device whose outbox already holds "
		    "%zu entries, acked and pulled back (written straight into "
		    "it)\n", hn);
		if (run_history(base, &hub, &day, hn) != 0)
			goto out;
		printf("  history written in %.1f s; push %.1f ms, attempt %.1f "
		    "ms (the day's rounds above: push best %.1f ms, attempt best "
		    "%.1f ms)\n", R.hist_fill_s, R.hist_push_s * 1e3,
		    R.hist_attempt_s * 1e3, R.day_rounds ?
		    v_best(R.day_push_s, R.day_rounds) * 1e3 : 0.0,
		    R.day_rounds ? v_best(R.day_attempt_s, R.day_rounds) * 1e3 :
		    0.0);
	}
	if (do_big) {
		printf("\n== ingest: %zu visits over %u devices (rooms %% %u), "
		    "then a fresh device's initial sync\n", big.n, ndev, ndev);
		if (run_big(base, &hub, &big, ndev) != 0)
			goto out;
		printf("  writes (%zu user actions on %u devices at once, not in "
		    "the sync times): %.2f s, %.0f rows/s, cpu %.2f s\n",
		    R.big_n, ndev, R.big_write_s, (double)R.big_n /
		    R.big_write_s, R.big_write_cpu);
		printf("  ingest (load %s): all outboxes acked after %.2f s: "
		    "%.0f rows/s; every attempt done (pulls back included) after "
		    "%.2f s; cpu %.2f s (%.0f%% of one core)\n", R.ingest_load,
		    R.ingest_s, (double)R.big_n / R.ingest_s, R.ingest_done_s,
		    R.ingest_cpu, 100.0 * R.ingest_cpu / R.ingest_done_s);
		if (R.ingest_retries > 0)
			printf("  %d failed attempts asked again, the first: "
			    "%s\n", R.ingest_retries, R.ingest_err);
		if (IW.secs[0] > 0 && IW.secs[1] > 0)
			printf("  what-if, the hub's work alone (hub_push from %u "
			    "threads into a copy of the hub taken before the "
			    "ingest):\n    as grouped now: %zu envelopes, %.2f s, "
			    "%.0f rows/s; per room: %zu envelopes, %.2f s, %.0f "
			    "rows/s\n", HUBHTTP_THREADS, IW.nenv[0], IW.secs[0],
			    (double)IW.rows / IW.secs[0], IW.nenv[1], IW.secs[1],
			    (double)IW.rows / IW.secs[1]);
		printf("  initial sync (load %s; R2, sync_enroll -> in step, "
		    "direct): %.2f s, %.0f rows/s, cpu %.2f s\n", R.init_load,
		    R.init_s, (double)R.big_n / R.init_s, R.init_cpu);
		printf("  initial sync (R1, the same through the relay): %.2f "
		    "s\n", R.init_px_s);
		pc_print("bytes of R1's initial sync", R.init, R.big_n);
		if (do_ceil) {
			char la[32];

			loadavg(la);
			if (run_plain(base, &big, B_CEIL_TX, ndev,
			    &R.ceil_s[R.ceil_runs]) != 0)
				goto out;
			R.ceil_runs++;
			printf("  ceiling again, after the ingest: %.3f s, %.0f "
			    "rows/s (load %s)\n", R.ceil_s[R.ceil_runs - 1],
			    (double)R.ceil_n / R.ceil_s[R.ceil_runs - 1], la);
		}
	}
	if (do_day && R.day_rounds > 0) {
		printf("\n== envelopes of the nurse day (round 1, A's outbox), "
		    "as grouped now and per room\n");
		if (run_envelopes(&y[0], &big, &day, ndev) != 0)
			goto out;
		for (i = 0; i < 3; i++)
			if (run_replays(&hub, &y[0], i == 0) != 0)
				goto out;
		if (run_whatif(&hub, &y[0]) != 0)
			goto out;
		{
			double n = (double)R.day_n;
			uint64_t hp = R.day_push[PC_PUSH].req_hdr +
			    R.day_push[PC_PUSH].resp_hdr;
			uint64_t hl = R.day_pull[PC_PULL].req_hdr +
			    R.day_pull[PC_PULL].resp_hdr;

			printf("  %-44s %9s %9s\n", "bytes per record "
			    "(bodies; +HTTP headers as measured)",
			    "as sent", "per room");
			printf("  %-44s %9zu %9zu\n", "envelopes",
			    R.env_cur_n, R.env_room_n);
			printf("  %-44s %9.1f %9.1f   (measured by the relay: "
			    "%.1f)\n", "push request body (envelopes, dict v1)",
			    (double)R.env_cur_body / n,
			    (double)R.env_room_body / n,
			    (double)R.day_push[PC_PUSH].req_body / n);
			printf("  %-44s %9.1f %9.1f   (measured: %.1f)\n",
			    "push answer (JSON results)",
			    (double)R.env_cur_resp / n,
			    (double)R.env_room_resp / n,
			    (double)R.day_push[PC_PUSH].resp_body / n);
			printf("  %-44s %9.1f %9.1f\n", "push, both bodies",
			    (double)(R.env_cur_body + R.env_cur_resp) / n,
			    (double)(R.env_room_body + R.env_room_resp) / n);
			printf("  %-44s %9.1f %9.1f\n", "push, both, + HTTP "
			    "headers", (double)(R.env_cur_body +
			    R.env_cur_resp + hp) / n, (double)(R.env_room_body +
			    R.env_room_resp + hp) / n);
			printf("  %-44s %9.1f %9.1f\n", "push, both, dictionary "
			    "trained 16 KB", (double)(R.env_cur_t16 +
			    R.env_cur_resp) / n, (double)(R.env_room_t16 +
			    R.env_room_resp) / n);
			printf("  %-44s %9.1f %9.1f\n", "push, both, dictionary "
			    "trained 64 KB", (double)(R.env_cur_t64 +
			    R.env_cur_resp) / n, (double)(R.env_room_t64 +
			    R.env_room_resp) / n);
			printf("  %-44s %9.1f %9.1f   (measured: %.1f)\n",
			    "pull response body (entries, no dict)",
			    (double)R.pull_cur_body / n,
			    (double)R.pull_room_body / n,
			    (double)R.day_pull[PC_PULL].resp_body / n);
			printf("  %-44s %9.1f %9.1f\n", "pull, + HTTP headers",
			    (double)(R.pull_cur_body + hl) / n,
			    (double)(R.pull_room_body + hl) / n);
			printf("  %-44s %9.1f %9.1f\n", "pull, dictionary "
			    "trained 64 KB (format change)",
			    (double)R.pull_cur_t64 / n,
			    (double)R.pull_room_t64 / n);
		}
		report_split();
		report_whatif();
	}
	report();
	status = 0;
out:
	for (r = 0; r < B_ROUNDS_MAX; r++)
		day_close(&y[r]);
	if (hub_is_up)
		hub_down(&hub);
	perf_stop();
	if (status != 0)
		log_tail();
	if (keep || status != 0)
		bnote("bench_sync: files kept in %s\n", base);
	else
		rm_rf(base);
	dataset_free(&day);
	dataset_free(&big);
	return status;
}
