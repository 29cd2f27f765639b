// SPDX-License-Identifier: MIT
/*
 * db.c - creating, opening and migrating a store; the prepared-statement
 * cache; SQLite result codes to errno (here and nowhere else).
 *
 * A store folder holds deployfs.db (SQLite, WAL), blobs/XX/HASH, work/INO
 * and a lock file that the serving daemon holds with flock().  Opening
 * refuses, without writing anything, a folder that is missing, is not a
 * store, holds a corrupt database or one from a newer schema, or is
 * already served.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deployfs/names.h"
#include "internal.h"

/* Forward migrations: step i takes schema version i to i + 1. */
static const char *const migrations[DFS_SCHEMA_VERSION] = {
	/* 0 -> 1: the build workspace */
	"CREATE TABLE inodes ("
	"  ino INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  mode INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  gid INTEGER NOT NULL,"
	"  nlink INTEGER NOT NULL,"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  blocks INTEGER NOT NULL DEFAULT 0,"
	"  rdev INTEGER NOT NULL DEFAULT 0,"
	"  atime INTEGER NOT NULL,"
	"  mtime INTEGER NOT NULL,"
	"  ctime INTEGER NOT NULL,"
	"  flags INTEGER NOT NULL DEFAULT 0,"
	"  blob BLOB,"
	"  work INTEGER NOT NULL DEFAULT 0,"
	"  target BLOB"
	");"
	"CREATE TABLE dirents ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  parent INTEGER NOT NULL,"
	"  name BLOB NOT NULL,"
	"  ino INTEGER NOT NULL,"
	"  UNIQUE (parent, name)"
	");"
	"CREATE INDEX dirents_by_parent ON dirents (parent, id);"
	"CREATE TABLE xattrs ("
	"  ino INTEGER NOT NULL,"
	"  name BLOB NOT NULL,"
	"  value BLOB NOT NULL,"
	"  PRIMARY KEY (ino, name)"
	") WITHOUT ROWID;"
	"CREATE TABLE blobs ("
	"  hash BLOB PRIMARY KEY,"
	"  size INTEGER NOT NULL,"
	"  refs INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE INDEX blobs_unreferenced ON blobs (refs) WHERE refs = 0;"
	"CREATE TRIGGER inode_blob_ins AFTER INSERT ON inodes"
	"  WHEN NEW.blob IS NOT NULL BEGIN"
	"  UPDATE blobs SET refs = refs + 1 WHERE hash = NEW.blob; END;"
	"CREATE TRIGGER inode_blob_del AFTER DELETE ON inodes"
	"  WHEN OLD.blob IS NOT NULL BEGIN"
	"  UPDATE blobs SET refs = refs - 1 WHERE hash = OLD.blob; END;"
	"CREATE TRIGGER inode_blob_upd AFTER UPDATE OF blob ON inodes"
	"  WHEN OLD.blob IS NOT NEW.blob BEGIN"
	"  UPDATE blobs SET refs = refs - 1 WHERE hash = OLD.blob;"
	"  UPDATE blobs SET refs = refs + 1 WHERE hash = NEW.blob; END;",
	/* 1 -> 2: find the parent of a folder (rename loops, fsck) */
	"CREATE INDEX dirents_by_ino ON dirents (ino);",
	/* 2 -> 3: components, packages (snapshots) and the audit trail */
	"CREATE TABLE components ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  type TEXT NOT NULL,"
	"  dir INTEGER,"
	"  revision INTEGER NOT NULL DEFAULT 0,"
	"  tree_hash BLOB,"
	"  changed INTEGER"
	");"
	"CREATE INDEX components_by_dir ON components (dir);"
	"INSERT OR IGNORE INTO components (name, type, dir)"
	"  SELECT CAST(d.name AS TEXT), CAST(td.name AS TEXT), d.ino"
	"  FROM dirents d JOIN dirents td ON td.ino = d.parent"
	"  AND td.parent = 2 JOIN inodes c ON c.ino = d.ino"
	"  WHERE (c.mode & 61440) = 16384;"
	"CREATE TABLE snodes ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  parent INTEGER NOT NULL,"
	"  name BLOB NOT NULL,"
	"  mode INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  gid INTEGER NOT NULL,"
	"  nlink INTEGER NOT NULL DEFAULT 1,"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  blocks INTEGER NOT NULL DEFAULT 0,"
	"  rdev INTEGER NOT NULL DEFAULT 0,"
	"  atime INTEGER NOT NULL,"
	"  mtime INTEGER NOT NULL,"
	"  ctime INTEGER NOT NULL,"
	"  blob BLOB,"
	"  target BLOB"
	");"
	"CREATE INDEX snodes_by_name ON snodes (parent, name);"
	"CREATE TRIGGER snode_blob_ins AFTER INSERT ON snodes"
	"  WHEN NEW.blob IS NOT NULL BEGIN"
	"  UPDATE blobs SET refs = refs + 1 WHERE hash = NEW.blob; END;"
	"CREATE TRIGGER snode_blob_del AFTER DELETE ON snodes"
	"  WHEN OLD.blob IS NOT NULL BEGIN"
	"  UPDATE blobs SET refs = refs - 1 WHERE hash = OLD.blob; END;"
	"CREATE TABLE packages ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  component INTEGER NOT NULL REFERENCES components (id),"
	"  version TEXT NOT NULL,"
	"  root INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  notes TEXT,"
	"  revisions TEXT NOT NULL,"
	"  requires TEXT NOT NULL,"
	"  content_hash BLOB NOT NULL,"
	"  deployed INTEGER NOT NULL DEFAULT 0,"
	"  removed INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (component, version)"
	");"
	"CREATE TABLE audit ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts INTEGER NOT NULL,"
	"  actor TEXT,"
	"  uid INTEGER,"
	"  pid INTEGER,"
	"  cmd TEXT,"
	"  action TEXT NOT NULL,"
	"  env TEXT,"
	"  component TEXT,"
	"  version TEXT,"
	"  from_version TEXT,"
	"  deployment INTEGER,"
	"  revisions TEXT,"
	"  result TEXT NOT NULL,"
	"  reason TEXT"
	");"
	"CREATE TABLE blob_data ("
	"  hash BLOB PRIMARY KEY,"
	"  data BLOB NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TRIGGER blob_data_del AFTER DELETE ON blobs BEGIN"
	"  DELETE FROM blob_data WHERE hash = OLD.hash; END;"
	"CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;"
	"CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;",
	/* 3 -> 4: environments, deployments, staging copies, audit.log */
	"CREATE TABLE envs ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL,"
	"  mode INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  gid INTEGER NOT NULL,"
	"  classification TEXT,"
	"  created INTEGER NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  mtime INTEGER NOT NULL,"
	"  ctime INTEGER NOT NULL,"
	"  removed INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE UNIQUE INDEX envs_by_name ON envs (name) WHERE removed = 0;"
	"CREATE TABLE deployments ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  env INTEGER NOT NULL REFERENCES envs (id),"
	"  component INTEGER NOT NULL REFERENCES components (id),"
	"  package INTEGER NOT NULL REFERENCES packages (id),"
	"  version TEXT NOT NULL DEFAULT '',"
	"  number INTEGER NOT NULL,"
	"  active INTEGER NOT NULL DEFAULT 1,"
	"  created INTEGER NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  gid INTEGER NOT NULL DEFAULT 0,"
	"  via TEXT NOT NULL,"
	"  notes TEXT,"
	"  warning TEXT,"
	"  ended INTEGER,"
	"  UNIQUE (env, component, number)"
	");"
	"CREATE UNIQUE INDEX deployments_active ON deployments"
	"  (env, component) WHERE active = 1;"
	"CREATE TABLE staging ("
	"  id INTEGER PRIMARY KEY,"
	"  env INTEGER NOT NULL REFERENCES envs (id),"
	"  package INTEGER NOT NULL REFERENCES packages (id),"
	"  started INTEGER NOT NULL,"
	"  started_by TEXT NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  entries INTEGER NOT NULL,"
	"  done INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE audit_lines ("
	"  seq INTEGER PRIMARY KEY,"
	"  off INTEGER NOT NULL,"
	"  len INTEGER NOT NULL"
	");"
	"CREATE INDEX audit_lines_by_off ON audit_lines (off);"
	"CREATE INDEX packages_by_root ON packages (root);"
	"CREATE INDEX deployments_by_package ON deployments (package, env);",
};

int dfs_store_schema_version(void)
{
	return DFS_SCHEMA_VERSION;
}

int dfs_sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE ||
		    rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return -EEXIST;
		return -EINVAL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_TOOBIG:
		return -E2BIG;
	default:
		return -EIO;
	}
}

const char *dfs_store_strerror(int rc)
{
	switch (rc) {
	case -ENOENT:
		return "no store there (create one with 'deployctl init')";
	case -ENOTDIR:
		return "not a folder";
	case -EMEDIUMTYPE:
		return "not a deployfs store (no deployfs.db)";
	case -EUCLEAN:
		return "the store's database is corrupt; it was not touched";
	case -EPROTONOSUPPORT:
		return "the store was written by a newer deployfs; "
		       "upgrade deployfs to open it";
	case -EBUSY:
		return "the store is already served by another deployfs daemon";
	case -ENOTEMPTY:
		return "the folder is not empty";
	case -EEXIST:
		return "a store already exists there";
	default:
		return strerror(-rc);
	}
}

int64_t dfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return dfs_ts_to_ns(ts);
}

struct timespec dfs_ns_to_ts(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = ns / 1000000000LL;
	ts.tv_nsec = ns % 1000000000LL;
	if (ts.tv_nsec < 0) {
		ts.tv_sec -= 1;
		ts.tv_nsec += 1000000000LL;
	}
	return ts;
}

int64_t dfs_ts_to_ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void dfs_iso_time(int64_t ns, char *buf, size_t cap)
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- statements --------------------------------------------------------- */

#define ATTR_COLS                                                 \
	"i.ino, i.mode, i.uid, i.gid, i.nlink, i.size, i.blocks," \
	" i.rdev, i.atime, i.mtime, i.ctime, i.flags, i.work"

static const char *const stmt_sql[S_STMT_MAX] = {
	[S_GETATTR] = "SELECT " ATTR_COLS " FROM inodes i WHERE i.ino = ?1",
	[S_LOOKUP] = "SELECT " ATTR_COLS " FROM dirents d"
		     " JOIN inodes i ON i.ino = d.ino"
		     " WHERE d.parent = ?1 AND d.name = ?2",
	[S_INSERT_INODE] =
		"INSERT INTO inodes (mode, uid, gid, nlink, size,"
		" blocks, rdev, atime, mtime, ctime, flags, blob, target)"
		" VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?7, ?7, 0, ?8, ?9)",
	[S_INSERT_DIRENT] = "INSERT INTO dirents (parent, name, ino)"
			    " VALUES (?1, ?2, ?3)",
	[S_DELETE_DIRENT] = "DELETE FROM dirents WHERE parent = ?1"
			    " AND name = ?2",
	[S_NLINK_ADD] = "UPDATE inodes SET nlink = nlink + ?2, ctime = ?3"
			" WHERE ino = ?1",
	[S_TOUCH_MC] = "UPDATE inodes SET mtime = ?2, ctime = ?2"
		       " WHERE ino = ?1",
	[S_SET_CTIME] = "UPDATE inodes SET ctime = ?2 WHERE ino = ?1",
	[S_SET_MTIME] = "UPDATE inodes SET mtime = ?2 WHERE ino = ?1",
	[S_SET_ATIME] = "UPDATE inodes SET atime = ?2 WHERE ino = ?1",
	[S_SET_MODE] = "UPDATE inodes SET mode = ?2 WHERE ino = ?1",
	[S_SET_OWNER] = "UPDATE inodes SET uid = ?2, gid = ?3 WHERE ino = ?1",
	[S_READDIR] = "SELECT d.id, d.name, " ATTR_COLS " FROM dirents d"
		      " JOIN inodes i ON i.ino = d.ino"
		      " WHERE d.parent = ?1 AND d.id > ?2 ORDER BY d.id",
	[S_CHILD_COUNT] = "SELECT count(*) FROM"
			  " (SELECT 1 FROM dirents WHERE parent = ?1 LIMIT 1)",
	[S_DELETE_INODE] = "DELETE FROM inodes WHERE ino = ?1",
	[S_DELETE_XATTRS] = "DELETE FROM xattrs WHERE ino = ?1",
	[S_MOVE_DIRENT] = "UPDATE dirents SET parent = ?3, name = ?4"
			  " WHERE parent = ?1 AND name = ?2",
	[S_DIRENT_INO] = "UPDATE dirents SET ino = ?3"
			 " WHERE parent = ?1 AND name = ?2",
	[S_PARENT_OF] = "SELECT parent FROM dirents WHERE ino = ?1 LIMIT 1",
	[S_READLINK] = "SELECT target FROM inodes WHERE ino = ?1",
	[S_XATTR_GET] = "SELECT value FROM xattrs WHERE ino = ?1"
			" AND name = ?2",
	[S_XATTR_SET] = "INSERT OR REPLACE INTO xattrs (ino, name, value)"
			" VALUES (?1, ?2, ?3)",
	[S_XATTR_INSERT] = "INSERT INTO xattrs (ino, name, value)"
			   " VALUES (?1, ?2, ?3)",
	[S_XATTR_UPDATE] = "UPDATE xattrs SET value = ?3 WHERE ino = ?1"
			   " AND name = ?2",
	[S_XATTR_LIST] = "SELECT name FROM xattrs WHERE ino = ?1"
			 " ORDER BY name",
	[S_XATTR_DELETE] = "DELETE FROM xattrs WHERE ino = ?1 AND name = ?2",
	[S_CONTENT] = "SELECT mode, nlink, size, blob, work, flags"
		      " FROM inodes WHERE ino = ?1",
	[S_SET_WORK] = "UPDATE inodes SET work = 1, size = ?2 WHERE ino = ?1",
	[S_SEAL_BLOB_ROW] = "INSERT OR IGNORE INTO blobs (hash, size, refs)"
			    " VALUES (?1, ?2, 0)",
	[S_SEAL_INODE] = "UPDATE inodes SET blob = ?2, work = 0, size = ?3,"
			 " blocks = ?4 WHERE ino = ?1 AND work = 1",
	[S_RECLAIM_LIST] = "SELECT hash FROM blobs WHERE refs = 0 LIMIT 256",
	[S_RECLAIM_DELETE] = "DELETE FROM blobs WHERE hash = ?1 AND refs = 0",
	[S_SET_SIZE] = "UPDATE inodes SET size = ?2 WHERE ino = ?1",
};

sqlite3_stmt *dfs_stmt(struct dfs_store *st, enum dfs_stmt_id id)
{
	sqlite3_stmt *s = st->stmt[id];

	if (!s) {
		if (sqlite3_prepare_v3(st->db, stmt_sql[id], -1,
				       SQLITE_PREPARE_PERSISTENT, &s,
				       NULL) != SQLITE_OK)
			return NULL;
		st->stmt[id] = s;
	}
	return s;
}

/* Reset s and turn the step result rc into 0 or -errno. */
int dfs_stmt_done(sqlite3_stmt *s, int rc)
{
	sqlite3_reset(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE || rc == SQLITE_OK)
		return 0;
	return dfs_sql_errno(sqlite3_extended_errcode(sqlite3_db_handle(s)));
}

int dfs_db_exec(struct dfs_store *st, const char *sql)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : dfs_sql_errno(rc);
}

/*
 * Group commit.  Each call is one savepoint inside a transaction that may
 * be longer than the call: a "lazy" call (creating a file, setting
 * attributes: what tar and cp do between create and close) leaves the
 * transaction open, and the next eager call (close, rename, unlink, a
 * package, ...) or the sealer thread DFS_LAZY_MS later commits it.  So an
 * untar costs one commit per file, not five; a call that failed rolls
 * back to its own savepoint only.  What a kill -9 can lose is a lazy call
 * younger than DFS_LAZY_MS whose file was not closed since.
 */
static int begin(struct dfs_store *st, bool lazy)
{
	int rc = 0;

	if (!st->txn_open) {
		rc = dfs_db_exec(st, "BEGIN IMMEDIATE");
		if (rc < 0)
			return rc;
		st->txn_open = true;
		st->txn_since = dfs_now_ns();
	}
	rc = dfs_db_exec(st, "SAVEPOINT op");
	st->op_lazy = lazy;
	if (lazy) /* the sealer commits it if nobody else does */
		pthread_cond_signal(&st->seal_wake);
	return rc;
}

int dfs_db_begin(struct dfs_store *st)
{
	return begin(st, false);
}

int dfs_db_begin_lazy(struct dfs_store *st)
{
	return begin(st, true);
}

/*
 * A transaction of its own, without a savepoint, for a call that writes
 * thousands of rows (a package): inside a savepoint SQLite journals every
 * statement, and its in-memory statement journal makes such a call cost
 * more than linear in its rows.
 */
int dfs_db_begin_whole(struct dfs_store *st)
{
	int rc = dfs_db_flush(st);

	if (rc == 0)
		rc = dfs_db_exec(st, "BEGIN IMMEDIATE");
	if (rc < 0)
		return rc;
	st->txn_open = true;
	st->txn_whole = true;
	st->op_lazy = false;
	st->txn_since = dfs_now_ns();
	return 0;
}

/* Commit the open transaction, if any (st->lock held). */
int dfs_db_flush(struct dfs_store *st)
{
	int rc;

	if (!st->txn_open)
		return 0;
	st->txn_open = false;
	rc = dfs_db_exec(st, "COMMIT");
	if (rc < 0)
		(void)dfs_db_exec(st, "ROLLBACK");
	return rc;
}

/* SQLite tells us the size of the WAL after each commit. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct dfs_store *st = arg;

	(void)db;
	(void)name;
	st->wal_pages = pages;
	if (pages >= DFS_CHECKPOINT_PAGES)
		pthread_cond_signal(&st->seal_wake);
	return SQLITE_OK;
}

/*
 * The sealer's tick: commit lazy work older than DFS_LAZY_MS, and
 * checkpoint a large WAL here rather than in whichever call's commit
 * crossed the threshold (a package or a close would wait for it).
 */
void dfs_db_tick_locked(struct dfs_store *st)
{
	if (st->txn_open &&
	    dfs_now_ns() - st->txn_since >= DFS_LAZY_MS * 1000000LL)
		(void)dfs_db_flush(st);
	if (!st->txn_open && st->wal_pages >= DFS_CHECKPOINT_PAGES) {
		st->wal_pages = 0;
		(void)sqlite3_wal_checkpoint_v2(
			st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
}

/*
 * durable: the commit reaches the disk before this returns (a power cut
 * cannot undo it).  The connection runs with synchronous=NORMAL, which
 * syncs the WAL only at checkpoints; a durable commit syncs it here.
 */
int dfs_db_commit(struct dfs_store *st, bool durable)
{
	int rc = st->txn_whole ? 0 : dfs_db_exec(st, "RELEASE op");

	st->txn_whole = false;
	if (rc < 0) {
		dfs_db_rollback(st);
		return rc;
	}
	if (st->op_lazy && !durable)
		return 0;
	rc = dfs_db_flush(st);
	if (rc < 0 || !durable)
		return rc;
	if (st->wal_fd < 0)
		st->wal_fd = openat(st->dirfd, DFS_DB_NAME "-wal",
				    O_RDONLY | O_CLOEXEC);
	if (st->wal_fd < 0)
		return -errno;
	return dfs_io_fsync(st->wal_fd);
}

/* Undo the current call only (its savepoint). */
void dfs_db_rollback(struct dfs_store *st)
{
	if (!st->txn_open)
		return;
	if (!st->txn_whole && dfs_db_exec(st, "ROLLBACK TO op") == 0 &&
	    dfs_db_exec(st, "RELEASE op") == 0)
		return;
	st->txn_whole = false;
	(void)dfs_db_exec(st, "ROLLBACK");
	st->txn_open = false;
}

/* ---- creating ------------------------------------------------------------ */

static int populate(sqlite3 *db);

static int migrate(sqlite3 *db, int from, bool fresh)
{
	char sql[64];
	int rc;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return dfs_sql_errno(sqlite3_extended_errcode(db));
	for (int v = from; v < DFS_SCHEMA_VERSION; v++) {
		rc = sqlite3_exec(db, migrations[v], NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto out_rollback;
	}
	if (fresh && populate(db) < 0)
		goto out_rollback;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		 DFS_SCHEMA_VERSION);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto out_rollback;
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto out_rollback;
	return 0;
out_rollback:
	rc = dfs_sql_errno(sqlite3_extended_errcode(db));
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

struct sysnode {
	uint64_t ino;
	uint64_t parent;
	const char *name;
	uint32_t mode;
	uint32_t flags;
};

static const struct sysnode sysnodes[] = {
	{ DFS_INO_ROOT, 0, NULL, S_IFDIR | 0755,
	  DFS_NODE_SYSTEM | DFS_NODE_READONLY },
	{ DFS_INO_BUILD, DFS_INO_ROOT, "build", S_IFDIR | 0755,
	  DFS_NODE_SYSTEM | DFS_NODE_FENCED },
	{ DFS_INO_PACKAGES, DFS_INO_ROOT, "packages", S_IFDIR | 0555,
	  DFS_NODE_SYSTEM | DFS_NODE_READONLY },
	{ DFS_INO_ENVIRONMENTS, DFS_INO_ROOT, "environments", S_IFDIR | 0555,
	  DFS_NODE_SYSTEM | DFS_NODE_READONLY },
	{ DFS_INO_AUDIT, DFS_INO_ROOT, "audit.log", S_IFREG | 0444,
	  DFS_NODE_SYSTEM | DFS_NODE_READONLY },
};

static int insert_sysnode(sqlite3 *db, uint64_t ino, uint64_t parent,
			  const char *name, uint32_t mode, uint32_t flags)
{
	int64_t now = dfs_now_ns();
	char *sql;
	int rc;

	sql = sqlite3_mprintf(
		"INSERT INTO inodes (ino, mode, uid, gid, nlink, atime, mtime,"
		" ctime, flags) VALUES (%llu, %u, %u, %u, %u, %lld, %lld,"
		" %lld, %u);",
		(unsigned long long)ino, mode, (unsigned)getuid(),
		(unsigned)getgid(), S_ISDIR(mode) ? 2u : 1u, (long long)now,
		(long long)now, (long long)now, flags);
	if (!sql)
		return -ENOMEM;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	if (rc == SQLITE_OK && parent) {
		sql = sqlite3_mprintf(
			"INSERT INTO dirents (parent, name, ino) VALUES"
			" (%llu, CAST(%Q AS BLOB), %llu);"
			"UPDATE inodes SET nlink = nlink + %d WHERE ino = %llu;",
			(unsigned long long)parent, name,
			(unsigned long long)ino, S_ISDIR(mode) ? 1 : 0,
			(unsigned long long)parent);
		if (!sql)
			return -ENOMEM;
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		sqlite3_free(sql);
	}
	return rc == SQLITE_OK ? 0 : dfs_sql_errno(rc);
}

static int populate(sqlite3 *db)
{
	uint64_t ino = DFS_INO_AUDIT + 1;
	char hex[DFS_HASH_HEX], *sql;
	int rc = 0;

	/* The empty blob, pinned by one reference so it is never reclaimed. */
	dfs_hash_hex(&dfs_empty_hash, hex);
	sql = sqlite3_mprintf("INSERT INTO blobs (hash, size, refs)"
			      " VALUES (x'%s', 0, 1)",
			      hex);
	if (!sql)
		return -ENOMEM;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK)
		return dfs_sql_errno(rc);

	for (size_t i = 0; rc == 0 && i < sizeof(sysnodes) / sizeof(*sysnodes);
	     i++)
		rc = insert_sysnode(db, sysnodes[i].ino, sysnodes[i].parent,
				    sysnodes[i].name, sysnodes[i].mode,
				    sysnodes[i].flags);
	for (size_t i = 0; rc == 0 && i < dfs_type_count(); i++, ino++)
		rc = insert_sysnode(db, ino, DFS_INO_BUILD,
				    dfs_type_at(i)->name, S_IFDIR | 0755,
				    DFS_NODE_SYSTEM | DFS_NODE_TYPEDIR);
	return rc;
}

static int create_dirs(int dirfd)
{
	char sub[16], empty[48];
	int fd;

	if (mkdirat(dirfd, DFS_BLOBS_DIR, 0700) < 0 ||
	    mkdirat(dirfd, DFS_WORK_DIR, 0700) < 0)
		return -errno;
	for (int i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "%s/%02x", DFS_BLOBS_DIR, i);
		if (mkdirat(dirfd, sub, 0700) < 0)
			return -errno;
	}
	dfs_blob_relpath(&dfs_empty_hash, empty + 6);
	memcpy(empty, DFS_BLOBS_DIR "/", 6);
	fd = openat(dirfd, empty, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0400);
	if (fd < 0)
		return -errno;
	close(fd);
	fd = openat(dirfd, DFS_LOCK_NAME, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int folder_is_empty(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int rc = 0;

	if (!d)
		return -errno;
	while (rc == 0 && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = -ENOTEMPTY;
	closedir(d);
	return rc;
}

int dfs_store_create(const char *path)
{
	char dbpath[4096];
	sqlite3 *db = NULL;
	int dirfd, rc;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	rc = folder_is_empty(path);
	if (rc < 0)
		return rc;
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	if (faccessat(dirfd, DFS_DB_NAME, F_OK, 0) == 0) {
		rc = -EEXIST;
		goto out_close;
	}
	rc = create_dirs(dirfd);
	if (rc < 0)
		goto out_close;
	if (snprintf(dbpath, sizeof(dbpath), "%s/%s", path, DFS_DB_NAME) >=
	    (int)sizeof(dbpath)) {
		rc = -ENAMETOOLONG;
		goto out_close;
	}
	rc = sqlite3_open_v2(dbpath, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		rc = dfs_sql_errno(rc);
		goto out_db;
	}
	rc = sqlite3_exec(
		db,
		"PRAGMA journal_mode = WAL;"
		"PRAGMA application_id = " DFS_STR(DFS_APPLICATION_ID),
		NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = dfs_sql_errno(rc);
		goto out_db;
	}
	rc = migrate(db, 0, true);
	if (rc == 0 && fsync(dirfd) < 0)
		rc = -errno;
out_db:
	sqlite3_close(db);
out_close:
	close(dirfd);
	return rc;
}

/* ---- opening ------------------------------------------------------------- */

static int check_schema(sqlite3 *db, int *ret_version)
{
	sqlite3_stmt *s = NULL;
	int appid = 0, version = 0, rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
		appid = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return -EUCLEAN;
	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return -EUCLEAN;
	if (appid != DFS_APPLICATION_ID || version <= 0)
		return -EMEDIUMTYPE;
	if (version > DFS_SCHEMA_VERSION)
		return -EPROTONOSUPPORT;
	*ret_version = version;
	return 0;
}

static int take_lock(struct dfs_store *st)
{
	st->lock_fd = openat(st->dirfd, DFS_LOCK_NAME,
			     O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0)
		return -errno;
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return 0;
}

static int open_db(struct dfs_store *st)
{
	char dbpath[4096];
	int version = 0, rc;

	if (snprintf(dbpath, sizeof(dbpath), "%s/%s", st->path, DFS_DB_NAME) >=
	    (int)sizeof(dbpath))
		return -ENAMETOOLONG;
	rc = sqlite3_open_v2(dbpath, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return rc == SQLITE_CANTOPEN ? -EMEDIUMTYPE : dfs_sql_errno(rc);
	sqlite3_busy_timeout(st->db, 10000);
	rc = check_schema(st->db, &version);
	if (rc < 0)
		return rc;
	rc = dfs_db_exec(st, "PRAGMA journal_mode = WAL;"
			     "PRAGMA synchronous = NORMAL;"
			     "PRAGMA cache_size = -65536;"
			     "PRAGMA wal_autocheckpoint = 0;"
			     "PRAGMA temp_store = MEMORY;");
	if (rc < 0)
		return rc;
	if (version < DFS_SCHEMA_VERSION)
		rc = migrate(st->db, version, false);
	if (rc == 0 && !(st->flags & DFS_OPEN_DAEMON))
		rc = dfs_db_exec(st, "PRAGMA wal_autocheckpoint = 1000");
	if (rc == 0 && (st->flags & DFS_OPEN_DAEMON))
		sqlite3_wal_hook(st->db, wal_hook, st);
	return rc;
}

int dfs_store_open(const char *path, unsigned flags, struct dfs_store **ret)
{
	struct dfs_store *st;
	struct stat sb;
	int rc;

	if (stat(path, &sb) < 0)
		return -errno;
	if (!S_ISDIR(sb.st_mode))
		return -ENOTDIR;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->dirfd = st->blobs_fd = st->work_fd = st->lock_fd = -1;
	st->wal_fd = -1;
	st->flags = flags;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->seal_wake, NULL);
	pthread_cond_init(&st->seal_done, NULL);
	st->path = strdup(path);
	if (!st->path) {
		rc = -ENOMEM;
		goto out_free;
	}
	st->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (faccessat(st->dirfd, DFS_DB_NAME, F_OK, 0) < 0) {
		rc = -EMEDIUMTYPE;
		goto out_free;
	}
	if (flags & DFS_OPEN_DAEMON) {
		rc = take_lock(st);
		if (rc < 0)
			goto out_free;
	}
	rc = open_db(st);
	if (rc < 0)
		goto out_free;
	st->blobs_fd = openat(st->dirfd, DFS_BLOBS_DIR,
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	st->work_fd = openat(st->dirfd, DFS_WORK_DIR,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->blobs_fd < 0 || st->work_fd < 0) {
		rc = -EUCLEAN;
		goto out_free;
	}
	if (flags & DFS_OPEN_DAEMON) {
		pthread_mutex_lock(&st->lock);
		rc = dfs_recover_locked(st);
		/* Copies in flight died with the daemon: none deployed. */
		if (rc == 0)
			rc = dfs_db_exec(st, "DELETE FROM staging");
		if (rc == 0)
			rc = dfs_auditlog_index_locked(st);
		pthread_mutex_unlock(&st->lock);
		if (rc == 0 && !(flags & DFS_OPEN_NO_SEALER))
			rc = dfs_sealer_start(st);
		if (rc < 0)
			goto out_free;
	}
	*ret = st;
	return 0;
out_free:
	dfs_store_free(st);
	return rc;
}

struct dfs_store *dfs_store_free(struct dfs_store *st)
{
	if (!st)
		return NULL;
	if (st->db)
		(void)dfs_store_sync(st);
	dfs_sealer_stop(st);
	dfs_env_free_locked(st);
	for (size_t b = 0; b < DFS_IMAP_BUCKETS; b++) {
		struct dfs_oinode *oi = st->imap[b], *next;

		for (; oi; oi = next) {
			next = oi->next;
			if (oi->fd >= 0)
				close(oi->fd);
			pthread_rwlock_destroy(&oi->fdlock);
			free(oi);
		}
	}
	for (int i = 0; i < S_STMT_MAX; i++)
		sqlite3_finalize(st->stmt[i]);
	for (int i = 0; i < DFS_SQL_CACHE; i++)
		sqlite3_finalize(st->sql_stmt[i]);
	if (st->db)
		sqlite3_close(st->db);
	if (st->blobs_fd >= 0)
		close(st->blobs_fd);
	if (st->work_fd >= 0)
		close(st->work_fd);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	if (st->wal_fd >= 0)
		close(st->wal_fd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	pthread_cond_destroy(&st->seal_wake);
	pthread_cond_destroy(&st->seal_done);
	pthread_mutex_destroy(&st->lock);
	free(st->path);
	free(st);
	return NULL;
}

int dfs_store_statfs(struct dfs_store *st, struct statvfs *ret)
{
	struct statvfs sv;

	if (fstatvfs(st->dirfd, &sv) < 0)
		return -errno;
	sv.f_namemax = DFS_NAME_MAX;
	*ret = sv;
	return 0;
}

/*
 * Bind the parameters described by fmt and step once: i int64, s string
 * (as a blob of its strlen; NULL binds NULL), h struct dfs_hash *, x pointer + size_t
 * blob, n NULL.  Returns 0 or -errno.
 */
static int dfs_bindv(sqlite3_stmt *s, const char *fmt, va_list ap)
{
	int i = 1, rc = SQLITE_OK;

	for (const char *f = fmt; *f && rc == SQLITE_OK; f++, i++) {
		switch (*f) {
		case 'i':
			rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);

			rc = str ? sqlite3_bind_blob(s, i, str,
						     (int)strlen(str),
						     SQLITE_TRANSIENT)
				 : sqlite3_bind_null(s, i);
			break;
		}
		case 'h': {
			const struct dfs_hash *h =
				va_arg(ap, const struct dfs_hash *);

			rc = sqlite3_bind_blob(s, i, h->b, DFS_HASH_LEN,
					       SQLITE_TRANSIENT);
			break;
		}
		case 'x': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);

			rc = sqlite3_bind_blob(s, i, p, (int)n,
					       SQLITE_TRANSIENT);
			break;
		}
		default:
			rc = sqlite3_bind_null(s, i);
			break;
		}
	}
	return rc == SQLITE_OK ? 0 : -EINVAL;
}

/* The statement for a constant SQL string, prepared once per store. */
sqlite3_stmt *dfs_sql(struct dfs_store *st, const char *sql)
{
	int i;

	for (i = 0; i < DFS_SQL_CACHE && st->sql_key[i]; i++)
		if (st->sql_key[i] == sql)
			return st->sql_stmt[i];
	if (i == DFS_SQL_CACHE)
		return NULL;
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &st->sql_stmt[i], NULL) != SQLITE_OK)
		return NULL;
	st->sql_key[i] = sql;
	return st->sql_stmt[i];
}

static int exec_v(sqlite3_stmt *s, const char *fmt, va_list ap)
{
	int rc;

	if (!s)
		return -EIO;
	rc = dfs_bindv(s, fmt, ap);
	if (rc < 0) {
		sqlite3_reset(s);
		return rc;
	}
	return dfs_stmt_done(s, sqlite3_step(s));
}

static int query_v(sqlite3_stmt *s, sqlite3_stmt **ret, const char *fmt,
		   va_list ap)
{
	int rc;

	if (!s)
		return -EIO;
	rc = dfs_bindv(s, fmt, ap);
	if (rc < 0) {
		sqlite3_reset(s);
		return rc;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ret = s;
		return 1;
	}
	return dfs_stmt_done(s, rc);
}

int dfs_exec_sql(struct dfs_store *st, const char *sql, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = exec_v(dfs_sql(st, sql), fmt, ap);
	va_end(ap);
	return rc;
}

int dfs_query_sql(struct dfs_store *st, const char *sql, sqlite3_stmt **ret,
		  const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = query_v(dfs_sql(st, sql), ret, fmt, ap);
	va_end(ap);
	return rc;
}

int dfs_exec(struct dfs_store *st, enum dfs_stmt_id id, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = exec_v(dfs_stmt(st, id), fmt, ap);
	va_end(ap);
	return rc;
}

int dfs_query(struct dfs_store *st, enum dfs_stmt_id id, sqlite3_stmt **ret,
	      const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = query_v(dfs_stmt(st, id), ret, fmt, ap);
	va_end(ap);
	return rc;
}
