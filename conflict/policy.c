/*
 * policy.c - the sync scope and conflict policy of every synced table.
 * Tables not listed here (local_*) are never captured or shipped.  The
 * column-level rules (which columns are clinical and need review) are in
 * conflict/columns.c, applied by conflict/merge.c; this table is the
 * per-table default.
 */
#include "conflict/policy.h"

#include <string.h>

const struct table_policy policy_tables[] = {
	{ "agencies", SYNC_DIRECTORY, POLICY_LWW },
	{ "staff", SYNC_DIRECTORY, POLICY_LWW },
	{ "devices", SYNC_DIRECTORY, POLICY_LWW },
	{ "rooms", SYNC_ROOM, POLICY_MONOTONIC },
	{ "memberships", SYNC_ROOM, POLICY_LWW },
	{ "patients", SYNC_ROOM, POLICY_REVIEW },
	{ "consents", SYNC_ROOM, POLICY_APPEND_ONLY },
	{ "posts", SYNC_ROOM, POLICY_APPEND_ONLY },
	{ "visits", SYNC_ROOM, POLICY_APPEND_ONLY },
	{ "emergency_cards", SYNC_ROOM, POLICY_REVIEW },
	{ "medications", SYNC_ROOM, POLICY_REVIEW },
	{ "requests", SYNC_ROOM, POLICY_MONOTONIC },
	{ "read_receipts", SYNC_ROOM, POLICY_APPEND_ONLY },
	/* schema/003_roomwork.sql (daemon/roomwork.h) */
	{ "room_details", SYNC_ROOM, POLICY_LWW },
	{ "acp_revisions", SYNC_ROOM, POLICY_APPEND_ONLY },
	{ "sheets", SYNC_ROOM, POLICY_REVIEW },
	{ "audit_events", SYNC_ROOM, POLICY_APPEND_ONLY },
	/* schema/004_conflicts.sql (daemon/conflicts.h): only the hub
	 * inserts; a device may only resolve (status and resolved_*). */
	{ "conflicts", SYNC_ROOM, POLICY_MONOTONIC },
	{ NULL, SYNC_LOCAL, POLICY_LWW },
};

const struct table_policy *
policy_for_table(const char *table)
{
	const struct table_policy *p;

	for (p = policy_tables; p->table != NULL; p++)
		if (strcmp(p->table, table) == 0)
			return p;
	return NULL;
}
