-- 001_base.sql - the directory, patient rooms and the local outbox.
--
-- Conventions (see conflict/policy.c for each table's sync policy):
--   * every room table has room_id as the first column of its PRIMARY KEY,
--     so every row of every changeset names its room;
--   * ids are 26-character time-ordered identifiers (common/id.h) unless a
--     person chose them (room, staff and agency ids);
--   * every mutable row has hlc (hybrid logical clock, common/hlc.h) of its
--     last write; clinical rows are never deleted, deleted_at marks them;
--   * times are Unix milliseconds (INTEGER), dates ISO 'YYYY-MM-DD' (TEXT);
--   * tables named local_* never leave this replica.
-- Tables are WITHOUT ROWID where the key is the natural lookup: a changeset
-- then carries exactly the key columns, and nothing depends on rowids that
-- differ between replicas.

-- The directory: written by the hub only.
CREATE TABLE agencies (
	id TEXT NOT NULL PRIMARY KEY,
	name TEXT NOT NULL,
	kind TEXT NOT NULL,
	hlc INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE staff (
	id TEXT NOT NULL PRIMARY KEY,
	agency_id TEXT NOT NULL,
	name TEXT NOT NULL,
	profession TEXT NOT NULL,
	phone TEXT,
	status TEXT NOT NULL DEFAULT 'active'
	    CHECK (status IN ('active', 'suspended')),
	hlc INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE devices (
	id TEXT NOT NULL PRIMARY KEY,
	staff_id TEXT NOT NULL,
	sign_pk BLOB NOT NULL,
	box_pk BLOB NOT NULL,
	status TEXT NOT NULL DEFAULT 'active'
	    CHECK (status IN ('active', 'revoked')),
	enrolled_at INTEGER NOT NULL,
	hlc INTEGER NOT NULL
) WITHOUT ROWID;

-- Rooms: a patient room, the disaster room or a notice room.
CREATE TABLE rooms (
	room_id TEXT NOT NULL PRIMARY KEY,
	kind TEXT NOT NULL DEFAULT 'patient'
	    CHECK (kind IN ('patient', 'disaster', 'notice')),
	title TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'active'
	    CHECK (status IN ('active', 'archived')),
	archive_reason TEXT,
	created_by TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	hlc INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE memberships (
	room_id TEXT NOT NULL,
	staff_id TEXT NOT NULL,
	role TEXT NOT NULL DEFAULT 'member',
	status TEXT NOT NULL DEFAULT 'active'
	    CHECK (status IN ('invited', 'active', 'left')),
	added_by TEXT NOT NULL,
	added_at INTEGER NOT NULL,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (room_id, staff_id)
) WITHOUT ROWID;

-- One patient per patient room.
CREATE TABLE patients (
	room_id TEXT NOT NULL PRIMARY KEY,
	name TEXT NOT NULL,
	name_kana TEXT,
	birth_date TEXT,
	sex TEXT,
	address TEXT,
	phone TEXT,
	hlc INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE consents (
	room_id TEXT NOT NULL,
	id TEXT NOT NULL,
	consent_date TEXT NOT NULL,
	consenter TEXT NOT NULL DEFAULT 'patient'
	    CHECK (consenter IN ('patient', 'family')),
	consenter_name TEXT,
	relation TEXT,
	scope TEXT,
	paper_location TEXT,
	recorded_by TEXT NOT NULL,
	recorded_at INTEGER NOT NULL,
	deleted_at INTEGER,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (room_id, id)
) WITHOUT ROWID;

CREATE TABLE posts (
	room_id TEXT NOT NULL,
	id TEXT NOT NULL,
	author TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	body TEXT NOT NULL,
	deleted_at INTEGER,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (room_id, id)
) WITHOUT ROWID;

-- A home visit with its vitals.  NULL means "not measured".
CREATE TABLE visits (
	room_id TEXT NOT NULL,
	id TEXT NOT NULL,
	author TEXT NOT NULL,
	visited_at INTEGER NOT NULL,
	bp_sys INTEGER,
	bp_dia INTEGER,
	pulse INTEGER,
	temp REAL,
	spo2 INTEGER,
	resp INTEGER,
	weight REAL,
	note TEXT,
	deleted_at INTEGER,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (room_id, id)
) WITHOUT ROWID;

-- 救急情報: what an ambulance crew needs.  One row per room.
CREATE TABLE emergency_cards (
	room_id TEXT NOT NULL PRIMARY KEY,
	diagnoses TEXT,
	allergies TEXT,
	medications TEXT,
	primary_doctor TEXT,
	deputy_doctor TEXT,
	family_contacts TEXT,
	care_level TEXT,
	acp_summary TEXT,
	hospital TEXT,
	updated_by TEXT NOT NULL,
	updated_at INTEGER NOT NULL,
	hlc INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE medications (
	room_id TEXT NOT NULL,
	id TEXT NOT NULL,
	name TEXT NOT NULL,
	dose TEXT,
	route TEXT,
	frequency TEXT,
	start_date TEXT,
	stop_date TEXT,
	prescriber TEXT,
	deleted_at INTEGER,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (room_id, id)
) WITHOUT ROWID;

-- 依頼: a document or task asked of a named member.
CREATE TABLE requests (
	room_id TEXT NOT NULL,
	id TEXT NOT NULL,
	kind TEXT NOT NULL,
	title TEXT NOT NULL,
	body TEXT,
	requester TEXT NOT NULL,
	assignee TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	due_date TEXT,
	status TEXT NOT NULL DEFAULT 'open'
	    CHECK (status IN ('open', 'acknowledged', 'done', 'declined')),
	status_reason TEXT,
	status_by TEXT,
	status_at INTEGER,
	deleted_at INTEGER,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (room_id, id)
) WITHOUT ROWID;

-- Who has read which post or request ("OK").
CREATE TABLE read_receipts (
	room_id TEXT NOT NULL,
	target_id TEXT NOT NULL,
	staff_id TEXT NOT NULL,
	read_at INTEGER NOT NULL,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (room_id, target_id, staff_id)
) WITHOUT ROWID;

-- Local only: the changesets waiting for the hub, in capture order.
CREATE TABLE local_outbox (
	seq INTEGER PRIMARY KEY,
	origin TEXT NOT NULL,
	room_id TEXT NOT NULL,
	hlc INTEGER NOT NULL,
	schema_version INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	changeset BLOB NOT NULL,
	acked_hub_seq INTEGER
);
CREATE INDEX local_outbox_pending ON local_outbox (seq)
    WHERE acked_hub_seq IS NULL;

-- Local only: small settings (last HLC, sync cursor, ...).
CREATE TABLE local_meta (
	key TEXT NOT NULL PRIMARY KEY,
	value
) WITHOUT ROWID;

CREATE INDEX posts_by_time ON posts (room_id, created_at);
CREATE INDEX visits_by_time ON visits (room_id, visited_at);
CREATE INDEX requests_by_assignee ON requests (assignee, status);
