// SPDX-License-Identifier: MIT
/*
 * deployctl.c - the deployfs command-line tool.
 *
 *   deployctl init STORE     create an empty store
 *   deployctl fsck STORE     check blobs and references, report orphans
 *
 * Exit codes follow sysexits(3): 0 ok, 1 problems found, 64 usage,
 * 66 no such store, 73 cannot create, 74 I/O error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "deployfs/store.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: deployctl [--help] [--version] COMMAND [ARGS]\n\n"
		"commands:\n"
		"  init STORE    create an empty store in the folder STORE\n"
		"  fsck STORE    check that every referenced blob exists and\n"
		"                hashes to its name; report orphans\n");
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
	int rc;

	if (argc != 2) {
		usage(stderr);
		return EX_USAGE;
	}
	rc = dfs_store_open(argv[1], 0, &st);
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
	if (strcmp(argv[0], "init") == 0)
		return cmd_init(argc, argv);
	if (strcmp(argv[0], "fsck") == 0)
		return cmd_fsck(argc, argv);
	fprintf(stderr, "deployctl: unknown command \"%s\"\n", argv[0]);
	usage(stderr);
	return EX_USAGE;
}
