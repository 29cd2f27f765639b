// SPDX-License-Identifier: MIT
/*
 * envlink.c - deploying by link: `ln -s ../../packages/N/N@V ENV/N`
 * deploys at once; `ln -sfn` makes a link under a temporary name and
 * renames it over N, and that rename is the deployment.  A target that is
 * not a package of N (or `latest` of N) is refused with EINVAL, recorded;
 * a package with a damaged blob with EIO (pkgcheck.c), recorded.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "trees.h"

/* A link target naming a package: .../packages/N/N@V or .../packages/N/latest */
static int parse_target(struct dfs_store *st, const char *target,
			struct dfs_pkg *ret)
{
	char buf[DFS_SYMLINK_MAX + 1], *part[3] = { NULL, NULL, NULL };
	size_t len;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", target);
	len = strlen(buf);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	for (char *p = buf + len; n < 3;) {
		char *slash = NULL;

		for (char *q = p - 1; q >= buf; q--) {
			if (*q == '/') {
				slash = q;
				break;
			}
		}
		part[2 - n++] = slash ? slash + 1 : buf;
		if (!slash)
			break;
		*slash = '\0';
		p = slash;
	}
	if (n < 3 || strcmp(part[0], "packages") != 0)
		return -EINVAL;
	if (strcmp(part[2], "latest") == 0)
		return dfs_pkg_latest(st, part[1], ret) < 0 ? -EINVAL : 0;
	if (dfs_env_parse_pkg(st, part[2], ret) < 0 ||
	    strcmp(ret->component, part[1]) != 0)
		return -EINVAL;
	return 0;
}

/* A symlink in ENV: N deploys; another name waits for its rename. */
int dfs_env_symlink(struct dfs_store *st, const struct dfs_actor *actor,
		    const struct dfs_env *e, uint64_t dir, const char *name,
		    const char *target, struct dfs_attr *ret)
{
	struct dfs_component c;
	struct dfs_temp *t;
	struct dfs_pkg p;
	struct dfs_dep d;
	char why[DFS_SYMLINK_MAX + 96];
	int rc = parse_target(st, target, &p);

	if (rc == 0 &&
	    (strcmp(name, p.component) == 0 ||
	     dfs_component_by_name(st, name, &c) < 0) &&
	    !strchr(name, '@')) {
		if (strcmp(name, p.component) != 0) {
			t = dfs_temp_new(st, e->id, dir, name, 0777, actor);
			if (!t)
				return -ENOMEM;
			t->is_link = true;
			t->package = p.id;
			return dfs_temp_attr_locked(st, t, ret);
		}
		if (dfs_dep_of_comp(st, e->id, p.comp, &d) == 0)
			return -EEXIST;
		/* st->lock may be let go: look again after. */
		rc = dfs_pkg_check(st, actor, e->id, p.id);
		if (rc == 0 && dfs_dep_of_comp(st, e->id, p.comp, &d) == 0)
			rc = -EEXIST;
		if (rc == 0)
			rc = dfs_env_deploy_locked(st, actor, e, &p, "link");
		if (rc == 0)
			rc = dfs_dep_of_comp(st, e->id, p.comp, &d);
		return rc < 0 ? rc : dfs_deplink_attr_locked(st, d.id, ret);
	}
	snprintf(why, sizeof(why),
		 rc < 0 ? "%s -> %s: not a package (../../packages/NAME/"
			  "NAME@VERSION or ../../packages/NAME/latest)"
			: "%s -> %s: a link to a package of one component "
			  "must be named after it",
		 name, target);
	dfs_audit_refuse(st, actor, "deploy", e->name, rc < 0 ? NULL : name,
			 NULL, -EINVAL, why);
	return -EINVAL;
}

int dfs_env_rename_link(struct dfs_store *st, const struct dfs_actor *actor,
			struct dfs_temp *t, uint64_t newparent,
			const char *newname)
{
	uint64_t ino = DFS_INO_TEMP_BASE + t->id;
	struct dfs_env e;
	struct dfs_pkg p;
	char why[1024];
	int rc = dfs_env_by_id(st, t->env, &e);

	if (rc == 0)
		rc = dfs_pkg_by_id(st, t->package, &p);
	if (rc < 0)
		return rc;
	if (newparent != t->parent)
		return -EXDEV;
	if (strcmp(newname, p.component) != 0) {
		snprintf(why, sizeof(why),
			 "a link to %s@%s must be named %s, not %s",
			 p.component, p.version, p.component, newname);
		dfs_audit_refuse(st, actor, "deploy", e.name, p.component,
				 p.version, -EINVAL, why);
		return -EINVAL;
	}
	/* st->lock may be let go: the link may be gone after. */
	rc = dfs_pkg_check(st, actor, e.id, p.id);
	if (rc < 0)
		return rc;
	t = dfs_temp_by_ino(st, ino);
	if (!t)
		return -ENOENT;
	rc = dfs_env_deploy_locked(st, actor, &e, &p, "link");
	if (rc == 0)
		dfs_temp_drop(st, t);
	return rc;
}
