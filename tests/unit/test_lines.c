// SPDX-License-Identifier: MIT
/*
 * test_lines.c - unit tests of how snapshots share their entries (schema
 * 11, model/snode.c and snodew.c): a component's packages are versions
 * of one line, and an entry a snapshot did not change is the earlier
 * snapshot's row.  Each test counts the rows the database holds (a
 * read-only connection of its own), and reads every version back through
 * the store as the packages/ tree shows it: sharing must change what is
 * stored, never what a version shows.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deployfs/store.h"
#include "fixture.h"

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)

static struct dfs_fixture fx;

static void setup(void)
{
	dfs_fixture_setup(&fx, "lines", OPEN_FLAGS);
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(lines, .init = setup, .fini = teardown, .timeout = 120);

/* The single integer sql answers, read from the committed database. */
static long long db_int(const char *sql)
{
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;
	long long v;

	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READONLY, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s",
		     sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sql);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static long long rows(void)
{
	return db_int("SELECT count(*) FROM snodes");
}

/* packages/COMP, which must be there. */
static uint64_t pkgdir(const char *comp)
{
	return dfs_fixture_entry(&fx, DFS_INO_PACKAGES, comp).ino;
}

static uint64_t package(const char *name)
{
	struct dfs_attr a;
	int rc = dfs_node_mkdir(fx.st, &fx.me, pkgdir("p"), name, 0755, &a);

	cr_assert_eq(rc, 0, "packaging %s: %s", name, strerror(-rc));
	return a.ino;
}

/* packages/p/NAME@... by its name: its root. */
static uint64_t root_of(const char *name)
{
	return dfs_fixture_entry(&fx, pkgdir("p"), name).ino;
}

/* The inode of path ("a/b") under the snapshot root, or 0 if absent. */
static uint64_t at(uint64_t root, const char *path)
{
	return dfs_fixture_at(&fx, root, path);
}

static void expect_text(uint64_t root, const char *path, const char *text)
{
	uint64_t ino = at(root, path);

	cr_assert_neq(ino, 0, "%s is missing", path);
	dfs_fixture_expect_text(&fx, ino, text);
}

static int list_name(void *ctx, const struct dfs_dirent *de)
{
	char *buf = ctx;

	snprintf(buf + strlen(buf), 512 - strlen(buf), "%s ", de->name);
	return 0;
}

/* The names in folder path of root, in readdir's order. */
static const char *listing(uint64_t root, const char *path, char *buf)
{
	uint64_t ino = path[0] ? at(root, path) : root;

	buf[0] = '\0';
	cr_assert_neq(ino, 0, "%s is missing", path);
	cr_assert_eq(dfs_node_readdir(fx.st, ino, 0, false, list_name, buf), 0);
	return buf;
}

/* build/process/p {a.xml, b.xml, sub/c.xml, sub/deep/d.xml}. */
static uint64_t tree(uint64_t *sub)
{
	uint64_t p = dfs_fixture_component(&fx, "process", "p"), deep;

	(void)dfs_fixture_put_text(&fx, p, "a.xml", "<a/>");
	(void)dfs_fixture_put_text(&fx, p, "b.xml", "<b/>");
	*sub = dfs_fixture_mkdir(&fx, p, "sub", 0755);
	(void)dfs_fixture_put_text(&fx, *sub, "c.xml", "<c/>");
	deep = dfs_fixture_mkdir(&fx, *sub, "deep", 0755);
	(void)dfs_fixture_put_text(&fx, deep, "d.xml", "<d/>");
	return p;
}

Test(lines, an_unchanged_snapshot_writes_only_its_root)
{
	char buf[512];
	uint64_t sub, r1, r2;
	long long n1;

	FIXTURE_OK();
	(void)tree(&sub);
	r1 = package("p@1");
	n1 = rows();
	cr_assert_eq(n1, 7, "the root, 2 folders and 4 files: %lld", n1);
	r2 = package("p@2");
	cr_assert_eq(rows(), n1 + 1, "p@2 wrote %lld rows", rows() - n1);
	cr_assert_neq(r1, r2);
	/* Each version shows the whole tree, under inodes of its own. */
	expect_text(r2, "sub/deep/d.xml", "<d/>");
	expect_text(r1, "sub/deep/d.xml", "<d/>");
	cr_assert_neq(at(r1, "sub/deep/d.xml"), at(r2, "sub/deep/d.xml"));
	cr_assert_str_eq(listing(r2, "", buf), "a.xml b.xml sub ");
	cr_assert_str_eq(listing(r2, "sub", buf), "c.xml deep ");
}

Test(lines, a_change_writes_its_rows_and_each_version_keeps_its_own)
{
	char buf[512];
	uint64_t p, sub, r1, r2, r3;
	long long n1, n2;

	FIXTURE_OK();
	p = tree(&sub);
	r1 = package("p@1");
	n1 = rows();
	dfs_fixture_write(&fx, dfs_fixture_entry(&fx, sub, "c.xml").ino,
			  "<c2/>", 5);
	r2 = package("p@2");
	n2 = rows();
	cr_assert_eq(n2, n1 + 2, "the root and c.xml: %lld", n2 - n1);
	/* A file gone, one new, a folder with its content gone. */
	cr_assert_eq(dfs_node_unlink(fx.st, p, "b.xml"), 0);
	(void)dfs_fixture_put_text(&fx, p, "e.xml", "<e/>");
	cr_assert_eq(dfs_node_unlink(fx.st,
				     dfs_fixture_entry(&fx, sub, "deep").ino,
				     "d.xml"),
		     0);
	cr_assert_eq(dfs_node_rmdir(fx.st, NULL, sub, "deep"), 0);
	r3 = package("p@3");
	/* The root (p's folder), e.xml, and sub: its mtime and link count
	 * moved. */
	cr_assert_eq(rows(), n2 + 3, "p@3 wrote %lld rows", rows() - n2);

	expect_text(r1, "sub/c.xml", "<c/>");
	expect_text(r2, "sub/c.xml", "<c2/>");
	expect_text(r3, "sub/c.xml", "<c2/>");
	cr_assert_str_eq(listing(r1, "", buf), "a.xml b.xml sub ");
	cr_assert_str_eq(listing(r2, "sub", buf), "c.xml deep ");
	cr_assert_str_eq(listing(r3, "", buf), "a.xml sub e.xml ");
	cr_assert_str_eq(listing(r3, "sub", buf), "c.xml ");
	cr_assert_eq(at(r3, "b.xml"), 0);
	cr_assert_eq(at(r3, "sub/deep"), 0);
	cr_assert_eq(at(r2, "e.xml"), 0);
	expect_text(r2, "sub/deep/d.xml", "<d/>");
	expect_text(r1, "b.xml", "<b/>");
	/* What an earlier version showed is still where it was. */
	cr_assert_eq(root_of("p@1"), r1);
}

Test(lines, a_name_that_changes_type_is_a_new_node)
{
	uint64_t p, sub, r1, r2;

	FIXTURE_OK();
	p = tree(&sub);
	r1 = package("p@1");
	cr_assert_eq(dfs_node_unlink(fx.st, p, "a.xml"), 0);
	(void)dfs_fixture_put_text(
		&fx, dfs_fixture_mkdir(&fx, p, "a.xml", 0755), "in.txt", "in");
	cr_assert_eq(dfs_node_unlink(fx.st, sub, "c.xml"), 0);
	dfs_fixture_symlink(&fx, sub, "c.xml", "../b.xml");
	r2 = package("p@2");
	expect_text(r2, "a.xml/in.txt", "in");
	expect_text(r1, "a.xml", "<a/>");
	cr_assert_eq(dfs_fixture_entry(&fx, at(r2, "sub"), "c.xml").mode &
			     S_IFMT,
		     S_IFLNK);
	expect_text(r1, "sub/c.xml", "<c/>");
}

/* The references a blob's row counts: its build files and its rows. */
static long long refs_of_text(uint64_t file)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "SELECT b.refs FROM blobs b JOIN inodes i ON i.blob = b.hash"
		 " WHERE i.ino = %llu",
		 (unsigned long long)file);
	return db_int(sql);
}

static void remove_version(const char *version)
{
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, pkgdir("p"),
				   "user.deployfs.remove", version,
				   strlen(version), 0),
		     0, "removing %s", version);
}

static void gc_now(void)
{
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, DFS_INO_PACKAGES,
				   "user.deployfs.gc", "0", 1, 0),
		     0);
}

Test(lines, gc_of_one_version_keeps_the_rows_the_others_show)
{
	uint64_t p, sub, c, r1, r3;
	long long n3;

	FIXTURE_OK();
	p = tree(&sub);
	c = dfs_fixture_entry(&fx, sub, "c.xml").ino;
	r1 = package("p@1");
	dfs_fixture_write(&fx, c, "<c2/>", 5);
	(void)package("p@2");
	dfs_fixture_write(&fx, c, "<c3/>", 5);
	r3 = package("p@3");
	n3 = rows();
	/* c3's blob: the build file and p@3's row. */
	cr_assert_eq(refs_of_text(c), 2);

	remove_version("2");
	gc_now();
	/* Only p@2's root and its c.xml were p@2's alone. */
	cr_assert_eq(rows(), n3 - 2, "%lld rows left of %lld", rows(), n3);
	cr_assert_eq(db_int("SELECT count(*) FROM blobs WHERE refs = 0"), 0,
		     "c2's blob went with its row");
	expect_text(r1, "sub/c.xml", "<c/>");
	expect_text(r3, "sub/c.xml", "<c3/>");
	expect_text(r1, "sub/deep/d.xml", "<d/>");
	expect_text(r3, "sub/deep/d.xml", "<d/>");

	/* The line goes on after a version went. */
	dfs_fixture_write(&fx, c, "<c4/>", 5);
	expect_text(package("p@4"), "sub/c.xml", "<c4/>");
	expect_text(r3, "a.xml", "<a/>");

	remove_version("1");
	remove_version("3");
	remove_version("4");
	gc_now();
	cr_assert_eq(rows(), 0, "%lld rows left", rows());
	cr_assert_eq(refs_of_text(c), 1, "only the build file");
	(void)p;
}

/* The latest version reclaimed: the next snapshot still holds all. */
Test(lines, a_snapshot_after_the_latest_version_went_holds_everything)
{
	char buf[512];
	uint64_t sub, c, r1, r3;

	FIXTURE_OK();
	(void)tree(&sub);
	c = dfs_fixture_entry(&fx, sub, "c.xml").ino;
	r1 = package("p@1");
	dfs_fixture_write(&fx, c, "<c2/>", 5);
	(void)package("p@2");
	remove_version("2");
	gc_now();
	r3 = package("p@3");
	cr_assert_str_eq(listing(r3, "", buf), "a.xml b.xml sub ");
	expect_text(r3, "sub/c.xml", "<c2/>");
	expect_text(r3, "sub/deep/d.xml", "<d/>");
	expect_text(r3, "a.xml", "<a/>");
	expect_text(r1, "sub/c.xml", "<c/>");
}
