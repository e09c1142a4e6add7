/*
 * cmd_patient.c - renkei patient ROOM: the patient's details the card and
 * the sheets are filled from (name, kana, birth date, sex, address,
 * phone); --set FIELD=VALUE edits them (an empty VALUE clears one).
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "client/roomwork_cli.h"

enum { PT_SET = 1 };

static const struct cli_opt pt_opts[] = {
	{ "set", 1, PT_SET },
	CLI_OPT_END,
};

static const struct {
	const char *field, *label;
} pt_fields[] = {
	{ "name", "氏名" },
	{ "name_kana", "ふりがな" },
	{ "birth_date", "生年月日" },
	{ "sex", "性別" },
	{ "address", "住所" },
	{ "phone", "電話" },
};

int
cmd_patient(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *patch = NULL, *resp = NULL;
	const char *val, *room = NULL, *bd;
	char path[512];
	size_t i;
	int id, rc;

	if ((patch = json_object()) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, pt_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == PT_SET) {
			if ((rc = rwc_set_field(cli, patch, val, "--set")) != 0)
				goto out;
		} else if (room == NULL)
			room = val;
		else {
			rc = cli_usage(cli, "unexpected argument '%s'", val);
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	if (room == NULL) {
		rc = cli_usage(cli, "give the ROOM");
		goto out;
	}
	if ((bd = cli_jstr(patch, "birth_date")) != NULL &&
	    !cli_valid_date(bd)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "birth_date: '%s' is not a "
		    "valid date (YYYY-MM-DD)", bd);
		goto out;
	}
	if ((rc = cli_room_path(cli, path, sizeof(path), room,
	    "/patient")) != 0)
		goto out;
	rc = json_object_size(patch) > 0 ?
	    cli_call(cli, "PATCH", path, patch, &resp) :
	    cli_call(cli, "GET", path, NULL, &resp);
	if (rc != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	for (i = 0; i < sizeof(pt_fields) / sizeof(pt_fields[0]); i++) {
		const char *v = cli_jstr(resp, pt_fields[i].field);

		cli_put_padded(stdout, pt_fields[i].label, 10);
		cli_put_padded(stdout, pt_fields[i].field, 12);
		cli_put_text(stdout, v != NULL && v[0] ? v : "未記入", NULL);
		putchar('\n');
	}
out:
	json_decref(patch);
	json_decref(resp);
	return rc;
}
