/*
 * log.h - logging to stderr, one line per event, prefixed with the program
 * name.  log_warn appends strerror(errno); log_warnx does not.  Secrets
 * (passphrases, keys, enrolment codes) are never passed to these.
 */
#ifndef RK_LOG_H
#define RK_LOG_H

#include "common/err.h"

void log_init(const char *progname, int verbose);
void log_warn(const char *fmt, ...) RK_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) RK_PRINTF(1, 2);
void log_info(const char *fmt, ...) RK_PRINTF(1, 2);
void log_debug(const char *fmt, ...) RK_PRINTF(1, 2);

#endif
