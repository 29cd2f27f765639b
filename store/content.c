// SPDX-License-Identifier: MIT
/*
 * content.c - file content: the table of in-memory inodes, opening and
 * releasing files, turning a blob into a private work file for writing,
 * and recovery at start.  The sealer (seal.c) turns work files back into
 * blobs.
 *
 * A regular file's saved content is blob = HASH (immutable, shared by
 * every file and snapshot with the same bytes).  While it is being
 * written, work = 1 and its current bytes are the private file work/INO,
 * written in place.  Opening a sealed file for writing creates the work
 * file: empty for O_TRUNC (the common case: editors, cp, tar), else by a
 * sparse-aware in-kernel copy (copy_file_range) of the blob.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deployfs/log.h"
#include "internal.h"

/* ---- the inode table (st->lock held) ----------------------------------- */

static size_t bucket(uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 52) % DFS_IMAP_BUCKETS;
}

struct dfs_oinode *dfs_oinode_find(struct dfs_store *st, uint64_t ino)
{
	struct dfs_oinode *oi = st->content->imap[bucket(ino)];

	while (oi && oi->ino != ino)
		oi = oi->next;
	return oi;
}

struct dfs_oinode *dfs_oinode_get(struct dfs_store *st, uint64_t ino)
{
	struct dfs_oinode *oi = dfs_oinode_find(st, ino);
	size_t b = bucket(ino);

	if (oi)
		return oi;
	oi = calloc(1, sizeof(*oi));
	if (!oi)
		abort(); /* out of memory for a few bytes: no way on */
	oi->ino = ino;
	oi->fd = -1;
	pthread_rwlock_init(&oi->fdlock, NULL);
	oi->next = st->content->imap[b];
	st->content->imap[b] = oi;
	return oi;
}

/* No open file, no seal in flight: the content fd is not needed (the
 * kernel may hold thousands of inodes; fds are reopened on demand). */
void dfs_oinode_idle_locked(struct dfs_oinode *oi)
{
	if (oi->opens || oi->queued || oi->sealing || oi->mem_dirty ||
	    oi->fd < 0)
		return;
	close(oi->fd);
	oi->fd = -1;
	oi->is_mem = false;
}

void dfs_oinode_maybe_free(struct dfs_store *st, struct dfs_oinode *oi)
{
	struct dfs_oinode **pp = &st->content->imap[bucket(oi->ino)];

	dfs_oinode_idle_locked(oi);
	if (oi->holds || oi->opens || oi->queued || oi->sealing ||
	    oi->seal_failed || oi->dirty_times)
		return;
	while (*pp && *pp != oi)
		pp = &(*pp)->next;
	if (*pp)
		*pp = oi->next;
	if (oi->fd >= 0)
		close(oi->fd);
	pthread_rwlock_destroy(&oi->fdlock);
	free(oi);
}

/* Size, blocks and unsaved times of a file that is being written. */
void dfs_content_overlay(struct dfs_store *st, struct dfs_attr *attr, bool work)
{
	struct dfs_oinode *oi = dfs_oinode_find(st, attr->ino);
	struct stat sb;
	int rc = -1;

	if (oi && oi->dirty_times) {
		attr->mtime = oi->mtime;
		attr->ctime = oi->ctime;
	}
	if (oi && oi->is_mem && oi->fd >= 0 && fstat(oi->fd, &sb) == 0) {
		attr->size = (uint64_t)sb.st_size;
		attr->blocks = ((uint64_t)sb.st_size + 511) / 512;
		return;
	}
	if (!work)
		return;
	if (oi && oi->fd >= 0 && oi->is_work) {
		rc = fstat(oi->fd, &sb);
	} else {
		char name[32];

		dfs_work_name(attr->ino, name);
		rc = fstatat(st->work_fd, name, &sb, 0);
	}
	if (rc == 0) {
		attr->size = (uint64_t)sb.st_size;
		attr->blocks = (uint64_t)sb.st_blocks;
	}
}

int dfs_content_persist_times_locked(struct dfs_store *st,
				     struct dfs_oinode *oi)
{
	int rc;

	if (!oi->dirty_times)
		return 0;
	rc = dfs_exec(st, S_SET_MTIME, "ii", (int64_t)oi->ino,
		      dfs_ts_to_ns(oi->mtime));
	if (rc == 0)
		rc = dfs_exec(st, S_SET_CTIME, "ii", (int64_t)oi->ino,
			      dfs_ts_to_ns(oi->ctime));
	if (rc == 0)
		oi->dirty_times = false;
	return rc;
}

/* ---- content state ----------------------------------------------------- */

struct content_row {
	uint32_t mode;
	uint32_t nlink;
	uint32_t flags;
	uint64_t size;
	bool work;
	bool has_blob;
	struct dfs_hash blob;
};

static int content_row(struct dfs_store *st, uint64_t ino,
		       struct content_row *ret)
{
	struct content_row r = { 0 };
	sqlite3_stmt *s;
	int rc;

	if (dfs_is_virtual(ino)) {
		/* A snapshot file: its blob, read-only. */
		rc = dfs_vnode_blob_locked(st, ino, &r.mode, &r.size, &r.blob);
		r.has_blob = true;
		r.nlink = 1;
		r.flags = DFS_NODE_READONLY;
		if (rc == 0)
			*ret = r;
		return rc;
	}
	rc = dfs_query(st, S_CONTENT, &s, "i", (int64_t)ino);
	if (rc == 0)
		return -ENOENT;
	if (rc < 0)
		return rc;
	r.mode = (uint32_t)sqlite3_column_int64(s, 0);
	r.nlink = (uint32_t)sqlite3_column_int64(s, 1);
	r.size = (uint64_t)sqlite3_column_int64(s, 2);
	if (sqlite3_column_bytes(s, 3) == DFS_HASH_LEN) {
		r.has_blob = true;
		memcpy(r.blob.b, sqlite3_column_blob(s, 3), DFS_HASH_LEN);
	}
	r.work = sqlite3_column_int(s, 4) != 0;
	r.flags = (uint32_t)sqlite3_column_int64(s, 5);
	*ret = r;
	return dfs_stmt_done(s, SQLITE_ROW);
}

/* Make sure oi->fd is open on the current content. */
static int ensure_fd(struct dfs_store *st, struct dfs_oinode *oi,
		     const struct content_row *r)
{
	char name[40];
	int fd;

	if (oi->fd >= 0)
		return 0;
	if (r->work) {
		dfs_work_name(oi->ino, name);
		fd = openat(st->work_fd, name, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	} else {
		const struct dfs_hash *h =
			r->has_blob ? &r->blob : &dfs_empty_hash;
		bool inl = false;
		int rc = dfs_inline_open(st, h, &inl, &fd);

		if (rc < 0)
			return rc;
		if (!inl)
			fd = dfs_blob_open(st, h);
		if (fd < 0)
			return fd;
	}
	oi->fd = fd;
	oi->is_work = r->work;
	oi->is_mem = false; /* a read-only copy until written */
	oi->mem_dirty = false;
	return 0;
}

/*
 * Turn a blob-backed file into a work file holding its bytes (keep) or
 * nothing.  The inode keeps its blob, the last saved content, until the
 * work file is sealed: a snapshot taken meanwhile takes the saved bytes.
 * Called with st->lock held and no writers.
 */
static int make_work(struct dfs_store *st, struct dfs_oinode *oi,
		     const struct content_row *r, bool keep)
{
	char name[32];
	int fd, rc = 0;

	if (!(st->flags & DFS_OPEN_NO_INLINE) &&
	    (!keep || r->size <= DFS_INLINE_MAX)) {
		/* Small: write in memory, commit to the database on close. */
		int src = -1;

		if (keep && r->size > 0) {
			rc = ensure_fd(st, oi, r);
			if (rc < 0)
				return rc;
			src = dup(oi->fd);
			if (src < 0)
				return -errno;
		}
		rc = dfs_mem_new(st, oi);
		if (rc == 0 && src >= 0)
			rc = dfs_copy_sparse(src, oi->fd, r->size) < 0 ? -EIO
								       : 0;
		if (src >= 0)
			close(src);
		return rc;
	}
	dfs_work_name(oi->ino, name);
	fd = openat(st->work_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	if (keep && r->size > 0) {
		rc = ensure_fd(st, oi, r);
		if (rc == 0)
			rc = dfs_copy_sparse(oi->fd, fd, r->size);
	}
	if (rc == 0)
		rc = dfs_exec(st, S_SET_WORK, "ii", (int64_t)oi->ino,
			      (int64_t)(keep ? r->size : 0));
	if (rc < 0) {
		close(fd);
		(void)unlinkat(st->work_fd, name, 0);
		return rc;
	}
	pthread_rwlock_wrlock(&oi->fdlock);
	if (oi->fd >= 0)
		close(oi->fd);
	oi->fd = fd;
	oi->is_work = true;
	pthread_rwlock_unlock(&oi->fdlock);
	return 0;
}

/* Wait until the sealer is done with oi.  Never call inside a
 * transaction: waiting lets go of st->lock. */
void dfs_content_wait_sealed_locked(struct dfs_store *st, struct dfs_oinode *oi)
{
	while (oi->sealing)
		pthread_cond_wait(&st->content->seal_done, &st->lock);
}

static void mark_modified(struct dfs_oinode *oi)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	oi->mtime = now;
	oi->ctime = now;
	oi->dirty_times = true;
}

/* Called with st->lock held, inside a transaction (setattr). */
int dfs_content_truncate_locked(struct dfs_store *st, uint64_t ino,
				uint64_t size)
{
	struct dfs_oinode *oi = dfs_oinode_get(st, ino);
	struct content_row r;
	int rc;

	if (oi->sealing)
		return -EAGAIN; /* the caller waits before its transaction */
	rc = content_row(st, ino, &r);
	if (rc == 0 && !r.work && !oi->is_mem)
		rc = make_work(st, oi, &r, size > 0);
	else if (rc == 0)
		rc = ensure_fd(st, oi, &r);
	if (rc == 0 && oi->is_mem && size > DFS_INLINE_MAX)
		rc = dfs_mem_spill_locked(st, oi);
	if (rc == 0) {
		pthread_rwlock_rdlock(&oi->fdlock);
		if (ftruncate(oi->fd, (off_t)size) < 0)
			rc = -errno;
		pthread_rwlock_unlock(&oi->fdlock);
	}
	if (rc == 0 && oi->is_mem) {
		oi->mem_dirty = true;
		if (oi->writers == 0)
			rc = dfs_mem_commit_locked(st, oi);
	}
	if (rc == 0 && oi->dirty_times)
		oi->dirty_times = false; /* setattr writes the times */
	return rc;
}

/* ---- open files ---------------------------------------------------------- */

static int open_locked(struct dfs_store *st, uint64_t ino, int flags,
		       struct dfs_oinode *oi)
{
	bool writing = (flags & O_ACCMODE) != O_RDONLY;
	struct content_row r;
	int rc;

	dfs_content_wait_sealed_locked(st, oi);
	if (writing && oi->writers == 0)
		dfs_seal_now_locked(st, oi);
	rc = content_row(st, ino, &r);
	if (rc < 0)
		return rc;
	if (S_ISDIR(r.mode))
		return -EISDIR;
	if (!S_ISREG(r.mode))
		return -EINVAL;
	if (writing && (r.flags & DFS_NODE_READONLY))
		return -EROFS;
	if (writing && !r.work && !oi->is_mem)
		rc = make_work(st, oi, &r, !(flags & O_TRUNC));
	else
		rc = ensure_fd(st, oi, &r);
	if (rc == 0 && writing && (flags & O_TRUNC)) {
		if ((r.work || oi->is_mem) && ftruncate(oi->fd, 0) < 0)
			return -errno;
		oi->mem_dirty = oi->is_mem;
		mark_modified(oi);
	}
	return rc;
}

int dfs_file_open(struct dfs_store *st, uint64_t ino, int flags,
		  struct dfs_file **ret)
{
	return dfs_file_open_as(st, NULL, ino, flags, ret);
}

/* audit.log: read-only, rendered as it is read. */
static int open_log(int flags, struct dfs_file **ret)
{
	struct dfs_file *f;

	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->log = true;
	f->flags = flags;
	atomic_init(&f->refs, 1);
	*ret = f;
	return 0;
}

int dfs_file_open_as(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t ino, int flags, struct dfs_file **ret)
{
	struct dfs_actor self;
	struct dfs_file *f;
	struct dfs_oinode *oi;
	int rc;

	if (ino == DFS_INO_AUDIT)
		return open_log(flags, ret);
	if (dfs_is_env_ino(ino))
		return dfs_env_open(st, dfs_actor_or_self(actor, &self), ino,
				    flags, ret);
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_lock(&st->lock);
	oi = dfs_oinode_get(st, ino);
	oi->opens++;
	rc = open_locked(st, ino, flags, oi);
	if (rc < 0) {
		oi->opens--;
		dfs_oinode_maybe_free(st, oi);
		pthread_mutex_unlock(&st->lock);
		free(f);
		return rc;
	}
	if ((flags & O_ACCMODE) != O_RDONLY)
		oi->writers++;
	f->oi = oi;
	f->flags = flags;
	atomic_init(&f->refs, 1);
	pthread_mutex_unlock(&st->lock);
	*ret = f;
	return 0;
}

static int commit_file_locked(struct dfs_store *st, struct dfs_oinode *oi,
			      bool durable);

static int file_put(struct dfs_store *st, struct dfs_file *f)
{
	struct dfs_oinode *oi = f->oi;
	bool writer = (f->flags & O_ACCMODE) != O_RDONLY;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	if (oi->mem_dirty && writer && oi->writers == 1)
		rc = commit_file_locked(st, oi, false);
	if (oi->dirty_times)
		rc = dfs_content_persist_times_locked(st, oi);
	oi->opens--;
	if (writer && --oi->writers == 0 && oi->is_work)
		dfs_seal_enqueue_locked(st, oi);

	dfs_node_reap_locked(st, oi->ino);
	dfs_oinode_maybe_free(st, oi);
	pthread_mutex_unlock(&st->lock);
	free(f);
	return rc;
}

static int file_unref(struct dfs_store *st, struct dfs_file *f)
{
	if (atomic_fetch_sub(&f->refs, 1) != 1)
		return 0;
	if (f->v)
		dfs_env_release(st, f);
	else if (f->log)
		free(f);
	else
		return file_put(st, f);
	return 0;
}

int dfs_file_release(struct dfs_store *st, struct dfs_file *f)
{
	return file_unref(st, f);
}

uint64_t dfs_file_ino(const struct dfs_file *f)
{
	return f->v ? f->v->ino : f->log ? DFS_INO_AUDIT : f->oi->ino;
}

int dfs_file_fd_get(struct dfs_file *f)
{
	atomic_fetch_add(&f->refs, 1);
	if (!f->oi)
		return f->v ? f->v->fd : -1;
	pthread_rwlock_rdlock(&f->oi->fdlock);
	return f->oi->fd;
}

void dfs_file_fd_put(struct dfs_store *st, struct dfs_file *f, bool wrote,
		     uint64_t end)
{
	if (!f->oi) {
		(void)file_unref(st, f);
		return;
	}
	pthread_rwlock_unlock(&f->oi->fdlock);
	if (wrote) {
		pthread_mutex_lock(&st->lock);
		mark_modified(f->oi);
		if (f->oi->is_mem) {
			f->oi->mem_dirty = true;
			if (end > DFS_INLINE_MAX)
				(void)dfs_mem_spill_locked(st, f->oi);
		}
		pthread_mutex_unlock(&st->lock);
	}
	(void)file_unref(st, f);
}

/* Commit small content and times in one transaction (st->lock held). */
static int commit_file_locked(struct dfs_store *st, struct dfs_oinode *oi,
			      bool durable)
{
	int rc = dfs_db_begin(st);

	if (rc < 0)
		return rc;
	rc = dfs_mem_commit_locked(st, oi);
	if (rc == 0)
		rc = dfs_content_persist_times_locked(st, oi);
	if (rc == 0)
		return dfs_db_commit(st, durable);
	dfs_db_rollback(st);
	return rc;
}

int dfs_file_flush(struct dfs_store *st, struct dfs_file *f)
{
	int rc = 0;

	if (!f->oi)
		return f->v ? dfs_env_flush(st, f) : 0;
	pthread_mutex_lock(&st->lock);
	if (f->oi->mem_dirty || f->oi->dirty_times)
		rc = commit_file_locked(st, f->oi, false);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int dfs_file_fsync(struct dfs_store *st, struct dfs_file *f, bool datasync)
{
	int fd, rc = 0;

	if (!f->oi)
		return 0; /* nothing is stored; close says whether it fits */
	fd = dfs_file_fd_get(f);
	if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
		rc = -errno;
	dfs_file_fd_put(st, f, false, 0);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&st->lock);
	rc = commit_file_locked(st, f->oi, true);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int dfs_file_fallocate(struct dfs_store *st, struct dfs_file *f, int mode,
		       off_t off, off_t len)
{
	int fd, rc = 0;

	if (!f->oi)
		return -EOPNOTSUPP;
	fd = dfs_file_fd_get(f);
	if (!f->oi->is_work && !f->oi->is_mem)
		rc = -EBADF;
	else if (fallocate(fd, mode, off, len) < 0)
		rc = -errno;
	dfs_file_fd_put(st, f, rc == 0 && !(mode & FALLOC_FL_KEEP_SIZE),
			(uint64_t)(off + len));
	return rc;
}

int dfs_file_lseek(struct dfs_file *f, off_t off, int whence, off_t *ret)
{
	int fd, rc = 0;
	off_t pos;

	if (!f->oi)
		return -EOPNOTSUPP; /* no holes: the kernel's answer */
	fd = dfs_file_fd_get(f);
	pos = lseek(fd, off, whence);

	if (pos < 0)
		rc = -errno;
	pthread_rwlock_unlock(&f->oi->fdlock);
	atomic_fetch_sub(&f->refs, 1); /* the open's own ref remains */
	if (rc == 0)
		*ret = pos;
	return rc;
}

/* ---- recovery ------------------------------------------------------------ */

static int remove_stale_work(struct dfs_store *st)
{
	int fd = openat(st->work_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct content_row r;
		char *end;
		unsigned long long ino;

		if (de->d_name[0] == '.')
			continue;
		ino = strtoull(de->d_name, &end, 10);
		if (*end || content_row(st, ino, &r) < 0 || !r.work) {
			dfs_log(DFS_LOG_INFO,
				"recovery: removing stale work "
				"file \"%s\"",
				de->d_name);
			(void)unlinkat(st->work_fd, de->d_name, 0);
		}
	}
	closedir(d);
	return 0;
}

int dfs_recover_locked(struct dfs_store *st)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = dfs_db_exec(
		st,
		"BEGIN IMMEDIATE;"
		"DELETE FROM xattrs WHERE ino IN"
		"  (SELECT ino FROM inodes WHERE nlink = 0 AND flags & 1 = 0);"
		"DELETE FROM inodes WHERE nlink = 0 AND flags & 1 = 0;"
		"COMMIT;");
	if (rc < 0) {
		dfs_db_rollback(st);
		return rc;
	}
	rc = remove_stale_work(st);
	if (rc < 0)
		return rc;
	if (sqlite3_prepare_v2(st->db, "SELECT ino FROM inodes WHERE work = 1",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct dfs_oinode *oi = dfs_oinode_get(
			st, (uint64_t)sqlite3_column_int64(s, 0));

		oi->is_work = true;
		dfs_seal_enqueue_locked(st, oi);
	}
	rc = rc == SQLITE_DONE ? 0 : dfs_sql_errno(rc);
	sqlite3_finalize(s);
	return rc;
}

int dfs_node_content_hash(struct dfs_store *st, uint64_t ino,
			  struct dfs_hash *ret)
{
	struct content_row r;
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = content_row(st, ino, &r);
	if (rc == 0 && !S_ISREG(r.mode))
		rc = -EINVAL;
	else if (rc == 0 && r.work)
		rc = -EAGAIN;
	else if (rc == 0)
		*ret = r.has_blob ? r.blob : dfs_empty_hash;
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- files without an fd of their own ------------------------------------- */

bool dfs_file_buffered(const struct dfs_file *f)
{
	return !f->oi;
}

ssize_t dfs_file_write(struct dfs_store *st, struct dfs_file *f,
		       const void *buf, size_t n, uint64_t off)
{
	if (!f->v)
		return -EBADF;
	return dfs_verify_write(st, f->v, buf, n, off);
}

ssize_t dfs_file_read(struct dfs_store *st, struct dfs_file *f, void *buf,
		      size_t n, uint64_t off)
{
	ssize_t got;
	int fd;

	if (f->log)
		return dfs_auditlog_read(st, buf, n, off);
	if (!f->v || !f->v->known)
		return 0;
	fd = dfs_verify_fd(st, f->v);
	if (fd < 0)
		return fd;
	got = pread(fd, buf, n, (off_t)off);
	return got < 0 ? -errno : got;
}

/*
 * The content identity of what in reads: its blob, when it has one and
 * no writer is changing it.
 */
static bool source_hash(struct dfs_store *st, struct dfs_file *in,
			struct dfs_hash *ret)
{
	struct content_row r;
	bool ok = false;

	if (in->v) {
		*ret = in->v->hash;
		return in->v->known;
	}
	if (!in->oi)
		return false;
	pthread_mutex_lock(&st->lock);
	if (in->oi->writers == 0 && !in->oi->mem_dirty &&
	    content_row(st, in->oi->ino, &r) == 0 && r.has_blob && !r.work) {
		*ret = r.blob;
		ok = true;
	}
	pthread_mutex_unlock(&st->lock);
	return ok;
}

ssize_t dfs_file_copy_range(struct dfs_store *st, struct dfs_file *in,
			    uint64_t off_in, struct dfs_file *out,
			    uint64_t off_out, size_t len)
{
	struct dfs_verify *v = out->v;
	struct dfs_hash h;
	char *buf;
	ssize_t n;
	int fd;

	if (!v || (out->flags & O_ACCMODE) == O_RDONLY)
		return -EOPNOTSUPP;
	if (v->known && off_in == off_out && source_hash(st, in, &h) &&
	    memcmp(h.b, v->hash.b, DFS_HASH_LEN) == 0) {
		/* The same content: nothing to read or move. */
		uint64_t end = off_in + len;

		if (end > v->want || end < off_in)
			end = v->want;
		n = off_in >= end ? 0 : (ssize_t)(end - off_in);
		pthread_mutex_lock(&st->lock);
		if (n > 0 && dfs_verify_cover(v, off_out, (uint64_t)n) < 0)
			n = -ENOMEM;
		pthread_mutex_unlock(&st->lock);
		return n;
	}
	/* Anything else: read it and compare, a MiB at a time. */
	if (len > (1u << 20))
		len = 1u << 20;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	if (dfs_file_buffered(in)) {
		n = dfs_file_read(st, in, buf, len, off_in);
	} else {
		fd = dfs_file_fd_get(in);
		n = pread(fd, buf, len, (off_t)off_in);
		if (n < 0)
			n = -errno;
		dfs_file_fd_put(st, in, false, 0);
	}
	if (n > 0)
		n = dfs_verify_write(st, v, buf, (size_t)n, off_out);
	free(buf);
	return n;
}
