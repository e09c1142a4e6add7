-- 007_outbox_envelopes.sql - a device's envelope ranges in a table of
-- their own, one row per envelope instead of two columns on every entry.
-- Conventions as in 001_base.sql.

-- Device only: the envelopes its outbox entries were first sent in
-- (daemon/sync.c).  The envelope at env_first..env_last of room_id carries
-- every entry of room_id with seq in that range that was pending when the
-- range was given (an entry refused earlier, by a purge, is not in it).
-- Ranges of one room never overlap, and every range given later starts
-- after the greatest env_last here: the entries not yet in an envelope are
-- the pending ones past it.  answered is 1 once the hub's answer (or a
-- purge) decided the envelope's entries, 0 while they wait to be sent
-- again.
--
-- Giving a range used to write env_first and env_last on each of its
-- entries, one rewritten row (with its changeset) per entry before every
-- push.  Those columns are kept for the replicas that have them, copied
-- here below, and no longer written.
CREATE TABLE local_outbox_envelopes (
	env_first INTEGER PRIMARY KEY,
	env_last INTEGER NOT NULL,
	room_id TEXT NOT NULL,
	origin TEXT NOT NULL,
	answered INTEGER NOT NULL DEFAULT 0
);
INSERT INTO local_outbox_envelopes (env_first, env_last, room_id, origin,
    answered)
    SELECT env_first, max(env_last), min(room_id), min(origin),
        min(status <> 'pending')
    FROM local_outbox WHERE env_first IS NOT NULL GROUP BY env_first;
CREATE INDEX local_outbox_envelopes_room
    ON local_outbox_envelopes (room_id, env_first);
CREATE INDEX local_outbox_envelopes_last ON local_outbox_envelopes (env_last);
CREATE INDEX local_outbox_envelopes_open ON local_outbox_envelopes (env_first)
    WHERE answered = 0;
