// SPDX-License-Identifier: MIT
/*
 * schema.c - the database of a store: its schema and forward migrations,
 * and creating a store folder.  Opening one (and checking it before use)
 * is dbopen.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage.h"

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
	/* 4 -> 5: a release marked bad, with the reason (NULL: not bad) */
	"ALTER TABLE packages ADD COLUMN bad TEXT;",
	/* 5 -> 6: the chunk lists of blob files (blobs sealed before have
	 * none and are checked whole) */
	"CREATE TABLE blob_chunks ("
	"  hash BLOB PRIMARY KEY,"
	"  chunk INTEGER NOT NULL,"
	"  sums BLOB NOT NULL"
	");"
	"CREATE TRIGGER blob_chunks_del AFTER DELETE ON blobs BEGIN"
	"  DELETE FROM blob_chunks WHERE hash = OLD.hash; END;",
	/* 6 -> 7: a package kept from pruning (deployctl package keep):
	 * when it was kept, 0 when not */
	"ALTER TABLE packages ADD COLUMN kept INTEGER NOT NULL DEFAULT 0;",
	/* 7 -> 8: small contents in the order they were written, found by
	 * their hash through a narrow index: keyed by the hash itself,
	 * each new one landed on a random leaf of a table as large as all
	 * of them (4 KiB a row), and past the page cache every close read
	 * and rewrote one; an untar of 100,000 files ran 20 x the time of
	 * 10,000 */
	"CREATE TABLE blob_data_v8 ("
	"  id INTEGER PRIMARY KEY,"
	"  hash BLOB NOT NULL,"
	"  data BLOB NOT NULL"
	");"
	"INSERT INTO blob_data_v8 (hash, data)"
	"  SELECT hash, data FROM blob_data;"
	"DROP TRIGGER blob_data_del;"
	"DROP TABLE blob_data;"
	"ALTER TABLE blob_data_v8 RENAME TO blob_data;"
	"CREATE UNIQUE INDEX blob_data_by_hash ON blob_data (hash);"
	"CREATE TRIGGER blob_data_del AFTER DELETE ON blobs BEGIN"
	"  DELETE FROM blob_data WHERE hash = OLD.hash; END;",
	/* 8 -> 9: a snapshot counts its nodes' blobs once, after its nodes
	 * (now model/snodew.c, dfs_snapw_end), not by a trigger per
	 * node: half the time of a snapshot of 100,000 files */
	"DROP TRIGGER IF EXISTS snode_blob_ins;",
	/* 9 -> 10: the epoch of the close log (storage/redo.c) the last
	 * commit holds: a log of that epoch or older is not run again
	 * (IF EXISTS: a test's older store may have it) */
	"CREATE TABLE IF NOT EXISTS redo (epoch INTEGER NOT NULL);"
	"INSERT INTO redo SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM redo);",
	/* 10 -> 11: snapshots share the entries they did not change
	 * (model/snode.c says how).  A row of snodes is one state of a node
	 * of a line (a component's snapshots), valid for versions vfrom up
	 * to vto; a package is version seq of its line, its node ids root up
	 * to root + nodes.  Each package made before is a line of its own,
	 * its node ids kept (they are inode numbers). */
	"CREATE TABLE lines ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  component INTEGER,"
	"  shared INTEGER NOT NULL DEFAULT 0,"
	"  seq INTEGER NOT NULL DEFAULT 0,"
	"  nodes INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE UNIQUE INDEX lines_shared ON lines (component)"
	"  WHERE shared = 1;"
	"CREATE TABLE snode_ids (next INTEGER NOT NULL);"
	"INSERT INTO snode_ids SELECT max(coalesce((SELECT seq FROM"
	"  sqlite_sequence WHERE name = 'snodes'), 0),"
	"  coalesce((SELECT max(id) FROM snodes), 0)) + 1;"
	"ALTER TABLE packages ADD COLUMN line INTEGER;"
	"ALTER TABLE packages ADD COLUMN seq INTEGER;"
	"ALTER TABLE packages ADD COLUMN nodes INTEGER;"
	"UPDATE packages SET nodes = (SELECT max(s.id) FROM snodes s"
	"  WHERE s.id >= packages.root AND s.id < coalesce((SELECT"
	"  min(q.root) FROM packages q WHERE q.root > packages.root),"
	"  1 << 62)) - root + 1"
	"  WHERE EXISTS (SELECT 1 FROM snodes s WHERE s.id = packages.root);"
	"INSERT INTO lines (id, component, shared, seq, nodes)"
	"  SELECT id, component, 0, 1, nodes FROM packages"
	"  WHERE nodes IS NOT NULL;"
	"UPDATE packages SET line = id, seq = 1 WHERE nodes IS NOT NULL;"
	"CREATE TABLE snodes_v11 ("
	"  line INTEGER NOT NULL,"
	"  node INTEGER NOT NULL,"
	"  vfrom INTEGER NOT NULL,"
	"  vto INTEGER,"
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
	"  target BLOB,"
	"  PRIMARY KEY (line, node, vfrom)"
	") WITHOUT ROWID;"
	"INSERT INTO snodes_v11 (line, node, parent, name, vfrom, mode, uid,"
	"  gid, nlink, size, blocks, rdev, atime, mtime, ctime, blob, target)"
	"  SELECT p.line, s.id - p.root, CASE WHEN s.parent = 0 THEN -1"
	"  ELSE s.parent - p.root END, s.name, 1, s.mode, s.uid, s.gid,"
	"  s.nlink, s.size, s.blocks, s.rdev, s.atime, s.mtime, s.ctime,"
	"  s.blob, s.target FROM packages p JOIN snodes s ON s.id >= p.root"
	"  AND s.id < p.root + p.nodes WHERE p.line IS NOT NULL;"
	"DROP TABLE snodes;"
	"ALTER TABLE snodes_v11 RENAME TO snodes;"
	"CREATE INDEX snodes_by_name ON snodes (line, parent, name, vfrom);"
	"CREATE TRIGGER snode_blob_del AFTER DELETE ON snodes"
	"  WHEN OLD.blob IS NOT NULL BEGIN"
	"  UPDATE blobs SET refs = refs - 1 WHERE hash = OLD.blob; END;"
	"CREATE INDEX packages_by_line ON packages (line, seq);",
	/* 11 -> 12: an act applied from the registry (model/regact.c) names
	 * its place in the registry's order, so each is applied once */
	"ALTER TABLE audit ADD COLUMN reg_seq INTEGER;"
	/* and the refusals made while it could not be reached, until they
	 * are in its trail too */
	"CREATE TABLE reg_outbox (seq INTEGER PRIMARY KEY);",
	/* 12 -> 13: blobs of packages from the registry whose bytes come on
	 * first read (model/regfetch.c): a row here, no file until then */
	"CREATE TABLE blob_remote (hash BLOB PRIMARY KEY) WITHOUT ROWID;"
	"CREATE TRIGGER blob_remote_del AFTER DELETE ON blobs BEGIN"
	"  DELETE FROM blob_remote WHERE hash = OLD.hash; END;",
	/* 13 -> 14: a blob's row names the row of its small content, so a
	 * close lands on one random leaf (of blobs, keyed by the hash) and
	 * not two: the index of blob_data by hash, as large as blobs, took
	 * a random leaf of its own, and from 10,000 files on nearly each
	 * was a page more to write to the WAL and again at the checkpoint */
	"ALTER TABLE blobs ADD COLUMN data INTEGER;"
	"UPDATE blobs SET data = (SELECT d.id FROM blob_data d"
	"  WHERE d.hash = blobs.hash);"
	"DELETE FROM blob_data WHERE id NOT IN (SELECT data FROM blobs"
	"  WHERE data IS NOT NULL);"
	"DROP TRIGGER blob_data_del;"
	"DROP INDEX blob_data_by_hash;"
	"CREATE TRIGGER blob_data_del AFTER DELETE ON blobs"
	"  WHEN OLD.data IS NOT NULL BEGIN"
	"  DELETE FROM blob_data WHERE id = OLD.data; END;",
};

int dfs_store_schema_version(void)
{
	return DFS_SCHEMA_VERSION;
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
	case -ENODATA:
		return "the store's database is empty (0 bytes); "
		       "it was not touched";
	case -EPROTONOSUPPORT:
		return "the store was written by a newer deployfs; "
		       "upgrade deployfs to open it";
	case -EBUSY:
		return "the store is already served by another deployfs daemon";
	case -ENOTEMPTY:
		return "the folder is not empty";
	case -EEXIST:
		return "a store already exists there";
	case -EINPROGRESS:
		return "a backup into this folder did not finish; run "
		       "'deployctl backup' (or restore) into it again";
	default:
		return strerror(-rc);
	}
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
	dfs_sqlite_setup(false);
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

/* A store opened by an older deployfs: bring its schema up to date. */
int dfs_schema_migrate(sqlite3 *db, int from)
{
	return migrate(db, from, false);
}
