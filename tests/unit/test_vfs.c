/*
 * test_vfs.c - the encrypting VFS (daemon/vfs.c): no record content or
 * SQLite magic reaches the disk; pages read back whole and in slices; WAL
 * recovery and hot-journal rollback work through decryption; altered or
 * moved pages and wrong keys fail as errors, never as data; temporary
 * files and databases without reserved bytes are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "daemon/vfs.h"

#define VFS_A	"rk-test-a"
#define VFS_B	"rk-test-b"
#define MARKER	"MARKER-xyz"
#define MAGIC	"SQLite format 3"
#define PS	VFS_PAGE_SIZE
#define WAL_FRAME (24 + PS)	/* frame header + page */

static struct vfs_crypt *vfs_a, *vfs_b;

struct tdir {
	char	path[PATH_MAX];
};

/* ---- files ---- */

static void
pjoin(char out[PATH_MAX], const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	assert_true(n > 0 && n < PATH_MAX);
}

static void
mkdir_p(const char *path)
{
	char tmp[PATH_MAX], *p;

	assert_true(strlen(path) < sizeof(tmp));
	strcpy(tmp, path);
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0)
			assert_int_equal(errno, EEXIST);
		*p = '/';
	}
	if (mkdir(tmp, 0700) != 0)
		assert_int_equal(errno, EEXIST);
}

/* A subdirectory of the test's directory, created. */
static void
subdir(char out[PATH_MAX], struct tdir *t, const char *name)
{
	pjoin(out, t->path, name);
	mkdir_p(out);
}

static void
rm_rf(const char *path)
{
	char child[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			pjoin(child, path, de->d_name);
			rm_rf(child);
		}
		closedir(d);
	}
	rmdir(path);
}

static int
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static long long
fsize(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (long long)st.st_size;
}

/* The whole file, malloc'd; *len set. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	uint8_t *p;
	FILE *fp;
	long n;

	assert_non_null(fp = fopen(path, "rb"));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	assert_non_null(p = malloc((size_t)n + 1));
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

static int
has_bytes(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	size_t i;

	for (i = 0; m <= n && i <= n - m; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

static int
file_has(const char *path, const char *needle)
{
	size_t n;
	uint8_t *p = slurp(path, &n);
	int found = has_bytes(p, n, needle, strlen(needle));

	free(p);
	return found;
}

/* Every file in dir is free of the marker and of SQLite's magic; returns
 * how many files were looked at. */
static int
assert_dir_clean(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		pjoin(path, dir, de->d_name);
		if (file_has(path, MARKER) || file_has(path, MAGIC))
			fail_msg("%s holds plaintext", path);
		n++;
	}
	closedir(d);
	return n;
}

static void
copy_file(const char *from, const char *to)
{
	size_t n;
	uint8_t *p = slurp(from, &n);
	FILE *fp;

	assert_non_null(fp = fopen(to, "wb"));
	assert_int_equal(fwrite(p, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
	free(p);
}

/* Copies name (and name-wal, name-journal when present) from one
 * directory to another: what a crash would leave behind.  Never -shm, so
 * a WAL must be recovered. */
static void
copy_db(const char *from_dir, const char *to_dir, const char *name)
{
	static const char *suffix[] = { "", "-wal", "-journal" };
	char from[PATH_MAX], to[PATH_MAX], file[NAME_MAX];
	size_t i;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", name, suffix[i]);
		pjoin(from, from_dir, file);
		pjoin(to, to_dir, file);
		unlink(to);
		if (exists(from))
			copy_file(from, to);
	}
}

static void
pread_at(const char *path, void *buf, size_t n, off_t off)
{
	int fd;

	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

static void
pwrite_at(const char *path, const void *buf, size_t n, off_t off)
{
	int fd;

	assert_true((fd = open(path, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

static void
flip_bit(const char *path, off_t off)
{
	uint8_t b;

	pread_at(path, &b, 1, off);
	b ^= 0x10;
	pwrite_at(path, &b, 1, off);
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- stderr, where log_warnx goes ---- */

static int saved_stderr = -1;
static char capture_path[PATH_MAX];

static void
capture_begin(struct tdir *t)
{
	int fd;

	pjoin(capture_path, t->path, "stderr.txt");
	fflush(stderr);
	assert_true((fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC,
	    0600)) >= 0);
	assert_true((saved_stderr = dup(2)) >= 0);
	assert_true(dup2(fd, 2) >= 0);
	close(fd);
}

/* What was logged since capture_begin; free() it. */
static char *
capture_end(void)
{
	size_t n;
	char *text;

	fflush(stderr);
	assert_true(dup2(saved_stderr, 2) >= 0);
	close(saved_stderr);
	saved_stderr = -1;
	text = (char *)slurp(capture_path, &n);
	unlink(capture_path);
	print_message("%s", text);
	return text;
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* ---- databases ---- */

static void
exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc != SQLITE_OK)
		print_message("%s: %s\n", sql, err);
	sqlite3_free(err);
	assert_int_equal(rc, SQLITE_OK);
}

/* 0, or the extended error code of the failing statement. */
static int
exec_rc(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sqlite3_extended_errcode(db);
}

static sqlite3_int64
q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	sqlite3_int64 v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
assert_q_text(sqlite3 *db, const char *sql, const char *want)
{
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), want);
	sqlite3_finalize(st);
}

static sqlite3 *
db_open(const char *path, const char *vfs)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
	exec(db, "PRAGMA temp_store = MEMORY");
	return db;
}

/* Opens path, without powersafe overwrite if psow0. */
static sqlite3 *
db_open_psow(const char *path, const char *vfs, int psow0)
{
	char uri[PATH_MAX + 32];
	sqlite3 *db = NULL;

	if (!psow0)
		return db_open(path, vfs);
	snprintf(uri, sizeof(uri), "file:%s?psow=0", path);
	assert_int_equal(sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, vfs), SQLITE_OK);
	exec(db, "PRAGMA temp_store = MEMORY");
	return db;
}

/* A new database through VFS A, prepared, with table t. */
static sqlite3 *
db_create(const char *path, const char *journal_mode)
{
	char sql[128];
	sqlite3 *db = db_open(path, VFS_A);

	assert_int_equal(vfs_prepare_new_db(db), 0);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode = %s", journal_mode);
	assert_q_text(db, sql, journal_mode);
	exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
	return db;
}

static void
db_close(sqlite3 *db)
{
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* Row id's body: the marker and id, repeated; some rows small, some
 * several pages (overflow chains). */
static size_t
body_for(int id, char *buf, size_t cap)
{
	size_t len = id % 10 == 0 ? 6000 : id % 3 == 0 ? 700 : 40, i;
	char unit[32];
	int n = snprintf(unit, sizeof(unit), MARKER "-%06d ", id);

	assert_true(len < cap);
	for (i = 0; i < len; i++)
		buf[i] = unit[i % (size_t)n];
	buf[len] = '\0';
	return len;
}

/* Inserts rows first..first+n-1: one commit, unless a transaction is
 * open already. */
static void
fill(sqlite3 *db, int first, int n)
{
	sqlite3_stmt *st;
	char buf[8192];
	size_t len;
	int id, own = sqlite3_get_autocommit(db);

	if (own)
		exec(db, "BEGIN");
	assert_int_equal(sqlite3_prepare_v2(db,
	    "INSERT INTO t(id, body) VALUES (?, ?)", -1, &st, NULL), SQLITE_OK);
	for (id = first; id < first + n; id++) {
		len = body_for(id, buf, sizeof(buf));
		sqlite3_bind_int(st, 1, id);
		sqlite3_bind_text(st, 2, buf, (int)len, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (own)
		exec(db, "COMMIT");
}

/* Rows first..first+n-1 exist with exactly the bodies fill wrote. */
static void
verify(sqlite3 *db, int first, int n)
{
	sqlite3_stmt *st;
	char buf[8192];
	size_t len;
	int id;

	assert_int_equal(sqlite3_prepare_v2(db,
	    "SELECT body FROM t WHERE id = ?", -1, &st, NULL), SQLITE_OK);
	for (id = first; id < first + n; id++) {
		len = body_for(id, buf, sizeof(buf));
		sqlite3_bind_int(st, 1, id);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_bytes(st, 0), (int)len);
		assert_memory_equal(sqlite3_column_text(st, 0), buf, len);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

/* A hash over every row, in order. */
static void
fingerprint(sqlite3 *db, uint8_t out[32])
{
	crypto_generichash_state h;
	sqlite3_stmt *st;
	sqlite3_int64 id;
	int rc;

	crypto_generichash_init(&h, NULL, 0, 32);
	assert_int_equal(sqlite3_prepare_v2(db,
	    "SELECT id, body FROM t ORDER BY id", -1, &st, NULL), SQLITE_OK);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		crypto_generichash_update(&h, (const uint8_t *)&id, sizeof(id));
		crypto_generichash_update(&h, sqlite3_column_text(st, 1),
		    (size_t)sqlite3_column_bytes(st, 1));
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	crypto_generichash_final(&h, out, 32);
}

static void
assert_integrity(sqlite3 *db)
{
	assert_q_text(db, "PRAGMA integrity_check", "ok");
}

static sqlite3_file *
file_pointer(sqlite3 *db, int op)
{
	sqlite3_file *fp = NULL;

	assert_int_equal(sqlite3_file_control(db, "main", op, &fp), SQLITE_OK);
	assert_non_null(fp);
	return fp;
}

/* ---- fixtures ---- */

static int
group_setup(void **state)
{
	uint8_t ka[VFS_KEY_LEN], kb[VFS_KEY_LEN];

	(void)state;
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(ka, sizeof(ka));
	randombytes_buf(kb, sizeof(kb));
	if (vfs_crypt_register(VFS_A, ka, &vfs_a) != 0 ||
	    vfs_crypt_register(VFS_B, kb, &vfs_b) != 0)
		return -1;
	sodium_memzero(ka, sizeof(ka));
	sodium_memzero(kb, sizeof(kb));
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	vfs_crypt_unregister(vfs_a);
	vfs_crypt_unregister(vfs_b);
	assert_null(sqlite3_vfs_find(VFS_A));
	return 0;
}

static int
setup(void **state)
{
	const char *base = getenv("RK_TEST_TMP");
	struct tdir *t;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	mkdir_p(base);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	pjoin(t->path, base, "vfs-XXXXXX");
	if (mkdtemp(t->path) == NULL) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tdir *t = *state;

	if (saved_stderr >= 0)		/* a failure inside a capture */
		free(capture_end());
	rm_rf(t->path);
	free(t);
	return 0;
}

/* ---- tests ---- */

/* 1. Nothing readable on disk; the key reads it back; plain SQLite
 * cannot. */
static void
test_no_plaintext_on_disk(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX], jpath[PATH_MAX];
	sqlite3 *db;

	subdir(dir, *state, "a");
	pjoin(path, dir, "t.db");
	pjoin(jpath, dir, "t.db-journal");

	/* PERSIST keeps the journal, so it is scanned too. */
	db = db_create(path, "persist");
	fill(db, 1, 300);
	/* Rewrites pages holding the marker: their old images are
	 * journaled. */
	exec(db, "UPDATE t SET body = body || '!' WHERE id % 7 = 0");
	db_close(db);

	assert_true(exists(jpath) && fsize(jpath) > 512);
	assert_true(fsize(path) > 4 * PS && fsize(path) % PS == 0);
	assert_int_equal(assert_dir_clean(dir), 2);

	db = db_open(path, VFS_A);
	assert_int_equal(q_int(db, "SELECT count(*) FROM t"), 300);
	assert_int_equal(q_int(db,
	    "SELECT count(*) FROM t WHERE body LIKE '%!'"), 300 / 7);
	exec(db, "UPDATE t SET body = substr(body, 1, length(body) - 1) "
	    "WHERE id % 7 = 0");
	verify(db, 1, 300);
	assert_integrity(db);
	db_close(db);
	assert_dir_clean(dir);

	/* The default VFS sees no database. */
	db = db_open(path, NULL);
	assert_int_equal(exec_rc(db, "SELECT count(*) FROM t"), SQLITE_NOTADB);
	assert_string_equal(sqlite3_errmsg(db), "file is not a database");
	db_close(db);
}

/* 2. Reads straight through the sqlite3_file: header slices, whole pages,
 * spans, past the end. */
static void
test_page_reads(void **state)
{
	uint8_t hdr[100], b16[16], p1[PS], p2[PS], two[2 * PS], span[400];
	uint8_t raw[PS], raw2[PS], last[PS], tail[200], buf[PS];
	char dir[PATH_MAX], path[PATH_MAX];
	sqlite3_int64 size, off, mmap_size;
	sqlite3_file *fp;
	sqlite3 *db;
	int found = 0;

	subdir(dir, *state, "a");
	pjoin(path, dir, "t.db");
	db = db_create(path, "delete");
	fill(db, 1, 100);
	fp = file_pointer(db, SQLITE_FCNTL_FILE_POINTER);

	/* No xFetch (no mmap), a 512-byte sector, no atomic writes. */
	assert_int_equal(fp->pMethods->iVersion, 2);
	assert_int_equal(fp->pMethods->xSectorSize(fp), 512);
	assert_int_equal(fp->pMethods->xDeviceCharacteristics(fp) &
	    (SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_ATOMIC4K |
	    SQLITE_IOCAP_BATCH_ATOMIC), 0);

	assert_int_equal(fp->pMethods->xFileSize(fp, &size), SQLITE_OK);
	assert_true(size >= 4 * PS && size % PS == 0);

	assert_int_equal(fp->pMethods->xRead(fp, hdr, 100, 0), SQLITE_OK);
	assert_memory_equal(hdr, MAGIC, 16);
	assert_int_equal(hdr[16] << 8 | hdr[17], PS);
	assert_int_equal(hdr[20], VFS_RESERVE);
	assert_int_equal(fp->pMethods->xRead(fp, b16, 16, 24), SQLITE_OK);
	assert_memory_equal(b16, hdr + 24, 16);

	assert_int_equal(fp->pMethods->xRead(fp, p1, PS, 0), SQLITE_OK);
	assert_memory_equal(p1, hdr, 100);
	assert_true(sodium_is_zero(p1 + PS - VFS_RESERVE, VFS_RESERVE));
	assert_int_equal(fp->pMethods->xRead(fp, p2, PS, PS), SQLITE_OK);
	assert_true(p2[0] == 0x0d || p2[0] == 0x05);	/* table b-tree */
	assert_true(sodium_is_zero(p2 + PS - VFS_RESERVE, VFS_RESERVE));

	assert_int_equal(fp->pMethods->xRead(fp, two, 2 * PS, 0), SQLITE_OK);
	assert_memory_equal(two, p1, PS);
	assert_memory_equal(two + PS, p2, PS);
	assert_int_equal(fp->pMethods->xRead(fp, span, 400, PS - 200),
	    SQLITE_OK);
	assert_memory_equal(span, p1 + PS - 200, 200);
	assert_memory_equal(span + 200, p2, 200);

	/* What is on disk is not what is read. */
	pread_at(path, raw, PS, 0);
	assert_memory_not_equal(raw, MAGIC, 16);
	pread_at(path, raw, PS, PS);
	assert_memory_not_equal(raw, p2, PS - VFS_RESERVE);

	/* Sealing the same page again gives a new nonce and ciphertext. */
	pread_at(path, raw, PS, PS);
	assert_int_equal(fp->pMethods->xWrite(fp, p2, PS, PS), SQLITE_OK);
	pread_at(path, raw2, PS, PS);
	assert_memory_not_equal(raw + PS - VFS_RESERVE,
	    raw2 + PS - VFS_RESERVE, 24);
	assert_memory_not_equal(raw, raw2, PS - VFS_RESERVE);
	assert_int_equal(fp->pMethods->xRead(fp, buf, PS, PS), SQLITE_OK);
	assert_memory_equal(buf, p2, PS);

	/* The records are there in the clear pages. */
	for (off = 0; off < size; off += PS) {
		assert_int_equal(fp->pMethods->xRead(fp, buf, PS, off),
		    SQLITE_OK);
		found += has_bytes(buf, PS, MARKER, strlen(MARKER));
	}
	assert_true(found > 0);

	/* Past the end: a short read, zero-filled, like the default VFS. */
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(fp->pMethods->xRead(fp, buf, PS, size),
	    SQLITE_IOERR_SHORT_READ);
	assert_true(sodium_is_zero(buf, PS));
	assert_int_equal(fp->pMethods->xRead(fp, last, PS, size - PS),
	    SQLITE_OK);
	memset(tail, 0xaa, sizeof(tail));
	assert_int_equal(fp->pMethods->xRead(fp, tail, 200, size - 100),
	    SQLITE_IOERR_SHORT_READ);
	assert_memory_equal(tail, last + PS - 100, 100);
	assert_true(sodium_is_zero(tail + 100, 100));
	memset(tail, 0xaa, sizeof(tail));
	assert_int_equal(fp->pMethods->xRead(fp, tail, 10, size + 5000),
	    SQLITE_IOERR_SHORT_READ);
	assert_true(sodium_is_zero(tail, 10));

	/* mmap is refused: the limit does not reach the base VFS. */
	assert_int_equal(q_int(db, "PRAGMA mmap_size = 1000000"), 0);
	mmap_size = 1000000;
	assert_int_equal(sqlite3_file_control(db, "main",
	    SQLITE_FCNTL_MMAP_SIZE, &mmap_size), SQLITE_OK);
	mmap_size = -1;
	assert_int_equal(sqlite3_file_control(db, "main",
	    SQLITE_FCNTL_MMAP_SIZE, &mmap_size), SQLITE_OK);
	assert_int_equal(mmap_size, 0);
	db_close(db);
}


/* 3. WAL: clear headers, sealed pages, checkpoint, recovery of a copy
 * taken while frames were not checkpointed. */
static void
test_wal(void **state)
{
	char a[PATH_MAX], b[PATH_MAX], path[PATH_MAX], wal[PATH_MAX];
	char copy[PATH_MAX];
	uint8_t raw[32 + WAL_FRAME], frame[WAL_FRAME], page[PS], part[100];
	uint8_t hdr[32];
	sqlite3_file *wf;
	sqlite3 *db, *db2;
	long long size;

	subdir(a, *state, "a");
	subdir(b, *state, "b");
	pjoin(path, a, "t.db");
	pjoin(wal, a, "t.db-wal");
	pjoin(copy, b, "t.db");

	db = db_create(path, "wal");
	exec(db, "PRAGMA wal_autocheckpoint = 0");
	fill(db, 1, 200);
	size = fsize(wal);
	assert_true(size > 32 && (size - 32) % WAL_FRAME == 0);
	pread_at(wal, raw, sizeof(raw), 0);
	assert_true(get_be32(raw) == 0x377f0682 || get_be32(raw) == 0x377f0683);
	assert_int_equal(get_be32(raw + 8), PS);
	assert_int_equal(assert_dir_clean(a), 3);	/* db, wal, shm */

	/* The reads SQLite makes of a WAL: header, whole frame (recovery),
	 * page data; and any other slice. */
	wf = file_pointer(db, SQLITE_FCNTL_JOURNAL_POINTER);
	assert_int_equal(wf->pMethods->xRead(wf, hdr, 32, 0), SQLITE_OK);
	assert_memory_equal(hdr, raw, 32);
	assert_int_equal(wf->pMethods->xRead(wf, frame, WAL_FRAME, 32),
	    SQLITE_OK);
	assert_memory_equal(frame, raw + 32, 24);
	assert_memory_not_equal(frame + 24, raw + 32 + 24, PS - VFS_RESERVE);
	assert_true(sodium_is_zero(frame + 24 + PS - VFS_RESERVE,
	    VFS_RESERVE));
	if (get_be32(raw + 32) == 1)
		assert_memory_equal(frame + 24, MAGIC, 16);
	assert_int_equal(wf->pMethods->xRead(wf, page, PS, 32 + 24),
	    SQLITE_OK);
	assert_memory_equal(page, frame + 24, PS);
	assert_int_equal(wf->pMethods->xRead(wf, part, 100, 32 + 24 + 50),
	    SQLITE_OK);
	assert_memory_equal(part, page + 50, 100);
	assert_int_equal(wf->pMethods->xRead(wf, part, 100, 6), SQLITE_OK);
	assert_memory_equal(part, raw + 6, 50);
	assert_memory_equal(part + 50, page, 50);

	assert_q_text(db, "PRAGMA wal_checkpoint(TRUNCATE)", "0");
	assert_int_equal(fsize(wal), 0);
	verify(db, 1, 200);
	assert_dir_clean(a);

	/* Two more commits left in the WAL, then "crash": copy without
	 * the -shm, so opening the copy must recover from the frames. */
	fill(db, 201, 100);
	fill(db, 301, 100);
	assert_true(fsize(wal) > 32);
	copy_db(a, b, "t.db");
	assert_dir_clean(b);

	db2 = db_open(copy, VFS_A);
	assert_int_equal(q_int(db2, "SELECT count(*) FROM t"), 400);
	verify(db2, 1, 400);
	assert_integrity(db2);
	db_close(db2);

	/* Writes SQLite never makes are refused, past the log's end. */
	size = fsize(wal);
	memset(frame, 0, sizeof(frame));
	frame[3] = 1;					/* page 1 */
	capture_begin(*state);
	assert_int_equal(wf->pMethods->xWrite(wf, frame, 24, size),
	    SQLITE_OK);
	memcpy(page, MAGIC, 16);
	page[16] = PS >> 8;
	page[20] = 0;					/* no reserve */
	assert_int_equal(wf->pMethods->xWrite(wf, page, PS, size + 24),
	    SQLITE_IOERR);
	page[20] = VFS_RESERVE;
	page[PS - 1] = 1;				/* reserve used */
	assert_int_equal(wf->pMethods->xWrite(wf, page, PS, size + 24),
	    SQLITE_IOERR);
	page[PS - 1] = 0;
	assert_int_equal(wf->pMethods->xWrite(wf, page, 100, size + 24),
	    SQLITE_IOERR);
	assert_int_equal(wf->pMethods->xWrite(wf, page, PS, size + 34),
	    SQLITE_IOERR);
	pread_at(wal, hdr, 32, 0);
	put_be32(hdr + 8, 2 * PS);
	assert_int_equal(wf->pMethods->xWrite(wf, hdr, 32, 0), SQLITE_IOERR);
	wf = file_pointer(db, SQLITE_FCNTL_FILE_POINTER);
	assert_int_equal(wf->pMethods->xWrite(wf, page, 100, PS),
	    SQLITE_IOERR);
	free(capture_end());
	assert_int_equal(fsize(wal), size + 24);

	db_close(db);
	assert_dir_clean(a);
	assert_dir_clean(b);
}

/* 4. Rollback journals in each mode: commits, in-process rollback of a
 * transaction that spilled to the database, no plaintext in the journal. */
static void
test_journal_modes(void **state)
{
	static const char *modes[] = { "delete", "persist", "truncate" };
	char dir[PATH_MAX], path[PATH_MAX], jpath[PATH_MAX], name[32];
	uint8_t before[32], after[32], *s1, *s2;
	size_t i, m1, m2;
	sqlite3 *db;

	subdir(dir, *state, "a");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(name, sizeof(name), "%s.db", modes[i]);
		pjoin(path, dir, name);
		snprintf(name, sizeof(name), "%s.db-journal", modes[i]);
		pjoin(jpath, dir, name);

		db = db_create(path, modes[i]);
		fill(db, 1, 150);

		exec(db, "BEGIN");
		exec(db, "UPDATE t SET body = body || '+' WHERE id % 5 = 0");
		assert_true(fsize(jpath) > 512);
		assert_false(file_has(jpath, MARKER));
		assert_false(file_has(jpath, MAGIC));
		exec(db, "COMMIT");
		assert_int_equal(q_int(db,
		    "SELECT count(*) FROM t WHERE body LIKE '%+'"), 30);
		if (strcmp(modes[i], "delete") == 0)
			assert_false(exists(jpath));
		else if (strcmp(modes[i], "truncate") == 0)
			assert_int_equal(fsize(jpath), 0);
		else
			assert_true(fsize(jpath) > 512);

		/* A transaction bigger than the cache writes to the database
		 * before commit; rolling it back reads the journal. */
		fingerprint(db, before);
		s1 = slurp(path, &m1);
		exec(db, "PRAGMA cache_size = 5");
		exec(db, "BEGIN");
		exec(db, "UPDATE t SET body = 'gone ' || id");
		fill(db, 1000, 100);
		s2 = slurp(path, &m2);
		assert_true(m1 != m2 || memcmp(s1, s2, m1) != 0);
		free(s1);
		free(s2);
		assert_false(file_has(jpath, MARKER));
		exec(db, "ROLLBACK");
		fingerprint(db, after);
		assert_memory_equal(before, after, sizeof(before));
		assert_integrity(db);
		db_close(db);

		db = db_open(path, VFS_A);
		fingerprint(db, after);
		assert_memory_equal(before, after, sizeof(before));
		assert_integrity(db);
		db_close(db);
	}
	assert_dir_clean(dir);
}

/* Opens path with vfs and reads every row; returns 0 or the extended
 * error code, and what was logged in *log (free it). */
static int
read_all(struct tdir *t, const char *path, const char *vfs, char **log)
{
	sqlite3 *db;
	int rc;

	capture_begin(t);
	db = db_open(path, vfs);
	rc = exec_rc(db, "SELECT sum(length(body)) FROM t");
	db_close(db);
	*log = capture_end();
	return rc;
}

/*
 * Creates dir/t.db with rows 1..400 committed (their fingerprint in
 * before), then starts a transaction too big for the cache, so the pager
 * writes to the database, and copies the files to to_dir mid-way: a crash
 * leaving a hot journal.  sync is the synchronous setting; psow0 opens
 * the database without powersafe overwrite.
 */
static void
crash_mid_txn(const char *dir, const char *to_dir, const char *mode,
    const char *sync, int psow0, uint8_t before[32])
{
	char path[PATH_MAX], jpath[PATH_MAX], snap[PATH_MAX], sql[64];
	uint8_t *s1, *s2;
	size_t m1, m2;
	sqlite3 *db;

	pjoin(path, dir, "t.db");
	pjoin(jpath, dir, "t.db-journal");
	pjoin(snap, dir, "snapshot");
	unlink(path);
	unlink(jpath);
	db = db_open_psow(path, VFS_A, psow0);
	assert_int_equal(vfs_prepare_new_db(db), 0);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode = %s", mode);
	assert_q_text(db, sql, mode);
	snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s", sync);
	exec(db, sql);
	exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
	fill(db, 1, 400);
	fingerprint(db, before);
	copy_file(path, snap);

	exec(db, "PRAGMA cache_size = 8");
	exec(db, "BEGIN");
	exec(db, "UPDATE t SET body = 'changed ' || id");
	fill(db, 401, 200);
	/* The pager spilled: the database file already differs. */
	s1 = slurp(path, &m1);
	s2 = slurp(snap, &m2);
	assert_true(m1 != m2 || memcmp(s1, s2, m1) != 0);
	free(s1);
	free(s2);
	unlink(snap);
	assert_true(fsize(jpath) > 512);

	copy_db(dir, to_dir, "t.db");		/* the crash */
	exec(db, "ROLLBACK");
	db_close(db);
}

/* Opening the copy in dir rolls it back to before. */
static void
assert_rolled_back(const char *dir, int psow0, const uint8_t before[32])
{
	char path[PATH_MAX], jpath[PATH_MAX];
	uint8_t after[32];
	sqlite3 *db;

	pjoin(path, dir, "t.db");
	pjoin(jpath, dir, "t.db-journal");
	assert_true(exists(jpath));
	db = db_open_psow(path, VFS_A, psow0);
	assert_int_equal(q_int(db, "SELECT count(*) FROM t"), 400);
	fingerprint(db, after);
	assert_memory_equal(before, after, 32);
	verify(db, 1, 400);
	assert_integrity(db);
	db_close(db);
}

/* 4b. A crash mid-transaction leaves a hot journal: the wrong key must
 * leave it alone; the right key rolls back to the committed state. */
static void
test_hot_journal(void **state)
{
	static const char *modes[] = { "delete", "persist" };
	char a[PATH_MAX], b[PATH_MAX], copy[PATH_MAX], cjpath[PATH_MAX];
	uint8_t before[32], *j1, *j2;
	size_t n1, n2, i;
	sqlite3 *db;
	int rc;

	subdir(a, *state, "a");
	subdir(b, *state, "b");
	pjoin(copy, b, "t.db");
	pjoin(cjpath, b, "t.db-journal");

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		crash_mid_txn(a, b, modes[i], "full", 0, before);
		assert_dir_clean(b);
		assert_false(file_has(copy, "changed "));

		/* Wrong key: an error, and the hot journal is untouched. */
		j1 = slurp(cjpath, &n1);
		capture_begin(*state);
		db = db_open(copy, VFS_B);
		rc = exec_rc(db, "SELECT count(*) FROM t");
		db_close(db);
		free(capture_end());
		assert_int_equal(rc, SQLITE_IOERR_DATA);
		j2 = slurp(cjpath, &n2);
		assert_int_equal(n1, n2);
		assert_memory_equal(j1, j2, n1);
		free(j1);
		free(j2);

		assert_rolled_back(b, 0, before);
		if (strcmp(modes[i], "delete") == 0)
			assert_false(exists(cjpath));
		assert_dir_clean(b);
	}
}

/* 4c. What a crash may tear: page 1 of the database (restored from the
 * journal; the unlocked header peek must not fail the open), and the tail
 * of an unsynced journal (playback stops there, as on a bad checksum);
 * and a file system without powersafe overwrite. */
static void
test_torn_writes(void **state)
{
	char a[PATH_MAX], b[PATH_MAX], path[PATH_MAX], jpath[PATH_MAX];
	uint8_t before[32], rec[4 + PS + 4];
	sqlite3 *db;
	char *log;
	FILE *fp;
	int rc;

	subdir(a, *state, "a");
	subdir(b, *state, "b");
	pjoin(path, b, "t.db");
	pjoin(jpath, b, "t.db-journal");

	/* Page 1 torn: its first half from some other write. */
	crash_mid_txn(a, b, "delete", "full", 0, before);
	randombytes_buf(rec, PS / 2);
	pwrite_at(path, rec, PS / 2, 0);
	assert_rolled_back(b, 0, before);

	/* synchronous=OFF: the journal's record count is taken from its
	 * size, so a torn last record is read. */
	crash_mid_txn(a, b, "delete", "off", 0, before);
	rec[0] = rec[1] = rec[2] = 0;
	rec[3] = 2;			/* page number 2 */
	randombytes_buf(rec + 4, sizeof(rec) - 4);
	assert_non_null(fp = fopen(jpath, "ab"));
	assert_int_equal(fwrite(rec, 1, sizeof(rec), fp), sizeof(rec));
	assert_int_equal(fclose(fp), 0);
	/* ...not with the wrong key... */
	assert_int_equal(read_all(*state, path, VFS_B, &log),
	    SQLITE_IOERR_DATA);
	free(log);
	/* ...but with the right one. */
	capture_begin(*state);
	assert_rolled_back(b, 0, before);
	log = capture_end();
	assert_non_null(strstr(log, "rollback stops there"));
	free(log);

	/* psow=0: journals work (512-byte header sector), WAL is
	 * refused. */
	crash_mid_txn(a, b, "delete", "full", 1, before);
	assert_rolled_back(b, 1, before);
	capture_begin(*state);
	db = db_open_psow(path, VFS_A, 1);
	exec(db, "PRAGMA journal_mode = WAL");
	rc = exec_rc(db, "SELECT count(*) FROM t");
	db_close(db);
	log = capture_end();
	assert_int_equal(rc & 0xff, SQLITE_CANTOPEN);
	assert_non_null(strstr(log, "powersafe"));
	free(log);
}

/* 5a. Altered or moved pages in the database file are errors. */
static void
test_tamper_db(void **state)
{
	char a[PATH_MAX], b[PATH_MAX], path[PATH_MAX], copy[PATH_MAX];
	char wpath[PATH_MAX], wal[PATH_MAX];
	uint8_t p3[PS], p4[PS], wpage[PS];
	const char *want;
	char *log;
	sqlite3 *db;
	int rc, c;

	subdir(a, *state, "a");
	subdir(b, *state, "b");
	pjoin(path, a, "t.db");
	pjoin(copy, b, "t.db");
	pjoin(wpath, a, "w.db");
	pjoin(wal, a, "w.db-wal");
	db = db_create(path, "delete");
	fill(db, 1, 300);
	db_close(db);
	assert_true(fsize(path) >= 60 * PS);

	/* A page the same key sealed as WAL page data at offset 56: the
	 * same position number as database page 56, another kind. */
	db = db_create(wpath, "wal");
	fill(db, 1, 10);
	pread_at(wal, wpage, PS, 56);
	db_close(db);

	/* The untouched copy reads. */
	copy_file(path, copy);
	assert_int_equal(read_all(*state, copy, VFS_A, &log), 0);
	free(log);

	for (c = 0; c < 7; c++) {
		copy_file(path, copy);
		pread_at(copy, p3, PS, 2 * PS);
		pread_at(copy, p4, PS, 3 * PS);
		switch (c) {
		case 0:		/* ciphertext */
			flip_bit(copy, 2 * PS + 1000);
			break;
		case 1:		/* nonce */
			flip_bit(copy, 2 * PS + PS - VFS_RESERVE + 3);
			break;
		case 2:		/* tag */
			flip_bit(copy, 2 * PS + PS - 2);
			break;
		case 3:		/* page 4 put where page 3 was */
			pwrite_at(copy, p4, PS, 2 * PS);
			break;
		case 4:		/* pages 3 and 4 swapped */
			pwrite_at(copy, p4, PS, 2 * PS);
			pwrite_at(copy, p3, PS, 3 * PS);
			break;
		case 5:		/* the header page */
			flip_bit(copy, 50);
			break;
		case 6:		/* from the WAL */
			pwrite_at(copy, wpage, PS, 55 * PS);
			break;
		}
		rc = read_all(*state, copy, VFS_A, &log);
		print_message("case %d: %s\n", c, sqlite3_errstr(rc));
		assert_int_equal(rc, SQLITE_IOERR_DATA);
		want = c == 5 ? "page 1 of" : c == 6 ? "page 56 of" :
		    c == 4 && strstr(log, "page 4 of") ? "page 4 of" :
		    "page 3 of";
		assert_non_null(strstr(log, want));
		assert_non_null(strstr(log, "fails authentication"));
		free(log);
	}
}

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[1] << 8 | p[0];
}

/* The WAL checksum as the file format defines it, continued over p. */
static void
wal_cksum(int big_endian, const uint8_t *p, size_t n, uint32_t s[2])
{
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		s[0] += (big_endian ? get_be32(p + i) : get_le32(p + i)) + s[1];
		s[1] += (big_endian ? get_be32(p + i + 4) :
		    get_le32(p + i + 4)) + s[0];
	}
}

/* 5b. Altered WAL frames: an error while the log is live; at recovery,
 * the end of the log (as for a torn write), even with a forged checksum,
 * never their content; and a wrong key must not make recovery throw the
 * log away. */
static void
test_tamper_wal(void **state)
{
	static const char *names[] = { "b", "c", "d", "e" };
	char dir[4][PATH_MAX], db_at[4][PATH_MAX], wal_at[4][PATH_MAX];
	char a[PATH_MAX], path[PATH_MAX], wal[PATH_MAX];
	uint8_t whdr[32], frame[WAL_FRAME], prev[24], zero[PS];
	long long size1, size2, off, last;
	sqlite3_file *wf;
	sqlite3 *db, *db2;
	uint32_t s[2];
	char *log;
	int rc, i;

	subdir(a, *state, "a");
	pjoin(path, a, "t.db");
	pjoin(wal, a, "t.db-wal");
	for (i = 0; i < 4; i++) {
		subdir(dir[i], *state, names[i]);
		pjoin(db_at[i], dir[i], "t.db");
		pjoin(wal_at[i], dir[i], "t.db-wal");
	}

	db = db_create(path, "wal");
	exec(db, "PRAGMA wal_autocheckpoint = 0");
	fill(db, 1, 100);
	size1 = fsize(wal);
	for (i = 101; i <= 150; i++)	/* 50 more commits */
		fill(db, i, 1);
	size2 = fsize(wal);
	assert_true(size2 > size1);
	for (i = 0; i < 4; i++)
		copy_db(a, dir[i], "t.db");

	/* The checksum below is SQLite's: it matches frame 1, opened. */
	pread_at(wal, whdr, 32, 0);
	wf = file_pointer(db, SQLITE_FCNTL_JOURNAL_POINTER);
	assert_int_equal(wf->pMethods->xRead(wf, frame, WAL_FRAME, 32),
	    SQLITE_OK);
	s[0] = get_be32(whdr + 24);
	s[1] = get_be32(whdr + 28);
	wal_cksum(get_be32(whdr) & 1, frame, 8, s);
	wal_cksum(get_be32(whdr) & 1, frame + 24, PS, s);
	assert_int_equal(s[0], get_be32(frame + 16));
	assert_int_equal(s[1], get_be32(frame + 20));

	/* Live: a second connection reads frames through the wal-index. */
	for (off = 32; off < size2; off += WAL_FRAME)
		flip_bit(wal, off + 24 + 100);
	capture_begin(*state);
	db2 = db_open(path, VFS_A);
	rc = exec_rc(db2, "SELECT sum(length(body)) FROM t");
	db_close(db2);
	db_close(db);	/* its checkpoint fails too */
	log = capture_end();
	assert_int_equal(rc, SQLITE_IOERR_DATA);
	assert_non_null(strstr(log, "fails authentication"));
	free(log);

	/* Recovery, b: the frame of the last commit altered; the log ends
	 * before that commit. */
	last = size2 - WAL_FRAME;
	flip_bit(wal_at[0], last + 24 + 100);
	capture_begin(*state);
	db = db_open(db_at[0], VFS_A);
	assert_int_equal(q_int(db, "SELECT count(*) FROM t"), 149);
	verify(db, 1, 149);
	assert_integrity(db);
	db_close(db);
	log = capture_end();
	assert_non_null(strstr(log, "the log ends before it"));
	free(log);

	/* c: the same, with the frame's checksum forged to match a zeroed
	 * page: still the end of the log, not a zeroed page. */
	memset(zero, 0, sizeof(zero));
	pread_at(wal_at[1], prev, 24, last - WAL_FRAME);
	pread_at(wal_at[1], frame, 24, last);
	s[0] = get_be32(prev + 16);
	s[1] = get_be32(prev + 20);
	wal_cksum(get_be32(whdr) & 1, frame, 8, s);
	wal_cksum(get_be32(whdr) & 1, zero, PS, s);
	put_be32(frame + 16, s[0]);
	put_be32(frame + 20, s[1]);
	pwrite_at(wal_at[1], frame, 24, last);
	flip_bit(wal_at[1], last + 24 + 100);
	capture_begin(*state);
	db = db_open(db_at[1], VFS_A);
	assert_int_equal(q_int(db, "SELECT count(*) FROM t"), 149);
	verify(db, 1, 149);
	assert_integrity(db);
	db_close(db);
	free(capture_end());

	/* d: frame 1 altered.  Nothing in the log has authenticated yet;
	 * page 1 of the database shows the key is right, so the log ends
	 * before frame 1: the table was never committed. */
	flip_bit(wal_at[2], 32 + 24 + 100);
	capture_begin(*state);
	db = db_open(db_at[2], VFS_A);
	assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema"), 0);
	assert_integrity(db);
	db_close(db);
	log = capture_end();
	assert_non_null(strstr(log, "the log ends before it"));
	free(log);

	/* e: wrong key on a log to recover: an error, and the log survives
	 * for the right key. */
	assert_int_equal(read_all(*state, db_at[3], VFS_B, &log),
	    SQLITE_IOERR_DATA);
	free(log);
	assert_true(exists(wal_at[3]));
	assert_int_equal(fsize(wal_at[3]), size2);
	db = db_open(db_at[3], VFS_A);
	assert_int_equal(q_int(db, "SELECT count(*) FROM t"), 150);
	verify(db, 1, 150);
	assert_integrity(db);
	db_close(db);
}

/* 6. A database sealed under one key does not open under another, and is
 * not harmed by the attempt. */
static void
test_wrong_key(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX], pathb[PATH_MAX];
	sqlite3 *db;
	char *log;

	subdir(dir, *state, "a");
	pjoin(path, dir, "a.db");
	pjoin(pathb, dir, "b.db");
	db = db_create(path, "delete");
	fill(db, 1, 50);
	db_close(db);

	assert_int_equal(read_all(*state, path, VFS_B, &log),
	    SQLITE_IOERR_DATA);
	assert_non_null(strstr(log, "page 1 of"));
	free(log);

	capture_begin(*state);
	db = db_open(path, VFS_B);
	assert_int_equal(vfs_prepare_new_db(db), RK_ECRYPTO);
	db_close(db);
	free(capture_end());

	/* B's own database, alongside. */
	db = db_open(pathb, VFS_B);
	assert_int_equal(vfs_prepare_new_db(db), 0);
	exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)");
	fill(db, 1, 20);
	db_close(db);
	assert_int_equal(read_all(*state, pathb, VFS_A, &log),
	    SQLITE_IOERR_DATA);
	free(log);

	db = db_open(path, VFS_A);
	verify(db, 1, 50);
	db_close(db);
	db = db_open(pathb, VFS_B);
	verify(db, 1, 20);
	db_close(db);
}

/* Steps through "SELECT body FROM t ORDER BY body": 0 or the error. */
static int
sorted_scan(sqlite3 *db, int *rows)
{
	sqlite3_stmt *st;
	char *prev = NULL;
	int rc;

	*rows = 0;
	assert_int_equal(sqlite3_prepare_v2(db,
	    "SELECT body FROM t ORDER BY body", -1, &st, NULL), SQLITE_OK);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);

		if (prev != NULL)
			assert_true(strcmp(prev, s) <= 0);
		free(prev);
		assert_non_null(prev = strdup(s));
		(*rows)++;
	}
	free(prev);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sqlite3_extended_errcode(db);
}

/* 7. Temporary files are refused (logged once); in memory they work. */
static void
test_temp_files(void **state)
{
	static const char *name = "rk-test-temp";
	char dir[PATH_MAX], path[PATH_MAX];
	uint8_t key[VFS_KEY_LEN];
	struct vfs_crypt *v = NULL;
	uint8_t before[32], after[32];
	sqlite3 *db = NULL;
	char *log;
	int rows, rc1, rc2;

	randombytes_buf(key, sizeof(key));
	assert_int_equal(vfs_crypt_register(name, key, &v), 0);
	subdir(dir, *state, "a");
	pjoin(path, dir, "t.db");
	assert_int_equal(sqlite3_open_v2(path, &db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, name), SQLITE_OK);
	assert_int_equal(vfs_prepare_new_db(db), 0);
	exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)");
	exec(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
	    "FROM n WHERE i < 4000) INSERT INTO t(body) "
	    "SELECT hex(randomblob(500)) FROM n");

	/* A sort of 4 MB spills to a temporary file. */
	exec(db, "PRAGMA temp_store = FILE");
	exec(db, "PRAGMA cache_size = 10");
	capture_begin(*state);
	rc1 = sorted_scan(db, &rows);
	rc2 = sorted_scan(db, &rows);
	log = capture_end();
	assert_int_equal(rc1, SQLITE_CANTOPEN);
	assert_int_equal(rc2, SQLITE_CANTOPEN);
	assert_int_equal(count_of(log, "refusing to open"), 1);
	assert_non_null(strstr(log, "temp_store=MEMORY"));
	free(log);

	exec(db, "PRAGMA temp_store = MEMORY");
	assert_int_equal(sorted_scan(db, &rows), 0);
	assert_int_equal(rows, 4000);
	exec(db, "CREATE TEMP TABLE s AS SELECT * FROM t");
	assert_int_equal(q_int(db, "SELECT count(*) FROM s"), 4000);
	/* A statement that changes every row, then fails on the last,
	 * inside a transaction: undone from the statement journal, which
	 * stays in memory too. */
	fingerprint(db, before);
	exec(db, "BEGIN");
	assert_int_equal(exec_rc(db, "UPDATE t SET body = 'x' || body, "
	    "id = CASE id WHEN 4000 THEN 1 ELSE id END"),
	    SQLITE_CONSTRAINT_PRIMARYKEY);
	exec(db, "COMMIT");
	fingerprint(db, after);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(q_int(db, "SELECT count(*) FROM t"), 4000);
	assert_integrity(db);
	db_close(db);
	vfs_crypt_unregister(v);
}

/* 8. Without the reserve (or at another page size), the first write is
 * refused and nothing is written. */
static void
test_reserve_check(void **state)
{
	char dir[PATH_MAX], p1[PATH_MAX], p2[PATH_MAX], p3[PATH_MAX];
	char p4[PATH_MAX];
	sqlite3 *db;
	char *log;
	int reserve, rc;

	subdir(dir, *state, "a");
	pjoin(p1, dir, "noreserve.db");
	pjoin(p2, dir, "bigpage.db");
	pjoin(p3, dir, "good.db");
	pjoin(p4, dir, "plain.db");

	capture_begin(*state);
	db = db_open(p1, VFS_A);
	rc = exec_rc(db, "CREATE TABLE t(x)");
	db_close(db);
	log = capture_end();
	assert_int_equal(rc & 0xff, SQLITE_IOERR);
	assert_non_null(strstr(log, "vfs_prepare_new_db"));
	free(log);
	assert_int_equal(fsize(p1), 0);

	capture_begin(*state);
	db = db_open(p2, VFS_A);
	exec(db, "PRAGMA page_size = 8192");
	reserve = VFS_RESERVE;
	assert_int_equal(sqlite3_file_control(db, "main",
	    SQLITE_FCNTL_RESERVE_BYTES, &reserve), SQLITE_OK);
	rc = exec_rc(db, "CREATE TABLE t(x)");
	db_close(db);
	free(capture_end());
	assert_int_equal(rc & 0xff, SQLITE_IOERR);
	assert_int_equal(fsize(p2), 0);

	/* Prepared: settings read back; preparing again is harmless. */
	db = db_open(p3, VFS_A);
	assert_int_equal(vfs_prepare_new_db(db), 0);
	reserve = -1;
	assert_int_equal(sqlite3_file_control(db, "main",
	    SQLITE_FCNTL_RESERVE_BYTES, &reserve), SQLITE_OK);
	assert_int_equal(reserve, VFS_RESERVE);
	assert_int_equal(q_int(db, "PRAGMA page_size"), PS);
	assert_int_equal(vfs_prepare_new_db(db), 0);
	exec(db, "CREATE TABLE t(x)");
	db_close(db);
	db = db_open(p3, VFS_A);
	assert_int_equal(vfs_prepare_new_db(db), 0);
	db_close(db);

	/* An existing database with other settings. */
	db = db_open(p4, NULL);
	exec(db, "CREATE TABLE t(x)");
	capture_begin(*state);
	assert_int_equal(vfs_prepare_new_db(db), RK_EINVAL);
	free(capture_end());
	db_close(db);
}

static void
test_register(void **state)
{
	uint8_t key[VFS_KEY_LEN] = { 0 };
	struct vfs_crypt *v = NULL;
	char *log;

	(void)state;
	capture_begin(*state);
	assert_int_equal(vfs_crypt_register(VFS_A, key, &v), RK_EEXIST);
	log = capture_end();
	assert_null(v);
	free(log);
	assert_int_equal(vfs_crypt_register("", key, &v), RK_EINVAL);
	assert_int_equal(vfs_crypt_register(NULL, key, &v), RK_EINVAL);
	assert_int_equal(vfs_crypt_register("rk-test-x", key, &v), 0);
	assert_non_null(sqlite3_vfs_find("rk-test-x"));
	assert_ptr_not_equal(sqlite3_vfs_find(NULL), sqlite3_vfs_find(
	    "rk-test-x"));
	vfs_crypt_unregister(v);
	assert_null(sqlite3_vfs_find("rk-test-x"));
	vfs_crypt_unregister(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_plaintext_on_disk,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_page_reads, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_modes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hot_journal, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_torn_writes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tamper_db, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tamper_wal, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_temp_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reserve_check, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_register, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
