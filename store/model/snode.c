// SPDX-License-Identifier: MIT
/*
 * snode.c - reading snapshot nodes: the entries a package's snapshot is
 * made of (snodew.c writes them; a package's never change).
 *
 * Layout (schema 11).  A package's node ids are one run, root first:
 * packages.root up to root + packages.nodes.  Node id root + n is node n
 * of the package's line (node 0 its root folder), seen as of the line's
 * version packages.seq.  A row of snodes is one state of one node of a
 * line, valid for the versions vfrom <= seq < vto (vto NULL: still, in the
 * line's latest snapshot); parent is the parent folder's node (-1 for the
 * root).  So the entries a new snapshot did not change are the earlier
 * ones' rows, not new rows: 100 versions of a tree with 1 % changed take
 * one tree and 99 % of nothing.  st->lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"

#define VALID " AND vfrom <= ?3 AND (vto IS NULL OR vto > ?3)"
#define ROW_COLS                                                          \
	"mode, uid, gid, nlink, size, blocks, rdev, atime, mtime, ctime," \
	" blob, target, name, parent"

static const char sql_place[] = "SELECT root, line, seq, nodes FROM packages"
				" WHERE root <= ?1 ORDER BY root DESC LIMIT 1";
static const char sql_row[] =
	"SELECT " ROW_COLS " FROM snodes"
	" WHERE line = ?1 AND node = ?2" VALID " ORDER BY vfrom DESC LIMIT 1";
static const char sql_child[] = "SELECT node FROM snodes WHERE line = ?1"
				" AND parent = ?2 AND name = ?4" VALID;
static const char sql_prefix[] =
	"SELECT node FROM snodes INDEXED BY snodes_by_name"
	" WHERE line = ?1 AND parent = ?2" VALID
	" AND substr(name, 1, ?4) = ?5 LIMIT 2";
static const char sql_children[] =
	"SELECT ?5 + node, name FROM snodes WHERE line = ?1 AND parent = ?2" VALID
	" AND node > ?4 ORDER BY node";
static const char sql_rows[] =
	"SELECT ?4 + node, name, mode, uid, gid, mtime, size, blob, target"
	" FROM snodes WHERE line = ?1 AND parent = ?2" VALID " ORDER BY name";
static const char sql_row_export[] =
	"SELECT ?4 + node, name, mode, uid, gid, mtime, size, blob, target"
	" FROM snodes WHERE line = ?1 AND node = ?2" VALID
	" ORDER BY vfrom DESC LIMIT 1";
/*
 * The nodes of the tree at node ?2 as of version ?3 (?2 itself first).
 * Each step looks up a folder's children by (line, parent): without
 * statistics SQLite would take the primary key's (line) instead and read
 * the whole line for every node, n squared (180 ms for the start of a
 * copy deploy of 2,000 files; 2.5 ms by the index).
 */
#define TREE                                                             \
	"WITH RECURSIVE t(node) AS (SELECT ?2 UNION ALL SELECT s.node"   \
	" FROM snodes s INDEXED BY snodes_by_name JOIN t ON s.line = ?1" \
	" AND s.parent = t.node"                                         \
	" AND s.vfrom <= ?3 AND (s.vto IS NULL OR s.vto > ?3)) "
static const char sql_tree_size[] = TREE "SELECT count(*) - 1 FROM t";
static const char sql_blobs[] =
	TREE "SELECT s.blob, s.size, ?4 + min(s.node) FROM snodes s JOIN t"
	     " ON s.line = ?1 AND s.node = t.node AND s.vfrom <= ?3"
	     " AND (s.vto IS NULL OR s.vto > ?3)"
	     " WHERE (s.mode & 61440) = 32768 GROUP BY s.blob";

/* Where node id is: its package's line, version and root. */
struct place {
	int64_t root, line, seq, node;
};

static int place_of(struct dfs_store *st, int64_t id, struct place *ret)
{
	sqlite3_stmt *s = NULL;
	int64_t nodes;
	int rc = dfs_query_sql(st, sql_place, &s, "i", id);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	ret->root = sqlite3_column_int64(s, 0);
	ret->line = sqlite3_column_int64(s, 1);
	ret->seq = sqlite3_column_int64(s, 2);
	nodes = sqlite3_column_int64(s, 3);
	/* No line: reclaimed (gc), or a package being made. */
	rc = sqlite3_column_type(s, 1) == SQLITE_NULL || id - ret->root >= nodes
		     ? -ENOENT
		     : 0;
	sqlite3_reset(s);
	ret->node = id - ret->root;
	return rc;
}

/* The row of node id, stepped (the caller resets it): columns ROW_COLS. */
static int row_of(struct dfs_store *st, int64_t id, struct place *p,
		  sqlite3_stmt **ret)
{
	int rc = place_of(st, id, p);

	if (rc == 0)
		rc = dfs_query_sql(st, sql_row, ret, "iii", p->line, p->node,
				   p->seq);
	return rc < 0 ? rc : rc == 0 ? -ENOENT : 0;
}

int dfs_snode_attr(struct dfs_store *st, int64_t id, struct dfs_attr *ret)
{
	struct dfs_attr a = { 0 };
	struct place p;
	sqlite3_stmt *s;
	int rc = row_of(st, id, &p, &s);

	if (rc < 0)
		return rc;
	a.mode = (uint32_t)sqlite3_column_int64(s, 0);
	a.uid = (uint32_t)sqlite3_column_int64(s, 1);
	a.gid = (uint32_t)sqlite3_column_int64(s, 2);
	a.nlink = (uint32_t)sqlite3_column_int64(s, 3);
	a.size = (uint64_t)sqlite3_column_int64(s, 4);
	a.blocks = (uint64_t)sqlite3_column_int64(s, 5);
	a.rdev = (uint64_t)sqlite3_column_int64(s, 6);
	a.atime = dfs_ns_to_ts(sqlite3_column_int64(s, 7));
	a.mtime = dfs_ns_to_ts(sqlite3_column_int64(s, 8));
	a.ctime = dfs_ns_to_ts(sqlite3_column_int64(s, 9));
	if (S_ISDIR(a.mode)) {
		a.size = 4096;
		a.blocks = 8;
	}
	*ret = a;
	sqlite3_reset(s);
	return 0;
}

int dfs_snode_child(struct dfs_store *st, int64_t dir, const char *name,
		    int64_t *ret)
{
	struct place p;
	int64_t node;
	int rc = place_of(st, dir, &p);

	if (rc == 0)
		rc = dfs_query_int(st, sql_child, &node, "iiis", p.line, p.node,
				   p.seq, name);
	if (rc == 0)
		*ret = p.root + node;
	return rc;
}

int dfs_snode_prefix(struct dfs_store *st, int64_t dir, const char *prefix,
		     int64_t *ret)
{
	sqlite3_stmt *s = NULL;
	struct place p;
	int n = 0, rc = place_of(st, dir, &p);

	if (rc == 0)
		rc = dfs_query_sql(st, sql_prefix, &s, "iiiis", p.line, p.node,
				   p.seq, (int64_t)strlen(prefix), prefix);
	for (; rc == 1; rc = dfs_next(s)) {
		*ret = p.root + sqlite3_column_int64(s, 0);
		n++;
	}
	return rc < 0 ? rc : n == 1 ? 0 : -ENOENT;
}

int dfs_snode_children(struct dfs_store *st, int64_t dir, int64_t after,
		       struct dfs_idnames *ret)
{
	sqlite3_stmt *s = NULL;
	struct place p;
	int rc = place_of(st, dir, &p);

	if (rc == 0)
		rc = dfs_query_sql(
			st, sql_children, &s, "iiiii", p.line, p.node, p.seq,
			after > p.root ? after - p.root : -1, p.root);
	return dfs_idnames_collect(s, rc, ret);
}

int dfs_snode_rows(struct dfs_store *st, int64_t id, bool children,
		   sqlite3_stmt **ret)
{
	struct place p;
	int rc = place_of(st, id, &p);

	if (rc < 0)
		return rc;
	return dfs_query_sql(st, children ? sql_rows : sql_row_export, ret,
			     "iiii", p.line, p.node, p.seq, p.root);
}

int dfs_snode_target(struct dfs_store *st, int64_t id, char *buf, size_t cap)
{
	struct place p;
	sqlite3_stmt *s;
	int rc = row_of(st, id, &p, &s), len;

	if (rc < 0)
		return rc;
	if (sqlite3_column_type(s, 11) == SQLITE_NULL) {
		sqlite3_reset(s);
		return -EINVAL;
	}
	len = sqlite3_column_bytes(s, 11);
	if ((size_t)len >= cap)
		rc = -ENAMETOOLONG;
	else
		memcpy(buf, sqlite3_column_blob(s, 11), (size_t)len);
	buf[rc < 0 ? 0 : len] = '\0';
	sqlite3_reset(s);
	return rc < 0 ? rc : len;
}

static void col_hash(sqlite3_stmt *s, int col, bool *has, struct dfs_hash *ret)
{
	*has = sqlite3_column_bytes(s, col) == DFS_HASH_LEN;
	*ret = dfs_empty_hash;
	if (*has)
		memcpy(ret->b, sqlite3_column_blob(s, col), DFS_HASH_LEN);
}

int dfs_snode_blob(struct dfs_store *st, int64_t id, uint32_t *mode,
		   uint64_t *size, struct dfs_hash *ret)
{
	struct place p;
	sqlite3_stmt *s;
	bool has;
	int rc = row_of(st, id, &p, &s);

	if (rc < 0)
		return rc;
	*mode = (uint32_t)sqlite3_column_int64(s, 0);
	*size = (uint64_t)sqlite3_column_int64(s, 4);
	col_hash(s, 10, &has, ret);
	sqlite3_reset(s);
	return 0;
}

int dfs_snode_info(struct dfs_store *st, int64_t id, struct dfs_snode *ret)
{
	struct place p;
	sqlite3_stmt *s;
	int64_t parent;
	int rc = row_of(st, id, &p, &s);

	if (rc < 0)
		return rc;
	ret->id = id;
	parent = sqlite3_column_int64(s, 13);
	ret->parent = parent < 0 ? 0 : p.root + parent;
	ret->mode = (uint32_t)sqlite3_column_int64(s, 0);
	ret->size = (uint64_t)sqlite3_column_int64(s, 4);
	col_hash(s, 10, &ret->has_blob, &ret->blob);
	dfs_col_text(s, 11, ret->target, sizeof(ret->target));
	dfs_col_text(s, 12, ret->name, sizeof(ret->name));
	sqlite3_reset(s);
	return 0;
}

int dfs_snode_tree_size(struct dfs_store *st, int64_t root, int64_t *ret)
{
	struct place p;
	int rc = place_of(st, root, &p);

	return rc < 0 ? rc
		      : dfs_query_int(st, sql_tree_size, ret, "iii", p.line,
				      p.node, p.seq);
}

int dfs_snode_blobs(struct dfs_store *st, int64_t root,
		    struct dfs_blobref **ret, size_t *ret_n)
{
	struct dfs_blobref *v = NULL, *nv;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	struct place p;
	bool has;
	int rc = place_of(st, root, &p);

	if (rc == 0)
		rc = dfs_query_sql(st, sql_blobs, &s, "iiii", p.line, p.node,
				   p.seq, p.root);
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
		col_hash(s, 0, &has, &v[n].hash);
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
