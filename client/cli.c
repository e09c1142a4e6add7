/*
 * cli.c - the pieces every renkei command uses: the command-line walker,
 * usage errors, the call to renkeid, JSON output, checks of user input
 * (dates, numbers, UTF-8) and printing of text that came from other people.
 */
#include "client/cli.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "client/client.h"
#include "common/api.h"

enum { CLI_OPT_DIR = -100, CLI_OPT_JSON = -101 };

static const struct cli_opt cli_common_opts[] = {
	{ "dir", 1, CLI_OPT_DIR },
	{ "json", 0, CLI_OPT_JSON },
	CLI_OPT_END,
};

void
cli_args_init(struct cli_args *a, int argc, char **argv, int first)
{
	memset(a, 0, sizeof(*a));
	a->argc = argc;
	a->argv = argv;
	a->i = first;
}

static const struct cli_opt *
cli_find_opt(const struct cli_opt *opts, const char *name, size_t len)
{
	for (; opts != NULL && opts->name != NULL; opts++)
		if (strlen(opts->name) == len &&
		    strncmp(opts->name, name, len) == 0)
			return opts;
	return NULL;
}

int
cli_next(struct cli *cli, struct cli_args *a, const struct cli_opt *opts,
    int *id, const char **val)
{
	const struct cli_opt *o;
	const char *arg, *name, *eq, *v;
	size_t len;

	for (;;) {
		if (a->i >= a->argc) {
			*id = CLI_END;
			return 0;
		}
		arg = a->argv[a->i];
		if (a->no_more_opts || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (a->stop_at_arg) {
				*id = CLI_END;	/* left for the caller */
				return 0;
			}
			a->i++;
			*id = CLI_ARG;
			*val = arg;
			return 0;
		}
		a->i++;
		if (strcmp(arg, "--") == 0) {
			a->no_more_opts = 1;
			continue;
		}
		if (strcmp(arg, "-h") == 0)
			name = "help";
		else if (arg[1] == '-')
			name = arg + 2;
		else
			return cli_usage(cli, "unknown option '%s' (put '--' "
			    "before text that starts with '-')", arg);
		eq = strchr(name, '=');
		len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		if ((o = cli_find_opt(opts, name, len)) == NULL &&
		    (o = cli_find_opt(cli_common_opts, name, len)) == NULL)
			return cli_usage(cli, "unknown option '--%.*s'",
			    (int)len, name);
		v = NULL;
		if (o->has_arg) {
			if (eq != NULL)
				v = eq + 1;
			else if (a->i < a->argc)
				v = a->argv[a->i++];
			else
				return cli_usage(cli, "--%s needs a value",
				    o->name);
		} else if (eq != NULL)
			return cli_usage(cli, "--%s takes no value", o->name);
		switch (o->id) {
		case CLI_OPT_DIR:
			if (v[0] == '\0')
				return cli_usage(cli,
				    "--dir needs a directory");
			cli->dir = v;
			continue;
		case CLI_OPT_JSON:
			cli->json = 1;
			continue;
		}
		*id = o->id;
		*val = v;
		return 0;
	}
}

int
cli_usage(struct cli *cli, const char *fmt, ...)
{
	char msg[sizeof(cli->why.text)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli->usage = 1;
	if (cli->cmd != NULL)
		return rk_whyf(&cli->why, RK_EINVAL, "%s: %s", cli->cmd->name,
		    msg);
	return rk_whyf(&cli->why, RK_EINVAL, "%s", msg);
}

int
cli_reported(struct cli *cli, int err)
{
	cli->reported = 1;
	return err;
}

int
cli_need_dir(struct cli *cli, const char **dir)
{
	if (cli->dir == NULL)
		return cli_usage(cli, "no data dir: give --dir D or set "
		    "RENKEI_DIR");
	*dir = cli->dir;
	return 0;
}

int
cli_call(struct cli *cli, const char *method, const char *path, json_t *body,
    json_t **resp)
{
	const char *dir = NULL;
	int rc;

	if ((rc = cli_need_dir(cli, &dir)) != 0)
		return rc;
	return client_call(dir, method, path, body, resp, NULL, &cli->why);
}

int
cli_id_path(struct cli *cli, char *out, size_t outlen, const char *collection,
    const char *id, const char *suffix)
{
	char *esc;
	int n;

	/* curl_easy_escape takes a NULL handle since curl 7.82. */
	if ((esc = curl_easy_escape(NULL, id, 0)) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	n = snprintf(out, outlen, API_VERSION_PREFIX "/%s/%s%s", collection,
	    esc, suffix);
	curl_free(esc);
	if (n < 0 || (size_t)n >= outlen)
		return rk_whyf(&cli->why, RK_EINVAL, "id '%.64s' is too long",
		    id);
	return 0;
}

int
cli_room_path(struct cli *cli, char *out, size_t outlen, const char *room,
    const char *suffix)
{
	return cli_id_path(cli, out, outlen, "rooms", room, suffix);
}

int
cli_print_json(struct cli *cli, const json_t *v)
{
	char *s;

	/* 15 digits: 36.8 stays 36.8 rather than 36.799999999999997. */
	if ((s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY |
	    JSON_REAL_PRECISION(15))) == NULL)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	fputs(s, stdout);
	fputc('\n', stdout);
	free(s);	/* json_dumps memory */
	return 0;
}

int
cli_set(struct cli *cli, json_t *o, const char *key, json_t *v)
{
	/* json_object_set_new takes v over, and drops it on failure. */
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
	return 0;
}

int
cli_set_str(struct cli *cli, json_t *o, const char *key, const char *s,
    const char *what)
{
	if (!cli_valid_utf8(s))
		return rk_whyf(&cli->why, RK_EINVAL, "%s: not UTF-8 text (is "
		    "the terminal set to Shift_JIS? renkei needs UTF-8)", what);
	return cli_set(cli, o, key, json_string(s));
}

int
cli_valid_date(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int i, y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
	    y % 400 == 0)))
		return 0;
	return 1;
}

int
cli_valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned cp;
	int n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf) {
			n = 1;
			cp = *p & 0x1f;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			n = 2;
			cp = *p & 0x0f;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			n = 3;
			cp = *p & 0x07;
		} else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		p += n + 1;
	}
	return 1;
}

/*
 * Copies s to out with full-width digits, point and signs (U+FF10-FF19,
 * U+FF0E, U+FF0B, U+FF0D) made ASCII: a Japanese input method left in
 * full-width mode types "３６．８".
 */
static int
cli_ascii_digits(const char *s, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p != '\0') {
		if (n + 1 >= outlen)
			return -1;
		if (p[0] == 0xef && p[1] == 0xbc && p[2] >= 0x90 &&
		    p[2] <= 0x99) {
			out[n++] = (char)('0' + (p[2] - 0x90));
			p += 3;
		} else if (p[0] == 0xef && p[1] == 0xbc && (p[2] == 0x8e ||
		    p[2] == 0x8b || p[2] == 0x8d)) {
			out[n++] = p[2] == 0x8e ? '.' :
			    p[2] == 0x8b ? '+' : '-';
			p += 3;
		} else
			out[n++] = (char)*p++;
	}
	out[n] = '\0';
	return 0;
}

int
cli_parse_number(struct cli *cli, const char *what, const char *s,
    double *out)
{
	char a[64], *end;
	size_t i;
	double d;

	if (cli_ascii_digits(s, a, sizeof(a)) != 0 || a[0] == '\0')
		goto bad;
	/* Plain decimals only: strtod would take " 1", "0x1p3", "inf". */
	for (i = 0; a[i] != '\0'; i++)
		if (!((a[i] >= '0' && a[i] <= '9') || a[i] == '.' ||
		    (i == 0 && (a[i] == '-' || a[i] == '+'))))
			goto bad;
	d = strtod(a, &end);
	if (end == a || *end != '\0' || !isfinite(d))
		goto bad;
	*out = d;
	return 0;
bad:
	return rk_whyf(&cli->why, RK_EINVAL, "%s: '%s' is not a number", what,
	    s);
}

int
cli_parse_long(struct cli *cli, const char *what, const char *s, long min,
    long max, long *out)
{
	char a[64], *end;
	size_t i;
	long v;

	if (cli_ascii_digits(s, a, sizeof(a)) != 0 || a[0] == '\0')
		goto bad;
	for (i = 0; a[i] != '\0'; i++)
		if (!((a[i] >= '0' && a[i] <= '9') || (i == 0 && a[i] == '-')))
			goto bad;
	v = strtol(a, &end, 10);
	if (end == a || *end != '\0' || v < min || v > max)
		return rk_whyf(&cli->why, RK_EINVAL, "%s: '%s' is not a whole "
		    "number from %ld to %ld", what, s, min, max);
	*out = v;
	return 0;
bad:
	return rk_whyf(&cli->why, RK_EINVAL, "%s: '%s' is not a whole number",
	    what, s);
}

const char *
cli_jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

int
cli_jnum(const json_t *o, const char *key, double *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		return 0;
	*out = json_number_value(v);
	return 1;
}

const struct cli_label cli_agency_kinds[] = {
	{ "clinic", "診療所" },
	{ "hospital", "病院" },
	{ "visiting-nurse", "訪問看護ステーション" },
	{ "care-management", "居宅介護支援事業所" },
	{ "pharmacy", "薬局" },
	{ "dental", "歯科診療所" },
	{ "home-help", "訪問介護事業所" },
	{ "community-support", "地域包括支援センター" },
	{ "municipality", "市区町村" },
	{ NULL, NULL },
};

const struct cli_label cli_professions[] = {
	{ "doctor", "医師" },
	{ "dentist", "歯科医師" },
	{ "pharmacist", "薬剤師" },
	{ "nurse", "看護師" },
	{ "care-manager", "介護支援専門員" },
	{ "pt", "理学療法士" },
	{ "ot", "作業療法士" },
	{ "st", "言語聴覚士" },
	{ "helper", "訪問介護員" },
	{ "social-worker", "社会福祉士" },
	{ NULL, NULL },
};

const char *
cli_label_of(const struct cli_label *t, const char *id)
{
	for (; t->id != NULL; t++)
		if (strcmp(t->id, id) == 0)
			return t->label;
	return NULL;
}

int
cli_label_pick(struct cli *cli, const struct cli_label *t, const char *what,
    const char *noun, const char *s, const char **id_out)
{
	const struct cli_label *l;
	char list[400];
	size_t n = 0;

	/* The label too: an administrator may copy it from a paper form. */
	for (l = t; l->id != NULL; l++)
		if (strcmp(l->id, s) == 0 || strcmp(l->label, s) == 0) {
			*id_out = l->id;
			return 0;
		}
	list[0] = '\0';
	for (l = t; l->id != NULL && n < sizeof(list); l++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s %s",
		    l == t ? "" : ", ", l->id, l->label);
	return rk_whyf(&cli->why, RK_EINVAL, "%s: '%.64s' is not a %s; give "
	    "one of: %s", what, s, noun, list);
}

void
cli_print_labels(FILE *f, const struct cli_label *t)
{
	size_t w = 0;
	const struct cli_label *l;

	for (l = t; l->id != NULL; l++)
		if (strlen(l->id) > w)
			w = strlen(l->id);
	for (l = t; l->id != NULL; l++) {
		fputs("   ", f);
		cli_put_padded(f, l->id, w + 2);
		fprintf(f, "%s\n", l->label);
	}
}

void
cli_fmt_time(int64_t ms, char *out, size_t outlen)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0));

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, outlen, "?");
}

/* East Asian Wide and Fullwidth ranges, enough for Japanese text. */
static int
cli_wide(unsigned cp)
{
	return (cp >= 0x1100 && cp <= 0x115f) ||
	    (cp >= 0x2e80 && cp <= 0x303e) ||
	    (cp >= 0x3041 && cp <= 0x33ff) ||
	    (cp >= 0x3400 && cp <= 0x4dbf) ||
	    (cp >= 0x4e00 && cp <= 0x9fff) ||
	    (cp >= 0xa000 && cp <= 0xa4cf) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) ||
	    (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) ||
	    (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) ||
	    (cp >= 0x1f300 && cp <= 0x1f64f) ||
	    (cp >= 0x20000 && cp <= 0x3fffd);
}

size_t
cli_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0;
	unsigned cp;
	int n;

	while (*p != '\0') {
		if (*p < 0x80) {
			w++;
			p++;
			continue;
		}
		n = *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : 1;
		cp = *p & (0x3f >> n);
		for (p++; n > 0 && (*p & 0xc0) == 0x80; n--, p++)
			cp = cp << 6 | (*p & 0x3f);
		w += cli_wide(cp) ? 2 : 1;
	}
	return w;
}

void
cli_put_padded(FILE *f, const char *s, size_t width)
{
	size_t w = cli_width(s);

	fputs(s, f);
	for (; w < width; w++)
		fputc(' ', f);
}

void
cli_put_text(FILE *f, const char *s, const char *nl_indent)
{
	const unsigned char *p = (const unsigned char *)s, *end;

	/* Trailing line breaks and spaces would only leave a blank tail. */
	end = p + strlen(s);
	while (end > p && (end[-1] == '\n' || end[-1] == '\r' ||
	    end[-1] == ' ' || end[-1] == '\t'))
		end--;
	while (p < end) {
		if (*p == '\r' || *p == '\n') {
			while (p < end && (*p == '\r' || *p == '\n'))
				p++;
			if (nl_indent == NULL)
				fputs(" / ", f);
			else {
				fputc('\n', f);
				fputs(nl_indent, f);
			}
			continue;
		}
		if (*p == '\t')
			fputc(' ', f);
		else if (*p < 0x20 || *p == 0x7f)
			fputc('?', f);
		else if (*p == 0xc2 && p + 1 < end && p[1] >= 0x80 &&
		    p[1] <= 0x9f) {
			fputc('?', f);	/* C1 controls: U+0080-U+009F */
			p++;
		} else
			fputc(*p, f);
		p++;
	}
}
