// SPDX-License-Identifier: MIT
/*
 * node.c - the namespace of the store: lookup, attributes, create, link,
 * unlink, rename, readdir and extended attributes, each one SQLite
 * transaction (BEGIN IMMEDIATE) under st->lock.
 *
 * Rules beyond POSIX: a node flagged READONLY refuses every change in or
 * to it with EROFS; a FENCED folder (build/) accepts no new names (EPERM);
 * SYSTEM nodes cannot be removed or renamed (EPERM).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define ROW_COLS 13

void dfs_attr_from_row(struct dfs_store *st, sqlite3_stmt *s, int c,
		       struct dfs_attr *ret)
{
	struct dfs_attr a = { 0 };
	bool work;

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
	work = sqlite3_column_int(s, c + 12) != 0;
	if (S_ISDIR(a.mode)) {
		a.size = 4096;
		a.blocks = 8;
	}
	dfs_content_overlay(st, &a, work);
	*ret = a;
}

int dfs_node_row(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	sqlite3_stmt *s = dfs_stmt(st, S_GETATTR);
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		dfs_attr_from_row(st, s, 0, ret);
	else if (rc == SQLITE_DONE)
		rc = -ENOENT;
	rc = rc < 0 ? (sqlite3_reset(s), rc) : dfs_stmt_done(s, rc);
	return rc;
}

static int check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return -ENOENT;
	if (len > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int dfs_lookup_locked(struct dfs_store *st, uint64_t parent, const char *name,
		      struct dfs_attr *ret)
{
	sqlite3_stmt *s = dfs_stmt(st, S_LOOKUP);
	int rc = check_name(name);

	if (rc < 0)
		return rc;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)parent);
	sqlite3_bind_blob(s, 2, name, (int)strlen(name), SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		dfs_attr_from_row(st, s, 0, ret);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return -ENOENT;
	}
	return dfs_stmt_done(s, rc);
}

/* mtime and ctime of a folder whose entries changed. */
int dfs_node_touch_locked(struct dfs_store *st, uint64_t ino, bool mtime)
{
	return dfs_exec(st, mtime ? S_TOUCH_MC : S_SET_CTIME, "ii",
			(int64_t)ino, dfs_now_ns());
}

int dfs_nlink_add(struct dfs_store *st, uint64_t ino, int delta)
{
	return dfs_exec(st, S_NLINK_ADD, "iii", (int64_t)ino, (int64_t)delta,
			dfs_now_ns());
}

/* The folder parent may get a new entry. */
int dfs_check_dir(struct dfs_store *st, uint64_t parent, bool adding,
		  struct dfs_attr *ret)
{
	int rc = dfs_node_row(st, parent, ret);

	if (rc < 0)
		return rc;
	if (!S_ISDIR(ret->mode))
		return -ENOTDIR;
	if (ret->nlink == 0)
		return -ENOENT;
	if (ret->flags & DFS_NODE_READONLY)
		return -EROFS;
	if (adding && (ret->flags & DFS_NODE_FENCED))
		return -EPERM;
	return 0;
}

static bool held(struct dfs_store *st, uint64_t ino)
{
	struct dfs_oinode *oi = dfs_oinode_find(st, ino);

	return oi && (oi->holds || oi->opens || oi->queued || oi->sealing);
}

/* Delete ino's row, xattrs and work file (inside the caller's txn). */
int dfs_node_delete_locked(struct dfs_store *st, uint64_t ino)
{
	char name[32];
	int rc;

	rc = dfs_exec(st, S_DELETE_XATTRS, "i", (int64_t)ino);
	if (rc == 0)
		rc = dfs_exec(st, S_DELETE_INODE, "i", (int64_t)ino);
	if (rc == 0) {
		dfs_work_name(ino, name);
		(void)unlinkat(st->work_fd, name, 0);
	}
	return rc;
}

/* After a link went away: delete the node if nothing holds it. */
static int drop_link(struct dfs_store *st, uint64_t ino, int delta)
{
	struct dfs_attr a;
	int rc = dfs_nlink_add(st, ino, delta);

	if (rc == 0)
		rc = dfs_node_row(st, ino, &a);
	if (rc == 0 && a.nlink == 0 && !held(st, ino))
		rc = dfs_node_delete_locked(st, ino);
	return rc;
}

/* ---- reading ------------------------------------------------------------- */

/* audit.log grows with each event: its size, never cached. */
static void audit_attr_locked(struct dfs_store *st, struct dfs_attr *a)
{
	if (a->ino != DFS_INO_AUDIT)
		return;
	a->size = (uint64_t)dfs_auditlog_size_locked(st);
	a->blocks = (a->size + 511) / 512;
	a->flags |= DFS_NODE_VOLATILE;
}

int dfs_node_lookup(struct dfs_store *st, uint64_t parent, const char *name,
		    struct dfs_attr *ret)
{
	int rc;

	if (dfs_is_env_ino(parent))
		return dfs_env_lookup(st, parent, name, ret);
	pthread_mutex_lock(&st->lock);
	if (dfs_lists_virtual(parent))
		rc = dfs_vnode_lookup_locked(st, parent, name, ret);
	else
		rc = dfs_lookup_locked(st, parent, name, ret);
	if (rc == 0)
		audit_attr_locked(st, ret);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int dfs_node_getattr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	int rc;

	if (dfs_is_env_ino(ino))
		return dfs_env_getattr(st, ino, ret);
	pthread_mutex_lock(&st->lock);
	if (dfs_is_virtual(ino))
		rc = dfs_vnode_getattr_locked(st, ino, ret);
	else
		rc = dfs_node_row(st, ino, ret);
	if (rc == 0)
		audit_attr_locked(st, ret);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int dfs_node_readlink(struct dfs_store *st, uint64_t ino, char *buf, size_t cap)
{
	sqlite3_stmt *s;
	int rc, len = 0;

	if (dfs_is_env_ino(ino))
		return dfs_env_readlink(st, ino, buf, cap);
	if (dfs_is_virtual(ino)) {
		pthread_mutex_lock(&st->lock);
		rc = dfs_vnode_readlink_locked(st, ino, buf, cap);
		pthread_mutex_unlock(&st->lock);
		return rc;
	}
	pthread_mutex_lock(&st->lock);
	s = dfs_stmt(st, S_READLINK);
	if (!s) {
		rc = -EIO;
		goto out_unlock;
	}
	sqlite3_bind_int64(s, 1, (sqlite3_int64)ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		len = sqlite3_column_bytes(s, 0);
		if (sqlite3_column_type(s, 0) == SQLITE_NULL)
			rc = -EINVAL;
		else if ((size_t)len >= cap)
			rc = -ENAMETOOLONG;
		else
			memcpy(buf, sqlite3_column_blob(s, 0), (size_t)len);
		buf[rc < 0 ? 0 : len] = '\0';
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	}
	if (rc < 0)
		sqlite3_reset(s);
	else
		rc = dfs_stmt_done(s, rc);
out_unlock:
	pthread_mutex_unlock(&st->lock);
	return rc < 0 ? rc : len;
}

int dfs_node_readdir(struct dfs_store *st, uint64_t ino, uint64_t off,
		     bool hold, dfs_readdir_fn fn, void *ctx)
{
	struct dfs_dirent de;
	struct dfs_attr dir;
	sqlite3_stmt *s;
	int rc;

	if (dfs_is_env_ino(ino))
		return dfs_env_readdir(st, ino, off, hold, fn, ctx);
	pthread_mutex_lock(&st->lock);
	if (dfs_lists_virtual(ino)) {
		rc = dfs_vnode_readdir_locked(st, ino, off, hold, fn, ctx);
		pthread_mutex_unlock(&st->lock);
		return rc;
	}
	rc = dfs_node_row(st, ino, &dir);
	if (rc == 0 && !S_ISDIR(dir.mode))
		rc = -ENOTDIR;
	s = dfs_stmt(st, S_READDIR);
	if (rc == 0 && !s)
		rc = -EIO;
	if (rc < 0)
		goto out_unlock;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)ino);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)off);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char name[DFS_NAME_MAX + 1];
		int len = sqlite3_column_bytes(s, 1);

		if (len > DFS_NAME_MAX)
			continue;
		memcpy(name, sqlite3_column_blob(s, 1), (size_t)len);
		name[len] = '\0';
		de.name = name;
		de.off = (uint64_t)sqlite3_column_int64(s, 0);
		dfs_attr_from_row(st, s, 2, &de.attr);
		audit_attr_locked(st, &de.attr);
		if (fn(ctx, &de) != 0)
			break;
		if (hold)
			dfs_oinode_get(st, de.attr.ino)->holds++;
	}
	rc = dfs_stmt_done(s, rc);
out_unlock:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- creating ------------------------------------------------------------ */

static int create_locked(struct dfs_store *st, const struct dfs_actor *actor,
			 uint64_t parent, const char *name, uint32_t mode,
			 uint64_t rdev, const char *target, uint64_t *ret_ino)
{
	sqlite3_stmt *s = dfs_stmt(st, S_INSERT_INODE);
	struct dfs_attr dir;
	uint32_t gid = actor->gid;
	int64_t ino;
	int rc;

	rc = check_name(name);
	if (rc == 0)
		rc = dfs_check_dir(st, parent, true, &dir);
	if (rc < 0)
		return rc;
	if (!s)
		return -EIO;
	if ((dir.flags & DFS_NODE_TYPEDIR) && S_ISDIR(mode)) {
		rc = dfs_component_check_locked(st, parent, name);
		if (rc < 0)
			return rc;
	}
	if (dir.mode & S_ISGID) {
		gid = dir.gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
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
	if (rc < 0)
		return rc;
	ino = sqlite3_last_insert_rowid(st->db);
	rc = dfs_exec(st, S_INSERT_DIRENT, "isi", (int64_t)parent, name, ino);
	if (rc == 0 && S_ISDIR(mode))
		rc = dfs_nlink_add(st, parent, 1);
	if (rc == 0)
		rc = dfs_node_touch_locked(st, parent, true);
	if (rc == 0 && (dir.flags & DFS_NODE_TYPEDIR) && S_ISDIR(mode))
		rc = dfs_component_attach_locked(st, parent, name,
						 (uint64_t)ino);
	if (rc == 0)
		*ret_ino = (uint64_t)ino;
	return rc;
}

static int create(struct dfs_store *st, const struct dfs_actor *actor,
		  uint64_t parent, const char *name, uint32_t mode,
		  uint64_t rdev, const char *target, struct dfs_attr *ret)
{
	uint64_t ino = 0;
	int rc;

	if (dfs_is_env_ino(parent))
		return dfs_env_create(st, actor, parent, name, mode, target,
				      ret);
	if (dfs_is_virtual(parent)) {
		if (!S_ISDIR(mode) || !dfs_is_pkgdir(parent))
			return -EROFS;
		(void)dfs_store_sync(st); /* seal what was closed */
		pthread_mutex_lock(&st->lock);
		rc = dfs_pkg_create_locked(
			st, actor, (int64_t)(parent - DFS_INO_PKGDIR_BASE),
			name, ret);
		pthread_mutex_unlock(&st->lock);
		return rc;
	}
	pthread_mutex_lock(&st->lock);
	rc = S_ISREG(mode) ? dfs_db_begin_lazy(st) : dfs_db_begin(st);
	if (rc == 0) {
		rc = create_locked(st, actor, parent, name, mode, rdev, target,
				   &ino);
		rc = dfs_finish(st, rc);
	}
	if (rc == 0)
		rc = dfs_node_row(st, ino, ret);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int dfs_node_mknod(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint32_t mode,
		   uint64_t rdev, struct dfs_attr *ret)
{
	if (S_ISDIR(mode) || S_ISLNK(mode))
		return -EINVAL;
	if (!(mode & S_IFMT))
		mode |= S_IFREG;
	return create(st, actor, parent, name, mode, rdev, NULL, ret);
}

int dfs_node_mkdir(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint32_t mode,
		   struct dfs_attr *ret)
{
	return create(st, actor, parent, name, S_IFDIR | (mode & 07777), 0,
		      NULL, ret);
}

int dfs_node_symlink(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t parent, const char *name, const char *target,
		     struct dfs_attr *ret)
{
	size_t len = strlen(target);

	if (len == 0)
		return -ENOENT;
	if (len > DFS_SYMLINK_MAX)
		return -ENAMETOOLONG;
	return create(st, actor, parent, name, S_IFLNK | 0777, 0, target, ret);
}

int dfs_node_link(struct dfs_store *st, uint64_t ino, uint64_t newparent,
		  const char *newname, struct dfs_attr *ret)
{
	struct dfs_attr a, dir;
	int rc;

	if (dfs_is_env_ino(newparent) || dfs_is_env_ino(ino))
		return -EXDEV;
	if (dfs_is_virtual(newparent))
		return -EROFS;
	if (dfs_is_virtual(ino))
		return -EXDEV;
	pthread_mutex_lock(&st->lock);
	rc = dfs_db_begin(st);
	if (rc < 0)
		goto out_unlock;
	rc = dfs_node_row(st, ino, &a);
	if (rc == 0 && S_ISDIR(a.mode))
		rc = -EPERM;
	if (rc == 0 && a.flags & (DFS_NODE_SYSTEM | DFS_NODE_READONLY))
		rc = -EPERM;
	if (rc == 0 && a.nlink == 0)
		rc = -ENOENT;
	if (rc == 0)
		rc = check_name(newname);
	if (rc == 0)
		rc = dfs_check_dir(st, newparent, true, &dir);
	if (rc == 0)
		rc = dfs_exec(st, S_INSERT_DIRENT, "isi", (int64_t)newparent,
			      newname, (int64_t)ino);
	if (rc == 0)
		rc = dfs_nlink_add(st, ino, 1);
	if (rc == 0)
		rc = dfs_node_touch_locked(st, newparent, true);
	rc = dfs_finish(st, rc);
	if (rc == 0)
		rc = dfs_node_row(st, ino, ret);
out_unlock:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- removing ------------------------------------------------------------ */

int dfs_has_children(struct dfs_store *st, uint64_t ino, bool *ret)
{
	sqlite3_stmt *s = dfs_stmt(st, S_CHILD_COUNT);
	int rc;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int(s, 0) > 0;
	return dfs_stmt_done(s, rc);
}

/* Remove the entry parent/name whose node is a (dir or not). */
int dfs_remove_entry(struct dfs_store *st, uint64_t parent, const char *name,
		     const struct dfs_attr *a)
{
	int rc = dfs_exec(st, S_DELETE_DIRENT, "is", (int64_t)parent, name);

	if (rc == 0 && S_ISDIR(a->mode))
		rc = dfs_nlink_add(st, parent, -1);
	if (rc == 0 && S_ISDIR(a->mode))
		rc = dfs_component_detach_locked(st, a->ino);
	if (rc == 0)
		rc = dfs_node_touch_locked(st, parent, true);
	if (rc == 0)
		rc = drop_link(st, a->ino, S_ISDIR(a->mode) ? -2 : -1);
	return rc;
}

static int remove_checks(struct dfs_store *st, uint64_t parent,
			 const char *name, bool dir, struct dfs_attr *ret)
{
	struct dfs_attr pdir;
	bool children = false;
	int rc;

	rc = dfs_check_dir(st, parent, false, &pdir);
	if (rc == 0)
		rc = dfs_lookup_locked(st, parent, name, ret);
	if (rc < 0)
		return rc;
	if (ret->flags & DFS_NODE_SYSTEM)
		return -EPERM;
	if (!dir)
		return S_ISDIR(ret->mode) ? -EISDIR : 0;
	if (!S_ISDIR(ret->mode))
		return -ENOTDIR;
	rc = dfs_has_children(st, ret->ino, &children);
	if (rc == 0 && children)
		rc = -ENOTEMPTY;
	return rc;
}

static int remove_node(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t parent, const char *name, bool dir)
{
	struct dfs_attr a;
	int rc;

	if (dfs_is_env_ino(parent))
		return dfs_env_remove(st, actor, parent, name, dir);
	if (dfs_is_virtual(parent)) {
		if (!dir || !dfs_is_pkgdir(parent))
			return -EROFS;
		pthread_mutex_lock(&st->lock);
		rc = dfs_pkg_remove_locked(
			st, actor, (int64_t)(parent - DFS_INO_PKGDIR_BASE),
			name);
		pthread_mutex_unlock(&st->lock);
		return rc;
	}
	pthread_mutex_lock(&st->lock);
	rc = dfs_db_begin(st);
	if (rc == 0) {
		rc = remove_checks(st, parent, name, dir, &a);
		if (rc == 0)
			rc = dfs_remove_entry(st, parent, name, &a);
		rc = dfs_finish(st, rc);
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int dfs_node_unlink(struct dfs_store *st, uint64_t parent, const char *name)
{
	return dfs_node_unlink_as(st, NULL, parent, name);
}

int dfs_node_unlink_as(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t parent, const char *name)
{
	struct dfs_actor self;

	return remove_node(st, dfs_actor_or_self(actor, &self), parent, name,
			   false);
}

int dfs_node_rmdir(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name)
{
	struct dfs_actor self;

	return remove_node(st, dfs_actor_or_self(actor, &self), parent, name,
			   true);
}

void dfs_node_hold(struct dfs_store *st, uint64_t ino)
{
	pthread_mutex_lock(&st->lock);
	dfs_oinode_get(st, ino)->holds++;
	pthread_mutex_unlock(&st->lock);
}

/* Delete ino if it has no links left and nothing holds it any more. */
void dfs_node_reap_locked(struct dfs_store *st, uint64_t ino)
{
	struct dfs_attr a;

	if (!held(st, ino) && dfs_node_row(st, ino, &a) == 0 && a.nlink == 0 &&
	    !(a.flags & DFS_NODE_SYSTEM) && dfs_db_begin(st) == 0)
		(void)dfs_finish(st, dfs_node_delete_locked(st, ino));
}

void dfs_node_forget(struct dfs_store *st, uint64_t ino, uint64_t n)
{
	struct dfs_oinode *oi;

	pthread_mutex_lock(&st->lock);
	oi = dfs_oinode_find(st, ino);
	if (oi) {
		oi->holds = oi->holds > n ? oi->holds - n : 0;
		dfs_node_reap_locked(st, ino);
		dfs_oinode_maybe_free(st, oi);
	}
	pthread_mutex_unlock(&st->lock);
}
