/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the FUSE daemon's private interface between main.c (command
 * line, session) and ops.c (the low-level handlers).
 */
#ifndef DFS_FS_H
#define DFS_FS_H

#include <fuse_lowlevel.h>

#include "deployfs/store.h"

struct dfs_fs {
	struct dfs_store *st;
	struct fuse_session *se;
	double ttl; /* entry and attribute timeout, seconds */
};

extern const struct fuse_lowlevel_ops dfs_ops;

#endif
