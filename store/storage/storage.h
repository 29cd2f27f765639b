/* SPDX-License-Identifier: MIT */
/*
 * storage.h - layer 1 of store/, what the layers above build on: the store
 * handle and its folder, the SQLite connection (statements, transactions,
 * group commit, errno), the schema, blobs (files and rows named by their
 * content), the I/O seam, names, clocks and users.  Nothing here knows of
 * trees, files being written or FUSE.
 *
 * Layers (each includes only its own header and the ones below it):
 *   storage/  <  model/  <  content/  <  trees/
 *
 * Locking: st->lock guards the connection, every prepared statement, and
 * the state of the upper layers that says so.  Functions named *_locked
 * run with it held.  st->good.lock guards the set of blobs found good
 * and is taken last.
 */
#ifndef DFS_STORAGE_H
#define DFS_STORAGE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "deployfs/log.h"
#include "deployfs/names.h"
#include "deployfs/store.h"

#define DFS_SCHEMA_VERSION 14
#define DFS_APPLICATION_ID 1684435761 /* "dfs1" */
#define DFS_STR_(x) #x
#define DFS_STR(x) DFS_STR_(x)
#define DFS_DB_NAME "deployfs.db"
#define DFS_LOCK_NAME "lock"
#define DFS_RESERVE_NAME "reserve"
#define DFS_REDO_NAME "redo" /* the close log (redo.c) */
#define DFS_REDO_DEPTH 16    /* savepoints within savepoints it follows */
#define DFS_BLOBS_DIR "blobs"
#define DFS_WORK_DIR "work"
/* In a folder a backup is being written into (backup.c): no store opens
 * it until a backup into it completes. */
#define DFS_BACKUP_MARK "backup.incomplete"
#define DFS_NAME_MAX 255
#define DFS_SYMLINK_MAX 4095
#define DFS_XATTR_NAME_MAX 255
#define DFS_XATTR_SIZE_MAX 65536
#define DFS_SQL_CACHE 256 /* distinct SQL strings, a power of 2 */
/* SQLite's page cache, in KiB (dbopen.c; the daemon's is set aside at
 * start: db.c), and the page size it is counted in: SQLite's default,
 * which the store's database keeps. */
#define DFS_CACHE_KIB 16384
#define DFS_PAGE_SIZE 4096
#define DFS_LAZY_MS 20 /* group commit window */
/* How far the database file may lag behind its WAL (txn.c): a checkpoint
 * runs once the oldest commit it lacks is DFS_CHECKPOINT_MS old, or once
 * DFS_CHECKPOINT_PAGES pages (4 MiB of 4 KiB pages) wait; a blocked one is
 * tried again every DFS_CHECKPOINT_RETRY_MS.  docs/behaviour.md states it. */
#define DFS_CHECKPOINT_PAGES 1024
#define DFS_CHECKPOINT_MS 5000
#define DFS_CHECKPOINT_RETRY_MS 1000
#define DFS_NOTICES_MAX 256	    /* changes the kernel must hear of */
#define DFS_INLINE_MAX (64 * 1024)  /* content kept in the database */
#define DFS_QUICK_CHECK_MAX 10	    /* problems a refusal quotes */
#define DFS_CHUNK_SIZE (128 * 1024) /* a blob file is checked chunk by chunk */

struct dfs_content; /* layer 3 (content.h) */
struct dfs_trees;   /* layer 4 (trees.h) */

/* The blobs found good in this mount, and the chunks found good of blobs
 * read in part (goodset.c).  Its lock guards the rest and is taken last:
 * with or without st->lock, never around anything else. */
struct dfs_partial;
struct dfs_goodset {
	pthread_mutex_t lock;
	pthread_cond_t checked; /* a chunk being checked was checked */
	struct dfs_hash *v;	/* open addressing; all-zero: an empty slot */
	size_t n;
	size_t cap;
	struct dfs_partial **part; /* hash chains, DFS_PART_BUCKETS */
	size_t nparts;
	size_t evict; /* the bucket where eviction looks next */
};

/*
 * The chunk list of a blob file: the XXH3-64 of each chunk of `chunk`
 * bytes (the last one may be shorter), taken in the same pass over the
 * bytes as its name when it was sealed (blobcheck.c).
 */
struct dfs_chunks {
	struct dfs_hash blob;
	uint64_t size;	/* of the blob */
	uint32_t chunk; /* bytes a chunk */
	uint32_t n;	/* chunks: size / chunk rounded up */
	uint64_t sum[]; /* n sums */
};

/* A run of bytes that grows (sys.c). */
struct dfs_bytes {
	char *p;
	size_t len, cap;
};

struct dfs_store {
	char *path;
	int dirfd;
	int blobs_fd;
	int work_fd;
	int lock_fd;
	int wal_fd;	 /* for durable commits, see dfs_db_commit() */
	int reserve_fd;	 /* STORE/reserve (reserve.c), -1 none */
	int64_t reserve; /* its size when taken, bytes */
	bool reserve_spent;
	int64_t reserve_checked;
	unsigned flags; /* DFS_OPEN_* */
	/* While opening: where to say why a refusal happened (the caller's
	 * buffer of why_cap bytes, or NULL); see dfs_open_why(). */
	char *why;
	size_t why_cap;

	pthread_mutex_t lock;
	sqlite3 *db;
	/* The daemon's checkpoints (ckpt.c), used by the tick alone and
	 * without st->lock; NULL: checkpoints go through db. */
	sqlite3 *ckpt_db;
	const char *sql_key[DFS_SQL_CACHE]; /* see dfs_sql() */
	sqlite3_stmt *sql_stmt[DFS_SQL_CACHE];

	/* group commit (txn.c) */
	bool txn_open;
	bool op_lazy;
	bool txn_ticked; /* the tick was told of this transaction's lazy work */
	bool txn_whole;	 /* see dfs_db_begin_whole() */
	int64_t txn_since;
	uint64_t op_ino; /* the inode the lazy call in progress changes */
	/* A read transaction (db.c dfs_db_read()): reads share one snapshot
	 * and its lock until a write or the tick ends it.  read_hold: the
	 * daemon, whose tick ends them. */
	bool read_open;
	bool read_hold;
	int64_t read_since;
	/* Inodes whose answered lazy calls wait in the open transaction, and
	 * those whose calls a failed commit undid, with its -errno: their
	 * next flush or fsync reports the loss (dfs_db_settle()). */
	struct dfs_ino_list {
		uint64_t *ino;
		int *err;
		size_t n, cap;
	} pending, lost;
	/* The close log (redo.c): the open transaction's statements. */
	struct dfs_redo {
		int fd;			     /* STORE/redo; -1: closes commit */
		struct dfs_bytes buf;	     /* statements (redo.c says how) */
		size_t written;		     /* of buf, in the file */
		size_t mark[DFS_REDO_DEPTH]; /* len at each savepoint */
		int depth;
		bool broken;	     /* not all logged: commit instead */
		bool retrying;	     /* a commit failed; the next one retries */
		sqlite3_stmt *bound; /* whose values params holds */
		struct dfs_bytes params;
		uint64_t epoch, seq;
		off_t off; /* where the next record goes */
	} redo;
	/* checkpoints (txn.c): what the database file lacks of the WAL */
	int wal_frames;	    /* frames in the WAL after the last commit */
	int ckpt_behind;    /* pages committed since the last checkpoint */
	int64_t ckpt_since; /* the oldest commit not copied; 0: none */
	int64_t ckpt_retry; /* after a blocked checkpoint: not before */
	bool ckpt_warned;   /* that it is past the bound was logged */
	bool ckpt_catchup;  /* copied without st->lock: the rest with it */
	/* Signalled when background work waits: a lazy transaction to
	 * commit within DFS_LAZY_MS, a WAL to checkpoint, or whatever the
	 * layers above queue (the sealer waits on it). */
	pthread_cond_t wake;
	/* The background thread waits without a near deadline (for work,
	 * or for a checkpoint due later): new work must wake it.  Otherwise
	 * it looks again within DFS_LAZY_MS by itself, and a wake-up per
	 * call would only cost two context switches (dfs_wake()). */
	bool idle;

	/* Refusals recorded (model/audit.c, dfs_audit_refuse()): the trees
	 * compare it around a call to see whether the act recorded its own
	 * refusal (trees/refuse.c). */
	uint64_t refusals;
	/* Work of an upper layer the background tick runs once later_due
	 * (dfs_now_ns(); 0: none) has passed: the trees record refusals
	 * folded into a count (trees/refuse.c). */
	void (*later)(struct dfs_store *st);
	int64_t later_due;
	struct dfs_goodset good;
	struct dfs_notices { /* notice.c */
		struct dfs_notice ring[DFS_NOTICES_MAX];
		unsigned head, n;
		bool stopped;
		pthread_cond_t cond;
	} notices;
	/* The kernel's attributes of an inode are stale (notice.c). */
	void (*attr_changed)(void *arg, uint64_t ino);
	void *attr_changed_arg;

	struct dfs_content *content;
	struct dfs_trees *trees;
	struct dfs_registry *registry; /* model/registry.c; NULL: none */
	/* Rows of the build tree changed on this connection (db.c), and
	 * the last walk of each component kept to compare with it
	 * (model/snapcache.c). */
	uint64_t tree_gen;
	struct dfs_snapcache *snapcache;
	uint64_t snap_reused; /* snapshots that reused a kept walk */
	/* The registry's place of the act being applied (its audit rows
	 * say it); 0: an act of this host alone. */
	int64_t reg_applying;
	/* The refusal being recorded waits for the registry's trail
	 * (model/audit.c, regtrail.c). */
	bool reg_outbox;
};

/* ---- db.c: the connection and its statements ---------------------------- */

/* Process-wide SQLite settings, once, before the first connection;
 * daemon: the page cache is set aside (and faulted in) at once. */
/* walvfs.c: the VFS that writes a commit's WAL frames in one call (its
 * name, or NULL: SQLite's default); how many writes it gathered and how
 * many it made of them. */
#define DFS_WALVFS "deployfs-wal"
const char *dfs_walvfs(void);
void dfs_walvfs_counts(int *gathered, int *writes);
/* Tests: hook runs before each sync of a main database file (NULL: none). */
void dfs_walvfs_on_db_sync(void (*hook)(void));
void dfs_sqlite_setup(bool daemon);

/* SQLite result codes to -errno: here and nowhere else. */
int dfs_sql_errno(int rc);
/* Reset s and turn the step result rc into 0 or -errno. */
int dfs_stmt_done(sqlite3_stmt *s, int rc);
/* Step s again: 1 on a row, else 0 or -errno with s reset. */
int dfs_next(sqlite3_stmt *s);
int dfs_db_exec(struct dfs_store *st, const char *sql);
/* One transaction control statement of constant text (BEGIN IMMEDIATE,
 * SAVEPOINT, RELEASE, COMMIT, ROLLBACK), prepared once and kept. */
int dfs_db_control(struct dfs_store *st, const char *sql);
/* The statement for a constant SQL string (keyed by its address),
 * prepared once per store; NULL when it cannot be prepared. */
sqlite3_stmt *dfs_sql(struct dfs_store *st, const char *sql);
/*
 * Bind the parameters described by fmt and step once: i int64, s string
 * (as a blob of its strlen; NULL binds NULL), h struct dfs_hash *, x
 * pointer + size_t blob, n NULL.  exec returns 0 or -errno; query returns
 * 1 with *ret on its first row (the caller resets it), 0 for no row, or
 * -errno.
 */
int dfs_exec_sql(struct dfs_store *st, const char *sql, const char *fmt, ...);
int dfs_query_sql(struct dfs_store *st, const char *sql, sqlite3_stmt **ret,
		  const char *fmt, ...);
/* The single int64 (or -ENOENT for no row or NULL) a query returns. */
int dfs_query_int(struct dfs_store *st, const char *sql, int64_t *ret,
		  const char *fmt, ...);
/* Append SQLite's message text to buf as one line ("; " after what buf
 * holds; newlines as spaces, a check's "*** in database main ***" heading
 * left out), cut to fit cap. */
void dfs_sql_msg_append(char *buf, size_t cap, const char *text);
/* Copy a text or blob column into buf (NUL-ended, cut to cap - 1). */
void dfs_col_text(sqlite3_stmt *s, int col, char *buf, size_t cap);
int64_t dfs_last_rowid(struct dfs_store *st);
int dfs_changes(struct dfs_store *st);
void dfs_db_close(struct dfs_store *st);

/* ---- notice.c: changes the kernel must hear of ----------------------------- */

/* An entry changed without a call on it (st->lock held): gone (it is no
 * more; child is its inode) or changed (looked up again). */
void dfs_notice_push(struct dfs_store *st, uint64_t parent, uint64_t child,
		     const char *name, bool gone);
/* Show watchers the act of another host on name in environments/env
 * (folder parent) as a call made here would (struct dfs_notice). */
void dfs_notice_show(struct dfs_store *st, uint64_t parent, const char *env,
		     const char *name, enum dfs_show show);
/* The attributes of ino changed without a call on it (st->lock held):
 * the kernel drops what it cached before this returns. */
void dfs_notice_attr(struct dfs_store *st, uint64_t ino);

/* ---- reserve.c: space kept for what frees space -------------------------- */

/* Open (daemon only) and take the reserve, or let it go on a full disk. */
int dfs_reserve_open(struct dfs_store *st);
void dfs_reserve_close(struct dfs_store *st);
int64_t dfs_reserve_bytes(struct dfs_store *st);
/* Before a commit: let the reserve go if the disk is (nearly) full. */
void dfs_reserve_check(struct dfs_store *st);
/* The reserve is let go: new content is refused with ENOSPC. */
bool dfs_reserve_spent(struct dfs_store *st);
/* From the background tick: take the reserve back once there is room. */
void dfs_reserve_tick(struct dfs_store *st);

/* ---- redo.c: the close log ------------------------------------------------ */

int dfs_redo_open(struct dfs_store *st, int version);
void dfs_redo_close(struct dfs_store *st);
void dfs_redo_op_begin(struct dfs_store *st);
void dfs_redo_op_end(struct dfs_store *st, bool undone);
bool dfs_redo_pending(const struct dfs_store *st);
int dfs_redo_write(struct dfs_store *st);
int dfs_redo_seal(struct dfs_store *st);
void dfs_redo_end(struct dfs_store *st, bool committed);
int dfs_redo_rerun(struct dfs_store *st);

/* ---- txn.c: transactions and group commit ------------------------------- */

/*
 * Each call is one savepoint inside a transaction that may be longer than
 * the call: a lazy call leaves it open, and the next eager call or the
 * background tick DFS_LAZY_MS later commits it.
 */
int dfs_db_begin(struct dfs_store *st);
int dfs_db_begin_lazy(struct dfs_store *st, uint64_t ino);
/* The inode the lazy call in progress changes, once it is known. */
void dfs_db_lazy_ino(struct dfs_store *st, uint64_t ino);
/*
 * A call on ino (a file's flush or fsync) that must learn the fate of
 * the lazy calls answered on it: commit them now if they wait, and
 * return the -errno of a commit that undid them (once), else 0.
 */
int dfs_db_settle(struct dfs_store *st, uint64_t ino);
void dfs_db_lists_free(struct dfs_store *st);
/* A transaction of its own, without a savepoint (thousands of rows). */
int dfs_db_begin_whole(struct dfs_store *st);
int dfs_db_flush(struct dfs_store *st);
/* Commit, or with durable also sync the WAL. */
int dfs_db_commit(struct dfs_store *st, bool durable);
/* Commit a close's call: logged now (redo.c), committed with the group. */
int dfs_db_commit_logged(struct dfs_store *st);
/* Undo the current call only (its savepoint). */
void dfs_db_rollback(struct dfs_store *st);
/*
 * Reads outside a transaction (st->read_hold: the daemon).  Each read
 * SQLite runs by itself takes and drops a WAL read lock: two fcntl()
 * calls a statement, a dozen statements a request.  dfs_sql() opens a
 * read transaction at a read instead, which the next write, flush or
 * the tick (after DFS_LAZY_MS) ends: no write waits in it, so no answered
 * call depends on it.  dfs_db_read_end(): end it now (st->lock held).
 */
void dfs_db_read(struct dfs_store *st);
void dfs_db_read_end(struct dfs_store *st);
/* rc == 0: commit (not durably); else roll back.  Returns rc or the
 * commit's error. */
int dfs_finish(struct dfs_store *st, int rc);
/* Commit lazy work older than DFS_LAZY_MS, checkpoint the WAL when due,
 * run st->later when due.  True when it let go of st->lock meanwhile (a
 * checkpoint): whatever the caller checked before may have changed. */
bool dfs_db_tick_locked(struct dfs_store *st);
void dfs_wake(struct dfs_store *st);

/* ---- ckpt.c: checkpoints ------------------------------------------------ */

/* Count the WAL's pages after each commit of st->db (the daemon). */
void dfs_db_watch_wal(struct dfs_store *st);
/* When (dfs_now_ns()) the tick has a checkpoint to run; 0: none waits. */
int64_t dfs_db_tick_due(const struct dfs_store *st);
/* The daemon's connection for checkpoints; on failure, logged, none. */
void dfs_ckpt_open(struct dfs_store *st, const char *dbpath);
void dfs_ckpt_close(struct dfs_store *st);
/* Copy the WAL into the database file (st->lock held, no transaction
 * open); true when it let go of st->lock meanwhile (st->ckpt_db). */
bool dfs_ckpt_run(struct dfs_store *st);

/*
 * Whether the build tree can have changed: gen counts the rows of
 * inodes and dirents written and the components made or deleted on this
 * connection (an SQLite update hook, from the open on), data_version
 * SQLite's count of other connections' commits.  Equal versions: no row
 * a walk of build/ reads has changed between them.
 */
struct dfs_tree_version {
	uint64_t gen;
	int64_t data_version;
};
void dfs_db_watch_tree(struct dfs_store *st);
int dfs_db_tree_version(struct dfs_store *st, struct dfs_tree_version *ret);

/* ---- schema.c ------------------------------------------------------------ */

/* Bring the schema of db from version from up to date (one transaction). */
int dfs_schema_migrate(sqlite3 *db, int from);

/* ---- dbopen.c ------------------------------------------------------------ */

/* Open the database of st (st->path, st->dirfd set): check, migrate. */
int dfs_schema_open(struct dfs_store *st);
/* While opening: say why the store is refused (kept for the caller of
 * dfs_storage_open(); the first sentence wins). */
void dfs_open_why(struct dfs_store *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- blob.c: content named by its XXH3-128 hash --------------------------- */

extern const struct dfs_hash dfs_empty_hash;
void dfs_blob_relpath(const struct dfs_hash *h, char out[40]);
/* The hash of len bytes. */
void dfs_hash_buf(const void *data, size_t len, struct dfs_hash *ret);
/* Copy size bytes of in to out, leaving holes where in has them. */
int dfs_copy_sparse(int in, int out, uint64_t size);
/* A new temporary file in the blob folder (its name in tmp), read-write:
 * fill it, then dfs_blob_link() names it h (synced first, the folder
 * after; an existing h is kept) and removes the temporary name. */
int dfs_blob_tmp(struct dfs_store *st, char tmp[64]);
int dfs_blob_link(struct dfs_store *st, int fd, const char *tmp,
		  const struct dfs_hash *h);

/* ---- goodset.c: the blobs found good in this mount ------------------------- */

void dfs_goodset_init(struct dfs_goodset *g);
void dfs_goodset_release(struct dfs_goodset *g);
bool dfs_blob_is_good(struct dfs_store *st, const struct dfs_hash *h);
/* Found good, or written and synced by the store itself just now. */
void dfs_blob_mark_good(struct dfs_store *st, const struct dfs_hash *h);
/*
 * Chunk k of the n chunks of blob h, about to be served: true when it
 * (or the whole blob) was found good before.  Else the caller checks it
 * now and reports with dfs_chunk_checked(); while another thread checks
 * it, this waits for that verdict.
 */
bool dfs_chunk_claim(struct dfs_store *st, const struct dfs_hash *h, uint32_t k,
		     uint32_t n);
/* The verdict on a claimed chunk.  When every chunk of h is found good,
 * h is good (dfs_blob_mark_good); a damaged chunk is never remembered. */
void dfs_chunk_checked(struct dfs_store *st, const struct dfs_hash *h,
		       uint32_t k, uint32_t n, bool good);

/* ---- blobcheck.c: blob files checked against their names ---------------- */

/*
 * Content is checked, not trusted: a blob's bytes are hashed and compared
 * with its name (and the size recorded for it) before they are first
 * served or vouched for, once per mount (goodset.c): a blob file with a
 * chunk list chunk by chunk as reads serve it, any other one whole.  A
 * damaged or missing blob is -EIO, with one log line naming it.
 */
/* The blob file h checked against its name: size bytes hashing to h.  0
 * (remembered as good) or -EIO (logged); -ENOENT when there is no such
 * file (the caller knows whether h is kept in the database).  Reads the
 * whole file: call it without st->lock. */
int dfs_blob_check(struct dfs_store *st, const struct dfs_hash *h,
		   uint64_t size);
/* The same on fd, the blob file h already open. */
int dfs_blob_check_fd(struct dfs_store *st, const struct dfs_hash *h,
		      uint64_t size, int fd);
/* Log that blob h has neither a file nor a row; returns -EIO. */
int dfs_blob_missing(const struct dfs_hash *h);

/* Hash the whole content of fd as dfs_hash_fd() does and, in the same
 * pass, each DFS_CHUNK_SIZE chunk of it: *ret_chunks (free() it). */
int dfs_hash_fd_chunked(int fd, struct dfs_hash *ret,
			struct dfs_chunks **ret_chunks);
/* Record c as the chunk list of its blob (an existing list is kept), in
 * the caller's transaction, beside the blob's row. */
int dfs_chunks_put(struct dfs_store *st, const struct dfs_chunks *c);
/* The chunk list of blob h of size bytes: 1 with *ret (free() it), 0
 * when h has none (a blob sealed before lists were kept, or a malformed
 * one, logged) or -errno. */
int dfs_chunks_get(struct dfs_store *st, const struct dfs_hash *h,
		   uint64_t size, struct dfs_chunks **ret);
/* Does h have a chunk list?  (st->lock held.) */
bool dfs_chunks_exist(struct dfs_store *st, const struct dfs_hash *h);
/* Log that blob file fd of h has not the size recorded for it when it
 * has not; returns -EIO then, else 0. */
int dfs_blob_check_size(const struct dfs_hash *h, uint64_t size, int fd);

/* ---- chunkread.c: blob files checked chunk by chunk as they are read ---- */

/* Before [off, off + len) of the blob file fd is served: check each chunk
 * of c it touches that was not found good yet.  0, or -EIO (logged,
 * naming the blob) when one is damaged; -ENOMEM.  Without st->lock. */
int dfs_chunks_check(struct dfs_store *st, const struct dfs_chunks *c, int fd,
		     uint64_t off, uint64_t len);
/* The most chunks one dfs_chunks_read() reads (FUSE reads 128 KiB). */
#define DFS_CHUNKS_READ_MAX 64
/*
 * [off, off + len) of the blob file fd read into buf (len bytes) when it
 * is whole chunks of c (the last may end the blob) and one of them was
 * not found good yet: each such chunk is checked in buf, so the caller
 * serves the bytes it was given.  The bytes read, -EIO (logged), or
 * -EAGAIN when the range is not for this (check with dfs_chunks_check()
 * and serve from fd).  Without st->lock.
 */
ssize_t dfs_chunks_read(struct dfs_store *st, const struct dfs_chunks *c,
			int fd, char *buf, uint64_t off, uint64_t len);

/* ---- inline.c: small blobs kept in the database ---------------------------- */

/*
 * A memfd holding the content of blob h if it is kept inline
 * (*ret_inline true), else nothing (the caller opens the blob file).
 * The bytes are checked against h as they are loaded: -EIO (logged).
 */
int dfs_inline_open(struct dfs_store *st, const struct dfs_hash *h,
		    bool *ret_inline, int *ret_fd);
/* The inline bytes of h checked against h: 0, -EIO (logged), or -ENOENT
 * when h is not kept inline. */
int dfs_inline_check(struct dfs_store *st, const struct dfs_hash *h);
/* An fd on blob h's bytes, inline or a file of size bytes, checked
 * against h unless found good before: -EIO (logged) when damaged or
 * missing.  A large file not yet checked is read whole with st->lock
 * held: check it first with dfs_blob_check() where the lock can go. */
int dfs_blob_open_checked(struct dfs_store *st, const struct dfs_hash *h,
			  uint64_t size, int *ret_fd);
/*
 * An fd on blob h's bytes to serve reads from.  The same as
 * dfs_blob_open_checked(), except for a file with a chunk list not yet
 * found good: only its size is checked here (-EIO, logged), and
 * *ret_chunks (free() it; else NULL) is what each read must check with
 * dfs_chunks_check() before its bytes are served.
 */
int dfs_blob_open_served(struct dfs_store *st, const struct dfs_hash *h,
			 uint64_t size, int *ret_fd,
			 struct dfs_chunks **ret_chunks);
/* Record bytes as blob h (row and bytes; an existing one is kept). */
int dfs_inline_put(struct dfs_store *st, const struct dfs_hash *h,
		   const void *data, size_t len);
/* A blob file's row (refs 0 until something names it). */
int dfs_blob_row_add(struct dfs_store *st, const struct dfs_hash *h,
		     uint64_t size);
/* blobput.c: size bytes of fd (content from outside, deployctl import)
 * as a blob in the caller's transaction: a row with its bytes when small,
 * else a blob file written and synced before its row and chunk list. */
int dfs_blob_put_fd(struct dfs_store *st, int fd, uint64_t size,
		    struct dfs_hash *ret);
/* A blob of size bytes whose file comes later from the registry
 * (model/regfetch.c): its row, and a blob_remote row unless its file is
 * here already; in the caller's transaction. */
int dfs_blob_remote_add(struct dfs_store *st, const struct dfs_hash *h,
			uint64_t size);
/* Whether blob h comes from the registry: 1, 0, or -errno. */
int dfs_blob_is_remote(struct dfs_store *st, const struct dfs_hash *h);
/* Delete blobs nothing refers to any more: their rows and files. */
void dfs_blob_reclaim_locked(struct dfs_store *st);

/* ---- fsck.c, backup.c: in store.h ----------------------------------------------- */

/* ---- sys.c: clocks, users, the calling process, buffers -------------------- */

int64_t dfs_now_ns(void);
struct timespec dfs_ns_to_ts(int64_t ns);
int64_t dfs_ts_to_ns(struct timespec ts);
/* ns since the epoch as 2026-11-27T05:43:57Z */
void dfs_iso_time(int64_t ns, char *buf, size_t cap);
void dfs_user_name(uint32_t uid, char *buf, size_t cap);
/* actor, or this process when actor is NULL (tools, tests). */
const struct dfs_actor *dfs_actor_or_self(const struct dfs_actor *actor,
					  struct dfs_actor *self);
void dfs_work_name(uint64_t ino, char out[32]);
/* Append n bytes of p to b: 0 or -ENOMEM. */
int dfs_bytes_put(struct dfs_bytes *b, const void *p, size_t n);
void dfs_bytes_free(struct dfs_bytes *b);
/* The whole of the file fd, in a buffer of its own (one byte more, so
 * never NULL): 0 or -errno (-EIO when it is shorter than its size). */
int dfs_read_whole(int fd, char **ret, size_t *ret_len);

/* ---- io.c: the I/O seam; each returns 0 or -errno -------------------------- */

int dfs_io_fsync(int fd);
int dfs_io_fdatasync(int fd);
int dfs_io_syncfs(int fd);
int dfs_io_linkat(int olddir, const char *old, int newdir, const char *new);
int dfs_io_renameat(int olddir, const char *old, int newdir, const char *new,
		    unsigned flags);
int dfs_io_write_all(int fd, const void *buf, size_t len);
int dfs_io_write_all_at(int fd, const void *buf, size_t len, off_t off);

/* ---- open.c: the store folder ------------------------------------------------ */

/* Open the folder, lock it (DFS_OPEN_DAEMON) and its database.  On a
 * refusal, why (cap bytes, may be NULL) says what was found. */
int dfs_storage_open(const char *path, unsigned flags, struct dfs_store **ret,
		     char *why, size_t cap);
/* Close what dfs_storage_open() opened; the layers above freed theirs. */
void dfs_storage_close(struct dfs_store *st);

#endif
