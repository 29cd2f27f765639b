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

static struct dfs_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The caller as FUSE gives it: pid is the thread that asks.  The store
 * resolves it to its process and command line if it records it. */
static struct dfs_actor actor_of(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct dfs_actor a = { .uid = ctx->uid,
			       .gid = ctx->gid,
			       .pid = ctx->pid };

	return a;
}

/*
 * The actor of an act the audit trail records: its process (the thread
 * group) and command line, read while the request is in flight (the
 * process may be gone a moment later; a copy's close records what its
 * open saw).
 */
static struct dfs_actor audited_actor_of(fuse_req_t req)
{
	struct dfs_actor a = actor_of(req);

	ssize_t n = fuse_req_getgroups(req, DFS_GROUPS_MAX, (gid_t *)a.groups);

	a.ngroups = n > 0 && n <= DFS_GROUPS_MAX ? (int)n : 0;
	dfs_actor_resolve(&a);
	return a;
}

static struct dfs_actor actor_for(fuse_req_t req, uint64_t ino)
{
	return dfs_ino_is_build(ino) ? actor_of(req) : audited_actor_of(req);
}

/*
 * Refusals the kernel answers.  The mount checks permissions in the kernel
 * (default_permissions), so a deployer refused write permission on
 * environments/ENV never reaches the daemon with the act itself.  But to
 * create or remove a name in ENV the kernel first looks the name up (a
 * LOOKUP in ENV from the process), and when it then refuses the act with
 * attributes it holds as valid, it fetches them once more before giving
 * up (a GETATTR of ENV from the same process).  That pair, from a process
 * that may search ENV but not write it, is such a refusal: it is
 * recorded.
 */
static bool is_env_dir(uint64_t ino)
{
	return ino >= DFS_INO_ENV_BASE && ino < DFS_INO_DEPLINK_BASE;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Process pid looked a name up in the environment folder ino. */
static void looked_up(struct dfs_fs *fs, uint64_t ino, int32_t pid)
{
	struct dfs_seen *s;

	if (!is_env_dir(ino))
		return;
	pthread_mutex_lock(&fs->seen_lock);
	for (s = fs->seen; s && s->ino != ino; s = s->next)
		;
	if (!s && (s = calloc(1, sizeof(*s)))) {
		s->ino = ino;
		s->next = fs->seen;
		fs->seen = s;
	}
	if (s) {
		s->pid = pid;
		s->at = mono_ns();
	}
	pthread_mutex_unlock(&fs->seen_lock);
}

/* Did pid just look a name up in ino?  (Once: it forgets.) */
static bool just_looked_up(struct dfs_fs *fs, uint64_t ino, int32_t pid)
{
	bool yes = false;

	pthread_mutex_lock(&fs->seen_lock);
	for (struct dfs_seen *s = fs->seen; s; s = s->next) {
		if (s->ino != ino)
			continue;
		yes = s->pid == pid && mono_ns() - s->at < 2000000000LL;
		if (yes)
			s->pid = 0;
	}
	pthread_mutex_unlock(&fs->seen_lock);
	return yes;
}

void dfs_fs_seen_free(struct dfs_fs *fs)
{
	while (fs->seen) {
		struct dfs_seen *s = fs->seen;

		fs->seen = s->next;
		free(s);
	}
}

/* May the caller search a but not write it? */
static bool search_not_write(fuse_req_t req, const struct dfs_attr *a)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	unsigned bits = a->mode & 7;
	gid_t groups[64];
	int n;

	if (ctx->uid == 0)
		return false;
	if (ctx->uid == a->uid) {
		bits = (a->mode >> 6) & 7;
	} else if (ctx->gid == a->gid) {
		bits = (a->mode >> 3) & 7;
	} else {
		n = fuse_req_getgroups(req, 64, groups);
		for (int i = 0; i < n && i < 64; i++)
			if (groups[i] == a->gid)
				bits = (a->mode >> 3) & 7;
	}
	return (bits & 1) && !(bits & 2);
}

static void note_refusal(fuse_req_t req, uint64_t ino, const struct dfs_attr *a)
{
	struct dfs_fs *fs = fs_of(req);
	struct dfs_actor actor;

	if (!search_not_write(req, a) ||
	    !just_looked_up(fs, ino, fuse_req_ctx(req)->pid))
		return;
	actor = audited_actor_of(req);
	if (dfs_env_record_denied(fs->st, &actor, ino) < 0)
		dfs_log(DFS_LOG_ERR, "could not record a refusal of ino=%llu",
			(unsigned long long)ino);
}

static struct dfs_file *file_of(struct fuse_file_info *fi)
{
	return (struct dfs_file *)(uintptr_t)fi->fh;
}

/* Refusals a user caused are not errors in the log; the rest are. */
static void reply_err(fuse_req_t req, int rc, const char *op, uint64_t ino,
		      const char *name)
{
	switch (rc) {
	case -ENOENT:
	case -EEXIST:
	case -ENOTEMPTY:
	case -ENOTDIR:
	case -EISDIR:
	case -ENAMETOOLONG:
	case -EPERM:
	case -EACCES:
	case -EROFS:
	case -EINVAL:
	case -ENODATA:
	case -ERANGE:
	case -EOPNOTSUPP:
	case -ELOOP:
	case -EXDEV:
	case -EBUSY:
	case -E2BIG:
	case -ENXIO:
		break;
	default:
		dfs_log(DFS_LOG_ERR, "%s failed: %s ino=%llu name=\"%s\"", op,
			strerror(-rc), (unsigned long long)ino,
			name ? name : "");
	}
	fuse_reply_err(req, -rc);
}

static void fill_stat(const struct dfs_attr *a, struct stat *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->st_ino = a->ino;
	sb->st_mode = a->mode;
	sb->st_nlink = a->nlink;
	sb->st_uid = a->uid;
	sb->st_gid = a->gid;
	sb->st_rdev = a->rdev;
	sb->st_size = (off_t)a->size;
	sb->st_blocks = (blkcnt_t)a->blocks;
	sb->st_blksize = 4096;
	sb->st_atim = a->atime;
	sb->st_mtim = a->mtime;
	sb->st_ctim = a->ctime;
}

/* Snapshots never change: the kernel may keep them for a day.  Package
 * folders and `latest` change behind the kernel's back: no caching. */
static double ttl_of(const struct dfs_fs *fs, const struct dfs_attr *a)
{
	if (a->flags & DFS_NODE_IMMUTABLE)
		return 86400.0;
	if (a->flags & DFS_NODE_VOLATILE)
		return 0.0;
	return fs->ttl;
}

static void fill_entry(struct dfs_fs *fs, const struct dfs_attr *a,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = 1;
	e->attr_timeout = ttl_of(fs, a);
	e->entry_timeout =
		a->flags & DFS_NODE_ENTRY_VOLATILE ? 0.0 : ttl_of(fs, a);
	fill_stat(a, &e->attr);
}

/* Reply with an entry the kernel will hold; undo the hold if it fails. */
static void reply_entry(fuse_req_t req, const struct dfs_attr *a)
{
	struct dfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;

	fill_entry(fs, a, &e);
	dfs_node_hold(fs->st, a->ino);
	if (fuse_reply_entry(req, &e) < 0)
		dfs_node_forget(fs->st, a->ino, 1);
}

static void dfs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* The kernel clears setuid/setgid on write, truncate and chown. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	conn->max_write = 1u << 20;
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

static void reply_attr(fuse_req_t req, const struct dfs_attr *a)
{
	struct stat sb;

	fill_stat(a, &sb);
	fuse_reply_attr(req, &sb, ttl_of(fs_of(req), a));
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
	struct dfs_actor actor = actor_for(req, parent);
	unsigned f = 0;
	int rc;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (flags & RENAME_NOREPLACE)
		f |= DFS_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		f |= DFS_RENAME_EXCHANGE;
	if (!dfs_ino_is_build(newparent))
		actor = actor_for(req, newparent);
	rc = dfs_node_rename_as(fs_of(req)->st, &actor, parent, name, newparent,
				newname, f);
	if (rc < 0)
		reply_err(req, rc, "rename", parent, name);
	else
		fuse_reply_err(req, 0);
}

/* ---- files --------------------------------------------------------------- */

static int open_file(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_actor actor = actor_for(req, ino);
	struct dfs_file *f;
	int rc;

	rc = dfs_file_open_as(fs_of(req)->st, &actor, ino,
			      fi->flags & (O_ACCMODE | O_TRUNC | O_APPEND), &f);
	if (rc < 0)
		return rc;
	fi->fh = (uint64_t)(uintptr_t)f;
	if (dfs_file_buffered(f)) {
		/* audit.log grows, and a copy into an environment is
		 * checked, not kept: no page cache. */
		fi->direct_io = 1;
		fi->keep_cache = 0;
	} else {
		fi->keep_cache = 1;
	}
	return 0;
}

static void dfs_op_open(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	int rc = open_file(req, ino, fi);

	if (rc < 0) {
		reply_err(req, rc, "open", ino, NULL);
		return;
	}
	if (fuse_reply_open(req, fi) < 0)
		(void)dfs_file_release(fs_of(req)->st, file_of(fi));
}

static void dfs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			  mode_t mode, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = fs_of(req);
	struct dfs_actor actor = actor_for(req, parent);
	struct fuse_entry_param e;
	struct dfs_attr a;
	int rc;

	rc = dfs_node_mknod(fs->st, &actor, parent, name, S_IFREG | mode, 0,
			    &a);
	if (rc == 0)
		rc = open_file(req, a.ino, fi);
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

static void dfs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	struct dfs_file *f = file_of(fi);
	struct dfs_fs *fs = fs_of(req);

	if (dfs_file_buffered(f)) {
		char *mem = malloc(size ? size : 1);
		ssize_t n =
			mem ? dfs_file_read(fs->st, f, mem, size, (uint64_t)off)
			    : -ENOMEM;

		if (n < 0)
			reply_err(req, (int)n, "read", ino, NULL);
		else
			fuse_reply_buf(req, mem, (size_t)n);
		free(mem);
		return;
	}
	/* The chunks of a blob it serves are checked first. */
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

static void dfs_op_write_buf(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_bufvec *in, off_t off,
			     struct fuse_file_info *fi)
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

static void dfs_op_flush(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	int rc = dfs_file_flush(fs_of(req)->st, file_of(fi));

	if (rc < 0)
		reply_err(req, rc, "flush", ino, NULL);
	else
		fuse_reply_err(req, 0);
}

static void dfs_op_release(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	(void)ino;
	(void)dfs_file_release(fs_of(req)->st, file_of(fi));
	fuse_reply_err(req, 0);
}

static void dfs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi)
{
	int rc = dfs_file_fsync(fs_of(req)->st, file_of(fi), datasync != 0);

	if (rc < 0)
		reply_err(req, rc, "fsync", ino, NULL);
	else
		fuse_reply_err(req, 0);
}

static void dfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			     off_t off, off_t len, struct fuse_file_info *fi)
{
	int rc =
		dfs_file_fallocate(fs_of(req)->st, file_of(fi), mode, off, len);

	if (rc < 0)
		reply_err(req, rc, "fallocate", ino, NULL);
	else
		fuse_reply_err(req, 0);
}

static void dfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
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
 * content moves nothing.  Anything else is the kernel's to copy
 * (EOPNOTSUPP makes it fall back to reads and writes; ENOSYS would turn
 * copy_file_range off for the whole mount).
 */
static void dfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
				   off_t off_in, struct fuse_file_info *fi_in,
				   fuse_ino_t ino_out, off_t off_out,
				   struct fuse_file_info *fi_out, size_t len,
				   int flags)
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

static void dfs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			    struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
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
