// SPDX-License-Identifier: MIT
/*
 * inline.c - the rows of blobs: every blob has a row in `blobs` (its size
 * and how many inodes and snapshot nodes name it, kept by triggers), and
 * small content (up to DFS_INLINE_MAX bytes: most of a workspace) keeps
 * its bytes in a `blob_data` row beside it instead of a file of its own.
 * Inline bytes are checked against their name each time they are loaded;
 * opening a blob's bytes, inline or a file, checks them (blob.c), or for
 * a file with a chunk list checks its size and hands the list to the
 * reads (blobcheck.c).
 * Reclaiming deletes the rows and files of blobs nothing names.  All with
 * st->lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "storage.h"

static const char sql_data[] = "SELECT d.data FROM blobs b JOIN blob_data d"
			       " ON d.id = b.data WHERE b.hash = ?1";
static const char sql_put[] =
	"INSERT INTO blobs (hash, size, refs) VALUES (?1, ?2, 0)"
	" ON CONFLICT (hash) DO NOTHING";
/* The bytes, unless h's row names some already; then the row (made or
 * kept) names them: the id the insert just made. */
static const char sql_put_data[] =
	"INSERT INTO blob_data (hash, data) SELECT ?1, ?2 WHERE NOT EXISTS"
	" (SELECT 1 FROM blobs WHERE hash = ?1 AND data IS NOT NULL)";
static const char sql_put_row[] =
	"INSERT INTO blobs (hash, size, refs, data)"
	" VALUES (?1, ?2, 0, last_insert_rowid())"
	" ON CONFLICT (hash) DO UPDATE SET data = excluded.data";
static const char sql_unreferenced[] =
	"SELECT hash FROM blobs WHERE refs = 0 LIMIT 256";
static const char sql_reclaim[] =
	"DELETE FROM blobs WHERE hash = ?1 AND refs = 0";

/* The row's bytes of h (column 0 of s) checked against h. */
static int check_row(struct dfs_store *st, const struct dfs_hash *h,
		     sqlite3_stmt *s)
{
	size_t len = (size_t)sqlite3_column_bytes(s, 0);
	char hex[DFS_HASH_HEX], got_hex[DFS_HASH_HEX];
	struct dfs_hash got;

	dfs_hash_buf(sqlite3_column_blob(s, 0), len, &got);
	if (memcmp(got.b, h->b, DFS_HASH_LEN) == 0) {
		dfs_blob_mark_good(st, h);
		return 0;
	}
	dfs_hash_hex(h, hex);
	dfs_hash_hex(&got, got_hex);
	dfs_log(DFS_LOG_ERR,
		"blob \"%s\" is damaged: its bytes hash to %s where=database"
		" size=%zu",
		hex, got_hex, len);
	return -EIO;
}

/* The row of h's bytes: 1 with s on it (the caller resets s), 0 when h
 * is not kept inline, or -errno. */
static int query_row(struct dfs_store *st, const struct dfs_hash *h,
		     sqlite3_stmt **ret)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_data, &s, "h", h);

	if (rc <= 0)
		return rc;
	if (sqlite3_column_type(s, 0) == SQLITE_NULL) {
		sqlite3_reset(s);
		return 0;
	}
	*ret = s;
	return 1;
}

int dfs_inline_check(struct dfs_store *st, const struct dfs_hash *h)
{
	sqlite3_stmt *s = NULL;
	int rc = query_row(st, h, &s);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	rc = check_row(st, h, s);
	sqlite3_reset(s);
	return rc;
}

int dfs_inline_open(struct dfs_store *st, const struct dfs_hash *h,
		    bool *ret_inline, int *ret_fd)
{
	sqlite3_stmt *s = NULL;
	int fd = -1, rc = query_row(st, h, &s);

	*ret_inline = false;
	if (rc <= 0)
		return rc;
	rc = check_row(st, h, s);
	if (rc == 0) {
		fd = memfd_create("deployfs", MFD_CLOEXEC);
		rc = fd < 0 ? -errno
			    : dfs_io_write_all(
				      fd, sqlite3_column_blob(s, 0),
				      (size_t)sqlite3_column_bytes(s, 0));
	}
	sqlite3_reset(s);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*ret_inline = true;
	*ret_fd = fd;
	return 0;
}

int dfs_blob_open_checked(struct dfs_store *st, const struct dfs_hash *h,
			  uint64_t size, int *ret_fd)
{
	bool inl = false;
	int fd = -1, rc = dfs_inline_open(st, h, &inl, &fd);

	if (rc < 0)
		return rc;
	if (!inl) {
		fd = dfs_blob_open(st, h);
		if (fd == -ENOENT)
			return dfs_blob_missing(h);
		if (fd < 0)
			return fd;
		rc = dfs_blob_is_good(st, h)
			     ? 0
			     : dfs_blob_check_fd(st, h, size, fd);
		if (rc < 0) {
			close(fd);
			return rc;
		}
	}
	*ret_fd = fd;
	return 0;
}

int dfs_blob_open_served(struct dfs_store *st, const struct dfs_hash *h,
			 uint64_t size, int *ret_fd,
			 struct dfs_chunks **ret_chunks)
{
	struct dfs_chunks *c = NULL;
	int fd, rc;

	*ret_chunks = NULL;
	if (size <= DFS_INLINE_MAX || dfs_blob_is_good(st, h))
		return dfs_blob_open_checked(st, h, size, ret_fd);
	rc = dfs_chunks_get(st, h, size, &c);
	if (rc <= 0)
		return rc < 0 ? rc : dfs_blob_open_checked(st, h, size, ret_fd);
	/* Larger than DFS_INLINE_MAX: a file, never a row's bytes. */
	fd = dfs_blob_open(st, h);
	rc = fd == -ENOENT ? dfs_blob_missing(h) : fd;
	if (rc >= 0)
		rc = dfs_blob_check_size(h, size, fd);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		free(c);
		return rc;
	}
	*ret_fd = fd;
	*ret_chunks = c;
	return 0;
}

int dfs_inline_put(struct dfs_store *st, const struct dfs_hash *h,
		   const void *data, size_t len)
{
	int rc = dfs_exec_sql(st, sql_put_data, "hx", h, data, len);

	/* Bytes already kept for h stay (they are checked when loaded). */
	if (rc < 0 || dfs_changes(st) == 0)
		return rc;
	rc = dfs_exec_sql(st, sql_put_row, "hi", h, (int64_t)len);
	/* The row holds the bytes hashed here. */
	if (rc == 0)
		dfs_blob_mark_good(st, h);
	return rc;
}

int dfs_blob_row_add(struct dfs_store *st, const struct dfs_hash *h,
		     uint64_t size)
{
	return dfs_exec_sql(st, sql_put, "hi", h, (int64_t)size);
}

void dfs_blob_reclaim_locked(struct dfs_store *st)
{
	struct dfs_hash h[256];
	bool gone[256];
	size_t n = 0;
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_unreferenced, &s, "");

	while (rc == 1) {
		if (n < 256 && sqlite3_column_bytes(s, 0) == DFS_HASH_LEN)
			memcpy(h[n++].b, sqlite3_column_blob(s, 0),
			       DFS_HASH_LEN);
		rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0;
	}
	if (s)
		sqlite3_reset(s);
	if (n == 0 || dfs_db_begin(st) < 0)
		return;
	/* The rows go first, committed: a file is removed only once nothing
	 * can name it again (a crash in between leaves an orphan file). */
	for (size_t i = 0; i < n; i++) {
		gone[i] = dfs_exec_sql(st, sql_reclaim, "h", &h[i]) == 0 &&
			  dfs_changes(st) > 0;
	}
	if (dfs_finish(st, 0) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char path[40];

		if (!gone[i])
			continue;
		dfs_blob_relpath(&h[i], path);
		(void)unlinkat(st->blobs_fd, path, 0);
	}
}
