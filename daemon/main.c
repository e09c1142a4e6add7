/*
 * main.c - renkeid: serves one data dir.
 *
 *   renkeid --dir D [--listen HOST:PORT] [--passphrase-file F] [-n] [-v]
 *
 * Start-up, in order: read D/renkei.conf; take D/renkeid.lock (one daemon
 * per data dir); unlock D/keys with the passphrase; register the encrypting
 * VFS with the database key; open (create, migrate) the replica; start the
 * role's engine -- a device's sync engine and its field web UI on
 * --listen (webui.h), or a hub's protocol server on --listen; serve the
 * local API on D/renkeid.sock.  A hub purges the archived rooms whose
 * retention period (renkei.conf retention_days) has ended before it
 * serves, then once a day (retention.h).  Shutdown on
 * SIGTERM/SIGINT runs the same steps in reverse.  Runs in the foreground
 * and logs to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/fsutil.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/pass.h"
#include "daemon/admin.h"
#include "daemon/hub.h"
#include "daemon/hubhttp.h"
#include "daemon/localapi.h"
#include "daemon/records.h"
#include "daemon/retention.h"
#include "daemon/store.h"
#include "daemon/sync.h"
#include "daemon/vfs.h"
#include "daemon/webui.h"

static void
usage(void)
{
	fprintf(stderr, "usage: renkeid --dir D [--listen HOST:PORT] "
	    "[--passphrase-file F] [-n] [-v]\n");
}

/* Takes the data dir's lock; fails at once if another renkeid has it. */
static int
lock_datadir(const char *dir, int *fd_out)
{
	char path[4096], pid[32];
	int fd, n;

	if (fs_path(path, sizeof(path), dir, RK_LOCK_FILE) != 0)
		return RK_EINVAL;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		log_warn("open %s", path);
		return RK_EIO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = (int)read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_warnx("another renkeid is already running for %s%s%s%s",
		    dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
		close(fd);
		return RK_EBUSY;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("write %s", path);
	*fd_out = fd;
	return 0;
}

/* Loopback only: the web UI must not be reachable from the network. */
static int
listen_is_loopback(const char *s)
{
	return strncmp(s, "127.", 4) == 0 || strncmp(s, "localhost:", 10) == 0
	    || strncmp(s, "[::1]:", 6) == 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *listen_addr = NULL, *passfile = NULL;
	struct rk_conf conf;
	struct rk_why why = { "" };
	struct keys *keys = NULL;
	struct vfs_crypt *vfs = NULL;
	struct store *store = NULL;
	struct localapi *la = NULL;
	struct sync *sync = NULL;
	struct hub *hub = NULL;
	struct hubhttp *hh = NULL;
	struct webui *ui = NULL;
	struct rec_ctx ctx;
	struct store_opts so;
	char path[4096], sock[4096], marker[4096], vfsname[64];
	char keyspath[4096];
	char *pass = NULL;
	size_t passlen = 0;
	int ch, rc, lockfd = -1, check_only = 0, verbose = 0, sig, status = 1;
	int created;
	sigset_t sigs;

	while ((ch = getopt_long(argc, argv, "d:l:p:nvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'l': listen_addr = optarg; break;
		case 'p': passfile = optarg; break;
		case 'n': check_only = 1; break;
		case 'v': verbose = 1; break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (dir == NULL || optind != argc) {
		usage();
		return 2;
	}
	log_init("renkeid", verbose);
	/* Everything renkeid creates (replica, WAL, lock, socket) is the
	 * owner's alone. */
	umask(077);
	if (sodium_init() < 0) {
		log_warnx("libsodium cannot start");
		return 1;
	}
	if ((rc = conf_load(dir, &conf, &why)) != 0) {
		log_warnx("%s", why.text);
		return 1;
	}
	if (listen_addr == NULL && conf.listen[0])
		listen_addr = conf.listen;
	if (listen_addr != NULL && !listen_is_loopback(listen_addr)) {
		log_warnx("--listen %s: renkeid listens on loopback only "
		    "(127.0.0.1:PORT); a hub reached over the network sits "
		    "behind a TLS reverse proxy", listen_addr);
		return 1;
	}
	if (check_only) {
		printf("%s: %s, device %s, configuration ok\n", dir, conf.role,
		    conf.device_id);
		return 0;
	}

	/* Signals are taken by sigwait below; block them before any thread
	 * starts so they reach only this one. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (lock_datadir(dir, &lockfd) != 0)
		goto out;
	if (pass_read(passfile, "renkei passphrase: ", &pass, &passlen) != 0)
		goto out;
	if (fs_path(path, sizeof(path), dir, RK_KEYS_FILE) != 0)
		goto out;
	rc = keys_unlock(path, pass, passlen, &keys);
	pass_free(pass);
	pass = NULL;
	if (rc == RK_EAUTH) {
		log_warnx("wrong passphrase for %s", dir);
		goto out;
	} else if (rc != 0) {
		log_warnx("cannot unlock %s: %s", path, rk_strerror(rc));
		goto out;
	}
	snprintf(vfsname, sizeof(vfsname), "renkei-%ld", (long)getpid());
	if (vfs_crypt_register(vfsname, keys->db_key, &vfs) != 0) {
		log_warnx("cannot set up the encrypted store");
		goto out;
	}
	if (fs_path(path, sizeof(path), dir, RK_DB_FILE) != 0 ||
	    fs_path(marker, sizeof(marker), dir, RK_CREATED_FILE) != 0)
		goto out;
	/* A replica that vanished must not be silently remade: its outbox
	 * numbering would start again at 1 and the hub, which drops what it
	 * has seen by (device, seq), would discard the new writes. */
	created = access(marker, F_OK) == 0;
	if (created && access(path, F_OK) != 0) {
		log_warnx("%s is missing, but this data dir had a replica: "
		    "restore it from a backup, or initialise a new data dir "
		    "and enrol it again", path);
		goto out;
	}
	memset(&so, 0, sizeof(so));
	so.path = path;
	so.vfs = vfsname;
	so.origin = conf.device_id;
	so.is_hub = strcmp(conf.role, "hub") == 0;
	so.idle_checkpoint = 1;
	if (store_open(&so, &store, &why) != 0) {
		log_warnx("%s", why.text[0] ? why.text : "cannot open the replica");
		goto out;
	}
	if (!created && fs_write_atomic(marker, "1\n", 2, 0600) != 0) {
		log_warnx("cannot record the new replica in %s", marker);
		goto out;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.store = store;
	ctx.is_hub = so.is_hub;
	/* conf.staff is updated in place when the device enrols. */
	ctx.staff = conf.staff[0] || !ctx.is_hub ? conf.staff : conf.device_id;
	ctx.role = conf.role;
	ctx.device_id = conf.device_id;
	ctx.hub_url = conf.hub_url;
	ctx.retention_ms = (int64_t)conf.retention_days * RETENTION_DAY_MS;
	if (ctx.is_hub) {
		if (hub_open(store, keys, NULL, &hub) != 0) {
			log_warnx("cannot start the hub");
			goto out;
		}
		/* Before serving anyone: a room past its retention period
		 * must not be handed out again.  A failure is logged and
		 * retried at the next daily run. */
		retention_run(store, ctx.retention_ms);
		if (listen_addr == NULL)
			log_warnx("no --listen address: this hub serves only its "
			    "administration socket, no devices");
		else if (hubhttp_start(hub, store, listen_addr, &hh) != 0)
			goto out;
	} else {
		if (sync_start(store, keys, dir, &conf, NULL, &sync) != 0) {
			log_warnx("cannot start the sync engine");
			goto out;
		}
		ctx.sync = sync;
		/* The field web UI: its unlock passphrase is checked against
		 * D/keys; RENKEI_UI_IDLE ("10m", "90s") sets its idle lock. */
		if (listen_addr != NULL) {
			struct webui_opts wo;

			memset(&wo, 0, sizeof(wo));
			wo.listen = listen_addr;
			wo.keys_path = keyspath;
			if (fs_path(keyspath, sizeof(keyspath), dir,
			    RK_KEYS_FILE) != 0)
				goto out;
			if (webui_idle_parse(getenv("RENKEI_UI_IDLE"),
			    &wo.idle_ms) != 0) {
				log_warnx("RENKEI_UI_IDLE=%s: give seconds, or "
				    "a number with s, m or h (at most 24h)",
				    getenv("RENKEI_UI_IDLE"));
				goto out;
			}
			if (webui_start(&wo, &ctx, &ui) != 0)
				goto out;
		}
	}
	if (fs_path(sock, sizeof(sock), dir, RK_SOCK_FILE) != 0 ||
	    localapi_start(sock, &ctx, &la) != 0)
		goto out;
	log_info("serving %s (%s, device %s) on %s%s%s", dir, conf.role,
	    conf.device_id, sock, hh ? " and " : "", hh ? listen_addr : "");

	/* The main thread waits for signals; on a hub it also wakes daily
	 * to purge the rooms whose retention period has ended. */
	for (;;) {
		struct timespec ts = { RETENTION_INTERVAL_MS / 1000, 0 };

		if (!ctx.is_hub) {
			if (sigwait(&sigs, &sig) != 0)
				continue;
		} else if ((sig = sigtimedwait(&sigs, NULL, &ts)) == -1) {
			if (errno == EAGAIN)
				retention_run(store, ctx.retention_ms);
			continue;
		}
		if (sig == SIGHUP)
			continue;
		log_info("signal %d: shutting down", sig);
		break;
	}
	status = 0;
out:
	localapi_stop(la);
	webui_stop(ui);
	hubhttp_stop(hh);
	hub_close(hub);
	sync_stop(sync);
	store_close(store);
	vfs_crypt_unregister(vfs);
	keys_free(keys);
	pass_free(pass);
	if (lockfd != -1)
		close(lockfd);
	return status;
}
