/*
 * csins.h - applying a changeset of INSERTs with statements prepared once.
 *
 * sqlite3changeset_apply prepares its statements again for every call and
 * every table section; a hub applying thousands of small envelopes, or a
 * device loading a snapshot of hundreds of rooms, spends much of its time
 * there.  An INSERT-only changeset needs none of that machinery: each row
 * is bound to a cached INSERT.  Anything else is left to the caller.
 */
#ifndef RK_CSINS_H
#define RK_CSINS_H

#include <stddef.h>

#include "common/err.h"

struct sqlite3;
struct csins;

/* replace 0: a row whose key exists fails the call (RK_EEXIST); 1: it is
 * replaced (INSERT OR REPLACE).  Free with csins_free before db closes. */
int csins_new(struct sqlite3 *db, int replace, struct csins **out)
    RK_MUST_CHECK;
void csins_free(struct csins *c);

/*
 * Inserts every row of cs, which must hold INSERTs only, into the table
 * its section names.  0 when all went in; RK_EEXIST a key or other
 * constraint refused a row; RK_EINVAL a change that is not an INSERT or
 * a row that does not fit its table; RK_EPROTO a malformed changeset;
 * other rk_errs from SQLite.  On failure some rows may be in: the caller
 * runs it inside a savepoint it rolls back.
 */
int csins_apply(struct csins *c, const void *cs, size_t n) RK_MUST_CHECK;
/* The same, calling row(arg, it) on each change before it goes in; a
 * non-zero return stops the apply and is returned. */
struct sqlite3_changeset_iter;
int csins_apply_each(struct csins *c, const void *cs, size_t n,
    int (*row)(void *, struct sqlite3_changeset_iter *), void *arg)
    RK_MUST_CHECK;

#endif
