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
 *            "conflicts": n (open conflict records on this replica),
 *            "likely_refused": n (pending changes that re-applying them
 *            with the hub's conflict rules predicts it will refuse; kept
 *            un-applied until the hub answers), "schema_version": n,
 *            "requests_open", "requests_overdue", "requests_for_me",
 *            "invitations", "cards_review_due": n}
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
 *            and what the room holds besides (daemon/roomwork.h,
 *            roomwork_card_extras): "address", "phone",
 *            "primary_doctor_member", "deputy_doctor_member" ({"id",
 *            "name", "profession", "agency_id", "agency_name", "phone"}
 *            or null), "acp" (the current revision or null),
 *            "current_medications", "review_due" (a year after
 *            reviewed_at, else after the last edit), "review_overdue",
 *            "updated_by_name"
 *   PATCH /v1/rooms/{room}/card   {"<field>": "text" or null, ...}
 *        -> 200 the card as GET returns it (reviewed_at: a date, not in
 *           the future: the yearly review)
 *   GET  /v1/rooms/{room}/card.html  -> text/html, a printable sheet
 *
 * Room work (daemon/roomwork.h has every field).  Writes are devices';
 * the hub operator reads.  Every read and write is noted in the audit
 * trail.  "id" values are 26-character ids; "ID" below is in the body.
 *   GET  /v1/rooms/{room}/requests[?all=1] -> {"room_id", "today",
 *            "requests": [...]} overdue first; all=1 adds withdrawn ones
 *   POST /v1/rooms/{room}/requests {"assignee", "kind", "title", "body",
 *            "due_date"} -> 201 {"id", "seq"}  (依頼; kinds
 *            visiting-nurse-instruction, information-letter,
 *            home-visit-request, medication-check, free)
 *   POST /v1/rooms/{room}/request-status {"id", "status":
 *            "acknowledged"|"done"|"declined"|"withdrawn", "reason"}
 *            -> the request
 *   GET  /v1/requests -> {"today", "requests"}: open ones asked of or by
 *            the acting staff, in every room
 *   POST /v1/rooms/{room}/read {"id": post or request} -> {"id", "type",
 *            "read_at", "new", "read_by": [{"staff", "name", "read_at"}]}
 *   GET  /v1/rooms/{room}/receipts -> {"room_id", "receipts": {id: [...]}}
 *   GET  /v1/rooms/{room}/members -> {"room_id", "status",
 *            "archive_reason", "primary_doctor", "deputy_doctor",
 *            "members": [...]}
 *   POST /v1/rooms/{room}/members {"staff"} -> 201 (an invitation)
 *   POST /v1/rooms/{room}/invitation {"accept": bool} (the invitee)
 *   GET  /v1/invitations -> {"invitations": [...]}
 *   POST /v1/rooms/{room}/leave {"staff" (default: oneself)}
 *   POST /v1/rooms/{room}/doctors {"primary", "deputy"} (staff or null)
 *   POST /v1/rooms/{room}/archive {"reason": "death"|"moved"|
 *            "consent_withdrawn"}
 *   GET|PATCH /v1/rooms/{room}/patient {"name", "name_kana",
 *            "birth_date", "sex", "address", "phone"}
 *   GET  /v1/rooms/{room}/acp -> {"room_id", "current", "revisions"}
 *   POST /v1/rooms/{room}/acp {"wishes", "present", "dnar", "summary",
 *            "discussed_on"} -> 201 {"id", "seq"}
 *   GET  /v1/rooms/{room}/medications -> {"room_id", "medications"}
 *   POST /v1/rooms/{room}/medications {"name", "dose", "route",
 *            "frequency", "start_date", "stop_date", "prescriber"} -> 201
 *   POST /v1/rooms/{room}/medication-stop {"id", "stop_date"}
 *   GET  /v1/rooms/{room}/sheets -> {"room_id", "sheets": [...]}
 *   GET|PATCH /v1/rooms/{room}/admission-sheet, .../discharge-sheet
 *            PATCH {"fields": {field: text|null}, "new": bool} -> the
 *            sheet {"id" (null: a draft filled from the room), "draft",
 *            "title", "fields": [{"field", "label", "value"}], ...}
 *   GET  /v1/rooms/{room}/admission-print, .../discharge-print
 *            -> {"room_id", "kind", "html"}
 *   GET  /v1/rooms/{room}/audit -> {"room_id", "role", "events": [{"id",
 *            "at", "staff", "device", "action", "what", "seq", "hash"}],
 *            "pending", "chain" (hub: {"verified", "entries", "head",
 *            "error"})}; ships this replica's noted reads first
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
 * Conflicts (daemon/conflicts.h, schema/004_conflicts.sql).  The hub
 * alone writes conflict records, in the canonical change of the push
 * that made them; they sync to the room's members like any row.
 *   GET  /v1/conflicts[?all=1]
 *        -> {"conflicts": [{"id", "room_id", "created_at", "table",
 *            "column", "key": {key column: value}, "kind" ("review" |
 *            "deleted_edit" | "insert_differs" | "update_missing" |
 *            "lww_lost" | "state_lost"), "status" ("open" | "resolved"),
 *            "winner": SIDE, "loser": SIDE, "resolved_by",
 *            "resolved_by_name", "resolved_at", "resolution" ("mine" |
 *            "theirs" | "value" | "auto"), "resolved_value"}], "open": n}
 *        SIDE = {"value", "missing" (true: no row: the value is null),
 *            "hlc", "at" (ms, from hlc), "origin" (device id or null),
 *            "staff", "staff_name" (of that device, null if unknown),
 *            "mine" (written by this device's staff)}
 *        winner: what the row took (the later write, or the further
 *        state); loser: what lost, kept here.  Open records of the rooms
 *        the staff is an active member of (on a hub: all), oldest first;
 *        ?all=1 adds resolved ones, history among them (lww_lost and
 *        state_lost are written resolved, resolution "auto").
 *   POST /v1/conflicts/{id}/resolve   {"keep": "mine" | "theirs" | value}
 *        -> 200 the record as listed, now resolved.  (device)
 *        id: the full id, or a unique end of it (6 characters or more).
 *        "mine": the side written by a device of this device's staff
 *        member, when exactly one side is (else 400 invalid, saying both
 *        or neither were); "theirs": the other side then.  Any other
 *        string, a number or null is the value to keep itself.
 *        One captured write of the record's room (it syncs like any
 *        change): the value is written to the row's column when the row
 *        holds another (with updated_by and updated_at, or the column's
 *        own *_by and *_at, naming this staff member and now), and the
 *        record is marked resolved (resolved_by, resolved_at, resolution,
 *        resolved_value).  409 exists: already resolved; 404 not_found:
 *        a value was chosen but the row is gone (keep the side without a
 *        row); 403 denied: not a member, room archived, or a new value
 *        for an append-only row.
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
	"primary_doctor_phone", "deputy_doctor", "deputy_doctor_phone",    \
	"family_contacts", "care_level", "dnar", "acp_summary", "hospital", \
	"reviewed_at"

/* Longest text a client may send in one field (bytes); bodies are capped
 * at API_MAX_BODY. */
#define API_MAX_TEXT (64 * 1024)
#define API_MAX_BODY (1024 * 1024)

/* Short code for an rk_err, used as "code" in error bodies. */
const char *api_code_name(int err);

#endif
