/*
 * print.c - the printable sheets: the HTML file renkeid rendered and the
 * PDF made from it (print.h).
 *
 * The PDF comes from headless Chromium's --print-to-pdf, run with
 * fork/execve (no shell) in a private temporary directory (mode 0700) that
 * holds a copy of the page, the browser's fresh profile, its HOME and
 * TMPDIR, its log and its output.  Only the finished PDF leaves it, copied
 * with mode 0600; the directory is removed whatever happened.  The browser
 * runs in a process group of its own so that a timeout, and the end of the
 * run, stop the helpers it started too; so does Ctrl-C (SIGINT, SIGTERM,
 * SIGHUP) meanwhile, after which the directory is removed all the same.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/print.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "common/id.h"
#include "common/log.h"

extern char **environ;

#define PRINT_TIMEOUT_S 60		/* a cold Chromium start takes seconds */
#define PRINT_TIMEOUT_MAX 3600
#define PRINT_PDF_MAX (64u << 20)	/* a one-page sheet is ~100 KiB */
#define PRINT_PATH 4096

/* Looked up on PATH, in this order, when RENKEI_PDF_CONVERTER is unset. */
static const char *const print_converters[] = {
	"chromium", "chromium-browser", NULL,
};

/* Set by print_on_signal: someone pressed Ctrl-C (or the session ended)
 * while the browser ran; the run stops it and removes the temporary
 * directory, which holds a copy of the sheet, before giving up. */
static volatile sig_atomic_t print_interrupted;
static const int print_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define PRINT_NSIG (sizeof(print_signals) / sizeof(print_signals[0]))

/* The variables the browser gets pointed into the temporary directory,
 * so that nothing it writes (profile, caches, sockets) outlives the run. */
static const char *const print_env_private[] = {
	"HOME", "TMPDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", NULL,
};

int
print_check_opts(struct cli *cli, int print, const struct print_opts *o)
{
	if (!print && (o->out != NULL || o->pdf != NULL || o->no_pdf))
		return cli_usage(cli, "%s goes with --print", o->out != NULL ?
		    "--out" : o->pdf != NULL ? "--pdf" : "--no-pdf");
	if (o->pdf != NULL && o->no_pdf)
		return cli_usage(cli, "--pdf and --no-pdf contradict each "
		    "other");
	if (o->pdf != NULL && (o->pdf[0] == '\0' || strcmp(o->pdf, "-") == 0))
		return cli_usage(cli, "--pdf needs a FILE (a PDF does not go "
		    "to standard output)");
	if (o->out != NULL && o->out[0] == '\0')
		return cli_usage(cli, "--out needs a FILE ('-' for standard "
		    "output)");
	return 0;
}

/* The HTML and PDF paths into d. */
static int
print_paths(struct cli *cli, const char *room, const char *what,
    const struct print_opts *o, struct print_done *d)
{
	const char *dot, *slash;
	size_t stem;
	int n;

	if (o->out == NULL) {
		/* A room id is a safe file name; anything else is not. */
		if (!id_valid_name(room))
			return rk_whyf(&cli->why, RK_EINVAL, "give --out FILE: "
			    "'%s' cannot name a file", room);
		n = snprintf(d->html, sizeof(d->html), "%s-%s.html", room,
		    what);
	} else
		n = snprintf(d->html, sizeof(d->html), "%s", o->out);
	if (n < 0 || (size_t)n >= sizeof(d->html))
		return rk_whyf(&cli->why, RK_EINVAL, "--out: the file name is "
		    "too long");
	d->pdf[0] = '\0';
	if (o->no_pdf || (o->pdf == NULL && strcmp(d->html, "-") == 0))
		return 0;
	if (o->pdf != NULL)
		n = snprintf(d->pdf, sizeof(d->pdf), "%s", o->pdf);
	else {
		/* X.html gives X.pdf; any other name gets .pdf added. */
		stem = strlen(d->html);
		slash = strrchr(d->html, '/');
		dot = strrchr(d->html, '.');
		if (dot != NULL && (slash == NULL || dot > slash + 1) &&
		    (strcasecmp(dot, ".html") == 0 ||
		    strcasecmp(dot, ".htm") == 0))
			stem = (size_t)(dot - d->html);
		n = snprintf(d->pdf, sizeof(d->pdf), "%.*s.pdf", (int)stem,
		    d->html);
	}
	if (n < 0 || (size_t)n >= sizeof(d->pdf))
		return rk_whyf(&cli->why, RK_EINVAL, "--pdf: the file name is "
		    "too long");
	if (strcmp(d->pdf, d->html) == 0)
		return rk_whyf(&cli->why, RK_EINVAL, "--pdf and the HTML sheet "
		    "name the same file '%s'", d->pdf);
	return 0;
}

/* 1 if path is a regular file we may execute. */
static int
print_runnable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

/* The program name names into out: name itself if it holds a '/', else
 * the first match on PATH.  0, or -1 if there is none. */
static int
print_which(const char *name, char *out, size_t outlen)
{
	const char *p, *end, *path = getenv("PATH");
	int n;

	if (strchr(name, '/') != NULL) {
		n = snprintf(out, outlen, "%s", name);
		return n >= 0 && (size_t)n < outlen && print_runnable(out) ?
		    0 : -1;
	}
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p = end + 1) {
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
		/* An empty entry is the current directory, as for execvp. */
		n = snprintf(out, outlen, "%.*s/%s", end == p ? 1 : (int)(end -
		    p), end == p ? "." : p, name);
		if (n >= 0 && (size_t)n < outlen && print_runnable(out))
			return 0;
		if (*end == '\0')
			break;
	}
	out[0] = '\0';
	return -1;
}

/* The converter into out, or out "" if none is installed.  One that
 * RENKEI_PDF_CONVERTER names but that cannot run is an error: someone
 * asked for it. */
static int
print_find_converter(struct cli *cli, char *out, size_t outlen)
{
	const char *env = getenv("RENKEI_PDF_CONVERTER");
	size_t i;

	if (env != NULL && env[0] != '\0') {
		if (print_which(env, out, outlen) == 0)
			return 0;
		return rk_whyf(&cli->why, RK_ENOTFOUND, "PDF 変換ツールが"
		    "ありません / no such PDF converter: "
		    "RENKEI_PDF_CONVERTER=%s is not a program that can run "
		    "(the HTML sheet is written)", env);
	}
	for (i = 0; print_converters[i] != NULL; i++)
		if (print_which(print_converters[i], out, outlen) == 0)
			return 0;
	out[0] = '\0';
	return 0;
}

static int
print_timeout(struct cli *cli, int *seconds)
{
	const char *env = getenv("RENKEI_PDF_TIMEOUT");
	char *end;
	long v;

	*seconds = PRINT_TIMEOUT_S;
	if (env == NULL || env[0] == '\0')
		return 0;
	errno = 0;
	v = strtol(env, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > PRINT_TIMEOUT_MAX)
		return rk_whyf(&cli->why, RK_EINVAL, "RENKEI_PDF_TIMEOUT=%s: "
		    "give whole seconds, 1 to %d", env, PRINT_TIMEOUT_MAX);
	*seconds = (int)v;
	return 0;
}

/* "file://" and path, percent-encoded outside [A-Za-z0-9/._~-]. */
static int
print_file_url(char *out, size_t outlen, const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t o;

	if (outlen < sizeof("file://"))
		return -1;
	memcpy(out, "file://", 7);
	o = 7;
	for (p = (const unsigned char *)path; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '/' || *p == '.' ||
		    *p == '_' || *p == '~' || *p == '-') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)*p;
		} else {
			if (o + 3 >= outlen)
				return -1;
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* Empties the directory dfd (which it closes), depth first, without
 * following symbolic links. */
static void
print_empty_dir(int dfd)
{
	struct dirent *e;
	DIR *d;
	int fd;

	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		print_empty_dir(fd);
		(void)unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

/* Removes the temporary directory and all the browser left in it. */
static void
print_remove_tmp(const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) >= 0)
		print_empty_dir(fd);
	if (rmdir(dir) != 0 && errno != ENOENT)
		log_warn("cannot remove the temporary directory %s (it holds "
		    "a copy of the sheet: remove it by hand)", dir);
}

/* The environment for the browser: ours, but with print_env_private
 * pointed into tmp.  *envp is malloc'd (free()); its strings are
 * environ's or bufs'. */
static int
print_env(struct cli *cli, const char *tmp, char bufs[][PRINT_PATH],
    char ***envp)
{
	char **e;
	size_t n = 0, i, j, k, len;
	int n_out;

	while (environ != NULL && environ[n] != NULL)
		n++;
	if ((e = calloc(n + sizeof(print_env_private) /
	    sizeof(print_env_private[0]) + 1, sizeof(*e))) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	for (i = 0, k = 0; i < n; i++) {
		for (j = 0; print_env_private[j] != NULL; j++) {
			len = strlen(print_env_private[j]);
			if (strncmp(environ[i], print_env_private[j], len) ==
			    0 && environ[i][len] == '=')
				break;
		}
		if (print_env_private[j] == NULL)
			e[k++] = environ[i];
	}
	for (j = 0; print_env_private[j] != NULL; j++) {
		n_out = snprintf(bufs[j], PRINT_PATH, "%s=%s",
		    print_env_private[j], tmp);
		if (n_out < 0 || n_out >= PRINT_PATH) {
			free(e);
			return rk_whyf(&cli->why, RK_EINVAL, "the temporary "
			    "directory's name is too long");
		}
		e[k++] = bufs[j];
	}
	e[k] = NULL;
	*envp = e;
	return 0;
}

static void
print_on_signal(int sig)
{
	print_interrupted = sig;
}

/*
 * Runs the converter conv on tmp/sheet.html, which writes tmp/sheet.pdf,
 * for at most timeout_s seconds.  0 when it exited 0; else the reason
 * (naming conv and how it ended, and html_at, where the HTML sheet is).
 */
static int
print_convert(struct cli *cli, const char *conv, const char *tmp,
    int timeout_s, const char *html_at)
{
	char env_bufs[sizeof(print_env_private) /
	    sizeof(print_env_private[0])][PRINT_PATH];
	char profile[PRINT_PATH + 32], pdf_arg[PRINT_PATH + 32];
	char page[PRINT_PATH], url[3 * PRINT_PATH], logf[PRINT_PATH];
	char **envp = NULL;
	const char *argv[24];
	struct sigaction sa, old_sa[PRINT_NSIG];
	siginfo_t info;
	int64_t deadline;
	int argc = 0, logfd = -1, nullfd, status = 0, timed_out = 0, rc;
	int handlers = 0;
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	pid_t pid;
	size_t i;

	if (snprintf(profile, sizeof(profile), "--user-data-dir=%s/profile",
	    tmp) >= (int)sizeof(profile) ||
	    snprintf(pdf_arg, sizeof(pdf_arg), "--print-to-pdf=%s/sheet.pdf",
	    tmp) >= (int)sizeof(pdf_arg) ||
	    snprintf(page, sizeof(page), "%s/sheet.html", tmp) >=
	    (int)sizeof(page) ||
	    snprintf(logf, sizeof(logf), "%s/converter.log", tmp) >=
	    (int)sizeof(logf) ||
	    print_file_url(url, sizeof(url), page) != 0)
		return rk_whyf(&cli->why, RK_EINVAL, "the temporary "
		    "directory's name is too long");
	if ((rc = print_env(cli, tmp, env_bufs, &envp)) != 0)
		return rc;

	argv[argc++] = conv;
	argv[argc++] = "--headless";
	/* Chromium's sandbox refuses to start as root; the page is ours,
	 * rendered by renkeid, and runs no script. */
	if (geteuid() == 0)
		argv[argc++] = "--no-sandbox";
	argv[argc++] = "--disable-gpu";
	argv[argc++] = "--disable-dev-shm-usage";
	/* No network: the sheet holds patient data and needs nothing from
	 * outside; no name resolves, nothing runs in the background. */
	argv[argc++] = "--disable-background-networking";
	argv[argc++] = "--disable-component-update";
	argv[argc++] = "--disable-default-apps";
	argv[argc++] = "--disable-extensions";
	argv[argc++] = "--disable-sync";
	argv[argc++] = "--host-resolver-rules=MAP * ~NOTFOUND";
	argv[argc++] = "--no-first-run";
	argv[argc++] = "--no-default-browser-check";
	argv[argc++] = profile;
	/* The date and page number belong to the sheet, not the browser;
	 * older Chromium knows the second spelling only. */
	argv[argc++] = "--no-pdf-header-footer";
	argv[argc++] = "--print-to-pdf-no-header";
	argv[argc++] = pdf_arg;
	argv[argc++] = url;
	argv[argc] = NULL;

	if ((logfd = open(logf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0) {
		rc = rk_whyf(&cli->why, RK_EIO, "cannot create %s: %s", logf,
		    strerror(errno));
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = print_on_signal;
	sigemptyset(&sa.sa_mask);
	print_interrupted = 0;
	for (i = 0; i < PRINT_NSIG; i++)
		(void)sigaction(print_signals[i], &sa, &old_sa[i]);
	handlers = 1;
	fflush(NULL);
	if ((pid = fork()) < 0) {
		rc = rk_whyf(&cli->why, RK_EIO, "cannot start %s: fork: %s",
		    conv, strerror(errno));
		goto out;
	}
	if (pid == 0) {
		/* The child: only async-signal-safe calls until execve. */
		(void)setpgid(0, 0);
		if ((nullfd = open("/dev/null", O_RDONLY)) >= 0)
			(void)dup2(nullfd, STDIN_FILENO);
		(void)dup2(logfd, STDOUT_FILENO);
		(void)dup2(logfd, STDERR_FILENO);
		execve(conv, (char *const *)argv, envp);
		_exit(127);
	}
	(void)setpgid(pid, pid);	/* either side may win the race */

	deadline = rk_mono_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		/* WNOWAIT: the exited browser stays a zombie, so its process
		 * group id cannot be reused before the group is stopped. */
		memset(&info, 0, sizeof(info));
		if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG |
		    WNOWAIT) == 0 && info.si_pid == pid)
			break;
		if (print_interrupted || rk_mono_ms() >= deadline) {
			timed_out = 1;
			break;
		}
		nanosleep(&tick, NULL);
	}
	/* Helpers the browser started (zygote, crash handler) go with it. */
	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;

	if (print_interrupted)
		rc = rk_whyf(&cli->why, RK_EIO, "PDF を作成できませんでした / "
		    "cannot make the PDF: interrupted by signal %d, %s stopped "
		    "(the HTML sheet is written: %s)", (int)print_interrupted,
		    conv, html_at);
	else if (timed_out)
		rc = rk_whyf(&cli->why, RK_EIO, "PDF を作成できませんでした / "
		    "cannot make the PDF: %s did not finish within %d s and "
		    "was stopped (the HTML sheet is written: %s)", conv,
		    timeout_s, html_at);
	else if (WIFSIGNALED(status))
		rc = rk_whyf(&cli->why, RK_EIO, "PDF を作成できませんでした / "
		    "cannot make the PDF: %s was killed by signal %d (the HTML "
		    "sheet is written: %s)", conv, WTERMSIG(status), html_at);
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		rc = rk_whyf(&cli->why, RK_EIO, "PDF を作成できませんでした / "
		    "cannot make the PDF: %s exited with status %d (the HTML "
		    "sheet is written: %s)", conv, WEXITSTATUS(status),
		    html_at);
	else
		rc = 0;
out:
	if (handlers)
		for (i = 0; i < PRINT_NSIG; i++)
			(void)sigaction(print_signals[i], &old_sa[i], NULL);
	if (logfd >= 0)
		close(logfd);
	free(envp);
	return rc;
}

/* Makes pdf_path from html through the converter conv. */
static int
print_pdf(struct cli *cli, const char *conv, const void *html, size_t len,
    const char *pdf_path, const char *html_at)
{
	char tmp[PRINT_PATH], file[PRINT_PATH + 32];
	const char *base = getenv("TMPDIR");
	uint8_t *pdf = NULL;
	size_t pdf_len = 0;
	int timeout_s, made = 0, rc, n;

	if ((rc = print_timeout(cli, &timeout_s)) != 0)
		return rc;
	if (base == NULL || base[0] != '/')
		base = "/tmp";
	n = snprintf(tmp, sizeof(tmp), "%s/renkei-print.XXXXXX", base);
	if (n < 0 || (size_t)n >= sizeof(tmp) - 64)
		return rk_whyf(&cli->why, RK_EINVAL, "TMPDIR is too long");
	if (mkdtemp(tmp) == NULL)	/* mode 0700 */
		return rk_whyf(&cli->why, RK_EIO, "cannot make a temporary "
		    "directory in %s: %s", base, strerror(errno));
	made = 1;
	snprintf(file, sizeof(file), "%s/sheet.html", tmp);
	if ((rc = fs_write_atomic(file, html, len, 0600)) != 0) {
		rc = cli_reported(cli, rc);
		goto out;
	}
	if ((rc = print_convert(cli, conv, tmp, timeout_s, html_at)) != 0)
		goto out;
	snprintf(file, sizeof(file), "%s/sheet.pdf", tmp);
	rc = fs_read_all(file, PRINT_PDF_MAX, &pdf, &pdf_len);
	if (rc == RK_ENOTFOUND || (rc == 0 && (pdf_len < 5 ||
	    memcmp(pdf, "%PDF-", 5) != 0))) {
		rc = rk_whyf(&cli->why, RK_EIO, "PDF を作成できませんでした / "
		    "cannot make the PDF: %s exited 0 but wrote no PDF (the "
		    "HTML sheet is written: %s)", conv, html_at);
		goto out;
	}
	if (rc != 0) {
		rc = cli_reported(cli, rc);
		goto out;
	}
	/* The PDF holds patient data: readable by its owner only. */
	if ((rc = fs_write_atomic(pdf_path, pdf, pdf_len, 0600)) != 0)
		rc = cli_reported(cli, rc);
out:
	free(pdf);		/* fs_read_all's */
	if (made)
		print_remove_tmp(tmp);
	return rc;
}

int
print_sheet(struct cli *cli, const char *room, const char *what,
    const void *html, size_t len, const struct print_opts *o,
    struct print_done *done)
{
	char conv[PRINT_PATH];
	int rc;

	done->pdf_skipped = NULL;
	done->bytes = 0;
	if ((rc = print_paths(cli, room, what, o, done)) != 0)
		return rc;
	if (strcmp(done->html, "-") == 0) {
		if (fwrite(html, 1, len, stdout) != len || fflush(stdout) != 0)
			return rk_whyf(&cli->why, RK_EIO, "cannot write the "
			    "sheet to standard output");
	} else if ((rc = fs_write_atomic(done->html, html, len, 0600)) != 0)
		/* The sheet holds patient data: readable by its owner only. */
		return cli_reported(cli, rc);
	done->bytes = len;
	if (done->pdf[0] == '\0')
		return 0;

	if ((rc = print_find_converter(cli, conv, sizeof(conv))) != 0)
		goto fail;
	if (conv[0] == '\0') {
		done->pdf[0] = '\0';
		done->pdf_skipped = "no PDF converter installed";
		fputs("renkei: note: PDF 変換ツールがないため HTML のみ作成しま"
		    "した / no PDF converter (chromium) on PATH: only the HTML "
		    "sheet is written; install chromium or set "
		    "RENKEI_PDF_CONVERTER\n", stderr);
		return 0;
	}
	if ((rc = print_pdf(cli, conv, html, len, done->pdf,
	    done->html)) != 0)
		goto fail;
	return 0;
fail:
	done->pdf[0] = '\0';
	return rc;
}
