// SPDX-License-Identifier: MIT
/*
 * main.c - the deployfs daemon: command line, store, FUSE session.
 *
 *   deployfs [options] STORE MOUNTPOINT
 *
 * In the background (the default) the parent waits until the child has
 * opened the store and mounted, and exits 0, or prints why not and exits
 * 1; so `deployfs STORE DIR && ls DIR` works and errors reach the shell.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deployfs/log.h"
#include "fs.h"

#define DFS_TTL 60.0

struct options {
	char *store;
	char *registry;	     /* -o registry=URL */
	char *registry_host; /* -o registry_host=NAME */
	int show_help;
	int show_version;
};

static const struct fuse_opt option_spec[] = {
	{ "-h", offsetof(struct options, show_help), 1 },
	{ "--help", offsetof(struct options, show_help), 1 },
	{ "-V", offsetof(struct options, show_version), 1 },
	{ "--version", offsetof(struct options, show_version), 1 },
	{ "registry=%s", offsetof(struct options, registry), 0 },
	{ "registry_host=%s", offsetof(struct options, registry_host), 0 },
	FUSE_OPT_END
};

/*
 * Options that belong to fstab and mount(8), not to the filesystem:
 * mount.fuse3 passes some of them on (defaults, x-systemd.*, comment=),
 * and libfuse would refuse the mount for them.  They are dropped.
 */
static bool fstab_only(const char *opt)
{
	static const char *const names[] = { "defaults", "auto",    "noauto",
					     "nofail",	 "_netdev", "user",
					     "users",	 "nouser",  "owner",
					     "group" };
	size_t i;

	if (strncmp(opt, "x-", 2) == 0 || strncmp(opt, "comment=", 8) == 0)
		return true;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(opt, names[i]) == 0)
			return true;
	return false;
}

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct options *o = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !o->store) {
		o->store = strdup(arg);
		return 0;
	}
	if (key == FUSE_OPT_KEY_OPT && fstab_only(arg))
		return 0;
	return 1;
}

static void usage(const char *prog)
{
	printf("usage: %s [options] STORE MOUNTPOINT\n\n"
	       "Mount the deployfs store in the folder STORE on MOUNTPOINT:\n"
	       "build/ (read-write workspace), packages/, environments/ and\n"
	       "audit.log.  Create a store with 'deployctl init STORE'.\n\n"
	       "options:\n"
	       "    -h, --help        print this help and exit\n"
	       "    -V, --version     print the version and exit\n"
	       "    -f                stay in the foreground\n"
	       "    -d                debug: foreground, print every request\n"
	       "    -s                single-threaded\n"
	       "    -o OPT[,OPT...]   mount options (allow_other, ...)\n"
	       "    -o registry=URL   share packages with other hosts through\n"
	       "                      the PostgreSQL registry at URL\n"
	       "                      (deployctl init --registry URL)\n"
	       "    -o registry_host=NAME  this host's name there\n\n"
	       "fstab: STORE MOUNTPOINT fuse.deployfs defaults,allow_other 0 0\n"
	       "or:    mount -t fuse.deployfs STORE MOUNTPOINT\n"
	       "See deployfs(8).\n\n",
	       prog);
	fuse_lowlevel_help();
}

static void route_fuse_log(enum fuse_log_level level, const char *fmt,
			   va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	dfs_log(level <= FUSE_LOG_ERR	    ? DFS_LOG_ERR
		: level <= FUSE_LOG_WARNING ? DFS_LOG_WARN
		: level <= FUSE_LOG_INFO    ? DFS_LOG_INFO
					    : DFS_LOG_DEBUG,
		"libfuse: %s", line);
}

/* Fork; the parent waits for one status byte (0 = mounted) and exits. */
static int background(int *ret_fd)
{
	int pfd[2];
	pid_t pid;
	char status = 1;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(pfd[1]);
		if (read(pfd[0], &status, 1) != 1)
			status = 1;
		_exit(status ? 1 : 0);
	}
	close(pfd[0]);
	setsid();
	*ret_fd = pfd[1];
	return 0;
}

static void detach(int status_fd)
{
	char ok = 0;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (chdir("/") < 0)
		dfs_log(DFS_LOG_WARN, "chdir / failed: %s", strerror(errno));
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	if (write(status_fd, &ok, 1) != 1)
		_exit(1);
	close(status_fd);
}

/*
 * The kernel offers FUSE mounts 128 KiB of readahead; cold sequential
 * reads want more.  As root, raise it on our bdi (found through
 * mountinfo, not stat: the session does not answer yet).  Best effort.
 * The kernel then keeps the smaller of this and the max_readahead the
 * INIT reply asks for (DFS_FUSE_IO_MAX): without that, INIT
 * took it back to 128 KiB.
 */
static void raise_readahead(const char *mountpoint)
{
	char line[4096], path[128], real[PATH_MAX];
	unsigned major, minor;
	bool found = false;
	FILE *f;

	if (geteuid() != 0 || !realpath(mountpoint, real))
		return;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	while (!found && fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX];

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor,
			   mnt) == 3 &&
		    strcmp(mnt, real) == 0)
			found = true;
	}
	fclose(f);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major, minor);
	f = fopen(path, "we");
	if (f) {
		fprintf(f, "%u\n", DFS_FUSE_IO_MAX >> 10);
		fclose(f);
	}
}

/*
 * The notifier: tells the kernel of entries that changed without a call
 * on them (a deploy replaced ENV/N@OLD), so its caches follow at once.
 * (Kernels since 5.3 no longer turn a FUSE delete notice into an inotify
 * event; watchers see the calls that deploy: see docs/environments.md.
 * Another host's deploys are shown by such calls too: announce.c.)
 * A separate thread: the kernel may wait for the very request that made
 * the change.  An entry still in use below (a file open in ENV/N@OLD)
 * cannot be deleted: it is invalidated.
 */
static void *notifier(void *arg)
{
	struct dfs_fs *fs = arg;
	struct dfs_notice n;

	while (dfs_store_notice_wait(fs->st, &n) == 0) {
		size_t len = strlen(n.name);

		if (n.show != DFS_SHOW_NONE) {
			dfs_announce(fs, &n);
			continue;
		}
		if (n.gone &&
		    fuse_lowlevel_notify_delete(fs->se, n.parent, n.child,
						n.name, len) == 0)
			continue;
		(void)fuse_lowlevel_notify_inval_entry(fs->se, n.parent, n.name,
						       len);
	}
	return NULL;
}

/* Attributes that changed without a call on them: the kernel drops its
 * copy at once (an inode it does not hold is ENOENT: nothing to drop). */
static void inval_attr(void *arg, uint64_t ino)
{
	struct dfs_fs *fs = arg;

	(void)fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

/* The registry, if one was given: one that is not a registry refuses the
 * mount; one not reachable now is tried again by itself. */
static int join_registry(struct dfs_store *st, const struct options *o)
{
	char why[1024] = "";
	int rc;

	if (!o->registry)
		return 0;
	rc = dfs_store_registry(st, o->registry, o->registry_host, why,
				sizeof(why));
	if (rc == -EHOSTDOWN) {
		dfs_log(DFS_LOG_WARN, "registry: %s; serving what is here",
			why);
		return 0;
	}
	if (rc < 0)
		fprintf(stderr, "deployfs: registry: %s\n",
			why[0] ? why : strerror(-rc));
	return rc;
}

static int serve(struct fuse_args *args, struct fuse_cmdline_opts *cmd,
		 const char *store, const struct options *o, int status_fd)
{
	struct fuse_loop_config *config;
	struct dfs_fs fs = { .ttl = DFS_TTL,
			     .seen_lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t notify_thread;
	bool notifying;
	char why[1024];
	int rc;

	rc = dfs_store_open_why(store, DFS_OPEN_DAEMON, &fs.st, why,
				sizeof(why));
	if (rc < 0) {
		fprintf(stderr, "deployfs: cannot open store \"%s\": %s\n",
			store, dfs_store_strerror(rc));
		if (why[0])
			fprintf(stderr, "deployfs: %s\n", why);
		return 1;
	}
	if (join_registry(fs.st, o) < 0)
		goto out_store;
	fs.se = fuse_session_new(args, &dfs_ops, sizeof(dfs_ops), &fs);
	if (!fs.se)
		goto out_store;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	if (fuse_session_mount(fs.se, cmd->mountpoint) != 0)
		goto out_signals;
	raise_readahead(cmd->mountpoint);
	dfs_announce_init(&fs, cmd->mountpoint);
	dfs_store_on_attr_change(fs.st, inval_attr, &fs);
	(void)dfs_passthrough_start(&fs);
	notifying = pthread_create(&notify_thread, NULL, notifier, &fs) == 0;
	if (status_fd >= 0)
		detach(status_fd);
	if (cmd->singlethread) {
		dfs_store_serve_in_order(fs.st);
		rc = fuse_session_loop(fs.se);
	} else if (!o->registry) {
		/* -o max_threads=N: this thread and N - 1 helpers. */
		rc = dfs_loop(&fs,
			      cmd->max_threads >= 2 && cmd->max_threads <= 1024
				      ? cmd->max_threads - 1
				      : 1);
	} else {
		config = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(config, cmd->clone_fd);
		if (cmd->max_threads > 0 && cmd->max_threads <= 1024)
			fuse_loop_cfg_set_max_threads(config, cmd->max_threads);
		if (cmd->max_idle_threads <= 1024)
			fuse_loop_cfg_set_idle_threads(config,
						       cmd->max_idle_threads);
		rc = fuse_session_loop_mt(fs.se, config);
		fuse_loop_cfg_destroy(config);
	}
	dfs_store_notices_stop(fs.st);
	dfs_store_on_attr_change(fs.st, NULL, NULL);
	if (notifying)
		pthread_join(notify_thread, NULL);
	dfs_passthrough_stop(&fs);
	fuse_session_unmount(fs.se);
	fuse_remove_signal_handlers(fs.se);
	fuse_session_destroy(fs.se);
	dfs_store_free(fs.st);
	dfs_fs_seen_free(&fs);
	/* libfuse's loop returns the signal that ended it: being told to
	 * stop (systemctl stop, Ctrl-C) is a clean end. */
	return rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out_store:
	dfs_store_free(fs.st);
	return 1;
}

/* The store's path as the mount's source (mount, /proc/mounts, df), so
 * deployctl can find the store behind a mount point.  Commas and
 * backslashes would end the option: such a path is left out. */
static int add_fsname(struct fuse_args *args, const char *store)
{
	char opt[PATH_MAX + 16];

	if (strpbrk(store, ",\\ "))
		return 0;
	snprintf(opt, sizeof(opt), "-ofsname=%s", store);
	return fuse_opt_add_arg(args, opt);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct options o = { 0 };
	char store[PATH_MAX];
	int status_fd = -1, rc = 1;

	fuse_set_log_func(route_fuse_log);
	if (fuse_opt_parse(&args, &o, option_spec, opt_proc) != 0)
		return 1;
	if (o.show_help) {
		usage(argv[0]);
		rc = 0;
		goto out_args;
	}
	if (o.show_version) {
		printf("deployfs %s (libfuse %s)\n", DFS_VERSION,
		       fuse_pkgversion());
		rc = 0;
		goto out_args;
	}
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out_args;
	if (!o.store || !cmd.mountpoint) {
		fprintf(stderr,
			"usage: %s [options] STORE MOUNTPOINT "
			"(try --help)\n",
			argv[0]);
		goto out_cmd;
	}
	if (!realpath(o.store, store)) {
		fprintf(stderr, "deployfs: cannot open store \"%s\": %s\n",
			o.store, dfs_store_strerror(-errno));
		goto out_cmd;
	}
	if (cmd.debug)
		dfs_log_set_level(DFS_LOG_DEBUG);
	if (fuse_opt_add_arg(&args, "-odefault_permissions") != 0 ||
	    fuse_opt_add_arg(&args, "-osubtype=deployfs") != 0 ||
	    add_fsname(&args, store) != 0)
		goto out_cmd;
	if (!cmd.foreground && background(&status_fd) < 0)
		goto out_cmd;
	rc = serve(&args, &cmd, store, &o, status_fd);
out_cmd:
	free(cmd.mountpoint);
out_args:
	free(o.store);
	free(o.registry);
	free(o.registry_host);
	fuse_opt_free_args(&args);
	return rc;
}
