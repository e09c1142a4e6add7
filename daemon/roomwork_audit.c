/*
 * roomwork_audit.c - the audit trail: who read or wrote what in a room,
 * through which device, and the hub's hash chain over it.
 *
 * Offline first.  A read is not a write, and a device may be offline for
 * days, so every replica notes each read and write of a room in the local
 * table local_audit_pending -- for a write inside the write's own SQLite
 * transaction, so the two are saved together.  The notes travel as
 * ordinary room rows (audit_events, append-only) in a captured
 * transaction: with the next write this replica makes to the room
 * (rw_commit), or when roomwork_audit_flush runs (before a push, and on
 * `renkei audit`).  Reads alone never make a transaction, so reading a
 * room leaves its content hash and the outbox as they were.
 *
 * The hub keeps the authoritative order: it appends each room's events to
 * local_audit_chain (hub-local, never synced), each entry bound to the
 * one before it.
 *
 * CHAIN FORMAT, version 1 (frozen; tests/unit/test_roomwork.c holds a
 * known answer):
 *
 *   canonical(event) = field(room_id) field(id) field(at) field(staff)
 *                      field(device) field(action) field(what)
 *   field(x)         = 4-byte big-endian length of x, then the bytes of x
 *                      (at: the Unix milliseconds in decimal ASCII)
 *   hash_n           = BLAKE2b-256(prev_n || canonical(event_n))
 *   prev_1           = 32 zero bytes; prev_n = hash_(n-1)
 *
 * local_audit_chain stores prev and hash in lower-case hex, with seq
 * 1, 2, ... per room.  Verification recomputes every hash from the event
 * as stored: an altered event, an altered or reordered chain entry and a
 * deleted event all break it at the first entry concerned.
 */
#include "daemon/roomwork.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "common/id.h"
#include "common/log.h"
#include "daemon/roomwork_int.h"
#include "daemon/store.h"

#define RW_HASH_LEN 32
#define RW_HEX_LEN (2 * RW_HASH_LEN)

/* --- noting events ------------------------------------------------------ */

int
rw_audit_note(struct rec_ctx *c, const char *room, const char *action,
    const char *what)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	char id[ID_LEN + 1];
	int rc;

	id_new(store_clock(c->store), id);
	if ((rc = rw_prepare(db, "INSERT INTO local_audit_pending (room_id, "
	    "id, at, staff, device, action, what) VALUES (?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7)", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, rk_now_ms(store_clock(c->store)));
	sqlite3_bind_text(st, 4, c->staff ? c->staff : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->device_id ? c->device_id :
	    store_origin(c->store), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, what, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_warnx("audit: cannot note %s of room %s: %s", action, room,
		    sqlite3_errmsg(db));
		return store_sqlite_err(db);
	}
	return 0;
}

int
roomwork_audit_read(struct rec_ctx *c, const char *room, const char *what)
{
	return rw_audit_note(c, room, "read", what);
}

int
roomwork_audit_write(struct rec_ctx *c, const char *room, const char *what)
{
	return rw_audit_note(c, room, "write", what);
}

int
rw_audit_ship(struct store_tx *tx, sqlite3 *db, const char *room,
    struct rk_why *why)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = rw_prepare(db, "INSERT INTO audit_events (room_id, id, at, "
	    "staff, device, action, what, hlc) SELECT room_id, id, at, staff, "
	    "device, action, what, ?2 FROM local_audit_pending WHERE room_id = "
	    "?1 ORDER BY seq", &st)) != 0)
		return rk_whyf(why, rc, "cannot ship the audit trail");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)store_tx_hlc(tx));
	if ((rc = rw_step_done(db, st, why)) != 0)
		return rc;
	if ((rc = rw_prepare(db, "DELETE FROM local_audit_pending WHERE "
	    "room_id = ?1", &st)) != 0)
		return rk_whyf(why, rc, "cannot ship the audit trail");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	return rw_step_done(db, st, why);
}

/* Ships one room's notes in a transaction of their own. */
static int
rw_flush_room(struct store *s, int is_hub, const char *room, int64_t *n,
    struct rk_why *why)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	struct store_tx *tx = NULL;
	int64_t exists = 0, count = 0;
	int rc;

	if ((rc = rw_query_int(db, "SELECT EXISTS (SELECT 1 FROM rooms WHERE "
	    "room_id = ?1)", room, NULL, &exists)) != 0)
		return rk_whyf(why, rc, "cannot read rooms");
	/* A device ships only what the hub will take: notes of rooms it
	 * still holds, by staff who are still members (a leave ships its
	 * notes with it, so this drops nothing but leftovers). */
	if ((rc = rw_prepare(db, exists == 0 ? "DELETE FROM "
	    "local_audit_pending WHERE room_id = ?1" : "DELETE FROM "
	    "local_audit_pending WHERE room_id = ?1 AND NOT ?2 AND NOT EXISTS "
	    "(SELECT 1 FROM memberships m WHERE m.room_id = ?1 AND "
	    "m.staff_id = local_audit_pending.staff AND m.status = 'active')",
	    &st)) != 0)
		return rk_whyf(why, rc, "cannot read the audit notes");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	if (exists)
		sqlite3_bind_int(st, 2, is_hub);
	if ((rc = rw_step_done(db, st, why)) != 0)
		return rc;
	if ((rc = rw_query_int(db, "SELECT count(*) FROM local_audit_pending "
	    "WHERE room_id = ?1", room, NULL, &count)) != 0)
		return rk_whyf(why, rc, "cannot read the audit notes");
	if (count == 0)
		return 0;
	if ((rc = store_tx_begin_append(s, room, &tx)) != 0)
		return rk_whyf(why, rc, "cannot start a write");
	if ((rc = rw_audit_ship(tx, db, room, why)) != 0) {
		store_tx_abort(tx);
		return rc;
	}
	if ((rc = store_tx_commit(tx, NULL, why)) != 0)
		return rc;
	*n += count;
	if (is_hub)
		return roomwork_audit_chain_extend(s, room, NULL, why);
	return 0;
}

int
roomwork_audit_flush(struct store *s, int is_hub, const char *room,
    int64_t *n, struct rk_why *why)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	char rooms[64][65];
	int64_t total = 0;
	int rc = 0, k, i;

	if (room != NULL) {
		rc = rw_flush_room(s, is_hub, room, &total, why);
		goto out;
	}
	/* In batches: each room's flush is a transaction of its own. */
	do {
		if ((rc = rw_prepare(db, "SELECT DISTINCT room_id FROM "
		    "local_audit_pending ORDER BY room_id LIMIT 64", &st)) != 0)
			return rk_whyf(why, rc, "cannot read the audit notes");
		for (k = 0; k < 64 && sqlite3_step(st) == SQLITE_ROW; k++)
			snprintf(rooms[k], sizeof(rooms[k]), "%s",
			    rw_column_text(st, 0));
		sqlite3_finalize(st);
		for (i = 0; i < k; i++)
			if ((rc = rw_flush_room(s, is_hub, rooms[i], &total,
			    why)) != 0)
				goto out;
	} while (k == 64);
out:
	if (rc == 0 && n != NULL)
		*n = total;
	return rc;
}

/* --- the chain ------------------------------------------------------------ */

static void
rw_field(crypto_generichash_state *h, const char *s)
{
	size_t n = strlen(s);
	unsigned char len[4];

	len[0] = (unsigned char)(n >> 24);
	len[1] = (unsigned char)(n >> 16);
	len[2] = (unsigned char)(n >> 8);
	len[3] = (unsigned char)n;
	crypto_generichash_update(h, len, 4);
	crypto_generichash_update(h, (const unsigned char *)s, n);
}

/* hash (hex) = BLAKE2b-256(prev || canonical(event)); prev_hex NULL or
 * "" is the first entry's.  0 or -1 for a malformed prev. */
static int
rw_chain_hash(const char *prev_hex, const char *const f[7],
    char out[RW_HEX_LEN + 1])
{
	crypto_generichash_state h;
	unsigned char prev[RW_HASH_LEN], hash[RW_HASH_LEN];
	size_t plen = 0;
	int i;

	memset(prev, 0, sizeof(prev));
	if (prev_hex != NULL && prev_hex[0] != '\0' &&
	    (sodium_hex2bin(prev, sizeof(prev), prev_hex, strlen(prev_hex),
	    NULL, &plen, NULL) != 0 || plen != RW_HASH_LEN))
		return -1;
	crypto_generichash_init(&h, NULL, 0, RW_HASH_LEN);
	crypto_generichash_update(&h, prev, sizeof(prev));
	for (i = 0; i < 7; i++)
		rw_field(&h, f[i]);
	crypto_generichash_final(&h, hash, sizeof(hash));
	sodium_bin2hex(out, RW_HEX_LEN + 1, hash, sizeof(hash));
	return 0;
}

/* The fields of an audit_events row selected as room_id, id, at (as
 * text), staff, device, action, what starting at column first. */
static void
rw_event_fields(sqlite3_stmt *st, int first, const char *f[7])
{
	int i;

	for (i = 0; i < 7; i++)
		f[i] = rw_column_text(st, first + i);
}

#define RW_EVENT_COLS "e.room_id, e.id, CAST(e.at AS TEXT), e.staff, " \
	"e.device, e.action, e.what"

static const char rw_zero_hex[RW_HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

int
roomwork_audit_chain_extend(struct store *s, const char *room, int64_t *n,
    struct rk_why *why)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL, *ins = NULL;
	char prev[RW_HEX_LEN + 1], hash[RW_HEX_LEN + 1];
	int64_t seq = 0, added = 0, now = rk_now_ms(store_clock(s));
	int rc;

	if ((rc = rw_prepare(db, "SELECT seq, hash FROM local_audit_chain "
	    "WHERE room_id = ?1 ORDER BY seq DESC LIMIT 1", &st)) != 0)
		return rk_whyf(why, rc, "cannot read the audit chain");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	memcpy(prev, rw_zero_hex, sizeof(prev));
	if (sqlite3_step(st) == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0);
		snprintf(prev, sizeof(prev), "%s", rw_column_text(st, 1));
	}
	sqlite3_finalize(st);
	st = NULL;

	if (sqlite3_exec(db, "SAVEPOINT rw_chain", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return rk_whyf(why, store_sqlite_err(db), "cannot write the "
		    "audit chain: %s", sqlite3_errmsg(db));
	if ((rc = rw_prepare(db, "SELECT " RW_EVENT_COLS " FROM audit_events "
	    "e WHERE e.room_id = ?1 AND NOT EXISTS (SELECT 1 FROM "
	    "local_audit_chain c WHERE c.room_id = e.room_id AND c.event_id = "
	    "e.id) ORDER BY e.hlc, e.id", &st)) != 0 ||
	    (rc = rw_prepare(db, "INSERT INTO local_audit_chain (room_id, seq, "
	    "event_id, prev_hash, hash, chained_at) VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6)", &ins)) != 0) {
		rk_whyf(why, rc, "cannot read the audit trail");
		goto out;
	}
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *f[7];

		rw_event_fields(st, 0, f);
		if (rw_chain_hash(prev, f, hash) != 0) {
			rc = rk_whyf(why, RK_EDB, "audit chain of room %s: entry "
			    "%lld holds a malformed hash", room,
			    (long long)seq);
			goto out;
		}
		seq++;
		sqlite3_bind_text(ins, 1, room, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, seq);
		sqlite3_bind_text(ins, 3, f[1], -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 4, prev, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 5, hash, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ins, 6, now);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			rc = rk_whyf(why, store_sqlite_err(db), "cannot write "
			    "the audit chain: %s", sqlite3_errmsg(db));
			goto out;
		}
		sqlite3_reset(ins);
		memcpy(prev, hash, sizeof(prev));
		added++;
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read the audit "
		    "trail");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(ins);
	if (rc != 0)
		sqlite3_exec(db, "ROLLBACK TO rw_chain", NULL, NULL, NULL);
	if (sqlite3_exec(db, "RELEASE rw_chain", NULL, NULL, NULL) !=
	    SQLITE_OK && rc == 0)
		rc = rk_whyf(why, store_sqlite_err(db), "cannot write the "
		    "audit chain: %s", sqlite3_errmsg(db));
	if (rc == 0 && n != NULL)
		*n = added;
	return rc;
}

int
roomwork_audit_verify(struct store *s, const char *room, int *ok,
    struct rk_why *why)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	char prev[RW_HEX_LEN + 1], hash[RW_HEX_LEN + 1];
	int64_t want = 0;
	int rc;

	*ok = 0;
	memcpy(prev, rw_zero_hex, sizeof(prev));
	if ((rc = rw_prepare(db, "SELECT c.seq, c.event_id, c.prev_hash, "
	    "c.hash, e.id IS NOT NULL, " RW_EVENT_COLS " FROM "
	    "local_audit_chain c LEFT JOIN audit_events e ON e.room_id = "
	    "c.room_id AND e.id = c.event_id WHERE c.room_id = ?1 ORDER BY "
	    "c.seq", &st)) != 0)
		return rk_whyf(why, rc, "cannot read the audit chain");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);
		const char *ev = rw_column_text(st, 1);
		const char *f[7];

		want++;
		if (seq != want) {
			rk_whyf(why, 0, "audit chain of room %s is broken at "
			    "entry %lld: entry %lld is missing", room,
			    (long long)seq, (long long)want);
			goto done;
		}
		if (strcmp(rw_column_text(st, 2), prev) != 0) {
			rk_whyf(why, 0, "audit chain of room %s is broken at "
			    "entry %lld (event %s): it does not follow the "
			    "entry before it", room, (long long)seq, ev);
			goto done;
		}
		if (!sqlite3_column_int(st, 4)) {
			rk_whyf(why, 0, "audit chain of room %s is broken at "
			    "entry %lld: event %s is missing (deleted)", room,
			    (long long)seq, ev);
			goto done;
		}
		rw_event_fields(st, 5, f);
		if (rw_chain_hash(prev, f, hash) != 0 ||
		    strcmp(hash, rw_column_text(st, 3)) != 0) {
			rk_whyf(why, 0, "audit chain of room %s is broken at "
			    "entry %lld: event %s does not match its hash "
			    "(altered after it was chained)", room,
			    (long long)seq, ev);
			goto done;
		}
		memcpy(prev, hash, sizeof(prev));
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read the audit "
		    "chain");
		sqlite3_finalize(st);
		return rc;
	}
	*ok = 1;
done:
	sqlite3_finalize(st);
	return 0;
}

/* --- the `audit` call ------------------------------------------------------ */

int
roomwork_audit_list(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(c->store);
	sqlite3_stmt *st = NULL;
	struct rk_why vwhy = { "" };
	json_t *events = NULL, *o = NULL, *chain = NULL;
	int64_t pending = 0, entries = 0;
	char head[RW_HEX_LEN + 1] = "";
	int rc, ok = 0;

	if ((rc = rw_room_access(c, room, 0, NULL, why)) != 0)
		return rc;
	if ((rc = roomwork_audit_read(c, room, "audit")) != 0)
		return rk_whyf(why, rc, "cannot note the read in the audit "
		    "trail");
	if ((rc = roomwork_audit_flush(c->store, c->is_hub, room, NULL,
	    why)) != 0)
		return rc;
	if (c->is_hub) {
		/* Chain what arrived from devices, then check it all. */
		if ((rc = roomwork_audit_chain_extend(c->store, room, NULL,
		    why)) != 0 ||
		    (rc = roomwork_audit_verify(c->store, room, &ok,
		    &vwhy)) != 0)
			return rc;
		if ((rc = rw_query_int(db, "SELECT count(*) FROM "
		    "local_audit_chain WHERE room_id = ?1", room, NULL,
		    &entries)) != 0 || (rc = rw_query_text(db, "SELECT hash "
		    "FROM local_audit_chain WHERE room_id = ?1 ORDER BY seq "
		    "DESC LIMIT 1", room, NULL, head, sizeof(head))) < 0)
			return rk_whyf(why, rc, "cannot read the audit chain");
		rc = rw_prepare(db, "SELECT c.seq, e.id, e.at, e.staff, "
		    "e.device, e.action, e.what, c.hash, c.event_id FROM "
		    "local_audit_chain c LEFT JOIN audit_events e ON e.room_id "
		    "= c.room_id AND e.id = c.event_id WHERE c.room_id = ?1 "
		    "ORDER BY c.seq", &st);
	} else {
		rc = rw_prepare(db, "SELECT NULL, e.id, e.at, e.staff, "
		    "e.device, e.action, e.what, NULL, e.id FROM audit_events e "
		    "WHERE e.room_id = ?1 ORDER BY e.at, e.id", &st);
	}
	if (rc != 0)
		return rk_whyf(why, rc, "cannot read the audit trail");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	if ((events = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *e = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		    "id", rw_column_json(st, 8),
		    "at", rw_column_json(st, 2),
		    "staff", rw_column_json(st, 3),
		    "device", rw_column_json(st, 4),
		    "action", rw_column_json(st, 5),
		    "what", rw_column_json(st, 6),
		    "hash", rw_column_json(st, 7));

		if (e != NULL && c->is_hub)
			json_object_set_new(e, "seq", rw_column_json(st, 0));
		if (e == NULL || json_array_append_new(events, e) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read the audit "
		    "trail");
		goto out;
	}
	if ((rc = rw_query_int(db, "SELECT count(*) FROM local_audit_pending "
	    "WHERE room_id = ?1", room, NULL, &pending)) != 0)
		goto out;
	if ((o = json_pack("{s:s, s:s, s:O, s:I}", "room_id", room, "role",
	    c->is_hub ? "hub" : "device", "events", events, "pending",
	    (json_int_t)pending)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	if (c->is_hub) {
		chain = json_pack("{s:b, s:I, s:s?, s:s?}", "verified", ok,
		    "entries", (json_int_t)entries, "head", head[0] ? head :
		    NULL, "error", ok ? NULL : vwhy.text);
		if (chain == NULL || json_object_set_new(o, "chain", chain)) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	*out = o;
	o = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	json_decref(events);
	json_decref(o);
	return rc;
}
