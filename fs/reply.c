// SPDX-License-Identifier: MIT
/*
 * reply.c - what every FUSE handler shares: who asks (the actor, its
 * command line for the audit trail), the file of a request, and the
 * replies: errors logged with context, attributes and entries (each
 * entry handed to the kernel takes one store hold).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <stdio.h>
#include <unistd.h>

#include "deployfs/log.h"
#include "fs.h"

struct dfs_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The caller as FUSE gives it: pid is the thread that asks.  The store
 * resolves it to its process and command line if it records it. */
struct dfs_actor actor_of(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct dfs_actor a = { .uid = ctx->uid,
			       .gid = ctx->gid,
			       .pid = ctx->pid };

	return a;
}

/*
 * The actor of an act the audit trail records: its process (the thread
 * group) and command line, read while the request is in flight (the
 * process may be gone a moment later; a copy's close records what its
 * open saw).
 */
struct dfs_actor audited_actor_of(fuse_req_t req)
{
	struct dfs_actor a = actor_of(req);

	dfs_actor_resolve_groups(&a);
	return a;
}

struct dfs_actor actor_for(fuse_req_t req, uint64_t ino)
{
	/* build/ records nothing; ENV/extensions, build-like, records. */
	return dfs_ino_is_build(ino) &&
			       !dfs_node_is_extension(fs_of(req)->st, ino)
		       ? actor_of(req)
		       : audited_actor_of(req);
}

/*
 * Refusals the kernel answers.  The mount checks permissions in the kernel
 * (default_permissions), so a deployer refused write permission on
 * environments/ENV never reaches the daemon with the act itself.  But to
 * create or remove a name in ENV the kernel first looks the name up (a
 * LOOKUP in ENV from the process), and when it then refuses the act with
 * attributes it holds as valid, it fetches them once more before giving
 * up (a GETATTR of ENV from the same process).  That pair, from a process
 * that may search ENV but not write it, is such a refusal: it is
 * recorded.
 */
bool is_env_dir(uint64_t ino)
{
	return ino >= DFS_INO_ENV_BASE && ino < DFS_INO_DEPLINK_BASE;
}

int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Process pid looked a name up in the environment folder ino. */
void looked_up(struct dfs_fs *fs, uint64_t ino, int32_t pid)
{
	struct dfs_seen *s;

	if (!is_env_dir(ino))
		return;
	pthread_mutex_lock(&fs->seen_lock);
	for (s = fs->seen; s && s->ino != ino; s = s->next)
		;
	if (!s && (s = calloc(1, sizeof(*s)))) {
		s->ino = ino;
		s->next = fs->seen;
		fs->seen = s;
	}
	if (s) {
		s->pid = pid;
		s->at = mono_ns();
	}
	pthread_mutex_unlock(&fs->seen_lock);
}

/* Did pid just look a name up in ino?  (Once: it forgets.) */
bool just_looked_up(struct dfs_fs *fs, uint64_t ino, int32_t pid)
{
	bool yes = false;

	pthread_mutex_lock(&fs->seen_lock);
	for (struct dfs_seen *s = fs->seen; s; s = s->next) {
		if (s->ino != ino)
			continue;
		yes = s->pid == pid && mono_ns() - s->at < 2000000000LL;
		if (yes)
			s->pid = 0;
	}
	pthread_mutex_unlock(&fs->seen_lock);
	return yes;
}

void dfs_fs_seen_free(struct dfs_fs *fs)
{
	while (fs->seen) {
		struct dfs_seen *s = fs->seen;

		fs->seen = s->next;
		free(s);
	}
}

/* May the caller search a but not write it? */
bool search_not_write(fuse_req_t req, const struct dfs_attr *a)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	unsigned bits = a->mode & 7;
	gid_t groups[64];
	int n;

	if (ctx->uid == 0)
		return false;
	if (ctx->uid == a->uid) {
		bits = (a->mode >> 6) & 7;
	} else if (ctx->gid == a->gid) {
		bits = (a->mode >> 3) & 7;
	} else {
		n = fuse_req_getgroups(req, 64, groups);
		for (int i = 0; i < n && i < 64; i++)
			if (groups[i] == a->gid)
				bits = (a->mode >> 3) & 7;
	}
	return (bits & 1) && !(bits & 2);
}

void note_refusal(fuse_req_t req, uint64_t ino, const struct dfs_attr *a)
{
	struct dfs_fs *fs = fs_of(req);
	struct dfs_actor actor;

	if (!search_not_write(req, a) ||
	    !just_looked_up(fs, ino, fuse_req_ctx(req)->pid))
		return;
	actor = audited_actor_of(req);
	if (dfs_env_record_denied(fs->st, &actor, ino) < 0)
		dfs_log(DFS_LOG_ERR, "could not record a refusal of ino=%llu",
			(unsigned long long)ino);
}

struct dfs_file *file_of(struct fuse_file_info *fi)
{
	return (struct dfs_file *)(uintptr_t)fi->fh;
}

/* Refusals a user caused are not errors in the log; the rest are. */
void reply_err(fuse_req_t req, int rc, const char *op, uint64_t ino,
	       const char *name)
{
	switch (rc) {
	case -ENOENT:
	case -EEXIST:
	case -ENOTEMPTY:
	case -ENOTDIR:
	case -EISDIR:
	case -ENAMETOOLONG:
	case -EPERM:
	case -EACCES:
	case -EROFS:
	case -EINVAL:
	case -ENODATA:
	case -ERANGE:
	case -EOPNOTSUPP:
	case -ELOOP:
	case -EXDEV:
	case -EBUSY:
	case -E2BIG:
	case -ENXIO:
		break;
	default:
		dfs_log(DFS_LOG_ERR, "%s failed: %s ino=%llu name=\"%s\"", op,
			strerror(-rc), (unsigned long long)ino,
			name ? name : "");
	}
	fuse_reply_err(req, -rc);
}

void fill_stat(const struct dfs_attr *a, struct stat *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->st_ino = a->ino;
	sb->st_mode = a->mode;
	sb->st_nlink = a->nlink;
	sb->st_uid = a->uid;
	sb->st_gid = a->gid;
	sb->st_rdev = a->rdev;
	sb->st_size = (off_t)a->size;
	sb->st_blocks = (blkcnt_t)a->blocks;
	sb->st_blksize = 4096;
	sb->st_atim = a->atime;
	sb->st_mtim = a->mtime;
	sb->st_ctim = a->ctime;
}

/* How long an entry the daemon tells of, but may lose the notice of, is
 * kept (DFS_NODE_ENTRY_BRIEF). */
#define DFS_BRIEF_TTL 1.0

/* Snapshots never change: the kernel may keep them for a day.  Package
 * folders and `latest` change behind the kernel's back: no caching. */
double ttl_of(const struct dfs_fs *fs, const struct dfs_attr *a)
{
	if (a->flags & DFS_NODE_IMMUTABLE)
		return 86400.0;
	if (a->flags & DFS_NODE_VOLATILE)
		return 0.0;
	return fs->ttl;
}

void fill_entry(struct dfs_fs *fs, const struct dfs_attr *a,
		struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = 1;
	e->attr_timeout = ttl_of(fs, a);
	e->entry_timeout = a->flags & DFS_NODE_ENTRY_VOLATILE ? 0.0
			   : a->flags & DFS_NODE_ENTRY_BRIEF  ? DFS_BRIEF_TTL
			   : a->flags & DFS_NODE_ENTRY_TOLD   ? fs->ttl
							      : ttl_of(fs, a);
	fill_stat(a, &e->attr);
}

/* Reply with an entry the kernel will hold; undo the hold if it fails. */
void reply_entry(fuse_req_t req, const struct dfs_attr *a)
{
	struct dfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;

	fill_entry(fs, a, &e);
	dfs_node_hold(fs->st, a->ino);
	if (fuse_reply_entry(req, &e) < 0)
		dfs_node_forget(fs->st, a->ino, 1);
}

void reply_attr(fuse_req_t req, const struct dfs_attr *a)
{
	struct stat sb;

	fill_stat(a, &sb);
	fuse_reply_attr(req, &sb, ttl_of(fs_of(req), a));
}
