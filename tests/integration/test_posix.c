// SPDX-License-Identifier: MIT
/*
 * test_posix.c - POSIX semantics of build/ through the real daemon: open
 * flags, sparse and large files, name and path limits, hard links, rename
 * flags, symlinks, owners and modes, times, truncate, fallocate, user.*
 * xattrs, statfs, fsync, open-but-unlinked files, locks between processes.
 * Every test works in build/process/order-sync of a fresh mount.
 */
#include "expect.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024L * 1024L)
#define GIB (1024L * MIB)

static struct dfs_mount m;
static int setup_rc;
static char comp[PATH_MAX];

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
	dfs_path(comp, sizeof(comp), "%s/process/order-sync", m.build);
	if (setup_rc == 0 && mkdir(comp, 0755) < 0)
		setup_rc = -errno;
}

static void teardown(void)
{
	dfs_mount_teardown(&m);
}

TestSuite(posix, .init = setup, .fini = teardown, .timeout = 180);

#define ASSERT_OK(call)                                        \
	do {                                                   \
		errno = 0;                                     \
		cr_assert_eq((long)(call), 0, "%s: %s", #call, \
			     strerror(errno));                 \
	} while (0)

static char *at(char *buf, const char *rel)
{
	return dfs_path(buf, PATH_MAX, "%s/%s", comp, rel);
}

static void put(const char *path, const char *s)
{
	int rc = dfs_write_file(path, s, strlen(s));

	cr_assert_eq(rc, 0, "write %s: %s", path, strerror(-rc));
}

static void expect(const char *path, const char *s)
{
	char buf[8192];
	ssize_t n = dfs_read_file(path, buf, sizeof(buf) - 1);

	cr_assert_geq(n, 0, "read %s: %s", path, strerror((int)-n));
	buf[n] = '\0';
	cr_assert_str_eq(buf, s, "content of %s", path);
}

static struct stat st_of(const char *path)
{
	struct stat st;

	cr_assert_eq(lstat(path, &st), 0, "lstat %s: %s", path,
		     strerror(errno));
	return st;
}

static int open_ok(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	return fd;
}

static const char zeros[8192];

static bool all_zero(const char *p, size_t n)
{
	return n <= sizeof(zeros) && !memcmp(p, zeros, n);
}

static int ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	if (a.tv_nsec != b.tv_nsec)
		return a.tv_nsec < b.tv_nsec ? -1 : 1;
	return 0;
}

/* Wait on the clock (not on another process) until it is past t, so that
 * a time stamped later is distinguishable from t. */
static void clock_past(struct timespec t)
{
	struct timespec now;

	do
		clock_gettime(CLOCK_REALTIME_COARSE, &now);
	while (ts_cmp(now, t) <= 0);
}

static bool dir_has(const char *dir, const char *prefix, bool exact)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
	while (!found && (de = readdir(d)))
		found = exact ? !strcmp(de->d_name, prefix)
			      : !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return found;
}

/* Run fn(path) in a child process; its return value is the exit status. */
static int in_child(int (*fn)(const char *), const char *path)
{
	pid_t pid = fork();
	int st;

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn(path));
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "child died");
	return WEXITSTATUS(st);
}

Test(posix, o_append_writes_at_end_o_trunc_empties)
{
	char p[PATH_MAX], buf[16];
	struct stat st;
	int a, b;

	dfs_need_mount(&m, setup_rc);
	put(at(p, "process.xml"), "<process>");
	a = open_ok(p, O_WRONLY | O_APPEND);
	b = open_ok(p, O_WRONLY | O_APPEND);
	cr_assert_eq(lseek(a, 0, SEEK_SET), 0);
	cr_assert_eq(write(a, "<step/>", 7), 7);
	cr_assert_eq(write(b, "<end/>", 6), 6);
	cr_assert_eq(write(a, "</process>", 10), 10);
	close(a);
	close(b);
	expect(p, "<process><step/><end/></process>");
	a = open_ok(p, O_RDWR | O_TRUNC);
	cr_assert_eq(fstat(a, &st), 0);
	cr_assert_eq(st.st_size, 0);
	cr_assert_eq(read(a, buf, sizeof(buf)), 0);
	close(a);
	cr_assert_eq(st_of(p).st_size, 0);
}

Test(posix, sparse_file_has_zero_hole_and_few_blocks)
{
	char p[PATH_MAX], data[4096], buf[4096];
	struct stat st;
	int fd;

	dfs_need_mount(&m, setup_rc);
	memset(data, 'S', sizeof(data));
	fd = open_ok(at(p, "sparse.bin"), O_RDWR | O_CREAT | O_TRUNC);
	cr_assert_eq(pwrite(fd, data, sizeof(data), 0), 4096);
	cr_assert_eq(pwrite(fd, data, sizeof(data), 16 * MIB), 4096);
	cr_assert_eq(pread(fd, buf, sizeof(buf), 8 * MIB), 4096);
	cr_assert(all_zero(buf, sizeof(buf)), "hole is not zero");
	cr_assert_eq(pread(fd, buf, sizeof(buf), 4096), 4096);
	cr_assert(all_zero(buf, sizeof(buf)), "hole is not zero");
	cr_assert_eq(pread(fd, buf, sizeof(buf), 16 * MIB), 4096);
	cr_assert_arr_eq(buf, data, sizeof(buf));
	close(fd);
	st = st_of(p);
	cr_assert_eq(st.st_size, 16 * MIB + 4096);
	cr_assert_lt((long long)st.st_blocks * 512, (long long)st.st_size,
		     "st_blocks %lld for size %lld: hole is allocated",
		     (long long)st.st_blocks, (long long)st.st_size);
	cr_assert_gt(st.st_blocks, 0, "data written but st_blocks is 0");
}

Test(posix, write_at_5gib_and_read_back)
{
	static const char tail[] = "order-sync@5GiB";
	const off_t off = 5 * GIB;
	char p[PATH_MAX], buf[64];
	int fd;

	dfs_need_mount(&m, setup_rc);
	fd = open_ok(at(p, "big.bin"), O_RDWR | O_CREAT | O_TRUNC);
	cr_assert_eq(pwrite(fd, tail, sizeof(tail), off), (ssize_t)sizeof(tail),
		     "pwrite: %s", strerror(errno));
	/* A write across the 4 GiB boundary. */
	cr_assert_eq(pwrite(fd, "ABCDEF", 6, 4 * GIB - 3), 6);
	close(fd);
	cr_assert_eq(st_of(p).st_size, off + (off_t)sizeof(tail));
	fd = open_ok(p, O_RDONLY);
	cr_assert_eq(pread(fd, buf, sizeof(buf), off), (ssize_t)sizeof(tail));
	cr_assert_str_eq(buf, tail);
	cr_assert_eq(pread(fd, buf, 6, 4 * GIB - 3), 6);
	cr_assert_arr_eq(buf, "ABCDEF", 6);
	cr_assert_eq(pread(fd, buf, 16, 4 * GIB + 123), 16);
	cr_assert(all_zero(buf, 16));
	cr_assert_eq(pread(fd, buf, 16, off + 4096), 0, "read past EOF");
	close(fd);
}

Test(posix, name_of_255_bytes_works_256_is_enametoolong)
{
	char name[257], p[PATH_MAX];

	dfs_need_mount(&m, setup_rc);
	memset(name, 'n', 255);
	name[255] = '\0';
	put(at(p, name), "255");
	expect(p, "255");
	cr_assert(dir_has(comp, name, true), "255-byte name not listed");
	memset(name, 'n', 256);
	name[256] = '\0';
	at(p, name);
	ASSERT_ERRNO(open(p, O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
	ASSERT_ERRNO(mkdir(p, 0755), ENAMETOOLONG);
	ASSERT_ERRNO(symlink("x", p), ENAMETOOLONG);
	ASSERT_ERRNO(access(p, F_OK), ENAMETOOLONG);
}

Test(posix, deep_path_of_60_levels)
{
	char p[PATH_MAX], f[PATH_MAX];
	size_t len;

	dfs_need_mount(&m, setup_rc);
	at(p, "deep");
	ASSERT_OK(mkdir(p, 0755));
	len = strlen(p);
	for (int i = 0; i < 60; i++) {
		len += (size_t)snprintf(p + len, sizeof(p) - len, "/level-%02d",
					i);
		cr_assert_lt(len, sizeof(p));
		ASSERT_OK(mkdir(p, 0755));
	}
	put(dfs_path(f, sizeof(f), "%s/leaf.xml", p), "<leaf/>");
	expect(f, "<leaf/>");
	cr_assert_eq(st_of(at(p, "deep")).st_nlink, 3);
	cr_assert_eq(dfs_sh(&m, "rm -r \"$BUILD/process/order-sync/deep\""), 0);
	ASSERT_ERRNO(access(at(p, "deep"), F_OK), ENOENT);
}

Test(posix, hard_links_share_inode_and_count_links)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], d[PATH_MAX];
	struct stat sa;

	dfs_need_mount(&m, setup_rc);
	put(at(a, "map.xml"), "<map/>");
	ASSERT_OK(mkdir(at(d, "old"), 0755));
	ASSERT_OK(link(a, at(b, "map-link.xml")));
	ASSERT_OK(link(a, at(c, "old/map.xml")));
	sa = st_of(a);
	cr_assert_eq(sa.st_nlink, 3);
	cr_assert_eq(st_of(b).st_ino, sa.st_ino);
	cr_assert_eq(st_of(c).st_ino, sa.st_ino);
	cr_assert_eq(st_of(c).st_nlink, 3);
	put(c, "<map version=\"2\"/>");
	expect(a, "<map version=\"2\"/>");
	ASSERT_OK(unlink(a));
	ASSERT_ERRNO(access(a, F_OK), ENOENT);
	cr_assert_eq(st_of(b).st_nlink, 2);
	ASSERT_OK(unlink(b));
	cr_assert_eq(st_of(c).st_nlink, 1);
	cr_assert_eq(st_of(c).st_ino, sa.st_ino);
	expect(c, "<map version=\"2\"/>");
	ASSERT_ERRNO(link(d, at(b, "dir-link")), EPERM);
}

Test(posix, rename_replaces_file_noreplace_refuses)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], buf[8];
	ino_t ino;
	int fd;

	dfs_need_mount(&m, setup_rc);
	put(at(a, "map.xml.tmp"), "v2");
	put(at(b, "map.xml"), "v1");
	ino = st_of(a).st_ino;
	fd = open_ok(b, O_RDONLY);
	ASSERT_OK(rename(a, b));
	ASSERT_ERRNO(access(a, F_OK), ENOENT);
	expect(b, "v2");
	cr_assert_eq(st_of(b).st_ino, ino);
	/* The replaced file lives on for its open descriptor. */
	cr_assert_eq(read(fd, buf, sizeof(buf)), 2);
	cr_assert_arr_eq(buf, "v1", 2);
	close(fd);
	put(a, "v3");
	ASSERT_ERRNO(renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE),
		     EEXIST);
	expect(a, "v3");
	expect(b, "v2");
	ASSERT_OK(renameat2(AT_FDCWD, a, AT_FDCWD, at(c, "c.xml"),
			    RENAME_NOREPLACE));
	expect(c, "v3");
	ASSERT_ERRNO(access(a, F_OK), ENOENT);
}

Test(posix, rename_exchange_swaps_files_and_file_with_dir)
{
	char a[PATH_MAX], b[PATH_MAX], d[PATH_MAX], p[PATH_MAX];
	nlink_t parent;
	ino_t ia, ib;

	dfs_need_mount(&m, setup_rc);
	put(at(a, "blue.xml"), "blue");
	put(at(b, "green.xml"), "green");
	ia = st_of(a).st_ino;
	ib = st_of(b).st_ino;
	ASSERT_OK(renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE));
	expect(a, "green");
	expect(b, "blue");
	cr_assert_eq(st_of(a).st_ino, ib);
	cr_assert_eq(st_of(b).st_ino, ia);
	ASSERT_ERRNO(renameat2(AT_FDCWD, a, AT_FDCWD, at(p, "none"),
			       RENAME_EXCHANGE),
		     ENOENT);
	ASSERT_OK(mkdir(at(d, "folder"), 0755));
	put(at(p, "folder/child.xml"), "child");
	parent = st_of(comp).st_nlink;
	ASSERT_OK(renameat2(AT_FDCWD, a, AT_FDCWD, d, RENAME_EXCHANGE));
	cr_assert(S_ISDIR(st_of(a).st_mode));
	cr_assert(S_ISREG(st_of(d).st_mode));
	expect(at(p, "blue.xml/child.xml"), "child");
	expect(d, "green");
	cr_assert_eq(st_of(comp).st_nlink, parent);
}

Test(posix, rename_dir_over_empty_nonempty_and_own_subdir)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], p[PATH_MAX];
	nlink_t parent;

	dfs_need_mount(&m, setup_rc);
	ASSERT_OK(mkdir(at(a, "v1"), 0755));
	put(at(p, "v1/map.xml"), "<map/>");
	ASSERT_OK(mkdir(at(b, "v2"), 0755));
	ASSERT_OK(mkdir(at(c, "v3"), 0755));
	put(at(p, "v3/three.xml"), "3");
	parent = st_of(comp).st_nlink;
	cr_assert_eq(parent, 5);
	ASSERT_ERRNO(rename(a, c), ENOTEMPTY);
	expect(at(p, "v1/map.xml"), "<map/>");
	expect(at(p, "v3/three.xml"), "3");
	ASSERT_OK(rename(a, b));
	ASSERT_ERRNO(access(a, F_OK), ENOENT);
	expect(at(p, "v2/map.xml"), "<map/>");
	cr_assert_eq(st_of(comp).st_nlink, parent - 1);
	ASSERT_OK(mkdir(at(a, "v2/sub"), 0755));
	ASSERT_ERRNO(rename(b, at(p, "v2/sub/v2")), EINVAL);
	cr_assert(S_ISDIR(st_of(a).st_mode));
}

Test(posix, symlink_and_readlink)
{
	static const char target[] = "../../map/order-map";
	char l[PATH_MAX], p[PATH_MAX], buf[PATH_MAX];
	struct stat st;

	dfs_need_mount(&m, setup_rc);
	ASSERT_OK(mkdir(dfs_path(p, sizeof(p), "%s/map/order-map", m.build),
			0755));
	put(dfs_path(p, sizeof(p), "%s/map/order-map/map.xml", m.build),
	    "<map/>");
	ASSERT_OK(symlink(target, at(l, "order-map")));
	cr_assert_eq(readlink(l, buf, sizeof(buf)), (ssize_t)strlen(target));
	cr_assert_arr_eq(buf, target, strlen(target));
	cr_assert_eq(readlink(l, buf, 5), 5, "short buffer truncates");
	st = st_of(l);
	cr_assert(S_ISLNK(st.st_mode));
	cr_assert_eq(st.st_size, (off_t)strlen(target));
	cr_assert_eq(stat(l, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	expect(at(p, "order-map/map.xml"), "<map/>");
	ASSERT_ERRNO(readlink(comp, buf, sizeof(buf)), EINVAL);
}

Test(posix, chmod_and_chown)
{
	char p[PATH_MAX], l[PATH_MAX], d[PATH_MAX];
	struct stat st;
	int fd;

	dfs_need_mount(&m, setup_rc);
	put(at(p, "connection.conf"), "url=https://erp.example\n");
	ASSERT_OK(chmod(p, 0640));
	cr_assert_eq(st_of(p).st_mode & 07777, 0640);
	ASSERT_OK(chown(p, 1234, 5678));
	st = st_of(p);
	cr_assert_eq(st.st_uid, 1234);
	cr_assert_eq(st.st_gid, 5678);
	ASSERT_OK(chown(p, (uid_t)-1, 42));
	st = st_of(p);
	cr_assert_eq(st.st_uid, 1234);
	cr_assert_eq(st.st_gid, 42);
	fd = open_ok(p, O_RDONLY);
	ASSERT_OK(fchmod(fd, 0400));
	ASSERT_OK(fchown(fd, 0, 0));
	close(fd);
	st = st_of(p);
	cr_assert_eq(st.st_mode & 07777, 0400);
	cr_assert_eq(st.st_uid, 0);
	ASSERT_OK(mkdir(at(d, "shared"), 0755));
	ASSERT_OK(chmod(d, 01777));
	cr_assert_eq(st_of(d).st_mode & 07777, 01777);
	/* lchown changes the link, not its target. */
	ASSERT_OK(symlink("connection.conf", at(l, "conf")));
	ASSERT_OK(lchown(l, 77, 88));
	cr_assert_eq(st_of(l).st_uid, 77);
	cr_assert_eq(st_of(p).st_uid, 0);
}

Test(posix, utimensat_ns_now_and_omit)
{
	const struct timespec t1[2] = { { 1000000000, 123456789 },
					{ 1234567890, 987654321 } };
	const struct timespec t2[2] = { { 0, UTIME_OMIT }, { 1500000000, 1 } };
	const struct timespec t3[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
	struct timespec before, after;
	char p[PATH_MAX], l[PATH_MAX];
	struct stat st;

	dfs_need_mount(&m, setup_rc);
	put(at(p, "map.xml"), "<map/>");
	ASSERT_OK(utimensat(AT_FDCWD, p, t1, 0));
	st = st_of(p);
	cr_assert_eq(ts_cmp(st.st_atim, t1[0]), 0, "atime %ld.%09ld",
		     st.st_atim.tv_sec, st.st_atim.tv_nsec);
	cr_assert_eq(ts_cmp(st.st_mtim, t1[1]), 0, "mtime %ld.%09ld",
		     st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	ASSERT_OK(utimensat(AT_FDCWD, p, t2, 0));
	st = st_of(p);
	cr_assert_eq(ts_cmp(st.st_atim, t1[0]), 0, "UTIME_OMIT changed atime");
	cr_assert_eq(ts_cmp(st.st_mtim, t2[1]), 0);
	clock_gettime(CLOCK_REALTIME_COARSE, &before);
	ASSERT_OK(utimensat(AT_FDCWD, p, t3, 0));
	clock_gettime(CLOCK_REALTIME, &after);
	st = st_of(p);
	cr_assert_eq(ts_cmp(st.st_atim, t1[0]), 0, "UTIME_OMIT changed atime");
	cr_assert_geq(ts_cmp(st.st_mtim, before), 0, "UTIME_NOW too early");
	cr_assert_leq(ts_cmp(st.st_mtim, after), 0, "UTIME_NOW too late");
	/* AT_SYMLINK_NOFOLLOW sets the link's own times. */
	ASSERT_OK(symlink("map.xml", at(l, "current")));
	ASSERT_OK(utimensat(AT_FDCWD, l, t1, AT_SYMLINK_NOFOLLOW));
	cr_assert_eq(ts_cmp(st_of(l).st_mtim, t1[1]), 0);
	cr_assert_geq(ts_cmp(st_of(p).st_mtim, before), 0);
}

Test(posix, truncate_grows_with_zeros_and_shrinks)
{
	char p[PATH_MAX], buf[8192];
	int fd;

	dfs_need_mount(&m, setup_rc);
	put(at(p, "script.js"), "function normalize(sku) { return sku; }");
	ASSERT_OK(truncate(p, 8));
	expect(p, "function");
	ASSERT_OK(truncate(p, 10000));
	cr_assert_eq(st_of(p).st_size, 10000);
	cr_assert_eq(dfs_read_file(p, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	cr_assert_arr_eq(buf, "function", 8);
	cr_assert(all_zero(buf + 8, sizeof(buf) - 8), "grown part not zero");
	/* Shrink then grow: the old bytes must not come back. */
	fd = open_ok(p, O_RDWR);
	memset(buf, 'X', sizeof(buf));
	cr_assert_eq(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	ASSERT_OK(ftruncate(fd, 100));
	ASSERT_OK(ftruncate(fd, 8192));
	cr_assert_eq(pread(fd, buf, sizeof(buf), 0), 8192);
	cr_assert_eq(buf[99], 'X');
	cr_assert(all_zero(buf + 100, sizeof(buf) - 100), "stale bytes");
	close(fd);
	ASSERT_OK(truncate(p, 0));
	cr_assert_eq(st_of(p).st_size, 0);
	/* Save, then truncate by path at once, as editors do; many times,
	 * so that a race with work done after close() shows. */
	for (int i = 0; i < 100; i++) {
		dfs_path(p, sizeof(p), "%s/saved-%03d.js", comp, i);
		put(p, "function normalize(sku) { return sku; }");
		ASSERT_OK(truncate(p, 8));
		expect(p, "function");
	}
}

Test(posix, fallocate_mode0_and_keep_size)
{
	char p[PATH_MAX], buf[4096];
	struct stat st;
	int fd;

	dfs_need_mount(&m, setup_rc);
	fd = open_ok(at(p, "alloc.bin"), O_RDWR | O_CREAT | O_TRUNC);
	cr_assert_eq(pwrite(fd, "head", 4, 0), 4);
	ASSERT_OK(fallocate(fd, 0, 0, MIB));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, MIB);
	cr_assert_eq(pread(fd, buf, 4, 0), 4);
	cr_assert_arr_eq(buf, "head", 4, "fallocate clobbered data");
	cr_assert_eq(pread(fd, buf, sizeof(buf), MIB / 2), 4096);
	cr_assert(all_zero(buf, sizeof(buf)));
	ASSERT_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, MIB, MIB));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, MIB, "KEEP_SIZE changed the size");
	ASSERT_OK(fallocate(fd, 0, 2 * MIB, 4096));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, 2 * MIB + 4096);
	close(fd);
}

Test(posix, user_xattrs_set_get_list_remove)
{
	char p[PATH_MAX], val[4000], buf[4096], list[1024];
	ssize_t n;
	bool seen = false;

	dfs_need_mount(&m, setup_rc);
	put(at(p, "map.xml"), "<map/>");
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (char)(i * 7);
	ASSERT_OK(setxattr(p, "user.owner", "team-integration", 16, 0));
	ASSERT_OK(setxattr(p, "user.blob", val, sizeof(val), XATTR_CREATE));
	cr_assert_eq(getxattr(p, "user.owner", NULL, 0), 16);
	cr_assert_eq(getxattr(p, "user.owner", buf, sizeof(buf)), 16);
	cr_assert_arr_eq(buf, "team-integration", 16);
	cr_assert_eq(getxattr(p, "user.blob", buf, sizeof(buf)),
		     (ssize_t)sizeof(val));
	cr_assert_arr_eq(buf, val, sizeof(val));
	ASSERT_ERRNO(getxattr(p, "user.owner", buf, 4), ERANGE);
	ASSERT_ERRNO(setxattr(p, "user.owner", "x", 1, XATTR_CREATE), EEXIST);
	ASSERT_ERRNO(setxattr(p, "user.none", "x", 1, XATTR_REPLACE), ENODATA);
	ASSERT_ERRNO(getxattr(p, "user.none", buf, sizeof(buf)), ENODATA);
	ASSERT_OK(setxattr(p, "user.owner", "team-b", 6, XATTR_REPLACE));
	cr_assert_eq(getxattr(p, "user.owner", buf, sizeof(buf)), 6);
	n = listxattr(p, list, sizeof(list));
	cr_assert_gt(n, 0);
	for (char *s = list; s < list + n; s += strlen(s) + 1)
		seen |= !strcmp(s, "user.owner");
	cr_assert(seen, "user.owner not listed");
	ASSERT_OK(removexattr(p, "user.owner"));
	ASSERT_ERRNO(getxattr(p, "user.owner", buf, sizeof(buf)), ENODATA);
	ASSERT_ERRNO(removexattr(p, "user.owner"), ENODATA);
	ASSERT_ERRNO(setxattr(p, "trusted.owner", "x", 1, 0), EOPNOTSUPP);
	/* Directories carry user.* xattrs too. */
	ASSERT_OK(setxattr(comp, "user.type", "process", 7, 0));
	cr_assert_eq(getxattr(comp, "user.type", buf, sizeof(buf)), 7);
}

Test(posix, statfs_fsync_and_fdatasync)
{
	char p[PATH_MAX];
	struct statvfs sv;
	struct statfs sf;
	int fd, dfd;

	dfs_need_mount(&m, setup_rc);
	ASSERT_OK(statvfs(m.build, &sv));
	cr_assert_gt(sv.f_bsize, 0);
	cr_assert_geq(sv.f_namemax, 255);
	ASSERT_OK(statfs(m.mnt, &sf));
	cr_assert_eq(sf.f_type, FUSE_SUPER_MAGIC);
	fd = open_ok(at(p, "process.xml"), O_RDWR | O_CREAT | O_TRUNC);
	ASSERT_OK(fstatvfs(fd, &sv));
	cr_assert_gt(sv.f_bsize, 0);
	cr_assert_eq(write(fd, "<process/>", 10), 10);
	ASSERT_OK(fsync(fd));
	cr_assert_eq(write(fd, "\n", 1), 1);
	ASSERT_OK(fdatasync(fd));
	close(fd);
	dfd = open_ok(comp, O_RDONLY | O_DIRECTORY);
	ASSERT_OK(fsync(dfd));
	close(dfd);
	expect(p, "<process/>\n");
}

Test(posix, unlinked_open_file_stays_readable_and_writable)
{
	char p[PATH_MAX], buf[32];
	struct stat st;
	int fd;

	dfs_need_mount(&m, setup_rc);
	fd = open_ok(at(p, "scratch"), O_RDWR | O_CREAT | O_TRUNC);
	cr_assert_eq(write(fd, "before", 6), 6);
	ASSERT_OK(unlink(p));
	ASSERT_ERRNO(access(p, F_OK), ENOENT);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_nlink, 0);
	cr_assert_eq(pwrite(fd, "after", 5, 6), 5);
	cr_assert_eq(pread(fd, buf, sizeof(buf), 0), 11);
	cr_assert_arr_eq(buf, "beforeafter", 11);
	put(p, "new file");
	cr_assert_eq(pread(fd, buf, sizeof(buf), 0), 11, "name reuse hit fd");
	ASSERT_OK(ftruncate(fd, 3));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, 3);
	cr_assert(!dir_has(comp, ".fuse_hidden", false), "hidden file left");
	close(fd);
	expect(p, "new file");
}

/*
 * Child probes of a lock the parent holds: 0 when the probe got what the
 * parent expects of it, otherwise the errno or a step number (100+).
 */
enum probe { FLOCK_EX, FLOCK_SH, SETLK_0_99, SETLK_SEEN };
static enum probe probe;

static int lock_probe(const char *path)
{
	struct flock fl = { .l_type = F_WRLCK,
			    .l_whence = SEEK_SET,
			    .l_start = 0,
			    .l_len = 100 };
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return 100;
	if (probe == FLOCK_EX || probe == FLOCK_SH)
		return flock(fd,
			     (probe == FLOCK_EX ? LOCK_EX : LOCK_SH) | LOCK_NB)
			       ? errno
			       : 0;
	if (probe == SETLK_0_99)
		return fcntl(fd, F_SETLK, &fl) ? errno : 0;
	fl.l_start = 50;
	fl.l_len = 10;
	if (fcntl(fd, F_GETLK, &fl) < 0 || fl.l_type != F_WRLCK ||
	    fl.l_pid != getppid() || fl.l_start != 0 || fl.l_len != 100)
		return 101;
	fl = (struct flock){ .l_type = F_WRLCK,
			     .l_whence = SEEK_SET,
			     .l_start = 100,
			     .l_len = 100 };
	return fcntl(fd, F_SETLK, &fl) ? 102 : 0;
}

static int child_probe(enum probe what, const char *path)
{
	probe = what;
	return in_child(lock_probe, path);
}

Test(posix, flock_conflicts_between_processes)
{
	char p[PATH_MAX];
	int fd;

	dfs_need_mount(&m, setup_rc);
	put(at(p, "deploy.lock"), "");
	fd = open_ok(p, O_RDWR);
	ASSERT_OK(flock(fd, LOCK_EX));
	cr_assert_eq(child_probe(FLOCK_EX, p), EWOULDBLOCK);
	cr_assert_eq(child_probe(FLOCK_SH, p), EWOULDBLOCK);
	ASSERT_OK(flock(fd, LOCK_SH));
	cr_assert_eq(child_probe(FLOCK_SH, p), 0);
	cr_assert_eq(child_probe(FLOCK_EX, p), EWOULDBLOCK);
	ASSERT_OK(flock(fd, LOCK_UN));
	cr_assert_eq(child_probe(FLOCK_EX, p), 0);
	close(fd);
}

Test(posix, fcntl_setlk_conflicts_between_processes)
{
	struct flock fl = { .l_type = F_WRLCK,
			    .l_whence = SEEK_SET,
			    .l_start = 0,
			    .l_len = 100 };
	char p[PATH_MAX];
	int fd;

	dfs_need_mount(&m, setup_rc);
	put(at(p, "deploy.lock"), "");
	fd = open_ok(p, O_RDWR);
	ASSERT_OK(fcntl(fd, F_SETLK, &fl));
	cr_assert_eq(child_probe(SETLK_0_99, p), EAGAIN);
	cr_assert_eq(child_probe(SETLK_SEEN, p), 0, "F_GETLK/F_SETLK step");
	fl.l_type = F_UNLCK;
	ASSERT_OK(fcntl(fd, F_SETLK, &fl));
	cr_assert_eq(child_probe(SETLK_0_99, p), 0);
	close(fd);
}

static const struct timespec old[2] = { { 1000000000, 5 }, { 1000000000, 5 } };

Test(posix, write_updates_size_blocks_mtime_ctime_read_keeps_atime)
{
	struct timespec before;
	char p[PATH_MAX], data[8192];
	struct stat st;
	int fd;

	dfs_need_mount(&m, setup_rc);
	put(at(p, "map.xml"), "");
	ASSERT_OK(utimensat(AT_FDCWD, p, old, 0));
	clock_past(st_of(p).st_ctim);
	clock_gettime(CLOCK_REALTIME_COARSE, &before);
	memset(data, 'm', sizeof(data));
	fd = open_ok(p, O_WRONLY);
	cr_assert_eq(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	close(fd);
	st = st_of(p);
	cr_assert_eq(st.st_size, 8192);
	cr_assert_geq(st.st_blocks, 16, "st_blocks %lld",
		      (long long)st.st_blocks);
	cr_assert_geq(ts_cmp(st.st_mtim, before), 0, "write kept old mtime");
	cr_assert_geq(ts_cmp(st.st_ctim, before), 0, "write kept old ctime");
	cr_assert_eq(st.st_nlink, 1);
	/* Reads leave atime alone (noatime). */
	ASSERT_OK(utimensat(AT_FDCWD, p, old, 0));
	cr_assert_eq(dfs_read_file(p, data, sizeof(data)), 8192);
	cr_assert_eq(ts_cmp(st_of(p).st_atim, old[0]), 0, "read moved atime");
}

Test(posix, chmod_changes_ctime_entries_change_parent_mtime)
{
	char d[PATH_MAX], p[PATH_MAX];
	struct stat s0, s1;

	dfs_need_mount(&m, setup_rc);
	ASSERT_OK(mkdir(at(d, "maps"), 0755));
	put(at(p, "maps/map.xml"), "<map/>");
	ASSERT_OK(utimensat(AT_FDCWD, p, old, 0));
	s0 = st_of(p);
	clock_past(s0.st_ctim);
	ASSERT_OK(chmod(p, 0600));
	s1 = st_of(p);
	cr_assert_gt(ts_cmp(s1.st_ctim, s0.st_ctim), 0, "ctime unchanged");
	cr_assert_eq(ts_cmp(s1.st_mtim, old[1]), 0, "chmod changed mtime");
	ASSERT_OK(utimensat(AT_FDCWD, d, old, 0));
	put(at(p, "maps/a.xml"), "a");
	cr_assert_gt(ts_cmp(st_of(d).st_mtim, old[1]), 0, "create");
	ASSERT_OK(utimensat(AT_FDCWD, d, old, 0));
	ASSERT_OK(unlink(p));
	cr_assert_gt(ts_cmp(st_of(d).st_mtim, old[1]), 0, "unlink");
}

Test(posix, directory_nlink_is_two_plus_subdirs)
{
	char d[PATH_MAX], e[PATH_MAX], p[PATH_MAX], q[PATH_MAX];

	dfs_need_mount(&m, setup_rc);
	ASSERT_OK(mkdir(at(d, "maps"), 0755));
	cr_assert_eq(st_of(d).st_nlink, 2);
	ASSERT_OK(mkdir(at(p, "maps/a"), 0755));
	ASSERT_OK(mkdir(at(p, "maps/b"), 0755));
	put(at(p, "maps/file.xml"), "f");
	cr_assert_eq(st_of(d).st_nlink, 4);
	ASSERT_OK(rmdir(at(p, "maps/a")));
	cr_assert_eq(st_of(d).st_nlink, 3);
	ASSERT_OK(mkdir(at(e, "other"), 0755));
	ASSERT_OK(rename(at(p, "maps/b"), at(q, "other/b")));
	cr_assert_eq(st_of(d).st_nlink, 2);
	cr_assert_eq(st_of(e).st_nlink, 3);
}
