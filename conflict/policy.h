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

#endif
