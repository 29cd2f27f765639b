// SPDX-License-Identifier: MIT
/*
 * test_reads.c - the daemon's read transactions (store/storage/txn.c,
 * dfs_db_read()): with its background tick running, the store reads in
 * one transaction until a write, a flush or the tick ends it.  What that
 * must never cost: a write answered after reads is committed for every
 * other reader at once, and the WAL is not held past the tick (another
 * process can still checkpoint it, as `deployctl fsck` and backups do).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deployfs/store.h"
#include "fixture.h"

static struct dfs_fixture fx;

static void setup(void)
{
	dfs_fixture_setup(&fx, "reads", DFS_OPEN_DAEMON); /* with its tick */
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(reads, .init = setup, .fini = teardown, .timeout = 60);

/* Reads through the store API: they open the read transaction. */
static void some_reads(void)
{
	struct dfs_attr a;

	for (int i = 0; i < 3; i++) {
		cr_assert_eq(
			dfs_node_lookup(fx.st, DFS_INO_BUILD, "process", &a),
			0);
		cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_ENVIRONMENTS,
					     "nowhere", &a),
			     -ENOENT);
	}
}

static sqlite3 *other_connection(void)
{
	sqlite3 *db = NULL;

	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READWRITE, NULL),
		     SQLITE_OK, "open %s", fx.db);
	return db;
}

static int count_envs(sqlite3 *db, const char *name)
{
	sqlite3_stmt *s = NULL;
	int n = -1;

	cr_assert_eq(sqlite3_prepare_v2(
			     db,
			     "SELECT count(*) FROM envs "
			     "WHERE removed = 0 AND CAST(name AS TEXT) = ?",
			     -1, &s, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return n;
}

Test(reads, a_call_answered_after_reads_is_committed_for_other_readers)
{
	struct dfs_attr env;
	sqlite3 *db;

	FIXTURE_OK();
	some_reads();
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS,
				    "staging", 0755, &env),
		     0);
	db = other_connection();
	cr_assert_eq(count_envs(db, "staging"), 1,
		     "another connection does not see the environment made "
		     "after reads: the write waits in a transaction");
	some_reads();
	cr_assert_eq(
		dfs_node_rmdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "staging"),
		0);
	cr_assert_eq(count_envs(db, "staging"), 0);
	sqlite3_close(db);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* PRAGMA wal_checkpoint(TRUNCATE) from db: 0 when it could (no reader
 * was in the WAL), 1 when a reader held it back. */
static int truncate_busy(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	int busy = -1;

	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)",
					-1, &s, NULL),
		     SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		busy = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	cr_assert(busy == 0 || busy == 1, "wal_checkpoint gave %d", busy);
	return busy;
}

Test(reads, reads_do_not_hold_the_wal_past_the_tick)
{
	struct dfs_attr env;
	double deadline;
	sqlite3 *db;
	int busy;

	FIXTURE_OK();
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "prod",
				    0755, &env),
		     0);
	some_reads();
	db = other_connection();
	/* The tick ends the read transaction within DFS_LAZY_MS (20 ms);
	 * 10 s is for a loaded machine.  Polled: there is no event for it. */
	deadline = now_s() + 10.0;
	while ((busy = truncate_busy(db)) == 1 && now_s() < deadline)
		usleep(5000);
	cr_assert_eq(busy, 0,
		     "after 10 s the daemon's reads still hold the WAL: "
		     "no other process could checkpoint it");
	cr_assert_eq(count_envs(db, "prod"), 1);
	sqlite3_close(db);
	/* The store goes on reading and writing after it. */
	some_reads();
	cr_assert_eq(
		dfs_node_rmdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "prod"), 0);
}
