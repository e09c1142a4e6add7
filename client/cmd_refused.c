/*
 * cmd_refused.c - renkei refused: the changes this device wrote that the
 * hub refused, with the reason and what they held.  They are kept in the
 * outbox and never applied; this is where a person reads them again (to
 * write them anew, in the right room or after the rule is met).
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"

/* One row's readable columns: the text ones a person wrote. */
static void
refused_print_row(const json_t *row)
{
	static const char *const skip[] = { "room_id", "id", "hlc", "author",
	    "created_at", "recorded_by", "recorded_at", "added_by", "added_at",
	    "updated_by", "updated_at", NULL };
	const char *key;
	json_t *v;
	int i, shown = 0;

	json_object_foreach((json_t *)row, key, v) {
		for (i = 0; skip[i] != NULL && strcmp(skip[i], key); i++)
			;
		if (skip[i] != NULL || json_is_null(v))
			continue;
		fputs(shown++ ? ", " : "    ", stdout);
		cli_put_text(stdout, key, NULL);
		fputs("=", stdout);
		if (json_is_string(v))
			cli_put_text(stdout, json_string_value(v), NULL);
		else if (json_is_integer(v))
			printf("%lld", (long long)json_integer_value(v));
		else if (json_is_real(v))
			printf("%g", json_real_value(v));
	}
	if (shown)
		fputs("\n", stdout);
}

int
cmd_refused(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *resp = NULL, *list, *e, *r;
	const char *val;
	char when[32];
	size_t i, k;
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		rc = cli_usage(cli, "unexpected argument '%s'", val);
		goto out;
	}
	if (rc != 0)
		goto out;
	if ((rc = cli_call(cli, "GET", "/v1/refused", NULL, &resp)) != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	list = json_object_get(resp, "refused");
	if (json_array_size(list) == 0) {
		printf("no refused changes\n");
		goto out;
	}
	json_array_foreach(list, i, e) {
		json_t *at = json_object_get(e, "at");

		cli_fmt_time(json_is_integer(at) ? json_integer_value(at) : 0,
		    when, sizeof(when));
		printf("%s  ", when);
		cli_put_text(stdout, cli_jstr(e, "room_id") ?
		    cli_jstr(e, "room_id") : "?", NULL);
		fputs("  refused: ", stdout);
		cli_put_text(stdout, cli_jstr(e, "reason") ?
		    cli_jstr(e, "reason") : "(no reason given)", NULL);
		fputs("\n", stdout);
		json_array_foreach(json_object_get(e, "rows"), k, r) {
			printf("  %s %s\n", cli_jstr(r, "op") ?
			    cli_jstr(r, "op") : "?", cli_jstr(r, "table") ?
			    cli_jstr(r, "table") : "?");
			refused_print_row(json_object_get(r, "row"));
		}
	}
out:
	json_decref(resp);
	return rc;
}
