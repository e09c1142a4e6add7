/*
 * cmd_enroll_code.c - renkei enroll-code --staff S, at the hub: a one-time
 * code that enrols one device of staff S ('renkei enroll CODE --hub URL'
 * on the device).  The administrator reads it out or hands it over on
 * paper; scripts take the last line of the output, which is the code
 * alone (DESIGN.md, Contracts).
 */
#include <stdint.h>
#include <stdio.h>

#include "client/cli.h"
#include "common/id.h"

enum { EC_STAFF = 1 };

static const struct cli_opt ec_opts[] = {
	{ "staff", 1, EC_STAFF },
	CLI_OPT_END,
};

int
cmd_enroll_code(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *req = NULL, *resp = NULL;
	const char *val, *staff = NULL, *code, *s;
	char when[32];
	double at;
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, ec_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == EC_STAFF)
			staff = val;
		else {
			rc = cli_usage(cli, "unexpected argument '%s'", val);
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	if (staff == NULL) {
		rc = cli_usage(cli, "give --staff S, the staff member whose "
		    "device the code enrols");
		goto out;
	}
	if (!id_valid_name(staff)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "--staff: '%s' is not a "
		    "staff id (1-64 of A-Z a-z 0-9 . _ -, not starting with "
		    "'.' or '-')", staff);
		goto out;
	}
	if ((req = json_object()) == NULL) {
		rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = cli_set_str(cli, req, "staff", staff, "--staff")) != 0 ||
	    (rc = cli_call(cli, "POST", "/v1/enroll-codes", req, &resp)) != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	if ((code = cli_jstr(resp, "code")) == NULL || code[0] == '\0') {
		rc = rk_whyf(&cli->why, RK_EPROTO, "renkeid's answer holds no "
		    "enrolment code");
		goto out;
	}
	if ((s = cli_jstr(resp, "staff")) == NULL)
		s = staff;
	fputs("enrolment code for ", stdout);
	cli_put_text(stdout, s, NULL);
	if (cli_jnum(resp, "expires_at", &at)) {
		cli_fmt_time((int64_t)at, when, sizeof(when));
		printf(" (expires %s)", when);
	}
	fputs(":\n", stdout);
	/* The last line, the code alone: scripts take it. */
	cli_put_text(stdout, code, NULL);
	putchar('\n');
out:
	json_decref(resp);
	json_decref(req);
	return rc;
}
