// SPDX-License-Identifier: MIT
/*
 * views.c - ENV/N@V and everything below it: a package's snapshot nodes
 * seen from an environment (the environment's id and the snode's id in
 * one inode number).  Deployed, it shows the package; staging, it shows
 * what the copy made so far, each entry checked against the package as
 * it is made (EPERM for what the package does not have) and its bytes as
 * they are written (envfile.c).  Copy tools' temporaries are let in and
 * judged at the rename that puts them in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trees.h"

int dfs_view_attr_locked(struct dfs_store *st, uint64_t ino,
			 struct dfs_attr *ret)
{
	int64_t env = dfs_eview_env(ino), s = dfs_eview_snode(ino);
	struct dfs_stage *sg = NULL;
	struct dfs_verify *v;
	struct dfs_pkg p;
	int rc = dfs_snode_attr(st, s, ret);

	if (rc < 0)
		return rc;
	ret->ino = ino;
	ret->flags = 0;
	/* N@V comes and goes behind the kernel's back; what is below it is
	 * reached through it.  (The kernel keeps sizes of files being
	 * written itself.) */
	if (dfs_pkg_of_snode(st, s, &p) == 0) {
		sg = dfs_stage_find(st, env, p.id);
		if (s == p.root)
			ret->flags = DFS_NODE_ENTRY_VOLATILE;
	}
	if (sg && sg->staging) {
		/* A copy in progress belongs to whoever copies.  The kernel
		 * may keep that only where it is also what the deployed
		 * folder will show. */
		struct dfs_attr pkg = *ret;

		ret->uid = sg->uid;
		ret->gid = sg->gid;
		ret->mode |= S_ISDIR(ret->mode) ? S_IRWXU : S_IRUSR | S_IWUSR;
		if (ret->uid != pkg.uid || ret->gid != pkg.gid ||
		    ret->mode != pkg.mode)
			ret->flags = DFS_NODE_VOLATILE;
	}
	v = dfs_verify_find(st, ino);
	if (v && S_ISREG(ret->mode))
		ret->size = v->size;
	return 0;
}

static int views_lookup(struct dfs_store *st, uint64_t parent, const char *name,
			struct dfs_attr *ret)
{
	int64_t env = dfs_eview_env(parent), s;
	struct dfs_stage *sg;
	struct dfs_temp *t;
	struct dfs_pkg p;
	bool deployed;
	int rc = -ENOENT;

	t = dfs_temp_by_name(st, parent, name);
	if (t)
		rc = dfs_temp_attr_locked(st, t, ret);
	else if (dfs_snode_child(st, dfs_eview_snode(parent), name, &s) == 0 &&
		 dfs_stage_visible(st, env, s, &p, &deployed, &sg))
		rc = dfs_view_attr_locked(st, dfs_eview_ino(env, s), ret);
	return rc;
}

static int collect_view(struct dfs_store *st, uint64_t dir,
			struct dfs_items *it)
{
	int64_t env = dfs_eview_env(dir);
	struct dfs_idnames kids = { 0 };
	int rc = dfs_snode_children(st, dfs_eview_snode(dir), 0, &kids);

	for (size_t i = 0; rc == 0 && i < kids.n; i++) {
		struct dfs_stage *sg;
		struct dfs_pkg p;
		bool deployed;

		if (dfs_stage_visible(st, env, kids.v[i].id, &p, &deployed,
				      &sg))
			rc = dfs_items_add(it, (uint64_t)kids.v[i].id,
					   dfs_eview_ino(env, kids.v[i].id),
					   kids.v[i].name);
	}
	dfs_idnames_free(&kids);
	return rc < 0 ? rc : dfs_temps_list(st, dir, it);
}

int dfs_view_entry_attr(struct dfs_store *st, uint64_t ino,
			struct dfs_attr *ret)
{
	struct dfs_temp *t;

	if (dfs_is_eview(ino))
		return dfs_view_attr_locked(st, ino, ret);
	t = dfs_temp_by_ino(st, ino);
	return t ? dfs_temp_attr_locked(st, t, ret) : -ENOENT;
}

static int views_readdir(struct dfs_store *st, uint64_t ino, uint64_t off,
			 bool hold, dfs_readdir_fn fn, void *ctx)
{
	struct dfs_items it = { 0 };
	int rc;

	rc = collect_view(st, ino, &it);
	if (rc == 0)
		dfs_items_emit(st, &it, off, dfs_view_entry_attr, hold, fn,
			       ctx);
	free(it.v);
	return rc;
}

static int views_readlink(struct dfs_store *st, uint64_t ino, char *buf,
			  size_t cap)
{
	struct dfs_snode si;
	int rc;

	rc = dfs_snode_info(st, dfs_eview_snode(ino), &si);
	if (rc == 0 && !S_ISLNK(si.mode))
		rc = -EINVAL;
	if (rc == 0)
		snprintf(buf, cap, "%s", si.target);
	return rc < 0 ? rc : (int)strlen(buf);
}

/* ---- creating ----------------------------------------------------------------- */

/* A temporary file of a copy tool in parent: what it stands for. */
static int make_temp(struct dfs_store *st, const struct dfs_actor *actor,
		     int64_t env, uint64_t parent, const char *name,
		     const char *base, uint32_t mode, struct dfs_attr *ret)
{
	int64_t dir = dfs_eview_snode(parent), s;
	struct dfs_temp *t = dfs_temp_new(st, env, parent, name, mode, actor);
	struct dfs_snode si;

	if (!t)
		return -ENOMEM;
	if (dfs_snode_child(st, dir, base, &s) == 0 &&
	    dfs_snode_info(st, s, &si) == 0 && S_ISREG(si.mode))
		t->expect = s;
	/* rsync cuts NAME to fit .NAME.XXXXXX in 255 bytes */
	if (!t->expect && strlen(name) > 200 &&
	    dfs_snode_prefix(st, dir, base, &s) == 0 &&
	    dfs_snode_info(st, s, &si) == 0 && S_ISREG(si.mode))
		t->expect = s;
	/* rsync's temporary of .NAME is .NAME.XXXXXX too */
	if (!t->expect && name[0] == '.') {
		char dotted[DFS_NAME_MAX + 2];

		snprintf(dotted, sizeof(dotted), ".%s", base);
		if (dfs_snode_child(st, dir, dotted, &s) == 0 &&
		    dfs_snode_info(st, s, &si) == 0 && S_ISREG(si.mode))
			t->expect = s;
	}
	return dfs_temp_attr_locked(st, t, ret);
}

/* name (mode's type) is the package's entry s: make it in the view. */
static int make_entry(struct dfs_store *st, const struct dfs_actor *actor,
		      int64_t env, int64_t s, uint32_t mode,
		      struct dfs_attr *ret)
{
	struct dfs_stage *sg;
	struct dfs_pkg p;
	bool deployed;
	int rc;

	if (dfs_stage_visible(st, env, s, &p, &deployed, &sg))
		return -EEXIST;
	if (!sg) {
		sg = dfs_stage_new(st, &p, env, false, actor);
		if (!sg)
			return -ENOMEM;
	}
	if (S_ISREG(mode)) {
		/* Made, empty: verified at its close. */
		rc = dfs_idset_add(&sg->made, s);
		dfs_idset_del(&sg->gone, s);
	} else {
		rc = dfs_stage_done(st, actor, sg, s);
	}
	return rc < 0 ? rc
		      : dfs_view_attr_locked(st, dfs_eview_ino(env, s), ret);
}

static int views_create(struct dfs_store *st, const struct dfs_actor *actor,
			uint64_t parent, const char *name, uint32_t mode,
			uint64_t rdev, const char *target, struct dfs_attr *ret)
{
	int64_t env = dfs_eview_env(parent), s = 0;
	struct dfs_stage *sg = NULL;
	struct dfs_snode si;
	struct dfs_env e;
	struct dfs_pkg p;
	bool deployed;
	char base[DFS_NAME_MAX + 1], why[2 * DFS_NAME_MAX + 64];
	int rc;

	if (!dfs_stage_visible(st, env, dfs_eview_snode(parent), &p, &deployed,
			       &sg))
		return -ENOENT;
	rc = dfs_env_by_id(st, env, &e);
	if (rc < 0)
		return rc;
	if (dfs_snode_child(st, dfs_eview_snode(parent), name, &s) == 0 &&
	    dfs_snode_info(st, s, &si) == 0 &&
	    (si.mode & S_IFMT) == (mode & S_IFMT) &&
	    (!S_ISLNK(mode) || strcmp(si.target, target) == 0))
		return make_entry(st, actor, env, s, mode, ret);
	/* tar extracts a link as an empty placeholder first, and swaps in
	 * the link at the end. */
	if (S_ISREG(mode) && s && S_ISLNK(si.mode)) {
		struct dfs_temp *t =
			dfs_temp_new(st, env, parent, name, mode, actor);

		return t ? dfs_temp_attr_locked(st, t, ret) : -ENOMEM;
	}
	if (S_ISREG(mode) && dfs_temp_base(name, base, sizeof(base)))
		return make_temp(st, actor, env, parent, name, base, mode, ret);
	snprintf(why, sizeof(why), "%s is not in %s@%s%s", name, p.component,
		 p.version,
		 s ? (S_ISLNK(mode) ? " as a link to that target"
				    : " as that type")
		   : "");
	dfs_audit_refuse(st, actor, "deploy", e.name, p.component, p.version,
			 -EPERM, why);
	return -EPERM;
}

/* ---- removing ------------------------------------------------------------------ */

/* Does the view's folder s still list anything (entries or temps)? */
static int has_entries(struct dfs_store *st, int64_t env, int64_t s)
{
	struct dfs_idnames kids = { 0 };
	int rc = dfs_snode_children(st, s, 0, &kids);

	for (size_t i = 0; rc == 0 && i < kids.n; i++) {
		struct dfs_stage *sg;
		struct dfs_pkg p;
		bool deployed;

		if (dfs_stage_visible(st, env, kids.v[i].id, &p, &deployed,
				      &sg))
			rc = -ENOTEMPTY;
	}
	dfs_idnames_free(&kids);
	for (struct dfs_temp *t = st->trees->temps; rc == 0 && t; t = t->next)
		if (t->parent == dfs_eview_ino(env, s))
			rc = -ENOTEMPTY;
	return rc;
}

static int views_remove(struct dfs_store *st, const struct dfs_actor *actor,
			uint64_t dir, const char *name, bool isdir)
{
	int64_t env = dfs_eview_env(dir), s;
	struct dfs_stage *sg;
	struct dfs_snode si;
	struct dfs_temp *t;
	struct dfs_pkg p;
	bool deployed;
	int rc;

	t = dfs_temp_by_name(st, dir, name);
	if (t) {
		if (isdir)
			return -ENOTDIR;
		dfs_temp_drop(st, t);
		return 0;
	}
	if (dfs_snode_child(st, dfs_eview_snode(dir), name, &s) < 0 ||
	    !dfs_stage_visible(st, env, s, &p, &deployed, &sg) ||
	    dfs_snode_info(st, s, &si) < 0)
		return -ENOENT;
	if (isdir != S_ISDIR(si.mode))
		return isdir ? -ENOTDIR : -EISDIR;
	if (isdir) {
		rc = has_entries(st, env, s);
		if (rc < 0)
			return rc;
	}
	if (!sg) {
		struct dfs_actor nobody = { 0 };

		sg = dfs_stage_new(st, &p, env, false, &nobody);
		if (!sg)
			return -ENOMEM;
	}
	if (!sg->staging) {
		dfs_idset_del(&sg->made, s);
		return dfs_idset_add(&sg->gone, s);
	}
	dfs_idset_del(&sg->made, s);
	if (dfs_idset_has(&sg->ok, s)) {
		dfs_idset_del(&sg->ok, s);
		dfs_stage_save_progress(st, sg);
	}
	return 0;
}

/* ---- attributes ---------------------------------------------------------------- */

static int views_setattr(struct dfs_store *st, uint64_t ino,
			 const struct dfs_setattr *sa, struct dfs_attr *ret)
{
	struct dfs_stage *sg = NULL;
	struct dfs_verify *v;
	struct dfs_pkg p;
	int rc;

	rc = dfs_view_attr_locked(st, ino, ret);
	if (rc < 0)
		goto out;
	v = dfs_verify_find(st, ino);
	if ((sa->valid & DFS_SET_SIZE) && v) {
		rc = dfs_verify_truncate(st, v, sa->size);
		if (rc == 0)
			rc = dfs_view_attr_locked(st, ino, ret);
		goto out;
	}
	if (dfs_pkg_of_snode(st, dfs_eview_snode(ino), &p) == 0)
		sg = dfs_stage_find(st, dfs_eview_env(ino), p.id);
	/* Staging: the deployed folder shows the package's metadata, so
	 * whatever a copy sets is let through and left aside. */
	if (sg && sg->staging && !(sa->valid & DFS_SET_SIZE))
		goto out;
	if (!dfs_setattr_is_noop(ret, sa))
		rc = -EROFS;
out:
	return rc;
}

static int views_open(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, int flags, struct dfs_file **ret)
{
	struct dfs_blob_src src;
	struct dfs_attr a;
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = dfs_view_attr_locked(st, ino, &a);
	if (rc == 0 && S_ISDIR(a.mode))
		rc = -EISDIR;
	if (rc == 0 && !S_ISREG(a.mode))
		rc = -EINVAL;
	if (rc == 0 && (flags & O_ACCMODE) == O_RDONLY)
		rc = dfs_snode_blob(st, dfs_eview_snode(ino), &src.mode,
				    &src.size, &src.hash);
	pthread_mutex_unlock(&st->lock);
	if (rc < 0)
		return rc;
	if ((flags & O_ACCMODE) != O_RDONLY)
		return dfs_envfile_open(st, actor, ino, flags, ret);
	/* Reading: the package's own file. */
	return dfs_content_open(
		st, DFS_INO_SNODE_BASE + (uint64_t)dfs_eview_snode(ino), flags,
		&src, ret);
}

/* The deployment's own attributes (state, progress, ...) describe it,
 * they are not content: rsync -X removing them, as the package has none,
 * changes nothing. */
static int views_xattr_remove(struct dfs_store *st, uint64_t ino,
			      const char *name)
{
	return strncmp(name, "user.deployfs.", 14) == 0 ? 0 : -ENODATA;
}

/* ENV/N@V and below: the package's node seen from ENV. */
static void views_describe(struct dfs_store *st, uint64_t ino,
			   struct dfs_where *ret)
{
	struct dfs_env e;

	if (dfs_env_by_id(st, dfs_eview_env(ino), &e) < 0)
		snprintf(e.name, sizeof(e.name), "?");
	dfs_snode_where(st, dfs_eview_snode(ino), e.name, ret);
	snprintf(ret->env, sizeof(ret->env), "%s", e.name);
}

const struct dfs_tree_ops dfs_views_tree = {
	.name = "views",
	.none = -EROFS,
	.describe = views_describe,
	.lookup = views_lookup,
	.getattr = dfs_view_attr_locked,
	.readdir = views_readdir,
	.readlink = views_readlink,
	.create = views_create,
	.remove = views_remove,
	.rename = dfs_env_rename,
	.setattr = views_setattr,
	.open = views_open,
	.xattr_get = dfs_env_xattr_get,
	.xattr_set = dfs_env_xattr_set,
	.xattr_list = dfs_env_xattr_list,
	.xattr_remove = views_xattr_remove,
};
