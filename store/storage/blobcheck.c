// SPDX-License-Identifier: MIT
/*
 * blobcheck.c - a blob file is checked against its name before its bytes
 * are served: whole (its XXH3-128 and the size recorded for it), or chunk
 * by chunk as it is read (chunkread.c).  When a file is sealed, one pass
 * over its bytes gives its name and the XXH3-64 of each DFS_CHUNK_SIZE
 * chunk; the list goes in `blob_chunks` in the transaction that records
 * the blob's row.  Blobs sealed before lists were kept have none and are
 * checked whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef DFS_XXH_DISPATCH
#include <xxh_x86dispatch.h> /* AVX2 where the CPU has it */
#endif

#include "storage.h"

#define CHUNK_MIN 4096u
#define CHUNK_MAX (1u << 30)
#define HASH_BUF (1u << 20) /* bytes read at a time to hash a file */

static const char sql_put[] =
	"INSERT INTO blob_chunks (hash, chunk, sums) VALUES (?1, ?2, ?3)"
	" ON CONFLICT (hash) DO NOTHING";
static const char sql_get[] =
	"SELECT chunk, sums FROM blob_chunks WHERE hash = ?1";
static const char sql_exists[] = "SELECT 1 FROM blob_chunks WHERE hash = ?1";

/* ---- hashing the whole and each chunk in one pass ---------------------------- */

struct hasher {
	XXH3_state_t *whole;
	XXH3_state_t *part; /* the current chunk (NULL: no chunk list) */
	struct dfs_chunks *c;
	uint64_t at; /* bytes fed */
};

static void feed(struct hasher *x, const char *p, size_t n)
{
	XXH3_128bits_update(x->whole, p, n);
	while (x->part && n > 0) {
		uint64_t in = x->at % DFS_CHUNK_SIZE;
		size_t take = DFS_CHUNK_SIZE - in < n
				      ? (size_t)(DFS_CHUNK_SIZE - in)
				      : n;

		XXH3_64bits_update(x->part, p, take);
		x->at += take;
		p += take;
		n -= take;
		if (x->at % DFS_CHUNK_SIZE == 0) {
			x->c->sum[x->at / DFS_CHUNK_SIZE - 1] =
				XXH3_64bits_digest(x->part);
			XXH3_64bits_reset(x->part);
		}
	}
	if (!x->part)
		x->at += n;
}

/* Feed [pos, end) of fd by reading it. */
static int feed_range(struct hasher *x, int fd, char *buf, off_t pos, off_t end)
{
	while (pos < end) {
		size_t want =
			end - pos < HASH_BUF ? (size_t)(end - pos) : HASH_BUF;
		ssize_t n = pread(fd, buf, want, pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* shorter than fstat said */
		feed(x, buf, (size_t)n);
		pos += n;
	}
	return 0;
}

/* Feed len zero bytes: holes are hashed without being read. */
static void feed_zeros(struct hasher *x, const char *zeros, off_t len)
{
	while (len > 0) {
		size_t n = len < HASH_BUF ? (size_t)len : HASH_BUF;

		feed(x, zeros, n);
		len -= (off_t)n;
	}
}

/* Feed the whole of fd, size bytes, holes as zeros. */
static int feed_fd(struct hasher *x, int fd, off_t size, char *buf,
		   const char *zeros)
{
	off_t pos = 0;
	int rc = 0;

	while (rc == 0 && pos < size) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0)
			data = errno == ENXIO ? size : pos;
		feed_zeros(x, zeros, data - pos);
		pos = data;
		if (pos >= size)
			break;
		hole = lseek(fd, pos, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		rc = feed_range(x, fd, buf, pos, hole);
		pos = hole;
	}
	return rc;
}

static struct dfs_chunks *chunks_new(uint64_t size, uint32_t chunk)
{
	uint64_t n = (size + chunk - 1) / chunk;
	struct dfs_chunks *c;

	if (n > UINT32_MAX)
		return NULL;
	c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->sum[0]));
	if (!c)
		return NULL;
	c->size = size;
	c->chunk = chunk;
	c->n = (uint32_t)n;
	return c;
}

int dfs_hash_fd_chunked(int fd, struct dfs_hash *ret,
			struct dfs_chunks **ret_chunks)
{
	struct hasher x = { XXH3_createState(), NULL, NULL, 0 };
	char *buf = malloc(HASH_BUF), *zeros = calloc(1, HASH_BUF);
	XXH128_canonical_t canon;
	struct stat sb;
	int rc = 0;

	if (!x.whole || !buf || !zeros) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		goto out_free;
	}
	if (ret_chunks) {
		x.c = chunks_new((uint64_t)sb.st_size, DFS_CHUNK_SIZE);
		x.part = XXH3_createState();
		if (!x.c || !x.part) {
			rc = -ENOMEM;
			goto out_free;
		}
		XXH3_64bits_reset(x.part);
	}
	XXH3_128bits_reset(x.whole);
	rc = feed_fd(&x, fd, sb.st_size, buf, zeros);
	if (rc < 0)
		goto out_free;
	if (x.part && x.at % DFS_CHUNK_SIZE != 0)
		x.c->sum[x.c->n - 1] = XXH3_64bits_digest(x.part);
	XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(x.whole));
	memcpy(ret->b, canon.digest, DFS_HASH_LEN);
	if (ret_chunks) {
		x.c->blob = *ret;
		*ret_chunks = x.c;
		x.c = NULL;
	}
out_free:
	free(x.c);
	XXH3_freeState(x.part);
	XXH3_freeState(x.whole);
	free(zeros);
	free(buf);
	return rc;
}

int dfs_hash_fd(int fd, struct dfs_hash *ret)
{
	return dfs_hash_fd_chunked(fd, ret, NULL);
}

/* ---- the list in the database ------------------------------------------------ */

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int dfs_chunks_put(struct dfs_store *st, const struct dfs_chunks *c)
{
	size_t len = (size_t)c->n * 8;
	unsigned char *sums;
	int rc;

	if (c->n == 0)
		return 0; /* the empty blob: nothing to check */
	sums = malloc(len);
	if (!sums)
		return -ENOMEM;
	for (uint32_t k = 0; k < c->n; k++)
		put_be64(sums + (size_t)k * 8, c->sum[k]);
	rc = dfs_exec_sql(st, sql_put, "hix", &c->blob, (int64_t)c->chunk, sums,
			  len);
	free(sums);
	return rc;
}

static int malformed(const struct dfs_hash *h, const char *why)
{
	char hex[DFS_HASH_HEX];

	dfs_hash_hex(h, hex);
	dfs_log(DFS_LOG_WARN,
		"chunk list of blob \"%s\" is malformed: %s; the blob is"
		" checked whole",
		hex, why);
	return 0;
}

int dfs_chunks_get(struct dfs_store *st, const struct dfs_hash *h,
		   uint64_t size, struct dfs_chunks **ret)
{
	const unsigned char *sums;
	struct dfs_chunks *c;
	sqlite3_stmt *s = NULL;
	int64_t chunk;
	size_t len;
	int rc = dfs_query_sql(st, sql_get, &s, "h", h);

	if (rc <= 0)
		return rc;
	chunk = sqlite3_column_int64(s, 0);
	if (chunk < CHUNK_MIN || chunk > CHUNK_MAX) {
		sqlite3_reset(s);
		return malformed(h, "chunk size out of range");
	}
	c = chunks_new(size, (uint32_t)chunk);
	if (!c) {
		sqlite3_reset(s);
		return -ENOMEM;
	}
	sums = sqlite3_column_blob(s, 1);
	len = (size_t)sqlite3_column_bytes(s, 1);
	if (len != (size_t)c->n * 8 || c->n == 0) {
		sqlite3_reset(s);
		free(c);
		return malformed(h, "its length does not fit the blob's size");
	}
	for (uint32_t k = 0; k < c->n; k++)
		c->sum[k] = get_be64(sums + (size_t)k * 8);
	sqlite3_reset(s);
	c->blob = *h;
	*ret = c;
	return 1;
}

bool dfs_chunks_exist(struct dfs_store *st, const struct dfs_hash *h)
{
	sqlite3_stmt *s = NULL;

	if (dfs_query_sql(st, sql_exists, &s, "h", h) != 1)
		return false;
	sqlite3_reset(s);
	return true;
}

/* ---- checking a blob file against its name -------------------------------- */

int dfs_blob_missing(const struct dfs_hash *h)
{
	char hex[DFS_HASH_HEX];

	dfs_hash_hex(h, hex);
	dfs_log(DFS_LOG_ERR,
		"blob \"%s\" is missing: no file, no row path=" DFS_BLOBS_DIR
		"/%.2s/%s",
		hex, hex, hex);
	return -EIO;
}

int dfs_blob_check_fd(struct dfs_store *st, const struct dfs_hash *h,
		      uint64_t size, int fd)
{
	char hex[DFS_HASH_HEX], got_hex[DFS_HASH_HEX];
	struct dfs_hash got;
	int rc;

	rc = dfs_blob_check_size(h, size, fd);
	if (rc < 0)
		return rc;
	dfs_hash_hex(h, hex);
	/* Read once, front to back: ask for a wide readahead. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = dfs_hash_fd(fd, &got);
	if (rc < 0)
		goto out_unreadable;
	if (memcmp(got.b, h->b, DFS_HASH_LEN) != 0) {
		dfs_hash_hex(&got, got_hex);
		dfs_log(DFS_LOG_ERR,
			"blob \"%s\" is damaged: its bytes hash to %s"
			" path=" DFS_BLOBS_DIR "/%.2s/%s size=%llu",
			hex, got_hex, hex, hex, (unsigned long long)size);
		return -EIO;
	}
	dfs_blob_mark_good(st, h);
	return 0;
out_unreadable:
	dfs_log(DFS_LOG_ERR,
		"blob \"%s\" is unreadable: %s path=" DFS_BLOBS_DIR "/%.2s/%s",
		hex, strerror(-rc), hex, hex);
	return rc == -ENOMEM ? rc : -EIO;
}

int dfs_blob_check(struct dfs_store *st, const struct dfs_hash *h,
		   uint64_t size)
{
	int fd = dfs_blob_open(st, h), rc;

	if (fd < 0)
		return fd;
	rc = dfs_blob_check_fd(st, h, size, fd);
	close(fd);
	return rc;
}

/* ---- a blob file has the size recorded for it ------------------------------- */

int dfs_blob_check_size(const struct dfs_hash *h, uint64_t size, int fd)
{
	char hex[DFS_HASH_HEX];
	struct stat sb;

	dfs_hash_hex(h, hex);
	if (fstat(fd, &sb) < 0) {
		dfs_log(DFS_LOG_ERR,
			"blob \"%s\" is unreadable: %s path=" DFS_BLOBS_DIR
			"/%.2s/%s",
			hex, strerror(errno), hex, hex);
		return -EIO;
	}
	if ((uint64_t)sb.st_size == size)
		return 0;
	dfs_log(DFS_LOG_ERR,
		"blob \"%s\" is damaged: %lld bytes, %llu recorded"
		" path=" DFS_BLOBS_DIR "/%.2s/%s",
		hex, (long long)sb.st_size, (unsigned long long)size, hex, hex);
	return -EIO;
}
