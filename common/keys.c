/*
 * keys.c - the device key file (D/keys): creating it with fresh keys,
 * unlocking it with the passphrase, re-wrapping it under a new passphrase.
 * Secrets only ever sit in sodium_malloc memory; the file holds them
 * encrypted under a key derived from the passphrase.
 *
 * Key file format, version 1.  Integers are little-endian; 273 bytes.
 *
 *   offset  size  field
 *        0     7  magic "RKKEYS\0"
 *        7     1  version: 1
 *        8     1  KDF: 1 = Argon2id v1.3 (crypto_pwhash_ALG_ARGON2ID13)
 *        9     8  opslimit (u64)
 *       17     8  memlimit in bytes (u64)
 *       25    16  salt
 *       41    32  sign_pk: Ed25519 public key
 *       73    32  box_pk: X25519 public key
 *      105    24  nonce
 *      129   144  XChaCha20-Poly1305 (IETF) encryption of the 128-byte
 *                 secret block, followed by its 16-byte tag
 *
 *   secret block: db_key (32) | sign_sk (64: libsodium's seed || sign_pk)
 *                 | box_sk (32)
 *   key:  crypto_pwhash(32 bytes, passphrase, salt, opslimit, memlimit,
 *         Argon2id v1.3)
 *   additional data: bytes 0..128, everything before the ciphertext, so a
 *         file whose public keys were swapped or whose KDF cost was lowered
 *         fails to open exactly like a wrong passphrase.
 *
 * Readers check, before spending anything on the KDF: the magic (else
 * RK_EPROTO); the version (0: RK_EPROTO; above 1: RK_ESCHEMA, decided before
 * the size so a longer future format reads as "newer", not as garbage); the
 * size, the KDF id, and the cost, which must lie between Argon2id's
 * INTERACTIVE limits and KF_OPSLIMIT_MAX / KF_MEMLIMIT_MAX (else RK_EPROTO:
 * a hostile file must not make us spend minutes or gigabytes).  A failed
 * decryption is RK_EAUTH: a wrong passphrase and a damaged ciphertext cannot
 * be told apart.  After decryption the public keys are re-derived from the
 * secret ones and must match.
 *
 * A change to any of this gets a new version byte; version 1 stays readable.
 */
#include "common/keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "common/fsutil.h"
#include "common/log.h"

#define KF_MAGIC	"RKKEYS"	/* with its NUL: 7 bytes */
#define KF_MAGIC_LEN	7
#define KF_VERSION	1
#define KF_KDF_ARGON2ID13 1

enum {
	KF_OFF_VERSION = 7,
	KF_OFF_KDF = 8,
	KF_OFF_OPSLIMIT = 9,
	KF_OFF_MEMLIMIT = 17,
	KF_OFF_SALT = 25,
	KF_OFF_SIGN_PK = 41,
	KF_OFF_BOX_PK = 73,
	KF_OFF_NONCE = 105,
	KF_OFF_CIPHER = 129,
	KF_SECRET_LEN = 128,
	KF_SIZE = KF_OFF_CIPHER + KF_SECRET_LEN + 16,
};

/* A future version may be somewhat longer; anything this big is not ours. */
#define KF_READ_MAX	65536

/* The lowest cost we write is INTERACTIVE, so anything lower was not written
 * by us.  The highest we write is SENSITIVE (4 passes over 1 GiB); 4x the
 * passes leaves room to raise the default, yet caps what a planted file can
 * make us spend at some tens of seconds. */
#define KF_OPSLIMIT_MIN	crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE
#define KF_MEMLIMIT_MIN	crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE
#define KF_OPSLIMIT_MAX	(crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE * 4)
#define KF_MEMLIMIT_MAX	crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE

_Static_assert(KF_OFF_VERSION == KF_MAGIC_LEN, "magic length");
_Static_assert(KF_OFF_SIGN_PK - KF_OFF_SALT ==
    crypto_pwhash_argon2id_SALTBYTES, "salt size");
_Static_assert(KF_OFF_CIPHER - KF_OFF_NONCE ==
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == 16, "tag size");
_Static_assert(KF_SIZE == 273, "v1 key file size is frozen");
_Static_assert(sizeof(((struct keys *)0)->sign_pk) ==
    crypto_sign_PUBLICKEYBYTES, "sign_pk size");
_Static_assert(sizeof(((struct keys *)0)->sign_sk) ==
    crypto_sign_SECRETKEYBYTES, "sign_sk size");
_Static_assert(sizeof(((struct keys *)0)->box_pk) ==
    crypto_box_PUBLICKEYBYTES, "box_pk size");
_Static_assert(sizeof(((struct keys *)0)->box_sk) ==
    crypto_box_SECRETKEYBYTES, "box_sk size");
_Static_assert(KEYS_DB_KEY_LEN + crypto_sign_SECRETKEYBYTES +
    crypto_box_SECRETKEYBYTES == KF_SECRET_LEN, "secret block size");

unsigned keys_wrong_delay_ms = 2000;

/* Everything derived from the passphrase or decrypted, in one
 * sodium_malloc allocation that sodium_free wipes. */
struct kf_secret {
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t block[KF_SECRET_LEN];
	uint8_t seed[crypto_sign_SEEDBYTES];
	uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
	uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t box_pk[crypto_box_PUBLICKEYBYTES];
};

static void
kf_put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
kf_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int
kf_sodium_init(void)
{
	if (sodium_init() < 0) {
		log_warnx("libsodium failed to initialise");
		return RK_ECRYPTO;
	}
	return 0;
}

static int
kf_check_pass(const char *pass, size_t passlen, int choosing)
{
	if (pass == NULL && passlen > 0)
		return RK_EINVAL;
	if (choosing && passlen == 0) {
		log_warnx("an empty passphrase is not allowed");
		return RK_EINVAL;
	}
	if ((uint64_t)passlen > crypto_pwhash_argon2id_PASSWD_MAX) {
		log_warnx("passphrase too long");
		return RK_EINVAL;
	}
	return 0;
}

/* Makes guessing slow even where the KDF is cheap; a sleep, not a spin. */
static void
kf_wrong_delay(void)
{
	struct timespec ts, rem;

	ts.tv_sec = keys_wrong_delay_ms / 1000;
	ts.tv_nsec = (long)(keys_wrong_delay_ms % 1000) * 1000000L;
	while (nanosleep(&ts, &rem) == -1 && errno == EINTR)
		ts = rem;
}

static int
kf_derive(uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES],
    const char *pass, size_t passlen, const uint8_t *salt, uint64_t opslimit,
    uint64_t memlimit)
{
	/* Inputs are range-checked by now, so the one way Argon2id fails is
	 * being refused its memory. */
	if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	    pass, passlen, salt, opslimit, (size_t)memlimit,
	    crypto_pwhash_ALG_ARGON2ID13) != 0) {
		log_warnx("deriving the key from the passphrase failed: "
		    "Argon2id could not get %llu MiB of memory",
		    (unsigned long long)(memlimit >> 20));
		return RK_ENOMEM;
	}
	return 0;
}

/* Reads path's header; the cost is returned only if the file passes every
 * check that needs no passphrase. */
static int
kf_parse(const uint8_t *f, size_t len, const char *path, uint64_t *opslimit,
    uint64_t *memlimit)
{
	uint64_t ops, mem;

	if (len < KF_OFF_VERSION + 1 ||
	    memcmp(f, KF_MAGIC, KF_MAGIC_LEN) != 0) {
		log_warnx("%s is not a renkei key file", path);
		return RK_EPROTO;
	}
	if (f[KF_OFF_VERSION] > KF_VERSION) {
		log_warnx("%s has key file format %u; this program reads %u",
		    path, f[KF_OFF_VERSION], KF_VERSION);
		return RK_ESCHEMA;
	}
	if (f[KF_OFF_VERSION] != KF_VERSION || len != KF_SIZE ||
	    f[KF_OFF_KDF] != KF_KDF_ARGON2ID13) {
		log_warnx("%s: damaged key file "
		    "(version %u, %zu bytes, KDF %u)", path, f[KF_OFF_VERSION],
		    len, len > KF_OFF_KDF ? f[KF_OFF_KDF] : 0);
		return RK_EPROTO;
	}
	ops = kf_get_u64(f + KF_OFF_OPSLIMIT);
	mem = kf_get_u64(f + KF_OFF_MEMLIMIT);
	if (ops < KF_OPSLIMIT_MIN || ops > KF_OPSLIMIT_MAX ||
	    mem < KF_MEMLIMIT_MIN || mem > KF_MEMLIMIT_MAX) {
		log_warnx("%s: refusing key file with Argon2id cost "
		    "opslimit %llu, memlimit %llu", path,
		    (unsigned long long)ops, (unsigned long long)mem);
		return RK_EPROTO;
	}
	*opslimit = ops;
	*memlimit = mem;
	return 0;
}

/* *out is malloc'd (free() it); it holds no secret in clear. */
static int
kf_load(const char *path, uint8_t **out, size_t *outlen)
{
	int rc;

	rc = fs_read_all(path, KF_READ_MAX, out, outlen);
	if (rc == RK_ENOTFOUND)
		log_warnx("%s: no key file", path);
	else if (rc == RK_EINVAL)	/* too long; fs_read_all said so */
		rc = RK_EPROTO;
	return rc;
}

/* Builds the file image of k wrapped under pass with a fresh salt and
 * nonce. */
static int
kf_seal(const struct keys *k, const char *pass, size_t passlen,
    uint64_t opslimit, uint64_t memlimit, uint8_t out[KF_SIZE])
{
	struct kf_secret *s = NULL;
	uint8_t img[KF_SIZE];
	int rc;

	memcpy(img, KF_MAGIC, KF_MAGIC_LEN);
	img[KF_OFF_VERSION] = KF_VERSION;
	img[KF_OFF_KDF] = KF_KDF_ARGON2ID13;
	kf_put_u64(img + KF_OFF_OPSLIMIT, opslimit);
	kf_put_u64(img + KF_OFF_MEMLIMIT, memlimit);
	randombytes_buf(img + KF_OFF_SALT, crypto_pwhash_argon2id_SALTBYTES);
	memcpy(img + KF_OFF_SIGN_PK, k->sign_pk, sizeof(k->sign_pk));
	memcpy(img + KF_OFF_BOX_PK, k->box_pk, sizeof(k->box_pk));
	randombytes_buf(img + KF_OFF_NONCE,
	    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);

	if ((s = sodium_malloc(sizeof(*s))) == NULL) {
		log_warnx("out of memory");
		rc = RK_ENOMEM;
		goto out;
	}
	if ((rc = kf_derive(s->key, pass, passlen, img + KF_OFF_SALT,
	    opslimit, memlimit)) != 0)
		goto out;
	memcpy(s->block, k->db_key, KEYS_DB_KEY_LEN);
	memcpy(s->block + KEYS_DB_KEY_LEN, k->sign_sk, sizeof(k->sign_sk));
	memcpy(s->block + KEYS_DB_KEY_LEN + sizeof(k->sign_sk), k->box_sk,
	    sizeof(k->box_sk));
	crypto_aead_xchacha20poly1305_ietf_encrypt(img + KF_OFF_CIPHER, NULL,
	    s->block, KF_SECRET_LEN, img, KF_OFF_CIPHER, NULL,
	    img + KF_OFF_NONCE, s->key);
	memcpy(out, img, KF_SIZE);
	rc = 0;
out:
	sodium_free(s);
	return rc;
}

/* Unlocks path.  On success *out is sodium_malloc'd (keys_free it) and the
 * file's cost is returned so a re-wrap can keep it. */
static int
kf_open(const char *path, const char *pass, size_t passlen,
    struct keys **out, uint64_t *opslimit, uint64_t *memlimit)
{
	struct kf_secret *s = NULL;
	struct keys *k = NULL;
	uint8_t *f = NULL;
	uint64_t ops, mem;
	size_t len;
	int rc;

	if ((rc = kf_load(path, &f, &len)) != 0)
		goto out;
	if ((rc = kf_parse(f, len, path, &ops, &mem)) != 0)
		goto out;
	if ((s = sodium_malloc(sizeof(*s))) == NULL ||
	    (k = sodium_malloc(sizeof(*k))) == NULL) {
		log_warnx("out of memory");
		rc = RK_ENOMEM;
		goto out;
	}
	if ((rc = kf_derive(s->key, pass, passlen, f + KF_OFF_SALT, ops,
	    mem)) != 0)
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(s->block, NULL, NULL,
	    f + KF_OFF_CIPHER, len - KF_OFF_CIPHER, f, KF_OFF_CIPHER,
	    f + KF_OFF_NONCE, s->key) != 0) {
		log_warnx("%s: wrong passphrase, or the key file was altered",
		    path);
		kf_wrong_delay();
		rc = RK_EAUTH;
		goto out;
	}
	memcpy(k->db_key, s->block, KEYS_DB_KEY_LEN);
	memcpy(k->sign_sk, s->block + KEYS_DB_KEY_LEN, sizeof(k->sign_sk));
	memcpy(k->box_sk, s->block + KEYS_DB_KEY_LEN + sizeof(k->sign_sk),
	    sizeof(k->box_sk));
	memcpy(k->sign_pk, f + KF_OFF_SIGN_PK, sizeof(k->sign_pk));
	memcpy(k->box_pk, f + KF_OFF_BOX_PK, sizeof(k->box_pk));

	/* The tag already vouches for all of it; this catches a writer that
	 * paired the wrong halves (a bug, or a future import tool). */
	crypto_sign_ed25519_sk_to_seed(s->seed, k->sign_sk);
	if (crypto_sign_seed_keypair(s->sign_pk, s->sign_sk, s->seed) != 0 ||
	    crypto_scalarmult_base(s->box_pk, k->box_sk) != 0 ||
	    sodium_memcmp(s->sign_pk, k->sign_pk, sizeof(k->sign_pk)) != 0 ||
	    sodium_memcmp(s->sign_sk, k->sign_sk, sizeof(k->sign_sk)) != 0 ||
	    sodium_memcmp(s->box_pk, k->box_pk, sizeof(k->box_pk)) != 0) {
		log_warnx("%s: public keys do not match the secret keys", path);
		rc = RK_EPROTO;
		goto out;
	}
	*out = k;	/* the caller keys_free()s it */
	*opslimit = ops;
	*memlimit = mem;
	k = NULL;
	rc = 0;
out:
	free(f);
	sodium_free(s);
	keys_free(k);
	return rc;
}

int
keys_create(const char *path, const char *pass, size_t passlen,
    enum keys_cost cost, struct keys **out)
{
	struct keys *k = NULL;
	struct stat st;
	uint8_t img[KF_SIZE];
	uint64_t ops, mem;
	int rc;

	if ((rc = kf_sodium_init()) != 0 ||
	    (rc = kf_check_pass(pass, passlen, 1)) != 0)
		return rc;
	switch (cost) {
	case KEYS_COST_INTERACTIVE:
		ops = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
		mem = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
		break;
	case KEYS_COST_MODERATE:
		ops = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
		mem = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
		break;
	case KEYS_COST_SENSITIVE:
		ops = crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE;
		mem = crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE;
		break;
	default:
		log_warnx("unknown key derivation cost %d", (int)cost);
		return RK_EINVAL;
	}
	/* Only a quick early answer before the costly KDF; fs_write_new
	 * makes the real, race-free decision. */
	if (lstat(path, &st) == 0) {
		log_warnx("%s already exists; not replacing a key file", path);
		return RK_EEXIST;
	}
	if (errno != ENOENT) {
		log_warn("%s", path);
		return RK_EIO;
	}

	if ((k = sodium_malloc(sizeof(*k))) == NULL) {
		log_warnx("out of memory");
		rc = RK_ENOMEM;
		goto out;
	}
	crypto_sign_keypair(k->sign_pk, k->sign_sk);
	crypto_box_keypair(k->box_pk, k->box_sk);
	randombytes_buf(k->db_key, sizeof(k->db_key));
	if ((rc = kf_seal(k, pass, passlen, ops, mem, img)) != 0)
		goto out;
	if ((rc = fs_write_new(path, img, sizeof(img), 0600)) != 0)
		goto out;
	if (out != NULL) {
		*out = k;	/* the caller keys_free()s it */
		k = NULL;
	}
out:
	keys_free(k);
	return rc;
}

int
keys_unlock(const char *path, const char *pass, size_t passlen,
    struct keys **out)
{
	uint64_t ops, mem;
	int rc;

	if ((rc = kf_sodium_init()) != 0 ||
	    (rc = kf_check_pass(pass, passlen, 0)) != 0)
		return rc;
	return kf_open(path, pass, passlen, out, &ops, &mem);
}

int
keys_rewrap(const char *path, const char *oldpass, size_t oldlen,
    const char *newpass, size_t newlen)
{
	struct keys *k = NULL;
	uint8_t img[KF_SIZE];
	uint64_t ops, mem;
	int rc;

	if ((rc = kf_sodium_init()) != 0 ||
	    (rc = kf_check_pass(oldpass, oldlen, 0)) != 0 ||
	    (rc = kf_check_pass(newpass, newlen, 1)) != 0)
		return rc;
	if ((rc = kf_open(path, oldpass, oldlen, &k, &ops, &mem)) != 0)
		goto out;
	/* Same cost as before; a fresh salt and nonce come with kf_seal. */
	if ((rc = kf_seal(k, newpass, newlen, ops, mem, img)) != 0)
		goto out;
	rc = fs_write_atomic(path, img, sizeof(img), 0600);
out:
	keys_free(k);
	return rc;
}

int
keys_read_public(const char *path, uint8_t sign_pk[32], uint8_t box_pk[32])
{
	uint8_t *f = NULL;
	uint64_t ops, mem;
	size_t len;
	int rc;

	/* Not authenticated: only the passphrase can vouch for these. */
	if ((rc = kf_load(path, &f, &len)) != 0)
		goto out;
	if ((rc = kf_parse(f, len, path, &ops, &mem)) != 0)
		goto out;
	memcpy(sign_pk, f + KF_OFF_SIGN_PK, crypto_sign_PUBLICKEYBYTES);
	memcpy(box_pk, f + KF_OFF_BOX_PK, crypto_box_PUBLICKEYBYTES);
out:
	free(f);
	return rc;
}

void
keys_free(struct keys *k)
{
	/* sodium_free wipes the allocation before releasing it. */
	sodium_free(k);
}
