// SPDX-License-Identifier: MIT
/*
 * ctl_log.c - deployctl log: the audit trail, as audit.log or JSON lines.
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

#include "ctl_trail.h"
#include "deployctl.h"

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

int cmd_log(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "component", required_argument, NULL, 'c' },
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "mount", required_argument, NULL, 'm' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	struct log_filter f = { 0 };
	const char *mnt = NULL;
	struct dfs_store *st;
	struct trail t;
	char mbuf[PATH_MAX];
	bool json = false;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "e:c:s:jm:h", longopts, NULL)) !=
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
		case 'h':
			return ctl_help(argv[0]);
		default:
			return ctl_usage(argv[0]);
		}
	}
	if (optind != argc)
		return ctl_usage(argv[0]);
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	rc = trail_open(mnt, &t); /* the store, or the mount if not ours */
	if (rc)
		return rc;
	if (!t.st)
		return log_via_mount(mnt, f.env, f.component, f.since, json);
	st = t.st;
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
