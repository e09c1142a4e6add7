/*
 * cmd_revoke.c - renkei revoke DEVICE, at the hub: a lost or retired
 * tablet is refused from its next request on.  What it holds stays
 * encrypted under its owner's passphrase; revoking stops it syncing.
 * Device ids are in 'renkei directory'.
 */
#include <stdio.h>

#include "client/cli.h"
#include "common/id.h"

int
cmd_revoke(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *resp = NULL;
	const char *val, *device = NULL, *s;
	char path[512];
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (device != NULL) {
			rc = cli_usage(cli, "unexpected argument '%s' (one "
			    "device at a time)", val);
			goto out;
		}
		device = val;
	}
	if (rc != 0)
		goto out;
	if (device == NULL) {
		rc = cli_usage(cli, "give the DEVICE id (see 'renkei "
		    "directory')");
		goto out;
	}
	if (!id_valid_name(device)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "'%s' is not a device id "
		    "(see 'renkei directory')", device);
		goto out;
	}
	if ((rc = cli_id_path(cli, path, sizeof(path), "devices", device,
	    "/revoke")) != 0 ||
	    (rc = cli_call(cli, "POST", path, NULL, &resp)) != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	s = cli_jstr(resp, "status");
	printf("device %s: ", device);
	cli_put_text(stdout, s != NULL ? s : "revoked", NULL);
	putchar('\n');
out:
	json_decref(resp);
	return rc;
}
