// SPDX-License-Identifier: MIT
/*
 * test_xfer.c - unit tests of packages that travel between stores
 * (store/model/pkgexport.c, pkgimport.c, trees/import.c): a package read
 * whole with dfs_pkg_export() and staged as deployctl import stages it
 * is made in a second store with the same content hash and metadata;
 * again, nothing is done; a staged tree that does not hash to its stated
 * hash is EBADMSG with nothing made; the same version with another hash
 * is EEXIST; a caller who is not root, a relative or missing folder are
 * refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deployfs/store.h"
#include "fixture.h"

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)

static struct dfs_fixture fx;
static struct dfs_store *dst; /* the second store */
static char dpath[128], stage[128];

static void setup(void)
{
	dfs_fixture_setup(&fx, "xfer", OPEN_FLAGS);
	snprintf(dpath, sizeof(dpath), "%s/dest", fx.tmp);
	snprintf(stage, sizeof(stage), "%s/stage", fx.tmp);
	if (fx.rc == 0)
		fx.rc = dfs_store_create(dpath);
	if (fx.rc == 0)
		fx.rc = dfs_store_open(dpath, OPEN_FLAGS, &dst);
}

static void teardown(void)
{
	dst = dfs_store_free(dst);
	dfs_fixture_teardown(&fx);
}

TestSuite(xfer, .init = setup, .fini = teardown, .timeout = 60);

struct staging {
	const char *hash; /* NULL: the package's own */
};

static void put_meta(const struct dfs_pkg_record *p, const char *hash)
{
	char path[160], own[DFS_HASH_HEX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/meta", stage);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	dfs_hash_hex(&p->content_hash, own);
	fprintf(f, "component=%s%ctype=%s%cversion=%s%chash=%s%c", p->component,
		0, p->type, 0, p->version, 0, hash ? hash : own, 0);
	fprintf(f, "created_by=%s%ccreated=%lld%crevisions=%s%crequires=%s%c",
		p->created_by, 0, (long long)p->created, 0, p->revisions, 0,
		p->requires, 0);
	fprintf(f, "notes=%s%corigin=unit%c", p->notes ? p->notes : "", 0, 0);
	cr_assert_eq(fclose(f), 0);
}

/* Each node of the package into stage/tree, as deployctl import does. */
static int stage_node(void *ctx, const struct dfs_pkg_record *p,
		      const struct dfs_pkg_node *n)
{
	const struct staging *s = ctx;
	char path[PATH_MAX], buf[4096];
	ssize_t got;
	int in, out;

	snprintf(path, sizeof(path), "%s/tree%s%s", stage,
		 n->path[0] ? "/" : "", n->path);
	if (!n->path[0])
		put_meta(p, s->hash);
	if (S_ISDIR(n->mode)) {
		/* chmod: the umask does not take bits off. */
		cr_assert_eq(mkdir(path, 0700), 0, "%s", path);
		cr_assert_eq(chmod(path, n->mode & 07777), 0, "%s", path);
	} else if (S_ISLNK(n->mode)) {
		cr_assert_eq(symlink(n->target, path), 0, "%s", path);
	} else {
		cr_assert_eq(dfs_pkg_blob_open(fx.st, &n->blob, n->size, &in),
			     0);
		out = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		cr_assert_geq(out, 0, "%s", path);
		cr_assert_eq(fchmod(out, n->mode & 07777), 0);
		/* pread: the fd's offset is not promised. */
		for (off_t at = 0; (got = pread(in, buf, sizeof(buf), at)) > 0;
		     at += got)
			cr_assert_eq(write(out, buf, (size_t)got), got);
		close(in);
		close(out);
	}
	return 0;
}

/* build/process/p {process.xml, sub/deep.txt, link -> sub}, packaged as
 * p@1 with notes, staged (with hash, NULL: its own). */
static void make_and_stage(const char *hash)
{
	struct staging s = { .hash = hash };
	uint64_t p = dfs_fixture_component(&fx, "process", "p"), sub;
	struct dfs_attr a, dir;

	(void)dfs_fixture_put_text(&fx, p, "process.xml", "<process/>");
	sub = dfs_fixture_mkdir(&fx, p, "sub", 0750);
	(void)dfs_fixture_put_text(&fx, sub, "deep.txt", "deep");
	dfs_fixture_symlink(&fx, p, "link", "sub");
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_PACKAGES, "p", &dir), 0);
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, dir.ino, "p@1", 0755, &a),
		     0);
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, a.ino, "user.deployfs.notes",
				   "n1", 2, 0),
		     0);
	cr_assert_eq(mkdir(stage, 0700), 0);
	cr_assert_eq(dfs_pkg_export(fx.st, "p", "1", stage_node, &s), 0);
}

static int import_as(uint32_t uid, const char *folder)
{
	struct dfs_actor a = fx.me;

	a.uid = uid;
	return dfs_xattr_set(dst, &a, DFS_INO_PACKAGES, "user.deployfs.import",
			     folder, strlen(folder), 0);
}

static char *meta(struct dfs_store *st, const char *key, char *buf, size_t cap)
{
	struct dfs_attr dir, a;
	char name[64];
	int n;

	cr_assert_eq(dfs_node_lookup(st, DFS_INO_PACKAGES, "p", &dir), 0);
	cr_assert_eq(dfs_node_lookup(st, dir.ino, "p@1", &a), 0);
	snprintf(name, sizeof(name), "user.deployfs.%s", key);
	n = dfs_xattr_get(st, a.ino, name, buf, cap - 1);
	cr_assert_geq(n, 0, "%s", name);
	buf[n] = '\0';
	return buf;
}

Test(xfer, a_staged_package_is_made_with_its_hash_and_metadata)
{
	char a[512], b[512];
	int n;

	FIXTURE_OK();
	make_and_stage(NULL);
	n = import_as(0, stage);
	if (n < 0) {
		int k = dfs_xattr_get(dst, DFS_INO_PACKAGES,
				      "user.deployfs.import_result", a,
				      sizeof(a) - 1);

		a[k > 0 ? k : 0] = '\0';
	}
	cr_assert_eq(n, 0, "%s: %s", strerror(-n), a);
	cr_assert_str_eq(meta(dst, "content_hash", a, sizeof(a)),
			 meta(fx.st, "content_hash", b, sizeof(b)));
	for (const char *k = "notes\0created\0created_by\0revisions\0"
			     "requires\0type\0";
	     *k; k += strlen(k) + 1)
		cr_assert_str_eq(meta(dst, k, a, sizeof(a)),
				 meta(fx.st, k, b, sizeof(b)), "%s", k);
	/* Again: nothing to do, and it says so. */
	cr_assert_eq(import_as(0, stage), 0);
	n = dfs_xattr_get(dst, DFS_INO_PACKAGES, "user.deployfs.import_result",
			  a, sizeof(a) - 1);
	cr_assert_geq(n, 0);
	a[n] = '\0';
	cr_assert_str_eq(a, "unchanged");
}

Test(xfer, a_tree_that_does_not_hash_to_its_hash_is_EBADMSG_nothing_made)
{
	struct dfs_attr a;

	FIXTURE_OK();
	make_and_stage("00000000000000000000000000000000");
	cr_assert_eq(import_as(0, stage), -EBADMSG);
	cr_assert_eq(dfs_node_lookup(dst, DFS_INO_PACKAGES, "p", &a), -ENOENT);
}

Test(xfer, the_same_version_with_another_hash_is_EEXIST)
{
	char before[64], after[64];
	uint64_t p;
	struct dfs_attr dir, a;

	FIXTURE_OK();
	make_and_stage(NULL);
	/* dest: its own p@1, of other content. */
	cr_assert_eq(dfs_node_lookup(dst, DFS_INO_BUILD, "process", &dir), 0);
	cr_assert_eq(dfs_node_mkdir(dst, &fx.me, dir.ino, "p", 0755, &a), 0);
	p = a.ino;
	cr_assert_eq(
		dfs_node_mknod(dst, &fx.me, p, "other", S_IFREG | 0644, 0, &a),
		0);
	cr_assert_eq(dfs_node_lookup(dst, DFS_INO_PACKAGES, "p", &dir), 0);
	cr_assert_eq(dfs_node_mkdir(dst, &fx.me, dir.ino, "p@1", 0755, &a), 0);
	meta(dst, "content_hash", before, sizeof(before));
	cr_assert_eq(import_as(0, stage), -EEXIST);
	cr_assert_str_eq(meta(dst, "content_hash", after, sizeof(after)),
			 before);
}

Test(xfer, importing_needs_root_and_an_absolute_staged_folder)
{
	struct dfs_attr a;
	char missing[160];

	FIXTURE_OK();
	make_and_stage(NULL);
	cr_assert_eq(import_as(1000, stage), -EPERM);
	cr_assert_eq(import_as(0, "stage"), -EINVAL);
	snprintf(missing, sizeof(missing), "%s/none", fx.tmp);
	cr_assert_eq(import_as(0, missing), -ENOENT);
	cr_assert_eq(dfs_node_lookup(dst, DFS_INO_PACKAGES, "p", &a), -ENOENT);
}
