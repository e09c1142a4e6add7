/*
 * localapi.c - HTTP routing of the local API onto records.c.
 *
 * Bodies are collected up to API_MAX_BODY (a larger one is answered 413
 * without being parsed), parsed as JSON, and handed to records.c; every
 * error becomes {"error", "code"} with the status of its rk_err.
 */
#include "daemon/localapi.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/api.h"
#include "common/buf.h"
#include "common/log.h"
#include "daemon/admin.h"
#include "daemon/conflicts.h"
#include "daemon/roomwork.h"
#include "daemon/store.h"
#include "daemon/sync.h"

struct localapi {
	struct MHD_Daemon *mhd;
	struct rec_ctx *ctx;
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
};

struct localapi_req {
	struct buf body;
	int too_big;
};

static enum MHD_Result
localapi_send(struct MHD_Connection *conn, int status, const char *type,
    void *data, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	/* data is malloc'd; the response frees it with free(). */
	r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
localapi_send_json(struct MHD_Connection *conn, int status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	if (s == NULL)
		return MHD_NO;
	return localapi_send(conn, status, "application/json", s, strlen(s));
}

/*
 * Splits "/v1/rooms/ROOM/what" into its segments; returns how many there
 * are after /v1 (0 for a path outside /v1, -1 for one too long).
 */
static int
localapi_split(const char *url, char *seg1, size_t len1, char *id,
    size_t idlen, char *what, size_t whatlen)
{
	const char *p, *q;
	char *outs[3] = { seg1, id, what };
	size_t lens[3] = { len1, idlen, whatlen };
	int n = 0;

	seg1[0] = id[0] = what[0] = '\0';
	if (strncmp(url, API_VERSION_PREFIX "/", 4) != 0)
		return 0;
	p = url + 4;
	while (*p && n < 3) {
		q = strchr(p, '/');
		if (q == NULL)
			q = p + strlen(p);
		if ((size_t)(q - p) >= lens[n] || q == p)
			return -1;
		memcpy(outs[n], p, (size_t)(q - p));
		outs[n][q - p] = '\0';
		n++;
		p = *q ? q + 1 : q;
	}
	return *p ? -1 : n;
}

/*
 * Routes.  Every handler has one shape: id is the path's middle segment
 * (room, staff or device id) or NULL, in the parsed body or NULL.
 */
typedef int (*route_fn)(struct rec_ctx *c, const char *id, json_t *in,
    json_t **out, struct rk_why *why);

enum route_role { ROLE_ANY, ROLE_DEVICE, ROLE_HUB };

struct route {
	const char *method;
	const char *seg1;	/* /v1/SEG1 or /v1/SEG1/ID/WHAT */
	const char *what;	/* NULL: /v1/SEG1 */
	enum route_role role;
	int status;		/* on success */
	route_fn fn;
};

static int
r_status(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return rec_status(c, out, why);
}

static int
r_rooms(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return rec_rooms_list(c, out, why);
}

static int
r_room_create(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	if (c->is_hub)
		return admin_room_create(c, in, out, why);
	return rec_room_create(c, in, out, why);
}

static int
r_post(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return rec_post_add(c, id, in, out, why);
}

static int
r_visit(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return rec_visit_add(c, id, in, out, why);
}

static int
r_timeline(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	json_t *lim = json_object_get(in, "limit");

	return rec_timeline(c, id, json_is_integer(lim) ?
	    (int)json_integer_value(lim) : 0, out, why);
}

static int
r_card_get(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return rec_card_get(c, id, out, why);
}

static int
r_card_patch(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return rec_card_patch(c, id, in, out, why);
}

static int
r_hash(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return sync_room_hash(c->store, id, out, why);
}

static int
r_directory(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return admin_list(c, out, why);
}

static int
r_agency_add(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return admin_agency_add(c, in, out, why);
}

static int
r_staff_add(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return admin_staff_add(c, in, out, why);
}

/* The staff or device id travels in the path; the admin calls take it in
 * the body. */
static int
r_with_id(const char *key, const char *id, json_t **body)
{
	*body = json_pack("{s:s}", key, id);
	return *body == NULL ? RK_ENOMEM : 0;
}

static int
r_staff_suspend(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	json_t *b = NULL;
	int rc;

	if ((rc = r_with_id("staff", id, &b)) == 0)
		rc = admin_staff_suspend(c, b, out, why);
	json_decref(b);
	return rc;
}

static int
r_staff_resume(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	json_t *b = NULL;
	int rc;

	if ((rc = r_with_id("staff", id, &b)) == 0)
		rc = admin_staff_resume(c, b, out, why);
	json_decref(b);
	return rc;
}

static int
r_revoke(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	json_t *b = NULL;
	int rc;

	if ((rc = r_with_id("device", id, &b)) == 0)
		rc = admin_revoke(c, b, out, why);
	json_decref(b);
	return rc;
}

static int
r_enroll_code(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return admin_enroll_code(c, in, out, why);
}

static int
r_settings(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return admin_settings_set(c, in, out, why);
}

static int
r_purge_expired(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return admin_purge_expired(c, in, out, why);
}

static int
r_enroll(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	json_t *code = json_object_get(in, "code");
	json_t *hub = json_object_get(in, "hub");
	json_t *pin = json_object_get(in, "pin");

	if (!json_is_string(code) || !json_is_string(hub) ||
	    (pin != NULL && !json_is_string(pin) && !json_is_null(pin)))
		return rk_whyf(why, RK_EINVAL, "body: {\"code\": ..., \"hub\": "
		    "url, optional \"pin\": \"sha256//...\"} required");
	return sync_enroll(c->sync, json_string_value(code),
	    json_string_value(hub), json_string_value(pin), out, why);
}

static int
r_sync_start(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	uint64_t ticket = sync_request(c->sync);
	json_t *o;

	if (ticket == 0)
		return rk_whyf(why, RK_EINVAL, "this device is not enrolled: "
		    "run 'renkei enroll CODE --hub URL' first");
	if ((o = json_object()) == NULL)
		return RK_ENOMEM;
	if (sync_progress(c->sync, o) != 0 ||
	    json_object_set_new(o, "ticket", json_integer(
	    (json_int_t)ticket)) != 0) {
		json_decref(o);
		return RK_ENOMEM;
	}
	*out = o;
	return 0;
}

static int
r_refused(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return rec_refused(c, out, why);
}

static int
r_sync_get(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	json_t *o = json_object();

	if (o == NULL || sync_progress(c->sync, o) != 0) {
		json_decref(o);
		return RK_ENOMEM;
	}
	*out = o;
	return 0;
}

static int
r_conflicts(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return conflicts_list(c, json_is_true(json_object_get(in, "all")), out,
	    why);
}

static int
r_conflict_resolve(struct rec_ctx *c, const char *id, json_t *in,
    json_t **out, struct rk_why *why)
{
	int rc = conflicts_resolve(c, id, in, out, why);

	if (rc == 0)
		sync_kick(c->sync);	/* an ordinary write: it syncs */
	return rc;
}

/* --- room work (daemon/roomwork.h) ---------------------------------------- */

/* A room-work write succeeded: sync soon. */
static int
r_kick(struct rec_ctx *c, int rc)
{
	if (rc == 0)
		sync_kick(c->sync);
	return rc;
}

static int
r_requests(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_requests_list(c, id, in, out, why);
}

static int
r_request_add(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return r_kick(c, roomwork_request_add(c, id, in, out, why));
}

static int
r_request_status(struct rec_ctx *c, const char *id, json_t *in,
    json_t **out, struct rk_why *why)
{
	return r_kick(c, roomwork_request_status(c, id, in, out, why));
}

static int
r_requests_mine(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_requests_mine(c, out, why);
}

static int
r_read(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return r_kick(c, roomwork_read_mark(c, id, in, out, why));
}

static int
r_receipts(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_receipts(c, id, out, why);
}

static int
r_members(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_members(c, id, out, why);
}

static int
r_member_invite(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return r_kick(c, roomwork_member_invite(c, id, in, out, why));
}

static int
r_invitation(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return r_kick(c, roomwork_invitation_answer(c, id, in, out, why));
}

static int
r_invitations(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_invitations(c, out, why);
}

static int
r_member_leave(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return r_kick(c, roomwork_member_leave(c, id, in, out, why));
}

static int
r_doctors(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return r_kick(c, roomwork_room_doctors(c, id, in, out, why));
}

static int
r_archive(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return r_kick(c, roomwork_room_archive(c, id, in, out, why));
}

static int
r_patient_get(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_patient_get(c, id, out, why);
}

static int
r_patient_patch(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return r_kick(c, roomwork_patient_patch(c, id, in, out, why));
}

static int
r_acp_get(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_acp_list(c, id, out, why);
}

static int
r_acp_record(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return r_kick(c, roomwork_acp_record(c, id, in, out, why));
}

static int
r_meds(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_meds_list(c, id, out, why);
}

static int
r_med_add(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return r_kick(c, roomwork_med_add(c, id, in, out, why));
}

static int
r_med_stop(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return r_kick(c, roomwork_med_stop(c, id, in, out, why));
}

static int
r_sheets(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_sheets_list(c, id, out, why);
}

static int
r_admission_get(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_sheet_get(c, id, "admission", out, why);
}

static int
r_admission_patch(struct rec_ctx *c, const char *id, json_t *in,
    json_t **out, struct rk_why *why)
{
	return r_kick(c, roomwork_sheet_patch(c, id, "admission", in, out,
	    why));
}

static int
r_admission_print(struct rec_ctx *c, const char *id, json_t *in,
    json_t **out, struct rk_why *why)
{
	return roomwork_sheet_print(c, id, "admission", out, why);
}

static int
r_discharge_get(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	return roomwork_sheet_get(c, id, "discharge", out, why);
}

static int
r_discharge_patch(struct rec_ctx *c, const char *id, json_t *in,
    json_t **out, struct rk_why *why)
{
	return r_kick(c, roomwork_sheet_patch(c, id, "discharge", in, out,
	    why));
}

static int
r_discharge_print(struct rec_ctx *c, const char *id, json_t *in,
    json_t **out, struct rk_why *why)
{
	return roomwork_sheet_print(c, id, "discharge", out, why);
}

static int
r_audit(struct rec_ctx *c, const char *id, json_t *in, json_t **out,
    struct rk_why *why)
{
	/* Ships this replica's noted reads: a device syncs them soon. */
	return r_kick(c, roomwork_audit_list(c, id, out, why));
}

static const struct route localapi_routes[] = {
	{ "GET", "status", NULL, ROLE_ANY, 200, r_status },
	{ "GET", "rooms", NULL, ROLE_ANY, 200, r_rooms },
	{ "POST", "rooms", NULL, ROLE_ANY, 201, r_room_create },
	{ "POST", "rooms", "posts", ROLE_DEVICE, 201, r_post },
	{ "POST", "rooms", "visits", ROLE_DEVICE, 201, r_visit },
	{ "GET", "rooms", "timeline", ROLE_ANY, 200, r_timeline },
	{ "GET", "rooms", "card", ROLE_ANY, 200, r_card_get },
	{ "PATCH", "rooms", "card", ROLE_DEVICE, 200, r_card_patch },
	{ "GET", "rooms", "hash", ROLE_ANY, 200, r_hash },
	{ "POST", "enroll", NULL, ROLE_DEVICE, 200, r_enroll },
	{ "POST", "sync", NULL, ROLE_DEVICE, 202, r_sync_start },
	{ "GET", "sync", NULL, ROLE_DEVICE, 200, r_sync_get },
	{ "GET", "refused", NULL, ROLE_DEVICE, 200, r_refused },
	{ "GET", "conflicts", NULL, ROLE_ANY, 200, r_conflicts },
	{ "POST", "conflicts", "resolve", ROLE_DEVICE, 200, r_conflict_resolve },
	/* room work (daemon/roomwork.h) */
	{ "GET", "rooms", "requests", ROLE_ANY, 200, r_requests },
	{ "POST", "rooms", "requests", ROLE_DEVICE, 201, r_request_add },
	{ "POST", "rooms", "request-status", ROLE_DEVICE, 200,
	  r_request_status },
	{ "GET", "requests", NULL, ROLE_ANY, 200, r_requests_mine },
	{ "POST", "rooms", "read", ROLE_DEVICE, 200, r_read },
	{ "GET", "rooms", "receipts", ROLE_ANY, 200, r_receipts },
	{ "GET", "rooms", "members", ROLE_ANY, 200, r_members },
	{ "POST", "rooms", "members", ROLE_DEVICE, 201, r_member_invite },
	{ "POST", "rooms", "invitation", ROLE_DEVICE, 200, r_invitation },
	{ "GET", "invitations", NULL, ROLE_DEVICE, 200, r_invitations },
	{ "POST", "rooms", "leave", ROLE_DEVICE, 200, r_member_leave },
	{ "POST", "rooms", "doctors", ROLE_DEVICE, 200, r_doctors },
	{ "POST", "rooms", "archive", ROLE_DEVICE, 200, r_archive },
	{ "GET", "rooms", "patient", ROLE_ANY, 200, r_patient_get },
	{ "PATCH", "rooms", "patient", ROLE_DEVICE, 200, r_patient_patch },
	{ "GET", "rooms", "acp", ROLE_ANY, 200, r_acp_get },
	{ "POST", "rooms", "acp", ROLE_DEVICE, 201, r_acp_record },
	{ "GET", "rooms", "medications", ROLE_ANY, 200, r_meds },
	{ "POST", "rooms", "medications", ROLE_DEVICE, 201, r_med_add },
	{ "POST", "rooms", "medication-stop", ROLE_DEVICE, 200, r_med_stop },
	{ "GET", "rooms", "sheets", ROLE_ANY, 200, r_sheets },
	{ "GET", "rooms", "admission-sheet", ROLE_ANY, 200, r_admission_get },
	{ "PATCH", "rooms", "admission-sheet", ROLE_DEVICE, 200,
	  r_admission_patch },
	{ "GET", "rooms", "admission-print", ROLE_ANY, 200,
	  r_admission_print },
	{ "GET", "rooms", "discharge-sheet", ROLE_ANY, 200, r_discharge_get },
	{ "PATCH", "rooms", "discharge-sheet", ROLE_DEVICE, 200,
	  r_discharge_patch },
	{ "GET", "rooms", "discharge-print", ROLE_ANY, 200,
	  r_discharge_print },
	{ "GET", "rooms", "audit", ROLE_ANY, 200, r_audit },
	{ "GET", "directory", NULL, ROLE_HUB, 200, r_directory },
	{ "POST", "agencies", NULL, ROLE_HUB, 201, r_agency_add },
	{ "POST", "staff", NULL, ROLE_HUB, 201, r_staff_add },
	{ "POST", "staff", "suspend", ROLE_HUB, 200, r_staff_suspend },
	{ "POST", "staff", "resume", ROLE_HUB, 200, r_staff_resume },
	{ "POST", "devices", "revoke", ROLE_HUB, 200, r_revoke },
	{ "POST", "enroll-codes", NULL, ROLE_HUB, 201, r_enroll_code },
	{ "POST", "settings", NULL, ROLE_HUB, 200, r_settings },
	{ "POST", "purge-expired", NULL, ROLE_HUB, 200, r_purge_expired },
	{ NULL, NULL, NULL, ROLE_ANY, 0, NULL },
};

/* Writes that a device's sync engine should hear about. */
static int
localapi_is_write(const struct route *r)
{
	return r->role != ROLE_HUB && (r->fn == r_room_create ||
	    r->fn == r_post || r->fn == r_visit || r->fn == r_card_patch);
}

static int
localapi_answer_json(struct localapi_answer *ans, int status, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);

	if (text == NULL)
		return RK_ENOMEM;
	ans->status = status;
	ans->content_type = "application/json";
	ans->data = (uint8_t *)text;
	ans->len = strlen(text);
	return 0;
}

int
localapi_call(struct rec_ctx *c, const char *method, const char *url,
    const struct localapi_query *q, const uint8_t *body, size_t len,
    struct localapi_answer *ans)
{
	struct rk_why why = { "" };
	char seg1[32], id[80], what[32];	/* ids are at most 64 */
	const struct route *r;
	json_t *in = NULL, *out = NULL, *err;
	json_error_t jerr;
	int n, rc = RK_ENOTFOUND;

	memset(ans, 0, sizeof(*ans));
	n = localapi_split(url, seg1, sizeof(seg1), id, sizeof(id), what,
	    sizeof(what));
	if (n == 3 && !strcmp(seg1, "rooms") && !strcmp(what, "card.html") &&
	    !strcmp(method, "GET")) {
		struct buf html = BUF_INIT;

		if ((rc = rec_card_html(c, id, &html, &why)) != 0) {
			buf_release(&html);
			goto out;
		}
		ans->status = 200;
		ans->content_type = "text/html; charset=utf-8";
		ans->data = buf_detach(&html, &ans->len);
		return 0;
	}
	for (r = localapi_routes; r->method != NULL; r++) {
		if (strcmp(r->method, method) != 0 || strcmp(r->seg1, seg1))
			continue;
		if ((r->what == NULL && n == 1) ||
		    (r->what != NULL && n == 3 && !strcmp(r->what, what)))
			break;
	}
	if (r->method == NULL) {
		rk_whyf(&why, RK_ENOTFOUND, "no such call: %s %s", method, url);
		goto out;
	}
	if (r->role == ROLE_HUB && !c->is_hub) {
		rc = rk_whyf(&why, RK_EDENIED, "this is a device: run hub "
		    "administration against the hub's data dir");
		goto out;
	}
	if (r->role == ROLE_DEVICE && c->is_hub) {
		rc = rk_whyf(&why, RK_EDENIED, "this is a hub: %s %s is for "
		    "devices", method, url);
		goto out;
	}
	if (len > 0) {
		in = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES,
		    &jerr);
		if (in == NULL) {
			rc = rk_whyf(&why, RK_EINVAL, "body: not JSON (%s)",
			    jerr.text);
			goto out;
		}
	} else if (q != NULL && (q->limit != NULL || q->all)) {
		if ((in = json_object()) == NULL ||
		    (q->limit != NULL && json_object_set_new(in, "limit",
		    json_integer(atoi(q->limit))) != 0) ||
		    (q->all && json_object_set_new(in, "all",
		    json_true()) != 0)) {
			rc = RK_ENOMEM;
			goto out;
		}
	}
	rc = r->fn(c, n == 3 ? id : NULL, in, &out, &why);
	if (rc == 0 && localapi_is_write(r))
		sync_kick(c->sync);
out:
	json_decref(in);
	if (rc == 0) {
		rc = localapi_answer_json(ans, r->status, out);
		json_decref(out);
		return rc;
	}
	if (rc != RK_EINVAL && rc != RK_ENOTFOUND && rc != RK_EDENIED &&
	    rc != RK_EEXIST)
		log_warnx("%s %s: %s", method, url,
		    why.text[0] ? why.text : rk_strerror(rc));
	err = json_pack("{s:s, s:s}", "error",
	    why.text[0] ? why.text : rk_strerror(rc), "code",
	    api_code_name(rc));
	if (err == NULL)
		return RK_ENOMEM;
	rc = localapi_answer_json(ans, rk_err_http_status(rc), err);
	json_decref(err);
	return rc;
}

void
localapi_query_read(struct MHD_Connection *conn, const char *method,
    struct localapi_query *q)
{
	const char *all;

	memset(q, 0, sizeof(*q));
	if (strcmp(method, "GET") != 0)
		return;
	q->limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
	    "limit");
	all = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "all");
	q->all = all != NULL && strcmp(all, "0") != 0;
}

static enum MHD_Result
localapi_dispatch(struct localapi *la, struct MHD_Connection *conn,
    const char *method, const char *url, struct localapi_req *req)
{
	struct localapi_answer ans;
	struct localapi_query q;

	localapi_query_read(conn, method, &q);
	if (localapi_call(la->ctx, method, url, &q, req->body.data,
	    req->body.len, &ans) != 0)
		return MHD_NO;
	return localapi_send(conn, ans.status, ans.content_type, ans.data,
	    ans.len);
}

static enum MHD_Result
localapi_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct localapi *la = cls;
	struct localapi_req *req = *con_cls;

	if (req == NULL) {
		if ((req = calloc(1, sizeof(*req))) == NULL)
			return MHD_NO;
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!req->too_big && req->body.len + *upload_data_size >
		    API_MAX_BODY)
			req->too_big = 1;
		if (!req->too_big &&
		    buf_append(&req->body, upload_data, *upload_data_size) != 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->too_big) {
		struct rk_why why;

		rk_whyf(&why, RK_EINVAL, "body: larger than %d bytes",
		    API_MAX_BODY);
		json_t *o = json_pack("{s:s, s:s}", "error", why.text, "code",
		    "too_large");
		enum MHD_Result ret = localapi_send_json(conn, 413, o);

		json_decref(o);
		return ret;
	}
	{
		enum MHD_Result ret;

		store_lock(la->ctx->store);
		ret = localapi_dispatch(la, conn, method, url, req);
		store_unlock(la->ctx->store);
		return ret;
	}
}

static void
localapi_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct localapi_req *req = *con_cls;

	if (req != NULL) {
		buf_release(&req->body);
		free(req);
		*con_cls = NULL;
	}
}

int
localapi_start(const char *sock_path, struct rec_ctx *ctx,
    struct localapi **out)
{
	struct localapi *la = NULL;
	struct sockaddr_un sun;
	int rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		log_warnx("socket path %s is too long (at most %zu bytes): "
		    "use a shorter data dir path", sock_path,
		    sizeof(sun.sun_path) - 1);
		return RK_EINVAL;
	}
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	if ((la = calloc(1, sizeof(*la))) == NULL)
		return RK_ENOMEM;
	la->ctx = ctx;
	la->fd = -1;
	memcpy(la->sock_path, sock_path, strlen(sock_path) + 1);
	/* The caller holds the data dir's lock, so a socket file here is a
	 * leftover of a daemon that died. */
	if (unlink(sock_path) == -1 && errno != ENOENT) {
		log_warn("unlink %s", sock_path);
		rc = RK_EIO;
		goto out;
	}
	if ((la->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		rc = RK_EIO;
		goto out;
	}
	{
		mode_t old = umask(0177);
		int b = bind(la->fd, (struct sockaddr *)&sun, sizeof(sun));

		umask(old);
		if (b == -1) {
			log_warn("bind %s", sock_path);
			rc = RK_EIO;
			goto out;
		}
	}
	if (listen(la->fd, 32) == -1) {
		log_warn("listen %s", sock_path);
		rc = RK_EIO;
		goto out;
	}
	/* ITC lets localapi_stop quiesce the daemon while it runs. */
	la->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_EPOLL | MHD_USE_ITC, 0, NULL, NULL, localapi_handler, la,
	    MHD_OPTION_LISTEN_SOCKET, la->fd,
	    MHD_OPTION_NOTIFY_COMPLETED, localapi_completed, la,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
	    MHD_OPTION_END);
	if (la->mhd == NULL) {
		log_warnx("cannot start the local API server on %s", sock_path);
		rc = RK_EIO;
		goto out;
	}
	*out = la;
	la = NULL;
	rc = 0;
out:
	if (la != NULL) {
		if (la->fd != -1) {
			close(la->fd);
			unlink(sock_path);
		}
		free(la);
	}
	return rc;
}

/*
 * A clean stop answers every request already taken: a client told that a
 * saved write failed would make it again.  Stop accepting, then give the
 * connections in flight up to LOCALAPI_DRAIN_MS to receive their answers.
 */
#define LOCALAPI_DRAIN_MS 5000

void
localapi_stop(struct localapi *la)
{
	const union MHD_DaemonInfo *info;
	int waited;

	if (la == NULL)
		return;
	if (la->mhd != NULL) {
		MHD_socket lfd = MHD_quiesce_daemon(la->mhd);

		if (lfd != MHD_INVALID_SOCKET)
			unlink(la->sock_path);
		for (waited = 0; waited < LOCALAPI_DRAIN_MS; waited += 10) {
			info = MHD_get_daemon_info(la->mhd,
			    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
			if (info == NULL || info->num_connections == 0)
				break;
			usleep(10 * 1000);
		}
		MHD_stop_daemon(la->mhd);
	}
	if (la->fd != -1)
		close(la->fd);
	unlink(la->sock_path);
	free(la);
}
