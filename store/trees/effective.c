// SPDX-License-Identifier: MIT
/*
 * effective.c - environments/ENV/.effective: what a runtime reads, the
 * package with ENV's extensions laid over it.  ENV/.effective/N@V is the
 * package N@V (any version packaged; the listing shows those deployed),
 * read-only, except that a file ENV/extensions/N/PATH stands in for the
 * package's file PATH.  Folders are numbered in memory (st->trees->effs);
 * a file is the package's own node (packages/) or the override's build
 * node (ENV/extensions), looked up afresh each time (ENTRY_VOLATILE), so
 * an edit of an override shows at once.  See docs/environments.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trees.h"

static int eff_ino(struct dfs_store *st, int64_t env, int64_t pkg, int64_t comp,
		   int64_t snode, const char *path, uint64_t *ret)
{
	struct dfs_trees *t = st->trees;
	struct dfs_eff *e;

	for (size_t i = 0; i < t->neff; i++) {
		e = &t->effs[i];
		if (e->env == env && e->pkg == pkg && e->comp == comp &&
		    e->snode == snode && strcmp(e->path, path) == 0) {
			*ret = DFS_INO_EFF_BASE + i + 1;
			return 0;
		}
	}
	if (t->neff == t->capeff) {
		size_t cap = t->capeff ? 2 * t->capeff : 16;
		struct dfs_eff *v = realloc(t->effs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->effs = v;
		t->capeff = cap;
	}
	e = &t->effs[t->neff];
	memset(e, 0, sizeof(*e));
	e->env = env;
	e->pkg = pkg;
	e->comp = comp;
	e->snode = snode;
	snprintf(e->path, sizeof(e->path), "%s", path);
	*ret = DFS_INO_EFF_BASE + ++t->neff;
	return 0;
}

static struct dfs_eff *eff_of(struct dfs_store *st, uint64_t ino)
{
	uint64_t i = ino - DFS_INO_EFF_BASE;

	return dfs_is_eff(ino) && i >= 1 && i <= st->trees->neff
		       ? &st->trees->effs[i - 1]
		       : NULL;
}

void dfs_eff_free(struct dfs_store *st)
{
	free(st->trees->effs);
	st->trees->effs = NULL;
	st->trees->neff = st->trees->capeff = 0;
}

/* ENV/.effective/N: a link to N@V, the version deployed in ENV; one
 * node per version (the kernel may keep a link's text). */
static int name_link(struct dfs_store *st, const struct dfs_eff *e,
		     struct dfs_dep *d, char *buf, size_t cap)
{
	int rc = dfs_dep_of_comp(st, e->env, e->comp, d);

	if (rc == 0 && d->package != e->pkg)
		rc = -ENOENT; /* another version is deployed now */
	if (rc == 0)
		snprintf(buf, cap, "%s@%s", d->component, d->version);
	return rc;
}

static int name_link_attr(struct dfs_store *st, uint64_t ino,
			  const struct dfs_eff *e, struct dfs_attr *ret)
{
	char target[2 * DFS_NAME_MAX + 2];
	struct dfs_dep d;
	int rc = name_link(st, e, &d, target, sizeof(target));

	if (rc < 0)
		return rc;
	memset(ret, 0, sizeof(*ret));
	ret->ino = ino;
	ret->mode = S_IFLNK | 0777;
	ret->nlink = 1;
	ret->uid = d.uid;
	ret->gid = d.gid;
	ret->size = strlen(target);
	ret->mtime = ret->ctime = ret->atime = dfs_ns_to_ts(d.created);
	ret->flags = DFS_NODE_VOLATILE | DFS_NODE_ENTRY_VOLATILE;
	return 0;
}

static int eff_attr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	struct dfs_eff *e = eff_of(st, ino);
	char target[DFS_SYMLINK_MAX + 1];
	struct dfs_env env;
	int rc;

	if (!e)
		return -ENOENT;
	if (e->comp)
		return name_link_attr(st, ino, e, ret);
	if (e->pkg == 0) {
		rc = dfs_env_by_id(st, e->env, &env);
		if (rc < 0)
			return rc;
		memset(ret, 0, sizeof(*ret));
		ret->mode = S_IFDIR | 0555;
		ret->uid = env.uid;
		ret->gid = env.gid;
		ret->nlink = 2;
		ret->size = 4096;
		ret->blocks = 8;
		ret->mtime = ret->atime = dfs_ns_to_ts(env.mtime);
		ret->ctime = dfs_ns_to_ts(env.ctime);
	} else {
		rc = dfs_snode_attr_locked(st, e->snode, ret);
		if (rc < 0)
			return rc;
		ret->mode &= ~0222u;
		/* A link shows its target as in ENV/N@V: a requirement
		 * ../REQ, which is ENV/.effective/REQ. */
		if (S_ISLNK(ret->mode) &&
		    dfs_link_shown(st, e->snode, 1, target, sizeof(target)) ==
			    0)
			ret->size = strlen(target);
	}
	ret->ino = ino;
	ret->flags = DFS_NODE_SYSTEM | DFS_NODE_VOLATILE |
		     DFS_NODE_LIST_VOLATILE | DFS_NODE_ENTRY_VOLATILE;
	return 0;
}

int dfs_eff_top_attr(struct dfs_store *st, int64_t env, struct dfs_attr *ret)
{
	uint64_t ino;
	int rc = eff_ino(st, env, 0, 0, 0, "", &ino);

	return rc < 0 ? rc : eff_attr(st, ino, ret);
}

/* The entry name of folder e: an effective folder, the override of a
 * file, or the package's node. */
static int child(struct dfs_store *st, const struct dfs_eff *e,
		 const char *name, struct dfs_attr *ret)
{
	char path[1024];
	struct dfs_snode sn;
	struct dfs_pkg p;
	uint64_t ino;
	int64_t s;
	int n, rc;

	if (e->pkg == 0 && !strchr(name, '@')) {
		struct dfs_component c;
		struct dfs_dep d;

		if (dfs_component_by_name(st, name, &c) < 0 ||
		    dfs_dep_of_comp(st, e->env, c.id, &d) < 0)
			return -ENOENT;
		rc = eff_ino(st, e->env, d.package, c.id, 0, "", &ino);
		return rc < 0 ? rc : eff_attr(st, ino, ret);
	}
	if (e->pkg == 0) {
		rc = dfs_env_parse_pkg(st, name, &p);
		if (rc < 0)
			return -ENOENT;
		rc = eff_ino(st, e->env, p.id, 0, p.root, "", &ino);
		return rc < 0 ? rc : eff_attr(st, ino, ret);
	}
	n = snprintf(path, sizeof(path), "%s%s%s", e->path,
		     e->path[0] ? "/" : "", name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	rc = dfs_snode_child(st, e->snode, name, &s);
	if (rc == 0)
		rc = dfs_snode_info(st, s, &sn);
	if (rc == 0)
		rc = dfs_pkg_by_id(st, e->pkg, &p);
	if (rc < 0)
		return rc;
	if (S_ISDIR(sn.mode) || S_ISLNK(sn.mode)) {
		rc = eff_ino(st, e->env, e->pkg, 0, s, path, &ino);
		return rc < 0 ? rc : eff_attr(st, ino, ret);
	}
	if (S_ISREG(sn.mode) &&
	    dfs_ext_find(st, e->env, p.component, path, &ino) == 0) {
		rc = dfs_build_attr_locked(st, ino, ret);
		if (rc == 0)
			dfs_ext_mark(st, ino, true);
	} else {
		rc = dfs_snode_attr_locked(st, s, ret);
	}
	if (rc == 0)
		ret->flags |= DFS_NODE_ENTRY_VOLATILE;
	return rc;
}

static int eff_lookup(struct dfs_store *st, uint64_t parent, const char *name,
		      struct dfs_attr *ret)
{
	struct dfs_eff *e = eff_of(st, parent);

	return e ? child(st, e, name, ret) : -ENOENT;
}

static int eff_readdir(struct dfs_store *st, uint64_t ino, uint64_t off,
		       bool hold, dfs_readdir_fn fn, void *ctx)
{
	struct dfs_eff *e = eff_of(st, ino), copy;
	struct dfs_idnames kids = { 0 };
	struct dfs_dep *d = NULL;
	struct dfs_attr a;
	size_t n = 0;
	int rc;

	if (!e)
		return -ENOENT;
	copy = *e; /* child() may grow st->trees->effs */
	if (copy.pkg == 0) {
		rc = dfs_dep_active(st, copy.env, &d, &n);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			char name[2 * DFS_NAME_MAX + 2];

			uint64_t o = 2 * (uint64_t)d[i].id;

			if (o > off) {
				rc = child(st, &copy, d[i].component, &a);
				if (rc == 0 && dfs_emit(st, fn, ctx, hold,
							d[i].component, o, &a))
					break;
			}
			snprintf(name, sizeof(name), "%s@%s", d[i].component,
				 d[i].version);
			if (rc == 0 && o + 1 > off)
				rc = child(st, &copy, name, &a);
			if (rc == 0 && o + 1 > off &&
			    dfs_emit(st, fn, ctx, hold, name, o + 1, &a))
				break;
		}
		free(d);
		return rc;
	}
	rc = dfs_snode_children(st, copy.snode, (int64_t)off, &kids);
	for (size_t i = 0; rc == 0 && i < kids.n; i++) {
		rc = child(st, &copy, kids.v[i].name, &a);
		if (rc == 0 && dfs_emit(st, fn, ctx, hold, kids.v[i].name,
					(uint64_t)kids.v[i].id, &a))
			break;
	}
	dfs_idnames_free(&kids);
	return rc;
}

static int eff_readlink(struct dfs_store *st, uint64_t ino, char *buf,
			size_t cap)
{
	struct dfs_eff *e = eff_of(st, ino);
	struct dfs_dep d;
	int rc;

	if (!e)
		return -ENOENT;
	if (e->comp)
		rc = name_link(st, e, &d, buf, cap);
	else if (e->pkg)
		rc = dfs_link_shown(st, e->snode, 1, buf, cap);
	else
		rc = -EINVAL;
	return rc < 0 ? rc : (int)strlen(buf);
}

static void eff_describe(struct dfs_store *st, uint64_t ino,
			 struct dfs_where *ret)
{
	struct dfs_eff *e = eff_of(st, ino);
	struct dfs_env env;

	snprintf(ret->path, sizeof(ret->path), "environments");
	if (e && dfs_env_by_id(st, e->env, &env) == 0) {
		snprintf(ret->env, sizeof(ret->env), "%s", env.name);
		snprintf(ret->path, sizeof(ret->path),
			 "environments/%s/.effective", env.name);
	}
}

const struct dfs_tree_ops dfs_eff_tree = {
	.name = "effective",
	.none = -EROFS,
	.describe = eff_describe,
	.lookup = eff_lookup,
	.getattr = eff_attr,
	.readdir = eff_readdir,
	.readlink = eff_readlink,
};
