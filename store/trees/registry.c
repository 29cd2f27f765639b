// SPDX-License-Identifier: MIT
/*
 * registry.c - the acts of the registry's order applied here
 * (model/regact.c calls apply() for each, this host's own included), by
 * the same code that applies an act of a host alone, so the kernel hears
 * of each change as it does then: a new environment, a deployment that
 * replaced another, one that ended.  Watchers here are shown a deploy or
 * undeploy of another host as the call that made it there (show()).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "trees.h"

static int refuse(struct dfs_store *st, const struct dfs_actor *actor,
		  const struct dfs_reg_act *act, int rc, const char *why)
{
	dfs_audit_refuse(st, actor, act->action, act->env, act->component,
			 act->version, rc, why);
	return rc;
}

/* chmod, chown of an environment; the kernel drops what it had. */
static int set_attr(struct dfs_store *st, const struct dfs_env *e,
		    const struct dfs_reg_act *act)
{
	struct dfs_setattr sa = { .valid = act->valid,
				  .mode = act->mode,
				  .uid = act->uid,
				  .gid = act->gid };
	int rc = dfs_env_set(st, e->id, &sa);

	if (rc == 0)
		dfs_notice_attr(st, DFS_INO_ENV_BASE + (uint64_t)e->id);
	return rc;
}

/* An act on a version of a component: removed, restored, kept, marked. */
static int apply_pkg(struct dfs_store *st, const struct dfs_actor *actor,
		     const struct dfs_reg_act *act)
{
	const char *a = act->action + strlen("package-");
	struct dfs_component c;

	if (!act->component || !act->version ||
	    dfs_component_by_name(st, act->component, &c) < 0)
		return refuse(st, actor, act, -ENOENT,
			      "no such component here");
	if (!strcmp(a, "remove") || !strcmp(a, "restore"))
		return dfs_pkg_set_removed(st, actor, c.id, act->version,
					   !strcmp(a, "remove"));
	if (!strcmp(a, "keep") || !strcmp(a, "unkeep"))
		return dfs_pkg_set_keep(st, actor, c.id, act->version,
					!strcmp(a, "keep"));
	if (!strcmp(a, "mark-bad"))
		return dfs_pkg_set_bad(st, actor, c.id, act->version,
				       act->value ? act->value : "");
	if (!strcmp(a, "mark-good"))
		return dfs_pkg_set_bad(st, actor, c.id, act->version, NULL);
	return refuse(st, actor, act, -EOPNOTSUPP,
		      "an act this deployfs does not know");
}

/* A prune decided on one host: "KEEP MINAGE_S" then the "N@V" lines. */
static int prune(struct dfs_store *st, const struct dfs_actor *actor,
		 const char *value)
{
	long long keep = 0, age = 0;
	const char *nl = strchr(value, '\n');
	int64_t removed = 0;

	if (!nl || sscanf(value, "%lld %lld", &keep, &age) != 2)
		return -EINVAL;
	return dfs_pkg_prune(st, actor, 0, keep, age * 1000000000LL, false,
			     nl + 1, NULL, NULL, &removed);
}

/* Watchers here see a deploy or undeploy of another host as the call
 * that made it there: ENV/N renamed in (link), ENV/N@V made (copy),
 * ENV/N removed. */
static void show(struct dfs_store *st, const struct dfs_env *e,
		 const struct dfs_pkg *p, enum dfs_show how)
{
	char name[DFS_NAME_MAX + DFS_LABEL_MAX + 2];

	snprintf(name, sizeof(name), how == DFS_SHOW_COPY ? "%s@%s" : "%s",
		 p->component, p->version);
	dfs_notice_show(st, DFS_INO_ENV_BASE + (uint64_t)e->id, e->name, name,
			how);
}

/* An act on a deployment of e: deploy, undeploy, notes. */
static int apply_dep(struct dfs_store *st, const struct dfs_actor *actor,
		     const struct dfs_env *e, const struct dfs_reg_act *act)
{
	struct dfs_pkg p;
	struct dfs_dep d;
	int rc;

	if (!act->component || !act->version ||
	    dfs_pkg_by_version(st, act->component, act->version, &p) < 0)
		return refuse(st, actor, act, -ENOENT, "no such package here");
	if (!strcmp(act->action, "deploy")) {
		rc = dfs_env_deploy_here(st, actor, e, &p,
					 act->via ? act->via : "link");
		if (rc == 0 && act->unseen)
			show(st, e, &p,
			     act->via && !strcmp(act->via, "copy")
				     ? DFS_SHOW_COPY
				     : DFS_SHOW_LINK);
		return rc;
	}
	if (!strcmp(act->action, "notes") && act->value)
		return dfs_dep_set_notes(st, actor, e, &p, act->value,
					 strlen(act->value));
	if (strcmp(act->action, "undeploy") != 0)
		return refuse(st, actor, act, -EOPNOTSUPP,
			      "an act this deployfs does not know");
	rc = dfs_dep_of_comp(st, e->id, p.comp, &d);
	if (rc < 0 || d.number != act->deployment)
		return refuse(st, actor, act, -ENOENT,
			      "that deployment was replaced before");
	rc = dfs_env_undeploy_here(st, actor, e, &d);
	if (rc == 0 && act->unseen)
		show(st, e, &p, DFS_SHOW_GONE);
	return rc;
}

static int apply(struct dfs_store *st, const struct dfs_actor *actor,
		 const struct dfs_reg_act *act)
{
	struct dfs_env e;
	int64_t id;
	int rc;

	if (!strncmp(act->action, "package-", strlen("package-")))
		return apply_pkg(st, actor, act);
	if (!strcmp(act->action, "prune") && act->value)
		return prune(st, actor, act->value);
	if (!strcmp(act->action, "env-create")) {
		rc = dfs_env_create(st, actor, act->env, act->mode, &id);
		if (rc == 0)
			dfs_notice_push(st, DFS_INO_ENVIRONMENTS, 0, act->env,
					false);
		return rc;
	}
	if (!act->env || dfs_env_by_name(st, act->env, &e) < 0)
		return refuse(st, actor, act, -ENOENT,
			      "no such environment here");
	if (!strcmp(act->action, "env-remove")) {
		/* Copies in flight on this host do not keep it. */
		rc = dfs_env_remove(st, actor, act->env, 0);
		if (rc == 0)
			dfs_notice_push(st, DFS_INO_ENVIRONMENTS,
					DFS_INO_ENV_BASE + (uint64_t)e.id,
					act->env, true);
		return rc;
	}
	if (!strcmp(act->action, "env-attr"))
		return set_attr(st, &e, act);
	if (!strcmp(act->action, "bulk") && act->value)
		return dfs_env_bulk_apply(st, actor, &e, act->value);
	if (!strcmp(act->action, "classify") && act->value)
		return dfs_env_classify(st, actor, e.id, act->value,
					strlen(act->value));
	return apply_dep(st, actor, &e, act);
}

int dfs_store_registry(struct dfs_store *st, const char *url, const char *host,
		       char *why, size_t cap)
{
	return dfs_registry_start(st, url, host, apply, why, cap);
}
