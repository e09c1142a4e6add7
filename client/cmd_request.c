/*
 * cmd_request.c - requests (依頼): a document or an action asked of a named
 * member of a room, with a due date, that the member acknowledges and
 * completes (or declines with a reason).  A request is never only a chat
 * message: it has its own state, and the requester sees who read it and
 * who acknowledged it.
 *
 *   renkei request ROOM --to STAFF --kind K --title T [--due D] [--body B]
 *   renkei request ack|withdraw ROOM ID
 *   renkei request done ROOM ID [--reason R]
 *   renkei request decline ROOM ID --reason R
 *   renkei requests [ROOM] [--all]
 *
 * Also the helpers of roomwork_cli.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"
#include "client/roomwork_cli.h"

const struct cli_label rwc_request_kinds[] = {
	{ "visiting-nurse-instruction", "訪問看護指示書" },
	{ "information-letter", "情報提供書" },
	{ "home-visit-request", "往診依頼" },
	{ "medication-check", "薬の確認" },
	{ "free", "その他の依頼" },
	{ NULL, NULL },
};

/* --- shared helpers ---------------------------------------------------- */

void
rwc_print_readers(const json_t *read_by)
{
	const json_t *r;
	char when[32];
	double at;
	size_t i;

	if (json_array_size(read_by) == 0) {
		fputs("-", stdout);
		return;
	}
	json_array_foreach(read_by, i, r) {
		const char *name = cli_jstr(r, "name");

		if (i > 0)
			fputs(", ", stdout);
		cli_put_text(stdout, name != NULL ? name :
		    cli_jstr(r, "staff") ? cli_jstr(r, "staff") : "?", NULL);
		if (cli_jnum(r, "read_at", &at)) {
			cli_fmt_time((int64_t)at, when, sizeof(when));
			printf(" (%s)", when);
		}
	}
}

int
rwc_set_field(struct cli *cli, json_t *o, const char *arg, const char *what)
{
	const char *eq = strchr(arg, '=');
	char field[64];
	size_t n;

	if (eq == NULL || eq == arg)
		return rk_whyf(&cli->why, RK_EINVAL, "%s: '%s' is not "
		    "FIELD=VALUE", what, arg);
	n = (size_t)(eq - arg);
	if (n >= sizeof(field))
		return rk_whyf(&cli->why, RK_EINVAL, "%s: '%.64s' is not a "
		    "field", what, arg);
	memcpy(field, arg, n);
	field[n] = '\0';
	if (json_object_get(o, field) != NULL)
		return rk_whyf(&cli->why, RK_EINVAL, "%s: %s given twice", what,
		    field);
	if (eq[1] == '\0')
		return cli_set(cli, o, field, json_null());
	return cli_set_str(cli, o, field, eq + 1, field);
}

/* --- printing requests ------------------------------------------------------ */

static const struct cli_label rq_states[] = {
	{ "open", "未確認" },
	{ "acknowledged", "確認済" },
	{ "done", "完了" },
	{ "declined", "辞退" },
	{ NULL, NULL },
};

static void
rq_print_one(const json_t *q, int with_room)
{
	const char *s, *state = cli_jstr(q, "status");
	char when[32];
	double at;

	if (json_is_true(json_object_get(q, "overdue")))
		fputs("!! 期限超過 OVERDUE  ", stdout);
	if (with_room && (s = cli_jstr(q, "room_id")) != NULL) {
		cli_put_text(stdout, s, NULL);
		fputs("  ", stdout);
	}
	cli_put_text(stdout, cli_jstr(q, "id") ? cli_jstr(q, "id") : "?",
	    NULL);
	printf("  %s", state ? state : "?");
	if (state && cli_label_of(rq_states, state))
		printf("(%s)", cli_label_of(rq_states, state));
	if (json_is_true(json_object_get(q, "withdrawn")))
		fputs(" withdrawn(取り下げ)", stdout);
	fputs("  ", stdout);
	cli_put_text(stdout, cli_jstr(q, "kind_label") ? cli_jstr(q,
	    "kind_label") : "?", NULL);
	printf("  期限 due %s\n", (s = cli_jstr(q, "due_date")) ? s : "-");
	fputs("    ", stdout);
	cli_put_text(stdout, cli_jstr(q, "title") ? cli_jstr(q, "title") : "",
	    NULL);
	putchar('\n');
	if ((s = cli_jstr(q, "body")) != NULL && s[0] != '\0') {
		fputs("    ", stdout);
		cli_put_text(stdout, s, "\n    ");
		putchar('\n');
	}
	fputs("    from ", stdout);
	cli_put_text(stdout, cli_jstr(q, "requester_name") ? cli_jstr(q,
	    "requester_name") : cli_jstr(q, "requester"), NULL);
	fputs(" → to ", stdout);
	cli_put_text(stdout, cli_jstr(q, "assignee_name") ? cli_jstr(q,
	    "assignee_name") : cli_jstr(q, "assignee"), NULL);
	if (cli_jnum(q, "created_at", &at)) {
		cli_fmt_time((int64_t)at, when, sizeof(when));
		printf("  (%s)", when);
	}
	fputs("\n    既読 read: ", stdout);
	rwc_print_readers(json_object_get(q, "read_by"));
	fputs("\n    確認 acknowledged: ", stdout);
	if (cli_jnum(q, "acknowledged_at", &at)) {
		cli_fmt_time((int64_t)at, when, sizeof(when));
		printf("%s by ", when);
		cli_put_text(stdout, cli_jstr(q, "assignee_name") ?
		    cli_jstr(q, "assignee_name") : cli_jstr(q, "assignee"),
		    NULL);
	} else
		fputs("-", stdout);
	putchar('\n');
	if (state && (!strcmp(state, "done") || !strcmp(state, "declined"))) {
		printf("    %s: ", !strcmp(state, "done") ? "完了 done" :
		    "辞退 declined");
		if (cli_jnum(q, "status_at", &at)) {
			cli_fmt_time((int64_t)at, when, sizeof(when));
			printf("%s", when);
		}
		if ((s = cli_jstr(q, "status_reason")) != NULL) {
			fputs(" — ", stdout);
			cli_put_text(stdout, s, NULL);
		}
		putchar('\n');
	}
}

/* --- request ------------------------------------------------------------- */

enum { RQ_TO = 1, RQ_KIND, RQ_TITLE, RQ_DUE, RQ_BODY, RQ_REASON };

static const struct cli_opt rq_add_opts[] = {
	{ "to", 1, RQ_TO },
	{ "kind", 1, RQ_KIND },
	{ "title", 1, RQ_TITLE },
	{ "due", 1, RQ_DUE },
	{ "body", 1, RQ_BODY },
	CLI_OPT_END,
};

static const struct cli_opt rq_state_opts[] = {
	{ "reason", 1, RQ_REASON },
	CLI_OPT_END,
};

static int
rq_add(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *req = NULL, *resp = NULL;
	const char *val, *room = NULL, *to = NULL, *kind = NULL, *title = NULL;
	const char *due = NULL, *body = NULL, *kid = NULL;
	char path[512];
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, rq_add_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		switch (id) {
		case RQ_TO: to = val; break;
		case RQ_KIND: kind = val; break;
		case RQ_TITLE: title = val; break;
		case RQ_DUE: due = val; break;
		case RQ_BODY: body = val; break;
		default:
			if (room != NULL)
				return cli_usage(cli, "unexpected argument "
				    "'%s'", val);
			room = val;
		}
	}
	if (rc != 0)
		return rc;
	if (room == NULL || to == NULL || kind == NULL || title == NULL)
		return cli_usage(cli, "give ROOM, --to STAFF, --kind K and "
		    "--title T");
	if ((rc = cli_label_pick(cli, rwc_request_kinds, "--kind",
	    "kind of request", kind, &kid)) != 0)
		return rc;
	if (due != NULL && !cli_valid_date(due))
		return rk_whyf(&cli->why, RK_EINVAL, "--due: '%s' is not a "
		    "valid date (YYYY-MM-DD)", due);
	if ((req = json_object()) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	if ((rc = cli_set_str(cli, req, "assignee", to, "--to")) != 0 ||
	    (rc = cli_set_str(cli, req, "kind", kid, "--kind")) != 0 ||
	    (rc = cli_set_str(cli, req, "title", title, "--title")) != 0 ||
	    (due && (rc = cli_set_str(cli, req, "due_date", due,
	    "--due")) != 0) ||
	    (body && (rc = cli_set_str(cli, req, "body", body,
	    "--body")) != 0) ||
	    (rc = cli_room_path(cli, path, sizeof(path), room,
	    "/requests")) != 0 ||
	    (rc = cli_call(cli, "POST", path, req, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else
		printf("%s\n", cli_jstr(resp, "id") ? cli_jstr(resp, "id") :
		    "?");
out:
	json_decref(req);
	json_decref(resp);
	return rc;
}

static int
rq_state(int argc, char **argv, struct cli *cli, const char *status)
{
	struct cli_args a;
	json_t *req = NULL, *resp = NULL;
	const char *val, *room = NULL, *rid = NULL, *reason = NULL;
	char path[512];
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, rq_state_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == RQ_REASON)
			reason = val;
		else if (room == NULL)
			room = val;
		else if (rid == NULL)
			rid = val;
		else
			return cli_usage(cli, "unexpected argument '%s'", val);
	}
	if (rc != 0)
		return rc;
	if (room == NULL || rid == NULL)
		return cli_usage(cli, "give ROOM and the request's ID");
	if (!strcmp(status, "declined") && reason == NULL)
		return cli_usage(cli, "decline needs --reason R (why, so the "
		    "requester can ask elsewhere)");
	if (reason != NULL && strcmp(status, "declined") != 0 &&
	    strcmp(status, "done") != 0)
		return cli_usage(cli, "--reason goes with done or decline");
	/* The daemon takes the end of an id too (as the lists show it). */
	if ((req = json_object()) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	if ((rc = cli_set_str(cli, req, "id", rid, "ID")) != 0 ||
	    (rc = cli_set_str(cli, req, "status", status, "status")) != 0 ||
	    (reason && (rc = cli_set_str(cli, req, "reason", reason,
	    "--reason")) != 0) ||
	    (rc = cli_room_path(cli, path, sizeof(path), room,
	    "/request-status")) != 0 ||
	    (rc = cli_call(cli, "POST", path, req, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else
		rq_print_one(resp, 0);
out:
	json_decref(req);
	json_decref(resp);
	return rc;
}

int
cmd_request(int argc, char **argv, struct cli *cli)
{
	static const struct {
		const char *verb, *status;
	} verbs[] = {
		{ "ack", "acknowledged" },
		{ "acknowledge", "acknowledged" },
		{ "done", "done" },
		{ "decline", "declined" },
		{ "withdraw", "withdrawn" },
	};
	size_t i;

	if (argc >= 2)
		for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
			if (strcmp(argv[1], verbs[i].verb) == 0)
				return rq_state(argc - 1, argv + 1, cli,
				    verbs[i].status);
	return rq_add(argc, argv, cli);
}

/* --- requests --------------------------------------------------------------- */

enum { RQ_ALL = 1 };

static const struct cli_opt rq_list_opts[] = {
	{ "all", 0, RQ_ALL },
	CLI_OPT_END,
};

int
cmd_requests(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *resp = NULL, *arr, *q;
	const char *val, *room = NULL;
	char path[512];
	size_t i, overdue = 0;
	int id, rc, all = 0;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, rq_list_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == RQ_ALL)
			all = 1;
		else if (room == NULL)
			room = val;
		else
			return cli_usage(cli, "unexpected argument '%s'", val);
	}
	if (rc != 0)
		return rc;
	if (room == NULL && all)
		return cli_usage(cli, "--all goes with a ROOM");
	if (room != NULL) {
		if ((rc = cli_room_path(cli, path, sizeof(path), room,
		    all ? "/requests?all=1" : "/requests")) != 0)
			return rc;
	} else
		snprintf(path, sizeof(path), "/v1/requests");
	if ((rc = cli_call(cli, "GET", path, NULL, &resp)) != 0)
		return rc;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	arr = json_object_get(resp, "requests");
	json_array_foreach(arr, i, q)
		if (json_is_true(json_object_get(q, "overdue")))
			overdue++;
	if (room != NULL) {
		fputs("依頼 requests in ", stdout);
		cli_put_text(stdout, room, NULL);
	} else
		fputs("依頼 open requests asked of or by me", stdout);
	printf(" — %zu, %zu overdue (today %s)\n", json_array_size(arr),
	    overdue, cli_jstr(resp, "today") ? cli_jstr(resp, "today") : "?");
	json_array_foreach(arr, i, q)
		rq_print_one(q, room == NULL);
out:
	json_decref(resp);
	return rc;
}
