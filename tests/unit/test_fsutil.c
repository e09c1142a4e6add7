/*
 * test_fsutil.c - common/fsutil (path joining, atomic writes, bounded reads,
 * the private directory) and common/pass (passphrase from a file, and from a
 * pseudo-terminal standing in for the user's terminal).
 */
#define _XOPEN_SOURCE 700	/* posix_openpt, grantpt, unlockpt, ptsname */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/fsutil.h"
#include "common/pass.h"

/* cmocka hands every test a state pointer; most do not need it. */
#define RK_UNUSED __attribute__((unused))

static char tmpdir[PATH_MAX];

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

static int
setup_tmpdir(void **state RK_UNUSED)
{
	const char *base = getenv("RK_TEST_TMP");

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (mkdir_p(base) == -1)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "%s/fsutil.XXXXXX", base);
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

/* Our temp dirs hold plain files and at most one level of directories. */
static void
rm_tree(const char *dir)
{
	char p[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fs_path(p, sizeof(p), dir, de->d_name) != 0)
			continue;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int
teardown_tmpdir(void **state RK_UNUSED)
{
	rm_tree(tmpdir);
	return 0;
}

static void
tpath(char *out, size_t outlen, const char *name)
{
	int n = snprintf(out, outlen, "%s/%s", tmpdir, name);

	assert_true(n > 0 && (size_t)n < outlen);
}

static void
put_file(const char *path, const void *data, size_t len, mode_t mode)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int
count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* ---- fs_path ---- */

static void
test_fs_path(void **state RK_UNUSED)
{
	char out[16];

	assert_int_equal(fs_path(out, sizeof(out), "/d", "keys"), 0);
	assert_string_equal(out, "/d/keys");
	assert_int_equal(fs_path(out, sizeof(out), "/d/", "keys"), 0);
	assert_string_equal(out, "/d/keys");
	/* exactly fits: 15 characters and the NUL */
	assert_int_equal(fs_path(out, sizeof(out), "/abcdefghi", "1234"), 0);
	assert_string_equal(out, "/abcdefghi/1234");
}

static void
test_fs_path_overflow(void **state RK_UNUSED)
{
	char out[16];

	memset(out, 'Z', sizeof(out));
	assert_int_equal(fs_path(out, sizeof(out), "/abcdefghi", "12345"),
	    RK_EINVAL);
	/* nothing written on failure */
	assert_int_equal(out[0], 'Z');
	assert_int_equal(out[15], 'Z');
	assert_int_equal(fs_path(out, 0, "", "x"), RK_EINVAL);
}

/* ---- fs_write_atomic / fs_write_new ---- */

static void
test_write_atomic_replaces(void **state RK_UNUSED)
{
	char p[PATH_MAX];
	struct stat st;
	uint8_t *data = NULL;
	size_t len = 0;
	mode_t old;

	tpath(p, sizeof(p), "f");
	assert_int_equal(fs_write_atomic(p, "one", 3, 0600), 0);
	assert_int_equal(fs_read_all(p, 100, &data, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "one", 4);	/* with the extra NUL */
	free(data);

	/* The mode is exactly what was asked for, whatever the umask. */
	old = umask(077);
	assert_int_equal(fs_write_atomic(p, "second", 6, 0644), 0);
	umask(old);
	assert_int_equal(fs_read_all(p, 100, &data, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(data, "second", 7);
	free(data);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	/* No temporary file is left beside it. */
	assert_int_equal(count_entries(tmpdir), 1);
}

static void
test_write_atomic_empty(void **state RK_UNUSED)
{
	char p[PATH_MAX];
	uint8_t *data = NULL;
	size_t len = 99;

	tpath(p, sizeof(p), "empty");
	assert_int_equal(fs_write_atomic(p, "", 0, 0600), 0);
	assert_int_equal(fs_read_all(p, 0, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_non_null(data);
	assert_int_equal(data[0], '\0');
	free(data);
}

static void
test_write_atomic_no_dir(void **state RK_UNUSED)
{
	char p[PATH_MAX];

	tpath(p, sizeof(p), "nodir/f");
	assert_int_equal(fs_write_atomic(p, "x", 1, 0600), RK_ENOTFOUND);
	assert_int_equal(count_entries(tmpdir), 0);
}

static void
test_write_atomic_replaces_symlink_not_target(void **state RK_UNUSED)
{
	char p[PATH_MAX], target[PATH_MAX];
	uint8_t *data = NULL;
	size_t len;

	/* rename replaces the link itself, never writes through it. */
	tpath(target, sizeof(target), "target");
	tpath(p, sizeof(p), "link");
	put_file(target, "keep", 4, 0600);
	assert_int_equal(symlink(target, p), 0);
	assert_int_equal(fs_write_atomic(p, "new", 3, 0600), 0);
	assert_int_equal(fs_read_all(target, 100, &data, &len), 0);
	assert_memory_equal(data, "keep", 5);
	free(data);
}

static void
test_write_new(void **state RK_UNUSED)
{
	char p[PATH_MAX];
	struct stat st;
	uint8_t *data = NULL;
	size_t len;

	tpath(p, sizeof(p), "n");
	assert_int_equal(fs_write_new(p, "first", 5, 0600), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_nlink, 1);	/* the temporary name went */

	assert_int_equal(fs_write_new(p, "second", 6, 0600), RK_EEXIST);
	assert_int_equal(fs_read_all(p, 100, &data, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(data, "first", 6);
	free(data);
	assert_int_equal(count_entries(tmpdir), 1);
}

/* A write that fails half-way leaves the old file and no temporary one. */
static void
test_write_atomic_failure_cleans_up(void **state RK_UNUSED)
{
	char p[PATH_MAX], q[PATH_MAX], big[4096];
	struct rlimit saved, lim;
	void (*saved_sig)(int);
	uint8_t *data = NULL;
	size_t len;
	int rc1, rc2;

	tpath(p, sizeof(p), "f");
	tpath(q, sizeof(q), "g");
	put_file(p, "old", 3, 0600);
	memset(big, 'x', sizeof(big));

	/* Files may not grow past 100 bytes: write() fails with EFBIG. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	lim = saved;
	lim.rlim_cur = 100;
	saved_sig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc1 = fs_write_atomic(p, big, sizeof(big), 0600);
	rc2 = fs_write_new(q, big, sizeof(big), 0600);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, saved_sig);

	assert_int_equal(rc1, RK_EIO);
	assert_int_equal(rc2, RK_EIO);
	assert_int_equal(fs_read_all(p, 100, &data, &len), 0);
	assert_memory_equal(data, "old", 4);
	free(data);
	assert_int_equal(count_entries(tmpdir), 1);
}

/* The rename itself fails (a directory is in the way). */
static void
test_write_atomic_rename_fails(void **state RK_UNUSED)
{
	char p[PATH_MAX], q[PATH_MAX];

	tpath(p, sizeof(p), "d");
	assert_int_equal(mkdir(p, 0700), 0);
	tpath(q, sizeof(q), "d/inside");
	put_file(q, "x", 1, 0600);
	assert_int_equal(fs_write_atomic(p, "new", 3, 0600), RK_EIO);
	assert_int_equal(count_entries(tmpdir), 1);
	assert_int_equal(count_entries(p), 1);
}

/* ---- fs_read_all ---- */

static void
test_read_all_maxlen(void **state RK_UNUSED)
{
	char p[PATH_MAX];
	uint8_t *data = NULL, *big;
	size_t len = 0, i, n = 100000;

	tpath(p, sizeof(p), "ten");
	put_file(p, "0123456789", 10, 0600);
	assert_int_equal(fs_read_all(p, 10, &data, &len), 0);
	assert_int_equal(len, 10);
	assert_memory_equal(data, "0123456789", 11);
	free(data);

	data = (uint8_t *)"untouched";
	len = 7;
	assert_int_equal(fs_read_all(p, 9, &data, &len), RK_EINVAL);
	assert_string_equal((char *)data, "untouched");
	assert_int_equal(len, 7);

	/* Bigger than the first read buffer, both fitting and not. */
	assert_non_null(big = malloc(n));
	for (i = 0; i < n; i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	tpath(p, sizeof(p), "big");
	put_file(p, big, n, 0600);
	data = NULL;
	assert_int_equal(fs_read_all(p, n, &data, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(data, big, n);
	assert_int_equal(data[n], '\0');
	free(data);
	data = NULL;
	assert_int_equal(fs_read_all(p, n / 2, &data, &len), RK_EINVAL);
	assert_null(data);
	free(big);
}

static void
test_read_all_unknown_size(void **state RK_UNUSED)
{
	uint8_t *data = NULL;
	size_t len = 0;

	/* procfs files report size 0; the reader must not trust st_size. */
	if (access("/proc/self/status", R_OK) != 0)
		skip();
	assert_int_equal(fs_read_all("/proc/self/status", 1 << 20, &data,
	    &len), 0);
	assert_true(len > 0);
	assert_non_null(strstr((char *)data, "Name:"));
	free(data);
}

static void
test_read_all_missing(void **state RK_UNUSED)
{
	char p[PATH_MAX];
	uint8_t *data = (uint8_t *)"x";
	size_t len = 42;

	tpath(p, sizeof(p), "absent");
	assert_int_equal(fs_read_all(p, 10, &data, &len), RK_ENOTFOUND);
	assert_string_equal((char *)data, "x");
	assert_int_equal(len, 42);
}

/* ---- fs_mkdir_private ---- */

static void
test_mkdir_private(void **state RK_UNUSED)
{
	char p[PATH_MAX];
	struct stat st;
	mode_t old;

	tpath(p, sizeof(p), "d");
	old = umask(0);
	assert_int_equal(fs_mkdir_private(p), 0);
	umask(old);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(fs_mkdir_private(p), 0);	/* exists: fine */

	tpath(p, sizeof(p), "file");
	put_file(p, "x", 1, 0600);
	assert_int_equal(fs_mkdir_private(p), RK_EEXIST);

	tpath(p, sizeof(p), "no/such/parent");
	assert_int_equal(fs_mkdir_private(p), RK_ENOTFOUND);
}

/* ---- pass_read from a file ---- */

static void
expect_pass_file(const char *content, size_t clen, const char *want)
{
	char p[PATH_MAX], *pw = NULL;
	size_t len = 0;

	tpath(p, sizeof(p), "pw");
	put_file(p, content, clen, 0600);
	assert_int_equal(pass_read(p, NULL, &pw, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(pw, want, len + 1);
	pass_free(pw);
	unlink(p);
}

static void
expect_pass_file_refused(const char *content, size_t clen, int want_rc)
{
	char p[PATH_MAX], *pw = (char *)"sentinel";
	size_t len = 77;

	tpath(p, sizeof(p), "pw");
	put_file(p, content, clen, 0600);
	assert_int_equal(pass_read(p, NULL, &pw, &len), want_rc);
	assert_string_equal(pw, "sentinel");
	assert_int_equal(len, 77);
	unlink(p);
}


static void
test_pass_file(void **state RK_UNUSED)
{
	expect_pass_file("secret\n", 7, "secret");
	expect_pass_file("secret\r\n", 8, "secret");
	expect_pass_file("secret", 6, "secret");
	/* only one line end goes; the rest belongs to the passphrase */
	expect_pass_file("secret\n\n", 8, "secret\n");
	expect_pass_file("secret\r", 7, "secret\r");
	expect_pass_file(" spaced out \n", 13, " spaced out ");
	expect_pass_file("訪問看護の合言葉\n", strlen("訪問看護の合言葉\n"),
	    "訪問看護の合言葉");

	expect_pass_file_refused("", 0, RK_EINVAL);
	expect_pass_file_refused("\n", 1, RK_EINVAL);
	expect_pass_file_refused("\r\n", 2, RK_EINVAL);
	expect_pass_file_refused("ab\0cd\n", 6, RK_EINVAL);
}

static void
test_pass_file_limits(void **state RK_UNUSED)
{
	char big[PASS_MAX + 100], p[PATH_MAX], *pw = NULL;
	size_t len = 0;

	/* PASS_MAX bytes and a line end: the longest accepted */
	memset(big, 'a', sizeof(big));
	big[PASS_MAX] = '\r';
	big[PASS_MAX + 1] = '\n';
	tpath(p, sizeof(p), "pw");
	put_file(p, big, PASS_MAX + 2, 0600);
	assert_int_equal(pass_read(p, NULL, &pw, &len), 0);
	assert_int_equal(len, PASS_MAX);
	assert_int_equal(pw[PASS_MAX], '\0');
	pass_free(pw);
	unlink(p);

	memset(big, 'a', sizeof(big));
	expect_pass_file_refused(big, PASS_MAX + 1, RK_EINVAL);
	big[PASS_MAX + 1] = '\n';
	expect_pass_file_refused(big, PASS_MAX + 2, RK_EINVAL);
	expect_pass_file_refused(big, sizeof(big), RK_EINVAL);
}

static void
test_pass_file_missing(void **state RK_UNUSED)
{
	char p[PATH_MAX], *pw = (char *)"sentinel";
	size_t len = 1;

	tpath(p, sizeof(p), "absent");
	assert_int_equal(pass_read(p, NULL, &pw, &len), RK_ENOTFOUND);
	assert_string_equal(pw, "sentinel");
}

/* Runs pass_read on file with stderr captured into log (NUL-terminated). */
static int
pass_read_logged(const char *file, char *log, size_t loglen, char **pw,
    size_t *len)
{
	char cap[PATH_MAX];
	ssize_t n;
	int fd, saved, rc;

	tpath(cap, sizeof(cap), "stderr");
	fflush(stderr);
	assert_true((fd = open(cap, O_CREAT | O_RDWR | O_TRUNC, 0600)) != -1);
	assert_true((saved = dup(2)) != -1);
	assert_int_equal(dup2(fd, 2), 2);
	rc = pass_read(file, NULL, pw, len);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	assert_true((n = pread(fd, log, loglen - 1, 0)) >= 0);
	log[n] = '\0';
	close(fd);
	unlink(cap);
	return rc;
}

static void
test_pass_file_mode_warning(void **state RK_UNUSED)
{
	char p[PATH_MAX], log[2048], *pw = NULL;
	size_t len;

	tpath(p, sizeof(p), "pw");
	put_file(p, "hunter2-secret\n", 15, 0644);
	assert_int_equal(pass_read_logged(p, log, sizeof(log), &pw, &len), 0);
	assert_string_equal(pw, "hunter2-secret");
	pass_free(pw);
	assert_non_null(strstr(log, "other users"));
	assert_null(strstr(log, "hunter2"));	/* never the passphrase */

	assert_int_equal(chmod(p, 0600), 0);
	assert_int_equal(pass_read_logged(p, log, sizeof(log), &pw, &len), 0);
	pass_free(pw);
	assert_string_equal(log, "");
}

/* ---- pass_read from a terminal ---- */

static const char *default_tty_path;

static void
test_pass_tty_default(void **state RK_UNUSED)
{
	assert_string_equal(default_tty_path, "/dev/tty");
}

static void
test_pass_no_terminal(void **state RK_UNUSED)
{
	char p[PATH_MAX], *pw = (char *)"sentinel";
	size_t len = 5;

	pass_tty_path = "/nonexistent/tty";
	assert_int_equal(pass_read(NULL, NULL, &pw, &len), RK_EINVAL);
	assert_int_equal(pass_read_confirm(NULL, NULL, NULL, &pw, &len),
	    RK_EINVAL);

	/* something that opens but is not a terminal */
	tpath(p, sizeof(p), "notatty");
	put_file(p, "secret\n", 7, 0600);
	pass_tty_path = p;
	assert_int_equal(pass_read(NULL, NULL, &pw, &len), RK_EINVAL);
	pass_tty_path = default_tty_path;

	assert_string_equal(pw, "sentinel");
	assert_int_equal(len, 5);
}

static void
test_pass_confirm_file_reads_once(void **state RK_UNUSED)
{
	char p[PATH_MAX], *pw = NULL;
	size_t len = 0;

	/* with a file, no terminal is needed (or touched) */
	pass_tty_path = "/nonexistent/tty";
	tpath(p, sizeof(p), "pw");
	put_file(p, "only-once\n", 10, 0600);
	assert_int_equal(pass_read_confirm(p, NULL, NULL, &pw, &len), 0);
	pass_tty_path = default_tty_path;
	assert_int_equal(len, 9);
	assert_string_equal(pw, "only-once");
	pass_free(pw);
}

struct pty {
	int master;
	int slave;	/* held open to look at the terminal's settings */
	char name[128];
};

static void
pty_open(struct pty *t)
{
	const char *n;

	if ((t->master = posix_openpt(O_RDWR | O_NOCTTY)) == -1)
		skip();
	assert_int_equal(grantpt(t->master), 0);
	assert_int_equal(unlockpt(t->master), 0);
	assert_non_null(n = ptsname(t->master));
	snprintf(t->name, sizeof(t->name), "%s", n);
	assert_true((t->slave = open(t->name, O_RDWR | O_NOCTTY)) != -1);
	pass_tty_path = t->name;
}

static void
pty_close(struct pty *t)
{
	pass_tty_path = default_tty_path;
	close(t->slave);
	close(t->master);
}

/* 1 if the terminal echoes, 0 if not, -1 on error; no cmocka asserts, as
 * the typist thread calls it too. */
static int
pty_echo_raw(int slave)
{
	struct termios tio;

	if (tcgetattr(slave, &tio) == -1)
		return -1;
	return (tio.c_lflag & ECHO) != 0;
}

static int
pty_echo(int slave)
{
	int e = pty_echo_raw(slave);

	assert_true(e != -1);
	return e;
}

/* Plays the user: waits for each prompt, notes whether echo was off, types
 * the reply.  Runs in a thread while the test calls pass_read. */
struct typist {
	int master, slave;
	int n;
	const char *prompts[2];
	const char *replies[2];
	int echo_at_prompt[2];
	int failed;
	char seen[8192];	/* everything written to the terminal */
	size_t seenlen;
};

/* Reads the terminal's output until want appears after *from. */
static int
typist_wait(struct typist *ty, const char *want, size_t *from, int ms)
{
	struct pollfd pfd;
	const char *hit;
	ssize_t r;

	for (;;) {
		ty->seen[ty->seenlen] = '\0';
		if (want != NULL &&
		    (hit = strstr(ty->seen + *from, want)) != NULL) {
			*from = (size_t)(hit - ty->seen) + strlen(want);
			return 0;
		}
		pfd.fd = ty->master;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms) <= 0)
			return -1;
		r = read(ty->master, ty->seen + ty->seenlen,
		    sizeof(ty->seen) - 1 - ty->seenlen);
		if (r <= 0)
			return -1;
		ty->seenlen += (size_t)r;
	}
}

static void *
typist_run(void *arg)
{
	struct typist *ty = arg;
	size_t from = 0;
	int i;

	for (i = 0; i < ty->n; i++) {
		if (typist_wait(ty, ty->prompts[i], &from, 10000) == -1)
			ty->failed = 1;	/* type anyway: do not hang */
		else
			ty->echo_at_prompt[i] = pty_echo_raw(ty->slave);
		if (write(ty->master, ty->replies[i],
		    strlen(ty->replies[i])) < 0)
			ty->failed = 1;
	}
	return NULL;
}

/* Runs pass_read (confirm: pass_read_confirm) on a pseudo-terminal while a
 * typist answers; returns pass_read's result. */
static int
run_typed(struct pty *t, struct typist *ty, int confirm, char **pw,
    size_t *len)
{
	pthread_t th;
	size_t from = 0;
	int rc;

	ty->master = t->master;
	ty->slave = t->slave;
	assert_int_equal(pthread_create(&th, NULL, typist_run, ty), 0);
	if (confirm)
		rc = pass_read_confirm(NULL, ty->prompts[0], ty->prompts[1], pw,
		    len);
	else
		rc = pass_read(NULL, ty->prompts[0], pw, len);
	assert_int_equal(pthread_join(th, NULL), 0);
	/* collect what is left, e.g. the newline after the answer */
	(void)typist_wait(ty, NULL, &from, 100);
	assert_false(ty->failed);
	return rc;
}

static void
test_pass_tty(void **state RK_UNUSED)
{
	struct typist ty = { .n = 1, .prompts = { "Passphrase: " },
	    .replies = { "tty-secret\n" } };
	struct pty t;
	char *pw = NULL;
	size_t len = 0;

	pty_open(&t);
	assert_true(pty_echo(t.slave));
	assert_int_equal(run_typed(&t, &ty, 0, &pw, &len), 0);
	/* echo was off while the user typed, and is on again after */
	assert_int_equal(ty.echo_at_prompt[0], 0);
	assert_true(pty_echo(t.slave));
	assert_int_equal(len, 10);
	assert_string_equal(pw, "tty-secret");
	assert_non_null(strstr(ty.seen, "Passphrase: "));
	assert_null(strstr(ty.seen, "tty-secret"));	/* never echoed */
	pass_free(pw);
	pty_close(&t);
}

static void
test_pass_tty_empty(void **state RK_UNUSED)
{
	struct typist ty = { .n = 1, .prompts = { "P: " },
	    .replies = { "\n" } };
	struct pty t;
	char *pw = (char *)"sentinel";
	size_t len = 0;

	pty_open(&t);
	assert_int_equal(run_typed(&t, &ty, 0, &pw, &len), RK_EINVAL);
	assert_string_equal(pw, "sentinel");
	assert_true(pty_echo(t.slave));
	pty_close(&t);
}

static void
test_pass_tty_confirm(void **state RK_UNUSED)
{
	struct typist ty = { .n = 2, .prompts = { "New: ", "Again: " },
	    .replies = { "合言葉-1\n", "合言葉-1\n" } };
	struct pty t;
	char *pw = NULL;
	size_t len = 0;

	pty_open(&t);
	assert_int_equal(run_typed(&t, &ty, 1, &pw, &len), 0);
	assert_string_equal(pw, "合言葉-1");
	assert_int_equal(len, strlen("合言葉-1"));
	assert_int_equal(ty.echo_at_prompt[0], 0);
	assert_int_equal(ty.echo_at_prompt[1], 0);
	assert_true(pty_echo(t.slave));
	pass_free(pw);
	pty_close(&t);
}

static void
test_pass_tty_confirm_mismatch(void **state RK_UNUSED)
{
	struct typist ty = { .n = 2, .prompts = { "New: ", "Again: " },
	    .replies = { "first-try\n", "first-trx\n" } };
	struct pty t;
	char *pw = (char *)"sentinel";
	size_t len = 3;

	pty_open(&t);
	assert_int_equal(run_typed(&t, &ty, 1, &pw, &len), RK_EINVAL);
	assert_string_equal(pw, "sentinel");
	assert_int_equal(len, 3);
	assert_true(pty_echo(t.slave));
	pty_close(&t);
}

/* ^C at the prompt: the process still dies of SIGINT, with echo back on. */
static void
test_pass_tty_sigint(void **state RK_UNUSED)
{
	struct typist ty;
	struct pty t;
	size_t from = 0;
	pid_t pid;
	int status = 0, echo_during, i;

	pty_open(&t);
	memset(&ty, 0, sizeof(ty));
	ty.master = t.master;
	if ((pid = fork()) == 0) {
		char *pw;
		size_t len;
		int rc;

		signal(SIGINT, SIG_DFL);
		rc = pass_read(NULL, "P: ", &pw, &len);
		_exit(rc == 0 ? 0 : 3);
	}
	assert_true(pid > 0);
	if (typist_wait(&ty, "P: ", &from, 10000) == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("no prompt on the terminal");
	}
	echo_during = pty_echo(t.slave);
	/* A signal landing just before read() blocks is only noticed at the
	 * next one, as with a user pressing ^C again. */
	for (i = 0; i < 50; i++) {
		kill(pid, SIGINT);
		usleep(100000);
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	if (i == 50) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("pass_read did not stop on SIGINT");
	}
	assert_int_equal(echo_during, 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGINT);
	assert_true(pty_echo(t.slave));
	pty_close(&t);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_tmpdir, teardown_tmpdir)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fs_path),
		cmocka_unit_test(test_fs_path_overflow),
		T(test_write_atomic_replaces),
		T(test_write_atomic_empty),
		T(test_write_atomic_no_dir),
		T(test_write_atomic_replaces_symlink_not_target),
		T(test_write_new),
		T(test_write_atomic_failure_cleans_up),
		T(test_write_atomic_rename_fails),
		T(test_read_all_maxlen),
		cmocka_unit_test(test_read_all_unknown_size),
		T(test_read_all_missing),
		T(test_mkdir_private),
		T(test_pass_file),
		T(test_pass_file_limits),
		T(test_pass_file_missing),
		T(test_pass_file_mode_warning),
		cmocka_unit_test(test_pass_tty_default),
		T(test_pass_no_terminal),
		T(test_pass_confirm_file_reads_once),
		cmocka_unit_test(test_pass_tty),
		cmocka_unit_test(test_pass_tty_empty),
		cmocka_unit_test(test_pass_tty_confirm),
		cmocka_unit_test(test_pass_tty_confirm_mismatch),
		cmocka_unit_test(test_pass_tty_sigint),
	};

	default_tty_path = pass_tty_path;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
