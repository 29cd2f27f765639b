// SPDX-License-Identifier: MIT
/*
 * regfollow.c - a daemon served with a registry (deployfs -o
 * registry=URL): the thread that listens on the registry's channel and
 * makes here each package another host published (model/regsub.c stages
 * it, model/pkgimport.c makes it in one transaction, recorded as an
 * import from the registry).  It catches up from the start of the
 * registry's order when it starts and after each reconnection, and after
 * each NOTIFY from the last package it saw; a package that is here
 * already (made here, or removed here since) is left as it is.  Packages
 * made here are published from model/package.c.
 *
 * While the registry cannot be reached the store is served from what is
 * here; the thread tries again every DFS_REG_RETRY_MS.
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

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -errno : 0;
}

/* Stage component@version in a folder of the store, make it, remove the
 * folder. */
static int make_here(struct dfs_reg_follower *l, PGconn *c,
		     const char *component, const char *version,
		     const char *host)
{
	struct dfs_store *st = l->st;
	struct dfs_actor actor = { .cmd = "registry" };
	char stage[PATH_MAX], origin[300], why[512] = "";
	int rc;

	snprintf(stage, sizeof(stage), "%s/regstage.XXXXXX", st->path);
	if (!mkdtemp(stage))
		return -errno;
	snprintf(origin, sizeof(origin), "registry (published by %s)", host);
	rc = dfs_reg_stage(c, component, version, stage, origin, why,
			   sizeof(why));
	if (rc == 0) {
		pthread_mutex_lock(&st->lock);
		rc = dfs_pkg_import(st, &actor, stage, why, sizeof(why));
		pthread_mutex_unlock(&st->lock);
	}
	if (rc < 0)
		dfs_log(DFS_LOG_ERR, "registry: %s@%s from %s not made: %s",
			component, version, host, why[0] ? why : strerror(-rc));
	nftw(stage, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}

static int apply(void *ctx, const char *component, const char *version,
		 const char *host, int64_t seq, PGconn *c)
{
	struct dfs_reg_follower *l = ctx;
	int rc;

	pthread_mutex_lock(&l->st->lock);
	rc = dfs_pkg_known(l->st, component, version);
	pthread_mutex_unlock(&l->st->lock);
	if (rc == 0)
		rc = make_here(l, c, component, version, host);
	/* Unreachable: again from here once reconnected.  Anything else
	 * was logged: the next package. */
	if (rc == -EHOSTDOWN)
		return rc;
	l->seen = seq;
	return 0;
}

/* Wait for the stop byte or ms: true when stopping. */
static bool stopping(struct dfs_reg_follower *l, int fd, int ms)
{
	struct pollfd p[2] = { { .fd = l->stop[0], .events = POLLIN },
			       { .fd = fd, .events = POLLIN } };

	if (poll(p, fd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR)
		return true;
	return p[0].revents != 0;
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
		if (rc == 0)
			rc = dfs_reg_news(c, l->seen, apply, l, why,
					  sizeof(why));
		if (rc < 0) {
			if (!down)
				dfs_log(DFS_LOG_WARN, "registry: %s", why);
			down = true;
			if (c)
				PQfinish(c);
			c = NULL;
			if (stopping(l, -1, DFS_REG_RETRY_MS))
				break;
			continue;
		}
		if (down)
			dfs_log(DFS_LOG_INFO, "registry: reconnected");
		down = false;
		if (stopping(l, PQsocket(c), -1))
			break;
		PQconsumeInput(c);
		for (PGnotify *n; (n = PQnotifies(c));)
			PQfreemem(n);
	}
	if (c)
		PQfinish(c);
	return NULL;
}

int dfs_store_registry(struct dfs_store *st, const char *url, const char *host,
		       char *why, size_t cap)
{
	struct dfs_reg_follower *l;
	int rc, opened;

	if (strlen(url) >= sizeof(l->url))
		return -ENAMETOOLONG;
	pthread_mutex_lock(&st->lock);
	opened = dfs_registry_open(st, url, why, cap);
	if (opened == 0 || opened == -EHOSTDOWN)
		dfs_registry_set_host(st, host);
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
