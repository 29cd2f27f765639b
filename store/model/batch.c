// SPDX-License-Identifier: MIT
/*
 * batch.c - a bulk deploy: many packages deployed in one environment in
 * one durable transaction, all or none.  Each package ends the active
 * deployment of its component (if any) and gets its own deployment and
 * audit line; the lines share a batch id, the seq of the batch's first
 * line ("batch 1234, 2 of 3" in their reason), and the batch's notes.
 * Requirements are judged once every package of the batch is in, so what
 * the batch brings itself is met.  No column of the schema is added: the
 * batch id lives in the audit rows' reason.  st->lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

/* The seq the next audit row gets (AUTOINCREMENT: one past the last ever
 * given, inside this write transaction). */
static const char sql_next_seq[] =
	"SELECT coalesce((SELECT seq FROM sqlite_sequence"
	" WHERE name = 'audit'), 0) + 1";
static const char sql_notes[] =
	"UPDATE deployments SET notes = ?2 WHERE id = ?1 AND notes IS NULL";
static const char sql_warning[] =
	"UPDATE deployments SET warning = ?2 WHERE id = ?1";

/* End what v's component had in e and record v's deployment. */
static int batch_rows(struct dfs_store *st, const struct dfs_actor *actor,
		      const struct dfs_env *e, struct dfs_batch_item *v,
		      const char *notes, int64_t now)
{
	struct dfs_dep d;
	int64_t number = 0;
	int rc;

	v->has_old = dfs_dep_of_comp(st, e->id, v->pkg.comp, &v->old) == 0;
	v->unchanged = v->has_old && v->old.package == v->pkg.id;
	if (v->unchanged)
		return 0;
	rc = v->has_old ? dfs_dep_end(st, &v->old, now) : 0;
	if (rc == 0)
		rc = dfs_dep_insert(st, actor, e, &v->pkg, "batch", "",
				    &number);
	if (rc == 0 && notes)
		rc = dfs_dep_of_comp(st, e->id, v->pkg.comp, &d);
	if (rc == 0 && notes)
		rc = dfs_exec_sql(st, sql_notes, "is", d.id, notes);
	return rc;
}

/* v's audit line, its warning (if any) stored with its deployment. */
static int batch_line(struct dfs_store *st, const struct dfs_actor *actor,
		      const struct dfs_env *e, const struct dfs_batch_item *v,
		      const char *notes, int64_t batch, size_t i, size_t n)
{
	struct dfs_audit_event ev = { 0 };
	char warning[512] = "", reason[DFS_BATCH_NOTES_MAX + 700];
	struct dfs_dep d = { 0 };
	int rc = 0;

	if (!v->unchanged) {
		rc = dfs_dep_of_comp(st, e->id, v->pkg.comp, &d);
		if (rc == 0)
			rc = dfs_dep_unmet(st, e, &v->pkg, warning,
					   sizeof(warning));
		if (rc == 0 && warning[0])
			rc = dfs_exec_sql(st, sql_warning, "is", d.id, warning);
	}
	snprintf(reason, sizeof(reason), "batch %lld, %zu of %zu%s%s%s%s%s",
		 (long long)batch, i + 1, n,
		 v->forced ? "; forced past its bad mark" : "",
		 warning[0] ? "; warning: " : "", warning,
		 notes ? "; notes: " : "", notes ? notes : "");
	ev.env = e->name;
	ev.component = v->pkg.component;
	ev.version = v->pkg.version;
	ev.from = v->has_old ? v->old.version : NULL;
	ev.action =
		v->has_old && !v->unchanged &&
				strverscmp(v->pkg.version, v->old.version) < 0
			? "rollback"
			: "deploy";
	ev.deployment = v->unchanged ? v->old.number : d.number;
	ev.result = v->unchanged ? "unchanged" : "ok";
	ev.reason = reason;
	return rc == 0 ? dfs_audit_record_in(st, actor, &ev) : rc;
}

int dfs_deploy_batch(struct dfs_store *st, const struct dfs_actor *actor,
		     const struct dfs_env *e, struct dfs_batch_item *v,
		     size_t n, const char *notes, int64_t *ret_batch)
{
	int64_t batch = 0, now = dfs_now_ns();
	int rc;

	if (n == 0 || n > DFS_BATCH_MAX)
		return -EINVAL;
	rc = dfs_db_begin_whole(st);
	if (rc < 0)
		return rc;
	rc = dfs_query_int(st, sql_next_seq, &batch, "");
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = batch_rows(st, actor, e, &v[i], notes, now);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = batch_line(st, actor, e, &v[i], notes, batch, i, n);
	if (rc == 0)
		rc = dfs_db_commit(st, true);
	else
		dfs_db_rollback(st);
	if (rc < 0) {
		dfs_log(DFS_LOG_ERR,
			"batch deploy of %zu packages to %s failed: %s", n,
			e->name, strerror(-rc));
		return rc;
	}
	*ret_batch = batch;
	return 0;
}
