// SPDX-License-Identifier: MIT
/*
 * vnode.c - the read side of packages/: the folder of each component
 * (packages/NAME), its `latest` link and the snapshot nodes
 * (packages/NAME/NAME@VERSION/...), served from the components, packages
 * and snodes tables.  Snapshot nodes never change (DFS_NODE_IMMUTABLE);
 * package folders and `latest` change when packages come and go
 * (DFS_NODE_VOLATILE).  All functions run with st->lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deployfs/names.h"
#include "internal.h"

static const char sql_snode[] =
	"SELECT id, mode, uid, gid, nlink, size, blocks, rdev, atime, mtime,"
	" ctime FROM snodes WHERE id = ?1";
static const char sql_snode_child[] =
	"SELECT id FROM snodes WHERE parent = ?1 AND name = ?2";
static const char sql_snode_children[] =
	"SELECT id, name FROM snodes WHERE parent = ?1 AND id > ?2"
	" ORDER BY id";
static const char sql_snode_target[] =
	"SELECT target FROM snodes WHERE id = ?1";
static const char sql_pkgdir[] =
	"SELECT count(p.id), c.changed, i.uid, i.gid, i.mtime, i.ctime"
	" FROM components c LEFT JOIN packages p ON p.component = c.id"
	" AND p.removed = 0"
	" LEFT JOIN inodes i ON i.ino = c.dir WHERE c.id = ?1";
static const char sql_components[] =
	"SELECT id, name, type FROM components c WHERE id > ?1 AND"
	" (dir IS NOT NULL OR EXISTS"
	" (SELECT 1 FROM packages p WHERE p.component = c.id"
	" AND p.removed = 0)) ORDER BY id";
static const char sql_versions[] =
	"SELECT version, root, id FROM packages WHERE component = ?1"
	" AND removed = 0";
static const char sql_version_of[] =
	"SELECT version FROM packages WHERE id = ?1";
static const char sql_latest_of[] =
	"SELECT max(id) FROM packages WHERE component = ?1 AND removed = 0";
static const char sql_latest[] =
	"SELECT c.name, p.version, p.created, p.uid FROM packages p"
	" JOIN components c ON c.id = p.component WHERE p.id = ?1"
	" AND p.removed = 0";
static const char sql_root_of[] =
	"SELECT root FROM packages WHERE component = ?1 AND version = ?2"
	" AND removed = 0";

static int snode_attr(struct dfs_store *st, int64_t id, struct dfs_attr *ret)
{
	struct dfs_attr a = { 0 };
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_snode, &s, "i", id);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	a.ino = DFS_INO_SNODE_BASE + (uint64_t)sqlite3_column_int64(s, 0);
	a.mode = (uint32_t)sqlite3_column_int64(s, 1);
	a.uid = (uint32_t)sqlite3_column_int64(s, 2);
	a.gid = (uint32_t)sqlite3_column_int64(s, 3);
	a.nlink = (uint32_t)sqlite3_column_int64(s, 4);
	a.size = (uint64_t)sqlite3_column_int64(s, 5);
	a.blocks = (uint64_t)sqlite3_column_int64(s, 6);
	a.rdev = (uint64_t)sqlite3_column_int64(s, 7);
	a.atime = dfs_ns_to_ts(sqlite3_column_int64(s, 8));
	a.mtime = dfs_ns_to_ts(sqlite3_column_int64(s, 9));
	a.ctime = dfs_ns_to_ts(sqlite3_column_int64(s, 10));
	a.flags = DFS_NODE_IMMUTABLE;
	if (S_ISDIR(a.mode)) {
		a.size = 4096;
		a.blocks = 8;
	}
	*ret = a;
	return dfs_stmt_done(s, SQLITE_ROW);
}

/* packages/NAME: visible while the component is in build/ or packaged. */
static int pkgdir_attr(struct dfs_store *st, int64_t comp, struct dfs_attr *ret)
{
	struct dfs_attr a = { 0 };
	struct dfs_component c;
	int64_t count, when;
	sqlite3_stmt *s;
	int rc = dfs_component_by_id(st, comp, &c);

	if (rc < 0)
		return rc;
	rc = dfs_query_sql(st, sql_pkgdir, &s, "i", comp);
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	count = sqlite3_column_int64(s, 0);
	when = sqlite3_column_int64(s, 1);
	a.ino = DFS_INO_PKGDIR_BASE + (uint64_t)comp;
	a.mode = S_IFDIR | 0755;
	a.nlink = 2 + (uint32_t)count;
	a.uid = (uint32_t)sqlite3_column_int64(s, 2);
	a.gid = (uint32_t)sqlite3_column_int64(s, 3);
	/* Changes when its packages come and go, not with build/. */
	if (sqlite3_column_type(s, 1) == SQLITE_NULL)
		when = sqlite3_column_int64(s, 4);
	a.mtime = a.ctime = a.atime = dfs_ns_to_ts(when);
	a.size = 4096;
	a.blocks = 8;
	a.flags = DFS_NODE_VOLATILE;
	rc = dfs_stmt_done(s, SQLITE_ROW);
	if (rc == 0 && !c.dir && count == 0)
		rc = -ENOENT;
	if (rc == 0)
		*ret = a;
	return rc;
}

static int latest_attr(struct dfs_store *st, int64_t pkg, struct dfs_attr *ret)
{
	struct dfs_attr a = { 0 };
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_latest, &s, "i", pkg);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	a.ino = DFS_INO_LATEST_BASE + (uint64_t)pkg;
	a.mode = S_IFLNK | 0777;
	a.nlink = 1;
	a.size = strlen((const char *)sqlite3_column_text(s, 0)) + 1 +
		 strlen((const char *)sqlite3_column_text(s, 1));
	a.mtime = a.ctime = a.atime = dfs_ns_to_ts(sqlite3_column_int64(s, 2));
	a.uid = (uint32_t)sqlite3_column_int64(s, 3);
	a.flags = DFS_NODE_VOLATILE;
	*ret = a;
	return dfs_stmt_done(s, SQLITE_ROW);
}

int dfs_vnode_getattr_locked(struct dfs_store *st, uint64_t ino,
			     struct dfs_attr *ret)
{
	if (ino >= DFS_INO_LATEST_BASE)
		return latest_attr(st, (int64_t)(ino - DFS_INO_LATEST_BASE),
				   ret);
	if (ino >= DFS_INO_PKGDIR_BASE)
		return pkgdir_attr(st, (int64_t)(ino - DFS_INO_PKGDIR_BASE),
				   ret);
	return snode_attr(st, (int64_t)(ino - DFS_INO_SNODE_BASE), ret);
}

static int one_int(struct dfs_store *st, const char *sql, const char *fmt,
		   int64_t a, const char *b, int64_t *ret)
{
	sqlite3_stmt *s;
	int rc = b ? dfs_query_sql(st, sql, &s, fmt, a, b)
		   : dfs_query_sql(st, sql, &s, fmt, a);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	if (sqlite3_column_type(s, 0) == SQLITE_NULL)
		rc = -ENOENT;
	else
		*ret = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc < 0 ? rc : 0;
}

static int lookup_in_pkgdir(struct dfs_store *st, int64_t comp,
			    const char *name, struct dfs_attr *ret)
{
	struct dfs_component c;
	const char *version;
	int64_t id;
	int rc = dfs_component_by_id(st, comp, &c);

	if (rc < 0)
		return rc;
	if (strcmp(name, "latest") == 0) {
		rc = one_int(st, sql_latest_of, "i", comp, NULL, &id);
		return rc < 0 ? rc : latest_attr(st, id, ret);
	}
	if (dfs_pkg_parse(&c, name, &version) < 0)
		return -ENOENT;
	rc = one_int(st, sql_root_of, "is", comp, version, &id);
	return rc < 0 ? rc : snode_attr(st, id, ret);
}

int dfs_vnode_lookup_locked(struct dfs_store *st, uint64_t parent,
			    const char *name, struct dfs_attr *ret)
{
	struct dfs_component c;
	int64_t id;
	int rc;

	if (strlen(name) > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (parent == DFS_INO_PACKAGES) {
		rc = dfs_component_by_name(st, name, &c);
		return rc < 0 ? rc : pkgdir_attr(st, c.id, ret);
	}
	if (parent >= DFS_INO_LATEST_BASE)
		return -ENOTDIR;
	if (parent >= DFS_INO_PKGDIR_BASE)
		return lookup_in_pkgdir(
			st, (int64_t)(parent - DFS_INO_PKGDIR_BASE), name, ret);
	rc = one_int(st, sql_snode_child, "is",
		     (int64_t)(parent - DFS_INO_SNODE_BASE), name, &id);
	return rc < 0 ? rc : snode_attr(st, id, ret);
}

static int emit(struct dfs_store *st, dfs_readdir_fn fn, void *ctx, bool hold,
		const char *name, uint64_t off, const struct dfs_attr *a)
{
	struct dfs_dirent de = { name, off, *a };

	if (fn(ctx, &de) != 0)
		return 1;
	if (hold)
		dfs_oinode_get(st, a->ino)->holds++;
	return 0;
}

struct entry {
	int64_t id;
	char name[DFS_NAME_MAX + 1];
};

/*
 * The rows (id, name[, type]) of a listing, collected before anything is
 * emitted (emitting runs other statements).  With deployable, rows whose
 * third column is not a deployable type are left out.
 */
static int collect(struct dfs_store *st, const char *sql, int64_t a, int64_t b,
		   bool deployable, struct entry **ret, size_t *ret_n)
{
	struct entry *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	int rc = deployable ? dfs_query_sql(st, sql, &s, "i", a)
			    : dfs_query_sql(st, sql, &s, "ii", a, b);

	for (; rc == 1; rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0) {
		const struct dfs_type *t;
		int len = sqlite3_column_bytes(s, 1);

		if (deployable) {
			t = dfs_type_find(
				(const char *)sqlite3_column_text(s, 2));
			if (!t || !t->deployable)
				continue;
		}
		if (n == cap) {
			void *nv = realloc(v, (cap = cap ? 2 * cap : 64) *
						      sizeof(*v));

			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		if (len > DFS_NAME_MAX)
			len = DFS_NAME_MAX;
		v[n].id = sqlite3_column_int64(s, 0);
		memcpy(v[n].name, sqlite3_column_blob(s, 1), (size_t)len);
		v[n++].name[len] = '\0';
	}
	if (s)
		sqlite3_reset(s);
	if (rc < 0) {
		free(v);
		return rc;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Emit collected entries with their attributes; offsets are their ids. */
static void emit_all(struct dfs_store *st, const struct entry *v, size_t n,
		     int (*attr)(struct dfs_store *, int64_t,
				 struct dfs_attr *),
		     bool hold, dfs_readdir_fn fn, void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		struct dfs_attr a;

		if (attr(st, v[i].id, &a) < 0)
			continue;
		if (emit(st, fn, ctx, hold, v[i].name, (uint64_t)v[i].id, &a))
			break;
	}
}

static int list_components(struct dfs_store *st, uint64_t off, bool hold,
			   dfs_readdir_fn fn, void *ctx)
{
	struct entry *v = NULL;
	size_t n = 0;
	int rc = collect(st, sql_components, (int64_t)off, 0, true, &v, &n);

	if (rc == 0)
		emit_all(st, v, n, pkgdir_attr, hold, fn, ctx);
	free(v);
	return rc;
}

struct version {
	char name[DFS_NAME_MAX + DFS_LABEL_MAX + 2];
	const char *label; /* the version part of name */
	int64_t root;
	int64_t id;
};

/* Natural order of versions; a tie (cannot happen) by id. */
static int version_order(const char *a, int64_t aid, const char *b, int64_t bid)
{
	int c = strverscmp(a, b);

	return c ? c : aid < bid ? -1 : aid > bid;
}

static int version_cmp(const void *a, const void *b)
{
	const struct version *x = a, *y = b;

	return version_order(x->label, x->id, y->label, y->id);
}

/*
 * packages/NAME: latest, then the versions in natural order.  Offsets: 1
 * after latest, 2 + package id after a version.  Resuming after a version
 * continues with the versions that sort after it, even if it was removed
 * meanwhile (its tombstone row keeps its label), so entries are neither
 * skipped nor repeated while the folder changes.
 */
static int list_versions(struct dfs_store *st, int64_t comp, uint64_t off,
			 bool hold, dfs_readdir_fn fn, void *ctx)
{
	char after[DFS_LABEL_MAX + 1] = "";
	struct version *v = NULL;
	struct dfs_component c;
	struct dfs_attr a;
	size_t n = 0, cap = 0, i = 0;
	sqlite3_stmt *s = NULL;
	int64_t latest, after_id = (int64_t)off - 2;
	int rc = dfs_component_by_id(st, comp, &c);

	if (rc == 0 && off > 1) {
		rc = dfs_query_sql(st, sql_version_of, &s, "i", after_id);
		if (rc == 1)
			snprintf(after, sizeof(after), "%s",
				 sqlite3_column_text(s, 0));
		if (s)
			sqlite3_reset(s);
		rc = rc < 0 ? rc : 0;
	}
	if (rc == 0)
		rc = dfs_query_sql(st, sql_versions, &s, "i", comp);
	while (rc == 1) {
		if (n == cap) {
			void *nv = realloc(v, (cap = cap ? 2 * cap : 16) *
						      sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		snprintf(v[n].name, sizeof(v[n].name), "%s@%s", c.name,
			 sqlite3_column_text(s, 0));
		v[n].label = v[n].name + strlen(c.name) + 1;
		v[n].root = sqlite3_column_int64(s, 1);
		v[n++].id = sqlite3_column_int64(s, 2);
		rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0;
	}
	if (s)
		sqlite3_reset(s);
	if (rc < 0)
		goto out_free;
	if (n > 1)
		qsort(v, n, sizeof(*v), version_cmp);
	if (off < 1 &&
	    one_int(st, sql_latest_of, "i", comp, NULL, &latest) == 0 &&
	    latest_attr(st, latest, &a) == 0 &&
	    emit(st, fn, ctx, hold, "latest", 1, &a))
		goto out_free;
	while (off > 1 && i < n &&
	       version_order(v[i].label, v[i].id, after, after_id) <= 0)
		i++;
	for (; i < n; i++) {
		if (snode_attr(st, v[i].root, &a) < 0)
			continue;
		if (emit(st, fn, ctx, hold, v[i].name, (uint64_t)v[i].id + 2,
			 &a))
			break;
	}
out_free:
	free(v);
	return rc < 0 ? rc : 0;
}

static int list_snode(struct dfs_store *st, int64_t dir, uint64_t off,
		      bool hold, dfs_readdir_fn fn, void *ctx)
{
	struct entry *v = NULL;
	size_t n = 0;
	int rc = collect(st, sql_snode_children, dir, (int64_t)off, false, &v,
			 &n);

	if (rc == 0)
		emit_all(st, v, n, snode_attr, hold, fn, ctx);
	free(v);
	return rc;
}

int dfs_vnode_readdir_locked(struct dfs_store *st, uint64_t ino, uint64_t off,
			     bool hold, dfs_readdir_fn fn, void *ctx)
{
	struct dfs_attr a;
	int rc;

	if (ino == DFS_INO_PACKAGES)
		return list_components(st, off, hold, fn, ctx);
	rc = dfs_vnode_getattr_locked(st, ino, &a);
	if (rc < 0)
		return rc;
	if (!S_ISDIR(a.mode))
		return -ENOTDIR;
	if (ino >= DFS_INO_PKGDIR_BASE)
		return list_versions(st, (int64_t)(ino - DFS_INO_PKGDIR_BASE),
				     off, hold, fn, ctx);
	return list_snode(st, (int64_t)(ino - DFS_INO_SNODE_BASE), off, hold,
			  fn, ctx);
}

int dfs_vnode_readlink_locked(struct dfs_store *st, uint64_t ino, char *buf,
			      size_t cap)
{
	sqlite3_stmt *s;
	int rc, len;

	if (ino >= DFS_INO_LATEST_BASE) {
		rc = dfs_query_sql(st, sql_latest, &s, "i",
				   (int64_t)(ino - DFS_INO_LATEST_BASE));
		if (rc <= 0)
			return rc == 0 ? -ENOENT : rc;
		len = snprintf(buf, cap, "%s@%s", sqlite3_column_text(s, 0),
			       sqlite3_column_text(s, 1));
		sqlite3_reset(s);
		return len < (int)cap ? len : -ENAMETOOLONG;
	}
	if (ino >= DFS_INO_PKGDIR_BASE)
		return -EINVAL;
	rc = dfs_query_sql(st, sql_snode_target, &s, "i",
			   (int64_t)(ino - DFS_INO_SNODE_BASE));
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	if (sqlite3_column_type(s, 0) == SQLITE_NULL) {
		sqlite3_reset(s);
		return -EINVAL;
	}
	len = sqlite3_column_bytes(s, 0);
	if ((size_t)len >= cap)
		rc = -ENAMETOOLONG;
	else
		memcpy(buf, sqlite3_column_blob(s, 0), (size_t)len);
	buf[rc < 0 ? 0 : len] = '\0';
	sqlite3_reset(s);
	return rc < 0 ? rc : len;
}

/* Content of a snapshot file: its blob (false if ino is not one). */
int dfs_vnode_blob_locked(struct dfs_store *st, uint64_t ino, uint32_t *mode,
			  uint64_t *size, struct dfs_hash *ret)
{
	static const char sql[] =
		"SELECT mode, size, blob FROM snodes WHERE id = ?1";
	sqlite3_stmt *s;
	int rc;

	if (ino < DFS_INO_SNODE_BASE || ino >= DFS_INO_PKGDIR_BASE)
		return -EISDIR;
	rc = dfs_query_sql(st, sql, &s, "i",
			   (int64_t)(ino - DFS_INO_SNODE_BASE));
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	*mode = (uint32_t)sqlite3_column_int64(s, 0);
	*size = (uint64_t)sqlite3_column_int64(s, 1);
	if (sqlite3_column_bytes(s, 2) == DFS_HASH_LEN)
		memcpy(ret->b, sqlite3_column_blob(s, 2), DFS_HASH_LEN);
	else
		*ret = dfs_empty_hash;
	sqlite3_reset(s);
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

/* Is a requested change a no-op for the unchanging node a? */
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
