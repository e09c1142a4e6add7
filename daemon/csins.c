/* csins.c - INSERT-only changesets through cached statements (csins.h). */
#include "daemon/csins.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "daemon/store.h"

#define CSINS_TABLES 32

struct csins_stmt {
	char *table;		/* malloc'd */
	int ncol;
	sqlite3_stmt *st;
};

struct csins {
	sqlite3 *db;
	int replace;
	struct csins_stmt t[CSINS_TABLES];
	size_t n;
};

int
csins_new(sqlite3 *db, int replace, struct csins **out)
{
	struct csins *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return RK_ENOMEM;
	c->db = db;
	c->replace = replace;
	*out = c;
	return 0;
}

void
csins_free(struct csins *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		sqlite3_finalize(c->t[i].st);
		free(c->t[i].table);
	}
	free(c);
}

/* The cached INSERT for table with ncol columns. */
static int
csins_stmt(struct csins *c, const char *table, int ncol, sqlite3_stmt **st)
{
	struct buf sql = BUF_INIT;
	struct csins_stmt *t;
	size_t i;
	int rc, k;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->t[i].table, table) == 0) {
			if (c->t[i].ncol != ncol)
				return RK_EINVAL;
			*st = c->t[i].st;
			return 0;
		}
	if (c->n == CSINS_TABLES || ncol <= 0)
		return RK_EINVAL;
	if ((rc = buf_appendf(&sql, "INSERT%s INTO main.\"", c->replace ?
	    " OR REPLACE" : "")) != 0)
		goto out;
	for (k = 0; table[k] != '\0'; k++)	/* quote: " becomes "" */
		if ((rc = buf_append(&sql, table + k, 1)) != 0 ||
		    (table[k] == '"' && (rc = buf_append(&sql, "\"", 1)) != 0))
			goto out;
	if ((rc = buf_appendf(&sql, "\" VALUES (?")) != 0)
		goto out;
	for (k = 1; k < ncol; k++)
		if ((rc = buf_appendf(&sql, ", ?")) != 0)
			goto out;
	if ((rc = buf_append(&sql, ")", 2)) != 0)
		goto out;
	t = &c->t[c->n];
	if (sqlite3_prepare_v3(c->db, (const char *)sql.data, -1,
	    SQLITE_PREPARE_PERSISTENT, &t->st, NULL) != SQLITE_OK) {
		/* An unknown table or a column count that does not match. */
		t->st = NULL;
		rc = RK_EINVAL;
		goto out;
	}
	if ((t->table = strdup(table)) == NULL) {
		sqlite3_finalize(t->st);
		t->st = NULL;
		rc = RK_ENOMEM;
		goto out;
	}
	t->ncol = ncol;
	c->n++;
	*st = t->st;
out:
	buf_release(&sql);
	return rc;
}

int
csins_apply(struct csins *c, const void *cs, size_t n)
{
	return csins_apply_each(c, cs, n, NULL, NULL);
}

int
csins_apply_each(struct csins *c, const void *cs, size_t n,
    int (*row)(void *, sqlite3_changeset_iter *), void *arg)
{
	sqlite3_changeset_iter *it = NULL;
	sqlite3_stmt *st = NULL;
	sqlite3_value *v;
	const char *table;
	int ncol, op, indirect, step, rc = 0, i;

	if (n == 0)
		return 0;
	if (n > INT_MAX ||
	    sqlite3changeset_start(&it, (int)n, (void *)cs) != SQLITE_OK)
		return RK_EPROTO;
	while ((step = sqlite3changeset_next(it)) == SQLITE_ROW) {
		if (sqlite3changeset_op(it, &table, &ncol, &op, &indirect) !=
		    SQLITE_OK) {
			rc = RK_EPROTO;
			break;
		}
		if (op != SQLITE_INSERT) {
			rc = RK_EINVAL;
			break;
		}
		if (row != NULL && (rc = row(arg, it)) != 0)
			break;
		if ((rc = csins_stmt(c, table, ncol, &st)) != 0)
			break;
		for (i = 0; i < ncol; i++) {
			if (sqlite3changeset_new(it, i, &v) != SQLITE_OK) {
				rc = RK_EPROTO;
				break;
			}
			if (v == NULL)
				sqlite3_bind_null(st, i + 1);
			else
				sqlite3_bind_value(st, i + 1, v);
		}
		if (rc != 0)
			break;
		step = sqlite3_step(st);
		sqlite3_reset(st);
		if (step != SQLITE_DONE) {
			rc = (sqlite3_extended_errcode(c->db) & 0xff) ==
			    SQLITE_CONSTRAINT ? RK_EEXIST :
			    store_sqlite_err(c->db);
			break;
		}
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = RK_EPROTO;
	if (st != NULL)
		sqlite3_clear_bindings(st);
	sqlite3changeset_finalize(it);
	return rc;
}
