// SPDX-License-Identifier: MIT
/*
 * test_redo.c - the close log (store/storage/redo.c): a close is kept
 * from a kill -9 by its record in STORE/redo, not by a commit of its own.
 *
 * A kill -9 leaves on disk what the daemon had written (the kernel keeps
 * it); a copy of the store folder taken while the store is open is that
 * state.  The store runs without its background thread (NO_SEALER), so
 * nothing commits behind the test: the group commit is where the test
 * puts it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)

static struct dfs_fixture fx;
static char copy[192]; /* the state a kill -9 would leave */

static void setup(void)
{
	dfs_fixture_setup(&fx, "redo", OPEN_FLAGS);
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(redo, .init = setup, .fini = teardown, .timeout = 60);

static void sh(const char *cmd)
{
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* Copy the open store's folder to tmp/copy, as a kill -9 leaves it. */
static void crash_copy(void)
{
	char cmd[1024];

	snprintf(copy, sizeof(copy), "%s/copy", fx.tmp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", copy,
		 fx.path, copy);
	sh(cmd);
}

/* create, write and close parent/name (no sync, no fsync). */
static uint64_t close_file(uint64_t parent, const char *name, const char *text)
{
	struct dfs_attr a;

	cr_assert_eq(dfs_node_mknod(fx.st, &fx.me, parent, name, S_IFREG | 0644,
				    0, &a),
		     0);
	dfs_fixture_write(&fx, a.ino, text, strlen(text));
	return a.ino;
}

static long rows(const char *path, const char *sql)
{
	char db[256];
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;
	long n = -1;

	snprintf(db, sizeof(db), "%s/deployfs.db", path);
	cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK, "%s",
		     sqlite3_errmsg(h));
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return n;
}

#define NAMED(n) \
	"SELECT count(*) FROM dirents WHERE name = CAST('" n "' AS BLOB)"

/* Open path, find build/process/name holding text (or absent). */
static void expect_file(const char *path, unsigned flags, const char *name,
			const char *text)
{
	struct dfs_store *st = NULL;
	struct dfs_attr proc, a;
	struct dfs_file *f = NULL;
	char buf[256];
	ssize_t n;
	int rc;

	cr_assert_eq(dfs_store_open(path, flags, &st), 0);
	cr_assert_eq(dfs_node_lookup(st, DFS_INO_BUILD, "process", &proc), 0);
	rc = dfs_node_lookup(st, proc.ino, name, &a);
	if (!text) {
		cr_expect_eq(rc, -ENOENT, "%s is there", name);
		(void)dfs_store_free(st);
		return;
	}
	cr_assert_eq(rc, 0, "%s lost: %s", name, strerror(-rc));
	cr_assert_eq(dfs_file_open(st, a.ino, O_RDONLY, &f), 0);
	n = pread(dfs_file_fd_get(f), buf, sizeof(buf), 0);
	dfs_file_fd_put(st, f, false, 0);
	cr_assert_eq(dfs_file_release(st, f), 0);
	cr_assert_eq(n, (ssize_t)strlen(text), "%s: %zd bytes", name, n);
	cr_assert_arr_eq(buf, text, strlen(text));
	cr_assert_eq(dfs_store_fsck(st, NULL, NULL), 0);
	(void)dfs_store_free(st);
}

Test(redo, a_closed_file_outlives_a_kill_by_its_record)
{
	FIXTURE_OK();
	(void)close_file(fx.proc, "map.xml", "<map/>\n");
	(void)close_file(fx.proc, "profile.json", "{}\n");
	crash_copy();
	/* Not committed: only the log holds them. */
	cr_assert_eq(rows(copy, NAMED("profile.json")), 0,
		     "the close committed (the log is not what keeps it)");
	expect_file(copy, OPEN_FLAGS, "map.xml", "<map/>\n");
	expect_file(copy, OPEN_FLAGS, "profile.json", "{}\n");
	/* Run once: a second open finds each file once. */
	cr_assert_eq(rows(copy, NAMED("map.xml")), 1);
	expect_file(copy, OPEN_FLAGS, "map.xml", "<map/>\n");
	cr_assert_eq(rows(copy, NAMED("map.xml")), 1);
	cr_assert_eq(rows(copy, NAMED("profile.json")), 1);
}

Test(redo, without_its_log_the_kill_loses_the_close)
{
	FIXTURE_OK();
	(void)close_file(fx.proc, "map.xml", "<map/>\n");
	char cmd[1024];

	crash_copy();
	snprintf(cmd, sizeof(cmd), "rm '%s/redo'", copy);
	sh(cmd);
	expect_file(copy, OPEN_FLAGS, "map.xml", NULL);
}

Test(redo, a_committed_log_is_not_run_again)
{
	long inodes;

	FIXTURE_OK();
	(void)close_file(fx.proc, "map.xml", "<map/>\n");
	cr_assert_eq(dfs_store_commit_durable(fx.st), 0);
	crash_copy();
	cr_assert_eq(rows(copy, NAMED("map.xml")), 1);
	cr_assert_gt(rows(copy, "SELECT epoch FROM redo"), 0);
	inodes = rows(copy, "SELECT count(*) FROM inodes");
	expect_file(copy, OPEN_FLAGS, "map.xml", "<map/>\n");
	cr_assert_eq(rows(copy, NAMED("map.xml")), 1, "run again");
	cr_assert_eq(rows(copy, "SELECT count(*) FROM inodes"), inodes,
		     "its create was run again");
	/* A later close writes the next epoch over the committed one. */
	(void)close_file(fx.proc, "route.xml", "<route/>\n");
	crash_copy();
	expect_file(copy, OPEN_FLAGS, "route.xml", "<route/>\n");
	cr_assert_eq(rows(copy, NAMED("map.xml")), 1, "run again");
	cr_assert_eq(rows(copy, NAMED("route.xml")), 1);
}

Test(redo, a_torn_last_record_loses_only_its_unanswered_close)
{
	struct stat sb;
	char redo[256];

	FIXTURE_OK();
	(void)close_file(fx.proc, "map.xml", "<map/>\n");
	(void)close_file(fx.proc, "profile.json", "{}\n");
	crash_copy();
	snprintf(redo, sizeof(redo), "%s/redo", copy);
	cr_assert_eq(stat(redo, &sb), 0);
	cr_assert_eq(truncate(redo, sb.st_size - 3), 0);
	expect_file(copy, OPEN_FLAGS, "map.xml", "<map/>\n");
	expect_file(copy, OPEN_FLAGS, "profile.json", NULL);
}

Test(redo, an_open_without_the_daemon_runs_a_log_left_behind)
{
	FIXTURE_OK();
	(void)close_file(fx.proc, "map.xml", "<map/>\n");
	crash_copy();
	/* deployctl on a store no daemon serves: it takes the lock. */
	expect_file(copy, 0, "map.xml", "<map/>\n");
	cr_assert_eq(rows(copy, NAMED("map.xml")), 1);
}

Test(redo, an_open_beside_the_daemon_leaves_its_log_alone)
{
	struct stat before, after;
	char redo[256];

	FIXTURE_OK();
	(void)close_file(fx.proc, "map.xml", "<map/>\n");
	snprintf(redo, sizeof(redo), "%s/redo", fx.path);
	cr_assert_eq(stat(redo, &before), 0);
	cr_assert_gt(before.st_size, 0);
	/* The store is open as a daemon opens it: its lock is taken. */
	expect_file(fx.path, 0, "map.xml", NULL);
	cr_assert_eq(stat(redo, &after), 0);
	cr_assert_eq(after.st_size, before.st_size);
	cr_assert_eq(rows(fx.path, NAMED("map.xml")), 0, "run beside it");
}
