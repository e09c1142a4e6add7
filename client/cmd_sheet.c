/*
 * cmd_sheet.c - renkei sheet ROOM admission|discharge: the home team's
 * information for the hospital at admission (入院時情報提供書) and the
 * hospital's for the home team at discharge (退院時情報).  A sheet starts
 * filled from what the room holds (patient, card, team, ACP, medications,
 * last vitals), so nobody types it twice; --set edits it; --print writes
 * the printable page, and its PDF where a converter is installed
 * (client/print.h).
 *
 *   renkei sheet ROOM admission|discharge [--set FIELD=VALUE ...] [--new]
 *       [--print [--out FILE] [--pdf FILE | --no-pdf]]
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "client/print.h"
#include "client/roomwork_cli.h"

enum { SH_SET = 1, SH_NEW, SH_PRINT, SH_OUT, SH_PDF, SH_NO_PDF };

static const struct cli_opt sh_opts[] = {
	{ "set", 1, SH_SET },
	{ "new", 0, SH_NEW },
	{ "print", 0, SH_PRINT },
	{ "out", 1, SH_OUT },
	{ "pdf", 1, SH_PDF },
	{ "no-pdf", 0, SH_NO_PDF },
	CLI_OPT_END,
};

static void
sh_show(const json_t *s)
{
	const json_t *f;
	const char *v;
	size_t i, w = 0;

	cli_put_text(stdout, cli_jstr(s, "title") ? cli_jstr(s, "title") : "",
	    NULL);
	fputs("  ", stdout);
	cli_put_text(stdout, cli_jstr(s, "room_id"), NULL);
	if (json_is_true(json_object_get(s, "draft")))
		fputs("  (下書き draft: filled from the room, not saved yet)",
		    stdout);
	else if ((v = cli_jstr(s, "id")) != NULL) {
		fputs("  id ", stdout);
		cli_put_text(stdout, v, NULL);
	}
	putchar('\n');
	json_array_foreach(json_object_get(s, "fields"), i, f)
		if (cli_jstr(f, "field") && strlen(cli_jstr(f, "field")) > w)
			w = strlen(cli_jstr(f, "field"));
	json_array_foreach(json_object_get(s, "fields"), i, f) {
		fputs("  ", stdout);
		cli_put_padded(stdout, cli_jstr(f, "field"), w + 2);
		cli_put_text(stdout, cli_jstr(f, "label"), NULL);
		fputs(": ", stdout);
		v = cli_jstr(f, "value");
		if (v == NULL || v[0] == '\0')
			fputs("未記入", stdout);
		else
			cli_put_text(stdout, v, "\n      ");
		putchar('\n');
	}
}

int
cmd_sheet(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	struct print_opts po = { NULL, NULL, 0 };
	struct print_done done;
	json_t *fields = NULL, *req = NULL, *resp = NULL, *pr = NULL, *o = NULL;
	const char *val, *room = NULL, *kind = NULL, *html;
	char path[512], suffix[64];
	int id, rc, print = 0, new_sheet = 0;

	if ((fields = json_object()) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, sh_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		switch (id) {
		case SH_SET:
			if ((rc = rwc_set_field(cli, fields, val, "--set")) != 0)
				goto out;
			break;
		case SH_NEW: new_sheet = 1; break;
		case SH_PRINT: print = 1; break;
		case SH_OUT: po.out = val; break;
		case SH_PDF: po.pdf = val; break;
		case SH_NO_PDF: po.no_pdf = 1; break;
		default:
			if (room == NULL)
				room = val;
			else if (kind == NULL)
				kind = val;
			else {
				rc = cli_usage(cli, "unexpected argument '%s'",
				    val);
				goto out;
			}
		}
	}
	if (rc != 0)
		goto out;
	if (room == NULL || kind == NULL) {
		rc = cli_usage(cli, "give ROOM and admission or discharge");
		goto out;
	}
	if (strcmp(kind, "admission") != 0 && strcmp(kind, "discharge") != 0) {
		rc = cli_usage(cli, "'%s' is not a sheet: give admission "
		    "(入院時) or discharge (退院時)", kind);
		goto out;
	}
	if ((rc = print_check_opts(cli, print, &po)) != 0)
		goto out;
	if (po.out != NULL && strcmp(po.out, "-") == 0 && cli->json) {
		rc = cli_usage(cli, "--out - cannot go with --json");
		goto out;
	}
	snprintf(suffix, sizeof(suffix), "/%s-sheet", kind);
	if ((rc = cli_room_path(cli, path, sizeof(path), room, suffix)) != 0)
		goto out;
	if (json_object_size(fields) > 0 || new_sheet) {
		if ((req = json_object()) == NULL ||
		    (rc = cli_set(cli, req, "fields", json_incref(fields))) ||
		    (new_sheet && (rc = cli_set(cli, req, "new",
		    json_true())) != 0))
			goto out;
		rc = cli_call(cli, "PATCH", path, req, &resp);
	} else if (!print)
		rc = cli_call(cli, "GET", path, NULL, &resp);
	if (rc != 0)
		goto out;
	if (print) {
		snprintf(suffix, sizeof(suffix), "/%s-print", kind);
		if ((rc = cli_room_path(cli, path, sizeof(path), room,
		    suffix)) != 0 ||
		    (rc = cli_call(cli, "GET", path, NULL, &pr)) != 0)
			goto out;
		if ((html = cli_jstr(pr, "html")) == NULL) {
			rc = rk_whyf(&cli->why, RK_EPROTO, "renkeid sent no "
			    "sheet");
			goto out;
		}
		if ((rc = print_sheet(cli, room, kind, html, strlen(html),
		    &po, &done)) != 0)
			goto out;
	}
	if (cli->json) {
		o = resp != NULL ? json_incref(resp) : json_object();
		if (o == NULL) {
			rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
			goto out;
		}
		if (print && ((rc = cli_set_str(cli, o, "path", done.html,
		    "--out")) != 0 || (rc = done.pdf[0] != '\0' ?
		    cli_set_str(cli, o, "pdf", done.pdf, "--pdf") : cli_set(cli,
		    o, "pdf", json_null())) != 0 || (done.pdf_skipped != NULL &&
		    (rc = cli_set(cli, o, "pdf_skipped",
		    json_string(done.pdf_skipped))) != 0)))
			goto out;
		rc = cli_print_json(cli, o);
	} else {
		if (resp != NULL)
			sh_show(resp);
		if (print && strcmp(done.html, "-") != 0) {
			printf("%s\n", done.html);
			if (done.pdf[0] != '\0')
				printf("%s\n", done.pdf);
		}
	}
out:
	json_decref(fields);
	json_decref(req);
	json_decref(resp);
	json_decref(pr);
	json_decref(o);
	return rc;
}
