// SPDX-License-Identifier: MIT
/*
 * gc.c - reclaiming the space of removed packages.  A package removed
 * (deployctl package remove, or prune) longer ago than the grace period,
 * deployed nowhere and with no copy of it in flight loses its snapshot
 * (the rows of its line no other package of the line sees, snode.c),
 * so it can no longer be restored and its version
 * may be made again; then every blob nothing names any more is deleted
 * (rows first, committed, then files: storage's dfs_blob_reclaim_locked,
 * 256 at a time).  One durable transaction per package.  Safe while
 * mounted: st->lock is held throughout a call, a reader's open file keeps
 * its blob file (POSIX unlink), and copies in flight are skipped.
 *
 * A run is one call (dfs_gc) or several steps (dfs_gc_step), each
 * reclaiming at most so many packages, then, once no package is due, at
 * most so many batches of blobs, and saying what is still due: deployctl
 * draws its progress bar from that, and the lock is let go between steps.
 * Each call that may reclaim records one audit line with what it freed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

#define DUE_WHERE                                                         \
	" WHERE p.removed <> 0 AND p.removed <= ?1"                       \
	" AND p.line IS NOT NULL"                                         \
	" AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.package = " \
	"  p.id AND d.active = 1)"                                        \
	" AND NOT EXISTS (SELECT 1 FROM staging g WHERE g.package = p.id)"

static const char sql_due[] =
	"SELECT p.id, p.line, c.name, p.version, p.seq FROM packages p"
	" JOIN components c ON c.id = p.component" DUE_WHERE
	" ORDER BY p.id LIMIT 1";
static const char sql_due_count[] = "SELECT count(*) FROM packages p" DUE_WHERE;
/* The rows of version ?2 of line ?1 no other version with a snapshot
 * sees (snode.c: a row is valid from vfrom up to vto). */
static const char sql_drop_snodes[] =
	"DELETE FROM snodes WHERE line = ?1 AND vfrom <= ?2"
	" AND (vto IS NULL OR vto > ?2) AND NOT EXISTS (SELECT 1"
	" FROM packages p WHERE p.line = ?1 AND p.seq <> ?2"
	" AND p.seq >= snodes.vfrom"
	" AND (snodes.vto IS NULL OR p.seq < snodes.vto))";
static const char sql_drop_line[] =
	"UPDATE packages SET line = NULL WHERE id = ?1";
static const char sql_unreferenced[] =
	"SELECT count(*), coalesce(sum(size), 0) FROM blobs WHERE refs = 0";

/* Reclaim one due package; 1 if one was, 0 if none is due. */
static int reclaim_one(struct dfs_store *st, int64_t before,
		       struct dfs_gc_result *ret)
{
	sqlite3_stmt *s = NULL;
	int64_t id, line, seq;
	int rc = dfs_query_sql(st, sql_due, &s, "i", before);

	if (rc <= 0)
		return rc;
	id = sqlite3_column_int64(s, 0);
	line = sqlite3_column_int64(s, 1);
	seq = sqlite3_column_int64(s, 4);
	dfs_log(DFS_LOG_INFO, "gc: reclaiming %s@%s (package %lld)",
		(const char *)sqlite3_column_text(s, 2),
		(const char *)sqlite3_column_text(s, 3), (long long)id);
	sqlite3_reset(s);
	rc = dfs_db_begin_whole(st);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_drop_snodes, "ii", line, seq);
	if (rc == 0)
		ret->entries += dfs_changes(st);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_drop_line, "i", id);
	rc = dfs_finish(st, rc);
	if (rc == 0)
		ret->packages++;
	return rc < 0 ? rc : 1;
}

/* How many blobs nothing names, and their bytes. */
static int unreferenced(struct dfs_store *st, int64_t *ret_n, int64_t *ret_b)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_unreferenced, &s, "");

	if (rc <= 0)
		return rc == 0 ? -EIO : rc;
	*ret_n = sqlite3_column_int64(s, 0);
	*ret_b = sqlite3_column_int64(s, 1);
	return dfs_stmt_done(s, SQLITE_ROW);
}

/* Up to max batches (< 0: all) of unreferenced blobs. */
static int reclaim_blobs(struct dfs_store *st, int64_t max,
			 struct dfs_gc_result *ret, struct dfs_gc_due *due)
{
	int64_t n = 0, bytes = 0, was = -1;
	int rc = unreferenced(st, &n, &bytes);
	const int64_t n0 = n, bytes0 = bytes;

	for (int64_t i = 0; rc == 0 && n > 0 && n != was && i != max; i++) {
		was = n;
		dfs_blob_reclaim_locked(st);
		rc = unreferenced(st, &n, &bytes);
	}
	if (rc < 0)
		return rc;
	ret->blobs += n0 - n;
	ret->bytes += bytes0 - bytes;
	due->blobs = n == was ? 0 : n; /* stuck: nothing more to do now */
	due->bytes = n == was ? 0 : bytes;
	return 0;
}

static void record(struct dfs_store *st, const struct dfs_actor *actor,
		   const struct dfs_gc_result *r, const struct dfs_gc_due *due,
		   bool step, int *rc)
{
	struct dfs_audit_event ev = { 0 };
	char reason[256];

	snprintf(reason, sizeof(reason),
		 "reclaimed %lld packages (%lld entries) and %lld blobs "
		 "(%lld bytes)%s",
		 (long long)r->packages, (long long)r->entries,
		 (long long)r->blobs, (long long)r->bytes,
		 step && (due->packages || due->blobs) ? "; more is due" : "");
	ev.action = "gc";
	ev.result = *rc < 0 ? "refused" : "ok";
	ev.reason = reason;
	if (dfs_audit_commit(st, actor, &ev) < 0 && *rc == 0)
		*rc = -EIO;
}

int dfs_gc_step(struct dfs_store *st, const struct dfs_actor *actor,
		int64_t grace_ns, int64_t max_packages, int64_t max_batches,
		struct dfs_gc_result *ret, struct dfs_gc_due *ret_due)
{
	const int64_t before = dfs_now_ns() - grace_ns;
	const bool survey = max_packages == 0 && max_batches == 0;
	struct dfs_gc_due due = { 0 };
	int rc = 0;

	memset(ret, 0, sizeof(*ret));
	for (int64_t i = 0; i != max_packages; i++) {
		rc = reclaim_one(st, before, ret);
		if (rc <= 0)
			break;
	}
	if (rc >= 0)
		rc = dfs_query_int(st, sql_due_count, &due.packages, "i",
				   before);
	if (rc >= 0 && due.packages == 0)
		rc = reclaim_blobs(st, max_batches, ret, &due);
	else if (rc >= 0)
		rc = unreferenced(st, &due.blobs, &due.bytes);
	rc = rc < 0 ? rc : 0;
	if (!survey)
		record(st, actor, ret, &due, max_packages >= 0, &rc);
	if (ret_due)
		*ret_due = due;
	return rc;
}

int dfs_gc(struct dfs_store *st, const struct dfs_actor *actor,
	   int64_t grace_ns, struct dfs_gc_result *ret)
{
	return dfs_gc_step(st, actor, grace_ns, -1, -1, ret, NULL);
}
