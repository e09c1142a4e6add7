/*
 * roomhash.h - the content hash of one room (or of the directory), the
 * same on the hub and on every member device once they are in step.
 * Devices report it at each sync (wire.h, POST /v1/hashes); the hub and
 * the nightly reconciliation compare.  The byte layout that is hashed is
 * written down in roomhash.c: changing it changes every hash.
 */
#ifndef RK_ROOMHASH_H
#define RK_ROOMHASH_H

#include "common/err.h"

struct sqlite3;

#define ROOMHASH_HEX_LEN 64	/* BLAKE2b-256, lowercase hex */

/* Hashes every row of room (room "" = the directory tables) into hex_out
 * (64 lowercase hex characters and a NUL).  Reads only; the caller holds
 * whatever lock guards db and, for a hash consistent with a cursor, runs
 * it inside the same read transaction.  RK_EDB/RK_ENOMEM on failure;
 * hex_out is written only on success. */
int roomhash_compute(struct sqlite3 *db, const char *room,
    char hex_out[ROOMHASH_HEX_LEN + 1]) RK_MUST_CHECK;

/* The same for many rooms: the queries are prepared once and kept until
 * roomhash_free (before db is closed). */
struct roomhash;
int roomhash_new(struct sqlite3 *db, struct roomhash **out) RK_MUST_CHECK;
int roomhash_room(struct roomhash *rh, const char *room,
    char hex_out[ROOMHASH_HEX_LEN + 1]) RK_MUST_CHECK;
void roomhash_free(struct roomhash *rh);

#endif
