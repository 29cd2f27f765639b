// SPDX-License-Identifier: MIT
/*
 * harness.c - start, stop and kill the real deployfs daemon for a test.
 * See harness.h for the contract.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 20000

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

const char *dfs_bin_deployfs(void)
{
	return env_or("DEPLOYFS_BIN", DFS_BUILD_DEPLOYFS);
}

const char *dfs_bin_deployctl(void)
{
	return env_or("DEPLOYCTL_BIN", DFS_BUILD_DEPLOYCTL);
}

const char *dfs_fixtures(void)
{
	return env_or("DEPLOYFS_FIXTURES", DFS_SOURCE_FIXTURES);
}

char *dfs_path(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "harness: path too long: %s\n", fmt);
		abort();
	}
	return buf;
}

void dfs_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

long dfs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void dfs_chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '\n')
		s[--n] = '\0';
}

bool dfs_is_mounted(const char *path)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *save = NULL, *tok = strtok_r(line, " ", &save);

		for (int i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &save);
		if (tok && strcmp(tok, path) == 0)
			found = true;
	}
	fclose(f);
	return found;
}

static void export_env(const struct dfs_mount *m)
{
	setenv("DIR", m->dir, 1);
	setenv("MNT", m->mnt, 1);
	setenv("BUILD", m->build, 1);
	setenv("STORE", m->store, 1);
	setenv("NATIVE", m->native, 1);
	setenv("FIXTURES", dfs_fixtures(), 1);
	setenv("DEPLOYCTL", dfs_bin_deployctl(), 1);
	setenv("DEPLOYFS", dfs_bin_deployfs(), 1);
}

static int wait_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return -1;
}

size_t dfs_read_capped(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	for (;;) {
		char sink[4096];
		ssize_t n;

		if (len + 1 < cap)
			n = read(fd, buf + len, cap - 1 - len);
		else
			n = read(fd, sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len + 1 < cap)
			len += (size_t)n;
	}
	if (cap)
		buf[len] = '\0';
	return len;
}

static int run_sh(const struct dfs_mount *m, char *out, size_t cap,
		  const char *cmd)
{
	int pfd[2] = { -1, -1 };
	pid_t pid;
	int st;

	if (out && pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (out)
			dup2(pfd[1], STDOUT_FILENO);
		if (m)
			export_env(m);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (out) {
		close(pfd[1]);
		dfs_read_capped(pfd[0], out, cap);
		close(pfd[0]);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return wait_status(st);
}

/*
 * Format fmt and run it as run_sh does.  The command goes to *ret_cmd (for
 * the caller to free) unless ret_cmd is NULL; -1 if it cannot be formatted.
 */
static int vrun(const struct dfs_mount *m, char *out, size_t cap,
		char **ret_cmd, const char *fmt, va_list ap)
{
	char *cmd = NULL;
	int rc;

	if (out && cap)
		out[0] = '\0';
	if (vasprintf(&cmd, fmt, ap) < 0)
		return -1;
	rc = run_sh(m, out, cap, cmd);
	if (ret_cmd)
		*ret_cmd = cmd;
	else
		free(cmd);
	return rc;
}

int dfs_sh(const struct dfs_mount *m, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vrun(m, NULL, 0, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int dfs_sh_out(const struct dfs_mount *m, char *out, size_t cap,
	       const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vrun(m, out, cap, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

void dfs_need_mount(const struct dfs_mount *m, int setup_rc)
{
	cr_assert_eq(setup_rc, 0, "mount failed: %s (see %s/daemon.log)",
		     strerror(-setup_rc), m->dir);
}

int dfs_copy_workspace(const struct dfs_mount *m)
{
	return dfs_sh(m, "cp -a \"$FIXTURES/workspace/.\" \"$BUILD/\"");
}

/*
 * Format fmt and run it; the test fails, naming the command, unless it
 * exits 0 and its stdout fits in out.  Then out's newlines at the end are
 * cut.  out may be NULL (stdout is not captured).
 */
static void vmust(const struct dfs_mount *m, char *out, size_t cap,
		  const char *fmt, va_list ap)
{
	char *cmd = NULL;
	int rc = vrun(m, out, cap, &cmd, fmt, ap);

	cr_assert_not_null(cmd, "formatting %s", fmt);
	if (!out) {
		cr_assert_eq(rc, 0, "exit %d: %s", rc, cmd);
		free(cmd);
		return;
	}
	dfs_chomp(out);
	cr_assert_eq(rc, 0, "exit %d: %s\n%s", rc, cmd, out);
	cr_assert_lt(strlen(out) + 2, cap, "output truncated: %s", cmd);
	free(cmd);
}

void dfs_ok(const struct dfs_mount *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmust(m, NULL, 0, fmt, ap);
	va_end(ap);
}

char *dfs_out(const struct dfs_mount *m, char *out, size_t cap, const char *fmt,
	      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmust(m, out, cap, fmt, ap);
	va_end(ap);
	return out;
}

long dfs_audit_lines(const struct dfs_mount *m)
{
	char buf[64];

	return atol(dfs_out(m, buf, sizeof(buf), "wc -l <\"$MNT/audit.log\""));
}

int dfs_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const char *p = data;

	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0)
		return -errno;
	return 0;
}

ssize_t dfs_copy_range(int in, loff_t off_in, int out, loff_t off_out,
		       size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = copy_file_range(in, &off_in, out, &off_out,
					    len - done, 0);

		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t dfs_read_file(const char *path, void *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	while (len < cap) {
		ssize_t n = read(fd, (char *)buf + len, cap - len);

		if (n < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return (ssize_t)len;
}

int dfs_mount_start(struct dfs_mount *m)
{
	char log[PATH_MAX], opts[PATH_MAX];
	pid_t parent = getpid();
	long deadline;
	pid_t pid;

	dfs_path(log, sizeof(log), "%s/daemon.log", m->dir);
	dfs_path(opts, sizeof(opts), "allow_other,auto_unmount%s%s",
		 m->opts[0] ? "," : "", m->opts);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (m->netns[0]) {
			char net[128];

			snprintf(net, sizeof(net), "--net=/run/netns/%s",
				 m->netns);
			execlp("nsenter", "nsenter", net, dfs_bin_deployfs(),
			       "-f", "-o", opts, m->store, m->mnt,
			       (char *)NULL);
		}
		execl(dfs_bin_deployfs(), "deployfs", "-f", "-o", opts,
		      m->store, m->mnt, (char *)NULL);
		_exit(127);
	}
	m->pid = pid;
	deadline = dfs_now_ms() + DEADLINE_MS;
	while (!dfs_is_mounted(m->mnt)) {
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid) {
			m->pid = 0;
			m->daemon_status = st;
			fprintf(stderr,
				"harness: deployfs exited early (%d), "
				"see %s\n",
				wait_status(st), log);
			return -EIO;
		}
		if (dfs_now_ms() > deadline) {
			fprintf(stderr, "harness: %s not mounted in time\n",
				m->mnt);
			return -ETIMEDOUT;
		}
		dfs_sleep_ms(5);
	}
	return 0;
}

static int wait_daemon(struct dfs_mount *m, long ms)
{
	long deadline = dfs_now_ms() + ms;
	int st;

	while (m->pid) {
		pid_t r = waitpid(m->pid, &st, WNOHANG);

		if (r == m->pid) {
			m->pid = 0;
			m->daemon_status = st;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -errno;
		if (dfs_now_ms() > deadline)
			return -ETIMEDOUT;
		dfs_sleep_ms(5);
	}
	return 0;
}

static void wait_unmounted(const char *mnt, long ms)
{
	long deadline = dfs_now_ms() + ms;

	while (dfs_is_mounted(mnt) && dfs_now_ms() < deadline)
		dfs_sleep_ms(5);
	if (dfs_is_mounted(mnt))
		umount2(mnt, MNT_DETACH);
}

/* The end of the daemon's log on stderr (a sanitizer's report, the last
 * errors), for a daemon that did not exit cleanly: the test folder and
 * its log are removed when the test ends. */
static void show_daemon_log(const struct dfs_mount *m)
{
	char cmd[PATH_MAX + 64];

	fprintf(stderr, "harness: deployfs ended with status 0x%x; its log:\n",
		(unsigned)m->daemon_status);
	dfs_path(cmd, sizeof(cmd),
		 "grep -v ': info:' '%s/daemon.log' | tail -n 60 >&2", m->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "harness: no log in %s\n", m->dir);
}

int dfs_mount_stop(struct dfs_mount *m)
{
	int rc;

	if (!m->pid)
		return -ESRCH;
	if (umount2(m->mnt, 0) < 0) {
		rc = -errno;
		fprintf(stderr, "harness: umount %s: %s\n", m->mnt,
			strerror(-rc));
		kill(m->pid, SIGTERM);
	}
	rc = wait_daemon(m, DEADLINE_MS);
	if (rc < 0) {
		kill(m->pid, SIGKILL);
		(void)wait_daemon(m, DEADLINE_MS);
		wait_unmounted(m->mnt, 2000);
		return rc;
	}
	wait_unmounted(m->mnt, 2000);
	if (!WIFEXITED(m->daemon_status) || WEXITSTATUS(m->daemon_status)) {
		show_daemon_log(m);
		return -EIO;
	}
	return 0;
}

int dfs_mount_kill9(struct dfs_mount *m)
{
	int rc;

	if (!m->pid)
		return -ESRCH;
	kill(m->pid, SIGKILL);
	rc = wait_daemon(m, DEADLINE_MS);
	wait_unmounted(m->mnt, DEADLINE_MS);
	return rc;
}

/* With DFS_TEST_PGHOST (tests/with-registry): a database of its own on
 * that server, made a registry, for the store about to be made. */
static int registry_opts(char *opts, size_t cap)
{
	const char *host = getenv("DFS_TEST_PGHOST");
	struct dfs_mount tmp = { 0 };
	char db[32];
	int rc;

	opts[0] = '\0';
	if (!host || !*host)
		return 0;
	snprintf(db, sizeof(db), "t%d_%ld", getpid(), dfs_now_ms() % 100000000);
	dfs_path(opts, cap, "registry=postgresql:///%s?host=%s&user=deployfs",
		 db, host);
	rc = dfs_sh(&tmp,
		    "psql -X -q 'postgresql:///postgres?host=%s&user=deployfs'"
		    " -c 'CREATE DATABASE %s' && \"$DEPLOYCTL\" init --registry"
		    " '%s' >/dev/null",
		    host, db, opts + strlen("registry="));
	return rc == 0 ? 0 : -EIO;
}

int dfs_mount_setup(struct dfs_mount *m)
{
	char opts[PATH_MAX];
	int rc = registry_opts(opts, sizeof(opts));

	return rc < 0 ? rc : dfs_mount_setup_opts(m, opts);
}

int dfs_mount_setup_opts(struct dfs_mount *m, const char *opts)
{
	return dfs_mount_setup_in(m, opts, "");
}

int dfs_mount_setup_in(struct dfs_mount *m, const char *opts, const char *netns)
{
	const char *tmp = env_or("TMPDIR", "/tmp");
	int rc;

	memset(m, 0, sizeof(*m));
	dfs_path(m->opts, sizeof(m->opts), "%s", opts);
	dfs_path(m->netns, sizeof(m->netns), "%s", netns);
	dfs_path(m->dir, sizeof(m->dir), "%s/dfs-test-XXXXXX", tmp);
	if (!mkdtemp(m->dir))
		return -errno;
	if (chmod(m->dir, 0755) < 0)
		return -errno;
	dfs_path(m->store, sizeof(m->store), "%s/store", m->dir);
	dfs_path(m->mnt, sizeof(m->mnt), "%s/mnt", m->dir);
	dfs_path(m->build, sizeof(m->build), "%s/mnt/build", m->dir);
	dfs_path(m->native, sizeof(m->native), "%s/native", m->dir);
	if (mkdir(m->mnt, 0755) < 0 || mkdir(m->native, 0755) < 0)
		return -errno;
	rc = dfs_sh(m, "\"$DEPLOYCTL\" init \"$STORE\" >/dev/null");
	if (rc != 0) {
		fprintf(stderr, "harness: deployctl init failed (%d)\n", rc);
		return -EIO;
	}
	return dfs_mount_start(m);
}

void dfs_mount_teardown(struct dfs_mount *m)
{
	if (m->pid)
		(void)dfs_mount_stop(m);
	if (m->mnt[0] && dfs_is_mounted(m->mnt))
		umount2(m->mnt, MNT_DETACH);
	if (m->dir[0] && !getenv("DFS_KEEP_TMP"))
		(void)dfs_sh(NULL, "rm -rf '%s'", m->dir);
	m->dir[0] = '\0';
}

int dfs_as_nobody(int (*fn)(void *arg), void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
		    setuid(65534) < 0)
			_exit(126);
		_exit(fn(arg));
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return wait_status(st);
}
