/*
 * columns.c - the conflict rule of every column of every synced table,
 * declared beside the schema (schema/001_base.sql).  Columns are listed in
 * schema order: a changeset names columns only by position, so column i
 * here is column i of the table (tests/unit/test_conflict.c checks this
 * against the schema).  A migration that adds a column adds it here too.
 *
 * The rules (meaning in conflict/merge.h):
 *   - clinical content (the emergency card, medications, the patient's
 *     birth date and sex) is REVIEW: later wins now, and a record keeps
 *     both values until a person confirms one;
 *   - descriptive text (titles, names, addresses, roles, due dates) is
 *     LWW;
 *   - states are MONOTONIC: request open < acknowledged < done = declined
 *     (done and declined are both terminal: between them the later wins
 *     and a review record keeps the other), room active < archived,
 *     membership invited < active < left (a removal is never undone by a
 *     concurrent acceptance), device active < revoked;
 *   - who/when columns are bookkeeping that follow the column they
 *     describe (status_by follows status) or the row's latest writer
 *     (updated_by, read_at), so they never mix two writers;
 *   - append-only tables (consents, posts, visits, read_receipts) hold
 *     ONCE columns: an update may only set deleted_at (and hlc); a
 *     correction is a new row.
 */
#include "conflict/policy.h"

#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define KEY(n) { n, COL_KEY, NULL, NULL }
#define HLC { "hlc", COL_HLC, NULL, NULL }
#define BOOK(n, l) { n, COL_BOOK, l, NULL }
#define FOLLOW(n, l) { n, COL_FOLLOW, l, NULL }
#define LWW(n) { n, COL_LWW, NULL, NULL }
#define REVIEW(n) { n, COL_REVIEW, NULL, NULL }
#define MONO(n, o) { n, COL_MONOTONIC, NULL, o }
#define DELETED { "deleted_at", COL_DELETED, NULL, NULL }
#define ONCE(n) { n, COL_ONCE, NULL, NULL }

/* ---- the directory (the hub writes it; kept for completeness) ---------- */

static const struct column_policy agencies_cols[] = {
	KEY("id"), LWW("name"), LWW("kind"), HLC,
};

static const struct column_policy staff_cols[] = {
	KEY("id"), LWW("agency_id"), LWW("name"), LWW("profession"),
	LWW("phone"),
	LWW("status"),		/* active <-> suspended: both ways */
	HLC,
};

static const struct column_policy devices_cols[] = {
	KEY("id"), ONCE("staff_id"), ONCE("sign_pk"), ONCE("box_pk"),
	MONO("status", "active<revoked"),
	ONCE("enrolled_at"), HLC,
};

/* ---- room tables ------------------------------------------------------- */

static const struct column_policy rooms_cols[] = {
	KEY("room_id"),
	ONCE("kind"),
	LWW("title"),
	MONO("status", "active<archived"),
	FOLLOW("archive_reason", "status"),
	ONCE("created_by"), ONCE("created_at"),
	HLC,
};

static const struct column_policy memberships_cols[] = {
	KEY("room_id"), KEY("staff_id"),
	LWW("role"),
	MONO("status", "invited<active<left"),
	ONCE("added_by"), ONCE("added_at"),
	HLC,
};

static const struct column_policy patients_cols[] = {
	KEY("room_id"),
	LWW("name"), LWW("name_kana"),
	REVIEW("birth_date"),	/* identifies the patient to a crew */
	REVIEW("sex"),
	LWW("address"), LWW("phone"),
	HLC,
};

static const struct column_policy consents_cols[] = {
	KEY("room_id"), KEY("id"),
	ONCE("consent_date"), ONCE("consenter"), ONCE("consenter_name"),
	ONCE("relation"), ONCE("scope"), ONCE("paper_location"),
	ONCE("recorded_by"), ONCE("recorded_at"),
	DELETED, HLC,
};

static const struct column_policy posts_cols[] = {
	KEY("room_id"), KEY("id"),
	ONCE("author"), ONCE("created_at"), ONCE("body"),
	DELETED, HLC,
};

static const struct column_policy visits_cols[] = {
	KEY("room_id"), KEY("id"),
	ONCE("author"), ONCE("visited_at"),
	ONCE("bp_sys"), ONCE("bp_dia"), ONCE("pulse"), ONCE("temp"),
	ONCE("spo2"), ONCE("resp"), ONCE("weight"), ONCE("note"),
	DELETED, HLC,
};

/* What an ambulance crew reads: every field is clinical. */
static const struct column_policy emergency_cards_cols[] = {
	KEY("room_id"),
	REVIEW("diagnoses"), REVIEW("allergies"), REVIEW("medications"),
	REVIEW("primary_doctor"), REVIEW("deputy_doctor"),
	REVIEW("family_contacts"), REVIEW("care_level"),
	REVIEW("acp_summary"), REVIEW("hospital"),
	BOOK("updated_by", NULL), BOOK("updated_at", NULL),
	HLC,
	/* 003_roomwork.sql */
	REVIEW("primary_doctor_phone"), REVIEW("deputy_doctor_phone"),
	REVIEW("dnar"),
	LWW("reviewed_at"),	/* the yearly review's date */
};

static const struct column_policy medications_cols[] = {
	KEY("room_id"), KEY("id"),
	REVIEW("name"), REVIEW("dose"), REVIEW("route"), REVIEW("frequency"),
	REVIEW("start_date"), REVIEW("stop_date"), REVIEW("prescriber"),
	DELETED, HLC,
};

static const struct column_policy requests_cols[] = {
	KEY("room_id"), KEY("id"),
	ONCE("kind"),
	LWW("title"), LWW("body"),
	ONCE("requester"),
	LWW("assignee"),		/* may be handed on */
	ONCE("created_at"),
	LWW("due_date"),
	MONO("status", "open<acknowledged<done=declined"),
	FOLLOW("status_reason", "status"),
	BOOK("status_by", "status"), BOOK("status_at", "status"),
	DELETED, HLC,
	/* 003_roomwork.sql */
	LWW("acknowledged_at"),
};

static const struct column_policy read_receipts_cols[] = {
	KEY("room_id"), KEY("target_id"), KEY("staff_id"),
	BOOK("read_at", NULL),	/* a second device's receipt adds nothing */
	HLC,
};

/* ---- 003_roomwork.sql ------------------------------------------------------ */

/* The main and deputy doctor (staff ids) and who archived the room. */
static const struct column_policy room_details_cols[] = {
	KEY("room_id"),
	LWW("primary_doctor"), LWW("deputy_doctor"),
	LWW("archived_at"), LWW("archived_by"),
	HLC,
};

/* Each ACP revision is kept as written; a new revision supersedes it. */
static const struct column_policy acp_revisions_cols[] = {
	KEY("room_id"), KEY("id"),
	ONCE("recorded_by"), ONCE("recorded_at"), ONCE("discussed_on"),
	ONCE("present"), ONCE("wishes"), ONCE("dnar"), ONCE("summary"),
	DELETED, HLC,
};

/* An admission/discharge sheet's content is one JSON text: two offline
 * edits of one sheet keep both in a review record. */
static const struct column_policy sheets_cols[] = {
	KEY("room_id"), KEY("id"),
	ONCE("kind"),
	REVIEW("content"),
	ONCE("created_by"), ONCE("created_at"),
	BOOK("updated_by", NULL), BOOK("updated_at", NULL),
	DELETED, HLC,
};

static const struct column_policy audit_events_cols[] = {
	KEY("room_id"), KEY("id"),
	ONCE("at"), ONCE("staff"), ONCE("device"), ONCE("action"),
	ONCE("what"),
	HLC,
};

/* ---- 004_conflicts.sql ----------------------------------------------------- */

/* A record's content is written once by the hub; resolving it moves
 * status to resolved, and who, when, how and what value go with it. */
static const struct column_policy conflicts_cols[] = {
	KEY("room_id"), KEY("id"),
	ONCE("created_at"), ONCE("table_name"), ONCE("row_key"),
	ONCE("column_name"), ONCE("kind"),
	ONCE("winner_value"), ONCE("loser_value"),
	ONCE("winner_hlc"), ONCE("loser_hlc"),
	ONCE("winner_origin"), ONCE("loser_origin"),
	MONO("status", "open<resolved"),
	BOOK("resolved_by", "status"), BOOK("resolved_at", "status"),
	BOOK("resolution", "status"), BOOK("resolved_value", "status"),
	HLC,
};

#define T(name, hard) { #name, N(name##_cols), name##_cols, hard }

/* Same order as policy_tables (conflict/policy.c). */
const struct table_columns policy_columns[] = {
	T(agencies, 1),
	T(staff, 1),
	T(devices, 1),
	T(rooms, 0),
	T(memberships, 0),
	T(patients, 0),
	T(consents, 0),
	T(posts, 0),
	T(visits, 0),
	T(emergency_cards, 0),
	T(medications, 0),
	T(requests, 0),
	T(read_receipts, 1),	/* an "OK" tapped by mistake may go */
	T(room_details, 0),
	T(acp_revisions, 0),
	T(sheets, 0),
	T(audit_events, 0),
	T(conflicts, 0),
	{ NULL, 0, NULL, 0 },
};

const struct table_columns *
policy_columns_for_table(const char *table)
{
	const struct table_columns *t;

	if (table == NULL)
		return NULL;
	for (t = policy_columns; t->table != NULL; t++)
		if (strcmp(t->table, table) == 0)
			return t;
	return NULL;
}
