-- 005_retention.sql - what a hub keeps of a room it purged at the end of
-- the retention period (daemon/retention.h).
-- Conventions as in 001_base.sql.

-- Hub only: one row per purged room, written in the purge's own
-- transaction.  Nothing here names or describes the patient: the room's
-- id, when it was archived and purged, how many rows went, and the head
-- of the room's audit hash chain (local_audit_chain, removed with the
-- room) with its length, so that an audit export made before the purge
-- can still be matched against the chain the hub held.  audit_head is
-- NULL if the room had no chained event.  A room id here is never
-- accepted again (no push, snapshot or new room with that id).
CREATE TABLE local_purged_rooms (
	room_id TEXT NOT NULL PRIMARY KEY,
	archived_at INTEGER NOT NULL,
	purged_at INTEGER NOT NULL,
	rows_removed INTEGER NOT NULL,
	audit_entries INTEGER NOT NULL,
	audit_head TEXT
) WITHOUT ROWID;
