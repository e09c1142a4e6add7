/*
 * retention.h - the end of an archived room at the hub.  A room archived
 * on death, move or withdrawal of consent stays read-only for the
 * retention period (renkei.conf retention_days, common/conf.h), counted
 * from room_details.archived_at; then the hub purges it: every row of the
 * room goes, in one transaction, and a tombstone without patient data
 * stays (schema/005_retention.sql).  Each device that followed the room
 * is told to purge it at its next pull (hub.c: the room has no members
 * any more, so it lands in the device's purge list), and the room id is
 * refused from then on: pushes, snapshots, a new room with that id.
 *
 * renkeid runs the purge at start and daily (retention_run); the
 * operator runs it by hand with `renkei purge-expired [--dry-run]`
 * (admin_purge_expired).
 */
#ifndef RK_RETENTION_H
#define RK_RETENTION_H

#include <jansson.h>
#include <stdint.h>

#include "common/err.h"

struct sqlite3;
struct store;

#define RETENTION_DAY_MS INT64_C(86400000)
/* How often renkeid runs the purge after the run at start. */
#define RETENTION_INTERVAL_MS RETENTION_DAY_MS

/*
 * Hub: purges every room archived at least retention_ms before now_ms.
 * One transaction per room: a crash leaves a room whole or purged, never
 * half.  In a room's transaction: every row of every table with a
 * room_id column is deleted (the room tables, the conflict records and
 * audit events, and the hub's local bookkeeping: the audit chain, noted
 * writers, reported hashes, pending notes), except the tables that must
 * outlive the room: local_hub_device_rooms (each device's pending purge),
 * local_hub_received (deduplication; its refusal reasons are replaced)
 * and local_hub_log, whose entries of the room are emptied, not deleted
 * (their hub_seq must never be reused nor the log's first and last entry
 * move, or devices' cursors would break); local_hub_conflict_log rows of
 * those entries go; then the tombstone is written.
 *
 * dry_run: the same work, rolled back, so the counts are exactly those a
 * real run would give and nothing changes.  Logs one line per purged
 * room, naming its id only.  The caller holds store_lock.
 *
 * *out (json_decref): {"dry_run", "now", "retention_days",
 * "retention_ms", "purged": [{"room_id", "archived_at", "purged_at",
 * "rows_removed", "log_entries_emptied", "audit_entries", "audit_head"}],
 * "kept": [{"room_id", "archived_at", "purge_after"}] (archived, not yet
 * due), "already_purged": n}.  Written only on success.
 */
int retention_purge(struct store *s, int64_t now_ms, int64_t retention_ms,
    int dry_run, json_t **out, struct rk_why *why) RK_MUST_CHECK;

/*
 * Whether room was purged here: 1 with reason (a sentence naming the room
 * and the date, for a refusal), 0 if not, or a negative rk_err.
 */
int retention_purged(struct sqlite3 *db, const char *room, char *reason,
    size_t reasonlen) RK_MUST_CHECK;

/*
 * renkeid's run (at start and daily): takes store_lock, purges with the
 * store's clock, logs a summary line when something was purged, and a
 * failure (nothing to return to: the next run tries again).
 */
void retention_run(struct store *s, int64_t retention_ms);

#endif
