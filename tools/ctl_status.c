// SPDX-License-Identifier: MIT
/*
 * ctl_status.c - deployctl status: what is deployed where, copies in progress
 * and unmet requirements, read from the store behind the mount.
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

#include "deployctl.h"

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

struct status {
	struct dfs_store *st;
	const char *mnt;
	const char *only; /* one environment, or NULL */
	bool found;
	int err;
	struct table deployed;
	struct table staging;
	struct table unmet;
};

static int status_deployment(void *ctx, const struct dfs_deployment_info *d)
{
	struct status *s = ctx;
	char num[32], when[64], version[DFS_LABEL_MAX + 8];

	snprintf(num, sizeof(num), "%lld", (long long)d->number);
	snprintf(version, sizeof(version), "%s%s", d->version,
		 package_is_bad(s->mnt, d->component, d->version) ? " (bad)"
								  : "");
	table_add(&s->deployed, d->env, d->component, version, num,
		  iso_time(d->created, when, sizeof(when)), d->created_by);
	return 0;
}

static int status_env(void *ctx, const struct dfs_env_info *e)
{
	struct status *s = ctx;
	size_t before = s->deployed.nrows;
	int rc;

	if (s->only && strcmp(s->only, e->name) != 0)
		return 0;
	s->found = true;
	rc = dfs_deployments_each(s->st, e->name, true, status_deployment, s);
	if (rc < 0) {
		s->err = rc;
		return 1;
	}
	if (s->deployed.nrows == before) /* nothing deployed: one row */
		table_add(&s->deployed, e->name, "-", "-", "-", "-", "-");
	return 0;
}

static int status_staging(void *ctx, const struct dfs_staging_info *si)
{
	struct status *s = ctx;
	char pkg[2 * PATH_MAX], progress[64], when[64];

	snprintf(pkg, sizeof(pkg), "%s@%s", si->component, si->version);
	snprintf(progress, sizeof(progress), "%lld/%lld", (long long)si->done,
		 (long long)si->entries);
	table_add(&s->staging, si->env, pkg, progress,
		  iso_time(si->started, when, sizeof(when)), si->started_by);
	return 0;
}

static int status_unmet(void *ctx, const struct dfs_unmet_info *u)
{
	struct status *s = ctx;
	char pkg[2 * PATH_MAX];

	snprintf(pkg, sizeof(pkg), "%s@%s", u->component, u->version);
	table_add(&s->unmet, u->env, pkg, u->requires);
	return 0;
}

static void status_section(const char *title, const struct table *t)
{
	printf("\n%s:\n", title);
	if (t->nrows > 1)
		table_print(t, "  ");
	else
		printf("  none\n");
}

static int status_report(struct status *s)
{
	int rc = dfs_envs_each(s->st, status_env, s);

	if (rc == 0)
		rc = s->err;
	if (rc == 0 && s->only && !s->found)
		return -ENOENT;
	if (rc == 0)
		rc = dfs_staging_each(s->st, s->only, status_staging, s);
	if (rc == 0)
		rc = dfs_unmet_each(s->st, s->only, status_unmet, s);
	if (rc == 0)
		rc = s->deployed.err  ? s->deployed.err
		     : s->staging.err ? s->staging.err
				      : s->unmet.err;
	if (rc < 0)
		return rc;
	table_print(&s->deployed, "");
	status_section("Copies in progress", &s->staging);
	status_section("Unmet requirements", &s->unmet);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct status s = {
		.deployed = { .ncols = 6 },
		.staging = { .ncols = 5 },
		.unmet = { .ncols = 3 },
	};
	const char *mnt = NULL;
	char mbuf[PATH_MAX];
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:", longopts, NULL)) != -1) {
		if (c != 'm') {
			usage(stderr);
			return EX_USAGE;
		}
		mnt = optarg;
	}
	if (argc - optind > 1) {
		usage(stderr);
		return EX_USAGE;
	}
	s.only = optind < argc ? argv[optind] : NULL;
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	rc = open_mount_store(mnt, &s.st);
	if (rc)
		return rc;
	s.mnt = mnt;
	table_add(&s.deployed, "ENV", "COMPONENT", "VERSION", "DEPLOYMENT",
		  "WHEN", "WHO");
	table_add(&s.staging, "ENV", "PACKAGE", "PROGRESS", "STARTED", "WHO");
	table_add(&s.unmet, "ENV", "PACKAGE", "REQUIRES");
	rc = status_report(&s);
	s.st = dfs_store_free(s.st);
	table_free(&s.deployed);
	table_free(&s.staging);
	table_free(&s.unmet);
	if (rc == -ENOENT) {
		fprintf(stderr, "deployctl: no environment \"%s\"\n", s.only);
		return EX_NOINPUT;
	}
	if (rc < 0) {
		fprintf(stderr, "deployctl: status: %s\n", strerror(-rc));
		return EX_IOERR;
	}
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}
