// SPDX-License-Identifier: MIT
/*
 * test_snapcache.c - unit tests of the kept walk (model/snapcache.c): a
 * component packaged again with nothing changed since its last snapshot
 * takes that walk's results and writes its root alone; any change its
 * walk would see makes it walk again.  Each test counts the snapshots
 * that reused a walk (st->snap_reused) and reads the versions back as
 * packages/ shows them: the kept walk must never show a stale tree.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deployfs/store.h"
#include "fixture.h"
#include "../../store/storage/storage.h"

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)

static struct dfs_fixture fx;

static void setup(void)
{
	dfs_fixture_setup(&fx, "snapcache", OPEN_FLAGS);
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(snapcache, .init = setup, .fini = teardown, .timeout = 120);

/* packages/COMP, which must be there. */
static uint64_t pkgdir(const char *comp)
{
	return dfs_fixture_entry(&fx, DFS_INO_PACKAGES, comp).ino;
}

/* mkdir packages/COMP/NAME; its root, and whether it reused a walk. */
static uint64_t package(const char *comp, const char *name, bool *reused)
{
	uint64_t before = fx.st->snap_reused;
	struct dfs_attr a;
	int rc = dfs_node_mkdir(fx.st, &fx.me, pkgdir(comp), name, 0755, &a);

	cr_assert_eq(rc, 0, "packaging %s: %s", name, strerror(-rc));
	*reused = fx.st->snap_reused != before;
	return a.ino;
}

static uint64_t walked(const char *comp, const char *name)
{
	bool reused;
	uint64_t root = package(comp, name, &reused);

	cr_assert(!reused, "%s reused a walk", name);
	return root;
}

static uint64_t reused(const char *comp, const char *name)
{
	bool r;
	uint64_t root = package(comp, name, &r);

	cr_assert(r, "%s walked its tree again", name);
	return root;
}

static uint64_t at(uint64_t dir, const char *path)
{
	return dfs_fixture_at(&fx, dir, path);
}

/* The xattr user.deployfs.KEY of the roots r1 and r2: equal or not. */
static bool same_meta(uint64_t r1, uint64_t r2, const char *key)
{
	char a[1024], b[1024];

	dfs_fixture_meta(&fx, r1, key, a, sizeof(a));
	dfs_fixture_meta(&fx, r2, key, b, sizeof(b));
	return strcmp(a, b) == 0;
}

/* The xattr user.deployfs.KEY of the root r is text. */
static void expect_meta(uint64_t r, const char *key, const char *text)
{
	char v[1024];

	cr_assert_str_eq(dfs_fixture_meta(&fx, r, key, v, sizeof(v)), text,
			 "%s", key);
}

static struct dfs_attr attr_at(uint64_t dir, const char *path)
{
	struct dfs_attr a;
	uint64_t ino = at(dir, path);

	cr_assert_neq(ino, 0, "%s is missing", path);
	cr_assert_eq(dfs_node_getattr(fx.st, ino, &a), 0);
	return a;
}

static void expect_text(uint64_t dir, const char *path, const char *text)
{
	uint64_t ino = at(dir, path);

	cr_assert_neq(ino, 0, "%s is missing", path);
	dfs_fixture_expect_text(&fx, ino, text);
}

/* build/process/p {a.xml, sub/c.xml, cert -> certificate/c, m -> map/m}
 * with build/certificate/c {cert.pem} and build/map/m {map.xml}. */
static uint64_t tree(uint64_t *sub, uint64_t *m)
{
	uint64_t p, c;

	c = dfs_fixture_component(&fx, "certificate", "c");
	(void)dfs_fixture_put_text(&fx, c, "cert.pem", "-----BEGIN-----");
	*m = dfs_fixture_component(&fx, "map", "m");
	(void)dfs_fixture_put_text(&fx, *m, "map.xml", "<map/>");
	p = dfs_fixture_component(&fx, "process", "p");
	(void)dfs_fixture_put_text(&fx, p, "a.xml", "<a/>");
	*sub = dfs_fixture_mkdir(&fx, p, "sub", 0755);
	(void)dfs_fixture_put_text(&fx, *sub, "c.xml", "<c/>");
	dfs_fixture_symlink(&fx, p, "cert", "../../certificate/c");
	dfs_fixture_symlink(&fx, p, "m", "../../map/m");
	return p;
}

Test(snapcache, an_unchanged_tree_is_packaged_from_its_last_walk)
{
	uint64_t sub, m, r1, r2;
	static const char *const keys[] = { "content_hash", "revisions",
					    "requires" };

	FIXTURE_OK();
	(void)tree(&sub, &m);
	r1 = walked("p", "p@1");
	r2 = reused("p", "p@2");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_assert(same_meta(r1, r2, keys[i]), "%s", keys[i]);
	expect_meta(r2, "requires", "[\"certificate/c\"]");
	expect_meta(r2, "revisions", "{\"m\":1,\"p\":1}");
	expect_meta(r2, "version", "2");
	expect_text(r2, "a.xml", "<a/>");
	expect_text(r2, "sub/c.xml", "<c/>");
	expect_text(r2, "m/map.xml", "<map/>");
	cr_assert_eq(attr_at(r2, "").nlink, attr_at(r1, "").nlink);
	cr_assert_eq(attr_at(r2, "").nlink, 4, "., sub, m and the parent");
	cr_assert(S_ISLNK(attr_at(r2, "cert").mode));
	(void)reused("p", "p@3");
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
}

static void set_attr(uint64_t ino, const struct dfs_setattr *sa)
{
	struct dfs_attr a;

	cr_assert_eq(dfs_node_setattr(fx.st, ino, sa, &a), 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
}

Test(snapcache, each_change_a_walk_would_see_is_walked)
{
	struct dfs_setattr mode = { .valid = DFS_SET_MODE, .mode = 0600 };
	struct dfs_setattr times = { .valid = DFS_SET_MTIME,
				     .mtime = { .tv_sec = 1000000 } };
	uint64_t p, sub, m, r;

	FIXTURE_OK();
	p = tree(&sub, &m);
	(void)walked("p", "p@1");
	(void)reused("p", "p@2");

	dfs_fixture_write(&fx, at(p, "a.xml"), "<a2/>", 5);
	expect_text(walked("p", "p@3"), "a.xml", "<a2/>");
	(void)reused("p", "p@4");

	set_attr(at(p, "sub/c.xml"), &mode);
	r = walked("p", "p@5");
	cr_assert_eq(attr_at(r, "sub/c.xml").mode & 07777, 0600);

	set_attr(at(p, "sub/c.xml"), &times);
	r = walked("p", "p@6");
	cr_assert_eq(attr_at(r, "sub/c.xml").mtime.tv_sec, 1000000);

	cr_assert_eq(dfs_node_rename(fx.st, sub, "c.xml", p, "c.xml", 0), 0);
	r = walked("p", "p@7");
	expect_text(r, "c.xml", "<c/>");
	cr_assert_eq(at(r, "sub/c.xml"), 0);

	cr_assert_eq(dfs_node_unlink(fx.st, p, "c.xml"), 0);
	r = walked("p", "p@8");
	cr_assert_eq(at(r, "c.xml"), 0);

	(void)dfs_fixture_put_text(
		&fx, dfs_fixture_mkdir(&fx, sub, "new", 0755), "n.txt", "n");
	expect_text(walked("p", "p@9"), "sub/new/n.txt", "n");

	dfs_fixture_symlink(&fx, p, "again", "a.xml");
	r = walked("p", "p@10");
	cr_assert(S_ISLNK(attr_at(r, "again").mode));

	/* The component's own folder. */
	set_attr(p, &mode);
	r = walked("p", "p@11");
	cr_assert_eq(attr_at(r, "").mode & 07777, 0600);
	(void)reused("p", "p@12");
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
}

Test(snapcache, packaging_another_component_keeps_the_walk)
{
	uint64_t sub, m, q;

	FIXTURE_OK();
	(void)tree(&sub, &m);
	q = dfs_fixture_component(&fx, "process", "q");
	(void)dfs_fixture_put_text(&fx, q, "q.xml", "<q/>");
	(void)walked("p", "p@1");
	(void)walked("q", "q@1");
	expect_text(reused("p", "p@2"), "a.xml", "<a/>");
	expect_text(reused("q", "q@2"), "q.xml", "<q/>");
	expect_text(reused("p", "p@3"), "m/map.xml", "<map/>");
}

Test(snapcache, a_change_in_an_included_component_is_walked)
{
	uint64_t sub, m, r1, r2;

	FIXTURE_OK();
	(void)tree(&sub, &m);
	r1 = walked("p", "p@1");
	dfs_fixture_write(&fx, at(m, "map.xml"), "<map2/>", 7);
	r2 = walked("p", "p@2");
	expect_text(r2, "m/map.xml", "<map2/>");
	expect_text(r1, "m/map.xml", "<map/>");
	expect_meta(r2, "revisions", "{\"m\":2,\"p\":1}");
	cr_assert(!same_meta(r1, r2, "content_hash"));
}

Test(snapcache, a_link_that_comes_to_name_a_component_is_walked)
{
	uint64_t p, m, r;

	FIXTURE_OK();
	p = dfs_fixture_component(&fx, "process", "p");
	dfs_fixture_symlink(&fx, p, "m", "../../map/m");
	r = walked("p", "p@1");
	cr_assert(S_ISLNK(attr_at(r, "m").mode), "no map m yet: a link");
	(void)reused("p", "p@2");

	m = dfs_fixture_component(&fx, "map", "m");
	(void)dfs_fixture_put_text(&fx, m, "map.xml", "<map/>");
	r = walked("p", "p@3");
	cr_assert(S_ISDIR(attr_at(r, "m").mode), "map m now: an include");
	expect_text(r, "m/map.xml", "<map/>");

	cr_assert_eq(dfs_node_unlink(fx.st, m, "map.xml"), 0);
	cr_assert_eq(
		dfs_node_rmdir(fx.st, NULL,
			       dfs_fixture_entry(&fx, DFS_INO_BUILD, "map").ino,
			       "m"),
		0);
	r = walked("p", "p@4");
	cr_assert(S_ISLNK(attr_at(r, "m").mode), "map m gone: a link again");
}

static void gc_now(void)
{
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, DFS_INO_PACKAGES,
				   "user.deployfs.gc", "0", 1, 0),
		     0);
}

Test(snapcache, a_reclaimed_latest_version_is_walked_again)
{
	uint64_t sub, m, r;

	FIXTURE_OK();
	(void)tree(&sub, &m);
	(void)walked("p", "p@1");
	(void)reused("p", "p@2");
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, pkgdir("p"),
				   "user.deployfs.remove", "2", 1, 0),
		     0);
	gc_now();
	r = walked("p", "p@3");
	expect_text(r, "a.xml", "<a/>");
	expect_text(r, "sub/c.xml", "<c/>");
	expect_text(r, "m/map.xml", "<map/>");
	(void)reused("p", "p@4");
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
}

Test(snapcache, a_commit_of_another_connection_is_walked)
{
	uint64_t p, sub, m, a, r;
	sqlite3 *db = NULL;
	char sql[128];

	FIXTURE_OK();
	p = tree(&sub, &m);
	a = at(p, "a.xml");
	(void)walked("p", "p@1");
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READWRITE, NULL),
		     SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	snprintf(sql, sizeof(sql),
		 "UPDATE inodes SET mode = %d WHERE ino = %llu", S_IFREG | 0640,
		 (unsigned long long)a);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s",
		     sqlite3_errmsg(db));
	sqlite3_close(db);
	r = walked("p", "p@2");
	cr_assert_eq(attr_at(r, "a.xml").mode & 07777, 0640);
}

Test(snapcache, a_reopened_store_walks_once_again)
{
	uint64_t sub, m, r1, r2;

	FIXTURE_OK();
	(void)tree(&sub, &m);
	r1 = walked("p", "p@1");
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	r2 = walked("p", "p@2");
	cr_assert(same_meta(r1, r2, "content_hash"));
	(void)reused("p", "p@3");
}
