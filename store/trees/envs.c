// SPDX-License-Identifier: MIT
/*
 * envs.c - environments/ and each environment folder ENV in it: mkdir and
 * rmdir of environments; in ENV, the link `N` of each deployment
 * (../../packages/N/N@V), the folder `N@V` of each deployment or copy in
 * progress (views.c), and the temporaries of copy tools (stage.c).  Deploy
 * by link (`ln -s`, or `ln -sfn`'s rename of a temporary link over N),
 * start a copy (`mkdir ENV/N@V`), undeploy (`rm ENV/N`, `rmdir ENV/N@V`).
 * See docs/environments.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trees.h"

static int env_attr(struct dfs_store *st, int64_t id, struct dfs_attr *ret)
{
	struct dfs_attr a = { 0 };
	struct dfs_env e;
	int rc = dfs_env_by_id(st, id, &e);

	if (rc < 0)
		return rc;
	a.ino = DFS_INO_ENV_BASE + (uint64_t)id;
	a.mode = S_IFDIR | (e.mode & 07777);
	a.uid = e.uid;
	a.gid = e.gid;
	a.nlink = 2;
	a.size = 4096;
	a.blocks = 8;
	a.mtime = a.atime = dfs_ns_to_ts(e.mtime);
	a.ctime = dfs_ns_to_ts(e.ctime);
	/* Its attributes change through the kernel (chmod, chown); what it
	 * lists changes as copies complete and others deploy. */
	a.flags = DFS_NODE_LIST_VOLATILE;
	*ret = a;
	return 0;
}

int dfs_envs_attr_locked(struct dfs_store *st, uint64_t ino,
			 struct dfs_attr *ret)
{
	int64_t n = 0;
	int rc;

	if (dfs_is_deplink(ino))
		return dfs_deplink_attr_locked(
			st, (int64_t)(ino - DFS_INO_DEPLINK_BASE), ret);
	if (ino != DFS_INO_ENVIRONMENTS)
		return env_attr(st, (int64_t)(ino - DFS_INO_ENV_BASE), ret);
	rc = dfs_inode_attr(st, DFS_INO_ENVIRONMENTS, ret);
	if (rc == 0 && dfs_env_count(st, &n) == 0)
		ret->nlink = 2 + (uint32_t)n;
	ret->flags |= DFS_NODE_SYSTEM;
	return rc;
}

/* ---- lookup and listing --------------------------------------------------- */

static int lookup_in_env(struct dfs_store *st, int64_t env, uint64_t parent,
			 const char *name, struct dfs_attr *ret)
{
	struct dfs_component c;
	struct dfs_stage *sg;
	struct dfs_temp *t;
	struct dfs_pkg p;
	struct dfs_dep d;

	t = dfs_temp_by_name(st, parent, name);
	if (t)
		return dfs_temp_attr_locked(st, t, ret);
	/* Not listed: a listing of ENV is what is deployed, and a copy of
	 * the whole environment (cp -r ENV/. OTHER/) carries no extensions
	 * (docs/environments.md, "Extensions"). */
	if (strcmp(name, DFS_ENV_EXTENSIONS) == 0)
		return dfs_ext_root_attr(st, env, ret);
	if (strcmp(name, DFS_ENV_EFFECTIVE) == 0)
		return dfs_eff_top_attr(st, env, ret);
	if (strchr(name, '@')) {
		if (dfs_env_parse_pkg(st, name, &p) < 0)
			return -ENOENT;
		sg = dfs_stage_find(st, env, p.id);
		if (dfs_dep_of_pkg(st, env, p.id, &d) < 0 && !sg)
			return -ENOENT;
		return dfs_view_attr_locked(st, dfs_eview_ino(env, p.root),
					    ret);
	}
	if (dfs_component_by_name(st, name, &c) < 0 ||
	    dfs_dep_of_comp(st, env, c.id, &d) < 0)
		return -ENOENT;
	return dfs_deplink_attr_locked(st, d.id, ret);
}

static int envs_lookup(struct dfs_store *st, uint64_t parent, const char *name,
		       struct dfs_attr *ret)
{
	struct dfs_env e;
	int rc;

	if (parent == DFS_INO_ENVIRONMENTS) {
		rc = dfs_env_by_name(st, name, &e);
		if (rc == 0)
			rc = env_attr(st, e.id, ret);
	} else if (dfs_is_env_dir(parent)) {
		rc = lookup_in_env(st, (int64_t)(parent - DFS_INO_ENV_BASE),
				   parent, name, ret);
	} else {
		rc = -ENOTDIR;
	}
	return rc;
}

/* Offsets: deployments 2 * id (+1 for N@V), stages 2^41 + root,
 * temporaries DFS_OFF_TEMP + id, environments their ids. */
#define OFF_STAGE (1ull << 41)

static int collect_env(struct dfs_store *st, int64_t env, uint64_t dir,
		       struct dfs_items *it)
{
	char name[2 * DFS_NAME_MAX + 2];
	struct dfs_dep *d = NULL, dep;
	size_t n = 0;
	int rc = dfs_dep_active(st, env, &d, &n);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint64_t off = 2 * (uint64_t)d[i].id;

		snprintf(name, sizeof(name), "%s@%s", d[i].component,
			 d[i].version);
		rc = dfs_items_add(it, off,
				   DFS_INO_DEPLINK_BASE + (uint64_t)d[i].id,
				   d[i].component);
		if (rc == 0)
			rc = dfs_items_add(it, off + 1,
					   dfs_eview_ino(env, d[i].root), name);
	}
	free(d);
	/* A copy in progress of what is deployed shows once: deployed. */
	for (struct dfs_stage *sg = st->trees->stages; rc == 0 && sg;
	     sg = sg->next)
		if (sg->env == env &&
		    dfs_dep_of_pkg(st, env, sg->package, &dep) < 0)
			rc = dfs_items_add(it, OFF_STAGE + (uint64_t)sg->root,
					   dfs_eview_ino(env, sg->root),
					   sg->name);
	return rc < 0 ? rc : dfs_temps_list(st, dir, it);
}

/* The attributes of an entry of environments/ or of ENV. */
static int entry_attr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	if (dfs_is_eview(ino) || dfs_is_temp(ino))
		return dfs_view_entry_attr(st, ino, ret);
	return dfs_envs_attr_locked(st, ino, ret);
}

static int envs_readdir(struct dfs_store *st, uint64_t ino, uint64_t off,
			bool hold, dfs_readdir_fn fn, void *ctx)
{
	struct dfs_idnames l = { 0 };
	struct dfs_items it = { 0 };
	int rc;

	if (ino == DFS_INO_ENVIRONMENTS) {
		rc = dfs_env_list(st, &l);
		for (size_t i = 0; rc == 0 && i < l.n; i++)
			rc = dfs_items_add(&it, (uint64_t)l.v[i].id,
					   DFS_INO_ENV_BASE +
						   (uint64_t)l.v[i].id,
					   l.v[i].name);
		dfs_idnames_free(&l);
	} else if (dfs_is_env_dir(ino)) {
		rc = collect_env(st, (int64_t)(ino - DFS_INO_ENV_BASE), ino,
				 &it);
	} else {
		rc = -ENOTDIR;
	}
	if (rc == 0)
		dfs_items_emit(st, &it, off, entry_attr, hold, fn, ctx);
	free(it.v);
	return rc;
}

static int envs_readlink(struct dfs_store *st, uint64_t ino, char *buf,
			 size_t cap)
{
	struct dfs_dep d;
	struct dfs_attr a;
	int rc;

	if (dfs_is_deplink(ino)) {
		rc = dfs_dep_by_id(st, (int64_t)(ino - DFS_INO_DEPLINK_BASE),
				   &d);
		if (rc == 0)
			dfs_dep_target(d.component, d.version, buf, cap);
	} else {
		rc = dfs_envs_attr_locked(st, ino, &a) < 0 ? -ENOENT : -EINVAL;
	}
	return rc < 0 ? rc : (int)strlen(buf);
}

/* ---- creating ------------------------------------------------------------------ */

/* mkdir ENV/N@V: a staging folder. */
static int mkdir_stage(struct dfs_store *st, const struct dfs_actor *actor,
		       const struct dfs_env *e, const char *name,
		       struct dfs_attr *ret)
{
	struct dfs_stage *sg;
	struct dfs_attr a;
	struct dfs_pkg p;
	struct dfs_dep d;
	int rc = dfs_env_parse_pkg(st, name, &p);

	if (rc < 0) {
		/* ENOENT: a known component; name it in the record. */
		char comp[DFS_NAME_MAX + 1] = "";
		const char *at = strchr(name, '@');

		if (rc == -ENOENT && at)
			snprintf(comp, sizeof(comp), "%.*s", (int)(at - name),
				 name);
		dfs_audit_refuse(
			st, actor, "deploy", e->name, comp[0] ? comp : NULL,
			comp[0] ? at + 1 : NULL, rc,
			rc == -ENOENT
				? "no such version of the component is packaged"
				: "not the name of a package (NAME@VERSION "
				  "of a deployable component)");
		return rc;
	}
	if (dfs_reserve_spent(st))
		return -ENOSPC; /* the last room is for what frees space */
	/* A package with a damaged blob is not deployed (st->lock may be
	 * let go: what follows looks again). */
	rc = dfs_pkg_check(st, actor, e->id, p.id);
	if (rc < 0)
		return rc;
	if (dfs_dep_of_pkg(st, e->id, p.id, &d) == 0 ||
	    dfs_stage_find(st, e->id, p.id))
		return -EEXIST;
	rc = dfs_pkg_deployable(st, actor, e->name, &p,
				dfs_force_take(st, actor, e->id, p.id, false));
	if (rc < 0)
		return rc;
	/* A copy shows its entries to its copier: who may read them. */
	if (dfs_snode_attr(st, p.root, &a) < 0 || !dfs_may_read(actor, &a)) {
		dfs_audit_refuse(st, actor, "deploy", e->name, p.component,
				 p.version, -EACCES,
				 "no permission to read the package's folder");
		return -EACCES;
	}
	sg = dfs_stage_new(st, &p, e->id, actor);
	if (!sg)
		return -ENOMEM;
	rc = dfs_staging_add(st, actor, e->id, p.id, sg->entries, &sg->row);
	if (rc == 0 && sg->entries == 0)
		rc = dfs_stage_done(st, actor, sg, sg->root);
	if (rc == 0)
		rc = dfs_view_attr_locked(st, dfs_eview_ino(e->id, p.root),
					  ret);
	return rc;
}

/* mkdir environments/NAME: with a registry, an act of its order. */
static int create_env(struct dfs_store *st, const struct dfs_actor *actor,
		      const char *name, uint32_t mode, int64_t *ret_id)
{
	struct dfs_reg_act act = { .action = "env-create",
				   .env = name,
				   .mode = mode & 07777 };
	struct dfs_env e;
	int rc;

	if (!st->registry || !dfs_name_valid(name) ||
	    dfs_env_by_name(st, name, &e) == 0)
		return dfs_env_create(st, actor, name, mode, ret_id);
	rc = dfs_reg_shared(st, actor, &act);
	if (rc == 0)
		rc = dfs_env_by_name(st, name, &e);
	if (rc == 0)
		*ret_id = e.id;
	return rc;
}

static int envs_create(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t parent, const char *name, uint32_t mode,
		       uint64_t rdev, const char *target, struct dfs_attr *ret)
{
	struct dfs_env e;
	int64_t id = 0;
	int rc;

	if (parent == DFS_INO_ENVIRONMENTS) {
		if (!S_ISDIR(mode))
			return -EPERM;
		rc = create_env(st, actor, name, mode, &id);
		return rc < 0 ? rc : env_attr(st, id, ret);
	}
	if (!dfs_is_env_dir(parent))
		return -ENOTDIR;
	rc = dfs_env_by_id(st, (int64_t)(parent - DFS_INO_ENV_BASE), &e);
	if (rc < 0)
		return rc;
	if (dfs_env_reserved(name))
		return -EEXIST;
	if (S_ISDIR(mode))
		return mkdir_stage(st, actor, &e, name, ret);
	if (S_ISLNK(mode))
		return dfs_env_symlink(st, actor, &e, parent, name, target,
				       ret);
	dfs_audit_refuse(st, actor, "deploy", e.name, NULL, NULL, -EPERM,
			 "only packages (folders or links) go in an "
			 "environment");
	return -EPERM;
}

int dfs_env_record_denied(struct dfs_store *st, const struct dfs_actor *actor,
			  uint64_t ino)
{
	char why[DFS_LABEL_MAX + 96];
	struct dfs_env e;
	int rc;

	if (!dfs_is_env_dir(ino))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	rc = dfs_env_by_id(st, (int64_t)(ino - DFS_INO_ENV_BASE), &e);
	if (rc == 0) {
		snprintf(why, sizeof(why),
			 "no write permission on environments/%s (refused by "
			 "the kernel)",
			 e.name);
		dfs_audit_refuse(st, actor, "access", e.name, NULL, NULL,
				 -EACCES, why);
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- removing ------------------------------------------------------------------- */

int dfs_env_undeploy_here(struct dfs_store *st, const struct dfs_actor *actor,
			  const struct dfs_env *e, const struct dfs_dep *d)
{
	int rc = dfs_undeploy(st, actor, e, d);

	if (rc == 0)
		dfs_env_notice_gone(st, d, false);
	return rc;
}

/* rm ENV/N or rmdir ENV/N@V: with a registry, an act of its order. */
static int undeploy(struct dfs_store *st, const struct dfs_actor *actor,
		    const struct dfs_env *e, const struct dfs_dep *d)
{
	struct dfs_reg_act act = { .action = "undeploy",
				   .env = e->name,
				   .component = d->component,
				   .version = d->version,
				   .deployment = d->number };

	return st->registry ? dfs_reg_shared(st, actor, &act)
			    : dfs_env_undeploy_here(st, actor, e, d);
}

static int remove_in_env(struct dfs_store *st, const struct dfs_actor *actor,
			 int64_t env, uint64_t dir, const char *name,
			 bool isdir)
{
	struct dfs_audit_event ev = { 0 };
	struct dfs_component c;
	struct dfs_stage *sg;
	struct dfs_temp *t;
	struct dfs_env e;
	struct dfs_pkg p;
	struct dfs_dep d;
	int rc = dfs_env_by_id(st, env, &e);

	if (rc < 0)
		return rc;
	if (dfs_env_reserved(name))
		return -EPERM;
	t = dfs_temp_by_name(st, dir, name);
	if (t) {
		if (isdir)
			return -ENOTDIR;
		dfs_temp_drop(st, t);
		return 0;
	}
	if (!strchr(name, '@')) {
		if (dfs_component_by_name(st, name, &c) < 0 ||
		    dfs_dep_of_comp(st, env, c.id, &d) < 0)
			return -ENOENT;
		if (isdir)
			return -ENOTDIR;
		return undeploy(st, actor, &e, &d);
	}
	if (dfs_env_parse_pkg(st, name, &p) < 0)
		return -ENOENT;
	if (!isdir)
		return -EISDIR;
	if (dfs_dep_of_pkg(st, env, p.id, &d) == 0)
		return undeploy(st, actor, &e, &d);
	sg = dfs_stage_find(st, env, p.id);
	if (!sg)
		return -ENOENT;
	ev.action = "staging-remove";
	ev.env = e.name;
	ev.component = p.component;
	ev.version = p.version;
	ev.result = "ok";
	dfs_stage_drop(st, sg);
	return dfs_audit_commit(st, actor, &ev);
}

static int envs_remove(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t parent, const char *name, bool dir)
{
	struct dfs_env e;
	int rc;

	if (parent == DFS_INO_ENVIRONMENTS) {
		rc = !dir ? -EISDIR : dfs_env_by_name(st, name, &e);
		/* With a registry: copies in flight here refuse it here;
		 * what is deployed, everywhere alike (trees/registry.c). */
		if (rc == 0 && st->registry && !dfs_stage_busy(st, e.id))
			rc = dfs_reg_shared(
				st, actor,
				&(struct dfs_reg_act){ .action = "env-remove",
						       .env = name });
		else if (rc == 0)
			rc = dfs_env_remove(st, actor, name,
					    dfs_stage_busy(st, e.id));
	} else if (dfs_is_env_dir(parent)) {
		rc = remove_in_env(st, actor,
				   (int64_t)(parent - DFS_INO_ENV_BASE), parent,
				   name, dir);
	} else {
		rc = -ENOTDIR;
	}
	return rc;
}

/* ---- attributes ------------------------------------------------------------------ */

/* chmod, chown of environments/ENV: with a registry, its owner, group
 * and mode are an act of its order, so every host enforces the same. */
static int set_env(struct dfs_store *st, const struct dfs_actor *actor,
		   int64_t id, const struct dfs_setattr *sa)
{
	const unsigned owning = DFS_SET_MODE | DFS_SET_UID | DFS_SET_GID;
	struct dfs_reg_act act = { .action = "env-attr",
				   .valid = sa->valid & owning,
				   .mode = sa->mode & 07777,
				   .uid = sa->uid,
				   .gid = sa->gid };
	struct dfs_env e;
	int rc = dfs_env_by_id(st, id, &e);

	if (rc < 0 || !st->registry || !act.valid)
		return rc < 0 ? rc : dfs_env_set(st, id, sa);
	act.env = e.name;
	return dfs_reg_shared(st, actor, &act);
}

static int envs_setattr(struct dfs_store *st, const struct dfs_actor *actor,
			uint64_t ino, const struct dfs_setattr *sa,
			struct dfs_attr *ret)
{
	int rc;

	if (dfs_is_env_dir(ino)) {
		rc = set_env(st, actor, (int64_t)(ino - DFS_INO_ENV_BASE), sa);
		if (rc == 0)
			rc = env_attr(st, (int64_t)(ino - DFS_INO_ENV_BASE),
				      ret);
		goto out;
	}
	rc = dfs_envs_attr_locked(st, ino, ret);
	if (rc < 0)
		goto out;
	/* A link N shows when it was deployed: mv and cp -a restoring a
	 * link's times change nothing. */
	if (S_ISLNK(ret->mode) &&
	    !(sa->valid & ~(DFS_SET_ATIME | DFS_SET_MTIME | DFS_SET_ATIME_NOW |
			    DFS_SET_MTIME_NOW | DFS_SET_CTIME)))
		goto out;
	if (!dfs_setattr_is_noop(ret, sa))
		rc = ino == DFS_INO_ENVIRONMENTS ? -EPERM : -EROFS;
out:
	return rc;
}

static int envs_open(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t ino, int flags, struct dfs_file **ret)
{
	return dfs_is_deplink(ino) ? -EINVAL : -EISDIR;
}

static int envs_xattr_remove(struct dfs_store *st, uint64_t ino,
			     const char *name)
{
	return ino == DFS_INO_ENVIRONMENTS ? -EROFS : -EPERM;
}

/* environments/, ENV, a deployment's link ENV/N. */
static void envs_describe(struct dfs_store *st, uint64_t ino,
			  struct dfs_where *ret)
{
	struct dfs_env e;
	struct dfs_dep d;

	snprintf(ret->path, sizeof(ret->path), "environments");
	if (dfs_is_deplink(ino)) {
		if (dfs_dep_by_id(st, (int64_t)(ino - DFS_INO_DEPLINK_BASE),
				  &d) < 0 ||
		    dfs_env_by_id(st, d.env, &e) < 0)
			return;
		snprintf(ret->env, sizeof(ret->env), "%s", e.name);
		snprintf(ret->component, sizeof(ret->component), "%s",
			 d.component);
		snprintf(ret->version, sizeof(ret->version), "%s", d.version);
		snprintf(ret->path, sizeof(ret->path), "environments/%s/%s",
			 e.name, d.component);
	} else if (ino != DFS_INO_ENVIRONMENTS &&
		   dfs_env_by_id(st, (int64_t)(ino - DFS_INO_ENV_BASE), &e) ==
			   0) {
		snprintf(ret->env, sizeof(ret->env), "%s", e.name);
		snprintf(ret->path, sizeof(ret->path), "environments/%s",
			 e.name);
	}
}

const struct dfs_tree_ops dfs_envs_tree = {
	.name = "environments",
	.none = -EPERM,
	.describe = envs_describe,
	.lookup = envs_lookup,
	.getattr = dfs_envs_attr_locked,
	.readdir = envs_readdir,
	.readlink = envs_readlink,
	.create = envs_create,
	.remove = envs_remove,
	.rename = dfs_env_rename,
	.setattr = envs_setattr,
	.open = envs_open,
	.xattr_get = dfs_env_xattr_get,
	.xattr_set = dfs_env_xattr_set,
	.xattr_list = dfs_env_xattr_list,
	.xattr_remove = envs_xattr_remove,
};
