// SPDX-License-Identifier: MIT
/*
 * dbopen.c - opening the database of a store and checking it before it is
 * used: SQLite can read it (the application id, the schema version: a
 * newer one is refused untouched), and for a daemon every page is sound
 * (SQLite's quick_check) before a byte is written.  A refusal says what
 * was found (dfs_open_why()), naming the file and quoting SQLite.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "storage.h"

#define CACHE_SIZE "PRAGMA cache_size = -" DFS_STR(DFS_CACHE_KIB) ";"

void dfs_open_why(struct dfs_store *st, const char *fmt, ...)
{
	va_list ap;

	if (!st->why || !st->why_cap || st->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(st->why, st->why_cap, fmt, ap);
	va_end(ap);
}

/* Refuse the database: say what SQLite said (what: the step that failed). */
static int refuse(struct dfs_store *st, const char *what)
{
	int err = sqlite3_extended_errcode(st->db);
	char msg[256] = "";

	dfs_sql_msg_append(msg, sizeof(msg), sqlite3_errmsg(st->db));
	dfs_open_why(st, "\"%s/%s\": %s: SQLite says: %s", st->path,
		     DFS_DB_NAME, what, msg);
	return err == SQLITE_OK ? -EUCLEAN : dfs_sql_errno(err);
}

/* The single int a pragma returns: 0, or a refusal (said). */
static int pragma_int(struct dfs_store *st, const char *sql, int *ret)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
		*ret = sqlite3_column_int(s, 0);
	if (rc != SQLITE_ROW) {
		rc = refuse(st, sql);
		sqlite3_finalize(s);
		return rc == -EUCLEAN || rc == -EIO ? -EUCLEAN : rc;
	}
	sqlite3_finalize(s);
	return 0;
}

static int check_schema(struct dfs_store *st, int *ret_version)
{
	int appid = 0, version = 0, rc;

	rc = pragma_int(st, "PRAGMA application_id", &appid);
	if (rc == 0)
		rc = pragma_int(st, "PRAGMA user_version", &version);
	if (rc < 0)
		return rc;
	if (appid != DFS_APPLICATION_ID || version <= 0)
		return -EMEDIUMTYPE;
	if (version > DFS_SCHEMA_VERSION)
		return -EPROTONOSUPPORT;
	*ret_version = version;
	return 0;
}

/*
 * SQLite's own check of every page of the database (not of how the rows
 * agree with the indexes: that is fsck's integrity_check), before the
 * daemon writes a byte: a damaged page refuses the store, saying what
 * SQLite found, rather than failing calls later with EUCLEAN.
 */
static int quick_check(struct dfs_store *st)
{
	char found[512] = "";
	sqlite3_stmt *s = NULL;
	int rc, err = 0, problems = 0;

	rc = sqlite3_prepare_v2(
		st->db, "PRAGMA quick_check(" DFS_STR(DFS_QUICK_CHECK_MAX) ")",
		-1, &s, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		const char *line;

		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW)
			break;
		line = (const char *)sqlite3_column_text(s, 0);
		if (line && strcmp(line, "ok") == 0)
			continue;
		problems++;
		dfs_sql_msg_append(found, sizeof(found), line ? line : "?");
	}
	if (rc != SQLITE_DONE) {
		/* It stopped at damage it could not read past. */
		err = sqlite3_extended_errcode(st->db);
		problems++;
		dfs_sql_msg_append(found, sizeof(found),
				   sqlite3_errmsg(st->db));
	}
	sqlite3_finalize(s);
	if (!problems)
		return 0;
	dfs_open_why(st, "\"%s/%s\": SQLite's quick_check says: %s", st->path,
		     DFS_DB_NAME, found);
	rc = err ? dfs_sql_errno(err) : -EUCLEAN;
	return rc == -EIO ? -EUCLEAN : rc;
}

/* A WAL with frames in it: closing a refused database must not copy
 * them into the database file. */
static bool wal_has_frames(struct dfs_store *st)
{
	struct stat sb;

	return fstatat(st->dirfd, DFS_DB_NAME "-wal", &sb, 0) == 0 &&
	       sb.st_size > 0;
}

static int open_checked(struct dfs_store *st, int *ret_version)
{
	int rc = check_schema(st, ret_version);

	if (rc == 0 && (st->flags & DFS_OPEN_DAEMON))
		rc = quick_check(st);
	return rc;
}

int dfs_schema_open(struct dfs_store *st)
{
	char dbpath[4096];
	int version = 0, rc;
	bool hot;

	if (snprintf(dbpath, sizeof(dbpath), "%s/%s", st->path, DFS_DB_NAME) >=
	    (int)sizeof(dbpath))
		return -ENAMETOOLONG;
	hot = wal_has_frames(st);
	dfs_sqlite_setup(st->flags & DFS_OPEN_DAEMON);
	rc = sqlite3_open_v2(dbpath, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			     dfs_walvfs());
	if (rc != SQLITE_OK)
		return rc == SQLITE_CANTOPEN ? -EMEDIUMTYPE : dfs_sql_errno(rc);
	sqlite3_busy_timeout(st->db, 10000);
	dfs_db_watch_tree(st);
	rc = open_checked(st, &version);
	if (rc < 0) {
		if (hot)
			(void)sqlite3_db_config(
				st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
				NULL);
		return rc;
	}
	/* A 16 MiB page cache: what a create touches fits in it, and
	 * misses are read from the kernel's page cache.  64 MiB held the
	 * inline bytes of recent files and the audit rows of the last read
	 * of audit.log, and put the daemon at 97 MB with 100,000 files in
	 * build/ (46 MB now; untar of 10,000 files: no measurable change). */
	rc = dfs_db_exec(st, "PRAGMA journal_mode = WAL;"
			     "PRAGMA synchronous = NORMAL;" CACHE_SIZE
			     "PRAGMA wal_autocheckpoint = 0;"
			     "PRAGMA temp_store = MEMORY;");
	if (rc < 0)
		return rc;
	rc = dfs_redo_open(st, version);
	if (rc == 0 && version < DFS_SCHEMA_VERSION)
		rc = dfs_schema_migrate(st->db, version);
	if (rc == 0 && !(st->flags & DFS_OPEN_DAEMON))
		rc = dfs_db_exec(st, "PRAGMA wal_autocheckpoint = 1000");
	if (rc == 0 && (st->flags & DFS_OPEN_DAEMON)) {
		dfs_db_watch_wal(st);
		dfs_ckpt_open(st, dbpath);
	}
	return rc;
}
