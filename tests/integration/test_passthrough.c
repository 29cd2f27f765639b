// SPDX-License-Identifier: MIT
/*
 * test_passthrough.c - files that never change (a package's, one shown in
 * an environment) are read by the kernel straight from their content
 * once it is found good (FUSE passthrough, issue #14 item 3): a read of
 * such a file needs no daemon.  Each test proves it the hard way: it
 * opens the file, stops the daemon with SIGSTOP and reads it in a child
 * that must finish before a deadline (a read served by the daemon would
 * wait for it).  A file whose content is still being checked as it is
 * read (a blob file not yet found good in this mount) is read through
 * the daemon, and so are the opens of it that come while such an open is
 * held: the kernel refuses to mix the two ways on one file (EIO).
 *
 * Where the kernel cannot pass through (before Linux 6.9, built without
 * CONFIG_FUSE_PASSTHROUGH, or tests not run as root), the promise is that
 * the same files are read through the daemon: the tests then check those
 * reads instead, and say so in their output.
 */
#include "expect.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG_LEN ((3u << 20) + 4321) /* a blob file of its own */
#define SMALL_LEN 3000		    /* kept in the database */
#define DEADLINE_MS 20000

static struct dfs_mount m;
static int setup_rc;
static unsigned char *big, *small;

static void fill(unsigned char *p, size_t n, uint32_t seed)
{
	uint32_t x = seed;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

static void setup(void)
{
	big = malloc(BIG_LEN);
	small = malloc(SMALL_LEN);
	if (!big || !small) {
		setup_rc = -ENOMEM;
		return;
	}
	fill(big, BIG_LEN, 0x9e3779b9u);
	fill(small, SMALL_LEN, 0x85ebca6bu);
	setup_rc = dfs_mount_setup(&m);
}

static void teardown(void)
{
	dfs_mount_teardown(&m);
	free(big);
	free(small);
}

TestSuite(passthrough, .init = setup, .fini = teardown, .timeout = 180);

/* build/process/pt with big.bin and small.txt, packaged as pt@1 and
 * deployed by link in environments/test. */
static void package(void)
{
	char p[PATH_MAX];

	dfs_need_mount(&m, setup_rc);
	dfs_ok(&m, "mkdir -p \"$BUILD/process/pt\"");
	cr_assert_eq(dfs_write_file(dfs_path(p, sizeof(p),
					     "%s/process/pt/big.bin", m.build),
				    big, BIG_LEN),
		     0);
	cr_assert_eq(
		dfs_write_file(dfs_path(p, sizeof(p), "%s/process/pt/small.txt",
					m.build),
			       small, SMALL_LEN),
		0);
	dfs_ok(&m,
	       "mkdir \"$MNT/packages/pt/pt@1\" && "
	       "mkdir \"$MNT/environments/test\" && "
	       "ln -s ../../packages/pt/pt@1 \"$MNT/environments/test/pt\"");
}

static int open_in(const char *tree, const char *name)
{
	char p[PATH_MAX];
	int fd = open(dfs_path(p, sizeof(p), "%s/%s/%s", m.mnt, tree, name),
		      O_RDONLY);

	cr_assert_geq(fd, 0, "open %s/%s: %s", tree, name, strerror(errno));
	return fd;
}

/* 0 if fd holds want[0..n), read at offset 0; else 1. */
static int read_equals(int fd, const unsigned char *want, size_t n)
{
	unsigned char *buf = malloc(n + 1);
	size_t got = 0;

	while (buf && got <= n) {
		ssize_t r = pread(fd, buf + got, n + 1 - got, (off_t)got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return buf && got == n && memcmp(buf, want, n) == 0 ? 0 : 1;
}

struct wanted {
	int fd;
	const unsigned char *want;
	size_t n;
};

/*
 * Read each fd whole in a child while the daemon is stopped.  Returns
 * what the child found (0: every byte right), or -ETIMEDOUT when it had
 * not told by the deadline: a read waited for the daemon.  The child
 * tells through a pipe, not by exiting: its exit closes its copies of the
 * fds, and each close of a FUSE file waits for the daemon (FLUSH).
 */
static int read_while_stopped(const struct wanted *w, size_t count)
{
	struct pollfd pfd;
	unsigned char res = 1;
	int pipefd[2], rc;
	pid_t child;

	cr_assert_eq(pipe(pipefd), 0);
	cr_assert_eq(kill(m.pid, SIGSTOP), 0);
	child = fork();
	if (child == 0) {
		res = 0;
		for (size_t i = 0; i < count && res == 0; i++)
			res = (unsigned char)read_equals(w[i].fd, w[i].want,
							 w[i].n);
		_exit(write(pipefd[1], &res, 1) == 1 ? 0 : 1);
	}
	close(pipefd[1]);
	pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	rc = poll(&pfd, 1, DEADLINE_MS);
	if (rc == 1 && read(pipefd[0], &res, 1) == 1)
		rc = res;
	else
		rc = -ETIMEDOUT;
	kill(m.pid, SIGCONT);
	if (rc == -ETIMEDOUT && child > 0)
		kill(child, SIGKILL);
	if (child > 0)
		waitpid(child, NULL, 0);
	close(pipefd[0]);
	return rc;
}

/* Can this kernel, for this user, read a FUSE file from a backing file?
 * Root, Linux 6.9 or later, and CONFIG_FUSE_PASSTHROUGH where the
 * kernel's configuration can be read. */
static bool passthrough_expected(void)
{
	char config[PATH_MAX], cmd[PATH_MAX + 64];
	unsigned major = 0, minor = 0;
	struct utsname u;

	if (geteuid() != 0 || uname(&u) != 0 ||
	    sscanf(u.release, "%u.%u", &major, &minor) != 2 ||
	    major * 1000 + minor < 6009)
		return false;
	if (access("/proc/config.gz", R_OK) == 0)
		return system("zgrep -q '^CONFIG_FUSE_PASSTHROUGH=y' "
			      "/proc/config.gz") == 0;
	snprintf(config, sizeof(config), "/boot/config-%s", u.release);
	if (access(config, R_OK) != 0)
		return true;
	snprintf(cmd, sizeof(cmd), "grep -q '^CONFIG_FUSE_PASSTHROUGH=y' %s",
		 config);
	return system(cmd) == 0;
}

/* With passthrough, read_while_stopped(); without, the same reads through
 * the running daemon. */
static int read_without_daemon(const struct wanted *w, size_t count)
{
	if (passthrough_expected())
		return read_while_stopped(w, count);
	cr_log_warn("this kernel does not pass FUSE reads through: checking "
		    "the reads through the daemon instead");
	for (size_t i = 0; i < count; i++)
		if (read_equals(w[i].fd, w[i].want, w[i].n) != 0)
			return 1;
	return 0;
}

Test(passthrough, package_and_environment_files_are_read_without_the_daemon)
{
	struct wanted w[4];
	int rc;

	package();
	w[0] = (struct wanted){ open_in("packages/pt/pt@1", "big.bin"), big,
				BIG_LEN };
	w[1] = (struct wanted){ open_in("packages/pt/pt@1", "small.txt"), small,
				SMALL_LEN };
	w[2] = (struct wanted){ open_in("environments/test/pt", "big.bin"), big,
				BIG_LEN };
	/* A second open of the same file shares its backing. */
	w[3] = (struct wanted){ open_in("packages/pt/pt@1", "big.bin"), big,
				BIG_LEN };
	rc = read_without_daemon(w, 4);
	cr_expect_eq(rc, 0,
		     "reading the opened files with the daemon stopped: %s",
		     rc == -ETIMEDOUT ? "the reads waited for the daemon"
				      : "wrong bytes");
	for (int i = 0; i < 4; i++)
		close(w[i].fd);
	/* And the daemon, woken, serves them as before. */
	dfs_ok(&m, "cmp \"$MNT/packages/pt/pt@1/big.bin\" "
		   "\"$BUILD/process/pt/big.bin\"");
}

Test(passthrough, a_file_being_checked_is_read_through_the_daemon_then_not)
{
	struct wanted w;
	int a, b, rc;

	package();
	/* A new mount has found no blob good yet: big.bin's chunks are
	 * checked as they are read, through the daemon. */
	cr_assert_eq(dfs_mount_stop(&m), 0);
	cr_assert_eq(dfs_mount_start(&m), 0);
	a = open_in("packages/pt/pt@1", "big.bin");
	cr_assert_eq(pread(a, (char[1]){ 0 }, 1, 0), 1);
	/* An open while that one is held goes the same way: a mix would
	 * fail it with EIO.  It reads every chunk, so the blob is found
	 * good. */
	b = open_in("packages/pt/pt@1", "big.bin");
	cr_expect_eq(read_equals(b, big, BIG_LEN), 0,
		     "a second open while the first is read through the "
		     "daemon: %s",
		     strerror(errno));
	cr_expect_eq(read_equals(a, big, BIG_LEN), 0);
	/* What they read is in the kernel's cache of this file: drop it,
	 * or a read without the daemon would prove nothing. */
	cr_assert_eq(posix_fadvise(a, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(a);
	close(b);
	/* Found good and no longer open: the next open passes through. */
	w = (struct wanted){ open_in("packages/pt/pt@1", "big.bin"), big,
			     BIG_LEN };
	rc = read_without_daemon(&w, 1);
	cr_expect_eq(rc, 0, "read with the daemon stopped: %s",
		     rc == -ETIMEDOUT ? "it waited for the daemon"
				      : "wrong bytes");
	close(w.fd);
}

/* Each file found good by a reader that then closes it is passed through
 * at its next open (cat f; cat f): the open waits for the closed opens'
 * RELEASE, which another daemon thread may not have taken yet, rather
 * than race it and be read through the daemon. */
Test(passthrough, a_file_opened_again_after_its_check_passes_through)
{
	enum { FILES = 12, LEN = 300 << 10, STEP = 1000 };
	char p[PATH_MAX], name[32];
	struct wanted w;
	int a, rc;

	dfs_need_mount(&m, setup_rc);
	dfs_ok(&m, "mkdir -p \"$BUILD/process/rr\"");
	for (int i = 0; i < FILES; i++)
		cr_assert_eq(dfs_write_file(dfs_path(p, sizeof(p),
						     "%s/process/rr/f%d.bin",
						     m.build, i),
					    big + i * STEP, LEN),
			     0);
	dfs_ok(&m, "mkdir \"$MNT/packages/rr/rr@1\"");
	cr_assert_eq(dfs_mount_stop(&m), 0); /* nothing found good yet */
	cr_assert_eq(dfs_mount_start(&m), 0);
	for (int i = 0; i < FILES; i++) {
		snprintf(name, sizeof(name), "f%d.bin", i);
		a = open_in("packages/rr/rr@1", name);
		cr_assert_eq(read_equals(a, big + i * STEP, LEN), 0);
		cr_assert_eq(posix_fadvise(a, 0, 0, POSIX_FADV_DONTNEED), 0);
		close(a);
		w = (struct wanted){ open_in("packages/rr/rr@1", name),
				     big + i * STEP, LEN };
		rc = read_without_daemon(&w, 1);
		close(w.fd);
		cr_assert_eq(rc, 0, "%s opened again, daemon stopped: %s", name,
			     rc == -ETIMEDOUT ? "the read waited for it"
					      : "wrong bytes");
	}
}

Test(passthrough, a_package_file_mapped_reads_its_bytes)
{
	int fd;
	unsigned char *p;

	package();
	fd = open_in("packages/pt/pt@1", "big.bin");
	p = mmap(NULL, BIG_LEN, PROT_READ, MAP_SHARED, fd, 0);
	cr_assert_neq(p, MAP_FAILED, "mmap: %s", strerror(errno));
	cr_expect_eq(memcmp(p, big, BIG_LEN), 0, "mapped bytes differ");
	munmap(p, BIG_LEN);
	close(fd);
}

Test(passthrough, a_package_file_is_still_refused_to_who_may_not_read_it)
{
	int rc;

	package();
	dfs_ok(&m, "chmod 0600 \"$BUILD/process/pt/small.txt\" && "
		   "mkdir \"$MNT/packages/pt/pt@2\"");
	rc = dfs_sh(&m, "setpriv --reuid=65534 --regid=65534 --clear-groups "
			"cat \"$MNT/packages/pt/pt@2/small.txt\" >/dev/null "
			"2>&1");
	cr_expect_eq(rc, 1, "nobody read a 0600 package file (cat exited %d)",
		     rc);
	/* Its owner reads it, through the kernel. */
	dfs_ok(&m, "cmp \"$MNT/packages/pt/pt@2/small.txt\" "
		   "\"$BUILD/process/pt/small.txt\"");
}
