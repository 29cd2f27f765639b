// SPDX-License-Identifier: MIT
/*
 * ctl_status.c - deployctl status: what is deployed where, copies in progress
 * and unmet requirements, read from the store behind the mount (or, when
 * the caller may not open it, through the mount: ctl_status_mount.c), and
 * printed as aligned columns or, with --json, as one JSON object.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "deployfs/names.h"

#include "deployfs/store.h"

#include "ctl_status.h"
#include "deployctl.h"
#include "jsonw.h"

/* ns since the epoch as ISO 8601 UTC to the second; 0 is "-". */
static const char *iso_time(int64_t ns, char *buf, size_t cap)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (ns <= 0 || !gmtime_r(&t, &tm) ||
	    !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, cap, "-");
	return buf;
}

/* A table of text cells, printed with aligned columns. */
#define TABLE_COLS 6

struct table {
	int ncols;
	size_t nrows;
	size_t cap;
	char **cell; /* nrows * ncols */
	int err;     /* -ENOMEM once a row could not be added */
};

static void table_add(struct table *t, ...)
{
	va_list ap;

	if (t->err)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		char **cell = realloc(t->cell, cap * t->ncols * sizeof(*cell));

		if (!cell) {
			t->err = -ENOMEM;
			return;
		}
		t->cell = cell;
		t->cap = cap;
	}
	va_start(ap, t);
	for (int c = 0; c < t->ncols; c++) {
		const char *v = va_arg(ap, const char *);
		char **cell = &t->cell[t->nrows * t->ncols + c];

		*cell = strdup(v && *v ? v : "-");
		if (!*cell)
			t->err = -ENOMEM;
	}
	va_end(ap);
	t->nrows++;
}

static void table_print(const struct table *t, const char *indent)
{
	size_t width[TABLE_COLS] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (int c = 0; c < t->ncols; c++) {
			const char *v = t->cell[r * t->ncols + c];
			size_t len = v ? strlen(v) : 0;

			if (len > width[c])
				width[c] = len;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		fputs(indent, stdout);
		for (int c = 0; c < t->ncols; c++) {
			const char *v = t->cell[r * t->ncols + c];

			if (c == t->ncols - 1)
				printf("%s\n", v ? v : "");
			else
				printf("%-*s  ", (int)width[c], v ? v : "");
		}
	}
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cell[i]);
	free(t->cell);
	t->cell = NULL;
	t->nrows = t->cap = 0;
}

/* Grow *arr (of n elements of size bytes, room for *cap) by one. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	void *p;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? 2 * *cap : 16;
	p = realloc(*arr, c * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

int status_add_deployed(struct status_report *r,
			const struct status_deployed *d)
{
	int rc = grow((void **)&r->dep, &r->capdep, r->ndep, sizeof(*d));

	if (rc == 0)
		r->dep[r->ndep++] = *d;
	return rc;
}

int status_add_copy(struct status_report *r, const struct status_copy *c)
{
	int rc = grow((void **)&r->copy, &r->capcopy, r->ncopy, sizeof(*c));

	if (rc == 0)
		r->copy[r->ncopy++] = *c;
	return rc;
}

int status_add_unmet(struct status_report *r, const struct status_unmet *u)
{
	int rc = grow((void **)&r->unmet, &r->capunmet, r->nunmet, sizeof(*u));

	if (rc == 0)
		r->unmet[r->nunmet++] = *u;
	return rc;
}

static void report_free(struct status_report *r)
{
	free(r->dep);
	free(r->copy);
	free(r->unmet);
}

/* ---- from the store ------------------------------------------------------ */

struct from_store {
	struct dfs_store *st;
	struct status_report *r;
	bool found;
	int err;
};

static int store_deployment(void *ctx, const struct dfs_deployment_info *d)
{
	struct from_store *f = ctx;
	struct status_deployed row = { .number = d->number };

	snprintf(row.env, sizeof(row.env), "%s", d->env);
	snprintf(row.component, sizeof(row.component), "%s", d->component);
	snprintf(row.version, sizeof(row.version), "%s", d->version);
	row.bad = package_is_bad(f->r->mnt, d->component, d->version);
	if (d->created > 0)
		iso_time(d->created, row.when, sizeof(row.when));
	snprintf(row.who, sizeof(row.who), "%s",
		 d->created_by ? d->created_by : "");
	f->err = status_add_deployed(f->r, &row);
	return f->err ? 1 : 0;
}

static int store_env(void *ctx, const struct dfs_env_info *e)
{
	struct from_store *f = ctx;
	size_t before = f->r->ndep;
	int rc;

	if (f->r->only && strcmp(f->r->only, e->name) != 0)
		return 0;
	f->found = true;
	rc = dfs_deployments_each(f->st, e->name, true, store_deployment, f);
	if (rc < 0 || f->err) {
		f->err = f->err ? f->err : rc;
		return 1;
	}
	if (f->r->ndep == before) { /* nothing deployed: one row */
		struct status_deployed row = { 0 };

		snprintf(row.env, sizeof(row.env), "%s", e->name);
		f->err = status_add_deployed(f->r, &row);
	}
	return f->err ? 1 : 0;
}

static int store_staging(void *ctx, const struct dfs_staging_info *si)
{
	struct from_store *f = ctx;
	struct status_copy row = { .done = si->done, .total = si->entries };

	snprintf(row.env, sizeof(row.env), "%s", si->env);
	snprintf(row.component, sizeof(row.component), "%s", si->component);
	snprintf(row.version, sizeof(row.version), "%s", si->version);
	if (si->started > 0)
		iso_time(si->started, row.started, sizeof(row.started));
	snprintf(row.who, sizeof(row.who), "%s",
		 si->started_by ? si->started_by : "");
	f->err = status_add_copy(f->r, &row);
	return f->err ? 1 : 0;
}

static int store_unmet(void *ctx, const struct dfs_unmet_info *u)
{
	struct from_store *f = ctx;
	struct status_unmet row;

	snprintf(row.env, sizeof(row.env), "%s", u->env);
	snprintf(row.component, sizeof(row.component), "%s", u->component);
	snprintf(row.version, sizeof(row.version), "%s", u->version);
	snprintf(row.requires, sizeof(row.requires), "%s", u->requires);
	f->err = status_add_unmet(f->r, &row);
	return f->err ? 1 : 0;
}

/* 0, -ENOENT (no environment r->only) or -errno. */
static int status_from_store(struct status_report *r, struct dfs_store *st)
{
	struct from_store f = { .st = st, .r = r };
	int rc = dfs_envs_each(st, store_env, &f);

	if (rc == 0)
		rc = f.err;
	if (rc == 0 && r->only && !f.found)
		return -ENOENT;
	if (rc == 0)
		rc = dfs_staging_each(st, r->only, store_staging, &f);
	if (rc == 0)
		rc = f.err;
	if (rc == 0)
		rc = dfs_unmet_each(st, r->only, store_unmet, &f);
	return rc ? rc : f.err;
}

/* ---- printing ------------------------------------------------------------ */

static void status_section(const char *title, const struct table *t)
{
	printf("\n%s:\n", title);
	if (t->nrows > 1)
		table_print(t, "  ");
	else
		printf("  none\n");
}

static int print_text(const struct status_report *r)
{
	struct table dep = { .ncols = 6 }, copy = { .ncols = 5 };
	struct table unmet = { .ncols = 3 };
	char a[64], b[2 * STATUS_NAME + 16];
	int rc;

	table_add(&dep, "ENV", "COMPONENT", "VERSION", "DEPLOYMENT", "WHEN",
		  "WHO");
	for (size_t i = 0; i < r->ndep; i++) {
		const struct status_deployed *d = &r->dep[i];

		snprintf(a, sizeof(a), "%lld", d->number);
		snprintf(b, sizeof(b), "%s%s", d->version,
			 d->bad ? " (bad)" : "");
		table_add(&dep, d->env, d->component, b, d->number ? a : "",
			  d->when, d->who);
	}
	table_add(&copy, "ENV", "PACKAGE", "PROGRESS", "STARTED", "WHO");
	for (size_t i = 0; i < r->ncopy; i++) {
		const struct status_copy *c = &r->copy[i];

		snprintf(a, sizeof(a), "%lld/%lld", c->done, c->total);
		snprintf(b, sizeof(b), "%s@%s", c->component, c->version);
		table_add(&copy, c->env, b, a, c->started, c->who);
	}
	table_add(&unmet, "ENV", "PACKAGE", "REQUIRES");
	for (size_t i = 0; i < r->nunmet; i++) {
		const struct status_unmet *u = &r->unmet[i];

		snprintf(b, sizeof(b), "%s@%s", u->component, u->version);
		table_add(&unmet, u->env, b, u->requires);
	}
	rc = dep.err ? dep.err : copy.err ? copy.err : unmet.err;
	if (rc == 0) {
		table_print(&dep, "");
		status_section("Copies in progress", &copy);
		status_section("Unmet requirements", &unmet);
	}
	table_free(&dep);
	table_free(&copy);
	table_free(&unmet);
	return rc;
}

/* A string, or null when it is not known (""). */
static void json_known(struct jsonw *j, const char *key, const char *s)
{
	jsonw_key(j, key);
	jsonw_string(j, s[0] ? s : NULL);
}

static void json_env(struct jsonw *j, const struct status_report *r, size_t *i)
{
	const char *env = r->dep[*i].env;

	jsonw_object_open(j);
	jsonw_key(j, "name");
	jsonw_string(j, env);
	jsonw_key(j, "deployments");
	jsonw_array_open(j);
	for (; *i < r->ndep && strcmp(r->dep[*i].env, env) == 0; (*i)++) {
		const struct status_deployed *d = &r->dep[*i];

		if (!d->component[0])
			continue;
		jsonw_object_open(j);
		jsonw_key(j, "component");
		jsonw_string(j, d->component);
		jsonw_key(j, "version");
		jsonw_string(j, d->version);
		jsonw_key(j, "bad");
		jsonw_bool(j, d->bad);
		jsonw_key(j, "deployment");
		jsonw_int(j, d->number);
		json_known(j, "deployed", d->when);
		json_known(j, "deployed_by", d->who);
		jsonw_object_close(j);
	}
	jsonw_array_close(j);
	jsonw_object_close(j);
}

static void json_row_names(struct jsonw *j, const char *env, const char *comp,
			   const char *version)
{
	jsonw_key(j, "env");
	jsonw_string(j, env);
	jsonw_key(j, "component");
	jsonw_string(j, comp);
	jsonw_key(j, "version");
	jsonw_string(j, version);
}

static int print_json(const struct status_report *r)
{
	struct jsonw j;

	jsonw_begin(&j, stdout);
	jsonw_object_open(&j);
	jsonw_key(&j, "source");
	jsonw_string(&j, r->source);
	jsonw_key(&j, "environments");
	jsonw_array_open(&j);
	for (size_t i = 0; i < r->ndep;)
		json_env(&j, r, &i);
	jsonw_array_close(&j);
	jsonw_key(&j, "copies_in_progress");
	jsonw_array_open(&j);
	for (size_t i = 0; i < r->ncopy; i++) {
		const struct status_copy *c = &r->copy[i];

		jsonw_object_open(&j);
		json_row_names(&j, c->env, c->component, c->version);
		jsonw_key(&j, "done");
		jsonw_int(&j, c->done);
		jsonw_key(&j, "total");
		jsonw_int(&j, c->total);
		json_known(&j, "started", c->started);
		json_known(&j, "started_by", c->who);
		jsonw_object_close(&j);
	}
	jsonw_array_close(&j);
	jsonw_key(&j, "unmet_requirements");
	jsonw_array_open(&j);
	for (size_t i = 0; i < r->nunmet; i++) {
		const struct status_unmet *u = &r->unmet[i];

		jsonw_object_open(&j);
		json_row_names(&j, u->env, u->component, u->version);
		jsonw_key(&j, "requires");
		jsonw_string(&j, u->requires);
		jsonw_object_close(&j);
	}
	jsonw_array_close(&j);
	jsonw_object_close(&j);
	return jsonw_end(&j);
}

/* ---- the command --------------------------------------------------------- */

/* Fill r from the store behind r->mnt, or through the mount when the
 * caller may not open the store: 0, or an exit code (printed why). */
static int status_fill(struct status_report *r)
{
	char store[PATH_MAX], why[4096];
	struct dfs_store *st = NULL;
	int rc = store_of_mount(r->mnt, store, sizeof(store));

	if (rc == 0)
		rc = dfs_store_open(store, 0, &st);
	if (rc == -EACCES || rc == -EPERM || rc == -EROFS) {
		r->source = "mount";
		rc = status_from_mount(r);
	} else if (rc < 0) {
		return open_mount_store(r->mnt, &st); /* says why */
	} else {
		r->source = "store";
		rc = status_from_store(r, st);
		dfs_store_free(st);
	}
	if (rc == -ENOENT) {
		if (!explain_missing(r->mnt, NULL, NULL, r->only, why,
				     sizeof(why)))
			snprintf(why, sizeof(why), "no environment \"%s\"",
				 r->only);
		fprintf(stderr, "deployctl: %s\n", why);
		return EX_NOINPUT;
	}
	if (rc == -EACCES && r->only) {
		fprintf(stderr, "deployctl: status: environment \"%s\": %s\n",
			r->only, strerror(EACCES));
		return EX_NOPERM;
	}
	if (rc == -EACCES) {
		fprintf(stderr,
			"deployctl: status: %s/environments: %s (a mount "
			"without allow_other serves only its owner)\n",
			r->mnt, strerror(EACCES));
		return EX_NOPERM;
	}
	if (rc < 0) {
		fprintf(stderr, "deployctl: status: %s\n", strerror(-rc));
		return EX_IOERR;
	}
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	struct status_report r = { 0 };
	char mbuf[PATH_MAX];
	bool json = false;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:jh", longopts, NULL)) != -1) {
		if (c == 'm')
			r.mnt = optarg;
		else if (c == 'j')
			json = true;
		else if (c == 'h')
			return ctl_help(argv[0]);
		else
			return ctl_usage(argv[0]);
	}
	if (argc - optind > 1)
		return ctl_usage(argv[0]);
	r.only = optind < argc ? argv[optind] : NULL;
	if (!r.mnt)
		r.mnt = default_mount(mbuf, sizeof(mbuf));
	rc = status_fill(&r);
	if (rc == 0) {
		rc = json ? print_json(&r) : print_text(&r);
		if (rc == 0 && fflush(stdout) != 0)
			rc = -errno;
		if (rc < 0) {
			fprintf(stderr, "deployctl: status: %s\n",
				strerror(-rc));
			rc = EX_IOERR;
		}
	}
	report_free(&r);
	return rc;
}
