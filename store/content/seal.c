// SPDX-License-Identifier: MIT
/*
 * seal.c - the sealer: turns closed work files into blobs, durably and in
 * batches, so a burst of small files costs two syncfs() calls per batch
 * rather than an fsync per file.  Also reclaims blobs nothing refers to.
 *
 * For each batch: hash each work file (its name and, in the same pass,
 * the chunk list its reads are checked with); syncfs (the bytes are on
 * disk); record the blob rows and their chunk lists; link each work file
 * to blobs/XX/HASH (EEXIST: the same content is already stored); syncfs
 * (the names are on disk); point the inodes at their blobs in one durable
 * transaction; unlink the work files.  A crash anywhere leaves either the
 * work file named by its inode or a durable blob named by its inode, plus
 * at worst a blob row (and chunk list) with no references, which reclaim
 * removes.
 *
 * While an inode is sealing, opens for writing and truncates wait
 * (oi->sealing, st->content->seal_done), so the bytes hashed are the bytes linked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deployfs/log.h"
#include "content.h"

#define SEAL_BATCH_MAX 4096
#define SEAL_GATHER_MS 20

struct seal_item {
	struct dfs_oinode *oi;
	struct dfs_hash hash;
	struct dfs_chunks *chunks; /* of the bytes hashed */
	uint64_t size;
	uint64_t blocks;
	int rc;
};

static void hash_item(struct dfs_store *st, struct seal_item *it)
{
	char name[32];
	struct stat sb;
	int fd;

	dfs_work_name(it->oi->ino, name);
	fd = openat(st->work_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		it->rc = -errno;
		return;
	}
	it->rc = dfs_hash_fd_chunked(fd, &it->hash, &it->chunks);
	if (it->rc == 0 && fstat(fd, &sb) < 0)
		it->rc = -errno;
	if (it->rc == 0) {
		it->size = (uint64_t)sb.st_size;
		it->blocks = (uint64_t)sb.st_blocks;
	}
	close(fd);
}

static int record_rows(struct dfs_store *st, struct seal_item *items, size_t n,
		       bool inodes)
{
	int rc = dfs_db_begin(st);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct seal_item *it = &items[i];

		if (it->rc < 0)
			continue;
		if (!inodes) {
			rc = dfs_blob_row_add(st, &it->hash, it->size);
			if (rc == 0 && it->chunks)
				rc = dfs_chunks_put(st, it->chunks);
			continue;
		}
		rc = dfs_inode_seal(st, it->oi->ino, &it->hash, it->size,
				    it->blocks);
		if (rc == -ESTALE) {
			it->rc = rc; /* deleted meanwhile */
			rc = 0;
		}
	}
	if (rc < 0) {
		dfs_db_rollback(st);
		return rc;
	}
	return dfs_db_commit(st, inodes);
}

static void link_item(struct dfs_store *st, struct seal_item *it)
{
	char name[32], path[40];
	int rc;

	if (it->rc < 0)
		return;
	dfs_work_name(it->oi->ino, name);
	dfs_blob_relpath(&it->hash, path);
	rc = dfs_io_linkat(st->work_fd, name, st->blobs_fd, path);
	/* Hashed here and synced: good.  A blob file already there under
	 * that name is not these bytes; it is checked when it is read. */
	if (rc == 0)
		dfs_blob_mark_good(st, &it->hash);
	it->rc = rc == -EEXIST ? 0 : rc;
}

static void fail_all(struct seal_item *items, size_t n, int rc)
{
	for (size_t i = 0; i < n; i++)
		if (items[i].rc == 0)
			items[i].rc = rc;
}

/* Seal items (each oi->sealing set by the caller); st->lock not held. */
static void seal_batch(struct dfs_store *st, struct seal_item *items, size_t n)
{
	int rc;

	for (size_t i = 0; i < n; i++)
		hash_item(st, &items[i]);
	rc = dfs_io_syncfs(st->work_fd);
	if (rc == 0) {
		pthread_mutex_lock(&st->lock);
		rc = record_rows(st, items, n, false);
		pthread_mutex_unlock(&st->lock);
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		link_item(st, &items[i]);
	if (rc == 0)
		rc = dfs_io_syncfs(st->blobs_fd);
	pthread_mutex_lock(&st->lock);
	if (rc == 0)
		rc = record_rows(st, items, n, true);
	if (rc < 0) {
		dfs_log(DFS_LOG_WARN,
			"sealing %zu files failed, they stay "
			"work files: %s",
			n, strerror(-rc));
		fail_all(items, n, rc);
	}
	for (size_t i = 0; i < n; i++) {
		struct dfs_oinode *oi = items[i].oi;
		char name[32];

		if (items[i].rc == 0) {
			dfs_work_name(oi->ino, name);
			(void)unlinkat(st->work_fd, name, 0);
			oi->is_work = false;
		}
		free(items[i].chunks);
		items[i].chunks = NULL;
		oi->seal_failed = items[i].rc < 0 && items[i].rc != -ESTALE;
		oi->sealing = false;
		dfs_content_reap(st, oi->ino);
		dfs_oinode_maybe_free(st, oi);
	}
	dfs_blob_reclaim_locked(st);
	pthread_cond_broadcast(&st->content->seal_done);
	pthread_mutex_unlock(&st->lock);
}

void dfs_seal_enqueue(struct dfs_store *st, struct dfs_oinode *oi)
{
	if (oi->queued || oi->sealing)
		return;
	oi->queued = true;
	oi->qnext = st->content->queue;
	st->content->queue = oi;
	/* A sealer that gathers looks again within SEAL_GATHER_MS: wake it
	 * only from idle, or for a full batch. */
	if (++st->content->queued == SEAL_BATCH_MAX)
		pthread_cond_signal(&st->wake);
	else
		dfs_wake(st);
}

/* Take up to max queued inodes that can be sealed now (st->lock held). */
static size_t take_batch(struct dfs_store *st, struct seal_item *items,
			 size_t max)
{
	size_t n = 0;

	while (st->content->queue && n < max) {
		struct dfs_oinode *oi = st->content->queue;

		st->content->queue = oi->qnext;
		st->content->queued--;
		oi->queued = false;
		oi->qnext = NULL;
		if (oi->writers > 0 || !oi->is_work) {
			dfs_oinode_maybe_free(st, oi);
			continue;
		}
		oi->sealing = true;
		memset(&items[n], 0, sizeof(items[n]));
		items[n++].oi = oi;
	}
	st->content->in_flight += n;
	return n;
}

static void gather_wait(struct dfs_store *st)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += SEAL_GATHER_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	(void)pthread_cond_timedwait(&st->wake, &st->lock, &until);
}

/* Nothing to seal: wait for work, or until a checkpoint is due. */
static void idle_wait(struct dfs_store *st)
{
	int64_t due = dfs_db_tick_due(st);
	struct timespec until;

	st->idle = true;
	if (!due) {
		pthread_cond_wait(&st->wake, &st->lock);
	} else {
		until = dfs_ns_to_ts(due);
		(void)pthread_cond_timedwait(&st->wake, &st->lock, &until);
	}
	st->idle = false;
}

static void drain_locked(struct dfs_store *st, struct seal_item *items)
{
	size_t n = take_batch(st, items, SEAL_BATCH_MAX);

	if (!n) {
		/* Only files reopened for writing were queued: they left the
		 * queue, and whoever waits for it to empty must hear so. */
		pthread_cond_broadcast(&st->content->seal_done);
		return;
	}
	pthread_mutex_unlock(&st->lock);
	seal_batch(st, items, n);
	pthread_mutex_lock(&st->lock);
	st->content->in_flight -= n;
	pthread_cond_broadcast(&st->content->seal_done);
}

static void *sealer_main(void *arg)
{
	struct dfs_store *st = arg;
	struct seal_item *items = calloc(SEAL_BATCH_MAX, sizeof(*items));

	if (!items)
		return NULL;
	pthread_mutex_lock(&st->lock);
	while (!st->content->stopping || st->content->queue) {
		if (!st->content->queue && st->content->reclaim_wanted) {
			st->content->reclaim_wanted = false;
			dfs_blob_reclaim_locked(st);
			continue;
		}
		/* A checkpoint lets go of the lock: stopping, new work and
		 * its wake-up may have come meanwhile, so look again. */
		if (dfs_db_tick_locked(st))
			continue;
		if (!st->content->queue &&
		    (st->txn_open || st->read_open || st->later_due)) {
			gather_wait(st);
			continue;
		}
		if (!st->content->queue) {
			idle_wait(st);
			continue;
		}
		if (!st->content->stopping && !st->content->seal_urgent &&
		    st->content->queued < SEAL_BATCH_MAX)
			gather_wait(st);
		st->content->seal_urgent = false;
		drain_locked(st, items);
	}
	pthread_mutex_unlock(&st->lock);
	free(items);
	return NULL;
}

int dfs_sealer_start(struct dfs_store *st)
{
	int rc = pthread_create(&st->content->sealer, NULL, sealer_main, st);

	if (rc)
		return -rc;
	st->content->sealer_running = true;
	pthread_mutex_lock(&st->lock);
	st->read_hold = true; /* its tick ends read transactions */
	pthread_mutex_unlock(&st->lock);
	return 0;
}

void dfs_sealer_stop(struct dfs_store *st)
{
	if (!st->content->sealer_running)
		return;
	pthread_mutex_lock(&st->lock);
	st->content->stopping = true;
	st->read_hold = false; /* no tick will end one from now */
	dfs_db_read_end(st);
	pthread_cond_broadcast(&st->wake);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->content->sealer, NULL);
	st->content->sealer_running = false;
}

/* Queue again the files whose sealing failed (st->lock held). */
static void retry_failed_locked(struct dfs_store *st)
{
	for (size_t b = 0; b < dfs_imap_buckets(st->content); b++)
		for (struct dfs_oinode *oi = st->content->imap[b]; oi;
		     oi = oi->next)
			if (oi->seal_failed && oi->is_work && !oi->writers) {
				oi->seal_failed = false;
				dfs_seal_enqueue(st, oi);
			}
}

/*
 * Seal oi now if it waits in the queue: a file closed a moment ago and
 * opened for writing again must first become its saved content (what a
 * package takes meanwhile).  st->lock held; it is let go while waiting.
 */
void dfs_seal_now(struct dfs_store *st, struct dfs_oinode *oi)
{
	struct seal_item *items;

	if (!oi->queued && !oi->sealing)
		return;
	if (st->content->sealer_running) {
		st->content->seal_urgent = true;
		pthread_cond_signal(&st->wake);
		while (oi->queued || oi->sealing)
			pthread_cond_wait(&st->content->seal_done, &st->lock);
		return;
	}
	items = calloc(SEAL_BATCH_MAX, sizeof(*items));
	while (items && (oi->queued || oi->sealing))
		drain_locked(st, items);
	free(items);
}

int dfs_content_sync(struct dfs_store *st)
{
	struct seal_item *items = NULL;

	(void)dfs_db_flush(st);
	retry_failed_locked(st);
	if (!st->content->sealer_running && st->content->queue) {
		items = calloc(SEAL_BATCH_MAX, sizeof(*items));
		while (items && st->content->queue)
			drain_locked(st, items);
	}
	while (st->content->queue || st->content->in_flight)
		pthread_cond_wait(&st->content->seal_done, &st->lock);
	if (!st->content->sealer_running && st->content->reclaim_wanted) {
		st->content->reclaim_wanted = false;
		dfs_blob_reclaim_locked(st);
	}
	free(items);
	return 0;
}

int dfs_store_sync(struct dfs_store *st)
{
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = dfs_content_sync(st);
	pthread_mutex_unlock(&st->lock);
	return rc;
}
