// SPDX-License-Identifier: MIT
/*
 * test_persist.c - everything in build/ survives a clean unmount and a
 * remount of the same store: content, folders, symlinks, hard links,
 * modes, owners, ns times, xattrs, sparse files and inode numbers.  Each
 * test records the tree with find and getfattr, takes a native copy,
 * unmounts (the daemon must exit 0), mounts again and compares.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct dfs_mount m;
static int setup_rc;

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
}

static void teardown(void)
{
	dfs_mount_teardown(&m);
}

TestSuite(persist, .init = setup, .fini = teardown, .timeout = 240);

/*
 * Record the whole tree under build/ with the fields that must persist:
 * inode, link count, mode, owner, group, size, blocks, mtime and ctime in
 * ns, type, path, link target; and every user.* xattr.
 */
static void record(const char *tag)
{
	char out[4096];
	int rc;

	rc = dfs_sh_out(&m, out, sizeof(out),
			"cd \"$BUILD\" && find . -printf '%%i %%n %%m %%U %%G "
			"%%s %%b %%T@ %%C@ %%y %%p %%l\\n' >\"$DIR/find.u\" && "
			"sort -k11 \"$DIR/find.u\" >\"$DIR/find-%s\" && "
			"find . -print0 >\"$DIR/names.u\" && "
			"sort -z \"$DIR/names.u\" | xargs -0 getfattr -h -d "
			"-e hex >\"$DIR/xattr-%s\" 2>&1",
			tag, tag);
	cr_assert_eq(rc, 0, "recording %s failed:\n%s", tag, out);
}

/* The files DIR/find-a and DIR/find-b (and xattr-*) are identical. */
static void assert_same_record(const char *a, const char *b)
{
	char out[16384];
	int rc;

	rc = dfs_sh_out(&m, out, sizeof(out),
			"diff \"$DIR/find-%s\" \"$DIR/find-%s\" 2>&1", a, b);
	cr_assert_eq(rc, 0, "find listing changed (< %s, > %s):\n%s", a, b,
		     out);
	rc = dfs_sh_out(&m, out, sizeof(out),
			"diff \"$DIR/xattr-%s\" \"$DIR/xattr-%s\" 2>&1", a, b);
	cr_assert_eq(rc, 0, "xattrs changed (< %s, > %s):\n%s", a, b, out);
}

static void remount(void)
{
	int rc = dfs_mount_stop(&m);

	cr_assert_eq(rc, 0, "unmount: %s, daemon status 0x%x", strerror(-rc),
		     m.daemon_status);
	cr_assert(!dfs_is_mounted(m.mnt), "still mounted after stop");
	rc = dfs_mount_start(&m);
	cr_assert_eq(rc, 0, "remount: %s", strerror(-rc));
}

static void assert_same_as_native(const char *copy)
{
	char out[16384];
	int rc;

	rc = dfs_sh_out(&m, out, sizeof(out),
			"diff -r --no-dereference \"$NATIVE/%s\" \"$BUILD\" "
			"2>&1",
			copy);
	cr_assert_eq(rc, 0, "diff -r against the native copy:\n%s", out);
}

/* A tree with one of everything, in the fixture's components. */
static const char build_tree[] =
	"set -e; cp -a \"$FIXTURES/workspace/.\" \"$BUILD/\"; "
	"cd \"$BUILD/process/order-sync\"; "
	"mkdir -p data/in data/out; "
	"printf 'sku,qty\\nA-1,3\\nB-7,1\\n' >data/in/orders.csv; "
	"chmod 0600 data/in/orders.csv; "
	"chown 1234:5678 data/in/orders.csv; "
	"ln data/in/orders.csv data/out/orders-link.csv; "
	"ln -s ../in/orders.csv data/out/current; "
	"ln -s missing-target dangling; "
	": >empty.txt; "
	"printf '#!/bin/sh\\nexec true\\n' >run.sh; chmod 04755 run.sh; "
	"mkdir -m 0751 private; chown 65534:65534 private; "
	"mkdir shared; chmod 01777 shared; "
	"truncate -s 64M sparse.bin; "
	"printf tail | dd of=sparse.bin bs=1 seek=33554432 conv=notrunc "
	"status=none; "
	"setfattr -n user.owner -v team-a process.xml; "
	"setfattr -n user.bin -v 0x00ff0001 data/in/orders.csv; "
	"setfattr -n user.stage -v test data; "
	"touch -h -d @1614834367.123456789 dangling; "
	"touch -d @1577934245.987654321 process.xml data/in; "
	"touch -d @1600000000.000000001 data\n";

Test(persist, whole_tree_identical_after_remount)
{
	char p[PATH_MAX], out[4096];
	struct stat st;
	int rc;

	dfs_need_mount(&m, setup_rc);
	rc = dfs_sh_out(&m, out, sizeof(out), "%s", build_tree);
	cr_assert_eq(rc, 0, "building the tree failed:\n%s", out);
	record("before");
	cr_assert_eq(dfs_sh(&m, "cp -a \"$BUILD\" \"$NATIVE/copy\""), 0);
	/* The record has what it should: a sanity check of the script. */
	cr_assert_eq(dfs_sh(&m, "grep -q ' 2 600 1234 5678 .* "
				"./process/order-sync/data/in/orders.csv $' "
				"\"$DIR/find-before\" && grep -q "
				"'1577934245.9876543210* .* f "
				"./process/order-sync/process.xml' "
				"\"$DIR/find-before\" && "
				"grep -q '^user.bin=0x00ff0001' "
				"\"$DIR/xattr-before\""),
		     0, "the tree was not built as intended");
	remount();
	record("after");
	assert_same_record("before", "after");
	assert_same_as_native("copy");
	st = (struct stat){ 0 };
	cr_assert_eq(stat(dfs_path(p, sizeof(p),
				   "%s/process/order-sync/sparse.bin", m.build),
			  &st),
		     0);
	cr_assert_eq(st.st_size, 64L << 20);
	cr_assert_lt((long long)st.st_blocks * 512, (long long)st.st_size,
		     "sparse file lost its hole: %lld blocks",
		     (long long)st.st_blocks);
}

Test(persist, changes_after_remount_persist_and_inodes_stay_unique)
{
	char out[16384];
	int rc;

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0);
	record("one");
	remount();
	record("two");
	assert_same_record("one", "two");
	/* New entries get inode numbers no live entry has. */
	rc = dfs_sh_out(&m, out, sizeof(out),
			"set -e; cd \"$BUILD/map/order-map\"; "
			"echo '<!-- v2 -->' >>map.xml; "
			"mv map.xml map-v2.xml; "
			"for i in 1 2 3 4 5 6 7 8; do "
			"echo $i >new-$i.xml; done; "
			"mkdir -p rules/a/b; echo r >rules/a/b/r.txt; "
			"rm -r ../../profile/order-json; "
			"chmod 0640 new-1.xml; chown 42:43 new-2.xml; "
			"truncate -s 1 new-3.xml; "
			"setfattr -n user.rev -v 2 map-v2.xml; "
			"cd \"$BUILD\" && find . -printf '%%i\\n' | sort | "
			"uniq -d 2>&1");
	cr_assert_eq(rc, 0, "changes failed:\n%s", out);
	cr_assert_str_eq(out, "", "inode numbers used twice:\n%s", out);
	record("three");
	cr_assert_eq(dfs_sh(&m, "cp -a \"$BUILD\" \"$NATIVE/copy\""), 0);
	remount();
	record("four");
	assert_same_record("three", "four");
	assert_same_as_native("copy");
	cr_assert_eq(dfs_sh(&m,
			    "test ! -e \"$BUILD/profile/order-json\" && "
			    "test ! -e \"$BUILD/map/order-map/map.xml\" && "
			    "grep -q v2 \"$BUILD/map/order-map/map-v2.xml\""),
		     0);
}

Test(persist, large_offset_file_survives_remount)
{
	static const char tail[] = "order-sync@5GiB";
	const off_t off = 5L << 30;
	char p[PATH_MAX], buf[sizeof(tail)];
	struct stat st;
	ino_t ino;
	int fd;

	dfs_need_mount(&m, setup_rc);
	dfs_path(p, sizeof(p), "%s/process/order-sync", m.build);
	cr_assert_eq(mkdir(p, 0755), 0);
	dfs_path(p, sizeof(p), "%s/process/order-sync/big.bin", m.build);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "open: %s", strerror(errno));
	cr_assert_eq(pwrite(fd, "head", 4, 0), 4);
	cr_assert_eq(pwrite(fd, tail, sizeof(tail), off),
		     (ssize_t)sizeof(tail));
	cr_assert_eq(close(fd), 0);
	cr_assert_eq(stat(p, &st), 0);
	ino = st.st_ino;
	remount();
	cr_assert_eq(stat(p, &st), 0, "stat after remount: %s",
		     strerror(errno));
	cr_assert_eq(st.st_ino, ino);
	cr_assert_eq(st.st_size, off + (off_t)sizeof(tail));
	fd = open(p, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, sizeof(buf), off), (ssize_t)sizeof(buf));
	cr_assert_str_eq(buf, tail);
	cr_assert_eq(pread(fd, buf, 4, 0), 4);
	cr_assert_arr_eq(buf, "head", 4);
	close(fd);
}

Test(persist, empty_store_remounts_with_same_tree)
{
	char out[4096];

	dfs_need_mount(&m, setup_rc);
	record("fresh");
	remount();
	record("again");
	assert_same_record("fresh", "again");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"ls \"$MNT\" && ls \"$BUILD\" | wc -l"),
		     0);
	cr_assert_str_eq(out, "audit.log\nbuild\nenvironments\npackages\n13\n");
}
