/*
 * cmd_agency.c - renkei agency add ID --name N --kind K: registers an
 * agency (a clinic, a visiting-nurse station, ...) at the hub, the first
 * step before its staff and their devices.  The kind is checked here
 * against the list in cli.c so a typo gets the list at once; the hub
 * decides the rest (an id already taken, a store that is not a hub's).
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "common/id.h"

enum { AGENCY_NAME = 1, AGENCY_KIND };

static const struct cli_opt agency_add_opts[] = {
	{ "name", 1, AGENCY_NAME },
	{ "kind", 1, AGENCY_KIND },
	CLI_OPT_END,
};

#define AGENCY_ID_RULE "1-64 of A-Z a-z 0-9 . _ -, not starting with '.' or '-'"

static int
agency_add(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *req = NULL, *resp = NULL;
	const char *val, *agency = NULL, *name = NULL, *kind = NULL;
	const char *kind_id = NULL;
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, agency_add_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == AGENCY_NAME)
			name = val;
		else if (id == AGENCY_KIND)
			kind = val;
		else if (agency == NULL)
			agency = val;
		else {
			rc = cli_usage(cli, "unexpected argument '%s' (quote "
			    "a name with spaces)", val);
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	if (agency == NULL || name == NULL || kind == NULL) {
		rc = cli_usage(cli, "give the agency's ID, --name and --kind");
		goto out;
	}
	if (!id_valid_name(agency)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "agency id '%s' is not "
		    "valid (" AGENCY_ID_RULE ")", agency);
		goto out;
	}
	if (strspn(name, " \t") == strlen(name)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "--name: the agency's "
		    "name is empty");
		goto out;
	}
	if ((rc = cli_label_pick(cli, cli_agency_kinds, "--kind",
	    "kind of agency", kind, &kind_id)) != 0)
		goto out;

	if ((req = json_object()) == NULL) {
		rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = cli_set_str(cli, req, "id", agency, "ID")) != 0 ||
	    (rc = cli_set_str(cli, req, "name", name, "--name")) != 0 ||
	    (rc = cli_set_str(cli, req, "kind", kind_id, "--kind")) != 0 ||
	    (rc = cli_call(cli, "POST", "/v1/agencies", req, &resp)) != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	/* What was sent: a 201 need not echo it. */
	printf("registered agency %s  ", agency);
	cli_put_text(stdout, name, NULL);
	printf("  (%s)\n", cli_label_of(cli_agency_kinds, kind_id));
out:
	json_decref(resp);
	json_decref(req);
	return rc;
}

int
cmd_agency(int argc, char **argv, struct cli *cli)
{
	if (argc < 2)
		return cli_usage(cli, "give 'add'");
	if (strcmp(argv[1], "add") == 0)
		return agency_add(argc - 1, argv + 1, cli);
	return cli_usage(cli, "'%s' is not an agency command; give 'add'",
	    argv[1]);
}
