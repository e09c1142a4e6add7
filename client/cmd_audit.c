/*
 * cmd_audit.c - renkei audit ROOM: who read and wrote what in a room,
 * through which device, when.  On the hub: the room's hash-chained log,
 * verified entry by entry; exit status 1 naming the first broken entry if
 * the chain does not hold (the list then only with --json).  On a device: this replica's view (the events
 * it holds), after shipping its own noted reads to the outbox.
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"

int
cmd_audit(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *resp = NULL, *e, *chain;
	const char *val, *room = NULL, *err;
	char path[512], when[32];
	size_t i;
	double at;
	int id, rc, broken;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (room != NULL)
			return cli_usage(cli, "unexpected argument '%s'", val);
		room = val;
	}
	if (rc != 0)
		return rc;
	if (room == NULL)
		return cli_usage(cli, "give the ROOM");
	if ((rc = cli_room_path(cli, path, sizeof(path), room, "/audit")) != 0 ||
	    (rc = cli_call(cli, "GET", path, NULL, &resp)) != 0)
		return rc;
	chain = json_object_get(resp, "chain");
	broken = chain != NULL && !json_is_true(json_object_get(chain,
	    "verified"));
	/* A broken chain is a failure: one line naming the entry (--json
	 * still shows everything, for the one who investigates). */
	if (cli->json) {
		rc = cli_print_json(cli, resp);
	} else if (!broken) {
		json_array_foreach(json_object_get(resp, "events"), i, e) {
			double seq;

			if (cli_jnum(e, "seq", &seq))
				printf("%5.0f  ", seq);
			if (cli_jnum(e, "at", &at)) {
				cli_fmt_time((int64_t)at, when, sizeof(when));
				printf("%s  ", when);
			}
			cli_put_padded(stdout, cli_jstr(e, "action") ?
			    cli_jstr(e, "action") : "?", 6);
			cli_put_padded(stdout, cli_jstr(e, "staff") ?
			    cli_jstr(e, "staff") : "?", 12);
			cli_put_text(stdout, cli_jstr(e, "device") ?
			    cli_jstr(e, "device") : "?", NULL);
			fputs("  ", stdout);
			cli_put_text(stdout, cli_jstr(e, "what") ?
			    cli_jstr(e, "what") : "(missing)", NULL);
			putchar('\n');
		}
		if (chain != NULL) {
			double n = 0;

			cli_jnum(chain, "entries", &n);
			if (json_is_true(json_object_get(chain, "verified")))
				printf("chain verified: %.0f entries, head %s\n",
				    n, cli_jstr(chain, "head") ?
				    cli_jstr(chain, "head") : "-");
		} else {
			printf("%zu event(s) on this device; the hub keeps the "
			    "chain (renkei --dir HUB audit %s)\n",
			    json_array_size(json_object_get(resp, "events")),
			    room);
		}
	}
	if (rc == 0 && broken) {
		err = cli_jstr(chain, "error");
		rc = rk_whyf(&cli->why, RK_ECRYPTO, "%s", err != NULL ? err :
		    "the audit chain does not verify");
	}
	json_decref(resp);
	return rc;
}
