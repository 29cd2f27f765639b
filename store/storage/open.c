// SPDX-License-Identifier: MIT
/*
 * open.c - the store folder: opening it (the exclusive lock of the daemon
 * that serves it, the database, the blob and work folders) and closing
 * it.  Opening refuses, without writing anything, a folder that is
 * missing, is not a store, holds an empty (0-byte) or corrupt database or
 * one from a newer schema, is already served, or is a backup not finished
 * (backup.c); dfs_open_why() keeps a
 * sentence saying what was found for the caller to print.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage.h"

static int take_lock(struct dfs_store *st)
{
	st->lock_fd = openat(st->dirfd, DFS_LOCK_NAME,
			     O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0)
		return -errno;
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return 0;
}

/*
 * The database file must be a regular file with something in it: SQLite
 * would open a 0-byte file as a new, empty database, and the store would
 * look like one that never held anything.
 */
static int check_db_file(struct dfs_store *st)
{
	struct stat sb, wal;

	if (fstatat(st->dirfd, DFS_DB_NAME, &sb, 0) < 0)
		return errno == ENOENT || errno == ENOTDIR ? -EMEDIUMTYPE
							   : -errno;
	if (!S_ISREG(sb.st_mode))
		return -EMEDIUMTYPE;
	if (sb.st_size > 0)
		return 0;
	if (fstatat(st->dirfd, DFS_DB_NAME "-wal", &wal, 0) == 0 &&
	    wal.st_size > 0)
		dfs_open_why(st,
			     "\"%s/%s\" is empty (0 bytes), beside a "
			     "%lld-byte \"%s-wal\"",
			     st->path, DFS_DB_NAME, (long long)wal.st_size,
			     DFS_DB_NAME);
	else
		dfs_open_why(st, "\"%s/%s\" is empty (0 bytes)", st->path,
			     DFS_DB_NAME);
	return -ENODATA;
}

int dfs_storage_open(const char *path, unsigned flags, struct dfs_store **ret,
		     char *why, size_t cap)
{
	struct dfs_store *st;
	struct stat sb;
	int rc;

	if (stat(path, &sb) < 0)
		return -errno;
	if (!S_ISDIR(sb.st_mode))
		return -ENOTDIR;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->dirfd = st->blobs_fd = st->work_fd = st->lock_fd = -1;
	st->wal_fd = st->reserve_fd = -1;
	st->flags = flags;
	st->why = why;
	st->why_cap = cap;
	if (why && cap)
		why[0] = '\0';
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->wake, NULL);
	pthread_cond_init(&st->notices.cond, NULL);
	dfs_goodset_init(&st->good);
	st->path = strdup(path);
	if (!st->path) {
		rc = -ENOMEM;
		goto out_close;
	}
	st->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		rc = -errno;
		goto out_close;
	}
	if (faccessat(st->dirfd, DFS_BACKUP_MARK, F_OK, 0) == 0) {
		rc = -EINPROGRESS;
		goto out_close;
	}
	rc = check_db_file(st);
	if (rc < 0)
		goto out_close;
	if (flags & DFS_OPEN_DAEMON) {
		rc = take_lock(st);
		if (rc == 0)
			rc = dfs_reserve_open(st);
		if (rc < 0)
			goto out_close;
	}
	rc = dfs_schema_open(st);
	if (rc < 0)
		goto out_close;
	st->blobs_fd = openat(st->dirfd, DFS_BLOBS_DIR,
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	st->work_fd = openat(st->dirfd, DFS_WORK_DIR,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->blobs_fd < 0 || st->work_fd < 0) {
		dfs_open_why(st, "\"%s\" has no %s/ or no %s/ folder", st->path,
			     DFS_BLOBS_DIR, DFS_WORK_DIR);
		rc = -EUCLEAN;
		goto out_close;
	}
	st->why = NULL;
	*ret = st;
	return 0;
out_close:
	dfs_storage_close(st);
	return rc;
}

void dfs_storage_close(struct dfs_store *st)
{
	if (!st)
		return;
	dfs_ckpt_close(st); /* first: st->db, the last, removes the WAL */
	dfs_db_close(st);
	dfs_redo_close(st);
	if (st->blobs_fd >= 0)
		close(st->blobs_fd);
	if (st->work_fd >= 0)
		close(st->work_fd);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	if (st->wal_fd >= 0)
		close(st->wal_fd);
	dfs_reserve_close(st);
	if (st->dirfd >= 0)
		close(st->dirfd);
	dfs_goodset_release(&st->good);
	dfs_db_lists_free(st);
	pthread_cond_destroy(&st->wake);
	pthread_cond_destroy(&st->notices.cond);
	pthread_mutex_destroy(&st->lock);
	free(st->path);
	free(st);
}

int dfs_store_statfs(struct dfs_store *st, struct statvfs *ret)
{
	struct statvfs sv;

	if (fstatvfs(st->dirfd, &sv) < 0)
		return -errno;
	sv.f_namemax = DFS_NAME_MAX;
	*ret = sv;
	return 0;
}
