// SPDX-License-Identifier: MIT
/*
 * ctl_deploy.c - deployctl deploy, undeploy and rollback: through the mount,
 * as ln -sfn and rm would.
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

/* An environment name as far as a path goes; the mount judges the rest. */
static bool env_name_ok(const char *env)
{
	size_t len = strlen(env);

	return len > 0 && len <= DFS_LABEL_MAX && !strchr(env, '/') &&
	       env[0] != '.';
}

/*
 * A deploy that failed with errno err: what does not exist, when that is
 * why (EX_NOINPUT), else err (1).
 */
static int deploy_failed(const char *mnt, const char *name, const char *version,
			 const char *env, int err)
{
	char why[4096];

	if (explain_missing(mnt, name, version, env, why, sizeof(why))) {
		fprintf(stderr, "deployctl: deploy %s@%s to %s: %s\n", name,
			version, env, why);
		return EX_NOINPUT;
	}
	fprintf(stderr, "deployctl: deploy %s@%s to %s: %s\n", name, version,
		env, strerror(err));
	return 1;
}

/*
 * Deploy name@version to env the way ln -sfn does: a link with a
 * temporary name, renamed over env/name.  Returns 0 or an exit code.
 */
static int deploy(const char *mnt, const char *name, const char *version,
		  const char *env, const char *notes, bool force)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 300], link[PATH_MAX + 300];
	char target[600], view[PATH_MAX + 600], warning[1024];
	ssize_t n;

	snprintf(dir, sizeof(dir), "%s/environments/%s", mnt, env);
	snprintf(target, sizeof(target), "%s@%s", name, version);
	/* The next deploy of NAME@V here by us may be a bad release. */
	if (force &&
	    setxattr(dir, "user.deployfs.force", target, strlen(target), 0) < 0)
		return deploy_failed(mnt, name, version, env, errno);
	snprintf(tmp, sizeof(tmp), "%s/.%s.deployctl.%ld", dir, name,
		 (long)getpid());
	snprintf(link, sizeof(link), "%s/%s", dir, name);
	snprintf(target, sizeof(target), "../../packages/%s/%s@%s", name, name,
		 version);
	if (symlink(target, tmp) < 0)
		return deploy_failed(mnt, name, version, env, errno);
	if (rename(tmp, link) < 0) {
		int err = errno;

		(void)unlink(tmp);
		return deploy_failed(mnt, name, version, env, err);
	}
	printf("deployed %s@%s to %s\n", name, version, env);
	snprintf(view, sizeof(view), "%s/%s@%s", dir, name, version);
	/* Unmet requirements: the deployment's warning, on stderr. */
	n = getxattr(view, "user.deployfs.warning", warning,
		     sizeof(warning) - 1);
	if (n > 0) {
		warning[n] = '\0';
		fprintf(stderr, "deployctl: %s\n", warning);
	}
	if (!notes)
		return 0;
	if (setxattr(view, "user.deployfs.notes", notes, strlen(notes), 0) <
	    0) {
		fprintf(stderr,
			"deployctl: %s@%s deployed to %s, but its notes "
			"were refused: %s\n",
			name, version, env, strerror(errno));
		return 1;
	}
	return 0;
}

/* Options shared by deploy, undeploy and rollback: --mount, and --notes
 * or --to where asked for (opt NULL otherwise).  -1 when the command goes
 * on, else its exit code (its help, a usage error). */
static int parse_deploy_opts(int argc, char **argv, const char *extra,
			     const char **mnt, const char **opt, bool *force)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ "notes", required_argument, NULL, 'n' },
		{ "to", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:n:t:fh", longopts, NULL)) !=
	       -1) {
		if (c == 'm')
			*mnt = optarg;
		else if (c == 'f' && force)
			*force = true;
		else if (extra && c == extra[0] && opt)
			*opt = optarg;
		else if (c == 'h')
			return ctl_help(argv[0]);
		else
			return ctl_usage(argv[0]);
	}
	if (optind != argc - 2)
		return ctl_usage(argv[0]);
	return -1;
}

int cmd_deploy(int argc, char **argv)
{
	const char *mnt = NULL, *notes = NULL, *env, *version;
	char mbuf[PATH_MAX], name[DFS_LABEL_MAX + 1], *at;
	bool force = false;
	int rc = parse_deploy_opts(argc, argv, "n", &mnt, &notes, &force);

	if (rc >= 0)
		return rc;
	env = argv[optind + 1];
	at = strrchr(argv[optind], '@');
	version = at ? at + 1 : "";
	if (!at || (size_t)(at - argv[optind]) >= sizeof(name) ||
	    !dfs_version_valid(version)) {
		fprintf(stderr,
			"deployctl: \"%s\" is not a valid NAME@VERSION\n",
			argv[optind]);
		return EX_USAGE;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(at - argv[optind]),
		 argv[optind]);
	if (!dfs_name_valid(name)) {
		fprintf(stderr,
			"deployctl: \"%s\" is not a valid NAME@VERSION\n",
			argv[optind]);
		return EX_USAGE;
	}
	if (!env_name_ok(env)) {
		fprintf(stderr,
			"deployctl: \"%s\" is not an environment name\n", env);
		return EX_USAGE;
	}
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	return deploy(mnt, name, version, env, notes, force);
}

int cmd_undeploy(int argc, char **argv)
{
	const char *mnt = NULL, *name, *env;
	char mbuf[PATH_MAX], path[2 * PATH_MAX];
	char why[4096];
	int rc = parse_deploy_opts(argc, argv, NULL, &mnt, NULL, NULL);

	if (rc >= 0)
		return rc;
	name = argv[optind];
	env = argv[optind + 1];
	if (!dfs_name_valid(name) || !env_name_ok(env)) {
		fprintf(stderr,
			"deployctl: \"%s\" in \"%s\" is not a component "
			"in an environment\n",
			name, env);
		return EX_USAGE;
	}
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	snprintf(path, sizeof(path), "%s/environments/%s/%s", mnt, env, name);
	if (unlink(path) < 0) {
		int err = errno;

		if (err == ENOENT &&
		    explain_missing(mnt, NULL, NULL, env, why, sizeof(why))) {
			fprintf(stderr, "deployctl: undeploy %s from %s: %s\n",
				name, env, why);
			return EX_NOINPUT;
		}
		if (err == ENOENT)
			fprintf(stderr,
				"deployctl: undeploy %s from %s: %s is not "
				"deployed there (deployctl status %s shows "
				"what is)\n",
				name, env, name, env);
		else
			fprintf(stderr, "deployctl: undeploy %s from %s: %s\n",
				name, env, strerror(err));
		return 1;
	}
	printf("undeployed %s from %s\n", name, env);
	return 0;
}

/* What rollback looks for in the deployments of one environment. */
struct rollback {
	const char *mnt;
	const char *name;
	char active[DFS_LABEL_MAX + 1]; /* "" when nothing is deployed */
	char to[DFS_LABEL_MAX + 1];	/* "" while none found */
};

static int rollback_active(void *ctx, const struct dfs_deployment_info *d)
{
	struct rollback *r = ctx;

	if (strcmp(d->component, r->name) == 0)
		snprintf(r->active, sizeof(r->active), "%s", d->version);
	return 0;
}

/* Called in the order of numbers: the last match is the latest. */
static int rollback_past(void *ctx, const struct dfs_deployment_info *d)
{
	struct rollback *r = ctx;

	/* A release marked bad is skipped. */
	if (!d->active && strcmp(d->component, r->name) == 0 &&
	    strcmp(d->version, r->active) != 0 &&
	    !package_is_bad(r->mnt, r->name, d->version))
		snprintf(r->to, sizeof(r->to), "%s", d->version);
	return 0;
}

/* The version deployed before the active one of name in env. */
static int previous_version(const char *mnt, const char *env,
			    struct rollback *r)
{
	struct dfs_store *st;
	int rc = open_mount_store(mnt, &st);

	if (rc)
		return rc;
	rc = dfs_deployments_each(st, env, true, rollback_active, r);
	if (rc == 0)
		rc = dfs_deployments_each(st, env, false, rollback_past, r);
	dfs_store_free(st);
	if (rc < 0) {
		fprintf(stderr, "deployctl: rollback %s in %s: %s\n", r->name,
			env, strerror(-rc));
		return EX_IOERR;
	}
	if (!r->to[0]) {
		fprintf(stderr,
			"deployctl: rollback %s in %s: nothing to roll "
			"back to\n",
			r->name, env);
		return 1;
	}
	return 0;
}

int cmd_rollback(int argc, char **argv)
{
	const char *mnt = NULL, *to = NULL, *env;
	struct rollback r = { 0 };
	char mbuf[PATH_MAX], why[4096];
	int rc = parse_deploy_opts(argc, argv, "t", &mnt, &to, NULL);

	if (rc >= 0)
		return rc;
	r.name = argv[optind];
	env = argv[optind + 1];
	if (!dfs_name_valid(r.name) || !env_name_ok(env) ||
	    (to && !dfs_version_valid(to))) {
		fprintf(stderr,
			"deployctl: \"%s\" in \"%s\"%s%s is not a component "
			"(version) in an environment\n",
			r.name, env, to ? " to " : "", to ? to : "");
		return EX_USAGE;
	}
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	if (explain_missing(mnt, r.name, to, env, why, sizeof(why))) {
		fprintf(stderr, "deployctl: rollback %s in %s: %s\n", r.name,
			env, why);
		return EX_NOINPUT;
	}
	if (!to) {
		r.mnt = mnt;
		rc = previous_version(mnt, env, &r);
		if (rc)
			return rc;
		to = r.to;
	}
	return deploy(mnt, r.name, to, env, NULL, false);
}
