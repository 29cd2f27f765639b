// SPDX-License-Identifier: MIT
/*
 * pkgstatus.c - bad releases.  A package marked bad (deployctl package
 * mark-bad NAME@V --reason TEXT) is not deployed again by any means
 * (mkdir ENV/N@V, ln -s, deployctl deploy, rollback skips it) unless the
 * deploy is forced; mark-good undoes the mark.  Marking, unmarking and
 * every refusal are recorded.  What is deployed stays deployed: marking
 * is a judgement about the next deploy.  st->lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

static const char sql_find[] =
	"SELECT id, bad FROM packages WHERE component = ?1 AND version = ?2"
	" AND removed = 0";
static const char sql_set_bad[] = "UPDATE packages SET bad = ?2 WHERE id = ?1";
static const char sql_bad[] = "SELECT bad FROM packages WHERE id = ?1";

int dfs_pkg_set_bad(struct dfs_store *st, const struct dfs_actor *actor,
		    int64_t comp, const char *version, const char *reason)
{
	const char *act = reason ? "package-mark-bad" : "package-mark-good";
	struct dfs_audit_event ev = { 0 };
	struct dfs_component c;
	sqlite3_stmt *s = NULL;
	char why[2 * DFS_NAME_MAX + 64] = "";
	int64_t id = 0;
	int rc = dfs_component_by_id(st, comp, &c);

	if (rc < 0)
		return rc;
	if (!dfs_version_valid(version)) {
		snprintf(why, sizeof(why), "\"%s\" is not a valid version",
			 version);
		rc = -EINVAL;
	} else if (reason && !reason[0]) {
		snprintf(why, sizeof(why), "a bad release needs a reason");
		rc = -EINVAL;
	} else {
		rc = dfs_query_sql(st, sql_find, &s, "is", c.id, version);
		if (rc == 0) {
			snprintf(why, sizeof(why), "%s has no version %s",
				 c.name, version);
			rc = -ENOENT;
		} else if (rc > 0) {
			id = sqlite3_column_int64(s, 0);
			rc = dfs_stmt_done(s, SQLITE_ROW);
		}
	}
	if (rc < 0) {
		if (why[0])
			dfs_audit_refuse(st, actor, act, NULL, c.name, version,
					 rc, why);
		return rc;
	}
	rc = dfs_db_begin(st);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_set_bad, "is", id, reason);
	ev.action = act;
	ev.component = c.name;
	ev.version = version;
	ev.result = "ok";
	ev.reason = reason;
	return dfs_audit_act(st, actor, &ev, rc);
}

int dfs_pkg_bad_reason(struct dfs_store *st, int64_t pkg, char *buf, size_t cap)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_bad, &s, "i", pkg);

	if (rc <= 0)
		return rc;
	rc = sqlite3_column_type(s, 0) != SQLITE_NULL;
	if (rc)
		dfs_col_text(s, 0, buf, cap);
	sqlite3_reset(s);
	return rc;
}

int dfs_pkg_deployable(struct dfs_store *st, const struct dfs_actor *actor,
		       const char *env, const struct dfs_pkg *p, bool forced)
{
	char reason[512], why[1024];
	int rc = dfs_pkg_bad_reason(st, p->id, reason, sizeof(reason));

	if (rc <= 0 || forced)
		return rc < 0 ? rc : 0;
	snprintf(why, sizeof(why),
		 "%s@%s is marked bad (%s): deployctl deploy --force deploys "
		 "it anyway",
		 p->component, p->version, reason);
	dfs_audit_refuse(st, actor, "deploy", env, p->component, p->version,
			 -EPERM, why);
	return -EPERM;
}
