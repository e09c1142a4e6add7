-- 004_conflicts.sql - conflict records (daemon/conflicts.h), and what the
-- hub and the devices keep to write and predict them.
-- Conventions as in 001_base.sql; conflicts is listed in conflict/policy.c
-- and conflict/columns.c (columns in this order).

-- A conflict record: what lost (or may have lost) when two writers met at
-- the hub, kept with both values side by side (conflict/merge.h, THE
-- RULES).  A room table like any other: synced to every member, in the
-- room hash and the snapshots.
--
-- Only the hub inserts records (it is the one that decides; a device
-- predicts the outcome but writes no record, else a conflict would be
-- recorded once per device).  They are written inside the push's own
-- transaction, captured by the hub's session, so they travel in the same
-- canonical changeset as the merge they describe.  id is a time-ordered
-- id (common/id.h) made by the hub.
--
--   table_name, column_name  the row and column that met (a synced table)
--   row_key        the row's key as a JSON object {"room_id": .., ..}
--   kind           review | lww_lost | state_lost | deleted_edit |
--                  insert_differs | update_missing (merge.h)
--   winner_value   each side's value as JSON text, so its type survives:
--   loser_value    "text" | 12 | 1.5 | null | {"blob": "hex"};  SQL NULL
--                  means "no row" (update_missing: the row is gone)
--   winner_hlc     the HLCs the decision compared (for the hub's side,
--   loser_hlc      the row's hlc then)
--   winner_origin  the device that wrote each value ("" unknown)
--   loser_origin
--   status         open (a person should confirm one value) | resolved
--   resolved_by    the staff member who settled it, when, how: mine |
--   resolved_at    theirs | value (a value typed in), or auto for a
--   resolution     record kept only as history (lww_lost, state_lost:
--   resolved_value written already resolved, nobody is asked); the
--                  value kept, as JSON text
--
-- The record's content never changes after the insert; a device only
-- ever sets status to 'resolved' with the resolved_* columns and hlc
-- (POST /v1/conflicts/{id}/resolve), which the hub enforces.
CREATE TABLE conflicts (
	room_id TEXT NOT NULL,
	id TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	table_name TEXT NOT NULL,
	row_key TEXT NOT NULL,
	column_name TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('review', 'lww_lost', 'state_lost',
	    'deleted_edit', 'insert_differs', 'update_missing')),
	winner_value TEXT,
	loser_value TEXT,
	winner_hlc INTEGER NOT NULL,
	loser_hlc INTEGER NOT NULL,
	winner_origin TEXT NOT NULL,
	loser_origin TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'open'
	    CHECK (status IN ('open', 'resolved')),
	resolved_by TEXT,
	resolved_at INTEGER,
	resolution TEXT
	    CHECK (resolution IN ('mine', 'theirs', 'value', 'auto')),
	resolved_value TEXT,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (room_id, id)
) WITHOUT ROWID;
CREATE INDEX conflicts_by_status ON conflicts (status, room_id);

-- Hub only: which device last wrote each column of each row (tables that
-- are not append-only), so a record names both authors.  row_key is
-- the key's values as a JSON array; column_name 'hlc' names the row's
-- last writer.  Updated after each applied envelope.
CREATE TABLE local_hub_writers (
	table_name TEXT NOT NULL,
	row_key TEXT NOT NULL,
	column_name TEXT NOT NULL,
	origin TEXT NOT NULL,
	PRIMARY KEY (table_name, row_key, column_name)
) WITHOUT ROWID;

-- Device: set when re-applying a pending entry on top of the hub's state
-- predicts that the hub will refuse it (the reason); the entry is then
-- left un-applied until the hub answers.  NULL otherwise.
ALTER TABLE local_outbox ADD COLUMN predicted_refusal TEXT;
