/*
 * store.c - opening the encrypted replica and capturing local writes.
 *
 * Settings, the same for every replica: page size and reserve set by the
 * VFS, WAL with synchronous=FULL (a write the user saw saved survives power
 * loss), exclusive locking (renkeid is the only process that opens the
 * file, and the WAL index then lives in heap memory instead of a -shm
 * file), temp_store=MEMORY (the VFS refuses temporary files), foreign keys
 * off (rows of a room may arrive before the directory rows they name).
 */
#include "daemon/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "common/hlc.h"
#include "common/log.h"
#include "conflict/policy.h"
#include "daemon/vfs.h"
#include "schema/schema.h"

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
	sqlite3_stmt *st_hlc;		/* persist the clock */
};

struct store_tx {
	struct store *s;
	sqlite3_session *sess;
	char room_id[65];
	uint64_t hlc;
	int64_t now_ms;
};

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

	if (sqlite3_prepare_v2(s->db,
	    "SELECT value FROM local_meta WHERE key = 'hlc'", -1, &st,
	    NULL) != SQLITE_OK)
		return store_sqlite_err(s->db);
	if (sqlite3_step(st) == SQLITE_ROW)
		s->hlc.last = (uint64_t)sqlite3_column_int64(st, 0);
	else if (sqlite3_errcode(s->db) != SQLITE_DONE &&
	    sqlite3_errcode(s->db) != SQLITE_OK)
		rc = store_sqlite_err(s->db);
	sqlite3_finalize(st);
	return rc;
}

int
store_open(const struct store_opts *o, struct store **out,
    struct rk_why *why)
{
	struct store *s = NULL;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->origin = strdup(o->origin)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	pthread_mutex_init(&s->lock, NULL);
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
	    sqlite3_prepare_v3(s->db,
	    "INSERT INTO local_meta (key, value) VALUES ('hlc', ?1)"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value", -1,
	    SQLITE_PREPARE_PERSISTENT, &s->st_hlc, NULL) != SQLITE_OK) {
		rc = rk_whyf(why, RK_EDB, "store: %s", sqlite3_errmsg(s->db));
		goto out;
	}
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
	store_tx_abort(s->open_tx);
	sqlite3_finalize(s->st_outbox);
	sqlite3_finalize(s->st_hublog);
	sqlite3_finalize(s->st_hlc);
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(s->db));
	free(s->origin);
	pthread_mutex_destroy(&s->lock);
	free(s);
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
	if ((rc = store_exec(s->db, "BEGIN IMMEDIATE")) != 0) {
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
 * Every row of a room table names its room in the first primary-key
 * column; a transaction may touch only its own room, and a device never
 * writes the directory.
 */
static int
store_check_rows(struct store_tx *tx, const void *cs, int n,
    struct rk_why *why)
{
	sqlite3_changeset_iter *it = NULL;
	int rc = 0, step;

	if (sqlite3changeset_start(&it, n, (void *)cs) != SQLITE_OK)
		return RK_ENOMEM;
	while ((step = sqlite3changeset_next(it)) == SQLITE_ROW) {
		const char *table;
		const struct table_policy *p;
		sqlite3_value *v = NULL;
		int ncol, op, indirect;
		const unsigned char *room;

		sqlite3changeset_op(it, &table, &ncol, &op, &indirect);
		p = policy_for_table(table);
		if (p == NULL || (p->scope == SYNC_DIRECTORY && !tx->s->is_hub)) {
			rc = rk_whyf(why, RK_EDENIED,
			    "table %s is not written by a device", table);
			break;
		}
		if (p->scope == SYNC_DIRECTORY) {
			if (tx->room_id[0] != '\0') {
				rc = rk_whyf(why, RK_EINVAL, "a write to room %s "
				    "touched the directory", tx->room_id);
				break;
			}
			continue;
		}
		if (op == SQLITE_INSERT)
			sqlite3changeset_new(it, 0, &v);
		else
			sqlite3changeset_old(it, 0, &v);
		room = v ? sqlite3_value_text(v) : NULL;
		if (room == NULL || strcmp((const char *)room, tx->room_id)) {
			rc = rk_whyf(why, RK_EINVAL,
			    "a write to room %s touched a row of room %s",
			    tx->room_id, room ? (const char *)room : "(none)");
			break;
		}
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = RK_EDB;
	sqlite3changeset_finalize(it);
	return rc;
}

static void
store_tx_free(struct store_tx *tx)
{
	if (tx->sess != NULL)
		sqlite3session_delete(tx->sess);
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

int
store_tx_commit(struct store_tx *tx, int64_t *seq, struct rk_why *why)
{
	struct store *s = tx->s;
	void *cs = NULL;
	int n = 0, rc;
	int64_t newseq = 0;

	/* A failed statement (SQLITE_FULL, say) may have rolled the whole
	 * transaction back; anything after it would commit on its own. */
	if (sqlite3_get_autocommit(s->db)) {
		rc = rk_whyf(why, RK_EDB, "the write was interrupted and rolled "
		    "back");
		goto out;
	}
	if (sqlite3session_changeset(tx->sess, &n, &cs) != SQLITE_OK) {
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
commit:
		if ((rc = store_save_hlc(s, why)) != 0)
			goto out;
	}
	/* The session must not see the COMMIT's own bookkeeping. */
	sqlite3session_delete(tx->sess);
	tx->sess = NULL;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = rk_whyf(why, store_sqlite_err(s->db),
		    "cannot save: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	rc = 0;
	if (seq != NULL)
		*seq = newseq;
out:
	sqlite3_free(cs);
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

	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM local_outbox"
	    " WHERE status = 'pending'", -1, &st, NULL) != SQLITE_OK)
		return store_sqlite_err(s->db);
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		rc = store_sqlite_err(s->db);
	sqlite3_finalize(st);
	return rc;
}
