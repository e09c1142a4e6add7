/*
 * cmd_hash.c - renkei hash ROOM: the room's content hash (BLAKE2b-256 over
 * its rows in key order), which is the same on every replica that is in
 * step.  It prints the 64 hex digits alone on a line so that a script can
 * compare two replicas, or a replica and the hub, with test(1).
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"

#define HASH_HEX 64

int
cmd_hash(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *resp = NULL;
	const char *val, *room = NULL, *h;
	char path[512];
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (room != NULL) {
			rc = cli_usage(cli, "unexpected argument '%s' (one "
			    "room at a time)", val);
			goto out;
		}
		room = val;
	}
	if (rc != 0)
		goto out;
	if (room == NULL) {
		rc = cli_usage(cli, "give ROOM");
		goto out;
	}
	if ((rc = cli_room_path(cli, path, sizeof(path), room,
	    "/hash")) != 0 ||
	    (rc = cli_call(cli, "GET", path, NULL, &resp)) != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	/* Scripts compare the line as text: only a well-formed hash. */
	h = cli_jstr(resp, "hash");
	if (h == NULL || strlen(h) != HASH_HEX ||
	    strspn(h, "0123456789abcdef") != HASH_HEX) {
		rc = rk_whyf(&cli->why, RK_EPROTO, "renkeid's answer holds no "
		    "room hash (64 hex digits)");
		goto out;
	}
	printf("%s\n", h);
out:
	json_decref(resp);
	return rc;
}
