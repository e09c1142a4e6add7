/*
 * cmd_conflicts.c - renkei conflicts: the conflict records of this
 * replica's rooms, each with both values side by side -- the one the row
 * took (採用) and the one that lost but is kept (不採用) -- who wrote each
 * and when.  Open ones by default; --all adds the resolved ones and the
 * history (automatic decisions kept so nothing is lost unseen).  Settle
 * one with 'renkei resolve ID --keep mine|theirs|VALUE'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"

enum { CONF_ALL = 1 };

static const struct cli_opt conf_opts[] = {
	{ "all", 0, CONF_ALL },
	CLI_OPT_END,
};

/* Japanese labels: tables, then "table.column" (card fields as on the
 * paper card, as 'renkei card' shows them). */
static const struct cli_label conf_labels[] = {
	{ "emergency_cards", "救急情報カード" },
	{ "medications", "内服薬" },
	{ "patients", "患者" },
	{ "requests", "依頼" },
	{ "rooms", "部屋" },
	{ "memberships", "メンバー" },
	{ "sheets", "情報提供書" },
	{ "posts", "投稿" },
	{ "visits", "訪問記録" },
	{ "consents", "同意" },
	{ "read_receipts", "既読" },
	{ "acp_revisions", "ACP" },
	{ "emergency_cards.diagnoses", "診断名" },
	{ "emergency_cards.allergies", "アレルギー" },
	{ "emergency_cards.medications", "内服薬" },
	{ "emergency_cards.primary_doctor", "主治医" },
	{ "emergency_cards.deputy_doctor", "副主治医" },
	{ "emergency_cards.family_contacts", "家族連絡先" },
	{ "emergency_cards.care_level", "要介護度" },
	{ "emergency_cards.acp_summary", "ACP・意思" },
	{ "emergency_cards.hospital", "希望搬送先" },
	{ "emergency_cards.primary_doctor_phone", "主治医電話" },
	{ "emergency_cards.deputy_doctor_phone", "副主治医電話" },
	{ "emergency_cards.dnar", "DNAR" },
	{ "emergency_cards.reviewed_at", "定期確認日" },
	{ "medications.name", "薬剤名" },
	{ "medications.dose", "用量" },
	{ "medications.route", "経路" },
	{ "medications.frequency", "用法" },
	{ "medications.start_date", "開始日" },
	{ "medications.stop_date", "中止日" },
	{ "medications.prescriber", "処方医" },
	{ "patients.name", "氏名" },
	{ "patients.name_kana", "ふりがな" },
	{ "patients.birth_date", "生年月日" },
	{ "patients.sex", "性別" },
	{ "patients.address", "住所" },
	{ "patients.phone", "電話" },
	{ "requests.title", "件名" },
	{ "requests.body", "内容" },
	{ "requests.assignee", "担当" },
	{ "requests.due_date", "期限" },
	{ "requests.status", "状態" },
	{ "requests.status_reason", "理由" },
	{ "sheets.content", "内容" },
	{ "rooms.title", "部屋名" },
	{ "rooms.status", "状態" },
	{ "memberships.role", "役割" },
	{ "memberships.status", "状態" },
	{ NULL, NULL },
};

static const struct cli_label conf_kinds[] = {
	{ "review", "要確認" },
	{ "deleted_edit", "削除済みの行への編集" },
	{ "insert_differs", "同時に作成" },
	{ "update_missing", "行がない編集" },
	{ "lww_lost", "上書き(履歴)" },
	{ "state_lost", "状態(履歴)" },
	{ NULL, NULL },
};

#define CONF_LABEL_W 10
#define CONF_SIDE_W 30

/* A value for a person, into out: text as is, a time for *_at numbers,
 * （空） for null, （行なし） when the row is gone. */
static void
conf_value(const json_t *side, const char *column, char *out, size_t len)
{
	const json_t *v = json_object_get(side, "value");
	size_t n = strlen(column);
	char *s;

	if (json_is_true(json_object_get(side, "missing")))
		snprintf(out, len, "（行なし）");
	else if (v == NULL || json_is_null(v))
		snprintf(out, len, "（空）");
	else if (json_is_string(v))
		snprintf(out, len, "%s", json_string_value(v));
	else if (json_is_integer(v) && n > 3 &&
	    strcmp(column + n - 3, "_at") == 0)
		cli_fmt_time(json_integer_value(v), out, len);
	else if (json_is_integer(v))
		snprintf(out, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(out, len, "%g", json_real_value(v));
	else if ((s = json_dumps(v, JSON_COMPACT)) != NULL) {
		snprintf(out, len, "%s", s);
		free(s);
	} else
		snprintf(out, len, "?");
}

/* "Name (staff-id)" of a side, or the device, or "不明". */
static void
conf_who(const json_t *side, char *out, size_t len)
{
	const char *name = cli_jstr(side, "staff_name");
	const char *staff = cli_jstr(side, "staff");
	const char *origin = cli_jstr(side, "origin");

	if (name != NULL && staff != NULL)
		snprintf(out, len, "%s (%s)", name, staff);
	else if (staff != NULL)
		snprintf(out, len, "%s", staff);
	else if (origin != NULL)
		snprintf(out, len, "端末 %s", origin);
	else
		snprintf(out, len, "不明");
	if (json_is_true(json_object_get(side, "mine")))
		snprintf(out + strlen(out), len - strlen(out), " ＊自分");
}

static void
conf_row(const char *label, const char *left, const char *right)
{
	fputs("    ", stdout);
	cli_put_padded(stdout, label, CONF_LABEL_W);
	{
		/* Text from other people cannot steer the terminal. */
		char pad[CONF_SIDE_W + 1];
		size_t w = cli_width(left), i;

		cli_put_text(stdout, left, NULL);
		for (i = 0; w < CONF_SIDE_W && i < CONF_SIDE_W - w; i++)
			pad[i] = ' ';
		pad[i] = '\0';
		fputs(pad, stdout);
		fputs("  ", stdout);
	}
	cli_put_text(stdout, right, NULL);
	putchar('\n');
}

static void
conf_show(const json_t *r)
{
	const json_t *w = json_object_get(r, "winner");
	const json_t *l = json_object_get(r, "loser");
	const char *table = cli_jstr(r, "table"), *column = cli_jstr(r, "column");
	const char *kind = cli_jstr(r, "kind"), *status = cli_jstr(r, "status");
	const char *tl, *cl, *kl;
	char tc[160], wv[4096], lv[4096], ww[256], lw[256], wt[32], lt[32];
	char when[32];
	double at;

	table = table ? table : "?";
	column = column ? column : "?";
	snprintf(tc, sizeof(tc), "%s.%s", table, column);
	tl = cli_label_of(conf_labels, table);
	cl = cli_label_of(conf_labels, tc);
	kl = kind ? cli_label_of(conf_kinds, kind) : NULL;

	cli_put_text(stdout, cli_jstr(r, "id") ? cli_jstr(r, "id") : "?",
	    NULL);
	fputs("  ", stdout);
	cli_put_text(stdout, cli_jstr(r, "room_id") ?
	    cli_jstr(r, "room_id") : "?", NULL);
	printf("  %s %s (%s)  %s (%s)  %s\n", tl ? tl : table,
	    cl ? cl : column, tc, kl ? kl : "?", kind ? kind : "?",
	    status && !strcmp(status, "open") ? "未解決 open" :
	    "解決済み resolved");
	conf_value(w, column, wv, sizeof(wv));
	conf_value(l, column, lv, sizeof(lv));
	conf_who(w, ww, sizeof(ww));
	conf_who(l, lw, sizeof(lw));
	cli_fmt_time(cli_jnum(w, "at", &at) ? (int64_t)at : 0, wt,
	    sizeof(wt));
	cli_fmt_time(cli_jnum(l, "at", &at) ? (int64_t)at : 0, lt,
	    sizeof(lt));
	conf_row("", "採用 (winner)", "不採用・保管 (loser)");
	if (cli_width(wv) <= CONF_SIDE_W && !strchr(wv, '\n') &&
	    !strchr(lv, '\n'))
		conf_row("値", wv, lv);
	else {
		/* Too long to stand side by side: one under the other. */
		fputs("    採用:   ", stdout);
		cli_put_text(stdout, wv, "            ");
		fputs("\n    不採用: ", stdout);
		cli_put_text(stdout, lv, "            ");
		putchar('\n');
	}
	conf_row("記入者", ww, lw);
	conf_row("日時", wt, lt);
	if (status != NULL && strcmp(status, "resolved") == 0) {
		const char *res = cli_jstr(r, "resolution");
		const char *by = cli_jstr(r, "resolved_by_name") ?
		    cli_jstr(r, "resolved_by_name") : cli_jstr(r, "resolved_by");

		when[0] = '\0';
		if (cli_jnum(r, "resolved_at", &at))
			cli_fmt_time((int64_t)at, when, sizeof(when));
		fputs("    解決: ", stdout);
		if (res != NULL && strcmp(res, "auto") == 0)
			fputs("規則どおり (auto; history)", stdout);
		else {
			cli_put_text(stdout, res ? res : "?", NULL);
			fputs("  ", stdout);
			cli_put_text(stdout, by ? by : "?", NULL);
		}
		printf("  %s\n", when);
	}
}

int
cmd_conflicts(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *resp = NULL, *list, *r;
	const char *val;
	size_t i;
	int id, rc, all = 0;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, conf_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == CONF_ALL) {
			all = 1;
			continue;
		}
		rc = cli_usage(cli, "unexpected argument '%s'", val);
		goto out;
	}
	if (rc != 0)
		goto out;
	if ((rc = cli_call(cli, "GET", all ? "/v1/conflicts?all=1" :
	    "/v1/conflicts", NULL, &resp)) != 0)
		goto out;
	if (cli->json) {
		rc = cli_print_json(cli, resp);
		goto out;
	}
	list = json_object_get(resp, "conflicts");
	{
		double open = 0;

		(void)cli_jnum(resp, "open", &open);
		printf("未解決の競合 %lld 件 (open conflicts: %lld)\n",
		    (long long)open, (long long)open);
	}
	json_array_foreach(list, i, r) {
		putchar('\n');
		conf_show(r);
	}
	if (json_array_size(list) > 0 && !all)
		printf("\nrenkei resolve ID --keep mine|theirs|VALUE で確定 "
		    "(settle one)\n");
out:
	json_decref(resp);
	return rc;
}
