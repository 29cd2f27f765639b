// SPDX-License-Identifier: MIT
/*
 * fsx_main.c - the random-operation tester as a program, for long runs
 * (tools/soak) and for replaying a seed a test reported:
 *
 *   fsx [-s SEED] [-k SEEDS] [-n OPS] [-l MAXLEN] [-r N] [-t N] [-v]
 *
 * Mounts a fresh store with the test harness (DEPLOYFS_BIN and
 * DEPLOYCTL_BIN name the binaries, TMPDIR where it goes), runs OPS steps
 * for each of SEEDS seeds from SEED on, and prints one line a seed.  Exit
 * status: 0 every run matched, 1 a mismatch (the report on stderr), 2 the
 * mount could not be made, 64 usage.
 */
#include "fsx.h"
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REPORT_CAP 16384

static void usage(FILE *out)
{
	fprintf(out, "usage: fsx [-s SEED] [-k SEEDS] [-n OPS] [-l MAXLEN] "
		     "[-r REMOUNT_EVERY] [-t TIMES_EVERY] [-v]\n");
}

static int number(const char *s, unsigned long long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 0);
	return errno || !*s || *end ? -1 : 0;
}

static int run_one(const struct fsx_opts *o)
{
	static char report[REPORT_CAP];
	struct dfs_mount m;
	struct timespec t0, t1;
	int rc = dfs_mount_setup(&m);

	if (rc < 0) {
		fprintf(stderr, "fsx: cannot mount: %s\n", strerror(-rc));
		dfs_mount_teardown(&m);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = fsx_run(&m, o, report, sizeof(report));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dfs_mount_teardown(&m);
	if (rc < 0) {
		fputs(report, stderr);
		return 1;
	}
	printf("fsx: seed %llu: %lu operations matched in %.1f s\n",
	       (unsigned long long)o->seed, o->ops,
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long v, seeds = 1;
	struct fsx_opts o;
	int c, rc = 0;

	fsx_opts_default(&o, 1, 10000);
	while ((c = getopt(argc, argv, "s:k:n:l:r:t:vh")) != -1) {
		if (c == 'v') {
			o.verbose = true;
			continue;
		}
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == '?' || number(optarg, &v) < 0) {
			usage(stderr);
			return 64;
		}
		if (c == 's')
			o.seed = v;
		else if (c == 'k')
			seeds = v;
		else if (c == 'n')
			o.ops = (unsigned long)v;
		else if (c == 'l' && v >= 4096 && v <= (64u << 20))
			o.maxlen = (unsigned)v;
		else if (c == 'r' && v <= 1000000)
			o.remount_every = (unsigned)v;
		else if (c == 't' && v <= 1000000)
			o.times_every = (unsigned)v;
		else {
			usage(stderr);
			return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	for (unsigned long long i = 0; i < seeds && rc == 0; i++, o.seed++)
		rc = run_one(&o);
	return rc;
}
