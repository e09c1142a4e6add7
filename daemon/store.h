/*
 * store.h - the replica: an encrypted SQLite database (vfs.h) at the
 * current schema, and change capture.
 *
 * Every local write goes through a store_tx: BEGIN IMMEDIATE with a session
 * attached to the synced tables; store_tx_commit takes the changeset, checks
 * that every row belongs to the transaction's room, appends it to
 * local_outbox and commits -- one SQLite transaction, so a crash leaves the
 * write and its outbox entry both or neither.
 *
 * Several threads share a store (local API, hub HTTP, device sync); each
 * holds store_lock() while it uses the database, and never across network
 * I/O.
 */
#ifndef RK_STORE_H
#define RK_STORE_H

#include <stdint.h>

#include "common/clock.h"
#include "common/err.h"

struct sqlite3;
struct sqlite3_stmt;
struct store;
struct store_tx;

struct store_opts {
	const char *path;		/* the database file */
	const char *vfs;		/* registered encrypting VFS name */
	const char *origin;		/* this replica's device id */
	int is_hub;			/* hubs may write the directory */
	const struct rk_clock *clock;	/* NULL: wall clock */
	int idle_checkpoint;		/* see below; 0: SQLite's own */
};

/*
 * Checkpoints (copying the WAL back into the database file) cost a few
 * milliseconds per thousand pages, and SQLite's own policy runs one inside
 * whichever COMMIT crosses 1000 pages: some user's write or some sync
 * answer pays for everyone's.  With idle_checkpoint set (renkeid sets it)
 * a thread of the store's own runs them instead, once the WAL holds
 * STORE_WAL_IDLE_PAGES and nothing was committed for STORE_IDLE_MS; it only
 * takes the store when no one else holds it.  A WAL that still reaches
 * STORE_WAL_MAX_PAGES (a long burst of writes with no pause) is
 * checkpointed at that COMMIT, as SQLite would.  Without the option
 * (tools, tests) SQLite's policy stands.
 *
 * The marks: a quarter of SQLite's, so that any pause leaves a small WAL
 * and the next burst (a day's writes, then its push) rarely meets the cap;
 * and a cap of twice SQLite's, not more: fifty busy stores on one disk
 * (bench_sync's ingest) each holding a large WAL, then checkpointing all
 * of it at once when they fall quiet, slowed every one of them (8000
 * pages: the pull-backs after the ingest took 42 s instead of 7).
 */
#define STORE_WAL_IDLE_PAGES	256
#define STORE_WAL_MAX_PAGES	2000
#define STORE_IDLE_MS		200

int store_open(const struct store_opts *o, struct store **out,
    struct rk_why *why) RK_MUST_CHECK;
/* Checkpoints and closes; NULL is fine. */
void store_close(struct store *s);

void store_lock(struct store *s);
void store_unlock(struct store *s);

struct sqlite3 *store_db(struct store *s);
const char *store_origin(const struct store *s);
const struct rk_clock *store_clock(const struct store *s);

/* Like store_tx_begin for a write that only INSERTs rows (a post, a
 * visit, a new room): the change is captured by a pre-update hook instead
 * of a session, which costs far less per transaction.  An update or delete
 * of a synced row inside it fails the commit. */
int store_tx_begin_append(struct store *s, const char *room_id,
    struct store_tx **out) RK_MUST_CHECK;

/* Folds a timestamp seen from elsewhere into this replica's clock;
 * RK_EINVAL if it is implausibly far ahead (hlc.h). */
int store_hlc_observe(struct store *s, uint64_t remote) RK_MUST_CHECK;

/* Begins a captured write to one room ("" on a hub: the directory).
 * On a device the change goes to local_outbox; on a hub it is canonical at
 * once and goes to local_hub_log (seq is then the hub seq).  RK_EBUSY if a
 * transaction is open. */
int store_tx_begin(struct store *s, const char *room_id,
    struct store_tx **out) RK_MUST_CHECK;
/* The HLC timestamp of this transaction: every row it writes carries it. */
uint64_t store_tx_hlc(const struct store_tx *tx);
int64_t store_tx_now_ms(const struct store_tx *tx);
/* Captures, appends to the outbox, commits, and frees tx (even on error).
 * After any failed statement inside the transaction, call store_tx_abort
 * instead: SQLite may already have rolled the transaction back. 
 * *seq is the new outbox entry, or 0 if the transaction changed nothing. */
int store_tx_commit(struct store_tx *tx, int64_t *seq, struct rk_why *why)
    RK_MUST_CHECK;
/* Rolls back and frees tx; NULL is fine. */
void store_tx_abort(struct store_tx *tx);

/*
 * Outbox changesets of STORE_OUTBOX_ZMIN bytes or more are kept
 * zstd-compressed (a bulk write's changeset would otherwise be written to
 * disk twice its size); a zstd frame begins with its magic, a changeset
 * with 'T' or 'P', so the two are told apart by their first bytes.
 * store_outbox_raw hands back the changeset of an outbox blob: *raw points
 * into blob (and *owned is NULL), or to a decompressed copy that the caller
 * frees with free(*owned).  RK_EPROTO for a frame that does not decompress.
 */
#define STORE_OUTBOX_ZMIN (64 * 1024)
int store_outbox_raw(const void *blob, size_t n, const void **raw,
    size_t *rawlen, void **owned) RK_MUST_CHECK;

/* Outbox entries not yet acknowledged by a hub. */
int store_pending_count(struct store *s, int64_t *n) RK_MUST_CHECK;

/*
 * Every COMMIT waits for the disk (synchronous=FULL) unless, between
 * transactions, store_set_durable(s, 0) says the next ones may skip that
 * wait: for bookkeeping that a power cut may lose without harm, such as a
 * hub's answers that are asked for again when an envelope is re-sent, or
 * a request nonce whose request could only be replayed to the same
 * effect.  A crash of the process still loses nothing (the WAL is
 * written, only not flushed), the commits keep their order, and the next
 * durable COMMIT flushes them too.  store_set_durable(s, 1) goes back.
 * Under store_lock, outside a transaction.
 */
int store_set_durable(struct store *s, int durable) RK_MUST_CHECK;

/* Maps the last SQLite error on db to an rk_err (SQLITE_FULL -> RK_EFULL). */
int store_sqlite_err(struct sqlite3 *db);

/* Prepares sql on db into *st (NULL on failure, logged with the SQL);
 * 0 or store_sqlite_err's code.  On an open store's connection the
 * statement may come from a cache (reset, no bindings): give it back
 * with store_finalize, never sqlite3_finalize. */
int store_prepare(struct sqlite3 *db, const char *sql,
    struct sqlite3_stmt **st) RK_MUST_CHECK;

/* Gives back a statement from store_prepare: kept for the next
 * store_prepare of its text, reset and unbound (any other statement is
 * finalized).  NULL is a no-op. */
void store_finalize(struct sqlite3_stmt *st);

#endif
