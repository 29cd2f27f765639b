// SPDX-License-Identifier: MIT
/*
 * ctl_backup.c - deployctl backup and restore: a consistent copy of a
 * store, taken while it is mounted and in use, into a folder that is
 * itself a store (store/storage/backup.c says how), with a progress bar
 * on a terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "deployfs/store.h"

#include "deployctl.h"

#define BAR_WIDTH 30

struct bar {
	bool on; /* stderr is a terminal */
	int64_t last_ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* At most ten times a second, and at the end of each round. */
static void show_progress(void *ctx, const struct dfs_backup_progress *p)
{
	struct bar *b = ctx;
	char fill[BAR_WIDTH + 1];
	uint64_t total = p->files_total ? p->files_total : 1;
	int64_t now = now_ms();
	int done;

	if (!b->on || (p->files_done < p->files_total && p->files_done &&
		       now - b->last_ms < 100))
		return;
	b->last_ms = now;
	done = (int)(p->files_done * BAR_WIDTH / total);
	memset(fill, '#', (size_t)done);
	memset(fill + done, ' ', (size_t)(BAR_WIDTH - done));
	fill[BAR_WIDTH] = '\0';
	fprintf(stderr, "\r[%s] %3d%% %llu/%llu files %llu/%llu MiB%s", fill,
		(int)(p->files_done * 100 / total),
		(unsigned long long)p->files_done,
		(unsigned long long)p->files_total,
		(unsigned long long)(p->bytes_done >> 20),
		(unsigned long long)(p->bytes_total >> 20),
		p->round > 1 ? " (again: the store changed)" : "");
	fflush(stderr);
}

static const char *backup_strerror(int rc)
{
	switch (rc) {
	case -ENOTEMPTY:
		return "the folder holds other things: a backup goes into an "
		       "empty folder or an earlier backup (restore: an empty "
		       "folder)";
	case -EBUSY:
		return "a deployfs daemon serves that folder: unmount it first";
	case -EINVAL:
		return "that is the store itself";
	case -EAGAIN:
		return "the store changed under every attempt; try again";
	default:
		return strerror(-rc);
	}
}

static int exit_code(int rc)
{
	switch (rc) {
	case -ENOTEMPTY:
	case -EINVAL:
	case -EBUSY:
	case -EEXIST:
		return EX_CANTCREAT;
	case -EAGAIN:
		return EX_TEMPFAIL;
	default:
		return EX_IOERR;
	}
}

/* Copy the open store st into dest; print what was done.  An exit code. */
static int run(struct dfs_store *st, const char *what, const char *from,
	       const char *dest, unsigned flags)
{
	struct bar bar = { .on = isatty(STDERR_FILENO) == 1 };
	struct dfs_backup_stats s;
	int rc = dfs_store_backup(st, dest, flags, show_progress, &bar, &s);

	if (bar.on)
		fputc('\n', stderr);
	dfs_store_free(st);
	if (rc < 0) {
		fprintf(stderr, "deployctl: %s %s into \"%s\": %s\n", what,
			from, dest, backup_strerror(rc));
		return exit_code(rc);
	}
	printf("%s %s into %s: %llu blobs linked, %llu copied, %llu kept, "
	       "%llu removed, %llu work files, %llu MiB copied\n",
	       flags & DFS_BACKUP_NEW ? "restored" : "backed up", from, dest,
	       (unsigned long long)s.blobs_linked,
	       (unsigned long long)s.blobs_copied,
	       (unsigned long long)s.blobs_kept,
	       (unsigned long long)s.blobs_removed,
	       (unsigned long long)s.work_copied,
	       (unsigned long long)(s.bytes_copied >> 20));
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

static int open_store(const char *path, struct dfs_store **ret)
{
	int rc = dfs_store_open(path, 0, ret);

	if (rc < 0) {
		fprintf(stderr, "deployctl: cannot open store \"%s\": %s\n",
			path, dfs_store_strerror(rc));
		return rc == -ENOENT || rc == -EMEDIUMTYPE ? EX_NOINPUT
							   : EX_IOERR;
	}
	return 0;
}

/* deployctl backup [--mount MNT | --store STORE] DEST */
int cmd_backup(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ "store", required_argument, NULL, 's' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	const char *mnt = NULL, *store = NULL;
	char mbuf[PATH_MAX], sbuf[PATH_MAX];
	struct dfs_store *st;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:s:h", longopts, NULL)) != -1) {
		if (c == 'm')
			mnt = optarg;
		else if (c == 's')
			store = optarg;
		else if (c == 'h')
			return ctl_help(argv[0]);
		else
			return ctl_usage(argv[0]);
	}
	if (optind != argc - 1 || (mnt && store))
		return ctl_usage(argv[0]);
	if (!store) {
		if (!mnt)
			mnt = default_mount(mbuf, sizeof(mbuf));
		rc = store_of_mount(mnt, sbuf, sizeof(sbuf));
		if (rc < 0) {
			fprintf(stderr,
				"deployctl: %s is not a deployfs mount (name "
				"an unmounted store with --store)\n",
				mnt);
			return EX_NOINPUT;
		}
		store = sbuf;
	}
	rc = open_store(store, &st);
	if (rc)
		return rc;
	return run(st, "backup", store, argv[optind], 0);
}

/* deployctl restore BACKUP STORE: a new store from a backup. */
int cmd_restore(int argc, char **argv)
{
	struct dfs_store *st;
	int rc = ctl_no_options(argc, argv);

	if (rc >= 0)
		return rc;
	if (optind != argc - 2)
		return ctl_usage(argv[0]);
	rc = open_store(argv[optind], &st);
	if (rc)
		return rc;
	return run(st, "restore", argv[optind], argv[optind + 1],
		   DFS_BACKUP_NEW);
}
