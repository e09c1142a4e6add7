/*
 * roomwork_int.h - what the roomwork files share (daemon/roomwork*.c):
 * SQL and JSON helpers, the access check, dates in Japan, and the write
 * wrapper that notes every write in the audit trail.  Not for use outside
 * the roomwork module; its API is daemon/roomwork.h.
 */
#ifndef RK_ROOMWORK_INT_H
#define RK_ROOMWORK_INT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "daemon/records.h"

struct store_tx;

/* --- SQL -------------------------------------------------------------- */

int rw_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
    RK_MUST_CHECK;
/* Runs st to completion and finalizes it; the reason in why. */
int rw_step_done(sqlite3 *db, sqlite3_stmt *st, struct rk_why *why)
    RK_MUST_CHECK;
void rw_bind_text_or_null(sqlite3_stmt *st, int i, const char *s);
/* Column i as JSON (integer, real, text or null); a new reference. */
json_t *rw_column_json(sqlite3_stmt *st, int i);
/* Column i as text, "" for NULL. */
const char *rw_column_text(sqlite3_stmt *st, int i);
/* The single integer one query with text ?1 (and ?2) returns: 0 and *v,
 * or an rk_err (no row is an error). */
int rw_query_int(sqlite3 *db, const char *sql, const char *p1,
    const char *p2, int64_t *v) RK_MUST_CHECK;
/* Copies the single text one query with text ?1 (and ?2) returns into
 * out ("" for NULL); 1 if there was a row, 0 if not, or an rk_err. */
int rw_query_text(sqlite3 *db, const char *sql, const char *p1,
    const char *p2, char *out, size_t outlen) RK_MUST_CHECK;

/* --- input ------------------------------------------------------------ */

/* Optional string member: absent or null -> *out NULL; else text of at
 * most API_MAX_TEXT bytes without NUL. */
int rw_opt_string(json_t *in, const char *key, const char **out,
    struct rk_why *why) RK_MUST_CHECK;
/* The same, and required (non-empty, not only blanks). */
int rw_req_string(json_t *in, const char *key, const char **out,
    struct rk_why *why) RK_MUST_CHECK;
/* in must be an object (or NULL, treated as empty when allow_null). */
int rw_need_object(json_t *in, int allow_null, struct rk_why *why)
    RK_MUST_CHECK;
/* Refuses members of in not listed in keys (NULL-terminated). */
int rw_known_keys(json_t *in, const char *const *keys, struct rk_why *why)
    RK_MUST_CHECK;

/* --- dates ------------------------------------------------------------ */

/* Today in Japan (UTC+9), where the users are: "YYYY-MM-DD". */
void rw_today(struct rec_ctx *c, char out[11]);
/* The date one year after d (Feb 29 -> Feb 28). */
void rw_plus_year(const char *d, char out[11]);
/* Unix ms as the Japanese calendar date "YYYY-MM-DD". */
void rw_date_of_ms(int64_t ms, char out[11]);
/* field must be a valid date; past_only: not after today; not_before:
 * not before that date (NULL: no bound), named in the message as
 * before_what. */
int rw_check_date(struct rec_ctx *c, const char *field, const char *v,
    int past_only, const char *not_before, const char *before_what,
    struct rk_why *why) RK_MUST_CHECK;

/* --- rooms and people --------------------------------------------------- */

struct rw_room {
	char kind[16];
	char status[16];
	char primary_doctor[65];
	char deputy_doctor[65];
	int member;		/* the acting staff is an active member */
};

/* The room must exist here and the acting staff be an active member (the
 * hub operator reads every room).  for_write: the room must be active and
 * this must be a device.  r may be NULL. */
int rw_room_access(struct rec_ctx *c, const char *room, int for_write,
    struct rw_room *r, struct rk_why *why) RK_MUST_CHECK;
/* Reads the room row; RK_ENOTFOUND if absent. */
int rw_room_load(struct rec_ctx *c, const char *room, struct rw_room *r,
    struct rk_why *why) RK_MUST_CHECK;
/* A membership's status ("" if none) into out[16]. */
int rw_member_status(sqlite3 *db, const char *room, const char *staff,
    char out[16]) RK_MUST_CHECK;
/* 1 if staff's profession (directory) is doctor or dentist, 0 if not or
 * unknown. */
int rw_is_doctor(sqlite3 *db, const char *staff);
/* {"id", "name", "profession", "agency_id", "agency_name", "phone"} of a
 * staff member (name etc. null if the directory does not know them). */
json_t *rw_staff_json(sqlite3 *db, const char *staff);

/* --- writes and the audit trail ------------------------------------------ */

/* Begins a captured write to room (append: only INSERTs of synced rows,
 * store_tx_begin_append). */
int rw_begin(struct rec_ctx *c, const char *room, int append,
    struct store_tx **tx, struct rk_why *why) RK_MUST_CHECK;
/* Notes the write (what: ids and names, never patient data) in the audit
 * trail, ships the room's noted events with it, and commits; tx is freed
 * either way.  *seq (may be NULL) as store_tx_commit. */
int rw_commit(struct rec_ctx *c, struct store_tx *tx, const char *room,
    const char *what, int64_t *seq, struct rk_why *why) RK_MUST_CHECK;

/* Notes one audit event locally (local_audit_pending), in the caller's
 * transaction if one is open. */
int rw_audit_note(struct rec_ctx *c, const char *room, const char *action,
    const char *what) RK_MUST_CHECK;
/* Moves the room's noted events into audit_events inside tx (open on
 * that room). */
int rw_audit_ship(struct store_tx *tx, sqlite3 *db, const char *room,
    struct rk_why *why) RK_MUST_CHECK;

/* --- what the sheets borrow from roomwork_clinical.c ------------------- */

/* The ACP revisions of room, newest first, appended to arr. */
int rw_acp_revisions(sqlite3 *db, const char *room, json_t *arr,
    struct rk_why *why) RK_MUST_CHECK;
/* The room's medications (current only, or all, current first) appended
 * to arr. */
int rw_meds(struct rec_ctx *c, const char *room, int current_only,
    json_t *arr, struct rk_why *why) RK_MUST_CHECK;

/* --- HTML --------------------------------------------------------------- */

int rw_html_escape(struct buf *b, const char *s) RK_MUST_CHECK;
/* The head and style shared by the printable sheets; title is escaped. */
int rw_html_head(struct buf *b, const char *title) RK_MUST_CHECK;
/* "<tr><th>label</th><td>escaped value</td></tr>" */
int rw_html_row(struct buf *b, const char *label, const char *value)
    RK_MUST_CHECK;

#endif
