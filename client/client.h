/*
 * client.h - the client side of the local API (common/api.h): one HTTP
 * request to the renkeid of a data dir, over its Unix socket D/renkeid.sock,
 * through libcurl.  The caller runs curl_global_init() once first.
 */
#ifndef RK_CLIENT_H
#define RK_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

/* Longest answer accepted from renkeid. */
#define CLIENT_MAX_RESPONSE (64u * 1024 * 1024)

/*
 * Sends method path (e.g. "GET", "/v1/status") with body as JSON (NULL: no
 * body; the caller keeps its reference) and parses the JSON answer.
 *
 * Failures, each with a one-line reason in why:
 *   RK_EUNAVAIL   no renkeid runs for dir (no socket, or connection refused)
 *   RK_ENOTFOUND  dir is not a renkei data dir
 *   RK_EPROTO     the answer is not JSON
 *   an HTTP error status: the error named by the body's "code", the reason
 *                 its "error" text.
 * On success *resp_out is the caller's (json_decref) and *status_out (may
 * be NULL) the HTTP status.
 */
int client_call(const char *dir, const char *method, const char *path,
    json_t *body, json_t **resp_out, long *status_out, struct rk_why *why)
    RK_MUST_CHECK;

/*
 * The same for bodies that are not JSON (card.html): body/bodylen are sent
 * with content_type (body NULL: none).  On success *out is malloc'd and
 * NUL-terminated (the caller free()s it) and holds *outlen bytes.  Errors
 * are read as in client_call.
 */
int client_call_raw(const char *dir, const char *method, const char *path,
    const char *content_type, const void *body, size_t bodylen,
    uint8_t **out, size_t *outlen, long *status_out, struct rk_why *why)
    RK_MUST_CHECK;

#endif
