/*
 * cmd_room.c - renkei room create | list: opening a patient room (with the
 * patient's recorded consent) and listing the rooms this replica holds.
 * Only the shape of the input is checked here; renkeid decides the rules
 * (a doctor or dentist among the members, consent not in the future).
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "common/id.h"

enum {
	ROOM_PATIENT = 1, ROOM_CONSENT_DATE, ROOM_MEMBER, ROOM_BIRTH_DATE,
	ROOM_CONSENTER, ROOM_CONSENTER_NAME, ROOM_RELATION, ROOM_SCOPE,
	ROOM_PAPER,
};

static const struct cli_opt room_create_opts[] = {
	{ "patient-name", 1, ROOM_PATIENT },
	{ "consent-date", 1, ROOM_CONSENT_DATE },
	{ "member", 1, ROOM_MEMBER },
	{ "birth-date", 1, ROOM_BIRTH_DATE },
	{ "consenter", 1, ROOM_CONSENTER },
	{ "consenter-name", 1, ROOM_CONSENTER_NAME },
	{ "relation", 1, ROOM_RELATION },
	{ "scope", 1, ROOM_SCOPE },
	{ "paper-location", 1, ROOM_PAPER },
	CLI_OPT_END,
};

#define ROOM_ID_RULE "1-64 of A-Z a-z 0-9 . _ -, not starting with '.' or '-'"

/* Optional text members of the request, in option order. */
static const struct {
	int id;
	const char *key, *opt;
} room_texts[] = {
	{ ROOM_PATIENT, "patient_name", "--patient-name" },
	{ ROOM_CONSENT_DATE, "consent_date", "--consent-date" },
	{ ROOM_BIRTH_DATE, "birth_date", "--birth-date" },
	{ ROOM_CONSENTER, "consenter", "--consenter" },
	{ ROOM_CONSENTER_NAME, "consenter_name", "--consenter-name" },
	{ ROOM_RELATION, "relation", "--relation" },
	{ ROOM_SCOPE, "scope", "--scope" },
	{ ROOM_PAPER, "paper_location", "--paper-location" },
};
#define ROOM_NTEXTS (sizeof(room_texts) / sizeof(room_texts[0]))

static int
room_create(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *req = NULL, *members = NULL, *resp = NULL;
	const char *val, *room = NULL, *text[ROOM_NTEXTS];
	size_t i;
	int id, rc;

	memset(text, 0, sizeof(text));
	if ((req = json_object()) == NULL || (members = json_array()) == NULL) {
		rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
		goto out;
	}
	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, room_create_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == CLI_ARG) {
			if (room != NULL) {
				rc = cli_usage(cli, "unexpected argument '%s'",
				    val);
				goto out;
			}
			room = val;
		} else if (id == ROOM_MEMBER) {
			if (!id_valid_name(val)) {
				rc = rk_whyf(&cli->why, RK_EINVAL, "--member: "
				    "'%s' is not a staff id (" ROOM_ID_RULE
				    ")", val);
				goto out;
			}
			if (json_array_append_new(members,
			    json_string(val)) != 0) {
				rc = rk_whyf(&cli->why, RK_ENOMEM,
				    "out of memory");
				goto out;
			}
		} else {
			for (i = 0; i < ROOM_NTEXTS; i++)
				if (room_texts[i].id == id)
					text[i] = val;
		}
	}
	if (rc != 0)
		goto out;
	if (room == NULL) {
		rc = cli_usage(cli, "give the new room's ID");
		goto out;
	}
	if (text[0] == NULL || text[1] == NULL ||
	    json_array_size(members) == 0) {
		rc = cli_usage(cli, "--patient-name, --consent-date and at "
		    "least one --member are required");
		goto out;
	}
	if (!id_valid_name(room)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "room id '%s' is not valid "
		    "(" ROOM_ID_RULE ")", room);
		goto out;
	}
	for (i = 0; i < ROOM_NTEXTS; i++) {
		if (text[i] == NULL)
			continue;
		if ((room_texts[i].id == ROOM_CONSENT_DATE ||
		    room_texts[i].id == ROOM_BIRTH_DATE) &&
		    !cli_valid_date(text[i])) {
			rc = rk_whyf(&cli->why, RK_EINVAL, "%s: '%s' is not a "
			    "valid date (YYYY-MM-DD)", room_texts[i].opt,
			    text[i]);
			goto out;
		}
		if (room_texts[i].id == ROOM_CONSENTER &&
		    strcmp(text[i], "patient") != 0 &&
		    strcmp(text[i], "family") != 0) {
			rc = rk_whyf(&cli->why, RK_EINVAL, "--consenter: '%s' "
			    "must be 'patient' or 'family'", text[i]);
			goto out;
		}
		if ((rc = cli_set_str(cli, req, room_texts[i].key, text[i],
		    room_texts[i].opt)) != 0)
			goto out;
	}
	if ((rc = cli_set_str(cli, req, "room_id", room, "ID")) != 0 ||
	    (rc = cli_set(cli, req, "members", json_incref(members))) != 0)
		goto out;

	if ((rc = cli_call(cli, "POST", "/v1/rooms", req, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else {
		val = cli_jstr(resp, "room_id");
		printf("created room %s\n", val != NULL ? val : room);
	}
out:
	json_decref(resp);
	json_decref(members);
	json_decref(req);
	return rc;
}

static void
room_print(const json_t *r, int idw)
{
	const char *s, *name;
	json_t *m;
	size_t i;

	s = cli_jstr(r, "room_id");
	cli_put_padded(stdout, s != NULL ? s : "?", (size_t)idw);
	fputs("  ", stdout);
	s = cli_jstr(r, "kind");
	cli_put_padded(stdout, s != NULL ? s : "?", 8);
	fputs("  ", stdout);
	s = cli_jstr(r, "status");
	cli_put_padded(stdout, s != NULL ? s : "?", 8);
	fputs("  ", stdout);
	name = cli_jstr(r, "patient_name");
	if (name == NULL)
		name = cli_jstr(r, "title");
	cli_put_text(stdout, name != NULL ? name : "", NULL);
	fputs("  (", stdout);
	json_array_foreach(json_object_get(r, "members"), i, m) {
		if (i > 0)
			fputs(", ", stdout);
		cli_put_text(stdout, json_is_string(m) ?
		    json_string_value(m) : "?", NULL);
	}
	fputs(")\n", stdout);
}

static int
room_list(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *resp = NULL, *rooms, *r;
	const char *val, *s;
	size_t i;
	int id, rc, idw = 4;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		rc = cli_usage(cli, "unexpected argument '%s'", val);
		goto out;
	}
	if (rc != 0)
		goto out;
	if ((rc = cli_call(cli, "GET", "/v1/rooms", NULL, &resp)) != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	rooms = json_object_get(resp, "rooms");
	if (json_array_size(rooms) == 0) {
		printf("no rooms yet\n");
		goto out;
	}
	json_array_foreach(rooms, i, r)
		if ((s = cli_jstr(r, "room_id")) != NULL &&
		    cli_width(s) > (size_t)idw)
			idw = (int)cli_width(s);
	json_array_foreach(rooms, i, r)
		room_print(r, idw);
out:
	json_decref(resp);
	return rc;
}

int
cmd_room(int argc, char **argv, struct cli *cli)
{
	if (argc < 2)
		return cli_usage(cli, "give 'create', 'list' or 'archive'");
	if (strcmp(argv[1], "create") == 0)
		return room_create(argc - 1, argv + 1, cli);
	if (strcmp(argv[1], "list") == 0)
		return room_list(argc - 1, argv + 1, cli);
	if (strcmp(argv[1], "archive") == 0)
		return cmd_room_archive(argc - 1, argv + 1, cli);
	return cli_usage(cli, "'%s' is not a room command; give 'create', "
	    "'list' or 'archive'", argv[1]);
}
