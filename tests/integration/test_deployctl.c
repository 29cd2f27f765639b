// SPDX-License-Identifier: MIT
/*
 * test_deployctl.c - deployctl package: creates packages through the
 * mount, and records the refusals the kernel answers before the daemon
 * sees them (an existing version, an unknown component).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct dfs_mount m;
static int mount_rc;

static void setup(void)
{
	mount_rc = dfs_mount_setup(&m);
	if (mount_rc == 0)
		mount_rc = dfs_sh(&m, "cp -a \"$FIXTURES/workspace/.\" "
				      "\"$BUILD/\"");
}

static void teardown(void)
{
	dfs_mount_teardown(&m);
}

TestSuite(deployctl, .init = setup, .fini = teardown, .timeout = 120);

static int refusals(const char *version)
{
	char out[64];

	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"sqlite3 \"$STORE/deployfs.db\" \"SELECT"
				" count(*) FROM audit WHERE action = 'package'"
				" AND result = 'refused' AND version IS '%s'"
				" AND cmd LIKE '%%deployctl package%%'\"",
				version),
		     0);
	return atoi(out);
}

Test(deployctl, packages_with_the_next_version_and_notes)
{
	char out[512];

	cr_assert_eq(mount_rc, 0);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" package order-sync --mount "
				"\"$MNT\" --notes 'first cut'"),
		     0);
	cr_assert(strstr(out, "/packages/order-sync/order-sync@1"), "%s", out);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" package order-sync --mount "
				"\"$MNT\""),
		     0);
	cr_assert(strstr(out, "order-sync@2"), "%s", out);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"getfattr --only-values -n user.deployfs.notes"
				" \"$MNT/packages/order-sync/order-sync@1\""),
		     0);
	cr_assert_str_eq(out, "first cut");
}

Test(deployctl, an_existing_version_is_refused_and_recorded)
{
	cr_assert_eq(mount_rc, 0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" package order-sync --mount "
				"\"$MNT\" --version 1 >/dev/null"),
		     0);
	cr_assert_eq(refusals("1"), 0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" package order-sync --mount "
				"\"$MNT\" --version 1 2>/dev/null"),
		     1);
	cr_assert_eq(refusals("1"), 1);
	cr_assert_eq(dfs_sh(&m,
			    "ls \"$MNT/packages/order-sync\" | "
			    "tr '\\n' ' ' | grep -qx 'latest order-sync@1 '"),
		     0, "the listing changed");
}

Test(deployctl, an_unknown_component_is_refused_and_recorded)
{
	cr_assert_eq(mount_rc, 0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" package no-such --mount "
				"\"$MNT\" --version 3 2>/dev/null"),
		     66);
	cr_assert_eq(refusals("3"), 1);
	cr_assert_eq(dfs_sh(&m, "grep -q \" $MNT fuse.deployfs \" "
				"/proc/mounts && grep \" $MNT \" /proc/mounts "
				"| grep -q \"^$STORE \""),
		     0, "the mount's source is its store");
}
