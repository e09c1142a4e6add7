/*
 * print.h - the printable sheets (the emergency card, the admission and
 * discharge sheets): writing the HTML page renkeid rendered to a file, and
 * a PDF made from it by headless Chromium where one is installed.  Shared
 * by cmd_card.c and cmd_sheet.c; implemented in print.c.
 *
 * Both files hold patient data: they are written with mode 0600, whole or
 * not at all, and the converter's temporary files are removed.
 */
#ifndef RK_PRINT_H
#define RK_PRINT_H

#include <stddef.h>

#include "client/cli.h"

/* Where the sheet goes, from the command line. */
struct print_opts {
	const char *out;	/* --out FILE ("-": standard output); NULL:
				 * ROOM-WHAT.html in the current directory */
	const char *pdf;	/* --pdf FILE; NULL: beside the HTML file,
				 * its name ending .pdf instead of .html */
	int no_pdf;		/* --no-pdf: the HTML only */
};

/* What print_sheet wrote. */
struct print_done {
	char html[4096];	/* the HTML file, "-" for standard output */
	char pdf[4096];		/* the PDF file, "" if none was made */
	size_t bytes;		/* of the HTML */
	/* Why no PDF was made although one could have been (no converter
	 * installed), or NULL; static text. */
	const char *pdf_skipped;
};

/* The options a command takes with --print, for its usage checks: a usage
 * error if --out, --pdf or --no-pdf come without --print, or --pdf with
 * --no-pdf. */
int print_check_opts(struct cli *cli, int print, const struct print_opts *o)
    RK_MUST_CHECK;

/*
 * Writes the sheet html[0..len) of room as o asks (what names the sheet in
 * the default file names: "card" gives ROOM-card.html and ROOM-card.pdf),
 * then the PDF, unless none is wanted.
 *
 * The converter is $RENKEI_PDF_CONVERTER if set (a path, or a name looked
 * up on PATH), else chromium or chromium-browser on PATH; it runs without
 * a shell, headless, with no network and a fresh profile in a temporary
 * directory, for at most $RENKEI_PDF_TIMEOUT seconds (default 60).  If
 * none is installed the HTML is still written, done->pdf_skipped says why
 * and a note goes to standard error; that is not a failure.  A converter
 * that fails (exit status, signal, timeout, no PDF) is: the reason names
 * it, the HTML file stays.
 */
int print_sheet(struct cli *cli, const char *room, const char *what,
    const void *html, size_t len, const struct print_opts *o,
    struct print_done *done) RK_MUST_CHECK;

#endif
