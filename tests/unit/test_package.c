// SPDX-License-Identifier: MIT
/*
 * test_package.c - unit tests of packages (store/package.c, snapshot.c,
 * component.c, vnode.c): include resolution and expansion, include loops,
 * requirements, revisions, content hashes, refusals and their audit rows,
 * persistence, removal and blob reclaim, and what a snapshot takes of a
 * file that is still open for writing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deployfs/names.h"
#include "deployfs/store.h"
#include "fixture.h"

static struct dfs_fixture fx;

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)

static void setup(void)
{
	dfs_fixture_setup(&fx, "package", OPEN_FLAGS);
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(package, .init = setup, .fini = teardown, .timeout = 120);

/* ---- building trees ------------------------------------------------------ */

/* The whole content of the build file ino is text (no store sync). */
static void write_text(uint64_t ino, const char *text)
{
	dfs_fixture_write(&fx, ino, text, strlen(text));
}

static void set_mode(uint64_t ino, uint32_t mode)
{
	struct dfs_setattr sa = { .valid = DFS_SET_MODE, .mode = mode };
	struct dfs_attr a;

	cr_assert_eq(dfs_node_setattr(fx.st, ino, &sa, &a), 0);
}

/* build/map/m {map.xml, sub/deep.txt} and build/process/p {process.xml};
 * returns p. */
static uint64_t map_and_process(void)
{
	uint64_t m = dfs_fixture_component(&fx, "map", "m"), p;

	(void)dfs_fixture_put_text(&fx, m, "map.xml", "<map/>");
	(void)dfs_fixture_put_text(&fx, dfs_fixture_mkdir(&fx, m, "sub", 0755),
				   "deep.txt", "deep");
	p = dfs_fixture_component(&fx, "process", "p");
	(void)dfs_fixture_put_text(&fx, p, "process.xml", "<process/>");
	return p;
}

/* ---- packages ---------------------------------------------------------- */

/* packages/COMP, which must be there. */
static uint64_t pkgdir(const char *comp)
{
	return dfs_fixture_entry(&fx, DFS_INO_PACKAGES, comp).ino;
}

/* mkdir packages/COMP/NAME: 0 or -errno; the root's inode in *root. */
static int mkpkg(const char *comp, const char *name, uint64_t *root)
{
	struct dfs_attr a;
	int rc = dfs_node_mkdir(fx.st, &fx.me, pkgdir(comp), name, 0755, &a);

	if (rc == 0)
		*root = a.ino;
	return rc;
}

static uint64_t package(const char *comp, const char *name)
{
	uint64_t root = 0;
	int rc = mkpkg(comp, name, &root);

	cr_assert_eq(rc, 0, "packaging %s: %s", name, strerror(-rc));
	return root;
}

struct str {
	char s[1024];
};

/* The xattr user.deployfs.KEY of ino. */
static struct str meta(uint64_t ino, const char *key)
{
	struct str v;

	dfs_fixture_meta(&fx, ino, key, v.s, sizeof(v.s));
	return v;
}

static long long revision(uint64_t dir)
{
	return atoll(meta(dir, "revision").s);
}

static void expect_text(uint64_t ino, const char *text)
{
	dfs_fixture_expect_text(&fx, ino, text);
}

static void expect_link(uint64_t parent, const char *name, const char *target)
{
	struct dfs_attr a = dfs_fixture_entry(&fx, parent, name);
	char buf[256];

	cr_assert(S_ISLNK(a.mode), "%s: mode %o, not a symlink", name, a.mode);
	cr_assert_eq(a.size, strlen(target), "%s: size %llu", name,
		     (unsigned long long)a.size);
	cr_assert_eq(dfs_node_readlink(fx.st, a.ino, buf, sizeof(buf)),
		     (int)strlen(target));
	cr_assert_str_eq(buf, target);
}

/* Names read from a folder, comma-separated; max: stop after so many. */
struct names {
	struct str l;
	int n, max;
	uint64_t off;
};

static int add_name(void *ctx, const struct dfs_dirent *de)
{
	struct names *v = ctx;
	size_t n = strlen(v->l.s);

	if (v->max && v->n == v->max)
		return 1;
	snprintf(v->l.s + n, sizeof(v->l.s) - n, "%s%s", n ? "," : "",
		 de->name);
	v->n++;
	v->off = de->off;
	return 0;
}

/* The names in dir after off, in readdir order, joined by commas. */
static struct names list_from(uint64_t dir, uint64_t off, int max)
{
	struct names v = { .max = max };

	cr_assert_eq(dfs_node_readdir(fx.st, dir, off, false, add_name, &v), 0);
	return v;
}

static struct str list(uint64_t dir)
{
	return list_from(dir, 0, 0).l;
}

/* ---- the audit trail ----------------------------------------------------- */

struct audit {
	int n; /* rows */
	char action[32], component[80], version[128], result[16];
	char reason[800], revisions[512];
};

static int take_row(void *ctx, const struct dfs_audit_event *ev)
{
	struct audit *a = ctx;

#define COPY(f) snprintf(a->f, sizeof(a->f), "%s", ev->f ? ev->f : "")
	a->n++;
	COPY(action);
	COPY(component);
	COPY(version);
	COPY(result);
	COPY(reason);
	COPY(revisions);
#undef COPY
	return 0;
}

/* The number of rows and the last one. */
static struct audit audit(void)
{
	struct audit a = { 0 };

	cr_assert_eq(dfs_audit_each(fx.st, 0, take_row, &a), 0);
	return a;
}

/* Packaging comp as name fails with err, changes nothing and leaves one
 * audit row for version, refused, whose reason mentions why. */
static void expect_refused(const char *comp, const char *name, int err,
			   const char *version, const char *why)
{
	struct str before = list(pkgdir(comp));
	struct audit a0 = audit(), a1;
	uint64_t root = 0;
	int rc = mkpkg(comp, name, &root);

	cr_assert_eq(rc, err, "packaging %s: got %d (%s), want %d", name, rc,
		     strerror(-rc), err);
	cr_assert_str_eq(list(pkgdir(comp)).s, before.s,
			 "%s changed packages/%s", name, comp);
	a1 = audit();
	cr_assert_eq(a1.n, a0.n + 1, "%s: %d audit rows added", name,
		     a1.n - a0.n);
	cr_assert_str_eq(a1.action, "package");
	cr_assert_str_eq(a1.result, "refused");
	cr_assert_str_eq(a1.component, comp);
	cr_assert_str_eq(a1.version, version);
	cr_assert(strstr(a1.reason, why), "%s: reason \"%s\" lacks \"%s\"",
		  name, a1.reason, why);
}

/* ---- includes ------------------------------------------------------------ */

Test(package, an_include_becomes_a_folder_with_the_included_files)
{
	uint64_t p, root, inc;
	struct audit row;

	FIXTURE_OK();
	p = map_and_process();
	dfs_fixture_symlink(&fx, p, "m", "../../map/m");

	root = package("p", "p@1");
	cr_assert_str_eq(list(root).s, "m,process.xml");
	cr_assert_eq(dfs_fixture_entry(&fx, root, "process.xml").size,
		     strlen("<process/>"));
	expect_text(dfs_fixture_entry(&fx, root, "process.xml").ino,
		    "<process/>");
	inc = dfs_fixture_entry(&fx, root, "m").ino;
	cr_assert(S_ISDIR(dfs_fixture_entry(&fx, root, "m").mode),
		  "the include stayed a link");
	cr_assert_eq(dfs_fixture_entry(&fx, root, "m").nlink, 3);
	cr_assert_eq(dfs_fixture_entry(&fx, root, "m").flags,
		     DFS_NODE_IMMUTABLE);
	cr_assert_str_eq(list(inc).s, "map.xml,sub");
	expect_text(dfs_fixture_entry(&fx, inc, "map.xml").ino, "<map/>");
	expect_text(dfs_fixture_entry(&fx,
				      dfs_fixture_entry(&fx, inc, "sub").ino,
				      "deep.txt")
			    .ino,
		    "deep");

	cr_assert_str_eq(meta(root, "requires").s, "[]");
	cr_assert_str_eq(meta(root, "component").s, "p");
	cr_assert_str_eq(meta(root, "type").s, "process");
	cr_assert_str_eq(meta(root, "version").s, "1");
	cr_assert_eq(dfs_xattr_get(fx.st, inc, "user.deployfs.type", NULL, 0),
		     -ENODATA, "metadata on a node that is not a root");
	row = audit();
	cr_assert_eq(row.n, 1);
	cr_assert_str_eq(row.action, "package");
	cr_assert_str_eq(row.result, "ok");
	cr_assert_str_eq(row.component, "p");
	cr_assert_str_eq(row.version, "1");
	cr_assert_str_eq(row.revisions, meta(root, "revisions").s);
}

Test(package, a_link_is_an_include_only_when_it_names_a_component)
{
	static const struct {
		const char *name, *target;
		bool include;
	} links[] = {
		{ "slash", "../../map/m/", true },
		{ "dot", "./../../map/m", true },
		{ "updown", "../../map/../map/m", true },
		{ "file", "../../map/m/map.xml", false },
		{ "absolute", "/build/map/m", false },
		{ "missing", "../../map/nope", false },
		{ "typedir", "../../map", false },
		{ "outside", "../../../map/m", false },
		{ "sibling", "process.xml", false },
		{ "badtype", "../../maps/m", false },
	};
	uint64_t p, root, sub;

	FIXTURE_OK();
	p = map_and_process();
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		dfs_fixture_symlink(&fx, p, links[i].name, links[i].target);
	dfs_fixture_symlink(&fx, dfs_fixture_mkdir(&fx, p, "sub", 0755),
			    "nested", "../../../map/m");

	root = package("p", "p@1");
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		struct dfs_attr a = dfs_fixture_entry(&fx, root, links[i].name);

		if (!links[i].include) {
			expect_link(root, links[i].name, links[i].target);
			continue;
		}
		cr_assert(S_ISDIR(a.mode), "%s: mode %o", links[i].name,
			  a.mode);
		expect_text(dfs_fixture_entry(&fx, a.ino, "map.xml").ino,
			    "<map/>");
	}
	sub = dfs_fixture_entry(&fx, dfs_fixture_entry(&fx, root, "sub").ino,
				"nested")
		      .ino;
	expect_text(dfs_fixture_entry(&fx, sub, "map.xml").ino, "<map/>");
	cr_assert_str_eq(meta(root, "requires").s, "[]");
}

Test(package, includes_of_includes_expand_recursively)
{
	uint64_t a, b, p, root, ia;
	struct str revs;

	FIXTURE_OK();
	b = dfs_fixture_component(&fx, "script", "b");
	(void)dfs_fixture_put_text(&fx, b, "b.js", "normalize()");
	a = dfs_fixture_component(&fx, "map", "a");
	(void)dfs_fixture_put_text(&fx, a, "a.xml", "<map/>");
	dfs_fixture_symlink(&fx, a, "b", "../../script/b");
	p = dfs_fixture_component(&fx, "process", "p");
	dfs_fixture_symlink(&fx, p, "a", "../../map/a");

	root = package("p", "p@1");
	ia = dfs_fixture_entry(&fx, root, "a").ino;
	expect_text(dfs_fixture_entry(&fx, ia, "a.xml").ino, "<map/>");
	cr_assert(S_ISDIR(dfs_fixture_entry(&fx, ia, "b").mode),
		  "the nested include is a link");
	expect_text(dfs_fixture_entry(&fx, dfs_fixture_entry(&fx, ia, "b").ino,
				      "b.js")
			    .ino,
		    "normalize()");

	/* Every captured component is listed, each at its first revision. */
	revs = meta(root, "revisions");
	cr_assert(strstr(revs.s, "\"p\":1"), "%s", revs.s);
	cr_assert(strstr(revs.s, "\"a\":1"), "%s", revs.s);
	cr_assert(strstr(revs.s, "\"b\":1"), "%s", revs.s);
	cr_assert(revs.s[0] == '{' && strlen(revs.s) == 19, "%s", revs.s);
	cr_assert_eq(revision(b), 1);
}

Test(package, include_loops_are_refused_with_eloop)
{
	uint64_t a, b, m, p;

	FIXTURE_OK();
	/* map a includes script b includes map a */
	a = dfs_fixture_component(&fx, "map", "a");
	b = dfs_fixture_component(&fx, "script", "b");
	dfs_fixture_symlink(&fx, a, "b", "../../script/b");
	dfs_fixture_symlink(&fx, b, "a", "../../map/a");
	p = dfs_fixture_component(&fx, "process", "p");
	(void)dfs_fixture_put_text(&fx, p, "process.xml", "<process/>");
	dfs_fixture_symlink(&fx, p, "a", "../../map/a");
	expect_refused("p", "p@1", -ELOOP, "1", "include loop through map/a");

	/* map m includes itself */
	m = dfs_fixture_component(&fx, "map", "m");
	dfs_fixture_symlink(&fx, m, "again", "../../map/m");
	cr_assert_eq(dfs_node_unlink(fx.st, p, "a"), 0);
	dfs_fixture_symlink(&fx, p, "m", "../../map/m");
	expect_refused("p", "p@1", -ELOOP, "1", "include loop through map/m");
	cr_assert_str_eq(list(pkgdir("p")).s, "");

	/* Two includes of one component are not a loop. */
	cr_assert_eq(dfs_node_unlink(fx.st, m, "again"), 0);
	dfs_fixture_symlink(&fx, p, "m2", "../../map/m");
	cr_assert_str_eq(list(package("p", "p@1")).s, "m,m2,process.xml");
}

Test(package, independent_references_stay_symlinks_and_are_required)
{
	uint64_t c, p, root;

	FIXTURE_OK();
	c = dfs_fixture_component(&fx, "certificate", "c");
	(void)dfs_fixture_put_text(&fx, c, "cert.pem", "-----BEGIN-----");
	p = dfs_fixture_component(&fx, "process", "p");
	dfs_fixture_symlink(&fx, p, "cert", "../../certificate/c");
	dfs_fixture_symlink(&fx, p, "cert-again", "../../certificate/c/");

	root = package("p", "p@1");
	/* Shown leading to packages/c, the component's versions. */
	expect_link(root, "cert", "../../c");
	expect_link(root, "cert-again", "../../c/");
	cr_assert_str_eq(meta(root, "requires").s, "[\"certificate/c\"]");
	cr_assert_str_eq(meta(root, "revisions").s, "{\"p\":1}",
			 "a requirement was captured");
}

Test(package, a_linked_process_is_a_subprocess_and_is_included)
{
	uint64_t s, p, root, sub;
	struct str revs;

	FIXTURE_OK();
	s = dfs_fixture_component(&fx, "process", "s");
	(void)dfs_fixture_put_text(&fx, s, "s.xml", "<subprocess/>");
	p = dfs_fixture_component(&fx, "process", "p");
	(void)dfs_fixture_put_text(&fx, p, "process.xml", "<process/>");
	dfs_fixture_symlink(&fx, p, "sub", "../../process/s");

	root = package("p", "p@1");
	sub = dfs_fixture_entry(&fx, root, "sub").ino;
	cr_assert(S_ISDIR(dfs_fixture_entry(&fx, root, "sub").mode),
		  "the subprocess stayed a link");
	expect_text(dfs_fixture_entry(&fx, sub, "s.xml").ino, "<subprocess/>");
	cr_assert_str_eq(meta(root, "requires").s, "[]");
	revs = meta(root, "revisions");
	cr_assert(strstr(revs.s, "\"s\":1"), "%s", revs.s);
	/* The subprocess is still packaged on its own as well. */
	cr_assert_str_eq(list(package("s", "s@1")).s, "s.xml");
}

Test(package, a_loop_through_a_process_is_refused_with_eloop)
{
	uint64_t m, p;

	FIXTURE_OK();
	/* process p includes map m, which links back to process p */
	m = dfs_fixture_component(&fx, "map", "m");
	(void)dfs_fixture_put_text(&fx, m, "map.xml", "<map/>");
	dfs_fixture_symlink(&fx, m, "loop", "../../process/p");
	p = dfs_fixture_component(&fx, "process", "p");
	dfs_fixture_symlink(&fx, p, "m", "../../map/m");
	expect_refused("p", "p@1", -ELOOP, "1",
		       "include loop through process/p");
	cr_assert_str_eq(list(pkgdir("p")).s, "");
}

/* ---- depth -------------------------------------------------------------- */

/* depth folders "d" below dir, each one in the one before; the last. */
static uint64_t deep_folders(uint64_t dir, int depth)
{
	for (int i = 0; i < depth; i++)
		dir = dfs_fixture_mkdir(&fx, dir, "d", 0755);
	return dir;
}

Test(package, a_component_600_levels_deep_is_packaged_with_its_includes)
{
	char target[3 * 602 + 8];
	uint64_t p, bottom, node;
	size_t n = 0;

	FIXTURE_OK();
	p = map_and_process();
	bottom = deep_folders(p, 600);
	(void)dfs_fixture_put_text(&fx, bottom, "f", "bottom");
	/* An include from the bottom: up 602 levels to build/, then
	 * map/m. */
	for (int i = 0; i < 602; i++)
		n += (size_t)snprintf(target + n, sizeof(target) - n, "../");
	snprintf(target + n, sizeof(target) - n, "map/m");
	dfs_fixture_symlink(&fx, bottom, "m", target);

	node = package("p", "p@1");
	for (int i = 0; i < 600; i++)
		node = dfs_fixture_entry(&fx, node, "d").ino;
	expect_text(dfs_fixture_entry(&fx, node, "f").ino, "bottom");
	cr_assert(S_ISDIR(dfs_fixture_entry(&fx, node, "m").mode),
		  "a link to a component 600 levels down is not an include");
	expect_text(dfs_fixture_entry(&fx,
				      dfs_fixture_entry(&fx, node, "m").ino,
				      "map.xml")
			    .ino,
		    "<map/>");
}

Test(package, a_snapshot_deeper_than_path_max_allows_is_enametoolong)
{
	uint64_t p, m;

	FIXTURE_OK();
	/* 2048 levels (PATH_MAX / 2) fit; one more does not. */
	p = dfs_fixture_component(&fx, "process", "p");
	(void)dfs_fixture_put_text(&fx, deep_folders(p, 2048), "f", "x");
	cr_assert_str_eq(list(package("p", "p@1")).s, "d");
	m = dfs_fixture_component(&fx, "map", "m");
	(void)deep_folders(m, 2048);
	dfs_fixture_symlink(&fx, p, "m", "../../map/m");
	/* 1 + 2048 levels through the include. */
	expect_refused("p", "p@2", -ENAMETOOLONG, "2",
		       "deeper than 2048 levels");
}

/* ---- refusals no act records ------------------------------------------ */

Test(package, repeated_refusals_fold_into_a_count_kept_at_close)
{
	struct audit a0, a;
	struct dfs_attr at;
	uint64_t root;

	FIXTURE_OK();
	(void)map_and_process();
	root = package("p", "p@1");
	a0 = audit();
	/* Five refusals alike from one process: the first is recorded at
	 * once, the other four as one line when the store closes. */
	for (int i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "x%d", i);
		cr_assert_eq(
			dfs_node_mkdir(fx.st, &fx.me, root, name, 0755, &at),
			-EROFS);
	}
	a = audit();
	cr_assert_eq(a.n, a0.n + 1, "%d rows for 5 refusals alike", a.n - a0.n);
	cr_assert_str_eq(a.action, "mkdir");
	cr_assert_str_eq(a.result, "refused");
	cr_assert_str_eq(a.component, "p");
	cr_assert_str_eq(a.version, "1");
	cr_assert(strstr(a.reason, "Read-only file system: mkdir "
				   "packages/p/p@1/x0"),
		  "%s", a.reason);
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	a = audit();
	cr_assert_eq(a.n, a0.n + 2, "%d rows after closing", a.n - a0.n);
	cr_assert_str_eq(a.action, "mkdir");
	cr_assert_str_eq(a.component, "p");
	cr_assert(strstr(a.reason, "repeated 4 more times"), "%s", a.reason);
}

/* ---- revisions and hashes ------------------------------------------------ */

Test(package, the_revision_counts_changes_of_the_own_content)
{
	struct dfs_setattr sa = { .valid = DFS_SET_UID | DFS_SET_MTIME };
	uint64_t p, f, g;
	struct dfs_attr a;

	FIXTURE_OK();
	p = dfs_fixture_component(&fx, "process", "p");
	f = dfs_fixture_put_text(&fx, p, "process.xml", "v1");
	cr_assert_eq(revision(p), 1, "first read");
	cr_assert_eq(revision(p), 1, "nothing changed");
	cr_assert_str_eq(meta(package("p", "p@1"), "revisions").s, "{\"p\":1}");

	write_text(f, "v2");
	cr_assert_eq(revision(p), 2, "content changed");
	write_text(f, "v2");
	cr_assert_eq(revision(p), 2, "the same bytes written again");
	g = dfs_fixture_put_text(&fx, p, "extra.txt", "");
	cr_assert_eq(revision(p), 3, "file added");
	set_mode(g, 0600);
	cr_assert_eq(revision(p), 4, "permission bits are hashed");
	sa.uid = 4242;
	sa.mtime = (struct timespec){ 1500000000, 0 };
	cr_assert_eq(dfs_node_setattr(fx.st, f, &sa, &a), 0);
	cr_assert_eq(revision(p), 4, "owners and times are not hashed");
	cr_assert_eq(dfs_node_rename(fx.st, p, "extra.txt", p, "renamed", 0),
		     0);
	cr_assert_eq(revision(p), 5, "names are hashed");
	cr_assert_str_eq(meta(package("p", "p@2"), "revisions").s, "{\"p\":5}");
	cr_assert_eq(dfs_xattr_get(fx.st,
				   dfs_fixture_mkdir(&fx, p, "plain", 0755),
				   "user.deployfs.revision", NULL, 0),
		     -ENODATA, "a folder that is not a component");
}

/* Fails: walk_dir() hashes a folder's entries but never its mode. */
Test(package, a_folder_mode_change_changes_the_revision_and_hash)
{
	uint64_t p, sub, root;
	struct str h1;

	FIXTURE_OK();
	p = dfs_fixture_component(&fx, "process", "p");
	sub = dfs_fixture_mkdir(&fx, p, "sub", 0755);
	(void)dfs_fixture_put_text(&fx, sub, "f", "x");
	cr_assert_eq(revision(p), 1);
	h1 = meta(package("p", "p@1"), "content_hash");
	set_mode(sub, 0700);
	root = package("p", "p@2");
	cr_assert_eq(dfs_fixture_entry(&fx, root, "sub").mode, S_IFDIR | 0700);
	cr_expect_str_neq(h1.s, meta(root, "content_hash").s,
			  "snapshots with different folder modes "
			  "share a content_hash");
	cr_expect_eq(revision(p), 2,
		     "a folder's permission bits are not in the revision");
}

Test(package, an_included_change_bumps_its_revision_not_the_includer)
{
	uint64_t m, p, f, root;
	struct str r1, r2, h1;

	FIXTURE_OK();
	m = dfs_fixture_component(&fx, "map", "m");
	f = dfs_fixture_put_text(&fx, m, "map.xml", "v1");
	p = dfs_fixture_component(&fx, "process", "p");
	dfs_fixture_symlink(&fx, p, "m", "../../map/m");
	root = package("p", "p@1");
	r1 = meta(root, "revisions");
	h1 = meta(root, "content_hash");
	cr_assert(strstr(r1.s, "\"m\":1") && strstr(r1.s, "\"p\":1"), "%s",
		  r1.s);

	write_text(f, "v2");
	root = package("p", "p@2");
	r2 = meta(root, "revisions");
	cr_assert(strstr(r2.s, "\"m\":2") && strstr(r2.s, "\"p\":1"), "%s",
		  r2.s);
	cr_assert_str_neq(h1.s, meta(root, "content_hash").s,
			  "the included change is not in the hash");
	cr_assert_eq(revision(p), 1);
	cr_assert_eq(revision(m), 2);
}

Test(package, unchanged_content_has_an_unchanged_content_hash)
{
	uint64_t p, q, f;
	struct str h1;

	FIXTURE_OK();
	p = dfs_fixture_component(&fx, "process", "p");
	f = dfs_fixture_put_text(&fx, p, "process.xml", "same");
	(void)dfs_fixture_put_text(&fx, dfs_fixture_mkdir(&fx, p, "sub", 0755),
				   "x", "x");
	h1 = meta(package("p", "p@1"), "content_hash");
	cr_assert_eq(strlen(h1.s), 32, "%s", h1.s);
	cr_assert_str_eq(meta(package("p", "p@2"), "content_hash").s, h1.s);

	write_text(f, "different");
	cr_assert_str_neq(meta(package("p", "p@3"), "content_hash").s, h1.s);
	write_text(f, "same");
	cr_assert_str_eq(meta(package("p", "p@4"), "content_hash").s, h1.s,
			 "changed back, the hash did not come back");

	/* Identical content under another name: identical hash. */
	q = dfs_fixture_component(&fx, "process", "q");
	(void)dfs_fixture_put_text(&fx, q, "process.xml", "same");
	(void)dfs_fixture_put_text(&fx, dfs_fixture_mkdir(&fx, q, "sub", 0755),
				   "x", "x");
	cr_assert_str_eq(meta(package("q", "q@1"), "content_hash").s, h1.s);
}

/* ---- refusals ------------------------------------------------------------ */

Test(package, malformed_package_names_are_refused_with_einval)
{
	static const char *const bad[] = {
		"p",
		"p@",
		"@1",
		"p@1@2",
		"q@1",
		"P@1",
		"pp@1",
		"p@.1",
		"p@-1",
		"p@1 2",
		"p@1/2",
		"p @1",
		"p@caf\xc3\xa9",
	};
	char name[80];

	FIXTURE_OK();
	(void)dfs_fixture_component(&fx, "process", "p");
	(void)dfs_fixture_component(&fx, "process", "q");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused("p", bad[i], -EINVAL, bad[i], "VERSION");
	memset(name, '1', sizeof(name));
	memcpy(name, "p@", 2);
	name[2 + DFS_LABEL_MAX + 1] = '\0';
	expect_refused("p", name, -EINVAL, name, "VERSION");
	name[2 + DFS_LABEL_MAX] = '\0';
	(void)package("p", name);
	cr_assert_eq(audit().n, 14 + 1);
}

Test(package, included_only_types_cannot_be_packaged)
{
	struct names want = { .max = 0 };
	int refused = 0;

	FIXTURE_OK();
	for (size_t i = 0; i < dfs_type_count(); i++) {
		const struct dfs_type *t = dfs_type_at(i);
		char comp[40], name[48];
		struct dfs_dirent de = { .name = comp };

		snprintf(comp, sizeof(comp), "%s-c", t->name);
		snprintf(name, sizeof(name), "%s@1", comp);
		(void)dfs_fixture_component(&fx, t->name, comp);
		if (!t->deployable) {
			expect_refused(comp, name, -EPERM, "1",
				       "included-only");
			refused++;
			continue;
		}
		(void)package(comp, name);
		(void)add_name(&want, &de);
	}
	cr_assert_eq(refused, 5);
	/* packages/ lists the deployable components only. */
	cr_assert_str_eq(list(DFS_INO_PACKAGES).s, want.l.s);
}

Test(package, an_existing_version_is_refused_with_eexist)
{
	uint64_t p, root;
	struct str h;

	FIXTURE_OK();
	p = dfs_fixture_component(&fx, "process", "p");
	(void)dfs_fixture_put_text(&fx, p, "process.xml", "v1");
	root = package("p", "p@1");
	h = meta(root, "content_hash");
	(void)dfs_fixture_put_text(&fx, p, "new.xml", "changed since");
	expect_refused("p", "p@1", -EEXIST, "1", "exists");
	cr_assert_str_eq(list(pkgdir("p")).s, "latest,p@1");
	cr_assert_eq(dfs_fixture_entry(&fx, pkgdir("p"), "p@1").ino, root);
	cr_assert_str_eq(list(root).s, "process.xml");
	cr_assert_str_eq(meta(root, "content_hash").s, h.s);
}

/*
 * The second half may pass by chance: dfs_pkg_create_locked() hands
 * refuse() the name of a component it failed to load (uninitialised
 * stack memory; valgrind reports it).
 */
Test(package, packaging_a_component_that_left_build_is_enoent)
{
	struct audit a0, a1;
	struct dfs_attr t, a;
	uint64_t dir;
	int rc;

	FIXTURE_OK();
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_BUILD, "process", &t), 0);
	(void)dfs_fixture_component(&fx, "process", "p");
	(void)package("p", "p@1");
	dir = pkgdir("p");
	cr_assert_eq(dfs_node_rmdir(fx.st, &fx.me, t.ino, "p"), 0);
	cr_assert_eq(pkgdir("p"), dir, "packages/p went with build/process/p");
	expect_refused("p", "p@2", -ENOENT, "2", "gone");

	/* Never packaged: the component is forgotten. */
	(void)dfs_fixture_component(&fx, "process", "x");
	dir = pkgdir("x");
	cr_assert_eq(dfs_node_rmdir(fx.st, &fx.me, t.ino, "x"), 0);
	a0 = audit();
	rc = dfs_node_mkdir(fx.st, &fx.me, dir, "x@1", 0755, &a);
	cr_assert_eq(rc, -ENOENT, "got %d", rc);
	a1 = audit();
	cr_assert(a1.n == a0.n || (a1.n == a0.n + 1 && !a1.component[0]),
		  "audit row for a component that is not there: \"%.40s\"",
		  a1.component);
}

/* ---- reading, lifetime --------------------------------------------------- */

/* Fails under UBSan (meson test --setup sanitize, with b_sanitize):
 * list_versions() hands qsort() a NULL array when there are no versions. */
Test(package, a_component_without_packages_has_an_empty_folder)
{
	FIXTURE_OK();
	(void)dfs_fixture_component(&fx, "process", "p");
	cr_assert_str_eq(list(pkgdir("p")).s, "");
	cr_assert_eq(dfs_fixture_entry(&fx, DFS_INO_PACKAGES, "p").nlink, 2);
}

/* Fails: list_versions() uses positions in the sorted list as offsets. */
Test(package, version_offsets_are_stable_while_versions_come_and_go)
{
	struct names first;
	uint64_t dir;

	FIXTURE_OK();
	(void)dfs_fixture_component(&fx, "process", "p");
	(void)package("p", "p@1");
	(void)package("p", "p@2");
	(void)package("p", "p@3");
	dir = pkgdir("p");
	cr_assert_str_eq(list(dir).s, "latest,p@1,p@2,p@3");
	first = list_from(dir, 0, 2);
	cr_assert_str_eq(first.l.s, "latest,p@1");
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, dir, "user.deployfs.remove",
				   "1", 1, 0),
		     0);
	cr_expect_str_eq(list_from(dir, first.off, 0).l.s, "p@2,p@3",
			 "a version was skipped");
	(void)package("p", "p@0");
	cr_expect_str_eq(list_from(dir, first.off, 0).l.s, "p@2,p@3",
			 "a version came twice");
}

Test(package, a_package_survives_close_and_reopen)
{
	uint64_t p, root, dir, inc, f, sub;
	struct str h, r;

	FIXTURE_OK();
	p = map_and_process();
	(void)dfs_fixture_put_text(&fx, dfs_fixture_mkdir(&fx, p, "sub", 0755),
				   "f", "kept");
	dfs_fixture_symlink(&fx, p, "m", "../../map/m");
	root = package("p", "p@1");
	dir = pkgdir("p");
	inc = dfs_fixture_entry(&fx, root, "m").ino;
	sub = dfs_fixture_entry(&fx, root, "sub").ino;
	f = dfs_fixture_entry(&fx, sub, "f").ino;
	h = meta(root, "content_hash");
	r = meta(root, "revisions");

	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);

	cr_assert_eq(pkgdir("p"), dir);
	cr_assert_eq(dfs_fixture_entry(&fx, dir, "p@1").ino, root);
	cr_assert_eq(dfs_fixture_entry(&fx, root, "m").ino, inc);
	cr_assert_eq(dfs_fixture_entry(&fx, root, "sub").ino, sub);
	cr_assert_eq(dfs_fixture_entry(&fx, sub, "f").ino, f);
	expect_text(f, "kept");
	expect_text(dfs_fixture_entry(&fx, inc, "map.xml").ino, "<map/>");
	cr_assert_str_eq(meta(root, "content_hash").s, h.s);
	cr_assert_str_eq(meta(root, "revisions").s, r.s);
	cr_assert_str_eq(list(dir).s, "latest,p@1");
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
}

static int nblobs;

static int count_one(const char *path, const struct stat *sb, int type,
		     struct FTW *ftw)
{
	nblobs += type == FTW_F;
	return 0;
}

static int count_blobs(void)
{
	char dir[160];

	snprintf(dir, sizeof(dir), "%s/blobs", fx.path);
	nblobs = 0;
	cr_assert_eq(nftw(dir, count_one, 16, FTW_PHYS), 0);
	return nblobs;
}

Test(package, removing_a_package_is_soft_and_restore_undoes_it)
{
	/* Large enough to be blob files of their own. */
	static char shared_text[70000], own_text[70000];
	struct dfs_hash shared, own;
	struct dfs_attr a;
	uint64_t p, f, dir;
	char buf[64];
	int n, fd;

	FIXTURE_OK();
	memset(shared_text, 's', sizeof(shared_text) - 1);
	memset(own_text, 'o', sizeof(own_text) - 1);
	p = dfs_fixture_component(&fx, "process", "p");
	f = dfs_fixture_put_text(&fx, p, "shared.xml", shared_text);
	cr_assert_eq(dfs_node_content_hash(fx.st, f, &shared), 0);
	f = dfs_fixture_put_text(&fx, p, "own.xml", own_text);
	cr_assert_eq(dfs_node_content_hash(fx.st, f, &own), 0);
	(void)package("p", "p@1");
	(void)package("p", "p@2");
	write_text(f, "now in build");
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	n = count_blobs();
	dir = pkgdir("p");

	/* rmdir removes no package: ENOTEMPTY, as POSIX says. */
	cr_assert_eq(dfs_node_rmdir(fx.st, &fx.me, dir, "p@2"), -ENOTEMPTY);
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, dir, "user.deployfs.remove",
				   "2", 1, 0),
		     0);
	cr_assert_eq(dfs_node_lookup(fx.st, dir, "p@2", &a), -ENOENT);
	cr_assert_eq(dfs_node_readlink(
			     fx.st, dfs_fixture_entry(&fx, dir, "latest").ino,
			     buf, sizeof(buf)),
		     3);
	cr_assert_str_eq(buf, "p@1");
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, dir, "user.deployfs.remove",
				   "1", 1, 0),
		     0);
	cr_assert_str_eq(list(dir).s, "");
	cr_assert_eq(audit().n, 5); /* with rmdir's refusal */
	cr_assert_str_eq(audit().action, "package-remove");
	cr_assert_str_eq(audit().result, "ok");
	cr_assert_str_eq(audit().version, "1");
	/* Its space stays until it is reclaimed: nothing is lost. */
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(count_blobs(), n, "a removed package's blob went");
	fd = dfs_blob_open(fx.st, &own);
	cr_assert_geq(fd, 0, "a removed package's blob went");
	close(fd);
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
	/* Its version is not made again while it can be restored. */
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, dir, "p@1", 0755, &a),
		     -EEXIST);
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, dir, "user.deployfs.remove",
				   "1", 1, 0),
		     -ENOENT);
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, dir, "user.deployfs.restore",
				   "1", 1, 0),
		     0);
	cr_assert_str_eq(audit().action, "package-restore");
	cr_assert_str_eq(list(dir).s, "latest,p@1");
	cr_assert_eq(dfs_fixture_entry(&fx,
				       dfs_fixture_entry(&fx, dir, "p@1").ino,
				       "own.xml")
			     .size,
		     strlen(own_text));
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, dir, "user.deployfs.restore",
				   "1", 1, 0),
		     -EEXIST);
	expect_text(f, "now in build");
}

Test(package, a_file_open_for_writing_is_captured_as_last_saved)
{
	static const char unsaved[] = "bytes not yet saved";
	struct dfs_file *w = NULL, *fresh = NULL;
	uint64_t p, f, root;
	struct dfs_attr n;

	FIXTURE_OK();
	p = dfs_fixture_component(&fx, "process", "p");
	f = dfs_fixture_put_text(&fx, p, "process.xml", "saved");
	cr_assert_eq(dfs_node_mknod(fx.st, &fx.me, p, "new.xml", S_IFREG | 0644,
				    0, &n),
		     0);
	cr_assert_eq(dfs_file_open(fx.st, n.ino, O_WRONLY, &fresh), 0);
	cr_assert_eq(pwrite(dfs_file_fd_get(fresh), "new", 3, 0), 3);
	dfs_file_fd_put(fx.st, fresh, true, 3);
	cr_assert_eq(dfs_file_open(fx.st, f, O_WRONLY | O_TRUNC, &w), 0);
	cr_assert_eq(pwrite(dfs_file_fd_get(w), unsaved, strlen(unsaved), 0),
		     (ssize_t)strlen(unsaved));
	dfs_file_fd_put(fx.st, w, true, strlen(unsaved));

	root = package("p", "p@1");
	cr_assert_eq(dfs_fixture_entry(&fx, root, "process.xml").size, 5);
	expect_text(dfs_fixture_entry(&fx, root, "process.xml").ino, "saved");
	cr_assert_eq(dfs_fixture_entry(&fx, root, "new.xml").size, 0);
	expect_text(dfs_fixture_entry(&fx, root, "new.xml").ino, "");

	cr_assert_eq(dfs_file_release(fx.st, w), 0);
	cr_assert_eq(dfs_file_release(fx.st, fresh), 0);
	root = package("p", "p@2");
	expect_text(dfs_fixture_entry(&fx, root, "process.xml").ino, unsaved);
	expect_text(dfs_fixture_entry(&fx, root, "new.xml").ino, "new");
	root = dfs_fixture_entry(&fx, pkgdir("p"), "p@1").ino;
	expect_text(dfs_fixture_entry(&fx, root, "process.xml").ino, "saved");
}

/* The references counted in the row of the blob file ino names. */
static int blob_refs(uint64_t ino)
{
	static const char q[] = "SELECT b.refs FROM blobs b JOIN inodes i"
				" ON i.blob = b.hash WHERE i.ino = ?1";
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;
	int v;

	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READONLY, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)ino);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "no blob row for %llu",
		     (unsigned long long)ino);
	v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/*
 * A snapshot counts each node row it writes in the row of the blob it
 * names, once (schema 9 counts them after the nodes, not by a trigger per
 * node): what keeps the blob from being reclaimed while a package names
 * it.  A row an unchanged entry shares with the last snapshot (schema 11)
 * is not counted again.
 */
Test(package, a_snapshot_counts_each_node_in_its_blob)
{
	uint64_t p, same1, same2, other, sub;

	FIXTURE_OK();
	p = dfs_fixture_component(&fx, "process", "p");
	same1 = dfs_fixture_put_text(&fx, p, "a.xml", "<same/>");
	sub = dfs_fixture_mkdir(&fx, p, "sub", 0755);
	same2 = dfs_fixture_put_text(&fx, sub, "b.xml", "<same/>");
	other = dfs_fixture_put_text(&fx, p, "c.xml", "<other/>");
	cr_assert_eq(blob_refs(same1), 2, "two files");
	cr_assert_eq(blob_refs(other), 1);
	(void)package("p", "p@1");
	cr_expect_eq(blob_refs(same2), 4, "two files, two nodes of p@1");
	cr_expect_eq(blob_refs(other), 2);
	(void)package("p", "p@2");
	cr_expect_eq(blob_refs(same1), 4, "p@2 shares p@1's rows");
	cr_expect_eq(blob_refs(other), 2);
	write_text(same1, "<changed/>");
	(void)package("p", "p@3");
	cr_expect_eq(blob_refs(same2), 3, "b.xml, its row, a.xml's old row");
	cr_expect_eq(blob_refs(same1), 2, "a.xml and its new row");
	/* A refused package counts nothing. */
	cr_assert_eq(mkpkg("p", "p@2", &(uint64_t){ 0 }), -EEXIST);
	cr_expect_eq(blob_refs(other), 2);
}
