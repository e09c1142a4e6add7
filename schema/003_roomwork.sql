-- 003_roomwork.sql - the work a patient room does (daemon/roomwork.h):
-- requests and read receipts (tables in 001), invitations and the main
-- and deputy doctor, archiving, the emergency card's extra fields, ACP
-- revisions, admission/discharge sheets and the audit trail.
-- Conventions as in 001_base.sql; every synced table here is listed in
-- conflict/policy.c and conflict/columns.c (columns in this order: a
-- changeset names columns by position, and ALTER TABLE appends).

-- 主治医・副主治医 for 24-hour cover (staff ids of active members who
-- are doctors or dentists; NULL: not named), and who archived the room
-- when (rooms.status 'archived', rooms.archive_reason 'death' | 'moved' |
-- 'consent_withdrawn', written in the same transaction).  An archived room
-- is read-only and kept for the retention period counted from
-- archived_at, then purged by the hub.  One row per room, made when first
-- needed.  (Not columns of rooms: rooms rows are written positionally by
-- older code and tests.)
CREATE TABLE room_details (
	room_id TEXT NOT NULL PRIMARY KEY,
	primary_doctor TEXT,
	deputy_doctor TEXT,
	archived_at INTEGER,
	archived_by TEXT,
	hlc INTEGER NOT NULL
) WITHOUT ROWID;

-- The emergency card: the doctors' numbers the crew calls (an
-- after-hours number may differ from the directory's), DNAR as the crew
-- needs it at the door (from the current ACP revision, editable), and the
-- date of the last yearly review (救急情報カードの年1回の定期更新).
ALTER TABLE emergency_cards ADD COLUMN primary_doctor_phone TEXT;
ALTER TABLE emergency_cards ADD COLUMN deputy_doctor_phone TEXT;
ALTER TABLE emergency_cards ADD COLUMN dnar TEXT;
ALTER TABLE emergency_cards ADD COLUMN reviewed_at TEXT;

-- Requests: when the assignee acknowledged (status_at keeps only the last
-- change, and the requester wants to see both).
ALTER TABLE requests ADD COLUMN acknowledged_at INTEGER;

-- ACP (人生会議): every revision is kept; the current one is the latest
-- recorded that is not deleted.  present: who took part (the patient,
-- family, which staff), as the recorder wrote it.
CREATE TABLE acp_revisions (
	room_id TEXT NOT NULL,
	id TEXT NOT NULL,
	recorded_by TEXT NOT NULL,
	recorded_at INTEGER NOT NULL,
	discussed_on TEXT,
	present TEXT NOT NULL,
	wishes TEXT NOT NULL,
	dnar TEXT,
	summary TEXT,
	deleted_at INTEGER,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (room_id, id)
) WITHOUT ROWID;

-- Admission (入院時情報提供) and discharge (退院時情報) sheets.  content is
-- a JSON object of field -> text (fields in daemon/roomwork_sheet.c),
-- filled from the room when the sheet is made and edited afterwards.
CREATE TABLE sheets (
	room_id TEXT NOT NULL,
	id TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('admission', 'discharge')),
	content TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_by TEXT NOT NULL,
	updated_at INTEGER NOT NULL,
	deleted_at INTEGER,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (room_id, id)
) WITHOUT ROWID;

-- Audit: who read or wrote what in a room, through which device.  Rows
-- are only ever inserted.  A replica notes each read and write in
-- local_audit_pending (for a write, in the write's own transaction) and
-- ships them as audit_events rows in a captured transaction of the room
-- (roomwork_audit_flush); the hub chains them (local_audit_chain).
CREATE TABLE audit_events (
	room_id TEXT NOT NULL,
	id TEXT NOT NULL,
	at INTEGER NOT NULL,
	staff TEXT NOT NULL,
	device TEXT NOT NULL,
	action TEXT NOT NULL CHECK (action IN ('read', 'write')),
	what TEXT NOT NULL,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (room_id, id)
) WITHOUT ROWID;

-- Local only: audit events noted here, not yet shipped.
CREATE TABLE local_audit_pending (
	seq INTEGER PRIMARY KEY,
	room_id TEXT NOT NULL,
	id TEXT NOT NULL,
	at INTEGER NOT NULL,
	staff TEXT NOT NULL,
	device TEXT NOT NULL,
	action TEXT NOT NULL,
	what TEXT NOT NULL
);
CREATE INDEX local_audit_pending_room ON local_audit_pending (room_id, seq);

-- Hub only: the hash chain over each room's audit events, in the order
-- the hub chained them.  hash = BLAKE2b-256(prev_hash || the event's
-- canonical bytes), hex; the first entry's prev_hash is 64 zeros.  The
-- format is written down in daemon/roomwork_audit.c.
CREATE TABLE local_audit_chain (
	room_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	event_id TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL,
	chained_at INTEGER NOT NULL,
	PRIMARY KEY (room_id, seq),
	UNIQUE (room_id, event_id)
) WITHOUT ROWID;

CREATE INDEX requests_by_room_status ON requests (room_id, status);
CREATE INDEX acp_by_time ON acp_revisions (room_id, recorded_at);
CREATE INDEX audit_by_time ON audit_events (room_id, at);
