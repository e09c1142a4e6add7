/*
 * roomhash.c - the content hash of a room: BLAKE2b-256 over its rows in
 * key order, so two replicas holding equal rows get equal hashes whatever
 * order the rows arrived in.
 *
 * renkei room hash v1 (the bytes fed to crypto_generichash, 32-byte
 * output, no key):
 *
 *   for each table of conflict/policy.c's policy_tables, in that order,
 *   whose scope is SYNC_ROOM (room != "") or SYNC_DIRECTORY (room == ""):
 *     for each row (WHERE room_id = room for room tables; every row of a
 *     directory table), ordered by the primary-key columns in key order
 *     (PRAGMA table_info pk = 1, 2, ...; BINARY collation):
 *       u32 LE   length of the table name
 *       n        table name (ASCII)
 *       for each column in declared order (cid 0, 1, ...):
 *         u8     tag: SQLite's storage class (1 INTEGER, 2 REAL, 3 TEXT,
 *                4 BLOB, 5 NULL)
 *         unless NULL:
 *           u32 LE  length of the value bytes (8 for INTEGER and REAL)
 *           bytes   INTEGER: int64 two's complement LE; REAL: the IEEE-754
 *                   binary64 bits LE; TEXT: the UTF-8 bytes without NUL;
 *                   BLOB: the bytes
 *
 * The storage class is hashed, so 1 and 1.0 differ, and NULL differs from
 * '' and from X''.  A table with no rows adds nothing; an empty room hashes
 * to BLAKE2b-256 of no bytes.  Changing any of this is "room hash v2".
 */
#include "daemon/roomhash.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "conflict/policy.h"
#include "daemon/store.h"

#define RH_MAX_COLS 64
#define RH_MAX_TABLES 64

/* The hash's input, fed to BLAKE2b a buffer at a time rather than a few
 * bytes at a time (each update has a cost of its own); the bytes are the
 * same. */
struct rh_in {
	crypto_generichash_state h;
	size_t n;
	uint8_t buf[4096];
};

static void
rh_flush(struct rh_in *in)
{
	if (in->n > 0)
		crypto_generichash_update(&in->h, in->buf, in->n);
	in->n = 0;
}

static void
rh_put(struct rh_in *in, const void *p, size_t n)
{
	if (n > sizeof(in->buf) - in->n) {
		rh_flush(in);
		if (n > sizeof(in->buf)) {
			crypto_generichash_update(&in->h, p, n);
			return;
		}
	}
	memcpy(in->buf + in->n, p, n);
	in->n += n;
}

static void
rh_put_u32(struct rh_in *in, uint32_t v)
{
	uint8_t b[4];

	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
	rh_put(in, b, sizeof(b));
}

static void
rh_put_u64(struct rh_in *in, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	rh_put_u32(in, 8);
	rh_put(in, b, sizeof(b));
}

static void
rh_put_bytes(struct rh_in *in, const void *p, size_t n)
{
	rh_put_u32(in, (uint32_t)n);
	if (n > 0)
		rh_put(in, p, n);
}

/*
 * Builds 'SELECT "c0", "c1", ... FROM "t" [WHERE room_id = ?1]
 * ORDER BY "pk1", "pk2", ...' from the table's declared columns.  Names
 * come from the schema, never from a peer; they are quoted anyway.
 */
static int
rh_build_select(sqlite3 *db, const char *table, int by_room, struct buf *sql)
{
	sqlite3_stmt *st = NULL;
	char *pkname[RH_MAX_COLS];	/* strdup'd; freed at out */
	int ncol = 0, npk = 0, rc, i;

	memset(pkname, 0, sizeof(pkname));
	if (sqlite3_prepare_v2(db, "SELECT name, pk FROM pragma_table_info(?1)"
	    " ORDER BY cid", -1, &st, NULL) != SQLITE_OK) {
		log_warnx("roomhash: %s", sqlite3_errmsg(db));
		return store_sqlite_err(db);
	}
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	if ((rc = buf_appendf(sql, "SELECT ")) != 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int pk = sqlite3_column_int(st, 1);

		if (name == NULL || strchr(name, '"') != NULL ||
		    ncol >= RH_MAX_COLS) {
			log_warnx("roomhash: table %s: unexpected column", table);
			rc = RK_EDB;
			goto out;
		}
		if ((rc = buf_appendf(sql, "%s\"%s\"", ncol ? ", " : "",
		    name)) != 0)
			goto out;
		if (pk >= 1 && pk <= RH_MAX_COLS) {
			if (pkname[pk - 1] != NULL ||
			    (pkname[pk - 1] = strdup(name)) == NULL) {
				rc = RK_ENOMEM;
				goto out;
			}
			npk = pk > npk ? pk : npk;
		}
		ncol++;
	}
	if (rc != SQLITE_DONE) {
		log_warnx("roomhash: table_info %s: %s", table,
		    sqlite3_errmsg(db));
		rc = store_sqlite_err(db);
		goto out;
	}
	if (ncol == 0 || npk == 0) {
		log_warnx("roomhash: table %s has no columns or no key", table);
		rc = RK_EDB;
		goto out;
	}
	for (i = 0; i < npk; i++) {
		if (pkname[i] == NULL) {
			rc = RK_EDB;
			goto out;
		}
	}
	if ((rc = buf_appendf(sql, " FROM \"%s\"%s ORDER BY ", table,
	    by_room ? " WHERE room_id = ?1" : "")) != 0)
		goto out;
	for (i = 0; i < npk; i++)
		if ((rc = buf_appendf(sql, "%s\"%s\"", i ? ", " : "",
		    pkname[i])) != 0)
			goto out;
	rc = buf_append(sql, "", 1);	/* NUL */
out:
	for (i = 0; i < RH_MAX_COLS; i++)
		free(pkname[i]);
	sqlite3_finalize(st);
	return rc;
}

/* The rows st (rh_build_select's query for table) yields for room. */
static int
rh_hash_table(sqlite3 *db, sqlite3_stmt *st, const char *table,
    const char *room, struct rh_in *h)
{
	size_t tlen = strlen(table);
	int rc, ncol, i;

	if (room[0] != '\0')
		sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	ncol = sqlite3_column_count(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rh_put_bytes(h, table, tlen);
		for (i = 0; i < ncol; i++) {
			int type = sqlite3_column_type(st, i);
			uint8_t tag = (uint8_t)type;
			double d;
			uint64_t bits;
			const void *p;

			rh_put(h, &tag, 1);
			switch (type) {
			case SQLITE_INTEGER:
				rh_put_u64(h,
				    (uint64_t)sqlite3_column_int64(st, i));
				break;
			case SQLITE_FLOAT:
				d = sqlite3_column_double(st, i);
				memcpy(&bits, &d, sizeof(bits));
				rh_put_u64(h, bits);
				break;
			case SQLITE_TEXT:
				p = sqlite3_column_text(st, i);
				rh_put_bytes(h, p,
				    (size_t)sqlite3_column_bytes(st, i));
				break;
			case SQLITE_BLOB:
				p = sqlite3_column_blob(st, i);
				rh_put_bytes(h, p,
				    (size_t)sqlite3_column_bytes(st, i));
				break;
			default:	/* SQLITE_NULL: the tag says it all */
				break;
			}
		}
	}
	if (rc != SQLITE_DONE) {
		log_warnx("roomhash: %s: %s", table, sqlite3_errmsg(db));
		rc = store_sqlite_err(db);
		goto out;
	}
	rc = 0;
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

struct roomhash {
	sqlite3 *db;
	sqlite3_stmt *st[RH_MAX_TABLES];	/* by policy_tables index */
};

int
roomhash_new(sqlite3 *db, struct roomhash **out)
{
	struct roomhash *rh;

	if ((rh = calloc(1, sizeof(*rh))) == NULL)
		return RK_ENOMEM;
	rh->db = db;
	*out = rh;
	return 0;
}

void
roomhash_free(struct roomhash *rh)
{
	size_t i;

	if (rh == NULL)
		return;
	for (i = 0; i < RH_MAX_TABLES; i++)
		store_finalize(rh->st[i]);
	free(rh);
}

/* Table i's query, prepared the first time it is needed. */
static int
rh_stmt(struct roomhash *rh, size_t i, const struct table_policy *p,
    sqlite3_stmt **st)
{
	struct buf sql = BUF_INIT;
	int rc;

	if (i >= RH_MAX_TABLES)
		return RK_EDB;
	if (rh->st[i] == NULL) {
		if ((rc = rh_build_select(rh->db, p->table, p->scope ==
		    SYNC_ROOM, &sql)) != 0)
			return rc;
		/* From the store's cache after the first hash. */
		rc = store_prepare(rh->db, (const char *)sql.data, &rh->st[i]);
		buf_release(&sql);
		if (rc != 0)
			return rc;
	}
	*st = rh->st[i];
	return 0;
}

int
roomhash_room(struct roomhash *rh, const char *room,
    char hex_out[ROOMHASH_HEX_LEN + 1])
{
	struct rh_in h;
	const struct table_policy *p;
	enum sync_scope want = room[0] ? SYNC_ROOM : SYNC_DIRECTORY;
	sqlite3 *db = rh->db;
	sqlite3_stmt *st = NULL;
	uint8_t out[32];
	int rc = 0, began = 0;

	/* One read transaction, so the hash is of one consistent state. */
	if (sqlite3_get_autocommit(db)) {
		if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
			log_warnx("roomhash: begin: %s", sqlite3_errmsg(db));
			return store_sqlite_err(db);
		}
		began = 1;
	}
	crypto_generichash_init(&h.h, NULL, 0, sizeof(out));
	h.n = 0;
	for (p = policy_tables; p->table != NULL; p++) {
		if (p->scope != want)
			continue;
		if ((rc = rh_stmt(rh, (size_t)(p - policy_tables), p,
		    &st)) != 0 || (rc = rh_hash_table(db, st, p->table, room,
		    &h)) != 0)
			goto out;
	}
	rh_flush(&h);
	crypto_generichash_final(&h.h, out, sizeof(out));
	sodium_bin2hex(hex_out, ROOMHASH_HEX_LEN + 1, out, sizeof(out));
out:
	if (began)
		sqlite3_exec(db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL,
		    NULL);
	return rc;
}

int
roomhash_compute(sqlite3 *db, const char *room,
    char hex_out[ROOMHASH_HEX_LEN + 1])
{
	struct roomhash *rh = NULL;
	int rc;

	if ((rc = roomhash_new(db, &rh)) != 0)
		return rc;
	rc = roomhash_room(rh, room, hex_out);
	roomhash_free(rh);
	return rc;
}
