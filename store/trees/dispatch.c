// SPDX-License-Identifier: MIT
/*
 * dispatch.c - the namespace calls of store.h.  The class of an inode
 * number picks its tree's table of operations here, and only here; an
 * operation on a parent goes to the parent's tree, an operation on a node
 * to the node's.  An empty slot answers the table's `none`.  Moves and
 * links between trees are refused by one rule (dispatch_cross()).  Every
 * slot but open runs with st->lock held, taken here.
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

static const struct dfs_tree_ops *tree_of(uint64_t ino)
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
	if (dfs_is_temp(ino))
		return &dfs_temps_tree;
	if (ino == DFS_INO_ENVIRONMENTS ||
	    (ino >= DFS_INO_ENV_BASE && ino < DFS_INO_TEMP_BASE))
		return &dfs_envs_tree;
	return &dfs_build_tree;
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
	const struct dfs_tree_ops *t = tree_of(parent);
	int rc;

	if (strlen(name) > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!t->lookup)
		return -ENOTDIR;
	LOCKED(st, rc = t->lookup(st, parent, name, ret));
	return rc;
}

int dfs_node_getattr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	int rc;

	LOCKED(st, rc = tree_of(ino)->getattr(st, ino, ret));
	return rc;
}

int dfs_node_readdir(struct dfs_store *st, uint64_t ino, uint64_t off,
		     bool hold, dfs_readdir_fn fn, void *ctx)
{
	const struct dfs_tree_ops *t = tree_of(ino);
	int rc;

	if (!t->readdir)
		return -ENOTDIR;
	LOCKED(st, rc = t->readdir(st, ino, off, hold, fn, ctx));
	return rc;
}

int dfs_node_readlink(struct dfs_store *st, uint64_t ino, char *buf, size_t cap)
{
	const struct dfs_tree_ops *t = tree_of(ino);
	int rc;

	if (!t->readlink)
		return -EINVAL;
	LOCKED(st, rc = t->readlink(st, ino, buf, cap));
	return rc;
}

static int create(struct dfs_store *st, const struct dfs_actor *actor,
		  uint64_t parent, const char *name, uint32_t mode,
		  uint64_t rdev, const char *target, struct dfs_attr *ret)
{
	const struct dfs_tree_ops *t = tree_of(parent);
	int rc;

	if (strlen(name) > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!t->create)
		return t->none;
	LOCKED(st, rc = t->create(st, actor, parent, name, mode, rdev, target,
				  ret));
	return rc;
}

int dfs_node_mknod(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint32_t mode,
		   uint64_t rdev, struct dfs_attr *ret)
{
	if (S_ISDIR(mode) || S_ISLNK(mode))
		return -EINVAL;
	if (!(mode & S_IFMT))
		mode |= S_IFREG;
	return create(st, actor, parent, name, mode, rdev, NULL, ret);
}

int dfs_node_mkdir(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint32_t mode,
		   struct dfs_attr *ret)
{
	return create(st, actor, parent, name, S_IFDIR | (mode & 07777), 0,
		      NULL, ret);
}

int dfs_node_symlink(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t parent, const char *name, const char *target,
		     struct dfs_attr *ret)
{
	size_t len = strlen(target);

	if (len == 0)
		return -ENOENT;
	if (len > DFS_SYMLINK_MAX)
		return -ENAMETOOLONG;
	return create(st, actor, parent, name, S_IFLNK | 0777, 0, target, ret);
}

int dfs_node_link(struct dfs_store *st, uint64_t ino, uint64_t newparent,
		  const char *newname, struct dfs_attr *ret)
{
	const struct dfs_tree_ops *t = tree_of(newparent), *from = tree_of(ino);
	int rc;

	/* A hard link never leaves its tree: environments and packages
	 * show nodes that are not build/'s to link. */
	if (env_family(from) || env_family(t))
		return -EXDEV;
	if (from != t)
		return t == &dfs_build_tree ? -EXDEV : -EROFS;
	if (!t->link)
		return t->none;
	LOCKED(st, rc = t->link(st, ino, newparent, newname, ret));
	return rc;
}

static int remove_node(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t parent, const char *name, bool dir)
{
	const struct dfs_tree_ops *t = tree_of(parent);
	struct dfs_actor self;
	int rc;

	if (!t->remove)
		return t->none;
	actor = dfs_actor_or_self(actor, &self);
	LOCKED(st, rc = t->remove(st, actor, parent, name, dir));
	return rc;
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
	const struct dfs_tree_ops *t = tree_of(parent);
	struct dfs_actor self;
	int rc;

	if ((flags & DFS_RENAME_NOREPLACE) && (flags & DFS_RENAME_EXCHANGE))
		return -EINVAL;
	if (strlen(newname) > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	rc = dispatch_cross(t, tree_of(newparent), parent, newparent);
	if (rc < 0)
		return rc;
	if (!t->rename)
		return t->none;
	actor = dfs_actor_or_self(actor, &self);
	LOCKED(st, rc = t->rename(st, actor, parent, name, newparent, newname,
				  flags));
	return rc;
}

int dfs_node_setattr(struct dfs_store *st, uint64_t ino,
		     const struct dfs_setattr *sa, struct dfs_attr *ret)
{
	const struct dfs_tree_ops *t = tree_of(ino);
	int rc;

	pthread_mutex_lock(&st->lock);
	if (t->setattr) {
		rc = t->setattr(st, ino, sa, ret);
	} else {
		/* Unchanging: only a change to the same values succeeds
		 * (cp -a and rsync -a setting what is already there). */
		rc = t->getattr(st, ino, ret);
		if (rc == 0 && !dfs_setattr_is_noop(ret, sa))
			rc = t->none;
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
	const struct dfs_tree_ops *t = tree_of(ino);
	int rc = xattr_name_ok(name);

	if (rc == -EOPNOTSUPP)
		return -ENODATA;
	if (rc < 0)
		return rc;
	if (!t->xattr_get)
		return -ENODATA;
	LOCKED(st, rc = t->xattr_get(st, ino, name, buf, cap));
	return rc;
}

int dfs_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
		  uint64_t ino, const char *name, const void *value,
		  size_t size, unsigned flags)
{
	const struct dfs_tree_ops *t = tree_of(ino);
	struct dfs_actor self;
	int rc = xattr_name_ok(name);

	if (rc < 0)
		return rc;
	if (size > DFS_XATTR_SIZE_MAX)
		return -E2BIG;
	if (!value)
		value = "";
	if (!t->xattr_set)
		return t->none;
	actor = dfs_actor_or_self(actor, &self);
	LOCKED(st, rc = t->xattr_set(st, actor, ino, name, value, size, flags));
	return rc;
}

int dfs_xattr_list(struct dfs_store *st, uint64_t ino, char *buf, size_t cap)
{
	const struct dfs_tree_ops *t = tree_of(ino);
	int rc;

	if (!t->xattr_list)
		return 0;
	LOCKED(st, rc = t->xattr_list(st, ino, buf, cap));
	return rc;
}

int dfs_xattr_remove(struct dfs_store *st, uint64_t ino, const char *name)
{
	const struct dfs_tree_ops *t = tree_of(ino);
	int rc = xattr_name_ok(name);

	if (rc == -EOPNOTSUPP)
		return -ENODATA;
	if (rc < 0)
		return rc;
	if (!t->xattr_remove)
		return t->none;
	LOCKED(st, rc = t->xattr_remove(st, ino, name));
	return rc;
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
	const struct dfs_tree_ops *t = tree_of(ino);
	struct dfs_actor self;

	actor = dfs_actor_or_self(actor, &self);
	return t->open ? t->open(st, actor, ino, flags, ret) : -EISDIR;
}

int dfs_node_content_hash(struct dfs_store *st, uint64_t ino,
			  struct dfs_hash *ret)
{
	uint32_t mode = 0;
	uint64_t size;
	int rc;

	pthread_mutex_lock(&st->lock);
	if (tree_of(ino) == &dfs_build_tree)
		rc = dfs_content_hash(st, ino, ret);
	else if (dfs_is_snode(ino))
		rc = dfs_snode_blob(st, (int64_t)(ino - DFS_INO_SNODE_BASE),
				    &mode, &size, ret);
	else
		rc = -EINVAL;
	pthread_mutex_unlock(&st->lock);
	return rc == 0 && mode && !S_ISREG(mode) ? -EINVAL : rc;
}
