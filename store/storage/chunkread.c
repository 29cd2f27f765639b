// SPDX-License-Identifier: MIT
/*
 * chunkread.c - a blob file with a chunk list is checked as it is read:
 * before a read serves a range, each chunk the range touches is read,
 * hashed with XXH3-64 and compared with its list (once per mount: the
 * bitmaps of goodset.c).  A damaged chunk is EIO for that read and one
 * log line naming the blob; the chunks before it are served.
 *
 * So that a read front to back costs no pass of its own, a thread of the
 * store (the checker) checks the next AHEAD chunks while the current one
 * is served: the reader finds them good, or waits for the verdict of the
 * one being checked, instead of reading and hashing each in turn.  The
 * checker never logs: a chunk it finds damaged is left unchecked, and the
 * read that needs it checks it again and reports it.  Its queue is
 * small; what does not fit is left to the reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef DFS_XXH_DISPATCH
#include <xxh_x86dispatch.h> /* AVX2 where the CPU has it */
#endif

#include "storage.h"

#define AHEAD 2	     /* chunks checked ahead of a read front to back */
#define QUEUE_MAX 16 /* chunks waiting for the checker */

/* One chunk for the checker: all it needs, fd its own (a dup). */
struct ahead_job {
	struct dfs_hash h;
	uint64_t size;
	uint64_t sum;
	uint32_t chunk;
	uint32_t n;
	uint32_t k;
	int fd;
};

struct dfs_ahead {
	pthread_mutex_t lock; /* guards the rest; taken alone */
	pthread_cond_t wake;
	pthread_t thread;
	bool running;
	bool stopping;
	unsigned head;
	unsigned len;
	struct ahead_job q[QUEUE_MAX];
};

/*
 * Chunk k (of `chunk` bytes, the blob size bytes) of blob h in fd, read
 * into buf and compared with sum: 0, or -EIO (logged unless quiet).
 */
static int check_one(const struct dfs_hash *h, uint64_t size, uint32_t chunk,
		     uint32_t k, uint64_t want_sum, int fd, char *buf,
		     bool quiet)
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
	if (quiet)
		return -EIO;
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

/* ---- the checker ------------------------------------------------------------- */

static void run_job(struct dfs_store *st, const struct ahead_job *j, char *buf)
{
	bool good;

	if (dfs_chunk_claim(st, &j->h, j->k, j->n, false) != DFS_CHUNK_MINE)
		return;
	good = check_one(&j->h, j->size, j->chunk, j->k, j->sum, j->fd, buf,
			 true) == 0;
	dfs_chunk_checked(st, &j->h, j->k, j->n, good);
}

static void *checker_main(void *arg)
{
	struct dfs_store *st = arg;
	struct dfs_ahead *a = st->ahead;
	char *buf = malloc(DFS_CHUNK_SIZE);
	struct ahead_job j;
	bool stopping;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (!a->len && !a->stopping)
			pthread_cond_wait(&a->wake, &a->lock);
		if (!a->len)
			break;
		j = a->q[a->head];
		a->head = (a->head + 1) % QUEUE_MAX;
		a->len--;
		stopping = a->stopping;
		pthread_mutex_unlock(&a->lock);
		if (buf && !stopping)
			run_job(st, &j, buf);
		close(j.fd);
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	free(buf);
	return NULL;
}

int dfs_ahead_init(struct dfs_store *st)
{
	struct dfs_ahead *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->wake, NULL);
	st->ahead = a;
	return 0;
}

void dfs_ahead_release(struct dfs_store *st)
{
	struct dfs_ahead *a = st->ahead;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	if (a->running)
		pthread_join(a->thread, NULL);
	for (; a->len; a->len--, a->head = (a->head + 1) % QUEUE_MAX)
		close(a->q[a->head].fd);
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
	free(a);
	st->ahead = NULL;
}

/* Queue chunk k of c (fd the blob file) for the checker; no room, no
 * thread, no fd: left to the reads. */
static void queue_chunk(struct dfs_store *st, const struct dfs_chunks *c,
			int fd, uint32_t k)
{
	struct dfs_ahead *a = st->ahead;
	struct ahead_job *j;

	if (!a || c->chunk > DFS_CHUNK_SIZE)
		return;
	pthread_mutex_lock(&a->lock);
	if (a->stopping || a->len == QUEUE_MAX)
		goto out_unlock;
	if (!a->running) {
		if (pthread_create(&a->thread, NULL, checker_main, st) != 0)
			goto out_unlock;
		a->running = true;
	}
	j = &a->q[(a->head + a->len) % QUEUE_MAX];
	j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (j->fd < 0)
		goto out_unlock;
	j->h = c->blob;
	j->size = c->size;
	j->sum = c->sum[k];
	j->chunk = c->chunk;
	j->n = c->n;
	j->k = k;
	a->len++;
	pthread_cond_signal(&a->wake);
out_unlock:
	pthread_mutex_unlock(&a->lock);
}

/*
 * A read reached chunk k.  When it follows the chunk reached last (reads
 * front to back), the checker checks the next AHEAD chunks meanwhile.
 */
static void check_ahead(struct dfs_store *st, struct dfs_chunks *c, int fd,
			uint32_t k)
{
	uint32_t last = __atomic_exchange_n(&c->next, k + 1, __ATOMIC_RELAXED);

	uint64_t from = ((uint64_t)k + 1) * c->chunk;

	if (k != 0 && k != last)
		return;
	/* The disk fetches them while the checker hashes the one before. */
	if (from < c->size)
		(void)posix_fadvise(fd, (off_t)from, (off_t)AHEAD * c->chunk,
				    POSIX_FADV_WILLNEED);
	for (uint32_t i = 1; i <= AHEAD && i < c->n - k; i++)
		queue_chunk(st, c, fd, k + i);
}

/* ---- a read --------------------------------------------------------------------- */

int dfs_chunks_check(struct dfs_store *st, struct dfs_chunks *c, int fd,
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
		check_ahead(st, c, fd, (uint32_t)k);
		if (dfs_chunk_claim(st, &c->blob, (uint32_t)k, c->n, true) ==
		    DFS_CHUNK_GOOD)
			continue;
		if (!buf)
			buf = malloc(c->chunk);
		rc = buf ? check_one(&c->blob, c->size, c->chunk, (uint32_t)k,
				     c->sum[k], fd, buf, false)
			 : -ENOMEM;
		dfs_chunk_checked(st, &c->blob, (uint32_t)k, c->n, rc == 0);
	}
	free(buf);
	return rc;
}
