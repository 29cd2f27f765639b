// SPDX-License-Identifier: MIT
/*
 * auditlog.c - audit.log at the root of the mount: the audit trail, one
 * logfmt line per event, oldest first, rendered as it is read (each
 * line's offset and length are indexed, so a read at any offset renders
 * only the lines it returns).  Read-only; it grows with every event, so
 * its size is never cached.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "trees.h"

int dfs_auditlog_attr_locked(struct dfs_store *st, struct dfs_attr *ret)
{
	int rc = dfs_inode_attr(st, DFS_INO_AUDIT, ret);

	if (rc < 0)
		return rc;
	ret->size = (uint64_t)dfs_audit_log_size(st);
	ret->blocks = (ret->size + 511) / 512;
	ret->flags |= DFS_NODE_VOLATILE;
	return 0;
}

static int log_getattr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	return dfs_auditlog_attr_locked(st, ret);
}

static int log_setattr(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t ino, const struct dfs_setattr *sa,
		       struct dfs_attr *ret)
{
	return -EROFS;
}

static ssize_t log_read(struct dfs_store *st, struct dfs_file *f, void *buf,
			size_t n, uint64_t off)
{
	ssize_t got;

	pthread_mutex_lock(&st->lock);
	got = dfs_audit_read(st, buf, n, off);
	pthread_mutex_unlock(&st->lock);
	return got;
}

static void log_release(struct dfs_store *st, struct dfs_file *f)
{
	free(f);
}

static const struct dfs_file_ops log_ops = {
	.read = log_read,
	.release = log_release,
};

static int log_open(struct dfs_store *st, const struct dfs_actor *actor,
		    uint64_t ino, int flags, struct dfs_file **ret)
{
	struct dfs_file *f;

	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	/* Whoever reads the trail sees every refusal seen so far, repeats
	 * counted. */
	pthread_mutex_lock(&st->lock);
	dfs_refusals_flush(st);
	pthread_mutex_unlock(&st->lock);
	f = dfs_file_new(st, &log_ops, ino, flags, NULL);
	if (!f)
		return -ENOMEM;
	*ret = f;
	return 0;
}

static void log_describe(struct dfs_store *st, uint64_t ino,
			 struct dfs_where *ret)
{
	snprintf(ret->path, sizeof(ret->path), "audit.log");
}

const struct dfs_tree_ops dfs_auditlog_tree = {
	.name = "audit.log",
	.none = -EROFS,
	.describe = log_describe,
	.getattr = log_getattr,
	.setattr = log_setattr,
	.open = log_open,
};
