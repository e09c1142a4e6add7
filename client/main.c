/*
 * main.c - renkei, the command-line client of renkeid and its admin tool:
 * the global options, the command table, and the one place that prints a
 * failure and picks the exit status (0 ok, 1 failure, 2 usage).
 *
 * A new command is a file client/cmd_<name>.c, a prototype in cli.h and a
 * line in cli_commands below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "client/cli.h"
#include "client/roomwork_cli.h"
#include "common/log.h"

#define MAIN_USAGE "[--dir D] [--json] COMMAND [ARGS]"

static void
main_more_kinds(FILE *f)
{
	fputs("\nK, the kind of agency (its Japanese label is accepted too):\n",
	    f);
	cli_print_labels(f, cli_agency_kinds);
}

static void
main_more_professions(FILE *f)
{
	fputs("\nP, the profession (its Japanese label is accepted too):\n",
	    f);
	cli_print_labels(f, cli_professions);
	fputs("\nA suspended staff member's devices are refused by the hub "
	    "until resumed.\n", f);
}

static void
main_more_enroll_code(FILE *f)
{
	fputs("\nThe code is alone on the last line of the output; it works "
	    "once, until it\nexpires, for a device of staff S.\n", f);
}

static void
main_more_sync(FILE *f)
{
	fputs("\nExit status 0 when every change written here is acknowledged "
	    "and the hub's\nchanges are pulled (in step); else 1 with the "
	    "reason.  --timeout (default\n120) bounds the wait; the sync goes "
	    "on in renkeid.  --quiet shows no progress\nand no success line "
	    "(nor the note about changes refused before this run).\n", f);
}

static void
main_more_conflicts(FILE *f)
{
	fputs("\nWhen two people changed the same thing offline, the later "
	    "change is kept now\n(採用, winner) and the other one (不採用, "
	    "loser) is kept in a conflict\nrecord, shown to every member of "
	    "the room until someone confirms a value.\nOpen ones by default; "
	    "--all adds resolved ones and history (changes a rule\ndecided, "
	    "kept so nothing is lost unseen).  ID may be shortened to its "
	    "last\ncharacters (6 or more) in 'renkei resolve'.\n", f);
}

static void
main_more_resolve(FILE *f)
{
	fputs("\n--keep mine     the value written by you (your staff id, on "
	    "any device)\n--keep theirs   the other value (when one of them "
	    "is yours)\n--keep VALUE    this text instead (--keep '' keeps "
	    "an empty text)\nThe value is written to the record and the "
	    "conflict marked resolved, in one\nchange that syncs like any "
	    "other; the resolved record stays as history.\n", f);
}

static void
main_more_request(FILE *f)
{
	fputs("\nK, the kind of request (its Japanese label is accepted too):\n",
	    f);
	cli_print_labels(f, rwc_request_kinds);
	fputs("\nOnly the member asked (--to) acknowledges, completes or "
	    "declines a request\n(decline needs --reason); only the "
	    "requester withdraws it.  The due date\nis not before today.  "
	    "ID may be given by its last characters (4 or more).\n", f);
}

/* The PDF beside a printed sheet (client/print.h), for card and sheet. */
static void
main_more_print(FILE *f)
{
	fputs("\nWith --print a PDF is written beside the HTML file (FILE.pdf "
	    "for FILE.html),\nor to --pdf FILE, by headless Chromium "
	    "(chromium or chromium-browser on\nPATH, or the program "
	    "$RENKEI_PDF_CONVERTER names), offline, in at most\n"
	    "$RENKEI_PDF_TIMEOUT seconds (60).  Both files are readable by "
	    "their owner\nonly.  Without a converter only the HTML is "
	    "written, with a note; --no-pdf\nskips the PDF.\n", f);
}

static void
main_more_card(FILE *f)
{
	fputs("\n--print writes the one-page printable sheet, dated, for the "
	    "patient's fridge,\nto FILE (default ROOM-card.html; '-' for "
	    "standard output).\n", f);
	main_more_print(f);
}

static void
main_more_sheet(FILE *f)
{
	fputs("\nA sheet starts filled from what the room holds (patient, "
	    "emergency card,\nteam, ACP, medications, last vitals); the "
	    "first --set saves it, --new\nstarts another one (the next "
	    "admission).  --print writes the printable\npage to FILE "
	    "(default ROOM-KIND.html; '-' for standard output).\n", f);
	main_more_print(f);
}

static void
main_more_purge_expired(FILE *f)
{
	fputs("\nAn archived room is kept read-only for the retention period "
	    "(renkei.conf\nretention_days, default 1827 days: 5 years, "
	    "医師法), counted from the day\nit was archived; then every row "
	    "of it is removed from the hub, and each\ndevice that held it "
	    "removes it at its next sync.  The hub keeps only the\nroom id, "
	    "the dates, the number of rows removed and the head of its "
	    "audit\nchain; the id cannot be used again.  renkeid runs this "
	    "at start and daily;\n--dry-run shows what would go and changes "
	    "nothing.\n", f);
}

static void
main_more_audit(FILE *f)
{
	fputs("\nOn the hub: every read and write of the room through the "
	    "API (who, device,\nwhen, what), in the hub's hash chain; "
	    "exit status 1 naming the first\nbroken entry if the chain does "
	    "not verify.  On a device: the events this\nreplica holds; its "
	    "own noted reads are queued to sync first.\n", f);
}

const struct cmd cli_commands[] = {
	{ "init", cmd_init, 0,
	  "init --dir D --role hub|device [--passphrase-file F] [--staff S]\n"
	  "    [--listen HOST:PORT] [--kdf interactive|moderate|sensitive]"
	  " [--json]",
	  "create a data dir: device id, keys and renkei.conf", NULL },
	{ "status", cmd_status, 1,
	  "--dir D status [--json]",
	  "role, device id, hub, rooms, pending changes, last sync", NULL },
	{ "agency", cmd_agency, 1,
	  "--dir HUB agency add ID --name N --kind K [--json]",
	  "register an agency at the hub", main_more_kinds },
	{ "staff", cmd_staff, 1,
	  "--dir HUB staff add ID --agency A --name N --profession P\n"
	  "    [--phone T] [--json]\n"
	  "|--dir HUB staff suspend|resume ID [--json]",
	  "register a staff member at the hub; suspend or resume one",
	  main_more_professions },
	{ "enroll-code", cmd_enroll_code, 1,
	  "--dir HUB enroll-code --staff S [--json]",
	  "issue a one-time code that enrols a device of staff S",
	  main_more_enroll_code },
	{ "revoke", cmd_revoke, 1,
	  "--dir HUB revoke DEVICE [--json]",
	  "revoke a lost or retired device at the hub", NULL },
	{ "purge-expired", cmd_purge_expired, 1,
	  "--dir HUB purge-expired [--dry-run] [--json]",
	  "purge the archived rooms whose retention period has ended",
	  main_more_purge_expired },
	{ "directory", cmd_directory, 1,
	  "--dir HUB directory [--json]",
	  "the hub's agencies, staff and devices", NULL },
	{ "enroll", cmd_enroll, 1,
	  "--dir DEV enroll CODE --hub URL [--pin sha256//BASE64] [--json]",
	  "enrol this device at a hub with a one-time code", NULL },
	{ "sync", cmd_sync, 1,
	  "--dir DEV sync [--timeout SECONDS] [--quiet] [--json]",
	  "push and pull now; exit 0 when in step with the hub",
	  main_more_sync },
	{ "room", cmd_room, 1,
	  "--dir D room create ID --patient-name N --consent-date YYYY-MM-DD\n"
	  "    --member S [--member S ...] [--birth-date YYYY-MM-DD]\n"
	  "    [--consenter patient|family] [--consenter-name N]"
	  " [--relation R]\n"
	  "    [--scope TEXT] [--paper-location TEXT] [--json]\n"
	  "|--dir D room list [--json]\n"
	  "|--dir D room archive ROOM --reason death|moved|consent_withdrawn"
	  " [--json]",
	  "open a patient room (with consent), list the rooms, archive one",
	  NULL },
	{ "post", cmd_post, 1,
	  "--dir D post ROOM TEXT|- [--json]",
	  "post a message to a room", NULL },
	{ "visit", cmd_visit, 1,
	  "--dir D visit ROOM [--bp SYS/DIA] [--pulse N] [--temp C]"
	  " [--spo2 N]\n"
	  "    [--resp N] [--weight KG] [--note TEXT] [--json]",
	  "record a home visit with its vital signs", NULL },
	{ "timeline", cmd_timeline, 1,
	  "--dir D timeline ROOM [--limit N] [--json]",
	  "a room's posts and visits, oldest first", NULL },
	{ "card", cmd_card, 1,
	  "--dir D card ROOM [--set FIELD=VALUE ...]\n"
	  "    [--print [--out FILE] [--pdf FILE | --no-pdf]] [--json]",
	  "the emergency card (救急情報): read, edit, printable sheet",
	  main_more_card },
	{ "hash", cmd_hash, 1,
	  "--dir D hash ROOM [--json]",
	  "a room's content hash, the same on every replica in step", NULL },
	{ "refused", cmd_refused, 1,
	  "--dir DEV refused [--json]",
	  "changes the hub refused: kept, with the reason and their content",
	  NULL },
	{ "conflicts", cmd_conflicts, 1,
	  "--dir D conflicts [--all] [--json]",
	  "conflicts kept for review, both values side by side",
	  main_more_conflicts },
	{ "resolve", cmd_resolve, 1,
	  "--dir D resolve ID --keep mine|theirs|VALUE [--json]",
	  "settle a conflict: keep one value (it syncs like any change)",
	  main_more_resolve },
	{ "request", cmd_request, 1,
	  "--dir D request ROOM --to STAFF --kind K --title T"
	  " [--due YYYY-MM-DD]\n"
	  "    [--body B] [--json]\n"
	  "|--dir D request ack|withdraw ROOM ID [--json]\n"
	  "|--dir D request done ROOM ID [--reason R] [--json]\n"
	  "|--dir D request decline ROOM ID --reason R [--json]",
	  "ask a member for a document or an action (依頼); answer one",
	  main_more_request },
	{ "requests", cmd_requests, 1,
	  "--dir D requests [ROOM [--all]] [--json]",
	  "requests with who read and acknowledged them; overdue first",
	  NULL },
	{ "read", cmd_read, 1,
	  "--dir D read ROOM ID [--json]",
	  "mark a post or request read (\"OK\"); shows who has read it",
	  NULL },
	{ "member", cmd_member, 1,
	  "--dir D member list ROOM [--json]\n"
	  "|--dir D member invite ROOM STAFF [--json]\n"
	  "|--dir D member invitations [--json]\n"
	  "|--dir D member accept|decline ROOM [--json]\n"
	  "|--dir D member leave ROOM [STAFF] [--json]\n"
	  "|--dir D member doctors ROOM [--primary STAFF|-]"
	  " [--deputy STAFF|-] [--json]",
	  "a room's members: invite, accept, leave; main and deputy doctor",
	  NULL },
	{ "patient", cmd_patient, 1,
	  "--dir D patient ROOM [--set FIELD=VALUE ...] [--json]",
	  "the patient's name, birth date, address and phone", NULL },
	{ "acp", cmd_acp, 1,
	  "--dir D acp ROOM [--json]\n"
	  "|--dir D acp ROOM --record --wishes W --present P [--dnar D]\n"
	  "    [--summary S] [--date YYYY-MM-DD] [--json]",
	  "ACP (人生会議): the wishes with their history; record a revision",
	  NULL },
	{ "med", cmd_med, 1,
	  "--dir D med ROOM [--json]\n"
	  "|--dir D med ROOM add --name N [--dose D] [--route R]"
	  " [--frequency F]\n"
	  "    [--start YYYY-MM-DD] [--stop YYYY-MM-DD] [--prescriber P]"
	  " [--json]\n"
	  "|--dir D med ROOM stop ID --date YYYY-MM-DD [--json]",
	  "the medication list: add, stop", NULL },
	{ "sheet", cmd_sheet, 1,
	  "--dir D sheet ROOM admission|discharge [--set FIELD=VALUE ...]"
	  " [--new]\n"
	  "    [--print [--out FILE] [--pdf FILE | --no-pdf]] [--json]",
	  "admission/discharge information sheets, filled from the room",
	  main_more_sheet },
	{ "audit", cmd_audit, 1,
	  "--dir D audit ROOM [--json]",
	  "who read and wrote what in a room; the hub verifies its chain",
	  main_more_audit },
	{ "help", cmd_help, 0,
	  "help [COMMAND]",
	  "list the commands, or show how to use one", NULL },
	{ NULL, NULL, 0, NULL, NULL, NULL },
};

const struct cmd *
cli_command(const char *name)
{
	const struct cmd *c;

	for (c = cli_commands; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

void
cli_print_usage(FILE *f, const struct cmd *c)
{
	const char *p = c->usage, *nl;
	int first = 1;

	/* '\n' continues a synopsis; "\n|" starts another one. */
	while (*p != '\0') {
		nl = strchr(p, '\n');
		if (*p == '|') {
			p++;
			first = 2;
		}
		fprintf(f, "%s%.*s\n", first == 1 ? "usage: renkei " :
		    first == 2 ? "   or: renkei " : "       ",
		    nl != NULL ? (int)(nl - p) : (int)strlen(p), p);
		first = 0;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

/* The usage, the help line and any more for one command. */
static void
main_help_one(FILE *f, const struct cmd *c)
{
	cli_print_usage(f, c);
	fprintf(f, "\n%s\n", c->help);
	if (c->more != NULL)
		c->more(f);
}

static void
main_list(FILE *f)
{
	const struct cmd *c;
	int n = 0, k = 0, w = 0;

	for (c = cli_commands; c->name != NULL; c++)
		if ((int)strlen(c->name) > w)
			w = (int)strlen(c->name);
	fprintf(f, "usage: renkei %s\n\ncommands:\n", MAIN_USAGE);
	for (c = cli_commands; c->name != NULL; c++) {
		fprintf(f, "   %-*s  %s\n", w, c->name, c->help);
		n += !c->needs_daemon;
	}
	fprintf(f, "\nD is --dir D, else $RENKEI_DIR.  Commands other than ");
	for (c = cli_commands; c->name != NULL; c++)
		if (!c->needs_daemon)
			fprintf(f, "%s%s", k++ == 0 ? "" : k == n ? " and " :
			    ", ", c->name);
	fprintf(f, " need\nrenkeid running for D.  'renkei help COMMAND' "
	    "shows how to use one.\n");
}

int
cmd_help(int argc, char **argv, struct cli *cli)
{
	const struct cmd *c;
	struct cli_args a;
	const char *val, *name = NULL;
	int id, rc;

	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, NULL, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (name != NULL)
			return cli_usage(cli, "give one command at most");
		name = val;
	}
	if (rc != 0)
		return rc;
	if (name == NULL) {
		main_list(stdout);
		return 0;
	}
	if ((c = cli_command(name)) == NULL)
		return cli_usage(cli, "'%s' is not a renkei command", name);
	main_help_one(stdout, c);
	return 0;
}

/* One line on stderr for the failure, then the usage for usage errors. */
static void
main_report(const struct cli *cli, int rc)
{
	if (cli->why.text[0] != '\0') {
		fputs("renkei: ", stderr);
		cli_put_text(stderr, cli->why.text, NULL);
		fputc('\n', stderr);
	} else if (!cli->reported) {
		fprintf(stderr, "renkei: %s%s%s\n",
		    cli->cmd != NULL ? cli->cmd->name : "",
		    cli->cmd != NULL ? ": " : "", rk_strerror(rc));
	}
	if (cli->usage && cli->cmd != NULL)
		cli_print_usage(stderr, cli->cmd);
	else if (cli->usage)
		fprintf(stderr, "usage: renkei %s\n", MAIN_USAGE);
}

enum { MAIN_OPT_HELP = 1, MAIN_OPT_VERSION };

static const struct cli_opt main_opts[] = {
	{ "help", 0, MAIN_OPT_HELP },
	{ "version", 0, MAIN_OPT_VERSION },
	CLI_OPT_END,
};

int
main(int argc, char **argv)
{
	struct cli cli;
	struct cli_args a;
	const struct cmd *c;
	const char *val, *env;
	int id, rc, i, curl_up = 0;

	memset(&cli, 0, sizeof(cli));
	/* One write per line, so reasons from concurrent renkei processes
	 * sharing a log never interleave mid-character. */
	setvbuf(stderr, NULL, _IOLBF, BUFSIZ);
	log_init("renkei", 0);

	/* Global options stop at the command's name. */
	cli_args_init(&a, argc, argv, 1);
	a.stop_at_arg = 1;
	while ((rc = cli_next(&cli, &a, main_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		if (id == MAIN_OPT_HELP) {
			main_list(stdout);
			return fflush(stdout) == 0 ? 0 : 1;
		}
		printf("renkei %s (local API v1)\n", RENKEI_VERSION);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (rc != 0) {
		main_report(&cli, rc);
		return 2;
	}
	if (a.i >= argc) {
		main_list(stderr);
		return 2;
	}
	if ((c = cli_command(argv[a.i])) == NULL) {
		fprintf(stderr, "renkei: '");
		cli_put_text(stderr, argv[a.i], NULL);
		fprintf(stderr, "' is not a renkei command; see 'renkei "
		    "help'\n");
		return 2;
	}
	cli.cmd = c;

	/* "renkei COMMAND --help" anywhere before "--". */
	for (i = a.i + 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			main_help_one(stdout, c);
			return fflush(stdout) == 0 ? 0 : 1;
		}

	if (cli.dir == NULL && (env = getenv("RENKEI_DIR")) != NULL &&
	    env[0] != '\0')
		cli.dir = env;
	if (c->needs_daemon) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fprintf(stderr, "renkei: cannot initialise libcurl\n");
			return 1;
		}
		curl_up = 1;
	}

	rc = c->fn(argc - a.i, argv + a.i, &cli);

	if (curl_up)
		curl_global_cleanup();
	/* Output cut short (disk full, closed pipe) is a failure too. */
	if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
		fprintf(stderr, "renkei: cannot write the output\n");
		return 1;
	}
	if (rc == 0)
		return 0;
	main_report(&cli, rc);
	return cli.usage ? 2 : 1;
}
