// SPDX-License-Identifier: MIT
/*
 * walvfs.c - the daemon's connection writes each commit to the WAL in one
 * system call.
 *
 * SQLite writes a WAL frame as two writes, its 24-byte header and then the
 * page, so a commit of n pages cost 2n pwrite calls: about 7 per untarred
 * small file, a fifth of the daemon's system calls, and on this machine a
 * system call is the expensive part.  This VFS wraps the default one and,
 * for a WAL file only, gathers writes that follow each other in a buffer
 * and writes them at once when the commit frame (a header whose second
 * field, the size of the database after the commit, is not zero) has its
 * page.  So by the time SQLite publishes the commit in the WAL index, its
 * frames are in the kernel, as they were before; a failed write is the
 * commit's error, as before.
 *
 * Anything else done to the file (a read, a sync, its size, a truncation,
 * a lock, the shared-memory calls, closing it) first writes out what is
 * gathered, so every other path sees the file as SQLite wrote it.  A
 * write out that fails where SQLite takes no error (xShmBarrier) is
 * logged, kept and returned by the file's next call; it does not happen
 * in practice, as the commit frame's write empties the buffer before
 * SQLite gets there.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "storage.h"

#define WAL_HDR 32   /* the WAL file's own header */
#define FRAME_HDR 24 /* each frame's header */
/* Written out once this much waits: the unix VFS writes at most 128 KiB
 * - 1 bytes a call (and calls a shorter write a full disk). */
#define GATHER_MAX (124 * 1024)

struct walfile {
	sqlite3_file base;  /* this VFS's methods */
	sqlite3_file *real; /* the default VFS's file (after this struct) */
	char *buf;	    /* NULL: not a WAL file, calls go straight on */
	sqlite3_int64 off;  /* file offset of buf[0] */
	int len;	    /* bytes gathered */
	bool commit;	    /* the last write was a commit frame's header */
	int error;	    /* a write out that failed in a void call */
	bool db;	    /* a main database file */
};

static sqlite3_vfs walvfs;
static sqlite3_io_methods methods;
static int gathered_writes;
static int written_out;
static void (*db_sync_hook)(void); /* tests: dfs_walvfs_on_db_sync() */

static struct walfile *wf(sqlite3_file *f)
{
	return (struct walfile *)f;
}

/* Write out what is gathered; or return the error a void call kept. */
static int write_out(struct walfile *w)
{
	int rc = w->error;

	w->error = SQLITE_OK;
	if (w->len == 0 || rc != SQLITE_OK) {
		w->len = 0;
		return rc;
	}
	rc = w->real->pMethods->xWrite(w->real, w->buf, w->len, w->off);
	__atomic_add_fetch(&written_out, 1, __ATOMIC_RELAXED);
	w->len = 0;
	return rc;
}

/* Gathered bytes first, then the call (e.g. w->real's method). */
#define FIRST(w)                              \
	do {                                  \
		int first_rc_ = write_out(w); \
		if (first_rc_ != SQLITE_OK)   \
			return first_rc_;     \
	} while (0)

static int w_close(sqlite3_file *f)
{
	struct walfile *w = wf(f);
	int rc = write_out(w), rc2 = w->real->pMethods->xClose(w->real);

	free(w->buf);
	w->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

/* Methods that write out what is gathered, then call the default VFS's. */
#define THEN(name, sig, call)                   \
	static int name sig                     \
	{                                       \
		struct walfile *w = wf(f);      \
                                                \
		FIRST(w);                       \
		return w->real->pMethods->call; \
	}
THEN(w_read, (sqlite3_file * f, void *p, int amt, sqlite3_int64 off),
     xRead(w->real, p, amt, off))
THEN(w_truncate, (sqlite3_file * f, sqlite3_int64 size),
     xTruncate(w->real, size))
THEN(w_file_size, (sqlite3_file * f, sqlite3_int64 *size),
     xFileSize(w->real, size))
THEN(w_lock, (sqlite3_file * f, int level), xLock(w->real, level))
THEN(w_unlock, (sqlite3_file * f, int level), xUnlock(w->real, level))
THEN(w_control, (sqlite3_file * f, int op, void *arg),
     xFileControl(w->real, op, arg))
THEN(w_shm_map,
     (sqlite3_file * f, int pg, int pgsz, int extend, void volatile **pp),
     xShmMap(w->real, pg, pgsz, extend, pp))
THEN(w_shm_lock, (sqlite3_file * f, int offset, int n, int flags),
     xShmLock(w->real, offset, n, flags))
THEN(w_shm_unmap, (sqlite3_file * f, int del), xShmUnmap(w->real, del))
THEN(w_fetch, (sqlite3_file * f, sqlite3_int64 off, int amt, void **pp),
     xFetch(w->real, off, amt, pp))
#undef THEN

static bool is_commit_header(const void *p, int amt, sqlite3_int64 off)
{
	const unsigned char *b = p;

	return amt == FRAME_HDR && off >= WAL_HDR &&
	       (b[4] | b[5] | b[6] | b[7]) != 0;
}

static int w_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
	struct walfile *w = wf(f);
	bool commit_page;

	if (!w->buf)
		return w->real->pMethods->xWrite(w->real, p, amt, off);
	if (w->len > 0 && (w->off + w->len != off || w->len + amt > GATHER_MAX))
		FIRST(w);
	if (amt > GATHER_MAX) {
		w->commit = false;
		return w->real->pMethods->xWrite(w->real, p, amt, off);
	}
	if (w->len == 0)
		w->off = off;
	memcpy(w->buf + w->len, p, (size_t)amt);
	w->len += amt;
	__atomic_add_fetch(&gathered_writes, 1, __ATOMIC_RELAXED);
	commit_page = w->commit;
	w->commit = is_commit_header(p, amt, off);
	return commit_page ? write_out(w) : SQLITE_OK;
}

static int w_sync(sqlite3_file *f, int flags)
{
	struct walfile *w = wf(f);
	void (*hook)(void) = __atomic_load_n(&db_sync_hook, __ATOMIC_ACQUIRE);

	FIRST(w);
	if (w->db && hook)
		hook();
	return w->real->pMethods->xSync(w->real, flags);
}

static int w_check_lock(sqlite3_file *f, int *out)
{
	struct walfile *w = wf(f);

	return w->real->pMethods->xCheckReservedLock(w->real, out);
}

static int w_sector_size(sqlite3_file *f)
{
	return wf(f)->real->pMethods->xSectorSize(wf(f)->real);
}

static int w_device_chars(sqlite3_file *f)
{
	return wf(f)->real->pMethods->xDeviceCharacteristics(wf(f)->real);
}

static void w_shm_barrier(sqlite3_file *f)
{
	struct walfile *w = wf(f);

	w->error = write_out(w);
	if (w->error != SQLITE_OK)
		dfs_log(DFS_LOG_ERR,
			"WAL: frames could not be written before the commit "
			"was published (SQLite error %d)",
			w->error);
	w->real->pMethods->xShmBarrier(w->real);
}

static int w_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	struct walfile *w = wf(f);

	return w->real->pMethods->xUnfetch(w->real, off, p);
}

static int w_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
		  int flags, int *out_flags)
{
	sqlite3_vfs *real = vfs->pAppData;
	struct walfile *w = wf(f);
	int rc;

	memset(w, 0, sizeof(*w));
	w->real = (sqlite3_file *)(w + 1);
	rc = real->xOpen(real, name, w->real, flags, out_flags);
	if (rc != SQLITE_OK)
		return rc; /* pMethods stays NULL: SQLite does not close it */
	if (w->real->pMethods->iVersion < 3) {
		/* Not the unix VFS this forwards every method to. */
		dfs_log(DFS_LOG_ERR,
			"WAL: the default SQLite VFS \"%s\" lacks methods of "
			"version 3",
			real->zName);
		w->real->pMethods->xClose(w->real);
		return SQLITE_CANTOPEN;
	}
	w->db = flags & SQLITE_OPEN_MAIN_DB;
	if (flags & SQLITE_OPEN_WAL) {
		w->buf = malloc(GATHER_MAX);
		if (!w->buf) {
			w->real->pMethods->xClose(w->real);
			return SQLITE_NOMEM;
		}
	}
	w->base.pMethods = &methods;
	return rc;
}

#define PASS(name, sig, call)                      \
	static int name sig                        \
	{                                          \
		sqlite3_vfs *real = vfs->pAppData; \
		return real->call;                 \
	}
PASS(v_delete, (sqlite3_vfs * vfs, const char *n, int sync),
     xDelete(real, n, sync))
PASS(v_access, (sqlite3_vfs * vfs, const char *n, int flags, int *out),
     xAccess(real, n, flags, out))
PASS(v_full, (sqlite3_vfs * vfs, const char *n, int len, char *out),
     xFullPathname(real, n, len, out))
PASS(v_random, (sqlite3_vfs * vfs, int len, char *out),
     xRandomness(real, len, out))
PASS(v_sleep, (sqlite3_vfs * vfs, int us), xSleep(real, us))
PASS(v_time, (sqlite3_vfs * vfs, sqlite3_int64 *t), xCurrentTimeInt64(real, t))
PASS(v_error, (sqlite3_vfs * vfs, int len, char *out),
     xGetLastError(real, len, out))
#undef PASS

static void *v_dlopen(sqlite3_vfs *vfs, const char *n)
{
	sqlite3_vfs *real = vfs->pAppData;

	return real->xDlOpen(real, n);
}

static void v_dlerror(sqlite3_vfs *vfs, int len, char *out)
{
	sqlite3_vfs *real = vfs->pAppData;

	real->xDlError(real, len, out);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	sqlite3_vfs *real = vfs->pAppData;

	return real->xDlSym(real, h, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
	sqlite3_vfs *real = vfs->pAppData;

	real->xDlClose(real, h);
}

static int v_time_double(sqlite3_vfs *vfs, double *t)
{
	sqlite3_vfs *real = vfs->pAppData;

	return real->xCurrentTime(real, t);
}

static int registered = SQLITE_ERROR;

static void register_once(void)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);

	if (!real || real->iVersion < 2)
		return;
	methods = (sqlite3_io_methods){
		.iVersion = 3,
		.xClose = w_close,
		.xRead = w_read,
		.xWrite = w_write,
		.xTruncate = w_truncate,
		.xSync = w_sync,
		.xFileSize = w_file_size,
		.xLock = w_lock,
		.xUnlock = w_unlock,
		.xCheckReservedLock = w_check_lock,
		.xFileControl = w_control,
		.xSectorSize = w_sector_size,
		.xDeviceCharacteristics = w_device_chars,
		.xShmMap = w_shm_map,
		.xShmLock = w_shm_lock,
		.xShmBarrier = w_shm_barrier,
		.xShmUnmap = w_shm_unmap,
		.xFetch = w_fetch,
		.xUnfetch = w_unfetch,
	};
	walvfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct walfile) + real->szOsFile,
		.mxPathname = real->mxPathname,
		.zName = DFS_WALVFS,
		.pAppData = real,
		.xOpen = w_open,
		.xDelete = v_delete,
		.xAccess = v_access,
		.xFullPathname = v_full,
		.xDlOpen = v_dlopen,
		.xDlError = v_dlerror,
		.xDlSym = v_dlsym,
		.xDlClose = v_dlclose,
		.xRandomness = v_random,
		.xSleep = v_sleep,
		.xCurrentTime = v_time_double,
		.xGetLastError = v_error,
		.xCurrentTimeInt64 = v_time,
	};
	registered = sqlite3_vfs_register(&walvfs, 0);
}

const char *dfs_walvfs(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	(void)pthread_once(&once, register_once);
	return registered == SQLITE_OK ? DFS_WALVFS : NULL;
}

void dfs_walvfs_counts(int *gathered, int *writes)
{
	*gathered = __atomic_load_n(&gathered_writes, __ATOMIC_RELAXED);
	*writes = __atomic_load_n(&written_out, __ATOMIC_RELAXED);
}

void dfs_walvfs_on_db_sync(void (*hook)(void))
{
	__atomic_store_n(&db_sync_hook, hook, __ATOMIC_RELEASE);
}
