// SPDX-License-Identifier: MIT
/*
 * work.c - where a file's bytes are while it is open.  A regular file's
 * saved content is blob = HASH (immutable, shared by every file and
 * snapshot with the same bytes).  While it is being written, work = 1 and
 * its current bytes are the private file work/INO, written in place, or,
 * for small content, a memfd (mem.c).  Opening a sealed file for writing
 * makes the work copy: empty for O_TRUNC (the common case: editors, cp,
 * tar), else by a sparse-aware in-kernel copy of the blob.  st->lock
 * held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "content.h"

int dfs_content_row(struct dfs_store *st, struct dfs_oinode *oi,
		    struct dfs_content_row *ret)
{
	struct dfs_content_row r = { 0 };

	if (!oi->snap)
		return dfs_inode_content(st, oi->ino, ret);
	r.mode = S_IFREG | 0444;
	r.nlink = 1;
	r.size = oi->size;
	r.has_blob = true;
	r.blob = oi->blob;
	r.flags = DFS_NODE_READONLY;
	*ret = r;
	return 0;
}

/* Make sure oi->fd is open on the current content. */
int dfs_content_fd(struct dfs_store *st, struct dfs_oinode *oi,
		   const struct dfs_content_row *r)
{
	struct dfs_chunks *chunks = NULL;
	char name[40];
	int fd;

	if (oi->fd >= 0)
		return 0;
	if (r->work) {
		dfs_work_name(oi->ino, name);
		fd = openat(st->work_fd, name, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	} else {
		/* Its saved content, checked against its name: now, or
		 * chunk by chunk as it is read (oi->chunks). */
		int rc = dfs_blob_open_served(
			st, r->has_blob ? &r->blob : &dfs_empty_hash, r->size,
			&fd, &chunks);

		if (rc < 0)
			return rc;
	}
	oi->fd = fd;
	oi->chunks = chunks;
	oi->is_work = r->work;
	oi->is_mem = false; /* a read-only copy until written */
	oi->mem_dirty = false;
	return 0;
}

/* oi->fd open on the current content, every byte of it checked: its
 * bytes are about to be copied whole. */
static int content_fd_whole(struct dfs_store *st, struct dfs_oinode *oi,
			    const struct dfs_content_row *r)
{
	int rc = dfs_content_fd(st, oi, r);

	if (rc == 0 && oi->chunks)
		rc = dfs_chunks_check(st, oi->chunks, oi->fd, 0, r->size);
	return rc;
}

/*
 * Turn a blob-backed file into a work file holding its bytes (keep) or
 * nothing.  The inode keeps its blob, the last saved content, until the
 * work file is sealed: a snapshot taken meanwhile takes the saved bytes.
 * Called with st->lock held and no writers.
 */
int dfs_content_make_work(struct dfs_store *st, struct dfs_oinode *oi,
			  const struct dfs_content_row *r, bool keep)
{
	char name[32];
	int fd, rc = 0;

	if (!(st->flags & DFS_OPEN_NO_INLINE) &&
	    (!keep || r->size <= DFS_INLINE_MAX)) {
		/* Small: write in memory, commit to the database on close. */
		int src = -1;

		if (keep && r->size > 0) {
			rc = content_fd_whole(st, oi, r);
			if (rc < 0)
				return rc;
			src = dup(oi->fd);
			if (src < 0)
				return -errno;
		}
		rc = dfs_mem_new(st, oi);
		if (rc == 0 && src >= 0)
			rc = dfs_copy_sparse(src, oi->fd, r->size) < 0 ? -EIO
								       : 0;
		if (src >= 0)
			close(src);
		return rc;
	}
	dfs_work_name(oi->ino, name);
	fd = openat(st->work_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	if (keep && r->size > 0) {
		rc = content_fd_whole(st, oi, r);
		if (rc == 0)
			rc = dfs_copy_sparse(oi->fd, fd, r->size);
	}
	if (rc == 0)
		rc = dfs_inode_set_work(st, oi->ino, keep ? r->size : 0);
	if (rc < 0) {
		close(fd);
		(void)unlinkat(st->work_fd, name, 0);
		return rc;
	}
	pthread_rwlock_wrlock(&oi->fdlock);
	dfs_oinode_close_fd(oi);
	oi->fd = fd;
	oi->is_work = true;
	pthread_rwlock_unlock(&oi->fdlock);
	return 0;
}

/* Wait until the sealer is done with oi.  Never call inside a
 * transaction: waiting lets go of st->lock. */
void dfs_content_wait_sealed(struct dfs_store *st, struct dfs_oinode *oi)
{
	while (oi->sealing)
		pthread_cond_wait(&st->content->seal_done, &st->lock);
}

void dfs_content_modified(struct dfs_oinode *oi)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	oi->mtime = now;
	oi->ctime = now;
	oi->dirty_times = true;
}

/* Called with st->lock held, inside a transaction (setattr). */
int dfs_content_truncate(struct dfs_store *st, uint64_t ino, uint64_t size)
{
	struct dfs_oinode *oi = dfs_oinode_get(st, ino);
	struct dfs_content_row r;
	int rc;

	if (oi->sealing)
		return -EAGAIN; /* the caller waits before its transaction */
	rc = dfs_content_row(st, oi, &r);
	if (rc == 0 && !r.work && !oi->is_mem)
		rc = dfs_content_make_work(st, oi, &r, size > 0);
	else if (rc == 0)
		rc = dfs_content_fd(st, oi, &r);
	if (rc == 0 && oi->is_mem && size > DFS_INLINE_MAX)
		rc = dfs_mem_spill(st, oi);
	if (rc == 0) {
		pthread_rwlock_rdlock(&oi->fdlock);
		if (ftruncate(oi->fd, (off_t)size) < 0)
			rc = -errno;
		pthread_rwlock_unlock(&oi->fdlock);
	}
	if (rc == 0 && oi->is_mem) {
		oi->mem_dirty = true;
		if (oi->writers == 0)
			rc = dfs_mem_commit(st, oi);
	}
	if (rc == 0 && oi->dirty_times)
		oi->dirty_times = false; /* setattr writes the times */
	return rc;
}

int dfs_content_hash(struct dfs_store *st, uint64_t ino, struct dfs_hash *ret)
{
	struct dfs_content_row r;
	int rc;

	rc = dfs_inode_content(st, ino, &r);
	if (rc == 0 && !S_ISREG(r.mode))
		rc = -EINVAL;
	else if (rc == 0 && r.work)
		rc = -EAGAIN;
	else if (rc == 0)
		*ret = r.has_blob ? r.blob : dfs_empty_hash;
	return rc;
}

struct dfs_oinode *dfs_content_pin(struct dfs_store *st, uint64_t ino)
{
	struct dfs_oinode *oi = dfs_oinode_get(st, ino);

	oi->opens++;
	dfs_content_wait_sealed(st, oi);
	return oi;
}

void dfs_content_unpin(struct dfs_store *st, struct dfs_oinode *oi)
{
	oi->opens--;
	if (oi->writers == 0 && oi->is_work)
		dfs_seal_enqueue(st, oi);
	dfs_oinode_maybe_free(st, oi);
}

/*
 * A work file every writer has closed (FLUSH) but whose RELEASE has not
 * come yet (the kernel sends it after answering close(), and not while a
 * forked child holds the open file), opened for writing again: the
 * sealer has not made its content as last closed a blob, so make one now
 * and name it in the inode's row, as the sealer would have.  A package
 * taken while the file is rewritten takes that, not none.  (st->lock
 * held; the sealer seals the file as usual at its last RELEASE.)
 */
int dfs_content_keep_last_closed(struct dfs_store *st, struct dfs_oinode *oi)
{
	struct dfs_hash h;
	struct stat sb;
	int rc;

	if (!oi->is_work || oi->writers == 0 || oi->flushed < oi->writers)
		return 0;
	if (fstat(oi->fd, &sb) < 0)
		return -errno;
	rc = dfs_db_begin(st);
	if (rc == 0)
		rc = dfs_blob_put_fd(st, oi->fd, (uint64_t)sb.st_size, &h);
	if (rc == 0)
		rc = dfs_inode_keep_blob(st, oi->ino, &h);
	rc = dfs_finish(st, rc);
	if (rc < 0)
		dfs_log(DFS_LOG_ERR,
			"inode %llu: keeping its content as last closed "
			"before it is rewritten: %s",
			(unsigned long long)oi->ino, strerror(-rc));
	return rc;
}
