// SPDX-License-Identifier: MIT
/*
 * ctl_prune.c - retention: deployctl package keep|unkeep NAME@V (the
 * user.deployfs.keep or .unkeep attribute of MNT/packages/NAME, set to
 * V) and deployctl prune [NAME] --keep N [--min-age DURATION] [--dry-run]
 * [-v]: user.deployfs.prune = "N SECONDS[ dry]" on MNT/packages/NAME (or
 * MNT/packages/ for every component), then its user.deployfs.prune_result
 * printed.  The daemon decides and removes in one transaction, so a
 * deploy racing a prune either keeps its package or finds it removed.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sysexits.h>

#include "deployctl.h"
#include "deployfs/names.h"

int package_keep(int argc, char **argv, bool keep)
{
	struct pkg_arg p;
	char why[4096];
	int rc = package_arg(argc, argv,
			     keep ? "package keep" : "package unkeep", &p);

	if (rc >= 0)
		return rc;
	if (setxattr(p.dir,
		     keep ? "user.deployfs.keep" : "user.deployfs.unkeep",
		     p.version, strlen(p.version), 0) < 0) {
		int err = errno;

		if (err != ENOENT || !explain_missing(p.mnt, p.name, p.version,
						      NULL, why, sizeof(why)))
			snprintf(why, sizeof(why), "%s", strerror(err));
		fprintf(stderr, "deployctl: cannot %s %s: %s\n",
			keep ? "keep" : "unkeep", p.arg, why);
		return err == ENOENT ? EX_NOINPUT : 1;
	}
	printf("%s %s\n", keep ? "kept" : "unkept", p.arg);
	return 0;
}

/* "7d", "12h", "30m", "45s", "3600": seconds; -1 if not one. */
static long long duration(const char *text)
{
	static const struct {
		char unit;
		long long secs;
	} units[] = { { 's', 1 },
		      { 'm', 60 },
		      { 'h', 3600 },
		      { 'd', 86400 },
		      { 'w', 604800 } };
	long long n;
	char *end;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno || n < 0)
		return -1;
	if (*end == '\0')
		return n;
	for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
		if (end[0] == units[i].unit && end[1] == '\0')
			return n <= 9000000000LL / units[i].secs
				       ? n * units[i].secs
				       : -1;
	return -1;
}

/* A whole number >= 0 in text, else -1. */
static long long count(const char *text)
{
	long long n;
	char *end;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	n = strtoll(text, &end, 10);
	return errno || *end || n > 1000000000LL ? -1 : n;
}

struct prune_opts {
	long long keep;
	long long min_age;
	bool dry;
	bool verbose;
	const char *mnt;
	const char *name;
};

/* 0, or an exit code with the reason printed. */
static int prune_parse(int argc, char **argv, struct prune_opts *o)
{
	static const struct option longopts[] = {
		{ "keep", required_argument, NULL, 'k' },
		{ "min-age", required_argument, NULL, 'a' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "mount", required_argument, NULL, 'm' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	const char *keep = NULL, *age = "0";
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "k:a:nvm:h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'k':
			keep = optarg;
			break;
		case 'a':
			age = optarg;
			break;
		case 'n':
			o->dry = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'm':
			o->mnt = optarg;
			break;
		case 'h':
			return ctl_help(argv[0]) == 0 ? -1 : EX_IOERR;
		default:
			return ctl_usage(argv[0]);
		}
	}
	if (optind < argc - 1)
		return ctl_usage(argv[0]);
	o->name = optind == argc - 1 ? argv[optind] : NULL;
	if (!keep) {
		fprintf(stderr, "deployctl: prune needs --keep N (how many of "
				"the newest packages stay)\n");
		return EX_USAGE;
	}
	o->keep = count(keep);
	o->min_age = duration(age);
	if (o->keep < 0 || o->min_age < 0) {
		fprintf(stderr, "deployctl: %s \"%s\" is not %s\n",
			o->keep < 0 ? "--keep" : "--min-age",
			o->keep < 0 ? keep : age,
			o->keep < 0 ? "a whole number >= 0"
				    : "a duration (7d, 12h, 30m, 45s, 3600)");
		return EX_USAGE;
	}
	if (o->name && !dfs_name_valid(o->name)) {
		fprintf(stderr, "deployctl: \"%s\" is not a component name\n",
			o->name);
		return EX_USAGE;
	}
	return 0;
}

/* Print the daemon's report: removals always, the rest when asked. */
static void prune_print(const char *report, const struct prune_opts *o)
{
	const char *line = report;
	int removed = 0;

	while (*line) {
		const char *nl = strchr(line, '\n');
		int len = nl ? (int)(nl - line) : (int)strlen(line);
		bool kept = strncmp(line, "kept ", 5) == 0;

		if (!kept)
			removed++;
		if (!kept || o->verbose || o->dry)
			printf("%.*s\n", len, line);
		line += len + (nl ? 1 : 0);
	}
	if (!removed)
		printf("%s\n", o->dry ? "would remove nothing"
				      : "removed "
					"nothing");
}

int cmd_prune(int argc, char **argv)
{
	struct prune_opts o = { 0 };
	char mbuf[PATH_MAX], dir[PATH_MAX + 300], value[64], why[4096];
	static char report[65536];
	struct stat sb;
	ssize_t n;
	int rc = prune_parse(argc, argv, &o);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (!o.mnt)
		o.mnt = default_mount(mbuf, sizeof(mbuf));
	snprintf(dir, sizeof(dir), "%s/packages%s%s", o.mnt, o.name ? "/" : "",
		 o.name ? o.name : "");
	if (stat(dir, &sb) < 0) {
		int err = errno;

		if (o.name && err == ENOENT &&
		    explain_missing(o.mnt, o.name, NULL, NULL, why,
				    sizeof(why)))
			fprintf(stderr, "deployctl: cannot prune: %s\n", why);
		else
			fprintf(stderr, "deployctl: %s: %s\n", dir,
				strerror(err));
		return err == ENOENT ? EX_NOINPUT : 1;
	}
	snprintf(value, sizeof(value), "%lld %lld%s", o.keep, o.min_age,
		 o.dry ? " dry" : "");
	if (setxattr(dir, "user.deployfs.prune", value, strlen(value), 0) < 0) {
		fprintf(stderr, "deployctl: cannot prune %s: %s\n",
			o.name ? o.name : "packages", strerror(errno));
		return errno == ENOENT ? EX_NOINPUT : 1;
	}
	n = getxattr(dir, "user.deployfs.prune_result", report,
		     sizeof(report) - 1);
	report[n > 0 ? n : 0] = '\0';
	prune_print(report, &o);
	return 0;
}
