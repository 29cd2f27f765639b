// SPDX-License-Identifier: MIT
/*
 * root.c - the root of the mount: build/, packages/, environments/ and
 * audit.log, each shown with its own tree's attributes.  Nothing at the
 * root can be created, removed, renamed or changed (EROFS).
 */
#include <errno.h>

#include "trees.h"

/* The attributes of ino, one of the root's entries (st->lock held). */
static int child_attr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	switch (ino) {
	case DFS_INO_PACKAGES:
		return dfs_packages_attr_locked(st, ino, ret);
	case DFS_INO_ENVIRONMENTS:
		return dfs_envs_attr_locked(st, ino, ret);
	case DFS_INO_AUDIT:
		return dfs_auditlog_attr_locked(st, ret);
	default:
		return dfs_build_attr_locked(st, ino, ret);
	}
}

static int root_lookup(struct dfs_store *st, uint64_t parent, const char *name,
		       struct dfs_attr *ret)
{
	struct dfs_attr a;
	int rc;

	rc = dfs_inode_attr_at(st, parent, name, &a);
	if (rc == 0)
		rc = child_attr(st, a.ino, ret);
	return rc;
}

static int root_getattr(struct dfs_store *st, uint64_t ino,
			struct dfs_attr *ret)
{
	return dfs_inode_attr(st, ino, ret);
}

struct listing {
	struct dfs_store *st;
	dfs_readdir_fn fn;
	void *ctx;
	bool hold;
};

static int root_entry(void *ctx, const char *name, uint64_t off,
		      const struct dfs_irow *r)
{
	struct listing *l = ctx;
	struct dfs_attr a;

	if (child_attr(l->st, r->a.ino, &a) < 0)
		return 0;
	return dfs_emit(l->st, l->fn, l->ctx, l->hold, name, off, &a);
}

static int root_readdir(struct dfs_store *st, uint64_t ino, uint64_t off,
			bool hold, dfs_readdir_fn fn, void *ctx)
{
	struct listing l = { st, fn, ctx, hold };
	int rc;

	rc = dfs_inode_readdir(st, ino, off, root_entry, &l);
	return rc;
}

static int root_setattr(struct dfs_store *st, const struct dfs_actor *actor,
			uint64_t ino, const struct dfs_setattr *sa,
			struct dfs_attr *ret)
{
	return -EROFS;
}

/* The root is "", so that its entries are named by their names alone. */
static void root_describe(struct dfs_store *st, uint64_t ino,
			  struct dfs_where *ret)
{
	ret->path[0] = '\0';
}

const struct dfs_tree_ops dfs_root_tree = {
	.name = "root",
	.none = -EROFS,
	.describe = root_describe,
	.lookup = root_lookup,
	.getattr = root_getattr,
	.readdir = root_readdir,
	.setattr = root_setattr,
};
