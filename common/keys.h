/*
 * keys.h - the device's secrets and the file in the data dir that keeps them.
 *
 * A data dir holds one key file (D/keys) with:
 *   - the random 32-byte database key (the encrypting VFS uses it),
 *   - the Ed25519 signing key pair (device identity, signs envelopes),
 *   - the X25519 key pair (key exchange with the hub),
 * all encrypted with a key derived from the user's passphrase by Argon2id
 * (crypto_pwhash); the public keys are stored in clear and authenticated.
 * The format is written down in keys.c.
 *
 * struct keys lives in sodium_malloc() memory (guarded, locked, wiped on
 * keys_free()).
 */
#ifndef RK_KEYS_H
#define RK_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define KEYS_DB_KEY_LEN 32

struct keys {
	uint8_t db_key[KEYS_DB_KEY_LEN];
	uint8_t sign_pk[32];	/* crypto_sign_PUBLICKEYBYTES */
	uint8_t sign_sk[64];	/* crypto_sign_SECRETKEYBYTES */
	uint8_t box_pk[32];	/* crypto_box_PUBLICKEYBYTES (X25519) */
	uint8_t box_sk[32];
};

/* Argon2id cost.  MODERATE is the default for a device; INTERACTIVE exists
 * for tests and demos that start many daemons. */
enum keys_cost {
	KEYS_COST_INTERACTIVE,
	KEYS_COST_MODERATE,
	KEYS_COST_SENSITIVE,
};

/* Generates fresh keys, writes them wrapped under pass to path (mode 0600,
 * written to a temporary file, fsynced and linked into place).  RK_EEXIST if
 * path exists, RK_EINVAL for an empty passphrase, RK_ENOMEM if Argon2id
 * cannot get its memory.  On success *out (may be NULL if not wanted) is the
 * caller's; free with keys_free(). */
int keys_create(const char *path, const char *pass, size_t passlen,
    enum keys_cost cost, struct keys **out) RK_MUST_CHECK;

/* Reads and unwraps path.  RK_EAUTH for a wrong passphrase (after a delay
 * that makes guessing slow) and also for a damaged or altered ciphertext,
 * public key or KDF cost, which cannot be told from a wrong passphrase;
 * RK_EPROTO for a file that is not a key file, has the wrong size or an
 * out-of-range KDF cost; RK_ESCHEMA for a newer format; RK_ENOTFOUND if
 * absent; RK_ENOMEM if Argon2id cannot get its memory. */
int keys_unlock(const char *path, const char *pass, size_t passlen,
    struct keys **out) RK_MUST_CHECK;

/* Re-wraps the same keys under a new passphrase, with a fresh salt and
 * nonce and the file's KDF cost (atomic replace).  Errors as keys_unlock;
 * the file is unchanged on failure. */
int keys_rewrap(const char *path, const char *oldpass, size_t oldlen,
    const char *newpass, size_t newlen) RK_MUST_CHECK;

/* The public keys, without the passphrase.  Only the format is checked:
 * nothing vouches for them until keys_unlock has succeeded. */
int keys_read_public(const char *path, uint8_t sign_pk[32],
    uint8_t box_pk[32]) RK_MUST_CHECK;

/* Wipes and frees (NULL is fine). */
void keys_free(struct keys *k);

/* Milliseconds keys_unlock waits after a wrong passphrase; tests may lower
 * it. Default 2000. */
extern unsigned keys_wrong_delay_ms;

#endif
