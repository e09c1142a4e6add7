/*
 * cmd_acp.c - renkei acp ROOM: the patient's wishes (ACP, 人生会議) with
 * their history: every revision, who recorded it, when, and who was
 * present.  --record adds a revision; its summary (and DNAR) go onto the
 * emergency card.
 *
 *   renkei acp ROOM
 *   renkei acp ROOM --record --wishes W --present P [--dnar D]
 *       [--summary S] [--date YYYY-MM-DD]
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"

enum { ACP_RECORD = 1, ACP_WISHES, ACP_PRESENT, ACP_DNAR, ACP_SUMMARY,
    ACP_DATE };

static const struct cli_opt acp_opts[] = {
	{ "record", 0, ACP_RECORD },
	{ "wishes", 1, ACP_WISHES },
	{ "present", 1, ACP_PRESENT },
	{ "dnar", 1, ACP_DNAR },
	{ "summary", 1, ACP_SUMMARY },
	{ "date", 1, ACP_DATE },
	CLI_OPT_END,
};

static void
acp_print_rev(const json_t *r, int current)
{
	const char *s;
	char when[32];
	double at;

	printf("%s ", current ? "*" : " ");
	if (cli_jnum(r, "recorded_at", &at)) {
		cli_fmt_time((int64_t)at, when, sizeof(when));
		printf("%s", when);
	}
	fputs("  recorded by ", stdout);
	cli_put_text(stdout, cli_jstr(r, "recorded_by_name") ? cli_jstr(r,
	    "recorded_by_name") : cli_jstr(r, "recorded_by"), NULL);
	if ((s = cli_jstr(r, "discussed_on")) != NULL)
		printf("  (話し合い %s)", s);
	fputs("\n    同席 present: ", stdout);
	cli_put_text(stdout, cli_jstr(r, "present"), NULL);
	fputs("\n    意向 wishes:  ", stdout);
	cli_put_text(stdout, cli_jstr(r, "wishes"), "\n                  ");
	if ((s = cli_jstr(r, "dnar")) != NULL) {
		fputs("\n    DNAR:         ", stdout);
		cli_put_text(stdout, s, NULL);
	}
	if ((s = cli_jstr(r, "summary")) != NULL) {
		fputs("\n    要約 summary: ", stdout);
		cli_put_text(stdout, s, "\n                  ");
	}
	putchar('\n');
}

int
cmd_acp(int argc, char **argv, struct cli *cli)
{
	static const struct {
		int id;
		const char *key, *opt;
	} texts[] = {
		{ ACP_WISHES, "wishes", "--wishes" },
		{ ACP_PRESENT, "present", "--present" },
		{ ACP_DNAR, "dnar", "--dnar" },
		{ ACP_SUMMARY, "summary", "--summary" },
		{ ACP_DATE, "discussed_on", "--date" },
	};
	struct cli_args a;
	json_t *req = NULL, *resp = NULL, *r;
	const char *val, *room = NULL;
	char path[512];
	size_t i;
	int id, rc, record = 0;

	if ((req = json_object()) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, acp_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == CLI_ARG) {
			if (room != NULL) {
				rc = cli_usage(cli, "unexpected argument '%s'",
				    val);
				goto out;
			}
			room = val;
		} else if (id == ACP_RECORD) {
			record = 1;
		} else {
			for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
				if (texts[i].id == id)
					break;
			if (id == ACP_DATE && !cli_valid_date(val)) {
				rc = rk_whyf(&cli->why, RK_EINVAL, "--date: "
				    "'%s' is not a valid date (YYYY-MM-DD)",
				    val);
				goto out;
			}
			if ((rc = cli_set_str(cli, req, texts[i].key, val,
			    texts[i].opt)) != 0)
				goto out;
		}
	}
	if (rc != 0)
		goto out;
	if (room == NULL) {
		rc = cli_usage(cli, "give the ROOM");
		goto out;
	}
	if (!record && json_object_size(req) > 0) {
		rc = cli_usage(cli, "--wishes, --present, --dnar, --summary and "
		    "--date go with --record");
		goto out;
	}
	if (record && (json_object_get(req, "wishes") == NULL ||
	    json_object_get(req, "present") == NULL)) {
		rc = cli_usage(cli, "--record needs --wishes W and --present P "
		    "(who took part)");
		goto out;
	}
	if ((rc = cli_room_path(cli, path, sizeof(path), room, "/acp")) != 0)
		goto out;
	if (record) {
		if ((rc = cli_call(cli, "POST", path, req, &resp)) != 0)
			goto out;
		if (cli->json)
			rc = cli_print_json(cli, resp);
		else
			printf("%s\n", cli_jstr(resp, "id") ? cli_jstr(resp,
			    "id") : "?");
		goto out;
	}
	if ((rc = cli_call(cli, "GET", path, NULL, &resp)) != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	printf("ACP・人生会議  ");
	cli_put_text(stdout, room, NULL);
	printf("  (%zu revision(s), * = current)\n",
	    json_array_size(json_object_get(resp, "revisions")));
	json_array_foreach(json_object_get(resp, "revisions"), i, r)
		acp_print_rev(r, i == 0);
out:
	json_decref(req);
	json_decref(resp);
	return rc;
}
