/*
 * cmd_staff.c - renkei staff add | suspend | resume, at the hub: registers
 * a staff member of an agency with a profession, or suspends one (a staff
 * member who left, a lost login: the hub refuses every device of theirs
 * until resumed).  The profession is checked here against the list in
 * cli.c; the hub decides the rest (an unknown agency, an id taken).
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "common/id.h"

enum { STAFF_AGENCY = 1, STAFF_NAME, STAFF_PROFESSION, STAFF_PHONE };

static const struct cli_opt staff_add_opts[] = {
	{ "agency", 1, STAFF_AGENCY },
	{ "name", 1, STAFF_NAME },
	{ "profession", 1, STAFF_PROFESSION },
	{ "phone", 1, STAFF_PHONE },
	CLI_OPT_END,
};

#define STAFF_ID_RULE "1-64 of A-Z a-z 0-9 . _ -, not starting with '.' or '-'"

static int
staff_add(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *req = NULL, *resp = NULL;
	const char *val, *staff = NULL, *agency = NULL, *name = NULL;
	const char *prof = NULL, *prof_id = NULL, *phone = NULL;
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, staff_add_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == STAFF_AGENCY)
			agency = val;
		else if (id == STAFF_NAME)
			name = val;
		else if (id == STAFF_PROFESSION)
			prof = val;
		else if (id == STAFF_PHONE)
			phone = val;
		else if (staff == NULL)
			staff = val;
		else {
			rc = cli_usage(cli, "unexpected argument '%s' (quote "
			    "a name with spaces)", val);
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	if (staff == NULL || agency == NULL || name == NULL || prof == NULL) {
		rc = cli_usage(cli, "give the staff member's ID, --agency, "
		    "--name and --profession");
		goto out;
	}
	if (!id_valid_name(staff)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "staff id '%s' is not "
		    "valid (" STAFF_ID_RULE ")", staff);
		goto out;
	}
	if (!id_valid_name(agency)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "--agency: '%s' is not an "
		    "agency id (" STAFF_ID_RULE ")", agency);
		goto out;
	}
	if (strspn(name, " \t") == strlen(name)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "--name: the staff "
		    "member's name is empty");
		goto out;
	}
	if ((rc = cli_label_pick(cli, cli_professions, "--profession",
	    "profession", prof, &prof_id)) != 0)
		goto out;

	if ((req = json_object()) == NULL) {
		rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = cli_set_str(cli, req, "id", staff, "ID")) != 0 ||
	    (rc = cli_set_str(cli, req, "agency", agency, "--agency")) != 0 ||
	    (rc = cli_set_str(cli, req, "name", name, "--name")) != 0 ||
	    (rc = cli_set_str(cli, req, "profession", prof_id,
	    "--profession")) != 0)
		goto out;
	if (phone != NULL && phone[0] != '\0' &&
	    (rc = cli_set_str(cli, req, "phone", phone, "--phone")) != 0)
		goto out;
	if ((rc = cli_call(cli, "POST", "/v1/staff", req, &resp)) != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	/* What was sent: a 201 need not echo it. */
	printf("registered staff %s  ", staff);
	cli_put_text(stdout, name, NULL);
	printf("  %s, %s\n", cli_label_of(cli_professions, prof_id), agency);
out:
	json_decref(resp);
	json_decref(req);
	return rc;
}

/* staff suspend|resume ID: POST /v1/staff/ID/<verb>. */
static int
staff_set_status(int argc, char **argv, struct cli *cli, const char *verb,
    const char *done)
{
	struct cli_args a;
	json_t *resp = NULL;
	const char *val, *staff = NULL;
	char path[512], suffix[16];
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (staff != NULL) {
			rc = cli_usage(cli, "unexpected argument '%s'", val);
			goto out;
		}
		staff = val;
	}
	if (rc != 0)
		goto out;
	if (staff == NULL) {
		rc = cli_usage(cli, "give the staff member's ID");
		goto out;
	}
	if (!id_valid_name(staff)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "staff id '%s' is not "
		    "valid (" STAFF_ID_RULE ")", staff);
		goto out;
	}
	snprintf(suffix, sizeof(suffix), "/%s", verb);
	if ((rc = cli_id_path(cli, path, sizeof(path), "staff", staff,
	    suffix)) != 0 ||
	    (rc = cli_call(cli, "POST", path, NULL, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else
		printf("staff %s %s\n", staff, done);
out:
	json_decref(resp);
	return rc;
}

int
cmd_staff(int argc, char **argv, struct cli *cli)
{
	if (argc < 2)
		return cli_usage(cli, "give 'add', 'suspend' or 'resume'");
	if (strcmp(argv[1], "add") == 0)
		return staff_add(argc - 1, argv + 1, cli);
	if (strcmp(argv[1], "suspend") == 0)
		return staff_set_status(argc - 1, argv + 1, cli, "suspend",
		    "suspended: the hub refuses their devices until "
		    "'staff resume'");
	if (strcmp(argv[1], "resume") == 0)
		return staff_set_status(argc - 1, argv + 1, cli, "resume",
		    "resumed");
	return cli_usage(cli, "'%s' is not a staff command; give 'add', "
	    "'suspend' or 'resume'", argv[1]);
}
