// SPDX-License-Identifier: MIT
/*
 * env.c - environments: rows of envs, created, classified (test or
 * production, once), re-permissioned and removed, each act with its audit
 * row in one durable transaction and each refusal recorded.  A removed
 * environment keeps its row (removed = 1) so deployment history outlives
 * it.  st->lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

#define ENV_COLS "id, name, mode, uid, gid, mtime, ctime, classification"
static const char sql_by_id[] =
	"SELECT " ENV_COLS " FROM envs WHERE id = ?1 AND removed = 0";
static const char sql_by_name[] =
	"SELECT " ENV_COLS " FROM envs WHERE name = ?1 AND removed = 0";
static const char sql_list[] =
	"SELECT id, name FROM envs WHERE removed = 0 AND id > ?1 ORDER BY id";
static const char sql_count[] = "SELECT count(*) FROM envs WHERE removed = 0";
static const char sql_insert[] =
	"INSERT INTO envs (name, mode, uid, gid, created, created_by, mtime,"
	" ctime) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, ?5)";
static const char sql_remove[] = "UPDATE envs SET removed = 1 WHERE id = ?1";
static const char sql_touch[] =
	"UPDATE envs SET mtime = ?2, ctime = ?2 WHERE id = ?1";
static const char sql_setattr[] =
	"UPDATE envs SET mode = ?2, uid = ?3, gid = ?4, mtime = ?5, ctime = ?6"
	" WHERE id = ?1";
static const char sql_classify[] =
	"UPDATE envs SET classification = ?2 WHERE id = ?1";
static const char sql_busy[] =
	"SELECT count(*) FROM deployments WHERE env = ?1 AND active = 1";

static int env_fill(sqlite3_stmt *s, int rc, struct dfs_env *ret)
{
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	ret->id = sqlite3_column_int64(s, 0);
	dfs_col_text(s, 1, ret->name, sizeof(ret->name));
	ret->mode = (uint32_t)sqlite3_column_int64(s, 2);
	ret->uid = (uint32_t)sqlite3_column_int64(s, 3);
	ret->gid = (uint32_t)sqlite3_column_int64(s, 4);
	ret->mtime = sqlite3_column_int64(s, 5);
	ret->ctime = sqlite3_column_int64(s, 6);
	dfs_col_text(s, 7, ret->cls, sizeof(ret->cls));
	return dfs_stmt_done(s, SQLITE_ROW);
}

int dfs_env_by_id(struct dfs_store *st, int64_t id, struct dfs_env *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_by_id, &s, "i", id);

	return env_fill(s, rc, ret);
}

int dfs_env_by_name(struct dfs_store *st, const char *name, struct dfs_env *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_by_name, &s, "s", name);

	return env_fill(s, rc, ret);
}

int dfs_env_list(struct dfs_store *st, struct dfs_idnames *ret)
{
	return dfs_idnames_query(st, sql_list, "i", 0, 0, ret);
}

int dfs_env_count(struct dfs_store *st, int64_t *ret)
{
	return dfs_query_int(st, sql_count, ret, "");
}

int dfs_env_touch(struct dfs_store *st, int64_t id, int64_t now)
{
	return dfs_exec_sql(st, sql_touch, "ii", id, now);
}

int dfs_env_create(struct dfs_store *st, const struct dfs_actor *actor,
		   const char *name, uint32_t mode, int64_t *ret_id)
{
	struct dfs_audit_event ev = { 0 };
	struct dfs_env e;
	char user[64];
	int rc;

	if (!dfs_name_valid(name)) {
		dfs_audit_refuse(st, actor, "env-create", name, NULL, NULL,
				 -EINVAL,
				 "an environment name is 1-64 of A-Z a-z "
				 "0-9 . _ -");
		return -EINVAL;
	}
	if (dfs_env_by_name(st, name, &e) == 0)
		return -EEXIST;
	dfs_user_name(actor->uid, user, sizeof(user));
	rc = dfs_db_begin_whole(st);
	if (rc < 0)
		return rc;
	rc = dfs_exec_sql(st, sql_insert, "siiiis", name,
			  (int64_t)(mode & 07777), (int64_t)actor->uid,
			  (int64_t)actor->gid, dfs_now_ns(), user);
	if (rc == 0)
		*ret_id = dfs_last_rowid(st);
	ev.action = "env-create";
	ev.env = name;
	ev.result = "ok";
	return dfs_audit_act(st, actor, &ev, rc);
}

int dfs_env_remove(struct dfs_store *st, const struct dfs_actor *actor,
		   const char *name, int64_t busy)
{
	struct dfs_audit_event ev = { 0 };
	struct dfs_env e;
	int64_t deployed = 0;
	int rc = dfs_env_by_name(st, name, &e);

	if (rc == 0)
		rc = dfs_query_int(st, sql_busy, &deployed, "i", e.id);
	if (rc < 0)
		return rc;
	if (busy + deployed) {
		dfs_audit_refuse(st, actor, "env-remove", name, NULL, NULL,
				 -ENOTEMPTY,
				 "something is deployed or staging there");
		return -ENOTEMPTY;
	}
	rc = dfs_db_begin_whole(st);
	if (rc < 0)
		return rc;
	rc = dfs_exec_sql(st, sql_remove, "i", e.id);
	ev.action = "env-remove";
	ev.env = name;
	ev.result = "ok";
	return dfs_audit_act(st, actor, &ev, rc);
}

int dfs_env_set(struct dfs_store *st, int64_t id, const struct dfs_setattr *sa)
{
	struct dfs_env e;
	int64_t now = dfs_now_ns(), mtime;
	int rc = dfs_env_by_id(st, id, &e);

	if (rc < 0)
		return rc;
	if (sa->valid & DFS_SET_SIZE)
		return -EISDIR;
	if (sa->valid & DFS_SET_MODE)
		e.mode = sa->mode & 07777;
	if (sa->valid & DFS_SET_UID)
		e.uid = sa->uid;
	if (sa->valid & DFS_SET_GID)
		e.gid = sa->gid;
	mtime = (sa->valid & DFS_SET_MTIME)	  ? dfs_ts_to_ns(sa->mtime)
		: (sa->valid & DFS_SET_MTIME_NOW) ? now
						  : e.mtime;
	rc = dfs_db_begin(st);
	if (rc == 0)
		rc = dfs_finish(st,
				dfs_exec_sql(st, sql_setattr, "iiiiii", id,
					     (int64_t)e.mode, (int64_t)e.uid,
					     (int64_t)e.gid, mtime, now));
	return rc;
}

int dfs_env_classify(struct dfs_store *st, const struct dfs_actor *actor,
		     int64_t id, const char *value, size_t size)
{
	struct dfs_audit_event ev = { 0 };
	char v[16];
	struct dfs_env e;
	int rc = dfs_env_by_id(st, id, &e);

	if (rc < 0)
		return rc;
	snprintf(v, sizeof(v), "%.*s", (int)(size < 15 ? size : 15), value);
	if (size >= sizeof(v) ||
	    (strcmp(v, "test") != 0 && strcmp(v, "production") != 0)) {
		dfs_audit_refuse(st, actor, "classification", e.name, NULL,
				 NULL, -EINVAL,
				 "the classification is test or production");
		return -EINVAL;
	}
	if (e.cls[0]) {
		dfs_audit_refuse(st, actor, "classification", e.name, NULL,
				 NULL, -EPERM,
				 "the classification is set once");
		return -EPERM;
	}
	rc = dfs_db_begin_whole(st);
	if (rc < 0)
		return rc;
	rc = dfs_exec_sql(st, sql_classify, "is", id, v);
	ev.action = "classification";
	ev.env = e.name;
	ev.result = "ok";
	ev.reason = v;
	return dfs_audit_act(st, actor, &ev, rc);
}
