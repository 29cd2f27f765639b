// SPDX-License-Identifier: MIT
/*
 * build.c - build/: the read-write workspace, a POSIX tree kept in the
 * store's rows (model/inode.c) with the content of open files laid over
 * them (content/).  Each call is one transaction under st->lock; creating
 * a file and setting attributes join the group commit (see txn.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "trees.h"

int dfs_build_attr_locked(struct dfs_store *st, uint64_t ino,
			  struct dfs_attr *ret)
{
	struct dfs_irow r;
	int rc = dfs_inode_get(st, ino, &r);

	if (rc < 0)
		return rc;
	dfs_content_overlay(st, &r.a, r.work);
	*ret = r.a;
	return 0;
}

static int build_lookup(struct dfs_store *st, uint64_t parent, const char *name,
			struct dfs_attr *ret)
{
	struct dfs_irow r;
	int rc;

	rc = dfs_inode_lookup(st, parent, name, &r);
	if (rc == 0) {
		dfs_content_overlay(st, &r.a, r.work);
		*ret = r.a;
	}
	return rc;
}

struct listing {
	struct dfs_store *st;
	dfs_readdir_fn fn;
	void *ctx;
	bool hold;
};

static int build_entry(void *ctx, const char *name, uint64_t off,
		       const struct dfs_irow *r)
{
	struct listing *l = ctx;
	struct dfs_attr a = r->a;

	dfs_content_overlay(l->st, &a, r->work);
	return dfs_emit(l->st, l->fn, l->ctx, l->hold, name, off, &a);
}

static int build_readdir(struct dfs_store *st, uint64_t ino, uint64_t off,
			 bool hold, dfs_readdir_fn fn, void *ctx)
{
	struct listing l = { st, fn, ctx, hold };
	struct dfs_attr dir;
	int rc;

	rc = dfs_inode_attr(st, ino, &dir);
	if (rc == 0 && !S_ISDIR(dir.mode))
		rc = -ENOTDIR;
	if (rc == 0)
		rc = dfs_inode_readdir(st, ino, off, build_entry, &l);
	return rc;
}

/*
 * A folder directly in a type folder is a component: a name that cannot
 * be one is EINVAL, and recorded (build/'s other answers are POSIX's and
 * not audit events), so it is never silently just a folder.
 */
static int refuse_name(struct dfs_store *st, const struct dfs_actor *actor,
		       const char *op, uint64_t parent, const char *name,
		       int rc)
{
	char why[DFS_NAME_MAX + 160];
	struct dfs_attr dir;

	if (rc != -EINVAL || name[0] == '.' || dfs_name_valid(name) ||
	    dfs_inode_attr(st, parent, &dir) < 0 ||
	    !(dir.flags & DFS_NODE_TYPEDIR))
		return rc;
	snprintf(why, sizeof(why),
		 "\"%s\" is not a component name (1-64 of A-Z a-z 0-9 . _ -, "
		 "starting with a letter or digit)",
		 name);
	dfs_audit_refuse(st, actor, op, NULL, NULL, NULL, rc, why);
	return rc;
}

static int build_create(struct dfs_store *st, const struct dfs_actor *actor,
			uint64_t parent, const char *name, uint32_t mode,
			uint64_t rdev, const char *target, struct dfs_attr *ret)
{
	uint64_t ino = 0;
	int rc;

	/* A full disk keeps its last room for what frees space. */
	if (S_ISREG(mode) && dfs_reserve_spent(st))
		return -ENOSPC;
	rc = S_ISREG(mode) ? dfs_db_begin_lazy(st, 0) : dfs_db_begin(st);
	if (rc == 0) {
		rc = dfs_inode_create(st, actor, parent, name, mode, rdev,
				      target, &ino);
		/* Its close (create opens it) learns if the commit fails. */
		dfs_db_lazy_ino(st, ino);
		rc = dfs_finish(st, rc);
	}
	if (S_ISDIR(mode))
		rc = refuse_name(st, actor, "mkdir", parent, name, rc);
	if (rc == 0)
		dfs_pkgdir_of_changed(st, parent);
	if (rc == 0)
		rc = dfs_build_attr_locked(st, ino, ret);
	return rc;
}

static int build_link(struct dfs_store *st, uint64_t ino, uint64_t newparent,
		      const char *newname, struct dfs_attr *ret)
{
	int rc;

	rc = dfs_db_begin(st);
	if (rc == 0)
		rc = dfs_finish(st,
				dfs_inode_link(st, ino, newparent, newname));
	if (rc == 0)
		dfs_pkgdir_of_changed(st, newparent);
	if (rc == 0)
		rc = dfs_build_attr_locked(st, ino, ret);
	return rc;
}

/* rc of a change that may have unlinked a node: drop it if unheld. */
static int drop_orphan(struct dfs_store *st, int rc, uint64_t orphan)
{
	if (rc == 0 && orphan)
		rc = dfs_content_drop(st, orphan);
	return rc;
}

static int build_remove(struct dfs_store *st, const struct dfs_actor *actor,
			uint64_t parent, const char *name, bool dir)
{
	uint64_t orphan = 0;
	int rc;

	rc = dfs_db_begin(st);
	if (rc == 0) {
		rc = dfs_inode_remove(st, parent, name, dir, &orphan);
		rc = dfs_finish(st, drop_orphan(st, rc, orphan));
	}
	if (rc == 0)
		dfs_pkgdir_of_changed(st, parent);
	return rc;
}

static int build_rename(struct dfs_store *st, const struct dfs_actor *actor,
			uint64_t parent, const char *name, uint64_t newparent,
			const char *newname, unsigned flags)
{
	uint64_t orphan = 0;
	int rc;

	rc = dfs_db_begin(st);
	if (rc == 0) {
		rc = dfs_inode_rename(st, parent, name, newparent, newname,
				      flags, &orphan);
		rc = dfs_finish(st, drop_orphan(st, rc, orphan));
	}
	if (rc == 0) {
		dfs_pkgdir_of_changed(st, parent);
		dfs_pkgdir_of_changed(st, newparent);
	}
	return refuse_name(st, actor, "rename", newparent, newname, rc);
}

static int setattr_in(struct dfs_store *st, uint64_t ino,
		      const struct dfs_setattr *sa)
{
	int64_t now = dfs_now_ns();
	struct dfs_attr a;
	int rc = dfs_inode_attr(st, ino, &a);

	if (rc < 0)
		return rc;
	if (a.flags & DFS_NODE_READONLY)
		return -EROFS;
	rc = dfs_content_persist_times(st, ino);
	if (rc == 0)
		rc = dfs_inode_set_ids(st, &a, sa);
	if (rc == 0 && (sa->valid & DFS_SET_SIZE)) {
		if (S_ISDIR(a.mode))
			return -EISDIR;
		if (!S_ISREG(a.mode))
			return -EINVAL;
		rc = dfs_content_truncate(st, ino, sa->size);
	}
	if (rc == 0)
		rc = dfs_inode_set_times_as(st, ino, sa, now);
	return rc;
}

static int build_setattr(struct dfs_store *st, const struct dfs_actor *actor,
			 uint64_t ino, const struct dfs_setattr *sa,
			 struct dfs_attr *ret)
{
	struct dfs_oinode *oi = NULL;
	int rc;

	/* A truncate waits for a seal in progress before the transaction:
	 * waiting lets go of st->lock, and the sealer needs the connection. */
	if (sa->valid & DFS_SET_SIZE)
		oi = dfs_content_pin(st, ino);
	rc = dfs_build_begin_for(st, ino);
	if (rc == 0)
		rc = dfs_finish(st, setattr_in(st, ino, sa));
	if (rc == 0)
		rc = dfs_build_attr_locked(st, ino, ret);
	if (rc == 0 && S_ISDIR(ret->mode))
		dfs_pkgdir_of_changed(st, ino);
	if (oi)
		dfs_content_unpin(st, oi);
	return rc;
}

static int build_open(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, int flags, struct dfs_file **ret)
{
	return dfs_content_open(st, ino, flags, NULL, ret);
}

/* A build node has no one path (hard links): the tree is enough. */
static void build_describe(struct dfs_store *st, uint64_t ino,
			   struct dfs_where *ret)
{
	snprintf(ret->path, sizeof(ret->path),
		 ino == DFS_INO_BUILD ? "build" : "build/...");
}

const struct dfs_tree_ops dfs_build_tree = {
	.name = "build",
	.none = -EPERM,
	.quiet = true,
	.describe = build_describe,
	.lookup = build_lookup,
	.getattr = dfs_build_attr_locked,
	.readdir = build_readdir,
	.readlink = dfs_inode_readlink,
	.create = build_create,
	.link = build_link,
	.remove = build_remove,
	.rename = build_rename,
	.setattr = build_setattr,
	.open = build_open,
	.xattr_get = dfs_build_xattr_get,
	.xattr_set = dfs_build_xattr_set,
	.xattr_list = dfs_build_xattr_list,
	.xattr_remove = dfs_build_xattr_remove,
};
