// SPDX-License-Identifier: MIT
/*
 * db.c - the SQLite connection of a store: statements prepared once and
 * kept (keyed by the address of their constant SQL text), binding and
 * stepping in one call, SQLite's result codes as errno (here and
 * nowhere else), and the daemon's read transactions (reads share one
 * until a write or the tick ends it).  All of it runs with st->lock
 * held, but for dfs_sqlite_setup(), SQLite's process-wide settings.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "storage.h"

static bool setup_daemon;

/*
 * The daemon's page cache (DFS_CACHE_KIB) in one region mapped and
 * faulted in now.  Grown from malloc, it filled a page at a time as the
 * store grew: 2,000 small files copied into build/ on a new mount cost
 * 2,586 heap extensions (mprotect, which takes the process's mmap lock
 * for writing and so stalls the FUSE threads' device reads and writes)
 * and 2,890 page faults, 10 % of the daemon's profile; now 94 and 360.
 * Pages of another size, and any beyond the region, come from malloc.
 */
static void give_page_cache(void)
{
	int hdr = 0, sz, n;
	void *mem;

	if (sqlite3_config(SQLITE_CONFIG_PCACHE_HDRSZ, &hdr) != SQLITE_OK)
		return;
	sz = (DFS_PAGE_SIZE + hdr + 7) & ~7;
	n = (int)((int64_t)DFS_CACHE_KIB * 1024 / DFS_PAGE_SIZE);
	mem = mmap(NULL, (size_t)sz * (size_t)n, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED)
		return;
	if (sqlite3_config(SQLITE_CONFIG_PAGECACHE, mem, sz, n) != SQLITE_OK)
		(void)munmap(mem, (size_t)sz * (size_t)n);
}

/* SQLite's memory statistics take a global mutex at each allocation (8 %
 * of a first snapshot's time), and nothing here reads them. */
static void sqlite_setup_once(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (setup_daemon)
		give_page_cache();
}

void dfs_sqlite_setup(bool daemon)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	setup_daemon = daemon;
	(void)pthread_once(&once, sqlite_setup_once);
}

int dfs_sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE ||
		    rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return -EEXIST;
		return -EINVAL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_TOOBIG:
		return -E2BIG;
	default:
		return -EIO;
	}
}

int dfs_stmt_done(sqlite3_stmt *s, int rc)
{
	sqlite3_reset(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE || rc == SQLITE_OK)
		return 0;
	return dfs_sql_errno(sqlite3_extended_errcode(sqlite3_db_handle(s)));
}

int dfs_next(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	return rc == SQLITE_ROW ? 1 : dfs_stmt_done(s, rc);
}

int dfs_db_exec(struct dfs_store *st, const char *sql)
{
	int rc;

	dfs_db_read_end(st); /* a BEGIN, a write, a PRAGMA: by itself */
	rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK
		       ? 0
		       : dfs_sql_errno(sqlite3_extended_errcode(st->db));
}

int64_t dfs_last_rowid(struct dfs_store *st)
{
	return sqlite3_last_insert_rowid(st->db);
}

int dfs_changes(struct dfs_store *st)
{
	return sqlite3_changes(st->db);
}

/* Tell the background thread of new work, if it would not look soon
 * (st->lock held). */
void dfs_wake(struct dfs_store *st)
{
	if (st->idle)
		pthread_cond_signal(&st->wake);
}

/* ---- reads ---------------------------------------------------------------- */

static int control(struct dfs_store *st, const char *sql);

void dfs_db_read(struct dfs_store *st)
{
	if (st->txn_open || st->read_open || !st->read_hold)
		return;
	if (control(st, "BEGIN") != SQLITE_OK)
		return; /* the read runs by itself, as without */
	st->read_open = true;
	st->read_since = dfs_now_ns();
	dfs_wake(st);
}

void dfs_db_read_end(struct dfs_store *st)
{
	if (!st->read_open)
		return;
	st->read_open = false;
	/* Nothing was written in it: a failed COMMIT loses nothing. */
	if (control(st, "COMMIT") != SQLITE_OK) {
		dfs_log(DFS_LOG_WARN, "ending a read transaction: %s",
			sqlite3_errmsg(st->db));
		(void)control(st, "ROLLBACK");
	}
}

static size_t sql_slot(const char *sql)
{
	uint64_t h = (uint64_t)(uintptr_t)sql * 0x9E3779B97F4A7C15ull;

	return (size_t)(h >> 40) & (DFS_SQL_CACHE - 1);
}

/* A statement about to run: a read joins the read transaction,
 * a write outside a transaction runs by itself, as it always did. */
static sqlite3_stmt *about_to_run(struct dfs_store *st, sqlite3_stmt *s)
{
	if (st->read_hold && !st->txn_open) {
		if (sqlite3_stmt_readonly(s))
			dfs_db_read(st);
		else
			dfs_db_read_end(st);
	}
	return s;
}

/* The statement of the constant text sql, prepared at its first use. */
static sqlite3_stmt *kept(struct dfs_store *st, const char *sql)
{
	size_t i = sql_slot(sql);

	for (size_t n = 0; n < DFS_SQL_CACHE;
	     n++, i = (i + 1) & (DFS_SQL_CACHE - 1)) {
		if (st->sql_key[i] == sql)
			return st->sql_stmt[i];
		if (!st->sql_key[i])
			break;
	}
	if (st->sql_key[i])
		return NULL; /* full: raise DFS_SQL_CACHE */
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &st->sql_stmt[i], NULL) != SQLITE_OK) {
		dfs_log(DFS_LOG_ERR, "cannot prepare \"%.60s...\": %s", sql,
			sqlite3_errmsg(st->db));
		return NULL;
	}
	st->sql_key[i] = sql;
	return st->sql_stmt[i];
}

sqlite3_stmt *dfs_sql(struct dfs_store *st, const char *sql)
{
	sqlite3_stmt *s = kept(st, sql);

	return s ? about_to_run(st, s) : NULL;
}

/* A transaction's control statement (BEGIN, SAVEPOINT, RELEASE, COMMIT,
 * ROLLBACK), prepared once: parsed by sqlite3_exec at each call, they
 * took 2.5 % of the daemon's time in an untar.  An SQLite result code. */
static int control(struct dfs_store *st, const char *sql)
{
	sqlite3_stmt *s = kept(st, sql);
	int rc;

	if (!s)
		return sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int dfs_db_control(struct dfs_store *st, const char *sql)
{
	dfs_db_read_end(st); /* a BEGIN: by itself */
	return control(st, sql) == SQLITE_OK
		       ? 0
		       : dfs_sql_errno(sqlite3_extended_errcode(st->db));
}

/* The values bound to a statement that writes, kept for the close log
 * while it follows the transaction: redo.c's trace writes them when the
 * statement starts (cheaper than SQLite's expansion, which prints a blob
 * a byte at a time).  The encoding is redo.c's ('i', 'b', 'n'). */
static bool keep_begin(struct dfs_store *st, sqlite3_stmt *s)
{
	struct dfs_redo *r = &st->redo;

	if (r->fd < 0 || !st->txn_open || st->txn_whole || r->broken ||
	    sqlite3_stmt_readonly(s))
		return false;
	r->bound = s;
	r->params.len = 0;
	return true;
}

static void param_put(struct dfs_redo *r, const void *p, size_t n)
{
	if (dfs_bytes_put(&r->params, p, n) < 0)
		r->broken = true;
}

static void keep_int(struct dfs_store *st, int64_t v)
{
	param_put(&st->redo, "i", 1);
	param_put(&st->redo, &v, sizeof(v));
}

static void keep_blob(struct dfs_store *st, const void *p, size_t n)
{
	uint32_t len = (uint32_t)n;

	if (!p) {
		param_put(&st->redo, "n", 1);
		return;
	}
	param_put(&st->redo, "b", 1);
	param_put(&st->redo, &len, sizeof(len));
	param_put(&st->redo, p, n);
}

/* Bind fmt's values (and keep them for the close log). */
static int bindv(struct dfs_store *st, sqlite3_stmt *s, const char *fmt,
		 va_list ap)
{
	bool keep = keep_begin(st, s);
	int i = 1, rc = SQLITE_OK;

	for (const char *f = fmt; *f && rc == SQLITE_OK; f++, i++) {
		const void *p = NULL;
		size_t n = 0;

		switch (*f) {
		case 'i': {
			int64_t v = va_arg(ap, int64_t);

			rc = sqlite3_bind_int64(s, i, v);
			if (keep)
				keep_int(st, v);
			continue;
		}
		case 's':
			p = va_arg(ap, const char *);
			n = p ? strlen(p) : 0;
			break;
		case 'h':
			p = va_arg(ap, const struct dfs_hash *)->b;
			n = DFS_HASH_LEN;
			break;
		case 'x':
			p = va_arg(ap, const void *);
			n = va_arg(ap, size_t);
			break;
		default:
			break;
		}
		rc = p ? sqlite3_bind_blob(s, i, p, (int)n, SQLITE_TRANSIENT)
		       : sqlite3_bind_null(s, i);
		if (keep)
			keep_blob(st, p, n);
	}
	return rc == SQLITE_OK ? 0 : -EINVAL;
}

static int exec_v(struct dfs_store *st, sqlite3_stmt *s, const char *fmt,
		  va_list ap)
{
	int rc;

	if (!s)
		return -EIO;
	rc = bindv(st, s, fmt, ap);
	if (rc < 0) {
		sqlite3_reset(s);
		return rc;
	}
	return dfs_stmt_done(s, sqlite3_step(s));
}

static int query_v(struct dfs_store *st, sqlite3_stmt *s, sqlite3_stmt **ret,
		   const char *fmt, va_list ap)
{
	int rc;

	if (!s)
		return -EIO;
	rc = bindv(st, s, fmt, ap);
	if (rc < 0) {
		sqlite3_reset(s);
		return rc;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ret = s;
		return 1;
	}
	return dfs_stmt_done(s, rc);
}

int dfs_exec_sql(struct dfs_store *st, const char *sql, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = exec_v(st, dfs_sql(st, sql), fmt, ap);
	va_end(ap);
	return rc;
}

int dfs_query_sql(struct dfs_store *st, const char *sql, sqlite3_stmt **ret,
		  const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = query_v(st, dfs_sql(st, sql), ret, fmt, ap);
	va_end(ap);
	return rc;
}

int dfs_query_int(struct dfs_store *st, const char *sql, int64_t *ret,
		  const char *fmt, ...)
{
	sqlite3_stmt *s = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = query_v(st, dfs_sql(st, sql), &s, fmt, ap);
	va_end(ap);
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	if (sqlite3_column_type(s, 0) == SQLITE_NULL)
		rc = -ENOENT;
	else
		*ret = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc < 0 ? rc : 0;
}

void dfs_sql_msg_append(char *buf, size_t cap, const char *text)
{
	size_t len = strnlen(buf, cap);

	if (!cap || len + 1 >= cap)
		return;
	if (len) {
		if (len + 3 >= cap)
			return;
		buf[len++] = ';';
		buf[len++] = ' ';
	}
	if (strncmp(text, "*** ", 4) == 0 && strchr(text, '\n'))
		text = strchr(text, '\n') + 1; /* "*** in database main ***" */
	for (; *text && len + 1 < cap; text++)
		buf[len++] = *text == '\n' || *text == '\t' ? ' ' : *text;
	buf[len] = '\0';
}

void dfs_col_text(sqlite3_stmt *s, int col, char *buf, size_t cap)
{
	const void *p = sqlite3_column_blob(s, col);
	int len = sqlite3_column_bytes(s, col);

	if (!cap)
		return;
	if (!p || len < 0)
		len = 0;
	if ((size_t)len >= cap)
		len = (int)cap - 1;
	if (len)
		memcpy(buf, p, (size_t)len);
	buf[len] = '\0';
}

/* ---- what the build tree's rows went through ----------------------------- */

/* A row of the build tree (inodes, dirents) written, or a component
 * made or deleted, on this connection.  A component's other updates
 * (its revision, when it last changed, its folder) follow a change of
 * those rows or are the snapshot's own, so they do not count. */
static void row_changed(void *arg, int op, const char *db, const char *table,
			sqlite3_int64 rowid)
{
	struct dfs_store *st = arg;

	(void)rowid;
	if (strcmp(db, "main") == 0 &&
	    (strcmp(table, "inodes") == 0 || strcmp(table, "dirents") == 0 ||
	     (op != SQLITE_UPDATE && strcmp(table, "components") == 0)))
		st->tree_gen++;
}

void dfs_db_watch_tree(struct dfs_store *st)
{
	sqlite3_update_hook(st->db, row_changed, st);
}

static const char sql_data_version[] = "PRAGMA data_version";

int dfs_db_tree_version(struct dfs_store *st, struct dfs_tree_version *ret)
{
	int rc = dfs_query_int(st, sql_data_version, &ret->data_version, "");

	ret->gen = st->tree_gen;
	return rc;
}

void dfs_db_close(struct dfs_store *st)
{
	if (st->db)
		dfs_db_read_end(st);
	for (int i = 0; i < DFS_SQL_CACHE; i++)
		sqlite3_finalize(st->sql_stmt[i]);
	memset(st->sql_key, 0, sizeof(st->sql_key));
	memset(st->sql_stmt, 0, sizeof(st->sql_stmt));
	if (st->db)
		sqlite3_close(st->db);
	st->db = NULL;
}
