// SPDX-License-Identifier: MIT
/*
 * file.c - open files: opening an inode's content (a build file, or a
 * snapshot's blob read-only), giving its fd to readers and writers,
 * closing (small content commits, large content goes to the sealer),
 * fsync, fallocate, SEEK_DATA/SEEK_HOLE, and copy_file_range.  A blob is
 * checked against its name before an open serves its bytes (a blob file
 * with a chunk list: each chunk before a read serves it) and before
 * copy_file_range vouches for it.  Files with ops of their own (checked
 * copies, audit.log) take their bytes through them.  Public functions
 * take st->lock themselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "content.h"

static int open_locked(struct dfs_store *st, int flags, struct dfs_oinode *oi)
{
	bool writing = (flags & O_ACCMODE) != O_RDONLY;
	struct dfs_content_row r;
	int rc;

	dfs_content_wait_sealed(st, oi);
	if (writing && oi->writers == 0)
		dfs_seal_now(st, oi);
	if (writing && (rc = dfs_content_keep_last_closed(st, oi)) < 0)
		return rc;
	rc = dfs_content_row(st, oi, &r);
	if (rc < 0)
		return rc;
	if (S_ISDIR(r.mode))
		return -EISDIR;
	if (!S_ISREG(r.mode))
		return -EINVAL;
	if (writing && (r.flags & DFS_NODE_READONLY))
		return -EROFS;
	if (writing && !r.work && !oi->is_mem)
		rc = dfs_content_make_work(st, oi, &r, !(flags & O_TRUNC));
	else
		rc = dfs_content_fd(st, oi, &r);
	if (rc == 0 && writing && (flags & O_TRUNC)) {
		if ((r.work || oi->is_mem) && ftruncate(oi->fd, 0) < 0)
			return -errno;
		oi->mem_dirty = oi->is_mem;
		dfs_content_modified(oi);
	}
	return rc;
}

/*
 * The blob whose bytes this open is about to serve, checked against its
 * name first.  A large blob file is hashed with st->lock let go (oi is
 * held by its open); small or inline content, a missing file and a row
 * that changes meanwhile are left to dfs_content_fd(), which checks what
 * it opens under the lock.  A blob of the registry not here yet is
 * fetched first (model/regfetch.c).  A blob file with a chunk list opened for
 * reading is not read here: dfs_content_fd() checks its size, and each
 * read the chunks it serves (dfs_file_fd_get_range).  Opened for writing
 * without O_TRUNC, its bytes are copied whole: checked whole first.
 */
static int check_first(struct dfs_store *st, struct dfs_oinode *oi, int flags)
{
	bool writing = (flags & O_ACCMODE) != O_RDONLY;
	struct dfs_content_row r;
	struct dfs_hash h;
	int rc;

	if ((oi->fd >= 0 && !writing) || oi->sealing ||
	    (writing && (flags & O_TRUNC)))
		return 0;
	if (dfs_content_row(st, oi, &r) < 0 || r.work || !S_ISREG(r.mode) ||
	    r.size <= DFS_INLINE_MAX)
		return 0;
	h = r.has_blob ? r.blob : dfs_empty_hash;
	if (dfs_blob_is_good(st, &h) || (!writing && dfs_chunks_exist(st, &h)))
		return 0;
	pthread_mutex_unlock(&st->lock);
	rc = dfs_blob_check_fetch(st, &h, r.size);
	pthread_mutex_lock(&st->lock);
	if (rc == -EHOSTDOWN) /* a file never fetched: EIO, not a hang */
		rc = -EIO;
	return rc == -ENOENT ? 0 : rc;
}

/*
 * A read-only open of a snapshot's file: read by the kernel from its
 * content's fd (passthrough) when that fd holds bytes found good (no
 * chunk list left to check as they are read) and no open of the inode is
 * read through us; the kernel refuses to mix the two on one inode, and
 * every passthrough open of it must name the same backing.  Else counted
 * as read through us.
 */
static void open_backing(struct dfs_store *st, struct dfs_oinode *oi,
			 struct dfs_file *f)
{
	struct dfs_content *c = st->content;
	int id;

	if (oi->backing_id == 0) {
		if (c->backing.open)
			dfs_oinode_settle_reads(st, oi);
		if (!c->backing.open || oi->cached_opens || oi->fd < 0 ||
		    oi->chunks) {
			oi->cached_opens++;
			return;
		}
		id = c->backing.open(c->backing.ctx, oi->fd);
		if (id <= 0) {
			oi->cached_opens++;
			return;
		}
		oi->backing_id = id;
	}
	oi->backing_opens++;
	f->backing = oi->backing_id;
}

static void close_backing(struct dfs_store *st, struct dfs_oinode *oi,
			  struct dfs_file *f)
{
	struct dfs_content *c = st->content;

	if (!f->backing) {
		if (oi->snap && oi->cached_opens) {
			oi->cached_opens--;
			if (f->flushed && oi->cached_closed)
				oi->cached_closed--;
			pthread_cond_broadcast(&c->released);
		}
		return;
	}
	if (--oi->backing_opens > 0)
		return;
	if (c->backing.close)
		c->backing.close(c->backing.ctx, oi->backing_id);
	oi->backing_id = 0;
}

void dfs_store_set_backing(struct dfs_store *st, const struct dfs_backing *b)
{
	pthread_mutex_lock(&st->lock);
	if (b)
		st->content->backing = *b;
	else
		memset(&st->content->backing, 0, sizeof(*b));
	pthread_mutex_unlock(&st->lock);
}

int dfs_file_backing(const struct dfs_file *f)
{
	return f->backing;
}

bool dfs_file_holds_back_passthrough(const struct dfs_file *f)
{
	return f->oi && f->oi->snap && !f->backing &&
	       (f->flags & O_ACCMODE) == O_RDONLY;
}

static void files_add(struct dfs_store *st, struct dfs_file *f)
{
	struct dfs_content *c = st->content;

	pthread_mutex_lock(&c->files_lock);
	f->prev = NULL;
	f->next = c->files;
	if (c->files)
		c->files->prev = f;
	c->files = f;
	pthread_mutex_unlock(&c->files_lock);
}

static void files_remove(struct dfs_store *st, struct dfs_file *f)
{
	struct dfs_content *c = st->content;

	pthread_mutex_lock(&c->files_lock);
	if (f->prev)
		f->prev->next = f->next;
	else
		c->files = f->next;
	if (f->next)
		f->next->prev = f->prev;
	pthread_mutex_unlock(&c->files_lock);
}

int dfs_content_open(struct dfs_store *st, uint64_t ino, int flags,
		     const struct dfs_blob_src *src, struct dfs_file **ret)
{
	struct dfs_file *f = calloc(1, sizeof(*f));
	struct dfs_oinode *oi;
	int rc;

	if (!f)
		return -ENOMEM;
	pthread_mutex_lock(&st->lock);
	oi = dfs_oinode_get(st, ino);
	if (src) {
		oi->snap = true;
		oi->blob = src->hash;
		oi->size = src->size;
	}
	oi->opens++;
	rc = check_first(st, oi, flags);
	if (rc == 0)
		rc = open_locked(st, flags, oi);
	if (rc < 0) {
		oi->opens--;
		dfs_oinode_maybe_free(st, oi);
		pthread_mutex_unlock(&st->lock);
		free(f);
		return rc;
	}
	if ((flags & O_ACCMODE) != O_RDONLY)
		oi->writers++;
	else if (oi->snap)
		open_backing(st, oi, f);
	f->oi = oi;
	f->ino = ino;
	f->flags = flags;
	atomic_init(&f->refs, 1);
	pthread_mutex_unlock(&st->lock);
	files_add(st, f);
	*ret = f;
	return 0;
}

struct dfs_file *dfs_file_new(struct dfs_store *st,
			      const struct dfs_file_ops *ops, uint64_t ino,
			      int flags, struct dfs_verify *v)
{
	struct dfs_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->ops = ops;
	f->ino = ino;
	f->flags = flags;
	f->v = v;
	atomic_init(&f->refs, 1);
	files_add(st, f);
	return f;
}

/* Commit small content and times in one transaction (st->lock held). */
static int commit_file(struct dfs_store *st, struct dfs_oinode *oi,
		       bool durable)
{
	int rc = dfs_db_begin(st);

	if (rc < 0)
		return rc;
	rc = dfs_mem_commit(st, oi);
	if (rc == 0)
		rc = dfs_content_persist_times(st, oi->ino);
	if (rc == 0)
		return durable ? dfs_db_commit(st, true)
			       : dfs_db_commit_logged(st);
	dfs_db_rollback(st);
	return rc;
}

static int file_put(struct dfs_store *st, struct dfs_file *f)
{
	struct dfs_oinode *oi = f->oi;
	bool writer = (f->flags & O_ACCMODE) != O_RDONLY;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	if (oi->mem_dirty && writer && oi->writers == 1)
		rc = commit_file(st, oi, false);
	if (oi->dirty_times)
		rc = dfs_content_persist_times(st, oi->ino);
	close_backing(st, oi, f);
	oi->opens--;
	if (writer && f->flushed)
		oi->flushed--;
	if (writer && --oi->writers == 0 && oi->is_work)
		dfs_seal_enqueue(st, oi);
	dfs_content_reap(st, oi->ino);
	dfs_oinode_maybe_free(st, oi);
	pthread_mutex_unlock(&st->lock);
	free(f);
	return rc;
}

static int file_unref(struct dfs_store *st, struct dfs_file *f)
{
	if (atomic_fetch_sub(&f->refs, 1) != 1)
		return 0;
	files_remove(st, f);
	if (f->ops) {
		f->ops->release(st, f);
		return 0;
	}
	return file_put(st, f);
}

int dfs_file_release(struct dfs_store *st, struct dfs_file *f)
{
	return file_unref(st, f);
}

void dfs_files_release_all(struct dfs_store *st)
{
	unsigned n = 0;

	for (;;) {
		struct dfs_file *f;

		pthread_mutex_lock(&st->content->files_lock);
		f = st->content->files;
		pthread_mutex_unlock(&st->content->files_lock);
		if (!f)
			break;
		/* No request runs any more: no fd is in use. */
		atomic_store(&f->refs, 1);
		(void)file_unref(st, f);
		n++;
	}
	if (n)
		dfs_log(DFS_LOG_INFO,
			"released %u file(s) the kernel left open at unmount",
			n);
}

uint64_t dfs_file_ino(const struct dfs_file *f)
{
	return f->ino;
}

int dfs_file_fd_get(struct dfs_file *f)
{
	atomic_fetch_add(&f->refs, 1);
	if (!f->oi)
		return f->v ? f->v->fd : -1;
	pthread_rwlock_rdlock(&f->oi->fdlock);
	return f->oi->fd;
}

int dfs_file_write_fd(struct dfs_store *st, struct dfs_file *f)
{
	/* A full disk keeps its last room for what frees space. */
	if (f->oi && dfs_reserve_spent(st))
		return -ENOSPC;
	return dfs_file_fd_get(f);
}

int dfs_file_fd_get_range(struct dfs_store *st, struct dfs_file *f,
			  uint64_t off, size_t n)
{
	int fd = dfs_file_fd_get(f), rc;

	/* fdlock held shared: oi->fd and oi->chunks stay as they are. */
	if (!f->oi || !f->oi->chunks)
		return fd;
	rc = dfs_chunks_check(st, f->oi->chunks, fd, off, n);
	if (rc < 0) {
		dfs_file_fd_put(st, f, false, 0);
		return rc;
	}
	return fd;
}

ssize_t dfs_file_read_mem(struct dfs_store *st, struct dfs_file *f,
			  uint64_t off, size_t n, bool always, char **ret)
{
	bool first = f->oi && f->oi->chunks &&
		     !dfs_blob_is_good(st, &f->oi->chunks->blob);
	ssize_t got = -EAGAIN;
	char *buf;
	int fd;

	*ret = NULL;
	if (!first && !always)
		return -EAGAIN;
	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	fd = dfs_file_fd_get(f);
	/* fdlock held shared: oi->fd and oi->chunks stay as they are. */
	if (first && f->oi->chunks)
		got = dfs_chunks_read(st, f->oi->chunks, fd, buf, off, n);
	dfs_file_fd_put(st, f, false, 0);
	if (got == -EAGAIN && always) {
		fd = dfs_file_fd_get_range(st, f, off, n);
		got = fd < 0 ? fd : pread(fd, buf, n, (off_t)off);
		if (got < 0 && fd >= 0)
			got = -errno;
		if (fd >= 0)
			dfs_file_fd_put(st, f, false, 0);
	}
	if (got < 0)
		free(buf);
	else
		*ret = buf;
	return got;
}

void dfs_file_fd_put(struct dfs_store *st, struct dfs_file *f, bool wrote,
		     uint64_t end)
{
	if (!f->oi) {
		(void)file_unref(st, f);
		return;
	}
	pthread_rwlock_unlock(&f->oi->fdlock);
	if (wrote) {
		pthread_mutex_lock(&st->lock);
		if (f->flushed) {
			f->flushed = false;
			f->oi->flushed--;
		}
		dfs_content_modified(f->oi);
		if (f->oi->is_mem) {
			f->oi->mem_dirty = true;
			if (end > DFS_INLINE_MAX)
				(void)dfs_mem_spill(st, f->oi);
		}
		pthread_mutex_unlock(&st->lock);
	}
	(void)file_unref(st, f);
}

int dfs_file_flush(struct dfs_store *st, struct dfs_file *f)
{
	int rc = 0;

	if (f->ops)
		return f->ops->flush ? f->ops->flush(st, f) : 0;
	pthread_mutex_lock(&st->lock);
	if (!f->flushed && (f->flags & O_ACCMODE) != O_RDONLY) {
		f->flushed = true;
		f->oi->flushed++;
	} else if (!f->flushed && dfs_file_holds_back_passthrough(f)) {
		f->flushed = true; /* its RELEASE is on its way */
		f->oi->cached_closed++;
	}
	if (f->oi->mem_dirty || f->oi->dirty_times)
		rc = commit_file(st, f->oi, false);
	/* Calls answered on it (fchmod, fsetxattr, ...) a commit undid. */
	if (rc == 0)
		rc = dfs_db_settle(st, f->ino);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int dfs_file_fsync(struct dfs_store *st, struct dfs_file *f, bool datasync)
{
	int fd, rc = 0;

	if (!f->oi)
		return 0; /* nothing is stored; close says whether it fits */
	fd = dfs_file_fd_get(f);
	if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
		rc = -errno;
	dfs_file_fd_put(st, f, false, 0);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&st->lock);
	rc = commit_file(st, f->oi, true);
	if (rc == 0)
		rc = dfs_db_settle(st, f->ino);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* The modes served at every size: allocation, punch hole, zero range.
 * (Collapse and insert never come: the kernel's FUSE refuses them.) */
#define SERVED_MODES \
	(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)

static int check_mode(int mode, off_t off, off_t len)
{
	if (mode & ~SERVED_MODES)
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) &&
	    (!(mode & FALLOC_FL_KEEP_SIZE) || (mode & FALLOC_FL_ZERO_RANGE)))
		return -EOPNOTSUPP; /* as vfs_fallocate() answers */
	if (off < 0 || len <= 0)
		return -EINVAL;
	if (off > INT64_MAX - len)
		return -EFBIG;
	return 0;
}

static int fallocate_fd(struct dfs_oinode *oi, int fd, int mode, off_t off,
			off_t len)
{
	if (oi->is_mem)
		return dfs_mem_fallocate(fd, mode, off, len);
	if (fallocate(fd, mode, off, len) == 0)
		return 0;
	if (errno == EOPNOTSUPP && (mode & FALLOC_FL_ZERO_RANGE))
		return dfs_zero_range(fd, mode, off, len);
	return -errno;
}

/*
 * Every mode served changes the times, as ext4 does (allocation too), and
 * marks small content changed, so close commits it.  Small content that
 * would grow past DFS_INLINE_MAX goes to a work file first.
 */
int dfs_file_fallocate(struct dfs_store *st, struct dfs_file *f, int mode,
		       off_t off, off_t len)
{
	bool grows = !(mode & FALLOC_FL_KEEP_SIZE);
	int fd, rc;

	if (!f->oi)
		return -EOPNOTSUPP;
	rc = check_mode(mode, off, len);
	if (rc < 0)
		return rc;
	if (!(mode & FALLOC_FL_PUNCH_HOLE) && dfs_reserve_spent(st))
		return -ENOSPC;
	if (grows && off + len > DFS_INLINE_MAX) {
		pthread_mutex_lock(&st->lock);
		if (f->oi->is_mem)
			rc = dfs_mem_spill(st, f->oi);
		pthread_mutex_unlock(&st->lock);
		if (rc < 0)
			return rc;
	}
	fd = dfs_file_fd_get(f);
	if (!f->oi->is_work && !f->oi->is_mem)
		rc = -EBADF;
	else
		rc = fallocate_fd(f->oi, fd, mode, off, len);
	dfs_file_fd_put(st, f, rc == 0, grows ? (uint64_t)(off + len) : 0);
	return rc;
}

int dfs_file_lseek(struct dfs_file *f, off_t off, int whence, off_t *ret)
{
	int fd, rc = 0;
	off_t pos;

	if (!f->oi)
		return -EOPNOTSUPP; /* no holes: the kernel's answer */
	fd = dfs_file_fd_get(f);
	pos = lseek(fd, off, whence);
	if (pos < 0)
		rc = -errno;
	pthread_rwlock_unlock(&f->oi->fdlock);
	atomic_fetch_sub(&f->refs, 1); /* the open's own ref remains */
	if (rc == 0)
		*ret = pos;
	return rc;
}

/* ---- files without an fd of their own ------------------------------------- */

bool dfs_file_buffered(const struct dfs_file *f)
{
	return f->ops != NULL;
}

bool dfs_file_direct(const struct dfs_file *f)
{
	return f->oi && !f->ops && !f->v && !f->oi->snap &&
	       (f->flags & O_ACCMODE) == O_WRONLY;
}

ssize_t dfs_file_write(struct dfs_store *st, struct dfs_file *f,
		       const void *buf, size_t n, uint64_t off)
{
	if (!f->ops || !f->ops->write)
		return -EBADF;
	return f->ops->write(st, f, buf, n, off);
}

ssize_t dfs_file_read(struct dfs_store *st, struct dfs_file *f, void *buf,
		      size_t n, uint64_t off)
{
	if (!f->ops || !f->ops->read)
		return -EBADF;
	return f->ops->read(st, f, buf, n, off);
}
