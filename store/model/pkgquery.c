// SPDX-License-Identifier: MIT
/*
 * pkgquery.c - finding packages: by id, by name and version, the latest
 * of a component, the one a snapshot node belongs to, and the versions
 * and summary of a component's folder of packages, and the earlier
 * package a new one is identical to.  Removed packages keep
 * a tombstone row (their version keeps listing offsets stable) and are
 * found only by dfs_pkg_label().  st->lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define PKG_SELECT                                                       \
	"SELECT p.id, p.root, c.id, c.name, p.version, p.created, p.uid" \
	" FROM packages p JOIN components c ON c.id = p.component"
static const char sql_by_id[] = PKG_SELECT " WHERE p.id = ?1"
					   " AND p.removed = 0";
static const char sql_by_version[] =
	PKG_SELECT " WHERE c.name = ?1 AND p.version = ?2 AND p.removed = 0";
static const char sql_latest[] = PKG_SELECT
	" WHERE c.name = ?1 AND p.removed = 0 ORDER BY p.id DESC LIMIT 1";
static const char sql_of_snode[] =
	PKG_SELECT " WHERE p.root <= ?1 AND p.removed = 0"
		   " ORDER BY p.root DESC LIMIT 1";
static const char sql_root_removed[] =
	"SELECT count(*) FROM packages WHERE root = ?1 AND removed <> 0";
static const char sql_label[] = "SELECT version FROM packages WHERE id = ?1";
static const char sql_versions[] = "SELECT version, root, id FROM packages"
				   " WHERE component = ?1 AND removed = 0";
static const char sql_same[] =
	"SELECT version FROM packages WHERE component = ?1"
	" AND content_hash = ?2 AND id < ?3 ORDER BY id DESC LIMIT 1";
static const char sql_folder[] =
	"SELECT count(p.id), c.changed, i.uid, i.gid, i.mtime"
	" FROM components c LEFT JOIN packages p ON p.component = c.id"
	" AND p.removed = 0"
	" LEFT JOIN inodes i ON i.ino = c.dir WHERE c.id = ?1";

static int pkg_query(struct dfs_store *st, const char *sql, const char *fmt,
		     const void *a, const void *b, struct dfs_pkg *ret)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (fmt[0] == 'i')
		rc = dfs_query_sql(st, sql, &s, fmt, *(const int64_t *)a);
	else if (fmt[1])
		rc = dfs_query_sql(st, sql, &s, fmt, a, b);
	else
		rc = dfs_query_sql(st, sql, &s, fmt, a);
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	ret->id = sqlite3_column_int64(s, 0);
	ret->root = sqlite3_column_int64(s, 1);
	ret->comp = sqlite3_column_int64(s, 2);
	dfs_col_text(s, 3, ret->component, sizeof(ret->component));
	dfs_col_text(s, 4, ret->version, sizeof(ret->version));
	ret->created = sqlite3_column_int64(s, 5);
	ret->uid = (uint32_t)sqlite3_column_int64(s, 6);
	sqlite3_reset(s);
	return 0;
}

int dfs_pkg_by_id(struct dfs_store *st, int64_t id, struct dfs_pkg *ret)
{
	return pkg_query(st, sql_by_id, "i", &id, NULL, ret);
}

int dfs_pkg_by_version(struct dfs_store *st, const char *component,
		       const char *version, struct dfs_pkg *ret)
{
	return pkg_query(st, sql_by_version, "ss", component, version, ret);
}

int dfs_pkg_latest(struct dfs_store *st, const char *component,
		   struct dfs_pkg *ret)
{
	return pkg_query(st, sql_latest, "s", component, NULL, ret);
}

int dfs_pkg_of_snode(struct dfs_store *st, int64_t snode, struct dfs_pkg *ret)
{
	return pkg_query(st, sql_of_snode, "i", &snode, NULL, ret);
}

int dfs_pkg_label(struct dfs_store *st, int64_t id, char *buf, size_t cap)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_label, &s, "i", id);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	dfs_col_text(s, 0, buf, cap);
	sqlite3_reset(s);
	return 0;
}

int dfs_pkg_versions(struct dfs_store *st, int64_t comp,
		     struct dfs_versions *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_versions, &s, "i", comp);

	for (; rc == 1; rc = dfs_next(s)) {
		struct dfs_version *v;

		if (ret->n == ret->cap) {
			size_t cap = ret->cap ? 2 * ret->cap : 16;
			void *nv = realloc(ret->v, cap * sizeof(*ret->v));

			if (!nv) {
				sqlite3_reset(s);
				return -ENOMEM;
			}
			ret->v = nv;
			ret->cap = cap;
		}
		v = &ret->v[ret->n++];
		dfs_col_text(s, 0, v->label, sizeof(v->label));
		v->root = sqlite3_column_int64(s, 1);
		v->id = sqlite3_column_int64(s, 2);
	}
	return rc < 0 ? rc : 0;
}

int dfs_pkg_folder(struct dfs_store *st, int64_t comp,
		   struct dfs_pkg_folder *ret)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_folder, &s, "i", comp);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	ret->count = sqlite3_column_int64(s, 0);
	ret->changed = sqlite3_column_type(s, 1) == SQLITE_NULL
			       ? sqlite3_column_int64(s, 4)
			       : sqlite3_column_int64(s, 1);
	ret->uid = (uint32_t)sqlite3_column_int64(s, 2);
	ret->gid = (uint32_t)sqlite3_column_int64(s, 3);
	sqlite3_reset(s);
	return 0;
}

int dfs_pkg_same_warning(struct dfs_store *st, int64_t comp, const char *name,
			 const struct dfs_hash *hash, int64_t before, char *buf,
			 size_t cap)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_same, &s, "ihi", comp, hash, before);

	if (rc <= 0)
		return rc;
	snprintf(buf, cap, "same content hash as %s@%s", name,
		 (const char *)sqlite3_column_text(s, 0));
	rc = dfs_stmt_done(s, SQLITE_ROW);
	return rc < 0 ? rc : 1;
}

/* Is snode the root of a removed package?  (Any error: say no, as the
 * snode's own attributes will say it.) */
bool dfs_pkg_root_removed(struct dfs_store *st, int64_t snode)
{
	int64_t n = 0;

	return dfs_query_int(st, sql_root_removed, &n, "i", snode) == 0 &&
	       n > 0;
}

/*
 * Package p goes (removed or pruned; st->lock held): tell the kernel,
 * which may keep the entries packages/NAME/NAME@V and packages/NAME.  The
 * folder's attributes are dropped at once (then ENOENT: see
 * dfs_pkg_root_removed), before the change is answered, so the next walk
 * through a kept entry stops there; the entries go just after, by the
 * notifier (it needs the folder's lock, held by the caller's call).
 */
void dfs_pkg_notice_gone(struct dfs_store *st, const struct dfs_pkg *p)
{
	uint64_t dir = DFS_INO_PKGDIR_BASE + (uint64_t)p->comp;
	uint64_t root = DFS_INO_SNODE_BASE + (uint64_t)p->root;
	char name[DFS_NAME_MAX + DFS_LABEL_MAX + 2];

	snprintf(name, sizeof(name), "%s@%s", p->component, p->version);
	dfs_notice_attr(st, root);
	dfs_notice_push(st, dir, root, name, true);
}
