/*
 * cmd_sheet.c - renkei sheet ROOM admission|discharge: the home team's
 * information for the hospital at admission (入院時情報提供書) and the
 * hospital's for the home team at discharge (退院時情報).  A sheet starts
 * filled from what the room holds (patient, card, team, ACP, medications,
 * last vitals), so nobody types it twice; --set edits it; --print writes
 * the printable page.
 *
 *   renkei sheet ROOM admission|discharge [--set FIELD=VALUE ...] [--new]
 *       [--print [--out FILE]]
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "client/roomwork_cli.h"
#include "common/id.h"

enum { SH_SET = 1, SH_NEW, SH_PRINT, SH_OUT };

static const struct cli_opt sh_opts[] = {
	{ "set", 1, SH_SET },
	{ "new", 0, SH_NEW },
	{ "print", 0, SH_PRINT },
	{ "out", 1, SH_OUT },
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
	json_t *fields = NULL, *req = NULL, *resp = NULL, *pr = NULL;
	const char *val, *room = NULL, *kind = NULL, *out = NULL, *html;
	char path[512], file[4096], suffix[64];
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
		case SH_OUT: out = val; break;
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
	if (out != NULL && !print) {
		rc = cli_usage(cli, "--out goes with --print");
		goto out;
	}
	if (out != NULL && strcmp(out, "-") == 0 && cli->json) {
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
		if (out == NULL) {
			if (!id_valid_name(room)) {
				rc = rk_whyf(&cli->why, RK_EINVAL, "give --out "
				    "FILE: '%s' cannot name a file", room);
				goto out;
			}
			snprintf(file, sizeof(file), "%s-%s.html", room, kind);
		} else
			snprintf(file, sizeof(file), "%s", out);
		if ((rc = rwc_write_file(cli, file, html, strlen(html))) != 0)
			goto out;
	}
	if (cli->json) {
		json_t *o = resp != NULL ? json_incref(resp) : json_object();

		if (print)
			json_object_set_new(o, "path", json_string(file));
		rc = cli_print_json(cli, o);
		json_decref(o);
	} else {
		if (resp != NULL)
			sh_show(resp);
		if (print && strcmp(file, "-") != 0)
			printf("%s\n", file);
	}
out:
	json_decref(fields);
	json_decref(req);
	json_decref(resp);
	json_decref(pr);
	return rc;
}
