/* SPDX-License-Identifier: MIT */
/*
 * ctl_status.h - deployctl status: the report, filled either from the
 * store behind the mount (ctl_status.c) or, for a user who may not open
 * the store, through the mount (ctl_status_mount.c), then printed as a
 * table or as JSON.
 */
#ifndef DFS_CTL_STATUS_H
#define DFS_CTL_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "deployfs/names.h"

#define STATUS_NAME (DFS_LABEL_MAX + 1)

/* A deployment; an environment with nothing deployed is one row with
 * component "". */
struct status_deployed {
	char env[STATUS_NAME];
	char component[STATUS_NAME];
	char version[STATUS_NAME];
	bool bad;
	long long number;
	char when[32]; /* ISO 8601 UTC, "" when not known */
	char who[128];
};

/* A copy in progress (a staging folder). */
struct status_copy {
	char env[STATUS_NAME];
	char component[STATUS_NAME];
	char version[STATUS_NAME];
	long long done;
	long long total;
	char started[32]; /* "" when not known */
	char who[128];	  /* "" when not known */
};

/* A requirement of a deployment that its environment lacks. */
struct status_unmet {
	char env[STATUS_NAME];
	char component[STATUS_NAME];
	char version[STATUS_NAME];
	char requires[2 * STATUS_NAME + 8]; /* TYPE/NAME */
};

struct status_report {
	const char *mnt;
	const char *only;   /* one environment, or NULL */
	const char *source; /* "store" or "mount" */
	struct status_deployed *dep;
	size_t ndep, capdep;
	struct status_copy *copy;
	size_t ncopy, capcopy;
	struct status_unmet *unmet;
	size_t nunmet, capunmet;
};

/* Append one row (copied): 0 or -ENOMEM. */
int status_add_deployed(struct status_report *r,
			const struct status_deployed *d);
int status_add_copy(struct status_report *r, const struct status_copy *c);
int status_add_unmet(struct status_report *r, const struct status_unmet *u);

/* Fill r through the mount r->mnt, as far as the caller may read it:
 * 0, -ENOENT (no environment r->only), -EACCES (r->only may not be
 * read), or -errno.  Environments the caller may not read are left out,
 * each named on stderr. */
int status_from_mount(struct status_report *r);

#endif
