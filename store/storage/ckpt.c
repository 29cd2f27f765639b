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

	if (!st->ckpt_since)
		return 0;
	due = st->ckpt_since;
	if (st->ckpt_behind < checkpoint_pages(st))
		due += DFS_CHECKPOINT_MS * 1000000LL;
	return due > st->ckpt_retry ? due : st->ckpt_retry;
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

/* st->lock held, no transaction open; the tick calls it when due. */
void dfs_ckpt_run(struct dfs_store *st)
{
	int64_t now = dfs_now_ns(), lag_ms = (now - st->ckpt_since) / 1000000;
	int frames = 0, copied = 0, rc;

	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
				       &frames, &copied);
	if (rc == SQLITE_OK && copied >= frames) {
		if (st->ckpt_warned)
			dfs_log(DFS_LOG_INFO,
				"checkpoint: \"%s/%s\" has caught up with its "
				"WAL after %lld ms",
				st->path, DFS_DB_NAME, (long long)lag_ms);
		st->wal_frames = frames;
		st->ckpt_behind = 0;
		st->ckpt_since = 0;
		st->ckpt_retry = 0;
		st->ckpt_warned = false;
		return;
	}
	if (rc == SQLITE_OK)
		st->ckpt_behind = frames - copied;
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
