// SPDX-License-Identifier: MIT
/*
 * deployctl.c - the deployfs command-line tool.
 *
 *   deployctl init STORE     create an empty store
 *   deployctl fsck STORE     check the database, blobs and references
 *   deployctl package NAME [--version V] [--notes TEXT] [--mount MNT]
 *                            package a component through the mount
 *   deployctl package remove|restore NAME@V [--mount MNT]
 *                            soft-delete a package, or undo that
 *   deployctl status [ENV] [--mount MNT]
 *                            what is deployed where, copies in progress,
 *                            unmet requirements (read from the store)
 *   deployctl deploy NAME@V ENV [--notes TEXT] [--mount MNT]
 *   deployctl undeploy NAME ENV [--mount MNT]
 *   deployctl rollback NAME ENV [--to V] [--mount MNT]
 *                            (un)deploy through the mount, as ln -sfn
 *                            and rm would
 *   deployctl log [--env E] [--component C] [--since WHEN] [--json]
 *                 [--mount MNT]
 *                            the audit trail, as audit.log or JSON lines
 *
 * Exit codes follow sysexits(3): 0 ok, 1 problems found or refused, 64
 * usage, 66 no such store (or environment), 73 cannot create, 74 I/O
 * error.
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

static void usage(FILE *out)
{
	fprintf(out,
		"usage: deployctl [--help] [--version] COMMAND [ARGS]\n\n"
		"commands:\n"
		"  init STORE    create an empty store in the folder STORE\n"
		"  fsck STORE    check the database (SQLite's integrity_check\n"
		"                and foreign_key_check), that every referenced\n"
		"                blob exists and hashes to its name; report\n"
		"                orphans and a database older than its files\n"
		"  package NAME [--version V] [--notes TEXT] [--mount MNT]\n"
		"                snapshot component NAME as version V (default:\n"
		"                the next whole number) through the mount MNT\n"
		"                (default: $DEPLOYFS_MOUNT, else ~/deployfs);\n"
		"                prints the package's path\n"
		"  package remove|restore NAME@V [--mount MNT]\n"
		"                hide package NAME@V from packages/ (refused\n"
		"                while it is deployed), or bring it back until\n"
		"                its space is reclaimed\n"
		"  status [ENV] [--mount MNT]\n"
		"                what each environment (or ENV) has deployed,\n"
		"                copies in progress and unmet requirements\n"
		"  deploy NAME@V ENV [--notes TEXT] [--mount MNT]\n"
		"                deploy package NAME@V to ENV (as ln -sfn)\n"
		"  undeploy NAME ENV [--mount MNT]\n"
		"                remove NAME from ENV\n"
		"  rollback NAME ENV [--to V] [--mount MNT]\n"
		"                deploy V, or else the version deployed before\n"
		"                the current one, of NAME to ENV\n"
		"  log [--env E] [--component C] [--since WHEN] [--json]\n"
		"      [--mount MNT]\n"
		"                the audit trail, oldest first, as audit.log\n"
		"                shows it or one JSON object a line; WHEN is\n"
		"                YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or\n"
		"                @UNIXSECONDS\n");
}

static int cmd_init(int argc, char **argv)
{
	int rc;

	if (argc != 2) {
		usage(stderr);
		return EX_USAGE;
	}
	rc = dfs_store_create(argv[1]);
	if (rc < 0) {
		fprintf(stderr, "deployctl: cannot create store \"%s\": %s\n",
			argv[1], dfs_store_strerror(rc));
		return EX_CANTCREAT;
	}
	printf("created store %s\n", argv[1]);
	return 0;
}

static void print_problem(void *ctx, const struct dfs_fsck_problem *p)
{
	(void)ctx;
	if (p->ino)
		printf("%s %s ino=%llu\n", p->kind, p->what,
		       (unsigned long long)p->ino);
	else
		printf("%s %s\n", p->kind, p->what);
}

static int cmd_fsck(int argc, char **argv)
{
	struct dfs_store *st;
	char why[1024];
	int rc;

	if (argc != 2) {
		usage(stderr);
		return EX_USAGE;
	}
	rc = dfs_store_open_why(argv[1], 0, &st, why, sizeof(why));
	if (rc == -EUCLEAN || rc == -ENODATA) {
		/* A database that cannot be read is what fsck looks for. */
		printf("database %s\n", why[0] ? why : dfs_store_strerror(rc));
		fprintf(stderr, "fsck %s: %s; 1 problem\n", argv[1],
			dfs_store_strerror(rc));
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "deployctl: cannot open store \"%s\": %s\n",
			argv[1], dfs_store_strerror(rc));
		return rc == -ENOENT || rc == -EMEDIUMTYPE ? EX_NOINPUT
							   : EX_IOERR;
	}
	rc = dfs_store_fsck(st, print_problem, NULL);
	dfs_store_free(st);
	if (rc < 0) {
		fprintf(stderr, "deployctl: fsck failed: %s\n", strerror(-rc));
		return EX_IOERR;
	}
	fprintf(stderr, "fsck %s: %d problem%s\n", argv[1], rc,
		rc == 1 ? "" : "s");
	return rc ? 1 : 0;
}

static const char *default_mount(char *buf, size_t cap)
{
	const char *env = getenv("DEPLOYFS_MOUNT"), *home = getenv("HOME");

	if (env && *env)
		return env;
	snprintf(buf, cap, "%s/deployfs", home ? home : "");
	return buf;
}

/* The next whole-number version in the package folder dir. */
static long next_version(const char *dir, const char *name)
{
	size_t len = strlen(name);
	struct dirent *de;
	long max = 0;
	DIR *d = opendir(dir);

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char *end;
		long v;

		if (strncmp(de->d_name, name, len) || de->d_name[len] != '@')
			continue;
		v = strtol(de->d_name + len + 1, &end, 10);
		if (*end == '\0' && end != de->d_name + len + 1 && v > max)
			max = v;
	}
	closedir(d);
	return max + 1;
}

/* The store behind the mount mnt: its source in /proc/self/mountinfo. */
static int store_of_mount(const char *mnt, char *buf, size_t cap)
{
	char line[4096], real[PATH_MAX];
	int rc = -ENOENT;
	FILE *f;

	if (!realpath(mnt, real))
		return -errno;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (rc < 0 && fgets(line, sizeof(line), f)) {
		char point[PATH_MAX], type[64], source[PATH_MAX];
		const char *sep = strstr(line, " - ");

		if (!sep ||
		    sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(sep, " - %63s %4095s", type, source) != 2)
			continue;
		if (strcmp(point, real) == 0 &&
		    strcmp(type, "fuse.deployfs") == 0 && source[0] == '/') {
			snprintf(buf, cap, "%s", source);
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

/*
 * EEXIST (the version exists) and ENOENT (no such component) are
 * answered by the kernel's name lookup before the daemon sees the mkdir,
 * so the daemon cannot record them; record them here, in the store.
 */
static void record_refusal(const char *mnt, const char *name,
			   const char *version, int err)
{
	struct dfs_audit_event ev = { 0 };
	char store[PATH_MAX], reason[128];
	struct dfs_store *st;

	if (store_of_mount(mnt, store, sizeof(store)) < 0 ||
	    dfs_store_open(store, 0, &st) < 0) {
		fprintf(stderr,
			"deployctl: the refusal could not be recorded "
			"(no store found behind %s)\n",
			mnt);
		return;
	}
	snprintf(reason, sizeof(reason), "%s: %s", strerror(err),
		 err == EEXIST ? "the version exists" : "no such component");
	ev.action = "package";
	ev.component = name;
	ev.version = version;
	ev.result = "refused";
	ev.reason = reason;
	if (dfs_audit_record(st, NULL, &ev) < 0)
		fprintf(stderr, "deployctl: the refusal could not be "
				"recorded\n");
	dfs_store_free(st);
}

/*
 * deployctl package remove|restore NAME@V: the user.deployfs.remove or
 * .restore attribute of MNT/packages/NAME, set to V.  The daemon refuses
 * (and records) a remove while the package is deployed (EBUSY, naming
 * the environments in audit.log).
 */
static int package_set_removed(int argc, char **argv, bool removed)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	char mbuf[PATH_MAX], dir[PATH_MAX + 300], name[256];
	const char *mnt = NULL, *at, *what = removed ? "remove" : "restore";
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:", longopts, NULL)) != -1) {
		if (c != 'm') {
			usage(stderr);
			return EX_USAGE;
		}
		mnt = optarg;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EX_USAGE;
	}
	at = strchr(argv[optind], '@');
	if (!at || (size_t)(at - argv[optind]) >= sizeof(name) ||
	    !dfs_version_valid(at + 1)) {
		fprintf(stderr, "deployctl: \"%s\" is not NAME@VERSION\n",
			argv[optind]);
		return EX_USAGE;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(at - argv[optind]),
		 argv[optind]);
	if (!dfs_name_valid(name)) {
		fprintf(stderr, "deployctl: \"%s\" is not NAME@VERSION\n",
			argv[optind]);
		return EX_USAGE;
	}
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	snprintf(dir, sizeof(dir), "%s/packages/%s", mnt, name);
	if (setxattr(dir,
		     removed ? "user.deployfs.remove" : "user.deployfs.restore",
		     at + 1, strlen(at + 1), 0) < 0) {
		int err = errno;

		fprintf(stderr, "deployctl: cannot %s %s: %s%s\n", what,
			argv[optind], strerror(err),
			err == EBUSY ? " (it is deployed: see deployctl status)"
				     : "");
		return err == ENOENT ? EX_NOINPUT : 1;
	}
	printf("%s %s\n", removed ? "removed" : "restored", argv[optind]);
	return 0;
}

static int cmd_package(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "notes", required_argument, NULL, 'n' },
		{ "mount", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	char mbuf[PATH_MAX], dir[PATH_MAX + 80], path[PATH_MAX + 160], vbuf[32];
	const char *version = NULL, *notes = NULL, *mnt = NULL, *name;
	int c;

	if (argc >= 3 && strchr(argv[2], '@') &&
	    (strcmp(argv[1], "remove") == 0 || strcmp(argv[1], "restore") == 0))
		return package_set_removed(argc - 1, argv + 1,
					   strcmp(argv[1], "remove") == 0);
	optind = 0; /* GNU: start afresh, permuting */
	while ((c = getopt_long(argc, argv, "v:n:m:", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			version = optarg;
			break;
		case 'n':
			notes = optarg;
			break;
		case 'm':
			mnt = optarg;
			break;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EX_USAGE;
	}
	name = argv[optind];
	if (!dfs_name_valid(name) || (version && !dfs_version_valid(version))) {
		fprintf(stderr,
			"deployctl: \"%s%s%s\" is not a valid "
			"NAME@VERSION\n",
			name, version ? "@" : "", version ? version : "");
		return EX_USAGE;
	}
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	snprintf(dir, sizeof(dir), "%s/packages/%s", mnt, name);
	if (!version) {
		long v = next_version(dir, name);

		if (v < 0) {
			fprintf(stderr,
				"deployctl: no component \"%s\" "
				"under %s/packages: %s\n",
				name, mnt, strerror(errno));
			record_refusal(mnt, name, NULL, ENOENT);
			return EX_NOINPUT;
		}
		snprintf(vbuf, sizeof(vbuf), "%ld", v);
		version = vbuf;
	}
	snprintf(path, sizeof(path), "%s/%s@%s", dir, name, version);
	if (mkdir(path, 0755) < 0) {
		int err = errno;

		fprintf(stderr, "deployctl: cannot package %s@%s: %s\n", name,
			version, strerror(err));
		if (err == EEXIST || err == ENOENT)
			record_refusal(mnt, name, version, err);
		return err == ENOENT ? EX_NOINPUT : 1;
	}
	if (notes && setxattr(path, "user.deployfs.notes", notes, strlen(notes),
			      0) < 0) {
		fprintf(stderr,
			"deployctl: %s made, but its notes were "
			"refused: %s\n",
			path, strerror(errno));
		return 1;
	}
	printf("%s\n", path);
	return 0;
}

/* ---- reports from the store behind a mount ---------------------------- */

/* Open the store the mount mnt serves, read-only use (not as its daemon). */
static int open_mount_store(const char *mnt, struct dfs_store **ret)
{
	char store[PATH_MAX];
	int rc = store_of_mount(mnt, store, sizeof(store));

	if (rc == -ENOENT) {
		fprintf(stderr, "deployctl: %s is not a deployfs mount\n", mnt);
		return EX_NOINPUT;
	}
	if (rc < 0) {
		fprintf(stderr,
			"deployctl: cannot find the store behind %s: %s\n", mnt,
			strerror(-rc));
		return EX_NOINPUT;
	}
	rc = dfs_store_open(store, 0, ret);
	if (rc < 0) {
		fprintf(stderr, "deployctl: cannot open store \"%s\": %s\n",
			store, dfs_store_strerror(rc));
		return rc == -ENOENT || rc == -EMEDIUMTYPE ? EX_NOINPUT
							   : EX_IOERR;
	}
	return 0;
}

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
	char num[32], when[64];

	snprintf(num, sizeof(num), "%lld", (long long)d->number);
	table_add(&s->deployed, d->env, d->component, d->version, num,
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

static int cmd_status(int argc, char **argv)
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

/* ---- deploying through the mount -------------------------------------- */

/* An environment name as far as a path goes; the mount judges the rest. */
static bool env_name_ok(const char *env)
{
	size_t len = strlen(env);

	return len > 0 && len <= DFS_LABEL_MAX && !strchr(env, '/') &&
	       env[0] != '.';
}

/*
 * Deploy name@version to env the way ln -sfn does: a link with a
 * temporary name, renamed over env/name.  Returns 0 or an exit code.
 */
static int deploy(const char *mnt, const char *name, const char *version,
		  const char *env, const char *notes)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 300], link[PATH_MAX + 300];
	char target[600], view[PATH_MAX + 600], warning[1024];
	ssize_t n;

	snprintf(dir, sizeof(dir), "%s/environments/%s", mnt, env);
	snprintf(tmp, sizeof(tmp), "%s/.%s.deployctl.%ld", dir, name,
		 (long)getpid());
	snprintf(link, sizeof(link), "%s/%s", dir, name);
	snprintf(target, sizeof(target), "../../packages/%s/%s@%s", name, name,
		 version);
	if (symlink(target, tmp) < 0) {
		fprintf(stderr, "deployctl: deploy %s@%s to %s: %s\n", name,
			version, env, strerror(errno));
		return 1;
	}
	if (rename(tmp, link) < 0) {
		int err = errno;

		(void)unlink(tmp);
		fprintf(stderr, "deployctl: deploy %s@%s to %s: %s\n", name,
			version, env, strerror(err));
		return 1;
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
 * or --to where asked for (opt NULL otherwise). */
static int parse_deploy_opts(int argc, char **argv, const char *extra,
			     const char **mnt, const char **opt)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ "notes", required_argument, NULL, 'n' },
		{ "to", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:n:t:", longopts, NULL)) != -1) {
		if (c == 'm') {
			*mnt = optarg;
		} else if (extra && c == extra[0] && opt) {
			*opt = optarg;
		} else {
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc - 2) {
		usage(stderr);
		return EX_USAGE;
	}
	return 0;
}

static int cmd_deploy(int argc, char **argv)
{
	const char *mnt = NULL, *notes = NULL, *env, *version;
	char mbuf[PATH_MAX], name[DFS_LABEL_MAX + 1], *at;
	int rc = parse_deploy_opts(argc, argv, "n", &mnt, &notes);

	if (rc)
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
	return deploy(mnt, name, version, env, notes);
}

static int cmd_undeploy(int argc, char **argv)
{
	const char *mnt = NULL, *name, *env;
	char mbuf[PATH_MAX], path[2 * PATH_MAX];
	int rc = parse_deploy_opts(argc, argv, NULL, &mnt, NULL);

	if (rc)
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
		fprintf(stderr, "deployctl: undeploy %s from %s: %s\n", name,
			env, strerror(errno));
		return 1;
	}
	printf("undeployed %s from %s\n", name, env);
	return 0;
}

/* What rollback looks for in the deployments of one environment. */
struct rollback {
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

	if (!d->active && strcmp(d->component, r->name) == 0 &&
	    strcmp(d->version, r->active) != 0)
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

static int cmd_rollback(int argc, char **argv)
{
	const char *mnt = NULL, *to = NULL, *env;
	struct rollback r = { 0 };
	char mbuf[PATH_MAX];
	int rc = parse_deploy_opts(argc, argv, "t", &mnt, &to);

	if (rc)
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
	if (!to) {
		rc = previous_version(mnt, env, &r);
		if (rc)
			return rc;
		to = r.to;
	}
	return deploy(mnt, r.name, to, env, NULL);
}

/* ---- the audit trail ---------------------------------------------------- */

/* Does s start with pat ('d': a digit, anything else: itself)? */
static bool shaped(const char *s, const char *pat)
{
	for (; *pat; s++, pat++)
		if (*pat == 'd' ? *s < '0' || *s > '9' : *s != *pat)
			return false;
	return true;
}

static int digits(const char *s, int n)
{
	int v = 0;

	while (n--)
		v = 10 * v + (*s++ - '0');
	return v;
}

/*
 * WHEN as ns since the epoch: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC,
 * an optional Z) or @UNIXSECONDS.  Returns 0 or -EINVAL.
 */
static int parse_since(const char *when, int64_t *ret)
{
	struct tm tm = { 0 }, check;
	long long secs;
	size_t n = 10;
	char *end;
	time_t t;

	if (when[0] == '@') {
		errno = 0;
		secs = strtoll(when + 1, &end, 10);
		if (!shaped(when + 1, "d") || *end || errno || secs < 0 ||
		    secs > INT64_MAX / 1000000000)
			return -EINVAL;
		*ret = secs * 1000000000;
		return 0;
	}
	if (!shaped(when, "dddd-dd-dd"))
		return -EINVAL;
	tm.tm_year = digits(when, 4) - 1900;
	tm.tm_mon = digits(when + 5, 2) - 1;
	tm.tm_mday = digits(when + 8, 2);
	if (shaped(when + n, "Tdd:dd")) {
		tm.tm_hour = digits(when + n + 1, 2);
		tm.tm_min = digits(when + n + 4, 2);
		n += 6;
		if (shaped(when + n, ":dd")) {
			tm.tm_sec = digits(when + n + 1, 2);
			n += 3;
		}
		if (when[n] == 'Z')
			n++;
	}
	if (when[n] != '\0')
		return -EINVAL;
	check = tm;
	t = timegm(&tm);
	/* timegm() normalises: Feb 30 comes back as Mar 2 */
	if (t < 0 || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon ||
	    tm.tm_hour != check.tm_hour || tm.tm_min != check.tm_min ||
	    tm.tm_sec != check.tm_sec)
		return -EINVAL;
	*ret = (int64_t)t * 1000000000;
	return 0;
}

struct log_filter {
	const char *env;
	const char *component;
	int64_t since;
};

static bool same(const char *want, const char *have)
{
	return !want || (have && strcmp(want, have) == 0);
}

static int log_line(void *ctx, const struct dfs_audit_event *ev)
{
	const struct log_filter *f = ctx;
	char line[16384];

	if (ev->ts < f->since || !same(f->env, ev->env) ||
	    !same(f->component, ev->component))
		return 0;
	(void)dfs_audit_format(ev, line, sizeof(line));
	return fputs(line, stdout) < 0;
}

static int log_json(void *ctx, const char *json)
{
	(void)ctx;
	return printf("%s\n", json) < 0;
}

static int cmd_log(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "component", required_argument, NULL, 'c' },
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "mount", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct log_filter f = { 0 };
	const char *mnt = NULL;
	struct dfs_store *st;
	char mbuf[PATH_MAX];
	bool json = false;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "e:c:s:jm:", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'e':
			f.env = optarg;
			break;
		case 'c':
			f.component = optarg;
			break;
		case 's':
			if (parse_since(optarg, &f.since) < 0) {
				fprintf(stderr,
					"deployctl: --since \"%s\": not "
					"YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] "
					"or @UNIXSECONDS\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'm':
			mnt = optarg;
			break;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	rc = open_mount_store(mnt, &st);
	if (rc)
		return rc;
	if (json)
		rc = dfs_audit_json_each(st, f.env, f.component, f.since,
					 log_json, NULL);
	else
		rc = dfs_audit_each(st, 0, log_line, &f);
	dfs_store_free(st);
	if (rc < 0) {
		fprintf(stderr, "deployctl: log: %s\n", strerror(-rc));
		return EX_IOERR;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "deployctl: log: %s\n", strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "init", cmd_init },	      { "fsck", cmd_fsck },
	{ "package", cmd_package },   { "status", cmd_status },
	{ "deploy", cmd_deploy },     { "undeploy", cmd_undeploy },
	{ "rollback", cmd_rollback }, { "log", cmd_log },
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("deployctl %s (store schema %d)\n", DFS_VERSION,
			       dfs_store_schema_version());
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EX_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			return commands[i].run(argc, argv);
	fprintf(stderr, "deployctl: unknown command \"%s\"\n", argv[0]);
	usage(stderr);
	return EX_USAGE;
}
