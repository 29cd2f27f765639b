// SPDX-License-Identifier: MIT
/*
 * txn.c - transactions and group commit.
 *
 * Each call is one savepoint inside a transaction that may be longer than
 * the call: a "lazy" call (creating a file, setting attributes: what tar
 * and cp do between create and close) leaves the transaction open, and
 * the next eager call (close, rename, unlink, a package, ...) or the
 * background tick DFS_LAZY_MS later commits it.  So an untar costs one
 * commit per file, not five; a call that failed rolls back to its own
 * savepoint only.  What a kill -9 can lose is a lazy call younger than
 * DFS_LAZY_MS whose file was not closed since.  All with st->lock held.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "storage.h"

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
	if (lazy) /* the background tick commits it if nobody else does */
		pthread_cond_signal(&st->wake);
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

/* Commit the open transaction, if any. */
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
		pthread_cond_signal(&st->wake);
	return SQLITE_OK;
}

void dfs_db_watch_wal(struct dfs_store *st)
{
	sqlite3_wal_hook(st->db, wal_hook, st);
}

/*
 * The background tick: commit lazy work older than DFS_LAZY_MS, and
 * checkpoint a large WAL here rather than in whichever call's commit
 * crossed the threshold (a package or a close would wait for it); run
 * the upper layers' later work when it is due.
 */
void dfs_db_tick_locked(struct dfs_store *st)
{
	if (st->later && st->later_due && dfs_now_ns() >= st->later_due) {
		st->later_due = 0;
		st->later(st);
	}
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

int dfs_finish(struct dfs_store *st, int rc)
{
	if (rc == 0)
		rc = dfs_db_commit(st, false);
	else
		dfs_db_rollback(st);
	return rc;
}
