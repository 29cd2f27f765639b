// SPDX-License-Identifier: MIT
/*
 * rows.c - lists of (id, name) collected from rows before anything is
 * done with them (the caller may run other statements on each).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int dfs_idnames_add(struct dfs_idnames *l, int64_t id, const char *name)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		void *nv = realloc(l->v, cap * sizeof(*l->v));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n].id = id;
	strncpy(l->v[l->n].name, name, DFS_NAME_MAX);
	l->v[l->n].name[DFS_NAME_MAX] = '\0';
	l->n++;
	return 0;
}

void dfs_idnames_free(struct dfs_idnames *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int dfs_idnames_query(struct dfs_store *st, const char *sql, const char *fmt,
		      int64_t a, int64_t b, struct dfs_idnames *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql, &s, fmt, a, b);

	return dfs_idnames_collect(s, rc, ret);
}

int dfs_idnames_collect(sqlite3_stmt *s, int rc, struct dfs_idnames *ret)
{
	for (; rc == 1; rc = dfs_next(s)) {
		char name[DFS_NAME_MAX + 1];

		if (sqlite3_column_bytes(s, 1) > DFS_NAME_MAX)
			continue;
		dfs_col_text(s, 1, name, sizeof(name));
		rc = dfs_idnames_add(ret, sqlite3_column_int64(s, 0), name);
		if (rc < 0) {
			sqlite3_reset(s);
			break;
		}
	}
	return rc < 0 ? rc : 0;
}
