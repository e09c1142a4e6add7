/*
 * conf.h - the data dir's configuration file, D/renkei.conf (ini):
 *
 *   [renkei]
 *   role = device          ; device | hub
 *   device_id = 01J...     ; this replica's id, made by 'renkei init'
 *   staff = nurse-1        ; the staff member who uses this device
 *   listen = 127.0.0.1:8080 ; web UI address (optional, loopback only)
 *   retention_days = 1827  ; hub: days an archived room is kept, then
 *                          ; purged (0..RK_RETENTION_DAYS_MAX)
 *   [hub]
 *   url = https://hub.example/   ; set by 'renkei enroll'
 *
 * Written by 'renkei init' and 'renkei enroll'; read by both programs.
 * See packaging/renkei.conf.example for the commented version.
 */
#ifndef RK_CONF_H
#define RK_CONF_H

#include "common/err.h"

/* Files of a data dir. */
#define RK_CONF_FILE "renkei.conf"
#define RK_KEYS_FILE "keys"
#define RK_DB_FILE "replica.db"
#define RK_SOCK_FILE "renkeid.sock"
#define RK_LOCK_FILE "renkeid.lock"
#define RK_CREATED_FILE "replica.created"	/* the replica was made once */

/*
 * How long a hub keeps an archived room before purging it, counted from
 * archived_at: 5 years (1827 days), the period medical records are kept
 * under 医師法 第24条.  A longer period (an agency's own rule) may be set;
 * 0 purges at the next run (tests, or a hub that keeps nothing).
 */
#define RK_RETENTION_DAYS_DEFAULT 1827
#define RK_RETENTION_DAYS_MAX 36525	/* 100 years */

struct rk_conf {
	char role[16];
	char device_id[32];
	char staff[65];
	char listen[64];
	char hub_url[256];
	int retention_days;	/* valid when has_retention (conf_load sets */
	int has_retention;	/* both; else conf_save writes the default) */
};

int conf_load(const char *dir, struct rk_conf *out, struct rk_why *why)
    RK_MUST_CHECK;
int conf_save(const char *dir, const struct rk_conf *c) RK_MUST_CHECK;

#endif
