// SPDX-License-Identifier: MIT
/*
 * test_errors.c - refusals with their exact errno, and that a refusal
 * changes nothing: plain POSIX errors inside a component (ENOENT, EEXIST,
 * ENOTEMPTY, ENOTDIR, EISDIR, ENAMETOOLONG), EPERM for anything but the
 * type folders directly in build/ and for removing or renaming a type
 * folder, EROFS at the root, under packages/ and environments/ and for
 * audit.log.  Each test lists the whole tree (find and getfattr) after
 * its preparation and again after the refusals, and the two must match.
 */
#include "expect.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static struct dfs_mount m;
static int setup_rc;
static char comp[PATH_MAX]; /* build/process/order-sync */
static char tree_before[65536], tree_after[65536];

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
	dfs_path(comp, sizeof(comp), "%s/process/order-sync", m.build);
}

static void teardown(void)
{
	dfs_mount_teardown(&m);
}

TestSuite(errors, .init = setup, .fini = teardown, .timeout = 120);

/* Build the fixture workspace in build/ and list the tree. */
static void prepare(void)
{
	int rc;

	dfs_need_mount(&m, setup_rc);
	rc = dfs_sh(&m, "cp -a \"$FIXTURES/workspace/.\" \"$BUILD/\" && "
			"mkdir \"$BUILD/process/order-sync/empty\" && "
			"mkdir \"$BUILD/process/order-sync/full\" && "
			"echo x >\"$BUILD/process/order-sync/full/x\"");
	cr_assert_eq(rc, 0, "preparing build/ failed");
}

/* Everything but audit.log's size and times (refusals may be audited). */
static void list_tree(char *out, size_t cap)
{
	int rc = dfs_sh_out(&m, out, cap,
			    "cd \"$MNT\" && find build packages environments "
			    "-printf '%%i %%n %%m %%U %%G %%s %%T@ %%C@ %%y "
			    "%%p %%l\\n' >\"$DIR/t1\" && "
			    "find . -maxdepth 1 -printf '%%i %%m %%U %%G %%y "
			    "%%p\\n' >\"$DIR/t2\" && "
			    "find build packages environments -print0 "
			    ">\"$DIR/t3\" && sort -k10 \"$DIR/t1\" && "
			    "sort -k6 \"$DIR/t2\" && sort -z \"$DIR/t3\" | "
			    "xargs -0 getfattr -h -d -e hex 2>&1");

	cr_assert_eq(rc, 0, "listing the tree failed:\n%s", out);
	cr_assert_gt(strlen(out), 100, "listing too short:\n%s", out);
	cr_assert_lt(strlen(out) + 1, cap, "listing truncated");
}

static void snapshot(void)
{
	list_tree(tree_before, sizeof(tree_before));
}

static void assert_unchanged(void)
{
	list_tree(tree_after, sizeof(tree_after));
	cr_assert_str_eq(tree_after, tree_before, "a refusal changed the tree");
}

static char *at(char *buf, const char *rel)
{
	return dfs_path(buf, PATH_MAX, "%s/%s", comp, rel);
}

static char *in_mnt(char *buf, const char *rel)
{
	return dfs_path(buf, PATH_MAX, "%s/%s", m.mnt, rel);
}

Test(errors, enoent_for_missing_names)
{
	char p[PATH_MAX], q[PATH_MAX], buf[64];
	struct stat st;

	prepare();
	snapshot();
	ASSERT_ERRNO(open(at(p, "missing.xml"), O_RDONLY), ENOENT);
	ASSERT_ERRNO(stat(p, &st), ENOENT);
	ASSERT_ERRNO(unlink(p), ENOENT);
	ASSERT_ERRNO(rmdir(p), ENOENT);
	ASSERT_ERRNO(readlink(p, buf, sizeof(buf)), ENOENT);
	ASSERT_ERRNO(chmod(p, 0644), ENOENT);
	ASSERT_ERRNO(truncate(p, 0), ENOENT);
	ASSERT_ERRNO(setxattr(p, "user.a", "b", 1, 0), ENOENT);
	ASSERT_ERRNO(rename(p, at(q, "other.xml")), ENOENT);
	ASSERT_ERRNO(link(p, q), ENOENT);
	ASSERT_ERRNO(open(at(p, "nodir/new.xml"), O_WRONLY | O_CREAT, 0644),
		     ENOENT);
	ASSERT_ERRNO(mkdir(at(p, "nodir/sub"), 0755), ENOENT);
	ASSERT_ERRNO(symlink("x", at(p, "nodir/link")), ENOENT);
	/* A dangling include resolves to nothing. */
	ASSERT_ERRNO(open(at(p, "order-map/missing.xml"), O_RDONLY), ENOENT);
	assert_unchanged();
}

Test(errors, eexist_for_existing_names)
{
	char p[PATH_MAX], q[PATH_MAX];

	prepare();
	snapshot();
	ASSERT_ERRNO(mkdir(at(p, "empty"), 0755), EEXIST);
	ASSERT_ERRNO(mkdir(at(p, "process.xml"), 0755), EEXIST);
	ASSERT_ERRNO(mkdir(at(p, "order-map"), 0755), EEXIST);
	ASSERT_ERRNO(symlink("x", at(p, "process.xml")), EEXIST);
	ASSERT_ERRNO(symlink("x", at(p, "empty")), EEXIST);
	ASSERT_ERRNO(link(at(p, "process.xml"), at(q, "full/x")), EEXIST);
	ASSERT_ERRNO(
		open(at(p, "process.xml"), O_WRONLY | O_CREAT | O_EXCL, 0644),
		EEXIST);
	ASSERT_ERRNO(open(at(p, "empty"), O_WRONLY | O_CREAT | O_EXCL, 0644),
		     EEXIST);
	ASSERT_ERRNO(renameat2(AT_FDCWD, at(p, "full/x"), AT_FDCWD,
			       at(q, "process.xml"), RENAME_NOREPLACE),
		     EEXIST);
	ASSERT_ERRNO(mkdir(m.build, 0755), EEXIST);
	ASSERT_ERRNO(mkdir(dfs_path(p, sizeof(p), "%s/map", m.build), 0755),
		     EEXIST);
	assert_unchanged();
}

Test(errors, enotempty_for_nonempty_dirs)
{
	char p[PATH_MAX], q[PATH_MAX];

	prepare();
	snapshot();
	ASSERT_ERRNO(rmdir(at(p, "full")), ENOTEMPTY);
	ASSERT_ERRNO(rmdir(comp), ENOTEMPTY);
	ASSERT_ERRNO(rename(at(p, "empty"), at(q, "full")), ENOTEMPTY);
	ASSERT_ERRNO(rmdir(dfs_path(p, sizeof(p), "%s/map/order-map", m.build)),
		     ENOTEMPTY);
	assert_unchanged();
}

Test(errors, enotdir_for_files_used_as_dirs)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct stat st;

	prepare();
	snapshot();
	ASSERT_ERRNO(open(at(p, "process.xml/x"), O_RDONLY), ENOTDIR);
	ASSERT_ERRNO(open(at(p, "process.xml/x"), O_WRONLY | O_CREAT, 0644),
		     ENOTDIR);
	ASSERT_ERRNO(mkdir(at(p, "process.xml/x"), 0755), ENOTDIR);
	ASSERT_ERRNO(stat(at(p, "process.xml/"), &st), ENOTDIR);
	ASSERT_ERRNO(open(at(p, "process.xml"), O_RDONLY | O_DIRECTORY),
		     ENOTDIR);
	ASSERT_ERRNO(rmdir(at(p, "process.xml")), ENOTDIR);
	ASSERT_ERRNO(rename(at(p, "empty"), at(q, "process.xml")), ENOTDIR);
	ASSERT_ERRNO(renameat2(AT_FDCWD, at(p, "empty"), AT_FDCWD,
			       at(q, "full/x"), RENAME_NOREPLACE),
		     EEXIST);
	assert_unchanged();
}

Test(errors, eisdir_for_dirs_used_as_files)
{
	char p[PATH_MAX], q[PATH_MAX];

	prepare();
	snapshot();
	ASSERT_ERRNO(open(at(p, "empty"), O_WRONLY), EISDIR);
	ASSERT_ERRNO(open(at(p, "empty"), O_RDWR), EISDIR);
	ASSERT_ERRNO(open(at(p, "empty"), O_WRONLY | O_CREAT, 0644), EISDIR);
	ASSERT_ERRNO(unlink(at(p, "empty")), EISDIR);
	ASSERT_ERRNO(truncate(at(p, "empty"), 0), EISDIR);
	ASSERT_ERRNO(rename(at(p, "process.xml"), at(q, "empty")), EISDIR);
	ASSERT_ERRNO(unlink(m.build), EISDIR);
	assert_unchanged();
}

Test(errors, enametoolong_for_256_byte_names)
{
	char name[257], p[PATH_MAX], q[PATH_MAX];

	prepare();
	memset(name, 'k', 256);
	name[256] = '\0';
	snapshot();
	at(p, name);
	ASSERT_ERRNO(open(p, O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
	ASSERT_ERRNO(mkdir(p, 0755), ENAMETOOLONG);
	ASSERT_ERRNO(symlink("process.xml", p), ENAMETOOLONG);
	ASSERT_ERRNO(link(at(q, "process.xml"), p), ENAMETOOLONG);
	ASSERT_ERRNO(rename(q, p), ENAMETOOLONG);
	assert_unchanged();
}

Test(errors, eloop_for_nofollow_and_symlink_loops)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct stat st;

	prepare();
	cr_assert_eq(symlink("loop-b", at(p, "loop-a")), 0);
	cr_assert_eq(symlink("loop-a", at(q, "loop-b")), 0);
	cr_assert_eq(symlink("missing-target", at(q, "dangling")), 0);
	snapshot();
	ASSERT_ERRNO(open(at(p, "order-map"), O_RDONLY | O_NOFOLLOW), ELOOP);
	ASSERT_ERRNO(open(at(p, "loop-a"), O_RDONLY), ELOOP);
	ASSERT_ERRNO(open(p, O_WRONLY | O_CREAT, 0644), ELOOP);
	ASSERT_ERRNO(stat(at(p, "loop-a/x"), &st), ELOOP);
	ASSERT_ERRNO(mkdir(p, 0755), ELOOP);
	/* O_EXCL on a dangling symlink: the name exists, nothing is made. */
	ASSERT_ERRNO(open(at(p, "dangling"), O_WRONLY | O_CREAT | O_EXCL, 0644),
		     EEXIST);
	assert_unchanged();
}

Test(errors, eperm_creating_directly_in_build)
{
	char p[PATH_MAX], q[PATH_MAX];

	prepare();
	snapshot();
	dfs_path(p, sizeof(p), "%s/order-sync", m.build);
	ASSERT_ERRNO(mkdir(p, 0755), EPERM);
	ASSERT_ERRNO(open(p, O_WRONLY | O_CREAT, 0644), EPERM);
	ASSERT_ERRNO(open(p, O_WRONLY | O_CREAT | O_EXCL, 0644), EPERM);
	ASSERT_ERRNO(symlink("process/order-sync", p), EPERM);
	ASSERT_ERRNO(link(at(q, "process.xml"), p), EPERM);
	ASSERT_ERRNO(rename(comp, p), EPERM);
	ASSERT_ERRNO(rename(at(q, "process.xml"), p), EPERM);
	ASSERT_ERRNO(renameat2(AT_FDCWD, at(q, "process.xml"), AT_FDCWD, p,
			       RENAME_NOREPLACE),
		     EPERM);
	/* A name that looks like a type folder is still not one. */
	ASSERT_ERRNO(mkdir(dfs_path(p, sizeof(p), "%s/Process", m.build), 0755),
		     EPERM);
	/* (Dot names are allowed: .git, see tools::git_init_in_build.) */
	ASSERT_ERRNO(mkdir(dfs_path(p, sizeof(p), "%s/git", m.build), 0755),
		     EPERM);
	assert_unchanged();
}

Test(errors, eperm_removing_or_renaming_type_folders)
{
	char p[PATH_MAX], q[PATH_MAX];

	prepare();
	snapshot();
	dfs_path(p, sizeof(p), "%s/api-proxy", m.build);
	ASSERT_ERRNO(rmdir(p), EPERM);
	ASSERT_ERRNO(
		rename(p, dfs_path(q, sizeof(q), "%s/api-proxy2", m.build)),
		EPERM);
	/* Over another (empty) type folder, and exchanged with one. */
	ASSERT_ERRNO(
		rename(p, dfs_path(q, sizeof(q), "%s/custom-library", m.build)),
		EPERM);
	ASSERT_ERRNO(renameat2(AT_FDCWD, p, AT_FDCWD, q, RENAME_EXCHANGE),
		     EPERM);
	/* Into a component, and a component over a type folder. */
	ASSERT_ERRNO(rename(p, at(q, "api-proxy")), EPERM);
	ASSERT_ERRNO(rename(at(q, "empty"), p), EPERM);
	ASSERT_ERRNO(rename(dfs_path(p, sizeof(p), "%s/process", m.build),
			    dfs_path(q, sizeof(q), "%s/processes", m.build)),
		     EPERM);
	assert_unchanged();
}

Test(errors, erofs_at_root_and_under_packages)
{
	static const char *const dirs[] = { "", "packages/" };
	char p[PATH_MAX], q[PATH_MAX], base[64];

	prepare();
	snapshot();
	for (size_t i = 0; i < 2; i++) {
		dfs_path(base, sizeof(base), "%snot-a-component", dirs[i]);
		in_mnt(p, base);
		ASSERT_ERRNO(open(p, O_WRONLY | O_CREAT, 0644), EROFS);
		ASSERT_ERRNO(mkdir(p, 0755), EROFS);
		ASSERT_ERRNO(symlink("../build/process/order-sync", p), EROFS);
		ASSERT_ERRNO(link(at(q, "process.xml"), p), EROFS);
		ASSERT_ERRNO(rename(at(q, "process.xml"), p), EROFS);
	}
	for (size_t i = 1; i < 2; i++) {
		in_mnt(p, dirs[i]);
		ASSERT_ERRNO(setxattr(p, "user.note", "x", 1, 0), EROFS);
		ASSERT_ERRNO(chmod(p, 0777), EROFS);
		ASSERT_ERRNO(chown(p, 1234, 1234), EROFS);
		ASSERT_ERRNO(utimensat(AT_FDCWD, p, NULL, 0), EROFS);
	}
	assert_unchanged();
}

Test(errors, erofs_for_audit_log)
{
	const struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	char p[PATH_MAX], q[PATH_MAX], buf[64];
	int fd;

	prepare();
	snapshot();
	in_mnt(p, "audit.log");
	ASSERT_ERRNO(open(p, O_WRONLY), EROFS);
	ASSERT_ERRNO(open(p, O_RDWR), EROFS);
	ASSERT_ERRNO(open(p, O_WRONLY | O_APPEND), EROFS);
	ASSERT_ERRNO(open(p, O_WRONLY | O_TRUNC), EROFS);
	ASSERT_ERRNO(open(p, O_WRONLY | O_CREAT, 0644), EROFS);
	ASSERT_ERRNO(truncate(p, 0), EROFS);
	ASSERT_ERRNO(unlink(p), EROFS);
	ASSERT_ERRNO(rename(p, in_mnt(q, "audit.old")), EROFS);
	ASSERT_ERRNO(rename(at(q, "process.xml"), p), EROFS);
	ASSERT_ERRNO(chmod(p, 0666), EROFS);
	ASSERT_ERRNO(chown(p, 1234, 1234), EROFS);
	ASSERT_ERRNO(utimensat(AT_FDCWD, p, old, 0), EROFS);
	ASSERT_ERRNO(setxattr(p, "user.note", "x", 1, 0), EROFS);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "audit.log not readable: %s", strerror(errno));
	cr_assert_geq(read(fd, buf, sizeof(buf)), 0);
	close(fd);
	assert_unchanged();
}
