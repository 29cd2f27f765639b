// SPDX-License-Identifier: MIT
/*
 * snodew.c - writing a snapshot's nodes (the layout is snode.c's).
 *
 * A snapshot of build/ is the next version of its component's line: each
 * entry is looked for among the line's current rows (vto NULL: the state
 * of the line's latest snapshot) in the same folder under the same name.
 * An entry that holds what its row holds is that row, unwritten.  One
 * that changed closes its row (vto = this version) and gets a new row of
 * the same node; a new one gets a new node; a row no entry matched is
 * closed, and with a folder the rows below it.  So a snapshot writes
 * O(changed entries), though it reads them all.  An import writes a line
 * of its own (no earlier rows to share).
 *
 * The walk (snapshot.c, pkgimport.c) goes depth first: a folder is added,
 * then its entries, then dfs_snapw_dir_done() gives its link count and
 * writes (or keeps) its own row.  One transaction, st->lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "snapshot.h"

static const char sql_line_find[] =
	"SELECT id FROM lines WHERE component = ?1 AND shared = 1";
static const char sql_line_new[] =
	"INSERT INTO lines (component, shared) VALUES (?1, ?2)";
static const char sql_line_get[] = "SELECT seq, nodes FROM lines WHERE id = ?1";
static const char sql_line_set[] =
	"UPDATE lines SET seq = ?2, nodes = ?3 WHERE id = ?1";
static const char sql_next_id[] = "SELECT next FROM snode_ids";
static const char sql_next_set[] = "UPDATE snode_ids SET next = ?1";
#define KID_COLS                                                               \
	"vfrom, node, name, mode, uid, gid, nlink, size, blocks, rdev, atime," \
	" mtime, ctime, blob, target"
static const char sql_kids[] = "SELECT " KID_COLS " FROM snodes"
			       " WHERE line = ?1 AND parent = ?2"
			       " AND vto IS NULL ORDER BY name";
static const char sql_insert[] =
	"INSERT INTO snodes (line, node, parent, name, vfrom, mode, uid, gid,"
	" nlink, size, blocks, rdev, atime, mtime, ctime, blob, target)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
	" ?14, ?15, ?16, ?17)";
static const char sql_close[] = "UPDATE snodes SET vto = ?4"
				" WHERE line = ?1 AND node = ?2 AND vfrom = ?3";
/* Children by (line, parent), not by the whole line: see snode.c TREE. */
static const char sql_close_below[] =
	"WITH RECURSIVE t(node) AS (SELECT ?2 UNION ALL SELECT s.node"
	" FROM snodes s INDEXED BY snodes_by_name JOIN t ON s.line = ?1"
	" AND s.parent = t.node"
	" AND s.vto IS NULL)"
	" UPDATE snodes SET vto = ?3 WHERE line = ?1 AND vto IS NULL"
	" AND node IN (SELECT node FROM t WHERE node <> ?2)";
/* The blobs of the rows this snapshot writes are kept in memory and
 * counted in their rows at the end: each blob's row once, in hash order
 * (a trigger per row updated them one at a time: half the time of a
 * first snapshot; a temporary table grouped by SQL, a third). */
static const char sql_count_blob[] =
	"UPDATE blobs SET refs = refs + ?2 WHERE hash = ?1";

/* A current row of the line (what the last snapshot holds). */
struct kid {
	int64_t vfrom, node; /* vfrom 0: none */
	char *name;
	size_t nlen;
	struct dfs_snode_row r;
	uint32_t nlink;
	struct dfs_hash blob;
	bool has_blob;
	bool seen;
};

/* A folder added, its entries still coming. */
struct dir {
	int64_t node, parent;
	char *name;
	struct dfs_snode_row r;
	struct kid *self; /* its current row, or NULL */
	struct kid *kids; /* the current rows below it, by name */
	size_t n;
};

struct dfs_snapw {
	struct dfs_store *st;
	int64_t line, seq, root, nodes;
	struct kid top; /* the line's current root row (vfrom 0: none) */
	struct dir *dirs;
	int ndirs, cap;
	struct dfs_hash *blobs; /* of the rows written, one per row */
	size_t nblobs, capblobs;
};

static void kids_free(struct kid *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(k[i].name);
		free((char *)k[i].r.target);
	}
	free(k);
}

static void kid_read(sqlite3_stmt *s, struct kid *k)
{
	int nlen = sqlite3_column_bytes(s, 2);

	memset(k, 0, sizeof(*k));
	k->vfrom = sqlite3_column_int64(s, 0);
	k->node = sqlite3_column_int64(s, 1);
	k->name = malloc((size_t)nlen + 1);
	if (k->name) {
		memcpy(k->name, sqlite3_column_blob(s, 2), (size_t)nlen);
		k->name[nlen] = '\0';
	}
	k->nlen = (size_t)nlen;
	k->r.mode = (uint32_t)sqlite3_column_int64(s, 3);
	k->r.uid = (uint32_t)sqlite3_column_int64(s, 4);
	k->r.gid = (uint32_t)sqlite3_column_int64(s, 5);
	k->nlink = (uint32_t)sqlite3_column_int64(s, 6);
	k->r.size = (uint64_t)sqlite3_column_int64(s, 7);
	k->r.blocks = (uint64_t)sqlite3_column_int64(s, 8);
	k->r.rdev = (uint64_t)sqlite3_column_int64(s, 9);
	k->r.atime = sqlite3_column_int64(s, 10);
	k->r.mtime = sqlite3_column_int64(s, 11);
	k->r.ctime = sqlite3_column_int64(s, 12);
	k->has_blob = sqlite3_column_bytes(s, 13) == DFS_HASH_LEN;
	if (k->has_blob)
		memcpy(k->blob.b, sqlite3_column_blob(s, 13), DFS_HASH_LEN);
	if (sqlite3_column_type(s, 14) != SQLITE_NULL) {
		int tlen = sqlite3_column_bytes(s, 14);
		char *t = malloc((size_t)tlen + 1);

		if (t) {
			memcpy(t, sqlite3_column_blob(s, 14), (size_t)tlen);
			t[tlen] = '\0';
		}
		k->r.target = t;
	}
}

/* The current rows of the line under node parent, by name. */
static int kids_load(struct dfs_snapw *w, int64_t parent, struct kid **ret,
		     size_t *ret_n)
{
	struct kid *v = NULL, *nv;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(w->st, sql_kids, &s, "ii", w->line, parent);

	for (; rc == 1; rc = dfs_next(s)) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				sqlite3_reset(s);
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		kid_read(s, &v[n]);
		if (!v[n].name || (sqlite3_column_type(s, 14) != SQLITE_NULL &&
				   !v[n].r.target)) {
			n++;
			sqlite3_reset(s);
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	if (rc < 0) {
		kids_free(v, n);
		return rc;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Names in SQLite's order of BLOBs: bytes, then the shorter first. */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : alen < blen ? -1 : alen > blen;
}

static struct kid *kid_find(struct dir *d, const char *name)
{
	size_t lo = 0, hi = d->n, len = strlen(name);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(name, len, d->kids[mid].name,
				 d->kids[mid].nlen);

		if (c == 0)
			return &d->kids[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static bool same(const struct kid *k, const struct dfs_snode_row *r,
		 uint32_t nlink)
{
	const struct dfs_hash *b = r->blob;

	if (k->r.mode != r->mode || k->r.uid != r->uid || k->r.gid != r->gid ||
	    k->nlink != nlink || k->r.size != r->size ||
	    k->r.blocks != r->blocks || k->r.rdev != r->rdev ||
	    k->r.atime != r->atime || k->r.mtime != r->mtime ||
	    k->r.ctime != r->ctime || k->has_blob != (b != NULL))
		return false;
	if (b && memcmp(k->blob.b, b->b, DFS_HASH_LEN) != 0)
		return false;
	if (!k->r.target != !r->target)
		return false;
	return !r->target || strcmp(k->r.target, r->target) == 0;
}

static int blob_add(struct dfs_snapw *w, const struct dfs_hash *h)
{
	if (w->nblobs == w->capblobs) {
		size_t cap = w->capblobs ? 2 * w->capblobs : 1024;
		struct dfs_hash *v = realloc(w->blobs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->blobs = v;
		w->capblobs = cap;
	}
	w->blobs[w->nblobs++] = *h;
	return 0;
}

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, DFS_HASH_LEN);
}

/* Each blob's row counts the rows written that name it. */
static int count_blobs(struct dfs_snapw *w)
{
	int rc = 0;

	if (w->nblobs == 0)
		return 0; /* no array: qsort may not be given NULL */
	qsort(w->blobs, w->nblobs, sizeof(*w->blobs), hash_cmp);
	for (size_t i = 0, j; rc == 0 && i < w->nblobs; i = j) {
		j = i + 1;
		while (j < w->nblobs &&
		       hash_cmp(&w->blobs[i], &w->blobs[j]) == 0)
			j++;
		rc = dfs_exec_sql(w->st, sql_count_blob, "hi", &w->blobs[i],
				  (int64_t)(j - i));
	}
	return rc;
}

static int row_insert(struct dfs_snapw *w, int64_t node, int64_t parent,
		      const char *name, const struct dfs_snode_row *r,
		      uint32_t nlink)
{
	int rc = dfs_exec_sql(w->st, sql_insert, "iiisiiiiiiiiiiixs", w->line,
			      node, parent, name, w->seq, (int64_t)r->mode,
			      (int64_t)r->uid, (int64_t)r->gid, (int64_t)nlink,
			      (int64_t)r->size, (int64_t)r->blocks,
			      (int64_t)r->rdev, r->atime, r->mtime, r->ctime,
			      r->blob ? (const void *)r->blob->b : NULL,
			      (size_t)(r->blob ? DFS_HASH_LEN : 0), r->target);

	if (rc == 0 && r->blob)
		rc = blob_add(w, r->blob);
	return rc;
}

static int close_one(struct dfs_snapw *w, int64_t node, int64_t vfrom)
{
	return dfs_exec_sql(w->st, sql_close, "iiii", w->line, node, vfrom,
			    w->seq);
}

/* Close the row k (and, a folder, the rows below it). */
static int row_close(struct dfs_snapw *w, const struct kid *k)
{
	int rc = close_one(w, k->node, k->vfrom);

	if (rc == 0 && S_ISDIR(k->r.mode))
		rc = dfs_exec_sql(w->st, sql_close_below, "iii", w->line,
				  k->node, w->seq);
	return rc;
}

int dfs_snapw_begin(struct dfs_store *st, int64_t comp, bool share,
		    struct dfs_snapw **ret)
{
	struct dfs_snapw *w = calloc(1, sizeof(*w));
	sqlite3_stmt *s = NULL;
	int rc;

	if (!w)
		return -ENOMEM;
	w->st = st;
	rc = share ? dfs_query_int(st, sql_line_find, &w->line, "i", comp)
		   : -ENOENT;
	if (rc == -ENOENT) {
		rc = dfs_exec_sql(st, sql_line_new, "ii", comp, (int64_t)share);
		w->line = dfs_last_rowid(st);
	}
	if (rc == 0)
		rc = dfs_query_sql(st, sql_line_get, &s, "i", w->line);
	if (rc == 1) {
		w->seq = sqlite3_column_int64(s, 0) + 1;
		w->nodes = sqlite3_column_int64(s, 1);
		rc = dfs_stmt_done(s, SQLITE_ROW);
	} else if (rc == 0) {
		rc = -EIO;
	}
	if (rc == 0)
		rc = dfs_query_int(st, sql_next_id, &w->root, "");
	if (rc < 0) {
		free(w);
		return rc;
	}
	*ret = w;
	return 0;
}

static int push(struct dfs_snapw *w, int64_t node, int64_t parent,
		const char *name, const struct dfs_snode_row *r,
		struct kid *self)
{
	struct dir *d;
	int rc = 0;

	if (w->ndirs == w->cap) {
		int cap = w->cap ? 2 * w->cap : 16;
		struct dir *nd = realloc(w->dirs, (size_t)cap * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		w->dirs = nd;
		w->cap = cap;
	}
	d = &w->dirs[w->ndirs];
	memset(d, 0, sizeof(*d));
	d->node = node;
	d->parent = parent;
	d->r = *r;
	d->r.blob = NULL;
	d->r.target = NULL;
	d->self = self;
	d->name = strdup(name);
	if (!d->name)
		return -ENOMEM;
	/* A folder new to the line has no rows below it to share; the
	 * root (node 0) is the root of every version, its own row gone or
	 * not. */
	if (self || node == 0)
		rc = kids_load(w, node, &d->kids, &d->n);
	if (rc < 0) {
		free(d->name);
		return rc;
	}
	w->ndirs++;
	return 0;
}

/* The root: node 0, whatever its name (NAME@VERSION) was. */
static int add_root(struct dfs_snapw *w, const char *name,
		    const struct dfs_snode_row *r, int64_t *ret_id)
{
	struct kid *k = NULL;
	size_t n = 0;
	int rc = kids_load(w, -1, &k, &n);

	if (rc < 0)
		return rc;
	if (n == 1 && k[0].node == 0) {
		w->top = k[0];
		k[0].name = NULL;
		k[0].r.target = NULL;
	}
	kids_free(k, n);
	if (w->nodes == 0)
		w->nodes = 1;
	rc = push(w, 0, -1, name, r, w->top.vfrom ? &w->top : NULL);
	if (rc == 0)
		*ret_id = w->root;
	return rc;
}

int dfs_snapw_add(struct dfs_snapw *w, int64_t parent, const char *name,
		  const struct dfs_snode_row *r, int64_t *ret_id)
{
	struct dir *d = w->ndirs ? &w->dirs[w->ndirs - 1] : NULL;
	struct kid *k;
	int64_t node;
	int rc = 0;

	if (parent == 0)
		return d ? -EINVAL : add_root(w, name, r, ret_id);
	if (!d || w->root + d->node != parent)
		return -EINVAL; /* depth first, or not at all */
	k = kid_find(d, name);
	if (k)
		k->seen = true;
	/* Its node stays while its type does: a folder's entries keep
	 * theirs below it. */
	node = k && (k->r.mode & S_IFMT) == (r->mode & S_IFMT) ? k->node
							       : w->nodes++;
	if (S_ISDIR(r->mode)) {
		if (k && !S_ISDIR(k->r.mode))
			rc = row_close(w, k);
		if (rc == 0)
			rc = push(w, node, d->node, name, r,
				  k && S_ISDIR(k->r.mode) ? k : NULL);
	} else if (!k || !same(k, r, 1)) {
		if (k)
			rc = row_close(w, k);
		if (rc == 0)
			rc = row_insert(w, node, d->node, name, r, 1);
	}
	if (rc == 0)
		*ret_id = w->root + node;
	return rc;
}

int dfs_snapw_dir_done(struct dfs_snapw *w, int64_t id, uint32_t nlink)
{
	struct dir *d = w->ndirs ? &w->dirs[w->ndirs - 1] : NULL;
	int rc = 0;

	if (!d || w->root + d->node != id)
		return -EINVAL;
	/* What no entry matched is gone from this version. */
	for (size_t i = 0; rc == 0 && i < d->n; i++)
		if (!d->kids[i].seen)
			rc = row_close(w, &d->kids[i]);
	if (rc == 0 && !(d->self &&
			 name_cmp(d->self->name, d->self->nlen, d->name,
				  strlen(d->name)) == 0 &&
			 same(d->self, &d->r, nlink))) {
		/* The root's own row is closed alone: its entries are
		 * matched above. */
		if (d->self)
			rc = close_one(w, d->self->node, d->self->vfrom);
		if (rc == 0)
			rc = row_insert(w, d->node, d->parent, d->name, &d->r,
					nlink);
	}
	kids_free(d->kids, d->n);
	free(d->name);
	w->ndirs--;
	return rc;
}

int dfs_snapw_root_only(struct dfs_snapw *w, const char *name,
			const struct dfs_snode_row *r, uint32_t nlink,
			int64_t *ret_id)
{
	struct kid *k = NULL;
	size_t n = 0;
	int rc = w->ndirs ? -EINVAL : kids_load(w, -1, &k, &n);

	if (rc == 0 && (n != 1 || k[0].node != 0))
		rc = -ESTALE;
	if (rc == 0)
		rc = close_one(w, 0, k[0].vfrom);
	if (rc == 0)
		rc = row_insert(w, 0, -1, name, r, nlink);
	kids_free(k, n);
	if (rc == 0)
		*ret_id = w->root;
	return rc;
}

int dfs_snapw_end(struct dfs_snapw *w, struct dfs_snap_place *ret)
{
	int rc = w->ndirs ? -EINVAL : 0;

	if (rc == 0)
		rc = count_blobs(w);
	if (rc == 0)
		rc = dfs_exec_sql(w->st, sql_line_set, "iii", w->line, w->seq,
				  w->nodes);
	if (rc == 0)
		rc = dfs_exec_sql(w->st, sql_next_set, "i", w->root + w->nodes);
	if (rc == 0) {
		ret->root = w->root;
		ret->line = w->line;
		ret->seq = w->seq;
		ret->nodes = w->nodes;
	}
	return rc;
}

void dfs_snapw_free(struct dfs_snapw *w)
{
	if (!w)
		return;
	while (w->ndirs > 0) {
		struct dir *d = &w->dirs[--w->ndirs];

		kids_free(d->kids, d->n);
		free(d->name);
	}
	free(w->dirs);
	free(w->blobs);
	free(w->top.name);
	free((char *)w->top.r.target);
	free(w);
}
