/*
 * fsutil.h - small file helpers shared by the daemon and the client: joining
 * paths, crash-safe whole-file writes, bounded whole-file reads, and the
 * private (0700) data directory.
 *
 * Every function logs once where it broke (with strerror) and returns 0 or a
 * negative enum rk_err; errno maps to RK_ENOTFOUND (ENOENT), RK_EDENIED
 * (EACCES, EPERM), RK_EFULL (ENOSPC, EDQUOT), RK_ENOMEM, otherwise RK_EIO.
 */
#ifndef RK_FSUTIL_H
#define RK_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* Writes "dir/name" to out (one slash between them even if dir ends with
 * one).  RK_EINVAL if it does not fit in outlen bytes with its NUL; out is
 * left untouched then. */
int fs_path(char *out, size_t outlen, const char *dir, const char *name)
    RK_MUST_CHECK;

/* Replaces path with exactly data[0..len) so that after a crash path holds
 * either the old or the new contents, never a mix: the bytes go to a fresh
 * temporary file beside it ("path.tmp.XXXXXX"), which is fsynced, renamed
 * over path, and the directory fsynced.  The file gets exactly mode (umask
 * does not apply), and is never visible with wider permissions.  The
 * temporary file is removed on failure.  RK_EFULL if the disk is full. */
int fs_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode) RK_MUST_CHECK;

/* Like fs_write_atomic, but creates path only if it does not exist:
 * RK_EEXIST otherwise, decided atomically (link(2) of the temporary file,
 * so the directory's filesystem must support hard links). */
int fs_write_new(const char *path, const void *data, size_t len, mode_t mode)
    RK_MUST_CHECK;

/* Reads all of path.  On success *out is malloc'd (the caller free()s it),
 * holds *outlen bytes and one extra NUL byte after them so text can be used
 * as a string.  RK_ENOTFOUND if path does not exist (not logged: callers
 * often probe), RK_EINVAL if it is longer than maxlen bytes. */
int fs_read_all(const char *path, size_t maxlen, uint8_t **out,
    size_t *outlen) RK_MUST_CHECK;

/* Creates dir with mode 0700.  Fine if it already exists as a directory
 * (its permissions are left alone); RK_EEXIST if something else is there. */
int fs_mkdir_private(const char *dir) RK_MUST_CHECK;

#endif
