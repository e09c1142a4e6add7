-- 008_envelope_answers.sql - a push's answer recorded on its envelopes,
-- one row each, and put on their entries later ("settled").
-- Conventions as in 001_base.sql.

-- Device only (daemon/sync.c).  The hub answers a push envelope by
-- envelope; writing that answer on every entry an envelope carries was one
-- row rewrite (with its changeset) and two index changes per entry, and
-- the pull that follows a push rewrote the same rows again when it brought
-- them back (the echo).  Now the answer goes on the envelope's row:
--
--   result   'acked' (the hub applied it, or had: hub_seq is the
--            canonical change's) or 'refused' (final; reason says why);
--            NULL while unanswered, for an envelope answered before this
--            migration, and for one closed by a purge
--   settled  0 while the answer is recorded here but not yet on the
--            envelope's entries; 1 otherwise (also while unanswered, and
--            for every envelope answered before this migration, whose
--            entries were written one by one)
--
-- Settling gives each entry of an envelope still 'pending' the envelope's
-- result (status, acked_hub_seq or refused_reason) and sets settled.  It
-- is idempotent, and an envelope left unsettled by a crash or a failed
-- pull is settled at the next push or pull.  The pull that brings a push
-- back settles in the same per-entry UPDATE that marks the entries
-- echoed.  A refusal is settled with the answer (it is rare, and whoever
-- lists refused entries reads them as before); so in practice only acks
-- wait.
--
-- Until then such an entry reads 'pending' but waits for nothing: whoever
-- counts or lists the entries still waiting for the hub reads
-- local_outbox_waiting instead of status = 'pending'.  The entries of an
-- answered envelope are never sent again: they lie inside a range given
-- already (sync_assign_ranges takes only the seqs after every range) and
-- the envelope is answered (sync_pending_ranges).
ALTER TABLE local_outbox_envelopes ADD COLUMN result TEXT
    CHECK (result IN ('acked', 'refused'));
ALTER TABLE local_outbox_envelopes ADD COLUMN hub_seq INTEGER;
ALTER TABLE local_outbox_envelopes ADD COLUMN reason TEXT;
ALTER TABLE local_outbox_envelopes ADD COLUMN settled INTEGER NOT NULL
    DEFAULT 1;
-- Few rows (the answers of one push, between the push and its pull): the
-- lookup local_outbox_waiting makes for each pending entry stays cheap
-- however many envelopes the history holds.
CREATE INDEX local_outbox_envelopes_unsettled
    ON local_outbox_envelopes (room_id, env_first) WHERE settled = 0;

-- The outbox entries still waiting for the hub's answer.
CREATE VIEW local_outbox_waiting AS
    SELECT * FROM local_outbox WHERE status = 'pending' AND NOT EXISTS
        (SELECT 1 FROM local_outbox_envelopes e WHERE e.settled = 0 AND
         e.room_id = local_outbox.room_id AND
         e.env_first <= local_outbox.seq AND
         local_outbox.seq <= e.env_last);
