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
#include "registry.h"

static const char sql_insert[] =
	"INSERT INTO audit (ts, actor, uid, pid, cmd, action, env, component,"
	" version, from_version, deployment, revisions, result, reason,"
	" reg_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
	" ?13, ?14, ?15)";
static const char sql_outbox[] = "INSERT INTO reg_outbox (seq) VALUES (?1)";
static const char sql_reg_seq[] = "SELECT coalesce(max(reg_seq), 0) FROM audit";

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
/* The lines from the one holding offset ?1 on: one statement a read,
 * stepped only as far as the read goes. */
static const char sql_log_from[] =
	"SELECT a.seq, a.ts, a.actor, a.uid, a.pid, a.cmd, a.action, a.env,"
	" a.component, a.version, a.from_version, a.deployment, a.revisions,"
	" a.result, a.reason, l.off, l.len FROM audit_lines l"
	" JOIN audit a ON a.seq = l.seq WHERE l.seq >= coalesce("
	"(SELECT seq FROM audit_lines WHERE off <= ?1 ORDER BY off DESC"
	" LIMIT 1), 0) ORDER BY l.seq";
static const char sql_log_missing[] =
	"SELECT a.seq, a.ts, a.actor, a.uid, a.pid, a.cmd, a.action, a.env,"
	" a.component, a.version, a.from_version, a.deployment, a.revisions,"
	" a.result, a.reason FROM audit a WHERE a.seq > coalesce("
	"(SELECT max(seq) FROM audit_lines), 0) ORDER BY a.seq LIMIT 256";

#define LINE_MAX_LEN 16384 /* above the longest escaped event */

/*
 * The line being rendered: the first cap - 1 bytes of it are kept,
 * NUL-ended; n counts them all.  Rendering is on the path of every read
 * of audit.log (a million lines a `wc -l`): bytes are copied in runs,
 * never formatted one by one.
 */
struct line_out {
	char *buf;
	size_t cap, n;
};

static void put(struct line_out *o, const char *s, size_t len)
{
	if (o->n + len < o->cap)
		memcpy(o->buf + o->n, s, len);
	else if (o->n + 1 < o->cap)
		memcpy(o->buf + o->n, s, o->cap - 1 - o->n);
	o->n += len;
}

/* The bytes below 0x80 that a value cannot hold as they are: control
 * characters, space, '"', '=' (bits of lo), '\\' and DEL (bits of hi). */
#define UNPLAIN_LO (0xffffffffull | 1ull << ' ' | 1ull << '"' | 1ull << '=')
#define UNPLAIN_HI (1ull << ('\\' - 64) | 1ull << (0x7f - 64))

/* A byte written as it is, unquoted (NUL is not). */
static bool plain(unsigned char c)
{
	return c >= 0x80 ||
	       !(((c < 64 ? UNPLAIN_LO : UNPLAIN_HI) >> (c & 63)) & 1);
}

/* A byte written as it is between quotes. */
static bool plain_quoted(unsigned char c)
{
	return c >= ' ' && c != '"' && c != '\\' && c != 0x7f;
}

/* key (" name=", its space left out for the first) and the value:
 * quoted when it holds a space, '=', a quote, a backslash or a control
 * character, and those but the space and '=' escaped. */
static void put_kv(struct line_out *o, const char *key, size_t klen,
		   const char *v)
{
	const unsigned char *u;
	size_t len = 0;

	if (!v)
		v = "";
	u = (const unsigned char *)v;
	while (plain(u[len]))
		len++;
	put(o, key, klen);
	if (!u[len]) {
		put(o, v, len);
		return;
	}
	put(o, "\"", 1);
	while (*u) {
		const unsigned char *run = u;
		char esc[8];

		while (*u && plain_quoted(*u))
			u++;
		put(o, (const char *)run, (size_t)(u - run));
		if (!*u)
			break;
		if (*u == '"' || *u == '\\')
			esc[0] = '\\', esc[1] = (char)*u, esc[2] = '\0';
		else if (*u == '\n')
			memcpy(esc, "\\n", 3);
		else
			snprintf(esc, sizeof(esc), "\\x%02x", *u);
		put(o, esc, strlen(esc));
		u++;
	}
	put(o, "\"", 1);
}

#define KEY(name) " " name "=", sizeof(" " name "=") - 1

static void put_int(struct line_out *o, const char *key, size_t klen, int64_t v,
		    bool present)
{
	char num[24], *p = num + sizeof(num);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	*--p = '\0';
	if (present) {
		do
			*--p = (char)('0' + u % 10);
		while (u /= 10);
		if (v < 0)
			*--p = '-';
	}
	put_kv(o, key, klen, p);
}

/* ts=: the UTC second (the last one is kept: events come in bursts),
 * then the nanoseconds. */
static void put_ts(struct line_out *o, int64_t ns)
{
	static _Thread_local struct {
		bool set;
		time_t t;
		char s[24];
	} last;
	time_t t = (time_t)(ns / 1000000000LL);
	char ts[48];

	if (!last.set || last.t != t) {
		struct tm tm;

		last.s[0] = '\0';
		gmtime_r(&t, &tm);
		strftime(last.s, sizeof(last.s), "%Y-%m-%dT%H:%M:%S", &tm);
		last.t = t;
		last.set = true;
	}
	if (ns < 0) {
		snprintf(ts, sizeof(ts), "%s.%09lldZ", last.s,
			 (long long)(ns % 1000000000LL));
	} else {
		size_t len = strlen(last.s);
		int64_t frac = ns % 1000000000LL;

		memcpy(ts, last.s, len);
		ts[len] = '.';
		for (int i = 9; i >= 1; i--, frac /= 10)
			ts[len + (size_t)i] = (char)('0' + frac % 10);
		memcpy(ts + len + 10, "Z", 2);
	}
	put_kv(o, "ts=", 3, ts);
}

int dfs_audit_format(const struct dfs_audit_event *ev, char *buf, size_t cap)
{
	struct line_out o = { buf, cap, 0 };

	put_ts(&o, ev->ts);
	put_int(&o, KEY("seq"), ev->seq, true);
	put_kv(&o, KEY("actor"), ev->actor);
	put_int(&o, KEY("uid"), ev->uid, true);
	put_int(&o, KEY("pid"), ev->pid, true);
	put_kv(&o, KEY("cmd"), ev->cmd);
	put_kv(&o, KEY("action"), ev->action);
	put_kv(&o, KEY("env"), ev->env);
	put_kv(&o, KEY("component"), ev->component);
	put_kv(&o, KEY("version"), ev->version);
	put_kv(&o, KEY("from"), ev->from);
	put_int(&o, KEY("deployment"), ev->deployment, ev->deployment != 0);
	put_kv(&o, KEY("result"), ev->result);
	put_kv(&o, KEY("reason"), ev->reason);
	put(&o, "\n", 1);
	if (cap)
		buf[o.n < cap ? o.n : cap - 1] = '\0';
	return (int)o.n;
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
	sqlite3_stmt *s = NULL;
	int rc;

	rc = dfs_query_sql(st, sql_log_from, &s, "i", (int64_t)off);
	for (; rc == 1 && got < n; rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0) {
		struct dfs_audit_event ev;
		uint64_t loff = (uint64_t)sqlite3_column_int64(s, 15);
		size_t len, from;

		event_of(s, &ev);
		len = render(&ev, line);
		if (loff + len <= off + got)
			continue;
		from = off + got > loff ? (size_t)(off + got - loff) : 0;
		if (len - from > n - got)
			len = from + (n - got);
		memcpy(buf + got, line + from, len - from);
		got += len - from;
	}
	if (s)
		sqlite3_reset(s);
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
	if (st->reg_applying)
		sqlite3_bind_int64(s, 15, st->reg_applying);
	else
		sqlite3_bind_null(s, 15);
	rc = dfs_stmt_done(s, sqlite3_step(s));
	if (rc < 0)
		return rc;
	line = *ev;
	line.seq = dfs_last_rowid(st);
	if (st->reg_outbox) {
		rc = dfs_exec_sql(st, sql_outbox, "i", line.seq);
		if (rc < 0)
			return rc;
	}
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
	/* Refused for want of the registry: its trail gets it later. */
	st->reg_outbox = st->registry && rc == -EHOSTDOWN;
	if (dfs_audit_commit(st, a, &ev) < 0)
		dfs_log(DFS_LOG_ERR, "could not record a refusal: %s %s",
			action, reason);
	st->reg_outbox = false;
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

int dfs_audit_reg_seq(struct dfs_store *st, int64_t *ret)
{
	return dfs_query_int(st, sql_reg_seq, ret, "");
}
