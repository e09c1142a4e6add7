/* err.c - error code descriptions and the rk_why helper. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *
rk_strerror(int err)
{
	switch (err) {
	case RK_OK: return "ok";
	case RK_ENOMEM: return "out of memory";
	case RK_EIO: return "input/output error";
	case RK_EINVAL: return "invalid input";
	case RK_ECRYPTO: return "decryption or verification failed";
	case RK_ENOTFOUND: return "not found";
	case RK_EEXIST: return "already exists";
	case RK_EDB: return "database error";
	case RK_EFULL: return "disk full";
	case RK_EAUTH: return "authentication failed";
	case RK_EBUSY: return "in use by another process";
	case RK_ESCHEMA: return "unsupported schema";
	case RK_EPROTO: return "malformed message";
	case RK_EDENIED: return "not allowed";
	case RK_EUNAVAIL: return "not available";
	}
	return "unknown error";
}

int
rk_whyf(struct rk_why *why, int err, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL)
		return err;
	va_start(ap, fmt);
	vsnprintf(why->text, sizeof(why->text), fmt, ap);
	va_end(ap);
	return err;
}

int
rk_err_http_status(int err)
{
	switch (err) {
	case RK_OK: return 200;
	case RK_EINVAL: case RK_EPROTO: case RK_ESCHEMA: return 400;
	case RK_EAUTH: return 401;
	case RK_EDENIED: return 403;
	case RK_ENOTFOUND: return 404;
	case RK_EEXIST: case RK_EBUSY: return 409;
	case RK_EFULL: return 507;
	case RK_EUNAVAIL: return 503;
	}
	return 500;
}
