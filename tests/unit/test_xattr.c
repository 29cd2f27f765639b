// SPDX-License-Identifier: MIT
/*
 * test_xattr.c - unit tests of extended attributes: set, get, list and
 * remove in the user namespace, the CREATE/REPLACE flags, buffer sizes,
 * binary values, persistence and the read-only system nodes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deployfs/store.h"
#include "fixture.h"

static struct dfs_fixture fx;

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)

static void setup(void)
{
	dfs_fixture_setup(&fx, "xattr", OPEN_FLAGS);
	if (fx.rc == 0) {
		struct dfs_attr a;

		fx.rc = dfs_node_mknod(fx.st, &fx.me, fx.proc, "f",
				       S_IFREG | 0644, 0, &a);
		fx.ino = a.ino;
	}
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(xattr, .init = setup, .fini = teardown, .timeout = 60);

/* Check ino has exactly name = value (len bytes). */
static void expect_value(uint64_t ino, const char *name, const void *value,
			 size_t len)
{
	char buf[256];

	cr_assert_eq(dfs_xattr_get(fx.st, ino, name, buf, sizeof(buf)),
		     (int)len, "get %s", name);
	cr_assert_arr_eq(buf, value, len, "value of %s", name);
}

/* Check the list of ino's names is want (NUL-separated, wlen bytes). */
static void expect_list(uint64_t ino, const char *want, size_t wlen)
{
	char buf[256];

	cr_assert_eq(dfs_xattr_list(fx.st, ino, NULL, 0), (int)wlen);
	cr_assert_eq(dfs_xattr_list(fx.st, ino, buf, sizeof(buf)), (int)wlen);
	cr_assert_arr_eq(buf, want, wlen);
}

Test(xattr, set_get_list_and_remove)
{
	static const char names[] = "user.a.owner\0user.b.version";

	FIXTURE_OK();
	expect_list(fx.ino, "", 0);
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.b.version",
				   "1.2.3", 5, 0),
		     0);
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.a.owner",
				   "team-x", 6, 0),
		     0);
	expect_value(fx.ino, "user.b.version", "1.2.3", 5);
	expect_value(fx.ino, "user.a.owner", "team-x", 6);
	expect_list(fx.ino, names, sizeof(names));

	/* Without flags, set replaces. */
	cr_assert_eq(
		dfs_xattr_set(fx.st, NULL, fx.ino, "user.b.version", "2", 1, 0),
		0);
	expect_value(fx.ino, "user.b.version", "2", 1);
	expect_list(fx.ino, names, sizeof(names));

	cr_assert_eq(dfs_xattr_remove(fx.st, fx.ino, "user.a.owner"), 0);
	cr_assert_eq(dfs_xattr_get(fx.st, fx.ino, "user.a.owner", NULL, 0),
		     -ENODATA);
	expect_list(fx.ino, "user.b.version", sizeof("user.b.version"));
	cr_assert_eq(dfs_xattr_remove(fx.st, fx.ino, "user.a.owner"), -ENODATA);
	expect_value(fx.ino, "user.b.version", "2", 1);
}

Test(xattr, an_empty_value_is_a_value)
{
	char buf[8];

	FIXTURE_OK();
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.flag", "", 0, 0),
		     0);
	cr_assert_eq(
		dfs_xattr_get(fx.st, fx.ino, "user.flag", buf, sizeof(buf)), 0);
	cr_assert_eq(dfs_xattr_get(fx.st, fx.ino, "user.flag", NULL, 0), 0);
	expect_list(fx.ino, "user.flag", sizeof("user.flag"));
}

Test(xattr, create_refuses_an_existing_name_with_eexist)
{
	FIXTURE_OK();
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.k", "old", 3,
				   DFS_XATTR_CREATE),
		     0);
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.k", "newer", 5,
				   DFS_XATTR_CREATE),
		     -EEXIST);
	expect_value(fx.ino, "user.k", "old", 3);
	expect_list(fx.ino, "user.k", sizeof("user.k"));
}

Test(xattr, replace_refuses_a_missing_name_with_enodata)
{
	FIXTURE_OK();
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.k", "v", 1,
				   DFS_XATTR_REPLACE),
		     -ENODATA);
	cr_assert_eq(dfs_xattr_get(fx.st, fx.ino, "user.k", NULL, 0), -ENODATA);
	expect_list(fx.ino, "", 0);

	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.k", "v", 1, 0),
		     0);
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.k", "w2", 2,
				   DFS_XATTR_REPLACE),
		     0);
	expect_value(fx.ino, "user.k", "w2", 2);
}

Test(xattr, getting_a_missing_name_is_enodata)
{
	char buf[16] = "untouched";

	FIXTURE_OK();
	cr_assert_eq(
		dfs_xattr_get(fx.st, fx.ino, "user.none", buf, sizeof(buf)),
		-ENODATA);
	cr_assert_str_eq(buf, "untouched");
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.some", "x", 1, 0),
		     0);
	cr_assert_eq(
		dfs_xattr_get(fx.st, fx.ino, "user.none", buf, sizeof(buf)),
		-ENODATA);
	cr_assert_eq(dfs_xattr_get(fx.st, fx.ino, "user.non", NULL, 0),
		     -ENODATA, "a prefix of a name is not the name");
}

Test(xattr, get_with_a_too_small_buffer_is_erange_and_cap_0_asks_the_size)
{
	static const char value[] = "0123456789";
	char buf[16];

	FIXTURE_OK();
	cr_assert_eq(
		dfs_xattr_set(fx.st, NULL, fx.ino, "user.ten", value, 10, 0),
		0);
	cr_assert_eq(dfs_xattr_get(fx.st, fx.ino, "user.ten", NULL, 0), 10);
	memset(buf, '#', sizeof(buf));
	cr_assert_eq(dfs_xattr_get(fx.st, fx.ino, "user.ten", buf, 9), -ERANGE,
		     "a 10-byte value fits no 9-byte buffer");
	cr_assert_eq(buf[0], '#', "copied into a too-small buffer");
	cr_assert_eq(dfs_xattr_get(fx.st, fx.ino, "user.ten", buf, 10), 10);
	cr_assert_arr_eq(buf, value, 10);
	expect_value(fx.ino, "user.ten", value, 10);
}

Test(xattr, list_with_a_too_small_buffer_is_erange_and_cap_0_asks_the_size)
{
	char list[16];

	FIXTURE_OK();
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.ten", "v", 1, 0),
		     0);
	/* "user.ten\0" is 9 bytes. */
	cr_assert_eq(dfs_xattr_list(fx.st, fx.ino, NULL, 0), 9);
	cr_assert_eq(dfs_xattr_list(fx.st, fx.ino, list, 8), -ERANGE);
	cr_assert_eq(dfs_xattr_list(fx.st, fx.ino, list, 9), 9);
	cr_assert_arr_eq(list, "user.ten", 9);
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.b", "v", 1, 0),
		     0);
	cr_assert_eq(dfs_xattr_list(fx.st, fx.ino, list, 9), -ERANGE);
	cr_assert_eq(dfs_xattr_list(fx.st, fx.ino, NULL, 0), 16);
}

Test(xattr, other_namespaces_are_not_supported)
{
	static const char *const names[] = { "trusted.x", "security.selinux",
					     "system.posix_acl_access", "x",
					     "user" };

	FIXTURE_OK();
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		cr_assert_eq(
			dfs_xattr_set(fx.st, NULL, fx.ino, names[i], "v", 1, 0),
			-EOPNOTSUPP, "set %s", names[i]);
	expect_list(fx.ino, "", 0);
	cr_assert_eq(dfs_xattr_get(fx.st, fx.ino, "trusted.x", NULL, 0),
		     -ENODATA);
}

Test(xattr, values_with_nul_bytes_round_trip)
{
	static const char value[] = { 'a', 0, 'b', 0, 0, (char)0xff, 'c' };
	char big[4096];

	FIXTURE_OK();
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.bin", value,
				   sizeof(value), 0),
		     0);
	expect_value(fx.ino, "user.bin", value, sizeof(value));
	cr_assert_eq(dfs_xattr_get(fx.st, fx.ino, "user.bin", NULL, 0),
		     (int)sizeof(value));

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i % 3 == 0 ? 0 : i);
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.big", big,
				   sizeof(big), 0),
		     0);
	cr_assert_eq(dfs_xattr_get(fx.st, fx.ino, "user.big", NULL, 0),
		     (int)sizeof(big));
}

Test(xattr, attributes_survive_close_and_reopen)
{
	static const char value[] = { 'v', 0, '1' };
	static const char names[] = "user.a\0user.b";

	FIXTURE_OK();
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.a", value,
				   sizeof(value), 0),
		     0);
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.b", "two", 3, 0),
		     0);
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, fx.ino, "user.c", "gone", 4, 0),
		     0);
	cr_assert_eq(dfs_xattr_remove(fx.st, fx.ino, "user.c"), 0);

	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	expect_value(fx.ino, "user.a", value, sizeof(value));
	expect_value(fx.ino, "user.b", "two", 3);
	expect_list(fx.ino, names, sizeof(names));
	cr_assert_eq(dfs_xattr_get(fx.st, fx.ino, "user.c", NULL, 0), -ENODATA);
}

Test(xattr, read_only_nodes_refuse_changes_with_erofs)
{
	static const uint64_t nodes[] = { DFS_INO_AUDIT, DFS_INO_PACKAGES,
					  DFS_INO_ENVIRONMENTS, DFS_INO_ROOT };

	FIXTURE_OK();
	for (size_t i = 0; i < sizeof(nodes) / sizeof(*nodes); i++) {
		struct dfs_attr before, after;

		cr_assert_eq(dfs_node_getattr(fx.st, nodes[i], &before), 0);
		cr_assert_eq(dfs_xattr_set(fx.st, NULL, nodes[i], "user.k", "v",
					   1, 0),
			     -EROFS, "set on %llu",
			     (unsigned long long)nodes[i]);
		cr_assert_eq(dfs_xattr_set(fx.st, NULL, nodes[i], "user.k", "v",
					   1, DFS_XATTR_CREATE),
			     -EROFS);
		cr_assert_eq(dfs_xattr_remove(fx.st, nodes[i], "user.k"),
			     -EROFS);
		expect_list(nodes[i], "", 0);
		cr_assert_eq(dfs_xattr_get(fx.st, nodes[i], "user.k", NULL, 0),
			     -ENODATA);
		cr_assert_eq(dfs_node_getattr(fx.st, nodes[i], &after), 0);
		cr_assert_eq(after.ctime.tv_sec, before.ctime.tv_sec);
		cr_assert_eq(after.ctime.tv_nsec, before.ctime.tv_nsec);
	}
}

Test(xattr, an_unlinked_node_loses_its_attributes)
{
	struct dfs_actor me = { .uid = getuid(),
				.gid = getgid(),
				.pid = getpid() };
	struct dfs_attr proc, g;

	FIXTURE_OK();
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_BUILD, "process", &proc),
		     0);
	cr_assert_eq(dfs_node_mknod(fx.st, &me, proc.ino, "g", S_IFREG | 0644,
				    0, &g),
		     0);
	cr_assert_eq(dfs_xattr_set(fx.st, NULL, g.ino, "user.k", "v", 1, 0), 0);
	cr_assert_eq(dfs_node_unlink(fx.st, proc.ino, "g"), 0);
	cr_assert_eq(dfs_node_getattr(fx.st, g.ino, &g), -ENOENT);
	cr_assert_eq(dfs_xattr_list(fx.st, g.ino, NULL, 0), 0,
		     "attributes outlived their node");
}
