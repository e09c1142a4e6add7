/*
 * vfs.h - the encrypting VFS: a shim over SQLite's default VFS that keeps
 * every page of the main database, the WAL and the rollback journal
 * encrypted with XChaCha20-Poly1305.  The nonce (24 bytes) and tag (16
 * bytes) of each page live in the page's last VFS_RESERVE bytes, which the
 * database reserves (SQLITE_FCNTL_RESERVE_BYTES).  A page that fails to
 * authenticate is an error (SQLITE_IOERR_DATA / SQLITE_CORRUPT), never
 * silent garbage.  Temporary files are refused: callers set temp_store =
 * MEMORY.  The on-disk layout is written down in vfs.c.
 */
#ifndef RK_VFS_H
#define RK_VFS_H

#include <stdint.h>

#include "common/err.h"

#define VFS_PAGE_SIZE 4096
#define VFS_RESERVE 40		/* 24-byte nonce + 16-byte tag */
#define VFS_KEY_LEN 32

struct vfs_crypt;	/* opaque: one registered VFS with its key */

/* Registers a VFS named name (not the default) that encrypts with key (the
 * key is copied into sodium_malloc memory).  Open databases with
 * sqlite3_open_v2(path, &db, flags, name).  The page size must be
 * VFS_PAGE_SIZE and a new database must get VFS_RESERVE reserved bytes
 * (vfs_prepare_new_db) before its first write. */
int vfs_crypt_register(const char *name, const uint8_t key[VFS_KEY_LEN],
    struct vfs_crypt **out) RK_MUST_CHECK;

/* Unregisters and wipes the key.  All databases using it must be closed. */
void vfs_crypt_unregister(struct vfs_crypt *v);

struct sqlite3;
/* On a freshly opened, empty database: sets page_size and reserved bytes.
 * Harmless on an existing database whose settings already match; RK_EINVAL
 * on one that does not. */
int vfs_prepare_new_db(struct sqlite3 *db) RK_MUST_CHECK;

#endif
