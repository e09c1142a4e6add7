/*
 * err.h - renkei's error codes and the one-line reasons shown to users.
 *
 * Fallible functions return int: 0 on success, a negative enum rk_err
 * otherwise, and are marked RK_MUST_CHECK.  Where a caller needs words for a
 * person (which field, which rule), the function also fills a struct rk_why.
 */
#ifndef RK_ERR_H
#define RK_ERR_H

#include <stddef.h>

#define RK_MUST_CHECK __attribute__((warn_unused_result))
#define RK_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum rk_err {
	RK_OK = 0,
	RK_ENOMEM = -1,		/* out of memory */
	RK_EIO = -2,		/* file or socket I/O failed */
	RK_EINVAL = -3,		/* bad input: the reason names the field */
	RK_ECRYPTO = -4,	/* decryption or verification failed */
	RK_ENOTFOUND = -5,	/* no such room, record, file */
	RK_EEXIST = -6,		/* already exists */
	RK_EDB = -7,		/* database error */
	RK_EFULL = -8,		/* disk full */
	RK_EAUTH = -9,		/* wrong passphrase, bad signature */
	RK_EBUSY = -10,		/* locked by another process */
	RK_ESCHEMA = -11,	/* schema newer than this program, or foreign */
	RK_EPROTO = -12,	/* malformed message */
	RK_EDENIED = -13,	/* not allowed */
	RK_EUNAVAIL = -14,	/* peer not running or unreachable */
};

/* Words for a person: what was wrong, naming the field or rule. */
struct rk_why {
	char text[512];
};

/* Static English description of an error code. */
const char *rk_strerror(int err);

/* Sets why->text (why may be NULL); returns err so callers can
 * "return rk_whyf(why, RK_EINVAL, ...)". */
int rk_whyf(struct rk_why *why, int err, const char *fmt, ...) RK_PRINTF(3, 4);

/* An HTTP status for an error code (local API and hub). */
int rk_err_http_status(int err);

#endif
