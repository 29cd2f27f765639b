/* SPDX-License-Identifier: MIT */
/*
 * harness.h - mount the real deployfs daemon for an integration test.
 *
 * Each test gets a fresh temporary folder (mode 0755, so an unprivileged
 * user can reach it) holding a store and a mount point.  The daemon runs in
 * the foreground as a child of the test, with PR_SET_PDEATHSIG so that it
 * unmounts when the test process dies, and with auto_unmount so that a
 * kill -9 of the daemon leaves no mount behind.  Readiness is a poll of
 * /proc/self/mountinfo with a deadline, never a bare sleep.
 *
 * Binaries come from the environment (meson sets them):
 *   DEPLOYFS_BIN, DEPLOYCTL_BIN, DEPLOYFS_FIXTURES
 * and default to this build's (never to what PATH finds: an installed
 * copy in /usr/local may be older than the code under test).
 */
#ifndef DFS_TEST_HARNESS_H
#define DFS_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct dfs_mount {
	char dir[PATH_MAX];    /* the temporary folder of this test */
	char store[PATH_MAX];  /* DIR/store */
	char mnt[PATH_MAX];    /* DIR/mnt */
	char build[PATH_MAX];  /* DIR/mnt/build */
	char native[PATH_MAX]; /* DIR/native: a plain folder to compare with */
	char opts[1024];       /* more -o options for the daemon, "" none */
	char netns[64];	       /* the daemon's network namespace, "" ours */
	pid_t pid;	       /* the daemon, 0 when not running */
	int daemon_status;     /* its wait status after the last stop */
};

/* Create DIR, init a store and mount it.  Returns 0 or -errno. */
int dfs_mount_setup(struct dfs_mount *m);
/* The same, the daemon given the -o options opts as well. */
int dfs_mount_setup_opts(struct dfs_mount *m, const char *opts);
/* The same, the daemon in the network namespace netns (ip netns add):
 * run by nsenter --net, so its mount is in ours. */
int dfs_mount_setup_in(struct dfs_mount *m, const char *opts,
		       const char *netns);
/* Mount the existing store again (after stop or kill). */
int dfs_mount_start(struct dfs_mount *m);
/* Unmount cleanly and wait for the daemon; 0 if it exited with status 0. */
int dfs_mount_stop(struct dfs_mount *m);
/* kill -9 the daemon, wait for it and make sure nothing stays mounted. */
int dfs_mount_kill9(struct dfs_mount *m);
/* Stop (if running) and remove DIR.  Safe to call twice; for .fini. */
void dfs_mount_teardown(struct dfs_mount *m);

bool dfs_is_mounted(const char *path);

/*
 * Run a shell command (sh -c) with the mount's paths exported as $MNT,
 * $BUILD, $STORE, $NATIVE, $DIR, $FIXTURES, $DEPLOYCTL.  Returns the exit
 * status (0..255), or -1 if it could not run or was killed by a signal.
 */
int dfs_sh(const struct dfs_mount *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* All of fd up to its end: at most cap-1 bytes into buf, NUL-ended, the
 * rest read and dropped (a writer never blocks); the length kept. */
size_t dfs_read_capped(int fd, char *buf, size_t cap);
/* Same, capturing at most cap-1 bytes of stdout into out (NUL-ended). */
int dfs_sh_out(const struct dfs_mount *m, char *out, size_t cap,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* snprintf into buf; aborts the test on truncation. */
char *dfs_path(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write/read a whole small file; return 0 or -errno. */
int dfs_write_file(const char *path, const void *data, size_t len);
ssize_t dfs_read_file(const char *path, void *buf, size_t cap);
/* copy_file_range of len bytes, looping as cp does: the bytes copied
 * (fewer at the source's end), or -errno. */
ssize_t dfs_copy_range(int in, loff_t off_in, int out, loff_t off_out,
		       size_t len);

/* Milliseconds on the monotonic clock, for deadlines. */
long dfs_now_ms(void);
/* Sleep ms (restarting on EINTR): the pause between two polls of a
 * condition that has a deadline, never a wait on its own. */
void dfs_sleep_ms(long ms);
/* Cut the newlines at the end of s. */
void dfs_chomp(char *s);

/* Copy the fixture workspace into build/ with cp -a; its exit status
 * (as dfs_sh).  Does not assert, so .init may call it. */
int dfs_copy_workspace(const struct dfs_mount *m);

/*
 * The helpers below assert with Criterion, so they fail the calling test:
 * call them from a test body, not from .init or .fini.  Commands are
 * formatted with vasprintf, so none is too long to run.
 */

/* Fail the test unless setup_rc, the result of dfs_mount_setup(), is 0. */
void dfs_need_mount(const struct dfs_mount *m, int setup_rc);
/* Run a command that must exit 0; the test fails, naming it, otherwise. */
void dfs_ok(const struct dfs_mount *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Run a command that must exit 0 and whose stdout must fit in out; returns
 * out, holding that stdout with the newlines at its end cut. */
char *dfs_out(const struct dfs_mount *m, char *out, size_t cap, const char *fmt,
	      ...) __attribute__((format(printf, 4, 5)));
/* The number of lines in MNT/audit.log (wc -l, so it must exit 0). */
long dfs_audit_lines(const struct dfs_mount *m);

/* Run fn(arg) in a child process as uid/gid 65534 (nobody); returns the
 * child's exit status, or -1.  fn's return value is the exit status. */
int dfs_as_nobody(int (*fn)(void *arg), void *arg);

const char *dfs_bin_deployfs(void);
const char *dfs_bin_deployctl(void);
const char *dfs_fixtures(void);

#endif
