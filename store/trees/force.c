// SPDX-License-Identifier: MIT
/*
 * force.c - forcing the deploy of a bad release.  deployctl deploy
 * --force sets user.deployfs.force = N@V on environments/ENV (allowed to
 * root and to ENV's owner; recorded), which lets the next deploy of N@V
 * in ENV by the same user, within a minute, through once.  In memory: a
 * restart forgets it, as it should.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "trees.h"

#define FORCE_NS (60 * 1000000000LL)

int dfs_force_set(struct dfs_store *st, const struct dfs_actor *actor,
		  int64_t env, const void *value, size_t size)
{
	struct dfs_audit_event ev = { 0 };
	char name[DFS_NAME_MAX + 1];
	struct dfs_force *slot = NULL;
	struct dfs_env e;
	struct dfs_pkg p;
	int64_t now = dfs_now_ns();
	int rc = dfs_env_by_id(st, env, &e);

	if (rc < 0)
		return rc;
	if (size == 0 || size >= sizeof(name) || memchr(value, 0, size))
		return -EINVAL;
	memcpy(name, value, size);
	name[size] = '\0';
	rc = dfs_env_parse_pkg(st, name, &p);
	if (rc < 0)
		return rc;
	if (actor->uid != 0 && actor->uid != e.uid) {
		dfs_audit_refuse(st, actor, "deploy-force", e.name, p.component,
				 p.version, -EPERM,
				 "forcing a deploy needs root or the owner of "
				 "the environment");
		return -EPERM;
	}
	for (int i = 0; i < DFS_FORCES; i++) {
		struct dfs_force *f = &st->trees->forces[i];

		if (!slot || f->until < slot->until)
			slot = f; /* a free or the oldest slot */
	}
	*slot = (struct dfs_force){ env, p.id, actor->uid, now + FORCE_NS };
	ev.action = "deploy-force";
	ev.env = e.name;
	ev.component = p.component;
	ev.version = p.version;
	ev.result = "ok";
	ev.reason = "the next deploy of this version here may deploy it "
		    "even if it is marked bad";
	return dfs_audit_commit(st, actor, &ev);
}

bool dfs_force_take(struct dfs_store *st, const struct dfs_actor *actor,
		    int64_t env, int64_t pkg, bool consume)
{
	int64_t now = dfs_now_ns();

	for (int i = 0; i < DFS_FORCES; i++) {
		struct dfs_force *f = &st->trees->forces[i];

		if (f->env == env && f->pkg == pkg && f->uid == actor->uid &&
		    f->until > now) {
			if (consume)
				f->until = 0;
			return true;
		}
	}
	return false;
}
