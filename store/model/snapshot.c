// SPDX-License-Identifier: MIT
/*
 * snapshot.c - walking a component's build tree: the snapshot itself
 * (nodes that name the blobs the files already have, written by
 * snodew.c: no data is copied, and only what changed since the last
 * snapshot is written) and the Merkle hashes
 * (XXH3-128) that give a package its content_hash and a component its
 * revision.
 *
 * Include rule: a symlink whose target, taken relative to the link's
 * folder, is exactly build/TYPE/NAME of an existing component is a
 * reference (dfs_resolve_reference(), reference.c).  To an independently
 * deployable type (names.h: independent) it stays a symlink and is listed
 * as a requirement.  To any other type it is an include, a process too (a
 * subprocess): the snapshot puts that component's content in the link's
 * place, recursively, and a cycle is refused with ELOOP.
 *
 * Hashes cover names, types, permission bits, file content and link
 * targets, not owners or times: identical content, identical hash.  Each
 * node has two: "own" (includes hashed as the links they are: the basis of
 * a component's revision) and "full" (includes expanded: the package's
 * content_hash).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "snapshot.h"

#define WALK_COMPONENTS_MAX 64

struct child {
	char *name;
	uint64_t ino;
	uint32_t mode, uid, gid;
	uint64_t size, blocks, rdev;
	int64_t atime, mtime, ctime;
	bool has_blob;
	struct dfs_hash blob;
	char *target;
};

/* A file's size is its blob's: the inode's own once sealed (work 0), the
 * blob row's while a work file holds newer bytes (a seek per file saved:
 * a fifth of a snapshot that changes nothing). */
static const char sql_children[] =
	"SELECT d.name, i.ino, i.mode, i.uid, i.gid, i.rdev, i.atime, i.mtime,"
	" i.ctime, i.blob, i.target, i.work, i.blocks,"
	" CASE WHEN i.work = 0 THEN i.size ELSE (SELECT b.size FROM blobs b"
	" WHERE b.hash = i.blob) END"
	" FROM dirents d JOIN inodes i ON i.ino = d.ino"
	" WHERE d.parent = ?1 ORDER BY d.name";

static char *dup_col(sqlite3_stmt *s, int i)
{
	int n = sqlite3_column_bytes(s, i);
	char *p = malloc((size_t)n + 1);

	if (p) {
		memcpy(p, sqlite3_column_blob(s, i), (size_t)n);
		p[n] = '\0';
	}
	return p;
}

static void free_children(struct child *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].name);
		free(c[i].target);
	}
	free(c);
}

static int load_children(struct dfs_store *st, uint64_t dir, struct child **ret,
			 size_t *ret_n)
{
	struct child *c = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_children, &s, "i", (int64_t)dir);

	while (rc == 1) {
		struct child *x;

		if (n == cap) {
			struct child *nc;

			cap = cap ? 2 * cap : 16;
			nc = realloc(c, cap * sizeof(*c));
			if (!nc) {
				rc = -ENOMEM;
				break;
			}
			c = nc;
		}
		x = &c[n++];
		memset(x, 0, sizeof(*x));
		x->name = dup_col(s, 0);
		x->ino = (uint64_t)sqlite3_column_int64(s, 1);
		x->mode = (uint32_t)sqlite3_column_int64(s, 2);
		x->uid = (uint32_t)sqlite3_column_int64(s, 3);
		x->gid = (uint32_t)sqlite3_column_int64(s, 4);
		x->rdev = (uint64_t)sqlite3_column_int64(s, 5);
		x->atime = sqlite3_column_int64(s, 6);
		x->mtime = sqlite3_column_int64(s, 7);
		x->ctime = sqlite3_column_int64(s, 8);
		if (sqlite3_column_bytes(s, 9) == DFS_HASH_LEN) {
			x->has_blob = true;
			memcpy(x->blob.b, sqlite3_column_blob(s, 9),
			       DFS_HASH_LEN);
		}
		if (sqlite3_column_type(s, 10) != SQLITE_NULL)
			x->target = dup_col(s, 10);
		x->size = (uint64_t)sqlite3_column_int64(s, 13);
		x->blocks = sqlite3_column_int(s, 11)
				    ? (x->size + 511) / 512
				    : (uint64_t)sqlite3_column_int64(s, 12);
		if (!x->name || (S_ISLNK(x->mode) && !x->target)) {
			rc = -ENOMEM;
			break;
		}
		rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0;
	}
	if (s)
		sqlite3_reset(s);
	if (rc < 0) {
		free_children(c, n);
		return rc;
	}
	*ret = c;
	*ret_n = n;
	return 0;
}

/* ---- the walk ----------------------------------------------------------- */

struct hashes {
	struct dfs_hash own;
	struct dfs_hash full;
	bool left_out; /* in the component, not in its snapshot */
};

static void hash_parts(const char *tag, const void *a, size_t alen,
		       const void *b, size_t blen, struct dfs_hash *ret)
{
	XXH3_state_t st;
	XXH128_canonical_t c;

	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, tag, 1);
	XXH3_128bits_update(&st, a, alen);
	if (b)
		XXH3_128bits_update(&st, b, blen);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
	memcpy(ret->b, c.digest, DFS_HASH_LEN);
}

static int insert_snode(struct dfs_walk *w, int64_t parent, const char *name,
			const struct child *c, uint32_t mode, int64_t *ret_id)
{
	bool reg = S_ISREG(mode);
	struct dfs_snode_row r = {
		.mode = mode,
		.uid = c->uid,
		.gid = c->gid,
		.size = reg		? c->size
			: S_ISLNK(mode) ? strlen(c->target)
					: 0,
		.blocks = reg ? c->blocks : 0,
		.rdev = c->rdev,
		.atime = c->atime,
		.mtime = c->mtime,
		.ctime = c->ctime,
		.blob = !reg	      ? NULL
			: c->has_blob ? &c->blob
				      : &dfs_empty_hash,
		.target = S_ISLNK(mode) ? c->target : NULL,
	};

	w->entries++;
	return dfs_snapw_add(w->sw, parent, name, &r, ret_id);
}

static int walk_dir(struct dfs_walk *w, uint64_t dir, uint32_t mode,
		    int64_t sid, int depth, struct hashes *ret);

static bool expanding(const struct dfs_walk *w, int64_t id)
{
	for (int i = 0; i < w->nstack; i++)
		if (w->stack[i] == id)
			return true;
	return false;
}

static int note_revision(struct dfs_walk *w, struct dfs_component *c,
			 const struct dfs_hash *own)
{
	int rc;

	for (int i = 0; i < w->nrev; i++)
		if (w->revs[i].id == c->id)
			return 0;
	if (w->nrev == WALK_COMPONENTS_MAX)
		return -E2BIG;
	rc = w->revise ? dfs_component_revise(w->st, c, own) : 0;
	if (rc == 0) {
		w->revs[w->nrev].id = c->id;
		w->revs[w->nrev].revision = c->revision;
		snprintf(w->revs[w->nrev].name, sizeof(w->revs[0].name), "%s",
			 c->name);
		w->nrev++;
	}
	return rc;
}

static int note_requirement(struct dfs_walk *w, const struct dfs_component *c)
{
	char req[DFS_NAME_MAX + 40];

	snprintf(req, sizeof(req), "%s/%s", c->type, c->name);
	for (int i = 0; i < w->nreq; i++)
		if (strcmp(w->reqs[i], req) == 0)
			return 0;
	if (w->nreq == WALK_COMPONENTS_MAX)
		return -E2BIG;
	snprintf(w->reqs[w->nreq++], sizeof(w->reqs[0]), "%s", req);
	return 0;
}

/* Make w->path "TYPE/NAME" of component c; the old one in *ret_saved
 * (free it) when there was one. */
static int path_enter(struct dfs_walk *w, const struct dfs_component *c,
		      char **ret_saved)
{
	*ret_saved = NULL;
	if (w->plen && !(*ret_saved = strndup(w->path, w->plen)))
		return -ENOMEM;
	w->plen = (size_t)snprintf(w->path, sizeof(w->path), "%s/%s", c->type,
				   c->name);
	return 0;
}

static void path_leave(struct dfs_walk *w, char *saved)
{
	w->plen =
		saved ? (size_t)snprintf(w->path, sizeof(w->path), "%s", saved)
		      : 0;
	free(saved);
}

/* Walk the folder of component c as snode sid, depth levels down. */
static int walk_component(struct dfs_walk *w, struct dfs_component *c,
			  uint32_t mode, int64_t sid, int depth,
			  struct hashes *ret)
{
	char *saved;
	int rc = path_enter(w, c, &saved);

	if (rc < 0)
		return rc;
	w->stack[w->nstack++] = c->id;
	rc = walk_dir(w, c->dir, mode, sid, depth, ret);
	w->nstack--;
	path_leave(w, saved);
	return rc < 0 ? rc : note_revision(w, c, &ret->own);
}

/* Expand an include: the component inc goes where the link is. */
static int walk_include(struct dfs_walk *w, int64_t parent,
			const struct child *link, struct dfs_component *inc,
			int depth, struct hashes *ret)
{
	struct dfs_attr a;
	struct child d;
	struct hashes h;
	int64_t sid = 0;
	int rc;

	if (expanding(w, inc->id)) {
		snprintf(w->why, sizeof(w->why), "include loop through %s/%s",
			 inc->type, inc->name);
		return -ELOOP;
	}
	if (w->nstack == WALK_COMPONENTS_MAX)
		return -ELOOP;
	rc = dfs_inode_attr(w->st, inc->dir, &a);
	if (rc < 0)
		return rc;
	memset(&d, 0, sizeof(d));
	d.uid = a.uid;
	d.gid = a.gid;
	d.atime = dfs_ts_to_ns(a.atime);
	d.mtime = dfs_ts_to_ns(a.mtime);
	d.ctime = dfs_ts_to_ns(a.ctime);
	if (!w->dry)
		rc = insert_snode(w, parent, link->name, &d, a.mode, &sid);
	if (rc == 0)
		rc = walk_component(w, inc, a.mode, sid, depth + 1, &h);
	if (rc < 0)
		return rc;
	hash_parts("L", link->target, strlen(link->target), NULL, 0, &ret->own);
	ret->full = h.full;
	return 0;
}

static int walk_link(struct dfs_walk *w, int64_t parent, const struct child *c,
		     int depth, struct hashes *ret)
{
	struct dfs_component ref;
	const struct dfs_type *type;
	int64_t sid;
	int rc = dfs_resolve_reference(w->st, w->path, c->target, &ref);

	if (rc < 0)
		return rc;
	if (rc == 1 && w->expand) {
		type = dfs_type_find(ref.type);
		if (type && !type->independent)
			return walk_include(w, parent, c, &ref, depth, ret);
		rc = note_requirement(w, &ref);
		if (rc < 0)
			return rc;
	}
	hash_parts("L", c->target, strlen(c->target), NULL, 0, &ret->own);
	ret->full = ret->own;
	return w->dry ? 0 : insert_snode(w, parent, c->name, c, c->mode, &sid);
}

/* A folder: w->path grows by its name while it is walked. */
static int walk_subdir(struct dfs_walk *w, int64_t parent,
		       const struct child *c, int depth, struct hashes *ret)
{
	size_t plen = w->plen, len = strlen(c->name);
	int64_t sid = 0;
	int rc = 0;

	if (plen + 1 + len >= sizeof(w->path)) {
		snprintf(w->why, sizeof(w->why),
			 "a path in build/%.300s is longer than PATH_MAX",
			 w->path);
		return -ENAMETOOLONG;
	}
	if (!w->dry)
		rc = insert_snode(w, parent, c->name, c, c->mode, &sid);
	if (rc < 0)
		return rc;
	w->path[plen] = '/';
	memcpy(w->path + plen + 1, c->name, len + 1);
	w->plen = plen + 1 + len;
	rc = walk_dir(w, c->ino, c->mode, sid, depth + 1, ret);
	w->plen = plen;
	w->path[plen] = '\0';
	return rc;
}

/*
 * A device never enters a package (EPERM); a FIFO or a socket is a
 * rendezvous of processes on one machine, not content: it is left out of
 * the snapshot and counted.  Both count in the revision as any entry.
 */
static int walk_special(struct dfs_walk *w, const struct child *c,
			struct hashes *ret)
{
	if (S_ISCHR(c->mode) || S_ISBLK(c->mode)) {
		snprintf(w->why, sizeof(w->why),
			 "build/%.300s/%s is a %s device: "
			 "devices never enter a package",
			 w->path, c->name,
			 S_ISCHR(c->mode) ? "character" : "block");
		return -EPERM;
	}
	ret->left_out = true;
	w->left_out++;
	return 0;
}

static int walk_child(struct dfs_walk *w, int64_t parent, const struct child *c,
		      int depth, struct hashes *ret)
{
	uint32_t perm = c->mode & 07777;
	int64_t sid = 0;

	ret->left_out = false;
	if (S_ISLNK(c->mode))
		return walk_link(w, parent, c, depth, ret);
	if (S_ISDIR(c->mode))
		return walk_subdir(w, parent, c, depth, ret);
	if (S_ISREG(c->mode))
		hash_parts("F", &perm, sizeof(perm),
			   c->has_blob ? c->blob.b : dfs_empty_hash.b,
			   DFS_HASH_LEN, &ret->own);
	else
		hash_parts("O", &c->mode, sizeof(c->mode), &c->rdev,
			   sizeof(c->rdev), &ret->own);
	ret->full = ret->own;
	if (w->dry)
		return 0;
	if (!S_ISREG(c->mode))
		return walk_special(w, c, ret);
	return insert_snode(w, parent, c->name, c, c->mode, &sid);
}

static void hash_add(XXH3_state_t *s, const char *name,
		     const struct dfs_hash *h)
{
	XXH3_128bits_update(s, name, strlen(name) + 1);
	XXH3_128bits_update(s, h->b, DFS_HASH_LEN);
}

static void hash_end(XXH3_state_t *s, struct dfs_hash *ret)
{
	XXH128_canonical_t cn;

	XXH128_canonicalFromHash(&cn, XXH3_128bits_digest(s));
	memcpy(ret->b, cn.digest, DFS_HASH_LEN);
}

/* A folder's hashes; its states on the heap, so a deep walk keeps small
 * frames. */
static int walk_dir(struct dfs_walk *w, uint64_t dir, uint32_t mode,
		    int64_t sid, int depth, struct hashes *ret)
{
	uint32_t perm = mode & 07777;
	XXH3_state_t *own = NULL, *full = NULL;
	struct child *c = NULL;
	size_t n = 0;
	int64_t subdirs = 0;
	int rc;

	if (depth > DFS_WALK_DEPTH_MAX) {
		snprintf(w->why, sizeof(w->why),
			 "the snapshot would be deeper than %d levels "
			 "(PATH_MAX / 2)",
			 DFS_WALK_DEPTH_MAX);
		return -ENAMETOOLONG;
	}
	rc = load_children(w->st, dir, &c, &n);
	if (rc < 0)
		return rc;
	own = XXH3_createState();
	full = XXH3_createState();
	if (!own || !full)
		rc = -ENOMEM;
	if (rc == 0) {
		XXH3_128bits_reset(own);
		XXH3_128bits_reset(full);
		XXH3_128bits_update(own, "D", 1);
		XXH3_128bits_update(full, "D", 1);
		XXH3_128bits_update(own, &perm, sizeof(perm));
		XXH3_128bits_update(full, &perm, sizeof(perm));
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct hashes h;

		/* A git repository inside a component is its history, not
		 * its content. */
		if (S_ISDIR(c[i].mode) && strcmp(c[i].name, ".git") == 0)
			continue;
		rc = walk_child(w, sid, &c[i], depth, &h);
		if (rc < 0)
			break;
		if (S_ISDIR(c[i].mode) ||
		    (S_ISLNK(c[i].mode) &&
		     memcmp(&h.own, &h.full, sizeof(h.own))))
			subdirs++;
		hash_add(own, c[i].name, &h.own);
		if (!h.left_out)
			hash_add(full, c[i].name, &h.full);
	}
	free_children(c, n);
	if (depth == 0)
		w->root_nlink = (uint32_t)(2 + subdirs);
	if (rc == 0 && !w->dry)
		rc = dfs_snapw_dir_done(w->sw, sid, (uint32_t)(2 + subdirs));
	if (rc == 0) {
		hash_end(own, &ret->own);
		hash_end(full, &ret->full);
	}
	XXH3_freeState(own);
	XXH3_freeState(full);
	return rc;
}

/*
 * Walk component c.  With w->dry, only hash (no rows, no revision);
 * else add its snapshot under the snode sid and take the revisions of
 * every component captured.
 */
int dfs_walk_component(struct dfs_walk *w, struct dfs_component *c, int64_t sid,
		       struct dfs_hash *ret_own, struct dfs_hash *ret_full)
{
	struct dfs_attr a;
	struct hashes h;
	int rc = dfs_inode_attr(w->st, c->dir, &a);

	if (rc == 0)
		rc = walk_component(w, c, a.mode, sid, 0, &h);
	if (rc < 0)
		return rc;
	*ret_own = w->own = h.own;
	*ret_full = w->full = h.full;
	return 0;
}

/* The revision of the component whose folder is dir, taken now (a
 * transaction of its own). */
int dfs_component_revision(struct dfs_store *st, uint64_t dir, int64_t *ret)
{
	struct dfs_walk *w = calloc(1, sizeof(*w));
	struct dfs_hash own, full;
	struct dfs_component c;
	int rc;

	if (!w)
		return -ENOMEM;
	w->st = st;
	w->dry = true;
	w->revise = true;
	rc = dfs_component_by_dir(st, dir, &c);
	if (rc == 0)
		rc = dfs_db_begin(st);
	if (rc == 0) {
		rc = dfs_walk_component(w, &c, 0, &own, &full);
		if (rc == 0)
			rc = dfs_db_commit(st, false);
		else
			dfs_db_rollback(st);
	}
	free(w);
	if (rc == 0)
		*ret = c.revision;
	return rc;
}
