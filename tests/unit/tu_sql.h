/*
 * tu_sql.h - SQL helpers shared by the unit tests that hold a database
 * (header only; include after <cmocka.h> and <sqlite3.h>).
 *
 *   tu_qint        the first column of the first row of a printf-style
 *                  query (sqlite3_mprintf formats: %q, %lld, ...); the
 *                  test fails, naming the query, on an error or no row.
 *
 * Static inline, as testutil.h: a test program takes what it uses.
 */
#ifndef RK_TU_SQL_H
#define RK_TU_SQL_H

#include <stdarg.h>
#include <stdint.h>

static inline int64_t
tu_qint(sqlite3 *db, const char *fmt, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	char *sql;
	int64_t v;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	if (sql == NULL)
		fail_msg("%s: out of memory", fmt);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s: no row: %s", sql, sqlite3_errmsg(db));
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return v;
}

#endif
