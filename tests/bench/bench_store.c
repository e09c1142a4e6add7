/*
 * bench_store.c - local write throughput of the replica: visits written
 * through the encrypted, captured store (vfs.h + store.h) beside the same
 * writes into a plain SQLite file with the same settings.
 *
 * Two patterns, as the UI and an import produce them:
 *   per-action  one BEGIN IMMEDIATE / INSERT / COMMIT per row with
 *               synchronous=FULL: a write the user saw saved survives
 *               power loss, so each costs a WAL fsync;
 *   bulk        one transaction of many rows of one room (the store refuses
 *               rows of other rooms in one transaction; plain gets the same
 *               rows so both write the same bytes).
 * Beside plain and the store, two splits show where the cost lies: the
 * encrypting VFS without capture, and the store (capture + outbox) over the
 * default VFS without encryption.
 *
 * Every case starts from a fresh database at the current schema (the real
 * migrations) and the settings a store connection has (read back from
 * one); only the writes are timed, not open, migration or close.  Plain
 * SQLite keeps its whole 4096-byte pages for data, the VFS cases reserve 40
 * bytes of each for the nonce and tag.  Cases are interleaved round by
 * round and the best round is compared (the median is shown too), so a
 * slow moment of a shared disk hurts every case alike.  It prints figures
 * and never judges a time: the exit status is 0 whatever they are,
 * non-zero only when something failed.
 *
 * usage: bench_store [-n actions] [-b bulk] [-r rounds] [-t tmpdir]
 *                    [-o case] [-x sql] [DATADIR]
 * DATADIR (or $RK_BENCH_DATA) holds visits-600.jsonl.  -o runs only the
 * cases named (comma-separated, e.g. -o "bulk store" under a profiler).
 * -x runs extra SQL on every case's connection once it is set up, to try
 * a setting on all of them alike (e.g. -x "PRAGMA cache_size = -65536").
 */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/hlc.h"
#include "common/id.h"
#include "common/log.h"
#include "daemon/store.h"
#include "daemon/vfs.h"
#include "schema/schema.h"

#define BENCH_VFS "renkei-bench"
#define BENCH_NROOMS 20
#define BENCH_AUTHOR "nurse-1"
#define BENCH_BULK_ROOM "room-01"
#define BENCH_SOURCE "visits-600.jsonl"

/*
 * The settings the plain and VFS-only cases copy from a store connection,
 * in the order they must be applied (exclusive locking before WAL, so the
 * WAL index lives in heap memory as it does for the store).  Read back
 * from a real store_open rather than written here, so "the same settings"
 * stays true when store.c changes them.
 */
static const char *const bench_mirrored[] = {
	"locking_mode", "temp_store", "journal_mode", "synchronous",
	"foreign_keys", "cell_size_check", "cache_size", "cache_spill",
	"wal_autocheckpoint", "journal_size_limit", "secure_delete",
	"automatic_index",
};

/* "PRAGMA name = value;" for each of bench_mirrored, built by
 * bench_settings_read; static storage, lives for the whole run. */
static char bench_pragmas[1024];

/* The statement records.c (rec_visit_add) writes a visit with. */
static const char bench_insert_sql[] =
    "INSERT INTO visits (room_id, id, author, visited_at, bp_sys, bp_dia,"
    " pulse, temp, spo2, resp, weight, note, hlc) VALUES (?1, ?2, ?3, ?4,"
    " ?5, ?6, ?7, ?8, ?9, NULL, NULL, ?10, ?11)";

/* One record of the workload file.  body is borrowed from the JSON object
 * held in bench_data.json, which owns it. */
struct bench_visit {
	int room;			/* 0 .. BENCH_NROOMS - 1 */
	int64_t visited_at;		/* Unix ms */
	json_int_t bp_sys, bp_dia, pulse, spo2;
	double temp;
	const char *body;
};

/* One row to write: a fresh id over a workload record. */
struct bench_row {
	char id[ID_LEN + 1];
	const struct bench_visit *v;
};

struct bench_data {
	json_t *json;			/* array of the parsed lines */
	struct bench_visit *visits;
	size_t nvisits;
	struct bench_row *rows;
	size_t nrows;
	char rooms[BENCH_NROOMS][16];
};

enum bench_pattern { PATTERN_ACTION, PATTERN_BULK };
enum bench_kind {
	KIND_PLAIN,		/* default VFS, no capture */
	KIND_STORE,		/* encrypting VFS + capture + outbox */
	KIND_VFS,		/* encrypting VFS, no capture */
	KIND_STORE_NOCRYPT,	/* default VFS + capture + outbox */
	KIND_STORE_SESSION,	/* encrypting VFS + a session + outbox */
};

/* What one run cost: wall and CPU time, and the process's file I/O
 * through system calls (/proc/self/io; -1 where that is not readable). */
struct bench_cost {
	double wall, cpu;
	long long wchar, rchar, syscw;
};

struct bench_case {
	const char *name;
	enum bench_pattern pattern;
	enum bench_kind kind;
	int target_pct;		/* of plain; 0: shown for the split only */
	struct bench_cost best;	/* the round with the least wall time */
	double *walls;		/* every round's wall time; free() */
	int nwalls;
	int run;
};

static struct bench_case bench_cases[] = {
	{ .name = "per-action plain", .pattern = PATTERN_ACTION,
	    .kind = KIND_PLAIN },
	{ .name = "per-action store", .pattern = PATTERN_ACTION,
	    .kind = KIND_STORE, .target_pct = 70 },
	{ .name = "per-action vfs-only", .pattern = PATTERN_ACTION,
	    .kind = KIND_VFS },
	{ .name = "per-action store-nocrypt", .pattern = PATTERN_ACTION,
	    .kind = KIND_STORE_NOCRYPT },
	{ .name = "per-action store-session", .pattern = PATTERN_ACTION,
	    .kind = KIND_STORE_SESSION },
	{ .name = "bulk plain", .pattern = PATTERN_BULK, .kind = KIND_PLAIN },
	{ .name = "bulk store", .pattern = PATTERN_BULK, .kind = KIND_STORE,
	    .target_pct = 50 },
	{ .name = "bulk vfs-only", .pattern = PATTERN_BULK, .kind = KIND_VFS },
	{ .name = "bulk store-nocrypt", .pattern = PATTERN_BULK,
	    .kind = KIND_STORE_NOCRYPT },
	{ .name = "bulk store-session", .pattern = PATTERN_BULK,
	    .kind = KIND_STORE_SESSION },
};
#define BENCH_NCASES (sizeof(bench_cases) / sizeof(bench_cases[0]))

/* An open database of one case: db always, s for the store kinds. */
struct bench_db {
	struct store *s;
	int session;		/* capture with a session, not append capture */
	sqlite3 *db;		/* owned unless s is set (then store_db(s)) */
	sqlite3_stmt *ins;
	struct hlc hlc;		/* the plain kinds' clock, like the store's */
};

/* A deterministic id source: time-ordered like a day of real writes, the
 * random part from a fixed seed, so every run writes the same keys. */
struct bench_idgen {
	int64_t ms;
	uint64_t state;
};

static int64_t
bench_id_now(void *arg)
{
	struct bench_idgen *g = arg;

	return g->ms++;
}

static void
bench_id_random(void *arg, void *buf, size_t n)
{
	struct bench_idgen *g = arg;
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < n; i++) {
		/* splitmix64 */
		uint64_t z = (g->state += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		p[i] = (unsigned char)(z ^ (z >> 31));
	}
}

/* The counters behind struct bench_cost, at this moment. */
static void
bench_sample(struct bench_cost *c)
{
	struct timespec ts;
	struct rusage ru;
	char key[32];
	long long v;
	FILE *f;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	c->wall = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	c->cpu = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		c->cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	c->wchar = c->rchar = c->syscw = -1;
	if ((f = fopen("/proc/self/io", "r")) == NULL)
		return;
	while (fscanf(f, "%31[^:]: %lld\n", key, &v) == 2) {
		if (strcmp(key, "wchar") == 0)
			c->wchar = v;
		else if (strcmp(key, "rchar") == 0)
			c->rchar = v;
		else if (strcmp(key, "syscw") == 0)
			c->syscw = v;
	}
	fclose(f);
}

/* end - start, field by field; -1 stays -1. */
static void
bench_cost_diff(const struct bench_cost *start, struct bench_cost *end)
{
	end->wall -= start->wall;
	end->cpu -= start->cpu;
	end->wchar = start->wchar < 0 || end->wchar < 0 ? -1 :
	    end->wchar - start->wchar;
	end->rchar = start->rchar < 0 || end->rchar < 0 ? -1 :
	    end->rchar - start->rchar;
	end->syscw = start->syscw < 0 || end->syscw < 0 ? -1 :
	    end->syscw - start->syscw;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
bench_days_from_civil(int64_t y, unsigned m, unsigned d)
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

/* "2025-04-01T00:02:24.000Z" as Unix ms. */
static int
bench_parse_time(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec, ms;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &y, &mo, &d, &h, &mi,
	    &sec, &ms) != 7 || mo < 1 || mo > 12 || d < 1 || d > 31)
		return RK_EINVAL;
	*out = ((bench_days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 +
	    h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + ms;
	return 0;
}

/* The workload's ~300 rooms onto the caseload's 20, stably. */
static int
bench_room_of(const char *room_id)
{
	uint32_t h = 2166136261u;

	for (; *room_id; room_id++)
		h = (h ^ (unsigned char)*room_id) * 16777619u;
	return (int)(h % BENCH_NROOMS);
}

static int
bench_visit_parse(json_t *o, struct bench_visit *v)
{
	const char *room, *at;
	json_t *temp;

	room = json_string_value(json_object_get(o, "room_id"));
	at = json_string_value(json_object_get(o, "created_at"));
	v->body = json_string_value(json_object_get(o, "body"));
	temp = json_object_get(o, "temp");
	if (room == NULL || at == NULL || v->body == NULL ||
	    !json_is_integer(json_object_get(o, "bp_sys")) ||
	    !json_is_integer(json_object_get(o, "bp_dia")) ||
	    !json_is_integer(json_object_get(o, "pulse")) ||
	    !json_is_integer(json_object_get(o, "spo2")) ||
	    !json_is_number(temp) || bench_parse_time(at, &v->visited_at) != 0)
		return RK_EINVAL;
	v->room = bench_room_of(room);
	v->bp_sys = json_integer_value(json_object_get(o, "bp_sys"));
	v->bp_dia = json_integer_value(json_object_get(o, "bp_dia"));
	v->pulse = json_integer_value(json_object_get(o, "pulse"));
	v->spo2 = json_integer_value(json_object_get(o, "spo2"));
	v->temp = json_number_value(temp);
	return 0;
}

static void
bench_data_release(struct bench_data *d)
{
	json_decref(d->json);
	free(d->visits);
	free(d->rows);
	memset(d, 0, sizeof(*d));
}

/* Reads dir/visits-600.jsonl and makes nrows rows cycling over it. */
static int
bench_data_load(const char *dir, size_t nrows, struct bench_data *d)
{
	struct bench_idgen gen = { 1743465600000LL, 20250401 };
	struct rk_clock clk = { bench_id_now, bench_id_random, &gen };
	char path[4096], *line = NULL;
	size_t cap = 0, i, lineno = 0;
	json_error_t jerr;
	FILE *f = NULL;
	int rc = RK_EINVAL;

	memset(d, 0, sizeof(*d));
	for (i = 0; i < BENCH_NROOMS; i++)
		snprintf(d->rooms[i], sizeof(d->rooms[i]), "room-%02zu", i + 1);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
	    BENCH_SOURCE) >= sizeof(path)) {
		log_warnx("%s: path too long", dir);
		goto out;
	}
	if ((f = fopen(path, "r")) == NULL) {
		log_warn("%s", path);
		rc = RK_EIO;
		goto out;
	}
	if ((d->json = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while (getline(&line, &cap, f) != -1) {
		json_t *o;

		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if ((o = json_loads(line, 0, &jerr)) == NULL) {
			log_warnx("%s:%zu: %s", path, lineno, jerr.text);
			goto out;
		}
		/* The array takes the reference. */
		if (json_array_append_new(d->json, o) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if (ferror(f)) {
		log_warn("%s", path);
		rc = RK_EIO;
		goto out;
	}
	d->nvisits = json_array_size(d->json);
	if (d->nvisits == 0) {
		log_warnx("%s: no records", path);
		goto out;
	}
	if ((d->visits = calloc(d->nvisits, sizeof(*d->visits))) == NULL ||
	    (d->rows = calloc(nrows, sizeof(*d->rows))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	for (i = 0; i < d->nvisits; i++) {
		if (bench_visit_parse(json_array_get(d->json, i),
		    &d->visits[i]) != 0) {
			log_warnx("%s: record %zu: missing or mistyped field "
			    "(room_id, created_at, body or a vital)", path,
			    i + 1);
			goto out;
		}
	}
	for (i = 0; i < nrows; i++) {
		id_new(&clk, d->rows[i].id);
		d->rows[i].v = &d->visits[i % d->nvisits];
	}
	d->nrows = nrows;
	rc = 0;
out:
	free(line);
	if (f != NULL)
		fclose(f);
	if (rc != 0)
		bench_data_release(d);
	return rc;
}

static int
bench_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("%s: %s", sql, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return RK_EDB;
	}
	return 0;
}

static void
bench_unlink_db(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[4200];
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		if (unlink(p) != 0 && errno != ENOENT)
			log_warn("%s", p);
	}
}

static void
bench_db_close(struct bench_db *b)
{
	sqlite3_finalize(b->ins);
	if (b->s != NULL)
		store_close(b->s);
	else if (b->db != NULL && sqlite3_close(b->db) != SQLITE_OK)
		log_warnx("close: %s", sqlite3_errmsg(b->db));
	memset(b, 0, sizeof(*b));
}

/* Extra SQL for every connection (-x), or NULL. */
static const char *bench_extra_sql;

/* Opens a store at path, reads its settings into bench_pragmas, and
 * removes it again. */
static int
bench_settings_read(const char *path)
{
	struct store_opts so;
	struct store *s = NULL;
	struct rk_why why;
	sqlite3_stmt *st = NULL;
	char sql[64];
	size_t i, len = 0;
	int rc, n;

	why.text[0] = '\0';
	bench_unlink_db(path);
	memset(&so, 0, sizeof(so));
	so.path = path;
	so.vfs = BENCH_VFS;
	so.origin = "bench-device";
	if ((rc = store_open(&so, &s, &why)) != 0) {
		log_warnx("store_open %s: %s", path,
		    why.text[0] ? why.text : rk_strerror(rc));
		goto out;
	}
	for (i = 0; i < sizeof(bench_mirrored) / sizeof(bench_mirrored[0]);
	    i++) {
		const unsigned char *v;

		snprintf(sql, sizeof(sql), "PRAGMA %s", bench_mirrored[i]);
		if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) !=
		    SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
		    (v = sqlite3_column_text(st, 0)) == NULL) {
			log_warnx("%s: %s", sql, sqlite3_errmsg(store_db(s)));
			rc = RK_EDB;
			goto out;
		}
		n = snprintf(bench_pragmas + len, sizeof(bench_pragmas) - len,
		    "PRAGMA %s = %s;", bench_mirrored[i], (const char *)v);
		if (n < 0 || (size_t)n >= sizeof(bench_pragmas) - len) {
			log_warnx("store settings: too long");
			rc = RK_EINVAL;
			goto out;
		}
		len += (size_t)n;
		sqlite3_finalize(st);
		st = NULL;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	store_close(s);
	bench_unlink_db(path);
	return rc;
}

/* A fresh database at path for kind, at the current schema. */
static int
bench_db_open(enum bench_kind kind, const char *path, struct bench_db *b)
{
	struct store_opts so;
	struct rk_why why;
	int rc;

	memset(b, 0, sizeof(*b));
	why.text[0] = '\0';
	bench_unlink_db(path);
	if (kind == KIND_STORE || kind == KIND_STORE_NOCRYPT ||
	    kind == KIND_STORE_SESSION) {
		memset(&so, 0, sizeof(so));
		so.path = path;
		so.vfs = kind == KIND_STORE_NOCRYPT ? NULL : BENCH_VFS;
		b->session = kind == KIND_STORE_SESSION;
		so.origin = "bench-device";
		if ((rc = store_open(&so, &b->s, &why)) != 0) {
			log_warnx("store_open %s: %s", path,
			    why.text[0] ? why.text : rk_strerror(rc));
			goto out;
		}
		b->db = store_db(b->s);
	} else {
		if (sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE |
		    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
		    kind == KIND_VFS ? BENCH_VFS : NULL) != SQLITE_OK) {
			log_warnx("open %s: %s", path, b->db ?
			    sqlite3_errmsg(b->db) : "out of memory");
			rc = RK_EIO;
			goto out;
		}
		sqlite3_extended_result_codes(b->db, 1);
		if (kind == KIND_VFS)
			rc = vfs_prepare_new_db(b->db);
		else
			rc = bench_exec(b->db, "PRAGMA page_size = 4096");
		if (rc != 0) {
			log_warnx("%s: cannot set the page format: %s", path,
			    rk_strerror(rc));
			goto out;
		}
		if ((rc = bench_exec(b->db, bench_pragmas)) != 0)
			goto out;
		if ((rc = schema_migrate(b->db, &why)) != 0) {
			log_warnx("%s: %s", path, why.text);
			goto out;
		}
	}
	if (bench_extra_sql != NULL &&
	    (rc = bench_exec(b->db, bench_extra_sql)) != 0)
		goto out;
	if (sqlite3_prepare_v3(b->db, bench_insert_sql, -1,
	    SQLITE_PREPARE_PERSISTENT, &b->ins, NULL) != SQLITE_OK) {
		log_warnx("prepare: %s", sqlite3_errmsg(b->db));
		rc = RK_EDB;
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		bench_db_close(b);
	return rc;
}

static int
bench_insert(struct bench_db *b, const char *room, const struct bench_row *r,
    uint64_t hlc)
{
	const struct bench_visit *v = r->v;
	sqlite3_stmt *st = b->ins;
	int rc;

	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->id, ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, BENCH_AUTHOR, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, v->visited_at);
	sqlite3_bind_int64(st, 5, v->bp_sys);
	sqlite3_bind_int64(st, 6, v->bp_dia);
	sqlite3_bind_int64(st, 7, v->pulse);
	sqlite3_bind_double(st, 8, v->temp);
	sqlite3_bind_int64(st, 9, v->spo2);
	sqlite3_bind_text(st, 10, v->body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)hlc);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_warnx("insert: %s", sqlite3_errmsg(b->db));
		return RK_EDB;
	}
	return 0;
}

/* One write transaction of rows[0..n) in room (NULL: each row's own). */
static int
bench_tx(struct bench_db *b, const struct bench_data *d,
    const struct bench_row *rows, size_t n, const char *room)
{
	struct store_tx *tx = NULL;
	struct rk_why why;
	uint64_t hlc;
	int64_t seq;
	size_t i;
	int rc;

	if (room == NULL)
		room = d->rooms[rows[0].v->room];
	if (b->s != NULL) {
		/* Visits are inserts: the app captures them with append
		 * capture (records.c); store-session shows a session's cost. */
		rc = b->session ? store_tx_begin(b->s, room, &tx) :
		    store_tx_begin_append(b->s, room, &tx);
		if (rc != 0) {
			log_warnx("store_tx_begin: %s", rk_strerror(rc));
			return rc;
		}
		hlc = store_tx_hlc(tx);
	} else {
		if ((rc = bench_exec(b->db, "BEGIN IMMEDIATE")) != 0)
			return rc;
		hlc = hlc_now(&b->hlc, rk_now_ms(NULL));
	}
	for (i = 0; i < n; i++)
		if ((rc = bench_insert(b, room, &rows[i], hlc)) != 0)
			goto out;
	if (b->s != NULL) {
		why.text[0] = '\0';
		rc = store_tx_commit(tx, &seq, &why);
		tx = NULL;
		if (rc != 0)
			log_warnx("store_tx_commit: %s",
			    why.text[0] ? why.text : rk_strerror(rc));
	} else
		rc = bench_exec(b->db, "COMMIT");
out:
	if (rc != 0 && b->s == NULL)
		sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
	store_tx_abort(tx);
	return rc;
}

/* Runs one case once on a fresh database; *cost is what the writes took
 * (open, migration and close are not counted). */
static int
bench_case_run(const struct bench_case *c, const struct bench_data *d,
    size_t nactions, size_t nbulk, const char *path, struct bench_cost *cost)
{
	struct bench_cost start, end;
	struct bench_db b;
	size_t i;
	int rc;

	if ((rc = bench_db_open(c->kind, path, &b)) != 0)
		goto out;
	bench_sample(&start);
	if (c->pattern == PATTERN_ACTION) {
		for (i = 0; i < nactions; i++)
			if ((rc = bench_tx(&b, d, &d->rows[i], 1, NULL)) != 0)
				goto out;
	} else if ((rc = bench_tx(&b, d, d->rows, nbulk,
	    BENCH_BULK_ROOM)) != 0)
		goto out;
	bench_sample(&end);
	bench_cost_diff(&start, &end);
	*cost = end;
out:
	bench_db_close(&b);
	bench_unlink_db(path);
	return rc;
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of c's rounds (sorts them in place). */
static double
bench_median(struct bench_case *c)
{
	int n = c->nwalls;

	qsort(c->walls, (size_t)n, sizeof(c->walls[0]), bench_cmp_double);
	return n % 2 ? c->walls[n / 2] :
	    (c->walls[n / 2 - 1] + c->walls[n / 2]) / 2;
}

static const struct bench_case *
bench_plain_of(enum bench_pattern p)
{
	size_t i;

	for (i = 0; i < BENCH_NCASES; i++)
		if (bench_cases[i].pattern == p &&
		    bench_cases[i].kind == KIND_PLAIN && bench_cases[i].run)
			return &bench_cases[i];
	return NULL;
}

static void
bench_report(size_t nactions, size_t nbulk, int rounds)
{
	size_t i;

	printf("\n%-26s %7s %9s %10s %8s %7s  %s\n", "pattern", "rows",
	    "seconds", "rows/s", "% plain", "target", "verdict");
	for (i = 0; i < BENCH_NCASES; i++) {
		const struct bench_case *c = &bench_cases[i];
		const struct bench_case *p = bench_plain_of(c->pattern);
		size_t n = c->pattern == PATTERN_ACTION ? nactions : nbulk;
		double rate, pct = -1;
		char pcts[16] = "-", target[16] = "-";
		const char *verdict = "";

		if (!c->run)
			continue;
		rate = (double)n / c->best.wall;
		if (p != NULL) {
			pct = 100.0 * p->best.wall / c->best.wall;
			snprintf(pcts, sizeof(pcts), "%.1f%%", pct);
		}
		if (c->target_pct > 0) {
			snprintf(target, sizeof(target), ">=%d%%",
			    c->target_pct);
			verdict = pct < 0 ? "(no plain)" :
			    pct >= c->target_pct ? "meets" : "below";
		} else if (c->kind != KIND_PLAIN)
			verdict = "(split)";
		printf("%-26s %7zu %9.3f %10.0f %8s %7s  %s\n", c->name, n,
		    c->best.wall, rate, pcts, target, verdict);
	}
	printf("\nwhere the time went (same rounds): wall - cpu is mostly "
	    "waiting on fsync;\nMB through write()/read() include the WAL, "
	    "its checkpoint and the outbox\n");
	printf("%-26s %8s %8s %8s %8s %8s %8s %8s\n", "pattern", "wall s",
	    "median", "cpu s", "wait s", "MB wr", "MB rd", "writes");
	for (i = 0; i < BENCH_NCASES; i++) {
		const struct bench_cost *b = &bench_cases[i].best;

		if (!bench_cases[i].run)
			continue;
		printf("%-26s %8.3f %8.3f %8.3f %8.3f %8.1f %8.1f %8lld\n",
		    bench_cases[i].name, b->wall, bench_median(&bench_cases[i]),
		    b->cpu, b->wall > b->cpu ? b->wall - b->cpu : 0.0,
		    (double)b->wchar / 1e6, (double)b->rchar / 1e6, b->syscw);
	}
	printf("\nbest of %d rounds; per-action = one BEGIN IMMEDIATE/INSERT/"
	    "COMMIT per row, synchronous=FULL;\nbulk = one transaction of one "
	    "room.  store = encrypting VFS + append capture + outbox;\n"
	    "store-session = the store capturing with a session instead of append "
	    "capture;\n"
	    "vfs-only = encrypting VFS, no capture; store-nocrypt = capture + "
	    "outbox over the default VFS.\n", rounds);
}

/* Marks the cases to run: all, or those named in the comma-separated
 * list only.  RK_EINVAL (logged) for a name that is not a case. */
static int
bench_select(const char *only)
{
	const char *p = only, *end;
	size_t i, n;
	int found;

	for (i = 0; i < BENCH_NCASES; i++)
		bench_cases[i].run = only == NULL;
	while (p != NULL && *p != '\0') {
		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		found = 0;
		for (i = 0; i < BENCH_NCASES; i++) {
			if (strlen(bench_cases[i].name) == n &&
			    strncmp(bench_cases[i].name, p, n) == 0) {
				bench_cases[i].run = 1;
				found = 1;
			}
		}
		if (!found) {
			log_warnx("-o: no case \"%.*s\"; the cases:", (int)n,
			    p);
			for (i = 0; i < BENCH_NCASES; i++)
				log_warnx("  %s", bench_cases[i].name);
			return RK_EINVAL;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

static void
bench_usage(void)
{
	fprintf(stderr, "usage: bench_store [-n actions] [-b bulk] "
	    "[-r rounds] [-t tmpdir] [-o case] [-x sql] [DATADIR]\n");
}

static int
bench_parse_count(const char *s, long min, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min)
		return RK_EINVAL;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	uint8_t key[VFS_KEY_LEN];
	struct vfs_crypt *vfs = NULL;
	struct bench_data data;
	const char *datadir, *tmpbase = NULL, *only = NULL;
	char dir[4096] = "", path[4200];
	long nactions = 2000, nbulk = 100000, rounds = 3;
	size_t i, j;
	int ch, r, status = 1, have_data = 0;

	log_init("bench_store", 0);
	while ((ch = getopt(argc, argv, "n:b:r:t:o:x:h")) != -1) {
		switch (ch) {
		case 'n':
			if (bench_parse_count(optarg, 1, &nactions) != 0) {
				bench_usage();
				return 2;
			}
			break;
		case 'b':
			if (bench_parse_count(optarg, 1, &nbulk) != 0) {
				bench_usage();
				return 2;
			}
			break;
		case 'r':
			if (bench_parse_count(optarg, 1, &rounds) != 0) {
				bench_usage();
				return 2;
			}
			break;
		case 't':
			tmpbase = optarg;
			break;
		case 'o':
			only = optarg;
			break;
		case 'x':
			bench_extra_sql = optarg;
			break;
		case 'h':
			bench_usage();
			return 0;
		default:
			bench_usage();
			return 2;
		}
	}
	if (optind + 1 < argc) {
		bench_usage();
		return 2;
	}
	datadir = optind < argc ? argv[optind] : getenv("RK_BENCH_DATA");
	if (datadir == NULL || datadir[0] == '\0') {
		log_warnx("no workload: pass the bench data dir (holding %s) "
		    "or set RK_BENCH_DATA", BENCH_SOURCE);
		return 2;
	}
	if (sodium_init() < 0) {
		log_warnx("libsodium cannot start");
		return 1;
	}

	if (bench_select(only) != 0) {
		bench_usage();
		return 2;
	}
	for (i = 0; i < BENCH_NCASES; i++) {
		if ((bench_cases[i].walls = calloc((size_t)rounds,
		    sizeof(double))) == NULL) {
			log_warnx("out of memory");
			goto out;
		}
	}
	if (bench_data_load(datadir, (size_t)(nactions > nbulk ? nactions :
	    nbulk), &data) != 0)
		goto out;
	have_data = 1;
	randombytes_buf(key, sizeof(key));
	r = vfs_crypt_register(BENCH_VFS, key, &vfs);
	sodium_memzero(key, sizeof(key));
	if (r != 0) {
		log_warnx("vfs_crypt_register: %s", rk_strerror(r));
		goto out;
	}
	if (tmpbase == NULL && ((tmpbase = getenv("TMPDIR")) == NULL ||
	    tmpbase[0] == '\0'))
		tmpbase = "/tmp";
	snprintf(dir, sizeof(dir), "%s/bench_store.XXXXXX", tmpbase);
	if (mkdtemp(dir) == NULL) {
		log_warn("mkdtemp %s", dir);
		dir[0] = '\0';
		goto out;
	}
	snprintf(path, sizeof(path), "%s/replica.db", dir);
	if (bench_settings_read(path) != 0)
		goto out;

	printf("bench_store: SQLite %s, libsodium %s, %zu workload records, "
	    "files in %s\n", sqlite3_libversion(), sodium_version_string(),
	    data.nvisits, dir);
	printf("per-action: %ld rows over %d rooms; bulk: %ld rows of %s; "
	    "%ld rounds\n", nactions, BENCH_NROOMS, nbulk, BENCH_BULK_ROOM,
	    rounds);
	printf("settings of every case, as read from a store: %s\n",
	    bench_pragmas);
	if (bench_extra_sql != NULL)
		printf("extra SQL on every connection: %s\n", bench_extra_sql);
	fflush(stdout);
	for (r = 0; r < rounds; r++) {
		/* Each round starts one case later, so no case always runs
		 * right after the same other one (a large file just deleted,
		 * a disk still writing back). */
		for (j = 0; j < BENCH_NCASES; j++) {
			struct bench_case *c;
			struct bench_cost cost;

			i = (j + (size_t)r) % BENCH_NCASES;
			c = &bench_cases[i];

			if (!c->run)
				continue;
			if (bench_case_run(c, &data, (size_t)nactions,
			    (size_t)nbulk, path, &cost) != 0) {
				log_warnx("case \"%s\" failed", c->name);
				goto out;
			}
			if (c->best.wall == 0 || cost.wall < c->best.wall)
				c->best = cost;
			c->walls[c->nwalls++] = cost.wall;
			fprintf(stderr, "  round %d %-26s %8.3f s\n", r + 1,
			    c->name, cost.wall);
		}
	}
	bench_report((size_t)nactions, (size_t)nbulk, (int)rounds);
	status = 0;
out:
	if (dir[0] != '\0' && rmdir(dir) != 0)
		log_warn("rmdir %s", dir);
	if (vfs != NULL)
		vfs_crypt_unregister(vfs);
	if (have_data)
		bench_data_release(&data);
	for (i = 0; i < BENCH_NCASES; i++)
		free(bench_cases[i].walls);
	return status;
}
