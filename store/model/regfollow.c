// SPDX-License-Identifier: MIT
/*
 * regfollow.c - a daemon served with a registry (deployfs -o
 * registry=URL): the thread that listens on the registry's channel and,
 * at start, after each NOTIFY and after each reconnection, applies here
 * what other hosts did (regact.c), from the last act this host applied.
 *
 * While the registry cannot be reached the store is served from what is
 * here; the thread tries again every DFS_REG_RETRY_MS, and so it does
 * while an act could not be applied here (a full disk, say).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"

#define DFS_REG_RETRY_MS 1000

struct dfs_reg_follower {
	struct dfs_store *st;
	pthread_t thread;
	int stop[2];  /* a byte written to stop[1] ends the thread */
	int64_t seen; /* the last package's place in the registry's order */
	char url[PATH_MAX];
};

/* Wait for the stop byte or ms: true when stopping. */
static bool stopping(struct dfs_reg_follower *l, int fd, int ms)
{
	struct pollfd p[2] = { { .fd = l->stop[0], .events = POLLIN },
			       { .fd = fd, .events = POLLIN } };

	if (poll(p, fd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR)
		return true;
	return p[0].revents != 0;
}

/* Apply here what the registry has that this host has not, the bytes of
 * new packages fetched first without st->lock: 0 or -errno. */
static int catch_up(struct dfs_reg_follower *l, PGconn *c, char *why,
		    size_t cap)
{
	int64_t after;
	int rc;

	pthread_mutex_lock(&l->st->lock);
	after = l->st->registry->applied;
	pthread_mutex_unlock(&l->st->lock);
	rc = dfs_reg_prestage(l->st, c, after, why, cap);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&l->st->lock);
	rc = dfs_reg_catch_up_locked(l->st, INT64_MAX, NULL, 0, NULL, why, cap);
	if (rc == 0) /* what an act of this host staged first, say */
		dfs_reg_unstage_all(l->st);
	if (rc == 0)
		rc = dfs_reg_replay_locked(l->st, why, cap);
	pthread_mutex_unlock(&l->st->lock);
	return rc;
}

static void *listen_main(void *arg)
{
	struct dfs_reg_follower *l = arg;
	PGconn *c = NULL;
	char why[512];
	bool down = false;

	for (;;) {
		int rc = 0;

		if (!c) {
			rc = dfs_reg_connect(l->url, &c, why, sizeof(why));
			if (rc == 0)
				rc = dfs_reg_exec(c, "listening",
						  "LISTEN deployfs", why,
						  sizeof(why));
		}
		/* Listening first: no event is missed between the two. */
		if (rc == 0)
			rc = catch_up(l, c, why, sizeof(why));
		if (rc < 0 && (!c || PQstatus(c) != CONNECTION_OK)) {
			if (c)
				PQfinish(c);
			c = NULL;
		}
		if (rc < 0 && !down)
			dfs_log(DFS_LOG_WARN, "registry: %s", why);
		if (rc == 0 && down)
			dfs_log(DFS_LOG_INFO, "registry: caught up again");
		down = rc < 0;
		if (stopping(l, c ? PQsocket(c) : -1,
			     down ? DFS_REG_RETRY_MS : -1))
			break;
		if (c)
			PQconsumeInput(c);
		for (PGnotify *n; c && (n = PQnotifies(c));)
			PQfreemem(n);
	}
	if (c)
		PQfinish(c);
	return NULL;
}

int dfs_registry_start(struct dfs_store *st, const char *url, const char *host,
		       dfs_reg_apply_fn apply, char *why, size_t cap)
{
	struct dfs_reg_follower *l;
	int rc, opened;

	if (strlen(url) >= sizeof(l->url))
		return -ENAMETOOLONG;
	pthread_mutex_lock(&st->lock);
	opened = dfs_registry_open(st, url, why, cap);
	if (opened == 0 || opened == -EHOSTDOWN) {
		dfs_registry_set_host(st, host);
		st->registry->apply = apply;
		rc = dfs_audit_reg_seq(st, &st->registry->applied);
		if (rc < 0) {
			dfs_registry_close(st);
			opened = rc;
		}
	}
	dfs_reg_unstage_all(st); /* staged ahead by a daemon that died */
	/* Up to date before the mount serves anything: what the others
	 * made is there at the first ls.  The thread tries again. */
	if (opened == 0 &&
	    dfs_reg_catch_up_locked(st, INT64_MAX, NULL, 0, NULL, why, cap) < 0)
		dfs_log(DFS_LOG_WARN, "registry: %s", why);
	pthread_mutex_unlock(&st->lock);
	if (opened < 0 && opened != -EHOSTDOWN)
		return opened;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->st = st;
	snprintf(l->url, sizeof(l->url), "%s", url);
	if (pipe2(l->stop, O_CLOEXEC) < 0) {
		free(l);
		return -errno;
	}
	rc = -pthread_create(&l->thread, NULL, listen_main, l);
	if (rc < 0) {
		close(l->stop[0]);
		close(l->stop[1]);
		free(l);
		return rc;
	}
	st->registry->follower = l;
	return opened;
}

void dfs_registry_stop(struct dfs_store *st)
{
	struct dfs_reg_follower *l =
		st->registry ? st->registry->follower : NULL;

	if (!st->registry)
		return;
	if (l) {
		if (write(l->stop[1], "", 1) < 0)
			dfs_log(DFS_LOG_ERR, "registry: cannot stop: %m");
		pthread_join(l->thread, NULL);
		close(l->stop[0]);
		close(l->stop[1]);
		free(l);
		st->registry->follower = NULL;
	}
	pthread_mutex_lock(&st->lock);
	dfs_registry_close(st);
	pthread_mutex_unlock(&st->lock);
}
