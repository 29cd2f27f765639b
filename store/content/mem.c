// SPDX-License-Identifier: MIT
/*
 * mem.c - small content (up to DFS_INLINE_MAX bytes) lives in the
 * database, not in a file of its own: a blob_data row beside its blobs
 * row (apart, so walks over blobs rows stay small).
 * While such a file is open its bytes are in a memfd (an fd, so reads
 * splice and writes land as for any other file, with no inode created on
 * the store's disk); closing it (flush) commits the bytes and the inode's
 * new blob in one transaction.  A memfd that grows past DFS_INLINE_MAX is
 * spilled to a work file and sealed like any large file.  tmpfs has no
 * FALLOC_FL_ZERO_RANGE: a memfd gets it as a punched hole and a new size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "content.h"

static int new_memfd(void)
{
	int fd = memfd_create("deployfs", MFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int dfs_mem_new(struct dfs_store *st, struct dfs_oinode *oi)
{
	int fd = new_memfd();

	(void)st;
	if (fd < 0)
		return fd;
	pthread_rwlock_wrlock(&oi->fdlock);
	dfs_oinode_close_fd(oi);
	oi->fd = fd;
	oi->is_mem = true;
	oi->is_work = false;
	oi->mem_dirty = false;
	pthread_rwlock_unlock(&oi->fdlock);
	return 0;
}

/*
 * Commit the bytes of oi's memfd as its blob (statements only: the caller
 * holds a transaction).  st->lock held.
 */
int dfs_mem_commit(struct dfs_store *st, struct dfs_oinode *oi)
{
	XXH128_canonical_t c;
	struct dfs_hash h;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (!oi->is_mem || !oi->mem_dirty)
		return 0;
	pthread_rwlock_rdlock(&oi->fdlock);
	rc = dfs_read_whole(oi->fd, &buf, &len);
	pthread_rwlock_unlock(&oi->fdlock);
	if (rc < 0)
		return rc;
	XXH128_canonicalFromHash(&c, XXH3_128bits(buf, len));
	memcpy(h.b, c.digest, DFS_HASH_LEN);
	rc = dfs_inline_put(st, &h, buf, len);
	if (rc == 0)
		rc = dfs_inode_point(st, oi->ino, &h, len);
	free(buf);
	if (rc == 0)
		oi->mem_dirty = false;
	return rc;
}

/* Move oi's content from its memfd to a work file.  st->lock held. */
int dfs_mem_spill(struct dfs_store *st, struct dfs_oinode *oi)
{
	struct stat sb;
	char name[32];
	size_t len = 0;
	int fd, rc = 0;

	pthread_rwlock_wrlock(&oi->fdlock);
	if (!oi->is_mem) {
		pthread_rwlock_unlock(&oi->fdlock);
		return 0;
	}
	if (fstat(oi->fd, &sb) < 0)
		rc = -errno;
	len = (size_t)sb.st_size;
	dfs_work_name(oi->ino, name);
	fd = rc < 0 ? rc
		    : openat(st->work_fd, name,
			     O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (rc == 0 && fd < 0)
		rc = -errno;
	if (rc == 0)
		rc = dfs_copy_sparse(oi->fd, fd, len);
	if (rc == 0)
		rc = dfs_inode_set_work(st, oi->ino, len);
	if (rc == 0) {
		dfs_oinode_close_fd(oi);
		oi->fd = fd;
		oi->is_mem = false;
		oi->mem_dirty = false;
		oi->is_work = true;
	} else if (fd >= 0) {
		close(fd);
		(void)unlinkat(st->work_fd, name, 0);
	}
	pthread_rwlock_unlock(&oi->fdlock);
	return rc;
}

int dfs_zero_range(int fd, int mode, off_t off, off_t len)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return -errno;
	if (off < sb.st_size &&
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
		      len < sb.st_size - off ? len : sb.st_size - off) < 0)
		return -errno;
	if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > sb.st_size &&
	    ftruncate(fd, off + len) < 0)
		return -errno;
	return 0;
}

int dfs_mem_fallocate(int fd, int mode, off_t off, off_t len)
{
	struct stat sb;

	if (mode & FALLOC_FL_ZERO_RANGE)
		return dfs_zero_range(fd, mode, off, len);
	if (mode == FALLOC_FL_KEEP_SIZE) {
		/* Memory past the end would never be content: none kept. */
		if (fstat(fd, &sb) < 0)
			return -errno;
		if (off >= sb.st_size)
			return 0;
		if (len > sb.st_size - off)
			len = sb.st_size - off;
	}
	return fallocate(fd, mode, off, len) < 0 ? -errno : 0;
}
