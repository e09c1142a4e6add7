/*
 * wire.h - the sync protocol between devices (and relays) and a hub.
 * Version 1.  Everything a device and a hub say to each other is here;
 * envelope.c owns the envelope bytes, reqsig.c the request signatures.
 *
 * Transport: HTTP/1.1; https except to loopback addresses.  All integers
 * below are little-endian.  Every request except /v1/enroll is signed by
 * the device (REQUEST SIGNATURE); a hub answers errors as JSON
 * {"error": "...", "code": "..."} with a 4xx/5xx status and applies nothing
 * of a refused request.
 *
 * ENVELOPE v1 (one or more consecutive outbox entries of one room, merged
 * with sqlite3changegroup, signed once):
 *
 *   off  size  field
 *   0    4     magic "RKE1"
 *   4    1     origin_len (1..64)       | the "head"; every length is
 *   5    n     origin device id (ASCII) | checked against the total before
 *   .    1     room_len (1..64)         | it is used
 *   .    n     room id (ASCII)
 *   .    8     seq_first   (origin's outbox seq, >= 1)
 *   .    8     seq_last    (>= seq_first)
 *   .    2     schema_version
 *   .    8     hlc         (of the last entry)
 *   .    4     dict_id     (renkei's dictionary number: 0 none, 1 = v1, the
 *                            raw-content dictionary built into envelope.c)
 *   .    4     raw_len     (changeset bytes after decompression, <= WIRE_MAX_RAW)
 *   .    4     z_len       (compressed bytes that follow)
 *   .    z_len zstd frame of the changeset
 *   .    64    Ed25519 signature over "renkei-envelope-v1\0" || all the
 *              bytes above (magic .. end of zstd frame)
 *
 *   A receiver reads only the head, looks up the origin's public key,
 *   verifies the signature, and only then decompresses (refusing a frame
 *   whose content size is not raw_len or exceeds WIRE_MAX_RAW) and walks
 *   the changeset.
 *
 * REQUEST SIGNATURE (headers on every request but enrolment):
 *
 *   Renkei-Device: <device id>
 *   Renkei-Time: <unix ms, decimal>
 *   Renkei-Nonce: <32 lowercase hex chars, random>
 *   Renkei-Signature: <128 lowercase hex chars: Ed25519 over
 *       "renkei-request-v1\n" DEVICE "\n" METHOD "\n" PATH-WITH-QUERY
 *       "\n" hex(BLAKE2b-256(body)) "\n" TIME "\n" NONCE>
 *
 *   The device id is signed too: the hub picks the key, the revocation
 *   status and the nonce history by it, so it must not be swappable.
 *
 *   The hub refuses (401) an unknown device, a bad signature, a time more
 *   than WIRE_SKEW_MS from its clock, or a nonce it has seen from that
 *   device within the window; (403) a revoked device or a suspended staff
 *   member, saying which.
 *
 * ANSWER SIGNATURE (a header on every 2xx answer to a signed request):
 *
 *   Renkei-Answer-Signature: <128 lowercase hex chars: Ed25519 by the hub
 *       over "renkei-answer-v1\n" DEVICE "\n" NONCE "\n" STATUS "\n"
 *       hex(BLAKE2b-256(body))>, DEVICE and NONCE as the request sent them
 *
 *   The device refuses a 2xx answer without it or whose signature does
 *   not verify against the hub key it enrolled with: an answer is bound
 *   to the one request it answers and cannot be played back.  Error
 *   answers carry no data and are not signed (forging one can only stop a
 *   sync, as dropping the connection can).
 *
 * CALLS
 *
 *   POST /v1/enroll  (unsigned) JSON {"code", "device_id", "sign_pk",
 *        "box_pk" (hex), "proof": hex Ed25519 signature by the device's key
 *        over "renkei-enroll-v1\n" code "\n" device_id}
 *        -> {"staff", "agency", "hub_id", "hub_sign_pk" (hex)}
 *        A code is one-time and expires (WIRE_CODE_TTL_MS).
 *
 *   POST /v1/push    body: a sequence of (u32 length, ENVELOPE), at most
 *        WIRE_MAX_BODY bytes and WIRE_MAX_ENVELOPES envelopes.
 *        -> JSON {"results": [{"origin", "seq_first", "seq_last",
 *                 "status": "applied" | "duplicate" | "refused",
 *                 "hub_seq": n (applied/duplicate), "reason": text
 *                 (refused)}], "root": true|false}
 *        Envelopes are independent: one refused does not stop the others.
 *        An ack is sent only after the COMMIT that holds its apply.
 *        root=false: the answering hub is a relay and the acks are not yet
 *        durable at the root.
 *
 *   GET  /v1/pull?after=CURSOR&limit=N
 *        -> application/octet-stream:
 *        "RKP1", u64 next_cursor, u64 head (hub's last seq),
 *        u32 ctl_len, ctl_len bytes of JSON {"snapshot": [ROOM...],
 *        "purge": [ROOM...]} (rooms the device must fetch a snapshot of
 *        before it follows them, and rooms it no longer belongs to),
 *        u32 count, count entries of:
 *          u64 hub_seq, u8 room_len, room id ("" for the directory),
 *          u32 raw_len, u32 z_len, zstd frame of the canonical changeset
 *        then 64-byte Ed25519 signature by the hub over "renkei-pull-v1\0"
 *        || everything before it.  Only the requesting device's rooms and
 *        the directory are included.  410 Gone {"snapshot": true} when
 *        CURSOR is older than the hub's compacted log.
 *
 *   GET  /v1/snapshot?room=ROOM
 *        -> like pull, with entries (cut at about 4 MiB of changeset)
 *        holding INSERTs of every row of ROOM, table by table (room "" =
 *        the directory), and next_cursor the hub seq the snapshot is
 *        consistent with.  403 when the device's staff is not a member of
 *        ROOM.
 *
 *   GET  /v1/snapshot?rooms=ROOM,ROOM,...
 *        -> the same for up to WIRE_SNAPSHOT_ROOMS_MAX rooms at once (an
 *        empty name is the directory), all at one hub seq.  The hub gives
 *        whole rooms in order until the answer is large enough; ctl names
 *        them, {"rooms": [given...], "refused": [not a member of...]}, and
 *        the device asks again for any room in neither list.
 *
 *   GET  /v1/snapshot?rooms=ROOM,...&joined=1  (or ?joined=1 alone)
 *        -> the same, and after the rooms named every room the device's
 *        staff belongs to (or is invited to) that this device has not
 *        been given yet, as far as the answer's budget goes; ctl adds
 *        "joined": [those rooms left for another request].  A device
 *        enrolling or starting over asks this way for the directory and
 *        the rooms it holds, so that one answer usually brings all of it.
 *
 *   POST /v1/hashes  JSON {"cursor": n, "rooms": {"ROOM": "hex", ...}}
 *        -> {"mismatched": ["ROOM", ...]}; the hub records mismatches.
 */
#ifndef RK_WIRE_H
#define RK_WIRE_H

#define WIRE_ENVELOPE_MAGIC "RKE1"
#define WIRE_PULL_MAGIC "RKP1"
#define WIRE_SIG_ENVELOPE "renkei-envelope-v1"	/* NUL included */
#define WIRE_SIG_PULL "renkei-pull-v1"		/* NUL included */
#define WIRE_SIG_REQUEST "renkei-request-v1\n"
#define WIRE_SIG_ENROLL "renkei-enroll-v1\n"
#define WIRE_SIG_ANSWER "renkei-answer-v1\n"

#define WIRE_MAX_RAW (16u * 1024 * 1024)	/* one changeset, uncompressed */
#define WIRE_MAX_BODY (32u * 1024 * 1024)	/* one push request */
#define WIRE_MAX_ENVELOPES 4096
#define WIRE_SNAPSHOT_ROOMS_MAX 64u	/* rooms in one snapshot request */
#define WIRE_SKEW_MS (5LL * 60 * 1000)
#define WIRE_CODE_TTL_MS (72LL * 3600 * 1000)

#endif
