/* csenc.c - INSERT changesets without a session (see csenc.h). */
#include "daemon/csenc.h"

#include <sqlite3.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"

static void
csenc_bytes(struct buf *b, const void *p, size_t n, int *err)
{
	if (!*err && buf_append(b, p, n) != 0)
		*err = RK_ENOMEM;
}

void
csenc_varint(struct buf *b, uint64_t v, int *err)
{
	uint8_t tmp[10], out[10];
	int n = 0, i;

	if (v > 0x00ffffffffffffffULL) {
		/* Nine bytes: eight of seven bits, the last of eight. */
		out[8] = (uint8_t)v;
		v >>= 8;
		for (i = 7; i >= 0; i--) {
			out[i] = (uint8_t)((v & 0x7f) | 0x80);
			v >>= 7;
		}
		csenc_bytes(b, out, 9, err);
		return;
	}
	do {
		tmp[n++] = (uint8_t)((v & 0x7f) | 0x80);
		v >>= 7;
	} while (v != 0);
	tmp[0] &= 0x7f;
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	csenc_bytes(b, out, (size_t)n, err);
}

void
csenc_table(struct buf *b, const char *name, int ncol, const uint8_t *pk,
    int *err)
{
	uint8_t t = 'T';

	csenc_bytes(b, &t, 1, err);
	csenc_varint(b, (uint64_t)ncol, err);
	csenc_bytes(b, pk, (size_t)ncol, err);
	csenc_bytes(b, name, strlen(name) + 1, err);
}

void
csenc_insert(struct buf *b, int *err)
{
	uint8_t hdr[2] = { SQLITE_INSERT, 0 };

	csenc_bytes(b, hdr, 2, err);
}

void
csenc_value(struct buf *b, sqlite3_value *v, int *err)
{
	uint8_t x[9];
	uint64_t u;
	double d;
	int i, type = sqlite3_value_type(v);

	switch (type) {
	case SQLITE_INTEGER:
	case SQLITE_FLOAT:
		x[0] = (uint8_t)type;
		if (type == SQLITE_INTEGER) {
			u = (uint64_t)sqlite3_value_int64(v);
		} else {
			d = sqlite3_value_double(v);
			memcpy(&u, &d, sizeof(u));
		}
		for (i = 0; i < 8; i++)
			x[1 + i] = (uint8_t)(u >> (56 - 8 * i));
		csenc_bytes(b, x, 9, err);
		break;
	case SQLITE_TEXT:
	case SQLITE_BLOB:
		x[0] = (uint8_t)type;
		csenc_bytes(b, x, 1, err);
		if (type == SQLITE_TEXT) {
			const unsigned char *t = sqlite3_value_text(v);
			int n = sqlite3_value_bytes(v);

			csenc_varint(b, (uint64_t)n, err);
			csenc_bytes(b, t, (size_t)n, err);
		} else {
			const void *p = sqlite3_value_blob(v);
			int n = sqlite3_value_bytes(v);

			csenc_varint(b, (uint64_t)n, err);
			csenc_bytes(b, p, (size_t)n, err);
		}
		break;
	default:
		x[0] = SQLITE_NULL;
		csenc_bytes(b, x, 1, err);
	}
}
