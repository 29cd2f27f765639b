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
 *
 * A blob file with a chunk list is checked as it is read, chunk by chunk
 * (blobcheck.c): its entry in a second table (chains of struct dfs_partial)
 * holds a bitmap of the chunks found good and one of those being checked,
 * so that concurrent reads of one chunk check it once.  When the last
 * chunk is found good the blob joins the set.  At most PART_MAX blobs are
 * tracked in part; past that, one not being checked is forgotten (its
 * chunks are checked again when read again).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage.h"

#define GOOD_MAX (1u << 22)   /* 4M blobs: a table of 128 MiB at most */
#define DFS_PART_BUCKETS 4096 /* chains of blobs read in part */
#define PART_MAX (1u << 16)   /* blobs read in part remembered at once */

/* A blob being checked chunk by chunk.  bits: nwords of chunks found
 * good, then nwords of chunks being checked. */
struct dfs_partial {
	struct dfs_hash h;
	uint32_t n;    /* chunks */
	uint32_t left; /* not found good yet */
	struct dfs_partial *next;
	uint64_t bits[];
};

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
	pthread_cond_init(&g->checked, NULL);
	g->v = NULL;
	g->n = 0;
	g->cap = 0;
	g->part = NULL;
	g->nparts = 0;
	g->evict = 0;
}

void dfs_goodset_release(struct dfs_goodset *g)
{
	for (size_t b = 0; g->part && b < DFS_PART_BUCKETS; b++) {
		struct dfs_partial *p = g->part[b], *next;

		for (; p; p = next) {
			next = p->next;
			free(p);
		}
	}
	free(g->part);
	g->part = NULL;
	g->nparts = 0;
	free(g->v);
	g->v = NULL;
	g->n = g->cap = 0;
	pthread_cond_destroy(&g->checked);
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

static bool has_locked(struct dfs_goodset *g, const struct dfs_hash *h)
{
	return g->cap && !is_zero(&g->v[find(g->v, g->cap, h)]);
}

/* g->lock held. */
static void add_locked(struct dfs_goodset *g, const struct dfs_hash *h)
{
	size_t i;

	/* At most half full; without memory (or past GOOD_MAX) the blob is
	 * simply checked again next time. */
	if (2 * (g->n + 1) > g->cap && (g->n >= GOOD_MAX || grow(g) < 0))
		return;
	i = find(g->v, g->cap, h);
	if (is_zero(&g->v[i])) {
		g->v[i] = *h;
		g->n++;
	}
}

static struct dfs_partial **part_find(struct dfs_goodset *g,
				      const struct dfs_hash *h);
static void part_unlink(struct dfs_goodset *g, struct dfs_partial **pp);
static bool part_busy(const struct dfs_partial *p);

void dfs_blob_mark_good(struct dfs_store *st, const struct dfs_hash *h)
{
	struct dfs_goodset *g = &st->good;
	struct dfs_partial **pp;

	if (is_zero(h))
		return;
	pthread_mutex_lock(&g->lock);
	add_locked(g, h);
	/* Found good whole: its chunks need no entry (unless being
	 * checked; that check's verdict drops it). */
	pp = part_find(g, h);
	if (pp && !part_busy(*pp))
		part_unlink(g, pp);
	pthread_mutex_unlock(&g->lock);
}

/* ---- blobs checked chunk by chunk ------------------------------------------ */

static size_t words_of(uint32_t n)
{
	return ((size_t)n + 63) / 64;
}

static bool bit(const uint64_t *w, uint32_t k)
{
	return (w[k / 64] >> (k % 64)) & 1;
}

static void set_bit(uint64_t *w, uint32_t k, bool on)
{
	if (on)
		w[k / 64] |= (uint64_t)1 << (k % 64);
	else
		w[k / 64] &= ~((uint64_t)1 << (k % 64));
}

/* The entry of h and the link that points at it, or NULL. */
static struct dfs_partial **part_find(struct dfs_goodset *g,
				      const struct dfs_hash *h)
{
	struct dfs_partial **pp;

	if (!g->part)
		return NULL;
	pp = &g->part[slot_of(h, DFS_PART_BUCKETS)];
	while (*pp && memcmp((*pp)->h.b, h->b, DFS_HASH_LEN) != 0)
		pp = &(*pp)->next;
	return *pp ? pp : NULL;
}

static void part_unlink(struct dfs_goodset *g, struct dfs_partial **pp)
{
	struct dfs_partial *p = *pp;

	*pp = p->next;
	free(p);
	g->nparts--;
}

static bool part_busy(const struct dfs_partial *p)
{
	const uint64_t *busy = p->bits + words_of(p->n);

	for (size_t i = 0; i < words_of(p->n); i++)
		if (busy[i])
			return true;
	return false;
}

/* Make room for one more entry: forget one that no one is checking. */
static bool part_room(struct dfs_goodset *g)
{
	if (g->nparts < PART_MAX)
		return true;
	for (size_t i = 0; i < DFS_PART_BUCKETS; i++) {
		size_t b = (g->evict + i) % DFS_PART_BUCKETS;

		for (struct dfs_partial **pp = &g->part[b]; *pp;
		     pp = &(*pp)->next) {
			if (!part_busy(*pp)) {
				part_unlink(g, pp);
				g->evict = (b + 1) % DFS_PART_BUCKETS;
				return true;
			}
		}
	}
	return false;
}

/* The entry of h with n chunks, made when missing; NULL without room. */
static struct dfs_partial *part_get(struct dfs_goodset *g,
				    const struct dfs_hash *h, uint32_t n)
{
	struct dfs_partial **pp = part_find(g, h), *p;
	size_t b;

	if (pp)
		return (*pp)->n == n ? *pp : NULL;
	if (!g->part) {
		g->part = calloc(DFS_PART_BUCKETS, sizeof(*g->part));
		if (!g->part)
			return NULL;
	}
	if (!part_room(g))
		return NULL;
	p = calloc(1, sizeof(*p) + 2 * words_of(n) * sizeof(uint64_t));
	if (!p)
		return NULL;
	p->h = *h;
	p->n = n;
	p->left = n;
	b = slot_of(h, DFS_PART_BUCKETS);
	p->next = g->part[b];
	g->part[b] = p;
	g->nparts++;
	return p;
}

bool dfs_chunk_claim(struct dfs_store *st, const struct dfs_hash *h, uint32_t k,
		     uint32_t n)
{
	struct dfs_goodset *g = &st->good;
	struct dfs_partial *p;
	bool good = false;

	if (k >= n)
		return false;
	pthread_mutex_lock(&g->lock);
	for (;;) {
		if (has_locked(g, h)) {
			good = true;
			break;
		}
		/* Without an entry the chunk is simply checked (again). */
		p = part_get(g, h, n);
		if (!p)
			break;
		if (bit(p->bits, k)) {
			good = true;
			break;
		}
		if (!bit(p->bits + words_of(n), k)) {
			set_bit(p->bits + words_of(n), k, true);
			break;
		}
		pthread_cond_wait(&g->checked, &g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return good;
}

void dfs_chunk_checked(struct dfs_store *st, const struct dfs_hash *h,
		       uint32_t k, uint32_t n, bool good)
{
	struct dfs_goodset *g = &st->good;
	struct dfs_partial **pp, *p;

	if (k >= n)
		return;
	pthread_mutex_lock(&g->lock);
	pp = part_find(g, h);
	p = pp ? *pp : NULL;
	if (p && p->n == n && bit(p->bits + words_of(n), k)) {
		set_bit(p->bits + words_of(n), k, false);
		if (good && !bit(p->bits, k)) {
			set_bit(p->bits, k, true);
			p->left--;
		}
		if (p->left == 0 && !is_zero(h))
			add_locked(g, h);
		if (p->left == 0 || (has_locked(g, h) && !part_busy(p)))
			part_unlink(g, pp);
	}
	pthread_cond_broadcast(&g->checked);
	pthread_mutex_unlock(&g->lock);
}
