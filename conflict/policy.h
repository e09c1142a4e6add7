/*
 * policy.h - which tables sync, and how each is scoped.  Declared beside the
 * schema (schema/NNN_*.sql): a table listed here with SYNC_ROOM is a room
 * table whose first primary-key column is room_id; SYNC_DIRECTORY tables
 * are written by the hub only; anything not listed is local to one replica
 * and never captured.
 */
#ifndef RK_POLICY_H
#define RK_POLICY_H

enum sync_scope {
	SYNC_LOCAL = 0,		/* never leaves the replica */
	SYNC_ROOM,		/* room table: PRIMARY KEY (room_id, ...) */
	SYNC_DIRECTORY,		/* agencies, staff, devices: hub writes */
};

/* How a table's conflicting columns are decided (conflict issue). */
enum conflict_policy {
	POLICY_APPEND_ONLY,	/* rows are only inserted */
	POLICY_LWW,		/* last writer (HLC) wins */
	POLICY_REVIEW,		/* later wins and a conflict record is kept */
	POLICY_MONOTONIC,	/* the further state wins */
};

struct table_policy {
	const char *table;
	enum sync_scope scope;
	enum conflict_policy policy;
};

/* The policy of a table, or NULL for a local table. */
const struct table_policy *policy_for_table(const char *table);

/* All synced tables, NULL-terminated by table == NULL. */
extern const struct table_policy policy_tables[];

/*
 * Per-column rules (conflict/columns.c), declared beside the schema: every
 * synced table lists all its columns in schema order, so a changeset's
 * column i is the table's column i.  What each rule means when a change
 * meets the hub's row is written down in conflict/merge.h.
 */
enum column_rule {
	COL_KEY,	/* part of the PRIMARY KEY: never merged */
	COL_HLC,	/* the row's hlc: the larger one stays */
	COL_BOOK,	/* bookkeeping (who, when): follows its leader column,
			 * or the row's latest writer; never recorded */
	COL_FOLLOW,	/* user text that goes with a leader (a status's
			 * reason): follows it; a losing value is recorded */
	COL_LWW,	/* descriptive: last writer (HLC, then device) wins */
	COL_REVIEW,	/* clinical: later wins and a record keeps both */
	COL_MONOTONIC,	/* a state: the further one wins (order below) */
	COL_DELETED,	/* deleted_at: once set stays set */
	COL_ONCE,	/* written at insert (author, created_at, a post's
			 * body): the first value stays on a double insert;
			 * an update is refused in append-only tables and
			 * decided as COL_LWW elsewhere */
};

struct column_policy {
	const char *name;
	enum column_rule rule;
	/* COL_BOOK, COL_FOLLOW: the column this one follows; NULL (COL_BOOK
	 * only) follows the row's latest writer, like hlc. */
	const char *leader;
	/* COL_MONOTONIC: the states, lowest first: "a<b<c=d" (c and d have
	 * the same rank).  A value not listed is refused. */
	const char *order;
};

struct table_columns {
	const char *table;
	int ncol;
	const struct column_policy *cols;
	/* Rows may be hard-deleted (DELETE); else a DELETE is refused: the
	 * row is soft-deleted (deleted_at), archived or left instead. */
	int hard_delete;
};

/* The column rules of a synced table, or NULL. */
const struct table_columns *policy_columns_for_table(const char *table);

/* The column rules of every table of policy_tables, in the same order,
 * NULL-terminated by table == NULL. */
extern const struct table_columns policy_columns[];

#endif
