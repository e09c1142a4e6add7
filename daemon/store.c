/*
 * store.c - opening the encrypted replica and capturing local writes.
 *
 * Settings, the same for every replica: page size and reserve set by the
 * VFS, WAL with synchronous=FULL (a write the user saw saved survives power
 * loss), exclusive locking (renkeid is the only process that opens the
 * file, and the WAL index then lives in heap memory instead of a -shm
 * file), temp_store=MEMORY (the VFS refuses temporary files), foreign keys
 * off (rows of a room may arrive before the directory rows they name).
 * Checkpoints: SQLite's, or the store's idle thread (store.h).
 */
#include "daemon/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <zstd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/hlc.h"
#include "common/log.h"
#include "conflict/policy.h"
#include "daemon/csenc.h"
#include "daemon/vfs.h"
#include "schema/schema.h"

/* The shape of a synced table, for append capture's table headers. */
struct store_table {
	char name[64];
	int ncol;
	uint8_t pk[64];		/* as PRAGMA table_info's pk column */
};

struct store {
	pthread_mutex_t lock;		/* held by whoever uses db */
	sqlite3 *db;
	char *origin;
	int is_hub;
	const struct rk_clock *clock;
	struct hlc hlc;
	struct store_tx *open_tx;
	sqlite3_stmt *st_outbox;	/* device: INSERT INTO local_outbox */
	sqlite3_stmt *st_hublog;	/* hub: INSERT INTO local_hub_log */
	sqlite3_stmt *st_begin;		/* BEGIN IMMEDIATE */
	struct store_table tables[24];	/* synced tables (policy_tables) */
	int ntables;
	sqlite3_stmt *st_commit;	/* COMMIT */
	sqlite3_stmt *st_hlc;		/* persist the clock */
	/* Idle checkpoints (store.h); wal_pages and last_commit_ms are
	 * written by the WAL hook, which runs under lock. */
	pthread_t ckpt;
	pthread_mutex_t ckpt_mu;	/* ckpt_stop, ckpt_cv */
	pthread_cond_t ckpt_cv;		/* store_close wakes it to stop */
	int ckpt_started, ckpt_stop;
	int wal_pages;
	int64_t last_commit_ms;		/* monotonic */
};

struct store_tx {
	struct store *s;
	sqlite3_session *sess;		/* NULL for an append capture */
	char room_id[65];
	uint64_t hlc;
	int64_t now_ms;
	/* Append capture (store_tx_begin_append): the changeset built by
	 * our own pre-update hook, and the table its last header named. */
	int append;
	struct buf cap;
	const struct store_table *cap_table;
	int cap_err;			/* 0, or the rk_err that stopped it */
	char cap_bad[96];		/* what a non-insert touched */
};

static int store_save_hlc(struct store *s, struct rk_why *why);
static void stc_db_add(struct sqlite3 *db);
static void stc_db_forget(struct sqlite3 *db);

/* Runs a persistent one-statement transaction control (BEGIN, COMMIT). */
static int
store_step_ctl(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int
store_sqlite_err(sqlite3 *db)
{
	switch (sqlite3_errcode(db) & 0xff) {
	case SQLITE_FULL: return RK_EFULL;
	case SQLITE_NOMEM: return RK_ENOMEM;
	case SQLITE_BUSY: case SQLITE_LOCKED: return RK_EBUSY;
	case SQLITE_IOERR: return RK_EIO;
	case SQLITE_CORRUPT: case SQLITE_NOTADB: return RK_ECRYPTO;
	case SQLITE_CONSTRAINT: return RK_EEXIST;
	}
	return RK_EDB;
}

static int
store_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("store: %s: %s", sql, err ? err : "?");
		sqlite3_free(err);
		return store_sqlite_err(db);
	}
	return 0;
}

static int
store_load_hlc(struct store *s)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	/* A device's local writes are not each followed by a clock row: the
	 * outbox holds their timestamps, local_meta the ones observed.  The
	 * clock only moves forward and entries are numbered as they commit,
	 * so the newest entry has the outbox's greatest HLC: one lookup by
	 * seq, not a walk of every entry the device ever wrote. */
	if (sqlite3_prepare_v2(s->db,
	    "SELECT max(coalesce((SELECT value FROM local_meta WHERE key ="
	    " 'hlc'), 0), coalesce((SELECT hlc FROM local_outbox ORDER BY seq"
	    " DESC LIMIT 1), 0))", -1, &st, NULL) != SQLITE_OK)
		return store_sqlite_err(s->db);
	if (sqlite3_step(st) == SQLITE_ROW)
		s->hlc.last = (uint64_t)sqlite3_column_int64(st, 0);
	else if (sqlite3_errcode(s->db) != SQLITE_DONE &&
	    sqlite3_errcode(s->db) != SQLITE_OK)
		rc = store_sqlite_err(s->db);
	sqlite3_finalize(st);
	return rc;
}

/* Reads the shape of every synced table once, for append capture. */
static int
store_load_tables(struct store *s)
{
	const struct table_policy *p;
	sqlite3_stmt *st = NULL;
	int rc = 0;

	for (p = policy_tables; p->table != NULL; p++) {
		struct store_table *t;

		if (s->ntables == (int)(sizeof(s->tables) / sizeof(s->tables[0])))
			return RK_EINVAL;
		t = &s->tables[s->ntables];
		snprintf(t->name, sizeof(t->name), "%s", p->table);
		t->ncol = 0;
		if (sqlite3_prepare_v2(s->db, "SELECT pk FROM pragma_table_info(?1)"
		    " ORDER BY cid", -1, &st, NULL) != SQLITE_OK)
			return store_sqlite_err(s->db);
		sqlite3_bind_text(st, 1, p->table, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (t->ncol == (int)sizeof(t->pk)) {
				sqlite3_finalize(st);
				return RK_EINVAL;
			}
			t->pk[t->ncol++] = (uint8_t)sqlite3_column_int(st, 0);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE || t->ncol == 0)
			return RK_EDB;
		s->ntables++;
	}
	return 0;
}

static void
store_checkpoint(struct store *s)
{
	int log = 0, done = 0;

	if (sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE,
	    &log, &done) != SQLITE_OK)
		log_warnx("store: checkpoint: %s", sqlite3_errmsg(s->db));
	else if (done == log)
		s->wal_pages = 0;
}

/* After every COMMIT, under lock: the WAL now holds pages frames. */
static int
store_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store *s = arg;

	(void)db;
	(void)name;
	s->wal_pages = pages;
	s->last_commit_ms = rk_mono_ms();
	if (pages >= STORE_WAL_MAX_PAGES)
		store_checkpoint(s);
	return SQLITE_OK;
}

static void *
store_ckpt_main(void *arg)
{
	struct store *s = arg;
	struct timespec ts;
	int64_t due;

	pthread_mutex_lock(&s->ckpt_mu);
	while (!s->ckpt_stop) {
		due = rk_mono_ms() + STORE_IDLE_MS;
		ts.tv_sec = (time_t)(due / 1000);
		ts.tv_nsec = (long)(due % 1000) * 1000000L;
		(void)pthread_cond_timedwait(&s->ckpt_cv, &s->ckpt_mu, &ts);
		if (s->ckpt_stop)
			break;
		/* Never wait for the store: someone is using it. */
		if (pthread_mutex_trylock(&s->lock) != 0)
			continue;
		if (s->wal_pages >= STORE_WAL_IDLE_PAGES &&
		    rk_mono_ms() - s->last_commit_ms >= STORE_IDLE_MS)
			store_checkpoint(s);
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&s->ckpt_mu);
	return NULL;
}

int
store_open(const struct store_opts *o, struct store **out,
    struct rk_why *why)
{
	struct store *s = NULL;
	pthread_condattr_t ca;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->origin = strdup(o->origin)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->ckpt_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->ckpt_cv, &ca);
	pthread_condattr_destroy(&ca);
	s->is_hub = o->is_hub;
	s->clock = o->clock;
	if (sqlite3_open_v2(o->path, &s->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    o->vfs) != SQLITE_OK) {
		rc = rk_whyf(why, RK_EIO, "cannot open %s: %s", o->path,
		    s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	if ((rc = vfs_prepare_new_db(s->db)) != 0) {
		rk_whyf(why, rc, "%s cannot be read with this key: the file "
		    "is damaged or belongs to another data dir", o->path);
		goto out;
	}
	if ((rc = store_exec(s->db,
	    "PRAGMA locking_mode = EXCLUSIVE;"
	    "PRAGMA temp_store = MEMORY;"
	    "PRAGMA synchronous = FULL;"
	    /* A bulk write's changed rows are read back by the session to
	     * build the changeset; a cache smaller than the transaction
	     * turns each of those reads into a decrypted page read. */
	    "PRAGMA cache_size = -65536;"
	    "PRAGMA foreign_keys = OFF;"
	    "PRAGMA cell_size_check = ON;")) != 0) {
		rk_whyf(why, rc, "cannot read %s: %s", o->path,
		    rc == RK_ECRYPTO ? "it fails authentication (wrong key "
		    "or damaged file)" : sqlite3_errmsg(s->db));
		goto out;
	}
	/* Ownership and version are checked before anything is written, so
	 * a file that is not ours is refused unchanged. */
	if ((rc = schema_migrate(s->db, why)) != 0)
		goto out;
	if ((rc = store_exec(s->db, "PRAGMA journal_mode = WAL")) != 0) {
		rk_whyf(why, rc, "cannot use %s: %s", o->path,
		    sqlite3_errmsg(s->db));
		goto out;
	}
	if (o->idle_checkpoint) {
		if ((rc = store_exec(s->db, "PRAGMA wal_autocheckpoint = 0")) !=
		    0) {
			rk_whyf(why, rc, "cannot use %s: %s", o->path,
			    sqlite3_errmsg(s->db));
			goto out;
		}
		sqlite3_wal_hook(s->db, store_wal_hook, s);
	}
	if ((rc = store_load_tables(s)) != 0) {
		rk_whyf(why, rc, "cannot read the schema of %s", o->path);
		goto out;
	}
	if ((rc = store_load_hlc(s)) != 0) {
		rk_whyf(why, rc, "cannot read %s", o->path);
		goto out;
	}
	if (sqlite3_prepare_v3(s->db,
	    "INSERT INTO local_outbox (origin, room_id, hlc, schema_version,"
	    " created_at, changeset) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1,
	    SQLITE_PREPARE_PERSISTENT, &s->st_outbox, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(s->db,
	    "INSERT INTO local_hub_log (room_id, origin, created_at, changeset)"
	    " VALUES (?1, ?2, ?3, ?4)", -1,
	    SQLITE_PREPARE_PERSISTENT, &s->st_hublog, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(s->db, "BEGIN IMMEDIATE", -1,
	    SQLITE_PREPARE_PERSISTENT, &s->st_begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(s->db, "COMMIT", -1,
	    SQLITE_PREPARE_PERSISTENT, &s->st_commit, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(s->db,
	    "INSERT INTO local_meta (key, value) VALUES ('hlc', ?1)"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value", -1,
	    SQLITE_PREPARE_PERSISTENT, &s->st_hlc, NULL) != SQLITE_OK) {
		rc = rk_whyf(why, RK_EDB, "store: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	if (o->idle_checkpoint) {
		if (pthread_create(&s->ckpt, NULL, store_ckpt_main, s) != 0) {
			rc = rk_whyf(why, RK_ENOMEM, "store: cannot start a "
			    "thread");
			goto out;
		}
		s->ckpt_started = 1;
	}
	stc_db_add(s->db);
	*out = s;
	s = NULL;
	rc = 0;
out:
	store_close(s);
	return rc;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->ckpt_started) {
		pthread_mutex_lock(&s->ckpt_mu);
		s->ckpt_stop = 1;
		pthread_cond_signal(&s->ckpt_cv);
		pthread_mutex_unlock(&s->ckpt_mu);
		pthread_join(s->ckpt, NULL);
	}
	store_tx_abort(s->open_tx);
	if (s->st_hlc != NULL && store_save_hlc(s, NULL) != 0)
		log_warnx("store: cannot save the clock at close");
	sqlite3_finalize(s->st_outbox);
	sqlite3_finalize(s->st_hublog);
	sqlite3_finalize(s->st_begin);
	sqlite3_finalize(s->st_commit);
	sqlite3_finalize(s->st_hlc);
	if (s->db != NULL)
		stc_db_forget(s->db);
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(s->db));
	free(s->origin);
	pthread_cond_destroy(&s->ckpt_cv);
	pthread_mutex_destroy(&s->ckpt_mu);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/*
 * The statement cache behind store_prepare/store_finalize.  Preparing
 * costs more than running most of the sync's statements once (the hub
 * prepares a dozen per envelope, a room hash one per table), so a
 * statement given back with store_finalize is kept, reset and unbound,
 * for the next store_prepare of the same SQL text on the same
 * connection.  A statement in use is never handed out twice: a nested
 * store_prepare of the same text gets one of its own, finalized when
 * given back.  Entries are found by connection and text (a hash, then
 * strcmp: callers may build SQL in reused buffers).  One mutex: these
 * are microseconds under locks the callers hold anyway (a slot is
 * only ever emptied by the thread using its connection).  Only the
 * connections of open stores are cached for (store_open registers, and
 * store_close forgets, its own): a connection opened elsewhere gets
 * plain statements, so closing it never finds one still held here.
 */
#define STC_SLOTS 512
#define STC_DBS 64

struct stc_ent {
	sqlite3 *db;		/* NULL: a free slot */
	sqlite3_stmt *st;
	char *sql;		/* malloc'd copy */
	uint32_t hash;
	int in_use;
	uint64_t used;		/* last hand-out, for eviction */
};

static struct stc_ent stc[STC_SLOTS];
static sqlite3 *stc_dbs[STC_DBS];	/* connections cached for */
static uint64_t stc_clock;
static pthread_mutex_t stc_mu = PTHREAD_MUTEX_INITIALIZER;

static uint32_t
stc_hash(const char *sql)
{
	uint32_t h = 2166136261u;

	while (*sql != '\0')
		h = (h ^ (unsigned char)*sql++) * 16777619u;
	return h;
}

/* Under stc_mu: a free slot, or the least recently used idle one of db
 * emptied (its statement finalized); NULL if there is neither.  Only
 * db's own: connections are opened without SQLite's mutex, so only the
 * thread using db (the caller) may finalize a statement of it. */
static struct stc_ent *
stc_slot(sqlite3 *db)
{
	struct stc_ent *lru = NULL;
	size_t i;

	for (i = 0; i < STC_SLOTS; i++) {
		if (stc[i].db == NULL)
			return &stc[i];
		if (stc[i].db == db && !stc[i].in_use &&
		    (lru == NULL || stc[i].used < lru->used))
			lru = &stc[i];
	}
	if (lru != NULL) {
		sqlite3_finalize(lru->st);
		free(lru->sql);
		memset(lru, 0, sizeof(*lru));
	}
	return lru;
}

/* Under stc_mu: whether db's statements are cached. */
static int
stc_db_on(sqlite3 *db)
{
	size_t i;

	for (i = 0; i < STC_DBS; i++)
		if (stc_dbs[i] == db)
			return 1;
	return 0;
}

/* Caches db's statements from now on (no-op when the table is full). */
static void
stc_db_add(sqlite3 *db)
{
	size_t i;

	pthread_mutex_lock(&stc_mu);
	for (i = 0; i < STC_DBS && !stc_db_on(db); i++)
		if (stc_dbs[i] == NULL) {
			stc_dbs[i] = db;
			break;
		}
	pthread_mutex_unlock(&stc_mu);
}

int
store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	uint32_t h = stc_hash(sql);
	struct stc_ent *e;
	char *copy;
	size_t i;
	int dup = 0, on;

	pthread_mutex_lock(&stc_mu);
	on = stc_db_on(db);
	for (i = 0; on && i < STC_SLOTS; i++) {
		e = &stc[i];
		if (e->db != db || e->hash != h || strcmp(e->sql, sql) != 0)
			continue;
		if (e->in_use) {
			dup = 1;
			continue;
		}
		e->in_use = 1;
		e->used = ++stc_clock;
		*st = e->st;
		pthread_mutex_unlock(&stc_mu);
		return 0;
	}
	pthread_mutex_unlock(&stc_mu);
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) != SQLITE_OK) {
		log_warnx("store: %s: %s", sql, sqlite3_errmsg(db));
		sqlite3_finalize(*st);
		*st = NULL;
		return store_sqlite_err(db);
	}
	/* Kept for later unless the text is already kept (in use now) or
	 * memory is short: then it is simply finalized when given back. */
	if (!on || dup || (copy = strdup(sql)) == NULL)
		return 0;
	pthread_mutex_lock(&stc_mu);
	if (stc_db_on(db) && (e = stc_slot(db)) != NULL) {
		e->db = db;
		e->st = *st;
		e->sql = copy;
		e->hash = h;
		e->in_use = 1;
		e->used = ++stc_clock;
		copy = NULL;
	}
	pthread_mutex_unlock(&stc_mu);
	free(copy);
	return 0;
}

void
store_finalize(sqlite3_stmt *st)
{
	size_t i;

	if (st == NULL)
		return;
	pthread_mutex_lock(&stc_mu);
	for (i = 0; i < STC_SLOTS; i++)
		if (stc[i].st == st && stc[i].db != NULL) {
			/* Reset: no read transaction stays open, and no
			 * binding points into the caller's memory. */
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			stc[i].in_use = 0;
			pthread_mutex_unlock(&stc_mu);
			return;
		}
	pthread_mutex_unlock(&stc_mu);
	sqlite3_finalize(st);
}

/* Finalizes every statement cached for db and stops caching for it:
 * before db is closed.  One still in use is a caller's bug: it is left
 * to that caller (whose store_finalize will finalize it) and the close
 * then fails, logged. */
static void
stc_db_forget(sqlite3 *db)
{
	size_t i;

	pthread_mutex_lock(&stc_mu);
	for (i = 0; i < STC_DBS; i++)
		if (stc_dbs[i] == db)
			stc_dbs[i] = NULL;
	for (i = 0; i < STC_SLOTS; i++)
		if (stc[i].db == db) {
			if (stc[i].in_use)
				log_warnx("store: a statement is still in use "
				    "at close: %s", stc[i].sql);
			else
				sqlite3_finalize(stc[i].st);
			free(stc[i].sql);
			memset(&stc[i], 0, sizeof(stc[i]));
		}
	pthread_mutex_unlock(&stc_mu);
}

int
store_set_durable(struct store *s, int durable)
{
	return store_exec(s->db, durable ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL");
}

void
store_lock(struct store *s)
{
	pthread_mutex_lock(&s->lock);
}

void
store_unlock(struct store *s)
{
	pthread_mutex_unlock(&s->lock);
}

sqlite3 *
store_db(struct store *s)
{
	return s->db;
}

const char *
store_origin(const struct store *s)
{
	return s->origin;
}

const struct rk_clock *
store_clock(const struct store *s)
{
	return s->clock;
}

/* Captures synced tables only; local_* never leave the replica. */
static int
store_table_filter(void *arg, const char *table)
{
	(void)arg;
	return policy_for_table(table) != NULL;
}

int
store_tx_begin(struct store *s, const char *room_id, struct store_tx **out)
{
	struct store_tx *tx = NULL;
	int rc;

	if (s->open_tx != NULL)
		return RK_EBUSY;
	if (strlen(room_id) >= sizeof(tx->room_id))
		return RK_EINVAL;
	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		return RK_ENOMEM;
	tx->s = s;
	memcpy(tx->room_id, room_id, strlen(room_id) + 1);
	if (store_step_ctl(s, s->st_begin) != SQLITE_OK) {
		rc = store_sqlite_err(s->db);
		log_warnx("store: BEGIN: %s", sqlite3_errmsg(s->db));
		free(tx);
		return rc;
	}
	if (sqlite3session_create(s->db, "main", &tx->sess) != SQLITE_OK) {
		store_exec(s->db, "ROLLBACK");
		free(tx);
		return RK_ENOMEM;
	}
	sqlite3session_table_filter(tx->sess, store_table_filter, NULL);
	if (sqlite3session_attach(tx->sess, NULL) != SQLITE_OK) {
		sqlite3session_delete(tx->sess);
		store_exec(s->db, "ROLLBACK");
		free(tx);
		return RK_EDB;
	}
	tx->now_ms = rk_now_ms(s->clock);
	tx->hlc = hlc_now(&s->hlc, tx->now_ms);
	s->open_tx = tx;
	*out = tx;
	return 0;
}

/*
 * Append capture.  A write that only inserts rows (a post, a visit, a new
 * room) does not need a session: the pre-update hook hands us each new row
 * and we write it in the changeset format store_check_rows documents --
 * a table header when the table changes, then op SQLITE_INSERT, indirect
 * 0, and the row's values.  This skips what a session costs per
 * transaction (compiling its schema queries, reading every row back) and
 * yields a changeset that applies the same.  Anything but an INSERT into
 * a synced table fails the transaction at commit.
 */
static void
store_cap_hook(void *arg, sqlite3 *db, int op, const char *zdb,
    const char *table, sqlite3_int64 k1, sqlite3_int64 k2)
{
	struct store_tx *tx = arg;
	const struct store_table *t = tx->cap_table;
	sqlite3_value *v;
	int i, n;

	if (tx->cap_err != 0 || strcmp(zdb, "main") != 0)
		return;
	if (t == NULL || strcmp(t->name, table) != 0) {
		for (i = 0, t = NULL; i < tx->s->ntables; i++)
			if (strcmp(tx->s->tables[i].name, table) == 0)
				t = &tx->s->tables[i];
		if (t == NULL)
			return;		/* a local table: not captured */
		csenc_table(&tx->cap, t->name, t->ncol, t->pk, &tx->cap_err);
		tx->cap_table = t;
	}
	if (op != SQLITE_INSERT) {
		snprintf(tx->cap_bad, sizeof(tx->cap_bad), "%s of a row of %s",
		    op == SQLITE_DELETE ? "a delete" : "an update", table);
		tx->cap_err = RK_EINVAL;
		return;
	}
	n = sqlite3_preupdate_count(db);
	if (n != t->ncol) {
		tx->cap_err = RK_EDB;
		return;
	}
	csenc_insert(&tx->cap, &tx->cap_err);
	for (i = 0; i < n; i++) {
		if (sqlite3_preupdate_new(db, i, &v) != SQLITE_OK) {
			tx->cap_err = RK_EDB;
			return;
		}
		csenc_value(&tx->cap, v, &tx->cap_err);
	}
}

int
store_tx_begin_append(struct store *s, const char *room_id,
    struct store_tx **out)
{
	struct store_tx *tx = NULL;
	int rc;

	if (s->open_tx != NULL)
		return RK_EBUSY;
	if (strlen(room_id) >= sizeof(tx->room_id))
		return RK_EINVAL;
	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		return RK_ENOMEM;
	tx->s = s;
	tx->append = 1;
	memcpy(tx->room_id, room_id, strlen(room_id) + 1);
	if (store_step_ctl(s, s->st_begin) != SQLITE_OK) {
		rc = store_sqlite_err(s->db);
		log_warnx("store: BEGIN: %s", sqlite3_errmsg(s->db));
		free(tx);
		return rc;
	}
	sqlite3_preupdate_hook(s->db, store_cap_hook, tx);
	tx->now_ms = rk_now_ms(s->clock);
	tx->hlc = hlc_now(&s->hlc, tx->now_ms);
	s->open_tx = tx;
	*out = tx;
	return 0;
}

/* Persists the clock inside the caller's transaction (or on its own), so
 * a restart with the wall clock behind never reissues a timestamp. */
static int
store_save_hlc(struct store *s, struct rk_why *why)
{
	int rc;

	sqlite3_bind_int64(s->st_hlc, 1, (sqlite3_int64)s->hlc.last);
	rc = sqlite3_step(s->st_hlc);
	sqlite3_reset(s->st_hlc);
	if (rc != SQLITE_DONE)
		return rk_whyf(why, store_sqlite_err(s->db),
		    "cannot save the clock: %s", sqlite3_errmsg(s->db));
	return 0;
}

int
store_hlc_observe(struct store *s, uint64_t remote)
{
	uint64_t before = s->hlc.last;
	int rc;

	if ((rc = hlc_observe(&s->hlc, remote, rk_now_ms(s->clock))) != 0)
		return rc;
	if (s->hlc.last != before)
		return store_save_hlc(s, NULL);
	return 0;
}

uint64_t
store_tx_hlc(const struct store_tx *tx)
{
	return tx->hlc;
}

int64_t
store_tx_now_ms(const struct store_tx *tx)
{
	return tx->now_ms;
}

/*
 * The changeset format, as far as the room check reads it (SQLite's
 * session extension writes it; see its sqlite3session.h):
 *
 *   table header:  'T', varint ncol, ncol bytes (1 = primary-key column),
 *                  the table name, NUL-terminated
 *   change:        op byte (SQLITE_INSERT 18, SQLITE_DELETE 9,
 *                  SQLITE_UPDATE 23), indirect byte, then
 *                  INSERT: the new record; DELETE: the old record;
 *                  UPDATE: the old record, then the new record
 *   record:        ncol values
 *   value:         type byte: 0 undefined, 5 NULL (nothing follows),
 *                  1 integer or 2 real (8 bytes), 3 text or 4 blob
 *                  (varint length, then the bytes)
 *   varint:        SQLite's: 7 bits a byte, high bit = more, at most 9
 *                  bytes, the 9th contributing all 8 bits
 *
 * Only the first value of the first record is looked at -- room_id, the
 * first column of every room table (schema/001_base.sql) -- the rest is
 * skipped by length.  Walking the bytes this way costs a fraction of the
 * changeset iterator, which builds every value of every row.
 */
static int
cs_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;
	int i;

	for (i = 0; i < 9; i++) {
		if (p >= end)
			return -1;
		if (i == 8) {
			x = (x << 8) | *p++;
			break;
		}
		x = (x << 7) | (*p & 0x7f);
		if ((*p++ & 0x80) == 0)
			break;
	}
	*pp = p;
	*v = x;
	return 0;
}

/* Skips one value; a text value's bytes are handed back in *text. */
static int
cs_value(const uint8_t **pp, const uint8_t *end, const uint8_t **text,
    size_t *len)
{
	const uint8_t *p = *pp;
	uint64_t n;
	uint8_t type;

	if (p >= end)
		return -1;
	type = *p++;
	*text = NULL;
	*len = 0;
	switch (type) {
	case 0: case 5:
		break;
	case 1: case 2:
		if (end - p < 8)
			return -1;
		p += 8;
		break;
	case 3: case 4:
		if (cs_varint(&p, end, &n) != 0 || n > (uint64_t)(end - p))
			return -1;
		if (type == 3) {
			*text = p;
			*len = (size_t)n;
		}
		p += n;
		break;
	default:
		return -1;
	}
	*pp = p;
	return 0;
}

/* Every row of a room table names its room; a transaction may touch only
 * its own room, and a device never writes the directory. */
static int
store_check_rows(struct store_tx *tx, const void *cs, int n,
    struct rk_why *why)
{
	const uint8_t *p = cs, *end = p + n, *room;
	const struct table_policy *pol = NULL;
	const char *table = NULL;
	uint64_t ncol = 0, i;
	size_t roomlen, len, tlen = strlen(tx->room_id);
	int nrec, r;

	while (p < end) {
		if (*p == 'T') {
			p++;
			if (cs_varint(&p, end, &ncol) != 0 || ncol == 0 ||
			    ncol > (uint64_t)(end - p))
				goto bad;
			p += ncol;
			table = (const char *)p;
			if ((p = memchr(p, '\0', (size_t)(end - p))) == NULL)
				goto bad;
			p++;
			pol = policy_for_table(table);
			if (pol == NULL || (pol->scope == SYNC_DIRECTORY &&
			    !tx->s->is_hub))
				return rk_whyf(why, RK_EDENIED, "table %s is not "
				    "written by a device", table);
			if (pol->scope == SYNC_DIRECTORY && tlen != 0)
				return rk_whyf(why, RK_EINVAL, "a write to room "
				    "%s touched the directory", tx->room_id);
			continue;
		}
		if (table == NULL || end - p < 2)
			goto bad;
		switch (*p) {
		case SQLITE_INSERT: case SQLITE_DELETE: nrec = 1; break;
		case SQLITE_UPDATE: nrec = 2; break;
		default: goto bad;
		}
		p += 2;
		for (r = 0; r < nrec; r++) {
			for (i = 0; i < ncol; i++) {
				if (cs_value(&p, end, &room, &len) != 0)
					goto bad;
				if (r != 0 || i != 0 || pol->scope != SYNC_ROOM)
					continue;
				roomlen = len;
				if (room == NULL || roomlen != tlen ||
				    memcmp(room, tx->room_id, tlen) != 0)
					return rk_whyf(why, RK_EINVAL, "a write to "
					    "room %s touched a row of room %.*s",
					    tx->room_id, room ? (int)roomlen : 6,
					    room ? (const char *)room : "(none)");
			}
		}
	}
	return 0;
bad:
	log_warnx("store: the captured change is malformed");
	return RK_EDB;
}

static void
store_tx_free(struct store_tx *tx)
{
	if (tx->sess != NULL)
		sqlite3session_delete(tx->sess);
	if (tx->append)
		sqlite3_preupdate_hook(tx->s->db, NULL, NULL);
	buf_release(&tx->cap);
	tx->s->open_tx = NULL;
	free(tx);
}

static int
store_append_hub_log(struct store *s, struct store_tx *tx, const void *cs,
    int n, int64_t *hub_seq, struct rk_why *why)
{
	int rc;

	sqlite3_bind_text(s->st_hublog, 1, tx->room_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->st_hublog, 2, s->origin, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->st_hublog, 3, tx->now_ms);
	sqlite3_bind_blob(s->st_hublog, 4, cs, n, SQLITE_STATIC);
	rc = sqlite3_step(s->st_hublog);
	sqlite3_reset(s->st_hublog);
	sqlite3_clear_bindings(s->st_hublog);
	if (rc != SQLITE_DONE)
		return rk_whyf(why, store_sqlite_err(s->db),
		    "cannot append to the hub log: %s", sqlite3_errmsg(s->db));
	*hub_seq = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* Local data, authenticated by the VFS: the cap only guards against a
 * frame header that claims an absurd size. */
#define STORE_OUTBOX_ZMAX ((unsigned long long)1 << 31)

int
store_outbox_raw(const void *blob, size_t n, const void **raw,
    size_t *rawlen, void **owned)
{
	static const uint8_t magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	unsigned long long size;
	void *p;
	size_t got;

	*owned = NULL;
	if (n < 4 || memcmp(blob, magic, 4) != 0) {
		*raw = blob;
		*rawlen = n;
		return 0;
	}
	size = ZSTD_getFrameContentSize(blob, n);
	if (size == ZSTD_CONTENTSIZE_UNKNOWN ||
	    size == ZSTD_CONTENTSIZE_ERROR || size == 0 ||
	    size > STORE_OUTBOX_ZMAX)
		return RK_EPROTO;
	if ((p = malloc((size_t)size)) == NULL)
		return RK_ENOMEM;
	got = ZSTD_decompress(p, (size_t)size, blob, n);
	if (ZSTD_isError(got) || got != size) {
		log_warnx("store: an outbox entry does not decompress: %s",
		    ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
		free(p);
		return RK_EPROTO;
	}
	*raw = p;
	*rawlen = got;
	*owned = p;
	return 0;
}

/* A large changeset compressed for the outbox, or NULL to keep it raw
 * (small, or not smaller).  malloc'd: the caller frees. */
static void *
store_outbox_pack(const void *cs, int n, int *packed)
{
	size_t cap, z;
	void *p;

	if (n < STORE_OUTBOX_ZMIN)
		return NULL;
	cap = ZSTD_compressBound((size_t)n);
	if ((p = malloc(cap)) == NULL)
		return NULL;
	/* Level 1: this is on the write path; compression on the wire
	 * happens again, per envelope, anyway. */
	z = ZSTD_compress(p, cap, cs, (size_t)n, 1);
	if (ZSTD_isError(z) || z >= (size_t)n) {
		free(p);
		return NULL;
	}
	*packed = (int)z;
	return p;
}

int
store_tx_commit(struct store_tx *tx, int64_t *seq, struct rk_why *why)
{
	struct store *s = tx->s;
	void *cs = NULL, *packed = NULL;
	int n = 0, npacked = 0, rc;
	int64_t newseq = 0;

	/* A failed statement (SQLITE_FULL, say) may have rolled the whole
	 * transaction back; anything after it would commit on its own. */
	if (sqlite3_get_autocommit(s->db)) {
		rc = rk_whyf(why, RK_EDB, "the write was interrupted and rolled "
		    "back");
		goto out;
	}
	if (tx->append) {
		/* Our own bookkeeping below must not reach the capture. */
		sqlite3_preupdate_hook(s->db, NULL, NULL);
		if (tx->cap_err != 0) {
			rc = rk_whyf(why, tx->cap_err, tx->cap_bad[0] ?
			    "an append-only write made %s" : "cannot capture "
			    "the change", tx->cap_bad);
			goto out;
		}
		if (tx->cap.len > INT32_MAX) {
			rc = rk_whyf(why, RK_EINVAL, "the change is too large");
			goto out;
		}
		n = (int)tx->cap.len;
		cs = tx->cap.data;
	} else if (sqlite3session_changeset(tx->sess, &n, &cs) != SQLITE_OK) {
		rc = rk_whyf(why, RK_ENOMEM, "cannot capture the change");
		goto out;
	}
	if (n > 0) {
		if ((rc = store_check_rows(tx, cs, n, why)) != 0)
			goto out;
		if (s->is_hub) {
			/* A hub's own writes are canonical at once. */
			if ((rc = store_append_hub_log(s, tx, cs, n, &newseq,
			    why)) != 0)
				goto out;
			goto commit;
		}
		sqlite3_bind_text(s->st_outbox, 1, s->origin, -1, SQLITE_STATIC);
		sqlite3_bind_text(s->st_outbox, 2, tx->room_id, -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(s->st_outbox, 3, (sqlite3_int64)tx->hlc);
		sqlite3_bind_int(s->st_outbox, 4, schema_version());
		sqlite3_bind_int64(s->st_outbox, 5, tx->now_ms);
		if ((packed = store_outbox_pack(cs, n, &npacked)) != NULL)
			sqlite3_bind_blob(s->st_outbox, 6, packed, npacked,
			    SQLITE_STATIC);
		else
			sqlite3_bind_blob(s->st_outbox, 6, cs, n, SQLITE_STATIC);
		rc = sqlite3_step(s->st_outbox);
		sqlite3_reset(s->st_outbox);
		sqlite3_clear_bindings(s->st_outbox);
		if (rc != SQLITE_DONE) {
			rc = rk_whyf(why, store_sqlite_err(s->db),
			    "cannot queue the change: %s",
			    sqlite3_errmsg(s->db));
			goto out;
		}
		newseq = sqlite3_last_insert_rowid(s->db);
		goto captured;
commit:
		/* A hub's log has no clock column: keep the clock itself. */
		if ((rc = store_save_hlc(s, why)) != 0)
			goto out;
captured:
		;
	}
	/* The session must not see the COMMIT's own bookkeeping. */
	if (tx->sess != NULL) {
		sqlite3session_delete(tx->sess);
		tx->sess = NULL;
	}
	if (store_step_ctl(s, s->st_commit) != SQLITE_OK) {
		rc = rk_whyf(why, store_sqlite_err(s->db),
		    "cannot save: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	rc = 0;
	if (seq != NULL)
		*seq = newseq;
out:
	free(packed);
	if (!tx->append)
		sqlite3_free(cs);	/* the session's; the capture buf is ours */
	if (rc != 0 && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	store_tx_free(tx);
	return rc;
}

void
store_tx_abort(struct store_tx *tx)
{
	if (tx == NULL)
		return;
	if (tx->sess != NULL) {
		sqlite3session_delete(tx->sess);
		tx->sess = NULL;
	}
	if (!sqlite3_get_autocommit(tx->s->db))
		sqlite3_exec(tx->s->db, "ROLLBACK", NULL, NULL, NULL);
	store_tx_free(tx);
}

int
store_pending_count(struct store *s, int64_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	/* Not status = 'pending': an entry whose envelope is acked waits
	 * no more, though it reads so until settled (sync.c). */
	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM"
	    " local_outbox_waiting", -1, &st, NULL) != SQLITE_OK)
		return store_sqlite_err(s->db);
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		rc = store_sqlite_err(s->db);
	sqlite3_finalize(st);
	return rc;
}
