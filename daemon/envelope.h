/*
 * envelope.h - encoding and decoding of the signed, compressed units of the
 * sync protocol (wire.h): envelopes (device -> hub) and pull responses
 * (hub -> device).  Decoders treat their input as hostile: the signature is
 * verified before a byte of the payload is decompressed or parsed.
 */
#ifndef RK_ENVELOPE_H
#define RK_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

struct envelope {
	char origin[65];
	char room[65];
	uint64_t seq_first;
	uint64_t seq_last;
	uint16_t schema_version;
	uint64_t hlc;
	uint8_t *changeset;	/* raw; malloc'd, freed by envelope_release */
	size_t changeset_len;
};

/* Appends the encoded, compressed and signed envelope to out. */
int envelope_encode(const struct envelope *e, const uint8_t sign_sk[64],
    struct buf *out) RK_MUST_CHECK;

/* Reads the head only -- origin and room -- so the caller can find the
 * origin's public key.  Nothing is trusted yet.  RK_EPROTO if malformed. */
int envelope_peek(const uint8_t *p, size_t n, char origin[65],
    char room[65]) RK_MUST_CHECK;

/* Verifies the signature with sign_pk (RK_EAUTH if it fails), then
 * decompresses (RK_EPROTO if the frame is bad, larger than WIRE_MAX_RAW or
 * not raw_len) and fills e.  The changeset is not walked here. */
int envelope_decode(const uint8_t *p, size_t n, const uint8_t sign_pk[32],
    struct envelope *e) RK_MUST_CHECK;

void envelope_release(struct envelope *e);

/* Added with envelope.c v1 (the format is written down there). */

/* The smallest possible envelope: 1-byte ids, a 9-byte zstd frame. */
#define ENVELOPE_MIN_SIZE 119

/* The envelope's dict_id: no dictionary, or renkei's dictionary v1 (zstd
 * raw content, built from constants in envelope.c, never changed). */
#define ENVELOPE_DICT_NONE 0u
#define ENVELOPE_DICT_V1 1u

/* The raw changeset bytes of all entries of one pull response together. */
#define ENVELOPE_PULL_MAX_RAW (256u * 1024 * 1024)

/* As envelope_encode (which uses ENVELOPE_DICT_V1), with the dictionary
 * chosen: ENVELOPE_DICT_NONE or ENVELOPE_DICT_V1. */
int envelope_encode_dict(const struct envelope *e, uint32_t dict_id,
    const uint8_t sign_sk[64], struct buf *out) RK_MUST_CHECK;

/* As envelope_decode, and says why it refused (for the push "reason");
 * envelope_decode logs that text instead. */
int envelope_decode_why(const uint8_t *p, size_t n,
    const uint8_t sign_pk[32], struct envelope *e, struct rk_why *why)
    RK_MUST_CHECK;

/* The bytes of a dictionary (static, never freed), or NULL. */
const uint8_t *envelope_dict(uint32_t dict_id, size_t *len);

/* Splits a push body into envelopes: calls fn for each (u32 len, bytes);
 * RK_EPROTO if the framing is broken or exceeds the limits of wire.h. */
int envelope_split(const uint8_t *body, size_t n,
    int (*fn)(void *arg, const uint8_t *env, size_t len), void *arg)
    RK_MUST_CHECK;

/* One canonical changeset of a pull or snapshot response. */
struct pull_entry {
	uint64_t hub_seq;
	char room[65];		/* "" for the directory */
	uint8_t *changeset;	/* raw; malloc'd */
	size_t changeset_len;
};

struct pull_response {
	uint64_t next_cursor;
	uint64_t head;
	char *ctl_json;		/* malloc'd, NUL-terminated */
	struct pull_entry *entries;	/* malloc'd array */
	size_t count;
};

/* Builder: start, add entries, finish with the hub's signature. */
struct pull_writer;
int pull_writer_new(uint64_t next_cursor, uint64_t head, const char *ctl_json,
    struct pull_writer **out) RK_MUST_CHECK;
int pull_writer_add(struct pull_writer *w, uint64_t hub_seq,
    const char *room, const uint8_t *changeset, size_t len) RK_MUST_CHECK;
/* The same with the entry's zstd frame made before (pull_frame_make),
 * so a hub can keep a changeset as the frame a pull carries. */
int pull_writer_add_frame(struct pull_writer *w, uint64_t hub_seq,
    const char *room, const uint8_t *frame, size_t zlen) RK_MUST_CHECK;
/* Appends to out the frame pull_writer_add would write for changeset:
 * byte for byte what a pull entry carries. */
int pull_frame_make(const uint8_t *changeset, size_t len, struct buf *out)
    RK_MUST_CHECK;
/* Whether p begins as a zstd frame does (a raw changeset cannot). */
int pull_frame_is(const uint8_t *p, size_t n);
/* The content size of such a frame, checked as a pull's decoder would
 * (one whole frame, its size given and within WIRE_MAX_RAW, no
 * dictionary); RK_EPROTO otherwise. */
int pull_frame_size(const uint8_t *frame, size_t zlen, uint64_t *raw_len)
    RK_MUST_CHECK;
/* Decompresses such a frame into *out (malloc'd, the caller's to free()),
 * *len bytes. */
int pull_frame_inflate(const uint8_t *frame, size_t zlen, uint8_t **out,
    size_t *len) RK_MUST_CHECK;
/* Signs and hands the bytes to out; frees w either way. */
int pull_writer_finish(struct pull_writer *w, const uint8_t hub_sign_sk[64],
    struct buf *out) RK_MUST_CHECK;
void pull_writer_free(struct pull_writer *w);

/* Verifies with the hub's key, then decodes everything. */
int pull_decode(const uint8_t *p, size_t n, const uint8_t hub_sign_pk[32],
    struct pull_response *out) RK_MUST_CHECK;
void pull_response_release(struct pull_response *r);

/* As pull_decode, and says why it refused; pull_decode logs that text. */
int pull_decode_why(const uint8_t *p, size_t n, const uint8_t hub_sign_pk[32],
    struct pull_response *out, struct rk_why *why) RK_MUST_CHECK;

#endif
