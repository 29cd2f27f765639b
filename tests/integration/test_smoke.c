// SPDX-License-Identifier: MIT
/*
 * test_smoke.c - the shortest path through the product: mount, write a
 * file in build/, read it back, remount, find it with the same inode.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static struct dfs_mount m;

static void setup(void)
{
	cr_assert_eq(dfs_mount_setup(&m), 0, "mount failed");
}

static void teardown(void)
{
	dfs_mount_teardown(&m);
}

TestSuite(smoke, .init = setup, .fini = teardown, .timeout = 120);

Test(smoke, a_file_survives_remount_with_its_inode)
{
	static const char text[] = "<process name=\"order-sync\"/>\n";
	char path[PATH_MAX], buf[128];
	struct stat before, after;
	ssize_t n;

	dfs_path(path, sizeof(path), "%s/process/order-sync", m.build);
	cr_assert_eq(mkdir(path, 0755), 0, "mkdir: %s", strerror(errno));
	dfs_path(path, sizeof(path), "%s/process/order-sync/process.xml",
		 m.build);
	cr_assert_eq(dfs_write_file(path, text, strlen(text)), 0);
	cr_assert_eq(stat(path, &before), 0);
	cr_assert_eq(before.st_size, (off_t)strlen(text));

	cr_assert_eq(dfs_mount_stop(&m), 0,
		     "daemon did not exit cleanly (status %#x)",
		     m.daemon_status);
	cr_assert_eq(dfs_mount_start(&m), 0);

	cr_assert_eq(stat(path, &after), 0, "stat: %s", strerror(errno));
	cr_assert_eq(after.st_ino, before.st_ino);
	cr_assert_eq(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	n = dfs_read_file(path, buf, sizeof(buf));
	cr_assert_eq(n, (ssize_t)strlen(text));
	cr_assert_arr_eq(buf, text, strlen(text));
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" fsck \"$STORE\" >/dev/null"), 0,
		     "fsck found problems");
}

Test(smoke, unknown_top_level_names_in_build_are_refused)
{
	char path[PATH_MAX];

	dfs_path(path, sizeof(path), "%s/not-a-type", m.build);
	cr_assert_eq(mkdir(path, 0755), -1);
	cr_assert_eq(errno, EPERM);
	dfs_path(path, sizeof(path), "%s/packages/x", m.mnt);
	cr_assert_eq(mkdir(path, 0755), -1);
	cr_assert_eq(errno, EROFS);
}
