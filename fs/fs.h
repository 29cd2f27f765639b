/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the FUSE daemon's private interface between main.c (command
 * line, session) and ops.c (the low-level handlers).
 */
#ifndef DFS_FS_H
#define DFS_FS_H

#include <fuse_lowlevel.h>
#include <pthread.h>

#include "deployfs/store.h"

/* Which process last looked a name up in an environment folder. */
struct dfs_seen {
	uint64_t ino;
	int32_t pid;
	int64_t at; /* CLOCK_MONOTONIC ns */
	struct dfs_seen *next;
};

struct dfs_fs {
	struct dfs_store *st;
	struct fuse_session *se;
	double ttl; /* entry and attribute timeout, seconds */
	pthread_mutex_t seen_lock;
	struct dfs_seen *seen;
};

extern const struct fuse_lowlevel_ops dfs_ops;
void dfs_fs_seen_free(struct dfs_fs *fs);

#endif
