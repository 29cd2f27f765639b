// SPDX-License-Identifier: MIT
/*
 * snapcache.c - a component's last walk, kept: packaging a tree that has
 * not changed since its last snapshot writes the root's row alone.
 *
 * A snapshot reads every entry of its component (snapshot.c) to find the
 * few that changed (snodew.c): 28 ms for 10,000 files that changed none.
 * After a snapshot commits, its results (hashes, revisions,
 * requirements, the root's link count) are kept with the version the
 * tree had as its walk began, in its transaction (dfs_db_tree_version():
 * every row of inodes and dirents written, every component made or
 * deleted, every other connection's commit).  The next snapshot of the
 * component finds the same version only if no row its walk would read
 * has changed: the walk's results are then the kept ones, and the line's
 * current rows, which that snapshot left, are its entries.  Those rows
 * are checked to be still there: the line is at the kept version and
 * that version's package still holds its rows (a reclaimed latest
 * version takes its rows with it, gc.c).
 *
 * In memory only, under st->lock: a new daemon walks once again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

#define SNAPCACHE_MAX 16

struct kept {
	int64_t comp; /* 0: a free slot */
	struct dfs_tree_version version;
	int64_t line, seq;
	struct dfs_hash own, full;
	uint32_t root_nlink;
	int64_t left_out;
	int nrev, nreq;
	void *revs, *reqs; /* as struct dfs_walk holds them */
};

struct dfs_snapcache {
	struct kept k[SNAPCACHE_MAX];
	unsigned next; /* the slot a new component takes */
};

/* The kept version's package still names its rows. */
static const char sql_line_holds[] =
	"SELECT count(*) FROM lines l JOIN packages p ON p.line = l.id"
	" AND p.seq = l.seq WHERE l.id = ?1 AND l.seq = ?2";

static struct kept *kept_of(struct dfs_store *st, int64_t comp)
{
	struct dfs_snapcache *c = st->snapcache;

	for (int i = 0; c && i < SNAPCACHE_MAX; i++)
		if (c->k[i].comp == comp)
			return &c->k[i];
	return NULL;
}

static void kept_clear(struct kept *k)
{
	free(k->revs);
	free(k->reqs);
	memset(k, 0, sizeof(*k));
}

void dfs_snapcache_forget(struct dfs_store *st, int64_t comp)
{
	struct kept *k = kept_of(st, comp);

	if (k)
		kept_clear(k);
}

void dfs_snapcache_free(struct dfs_store *st)
{
	if (!st->snapcache)
		return;
	for (int i = 0; i < SNAPCACHE_MAX; i++)
		kept_clear(&st->snapcache->k[i]);
	free(st->snapcache);
	st->snapcache = NULL;
}

static bool same_version(const struct dfs_tree_version *a,
			 const struct dfs_tree_version *b)
{
	return a->gen == b->gen && a->data_version == b->data_version;
}

int dfs_snapcache_find(struct dfs_store *st, int64_t comp, struct dfs_walk *w)
{
	struct kept *k = kept_of(st, comp);
	int64_t holds = 0;
	int rc = dfs_db_tree_version(st, &w->seen);

	if (rc < 0 || !k || !same_version(&k->version, &w->seen))
		return rc < 0 ? rc : 0;
	rc = dfs_query_int(st, sql_line_holds, &holds, "ii", k->line, k->seq);
	if (rc < 0 || holds != 1)
		return rc < 0 ? rc : 0;
	w->own = k->own;
	w->full = k->full;
	w->root_nlink = k->root_nlink;
	w->left_out = k->left_out;
	w->nrev = k->nrev;
	w->nreq = k->nreq;
	memcpy(w->revs, k->revs, (size_t)k->nrev * sizeof(w->revs[0]));
	memcpy(w->reqs, k->reqs, (size_t)k->nreq * sizeof(w->reqs[0]));
	st->snap_reused++;
	return 1;
}

static void *dup_mem(const void *p, size_t n)
{
	void *d = malloc(n ? n : 1);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

/* After the snapshot w of comp committed: kept with the version the tree
 * had as it began.  Not the version now: another connection's commit
 * could fall between this one and now, and the walk did not see it. */
void dfs_snapcache_keep(struct dfs_store *st, int64_t comp,
			const struct dfs_walk *w)
{
	struct dfs_snapcache *c = st->snapcache;
	struct kept *k = kept_of(st, comp), n = { .comp = comp };

	if (!c && !(c = st->snapcache = calloc(1, sizeof(*c))))
		return;
	if (!k) {
		k = &c->k[c->next];
		c->next = (c->next + 1) % SNAPCACHE_MAX;
	}
	kept_clear(k);
	n.version = w->seen;
	n.line = w->place.line;
	n.seq = w->place.seq;
	n.own = w->own;
	n.full = w->full;
	n.root_nlink = w->root_nlink;
	n.left_out = w->left_out;
	n.nrev = w->nrev;
	n.nreq = w->nreq;
	n.revs = dup_mem(w->revs, (size_t)w->nrev * sizeof(w->revs[0]));
	n.reqs = dup_mem(w->reqs, (size_t)w->nreq * sizeof(w->reqs[0]));
	if (!n.revs || !n.reqs) {
		kept_clear(&n);
		return;
	}
	*k = n;
}
