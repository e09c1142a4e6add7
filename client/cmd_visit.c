/*
 * cmd_visit.c - renkei visit ROOM: records a home visit with the vital
 * signs measured and a note.  Values are checked here with the daemon's own
 * ranges (common/vitals.h), so a typo is caught with the same words before
 * anything is sent; renkeid checks again and decides.
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "common/vitals.h"

enum {
	VISIT_BP = 1, VISIT_PULSE, VISIT_TEMP, VISIT_SPO2, VISIT_RESP,
	VISIT_WEIGHT, VISIT_NOTE, VISIT_NOPTS
};

static const struct cli_opt visit_opts[] = {
	{ "bp", 1, VISIT_BP },
	{ "pulse", 1, VISIT_PULSE },
	{ "temp", 1, VISIT_TEMP },
	{ "spo2", 1, VISIT_SPO2 },
	{ "resp", 1, VISIT_RESP },
	{ "weight", 1, VISIT_WEIGHT },
	{ "note", 1, VISIT_NOTE },
	CLI_OPT_END,
};

/* The API field of each single-number option. */
static const char *const visit_fields[VISIT_NOPTS] = {
	[VISIT_PULSE] = "pulse",
	[VISIT_TEMP] = "temp",
	[VISIT_SPO2] = "spo2",
	[VISIT_RESP] = "resp",
	[VISIT_WEIGHT] = "weight",
};

/* Checks v for field and sets it in req as the column's type. */
static int
visit_set(struct cli *cli, json_t *req, const char *field, double v)
{
	const struct vital_range *r = vital_range_for(field);
	int rc;

	if ((rc = vital_check(field, v, &cli->why)) != 0)
		return rc;
	return cli_set(cli, req, field, r->integer ?
	    json_integer((json_int_t)v) : json_real(v));
}

/* --bp SYS/DIA, e.g. 128/76 (a full-width slash is fine too). */
static int
visit_bp(struct cli *cli, json_t *req, const char *s)
{
	const char *dia;
	char sys[32];
	double vs, vd;
	size_t n;

	n = strcspn(s, "/");
	dia = NULL;
	if (n < sizeof(sys) && s[n] == '/') {
		memcpy(sys, s, n);
		sys[n] = '\0';
		dia = s + n + 1;
	} else if ((dia = strstr(s, "\xef\xbc\x8f")) != NULL &&
	    (n = (size_t)(dia - s)) < sizeof(sys)) {
		memcpy(sys, s, n);
		sys[n] = '\0';
		dia += 3;
	} else
		dia = NULL;
	if (dia == NULL || cli_parse_number(cli, "--bp", sys, &vs) != 0 ||
	    cli_parse_number(cli, "--bp", dia, &vd) != 0)
		return rk_whyf(&cli->why, RK_EINVAL, "--bp: '%s' is not "
		    "SYS/DIA (e.g. 128/76)", s);
	if (visit_set(cli, req, "bp_sys", vs) != 0 ||
	    visit_set(cli, req, "bp_dia", vd) != 0)
		return RK_EINVAL;
	/* The daemon's rule and words: a swapped pair is a typo. */
	if (vd >= vs)
		return rk_whyf(&cli->why, RK_EINVAL, "bp_dia: %g is not below "
		    "the systolic %g", vd, vs);
	return 0;
}

int
cmd_visit(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *req = NULL, *resp = NULL;
	const char *val, *room = NULL, *s;
	char path[512], what[32];
	int id, rc, seen[VISIT_NOPTS];
	double v;

	memset(seen, 0, sizeof(seen));
	if ((req = json_object()) == NULL) {
		rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
		goto out;
	}
	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, visit_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == CLI_ARG) {
			if (room != NULL) {
				rc = cli_usage(cli, "unexpected argument '%s'",
				    val);
				goto out;
			}
			room = val;
			continue;
		}
		if (seen[id]++) {
			rc = cli_usage(cli, "--%s given twice",
			    visit_opts[id - 1].name);
			goto out;
		}
		if (id == VISIT_BP)
			rc = visit_bp(cli, req, val);
		else if (id == VISIT_NOTE)
			rc = cli_set_str(cli, req, "note", val, "--note");
		else {
			snprintf(what, sizeof(what), "--%s",
			    visit_opts[id - 1].name);
			if ((rc = cli_parse_number(cli, what, val, &v)) == 0)
				rc = visit_set(cli, req, visit_fields[id], v);
		}
		if (rc != 0)
			goto out;
	}
	if (rc != 0)
		goto out;
	if (room == NULL) {
		rc = cli_usage(cli, "give the ROOM");
		goto out;
	}
	if (json_object_size(req) == 0) {
		rc = cli_usage(cli, "give at least one of --bp, --pulse, "
		    "--temp, --spo2, --resp, --weight or --note");
		goto out;
	}
	if ((rc = cli_room_path(cli, path, sizeof(path), room,
	    "/visits")) != 0 ||
	    (rc = cli_call(cli, "POST", path, req, &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else {
		s = cli_jstr(resp, "id");
		printf("%s\n", s != NULL ? s : "?");
	}
out:
	json_decref(resp);
	json_decref(req);
	return rc;
}
