/*
 * cmd_enroll.c - renkei enroll CODE --hub URL, on a device: renkeid
 * presents this device's keys to the hub with the one-time code the
 * administrator issued ('renkei enroll-code'), and from then on syncs with
 * that hub as the staff member the code was made for.  A note from
 * renkeid (say, the code belongs to another staff member than the one
 * this device was set up for) goes to standard error: the enrolment has
 * happened, but a person should read it.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "client/cli.h"

enum { ENROLL_HUB = 1, ENROLL_PIN };

static const struct cli_opt enroll_opts[] = {
	{ "hub", 1, ENROLL_HUB },
	{ "pin", 1, ENROLL_PIN },
	CLI_OPT_END,
};

/* 1 if url is http:// or https:// with something after it. */
static int
enroll_url_ok(const char *url)
{
	size_t n;

	if (strncasecmp(url, "https://", 8) == 0)
		n = 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		n = 7;
	else
		return 0;
	return url[n] != '\0' && url[n] != '/' &&
	    strpbrk(url, " \t\r\n") == NULL;
}

int
cmd_enroll(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *req = NULL, *resp = NULL;
	const char *val, *code = NULL, *hub = NULL, *pin = NULL, *s;
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, enroll_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == ENROLL_HUB)
			hub = val;
		else if (id == ENROLL_PIN)
			pin = val;
		else if (code == NULL)
			code = val;
		else {
			rc = cli_usage(cli, "unexpected argument '%s'", val);
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	if (code == NULL || hub == NULL) {
		rc = cli_usage(cli, "give the CODE from the hub's "
		    "administrator and --hub URL");
		goto out;
	}
	if (strspn(code, " \t") == strlen(code)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "the enrolment code is "
		    "empty");
		goto out;
	}
	if (!enroll_url_ok(hub)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "--hub: '%s' is not a hub "
		    "URL (https://HOST[:PORT], or http:// to a loopback "
		    "address for tests)", hub);
		goto out;
	}
	if ((req = json_object()) == NULL) {
		rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = cli_set_str(cli, req, "code", code, "CODE")) != 0 ||
	    (rc = cli_set_str(cli, req, "hub", hub, "--hub")) != 0 ||
	    (pin != NULL &&
	    (rc = cli_set_str(cli, req, "pin", pin, "--pin")) != 0) ||
	    (rc = cli_call(cli, "POST", "/v1/enroll", req, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else {
		s = cli_jstr(resp, "staff");
		fputs("enrolled as staff ", stdout);
		cli_put_text(stdout, s != NULL ? s : "?", NULL);
		fputs(" at ", stdout);
		s = cli_jstr(resp, "hub");
		cli_put_text(stdout, s != NULL ? s : hub, NULL);
		if ((s = cli_jstr(resp, "hub_id")) != NULL) {
			fputs(" (hub id ", stdout);
			cli_put_text(stdout, s, NULL);
			putchar(')');
		}
		putchar('\n');
	}
	/* Also with --json: stdout is for the script, this for a person.
	 * daemon/sync.h calls it "warning". */
	if ((s = cli_jstr(resp, "note")) == NULL)
		s = cli_jstr(resp, "warning");
	if (s != NULL && s[0] != '\0') {
		fflush(stdout);
		fputs("renkei: note: ", stderr);
		cli_put_text(stderr, s, NULL);
		fputc('\n', stderr);
	}
out:
	json_decref(resp);
	json_decref(req);
	return rc;
}
