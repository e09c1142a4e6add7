/*
 * test_keys.c - common/keys: the key file round trip, its frozen v1 layout,
 * and that every kind of damage or tampering makes unlocking fail rather
 * than yield other keys.
 *
 * Argon2id runs at INTERACTIVE cost and the wrong-passphrase delay is 10 ms
 * to keep this fast; test_wrong_delay_applied checks the delay itself.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>

#include "common/err.h"
#include "common/fsutil.h"
#include "common/keys.h"

#if defined(__SANITIZE_ADDRESS__)
#define RK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RK_ASAN 1
#endif
#endif

/* cmocka hands every test a state pointer; most do not need it. */
#define RK_UNUSED __attribute__((unused))

/* The v1 layout, spelled out again here so that a change to keys.c that
 * moves a field fails these tests (the format is frozen). */
enum {
	OFF_VERSION = 7,
	OFF_KDF = 8,
	OFF_OPSLIMIT = 9,
	OFF_MEMLIMIT = 17,
	OFF_SALT = 25,
	OFF_SIGN_PK = 41,
	OFF_BOX_PK = 73,
	OFF_NONCE = 105,
	OFF_CIPHER = 129,
	OFF_TAG = 257,
	FILE_SIZE = 273,
};

#define PASS	"correct horse battery staple"
/* "Home-visit nursing station passphrase", and a flower, in UTF-8. */
#define PASS_JA	"訪問看護ステーションの合言葉🌸"

static char tmpdir[PATH_MAX];
static char base_path[PATH_MAX];	/* created once under PASS */
static struct keys *base_keys;
static unsigned initial_delay;

/* ---- helpers ---- */

static int
mkdir_p(const char *path)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static void
tpath(char *out, size_t outlen, const char *name)
{
	int n = snprintf(out, outlen, "%s/%s", tmpdir, name);

	assert_true(n > 0 && (size_t)n < outlen);
}

static void
put_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The file's bytes; free() them. */
static uint8_t *
get_file(const char *path, size_t *len)
{
	uint8_t *data = NULL;

	assert_int_equal(fs_read_all(path, 1 << 20, &data, len), 0);
	return data;
}

static int
contains(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen)
{
	size_t i;

	for (i = 0; i + nlen <= hlen; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return 1;
	return 0;
}

static void
assert_keys_equal(const struct keys *a, const struct keys *b)
{
	assert_memory_equal(a->db_key, b->db_key, sizeof(a->db_key));
	assert_memory_equal(a->sign_pk, b->sign_pk, sizeof(a->sign_pk));
	assert_memory_equal(a->sign_sk, b->sign_sk, sizeof(a->sign_sk));
	assert_memory_equal(a->box_pk, b->box_pk, sizeof(a->box_pk));
	assert_memory_equal(a->box_sk, b->box_sk, sizeof(a->box_sk));
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Unlocking path with pass must fail with want, and leave *out alone. */
static void
assert_unlock_fails(const char *path, const char *pass, int want)
{
	struct keys *k = (struct keys *)&k;	/* sentinel */

	assert_int_equal(keys_unlock(path, pass, strlen(pass), &k), want);
	assert_ptr_equal(k, (struct keys *)&k);
}

static long
elapsed_us(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000L +
	    (b->tv_nsec - a->tv_nsec) / 1000L;
}

static void
rm_dir(const char *dir)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fs_path(p, sizeof(p), dir, de->d_name) != 0)
			continue;
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int
group_setup(void **state RK_UNUSED)
{
	const char *base = getenv("RK_TEST_TMP");

	if (sodium_init() < 0)
		return -1;
	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (mkdir_p(base) == -1)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "%s/keys.XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	keys_wrong_delay_ms = 10;
	if (fs_path(base_path, sizeof(base_path), tmpdir, "keys") != 0)
		return -1;
	if (keys_create(base_path, PASS, strlen(PASS), KEYS_COST_INTERACTIVE,
	    &base_keys) != 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state RK_UNUSED)
{
	keys_free(base_keys);
	rm_dir(tmpdir);
	return 0;
}

/* Each test gets a copy of the base key file at *path to spoil. */
static void
copy_base(const char *name, char *path, size_t pathlen)
{
	uint8_t *data;
	size_t len;

	data = get_file(base_path, &len);
	tpath(path, pathlen, name);
	put_file(path, data, len);
	free(data);
}

/* ---- tests ---- */

static void
test_default_delay(void **state RK_UNUSED)
{
	assert_int_equal(initial_delay, 2000);
}

static void
test_round_trip(void **state RK_UNUSED)
{
	struct keys *k = NULL;
	uint8_t spk[32], bpk[32], pk[32], sig[crypto_sign_BYTES];
	static const uint8_t msg[] = "visit record 42";

	assert_int_equal(keys_unlock(base_path, PASS, strlen(PASS), &k), 0);
	assert_non_null(k);
	assert_keys_equal(k, base_keys);

	assert_int_equal(keys_read_public(base_path, spk, bpk), 0);
	assert_memory_equal(spk, k->sign_pk, 32);
	assert_memory_equal(bpk, k->box_pk, 32);

	/* The pairs are real pairs: the secret key signs for the public
	 * key, the X25519 public key is the secret's. */
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), k->sign_sk);
	assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg),
	    spk), 0);
	assert_int_equal(crypto_scalarmult_base(pk, k->box_sk), 0);
	assert_memory_equal(pk, bpk, 32);
	keys_free(k);
}

static void
test_fresh_keys_differ(void **state RK_UNUSED)
{
	struct keys *k = NULL;
	char p[PATH_MAX];

	tpath(p, sizeof(p), "other");
	assert_int_equal(keys_create(p, PASS, strlen(PASS),
	    KEYS_COST_INTERACTIVE, &k), 0);
	assert_memory_not_equal(k->db_key, base_keys->db_key, 32);
	assert_memory_not_equal(k->sign_sk, base_keys->sign_sk, 64);
	assert_memory_not_equal(k->box_sk, base_keys->box_sk, 32);
	keys_free(k);
	unlink(p);
}

static void
test_file_layout(void **state RK_UNUSED)
{
	struct stat st;
	uint8_t *f;
	size_t len;

	f = get_file(base_path, &len);
	assert_int_equal(len, FILE_SIZE);
	assert_memory_equal(f, "RKKEYS\0", 7);
	assert_int_equal(f[OFF_VERSION], 1);
	assert_int_equal(f[OFF_KDF], 1);
	assert_int_equal(get_u64(f + OFF_OPSLIMIT),
	    crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
	assert_int_equal(get_u64(f + OFF_MEMLIMIT),
	    crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
	assert_memory_equal(f + OFF_SIGN_PK, base_keys->sign_pk, 32);
	assert_memory_equal(f + OFF_BOX_PK, base_keys->box_pk, 32);

	/* No secret in clear.  sign_sk's second half is sign_pk, which is
	 * meant to be there, so look for its seed half. */
	assert_false(contains(f, len, base_keys->db_key, 32));
	assert_false(contains(f, len, base_keys->sign_sk, 32));
	assert_false(contains(f, len, base_keys->box_sk, 32));
	assert_false(contains(f, len, (const uint8_t *)PASS, strlen(PASS)));
	free(f);

	assert_int_equal(stat(base_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void
test_mode_0600_whatever_umask(void **state RK_UNUSED)
{
	char p[PATH_MAX];
	struct stat st;
	mode_t old;
	int rc;

	tpath(p, sizeof(p), "open-umask");
	old = umask(0);
	rc = keys_create(p, PASS, strlen(PASS), KEYS_COST_INTERACTIVE, NULL);
	umask(old);
	assert_int_equal(rc, 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	unlink(p);
}

static void
test_create_out_null(void **state RK_UNUSED)
{
	struct keys *k = NULL;
	char p[PATH_MAX];

	tpath(p, sizeof(p), "outnull");
	assert_int_equal(keys_create(p, PASS, strlen(PASS),
	    KEYS_COST_INTERACTIVE, NULL), 0);
	assert_int_equal(keys_unlock(p, PASS, strlen(PASS), &k), 0);
	keys_free(k);
	unlink(p);
}

static void
test_create_refuses_existing(void **state RK_UNUSED)
{
	struct keys *k = (struct keys *)&k;
	uint8_t *before, *after;
	size_t blen, alen;
	char p[PATH_MAX];

	before = get_file(base_path, &blen);
	assert_int_equal(keys_create(base_path, "other", 5,
	    KEYS_COST_INTERACTIVE, &k), RK_EEXIST);
	assert_ptr_equal(k, (struct keys *)&k);
	after = get_file(base_path, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(before);
	free(after);

	/* Even a dangling symlink is in the way: never write through it. */
	tpath(p, sizeof(p), "dangling");
	assert_int_equal(symlink("/nonexistent/target", p), 0);
	assert_int_equal(keys_create(p, PASS, strlen(PASS),
	    KEYS_COST_INTERACTIVE, NULL), RK_EEXIST);
	unlink(p);
}

static void
test_create_refuses_empty_passphrase(void **state RK_UNUSED)
{
	char p[PATH_MAX];
	struct stat st;

	tpath(p, sizeof(p), "empty-pass");
	assert_int_equal(keys_create(p, "", 0, KEYS_COST_INTERACTIVE, NULL),
	    RK_EINVAL);
	assert_int_equal(stat(p, &st), -1);
}

static void
test_wrong_passphrase(void **state RK_UNUSED)
{
	assert_unlock_fails(base_path, "correct horse battery stapl", RK_EAUTH);
	assert_unlock_fails(base_path, PASS "\n", RK_EAUTH);
	assert_unlock_fails(base_path, "", RK_EAUTH);
}

static void
test_wrong_delay_applied(void **state RK_UNUSED)
{
	struct timespec w0, w1, c0, c1;
	long wall_us, cpu_us;

	keys_wrong_delay_ms = 300;
	clock_gettime(CLOCK_MONOTONIC, &w0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	assert_unlock_fails(base_path, "guess", RK_EAUTH);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &w1);
	keys_wrong_delay_ms = 10;

	wall_us = elapsed_us(&w0, &w1);
	cpu_us = elapsed_us(&c0, &c1);
	assert_true(wall_us >= 300000);
	/* The wait must be a sleep on top of the KDF's work, not the KDF
	 * happening to be slow: time spent off the CPU covers it.  (Argon2id
	 * runs on this one thread, so load can only add to this.) */
	assert_true(wall_us - cpu_us >= 300000);
}

static void
test_missing_file(void **state RK_UNUSED)
{
	uint8_t spk[32], bpk[32];
	char p[PATH_MAX];

	tpath(p, sizeof(p), "absent");
	assert_unlock_fails(p, PASS, RK_ENOTFOUND);
	assert_int_equal(keys_read_public(p, spk, bpk), RK_ENOTFOUND);
}

/*
 * One flipped bit or byte anywhere must never unlock, in particular never
 * to different keys.  Damage before the cost check is RK_EPROTO or
 * RK_ESCHEMA; after it, the tag fails: RK_EAUTH.
 */
static void
test_corruption(void **state RK_UNUSED)
{
	static const struct {
		size_t off;
		uint8_t xor;
		int want;
	} cases[] = {
		{ 0, 0x01, RK_EPROTO },		/* magic */
		{ 3, 0x20, RK_EPROTO },
		{ 6, 0x01, RK_EPROTO },		/* magic's NUL */
		{ OFF_VERSION, 0x01, RK_EPROTO },	/* version 0 */
		{ OFF_VERSION, 0x02, RK_ESCHEMA },	/* version 3 */
		{ OFF_KDF, 0x01, RK_EPROTO },		/* KDF 0 */
		{ OFF_KDF, 0x02, RK_EPROTO },		/* KDF 3 */
		{ OFF_OPSLIMIT, 0x01, RK_EAUTH },	/* 2 -> 3: in range */
		{ OFF_OPSLIMIT, 0x02, RK_EPROTO },	/* 2 -> 0 */
		{ OFF_OPSLIMIT + 7, 0x80, RK_EPROTO },	/* huge */
		{ OFF_MEMLIMIT, 0x01, RK_EAUTH },	/* +1 byte: same KiB */
		{ OFF_MEMLIMIT + 3, 0x08, RK_EAUTH },	/* 64 -> 192 MiB */
		{ OFF_MEMLIMIT + 3, 0x04, RK_EPROTO },	/* 64 MiB -> 0 */
		{ OFF_MEMLIMIT + 7, 0x01, RK_EPROTO },	/* huge */
		{ OFF_SALT, 0x01, RK_EAUTH },
		{ OFF_SALT + 15, 0x80, RK_EAUTH },
		{ OFF_SIGN_PK, 0x01, RK_EAUTH },
		{ OFF_SIGN_PK + 31, 0x40, RK_EAUTH },
		{ OFF_BOX_PK, 0x01, RK_EAUTH },
		{ OFF_BOX_PK + 31, 0x80, RK_EAUTH },
		{ OFF_NONCE, 0x01, RK_EAUTH },
		{ OFF_NONCE + 23, 0x10, RK_EAUTH },
		{ OFF_CIPHER, 0x01, RK_EAUTH },
		{ OFF_CIPHER + 31, 0x01, RK_EAUTH },	/* db_key's last */
		{ OFF_CIPHER + 64, 0xff, RK_EAUTH },	/* inside sign_sk */
		{ OFF_CIPHER + 127, 0x80, RK_EAUTH },	/* box_sk's last */
		{ OFF_TAG, 0x01, RK_EAUTH },
		{ OFF_TAG + 8, 0x04, RK_EAUTH },
		{ FILE_SIZE - 1, 0x80, RK_EAUTH },
	};
	uint8_t *orig, *f, spk[32], bpk[32];
	char p[PATH_MAX];
	size_t len, i;

	orig = get_file(base_path, &len);
	assert_int_equal(len, FILE_SIZE);
	assert_non_null(f = malloc(len));
	tpath(p, sizeof(p), "corrupt");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(f, orig, len);
		f[cases[i].off] ^= cases[i].xor;
		put_file(p, f, len);
		print_message("offset %zu ^ 0x%02x\n", cases[i].off,
		    cases[i].xor);
		assert_unlock_fails(p, PASS, cases[i].want);
		if (cases[i].want != RK_EAUTH)
			assert_int_equal(keys_read_public(p, spk, bpk),
			    cases[i].want);
	}
	free(f);
	free(orig);
	unlink(p);
}

static void
test_truncated_and_extended(void **state RK_UNUSED)
{
	static const size_t lens[] = { 0, 1, 7, 8, 9, 25, 128, 129,
	    FILE_SIZE - 16, FILE_SIZE - 1, FILE_SIZE + 1, FILE_SIZE + 4096,
	    200000 };
	uint8_t *orig, *f, spk[32], bpk[32];
	char p[PATH_MAX];
	size_t len, i;

	orig = get_file(base_path, &len);
	assert_non_null(f = calloc(1, 200000));
	memcpy(f, orig, len);
	tpath(p, sizeof(p), "short");
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		put_file(p, f, lens[i]);
		print_message("length %zu\n", lens[i]);
		assert_unlock_fails(p, PASS, RK_EPROTO);
		assert_int_equal(keys_read_public(p, spk, bpk), RK_EPROTO);
	}
	free(f);
	free(orig);
	unlink(p);
}

static void
test_newer_version(void **state RK_UNUSED)
{
	uint8_t *f, spk[32], bpk[32], *longer;
	char p[PATH_MAX];
	size_t len;

	copy_base("v2", p, sizeof(p));
	f = get_file(p, &len);
	f[OFF_VERSION] = 2;
	put_file(p, f, len);
	assert_unlock_fails(p, PASS, RK_ESCHEMA);
	assert_int_equal(keys_read_public(p, spk, bpk), RK_ESCHEMA);

	/* a newer format may be longer: still "newer", not "garbage" */
	assert_non_null(longer = calloc(1, len + 400));
	memcpy(longer, f, len);
	put_file(p, longer, len + 400);
	assert_unlock_fails(p, PASS, RK_ESCHEMA);
	free(longer);
	free(f);
	unlink(p);
}

static void
test_kdf_cost_out_of_range(void **state RK_UNUSED)
{
	static const struct {
		uint64_t ops, mem;
	} costs[] = {
		{ 1, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE },
		{ 0, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE },
		{ crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE, 8u << 20 },
		{ crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
		    crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE - 1024 },
		{ 1000, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE },
		{ UINT64_MAX, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE },
		{ crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE, 1ull << 40 },
		{ crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE, UINT64_MAX },
	};
	struct timespec t0, t1;
	uint8_t *f;
	char p[PATH_MAX];
	size_t len, i;

	copy_base("cost", p, sizeof(p));
	f = get_file(p, &len);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	for (i = 0; i < sizeof(costs) / sizeof(costs[0]); i++) {
		put_u64(f + OFF_OPSLIMIT, costs[i].ops);
		put_u64(f + OFF_MEMLIMIT, costs[i].mem);
		put_file(p, f, len);
		assert_unlock_fails(p, PASS, RK_EPROTO);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	/* Refused before running Argon2id at all: eight runs would take far
	 * more CPU time than this (CPU time, so load cannot fail it). */
	assert_true(elapsed_us(&t0, &t1) < 100000);
	free(f);
	unlink(p);
}

/*
 * The downgrade an attacker with write access would try: a MODERATE file
 * rewritten to claim the (still acceptable) INTERACTIVE cost, so guesses
 * get cheaper.  The cost is additional data, so it fails like a wrong
 * passphrase.
 */
static void
test_kdf_cost_lowered(void **state RK_UNUSED)
{
	struct keys *k = NULL;
	char p[PATH_MAX];
	uint8_t *f;
	size_t len;

	tpath(p, sizeof(p), "moderate");
	assert_int_equal(keys_create(p, PASS, strlen(PASS),
	    KEYS_COST_MODERATE, NULL), 0);
	f = get_file(p, &len);
	assert_int_equal(get_u64(f + OFF_OPSLIMIT),
	    crypto_pwhash_argon2id_OPSLIMIT_MODERATE);
	assert_int_equal(get_u64(f + OFF_MEMLIMIT),
	    crypto_pwhash_argon2id_MEMLIMIT_MODERATE);

	put_u64(f + OFF_OPSLIMIT, crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
	put_file(p, f, len);
	assert_unlock_fails(p, PASS, RK_EAUTH);

	put_u64(f + OFF_OPSLIMIT, crypto_pwhash_argon2id_OPSLIMIT_MODERATE);
	put_u64(f + OFF_MEMLIMIT, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
	put_file(p, f, len);
	assert_unlock_fails(p, PASS, RK_EAUTH);

	/* and the untouched file still opens */
	put_u64(f + OFF_MEMLIMIT, crypto_pwhash_argon2id_MEMLIMIT_MODERATE);
	put_file(p, f, len);
	assert_int_equal(keys_unlock(p, PASS, strlen(PASS), &k), 0);
	keys_free(k);
	free(f);
	unlink(p);
}

/* Argon2id refused its memory is RK_ENOMEM, not "wrong passphrase". */
static void
test_kdf_out_of_memory(void **state RK_UNUSED)
{
#ifdef RK_ASAN
	skip();	/* ASan reserves terabytes of address space up front */
#else
	struct keys *k = (struct keys *)&k;	/* sentinel */
	struct rlimit saved, lim;
	unsigned long pages = 0;
	FILE *f;
	int rc;

	assert_non_null(f = fopen("/proc/self/statm", "r"));
	assert_int_equal(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	assert_int_equal(getrlimit(RLIMIT_AS, &saved), 0);
	lim = saved;
	/* room for everything but Argon2id's 64 MiB */
	lim.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) +
	    (16u << 20);
	assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
	rc = keys_unlock(base_path, PASS, strlen(PASS), &k);
	assert_int_equal(setrlimit(RLIMIT_AS, &saved), 0);
	assert_int_equal(rc, RK_ENOMEM);
	assert_ptr_equal(k, (struct keys *)&k);
#endif
}

/* Someone swaps in their own public keys, keeping our ciphertext. */
static void
test_swapped_public_keys(void **state RK_UNUSED)
{
	uint8_t *f, *g;
	char p[PATH_MAX], q[PATH_MAX];
	size_t len, glen;

	tpath(q, sizeof(q), "theirs");
	assert_int_equal(keys_create(q, PASS, strlen(PASS),
	    KEYS_COST_INTERACTIVE, NULL), 0);
	g = get_file(q, &glen);
	copy_base("swapped", p, sizeof(p));
	f = get_file(p, &len);

	memcpy(f + OFF_SIGN_PK, g + OFF_SIGN_PK, 32);
	put_file(p, f, len);
	assert_unlock_fails(p, PASS, RK_EAUTH);

	/* back to ours, then the other key */
	free(f);
	f = get_file(base_path, &len);
	memcpy(f + OFF_BOX_PK, g + OFF_BOX_PK, 32);
	put_file(p, f, len);
	assert_unlock_fails(p, PASS, RK_EAUTH);

	free(f);
	free(g);
	unlink(p);
	unlink(q);
}

static void
test_rewrap(void **state RK_UNUSED)
{
	struct keys *k = NULL;
	uint8_t *before, *after;
	size_t blen, alen;
	struct stat st;
	char p[PATH_MAX];

	copy_base("rewrap", p, sizeof(p));
	before = get_file(p, &blen);
	assert_int_equal(keys_rewrap(p, PASS, strlen(PASS), PASS_JA,
	    strlen(PASS_JA)), 0);
	after = get_file(p, &alen);

	assert_unlock_fails(p, PASS, RK_EAUTH);
	assert_int_equal(keys_unlock(p, PASS_JA, strlen(PASS_JA), &k), 0);
	assert_keys_equal(k, base_keys);
	keys_free(k);

	/* same layout and cost, fresh salt and nonce, new ciphertext */
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, OFF_SALT);
	assert_memory_not_equal(after + OFF_SALT, before + OFF_SALT, 16);
	assert_memory_equal(after + OFF_SIGN_PK, before + OFF_SIGN_PK, 64);
	assert_memory_not_equal(after + OFF_NONCE, before + OFF_NONCE, 24);
	assert_memory_not_equal(after + OFF_CIPHER, before + OFF_CIPHER,
	    FILE_SIZE - OFF_CIPHER);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	free(before);
	free(after);
	unlink(p);
}

static void
test_rewrap_failures_leave_file(void **state RK_UNUSED)
{
	uint8_t *before, *after;
	size_t blen, alen;
	char p[PATH_MAX];

	copy_base("rewrap-bad", p, sizeof(p));
	before = get_file(p, &blen);
	assert_int_equal(keys_rewrap(p, "wrong", 5, "new", 3), RK_EAUTH);
	assert_int_equal(keys_rewrap(p, PASS, strlen(PASS), "", 0),
	    RK_EINVAL);
	after = get_file(p, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(before);
	free(after);
	unlink(p);
}

static void
test_japanese_passphrase(void **state RK_UNUSED)
{
	/* "が" precomposed (NFC) and as "か" + combining dakuten (NFD): the
	 * same to a reader, different bytes.  The passphrase is bytes. */
	static const char nfc[] = "ひみつ\xe3\x81\x8c";	/* ...が */
	static const char nfd[] = "ひみつ\xe3\x81\x8b\xe3\x82\x99";
	struct keys *created = NULL, *k = NULL;
	char p[PATH_MAX];

	tpath(p, sizeof(p), "ja");
	assert_int_equal(keys_create(p, PASS_JA, strlen(PASS_JA),
	    KEYS_COST_INTERACTIVE, &created), 0);
	assert_int_equal(keys_unlock(p, PASS_JA, strlen(PASS_JA), &k), 0);
	assert_keys_equal(k, created);
	keys_free(k);
	keys_free(created);
	/* one character short */
	assert_unlock_fails(p, "訪問看護ステーションの合言葉", RK_EAUTH);
	unlink(p);

	assert_int_equal(keys_create(p, nfc, strlen(nfc),
	    KEYS_COST_INTERACTIVE, NULL), 0);
	assert_unlock_fails(p, nfd, RK_EAUTH);
	unlink(p);
}

/*
 * Writes a v1 key file from the format description alone, with this file's
 * own code, so the description and keys.c cannot drift apart unnoticed.
 */
static void
write_v1(const char *path, const char *pass, const struct keys *k,
    const uint8_t sign_pk[32], const uint8_t box_pk[32])
{
	uint8_t f[FILE_SIZE], key[32], block[128];

	memcpy(f, "RKKEYS\0", 7);
	f[OFF_VERSION] = 1;
	f[OFF_KDF] = 1;
	put_u64(f + OFF_OPSLIMIT, crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
	put_u64(f + OFF_MEMLIMIT, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
	randombytes_buf(f + OFF_SALT, 16);
	memcpy(f + OFF_SIGN_PK, sign_pk, 32);
	memcpy(f + OFF_BOX_PK, box_pk, 32);
	randombytes_buf(f + OFF_NONCE, 24);
	assert_int_equal(crypto_pwhash(key, sizeof(key), pass, strlen(pass),
	    f + OFF_SALT, crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE,
	    crypto_pwhash_ALG_ARGON2ID13), 0);
	memcpy(block, k->db_key, 32);
	memcpy(block + 32, k->sign_sk, 64);
	memcpy(block + 96, k->box_sk, 32);
	crypto_aead_xchacha20poly1305_ietf_encrypt(f + OFF_CIPHER, NULL, block,
	    sizeof(block), f, OFF_CIPHER, NULL, f + OFF_NONCE, key);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(block, sizeof(block));
	put_file(path, f, sizeof(f));
}

static void
test_independent_writer(void **state RK_UNUSED)
{
	struct keys *k = NULL;
	uint8_t other_pk[32], other_sk[64];
	char p[PATH_MAX];

	tpath(p, sizeof(p), "by-hand");
	write_v1(p, PASS, base_keys, base_keys->sign_pk, base_keys->box_pk);
	assert_int_equal(keys_unlock(p, PASS, strlen(PASS), &k), 0);
	assert_keys_equal(k, base_keys);
	keys_free(k);

	/* Well-formed and authentic, but the halves do not belong together:
	 * refused, not handed out. */
	crypto_sign_keypair(other_pk, other_sk);
	write_v1(p, PASS, base_keys, other_pk, base_keys->box_pk);
	assert_unlock_fails(p, PASS, RK_EPROTO);
	crypto_box_keypair(other_pk, other_sk);
	write_v1(p, PASS, base_keys, base_keys->sign_pk, other_pk);
	assert_unlock_fails(p, PASS, RK_EPROTO);
	unlink(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_delay),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_fresh_keys_differ),
		cmocka_unit_test(test_file_layout),
		cmocka_unit_test(test_mode_0600_whatever_umask),
		cmocka_unit_test(test_create_out_null),
		cmocka_unit_test(test_create_refuses_existing),
		cmocka_unit_test(test_create_refuses_empty_passphrase),
		cmocka_unit_test(test_wrong_passphrase),
		cmocka_unit_test(test_wrong_delay_applied),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_corruption),
		cmocka_unit_test(test_truncated_and_extended),
		cmocka_unit_test(test_newer_version),
		cmocka_unit_test(test_kdf_cost_out_of_range),
		cmocka_unit_test(test_kdf_cost_lowered),
		cmocka_unit_test(test_kdf_out_of_memory),
		cmocka_unit_test(test_swapped_public_keys),
		cmocka_unit_test(test_rewrap),
		cmocka_unit_test(test_rewrap_failures_leave_file),
		cmocka_unit_test(test_japanese_passphrase),
		cmocka_unit_test(test_independent_writer),
	};

	initial_delay = keys_wrong_delay_ms;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
