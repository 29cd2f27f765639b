// SPDX-License-Identifier: MIT
/*
 * test_chunks.c - unit tests of blob files checked chunk by chunk as they
 * are read: a sealed file's blob has its chunk list (XXH3-64 of each
 * 128 KiB) recorded with its row; opening it checks only its size (a cut
 * blob is EIO at open); a read checks the chunks it serves, so a flipped
 * byte in chunk k is EIO for a read of chunk k while the chunks before it
 * read right, and the blob is never found good; a store from before chunk
 * lists still checks its old blobs whole.  Damage is done while the
 * store is closed and reopened, as a new mount would find it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "deployfs/store.h"
#include "fixture.h"
#include "old_schema.h"
/* Whether a blob was found good is storage's own: asked directly. */
#include "../../store/storage/storage.h"

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)
#define CHUNK (128u << 10)
#define NCHUNKS 4
#define LEN (3 * CHUNK + CHUNK / 2) /* the last chunk is a short one */

static struct dfs_fixture fx;
static char data[LEN];

static void setup(void)
{
	dfs_fixture_setup(&fx, "chunks", OPEN_FLAGS);
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(chunks, .init = setup, .fini = teardown, .timeout = 60);

/* Close the store and open it again: what a new mount finds. */
static void reopen(void)
{
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
}

/* build/process/big.bin holding LEN bytes (no two chunks alike), sealed;
 * its blob's name and file path. */
static uint64_t put_big(struct dfs_hash *ret, char *path, size_t cap)
{
	char hex[DFS_HASH_HEX];
	uint64_t ino;

	FIXTURE_OK();
	for (size_t i = 0; i < LEN; i++)
		data[i] = (char)(i * 31 + i / 4093 + i / CHUNK);
	ino = dfs_fixture_put_file(&fx, fx.proc, "big.bin", data, LEN);
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, ret), 0);
	dfs_hash_hex(ret, hex);
	snprintf(path, cap, "%s/blobs/%.2s/%s", fx.path, hex, hex);
	cr_assert_eq(access(path, F_OK), 0, "a blob file %s", path);
	return ino;
}

/* Flip the byte at off of the (read-only) file at path. */
static void flip_byte_at(const char *path, off_t off)
{
	unsigned char c;
	int fd;

	cr_assert_eq(chmod(path, 0600), 0);
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	cr_assert_eq(pwrite(fd, &c, 1, off), 1);
	cr_assert_eq(close(fd), 0);
}

/* Read [off, off + n) of f as a read that serves it would: 0 with the
 * bytes compared with data, or the -errno taking the fd gave. */
static int read_range(struct dfs_file *f, uint64_t off, size_t n)
{
	static char buf[CHUNK];
	int fd = dfs_file_fd_get_range(fx.st, f, off, n);
	ssize_t got;

	cr_assert_leq(n, sizeof(buf));
	if (fd < 0)
		return fd;
	got = pread(fd, buf, n, (off_t)off);
	dfs_file_fd_put(fx.st, f, false, 0);
	cr_assert_eq(got, (ssize_t)n, "pread at %llu", (unsigned long long)off);
	cr_assert_arr_eq(buf, data + off, n, "bytes at %llu",
			 (unsigned long long)off);
	return 0;
}

/* A statement's one integer (the store is open: read beside it). */
static int64_t sql_int(const char *query, const struct dfs_hash *h)
{
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;
	int64_t v = -1;

	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READONLY, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, query, -1, &s, NULL), SQLITE_OK,
		     "%s: %s", query, sqlite3_errmsg(db));
	if (h)
		sqlite3_bind_blob(s, 1, h->b, DFS_HASH_LEN, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

Test(chunks, the_chunk_list_is_stored_with_the_blob)
{
	const unsigned char *sums;
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;
	struct dfs_hash h;
	char path[512];

	put_big(&h, path, sizeof(path));
	cr_assert_eq(sql_int("SELECT size FROM blobs WHERE hash = ?1", &h), LEN,
		     "the blob's row");
	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READONLY, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT chunk, sums FROM blob_chunks"
					" WHERE hash = ?1",
					-1, &s, NULL),
		     SQLITE_OK);
	sqlite3_bind_blob(s, 1, h.b, DFS_HASH_LEN, SQLITE_STATIC);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "no chunk list");
	cr_assert_eq(sqlite3_column_int64(s, 0), CHUNK);
	cr_assert_eq(sqlite3_column_bytes(s, 1), NCHUNKS * 8);
	sums = sqlite3_column_blob(s, 1);
	for (unsigned k = 0; k < NCHUNKS; k++) {
		size_t n = k + 1 < NCHUNKS ? CHUNK : LEN - k * CHUNK;
		uint64_t want = XXH3_64bits(data + (size_t)k * CHUNK, n),
			 got = 0;

		for (int i = 0; i < 8; i++)
			got = got << 8 | sums[k * 8 + i];
		cr_assert_eq(got, want, "chunk %u", k);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	/* Reclaiming the blob takes its list along (the sealer reclaims
	 * after a batch: seal another large file). */
	cr_assert_eq(dfs_node_unlink(fx.st, fx.proc, "big.bin"), 0);
	dfs_fixture_put_file(&fx, fx.proc, "other.bin", data + 1, 2 * CHUNK);
	cr_assert_eq(sql_int("SELECT count(*) FROM blobs WHERE hash = ?1", &h),
		     0, "the blob was not reclaimed");
	cr_assert_eq(sql_int("SELECT count(*) FROM blob_chunks"
			     " WHERE hash = ?1",
			     &h),
		     0);
}

Test(chunks, a_flipped_byte_in_chunk_k_is_eio_there_and_chunks_before_read)
{
	struct dfs_file *f = NULL;
	struct dfs_hash h;
	char path[512];
	uint64_t ino;

	ino = put_big(&h, path, sizeof(path));
	fx.st = dfs_store_free(fx.st);
	flip_byte_at(path, 2 * CHUNK + 4321);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);

	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), 0,
		     "open checks the size only");
	cr_assert_eq(read_range(f, 0, CHUNK), 0, "chunk 0");
	cr_assert_eq(read_range(f, CHUNK + 100, 4096), 0, "chunk 1");
	cr_assert_eq(read_range(f, 2 * CHUNK, 4096), -EIO,
		     "chunk 2, before the flipped byte");
	cr_assert_eq(read_range(f, 2 * CHUNK - 10, 20), -EIO,
		     "a read that ends in chunk 2");
	cr_assert_eq(read_range(f, 2 * CHUNK + 4000, 4096), -EIO,
		     "a damaged chunk is not remembered: EIO again");
	cr_assert_eq(read_range(f, 3 * CHUNK, LEN - 3 * CHUNK), 0, "chunk 3");
	cr_assert(!dfs_blob_is_good(fx.st, &h), "found good with a bad chunk");
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	/* Vouching for it checks it whole. */
	cr_assert_eq(dfs_blob_verify(fx.st, &h, LEN), -EIO);
}

Test(chunks, reading_every_chunk_finds_the_blob_good_for_the_mount)
{
	struct dfs_file *f = NULL;
	struct dfs_hash h;
	char path[512];
	uint64_t ino;

	ino = put_big(&h, path, sizeof(path));
	reopen();
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), 0);
	cr_assert(!dfs_blob_is_good(fx.st, &h), "open read it whole");
	for (unsigned k = 0; k < NCHUNKS; k++) {
		size_t n = k + 1 < NCHUNKS ? CHUNK : LEN - k * CHUNK;

		cr_assert_eq(read_range(f, (uint64_t)k * CHUNK, n), 0,
			     "chunk %u", k);
	}
	cr_assert(dfs_blob_is_good(fx.st, &h));
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
}

/* A first read of [off, off + n) served from the bytes it checked: its
 * -errno, or 0 with the bytes compared with data (-EAGAIN: not read this
 * way, nothing served). */
static int read_first(struct dfs_file *f, uint64_t off, size_t n)
{
	char *buf = NULL;
	ssize_t got = dfs_file_read_mem(fx.st, f, off, n, false, &buf);

	if (got < 0) {
		cr_assert_null(buf, "a buffer with %zd", got);
		return (int)got;
	}
	cr_assert_eq(got, (ssize_t)(off + n > LEN ? LEN - off : n),
		     "bytes at %llu", (unsigned long long)off);
	cr_assert_arr_eq(buf, data + off, (size_t)got, "bytes at %llu",
			 (unsigned long long)off);
	free(buf);
	return 0;
}

Test(chunks, a_first_read_of_whole_chunks_serves_the_bytes_it_checked)
{
	struct dfs_file *f = NULL;
	struct dfs_hash h;
	char path[512];
	uint64_t ino;

	ino = put_big(&h, path, sizeof(path));
	fx.st = dfs_store_free(fx.st);
	flip_byte_at(path, 2 * CHUNK + 4321);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), 0);

	cr_assert_eq(read_first(f, 100, CHUNK), -EAGAIN, "not whole chunks");
	cr_assert_eq(read_first(f, 0, CHUNK + 10), -EAGAIN,
		     "ends inside a chunk");
	cr_assert_eq(read_first(f, 0, 2 * CHUNK), 0, "chunks 0 and 1");
	cr_assert_eq(read_first(f, 0, CHUNK), -EAGAIN,
		     "checked chunks are spliced");
	cr_assert_eq(read_first(f, CHUNK, 2 * CHUNK), -EIO,
		     "chunk 1 good, chunk 2 damaged");
	cr_assert_eq(read_first(f, 2 * CHUNK, CHUNK), -EIO,
		     "a damaged chunk is not remembered: EIO again");
	cr_assert_eq(read_first(f, 3 * CHUNK, 4 * CHUNK), 0,
		     "the short last chunk, a read past the end");
	cr_assert(!dfs_blob_is_good(fx.st, &h), "found good with a bad chunk");
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
}

Test(chunks, first_reads_of_every_chunk_find_the_blob_good)
{
	struct dfs_file *f = NULL;
	struct dfs_hash h;
	char path[512];
	uint64_t ino;

	ino = put_big(&h, path, sizeof(path));
	reopen();
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), 0);
	cr_assert_eq(read_first(f, 0, LEN), 0, "all four chunks in one read");
	cr_assert(dfs_blob_is_good(fx.st, &h));
	cr_assert_eq(read_first(f, 0, CHUNK), -EAGAIN, "good: spliced");
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
}

Test(chunks, a_truncated_blob_is_eio_at_open)
{
	struct dfs_file *f = NULL;
	struct dfs_hash h, after;
	char path[512];
	uint64_t ino;

	ino = put_big(&h, path, sizeof(path));
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(truncate(path, CHUNK + CHUNK / 2), 0);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), -EIO);
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDWR, &f), -EIO);
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &after), 0);
	cr_assert_arr_eq(after.b, h.b, DFS_HASH_LEN, "the file still names it");
	cr_assert(!dfs_blob_is_good(fx.st, &h));
	/* And a missing one. */
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), -EIO);
}

/* Make the store as schema 5 left it: no chunk lists (nor what later
 * schemas added). */
static void to_schema_5(void)
{
	sqlite3 *db = NULL;

	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READWRITE, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db,
				  DROP_V11
				  "ALTER TABLE packages DROP COLUMN kept;"
				  "DROP TRIGGER blob_chunks_del;"
				  "DROP TABLE blob_chunks;"
				  "PRAGMA user_version = 5;",
				  NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_close(db), SQLITE_OK);
}

Test(chunks, a_store_from_before_chunk_lists_checks_its_blobs_whole)
{
	struct dfs_file *f = NULL;
	struct dfs_hash h;
	char path[512];
	uint64_t ino;

	ino = put_big(&h, path, sizeof(path));
	fx.st = dfs_store_free(fx.st);
	to_schema_5();
	flip_byte_at(path, 3 * CHUNK + 7);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	cr_assert_eq(sql_int("PRAGMA user_version", NULL),
		     dfs_store_schema_version(), "migrated");
	cr_assert_eq(sql_int("SELECT count(*) FROM blob_chunks", NULL), 0);
	/* No list: open hashes it whole, and finds the last chunk's flip. */
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), -EIO);
	fx.st = dfs_store_free(fx.st);
	flip_byte_at(path, 3 * CHUNK + 7);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), 0);
	cr_assert(dfs_blob_is_good(fx.st, &h), "checked whole at open");
	cr_assert_eq(read_range(f, 0, CHUNK), 0);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
}
