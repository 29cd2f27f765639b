/* SPDX-License-Identifier: MIT */
/*
 * content.h - layer 3 of store/: the bytes of files while they are open.
 * The table of inodes somebody holds (the kernel's lookups, open files),
 * files opened on a blob or a work file or a memfd, the sealer that turns
 * closed work files into blobs, and the check of what a copy writes into
 * an environment against its package.
 *
 * Locking: st->lock guards the table and the seal queue; oi->fdlock guards
 * oi->fd (readers and writers of content hold it shared; switching the fd
 * from a blob to a work file holds it exclusive).  Order: st->lock, then
 * fdlock.
 */
#ifndef DFS_CONTENT_H
#define DFS_CONTENT_H

#include <stdatomic.h>

#include "../model/model.h"

/* The inode table's first size (a power of two); it doubles as the
 * kernel holds more (100,000 files in build/: 65,536 buckets). */
#define DFS_IMAP_BITS 12
/* Its largest size: 2^26 chains (512 MiB of table). */
#define DFS_IMAP_BITS_MAX 26

/* An inode somebody holds: the kernel (lookups) or open files. */
struct dfs_oinode {
	uint64_t ino;
	uint64_t holds;	  /* kernel lookups not yet forgotten */
	unsigned opens;	  /* struct dfs_file handles */
	unsigned writers; /* of which open for writing */
	unsigned flushed; /* of which closed (FLUSH) since their last write */
	int fd;		  /* content: blob (ro) or work (rw); -1 none */
	bool is_work;	  /* fd is work/INO */
	bool is_mem;	  /* fd is a memfd: small content (see mem.c) */
	bool mem_dirty;	  /* the memfd holds bytes not yet committed */
	bool dirty_times; /* mtime/ctime not yet in the database */
	bool queued;	  /* waiting in the seal queue */
	bool sealing;	  /* the sealer works on it; writers wait */
	bool seal_failed; /* retried by the next dfs_store_sync() */
	bool snap;	  /* a snapshot's file: blob, read-only */
	/* The chunk list of the blob file fd is open on, while that blob is
	 * not found good: reads check what they serve (fdlock as fd). */
	struct dfs_chunks *chunks;
	struct dfs_hash blob; /* snap: its content */
	uint64_t size;	      /* snap: its size */
	/* snap: the kernel reads it from fd itself (passthrough, file.c) */
	int backing_id;		/* registered for the opens below; 0 none */
	unsigned backing_opens; /* opens the kernel reads through it */
	unsigned cached_opens;	/* opens it reads through us */
	unsigned cached_closed; /* of which closed (FLUSH), RELEASE to come */
	struct timespec mtime;
	struct timespec ctime;
	pthread_rwlock_t fdlock;
	struct dfs_oinode *next;  /* hash chain */
	struct dfs_oinode *qnext; /* seal queue */
};

struct dfs_content {
	struct dfs_oinode **imap; /* 1 << imap_bits hash chains */
	unsigned imap_bits;
	size_t imap_count; /* inodes in it */
	pthread_t sealer;
	bool sealer_running;
	bool stopping;
	pthread_cond_t seal_done; /* a batch finished */
	pthread_cond_t released;  /* an open read through us ended */
	pthread_t in_order;	  /* dfs_store_serve_in_order()'s thread */
	bool has_in_order;
	bool reclaim_wanted;
	bool seal_urgent; /* someone waits: skip the gathering pause */
	struct dfs_oinode *queue;
	unsigned queued;
	unsigned in_flight;
	struct dfs_verify *verifies;
	struct dfs_backing backing; /* passthrough, if the daemon has it */
	/* Every open file, so that those the kernel never released (an
	 * unmount races the last RELEASE) are released at the end. */
	pthread_mutex_t files_lock; /* a leaf: nothing is taken under it */
	struct dfs_file *files;
};

/*
 * An open file.  Without ops, its bytes are oi's content, read and
 * written through oi->fd (so FUSE can splice).  With ops (a file an
 * environment checks, audit.log), its bytes go through them.  refs: one
 * for the open, one per fd in use (dfs_file_fd_get until
 * dfs_file_fd_put), so a release that races with a read still being
 * replied to frees the file only after that read.
 */
struct dfs_file;
struct dfs_file_ops {
	ssize_t (*read)(struct dfs_store *st, struct dfs_file *f, void *buf,
			size_t n, uint64_t off);
	ssize_t (*write)(struct dfs_store *st, struct dfs_file *f,
			 const void *buf, size_t n, uint64_t off);
	int (*flush)(struct dfs_store *st, struct dfs_file *f);
	/* Frees f. */
	void (*release)(struct dfs_store *st, struct dfs_file *f);
};
struct dfs_file {
	const struct dfs_file_ops *ops;
	struct dfs_oinode *oi;
	struct dfs_verify *v; /* a file checked against a package */
	uint64_t ino;
	int flags;
	bool flushed; /* closed by its owner, RELEASE still to come */
	int backing;  /* the kernel reads it from this backing id; 0 not */
	atomic_int refs;
	struct dfs_file *prev, *next; /* in st->content->files */
};

/* ---- oinode.c -------------------------------------------------------------- */

int dfs_content_init(struct dfs_store *st);
void dfs_content_free(struct dfs_store *st);
/* The number of hash chains of c->imap (st->lock held). */
size_t dfs_imap_buckets(const struct dfs_content *c);
struct dfs_oinode *dfs_oinode_find(struct dfs_store *st, uint64_t ino);
struct dfs_oinode *dfs_oinode_get(struct dfs_store *st, uint64_t ino);
void dfs_oinode_maybe_free(struct dfs_store *st, struct dfs_oinode *oi);
void dfs_oinode_idle(struct dfs_oinode *oi);
/* Before a snapshot file's open picks passthrough or not: wait for the
 * releases of closed opens, drop a chunk list found good (st->lock). */
void dfs_oinode_settle_reads(struct dfs_store *st, struct dfs_oinode *oi);
/* Close oi->fd (and forget its chunk list); the caller excludes its
 * readers (fdlock held exclusive, or no open file). */
void dfs_oinode_close_fd(struct dfs_oinode *oi);
/* The kernel was handed ino (one hold per lookup reply). */
void dfs_hold_locked(struct dfs_store *st, uint64_t ino);
void dfs_forget_locked(struct dfs_store *st, uint64_t ino, uint64_t n);
/* Is ino open, held by the kernel or being sealed? */
bool dfs_content_held(struct dfs_store *st, uint64_t ino);
/* Delete the unlinked node ino if nothing holds it (inside the caller's
 * transaction: rows and work file). */
int dfs_content_drop(struct dfs_store *st, uint64_t ino);
/* The same in a transaction of its own, if it has no links left. */
void dfs_content_reap(struct dfs_store *st, uint64_t ino);
/* Size, blocks and unsaved times of a file that is being written. */
void dfs_content_overlay(struct dfs_store *st, struct dfs_attr *attr,
			 bool work);
int dfs_content_persist_times(struct dfs_store *st, uint64_t ino);

/* ---- work.c ------------------------------------------------------------------ */

int dfs_content_row(struct dfs_store *st, struct dfs_oinode *oi,
		    struct dfs_content_row *ret);
/* Make sure oi->fd is open on the current content. */
int dfs_content_fd(struct dfs_store *st, struct dfs_oinode *oi,
		   const struct dfs_content_row *r);
/* Turn a blob-backed file into a work copy holding its bytes (keep) or
 * nothing; no writers. */
/* Before a work file closed by all its writers is opened for writing
 * again: its content as last closed becomes its blob (work.c). */
int dfs_content_keep_last_closed(struct dfs_store *st, struct dfs_oinode *oi);
int dfs_content_make_work(struct dfs_store *st, struct dfs_oinode *oi,
			  const struct dfs_content_row *r, bool keep);
/* Written now: mtime and ctime, saved at close. */
void dfs_content_modified(struct dfs_oinode *oi);

/* For a truncate: keep the sealer away from ino until unpinned (waits,
 * letting go of st->lock: never inside a transaction). */
struct dfs_oinode *dfs_content_pin(struct dfs_store *st, uint64_t ino);
void dfs_content_unpin(struct dfs_store *st, struct dfs_oinode *oi);
/* Inside a transaction, ino pinned. */
int dfs_content_truncate(struct dfs_store *st, uint64_t ino, uint64_t size);
/* The content hash of a sealed build file (-EAGAIN while unsealed). */
int dfs_content_hash(struct dfs_store *st, uint64_t ino, struct dfs_hash *ret);

/* ---- file.c ------------------------------------------------------------------ */

/* A snapshot's file: read-only content h of size bytes. */
struct dfs_blob_src {
	struct dfs_hash hash;
	uint64_t size;
	uint32_t mode;
};
/* Open ino: a build row (src NULL) or a snapshot's blob. */
int dfs_content_open(struct dfs_store *st, uint64_t ino, int flags,
		     const struct dfs_blob_src *src, struct dfs_file **ret);
/* A file whose bytes go through ops; v (or NULL) is its check. */
struct dfs_file *dfs_file_new(struct dfs_store *st,
			      const struct dfs_file_ops *ops, uint64_t ino,
			      int flags, struct dfs_verify *v);
/* Release the files still open (at the end, when no request runs). */
void dfs_files_release_all(struct dfs_store *st);

/* ---- mem.c -------------------------------------------------------------------- */

int dfs_mem_new(struct dfs_store *st, struct dfs_oinode *oi);
int dfs_mem_commit(struct dfs_store *st, struct dfs_oinode *oi);
int dfs_mem_spill(struct dfs_store *st, struct dfs_oinode *oi);
/* fallocate(2) on a memfd, every mode dfs_file_fallocate() serves (tmpfs
 * has no zero range); allocation stops at the end of the content. */
int dfs_mem_fallocate(int fd, int mode, off_t off, off_t len);
/* FALLOC_FL_ZERO_RANGE (with or without KEEP_SIZE) on a filesystem
 * without it: a punched hole, and the new size. */
int dfs_zero_range(int fd, int mode, off_t off, off_t len);

/* ---- seal.c ------------------------------------------------------------------- */

int dfs_sealer_start(struct dfs_store *st);
void dfs_sealer_stop(struct dfs_store *st);
void dfs_seal_enqueue(struct dfs_store *st, struct dfs_oinode *oi);
/* Blobs may have lost their last reference: reclaim them when idle. */
void dfs_reclaim_later(struct dfs_store *st);
void dfs_seal_now(struct dfs_store *st, struct dfs_oinode *oi);
/* Wait until every closed file is sealed (st->lock held; let go while
 * waiting). */
int dfs_content_sync(struct dfs_store *st);
/* Wait until the sealer is done with oi (lets go of st->lock). */
void dfs_content_wait_sealed(struct dfs_store *st, struct dfs_oinode *oi);

/* ---- recover.c ---------------------------------------------------------------- */

/* After a crash: drop unlinked nodes, stale work files; seal the rest. */
int dfs_content_recover(struct dfs_store *st);

/* ---- verify.c: what a copy writes, checked against its package ------------- */

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
struct dfs_verify *dfs_verify_get(struct dfs_store *st, uint64_t ino,
				  const struct dfs_hash *h, uint64_t size,
				  bool known, const struct dfs_actor *actor);
struct dfs_verify *dfs_verify_find(struct dfs_store *st, uint64_t ino);
void dfs_verify_put(struct dfs_store *st, struct dfs_verify *v);
int dfs_verify_fd(struct dfs_store *st, struct dfs_verify *v);
void dfs_verify_reset(struct dfs_verify *v, uint64_t keep);
bool dfs_verify_complete(const struct dfs_verify *v);
int dfs_verify_fill_gaps(struct dfs_store *st, struct dfs_verify *v);
/* Without st->lock (takes it). */
ssize_t dfs_verify_write(struct dfs_store *st, struct dfs_verify *v,
			 const void *buf, size_t n, uint64_t off);
int dfs_verify_truncate(struct dfs_store *st, struct dfs_verify *v,
			uint64_t size);
int dfs_verify_cover(struct dfs_verify *v, uint64_t off, uint64_t n);
void dfs_verify_free_all(struct dfs_store *st);

#endif
