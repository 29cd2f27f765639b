// SPDX-License-Identifier: MIT
/*
 * inode.c - the rows of the build workspace: inodes and the directory
 * entries that name them.  Reading a node or a folder, creating a node,
 * a hard link, removing an entry, and the columns that say where a file's
 * content is (a blob, or a work file while it is written).  Each function
 * is a step inside the caller's transaction; st->lock held.
 *
 * Rules beyond POSIX: a node flagged READONLY refuses every change in or
 * to it with EROFS; a FENCED folder (build/) accepts no new names but dot names (EPERM);
 * SYSTEM nodes cannot be removed or renamed (EPERM).  A folder directly in
 * a type folder is a component (component.c follows it).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"

#define ATTR_COLS                                                 \
	"i.ino, i.mode, i.uid, i.gid, i.nlink, i.size, i.blocks," \
	" i.rdev, i.atime, i.mtime, i.ctime, i.flags, i.work"

static const char sql_get[] =
	"SELECT " ATTR_COLS " FROM inodes i WHERE i.ino = ?1";
static const char sql_lookup[] = "SELECT " ATTR_COLS " FROM dirents d"
				 " JOIN inodes i ON i.ino = d.ino"
				 " WHERE d.parent = ?1 AND d.name = ?2";
static const char sql_readdir[] =
	"SELECT d.id, d.name, " ATTR_COLS " FROM dirents d"
	" JOIN inodes i ON i.ino = d.ino"
	" WHERE d.parent = ?1 AND d.id > ?2 ORDER BY d.id";
static const char sql_parent_name[] =
	"SELECT parent, name FROM dirents WHERE ino = ?1 LIMIT 1";
static const char sql_insert[] =
	"INSERT INTO inodes (mode, uid, gid, nlink, size,"
	" blocks, rdev, atime, mtime, ctime, flags, blob, target)"
	" VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?7, ?7, 0, ?8, ?9)";
static const char sql_insert_dirent[] = "INSERT INTO dirents (parent, name,"
					" ino) VALUES (?1, ?2, ?3)";
static const char sql_delete_dirent[] = "DELETE FROM dirents WHERE"
					" parent = ?1 AND name = ?2";
static const char sql_nlink_add[] =
	"UPDATE inodes SET nlink = nlink + ?2, ctime = ?3 WHERE ino = ?1";
static const char sql_touch_mc[] =
	"UPDATE inodes SET mtime = ?2, ctime = ?2 WHERE ino = ?1";
static const char sql_set_ctime[] =
	"UPDATE inodes SET ctime = ?2 WHERE ino = ?1";
static const char sql_child_count[] =
	"SELECT count(*) FROM (SELECT 1 FROM dirents WHERE parent = ?1"
	" LIMIT 1)";
static const char sql_delete[] = "DELETE FROM inodes WHERE ino = ?1";
static const char sql_delete_xattrs[] = "DELETE FROM xattrs WHERE ino = ?1";
static const char sql_readlink[] = "SELECT target FROM inodes WHERE ino = ?1";
static const char sql_content[] = "SELECT mode, nlink, size, blob, work,"
				  " flags FROM inodes WHERE ino = ?1";
static const char sql_set_work[] =
	"UPDATE inodes SET work = 1, size = ?2 WHERE ino = ?1";
static const char sql_seal[] =
	"UPDATE inodes SET blob = ?2, work = 0, size = ?3, blocks = ?4"
	" WHERE ino = ?1 AND work = 1";
static const char sql_keep[] =
	"UPDATE inodes SET blob = ?2 WHERE ino = ?1 AND work = 1";
static const char sql_point[] =
	"UPDATE inodes SET blob = ?2, work = 0, size = ?3, blocks = ?4"
	" WHERE ino = ?1";
static const char sql_times[] =
	"UPDATE inodes SET mtime = ?2, ctime = ?3 WHERE ino = ?1";

static void row_of(sqlite3_stmt *s, int c, struct dfs_irow *ret)
{
	struct dfs_attr a = { 0 };

	a.ino = (uint64_t)sqlite3_column_int64(s, c + 0);
	a.mode = (uint32_t)sqlite3_column_int64(s, c + 1);
	a.uid = (uint32_t)sqlite3_column_int64(s, c + 2);
	a.gid = (uint32_t)sqlite3_column_int64(s, c + 3);
	a.nlink = (uint32_t)sqlite3_column_int64(s, c + 4);
	a.size = (uint64_t)sqlite3_column_int64(s, c + 5);
	a.blocks = (uint64_t)sqlite3_column_int64(s, c + 6);
	a.rdev = (uint64_t)sqlite3_column_int64(s, c + 7);
	a.atime = dfs_ns_to_ts(sqlite3_column_int64(s, c + 8));
	a.mtime = dfs_ns_to_ts(sqlite3_column_int64(s, c + 9));
	a.ctime = dfs_ns_to_ts(sqlite3_column_int64(s, c + 10));
	a.flags = (uint32_t)sqlite3_column_int64(s, c + 11);
	if (S_ISDIR(a.mode)) {
		a.size = 4096;
		a.blocks = 8;
	}
	ret->a = a;
	ret->work = sqlite3_column_int(s, c + 12) != 0;
}

int dfs_inode_get(struct dfs_store *st, uint64_t ino, struct dfs_irow *ret)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_get, &s, "i", (int64_t)ino);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	row_of(s, 0, ret);
	return dfs_stmt_done(s, SQLITE_ROW);
}

int dfs_inode_attr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	struct dfs_irow r;
	int rc = dfs_inode_get(st, ino, &r);

	if (rc == 0)
		*ret = r.a;
	return rc;
}

int dfs_name_check(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return -ENOENT;
	if (len > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int dfs_inode_lookup(struct dfs_store *st, uint64_t parent, const char *name,
		     struct dfs_irow *ret)
{
	sqlite3_stmt *s;
	int rc = dfs_name_check(name);

	if (rc == 0)
		rc = dfs_query_sql(st, sql_lookup, &s, "is", (int64_t)parent,
				   name);
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	row_of(s, 0, ret);
	return dfs_stmt_done(s, SQLITE_ROW);
}

int dfs_inode_parent(struct dfs_store *st, uint64_t ino, uint64_t *ret_parent,
		     char *name, size_t cap)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_parent_name, &s, "i", (int64_t)ino);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	*ret_parent = (uint64_t)sqlite3_column_int64(s, 0);
	snprintf(name, cap, "%s", (const char *)sqlite3_column_text(s, 1));
	return dfs_stmt_done(s, SQLITE_ROW);
}

int dfs_inode_readdir(struct dfs_store *st, uint64_t dir, uint64_t off,
		      dfs_irow_fn fn, void *ctx)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_readdir, &s, "ii", (int64_t)dir,
			       (int64_t)off);

	for (; rc == 1; rc = dfs_next(s)) {
		char name[DFS_NAME_MAX + 1];
		struct dfs_irow r;

		if (sqlite3_column_bytes(s, 1) > DFS_NAME_MAX)
			continue;
		dfs_col_text(s, 1, name, sizeof(name));
		row_of(s, 2, &r);
		if (fn(ctx, name, (uint64_t)sqlite3_column_int64(s, 0), &r))
			break;
	}
	if (rc == 1)
		sqlite3_reset(s);
	return rc < 0 ? rc : 0;
}

int dfs_inode_readlink(struct dfs_store *st, uint64_t ino, char *buf,
		       size_t cap)
{
	sqlite3_stmt *s;
	int len = 0,
	    rc = dfs_query_sql(st, sql_readlink, &s, "i", (int64_t)ino);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	len = sqlite3_column_bytes(s, 0);
	if (sqlite3_column_type(s, 0) == SQLITE_NULL)
		rc = -EINVAL;
	else if ((size_t)len >= cap)
		rc = -ENAMETOOLONG;
	else
		memcpy(buf, sqlite3_column_blob(s, 0), (size_t)len);
	buf[rc < 0 ? 0 : len] = '\0';
	sqlite3_reset(s);
	return rc < 0 ? rc : len;
}

int dfs_inode_touch(struct dfs_store *st, uint64_t ino, bool mtime)
{
	return dfs_exec_sql(st, mtime ? sql_touch_mc : sql_set_ctime, "ii",
			    (int64_t)ino, dfs_now_ns());
}

int dfs_inode_set_ctime(struct dfs_store *st, uint64_t ino, int64_t ns)
{
	return dfs_exec_sql(st, sql_set_ctime, "ii", (int64_t)ino, ns);
}

int dfs_inode_nlink_add(struct dfs_store *st, uint64_t ino, int delta)
{
	return dfs_exec_sql(st, sql_nlink_add, "iii", (int64_t)ino,
			    (int64_t)delta, dfs_now_ns());
}

int dfs_inode_check_dir(struct dfs_store *st, uint64_t parent,
			const char *adding, struct dfs_attr *ret)
{
	int rc = dfs_inode_attr(st, parent, ret);

	if (rc < 0)
		return rc;
	if (!S_ISDIR(ret->mode))
		return -ENOTDIR;
	if (ret->nlink == 0)
		return -ENOENT;
	if (ret->flags & DFS_NODE_READONLY)
		return -EROFS;
	/* build/ holds the type folders, and dot names (.git, .gitignore:
	 * a workspace versioned as a whole), which are not components. */
	if (adding && adding[0] != '.' && (ret->flags & DFS_NODE_FENCED))
		return -EPERM;
	return 0;
}

int dfs_inode_has_children(struct dfs_store *st, uint64_t ino, bool *ret)
{
	int64_t n = 0;
	int rc = dfs_query_int(st, sql_child_count, &n, "i", (int64_t)ino);

	if (rc == 0)
		*ret = n > 0;
	return rc;
}

int dfs_inode_delete(struct dfs_store *st, uint64_t ino)
{
	int rc = dfs_exec_sql(st, sql_delete_xattrs, "i", (int64_t)ino);

	if (rc == 0)
		rc = dfs_exec_sql(st, sql_delete, "i", (int64_t)ino);
	return rc;
}

/* ---- creating ------------------------------------------------------------ */

static int insert(struct dfs_store *st, const struct dfs_actor *actor,
		  uint32_t mode, uint32_t gid, uint64_t rdev,
		  const char *target, int64_t *ret)
{
	sqlite3_stmt *s = dfs_sql(st, sql_insert);
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, mode);
	sqlite3_bind_int64(s, 2, actor->uid);
	sqlite3_bind_int64(s, 3, gid);
	sqlite3_bind_int64(s, 4, S_ISDIR(mode) ? 2 : 1);
	sqlite3_bind_int64(s, 5, target ? (int64_t)strlen(target) : 0);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)rdev);
	sqlite3_bind_int64(s, 7, dfs_now_ns());
	if (S_ISREG(mode))
		sqlite3_bind_blob(s, 8, dfs_empty_hash.b, DFS_HASH_LEN,
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 8);
	if (target)
		sqlite3_bind_blob(s, 9, target, (int)strlen(target),
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 9);
	rc = dfs_stmt_done(s, sqlite3_step(s));
	if (rc == 0)
		*ret = dfs_last_rowid(st);
	return rc;
}

int dfs_inode_create(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t parent, const char *name, uint32_t mode,
		     uint64_t rdev, const char *target, uint64_t *ret_ino)
{
	struct dfs_attr dir;
	uint32_t gid = actor->gid;
	int64_t ino = 0;
	int rc;

	rc = dfs_name_check(name);
	if (rc == 0)
		rc = dfs_inode_check_dir(st, parent, name, &dir);
	if (rc == 0 && (dir.flags & DFS_NODE_TYPEDIR) && S_ISDIR(mode))
		rc = dfs_component_check(st, parent, name);
	if (rc < 0)
		return rc;
	if (dir.mode & S_ISGID) {
		gid = dir.gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	rc = insert(st, actor, mode, gid, rdev, target, &ino);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_insert_dirent, "isi", (int64_t)parent,
				  name, ino);
	if (rc == 0 && S_ISDIR(mode))
		rc = dfs_inode_nlink_add(st, parent, 1);
	if (rc == 0)
		rc = dfs_inode_touch(st, parent, true);
	if (rc == 0 && (dir.flags & DFS_NODE_TYPEDIR) && S_ISDIR(mode))
		rc = dfs_component_attach(st, parent, name, (uint64_t)ino);
	if (rc == 0)
		*ret_ino = (uint64_t)ino;
	return rc;
}

int dfs_inode_create_hidden(struct dfs_store *st, const struct dfs_actor *owner,
			    uint64_t parent, const char *name,
			    uint64_t *ret_ino)
{
	int64_t ino = 0;
	int rc = dfs_name_check(name);

	if (rc == 0)
		rc = insert(st, owner, S_IFDIR | 0755, owner->gid, 0, NULL,
			    &ino);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_insert_dirent, "isi", (int64_t)parent,
				  name, ino);
	if (rc == 0)
		*ret_ino = (uint64_t)ino;
	return rc;
}

int dfs_inode_link(struct dfs_store *st, uint64_t ino, uint64_t newparent,
		   const char *newname)
{
	struct dfs_attr a, dir;
	int rc = dfs_inode_attr(st, ino, &a);

	if (rc == 0 && S_ISDIR(a.mode))
		rc = -EPERM;
	if (rc == 0 && a.flags & (DFS_NODE_SYSTEM | DFS_NODE_READONLY))
		rc = -EPERM;
	if (rc == 0 && a.nlink == 0)
		rc = -ENOENT;
	if (rc == 0)
		rc = dfs_name_check(newname);
	if (rc == 0)
		rc = dfs_inode_check_dir(st, newparent, newname, &dir);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_insert_dirent, "isi",
				  (int64_t)newparent, newname, (int64_t)ino);
	if (rc == 0)
		rc = dfs_inode_nlink_add(st, ino, 1);
	if (rc == 0)
		rc = dfs_inode_touch(st, newparent, true);
	return rc;
}

/* ---- removing ------------------------------------------------------------ */

int dfs_inode_unlink_entry(struct dfs_store *st, uint64_t parent,
			   const char *name, const struct dfs_attr *a,
			   uint64_t *ret_orphan)
{
	struct dfs_attr now;
	int rc = dfs_exec_sql(st, sql_delete_dirent, "is", (int64_t)parent,
			      name);

	if (rc == 0 && S_ISDIR(a->mode))
		rc = dfs_inode_nlink_add(st, parent, -1);
	if (rc == 0 && S_ISDIR(a->mode))
		rc = dfs_component_detach(st, a->ino);
	if (rc == 0)
		rc = dfs_inode_touch(st, parent, true);
	if (rc == 0)
		rc = dfs_inode_nlink_add(st, a->ino,
					 S_ISDIR(a->mode) ? -2 : -1);
	if (rc == 0)
		rc = dfs_inode_attr(st, a->ino, &now);
	if (rc == 0 && now.nlink == 0)
		*ret_orphan = a->ino;
	return rc;
}

int dfs_inode_remove(struct dfs_store *st, uint64_t parent, const char *name,
		     bool dir, uint64_t *ret_orphan)
{
	struct dfs_attr pdir, a;
	bool children = false;
	int rc;

	rc = dfs_inode_check_dir(st, parent, NULL, &pdir);
	if (rc == 0)
		rc = dfs_inode_attr_at(st, parent, name, &a);
	if (rc < 0)
		return rc;
	if (a.flags & DFS_NODE_SYSTEM)
		return -EPERM;
	if (!dir && S_ISDIR(a.mode))
		return -EISDIR;
	if (dir && !S_ISDIR(a.mode))
		return -ENOTDIR;
	if (dir)
		rc = dfs_inode_has_children(st, a.ino, &children);
	if (rc == 0 && children)
		rc = -ENOTEMPTY;
	if (rc == 0)
		rc = dfs_inode_unlink_entry(st, parent, name, &a, ret_orphan);
	return rc;
}

int dfs_inode_attr_at(struct dfs_store *st, uint64_t parent, const char *name,
		      struct dfs_attr *ret)
{
	struct dfs_irow r;
	int rc = dfs_inode_lookup(st, parent, name, &r);

	if (rc == 0)
		*ret = r.a;
	return rc;
}

/* ---- where content is ---------------------------------------------------- */

int dfs_inode_content(struct dfs_store *st, uint64_t ino,
		      struct dfs_content_row *ret)
{
	struct dfs_content_row r = { 0 };
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_content, &s, "i", (int64_t)ino);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	r.mode = (uint32_t)sqlite3_column_int64(s, 0);
	r.nlink = (uint32_t)sqlite3_column_int64(s, 1);
	r.size = (uint64_t)sqlite3_column_int64(s, 2);
	if (sqlite3_column_bytes(s, 3) == DFS_HASH_LEN) {
		r.has_blob = true;
		memcpy(r.blob.b, sqlite3_column_blob(s, 3), DFS_HASH_LEN);
	}
	r.work = sqlite3_column_int(s, 4) != 0;
	r.flags = (uint32_t)sqlite3_column_int64(s, 5);
	*ret = r;
	return dfs_stmt_done(s, SQLITE_ROW);
}

int dfs_inode_set_work(struct dfs_store *st, uint64_t ino, uint64_t size)
{
	return dfs_exec_sql(st, sql_set_work, "ii", (int64_t)ino,
			    (int64_t)size);
}

int dfs_inode_seal(struct dfs_store *st, uint64_t ino, const struct dfs_hash *h,
		   uint64_t size, uint64_t blocks)
{
	int rc = dfs_exec_sql(st, sql_seal, "ihii", (int64_t)ino, h,
			      (int64_t)size, (int64_t)blocks);

	return rc == 0 && dfs_changes(st) == 0 ? -ESTALE : rc;
}

int dfs_inode_keep_blob(struct dfs_store *st, uint64_t ino,
			const struct dfs_hash *h)
{
	return dfs_exec_sql(st, sql_keep, "ih", (int64_t)ino, h);
}

int dfs_inode_point(struct dfs_store *st, uint64_t ino,
		    const struct dfs_hash *h, uint64_t size)
{
	return dfs_exec_sql(st, sql_point, "ihii", (int64_t)ino, h,
			    (int64_t)size, (int64_t)((size + 511) / 512));
}

int dfs_inode_set_times(struct dfs_store *st, uint64_t ino, int64_t mtime,
			int64_t ctime)
{
	return dfs_exec_sql(st, sql_times, "iii", (int64_t)ino, mtime, ctime);
}

/* ---- recovery ------------------------------------------------------------ */

int dfs_inode_purge_unlinked(struct dfs_store *st)
{
	int rc = dfs_db_exec(
		st,
		"BEGIN IMMEDIATE;"
		"DELETE FROM xattrs WHERE ino IN"
		"  (SELECT ino FROM inodes WHERE nlink = 0 AND flags & 1 = 0);"
		"DELETE FROM inodes WHERE nlink = 0 AND flags & 1 = 0;"
		"COMMIT;");

	if (rc < 0)
		(void)dfs_db_exec(st, "ROLLBACK");
	return rc;
}

static const char sql_work[] = "SELECT ino FROM inodes WHERE work = 1";

int dfs_inode_work_list(struct dfs_store *st, int (*fn)(void *, uint64_t),
			void *ctx)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_work, &s, "");

	for (; rc == 1; rc = dfs_next(s)) {
		rc = fn(ctx, (uint64_t)sqlite3_column_int64(s, 0));
		if (rc < 0) {
			sqlite3_reset(s);
			break;
		}
	}
	return rc < 0 ? rc : 0;
}
