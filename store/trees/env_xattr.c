// SPDX-License-Identifier: MIT
/*
 * env_xattr.c - extended attributes under environments/: an environment's
 * user.deployfs.classification (test or production, set once), and on
 * ENV/N@V the deployment's own attributes (state, progress, deployment,
 * deployed, deployed_by, notes set once, warning) beside the package's.
 * What cp -a or rsync -X copy of a package's attributes changes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trees.h"

#define XATTR_PREFIX "user.deployfs."

static const char *const view_keys[] = {
	"state",       "progress", "deployment", "deployed",
	"deployed_by", "notes",	   "warning",
};

/* The deployment's own attributes on ENV/N@V; NULL value: not set. */
static int view_value(struct dfs_store *st, int64_t env,
		      const struct dfs_pkg *p, const char *key, char *buf,
		      size_t cap)
{
	struct dfs_stage *sg = dfs_stage_find(st, env, p->id);
	struct dfs_dep d;
	bool deployed = dfs_dep_of_pkg(st, env, p->id, &d) == 0;

	buf[0] = '\0';
	if (strcmp(key, "state") == 0) {
		if (deployed || !sg || !sg->why[0])
			snprintf(buf, cap, "%s",
				 deployed ? "deployed" : "staging");
		else
			snprintf(buf, cap,
				 "staging, will not deploy (refused: %s); "
				 "rm -r it and copy again",
				 sg->why);
	} else if (strcmp(key, "progress") == 0) {
		int64_t n = 0;

		if (deployed || !sg) {
			(void)dfs_snode_tree_size(st, p->root, &n);
			snprintf(buf, cap, "%lld/%lld", (long long)n,
				 (long long)n);
		} else {
			snprintf(buf, cap, "%zu/%lld", sg->ok.n,
				 (long long)sg->entries);
		}
	} else if (!deployed) {
		return -ENODATA;
	} else if (strcmp(key, "deployment") == 0) {
		snprintf(buf, cap, "%lld", (long long)d.number);
	} else if (strcmp(key, "deployed") == 0) {
		dfs_iso_time(d.created, buf, cap);
	} else if (strcmp(key, "deployed_by") == 0) {
		snprintf(buf, cap, "%s", d.created_by);
	} else if (dfs_dep_text(st, d.id, strcmp(key, "notes") != 0, buf, cap) <
			   0 ||
		   !buf[0]) {
		return -ENODATA;
	}
	return 0;
}

static bool is_view_key(const char *key)
{
	for (size_t i = 0; i < sizeof(view_keys) / sizeof(*view_keys); i++)
		if (strcmp(key, view_keys[i]) == 0)
			return true;
	return false;
}

int dfs_env_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
		      void *buf, size_t cap)
{
	char val[1024];
	struct dfs_env e;
	struct dfs_pkg p;
	int rc = -ENODATA;

	if (dfs_is_env_dir(ino)) {
		rc = dfs_env_by_id(st, (int64_t)(ino - DFS_INO_ENV_BASE), &e);
		if (rc == 0)
			rc = strcmp(name, XATTR_PREFIX "classification") == 0 &&
					     e.cls[0]
				     ? dfs_put_value(e.cls, buf, cap)
				     : -ENODATA;
	} else if (dfs_is_eview(ino)) {
		int64_t s = dfs_eview_snode(ino);
		const char *key = name + strlen(XATTR_PREFIX);

		rc = dfs_pkg_of_snode(st, s, &p);
		if (rc == 0 && s == p.root &&
		    strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) == 0 &&
		    is_view_key(key) && strcmp(key, "notes") != 0) {
			rc = view_value(st, dfs_eview_env(ino), &p, key, val,
					sizeof(val));
			if (rc == 0)
				rc = dfs_put_value(val, buf, cap);
		} else if (rc == 0 && s == p.root &&
			   strcmp(key, "notes") == 0 &&
			   view_value(st, dfs_eview_env(ino), &p, key, val,
				      sizeof(val)) == 0) {
			rc = dfs_put_value(val, buf, cap);
		} else if (rc == 0) {
			rc = dfs_pkg_meta_get(st, s, name, buf, cap);
			rc = rc == -ENOENT ? -ENODATA : rc;
		}
	}
	return rc;
}

int dfs_env_xattr_list(struct dfs_store *st, uint64_t ino, char *buf,
		       size_t cap)
{
	char val[1024], name[96];
	size_t total = 0;
	struct dfs_env e;
	struct dfs_pkg p;
	int rc = 0, n;

	if (dfs_is_env_dir(ino)) {
		rc = dfs_env_by_id(st, (int64_t)(ino - DFS_INO_ENV_BASE), &e);
		if (rc == 0 && e.cls[0])
			rc = dfs_add_name(buf, cap, &total,
					  XATTR_PREFIX "classification");
	} else if (dfs_is_eview(ino) &&
		   dfs_pkg_of_snode(st, dfs_eview_snode(ino), &p) == 0 &&
		   p.root == dfs_eview_snode(ino)) {
		for (size_t i = 0;
		     rc == 0 && i < sizeof(view_keys) / sizeof(*view_keys);
		     i++) {
			if (view_value(st, dfs_eview_env(ino), &p, view_keys[i],
				       val, sizeof(val)) < 0)
				continue;
			snprintf(name, sizeof(name), XATTR_PREFIX "%s",
				 view_keys[i]);
			rc = dfs_add_name(buf, cap, &total, name);
		}
		n = rc < 0 ? rc
			   : dfs_pkg_meta_list(st, p.root,
					       cap ? buf + total : NULL,
					       cap ? cap - total : 0);
		/* The package's keys, without the ones shown above. */
		if (n > 0) {
			size_t w = total, r = total, end = total + (size_t)n;

			for (; cap && r < end; r += strlen(buf + r) + 1) {
				const char *key =
					buf + r + strlen(XATTR_PREFIX);

				if (is_view_key(key))
					continue;
				memmove(buf + w, buf + r, strlen(buf + r) + 1);
				w += strlen(buf + w) + 1;
			}
			total = cap ? w : total + (size_t)n;
		}
		rc = n < 0 ? n : rc;
	}
	return rc < 0 ? rc : (int)total;
}

/* cp -a copies the notes of the package (or of the deployment it copies
 * from): the same text again changes nothing. */
static bool same_notes(struct dfs_store *st, int64_t env,
		       const struct dfs_pkg *p, const void *value, size_t size)
{
	char cur[1024];
	int n = dfs_pkg_meta_get(st, p->root, XATTR_PREFIX "notes", cur,
				 sizeof(cur));

	if (n >= 0 && (size_t)n == size && memcmp(cur, value, size) == 0)
		return true;
	if (view_value(st, env, p, "notes", cur, sizeof(cur)) < 0)
		return false;
	return strlen(cur) == size && memcmp(cur, value, size) == 0;
}

static int set_notes(struct dfs_store *st, const struct dfs_actor *actor,
		     int64_t env, const struct dfs_pkg *p, const char *value,
		     size_t size)
{
	struct dfs_env e;
	int rc = dfs_env_by_id(st, env, &e);

	struct dfs_reg_act act = { .action = "notes" };

	if (rc < 0)
		return -EROFS;
	if (!st->registry || memchr(value, 0, size))
		return dfs_dep_set_notes(st, actor, &e, p, value, size);
	act.env = e.name;
	act.component = p->component;
	act.version = p->version;
	act.value = strndup(value, size);
	rc = act.value ? dfs_reg_shared(st, actor, &act) : -ENOMEM;
	free((char *)act.value);
	return rc;
}

/* With a registry, an environment's classification is an act of its
 * order. */
static int classify(struct dfs_store *st, const struct dfs_actor *actor,
		    int64_t id, const void *value, size_t size)
{
	char text[64];
	struct dfs_reg_act act = { .action = "classify", .value = text };
	struct dfs_env e;
	int rc = dfs_env_by_id(st, id, &e);

	if (rc < 0)
		return rc;
	if (size >= sizeof(text) || memchr(value, 0, size))
		return dfs_env_classify(st, actor, id, value, size);
	memcpy(text, value, size);
	text[size] = '\0';
	act.env = e.name;
	return dfs_reg_shared(st, actor, &act);
}

int dfs_env_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, const char *name, const void *value,
		      size_t size, unsigned flags)
{
	char cur[1024];
	struct dfs_pkg p;
	int rc = -EPERM, n;

	if (dfs_is_env_dir(ino)) {
		if (strcmp(name, XATTR_PREFIX "classification") == 0 &&
		    st->registry)
			rc = classify(st, actor,
				      (int64_t)(ino - DFS_INO_ENV_BASE), value,
				      size);
		else if (strcmp(name, XATTR_PREFIX "classification") == 0)
			rc = dfs_env_classify(st, actor,
					      (int64_t)(ino - DFS_INO_ENV_BASE),
					      value, size);
		else if (strcmp(name, XATTR_PREFIX "force") == 0)
			rc = dfs_force_set(st, actor,
					   (int64_t)(ino - DFS_INO_ENV_BASE),
					   value, size);
		else if (strcmp(name, XATTR_PREFIX "deploy") == 0)
			rc = dfs_env_bulk_deploy(
				st, actor, (int64_t)(ino - DFS_INO_ENV_BASE),
				value, size);
	} else if (dfs_is_eview(ino) &&
		   dfs_pkg_of_snode(st, dfs_eview_snode(ino), &p) == 0) {
		bool root = p.root == dfs_eview_snode(ino);
		struct dfs_stage *sg =
			dfs_stage_find(st, dfs_eview_env(ino), p.id);

		if (root && strcmp(name, XATTR_PREFIX "notes") == 0 && !sg &&
		    !same_notes(st, dfs_eview_env(ino), &p, value, size)) {
			rc = set_notes(st, actor, dfs_eview_env(ino), &p, value,
				       size);
		} else if (sg || strncmp(name, XATTR_PREFIX,
					 strlen(XATTR_PREFIX)) == 0) {
			/* cp -a copying the package's (or another
			 * environment's) attributes: let through. */
			rc = 0;
		} else {
			n = dfs_pkg_meta_get(st, dfs_eview_snode(ino), name,
					     cur, sizeof(cur));
			rc = n >= 0 && (size_t)n == size &&
					     memcmp(cur, value, size) == 0
				     ? 0
				     : -EROFS;
		}
	} else {
		rc = -EROFS;
	}
	return rc;
}
