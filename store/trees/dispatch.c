// SPDX-License-Identifier: MIT
/*
 * dispatch.c - the namespace calls of store.h.  The class of an inode
 * number picks its tree's table of operations here, and only here; an
 * operation on a parent goes to the parent's tree, an operation on a node
 * to the node's.  An empty slot answers the table's `none`.  Moves and
 * links between trees are refused by one rule (dispatch_cross()).  Every
 * slot but open runs with st->lock held, taken here.  Every call that may
 * be refused ends in dfs_refused() (refuse.c), so a refusal outside
 * build/ the act did not record itself is recorded there.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "trees.h"

/* Run a slot's call with st->lock held. */
#define LOCKED(st, call)                           \
	do {                                       \
		pthread_mutex_lock(&(st)->lock);   \
		call;                              \
		pthread_mutex_unlock(&(st)->lock); \
	} while (0)

/* Begin a call that may be refused: st->lock, and st->refusals. */
static uint64_t begin(struct dfs_store *st)
{
	pthread_mutex_lock(&st->lock);
	return st->refusals;
}

/* End it: record its refusal if nothing did, let go of st->lock. */
static int end(struct dfs_store *st, const struct dfs_actor *actor,
	       const struct dfs_ask *q, uint64_t before, int rc)
{
	rc = dfs_refused(st, actor, q, before, rc);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

const struct dfs_tree_ops *dfs_tree_of(uint64_t ino)
{
	if (ino == DFS_INO_ROOT)
		return &dfs_root_tree;
	if (ino == DFS_INO_AUDIT)
		return &dfs_auditlog_tree;
	if (ino == DFS_INO_PACKAGES ||
	    (ino >= DFS_INO_SNODE_BASE && ino < DFS_INO_ENV_BASE))
		return &dfs_packages_tree;
	if (dfs_is_eview(ino))
		return &dfs_views_tree;
	if (dfs_is_eff(ino))
		return &dfs_eff_tree;
	if (dfs_is_temp(ino))
		return &dfs_temps_tree;
	if (ino == DFS_INO_ENVIRONMENTS ||
	    (ino >= DFS_INO_ENV_BASE && ino < DFS_INO_TEMP_BASE))
		return &dfs_envs_tree;
	return &dfs_build_tree;
}

/* The same, knowing the build nodes below ENV/extensions (ext.c). */
static const struct dfs_tree_ops *tree_of(struct dfs_store *st, uint64_t ino)
{
	return dfs_ext_has(st, ino) ? &dfs_ext_tree : dfs_tree_of(ino);
}

static bool env_family(const struct dfs_tree_ops *t)
{
	return t == &dfs_envs_tree || t == &dfs_views_tree ||
	       t == &dfs_temps_tree;
}

/* A move or link from tree a to tree b: 0 when a's table decides. */
static int dispatch_cross(const struct dfs_tree_ops *a,
			  const struct dfs_tree_ops *b, uint64_t parent,
			  uint64_t newparent)
{
	if (a == b || (env_family(a) && env_family(b)))
		return 0;
	if (a == &dfs_ext_tree || b == &dfs_ext_tree)
		return -EXDEV;
	if (env_family(a) || env_family(b))
		return parent == DFS_INO_ENVIRONMENTS ||
				       newparent == DFS_INO_ENVIRONMENTS
			       ? -EPERM
			       : -EXDEV;
	return -EROFS;
}

int dfs_node_lookup(struct dfs_store *st, uint64_t parent, const char *name,
		    struct dfs_attr *ret)
{
	return dfs_node_lookup_as(st, NULL, parent, name, ret);
}

int dfs_node_lookup_as(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t parent, const char *name, struct dfs_attr *ret)
{
	const struct dfs_tree_ops *t = tree_of(st, parent);
	struct dfs_ask q = {
		.op = "lookup", .ino = parent, .name = name, .query = true
	};
	uint64_t before = begin(st);
	int rc;

	if (strlen(name) > DFS_NAME_MAX)
		rc = -ENAMETOOLONG;
	else if (!t->lookup)
		rc = -ENOTDIR;
	else
		rc = t->lookup(st, parent, name, ret);
	return end(st, actor, &q, before, rc);
}

int dfs_node_getattr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	int rc;

	LOCKED(st, rc = tree_of(st, ino)->getattr(st, ino, ret));
	return rc;
}

int dfs_node_readdir(struct dfs_store *st, uint64_t ino, uint64_t off,
		     bool hold, dfs_readdir_fn fn, void *ctx)
{
	const struct dfs_tree_ops *t = tree_of(st, ino);
	int rc;

	if (!t->readdir)
		return -ENOTDIR;
	LOCKED(st, rc = t->readdir(st, ino, off, hold, fn, ctx));
	return rc;
}

int dfs_node_readlink(struct dfs_store *st, uint64_t ino, char *buf, size_t cap)
{
	const struct dfs_tree_ops *t = tree_of(st, ino);
	int rc;

	if (!t->readlink)
		return -EINVAL;
	LOCKED(st, rc = t->readlink(st, ino, buf, cap));
	return rc;
}

/* mknod, mkdir, symlink: op; pre, a refusal found before the slot. */
static int create(struct dfs_store *st, const struct dfs_actor *actor,
		  const char *op, int pre, uint64_t parent, const char *name,
		  uint32_t mode, uint64_t rdev, const char *target,
		  struct dfs_attr *ret)
{
	const struct dfs_tree_ops *t = tree_of(st, parent);
	struct dfs_ask q = { .op = op, .ino = parent, .name = name };
	uint64_t before = begin(st);
	int rc = pre;

	if (rc == 0 && strlen(name) > DFS_NAME_MAX)
		rc = -ENAMETOOLONG;
	else if (rc == 0 && !t->create)
		rc = t->none;
	else if (rc == 0)
		rc = t->create(st, actor, parent, name, mode, rdev, target,
			       ret);
	/* A new build node is build/'s, whatever a node of the same number
	 * was before (ext.c marks its own). */
	if (rc == 0 && t == &dfs_build_tree)
		dfs_ext_mark(st, ret->ino, false);
	return end(st, actor, &q, before, rc);
}

int dfs_node_mknod(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint32_t mode,
		   uint64_t rdev, struct dfs_attr *ret)
{
	if (S_ISDIR(mode) || S_ISLNK(mode))
		return -EINVAL;
	if (!(mode & S_IFMT))
		mode |= S_IFREG;
	return create(st, actor, "mknod", 0, parent, name, mode, rdev, NULL,
		      ret);
}

int dfs_node_mkdir(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint32_t mode,
		   struct dfs_attr *ret)
{
	return create(st, actor, "mkdir", 0, parent, name,
		      S_IFDIR | (mode & 07777), 0, NULL, ret);
}

int dfs_node_symlink(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t parent, const char *name, const char *target,
		     struct dfs_attr *ret)
{
	size_t len = strlen(target);

	return create(st, actor, "symlink",
		      len == 0		      ? -ENOENT
		      : len > DFS_SYMLINK_MAX ? -ENAMETOOLONG
					      : 0,
		      parent, name, S_IFLNK | 0777, 0, target, ret);
}

int dfs_node_link(struct dfs_store *st, uint64_t ino, uint64_t newparent,
		  const char *newname, struct dfs_attr *ret)
{
	return dfs_node_link_as(st, NULL, ino, newparent, newname, ret);
}

int dfs_node_link_as(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t ino, uint64_t newparent, const char *newname,
		     struct dfs_attr *ret)
{
	const struct dfs_tree_ops *t = tree_of(st, newparent),
				  *from = tree_of(st, ino);
	struct dfs_ask q = { .op = "link",
			     .ino = ino,
			     .name = NULL,
			     .ino2 = newparent,
			     .name2 = newname };
	uint64_t before = begin(st);
	int rc;

	/* A hard link never leaves its tree: environments and packages
	 * show nodes that are not build/'s to link. */
	if (env_family(from) || env_family(t) || from == &dfs_ext_tree ||
	    t == &dfs_ext_tree)
		rc = -EXDEV;
	else if (from != t)
		rc = t == &dfs_build_tree ? -EXDEV : -EROFS;
	else if (!t->link)
		rc = t->none;
	else
		rc = t->link(st, ino, newparent, newname, ret);
	return end(st, actor, &q, before, rc);
}

static int remove_node(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t parent, const char *name, bool dir)
{
	const struct dfs_tree_ops *t = tree_of(st, parent);
	struct dfs_ask q = { .op = dir ? "rmdir" : "unlink",
			     .ino = parent,
			     .name = name };
	struct dfs_actor self;
	uint64_t before;
	int rc;

	actor = dfs_actor_or_self(actor, &self);
	before = begin(st);
	rc = t->remove ? t->remove(st, actor, parent, name, dir) : t->none;
	return end(st, actor, &q, before, rc);
}

int dfs_node_unlink(struct dfs_store *st, uint64_t parent, const char *name)
{
	return remove_node(st, NULL, parent, name, false);
}

int dfs_node_unlink_as(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t parent, const char *name)
{
	return remove_node(st, actor, parent, name, false);
}

int dfs_node_rmdir(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name)
{
	return remove_node(st, actor, parent, name, true);
}

int dfs_node_rename(struct dfs_store *st, uint64_t parent, const char *name,
		    uint64_t newparent, const char *newname, unsigned flags)
{
	return dfs_node_rename_as(st, NULL, parent, name, newparent, newname,
				  flags);
}

int dfs_node_rename_as(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t parent, const char *name, uint64_t newparent,
		       const char *newname, unsigned flags)
{
	const struct dfs_tree_ops *t = tree_of(st, parent);
	struct dfs_ask q = { .op = "rename",
			     .ino = parent,
			     .name = name,
			     .ino2 = newparent,
			     .name2 = newname };
	struct dfs_actor self;
	uint64_t before;
	int rc = 0;

	actor = dfs_actor_or_self(actor, &self);
	before = begin(st);
	if ((flags & DFS_RENAME_NOREPLACE) && (flags & DFS_RENAME_EXCHANGE))
		rc = -EINVAL;
	else if (strlen(newname) > DFS_NAME_MAX)
		rc = -ENAMETOOLONG;
	else
		rc = dispatch_cross(t, tree_of(st, newparent), parent,
				    newparent);
	if (rc == 0)
		rc = t->rename ? t->rename(st, actor, parent, name, newparent,
					   newname, flags)
			       : t->none;
	return end(st, actor, &q, before, rc);
}

int dfs_node_setattr(struct dfs_store *st, uint64_t ino,
		     const struct dfs_setattr *sa, struct dfs_attr *ret)
{
	return dfs_node_setattr_as(st, NULL, ino, sa, ret);
}

int dfs_node_setattr_as(struct dfs_store *st, const struct dfs_actor *actor,
			uint64_t ino, const struct dfs_setattr *sa,
			struct dfs_attr *ret)
{
	const struct dfs_tree_ops *t = tree_of(st, ino);
	struct dfs_ask q = { .op = "setattr", .ino = ino };
	uint64_t before = begin(st);
	int rc;

	if (t->setattr) {
		rc = t->setattr(st, actor, ino, sa, ret);
	} else {
		/* Unchanging: only a change to the same values succeeds
		 * (cp -a and rsync -a setting what is already there). */
		rc = t->getattr(st, ino, ret);
		if (rc == 0 && !dfs_setattr_is_noop(ret, sa))
			rc = t->none;
	}
	return end(st, actor, &q, before, rc);
}

static bool in_group(const struct dfs_actor *actor, uint32_t gid,
		     dfs_groups_fn groups, void *ctx)
{
	uint32_t list[DFS_GROUPS_MAX];
	int n;

	if (actor->gid == gid)
		return true;
	n = groups ? groups(ctx, list, DFS_GROUPS_MAX) : 0;
	for (int i = 0; i < n && i < DFS_GROUPS_MAX; i++)
		if (list[i] == gid)
			return true;
	return false;
}

int dfs_file_drop_privs(struct dfs_store *st, struct dfs_file *f,
			const struct dfs_actor *actor, dfs_groups_fn groups,
			void *ctx)
{
	uint64_t ino = dfs_file_ino(f);
	const struct dfs_tree_ops *t = tree_of(st, ino);
	struct dfs_setattr sa = { .valid = DFS_SET_MODE };
	struct dfs_attr a;
	uint32_t drop = 0;
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = t->getattr(st, ino, &a);
	if (rc == 0 && (a.mode & S_ISUID))
		drop |= S_ISUID;
	/* The groups come from /proc: read only for a setgid file. */
	if (rc == 0 && (a.mode & S_ISGID) &&
	    ((a.mode & S_IXGRP) || !in_group(actor, a.gid, groups, ctx)))
		drop |= S_ISGID;
	if (drop && t->setattr) {
		sa.mode = a.mode & ~drop;
		rc = t->setattr(st, actor, ino, &sa, &a);
		if (rc == 0)
			dfs_notice_attr(st, ino);
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

void dfs_node_hold(struct dfs_store *st, uint64_t ino)
{
	pthread_mutex_lock(&st->lock);
	dfs_hold_locked(st, ino);
	pthread_mutex_unlock(&st->lock);
}

void dfs_node_forget(struct dfs_store *st, uint64_t ino, uint64_t n)
{
	pthread_mutex_lock(&st->lock);
	dfs_forget_locked(st, ino, n);
	pthread_mutex_unlock(&st->lock);
}

/* ---- extended attributes (user.* only) ------------------------------------ */

static int xattr_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > DFS_XATTR_NAME_MAX)
		return -ERANGE;
	if (strncmp(name, "user.", 5) != 0)
		return -EOPNOTSUPP;
	return 0;
}

int dfs_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
		  void *buf, size_t cap)
{
	return dfs_xattr_get_as(st, NULL, ino, name, buf, cap);
}

int dfs_xattr_get_as(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t ino, const char *name, void *buf, size_t cap)
{
	const struct dfs_tree_ops *t = tree_of(st, ino);
	struct dfs_ask q = { .op = "getxattr", .ino = ino, .query = true };
	uint64_t before;
	int rc = xattr_name_ok(name);

	if (rc == -EOPNOTSUPP || (rc == 0 && !t->xattr_get))
		return -ENODATA;
	before = begin(st);
	if (rc == 0)
		rc = t->xattr_get(st, ino, name, buf, cap);
	return end(st, actor, &q, before, rc);
}

int dfs_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
		  uint64_t ino, const char *name, const void *value,
		  size_t size, unsigned flags)
{
	const struct dfs_tree_ops *t = tree_of(st, ino);
	struct dfs_ask q = { .op = "setxattr", .ino = ino };
	struct dfs_actor self;
	uint64_t before;
	int rc = xattr_name_ok(name);

	actor = dfs_actor_or_self(actor, &self);
	if (!value)
		value = "";
	before = begin(st);
	if (rc == 0 && size > DFS_XATTR_SIZE_MAX)
		rc = -E2BIG;
	else if (rc == 0 && !t->xattr_set)
		rc = t->none;
	else if (rc == 0)
		rc = t->xattr_set(st, actor, ino, name, value, size, flags);
	return end(st, actor, &q, before, rc);
}

int dfs_xattr_list(struct dfs_store *st, uint64_t ino, char *buf, size_t cap)
{
	return dfs_xattr_list_as(st, NULL, ino, buf, cap);
}

int dfs_xattr_list_as(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, char *buf, size_t cap)
{
	const struct dfs_tree_ops *t = tree_of(st, ino);
	struct dfs_ask q = { .op = "listxattr", .ino = ino, .query = true };
	uint64_t before;

	if (!t->xattr_list)
		return 0;
	before = begin(st);
	return end(st, actor, &q, before, t->xattr_list(st, ino, buf, cap));
}

int dfs_xattr_remove(struct dfs_store *st, uint64_t ino, const char *name)
{
	return dfs_xattr_remove_as(st, NULL, ino, name);
}

int dfs_xattr_remove_as(struct dfs_store *st, const struct dfs_actor *actor,
			uint64_t ino, const char *name)
{
	const struct dfs_tree_ops *t = tree_of(st, ino);
	struct dfs_ask q = { .op = "removexattr", .ino = ino };
	uint64_t before;
	int rc = xattr_name_ok(name);

	if (rc == -EOPNOTSUPP)
		return -ENODATA;
	before = begin(st);
	if (rc == 0)
		rc = t->xattr_remove ? t->xattr_remove(st, ino, name) : t->none;
	return end(st, actor, &q, before, rc);
}

/* ---- files ------------------------------------------------------------------ */

int dfs_file_open(struct dfs_store *st, uint64_t ino, int flags,
		  struct dfs_file **ret)
{
	return dfs_file_open_as(st, NULL, ino, flags, ret);
}

int dfs_file_open_as(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t ino, int flags, struct dfs_file **ret)
{
	const struct dfs_tree_ops *t = tree_of(st, ino);
	struct dfs_ask q = { .op = "open", .ino = ino };
	struct dfs_actor self;
	uint64_t before;
	int rc;

	actor = dfs_actor_or_self(actor, &self);
	/* The slot takes st->lock itself; a refusal another call records
	 * meanwhile only costs this one its own line. */
	pthread_mutex_lock(&st->lock);
	before = st->refusals;
	pthread_mutex_unlock(&st->lock);
	rc = t->open ? t->open(st, actor, ino, flags, ret) : -EISDIR;
	if (rc < 0) {
		pthread_mutex_lock(&st->lock);
		rc = end(st, actor, &q, before, rc);
	}
	return rc;
}

bool dfs_node_is_extension(struct dfs_store *st, uint64_t ino)
{
	return dfs_ext_has(st, ino);
}

int dfs_file_close_as(struct dfs_store *st, const struct dfs_actor *actor,
		      struct dfs_file *f)
{
	uint64_t ino = f->ino;
	int flags = f->flags;
	int rc = dfs_file_release(st, f);

	dfs_ext_closed(st, actor, ino, flags);
	return rc;
}

int dfs_node_content_hash(struct dfs_store *st, uint64_t ino,
			  struct dfs_hash *ret)
{
	uint32_t mode = 0;
	uint64_t size;
	int rc;

	pthread_mutex_lock(&st->lock);
	if (dfs_tree_of(ino) == &dfs_build_tree)
		rc = dfs_content_hash(st, ino, ret);
	else if (dfs_ino_is_snode(ino))
		rc = dfs_snode_blob(st, (int64_t)(ino - DFS_INO_SNODE_BASE),
				    &mode, &size, ret);
	else
		rc = -EINVAL;
	pthread_mutex_unlock(&st->lock);
	return rc == 0 && mode && !S_ISREG(mode) ? -EINVAL : rc;
}
