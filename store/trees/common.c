// SPDX-License-Identifier: MIT
/*
 * common.c - small helpers the trees share: emitting a listing entry,
 * telling a no-op setattr from a change, xattr values and name lists, a
 * snapshot node's name for the audit trail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trees.h"

int dfs_emit(struct dfs_store *st, dfs_readdir_fn fn, void *ctx, bool hold,
	     const char *name, uint64_t off, const struct dfs_attr *a)
{
	struct dfs_dirent de = { name, off, *a };

	if (fn(ctx, &de) != 0)
		return 1;
	if (hold)
		dfs_hold_locked(st, a->ino);
	return 0;
}

/*
 * Is time want the time have, at want's precision?  tar keeps whole
 * seconds and some tools microseconds: restoring such a time changes
 * nothing that they can tell.
 */
static bool same_time(struct timespec want, struct timespec have)
{
	long unit = want.tv_nsec == 0	       ? 1000000000L
		    : want.tv_nsec % 1000 == 0 ? 1000L
					       : 1L;

	return want.tv_sec == have.tv_sec &&
	       want.tv_nsec == have.tv_nsec - have.tv_nsec % unit;
}

/*
 * May actor read what attributes a show (a folder: list and search it)?
 * POSIX's check, as the kernel makes it for the package's own view, for
 * the views that show the package's entries under other owners.
 */
bool dfs_may_read(const struct dfs_actor *actor, const struct dfs_attr *a)
{
	uint32_t want = S_ISDIR(a->mode) ? 5 : S_ISLNK(a->mode) ? 0 : 4;
	uint32_t bits = a->mode & 7;
	bool member = actor->gid == a->gid;

	if (actor->uid == 0 || want == 0)
		return true;
	for (int i = 0; !member && i < actor->ngroups; i++)
		member = actor->groups[i] == a->gid;
	if (actor->uid == a->uid)
		bits = (a->mode >> 6) & 7;
	else if (member)
		bits = (a->mode >> 3) & 7;
	return (bits & want) == want;
}

bool dfs_setattr_is_noop(const struct dfs_attr *a, const struct dfs_setattr *sa)
{
	if ((sa->valid & DFS_SET_MODE) &&
	    (sa->mode & 07777) != (a->mode & 07777))
		return false;
	if ((sa->valid & DFS_SET_UID) && sa->uid != a->uid)
		return false;
	if ((sa->valid & DFS_SET_GID) && sa->gid != a->gid)
		return false;
	if ((sa->valid & DFS_SET_SIZE) && sa->size != a->size)
		return false;
	/* atime is not kept on this mount (see docs/behaviour.md): setting
	 * it changes nothing, as tar -x and cp -a do. */
	if (sa->valid & DFS_SET_MTIME_NOW)
		return false;
	if ((sa->valid & DFS_SET_MTIME) && !same_time(sa->mtime, a->mtime))
		return false;
	return true;
}

int dfs_put_value(const char *v, void *buf, size_t cap)
{
	size_t len = strlen(v);

	if (cap && len > cap)
		return -ERANGE;
	if (cap)
		memcpy(buf, v, len);
	return (int)len;
}

int dfs_add_name(char *buf, size_t cap, size_t *total, const char *name)
{
	size_t len = strlen(name) + 1;

	if (cap && *total + len > cap)
		return -ERANGE;
	if (cap)
		memcpy(buf + *total, name, len);
	*total += len;
	return 0;
}

void dfs_dep_target(const char *component, const char *version, char *buf,
		    size_t cap)
{
	snprintf(buf, cap, "../../packages/%s/%s@%s", component, component,
		 version);
}

void dfs_link_attr(uint64_t ino, const char *component, const char *version,
		   uint32_t uid, uint32_t gid, int64_t when,
		   struct dfs_attr *ret)
{
	char target[DFS_SYMLINK_MAX + 1];

	dfs_dep_target(component, version, target, sizeof(target));
	memset(ret, 0, sizeof(*ret));
	ret->ino = ino;
	ret->mode = S_IFLNK | 0777;
	ret->nlink = 1;
	ret->uid = uid;
	ret->gid = gid;
	ret->size = strlen(target);
	ret->mtime = ret->ctime = ret->atime = dfs_ns_to_ts(when);
	ret->flags = DFS_NODE_VOLATILE;
}

/* ---- listings of mixed entries, by stable offset ------------------------- */

int dfs_items_add(struct dfs_items *it, uint64_t off, uint64_t ino,
		  const char *name)
{
	if (it->n == it->cap) {
		size_t cap = it->cap ? 2 * it->cap : 32;
		void *nv = realloc(it->v, cap * sizeof(*it->v));

		if (!nv)
			return -ENOMEM;
		it->v = nv;
		it->cap = cap;
	}
	it->v[it->n].off = off;
	it->v[it->n].ino = ino;
	snprintf(it->v[it->n].name, sizeof(it->v[0].name), "%s", name);
	it->n++;
	return 0;
}

static int item_cmp(const void *a, const void *b)
{
	const struct dfs_item *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

void dfs_items_emit(struct dfs_store *st, struct dfs_items *it, uint64_t off,
		    int (*attr)(struct dfs_store *, uint64_t,
				struct dfs_attr *),
		    bool hold, dfs_readdir_fn fn, void *ctx)
{
	if (it->n > 1)
		qsort(it->v, it->n, sizeof(*it->v), item_cmp);
	for (size_t i = 0; i < it->n; i++) {
		struct dfs_attr a;

		if (it->v[i].off <= off || attr(st, it->v[i].ino, &a) < 0)
			continue;
		if (dfs_emit(st, fn, ctx, hold, it->v[i].name, it->v[i].off,
			     &a))
			break;
	}
	free(it->v);
	memset(it, 0, sizeof(*it));
}

/* ---- environments: names of packages and deployment links ---------------- */

int dfs_env_parse_pkg(struct dfs_store *st, const char *name,
		      struct dfs_pkg *ret)
{
	char comp[DFS_NAME_MAX + 1];
	const char *at = strchr(name, '@');
	const struct dfs_type *t;
	struct dfs_component c;

	if (!at || at == name || (size_t)(at - name) > DFS_NAME_MAX ||
	    strchr(at + 1, '@') || !dfs_version_valid(at + 1))
		return -EINVAL;
	snprintf(comp, sizeof(comp), "%.*s", (int)(at - name), name);
	if (dfs_component_by_name(st, comp, &c) < 0)
		return -EINVAL;
	t = dfs_type_find(c.type);
	if (!t || !t->deployable)
		return -EINVAL;
	return dfs_pkg_by_version(st, comp, at + 1, ret);
}

int dfs_deplink_attr_locked(struct dfs_store *st, int64_t dep,
			    struct dfs_attr *ret)
{
	struct dfs_dep d;
	int rc = dfs_dep_by_id(st, dep, &d);

	if (rc == 0)
		dfs_link_attr(DFS_INO_DEPLINK_BASE + (uint64_t)dep, d.component,
			      d.version, d.uid, d.gid, d.created, ret);
	return rc;
}

/*
 * Snapshot node id for the audit trail: its package, and its path under
 * packages/N (env NULL) or environments/ENV, cut in front after 32 levels
 * or when longer than the path can hold.
 */
void dfs_snode_where(struct dfs_store *st, int64_t id, const char *env,
		     struct dfs_where *ret)
{
	char tail[sizeof(ret->path)], top[DFS_NAME_MAX + 32];
	size_t at = sizeof(tail) - 1;
	struct dfs_snode sn;
	struct dfs_pkg p;
	int levels = 0;

	tail[at] = '\0';
	if (env)
		snprintf(top, sizeof(top), "environments/%s", env);
	else if (dfs_pkg_of_snode(st, id, &p) == 0)
		snprintf(top, sizeof(top), "packages/%s", p.component);
	else
		snprintf(top, sizeof(top), "packages");
	if (dfs_pkg_of_snode(st, id, &p) == 0) {
		snprintf(ret->component, sizeof(ret->component), "%s",
			 p.component);
		snprintf(ret->version, sizeof(ret->version), "%s", p.version);
		snprintf(ret->scope, sizeof(ret->scope), "%s/%s@%s", top,
			 p.component, p.version);
	}
	for (int64_t s = id; s > 0 && dfs_snode_info(st, s, &sn) == 0;
	     s = sn.parent) {
		size_t len = strlen(sn.name);

		if (levels++ == 32 || len + 1 + 4 > at) {
			at -= 4;
			memcpy(tail + at, "/...", 4);
			break;
		}
		at -= len;
		memcpy(tail + at, sn.name, len);
		tail[--at] = '/';
	}
	snprintf(ret->path, sizeof(ret->path), "%s%s", top, tail + at);
}
