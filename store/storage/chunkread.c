// SPDX-License-Identifier: MIT
/*
 * chunkread.c - a blob file with a chunk list is checked as it is read:
 * before a read serves a range, each chunk the range touches is read,
 * hashed with XXH3-64 and compared with its list (once per mount: the
 * bitmaps of goodset.c).  A damaged chunk is EIO for that read and one
 * log line naming the blob; the chunks before it are served.
 *
 * A chunk is as large as the kernel's FUSE reads (128 KiB), so a read
 * front to back checks exactly what it serves, in its own thread: the
 * blob file's bytes are read once (the check's pread fills the page
 * cache the reply is spliced from) and hashed at memory speed, with no
 * hand-off to another thread and no read of bytes nobody asked for.
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
 * Chunk k (of `chunk` bytes, the blob size bytes) of blob h in fd, read
 * into buf and compared with want_sum: 0, or -EIO (logged).
 */
static int check_one(const struct dfs_hash *h, uint64_t size, uint32_t chunk,
		     uint32_t k, uint64_t want_sum, int fd, char *buf)
{
	uint64_t at = (uint64_t)k * chunk, want = size - at, sum = 0;
	char hex[DFS_HASH_HEX];
	size_t done = 0;
	ssize_t n = 0;

	if (want > chunk)
		want = chunk;
	while (done < want) {
		n = pread(fd, buf + done, (size_t)want - done,
			  (off_t)(at + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (done == want) {
		sum = XXH3_64bits(buf, (size_t)want);
		if (sum == want_sum)
			return 0;
	}
	dfs_hash_hex(h, hex);
	if (done < want)
		dfs_log(DFS_LOG_ERR,
			"blob \"%s\" is unreadable: %s at byte %llu"
			" path=" DFS_BLOBS_DIR "/%.2s/%s size=%llu",
			hex, n < 0 ? strerror(errno) : "it ends early",
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
		rc = buf ? check_one(&c->blob, c->size, c->chunk, (uint32_t)k,
				     c->sum[k], fd, buf)
			 : -ENOMEM;
		dfs_chunk_checked(st, &c->blob, (uint32_t)k, c->n, rc == 0);
	}
	free(buf);
	return rc;
}
