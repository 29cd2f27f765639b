// SPDX-License-Identifier: MIT
/*
 * files.c - the FUSE handlers of open files: open, create, read,
 * write, flush, release, fsync, fallocate, lseek, copy_file_range.
 * Each decodes its request, makes one store call and replies once.
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

static int open_file(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     const struct dfs_actor *actor)
{
	struct dfs_file *f;
	int rc;

	rc = dfs_file_open_as(fs_of(req)->st, actor, ino,
			      fi->flags & (O_ACCMODE | O_TRUNC | O_APPEND), &f);
	if (rc < 0)
		return rc;
	fi->fh = (uint64_t)(uintptr_t)f;
	/* A close of a file open for reading only has nothing to flush or
	 * to learn (the calls a failed commit undoes are on a file open for
	 * writing, whose close reports them): no FLUSH request for it, one
	 * of the four a copy out of a package costs per file.  One that
	 * keeps the next opens of its file from passing through keeps its
	 * FLUSH, as before: its RELEASE comes in the background after the
	 * close returns, and a close that waits for the daemon gives the
	 * releases before it time to arrive before the next open. */
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY &&
		      !dfs_file_holds_back_passthrough(f);
	if (dfs_file_buffered(f)) {
		/* audit.log grows, and a copy into an environment is
		 * checked, not kept: no page cache. */
		fi->direct_io = 1;
		fi->keep_cache = 0;
	} else if (dfs_file_direct(f)) {
		/* Written only: no page cache, and no security.capability
		 * asked of each write (dfs_op_write_buf drops privileges). */
		fi->direct_io = 1;
		fi->keep_cache = 0;
	} else {
		fi->keep_cache = 1;
	}
	return 0;
}

void dfs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* A file of packages/ asks nothing of its opener, and a refusal
	 * finds out who asked when it records it (dfs_refused).  Reading
	 * /proc for each request was a fifth of a copy deploy's daemon
	 * time, two thirds of it at opens. */
	struct dfs_actor actor =
		dfs_ino_is_snode(ino) ? actor_of(req) : actor_for(req, ino);
	int rc = open_file(req, ino, fi, &actor), backing;

	if (rc < 0) {
		reply_err(req, rc, "open", ino, NULL);
		return;
	}
	backing = dfs_file_backing(file_of(fi));
	rc = backing > 0 ? dfs_reply_open_backing(req, fi, backing)
			 : fuse_reply_open(req, fi);
	if (rc < 0)
		(void)dfs_file_release(fs_of(req)->st, file_of(fi));
}

void dfs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		   mode_t mode, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = fs_of(req);
	struct dfs_actor actor = actor_for(req, parent);
	struct fuse_entry_param e;
	struct dfs_attr a;
	int rc;

	rc = dfs_node_mknod(fs->st, &actor, parent, name, S_IFREG | mode, 0,
			    &a);
	if (rc == 0) /* the same caller: its actor is resolved once */
		rc = open_file(req, a.ino, fi, &actor);
	if (rc < 0) {
		reply_err(req, rc, "create", parent, name);
		return;
	}
	fill_entry(fs, &a, &e);
	dfs_node_hold(fs->st, a.ino);
	if (fuse_reply_create(req, &e, fi) < 0) {
		(void)dfs_file_release(fs->st, file_of(fi));
		dfs_node_forget(fs->st, a.ino, 1);
	}
}

void dfs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	struct dfs_file *f = file_of(fi);
	struct dfs_fs *fs = fs_of(req);
	char *mem = NULL;
	ssize_t n;

	if (dfs_file_buffered(f)) {
		mem = malloc(size ? size : 1);
		n = mem ? dfs_file_read(fs->st, f, mem, size, (uint64_t)off)
			: -ENOMEM;
	} else {
		/* The chunks of a blob it serves are checked first: the
		 * first time, in the bytes that are served.  Later reads
		 * are spliced (dfs_op_init keeps a READ's reply within
		 * libfuse's pipe). */
		n = dfs_file_read_mem(fs->st, f, (uint64_t)off, size, false,
				      &mem);
	}
	if (n != -EAGAIN || dfs_file_buffered(f)) {
		if (n < 0)
			reply_err(req, (int)n, "read", ino, NULL);
		else
			fuse_reply_buf(req, mem, (size_t)n);
		free(mem);
		return;
	}
	buf.buf[0].fd = dfs_file_fd_get_range(fs->st, f, (uint64_t)off, size);
	if (buf.buf[0].fd < 0) {
		reply_err(req, buf.buf[0].fd, "read", ino, NULL);
		return;
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
	dfs_file_fd_put(fs->st, f, false, 0);
}

static int req_groups(void *ctx, uint32_t *list, int cap)
{
	int n = fuse_req_getgroups(ctx, cap, (gid_t *)list);

	return n < 0 ? n : n > cap ? cap : n;
}

/* A write the kernel does not cache (dfs_file_direct) leaves setuid and
 * setgid to us; as root (CAP_FSETID) they stay, as the kernel keeps them. */
static int drop_privs(fuse_req_t req, struct dfs_file *f)
{
	struct dfs_actor a = actor_of(req);

	if (a.uid == 0 || !dfs_file_direct(f))
		return 0;
	return dfs_file_drop_privs(fs_of(req)->st, f, &a, req_groups, req);
}

void dfs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
		      off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	struct dfs_file *f = file_of(fi);
	struct dfs_fs *fs = fs_of(req);
	ssize_t n;

	if (dfs_file_buffered(f)) {
		/* Compared with the package, not stored. */
		size_t size = fuse_buf_size(in);
		struct fuse_bufvec mem = FUSE_BUFVEC_INIT(size);

		mem.buf[0].mem = malloc(size ? size : 1);
		n = !mem.buf[0].mem ? -ENOMEM : fuse_buf_copy(&mem, in, 0);
		if (n > 0)
			n = dfs_file_write(fs->st, f, mem.buf[0].mem, (size_t)n,
					   (uint64_t)off);
		free(mem.buf[0].mem);
		if (n < 0)
			reply_err(req, (int)n, "write", ino, NULL);
		else
			fuse_reply_write(req, (size_t)n);
		return;
	}
	n = drop_privs(req, f);
	if (n < 0) {
		reply_err(req, (int)n, "write", ino, NULL);
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = dfs_file_write_fd(fs->st, f);
	out.buf[0].pos = off;
	if (out.buf[0].fd == -ENOSPC) {
		reply_err(req, -ENOSPC, "write", ino, NULL);
		return;
	}
	n = out.buf[0].fd < 0 ? -EBADF : fuse_buf_copy(&out, in, 0);
	dfs_file_fd_put(fs->st, f, n > 0, n > 0 ? (uint64_t)(off + n) : 0);
	if (n < 0)
		reply_err(req, (int)n, "write", ino, NULL);
	else
		fuse_reply_write(req, (size_t)n);
}

void dfs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = dfs_file_flush(fs_of(req)->st, file_of(fi));

	if (rc < 0)
		reply_err(req, rc, "flush", ino, NULL);
	else
		fuse_reply_err(req, 0);
}

void dfs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* Not actor_for(): that reads /proc for every close outside build/,
	 * and an override's record names the actor its open kept. */
	struct dfs_actor actor = actor_of(req);

	(void)ino;
	(void)dfs_file_close_as(fs_of(req)->st, &actor, file_of(fi));
	fuse_reply_err(req, 0);
}

void dfs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		  struct fuse_file_info *fi)
{
	int rc = dfs_file_fsync(fs_of(req)->st, file_of(fi), datasync != 0);

	if (rc < 0)
		reply_err(req, rc, "fsync", ino, NULL);
	else
		fuse_reply_err(req, 0);
}

void dfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		      off_t len, struct fuse_file_info *fi)
{
	int rc =
		dfs_file_fallocate(fs_of(req)->st, file_of(fi), mode, off, len);

	if (rc < 0)
		reply_err(req, rc, "fallocate", ino, NULL);
	else
		fuse_reply_err(req, 0);
}

void dfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		  struct fuse_file_info *fi)
{
	off_t pos = 0;
	int rc = dfs_file_lseek(file_of(fi), off, whence, &pos);

	if (rc < 0)
		reply_err(req, rc, "lseek", ino, NULL);
	else
		fuse_reply_lseek(req, pos);
}

/*
 * copy_file_range: into an environment, a source with the package's
 * content moves nothing; into a stored file (build/) the store reads and
 * writes the bytes itself, one round trip.  Anything else is the
 * kernel's to copy (EOPNOTSUPP makes it fall back to reads and writes;
 * ENOSYS would turn copy_file_range off for the whole mount).
 */
void dfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			    struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			    off_t off_out, struct fuse_file_info *fi_out,
			    size_t len, int flags)
{
	ssize_t n;

	(void)ino_in;
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	n = dfs_file_copy_range(fs_of(req)->st, file_of(fi_in),
				(uint64_t)off_in, file_of(fi_out),
				(uint64_t)off_out, len);
	if (n < 0)
		reply_err(req, (int)n, "copy_file_range", ino_out, NULL);
	else
		fuse_reply_write(req, (size_t)n);
}
