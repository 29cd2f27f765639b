// SPDX-License-Identifier: MIT
/*
 * release.c - deployctl package mark-bad NAME@V --reason TEXT and
 * mark-good NAME@V: the user.deployfs.mark-bad ("V REASON") or
 * .mark-good (V) attribute of MNT/packages/NAME.  The daemon records
 * both, refuses (and records) a deploy of a bad release unless forced
 * (deployctl deploy --force), and shows user.deployfs.status = bad and
 * .bad_reason on MNT/packages/NAME/NAME@V.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <sysexits.h>

#include "deployctl.h"
#include "deployfs/names.h"

bool package_is_bad(const char *mnt, const char *name, const char *version)
{
	char path[PATH_MAX + 600], status[8];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/packages/%s/%s@%s", mnt, name, name,
		 version);
	n = getxattr(path, "user.deployfs.status", status, sizeof(status));
	return n == 3 && memcmp(status, "bad", 3) == 0;
}

int package_mark(int argc, char **argv, bool bad)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ "reason", required_argument, NULL, 'r' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	char mbuf[PATH_MAX], dir[PATH_MAX + 300], name[256], value[1024];
	char why[4096];
	const char *mnt = NULL, *reason = NULL, *at;
	const char *form = bad ? "package mark-bad" : "package mark-good";
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:r:h", longopts, NULL)) != -1) {
		if (c == 'm')
			mnt = optarg;
		else if (c == 'r' && bad)
			reason = optarg;
		else if (c == 'h')
			return ctl_help(form);
		else
			return ctl_usage(form);
	}
	at = optind == argc - 1 ? strchr(argv[optind], '@') : NULL;
	if (!at || (size_t)(at - argv[optind]) >= sizeof(name) ||
	    !dfs_version_valid(at + 1) || (bad && (!reason || !*reason)))
		return ctl_usage(form);
	snprintf(name, sizeof(name), "%.*s", (int)(at - argv[optind]),
		 argv[optind]);
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	snprintf(dir, sizeof(dir), "%s/packages/%s", mnt, name);
	snprintf(value, sizeof(value), "%s%s%s", at + 1, bad ? " " : "",
		 bad ? reason : "");
	if (setxattr(dir,
		     bad ? "user.deployfs.mark-bad" : "user.deployfs.mark-good",
		     value, strlen(value), 0) < 0) {
		int err = errno;

		if (err == ENOENT && explain_missing(mnt, name, at + 1, NULL,
						     why, sizeof(why))) {
			fprintf(stderr, "deployctl: cannot mark %s %s: %s\n",
				argv[optind], bad ? "bad" : "good", why);
			return EX_NOINPUT;
		}
		fprintf(stderr, "deployctl: cannot mark %s %s: %s\n",
			argv[optind], bad ? "bad" : "good", strerror(err));
		return err == ENOENT ? EX_NOINPUT : 1;
	}
	printf("%s marked %s\n", argv[optind], bad ? "bad" : "good");
	return 0;
}
