// SPDX-License-Identifier: MIT
/*
 * ext_tree.c - the operations of environments/ENV/extensions (ext.c has
 * its rules): build/'s, with each change of an override checked and
 * recorded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trees.h"

/* ---- the tree ------------------------------------------------------------------- */

static int ext_getattr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	struct dfs_ext_where w;
	int rc = dfs_build_attr_locked(st, ino, ret);

	if (rc == 0 && dfs_ext_where_of(st, ino, &w) == 0 && w.depth == 0)
		rc = dfs_ext_root_fix(st, w.env, ret);
	return rc;
}

static int ext_lookup(struct dfs_store *st, uint64_t parent, const char *name,
		      struct dfs_attr *ret)
{
	int rc = dfs_build_tree.lookup(st, parent, name, ret);

	if (rc == 0)
		dfs_ext_mark(st, ret->ino, true);
	return rc;
}

struct marking {
	struct dfs_store *st;
	dfs_readdir_fn fn;
	void *ctx;
};

static int mark_entry(void *ctx, const struct dfs_dirent *de)
{
	struct marking *m = ctx;

	dfs_ext_mark(m->st, de->attr.ino, true);
	return m->fn(m->ctx, de);
}

static int ext_readdir(struct dfs_store *st, uint64_t ino, uint64_t off,
		       bool hold, dfs_readdir_fn fn, void *ctx)
{
	struct marking m = { st, fn, ctx };

	return dfs_build_tree.readdir(st, ino, off, hold, mark_entry, &m);
}

static int ext_create(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t parent, const char *name, uint32_t mode,
		      uint64_t rdev, const char *target, struct dfs_attr *ret)
{
	char path[1024];
	struct dfs_ext_where w;
	struct dfs_ext_write *x;
	bool counts;
	int rc;

	if (!S_ISREG(mode) && !S_ISDIR(mode)) {
		rc = dfs_ext_where_of(st, parent, &w);
		return rc < 0 ? rc
			      : dfs_ext_refuse(st, actor, w.env, w.comp, NULL,
					       -EPERM,
					       "only files and folders go in "
					       "extensions/ (no links, no "
					       "devices)");
	}
	rc = dfs_ext_check_new(st, actor, parent, name, S_ISDIR(mode), &w, path,
			       sizeof(path), &counts);
	if (rc == 0)
		rc = dfs_build_tree.create(st, actor, parent, name, mode, rdev,
					   target, ret);
	if (rc < 0)
		return rc;
	dfs_ext_mark(st, ret->ino, true);
	/* A new override: its first close records it (old "-"). */
	if (counts) {
		x = dfs_ext_write_of(st, ret->ino, true);
		if (!x)
			return -ENOMEM;
		x->had = false;
		x->actor = *actor;
	}
	return 0;
}

static int ext_remove(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t parent, const char *name, bool dir)
{
	char path[1024];
	struct dfs_ext_where w;
	struct dfs_attr a;
	struct dfs_hash h;
	bool counts = false, had = false;
	int rc = dfs_ext_where_of(st, parent, &w);

	if (rc == 0 && w.depth > 0 && !dir &&
	    dfs_inode_attr_at(st, parent, name, &a) == 0 && S_ISREG(a.mode) &&
	    dfs_ext_child_path(&w, name, path, sizeof(path)) == 0) {
		counts = dfs_ext_is_override(st, &w, name, path);
		had = counts && dfs_ext_file_hash(st, a.ino, &h) == 0;
	}
	if (rc == 0)
		rc = dfs_build_tree.remove(st, actor, parent, name, dir);
	if (rc == 0 && counts)
		dfs_ext_record(st, actor, w.env, w.comp, path, &h, had, &h,
			       false);
	return rc;
}

static int ext_rename(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t parent, const char *name, uint64_t newparent,
		      const char *newname, unsigned flags)
{
	char from[1024] = "", to[1024];
	struct dfs_ext_where w, nw;
	struct dfs_attr src, dst;
	struct dfs_hash hs, hd;
	bool src_counts = false, dst_counts, had_s = false, had_d = false;
	int rc = dfs_inode_attr_at(st, parent, name, &src);

	if (rc == 0)
		rc = dfs_ext_check_new(st, actor, newparent, newname,
				       S_ISDIR(src.mode), &nw, to, sizeof(to),
				       &dst_counts);
	if (rc == 0)
		rc = dfs_ext_where_of(st, parent, &w);
	if (rc < 0)
		return rc;
	if (S_ISREG(src.mode)) {
		had_s = dfs_ext_file_hash(st, src.ino, &hs) == 0;
		src_counts =
			dfs_ext_child_path(&w, name, from, sizeof(from)) == 0 &&
			dfs_ext_is_override(st, &w, name, from);
	}
	if (dst_counts &&
	    dfs_inode_attr_at(st, newparent, newname, &dst) == 0 &&
	    S_ISREG(dst.mode))
		had_d = dfs_ext_file_hash(st, dst.ino, &hd) == 0;
	rc = dfs_build_tree.rename(st, actor, parent, name, newparent, newname,
				   flags);
	if (rc < 0 || (flags & DFS_RENAME_EXCHANGE))
		return rc;
	if (src_counts)
		dfs_ext_record(st, actor, w.env, w.comp, from, &hs, had_s, &hs,
			       false);
	if (dst_counts)
		dfs_ext_record(st, actor, nw.env, nw.comp, to, &hd, had_d, &hs,
			       had_s);
	return 0;
}

/* Is file ino an override (not a temporary)? */
static bool override_file(struct dfs_store *st, uint64_t ino)
{
	struct dfs_ext_where w;
	const char *base;

	if (dfs_ext_where_of(st, ino, &w) < 0 || w.depth < 2)
		return false;
	base = strrchr(w.path, '/');
	return dfs_ext_is_override(st, &w, base ? base + 1 : w.path, w.path);
}

static int ext_setattr(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t ino, const struct dfs_setattr *sa,
		       struct dfs_attr *ret)
{
	struct dfs_ext_where w;
	struct dfs_hash old, now;
	struct dfs_actor self;
	bool had = false, counts = false;
	int rc = dfs_ext_where_of(st, ino, &w);

	if (rc == 0 && w.depth == 0)
		return -EPERM; /* chmod or chown the environment instead */
	if (rc == 0 && (sa->valid & DFS_SET_SIZE) &&
	    !dfs_ext_write_of(st, ino, false)) {
		counts = override_file(st, ino);
		had = counts && dfs_ext_file_hash(st, ino, &old) == 0;
	}
	if (rc == 0)
		rc = dfs_build_tree.setattr(st, actor, ino, sa, ret);
	if (rc == 0 && counts)
		dfs_ext_record(st, dfs_actor_or_self(NULL, &self), w.env,
			       w.comp, w.path, &old, had, &now,
			       dfs_ext_file_hash(st, ino, &now) == 0);
	return rc;
}

static int ext_open(struct dfs_store *st, const struct dfs_actor *actor,
		    uint64_t ino, int flags, struct dfs_file **ret)
{
	struct dfs_ext_write *x = NULL;
	struct dfs_attr a;
	int rc;

	if (dfs_ext_writes(flags)) {
		pthread_mutex_lock(&st->lock);
		if (dfs_build_attr_locked(st, ino, &a) == 0 &&
		    S_ISREG(a.mode) && override_file(st, ino)) {
			x = dfs_ext_write_of(st, ino, false);
			if (!x) {
				x = dfs_ext_write_of(st, ino, true);
				if (x) {
					x->had = dfs_ext_file_hash(
							 st, ino, &x->old) == 0;
					x->actor = *actor;
				}
			}
			if (x)
				x->writers++;
		}
		pthread_mutex_unlock(&st->lock);
	}
	rc = dfs_build_tree.open(st, actor, ino, flags, ret);
	if (rc < 0 && x) {
		pthread_mutex_lock(&st->lock);
		if (--x->writers <= 0)
			dfs_ext_write_drop(st, x);
		pthread_mutex_unlock(&st->lock);
	}
	return rc;
}

static void ext_describe(struct dfs_store *st, uint64_t ino,
			 struct dfs_where *ret)
{
	struct dfs_ext_where w;
	struct dfs_env e;
	int n;

	snprintf(ret->path, sizeof(ret->path), "environments");
	if (dfs_ext_where_of(st, ino, &w) < 0 ||
	    dfs_env_by_id(st, w.env, &e) < 0)
		return;
	snprintf(ret->env, sizeof(ret->env), "%s", e.name);
	snprintf(ret->component, sizeof(ret->component), "%s", w.comp);
	n = snprintf(ret->path, sizeof(ret->path),
		     "environments/%s/extensions%s%s", e.name,
		     w.comp[0] ? "/" : "", w.comp);
	if (n > 0 && (size_t)n < sizeof(ret->path) && w.path[0])
		snprintf(ret->path + n, sizeof(ret->path) - (size_t)n, "/%.*s",
			 (int)(sizeof(ret->path) - (size_t)n - 2), w.path);
}
/* user.deployfs.hash: an override's content hash, as the audit trail
 * names it; the rest is build/'s. */
static int ext_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
			 void *buf, size_t cap)
{
	char hex[DFS_HASH_HEX];
	struct dfs_hash h;
	struct dfs_attr a;
	int rc;

	if (strcmp(name, "user.deployfs.hash") != 0)
		return dfs_build_xattr_get(st, ino, name, buf, cap);
	rc = dfs_build_attr_locked(st, ino, &a);
	if (rc == 0 && !S_ISREG(a.mode))
		rc = -ENODATA;
	if (rc == 0)
		rc = dfs_ext_file_hash(st, ino, &h);
	if (rc == -EAGAIN)
		rc = -EBUSY; /* open for writing: no hash yet */
	if (rc < 0)
		return rc;
	dfs_hash_hex(&h, hex);
	return dfs_put_value(hex, buf, cap);
}

const struct dfs_tree_ops dfs_ext_tree = {
	.name = "extensions",
	.none = -EPERM,
	.quiet = true,
	.describe = ext_describe,
	.lookup = ext_lookup,
	.getattr = ext_getattr,
	.readdir = ext_readdir,
	.readlink = dfs_inode_readlink,
	.create = ext_create,
	.remove = ext_remove,
	.rename = ext_rename,
	.setattr = ext_setattr,
	.open = ext_open,
	.xattr_get = ext_xattr_get,
	.xattr_set = dfs_build_xattr_set,
	.xattr_list = dfs_build_xattr_list,
	.xattr_remove = dfs_build_xattr_remove,
};
