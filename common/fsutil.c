/*
 * fsutil.c - path joining, crash-safe whole-file writes (temporary file,
 * fsync, rename or link, fsync of the directory), bounded whole-file reads
 * and the private data directory.
 */
#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

static int
fs_errno_rc(int e)
{
	switch (e) {
	case ENOENT: return RK_ENOTFOUND;
	case EACCES: case EPERM: return RK_EDENIED;
	case ENOSPC: case EDQUOT: return RK_EFULL;
	case ENOMEM: return RK_ENOMEM;
	case EEXIST: return RK_EEXIST;
	}
	return RK_EIO;
}

int
fs_path(char *out, size_t outlen, const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name), sep;

	sep = (dl > 0 && dir[dl - 1] == '/') ? 0 : 1;
	if (dl > SIZE_MAX - nl - sep - 1 || dl + sep + nl + 1 > outlen) {
		log_warnx("path too long: %s/%s", dir, name);
		return RK_EINVAL;
	}
	memcpy(out, dir, dl);
	if (sep)
		out[dl] = '/';
	memcpy(out + dl + sep, name, nl + 1);
	return 0;
}

/*
 * Makes the rename (or link) of path durable: a directory entry change is
 * only on disk once the directory itself is fsynced.
 */
static int
fs_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash;
	size_t n;
	int fd = -1, rc = 0;

	if ((slash = strrchr(path, '/')) == NULL) {
		strcpy(dir, ".");
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir)) {
			log_warnx("%s: path too long", path);
			return RK_EINVAL;
		}
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		rc = fs_errno_rc(errno);
		log_warn("%s: open directory", dir);
		goto out;
	}
	/* Some filesystems cannot sync a directory and say EINVAL; there is
	 * nothing better to do there. */
	if (fsync(fd) == -1 && errno != EINVAL) {
		rc = fs_errno_rc(errno);
		log_warn("%s: fsync directory", dir);
		goto out;
	}
out:
	if (fd != -1)
		close(fd);
	return rc;
}

/*
 * Writes data to a new temporary file beside path and fsyncs it; its name is
 * left in tmp.  The name is unique (mkstemp) rather than a fixed "path.tmp",
 * so a temporary file left behind by a crash or kill -9 can never block
 * later writes, and two writers never write into the same temporary file.
 * mkstemp creates it 0600; fchmod then sets exactly mode.
 */
static int
fs_write_tmp(const char *path, const void *data, size_t len, mode_t mode,
    char *tmp, size_t tmplen)
{
	const uint8_t *p = data;
	ssize_t w;
	int fd = -1, rc, n;

	n = snprintf(tmp, tmplen, "%s.tmp.XXXXXX", path);
	if (n < 0 || (size_t)n >= tmplen) {
		log_warnx("%s: path too long", path);
		return RK_EINVAL;
	}
	if ((fd = mkstemp(tmp)) == -1) {
		rc = fs_errno_rc(errno);
		log_warn("%s: cannot create a temporary file", path);
		return rc;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 || fchmod(fd, mode) == -1) {
		rc = fs_errno_rc(errno);
		log_warn("%s", tmp);
		goto out;
	}
	while (len > 0) {
		if ((w = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			rc = fs_errno_rc(errno);
			log_warn("%s: write", tmp);
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) == -1) {
		rc = fs_errno_rc(errno);
		log_warn("%s: fsync", tmp);
		goto out;
	}
	/* close can report a delayed write error (NFS); it closes anyway. */
	n = close(fd);
	fd = -1;
	if (n == -1) {
		rc = fs_errno_rc(errno);
		log_warn("%s: close", tmp);
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int
fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int rc;

	if ((rc = fs_write_tmp(path, data, len, mode, tmp, sizeof(tmp))) != 0)
		return rc;
	if (rename(tmp, path) == -1) {
		rc = fs_errno_rc(errno);
		log_warn("rename %s to %s", tmp, path);
		unlink(tmp);
		goto out;
	}
	rc = fs_sync_dir(path);
out:
	return rc;
}

int
fs_write_new(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int rc;

	if ((rc = fs_write_tmp(path, data, len, mode, tmp, sizeof(tmp))) != 0)
		return rc;
	/* Unlike rename, link refuses to replace an existing path. */
	if (link(tmp, path) == -1) {
		if (errno == EEXIST) {
			rc = RK_EEXIST;
			log_warnx("%s already exists", path);
		} else {
			rc = fs_errno_rc(errno);
			log_warn("link %s to %s", tmp, path);
		}
		unlink(tmp);
		goto out;
	}
	/* path holds the data now; a leftover second name is only clutter. */
	if (unlink(tmp) == -1)
		log_warn("%s: unlink", tmp);
	rc = fs_sync_dir(path);
out:
	return rc;
}

int
fs_read_all(const char *path, size_t maxlen, uint8_t **out, size_t *outlen)
{
	struct stat st;
	uint8_t *data = NULL, *p;
	size_t len = 0, cap, want;
	ssize_t r;
	int fd = -1, rc;

	if (maxlen >= SIZE_MAX - 1) {
		log_warnx("%s: read limit too large", path);
		return RK_EINVAL;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		rc = fs_errno_rc(errno);
		if (rc != RK_ENOTFOUND)
			log_warn("%s", path);
		goto out;
	}
	/* Read up to one byte past maxlen to tell "exactly maxlen" from "too
	 * long".  st_size is only a first guess at the size (files in /proc
	 * say 0, and the file may grow while we read). */
	want = maxlen + 1;
	cap = 4096;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size < want)
		cap = (size_t)st.st_size + 1;
	if (cap > want)
		cap = want;
	if ((data = malloc(cap + 1)) == NULL) {
		rc = RK_ENOMEM;
		log_warnx("%s: out of memory", path);
		goto out;
	}
	for (;;) {
		if (len == cap) {
			if (cap == want)
				break;
			cap = cap > want / 2 ? want : cap * 2;
			if ((p = realloc(data, cap + 1)) == NULL) {
				rc = RK_ENOMEM;
				log_warnx("%s: out of memory", path);
				goto out;
			}
			data = p;
		}
		if ((r = read(fd, data + len, cap - len)) == -1) {
			if (errno == EINTR)
				continue;
			rc = fs_errno_rc(errno);
			log_warn("%s: read", path);
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > maxlen) {
		rc = RK_EINVAL;
		log_warnx("%s: longer than %zu bytes", path, maxlen);
		goto out;
	}
	data[len] = '\0';
	*out = data;	/* the caller free()s it */
	*outlen = len;
	data = NULL;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	free(data);
	return rc;
}

int
fs_mkdir_private(const char *dir)
{
	struct stat st;
	int rc;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST) {
		rc = fs_errno_rc(errno);
		log_warn("mkdir %s", dir);
		return rc;
	}
	if (stat(dir, &st) == -1) {
		rc = fs_errno_rc(errno);
		log_warn("%s", dir);
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("%s exists and is not a directory", dir);
		return RK_EEXIST;
	}
	return 0;
}
