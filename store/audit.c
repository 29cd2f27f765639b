// SPDX-License-Identifier: MIT
/*
 * audit.c - the audit trail: one row per package creation, removal, notes
 * change, deployment and refused attempt, in the same transaction as the
 * act it records (or its own, for a refusal).  Triggers make the table
 * append-only; reading streams it row by row.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const char sql_insert[] =
	"INSERT INTO audit (ts, actor, uid, pid, cmd, action, env, component,"
	" version, from_version, deployment, revisions, result, reason)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

void dfs_user_name(uint32_t uid, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, cap, "%s", pw.pw_name);
	else
		snprintf(buf, cap, "%u", uid);
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/* Record ev (its seq, ts, actor, uid, pid and cmd come from here). */
int dfs_audit_record_locked(struct dfs_store *st, const struct dfs_actor *a,
			    const struct dfs_audit_event *ev)
{
	sqlite3_stmt *s = dfs_sql(st, sql_insert);
	char name[64];

	if (!s)
		return -EIO;
	dfs_user_name(a->uid, name, sizeof(name));
	sqlite3_bind_int64(s, 1, dfs_now_ns());
	bind_text(s, 2, name);
	sqlite3_bind_int64(s, 3, a->uid);
	sqlite3_bind_int64(s, 4, a->pid);
	bind_text(s, 5, a->cmd[0] ? a->cmd : NULL);
	bind_text(s, 6, ev->action);
	bind_text(s, 7, ev->env);
	bind_text(s, 8, ev->component);
	bind_text(s, 9, ev->version);
	bind_text(s, 10, ev->from);
	if (ev->deployment)
		sqlite3_bind_int64(s, 11, ev->deployment);
	else
		sqlite3_bind_null(s, 11);
	bind_text(s, 12, ev->revisions);
	bind_text(s, 13, ev->result);
	bind_text(s, 14, ev->reason);
	return dfs_stmt_done(s, sqlite3_step(s));
}

/* Record a refusal in a transaction of its own (the act was rolled
 * back).  Returns 0 or -errno. */
int dfs_audit_refusal_locked(struct dfs_store *st, const struct dfs_actor *a,
			     const struct dfs_audit_event *ev)
{
	int rc = dfs_db_begin(st);

	if (rc == 0)
		rc = dfs_audit_record_locked(st, a, ev);
	if (rc == 0)
		return dfs_db_commit(st, true);
	dfs_db_rollback(st);
	return rc;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static const char sql_each[] =
	"SELECT seq, ts, actor, uid, pid, cmd, action, env, component,"
	" version, from_version, deployment, revisions, result, reason"
	" FROM audit WHERE seq > ?1 ORDER BY seq LIMIT 256";

int dfs_audit_each(struct dfs_store *st, int64_t after, dfs_audit_fn fn,
		   void *ctx)
{
	int rc = 0, stop = 0;

	/* Pages of 256 rows: the lock is never held across a whole history. */
	while (!stop) {
		sqlite3_stmt *s = NULL;
		int rows = 0;

		pthread_mutex_lock(&st->lock);
		rc = dfs_query_sql(st, sql_each, &s, "i", after);
		while (rc == 1 && !stop) {
			struct dfs_audit_event ev = {
				.seq = sqlite3_column_int64(s, 0),
				.ts = sqlite3_column_int64(s, 1),
				.actor = col_text(s, 2),
				.uid = sqlite3_column_int64(s, 3),
				.pid = sqlite3_column_int64(s, 4),
				.cmd = col_text(s, 5),
				.action = col_text(s, 6),
				.env = col_text(s, 7),
				.component = col_text(s, 8),
				.version = col_text(s, 9),
				.from = col_text(s, 10),
				.deployment = sqlite3_column_int64(s, 11),
				.revisions = col_text(s, 12),
				.result = col_text(s, 13),
				.reason = col_text(s, 14),
			};

			rows++;
			after = ev.seq;
			stop = fn(ctx, &ev);
			rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0;
		}
		if (s)
			sqlite3_reset(s);
		pthread_mutex_unlock(&st->lock);
		if (rc < 0)
			return rc;
		if (rows < 256)
			break;
	}
	return 0;
}

/* actor, or this process when actor is NULL (tools, tests). */
const struct dfs_actor *dfs_actor_or_self(const struct dfs_actor *actor,
					  struct dfs_actor *self)
{
	if (actor)
		return actor;
	FILE *f;
	size_t n;

	memset(self, 0, sizeof(*self));
	self->uid = (uint32_t)getuid();
	self->gid = (uint32_t)getgid();
	self->pid = (int32_t)getpid();
	f = fopen("/proc/self/cmdline", "re");
	if (f) {
		n = fread(self->cmd, 1, sizeof(self->cmd) - 1, f);
		fclose(f);
		for (size_t i = 0; i + 1 < n; i++)
			if (self->cmd[i] == '\0')
				self->cmd[i] = ' ';
	}
	return self;
}

int dfs_audit_record(struct dfs_store *st, const struct dfs_actor *actor,
		     const struct dfs_audit_event *ev)
{
	struct dfs_actor self;
	int rc;

	actor = dfs_actor_or_self(actor, &self);
	pthread_mutex_lock(&st->lock);
	rc = dfs_audit_refusal_locked(st, actor, ev);
	pthread_mutex_unlock(&st->lock);
	return rc;
}
