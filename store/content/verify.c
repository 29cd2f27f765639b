// SPDX-License-Identifier: MIT
/*
 * verify.c - checking what a copy writes into an environment against the
 * package it names, without storing it.  Each byte written is compared
 * with the package's content as it arrives (or, for copy_file_range from
 * a file with the same content identity, taken as equal without reading);
 * the ranges written are kept so that close can tell a complete,
 * identical file from a short or differing one.  The package's content
 * is checked against its name before anything is compared with it.
 * st->lock held unless said otherwise.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "content.h"

/* ---- content checks -------------------------------------------------------- */

int dfs_blob_verify(struct dfs_store *st, const struct dfs_hash *h,
		    uint64_t size)
{
	int rc;

	if (dfs_blob_is_good(st, h))
		return 0;
	/* As it is served: its bytes in the database, else its file. */
	pthread_mutex_lock(&st->lock);
	rc = dfs_inline_check(st, h);
	pthread_mutex_unlock(&st->lock);
	if (rc != -ENOENT)
		return rc;
	rc = dfs_blob_check_fetch(st, h, size);
	if (rc == -EHOSTDOWN)
		rc = -EIO;
	return rc == -ENOENT ? dfs_blob_missing(h) : rc;
}

static void compare(struct dfs_verify *v, const char *buf, size_t n,
		    uint64_t off, bool *ret_equal);
static void mark_bad(struct dfs_verify *v, uint64_t at);

struct dfs_verify *dfs_verify_find(struct dfs_store *st, uint64_t ino)
{
	for (struct dfs_verify *v = st->content->verifies; v; v = v->next)
		if (v->ino == ino)
			return v;
	return NULL;
}

/*
 * The check of ino, shared by its open handles: a new one expects the
 * content h of size bytes (known) or anything (!known: a temporary file
 * whose final name is not in the package).
 */
struct dfs_verify *dfs_verify_get(struct dfs_store *st, uint64_t ino,
				  const struct dfs_hash *h, uint64_t size,
				  bool known, const struct dfs_actor *actor)
{
	struct dfs_verify *v = dfs_verify_find(st, ino);

	if (v) {
		v->refs++;
		return v;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->ino = ino;
	v->refs = 1;
	v->fd = -1; /* opened when bytes must be compared */
	v->known = known;
	v->want = size;
	if (h)
		v->hash = *h;
	v->actor = *actor;
	v->next = st->content->verifies;
	st->content->verifies = v;
	return v;
}

/* The package's content, opened on first need: a copy_file_range of the
 * same content never reads it. */
static int fd_locked(struct dfs_store *st, struct dfs_verify *v)
{
	int fd = -1, rc;

	if (v->fd >= 0 || !v->known)
		return v->known ? v->fd : -ENOENT;
	/* Checked against its name: a copy is compared with good bytes. */
	rc = dfs_blob_open_checked(st, &v->hash, v->want, &fd);
	if (rc < 0)
		return rc;
	v->fd = fd;
	return fd;
}

int dfs_verify_fd(struct dfs_store *st, struct dfs_verify *v)
{
	int fd;

	/* A large blob file is checked before the lock is taken. */
	if (v->known && v->want > DFS_INLINE_MAX &&
	    !dfs_blob_is_good(st, &v->hash)) {
		fd = dfs_blob_check(st, &v->hash, v->want);
		if (fd < 0 && fd != -ENOENT)
			return fd;
	}
	pthread_mutex_lock(&st->lock);
	fd = fd_locked(st, v);
	pthread_mutex_unlock(&st->lock);
	return fd;
}

void dfs_verify_put(struct dfs_store *st, struct dfs_verify *v)
{
	if (--v->refs > 0)
		return;
	for (struct dfs_verify **p = &st->content->verifies; *p;
	     p = &(*p)->next) {
		if (*p == v) {
			*p = v->next;
			break;
		}
	}
	if (v->fd >= 0)
		close(v->fd);
	free(v->r);
	free(v);
}

/* Forget what was written beyond keep bytes (O_TRUNC: keep 0). */
void dfs_verify_reset(struct dfs_verify *v, uint64_t keep)
{
	size_t j = 0;

	for (size_t i = 0; i < v->nr; i++) {
		if (v->r[i].a >= keep)
			continue;
		v->r[j] = v->r[i];
		if (v->r[j].b > keep)
			v->r[j].b = keep;
		j++;
	}
	v->nr = j;
	v->size = keep;
	if (v->bad && v->bad_at >= keep)
		v->bad = false;
}

/* Mark [off, off + n) as written and equal. */
int dfs_verify_cover(struct dfs_verify *v, uint64_t off, uint64_t n)
{
	uint64_t a = off, b = off + n;
	size_t i = 0, j;

	if (n == 0)
		return 0;
	if (b > v->size)
		v->size = b;
	/* First range that ends at or after a; merge all that touch. */
	while (i < v->nr && v->r[i].b < a)
		i++;
	j = i;
	while (j < v->nr && v->r[j].a <= b) {
		if (v->r[j].a < a)
			a = v->r[j].a;
		if (v->r[j].b > b)
			b = v->r[j].b;
		j++;
	}
	if (i == j) { /* insert at i */
		if (v->nr == v->rcap) {
			size_t cap = v->rcap ? 2 * v->rcap : 8;
			void *nr = realloc(v->r, cap * sizeof(*v->r));

			if (!nr)
				return -ENOMEM;
			v->r = nr;
			v->rcap = cap;
		}
		memmove(&v->r[i + 1], &v->r[i], (v->nr - i) * sizeof(*v->r));
		v->nr++;
	} else if (j - i > 1) {
		memmove(&v->r[i + 1], &v->r[j], (v->nr - j) * sizeof(*v->r));
		v->nr -= j - i - 1;
	}
	v->r[i].a = a;
	v->r[i].b = b;
	return 0;
}

/*
 * A file written with holes (cp --sparse, rsync -S) leaves ranges it never
 * wrote: they hold zeros.  Cover those where the package holds zeros too
 * (st->lock held; dropped while reading).
 */
int dfs_verify_fill_gaps(struct dfs_store *st, struct dfs_verify *v)
{
	uint64_t at = 0;
	size_t i = 0;

	if (v->bad || !v->known || v->size != v->want || dfs_verify_complete(v))
		return 0;
	while (at < v->size) {
		uint64_t end = i < v->nr ? v->r[i].a : v->size;
		bool equal = true;
		int rc;

		if (end > at) {
			rc = fd_locked(st, v);
			if (rc < 0)
				return rc;
			pthread_mutex_unlock(&st->lock);
			compare(v, NULL, end - at, at, &equal);
			pthread_mutex_lock(&st->lock);
			if (!equal) {
				mark_bad(v, at);
				return 0;
			}
			rc = dfs_verify_cover(v, at, end - at);
			if (rc < 0)
				return rc;
			/* Ranges merged: start over from the covered end. */
			i = 0;
			at = 0;
			continue;
		}
		if (i >= v->nr)
			break;
		at = v->r[i++].b;
	}
	return 0;
}

bool dfs_verify_complete(const struct dfs_verify *v)
{
	if (v->bad || !v->known || v->size != v->want)
		return false;
	if (v->want == 0)
		return true;
	return v->nr == 1 && v->r[0].a == 0 && v->r[0].b == v->want;
}

static void mark_bad(struct dfs_verify *v, uint64_t at)
{
	if (!v->bad || at < v->bad_at)
		v->bad_at = at;
	v->bad = true;
}

/*
 * Compare n bytes at off with the package (buf NULL: zeros).  Runs
 * without st->lock: the caller holds a reference on v.
 */
static void compare(struct dfs_verify *v, const char *buf, size_t n,
		    uint64_t off, bool *ret_equal)
{
	char tmp[65536];
	size_t done = 0;

	*ret_equal = true;
	if (off + n > v->want) {
		*ret_equal = false;
		return;
	}
	while (done < n) {
		size_t want = n - done < sizeof(tmp) ? n - done : sizeof(tmp);
		ssize_t got = pread(v->fd, tmp, want, (off_t)(off + done));

		if (got <= 0) {
			*ret_equal = false;
			return;
		}
		for (ssize_t i = 0; !buf && i < got; i++)
			if (tmp[i])
				*ret_equal = false;
		if (buf && memcmp(tmp, buf + done, (size_t)got) != 0)
			*ret_equal = false;
		if (!*ret_equal)
			return;
		done += (size_t)got;
	}
}

/* A write: compare and record.  Always takes the bytes (a difference
 * fails the close). */
ssize_t dfs_verify_write(struct dfs_store *st, struct dfs_verify *v,
			 const void *buf, size_t n, uint64_t off)
{
	bool equal = true;
	int rc = 0;

	if (v->known) {
		rc = dfs_verify_fd(st, v);
		if (rc < 0)
			return rc;
		compare(v, buf, n, off, &equal);
	}
	pthread_mutex_lock(&st->lock);
	if (!v->known) {
		if (off + n > v->size)
			v->size = off + n;
	} else if (!equal) {
		mark_bad(v, off);
		if (off + n > v->size)
			v->size = off + n;
	} else {
		rc = dfs_verify_cover(v, off, n);
	}
	pthread_mutex_unlock(&st->lock);
	return rc < 0 ? rc : (ssize_t)n;
}

/* ftruncate: shorter forgets, longer adds zeros (st->lock held). */
int dfs_verify_truncate(struct dfs_store *st, struct dfs_verify *v,
			uint64_t size)
{
	uint64_t old = v->size;
	bool equal = true;
	int fd;

	if (size <= old) {
		dfs_verify_reset(v, size);
		return 0;
	}
	if (!v->known) {
		v->size = size;
		return 0;
	}
	fd = fd_locked(st, v);
	if (fd < 0)
		return fd;
	pthread_mutex_unlock(&st->lock);
	compare(v, NULL, size - old, old, &equal);
	pthread_mutex_lock(&st->lock);
	if (!equal) {
		mark_bad(v, old);
		v->size = size;
		return 0;
	}
	return dfs_verify_cover(v, old, size - old);
}

void dfs_verify_free_all(struct dfs_store *st)
{
	while (st->content->verifies) {
		struct dfs_verify *v = st->content->verifies;

		st->content->verifies = v->next;
		if (v->fd >= 0)
			close(v->fd);
		free(v->r);
		free(v);
	}
}
