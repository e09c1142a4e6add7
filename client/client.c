/*
 * client.c - one local-API request to renkeid over D/renkeid.sock with
 * libcurl, and the translation of what can go wrong (no daemon, an error
 * answer, a garbled answer) into an rk_err and one line for a person.
 */
#include "client/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <curl/curl.h>

#include "client/cli.h"
#include "common/api.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/fsutil.h"

#define CLIENT_CONNECT_TIMEOUT 5L	/* seconds; the daemon is local */
#define CLIENT_TIMEOUT 600L		/* seconds; a sync may take long */

struct client_sink {
	struct buf b;
	int too_big;
};

static size_t
client_write(char *p, size_t size, size_t n, void *arg)
{
	struct client_sink *s = arg;
	size_t len = size * n;

	if (len > CLIENT_MAX_RESPONSE - s->b.len) {
		s->too_big = 1;
		return 0;	/* makes curl stop with CURLE_WRITE_ERROR */
	}
	if (buf_append(&s->b, p, len) != 0)
		return 0;
	return len;
}

static int
client_not_running(const char *dir, struct rk_why *why)
{
	return rk_whyf(why, RK_EUNAVAIL,
	    "renkeid is not running for %s: start it with 'renkeid --dir %s'",
	    dir, dir);
}

/*
 * Finds the socket of dir, telling "no data dir" from "no daemon" so that
 * the reason points at the right next step.
 */
static int
client_sock_path(const char *dir, char *sock, size_t socklen,
    struct rk_why *why)
{
	struct sockaddr_un sa;
	struct stat st;
	char conf[4096];

	if (strlen(dir) + 1 + strlen(RK_SOCK_FILE) >= sizeof(sa.sun_path) ||
	    strlen(dir) + 1 + strlen(RK_CONF_FILE) >= sizeof(conf))
		return rk_whyf(why, RK_EINVAL,
		    "%s: path too long for a Unix socket (at most %zu bytes "
		    "with '/%s'); use a shorter --dir", dir,
		    sizeof(sa.sun_path) - 1, RK_SOCK_FILE);
	if (fs_path(sock, socklen, dir, RK_SOCK_FILE) != 0 ||
	    fs_path(conf, sizeof(conf), dir, RK_CONF_FILE) != 0)
		return rk_whyf(why, RK_EINVAL, "%s: path too long", dir);
	if (stat(sock, &st) == 0)
		return 0;
	if (errno == EACCES)
		return rk_whyf(why, RK_EDENIED,
		    "cannot reach renkeid for %s: permission denied (it "
		    "belongs to another user)", dir);
	if (stat(conf, &st) == -1 && errno == ENOENT)
		return rk_whyf(why, RK_ENOTFOUND,
		    "%s is not a renkei data dir (no %s): run 'renkei init "
		    "--dir %s --role device' first", dir, RK_CONF_FILE, dir);
	return client_not_running(dir, why);
}

/* The rk_err an error answer names in its "code", else its status's. */
static int
client_err_of(const char *code, long status)
{
	int e;

	if (code != NULL)
		for (e = RK_ENOMEM; e >= RK_EUNAVAIL; e--)
			if (strcmp(api_code_name(e), code) == 0)
				return e;
	switch (status) {
	case 400: return RK_EINVAL;
	case 401: return RK_EAUTH;
	case 403: return RK_EDENIED;
	case 404: return RK_ENOTFOUND;
	case 409: return RK_EEXIST;
	case 503: return RK_EUNAVAIL;
	case 507: return RK_EFULL;
	}
	return status >= 500 ? RK_EIO : RK_EPROTO;
}

static int
client_http_error(long status, const uint8_t *data, size_t len,
    struct rk_why *why)
{
	json_error_t jerr;
	json_t *j;
	const char *msg = NULL, *code = NULL;
	int err;

	if ((j = json_loadb((const char *)data, len, 0, &jerr)) != NULL) {
		msg = json_string_value(json_object_get(j, "error"));
		code = json_string_value(json_object_get(j, "code"));
	}
	err = client_err_of(code, status);
	if (msg != NULL && msg[0] != '\0')
		rk_whyf(why, err, "%s", msg);
	else
		rk_whyf(why, err, "renkeid answered HTTP %ld without a reason",
		    status);
	json_decref(j);
	return err;
}

/* JSON both ways, and no "Expect: 100-continue" round trip.  NULL if out
 * of memory; else the caller frees the list with curl_slist_free_all. */
static struct curl_slist *
client_headers(const char *content_type)
{
	static const char *const fixed[] = {
		"Accept: application/json", "Expect:",
	};
	struct curl_slist *hdrs = NULL, *h;
	char ctype[256];
	size_t i;

	if (content_type != NULL) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
		    content_type);
		if ((hdrs = curl_slist_append(NULL, ctype)) == NULL)
			return NULL;
	}
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if ((h = curl_slist_append(hdrs, fixed[i])) == NULL) {
			curl_slist_free_all(hdrs);
			return NULL;
		}
		hdrs = h;
	}
	return hdrs;
}

/* Sets up curl for one request; everything pointed to must outlive it. */
static CURLcode
client_setup(CURL *curl, const char *sock, const char *url,
    const char *method, const void *body, size_t bodylen,
    struct curl_slist *hdrs, char *errbuf, struct client_sink *sink)
{
	CURLcode cc;

#define SETOPT(opt, val) do {						\
	if ((cc = curl_easy_setopt(curl, opt, val)) != CURLE_OK)	\
		return cc;						\
} while (0)
	SETOPT(CURLOPT_UNIX_SOCKET_PATH, sock);
	SETOPT(CURLOPT_URL, url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http");
	SETOPT(CURLOPT_PROXY, "");	/* no proxy from the environment */
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT);
	SETOPT(CURLOPT_TIMEOUT, CLIENT_TIMEOUT);
	SETOPT(CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(CURLOPT_USERAGENT, "renkei/" RENKEI_VERSION);
	SETOPT(CURLOPT_HTTPHEADER, hdrs);
	SETOPT(CURLOPT_WRITEFUNCTION, client_write);
	SETOPT(CURLOPT_WRITEDATA, sink);
	if (strcmp(method, "GET") == 0)
		SETOPT(CURLOPT_HTTPGET, 1L);
	else
		SETOPT(CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL || strcmp(method, "GET") != 0) {
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(body != NULL ? bodylen : 0));
		SETOPT(CURLOPT_POSTFIELDS, body != NULL ? body : "");
	}
#undef SETOPT
	return CURLE_OK;
}

int
client_call_raw(const char *dir, const char *method, const char *path,
    const char *content_type, const void *body, size_t bodylen,
    uint8_t **out, size_t *outlen, long *status_out, struct rk_why *why)
{
	struct client_sink sink = { BUF_INIT, 0 };
	struct curl_slist *hdrs = NULL;
	char sock[4096], url[4096], errbuf[CURL_ERROR_SIZE];
	CURL *curl = NULL;
	CURLcode cc;
	long status = 0, oserr = 0;
	size_t n;
	int rc;

	if ((rc = client_sock_path(dir, sock, sizeof(sock), why)) != 0)
		goto out;
	if (path[0] != '/' || (size_t)snprintf(url, sizeof(url),
	    "http://localhost%s", path) >= sizeof(url)) {
		rc = rk_whyf(why, RK_EINVAL, "bad request path");
		goto out;
	}
	if ((curl = curl_easy_init()) == NULL) {
		rc = rk_whyf(why, RK_ENOMEM, "cannot start libcurl");
		goto out;
	}

	if ((hdrs = client_headers(content_type)) == NULL) {
		rc = rk_whyf(why, RK_ENOMEM, "out of memory");
		goto out;
	}
	errbuf[0] = '\0';
	if ((cc = client_setup(curl, sock, url, method, body, bodylen, hdrs,
	    errbuf, &sink)) != CURLE_OK) {
		rc = rk_whyf(why, RK_EIO, "libcurl: %s",
		    curl_easy_strerror(cc));
		goto out;
	}

	cc = curl_easy_perform(curl);
	if (cc == CURLE_COULDNT_CONNECT) {
		curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &oserr);
		if (oserr == EACCES)
			rc = rk_whyf(why, RK_EDENIED,
			    "cannot reach renkeid for %s: permission denied "
			    "on %s", dir, sock);
		else	/* ECONNREFUSED: a socket left by a daemon that died */
			rc = client_not_running(dir, why);
		goto out;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		rc = rk_whyf(why, RK_EUNAVAIL, "renkeid for %s did not answer "
		    "in time: %s", dir, errbuf[0] ? errbuf :
		    curl_easy_strerror(cc));
		goto out;
	}
	if (cc == CURLE_WRITE_ERROR && sink.too_big) {
		rc = rk_whyf(why, RK_EPROTO, "renkeid's answer is larger than "
		    "%u bytes", CLIENT_MAX_RESPONSE);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = rk_whyf(why, cc == CURLE_OUT_OF_MEMORY ||
		    cc == CURLE_WRITE_ERROR ? RK_ENOMEM : RK_EIO,
		    "talking to renkeid for %s: %s", dir,
		    errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		rc = client_http_error(status, sink.b.data, sink.b.len, why);
		goto out;
	}
	/* A NUL after the bytes, also when there are none. */
	if (buf_reserve(&sink.b, 0) != 0) {
		rc = rk_whyf(why, RK_ENOMEM, "out of memory");
		goto out;
	}
	sink.b.data[sink.b.len] = '\0';
	*out = buf_detach(&sink.b, &n);	/* the caller free()s it */
	*outlen = n;
	if (status_out != NULL)
		*status_out = status;
	rc = 0;
out:
	curl_easy_cleanup(curl);
	curl_slist_free_all(hdrs);
	buf_release(&sink.b);
	return rc;
}

int
client_call(const char *dir, const char *method, const char *path,
    json_t *body, json_t **resp_out, long *status_out, struct rk_why *why)
{
	json_error_t jerr;
	json_t *resp = NULL;
	uint8_t *data = NULL;
	char *req = NULL;
	size_t len = 0;
	long status = 0;
	int rc;

	/*
	 * Compact, UTF-8 as is.  15 significant digits send a typed 36.7 as
	 * "36.7" (17 would say 36.700000000000003); every number a person
	 * types has fewer digits, so it reads back as the same double.
	 */
	if (body != NULL && (req = json_dumps(body, JSON_COMPACT |
	    JSON_REAL_PRECISION(15))) == NULL) {
		rc = rk_whyf(why, RK_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = client_call_raw(dir, method, path,
	    req != NULL ? "application/json" : NULL, req,
	    req != NULL ? strlen(req) : 0, &data, &len, &status, why)) != 0)
		goto out;
	if ((resp = json_loadb((const char *)data, len, 0, &jerr)) == NULL) {
		rc = rk_whyf(why, RK_EPROTO, "renkeid sent a malformed answer "
		    "to %s %s: %s", method, path, jerr.text);
		goto out;
	}
	*resp_out = resp;	/* the caller json_decref()s it */
	resp = NULL;
	if (status_out != NULL)
		*status_out = status;
out:
	json_decref(resp);
	free(data);
	free(req);	/* json_dumps memory: free() with jansson's defaults */
	return rc;
}
