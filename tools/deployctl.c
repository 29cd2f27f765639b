// SPDX-License-Identifier: MIT
/*
 * deployctl.c - the deployfs command-line tool.
 *
 *   deployctl init STORE     create an empty store
 *   deployctl fsck STORE     check the database, blobs and references
 *   deployctl backup [--mount MNT | --store STORE] DEST
 *                            a consistent copy of the store, while it is
 *                            mounted, into DEST (a store; incremental)
 *   deployctl restore BACKUP STORE
 *                            a new store STORE from the backup BACKUP
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
 *   deployctl history ENV [NAME] [--json] [--sort FIELD] [--mount MNT]
 *   deployctl diff A B [--mount MNT]
 *   deployctl why [PATH] [-n N] [--json] [--mount MNT]
 *                            deployments to ENV; what differs between
 *                            environments and packages; the refusals
 *                            recorded for you or PATH, and why
 *
 * Exit codes follow sysexits(3): 0 ok, 1 problems found or refused, 64
 * usage, 66 no such store (or environment), 73 cannot create, 74 I/O
 * error, 75 try again (the store changed under every backup attempt).
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

#include "deployctl.h"
#include "deployfs/names.h"

#include "deployfs/store.h"

#include "deployctl.h"

void usage(FILE *out)
{
	fprintf(out,
		"usage: deployctl [--help] [--version] COMMAND [ARGS]\n\n"
		"commands:\n"
		"  init STORE    create an empty store in the folder STORE\n"
		"  fsck STORE    check the database (SQLite's integrity_check\n"
		"                and foreign_key_check), that every referenced\n"
		"                blob exists and hashes to its name; report\n"
		"                orphans and a database older than its files\n"
		"  backup [--mount MNT | --store STORE] DEST\n"
		"                copy the store behind MNT (default as for\n"
		"                package), or STORE, consistently while it is in\n"
		"                use, into the folder DEST, which mounts as a\n"
		"                store; an earlier backup in DEST gets only the\n"
		"                new blobs\n"
		"  restore BACKUP STORE\n"
		"                make the new store STORE (absent or empty) from\n"
		"                the backup BACKUP\n"
		"  package NAME [--version V] [--notes TEXT] [--mount MNT]\n"
		"                snapshot component NAME as version V (default:\n"
		"                the next whole number) through the mount MNT\n"
		"                (default: $DEPLOYFS_MOUNT, else ~/deployfs);\n"
		"                prints the package's path\n"
		"  package remove|restore NAME@V [--mount MNT]\n"
		"                hide package NAME@V from packages/ (refused\n"
		"                while it is deployed), or bring it back until\n"
		"                its space is reclaimed\n"
		"  package mark-bad NAME@V --reason TEXT [--mount MNT]\n"
		"  package mark-good NAME@V [--mount MNT]\n"
		"                a bad release is not deployed again unless\n"
		"                forced, and rollback skips it; mark-good undoes\n"
		"  package keep|unkeep NAME@V [--mount MNT]\n"
		"                a kept package is never pruned nor removed\n"
		"  prune [NAME] --keep N [--min-age DURATION] [--dry-run] [-v]\n"
		"                soft-remove all but the newest N packages of\n"
		"                NAME (or each component) not deployed or kept\n"
		"  status [ENV] [--mount MNT]\n"
		"                what each environment (or ENV) has deployed,\n"
		"                copies in progress and unmet requirements\n"
		"  deploy NAME@V ENV [--notes TEXT] [--force] [--mount MNT]\n"
		"                deploy package NAME@V to ENV (as ln -sfn);\n"
		"                --force deploys a release marked bad (root or\n"
		"                the owner of ENV)\n"
		"  undeploy NAME ENV [--mount MNT]\n"
		"                remove NAME from ENV\n"
		"  rollback NAME ENV [--to V] [--mount MNT]\n"
		"                deploy V, or else the version deployed before\n"
		"                the current one, of NAME to ENV\n"
		"  gc [--grace SECONDS] [--mount MNT]\n"
		"                reclaim the space of packages removed longer\n"
		"                ago than SECONDS (default 86400) and of blobs\n"
		"                nothing names; prints what it freed (root)\n"
		"  log [--env E] [--component C] [--since WHEN] [--json]\n"
		"      [--mount MNT]\n"
		"                the audit trail, oldest first, as audit.log\n"
		"                shows it or one JSON object a line; WHEN is\n"
		"                YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or\n"
		"                @UNIXSECONDS\n"
		"  history ENV [NAME] [--json] [--sort FIELD] [--mount MNT]\n"
		"                every deployment to ENV (of NAME), active and\n"
		"                ended: number, version, when, who, how, notes;\n"
		"                newest first, or by FIELD: time, component,\n"
		"                version or who\n"
		"  diff A B [--mount MNT]\n"
		"                A and B each ENV, ENV/NAME or NAME@V: the\n"
		"                versions that differ, then the files added,\n"
		"                removed or changed; exit 0 same, 1 different,\n"
		"                2 trouble\n"
		"  why [PATH] [-n N] [--json] [--mount MNT]\n"
		"                the last N (10) refusals recorded for you, or\n"
		"                for PATH, with their errno and reason\n"
		"\n"
		"log, history and why read the store behind the mount, or, when\n"
		"it is not yours to open, the mount's audit.log; diff reads the\n"
		"mount.\n");
}

int cmd_init(int argc, char **argv)
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

int cmd_fsck(int argc, char **argv)
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

const char *default_mount(char *buf, size_t cap)
{
	const char *env = getenv("DEPLOYFS_MOUNT"), *home = getenv("HOME");

	if (env && *env)
		return env;
	snprintf(buf, cap, "%s/deployfs", home ? home : "");
	return buf;
}

/* The store behind the mount mnt: its source in /proc/self/mountinfo. */
int store_of_mount(const char *mnt, char *buf, size_t cap)
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

/* Open the store the mount mnt serves, read-only use (not as its daemon). */
int open_mount_store(const char *mnt, struct dfs_store **ret)
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

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "init", cmd_init },
	{ "fsck", cmd_fsck },
	{ "package", cmd_package },
	{ "status", cmd_status },
	{ "deploy", cmd_deploy },
	{ "undeploy", cmd_undeploy },
	{ "rollback", cmd_rollback },
	{ "log", cmd_log },
	{ "backup", cmd_backup },
	{ "restore", cmd_restore },
	{ "gc", cmd_gc },
	{ "prune", cmd_prune },
	{ "history", cmd_history },
	{ "diff", cmd_diff },
	{ "why", cmd_why },
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
