/*
 * hub.c - the hub role: the one canonical order of every room.
 *
 * Push (POST /v1/push), one request = one transaction (group commit):
 *
 *   1. envelope_split checks the whole framing first; broken framing
 *      applies nothing.
 *   2. BEGIN IMMEDIATE.  For each envelope, in order (a, b and the walk
 *      of e need no database: a reader thread does them for the next
 *      envelopes while this one applies; see hub_reader_main):
 *      a. envelope_peek: the origin must be the device that signed the
 *         request (relays come later).
 *      b. envelope_decode with that device's key: the signature is
 *         verified before a byte is decompressed.  A malformed or
 *         unverifiable envelope fails the whole request (nothing applied,
 *         nothing recorded: an unverified envelope must not be able to
 *         poison the (origin, seq) record).
 *      c. Refusals not recorded (the same envelope may succeed later):
 *         an unknown schema version, a sequence range overlapping one
 *         received before, an HLC too far ahead of the hub's clock.
 *      d. Deduplication: the exact (origin, seq_first, seq_last) received
 *         before answers as it did then ("duplicate" with its hub_seq, or
 *         the same refusal).
 *      e. The changeset is walked: every table must be a room table whose
 *         columns match the hub's, every row's room_id (first key column)
 *         must be the envelope's room; the directory is the hub's alone.
 *         The device's staff must be an active member of the room, unless
 *         the room does not exist yet and this envelope creates it with
 *         the staff among its members.  Every change is also put to the
 *         conflict rules as if it applied cleanly (conflicts_walk_change:
 *         hard deletes, edits of append-only rows, key changes, unknown
 *         states, anything but a resolution of a conflict record).
 *         These refusals are recorded.
 *      f. SAVEPOINT; sqlite3changeset_apply_v2 with a session attached
 *         to the synced tables, so what the hub actually changed is
 *         captured; conflicts as below.  The conflict records are
 *         inserted into `conflicts` while the session is attached.  A
 *         room that was created or whose rooms/memberships/consents rows
 *         changed must pass hub_room_rules, else ROLLBACK TO and refuse.
 *      g. The captured canonical changeset (if not empty) is appended to
 *         local_hub_log under a new hub_seq (LOG, below); the envelope's
 *         origin is noted as the writer of what it set (local_hub_writers);
 *         local_hub_received records the result.  RELEASE.
 *   3. COMMIT, and only then the answer: acks are durable.
 *
 * LOG: local_hub_log.changeset holds the canonical changeset, raw, or --
 * when it begins with the zstd frame magic (28 b5 2f fd), which a raw
 * changeset never does -- the zstd frame of it without a dictionary that
 * a pull entry carries (pull_frame_make), so that a pull copies it rather
 * than compressing it again for every device.  Envelopes of new rows over
 * HUB_LOG_FRAME_MIN that apply as they came are kept so; pull_frame_inflate
 * gives the raw bytes back.  A purged room's entries are emptied (X'').
 *
 * Conflicts: the handler is conflicts_apply_on_conflict (conflicts.h), the
 * column-by-column merge of conflict/merge.h: APPLY -> REPLACE, OMIT ->
 * OMIT, SET -> its UPDATE on this connection (captured by the session)
 * then OMIT, REFUSE -> ABORT: the whole envelope is refused with the
 * reason, nothing of it applied.  Whatever loses is kept in a conflict
 * record (room table `conflicts`, in the same canonical changeset), so no
 * user's change is ever dropped without a record of it.
 *
 * Pull: a device follows the directory ("") and the rooms whose active
 * members include its staff.  local_hub_device_rooms holds, per device
 * and room, the hub_seq of the snapshot it was given (since_seq >= 0), or
 * a pending purge (since_seq = -1 - H: the device was told to purge the
 * room in a response made at head H; the row goes once the device's
 * cursor reaches H, so a lost response repeats the purge).  A room
 * purged after its retention period (retention.h) has no members left and
 * keeps these rows, so each device that followed it is told the same way;
 * its log entries stay, emptied, and are never sent.  A room to
 * follow without a row is named in ctl "snapshot"; the device fetches
 * /v1/snapshot, which records since_seq = head in the same transaction
 * as it reads the rows.  Entries are local_hub_log rows after the cursor
 * of followed rooms after their since_seq.
 */
#include "daemon/hub.h"

#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hlc.h"
#include "common/id.h"
#include "common/keys.h"
#include "common/log.h"
#include "conflict/policy.h"
#include "daemon/conflicts.h"
#include "daemon/csenc.h"
#include "daemon/csins.h"
#include "daemon/envelope.h"
#include "daemon/reqsig.h"
#include "daemon/retention.h"
#include "daemon/roomhash.h"
#include "daemon/roomwork.h"
#include "daemon/store.h"
#include "daemon/wire.h"
#include "schema/schema.h"

#define HUB_MAX_COLS 64
#define HUB_ENROLL_MSG "enrolment code is wrong, used or expired"

/* A synced table as this hub's schema has it. */
struct hub_table {
	const struct table_policy *p;
	int ncol;
	unsigned char pk[HUB_MAX_COLS];	/* 1 if column i is in the key */
	uint8_t pkpos[HUB_MAX_COLS];	/* PRAGMA table_info's pk */
	char *cols[HUB_MAX_COLS];	/* malloc'd names */
	int room_col;			/* first key column, -1: none */
};

struct hub {
	struct store *s;
	const struct keys *k;
	const struct rk_clock *clock;
	struct hub_table *tables;	/* malloc'd, one per policy table */
	size_t ntables;
	struct csins *ins;		/* the fast path's cached INSERTs */
	size_t ahead_max;		/* bytes read ahead of a push's apply */
	/* Room hashes already computed, each with the hub seq of the room's
	 * last logged change (open addressing; see hub_hash_cached). */
	struct hub_hc *hc;
	size_t hc_cap, hc_n;
};

struct hub_hc {
	char room[65];		/* "" is the directory */
	int64_t seq;
	char hex[ROOMHASH_HEX_LEN + 1];
	int used;
};

/* A device as the directory has it. */
struct hub_dev {
	char staff[65];
	uint8_t sign_pk[32];
	int active;		/* devices.status = 'active' */
	int staff_state;	/* 1 active, 0 suspended, -1 not in staff */
};

/* ---- small SQL helpers -------------------------------------------------- */

static int
hub_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("hub: %s: %s", sql, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return store_sqlite_err(db);
	}
	return 0;
}

/* Rolls back whatever transaction is open (after a failure). */
static void
hub_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* Runs st (bound) to completion, finalizes it; 0 or an rk_err. */
static int
hub_step_done(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	store_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	log_warnx("hub: %s", sqlite3_errmsg(db));
	return store_sqlite_err(db);
}

/* A single integer from sql with one optional text parameter. */
static int
hub_int(sqlite3 *db, const char *sql, const char *p1, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = store_prepare(db, sql, &st)) != 0)
		return rc;
	if (p1 != NULL)
		sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		log_warnx("hub: %s: %s", sql, sqlite3_errmsg(db));
		rc = store_sqlite_err(db);
	}
	store_finalize(st);
	return rc;
}

static int
hub_head(sqlite3 *db, int64_t *head)
{
	return hub_int(db, "SELECT coalesce(max(hub_seq), 0) FROM "
	    "local_hub_log", NULL, head);
}

/* Text fit for a message: printable ASCII, at most 64 bytes, else '?'. */
static void
hub_safe(char *out, size_t outlen, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i, j = 0;

	if (n > 64)
		n = 64;
	for (i = 0; i < n && j + 1 < outlen; i++)
		out[j++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	out[j] = '\0';
}

static const struct hub_table *
hub_table_find(const struct hub *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->ntables; i++)
		if (strcmp(h->tables[i].p->table, name) == 0)
			return &h->tables[i];
	return NULL;
}

static int
hub_dev_load(sqlite3 *db, const char *id, struct hub_dev *d)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = store_prepare(db, "SELECT d.staff_id, d.sign_pk, d.status, "
	    "s.status FROM devices d LEFT JOIN staff s ON s.id = d.staff_id "
	    "WHERE d.id = ?1", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *staff = sqlite3_column_text(st, 0);
		const unsigned char *ss = sqlite3_column_text(st, 3);
		const unsigned char *ds = sqlite3_column_text(st, 2);

		memset(d, 0, sizeof(*d));
		if (staff == NULL || strlen((const char *)staff) >=
		    sizeof(d->staff) || sqlite3_column_bytes(st, 1) != 32) {
			log_warnx("hub: device %s has a malformed directory "
			    "row", id);
			rc = RK_EDB;
		} else {
			memcpy(d->staff, staff,
			    strlen((const char *)staff) + 1);
			memcpy(d->sign_pk, sqlite3_column_blob(st, 1), 32);
			d->active = ds != NULL &&
			    strcmp((const char *)ds, "active") == 0;
			d->staff_state = ss == NULL ? -1 :
			    strcmp((const char *)ss, "active") == 0;
			rc = 0;
		}
	} else if (rc == SQLITE_DONE) {
		rc = RK_ENOTFOUND;
	} else {
		rc = store_sqlite_err(db);
	}
	store_finalize(st);
	return rc;
}

/* 1 if staff is an active member of room (or, with invited, has an
 * invitation to it), 0 if not, or an rk_err. */
static int
hub_is_member_or(sqlite3 *db, const char *room, const char *staff,
    int invited)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = store_prepare(db, invited ? "SELECT EXISTS (SELECT 1 FROM "
	    "memberships WHERE room_id = ?1 AND staff_id = ?2 AND status IN "
	    "('active', 'invited'))" : "SELECT EXISTS (SELECT 1 FROM "
	    "memberships WHERE room_id = ?1 AND staff_id = ?2 AND status = "
	    "'active')", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, staff, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) :
	    store_sqlite_err(db);
	store_finalize(st);
	return rc;
}

static int
hub_is_member(sqlite3 *db, const char *room, const char *staff)
{
	return hub_is_member_or(db, room, staff, 0);
}

/* ---- opening ------------------------------------------------------------ */

static int
hub_table_load(sqlite3 *db, struct hub_table *t)
{
	sqlite3_stmt *st = NULL;
	char *sql = NULL;
	int rc, n = 0;

	t->room_col = -1;
	sql = sqlite3_mprintf("SELECT name, pk FROM pragma_table_info(%Q) "
	    "ORDER BY cid", t->p->table);
	if (sql == NULL)
		return RK_ENOMEM;
	rc = store_prepare(db, sql, &st);
	sqlite3_free(sql);
	if (rc != 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int pk = sqlite3_column_int(st, 1);

		if (n >= HUB_MAX_COLS || name == NULL ||
		    (t->cols[n] = strdup(name)) == NULL) {
			store_finalize(st);
			return RK_ENOMEM;
		}
		t->pk[n] = pk > 0;
		t->pkpos[n] = (uint8_t)pk;
		if (pk == 1)
			t->room_col = n;
		n++;
	}
	store_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sqlite_err(db);
	t->ncol = n;
	if (n == 0) {
		log_warnx("hub: synced table %s is missing from the schema",
		    t->p->table);
		return RK_ESCHEMA;
	}
	if (t->p->scope == SYNC_DIRECTORY) {
		t->room_col = -1;
	} else if (t->room_col < 0 || strcmp(t->cols[t->room_col],
	    "room_id") != 0) {
		log_warnx("hub: room table %s does not start its key with "
		    "room_id", t->p->table);
		return RK_ESCHEMA;
	}
	return 0;
}

int
hub_open(struct store *s, const struct keys *k, const struct rk_clock *clock,
    struct hub **out)
{
	struct hub *h = NULL;
	size_t n = 0, i;
	int rc = 0;

	while (policy_tables[n].table != NULL)
		n++;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->tables = calloc(n, sizeof(*h->tables))) == NULL) {
		free(h);
		return RK_ENOMEM;
	}
	h->s = s;
	h->k = k;
	h->clock = clock;
	h->ntables = n;
	store_lock(s);
	for (i = 0; i < n && rc == 0; i++) {
		h->tables[i].p = &policy_tables[i];
		rc = hub_table_load(store_db(s), &h->tables[i]);
	}
	if (rc == 0)
		rc = csins_new(store_db(s), 0, &h->ins);
	store_unlock(s);
	if (rc != 0) {
		hub_close(h);
		return rc;
	}
	*out = h;	/* the caller's: hub_close */
	return 0;
}

void
hub_close(struct hub *h)
{
	size_t i;
	int j;

	if (h == NULL)
		return;
	for (i = 0; i < h->ntables; i++) {
		for (j = 0; j < HUB_MAX_COLS; j++)
			free(h->tables[i].cols[j]);
	}
	free(h->tables);
	free(h->hc);
	csins_free(h->ins);
	free(h);
}

/* ---- room rules --------------------------------------------------------- */

int
hub_require_doctor(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int on = 1;

	if (store_prepare(db, "SELECT lower(CAST(value AS TEXT)) FROM "
	    "local_meta WHERE key = '" HUB_META_REQUIRE_DOCTOR "'", &st) != 0)
		return 1;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
		const char *v = (const char *)sqlite3_column_text(st, 0);

		on = !(strcmp(v, "0") == 0 || strcmp(v, "false") == 0 ||
		    strcmp(v, "off") == 0 || strcmp(v, "no") == 0);
	}
	store_finalize(st);
	return on;
}

int
hub_room_rules(sqlite3 *db, const char *room, struct rk_why *why)
{
	sqlite3_stmt *st = NULL;
	char kind[16] = "", who[80] = "";
	int64_t n = 0;
	int rc;

	if ((rc = store_prepare(db, "SELECT kind FROM rooms WHERE room_id = ?1",
	    &st)) != 0)
		return rk_whyf(why, rc, "cannot read rooms");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(kind, sizeof(kind), "%s", sqlite3_column_text(st, 0) ?
		    (const char *)sqlite3_column_text(st, 0) : "");
	store_finalize(st);
	if (rc == SQLITE_DONE)
		return rk_whyf(why, RK_EDENIED, "room %s: its rooms row is "
		    "missing (a room is created with its rooms row)", room);
	if (rc != SQLITE_ROW)
		return rk_whyf(why, store_sqlite_err(db), "cannot read rooms");

	if ((rc = store_prepare(db, "SELECT m.staff_id FROM memberships m "
	    "WHERE m.room_id = ?1 AND m.status <> 'left' AND NOT EXISTS "
	    "(SELECT 1 FROM staff s WHERE s.id = m.staff_id) "
	    "ORDER BY m.staff_id LIMIT 1", &st)) != 0)
		return rk_whyf(why, rc, "cannot read memberships");
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		hub_safe(who, sizeof(who), sqlite3_column_text(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0));
	store_finalize(st);
	if (rc == SQLITE_ROW)
		return rk_whyf(why, RK_EDENIED, "room %s: member %s is not in "
		    "the staff directory", room, who);
	if (rc != SQLITE_DONE)
		return rk_whyf(why, store_sqlite_err(db),
		    "cannot read memberships");
	if (strcmp(kind, "patient") != 0)
		return 0;

	if ((rc = hub_int(db, "SELECT EXISTS (SELECT 1 FROM consents WHERE "
	    "room_id = ?1 AND deleted_at IS NULL)", room, &n)) != 0)
		return rk_whyf(why, rc, "cannot read consents");
	if (n == 0)
		return rk_whyf(why, RK_EDENIED, "room %s: a patient room needs "
		    "the patient's consent on record (consent date)", room);
	if (!hub_require_doctor(db))
		return 0;
	if ((rc = hub_int(db, "SELECT EXISTS (SELECT 1 FROM memberships m "
	    "JOIN staff s ON s.id = m.staff_id WHERE m.room_id = ?1 AND "
	    "m.status = 'active' AND s.profession IN ('doctor', 'dentist'))",
	    room, &n)) != 0)
		return rk_whyf(why, rc, "cannot read memberships");
	if (n == 0)
		return rk_whyf(why, RK_EDENIED, "room %s: a patient room needs "
		    "a doctor or dentist among its members", room);
	return 0;
}

/* ---- applying one envelope ---------------------------------------------- */

static int
hub_synced_filter(void *arg, const char *table)
{
	(void)arg;
	return policy_for_table(table) != NULL;
}

/*
 * The changeset format (sqlite3session.h), checked here byte by byte
 * before SQLite's own iterator sees it: SQLite 3.40's iterator can loop
 * forever on some malformed input, and a changeset comes from a device.
 *
 *   changeset := { table-header { change } }
 *   table-header := 'T' (0x54), varint nCol (1..HUB_MAX_COLS), nCol bytes
 *       (a column's place in the PRIMARY KEY, or 0), the table name
 *       (1..64 bytes) and a NUL.  ('P', a patchset header, is refused.)
 *   change := op (SQLITE_INSERT 18 | SQLITE_UPDATE 23 | SQLITE_DELETE 9),
 *       indirect (0 or 1), then records of nCol values: DELETE the old
 *       row, INSERT the new row, UPDATE the old values then the new.
 *   value := 0x00 undefined (UPDATE records only) | 0x01 INTEGER, 8 bytes
 *       | 0x02 REAL, 8 bytes | 0x03 TEXT, varint n, n bytes | 0x04 BLOB,
 *       varint n, n bytes | 0x05 NULL
 *   varint: SQLite's, 7 bits a byte, high bit set on all but the last.
 *
 * Returns 0 if cs is a well-formed changeset, -1 if not.
 */
static int
hub_varint(const uint8_t *p, size_t n, size_t *off, uint64_t *v)
{
	uint64_t x = 0;
	int i;

	for (i = 0; i < 9; i++) {
		if (*off >= n)
			return -1;
		if (i == 8) {
			x = (x << 8) | p[(*off)++];
			break;
		}
		x = (x << 7) | (p[*off] & 0x7f);
		if ((p[(*off)++] & 0x80) == 0)
			break;
	}
	*v = x;
	return 0;
}

static int
hub_cs_check(const uint8_t *p, size_t n)
{
	size_t off = 0, i, k;
	uint64_t ncol = 0, len;
	int rec, nrec;

	while (off < n) {
		uint8_t b = p[off++];

		if (b == 'T') {
			if (hub_varint(p, n, &off, &ncol) != 0 || ncol == 0 ||
			    ncol > HUB_MAX_COLS || ncol > n - off)
				return -1;
			off += (size_t)ncol;
			for (k = 0; off + k < n && p[off + k] != '\0'; k++)
				;
			if (off + k >= n || k == 0 || k > 64)
				return -1;
			off += k + 1;
			continue;
		}
		if (ncol == 0 || (b != SQLITE_INSERT && b != SQLITE_UPDATE &&
		    b != SQLITE_DELETE) || off >= n || p[off] > 1)
			return -1;
		off++;
		nrec = b == SQLITE_UPDATE ? 2 : 1;
		for (rec = 0; rec < nrec; rec++) {
			for (i = 0; i < ncol; i++) {
				if (off >= n)
					return -1;
				switch (p[off++]) {
				case 0x00:
					if (b != SQLITE_UPDATE)
						return -1;
					break;
				case 0x01: case 0x02:
					if (n - off < 8)
						return -1;
					off += 8;
					break;
				case 0x03: case 0x04:
					if (hub_varint(p, n, &off, &len) != 0 ||
					    len > n - off)
						return -1;
					off += (size_t)len;
					break;
				case 0x05:
					break;
				default:
					return -1;
				}
			}
		}
	}
	return 0;
}

/* What walking a changeset found. */
struct hub_walk {
	int rules;		/* rooms, memberships or consents changed */
	int creates_room;	/* INSERT into rooms */
	int adds_staff;		/* INSERT: the staff, an active member */
	int audit;		/* audit_events rows inserted */
	int not_audit;		/* rows of other tables */
	int not_insert;		/* a change other than an INSERT */
	int own_answer;		/* only the staff's own membership status
				 * changes: an invitee accepting or
				 * declining */
};

static int
hub_text_is(sqlite3_value *v, const char *s)
{
	size_t n = strlen(s);

	return v != NULL && sqlite3_value_type(v) == SQLITE_TEXT &&
	    (size_t)sqlite3_value_bytes(v) == n &&
	    memcmp(sqlite3_value_text(v), s, n) == 0;
}

static int
hub_col(const struct hub_table *t, const char *name)
{
	int i;

	for (i = 0; i < t->ncol; i++)
		if (strcmp(t->cols[i], name) == 0)
			return i;
	return -1;
}

/*
 * Walks e's changeset before anything is applied.  0: fine (w filled);
 * 1: refused, reason set; RK_EPROTO: not a changeset.
 */
static int
hub_walk(struct hub *h, const struct envelope *e, const char *staff,
    struct hub_walk *w, char *reason, size_t rlen)
{
	sqlite3_changeset_iter *it = NULL;
	int rc = 0, step, frc;

	memset(w, 0, sizeof(*w));
	w->own_answer = 1;
	if (hub_cs_check(e->changeset, e->changeset_len) != 0)
		return RK_EPROTO;
	if (sqlite3changeset_start(&it, (int)e->changeset_len,
	    e->changeset) != SQLITE_OK)
		return RK_EPROTO;
	while ((step = sqlite3changeset_next(it)) == SQLITE_ROW) {
		const struct hub_table *t;
		const char *table;
		unsigned char *abpk = NULL;
		sqlite3_value *v = NULL;
		int ncol, op, indirect, npk, i;
		char name[80], got[80];

		if (sqlite3changeset_op(it, &table, &ncol, &op, &indirect) !=
		    SQLITE_OK || sqlite3changeset_pk(it, &abpk, &npk) !=
		    SQLITE_OK) {
			rc = RK_EPROTO;
			break;
		}
		hub_safe(name, sizeof(name), table, strlen(table));
		if ((t = hub_table_find(h, table)) == NULL) {
			snprintf(reason, rlen, "table %s is not synced", name);
			rc = 1;
			break;
		}
		if (t->p->scope != SYNC_ROOM) {
			snprintf(reason, rlen, "table %s is the directory: "
			    "only the hub writes it", name);
			rc = 1;
			break;
		}
		for (i = 0; ncol == t->ncol && i < ncol; i++)
			if ((abpk[i] != 0) != t->pk[i])
				break;
		if (ncol != t->ncol || i != ncol) {
			snprintf(reason, rlen, "table %s: the change has %d "
			    "columns or another key than this hub's schema "
			    "(%d)", name, ncol, t->ncol);
			rc = 1;
			break;
		}
		if (op == SQLITE_INSERT)
			sqlite3changeset_new(it, t->room_col, &v);
		else
			sqlite3changeset_old(it, t->room_col, &v);
		if (!hub_text_is(v, e->room)) {
			if (v != NULL && sqlite3_value_type(v) == SQLITE_TEXT)
				hub_safe(got, sizeof(got),
				    sqlite3_value_text(v),
				    (size_t)sqlite3_value_bytes(v));
			else
				snprintf(got, sizeof(got), "(none)");
			snprintf(reason, rlen, "row of room %s in an envelope "
			    "for room %s", got, e->room);
			rc = 1;
			break;
		}
		if (!strcmp(table, "rooms") || !strcmp(table, "memberships") ||
		    !strcmp(table, "consents"))
			w->rules = 1;
		/* The room rules depend on the kind: a device makes patient
		 * rooms only and never changes a room's kind. */
		if (!strcmp(table, "rooms") && op != SQLITE_DELETE) {
			int ck = hub_col(t, "kind");

			v = NULL;
			if (ck >= 0)
				sqlite3changeset_new(it, ck, &v);
			if ((op == SQLITE_INSERT &&
			    !hub_text_is(v, "patient")) ||
			    (op == SQLITE_UPDATE && v != NULL)) {
				snprintf(reason, rlen, "room %s: a device "
				    "makes patient rooms only and cannot "
				    "change a room's kind", e->room);
				rc = 1;
				break;
			}
		}
		if (op == SQLITE_INSERT && !strcmp(table, "rooms"))
			w->creates_room = 1;
		if (op != SQLITE_INSERT)
			w->not_insert = 1;
		/* An audit event names the device that pushes it and its
		 * staff: nobody writes events in another's name. */
		if (op == SQLITE_INSERT && !strcmp(table, "audit_events")) {
			sqlite3_value *sv = NULL, *dv = NULL;
			int cs = hub_col(t, "staff"), cd = hub_col(t, "device");

			if (cs < 0 || cd < 0 ||
			    sqlite3changeset_new(it, cs, &sv) != SQLITE_OK ||
			    sqlite3changeset_new(it, cd, &dv) != SQLITE_OK ||
			    !hub_text_is(sv, staff) ||
			    !hub_text_is(dv, e->origin)) {
				snprintf(reason, rlen, "room %s: an audit event "
				    "names another staff member or device than "
				    "the one that pushed it", e->room);
				rc = 1;
				break;
			}
			w->audit = 1;
		} else {
			w->not_audit = 1;
		}
		/* An invitee's answer: an UPDATE of their own membership
		 * that sets status (and hlc) only, with its audit notes. */
		if (w->own_answer && op == SQLITE_INSERT &&
		    !strcmp(table, "audit_events")) {
			sqlite3_value *sv = NULL;
			int cs = hub_col(t, "staff");

			if (cs < 0 || sqlite3changeset_new(it, cs, &sv) !=
			    SQLITE_OK || !hub_text_is(sv, staff))
				w->own_answer = 0;
		} else if (w->own_answer) {
			sqlite3_value *sv = NULL;
			int cs = hub_col(t, "staff_id"), k;

			if (strcmp(table, "memberships") != 0 ||
			    op != SQLITE_UPDATE || cs < 0 ||
			    sqlite3changeset_old(it, cs, &sv) != SQLITE_OK ||
			    !hub_text_is(sv, staff))
				w->own_answer = 0;
			for (k = 0; w->own_answer && k < t->ncol; k++) {
				sv = NULL;
				if (t->pk[k] || !strcmp(t->cols[k], "status") ||
				    !strcmp(t->cols[k], "hlc"))
					continue;
				if (sqlite3changeset_new(it, k, &sv) !=
				    SQLITE_OK || sv != NULL)
					w->own_answer = 0;
			}
		}
		if (op == SQLITE_INSERT && !strcmp(table, "memberships")) {
			sqlite3_value *sv = NULL, *stv = NULL;
			int cs = hub_col(t, "staff_id"), cst = hub_col(t,
			    "status");

			if (cs >= 0 && cst >= 0 &&
			    sqlite3changeset_new(it, cs, &sv) == SQLITE_OK &&
			    sqlite3changeset_new(it, cst, &stv) == SQLITE_OK &&
			    hub_text_is(sv, staff) &&
			    hub_text_is(stv, "active"))
				w->adds_staff = 1;
		}
		/* What the conflict rules refuse even where SQLite would
		 * apply it cleanly (conflicts.h). */
		if ((rc = conflicts_walk_change(it, staff, reason, rlen)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = RK_EPROTO;
	frc = sqlite3changeset_finalize(it);
	if (rc == 0 && frc != SQLITE_OK)
		rc = RK_EPROTO;
	return rc;
}

enum hub_status { HUB_APPLIED, HUB_DUPLICATE, HUB_REFUSED };

struct hub_result {
	char origin[65];
	char room[65];
	uint64_t seq_first, seq_last;
	enum hub_status status;
	int64_t hub_seq;
	char reason[400];
};

static int
hub_record(sqlite3 *db, const struct hub_result *r, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = store_prepare(db, "INSERT INTO local_hub_received (origin, "
	    "seq_first, seq_last, status, hub_seq, reason, received_at, "
	    "room_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 8, r->room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 1, r->origin, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->seq_first);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)r->seq_last);
	sqlite3_bind_text(st, 4, r->status == HUB_REFUSED ? "refused" :
	    "applied", -1, SQLITE_STATIC);
	if (r->status == HUB_REFUSED) {
		sqlite3_bind_null(st, 5);
		sqlite3_bind_text(st, 6, r->reason, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_int64(st, 5, r->hub_seq);
		sqlite3_bind_null(st, 6);
	}
	sqlite3_bind_int64(st, 7, now);
	return hub_step_done(db, st);
}

/* Refuses r with the reason; recorded in local_hub_received if record. */
static int RK_PRINTF(5, 6)
hub_refuse(sqlite3 *db, struct hub_result *r, int record, int64_t now,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	r->status = HUB_REFUSED;
	return record ? hub_record(db, r, now) : 0;
}

/*
 * Deduplication by (origin, room, seq).  Ranges of one origin and room
 * never overlap once recorded, so the only candidate is the last range of
 * that room starting at or before seq_last.  0: new; 1: answered (duplicate or the old refusal);
 * 2: overlaps.
 */
static int
hub_dedupe(sqlite3 *db, struct hub_result *r, int *verdict)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*verdict = 0;
	if ((rc = store_prepare(db, "SELECT seq_first, seq_last, status, "
	    "hub_seq, reason FROM local_hub_received WHERE origin = ?1 AND "
	    "room_id = ?3 AND seq_first <= ?2 ORDER BY seq_first DESC LIMIT 1",
	    &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 3, r->room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 1, r->origin, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->seq_last);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		uint64_t f = (uint64_t)sqlite3_column_int64(st, 0);
		uint64_t l = (uint64_t)sqlite3_column_int64(st, 1);
		const char *status = (const char *)sqlite3_column_text(st, 2);

		if (f == r->seq_first && l == r->seq_last) {
			*verdict = 1;
			if (status != NULL && strcmp(status, "refused") == 0) {
				r->status = HUB_REFUSED;
				snprintf(r->reason, sizeof(r->reason), "%s",
				    sqlite3_column_text(st, 4) ?
				    (const char *)sqlite3_column_text(st, 4) :
				    "refused before");
			} else {
				r->status = HUB_DUPLICATE;
				r->hub_seq = sqlite3_column_int64(st, 3);
			}
		} else if (l >= r->seq_first) {
			*verdict = 2;
		}
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = store_sqlite_err(db);
	}
	store_finalize(st);
	return rc;
}

static int
hub_log_append(sqlite3 *db, const struct envelope *e, int64_t now,
    const void *cs, int n, int64_t *hub_seq)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = store_prepare(db, "INSERT INTO local_hub_log (room_id, origin, "
	    "seq_first, seq_last, created_at, changeset) VALUES (?1, ?2, ?3, "
	    "?4, ?5, ?6)", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, e->room, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, e->origin, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)e->seq_first);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)e->seq_last);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_blob(st, 6, cs, n, SQLITE_STATIC);
	if ((rc = hub_step_done(db, st)) != 0)
		return rc;
	*hub_seq = sqlite3_last_insert_rowid(db);
	return 0;
}

/* The conflict handler of hub_apply: on the fast path any conflict stops
 * the apply (it is redone with a session); otherwise the merge rules. */
struct hub_cc {
	struct conflicts_apply *a;
	int fast;
	int conflicted;
};

static int
hub_on_conflict(void *arg, int kind, sqlite3_changeset_iter *it)
{
	struct hub_cc *c = arg;

	if (c->fast) {
		c->conflicted = 1;
		return SQLITE_CHANGESET_ABORT;
	}
	return conflicts_apply_on_conflict(c->a, kind, it);
}

/*
 * Applies a decoded, walked envelope inside SAVEPOINT hub_env.  0 with r
 * applied or refused (the savepoint released either way); an rk_err for
 * the hub's own failures (the caller rolls the request back).
 *
 * Fast path: an envelope of INSERTs only (new posts, visits, notes: most
 * of what a day brings) that applies without a single conflict changed
 * exactly its own rows, so it is its own canonical changeset and needs no
 * session to capture it.  At the first conflict it is rolled back and
 * applied again the general way, with a session and the merge rules.
 */
static int
hub_apply(struct hub *h, const struct envelope *e, const struct hub_walk *w,
    const struct buf *frame, int64_t now, struct hub_result *r)
{
	sqlite3 *db = store_db(h->s);
	sqlite3_session *sess = NULL;
	struct hub_cc cc = { NULL, 0, 0 };
	struct rk_why rwhy = { "" };
	void *cs = NULL;
	const void *canon;
	int n = 0, rc, arc;
	int64_t hub_seq = 0;

	cc.fast = !w->not_insert;
	if ((rc = hub_exec(db, "SAVEPOINT hub_env")) != 0)
		return rc;
again:
	if ((rc = conflicts_apply_begin(db, e->origin, e->hlc, 0, &cc.a)) != 0)
		goto rollback;
	if (!cc.fast) {
		if (sqlite3session_create(db, "main", &sess) != SQLITE_OK) {
			rc = RK_ENOMEM;
			goto rollback;
		}
		sqlite3session_table_filter(sess, hub_synced_filter, NULL);
		if (sqlite3session_attach(sess, NULL) != SQLITE_OK) {
			rc = RK_EDB;
			goto rollback;
		}
	}
	if (cc.fast) {
		/* Cached INSERTs; a key or constraint that refuses a row
		 * sends it the general way, which decides what that means. */
		rc = csins_apply(h->ins, e->changeset, e->changeset_len);
		if (rc == RK_EEXIST || rc == RK_EINVAL)
			cc.conflicted = 1;
		else if (rc != 0)
			goto rollback;
		arc = SQLITE_OK;
	} else {
		arc = sqlite3changeset_apply_v2(db, (int)e->changeset_len,
		    e->changeset, hub_synced_filter, hub_on_conflict, &cc,
		    NULL, NULL, SQLITE_CHANGESETAPPLY_NOSAVEPOINT);
	}
	if (cc.fast && cc.conflicted) {
		hub_exec(db, "ROLLBACK TO hub_env");
		conflicts_apply_free(cc.a);
		cc.a = NULL;
		cc.fast = 0;
		goto again;
	}
	if ((rc = conflicts_apply_error(cc.a)) != 0)
		goto rollback;
	if (arc == SQLITE_ABORT || (arc & 0xff) == SQLITE_CONSTRAINT) {
		if (sess != NULL)
			sqlite3session_delete(sess);
		sess = NULL;
		hub_exec(db, "ROLLBACK TO hub_env");
		rc = hub_refuse(db, r, 1, now, "%s",
		    conflicts_apply_refusal(cc.a)[0] ?
		    conflicts_apply_refusal(cc.a) :
		    "the change breaks a constraint");
		goto release;
	}
	if (arc != SQLITE_OK) {
		log_warnx("hub: applying %s %llu..%llu: %s", e->origin,
		    (unsigned long long)e->seq_first,
		    (unsigned long long)e->seq_last, sqlite3_errmsg(db));
		rc = (arc & 0xff) == SQLITE_CORRUPT ? RK_EPROTO :
		    store_sqlite_err(db);
		goto rollback;
	}
	/* The conflict records go into the canonical changeset too. */
	if ((rc = conflicts_apply_write(cc.a, e->room, h->clock, now)) != 0)
		goto rollback;
	if (w->rules || w->creates_room) {
		if ((rc = hub_room_rules(db, e->room, &rwhy)) == RK_EDENIED) {
			if (sess != NULL)
				sqlite3session_delete(sess);
			sess = NULL;
			hub_exec(db, "ROLLBACK TO hub_env");
			rc = hub_refuse(db, r, 1, now, "%s", rwhy.text);
			goto release;
		}
		if (rc != 0)
			goto rollback;
	}
	/* Chain the audit events this envelope brought as they arrive,
	 * before anyone could alter them (daemon/roomwork_audit.c). */
	if (w->audit && (rc = roomwork_audit_chain_extend(h->s, e->room,
	    NULL, &rwhy)) != 0) {
		log_warnx("hub: %s", rwhy.text);
		goto rollback;
	}
	if (cc.fast) {
		canon = e->changeset;
		n = (int)e->changeset_len;
	} else {
		frame = NULL;	/* of the envelope, not of what applied */
		if (sqlite3session_changeset(sess, &n, &cs) != SQLITE_OK) {
			rc = RK_ENOMEM;
			goto rollback;
		}
		canon = cs;
		/* The session must not see the bookkeeping below. */
		sqlite3session_delete(sess);
		sess = NULL;
	}
	if (n > 0) {
		/* The log keeps the frame a pull sends, when it was made. */
		const void *logged = canon;
		int nlogged = n;

		if (frame != NULL && frame->len > 0) {
			logged = frame->data;
			nlogged = (int)frame->len;
		}
		if ((rc = hub_log_append(db, e, now, logged, nlogged,
		    &hub_seq)) != 0)
			goto rollback;
	} else if ((rc = hub_head(db, &hub_seq)) != 0) {
		goto rollback;
	}
	if ((rc = conflicts_note_writers(db, canon, n, e->origin)) != 0)
		goto rollback;
	r->status = HUB_APPLIED;
	r->hub_seq = hub_seq;
	if ((rc = hub_record(db, r, now)) != 0)
		goto rollback;
release:
	if (rc == 0)
		rc = hub_exec(db, "RELEASE hub_env");
	goto out;
rollback:
	if (sess != NULL)
		sqlite3session_delete(sess);
	sess = NULL;
	sqlite3_exec(db, "ROLLBACK TO hub_env", NULL, NULL, NULL);
	sqlite3_exec(db, "RELEASE hub_env", NULL, NULL, NULL);
out:
	if (sess != NULL)
		sqlite3session_delete(sess);
	sqlite3_free(cs);
	conflicts_apply_free(cc.a);
	return rc;
}

struct hub_items {
	const uint8_t **p;
	size_t *n;
	size_t count, cap;
};

/*
 * Reading a push's envelopes ahead of their apply.  Verifying a signature,
 * inflating the changeset and walking it (hub_walk) need no database, so
 * while the request's thread applies envelope i under the store lock, a
 * reader thread verifies, inflates and walks i+1, i+2, ...  Envelopes are
 * taken in order by whichever thread comes to them first: the applying
 * thread reads one itself when the reader has not reached it (or there is
 * no reader), so the result and every refusal and error are the same as
 * reading them one by one, in the same order.  What is read ahead waits,
 * decompressed, until applied: at most HUB_AHEAD_MAX_RAW bytes of it.
 */
#define HUB_AHEAD_MAX_RAW (32u * 1024 * 1024)
#define HUB_LOG_FRAME_MIN (2u * 1024)	/* see hub_read_one */

void
hub_set_read_ahead(struct hub *h, size_t max_raw)
{
	h->ahead_max = max_raw;
}

/* One envelope as read: state 0 not taken, 1 being read, 2 read. */
struct hub_read {
	int state;
	int rc;			/* 0, or the request's error (why) */
	struct rk_why why;
	struct envelope e;	/* decoded when rc == 0: envelope_release */
	int wrc;		/* hub_walk's: 0, 1 refused (reason), rk_err */
	struct hub_walk w;
	char reason[400];
	struct buf frame;	/* the pull's frame of e's changeset, or empty */
};

struct hub_reader {
	struct hub *h;
	const char *device;
	const struct hub_dev *dev;
	const struct hub_items *items;
	struct hub_read *r;	/* items->count of them */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t next;		/* the first envelope not taken */
	size_t applying;	/* the envelope the applying thread is at */
	size_t ahead_raw;	/* read and not yet released */
	size_t ahead_max;	/* HUB_AHEAD_MAX_RAW but for tests */
	int stop;
};

/* Verifies, inflates and walks envelope idx into r (no lock held). */
static void
hub_read_one(struct hub *h, const char *device, const struct hub_dev *dev,
    size_t idx, const uint8_t *p, size_t n, struct hub_read *r)
{
	struct rk_why ewhy = { "" };
	char origin[65], room[65];
	int rc;

	if (envelope_peek(p, n, origin, room) != 0) {
		r->rc = rk_whyf(&r->why, RK_EPROTO, "envelope %zu: malformed "
		    "or truncated head", idx + 1);
		return;
	}
	if (strcmp(origin, device) != 0) {
		r->rc = rk_whyf(&r->why, RK_EDENIED, "envelope %zu comes from "
		    "device %s, not from %s who signed the request: relaying "
		    "is not supported yet", idx + 1, origin, device);
		return;
	}
	if ((rc = envelope_decode_why(p, n, dev->sign_pk, &r->e,
	    &ewhy)) != 0) {
		r->rc = rk_whyf(&r->why, rc, "envelope %zu: %s", idx + 1,
		    ewhy.text);
		return;
	}
	r->wrc = hub_walk(h, &r->e, dev->staff, &r->w, r->reason,
	    sizeof(r->reason));
	/*
	 * An envelope of new rows is most likely its own canonical change
	 * (hub_apply's fast path): its frame for the log is made here, off
	 * the apply's thread, so pulls copy it instead of compressing it
	 * again for each device.  Small ones are left to the pull.  If it
	 * cannot be made the log keeps the raw changeset.
	 */
	if (r->wrc == 0 && !r->w.not_insert &&
	    r->e.changeset_len > HUB_LOG_FRAME_MIN &&
	    pull_frame_make(r->e.changeset, r->e.changeset_len,
	    &r->frame) != 0)
		r->frame.len = 0;
}

/* Reads the first envelope nobody has taken (mu held, released while
 * reading). */
static void
hub_reader_read_next(struct hub_reader *rd)
{
	size_t idx = rd->next++;
	struct hub_read *r = &rd->r[idx];

	r->state = 1;
	pthread_mutex_unlock(&rd->mu);
	hub_read_one(rd->h, rd->device, rd->dev, idx, rd->items->p[idx],
	    rd->items->n[idx], r);
	pthread_mutex_lock(&rd->mu);
	r->state = 2;
	if (r->rc == 0)
		rd->ahead_raw += r->e.changeset_len;
	/* A request error ends the request there: stop reading ahead. */
	if (r->rc != 0 || r->wrc == RK_EPROTO)
		rd->stop = 1;
	pthread_cond_broadcast(&rd->cv);
}

/* Whether an envelope past the one being applied may be read now (mu
 * held): not past an error, nor too far ahead in memory. */
static int
hub_reader_may_read_ahead(const struct hub_reader *rd)
{
	return !rd->stop && rd->next < rd->items->count &&
	    (rd->next <= rd->applying || rd->ahead_raw < rd->ahead_max);
}

static void *
hub_reader_main(void *arg)
{
	struct hub_reader *rd = arg;

	pthread_mutex_lock(&rd->mu);
	while (!rd->stop && rd->next < rd->items->count) {
		if (hub_reader_may_read_ahead(rd))
			hub_reader_read_next(rd);
		else
			pthread_cond_wait(&rd->cv, &rd->mu);
	}
	pthread_mutex_unlock(&rd->mu);
	return NULL;
}

/*
 * Envelope idx, read.  While the reader thread is still reading it, this
 * thread reads the next ones meanwhile rather than wait: reading costs
 * about as much as applying, so neither thread stays idle.
 */
static struct hub_read *
hub_reader_get(struct hub_reader *rd, size_t idx)
{
	struct hub_read *r = &rd->r[idx];

	pthread_mutex_lock(&rd->mu);
	rd->applying = idx;
	pthread_cond_broadcast(&rd->cv);
	while (r->state != 2) {
		/* Not taken yet (no reader, or it stopped): read it here. */
		if (rd->next == idx || hub_reader_may_read_ahead(rd))
			hub_reader_read_next(rd);
		else
			pthread_cond_wait(&rd->cv, &rd->mu);
	}
	pthread_mutex_unlock(&rd->mu);
	return r;
}

/* Done with envelope idx: its changeset is freed. */
static void
hub_reader_put(struct hub_reader *rd, size_t idx)
{
	struct hub_read *r = &rd->r[idx];

	pthread_mutex_lock(&rd->mu);
	if (r->rc == 0)
		rd->ahead_raw -= r->e.changeset_len;
	envelope_release(&r->e);
	buf_release(&r->frame);
	pthread_cond_broadcast(&rd->cv);
	pthread_mutex_unlock(&rd->mu);
}

/* One envelope of a push, read (r): 0 with res filled, or an error for
 * the request. */
static int
hub_push_one(struct hub *h, const struct hub_dev *dev, size_t idx,
    struct hub_read *rd, uint64_t *raw_total, struct hub_result *r,
    struct rk_why *why)
{
	sqlite3 *db = store_db(h->s);
	struct envelope *e = &rd->e;
	char reason[400];
	int64_t now = rk_now_ms(h->clock);
	int rc, verdict, member;

	if (rd->rc != 0) {
		if (why != NULL)
			*why = rd->why;
		return rd->rc;
	}
	if ((*raw_total += e->changeset_len) > HUB_PUSH_MAX_RAW)
		return rk_whyf(why, RK_EPROTO, "the push expands to more than "
		    "%u bytes: send fewer envelopes per request",
		    HUB_PUSH_MAX_RAW);
	memcpy(r->origin, e->origin, sizeof(r->origin));
	memcpy(r->room, e->room, sizeof(r->room));
	r->seq_first = e->seq_first;
	r->seq_last = e->seq_last;

	if (e->schema_version < 1 || e->schema_version > schema_version())
		return hub_refuse(db, r, 0, now, "unknown schema version %u "
		    "(this hub knows 1..%d)", (unsigned)e->schema_version,
		    schema_version());
	if ((rc = hub_dedupe(db, r, &verdict)) != 0)
		return rc;
	if (verdict == 1)
		return 0;
	if (verdict == 2)
		return hub_refuse(db, r, 0, now, "overlapping sequence range: "
		    "%llu..%llu overlaps an envelope received before",
		    (unsigned long long)e->seq_first,
		    (unsigned long long)e->seq_last);
	if (!id_valid_name(e->room))
		return hub_refuse(db, r, 1, now, "room id '%s' is not valid "
		    "(letters, digits, '.', '_', '-')", e->room);
	/* A purged room takes nothing, nor may it be made again. */
	if ((rc = retention_purged(db, e->room, reason, sizeof(reason))) < 0)
		return rc;
	if (rc == 1)
		return hub_refuse(db, r, 1, now, "%s", reason);
	/* The walk was made as the envelope was read. */
	if (rd->wrc == RK_EPROTO)
		return rk_whyf(why, RK_EPROTO, "envelope %zu (%s %llu..%llu): "
		    "the changeset is malformed or truncated", idx + 1,
		    e->origin, (unsigned long long)e->seq_first,
		    (unsigned long long)e->seq_last);
	if (rd->wrc == 1)
		return hub_refuse(db, r, 1, now, "%s", rd->reason);
	if (rd->wrc != 0)
		return rd->wrc;
	if ((member = hub_is_member(db, e->room, dev->staff)) < 0)
		return member;
	/* An archived room is read-only: only the audit notes of reads
	 * made in it still arrive. */
	if (rd->w.not_audit) {
		int64_t archived = 0;

		if ((rc = hub_int(db, "SELECT EXISTS (SELECT 1 FROM rooms WHERE "
		    "room_id = ?1 AND status = 'archived')", e->room,
		    &archived)) != 0)
			return rc;
		if (archived)
			return hub_refuse(db, r, 1, now, "room %s is archived: "
			    "read-only", e->room);
	}
	/* An invitee answers its invitation before it is a member. */
	if (!member && rd->w.own_answer &&
	    (member = hub_is_member_or(db, e->room, dev->staff, 1)) < 0)
		return member;
	if (!member) {
		int64_t exists = 0;

		if ((rc = hub_int(db, "SELECT EXISTS (SELECT 1 FROM rooms "
		    "WHERE room_id = ?1)", e->room, &exists)) != 0)
			return rc;
		if (exists || !rd->w.creates_room || !rd->w.adds_staff)
			return hub_refuse(db, r, 1, now, "staff %s is not a "
			    "member of room %s", dev->staff, e->room);
	}
	if (store_hlc_observe(h->s, e->hlc) != 0) {
		char t[40];

		hlc_format(e->hlc, t, sizeof(t));
		return hub_refuse(db, r, 0, now, "timestamp %s is too far "
		    "ahead of the hub's clock: check the device's clock", t);
	}
	return hub_apply(h, e, &rd->w, &rd->frame, now, r);
}

static int
hub_collect(void *arg, const uint8_t *env, size_t len)
{
	struct hub_items *it = arg;

	if (it->count == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 16;
		const uint8_t **p = realloc(it->p, cap * sizeof(*p));
		size_t *n;

		if (p == NULL)
			return RK_ENOMEM;
		it->p = p;
		if ((n = realloc(it->n, cap * sizeof(*n))) == NULL)
			return RK_ENOMEM;
		it->n = n;
		it->cap = cap;
	}
	it->p[it->count] = env;
	it->n[it->count] = len;
	it->count++;
	return 0;
}

static json_t *
hub_results_json(const struct hub_result *res, size_t n)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; arr != NULL && i < n; i++) {
		const struct hub_result *r = &res[i];

		o = json_pack("{s:s, s:I, s:I, s:s}", "origin", r->origin,
		    "seq_first", (json_int_t)r->seq_first, "seq_last",
		    (json_int_t)r->seq_last, "status",
		    r->status == HUB_APPLIED ? "applied" :
		    r->status == HUB_DUPLICATE ? "duplicate" : "refused");
		if (o != NULL && r->status == HUB_REFUSED) {
			json_t *why = json_string(r->reason);

			json_object_set_new(o, "reason", why ? why :
			    json_string("refused"));
		}
		else if (o != NULL)
			json_object_set_new(o, "hub_seq",
			    json_integer(r->hub_seq));
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	if (arr == NULL)
		return NULL;
	return json_pack("{s:o, s:b}", "results", arr, "root", 1);
}

int
hub_push(struct hub *h, const char *device_id, const uint8_t *body,
    size_t len, json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(h->s);
	struct hub_items items = { NULL, NULL, 0, 0 };
	struct hub_reader rd;
	struct hub_result *res = NULL;
	struct hub_dev dev;
	pthread_t reader;
	uint64_t raw_total = 0;
	json_t *o;
	size_t i;
	int rc, locked = 0, reading = 0;

	memset(&rd, 0, sizeof(rd));
	pthread_mutex_init(&rd.mu, NULL);
	pthread_cond_init(&rd.cv, NULL);

	if ((rc = envelope_split(body, len, hub_collect, &items)) != 0) {
		if (rc == RK_EPROTO)
			rk_whyf(why, rc, "push body: broken framing (u32 "
			    "length, envelope)..., more than %u bytes or %u "
			    "envelopes", WIRE_MAX_BODY, WIRE_MAX_ENVELOPES);
		goto out;
	}
	if (items.count > 0 && (res = calloc(items.count,
	    sizeof(*res))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	store_lock(h->s);
	locked = 1;
	if ((rc = hub_dev_load(db, device_id, &dev)) != 0) {
		rk_whyf(why, rc == RK_ENOTFOUND ? RK_EAUTH : rc,
		    "unknown device %s", device_id);
		rc = rc == RK_ENOTFOUND ? RK_EAUTH : rc;
		goto out;
	}
	if (!dev.active || dev.staff_state != 1) {
		rc = rk_whyf(why, RK_EDENIED, !dev.active ? "device %s has "
		    "been revoked" : "staff %s is suspended", !dev.active ?
		    device_id : dev.staff);
		goto out;
	}
	if ((rc = hub_exec(db, "BEGIN IMMEDIATE")) != 0) {
		rk_whyf(why, rc, "cannot start the push");
		goto out;
	}
	rd.h = h;
	rd.device = device_id;
	rd.dev = &dev;
	rd.items = &items;
	rd.ahead_max = h->ahead_max ? h->ahead_max : HUB_AHEAD_MAX_RAW;
	if (items.count > 0 && (rd.r = calloc(items.count,
	    sizeof(*rd.r))) == NULL) {
		rc = RK_ENOMEM;
		hub_rollback(db);
		goto out;
	}
	/* Without a reader thread this thread reads every envelope. */
	if (items.count > 1 && pthread_create(&reader, NULL, hub_reader_main,
	    &rd) == 0)
		reading = 1;
	for (i = 0; i < items.count; i++) {
		rc = hub_push_one(h, &dev, i, hub_reader_get(&rd, i),
		    &raw_total, &res[i], why);
		hub_reader_put(&rd, i);
		if (rc != 0) {
			if (why != NULL && why->text[0] == '\0')
				rk_whyf(why, rc, "envelope %zu: %s", i + 1,
				    rk_strerror(rc));
			hub_rollback(db);
			goto out;
		}
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot save the push: "
		    "%s", sqlite3_errmsg(db));
		hub_rollback(db);
		goto out;
	}
	store_unlock(h->s);
	locked = 0;
	/* Committed: only now are the acks true. */
	if ((o = hub_results_json(res, items.count)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	*out = o;	/* the caller's: json_decref */
	rc = 0;
out:
	if (reading) {
		pthread_mutex_lock(&rd.mu);
		rd.stop = 1;
		pthread_cond_broadcast(&rd.cv);
		pthread_mutex_unlock(&rd.mu);
		pthread_join(reader, NULL);
	}
	if (locked)
		store_unlock(h->s);
	for (i = 0; rd.r != NULL && i < items.count; i++) {
		envelope_release(&rd.r[i].e);
		buf_release(&rd.r[i].frame);
	}
	free(rd.r);
	pthread_cond_destroy(&rd.cv);
	pthread_mutex_destroy(&rd.mu);
	free(res);
	free(items.p);
	free(items.n);
	return rc;
}

/* ---- pull --------------------------------------------------------------- */

/* The rooms (besides "") whose active members include staff: a JSON array. */
static int
hub_member_rooms(sqlite3 *db, const char *staff, json_t **out)
{
	sqlite3_stmt *st = NULL;
	json_t *a;
	int rc;

	if ((a = json_array()) == NULL)
		return RK_ENOMEM;
	/* Invitees too: their device must see the invitation to answer
	 * it (renkeid shows them nothing else of the room until then). */
	if ((rc = store_prepare(db, "SELECT room_id FROM memberships WHERE "
	    "staff_id = ?1 AND status IN ('active', 'invited') ORDER BY "
	    "room_id", &st)) != 0) {
		json_decref(a);
		return rc;
	}
	sqlite3_bind_text(st, 1, staff, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (json_array_append_new(a, json_string((const char *)
		    sqlite3_column_text(st, 0))) != 0)
			break;
	store_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		return rc == SQLITE_ROW ? RK_ENOMEM : store_sqlite_err(db);
	}
	*out = a;
	return 0;
}

static int
hub_json_has(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/*
 * Works out which rooms device follows, must snapshot or must purge, and
 * marks purges (see the top of the file).  Inside the caller's write
 * transaction.
 */
static int
hub_follow(sqlite3 *db, const char *device, const char *staff, int64_t after,
    int64_t head, json_t *snap, json_t *purge)
{
	sqlite3_stmt *st = NULL;
	json_t *rooms = NULL, *have = NULL, *mark = NULL, *drop = NULL, *v;
	size_t i;
	int rc;

	if ((rc = hub_member_rooms(db, staff, &rooms)) != 0)
		return rc;
	if (json_array_insert_new(rooms, 0, json_string("")) != 0 ||
	    (have = json_array()) == NULL || (mark = json_array()) == NULL ||
	    (drop = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	if ((rc = store_prepare(db, "SELECT room_id, since_seq FROM "
	    "local_hub_device_rooms WHERE device_id = ?1 ORDER BY room_id",
	    &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *room = (const char *)sqlite3_column_text(st, 0);
		int64_t since = sqlite3_column_int64(st, 1);
		json_t *to = NULL;

		if (hub_json_has(rooms, room)) {
			/* since < 0: rejoined before the purge was done; it
			 * needs a snapshot again. */
			to = since >= 0 ? have : NULL;
		} else if (since >= 0) {
			to = mark;	/* left: tell the device to purge */
		} else if (after >= -1 - since) {
			to = drop;	/* it has had the purge */
		} else if (json_array_append_new(purge, json_string(room))) {
			break;		/* not yet: tell it again */
		}
		if (to != NULL && json_array_append_new(to, json_string(room)))
			break;
	}
	store_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE) {
		rc = rc == SQLITE_ROW ? RK_ENOMEM : store_sqlite_err(db);
		goto out;
	}
	json_array_foreach(mark, i, v) {
		if (json_array_append(purge, v) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
		if ((rc = store_prepare(db, "UPDATE local_hub_device_rooms SET "
		    "since_seq = ?3 WHERE device_id = ?1 AND room_id = ?2",
		    &st)) != 0)
			goto out;
		sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, json_string_value(v), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, -1 - head);
		rc = hub_step_done(db, st);
		st = NULL;
		if (rc != 0)
			goto out;
	}
	json_array_foreach(drop, i, v) {
		if ((rc = store_prepare(db, "DELETE FROM local_hub_device_rooms "
		    "WHERE device_id = ?1 AND room_id = ?2", &st)) != 0)
			goto out;
		sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, json_string_value(v), -1,
		    SQLITE_STATIC);
		rc = hub_step_done(db, st);
		st = NULL;
		if (rc != 0)
			goto out;
	}
	json_array_foreach(rooms, i, v)
		if (!hub_json_has(have, json_string_value(v)) &&
		    json_array_append(snap, v) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
	rc = 0;
out:
	store_finalize(st);
	json_decref(rooms);
	json_decref(have);
	json_decref(mark);
	json_decref(drop);
	return rc;
}

int
hub_pull(struct hub *h, const char *device_id, uint64_t after,
    unsigned limit, struct buf *out, struct rk_why *why)
{
	sqlite3 *db = store_db(h->s);
	sqlite3_stmt *st = NULL;
	struct pull_writer *w = NULL;
	struct hub_dev dev;
	json_t *snap = NULL, *purge = NULL, *ctl = NULL;
	char *ctl_text = NULL;
	int64_t head = 0, low = 0, last = 0;
	size_t bytes = 0;
	unsigned count = 0;
	int rc, more = 0;

	if (limit == 0)
		limit = HUB_PULL_LIMIT_DEFAULT;
	if (limit > HUB_PULL_LIMIT_MAX)
		limit = HUB_PULL_LIMIT_MAX;
	if (after > (uint64_t)INT64_MAX)
		return rk_whyf(why, RK_EINVAL, "after: out of range");
	if ((snap = json_array()) == NULL || (purge = json_array()) == NULL) {
		rc = RK_ENOMEM;
		goto out_nolock;
	}
	store_lock(h->s);
	if ((rc = hub_dev_load(db, device_id, &dev)) != 0) {
		rk_whyf(why, rc == RK_ENOTFOUND ? RK_EAUTH : rc, "unknown "
		    "device %s", device_id);
		rc = rc == RK_ENOTFOUND ? RK_EAUTH : rc;
		goto out;
	}
	if ((rc = hub_exec(db, "BEGIN IMMEDIATE")) != 0)
		goto out;
	if ((rc = hub_head(db, &head)) != 0 || (rc = hub_int(db,
	    "SELECT coalesce(min(hub_seq), 0) FROM local_hub_log", NULL,
	    &low)) != 0)
		goto out;
	/* The log is compacted below low (nightly job): a cursor before it
	 * would miss entries; one past the head is another hub's. */
	if ((low > 0 && (int64_t)after < low - 1) || (int64_t)after > head) {
		rc = rk_whyf(why, RK_ENOTFOUND, "cursor %llu is %s the hub's "
		    "log (%lld..%lld): fetch room snapshots",
		    (unsigned long long)after, (int64_t)after > head ?
		    "past the end of" : "older than", (long long)low,
		    (long long)head);
		goto out;
	}
	if ((rc = hub_follow(db, device_id, dev.staff, (int64_t)after, head,
	    snap, purge)) != 0)
		goto out;
	if ((rc = store_prepare(db, "SELECT l.hub_seq, l.room_id, l.changeset "
	    "FROM local_hub_log l JOIN local_hub_device_rooms d ON "
	    "d.device_id = ?1 AND d.room_id = l.room_id WHERE l.hub_seq > ?2 "
	    "AND d.since_seq >= 0 AND l.hub_seq > d.since_seq "
	    "ORDER BY l.hub_seq", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
	/* Head first, entries after: the cursor is known only at the end,
	 * so rows are read into a list before the writer starts. */
	{
		struct ent { int64_t seq; char room[65]; uint8_t *cs;
		    size_t n; int frame; } *ents = NULL;
		unsigned i;

		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const uint8_t *blob = sqlite3_column_blob(st, 2);
			size_t n = (size_t)sqlite3_column_bytes(st, 2);
			const char *room = (const char *)
			    sqlite3_column_text(st, 1);
			uint64_t raw = n;
			int frame = pull_frame_is(blob, n);

			/* The answer's budget is of changeset bytes. */
			if (frame && pull_frame_size(blob, n, &raw) != 0) {
				log_warnx("hub: log entry %lld is a damaged "
				    "frame", (long long)sqlite3_column_int64(st,
				    0));
				rc = RK_EDB;
				break;
			}
			if (count == limit || (count > 0 &&
			    bytes + raw > HUB_PULL_MAX_BYTES)) {
				more = 1;
				break;
			}
			if (count % 64 == 0) {
				struct ent *e2 = realloc(ents, (count + 64) *
				    sizeof(*ents));

				if (e2 == NULL) {
					rc = RK_ENOMEM;
					break;
				}
				ents = e2;
			}
			ents[count].seq = sqlite3_column_int64(st, 0);
			snprintf(ents[count].room, sizeof(ents[count].room),
			    "%s", room ? room : "");
			ents[count].n = n;
			ents[count].frame = frame;
			if ((ents[count].cs = malloc(n ? n : 1)) == NULL) {
				rc = RK_ENOMEM;
				break;
			}
			if (n > 0)
				memcpy(ents[count].cs, blob, n);
			last = ents[count].seq;
			bytes += raw;
			count++;
		}
		store_finalize(st);
		st = NULL;
		if (rc == SQLITE_DONE || rc == SQLITE_ROW)
			rc = 0;
		else if (rc != RK_ENOMEM)
			rc = store_sqlite_err(db);
		if (rc == 0 && (ctl = json_pack("{s:O, s:O}", "snapshot", snap,
		    "purge", purge)) == NULL)
			rc = RK_ENOMEM;
		if (rc == 0 && (ctl_text = json_dumps(ctl, JSON_COMPACT)) ==
		    NULL)
			rc = RK_ENOMEM;
		if (rc == 0)
			rc = pull_writer_new(more ? (uint64_t)last :
			    (uint64_t)head, (uint64_t)head, ctl_text, &w);
		for (i = 0; i < count; i++) {
			if (rc == 0 && ents[i].frame)
				rc = pull_writer_add_frame(w,
				    (uint64_t)ents[i].seq, ents[i].room,
				    ents[i].cs, ents[i].n);
			else if (rc == 0)
				rc = pull_writer_add(w, (uint64_t)ents[i].seq,
				    ents[i].room, ents[i].cs, ents[i].n);
			free(ents[i].cs);
		}
		free(ents);
	}
	if (rc != 0) {
		rk_whyf(why, rc, "cannot build the pull response");
		goto out;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot save: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	rc = pull_writer_finish(w, h->k->sign_sk, out);
	w = NULL;
out:
	store_finalize(st);
	hub_rollback(db);
	store_unlock(h->s);
out_nolock:
	pull_writer_free(w);
	json_decref(snap);
	json_decref(purge);
	json_decref(ctl);
	free(ctl_text);
	return rc;
}

/* ---- snapshot ----------------------------------------------------------- */

/* One part of a snapshot answer: a room's rows (or a cut of them). */
struct hub_snap_part {
	const char *room;	/* borrowed from the caller's list */
	uint8_t *cs;		/* malloc'd changeset */
	size_t len;
};

struct hub_snap {
	struct hub_snap_part *parts;
	size_t n, cap;
	size_t raw;		/* changeset bytes in all parts */
};

static void
hub_snap_release(struct hub_snap *sn)
{
	size_t i;

	for (i = 0; i < sn->n; i++)
		free(sn->parts[i].cs);
	free(sn->parts);
	memset(sn, 0, sizeof(*sn));
}

/* Hands the changeset in b to a new part; b is left empty. */
static int
hub_snap_cut(struct hub_snap *sn, const char *room, struct buf *b)
{
	struct hub_snap_part *np;
	size_t len;

	if (sn->n == sn->cap) {
		size_t cap = sn->cap ? sn->cap * 2 : 16;

		if ((np = realloc(sn->parts, cap * sizeof(*np))) == NULL)
			return RK_ENOMEM;
		sn->parts = np;
		sn->cap = cap;
	}
	np = &sn->parts[sn->n];
	np->room = room;
	if ((np->cs = buf_detach(b, &len)) == NULL)
		return RK_ENOMEM;
	np->len = len;
	sn->n++;
	sn->raw += len;
	return 0;
}

/*
 * Every row of one table (of room, or all for the directory) as INSERTs,
 * written straight in the changeset format (csenc.h) -- no session, no
 * copy of the rows -- into b, cut into parts of about HUB_SNAPSHOT_CHUNK
 * bytes.  *hdr says whether b already holds this table's header.
 */
static int
hub_snap_table(sqlite3 *db, const struct hub_table *t, const char *room,
    sqlite3_stmt **selp, struct buf *b, struct hub_snap *sn)
{
	sqlite3_stmt *sel = *selp;
	int rc, i, err = 0, hdr = 0;
	char *q;

	if (sel == NULL) {
		/* Kept by the caller for the other rooms of the answer. */
		if ((q = sqlite3_mprintf("SELECT * FROM main.\"%w\"%s",
		    t->p->table, t->room_col >= 0 ? " WHERE room_id = ?1" :
		    "")) == NULL)
			return RK_ENOMEM;
		rc = store_prepare(db, q, &sel);
		sqlite3_free(q);
		if (rc != 0)
			return rc;
		*selp = sel;
	}
	if (t->room_col >= 0)
		sqlite3_bind_text(sel, 1, room, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		if (sqlite3_column_count(sel) != t->ncol) {
			rc = RK_ESCHEMA;
			goto out;
		}
		if (!hdr) {
			csenc_table(b, t->p->table, t->ncol, t->pkpos, &err);
			hdr = 1;
		}
		csenc_insert(b, &err);
		for (i = 0; i < t->ncol; i++)
			csenc_value(b, sqlite3_column_value(sel, i), &err);
		if (err != 0) {
			rc = err;
			goto out;
		}
		if (b->len >= HUB_SNAPSHOT_CHUNK) {
			if ((rc = hub_snap_cut(sn, room, b)) != 0)
				goto out;
			hdr = 0;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : store_sqlite_err(db);
out:
	sqlite3_reset(sel);
	return rc;
}

/* The rows of one room ("" the directory) as parts of sn; sel[i] is table
 * i's query, prepared on first use and finalized by the caller. */
static int
hub_snap_room(struct hub *h, const char *room, sqlite3_stmt **sel,
    struct hub_snap *sn)
{
	sqlite3 *db = store_db(h->s);
	struct buf b = BUF_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; i < h->ntables && rc == 0; i++) {
		const struct hub_table *t = &h->tables[i];

		if ((room[0] == '\0') == (t->p->scope == SYNC_DIRECTORY))
			rc = hub_snap_table(db, t, room, &sel[i], &b, sn);
	}
	if (rc == 0 && b.len > 0)
		rc = hub_snap_cut(sn, room, &b);
	buf_release(&b);
	return rc;
}

/* ctl of a snapshot answer: {"snapshot": [], "purge": [], "rooms":
 * [given...], "refused": [...]} and "joined": [...] unless joined is
 * NULL; *out is the caller's to free(). */
static int
hub_snap_ctl(json_t *given, json_t *refused, json_t *joined, char **out)
{
	json_t *o;

	o = json_pack("{s:[],s:[],s:O,s:O}", "snapshot", "purge", "rooms",
	    given, "refused", refused);
	if (o != NULL && joined != NULL &&
	    json_object_set(o, "joined", joined) != 0) {
		json_decref(o);
		return RK_ENOMEM;
	}
	if (o == NULL || (*out = json_dumps(o, JSON_COMPACT)) == NULL) {
		json_decref(o);
		return RK_ENOMEM;
	}
	json_decref(o);
	return 0;
}

/* Reads room into sn, records that the device has it as of head (st:
 * the INSERT into local_hub_device_rooms) and names it in given.  room
 * must outlive sn. */
static int
hub_snap_give(struct hub *h, sqlite3_stmt **sel, sqlite3_stmt *st,
    const char *device_id, const char *room, int64_t head,
    struct hub_snap *sn, json_t *given, struct rk_why *why)
{
	sqlite3 *db = store_db(h->s);
	int rc;

	if ((rc = hub_snap_room(h, room, sel, sn)) != 0)
		return rk_whyf(why, rc, "cannot make the snapshot of %s",
		    room[0] ? room : "the directory");
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, room, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, head);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_sqlite_err(db);
	if (json_array_append_new(given, json_string(room)) != 0)
		return RK_ENOMEM;
	return 0;
}

/* HUB_SNAP_JOINED: the rooms in mine that the device has not been given
 * and did not name, into sn and given while the budget lasts (none if
 * full), else into left. */
static int
hub_snap_joined(struct hub *h, sqlite3_stmt **sel, sqlite3_stmt *st,
    const char *device_id, const char *const *rooms, size_t n, int full,
    int64_t head, json_t *mine, struct hub_snap *sn, json_t *given,
    json_t *left, struct rk_why *why)
{
	sqlite3 *db = store_db(h->s);
	sqlite3_stmt *had = NULL;
	json_t *v;
	size_t i, k;
	int rc, have;

	if ((rc = store_prepare(db, "SELECT EXISTS (SELECT 1 FROM "
	    "local_hub_device_rooms WHERE device_id = ?1 AND room_id = ?2 AND "
	    "since_seq >= 0)", &had)) != 0)
		return rc;
	json_array_foreach(mine, k, v) {
		const char *room = json_string_value(v);

		for (i = 0; i < n; i++)
			if (strcmp(rooms[i], room) == 0)
				break;
		if (i < n)
			continue;
		sqlite3_bind_text(had, 1, device_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(had, 2, room, -1, SQLITE_STATIC);
		have = sqlite3_step(had) == SQLITE_ROW ?
		    sqlite3_column_int(had, 0) : store_sqlite_err(db);
		sqlite3_reset(had);
		if (have < 0) {
			rc = have;
			break;
		}
		if (have)
			continue;
		if (full || json_array_size(given) >= WIRE_SNAPSHOT_ROOMS_MAX ||
		    (json_array_size(given) > 0 &&
		    sn->raw >= HUB_SNAPSHOT_BATCH_RAW)) {
			if (json_array_append(left, v) != 0) {
				rc = RK_ENOMEM;
				break;
			}
			continue;
		}
		if ((rc = hub_snap_give(h, sel, st, device_id, room, head, sn,
		    given, why)) != 0)
			break;
	}
	store_finalize(had);
	return rc;
}

int
hub_snapshot_rooms(struct hub *h, const char *device_id,
    const char *const *rooms, size_t n, unsigned flags, struct buf *out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(h->s);
	sqlite3_stmt *st = NULL;
	struct pull_writer *w = NULL;
	struct hub_snap sn;
	struct hub_dev dev;
	sqlite3_stmt **sel = NULL, *mem = NULL;
	json_t *given = NULL, *refused = NULL, *mine = NULL, *left = NULL;
	char *ctl = NULL;
	int64_t head = 0;
	size_t i, j;
	int rc, member, strict = (flags & HUB_SNAP_STRICT) != 0, lazy = 0;

	memset(&sn, 0, sizeof(sn));
	if ((n == 0 && !(flags & HUB_SNAP_JOINED)) ||
	    n > WIRE_SNAPSHOT_ROOMS_MAX)
		return rk_whyf(why, RK_EINVAL, "rooms: 1 to %u rooms",
		    WIRE_SNAPSHOT_ROOMS_MAX);
	for (i = 0; i < n; i++) {
		if (rooms[i][0] != '\0' && !id_valid_name(rooms[i]))
			return rk_whyf(why, RK_EINVAL, "room: not a room id");
		for (j = 0; j < i; j++)
			if (strcmp(rooms[i], rooms[j]) == 0)
				return rk_whyf(why, RK_EINVAL, "rooms: %s is "
				    "named twice", rooms[i][0] ? rooms[i] :
				    "the directory");
	}
	if ((given = json_array()) == NULL || (refused = json_array()) ==
	    NULL || (sel = calloc(h->ntables, sizeof(*sel))) == NULL ||
	    ((flags & HUB_SNAP_JOINED) && (left = json_array()) == NULL)) {
		json_decref(given);
		json_decref(refused);
		json_decref(left);
		free(sel);
		return RK_ENOMEM;
	}
	store_lock(h->s);
	if ((rc = hub_dev_load(db, device_id, &dev)) != 0) {
		rk_whyf(why, rc == RK_ENOTFOUND ? RK_EAUTH : rc, "unknown "
		    "device %s", device_id);
		rc = rc == RK_ENOTFOUND ? RK_EAUTH : rc;
		goto out;
	}
	/* One transaction: every room is read at the same head, and the
	 * device's since_seq of each room is saved with that read.  That
	 * record may be lost in a power cut (store_set_durable): the next
	 * pull then names the rooms again and the device takes them again. */
	if ((rc = store_set_durable(h->s, 0)) != 0)
		goto out;
	lazy = 1;
	if ((rc = hub_exec(db, "BEGIN IMMEDIATE")) != 0 ||
	    (rc = hub_head(db, &head)) != 0 ||
	    (rc = store_prepare(db, "INSERT INTO local_hub_device_rooms "
	    "(device_id, room_id, since_seq) VALUES (?1, ?2, ?3) ON CONFLICT "
	    "(device_id, room_id) DO UPDATE SET since_seq = "
	    "excluded.since_seq", &st)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		/* Whole rooms only, and at least one: past the budget the
		 * device asks again for the rest. */
		if (json_array_size(given) > 0 && sn.raw >=
		    HUB_SNAPSHOT_BATCH_RAW)
			break;
		if (rooms[i][0] != '\0') {
			if (mem == NULL && (rc = store_prepare(db, "SELECT "
			    "EXISTS (SELECT 1 FROM memberships WHERE room_id = "
			    "?1 AND staff_id = ?2 AND status IN ('active', "
			    "'invited'))", &mem)) != 0)
				goto out;
			sqlite3_bind_text(mem, 1, rooms[i], -1, SQLITE_STATIC);
			sqlite3_bind_text(mem, 2, dev.staff, -1, SQLITE_STATIC);
			member = sqlite3_step(mem) == SQLITE_ROW ?
			    sqlite3_column_int(mem, 0) : store_sqlite_err(db);
			sqlite3_reset(mem);
			if (member < 0) {
				rc = member;
				goto out;
			}
			if (!member && strict) {
				char gone[400];

				/* A purged room has no members: say why. */
				if ((rc = retention_purged(db, rooms[i], gone,
				    sizeof(gone))) == 1)
					rc = rk_whyf(why, RK_EDENIED, "%s", gone);
				else if (rc == 0)
					rc = rk_whyf(why, RK_EDENIED, "staff %s "
					    "is not a member of room %s",
					    dev.staff, rooms[i]);
				goto out;
			}
			if (!member) {
				if (json_array_append_new(refused,
				    json_string(rooms[i])) != 0) {
					rc = RK_ENOMEM;
					goto out;
				}
				continue;
			}
		}
		if ((rc = hub_snap_give(h, sel, st, device_id, rooms[i], head,
		    &sn, given, why)) != 0)
			goto out;
	}
	/* The rooms joined come after those named, as far as the budget
	 * goes (none if it ran out on those named); the rest are listed. */
	if (flags & HUB_SNAP_JOINED) {
		if ((rc = hub_member_rooms(db, dev.staff, &mine)) != 0)
			goto out;
		if ((rc = hub_snap_joined(h, sel, st, device_id, rooms, n,
		    i < n, head, mine, &sn, given, left, why)) != 0)
			goto out;
	}
	if (sn.raw > ENVELOPE_PULL_MAX_RAW) {
		rc = rk_whyf(why, RK_EPROTO, "the snapshot is larger than one "
		    "answer may be");
		goto out;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot save: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	store_finalize(st);
	store_finalize(mem);
	st = mem = NULL;
	for (i = 0; i < h->ntables; i++)
		store_finalize(sel[i]);
	lazy = 0;
	if ((rc = store_set_durable(h->s, 1)) != 0) {
		store_unlock(h->s);
		rk_whyf(why, rc, "cannot make commits durable again");
		goto done;
	}
	store_unlock(h->s);
	/* Compressing and signing need no lock: other devices go on. */
	if ((rc = hub_snap_ctl(given, refused, left, &ctl)) == 0 &&
	    (rc = pull_writer_new((uint64_t)head, (uint64_t)head, ctl,
	    &w)) == 0) {
		for (i = 0; i < sn.n && rc == 0; i++)
			rc = pull_writer_add(w, (uint64_t)head, sn.parts[i].room,
			    sn.parts[i].cs, sn.parts[i].len);
		if (rc == 0) {
			rc = pull_writer_finish(w, h->k->sign_sk, out);
			w = NULL;
		}
	}
	if (rc != 0)
		rk_whyf(why, rc, "cannot write the snapshot answer");
	goto done;
out:
	store_finalize(st);
	store_finalize(mem);
	for (i = 0; i < h->ntables; i++)
		store_finalize(sel[i]);
	hub_rollback(db);
	if (lazy && store_set_durable(h->s, 1) != 0)
		log_warnx("hub: cannot make commits durable again");
	store_unlock(h->s);
done:
	pull_writer_free(w);
	free(ctl);
	hub_snap_release(&sn);
	free(sel);
	json_decref(given);
	json_decref(refused);
	json_decref(mine);
	json_decref(left);
	return rc;
}

int
hub_snapshot(struct hub *h, const char *device_id, const char *room,
    struct buf *out, struct rk_why *why)
{
	const char *rooms[1] = { room };

	return hub_snapshot_rooms(h, device_id, rooms, 1, HUB_SNAP_STRICT, out,
	    why);
}

/* ---- enrolment ---------------------------------------------------------- */

int
hub_code_hash(const char *code, uint8_t out[32])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	char norm[HUB_CODE_CHARS];
	size_t n = 0;
	const char *p;

	for (p = code; *p != '\0'; p++) {
		char ch = *p;

		if (ch == '-' || ch == ' ')
			continue;
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (ch == 'I' || ch == 'L')
			ch = '1';
		else if (ch == 'O')
			ch = '0';
		if (strchr(alphabet, ch) == NULL || n == sizeof(norm))
			return RK_EINVAL;
		norm[n++] = ch;
	}
	if (n != sizeof(norm))
		return RK_EINVAL;
	crypto_generichash(out, 32, (const uint8_t *)norm, n, NULL, 0);
	sodium_memzero(norm, sizeof(norm));
	return 0;
}

static int
hub_json_str(json_t *in, const char *key, const char **out,
    struct rk_why *why)
{
	json_t *v = json_object_get(in, key);

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > 256 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return rk_whyf(why, RK_EINVAL, "%s: required text", key);
	*out = json_string_value(v);
	return 0;
}

static int
hub_hex32(const char *hex, const char *key, uint8_t out[32],
    struct rk_why *why)
{
	size_t n = 0;

	if (strlen(hex) != 64 || sodium_hex2bin(out, 32, hex, 64, NULL, &n,
	    NULL) != 0 || n != 32)
		return rk_whyf(why, RK_EINVAL, "%s: must be 64 hex digits",
		    key);
	return 0;
}

int
hub_enroll(struct hub *h, json_t *in, json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(h->s);
	sqlite3_stmt *st = NULL;
	struct store_tx *tx = NULL;
	const char *code, *device, *spk_hex, *bpk_hex, *proof_hex;
	uint8_t spk[32], bpk[32], sig[64], hash[32];
	struct buf msg = BUF_INIT;
	char staff[65] = "", agency[65] = "", hub_pk[65];
	size_t n = 0;
	int rc, step, insert = 1;
	int64_t now;

	if (!json_is_object(in))
		return rk_whyf(why, RK_EINVAL, "body: must be a JSON object");
	if ((rc = hub_json_str(in, "code", &code, why)) != 0 ||
	    (rc = hub_json_str(in, "device_id", &device, why)) != 0 ||
	    (rc = hub_json_str(in, "sign_pk", &spk_hex, why)) != 0 ||
	    (rc = hub_json_str(in, "box_pk", &bpk_hex, why)) != 0 ||
	    (rc = hub_json_str(in, "proof", &proof_hex, why)) != 0)
		return rc;
	if (!id_valid_name(device))
		return rk_whyf(why, RK_EINVAL, "device_id: not a valid id "
		    "(letters, digits, '.', '_', '-'; at most 64)");
	if ((rc = hub_hex32(spk_hex, "sign_pk", spk, why)) != 0 ||
	    (rc = hub_hex32(bpk_hex, "box_pk", bpk, why)) != 0)
		return rc;
	if (strlen(proof_hex) != 128 || sodium_hex2bin(sig, sizeof(sig),
	    proof_hex, 128, NULL, &n, NULL) != 0 || n != sizeof(sig))
		return rk_whyf(why, RK_EINVAL, "proof: must be 128 hex digits");
	if (hub_code_hash(code, hash) != 0)
		return rk_whyf(why, RK_EAUTH, HUB_ENROLL_MSG);
	if ((rc = buf_appendf(&msg, "%s%s\n%s", WIRE_SIG_ENROLL, code,
	    device)) != 0)
		return rc;
	rc = crypto_sign_verify_detached(sig, msg.data, msg.len, spk);
	buf_release(&msg);
	if (rc != 0)
		return rk_whyf(why, RK_EAUTH, "proof: the signature does not "
		    "verify with sign_pk");

	store_lock(h->s);
	if ((rc = store_tx_begin(h->s, "", &tx)) != 0) {
		rk_whyf(why, rc, "cannot start the enrolment");
		goto out;
	}
	now = store_tx_now_ms(tx);
	if ((rc = store_prepare(db, "SELECT c.staff_id, s.agency_id, s.status "
	    "FROM local_enroll_codes c LEFT JOIN staff s ON s.id = c.staff_id "
	    "WHERE c.code_hash = ?1 AND c.used_at IS NULL AND "
	    "c.expires_at > ?2", &st)) != 0)
		goto out;
	sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const char *ss = (const char *)sqlite3_column_text(st, 2);

		snprintf(staff, sizeof(staff), "%s",
		    sqlite3_column_text(st, 0));
		snprintf(agency, sizeof(agency), "%s",
		    sqlite3_column_text(st, 1) ?
		    (const char *)sqlite3_column_text(st, 1) : "");
		if (ss == NULL)
			rc = rk_whyf(why, RK_ENOTFOUND, "staff %s is no longer "
			    "in the directory", staff);
		else if (strcmp(ss, "active") != 0)
			rc = rk_whyf(why, RK_EDENIED, "staff %s is suspended",
			    staff);
	} else if (step == SQLITE_DONE) {
		rc = rk_whyf(why, RK_EAUTH, HUB_ENROLL_MSG);
	} else {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read codes");
	}
	store_finalize(st);
	st = NULL;
	if (rc != 0)
		goto out;

	/* The same device with the same keys may enrol again (an answer
	 * lost on the way); other keys under its id may not. */
	if ((rc = store_prepare(db, "SELECT sign_pk, box_pk, status, staff_id "
	    "FROM devices WHERE id = ?1", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const char *ds = (const char *)sqlite3_column_text(st, 2);
		const char *dstaff = (const char *)sqlite3_column_text(st, 3);

		if (sqlite3_column_bytes(st, 0) != 32 ||
		    sqlite3_column_bytes(st, 1) != 32 ||
		    memcmp(sqlite3_column_blob(st, 0), spk, 32) != 0 ||
		    memcmp(sqlite3_column_blob(st, 1), bpk, 32) != 0)
			rc = rk_whyf(why, RK_EEXIST, "device %s is already "
			    "enrolled with other keys", device);
		else if (ds == NULL || strcmp(ds, "active") != 0)
			rc = rk_whyf(why, RK_EDENIED, "device %s has been "
			    "revoked: make new keys (renkei init) to enrol "
			    "again", device);
		else if (dstaff == NULL || strcmp(dstaff, staff) != 0)
			rc = rk_whyf(why, RK_EEXIST, "device %s is enrolled "
			    "for another staff member", device);
		insert = 0;
	} else if (step != SQLITE_DONE) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot read devices");
	}
	store_finalize(st);
	st = NULL;
	if (rc != 0)
		goto out;
	if (insert) {
		if ((rc = store_prepare(db, "INSERT INTO devices (id, "
		    "staff_id, sign_pk, box_pk, status, enrolled_at, hlc) "
		    "VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6)", &st)) != 0)
			goto out;
		sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, staff, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, spk, 32, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, bpk, 32, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)store_tx_hlc(tx));
		rc = hub_step_done(db, st);
		st = NULL;
		if (rc != 0)
			goto out;
	}
	if ((rc = store_prepare(db, "UPDATE local_enroll_codes SET used_by = ?1, "
	    "used_at = ?2 WHERE code_hash = ?3", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_blob(st, 3, hash, sizeof(hash), SQLITE_STATIC);
	rc = hub_step_done(db, st);
	st = NULL;
	if (rc != 0)
		goto out;
	rc = store_tx_commit(tx, NULL, why);
	tx = NULL;
	if (rc != 0)
		goto out;
	sodium_bin2hex(hub_pk, sizeof(hub_pk), h->k->sign_pk, 32);
	if ((*out = json_pack("{s:s, s:s, s:s, s:s}", "staff", staff,
	    "agency", agency, "hub_id", store_origin(h->s), "hub_sign_pk",
	    hub_pk)) == NULL)
		rc = RK_ENOMEM;
	else
		log_info("enrolled device %s for staff %s", device, staff);
out:
	store_finalize(st);
	store_tx_abort(tx);
	store_unlock(h->s);
	sodium_memzero(hash, sizeof(hash));
	return rc;
}

/* ---- request authentication --------------------------------------------- */

struct hub_seen_ctx {
	sqlite3 *db;
	int64_t now;
};

/* reqsig's nonce store: remembers a nonce for 2 x WIRE_SKEW_MS (past the
 * time any request carrying it could still pass the clock check). */
static int
hub_seen(void *arg, const char *device, const char *nonce, int64_t time_ms)
{
	struct hub_seen_ctx *c = arg;
	sqlite3_stmt *st = NULL;
	int rc;

	(void)time_ms;
	if ((rc = store_prepare(c->db, "DELETE FROM local_nonces WHERE seen_at < "
	    "?1", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, c->now - 2 * WIRE_SKEW_MS);
	if ((rc = hub_step_done(c->db, st)) != 0)
		return rc;
	if ((rc = store_prepare(c->db, "INSERT INTO local_nonces (device_id, "
	    "nonce, seen_at) VALUES (?1, ?2, ?3)", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, nonce, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->now);
	rc = sqlite3_step(st);
	store_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	if ((sqlite3_extended_errcode(c->db) & 0xff) == SQLITE_CONSTRAINT)
		return RK_EEXIST;
	return store_sqlite_err(c->db);
}

int
hub_sign_answer(struct hub *h, const char *device, const char *nonce,
    unsigned status, const uint8_t *body, size_t len, char sig_hex[129])
{
	return reqsig_answer_sign(h->k->sign_sk, device, nonce, status, body,
	    len, sig_hex);
}

int
hub_auth(struct hub *h, const struct reqsig_headers *hd, const char *method,
    const char *path, const uint8_t *body, size_t len, char device_out[65],
    struct rk_why *why)
{
	sqlite3 *db = store_db(h->s);
	struct hub_seen_ctx sc;
	struct hub_dev dev;
	char dname[80];
	int rc, lazy = 0;

	hub_safe(dname, sizeof(dname), hd->device, strnlen(hd->device,
	    sizeof(hd->device)));
	if (strnlen(hd->device, sizeof(hd->device)) == sizeof(hd->device) ||
	    hd->device[0] == '\0')
		return rk_whyf(why, RK_EAUTH, "Renkei-Device: missing or too "
		    "long");
	store_lock(h->s);
	if ((rc = hub_dev_load(db, hd->device, &dev)) != 0) {
		if (rc == RK_ENOTFOUND)
			rc = rk_whyf(why, RK_EAUTH, "unknown device %s", dname);
		else
			rk_whyf(why, rc, "cannot read devices");
		goto out;
	}
	sc.db = db;
	sc.now = rk_now_ms(h->clock);
	/* A nonce lost in a power cut lets its request be replayed to the
	 * same effect only (store_set_durable): pushes are deduplicated,
	 * the rest reads or reports.  The disk wait is the push's. */
	if ((rc = store_set_durable(h->s, 0)) != 0) {
		rk_whyf(why, rc, "cannot check the request");
		goto out;
	}
	lazy = 1;
	if ((rc = hub_exec(db, "BEGIN IMMEDIATE")) != 0) {
		rk_whyf(why, rc, "cannot check the request");
		goto out;
	}
	/* The signature first: only the device itself learns its status. */
	rc = reqsig_verify(hd, dev.sign_pk, method, path, body, len, h->clock,
	    hub_seen, &sc, why);
	if (rc != 0) {
		hub_rollback(db);
		if (rc != RK_EAUTH && rc != RK_EINVAL)
			goto out;
		rc = RK_EAUTH;
		goto out;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot record the "
		    "request nonce: %s", sqlite3_errmsg(db));
		hub_rollback(db);
		goto out;
	}
	if (!dev.active)
		rc = rk_whyf(why, RK_EDENIED, "device %s has been revoked",
		    dname);
	else if (dev.staff_state == 0)
		rc = rk_whyf(why, RK_EDENIED, "staff %s is suspended",
		    dev.staff);
	else if (dev.staff_state < 0)
		rc = rk_whyf(why, RK_EDENIED, "staff %s is not in the "
		    "directory", dev.staff);
	if (rc == 0)
		memcpy(device_out, hd->device, strlen(hd->device) + 1);
out:
	if (lazy && store_set_durable(h->s, 1) != 0) {
		log_warnx("hub: cannot make commits durable again");
		if (rc == 0)
			rc = rk_whyf(why, RK_EDB, "cannot check the request");
	}
	store_unlock(h->s);
	return rc;
}

/* ---- room hashes -------------------------------------------------------- */

static int
hub_hex64_ok(const char *s)
{
	size_t i;

	for (i = 0; i < ROOMHASH_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[ROOMHASH_HEX_LEN] == '\0';
}

static size_t
hub_hc_slot(const struct hub *h, const char *room)
{
	uint32_t x = 2166136261u;	/* FNV-1a */
	const unsigned char *p;
	size_t i;

	for (p = (const unsigned char *)room; *p != '\0'; p++)
		x = (x ^ *p) * 16777619u;
	for (i = x & (h->hc_cap - 1); h->hc[i].used &&
	    strcmp(h->hc[i].room, room) != 0; i = (i + 1) & (h->hc_cap - 1))
		;
	return i;
}

/*
 * The hub's hash of room as of seq, the hub seq of the room's last logged
 * change: every change to a room's rows is logged, so a room whose last
 * change is still seq has the hash computed then.  Hashing is the costly
 * part of a report (every row of the room is read), and most rooms are
 * quiet between two syncs.
 */
static int
hub_hash_cached(struct hub *h, struct roomhash *rh, const char *room,
    int64_t seq, char hex[ROOMHASH_HEX_LEN + 1])
{
	struct hub_hc *nhc, *old;
	size_t i, ocap;
	int rc;

	if (h->hc_cap > 0) {
		i = hub_hc_slot(h, room);
		if (h->hc[i].used && h->hc[i].seq == seq) {
			memcpy(hex, h->hc[i].hex, sizeof(h->hc[i].hex));
			return 0;
		}
	}
	if ((rc = roomhash_room(rh, room, hex)) != 0)
		return rc;
	if (2 * (h->hc_n + 1) > h->hc_cap) {
		ocap = h->hc_cap;
		old = h->hc;
		if ((nhc = calloc(ocap ? ocap * 2 : 256, sizeof(*nhc))) == NULL)
			return 0;	/* the hash stands; only not kept */
		h->hc = nhc;
		h->hc_cap = ocap ? ocap * 2 : 256;
		h->hc_n = 0;
		for (i = 0; i < ocap; i++)
			if (old[i].used) {
				h->hc[hub_hc_slot(h, old[i].room)] = old[i];
				h->hc_n++;
			}
		free(old);
	}
	i = hub_hc_slot(h, room);
	if (!h->hc[i].used) {
		h->hc_n++;
		h->hc[i].used = 1;
		snprintf(h->hc[i].room, sizeof(h->hc[i].room), "%s", room);
	}
	h->hc[i].seq = seq;
	memcpy(h->hc[i].hex, hex, sizeof(h->hc[i].hex));
	return 0;
}

int
hub_hashes(struct hub *h, const char *device_id, json_t *in, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(h->s);
	sqlite3_stmt *st = NULL;
	struct roomhash *rh = NULL;
	struct hub_dev dev;
	json_t *rooms, *jc, *v, *mism = NULL, *follow = NULL;
	const char *room;
	int64_t cursor, head = 0, newer, last;
	int rc;

	if (!json_is_object(in))
		return rk_whyf(why, RK_EINVAL, "body: must be a JSON object");
	jc = json_object_get(in, "cursor");
	rooms = json_object_get(in, "rooms");
	if (!json_is_integer(jc) || json_integer_value(jc) < 0)
		return rk_whyf(why, RK_EINVAL, "cursor: a hub seq (integer)");
	if (!json_is_object(rooms) || json_object_size(rooms) > 100000)
		return rk_whyf(why, RK_EINVAL, "rooms: an object of "
		    "room: hash");
	json_object_foreach(rooms, room, v)
		if (!json_is_string(v) || !hub_hex64_ok(json_string_value(v)) ||
		    (room[0] != '\0' && !id_valid_name(room)))
			return rk_whyf(why, RK_EINVAL, "rooms: each a room id "
			    "and 64 lowercase hex digits");
	cursor = json_integer_value(jc);
	if ((mism = json_array()) == NULL)
		return RK_ENOMEM;

	store_lock(h->s);
	if ((rc = hub_dev_load(db, device_id, &dev)) != 0) {
		rk_whyf(why, rc == RK_ENOTFOUND ? RK_EAUTH : rc, "unknown "
		    "device %s", device_id);
		rc = rc == RK_ENOTFOUND ? RK_EAUTH : rc;
		goto out;
	}
	if ((rc = hub_exec(db, "BEGIN IMMEDIATE")) != 0 ||
	    (rc = hub_head(db, &head)) != 0 ||
	    (rc = hub_member_rooms(db, dev.staff, &follow)) != 0)
		goto out;
	json_object_foreach(rooms, room, v) {
		char hex[ROOMHASH_HEX_LEN + 1];
		int matches;

		if (room[0] != '\0' && !hub_json_has(follow, room))
			continue;
		/* The hub's room equals its state at the device's cursor
		 * only if nothing of it was logged after the cursor. */
		if ((rc = store_prepare(db, "SELECT max(hub_seq) FROM "
		    "local_hub_log WHERE room_id = ?1", &st)) != 0)
			goto out;
		sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
		last = sqlite3_step(st) == SQLITE_ROW ?
		    sqlite3_column_int64(st, 0) : INT64_MAX;
		store_finalize(st);
		st = NULL;
		newer = last > cursor;
		if (newer || cursor > head) {
			matches = -1;	/* not comparable: nothing to hash */
		} else {
			if ((rh == NULL && (rc = roomhash_new(db, &rh)) != 0) ||
			    (rc = hub_hash_cached(h, rh, room, last,
			    hex)) != 0) {
				rk_whyf(why, rc, "cannot hash room %s", room);
				goto out;
			}
			matches = strcmp(hex, json_string_value(v)) == 0;
		}
		if (matches == 0 && json_array_append_new(mism,
		    json_string(room)) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
		if ((rc = store_prepare(db, "INSERT INTO local_room_hashes "
		    "(device_id, room_id, cursor, hash, matches, reported_at) "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (device_id, "
		    "room_id) DO UPDATE SET cursor = excluded.cursor, hash = "
		    "excluded.hash, matches = excluded.matches, reported_at = "
		    "excluded.reported_at", &st)) != 0)
			goto out;
		sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, room, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, cursor);
		sqlite3_bind_text(st, 4, json_string_value(v), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int(st, 5, matches);
		sqlite3_bind_int64(st, 6, rk_now_ms(h->clock));
		rc = hub_step_done(db, st);
		st = NULL;
		if (rc != 0)
			goto out;
		if (matches == 0)
			log_warnx("device %s: room %s hash differs from the "
			    "hub's at cursor %lld", device_id,
			    room[0] ? room : "(directory)", (long long)cursor);
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = rk_whyf(why, store_sqlite_err(db), "cannot save: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	if ((*out = json_pack("{s:O}", "mismatched", mism)) == NULL)
		rc = RK_ENOMEM;
out:
	roomhash_free(rh);
	store_finalize(st);
	hub_rollback(db);
	store_unlock(h->s);
	json_decref(mism);
	json_decref(follow);
	return rc;
}
