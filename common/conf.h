/*
 * conf.h - the data dir's configuration file, D/renkei.conf (ini):
 *
 *   [renkei]
 *   role = device          ; device | hub
 *   device_id = 01J...     ; this replica's id, made by 'renkei init'
 *   staff = nurse-1        ; the staff member who uses this device
 *   listen = 127.0.0.1:8080 ; web UI address (optional, loopback only)
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

struct rk_conf {
	char role[16];
	char device_id[32];
	char staff[65];
	char listen[64];
	char hub_url[256];
};

int conf_load(const char *dir, struct rk_conf *out, struct rk_why *why)
    RK_MUST_CHECK;
int conf_save(const char *dir, const struct rk_conf *c) RK_MUST_CHECK;

#endif
