// SPDX-License-Identifier: MIT
/*
 * chunkread.c - a blob file with a chunk list is checked as it is read:
 * before a read serves a range, each chunk the range touches is read,
 * hashed with XXH3-64 and compared with its list (once per mount: the
 * bitmaps of goodset.c).  A damaged chunk is EIO for that read and one
 * log line naming the blob; the chunks before it are served.
 *
 * A chunk is as large as the kernel's FUSE reads (128 KiB); reads go up
 * to 1 MiB.  The first read of a chunk reads it into memory, hashes it
 * there and serves those very bytes (dfs_chunks_read): the page cache is
 * copied once, as a splice would, and the hash runs on bytes still in
 * the CPU's cache, in the reading thread, with no hand-off to another
 * thread and no read of bytes nobody asked for.  Later reads of a chunk
 * found good are spliced from the blob file, unchecked.  A read that is
 * not of whole chunks checks each chunk it touches first
 * (dfs_chunks_check), then splices.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef DFS_XXH_DISPATCH
#include <xxh_x86dispatch.h> /* AVX2 where the CPU has it */
#endif

#include "storage.h"

/*
 * The verdict on chunk k (of `chunk` bytes, the blob size bytes) of blob
 * h: want bytes wanted, done of them read into buf (err: the errno of a
 * failed read, else 0), to hash to want_sum.  0, or -EIO (logged).
 */
static int verdict(const struct dfs_hash *h, uint64_t size, uint32_t chunk,
		   uint32_t k, uint64_t want_sum, const char *buf,
		   uint64_t want, uint64_t done, int err)
{
	uint64_t at = (uint64_t)k * chunk, sum = 0;
	char hex[DFS_HASH_HEX];

	if (done >= want) {
		sum = XXH3_64bits(buf, (size_t)want);
		if (sum == want_sum)
			return 0;
	}
	dfs_hash_hex(h, hex);
	if (done < want)
		dfs_log(DFS_LOG_ERR,
			"blob \"%s\" is unreadable: %s at byte %llu"
			" path=" DFS_BLOBS_DIR "/%.2s/%s size=%llu",
			hex, err ? strerror(err) : "it ends early",
			(unsigned long long)(at + done), hex, hex,
			(unsigned long long)size);
	else
		dfs_log(DFS_LOG_ERR,
			"blob \"%s\" is damaged: its bytes hash to %016llx in"
			" chunk %u (bytes %llu-%llu), %016llx recorded"
			" path=" DFS_BLOBS_DIR "/%.2s/%s size=%llu",
			hex, (unsigned long long)sum, k, (unsigned long long)at,
			(unsigned long long)(at + want - 1),
			(unsigned long long)want_sum, hex, hex,
			(unsigned long long)size);
	return -EIO;
}

/* Up to len bytes of fd at off into buf: how many (fewer at the end of
 * the file, or on an error: its errno in *err). */
static uint64_t read_full(int fd, char *buf, uint64_t len, uint64_t off,
			  int *err)
{
	uint64_t done = 0;
	ssize_t n;

	*err = 0;
	while (done < len) {
		n = pread(fd, buf + done, (size_t)(len - done),
			  (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			*err = errno;
		if (n <= 0)
			break;
		done += (uint64_t)n;
	}
	return done;
}

/* The bytes of chunk k of c (fewer for the last chunk). */
static uint64_t chunk_len(const struct dfs_chunks *c, uint64_t k)
{
	uint64_t at = k * c->chunk;

	return c->size - at < c->chunk ? c->size - at : c->chunk;
}

/* Chunk k of c read from fd into buf and checked: 0, or -EIO (logged). */
static int check_one(const struct dfs_chunks *c, uint32_t k, int fd, char *buf)
{
	uint64_t want = chunk_len(c, k), done;
	int err;

	done = read_full(fd, buf, want, (uint64_t)k * c->chunk, &err);
	return verdict(&c->blob, c->size, c->chunk, k, c->sum[k], buf, want,
		       done, err);
}

/* ---- a read --------------------------------------------------------------------- */

int dfs_chunks_check(struct dfs_store *st, const struct dfs_chunks *c, int fd,
		     uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	char *buf = NULL;
	int rc = 0;

	if (len == 0 || off >= c->size || dfs_blob_is_good(st, &c->blob))
		return 0;
	if (end > c->size || end < off)
		end = c->size;
	for (uint64_t k = off / c->chunk; rc == 0 && k <= (end - 1) / c->chunk;
	     k++) {
		if (dfs_chunk_claim(st, &c->blob, (uint32_t)k, c->n))
			continue;
		if (!buf)
			buf = malloc(c->chunk);
		rc = buf ? check_one(c, (uint32_t)k, fd, buf) : -ENOMEM;
		dfs_chunk_checked(st, &c->blob, (uint32_t)k, c->n, rc == 0);
	}
	free(buf);
	return rc;
}

/*
 * A range of whole chunks (the last may end the blob), one of them not
 * yet checked: read into buf and hashed there, so the reply is served
 * from the very bytes checked.  The page cache is then read once, not
 * once for the check and again for a splice, and the hash runs on bytes
 * still in the CPU's cache: what keeps a cold read's cost of checking
 * within a few percent.
 */
ssize_t dfs_chunks_read(struct dfs_store *st, const struct dfs_chunks *c,
			int fd, char *buf, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, first = off / c->chunk, last, k, done = 0;
	bool mine[DFS_CHUNKS_READ_MAX] = { false }, any = false;
	int rc = 0, err;

	if (len == 0 || off % c->chunk || off >= c->size ||
	    dfs_blob_is_good(st, &c->blob))
		return -EAGAIN;
	if (end > c->size || end < off)
		end = c->size;
	if (end != c->size && end % c->chunk)
		return -EAGAIN;
	last = (end - 1) / c->chunk;
	if (last - first >= DFS_CHUNKS_READ_MAX)
		return -EAGAIN;
	for (k = first; k <= last; k++)
		any |= mine[k - first] =
			!dfs_chunk_claim(st, &c->blob, (uint32_t)k, c->n);
	if (!any)
		return -EAGAIN;
	/* Chunk by chunk, so each is hashed while it is in the cache. */
	for (k = first; k <= last; k++) {
		uint64_t at = k * c->chunk - off, want = chunk_len(c, k), got;

		got = rc < 0 ? 0
			     : read_full(fd, buf + at, want, off + at, &err);
		if (mine[k - first]) {
			if (rc == 0)
				rc = verdict(&c->blob, c->size, c->chunk,
					     (uint32_t)k, c->sum[k], buf + at,
					     want, got, err);
			/* After a bad chunk, the rest wait for a later read. */
			dfs_chunk_checked(st, &c->blob, (uint32_t)k, c->n,
					  rc == 0);
		} else if (rc == 0 && got < want) {
			rc = -EIO; /* found good before, short now: logged */
			(void)verdict(&c->blob, c->size, c->chunk, (uint32_t)k,
				      c->sum[k], buf + at, want, got, err);
		}
		done += got;
	}
	return rc < 0 ? rc : (ssize_t)done;
}
