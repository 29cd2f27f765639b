// SPDX-License-Identifier: MIT
/*
 * deploy.c - deployments: which package version is active in which
 * environment.  Deploying ends the active deployment of the component
 * there (if any) and records the new one with its number (1, 2, 3... per
 * environment and component), the requirements it lacks and its audit
 * row, in one durable transaction; undeploying ends it.  Also the rows of
 * copies in progress (staging), for reports.  st->lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define DEP_SELECT                                                           \
	"SELECT d.id, d.number, c.name, p.version, p.root, p.id, d.created," \
	" d.uid, d.created_by, d.notes, d.warning, c.id, d.gid, d.env"       \
	" FROM deployments d JOIN components c ON c.id = d.component"        \
	" JOIN packages p ON p.id = d.package"
static const char sql_active[] =
	DEP_SELECT " WHERE d.env = ?1 AND d.active = 1 ORDER BY d.id";
static const char sql_by_id[] = DEP_SELECT " WHERE d.id = ?1";
static const char sql_of_comp[] =
	DEP_SELECT " WHERE d.env = ?1 AND d.component = ?2 AND d.active = 1";
static const char sql_of_pkg[] =
	DEP_SELECT " WHERE d.env = ?1 AND d.package = ?2 AND d.active = 1";
static const char sql_next[] =
	"SELECT coalesce(max(number), 0) + 1 FROM deployments"
	" WHERE env = ?1 AND component = ?2";
static const char sql_insert[] =
	"INSERT INTO deployments (env, component, package, number, created,"
	" created_by, uid, via, warning, gid, version)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char sql_end[] =
	"UPDATE deployments SET active = 0, ended = ?2 WHERE id = ?1";
static const char sql_notes[] =
	"UPDATE deployments SET notes = ?2 WHERE id = ?1 AND notes IS NULL";
static const char sql_text[] =
	"SELECT notes, warning FROM deployments WHERE id = ?1";
static const char sql_pkg_deployed[] =
	"UPDATE packages SET deployed = deployed + ?2 WHERE id = ?1";
static const char sql_unmet[] =
	"SELECT group_concat(substr(j.value, instr(j.value, '/') + 1), ', ')"
	" FROM packages p, json_each(p.requires) j WHERE p.id = ?1"
	" AND NOT EXISTS (SELECT 1 FROM deployments d"
	" JOIN components c ON c.id = d.component WHERE d.env = ?2"
	" AND d.active = 1"
	" AND CAST(c.name AS TEXT) ="
	" substr(j.value, instr(j.value, '/') + 1))";
static const char sql_staging_insert[] =
	"INSERT INTO staging (env, package, started, started_by, uid, entries)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_staging_done[] =
	"UPDATE staging SET done = ?2 WHERE id = ?1";
static const char sql_staging_delete[] = "DELETE FROM staging WHERE id = ?1";

static void dep_of(sqlite3_stmt *s, struct dfs_dep *ret)
{
	ret->id = sqlite3_column_int64(s, 0);
	ret->number = sqlite3_column_int64(s, 1);
	dfs_col_text(s, 2, ret->component, sizeof(ret->component));
	dfs_col_text(s, 3, ret->version, sizeof(ret->version));
	ret->root = sqlite3_column_int64(s, 4);
	ret->package = sqlite3_column_int64(s, 5);
	ret->created = sqlite3_column_int64(s, 6);
	ret->uid = (uint32_t)sqlite3_column_int64(s, 7);
	dfs_col_text(s, 8, ret->created_by, sizeof(ret->created_by));
	ret->has_notes = sqlite3_column_type(s, 9) != SQLITE_NULL;
	ret->gid = (uint32_t)sqlite3_column_int64(s, 12);
	ret->env = sqlite3_column_int64(s, 13);
}

static int dep_query(struct dfs_store *st, const char *sql, const char *fmt,
		     int64_t a, int64_t b, struct dfs_dep *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql, &s, fmt, a, b);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	dep_of(s, ret);
	sqlite3_reset(s);
	return 0;
}

int dfs_dep_by_id(struct dfs_store *st, int64_t id, struct dfs_dep *ret)
{
	return dep_query(st, sql_by_id, "i", id, 0, ret);
}

int dfs_dep_of_comp(struct dfs_store *st, int64_t env, int64_t comp,
		    struct dfs_dep *ret)
{
	return dep_query(st, sql_of_comp, "ii", env, comp, ret);
}

int dfs_dep_of_pkg(struct dfs_store *st, int64_t env, int64_t pkg,
		   struct dfs_dep *ret)
{
	return dep_query(st, sql_of_pkg, "ii", env, pkg, ret);
}

int dfs_dep_active(struct dfs_store *st, int64_t env, struct dfs_dep **ret,
		   size_t *ret_n)
{
	struct dfs_dep *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_active, &s, "i", env);

	for (; rc == 1; rc = dfs_next(s)) {
		if (n == cap) {
			void *nv = realloc(v, (cap = cap ? 2 * cap : 16) *
						      sizeof(*v));

			if (!nv) {
				sqlite3_reset(s);
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		dep_of(s, &v[n++]);
	}
	if (rc < 0) {
		free(v);
		return rc;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int dfs_dep_text(struct dfs_store *st, int64_t id, bool warning, char *buf,
		 size_t cap)
{
	sqlite3_stmt *s = NULL;
	int col = warning ? 1 : 0,
	    rc = dfs_query_sql(st, sql_text, &s, "i", id);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	rc = sqlite3_column_type(s, col) == SQLITE_NULL ? -ENODATA : 0;
	if (rc == 0)
		dfs_col_text(s, col, buf, cap);
	sqlite3_reset(s);
	return rc;
}

int dfs_dep_unmet(struct dfs_store *st, const struct dfs_env *e,
		  const struct dfs_pkg *p, char *buf, size_t cap)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_unmet, &s, "ii", p->id, e->id);

	buf[0] = '\0';
	if (rc == 1) {
		if (sqlite3_column_type(s, 0) != SQLITE_NULL)
			snprintf(buf, cap, "requires %s, not deployed in %s",
				 sqlite3_column_text(s, 0), e->name);
		sqlite3_reset(s);
	}
	return rc < 0 ? rc : 0;
}

int dfs_dep_end(struct dfs_store *st, const struct dfs_dep *d, int64_t now)
{
	int rc = dfs_exec_sql(st, sql_end, "ii", d->id, now);

	if (rc == 0)
		rc = dfs_exec_sql(st, sql_pkg_deployed, "ii", d->package,
				  (int64_t)-1);
	return rc;
}

int dfs_dep_insert(struct dfs_store *st, const struct dfs_actor *actor,
		   const struct dfs_env *e, const struct dfs_pkg *p,
		   const char *via, const char *warning, int64_t *ret_number)
{
	int64_t number = 0, now = dfs_now_ns();
	char user[64];
	int rc = dfs_query_int(st, sql_next, &number, "ii", e->id, p->comp);

	dfs_user_name(actor->uid, user, sizeof(user));
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_insert, "iiiiisissis", e->id, p->comp,
				  p->id, number, now, user, (int64_t)actor->uid,
				  via,
				  warning[0] ? warning : (const char *)NULL,
				  (int64_t)actor->gid, p->version);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_pkg_deployed, "ii", p->id,
				  (int64_t)1);
	if (rc == 0)
		rc = dfs_env_touch(st, e->id, now);
	if (rc == 0)
		*ret_number = number;
	return rc;
}

int dfs_deploy(struct dfs_store *st, const struct dfs_actor *actor,
	       const struct dfs_env *e, const struct dfs_pkg *p,
	       const char *via, int64_t *ret_replaced)
{
	struct dfs_audit_event ev = { 0 };
	char warning[512] = "", reason[600];
	struct dfs_dep old;
	int64_t number = 0;
	bool has_old = dfs_dep_of_comp(st, e->id, p->comp, &old) == 0;
	int rc;

	*ret_replaced = 0;
	ev.env = e->name;
	ev.component = p->component;
	ev.version = p->version;
	ev.from = has_old ? old.version : NULL;
	if (has_old && old.package == p->id) {
		ev.action = "deploy";
		ev.deployment = old.number;
		ev.result = "unchanged";
		ev.reason = "this version is already deployed";
		return dfs_audit_commit(st, actor, &ev);
	}
	rc = dfs_db_begin_whole(st);
	if (rc < 0)
		return rc;
	if (has_old)
		rc = dfs_dep_end(st, &old, dfs_now_ns());
	if (rc == 0)
		rc = dfs_dep_unmet(st, e, p, warning, sizeof(warning));
	if (rc == 0)
		rc = dfs_dep_insert(st, actor, e, p, via, warning, &number);
	ev.action = has_old && strverscmp(p->version, old.version) < 0
			    ? "rollback"
			    : "deploy";
	ev.deployment = number;
	ev.result = "ok";
	if (warning[0]) {
		snprintf(reason, sizeof(reason), "warning: %s", warning);
		ev.reason = reason;
	}
	rc = dfs_audit_act(st, actor, &ev, rc);
	if (rc == 0 && has_old)
		*ret_replaced = old.package;
	if (rc < 0)
		dfs_log(DFS_LOG_ERR, "deploy %s@%s to %s failed: %s",
			p->component, p->version, e->name, strerror(-rc));
	return rc;
}

int dfs_undeploy(struct dfs_store *st, const struct dfs_actor *actor,
		 const struct dfs_env *e, const struct dfs_dep *d)
{
	struct dfs_audit_event ev = { 0 };
	int64_t now = dfs_now_ns();
	int rc = dfs_db_begin_whole(st);

	if (rc < 0)
		return rc;
	rc = dfs_dep_end(st, d, now);
	if (rc == 0)
		rc = dfs_env_touch(st, e->id, now);
	ev.action = "undeploy";
	ev.env = e->name;
	ev.component = d->component;
	ev.version = d->version;
	ev.deployment = d->number;
	ev.result = "ok";
	rc = dfs_audit_act(st, actor, &ev, rc);
	return rc;
}

int dfs_dep_set_notes(struct dfs_store *st, const struct dfs_actor *actor,
		      const struct dfs_env *e, const struct dfs_pkg *p,
		      const char *value, size_t size)
{
	struct dfs_audit_event ev = { 0 };
	struct dfs_dep d;
	char *notes;
	int rc = dfs_dep_of_pkg(st, e->id, p->id, &d);

	if (rc < 0)
		return -EROFS; /* staging: nothing to note yet */
	if (d.has_notes) {
		dfs_audit_refuse(st, actor, "notes", e->name, p->component,
				 p->version, -EPERM,
				 "notes are immutable once written");
		return -EPERM;
	}
	notes = strndup(value, size);
	if (!notes)
		return -ENOMEM;
	rc = dfs_db_begin_whole(st);
	if (rc == 0) {
		rc = dfs_exec_sql(st, sql_notes, "is", d.id, notes);
		ev.action = "notes";
		ev.env = e->name;
		ev.component = p->component;
		ev.version = p->version;
		ev.deployment = d.number;
		ev.result = "ok";
		rc = dfs_audit_act(st, actor, &ev, rc);
	}
	free(notes);
	return rc;
}

/* ---- copies in progress ---------------------------------------------------- */

int dfs_staging_add(struct dfs_store *st, const struct dfs_actor *actor,
		    int64_t env, int64_t pkg, int64_t entries, int64_t *ret_row)
{
	char user[64];
	int rc;

	dfs_user_name(actor->uid, user, sizeof(user));
	rc = dfs_db_begin_lazy(st, 0);
	if (rc == 0) {
		rc = dfs_exec_sql(st, sql_staging_insert, "iiisii", env, pkg,
				  dfs_now_ns(), user, (int64_t)actor->uid,
				  entries);
		if (rc == 0)
			*ret_row = dfs_last_rowid(st);
		rc = dfs_finish(st, rc);
	}
	return rc;
}

void dfs_staging_progress(struct dfs_store *st, int64_t row, int64_t done)
{
	if (row && dfs_db_begin_lazy(st, 0) == 0)
		(void)dfs_finish(st, dfs_exec_sql(st, sql_staging_done, "ii",
						  row, done));
}

void dfs_staging_drop(struct dfs_store *st, int64_t row)
{
	if (row && dfs_db_begin_lazy(st, 0) == 0)
		(void)dfs_finish(
			st, dfs_exec_sql(st, sql_staging_delete, "i", row));
}

int dfs_staging_clear(struct dfs_store *st)
{
	return dfs_db_exec(st, "DELETE FROM staging");
}
