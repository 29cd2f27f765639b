// SPDX-License-Identifier: MIT
/*
 * rename.c - renaming in the build workspace, with RENAME_NOREPLACE and
 * RENAME_EXCHANGE: moving or swapping directory entries, refusing to move
 * a folder into itself, and letting components follow their folders in
 * and out of the type folders.  A step of the caller's transaction;
 * st->lock held.
 */
#include <errno.h>
#include <sys/stat.h>

#include "model.h"

static const char sql_parent_of[] =
	"SELECT parent FROM dirents WHERE ino = ?1 LIMIT 1";
static const char sql_move[] = "UPDATE dirents SET parent = ?3, name = ?4"
			       " WHERE parent = ?1 AND name = ?2";
static const char sql_point[] =
	"UPDATE dirents SET ino = ?3 WHERE parent = ?1 AND name = ?2";

/* Is ino the folder dir or one of its ancestors? (a rename loop) */
static int is_ancestor(struct dfs_store *st, uint64_t ino, uint64_t dir,
		       bool *ret)
{
	for (int depth = 0; depth < 100000; depth++) {
		int64_t up;
		int rc;

		if (dir == ino) {
			*ret = true;
			return 0;
		}
		if (dir == DFS_INO_ROOT)
			break;
		rc = dfs_query_int(st, sql_parent_of, &up, "i", (int64_t)dir);
		if (rc == -ENOENT)
			break;
		if (rc < 0)
			return rc;
		dir = (uint64_t)up;
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
		rc = dfs_exec_sql(st, sql_point, "isi", (int64_t)parent, name,
				  (int64_t)dst->ino);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_point, "isi", (int64_t)newparent,
				  newname, (int64_t)src->ino);
	if (rc == 0 && parent != newparent) {
		int delta = (S_ISDIR(src->mode) ? 1 : 0) -
			    (S_ISDIR(dst->mode) ? 1 : 0);

		if (delta)
			rc = dfs_inode_nlink_add(st, newparent, delta);
		if (rc == 0 && delta)
			rc = dfs_inode_nlink_add(st, parent, -delta);
	}
	if (rc == 0)
		rc = dfs_inode_set_ctime(st, src->ino, now);
	if (rc == 0)
		rc = dfs_inode_set_ctime(st, dst->ino, now);
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
	rc = dfs_inode_has_children(st, dst->ino, &children);
	return rc < 0 ? rc : children ? -ENOTEMPTY : 0;
}

static int move(struct dfs_store *st, uint64_t parent, const char *name,
		const struct dfs_attr *src, uint64_t newparent,
		const char *newname, const struct dfs_attr *dst,
		uint64_t *ret_orphan)
{
	int rc = check_loop(st, src, parent, newparent);

	if (rc == 0 && dst)
		rc = replace_checks(st, src, dst);
	if (rc == 0 && dst)
		rc = dfs_inode_unlink_entry(st, newparent, newname, dst,
					    ret_orphan);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_move, "isis", (int64_t)parent, name,
				  (int64_t)newparent, newname);
	if (rc == 0 && S_ISDIR(src->mode) && parent != newparent) {
		rc = dfs_inode_nlink_add(st, parent, -1);
		if (rc == 0)
			rc = dfs_inode_nlink_add(st, newparent, 1);
	}
	if (rc == 0)
		rc = dfs_inode_set_ctime(st, src->ino, dfs_now_ns());
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
		rc = dfs_component_detach(st, src->ino);
	if (rc == 0 && to && dst && S_ISDIR(dst->mode))
		rc = dfs_component_detach(st, dst->ino);
	if (rc == 0 && to && S_ISDIR(src->mode))
		rc = dfs_component_check(st, newparent, newname);
	if (rc == 0 && to && S_ISDIR(src->mode))
		rc = dfs_component_attach(st, newparent, newname, src->ino);
	if (rc == 0 && exchange && from && S_ISDIR(dst->mode))
		rc = dfs_component_check(st, parent, name);
	if (rc == 0 && exchange && from && S_ISDIR(dst->mode))
		rc = dfs_component_attach(st, parent, name, dst->ino);
	return rc;
}

int dfs_inode_rename(struct dfs_store *st, uint64_t parent, const char *name,
		     uint64_t newparent, const char *newname, unsigned flags,
		     uint64_t *ret_orphan)
{
	struct dfs_attr src, dst, pdir, ndir;
	bool have_dst;
	int rc;

	rc = dfs_inode_check_dir(st, parent, NULL, &pdir);
	if (rc == 0)
		rc = dfs_inode_attr_at(st, parent, name, &src);
	if (rc < 0)
		return rc;
	rc = dfs_inode_check_dir(st, newparent, newname, &ndir);
	if (rc < 0)
		return rc;
	if (src.flags & DFS_NODE_SYSTEM)
		return -EPERM;
	rc = dfs_inode_attr_at(st, newparent, newname, &dst);
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
			  have_dst ? &dst : NULL, ret_orphan);
	if (rc == 0 && ((pdir.flags | ndir.flags) & DFS_NODE_TYPEDIR))
		rc = rename_components(st, &pdir, parent, name, &src, &ndir,
				       newparent, newname,
				       have_dst ? &dst : NULL,
				       flags & DFS_RENAME_EXCHANGE);
	if (rc == 0)
		rc = dfs_inode_touch(st, parent, true);
	if (rc == 0 && newparent != parent)
		rc = dfs_inode_touch(st, newparent, true);
	return rc;
}
