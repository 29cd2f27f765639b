// SPDX-License-Identifier: MIT
/*
 * blob.c - content blobs: XXH3-128 identities, their paths
 * (blobs/XX/HASH), durable writes in git's manner (temporary file in the
 * blob folder, write, fsync, link to the final name where EEXIST means
 * already stored, fsync the folder) and sparse-aware copies.  Checking a
 * blob file against its name is blobcheck.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef DFS_XXH_DISPATCH
#include <xxh_x86dispatch.h> /* AVX2 where the CPU has it */
#endif

#include "storage.h"

static const char hexdigits[] = "0123456789abcdef";

void dfs_hash_hex(const struct dfs_hash *h, char out[DFS_HASH_HEX])
{
	for (int i = 0; i < DFS_HASH_LEN; i++) {
		out[2 * i] = hexdigits[h->b[i] >> 4];
		out[2 * i + 1] = hexdigits[h->b[i] & 15];
	}
	out[2 * DFS_HASH_LEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int dfs_hash_parse(const char *hex, struct dfs_hash *ret)
{
	struct dfs_hash h;

	if (strlen(hex) != 2 * DFS_HASH_LEN)
		return -EINVAL;
	for (int i = 0; i < DFS_HASH_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		h.b[i] = (uint8_t)(hi << 4 | lo);
	}
	*ret = h;
	return 0;
}

static void hash_from_xxh(XXH128_hash_t x, struct dfs_hash *ret)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, x);
	memcpy(ret->b, c.digest, DFS_HASH_LEN);
}

void dfs_blob_relpath(const struct dfs_hash *h, char out[40])
{
	char hex[DFS_HASH_HEX];

	dfs_hash_hex(h, hex);
	snprintf(out, 40, "%.2s/%s", hex, hex);
}

void dfs_hash_buf(const void *data, size_t len, struct dfs_hash *ret)
{
	hash_from_xxh(XXH3_128bits(data, len), ret);
}

/* XXH3-128 of no bytes. */
const struct dfs_hash dfs_empty_hash = { { 0x99, 0xaa, 0x06, 0xd3, 0x01, 0x47,
					   0x98, 0xd8, 0x60, 0x01, 0xc3, 0x24,
					   0x46, 0x8d, 0x49, 0x7f } };

static int fsync_subdir(struct dfs_store *st, const struct dfs_hash *h)
{
	char sub[3] = { hexdigits[h->b[0] >> 4], hexdigits[h->b[0] & 15], 0 };
	int fd = openat(st->blobs_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	rc = dfs_io_fsync(fd);
	close(fd);
	return rc;
}

int dfs_blob_tmp(struct dfs_store *st, char tmp[64])
{
	for (int tries = 0;; tries++) {
		int fd;

		snprintf(tmp, 64, "tmp.%d.%d.%u", (int)getpid(), tries,
			 (unsigned)random());
		fd = openat(st->blobs_fd, tmp,
			    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST || tries > 100)
			return -errno;
	}
}

int dfs_blob_link(struct dfs_store *st, int fd, const char *tmp,
		  const struct dfs_hash *h)
{
	char path[40];
	int rc = dfs_io_fsync(fd);

	dfs_blob_relpath(h, path);
	if (rc == 0) {
		rc = dfs_io_linkat(st->blobs_fd, tmp, st->blobs_fd, path);
		if (rc == -EEXIST)
			rc = 0;
	}
	(void)unlinkat(st->blobs_fd, tmp, 0);
	return rc < 0 ? rc : fsync_subdir(st, h);
}

int dfs_blob_put(struct dfs_store *st, const void *data, size_t len,
		 struct dfs_hash *ret)
{
	char tmp[64], path[40];
	struct dfs_hash h;
	int fd, rc;

	dfs_hash_buf(data, len, &h);
	dfs_blob_relpath(&h, path);
	if (faccessat(st->blobs_fd, path, F_OK, 0) == 0)
		goto out_done;
	fd = dfs_blob_tmp(st, tmp);
	if (fd < 0)
		return fd;
	rc = dfs_io_write_all(fd, data, len);
	if (rc == 0)
		rc = dfs_blob_link(st, fd, tmp, &h);
	else
		(void)unlinkat(st->blobs_fd, tmp, 0);
	close(fd);
	if (rc < 0)
		return rc;
	/* Written and synced here (an existing file is left unchecked). */
	dfs_blob_mark_good(st, &h);
out_done:
	*ret = h;
	return 0;
}

int dfs_blob_open(struct dfs_store *st, const struct dfs_hash *h)
{
	char path[40];
	int fd;

	dfs_blob_relpath(h, path);
	fd = openat(st->blobs_fd, path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Copy [pos, end) by reading and writing (across file systems). */
static ssize_t copy_plain(int in, int out, off_t pos, off_t end)
{
	char *buf = malloc(1u << 20);
	off_t at = pos;

	if (!buf)
		return -ENOMEM;
	while (at < end) {
		size_t want =
			end - at < (1 << 20) ? (size_t)(end - at) : (1u << 20);
		ssize_t n = pread(in, buf, want, at);

		if (n <= 0 ||
		    dfs_io_write_all_at(out, buf, (size_t)n, at) < 0) {
			free(buf);
			return n < 0 ? -errno : -EIO;
		}
		at += n;
	}
	free(buf);
	return at - pos;
}

/* Copy size bytes of in to out, leaving holes where in has them. */
int dfs_copy_sparse(int in, int out, uint64_t size)
{
	off_t pos = 0;

	if (ftruncate(out, (off_t)size) < 0)
		return -errno;
	while ((uint64_t)pos < size) {
		off_t data = lseek(in, pos, SEEK_DATA), end;

		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		end = lseek(in, data, SEEK_HOLE);
		if (end < 0)
			return -errno;
		if ((uint64_t)end > size)
			end = (off_t)size;
		pos = data;
		while (pos < end) {
			loff_t ip = pos, op = pos;
			ssize_t n = copy_file_range(in, &ip, out, &op,
						    (size_t)(end - pos), 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EXDEV || errno == EINVAL ||
				      errno == EOPNOTSUPP))
				n = copy_plain(in, out, pos, end);
			if (n < 0)
				return n == -1 ? -errno : (int)n;
			if (n == 0)
				return -EIO;
			pos += n;
		}
	}
	return 0;
}
