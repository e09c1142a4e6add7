/* api.c - helpers of the local API contract shared by daemon and client. */
#include "common/api.h"

#include "common/err.h"

const char *
api_code_name(int err)
{
	switch (err) {
	case RK_ENOMEM: return "nomem";
	case RK_EIO: return "io";
	case RK_EINVAL: return "invalid";
	case RK_ECRYPTO: return "crypto";
	case RK_ENOTFOUND: return "notfound";
	case RK_EEXIST: return "exists";
	case RK_EDB: return "db";
	case RK_EFULL: return "full";
	case RK_EAUTH: return "auth";
	case RK_EBUSY: return "busy";
	case RK_ESCHEMA: return "schema";
	case RK_EPROTO: return "proto";
	case RK_EDENIED: return "denied";
	case RK_EUNAVAIL: return "unavailable";
	}
	return "error";
}
