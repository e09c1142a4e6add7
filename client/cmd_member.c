/*
 * cmd_member.c - who is in a room: invitations (the invitee accepts on
 * their own device), leaving, and the main and deputy doctor for 24-hour
 * cover (主治医・副主治医).
 *
 *   renkei member list ROOM
 *   renkei member invite ROOM STAFF
 *   renkei member invitations
 *   renkei member accept|decline ROOM
 *   renkei member leave ROOM [STAFF]
 *   renkei member doctors ROOM [--primary STAFF|-] [--deputy STAFF|-]
 *
 * A patient room keeps a doctor or dentist: the last one cannot leave
 * (renkeid says so; the hub decides).
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "client/roomwork_cli.h"
#include "common/id.h"

/* Positional arguments of a subcommand: exactly min..max of them. */
static int
mb_args(int argc, char **argv, struct cli *cli, const char **v, int min,
    int max, const char *what)
{
	struct cli_args a;
	const char *val;
	int id, rc, n = 0;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (n == max)
			return cli_usage(cli, "unexpected argument '%s'", val);
		v[n++] = val;
	}
	if (rc != 0)
		return rc;
	if (n < min)
		return cli_usage(cli, "give %s", what);
	return 0;
}

static void
mb_print(const json_t *resp)
{
	const json_t *m, *arr = json_object_get(resp, "members");
	const char *pd = cli_jstr(resp, "primary_doctor");
	const char *dd = cli_jstr(resp, "deputy_doctor");
	const char *s;
	size_t i;

	fputs("room ", stdout);
	cli_put_text(stdout, cli_jstr(resp, "room_id"), NULL);
	printf("  %s", cli_jstr(resp, "status") ? cli_jstr(resp, "status") :
	    "?");
	if ((s = cli_jstr(resp, "archive_reason")) != NULL)
		printf(" (%s)", s);
	putchar('\n');
	json_array_foreach(arr, i, m) {
		const char *id = cli_jstr(m, "staff_id");
		const char *prof = cli_jstr(m, "profession");
		const char *label = prof ? cli_label_of(cli_professions, prof) :
		    NULL;

		fputs("  ", stdout);
		cli_put_padded(stdout, id ? id : "?", 14);
		cli_put_padded(stdout, cli_jstr(m, "status") ?
		    cli_jstr(m, "status") : "?", 9);
		cli_put_padded(stdout, cli_jstr(m, "name") ?
		    cli_jstr(m, "name") : "?", 14);
		cli_put_padded(stdout, label ? label : prof ? prof : "?", 16);
		if ((s = cli_jstr(m, "agency_name")) != NULL)
			cli_put_text(stdout, s, NULL);
		if ((s = cli_jstr(m, "phone")) != NULL) {
			fputs("  TEL ", stdout);
			cli_put_text(stdout, s, NULL);
		}
		if (id && pd && !strcmp(id, pd))
			fputs("  [主治医 primary]", stdout);
		if (id && dd && !strcmp(id, dd))
			fputs("  [副主治医 deputy]", stdout);
		if ((s = cli_jstr(m, "role")) != NULL && !strcmp(s, "owner"))
			fputs("  [owner]", stdout);
		putchar('\n');
	}
}

/* POST path body; prints the answer (json) or line. */
static int
mb_post(struct cli *cli, const char *room, const char *suffix, json_t *body,
    const char *line)
{
	json_t *resp = NULL;
	char path[512];
	int rc;

	if ((rc = cli_room_path(cli, path, sizeof(path), room, suffix)) != 0 ||
	    (rc = cli_call(cli, "POST", path, body, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else if (line != NULL)
		printf("%s\n", line);
	else
		mb_print(resp);
out:
	json_decref(resp);
	return rc;
}

static int
mb_list(int argc, char **argv, struct cli *cli)
{
	json_t *resp = NULL;
	const char *v[1];
	char path[512];
	int rc;

	if ((rc = mb_args(argc, argv, cli, v, 1, 1, "ROOM")) != 0 ||
	    (rc = cli_room_path(cli, path, sizeof(path), v[0],
	    "/members")) != 0 ||
	    (rc = cli_call(cli, "GET", path, NULL, &resp)) != 0)
		return rc;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else
		mb_print(resp);
	json_decref(resp);
	return rc;
}

static int
mb_invite(int argc, char **argv, struct cli *cli)
{
	json_t *body = NULL;
	const char *v[2];
	char line[200];
	int rc;

	if ((rc = mb_args(argc, argv, cli, v, 2, 2, "ROOM and STAFF")) != 0)
		return rc;
	if (!id_valid_name(v[1]))
		return rk_whyf(&cli->why, RK_EINVAL, "STAFF: '%s' is not a "
		    "staff id", v[1]);
	if ((body = json_pack("{s:s}", "staff", v[1])) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	snprintf(line, sizeof(line), "invited %s to %s (they accept on their "
	    "device: renkei member accept %s)", v[1], v[0], v[0]);
	rc = mb_post(cli, v[0], "/members", body, line);
	json_decref(body);
	return rc;
}

static int
mb_answer(int argc, char **argv, struct cli *cli, int accept)
{
	json_t *body = NULL;
	const char *v[1];
	char line[200];
	int rc;

	if ((rc = mb_args(argc, argv, cli, v, 1, 1, "ROOM")) != 0)
		return rc;
	if ((body = json_pack("{s:b}", "accept", accept)) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	snprintf(line, sizeof(line), "%s the invitation to %s", accept ?
	    "accepted" : "declined", v[0]);
	rc = mb_post(cli, v[0], "/invitation", body, line);
	json_decref(body);
	return rc;
}

static int
mb_leave(int argc, char **argv, struct cli *cli)
{
	json_t *body = NULL, *resp = NULL;
	const char *v[2] = { NULL, NULL };
	char path[512];
	int rc;

	if ((rc = mb_args(argc, argv, cli, v, 1, 2, "ROOM [STAFF]")) != 0)
		return rc;
	if ((body = v[1] ? json_pack("{s:s}", "staff", v[1]) :
	    json_object()) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	if ((rc = cli_room_path(cli, path, sizeof(path), v[0], "/leave")) ==
	    0 && (rc = cli_call(cli, "POST", path, body, &resp)) == 0) {
		const char *was = cli_jstr(resp, "was");

		if (cli->json)
			rc = cli_print_json(cli, resp);
		else if (v[1] != NULL && was != NULL &&
		    strcmp(was, "invited") == 0)
			printf("invitation of %s to %s withdrawn\n", v[1],
			    v[0]);
		else
			printf("%s left %s\n", v[1] ? v[1] : "you", v[0]);
	}
	json_decref(resp);
	json_decref(body);
	return rc;
}

static int
mb_invitations(int argc, char **argv, struct cli *cli)
{
	json_t *resp = NULL, *inv;
	const char *v[1];
	char when[32];
	size_t i;
	double at;
	int rc;

	if ((rc = mb_args(argc, argv, cli, v, 0, 0, "")) != 0 ||
	    (rc = cli_call(cli, "GET", "/v1/invitations", NULL, &resp)) != 0)
		return rc;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	if (json_array_size(json_object_get(resp, "invitations")) == 0)
		printf("no invitations\n");
	json_array_foreach(json_object_get(resp, "invitations"), i, inv) {
		cli_put_text(stdout, cli_jstr(inv, "room_id"), NULL);
		fputs("  ", stdout);
		cli_put_text(stdout, cli_jstr(inv, "patient_name") ?
		    cli_jstr(inv, "patient_name") : cli_jstr(inv, "title") ?
		    cli_jstr(inv, "title") : "", NULL);
		fputs("  invited by ", stdout);
		cli_put_text(stdout, cli_jstr(inv, "invited_by_name") ?
		    cli_jstr(inv, "invited_by_name") : cli_jstr(inv,
		    "invited_by"), NULL);
		if (cli_jnum(inv, "invited_at", &at)) {
			cli_fmt_time((int64_t)at, when, sizeof(when));
			printf(" (%s)", when);
		}
		putchar('\n');
	}
out:
	json_decref(resp);
	return rc;
}

enum { MB_PRIMARY = 1, MB_DEPUTY };

static const struct cli_opt mb_doctor_opts[] = {
	{ "primary", 1, MB_PRIMARY },
	{ "deputy", 1, MB_DEPUTY },
	CLI_OPT_END,
};

static int
mb_doctors(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *body = NULL;
	const char *val, *room = NULL;
	int id, rc;

	if ((body = json_object()) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, mb_doctor_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		const char *key = id == MB_PRIMARY ? "primary" : "deputy";

		if (id == CLI_ARG) {
			if (room != NULL) {
				rc = cli_usage(cli, "unexpected argument '%s'",
				    val);
				goto out;
			}
			room = val;
			continue;
		}
		/* "-" names nobody. */
		if ((rc = cli_set(cli, body, key, strcmp(val, "-") == 0 ?
		    json_null() : json_string(val))) != 0)
			goto out;
	}
	if (rc != 0)
		goto out;
	if (room == NULL || json_object_size(body) == 0) {
		rc = cli_usage(cli, "give ROOM and --primary STAFF and/or "
		    "--deputy STAFF ('-' for nobody)");
		goto out;
	}
	rc = mb_post(cli, room, "/doctors", body, NULL);
out:
	json_decref(body);
	return rc;
}

int
cmd_member(int argc, char **argv, struct cli *cli)
{
	const char *sub = argc >= 2 ? argv[1] : NULL;

	if (sub == NULL)
		return cli_usage(cli, "give list, invite, invitations, accept, "
		    "decline, leave or doctors");
	if (!strcmp(sub, "list"))
		return mb_list(argc - 1, argv + 1, cli);
	if (!strcmp(sub, "invite"))
		return mb_invite(argc - 1, argv + 1, cli);
	if (!strcmp(sub, "invitations"))
		return mb_invitations(argc - 1, argv + 1, cli);
	if (!strcmp(sub, "accept"))
		return mb_answer(argc - 1, argv + 1, cli, 1);
	if (!strcmp(sub, "decline"))
		return mb_answer(argc - 1, argv + 1, cli, 0);
	if (!strcmp(sub, "leave"))
		return mb_leave(argc - 1, argv + 1, cli);
	if (!strcmp(sub, "doctors"))
		return mb_doctors(argc - 1, argv + 1, cli);
	return cli_usage(cli, "'%s' is not a member command; give list, "
	    "invite, invitations, accept, decline, leave or doctors", sub);
}
