// SPDX-License-Identifier: MIT
/*
 * deployctl.c - the deployfs command-line tool.
 *
 *   deployctl init STORE     create an empty store
 *   deployctl fsck STORE     check blobs and references, report orphans
 *   deployctl package NAME [--version V] [--notes TEXT] [--mount MNT]
 *                            package a component through the mount
 *
 * Exit codes follow sysexits(3): 0 ok, 1 problems found, 64 usage,
 * 66 no such store, 73 cannot create, 74 I/O error.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sysexits.h>

#include "deployfs/names.h"

#include "deployfs/store.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: deployctl [--help] [--version] COMMAND [ARGS]\n\n"
		"commands:\n"
		"  init STORE    create an empty store in the folder STORE\n"
		"  fsck STORE    check that every referenced blob exists and\n"
		"                hashes to its name; report orphans\n"
		"  package NAME [--version V] [--notes TEXT] [--mount MNT]\n"
		"                snapshot component NAME as version V (default:\n"
		"                the next whole number) through the mount MNT\n"
		"                (default: $DEPLOYFS_MOUNT, else ~/deployfs);\n"
		"                prints the package's path\n");
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
	if (strcmp(argv[0], "package") == 0)
		return cmd_package(argc, argv);
	fprintf(stderr, "deployctl: unknown command \"%s\"\n", argv[0]);
	usage(stderr);
	return EX_USAGE;
}
