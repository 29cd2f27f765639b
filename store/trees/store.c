// SPDX-License-Identifier: MIT
/*
 * store.c - opening and freeing a store: each layer in order, bottom up
 * (storage, then content's recovery, then what the trees keep), and down
 * again when freeing.  Only a daemon (DFS_OPEN_DAEMON) recovers: tools
 * that open a store beside it read.
 */
#include <errno.h>
#include <stdlib.h>

#include "trees.h"

int dfs_trees_init(struct dfs_store *st)
{
	st->trees = calloc(1, sizeof(*st->trees));
	if (!st->trees)
		return -ENOMEM;
	st->trees->tree_of = dfs_tree_of;
	pthread_mutex_init(&st->trees->ext_lock, NULL);
	return 0;
}

static int recover(struct dfs_store *st)
{
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = dfs_content_recover(st);
	/* Copies in flight died with the daemon: none deployed. */
	if (rc == 0)
		rc = dfs_staging_clear(st);
	if (rc == 0)
		rc = dfs_audit_index(st);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int dfs_store_open(const char *path, unsigned flags, struct dfs_store **ret)
{
	return dfs_store_open_why(path, flags, ret, NULL, 0);
}

int dfs_store_open_why(const char *path, unsigned flags, struct dfs_store **ret,
		       char *why, size_t cap)
{
	struct dfs_store *st = NULL;
	int rc = dfs_storage_open(path, flags, &st, why, cap);

	if (rc < 0)
		return rc;
	rc = dfs_content_init(st);
	if (rc == 0)
		rc = dfs_trees_init(st);
	if (rc == 0 && (flags & DFS_OPEN_DAEMON)) {
		rc = recover(st);
		if (rc == 0 && !(flags & DFS_OPEN_NO_SEALER))
			rc = dfs_sealer_start(st);
	}
	if (rc < 0) {
		dfs_store_free(st);
		return rc;
	}
	*ret = st;
	return 0;
}

struct dfs_store *dfs_store_free(struct dfs_store *st)
{
	if (!st)
		return NULL;
	dfs_registry_stop(st);
	if (st->db && st->content && st->trees)
		dfs_files_release_all(st);
	if (st->db && st->trees) {
		/* Refusals still folded into a count are not lost. */
		pthread_mutex_lock(&st->lock);
		dfs_refusals_flush(st);
		pthread_mutex_unlock(&st->lock);
	}
	if (st->db && st->content)
		(void)dfs_store_sync(st);
	if (st->content)
		dfs_sealer_stop(st);
	dfs_trees_free(st);
	dfs_snapcache_free(st);
	dfs_content_free(st);
	dfs_storage_close(st);
	return NULL;
}
