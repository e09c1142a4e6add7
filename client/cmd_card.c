/*
 * cmd_card.c - renkei card ROOM: the emergency card (救急情報), what an
 * ambulance crew needs at the door.  Shows it with Japanese labels; --set
 * FIELD=VALUE edits fields (an empty VALUE clears one); --print saves the
 * printable sheet that renkeid renders (card.html) to a file, and a PDF of
 * it where a converter is installed (client/print.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"
#include "client/client.h"
#include "client/print.h"
#include "common/api.h"

enum { CARD_SET = 1, CARD_PRINT, CARD_OUT, CARD_PDF, CARD_NO_PDF };

static const struct cli_opt card_opts[] = {
	{ "set", 1, CARD_SET },
	{ "print", 0, CARD_PRINT },
	{ "out", 1, CARD_OUT },
	{ "pdf", 1, CARD_PDF },
	{ "no-pdf", 0, CARD_NO_PDF },
	CLI_OPT_END,
};

/* The fields a client may set (common/api.h), in display order. */
static const char *const card_fields[] = { API_CARD_FIELDS, NULL };

/* Japanese labels as on the paper cards; a field missing here (a newer
 * daemon's) is shown under its own name. */
static const struct {
	const char *field, *label;
} card_labels[] = {
	{ "patient_name", "患者" },
	{ "birth_date", "生年月日" },
	{ "diagnoses", "診断名" },
	{ "allergies", "アレルギー" },
	{ "medications", "内服薬" },
	{ "primary_doctor", "主治医" },
	{ "deputy_doctor", "副主治医" },
	{ "family_contacts", "家族連絡先" },
	{ "care_level", "要介護度" },
	{ "acp_summary", "ACP・意思" },
	{ "hospital", "希望搬送先" },
	{ "updated", "最終更新" },
};

#define CARD_LABEL_W 12
#define CARD_FIELD_W 17
#define CARD_INDENT "                             "	/* the two above */

static const char *
card_label(const char *field)
{
	size_t i;

	for (i = 0; i < sizeof(card_labels) / sizeof(card_labels[0]); i++)
		if (strcmp(card_labels[i].field, field) == 0)
			return card_labels[i].label;
	return field;
}

static void
card_row(const char *field, const char *value)
{
	cli_put_padded(stdout, card_label(field), CARD_LABEL_W);
	cli_put_padded(stdout, field, CARD_FIELD_W);
	if (value == NULL || value[0] == '\0')
		fputs("未記入", stdout);
	else
		cli_put_text(stdout, value, CARD_INDENT);
	putchar('\n');
}

static void
card_show(const char *room, const json_t *card)
{
	const char *by;
	char when[32], upd[128];
	double at;
	size_t i;

	printf("救急情報カード (emergency card)  ");
	cli_put_text(stdout, room, NULL);
	putchar('\n');
	card_row("patient_name", cli_jstr(card, "patient_name"));
	card_row("birth_date", cli_jstr(card, "birth_date"));
	for (i = 0; card_fields[i] != NULL; i++)
		card_row(card_fields[i], cli_jstr(card, card_fields[i]));
	by = cli_jstr(card, "updated_by");
	if (cli_jnum(card, "updated_at", &at)) {
		cli_fmt_time((int64_t)at, when, sizeof(when));
		snprintf(upd, sizeof(upd), "%s  %s", when,
		    by != NULL ? by : "");
		card_row("updated", upd);
	} else
		card_row("updated", NULL);
}

static int
card_field_known(const char *name, size_t len)
{
	size_t i;

	for (i = 0; card_fields[i] != NULL; i++)
		if (strlen(card_fields[i]) == len &&
		    strncmp(card_fields[i], name, len) == 0)
			return 1;
	return 0;
}

/* Adds one --set FIELD=VALUE to patch; an empty VALUE clears the field. */
static int
card_add_set(struct cli *cli, json_t *patch, const char *arg)
{
	char field[64], list[512];
	const char *eq = strchr(arg, '=');
	size_t n, i;

	if (eq == NULL)
		return rk_whyf(&cli->why, RK_EINVAL, "--set: '%s' is not "
		    "FIELD=VALUE", arg);
	n = (size_t)(eq - arg);
	if (n >= sizeof(field) || !card_field_known(arg, n)) {
		list[0] = '\0';
		for (i = 0; card_fields[i] != NULL; i++) {
			strncat(list, i ? ", " : "", sizeof(list) -
			    strlen(list) - 1);
			strncat(list, card_fields[i], sizeof(list) -
			    strlen(list) - 1);
		}
		return rk_whyf(&cli->why, RK_EINVAL, "unknown card field "
		    "'%.*s'; fields are: %s", (int)(n < 64 ? n : 64), arg,
		    list);
	}
	memcpy(field, arg, n);
	field[n] = '\0';
	if (json_object_get(patch, field) != NULL)
		return rk_whyf(&cli->why, RK_EINVAL, "--set: %s given twice",
		    field);
	if (eq[1] == '\0')
		return cli_set(cli, patch, field, json_null());
	return cli_set_str(cli, patch, field, eq + 1, field);
}

/* Fetches the printable sheet and writes it (and its PDF) as po says. */
static int
card_print(struct cli *cli, const char *room, const struct print_opts *po,
    struct print_done *done)
{
	const char *dir = NULL;
	uint8_t *html = NULL;
	char url[512];
	size_t len = 0;
	int rc;

	if ((rc = cli_need_dir(cli, &dir)) != 0 ||
	    (rc = cli_room_path(cli, url, sizeof(url), room,
	    "/card.html")) != 0)
		goto out;
	/* html is ours (free()). */
	if ((rc = client_call_raw(dir, "GET", url, NULL, NULL, 0, &html, &len,
	    NULL, &cli->why)) != 0)
		goto out;
	rc = print_sheet(cli, room, "card", html, len, po, done);
out:
	free(html);
	return rc;
}

int
cmd_card(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	struct print_opts po = { NULL, NULL, 0 };
	struct print_done done;
	json_t *patch = NULL, *card = NULL, *o = NULL;
	const char *val, *room = NULL;
	char url[512];
	int id, rc, print = 0;

	if ((patch = json_object()) == NULL) {
		rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
		goto out;
	}
	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, card_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		switch (id) {
		case CARD_SET:
			if ((rc = card_add_set(cli, patch, val)) != 0)
				goto out;
			break;
		case CARD_PRINT:
			print = 1;
			break;
		case CARD_OUT:
			po.out = val;
			break;
		case CARD_PDF:
			po.pdf = val;
			break;
		case CARD_NO_PDF:
			po.no_pdf = 1;
			break;
		default:
			if (room != NULL) {
				rc = cli_usage(cli, "unexpected argument '%s'",
				    val);
				goto out;
			}
			room = val;
		}
	}
	if (rc != 0)
		goto out;
	if (room == NULL) {
		rc = cli_usage(cli, "give the ROOM");
		goto out;
	}
	if ((rc = print_check_opts(cli, print, &po)) != 0)
		goto out;
	if (po.out != NULL && strcmp(po.out, "-") == 0 &&
	    (cli->json || json_object_size(patch) > 0)) {
		rc = cli_usage(cli, "--out - (the sheet on standard output) "
		    "cannot go with --set or --json");
		goto out;
	}

	if ((rc = cli_room_path(cli, url, sizeof(url), room, "/card")) != 0)
		goto out;
	if (json_object_size(patch) > 0)
		rc = cli_call(cli, "PATCH", url, patch, &card);
	else if (!print)
		rc = cli_call(cli, "GET", url, NULL, &card);
	if (rc != 0)
		goto out;
	if (print && (rc = card_print(cli, room, &po, &done)) != 0)
		goto out;

	if (cli->json && print) {
		if ((o = json_object()) == NULL) {
			rc = rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = cli_set_str(cli, o, "room_id", room, "ROOM")) != 0 ||
		    (rc = cli_set_str(cli, o, "path", done.html, "--out")) ||
		    (rc = cli_set(cli, o, "bytes",
		    json_integer((json_int_t)done.bytes))) != 0 ||
		    (rc = done.pdf[0] != '\0' ? cli_set_str(cli, o, "pdf",
		    done.pdf, "--pdf") : cli_set(cli, o, "pdf",
		    json_null())) != 0 ||
		    (done.pdf_skipped != NULL && (rc = cli_set(cli, o,
		    "pdf_skipped", json_string(done.pdf_skipped))) != 0) ||
		    (card != NULL && (rc = cli_set(cli, o, "card",
		    json_incref(card))) != 0))
			goto out;
		rc = cli_print_json(cli, o);
	} else if (cli->json)
		rc = cli_print_json(cli, card);
	else {
		if (card != NULL)
			card_show(room, card);
		if (print && strcmp(done.html, "-") != 0)
			printf("%s\n", done.html);
		if (print && done.pdf[0] != '\0' && strcmp(done.html, "-") != 0)
			printf("%s\n", done.pdf);
	}
out:
	json_decref(o);
	json_decref(card);
	json_decref(patch);
	return rc;
}
