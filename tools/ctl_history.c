// SPDX-License-Identifier: MIT
/*
 * ctl_history.c - deployctl history ENV [NAME]: every deployment to an
 * environment, active and ended, like Boomi's Deployment History: its
 * number, component, version, when, who, notes, how it was made (copy,
 * link, deployctl, rollback) and whether it is active.
 *
 * From the store: its deployments, with how each was made read from the
 * audit event that made it.  Through the mount (the store is not the
 * caller's to open): the audit trail replayed; notes then come from the
 * active deployments' folders (user.deployfs.notes), as the trail does
 * not hold their text.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <sysexits.h>

#include "ctl_trail.h"
#include "deployctl.h"
#include "jsonw.h"

#define HISTORY_MAX 1000000 /* rows, a cap on what the trail may ask */

struct hrow {
	int64_t number;
	int64_t ts;
	int64_t uid;
	char *component;
	char *version;
	char *who;
	char *notes; /* NULL: none (or not known) */
	char *via;   /* copy, link; NULL when not known */
	char how[64];
	bool active;
};

enum sort_by { BY_TIME, BY_COMPONENT, BY_VERSION, BY_WHO };

struct history {
	const char *env;
	const char *name; /* NULL: every component */
	struct hrow *rows;
	size_t n, cap;
	int err;
};

static void history_free(struct history *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->rows[i].component);
		free(h->rows[i].version);
		free(h->rows[i].who);
		free(h->rows[i].notes);
		free(h->rows[i].via);
	}
	free(h->rows);
	h->rows = NULL;
	h->n = h->cap = 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* A new row (zeroed but for what is given); NULL (h->err set) on
 * failure. */
static struct hrow *add_row(struct history *h, const char *component,
			    const char *version, const char *who)
{
	struct hrow *r;

	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct hrow *rows;

		if (cap > HISTORY_MAX) {
			h->err = -EFBIG;
			return NULL;
		}
		rows = realloc(h->rows, cap * sizeof(*rows));
		if (!rows) {
			h->err = -ENOMEM;
			return NULL;
		}
		h->rows = rows;
		h->cap = cap;
	}
	r = &h->rows[h->n];
	memset(r, 0, sizeof(*r));
	r->component = strdup(component ? component : "");
	r->version = strdup(version ? version : "");
	r->who = strdup(who ? who : "");
	if (!r->component || !r->version || !r->who) {
		free(r->component);
		free(r->version);
		free(r->who);
		h->err = -ENOMEM;
		return NULL;
	}
	h->n++;
	return r;
}

static bool is_deploy(const struct dfs_audit_event *ev)
{
	return ev->action && ev->result && strcmp(ev->result, "ok") == 0 &&
	       ev->deployment > 0 &&
	       (strcmp(ev->action, "deploy") == 0 ||
		strcmp(ev->action, "rollback") == 0);
}

static bool is_env(const struct history *h, const struct dfs_audit_event *ev)
{
	return ev->env && strcmp(ev->env, h->env) == 0 &&
	       (!h->name ||
		(ev->component && strcmp(ev->component, h->name) == 0));
}

/* How the deployment ev records was made: rollback, deployctl, else via
 * (as the store knows it, or from the program when it does not). */
static void how_of(const struct dfs_audit_event *ev, const char *via, char *buf,
		   size_t cap)
{
	char prog[64], arg1[64];

	trail_cmd_words(ev->cmd, prog, sizeof(prog), arg1, sizeof(arg1));
	if (strcmp(ev->action, "rollback") == 0 ||
	    (strcmp(prog, "deployctl") == 0 && strcmp(arg1, "rollback") == 0))
		snprintf(buf, cap, "rollback");
	else if (strcmp(prog, "deployctl") == 0)
		snprintf(buf, cap, "deployctl");
	else if (via && *via)
		snprintf(buf, cap, "%s", via);
	else if (strcmp(prog, "ln") == 0)
		snprintf(buf, cap, "link");
	else if (strcmp(prog, "cp") == 0)
		snprintf(buf, cap, "copy");
	else
		snprintf(buf, cap, "%s", prog[0] ? prog : "-");
}

static struct hrow *find_row(struct history *h, const char *component,
			     int64_t number)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->rows[i].number == number &&
		    strcmp(h->rows[i].component, component) == 0)
			return &h->rows[i];
	return NULL;
}

/* ---- from the store -------------------------------------------------------- */

static int store_row(void *ctx, const struct dfs_deployment_info *d)
{
	struct history *h = ctx;
	struct hrow *r;

	if (h->name && strcmp(d->component, h->name) != 0)
		return 0;
	r = add_row(h, d->component, d->version, d->created_by);
	if (!r)
		return 1;
	r->number = d->number;
	r->ts = d->created;
	r->uid = d->uid;
	r->active = d->active;
	r->notes = dup_or_null(d->notes);
	r->via = dup_or_null(d->via);
	snprintf(r->how, sizeof(r->how), "%s", d->via);
	if ((d->notes && !r->notes) || (d->via && !r->via)) {
		h->err = -ENOMEM;
		return 1;
	}
	return 0;
}

/* The audit event that made a deployment says how. */
static int store_how(void *ctx, const struct dfs_audit_event *ev)
{
	struct history *h = ctx;
	struct hrow *r;

	if (!is_deploy(ev) || !is_env(h, ev))
		return 0;
	r = find_row(h, ev->component, ev->deployment);
	if (r)
		how_of(ev, r->via, r->how, sizeof(r->how));
	return 0;
}

/* ---- through the mount: the trail replayed ------------------------------- */

static void end_active(struct history *h, const char *component)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->rows[i].active &&
		    strcmp(h->rows[i].component, component) == 0)
			h->rows[i].active = false;
}

static int replay(void *ctx, const struct dfs_audit_event *ev)
{
	struct history *h = ctx;
	struct hrow *r;

	if (!ev->action || !ev->result || strcmp(ev->result, "ok") != 0 ||
	    !ev->env || strcmp(ev->env, h->env) != 0)
		return 0;
	if (strcmp(ev->action, "env-create") == 0) {
		history_free(h); /* a new environment of that name */
		return 0;
	}
	if (!ev->component || !is_env(h, ev))
		return 0;
	if (strcmp(ev->action, "undeploy") == 0) {
		end_active(h, ev->component);
		return 0;
	}
	if (!is_deploy(ev))
		return 0;
	end_active(h, ev->component);
	r = add_row(h, ev->component, ev->version, ev->actor);
	if (!r)
		return 1;
	r->number = ev->deployment;
	r->ts = ev->ts;
	r->uid = ev->uid;
	r->active = true;
	how_of(ev, NULL, r->how, sizeof(r->how));
	return 0;
}

/* The notes of the active deployments, from their folders. */
static void mount_notes(struct history *h, const char *mnt)
{
	for (size_t i = 0; i < h->n; i++) {
		struct hrow *r = &h->rows[i];
		char path[PATH_MAX], notes[4096];
		ssize_t n;

		if (!r->active)
			continue;
		snprintf(path, sizeof(path), "%s/environments/%s/%s@%s", mnt,
			 h->env, r->component, r->version);
		n = getxattr(path, "user.deployfs.notes", notes,
			     sizeof(notes) - 1);
		if (n <= 0)
			continue;
		notes[n] = '\0';
		r->notes = strdup(notes);
	}
}

/* ---- the environments ------------------------------------------------------ */

/* Is env an environment of the mount?  If not, name those that are. */
static int check_env(const char *mnt, const char *env)
{
	char path[PATH_MAX], names[4096] = "";
	struct dirent *de;
	size_t used = 0;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "%s/environments", mnt);
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "deployctl: history: %s: %s\n", path,
			strerror(errno));
		return EX_NOINPUT;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (strcmp(de->d_name, env) == 0)
			found = true;
		if (used < sizeof(names))
			used += (size_t)snprintf(names + used,
						 sizeof(names) - used, "%s%s",
						 used ? ", " : "", de->d_name);
	}
	closedir(d);
	if (found && !strchr(env, '/'))
		return 0;
	fprintf(stderr,
		"deployctl: history: no environment \"%s\" (environments: "
		"%s)\n",
		env, names[0] ? names : "none");
	return EX_NOINPUT;
}

/* ---- output ------------------------------------------------------------------ */

static int cmp_rows(const void *a, const void *b, void *arg)
{
	const struct hrow *x = a, *y = b;
	enum sort_by by = *(const enum sort_by *)arg;
	int c = 0;

	if (by == BY_COMPONENT)
		c = strcmp(x->component, y->component);
	else if (by == BY_VERSION)
		c = strverscmp(x->version, y->version);
	else if (by == BY_WHO)
		c = strcmp(x->who, y->who);
	if (c)
		return c;
	/* newest first */
	if (x->ts != y->ts)
		return x->ts < y->ts ? 1 : -1;
	return x->number < y->number ? 1 : x->number > y->number ? -1 : 0;
}

static int print_json(const struct history *h)
{
	struct jsonw w;

	jsonw_begin(&w, stdout);
	jsonw_array_open(&w);
	for (size_t i = 0; i < h->n; i++) {
		const struct hrow *r = &h->rows[i];
		char when[32];

		trail_when(r->ts, when, sizeof(when));
		jsonw_object_open(&w);
		jsonw_kv_string(&w, "env", h->env);
		jsonw_kv_int(&w, "deployment", r->number);
		jsonw_kv_string(&w, "component", r->component);
		jsonw_kv_string(&w, "version", r->version);
		jsonw_kv_string(&w, "when", when);
		jsonw_kv_string(&w, "user", r->who);
		jsonw_kv_int(&w, "uid", r->uid);
		jsonw_kv_string(&w, "how", r->how);
		jsonw_kv_string(&w, "notes", r->notes);
		jsonw_kv_bool(&w, "active", r->active);
		jsonw_object_close(&w);
	}
	jsonw_array_close(&w);
	return jsonw_end(&w);
}

static int width(const struct history *h, size_t off, int min)
{
	int w = min;

	for (size_t i = 0; i < h->n; i++) {
		const char *s =
			*(char *const *)((const char *)&h->rows[i] + off);
		int n = (int)strlen(s);

		if (n > w)
			w = n;
	}
	return w;
}

static int print_text(const struct history *h)
{
	int wc = width(h, offsetof(struct hrow, component), 9);
	int wv = width(h, offsetof(struct hrow, version), 7);

	printf("%-4s %-*s %-*s %-20s %-20s %-9s %-6s %s\n", "#", wc,
	       "COMPONENT", wv, "VERSION", "WHEN", "WHO", "HOW", "ACTIVE",
	       "NOTES");
	for (size_t i = 0; i < h->n; i++) {
		const struct hrow *r = &h->rows[i];
		char when[32], who[96];

		trail_when(r->ts, when, sizeof(when));
		snprintf(who, sizeof(who), "%s (%lld)", r->who,
			 (long long)r->uid);
		printf("%-4lld %-*s %-*s %-20s %-20s %-9s %-6s %s\n",
		       (long long)r->number, wc, r->component, wv, r->version,
		       when, who, r->how, r->active ? "yes" : "no",
		       r->notes ? r->notes : "");
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		return -EIO;
	return 0;
}

static void history_usage(FILE *out)
{
	fprintf(out,
		"usage: deployctl history ENV [NAME] [--json]"
		" [--sort time|component|version|who] [--mount MNT]\n"
		"  every deployment to ENV (of component NAME), active and\n"
		"  ended: number, component, version, when (UTC), who, how\n"
		"  (copy, link, deployctl, rollback), active, notes; newest\n"
		"  first, or sorted by FIELD (then newest first)\n");
}

static int parse_sort(const char *s, enum sort_by *ret)
{
	static const char *const names[] = { "time", "component", "version",
					     "who" };

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum sort_by)i;
			return 0;
		}
	return -EINVAL;
}

int cmd_history(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "sort", required_argument, NULL, 's' },
		{ "mount", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct history h = { 0 };
	enum sort_by by = BY_TIME;
	const char *mnt = NULL;
	char mbuf[PATH_MAX];
	struct trail t;
	bool json = false;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "js:m:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
			if (parse_sort(optarg, &by) < 0) {
				fprintf(stderr,
					"deployctl: history: --sort \"%s\": "
					"not time, component, version or "
					"who\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'm':
			mnt = optarg;
			break;
		case 'h':
			history_usage(stdout);
			return 0;
		default:
			history_usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		history_usage(stderr);
		return EX_USAGE;
	}
	h.env = argv[optind];
	h.name = argc - optind == 2 ? argv[optind + 1] : NULL;
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	rc = trail_open(mnt, &t);
	if (rc)
		return rc;
	rc = check_env(mnt, h.env);
	if (rc)
		goto out_close;
	if (t.st) {
		rc = dfs_deployments_each(t.st, h.env, false, store_row, &h);
		if (rc == 0 && h.err == 0)
			rc = trail_each(&t, store_how, &h);
	} else {
		rc = trail_each(&t, replay, &h);
		if (rc == 0 && h.err == 0)
			mount_notes(&h, mnt);
	}
	if (rc == 0)
		rc = h.err;
	if (rc < 0) {
		fprintf(stderr, "deployctl: history: %s\n", strerror(-rc));
		rc = EX_IOERR;
		goto out_free;
	}
	qsort_r(h.rows, h.n, sizeof(*h.rows), cmp_rows, &by);
	rc = json ? print_json(&h) : print_text(&h);
	if (rc < 0) {
		fprintf(stderr, "deployctl: history: %s\n", strerror(-rc));
		rc = EX_IOERR;
	}
out_free:
	history_free(&h);
out_close:
	trail_close(&t);
	return rc;
}
