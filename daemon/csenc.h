/*
 * csenc.h - writing changesets of INSERTs in the format sqlite3session
 * produces, without a session: a table header when the table changes,
 * then per row op SQLITE_INSERT, indirect 0 and every column's value.
 * Used by the append capture of local writes (store.c) and by the hub's
 * room snapshots (hub.c), where a session would cost a copy of every row.
 *
 * Errors are sticky: each call does nothing once *err is set, so a caller
 * writes a whole row and checks once.
 */
#ifndef RENKEI_CSENC_H
#define RENKEI_CSENC_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct sqlite3_value;

/* SQLite's varint: big-endian groups of 7 bits, the high bit saying
 * another byte follows; the ninth byte carries 8 bits. */
void csenc_varint(struct buf *b, uint64_t v, int *err);
/* 'T', ncol, the pk byte of each column (PRAGMA table_info's pk), the
 * name with its NUL. */
void csenc_table(struct buf *b, const char *name, int ncol,
    const uint8_t *pk, int *err);
/* The head of one INSERT row; ncol csenc_value calls follow. */
void csenc_insert(struct buf *b, int *err);
void csenc_value(struct buf *b, struct sqlite3_value *v, int *err);

#endif
