// SPDX-License-Identifier: MIT
/*
 * test_crash.c - kill -9 of the daemon while a writer is busy, then a
 * remount and `deployctl fsck`.  The writer is a child process that logs
 * what the filesystem has acknowledged to a native file outside the mount
 * (written, closed, and for the fsync tests fsynced); everything named in
 * that log must be intact after the remount.  A kill of the daemon is not a
 * power loss, so what close() acknowledged must survive it too.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 100000u
#define MAX_SIZE 40000u
#define LINE_LEN 9	/* "%08u\n" */
#define BIG_LINE_LEN 13 /* "%012lld\n" */
#define CHUNK 65536

static struct dfs_mount m;
static int setup_rc;
static pid_t writer_pid;
static char work[PATH_MAX];    /* build/process/order-sync/out */
static char logpath[PATH_MAX]; /* DIR/acked.log, outside the mount */

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
	dfs_path(work, sizeof(work), "%s/process/order-sync", m.build);
	if (setup_rc == 0 && mkdir(work, 0755) < 0)
		setup_rc = -errno;
	dfs_path(work, sizeof(work), "%s/process/order-sync/out", m.build);
	if (setup_rc == 0 && mkdir(work, 0755) < 0)
		setup_rc = -errno;
	dfs_path(logpath, sizeof(logpath), "%s/acked.log", m.dir);
}

static void teardown(void)
{
	if (writer_pid > 0) {
		kill(writer_pid, SIGKILL);
		waitpid(writer_pid, NULL, 0);
	}
	dfs_mount_teardown(&m);
}

TestSuite(crash, .init = setup, .fini = teardown, .timeout = 300);

/* For failure messages: did the daemon die under us (a crash, not a
 * refusal)?  Reads /proc, so the harness still reaps the daemon itself. */
static const char *daemon_state(void)
{
	char path[64], buf[256], *p;
	ssize_t n;

	if (!m.pid)
		return "daemon not running";
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)m.pid);
	n = dfs_read_file(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return "daemon gone";
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p && p[1] == ' ' && p[2] == 'Z')
		return "DAEMON DIED (crashed?), see dmesg and daemon.log";
	return dfs_is_mounted(m.mnt) ? "daemon up" : "daemon up, NOT mounted";
}

/* The content of file i: its size and bytes depend on i only. */
static size_t content_of(unsigned int i, unsigned char *buf)
{
	size_t len = 100 + (i * 2654435761u) % MAX_SIZE;
	uint32_t x = i * 2246822519u + 1;
	int n = snprintf((char *)buf, len, "order %08u\n", i);

	for (size_t k = (size_t)n; k < len; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[k] = (unsigned char)x;
	}
	return len;
}

static char *file_path(char *buf, unsigned int i)
{
	return dfs_path(buf, PATH_MAX, "%s/f-%08u.dat", work, i);
}

static int write_all(int fd, const void *data, size_t len, off_t off)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n <= 0)
			return -1;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Append v as a line of len bytes (zero-padded) and fsync the log. */
static int append_log(int lfd, int len, unsigned long long v)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%0*llu\n", len - 1, v);

	return write(lfd, line, (size_t)n) == n && fsync(lfd) == 0 ? 0 : -1;
}

/* Create files first..first+count-1, or until the mount goes away.  Each
 * is written whole, (fsynced,) closed, then logged.  Returns 0. */
static int write_files(unsigned int first, unsigned int count, bool sync)
{
	static unsigned char buf[MAX_SIZE + 100];
	int lfd =
		open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	char p[PATH_MAX];

	if (lfd < 0)
		return 2;
	for (unsigned int i = first; i < first + count; i++) {
		size_t len = content_of(i, buf);
		int fd = open(file_path(p, i),
			      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0)
			return 0;
		if (write_all(fd, buf, len, 0) < 0 || (sync && fsync(fd))) {
			close(fd);
			return 0;
		}
		if (close(fd) < 0)
			return 0;
		if (append_log(lfd, LINE_LEN, i) < 0)
			return 3;
	}
	return 0;
}

static pid_t spawn(int (*fn)(bool), bool arg)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn(arg));
	writer_pid = pid;
	return pid;
}

static int files_synced(bool unused)
{
	return write_files(0, MAX_FILES, true);
}

/* Wait (deadline 60 s) until the writer has logged lines lines. */
static void wait_progress(long lines, long line_len)
{
	long deadline = dfs_now_ms() + 60000;
	struct timespec ts = { 0, 2000000 };
	struct stat st = { 0 };
	int status;

	for (;;) {
		if (stat(logpath, &st) == 0 && st.st_size / line_len >= lines)
			return;
		cr_assert_neq(waitpid(writer_pid, &status, WNOHANG), writer_pid,
			      "writer ended early (status 0x%x) after %lld "
			      "lines",
			      status, (long long)st.st_size / line_len);
		cr_assert_lt(dfs_now_ms(), deadline,
			     "writer too slow: %lld lines",
			     (long long)st.st_size / line_len);
		nanosleep(&ts, NULL);
	}
}

static void kill_daemon_and_writer_ends(void)
{
	int rc = dfs_mount_kill9(&m);
	int status;

	cr_assert_eq(rc, 0, "kill9: %s", strerror(-rc));
	cr_assert(!dfs_is_mounted(m.mnt), "mount left after kill -9");
	if (writer_pid > 0) {
		cr_assert_eq(waitpid(writer_pid, &status, 0), writer_pid);
		writer_pid = 0;
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "writer failed: status 0x%x", status);
	}
}

static void remount_and_fsck(void)
{
	char out[8192];
	int rc = dfs_mount_start(&m);

	cr_assert_eq(rc, 0, "remount after kill -9: %s (see %s/daemon.log)",
		     strerror(-rc), m.dir);
	rc = dfs_sh_out(&m, out, sizeof(out),
			"\"$DEPLOYCTL\" fsck \"$STORE\" 2>&1");
	cr_assert_eq(rc, 0, "deployctl fsck exit %d:\n%s", rc, out);
	cr_assert(dfs_is_mounted(m.mnt), "%s", daemon_state());
}

/* Every file named in the log has exactly the content written. */
static long verify_logged_files(void)
{
	static unsigned char want[MAX_SIZE + 100], got[MAX_SIZE + 200];
	char p[PATH_MAX];
	unsigned int i;
	long n = 0;
	FILE *f = fopen(logpath, "re");

	cr_assert_not_null(f, "log: %s", strerror(errno));
	while (fscanf(f, "%8u\n", &i) == 1) {
		size_t len = content_of(i, want);
		ssize_t r = dfs_read_file(file_path(p, i), got, sizeof(got));

		cr_assert_eq(r, (ssize_t)len,
			     "%s: read %zd (%s), want %zu "
			     "bytes; %s",
			     p, r, r < 0 ? strerror((int)-r) : "", len,
			     daemon_state());
		cr_assert_arr_eq(got, want, len, "%s: content differs", p);
		n++;
	}
	fclose(f);
	return n;
}

Test(crash, kill9_during_fsynced_writes_keeps_every_acked_file)
{
	long n;

	dfs_need_mount(&m, setup_rc);
	spawn(files_synced, true);
	wait_progress(150, LINE_LEN);
	kill_daemon_and_writer_ends();
	remount_and_fsck();
	n = verify_logged_files();
	cr_assert_geq(n, 150);
	/* The mount works on: more files go in and read back. */
	cr_assert_eq(write_files((unsigned int)n + 10, 20, true), 0);
	cr_assert_eq(verify_logged_files(), n + 20);
}

Test(crash, kill9_right_after_close_without_fsync)
{
	static unsigned char buf[MAX_SIZE + 100], got[MAX_SIZE + 200];
	char p[PATH_MAX], q[PATH_MAX];
	struct stat st;
	size_t len;

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(write_files(0, 300, false), 0);
	cr_assert_eq(stat(logpath, &st), 0);
	cr_assert_eq(st.st_size, 300 * LINE_LEN, "writes failed");
	/* Metadata acknowledged just before the kill, unsynced as well. */
	dfs_path(q, sizeof(q), "%s/renamed.dat", work);
	cr_assert_eq(rename(file_path(p, 0), q), 0);
	cr_assert_eq(chmod(file_path(p, 1), 0600), 0);
	cr_assert_eq(unlink(file_path(p, 2)), 0);
	kill_daemon_and_writer_ends();
	remount_and_fsck();
	cr_assert_eq(access(file_path(p, 0), F_OK), -1, "rename undone");
	cr_assert_eq(access(file_path(p, 2), F_OK), -1, "unlink undone");
	cr_assert_eq(errno, ENOENT);
	cr_assert_eq(stat(file_path(p, 1), &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "chmod lost");
	len = content_of(0, buf);
	cr_assert_eq(dfs_read_file(q, got, sizeof(got)), (ssize_t)len);
	cr_assert_arr_eq(got, buf, len, "renamed file content");
	/* Put the renamed and removed files back, then check all 300. */
	cr_assert_eq(rename(q, file_path(p, 0)), 0);
	cr_assert_eq(dfs_write_file(file_path(p, 2), buf, content_of(2, buf)),
		     0);
	cr_assert_eq(verify_logged_files(), 300);
}

/* Child: rename a-N to b-N for N = 0, 1, ... and log N after each. */
static int rename_storm(bool unused)
{
	char a[PATH_MAX], b[PATH_MAX];
	int lfd =
		open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (lfd < 0)
		return 2;
	for (unsigned int i = 0; i < 2000; i++) {
		dfs_path(a, sizeof(a), "%s/a-%08u", work, i);
		dfs_path(b, sizeof(b), "%s/b-%08u", work, i);
		if (rename(a, b) < 0)
			return 0;
		if (append_log(lfd, LINE_LEN, i) < 0)
			return 3;
	}
	return 0;
}

Test(crash, kill9_during_renames_keeps_each_file_exactly_once)
{
	char a[PATH_MAX], b[PATH_MAX], out[256];
	struct stat st = { 0 };
	long done;

	dfs_need_mount(&m, setup_rc);
	for (int i = 0; i < 2000; i++) {
		snprintf(out, sizeof(out), "item %08d", i);
		cr_assert_eq(dfs_write_file(dfs_path(a, sizeof(a), "%s/a-%08d",
						     work, i),
					    out, 13),
			     0);
	}
	spawn(rename_storm, false);
	wait_progress(200, LINE_LEN);
	kill_daemon_and_writer_ends();
	remount_and_fsck();
	cr_assert_eq(stat(logpath, &st), 0);
	done = st.st_size / LINE_LEN;
	cr_assert_geq(done, 200);
	for (long i = 0; i < 2000; i++) {
		bool has_a, has_b;
		char want[32];

		dfs_path(a, sizeof(a), "%s/a-%08ld", work, i);
		dfs_path(b, sizeof(b), "%s/b-%08ld", work, i);
		has_a = access(a, F_OK) == 0;
		has_b = access(b, F_OK) == 0;
		cr_assert(has_a != has_b, "item %ld: a %d, b %d; %s", i, has_a,
			  has_b, daemon_state());
		if (i < done)
			cr_assert(has_b, "acked rename %ld lost", i);
		if (i > done)
			cr_assert(has_a, "rename %ld happened unasked", i);
		snprintf(want, sizeof(want), "item %08ld", i);
		cr_assert_eq(dfs_read_file(has_a ? a : b, out, sizeof(out)),
			     13);
		cr_assert_arr_eq(out, want, 13, "item %ld content", i);
	}
}

/* Child: append 64 KiB chunks to one file; fsync and log the size every
 * 16 chunks. */
static int grow_one_file(bool unused)
{
	static unsigned char chunk[CHUNK];
	char p[PATH_MAX];
	int lfd =
		open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int fd = open(dfs_path(p, sizeof(p), "%s/big.dat", work),
		      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (lfd < 0 || fd < 0)
		return 2;
	for (long long off = 0; off < (4LL << 30); off += CHUNK) {
		for (size_t k = 0; k < CHUNK; k++)
			chunk[k] = (unsigned char)((off + (long long)k) % 251);
		if (write_all(fd, chunk, CHUNK, off) < 0)
			return 0;
		if ((off / CHUNK) % 16 == 15) {
			if (fsync(fd) < 0)
				return 0;
			if (append_log(lfd, BIG_LINE_LEN,
				       (unsigned long long)off + CHUNK) < 0)
				return 3;
		}
	}
	return 0;
}

Test(crash, kill9_while_one_file_grows_keeps_fsynced_prefix)
{
	static unsigned char buf[CHUNK], want[CHUNK];
	char p[PATH_MAX], line[BIG_LINE_LEN + 1];
	long long acked, size;
	struct stat st;
	int fd, lfd;

	dfs_need_mount(&m, setup_rc);
	spawn(grow_one_file, false);
	wait_progress(8, BIG_LINE_LEN);
	kill_daemon_and_writer_ends();
	remount_and_fsck();
	lfd = open(logpath, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(fstat(lfd, &st), 0);
	cr_assert_eq(pread(lfd, line, BIG_LINE_LEN, st.st_size - BIG_LINE_LEN),
		     BIG_LINE_LEN);
	close(lfd);
	line[BIG_LINE_LEN] = '\0';
	acked = atoll(line);
	cr_assert_geq(acked, 8LL * 16 * CHUNK);
	fd = open(dfs_path(p, sizeof(p), "%s/big.dat", work),
		  O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "big.dat: %s", strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	size = st.st_size;
	cr_assert_geq(size, acked, "size %lld < fsynced %lld", size, acked);
	for (long long off = 0; off < acked; off += CHUNK) {
		for (size_t k = 0; k < CHUNK; k++)
			want[k] = (unsigned char)((off + (long long)k) % 251);
		cr_assert_eq(pread(fd, buf, CHUNK, off), CHUNK);
		cr_assert_arr_eq(buf, want, CHUNK, "chunk at %lld", off);
	}
	close(fd);
}

/*
 * fsync of a folder makes its entries durable: a file created in it and
 * not yet closed (its creation waits up to 20 ms for a group commit) is
 * there after a kill -9 that follows the fsync at once.  The daemon used
 * to answer FSYNCDIR with success and commit nothing.  Several files,
 * each killed right after its folder's fsync, so that a commit the tick
 * happened to make cannot hide the defect.
 */
Test(crash, fsync_of_a_folder_keeps_the_files_created_in_it)
{
	char p[PATH_MAX];
	struct stat st;

	dfs_need_mount(&m, setup_rc);
	for (int i = 0; i < 3; i++) {
		int fd, dfd;

		fd = open(dfs_path(p, sizeof(p), "%s/made-%d.txt", work, i),
			  O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		cr_assert_geq(fd, 0, "create: %s", strerror(errno));
		dfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		cr_assert_geq(dfd, 0);
		cr_assert_eq(fsync(dfd), 0, "fsync of the folder: %s",
			     strerror(errno));
		kill_daemon_and_writer_ends();
		close(dfd);
		close(fd);
		remount_and_fsck();
		for (int j = 0; j <= i; j++)
			cr_expect_eq(stat(dfs_path(p, sizeof(p),
						   "%s/made-%d.txt", work, j),
					  &st),
				     0,
				     "made-%d.txt is gone after fsync of its "
				     "folder and kill -9 (round %d)",
				     j, i);
	}
}
