-- 006_outbox_index.sql - finding a device's outbox entries still in effect
-- without reading its whole history.
-- Conventions as in 001_base.sql.

-- Device only: local_outbox keeps every entry ever written, acked or not,
-- and a pull undoes and re-applies those still in effect (applied NULL:
-- the original changeset; a non-empty blob: what its re-application
-- changed; empty: nothing).  Those are few -- the entries not yet pulled
-- back from the hub -- while the history grows by a nurse's day each day,
-- so every pull and push scanning it would slow down month by month.
-- Queries that want these entries spell the condition exactly as here so
-- that this index serves them.
CREATE INDEX local_outbox_in_effect ON local_outbox (seq)
    WHERE applied IS NULL OR length(applied) > 0;

-- Device only: the acked entries whose canonical change lies beyond the
-- pull cursor (re-applied on top of a pull), and those an echo finds by
-- hub seq, without visiting every acked entry of the history.
CREATE INDEX local_outbox_acked ON local_outbox (acked_hub_seq)
    WHERE status = 'acked';
