// SPDX-License-Identifier: MIT
/*
 * loop.c - how the daemon's thread takes requests: one at a time, in the
 * order the kernel queued them, with helpers for the calls that may wait.
 *
 * libfuse's own multi-threaded loop keeps a pool of threads blocked in a
 * read of /dev/fuse, and the kernel wakes the one that has waited
 * longest: each request of a `cp -r` or an untar, which send them one
 * after the other, went to another thread, on another CPU, with its
 * caches cold.  Measured, eight alternate rounds on fresh stores of this
 * 2-CPU machine: a cp -r of 10,000 files of 4 KiB took a median 3.10 s
 * that way and 2.69 s served by one thread (-s); an untar of the same
 * tree 3.71 s against 3.44 s.  Most calls hold the store's lock anyway.
 *
 * But one thread alone would make every caller wait for a call that waits
 * on the disk or on another thread: an fsync, a large write, an open for
 * writing of a file whose content is being sealed, a snapshot or a deploy
 * waiting for seals, a gc (an extended attribute).  Those are handed to
 * helpers (dfs_loop_wants_helper); the thread goes on with the next
 * request meanwhile.  A READ, and a copy_file_range (cp's, into a deploy
 * or build/), moves at most about a MiB and stays: handed over, the cold
 * read of 1 GiB in build/ took a median 376 ms against 314 ms served on
 * the thread (five alternate rounds), and a copy deploy of 10,000 files
 * (two copy_file_range each) became slower than a copy into build/.
 * A mount with a registry keeps libfuse's loop (main.c): its opens and
 * deploys may wait on the network.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "deployfs/log.h"
#include "fs.h"

/* WRITEs longer than this may wait on the disk: helpers. */
#define DFS_INLINE_IO_MAX (128u << 10)

bool dfs_loop_wants_helper(const void *req, size_t len)
{
	const struct fuse_in_header *h = req;
	const void *arg = h + 1;
	size_t n = len < sizeof(*h) ? 0 : len - sizeof(*h);

	if (len < sizeof(*h))
		return false; /* libfuse answers what it cannot read */
	switch (h->opcode) {
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
	case FUSE_FALLOCATE:
	case FUSE_MKDIR:
	case FUSE_SYMLINK:
	case FUSE_LINK:
	case FUSE_RENAME:
	case FUSE_RENAME2:
	case FUSE_RMDIR:
	case FUSE_SETXATTR: /* user.deployfs.gc and .prune run there */
	case FUSE_REMOVEXATTR:
		return true;
	case FUSE_WRITE: /* may wait for the disk to take dirty pages */
		return n >= sizeof(struct fuse_write_in) &&
		       ((const struct fuse_write_in *)arg)->size >
			       DFS_INLINE_IO_MAX;
	case FUSE_OPEN:
		/* An open for writing may wait for its file's seal. */
		return n >= sizeof(struct fuse_open_in) &&
		       ((((const struct fuse_open_in *)arg)->flags &
			 O_ACCMODE) != O_RDONLY ||
			(((const struct fuse_open_in *)arg)->flags & O_TRUNC));
	case FUSE_SETATTR:
		return n >= sizeof(struct fuse_setattr_in) &&
		       (((const struct fuse_setattr_in *)arg)->valid &
			FATTR_SIZE);
	default:
		return false;
	}
}

struct job {
	struct job *next;
	struct fuse_buf buf;
};

struct helpers {
	struct fuse_session *se;
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct job *head, **tail;
	bool stop;
	unsigned n;
	pthread_t *threads;
};

static void *helper(void *arg)
{
	struct helpers *hp = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&hp->lock);
		while (!hp->head && !hp->stop)
			pthread_cond_wait(&hp->more, &hp->lock);
		j = hp->head;
		if (j) {
			hp->head = j->next;
			if (!hp->head)
				hp->tail = &hp->head;
		}
		pthread_mutex_unlock(&hp->lock);
		if (!j)
			return NULL; /* stopped, and nothing is left */
		fuse_session_process_buf(hp->se, &j->buf);
		free(j->buf.mem);
		free(j);
	}
}

/* Signals are for the thread that reads /dev/fuse: its read ends. */
static int helpers_start(struct helpers *hp, struct fuse_session *se,
			 unsigned n)
{
	sigset_t all, old;
	int rc = 0;

	*hp = (struct helpers){ .se = se, .tail = &hp->head };
	pthread_mutex_init(&hp->lock, NULL);
	pthread_cond_init(&hp->more, NULL);
	hp->threads = calloc(n, sizeof(*hp->threads));
	if (!hp->threads)
		return -ENOMEM;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (; hp->n < n; hp->n++) {
		rc = -pthread_create(&hp->threads[hp->n], NULL, helper, hp);
		if (rc < 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (hp->n > 0)
		return 0;
	free(hp->threads);
	return rc;
}

/* The helpers answer what they were given, then end. */
static void helpers_stop(struct helpers *hp)
{
	pthread_mutex_lock(&hp->lock);
	hp->stop = true;
	pthread_cond_broadcast(&hp->more);
	pthread_mutex_unlock(&hp->lock);
	for (unsigned i = 0; i < hp->n; i++)
		pthread_join(hp->threads[i], NULL);
	free(hp->threads);
	pthread_cond_destroy(&hp->more);
	pthread_mutex_destroy(&hp->lock);
}

/* Hand buf's request to a helper: 0, or -ENOMEM (then serve it here). */
static int hand_over(struct helpers *hp, struct fuse_buf *buf)
{
	struct job *j = malloc(sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->next = NULL;
	j->buf = *buf;
	buf->mem = NULL; /* the next request gets a buffer of its own */
	pthread_mutex_lock(&hp->lock);
	*hp->tail = j;
	hp->tail = &j->next;
	pthread_cond_signal(&hp->more);
	pthread_mutex_unlock(&hp->lock);
	return 0;
}

int dfs_loop(struct dfs_fs *fs, unsigned helpers)
{
	struct fuse_buf buf = { .mem = NULL };
	struct helpers hp;
	int rc;

	rc = helpers_start(&hp, fs->se, helpers ? helpers : 1);
	if (rc < 0) {
		dfs_log(DFS_LOG_ERR, "cannot start helper threads: %s",
			strerror(-rc));
		return rc;
	}
	dfs_store_serve_in_order(fs->st);
	for (;;) {
		if (fuse_session_exited(fs->se)) {
			rc = 0; /* told to stop (SIGTERM): a clean end */
			break;
		}
		rc = fuse_session_receive_buf(fs->se, &buf);
		if (rc == -EINTR)
			continue;
		if (rc <= 0)
			break; /* 0: unmounted */
		if ((buf.flags & FUSE_BUF_IS_FD) ||
		    !dfs_loop_wants_helper(buf.mem, buf.size) ||
		    hand_over(&hp, &buf) < 0)
			fuse_session_process_buf(fs->se, &buf);
	}
	free(buf.mem);
	helpers_stop(&hp);
	fuse_session_reset(fs->se);
	return rc < 0 ? rc : 0;
}
