/*
 * merge.h - the column-by-column conflict decision: what to do with one
 * change of a changeset that meets a row of the hub's database.
 *
 * Pure: no SQLite connection, no I/O, no globals.  The hub (authoritative)
 * calls it from its sqlite3changeset_apply_v2 conflict handler, and so does
 * a device re-applying its pending changes on top of the hub's state (to
 * show the likely outcome).  The per-column rules are declared beside the
 * schema in conflict/columns.c (enum column_rule in conflict/policy.h).
 *
 * INPUT (struct merge_change): the table, the op, the kind of conflict
 * SQLite reported (or MERGE_NONE: the change would apply cleanly), and per
 * column three values: the change's old value, its new value (either may
 * be MERGE_UNDEFINED: an UPDATE carries only its key and the columns it
 * changed) and the hub's current row (DATA and CONFLICT only).  Plus the
 * change's HLC and origin device, and the current row's last writer.
 *
 *   HLCs.  The current row's HLC is its hlc column.  The change's HLC is
 *   its own hlc column (the time of that write) when it sets one, but never
 *   later than merge_change.hlc, the envelope's HLC, which the hub checked
 *   against its own clock: a device cannot win every conflict by writing a
 *   far-future hlc into a row.  "Later" means the larger HLC; on equal HLCs
 *   the larger device id (strcmp); on equal HLCs and device ids (or both
 *   unknown) the hub's current value stays.  cur_origin is "" when the hub
 *   does not know who wrote its row last; a device predicting the hub
 *   passes "" too, so a prediction can differ only on equal HLCs.
 *
 * OUTPUT (struct merge_decision): a verdict, the columns to set, and the
 * conflict records to write.
 *
 *   MERGE_APPLY   take the change as it is: from the conflict handler,
 *                 SQLITE_CHANGESET_REPLACE (DATA, CONFLICT); for
 *                 MERGE_NONE, let it apply.
 *   MERGE_OMIT    drop it (an identical replay, a row already gone, or
 *                 nothing of it survives the merge); records may still
 *                 keep what lost.  SQLITE_CHANGESET_OMIT.
 *   MERGE_SET     (the MERGE) run "UPDATE table SET set[i].name =
 *                 set[i].value, ... WHERE key[j].name = key[j].value AND
 *                 ..." on the same connection, then return
 *                 SQLITE_CHANGESET_OMIT: a session attached to that
 *                 connection records the UPDATE, so the canonical changeset
 *                 holds the merged row.
 *   MERGE_REFUSE  the whole envelope is refused (SQLITE_CHANGESET_ABORT,
 *                 nothing partial applied); reason names the table and
 *                 columns, never a value.
 *
 * THE RULES, in the order they are checked.
 *
 *  1. FOREIGN_KEY -> REFUSE.
 *  2. A table without column rules (not synced), or whose column count
 *     differs from its rules, or a change of more than MERGE_MAX_COLS
 *     columns -> REFUSE.
 *  3. CONSTRAINT -> REFUSE naming the columns: a MONOTONIC value that is
 *     not a known state, else the columns an UPDATE changes, or those an
 *     INSERT leaves NULL.
 *  4. Refusals that do not depend on the hub's row.  SQLite calls the
 *     conflict handler only for conflicts, so the hub must also ask about
 *     every change with MERGE_NONE while it walks the changeset before
 *     applying it:
 *     - DELETE of a table without hard_delete -> REFUSE: clinical rows are
 *       only soft-deleted (deleted_at), rooms archived, members left.
 *       Only read_receipts (and the hub's directory) may be deleted.
 *     - UPDATE of an append-only table (policy.h POLICY_APPEND_ONLY:
 *       consents, posts, visits, read_receipts) that changes anything but
 *       deleted_at, bookkeeping and hlc -> REFUSE.  These rows are the
 *       record of what was said and measured; a correction is a new row,
 *       and a client never edits them, so such a change is a bug or
 *       tampering.  Refusing is not silent: the device keeps the refused
 *       entry with its reason.
 *     - an UPDATE that changes a key column -> REFUSE.
 *     - a MONOTONIC value that is not a known state -> REFUSE.
 *  5. MERGE_NONE -> APPLY.
 *  6. NOTFOUND.  DELETE: OMIT silently (already gone).  UPDATE (the hub
 *     does not have the row; also an update of a row deleted for good):
 *     OMIT, and an "update_missing" record per column the change sets
 *     (not bookkeeping or hlc) keeps the value: nothing is lost.
 *  7. DATA on DELETE (the row changed since the deleter saw it): the later
 *     of the delete (the envelope's HLC) and the row's last write wins:
 *     APPLY (delete) or OMIT (keep the row).  No record: only tables
 *     holding no user-written content may be hard-deleted.
 *  8. DATA on UPDATE: column by column, see below.  The old values are
 *     what the writer saw.
 *  9. CONFLICT (INSERT of an existing key): all columns equal -> OMIT
 *     silently (a replay), and so when only bookkeeping and hlc differ
 *     (e.g. a second device's read receipt: the first one stays).  Else
 *     the insert is merged like an UPDATE from a blank row: its old values
 *     are all NULL and a NULL in it means "not given".  So a column only
 *     one side filled takes that value silently (two nurses creating the
 *     same emergency card offline, one writing allergies, the other
 *     diagnoses, get one card with both), and a column both filled
 *     differently is decided by its rule (ONCE: the hub's first value
 *     stays; the others as below) and recorded as "insert_differs" with
 *     both values (not bookkeeping, hlc, or two deletion times).
 *
 * COLUMN BY COLUMN (UPDATE, and INSERT per 9).  A column the change does
 * not set is left alone.  A column whose new value equals the hub's is
 * already there.  A column whose old value equals the hub's applies as it
 * is (the writer saw the hub's value: a deliberate change, even one that
 * goes "backwards", like reopening a request).  The rest truly conflict:
 *
 *   COL_LWW     the later change wins.  With MERGE_F_HISTORY the loser is
 *               recorded as "lww_lost".
 *   COL_ONCE    as COL_LWW (only append-only tables refuse such updates).
 *   COL_REVIEW  the later change wins now, AND a "review" record keeps
 *               both values, both HLCs and both origins, shown to the room
 *               until a person confirms one.
 *   COL_MONOTONIC  the further state (columns.c "order") wins.  Two
 *               different states of the same rank (request done vs
 *               declined): the later wins and a "review" record keeps the
 *               other.  With MERGE_F_HISTORY a lower state that lost is
 *               recorded as "state_lost".
 *   COL_DELETED deleted_at: once set stays set (NULL < any time); two
 *               different times: the hub's first one stays.  No record.
 *   COL_FOLLOW, COL_BOOK with a leader: take the side their leader took
 *               (status_reason, status_by, status_at go with status).
 *               If the leader is not changed, or already equal, they are
 *               decided as COL_LWW on their own.  A COL_FOLLOW text that
 *               loses is always recorded: with its leader's kind (and its
 *               leader's record is then written too, even a history
 *               one), or as "lww_lost" when it lost on its own; so a
 *               decline's reason is never lost.  COL_BOOK is never
 *               recorded.
 *   COL_BOOK without a leader (updated_by, updated_at, read_at): the
 *               change's value if the change contributes anything (some
 *               other column ends up with its value) and is the later
 *               writer of the row, else the hub's: who/when always
 *               describe the same write as hlc.
 *   COL_HLC     if the change contributes anything: the larger of the two
 *               HLCs (the change's as bounded above); else unchanged.
 *
 * Soft-deleted rows.  An UPDATE reported as DATA (the writer did not see
 * the hub's latest row) that lands on a row whose deleted_at is set keeps
 * its edits (they apply by the rules above; the row stays deleted) and
 * adds a "deleted_edit" record on column deleted_at: winner the hub's
 * deleted_at, loser NULL (the writer's live row), so a person can
 * undelete.  So does an undelete that lost to a later deletion.  A soft
 * delete racing an edit needs no record: deleted_at applies cleanly and
 * the edit stays in the row.
 *
 * The verdict: no column ends up different from the hub's row -> OMIT;
 * every column ends up as the change has it (DATA: the columns it sets;
 * CONFLICT: the whole row) -> APPLY; else SET with exactly the columns
 * that differ from the hub's row.
 *
 * Records: kind, table, column, winner and loser values with their HLCs
 * and origins; the row's key is decision.key_text, a JSON object
 * {"column": value, ...} of the key columns (a key too long for
 * MERGE_KEY_MAX refuses the change when it needs a record: never a record
 * that cannot name its row).  "review", "deleted_edit", "insert_differs"
 * and "update_missing" want a person; "lww_lost" and "state_lost" are
 * history, written with MERGE_F_HISTORY or when they carry a lost
 * COL_FOLLOW text.
 *
 * MEMORY.  Nothing is allocated.  Values are borrowed: a merge_value's
 * text or blob points into the caller's memory (from the changeset
 * iterator: valid until the next sqlite3changeset_next or the end of the
 * conflict handler call), and so do the decision's set, key and record
 * values and origins.  Copy what must outlive that.  Column and table
 * names in a decision are static (columns.c), except a table the rules do
 * not know (borrowed).  struct merge_decision is large (about 9 KiB):
 * keep one per handler context rather than on a small stack.
 */
#ifndef RK_MERGE_H
#define RK_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define MERGE_MAX_COLS 32
#define MERGE_MAX_RECORDS (MERGE_MAX_COLS + 1)
#define MERGE_KEY_MAX 512
#define MERGE_REASON_MAX 256

/* The same numbers as SQLITE_INTEGER .. SQLITE_NULL; 0 = not given. */
enum merge_type {
	MERGE_UNDEFINED = 0,
	MERGE_INTEGER = 1,
	MERGE_FLOAT = 2,
	MERGE_TEXT = 3,
	MERGE_BLOB = 4,
	MERGE_NULL = 5,
};

struct merge_value {
	enum merge_type type;
	int64_t i;		/* MERGE_INTEGER */
	double f;		/* MERGE_FLOAT */
	const void *p;		/* MERGE_TEXT, MERGE_BLOB: n bytes, borrowed */
	size_t n;
};

/* The same numbers as SQLITE_INSERT, SQLITE_UPDATE, SQLITE_DELETE. */
enum merge_op {
	MERGE_OP_DELETE = 9,
	MERGE_OP_INSERT = 18,
	MERGE_OP_UPDATE = 23,
};

/* The same numbers as SQLITE_CHANGESET_DATA .. _FOREIGN_KEY. */
enum merge_conflict {
	MERGE_NONE = 0,		/* no conflict: the change applies as is */
	MERGE_DATA = 1,		/* UPDATE/DELETE: the row differs from old */
	MERGE_NOTFOUND = 2,	/* UPDATE/DELETE: no such row */
	MERGE_CONFLICT = 3,	/* INSERT: the key exists */
	MERGE_CONSTRAINT = 4,	/* the change breaks a constraint */
	MERGE_FOREIGN_KEY = 5,	/* the changeset breaks a foreign key */
};

enum merge_verdict {
	MERGE_APPLY,
	MERGE_OMIT,
	MERGE_SET,
	MERGE_REFUSE,
};

enum merge_kind {
	MERGE_REVIEW,
	MERGE_LWW_LOST,
	MERGE_STATE_LOST,
	MERGE_DELETED_EDIT,
	MERGE_INSERT_DIFFERS,
	MERGE_UPDATE_MISSING,
};

/* merge_change.flags */
#define MERGE_F_HISTORY 0x1	/* also record LWW and monotonic losers */

struct merge_change {
	const char *table;		/* NULL only for MERGE_FOREIGN_KEY */
	enum merge_op op;
	enum merge_conflict conflict;
	int ncol;
	/* Each ncol long.  old: UPDATE, DELETE; new: INSERT, UPDATE; cur:
	 * DATA, CONFLICT (the hub's row); NULL where not given. */
	const struct merge_value *old;
	const struct merge_value *new;
	const struct merge_value *cur;
	uint64_t hlc;			/* the envelope's HLC */
	const char *origin;		/* the device that made the change */
	const char *cur_origin;		/* the row's last writer, or "" */
	unsigned flags;			/* MERGE_F_* */
};

/* A column and its value: one to set, or one of the row's key. */
struct merge_column {
	int col;			/* index in the table */
	const char *name;
	struct merge_value value;
};

/* The row's key is the decision's key_text (the same for all records). */
struct merge_record {
	enum merge_kind kind;
	const char *table;
	int col;
	const char *column;
	struct merge_value winner;	/* MERGE_UNDEFINED: no row (missing) */
	struct merge_value loser;
	uint64_t winner_hlc, loser_hlc;
	const char *winner_origin, *loser_origin;
};

struct merge_decision {
	enum merge_verdict verdict;
	const char *table;
	enum merge_op op;
	enum merge_conflict conflict;
	int nset;
	struct merge_column set[MERGE_MAX_COLS];
	int nkey;
	struct merge_column key[MERGE_MAX_COLS];
	char key_text[MERGE_KEY_MAX];	/* {"room_id":"...","id":"..."} */
	int nrecord;
	struct merge_record record[MERGE_MAX_RECORDS];
	char reason[MERGE_REASON_MAX];	/* MERGE_REFUSE only */
};

/*
 * Decides one change.  0 with *out filled, or RK_EINVAL (and *out
 * untouched) if the caller broke this contract: an unknown op or conflict
 * kind, a conflict kind SQLite never reports for that op, or a value array
 * missing that the op and conflict require.  Whatever the change itself
 * holds (unknown table, too many columns, bad states) is a verdict, never
 * an error.
 */
int merge_decide(const struct merge_change *c, struct merge_decision *out)
    RK_MUST_CHECK;

/* Forgets a decision's borrowed pointers; nothing is freed (there is no
 * heap memory).  Call it before the values it borrowed go away. */
void merge_decision_release(struct merge_decision *d);

/*
 * One line for a log: table, op, conflict, verdict, the columns set and
 * the records' kinds and columns; a refusal's reason.  Never a value or a
 * key (patient data stays out of logs).  Always NUL-terminates buf.
 */
void merge_describe(const struct merge_decision *d, char *buf, size_t len);

/* "review", "lww_lost", "state_lost", "deleted_edit", "insert_differs",
 * "update_missing". */
const char *merge_kind_name(enum merge_kind kind);

/* "apply", "omit", "set", "refuse". */
const char *merge_verdict_name(enum merge_verdict v);

/* Same value: same type and bytes; an INTEGER equals a FLOAT of the same
 * number (as SQLite's IS compares them).  Two MERGE_UNDEFINED are equal. */
int merge_value_equal(const struct merge_value *a, const struct merge_value *b);

/* Reads an sqlite3_value (NULL: MERGE_UNDEFINED) into out, borrowing its
 * text or blob: valid as long as v is. */
struct sqlite3_value;
void merge_value_from_sqlite(struct sqlite3_value *v, struct merge_value *out);

/* Storage for the values of one change (merge_change_from_iter). */
struct merge_rows {
	struct merge_value old[MERGE_MAX_COLS];
	struct merge_value new[MERGE_MAX_COLS];
	struct merge_value cur[MERGE_MAX_COLS];
};

/*
 * Fills c (table, op, conflict, ncol, old/new/cur pointing into rows)
 * from a changeset iterator as a conflict handler receives it, reading
 * only; the caller then sets hlc, origin, cur_origin and flags.  A change
 * with more than MERGE_MAX_COLS columns keeps its ncol (merge_decide
 * refuses it) and only the first MERGE_MAX_COLS values are read.  0, or
 * RK_EDB if SQLite would not say what the change is.  Borrowed: valid
 * until the iterator moves.
 */
struct sqlite3_changeset_iter;
int merge_change_from_iter(struct sqlite3_changeset_iter *it, int conflict,
    struct merge_rows *rows, struct merge_change *c) RK_MUST_CHECK;

#endif
