/*
 * cmd_init.c - renkei init: makes a data dir: the directory (0700), a
 * device id, the key file wrapped under the user's passphrase, and
 * renkei.conf.  Works without renkeid (nothing runs for D yet).  It either
 * makes all of that or, on failure, removes what it made.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/cli.h"
#include "common/conf.h"
#include "common/fsutil.h"
#include "common/id.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/pass.h"

enum {
	INIT_ROLE = 1, INIT_PASSFILE, INIT_STAFF, INIT_LISTEN, INIT_KDF,
};

static const struct cli_opt init_opts[] = {
	{ "role", 1, INIT_ROLE },
	{ "passphrase-file", 1, INIT_PASSFILE },
	{ "staff", 1, INIT_STAFF },
	{ "listen", 1, INIT_LISTEN },
	{ "kdf", 1, INIT_KDF },
	CLI_OPT_END,
};

static const struct {
	const char *name;
	enum keys_cost cost;
} init_kdfs[] = {
	{ "interactive", KEYS_COST_INTERACTIVE },
	{ "moderate", KEYS_COST_MODERATE },
	{ "sensitive", KEYS_COST_SENSITIVE },
};

/* Files of a data dir that must not be there before init. */
static const char *const init_leftovers[] = {
	RK_KEYS_FILE, RK_DB_FILE, RK_SOCK_FILE,
};

/* 1 if s is a TCP port number, 1-65535, digits only. */
static int
init_port(const char *s)
{
	long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (*s - '0');
	}
	return v >= 1 && v <= 65535;
}

/*
 * The web UI is for the person holding the device: --listen takes a
 * loopback address only (127.x.x.x, localhost, [::1]) and a port.
 */
static int
init_check_listen(struct cli *cli, const char *s, size_t max)
{
	struct in_addr in;
	char host[64];
	const char *colon;
	size_t n;

	if (strlen(s) >= max)
		goto bad;
	if (s[0] == '[') {
		if (strncmp(s, "[::1]:", 6) != 0 || !init_port(s + 6))
			goto bad;
		return 0;
	}
	if ((colon = strrchr(s, ':')) == NULL || !init_port(colon + 1))
		goto bad;
	n = (size_t)(colon - s);
	if (n == 0 || n >= sizeof(host))
		goto bad;
	memcpy(host, s, n);
	host[n] = '\0';
	if (strcmp(host, "localhost") == 0)
		return 0;
	if (inet_pton(AF_INET, host, &in) == 1 &&
	    (ntohl(in.s_addr) >> 24) == 127)
		return 0;
bad:
	return rk_whyf(&cli->why, RK_EINVAL, "--listen: '%s' is not a "
	    "loopback HOST:PORT; the web UI listens on 127.0.0.1, localhost "
	    "or [::1] only (e.g. 127.0.0.1:8080)", s);
}

/* Writes s for a shell: as is if plain, else in single quotes. */
static void
init_put_word(const char *s)
{
	const char *p;

	if (*s != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789/._-+:@=,") == strlen(s)) {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*p);
	}
	putchar('\'');
}

static int
init_print(struct cli *cli, const char *dir, const struct rk_conf *c,
    const char *keys, const char *confpath, const char *kdf,
    const char *passfile, int default_staff)
{
	json_t *o = NULL;
	int rc = 0;

	if (cli->json) {
		if ((o = json_object()) == NULL)
			return rk_whyf(&cli->why, RK_ENOMEM, "out of memory");
		if ((rc = cli_set(cli, o, "dir", json_string(dir))) != 0 ||
		    (rc = cli_set(cli, o, "role", json_string(c->role))) != 0 ||
		    (rc = cli_set(cli, o, "device_id",
		    json_string(c->device_id))) != 0 ||
		    (rc = cli_set(cli, o, "staff", c->staff[0] ?
		    json_string(c->staff) : json_null())) != 0 ||
		    (rc = cli_set(cli, o, "listen", c->listen[0] ?
		    json_string(c->listen) : json_null())) != 0 ||
		    (rc = cli_set(cli, o, "keys", json_string(keys))) != 0 ||
		    (rc = cli_set(cli, o, "config",
		    json_string(confpath))) != 0 ||
		    (rc = cli_set(cli, o, "kdf", json_string(kdf))) != 0)
			goto out;
		rc = cli_print_json(cli, o);
		goto out;
	}

	printf("initialised %s as a renkei %s\n", dir, c->role);
	printf("  device id  %s\n", c->device_id);
	if (c->staff[0] != '\0')
		printf("  staff      %s%s\n", c->staff,
		    default_staff ? " (placeholder)" : "");
	if (c->listen[0] != '\0')
		printf("  web UI     http://%s/ (while renkeid runs)\n",
		    c->listen);
	printf("  keys       %s (Argon2id, %s)\n", keys, kdf);
	printf("  config     %s\n", confpath);
	if (default_staff)
		printf("note: staff '%s' is a placeholder until enrolment "
		    "binds this device to your staff id\n", c->staff);
	printf("next: start the daemon: renkeid --dir ");
	init_put_word(dir);
	if (passfile != NULL) {
		printf(" --passphrase-file ");
		init_put_word(passfile);
	}
	putchar('\n');
	if (strcmp(c->role, "device") == 0) {
		printf("then: enrol it with a code from the hub administrator: "
		    "renkei --dir ");
		init_put_word(dir);
		printf(" enroll CODE --hub URL\n");
	} else {
		printf("then: register agencies and staff: renkei --dir ");
		init_put_word(dir);
		printf(" agency add ID --name N --kind K\n");
	}
out:
	json_decref(o);
	return rc;
}

int
cmd_init(int argc, char **argv, struct cli *cli)
{
	struct rk_conf conf;
	struct cli_args a;
	struct stat st;
	enum keys_cost cost = KEYS_COST_MODERATE;
	char keys[4096], confpath[4096], path[4096], prompt[256];
	char *pass = NULL;	/* sodium memory: pass_free() */
	const char *dir = NULL, *val, *role = NULL, *passfile = NULL;
	const char *staff = NULL, *listen = NULL, *kdf = "moderate";
	size_t passlen = 0, i;
	int id, rc, dir_existed, made_dir = 0, made_keys = 0;
	int default_staff = 0;

	memset(&conf, 0, sizeof(conf));
	cli_args_init(&a, argc, argv, 1);
	while ((rc = cli_next(cli, &a, init_opts, &id, &val)) == 0 &&
	    id != CLI_END) {
		switch (id) {
		case INIT_ROLE:
			role = val;
			break;
		case INIT_PASSFILE:
			passfile = val;
			break;
		case INIT_STAFF:
			staff = val;
			break;
		case INIT_LISTEN:
			listen = val;
			break;
		case INIT_KDF:
			kdf = val;
			break;
		default:
			rc = cli_usage(cli, "unexpected argument '%s'", val);
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	if (role == NULL) {
		rc = cli_usage(cli, "--role hub|device is required");
		goto out;
	}
	if ((rc = cli_need_dir(cli, &dir)) != 0)
		goto out;

	/* Every check that needs no disk comes before anything is made. */
	if (strcmp(role, "device") != 0 && strcmp(role, "hub") != 0) {
		rc = rk_whyf(&cli->why, RK_EINVAL,
		    "--role: '%s' must be 'device' or 'hub'", role);
		goto out;
	}
	if (staff != NULL && !id_valid_name(staff)) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "--staff: '%s' is not a "
		    "staff id (1-64 of A-Z a-z 0-9 . _ -, not starting with "
		    "'.' or '-')", staff);
		goto out;
	}
	if (listen != NULL &&
	    (rc = init_check_listen(cli, listen, sizeof(conf.listen))) != 0)
		goto out;
	for (i = 0; i < sizeof(init_kdfs) / sizeof(init_kdfs[0]); i++)
		if (strcmp(init_kdfs[i].name, kdf) == 0)
			break;
	if (i == sizeof(init_kdfs) / sizeof(init_kdfs[0])) {
		rc = rk_whyf(&cli->why, RK_EINVAL, "--kdf: '%s' must be "
		    "interactive, moderate or sensitive", kdf);
		goto out;
	}
	cost = init_kdfs[i].cost;
	if ((rc = fs_path(keys, sizeof(keys), dir, RK_KEYS_FILE)) != 0 ||
	    (rc = fs_path(confpath, sizeof(confpath), dir,
	    RK_CONF_FILE)) != 0) {
		rc = cli_reported(cli, rc);
		goto out;
	}
	if (stat(confpath, &st) == 0) {
		rc = rk_whyf(&cli->why, RK_EEXIST, "%s is already initialised "
		    "(it has %s)", dir, RK_CONF_FILE);
		goto out;
	}
	/* Leftovers of another data dir would not open with new keys. */
	for (i = 0; i < sizeof(init_leftovers) / sizeof(init_leftovers[0]);
	    i++) {
		if (fs_path(path, sizeof(path), dir, init_leftovers[i]) == 0 &&
		    lstat(path, &st) == 0) {
			rc = rk_whyf(&cli->why, RK_EEXIST, "%s has %s but no "
			    "%s: move it away or choose another dir", dir,
			    init_leftovers[i], RK_CONF_FILE);
			goto out;
		}
	}
	dir_existed = stat(dir, &st) == 0;

	/* Ask before making anything: a ^C at the prompt leaves no trace. */
	snprintf(prompt, sizeof(prompt), "New passphrase for %s: ", dir);
	if ((rc = pass_read_confirm(passfile, prompt, "Again: ", &pass,
	    &passlen)) != 0) {
		rc = cli_reported(cli, rc);
		goto out;
	}

	if ((rc = fs_mkdir_private(dir)) != 0) {
		rc = cli_reported(cli, rc);
		goto out;
	}
	made_dir = !dir_existed;
	/* A data dir holds patient data: the owner's alone, even when the
	 * directory was there before. */
	if (dir_existed && chmod(dir, 0700) == -1) {
		rc = rk_whyf(&cli->why, RK_EIO, "cannot make %s private: %s",
		    dir, strerror(errno));
		goto out;
	}

	snprintf(conf.role, sizeof(conf.role), "%s", role);
	id_new(NULL, conf.device_id);
	if (staff != NULL) {
		snprintf(conf.staff, sizeof(conf.staff), "%s", staff);
	} else if (strcmp(role, "device") == 0) {
		/* Unique per device until enrolment binds the real staff. */
		memcpy(conf.staff, "staff-", 6);
		for (i = 0; i < 8; i++) {
			char ch = conf.device_id[ID_LEN - 8 + i];

			conf.staff[6 + i] = ch >= 'A' && ch <= 'Z' ?
			    (char)(ch - 'A' + 'a') : ch;
		}
		conf.staff[6 + 8] = '\0';
		default_staff = 1;
	}
	if (listen != NULL)
		snprintf(conf.listen, sizeof(conf.listen), "%s", listen);

	if ((rc = keys_create(keys, pass, passlen, cost, NULL)) != 0) {
		rc = cli_reported(cli, rc);
		goto out;
	}
	made_keys = 1;
	if ((rc = conf_save(dir, &conf)) != 0) {
		rc = cli_reported(cli, rc);
		goto out;
	}
	made_keys = made_dir = 0;	/* done: keep them */
	rc = init_print(cli, dir, &conf, keys, confpath, kdf, passfile,
	    default_staff);
out:
	if (made_keys && unlink(keys) == -1)
		log_warn("cannot remove %s", keys);
	if (made_dir && rmdir(dir) == -1)
		log_warn("cannot remove %s", dir);
	pass_free(pass);
	return rc;
}
