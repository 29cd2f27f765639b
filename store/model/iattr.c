// SPDX-License-Identifier: MIT
/*
 * iattr.c - the attributes of build workspace nodes that change in place:
 * mode, owner, times, and extended attributes (user.* rows).  Steps of
 * the caller's transaction; st->lock held.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"

static const char sql_set_mode[] = "UPDATE inodes SET mode = ?2 WHERE ino = ?1";
static const char sql_set_owner[] =
	"UPDATE inodes SET uid = ?2, gid = ?3 WHERE ino = ?1";
static const char sql_set_atime[] =
	"UPDATE inodes SET atime = ?2 WHERE ino = ?1";
static const char sql_set_mtime[] =
	"UPDATE inodes SET mtime = ?2 WHERE ino = ?1";
static const char sql_xattr_get[] =
	"SELECT value FROM xattrs WHERE ino = ?1 AND name = ?2";
static const char sql_xattr_set[] =
	"INSERT OR REPLACE INTO xattrs (ino, name, value) VALUES (?1, ?2, ?3)";
static const char sql_xattr_insert[] =
	"INSERT INTO xattrs (ino, name, value) VALUES (?1, ?2, ?3)";
static const char sql_xattr_update[] =
	"UPDATE xattrs SET value = ?3 WHERE ino = ?1 AND name = ?2";
static const char sql_xattr_list[] =
	"SELECT name FROM xattrs WHERE ino = ?1 ORDER BY name";
static const char sql_xattr_delete[] =
	"DELETE FROM xattrs WHERE ino = ?1 AND name = ?2";

int dfs_inode_set_ids(struct dfs_store *st, const struct dfs_attr *a,
		      const struct dfs_setattr *sa)
{
	int rc = 0;

	if (sa->valid & DFS_SET_MODE)
		rc = dfs_exec_sql(
			st, sql_set_mode, "ii", (int64_t)a->ino,
			(int64_t)((a->mode & S_IFMT) | (sa->mode & 07777)));
	if (rc == 0 && (sa->valid & (DFS_SET_UID | DFS_SET_GID)))
		rc = dfs_exec_sql(
			st, sql_set_owner, "iii", (int64_t)a->ino,
			(int64_t)(sa->valid & DFS_SET_UID ? sa->uid : a->uid),
			(int64_t)(sa->valid & DFS_SET_GID ? sa->gid : a->gid));
	return rc;
}

/* Times as sa asks; a truncate (DFS_SET_SIZE) sets mtime to now. */
int dfs_inode_set_times_as(struct dfs_store *st, uint64_t ino,
			   const struct dfs_setattr *sa, int64_t now)
{
	int rc = 0;

	if (sa->valid & DFS_SET_SIZE)
		rc = dfs_exec_sql(st, sql_set_mtime, "ii", (int64_t)ino, now);
	if (rc == 0 && (sa->valid & (DFS_SET_ATIME | DFS_SET_ATIME_NOW)))
		rc = dfs_exec_sql(st, sql_set_atime, "ii", (int64_t)ino,
				  sa->valid & DFS_SET_ATIME_NOW
					  ? now
					  : dfs_ts_to_ns(sa->atime));
	if (rc == 0 && (sa->valid & (DFS_SET_MTIME | DFS_SET_MTIME_NOW)))
		rc = dfs_exec_sql(st, sql_set_mtime, "ii", (int64_t)ino,
				  sa->valid & DFS_SET_MTIME_NOW
					  ? now
					  : dfs_ts_to_ns(sa->mtime));
	if (rc == 0)
		rc = dfs_inode_set_ctime(st, ino,
					 sa->valid & DFS_SET_CTIME
						 ? dfs_ts_to_ns(sa->ctime)
						 : now);
	return rc;
}

int dfs_inode_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
			void *buf, size_t cap)
{
	sqlite3_stmt *s;
	int len, rc = dfs_query_sql(st, sql_xattr_get, &s, "is", (int64_t)ino,
				    name);

	if (rc <= 0)
		return rc == 0 ? -ENODATA : rc;
	len = sqlite3_column_bytes(s, 0);
	if (cap && len && (size_t)len <= cap)
		memcpy(buf, sqlite3_column_blob(s, 0), (size_t)len);
	rc = dfs_stmt_done(s, SQLITE_ROW);
	if (rc == 0)
		rc = cap && (size_t)len > cap ? -ERANGE : len;
	return rc;
}

int dfs_inode_xattr_set(struct dfs_store *st, uint64_t ino, const char *name,
			const void *value, size_t size, unsigned flags)
{
	struct dfs_attr a;
	int rc = dfs_inode_attr(st, ino, &a);

	if (rc < 0)
		return rc;
	if (a.flags & DFS_NODE_READONLY)
		return -EROFS;
	if (flags & DFS_XATTR_CREATE) {
		rc = dfs_exec_sql(st, sql_xattr_insert, "isx", (int64_t)ino,
				  name, value, size);
	} else if (flags & DFS_XATTR_REPLACE) {
		rc = dfs_exec_sql(st, sql_xattr_update, "isx", (int64_t)ino,
				  name, value, size);
		if (rc == 0 && dfs_changes(st) == 0)
			rc = -ENODATA;
	} else {
		rc = dfs_exec_sql(st, sql_xattr_set, "isx", (int64_t)ino, name,
				  value, size);
	}
	if (rc == 0)
		rc = dfs_inode_set_ctime(st, ino, dfs_now_ns());
	return rc;
}

int dfs_inode_xattr_list(struct dfs_store *st, uint64_t ino, char *buf,
			 size_t cap)
{
	sqlite3_stmt *s = NULL;
	size_t total = 0;
	int rc = dfs_query_sql(st, sql_xattr_list, &s, "i", (int64_t)ino);

	for (; rc == 1; rc = dfs_next(s)) {
		size_t len = (size_t)sqlite3_column_bytes(s, 0);

		if (cap && total + len + 1 > cap) {
			sqlite3_reset(s);
			return -ERANGE;
		}
		if (cap) {
			memcpy(buf + total, sqlite3_column_blob(s, 0), len);
			buf[total + len] = '\0';
		}
		total += len + 1;
	}
	return rc < 0 ? rc : (int)total;
}

int dfs_inode_xattr_remove(struct dfs_store *st, uint64_t ino, const char *name)
{
	struct dfs_attr a;
	int rc = dfs_inode_attr(st, ino, &a);

	if (rc == 0 && (a.flags & DFS_NODE_READONLY))
		rc = -EROFS;
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_xattr_delete, "is", (int64_t)ino,
				  name);
	if (rc == 0 && dfs_changes(st) == 0)
		rc = -ENODATA;
	if (rc == 0)
		rc = dfs_inode_set_ctime(st, ino, dfs_now_ns());
	return rc;
}
