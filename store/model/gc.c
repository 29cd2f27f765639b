// SPDX-License-Identifier: MIT
/*
 * gc.c - reclaiming the space of removed packages.  A package removed
 * (deployctl package remove) longer ago than the grace period, deployed
 * nowhere and with no copy of it in flight loses its snapshot (its snode
 * rows: a package's snodes are the ids from its root up to the next
 * package's root), so it can no longer be restored and its version may
 * be made again; then every blob nothing names any more is deleted (rows
 * first, committed, then files: storage's dfs_blob_reclaim_locked).  One
 * durable transaction per package, one audit line for the run.  Safe
 * while mounted: st->lock is held throughout, a reader's open file keeps
 * its blob file (POSIX unlink), and copies in flight are skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

static const char sql_due[] =
	"SELECT p.id, p.root, c.name, p.version FROM packages p"
	" JOIN components c ON c.id = p.component"
	" WHERE p.removed <> 0 AND p.removed <= ?1"
	" AND EXISTS (SELECT 1 FROM snodes s WHERE s.id = p.root)"
	" AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.package = p.id"
	"  AND d.active = 1)"
	" AND NOT EXISTS (SELECT 1 FROM staging g WHERE g.package = p.id)"
	" ORDER BY p.id LIMIT 1";
static const char sql_next_root[] =
	"SELECT min(root) FROM packages WHERE root > ?1";
static const char sql_drop_snodes[] =
	"DELETE FROM snodes WHERE id >= ?1 AND id < ?2";
static const char sql_left[] = "SELECT count(*) FROM blobs WHERE refs = 0";
static const char sql_unreferenced[] =
	"SELECT count(*), coalesce(sum(size), 0) FROM blobs WHERE refs = 0";

/* Reclaim one due package; 1 if one was, 0 if none is due. */
static int reclaim_one(struct dfs_store *st, int64_t before,
		       struct dfs_gc_result *ret)
{
	sqlite3_stmt *s = NULL;
	int64_t id, root, next = INT64_MAX;
	int rc = dfs_query_sql(st, sql_due, &s, "i", before);

	if (rc <= 0)
		return rc;
	id = sqlite3_column_int64(s, 0);
	root = sqlite3_column_int64(s, 1);
	dfs_log(DFS_LOG_INFO, "gc: reclaiming %s@%s (package %lld)",
		(const char *)sqlite3_column_text(s, 2),
		(const char *)sqlite3_column_text(s, 3), (long long)id);
	sqlite3_reset(s);
	if (dfs_query_int(st, sql_next_root, &next, "i", root) < 0)
		next = INT64_MAX;
	rc = dfs_db_begin_whole(st);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_drop_snodes, "ii", root, next);
	if (rc == 0)
		ret->entries += dfs_changes(st);
	rc = dfs_finish(st, rc);
	if (rc == 0)
		ret->packages++;
	return rc < 0 ? rc : 1;
}

int dfs_gc(struct dfs_store *st, const struct dfs_actor *actor,
	   int64_t grace_ns, struct dfs_gc_result *ret)
{
	struct dfs_audit_event ev = { 0 };
	char reason[160];
	sqlite3_stmt *s = NULL;
	int rc;

	memset(ret, 0, sizeof(*ret));
	do
		rc = reclaim_one(st, dfs_now_ns() - grace_ns, ret);
	while (rc > 0);
	/* Blobs nothing names: counted, then reclaimed 256 at a time. */
	if (rc == 0 && dfs_query_sql(st, sql_unreferenced, &s, "") > 0) {
		ret->blobs = sqlite3_column_int64(s, 0);
		ret->bytes = sqlite3_column_int64(s, 1);
		sqlite3_reset(s);
	}
	for (int64_t left = ret->blobs, was = -1;
	     rc == 0 && left > 0 && left != was;) {
		was = left;
		dfs_blob_reclaim_locked(st);
		if (dfs_query_int(st, sql_left, &left, "") < 0)
			break;
	}
	snprintf(reason, sizeof(reason),
		 "reclaimed %lld packages (%lld entries) and %lld blobs "
		 "(%lld bytes)",
		 (long long)ret->packages, (long long)ret->entries,
		 (long long)ret->blobs, (long long)ret->bytes);
	ev.action = "gc";
	ev.result = rc < 0 ? "refused" : "ok";
	ev.reason = reason;
	if (dfs_audit_commit(st, actor, &ev) < 0 && rc == 0)
		rc = -EIO;
	return rc;
}
