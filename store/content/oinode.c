// SPDX-License-Identifier: MIT
/*
 * oinode.c - the table of inodes somebody holds: the kernel (one hold per
 * lookup reply, given back by forget) or open files.  A node whose last
 * link went stays until nothing holds it, then its rows and work file go.
 * st->lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "content.h"

/* Fibonacci hashing: the top bits of ino times 2^64 / phi. */
static size_t bucket_of(uint64_t ino, unsigned bits)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

static size_t bucket(const struct dfs_content *c, uint64_t ino)
{
	return bucket_of(ino, c->imap_bits);
}

int dfs_content_init(struct dfs_store *st)
{
	st->content = calloc(1, sizeof(*st->content));
	if (!st->content)
		return -ENOMEM;
	st->content->imap_bits = DFS_IMAP_BITS;
	st->content->imap =
		calloc((size_t)1 << DFS_IMAP_BITS, sizeof(*st->content->imap));
	if (!st->content->imap) {
		free(st->content);
		st->content = NULL;
		return -ENOMEM;
	}
	pthread_cond_init(&st->content->seal_done, NULL);
	pthread_cond_init(&st->content->released, NULL);
	pthread_mutex_init(&st->content->files_lock, NULL);
	return 0;
}

size_t dfs_imap_buckets(const struct dfs_content *c)
{
	return (size_t)1 << c->imap_bits;
}

/*
 * Twice the buckets once there are two inodes a bucket: chains stay
 * short however many the kernel holds (with 4,096 buckets for good, 25
 * a chain at 100,000 files put the lookup at 2 % of the daemon's time).
 * Without the memory, the chains only grow longer.
 */
static void imap_grow(struct dfs_content *c)
{
	unsigned bits = c->imap_bits + 1;
	size_t n = dfs_imap_buckets(c);
	struct dfs_oinode **t = calloc(n * 2, sizeof(*t));

	if (!t)
		return;
	for (size_t b = 0; b < n; b++) {
		struct dfs_oinode *oi = c->imap[b], *next;

		for (; oi; oi = next) {
			size_t nb = bucket_of(oi->ino, bits);

			next = oi->next;
			oi->next = t[nb];
			t[nb] = oi;
		}
	}
	free(c->imap);
	c->imap = t;
	c->imap_bits = bits;
}

void dfs_content_free(struct dfs_store *st)
{
	struct dfs_content *c = st->content;

	if (!c)
		return;
	dfs_verify_free_all(st);
	for (size_t b = 0; b < dfs_imap_buckets(c); b++) {
		struct dfs_oinode *oi = c->imap[b], *next;

		for (; oi; oi = next) {
			next = oi->next;
			dfs_oinode_close_fd(oi);
			pthread_rwlock_destroy(&oi->fdlock);
			free(oi);
		}
	}
	pthread_cond_destroy(&c->seal_done);
	pthread_cond_destroy(&c->released);
	pthread_mutex_destroy(&c->files_lock);
	free(c->imap);
	free(c);
	st->content = NULL;
}

struct dfs_oinode *dfs_oinode_find(struct dfs_store *st, uint64_t ino)
{
	struct dfs_oinode *oi = st->content->imap[bucket(st->content, ino)];

	while (oi && oi->ino != ino)
		oi = oi->next;
	return oi;
}

struct dfs_oinode *dfs_oinode_get(struct dfs_store *st, uint64_t ino)
{
	struct dfs_content *c = st->content;
	struct dfs_oinode *oi = dfs_oinode_find(st, ino);
	size_t b;

	if (oi)
		return oi;
	if (c->imap_count >= 2 * dfs_imap_buckets(c) &&
	    c->imap_bits < DFS_IMAP_BITS_MAX)
		imap_grow(c);
	b = bucket(c, ino);
	oi = calloc(1, sizeof(*oi));
	if (!oi)
		abort(); /* out of memory for a few bytes: no way on */
	oi->ino = ino;
	oi->fd = -1;
	pthread_rwlock_init(&oi->fdlock, NULL);
	oi->next = c->imap[b];
	c->imap[b] = oi;
	c->imap_count++;
	return oi;
}

void dfs_oinode_close_fd(struct dfs_oinode *oi)
{
	if (oi->fd >= 0)
		close(oi->fd);
	oi->fd = -1;
	free(oi->chunks);
	oi->chunks = NULL;
}

/*
 * Before an open of a snapshot's file picks how it is read.  Opens read
 * through us that their holders closed have their RELEASE on its way
 * (sent as close returned), but another thread of ours may not have
 * taken it yet: wait for them, 50 ms at most (a dup'd fd outlives a
 * close).  Then a chunk list whose every chunk was found good checks
 * nothing more: dropped, so the file can pass through (cat f; cat f).
 */
void dfs_oinode_settle_reads(struct dfs_store *st, struct dfs_oinode *oi)
{
	struct timespec until = dfs_ns_to_ts(dfs_now_ns() + 50000000);
	/* The thread that takes requests in order took every RELEASE queued
	 * before this open; one still to come would wait behind it. */
	bool in_order = st->content->has_in_order &&
			pthread_equal(st->content->in_order, pthread_self());

	while (!in_order && oi->cached_opens &&
	       oi->cached_opens == oi->cached_closed)
		if (pthread_cond_timedwait(&st->content->released, &st->lock,
					   &until) != 0)
			break;
	if (!oi->chunks || oi->cached_opens || !dfs_blob_is_good(st, &oi->blob))
		return;
	pthread_rwlock_wrlock(&oi->fdlock);
	free(oi->chunks);
	oi->chunks = NULL;
	pthread_rwlock_unlock(&oi->fdlock);
}

void dfs_store_serve_in_order(struct dfs_store *st)
{
	pthread_mutex_lock(&st->lock);
	st->content->in_order = pthread_self();
	st->content->has_in_order = true;
	pthread_mutex_unlock(&st->lock);
}

/* No open file, no seal in flight: the content fd is not needed (the
 * kernel may hold thousands of inodes; fds are reopened on demand). */
void dfs_oinode_idle(struct dfs_oinode *oi)
{
	if (oi->opens || oi->queued || oi->sealing || oi->mem_dirty ||
	    oi->fd < 0)
		return;
	dfs_oinode_close_fd(oi);
	oi->is_mem = false;
}

void dfs_oinode_maybe_free(struct dfs_store *st, struct dfs_oinode *oi)
{
	struct dfs_content *c = st->content;
	struct dfs_oinode **pp = &c->imap[bucket(c, oi->ino)];

	dfs_oinode_idle(oi);
	if (oi->holds || oi->opens || oi->queued || oi->sealing ||
	    oi->seal_failed || oi->dirty_times)
		return;
	while (*pp && *pp != oi)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = oi->next;
		c->imap_count--;
	}
	dfs_oinode_close_fd(oi);
	pthread_rwlock_destroy(&oi->fdlock);
	free(oi);
}

void dfs_hold_locked(struct dfs_store *st, uint64_t ino)
{
	dfs_oinode_get(st, ino)->holds++;
}

bool dfs_content_held(struct dfs_store *st, uint64_t ino)
{
	struct dfs_oinode *oi = dfs_oinode_find(st, ino);

	return oi && (oi->holds || oi->opens || oi->queued || oi->sealing);
}

int dfs_content_drop(struct dfs_store *st, uint64_t ino)
{
	char name[32];
	int rc;

	if (dfs_content_held(st, ino))
		return 0;
	rc = dfs_inode_delete(st, ino);
	if (rc == 0) {
		dfs_work_name(ino, name);
		(void)unlinkat(st->work_fd, name, 0);
	}
	return rc;
}

/* Blobs may have lost their last reference: the sealer (the only thread
 * that creates or deletes blob files) reclaims them when idle. */
void dfs_reclaim_later(struct dfs_store *st)
{
	st->content->reclaim_wanted = true;
	dfs_wake(st);
}

void dfs_content_reap(struct dfs_store *st, uint64_t ino)
{
	struct dfs_attr a;

	if (!dfs_content_held(st, ino) && dfs_inode_attr(st, ino, &a) == 0 &&
	    a.nlink == 0 && !(a.flags & DFS_NODE_SYSTEM) &&
	    dfs_db_begin(st) == 0 &&
	    dfs_finish(st, dfs_content_drop(st, ino)) == 0)
		dfs_reclaim_later(st); /* its blob may have no other name */
}

void dfs_forget_locked(struct dfs_store *st, uint64_t ino, uint64_t n)
{
	struct dfs_oinode *oi = dfs_oinode_find(st, ino);

	if (!oi)
		return;
	oi->holds = oi->holds > n ? oi->holds - n : 0;
	dfs_content_reap(st, ino);
	dfs_oinode_maybe_free(st, oi);
}

void dfs_content_overlay(struct dfs_store *st, struct dfs_attr *attr, bool work)
{
	struct dfs_oinode *oi = dfs_oinode_find(st, attr->ino);
	struct stat sb;
	int rc = -1;

	if (oi && oi->dirty_times) {
		attr->mtime = oi->mtime;
		attr->ctime = oi->ctime;
	}
	if (oi && oi->is_mem && oi->fd >= 0 && fstat(oi->fd, &sb) == 0) {
		attr->size = (uint64_t)sb.st_size;
		attr->blocks = ((uint64_t)sb.st_size + 511) / 512;
		return;
	}
	if (!work)
		return;
	if (oi && oi->fd >= 0 && oi->is_work) {
		rc = fstat(oi->fd, &sb);
	} else {
		char name[32];

		dfs_work_name(attr->ino, name);
		rc = fstatat(st->work_fd, name, &sb, 0);
	}
	if (rc == 0) {
		attr->size = (uint64_t)sb.st_size;
		attr->blocks = (uint64_t)sb.st_blocks;
	}
}

static int persist_times(struct dfs_store *st, struct dfs_oinode *oi)
{
	int rc;

	if (!oi->dirty_times)
		return 0;
	rc = dfs_inode_set_times(st, oi->ino, dfs_ts_to_ns(oi->mtime),
				 dfs_ts_to_ns(oi->ctime));
	if (rc == 0)
		oi->dirty_times = false;
	return rc;
}

int dfs_content_persist_times(struct dfs_store *st, uint64_t ino)
{
	struct dfs_oinode *oi = dfs_oinode_find(st, ino);

	return oi ? persist_times(st, oi) : 0;
}
