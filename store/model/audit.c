// SPDX-License-Identifier: MIT
/*
 * audit.c - the audit trail: one row per package creation, removal, notes
 * change, deployment and refused attempt, in the same transaction as the
 * act it records (or its own, for a refusal).  Triggers make the table
 * append-only; reading streams it row by row.
 */
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deployfs/log.h"
#include "model.h"

static const char sql_insert[] =
	"INSERT INTO audit (ts, actor, uid, pid, cmd, action, env, component,"
	" version, from_version, deployment, revisions, result, reason)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/* ---- audit.log ---------------------------------------------------------- */

/*
 * audit.log renders each row as one logfmt line.  audit_lines keeps where
 * each line starts and how long it is (rows are never changed, so neither
 * are their lines): a read at any offset finds its first line by index and
 * renders only the lines it returns.
 */
static const char sql_log_end[] =
	"SELECT off + len FROM audit_lines ORDER BY seq DESC LIMIT 1";
static const char sql_log_insert[] =
	"INSERT INTO audit_lines (seq, off, len) VALUES (?1, ?2, ?3)";
static const char sql_log_at[] =
	"SELECT seq FROM audit_lines WHERE off <= ?1 ORDER BY off DESC"
	" LIMIT 1";
static const char sql_log_page[] =
	"SELECT a.seq, a.ts, a.actor, a.uid, a.pid, a.cmd, a.action, a.env,"
	" a.component, a.version, a.from_version, a.deployment, a.revisions,"
	" a.result, a.reason, l.off, l.len FROM audit a"
	" JOIN audit_lines l ON l.seq = a.seq WHERE a.seq >= ?1"
	" ORDER BY a.seq LIMIT 64";
static const char sql_log_missing[] =
	"SELECT a.seq, a.ts, a.actor, a.uid, a.pid, a.cmd, a.action, a.env,"
	" a.component, a.version, a.from_version, a.deployment, a.revisions,"
	" a.result, a.reason FROM audit a WHERE a.seq > coalesce("
	"(SELECT max(seq) FROM audit_lines), 0) ORDER BY a.seq LIMIT 256";

#define LINE_MAX_LEN 16384 /* above the longest escaped event */

static bool needs_quotes(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if (*v == ' ' || *v == '=' || *v == '"' || *v == '\\' ||
		    (unsigned char)*v < 0x20 || *v == 0x7f)
			return true;
	return false;
}

static size_t put_kv(char *buf, size_t cap, size_t n, const char *key,
		     const char *v)
{
	bool q;

	if (!v)
		v = "";
	q = needs_quotes(v);
	n += (size_t)snprintf(buf + (n < cap ? n : cap), n < cap ? cap - n : 0,
			      "%s%s=%s", n ? " " : "", key, q ? "\"" : "");
	for (; *v; v++) {
		char esc[8];
		const char *p = esc;

		if (*v == '"' || *v == '\\')
			snprintf(esc, sizeof(esc), "\\%c", *v);
		else if (*v == '\n')
			snprintf(esc, sizeof(esc), "\\n");
		else if ((unsigned char)*v < 0x20 || *v == 0x7f)
			snprintf(esc, sizeof(esc), "\\x%02x",
				 (unsigned char)*v);
		else
			esc[0] = *v, esc[1] = '\0';
		for (; *p; p++, n++)
			if (n + 1 < cap)
				buf[n] = *p;
	}
	if (q) {
		if (n + 1 < cap)
			buf[n] = '"';
		n++;
	}
	if (cap)
		buf[n < cap ? n : cap - 1] = '\0';
	return n;
}

static size_t put_int(char *buf, size_t cap, size_t n, const char *key,
		      int64_t v, bool present)
{
	char num[32] = "";

	if (present)
		snprintf(num, sizeof(num), "%lld", (long long)v);
	return put_kv(buf, cap, n, key, num);
}

int dfs_audit_format(const struct dfs_audit_event *ev, char *buf, size_t cap)
{
	char ts[48];
	time_t t = (time_t)(ev->ts / 1000000000LL);
	struct tm tm;
	size_t n = 0;

	gmtime_r(&t, &tm);
	strftime(ts, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%09lldZ",
		 (long long)(ev->ts % 1000000000LL));
	n = put_kv(buf, cap, n, "ts", ts);
	n = put_int(buf, cap, n, "seq", ev->seq, true);
	n = put_kv(buf, cap, n, "actor", ev->actor);
	n = put_int(buf, cap, n, "uid", ev->uid, true);
	n = put_int(buf, cap, n, "pid", ev->pid, true);
	n = put_kv(buf, cap, n, "cmd", ev->cmd);
	n = put_kv(buf, cap, n, "action", ev->action);
	n = put_kv(buf, cap, n, "env", ev->env);
	n = put_kv(buf, cap, n, "component", ev->component);
	n = put_kv(buf, cap, n, "version", ev->version);
	n = put_kv(buf, cap, n, "from", ev->from);
	n = put_int(buf, cap, n, "deployment", ev->deployment,
		    ev->deployment != 0);
	n = put_kv(buf, cap, n, "result", ev->result);
	n = put_kv(buf, cap, n, "reason", ev->reason);
	if (n + 1 < cap)
		buf[n] = '\n';
	n++;
	if (cap)
		buf[n < cap ? n : cap - 1] = '\0';
	return (int)n;
}

/* The line of ev, cut to LINE_MAX_LEN (newline kept). */
static size_t render(const struct dfs_audit_event *ev, char *buf)
{
	size_t n = (size_t)dfs_audit_format(ev, buf, LINE_MAX_LEN + 1);

	if (n > LINE_MAX_LEN) {
		n = LINE_MAX_LEN;
		buf[n - 1] = '\n';
	}
	return n;
}

int64_t dfs_audit_log_size(struct dfs_store *st)
{
	sqlite3_stmt *s = NULL;
	int64_t end = 0;

	if (dfs_query_sql(st, sql_log_end, &s, "") == 1) {
		end = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
	}
	return end;
}

static int index_line(struct dfs_store *st, const struct dfs_audit_event *ev)
{
	char line[LINE_MAX_LEN + 1];

	return dfs_exec_sql(st, sql_log_insert, "iii", ev->seq,
			    dfs_audit_log_size(st), (int64_t)render(ev, line));
}

static void event_of(sqlite3_stmt *s, struct dfs_audit_event *ev);

/* Index the rows recorded before audit.log existed (schema 3). */
int dfs_audit_index(struct dfs_store *st)
{
	char line[LINE_MAX_LEN + 1];
	int64_t seq[256], len[256];

	for (;;) {
		sqlite3_stmt *s = NULL;
		int64_t off;
		int n = 0, rc = dfs_query_sql(st, sql_log_missing, &s, "");

		for (; rc == 1 && n < 256;
		     rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0) {
			struct dfs_audit_event ev;

			event_of(s, &ev);
			seq[n] = ev.seq;
			len[n++] = (int64_t)render(&ev, line);
		}
		if (s)
			sqlite3_reset(s);
		if (rc < 0 || n == 0)
			return rc < 0 ? rc : 0;
		rc = dfs_db_begin(st);
		off = dfs_audit_log_size(st);
		for (int i = 0; rc == 0 && i < n; off += len[i++])
			rc = dfs_exec_sql(st, sql_log_insert, "iii", seq[i],
					  off, len[i]);
		rc = dfs_finish(st, rc);
		if (rc < 0)
			return rc;
	}
}

ssize_t dfs_audit_read(struct dfs_store *st, void *out, size_t n, uint64_t off)
{
	char line[LINE_MAX_LEN + 1];
	char *buf = out;
	size_t got = 0;
	int64_t seq = 0;
	sqlite3_stmt *s = NULL;
	int rc;

	rc = dfs_query_sql(st, sql_log_at, &s, "i", (int64_t)off);
	if (rc == 1) {
		seq = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
	}
	while (rc == 1 && got < n) {
		int rows = 0;

		rc = dfs_query_sql(st, sql_log_page, &s, "i", seq);
		for (; rc == 1 && got < n;
		     rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0) {
			struct dfs_audit_event ev;
			uint64_t loff = (uint64_t)sqlite3_column_int64(s, 15);
			size_t len, from;

			event_of(s, &ev);
			len = render(&ev, line);
			seq = ev.seq + 1;
			rows++;
			if (loff + len <= off + got)
				continue;
			from = off + got > loff ? (size_t)(off + got - loff)
						: 0;
			if (len - from > n - got)
				len = from + (n - got);
			memcpy(buf + got, line + from, len - from);
			got += len - from;
		}
		if (s)
			sqlite3_reset(s);
		if (rc >= 0 && rows == 64)
			rc = 1;
	}
	return rc < 0 ? rc : (ssize_t)got;
}

/* Record ev (its seq, ts, actor, uid, pid and cmd come from here). */
int dfs_audit_record_in(struct dfs_store *st, const struct dfs_actor *a,
			const struct dfs_audit_event *ev)
{
	sqlite3_stmt *s = dfs_sql(st, sql_insert);
	struct dfs_audit_event line;
	int64_t ts = dfs_now_ns();
	struct dfs_actor who;
	char name[64];
	int rc;

	if (!s)
		return -EIO;
	if (!a->cmd[0]) {
		/* A request's thread: the process and its command line. */
		who = *a;
		dfs_actor_resolve(&who);
		a = &who;
	}
	dfs_user_name(a->uid, name, sizeof(name));
	sqlite3_bind_int64(s, 1, ts);
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
	rc = dfs_stmt_done(s, sqlite3_step(s));
	if (rc < 0)
		return rc;
	line = *ev;
	line.seq = dfs_last_rowid(st);
	line.ts = ts;
	line.actor = name;
	line.uid = a->uid;
	line.pid = a->pid;
	line.cmd = a->cmd[0] ? a->cmd : NULL;
	return index_line(st, &line);
}

int dfs_audit_act(struct dfs_store *st, const struct dfs_actor *a,
		  const struct dfs_audit_event *ev, int rc)
{
	if (rc == 0)
		rc = dfs_audit_record_in(st, a, ev);
	if (rc == 0)
		return dfs_db_commit(st, true);
	dfs_db_rollback(st);
	return rc;
}

/* Record ev in a transaction of its own (a refusal: the act was rolled
 * back). */
int dfs_audit_commit(struct dfs_store *st, const struct dfs_actor *a,
		     const struct dfs_audit_event *ev)
{
	return dfs_audit_act(st, a, ev, dfs_db_begin(st));
}

void dfs_audit_refuse(struct dfs_store *st, const struct dfs_actor *a,
		      const char *action, const char *env,
		      const char *component, const char *version, int rc,
		      const char *why)
{
	struct dfs_audit_event ev = { 0 };
	char reason[768];

	st->refusals++;
	snprintf(reason, sizeof(reason), "%s%s%s", strerror(-rc),
		 why && *why ? ": " : "", why ? why : "");
	ev.action = action;
	ev.env = env;
	ev.component = component;
	ev.version = version;
	ev.result = "refused";
	ev.reason = reason;
	if (dfs_audit_commit(st, a, &ev) < 0)
		dfs_log(DFS_LOG_ERR, "could not record a refusal: %s %s",
			action, reason);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static const char sql_each[] =
	"SELECT seq, ts, actor, uid, pid, cmd, action, env, component,"
	" version, from_version, deployment, revisions, result, reason"
	" FROM audit WHERE seq > ?1 ORDER BY seq LIMIT 256";

static void event_of(sqlite3_stmt *s, struct dfs_audit_event *ev)
{
	struct dfs_audit_event e = {
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

	*ev = e;
}

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
			struct dfs_audit_event ev;

			event_of(s, &ev);

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

int dfs_audit_record(struct dfs_store *st, const struct dfs_actor *actor,
		     const struct dfs_audit_event *ev)
{
	struct dfs_actor self;
	int rc;

	actor = dfs_actor_or_self(actor, &self);
	pthread_mutex_lock(&st->lock);
	rc = dfs_audit_commit(st, actor, ev);
	pthread_mutex_unlock(&st->lock);
	return rc;
}
