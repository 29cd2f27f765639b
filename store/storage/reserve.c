// SPDX-License-Identifier: MIT
/*
 * reserve.c - space kept for what frees space.
 *
 * On a full disk every act needs a little room: removing a file, an
 * undeploy, a rename commit a few database pages, and mounting creates
 * the WAL and its index.  So the daemon keeps a file, STORE/reserve, of
 * dfs_reserve_bytes() allocated while there is space.  When the free
 * space left beside it falls under a quarter of it, the reserve is let go
 * (its blocks become free) and the store is "spent": new content
 * (creating or writing a file in build/, a package, a copy into an
 * environment) is refused with ENOSPC, so the room is left to what frees
 * space, and the WAL is checkpointed early so that it starts over rather
 * than grows.  Once twice the reserve is free again, it is taken back.
 *
 * The size: 1/64 of the file system, at least 1 MiB (a WAL index and a
 * few hundred commits of a rm -r), at most 32 MiB (the WAL's own
 * checkpoint size: beyond it the WAL starts over anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "storage.h"

#define MIB (1024 * 1024LL)
#define RESERVE_CHECK_NS 1000000000LL /* retake at most once a second */

static int64_t free_bytes(struct dfs_store *st, int64_t *total)
{
	struct statvfs sv;

	if (fstatvfs(st->dirfd, &sv) < 0)
		return -1;
	if (total)
		*total = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
	return (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
}

int64_t dfs_reserve_bytes(struct dfs_store *st)
{
	return st->reserve;
}

bool dfs_reserve_spent(struct dfs_store *st)
{
	return st->reserve_fd >= 0 && st->reserve_spent;
}

static void let_go(struct dfs_store *st, int64_t left)
{
	if (ftruncate(st->reserve_fd, 0) < 0)
		dfs_log(DFS_LOG_ERR, "%s/%s: cannot let the reserve go: %s",
			st->path, DFS_RESERVE_NAME, strerror(errno));
	st->reserve_spent = true;
	st->reserve_checked = dfs_now_ns();
	dfs_log(DFS_LOG_WARN,
		"%s: the disk is full (%lld KiB free): the reserve of %lld KiB "
		"is let go for removals and undeploys; new content is refused "
		"with ENOSPC until %lld KiB are free",
		st->path, (long long)(left / 1024),
		(long long)(st->reserve / 1024),
		(long long)(2 * st->reserve / 1024));
}

static int take(struct dfs_store *st)
{
	int rc = fallocate(st->reserve_fd, 0, 0, st->reserve);

	if (rc < 0)
		return -errno;
	st->reserve_spent = false;
	return 0;
}

int dfs_reserve_open(struct dfs_store *st)
{
	int64_t total = 0, left;

	st->reserve_fd = openat(st->dirfd, DFS_RESERVE_NAME,
				O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->reserve_fd < 0) {
		/* A full disk may not even have room for its name. */
		dfs_log(DFS_LOG_WARN, "%s/%s: no reserve: %s", st->path,
			DFS_RESERVE_NAME, strerror(errno));
		return 0;
	}
	left = free_bytes(st, &total);
	st->reserve = total / 64;
	if (st->reserve < MIB)
		st->reserve = MIB;
	if (st->reserve > 32 * MIB)
		st->reserve = 32 * MIB;
	if (left >= 0 && left < st->reserve / 4)
		let_go(st, left);
	else if (take(st) < 0)
		let_go(st, left);
	return 0;
}

void dfs_reserve_check(struct dfs_store *st)
{
	int64_t left;

	if (st->reserve_fd < 0 || st->reserve_spent)
		return;
	left = free_bytes(st, NULL);
	if (left >= 0 && left < st->reserve / 4)
		let_go(st, left);
}

void dfs_reserve_tick(struct dfs_store *st)
{
	int64_t now = dfs_now_ns(), left;

	if (st->reserve_fd < 0 || !st->reserve_spent ||
	    now - st->reserve_checked < RESERVE_CHECK_NS)
		return;
	st->reserve_checked = now;
	left = free_bytes(st, NULL);
	if (left >= 2 * st->reserve && take(st) == 0)
		dfs_log(DFS_LOG_INFO,
			"%s: space is back: the reserve of %lld KiB is kept "
			"again and new content is accepted",
			st->path, (long long)(st->reserve / 1024));
}

void dfs_reserve_close(struct dfs_store *st)
{
	if (st->reserve_fd >= 0)
		close(st->reserve_fd);
	st->reserve_fd = -1;
}
