// SPDX-License-Identifier: MIT
/*
 * ops.c - the FUSE low-level handlers: each decodes its request, makes one
 * store call and replies exactly once.  No SQL here; see store.h.
 *
 * Lookup counts: every reply that hands the kernel an inode (lookup,
 * create, mkdir, mknod, symlink, link, readdirplus) takes one store hold;
 * forget gives them back.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <stdio.h>
#include <unistd.h>

#include "deployfs/log.h"
#include "fs.h"

static void dfs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	/*
	 * Requests are read, not spliced in: a splice and then a read of
	 * the pipe is two calls a request.  (At 1 MiB the pipe was too
	 * small and libfuse read them anyway.)  Measured, four alternate
	 * rounds on fresh stores: cp -r of 10,000 files of 4 KiB, median
	 * 4.43 s read, 5.03 s spliced; a 512 MiB dd, 1.26 s read, 0.86 s
	 * spliced.  Small files are what build/ takes most.
	 */
	conn->want &= ~FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* The kernel clears setuid/setgid on write, truncate and chown. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	/*
	 * A READ is at most max_write long (libfuse asks for max_pages from
	 * it).  Its reply is spliced from the blob file only if the reply,
	 * with libfuse's margin of three pages, fits the pipe, which
	 * F_SETPIPE_SZ cannot grow past /proc/sys/fs/pipe-max-size (1 MiB;
	 * even root gets EPERM): at 1 MiB, libfuse fell back to a read()
	 * into a fresh buffer and writev() for every READ.  Measured, a
	 * 1 GiB read of a checked blob, page cache dropped: 0.34-0.35 s
	 * from our own buffer at 1 MiB, 2.3-3.0 s through libfuse's
	 * fallback, 0.30-0.32 s spliced at 1008 KiB.
	 */
	conn->max_write = DFS_FUSE_IO_MAX;
	/* Up to the readahead raise_readahead() set (fs/main.c). */
	conn->max_readahead = DFS_FUSE_IO_MAX;
	conn->time_gran = 1;
}

static void dfs_op_destroy(void *userdata)
{
	struct dfs_fs *fs = userdata;

	(void)dfs_store_sync(fs->st);
}

static void dfs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct dfs_attr a;
	int rc;

	struct dfs_actor actor = actor_of(req);

	if (dfs_announce_lookup(req, parent, name))
		return;
	looked_up(fs, parent, actor.pid);
	rc = dfs_node_lookup_as(fs->st, &actor, parent, name, &a);
	if (rc == -ENOENT) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = dfs_ino_is_build(parent) ? fs->ttl : 0.0;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0) {
		reply_err(req, rc, "lookup", parent, name);
		return;
	}
	reply_entry(req, &a);
}

static void dfs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	dfs_node_forget(fs_of(req)->st, ino, nlookup);
	fuse_reply_none(req);
}

static void dfs_op_forget_multi(fuse_req_t req, size_t count,
				struct fuse_forget_data *forgets)
{
	struct dfs_fs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		dfs_node_forget(fs->st, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void dfs_op_getattr(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct dfs_attr a;
	int rc;

	(void)fi;
	rc = dfs_node_getattr(fs_of(req)->st, ino, &a);
	if (rc == 0 && is_env_dir(ino))
		note_refusal(req, ino, &a);
	if (rc < 0)
		reply_err(req, rc, "getattr", ino, NULL);
	else
		reply_attr(req, &a);
}

static void dfs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *sb,
			   int to_set, struct fuse_file_info *fi)
{
	static const struct {
		int fuse;
		unsigned dfs;
	} map[] = {
		{ FUSE_SET_ATTR_MODE, DFS_SET_MODE },
		{ FUSE_SET_ATTR_UID, DFS_SET_UID },
		{ FUSE_SET_ATTR_GID, DFS_SET_GID },
		{ FUSE_SET_ATTR_SIZE, DFS_SET_SIZE },
		{ FUSE_SET_ATTR_ATIME, DFS_SET_ATIME },
		{ FUSE_SET_ATTR_MTIME, DFS_SET_MTIME },
		{ FUSE_SET_ATTR_ATIME_NOW, DFS_SET_ATIME_NOW },
		{ FUSE_SET_ATTR_MTIME_NOW, DFS_SET_MTIME_NOW },
		{ FUSE_SET_ATTR_CTIME, DFS_SET_CTIME },
	};
	struct dfs_setattr sa = {
		.mode = sb->st_mode,
		.uid = sb->st_uid,
		.gid = sb->st_gid,
		.size = (uint64_t)sb->st_size,
		.atime = sb->st_atim,
		.mtime = sb->st_mtim,
		.ctime = sb->st_ctim,
	};
	struct dfs_actor actor;
	struct dfs_attr a;
	int rc;

	(void)fi;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (to_set & map[i].fuse)
			sa.valid |= map[i].dfs;
	actor = actor_for(req, ino);
	rc = dfs_node_setattr_as(fs_of(req)->st, &actor, ino, &sa, &a);
	if (rc < 0)
		reply_err(req, rc, "setattr", ino, NULL);
	else
		reply_attr(req, &a);
}

static void dfs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[4096];
	int rc = dfs_node_readlink(fs_of(req)->st, ino, buf, sizeof(buf));

	if (rc < 0)
		reply_err(req, rc, "readlink", ino, NULL);
	else
		fuse_reply_readlink(req, buf);
}

static void dfs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, dev_t rdev)
{
	struct dfs_actor actor = actor_for(req, parent);
	struct dfs_attr a;
	int rc;

	rc = dfs_node_mknod(fs_of(req)->st, &actor, parent, name, mode, rdev,
			    &a);
	if (rc < 0)
		reply_err(req, rc, "mknod", parent, name);
	else
		reply_entry(req, &a);
}

static void dfs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode)
{
	struct dfs_actor actor = actor_for(req, parent);
	struct dfs_attr a;
	int rc;

	if (dfs_announce_mkdir(req, parent, name))
		return;
	rc = dfs_node_mkdir(fs_of(req)->st, &actor, parent, name, mode, &a);
	if (rc < 0)
		reply_err(req, rc, "mkdir", parent, name);
	else
		reply_entry(req, &a);
}

static void dfs_op_symlink(fuse_req_t req, const char *target,
			   fuse_ino_t parent, const char *name)
{
	struct dfs_actor actor = actor_for(req, parent);
	struct dfs_attr a;
	int rc;

	rc = dfs_node_symlink(fs_of(req)->st, &actor, parent, name, target, &a);
	if (rc < 0)
		reply_err(req, rc, "symlink", parent, name);
	else
		reply_entry(req, &a);
}

static void dfs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
			const char *newname)
{
	struct dfs_actor actor = dfs_ino_is_build(ino)
					 ? actor_for(req, newparent)
					 : actor_for(req, ino);
	struct dfs_attr a;
	int rc;

	rc = dfs_node_link_as(fs_of(req)->st, &actor, ino, newparent, newname,
			      &a);
	if (rc < 0)
		reply_err(req, rc, "link", newparent, newname);
	else
		reply_entry(req, &a);
}

static void dfs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_actor actor = actor_for(req, parent);
	int rc;

	if (dfs_announce_call(req, parent, name))
		return;
	rc = dfs_node_unlink_as(fs_of(req)->st, &actor, parent, name);

	if (rc < 0)
		reply_err(req, rc, "unlink", parent, name);
	else
		fuse_reply_err(req, 0);
}

static void dfs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_actor actor = actor_for(req, parent);
	int rc;

	rc = dfs_node_rmdir(fs_of(req)->st, &actor, parent, name);

	if (rc < 0)
		reply_err(req, rc, "rmdir", parent, name);
	else
		fuse_reply_err(req, 0);
}

static void dfs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname,
			  unsigned int flags)
{
	/* Into an audited folder, the act is recorded as the new folder's. */
	struct dfs_actor actor = actor_for(
		req, dfs_ino_is_build(newparent) ? parent : newparent);
	unsigned f = 0;
	int rc;

	if (newparent == parent && !flags &&
	    dfs_announce_call(req, parent, name))
		return;
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (flags & RENAME_NOREPLACE)
		f |= DFS_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		f |= DFS_RENAME_EXCHANGE;
	rc = dfs_node_rename_as(fs_of(req)->st, &actor, parent, name, newparent,
				newname, f);
	if (rc < 0)
		reply_err(req, rc, "rename", parent, name);
	else
		fuse_reply_err(req, 0);
}

/* ---- folders ------------------------------------------------------------- */

static void dfs_op_opendir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct dfs_attr a;
	int rc = dfs_node_getattr(fs_of(req)->st, ino, &a);

	if (rc == 0 && !S_ISDIR(a.mode))
		rc = -ENOTDIR;
	if (rc < 0) {
		reply_err(req, rc, "opendir", ino, NULL);
		return;
	}
	fi->fh = 0;
	/* The kernel may keep listings of folders whose changes it sees
	 * (build/) or that never change (snapshots); package folders and
	 * packages/ change behind its back. */
	if (!(a.flags & (DFS_NODE_VOLATILE | DFS_NODE_LIST_VOLATILE)) &&
	    ino != DFS_INO_PACKAGES) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	fuse_reply_open(req, fi);
}

struct dirbuf {
	fuse_req_t req;
	struct dfs_fs *fs;
	char *buf;
	size_t size;
	size_t pos;
	bool plus;
};

/* Add one entry; 1 when the buffer is full (the entry was not added). */
static int dirbuf_add(struct dirbuf *d, const char *name,
		      const struct dfs_attr *a, off_t next)
{
	size_t n, room = d->size - d->pos;

	if (d->plus) {
		struct fuse_entry_param e;

		fill_entry(d->fs, a, &e);
		n = fuse_add_direntry_plus(d->req, d->buf + d->pos, room, name,
					   &e, next);
	} else {
		struct stat sb;

		fill_stat(a, &sb);
		n = fuse_add_direntry(d->req, d->buf + d->pos, room, name, &sb,
				      next);
	}
	if (n > room)
		return 1;
	d->pos += n;
	return 0;
}

/* Kernel offsets: 1 after ".", 2 after "..", 2 + id after an entry. */
static int dirbuf_entry(void *ctx, const struct dfs_dirent *de)
{
	return dirbuf_add(ctx, de->name, &de->attr, (off_t)(de->off + 2));
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, bool plus)
{
	struct dirbuf d = { req, fs_of(req), NULL, size, 0, plus };
	struct dfs_attr self;
	bool full = false;
	int rc;

	d.buf = malloc(size);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = dfs_node_getattr(d.fs->st, ino, &self);
	if (rc == 0 && off < 1) {
		full = dirbuf_add(&d, ".", &self, 1);
		off = full ? off : 1;
	}
	if (rc == 0 && !full && off < 2) {
		full = dirbuf_add(&d, "..", &self, 2);
		off = full ? off : 2;
	}
	if (rc == 0 && !full)
		rc = dfs_node_readdir(d.fs->st, ino, (uint64_t)(off - 2), plus,
				      dirbuf_entry, &d);
	if (rc < 0 && d.pos == 0)
		reply_err(req, rc, "readdir", ino, NULL);
	else
		fuse_reply_buf(req, d.buf, d.pos);
	free(d.buf);
}

static void dfs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, false);
}

static void dfs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			       off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, true);
}

static void dfs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
			      struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/* A folder's entries are rows: fsync of any folder commits them all. */
static void dfs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			    struct fuse_file_info *fi)
{
	int rc = dfs_store_commit_durable(fs_of(req)->st);

	(void)datasync;
	(void)fi;
	if (rc < 0)
		reply_err(req, rc, "fsyncdir", ino, NULL);
	else
		fuse_reply_err(req, 0);
}

static void dfs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int rc = dfs_store_statfs(fs_of(req)->st, &sv);

	if (rc < 0)
		reply_err(req, rc, "statfs", ino, NULL);
	else
		fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes -------------------------------------------------- */

static void dfs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    const char *value, size_t size, int flags)
{
	struct dfs_actor actor;
	unsigned f = 0;
	int rc;

	if (flags & XATTR_CREATE)
		f |= DFS_XATTR_CREATE;
	if (flags & XATTR_REPLACE)
		f |= DFS_XATTR_REPLACE;
	actor = actor_for(req, ino);
	rc = dfs_xattr_set(fs_of(req)->st, &actor, ino, name, value, size, f);
	if (rc < 0)
		reply_err(req, rc, "setxattr", ino, name);
	else
		fuse_reply_err(req, 0);
}

/* Reply to a size query (size 0) or with the bytes fetched into buf. */
static void reply_xattr_buf(fuse_req_t req, int rc, const char *buf,
			    size_t size, const char *op, uint64_t ino,
			    const char *name)
{
	if (rc < 0)
		reply_err(req, rc, op, ino, name);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)rc);
	else
		fuse_reply_buf(req, buf, (size_t)rc);
}

static void dfs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    size_t size)
{
	struct dfs_actor actor = actor_of(req);
	char *buf = size ? malloc(size) : NULL;
	int rc = size && !buf ? -ENOMEM
			      : dfs_xattr_get_as(fs_of(req)->st, &actor, ino,
						 name, buf, size);

	reply_xattr_buf(req, rc, buf, size, "getxattr", ino, name);
	free(buf);
}

static void dfs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct dfs_actor actor = actor_of(req);
	char *buf = size ? malloc(size) : NULL;
	int rc = size && !buf ? -ENOMEM
			      : dfs_xattr_list_as(fs_of(req)->st, &actor, ino,
						  buf, size);

	reply_xattr_buf(req, rc, buf, size, "listxattr", ino, NULL);
	free(buf);
}

static void dfs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct dfs_actor actor = actor_for(req, ino);
	int rc = dfs_xattr_remove_as(fs_of(req)->st, &actor, ino, name);

	if (rc < 0)
		reply_err(req, rc, "removexattr", ino, name);
	else
		fuse_reply_err(req, 0);
}

const struct fuse_lowlevel_ops dfs_ops = {
	.init = dfs_op_init,
	.destroy = dfs_op_destroy,
	.lookup = dfs_op_lookup,
	.forget = dfs_op_forget,
	.forget_multi = dfs_op_forget_multi,
	.getattr = dfs_op_getattr,
	.setattr = dfs_op_setattr,
	.readlink = dfs_op_readlink,
	.mknod = dfs_op_mknod,
	.mkdir = dfs_op_mkdir,
	.symlink = dfs_op_symlink,
	.link = dfs_op_link,
	.unlink = dfs_op_unlink,
	.rmdir = dfs_op_rmdir,
	.rename = dfs_op_rename,
	.open = dfs_op_open,
	.create = dfs_op_create,
	.read = dfs_op_read,
	.write_buf = dfs_op_write_buf,
	.flush = dfs_op_flush,
	.release = dfs_op_release,
	.fsync = dfs_op_fsync,
	.fallocate = dfs_op_fallocate,
	.lseek = dfs_op_lseek,
	.copy_file_range = dfs_op_copy_file_range,
	.opendir = dfs_op_opendir,
	.readdir = dfs_op_readdir,
	.readdirplus = dfs_op_readdirplus,
	.releasedir = dfs_op_releasedir,
	.fsyncdir = dfs_op_fsyncdir,
	.statfs = dfs_op_statfs,
	.setxattr = dfs_op_setxattr,
	.getxattr = dfs_op_getxattr,
	.listxattr = dfs_op_listxattr,
	.removexattr = dfs_op_removexattr,
};
