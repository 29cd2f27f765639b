// SPDX-License-Identifier: MIT
/*
 * pkgexport.c - a package read whole for deployctl export: its metadata
 * as its row holds it and every node of its snapshot, links as captured
 * (the text the content hash covers, not the target a tree shows), read
 * under st->lock into memory, then handed to the caller without the lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "registry.h"

static const char sql_meta[] =
	"SELECT c.name, c.type, p.version, p.created_by, p.notes,"
	" p.revisions, p.requires, p.created, p.uid, p.content_hash"
	" FROM packages p JOIN components c ON c.id = p.component"
	" WHERE p.id = ?1";

struct xnode {
	struct dfs_pkg_node n;
	int64_t id;
};

struct xpkg {
	char *text[7];
	struct dfs_pkg_record r;
	struct xnode *v;
	size_t n, cap;
};

static char *col_dup(sqlite3_stmt *s, int i)
{
	int len = sqlite3_column_bytes(s, i);
	const void *p = sqlite3_column_blob(s, i);
	char *d;

	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return NULL;
	d = malloc((size_t)len + 1);
	if (d) {
		if (len)
			memcpy(d, p, (size_t)len);
		d[len] = '\0';
	}
	return d;
}

static void xpkg_release(struct xpkg *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free((char *)x->v[i].n.path);
		free((char *)x->v[i].n.target);
	}
	free(x->v);
	for (int i = 0; i < 7; i++)
		free(x->text[i]);
}

static int load_meta(struct dfs_store *st, int64_t id, struct xpkg *x)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_meta, &s, "i", id);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	for (int i = 0; i < 7; i++)
		x->text[i] = col_dup(s, i);
	x->r.component = x->text[0];
	x->r.type = x->text[1];
	x->r.version = x->text[2];
	x->r.created_by = x->text[3];
	x->r.notes = x->text[4];
	x->r.revisions = x->text[5];
	x->r.requires = x->text[6];
	x->r.created = sqlite3_column_int64(s, 7);
	x->r.uid = sqlite3_column_int64(s, 8);
	if (sqlite3_column_bytes(s, 9) == DFS_HASH_LEN)
		memcpy(x->r.content_hash.b, sqlite3_column_blob(s, 9),
		       DFS_HASH_LEN);
	sqlite3_reset(s);
	for (int i = 0; i < 7; i++)
		if (!x->text[i] && i != 4)
			return -ENOMEM;
	return 0;
}

/* The row of s as a node at path prefix/name ("" for the root). */
static int add_node(struct xpkg *x, sqlite3_stmt *s, const char *prefix)
{
	struct xnode *n;
	char *name = col_dup(s, 1);
	size_t len;

	if (!name)
		return -ENOMEM;
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		struct xnode *v = realloc(x->v, cap * sizeof(*v));

		if (!v) {
			free(name);
			return -ENOMEM;
		}
		x->v = v;
		x->cap = cap;
	}
	n = &x->v[x->n];
	memset(n, 0, sizeof(*n));
	if (prefix) {
		len = strlen(prefix) + strlen(name) + 2;
		n->n.path = malloc(len);
		if (n->n.path)
			snprintf((char *)n->n.path, len, "%s%s%s", prefix,
				 prefix[0] ? "/" : "", name);
	} else {
		n->n.path = strdup("");
	}
	free(name);
	n->id = sqlite3_column_int64(s, 0);
	n->n.mode = (uint32_t)sqlite3_column_int64(s, 2);
	n->n.uid = (uint32_t)sqlite3_column_int64(s, 3);
	n->n.gid = (uint32_t)sqlite3_column_int64(s, 4);
	n->n.mtime = sqlite3_column_int64(s, 5);
	n->n.size = (uint64_t)sqlite3_column_int64(s, 6);
	if (sqlite3_column_bytes(s, 7) == DFS_HASH_LEN)
		memcpy(n->n.blob.b, sqlite3_column_blob(s, 7), DFS_HASH_LEN);
	n->n.target = S_ISLNK(n->n.mode) ? col_dup(s, 8) : NULL;
	x->n++;
	if (!n->n.path || (S_ISLNK(n->n.mode) && !n->n.target))
		return -ENOMEM;
	return 0;
}

/* The children of node at (a folder), then each folder's below it. */
static int load_dir(struct dfs_store *st, struct xpkg *x, size_t at, int depth)
{
	size_t first = x->n, last;
	int64_t id = x->v[at].id;
	sqlite3_stmt *s = NULL;
	char *path;
	int rc;

	if (depth > DFS_WALK_DEPTH_MAX)
		return -ENAMETOOLONG;
	path = strdup(x->v[at].n.path);
	if (!path)
		return -ENOMEM;
	rc = dfs_snode_rows(st, id, true, &s);
	while (rc == 1) {
		rc = add_node(x, s, path);
		if (rc == 0)
			rc = dfs_next(s);
	}
	if (rc < 0)
		sqlite3_reset(s);
	free(path);
	last = x->n;
	for (size_t i = first; rc == 0 && i < last; i++)
		if (S_ISDIR(x->v[i].n.mode))
			rc = load_dir(st, x, i, depth + 1);
	return rc;
}

static int load(struct dfs_store *st, const char *component,
		const char *version, struct xpkg *x)
{
	struct dfs_pkg p;
	sqlite3_stmt *s = NULL;
	int rc = version ? dfs_pkg_by_version(st, component, version, &p)
			 : dfs_pkg_latest(st, component, &p);

	if (rc == 0)
		rc = load_meta(st, p.id, x);
	if (rc == 0)
		rc = dfs_snode_rows(st, p.root, false, &s);
	if (rc == 0)
		rc = -ENOENT;
	if (rc == 1) {
		rc = add_node(x, s, NULL);
		sqlite3_reset(s);
	}
	if (rc == 0)
		rc = load_dir(st, x, 0, 0);
	return rc;
}

static int export(struct dfs_store *st, const char *component,
		  const char *version, dfs_pkg_node_fn fn, void *ctx,
		  bool locked)
{
	struct xpkg x = { 0 };
	int rc;

	if (!locked)
		pthread_mutex_lock(&st->lock);
	rc = load(st, component, version, &x);
	if (!locked)
		pthread_mutex_unlock(&st->lock);
	for (size_t i = 0; rc == 0 && i < x.n; i++)
		rc = fn(ctx, &x.r, &x.v[i].n);
	xpkg_release(&x);
	return rc;
}

int dfs_pkg_export(struct dfs_store *st, const char *component,
		   const char *version, dfs_pkg_node_fn fn, void *ctx)
{
	return export(st, component, version, fn, ctx, false);
}

int dfs_pkg_export_locked(struct dfs_store *st, const char *component,
			  const char *version, dfs_pkg_node_fn fn, void *ctx)
{
	return export(st, component, version, fn, ctx, true);
}

int dfs_pkg_blob_open(struct dfs_store *st, const struct dfs_hash *h,
		      uint64_t size, int *ret_fd)
{
	/* Checked first without the lock; fetched from the registry if it
	 * comes from there and is not here yet. */
	int rc = size > DFS_INLINE_MAX ? dfs_blob_check_fetch(st, h, size) : 0;

	if (rc < 0 && rc != -ENOENT)
		return rc;
	pthread_mutex_lock(&st->lock);
	rc = dfs_blob_open_checked(st, h, size, ret_fd);
	pthread_mutex_unlock(&st->lock);
	return rc;
}
