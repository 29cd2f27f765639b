// SPDX-License-Identifier: MIT
/*
 * copy.c - copy_file_range.  Into an environment, a source with the
 * package's content moves nothing (the copy is checked against the
 * package, not stored); into a stored file it is read and written here,
 * as a WRITE would be.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "content.h"

/*
 * The content identity of what in reads: its blob, when it has one and
 * no writer is changing it.
 */
static bool source_hash(struct dfs_store *st, struct dfs_file *in,
			struct dfs_hash *ret)
{
	struct dfs_content_row r;
	bool ok = false;

	if (in->v) {
		*ret = in->v->hash;
		return in->v->known;
	}
	if (!in->oi)
		return false;
	pthread_mutex_lock(&st->lock);
	if (in->oi->writers == 0 && !in->oi->mem_dirty &&
	    dfs_content_row(st, in->oi, &r) == 0 && r.has_blob && !r.work) {
		*ret = r.blob;
		ok = true;
	}
	pthread_mutex_unlock(&st->lock);
	return ok;
}

/* Up to a MiB of what in reads at off, into a new buffer (*ret). */
static ssize_t read_some(struct dfs_store *st, struct dfs_file *in,
			 uint64_t off, size_t len, char **ret)
{
	char *buf;
	ssize_t n;

	if (len > (1u << 20))
		len = 1u << 20;
	if (!dfs_file_buffered(in))
		return dfs_file_read_mem(st, in, off, len, true, ret);
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	n = dfs_file_read(st, in, buf, len, off);
	if (n < 0) {
		free(buf);
		return n;
	}
	*ret = buf;
	return n;
}

/*
 * Into a stored file open for writing (build/, an extension): the bytes
 * are read from in and written as a WRITE writes them.  The same as the
 * kernel's fallback to reads and writes, in one round trip instead of
 * two (and without the security.capability probe of the WRITE).
 */
static ssize_t copy_into(struct dfs_store *st, struct dfs_file *in,
			 uint64_t off_in, struct dfs_file *out,
			 uint64_t off_out, size_t len)
{
	char *buf = NULL;
	ssize_t n = read_some(st, in, off_in, len, &buf);
	int fd;

	if (n <= 0) {
		free(buf);
		return n;
	}
	fd = dfs_file_write_fd(st, out);
	if (fd == -ENOSPC) {
		free(buf);
		return -ENOSPC;
	}
	n = fd < 0 ? -EBADF : pwrite(fd, buf, (size_t)n, (off_t)off_out);
	if (n < 0 && fd >= 0)
		n = -errno;
	dfs_file_fd_put(st, out, n > 0, n > 0 ? off_out + (uint64_t)n : 0);
	free(buf);
	return n;
}

ssize_t dfs_file_copy_range(struct dfs_store *st, struct dfs_file *in,
			    uint64_t off_in, struct dfs_file *out,
			    uint64_t off_out, size_t len)
{
	struct dfs_verify *v = out->v;
	struct dfs_hash h;
	char *buf = NULL;
	ssize_t n;

	if ((out->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (!v)
		return out->ops ? -EOPNOTSUPP
				: copy_into(st, in, off_in, out, off_out, len);
	if (v->known && off_in == off_out && source_hash(st, in, &h) &&
	    memcmp(h.b, v->hash.b, DFS_HASH_LEN) == 0 &&
	    dfs_blob_is_good(st, &h)) {
		/* The same content, found good: nothing to read or move. */
		uint64_t end = off_in + len;

		if (end > v->want || end < off_in)
			end = v->want;
		n = off_in >= end ? 0 : (ssize_t)(end - off_in);
		pthread_mutex_lock(&st->lock);
		if (n > 0 && dfs_verify_cover(v, off_out, (uint64_t)n) < 0)
			n = -ENOMEM;
		pthread_mutex_unlock(&st->lock);
		return n;
	}
	/* Anything else: read it and compare, a MiB at a time. */
	n = read_some(st, in, off_in, len, &buf);
	if (n > 0)
		n = dfs_verify_write(st, v, buf, (size_t)n, off_out);
	free(buf);
	return n;
}
