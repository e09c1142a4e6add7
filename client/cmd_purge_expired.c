/*
 * cmd_purge_expired.c - renkei purge-expired [--dry-run], at the hub:
 * removes the archived rooms whose retention period (renkei.conf
 * retention_days) has ended, and tells their devices to remove them too.
 * renkeid does the same at start and daily; this runs it now, or with
 * --dry-run only shows what it would remove.  Prints room ids and counts
 * only: nothing of the patients.
 */
#include <stdio.h>

#include "client/cli.h"

enum { PE_DRY_RUN = 1 };

static const struct cli_opt pe_opts[] = {
	{ "dry-run", 0, PE_DRY_RUN },
	CLI_OPT_END,
};

static void
pe_day(const json_t *o, const char *key, char out[11])
{
	char t[32];
	double ms = 0;

	(void)cli_jnum(o, key, &ms);
	cli_fmt_time((int64_t)ms, t, sizeof(t));
	snprintf(out, 11, "%.10s", t);
}

static void
pe_print(const json_t *resp, int dry)
{
	const json_t *purged = json_object_get(resp, "purged");
	const json_t *kept = json_object_get(resp, "kept");
	const json_t *r;
	double days = 0, n = 0;
	char day[11];
	size_t i;

	(void)cli_jnum(resp, "retention_days", &days);
	printf("保存期間 retention period: %.0f 日 days\n", days);
	if (json_array_size(purged) == 0)
		printf("%s\n", dry ? "削除対象の部屋はありません / no room would "
		    "be purged" : "削除した部屋はありません / no room purged");
	else
		printf("%s %zu 件 / %s %zu room(s):\n", dry ? "削除予定" :
		    "削除しました", json_array_size(purged), dry ? "would purge"
		    : "purged", json_array_size(purged));
	json_array_foreach(purged, i, r) {
		const char *head = cli_jstr(r, "audit_head");
		double rows = 0, ent = 0;

		(void)cli_jnum(r, "rows_removed", &rows);
		(void)cli_jnum(r, "audit_entries", &ent);
		pe_day(r, "archived_at", day);
		printf("  %s  アーカイブ archived %s  行 rows %.0f  監査 audit "
		    "%.0f", cli_jstr(r, "room_id"), day, rows, ent);
		if (head != NULL)
			printf(" (head %.16s…)", head);
		putchar('\n');
	}
	if (json_array_size(kept) > 0)
		printf("保存期間中 kept (retention period not over): %zu 件 "
		    "room(s)\n", json_array_size(kept));
	json_array_foreach(kept, i, r) {
		pe_day(r, "purge_after", day);
		printf("  %s  削除予定日 purge after %s\n",
		    cli_jstr(r, "room_id"), day);
	}
	if (cli_jnum(resp, "already_purged", &n) && n > 0)
		printf("削除済み already purged before: %.0f 件 room(s)\n", n);
	if (dry && json_array_size(purged) > 0)
		printf("(--dry-run: 何も変更していません / nothing was "
		    "changed)\n");
}

int
cmd_purge_expired(int argc, char **argv, struct cli *cli)
{
	struct cli_args a;
	json_t *req = NULL, *resp = NULL;
	const char *val;
	int id, rc, dry = 0;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, pe_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == PE_DRY_RUN)
			dry = 1;
		else
			return cli_usage(cli, "unexpected argument '%s'", val);
	}
	if (rc != 0)
		return rc;
	if ((req = json_pack("{s:b}", "dry_run", dry)) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	if ((rc = cli_call(cli, "POST", "/v1/purge-expired", req,
	    &resp)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, resp);
	else
		pe_print(resp, dry);
out:
	json_decref(req);
	json_decref(resp);
	return rc;
}
