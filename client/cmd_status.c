/*
 * cmd_status.c - renkei status: what the data dir's renkeid says about
 * itself (GET /v1/status), in a few aligned lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"

static void
status_line(const char *label, const char *value)
{
	printf("%-12s ", label);
	cli_put_text(stdout, value, NULL);
	putchar('\n');
}

static void
status_count(const json_t *st, const char *label, const char *key)
{
	char v[32];
	double d;

	if (cli_jnum(st, key, &d))
		snprintf(v, sizeof(v), "%.0f", d);
	else
		snprintf(v, sizeof(v), "?");
	status_line(label, v);
}

static void
status_print(const json_t *st)
{
	const char *role = cli_jstr(st, "role"), *s;
	char when[32];
	double d;
	int have;

	status_line("role", role != NULL ? role : "?");
	s = cli_jstr(st, "device_id");
	status_line("device id", s != NULL ? s : "?");
	s = cli_jstr(st, "staff");
	status_line("staff", s != NULL && s[0] != '\0' ? s : "-");
	if ((s = cli_jstr(st, "hub")) != NULL)
		status_line("hub", s);
	else if (role != NULL && strcmp(role, "hub") == 0)
		status_line("hub", "none (this is the root hub)");
	else
		status_line("hub", "未登録 (not enrolled)");
	status_count(st, "rooms", "rooms");
	status_count(st, "pending", "pending");
	/* Unix ms; a daemon that keeps it as text sends digits. */
	have = cli_jnum(st, "last_sync", &d);
	s = cli_jstr(st, "last_sync");
	if (!have && s != NULL && s[0] != '\0' &&
	    strspn(s, "0123456789") == strlen(s)) {
		d = strtod(s, NULL);
		have = 1;
	}
	if (have) {
		cli_fmt_time((int64_t)d, when, sizeof(when));
		status_line("last sync", when);
	} else
		status_line("last sync", "never");
	status_count(st, "conflicts", "conflicts");
	/* The rooms' work, where the daemon counts it (devices). */
	if (cli_jnum(st, "requests_open", &d)) {
		status_count(st, "requests", "requests_open");
		status_count(st, "for me", "requests_for_me");
		if (cli_jnum(st, "requests_overdue", &d) && d > 0) {
			/* Overdue requests must stand out. */
			snprintf(when, sizeof(when), "%.0f  !! 期限超過", d);
			status_line("overdue", when);
		} else {
			status_count(st, "overdue", "requests_overdue");
		}
		if (cli_jnum(st, "invitations", &d) && d > 0)
			status_count(st, "invitations", "invitations");
		if (cli_jnum(st, "cards_review_due", &d) && d > 0)
			status_count(st, "card reviews", "cards_review_due");
	}
	/* Changes the hub refused (a rule, a suspended member), which never
	 * reach the others: a daemon that does not count them sends no
	 * "refused". */
	if (cli_jnum(st, "refused", &d)) {
		snprintf(when, sizeof(when), "%.0f", d);
		status_line("refused", when);
		if (d > 0 && (s = cli_jstr(st, "last_refusal")) != NULL &&
		    s[0] != '\0')
			status_line("last refusal", s);
	}
	if ((s = cli_jstr(st, "last_error")) != NULL && s[0] != '\0')
		status_line("last error", s);
}

int
cmd_status(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *st = NULL;
	const char *val;
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		rc = cli_usage(cli, "unexpected argument '%s'", val);
		goto out;
	}
	if (rc != 0)
		goto out;
	if ((rc = cli_call(cli, "GET", "/v1/status", NULL, &st)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, st);
	else
		status_print(st);
out:
	json_decref(st);
	return rc;
}
