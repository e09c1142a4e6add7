/*
 * hub.h - the hub role over a store, without HTTP (hubhttp.c serves it):
 * request authentication, applying pushed envelopes into the canonical
 * log, pulls, room snapshots, enrolment and room-hash reports.  The
 * protocol is daemon/wire.h; the algorithm is written down in hub.c.
 *
 * Locking: every hub_* call below takes store_lock() itself and releases
 * it before returning, so the caller must NOT hold it.  hub_room_rules()
 * is the exception: it runs inside the caller's transaction (admin.c).
 */
#ifndef RK_HUB_H
#define RK_HUB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"

struct hub;
struct keys;
struct reqsig_headers;
struct sqlite3;
struct store;

/* Pull: entries per response unless the device asks for fewer, the most
 * it may ask for, and the changeset bytes one response aims to stay under
 * (at least one entry is always sent). */
#define HUB_PULL_LIMIT_DEFAULT 1000u
#define HUB_PULL_LIMIT_MAX 10000u
#define HUB_PULL_MAX_BYTES (8u * 1024 * 1024)
/* Snapshot entries are cut at about this many changeset bytes; one
 * answer for several rooms stops adding whole rooms past the batch budget
 * (the device asks again for the rest). */
#define HUB_SNAPSHOT_CHUNK (4u * 1024 * 1024)
#define HUB_SNAPSHOT_BATCH_RAW (8u * 1024 * 1024)
/* One push may expand to at most this many changeset bytes in all (each
 * envelope is capped at WIRE_MAX_RAW by the envelope decoder); past it
 * the request is refused (RK_EPROTO) and nothing is applied.  It bounds
 * the time one request holds the store. */
#define HUB_PUSH_MAX_RAW (256u * 1024 * 1024)
/* How long a refused enrolment waits before it is answered (slows code
 * guessing).  hub_enroll does not sleep: its caller delays the answer
 * (hubhttp.c does so without holding a server thread). */
#define HUB_ENROLL_DELAY_MS 1000
/* The local_meta key that turns the doctor-or-dentist rule off ('0'). */
#define HUB_META_REQUIRE_DOCTOR "require_doctor"
/* Characters of an enrolment code without hyphens (Crockford base32,
 * 5 bits each: 50 bits), shown as XXXX-XXXX-XX. */
#define HUB_CODE_CHARS 10

/* Opens the hub over s, which must be a hub store (is_hub).  k (the hub's
 * signing key signs pull responses) and clock must outlive the hub; clock
 * NULL is the wall clock.  Free with hub_close. */
int hub_open(struct store *s, const struct keys *k,
    const struct rk_clock *clock, struct hub **out) RK_MUST_CHECK;
void hub_close(struct hub *h);

/* How many decompressed bytes of a push's envelopes may be read ahead of
 * their apply (hub.c); 0 restores the default.  For tests. */
void hub_set_read_ahead(struct hub *h, size_t max_raw);

/*
 * The hub's signature (wire.h, ANSWER SIGNATURE) on a 2xx answer of
 * status and body to the request device signed with nonce, as 128 hex
 * digits into sig_hex.
 */
int hub_sign_answer(struct hub *h, const char *device, const char *nonce,
    unsigned status, const uint8_t *body, size_t len, char sig_hex[129])
    RK_MUST_CHECK;

/*
 * Checks a signed request (wire.h, REQUEST SIGNATURE) for method and path
 * (the raw request target, with its query) over body.  On success writes
 * the device id to device_out.  RK_EAUTH (401): unknown device, malformed
 * headers, bad signature, clock skew, replayed nonce; RK_EDENIED (403): a
 * revoked device or suspended staff member, saying which.
 */
int hub_auth(struct hub *h, const struct reqsig_headers *hd,
    const char *method, const char *path, const uint8_t *body, size_t len,
    char device_out[65], struct rk_why *why) RK_MUST_CHECK;

/*
 * POST /v1/push from the authenticated device_id: applies every envelope
 * of body in one transaction and, after COMMIT, sets *out to the JSON
 * answer {"results": [...], "root": true} (json_decref it).  An envelope
 * refused by a rule is a result, not an error.  Errors (nothing applied):
 * RK_EPROTO broken framing, a malformed envelope or changeset, a frame
 * over the size caps; RK_EAUTH an envelope signature that does not
 * verify; RK_EDENIED an envelope from another origin (relaying is not
 * supported yet); RK_EDB etc. for the hub's own failures.
 */
int hub_push(struct hub *h, const char *device_id, const uint8_t *body,
    size_t len, json_t **out, struct rk_why *why) RK_MUST_CHECK;

/*
 * GET /v1/pull: appends the signed pull response (envelope.h) for
 * device_id after cursor `after` to out.  limit 0 means the default.
 * RK_ENOTFOUND when the cursor is older than the retained log or newer
 * than its head (another hub's cursor): answer 410 {"snapshot": true}.
 */
int hub_pull(struct hub *h, const char *device_id, uint64_t after,
    unsigned limit, struct buf *out, struct rk_why *why) RK_MUST_CHECK;

/*
 * GET /v1/snapshot: appends a signed pull response holding INSERTs of
 * every row of room ("" = the directory) in entries of at most about
 * HUB_SNAPSHOT_CHUNK bytes, each with hub_seq = next_cursor = the head the
 * snapshot is consistent with; from then on pulls send the room's entries
 * after that head.  RK_EDENIED if the device's staff is not an active
 * member of room.
 */
int hub_snapshot(struct hub *h, const char *device_id, const char *room,
    struct buf *out, struct rk_why *why) RK_MUST_CHECK;

/*
 * GET /v1/snapshot?rooms=A,B,...: the snapshots of several rooms ("" the
 * directory; 1..WIRE_SNAPSHOT_ROOMS_MAX, none twice) in one answer, read
 * and recorded in one transaction at one head.  Rooms are taken whole, in
 * order, until their changesets pass HUB_SNAPSHOT_BATCH_RAW (at least
 * one is).  ctl says which: {"rooms": [given...], "refused": [rooms the
 * device's staff is not a member of]}; a room in neither is to be asked
 * for again.  flags: HUB_SNAP_STRICT, a room not a member's is RK_EDENIED
 * instead (what hub_snapshot does); HUB_SNAP_JOINED (&joined=1), after
 * the rooms named, every room of the staff's the device has not been
 * given yet, within the same budget and at most WIRE_SNAPSHOT_ROOMS_MAX
 * rooms an answer, and ctl "joined": [those left for another request];
 * with it, rooms may be NULL and n 0.
 */
#define HUB_SNAP_STRICT	1u
#define HUB_SNAP_JOINED	2u
int hub_snapshot_rooms(struct hub *h, const char *device_id,
    const char *const *rooms, size_t n, unsigned flags, struct buf *out,
    struct rk_why *why) RK_MUST_CHECK;

/*
 * POST /v1/enroll (unsigned): {"code", "device_id", "sign_pk", "box_pk",
 * "proof"} -> *out {"staff", "agency", "hub_id", "hub_sign_pk"}.
 * RK_EAUTH "enrolment code is wrong, used or expired" (the same words for
 * all three; delay the answer by HUB_ENROLL_DELAY_MS) or a proof that does
 * not verify; RK_EINVAL malformed fields; RK_EEXIST the device id is
 * enrolled with other keys; RK_EDENIED revoked device, suspended staff.
 */
int hub_enroll(struct hub *h, json_t *in, json_t **out, struct rk_why *why)
    RK_MUST_CHECK;

/*
 * POST /v1/hashes: {"cursor": n, "rooms": {"ROOM": "hex", ...}} ->
 * *out {"mismatched": [ROOM...]}.  Each report is recorded in
 * local_room_hashes with matches 1 or 0, or -1 when the hub's room has
 * changed after the device's cursor (not comparable; not a mismatch).
 * Rooms the device does not follow are ignored.
 */
int hub_hashes(struct hub *h, const char *device_id, json_t *in,
    json_t **out, struct rk_why *why) RK_MUST_CHECK;

/*
 * The room rules, checked after a room is created or its memberships or
 * consents change, inside the caller's transaction (store locked): the
 * room exists; every member is in the staff directory; a patient room has
 * a consent on record and, unless local_meta require_doctor = 0, an
 * active member who is a doctor or dentist.  RK_EDENIED naming the rule.
 */
int hub_room_rules(struct sqlite3 *db, const char *room, struct rk_why *why)
    RK_MUST_CHECK;
/* 1 unless local_meta require_doctor says 0 / false / off. */
int hub_require_doctor(struct sqlite3 *db);

/* The BLAKE2b-256 an enrolment code is stored under: upper-cased, with
 * hyphens and spaces dropped and Crockford's look-alikes (I, L -> 1;
 * O -> 0) folded.  RK_EINVAL if it is not HUB_CODE_CHARS such characters. */
int hub_code_hash(const char *code, uint8_t out[32]) RK_MUST_CHECK;

#endif
