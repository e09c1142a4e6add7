/*
 * admin.h - hub administration through the local API: the directory
 * (agencies, staff, devices), rooms made by the operator, enrolment codes,
 * revocation and the purge of expired archived rooms.  JSON in and out like records.h; every input is checked
 * first and the refusal names the field or rule; every write is one
 * captured store_tx on the hub (room "" for the directory, the room's id
 * for a room), so it lands in the hub log and reaches the devices (the
 * purge alone is not captured: retention.h).
 *
 * The caller holds store_lock (localapi.c does, around each request) and
 * c must be a hub's (c->is_hub or c->role "hub"; RK_EDENIED otherwise).
 * Each *out is a new reference the caller releases with json_decref.
 */
#ifndef RK_ADMIN_H
#define RK_ADMIN_H

#include <jansson.h>

#include "common/err.h"
#include "daemon/records.h"

/* {"id", "name", "kind"} -> {"id", "hub_seq"}; kind as DESIGN.md. */
int admin_agency_add(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* {"id", "agency", "name", "profession", optional "phone"}
 * -> {"id", "hub_seq"}; the agency must exist. */
int admin_staff_add(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* {"staff"} -> {"staff", "status"}.  A suspended member's devices are
 * refused at once (403) until resumed. */
int admin_staff_suspend(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
int admin_staff_resume(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/*
 * {"room_id", "patient_name", "consent_date", "members": [staff...],
 *  optional "kind" ("patient" default, "disaster", "notice": these take
 *  "title" instead of patient and consent), "title", "consenter",
 *  "consenter_name", "relation", "scope", "paper_location", "birth_date"}
 * -> {"room_id", "hub_seq"}.  On the hub no creator is added: the members
 * are exactly those given, each of whom must be in the staff directory;
 * a patient room needs a consent date (valid, not in the future) and, per
 * the hub setting, a doctor or dentist among them (hub_room_rules).
 */
int admin_room_create(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* {"staff"} -> {"code": "XXXX-XXXX-XX", "staff", "expires_at"}: a
 * one-time code valid WIRE_CODE_TTL_MS, stored only as its hash and
 * never logged.  The staff member must be active. */
int admin_enroll_code(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* {"device"} -> {"device", "status": "revoked"}; its next request is
 * refused with 403 "device D has been revoked".  Idempotent. */
int admin_revoke(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* -> {"agencies": [...], "staff": [...], "devices": [...],
 *     "require_doctor": bool, "head": hub seq, "open_codes": n} */
int admin_list(struct rec_ctx *c, json_t **out, struct rk_why *why)
    RK_MUST_CHECK;
/* {"require_doctor": true|false} -> the settings as admin_list has them.
 * A hub-local setting (local_meta), not synced. */
int admin_settings_set(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* {"dry_run": true|false (optional)} -> retention_purge's summary: the
 * archived rooms whose retention period (c->retention_ms, from
 * renkei.conf retention_days) has ended are purged, or with dry_run only
 * counted.  See daemon/retention.h. */
int admin_purge_expired(struct rec_ctx *c, json_t *in, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;

#endif
