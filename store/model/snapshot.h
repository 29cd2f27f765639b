/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h - what the snapshot's files share (snapshot.c, snapcache.c,
 * snodew.c, package.c, pkgimport.c): the walk of a component and writing
 * a snapshot's nodes.  The rest of the store sees model.h's part.
 */
#ifndef DFS_MODEL_SNAPSHOT_H
#define DFS_MODEL_SNAPSHOT_H

#include "model.h"

/* ---- snapshot.c: walking a component ---------------------------------- */

/* The folder walked, relative to build/: TYPE/NAME and a path below it
 * of less than PATH_MAX. */
#define DFS_WALK_PATH_MAX (PATH_MAX + 32 + DFS_NAME_MAX)

/* Where a snapshot written is: the package row takes these. */
struct dfs_snap_place {
	int64_t root, line, seq, nodes;
};

struct dfs_snapw;
struct dfs_walk {
	struct dfs_store *st;
	struct dfs_snapw *sw; /* where the nodes go (not when dry) */
	bool dry;	      /* hash only */
	bool expand;	      /* follow includes */
	bool revise;	      /* take the revisions of what is walked */
	int64_t entries;
	int64_t left_out; /* FIFOs and sockets not in the snapshot */
	int nstack;
	int64_t stack[64]; /* components being expanded */
	int nrev;
	struct {
		int64_t id;
		int64_t revision;
		char name[DFS_NAME_MAX + 1];
	} revs[64];
	int nreq;
	char reqs[64][DFS_NAME_MAX + 40];
	char why[640]; /* for a refusal */
	/* Its results (dfs_walk_component()): the hashes, and the link
	 * count of the component's folder. */
	struct dfs_hash own, full;
	uint32_t root_nlink;
	struct dfs_tree_version seen; /* the tree's, as the walk began */
	struct dfs_snap_place place;  /* where the snapshot went */
	/* The folder walked, relative to build/ (for links relative to
	 * it): one buffer for the whole walk, not one per level. */
	size_t plen;
	char path[DFS_WALK_PATH_MAX];
};
int dfs_walk_component(struct dfs_walk *w, struct dfs_component *c, int64_t sid,
		       struct dfs_hash *ret_own, struct dfs_hash *ret_full);

/* ---- snapcache.c: a component's last walk, kept ------------------------ */

/* In the snapshot's transaction, before it walks: 1 when nothing the
 * walk of component comp reads has changed since its last snapshot,
 * whose rows are still the line's: w holds that walk's results (hashes,
 * revisions, requirements, root_nlink, left_out); 0 when the component
 * must be walked, or -errno.  Either way w->seen is the tree's version. */
int dfs_snapcache_find(struct dfs_store *st, int64_t comp, struct dfs_walk *w);
/* After the snapshot w of comp committed (st->lock still held). */
void dfs_snapcache_keep(struct dfs_store *st, int64_t comp,
			const struct dfs_walk *w);
void dfs_snapcache_forget(struct dfs_store *st, int64_t comp);

/* ---- snodew.c: writing a snapshot ------------------------------------------ */

/* What a node holds (a folder's link count: dfs_snapw_dir_done). */
struct dfs_snode_row {
	uint32_t mode, uid, gid;
	uint64_t size, blocks, rdev;
	int64_t atime, mtime, ctime;
	const struct dfs_hash *blob; /* regular files (the empty one too) */
	const char *target;	     /* links */
};
/* The next version of component comp's line of build snapshots (share:
 * its unchanged entries are the earlier versions' rows), or a line of its
 * own (an import). */
int dfs_snapw_begin(struct dfs_store *st, int64_t comp, bool share,
		    struct dfs_snapw **ret);
/* Node name under folder parent (0: the root, first), depth first: a
 * folder's entries follow it, then dfs_snapw_dir_done(). */
int dfs_snapw_add(struct dfs_snapw *w, int64_t parent, const char *name,
		  const struct dfs_snode_row *r, int64_t *ret_id);
int dfs_snapw_dir_done(struct dfs_snapw *w, int64_t id, uint32_t nlink);
/* Instead of the nodes: a version whose entries are all the line's
 * current rows (snapcache.c), its root named name with r and nlink.
 * -ESTALE: the line has no root row to follow. */
int dfs_snapw_root_only(struct dfs_snapw *w, const char *name,
			const struct dfs_snode_row *r, uint32_t nlink,
			int64_t *ret_id);
/* After the last node: blobs counted, the line moved on. */
int dfs_snapw_end(struct dfs_snapw *w, struct dfs_snap_place *ret);
void dfs_snapw_free(struct dfs_snapw *w);

#endif
