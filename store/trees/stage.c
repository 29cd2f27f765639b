// SPDX-License-Identifier: MIT
/*
 * stage.c - what is in flight in environments/, kept in memory under
 * st->lock: stages (a copy filling a staging folder ENV/N@V) and
 * temporaries (a copy tool's temporary file, or a link waiting for the
 * rename that deploys it).  The last verified entry of a staging folder
 * deploys it, unless something of the copy was refused.  A daemon
 * restart drops them all: copies in flight never deploy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trees.h"

/* ---- stages ----------------------------------------------------------------- */

struct dfs_stage *dfs_stage_find(struct dfs_store *st, int64_t env,
				 int64_t package)
{
	for (struct dfs_stage *sg = st->trees->stages; sg; sg = sg->next)
		if (sg->env == env && sg->package == package)
			return sg;
	return NULL;
}

static void stage_free(struct dfs_stage *sg)
{
	dfs_idset_free(&sg->made);
	dfs_idset_free(&sg->ok);
	free(sg);
}

void dfs_stage_drop(struct dfs_store *st, struct dfs_stage *sg)
{
	/* Its nodes take the package's owner, mode and sizes (deployed) or
	 * go: the kernel's copies of their attributes are stale. */
	dfs_notice_attr(st, dfs_eview_ino(sg->env, sg->root));
	for (size_t i = 0; i < sg->made.cap; i++)
		if (sg->made.v[i])
			dfs_notice_attr(st,
					dfs_eview_ino(sg->env, sg->made.v[i]));
	for (struct dfs_stage **p = &st->trees->stages; *p; p = &(*p)->next) {
		if (*p == sg) {
			*p = sg->next;
			break;
		}
	}
	dfs_staging_drop(st, sg->row);
	stage_free(sg);
}

struct dfs_stage *dfs_stage_new(struct dfs_store *st, const struct dfs_pkg *p,
				int64_t env, const struct dfs_actor *actor)
{
	struct dfs_stage *sg = calloc(1, sizeof(*sg));

	if (!sg)
		return NULL;
	sg->env = env;
	sg->package = p->id;
	sg->root = p->root;
	sg->uid = actor->uid;
	sg->gid = actor->gid;
	snprintf(sg->name, sizeof(sg->name), "%s@%s", p->component, p->version);
	if (dfs_snode_tree_size(st, p->root, &sg->entries) < 0) {
		free(sg);
		return NULL;
	}
	sg->next = st->trees->stages;
	st->trees->stages = sg;
	return sg;
}

void dfs_stage_taint(struct dfs_stage *sg, const char *why)
{
	if (!sg->why[0])
		snprintf(sg->why, sizeof(sg->why), "%s", why);
}

int64_t dfs_stage_busy(struct dfs_store *st, int64_t env)
{
	int64_t busy = 0;

	for (struct dfs_stage *sg = st->trees->stages; sg; sg = sg->next)
		busy += sg->env == env;
	for (struct dfs_temp *t = st->trees->temps; t; t = t->next)
		busy += t->env == env;
	return busy;
}

void dfs_trees_free(struct dfs_store *st)
{
	if (!st->trees)
		return;
	while (st->trees->stages) {
		struct dfs_stage *sg = st->trees->stages;

		st->trees->stages = sg->next;
		stage_free(sg);
	}
	while (st->trees->temps) {
		struct dfs_temp *t = st->trees->temps;

		st->trees->temps = t->next;
		free(t);
	}
	dfs_idset_free(&st->trees->checked);
	dfs_ext_writes_free(st);
	dfs_idset_free(&st->trees->ext);
	dfs_eff_free(st);
	pthread_mutex_destroy(&st->trees->ext_lock);
	free(st->trees);
	st->trees = NULL;
}

bool dfs_stage_visible(struct dfs_store *st, int64_t env, int64_t s,
		       struct dfs_pkg *p, bool *ret_deployed,
		       struct dfs_stage **ret_sg)
{
	struct dfs_stage *sg;
	struct dfs_dep d;

	*ret_deployed = false;
	*ret_sg = NULL;
	if (dfs_pkg_of_snode(st, s, p) < 0)
		return false;
	*ret_deployed = dfs_dep_of_pkg(st, env, p->id, &d) == 0;
	if (*ret_deployed)
		return true;
	sg = dfs_stage_find(st, env, p->id);
	*ret_sg = sg;
	return sg && (s == p->root || dfs_idset_has(&sg->made, s));
}

/* ---- deploying ---------------------------------------------------------------- */

void dfs_env_notice_gone(struct dfs_store *st, const struct dfs_dep *d,
			 bool link_stays)
{
	uint64_t dir = DFS_INO_ENV_BASE + (uint64_t)d->env;
	char name[DFS_NAME_MAX + DFS_LABEL_MAX + 2];

	snprintf(name, sizeof(name), "%s@%s", d->component, d->version);
	/* At once: the kernel may keep N@V's entry (views.c). */
	dfs_notice_attr(st, dfs_eview_ino(d->env, d->root));
	dfs_notice_push(st, dir, dfs_eview_ino(d->env, d->root), name, true);
	dfs_notice_push(st, dir, DFS_INO_DEPLINK_BASE + (uint64_t)d->id,
			d->component, !link_stays);
}

/* Deploy p in e here (dfs_deploy) as actor: what it replaced went
 * without a call on it, and so may the new names (another host's act):
 * the kernel hears of them. */
int dfs_env_deploy_here(struct dfs_store *st, const struct dfs_actor *actor,
			const struct dfs_env *e, const struct dfs_pkg *p,
			const char *via)
{
	uint64_t dir = DFS_INO_ENV_BASE + (uint64_t)e->id;
	char name[DFS_NAME_MAX + DFS_LABEL_MAX + 2];
	int64_t replaced = 0;
	struct dfs_dep old;
	bool has_old = dfs_dep_of_comp(st, e->id, p->comp, &old) == 0;
	int rc = dfs_deploy(st, actor, e, p, via, &replaced);

	if (rc == 0 && has_old && replaced)
		dfs_env_notice_gone(st, &old, true);
	if (rc == 0) { /* names looked up before they were there */
		snprintf(name, sizeof(name), "%s@%s", p->component, p->version);
		dfs_notice_push(st, dir, 0, name, false);
		dfs_notice_push(st, dir, 0, p->component, false);
	}
	return rc;
}

/* A deployment of p in env (by link or by the last entry of a copy) ends
 * any copy of p there: the folder is the package now.  With a registry
 * the deployment is an act of its order (model/regact.c), applied here
 * with every act before it. */
int dfs_env_deploy_locked(struct dfs_store *st, const struct dfs_actor *actor,
			  const struct dfs_env *e, const struct dfs_pkg *p,
			  const char *via)
{
	struct dfs_reg_act act = { .action = "deploy",
				   .env = e->name,
				   .component = p->component,
				   .version = p->version,
				   .via = via };
	struct dfs_stage *sg;
	struct dfs_dep old;
	bool has_old = dfs_dep_of_comp(st, e->id, p->comp, &old) == 0;
	bool forced = dfs_force_take(st, actor, e->id, p->id, false);
	/* A bad release is not deployed again; one deployed stays. */
	int rc = has_old && old.package == p->id
			 ? 0
			 : dfs_pkg_deployable(st, actor, e->name, p, forced);

	if (rc == 0)
		rc = st->registry ? dfs_reg_shared(st, actor, &act)
				  : dfs_env_deploy_here(st, actor, e, p, via);
	if (rc == 0 && forced)
		(void)dfs_force_take(st, actor, e->id, p->id, true);
	sg = rc == 0 ? dfs_stage_find(st, e->id, p->id) : NULL;
	if (sg)
		dfs_stage_drop(st, sg);
	return rc;
}

void dfs_stage_save_progress(struct dfs_store *st, struct dfs_stage *sg)
{
	dfs_staging_progress(st, sg->row, (int64_t)sg->ok.n);
}

int dfs_stage_done(struct dfs_store *st, const struct dfs_actor *actor,
		   struct dfs_stage *sg, int64_t snode)
{
	struct dfs_env e;
	struct dfs_pkg p;
	int rc;

	if (snode != sg->root) {
		rc = dfs_idset_add(&sg->made, snode);
		if (rc == 0)
			rc = dfs_idset_add(&sg->ok, snode);
		if (rc < 0)
			return rc;
	}
	if ((int64_t)sg->ok.n < sg->entries || sg->why[0]) {
		dfs_stage_save_progress(st, sg);
		return 0;
	}
	rc = dfs_env_by_id(st, sg->env, &e);
	if (rc == 0)
		rc = dfs_pkg_by_id(st, sg->package, &p);
	if (rc == 0)
		rc = dfs_env_deploy_locked(st, actor, &e, &p, "copy");
	return rc == -ENOENT ? -EIO : rc;
}

/* ---- temporaries ------------------------------------------------------------- */

struct dfs_temp *dfs_temp_by_ino(struct dfs_store *st, uint64_t ino)
{
	for (struct dfs_temp *t = st->trees->temps; t; t = t->next)
		if (DFS_INO_TEMP_BASE + t->id == ino)
			return t;
	return NULL;
}

struct dfs_temp *dfs_temp_by_name(struct dfs_store *st, uint64_t parent,
				  const char *name)
{
	for (struct dfs_temp *t = st->trees->temps; t; t = t->next)
		if (t->parent == parent && strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

void dfs_temp_drop(struct dfs_store *st, struct dfs_temp *t)
{
	for (struct dfs_temp **p = &st->trees->temps; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	free(t);
}

struct dfs_temp *dfs_temp_new(struct dfs_store *st, int64_t env,
			      uint64_t parent, const char *name, uint32_t mode,
			      const struct dfs_actor *actor)
{
	struct dfs_temp *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->id = ++st->trees->next_temp;
	t->env = env;
	t->parent = parent;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->mode = mode;
	t->uid = actor->uid;
	t->gid = actor->gid;
	t->ctime = dfs_now_ns();
	t->next = st->trees->temps;
	st->trees->temps = t;
	return t;
}

/*
 * The name a copy tool's temporary name stands for: rsync's .NAME.XXXXXX
 * and NAME.part.  false when name is not a temporary name.
 */
bool dfs_temp_base(const char *name, char *buf, size_t cap)
{
	size_t len = strlen(name);

	if (len > 5 && strcmp(name + len - 5, ".part") == 0) {
		snprintf(buf, cap, "%.*s", (int)(len - 5), name);
		return true;
	}
	if (len > 9 && name[0] == '.' && name[len - 7] == '.') {
		for (size_t i = len - 6; i < len; i++) {
			char c = name[i];

			if (!((c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
				return false;
		}
		snprintf(buf, cap, "%.*s", (int)(len - 8), name + 1);
		return true;
	}
	return false;
}

int dfs_temp_attr_locked(struct dfs_store *st, struct dfs_temp *t,
			 struct dfs_attr *ret)
{
	struct dfs_pkg p;

	if (t->is_link) {
		if (dfs_pkg_by_id(st, t->package, &p) < 0)
			return -ENOENT;
		dfs_link_attr(DFS_INO_TEMP_BASE + t->id, p.component, p.version,
			      t->uid, t->gid, t->ctime, ret);
		return 0;
	}
	memset(ret, 0, sizeof(*ret));
	ret->ino = DFS_INO_TEMP_BASE + t->id;
	ret->mode = S_IFREG | (t->mode & 07777);
	if (t->same_link) {
		char shown[DFS_SYMLINK_MAX + 1];

		if (dfs_link_shown(st, t->expect, 1, shown, sizeof(shown)) < 0)
			return -ENOENT;
		ret->mode = S_IFLNK | 0777;
		t->size = strlen(shown);
	}
	ret->nlink = 1;
	ret->uid = t->uid;
	ret->gid = t->gid;
	ret->size = t->v ? t->v->size : t->size;
	ret->mtime = ret->ctime = ret->atime = dfs_ns_to_ts(t->ctime);
	ret->flags = DFS_NODE_VOLATILE;
	return 0;
}

int dfs_temps_list(struct dfs_store *st, uint64_t dir, struct dfs_items *it)
{
	int rc = 0;

	for (struct dfs_temp *t = st->trees->temps; rc == 0 && t; t = t->next)
		/* A link copy is a no-op no reader needs to see. */
		if (t->parent == dir && !t->same_link)
			rc = dfs_items_add(it, DFS_OFF_TEMP + t->id,
					   DFS_INO_TEMP_BASE + t->id, t->name);
	return rc;
}
