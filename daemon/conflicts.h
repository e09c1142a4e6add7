/*
 * conflicts.h - conflict records (schema/004_conflicts.sql): how the hub
 * writes them while it applies a push, how a device predicts the hub's
 * outcome when it re-applies its pending changes, and how people list and
 * settle them through the local API.
 *
 * The decisions themselves are conflict/merge.h's (pure); this module
 * runs them against a database: the sqlite3changeset_apply_v2 conflict
 * handler (SET verdicts run as an UPDATE on the same connection, so a
 * session attached there captures the merge), the records as rows of the
 * room table `conflicts`, and who wrote which value.
 *
 * Who writes records.  Only the hub, the one that decides: its records are
 * inserted in the push's transaction while its session is attached, so
 * they are part of the canonical changeset and reach every member of the
 * room like any row.  A device re-applying its pending changes runs the
 * same decisions to show the likely outcome but writes no record (each
 * device would otherwise record the same conflict under its own id).
 * lww_lost and state_lost records (history: the rule decided, nobody is
 * asked) are written already resolved, with resolution 'auto'; the
 * others are open until a member settles one.
 *
 * Settling one (conflicts_resolve) is an ordinary captured write to the
 * record's room: the kept value is written to the row's column and the
 * record is marked resolved, in one store_tx, so both sync like any
 * other change (and meet other writers under the same rules).
 */
#ifndef RK_CONFLICTS_H
#define RK_CONFLICTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/err.h"

struct rec_ctx;
struct sqlite3;
struct sqlite3_changeset_iter;
struct conflicts_apply;

/* ---- applying a changeset: the hub, and a device predicting it ---------- */

/*
 * Checks one change of a changeset before anything of it is applied (the
 * pre-apply walk): SQLite calls a conflict handler only for conflicts, so
 * what the rules refuse even when it would apply cleanly is found here --
 * merge_decide with MERGE_NONE (a hard delete, an edit of an append-only
 * row, a key change, an unknown state) -- and the rule of the conflicts
 * table: a device may only resolve a record (UPDATE of status to
 * 'resolved' and the resolved_* columns, resolved_by its own staff when
 * staff is not NULL).  0: fine; 1: refused, the reason (no values) in
 * reason; RK_EPROTO: the iterator would not say what the change is.
 */
int conflicts_walk_change(struct sqlite3_changeset_iter *it,
    const char *staff, char *reason, size_t rlen) RK_MUST_CHECK;

/*
 * A conflict handler's state for one changeset applied to db by origin
 * (a device id) at envelope HLC hlc.  predict 0: the hub (records are
 * collected, the writers of the hub's rows looked up); 1: a device
 * predicting the hub (no records, the current row's writer unknown).
 * Free with conflicts_apply_free.
 */
int conflicts_apply_begin(struct sqlite3 *db, const char *origin,
    uint64_t hlc, int predict, struct conflicts_apply **out) RK_MUST_CHECK;
void conflicts_apply_free(struct conflicts_apply *a);

/*
 * The sqlite3changeset_apply_v2 conflict handler (arg: the conflicts_apply).
 * APPLY -> REPLACE, OMIT -> OMIT, SET -> the UPDATE then OMIT, REFUSE ->
 * ABORT with conflicts_apply_refusal() set.  A failure of its own (memory,
 * the UPDATE) also ABORTs, with conflicts_apply_error() set.
 */
int conflicts_apply_on_conflict(void *arg, int kind,
    struct sqlite3_changeset_iter *it);

/* The refusal's reason ("" if none) and the handler's own error (0). */
const char *conflicts_apply_refusal(const struct conflicts_apply *a);
int conflicts_apply_error(const struct conflicts_apply *a);
/* How many records the handler collected so far. */
size_t conflicts_apply_count(const struct conflicts_apply *a);

/*
 * Hub, after a successful apply, while its session is still attached:
 * inserts the collected records into `conflicts` of room, ids from clock,
 * created_at now.  0 or an rk_err.
 */
int conflicts_apply_write(struct conflicts_apply *a, const char *room,
    const struct rk_clock *clock, int64_t now) RK_MUST_CHECK;

/*
 * Hub, after the canonical changeset cs (n bytes) of origin is taken (and
 * the session detached): notes origin as the writer of every column it
 * sets in tables that are not append-only (local_hub_writers).
 */
int conflicts_note_writers(struct sqlite3 *db, const void *cs, int n,
    const char *origin) RK_MUST_CHECK;

/* ---- the local API ------------------------------------------------------ */

/* Open records of the rooms c's staff is an active member of (every room
 * on a hub); all != 0 includes resolved ones.  See common/api.h. */
int conflicts_list(struct rec_ctx *c, int all, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;

/* Settles record id with in = {"keep": "mine" | "theirs" | VALUE}; see
 * common/api.h.  *out: the record as conflicts_list shows it. */
int conflicts_resolve(struct rec_ctx *c, const char *id, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;

/* Open records on this replica. */
int conflicts_open_count(struct sqlite3 *db, int64_t *n) RK_MUST_CHECK;

#endif
