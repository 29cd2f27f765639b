// SPDX-License-Identifier: MIT
/*
 * test_walvfs.c - the VFS that writes a commit's WAL frames in one call
 * (storage/walvfs.c): the frames are gathered, and a commit that returned
 * is in the WAL file for any other reader, or for a copy of the files as
 * a kill -9 leaves them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../store/storage/storage.h"

static char tmp[64];
static char db[128];

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/dfs-unit-walvfs-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(db, sizeof(db), "%s/t.db", tmp);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	(void)system(cmd);
}

TestSuite(walvfs, .init = setup, .fini = teardown, .timeout = 60);

static void exec_ok(sqlite3 *d, const char *sql)
{
	cr_assert_eq(sqlite3_exec(d, sql, NULL, NULL, NULL), SQLITE_OK,
		     "%s: %s", sql, sqlite3_errmsg(d));
}

/* The rows of t in the database at path, or -1: no assertions, so a
 * forked child may call it too. */
static int count_rows(const char *path)
{
	sqlite3 *d = NULL;
	sqlite3_stmt *s = NULL;
	int n = -1;

	if (sqlite3_open_v2(path, &d, SQLITE_OPEN_READONLY, NULL) ==
		    SQLITE_OK &&
	    sqlite3_prepare_v2(d, "SELECT count(*) FROM t", -1, &s, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(d);
	return n;
}

/* A commit of 1,000 rows of 1 KiB (some 250 pages) through the VFS, left
 * open with no checkpoint: everything it wrote is in the WAL only. */
static sqlite3 *commit_rows(void)
{
	sqlite3 *d = NULL;

	cr_assert_not_null(dfs_walvfs());
	cr_assert_eq(sqlite3_open_v2(db, &d,
				     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
				     dfs_walvfs()),
		     SQLITE_OK);
	exec_ok(d, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
		   "PRAGMA wal_autocheckpoint = 0;"
		   "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
	exec_ok(d, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL"
		   " SELECT i + 1 FROM n WHERE i < 1000) INSERT INTO t (v)"
		   " SELECT randomblob(1024) FROM n; COMMIT");
	return d;
}

Test(walvfs, a_commits_frames_are_written_in_few_calls)
{
	int g0, w0, g1, w1;
	sqlite3 *d;

	dfs_walvfs_counts(&g0, &w0);
	d = commit_rows();
	dfs_walvfs_counts(&g1, &w1);
	sqlite3_close(d);
	/* Two writes a frame gathered; at most 124 KiB written a call. */
	cr_assert_geq(g1 - g0, 500, "%d writes gathered", g1 - g0);
	cr_assert_leq(w1 - w0, (g1 - g0) / 20, "%d writes out of %d gathered",
		      w1 - w0, g1 - g0);
}

Test(walvfs, a_returned_commit_is_in_the_wal_for_other_readers)
{
	sqlite3 *d = commit_rows();
	pid_t pid;
	int status;

	/* Another process, SQLite's default VFS. */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(count_rows(db) == 1000 ? 0 : 1);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "another process did not see the commit");
	sqlite3_close(d);
}

Test(walvfs, a_returned_commit_outlives_a_kill)
{
	char cmd[1024], copy[160];
	sqlite3 *d = commit_rows();

	/* The files as a kill -9 of this process would leave them. */
	snprintf(copy, sizeof(copy), "%s/copy.db", tmp);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && cp '%s-wal' '%s-wal'", db,
		 copy, db, copy);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	sqlite3_close(d);
	cr_assert_eq(count_rows(copy), 1000);
}
