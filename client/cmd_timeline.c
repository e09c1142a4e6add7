/*
 * cmd_timeline.c - renkei timeline ROOM: a room's posts and visits, oldest
 * first, one line each:
 *   2026-11-23 14:05  佐藤 花子  BP 128/76 P 72 T 36.8 SpO2 97 — 浮腫
 */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"

enum { TL_LIMIT = 1 };

static const struct cli_opt tl_opts[] = {
	{ "limit", 1, TL_LIMIT },
	CLI_OPT_END,
};

/* Vital signs in the order and shorthand of a nursing record. */
static const struct {
	const char *key, *label;
	int decimals;
} tl_vitals[] = {
	{ "pulse", "P", 0 },
	{ "temp", "T", 1 },
	{ "spo2", "SpO2", 0 },
	{ "resp", "R", 0 },
	{ "weight", "BW", 1 },
};

static void
tl_visit(const json_t *it)
{
	const char *note = cli_jstr(it, "note");
	double sys = 0, dia = 0, v;
	size_t i;
	int n = 0, has_sys, has_dia;

	has_sys = cli_jnum(it, "bp_sys", &sys);
	has_dia = cli_jnum(it, "bp_dia", &dia);
	if (has_sys || has_dia) {
		fputs("BP ", stdout);
		if (has_sys)
			printf("%.0f", sys);
		else
			putchar('-');
		putchar('/');
		if (has_dia)
			printf("%.0f", dia);
		else
			putchar('-');
		n++;
	}
	for (i = 0; i < sizeof(tl_vitals) / sizeof(tl_vitals[0]); i++) {
		if (!cli_jnum(it, tl_vitals[i].key, &v))
			continue;
		printf("%s%s %.*f", n++ ? " " : "", tl_vitals[i].label,
		    tl_vitals[i].decimals, v);
	}
	if (note != NULL && note[0] != '\0') {
		/* A visit with only a note still reads as a visit. */
		fputs(n ? " — " : "訪問 — ", stdout);
		cli_put_text(stdout, note, NULL);
	}
}

static const char *
tl_author(const json_t *it)
{
	const char *s;

	if ((s = cli_jstr(it, "author_name")) != NULL && s[0] != '\0')
		return s;
	if ((s = cli_jstr(it, "author")) != NULL)
		return s;
	return "?";
}

/* How much of a post's id the timeline shows (read takes 4 or more). */
#define TL_ID_SHOWN 6

static void
tl_print(const json_t *items)
{
	const json_t *it;
	const char *type, *body, *id;
	char when[32];
	size_t i, w, namew = 0;
	double at;

	json_array_foreach(items, i, it)
		if ((w = cli_width(tl_author(it))) > namew)
			namew = w;
	if (namew > 24)
		namew = 24;
	json_array_foreach(items, i, it) {
		if (cli_jnum(it, "at", &at))
			cli_fmt_time((int64_t)at, when, sizeof(when));
		else
			snprintf(when, sizeof(when), "%-16s", "(no time)");
		printf("%s  ", when);
		/* Names are other people's text: print them cleaned. */
		cli_put_text(stdout, tl_author(it), NULL);
		for (w = cli_width(tl_author(it)); w < namew; w++)
			putchar(' ');
		fputs("  ", stdout);
		type = cli_jstr(it, "type");
		if (type != NULL && strcmp(type, "visit") == 0)
			tl_visit(it);
		else if ((body = cli_jstr(it, "body")) != NULL)
			cli_put_text(stdout, body, NULL);
		/* A post is answered with `renkei read ROOM ID`: its id's end,
		 * which read takes. */
		if (type != NULL && strcmp(type, "post") == 0 &&
		    (id = cli_jstr(it, "id")) != NULL && strlen(id) > TL_ID_SHOWN) {
			fputs("  #", stdout);
			cli_put_text(stdout, id + strlen(id) - TL_ID_SHOWN, NULL);
		}
		putchar('\n');
	}
}

int
cmd_timeline(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *resp = NULL, *items;
	const char *val, *room = NULL;
	char path[512], suffix[64];
	long limit = 0;
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, tl_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == TL_LIMIT) {
			if ((rc = cli_parse_long(cli, "--limit", val, 1, 10000,
			    &limit)) != 0)
				goto out;
		} else if (room == NULL)
			room = val;
		else {
			rc = cli_usage(cli, "unexpected argument '%s'", val);
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	if (room == NULL) {
		rc = cli_usage(cli, "give the ROOM");
		goto out;
	}
	if (limit > 0)
		snprintf(suffix, sizeof(suffix), "/timeline?limit=%ld", limit);
	else
		snprintf(suffix, sizeof(suffix), "/timeline");
	if ((rc = cli_room_path(cli, path, sizeof(path), room, suffix)) != 0 ||
	    (rc = cli_call(cli, "GET", path, NULL, &resp)) != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	items = json_object_get(resp, "items");
	if (json_array_size(items) == 0)
		printf("no posts or visits yet\n");
	else
		tl_print(items);
out:
	json_decref(resp);
	return rc;
}
