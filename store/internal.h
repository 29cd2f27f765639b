/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the files of store/ share and nobody else sees: the
 * store handle, the prepared-statement cache, the table of in-memory inodes
 * and the I/O seam.
 *
 * Locking: st->lock guards the database connection, every prepared
 * statement, the inode table and the seal queue.  oi->fdlock guards oi->fd
 * (readers and writers of content hold it shared; switching the fd from a
 * blob to a work file holds it exclusive).  Order: st->lock, then fdlock.
 */
#ifndef DFS_STORE_INTERNAL_H
#define DFS_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/storage.h"

#define DFS_IMAP_BUCKETS 4096

enum dfs_stmt_id {
	S_GETATTR,
	S_LOOKUP,
	S_INSERT_INODE,
	S_INSERT_DIRENT,
	S_DELETE_DIRENT,
	S_NLINK_ADD,
	S_TOUCH_MC,
	S_SET_CTIME,
	S_SET_MTIME,
	S_SET_ATIME,
	S_SET_MODE,
	S_SET_OWNER,
	S_READDIR,
	S_CHILD_COUNT,
	S_DELETE_INODE,
	S_DELETE_XATTRS,
	S_MOVE_DIRENT,
	S_DIRENT_INO,
	S_PARENT_OF,
	S_READLINK,
	S_XATTR_GET,
	S_XATTR_SET,
	S_XATTR_INSERT,
	S_XATTR_UPDATE,
	S_XATTR_LIST,
	S_XATTR_DELETE,
	S_CONTENT,
	S_SET_WORK,
	S_SEAL_BLOB_ROW,
	S_SEAL_INODE,
	S_RECLAIM_LIST,
	S_RECLAIM_DELETE,
	S_SET_SIZE,
	S_STMT_MAX
};

/* An inode somebody holds: the kernel (lookups) or open files. */
struct dfs_oinode {
	uint64_t ino;
	uint64_t holds;	  /* kernel lookups not yet forgotten */
	unsigned opens;	  /* struct dfs_file handles */
	unsigned writers; /* of which open for writing */
	int fd;		  /* content: blob (ro) or work (rw); -1 none */
	bool is_work;	  /* fd is work/INO */
	bool is_mem;	  /* fd is a memfd: small content (see mem.c) */
	bool mem_dirty;	  /* the memfd holds bytes not yet committed */
	bool dirty_times; /* mtime/ctime not yet in the database */
	bool queued;	  /* waiting in the seal queue */
	bool sealing;	  /* the sealer works on it; writers wait */
	bool seal_failed; /* retried by the next dfs_store_sync() */
	struct timespec mtime;
	struct timespec ctime;
	pthread_rwlock_t fdlock;
	struct dfs_oinode *next;  /* hash chain */
	struct dfs_oinode *qnext; /* seal queue */
};

/*
 * An open file.  refs: one for the open, one per fd in use
 * (dfs_file_fd_get until dfs_file_fd_put), so a release that races with a
 * read still being replied to frees the file only after that read.
 */
struct dfs_file {
	struct dfs_oinode *oi; /* NULL for the two kinds below */
	struct dfs_verify *v;  /* a file under environments/ (stage.c) */
	bool log;	       /* audit.log */
	int flags;
	atomic_int refs;
};

/* ---- environments/ (env.c, stage.c) ------------------------------------ */

#define DFS_ENV_ID_MAX ((1ull << 23) - 1)
#define DFS_SNODE_ID_MASK ((1ull << 40) - 1)

static inline bool dfs_is_env_ino(uint64_t ino)
{
	return ino == DFS_INO_ENVIRONMENTS ||
	       (ino >= DFS_INO_ENV_BASE && ino < (7ull << 40)) ||
	       ino >= DFS_INO_EVIEW_BASE;
}

static inline bool dfs_is_eview(uint64_t ino)
{
	return ino >= DFS_INO_EVIEW_BASE;
}

static inline uint64_t dfs_eview_ino(int64_t env, int64_t snode)
{
	return DFS_INO_EVIEW_BASE | ((uint64_t)env << 40) | (uint64_t)snode;
}

static inline int64_t dfs_eview_env(uint64_t ino)
{
	return (int64_t)((ino & ~DFS_INO_EVIEW_BASE) >> 40);
}

static inline int64_t dfs_eview_snode(uint64_t ino)
{
	return (int64_t)(ino & DFS_SNODE_ID_MASK);
}

/* A set of snapshot node ids (open addressing). */
struct dfs_idset {
	int64_t *v;
	size_t n;
	size_t cap;
};

/*
 * A package seen from an environment: a copy in progress (staging: the
 * entries made so far, and those verified), or the overlay of a deployed
 * package (the entries a re-copy removed and has not put back yet).
 */
struct dfs_stage {
	int64_t env;
	int64_t package;
	int64_t root;	 /* snode id of N@V */
	int64_t entries; /* snodes below root */
	int64_t row;	 /* staging table row */
	bool staging;
	uint32_t uid;
	uint32_t gid;
	char name[DFS_NAME_MAX + DFS_LABEL_MAX + 2]; /* N@V */
	struct dfs_idset made;			     /* staging: created */
	struct dfs_idset ok;			     /* staging: verified */
	struct dfs_idset gone; /* deployed: removed by a re-copy */
	struct dfs_stage *next;
};

/* A copy tool's temporary file, or a link waiting to be renamed. */
struct dfs_temp {
	uint64_t id; /* ino = DFS_INO_TEMP_BASE + id */
	int64_t env;
	uint64_t parent; /* the ENV folder or a folder below N@V */
	char name[DFS_NAME_MAX + 1];
	bool is_link;
	int64_t package; /* link: the package it names */
	int64_t expect;	 /* file: the snode it stands for, 0 unknown */
	struct dfs_verify *v;
	bool verified; /* file: its last close found it identical */
	uint64_t size; /* file: as written, once closed */
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	int64_t ctime;
	struct dfs_temp *next;
};

/* The content check of a file being written under environments/. */
struct dfs_verify {
	uint64_t ino;
	unsigned refs; /* open handles */
	int fd;	       /* the package's content, once opened */
	bool known;    /* the package has this file (hash, want) */
	uint64_t want; /* its size */
	struct dfs_hash hash;
	uint64_t size; /* as written */
	bool bad;      /* a byte differed */
	uint64_t bad_at;
	size_t nr; /* ranges written (sorted, disjoint) */
	size_t rcap;
	struct {
		uint64_t a, b;
	} * r;
	struct dfs_actor actor; /* who opened it */
	struct dfs_verify *next;
};

/* Layer 3's state (content.h, to come). */
struct dfs_content {
	struct dfs_oinode *imap[DFS_IMAP_BUCKETS];
	pthread_t sealer;
	bool sealer_running;
	bool stopping;
	pthread_cond_t seal_done; /* a batch finished */
	bool reclaim_wanted;
	bool seal_urgent; /* someone waits: skip the gathering pause */
	struct dfs_oinode *queue;
	unsigned queued;
	unsigned in_flight;
	struct dfs_verify *verifies;
};

/* Layer 4's state (trees.h, to come). */
struct dfs_trees {
	struct dfs_stage *stages;
	struct dfs_temp *temps;
	uint64_t next_temp;
};

static inline bool dfs_is_virtual(uint64_t ino)
{
	return ino >= DFS_INO_VIRTUAL_BASE;
}

/* Folders whose entries are served by vnode.c. */
static inline bool dfs_lists_virtual(uint64_t ino)
{
	return ino == DFS_INO_PACKAGES || dfs_is_virtual(ino);
}

static inline bool dfs_is_pkgdir(uint64_t ino)
{
	return ino >= DFS_INO_PKGDIR_BASE && ino < DFS_INO_LATEST_BASE;
}

/* db.c (statements of the build tree, to move to model/) */
extern const char *const dfs_stmt_text[S_STMT_MAX];
sqlite3_stmt *dfs_stmt(struct dfs_store *st, enum dfs_stmt_id id);
#define dfs_exec(st, id, ...) dfs_exec_sql(st, dfs_stmt_text[id], __VA_ARGS__)
#define dfs_query(st, id, ret, ...) \
	dfs_query_sql(st, dfs_stmt_text[id], ret, __VA_ARGS__)

/* node.c */
int dfs_lookup_locked(struct dfs_store *st, uint64_t parent, const char *name,
		      struct dfs_attr *ret);
int dfs_check_dir(struct dfs_store *st, uint64_t parent, bool adding,
		  struct dfs_attr *ret);
int dfs_has_children(struct dfs_store *st, uint64_t ino, bool *ret);
int dfs_nlink_add(struct dfs_store *st, uint64_t ino, int delta);
int dfs_remove_entry(struct dfs_store *st, uint64_t parent, const char *name,
		     const struct dfs_attr *a);
int dfs_node_row(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret);
void dfs_attr_from_row(struct dfs_store *st, sqlite3_stmt *s, int col,
		       struct dfs_attr *ret);
int dfs_node_delete_locked(struct dfs_store *st, uint64_t ino);
void dfs_node_reap_locked(struct dfs_store *st, uint64_t ino);
int dfs_node_touch_locked(struct dfs_store *st, uint64_t ino, bool mtime);

/* content.c */
struct dfs_oinode *dfs_oinode_find(struct dfs_store *st, uint64_t ino);
struct dfs_oinode *dfs_oinode_get(struct dfs_store *st, uint64_t ino);
void dfs_oinode_maybe_free(struct dfs_store *st, struct dfs_oinode *oi);
void dfs_oinode_idle_locked(struct dfs_oinode *oi);
void dfs_content_overlay(struct dfs_store *st, struct dfs_attr *attr,
			 bool work);
void dfs_content_wait_sealed_locked(struct dfs_store *st,
				    struct dfs_oinode *oi);
int dfs_content_truncate_locked(struct dfs_store *st, uint64_t ino,
				uint64_t size);
int dfs_content_persist_times_locked(struct dfs_store *st,
				     struct dfs_oinode *oi);
int dfs_sealer_start(struct dfs_store *st);
void dfs_sealer_stop(struct dfs_store *st);
void dfs_seal_enqueue_locked(struct dfs_store *st, struct dfs_oinode *oi);
void dfs_reclaim_later_locked(struct dfs_store *st);
void dfs_seal_now_locked(struct dfs_store *st, struct dfs_oinode *oi);
int dfs_recover_locked(struct dfs_store *st);

/* component.c */
struct dfs_component {
	int64_t id;
	char name[DFS_NAME_MAX + 1];
	char type[32];
	uint64_t dir; /* build inode, 0 when the folder is gone */
	int64_t revision;
	bool has_hash;
	struct dfs_hash tree_hash;
};
int dfs_component_by_name(struct dfs_store *st, const char *name,
			  struct dfs_component *ret);
int dfs_component_by_id(struct dfs_store *st, int64_t id,
			struct dfs_component *ret);
int dfs_component_by_dir(struct dfs_store *st, uint64_t dir,
			 struct dfs_component *ret);
int dfs_component_check_locked(struct dfs_store *st, uint64_t typedir,
			       const char *name);
int dfs_component_attach_locked(struct dfs_store *st, uint64_t typedir,
				const char *name, uint64_t ino);
int dfs_component_detach_locked(struct dfs_store *st, uint64_t ino);
int dfs_component_revision(struct dfs_store *st, uint64_t dir, int64_t *ret);
int dfs_component_revise_locked(struct dfs_store *st, struct dfs_component *c,
				const struct dfs_hash *own);

/* snapshot.c */
struct dfs_walk {
	struct dfs_store *st;
	bool dry;    /* hash only */
	bool expand; /* follow includes */
	bool revise; /* take the revisions of what is walked */
	int64_t entries;
	int nstack;
	int64_t stack[64]; /* components being expanded */
	int nrev;
	struct {
		int64_t id;
		int64_t revision;
		char name[DFS_NAME_MAX + 1];
	} revs[64];
	int nreq;
	char reqs[64][DFS_NAME_MAX + 40];
	char why[640]; /* for a refusal */
};
int dfs_resolve_reference(struct dfs_store *st, const char *dir,
			  const char *target, struct dfs_component *ret);
int dfs_walk_component(struct dfs_walk *w, struct dfs_component *c, int64_t sid,
		       struct dfs_hash *ret_own, struct dfs_hash *ret_full);

/* package.c */
int dfs_pkg_parse(const struct dfs_component *c, const char *name,
		  const char **ret_version);
int dfs_pkg_create_locked(struct dfs_store *st, const struct dfs_actor *actor,
			  int64_t comp, const char *name, struct dfs_attr *ret);
int dfs_pkg_remove_locked(struct dfs_store *st, const struct dfs_actor *actor,
			  int64_t comp, const char *name);
int dfs_pkg_xattr_get_locked(struct dfs_store *st, int64_t root,
			     const char *name, void *buf, size_t cap);
int dfs_pkg_xattr_list_locked(struct dfs_store *st, int64_t root, char *buf,
			      size_t cap);
int dfs_pkg_xattr_set_locked(struct dfs_store *st,
			     const struct dfs_actor *actor, int64_t root,
			     const char *name, const void *value, size_t size);

/* vnode.c */
int dfs_vnode_getattr_locked(struct dfs_store *st, uint64_t ino,
			     struct dfs_attr *ret);
int dfs_vnode_lookup_locked(struct dfs_store *st, uint64_t parent,
			    const char *name, struct dfs_attr *ret);
int dfs_vnode_readdir_locked(struct dfs_store *st, uint64_t ino, uint64_t off,
			     bool hold, dfs_readdir_fn fn, void *ctx);
int dfs_vnode_readlink_locked(struct dfs_store *st, uint64_t ino, char *buf,
			      size_t cap);
int dfs_vnode_blob_locked(struct dfs_store *st, uint64_t ino, uint32_t *mode,
			  uint64_t *size, struct dfs_hash *ret);
bool dfs_setattr_is_noop(const struct dfs_attr *a,
			 const struct dfs_setattr *sa);

/* audit.c */
int dfs_audit_record_locked(struct dfs_store *st, const struct dfs_actor *a,
			    const struct dfs_audit_event *ev);
int dfs_audit_refusal_locked(struct dfs_store *st, const struct dfs_actor *a,
			     const struct dfs_audit_event *ev);
/* Record a refused act; reason: rc's text, then why. */
void dfs_audit_refuse_locked(struct dfs_store *st, const struct dfs_actor *a,
			     const char *action, const char *env,
			     const char *component, const char *version, int rc,
			     const char *why);

/* env.c */
int dfs_env_lookup(struct dfs_store *st, uint64_t parent, const char *name,
		   struct dfs_attr *ret);
int dfs_env_getattr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret);
int dfs_env_readdir(struct dfs_store *st, uint64_t ino, uint64_t off, bool hold,
		    dfs_readdir_fn fn, void *ctx);
int dfs_env_readlink(struct dfs_store *st, uint64_t ino, char *buf, size_t cap);
int dfs_env_create(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint32_t mode,
		   const char *target, struct dfs_attr *ret);
int dfs_env_remove(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, bool dir);
int dfs_env_rename(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint64_t newparent,
		   const char *newname, unsigned flags);
int dfs_env_setattr(struct dfs_store *st, uint64_t ino,
		    const struct dfs_setattr *sa, struct dfs_attr *ret);
int dfs_env_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
		      void *buf, size_t cap);
int dfs_env_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, const char *name, const void *value,
		      size_t size);
int dfs_env_xattr_list(struct dfs_store *st, uint64_t ino, char *buf,
		       size_t cap);
int dfs_env_open(struct dfs_store *st, const struct dfs_actor *actor,
		 uint64_t ino, int flags, struct dfs_file **ret);
void dfs_env_free_locked(struct dfs_store *st);
int dfs_env_flush(struct dfs_store *st, struct dfs_file *f);
void dfs_env_release(struct dfs_store *st, struct dfs_file *f);
/* called by stage.c when an entry is verified */
int dfs_env_stage_done_locked(struct dfs_store *st,
			      const struct dfs_actor *actor,
			      struct dfs_stage *sg, int64_t snode);

/* stage.c */
bool dfs_idset_has(const struct dfs_idset *s, int64_t id);
int dfs_idset_add(struct dfs_idset *s, int64_t id);
void dfs_idset_del(struct dfs_idset *s, int64_t id);
void dfs_idset_free(struct dfs_idset *s);
struct dfs_verify *dfs_verify_get_locked(struct dfs_store *st, uint64_t ino,
					 const struct dfs_hash *h,
					 uint64_t size, bool known,
					 const struct dfs_actor *actor);
struct dfs_verify *dfs_verify_find(struct dfs_store *st, uint64_t ino);
void dfs_verify_put_locked(struct dfs_store *st, struct dfs_verify *v);
int dfs_verify_fd_locked(struct dfs_store *st, struct dfs_verify *v);
int dfs_verify_fd(struct dfs_store *st, struct dfs_verify *v);
void dfs_verify_reset(struct dfs_verify *v, uint64_t keep);
bool dfs_verify_complete(const struct dfs_verify *v);
int dfs_verify_fill_gaps(struct dfs_store *st, struct dfs_verify *v);
ssize_t dfs_verify_write(struct dfs_store *st, struct dfs_verify *v,
			 const void *buf, size_t n, uint64_t off);
int dfs_verify_truncate(struct dfs_store *st, struct dfs_verify *v,
			uint64_t size);
int dfs_verify_cover(struct dfs_verify *v, uint64_t off, uint64_t n);

/* audit.c: audit.log */
int dfs_auditlog_index_locked(struct dfs_store *st);
ssize_t dfs_auditlog_read(struct dfs_store *st, void *buf, size_t n,
			  uint64_t off);
int64_t dfs_auditlog_size_locked(struct dfs_store *st);

/* mem.c */
int dfs_mem_new(struct dfs_store *st, struct dfs_oinode *oi);
int dfs_mem_commit_locked(struct dfs_store *st, struct dfs_oinode *oi);
int dfs_mem_spill_locked(struct dfs_store *st, struct dfs_oinode *oi);

#endif
