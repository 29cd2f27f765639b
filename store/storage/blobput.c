// SPDX-License-Identifier: MIT
/*
 * blobput.c - content that arrives whole from outside the mount (deployctl
 * import) made a blob inside the caller's transaction: small content as a
 * row with its bytes, larger content as a blob file written, synced and
 * linked to its name (git's way: temp file, fsync, link, EEXIST = already
 * stored, fsync the folder) before the row and chunk list that name it.
 * The caller's rows therefore never name a blob that is not on disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage.h"

#define READ_CAP (1u << 20)

static int read_small(int fd, size_t size, char **ret)
{
	char *buf = malloc(size ? size : 1);
	size_t got = 0;

	if (!buf)
		return -ENOMEM;
	while (got < size) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t)got);

		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EIO;
		}
		got += (size_t)n;
	}
	*ret = buf;
	return 0;
}

/* Copy size bytes of fd into a new blob file named h. */
static int write_file(struct dfs_store *st, int fd, uint64_t size,
		      const struct dfs_hash *h)
{
	char tmp[64], *buf = malloc(READ_CAP);
	uint64_t at = 0;
	int out, rc = 0;

	if (!buf)
		return -ENOMEM;
	out = dfs_blob_tmp(st, tmp);
	if (out < 0) {
		free(buf);
		return out;
	}
	while (rc == 0 && at < size) {
		size_t want =
			size - at < READ_CAP ? (size_t)(size - at) : READ_CAP;
		ssize_t n = pread(fd, buf, want, (off_t)at);

		if (n <= 0)
			rc = n < 0 ? -errno : -EIO;
		else
			rc = dfs_io_write_all(out, buf, (size_t)n);
		at += n > 0 ? (uint64_t)n : 0;
	}
	free(buf);
	if (rc == 0)
		rc = dfs_blob_link(st, out, tmp, h);
	else
		(void)unlinkat(st->blobs_fd, tmp, 0);
	close(out);
	return rc;
}

int dfs_blob_put_fd(struct dfs_store *st, int fd, uint64_t size,
		    struct dfs_hash *ret)
{
	struct dfs_chunks *chunks = NULL;
	struct dfs_hash h;
	char path[40], *buf = NULL;
	int rc;

	if (size <= DFS_INLINE_MAX) {
		rc = read_small(fd, (size_t)size, &buf);
		if (rc < 0)
			return rc;
		dfs_hash_buf(buf, (size_t)size, &h);
		rc = dfs_inline_put(st, &h, buf, (size_t)size);
		free(buf);
		if (rc == 0)
			*ret = h;
		return rc;
	}
	rc = dfs_hash_fd_chunked(fd, &h, &chunks);
	if (rc < 0)
		return rc;
	dfs_blob_relpath(&h, path);
	if (faccessat(st->blobs_fd, path, F_OK, 0) != 0)
		rc = write_file(st, fd, size, &h);
	if (rc == 0)
		rc = dfs_blob_row_add(st, &h, size);
	if (rc == 0 && chunks)
		rc = dfs_chunks_put(st, chunks);
	free(chunks);
	if (rc == 0)
		*ret = h;
	return rc;
}

static const char sql_remote_add[] =
	"INSERT OR IGNORE INTO blob_remote (hash) VALUES (?1)";
static const char sql_remote[] = "SELECT 1 FROM blob_remote WHERE hash = ?1";

int dfs_blob_remote_add(struct dfs_store *st, const struct dfs_hash *h,
			uint64_t size)
{
	char path[40];
	int rc = dfs_blob_row_add(st, h, size);

	dfs_blob_relpath(h, path);
	if (rc == 0 && faccessat(st->blobs_fd, path, F_OK, 0) != 0)
		rc = dfs_exec_sql(st, sql_remote_add, "h", h);
	return rc;
}

int dfs_blob_is_remote(struct dfs_store *st, const struct dfs_hash *h)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_remote, &s, "h", h);

	if (rc > 0)
		sqlite3_reset(s);
	return rc;
}
