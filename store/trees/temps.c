// SPDX-License-Identifier: MIT
/*
 * temps.c - the temporaries of copy tools in environments/, as nodes: a
 * file rsync or tar writes under a name of its own before renaming it
 * into place (checked as it is written, see envfile.c), and the link
 * `ln -sfn` makes before renaming it over ENV/N.  They live in memory
 * (stage.c) until that rename or their removal.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "trees.h"

static int temps_getattr(struct dfs_store *st, uint64_t ino,
			 struct dfs_attr *ret)
{
	struct dfs_temp *t;
	int rc;

	pthread_mutex_lock(&st->lock);
	t = dfs_temp_by_ino(st, ino);
	rc = t ? dfs_temp_attr_locked(st, t, ret) : -ENOENT;
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int temps_readlink(struct dfs_store *st, uint64_t ino, char *buf,
			  size_t cap)
{
	struct dfs_temp *t;
	struct dfs_pkg p;
	int rc;

	pthread_mutex_lock(&st->lock);
	t = dfs_temp_by_ino(st, ino);
	rc = !t ? -ENOENT : !t->is_link ? -EINVAL : 0;
	if (rc == 0)
		rc = dfs_pkg_by_id(st, t->package, &p);
	if (rc == 0)
		dfs_dep_target(p.component, p.version, buf, cap);
	pthread_mutex_unlock(&st->lock);
	return rc < 0 ? rc : (int)strlen(buf);
}

static int temps_setattr(struct dfs_store *st, uint64_t ino,
			 const struct dfs_setattr *sa, struct dfs_attr *ret)
{
	struct dfs_verify *v;
	struct dfs_temp *t;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	t = dfs_temp_by_ino(st, ino);
	if (!t) {
		rc = -ENOENT;
		goto out;
	}
	v = dfs_verify_find(st, ino);
	if ((sa->valid & DFS_SET_SIZE) && v)
		rc = dfs_verify_truncate(st, v, sa->size);
	else if (sa->valid & DFS_SET_MODE)
		/* A copy tool setting what it will rename into place. */
		t->mode = sa->mode & 07777;
	if (rc == 0)
		rc = dfs_temp_attr_locked(st, t, ret);
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int temps_open(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, int flags, struct dfs_file **ret)
{
	struct dfs_attr a;
	int rc = temps_getattr(st, ino, &a);

	if (rc == 0 && !S_ISREG(a.mode))
		rc = -EINVAL;
	return rc < 0 ? rc : dfs_envfile_open(st, actor, ino, flags, ret);
}

static int temps_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
			   uint64_t ino, const char *name, const void *value,
			   size_t size, unsigned flags)
{
	return -EROFS;
}

const struct dfs_tree_ops dfs_temps_tree = {
	.name = "temporaries",
	.none = -EPERM,
	.getattr = temps_getattr,
	.readlink = temps_readlink,
	.setattr = temps_setattr,
	.open = temps_open,
	.xattr_set = temps_xattr_set,
};
