// SPDX-License-Identifier: MIT
/*
 * views.c - ENV/N@V and everything below it: a package's snapshot nodes
 * seen from an environment (the environment's id and the snode's id in
 * one inode number).  Deployed, it is the package: read-only (EROFS),
 * every entry with the package's bytes and attributes.  Staging, it shows
 * what the copy made so far, each entry checked against the package as it
 * is made (EPERM for what the package does not have, EACCES for what the
 * copier may not read there) and its bytes as they are written
 * (envfile.c); reading one gives only what the copier wrote.  Copy tools'
 * temporaries are let in and judged at the rename that puts them in
 * place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trees.h"

/* The copy in progress of ino's package in its environment, if it is
 * not deployed there (*ret_deployed: it is). */
static struct dfs_stage *stage_in(struct dfs_store *st, uint64_t ino,
				  struct dfs_pkg *p, bool *ret_deployed)
{
	int64_t env = dfs_eview_env(ino);
	struct dfs_dep d;

	*ret_deployed = false;
	if (dfs_pkg_of_snode(st, dfs_eview_snode(ino), p) < 0)
		return NULL;
	*ret_deployed = dfs_dep_of_pkg(st, env, p->id, &d) == 0;
	return *ret_deployed ? NULL : dfs_stage_find(st, env, p->id);
}

static struct dfs_stage *stage_of(struct dfs_store *st, uint64_t ino,
				  struct dfs_pkg *p)
{
	bool deployed;

	return stage_in(st, ino, p, &deployed);
}

int dfs_view_attr_locked(struct dfs_store *st, uint64_t ino,
			 struct dfs_attr *ret)
{
	char shown[DFS_SYMLINK_MAX + 1];
	int64_t s = dfs_eview_snode(ino);
	struct dfs_stage *sg;
	struct dfs_verify *v;
	struct dfs_attr pkg;
	struct dfs_pkg p = { 0 };
	bool deployed;
	int rc = dfs_snode_attr(st, s, ret);

	if (rc < 0)
		return rc;
	/* A link to a required component leads to ENV/NAME. */
	if (S_ISLNK(ret->mode) &&
	    dfs_link_shown(st, s, 1, shown, sizeof(shown)) == 0)
		ret->size = strlen(shown);
	ret->ino = ino;
	ret->flags = 0;
	sg = stage_in(st, ino, &p, &deployed);
	/* N@V comes and goes behind the kernel's back (a deploy that
	 * replaces it, an undeploy, another host's act).  The kernel may
	 * keep its entry a second, so a copy into it, which names each file
	 * by its path, does not look N@V up again for every file.  When it
	 * goes, its attributes are dropped before that call is answered
	 * (stage.c dfs_env_notice_gone), so the next stat of it, or walk
	 * through it, asks here, and is told it is gone; the entry itself
	 * is dropped just after.  What is below it is reached through it. */
	if (s == p.root && !deployed && !sg)
		return -ENOENT;
	if (s == p.root)
		ret->flags = DFS_NODE_ENTRY_BRIEF;
	if (!sg)
		return 0; /* deployed: the package's own */
	/* A copy in progress belongs to whoever copies; its group and
	 * others keep the package's bits (the copier may read it all, or
	 * would not have made it).  A file shows what was written of it. */
	pkg = *ret;
	ret->uid = sg->uid;
	ret->mode |= S_ISDIR(ret->mode) ? S_IRWXU : S_IRUSR | S_IWUSR;
	if (S_ISREG(ret->mode)) {
		v = dfs_verify_find(st, ino);
		ret->size = v				? v->size
			    : dfs_idset_has(&sg->ok, s) ? pkg.size
							: 0;
		ret->blocks = (ret->size + 511) / 512;
	}
	/* The kernel may keep these: only calls it sees change them, but
	 * for the end of the copy (dfs_stage_drop) and the last close of a
	 * file (envfile.c), which tell it. */
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
	int rc = dfs_link_shown(st, dfs_eview_snode(ino), 1, buf, cap);

	return rc < 0 ? rc : (int)strlen(buf);
}

/* ---- creating ----------------------------------------------------------------- */

/* A change refused in ENV/N@V, deployed: recorded, EROFS. */
static int read_only(struct dfs_store *st, const struct dfs_actor *actor,
		     int64_t env, const struct dfs_pkg *p, const char *what,
		     const char *name)
{
	char why[4 * DFS_NAME_MAX + 2 * DFS_LABEL_MAX + 128];
	struct dfs_env e;

	snprintf(why, sizeof(why),
		 "%s %s: %s@%s is deployed, read-only (rm ENV/%s or rmdir "
		 "ENV/%s@%s undeploys it)",
		 what, name, p->component, p->version, p->component,
		 p->component, p->version);
	if (dfs_env_by_id(st, env, &e) == 0)
		dfs_audit_refuse(st, actor, "deploy", e.name, p->component,
				 p->version, -EROFS, why);
	return -EROFS;
}

/*
 * A refusal in sg's copy (EPERM: not in the package, EACCES: the copier
 * may not read it there): recorded, and the copy will not deploy.
 */
static int refuse(struct dfs_store *st, const struct dfs_actor *actor,
		  struct dfs_stage *sg, const struct dfs_env *e,
		  const struct dfs_pkg *p, int rc, const char *why)
{
	dfs_audit_refuse(st, actor, "deploy", e->name, p->component, p->version,
			 rc, why);
	dfs_stage_taint(sg, why);
	return rc;
}

/* May actor copy the package's entry s (read it in packages/)? */
static bool may_copy(struct dfs_store *st, const struct dfs_actor *actor,
		     int64_t s)
{
	struct dfs_attr a;

	return dfs_snode_attr(st, s, &a) == 0 && dfs_may_read(actor, &a);
}

/* The package's regular file a copy tool's temporary name stands for. */
static int64_t temp_expects(struct dfs_store *st, int64_t dir, const char *name,
			    const char *base)
{
	struct dfs_snode si;
	int64_t s;

	if (dfs_snode_child(st, dir, base, &s) == 0 &&
	    dfs_snode_info(st, s, &si) == 0 && S_ISREG(si.mode))
		return s;
	/* rsync cuts NAME to fit .NAME.XXXXXX in 255 bytes */
	if (strlen(name) > 200 && dfs_snode_prefix(st, dir, base, &s) == 0 &&
	    dfs_snode_info(st, s, &si) == 0 && S_ISREG(si.mode))
		return s;
	/* rsync's temporary of .NAME is .NAME.XXXXXX too */
	if (name[0] == '.') {
		char dotted[DFS_NAME_MAX + 2];

		snprintf(dotted, sizeof(dotted), ".%s", base);
		if (dfs_snode_child(st, dir, dotted, &s) == 0 &&
		    dfs_snode_info(st, s, &si) == 0 && S_ISREG(si.mode))
			return s;
	}
	return 0;
}

/* rsync makes a link's replacement as .NAME.PID, then renames it. */
static bool link_temp_base(const char *name, char *buf, size_t cap)
{
	const char *dot = strrchr(name, '.');

	if (dfs_temp_base(name, buf, cap))
		return true;
	if (name[0] != '.' || !dot || dot - name < 2 || !dot[1] ||
	    strspn(dot + 1, "0123456789") != strlen(dot + 1))
		return false;
	snprintf(buf, cap, "%.*s", (int)(dot - name - 1), name + 1);
	return true;
}

/* name (mode's type) is the package's entry s: make it in the copy. */
static int make_entry(struct dfs_store *st, const struct dfs_actor *actor,
		      struct dfs_stage *sg, int64_t s, uint32_t mode,
		      struct dfs_attr *ret)
{
	int64_t env = sg->env; /* sg is freed when this entry deploys it */
	int rc;

	if (dfs_idset_has(&sg->made, s))
		return -EEXIST;
	if (S_ISREG(mode)) {
		/* Made, empty: verified at its close. */
		rc = dfs_idset_add(&sg->made, s);
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
	int64_t env = dfs_eview_env(parent), dir = dfs_eview_snode(parent);
	struct dfs_stage *sg = NULL;
	struct dfs_snode si;
	struct dfs_temp *t;
	struct dfs_env e;
	struct dfs_pkg p;
	bool deployed;
	char base[DFS_NAME_MAX + 1], why[2 * DFS_NAME_MAX + 128];
	int64_t s = 0, ls;
	int rc;

	if (!dfs_stage_visible(st, env, dir, &p, &deployed, &sg))
		return -ENOENT;
	if (dfs_snode_child(st, dir, name, &s) < 0 ||
	    dfs_snode_info(st, s, &si) < 0)
		s = 0;
	/* rsync replaces a link through .NAME.XXXXXX: the same link. */
	if (!s && S_ISLNK(mode) && link_temp_base(name, base, sizeof(base)) &&
	    dfs_snode_child(st, dir, base, &ls) == 0 &&
	    dfs_link_target_is(st, ls, target)) {
		t = dfs_temp_new(st, env, parent, name, mode, actor);
		if (!t)
			return -ENOMEM;
		t->expect = ls;
		t->same_link = true;
		return dfs_temp_attr_locked(st, t, ret);
	}
	/* Deployed, it is the package: nothing is made in it. */
	if (deployed)
		return s ? -EEXIST
			 : read_only(st, actor, env, &p, "making", name);
	rc = dfs_env_by_id(st, env, &e);
	if (rc < 0)
		return rc;
	if (s && (si.mode & S_IFMT) == (mode & S_IFMT) &&
	    (!S_ISLNK(mode) || dfs_link_target_is(st, s, target))) {
		if (!may_copy(st, actor, s)) {
			snprintf(why, sizeof(why),
				 "%s: no permission to read it in %s@%s", name,
				 p.component, p.version);
			return refuse(st, actor, sg, &e, &p, -EACCES, why);
		}
		return make_entry(st, actor, sg, s, mode, ret);
	}
	/* tar extracts a link as an empty placeholder first, and swaps in
	 * the link at the end. */
	if (S_ISREG(mode) && s && S_ISLNK(si.mode)) {
		t = dfs_temp_new(st, env, parent, name, mode, actor);
		return t ? dfs_temp_attr_locked(st, t, ret) : -ENOMEM;
	}
	if (S_ISREG(mode) && dfs_temp_base(name, base, sizeof(base))) {
		/* A copy tool's temporary: what it stands for, checked at
		 * its rename. */
		int64_t want = temp_expects(st, dir, name, base);

		if (want && !may_copy(st, actor, want)) {
			snprintf(why, sizeof(why),
				 "%s: no permission to read it in %s@%s", base,
				 p.component, p.version);
			return refuse(st, actor, sg, &e, &p, -EACCES, why);
		}
		t = dfs_temp_new(st, env, parent, name, mode, actor);
		if (!t)
			return -ENOMEM;
		t->expect = want;
		return dfs_temp_attr_locked(st, t, ret);
	}
	snprintf(why, sizeof(why), "%s is not in %s@%s%s", name, p.component,
		 p.version,
		 s ? (S_ISLNK(mode) ? " as a link to that target"
				    : " as that type")
		   : "");
	return refuse(st, actor, sg, &e, &p, -EPERM, why);
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
	/* Deployed, it is the package: undeploy it whole (rm ENV/N,
	 * rmdir ENV/N@V), never a part of it. */
	if (deployed)
		return read_only(st, actor, env, &p, "removing", name);
	if (isdir != S_ISDIR(si.mode))
		return isdir ? -ENOTDIR : -EISDIR;
	if (isdir) {
		rc = has_entries(st, env, s);
		if (rc < 0)
			return rc;
	}
	dfs_idset_del(&sg->made, s);
	if (dfs_idset_has(&sg->ok, s)) {
		dfs_idset_del(&sg->ok, s);
		dfs_stage_save_progress(st, sg);
	}
	return 0;
}

/* ---- attributes ---------------------------------------------------------------- */

static int views_setattr(struct dfs_store *st, const struct dfs_actor *actor,
			 uint64_t ino, const struct dfs_setattr *sa,
			 struct dfs_attr *ret)
{
	struct dfs_stage *sg;
	struct dfs_verify *v;
	struct dfs_pkg p;
	int rc;

	rc = dfs_view_attr_locked(st, ino, ret);
	if (rc < 0)
		return rc;
	v = dfs_verify_find(st, ino);
	if ((sa->valid & DFS_SET_SIZE) && v) {
		rc = dfs_verify_truncate(st, v, sa->size);
		return rc < 0 ? rc : dfs_view_attr_locked(st, ino, ret);
	}
	sg = stage_of(st, ino, &p);
	/* Staging: the deployed folder will show the package's metadata,
	 * so whatever a copy sets is let through and left aside.  A size
	 * is what the copy writes (an open file's): emptying a file it made
	 * and did not open forgets what was verified of it. */
	if (sg && (sa->valid & DFS_SET_SIZE) && sa->size == 0 &&
	    S_ISREG(ret->mode)) {
		if (dfs_idset_has(&sg->ok, dfs_eview_snode(ino))) {
			dfs_idset_del(&sg->ok, dfs_eview_snode(ino));
			dfs_stage_save_progress(st, sg);
		}
		return dfs_view_attr_locked(st, ino, ret);
	}
	if (sg && !(sa->valid & DFS_SET_SIZE))
		return 0;
	return dfs_setattr_is_noop(ret, sa) ? 0 : sg ? -EPERM : -EROFS;
}

static int views_open(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, int flags, struct dfs_file **ret)
{
	bool writing = (flags & O_ACCMODE) != O_RDONLY, mine = false;
	struct dfs_blob_src src;
	struct dfs_snode si;
	struct dfs_stage *sg;
	struct dfs_attr a;
	struct dfs_pkg p;
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = dfs_view_attr_locked(st, ino, &a);
	if (rc == 0 && S_ISDIR(a.mode))
		rc = -EISDIR;
	if (rc == 0 && !S_ISREG(a.mode))
		rc = -EINVAL;
	sg = rc == 0 ? stage_of(st, ino, &p) : NULL;
	/* Deployed, it is the package: read-only. */
	if (rc == 0 && !sg && writing &&
	    dfs_pkg_of_snode(st, dfs_eview_snode(ino), &p) == 0 &&
	    dfs_snode_info(st, dfs_eview_snode(ino), &si) == 0)
		rc = read_only(st, actor, dfs_eview_env(ino), &p, "writing to",
			       si.name);
	else if (rc == 0 && !sg && writing)
		rc = -EROFS;
	/* Staging, a file the copy has not verified shows only what the
	 * copy wrote (envfile.c), never the package's bytes. */
	if (rc == 0 && sg)
		mine = writing || !dfs_idset_has(&sg->ok, dfs_eview_snode(ino));
	if (rc == 0 && !mine)
		rc = dfs_snode_blob(st, dfs_eview_snode(ino), &src.mode,
				    &src.size, &src.hash);
	pthread_mutex_unlock(&st->lock);
	if (rc < 0)
		return rc;
	if (mine)
		return dfs_envfile_open(st, actor, ino, flags, ret);
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
