/*
 * cmd_directory.c - renkei directory, at the hub: who is registered, as
 * three tables (agencies, staff, devices) with the Japanese labels of
 * kinds and professions.  --json gives the hub's answer unchanged; the
 * tables take a member under either its API name or its column name
 * ("agency" or "agency_id"), so a daemon that sends rows as stored reads
 * the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "client/cli.h"

#define DIR_TIME_LEN 32

/* o[key], else o[alt] (alt may be NULL), as a string; NULL if neither. */
static const char *
dir_str(const json_t *o, const char *key, const char *alt)
{
	const char *s = cli_jstr(o, key);

	if (s == NULL && alt != NULL)
		s = cli_jstr(o, alt);
	return s;
}

/* The label of id in t, else id itself, else "-". */
static const char *
dir_label(const struct cli_label *t, const char *id)
{
	const char *l;

	if (id == NULL || id[0] == '\0')
		return "-";
	return (l = cli_label_of(t, id)) != NULL ? l : id;
}

/* Writes s made safe for the terminal, then spaces up to width columns. */
static void
dir_put_cell(const char *s, size_t width)
{
	size_t w = cli_width(s);

	cli_put_text(stdout, s, NULL);
	for (; w < width; w++)
		putchar(' ');
}

/*
 * Prints one table: "title (n)", a header line and nrows rows of ncols
 * cells (row-major), columns as wide as their widest cell.
 */
static void
dir_table(const char *title, const char *const *heads, size_t ncols,
    const char **cells, size_t nrows)
{
	size_t w[8] = { 0 }, r, c;

	printf("%s (%zu)\n", title, nrows);
	if (nrows == 0) {
		printf("  none\n");
		return;
	}
	for (c = 0; c < ncols; c++)
		w[c] = cli_width(heads[c]);
	for (r = 0; r < nrows; r++)
		for (c = 0; c < ncols; c++)
			if (cli_width(cells[r * ncols + c]) > w[c])
				w[c] = cli_width(cells[r * ncols + c]);
	fputs("  ", stdout);
	for (c = 0; c < ncols; c++) {
		if (c + 1 < ncols)
			dir_put_cell(heads[c], w[c] + 2);
		else
			fputs(heads[c], stdout);
	}
	putchar('\n');
	for (r = 0; r < nrows; r++) {
		fputs("  ", stdout);
		for (c = 0; c < ncols; c++) {
			if (c + 1 < ncols)
				dir_put_cell(cells[r * ncols + c], w[c] + 2);
			else
				cli_put_text(stdout, cells[r * ncols + c],
				    NULL);
		}
		putchar('\n');
	}
}

static const char *
dir_or_dash(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

static int
dir_print(struct cli *cli, const json_t *d)
{
	static const char *const ag_heads[] = { "ID", "KIND", "NAME" };
	static const char *const st_heads[] = { "ID", "NAME", "PROFESSION",
	    "AGENCY", "STATUS", "PHONE" };
	static const char *const dv_heads[] = { "ID", "STAFF", "STATUS",
	    "ENROLLED" };
	const json_t *ags = json_object_get(d, "agencies");
	const json_t *sts = json_object_get(d, "staff");
	const json_t *dvs = json_object_get(d, "devices");
	const char **cells = NULL;
	char *times = NULL;
	const json_t *o;
	size_t n, i, most;
	double at;
	int rc = 0;

	most = json_array_size(ags);
	if (json_array_size(sts) > most)
		most = json_array_size(sts);
	if (json_array_size(dvs) > most)
		most = json_array_size(dvs);
	/* calloc(0, ...) may be NULL: ask for one row at least. */
	if ((cells = calloc(most + 1, 6 * sizeof(*cells))) == NULL ||
	    (times = calloc(most + 1, DIR_TIME_LEN)) == NULL) {
		rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
		goto out;
	}

	n = 0;
	json_array_foreach(ags, i, o) {
		cells[n * 3 + 0] = dir_or_dash(dir_str(o, "id", "agency_id"));
		cells[n * 3 + 1] = dir_label(cli_agency_kinds,
		    dir_str(o, "kind", NULL));
		cells[n * 3 + 2] = dir_or_dash(dir_str(o, "name", NULL));
		n++;
	}
	dir_table("agencies", ag_heads, 3, cells, n);

	n = 0;
	json_array_foreach(sts, i, o) {
		cells[n * 6 + 0] = dir_or_dash(dir_str(o, "id", "staff_id"));
		cells[n * 6 + 1] = dir_or_dash(dir_str(o, "name", NULL));
		cells[n * 6 + 2] = dir_label(cli_professions,
		    dir_str(o, "profession", NULL));
		cells[n * 6 + 3] = dir_or_dash(dir_str(o, "agency",
		    "agency_id"));
		cells[n * 6 + 4] = dir_or_dash(dir_str(o, "status", NULL));
		cells[n * 6 + 5] = dir_or_dash(dir_str(o, "phone", NULL));
		n++;
	}
	putchar('\n');
	dir_table("staff", st_heads, 6, cells, n);

	n = 0;
	json_array_foreach(dvs, i, o) {
		cells[n * 4 + 0] = dir_or_dash(dir_str(o, "id", "device_id"));
		cells[n * 4 + 1] = dir_or_dash(dir_str(o, "staff",
		    "staff_id"));
		cells[n * 4 + 2] = dir_or_dash(dir_str(o, "status", NULL));
		if (cli_jnum(o, "enrolled_at", &at)) {
			cli_fmt_time((int64_t)at, times + n * DIR_TIME_LEN,
			    DIR_TIME_LEN);
			cells[n * 4 + 3] = times + n * DIR_TIME_LEN;
		} else
			cells[n * 4 + 3] = "-";
		n++;
	}
	putchar('\n');
	dir_table("devices", dv_heads, 4, cells, n);

	/* Hub settings and counts, when the hub sends them. */
	o = json_object_get(d, "require_doctor");
	if (json_is_boolean(o) || cli_jnum(d, "open_codes", &at))
		putchar('\n');
	if (json_is_boolean(o))
		printf("doctor or dentist required in patient rooms: %s\n",
		    json_is_true(o) ? "yes" : "no");
	if (cli_jnum(d, "open_codes", &at))
		printf("enrolment codes not yet used: %.0f\n", at);
out:
	free(times);
	free(cells);
	return rc;
}

int
cmd_directory(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *resp = NULL;
	const char *val;
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		rc = cli_usage(cli, "unexpected argument '%s'", val);
		goto out;
	}
	if (rc != 0)
		goto out;
	if ((rc = cli_call(cli, "GET", "/v1/directory", NULL, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else
		rc = dir_print(cli, resp);
out:
	json_decref(resp);
	return rc;
}
