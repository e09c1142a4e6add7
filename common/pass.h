/*
 * pass.h - reading the user's passphrase, from a file (--passphrase-file,
 * for services and scripts) or from the terminal with echo off.
 *
 * The passphrase is returned in sodium_malloc() memory (guarded, locked),
 * NUL-terminated; free it with pass_free(), which wipes it.  Passphrases are
 * at most PASS_MAX bytes and never empty.
 */
#ifndef RK_PASS_H
#define RK_PASS_H

#include <stddef.h>

#include "common/err.h"

#define PASS_MAX 1024

/* Reads the passphrase from file if it is not NULL (one trailing "\n" or
 * "\r\n" is dropped; a file that others may read is warned about), else
 * asks on the terminal with prompt (NULL: "Passphrase: ").  RK_EINVAL for an
 * empty or too long passphrase, or when file is NULL and there is no
 * terminal.  On success *out is the caller's (pass_free it) and *outlen its
 * length without the NUL. */
int pass_read(const char *file, const char *prompt, char **out,
    size_t *outlen) RK_MUST_CHECK;

/* For choosing a new passphrase: like pass_read, but on a terminal asks
 * twice (the second time with again, NULL: "Again: ") and fails with
 * RK_EINVAL if the answers differ.  A file is read once. */
int pass_read_confirm(const char *file, const char *prompt, const char *again,
    char **out, size_t *outlen) RK_MUST_CHECK;

/* Wipes and frees (NULL is fine). */
void pass_free(char *p);

/* The terminal pass_read asks on; "/dev/tty".  Only tests change it (to a
 * pseudo-terminal, or to a path that does not exist to act as if there were
 * no terminal). */
extern const char *pass_tty_path;

#endif
