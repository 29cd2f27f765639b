// SPDX-License-Identifier: MIT
/*
 * change.c - the namespace calls that change existing nodes: rename (with
 * RENAME_NOREPLACE and RENAME_EXCHANGE), setattr and extended attributes.
 * Each is one transaction under st->lock; see node.c for the rules.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* Is ino the folder dir or one of its ancestors? (a rename loop) */
static int is_ancestor(struct dfs_store *st, uint64_t ino, uint64_t dir,
		       bool *ret)
{
	for (int depth = 0; depth < 100000; depth++) {
		sqlite3_stmt *s;
		int rc;

		if (dir == ino) {
			*ret = true;
			return 0;
		}
		if (dir == DFS_INO_ROOT)
			break;
		rc = dfs_query(st, S_PARENT_OF, &s, "i", (int64_t)dir);
		if (rc <= 0)
			return rc;
		dir = (uint64_t)sqlite3_column_int64(s, 0);
		rc = dfs_stmt_done(s, SQLITE_ROW);
		if (rc < 0)
			return rc;
	}
	*ret = false;
	return 0;
}

static int check_loop(struct dfs_store *st, const struct dfs_attr *moved,
		      uint64_t from, uint64_t to)
{
	bool loop = false;
	int rc;

	if (!S_ISDIR(moved->mode) || from == to)
		return 0;
	rc = is_ancestor(st, moved->ino, to, &loop);
	return rc < 0 ? rc : loop ? -EINVAL : 0;
}

static int exchange(struct dfs_store *st, uint64_t parent, const char *name,
		    const struct dfs_attr *src, uint64_t newparent,
		    const char *newname, const struct dfs_attr *dst)
{
	int64_t now = dfs_now_ns();
	int rc;

	rc = check_loop(st, src, parent, newparent);
	if (rc == 0)
		rc = check_loop(st, dst, newparent, parent);
	if (rc == 0)
		rc = dfs_exec(st, S_DIRENT_INO, "isi", (int64_t)parent, name,
			      (int64_t)dst->ino);
	if (rc == 0)
		rc = dfs_exec(st, S_DIRENT_INO, "isi", (int64_t)newparent,
			      newname, (int64_t)src->ino);
	if (rc == 0 && parent != newparent) {
		int delta = (S_ISDIR(src->mode) ? 1 : 0) -
			    (S_ISDIR(dst->mode) ? 1 : 0);

		if (delta)
			rc = dfs_nlink_add(st, newparent, delta);
		if (rc == 0 && delta)
			rc = dfs_nlink_add(st, parent, -delta);
	}
	if (rc == 0)
		rc = dfs_exec(st, S_SET_CTIME, "ii", (int64_t)src->ino, now);
	if (rc == 0)
		rc = dfs_exec(st, S_SET_CTIME, "ii", (int64_t)dst->ino, now);
	return rc;
}

static int replace_checks(struct dfs_store *st, const struct dfs_attr *src,
			  const struct dfs_attr *dst)
{
	bool children = false;
	int rc;

	if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode))
		return -ENOTDIR;
	if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode))
		return -EISDIR;
	if (!S_ISDIR(dst->mode))
		return 0;
	rc = dfs_has_children(st, dst->ino, &children);
	return rc < 0 ? rc : children ? -ENOTEMPTY : 0;
}

static int move(struct dfs_store *st, uint64_t parent, const char *name,
		const struct dfs_attr *src, uint64_t newparent,
		const char *newname, const struct dfs_attr *dst)
{
	int rc = check_loop(st, src, parent, newparent);

	if (rc == 0 && dst)
		rc = replace_checks(st, src, dst);
	if (rc == 0 && dst)
		rc = dfs_remove_entry(st, newparent, newname, dst);
	if (rc == 0)
		rc = dfs_exec(st, S_MOVE_DIRENT, "isis", (int64_t)parent, name,
			      (int64_t)newparent, newname);
	if (rc == 0 && S_ISDIR(src->mode) && parent != newparent) {
		rc = dfs_nlink_add(st, parent, -1);
		if (rc == 0)
			rc = dfs_nlink_add(st, newparent, 1);
	}
	if (rc == 0)
		rc = dfs_exec(st, S_SET_CTIME, "ii", (int64_t)src->ino,
			      dfs_now_ns());
	return rc;
}

/* Components follow their folders in and out of the type folders. */
static int rename_components(struct dfs_store *st, const struct dfs_attr *pdir,
			     uint64_t parent, const char *name,
			     const struct dfs_attr *src,
			     const struct dfs_attr *ndir, uint64_t newparent,
			     const char *newname, const struct dfs_attr *dst,
			     bool exchange)
{
	bool from = pdir->flags & DFS_NODE_TYPEDIR;
	bool to = ndir->flags & DFS_NODE_TYPEDIR;
	int rc = 0;

	if (from && S_ISDIR(src->mode))
		rc = dfs_component_detach_locked(st, src->ino);
	if (rc == 0 && to && dst && S_ISDIR(dst->mode))
		rc = dfs_component_detach_locked(st, dst->ino);
	if (rc == 0 && to && S_ISDIR(src->mode))
		rc = dfs_component_check_locked(st, newparent, newname);
	if (rc == 0 && to && S_ISDIR(src->mode))
		rc = dfs_component_attach_locked(st, newparent, newname,
						 src->ino);
	if (rc == 0 && exchange && from && S_ISDIR(dst->mode))
		rc = dfs_component_check_locked(st, parent, name);
	if (rc == 0 && exchange && from && S_ISDIR(dst->mode))
		rc = dfs_component_attach_locked(st, parent, name, dst->ino);
	return rc;
}

static int rename_locked(struct dfs_store *st, uint64_t parent,
			 const char *name, uint64_t newparent,
			 const char *newname, unsigned flags)
{
	struct dfs_attr src, dst, pdir, ndir;
	bool have_dst;
	int rc;

	rc = dfs_check_dir(st, parent, false, &pdir);
	if (rc == 0)
		rc = dfs_lookup_locked(st, parent, name, &src);
	if (rc < 0)
		return rc;
	rc = dfs_check_dir(st, newparent, true, &ndir);
	if (rc < 0)
		return rc;
	if (src.flags & DFS_NODE_SYSTEM)
		return -EPERM;
	rc = dfs_lookup_locked(st, newparent, newname, &dst);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	have_dst = rc == 0;
	if (have_dst && dst.ino == src.ino)
		return 0;
	if (have_dst && (flags & DFS_RENAME_NOREPLACE))
		return -EEXIST;
	if (!have_dst && (flags & DFS_RENAME_EXCHANGE))
		return -ENOENT;
	if (have_dst && (dst.flags & DFS_NODE_SYSTEM))
		return -EPERM;
	if (flags & DFS_RENAME_EXCHANGE)
		rc = exchange(st, parent, name, &src, newparent, newname, &dst);
	else
		rc = move(st, parent, name, &src, newparent, newname,
			  have_dst ? &dst : NULL);
	if (rc == 0 && ((pdir.flags | ndir.flags) & DFS_NODE_TYPEDIR))
		rc = rename_components(st, &pdir, parent, name, &src, &ndir,
				       newparent, newname,
				       have_dst ? &dst : NULL,
				       flags & DFS_RENAME_EXCHANGE);
	if (rc == 0)
		rc = dfs_node_touch_locked(st, parent, true);
	if (rc == 0 && newparent != parent)
		rc = dfs_node_touch_locked(st, newparent, true);
	return rc;
}

int dfs_node_rename(struct dfs_store *st, uint64_t parent, const char *name,
		    uint64_t newparent, const char *newname, unsigned flags)
{
	return dfs_node_rename_as(st, NULL, parent, name, newparent, newname,
				  flags);
}

int dfs_node_rename_as(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t parent, const char *name, uint64_t newparent,
		       const char *newname, unsigned flags)
{
	struct dfs_actor self;
	int rc;

	if ((flags & DFS_RENAME_NOREPLACE) && (flags & DFS_RENAME_EXCHANGE))
		return -EINVAL;
	if (dfs_is_env_ino(parent) || dfs_is_env_ino(newparent))
		return dfs_env_rename(st, dfs_actor_or_self(actor, &self),
				      parent, name, newparent, newname, flags);
	if (dfs_is_virtual(parent) || dfs_is_virtual(newparent))
		return -EROFS;
	if (strlen(newname) > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&st->lock);
	rc = dfs_db_begin(st);
	if (rc == 0)
		rc = dfs_finish(st, rename_locked(st, parent, name, newparent,
						  newname, flags));
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- setattr ------------------------------------------------------------- */

static int64_t time_arg(unsigned valid, unsigned set, unsigned now,
			struct timespec ts, int64_t t_now)
{
	if (valid & now)
		return t_now;
	(void)set;
	return dfs_ts_to_ns(ts);
}

static int setattr_locked(struct dfs_store *st, uint64_t ino,
			  const struct dfs_setattr *sa)
{
	int64_t now = dfs_now_ns();
	struct dfs_oinode *oi;
	struct dfs_attr a;
	int rc;

	rc = dfs_node_row(st, ino, &a);
	if (rc < 0)
		return rc;
	if (a.flags & DFS_NODE_READONLY)
		return -EROFS;
	oi = dfs_oinode_find(st, ino);
	if (oi && oi->dirty_times) {
		rc = dfs_content_persist_times_locked(st, oi);
		if (rc < 0)
			return rc;
	}
	if (sa->valid & DFS_SET_MODE)
		rc = dfs_exec(
			st, S_SET_MODE, "ii", (int64_t)ino,
			(int64_t)((a.mode & S_IFMT) | (sa->mode & 07777)));
	if (rc == 0 && (sa->valid & (DFS_SET_UID | DFS_SET_GID)))
		rc = dfs_exec(
			st, S_SET_OWNER, "iii", (int64_t)ino,
			(int64_t)(sa->valid & DFS_SET_UID ? sa->uid : a.uid),
			(int64_t)(sa->valid & DFS_SET_GID ? sa->gid : a.gid));
	if (rc == 0 && (sa->valid & DFS_SET_SIZE)) {
		if (S_ISDIR(a.mode))
			return -EISDIR;
		if (!S_ISREG(a.mode))
			return -EINVAL;
		rc = dfs_content_truncate_locked(st, ino, sa->size);
		if (rc == 0)
			rc = dfs_exec(st, S_SET_MTIME, "ii", (int64_t)ino, now);
	}
	if (rc == 0 && (sa->valid & (DFS_SET_ATIME | DFS_SET_ATIME_NOW)))
		rc = dfs_exec(st, S_SET_ATIME, "ii", (int64_t)ino,
			      time_arg(sa->valid, DFS_SET_ATIME,
				       DFS_SET_ATIME_NOW, sa->atime, now));
	if (rc == 0 && (sa->valid & (DFS_SET_MTIME | DFS_SET_MTIME_NOW)))
		rc = dfs_exec(st, S_SET_MTIME, "ii", (int64_t)ino,
			      time_arg(sa->valid, DFS_SET_MTIME,
				       DFS_SET_MTIME_NOW, sa->mtime, now));
	if (rc == 0)
		rc = dfs_exec(st, S_SET_CTIME, "ii", (int64_t)ino,
			      sa->valid & DFS_SET_CTIME
				      ? dfs_ts_to_ns(sa->ctime)
				      : now);
	return rc;
}

int dfs_node_setattr(struct dfs_store *st, uint64_t ino,
		     const struct dfs_setattr *sa, struct dfs_attr *ret)
{
	struct dfs_oinode *oi = NULL;
	int rc;

	if (dfs_is_env_ino(ino))
		return dfs_env_setattr(st, ino, sa, ret);
	if (dfs_is_virtual(ino)) {
		/* Unchanging: only a change to the same values succeeds
		 * (cp -a and rsync -a setting what is already there). */
		pthread_mutex_lock(&st->lock);
		rc = dfs_vnode_getattr_locked(st, ino, ret);
		pthread_mutex_unlock(&st->lock);
		return rc < 0 ? rc : dfs_setattr_is_noop(ret, sa) ? 0 : -EROFS;
	}
	pthread_mutex_lock(&st->lock);
	if (sa->valid & DFS_SET_SIZE) {
		/* Wait for a seal in progress before the transaction: waiting
		 * lets go of st->lock, and the sealer needs the connection. */
		oi = dfs_oinode_get(st, ino);
		oi->opens++;
		dfs_content_wait_sealed_locked(st, oi);
	}
	rc = dfs_db_begin_lazy(st);
	if (rc == 0)
		rc = dfs_finish(st, setattr_locked(st, ino, sa));
	if (rc == 0)
		rc = dfs_node_row(st, ino, ret);
	if (oi) {
		oi->opens--;
		if (oi->writers == 0 && oi->is_work)
			dfs_seal_enqueue_locked(st, oi);
		dfs_oinode_maybe_free(st, oi);
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- extended attributes ------------------------------------------------- */

static int xattr_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > DFS_XATTR_NAME_MAX)
		return -ERANGE;
	if (strncmp(name, "user.", 5) != 0)
		return -EOPNOTSUPP;
	return 0;
}

#define REVISION_XATTR "user.deployfs.revision"

/* user.deployfs.revision of a component folder, as text. */
static int revision_xattr(struct dfs_store *st, uint64_t ino, void *buf,
			  size_t cap)
{
	char text[32];
	int64_t rev;
	int rc, len;

	(void)dfs_store_sync(st); /* the revision counts saved content */
	rc = dfs_component_revision(st, ino, &rev);
	if (rc < 0)
		return rc == -ENOENT ? -ENODATA : rc;
	len = snprintf(text, sizeof(text), "%lld", (long long)rev);
	if (cap && (size_t)len > cap)
		return -ERANGE;
	if (cap)
		memcpy(buf, text, (size_t)len);
	return len;
}

int dfs_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
		  void *buf, size_t cap)
{
	sqlite3_stmt *s;
	int rc = xattr_name_ok(name), len;

	if (rc == -EOPNOTSUPP)
		return -ENODATA;
	if (rc < 0)
		return rc;
	if (dfs_is_env_ino(ino))
		return dfs_env_xattr_get(st, ino, name, buf, cap);
	if (dfs_is_virtual(ino)) {
		pthread_mutex_lock(&st->lock);
		rc = ino < DFS_INO_PKGDIR_BASE
			     ? dfs_pkg_xattr_get_locked(
				       st, (int64_t)(ino - DFS_INO_SNODE_BASE),
				       name, buf, cap)
			     : -ENOENT;
		pthread_mutex_unlock(&st->lock);
		return rc == -ENOENT ? -ENODATA : rc;
	}
	if (strcmp(name, REVISION_XATTR) == 0)
		return revision_xattr(st, ino, buf, cap);
	pthread_mutex_lock(&st->lock);
	rc = dfs_query(st, S_XATTR_GET, &s, "is", (int64_t)ino, name);
	if (rc == 0)
		rc = -ENODATA;
	if (rc > 0) {
		len = sqlite3_column_bytes(s, 0);
		if (cap && len && (size_t)len <= cap)
			memcpy(buf, sqlite3_column_blob(s, 0), (size_t)len);
		rc = dfs_stmt_done(s, SQLITE_ROW);
		if (rc == 0)
			rc = cap && (size_t)len > cap ? -ERANGE : len;
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int xattr_set_locked(struct dfs_store *st, uint64_t ino,
			    const char *name, const void *value, size_t size,
			    unsigned flags)
{
	struct dfs_attr a;
	int rc = dfs_node_row(st, ino, &a);

	if (rc < 0)
		return rc;
	if (a.flags & DFS_NODE_READONLY)
		return -EROFS;
	if (flags & DFS_XATTR_CREATE) {
		rc = dfs_exec(st, S_XATTR_INSERT, "isx", (int64_t)ino, name,
			      value, size);
	} else if (flags & DFS_XATTR_REPLACE) {
		rc = dfs_exec(st, S_XATTR_UPDATE, "isx", (int64_t)ino, name,
			      value, size);
		if (rc == 0 && sqlite3_changes(st->db) == 0)
			rc = -ENODATA;
	} else {
		rc = dfs_exec(st, S_XATTR_SET, "isx", (int64_t)ino, name, value,
			      size);
	}
	if (rc == 0)
		rc = dfs_exec(st, S_SET_CTIME, "ii", (int64_t)ino,
			      dfs_now_ns());
	return rc;
}

int dfs_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
		  uint64_t ino, const char *name, const void *value,
		  size_t size, unsigned flags)
{
	int rc = xattr_name_ok(name);

	if (rc < 0)
		return rc;
	if (size > DFS_XATTR_SIZE_MAX)
		return -E2BIG;
	if (!value)
		value = "";
	if (dfs_is_env_ino(ino)) {
		struct dfs_actor self;

		return dfs_env_xattr_set(st, dfs_actor_or_self(actor, &self),
					 ino, name, value, size);
	}
	if (dfs_is_virtual(ino)) {
		struct dfs_actor self;

		actor = dfs_actor_or_self(actor, &self);
		pthread_mutex_lock(&st->lock);
		rc = ino < DFS_INO_PKGDIR_BASE
			     ? dfs_pkg_xattr_set_locked(
				       st, actor,
				       (int64_t)(ino - DFS_INO_SNODE_BASE),
				       name, value, size)
			     : -EROFS;
		pthread_mutex_unlock(&st->lock);
		return rc == -ENOENT ? -EROFS : rc;
	}
	if (strcmp(name, REVISION_XATTR) == 0)
		return -EPERM;
	pthread_mutex_lock(&st->lock);
	rc = dfs_db_begin_lazy(st);
	if (rc == 0)
		rc = dfs_finish(st, xattr_set_locked(st, ino, name, value, size,
						     flags));
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int dfs_xattr_list(struct dfs_store *st, uint64_t ino, char *buf, size_t cap)
{
	sqlite3_stmt *s = NULL;
	size_t total = 0;
	int rc;

	if (dfs_is_env_ino(ino))
		return dfs_env_xattr_list(st, ino, buf, cap);
	pthread_mutex_lock(&st->lock);
	if (dfs_is_virtual(ino)) {
		rc = ino < DFS_INO_PKGDIR_BASE
			     ? dfs_pkg_xattr_list_locked(
				       st, (int64_t)(ino - DFS_INO_SNODE_BASE),
				       buf, cap)
			     : 0;
		pthread_mutex_unlock(&st->lock);
		return rc == -ENOENT ? 0 : rc;
	}
	rc = dfs_query(st, S_XATTR_LIST, &s, "i", (int64_t)ino);
	while (rc == 1) {
		size_t len = (size_t)sqlite3_column_bytes(s, 0);

		if (cap && total + len + 1 > cap) {
			sqlite3_reset(s);
			rc = -ERANGE;
			break;
		}
		if (cap) {
			memcpy(buf + total, sqlite3_column_blob(s, 0), len);
			buf[total + len] = '\0';
		}
		total += len + 1;
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW) {
			rc = dfs_stmt_done(s, rc);
			break;
		}
		rc = 1;
	}
	pthread_mutex_unlock(&st->lock);
	return rc < 0 ? rc : (int)total;
}

int dfs_xattr_remove(struct dfs_store *st, uint64_t ino, const char *name)
{
	struct dfs_attr a;
	int rc = xattr_name_ok(name);

	if (rc == -EOPNOTSUPP)
		return -ENODATA;
	if (rc < 0)
		return rc;
	if (ino == DFS_INO_ENVIRONMENTS)
		return -EROFS;
	if (dfs_is_env_ino(ino) && !dfs_is_eview(ino))
		return -EPERM;
	/* The deployment's own attributes (state, progress, ...) describe
	 * it, they are not content: rsync -X removing them, as the
	 * package has none, changes nothing. */
	if (dfs_is_eview(ino))
		return strncmp(name, "user.deployfs.", 14) == 0 ? 0 : -ENODATA;
	if (dfs_is_virtual(ino))
		return -EROFS;
	pthread_mutex_lock(&st->lock);
	rc = dfs_db_begin(st);
	if (rc < 0)
		goto out_unlock;
	rc = dfs_node_row(st, ino, &a);
	if (rc == 0 && (a.flags & DFS_NODE_READONLY))
		rc = -EROFS;
	if (rc == 0)
		rc = dfs_exec(st, S_XATTR_DELETE, "is", (int64_t)ino, name);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = -ENODATA;
	if (rc == 0)
		rc = dfs_exec(st, S_SET_CTIME, "ii", (int64_t)ino,
			      dfs_now_ns());
	rc = dfs_finish(st, rc);
out_unlock:
	pthread_mutex_unlock(&st->lock);
	return rc;
}
