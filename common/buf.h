/* buf.h - a growable byte buffer.  buf_release frees and resets it. */
#ifndef RK_BUF_H
#define RK_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct buf {
	uint8_t *data;	/* malloc'd; owned by the buf */
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

int buf_reserve(struct buf *b, size_t extra) RK_MUST_CHECK;
int buf_append(struct buf *b, const void *p, size_t n) RK_MUST_CHECK;
int buf_appendf(struct buf *b, const char *fmt, ...) RK_PRINTF(2, 3) RK_MUST_CHECK;
/* Hands the bytes to the caller (free() them) and resets b. */
uint8_t *buf_detach(struct buf *b, size_t *len);
void buf_release(struct buf *b);

#endif
