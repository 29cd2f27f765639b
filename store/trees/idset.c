// SPDX-License-Identifier: MIT
/*
 * idset.c - sets of snapshot node ids (open addressing), as the stages of
 * environments keep them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trees.h"

/* ---- id sets --------------------------------------------------------------- */

static size_t slot(const struct dfs_idset *s, int64_t id)
{
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 17) & (s->cap - 1);
}

bool dfs_idset_has(const struct dfs_idset *s, int64_t id)
{
	if (!s->cap)
		return false;
	for (size_t i = slot(s, id);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i] == id)
			return true;
		if (s->v[i] == 0)
			return false;
	}
}

static int grow(struct dfs_idset *s)
{
	struct dfs_idset n = { NULL, 0, s->cap ? 2 * s->cap : 64 };

	n.v = calloc(n.cap, sizeof(*n.v));
	if (!n.v)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (s->v[i] > 0)
			(void)dfs_idset_add(&n, s->v[i]);
	free(s->v);
	*s = n;
	return 0;
}

/* ids are > 0; -1 marks a deleted slot. */
int dfs_idset_add(struct dfs_idset *s, int64_t id)
{
	int rc;

	if (dfs_idset_has(s, id))
		return 0;
	if ((s->n + 1) * 2 > s->cap) {
		rc = grow(s);
		if (rc < 0)
			return rc;
	}
	for (size_t i = slot(s, id);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i] <= 0) {
			s->v[i] = id;
			s->n++;
			return 0;
		}
	}
}

void dfs_idset_del(struct dfs_idset *s, int64_t id)
{
	if (!s->cap)
		return;
	for (size_t i = slot(s, id);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i] == id) {
			s->v[i] = -1;
			s->n--;
			return;
		}
		if (s->v[i] == 0)
			return;
	}
}

void dfs_idset_free(struct dfs_idset *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}
