/* conf.c - reads and writes D/renkei.conf (format in conf.h). */
#include "common/conf.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "common/log.h"

struct conf_parse {
	struct rk_conf c;
	char bad[128];
};

static int
conf_set(char *dst, size_t dstlen, const char *v, struct conf_parse *p,
    const char *name)
{
	if (strlen(v) >= dstlen) {
		snprintf(p->bad, sizeof(p->bad), "%s is too long", name);
		return 0;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 1;
}

static int
conf_set_days(int *dst, const char *v, struct conf_parse *p,
    const char *name)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 0 ||
	    n > RK_RETENTION_DAYS_MAX) {
		snprintf(p->bad, sizeof(p->bad), "%s must be a number of days "
		    "from 0 to %d", name, RK_RETENTION_DAYS_MAX);
		return 0;
	}
	*dst = (int)n;
	return 1;
}

static int
conf_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct conf_parse *p = arg;
	struct rk_conf *c = &p->c;

	if (strcmp(section, "renkei") == 0) {
		if (strcmp(name, "role") == 0)
			return conf_set(c->role, sizeof(c->role), value, p, name);
		if (strcmp(name, "device_id") == 0)
			return conf_set(c->device_id, sizeof(c->device_id),
			    value, p, name);
		if (strcmp(name, "staff") == 0)
			return conf_set(c->staff, sizeof(c->staff), value, p,
			    name);
		if (strcmp(name, "listen") == 0)
			return conf_set(c->listen, sizeof(c->listen), value, p,
			    name);
		if (strcmp(name, "retention_days") == 0)
			return conf_set_days(&c->retention_days, value, p,
			    name);
	} else if (strcmp(section, "hub") == 0) {
		if (strcmp(name, "url") == 0)
			return conf_set(c->hub_url, sizeof(c->hub_url), value,
			    p, name);
	}
	/* Unknown keys are kept for newer versions: ignore, don't fail. */
	return 1;
}

int
conf_load(const char *dir, struct rk_conf *out, struct rk_why *why)
{
	struct conf_parse p;
	char path[4096];
	int line;

	memset(&p, 0, sizeof(p));
	p.c.retention_days = RK_RETENTION_DAYS_DEFAULT;
	p.c.has_retention = 1;
	if (fs_path(path, sizeof(path), dir, RK_CONF_FILE) != 0)
		return rk_whyf(why, RK_EINVAL, "data dir path too long");
	line = ini_parse(path, conf_handler, &p);
	if (line == -1)
		return rk_whyf(why, RK_ENOTFOUND,
		    "%s is not a renkei data dir (no %s): run 'renkei init "
		    "--dir %s --role device' first", dir, RK_CONF_FILE, dir);
	if (line != 0)
		return rk_whyf(why, RK_EINVAL, "%s line %d: %s", path, line,
		    p.bad[0] ? p.bad : "cannot parse");
	if (strcmp(p.c.role, "device") != 0 && strcmp(p.c.role, "hub") != 0)
		return rk_whyf(why, RK_EINVAL,
		    "%s: role must be 'device' or 'hub'", path);
	if (p.c.device_id[0] == '\0')
		return rk_whyf(why, RK_EINVAL, "%s: device_id is missing",
		    path);
	*out = p.c;
	return 0;
}

int
conf_save(const char *dir, const struct rk_conf *c)
{
	struct buf b = BUF_INIT;
	char path[4096];
	int rc;

	if ((rc = fs_path(path, sizeof(path), dir, RK_CONF_FILE)) != 0)
		return rc;
	rc = buf_appendf(&b,
	    "# renkei data dir configuration (see renkei.conf.example)\n"
	    "[renkei]\nrole = %s\ndevice_id = %s\n", c->role, c->device_id);
	if (rc == 0 && c->staff[0])
		rc = buf_appendf(&b, "staff = %s\n", c->staff);
	if (rc == 0 && c->listen[0])
		rc = buf_appendf(&b, "listen = %s\n", c->listen);
	if (rc == 0 && strcmp(c->role, "hub") == 0)
		rc = buf_appendf(&b, "; days an archived room is kept, then "
		    "purged (%d: 5 years, 医師法)\nretention_days = %d\n",
		    RK_RETENTION_DAYS_DEFAULT, c->has_retention ?
		    c->retention_days : RK_RETENTION_DAYS_DEFAULT);
	if (rc == 0 && c->hub_url[0])
		rc = buf_appendf(&b, "[hub]\nurl = %s\n", c->hub_url);
	if (rc == 0)
		rc = fs_write_atomic(path, b.data, b.len, 0600);
	buf_release(&b);
	return rc;
}
