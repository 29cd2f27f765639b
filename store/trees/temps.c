// SPDX-License-Identifier: MIT
/*
 * temps.c - the temporaries of copy tools in environments/, as nodes: a
 * file rsync or tar writes under a name of its own before renaming it
 * into place (checked as it is written, see envfile.c), and the link
 * `ln -sfn` makes before renaming it over ENV/N.  They live in memory
 * (stage.c) until that rename or their removal.  The rename that puts a
 * temporary in place is every environment folder's rename.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "trees.h"

static int temps_getattr(struct dfs_store *st, uint64_t ino,
			 struct dfs_attr *ret)
{
	struct dfs_temp *t;
	int rc;

	t = dfs_temp_by_ino(st, ino);
	rc = t ? dfs_temp_attr_locked(st, t, ret) : -ENOENT;
	return rc;
}

static int temps_readlink(struct dfs_store *st, uint64_t ino, char *buf,
			  size_t cap)
{
	struct dfs_temp *t;
	struct dfs_pkg p;
	int rc;

	t = dfs_temp_by_ino(st, ino);
	if (t && t->same_link) {
		rc = dfs_link_shown(st, t->expect, 1, buf, cap);
		return rc < 0 ? rc : (int)strlen(buf);
	}
	rc = !t ? -ENOENT : !t->is_link ? -EINVAL : 0;
	if (rc == 0)
		rc = dfs_pkg_by_id(st, t->package, &p);
	if (rc == 0)
		dfs_dep_target(p.component, p.version, buf, cap);
	return rc < 0 ? rc : (int)strlen(buf);
}

static int temps_setattr(struct dfs_store *st, const struct dfs_actor *actor,
			 uint64_t ino, const struct dfs_setattr *sa,
			 struct dfs_attr *ret)
{
	struct dfs_verify *v;
	struct dfs_temp *t;
	int rc = 0;

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
	return rc;
}

static int temps_open(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, int flags, struct dfs_file **ret)
{
	struct dfs_attr a;
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = temps_getattr(st, ino, &a);
	pthread_mutex_unlock(&st->lock);
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

static int rename_temp_file(struct dfs_store *st, const struct dfs_actor *actor,
			    struct dfs_temp *t, uint64_t newparent,
			    const char *newname)
{
	int64_t env = t->env, s = 0;
	struct dfs_stage *sg = NULL;
	struct dfs_snode si;
	struct dfs_env e;
	struct dfs_pkg p;
	bool deployed;
	char why[1024];
	int rc;

	rc = dfs_env_by_id(st, env, &e);
	if (rc < 0)
		return rc;
	dfs_stage_visible(st, env, dfs_eview_snode(t->parent), &p, &deployed,
			  &sg);
	if (t->same_link &&
	    dfs_snode_child(st, dfs_eview_snode(t->parent), newname, &s) == 0 &&
	    newparent == t->parent && s == t->expect) {
		/* rsync's copy of a link the folder has: nothing changes. */
		dfs_temp_drop(st, t);
		return sg && !dfs_idset_has(&sg->made, s)
			       ? dfs_stage_done(st, actor, sg, s)
			       : 0;
	}
	/* Deployed meanwhile (by the copy's other entries, or a link): it
	 * is the package now, read-only. */
	if (!sg)
		return -EROFS;
	if (newparent != t->parent ||
	    dfs_snode_child(st, dfs_eview_snode(t->parent), newname, &s) < 0 ||
	    s != t->expect || dfs_snode_info(st, s, &si) < 0 ||
	    !S_ISREG(si.mode)) {
		snprintf(why, sizeof(why), "%s is not in %s@%s", newname,
			 p.component, p.version);
		/* Not the package's entry: the copy is not the package. */
		dfs_stage_taint(sg, why);
	} else if (!t->verified)
		snprintf(why, sizeof(why), "%s: its content differs from %s@%s",
			 newname, p.component, p.version);
	else
		why[0] = '\0';
	if (why[0]) {
		dfs_audit_refuse(st, actor, "deploy", e.name, p.component,
				 p.version, -EPERM, why);
		return -EPERM;
	}
	dfs_temp_drop(st, t);
	return dfs_stage_done(st, actor, sg, s);
}

/*
 * rename under environments/: a temporary renamed to what it stands for
 * (a copy tool's file put in place, ln -sfn's link over N), else nothing
 * moves there (EXDEV, so mv copies; EPERM into environments/ itself).
 */
int dfs_env_rename(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint64_t newparent,
		   const char *newname, unsigned flags)
{
	struct dfs_temp *t = dfs_temp_by_name(st, parent, name);

	if (dfs_env_reserved(name) || dfs_env_reserved(newname))
		return -EPERM;

	if (t && (flags & DFS_RENAME_EXCHANGE))
		return -EINVAL;
	if (t && t->is_link)
		return dfs_env_rename_link(st, actor, t, newparent, newname);
	if (t)
		return rename_temp_file(st, actor, t, newparent, newname);
	if (parent == DFS_INO_ENVIRONMENTS || newparent == DFS_INO_ENVIRONMENTS)
		return -EPERM;
	return -EXDEV;
}

/* A temporary: its environment, and its package when it is a link. */
static void temps_describe(struct dfs_store *st, uint64_t ino,
			   struct dfs_where *ret)
{
	struct dfs_temp *t = dfs_temp_by_ino(st, ino);
	struct dfs_env e;
	struct dfs_pkg p;

	if (!t || dfs_env_by_id(st, t->env, &e) < 0) {
		snprintf(ret->path, sizeof(ret->path), "environments");
		return;
	}
	snprintf(ret->env, sizeof(ret->env), "%s", e.name);
	if (t->is_link && dfs_pkg_by_id(st, t->package, &p) == 0) {
		snprintf(ret->component, sizeof(ret->component), "%s",
			 p.component);
		snprintf(ret->version, sizeof(ret->version), "%s", p.version);
	}
	snprintf(ret->scope, sizeof(ret->scope), "environments/%s", e.name);
	snprintf(ret->path, sizeof(ret->path), "environments/%s/%s%s", e.name,
		 dfs_is_env_dir(t->parent) ? "" : ".../", t->name);
}

const struct dfs_tree_ops dfs_temps_tree = {
	.name = "temporaries",
	.none = -EPERM,
	.describe = temps_describe,
	.getattr = temps_getattr,
	.readlink = temps_readlink,
	.setattr = temps_setattr,
	.open = temps_open,
	.xattr_set = temps_xattr_set,
};
