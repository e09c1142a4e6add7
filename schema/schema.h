/*
 * schema.h - the embedded migrations and the code that applies them.
 *
 * schema/NNN_name.sql files are embedded at build time (embed.cmake).  A
 * database's PRAGMA user_version is the number of the last migration
 * applied; each migration runs in its own transaction together with the
 * user_version bump, so a crash leaves the database at one version or the
 * next, never between.
 */
#ifndef RK_SCHEMA_H
#define RK_SCHEMA_H

#include "common/err.h"

struct schema_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct schema_migration schema_migrations[];
extern const int schema_nmigrations;

struct sqlite3;

/* The version this program writes (the last migration's number). */
int schema_version(void);

/* Brings db up to schema_version().  RK_ESCHEMA (with why) if the database
 * is newer than this program or was not made by renkei. */
int schema_migrate(struct sqlite3 *db, struct rk_why *why) RK_MUST_CHECK;

#endif
