// SPDX-License-Identifier: MIT
/*
 * report.c - what deployctl reports: environments, deployments (active and
 * past), copies in progress, unmet requirements and the audit trail as
 * JSON.
 *
 * Each report reads a page of rows at a time under st->lock, copies it,
 * lets go of the lock and only then calls the caller's function: so a
 * callback may call back into the store, and never sees a statement that
 * moved on.  Pages continue after the last row seen (keyset paging), so
 * rows added or removed meanwhile do not shift the others.
 *
 * Names are compared as text: some are stored as blobs (see dfs_bindv()).
 * An empty filter string means "no filter" (no name is empty).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define PAGE_ROWS 128
#define PAGE_LIMIT " LIMIT " DFS_STR(PAGE_ROWS)
#define ROW_COLS 12

/* One row copied out of a statement: each column as a number and, when
 * it is text or a blob, as a string (NULL for SQL NULL and numbers). */
struct row {
	char *text[ROW_COLS];
	int64_t num[ROW_COLS];
};

struct page {
	int n;
	struct row row[PAGE_ROWS];
};

static void page_clear(struct page *p)
{
	for (int i = 0; i < p->n; i++)
		for (int c = 0; c < ROW_COLS; c++)
			free(p->row[i].text[c]);
	memset(p, 0, sizeof(*p));
}

static int row_copy(sqlite3_stmt *s, struct row *r)
{
	int cols = sqlite3_column_count(s);

	if (cols > ROW_COLS)
		return -EINVAL;
	for (int c = 0; c < cols; c++) {
		int type = sqlite3_column_type(s, c);
		const char *t;

		r->num[c] = sqlite3_column_int64(s, c);
		if (type != SQLITE_TEXT && type != SQLITE_BLOB)
			continue;
		t = (const char *)sqlite3_column_text(s, c);
		r->text[c] = strdup(t ? t : "");
		if (!r->text[c])
			return -ENOMEM;
	}
	return 0;
}

/*
 * Copy the rows of s into p (rc: what dfs_query_sql() returned for it,
 * 1 when s is on its first row), at most a page; resets s.  Returns 0 or
 * -errno (p holds what was copied, for page_clear()).
 */
static int page_fill(sqlite3_stmt *s, int rc, struct page *p)
{
	if (rc <= 0)
		return rc;
	rc = SQLITE_ROW;
	while (rc == SQLITE_ROW && p->n < PAGE_ROWS) {
		int err = row_copy(s, &p->row[p->n++]);

		if (err < 0) {
			sqlite3_reset(s);
			return err;
		}
		rc = sqlite3_step(s);
	}
	return dfs_stmt_done(s, rc);
}

static const char *filter(const char *s)
{
	return s ? s : "";
}

/* ---- environments -------------------------------------------------------- */

static const char sql_envs[] =
	"SELECT CAST(name AS TEXT) AS n, CAST(classification AS TEXT),"
	" CAST(created_by AS TEXT), created, mode, uid, gid"
	" FROM envs WHERE removed = 0 AND n > CAST(?1 AS TEXT)"
	" ORDER BY n" PAGE_LIMIT;

int dfs_envs_each(struct dfs_store *st, dfs_env_fn fn, void *ctx)
{
	char after[DFS_NAME_MAX + 1] = "";
	struct page *p = calloc(1, sizeof(*p));
	int rc = p ? 0 : -ENOMEM, stop = 0, full = 1;

	while (rc == 0 && !stop && full) {
		sqlite3_stmt *s = NULL;

		pthread_mutex_lock(&st->lock);
		rc = dfs_query_sql(st, sql_envs, &s, "s", after);
		rc = page_fill(s, rc, p);
		pthread_mutex_unlock(&st->lock);
		full = p->n == PAGE_ROWS;
		for (int i = 0; rc == 0 && i < p->n && !stop; i++) {
			const struct row *r = &p->row[i];
			struct dfs_env_info e = {
				.name = r->text[0] ? r->text[0] : "",
				.classification = r->text[1],
				.created_by = r->text[2] ? r->text[2] : "",
				.created = r->num[3],
				.mode = (uint32_t)r->num[4],
				.uid = (uint32_t)r->num[5],
				.gid = (uint32_t)r->num[6],
			};

			stop = fn(ctx, &e);
		}
		if (rc == 0 && p->n)
			snprintf(after, sizeof(after), "%s",
				 filter(p->row[p->n - 1].text[0]));
		page_clear(p);
	}
	free(p);
	return rc;
}

/* ---- deployments ----------------------------------------------------------- */

static const char sql_deployments[] =
	"SELECT CAST(e.name AS TEXT) AS en, CAST(c.name AS TEXT) AS cn,"
	" coalesce(CAST(p.version AS TEXT), CAST(d.version AS TEXT)),"
	" CAST(d.created_by AS TEXT),"
	" CAST(d.via AS TEXT), CAST(d.notes AS TEXT), CAST(d.warning AS TEXT),"
	" d.number, d.created, d.ended, d.uid, d.active"
	" FROM deployments d JOIN envs e ON e.id = d.env AND e.removed = 0"
	" JOIN components c ON c.id = d.component"
	/* the history outlives a removed package re-made with its version */
	" LEFT JOIN packages p ON p.id = d.package"
	" WHERE (length(?1) = 0 OR en = CAST(?1 AS TEXT))"
	" AND (?2 = 0 OR d.active = 1)"
	" AND (en, cn, d.number) > (CAST(?3 AS TEXT), CAST(?4 AS TEXT), ?5)"
	" ORDER BY en, cn, d.number" PAGE_LIMIT;

static void deployment_from_row(const struct row *r,
				struct dfs_deployment_info *d)
{
	*d = (struct dfs_deployment_info){
		.env = r->text[0] ? r->text[0] : "",
		.component = r->text[1] ? r->text[1] : "",
		.version = r->text[2] ? r->text[2] : "",
		.created_by = r->text[3] ? r->text[3] : "",
		.via = r->text[4] ? r->text[4] : "",
		.notes = r->text[5],
		.warning = r->text[6],
		.number = r->num[7],
		.created = r->num[8],
		.ended = r->num[9],
		.uid = r->num[10],
		.active = r->num[11] != 0,
	};
}

/* The position after row r: its environment, component and number. */
struct dep_key {
	char env[DFS_NAME_MAX + 1];
	char comp[DFS_NAME_MAX + 1];
	int64_t number;
};

int dfs_deployments_each(struct dfs_store *st, const char *env,
			 bool active_only, dfs_deployment_fn fn, void *ctx)
{
	struct dep_key k = { "", "", 0 };
	struct page *p = calloc(1, sizeof(*p));
	int rc = p ? 0 : -ENOMEM, stop = 0, full = 1;

	while (rc == 0 && !stop && full) {
		sqlite3_stmt *s = NULL;

		pthread_mutex_lock(&st->lock);
		rc = dfs_query_sql(st, sql_deployments, &s, "sissi",
				   filter(env), (int64_t)active_only, k.env,
				   k.comp, k.number);
		rc = page_fill(s, rc, p);
		pthread_mutex_unlock(&st->lock);
		full = p->n == PAGE_ROWS;
		for (int i = 0; rc == 0 && i < p->n && !stop; i++) {
			struct dfs_deployment_info d;

			deployment_from_row(&p->row[i], &d);
			stop = fn(ctx, &d);
		}
		if (rc == 0 && p->n) {
			const struct row *r = &p->row[p->n - 1];

			snprintf(k.env, sizeof(k.env), "%s",
				 filter(r->text[0]));
			snprintf(k.comp, sizeof(k.comp), "%s",
				 filter(r->text[1]));
			k.number = r->num[7];
		}
		page_clear(p);
	}
	free(p);
	return rc;
}

/* ---- copies in progress ---------------------------------------------------- */

static const char sql_staging[] =
	"SELECT CAST(e.name AS TEXT) AS en, CAST(c.name AS TEXT),"
	" CAST(p.version AS TEXT), CAST(s.started_by AS TEXT), s.started,"
	" s.entries, s.done, s.id"
	" FROM staging s JOIN envs e ON e.id = s.env AND e.removed = 0"
	" JOIN packages p ON p.id = s.package"
	" JOIN components c ON c.id = p.component"
	" WHERE (length(?1) = 0 OR en = CAST(?1 AS TEXT))"
	" AND (en, s.id) > (CAST(?2 AS TEXT), ?3)"
	" ORDER BY en, s.id" PAGE_LIMIT;

int dfs_staging_each(struct dfs_store *st, const char *env, dfs_staging_fn fn,
		     void *ctx)
{
	char after[DFS_NAME_MAX + 1] = "";
	int64_t after_id = 0;
	struct page *p = calloc(1, sizeof(*p));
	int rc = p ? 0 : -ENOMEM, stop = 0, full = 1;

	while (rc == 0 && !stop && full) {
		sqlite3_stmt *s = NULL;

		pthread_mutex_lock(&st->lock);
		rc = dfs_query_sql(st, sql_staging, &s, "ssi", filter(env),
				   after, after_id);
		rc = page_fill(s, rc, p);
		pthread_mutex_unlock(&st->lock);
		full = p->n == PAGE_ROWS;
		for (int i = 0; rc == 0 && i < p->n && !stop; i++) {
			const struct row *r = &p->row[i];
			struct dfs_staging_info si = {
				.env = filter(r->text[0]),
				.component = filter(r->text[1]),
				.version = filter(r->text[2]),
				.started_by = filter(r->text[3]),
				.started = r->num[4],
				.entries = r->num[5],
				.done = r->num[6],
			};

			stop = fn(ctx, &si);
		}
		if (rc == 0 && p->n) {
			const struct row *r = &p->row[p->n - 1];

			snprintf(after, sizeof(after), "%s",
				 filter(r->text[0]));
			after_id = r->num[7];
		}
		page_clear(p);
	}
	free(p);
	return rc;
}

/* ---- unmet requirements ---------------------------------------------------- */

/*
 * Each element of an active deployment's packages.requires is "TYPE/NAME";
 * it is unmet when no component NAME is deployed in the same environment.
 * A requires column that is not valid JSON counts as no requirement.
 */
static const char sql_unmet[] =
	"SELECT en, cn, ver, req FROM ("
	" SELECT CAST(e.name AS TEXT) AS en, CAST(c.name AS TEXT) AS cn,"
	"  CAST(p.version AS TEXT) AS ver, CAST(j.value AS TEXT) AS req,"
	"  d.env AS eid"
	" FROM deployments d JOIN envs e ON e.id = d.env AND e.removed = 0"
	" JOIN components c ON c.id = d.component"
	" JOIN packages p ON p.id = d.package,"
	" json_each(CASE WHEN json_valid(CAST(p.requires AS TEXT))"
	"  THEN CAST(p.requires AS TEXT) ELSE '[]' END) j"
	" WHERE d.active = 1 AND (length(?1) = 0 OR en = CAST(?1 AS TEXT)))"
	" WHERE NOT EXISTS (SELECT 1 FROM deployments d2"
	"  JOIN components c2 ON c2.id = d2.component"
	"  WHERE d2.env = eid AND d2.active = 1"
	"  AND CAST(c2.name AS TEXT) = substr(req, instr(req, '/') + 1))"
	" AND (en, cn, req) > (CAST(?2 AS TEXT), CAST(?3 AS TEXT),"
	"  CAST(?4 AS TEXT))"
	" ORDER BY en, cn, req" PAGE_LIMIT;

struct unmet_key {
	char env[DFS_NAME_MAX + 1];
	char comp[DFS_NAME_MAX + 1];
	char req[DFS_NAME_MAX + 40];
};

int dfs_unmet_each(struct dfs_store *st, const char *env, dfs_unmet_fn fn,
		   void *ctx)
{
	struct unmet_key k = { "", "", "" };
	struct page *p = calloc(1, sizeof(*p));
	int rc = p ? 0 : -ENOMEM, stop = 0, full = 1;

	while (rc == 0 && !stop && full) {
		sqlite3_stmt *s = NULL;

		pthread_mutex_lock(&st->lock);
		rc = dfs_query_sql(st, sql_unmet, &s, "ssss", filter(env),
				   k.env, k.comp, k.req);
		rc = page_fill(s, rc, p);
		pthread_mutex_unlock(&st->lock);
		full = p->n == PAGE_ROWS;
		for (int i = 0; rc == 0 && i < p->n && !stop; i++) {
			const struct row *r = &p->row[i];
			struct dfs_unmet_info u = {
				.env = filter(r->text[0]),
				.component = filter(r->text[1]),
				.version = filter(r->text[2]),
				.requires = filter(r->text[3]),
			};

			stop = fn(ctx, &u);
		}
		if (rc == 0 && p->n) {
			const struct row *r = &p->row[p->n - 1];

			snprintf(k.env, sizeof(k.env), "%s",
				 filter(r->text[0]));
			snprintf(k.comp, sizeof(k.comp), "%s",
				 filter(r->text[1]));
			snprintf(k.req, sizeof(k.req), "%s",
				 filter(r->text[3]));
		}
		page_clear(p);
	}
	free(p);
	return rc;
}

/* ---- the audit trail as JSON ----------------------------------------------- */

/* ts: ISO 8601 UTC with nanoseconds, as audit.log shows it. */
static const char sql_audit_json[] =
	"SELECT seq, json_object("
	" 'ts', strftime('%Y-%m-%dT%H:%M:%S', ts / 1000000000, 'unixepoch')"
	"  || printf('.%09dZ', ts % 1000000000),"
	" 'seq', seq, 'actor', CAST(actor AS TEXT), 'uid', uid, 'pid', pid,"
	" 'cmd', CAST(cmd AS TEXT), 'action', CAST(action AS TEXT),"
	" 'env', CAST(env AS TEXT), 'component', CAST(component AS TEXT),"
	" 'version', CAST(version AS TEXT),"
	" 'from', CAST(from_version AS TEXT), 'deployment', deployment,"
	" 'result', CAST(result AS TEXT), 'reason', CAST(reason AS TEXT))"
	" FROM audit WHERE seq > ?1"
	" AND (length(?2) = 0 OR CAST(env AS TEXT) = CAST(?2 AS TEXT))"
	" AND (length(?3) = 0 OR CAST(component AS TEXT) = CAST(?3 AS TEXT))"
	" AND ts >= ?4 ORDER BY seq" PAGE_LIMIT;

int dfs_audit_json_each(struct dfs_store *st, const char *env,
			const char *component, int64_t since, dfs_json_fn fn,
			void *ctx)
{
	struct page *p = calloc(1, sizeof(*p));
	int rc = p ? 0 : -ENOMEM, stop = 0, full = 1;
	int64_t after = 0;

	while (rc == 0 && !stop && full) {
		sqlite3_stmt *s = NULL;

		pthread_mutex_lock(&st->lock);
		rc = dfs_query_sql(st, sql_audit_json, &s, "issi", after,
				   filter(env), filter(component), since);
		rc = page_fill(s, rc, p);
		pthread_mutex_unlock(&st->lock);
		full = p->n == PAGE_ROWS;
		for (int i = 0; rc == 0 && i < p->n && !stop; i++)
			if (p->row[i].text[1])
				stop = fn(ctx, p->row[i].text[1]);
		if (rc == 0 && p->n)
			after = p->row[p->n - 1].num[0];
		page_clear(p);
	}
	free(p);
	return rc;
}
