// SPDX-License-Identifier: MIT
/*
 * test_report.c - unit tests of the reports deployctl prints
 * (store/report.c): environments, deployments active and past, copies in
 * progress, unmet requirements and the audit trail as JSON, with their
 * filters; callbacks that stop early or call back into the store; reports
 * longer than a page; a store whose requires column is not JSON.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deployfs/store.h"
#include "fixture.h"

static struct dfs_fixture fx;

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)

static void setup(void)
{
	dfs_fixture_setup(&fx, "report", OPEN_FLAGS);
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(report, .init = setup, .fini = teardown, .timeout = 120);

/* ---- building a store ---------------------------------------------------- */

static void package(const char *comp, const char *version)
{
	char name[128];
	struct dfs_attr d, a;
	int rc;

	snprintf(name, sizeof(name), "%s@%s", comp, version);
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_PACKAGES, comp, &d), 0,
		     "packages/%s", comp);
	rc = dfs_node_mkdir(fx.st, &fx.me, d.ino, name, 0755, &a);
	cr_assert_eq(rc, 0, "packaging %s: %s", name, strerror(-rc));
}

/*
 * build/certificate/c (a file) and build/process/p, which requires c
 * (a link to it): packages p@1, p@2 and c@1.
 */
static void packages(void)
{
	uint64_t c = dfs_fixture_component(&fx, "certificate", "c"), p;

	dfs_fixture_put_text(&fx, c, "cert.pem", "-----BEGIN-----");
	p = dfs_fixture_component(&fx, "process", "p");
	dfs_fixture_put_text(&fx, p, "process.xml", "<process/>");
	dfs_fixture_symlink(&fx, p, "cert", "../../certificate/c");
	package("p", "1");
	package("p", "2");
	package("c", "1");
}

static uint64_t env(const char *name)
{
	return dfs_fixture_mkdir(&fx, DFS_INO_ENVIRONMENTS, name, 0755);
}

/* Check the fixture, make packages() and the environment test; returns
 * test. */
static uint64_t test_with_packages(void)
{
	FIXTURE_OK();
	packages();
	return env("test");
}

/* Deploy comp@version to the environment env_ino, as ln -s does. */
static void deploy(uint64_t env_ino, const char *comp, const char *version)
{
	char target[256];

	snprintf(target, sizeof(target), "../../packages/%s/%s@%s", comp, comp,
		 version);
	dfs_fixture_symlink(&fx, env_ino, comp, target);
}

/* ---- what the reports return --------------------------------------------- */

/* Rows of a report as text, one "a b c;" per row; stop after max. */
struct rows {
	char s[4096];
	int n, max;
};

static int add(struct rows *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int add(struct rows *r, const char *fmt, ...)
{
	size_t len = strlen(r->s);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->s + len, sizeof(r->s) - len, fmt, ap);
	va_end(ap);
	len = strlen(r->s);
	snprintf(r->s + len, sizeof(r->s) - len, ";");
	r->n++;
	return r->max && r->n == r->max;
}

static int env_row(void *ctx, const struct dfs_env_info *e)
{
	return add(ctx, "%s %o %s", e->name, e->mode & 07777,
		   e->classification ? e->classification : "-");
}

static int deployment_row(void *ctx, const struct dfs_deployment_info *d)
{
	cr_assert_eq(d->active, d->ended == 0,
		     "%s/%s #%lld: active %d, ended %lld", d->env, d->component,
		     (long long)d->number, d->active, (long long)d->ended);
	cr_assert_gt(d->created, 0);
	cr_assert(d->created_by && *d->created_by);
	return add(ctx, "%s %s@%s #%lld %s %s", d->env, d->component,
		   d->version, (long long)d->number,
		   d->active ? "active" : "ended", d->via);
}

static int staging_row(void *ctx, const struct dfs_staging_info *s)
{
	return add(ctx, "%s %s@%s %lld/%lld", s->env, s->component, s->version,
		   (long long)s->done, (long long)s->entries);
}

static int unmet_row(void *ctx, const struct dfs_unmet_info *u)
{
	return add(ctx, "%s %s@%s %s", u->env, u->component, u->version,
		   u->requires);
}

static struct rows envs(void)
{
	struct rows r = { 0 };

	cr_assert_eq(dfs_envs_each(fx.st, env_row, &r), 0);
	return r;
}

static struct rows deployments(const char *in, bool active_only)
{
	struct rows r = { 0 };

	cr_assert_eq(dfs_deployments_each(fx.st, in, active_only,
					  deployment_row, &r),
		     0);
	return r;
}

static struct rows unmet(const char *in)
{
	struct rows r = { 0 };

	cr_assert_eq(dfs_unmet_each(fx.st, in, unmet_row, &r), 0);
	return r;
}

/* ---- JSON, read back with SQLite's own JSON functions ------------------- */

struct json_lines {
	int n;
	char last[2048];
	int64_t last_seq;
	bool ascending;
};

static int json_line(void *ctx, const char *json)
{
	struct json_lines *j = ctx;
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t seq;

	cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT json_valid(?1),"
					" json_extract(?1, '$.seq')",
					-1, &s, NULL),
		     SQLITE_OK);
	sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_assert_eq(sqlite3_column_int(s, 0), 1, "not JSON: %s", json);
	seq = sqlite3_column_int64(s, 1);
	sqlite3_finalize(s);
	sqlite3_close(db);
	if (j->n && seq <= j->last_seq)
		j->ascending = false;
	j->last_seq = seq;
	j->n++;
	snprintf(j->last, sizeof(j->last), "%s", json);
	return 0;
}

static struct json_lines audit_json(const char *in, const char *comp,
				    int64_t since)
{
	struct json_lines j = { .ascending = true };

	cr_assert_eq(dfs_audit_json_each(fx.st, in, comp, since, json_line, &j),
		     0);
	cr_assert(j.ascending, "events out of order");
	return j;
}

/* The value of key in the JSON object json, as text ("" for null). */
static void json_get(const char *json, const char *key, char *buf, size_t cap)
{
	char path[64];
	sqlite3 *db;
	sqlite3_stmt *s;
	const unsigned char *v;

	snprintf(path, sizeof(path), "$.\"%s\"", key);
	cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT json_extract(?1, ?2)", -1,
					&s, NULL),
		     SQLITE_OK);
	sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_text(s, 0);
	snprintf(buf, cap, "%s", v ? (const char *)v : "");
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the tests ----------------------------------------------------------- */

Test(report, an_empty_store_reports_nothing)
{
	struct json_lines j;

	FIXTURE_OK();
	cr_assert_eq(envs().n, 0);
	cr_assert_eq(deployments(NULL, false).n, 0);
	cr_assert_eq(unmet(NULL).n, 0);
	j = audit_json(NULL, NULL, 0);
	cr_assert_eq(j.n, 0);
}

Test(report, environments_are_listed_by_name_with_their_attributes)
{
	uint64_t prod;

	FIXTURE_OK();
	(void)env("test");
	prod = env("prod");
	(void)dfs_fixture_mkdir(&fx, DFS_INO_ENVIRONMENTS, "dev", 0750);
	cr_assert_str_eq(envs().s, "dev 750 -;prod 755 -;test 755 -;");
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, prod,
				   "user.deployfs.classification", "production",
				   strlen("production"), 0),
		     0);
	cr_assert_eq(dfs_node_rmdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "dev"),
		     0);
	cr_assert_str_eq(envs().s, "prod 755 production;test 755 -;",
			 "a removed environment is still listed");
}

Test(report, deployments_keep_their_history_in_number_order)
{
	uint64_t test, prod;

	test = test_with_packages();
	prod = env("prod");
	deploy(test, "p", "1");
	deploy(prod, "p", "1");
	cr_assert_eq(dfs_node_unlink(fx.st, test, "p"), 0);
	deploy(test, "p", "2");

	cr_assert_str_eq(deployments(NULL, false).s,
			 "prod p@1 #1 active link;"
			 "test p@1 #1 ended link;"
			 "test p@2 #2 active link;");
	cr_assert_str_eq(deployments(NULL, true).s,
			 "prod p@1 #1 active link;test p@2 #2 active link;");
	cr_assert_str_eq(deployments("test", true).s,
			 "test p@2 #2 active link;");
	cr_assert_str_eq(deployments("test", false).s,
			 "test p@1 #1 ended link;test p@2 #2 active link;");
	cr_assert_eq(deployments("staging", false).n, 0, "no such environment");
}

Test(report, replacing_a_deployment_ends_the_previous_one)
{
	uint64_t test;
	struct dfs_attr a;

	test = test_with_packages();
	deploy(test, "p", "1");
	/* ln -sfn: a link with another name renamed over p */
	dfs_fixture_symlink(&fx, test, ".p.tmp", "../../packages/p/p@2");
	cr_assert_eq(dfs_node_rename(fx.st, test, ".p.tmp", test, "p", 0), 0);
	cr_assert_eq(dfs_node_lookup(fx.st, test, "p", &a), 0);
	cr_assert_str_eq(deployments("test", false).s,
			 "test p@1 #1 ended link;test p@2 #2 active link;");
}

Test(report, history_outlives_a_removed_package_restored)
{
	uint64_t test;
	struct dfs_attr d;

	test = test_with_packages();
	deploy(test, "p", "1");
	cr_assert_eq(dfs_node_unlink(fx.st, test, "p"), 0);
	/* p@1 is deployed nowhere now: remove it (the history keeps its
	 * version), restore it and deploy it again. */
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_PACKAGES, "p", &d), 0);
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, d.ino, "user.deployfs.remove",
				   "1", 1, 0),
		     0);
	cr_assert_str_eq(deployments("test", false).s,
			 "test p@1 #1 ended link;");
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, d.ino,
				   "user.deployfs.restore", "1", 1, 0),
		     0);
	deploy(test, "p", "1");
	cr_assert_str_eq(deployments("test", false).s,
			 "test p@1 #1 ended link;test p@1 #2 active link;");
}

Test(report, a_callback_that_returns_non_zero_stops_the_report)
{
	struct rows r = { .max = 1 };
	uint64_t test;

	test = test_with_packages();
	(void)env("prod");
	deploy(test, "p", "1");
	deploy(test, "c", "1");
	cr_assert_eq(dfs_envs_each(fx.st, env_row, &r), 0);
	cr_assert_eq(r.n, 1);
	r = (struct rows){ .max = 1 };
	cr_assert_eq(
		dfs_deployments_each(fx.st, NULL, false, deployment_row, &r),
		0);
	cr_assert_eq(r.n, 1);
}

/* A callback that reports again from inside: the lock is not held. */
static int nested(void *ctx, const struct dfs_env_info *e)
{
	struct rows *r = ctx;
	struct rows inner = { 0 };

	cr_assert_eq(dfs_deployments_each(fx.st, e->name, true, deployment_row,
					  &inner),
		     0);
	return add(r, "%s:%d", e->name, inner.n);
}

Test(report, a_callback_may_call_the_store)
{
	struct rows r = { 0 };
	uint64_t test;

	test = test_with_packages();
	(void)env("prod");
	deploy(test, "p", "1");
	deploy(test, "c", "1");
	cr_assert_eq(dfs_envs_each(fx.st, nested, &r), 0);
	cr_assert_str_eq(r.s, "prod:0;test:2;");
}

Test(report, a_requirement_is_unmet_until_it_is_deployed_alongside)
{
	uint64_t test, prod;

	test = test_with_packages();
	prod = env("prod");
	deploy(test, "p", "1");
	deploy(prod, "p", "2");
	deploy(prod, "c", "1");
	cr_assert_str_eq(unmet(NULL).s, "test p@1 certificate/c;");
	cr_assert_str_eq(unmet("test").s, "test p@1 certificate/c;");
	cr_assert_eq(unmet("prod").n, 0);

	deploy(test, "c", "1");
	cr_assert_eq(unmet(NULL).n, 0);
	cr_assert_eq(dfs_node_unlink(fx.st, prod, "c"), 0);
	cr_assert_str_eq(unmet(NULL).s, "prod p@2 certificate/c;",
			 "undeploying a requirement leaves it unmet");
}

Test(report, requires_that_is_not_json_counts_as_no_requirement)
{
	sqlite3 *db;
	uint64_t test;

	test = test_with_packages();
	deploy(test, "p", "1");
	cr_assert_eq(unmet(NULL).n, 1);
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(sqlite3_open(fx.db, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db,
				  "UPDATE packages SET requires ="
				  " '[\"certificate/c\"'",
				  NULL, NULL, NULL),
		     SQLITE_OK);
	sqlite3_close(db);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	cr_assert_eq(unmet(NULL).n, 0);
	cr_assert_eq(deployments(NULL, true).n, 1);
}

Test(report, a_copy_in_progress_is_reported_with_its_progress)
{
	struct rows r = { 0 };
	uint64_t test;

	test = test_with_packages();
	(void)dfs_fixture_mkdir(&fx, test, "p@1", 0755);
	cr_assert_eq(dfs_staging_each(fx.st, NULL, staging_row, &r), 0);
	/* p@1: process.xml, cert */
	cr_assert_str_eq(r.s, "test p@1 0/2;");
	r = (struct rows){ 0 };
	cr_assert_eq(dfs_staging_each(fx.st, "prod", staging_row, &r), 0);
	cr_assert_eq(r.n, 0);
	cr_assert_eq(deployments(NULL, false).n, 0, "staging is no deployment");
}

Test(report, audit_events_are_json_objects_with_every_key)
{
	static const char *const keys[] = {
		"ts",	"seq",	      "actor",	"uid",	     "pid",
		"cmd",	"action",     "env",	"component", "version",
		"from", "deployment", "result", "reason",
	};
	struct json_lines j;
	char v[256], check[2048];
	uint64_t test;

	test = test_with_packages();
	deploy(test, "p", "1");
	j = audit_json("test", "p", 0);
	cr_assert_eq(j.n, 1, "%d deploy events of p in test", j.n);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(check, sizeof(check), "\"%s\":", keys[i]);
		cr_assert(strstr(j.last, check), "no key %s in %s", keys[i],
			  j.last);
	}
	json_get(j.last, "action", v, sizeof(v));
	cr_assert_str_eq(v, "deploy");
	json_get(j.last, "env", v, sizeof(v));
	cr_assert_str_eq(v, "test");
	json_get(j.last, "component", v, sizeof(v));
	cr_assert_str_eq(v, "p");
	json_get(j.last, "version", v, sizeof(v));
	cr_assert_str_eq(v, "1");
	json_get(j.last, "result", v, sizeof(v));
	cr_assert_str_eq(v, "ok");
	/* 2026-11-27T05:43:57.123456789Z */
	json_get(j.last, "ts", v, sizeof(v));
	cr_assert_eq(strlen(v), 30, "ts %s", v);
	cr_assert(v[4] == '-' && v[7] == '-' && v[10] == 'T' && v[13] == ':' &&
			  v[16] == ':' && v[19] == '.' && v[29] == 'Z',
		  "ts %s", v);
}

Test(report, audit_json_filters_by_environment_component_and_time)
{
	struct json_lines all, j;
	struct dfs_audit_event ev = { .action = "note", .result = "ok" };
	char v[64];
	uint64_t test, prod;
	int64_t t0;

	FIXTURE_OK();
	packages(); /* three package events */
	test = env("test");
	prod = env("prod"); /* two env-create events */
	deploy(test, "p", "1");
	deploy(prod, "c", "1");
	all = audit_json(NULL, NULL, 0);
	cr_assert_eq(all.n, 7);
	cr_assert_eq(audit_json("test", "p", 0).n, 1);
	cr_assert_eq(audit_json("prod", NULL, 0).n, 2, "env-create, deploy");
	cr_assert_eq(audit_json(NULL, "c", 0).n, 2, "package, deploy");
	cr_assert_eq(audit_json("nowhere", NULL, 0).n, 0);

	/* since: an event at or after it is in, one before it is out */
	t0 = now_ns();
	cr_assert_eq(dfs_audit_record(fx.st, &fx.me, &ev), 0);
	j = audit_json(NULL, NULL, t0);
	cr_assert_eq(j.n, 1, "%d events since the last", j.n);
	json_get(j.last, "action", v, sizeof(v));
	cr_assert_str_eq(v, "note");
	cr_assert_eq(audit_json(NULL, NULL, now_ns()).n, 0);
}

Test(report, reports_longer_than_a_page_are_complete)
{
	struct dfs_audit_event ev = { .action = "note", .result = "ok" };
	struct rows r;
	char name[32];

	FIXTURE_OK();
	for (int i = 0; i < 300; i++) {
		ev.component = i % 3 ? "a" : "b";
		cr_assert_eq(dfs_audit_record(fx.st, &fx.me, &ev), 0);
	}
	cr_assert_eq(audit_json(NULL, NULL, 0).n, 300);
	cr_assert_eq(audit_json(NULL, "a", 0).n, 200);
	cr_assert_eq(audit_json(NULL, "b", 0).n, 100);

	for (int i = 0; i < 260; i++) {
		snprintf(name, sizeof(name), "e%03d", i);
		(void)env(name);
	}
	r = envs();
	cr_assert_eq(r.n, 260);
	cr_assert(strncmp(r.s, "e000 755 -;e001 755 -;", 22) == 0, "%.40s",
		  r.s);
	cr_assert(strstr(r.s, "e127 755 -;e128 755 -;e129 755 -;"),
		  "a page boundary lost a row");
	cr_assert(strstr(r.s, ";e259 755 -;"), "the last row is missing");
}
