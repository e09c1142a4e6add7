/*
 * cmd_read.c - renkei read ROOM ID: "OK" on a post or a request, as MCS
 * users know it.  The author sees who has read it (per member, with the
 * time); reading twice keeps the first time.  Prints who has read it so
 * far.  ID may be given by its last characters, as the lists show them.
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "client/roomwork_cli.h"

int
cmd_read(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *req = NULL, *resp = NULL;
	const char *val, *room = NULL, *rid = NULL;
	char path[512];
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (room == NULL)
			room = val;
		else if (rid == NULL)
			rid = val;
		else
			return cli_usage(cli, "unexpected argument '%s'", val);
	}
	if (rc != 0)
		return rc;
	if (room == NULL || rid == NULL)
		return cli_usage(cli, "give ROOM and the post's or request's ID");
	/* The daemon takes the end of an id too (as the lists show it). */
	if ((req = json_object()) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	if ((rc = cli_set_str(cli, req, "id", rid, "ID")) != 0 ||
	    (rc = cli_room_path(cli, path, sizeof(path), room, "/read")) != 0 ||
	    (rc = cli_call(cli, "POST", path, req, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else {
		printf("%s %s: 既読 read by ", cli_jstr(resp, "type") ?
		    cli_jstr(resp, "type") : "?", cli_jstr(resp, "id") ?
		    cli_jstr(resp, "id") : rid);
		rwc_print_readers(json_object_get(resp, "read_by"));
		putchar('\n');
	}
out:
	json_decref(req);
	json_decref(resp);
	return rc;
}
