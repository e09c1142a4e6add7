/*
 * api.h - the local API contract between renkeid and its clients (the
 * renkei CLI now, the field web UI later).  Version 1.
 *
 * Transport: HTTP/1.1 over the Unix socket D/renkeid.sock (mode 0600 in a
 * 0700 data dir: only the owner's processes reach it).  Bodies are JSON
 * (UTF-8).  Every error is a 4xx/5xx status with the body
 *     {"error": "<one line for a person, naming the field or rule>",
 *      "code": "<rk_err name, e.g. \"invalid\">"}
 *
 * The acting staff member is the device's (renkei.conf "staff").  Times are
 * Unix milliseconds; dates 'YYYY-MM-DD'.
 *
 *   GET  /v1/status
 *        -> {"role", "device_id", "staff", "hub" (url or null),
 *            "rooms": n, "pending": n (outbox entries not acknowledged),
 *            "last_sync": ms or null, "last_error": text or null,
 *            "conflicts": n, "schema_version": n}
 *   GET  /v1/rooms
 *        -> {"rooms": [{"room_id", "kind", "title", "status",
 *            "patient_name", "members": ["staff-id", ...]}]}
 *   POST /v1/rooms
 *        {"room_id", "patient_name", "consent_date", "members": [...],
 *         optional "kind" ("patient"), "consenter", "consenter_name",
 *         "relation", "scope", "paper_location", "birth_date"}
 *        -> 201 {"room_id"}
 *   POST /v1/rooms/{room}/posts   {"body": text}
 *        -> 201 {"id", "seq"}            (seq: the outbox entry)
 *   POST /v1/rooms/{room}/visits
 *        {"bp_sys", "bp_dia", "pulse", "temp", "spo2", "resp", "weight"
 *         (numbers, each optional but at least one field or "note"),
 *         "note", optional "visited_at" (ms)}
 *        -> 201 {"id", "seq"}
 *   GET  /v1/rooms/{room}/timeline[?limit=n]
 *        -> {"room_id", "items": [{"type": "post", "id", "author",
 *            "author_name", "at", "body"} | {"type": "visit", "id",
 *            "author", "author_name", "at", "bp_sys", ..., "note"}]}
 *            oldest first
 *   GET  /v1/rooms/{room}/card
 *        -> {"room_id", "patient_name", "birth_date", <card fields>,
 *            "updated_by", "updated_at"}  (fields never set are null)
 *   PATCH /v1/rooms/{room}/card   {"<field>": "text" or null, ...}
 *        -> 200 the card as GET returns it
 *   GET  /v1/rooms/{room}/card.html  -> text/html, a printable sheet
 *   GET  /v1/rooms/{room}/hash
 *        -> {"room_id", "hash": 64 hex chars (BLAKE2b-256 of the room's
 *            rows in key order), "cursor": hub seq this replica is at}
 *
 * Sync (device):
 *   POST /v1/enroll  {"code", "hub": url, optional "pin": "sha256//BASE64"
 *                     (the hub certificate's public key, pinned)}
 *        -> {"staff", "hub", "hub_id", "note": text or null}
 *   POST /v1/sync    -> 202 {"started": true}  (starts or joins a sync)
 *   GET  /v1/sync    -> {"sync": {"running", "phase", "done", "total",
 *            "last_sync", "last_error", "hub", "cursor", "head",
 *            "in_step"}, "pending": n, "refused": n}
 *        A client polls this after POST /v1/sync until running is false;
 *        in step = every change acknowledged and pulled.
 *   GET  /v1/refused -> {"refused": [{"seq", "room_id", "at", "reason",
 *            "rows": [{"table", "op", "row": {column: value}}]}]}
 *        Changes the hub refused: kept, readable, never applied.
 *
 * Hub administration (role hub):
 *   POST /v1/agencies {"id", "name", "kind"}              -> 201
 *   POST /v1/staff    {"id", "agency", "name", "profession",
 *                      optional "phone"}                  -> 201
 *   POST /v1/staff/{id}/suspend, POST /v1/staff/{id}/resume
 *   POST /v1/rooms    on a hub: as above, without the creator added; every
 *                     member must be registered staff
 *   POST /v1/enroll-codes {"staff"} -> 201 {"code", "staff", "expires_at"}
 *   POST /v1/devices/{id}/revoke    -> 200 {"device", "status"}
 *   GET  /v1/directory -> {"agencies": [...], "staff": [...],
 *                          "devices": [...]}
 *
 * Card fields: API_CARD_FIELDS below.
 */
#ifndef RK_API_H
#define RK_API_H

#define API_VERSION_PREFIX "/v1"

/* Emergency-card fields a client may set, in display order. */
#define API_CARD_FIELDS                                                    \
	"diagnoses", "allergies", "medications", "primary_doctor",         \
	"deputy_doctor", "family_contacts", "care_level", "acp_summary",   \
	"hospital"

/* Longest text a client may send in one field (bytes); bodies are capped
 * at API_MAX_BODY. */
#define API_MAX_TEXT (64 * 1024)
#define API_MAX_BODY (1024 * 1024)

/* Short code for an rk_err, used as "code" in error bodies. */
const char *api_code_name(int err);

#endif
