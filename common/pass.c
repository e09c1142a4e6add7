/*
 * pass.c - passphrase input: from a file for unattended use, or from the
 * terminal with echo turned off and always turned back on, also when the
 * user leaves the prompt with ^C.  The passphrase only ever sits in
 * sodium_malloc memory.
 */
#include "common/pass.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"

const char *pass_tty_path = "/dev/tty";

/* PASS_MAX bytes, a "\r\n", one byte more to notice a passphrase that is too
 * long, and the NUL. */
#define PASS_BUFLEN (PASS_MAX + 4)

/*
 * Signals that end the process by default and may arrive while echo is off.
 * They are caught so that echo is restored first, then raised again with the
 * caller's disposition.  (Job-control stops, ^Z, are not handled: the shell
 * restores the terminal when it takes it back.)
 */
static const int pass_signals[] = {
	SIGALRM, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM,
};
#define PASS_NSIGNALS (sizeof(pass_signals) / sizeof(pass_signals[0]))

static volatile sig_atomic_t pass_caught;

static void
pass_on_signal(int sig)
{
	pass_caught = sig;
}

/* *out is sodium_malloc'd; the caller sodium_free()s it. */
static int
pass_alloc(char **out)
{
	char *p;

	if (sodium_init() < 0) {
		log_warnx("libsodium failed to initialise");
		return RK_ECRYPTO;
	}
	if ((p = sodium_malloc(PASS_BUFLEN)) == NULL) {
		log_warnx("out of memory for the passphrase");
		return RK_ENOMEM;
	}
	*out = p;
	return 0;
}

/* Drops one trailing "\n" or "\r\n" from p[0..*len) and checks what is
 * left; from names the source in messages. */
static int
pass_check(char *p, size_t *len, const char *from)
{
	size_t n = *len;

	if (n > 0 && p[n - 1] == '\n') {
		n--;
		if (n > 0 && p[n - 1] == '\r')
			n--;
	}
	if (n == 0) {
		log_warnx("the passphrase from %s is empty", from);
		return RK_EINVAL;
	}
	if (n > PASS_MAX) {
		log_warnx("the passphrase from %s is longer than %d bytes",
		    from, PASS_MAX);
		return RK_EINVAL;
	}
	/* Callers hand the passphrase on as a C string too; a NUL inside
	 * would silently shorten it there. */
	if (memchr(p, '\0', n) != NULL) {
		log_warnx("the passphrase from %s contains a NUL byte", from);
		return RK_EINVAL;
	}
	p[n] = '\0';
	*len = n;
	return 0;
}

static int
pass_read_file(const char *file, char **out, size_t *outlen)
{
	struct stat st;
	char *p = NULL;
	size_t len = 0;
	ssize_t r;
	int fd = -1, rc;

	if ((rc = pass_alloc(&p)) != 0)
		return rc;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		rc = errno == ENOENT ? RK_ENOTFOUND :
		    errno == EACCES ? RK_EDENIED : RK_EIO;
		log_warn("passphrase file %s", file);
		goto out;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
		log_warnx("passphrase file %s is open to other users "
		    "(mode %03o); chmod 600 it", file,
		    (unsigned)(st.st_mode & 0777));
	while (len < PASS_BUFLEN - 1) {
		if ((r = read(fd, p + len, PASS_BUFLEN - 1 - len)) == -1) {
			if (errno == EINTR)
				continue;
			rc = RK_EIO;
			log_warn("passphrase file %s: read", file);
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if ((rc = pass_check(p, &len, file)) != 0)
		goto out;
	*out = p;	/* the caller pass_free()s it */
	*outlen = len;
	p = NULL;
out:
	if (fd != -1)
		close(fd);
	sodium_free(p);
	return rc;
}

static int
pass_write_all(int fd, const char *s)
{
	size_t n = strlen(s);
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, s, n)) == -1) {
			if (errno == EINTR && !pass_caught)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
pass_read_tty(const char *prompt, char **out, size_t *outlen)
{
	struct sigaction sa, saved_sa[PASS_NSIGNALS];
	struct termios saved, quiet;
	char *p = NULL, c = 0;
	size_t len = 0, i;
	ssize_t r;
	int fd = -1, rc, caught, handlers = 0, echo_off = 0;

	if ((rc = pass_alloc(&p)) != 0)
		return rc;
	if ((fd = open(pass_tty_path, O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1 ||
	    tcgetattr(fd, &saved) == -1) {
		log_warnx("no terminal to ask for the passphrase on;"
		    " use --passphrase-file");
		rc = RK_EINVAL;
		goto out;
	}

	pass_caught = 0;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = pass_on_signal;
	sa.sa_flags = 0;	/* no SA_RESTART: read must stop with EINTR */
	for (i = 0; i < PASS_NSIGNALS; i++)
		sigaction(pass_signals[i], &sa, &saved_sa[i]);
	handlers = 1;

	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	/* TCSAFLUSH drops anything typed before the prompt appeared. */
	if (tcsetattr(fd, TCSAFLUSH, &quiet) == -1) {
		rc = RK_EIO;
		log_warn("%s: cannot turn echo off", pass_tty_path);
		goto out;
	}
	echo_off = 1;
	if (pass_write_all(fd, prompt) == -1) {
		rc = RK_EIO;
		log_warn("%s: write", pass_tty_path);
		goto out;
	}
	for (;;) {
		/* A signal that came before read blocked would not stop it. */
		if (pass_caught) {
			rc = RK_EIO;
			log_warnx("passphrase prompt interrupted");
			goto out;
		}
		if ((r = read(fd, &c, 1)) == -1) {
			if (errno == EINTR && !pass_caught)
				continue;
			rc = RK_EIO;
			if (pass_caught)
				log_warnx("passphrase prompt interrupted");
			else
				log_warn("%s: read", pass_tty_path);
			goto out;
		}
		if (r == 0 || c == '\n')
			break;
		/* Past PASS_MAX + 1 the length alone says "too long"; keep
		 * reading so the rest of the line is not left for the shell. */
		if (len <= PASS_MAX)
			p[len++] = c;
	}
	/* Echo was off, so the user's Enter did not move the cursor. */
	(void)pass_write_all(fd, "\n");
	if ((rc = pass_check(p, &len, "the terminal")) != 0)
		goto out;
	*out = p;	/* the caller pass_free()s it */
	*outlen = len;
	p = NULL;
out:
	sodium_memzero(&c, sizeof(c));
	if (echo_off && tcsetattr(fd, TCSAFLUSH, &saved) == -1)
		log_warn("%s: cannot turn echo back on", pass_tty_path);
	if (fd != -1)
		close(fd);
	caught = pass_caught;
	if (handlers) {
		for (i = 0; i < PASS_NSIGNALS; i++)
			sigaction(pass_signals[i], &saved_sa[i], NULL);
	}
	sodium_free(p);
	/* Echo is back on: deliver the signal as if we had not caught it. */
	if (caught != 0)
		raise(caught);
	return rc;
}

int
pass_read(const char *file, const char *prompt, char **out, size_t *outlen)
{
	if (file != NULL)
		return pass_read_file(file, out, outlen);
	return pass_read_tty(prompt != NULL ? prompt : "Passphrase: ", out,
	    outlen);
}

int
pass_read_confirm(const char *file, const char *prompt, const char *again,
    char **out, size_t *outlen)
{
	char *a = NULL, *b = NULL;
	size_t alen, blen;
	int rc;

	if (file != NULL)
		return pass_read_file(file, out, outlen);
	if ((rc = pass_read_tty(prompt != NULL ? prompt : "Passphrase: ", &a,
	    &alen)) != 0)
		goto out;
	if ((rc = pass_read_tty(again != NULL ? again : "Again: ", &b,
	    &blen)) != 0)
		goto out;
	if (alen != blen || sodium_memcmp(a, b, alen) != 0) {
		log_warnx("the passphrases do not match");
		rc = RK_EINVAL;
		goto out;
	}
	*out = a;	/* the caller pass_free()s it */
	*outlen = alen;
	a = NULL;
out:
	pass_free(a);
	pass_free(b);
	return rc;
}

void
pass_free(char *p)
{
	/* sodium_free wipes the whole allocation before releasing it. */
	sodium_free(p);
}
