// SPDX-License-Identifier: MIT
/*
 * db.c - (transitional) the build tree's statements, and opening and
 * freeing a store: each layer in order.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define ATTR_COLS                                                 \
	"i.ino, i.mode, i.uid, i.gid, i.nlink, i.size, i.blocks," \
	" i.rdev, i.atime, i.mtime, i.ctime, i.flags, i.work"

const char *const dfs_stmt_text[S_STMT_MAX] = {
	[S_GETATTR] = "SELECT " ATTR_COLS " FROM inodes i WHERE i.ino = ?1",
	[S_LOOKUP] = "SELECT " ATTR_COLS " FROM dirents d"
		     " JOIN inodes i ON i.ino = d.ino"
		     " WHERE d.parent = ?1 AND d.name = ?2",
	[S_INSERT_INODE] =
		"INSERT INTO inodes (mode, uid, gid, nlink, size,"
		" blocks, rdev, atime, mtime, ctime, flags, blob, target)"
		" VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?7, ?7, 0, ?8, ?9)",
	[S_INSERT_DIRENT] = "INSERT INTO dirents (parent, name, ino)"
			    " VALUES (?1, ?2, ?3)",
	[S_DELETE_DIRENT] = "DELETE FROM dirents WHERE parent = ?1"
			    " AND name = ?2",
	[S_NLINK_ADD] = "UPDATE inodes SET nlink = nlink + ?2, ctime = ?3"
			" WHERE ino = ?1",
	[S_TOUCH_MC] = "UPDATE inodes SET mtime = ?2, ctime = ?2"
		       " WHERE ino = ?1",
	[S_SET_CTIME] = "UPDATE inodes SET ctime = ?2 WHERE ino = ?1",
	[S_SET_MTIME] = "UPDATE inodes SET mtime = ?2 WHERE ino = ?1",
	[S_SET_ATIME] = "UPDATE inodes SET atime = ?2 WHERE ino = ?1",
	[S_SET_MODE] = "UPDATE inodes SET mode = ?2 WHERE ino = ?1",
	[S_SET_OWNER] = "UPDATE inodes SET uid = ?2, gid = ?3 WHERE ino = ?1",
	[S_READDIR] = "SELECT d.id, d.name, " ATTR_COLS " FROM dirents d"
		      " JOIN inodes i ON i.ino = d.ino"
		      " WHERE d.parent = ?1 AND d.id > ?2 ORDER BY d.id",
	[S_CHILD_COUNT] = "SELECT count(*) FROM"
			  " (SELECT 1 FROM dirents WHERE parent = ?1 LIMIT 1)",
	[S_DELETE_INODE] = "DELETE FROM inodes WHERE ino = ?1",
	[S_DELETE_XATTRS] = "DELETE FROM xattrs WHERE ino = ?1",
	[S_MOVE_DIRENT] = "UPDATE dirents SET parent = ?3, name = ?4"
			  " WHERE parent = ?1 AND name = ?2",
	[S_DIRENT_INO] = "UPDATE dirents SET ino = ?3"
			 " WHERE parent = ?1 AND name = ?2",
	[S_PARENT_OF] = "SELECT parent FROM dirents WHERE ino = ?1 LIMIT 1",
	[S_READLINK] = "SELECT target FROM inodes WHERE ino = ?1",
	[S_XATTR_GET] = "SELECT value FROM xattrs WHERE ino = ?1"
			" AND name = ?2",
	[S_XATTR_SET] = "INSERT OR REPLACE INTO xattrs (ino, name, value)"
			" VALUES (?1, ?2, ?3)",
	[S_XATTR_INSERT] = "INSERT INTO xattrs (ino, name, value)"
			   " VALUES (?1, ?2, ?3)",
	[S_XATTR_UPDATE] = "UPDATE xattrs SET value = ?3 WHERE ino = ?1"
			   " AND name = ?2",
	[S_XATTR_LIST] = "SELECT name FROM xattrs WHERE ino = ?1"
			 " ORDER BY name",
	[S_XATTR_DELETE] = "DELETE FROM xattrs WHERE ino = ?1 AND name = ?2",
	[S_CONTENT] = "SELECT mode, nlink, size, blob, work, flags"
		      " FROM inodes WHERE ino = ?1",
	[S_SET_WORK] = "UPDATE inodes SET work = 1, size = ?2 WHERE ino = ?1",
	[S_SEAL_INODE] = "UPDATE inodes SET blob = ?2, work = 0, size = ?3,"
			 " blocks = ?4 WHERE ino = ?1 AND work = 1",
	[S_SET_SIZE] = "UPDATE inodes SET size = ?2 WHERE ino = ?1",
};

sqlite3_stmt *dfs_stmt(struct dfs_store *st, enum dfs_stmt_id id)
{
	return dfs_sql(st, dfs_stmt_text[id]);
}

int dfs_store_open(const char *path, unsigned flags, struct dfs_store **ret)
{
	struct dfs_store *st = NULL;
	int rc = dfs_storage_open(path, flags, &st);

	if (rc < 0)
		return rc;
	st->content = calloc(1, sizeof(*st->content));
	st->trees = calloc(1, sizeof(*st->trees));
	if (!st->content || !st->trees) {
		free(st->content);
		free(st->trees);
		dfs_storage_close(st);
		return -ENOMEM;
	}
	pthread_cond_init(&st->content->seal_done, NULL);
	if (flags & DFS_OPEN_DAEMON) {
		pthread_mutex_lock(&st->lock);
		rc = dfs_recover_locked(st);
		/* Copies in flight died with the daemon: none deployed. */
		if (rc == 0)
			rc = dfs_db_exec(st, "DELETE FROM staging");
		if (rc == 0)
			rc = dfs_auditlog_index_locked(st);
		pthread_mutex_unlock(&st->lock);
		if (rc == 0 && !(flags & DFS_OPEN_NO_SEALER))
			rc = dfs_sealer_start(st);
		if (rc < 0)
			goto out_free;
	}
	*ret = st;
	return 0;
out_free:
	dfs_store_free(st);
	return rc;
}

struct dfs_store *dfs_store_free(struct dfs_store *st)
{
	if (!st)
		return NULL;
	if (st->db)
		(void)dfs_store_sync(st);
	dfs_sealer_stop(st);
	dfs_env_free_locked(st);
	for (size_t b = 0; b < DFS_IMAP_BUCKETS; b++) {
		struct dfs_oinode *oi = st->content->imap[b], *next;

		for (; oi; oi = next) {
			next = oi->next;
			if (oi->fd >= 0)
				close(oi->fd);
			pthread_rwlock_destroy(&oi->fdlock);
			free(oi);
		}
	}
	pthread_cond_destroy(&st->content->seal_done);
	free(st->content);
	free(st->trees);
	dfs_storage_close(st);
	return NULL;
}
