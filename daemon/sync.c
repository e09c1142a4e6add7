/*
 * sync.c - the device's sync engine (sync.h): push, pull, snapshots,
 * purges, room hashes and enrolment, over libcurl to the hub (wire.h).
 *
 * One attempt ("a sync") is: push, then pull until the cursor reaches the
 * hub's head, then report room hashes.  Each step takes the store lock for
 * its database work only; network I/O runs without it, so the local API
 * keeps answering while a slow link crawls.
 *
 * The outbox (schema/002_sync.sql) as this file uses it:
 *
 *   status     'pending' until the hub's answer is settled onto it (see
 *              below); then 'acked' (acked_hub_seq = the canonical
 *              change's hub seq) or 'refused' (refused_reason).  Nothing
 *              is ever deleted: a refused entry stays readable with its
 *              original changeset.
 *   envelope   the range an entry was first sent in: a row of
 *              local_outbox_envelopes (schema/007_outbox_envelopes.sql),
 *              room and env_first..env_last, written and committed before
 *              the send; a retry re-sends exactly that range, so the
 *              hub's (origin, seq range) deduplication holds.  The row is
 *              answered once the hub decides its entries.  (The entry's
 *              own env_first/env_last columns are no longer written.)
 *
 * A push answer is recorded on the envelope rows only (sync_push_results;
 * schema/008_envelope_answers.sql): result 'acked' with its hub_seq, or
 * 'refused' with its reason, and settled = 0.  Writing it on each entry
 * rewrote every row pushed (changeset and all) once for the answer and
 * again for the echo of the pull right after.  "Settling" an envelope
 * gives its entries still 'pending' the envelope's result and sets
 * settled; only 'pending' entries are written, so it is idempotent, and
 * it commits with what decided it, so a crash leaves either the answer
 * unsettled or settled, never half:
 *   - the echo (batch_echo) settles in the per-entry UPDATE it makes
 *     anyway (applied = X''), so each entry is rewritten once;
 *   - any other pull (sync_apply_batch) settles first, before purges and
 *     re-application read acked against pending;
 *   - every push settles first (sync_settle): an answer left unsettled by
 *     a failed pull or a crash is settled at the next attempt, online or
 *     not;
 *   - a refusal is settled with the answer: it is rare and final, and the
 *     readers of refused entries (`renkei refused`, counts, the web UI)
 *     then stay as they were.
 * Meanwhile an acked entry reads 'pending': whoever asks which entries
 * still wait for the hub reads the view local_outbox_waiting (pending and
 * not in an unsettled envelope) instead -- store_pending_count, `renkei
 * status`, the web UI's pending list, progress, room hashes.  Such an
 * entry is never sent again: its range is given (sync_assign_ranges takes
 * only seqs past every range) and answered (sync_pending_ranges).
 *   applied    what the entry's effect on this replica is now:
 *                NULL   the original changeset (as the local write made it)
 *                X''    nothing: undone, and not re-applied (acked and
 *                       pulled back as the hub's canonical change, refused,
 *                       or its room purged)
 *                bytes  the changeset re-applying it last really made
 *              "In effect" means NULL or non-empty.
 *
 * A pull is one transaction (sync_apply_batch): undo every entry in effect,
 * newest first, by applying the inverse of `applied` (or of the original);
 * the replica then holds exactly the hub's state at the old cursor.  Then
 * purges, a snapshot, the hub's canonical changesets in order (the hub
 * wins every conflict), and the entries the hub has not folded in yet are
 * re-applied oldest first with the hub's conflict rules (conflicts.h,
 * conflict/merge.h: the same decisions, no records written) while a
 * session records what each really changed; an entry the rules would
 * refuse stays un-applied, its predicted_refusal saying why.  Such a transaction is not a user write: it
 * goes around store_tx and nothing reaches the outbox.
 *
 * local_meta keys kept here (inside the encrypted replica):
 *   hub_sign_pk  hex, the hub's Ed25519 key (from enrolment)
 *   hub_id       the hub's id
 *   hub_pin      optional libcurl CURLOPT_PINNEDPUBLICKEY value
 *                ("sha256//BASE64[;sha256//...]")
 *   sync_cursor  the hub seq pulled up to;  sync_head  the hub's head then
 *   sync_full_snapshot  1: re-snapshot the directory and every room next
 *   last_sync    ms of the last successful sync;  last_error  text or absent
 *   last_refusal the last "N changes refused by the hub: ..." (kept)
 *
 * Requests are signed over the path as wire.h names it ("/v1/pull?...");
 * a hub URL with a path prefix must be served by a proxy that strips it.
 */
#include "daemon/sync.h"

#include <ctype.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/clock.h"
#include "common/conf.h"
#include "common/id.h"
#include "common/keys.h"
#include "common/log.h"
#include "conflict/policy.h"
#include "daemon/conflicts.h"
#include "daemon/csins.h"
#include "daemon/envelope.h"
#include "daemon/fault.h"
#include "daemon/reqsig.h"
#include "daemon/retention.h"
#include "daemon/roomhash.h"
#include "daemon/store.h"
#include "daemon/wire.h"

#define META_CURSOR "sync_cursor"
#define META_HEAD "sync_head"
#define META_HUB_PK "hub_sign_pk"
#define META_HUB_ID "hub_id"
#define META_HUB_PIN "hub_pin"
#define META_LAST_SYNC "last_sync"
#define META_LAST_ERROR "last_error"
#define META_FULL "sync_full_snapshot"
#define META_LAST_REFUSAL "last_refusal"

#define SYNC_PULL_LIMIT 1000		/* entries asked per pull */
#define SYNC_BUILD_WINDOW 64		/* envelopes built per outbox walk */
#define SYNC_MAX_RESPONSE (ENVELOPE_PULL_MAX_RAW + 16u * 1024 * 1024)
#define SYNC_MAX_SMALL (1024u * 1024)	/* JSON answers */
#define SYNC_CONNECT_TIMEOUT_MS 10000L
#define SYNC_LOW_SPEED_BYTES 1L		/* abort below this for ... */
#define SYNC_LOW_SPEED_TIME 60L		/* ... this many seconds */
#define SYNC_ENROLL_TIMEOUT_S 30L	/* the caller holds the store lock */
#define SYNC_CODE_MAX 128

struct sync {
	struct store *s;
	/* The sync thread's room hash queries, kept from one report to the
	 * next (building them reads each table's schema): made at its first
	 * report, freed when it ends. */
	struct roomhash *rh;
	const struct keys *k;
	char *dir;
	struct rk_conf *conf;
	const struct rk_clock *clock;
	int is_hub;
	char device_id[65];

	pthread_mutex_t mu;	/* a leaf lock: see sync.h */
	pthread_cond_t cv;
	pthread_t thread;
	int thread_started;

	/* Under mu. */
	int stop, kicked, requested;
	char hub_url[256];
	uint8_t hub_pk[32];
	int have_hub_pk;
	uint64_t gen;			/* bumped when enrolment changes the hub */
	int running;
	const char *phase;
	int64_t done, total, bytes, bytes_total;
	uint64_t attempt, finished;
	int ok;
	int64_t last_sync;		/* 0: never */
	char last_error[512];
	char last_refusal[512];
	int64_t cursor, head, pending, refused;
	int in_step;
	int64_t interval_ms;
	unsigned failures;
	int64_t backoff_until;		/* monotonic ms */
};

/* What one attempt talks to: copied under mu when it starts. */
struct hubcfg {
	char url[256];
	char pin[512];
	uint8_t pk[32];
	uint64_t gen;
	long timeout_s;			/* 0: none beyond the low-speed limit */
};

struct http_resp {
	long status;
	struct buf body;
};

/* Set by the progress callback's caller: who to tell, what to cap. */
struct xfer {
	struct sync *sy;
	struct buf *body;
	size_t cap;
	int too_big;
};

/* --- small helpers ------------------------------------------------------ */

static int
db_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("sync: %s: %s", sql, err ? err : "?");
		sqlite3_free(err);
		return store_sqlite_err(db);
	}
	return 0;
}

static void
db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* One integer from a query with up to one text parameter. */
static int
db_int(sqlite3 *db, const char *sql, const char *param, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = store_prepare(db, sql, &st)) != 0)
		return rc;
	if (param != NULL)
		sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		log_warnx("sync: %s: %s", sql, sqlite3_errmsg(db));
		rc = store_sqlite_err(db);
	}
	store_finalize(st);
	return rc;
}

/* --- local_meta ---------------------------------------------------------- */

/* The text of key into out ("" if absent or NULL).  Too long: truncated. */
static int
meta_get_text(sqlite3 *db, const char *key, char *out, size_t outlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	out[0] = '\0';
	if ((rc = store_prepare(db, "SELECT value FROM local_meta WHERE key = ?1",
	    &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		if (t != NULL)
			snprintf(out, outlen, "%s", (const char *)t);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = store_sqlite_err(db);
	}
	store_finalize(st);
	return rc;
}

/* The integer of key, 0 if absent. */
static int
meta_get_i64(sqlite3 *db, const char *key, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*v = 0;
	if ((rc = store_prepare(db, "SELECT value FROM local_meta WHERE key = ?1",
	    &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = store_sqlite_err(db);
	}
	store_finalize(st);
	return rc;
}

/* Sets key to an integer, to text, or (text NULL, is_int 0) deletes it. */
static int
meta_set(sqlite3 *db, const char *key, int is_int, int64_t iv,
    const char *text)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (!is_int && text == NULL)
		rc = store_prepare(db, "DELETE FROM local_meta WHERE key = ?1", &st);
	else
		rc = store_prepare(db, "INSERT INTO local_meta (key, value) VALUES"
		    " (?1, ?2) ON CONFLICT (key) DO UPDATE SET value ="
		    " excluded.value", &st);
	if (rc != 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (is_int)
		sqlite3_bind_int64(st, 2, iv);
	else if (text != NULL)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_sqlite_err(db);
	if (rc != 0)
		log_warnx("sync: cannot save %s: %s", key, sqlite3_errmsg(db));
	store_finalize(st);
	return rc;
}

static int
meta_set_i64(sqlite3 *db, const char *key, int64_t v)
{
	return meta_set(db, key, 1, v, NULL);
}

static int
meta_set_text(sqlite3 *db, const char *key, const char *text)
{
	return meta_set(db, key, 0, 0, text);
}

/* The hub's signing key from local_meta; 0 if present, RK_ENOTFOUND. */
static int
meta_hub_pk(sqlite3 *db, uint8_t pk[32])
{
	char hex[80];
	size_t n = 0;
	int rc;

	if ((rc = meta_get_text(db, META_HUB_PK, hex, sizeof(hex))) != 0)
		return rc;
	if (strlen(hex) != 64 || sodium_hex2bin(pk, 32, hex, 64, NULL, &n,
	    NULL) != 0 || n != 32)
		return RK_ENOTFOUND;
	return 0;
}

/* --- changesets ---------------------------------------------------------- */

/* Only synced tables are ever touched by what comes from elsewhere. */
static int
cs_filter(void *arg, const char *table)
{
	(void)arg;
	return policy_for_table(table) != NULL;
}

static const char *
cs_kind_name(int kind)
{
	switch (kind) {
	case SQLITE_CHANGESET_DATA: return "data";
	case SQLITE_CHANGESET_NOTFOUND: return "notfound";
	case SQLITE_CHANGESET_CONFLICT: return "conflict";
	case SQLITE_CHANGESET_CONSTRAINT: return "constraint";
	case SQLITE_CHANGESET_FOREIGN_KEY: return "foreign key";
	}
	return "?";
}

/* Undo and the hub's stream: the state being restored or received wins. */
static int
cs_conflict_force(void *arg, int kind, sqlite3_changeset_iter *it)
{
	const char *what = arg, *table = "?";
	int ncol, op, ind;

	sqlite3changeset_op(it, &table, &ncol, &op, &ind);
	switch (kind) {
	case SQLITE_CHANGESET_DATA:
	case SQLITE_CHANGESET_CONFLICT:
		log_debug("sync: %s: %s conflict on %s: replaced", what,
		    cs_kind_name(kind), table);
		return SQLITE_CHANGESET_REPLACE;
	case SQLITE_CHANGESET_NOTFOUND:
		log_debug("sync: %s: row of %s not found: skipped", what,
		    table);
		return SQLITE_CHANGESET_OMIT;
	}
	log_warnx("sync: %s: %s conflict on %s: change skipped", what,
	    cs_kind_name(kind), table);
	return SQLITE_CHANGESET_OMIT;
}

static int
cs_apply(sqlite3 *db, const void *cs, size_t n, int flags,
    int (*conflict)(void *, int, sqlite3_changeset_iter *), void *arg)
{
	int rc;

	if (n == 0)
		return 0;
	if (n > INT32_MAX)
		return RK_EPROTO;
	rc = sqlite3changeset_apply_v2(db, (int)n, (void *)cs, cs_filter,
	    conflict, arg, NULL, NULL, flags);
	if (rc != SQLITE_OK) {
		log_warnx("sync: applying a changeset: %s (%d)",
		    sqlite3_errmsg(db), rc);
		return rc == SQLITE_CORRUPT || rc == SQLITE_MISUSE ? RK_EPROTO :
		    store_sqlite_err(db);
	}
	return 0;
}

/*
 * A change from the hub for room ("" the directory) must touch only that
 * room's rows of room tables, or only directory tables.  Checked before it
 * is applied: a signed answer can still be wrong, and local_* tables must
 * never be reachable from outside.
 */
/* One change of cs_check_scope: 0 if it is room's, else RK_EPROTO. */
static int
cs_row_scope(sqlite3_changeset_iter *it, const char *room, struct rk_why *why)
{
	const char *table;
	const struct table_policy *p;
	sqlite3_value *v = NULL;
	const unsigned char *r;
	int ncol, op, ind;

	if (sqlite3changeset_op(it, &table, &ncol, &op, &ind) != SQLITE_OK)
		return rk_whyf(why, RK_EPROTO, "the hub sent a damaged change");
	p = policy_for_table(table);
	if (p == NULL || (room[0] == '\0') != (p->scope == SYNC_DIRECTORY))
		return rk_whyf(why, RK_EPROTO, "the hub sent a change of %s for "
		    "%s", table, room[0] ? room : "the directory");
	if (room[0] == '\0')
		return 0;
	if (op == SQLITE_INSERT)
		sqlite3changeset_new(it, 0, &v);
	else
		sqlite3changeset_old(it, 0, &v);
	r = v != NULL ? sqlite3_value_text(v) : NULL;
	if (r == NULL || strcmp((const char *)r, room) != 0)
		return rk_whyf(why, RK_EPROTO, "the hub sent a change of room %s"
		    " as room %s", r ? (const char *)r : "?", room);
	return 0;
}

static int
cs_check_scope(const void *cs, size_t n, const char *room,
    struct rk_why *why)
{
	sqlite3_changeset_iter *it = NULL;
	int rc = 0, step;

	if (n == 0)
		return 0;
	if (n > INT32_MAX)
		return rk_whyf(why, RK_EPROTO, "a change from the hub is too "
		    "large");
	if (sqlite3changeset_start(&it, (int)n, (void *)cs) != SQLITE_OK)
		return rk_whyf(why, RK_EPROTO, "the hub sent a damaged change");
	while ((step = sqlite3changeset_next(it)) == SQLITE_ROW)
		if ((rc = cs_row_scope(it, room, why)) != 0)
			break;
	if (rc == 0 && step != SQLITE_DONE)
		rc = rk_whyf(why, RK_EPROTO, "the hub sent a damaged change");
	sqlite3changeset_finalize(it);
	return rc;
}

/*
 * One change of cs_max_hlc: its "hlc" value, if larger, into *max.  cols
 * caches each synced table's hlc column (index into policy_tables; -2
 * unknown, -1 none).
 */
static void
cs_row_hlc(sqlite3 *db, sqlite3_changeset_iter *it, int *cols, uint64_t *max)
{
	const char *table;
	const struct table_policy *p;
	sqlite3_value *v = NULL;
	int ncol, op, ind, *col;

	if (sqlite3changeset_op(it, &table, &ncol, &op, &ind) != SQLITE_OK ||
	    op == SQLITE_DELETE || (p = policy_for_table(table)) == NULL)
		return;
	col = &cols[p - policy_tables];
	if (*col == -2) {
		int64_t cid = -1;
		char *sql = sqlite3_mprintf("SELECT coalesce((SELECT cid FROM"
		    " pragma_table_info(%Q) WHERE name = 'hlc'), -1)",
		    p->table);

		if (sql == NULL || db_int(db, sql, NULL, &cid) != 0)
			cid = -1;
		sqlite3_free(sql);
		*col = (int)cid;
	}
	if (*col < 0 || *col >= ncol ||
	    sqlite3changeset_new(it, *col, &v) != SQLITE_OK || v == NULL ||
	    sqlite3_value_type(v) != SQLITE_INTEGER)
		return;
	if ((uint64_t)sqlite3_value_int64(v) > *max &&
	    sqlite3_value_int64(v) > 0)
		*max = (uint64_t)sqlite3_value_int64(v);
}

/*
 * The largest value of an "hlc" column among the new values of cs, so the
 * device's clock moves past what it has seen (hlc.h).
 */
static int
cs_max_hlc(sqlite3 *db, const void *cs, size_t n, int *cols, uint64_t *max)
{
	sqlite3_changeset_iter *it = NULL;

	if (n == 0)
		return 0;
	if (sqlite3changeset_start(&it, (int)n, (void *)cs) != SQLITE_OK)
		return RK_EPROTO;
	while (sqlite3changeset_next(it) == SQLITE_ROW)
		cs_row_hlc(db, it, cols, max);
	sqlite3changeset_finalize(it);
	return 0;
}

/* A snapshot row, checked and observed as it goes in (csins_apply_each). */
struct snap_row {
	sqlite3 *db;
	const char *room;
	int *hlc_cols;
	uint64_t *hlc_seen;
	struct rk_why *why;
};

static int
snap_row_check(void *arg, sqlite3_changeset_iter *it)
{
	struct snap_row *r = arg;
	int rc;

	if ((rc = cs_row_scope(it, r->room, r->why)) != 0)
		return rc;
	cs_row_hlc(r->db, it, r->hlc_cols, r->hlc_seen);
	return 0;
}

#define SYNC_MAX_TABLES 64

/* --- answered envelopes, settled onto their entries ---------------------- */

/* An outbox entry and the index of the envelope (or answer) it belongs
 * to, listed before the entries are updated one by one. */
struct seq_of {
	int64_t seq;
	size_t of;
};

/* Appends (seq, of) to *v (*len of *cap); RK_ENOMEM. */
static int
seq_of_add(struct seq_of **v, size_t *len, size_t *cap, int64_t seq,
    size_t of)
{
	struct seq_of *nv;

	if (*len == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		if ((nv = realloc(*v, *cap * sizeof(**v))) == NULL)
			return RK_ENOMEM;
		*v = nv;
	}
	(*v)[*len].seq = seq;
	(*v)[(*len)++].of = of;
	return 0;
}

#define PR_ACK		1	/* applied or duplicate: acked at hub_seq */
#define PR_REFUSED	2	/* final: refused, with why */
#define PR_LATER	3	/* refused for now: stays pending */

/*
 * The hub's answer for one envelope of ours, as its row records it
 * (schema/008_envelope_answers.sql) until its entries take it.
 */
struct env_answer {
	int64_t first, last, hub_seq;
	int kind;			/* PR_ACK, PR_REFUSED, PR_LATER */
	const char *why;		/* PR_REFUSED, PR_LATER: the reason */
	char *owned;			/* why read from the row: free() */
	char room[65];
	int64_t entries;		/* its pending entries, as settled */
};

static void
answers_free(struct env_answer *a, size_t n)
{
	size_t k;

	for (k = 0; a != NULL && k < n; k++)
		free(a[k].owned);
	free(a);
}

/* The envelopes answered whose entries do not carry the answer yet
 * (settled = 0), found by their partial index (schema 008) without a
 * walk of every envelope ever sent.  *out: answers_free; NULL when *n is
 * 0. */
static int
answers_unsettled(sqlite3 *db, struct env_answer **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct env_answer *v = NULL, *nv, *a;
	size_t len = 0, cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = store_prepare(db, "SELECT env_first, env_last, room_id,"
	    " result, hub_seq, reason FROM local_outbox_envelopes WHERE"
	    " settled = 0", &st)) != 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *room = (const char *)sqlite3_column_text(st, 2);
		const char *result = (const char *)sqlite3_column_text(st, 3);
		const char *reason = (const char *)sqlite3_column_text(st, 5);

		if (room == NULL || strlen(room) >= sizeof(v->room) ||
		    result == NULL || (strcmp(result, "acked") != 0 &&
		    strcmp(result, "refused") != 0)) {
			log_warnx("sync: envelope %" PRId64 " has a bad answer "
			    "recorded", (int64_t)sqlite3_column_int64(st, 0));
			rc = RK_EDB;
			goto out;
		}
		if (len == cap) {
			cap = cap ? cap * 2 : 32;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			v = nv;
		}
		a = &v[len];
		memset(a, 0, sizeof(*a));
		a->first = sqlite3_column_int64(st, 0);
		a->last = sqlite3_column_int64(st, 1);
		a->hub_seq = sqlite3_column_int64(st, 4);
		memcpy(a->room, room, strlen(room) + 1);
		a->kind = strcmp(result, "acked") == 0 ? PR_ACK : PR_REFUSED;
		len++;
		if (a->kind == PR_REFUSED) {
			if ((a->owned = strdup(reason ? reason :
			    "no reason given")) == NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			a->why = a->owned;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = store_sqlite_err(db);
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	rc = 0;
out:
	answers_free(v, len);
	store_finalize(st);
	return rc;
}

/* The index in u[0..nu) of the answered envelope holding entry seq of
 * room, nu if none; *hint is where the last one was found. */
static size_t
answer_of(const struct env_answer *u, size_t nu, int64_t seq,
    const char *room, size_t *hint)
{
	size_t t, k;

	for (t = 0; t < nu; t++) {
		k = (*hint + t) % nu;
		if (u[k].first <= seq && seq <= u[k].last &&
		    strcmp(u[k].room, room) == 0) {
			*hint = k;
			return k;
		}
	}
	return nu;
}

/*
 * The entries of the answered envelopes a[0..n) still 'pending', each
 * with the index of its envelope, in seq order (listed first: the updates
 * that follow move entries out of the status index this walks).  One walk
 * by seq: an envelope's range spans other rooms' entries too, so a walk
 * per range would visit every pending row once per envelope.
 */
static int
answers_entries(sqlite3 *db, const struct env_answer *a, size_t n,
    struct seq_of **out, size_t *len)
{
	sqlite3_stmt *st = NULL;
	struct seq_of *v = NULL;
	size_t vlen = 0, cap = 0, k, hint = 0;
	int64_t lo = INT64_MAX, hi = 0;
	int rc;

	*out = NULL;
	*len = 0;
	for (k = 0; k < n; k++) {
		if (a[k].first < lo)
			lo = a[k].first;
		if (a[k].last > hi)
			hi = a[k].last;
	}
	if (lo > hi)
		return 0;
	if ((rc = store_prepare(db, "SELECT seq, room_id FROM local_outbox"
	    " WHERE status = 'pending' AND seq BETWEEN ?1 AND ?2 ORDER BY seq",
	    &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);
		const char *r = (const char *)sqlite3_column_text(st, 1);

		if (r == NULL ||
		    (k = answer_of(a, n, seq, r, &hint)) == n)
			continue;	/* another envelope's, or none yet */
		if ((rc = seq_of_add(&v, &vlen, &cap, seq, k)) != 0)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		rc = store_sqlite_err(db);
		goto out;
	}
	rc = 0;
	*out = v;	/* the caller's: free() */
	*len = vlen;
	v = NULL;
out:
	free(v);
	store_finalize(st);
	return rc;
}

/*
 * Settles the answered envelopes a[0..n): each of their entries still
 * 'pending' takes its envelope's answer, and the envelopes are marked
 * settled.  A deferred answer (PR_LATER, never recorded) is only counted:
 * its entries go again.  a[k].entries counts the entries of each.  Only
 * 'pending' entries are written, so settling again changes nothing.  In
 * the caller's transaction.
 */
static int
answers_settle(sqlite3 *db, struct env_answer *a, size_t n)
{
	sqlite3_stmt *ack = NULL, *ref = NULL, *done = NULL, *st;
	struct seq_of *ent = NULL;
	struct env_answer *p;
	size_t nent = 0, i;
	int rc;

	for (i = 0; i < n; i++)
		a[i].entries = 0;
	if ((rc = answers_entries(db, a, n, &ent, &nent)) != 0 ||
	    (rc = store_prepare(db, "UPDATE local_outbox SET status = 'acked',"
	    " acked_hub_seq = ?1 WHERE seq = ?2", &ack)) != 0 ||
	    (rc = store_prepare(db, "UPDATE local_outbox SET status = 'refused',"
	    " refused_reason = ?1 WHERE seq = ?2", &ref)) != 0 ||
	    (rc = store_prepare(db, "UPDATE local_outbox_envelopes SET"
	    " settled = 1 WHERE env_first = ?1", &done)) != 0)
		goto out;
	for (i = 0; i < nent; i++) {
		p = &a[ent[i].of];
		p->entries++;
		if (p->kind == PR_LATER)
			continue;
		st = p->kind == PR_ACK ? ack : ref;
		if (p->kind == PR_ACK)
			sqlite3_bind_int64(st, 1, p->hub_seq);
		else
			sqlite3_bind_text(st, 1, p->why, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, ent[i].seq);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_sqlite_err(db);
		sqlite3_reset(st);
		if (rc != 0)
			goto out;
	}
	for (i = 0; i < n; i++) {
		if (a[i].kind == PR_LATER)
			continue;
		sqlite3_bind_int64(done, 1, a[i].first);
		rc = sqlite3_step(done) == SQLITE_DONE ? 0 :
		    store_sqlite_err(db);
		sqlite3_reset(done);
		if (rc != 0)
			goto out;
	}
out:
	if (rc != 0)
		log_warnx("sync: cannot settle the hub's answers: %s",
		    sqlite3_errmsg(db));
	store_finalize(ack);
	store_finalize(ref);
	store_finalize(done);
	free(ent);
	return rc;
}

/* Settles every envelope answered and not settled yet, in the caller's
 * transaction. */
static int
answers_settle_all(sqlite3 *db)
{
	struct env_answer *u = NULL;
	size_t nu = 0;
	int rc;

	if ((rc = answers_unsettled(db, &u, &nu)) == 0 && nu > 0)
		rc = answers_settle(db, u, nu);
	answers_free(u, nu);
	return rc;
}

int
sync_settle(sqlite3 *db)
{
	int rc;

	if ((rc = db_exec(db, "BEGIN IMMEDIATE")) != 0)
		return rc;
	if ((rc = answers_settle_all(db)) == 0)
		rc = db_exec(db, "COMMIT");
	if (rc != 0)
		db_rollback(db);
	return rc;
}

/* --- undo, purge, snapshot, re-apply: one pulled batch ------------------ */

static int
room_in(const char *room, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], room) == 0)
			return 1;
	return 0;
}

/* The seqs of a query's first column (no parameters), in its order. */
static int
seq_list(sqlite3 *db, const char *sql, int64_t **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	int64_t *v = NULL, *nv;
	size_t len = 0, cap = 0;
	int rc;

	if ((rc = store_prepare(db, sql, &st)) != 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			v = nv;
		}
		v[len++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE) {
		rc = store_sqlite_err(db);
		goto out;
	}
	*out = v;	/* the caller's: free() */
	v = NULL;
	*n = len;
	rc = 0;
out:
	free(v);
	store_finalize(st);
	return rc;
}

/*
 * (a) Takes every entry in effect off the replica, newest first, and marks
 * it so.  What is to stay on top is re-applied in (c) and marked again.
 */
static int
batch_undo(sqlite3 *db)
{
	sqlite3_stmt *get = NULL;
	int64_t *seqs = NULL;
	size_t n = 0, i;
	int rc;

	if ((rc = seq_list(db, "SELECT seq FROM local_outbox WHERE applied IS"
	    " NULL OR length(applied) > 0 ORDER BY seq DESC", &seqs, &n)) != 0)
		return rc;
	if (n == 0)
		goto out;
	if ((rc = store_prepare(db, "SELECT coalesce(applied, changeset) FROM"
	    " local_outbox WHERE seq = ?1", &get)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(get, 1, seqs[i]);
		if (sqlite3_step(get) != SQLITE_ROW) {
			rc = store_sqlite_err(db);
			goto out;
		}
		{
			const void *raw;
			size_t rawlen;
			void *owned = NULL;

			rc = store_outbox_raw(sqlite3_column_blob(get, 0),
			    (size_t)sqlite3_column_bytes(get, 0), &raw,
			    &rawlen, &owned);
			if (rc == 0)
				rc = cs_apply(db, raw, rawlen,
				    SQLITE_CHANGESETAPPLY_INVERT,
				    cs_conflict_force, (void *)"undo");
			free(owned);
		}
		sqlite3_reset(get);
		if (rc != 0)
			goto out;
	}
	rc = db_exec(db, "UPDATE local_outbox SET applied = X'' WHERE applied"
	    " IS NULL OR length(applied) > 0");
out:
	store_finalize(get);
	free(seqs);
	return rc;
}

/* Deletes every row of each room of rooms ("": every directory row), each
 * table's statement prepared once for them all. */
static int
batch_clear_rooms(sqlite3 *db, const char *const *rooms, size_t n)
{
	const struct table_policy *p;
	sqlite3_stmt *st = NULL;
	size_t i;
	char *sql;
	int rc;

	for (p = policy_tables; p->table != NULL; p++) {
		for (i = 0; i < n; i++) {
			int dir = rooms[i][0] == '\0';

			if (p->scope != (dir ? SYNC_DIRECTORY : SYNC_ROOM))
				continue;
			if (dir) {
				sql = sqlite3_mprintf("DELETE FROM \"%w\"",
				    p->table);
				if (sql == NULL)
					return RK_ENOMEM;
				rc = db_exec(db, sql);
				sqlite3_free(sql);
				if (rc != 0)
					return rc;
				continue;
			}
			if (st == NULL) {
				sql = sqlite3_mprintf("DELETE FROM \"%w\" WHERE"
				    " room_id = ?1", p->table);
				if (sql == NULL)
					return RK_ENOMEM;
				rc = store_prepare(db, sql, &st);
				sqlite3_free(sql);
				if (rc != 0)
					return rc;
			}
			sqlite3_bind_text(st, 1, rooms[i], -1, SQLITE_STATIC);
			rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
			    store_sqlite_err(db);
			sqlite3_reset(st);
			if (rc != 0) {
				store_finalize(st);
				return rc;
			}
		}
		store_finalize(st);
		st = NULL;
	}
	return 0;
}

static int
batch_clear_room(sqlite3 *db, const char *room)
{
	const char *rooms[1] = { room };

	return batch_clear_rooms(db, rooms, 1);
}

/* The staff has left room: its rows go; its outbox entries stay readable,
 * and those not yet sent are refused here, in words. */
static int
batch_purge(sqlite3 *db, const char *room)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (room[0] == '\0')
		return 0;	/* the directory is never purged */
	if ((rc = batch_clear_room(db, room)) != 0)
		return rc;
	/* What the hub has acknowledged goes with the rows (a room purged
	 * after its retention period must leave nothing here); the entries
	 * stay, empty, so the outbox numbering goes on. */
	if ((rc = store_prepare(db, "UPDATE local_outbox SET changeset = X'',"
	    " applied = X'' WHERE room_id = ?1 AND status = 'acked'", &st)) !=
	    0)
		return rc;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_sqlite_err(db);
	store_finalize(st);
	st = NULL;
	if (rc != 0)
		return rc;
	if ((rc = store_prepare(db, "UPDATE local_outbox SET status = 'refused',"
	    " refused_reason = 'removed from room ' || ?1, applied = X''"
	    " WHERE room_id = ?1 AND status = 'pending'", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_sqlite_err(db);
	if (rc == 0 && sqlite3_changes(db) > 0)
		log_warnx("sync: removed from room %s: %d unsent change(s) "
		    "kept in the outbox as refused", room, sqlite3_changes(db));
	store_finalize(st);
	st = NULL;
	if (rc != 0)
		return rc;
	/* Their envelopes are not sent again. */
	if ((rc = store_prepare(db, "UPDATE local_outbox_envelopes SET"
	    " answered = 1 WHERE room_id = ?1 AND answered = 0", &st)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_sqlite_err(db);
	store_finalize(st);
	return rc;
}

/*
 * A hub change of INSERTs only (new posts, visits, notes: most of what a
 * pull brings) through the cached INSERTs of fast, inside a savepoint:
 * sqlite3changeset_apply would prepare its statements again for every
 * entry.  1 when it went in, each row checked for its room as it went;
 * 0 when it must be applied the general way (a change that is not an
 * INSERT, or a row whose key or another constraint refuses it: the hub's
 * change then wins as cs_conflict_force decides), nothing of it left; an
 * rk_err for a change of the wrong room or the replica's own failures.
 */
static int
batch_apply_inserts(sqlite3 *db, const struct pull_entry *e,
    struct csins *fast, int *hlc_cols, uint64_t *hlc_seen,
    struct rk_why *why)
{
	struct snap_row sr = { db, e->room, hlc_cols, hlc_seen, why };
	int rc, xrc;

	if ((rc = db_exec(db, "SAVEPOINT hub_entry")) != 0)
		return rc;
	rc = csins_apply_each(fast, e->changeset, e->changeset_len,
	    snap_row_check, &sr);
	if (rc == RK_EEXIST || rc == RK_EINVAL) {
		why->text[0] = '\0';
		if ((xrc = db_exec(db, "ROLLBACK TO hub_entry")) != 0)
			rc = xrc;
		else
			rc = 0;
	} else if (rc == 0) {
		rc = 1;
	}
	if ((xrc = db_exec(db, "RELEASE hub_entry")) != 0 && rc >= 0)
		rc = xrc;
	return rc;
}

static int
batch_apply_entries(sqlite3 *db, const struct pull_response *r,
    const char *const *only, size_t nonly, const char *const *skip,
    size_t nskip, struct csins *ins, struct csins *fast, int *hlc_cols,
    uint64_t *hlc_seen, struct rk_why *why)
{
	size_t i;
	int rc;

	for (i = 0; i < r->count; i++) {
		const struct pull_entry *e = &r->entries[i];

		if (only != NULL && !room_in(e->room, only, nonly))
			return rk_whyf(why, RK_EPROTO, "the hub's snapshot "
			    "holds room %s, which it did not name",
			    e->room[0] ? e->room : "(the directory)");
		if (room_in(e->room, skip, nskip))
			continue;
		/* A snapshot's rows go into cleared rooms: INSERTs only,
		 * through statements prepared once for the whole answer,
		 * each row checked for its room as it goes in. */
		if (ins != NULL) {
			struct snap_row sr = { db, e->room, hlc_cols, hlc_seen,
			    why };

			rc = csins_apply_each(ins, e->changeset,
			    e->changeset_len, snap_row_check, &sr);
			if (rc == RK_EPROTO && why->text[0] != '\0')
				return rc;	/* the row check said why */
			if (rc != 0)
				return rk_whyf(why, rc == RK_EINVAL ? RK_EPROTO :
				    rc, "cannot apply the hub's snapshot of %s: "
				    "%s", e->room[0] ? e->room : "the directory",
				    rc == RK_EINVAL ? "a change that is not a "
				    "new row, or a row that does not fit its "
				    "table" : sqlite3_errmsg(db));
			continue;
		}
		if (fast != NULL && (rc = batch_apply_inserts(db, e, fast,
		    hlc_cols, hlc_seen, why)) != 0) {
			if (rc == 1)
				continue;
			if (why->text[0] != '\0')
				return rc;	/* the row check said why */
			return rk_whyf(why, rc, "cannot apply the hub's change "
			    "%" PRIu64 ": %s", e->hub_seq, sqlite3_errmsg(db));
		}
		if ((rc = cs_check_scope(e->changeset, e->changeset_len,
		    e->room, why)) != 0)
			return rc;
		(void)cs_max_hlc(db, e->changeset, e->changeset_len, hlc_cols,
		    hlc_seen);
		if ((rc = cs_apply(db, e->changeset, e->changeset_len, 0,
		    cs_conflict_force, (void *)"hub change")) != 0)
			return rk_whyf(why, rc, "cannot apply the hub's change "
			    "%" PRIu64 ": %s", e->hub_seq, sqlite3_errmsg(db));
	}
	return 0;
}

/*
 * Whether the hub's rules refuse cs even where it applies cleanly (the
 * hub's pre-apply walk, conflicts_walk_change): 0 no, 1 yes (reason set).
 */
static int
batch_walk(const void *cs, size_t n, char *reason, size_t rlen)
{
	sqlite3_changeset_iter *it = NULL;
	int rc = 0, step;

	if (n == 0 || n > INT32_MAX ||
	    sqlite3changeset_start(&it, (int)n, (void *)cs) != SQLITE_OK)
		return 0;	/* cs_apply below says what is wrong */
	while ((step = sqlite3changeset_next(it)) == SQLITE_ROW)
		if ((rc = conflicts_walk_change(it, NULL, reason, rlen)) != 0)
			break;
	sqlite3changeset_finalize(it);
	return rc == 1;
}

/*
 * Re-applies one entry's original changeset with the hub's conflict rules
 * (conflicts.h, predicting: no records are written here, only the hub
 * writes them); `applied` := what changed.  An entry the rules refuse is
 * left un-applied (`applied` empty) with predicted_refusal saying why,
 * until the hub answers.
 */
static int
batch_reapply_one(sqlite3 *db, sqlite3_stmt *get, sqlite3_stmt *put,
    int64_t seq)
{
	sqlite3_session *sess = NULL;
	struct conflicts_apply *a = NULL;
	const void *cs;
	char reason[256] = "";
	void *out = NULL, *owned = NULL;
	size_t len;
	int n = 0, rc, arc;

	sqlite3_bind_int64(get, 1, seq);
	if (sqlite3_step(get) != SQLITE_ROW) {
		rc = store_sqlite_err(db);
		goto out;
	}
	if ((rc = store_outbox_raw(sqlite3_column_blob(get, 0),
	    (size_t)sqlite3_column_bytes(get, 0), &cs, &len, &owned)) != 0)
		goto out;
	if (len > INT32_MAX) {
		rc = RK_EPROTO;
		goto out;
	}
	if (batch_walk(cs, len, reason, sizeof(reason)))
		goto put;
	if ((rc = conflicts_apply_begin(db, (const char *)
	    sqlite3_column_text(get, 2) ? (const char *)
	    sqlite3_column_text(get, 2) : "", (uint64_t)
	    sqlite3_column_int64(get, 1), 1, &a)) != 0)
		goto out;
	if (sqlite3session_create(db, "main", &sess) != SQLITE_OK) {
		rc = RK_ENOMEM;
		goto out;
	}
	sqlite3session_table_filter(sess, cs_filter, NULL);
	if (sqlite3session_attach(sess, NULL) != SQLITE_OK) {
		rc = RK_EDB;
		goto out;
	}
	/* Without NOSAVEPOINT: a refusal rolls back what went before it. */
	arc = len == 0 ? SQLITE_OK : sqlite3changeset_apply_v2(db, (int)len,
	    (void *)cs, cs_filter, conflicts_apply_on_conflict, a, NULL, NULL,
	    0);
	if ((rc = conflicts_apply_error(a)) != 0)
		goto out;
	if (arc == SQLITE_ABORT && conflicts_apply_refusal(a)[0] != '\0') {
		snprintf(reason, sizeof(reason), "%s",
		    conflicts_apply_refusal(a));
		goto put;
	}
	if (arc != SQLITE_OK) {
		log_warnx("sync: re-applying a pending change: %s (%d)",
		    sqlite3_errmsg(db), arc);
		rc = arc == SQLITE_CORRUPT || arc == SQLITE_MISUSE ?
		    RK_EPROTO : store_sqlite_err(db);
		goto out;
	}
	if (sqlite3session_changeset(sess, &n, &out) != SQLITE_OK) {
		rc = RK_ENOMEM;
		goto out;
	}
put:
	/* An empty blob, never NULL: NULL would mean "the original". */
	if (n > 0)
		sqlite3_bind_blob(put, 1, out, n, SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(put, 1, 0);
	sqlite3_bind_int64(put, 2, seq);
	if (reason[0] != '\0')
		sqlite3_bind_text(put, 3, reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(put, 3);
	rc = sqlite3_step(put) == SQLITE_DONE ? 0 : store_sqlite_err(db);
	sqlite3_reset(put);
out:
	sqlite3_reset(get);
	if (sess != NULL)
		sqlite3session_delete(sess);
	conflicts_apply_free(a);
	sqlite3_free(out);
	free(owned);
	return rc;
}

/*
 * (c) The entries the hub state does not hold yet, oldest first: pending
 * ones, and acked ones whose canonical change lies beyond what has now
 * been pulled (beyond the snapshot's point for the snapshot's room).
 */
static int
batch_reapply(sqlite3 *db, const struct sync_batch *b, uint64_t cursor)
{
	sqlite3_stmt *sel = NULL, *get = NULL, *put = NULL;
	uint64_t snapcur = cursor;
	int64_t *seqs = NULL, *nv;
	size_t n = 0, cap = 0, i;
	int rc;

	if (b->nsnap > 0 && b->snap != NULL && b->snap->next_cursor > snapcur)
		snapcur = b->snap->next_cursor;
	/* Two index searches (schema 006), not a walk of every acked
	 * entry ever written. */
	if ((rc = store_prepare(db, "SELECT seq, room_id, status, acked_hub_seq"
	    " FROM local_outbox WHERE status = 'pending' UNION ALL SELECT seq,"
	    " room_id, status, acked_hub_seq FROM local_outbox INDEXED BY"
	    " local_outbox_acked WHERE status = 'acked' AND acked_hub_seq > ?1"
	    " ORDER BY 1", &sel)) != 0)
		goto out;
	sqlite3_bind_int64(sel, 1, (sqlite3_int64)(snapcur < cursor ? snapcur :
	    cursor));
	/* Listed first: the loop below writes local_outbox. */
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		const char *room = (const char *)sqlite3_column_text(sel, 1);
		const char *status = (const char *)sqlite3_column_text(sel, 2);
		uint64_t acked = (uint64_t)sqlite3_column_int64(sel, 3);

		if (room != NULL && room_in(room, b->purge, b->npurge))
			continue;
		/* Acked: the hub state holds it once what was pulled for its
		 * room reaches its hub seq. */
		if (status != NULL && strcmp(status, "acked") == 0 &&
		    acked <= (room != NULL && room_in(room, b->snap_rooms,
		    b->nsnap) ? snapcur : cursor))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(seqs, cap * sizeof(*seqs))) == NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			seqs = nv;
		}
		seqs[n++] = sqlite3_column_int64(sel, 0);
	}
	if (rc != SQLITE_DONE) {
		rc = store_sqlite_err(db);
		goto out;
	}
	rc = 0;
	if (n == 0)
		goto out;
	if ((rc = store_prepare(db, "SELECT changeset, hlc, origin FROM"
	    " local_outbox WHERE seq = ?1", &get)) != 0 ||
	    (rc = store_prepare(db, "UPDATE local_outbox SET applied = ?1,"
	    " predicted_refusal = ?3 WHERE seq = ?2", &put)) != 0)
		goto out;
	for (i = 0; i < n; i++)
		if ((rc = batch_reapply_one(db, get, put, seqs[i])) != 0)
			goto out;
out:
	free(seqs);
	store_finalize(sel);
	store_finalize(get);
	store_finalize(put);
	return rc;
}

/* An envelope rebuilt from the outbox: its merged changeset (n bytes,
 * sqlite3_malloc'd) and the hlc and schema version of its last entry. */
struct range_out {
	void *cs;
	int n;
	uint64_t hlc;
	uint16_t schema;
};

static int sync_ranges_merge(sqlite3 *db, const struct sync_range *r,
    size_t n, int sent, struct range_out *out);
static void range_out_free(struct range_out *out, size_t n);

/*
 * The common case after a push: the pull brings back exactly this
 * replica's own acked envelopes, each as sent (the hub applied them
 * without a conflict, so its canonical changeset is the envelope's own),
 * and they are the oldest entries in effect here.  Then taking them off,
 * applying the hub's copies and putting the pending ones back on top
 * would leave every row as it is: the replica already is the hub's state
 * plus its pending entries.  Only the bookkeeping changes -- the echoed
 * entries are no longer in effect on their own.
 *
 * The push that sent them recorded its answer on the envelopes only
 * (answers_unsettled): their entries still read 'pending', and take the
 * ack here, in the same row rewrite that marks them echoed.  Then every
 * envelope answered is settled (the entries not in effect, and those of
 * envelopes the pull has not brought yet).
 *
 * The pull may also bring changes of others (most often the directory:
 * a device enrolled, a member added).  Taken after this replica's own,
 * they give what the hub has as long as nothing of this replica's is on
 * top of its own envelopes, and none of its own envelopes of the same
 * room comes later in the hub's order: rooms share no rows, so only the
 * order within a room counts.  Those are handed back in *others (entries
 * borrowed from pr: free() only the array) for the caller to apply.
 *
 * 1 and *echoed set when that holds and was recorded; 0 when it does not
 * hold (the caller takes the general way; nothing written); <0 an error.
 */
struct echo_env {
	int64_t first, last, hub_seq;
	int unsettled;		/* its entries take the ack here */
	char room[65];
	size_t at;		/* its place in the pull */
};

static int
echo_env_cmp(const void *a, const void *b)
{
	const struct echo_env *x = a, *y = b;

	return (x->hub_seq > y->hub_seq) - (x->hub_seq < y->hub_seq);
}

/* Finds each of envs[0..n) (sorted by hub seq) in the pull, the rest
 * into others as batch_echo says: 1 they fit, 0 not, RK_ENOMEM. */
static int
echo_match(const struct pull_response *pr, struct echo_env *envs, size_t n,
    int pending_on_top, struct pull_response *others)
{
	size_t i, j = 0, k;

	memset(others, 0, sizeof(*others));
	if (n > pr->count || (n < pr->count && pending_on_top))
		return 0;
	if (n < pr->count && (others->entries = calloc(pr->count - n,
	    sizeof(*others->entries))) == NULL)
		return RK_ENOMEM;
	for (i = 0; i < pr->count; i++) {
		const struct pull_entry *e = &pr->entries[i];

		if (j < n && (uint64_t)envs[j].hub_seq == e->hub_seq) {
			if (strcmp(envs[j].room, e->room) != 0)
				goto no;
			envs[j++].at = i;
			continue;
		}
		/* Another's change: none of ours of its room may follow. */
		for (k = j; k < n; k++)
			if (strcmp(envs[k].room, e->room) == 0)
				goto no;
		if (others->count == pr->count - n)
			goto no;
		others->entries[others->count++] = *e;	/* borrowed */
	}
	if (j == n)
		return 1;
no:
	free(others->entries);
	memset(others, 0, sizeof(*others));
	return 0;
}

static int
batch_echo(sqlite3 *db, const struct pull_response *pr, uint64_t cursor,
    size_t *echoed, struct pull_response *others)
{
	sqlite3_stmt *st = NULL, *env = NULL, *put = NULL;
	struct echo_env *envs = NULL, *ne;
	struct env_answer *u = NULL;	/* answered, not settled */
	struct seq_of *ent = NULL;	/* their entries echoed, u[] index */
	struct sync_range *rg = NULL;
	struct range_out *mo = NULL;
	size_t n = 0, cap = 0, i, j, entries = 0, nu = 0, nent = 0;
	size_t entcap = 0, hint = 0, k;
	int rc, erc, pending_seen = 0;

	*echoed = 0;
	memset(others, 0, sizeof(*others));
	if (pr->count == 0)
		return 0;
	if ((rc = answers_unsettled(db, &u, &nu)) != 0)
		return rc;
	/* Every entry in effect, oldest first: the echoed ones first, each
	 * as originally written, then only entries the pull leaves on top. */
	if ((rc = store_prepare(db, "SELECT status, acked_hub_seq, applied IS"
	    " NULL, seq, room_id FROM local_outbox WHERE"
	    " applied IS NULL OR length(applied) > 0 ORDER BY seq", &st)) != 0)
		goto out;
	/* An entry's envelope: the last range of its room starting at or
	 * before it (ranges of one room never overlap). */
	if ((rc = store_prepare(db, "SELECT env_first, env_last FROM"
	    " local_outbox_envelopes WHERE room_id = ?1 AND env_first <= ?2"
	    " ORDER BY env_first DESC LIMIT 1", &env)) != 0)
		goto out;
	rc = 1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *status = (const char *)sqlite3_column_text(st, 0);
		const char *room = (const char *)sqlite3_column_text(st, 4);
		int64_t hs = sqlite3_column_int64(st, 1);
		int64_t seq = sqlite3_column_int64(st, 3);
		int acked = status != NULL && strcmp(status, "acked") == 0 &&
		    sqlite3_column_type(st, 1) != SQLITE_NULL &&
		    (uint64_t)hs <= cursor;

		/* Pending, of an envelope acked: acked as far as the pull
		 * goes. */
		k = nu;
		if (!acked && nu > 0 && room != NULL && status != NULL &&
		    strcmp(status, "pending") == 0 &&
		    (k = answer_of(u, nu, seq, room, &hint)) < nu &&
		    u[k].kind == PR_ACK && (uint64_t)u[k].hub_seq <= cursor) {
			acked = 1;
			hs = u[k].hub_seq;
		}
		if (!acked) {
			pending_seen = 1;
			continue;
		}
		if (pending_seen || !sqlite3_column_int(st, 2) ||
		    room == NULL || strlen(room) > 64) {
			rc = 0;
			break;
		}
		entries++;
		if (k < nu && seq_of_add(&ent, &nent, &entcap, seq, k) != 0) {
			rc = RK_ENOMEM;
			break;
		}
		/* Entries of several rooms interleave: find the envelope. */
		for (j = n; j > 0 && envs[j - 1].hub_seq != hs; j--)
			;
		if (j > 0) {
			if (seq < envs[j - 1].first || seq > envs[j - 1].last ||
			    strcmp(envs[j - 1].room, room) != 0 ||
			    envs[j - 1].unsettled != (k < nu)) {
				rc = 0;
				break;
			}
			continue;
		}
		if (n == pr->count) {	/* more than the pull brought */
			rc = 0;
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			if ((ne = realloc(envs, cap * sizeof(*ne))) == NULL) {
				rc = RK_ENOMEM;
				break;
			}
			envs = ne;
		}
		if (k < nu) {
			envs[n].first = u[k].first;
			envs[n].last = u[k].last;
		} else {
			sqlite3_bind_text(env, 1, room, -1, SQLITE_STATIC);
			sqlite3_bind_int64(env, 2, seq);
			if ((erc = sqlite3_step(env)) != SQLITE_ROW &&
			    erc != SQLITE_DONE) {
				rc = store_sqlite_err(db);
				sqlite3_reset(env);
				break;
			}
			if (erc == SQLITE_DONE ||
			    sqlite3_column_int64(env, 1) < seq) {
				sqlite3_reset(env);
				rc = 0;	/* not sent as one of ours */
				break;
			}
			envs[n].first = sqlite3_column_int64(env, 0);
			envs[n].last = sqlite3_column_int64(env, 1);
			sqlite3_reset(env);
		}
		envs[n].hub_seq = hs;
		envs[n].unsettled = k < nu;
		snprintf(envs[n].room, sizeof(envs[n].room), "%s", room);
		n++;
	}
	store_finalize(st);
	store_finalize(env);
	st = env = NULL;
	/* The pull holds these envelopes in hub order, and perhaps changes
	 * of others that may follow them; none of its own, no echo. */
	if (rc == 1 && n == 0)
		rc = 0;
	if (rc == 1) {
		qsort(envs, n, sizeof(*envs), echo_env_cmp);
		rc = echo_match(pr, envs, n, pending_seen, others);
	}
	/* Each envelope rebuilt is byte for byte what the hub sent back. */
	if (rc == 1 && ((rg = calloc(n, sizeof(*rg))) == NULL ||
	    (mo = calloc(n, sizeof(*mo))) == NULL))
		rc = RK_ENOMEM;
	for (i = 0; rc == 1 && i < n; i++) {
		rg[i].first = envs[i].first;
		rg[i].last = envs[i].last;
		memcpy(rg[i].room, envs[i].room, sizeof(rg[i].room));
	}
	if (rc == 1 && (rc = sync_ranges_merge(db, rg, n, 1, mo)) == 0)
		rc = 1;
	for (i = 0; rc == 1 && i < n; i++) {
		const struct pull_entry *e = &pr->entries[envs[i].at];

		rc = (size_t)mo[i].n == e->changeset_len && (mo[i].n == 0 ||
		    memcmp(mo[i].cs, e->changeset, (size_t)mo[i].n) == 0);
	}
	if (mo != NULL)
		range_out_free(mo, n);
	if (rc != 1)
		goto out;
	/* Entries acked before: found by hub seq (schema 006). */
	if ((rc = store_prepare(db, "UPDATE local_outbox INDEXED BY"
	    " local_outbox_acked SET applied = X'' WHERE status = 'acked' AND"
	    " acked_hub_seq = ?1 AND (applied IS NULL OR length(applied) > 0)",
	    &put)) != 0)
		goto out;
	for (j = 0; j < n; j++) {
		if (envs[j].unsettled)
			continue;
		sqlite3_bind_int64(put, 1, envs[j].hub_seq);
		if (sqlite3_step(put) != SQLITE_DONE) {
			rc = store_sqlite_err(db);
			goto out;
		}
		sqlite3_reset(put);
	}
	store_finalize(put);
	put = NULL;
	/* Entries of an answer not settled: the ack in the same rewrite. */
	if ((rc = store_prepare(db, "UPDATE local_outbox SET applied = X'',"
	    " status = 'acked', acked_hub_seq = ?1 WHERE seq = ?2", &put)) != 0)
		goto out;
	for (i = 0; i < nent; i++) {
		sqlite3_bind_int64(put, 1, u[ent[i].of].hub_seq);
		sqlite3_bind_int64(put, 2, ent[i].seq);
		if (sqlite3_step(put) != SQLITE_DONE) {
			rc = store_sqlite_err(db);
			goto out;
		}
		sqlite3_reset(put);
	}
	/* The rest of their entries, if any, and the envelopes settled. */
	if (nu > 0 && (rc = answers_settle(db, u, nu)) != 0)
		goto out;
	*echoed = entries;
	rc = 1;
out:
	if (rc != 1) {
		free(others->entries);
		memset(others, 0, sizeof(*others));
	}
	store_finalize(st);
	store_finalize(env);
	store_finalize(put);
	answers_free(u, nu);
	free(ent);
	free(envs);
	free(rg);
	free(mo);
	return rc;
}

int
sync_apply_batch(sqlite3 *db, struct sync_batch *b, struct rk_why *why)
{
	int64_t cur = 0, in_effect = 0;
	uint64_t cursor;
	int hlc_cols[SYNC_MAX_TABLES];
	size_t i;
	int rc;

	for (i = 0; policy_tables[i].table != NULL; i++)
		if (i >= SYNC_MAX_TABLES)
			return rk_whyf(why, RK_EDB, "too many synced tables");
	for (i = 0; i < SYNC_MAX_TABLES; i++)
		hlc_cols[i] = -2;
	b->hlc_seen = 0;

	if ((rc = db_exec(db, "BEGIN IMMEDIATE")) != 0)
		return rk_whyf(why, rc, "cannot start the sync transaction: %s",
		    sqlite3_errmsg(db));
	if ((rc = meta_get_i64(db, META_CURSOR, &cur)) != 0)
		goto dberr;
	cursor = b->set_cursor ? b->cursor : (uint64_t)cur;
	if ((rc = db_int(db, "SELECT count(*) FROM local_outbox WHERE applied"
	    " IS NULL OR length(applied) > 0", NULL, &in_effect)) != 0)
		goto dberr;
	b->echoed = 0;
	if (in_effect > 0 && b->pull != NULL && b->nsnap == 0 &&
	    b->npurge == 0 && b->set_cursor) {
		struct pull_response others;
		struct csins *fast = NULL;

		if ((rc = batch_echo(db, b->pull, cursor, &b->echoed,
		    &others)) < 0)
			goto dberr;
		if (rc == 1) {
			/* The hub's rows' clock to learn, and the changes of
			 * others that came with the echo to apply. */
			for (i = 0; i < b->pull->count; i++)
				(void)cs_max_hlc(db, b->pull->entries[i].changeset,
				    b->pull->entries[i].changeset_len, hlc_cols,
				    &b->hlc_seen);
			rc = 0;
			if (others.count > 0 &&
			    (rc = csins_new(db, 0, &fast)) != 0)
				rk_whyf(why, rc, "out of memory");
			else if (others.count > 0)
				rc = batch_apply_entries(db, &others, NULL, 0,
				    NULL, 0, NULL, fast, hlc_cols, &b->hlc_seen,
				    why);
			csins_free(fast);
			free(others.entries);	/* borrowed from b->pull */
			if (rc != 0)
				goto out;
			goto done;
		}
	}
	/* What the hub answered goes on the entries first: the purges and
	 * the re-application below tell acked entries from pending ones. */
	if ((rc = answers_settle_all(db)) != 0)
		goto dberr;
	if (in_effect > 0 && (rc = batch_undo(db)) != 0) {
		rk_whyf(why, rc, "cannot take back pending changes: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	for (i = 0; i < b->npurge; i++)
		if ((rc = batch_purge(db, b->purge[i])) != 0)
			goto dberr;
	if (b->nsnap > 0 && b->snap != NULL) {
		struct csins *ins = NULL;

		if ((rc = batch_clear_rooms(db, b->snap_rooms, b->nsnap)) != 0)
			goto dberr;
		if ((rc = csins_new(db, 1, &ins)) != 0)
			goto dberr;
		rc = batch_apply_entries(db, b->snap, b->snap_rooms, b->nsnap,
		    NULL, 0, ins, NULL, hlc_cols, &b->hlc_seen, why);
		csins_free(ins);
		if (rc != 0)
			goto out;
	}
	if (b->pull != NULL && b->pull->count > 0) {
		struct csins *fast = NULL;

		if ((rc = csins_new(db, 0, &fast)) != 0)
			goto dberr;
		rc = batch_apply_entries(db, b->pull, NULL, 0, b->purge,
		    b->npurge, NULL, fast, hlc_cols, &b->hlc_seen, why);
		csins_free(fast);
		if (rc != 0)
			goto out;
	}
	if ((rc = batch_reapply(db, b, cursor)) != 0) {
		rk_whyf(why, rc, "cannot re-apply pending changes: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
done:
	if (b->set_cursor &&
	    ((rc = meta_set_i64(db, META_CURSOR, (int64_t)b->cursor)) != 0 ||
	    (rc = meta_set_i64(db, META_HEAD, (int64_t)b->head)) != 0))
		goto dberr;
	if ((rc = db_exec(db, "COMMIT")) != 0)
		goto dberr;
	return 0;
dberr:
	rk_whyf(why, rc, "cannot apply what the hub sent: %s",
	    sqlite3_errmsg(db));
out:
	db_rollback(db);
	return rc;
}

/* --- push: envelope ranges and results ----------------------------------- */

int
sync_assign_ranges(sqlite3 *db, size_t max_entries, size_t max_raw)
{
	sqlite3_stmt *sel = NULL, *ins = NULL;
	struct sync_range *g = NULL, *ng;
	size_t *gcount = NULL, *gbytes = NULL, *nsz;
	int64_t *gver = NULL, *nver;
	size_t ng_len = 0, ng_cap = 0, i, k;
	int rc;

	if (max_entries == 0)
		max_entries = 1;
	if ((rc = db_exec(db, "BEGIN IMMEDIATE")) != 0)
		return rc;
	/* Every range given so far ends at or before the greatest env_last:
	 * the pending entries past it have none. */
	if ((rc = store_prepare(db, "SELECT seq, origin, room_id, schema_version,"
	    " length(changeset) FROM local_outbox WHERE status = 'pending' AND"
	    " seq > (SELECT coalesce(max(env_last), 0) FROM"
	    " local_outbox_envelopes) ORDER BY seq", &sel)) != 0)
		goto out;
	/*
	 * An envelope carries entries of one room, in seq order; entries of
	 * other rooms may lie between them (a nurse's day moves from patient
	 * to patient), so each room keeps one open group that grows until it
	 * is full.
	 */
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(sel, 0);
		const char *o = (const char *)sqlite3_column_text(sel, 1);
		const char *r = (const char *)sqlite3_column_text(sel, 2);
		int64_t v = sqlite3_column_int64(sel, 3);
		size_t len = (size_t)sqlite3_column_int64(sel, 4);

		if (o == NULL || r == NULL || strlen(o) >= sizeof(g->origin) ||
		    strlen(r) >= sizeof(g->room)) {
			log_warnx("sync: outbox entry %" PRId64 " has a bad "
			    "origin or room", seq);
			rc = RK_EDB;
			goto out;
		}
		for (k = ng_len; k > 0; k--)
			if (strcmp(g[k - 1].room, r) == 0)
				break;
		if (k > 0 && gcount[k - 1] < max_entries &&
		    gbytes[k - 1] + len <= max_raw && gver[k - 1] == v &&
		    strcmp(g[k - 1].origin, o) == 0) {
			g[k - 1].last = seq;
			gcount[k - 1]++;
			gbytes[k - 1] += len;
			continue;
		}
		if (ng_len == ng_cap) {
			ng_cap = ng_cap ? ng_cap * 2 : 16;
			if ((ng = realloc(g, ng_cap * sizeof(*g))) == NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			g = ng;
			if ((nsz = realloc(gcount, ng_cap * sizeof(*nsz))) ==
			    NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			gcount = nsz;
			if ((nsz = realloc(gbytes, ng_cap * sizeof(*nsz))) ==
			    NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			gbytes = nsz;
			if ((nver = realloc(gver, ng_cap * sizeof(*nver))) ==
			    NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			gver = nver;
		}
		memset(&g[ng_len], 0, sizeof(*g));
		g[ng_len].first = g[ng_len].last = seq;
		snprintf(g[ng_len].room, sizeof(g[ng_len].room), "%s", r);
		snprintf(g[ng_len].origin, sizeof(g[ng_len].origin), "%s", o);
		gcount[ng_len] = 1;
		gbytes[ng_len] = len;
		gver[ng_len] = v;
		ng_len++;
	}
	if (rc != SQLITE_DONE) {
		rc = store_sqlite_err(db);
		goto out;
	}
	/* One row per envelope; its entries are found by room and range. */
	if ((rc = store_prepare(db, "INSERT INTO local_outbox_envelopes"
	    " (env_first, env_last, room_id, origin) VALUES (?1, ?2, ?3, ?4)",
	    &ins)) != 0)
		goto out;
	for (i = 0; i < ng_len; i++) {
		sqlite3_bind_int64(ins, 1, g[i].first);
		sqlite3_bind_int64(ins, 2, g[i].last);
		sqlite3_bind_text(ins, 3, g[i].room, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 4, g[i].origin, -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			rc = store_sqlite_err(db);
			goto out;
		}
		sqlite3_reset(ins);
	}
	rc = db_exec(db, "COMMIT");
out:
	if (rc != 0)
		db_rollback(db);
	store_finalize(sel);
	store_finalize(ins);
	free(g);
	free(gcount);
	free(gbytes);
	free(gver);
	return rc;
}

int
sync_pending_ranges(sqlite3 *db, struct sync_range **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct sync_range *v = NULL, *nv;
	size_t len = 0, cap = 0;
	int rc;

	if ((rc = store_prepare(db, "SELECT env_first, env_last, room_id,"
	    " origin FROM local_outbox_envelopes WHERE answered = 0"
	    " ORDER BY env_first", &st)) != 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 2);
		const char *o = (const char *)sqlite3_column_text(st, 3);

		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			v = nv;
		}
		memset(&v[len], 0, sizeof(*v));
		v[len].first = sqlite3_column_int64(st, 0);
		v[len].last = sqlite3_column_int64(st, 1);
		snprintf(v[len].room, sizeof(v[len].room), "%s", r ? r : "");
		snprintf(v[len].origin, sizeof(v[len].origin), "%s",
		    o ? o : "");
		len++;
	}
	if (rc != SQLITE_DONE) {
		rc = store_sqlite_err(db);
		goto out;
	}
	*out = v;	/* the caller's: free() */
	v = NULL;
	*n = len;
	rc = 0;
out:
	free(v);
	store_finalize(st);
	return rc;
}

/* One envelope's entries merged as the walk finds them. */
struct range_merge {
	sqlite3_changegroup *cg;
	uint64_t hlc;			/* of its last entry */
	uint16_t schema;
	int64_t count;
};

/*
 * The changesets of the outbox entries first sent as the envelopes r[0..n)
 * (ranges of one device, in seq order), each merged into one: what the
 * envelope carries.  sent: 0, they are all 'pending' (sending them); 1,
 * the hub acked them (their echo): 'acked', or still 'pending' while the
 * answer is not settled.  An entry of a room inside its range with
 * another status was refused before the range was given and is not in the
 * envelope.  Ranges of several rooms interleave, so one walk over the
 * entries from the first range's start to the last range's end hands each
 * entry to its envelope, instead of a walk over each range.  out[k] gets
 * range k's; on error none is left.
 */
static int
sync_ranges_merge(sqlite3 *db, const struct sync_range *r, size_t n,
    int sent, struct range_out *out)
{
	sqlite3_stmt *st = NULL;
	struct range_merge *m;
	int64_t lo = INT64_MAX, hi = 0;
	size_t k, last = 0;
	int rc;

	memset(out, 0, n * sizeof(*out));
	if (n == 0)
		return 0;
	if ((m = calloc(n, sizeof(*m))) == NULL)
		return RK_ENOMEM;
	for (k = 0; k < n; k++) {
		if (r[k].first < lo)
			lo = r[k].first;
		if (r[k].last > hi)
			hi = r[k].last;
		if (sqlite3changegroup_new(&m[k].cg) != SQLITE_OK) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	/* sent: 'acked' or 'pending', spelt so that the walk goes by seq
	 * (two statuses from their index would need a sort of every
	 * changeset). */
	if ((rc = store_prepare(db, sent ? "SELECT seq, room_id, changeset,"
	    " hlc, schema_version FROM local_outbox WHERE seq BETWEEN ?2 AND"
	    " ?3 AND status <> 'refused' ORDER BY seq" :
	    "SELECT seq, room_id, changeset, hlc, schema_version FROM"
	    " local_outbox WHERE status = 'pending' AND seq BETWEEN ?2 AND ?3"
	    " ORDER BY seq", &st)) != 0)
		goto out;
	sqlite3_bind_int64(st, 2, lo);
	sqlite3_bind_int64(st, 3, hi);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);
		const char *room = (const char *)sqlite3_column_text(st, 1);
		const void *raw;
		size_t rawlen, t;
		void *owned = NULL;
		int added;

		if (room == NULL)
			continue;
		/* Its envelope: the same as the last entry's, most often. */
		for (t = 0; t < n; t++) {
			k = (last + t) % n;
			if (r[k].first <= seq && seq <= r[k].last &&
			    strcmp(r[k].room, room) == 0)
				break;
		}
		if (t == n)
			continue;	/* another envelope's, or none yet */
		last = k;
		if ((rc = store_outbox_raw(sqlite3_column_blob(st, 2),
		    (size_t)sqlite3_column_bytes(st, 2), &raw, &rawlen,
		    &owned)) != 0)
			goto out;
		added = rawlen <= INT32_MAX ? sqlite3changegroup_add(m[k].cg,
		    (int)rawlen, (void *)raw) : SQLITE_TOOBIG;
		free(owned);
		if (added != SQLITE_OK) {
			log_warnx("sync: entry %" PRId64 " of envelope %" PRId64
			    "..%" PRId64 " cannot be merged", seq, r[k].first,
			    r[k].last);
			rc = RK_EDB;
			goto out;
		}
		m[k].hlc = (uint64_t)sqlite3_column_int64(st, 3);
		m[k].schema = (uint16_t)sqlite3_column_int(st, 4);
		m[k].count++;
	}
	if (rc != SQLITE_DONE) {
		rc = store_sqlite_err(db);
		goto out;
	}
	rc = 0;
	for (k = 0; k < n && rc == 0; k++) {
		if (m[k].count == 0) {
			log_warnx("sync: envelope %" PRId64 "..%" PRId64 " of "
			    "room %s has no outbox entries", r[k].first,
			    r[k].last, r[k].room);
			rc = RK_EDB;
		} else if (sqlite3changegroup_output(m[k].cg, &out[k].n,
		    &out[k].cs) != SQLITE_OK) {
			rc = RK_ENOMEM;
		}
		out[k].hlc = m[k].hlc;
		out[k].schema = m[k].schema;
	}
out:
	for (k = 0; k < n; k++)
		sqlite3changegroup_delete(m[k].cg);
	free(m);
	store_finalize(st);
	if (rc != 0)
		range_out_free(out, n);
	return rc;
}

static void
range_out_free(struct range_out *out, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++) {
		sqlite3_free(out[k].cs);
		out[k].cs = NULL;
		out[k].n = 0;
	}
}

int
sync_build_envelopes(sqlite3 *db, const struct sync_range *r, size_t n,
    const uint8_t sign_sk[64], struct buf *out, size_t *lens)
{
	struct range_out *m;
	struct envelope e;
	size_t k, at;
	int rc;

	if (n == 0)
		return 0;
	if ((m = calloc(n, sizeof(*m))) == NULL)
		return RK_ENOMEM;
	if ((rc = sync_ranges_merge(db, r, n, 0, m)) != 0)
		goto out;
	for (k = 0; k < n && rc == 0; k++) {
		memset(&e, 0, sizeof(e));
		snprintf(e.origin, sizeof(e.origin), "%s", r[k].origin);
		snprintf(e.room, sizeof(e.room), "%s", r[k].room);
		e.seq_first = (uint64_t)r[k].first;
		e.seq_last = (uint64_t)r[k].last;
		e.hlc = m[k].hlc;
		e.schema_version = m[k].schema;
		e.changeset = m[k].cs;	/* borrowed: freed below */
		e.changeset_len = (size_t)m[k].n;
		at = out->len;
		rc = envelope_encode(&e, sign_sk, out);
		lens[k] = out->len - at;
	}
	range_out_free(m, n);
out:
	free(m);
	return rc;
}

int
sync_build_envelope(sqlite3 *db, const struct sync_range *r,
    const uint8_t sign_sk[64], struct buf *out)
{
	size_t len;

	return sync_build_envelopes(db, r, 1, sign_sk, out, &len);
}

/* One result of a push answer, as sync_push_results reads it. */
struct push_result {
	const char *origin;		/* borrowed from the answer */
	struct env_answer a;		/* a.why borrowed from the answer */
	int known;			/* an envelope of ours, waiting */
};

/* Finds the envelope of each result among those waiting for an answer
 * (an answer about any other, or about one envelope twice, changes
 * nothing). */
static int
push_results_known(sqlite3 *db, struct push_result *res, size_t nres)
{
	sqlite3_stmt *st = NULL;
	size_t k, q;
	int rc;

	if ((rc = store_prepare(db, "SELECT room_id FROM local_outbox_envelopes"
	    " WHERE env_first = ?1 AND env_last = ?2 AND origin = ?3 AND"
	    " answered = 0", &st)) != 0)
		return rc;
	for (k = 0; k < nres; k++) {
		struct env_answer *a = &res[k].a;
		const char *room;

		for (q = 0; q < k; q++)
			if (res[q].known && res[q].a.first == a->first)
				break;
		if (q < k)
			continue;
		sqlite3_bind_int64(st, 1, a->first);
		sqlite3_bind_int64(st, 2, a->last);
		sqlite3_bind_text(st, 3, res[k].origin, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && (room = (const char *)
		    sqlite3_column_text(st, 0)) != NULL &&
		    strlen(room) < sizeof(a->room)) {
			memcpy(a->room, room, strlen(room) + 1);
			res[k].known = 1;
		} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			rc = store_sqlite_err(db);
			sqlite3_reset(st);
			goto out;
		}
		sqlite3_reset(st);
	}
	rc = 0;
out:
	store_finalize(st);
	return rc;
}

int
sync_push_results(sqlite3 *db, json_t *answer, int64_t *refused,
    int64_t *deferred, char *reason, size_t reasonlen, struct rk_why *why)
{
	sqlite3_stmt *rec = NULL;
	json_t *results = json_object_get(answer, "results"), *r;
	struct push_result *res = NULL, *p;
	struct env_answer *now = NULL, *a;
	size_t nres, nnow = 0, i;
	int rc;

	*refused = *deferred = 0;
	if (reason != NULL && reasonlen > 0)
		reason[0] = '\0';
	if (!json_is_array(results))
		return rk_whyf(why, RK_EPROTO, "the hub's push answer has no "
		    "results");
	/* Every result is read and checked before anything is written. */
	nres = json_array_size(results);
	if (nres > 0 && ((res = calloc(nres, sizeof(*res))) == NULL ||
	    (now = calloc(nres, sizeof(*now))) == NULL)) {
		free(res);
		return rk_whyf(why, RK_ENOMEM, "out of memory");
	}
	json_array_foreach(results, i, r) {
		const char *status = json_string_value(json_object_get(r,
		    "status"));
		json_t *jf = json_object_get(r, "seq_first");
		json_t *jl = json_object_get(r, "seq_last");

		p = &res[i];
		p->origin = json_string_value(json_object_get(r, "origin"));
		p->a.why = json_string_value(json_object_get(r, "reason"));
		if (p->origin == NULL || status == NULL ||
		    !json_is_integer(jf) || !json_is_integer(jl)) {
			rc = rk_whyf(why, RK_EPROTO, "the hub's push answer "
			    "is malformed");
			goto out;
		}
		p->a.first = json_integer_value(jf);
		p->a.last = json_integer_value(jl);
		if (p->a.why == NULL || p->a.why[0] == '\0')
			p->a.why = "no reason given";
		if (strcmp(status, "applied") == 0 ||
		    strcmp(status, "duplicate") == 0) {
			p->a.kind = PR_ACK;
			p->a.hub_seq = json_integer_value(json_object_get(r,
			    "hub_seq"));
		} else if (strcmp(status, "refused") == 0) {
			/* retry: not final, the entries go again. */
			p->a.kind = json_is_true(json_object_get(r, "retry")) ?
			    PR_LATER : PR_REFUSED;
		} else {
			rc = rk_whyf(why, RK_EPROTO, "the hub answered status "
			    "'%s' for a push", status);
			goto out;
		}
	}
	if ((rc = db_exec(db, "BEGIN IMMEDIATE")) != 0) {
		rc = rk_whyf(why, rc, "cannot record the hub's answer");
		goto out;
	}
	/*
	 * The answer goes on the envelopes' rows, one each, not on the
	 * entries they carry: those take it when settled, most often in
	 * the pull that brings them back (batch_echo).  A deferred result
	 * is not recorded: the envelope goes again as it is.
	 */
	if ((rc = push_results_known(db, res, nres)) != 0 ||
	    (rc = store_prepare(db, "UPDATE local_outbox_envelopes SET"
	    " answered = 1, result = ?2, hub_seq = ?3, reason = ?4, settled = 0"
	    " WHERE env_first = ?1", &rec)) != 0) {
		rk_whyf(why, rc, "cannot record the hub's answer: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	for (i = 0; i < nres; i++) {
		p = &res[i];
		if (!p->known)
			continue;
		if (p->a.kind != PR_ACK)
			now[nnow++] = p->a;
		if (p->a.kind == PR_LATER)
			continue;
		sqlite3_bind_int64(rec, 1, p->a.first);
		if (p->a.kind == PR_ACK) {
			sqlite3_bind_text(rec, 2, "acked", -1, SQLITE_STATIC);
			sqlite3_bind_int64(rec, 3, p->a.hub_seq);
			sqlite3_bind_null(rec, 4);
		} else {
			sqlite3_bind_text(rec, 2, "refused", -1, SQLITE_STATIC);
			sqlite3_bind_null(rec, 3);
			sqlite3_bind_text(rec, 4, p->a.why, -1, SQLITE_STATIC);
		}
		rc = sqlite3_step(rec) == SQLITE_DONE ? 0 :
		    store_sqlite_err(db);
		sqlite3_reset(rec);
		if (rc != 0) {
			rk_whyf(why, rc, "cannot record the hub's answer: %s",
			    sqlite3_errmsg(db));
			goto out;
		}
	}
	/* Refusals, rare and final, are settled now: whoever lists refused
	 * entries finds them as ever.  Deferred ones are only counted. */
	if (nnow > 0 && (rc = answers_settle(db, now, nnow)) != 0) {
		rk_whyf(why, rc, "cannot record the hub's answer: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	/* In the answer's order: the first refusal's reason is the one
	 * shown. */
	for (i = 0; i < nnow; i++) {
		a = &now[i];
		if (a->entries == 0)
			continue;
		if (*refused == 0 && *deferred == 0 && reason != NULL &&
		    reasonlen > 0)
			snprintf(reason, reasonlen, "%s", a->why);
		if (a->kind == PR_LATER) {
			*deferred += a->entries;
			log_warnx("sync: the hub did not take changes %" PRId64
			    "..%" PRId64 " yet: %s", a->first, a->last, a->why);
		} else {
			*refused += a->entries;
			log_warnx("sync: the hub refused changes %" PRId64
			    "..%" PRId64 ": %s", a->first, a->last, a->why);
		}
	}
	rc = db_exec(db, "COMMIT");
	if (rc != 0)
		rk_whyf(why, rc, "cannot record the hub's answer");
out:
	if (rc != 0)
		db_rollback(db);
	store_finalize(rec);
	free(now);	/* its reasons are borrowed from the answer */
	free(res);
	return rc;
}

/* --- backoff and URLs ----------------------------------------------------- */

int64_t
sync_backoff_ms(unsigned failures, uint32_t rnd)
{
	int64_t base = SYNC_BACKOFF_MIN_MS;
	unsigned i;

	for (i = 1; i < failures && base < SYNC_BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > SYNC_BACKOFF_MAX_MS)
		base = SYNC_BACKOFF_MAX_MS;
	/* 0.8 .. 1.2 times base, rnd spread evenly over it. */
	return base * 8 / 10 + (int64_t)((uint64_t)base * 4 / 10 * rnd >> 32);
}

static int
url_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char tmp[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n >= 2 && n < sizeof(tmp) && host[0] == '[' && host[n - 1] == ']') {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		return inet_pton(AF_INET6, tmp, &a6) == 1 &&
		    memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	}
	return 0;
}

int
sync_check_url(const char *url, struct rk_why *why)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL;
	const char *p;
	int rc = 0;

	if (url == NULL || url[0] == '\0')
		return rk_whyf(why, RK_EINVAL, "hub: a URL is needed "
		    "(https://...)");
	if (strlen(url) >= sizeof(((struct rk_conf *)0)->hub_url))
		return rk_whyf(why, RK_EINVAL, "hub: the URL is too long");
	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return rk_whyf(why, RK_EINVAL, "hub: the URL may not "
			    "hold spaces or control characters");
	if ((u = curl_url()) == NULL)
		return RK_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		rc = rk_whyf(why, RK_EINVAL, "hub: '%s' is not a URL "
		    "(https://host[:port]/)", url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
		rc = rk_whyf(why, RK_EINVAL, "hub: the URL may not carry a "
		    "user name or a query");
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0)
		goto out;
	if (strcasecmp(scheme, "http") != 0) {
		rc = rk_whyf(why, RK_EINVAL, "hub: use https:// (not %s)",
		    scheme);
		goto out;
	}
	if (!url_host_is_loopback(host))
		rc = rk_whyf(why, RK_EINVAL, "plain http only to loopback: "
		    "use https");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(query);
	curl_url_cleanup(u);
	return rc;
}

/* --- HTTP ----------------------------------------------------------------- */

static size_t
http_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (x->body->len + n > x->cap) {
		x->too_big = 1;
		return 0;	/* aborts the transfer */
	}
	if (buf_append(x->body, p, n) != 0)
		return 0;
	return n;
}

static int
http_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = arg;
	struct sync *sy = x->sy;
	int stop;

	pthread_mutex_lock(&sy->mu);
	stop = sy->stop;
	if (ultotal > 0 && ulnow < ultotal) {
		sy->bytes = (int64_t)ulnow;
		sy->bytes_total = (int64_t)ultotal;
	} else {
		sy->bytes = (int64_t)dlnow;
		sy->bytes_total = (int64_t)dltotal;
	}
	pthread_mutex_unlock(&sy->mu);
	return stop;	/* non-zero aborts with CURLE_ABORTED_BY_CALLBACK */
}

/*
 * A 2xx answer to a signed request must carry the hub's signature over
 * this request's nonce, its status and its body (wire.h, ANSWER
 * SIGNATURE): an answer recorded earlier and played back -- an empty pull
 * hiding new changes, a push answer acking entries the hub never took --
 * is refused here, before anything reads it.
 */
static int
http_answer_check(struct sync *sy, CURL *c, const struct hubcfg *h,
    const char *nonce, const struct http_resp *r, struct rk_why *why)
{
	struct curl_header *hd = NULL;
	const char *sig = NULL;

	if (curl_easy_header(c, "Renkei-Answer-Signature", 0, CURLH_HEADER,
	    -1, &hd) == CURLHE_OK && hd != NULL)
		sig = hd->value;
	if (sig == NULL)
		return rk_whyf(why, RK_EAUTH, "the hub's answer is not signed "
		    "(is this a renkei hub, or an old one?)");
	if (reqsig_answer_verify(h->pk, sy->device_id, nonce,
	    (unsigned)r->status, r->body.data, r->body.len, sig) != 0)
		return rk_whyf(why, RK_EAUTH, "the hub's answer is not signed "
		    "for this request (played back, or not from the hub the "
		    "device enrolled with)");
	return 0;
}

/* A failed transfer in words for a person. */
static int
http_curl_error(CURLcode cc, const char *errbuf, const struct xfer *x,
    struct rk_why *why)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(cc);

	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return rk_whyf(why, RK_EUNAVAIL, "hub unreachable (connection "
		    "refused)");
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return rk_whyf(why, RK_EUNAVAIL, "hub unreachable (cannot "
		    "resolve its name: no network?)");
	case CURLE_OPERATION_TIMEDOUT:
		return rk_whyf(why, RK_EUNAVAIL, "hub unreachable (timed out)");
	case CURLE_ABORTED_BY_CALLBACK:
		return rk_whyf(why, RK_EBUSY, "sync stopped");
	case CURLE_WRITE_ERROR:
		if (x->too_big)
			return rk_whyf(why, RK_EPROTO, "the hub's answer is "
			    "too large");
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return rk_whyf(why, RK_EAUTH, "the hub's certificate is not "
		    "trusted (%s)", detail);
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return rk_whyf(why, RK_EAUTH, "the hub's certificate does not "
		    "match the pinned key");
	case CURLE_SSL_CONNECT_ERROR:
		return rk_whyf(why, RK_EUNAVAIL, "hub unreachable (TLS: %s)",
		    detail);
	default:
		break;
	}
	return rk_whyf(why, RK_EUNAVAIL, "hub unreachable (%s)", detail);
}

/* An HTTP error answer in words: the hub's own, when it gave some. */
static int
http_status_error(const struct http_resp *r, struct rk_why *why)
{
	json_t *j = NULL;
	const char *text = NULL;
	int rc;

	if (r->body.len > 0)
		j = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
	text = json_string_value(json_object_get(j, "error"));
	if (r->status == 403 && text != NULL && strstr(text, "revoked"))
		rc = rk_whyf(why, RK_EDENIED, "this device has been revoked by "
		    "the hub administrator");
	else if (r->status == 401 || r->status == 403)
		rc = rk_whyf(why, r->status == 401 ? RK_EAUTH : RK_EDENIED,
		    "hub refused the request: %s", text ? text :
		    (r->status == 401 ? "not authenticated" : "forbidden"));
	else if (r->status >= 500)
		rc = rk_whyf(why, RK_EUNAVAIL, "hub error (HTTP %ld)%s%s",
		    r->status, text ? ": " : "", text ? text : "");
	else if (r->status == 404 && text == NULL)
		rc = rk_whyf(why, RK_EPROTO, "hub refused the request: HTTP "
		    "404 (is the URL a renkei hub?)");
	else
		rc = rk_whyf(why, r->status == 404 ? RK_ENOTFOUND :
		    r->status == 400 ? RK_EINVAL : RK_EPROTO,
		    "hub refused the request: %s (HTTP %ld)",
		    text ? text : "no reason given", r->status);
	json_decref(j);
	return rc;
}

/*
 * One request to the hub.  path is as signed ("/v1/pull?after=3"); the
 * answer of any status is in r (the caller releases r->body).  Returns
 * non-zero only when no answer came.
 */
static int
http_call(struct sync *sy, CURL *c, const struct hubcfg *h, int sign,
    const char *method, const char *path, const uint8_t *body, size_t len,
    const char *ctype, size_t cap, struct http_resp *r, struct rk_why *why)
{
	struct curl_slist *hdr = NULL, *nh;
	struct reqsig_headers rs;
	struct xfer x;
	struct buf url = BUF_INIT;
	char errbuf[CURL_ERROR_SIZE], line[256];
	size_t ulen = strlen(h->url);
	enum fault_verdict fv = FAULT_SEND;
	CURLcode cc;
	int rc;

	memset(r, 0, sizeof(*r));
	errbuf[0] = '\0';
	while (ulen > 0 && h->url[ulen - 1] == '/')
		ulen--;
	if ((rc = buf_append(&url, h->url, ulen)) != 0 ||
	    (rc = buf_append(&url, path, strlen(path) + 1)) != 0)
		goto out;
	if (sign) {
		if ((rc = reqsig_sign(sy->device_id, sy->k->sign_sk, method,
		    path, body ? body : (const uint8_t *)"", len, sy->clock,
		    &rs)) != 0) {
			rk_whyf(why, rc, "cannot sign the request");
			goto out;
		}
	}
#define HDR(...) do {							\
		snprintf(line, sizeof(line), __VA_ARGS__);		\
		if ((nh = curl_slist_append(hdr, line)) == NULL) {	\
			rc = RK_ENOMEM;					\
			goto out;					\
		}							\
		hdr = nh;						\
	} while (0)
	HDR("Expect:");
	if (ctype != NULL)
		HDR("Content-Type: %s", ctype);
	if (sign) {
		HDR("Renkei-Device: %s", rs.device);
		HDR("Renkei-Time: %s", rs.time);
		HDR("Renkei-Nonce: %s", rs.nonce);
		HDR("Renkei-Signature: %s", rs.signature);
	}
#undef HDR
	memset(&x, 0, sizeof(x));
	x.sy = sy;
	x.body = &r->body;
	x.cap = cap;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, (const char *)url.data);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "renkei/1");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, SYNC_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, SYNC_LOW_SPEED_BYTES);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, SYNC_LOW_SPEED_TIME);
	if (h->timeout_s > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT, h->timeout_s);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->pin[0])
		curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, h->pin);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)
		    body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	/* Tests may lose, repeat or delay requests (fault.h). */
	if ((rc = fault_before(method, path, &fv, why)) != 0)
		goto out;
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		rc = http_curl_error(cc, errbuf, &x, why);
		log_debug("sync: %s %s: %s", method, path, why ? why->text :
		    curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	/* Read before a fault's second send replaces the headers. */
	if (sign && r->status >= 200 && r->status < 300 &&
	    (rc = http_answer_check(sy, c, h, rs.nonce, r, why)) != 0)
		goto out;
	rc = 0;
	if (fv == FAULT_SEND_TWICE) {
		struct buf again = BUF_INIT;

		x.body = &again;
		(void)curl_easy_perform(c);
		x.body = &r->body;
		buf_release(&again);
	} else if (fv == FAULT_LOSE_ANSWER) {
		rc = fault_lost(why);
	}
out:
	if (rc != 0)
		buf_release(&r->body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdr);
	buf_release(&url);
	sodium_memzero(&rs, sizeof(rs));
	return rc;
}

/* A JSON answer with status 2xx into *out (json_decref). */
static int
http_json(struct sync *sy, CURL *c, const struct hubcfg *h, int sign,
    const char *method, const char *path, json_t *in, json_t **out,
    struct rk_why *why)
{
	struct http_resp r;
	char *body = NULL;
	json_t *j = NULL;
	int rc;

	if (in != NULL && (body = json_dumps(in, JSON_COMPACT)) == NULL)
		return RK_ENOMEM;
	rc = http_call(sy, c, h, sign, method, path, (const uint8_t *)body,
	    body ? strlen(body) : 0, body ? "application/json" : NULL,
	    SYNC_MAX_SMALL, &r, why);
	free(body);
	if (rc != 0)
		return rc;
	if (r.status < 200 || r.status > 299) {
		rc = http_status_error(&r, why);
		goto out;
	}
	if ((j = json_loadb((const char *)r.body.data, r.body.len, 0,
	    NULL)) == NULL || !json_is_object(j)) {
		rc = rk_whyf(why, RK_EPROTO, "the hub's answer to %s is not "
		    "JSON", path);
		goto out;
	}
	*out = j;	/* the caller's: json_decref */
	j = NULL;
out:
	json_decref(j);
	buf_release(&r.body);
	return rc;
}

/* --- the engine: state shared with the API thread ------------------------ */

static void
sync_set_phase(struct sync *sy, const char *phase, int64_t done,
    int64_t total)
{
	pthread_mutex_lock(&sy->mu);
	sy->phase = phase;
	sy->done = done;
	sy->total = total;
	sy->bytes = sy->bytes_total = 0;
	pthread_mutex_unlock(&sy->mu);
}

/* Takes the store lock for an attempt made with h; RK_EBUSY (lock not
 * held) if enrolment changed the hub or the engine is stopping since. */
static int
sync_lock(struct sync *sy, const struct hubcfg *h, struct rk_why *why)
{
	int stale;

	store_lock(sy->s);
	pthread_mutex_lock(&sy->mu);
	stale = sy->gen != h->gen || sy->stop;
	pthread_mutex_unlock(&sy->mu);
	if (stale) {
		store_unlock(sy->s);
		return rk_whyf(why, RK_EBUSY, "sync interrupted");
	}
	return 0;
}

/* Folds the hub's timestamps into this replica's clock (store lock held):
 * edits made here after a pull then order after what was pulled. */
static void
sync_observe(struct sync *sy, uint64_t hlc)
{
	if (hlc != 0 && store_hlc_observe(sy->s, hlc) != 0)
		log_warnx("sync: the hub's timestamps run far ahead of this "
		    "device's clock: check the date and time here");
}

/* Reloads what sync_progress shows from the replica (store lock held). */
static void
sync_refresh_locked(struct sync *sy)
{
	sqlite3 *db = store_db(sy->s);
	int64_t cur = 0, head = 0, pend = 0, ref = 0, last = 0;
	char err[512], refusal[512];

	if (meta_get_text(db, META_LAST_REFUSAL, refusal, sizeof(refusal)) !=
	    0 || meta_get_i64(db, META_CURSOR, &cur) != 0 ||
	    meta_get_i64(db, META_HEAD, &head) != 0 ||
	    meta_get_i64(db, META_LAST_SYNC, &last) != 0 ||
	    meta_get_text(db, META_LAST_ERROR, err, sizeof(err)) != 0 ||
	    db_int(db, "SELECT count(*) FROM local_outbox_waiting", NULL,
	    &pend) != 0 ||
	    db_int(db, "SELECT count(*) FROM local_outbox WHERE status ="
	    " 'refused'", NULL, &ref) != 0)
		return;
	pthread_mutex_lock(&sy->mu);
	sy->cursor = cur;
	sy->head = head;
	sy->last_sync = last;
	snprintf(sy->last_error, sizeof(sy->last_error), "%s", err);
	snprintf(sy->last_refusal, sizeof(sy->last_refusal), "%s", refusal);
	sy->pending = pend;
	sy->refused = ref;
	sy->in_step = pend == 0 && cur == head;
	pthread_mutex_unlock(&sy->mu);
}

/* --- one attempt: push ---------------------------------------------------- */

static int
sync_push(struct sync *sy, CURL *c, const struct hubcfg *h,
    int64_t *refused, int64_t *deferred, char *reason, size_t reasonlen,
    struct rk_why *why)
{
	struct sync_range *ranges = NULL;
	struct buf body = BUF_INIT, env = BUF_INIT;
	struct http_resp r;
	json_t *answer = NULL;
	size_t n = 0, i = 0, j, nenv, lens[SYNC_BUILD_WINDOW];
	int64_t total = 0, done = 0, ref, def;
	int full;
	char first_reason[256];
	uint8_t lenb[4];
	int rc;

	memset(&r, 0, sizeof(r));
	*refused = *deferred = 0;
	if ((rc = sync_lock(sy, h, why)) != 0)
		return rc;
	/* An answer a failed pull (or a crash) left unsettled is settled
	 * here, at the latest; most often there is none. */
	rc = sync_settle(store_db(sy->s));
	if (rc == 0)
		rc = sync_assign_ranges(store_db(sy->s), SYNC_ENV_MAX_ENTRIES,
		    SYNC_ENV_MAX_RAW);
	if (rc == 0)
		rc = sync_pending_ranges(store_db(sy->s), &ranges, &n);
	if (rc == 0)
		rc = db_int(store_db(sy->s), "SELECT count(*) FROM"
		    " local_outbox_waiting", NULL, &total);
	store_unlock(sy->s);
	if (rc != 0) {
		rk_whyf(why, rc, "cannot read the outbox");
		goto out;
	}
	if (n == 0)
		goto out;
	sync_set_phase(sy, "push", 0, total);
	while (i < n) {
		/* As many envelopes as one request may carry. */
		if ((rc = sync_lock(sy, h, why)) != 0)
			goto out;
		for (j = i, nenv = 0, full = 0; !full && j < n &&
		    nenv < WIRE_MAX_ENVELOPES;) {
			/* A window of envelopes from one walk over the
			 * outbox; what does not fit goes in the next
			 * request, built again. */
			size_t w = n - j, at = 0, k;

			if (w > SYNC_BUILD_WINDOW)
				w = SYNC_BUILD_WINDOW;
			if (w > WIRE_MAX_ENVELOPES - nenv)
				w = WIRE_MAX_ENVELOPES - nenv;
			env.len = 0;
			if ((rc = sync_build_envelopes(store_db(sy->s),
			    &ranges[j], w, sy->k->sign_sk, &env, lens)) != 0)
				break;
			for (k = 0; k < w; k++, j++, nenv++) {
				if (body.len + 4 + lens[k] > WIRE_MAX_BODY) {
					if (j == i)
						rc = RK_EINVAL;
					full = 1;
					break;
				}
				lenb[0] = (uint8_t)lens[k];
				lenb[1] = (uint8_t)(lens[k] >> 8);
				lenb[2] = (uint8_t)(lens[k] >> 16);
				lenb[3] = (uint8_t)(lens[k] >> 24);
				if ((rc = buf_append(&body, lenb, 4)) != 0 ||
				    (rc = buf_append(&body, env.data + at,
				    lens[k])) != 0) {
					full = 1;
					break;
				}
				at += lens[k];
			}
		}
		store_unlock(sy->s);
		if (rc != 0) {
			rk_whyf(why, rc, "cannot prepare outbox entries %"
			    PRId64 "..%" PRId64 " for sending",
			    ranges[j].first, ranges[j].last);
			goto out;
		}
		if ((rc = http_call(sy, c, h, 1, "POST", "/v1/push", body.data,
		    body.len, "application/octet-stream", SYNC_MAX_SMALL, &r,
		    why)) != 0)
			goto out;
		if (r.status != 200) {
			rc = http_status_error(&r, why);
			goto out;
		}
		if ((answer = json_loadb((const char *)r.body.data, r.body.len,
		    0, NULL)) == NULL) {
			rc = rk_whyf(why, RK_EPROTO, "the hub's push answer is "
			    "not JSON");
			goto out;
		}
		if ((rc = sync_lock(sy, h, why)) != 0)
			goto out;
		/* Answers lost in a power cut are asked for again: the
		 * entries stay pending, go again, and come back as
		 * duplicates (store_set_durable). */
		if ((rc = store_set_durable(sy->s, 0)) == 0) {
			rc = sync_push_results(store_db(sy->s), answer, &ref,
			    &def, first_reason, sizeof(first_reason), why);
			if (store_set_durable(sy->s, 1) != 0 && rc == 0)
				rc = rk_whyf(why, RK_EDB, "cannot make commits "
				    "durable again");
		}
		store_unlock(sy->s);
		if (rc != 0)
			goto out;
		if ((ref > 0 || def > 0) && *refused == 0 && *deferred == 0)
			snprintf(reason, reasonlen, "%s", first_reason);
		*refused += ref;
		*deferred += def;
		for (; i < j; i++)
			done += ranges[i].last - ranges[i].first + 1;
		sync_set_phase(sy, "push", done, total);
		json_decref(answer);
		answer = NULL;
		buf_release(&r.body);
		body.len = 0;
	}
out:
	json_decref(answer);
	buf_release(&r.body);
	buf_release(&body);
	buf_release(&env);
	free(ranges);
	return rc;
}

/* --- one attempt: pull and snapshots ------------------------------------- */

/* GET a pull or snapshot answer and verify it; *gone on 410. */
static int
sync_fetch(struct sync *sy, CURL *c, const struct hubcfg *h,
    const char *path, struct pull_response *out, int *gone, long *status,
    struct rk_why *why)
{
	struct http_resp r;
	int rc;

	*gone = 0;
	*status = 0;
	if ((rc = http_call(sy, c, h, 1, "GET", path, NULL, 0, NULL,
	    SYNC_MAX_RESPONSE, &r, why)) != 0)
		return rc;
	*status = r.status;
	if (r.status == 410) {
		*gone = 1;
		rc = 0;
		goto out;
	}
	if (r.status != 200) {
		rc = http_status_error(&r, why);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	if ((rc = pull_decode(r.body.data, r.body.len, h->pk, out)) != 0) {
		rc = rk_whyf(why, rc == RK_EAUTH ? RK_EAUTH : RK_EPROTO,
		    rc == RK_EAUTH ? "the hub's answer fails its signature "
		    "check (is this the hub the device enrolled with?)" :
		    "the hub's answer is malformed");
		goto out;
	}
out:
	buf_release(&r.body);
	return rc;
}

/* The room ids in ctl[key] into a NULL-terminated array (free() it). */
static int
ctl_rooms(json_t *ctl, const char *key, char ***out, size_t *n,
    struct rk_why *why)
{
	json_t *a = json_object_get(ctl, key), *v;
	char **list = NULL;
	size_t i;

	*out = NULL;
	*n = 0;
	if (a == NULL)
		return 0;
	if (!json_is_array(a))
		return rk_whyf(why, RK_EPROTO, "the hub's %s list is malformed",
		    key);
	if ((list = calloc(json_array_size(a) + 1, sizeof(*list))) == NULL)
		return RK_ENOMEM;
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);

		/* "" is the directory: it may be snapshotted, not purged. */
		if (s == NULL || (s[0] == '\0' ? strcmp(key, "snapshot") != 0 :
		    !id_valid_name(s))) {
			free(list);
			return rk_whyf(why, RK_EPROTO, "the hub named a bad "
			    "room in %s", key);
		}
		list[i] = (char *)s;	/* borrowed from ctl */
	}
	*out = list;
	*n = json_array_size(a);
	return 0;
}

/* Applies b under the store lock and folds the hub's clock into ours. */
static int
sync_apply_locked(struct sync *sy, const struct hubcfg *h,
    struct sync_batch *b, struct rk_why *why)
{
	int rc;

	if ((rc = sync_lock(sy, h, why)) != 0)
		return rc;
	rc = sync_apply_batch(store_db(sy->s), b, why);
	if (rc == 0)
		sync_observe(sy, b->hlc_seen);
	store_unlock(sy->s);
	return rc;
}

/*
 * One snapshot request in flight on its own thread and CURL handle, so the
 * hub prepares (and the wire carries, and this thread verifies and
 * decompresses) the next answer while the last one is being applied.
 * Nothing here touches the replica.
 */
struct snap_fetch {
	struct sync *sy;
	CURL *c;
	const struct hubcfg *h;
	struct buf path;
	size_t asked[WIRE_SNAPSHOT_ROOMS_MAX];
	size_t nask;
	int joined;		/* the request asks for the rooms joined */
	struct pull_response resp;
	int gone;
	long status;
	int rc;
	struct rk_why why;
	pthread_t thread;
	int running;
	int own_c;		/* c was made here (else it is the caller's) */
};

static void *
snap_fetch_main(void *arg)
{
	struct snap_fetch *f = arg;

	f->rc = sync_fetch(f->sy, f->c, f->h, (const char *)f->path.data,
	    &f->resp, &f->gone, &f->status, &f->why);
	return NULL;
}

/* Asks for the next rooms whose state is 0 (marking them 3: asked), in
 * order, and with joined for the rooms joined too; *started 0 when there
 * is nothing to ask for. */
static int
snap_fetch_start(struct snap_fetch *f, char *const *rooms, size_t n,
    unsigned char *state, int joined, int *started)
{
	size_t i;
	int rc;

	*started = 0;
	f->path.len = 0;
	f->nask = 0;
	memset(&f->resp, 0, sizeof(f->resp));
	f->why.text[0] = '\0';
	if ((rc = buf_appendf(&f->path, "/v1/snapshot?")) != 0)
		return rc;
	for (i = 0; i < n && f->nask < WIRE_SNAPSHOT_ROOMS_MAX; i++) {
		if (state[i] != 0)
			continue;
		if ((rc = buf_appendf(&f->path, "%s%s", f->nask ? "," :
		    "rooms=", rooms[i])) != 0)
			return rc;
		f->asked[f->nask++] = i;
	}
	if (f->nask == 0 && !joined)
		return 0;
	if (joined && (rc = buf_appendf(&f->path, "%sjoined=1", f->nask ?
	    "&" : "")) != 0)
		return rc;
	if ((rc = buf_append(&f->path, "", 1)) != 0)
		return rc;
	for (i = 0; i < f->nask; i++)
		state[f->asked[i]] = 3;
	f->joined = joined;
	if (pthread_create(&f->thread, NULL, snap_fetch_main, f) != 0)
		return RK_ENOMEM;
	f->running = 1;
	*started = 1;
	return 0;
}

static void
snap_fetch_join(struct snap_fetch *f)
{
	if (f->running) {
		pthread_join(f->thread, NULL);
		f->running = 0;
	}
}

static void
snap_fetch_free(struct snap_fetch *f)
{
	if (f == NULL)
		return;
	snap_fetch_join(f);
	pull_response_release(&f->resp);
	buf_release(&f->path);
	if (f->own_c && f->c != NULL)
		curl_easy_cleanup(f->c);
	free(f);
}

/*
 * Fetches and applies the snapshots of rooms ("" the directory): as many
 * rooms per request as the hub gives (hub_snapshot_rooms), each answer
 * applied in one transaction while the next is fetched.  state[i] ends 1
 * for a room applied, 2 for one the hub refuses (the staff is not a
 * member any more).  *joined set: also every room the staff has joined
 * that the hub has not given this device yet (&joined=1), asked for until
 * the hub has none left; it stays set only if every answer said what was
 * left (a hub that does not know &joined=1 ignores it, and then a pull
 * must name the rooms joined).  *mincur and *maxhead take in each
 * answer's cursor and head.  progress_base and progress_total place these
 * rooms in the "snapshot" phase shown.
 */
static int
sync_snapshot_rooms(struct sync *sy, CURL *c, const struct hubcfg *h,
    char *const *rooms, size_t n, unsigned char *state, int *joined,
    uint64_t *mincur, uint64_t *maxhead, size_t progress_base,
    size_t progress_total, struct rk_why *why)
{
	struct snap_fetch *f = NULL, *next = NULL, *tmp;
	struct pull_response snap;
	const char *given[WIRE_SNAPSHOT_ROOMS_MAX];
	size_t done = 0, ngiven, nasked, i, j, k;
	json_t *ctl = NULL, *v;
	int rc = 0, progress, started, more;

	memset(&snap, 0, sizeof(snap));
	memset(state, 0, n);
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (next = calloc(1, sizeof(*next))) == NULL) {
		free(f);
		return RK_ENOMEM;
	}
	f->sy = next->sy = sy;
	f->h = next->h = h;
	/* The caller's handle (and its connection) for the first request;
	 * this thread makes no request of its own meanwhile. */
	f->c = c;
	next->own_c = 1;
	if ((next->c = curl_easy_init()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	sync_set_phase(sy, "snapshot", (int64_t)progress_base,
	    (int64_t)progress_total);
	if ((rc = snap_fetch_start(f, rooms, n, state, *joined,
	    &started)) != 0)
		goto out;
	while (started) {
		snap_fetch_join(f);
		if ((rc = f->rc) != 0) {
			rk_whyf(why, rc, "%s", f->why.text);
			break;
		}
		if (f->gone) {
			rc = rk_whyf(why, RK_EPROTO, "the hub answered 410 to a "
			    "snapshot");
			break;
		}
		snap = f->resp;
		memset(&f->resp, 0, sizeof(f->resp));
		if ((ctl = json_loads(snap.ctl_json ? snap.ctl_json : "{}", 0,
		    NULL)) == NULL) {
			rc = rk_whyf(why, RK_EPROTO, "the hub's snapshot control "
			    "is not JSON");
			break;
		}
		/* Mark what the answer covers: rooms asked for (state 3)
		 * and, when asking for the rooms joined, any other room,
		 * which must be one not given yet.  given[] points into ctl
		 * or rooms[]. */
		ngiven = nasked = 0;
		progress = 0;
		json_array_foreach(json_object_get(ctl, "rooms"), k, v) {
			const char *r = json_string_value(v);

			if (r == NULL)
				continue;
			for (i = 0; i < n; i++)
				if ((state[i] == 3 || (f->joined &&
				    state[i] == 0)) && strcmp(r, rooms[i]) == 0)
					break;
			for (j = 0; j < ngiven; j++)
				if (strcmp(given[j], r) == 0)
					break;
			if (j < ngiven || ngiven == WIRE_SNAPSHOT_ROOMS_MAX ||
			    (i == n && (!f->joined || !id_valid_name(r)))) {
				rc = rk_whyf(why, RK_EPROTO, "the hub's snapshot "
				    "answer gives a room not asked for, or "
				    "one twice");
				break;
			}
			if (i < n) {
				state[i] = 1;
				given[ngiven++] = rooms[i];
				nasked++;
			} else {
				given[ngiven++] = r;
			}
			progress = 1;
		}
		if (rc != 0)
			break;
		json_array_foreach(json_object_get(ctl, "refused"), k, v)
			for (i = 0; i < f->nask; i++)
				if (json_is_string(v) &&
				    state[f->asked[i]] == 3 &&
				    rooms[f->asked[i]][0] != '\0' &&
				    strcmp(json_string_value(v),
				    rooms[f->asked[i]]) == 0) {
					state[f->asked[i]] = 2;
					done++;
					progress = 1;
				}
		if (f->joined && !json_is_array(json_object_get(ctl,
		    "joined")))
			*joined = 0;
		more = f->joined &&
		    json_array_size(json_object_get(ctl, "joined")) > 0;
		/* Asked for and not covered: to be asked for again. */
		for (i = 0; i < f->nask; i++)
			if (state[f->asked[i]] == 3)
				state[f->asked[i]] = 0;
		if (!progress && (f->nask > 0 || more)) {
			rc = rk_whyf(why, RK_EPROTO, "the hub's snapshot answer "
			    "gives none of the rooms asked for");
			break;
		}
		/* The next request goes out before this answer is applied. */
		if ((rc = snap_fetch_start(next, rooms, n, state, more,
		    &started)) != 0)
			break;
		if (ngiven > 0) {
			struct sync_batch b;

			memset(&b, 0, sizeof(b));
			b.snap_rooms = given;
			b.nsnap = ngiven;
			b.snap = &snap;
			if ((rc = sync_apply_locked(sy, h, &b, why)) != 0)
				break;
			done += nasked;
			if (snap.next_cursor < *mincur)
				*mincur = snap.next_cursor;
			if (snap.head > *maxhead)
				*maxhead = snap.head;
			log_info("sync: snapshot of %zu room(s) applied (%zu "
			    "chunk(s), hub seq %" PRIu64 ")", ngiven,
			    snap.count, snap.next_cursor);
			sync_set_phase(sy, "snapshot", (int64_t)(progress_base +
			    done), (int64_t)progress_total);
		}
		json_decref(ctl);
		ctl = NULL;
		pull_response_release(&snap);
		memset(&snap, 0, sizeof(snap));
		tmp = f;
		f = next;
		next = tmp;
	}
out:
	json_decref(ctl);
	pull_response_release(&snap);
	snap_fetch_free(f);
	snap_fetch_free(next);
	return rc;
}

/*
 * The directory and every room held here, from snapshots: after enrolment,
 * or when the hub has compacted its log past the cursor (410).  A room the
 * hub will not give any more is purged, unless it has unsent changes
 * (a room created here and not yet pushed).  *at_head: every answer was
 * at one hub seq, so a pull after it would bring nothing the snapshots
 * did not (rooms joined meanwhile are named by the next pull).
 */
static int
sync_full_snapshot(struct sync *sy, CURL *c, const struct hubcfg *h,
    int *at_head, struct rk_why *why)
{
	sqlite3_stmt *st = NULL;
	char **rooms = NULL, **nr;
	unsigned char *state = NULL;
	size_t n = 0, cap = 0, i;
	uint64_t mincur = UINT64_MAX, maxhead = 0;
	int64_t pend = 0;
	int rc, joined = 1;

	*at_head = 0;
	if ((rc = sync_lock(sy, h, why)) != 0)
		return rc;
	/* The directory first, then the rooms. */
	cap = 16;
	if ((rooms = malloc(cap * sizeof(*rooms))) == NULL ||
	    (rooms[0] = strdup("")) == NULL) {
		store_unlock(sy->s);
		free(rooms);
		return RK_ENOMEM;
	}
	n = 1;
	rc = store_prepare(store_db(sy->s), "SELECT room_id FROM rooms ORDER BY"
	    " room_id", &st);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 0);

		if (r == NULL || r[0] == '\0')
			continue;
		if (n == cap) {
			cap *= 2;
			if ((nr = realloc(rooms, cap * sizeof(*rooms))) ==
			    NULL) {
				rc = RK_ENOMEM;
				break;
			}
			rooms = nr;
		}
		if ((rooms[n] = strdup(r)) == NULL)
			rc = RK_ENOMEM;
		else
			n++;
	}
	store_finalize(st);
	store_unlock(sy->s);
	if (rc != 0)
		goto out;
	if ((state = calloc(n, 1)) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	if ((rc = sync_snapshot_rooms(sy, c, h, rooms, n, state, &joined,
	    &mincur, &maxhead, 0, n, why)) != 0)
		goto out;
	if (state[0] != 1) {
		rc = rk_whyf(why, RK_EPROTO, "the hub did not give the "
		    "directory's snapshot");
		goto out;
	}
	for (i = 1; i < n; i++) {
		const char *purge[1] = { rooms[i] };
		struct sync_batch b;

		if (state[i] != 2)
			continue;
		if ((rc = sync_lock(sy, h, why)) != 0)
			goto out;
		rc = db_int(store_db(sy->s), "SELECT count(*) FROM"
		    " local_outbox_waiting WHERE room_id = ?1", rooms[i],
		    &pend);
		if (rc == 0 && pend == 0) {
			memset(&b, 0, sizeof(b));
			b.purge = purge;
			b.npurge = 1;
			rc = sync_apply_batch(store_db(sy->s), &b, why);
			log_warnx("sync: the hub no longer gives room %s: its "
			    "rows were removed here", rooms[i]);
		}
		store_unlock(sy->s);
		if (rc != 0)
			goto out;
	}
	if ((rc = sync_lock(sy, h, why)) != 0)
		goto out;
	/* Lost in a power cut, this only means snapshots again. */
	if ((rc = store_set_durable(sy->s, 0)) == 0 &&
	    (rc = db_exec(store_db(sy->s), "BEGIN IMMEDIATE")) == 0 &&
	    (rc = meta_set_i64(store_db(sy->s), META_CURSOR,
	    (int64_t)mincur)) == 0 &&
	    (rc = meta_set_i64(store_db(sy->s), META_HEAD,
	    (int64_t)maxhead)) == 0 &&
	    (rc = meta_set_text(store_db(sy->s), META_FULL, NULL)) == 0)
		rc = db_exec(store_db(sy->s), "COMMIT");
	if (rc != 0) {
		db_rollback(store_db(sy->s));
		rk_whyf(why, rc, "cannot save the sync cursor");
	}
	if (store_set_durable(sy->s, 1) != 0 && rc == 0)
		rc = rk_whyf(why, RK_EDB, "cannot make commits durable again");
	store_unlock(sy->s);
	*at_head = rc == 0 && joined && mincur == maxhead;
out:
	for (i = 0; i < n; i++)
		free(rooms[i]);
	free(rooms);
	free(state);
	return rc;
}

int
sync_pull_check(const struct pull_response *pr, uint64_t cursor,
    struct rk_why *why)
{
	uint64_t prev = cursor;
	size_t i;

	if (pr->next_cursor < cursor || pr->head < pr->next_cursor)
		return rk_whyf(why, RK_EPROTO, "the hub's pull answer goes "
		    "backwards (cursor %" PRIu64 " -> %" PRIu64 ", head %"
		    PRIu64 ")", cursor, pr->next_cursor, pr->head);
	/* Its changes lie after the cursor asked from, in order: an answer
	 * signed for an earlier request, sent again, cannot make a replica
	 * apply a change twice. */
	for (i = 0; i < pr->count; i++) {
		if (pr->entries[i].hub_seq <= prev ||
		    pr->entries[i].hub_seq > pr->next_cursor)
			return rk_whyf(why, RK_EPROTO, "the hub's pull answer "
			    "holds change %" PRIu64 ", not in order after "
			    "cursor %" PRIu64 " and up to %" PRIu64,
			    pr->entries[i].hub_seq, cursor, pr->next_cursor);
		prev = pr->entries[i].hub_seq;
	}
	return 0;
}

static int
sync_pull(struct sync *sy, CURL *c, const struct hubcfg *h, int full,
    struct rk_why *why)
{
	struct pull_response pr;
	json_t *ctl = NULL;
	char **snaps = NULL, **purge = NULL, path[96];
	size_t nsnap = 0, npurge = 0, i;
	int64_t cur = 0, start = -1, gone_count = 0;
	uint64_t ncur, nhead;
	long status;
	int gone, at_head = 0, rc = 0;

	memset(&pr, 0, sizeof(pr));
	if (full && ((rc = sync_full_snapshot(sy, c, h, &at_head, why)) != 0 ||
	    at_head))
		return rc;
	for (;;) {
		if ((rc = sync_lock(sy, h, why)) != 0)
			break;
		rc = meta_get_i64(store_db(sy->s), META_CURSOR, &cur);
		store_unlock(sy->s);
		if (rc != 0)
			break;
		if (start < 0)
			start = cur;
		snprintf(path, sizeof(path), "/v1/pull?after=%" PRId64
		    "&limit=%d", cur, SYNC_PULL_LIMIT);
		if ((rc = sync_fetch(sy, c, h, path, &pr, &gone, &status,
		    why)) != 0)
			break;
		if (gone) {
			/* The log was compacted past the cursor. */
			if (++gone_count > 2) {
				rc = rk_whyf(why, RK_EPROTO, "the hub keeps "
				    "answering that the cursor is too old");
				break;
			}
			log_info("sync: the hub's log starts after cursor %"
			    PRId64 ": taking snapshots", cur);
			if ((rc = sync_lock(sy, h, why)) != 0)
				break;
			rc = meta_set_i64(store_db(sy->s), META_FULL, 1);
			store_unlock(sy->s);
			if (rc != 0 || (rc = sync_full_snapshot(sy, c, h,
			    &at_head, why)) != 0)
				break;
			continue;
		}
		if ((rc = sync_pull_check(&pr, (uint64_t)cur, why)) != 0)
			break;
		sync_set_phase(sy, "pull", (int64_t)pr.next_cursor - start,
		    (int64_t)pr.head - start);
		if ((ctl = json_loads(pr.ctl_json ? pr.ctl_json : "{}", 0,
		    NULL)) == NULL) {
			rc = rk_whyf(why, RK_EPROTO, "the hub's pull control is "
			    "not JSON");
			break;
		}
		if ((rc = ctl_rooms(ctl, "snapshot", &snaps, &nsnap, why)) !=
		    0 || (rc = ctl_rooms(ctl, "purge", &purge, &npurge, why)) !=
		    0)
			break;
		/* Rooms joined: their snapshots before following them (a
		 * room refused meanwhile is named again by a later pull). */
		if (nsnap > 0) {
			unsigned char *state = calloc(nsnap, 1);
			int joined = 0;

			ncur = UINT64_MAX;
			nhead = 0;
			rc = state == NULL ? RK_ENOMEM : sync_snapshot_rooms(sy,
			    c, h, snaps, nsnap, state, &joined, &ncur, &nhead,
			    0, nsnap, why);
			free(state);
			if (rc != 0)
				break;
		}
		sync_set_phase(sy, "pull", (int64_t)pr.next_cursor - start,
		    (int64_t)pr.head - start);
		{
			struct sync_batch b;

			memset(&b, 0, sizeof(b));
			b.purge = (const char *const *)purge;
			b.npurge = npurge;
			b.pull = &pr;
			b.set_cursor = 1;
			b.cursor = pr.next_cursor;
			b.head = pr.head;
			if ((rc = sync_apply_locked(sy, h, &b, why)) != 0)
				break;
		}
		for (i = 0; i < npurge; i++)
			log_info("sync: removed from room %s: its rows were "
			    "deleted here", purge[i]);
		ncur = pr.next_cursor;
		nhead = pr.head;
		/* Done at the head, or when the hub has nothing more. */
		if (ncur >= nhead || (ncur == (uint64_t)cur && pr.count == 0))
			break;
		free(snaps);
		free(purge);
		snaps = purge = NULL;
		json_decref(ctl);
		ctl = NULL;
		pull_response_release(&pr);
		memset(&pr, 0, sizeof(pr));
	}
	free(snaps);
	free(purge);
	json_decref(ctl);
	pull_response_release(&pr);
	return rc;
}

/* --- one attempt: room hashes --------------------------------------------- */

/* In step at the head: tell the hub each quiet room's hash.  Failures here
 * are logged, never fatal to the sync. */
static void
sync_report_hashes(struct sync *sy, CURL *c, const struct hubcfg *h)
{
	sqlite3_stmt *st = NULL;
	struct rk_why why = { "" };
	json_t *req = NULL, *rooms = NULL, *ans = NULL, *v;
	struct roomhash *rh;
	int64_t cur = 0, head = 0;
	char hex[ROOMHASH_HEX_LEN + 1];
	size_t i;
	int rc, began;

	if (sync_lock(sy, h, &why) != 0)
		return;
	if ((rooms = json_object()) == NULL ||
	    meta_get_i64(store_db(sy->s), META_CURSOR, &cur) != 0 ||
	    meta_get_i64(store_db(sy->s), META_HEAD, &head) != 0 ||
	    cur != head)
		goto unlock;
	/* Rooms with changes still on top differ from the hub by design;
	 * the directory ("") is only ever the hub's. */
	if (store_prepare(store_db(sy->s), "SELECT '' UNION ALL SELECT room_id"
	    " FROM (SELECT room_id FROM rooms WHERE room_id NOT IN (SELECT"
	    " room_id FROM local_outbox_waiting) ORDER BY room_id)", &st) != 0)
		goto unlock;
	if (sy->rh == NULL && roomhash_new(store_db(sy->s), &sy->rh) != 0)
		goto unlock;
	rh = sy->rh;
	/* Every room of one state, in one read transaction (not one
	 * each). */
	began = db_exec(store_db(sy->s), "BEGIN") == 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 0);

		if (r == NULL || roomhash_room(rh, r, hex) != 0)
			continue;
		if (json_object_set_new(rooms, r, json_string(hex)) != 0)
			break;
	}
	store_finalize(st);
	st = NULL;
	if (began && db_exec(store_db(sy->s), "COMMIT") != 0)
		db_rollback(store_db(sy->s));
unlock:
	store_finalize(st);
	store_unlock(sy->s);
	if (rooms == NULL || json_object_size(rooms) == 0)
		goto out;
	if ((req = json_pack("{s:I, s:O}", "cursor", (json_int_t)cur,
	    "rooms", rooms)) == NULL)
		goto out;
	if ((rc = http_json(sy, c, h, 1, "POST", "/v1/hashes", req, &ans,
	    &why)) != 0) {
		log_warnx("sync: reporting room hashes: %s", why.text);
		goto out;
	}
	json_array_foreach(json_object_get(ans, "mismatched"), i, v)
		log_warnx("sync: room %s differs from the hub's at hub seq %"
		    PRId64 "; the hub will ask for a resync",
		    json_string_value(v) ? json_string_value(v) : "?", cur);
out:
	json_decref(ans);
	json_decref(req);
	json_decref(rooms);
}

/* --- one attempt ------------------------------------------------------------ */

static int
sync_once(struct sync *sy, CURL *c, struct rk_why *why)
{
	struct hubcfg h;
	int64_t refused = 0, deferred = 0, full = 0;
	char reason[256] = "", msg[512] = "";
	int rc, lazy, began;

	memset(&h, 0, sizeof(h));
	pthread_mutex_lock(&sy->mu);
	snprintf(h.url, sizeof(h.url), "%s", sy->hub_url);
	memcpy(h.pk, sy->hub_pk, sizeof(h.pk));
	h.gen = sy->gen;
	rc = sy->have_hub_pk && h.url[0] ? 0 : RK_EINVAL;
	pthread_mutex_unlock(&sy->mu);
	if (rc != 0)
		return rk_whyf(why, rc, "this device is not enrolled");
	if ((rc = sync_lock(sy, &h, why)) != 0)
		return rc;
	rc = meta_get_text(store_db(sy->s), META_HUB_PIN, h.pin, sizeof(h.pin));
	if (rc == 0)
		rc = meta_get_i64(store_db(sy->s), META_FULL, &full);
	store_unlock(sy->s);
	if (rc != 0)
		return rk_whyf(why, rc, "cannot read the sync settings");

	if ((rc = sync_push(sy, c, &h, &refused, &deferred, reason,
	    sizeof(reason), why)) != 0)
		goto out;
	sync_set_phase(sy, "pull", 0, 0);
	if ((rc = sync_pull(sy, c, &h, full != 0, why)) != 0)
		goto out;
	sync_report_hashes(sy, c, &h);
	if (refused > 0)
		snprintf(msg, sizeof(msg), "%" PRId64 " change%s refused by "
		    "the hub: %s", refused, refused == 1 ? "" : "s", reason);
	else if (deferred > 0)
		snprintf(msg, sizeof(msg), "%" PRId64 " change%s not accepted "
		    "by the hub yet (will retry): %s", deferred,
		    deferred == 1 ? "" : "s", reason);
out:
	if (rc == RK_EBUSY)	/* stopped, or re-enrolled: nothing to record */
		return rc;
	store_lock(sy->s);
	pthread_mutex_lock(&sy->mu);
	if (sy->gen != h.gen) {
		pthread_mutex_unlock(&sy->mu);
		store_unlock(sy->s);
		return RK_EBUSY;
	}
	pthread_mutex_unlock(&sy->mu);
	/* What status shows, in one commit that need not wait for the disk:
	 * a power cut can only make it show the attempt before. */
	lazy = store_set_durable(sy->s, 0) == 0;
	began = db_exec(store_db(sy->s), "BEGIN IMMEDIATE") == 0;
	if (rc == 0)
		(void)meta_set_i64(store_db(sy->s), META_LAST_SYNC,
		    rk_now_ms(sy->clock));
	/* A refusal is news even though the sync itself went through. */
	(void)meta_set_text(store_db(sy->s), META_LAST_ERROR, rc != 0 ?
	    (why->text[0] ? why->text : rk_strerror(rc)) :
	    msg[0] ? msg : NULL);
	if (refused > 0)
		(void)meta_set_text(store_db(sy->s), META_LAST_REFUSAL, msg);
	if (began && db_exec(store_db(sy->s), "COMMIT") != 0)
		db_rollback(store_db(sy->s));
	if (lazy && store_set_durable(sy->s, 1) != 0)
		log_warnx("sync: cannot make commits durable again");
	sync_refresh_locked(sy);
	store_unlock(sy->s);
	return rc;
}

/* --- the background thread ------------------------------------------------- */

static void
sync_wait_until(struct sync *sy, int64_t mono_deadline)
{
	struct timespec ts;
	int64_t d = mono_deadline;

	ts.tv_sec = (time_t)(d / 1000);
	ts.tv_nsec = (long)(d % 1000) * 1000000L;
	pthread_cond_timedwait(&sy->cv, &sy->mu, &ts);
}

static void *
sync_main(void *arg)
{
	struct sync *sy = arg;
	struct rk_why why;
	CURL *c;
	int64_t next_due = rk_mono_ms(), now, wait;
	uint32_t rnd;
	int rc;

	if ((c = curl_easy_init()) == NULL) {
		log_warnx("sync: libcurl cannot start: background sync is off");
		return NULL;
	}
	pthread_mutex_lock(&sy->mu);
	for (;;) {
		while (!sy->stop) {
			now = rk_mono_ms();
			if (sy->requested || now >= next_due ||
			    (sy->kicked && now >= sy->backoff_until))
				break;
			wait = next_due;
			if (sy->kicked && sy->backoff_until < wait)
				wait = sy->backoff_until;
			sync_wait_until(sy, wait);
		}
		if (sy->stop)
			break;
		sy->requested = sy->kicked = 0;
		sy->running = 1;
		sy->attempt++;
		pthread_mutex_unlock(&sy->mu);

		why.text[0] = '\0';
		rc = sync_once(sy, c, &why);
		if (rc != 0 && rc != RK_EBUSY)
			log_warnx("sync: %s", why.text[0] ? why.text :
			    rk_strerror(rc));
		rk_random(sy->clock, &rnd, sizeof(rnd));

		pthread_mutex_lock(&sy->mu);
		sy->running = 0;
		sy->phase = "idle";
		sy->done = sy->total = sy->bytes = sy->bytes_total = 0;
		sy->finished = sy->attempt;
		sy->ok = rc == 0;
		now = rk_mono_ms();
		if (rc == 0) {
			sy->failures = 0;
			sy->backoff_until = 0;
			next_due = now + sy->interval_ms;
		} else if (rc == RK_EBUSY) {
			next_due = now;	/* re-enrolled: go again at once */
		} else {
			if (sy->failures < 64)
				sy->failures++;
			sy->backoff_until = now + sync_backoff_ms(sy->failures,
			    rnd);
			next_due = sy->backoff_until;
		}
	}
	pthread_mutex_unlock(&sy->mu);
	store_lock(sy->s);
	roomhash_free(sy->rh);
	sy->rh = NULL;
	store_unlock(sy->s);
	curl_easy_cleanup(c);
	return NULL;
}

/* Starts the thread if it is not running (mu not held). */
static int
sync_thread_start(struct sync *sy)
{
	int err = 0;

	pthread_mutex_lock(&sy->mu);
	if (!sy->thread_started &&
	    (err = pthread_create(&sy->thread, NULL, sync_main, sy)) == 0)
		sy->thread_started = 1;
	pthread_mutex_unlock(&sy->mu);
	if (err != 0) {
		log_warnx("sync: cannot start the sync thread: %s",
		    strerror(err));
		return RK_ENOMEM;
	}
	return 0;
}

/* --- public entry points ----------------------------------------------------- */

int
sync_start(struct store *s, const struct keys *k, const char *dir,
    struct rk_conf *conf, const struct rk_clock *clock, struct sync **out)
{
	struct sync *sy = NULL;
	struct rk_why why = { "" };
	pthread_condattr_t ca;
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("sync: libcurl cannot start");
		return RK_ENOMEM;
	}
	if ((sy = calloc(1, sizeof(*sy))) == NULL ||
	    (sy->dir = strdup(dir)) == NULL) {
		free(sy);
		curl_global_cleanup();
		return RK_ENOMEM;
	}
	sy->s = s;
	sy->k = k;
	sy->conf = conf;
	sy->clock = clock;
	sy->is_hub = strcmp(conf->role, "hub") == 0;
	sy->phase = "idle";
	sy->interval_ms = SYNC_INTERVAL_MS;
	snprintf(sy->device_id, sizeof(sy->device_id), "%s", conf->device_id);
	snprintf(sy->hub_url, sizeof(sy->hub_url), "%s", conf->hub_url);
	pthread_mutex_init(&sy->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sy->cv, &ca);
	pthread_condattr_destroy(&ca);

	store_lock(s);
	sy->have_hub_pk = meta_hub_pk(store_db(s), sy->hub_pk) == 0;
	sync_refresh_locked(sy);
	store_unlock(s);

	if (!sy->is_hub && sy->hub_url[0] && sy->have_hub_pk &&
	    sync_check_url(sy->hub_url, &why) != 0) {
		/* A hand-edited renkei.conf gets the same rule as enrol. */
		log_warnx("sync: renkei.conf [hub] url %s: %s; not syncing",
		    sy->hub_url, why.text);
		snprintf(sy->last_error, sizeof(sy->last_error), "%s",
		    why.text);
		sy->have_hub_pk = 0;
	}
	if (!sy->is_hub && sy->hub_url[0] && sy->have_hub_pk) {
		sy->requested = 1;
		if ((rc = sync_thread_start(sy)) != 0) {
			sync_stop(sy);
			return rc;
		}
	}
	*out = sy;	/* the caller's: sync_stop */
	return 0;
}

void
sync_stop(struct sync *sy)
{
	if (sy == NULL)
		return;
	pthread_mutex_lock(&sy->mu);
	sy->stop = 1;
	pthread_cond_broadcast(&sy->cv);
	pthread_mutex_unlock(&sy->mu);
	if (sy->thread_started)	/* only this thread starts it now */
		pthread_join(sy->thread, NULL);
	pthread_cond_destroy(&sy->cv);
	pthread_mutex_destroy(&sy->mu);
	free(sy->dir);
	free(sy);
	curl_global_cleanup();
}

void
sync_kick(struct sync *sy)
{
	if (sy == NULL)
		return;
	pthread_mutex_lock(&sy->mu);
	sy->kicked = 1;
	pthread_cond_signal(&sy->cv);
	pthread_mutex_unlock(&sy->mu);
}

void
sync_set_interval(struct sync *sy, int64_t ms)
{
	if (sy == NULL)
		return;
	pthread_mutex_lock(&sy->mu);
	sy->interval_ms = ms < 1000 ? 1000 : ms;
	pthread_cond_signal(&sy->cv);
	pthread_mutex_unlock(&sy->mu);
}

uint64_t
sync_request(struct sync *sy)
{
	uint64_t ticket = 0;

	if (sy == NULL)
		return 0;
	pthread_mutex_lock(&sy->mu);
	if (sy->thread_started) {
		sy->requested = 1;
		/* A sync running now began before this request. */
		ticket = sy->attempt + 1;
		pthread_cond_signal(&sy->cv);
	}
	pthread_mutex_unlock(&sy->mu);
	return ticket;
}

int
sync_progress(struct sync *sy, json_t *into)
{
	json_t *o;

	pthread_mutex_lock(&sy->mu);
	o = json_pack("{s:b, s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b,"
	    " s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:b}",
	    "enrolled", sy->have_hub_pk && sy->hub_url[0],
	    "running", sy->running,
	    "phase", sy->phase,
	    "done", (json_int_t)sy->done,
	    "total", (json_int_t)sy->total,
	    "bytes", (json_int_t)sy->bytes,
	    "bytes_total", (json_int_t)sy->bytes_total,
	    "attempt", (json_int_t)sy->attempt,
	    "finished", (json_int_t)sy->finished,
	    "ok", sy->ok,
	    "last_sync", sy->last_sync ? json_integer(sy->last_sync) :
	    json_null(),
	    "last_error", sy->last_error[0] ? json_string(sy->last_error) :
	    json_null(),
	    "last_refusal", sy->last_refusal[0] ?
	    json_string(sy->last_refusal) : json_null(),
	    "hub", sy->hub_url[0] ? json_string(sy->hub_url) : json_null(),
	    "cursor", (json_int_t)sy->cursor,
	    "head", (json_int_t)sy->head,
	    "pending", (json_int_t)sy->pending,
	    "refused", (json_int_t)sy->refused,
	    "in_step", sy->in_step);
	pthread_mutex_unlock(&sy->mu);
	if (o == NULL || json_object_set_new(into, "sync", o) != 0)
		return RK_ENOMEM;
	return 0;
}

int
sync_room_hash(struct store *s, const char *room, json_t **out,
    struct rk_why *why)
{
	sqlite3 *db = store_db(s);
	char hex[ROOMHASH_HEX_LEN + 1];
	int64_t n = 0, pend = 0;
	json_t *o;
	int rc;

	if (room[0] != '\0' && !id_valid_name(room))
		return rk_whyf(why, RK_EINVAL, "room: '%s' is not a room id",
		    room);
	if (room[0] != '\0' && (rc = db_int(db, "SELECT count(*) FROM rooms"
	    " WHERE room_id = ?1", room, &n)) != 0)
		return rk_whyf(why, rc, "cannot read the replica");
	if (room[0] != '\0' && n == 0) {
		char gone[400];

		/* A hub says when and why a room it held is gone. */
		if ((rc = retention_purged(db, room, gone, sizeof(gone))) < 0)
			return rk_whyf(why, rc, "cannot read the replica");
		if (rc == 1)
			return rk_whyf(why, RK_ENOTFOUND, "%s", gone);
		return rk_whyf(why, RK_ENOTFOUND, "no room %s on this replica",
		    room);
	}
	if ((rc = db_int(db, "SELECT count(*) FROM local_outbox_waiting WHERE"
	    " room_id = ?1", room, &pend)) != 0 ||
	    (rc = roomhash_compute(db, room, hex)) != 0)
		return rk_whyf(why, rc, "cannot read the replica");
	if ((o = json_pack("{s:s, s:s, s:I}", "room", room, "hash", hex,
	    "pending", (json_int_t)pend)) == NULL)
		return RK_ENOMEM;
	*out = o;	/* the caller's: json_decref */
	return 0;
}

/* --- enrolment ------------------------------------------------------------- */

static int
enroll_code_ok(const char *code)
{
	size_t n = strlen(code), i;

	if (n == 0 || n > SYNC_CODE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)code[i] <= 0x20 ||
		    (unsigned char)code[i] >= 0x7f)
			return 0;
	return 1;
}

/* A pin is libcurl's "sha256//BASE64" form (';'-separated for several
 * keys), the hash of the hub certificate's public key. */
static int
pin_ok(const char *pin)
{
	size_t i, n = strlen(pin);

	if (n < 8 || n >= 512 || strncmp(pin, "sha256//", 8) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)pin[i]) && !strchr("+/=;", pin[i]))
			return 0;
	return 1;
}

int
sync_enroll(struct sync *sy, const char *code, const char *hub_url,
    const char *pin, json_t **out, struct rk_why *why)
{
	sqlite3 *db = store_db(sy->s);
	struct hubcfg h;
	CURL *c = NULL;
	json_t *req = NULL, *ans = NULL, *res = NULL;
	struct buf msg = BUF_INIT;
	uint8_t sig[64], hub_pk[32];
	char sig_hex[129], spk_hex[65], bpk_hex[65], warn[512] = "";
	const char *staff, *agency, *hub_id, *pk_hex;
	size_t pkn = 0;
	int64_t pend = 0;
	int rc;

	if (sy->is_hub)
		return rk_whyf(why, RK_EINVAL, "a hub does not enrol with "
		    "another hub");
	if (code == NULL || !enroll_code_ok(code))
		return rk_whyf(why, RK_EINVAL, "code: expected the one-time "
		    "code printed by 'renkei enroll-code'");
	if ((rc = sync_check_url(hub_url, why)) != 0)
		return rc;
	memset(&h, 0, sizeof(h));
	snprintf(h.url, sizeof(h.url), "%s", hub_url);
	h.timeout_s = SYNC_ENROLL_TIMEOUT_S;
	if (pin != NULL && pin[0] != '\0') {
		if (!pin_ok(pin) || strlen(pin) >= sizeof(h.pin))
			return rk_whyf(why, RK_EINVAL, "pin: expected "
			    "sha256//BASE64 of the hub's public key");
		snprintf(h.pin, sizeof(h.pin), "%s", pin);
	} else if ((rc = meta_get_text(db, META_HUB_PIN, h.pin,
	    sizeof(h.pin))) != 0) {
		return rk_whyf(why, rc, "cannot read the replica");
	}

	/* The proof that the enrolling device holds its signing key. */
	if ((rc = buf_appendf(&msg, "%s%s\n%s", WIRE_SIG_ENROLL, code,
	    sy->device_id)) != 0)
		goto out;
	crypto_sign_detached(sig, NULL, msg.data, msg.len, sy->k->sign_sk);
	sodium_bin2hex(sig_hex, sizeof(sig_hex), sig, sizeof(sig));
	sodium_bin2hex(spk_hex, sizeof(spk_hex), sy->k->sign_pk, 32);
	sodium_bin2hex(bpk_hex, sizeof(bpk_hex), sy->k->box_pk, 32);
	if ((req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "code", code,
	    "device_id", sy->device_id, "sign_pk", spk_hex, "box_pk", bpk_hex,
	    "proof", sig_hex)) == NULL || (c = curl_easy_init()) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	/* The caller holds the store lock; this touches no database. */
	if ((rc = http_json(sy, c, &h, 0, "POST", "/v1/enroll", req, &ans,
	    why)) != 0)
		goto out;
	staff = json_string_value(json_object_get(ans, "staff"));
	agency = json_string_value(json_object_get(ans, "agency"));
	hub_id = json_string_value(json_object_get(ans, "hub_id"));
	pk_hex = json_string_value(json_object_get(ans, "hub_sign_pk"));
	if (staff == NULL || !id_valid_name(staff) ||
	    strlen(staff) >= sizeof(sy->conf->staff) || hub_id == NULL ||
	    hub_id[0] == '\0' || pk_hex == NULL || strlen(pk_hex) != 64 ||
	    sodium_hex2bin(hub_pk, sizeof(hub_pk), pk_hex, 64, NULL, &pkn,
	    NULL) != 0 || pkn != 32) {
		rc = rk_whyf(why, RK_EPROTO, "the hub's enrolment answer is "
		    "malformed");
		goto out;
	}

	/* Changes written as another staff member will be refused. */
	if ((rc = db_int(db, "SELECT count(*) FROM local_outbox_waiting", NULL,
	    &pend)) != 0)
		goto dberr;
	if (sy->conf->staff[0] && strcmp(sy->conf->staff, staff) != 0 &&
	    pend > 0)
		snprintf(warn, sizeof(warn), "%" PRId64 " unsent change%s "
		    "written as %s will be refused by the hub now that this "
		    "device belongs to %s; they stay readable in the outbox",
		    pend, pend == 1 ? "" : "s", sy->conf->staff, staff);

	/* A new hub (or a new enrolment) starts from snapshots. */
	if ((rc = db_exec(db, "BEGIN IMMEDIATE")) != 0 ||
	    (rc = meta_set_text(db, META_HUB_PK, pk_hex)) != 0 ||
	    (rc = meta_set_text(db, META_HUB_ID, hub_id)) != 0 ||
	    (rc = meta_set_text(db, META_HUB_PIN, h.pin[0] ? h.pin : NULL)) !=
	    0 ||
	    (rc = meta_set_i64(db, META_CURSOR, 0)) != 0 ||
	    (rc = meta_set_i64(db, META_HEAD, 0)) != 0 ||
	    (rc = meta_set_i64(db, META_FULL, 1)) != 0 ||
	    (rc = meta_set_text(db, META_LAST_ERROR, warn[0] ? warn : NULL)) !=
	    0 || (rc = db_exec(db, "COMMIT")) != 0) {
		db_rollback(db);
		goto dberr;
	}
	snprintf(sy->conf->hub_url, sizeof(sy->conf->hub_url), "%s", hub_url);
	snprintf(sy->conf->staff, sizeof(sy->conf->staff), "%s", staff);
	if ((rc = conf_save(sy->dir, sy->conf)) != 0) {
		rk_whyf(why, rc, "enrolled, but renkei.conf cannot be saved: "
		    "%s", rk_strerror(rc));
		goto out;
	}
	log_info("enrolled at %s (hub %s) as %s", hub_url, hub_id, staff);

	pthread_mutex_lock(&sy->mu);
	snprintf(sy->hub_url, sizeof(sy->hub_url), "%s", hub_url);
	memcpy(sy->hub_pk, hub_pk, sizeof(hub_pk));
	sy->have_hub_pk = 1;
	sy->gen++;
	sy->failures = 0;
	sy->backoff_until = 0;
	sy->requested = 1;
	pthread_cond_signal(&sy->cv);
	pthread_mutex_unlock(&sy->mu);
	sync_refresh_locked(sy);
	if ((rc = sync_thread_start(sy)) != 0) {
		rk_whyf(why, rc, "enrolled, but the sync thread cannot start");
		goto out;
	}
	if ((res = json_pack("{s:s, s:o, s:s, s:s, s:o}", "staff", staff,
	    "agency", agency ? json_string(agency) : json_null(),
	    "hub_id", hub_id, "hub", hub_url,
	    "warning", warn[0] ? json_string(warn) : json_null())) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	*out = res;	/* the caller's: json_decref */
	rc = 0;
	goto out;
dberr:
	rk_whyf(why, rc, "enrolled at the hub, but the replica cannot record "
	    "it: %s", sqlite3_errmsg(db));
out:
	if (c != NULL)
		curl_easy_cleanup(c);
	if (msg.data != NULL)	/* it holds the one-time code */
		sodium_memzero(msg.data, msg.len);
	buf_release(&msg);
	json_decref(req);
	json_decref(ans);
	return rc;
}
