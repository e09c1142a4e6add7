/*
 * cmd_med.c - renkei med ROOM: the patient's medications, current first,
 * with start, stop, dose, route and prescriber.  Changes are clinical
 * (two offline edits keep both for a person to confirm).
 *
 *   renkei med ROOM
 *   renkei med ROOM add --name N [--dose D] [--route R] [--frequency F]
 *       [--start YYYY-MM-DD] [--stop YYYY-MM-DD] [--prescriber P]
 *   renkei med ROOM stop ID --date YYYY-MM-DD
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"

enum { MED_NAME = 1, MED_DOSE, MED_ROUTE, MED_FREQ, MED_START, MED_STOP,
    MED_PRESCRIBER, MED_DATE };

static const struct cli_opt med_opts[] = {
	{ "name", 1, MED_NAME },
	{ "dose", 1, MED_DOSE },
	{ "route", 1, MED_ROUTE },
	{ "frequency", 1, MED_FREQ },
	{ "start", 1, MED_START },
	{ "stop", 1, MED_STOP },
	{ "prescriber", 1, MED_PRESCRIBER },
	{ "date", 1, MED_DATE },
	CLI_OPT_END,
};

static const struct {
	int id;
	const char *key, *opt;
	int date;
} med_texts[] = {
	{ MED_NAME, "name", "--name", 0 },
	{ MED_DOSE, "dose", "--dose", 0 },
	{ MED_ROUTE, "route", "--route", 0 },
	{ MED_FREQ, "frequency", "--frequency", 0 },
	{ MED_START, "start_date", "--start", 1 },
	{ MED_STOP, "stop_date", "--stop", 1 },
	{ MED_PRESCRIBER, "prescriber", "--prescriber", 0 },
	{ MED_DATE, "stop_date", "--date", 1 },
};
#define MED_NTEXTS (sizeof(med_texts) / sizeof(med_texts[0]))

static void
med_print(const json_t *m)
{
	static const char *const keys[] = { "dose", "route", "frequency" };
	const char *s;
	size_t i;

	printf("%s ", json_is_true(json_object_get(m, "current")) ? "*" : " ");
	cli_put_text(stdout, cli_jstr(m, "id") ? cli_jstr(m, "id") : "?",
	    NULL);
	fputs("  ", stdout);
	cli_put_text(stdout, cli_jstr(m, "name") ? cli_jstr(m, "name") : "?",
	    NULL);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((s = cli_jstr(m, keys[i])) != NULL) {
			putchar(' ');
			cli_put_text(stdout, s, NULL);
		}
	printf("  %s〜%s", (s = cli_jstr(m, "start_date")) ? s : "",
	    cli_jstr(m, "stop_date") ? cli_jstr(m, "stop_date") : "");
	if ((s = cli_jstr(m, "prescriber")) != NULL) {
		fputs("  処方 ", stdout);
		cli_put_text(stdout, s, NULL);
	}
	putchar('\n');
}

int
cmd_med(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *req = NULL, *resp = NULL, *m;
	const char *val, *args[3] = { NULL, NULL, NULL }, *room, *sub;
	char path[512];
	size_t i;
	int id, rc, n = 0, given_date = 0, given_stop = 0;

	if ((req = json_object()) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, med_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == CLI_ARG) {
			if (n == 3) {
				rc = cli_usage(cli, "unexpected argument '%s'",
				    val);
				goto out;
			}
			args[n++] = val;
			continue;
		}
		given_date |= id == MED_DATE;
		given_stop |= id == MED_STOP;
		for (i = 0; i < MED_NTEXTS; i++)
			if (med_texts[i].id == id)
				break;
		if (med_texts[i].date && !cli_valid_date(val)) {
			rc = rk_whyf(&cli->why, RK_EINVAL, "%s: '%s' is not a "
			    "valid date (YYYY-MM-DD)", med_texts[i].opt, val);
			goto out;
		}
		if (json_object_get(req, med_texts[i].key) != NULL) {
			rc = cli_usage(cli, "%s given twice", med_texts[i].opt);
			goto out;
		}
		if ((rc = cli_set_str(cli, req, med_texts[i].key, val,
		    med_texts[i].opt)) != 0)
			goto out;
	}
	if (rc != 0)
		goto out;
	room = args[0];
	sub = args[1];
	if (room == NULL) {
		rc = cli_usage(cli, "give the ROOM");
		goto out;
	}
	if (sub == NULL) {
		if (json_object_size(req) > 0) {
			rc = cli_usage(cli, "options go with 'add' or 'stop'");
			goto out;
		}
		if ((rc = cli_room_path(cli, path, sizeof(path), room,
		    "/medications")) != 0 ||
		    (rc = cli_call(cli, "GET", path, NULL, &resp)) != 0)
			goto out;
		if (cli->json) {
			rc = cli_print_json(cli, resp);
			goto out;
		}
		printf("内服薬 medications  ");
		cli_put_text(stdout, room, NULL);
		printf("  (* = current)\n");
		json_array_foreach(json_object_get(resp, "medications"), i, m)
			med_print(m);
		goto out;
	}
	if (!strcmp(sub, "add")) {
		if (args[2] != NULL) {
			rc = cli_usage(cli, "unexpected argument '%s'",
			    args[2]);
			goto out;
		}
		if (json_object_get(req, "name") == NULL) {
			rc = cli_usage(cli, "add needs --name N");
			goto out;
		}
		/* --date is stop's: on add it would quietly become the
		 * day the medication stops. */
		if (given_date) {
			rc = cli_usage(cli, "--date goes with 'stop'; the day "
			    "an added medication stops is --stop");
			goto out;
		}
		rc = cli_room_path(cli, path, sizeof(path), room,
		    "/medications");
	} else if (!strcmp(sub, "stop")) {
		if (args[2] == NULL || json_object_size(req) != 1 ||
		    !given_date || given_stop) {
			rc = cli_usage(cli, "stop needs the medication's ID "
			    "and --date YYYY-MM-DD");
			goto out;
		}
		if ((rc = cli_set_str(cli, req, "id", args[2], "ID")) == 0)
			rc = cli_room_path(cli, path, sizeof(path), room,
			    "/medication-stop");
	} else {
		rc = cli_usage(cli, "'%s' is not 'add' or 'stop'", sub);
		goto out;
	}
	if (rc != 0 || (rc = cli_call(cli, "POST", path, req, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else if (!strcmp(sub, "add"))
		printf("%s\n", cli_jstr(resp, "id") ? cli_jstr(resp, "id") :
		    "?");
	else
		med_print(resp);
out:
	json_decref(req);
	json_decref(resp);
	return rc;
}
