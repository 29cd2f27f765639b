// SPDX-License-Identifier: MIT
/*
 * backup.c - a consistent copy of a store, taken while it is served, into
 * a folder that is itself a store (deployctl backup and restore).
 *
 * Consistency: blobs and work files are written (and blobs synced) before
 * the rows that name them commit, so a snapshot of the database names
 * only content that is already on disk.  The copy therefore takes the
 * database first, in one read transaction of SQLite's online backup API
 * (a consistent snapshot; writers go on meanwhile), and then the files
 * that snapshot names: each blob file (hard-linked when the destination
 * is on the same file system, else copied) and each work file (always
 * copied: it is written in place).  A file the snapshot names may go
 * before it is copied (a blob reclaimed after its last reference went, a
 * work file sealed into a blob): then the whole round is taken again from
 * a new snapshot, keeping what was copied, after a pause that grows with
 * each round (the sealer finishes its batch), up to BACKUP_ROUNDS times.  A
 * work file is copied as it is at that moment: a file being written
 * gets the bytes written so far, what a crash of the daemon at that
 * moment would leave, and the backup's first mount seals it.
 *
 * Incremental: blob files already in the destination (by name and size)
 * are kept, so a second backup copies only new blobs; blobs and work
 * files the new snapshot does not name are removed.  The destination is
 * marked (DFS_BACKUP_MARK) and locked as a daemon would lock it for the
 * whole copy: no daemon serves it meanwhile, and no store opens it until
 * a backup into it completes.  The database is renamed into place after
 * everything it names is synced (syncfs), then the mark goes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage.h"

#define BACKUP_ROUNDS 32
#define BACKUP_PAUSE_MS 10 /* times the round: the sealer catches up */
#define BACKUP_DB_NEW DFS_DB_NAME ".new"
#define BACKUP_TMP "tmp.backup"

/* Blob files the snapshot names (inline blobs travel in the database). */
static const char sql_blobs[] =
	"SELECT r.hash, b.size FROM (SELECT blob AS hash FROM inodes"
	" WHERE blob IS NOT NULL UNION SELECT blob FROM snodes"
	" WHERE blob IS NOT NULL UNION SELECT hash FROM blobs WHERE refs > 0)"
	" r LEFT JOIN blobs b ON b.hash = r.hash"
	" WHERE (b.hash IS NULL OR b.data IS NULL AND b.hash NOT IN"
	" (SELECT hash FROM blob_remote)) ORDER BY r.hash";
/* Blobs fetched from the registry (model/regfetch.c): copied when they
 * are here; the rest the copy fetches as this store would. */
static const char sql_remote[] =
	"SELECT b.hash, b.size FROM blobs b JOIN blob_remote r"
	" ON r.hash = b.hash WHERE b.refs > 0 ORDER BY b.hash";
static const char sql_work[] = "SELECT ino FROM inodes WHERE work = 1";
static const char sql_blob_named[] = "SELECT 1 FROM blobs WHERE hash = ?1"
				     " UNION ALL SELECT 1 FROM inodes"
				     " WHERE blob = ?1";
static const char sql_work_named[] =
	"SELECT 1 FROM inodes WHERE ino = ?1 AND work = 1";

struct item {
	struct dfs_hash hash; /* a blob; unused for a work file */
	int64_t size;	      /* -1: not recorded */
	uint64_t ino;	      /* a work file; 0 for a blob */
	bool remote;	      /* the registry has it (maybe not here) */
};

struct backup {
	struct dfs_store *st;
	const char *dest;
	int dfd; /* the destination folder */
	int dblobs;
	int dwork;
	int lock_fd;
	bool same_fs;
	sqlite3 *snap; /* the snapshot, dest/deployfs.db.new */
	struct item *items;
	size_t n;
	size_t cap;
	int missing; /* named by the snapshot, gone from the store */
	dfs_backup_fn fn;
	void *ctx;
	struct dfs_backup_progress prog;
	struct dfs_backup_stats stats;
};

static void progress(struct backup *b)
{
	if (b->fn)
		b->fn(b->ctx, &b->prog);
}

/* ---- the destination ------------------------------------------------------ */

/* Is the folder empty, does it hold a database, a backup's mark? */
static int folder_state(int dfd, bool *ret_empty, bool *ret_db, bool *ret_mark)
{
	int fd = dup(dfd);
	struct dirent *de;
	bool empty = true, db = false, mark = false;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		empty = false;
		db = db || strcmp(de->d_name, DFS_DB_NAME) == 0;
		mark = mark || strcmp(de->d_name, DFS_BACKUP_MARK) == 0;
	}
	closedir(d);
	*ret_empty = empty;
	*ret_db = db;
	*ret_mark = mark;
	return 0;
}

static int make_dirs(struct backup *b)
{
	char sub[16];

	if (mkdirat(b->dfd, DFS_BLOBS_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (mkdirat(b->dfd, DFS_WORK_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	for (int i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "%s/%02x", DFS_BLOBS_DIR, i);
		if (mkdirat(b->dfd, sub, 0700) < 0 && errno != EEXIST)
			return -errno;
	}
	b->dblobs = openat(b->dfd, DFS_BLOBS_DIR,
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	b->dwork = openat(b->dfd, DFS_WORK_DIR,
			  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return b->dblobs < 0 || b->dwork < 0 ? -errno : 0;
}

/*
 * Open, check, lock and mark the destination: absent, empty, marked by a
 * backup that did not finish, or (unless DFS_BACKUP_NEW) a store, such as
 * an earlier backup, that no daemon serves.
 */
static int dest_open(struct backup *b, unsigned flags)
{
	struct stat src, dst, blobs;
	bool empty = true, db = false, mark = false;
	int fd, rc;

	if (mkdir(b->dest, 0700) < 0 && errno != EEXIST)
		return -errno;
	b->dfd = open(b->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->dfd < 0)
		return -errno;
	if (fstat(b->dfd, &dst) < 0 || fstat(b->st->dirfd, &src) < 0)
		return -errno;
	if (src.st_dev == dst.st_dev && src.st_ino == dst.st_ino)
		return -EINVAL;
	rc = folder_state(b->dfd, &empty, &db, &mark);
	if (rc < 0)
		return rc;
	if (!empty && !mark && (!db || (flags & DFS_BACKUP_NEW)))
		return -ENOTEMPTY;
	b->lock_fd = openat(b->dfd, DFS_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC,
			    0600);
	if (b->lock_fd < 0)
		return -errno;
	if (flock(b->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	fd = openat(b->dfd, DFS_BACKUP_MARK, O_WRONLY | O_CREAT | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	close(fd);
	rc = dfs_io_fsync(b->dfd);
	if (rc == 0)
		rc = make_dirs(b);
	if (rc == 0 && fstat(b->st->blobs_fd, &blobs) == 0)
		b->same_fs = blobs.st_dev == dst.st_dev;
	return rc;
}

/* ---- the snapshot of the database ------------------------------------------- */

static int snap_close(struct backup *b)
{
	int rc = 0;

	if (b->snap && sqlite3_close(b->snap) != SQLITE_OK)
		rc = -EIO;
	b->snap = NULL;
	return rc;
}

/* Copy the database, as of one read transaction, to deployfs.db.new. */
static int snap_take(struct backup *b)
{
	struct dfs_store *st = b->st;
	char path[4096];
	sqlite3_backup *bk;
	int rc;

	if (snprintf(path, sizeof(path), "%s/%s", b->dest, BACKUP_DB_NEW) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	rc = snap_close(b);
	if (rc < 0)
		return rc;
	(void)unlinkat(b->dfd, BACKUP_DB_NEW, 0);
	(void)unlinkat(b->dfd, BACKUP_DB_NEW "-journal", 0);
	rc = sqlite3_open_v2(path, &b->snap,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK)
		return dfs_sql_errno(rc);
	pthread_mutex_lock(&st->lock);
	/* What was answered is in it: a lazy transaction commits first. */
	rc = dfs_db_flush(st);
	bk = rc == 0 ? sqlite3_backup_init(b->snap, "main", st->db, "main")
		     : NULL;
	if (bk) {
		/* All pages in one step: one read transaction. */
		rc = sqlite3_backup_step(bk, -1);
		rc = sqlite3_backup_finish(bk) == SQLITE_OK && rc == SQLITE_DONE
			     ? 0
			     : dfs_sql_errno(rc == SQLITE_DONE ? SQLITE_IOERR
							       : rc);
	} else if (rc == 0) {
		rc = dfs_sql_errno(sqlite3_errcode(b->snap));
	}
	pthread_mutex_unlock(&st->lock);
	/* A single file: no WAL beside it until a daemon mounts it. */
	if (rc == 0 && sqlite3_exec(b->snap, "PRAGMA journal_mode = DELETE",
				    NULL, NULL, NULL) != SQLITE_OK)
		rc = dfs_sql_errno(sqlite3_errcode(b->snap));
	return rc;
}

static int add_item(struct backup *b, const struct item *it)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 1024;
		struct item *v = realloc(b->items, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->items = v;
		b->cap = cap;
	}
	b->items[b->n++] = *it;
	return 0;
}

/* The blob files sql lists (hash, size) as items. */
static int blob_items(struct backup *b, const char *sql, bool remote)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(b->snap, sql, -1, &s, NULL);

	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct item it = { .size = -1, .remote = remote };

		if (sqlite3_column_bytes(s, 0) != DFS_HASH_LEN) {
			rc = SQLITE_OK;
			continue;
		}
		memcpy(it.hash.b, sqlite3_column_blob(s, 0), DFS_HASH_LEN);
		if (sqlite3_column_type(s, 1) != SQLITE_NULL)
			it.size = sqlite3_column_int64(s, 1);
		rc = add_item(b, &it) < 0 ? SQLITE_NOMEM : SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

/* The files the snapshot names: its blob files, then its work files. */
static int snap_items(struct backup *b)
{
	sqlite3_stmt *s = NULL;
	int rc;

	b->n = 0;
	b->prog.files_total = b->prog.bytes_total = 0;
	rc = blob_items(b, sql_blobs, false);
	if (rc == SQLITE_DONE)
		rc = blob_items(b, sql_remote, true);
	if (rc == SQLITE_DONE)
		rc = sqlite3_prepare_v2(b->snap, sql_work, -1, &s, NULL);
	else
		return dfs_sql_errno(rc);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct item it = {
			.size = -1, .ino = (uint64_t)sqlite3_column_int64(s, 0)
		};

		rc = it.ino && add_item(b, &it) < 0 ? SQLITE_NOMEM : SQLITE_OK;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return dfs_sql_errno(rc);
	for (size_t i = 0; i < b->n; i++)
		if (b->items[i].size > 0)
			b->prog.bytes_total += (uint64_t)b->items[i].size;
	b->prog.files_total = b->n;
	return 0;
}

/* ---- copying what it names ------------------------------------------------------- */

/* Copy the file name of folder sfd to name in folder dfd (mode 0400 or
 * 0600), through a temporary name.  -ENOENT: the source is gone. */
static int copy_file(struct backup *b, int sfd, int dfd, const char *name,
		     mode_t mode)
{
	struct stat sb;
	int in, out, rc;

	in = openat(sfd, name, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	if (fstat(in, &sb) < 0) {
		rc = -errno;
		goto out_in;
	}
	(void)unlinkat(dfd, BACKUP_TMP, 0);
	out = openat(dfd, BACKUP_TMP, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		     mode);
	if (out < 0) {
		rc = -errno;
		goto out_in;
	}
	rc = dfs_copy_sparse(in, out, (uint64_t)sb.st_size);
	close(out);
	if (rc == 0)
		rc = dfs_io_renameat(dfd, BACKUP_TMP, dfd, name, 0);
	if (rc < 0)
		(void)unlinkat(dfd, BACKUP_TMP, 0);
	else
		b->stats.bytes_copied += (uint64_t)sb.st_size;
out_in:
	close(in);
	return rc;
}

static int put_blob(struct backup *b, const struct item *it)
{
	char path[40];
	struct stat sb;
	int rc;

	dfs_blob_relpath(&it->hash, path);
	if (fstatat(b->dblobs, path, &sb, 0) == 0) {
		if (it->size < 0 || sb.st_size == it->size) {
			b->stats.blobs_kept++;
			return 0;
		}
		(void)unlinkat(b->dblobs, path, 0); /* not these bytes */
	}
	if (b->same_fs) {
		rc = dfs_io_linkat(b->st->blobs_fd, path, b->dblobs, path);
		if (rc == 0 || rc == -EEXIST) {
			b->stats.blobs_linked++;
			return 0;
		}
		if (rc != -EXDEV && rc != -EPERM && rc != -EMLINK)
			return rc;
		b->same_fs = false; /* copy from now on */
	}
	/* A blob is not written in place: its name is its bytes. */
	rc = copy_file(b, b->st->blobs_fd, b->dblobs, path, 0400);
	if (rc == 0)
		b->stats.blobs_copied++;
	return rc;
}

static int put_work(struct backup *b, const struct item *it)
{
	char name[32];
	int rc;

	dfs_work_name(it->ino, name);
	rc = copy_file(b, b->st->work_fd, b->dwork, name, 0600);
	if (rc == 0)
		b->stats.work_copied++;
	return rc;
}

/* Copy every file the snapshot names; count those gone in b->missing. */
static int copy_round(struct backup *b)
{
	int rc = 0;

	b->missing = 0;
	b->prog.files_done = b->prog.bytes_done = 0;
	progress(b);
	for (size_t i = 0; rc == 0 && i < b->n; i++) {
		const struct item *it = &b->items[i];

		rc = it->ino ? put_work(b, it) : put_blob(b, it);
		if (rc == -ENOENT && it->remote) {
			rc = 0;
		} else if (rc == -ENOENT) {
			b->missing++;
			rc = 0;
		}
		b->prog.files_done++;
		if (it->size > 0)
			b->prog.bytes_done += (uint64_t)it->size;
		progress(b);
	}
	return rc;
}

/* ---- finishing ------------------------------------------------------------------- */

/* Does the snapshot name (sql, one parameter) what name says? */
static bool named(struct backup *b, const char *sql, const char *name,
		  bool blob)
{
	struct dfs_hash h;
	sqlite3_stmt *s;
	bool row = true; /* when in doubt, keep it */

	if (blob && dfs_hash_parse(name, &h) < 0)
		return strncmp(name, "tmp.", 4) != 0;
	if (sqlite3_prepare_v2(b->snap, sql, -1, &s, NULL) != SQLITE_OK)
		return true;
	if (blob)
		sqlite3_bind_blob(s, 1, h.b, DFS_HASH_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_int64(s, 1, strtoll(name, NULL, 10));
	row = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return row;
}

/* Remove the files of folder sub of the destination that the snapshot
 * does not name. */
static int prune(struct backup *b, const char *sub, bool blob)
{
	int fd = openat(b->dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
		if (de->d_name[0] == '.' ||
		    named(b, blob ? sql_blob_named : sql_work_named, de->d_name,
			  blob))
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0 && blob)
			b->stats.blobs_removed++;
	}
	closedir(d);
	return 0;
}

/* Everything on disk, then the snapshot becomes the database, then the
 * mark goes. */
static int finish(struct backup *b)
{
	char sub[16];
	int rc = 0;

	for (int i = 0; rc == 0 && i < 256; i++) {
		snprintf(sub, sizeof(sub), "%s/%02x", DFS_BLOBS_DIR, i);
		rc = prune(b, sub, true);
	}
	if (rc == 0)
		rc = prune(b, DFS_WORK_DIR, false);
	if (rc == 0)
		rc = snap_close(b);
	if (rc == 0)
		rc = dfs_io_syncfs(b->dfd);
	if (rc < 0)
		return rc;
	/* The WAL of an earlier mount of the destination belongs to the
	 * database being replaced. */
	(void)unlinkat(b->dfd, DFS_DB_NAME "-wal", 0);
	(void)unlinkat(b->dfd, DFS_DB_NAME "-shm", 0);
	rc = dfs_io_renameat(b->dfd, BACKUP_DB_NEW, b->dfd, DFS_DB_NAME, 0);
	if (rc == 0)
		rc = dfs_io_fsync(b->dfd);
	if (rc == 0 && unlinkat(b->dfd, DFS_BACKUP_MARK, 0) < 0)
		rc = -errno;
	if (rc == 0)
		rc = dfs_io_fsync(b->dfd);
	return rc;
}

static void backup_release(struct backup *b)
{
	(void)snap_close(b);
	free(b->items);
	if (b->dblobs >= 0)
		close(b->dblobs);
	if (b->dwork >= 0)
		close(b->dwork);
	if (b->lock_fd >= 0)
		close(b->lock_fd);
	if (b->dfd >= 0)
		close(b->dfd);
}

int dfs_store_backup(struct dfs_store *st, const char *dest, unsigned flags,
		     dfs_backup_fn fn, void *ctx, struct dfs_backup_stats *ret)
{
	struct backup b = { .st = st,
			    .dest = dest,
			    .dfd = -1,
			    .dblobs = -1,
			    .dwork = -1,
			    .lock_fd = -1,
			    .fn = fn,
			    .ctx = ctx };
	int rc = dest_open(&b, flags);

	while (rc == 0) {
		b.stats.rounds++;
		b.prog.round = b.stats.rounds;
		rc = snap_take(&b);
		if (rc == 0)
			rc = snap_items(&b);
		if (rc == 0)
			rc = copy_round(&b);
		if (rc < 0 || b.missing == 0)
			break;
		if (b.stats.rounds == BACKUP_ROUNDS) {
			rc = -EAGAIN; /* the store changes too fast */
		} else {
			/* A work file went (sealed into a blob): give the
			 * sealer a moment to finish the batch it is in. */
			struct timespec t = { 0, BACKUP_PAUSE_MS * 1000000L *
							 b.stats.rounds };

			while (nanosleep(&t, &t) < 0 && errno == EINTR)
				;
		}
	}
	if (rc == 0)
		rc = finish(&b);
	backup_release(&b);
	if (rc == 0 && ret)
		*ret = b.stats;
	return rc;
}
