/*
 * cmd_resolve.c - renkei resolve ID --keep mine|theirs|VALUE: settles one
 * conflict record.  The kept value is written to the row and the record
 * marked resolved, as one ordinary change of the room that syncs to
 * everyone (common/api.h, POST /v1/conflicts/{id}/resolve).
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"

enum { RES_KEEP = 1 };

static const struct cli_opt res_opts[] = {
	{ "keep", 1, RES_KEEP },
	CLI_OPT_END,
};

int
cmd_resolve(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *body = NULL, *resp = NULL, *v;
	const char *val, *cid = NULL, *keep = NULL;
	char path[256];
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, res_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == RES_KEEP) {
			if (keep != NULL) {
				rc = cli_usage(cli, "--keep given twice");
				goto out;
			}
			keep = val;
			continue;
		}
		if (cid != NULL) {
			rc = cli_usage(cli, "unexpected argument '%s'", val);
			goto out;
		}
		cid = val;
	}
	if (rc != 0)
		goto out;
	if (cid == NULL) {
		rc = cli_usage(cli, "give the conflict's ID (renkei conflicts "
		    "lists them)");
		goto out;
	}
	if (keep == NULL) {
		rc = cli_usage(cli, "give --keep mine, --keep theirs or --keep "
		    "VALUE");
		goto out;
	}
	if ((body = json_object()) == NULL) {
		rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = cli_set_str(cli, body, "keep", keep, "--keep")) != 0 ||
	    (rc = cli_id_path(cli, path, sizeof(path), "conflicts", cid,
	    "/resolve")) != 0)
		goto out;
	if ((rc = cli_call(cli, "POST", path, body, &resp)) != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	printf("解決しました (resolved) ");
	cli_put_text(stdout, cli_jstr(resp, "id") ? cli_jstr(resp, "id") : cid,
	    NULL);
	printf(": %s, kept ", cli_jstr(resp, "resolution") ?
	    cli_jstr(resp, "resolution") : "?");
	v = json_object_get(resp, "resolved_value");
	if (json_is_string(v))
		cli_put_text(stdout, json_string_value(v), NULL);
	else if (json_is_integer(v))
		printf("%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		printf("%g", json_real_value(v));
	else
		fputs("（空／行なし）", stdout);
	printf("\nsyncs with the next sync (renkei sync)\n");
out:
	json_decref(body);
	json_decref(resp);
	return rc;
}
