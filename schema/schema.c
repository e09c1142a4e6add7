/* schema.c - applies the embedded migrations (see schema.h). */
#include "schema/schema.h"

#include <sqlite3.h>
#include <stdio.h>

#include "common/log.h"

/* application_id marks a database as renkei's ("RNKI"), so a data dir
 * holding someone else's SQLite file is refused rather than altered. */
#define SCHEMA_APPLICATION_ID 0x524e4b49

int
schema_version(void)
{
	return schema_migrations[schema_nmigrations - 1].version;
}

static int
schema_read_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("schema: %s: %s", sql, sqlite3_errmsg(db));
		return RK_EDB;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = 0;
	} else {
		log_warnx("schema: %s: %s", sql, sqlite3_errmsg(db));
		rc = RK_EDB;
	}
	sqlite3_finalize(st);
	return rc;
}

static int
schema_apply_one(sqlite3 *db, const struct schema_migration *m)
{
	char *err = NULL, bump[96];
	int rc = RK_EDB;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK)
		goto out;
	if (sqlite3_exec(db, m->sql, NULL, NULL, &err) != SQLITE_OK)
		goto out;
	snprintf(bump, sizeof(bump),
	    "PRAGMA application_id = %d; PRAGMA user_version = %d",
	    SCHEMA_APPLICATION_ID, m->version);
	if (sqlite3_exec(db, bump, NULL, NULL, &err) != SQLITE_OK)
		goto out;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, &err) != SQLITE_OK)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		log_warnx("schema: migration %s: %s", m->name,
		    err ? err : sqlite3_errmsg(db));
		if (sqlite3_errcode(db) == SQLITE_FULL)
			rc = RK_EFULL;
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_free(err);
	return rc;
}

int
schema_migrate(sqlite3 *db, struct rk_why *why)
{
	int version, appid, rc, i;

	if ((rc = schema_read_int(db, "PRAGMA user_version", &version)) != 0 ||
	    (rc = schema_read_int(db, "PRAGMA application_id", &appid)) != 0)
		return rk_whyf(why, rc, "cannot read the database's schema");
	if (version == 0 && appid == 0) {
		int ntables;

		/* Version 0 is only acceptable for an empty database. */
		if ((rc = schema_read_int(db,
		    "SELECT count(*) FROM sqlite_schema", &ntables)) != 0)
			return rk_whyf(why, rc, "cannot read the database");
		if (ntables != 0)
			return rk_whyf(why, RK_ESCHEMA,
			    "the database was not made by renkei");
	} else if (appid != SCHEMA_APPLICATION_ID) {
		return rk_whyf(why, RK_ESCHEMA,
		    "the database was not made by renkei");
	}
	if (version > schema_version())
		return rk_whyf(why, RK_ESCHEMA,
		    "the database has schema version %d, newer than this "
		    "program's %d: upgrade renkei", version, schema_version());
	for (i = 0; i < schema_nmigrations; i++) {
		if (schema_migrations[i].version <= version)
			continue;
		if ((rc = schema_apply_one(db, &schema_migrations[i])) != 0)
			return rk_whyf(why, rc, "migration %s failed",
			    schema_migrations[i].name);
	}
	return 0;
}
