// SPDX-License-Identifier: MIT
/*
 * ctl_status_mount.c - deployctl status through the mount, for a user who
 * may not open the store (its folder is 0700): what that user may read
 * of environments/ is what the report holds.
 *
 *   environments/ENV/N -> ../../packages/N/N@V   a deployment of N@V
 *   environments/ENV/N@V/ with user.deployfs.state
 *	deployed: user.deployfs.deployment, .deployed, .deployed_by
 *	staging...: a copy in progress, user.deployfs.progress DONE/TOTAL
 *   user.deployfs.requires of a deployed N@V (JSON array of TYPE/NAME):
 *	unmet while ENV has no NAME (its requirement link dangles)
 *
 * An environment the user may not read is left out and named on stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "ctl_status.h"
#include "deployctl.h"

#define MAX_ENTRIES 65536

/* The attribute user.deployfs.KEY of path into buf: true when it has one. */
static bool attr(const char *path, const char *key, char *buf, size_t cap)
{
	char name[64];
	ssize_t n;

	snprintf(name, sizeof(name), "user.deployfs.%s", key);
	n = getxattr(path, name, buf, cap - 1);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in dir but dot names, sorted: their count, or -errno. */
static int sorted_names(const char *dir, char ***ret)
{
	size_t n = 0, cap = 0;
	char **names = NULL;
	struct dirent *de;
	int rc = 0;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	while (rc == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **p =
				cap < MAX_ENTRIES
					? realloc(names, (cap ? 2 * cap : 16) *
								 sizeof(*p))
					: NULL;

			if (!p) {
				rc = -ENOMEM;
				break;
			}
			names = p;
			cap = cap ? 2 * cap : 16;
		}
		names[n] = strdup(de->d_name);
		rc = names[n] ? 0 : -ENOMEM;
		n += rc == 0;
	}
	closedir(d);
	if (rc < 0) {
		names_free(names, n);
		return rc;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), by_name);
	*ret = names;
	return (int)n;
}

/* Split "N@V" into its parts: false when name is not one. */
static bool split(const char *name, char *comp, char *version)
{
	const char *at = strchr(name, '@');

	if (!at || at == name || (size_t)(at - name) >= STATUS_NAME ||
	    strlen(at + 1) >= STATUS_NAME || !at[1])
		return false;
	snprintf(comp, STATUS_NAME, "%.*s", (int)(at - name), name);
	snprintf(version, STATUS_NAME, "%s", at + 1);
	return true;
}

/* Each "TYPE/NAME" of the requires array of ENV/N@V that ENV lacks. */
static int add_unmet(struct status_report *r, const char *envdir,
		     const char *view, const struct status_deployed *d)
{
	char req[4096], path[2 * PATH_MAX];
	const char *p = req;
	int rc = 0;

	if (!attr(view, "requires", req, sizeof(req)))
		return 0;
	while (rc == 0 && (p = strchr(p, '"'))) {
		const char *end = strchr(p + 1, '"'), *slash;
		struct status_unmet u = { 0 };
		struct stat sb;

		if (!end)
			break;
		snprintf(u.requires, sizeof(u.requires), "%.*s",
			 (int)(end - p - 1), p + 1);
		p = end + 1;
		slash = strchr(u.requires, '/');
		if (!slash)
			continue;
		snprintf(path, sizeof(path), "%s/%s", envdir, slash + 1);
		if (lstat(path, &sb) == 0)
			continue;
		snprintf(u.env, sizeof(u.env), "%s", d->env);
		snprintf(u.component, sizeof(u.component), "%s", d->component);
		snprintf(u.version, sizeof(u.version), "%s", d->version);
		rc = status_add_unmet(r, &u);
	}
	return rc;
}

static int add_copy(struct status_report *r, const char *view, const char *env,
		    const char *comp, const char *version)
{
	struct status_copy c = { 0 };
	struct passwd pw, *who = NULL;
	char progress[64], tmp[1024];
	struct stat sb;

	snprintf(c.env, sizeof(c.env), "%s", env);
	snprintf(c.component, sizeof(c.component), "%s", comp);
	snprintf(c.version, sizeof(c.version), "%s", version);
	if (attr(view, "progress", progress, sizeof(progress)))
		(void)sscanf(progress, "%lld/%lld", &c.done, &c.total);
	/* A staging folder belongs to its copier. */
	if (stat(view, &sb) == 0 &&
	    getpwuid_r(sb.st_uid, &pw, tmp, sizeof(tmp), &who) == 0 && who)
		snprintf(c.who, sizeof(c.who), "%s", who->pw_name);
	return status_add_copy(r, &c);
}

/* The deployments and copies of one environment. */
static int add_env(struct status_report *r, const char *envs, const char *env)
{
	char envdir[PATH_MAX + 80], view[2 * PATH_MAX], state[256], num[32];
	size_t before = r->ndep;
	char **names = NULL;
	int n, rc = 0;

	snprintf(envdir, sizeof(envdir), "%s/%s", envs, env);
	n = sorted_names(envdir, &names);
	if (n < 0)
		return n;
	for (int i = 0; rc == 0 && i < n; i++) {
		struct status_deployed d = { 0 };

		snprintf(view, sizeof(view), "%s/%s", envdir, names[i]);
		if (!split(names[i], d.component, d.version) ||
		    !attr(view, "state", state, sizeof(state)))
			continue;
		snprintf(d.env, sizeof(d.env), "%s", env);
		if (strncmp(state, "staging", 7) == 0) {
			rc = add_copy(r, view, env, d.component, d.version);
			continue;
		}
		if (strcmp(state, "deployed") != 0)
			continue;
		if (attr(view, "deployment", num, sizeof(num)))
			d.number = atoll(num);
		(void)attr(view, "deployed", d.when, sizeof(d.when));
		(void)attr(view, "deployed_by", d.who, sizeof(d.who));
		d.bad = package_is_bad(r->mnt, d.component, d.version);
		rc = status_add_deployed(r, &d);
		if (rc == 0)
			rc = add_unmet(r, envdir, view, &d);
	}
	names_free(names, (size_t)n);
	if (rc == 0 && r->ndep == before) { /* nothing deployed: one row */
		struct status_deployed d = { 0 };

		snprintf(d.env, sizeof(d.env), "%s", env);
		rc = status_add_deployed(r, &d);
	}
	return rc;
}

int status_from_mount(struct status_report *r)
{
	char envs[PATH_MAX + 16];
	char **names = NULL;
	bool found = false;
	int n, rc = 0;

	snprintf(envs, sizeof(envs), "%s/environments", r->mnt);
	n = sorted_names(envs, &names);
	if (n < 0)
		return n;
	for (int i = 0; rc == 0 && i < n; i++) {
		if (r->only && strcmp(r->only, names[i]) != 0)
			continue;
		found = true;
		rc = add_env(r, envs, names[i]);
		if (rc == -EACCES && !r->only) {
			fprintf(stderr,
				"deployctl: status: environment \"%s\" left "
				"out: %s\n",
				names[i], strerror(EACCES));
			rc = 0;
		}
	}
	names_free(names, (size_t)n);
	if (rc == 0 && r->only && !found)
		return -ENOENT;
	return rc;
}
