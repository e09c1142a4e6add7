/* log.c - stderr logging with a program-name prefix. */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *log_prog = "renkei";
static int log_verbose;

void
log_init(const char *progname, int verbose)
{
	log_prog = progname;
	log_verbose = verbose;
}

static void
log_vemit(const char *level, const char *fmt, va_list ap, const char *tail)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (tail != NULL)
		fprintf(stderr, "%s: %s%s: %s\n", log_prog, level, line, tail);
	else
		fprintf(stderr, "%s: %s%s\n", log_prog, level, line);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit("", fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit("", fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit("", fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vemit("debug: ", fmt, ap, NULL);
	va_end(ap);
}
