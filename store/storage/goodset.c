// SPDX-License-Identifier: MIT
/*
 * goodset.c - the blobs found good in this mount: each blob is checked
 * against its name before its bytes are first served or vouched for
 * (blob.c, inline.c), and once found good it is not read again while the
 * store is open.  A set of hashes (open addressing; the slot is the
 * hash's first bytes, already uniform) under a mutex of its own, so it is
 * asked with or without st->lock.  A damaged blob is never added: it is
 * checked again at each use, and served again once repaired.  The set
 * stops growing at GOOD_MAX blobs; the ones beyond are checked at each
 * use instead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage.h"

#define GOOD_MAX (1u << 22) /* 4M blobs: a table of 128 MiB at most */

/* The all-zero hash marks an empty slot: it is never added (XXH3-128
 * gives it to no content anyone will meet), only checked each time. */
static bool is_zero(const struct dfs_hash *h)
{
	static const struct dfs_hash zero;

	return memcmp(h->b, zero.b, DFS_HASH_LEN) == 0;
}

static size_t slot_of(const struct dfs_hash *h, size_t cap)
{
	uint64_t x;

	memcpy(&x, h->b, sizeof(x));
	return (size_t)x & (cap - 1);
}

/* The slot holding h, or the empty one where it would go. */
static size_t find(const struct dfs_hash *v, size_t cap,
		   const struct dfs_hash *h)
{
	size_t i = slot_of(h, cap);

	while (!is_zero(&v[i]) && memcmp(v[i].b, h->b, DFS_HASH_LEN) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static int grow(struct dfs_goodset *g)
{
	size_t cap = g->cap ? 2 * g->cap : 1024;
	struct dfs_hash *v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < g->cap; i++)
		if (!is_zero(&g->v[i]))
			v[find(v, cap, &g->v[i])] = g->v[i];
	free(g->v);
	g->v = v;
	g->cap = cap;
	return 0;
}

void dfs_goodset_init(struct dfs_goodset *g)
{
	pthread_mutex_init(&g->lock, NULL);
	g->v = NULL;
	g->n = 0;
	g->cap = 0;
}

void dfs_goodset_release(struct dfs_goodset *g)
{
	free(g->v);
	g->v = NULL;
	g->n = g->cap = 0;
	pthread_mutex_destroy(&g->lock);
}

bool dfs_blob_is_good(struct dfs_store *st, const struct dfs_hash *h)
{
	struct dfs_goodset *g = &st->good;
	bool good = false;

	if (is_zero(h))
		return false;
	pthread_mutex_lock(&g->lock);
	if (g->cap)
		good = !is_zero(&g->v[find(g->v, g->cap, h)]);
	pthread_mutex_unlock(&g->lock);
	return good;
}

void dfs_blob_mark_good(struct dfs_store *st, const struct dfs_hash *h)
{
	struct dfs_goodset *g = &st->good;
	size_t i;

	if (is_zero(h))
		return;
	pthread_mutex_lock(&g->lock);
	/* At most half full; without memory (or past GOOD_MAX) the blob is
	 * simply checked again next time. */
	if (2 * (g->n + 1) > g->cap && (g->n >= GOOD_MAX || grow(g) < 0))
		goto out_unlock;
	i = find(g->v, g->cap, h);
	if (is_zero(&g->v[i])) {
		g->v[i] = *h;
		g->n++;
	}
out_unlock:
	pthread_mutex_unlock(&g->lock);
}
