/*
 * testutil.h - helpers shared by the unit tests (header only).
 *
 *   tu_tmpdir      a fresh directory under $RK_TEST_TMP (or /tmp), made
 *                  with mkdir -p first; tu_rm_rf removes it again.
 *   tu_clock       a deterministic struct rk_clock: time set by the test,
 *                  randomness from a seeded splitmix64, so a seed replays
 *                  a run exactly.  tu_seed() reads RK_TEST_SEED (decimal or
 *                  0x hex) or returns a fixed default, and prints it.
 *   tu_tree_contains  scans every regular file under a directory for a
 *                  byte pattern (is plaintext on disk?).
 *
 * Everything is static inline so each test program takes what it uses
 * without unused-function warnings.
 */
#ifndef RK_TESTUTIL_H
#define RK_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"

#define TU_DEFAULT_SEED UINT64_C(0x72656e6b6569)	/* "renkei" */

/* --- directories -------------------------------------------------------- */

/* mkdir -p; 0 or -1 with errno. */
static inline int
tu_mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path), i;

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		tmp[i] = i == n ? '\0' : '/';
	}
	return 0;
}

/* The base for temporary directories: $RK_TEST_TMP or /tmp. */
static inline const char *
tu_tmp_base(void)
{
	const char *b = getenv("RK_TEST_TMP");

	return b != NULL && b[0] != '\0' ? b : "/tmp";
}

/* Makes a new empty directory BASE/tag-XXXXXX and writes its path to out.
 * Aborts the test program if that fails: nothing useful can follow. */
static inline void
tu_tmpdir(char *out, size_t outlen, const char *tag)
{
	const char *base = tu_tmp_base();
	int n;

	if (tu_mkdir_p(base) != 0) {
		fprintf(stderr, "testutil: mkdir -p %s: %s\n", base,
		    strerror(errno));
		abort();
	}
	n = snprintf(out, outlen, "%s/%s-XXXXXX", base, tag);
	if (n < 0 || (size_t)n >= outlen || mkdtemp(out) == NULL) {
		fprintf(stderr, "testutil: mkdtemp under %s failed\n", base);
		abort();
	}
}

/* rm -rf path (does not follow symbolic links).  0 or -1. */
static inline int
tu_rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char sub[PATH_MAX];
	int rc = 0;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path,
		    e->d_name) >= sizeof(sub) || tu_rm_rf(sub) != 0)
			rc = -1;
	}
	closedir(d);
	if (rmdir(path) != 0)
		rc = -1;
	return rc;
}

/* Size of a file, or -1 if it does not exist. */
static inline long long
tu_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* --- a deterministic clock and random source ---------------------------- */

struct tu_clock {
	int64_t now_ms;		/* what now_ms() returns; set it freely */
	uint64_t seed;		/* the seed the generator started from */
	uint64_t state;		/* splitmix64 state */
	struct rk_clock clock;	/* pass &tc.clock where a clock is wanted */
};

static inline uint64_t
tu_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static inline int64_t
tu_clock_now_cb(void *arg)
{
	return ((struct tu_clock *)arg)->now_ms;
}

static inline void
tu_clock_random_cb(void *arg, void *buf, size_t n)
{
	struct tu_clock *tc = arg;
	uint8_t *p = buf;
	size_t i;
	uint64_t r = 0;

	for (i = 0; i < n; i++) {
		if (i % 8 == 0)
			r = tu_splitmix64(&tc->state);
		p[i] = (uint8_t)(r >> (8 * (i % 8)));
	}
}

static inline void
tu_clock_init(struct tu_clock *tc, int64_t now_ms, uint64_t seed)
{
	tc->now_ms = now_ms;
	tc->seed = seed;
	tc->state = seed;
	tc->clock.now_ms = tu_clock_now_cb;
	tc->clock.random = tu_clock_random_cb;
	tc->clock.arg = tc;
}

static inline void
tu_clock_set(struct tu_clock *tc, int64_t now_ms)
{
	tc->now_ms = now_ms;
}

static inline void
tu_clock_advance(struct tu_clock *tc, int64_t delta_ms)
{
	tc->now_ms += delta_ms;
}

/* The seed for randomized tests: $RK_TEST_SEED or TU_DEFAULT_SEED.
 * Printed once so a failing run can be replayed. */
static inline uint64_t
tu_seed(void)
{
	static int printed;
	const char *e = getenv("RK_TEST_SEED");
	uint64_t seed = TU_DEFAULT_SEED;

	if (e != NULL && e[0] != '\0')
		seed = strtoull(e, NULL, 0);
	if (!printed) {
		fprintf(stderr, "# seed %" PRIu64 " (RK_TEST_SEED=%" PRIu64
		    " replays)\n", seed, seed);
		printed = 1;
	}
	return seed;
}

/* --- scanning files for bytes -------------------------------------------- */

/* 1 if the file at path holds the n bytes at pat, 0 if not, -1 on error. */
static inline int
tu_file_contains(const char *path, const void *pat, size_t n)
{
	FILE *f;
	unsigned char *data = NULL;
	size_t len = 0, cap = 0, got, i;
	int found = 0;

	if (n == 0)
		return 1;
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	for (;;) {
		if (len == cap) {
			unsigned char *p;

			cap = cap ? cap * 2 : 65536;
			if ((p = realloc(data, cap)) == NULL) {
				free(data);
				fclose(f);
				return -1;
			}
			data = p;
		}
		got = fread(data + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
		found = -1;
	fclose(f);
	for (i = 0; found == 0 && len >= n && i <= len - n; i++)
		if (data[i] == *(const unsigned char *)pat &&
		    memcmp(data + i, pat, n) == 0)
			found = 1;
	free(data);
	return found;
}

/* The number of regular files under dir (recursively) that hold the
 * pattern, or -1 on error.  If first is not NULL, the first such file's
 * path is written there (PATH_MAX bytes). */
static inline int
tu_tree_contains(const char *dir, const void *pat, size_t n, char *first)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char sub[PATH_MAX];
	int hits = 0, r;

	if (lstat(dir, &st) != 0)
		return -1;
	if (S_ISREG(st.st_mode)) {
		r = tu_file_contains(dir, pat, n);
		if (r == 1 && first != NULL && first[0] == '\0')
			snprintf(first, PATH_MAX, "%s", dir);
		return r;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir,
		    e->d_name) >= sizeof(sub)) {
			hits = -1;
			break;
		}
		if ((r = tu_tree_contains(sub, pat, n, first)) < 0) {
			hits = -1;
			break;
		}
		hits += r;
	}
	closedir(d);
	return hits;
}

#endif
