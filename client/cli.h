/*
 * cli.h - what the renkei commands share: the command table entry, the
 * per-run state main() hands each command, the command-line walker, and the
 * helpers that turn daemon answers into lines for a person.
 *
 * A command is one file, client/cmd_<name>.c, with an entry
 *     int cmd_<name>(int argc, char **argv, struct cli *cli);
 * argv[0] is the command's name.  It returns 0 or a negative enum rk_err
 * with the reason in cli->why (cli_usage() for a malformed command line,
 * which main() answers with exit status 2).  Only main() prints the reason
 * and exits.
 */
#ifndef RK_CLI_H
#define RK_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/err.h"

#ifndef RENKEI_VERSION
#define RENKEI_VERSION "0.1.0"
#endif

struct cli;

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv, struct cli *cli);
	int needs_daemon;	/* talks to renkeid over D/renkeid.sock */
	const char *usage;	/* after "renkei "; '\n' between alternatives */
	const char *help;	/* one line for 'renkei help' */
	/* More for 'renkei help COMMAND' (and COMMAND --help), or NULL. */
	void (*more)(FILE *f);
};

struct cli {
	const char *dir;	/* --dir or $RENKEI_DIR; NULL if neither */
	int json;		/* --json: print the daemon's JSON */
	int usage;		/* the failure is a malformed command line */
	int reported;		/* common/ has logged the failure already */
	const struct cmd *cmd;
	struct rk_why why;
};

/* The commands (client/cmd_*.c). */
int cmd_help(int argc, char **argv, struct cli *cli);
int cmd_init(int argc, char **argv, struct cli *cli);
int cmd_status(int argc, char **argv, struct cli *cli);
int cmd_room(int argc, char **argv, struct cli *cli);
int cmd_post(int argc, char **argv, struct cli *cli);
int cmd_visit(int argc, char **argv, struct cli *cli);
int cmd_timeline(int argc, char **argv, struct cli *cli);
int cmd_card(int argc, char **argv, struct cli *cli);
int cmd_agency(int argc, char **argv, struct cli *cli);
int cmd_staff(int argc, char **argv, struct cli *cli);
int cmd_enroll_code(int argc, char **argv, struct cli *cli);
int cmd_revoke(int argc, char **argv, struct cli *cli);
int cmd_purge_expired(int argc, char **argv, struct cli *cli);
int cmd_directory(int argc, char **argv, struct cli *cli);
int cmd_enroll(int argc, char **argv, struct cli *cli);
int cmd_sync(int argc, char **argv, struct cli *cli);
int cmd_hash(int argc, char **argv, struct cli *cli);
/* Room work (daemon/roomwork.h; helpers in client/roomwork_cli.h). */
int cmd_request(int argc, char **argv, struct cli *cli);
int cmd_requests(int argc, char **argv, struct cli *cli);
int cmd_read(int argc, char **argv, struct cli *cli);
int cmd_member(int argc, char **argv, struct cli *cli);
int cmd_patient(int argc, char **argv, struct cli *cli);
int cmd_acp(int argc, char **argv, struct cli *cli);
int cmd_med(int argc, char **argv, struct cli *cli);
int cmd_sheet(int argc, char **argv, struct cli *cli);
int cmd_audit(int argc, char **argv, struct cli *cli);
/* "room archive" (cmd_room.c hands argv from "archive" on). */
int cmd_room_archive(int argc, char **argv, struct cli *cli);
int cmd_refused(int argc, char **argv, struct cli *cli);
int cmd_conflicts(int argc, char **argv, struct cli *cli);
int cmd_resolve(int argc, char **argv, struct cli *cli);

/* The command table (main.c); the entry ends with name == NULL. */
extern const struct cmd cli_commands[];
const struct cmd *cli_command(const char *name);
/* Writes "usage: renkei ..." lines for c to f. */
void cli_print_usage(FILE *f, const struct cmd *c);

/*
 * The command-line walker.  Options are long ("--name value",
 * "--name=value"); "--" ends them; anything else is a positional argument,
 * wherever it stands, except that with stop_at_arg set (main's global
 * options) the first positional argument ends the walk.  --dir and --json
 * are understood everywhere and stored in struct cli.
 */
struct cli_opt {
	const char *name;	/* without the leading "--" */
	int has_arg;
	int id;			/* > 0 */
};
#define CLI_OPT_END { NULL, 0, 0 }

enum { CLI_END = -1, CLI_ARG = 0 };

struct cli_args {
	int argc;
	char **argv;
	int i;			/* next element */
	int no_more_opts;	/* "--" seen */
	int stop_at_arg;
};

void cli_args_init(struct cli_args *a, int argc, char **argv, int first);
/* Stores in *id an option's id (its value, if it takes one, in *val),
 * CLI_ARG (the argument in *val) or CLI_END.  Unknown options and missing
 * values are usage errors. */
int cli_next(struct cli *cli, struct cli_args *a, const struct cli_opt *opts,
    int *id, const char **val) RK_MUST_CHECK;

/* Records a usage error: the reason, prefixed with the command's name. */
int cli_usage(struct cli *cli, const char *fmt, ...) RK_PRINTF(2, 3);
/* Records a failure that common/ has already logged on stderr. */
int cli_reported(struct cli *cli, int err);

/* The data dir, or a usage error if neither --dir nor RENKEI_DIR gave one. */
int cli_need_dir(struct cli *cli, const char **dir) RK_MUST_CHECK;

/* Calls renkeid of cli's data dir (client_call) with the reason in
 * cli->why.  On success *resp is the caller's (json_decref). */
int cli_call(struct cli *cli, const char *method, const char *path,
    json_t *body, json_t **resp) RK_MUST_CHECK;

/* "/v1/rooms/<room, URL-escaped><suffix>" into out. */
int cli_room_path(struct cli *cli, char *out, size_t outlen, const char *room,
    const char *suffix) RK_MUST_CHECK;
/* "/v1/<collection>/<id, URL-escaped><suffix>" into out, e.g.
 * ("staff", "nurse-sato", "/suspend"). */
int cli_id_path(struct cli *cli, char *out, size_t outlen,
    const char *collection, const char *id, const char *suffix)
    RK_MUST_CHECK;

/* Prints v, indented, UTF-8 as is, and a newline on stdout. */
int cli_print_json(struct cli *cli, const json_t *v) RK_MUST_CHECK;

/* Sets o[key] to the string s (what names it in messages: "--note").  A
 * string that is not UTF-8 is refused with a hint about the terminal. */
int cli_set_str(struct cli *cli, json_t *o, const char *key, const char *s,
    const char *what) RK_MUST_CHECK;
/* Sets o[key] to v, which it takes over (also on failure). */
int cli_set(struct cli *cli, json_t *o, const char *key, json_t *v)
    RK_MUST_CHECK;

/* 1 if s is a valid calendar date 'YYYY-MM-DD'. */
int cli_valid_date(const char *s);
/* 1 if s is well-formed UTF-8. */
int cli_valid_utf8(const char *s);

/* Parses a whole number (what names the option in messages).  Full-width
 * digits, as a Japanese input method types them, are accepted. */
int cli_parse_number(struct cli *cli, const char *what, const char *s,
    double *out) RK_MUST_CHECK;
int cli_parse_long(struct cli *cli, const char *what, const char *s,
    long min, long max, long *out) RK_MUST_CHECK;

/* Members of a JSON object, NULL or 0 when absent or of another type. */
const char *cli_jstr(const json_t *o, const char *key);
int cli_jnum(const json_t *o, const char *key, double *out);

/*
 * The kinds of agency and the professions (DESIGN.md, Contracts): the
 * English identifier the API takes and the Japanese label people know.
 * Each table ends with id NULL.
 */
struct cli_label {
	const char *id, *label;
};
extern const struct cli_label cli_agency_kinds[];
extern const struct cli_label cli_professions[];

/* The label of id in t, or NULL if t has no such id. */
const char *cli_label_of(const struct cli_label *t, const char *id);
/* Sets *id_out to the identifier of the entry that s names, by its id or
 * its Japanese label; else an error naming what ("--kind") and noun ("kind
 * of agency") that lists the choices. */
int cli_label_pick(struct cli *cli, const struct cli_label *t,
    const char *what, const char *noun, const char *s, const char **id_out)
    RK_MUST_CHECK;
/* "   <id>   <label>" lines, for the help of a command. */
void cli_print_labels(FILE *f, const struct cli_label *t);

/* Unix milliseconds as local "YYYY-MM-DD HH:MM". */
void cli_fmt_time(int64_t ms, char *out, size_t outlen);

/* Columns a UTF-8 string takes on a terminal (East Asian wide = 2). */
size_t cli_width(const char *s);
/* Writes s then spaces up to width columns. */
void cli_put_padded(FILE *f, const char *s, size_t width);
/*
 * Writes text that came from other people (posts, card fields) so that it
 * cannot steer the terminal: control characters become '?'.  Line breaks
 * become " / " if nl_indent is NULL, else a newline followed by nl_indent.
 */
void cli_put_text(FILE *f, const char *s, const char *nl_indent);

#endif
