// SPDX-License-Identifier: MIT
/*
 * retention.c - which packages stay: a package kept (deployctl package
 * keep NAME@V) is never pruned and not removed (EPERM until unkept), and
 * prune (deployctl prune [NAME] --keep N) soft-removes, as package remove
 * does, all but the newest N packages of a component (newest: most
 * recently packaged, as `latest`), never one deployed anywhere or being
 * copied into an environment, kept, or packaged less than the minimum
 * age ago.  A prune is one durable transaction with one package-remove
 * audit line per package it removes; st->lock is held, so a deploy is
 * either before it (and the package stays) or after it (and finds the
 * package removed).  Keeping, unkeeping and refusals are recorded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const char sql_find[] =
	"SELECT id FROM packages WHERE component = ?1 AND version = ?2"
	" AND removed = 0";
static const char sql_set_kept[] =
	"UPDATE packages SET kept = ?2 WHERE id = ?1";
/* Newest first per component; where each is deployed or copied to. */
static const char sql_candidates[] =
	"SELECT p.id, p.component, c.name, p.version, p.created, p.kept,"
	" (SELECT e.name FROM deployments d JOIN envs e ON e.id = d.env"
	"  WHERE d.package = p.id AND d.active = 1 ORDER BY e.name LIMIT 1),"
	" (SELECT e.name FROM staging g JOIN envs e ON e.id = g.env"
	"  WHERE g.package = p.id ORDER BY e.name LIMIT 1)"
	" FROM packages p JOIN components c ON c.id = p.component"
	" WHERE p.removed = 0 AND (?1 = 0 OR p.component = ?1)"
	" ORDER BY p.component, p.id DESC";
static const char sql_remove[] =
	"UPDATE packages SET removed = ?2 WHERE id = ?1 AND removed = 0";

int dfs_pkg_set_keep(struct dfs_store *st, const struct dfs_actor *actor,
		     int64_t comp, const char *version, bool keep)
{
	const char *act = keep ? "package-keep" : "package-unkeep";
	struct dfs_component c;
	char why[2 * DFS_NAME_MAX + 64] = "";
	int64_t id = 0;
	int rc = dfs_component_by_id(st, comp, &c);

	if (rc < 0)
		return rc;
	if (!dfs_version_valid(version)) {
		snprintf(why, sizeof(why), "\"%s\" is not a valid version",
			 version);
		rc = -EINVAL;
	} else {
		rc = dfs_query_int(st, sql_find, &id, "is", c.id, version);
		if (rc == -ENOENT)
			snprintf(why, sizeof(why), "%s has no version %s",
				 c.name, version);
	}
	if (rc < 0) {
		if (why[0])
			dfs_audit_refuse(st, actor, act, NULL, c.name, version,
					 rc, why);
		return rc;
	}
	rc = dfs_db_begin(st);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_set_kept, "ii", id,
				  keep ? dfs_now_ns() : 0);
	return dfs_audit_act(st, actor,
			     &(struct dfs_audit_event){ .action = act,
							.component = c.name,
							.version = version,
							.result = "ok" },
			     rc);
}

/* ---- prune ---------------------------------------------------------------- */

struct victim {
	int64_t id;
	int64_t comp;
	char component[DFS_NAME_MAX + 1];
	char version[DFS_LABEL_MAX + 1];
};

struct plan {
	struct victim *v;
	size_t n;
	size_t cap;
};

static int plan_add(struct plan *p, const struct victim *v)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct victim *nv = realloc(p->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		p->v = nv;
		p->cap = cap;
	}
	p->v[p->n++] = *v;
	return 0;
}

/* Why the package in row s stays, into why; "" when it goes. */
static void stays_why(sqlite3_stmt *s, int64_t rank, int64_t keep,
		      int64_t young_after, char *why, size_t cap)
{
	const char *env = (const char *)sqlite3_column_text(s, 6);
	const char *copy = (const char *)sqlite3_column_text(s, 7);

	if (rank < keep)
		snprintf(why, cap, "among the newest %lld", (long long)keep);
	else if (env)
		snprintf(why, cap, "deployed in %s", env);
	else if (copy)
		snprintf(why, cap, "a copy is in progress in %s", copy);
	else if (sqlite3_column_int64(s, 5))
		snprintf(why, cap, "kept (deployctl package unkeep)");
	else if (sqlite3_column_int64(s, 4) > young_after)
		snprintf(why, cap, "younger than the minimum age");
	else
		why[0] = '\0';
}

/* Decide, newest first per component; victims into p. */
static int decide(struct dfs_store *st, int64_t comp, int64_t keep,
		  int64_t min_age_ns, dfs_prune_fn fn, void *ctx,
		  struct plan *p)
{
	const int64_t young_after = dfs_now_ns() - min_age_ns;
	int64_t last = -1, rank = 0;
	sqlite3_stmt *s = NULL;
	char why[DFS_NAME_MAX + 64];
	struct victim v;
	int rc = dfs_query_sql(st, sql_candidates, &s, "i", comp);

	while (rc > 0) {
		v.id = sqlite3_column_int64(s, 0);
		v.comp = sqlite3_column_int64(s, 1);
		dfs_col_text(s, 2, v.component, sizeof(v.component));
		dfs_col_text(s, 3, v.version, sizeof(v.version));
		rank = v.comp == last ? rank + 1 : 0;
		last = v.comp;
		stays_why(s, rank, keep, young_after, why, sizeof(why));
		if (fn)
			fn(ctx, v.component, v.version, why[0] ? why : NULL);
		if (!why[0] && plan_add(p, &v) < 0) {
			sqlite3_reset(s);
			return -ENOMEM;
		}
		rc = dfs_next(s);
	}
	return rc;
}

/* Remove every victim of p and record each; one transaction. */
static int remove_all(struct dfs_store *st, const struct dfs_actor *actor,
		      const struct plan *p, int64_t keep, int64_t min_age_ns)
{
	struct dfs_audit_event ev = { 0 };
	char reason[160];
	int64_t now = dfs_now_ns();
	int rc = dfs_db_begin_whole(st);

	snprintf(reason, sizeof(reason),
		 "pruned: not among the newest %lld, not deployed, not kept, "
		 "packaged more than %llds ago",
		 (long long)keep, (long long)(min_age_ns / 1000000000));
	ev.action = "package-remove";
	ev.result = "ok";
	ev.reason = reason;
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		struct dfs_pkg gone;

		if (dfs_pkg_by_id(st, p->v[i].id, &gone) == 0)
			dfs_pkg_notice_gone(st, &gone);
		rc = dfs_exec_sql(st, sql_remove, "ii", p->v[i].id, now);
		if (rc == 0 && dfs_changes(st) != 1)
			rc = -EAGAIN; /* cannot be: st->lock is held */
		if (rc == 0)
			rc = dfs_component_changed(st, p->v[i].comp, now);
		ev.component = p->v[i].component;
		ev.version = p->v[i].version;
		if (rc == 0)
			rc = dfs_audit_record_in(st, actor, &ev);
	}
	if (rc == 0)
		return dfs_db_commit(st, true);
	dfs_db_rollback(st);
	return rc;
}

/* The victims another host decided on (the registry's prune): "N@V"
 * lines; one not here (or removed already) is left out. */
static int listed(struct dfs_store *st, const char *only, struct plan *p)
{
	char line[DFS_NAME_MAX + DFS_LABEL_MAX + 2];
	int rc = 0;

	for (const char *at = only; rc == 0 && *at;) {
		size_t n = strcspn(at, "\n");
		char *sep;
		struct victim v = { 0 };
		struct dfs_pkg pkg;

		snprintf(line, sizeof(line), "%.*s", (int)n, at);
		at += n + (at[n] == '\n');
		sep = strchr(line, '@');
		if (!sep)
			continue;
		*sep = '\0';
		if (dfs_pkg_by_version(st, line, sep + 1, &pkg) < 0)
			continue;
		v.id = pkg.id;
		v.comp = pkg.comp;
		snprintf(v.component, sizeof(v.component), "%.*s",
			 (int)sizeof(v.component) - 1, line);
		snprintf(v.version, sizeof(v.version), "%.*s",
			 (int)sizeof(v.version) - 1, sep + 1);
		rc = plan_add(p, &v);
	}
	return rc;
}

int dfs_pkg_prune(struct dfs_store *st, const struct dfs_actor *actor,
		  int64_t comp, int64_t keep, int64_t min_age_ns, bool dry,
		  const char *only, dfs_prune_fn fn, void *ctx,
		  int64_t *ret_removed)
{
	struct plan p = { 0 };
	int rc;

	if (keep < 0 || min_age_ns < 0)
		return -EINVAL;
	rc = only ? listed(st, only, &p)
		  : decide(st, comp, keep, min_age_ns, fn, ctx, &p);
	if (rc == 0 && !dry && p.n)
		rc = remove_all(st, actor, &p, keep, min_age_ns);
	if (rc < 0)
		dfs_log(DFS_LOG_ERR,
			"prune failed: %s component=%lld keep=%lld",
			strerror(-rc), (long long)comp, (long long)keep);
	if (rc == 0)
		*ret_removed = (int64_t)p.n;
	free(p.v);
	return rc;
}
