/*
 * roomwork.h - the work a patient room does, behind the local API: requests
 * (依頼) and read receipts, invitations and leaving (with the doctor or
 * dentist rule), the main and deputy doctor, archiving, the patient's
 * details, ACP revisions, medications, the emergency card's extra fields
 * and printable sheets (救急情報カード, 入院時情報提供, 退院時情報), and the
 * audit trail with the hub's hash chain.
 *
 * Like records.h: JSON in and out (the contract is common/api.h), every
 * input checked first with the field named in why, then one captured
 * transaction on one room (store.h) -- a refused call writes nothing.  The
 * caller holds store_lock.  Each *out is a new reference the caller
 * releases with json_decref.
 *
 * Files: roomwork.c (helpers, requests, receipts, members, archive,
 * status), roomwork_clinical.c (patient, ACP, medications),
 * roomwork_sheet.c (card extras, printable card and sheets),
 * roomwork_audit.c (audit trail and chain).
 */
#ifndef RK_ROOMWORK_H
#define RK_ROOMWORK_H

#include <jansson.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "daemon/records.h"

struct store;

/* --- requests (依頼) ------------------------------------------------------ */

/*
 * {"assignee": staff, "kind": id, "title", optional "body", "due_date"}
 * -> {"id", "seq"}.  kind: visiting-nurse-instruction (訪問看護指示書),
 * information-letter (情報提供書), home-visit-request (往診依頼),
 * medication-check (薬の確認), free (その他).  The assignee must be
 * another active member; due_date a date not before today (Japan).
 */
int roomwork_request_add(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/*
 * {"id", "status": "acknowledged"|"done"|"declined"|"withdrawn",
 *  "reason" (required for declined)} -> the request as listed.
 * Only the assignee acknowledges, completes or declines; only the
 * requester withdraws.  States only go forward: open -> acknowledged ->
 * done, or declined from open/acknowledged; asking for the state a
 * request is already in changes nothing.  "id" may be the end of the
 * id (4 characters or more, any case) when it matches one request: it is
 * resolved here, with no read of the room noted in the audit trail.
 */
int roomwork_request_status(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* -> {"room_id", "today", "requests": [request...]}, overdue first, then
 * open, then by due date; withdrawn ones only with {"all": true}.  A
 * request: {"id", "kind", "kind_label", "title", "body", "requester",
 * "requester_name", "assignee", "assignee_name", "created_at",
 * "due_date", "status", "status_reason", "status_by", "status_at",
 * "acknowledged_at", "withdrawn", "overdue", "read_by": [{"staff",
 * "name", "read_at"}]}. */
int roomwork_requests_list(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* Across the rooms the acting staff is in: {"today", "requests": [...]}
 * (each with "room_id"): open or acknowledged ones asked of or by them. */
int roomwork_requests_mine(struct rec_ctx *c, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* The Japanese label of a request kind, or NULL if kind is unknown. */
const char *roomwork_request_kind_label(const char *kind);

/* --- read receipts ("OK") ------------------------------------------------ */

/* {"id": post or request id, or its end as for request_status} ->
 * {"id" (whole), "type", "read_at", "read_by": [...]}.  Marking twice
 * keeps the first time. */
int roomwork_read_mark(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* -> {"room_id", "receipts": {"<id>": [{"staff", "name", "read_at"}]}} */
int roomwork_receipts(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;

/* --- members, doctors, archive ------------------------------------------- */

/* -> {"room_id", "status", "archive_reason", "primary_doctor",
 * "deputy_doctor", "members": [{"staff_id", "name", "profession",
 * "agency_id", "agency_name", "phone", "role", "status", "added_by",
 * "added_at"}]} */
int roomwork_members(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* {"staff"} -> {"room_id", "staff", "status": "invited", "seq"}.  The
 * staff member must be in the directory, active, and not already in. */
int roomwork_member_invite(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* The invitee answers: {"accept": true|false} -> {"room_id", "staff",
 * "status": "active"|"left", "seq"}. */
int roomwork_invitation_answer(struct rec_ctx *c, const char *room,
    json_t *in, json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* {"staff" (default: the acting staff)} -> {"room_id", "staff", "status":
 * "left", "seq"}.  Anyone leaves; an invitation may be withdrawn by any
 * member; another active member is removed by the room's owner only.
 * Refused if it would leave a patient room without an active doctor or
 * dentist.  The leaver stops being main or deputy doctor. */
int roomwork_member_leave(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* Invitations waiting for the acting staff: {"invitations": [{"room_id",
 * "patient_name", "title", "invited_by", "invited_by_name",
 * "invited_at"}]}. */
int roomwork_invitations(struct rec_ctx *c, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* {"primary": staff|null, "deputy": staff|null} (each optional) -> the
 * members as roomwork_members.  Each must be an active member who is a
 * doctor or dentist, and the two differ. */
int roomwork_room_doctors(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* {"reason": "death"|"moved"|"consent_withdrawn"} -> {"room_id",
 * "status": "archived", "archive_reason", "archived_at", "seq"}.  From
 * then on the room is read-only. */
int roomwork_room_archive(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;

/* Adds to a status object: "requests_open", "requests_overdue",
 * "requests_for_me" (open or acknowledged, asked of the acting staff),
 * "invitations", "cards_review_due" (emergency cards not reviewed for a
 * year).  RK_ENOMEM or RK_EDB. */
int roomwork_status(struct rec_ctx *c, json_t *status) RK_MUST_CHECK;

/* --- the patient, ACP, medications -------------------------------------- */

/* -> {"room_id", "name", "name_kana", "birth_date", "sex", "address",
 * "phone"} */
int roomwork_patient_get(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* Any of those fields but room_id (null clears; name cannot be cleared;
 * birth_date not in the future) -> the patient as GET. */
int roomwork_patient_patch(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* -> {"room_id", "current": revision|null, "revisions": [newest first]};
 * a revision: {"id", "recorded_by", "recorded_by_name", "recorded_at",
 * "discussed_on", "present", "wishes", "dnar", "summary"}. */
int roomwork_acp_list(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* {"wishes", "present", optional "dnar", "summary", "discussed_on" (not
 * in the future)} -> {"id", "seq"}.  The emergency card's acp_summary
 * (and dnar, when given) take the new revision's in the same write. */
int roomwork_acp_record(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* -> {"room_id", "medications": [{"id", "name", "dose", "route",
 * "frequency", "start_date", "stop_date", "prescriber", "current"}]} */
int roomwork_meds_list(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* {"name", optional "dose", "route", "frequency", "start_date",
 * "stop_date", "prescriber"} -> {"id", "seq"}; stop not before start. */
int roomwork_med_add(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* {"id", "stop_date"} -> the medication; not before its start. */
int roomwork_med_stop(struct rec_ctx *c, const char *room, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;

/* --- the card and the printable sheets ----------------------------------- */

/* Adds to a card object what the room holds besides the card row:
 * "address", "phone" (patient), "primary_doctor_member" and
 * "deputy_doctor_member" (staff JSON or null), "acp" (current revision or
 * null), "current_medications" (array), "reviewed_at", "review_due"
 * (date), "review_overdue" (bool), "updated_by_name". */
int roomwork_card_extras(struct rec_ctx *c, const char *room, json_t *card)
    RK_MUST_CHECK;
/* The printable one-page emergency card (HTML), appended to out: every
 * field a crew needs, printed date, last update and by whom, review due. */
int roomwork_card_html(struct rec_ctx *c, const char *room, struct buf *out,
    struct rk_why *why) RK_MUST_CHECK;

/* kind "admission" | "discharge".  -> {"room_id", "kind", "id" (null for
 * a draft), "draft", "fields": [{"field", "label", "value"}],
 * "created_by", "created_at", "updated_by", "updated_at"}: the latest
 * sheet of that kind, or a draft filled from the room. */
int roomwork_sheet_get(struct rec_ctx *c, const char *room, const char *kind,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* {"fields": {field: text|null}, optional "new": true} -> the sheet as
 * GET.  The first save (or "new") makes a sheet from the draft. */
int roomwork_sheet_patch(struct rec_ctx *c, const char *room,
    const char *kind, json_t *in, json_t **out, struct rk_why *why)
    RK_MUST_CHECK;
/* -> {"room_id", "kind", "html"}: the sheet (or draft) printable. */
int roomwork_sheet_print(struct rec_ctx *c, const char *room,
    const char *kind, json_t **out, struct rk_why *why) RK_MUST_CHECK;
/* -> {"room_id", "sheets": [{"id", "kind", "created_by", "created_at",
 * "updated_by", "updated_at"}]} newest first. */
int roomwork_sheets_list(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;

/* --- the audit trail ------------------------------------------------------ */

/*
 * Notes that the acting staff read room (what: a resource name, never
 * patient data).  Kept locally and shipped with the next write to the
 * room or by roomwork_audit_flush.  Failure is returned, not logged.
 */
int roomwork_audit_read(struct rec_ctx *c, const char *room,
    const char *what) RK_MUST_CHECK;
/* The same for a write, inside the write's transaction (before
 * store_tx_commit), so a write and its audit note are saved together. */
int roomwork_audit_write(struct rec_ctx *c, const char *room,
    const char *what) RK_MUST_CHECK;
/*
 * Ships the noted events of room (NULL: every room) as audit_events rows,
 * one captured transaction per room.  A device drops the notes of rooms
 * it no longer holds or belongs to.  On a hub the events are canonical at
 * once and chained (roomwork_audit_chain_extend).  The `audit` call runs
 * it for its room; a nightly or idle-time caller may run it for all (not
 * wired into the sync engine: see the roomwork report).  *n (may be
 * NULL): how many events were shipped.
 */
int roomwork_audit_flush(struct store *s, int is_hub, const char *room,
    int64_t *n, struct rk_why *why) RK_MUST_CHECK;
/*
 * Hub: appends the room's audit_events rows not yet chained to
 * local_audit_chain, in (hlc, id) order.  Call inside the transaction
 * that applied them (hub_apply) so an event is chained before anyone can
 * alter it; the `audit` call and the nightly job call it too.  *n (may
 * be NULL): entries added.
 */
int roomwork_audit_chain_extend(struct store *s, const char *room,
    int64_t *n, struct rk_why *why) RK_MUST_CHECK;
/*
 * Hub: checks the room's chain: every entry's prev_hash is the previous
 * entry's hash and its hash matches its event as stored; no chained event
 * is missing.  0 with *ok 1, or *ok 0 and why naming the first broken
 * entry.
 */
int roomwork_audit_verify(struct store *s, const char *room, int *ok,
    struct rk_why *why) RK_MUST_CHECK;
/* -> {"room_id", "role", "events": [{"seq" (hub), "id", "at", "staff",
 * "device", "action", "what", "hash" (hub)}], "chain": {"verified":
 * bool, "entries": n, "head": hash, "error": text|null} (hub only),
 * "pending": n}.  Ships this replica's noted events first. */
int roomwork_audit_list(struct rec_ctx *c, const char *room, json_t **out,
    struct rk_why *why) RK_MUST_CHECK;
/* Purging archived rooms after the retention period: daemon/retention.h. */

#endif
