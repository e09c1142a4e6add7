/*
 * cmd_room_archive.c - renkei room archive ROOM --reason R: the patient
 * died, moved away or withdrew consent.  The room becomes read-only for
 * everyone, is kept for the retention period, then purged by the hub.
 * Reached through `renkei room` (cmd_room.c hands "archive" here).
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"

enum { AR_REASON = 1 };

static const struct cli_opt ar_opts[] = {
	{ "reason", 1, AR_REASON },
	CLI_OPT_END,
};

static const struct cli_label ar_reasons[] = {
	{ "death", "死亡" },
	{ "moved", "転居・転院" },
	{ "consent_withdrawn", "同意撤回" },
	{ NULL, NULL },
};

/* argv[0] is "archive". */
int
cmd_room_archive(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *req = NULL, *resp = NULL;
	const char *val, *room = NULL, *reason = NULL, *rid = NULL;
	char path[512];
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, ar_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == AR_REASON)
			reason = val;
		else if (room == NULL)
			room = val;
		else
			return cli_usage(cli, "unexpected argument '%s'", val);
	}
	if (rc != 0)
		return rc;
	if (room == NULL || reason == NULL)
		return cli_usage(cli, "give ROOM and --reason "
		    "death|moved|consent_withdrawn");
	if ((rc = cli_label_pick(cli, ar_reasons, "--reason", "reason to "
	    "archive", reason, &rid)) != 0)
		return rc;
	if ((req = json_pack("{s:s}", "reason", rid)) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	if ((rc = cli_room_path(cli, path, sizeof(path), room,
	    "/archive")) != 0 ||
	    (rc = cli_call(cli, "POST", path, req, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else
		printf("archived room %s (%s): read-only from now on\n", room,
		    rid);
out:
	json_decref(req);
	json_decref(resp);
	return rc;
}
