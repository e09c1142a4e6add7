/*
 * sync.h - the device's sync engine: pushes the outbox to the hub, pulls
 * the hub's canonical changesets for the device's rooms, keeps pending
 * local changes on top of the hub's state (undo, apply, re-apply), takes
 * room snapshots, purges rooms the staff has left, reports room hashes,
 * and enrols the device.  The protocol is wire.h; the steps are described
 * in sync.c.
 *
 * Threads.  sync_start runs one background thread while the device is
 * enrolled.  Every function here may be called from the local API thread;
 * none of them blocks on the network except sync_enroll.  The engine takes
 * store_lock() only around database work, never across network I/O.  Its
 * own mutex is a leaf: it is never held while store_lock() is taken, so
 * callers may hold the store lock while they call sync_kick, sync_request,
 * sync_progress or sync_enroll.
 */
#ifndef RK_SYNC_H
#define RK_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"

struct keys;
struct rk_conf;
struct sqlite3;
struct store;
struct sync;
struct pull_response;

/* Default pause between syncs when nothing is pending (ms). */
#define SYNC_INTERVAL_MS 30000
/* Backoff after failures: from 1 s doubling to 5 min, +-20% jitter. */
#define SYNC_BACKOFF_MIN_MS 1000
#define SYNC_BACKOFF_MAX_MS (5 * 60 * 1000)
/* One envelope carries at most this many outbox entries / raw bytes. */
#define SYNC_ENV_MAX_ENTRIES 256
#define SYNC_ENV_MAX_RAW (4u * 1024 * 1024)

/*
 * Creates the engine for the data dir dir.  s, k, conf and clock (NULL:
 * wall clock) must outlive it.  If the device is enrolled (conf->hub_url
 * set and the hub's signing key known) the background thread starts and
 * syncs at once.  On a hub (conf->role "hub") nothing starts.  conf is
 * updated in place (hub_url, staff) and saved by sync_enroll.  Call it
 * from the main thread before other threads use libcurl, without the store
 * lock.  *out is freed with sync_stop.
 */
int sync_start(struct store *s, const struct keys *k, const char *dir,
    struct rk_conf *conf, const struct rk_clock *clock, struct sync **out)
    RK_MUST_CHECK;

/* Stops the thread (aborting a transfer in progress), joins it and frees
 * sy.  NULL is fine.  Call it without the store lock, before store_close. */
void sync_stop(struct sync *sy);

/* Something was written: sync soon (not before a failure's backoff ends).
 * Cheap; call after each successful local write.  NULL is fine. */
void sync_kick(struct sync *sy);

/* The pause between syncs when nothing is pending (default
 * SYNC_INTERVAL_MS; at least 1000). */
void sync_set_interval(struct sync *sy, int64_t ms);

/* Sync now, ignoring backoff.  Non-blocking.  Returns a ticket: the sync
 * has finished once sync_progress shows "finished" >= ticket.  0 if the
 * device is not enrolled (nothing will run). */
uint64_t sync_request(struct sync *sy);

/*
 * Sets into["sync"] to
 *   {"enrolled": bool, "running": bool,
 *    "phase": "push"|"pull"|"snapshot"|"idle", "done": n, "total": n,
 *    "bytes": n, "bytes_total": n (the transfer in progress),
 *    "attempt": n (attempts started), "finished": n (attempts finished),
 *    "ok": bool (the last finished attempt reached the hub and completed),
 *    "last_sync": ms|null, "last_error": text|null,
 *    "last_refusal": text|null (the last "N changes refused" message,
 *    kept after later syncs clear last_error), "hub": url|null,
 *    "cursor": n, "head": n, "pending": n, "refused": n,
 *    "in_step": bool}
 * in_step: no pending outbox entries and cursor == head at the last pull.
 * RK_ENOMEM only.
 */
int sync_progress(struct sync *sy, json_t *into) RK_MUST_CHECK;

/*
 * Enrols this device at hub_url with a one-time code (wire.h, POST
 * /v1/enroll).  pin (NULL or "") is an optional libcurl public-key pin
 * ("sha256//BASE64") for the hub's TLS certificate, kept for every later
 * request.  Called from the local API thread, which holds the store
 * lock: the HTTP call does not touch the database, the results are written
 * after it.  Validates the URL (https, or http to a loopback address
 * only), saves the hub's key and id in the replica and hub_url and staff
 * in renkei.conf, starts the background thread and asks for a first sync
 * (directory snapshot, then the rooms the hub names).
 *
 * *out (json_decref) on success: {"staff", "agency", "hub_id", "hub",
 * "warning": text|null} -- warning says when pending changes were written
 * as another staff member (the hub will refuse them).
 * Errors: RK_EINVAL (bad URL or code), RK_EUNAVAIL (hub unreachable),
 * RK_EDENIED / RK_EAUTH (the hub refused: why has its words), RK_EPROTO.
 */
int sync_enroll(struct sync *sy, const char *code, const char *hub_url,
    const char *pin, json_t **out, struct rk_why *why) RK_MUST_CHECK;

/*
 * The content hash of room ("" the directory) as {"room": R, "hash": hex,
 * "pending": n} into *out (json_decref).  Call with the store lock held.
 * Works without an engine (reads s only).
 */
int sync_room_hash(struct store *s, const char *room, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;

/* ------------------------------------------------------------------------
 * For tests: the engine's internal steps, each working on an open replica
 * database (the caller holds the store lock).  Not for other modules.
 */

/* An envelope's worth of outbox entries: seq first..last, one room. */
struct sync_range {
	int64_t first;
	int64_t last;
	char room[65];
	char origin[65];
};

/* Gives every pending outbox entry without one an envelope range (a row
 * of local_outbox_envelopes): consecutive seqs of one room and origin, at
 * most max_entries entries and about max_raw changeset bytes each.  Ranges
 * already given are never changed.  Runs in its own transaction. */
int sync_assign_ranges(struct sqlite3 *db, size_t max_entries,
    size_t max_raw) RK_MUST_CHECK;

/* The ranges whose entries wait for the hub's answer, in seq order.  *out is malloc'd (free()),
 * NULL when *n is 0. */
int sync_pending_ranges(struct sqlite3 *db, struct sync_range **out,
    size_t *n) RK_MUST_CHECK;

/* Merges the range's changesets (sqlite3changegroup), signs the envelope
 * and appends it to out. */
int sync_build_envelope(struct sqlite3 *db, const struct sync_range *r,
    const uint8_t sign_sk[64], struct buf *out) RK_MUST_CHECK;

/* The same for the ranges r[0..n) (of pending entries), in one walk over
 * the outbox; each envelope is appended to out in turn, lens[k] its
 * length. */
int sync_build_envelopes(struct sqlite3 *db, const struct sync_range *r,
    size_t n, const uint8_t sign_sk[64], struct buf *out, size_t *lens)
    RK_MUST_CHECK;

/* Records a push answer ({"results": [...]}) on the envelopes answered
 * (local_outbox_envelopes, schema/008_envelope_answers.sql): applied and
 * duplicate -> acked at their hub seq, refused -> refused with the reason,
 * except a refusal marked "retry": true (the hub did not record it: the
 * same envelope may succeed later), which leaves the envelope to be sent
 * again.  A refusal is settled onto its entries at once ('refused',
 * refused_reason); an ack is not: its entries read 'pending' until settled
 * (sync_settle, sync_apply_batch), and local_outbox_waiting leaves them
 * out meanwhile.  *refused and *deferred count the entries; reason (may be
 * NULL) gets the first reason of either kind. */
int sync_push_results(struct sqlite3 *db, json_t *answer, int64_t *refused,
    int64_t *deferred, char *reason, size_t reasonlen, struct rk_why *why)
    RK_MUST_CHECK;

/* Settles every answer recorded on an envelope and not yet on its entries:
 * each entry still 'pending' takes its envelope's status, acked_hub_seq or
 * refused_reason.  Idempotent; runs in its own transaction.  The engine
 * calls it before each push; a pull (sync_apply_batch) settles as well. */
int sync_settle(struct sqlite3 *db) RK_MUST_CHECK;

/*
 * One transaction of pulled state:
 *   undo every outbox entry whose effect is in the replica (newest first);
 *   purge the rooms in purge; replace the rows of each room of snap_rooms
 *   (all directory rows for "") with snap's; apply pull's canonical
 *   changesets in order; re-apply the entries still pending (oldest
 *   first), recording in `applied` what they changed; save cursor and head
 *   if set_cursor.
 * Acked entries count as still pending while their hub seq is beyond the
 * cursor being reached (or beyond snap's next_cursor in snap_rooms).
 * Answers not settled yet are settled first (sync_settle).
 * When the pull holds nothing but this replica's oldest acked envelopes,
 * each exactly as sent, all of that would leave every row as it is: the
 * rows are left alone and only the entries' bookkeeping changes (their
 * ack settled in the same row rewrite).
 * b->hlc_seen is set for the caller to fold into the store's clock.
 */
struct sync_batch {
	const char *const *purge;	/* rooms to purge */
	size_t npurge;
	const char *const *snap_rooms;	/* rooms snap replaces */
	size_t nsnap;			/* 0: no snapshot */
	const struct pull_response *snap;
	const struct pull_response *pull;	/* NULL: none */
	int set_cursor;
	uint64_t cursor;
	uint64_t head;
	uint64_t hlc_seen;	/* out: the largest hlc of the hub's rows */
	size_t echoed;		/* out: entries the pull brought back as
				 * sent, left in place (no undo, re-apply) */
};
int sync_apply_batch(struct sqlite3 *db, struct sync_batch *b,
    struct rk_why *why) RK_MUST_CHECK;

/* 0 if pr may answer a pull from cursor: next_cursor not behind it, head
 * not behind next_cursor, and its changes strictly increasing, after
 * cursor and up to next_cursor (so an answer replayed from an earlier
 * request is refused); RK_EPROTO with why otherwise. */
int sync_pull_check(const struct pull_response *pr, uint64_t cursor,
    struct rk_why *why) RK_MUST_CHECK;

/* The wait after the n-th consecutive failure (n >= 1), with rnd (any
 * 32-bit random value) choosing the jitter. */
int64_t sync_backoff_ms(unsigned failures, uint32_t rnd);

/* 0 if url may be used for a hub: https, or http to 127.0.0.0/8,
 * localhost or [::1]; RK_EINVAL with why otherwise. */
int sync_check_url(const char *url, struct rk_why *why) RK_MUST_CHECK;

#endif
