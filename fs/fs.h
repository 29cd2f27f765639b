/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the FUSE daemon's private interface between main.c (command
 * line, session), loop.c (how requests are taken), reply.c (what every
 * handler shares), ops.c (the handlers of names, folders and attributes,
 * and the table), files.c (the handlers of open files) and announce.c
 * (other hosts' acts shown to watchers).
 */
#ifndef DFS_FS_H
#define DFS_FS_H

#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>

#include "deployfs/store.h"

/* The longest READ and WRITE (dfs_op_init) and the readahead asked for. */
#define DFS_FUSE_IO_MAX (1008u << 10)

/* Which process last looked a name up in an environment folder. */
struct dfs_seen {
	uint64_t ino;
	int32_t pid;
	int64_t at; /* CLOCK_MONOTONIC ns */
	struct dfs_seen *next;
};

struct dfs_fs {
	struct dfs_store *st;
	struct fuse_session *se;
	double ttl; /* entry and attribute timeout, seconds */
	pthread_mutex_t seen_lock;
	struct dfs_seen *seen;
	/* announce.c: the act of another host being shown to watchers */
	char mnt[PATH_MAX]; /* the mount point, resolved ("" unknown) */
	pthread_mutex_t show_lock;
	struct dfs_notice show;
	pid_t show_tid;	    /* the notifier thread making the call; 0 none */
	uint64_t show_gone; /* inode numbers given to links already gone */
};

extern const struct fuse_lowlevel_ops dfs_ops;
void dfs_fs_seen_free(struct dfs_fs *fs);

/* ---- loop.c: how requests are taken ------------------------------------- */

/* Serve fs->se until it ends, one request at a time on this thread, with
 * helper threads for the calls that may wait: 0 or -errno. */
int dfs_loop(struct dfs_fs *fs, unsigned helpers);
/* Whether the raw request req (len bytes) goes to a helper. */
bool dfs_loop_wants_helper(const void *req, size_t len);

/* ---- reply.c: what every handler shares ---------------------------------- */

struct dfs_fs *fs_of(fuse_req_t req);
struct dfs_actor actor_of(fuse_req_t req);
struct dfs_actor audited_actor_of(fuse_req_t req);
struct dfs_actor actor_for(fuse_req_t req, uint64_t ino);
bool is_env_dir(uint64_t ino);
int64_t mono_ns(void);
void looked_up(struct dfs_fs *fs, uint64_t ino, int32_t pid);
bool just_looked_up(struct dfs_fs *fs, uint64_t ino, int32_t pid);
bool search_not_write(fuse_req_t req, const struct dfs_attr *a);
void note_refusal(fuse_req_t req, uint64_t ino, const struct dfs_attr *a);
struct dfs_file *file_of(struct fuse_file_info *fi);
void reply_err(fuse_req_t req, int rc, const char *op, uint64_t ino,
	       const char *name);
void fill_stat(const struct dfs_attr *a, struct stat *sb);
double ttl_of(const struct dfs_fs *fs, const struct dfs_attr *a);
void fill_entry(struct dfs_fs *fs, const struct dfs_attr *a,
		struct fuse_entry_param *e);
void reply_entry(fuse_req_t req, const struct dfs_attr *a);
void reply_attr(fuse_req_t req, const struct dfs_attr *a);

/* ---- announce.c: another host's deploys shown to watchers here ----------- */

void dfs_announce_init(struct dfs_fs *fs, const char *mountpoint);
/* The notifier: make the call that shows n (n->show) on the mount. */
void dfs_announce(struct dfs_fs *fs, const struct dfs_notice *n);
/* The handlers' part: true when they answered req, the notifier's own
 * lookup, rename or unlink, or mkdir, of the act being shown. */
bool dfs_announce_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
bool dfs_announce_call(fuse_req_t req, fuse_ino_t parent, const char *name);
bool dfs_announce_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name);

/* ---- passthrough.c: the kernel reads unchanging files itself ------------- */

/* Take the session's I/O (before the loop runs): 0 or a negative errno. */
int dfs_passthrough_start(struct dfs_fs *fs);
/* No more backing files (before the session's fd is closed). */
void dfs_passthrough_stop(struct dfs_fs *fs);
int dfs_reply_open_backing(fuse_req_t req, const struct fuse_file_info *fi,
			   int id);

/* ---- files.c: the handlers of open files --------------------------------- */

void dfs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void dfs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		   mode_t mode, struct fuse_file_info *fi);
void dfs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void dfs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
		      off_t off, struct fuse_file_info *fi);
void dfs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void dfs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void dfs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		  struct fuse_file_info *fi);
void dfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		      off_t len, struct fuse_file_info *fi);
void dfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		  struct fuse_file_info *fi);
void dfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			    struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			    off_t off_out, struct fuse_file_info *fi_out,
			    size_t len, int flags);

#endif
