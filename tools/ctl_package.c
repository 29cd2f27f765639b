// SPDX-License-Identifier: MIT
/*
 * ctl_package.c - deployctl package: snapshots through the mount, and package
 * remove|restore; the refusals the kernel answers are recorded here.
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
 * The environments (", " between, into buf) that show NAME@V: deployed
 * there, or a copy of it in progress.  The count, or -errno.
 */
static int deployed_in(const char *mnt, const char *name, const char *version,
		       char *buf, size_t cap)
{
	char envs[PATH_MAX + 16], path[2 * PATH_MAX];
	struct dirent *de;
	size_t len = 0;
	int n = 0;
	DIR *d;

	snprintf(envs, sizeof(envs), "%s/environments", mnt);
	d = opendir(envs);
	if (!d)
		return -errno;
	buf[0] = '\0';
	while ((de = readdir(d))) {
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s@%s", envs, de->d_name,
			 name, version);
		if (lstat(path, &sb) < 0 || len + strlen(de->d_name) + 8 > cap)
			continue;
		len += (size_t)snprintf(buf + len, cap - len, "%s%s",
					n ? ", " : "", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/*
 * deployctl package remove|restore NAME@V: the user.deployfs.remove or
 * .restore attribute of MNT/packages/NAME, set to V.  The daemon refuses
 * (and records) a remove while the package is deployed (EBUSY, naming
 * the environments in audit.log).
 */
int package_arg(int argc, char **argv, const char *form, struct pkg_arg *p)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	const char *at;
	int c;

	p->mnt = NULL;
	optind = 0;
	while ((c = getopt_long(argc, argv, "m:h", longopts, NULL)) != -1) {
		if (c == 'h')
			return ctl_help(form);
		if (c != 'm')
			return ctl_usage(form);
		p->mnt = optarg;
	}
	if (optind != argc - 1)
		return ctl_usage(form);
	p->arg = argv[optind];
	at = strchr(p->arg, '@');
	if (at && (size_t)(at - p->arg) < sizeof(p->name))
		snprintf(p->name, sizeof(p->name), "%.*s", (int)(at - p->arg),
			 p->arg);
	if (!at || (size_t)(at - p->arg) >= sizeof(p->name) ||
	    !dfs_version_valid(at + 1) || !dfs_name_valid(p->name)) {
		fprintf(stderr, "deployctl: \"%s\" is not NAME@VERSION\n",
			p->arg);
		return EX_USAGE;
	}
	p->version = at + 1;
	if (!p->mnt)
		p->mnt = default_mount(p->mbuf, sizeof(p->mbuf));
	snprintf(p->dir, sizeof(p->dir), "%s/packages/%s", p->mnt, p->name);
	return -1;
}

static int package_set_removed(int argc, char **argv, bool removed)
{
	const char *what = removed ? "remove" : "restore";
	struct pkg_arg p;
	char why[4096];
	int rc = package_arg(
		argc, argv, removed ? "package remove" : "package restore", &p);

	if (rc >= 0)
		return rc;
	if (setxattr(p.dir,
		     removed ? "user.deployfs.remove" : "user.deployfs.restore",
		     p.version, strlen(p.version), 0) < 0) {
		int err = errno;

		if (err == ENOENT &&
		    explain_missing(p.mnt, p.name, removed ? p.version : NULL,
				    NULL, why, sizeof(why))) {
			fprintf(stderr, "deployctl: cannot %s %s: %s\n", what,
				p.arg, why);
			return EX_NOINPUT;
		}
		if (err == EBUSY && removed &&
		    deployed_in(p.mnt, p.name, p.version, why, sizeof(why)) >
			    0) {
			fprintf(stderr,
				"deployctl: cannot remove %s: it is deployed "
				"(or being copied) in %s; undeploy it there "
				"first\n",
				p.arg, why);
			return 1;
		}
		fprintf(stderr, "deployctl: cannot %s %s: %s%s\n", what, p.arg,
			strerror(err),
			err == EBUSY ? " (it is deployed: see deployctl status)"
			: err == EPERM && removed
				? " (it is kept: deployctl package unkeep it "
				  "first)"
				: "");
		return err == ENOENT ? EX_NOINPUT : 1;
	}
	printf("%s %s\n", removed ? "removed" : "restored", p.arg);
	return 0;
}

int cmd_package(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "notes", required_argument, NULL, 'n' },
		{ "mount", required_argument, NULL, 'm' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	char mbuf[PATH_MAX], dir[PATH_MAX + 80], path[PATH_MAX + 160], vbuf[32];
	const char *version = NULL, *notes = NULL, *mnt = NULL, *name;
	int c;

	/* A component may be called remove: the form takes NAME@V (or
	 * --help) after it. */
	if (argc >= 3 &&
	    (strchr(argv[2], '@') || strcmp(argv[2], "--help") == 0 ||
	     strcmp(argv[2], "-h") == 0) &&
	    (strcmp(argv[1], "remove") == 0 || strcmp(argv[1], "restore") == 0))
		return package_set_removed(argc - 1, argv + 1,
					   strcmp(argv[1], "remove") == 0);
	if (argc >= 2 &&
	    (strcmp(argv[1], "keep") == 0 || strcmp(argv[1], "unkeep") == 0))
		return package_keep(argc - 1, argv + 1,
				    strcmp(argv[1], "keep") == 0);
	if (argc >= 2 && (strcmp(argv[1], "mark-bad") == 0 ||
			  strcmp(argv[1], "mark-good") == 0))
		return package_mark(argc - 1, argv + 1,
				    strcmp(argv[1], "mark-bad") == 0);
	optind = 0; /* GNU: start afresh, permuting */
	while ((c = getopt_long(argc, argv, "v:n:m:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return ctl_help(argv[0]);
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
			return ctl_usage(argv[0]);
		}
	}
	if (optind != argc - 1)
		return ctl_usage(argv[0]);
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
				"deployctl: no component \"%s\" under "
				"%s/packages: %s (ls %s/packages lists "
				"them)\n",
				name, mnt, strerror(errno), mnt);
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
