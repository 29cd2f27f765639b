// SPDX-License-Identifier: MIT
/*
 * notice.c - changes the kernel must hear of.  Most changes of the tree
 * come from a call on the entry itself, and the kernel updates its
 * caches (and tells inotify) on its own.  Some do not: a deploy through
 * ENV/N replaces ENV/N@OLD by ENV/N@NEW, an undeploy by rm ENV/N takes
 * ENV/N@V away.  The trees push those here (st->lock held); the daemon's
 * notifier thread takes them and tells the kernel (libfuse's notify
 * calls), so `inotifywait -m ENV` and an open file-manager view see the
 * change.  An act of another host (the registry) is shown to watchers by
 * a call the daemon makes on its own mount (fs/announce.c).  A bounded
 * ring: if nobody takes them (no daemon, unit tests), the oldest are
 * dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "storage.h"

static struct dfs_notice *push(struct dfs_store *st, uint64_t parent,
			       const char *name)
{
	struct dfs_notices *q = &st->notices;
	struct dfs_notice *n;

	if (q->stopped)
		return NULL;
	if (q->n == DFS_NOTICES_MAX) { /* drop the oldest */
		q->head = (q->head + 1) % DFS_NOTICES_MAX;
		q->n--;
	}
	n = &q->ring[(q->head + q->n) % DFS_NOTICES_MAX];
	memset(n, 0, sizeof(*n));
	n->parent = parent;
	snprintf(n->name, sizeof(n->name), "%s", name);
	q->n++;
	pthread_cond_signal(&q->cond);
	return n;
}

void dfs_notice_push(struct dfs_store *st, uint64_t parent, uint64_t child,
		     const char *name, bool gone)
{
	struct dfs_notice *n = push(st, parent, name);

	if (n) {
		n->child = child;
		n->gone = gone;
	}
}

void dfs_notice_show(struct dfs_store *st, uint64_t parent, const char *env,
		     const char *name, enum dfs_show show)
{
	struct dfs_notice *n = push(st, parent, name);

	if (n) {
		n->show = show;
		snprintf(n->env, sizeof(n->env), "%s", env);
	}
}

/* Unlike an entry's notice (which needs the kernel's lock of the folder,
 * held by whoever waits on a call of ours), dropping an inode's
 * attributes takes no lock: it is done at once, before the call that
 * changed them is answered. */
void dfs_notice_attr(struct dfs_store *st, uint64_t ino)
{
	if (st->attr_changed)
		st->attr_changed(st->attr_changed_arg, ino);
}

void dfs_store_on_attr_change(struct dfs_store *st,
			      void (*fn)(void *arg, uint64_t ino), void *arg)
{
	pthread_mutex_lock(&st->lock);
	st->attr_changed = fn;
	st->attr_changed_arg = arg;
	pthread_mutex_unlock(&st->lock);
}

int dfs_store_notice_wait(struct dfs_store *st, struct dfs_notice *ret)
{
	struct dfs_notices *q = &st->notices;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	while (!q->stopped && q->n == 0)
		pthread_cond_wait(&q->cond, &st->lock);
	if (q->stopped) {
		rc = -ESHUTDOWN;
	} else {
		*ret = q->ring[q->head];
		q->head = (q->head + 1) % DFS_NOTICES_MAX;
		q->n--;
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

void dfs_store_notices_stop(struct dfs_store *st)
{
	pthread_mutex_lock(&st->lock);
	st->notices.stopped = true;
	pthread_cond_broadcast(&st->notices.cond);
	pthread_mutex_unlock(&st->lock);
}
