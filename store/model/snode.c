// SPDX-License-Identifier: MIT
/*
 * snode.c - reading snapshot nodes: the rows a package's snapshot is made
 * of (snapshot.c writes them; they never change).  The nodes of one
 * package are one run of ids starting at its root.  st->lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"

static const char sql_attr[] =
	"SELECT id, mode, uid, gid, nlink, size, blocks, rdev, atime, mtime,"
	" ctime FROM snodes WHERE id = ?1";
static const char sql_child[] =
	"SELECT id FROM snodes WHERE parent = ?1 AND name = ?2";
static const char sql_children[] = "SELECT id, name FROM snodes"
				   " WHERE parent = ?1 AND id > ?2"
				   " ORDER BY id";
static const char sql_target[] = "SELECT target FROM snodes WHERE id = ?1";
static const char sql_blob[] =
	"SELECT mode, size, blob FROM snodes WHERE id = ?1";
static const char sql_info[] = "SELECT parent, mode, size, blob, target,"
			       " name FROM snodes WHERE id = ?1";
static const char sql_tree_size[] =
	"WITH RECURSIVE t(id) AS (SELECT ?1 UNION ALL"
	" SELECT s.id FROM snodes s JOIN t ON s.parent = t.id)"
	" SELECT count(*) - 1 FROM t";
static const char sql_blobs[] =
	"WITH RECURSIVE t(id) AS (SELECT ?1 UNION ALL"
	" SELECT s.id FROM snodes s JOIN t ON s.parent = t.id)"
	" SELECT s.blob, s.size, min(s.id) FROM snodes s JOIN t ON s.id = t.id"
	" WHERE (s.mode & 61440) = 32768 GROUP BY s.blob";
static const char sql_prefix[] = "SELECT id FROM snodes WHERE parent = ?1"
				 " AND substr(name, 1, ?2) = ?3 LIMIT 2";

int dfs_snode_attr(struct dfs_store *st, int64_t id, struct dfs_attr *ret)
{
	struct dfs_attr a = { 0 };
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_attr, &s, "i", id);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
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
	if (S_ISDIR(a.mode)) {
		a.size = 4096;
		a.blocks = 8;
	}
	*ret = a;
	return dfs_stmt_done(s, SQLITE_ROW);
}

int dfs_snode_child(struct dfs_store *st, int64_t dir, const char *name,
		    int64_t *ret)
{
	return dfs_query_int(st, sql_child, ret, "is", dir, name);
}

int dfs_snode_prefix(struct dfs_store *st, int64_t dir, const char *prefix,
		     int64_t *ret)
{
	sqlite3_stmt *s = NULL;
	int n = 0, rc = dfs_query_sql(st, sql_prefix, &s, "iis", dir,
				      (int64_t)strlen(prefix), prefix);

	for (; rc == 1; rc = dfs_next(s)) {
		*ret = sqlite3_column_int64(s, 0);
		n++;
	}
	return rc < 0 ? rc : n == 1 ? 0 : -ENOENT;
}

int dfs_snode_children(struct dfs_store *st, int64_t dir, int64_t after,
		       struct dfs_idnames *ret)
{
	return dfs_idnames_query(st, sql_children, "ii", dir, after, ret);
}

int dfs_snode_target(struct dfs_store *st, int64_t id, char *buf, size_t cap)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_target, &s, "i", id), len;

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

int dfs_snode_blob(struct dfs_store *st, int64_t id, uint32_t *mode,
		   uint64_t *size, struct dfs_hash *ret)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_blob, &s, "i", id);

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

int dfs_snode_info(struct dfs_store *st, int64_t id, struct dfs_snode *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_info, &s, "i", id);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	ret->id = id;
	ret->parent = sqlite3_column_int64(s, 0);
	ret->mode = (uint32_t)sqlite3_column_int64(s, 1);
	ret->size = (uint64_t)sqlite3_column_int64(s, 2);
	ret->has_blob = sqlite3_column_bytes(s, 3) == DFS_HASH_LEN;
	ret->blob = dfs_empty_hash;
	if (ret->has_blob)
		memcpy(ret->blob.b, sqlite3_column_blob(s, 3), DFS_HASH_LEN);
	dfs_col_text(s, 4, ret->target, sizeof(ret->target));
	dfs_col_text(s, 5, ret->name, sizeof(ret->name));
	sqlite3_reset(s);
	return 0;
}

int dfs_snode_tree_size(struct dfs_store *st, int64_t root, int64_t *ret)
{
	return dfs_query_int(st, sql_tree_size, ret, "i", root);
}

int dfs_snode_blobs(struct dfs_store *st, int64_t root,
		    struct dfs_blobref **ret, size_t *ret_n)
{
	struct dfs_blobref *v = NULL, *nv;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_blobs, &s, "i", root);

	for (; rc == 1; rc = dfs_next(s)) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				sqlite3_reset(s);
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		/* No blob: the empty file's content. */
		v[n].hash = dfs_empty_hash;
		if (sqlite3_column_bytes(s, 0) == DFS_HASH_LEN)
			memcpy(v[n].hash.b, sqlite3_column_blob(s, 0),
			       DFS_HASH_LEN);
		v[n].size = (uint64_t)sqlite3_column_int64(s, 1);
		v[n].snode = sqlite3_column_int64(s, 2);
		n++;
	}
	if (rc < 0) {
		free(v);
		return rc;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
