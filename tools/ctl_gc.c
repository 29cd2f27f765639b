// SPDX-License-Identifier: MIT
/*
 * ctl_gc.c - deployctl gc [--grace SECONDS] [--mount MNT]: reclaim the
 * space of packages removed longer ago than the grace period (default a
 * day) and of blobs nothing names, through user.deployfs.gc on
 * MNT/packages (root only), and print what it freed (its
 * user.deployfs.gc_result).  Piped, it is one call (one audit line).  On
 * a terminal it runs in steps ("GRACE PACKAGES BATCHES": at most so many
 * packages, then batches of 256 blobs), each answering what is still
 * due, and draws a progress bar on stderr between them: first the
 * packages, then the blobs; each step records its own audit line.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <sysexits.h>
#include <unistd.h>

#include "deployctl.h"

#define STEPS 40 /* about as many calls per phase */

struct gc_counts {
	long long packages, entries, blobs, bytes;
	long long due_packages, due_blobs, due_bytes;
};

/* One call: value to user.deployfs.gc of dir, its result into c. */
static int gc_call(const char *dir, const char *value, struct gc_counts *c)
{
	char result[256];
	ssize_t n;

	if (setxattr(dir, "user.deployfs.gc", value, strlen(value), 0) < 0)
		return -errno;
	n = getxattr(dir, "user.deployfs.gc_result", result,
		     sizeof(result) - 1);
	result[n > 0 ? n : 0] = '\0';
	memset(c, 0, sizeof(*c));
	if (sscanf(result,
		   "%lld packages, %lld entries, %lld blobs, %lld bytes; due "
		   "%lld packages, %lld blobs, %lld bytes",
		   &c->packages, &c->entries, &c->blobs, &c->bytes,
		   &c->due_packages, &c->due_blobs, &c->due_bytes) < 4)
		return -EPROTO;
	return 0;
}

static void bar(const char *what, long long done, long long total)
{
	int width = 30, fill = total > 0 ? (int)(done * width / total) : width;

	fprintf(stderr, "\rgc: %-8s [%.*s%*s] %lld/%lld", what, fill,
		"##############################", width - fill, "", done,
		total);
	fflush(stderr);
}

static void add(struct gc_counts *sum, const struct gc_counts *c)
{
	sum->packages += c->packages;
	sum->entries += c->entries;
	sum->blobs += c->blobs;
	sum->bytes += c->bytes;
}

/* The run in steps with a progress bar; the totals into sum. */
static int gc_steps(const char *dir, const char *grace, struct gc_counts *sum)
{
	struct gc_counts c;
	char value[96];
	long long total, step;
	int rc;

	snprintf(value, sizeof(value), "%s 0 0", grace); /* what is due */
	rc = gc_call(dir, value, &c);
	total = c.due_packages;
	step = total / STEPS + 1;
	while (rc == 0 && c.due_packages > 0) {
		bar("packages", sum->packages, total);
		snprintf(value, sizeof(value), "%s %lld 0", grace, step);
		rc = gc_call(dir, value, &c);
		add(sum, &c);
		if (rc == 0 && c.packages == 0)
			break; /* nothing moved: what is left stays due */
	}
	if (total)
		bar("packages", sum->packages, total);
	total = c.due_blobs;
	step = total / 256 / STEPS + 1;
	do { /* at least once: the run is recorded */
		if (total)
			bar("blobs", sum->blobs, total);
		snprintf(value, sizeof(value), "%s 0 %lld", grace, step);
		if (rc == 0)
			rc = gc_call(dir, value, &c);
		add(sum, &c);
	} while (rc == 0 && c.due_blobs > 0 && c.blobs > 0);
	if (total)
		bar("blobs", sum->blobs, total);
	fprintf(stderr, "\r\033[K");
	return rc;
}

int cmd_gc(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ "grace", required_argument, NULL, 'g' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	char mbuf[PATH_MAX], dir[PATH_MAX + 16];
	const char *mnt = NULL, *grace = "86400";
	struct gc_counts sum = { 0 };
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:g:h", longopts, NULL)) != -1) {
		if (c == 'm') {
			mnt = optarg;
		} else if (c == 'g') {
			grace = optarg;
		} else if (c == 'h') {
			return ctl_help(argv[0]);
		} else {
			return ctl_usage(argv[0]);
		}
	}
	if (optind != argc || !grace[0] || strlen(grace) > 18 ||
	    strspn(grace, "0123456789") != strlen(grace))
		return ctl_usage(argv[0]);
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	snprintf(dir, sizeof(dir), "%s/packages", mnt);
	if (isatty(STDERR_FILENO))
		rc = gc_steps(dir, grace, &sum);
	else
		rc = gc_call(dir, grace, &sum);
	if (rc < 0) {
		fprintf(stderr, "deployctl: gc: %s\n", strerror(-rc));
		return -rc == ENOENT ? EX_NOINPUT : 1;
	}
	printf("reclaimed %lld packages, %lld entries, %lld blobs, %lld "
	       "bytes\n",
	       sum.packages, sum.entries, sum.blobs, sum.bytes);
	return 0;
}
