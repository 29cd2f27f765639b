// SPDX-License-Identifier: MIT
/*
 * announce.c - a deploy or undeploy made on another host (the registry),
 * shown to inotify watchers here.  Linux raises no inotify event for a
 * change a FUSE daemon announces with its notify calls; it raises one
 * for a call made on the mount.  So the notifier thread makes that call
 * on this daemon's own mount, after the act is applied, with nothing
 * held:
 *   a link deploy    rename(ENV/.deployfs.N, ENV/N)   MOVED_TO N
 *   a copy deploy    mkdir(ENV/N@V)                  CREATE,ISDIR N@V
 *   an undeploy      unlink(ENV/N)                   DELETE N
 * and the handlers answer the requests of that one thread for those
 * names from what is already applied, changing nothing: the lookup of
 * .deployfs.N is ENV/N's entry and of N nothing, so the kernel renames
 * it into place; the lookup of N@V is nothing and the mkdir its entry;
 * the lookup of N a link of an inode number of its own (the deployment
 * is gone) and the unlink done.  Every other process gets the true
 * answers meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deployfs/log.h"
#include "fs.h"

#define STAGED_PREFIX ".deployfs."
/* Inode numbers of links already gone, shown only to be removed. */
#define GONE_INO_BASE (15ull << 40)

void dfs_announce_init(struct dfs_fs *fs, const char *mountpoint)
{
	pthread_mutex_init(&fs->show_lock, NULL);
	if (!realpath(mountpoint, fs->mnt))
		fs->mnt[0] = '\0';
}

/* The call in progress of the notifier, if req is its own: the notice
 * into *ret. */
static bool showing(fuse_req_t req, fuse_ino_t parent, struct dfs_notice *ret)
{
	struct dfs_fs *fs = fs_of(req);
	bool mine;

	/* Every lookup asks: most while nothing is shown, without a lock. */
	if (__atomic_load_n(&fs->show_tid, __ATOMIC_ACQUIRE) == 0)
		return false;
	pthread_mutex_lock(&fs->show_lock);
	mine = fs->show_tid != 0 && fuse_req_ctx(req)->pid == fs->show_tid &&
	       fs->show.parent == parent;
	if (mine)
		*ret = fs->show;
	pthread_mutex_unlock(&fs->show_lock);
	return mine;
}

static bool is_staged(const struct dfs_notice *n, const char *name)
{
	return n->show == DFS_SHOW_LINK &&
	       !strncmp(name, STAGED_PREFIX, strlen(STAGED_PREFIX)) &&
	       !strcmp(name + strlen(STAGED_PREFIX), n->name);
}

static void reply_none(fuse_req_t req)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	fuse_reply_entry(req, &e);
}

/* ENV/name's entry as applied. */
static void reply_applied(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_fs *fs = fs_of(req);
	struct dfs_attr a;
	int rc = dfs_node_lookup(fs->st, parent, name, &a);

	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, &a);
}

bool dfs_announce_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct dfs_notice n;

	if (!showing(req, parent, &n))
		return false;
	if (is_staged(&n, name)) {
		reply_applied(req, parent, n.name);
		return true;
	}
	if (strcmp(name, n.name) != 0)
		return false;
	if (n.show != DFS_SHOW_GONE) {
		reply_none(req);
		return true;
	}
	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&fs->show_lock);
	e.ino = GONE_INO_BASE + ++fs->show_gone;
	pthread_mutex_unlock(&fs->show_lock);
	e.generation = 1;
	e.attr.st_ino = e.ino;
	e.attr.st_mode = S_IFLNK | 0777;
	e.attr.st_nlink = 1;
	fuse_reply_entry(req, &e);
	return true;
}

bool dfs_announce_call(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_notice n;

	if (!showing(req, parent, &n) ||
	    !(is_staged(&n, name) ||
	      (n.show == DFS_SHOW_GONE && !strcmp(name, n.name))))
		return false;
	fuse_reply_err(req, 0);
	return true;
}

bool dfs_announce_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_notice n;

	if (!showing(req, parent, &n) || n.show != DFS_SHOW_COPY ||
	    strcmp(name, n.name) != 0)
		return false;
	reply_applied(req, parent, name);
	return true;
}

void dfs_announce(struct dfs_fs *fs, const struct dfs_notice *n)
{
	char dir[PATH_MAX + 300], staged[300];
	int dfd, rc = 0;

	if (!fs->mnt[0])
		return;
	snprintf(dir, sizeof(dir), "%s/environments/%s", fs->mnt, n->env);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0) {
		dfs_log(errno == ENOENT ? DFS_LOG_DEBUG : DFS_LOG_WARN,
			"%s not shown to watchers: %s", dir, strerror(errno));
		return;
	}
	pthread_mutex_lock(&fs->show_lock);
	fs->show = *n;
	__atomic_store_n(&fs->show_tid, gettid(), __ATOMIC_RELEASE);
	pthread_mutex_unlock(&fs->show_lock);
	snprintf(staged, sizeof(staged), STAGED_PREFIX "%s", n->name);
	if (n->show == DFS_SHOW_LINK)
		rc = renameat(dfd, staged, dfd, n->name);
	else if (n->show == DFS_SHOW_COPY)
		rc = mkdirat(dfd, n->name, 0755);
	else if (n->show == DFS_SHOW_GONE)
		rc = unlinkat(dfd, n->name, 0);
	/* ENOENT: undone meanwhile, nothing to show. */
	if (rc < 0)
		dfs_log(errno == ENOENT ? DFS_LOG_DEBUG : DFS_LOG_WARN,
			"%s in %s not shown to watchers: %s", n->name, dir,
			strerror(errno));
	pthread_mutex_lock(&fs->show_lock);
	__atomic_store_n(&fs->show_tid, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&fs->show_lock);
	close(dfd);
}
