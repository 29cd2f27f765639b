// SPDX-License-Identifier: MIT
/*
 * txn.c - transactions and group commit.
 *
 * Each call is one savepoint inside a transaction that may be longer than
 * the call: a "lazy" call (creating a file, setting attributes: what tar
 * and cp do between create and close) leaves the transaction open, and
 * the next eager call (rename, unlink, a package, ...) or the background
 * tick DFS_LAZY_MS later commits it.  A close leaves it open too: it
 * appends the transaction's statements to the close log (redo.c), which a
 * kill -9 does not undo, and the tick commits them with the next files'.
 * So an untar commits once per DFS_LAZY_MS, not once per file; a call
 * that failed rolls back to its own savepoint only.  What a kill -9 can
 * lose is a lazy call younger than DFS_LAZY_MS whose file was not closed
 * since.  All with st->lock held.
 *
 * A commit can fail (a full disk) after its lazy calls were answered.
 * When a close put them in the close log, the transaction is run again
 * from the log and the next tick retries.  Otherwise (the log could not
 * be written) their loss reaches their callers: the inodes they changed are
 * remembered, and the next flush (close) or fsync of each fails with the
 * commit's error.  So the trees make a call lazy only on a file open for
 * writing, whose close is still to come; chmod of a path is eager.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage.h"

/* ---- inodes whose lazy calls wait, or were undone ------------------------ */

static int list_find(const struct dfs_ino_list *l, uint64_t ino)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->ino[i] == ino)
			return (int)i;
	return -1;
}

static void list_add(struct dfs_ino_list *l, uint64_t ino, int err)
{
	int i = list_find(l, ino);

	if (i >= 0) {
		l->err[i] = err;
		return;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		uint64_t *inos = realloc(l->ino, cap * sizeof(*inos));
		int *errs;

		if (!inos)
			return;
		l->ino = inos;
		errs = realloc(l->err, cap * sizeof(*errs));
		if (!errs)
			return;
		l->err = errs;
		l->cap = cap;
	}
	l->ino[l->n] = ino;
	l->err[l->n++] = err;
}

static void list_del(struct dfs_ino_list *l, int i)
{
	l->n--;
	l->ino[i] = l->ino[l->n];
	l->err[i] = l->err[l->n];
}

/* The open transaction ended: kept (err 0) or undone (err < 0). */
static void pending_end(struct dfs_store *st, int err)
{
	if (err < 0) {
		for (size_t i = 0; i < st->pending.n; i++)
			list_add(&st->lost, st->pending.ino[i], err);
		if (st->pending.n)
			dfs_log(DFS_LOG_ERR,
				"a commit failed (%s): the last changes "
				"of %zu files are undone; their next "
				"close or fsync reports it",
				strerror(-err), st->pending.n);
	}
	st->pending.n = 0;
}

void dfs_db_lists_free(struct dfs_store *st)
{
	free(st->pending.ino);
	free(st->pending.err);
	free(st->lost.ino);
	free(st->lost.err);
}

void dfs_db_lazy_ino(struct dfs_store *st, uint64_t ino)
{
	st->op_ino = ino;
}

int dfs_db_settle(struct dfs_store *st, uint64_t ino)
{
	int i, rc = 0;

	i = list_find(&st->pending, ino);
	/* In the close log, its calls are kept even if the commit fails. */
	if (i >= 0 && !st->txn_whole) {
		if (dfs_redo_write(st) == 0)
			list_del(&st->pending, i);
		else
			(void)dfs_db_flush(st);
	}
	i = list_find(&st->lost, ino);
	if (i >= 0) {
		rc = st->lost.err[i];
		list_del(&st->lost, i);
	}
	return rc;
}

/* ---- transactions ------------------------------------------------------- */

static int begin(struct dfs_store *st, bool lazy)
{
	int rc = 0;

	if (!st->txn_open) {
		dfs_reserve_check(st);
		rc = dfs_db_control(st, "BEGIN IMMEDIATE");
		if (rc < 0)
			return rc;
		st->txn_open = true;
		st->txn_ticked = false;
		st->txn_since = dfs_now_ns();
	}
	rc = dfs_db_control(st, "SAVEPOINT op");
	if (rc == 0)
		dfs_redo_op_begin(st);
	st->op_lazy = lazy;
	/* The background tick commits it if nobody else does; once told,
	 * it watches the transaction until it ends (one wake-up per
	 * transaction, not per call: each costs the lock a switch). */
	if (lazy && !st->txn_ticked) {
		st->txn_ticked = true;
		dfs_wake(st);
	}
	return rc;
}

int dfs_db_begin(struct dfs_store *st)
{
	return begin(st, false);
}

int dfs_db_begin_lazy(struct dfs_store *st, uint64_t ino)
{
	st->op_ino = ino;
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

	dfs_reserve_check(st);
	if (rc == 0)
		rc = dfs_db_control(st, "BEGIN IMMEDIATE");
	if (rc < 0)
		return rc;
	st->txn_open = true;
	st->txn_whole = true;
	st->txn_ticked = false;
	st->op_lazy = false;
	st->txn_since = dfs_now_ns();
	return 0;
}

/* Commit the open transaction, if any. */
int dfs_db_flush(struct dfs_store *st)
{
	int rc;

	if (!st->txn_open) {
		dfs_db_read_end(st);
		return 0;
	}
	rc = dfs_redo_seal(st);
	st->txn_open = false;
	if (rc == 0)
		rc = dfs_db_control(st, "COMMIT");
	if (rc < 0) {
		(void)dfs_db_control(st, "ROLLBACK");
		/* Closes answered on the log's word are run again and wait
		 * for the next commit (the reserve makes room meanwhile);
		 * what came after the last of them is undone, reported to
		 * the caller and (lazy calls) at each file's next close. */
		if (dfs_redo_rerun(st) == 0) {
			if (!st->redo.retrying)
				dfs_log(DFS_LOG_WARN,
					"a commit failed (%s); the calls the "
					"close log holds wait for the next "
					"one",
					strerror(-rc));
			st->redo.retrying = true;
			st->txn_open = true;
			st->txn_since = dfs_now_ns();
			pending_end(st, rc);
			return rc;
		}
	}
	dfs_redo_end(st, rc == 0);
	pending_end(st, rc);
	return rc;
}

/*
 * The background tick: commit lazy work older than DFS_LAZY_MS, and
 * checkpoint here rather than in whichever call's commit crossed the
 * bound (a package or a close would wait for it); run the upper layers'
 * later work when it is due.
 */
bool dfs_db_tick_locked(struct dfs_store *st)
{
	int64_t due;

	if (st->later && st->later_due && dfs_now_ns() >= st->later_due) {
		st->later_due = 0;
		st->later(st);
	}
	if (st->txn_open &&
	    dfs_now_ns() - st->txn_since >= DFS_LAZY_MS * 1000000LL)
		(void)dfs_db_flush(st);
	if (st->read_open &&
	    dfs_now_ns() - st->read_since >= DFS_LAZY_MS * 1000000LL)
		dfs_db_read_end(st);
	dfs_reserve_tick(st);
	due = dfs_db_tick_due(st);
	if (!st->txn_open && due && dfs_now_ns() >= due) {
		dfs_db_read_end(st); /* it would hold the checkpoint back */
		return dfs_ckpt_run(st);
	}
	return false;
}

/* The WAL on disk: what it holds survives a power cut.  fdatasync, as
 * SQLite's own syncs: the data and the length, not the file's times. */
static int sync_wal(struct dfs_store *st)
{
	if (st->wal_fd < 0)
		st->wal_fd = openat(st->dirfd, DFS_DB_NAME "-wal",
				    O_RDONLY | O_CLOEXEC);
	if (st->wal_fd < 0)
		return -errno;
	return dfs_io_fdatasync(st->wal_fd);
}

/*
 * durable: the commit reaches the disk before this returns (a power cut
 * cannot undo it).  The connection runs with synchronous=NORMAL, which
 * syncs the WAL only at checkpoints; a durable commit syncs it here.
 */
int dfs_db_commit(struct dfs_store *st, bool durable)
{
	int rc = st->txn_whole ? 0 : dfs_db_control(st, "RELEASE op");

	if (rc == 0 && !st->txn_whole)
		dfs_redo_op_end(st, false);
	st->txn_whole = false;
	if (rc < 0) {
		dfs_db_rollback(st);
		return rc;
	}
	if (st->op_lazy && !durable) {
		if (st->op_ino) /* answered: its fate is reported later */
			list_add(&st->pending, st->op_ino, 0);
		return 0;
	}
	rc = dfs_db_flush(st);
	if (rc < 0 || !durable)
		return rc;
	return sync_wal(st);
}

/*
 * A close: its call kept from a kill -9 by the close log (redo.c), and
 * committed with the group commit; or committed now when the log cannot
 * take it.
 */
int dfs_db_commit_logged(struct dfs_store *st)
{
	int rc = dfs_db_control(st, "RELEASE op");

	if (rc < 0) {
		dfs_db_rollback(st);
		return rc;
	}
	dfs_redo_op_end(st, false);
	if (dfs_redo_write(st) < 0)
		return dfs_db_flush(st);
	if (!st->txn_ticked) { /* the tick commits it */
		st->txn_ticked = true;
		dfs_wake(st);
	}
	return 0;
}

/*
 * fsync of a folder (or deployctl before it reads the store): every call
 * answered so far committed, and on disk.  A commit that fails reaches
 * this caller too (and each file it undid, at its next close or fsync).
 */
int dfs_store_commit_durable(struct dfs_store *st)
{
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = st->txn_whole ? 0 : dfs_db_flush(st);
	if (rc == 0 && st->wal_frames > 0)
		rc = sync_wal(st);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

void dfs_db_rollback(struct dfs_store *st)
{
	if (!st->txn_open)
		return;
	if (!st->txn_whole && dfs_db_control(st, "ROLLBACK TO op") == 0 &&
	    dfs_db_control(st, "RELEASE op") == 0) {
		dfs_redo_op_end(st, true);
		return;
	}
	st->txn_whole = false;
	(void)dfs_db_control(st, "ROLLBACK");
	st->txn_open = false;
	dfs_redo_end(st, false);
	pending_end(st, -EIO);
}

int dfs_finish(struct dfs_store *st, int rc)
{
	if (rc == 0)
		rc = dfs_db_commit(st, false);
	else
		dfs_db_rollback(st);
	return rc;
}
