/* SPDX-License-Identifier: MIT */
/*
 * store.h - the deployfs store: the whole API between fs/, tools/ and
 * store/.  A store is a folder holding an SQLite database in WAL mode
 * (inodes, directory entries, extended attributes, blob references) and
 * content blobs named by their XXH3-128 hash.  Nothing here names SQLite or
 * FUSE, so another backend changes nothing above this header.
 *
 * Every function that can fail returns 0 (or a count) or -errno, and writes
 * its ret_* out-parameters only on success.  All functions are thread-safe.
 */
#ifndef DEPLOYFS_STORE_H
#define DEPLOYFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#define DFS_WUR __attribute__((warn_unused_result))

struct dfs_store;

/* Fixed inode numbers; every other inode number is a store row id. */
enum {
	DFS_INO_ROOT = 1,
	DFS_INO_BUILD = 2,
	DFS_INO_PACKAGES = 3,
	DFS_INO_ENVIRONMENTS = 4,
	DFS_INO_AUDIT = 5,
};

/*
 * Inode number ranges.  Below DFS_INO_VIRTUAL_BASE: rows of the build
 * tree (and the fixed nodes above).  Snapshot nodes, package folders and
 * `latest` links are rows of their own tables, offset into ranges of their
 * own, so every inode number is stable across remounts.
 */
#define DFS_INO_SNODE_BASE (1ull << 40)	 /* + snodes.id */
#define DFS_INO_PKGDIR_BASE (2ull << 40) /* + components.id */
#define DFS_INO_LATEST_BASE (3ull << 40) /* + packages.id */
#define DFS_INO_VIRTUAL_BASE DFS_INO_SNODE_BASE

/*
 * environments/: each environment folder is a row of envs; each `NAME`
 * link is the row of its deployment; a copy tool's temporary file or a
 * pending link (ln -sfn's temporary name) lives in memory until it is
 * renamed into place.  The nodes under environments/ENV/NAME@VERSION are
 * the package's snapshot nodes seen from that environment: the
 * environment's id and the snapshot node's id in one number, so the same
 * node has its own inode in every environment.
 */
#define DFS_INO_ENV_BASE (4ull << 40)	  /* + envs.id */
#define DFS_INO_DEPLINK_BASE (5ull << 40) /* + deployments.id */
#define DFS_INO_TEMP_BASE (6ull << 40)	  /* + a number, in memory */
#define DFS_INO_EVIEW_BASE (1ull << 63)	  /* | envs.id << 40 | snodes.id */

/* Is ino a node of the build tree (where negative lookups may be
 * cached)? */
static inline bool dfs_ino_is_build(uint64_t ino)
{
	return ino < DFS_INO_VIRTUAL_BASE && ino != DFS_INO_PACKAGES &&
	       ino != DFS_INO_ENVIRONMENTS;
}

/* Is ino a file, folder or link inside a package (packages/N/N@V/...)? */
static inline bool dfs_ino_is_snode(uint64_t ino)
{
	return ino >= DFS_INO_SNODE_BASE && ino < DFS_INO_PKGDIR_BASE;
}

/* Node flags (struct dfs_attr.flags). */
enum {
	DFS_NODE_SYSTEM = 1 << 0,    /* cannot be removed or renamed */
	DFS_NODE_READONLY = 1 << 1,  /* nothing under it may change: EROFS */
	DFS_NODE_TYPEDIR = 1 << 2,   /* build/TYPE */
	DFS_NODE_FENCED = 1 << 3,    /* only system children: EPERM */
	DFS_NODE_IMMUTABLE = 1 << 4, /* never changes: cache for long */
	DFS_NODE_VOLATILE = 1 << 5,  /* may change behind the kernel */
	/* Its name may go away behind the kernel (attributes may be kept):
	 * look it up each time. */
	DFS_NODE_ENTRY_VOLATILE = 1 << 6,
	/* Its listing changes behind the kernel: never cache it. */
	DFS_NODE_LIST_VOLATILE = 1 << 7,
	/* Its name may go away behind the kernel, which is told at once
	 * (its attributes are dropped before the change is answered, its
	 * entry just after): the entry is kept the mount's ttl, not as
	 * long as its attributes, in case a notice is lost. */
	DFS_NODE_ENTRY_TOLD = 1 << 8,
	/* Told as ENTRY_TOLD, but kept only a second: a notice lost (a
	 * burst of them past the ring in notice.c) leaves the name that
	 * long at most. */
	DFS_NODE_ENTRY_BRIEF = 1 << 9,
};

#define DFS_HASH_LEN 16
#define DFS_HASH_HEX (2 * DFS_HASH_LEN + 1)

struct dfs_hash {
	uint8_t b[DFS_HASH_LEN];
};

struct dfs_attr {
	uint64_t ino;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t blocks; /* 512-byte units */
	uint64_t rdev;
	struct timespec atime;
	struct timespec mtime;
	struct timespec ctime;
	uint32_t flags; /* DFS_NODE_* */
};

/*
 * Who asks: from the FUSE request context, or the calling process.  For
 * the audit trail, pid is the process (thread group) and cmd its command
 * line, arguments separated by spaces and quoted like a shell's where
 * that is needed to keep them apart (a space, a quote, a backslash, a
 * control character, an empty argument: 'a b', 'it'\''s'), cut to
 * DFS_CMD_MAX - 1 bytes.  An actor with an empty cmd (a request as FUSE
 * gives it: pid is the thread that asks) is resolved by
 * dfs_actor_resolve() before anything records it; one with a cmd is
 * taken as it is.
 *
 * groups: the supplementary groups, where a permission is checked by
 * the store (ngroups 0: only gid).
 */
#define DFS_CMD_MAX 256
#define DFS_GROUPS_MAX 64
struct dfs_actor {
	uint32_t uid;
	uint32_t gid;
	int32_t pid;
	char cmd[DFS_CMD_MAX];
	int ngroups;
	uint32_t groups[DFS_GROUPS_MAX];
};

/* Unless a->cmd is set already: make pid the thread group of the thread
 * a->pid and read its command line from /proc (while its request is in
 * flight: the process may be gone a moment later). */
void dfs_actor_resolve(struct dfs_actor *a);

/* The same for a request's thread a->pid, which also reads its
 * supplementary groups into a->groups (with the thread group, from one
 * read of /proc/TID/status); a->cmd is read unless it is set. */
void dfs_actor_resolve_groups(struct dfs_actor *a);

/* ---- opening ----------------------------------------------------------- */

enum {
	DFS_OPEN_DAEMON = 1 << 0,    /* take the store's exclusive lock */
	DFS_OPEN_NO_SEALER = 1 << 1, /* seal on release, synchronously */
	DFS_OPEN_NO_INLINE = 1
			     << 2, /* every blob a file (tests of that path) */
};

/* Create a new store in PATH (absent or an empty folder). */
DFS_WUR int dfs_store_create(const char *path);

/*
 * Open the store in PATH.  Refusals leave the folder untouched:
 * -ENOENT missing, -ENOTDIR not a folder, -EMEDIUMTYPE not a deployfs store,
 * -ENODATA an empty (0-byte) database, -EUCLEAN corrupt database (with
 * DFS_OPEN_DAEMON every page is checked first, SQLite's quick_check),
 * -EPROTONOSUPPORT newer schema, -EBUSY already served by another daemon,
 * -EINPROGRESS a backup into it did not finish.
 */
DFS_WUR int dfs_store_open(const char *path, unsigned flags,
			   struct dfs_store **ret);
/* The same; on a refusal why (cap bytes) holds a sentence naming the file
 * and what was found in it (what SQLite said), or "" when
 * dfs_store_strerror() says it all. */
DFS_WUR int dfs_store_open_why(const char *path, unsigned flags,
			       struct dfs_store **ret, char *why, size_t cap);
/* Finish pending seals, close.  Takes NULL, returns NULL. */
struct dfs_store *dfs_store_free(struct dfs_store *st);
/* A sentence for the refusals of dfs_store_open(). */
/*
 * Changes the kernel must hear of: an entry that changed without a call
 * on it (a deploy replaces ENV/N@OLD by ENV/N@NEW).  The daemon's
 * notifier thread waits for each (0), and tells the kernel: gone, child
 * is the entry's inode (fuse_lowlevel_notify_delete); else look it up
 * again (notify_inval_entry).  -ESHUTDOWN once dfs_store_notices_stop()
 * has run.
 */
struct dfs_notice {
	uint64_t parent;
	uint64_t child;
	bool gone;
	char name[256];
	/* An act of another host applied here, which watchers here did
	 * not see made: the daemon makes the call that shows it on its own
	 * mount (fs/announce.c) in environments/ENV (env), the folder
	 * parent: DFS_SHOW_LINK name renamed into place (inotify's
	 * MOVED_TO), DFS_SHOW_COPY folder name made (CREATE), DFS_SHOW_GONE
	 * link name removed (DELETE).  DFS_SHOW_NONE: a notice as above. */
	enum dfs_show {
		DFS_SHOW_NONE,
		DFS_SHOW_LINK,
		DFS_SHOW_COPY,
		DFS_SHOW_GONE
	} show;
	char env[256];
};
int dfs_store_notice_wait(struct dfs_store *st, struct dfs_notice *ret);
/* fn(arg, ino) drops the kernel's cached attributes of ino at once; the
 * store calls it (st->lock held, so fn must not call the store) when a
 * node the kernel may cache changes without a call on it. */
void dfs_store_on_attr_change(struct dfs_store *st,
			      void (*fn)(void *arg, uint64_t ino), void *arg);
void dfs_store_notices_stop(struct dfs_store *st);
/* The calling thread takes the daemon's requests one at a time, in the
 * order the kernel queued them (fs/loop.c): a call it serves never waits
 * for another request (one that would come after it), only for threads
 * of the store's own. */
void dfs_store_serve_in_order(struct dfs_store *st);

const char *dfs_store_strerror(int rc);
int dfs_store_schema_version(void);
DFS_WUR int dfs_store_statfs(struct dfs_store *st, struct statvfs *ret);
/* Wait until every closed file is sealed into a blob (tests, unmount). */
int dfs_store_sync(struct dfs_store *st);
/* Every call answered so far committed and on disk (fsync of a folder;
 * deployctl before it reads the store behind a mount): 0 or -errno. */
DFS_WUR int dfs_store_commit_durable(struct dfs_store *st);

/* ---- the namespace ----------------------------------------------------- */

DFS_WUR int dfs_node_lookup(struct dfs_store *st, uint64_t parent,
			    const char *name, struct dfs_attr *ret);
/*
 * The _as forms of calls take the actor the audit trail records: a call
 * refused outside build/ (packages/, environments/, audit.log, the root)
 * is recorded, by the act when it records its own refusal, otherwise as
 * action=OP (lookup, mkdir, open, rename, setattr, ...), repeats alike
 * from one process folded into a count (docs/behaviour.md).  Without
 * _as, or with a NULL actor: this process.
 */
DFS_WUR int dfs_node_lookup_as(struct dfs_store *st,
			       const struct dfs_actor *actor, uint64_t parent,
			       const char *name, struct dfs_attr *ret);
DFS_WUR int dfs_node_getattr(struct dfs_store *st, uint64_t ino,
			     struct dfs_attr *ret);

enum {
	DFS_SET_MODE = 1 << 0,
	DFS_SET_UID = 1 << 1,
	DFS_SET_GID = 1 << 2,
	DFS_SET_SIZE = 1 << 3,
	DFS_SET_ATIME = 1 << 4,
	DFS_SET_MTIME = 1 << 5,
	DFS_SET_ATIME_NOW = 1 << 6,
	DFS_SET_MTIME_NOW = 1 << 7,
	DFS_SET_CTIME = 1 << 8,
};

struct dfs_setattr {
	unsigned valid; /* DFS_SET_* */
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	struct timespec atime;
	struct timespec mtime;
	struct timespec ctime;
};

DFS_WUR int dfs_node_setattr(struct dfs_store *st, uint64_t ino,
			     const struct dfs_setattr *sa,
			     struct dfs_attr *ret);
DFS_WUR int dfs_node_setattr_as(struct dfs_store *st,
				const struct dfs_actor *actor, uint64_t ino,
				const struct dfs_setattr *sa,
				struct dfs_attr *ret);
/* Regular files, fifos, sockets and devices.  mode includes the type. */
DFS_WUR int dfs_node_mknod(struct dfs_store *st, const struct dfs_actor *actor,
			   uint64_t parent, const char *name, uint32_t mode,
			   uint64_t rdev, struct dfs_attr *ret);
DFS_WUR int dfs_node_mkdir(struct dfs_store *st, const struct dfs_actor *actor,
			   uint64_t parent, const char *name, uint32_t mode,
			   struct dfs_attr *ret);
DFS_WUR int dfs_node_symlink(struct dfs_store *st,
			     const struct dfs_actor *actor, uint64_t parent,
			     const char *name, const char *target,
			     struct dfs_attr *ret);
DFS_WUR int dfs_node_link(struct dfs_store *st, uint64_t ino,
			  uint64_t newparent, const char *newname,
			  struct dfs_attr *ret);
DFS_WUR int dfs_node_link_as(struct dfs_store *st,
			     const struct dfs_actor *actor, uint64_t ino,
			     uint64_t newparent, const char *newname,
			     struct dfs_attr *ret);
DFS_WUR int dfs_node_unlink(struct dfs_store *st, uint64_t parent,
			    const char *name);
/* actor: for the audit trail (removing a package); NULL: this process. */
DFS_WUR int dfs_node_rmdir(struct dfs_store *st, const struct dfs_actor *actor,
			   uint64_t parent, const char *name);

enum {
	DFS_RENAME_NOREPLACE = 1 << 0,
	DFS_RENAME_EXCHANGE = 1 << 1,
};

DFS_WUR int dfs_node_rename(struct dfs_store *st, uint64_t parent,
			    const char *name, uint64_t newparent,
			    const char *newname, unsigned flags);
/* The same, with the actor the audit trail records (environments/). */
DFS_WUR int dfs_node_unlink_as(struct dfs_store *st,
			       const struct dfs_actor *actor, uint64_t parent,
			       const char *name);
DFS_WUR int dfs_node_rename_as(struct dfs_store *st,
			       const struct dfs_actor *actor, uint64_t parent,
			       const char *name, uint64_t newparent,
			       const char *newname, unsigned flags);
/* Copies the target into buf (NUL-ended); returns its length. */
DFS_WUR int dfs_node_readlink(struct dfs_store *st, uint64_t ino, char *buf,
			      size_t cap);
/*
 * Holds: the kernel knows ino (one hold per lookup reply).  Forgetting the
 * last hold of a node with no links left and no open content deletes it.
 */
void dfs_node_hold(struct dfs_store *st, uint64_t ino);
void dfs_node_forget(struct dfs_store *st, uint64_t ino, uint64_t n);

/*
 * Readdir: calls fn for each entry after offset off (0 = from the start;
 * "." and ".." are not included).  Each entry's off is stable: entries
 * added or removed meanwhile do not move the others.  fn returns non-zero
 * to stop (buffer full).
 */
struct dfs_dirent {
	const char *name;
	uint64_t off; /* pass back to continue after this entry */
	struct dfs_attr attr;
};
typedef int (*dfs_readdir_fn)(void *ctx, const struct dfs_dirent *de);
/* With hold, each entry fn accepted (returned 0) gets a hold. */
DFS_WUR int dfs_node_readdir(struct dfs_store *st, uint64_t ino, uint64_t off,
			     bool hold, dfs_readdir_fn fn, void *ctx);

/* ---- extended attributes (user.* only) --------------------------------- */

enum {
	DFS_XATTR_CREATE = 1 << 0,
	DFS_XATTR_REPLACE = 1 << 1,
};

/* Returns the value's size; copies it when cap is large enough (else
 * -ERANGE); cap 0 asks for the size only. */
DFS_WUR int dfs_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
			  void *buf, size_t cap);
DFS_WUR int dfs_xattr_get_as(struct dfs_store *st,
			     const struct dfs_actor *actor, uint64_t ino,
			     const char *name, void *buf, size_t cap);
/* actor: for the audit trail (the notes of a package); NULL: this
 * process. */
DFS_WUR int dfs_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
			  uint64_t ino, const char *name, const void *value,
			  size_t size, unsigned flags);
/* NUL-separated names; returns the total size (cap 0: size only). */
DFS_WUR int dfs_xattr_list(struct dfs_store *st, uint64_t ino, char *buf,
			   size_t cap);
DFS_WUR int dfs_xattr_list_as(struct dfs_store *st,
			      const struct dfs_actor *actor, uint64_t ino,
			      char *buf, size_t cap);
DFS_WUR int dfs_xattr_remove(struct dfs_store *st, uint64_t ino,
			     const char *name);
DFS_WUR int dfs_xattr_remove_as(struct dfs_store *st,
				const struct dfs_actor *actor, uint64_t ino,
				const char *name);

/* ---- file content ------------------------------------------------------ */

/*
 * An open file.  Content lives either in an immutable blob (shared by
 * every file with the same bytes) or, while being written, in a private
 * work file.  Opening for writing turns a blob into a work file (no copy
 * when O_TRUNC or when no one else uses the blob); the last release
 * seals a written file back into a blob: hashed, written durably and
 * deduplicated by a background sealer.
 */
struct dfs_file;

/* flags: O_RDONLY/O_WRONLY/O_RDWR, O_TRUNC, O_APPEND */
DFS_WUR int dfs_file_open(struct dfs_store *st, uint64_t ino, int flags,
			  struct dfs_file **ret);
/* The same, with the actor the audit trail records (environments/). */
DFS_WUR int dfs_file_open_as(struct dfs_store *st,
			     const struct dfs_actor *actor, uint64_t ino,
			     int flags, struct dfs_file **ret);
/*
 * Files whose writes are checked rather than stored (a copy into an
 * environment is compared with its package) and audit.log take their
 * bytes through dfs_file_write() and dfs_file_read() instead of an fd.
 */
bool dfs_file_buffered(const struct dfs_file *f);
/*
 * A stored file opened to be written only: it needs no page cache (the
 * kernel then sends each write as it comes, FUSE direct I/O, and asks no
 * security.capability of each).  The kernel then leaves the setuid and
 * setgid bits to us: each write by who is not root goes through
 * dfs_file_drop_privs() first.
 */
bool dfs_file_direct(const struct dfs_file *f);
/* The groups of the writer, read only when needed: count, or -errno. */
typedef int (*dfs_groups_fn)(void *ctx, uint32_t *list, int cap);
/*
 * Before a write through f by actor (uid and gid; not root): take away
 * setuid, and setgid when group execute is set or the writer is not in
 * the file's group, as the kernel does for a write it caches; the
 * kernel's copy of the attributes is dropped before this returns.
 */
DFS_WUR int dfs_file_drop_privs(struct dfs_store *st, struct dfs_file *f,
				const struct dfs_actor *actor,
				dfs_groups_fn groups, void *ctx);
DFS_WUR ssize_t dfs_file_write(struct dfs_store *st, struct dfs_file *f,
			       const void *buf, size_t n, uint64_t off);
DFS_WUR ssize_t dfs_file_read(struct dfs_store *st, struct dfs_file *f,
			      void *buf, size_t n, uint64_t off);
/* copy_file_range: -EOPNOTSUPP when the kernel should copy instead.  Into
 * an environment, a source with the package's content moves no data. */
DFS_WUR ssize_t dfs_file_copy_range(struct dfs_store *st, struct dfs_file *in,
				    uint64_t off_in, struct dfs_file *out,
				    uint64_t off_out, size_t len);
/*
 * FUSE passthrough: the kernel reads a file that never changes (a
 * package's file, or one shown in an environment) straight from the fd of
 * its content, once that content is found good.  The daemon registers
 * such an fd with open (an id > 0, or a negative errno) and drops the id
 * with close; NULL: no passthrough (set it to NULL before the session's
 * fd is closed).  All the opens of one inode the kernel reads through
 * share one id, as the kernel wants, and none is given while the inode
 * has opens read through the daemon.
 */
struct dfs_backing {
	int (*open)(void *ctx, int fd);
	void (*close)(void *ctx, int id);
	void *ctx;
};
void dfs_store_set_backing(struct dfs_store *st, const struct dfs_backing *b);
/* The backing id the kernel reads f through (reply to open with it), or
 * 0: f is read through dfs_file_read()/its fd. */
int dfs_file_backing(const struct dfs_file *f);
/* f reads a snapshot's file through the daemon: while it is open, no
 * other open of that file is passed through. */
bool dfs_file_holds_back_passthrough(const struct dfs_file *f);
/* Returns 0; closes, and schedules sealing after the last writer. */
int dfs_file_release(struct dfs_store *st, struct dfs_file *f);
/* Is ino a node of an environment's extensions (a build-like node whose
 * acts are recorded, so its callers' command lines are wanted)? */
bool dfs_node_is_extension(struct dfs_store *st, uint64_t ino);
/* The same for a file the kernel closes: a change of an extension it
 * wrote is recorded for actor (docs/environments.md). */
int dfs_file_close_as(struct dfs_store *st, const struct dfs_actor *actor,
		      struct dfs_file *f);

/*
 * Reading and writing go straight to the file descriptor (so FUSE can
 * splice): take it with dfs_file_fd_get(), use it, and give it back with
 * dfs_file_fd_put() (for writes, with the end offset written, so size and
 * times follow).  The fd stays valid between get and put.
 */
int dfs_file_fd_get(struct dfs_file *f);
/* The fd to write to, or -ENOSPC (nothing taken, no put) while the store
 * keeps its last room on a full disk for what frees space. */
int dfs_file_write_fd(struct dfs_store *st, struct dfs_file *f);
/*
 * dfs_file_fd_get() to read [off, off + n): what it serves of a blob is
 * checked first (each chunk the range touches, once per open store).
 * Returns the fd, or -EIO (logged, naming the blob) with nothing taken.
 * Reads that serve bytes to a user take the fd this way.
 */
DFS_WUR int dfs_file_fd_get_range(struct dfs_store *st, struct dfs_file *f,
				  uint64_t off, size_t n);
void dfs_file_fd_put(struct dfs_store *st, struct dfs_file *f, bool wrote,
		     uint64_t end);
/*
 * [off, off + n) read into *ret (free() it), for a reply served from
 * memory rather than spliced from the fd: the first read of blob chunks
 * not yet checked (checked in the bytes that are served), or, with
 * always, any read (what is served of a blob checked first, as
 * dfs_file_fd_get_range() does).  The bytes read, -EIO (logged),
 * -errno, or -EAGAIN: without always, nothing to check this way.
 */
DFS_WUR ssize_t dfs_file_read_mem(struct dfs_store *st, struct dfs_file *f,
				  uint64_t off, size_t n, bool always,
				  char **ret);
/* Persist times and, with data, the bytes (fsync). */
DFS_WUR int dfs_file_flush(struct dfs_store *st, struct dfs_file *f);
DFS_WUR int dfs_file_fsync(struct dfs_store *st, struct dfs_file *f,
			   bool datasync);
DFS_WUR int dfs_file_fallocate(struct dfs_store *st, struct dfs_file *f,
			       int mode, off_t off, off_t len);
/* SEEK_DATA / SEEK_HOLE */
DFS_WUR int dfs_file_lseek(struct dfs_file *f, off_t off, int whence,
			   off_t *ret);
uint64_t dfs_file_ino(const struct dfs_file *f);

/* ---- the audit trail --------------------------------------------------- */

/* One event; strings may be NULL.  ts in ns since the epoch. */
struct dfs_audit_event {
	int64_t seq;
	int64_t ts;
	const char *actor;
	int64_t uid;
	int64_t pid;
	const char *cmd;
	const char *action; /* package, package-remove, notes, ... */
	const char *env;
	const char *component;
	const char *version;
	const char *from;
	int64_t deployment;
	const char *revisions;
	const char *result; /* ok, refused */
	const char *reason;
};
typedef int (*dfs_audit_fn)(void *ctx, const struct dfs_audit_event *ev);
/* Record ev durably (its seq, ts and actor fields come from here). */
DFS_WUR int dfs_audit_record(struct dfs_store *st,
			     const struct dfs_actor *actor,
			     const struct dfs_audit_event *ev);
/* Calls fn for each event with seq > after, oldest first, until fn
 * returns non-zero.  Streams: never holds the whole history. */
DFS_WUR int dfs_audit_each(struct dfs_store *st, int64_t after, dfs_audit_fn fn,
			   void *ctx);

/* Render ev as one logfmt line of audit.log, newline included; returns
 * its length (the line is cut to cap - 1 bytes when longer). */
int dfs_audit_format(const struct dfs_audit_event *ev, char *buf, size_t cap);

/* Record that the kernel refused actor an access to the environment
 * folder ino for want of write permission (see docs/behaviour.md). */
DFS_WUR int dfs_env_record_denied(struct dfs_store *st,
				  const struct dfs_actor *actor, uint64_t ino);

/* ---- reports: environments and deployments (deployctl) ------------------ */

struct dfs_env_info {
	const char *name;
	const char *classification; /* NULL when not set */
	const char *created_by;
	int64_t created; /* ns since the epoch */
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
};
typedef int (*dfs_env_fn)(void *ctx, const struct dfs_env_info *e);
/* Each existing environment, by name. */
DFS_WUR int dfs_envs_each(struct dfs_store *st, dfs_env_fn fn, void *ctx);

struct dfs_deployment_info {
	const char *env;
	const char *component;
	const char *version;
	const char *created_by;
	const char *via;     /* link, copy */
	const char *notes;   /* NULL when none */
	const char *warning; /* unmet requirements at deploy time, or NULL */
	int64_t number;	     /* 1, 2, 3... per environment and component */
	int64_t created;     /* ns since the epoch */
	int64_t ended;	     /* replaced or undeployed; 0 while active */
	int64_t uid;
	bool active;
};
typedef int (*dfs_deployment_fn)(void *ctx,
				 const struct dfs_deployment_info *d);
/* Deployments in env (NULL: every environment), ordered by environment,
 * component, number; with active_only, only what is deployed now. */
DFS_WUR int dfs_deployments_each(struct dfs_store *st, const char *env,
				 bool active_only, dfs_deployment_fn fn,
				 void *ctx);

struct dfs_staging_info {
	const char *env;
	const char *component;
	const char *version;
	const char *started_by;
	int64_t started; /* ns since the epoch */
	int64_t entries; /* files, folders and links in the package */
	int64_t done;	 /* of which copied and verified */
};
typedef int (*dfs_staging_fn)(void *ctx, const struct dfs_staging_info *s);
/* Copies into env (NULL: all) in progress: staging folders. */
DFS_WUR int dfs_staging_each(struct dfs_store *st, const char *env,
			     dfs_staging_fn fn, void *ctx);

/* A component a deployed package requires that its environment lacks. */
struct dfs_unmet_info {
	const char *env;
	const char *component; /* the deployed component */
	const char *version;
	const char *requires; /* the missing requirement */
};
typedef int (*dfs_unmet_fn)(void *ctx, const struct dfs_unmet_info *u);
DFS_WUR int dfs_unmet_each(struct dfs_store *st, const char *env,
			   dfs_unmet_fn fn, void *ctx);

/* Audit events as JSON objects (one per call, from SQLite's JSON
 * functions), oldest first; env/component NULL and since 0 filter
 * nothing; since is ns since the epoch. */
typedef int (*dfs_json_fn)(void *ctx, const char *json);
DFS_WUR int dfs_audit_json_each(struct dfs_store *st, const char *env,
				const char *component, int64_t since,
				dfs_json_fn fn, void *ctx);

/* ---- packages that travel between stores (deployctl export) ------------ */

/* A package's metadata as its row holds it (strings valid during the
 * call of fn only; notes NULL when none). */
struct dfs_pkg_record {
	const char *component;
	const char *type;
	const char *version;
	const char *created_by;
	const char *notes;
	const char *revisions; /* JSON object */
	const char *requires;  /* JSON array of "TYPE/NAME" */
	int64_t created;       /* ns since the epoch */
	int64_t uid;
	struct dfs_hash content_hash;
};
/* One node of a package's snapshot: the root first (path ""); a folder
 * comes before its entries, which come by name. */
struct dfs_pkg_node {
	const char *path; /* relative to the package's root */
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	int64_t mtime; /* ns since the epoch */
	uint64_t size;
	struct dfs_hash blob; /* regular files */
	const char *target;   /* links, as captured (their hashed text) */
};
typedef int (*dfs_pkg_node_fn)(void *ctx, const struct dfs_pkg_record *p,
			       const struct dfs_pkg_node *n);
/* Calls fn for each node of package component@version (version NULL: the
 * latest), from one read of the store, until fn returns non-zero (that
 * value is returned).  -ENOENT: no such package. */
DFS_WUR int dfs_pkg_export(struct dfs_store *st, const char *component,
			   const char *version, dfs_pkg_node_fn fn, void *ctx);
/* An fd on the bytes of blob h (size bytes), checked against h; read it
 * with pread() (its offset is not promised).  Close it. */
DFS_WUR int dfs_pkg_blob_open(struct dfs_store *st, const struct dfs_hash *h,
			      uint64_t size, int *ret_fd);

/* ---- blobs and checking ------------------------------------------------ */

void dfs_hash_hex(const struct dfs_hash *h, char out[DFS_HASH_HEX]);
DFS_WUR int dfs_hash_parse(const char *hex, struct dfs_hash *ret);
/* Hash the whole content of fd (from offset 0). */
DFS_WUR int dfs_hash_fd(int fd, struct dfs_hash *ret);

/* Store bytes as a blob durably (dedup: an existing blob is kept). */
DFS_WUR int dfs_blob_put(struct dfs_store *st, const void *data, size_t len,
			 struct dfs_hash *ret);
/* Open a blob read-only; returns an fd. */
DFS_WUR int dfs_blob_open(struct dfs_store *st, const struct dfs_hash *h);
/*
 * Check blob h against its name: its bytes (kept in the database, else
 * its file) hash to h, and a file has the size recorded for it.  0, or
 * -EIO when it is damaged or missing (logged, naming it).  A blob found
 * good is not read again while the store is open; a damaged one is
 * checked again each time.  Opening a file checks its content this way.
 */
DFS_WUR int dfs_blob_verify(struct dfs_store *st, const struct dfs_hash *h,
			    uint64_t size);
/* The content hash of a sealed regular file (-EAGAIN while unsealed). */
DFS_WUR int dfs_node_content_hash(struct dfs_store *st, uint64_t ino,
				  struct dfs_hash *ret);

/* One problem found by fsck; fn may print it. */
struct dfs_fsck_problem {
	const char *kind; /* "missing", "corrupt", "orphan", ... */
	const char *what; /* blob hash or path */
	uint64_t ino;	  /* 0 when not about an inode */
};
typedef void (*dfs_fsck_fn)(void *ctx, const struct dfs_fsck_problem *p);
/* Check every referenced blob exists and hashes to its name; report
 * orphans.  Returns the number of problems found. */
DFS_WUR int dfs_store_fsck(struct dfs_store *st, dfs_fsck_fn fn, void *ctx);

/* ---- backup ------------------------------------------------------------ */

enum {
	DFS_BACKUP_NEW = 1 << 0, /* dest must be absent or empty (restore) */
};

struct dfs_backup_progress {
	uint64_t files_done; /* blob and work files of this round */
	uint64_t files_total;
	uint64_t bytes_done; /* of blobs, as recorded */
	uint64_t bytes_total;
	int round; /* 1, or more when the store changed under the copy */
};
typedef void (*dfs_backup_fn)(void *ctx, const struct dfs_backup_progress *p);

struct dfs_backup_stats {
	uint64_t blobs_linked;	/* hard links (dest on the same file system) */
	uint64_t blobs_copied;	/* copied (another file system) */
	uint64_t blobs_kept;	/* already in dest (an earlier backup) */
	uint64_t blobs_removed; /* in dest, named no more */
	uint64_t work_copied;	/* files being written, as they were */
	uint64_t bytes_copied;
	int rounds;
};

/*
 * Copy st, consistently, while it is served, into the folder dest, which
 * becomes a store that mounts (see store/storage/backup.c): the database
 * as of one moment, then the blob files and work files it names.  dest is
 * absent, empty, or (without DFS_BACKUP_NEW) an earlier backup: then only
 * new blobs are copied.  fn (may be NULL) is called after each file.
 * -ENOTEMPTY dest is a folder with other things in it, -EBUSY a daemon
 * serves dest, -EINVAL dest is st's own folder, -EAGAIN st changed under
 * every attempt.  On failure dest is marked unfinished (no store opens
 * it) until a backup into it completes.
 */
DFS_WUR int dfs_store_backup(struct dfs_store *st, const char *dest,
			     unsigned flags, dfs_backup_fn fn, void *ctx,
			     struct dfs_backup_stats *ret);

/* ---- the registry hosts share (PostgreSQL, docs/registry.md) ----------- */

/* Make or migrate the registry's schema in the database at url (a libpq
 * URL): 0 with *ret_from the version it had (0: none); -EHOSTDOWN when
 * it cannot be reached, -EPROTO when its schema is newer. */
DFS_WUR int dfs_registry_init(const char *url, int *ret_from, char *why,
			      size_t cap);
/* The schema version this build makes. */
int dfs_registry_schema(void);
/* Serve st with the registry at url (the daemon): a package made here is
 * published there before it is made, and one another host published is
 * made here soon after (its NOTIFY).  host names this host in the
 * registry's events (NULL: gethostname()).  0, or -EHOSTDOWN when it
 * cannot be reached now (served anyway, reconnected by itself), or
 * another -errno with why (-ENOMEDIUM: not a registry). */
DFS_WUR int dfs_store_registry(struct dfs_store *st, const char *url,
			       const char *host, char *why, size_t cap);

/* ---- fault injection seam (tests) -------------------------------------- */

/* Make the nth (1-based) call of the named I/O step fail with -err:
 * "fsync", "link", "rename", "write".  n = 0 disarms. */
void dfs_io_fail_at(const char *step, unsigned n, int err);

#endif
