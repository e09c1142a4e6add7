-- 002_sync.sql - bookkeeping for sync (daemon/wire.h), local to each
-- replica: a device's envelope ranges and undo data, a hub's canonical log,
-- what it received, enrolment codes, nonces and reported room hashes.

-- Device: the envelope an outbox entry was first sent in: the entries of
-- its room with seq in env_first..env_last.  A retry re-sends exactly the
-- same range so the hub's (origin, room, seq) deduplication holds.
ALTER TABLE local_outbox ADD COLUMN env_first INTEGER;
ALTER TABLE local_outbox ADD COLUMN env_last INTEGER;
-- 'pending' | 'acked' (hub_seq in acked_hub_seq) | 'refused'
ALTER TABLE local_outbox ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE local_outbox ADD COLUMN refused_reason TEXT;
-- What re-applying this entry on top of the hub's state actually changed
-- (NULL: the original changeset); inverted to undo it before a pull.
ALTER TABLE local_outbox ADD COLUMN applied BLOB;

-- Hub: the one canonical order.  room_id '' holds directory changes.
CREATE TABLE local_hub_log (
	hub_seq INTEGER PRIMARY KEY,
	room_id TEXT NOT NULL,
	origin TEXT NOT NULL,
	seq_first INTEGER,
	seq_last INTEGER,
	created_at INTEGER NOT NULL,
	changeset BLOB NOT NULL
);
CREATE INDEX local_hub_log_room ON local_hub_log (room_id, hub_seq);

-- Hub: every envelope received, for deduplication by (origin, seq).  An
-- envelope carries entries of one room, in seq order but not necessarily
-- consecutive (other rooms' entries lie between), so ranges are per room.
CREATE TABLE local_hub_received (
	origin TEXT NOT NULL,
	room_id TEXT NOT NULL,
	seq_first INTEGER NOT NULL,
	seq_last INTEGER NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('applied', 'refused')),
	hub_seq INTEGER,
	reason TEXT,
	received_at INTEGER NOT NULL,
	PRIMARY KEY (origin, room_id, seq_first)
) WITHOUT ROWID;

-- Hub: what happened when an envelope did not apply cleanly (until the
-- conflict module decides column by column, nothing is dropped silently).
CREATE TABLE local_hub_conflict_log (
	id INTEGER PRIMARY KEY,
	hub_seq INTEGER,
	origin TEXT NOT NULL,
	seq_first INTEGER NOT NULL,
	table_name TEXT NOT NULL,
	kind TEXT NOT NULL,
	action TEXT NOT NULL,
	detail TEXT,
	at INTEGER NOT NULL
);

-- Hub: one-time enrolment codes, stored hashed (BLAKE2b of the code).
CREATE TABLE local_enroll_codes (
	code_hash BLOB NOT NULL PRIMARY KEY,
	staff_id TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_by TEXT,
	used_at INTEGER
) WITHOUT ROWID;

-- Hub: request nonces seen within the clock-skew window (replays).
CREATE TABLE local_nonces (
	device_id TEXT NOT NULL,
	nonce TEXT NOT NULL,
	seen_at INTEGER NOT NULL,
	PRIMARY KEY (device_id, nonce)
) WITHOUT ROWID;

-- Hub: which rooms each device has been given a snapshot of, and from
-- which hub seq on it follows the log.
CREATE TABLE local_hub_device_rooms (
	device_id TEXT NOT NULL,
	room_id TEXT NOT NULL,
	since_seq INTEGER NOT NULL,
	PRIMARY KEY (device_id, room_id)
) WITHOUT ROWID;

-- Hub: room hashes devices reported, and whether they matched.
CREATE TABLE local_room_hashes (
	device_id TEXT NOT NULL,
	room_id TEXT NOT NULL,
	cursor INTEGER NOT NULL,
	hash TEXT NOT NULL,
	matches INTEGER NOT NULL,
	reported_at INTEGER NOT NULL,
	PRIMARY KEY (device_id, room_id)
) WITHOUT ROWID;
CREATE INDEX local_outbox_status ON local_outbox (status, seq);
-- Pending entries are found by status now; the rowid-only index of 001 is
-- one more page written per local write for nothing.
DROP INDEX local_outbox_pending;
