// SPDX-License-Identifier: MIT
/*
 * ckpt.c - checkpoints: the database file must never be far behind its
 * WAL (a copy of the store without its -wal file, or a lost -wal, loses
 * only that).  SQLite tells us the size of the WAL after each commit; the
 * background tick copies the WAL into the file (PASSIVE: writers go on)
 * once the oldest commit it lacks is DFS_CHECKPOINT_MS old or
 * DFS_CHECKPOINT_PAGES pages wait.  A reader in another process that
 * holds an older snapshot keeps a checkpoint from copying past it: the
 * tick tries again every DFS_CHECKPOINT_RETRY_MS, and logs once when the
 * file is further behind than the bound, and once when it has caught up.
 *
 * The daemon copies the bulk through a connection of its own
 * (st->ckpt_db), without st->lock.  A checkpoint reads and writes a
 * thousand pages and syncs the file (7 to 19 ms each here), and while the
 * tick copied through st->db under the lock every call waited: in an
 * untar of 10,000 files into a new store, calls waited 250 ms of its
 * 3.9 s for 15 checkpoints.  SQLite lets one connection checkpoint while
 * another writes: a PASSIVE checkpoint copies only frames no reader still
 * needs and takes no lock a writer waits for.
 *
 * But the WAL starts over from its head only at a write whose transaction
 * began after everything was copied, and calls that went on meanwhile
 * began theirs before.  So a copy without the lock is followed by a short
 * one with it, as soon as no transaction is open: the pages committed
 * meanwhile (a group commit's worth), after which the next write starts
 * the WAL over.  Without the second copy the WAL grew by every page
 * written (292 MB for an untar of 30,000 files).  Without st->ckpt_db (it
 * could not be opened) the tick copies through st->db, calls waiting, as
 * before.
 */
#include <errno.h>
#include <stdio.h>

#include "storage.h"

/* The WAL size that calls for a checkpoint: early once the reserve is
 * spent, so that the WAL starts over rather than grows. */
static int checkpoint_pages(const struct dfs_store *st)
{
	return st->reserve_fd >= 0 && st->reserve_spent
		       ? (int)(st->reserve / 4 / 4096)
		       : DFS_CHECKPOINT_PAGES;
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct dfs_store *st = arg;

	(void)db;
	(void)name;
	/* Fewer frames than before: the WAL started again from its head. */
	st->ckpt_behind +=
		frames > st->wal_frames ? frames - st->wal_frames : frames;
	st->wal_frames = frames;
	if (!st->ckpt_since) {
		st->ckpt_since = dfs_now_ns();
		pthread_cond_signal(&st->wake); /* the tick has a deadline */
	} else if (st->ckpt_behind >= checkpoint_pages(st)) {
		pthread_cond_signal(&st->wake);
	}
	return SQLITE_OK;
}

void dfs_db_watch_wal(struct dfs_store *st)
{
	sqlite3_wal_hook(st->db, wal_hook, st);
}

int64_t dfs_db_tick_due(const struct dfs_store *st)
{
	int64_t due;

	if (st->ckpt_catchup)
		return 1; /* at once, once no transaction is open */
	if (!st->ckpt_since)
		return 0;
	due = st->ckpt_since;
	if (st->ckpt_behind < checkpoint_pages(st))
		due += DFS_CHECKPOINT_MS * 1000000LL;
	return due > st->ckpt_retry ? due : st->ckpt_retry;
}

void dfs_ckpt_open(struct dfs_store *st, const char *dbpath)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(dbpath, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			     dfs_walvfs());
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 10000);
		/* Closing it never copies the WAL nor removes it: that is
		 * st->db's to do, the last to close. */
		rc = sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
				       NULL);
	}
	/* The same syncs as st->db's checkpoints; a read opens the WAL. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db,
				  "PRAGMA synchronous = NORMAL;"
				  "PRAGMA cache_size = 16;"
				  "PRAGMA wal_autocheckpoint = 0;"
				  "SELECT count(*) FROM sqlite_schema;",
				  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		dfs_log(DFS_LOG_WARN,
			"checkpoint: cannot open a connection of its own to "
			"\"%s\" (%s): checkpoints keep the store's calls "
			"waiting while they copy",
			dbpath, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return;
	}
	st->ckpt_db = db;
}

void dfs_ckpt_close(struct dfs_store *st)
{
	if (st->ckpt_db)
		sqlite3_close(st->ckpt_db);
	st->ckpt_db = NULL;
}

static const char *blocked_why(int rc)
{
	switch (rc) {
	case SQLITE_OK:
		return "a reader holds an older snapshot (another process "
		       "with a transaction open on the database?)";
	case SQLITE_BUSY:
		return "another connection is checkpointing it";
	case SQLITE_LOCKED:
		return "a statement of the daemon is still reading";
	default:
		return sqlite3_errstr(rc);
	}
}

/* Everything the WAL held is in the database file. */
static void caught_up(struct dfs_store *st, int64_t lag_ms)
{
	if (st->ckpt_warned)
		dfs_log(DFS_LOG_INFO,
			"checkpoint: \"%s/%s\" has caught up with its WAL "
			"after %lld ms",
			st->path, DFS_DB_NAME, (long long)lag_ms);
	st->ckpt_behind = 0;
	st->ckpt_since = 0;
	st->ckpt_retry = 0;
	st->ckpt_warned = false;
}

/* A copy that could not copy everything (rc, or a reader held it back):
 * try again later, and say so once past the bound. */
static void held_back(struct dfs_store *st, int rc, int64_t now, int64_t lag_ms)
{
	st->ckpt_retry = now + DFS_CHECKPOINT_RETRY_MS * 1000000LL;
	if (st->ckpt_warned || lag_ms < DFS_CHECKPOINT_MS)
		return;
	st->ckpt_warned = true;
	dfs_log(DFS_LOG_WARN,
		"checkpoint: \"%s/%s\" lacks %lld ms and %d pages of commits "
		"that only its WAL holds, past the bound of %d ms or %d "
		"pages: %s; trying again every %d ms",
		st->path, DFS_DB_NAME, (long long)lag_ms, st->ckpt_behind,
		DFS_CHECKPOINT_MS, DFS_CHECKPOINT_PAGES, blocked_why(rc),
		DFS_CHECKPOINT_RETRY_MS);
}

/* st->lock held, no transaction open; the tick calls it when due.  True
 * when it let go of st->lock meanwhile. */
bool dfs_ckpt_run(struct dfs_store *st)
{
	int64_t now = dfs_now_ns(), lag_ms = 0;
	int before = st->ckpt_behind, frames = 0, copied = 0, since, rc;
	bool let_go = false;

	if (st->ckpt_since) /* none after a copy with nothing new */
		lag_ms = (now - st->ckpt_since) / 1000000;

	if (st->ckpt_db && !st->ckpt_catchup) {
		pthread_mutex_unlock(&st->lock);
		rc = sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL,
					       SQLITE_CHECKPOINT_PASSIVE,
					       &frames, &copied);
		pthread_mutex_lock(&st->lock);
		since = st->ckpt_behind - before; /* committed meanwhile */
		if (rc == SQLITE_OK && copied >= frames && !since &&
		    !st->txn_open) {
			caught_up(st, lag_ms);
			return true;
		}
		if (rc != SQLITE_OK || copied < frames) {
			if (rc == SQLITE_OK)
				st->ckpt_behind = frames - copied + since;
			held_back(st, rc, now, lag_ms);
			return true;
		}
		/* The rest with the lock, once no transaction is open. */
		st->ckpt_behind = since;
		st->ckpt_since = since ? now : 0;
		st->ckpt_catchup = true;
		if (st->txn_open)
			return true;
		dfs_db_read_end(st); /* begun meanwhile: it would hold it */
		let_go = true;
	}
	st->ckpt_catchup = false;
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
				       &frames, &copied);
	if (rc == SQLITE_OK && copied >= frames) {
		caught_up(st, lag_ms);
		return let_go;
	}
	if (rc == SQLITE_OK)
		st->ckpt_behind = frames - copied;
	held_back(st, rc, now, lag_ms);
	return let_go;
}
