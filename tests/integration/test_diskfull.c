// SPDX-License-Identifier: MIT
/*
 * test_diskfull.c - the store on a full file system: a call answered
 * with success is kept, or its loss reaches the caller (the call fails,
 * or the next close or fsync of the file does), never lost in silence.
 *
 * Each test moves its store onto a small tmpfs of its own, mounts it,
 * fills the tmpfs from outside (another tenant of the disk), makes calls,
 * then unmounts, frees the space, mounts again and checks what is there.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static struct dfs_mount m;
static int setup_rc;

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
}

static void teardown(void)
{
	(void)dfs_mount_stop(&m);
	(void)dfs_sh(&m, "! mountpoint -q \"$STORE\" || umount -l \"$STORE\"");
	dfs_mount_teardown(&m);
}

TestSuite(diskfull, .init = setup, .fini = teardown, .timeout = 120);

/* Files f and g in build/ (0644, 2020 times). */
static void make_files(void)
{
	dfs_need_mount(&m, setup_rc);
	dfs_ok(&m, "cd \"$BUILD\" && mkdir -p process/p && cd process/p && "
		   "echo one >f && echo two >g && chmod 644 f g && "
		   "touch -d 2020-01-01 f g");
}

/* The fill a full disk gets: to the last byte. */
#define FILL(name)                                                 \
	"head -c 64M /dev/zero >\"$STORE/" name "\" 2>/dev/null; " \
	"test \"$(stat -f -c %%a \"$STORE\")\" = 0"

/* The store on a tmpfs (its reserve, sized for the disk it was on, left
 * behind), mounted again, and the tmpfs filled. */
static void fill_up(void)
{
	cr_assert_eq(dfs_mount_stop(&m), 0, "clean unmount");
	dfs_ok(&m,
	       "mv \"$STORE\" \"$DIR/store0\" && mkdir \"$STORE\" && "
	       "mount -t tmpfs -o size=24m,mode=0700 dfs-full \"$STORE\" && "
	       "tar -C \"$DIR/store0\" --exclude=./reserve -cf - . | "
	       "tar -C \"$STORE\" -xf - && rm -rf \"$DIR/store0\"");
	cr_assert_eq(dfs_mount_start(&m), 0, "mount on the tmpfs");
	/* head fails when the file system is full: that is the point. */
	dfs_ok(&m, FILL("filler"));
}

static void prepare(void)
{
	make_files();
	fill_up();
}

/* Unmount (it may find the disk full), free the space, mount again. */
static void remount_with_space(void)
{
	(void)dfs_mount_stop(&m);
	dfs_ok(&m, "rm -f \"$STORE/filler\"");
	cr_assert_eq(dfs_mount_start(&m), 0, "mount again");
}

static const char *at(char *buf, size_t cap, const char *name)
{
	return dfs_path(buf, cap, "%s/process/p/%s", m.build, name);
}

/* prepare(), then g open for writing. */
static int prepare_and_open_g(void)
{
	char p[4096];
	int fd;

	prepare();
	fd = open(at(p, sizeof(p), "g"), O_WRONLY);
	cr_assert_geq(fd, 0, "open: %s", strerror(errno));
	return fd;
}

/*
 * chmod, utimensat and setxattr of a path on a full disk: each either
 * fails (ENOSPC) or is there after a remount.  The old group commit
 * answered all three, then rolled them back: a chmod 600 that never
 * happened.
 */
Test(diskfull, calls_on_a_path_are_kept_or_refused)
{
	struct timespec t[2] = { { 978307200, 0 }, { 978307200, 0 } };
	int rc_mode, err_mode, rc_time, err_time, rc_x, err_x;
	char p[4096], x[8];
	struct stat sb;

	prepare();
	rc_mode = chmod(at(p, sizeof(p), "f"), 0600);
	err_mode = errno;
	rc_time = utimensat(AT_FDCWD, at(p, sizeof(p), "f"), t, 0);
	err_time = errno;
	rc_x = setxattr(at(p, sizeof(p), "f"), "user.x", "1", 1, 0);
	err_x = errno;
	cr_log_info("on a full disk: chmod %d, utimensat %d, setxattr %d",
		    rc_mode < 0 ? -err_mode : 0, rc_time < 0 ? -err_time : 0,
		    rc_x < 0 ? -err_x : 0);
	if (rc_mode < 0)
		cr_assert_eq(err_mode, ENOSPC, "chmod: %s", strerror(err_mode));
	if (rc_time < 0)
		cr_assert_eq(err_time, ENOSPC, "utimensat: %s",
			     strerror(err_time));
	if (rc_x < 0)
		cr_assert_eq(err_x, ENOSPC, "setxattr: %s", strerror(err_x));

	remount_with_space();
	cr_assert_eq(stat(at(p, sizeof(p), "f"), &sb), 0);
	if (rc_mode == 0)
		cr_assert_eq(sb.st_mode & 07777, 0600,
			     "chmod 600 answered 0, the file is %o",
			     sb.st_mode & 07777);
	if (rc_time == 0)
		cr_assert_eq(sb.st_mtime, 978307200,
			     "utimensat answered 0, mtime is %lld",
			     (long long)sb.st_mtime);
	if (rc_x == 0)
		cr_assert_eq(
			getxattr(at(p, sizeof(p), "f"), "user.x", x, sizeof(x)),
			1, "setxattr answered 0, user.x is gone");
	/* And the refused ones changed nothing. */
	if (rc_mode < 0)
		cr_assert_eq(sb.st_mode & 07777, 0644);
}

/*
 * fchmod and fsetxattr on a file open for writing are answered at once
 * (group commit); a commit that undoes them fails the close.
 */
Test(diskfull, calls_on_an_open_file_are_kept_or_fail_its_close)
{
	int fd, rc_mode, rc_x, rc_close, err_close;
	char p[4096], x[8];
	struct stat sb;

	fd = prepare_and_open_g();
	rc_mode = fchmod(fd, 0600);
	rc_x = fsetxattr(fd, "user.x", "1", 1, 0);
	rc_close = close(fd);
	err_close = errno;
	cr_log_info("on a full disk: fchmod %d, fsetxattr %d, close %d",
		    rc_mode, rc_x, rc_close < 0 ? -err_close : 0);
	if (rc_close < 0)
		cr_assert_eq(err_close, ENOSPC, "close: %s",
			     strerror(err_close));

	remount_with_space();
	cr_assert_eq(stat(at(p, sizeof(p), "g"), &sb), 0);
	if (rc_close == 0) {
		if (rc_mode == 0)
			cr_assert_eq(sb.st_mode & 07777, 0600,
				     "fchmod and close answered 0, the file "
				     "is %o",
				     sb.st_mode & 07777);
		if (rc_x == 0)
			cr_assert_eq(getxattr(at(p, sizeof(p), "g"), "user.x",
					      x, sizeof(x)),
				     1,
				     "fsetxattr and close answered 0, "
				     "user.x is gone");
	}
	cr_assert(rc_mode < 0 || rc_x < 0 || rc_close < 0 ||
			  (sb.st_mode & 07777) == 0600,
		  "every call answered 0 and the change is gone");
}

/*
 * A reader's close does not take the writer's report: the writer's
 * fchmod is answered, a commit undoes it, and a process that only read
 * the file closes it first.  That close reports nothing (it has nothing
 * to flush); the writer's close either reports the loss or the change
 * is there.  (Each close used to send a FLUSH, and the first one, the
 * reader's, would take the error whenever the close log could not keep
 * the call either: the writer's close answered 0 for a change that was
 * gone.  Here the close log keeps it, so this guards that path rather
 * than reproduces it.)
 */
Test(diskfull, a_readers_close_does_not_take_the_writers_report)
{
	int fd, rd, rc_mode, rc_close, err_close;
	char p[4096], buf[16];
	struct stat sb;

	fd = prepare_and_open_g();
	rc_mode = fchmod(fd, 0600);
	/* A file system call that commits: the group commit meets the full
	 * disk now, not in 20 ms. */
	(void)chmod(at(p, sizeof(p), "f"), 0600);
	rd = open(at(p, sizeof(p), "g"), O_RDONLY);
	cr_assert_geq(rd, 0, "open to read: %s", strerror(errno));
	cr_assert_geq(read(rd, buf, sizeof(buf)), 0);
	cr_assert_eq(close(rd), 0, "the reader's close: %s", strerror(errno));
	rc_close = close(fd);
	err_close = errno;
	cr_log_info("on a full disk: fchmod %d, the writer's close %d", rc_mode,
		    rc_close < 0 ? -err_close : 0);
	if (rc_close < 0)
		cr_assert_eq(err_close, ENOSPC, "close: %s",
			     strerror(err_close));

	remount_with_space();
	cr_assert_eq(stat(at(p, sizeof(p), "g"), &sb), 0);
	cr_assert(rc_mode < 0 || rc_close < 0 || (sb.st_mode & 07777) == 0600,
		  "fchmod and the writer's close answered 0, the file is %o",
		  sb.st_mode & 07777);
}

/* The space the tmpfs under the store has free, in KiB. */
static long free_kib(void)
{
	char out[64];

	return atol(dfs_out(&m, out, sizeof(out),
			    "echo $(( $(stat -f -c '%%a * %%S' \"$STORE\") "
			    "/ 1024 ))"));
}

/*
 * On a full disk what frees space works: rm, mv, rmdir, undeploy,
 * unmount and mount; and the space comes back once files are removed.
 */
Test(diskfull, removing_undeploying_and_mounting_work_on_a_full_disk)
{
	long deadline;

	make_files();
	dfs_ok(&m,
	       "mkdir \"$BUILD/process/p/empty\" && "
	       "mkdir \"$MNT/packages/p/p@1\" \"$MNT/environments/test\" && "
	       "ln -s ../../packages/p/p@1 \"$MNT/environments/test/p\" && "
	       "head -c 4M /dev/urandom >\"$BUILD/process/p/big.bin\"");
	fill_up();

	dfs_ok(&m, "cd \"$BUILD/process/p\" && mv g h && rmdir empty");
	dfs_ok(&m, "rm \"$MNT/environments/test/p\" && "
		   "test ! -e \"$MNT/environments/test/p@1\"");
	/* big.bin is in no package: its blob goes with it. */
	dfs_ok(&m, "rm \"$BUILD/process/p/big.bin\"");
	deadline = dfs_now_ms() + 10000;
	while (free_kib() < 2048 && dfs_now_ms() < deadline)
		dfs_sleep_ms(50);
	cr_assert_geq(free_kib(), 2048, "%ld KiB free after rm of 4 MiB",
		      free_kib());

	/* Full again: unmount and mount. */
	dfs_ok(&m, FILL("filler2"));
	cr_assert_eq(dfs_mount_stop(&m), 0, "unmount on a full disk");
	cr_assert_eq(dfs_mount_start(&m), 0, "mount on a full disk");
	dfs_ok(&m, "cd \"$BUILD/process/p\" && test -f h && test ! -e g && "
		   "test ! -e big.bin && test ! -e empty && "
		   "test ! -e \"$MNT/environments/test/p\"");
	dfs_ok(&m, "rm \"$BUILD/process/p/h\"");
}

/* Poll until daemon.log holds text; false past the deadline. */
static bool daemon_logged(const char *text, long ms)
{
	long deadline = dfs_now_ms() + ms;

	while (dfs_sh(&m, "grep -qF '%s' \"$DIR/daemon.log\"", text) != 0) {
		if (dfs_now_ms() > deadline)
			return false;
		dfs_sleep_ms(20);
	}
	return true;
}

/*
 * A close is answered once its calls are in the close log (STORE/redo),
 * before the group commit.  When that commit then finds the disk full,
 * the calls are not undone: they wait in the log and the next commit
 * takes them, once there is room.  The log has room of its own here (its
 * earlier records), the WAL has none.
 */
Test(diskfull, a_commit_that_fails_after_a_close_keeps_its_calls)
{
	char p[4096], x[8];
	struct stat sb;
	bool retried;
	int fd;

	make_files();
	fill_up();
	dfs_ok(&m, "rm -f \"$STORE/filler\"");
	/* Records in the log, committed: room it writes over later. */
	dfs_ok(&m, "cd \"$BUILD/process/p\" && for i in 1 2 3 4; do "
		   "head -c 16384 /dev/urandom >r$i; done && sync .");
	dfs_ok(&m, "test $(stat -c %%s \"$STORE/redo\") -gt 16384");
	fd = open(at(p, sizeof(p), "g"), O_WRONLY);
	cr_assert_geq(fd, 0, "open: %s", strerror(errno));
	/* Full; a call lets the reserve go; full again. */
	dfs_ok(&m, FILL("filler"));
	dfs_ok(&m, "chmod 644 \"$BUILD/process/p/f\" || true");
	dfs_ok(&m, FILL("filler2"));

	cr_assert_eq(fchmod(fd, 0600), 0, "fchmod: %s", strerror(errno));
	cr_assert_eq(fsetxattr(fd, "user.x", "1", 1, 0), 0, "fsetxattr: %s",
		     strerror(errno));
	cr_assert_eq(close(fd), 0, "close: %s", strerror(errno));
	retried = daemon_logged("wait for the next one", 2000);
	cr_log_info("the group commit after the close %s",
		    retried ? "failed and waits" : "went through");
	dfs_ok(&m, "rm -f \"$STORE/filler\" \"$STORE/filler2\"");

	(void)dfs_mount_stop(&m);
	cr_assert_eq(dfs_mount_start(&m), 0, "mount again");
	cr_assert_eq(stat(at(p, sizeof(p), "g"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600,
		     "fchmod and close answered 0, the file is %o",
		     sb.st_mode & 07777);
	cr_assert_eq(getxattr(at(p, sizeof(p), "g"), "user.x", x, sizeof(x)), 1,
		     "fsetxattr and close answered 0, user.x is gone");
}
