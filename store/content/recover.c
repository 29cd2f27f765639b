// SPDX-License-Identifier: MIT
/*
 * recover.c - after a crash, before serving: delete nodes no entry names
 * any more (their last holder died with the daemon), remove work files no
 * inode claims, and queue the work files that inodes claim for sealing.
 * st->lock held.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "content.h"

static int remove_stale_work(struct dfs_store *st)
{
	int fd = openat(st->work_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct dfs_content_row r;
		char *end;
		unsigned long long ino;

		if (de->d_name[0] == '.')
			continue;
		ino = strtoull(de->d_name, &end, 10);
		if (*end || dfs_inode_content(st, ino, &r) < 0 || !r.work) {
			dfs_log(DFS_LOG_INFO,
				"recovery: removing stale work file \"%s\"",
				de->d_name);
			(void)unlinkat(st->work_fd, de->d_name, 0);
		}
	}
	closedir(d);
	return 0;
}

static int queue_work(void *ctx, uint64_t ino)
{
	struct dfs_store *st = ctx;
	struct dfs_oinode *oi = dfs_oinode_get(st, ino);

	oi->is_work = true;
	dfs_seal_enqueue(st, oi);
	return 0;
}

int dfs_content_recover(struct dfs_store *st)
{
	int rc = dfs_inode_purge_unlinked(st);

	if (rc == 0)
		rc = remove_stale_work(st);
	if (rc == 0)
		rc = dfs_inode_work_list(st, queue_work, st);
	return rc;
}
