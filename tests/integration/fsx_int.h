/* SPDX-License-Identifier: MIT */
/*
 * fsx_int.h - what fsx.c (the run: state, checks, report) and fsx_ops.c
 * (the operations, each done on both files) share.
 */
#ifndef DFS_TEST_FSX_INT_H
#define DFS_TEST_FSX_INT_H

#include <limits.h>
#include <sys/stat.h>

#include "fsx.h"

#define FSX_LOG 20   /* operations the report shows */
#define FSX_LINE 200 /* one operation's line */

/* The two sides: [D] the mount, [N] the native folder. */
enum { D, N };

struct fsx {
	struct dfs_mount *m;
	const struct fsx_opts *o;
	uint64_t rng;
	unsigned long step;
	char path[2][PATH_MAX]; /* the file */
	char src[2][PATH_MAX];	/* copy_file_range's source */
	int fd[2];		/* open O_RDWR, -1 while closed */
	int sfd[2];		/* the sources, O_RDONLY */
	size_t srclen;
	size_t cap;   /* the largest size a file may reach */
	char *buf[2]; /* for comparing */
	char *data;   /* what the step writes */
	/* per fallocate mode: 0 not seen, 1 the mount accepts it,
	 * 2 the mount refuses it (EOPNOTSUPP) */
	int mode_seen[8];
	bool timed;		     /* this step checks the times */
	struct timespec ctime0[2];   /* before the step */
	char log[FSX_LOG][FSX_LINE]; /* ring of the last operations */
	char *report;
	size_t rcap;
	unsigned long counts[16]; /* steps per operation, for the summary */
	double seconds[16];	  /* and their time */
	unsigned long small;	  /* steps that ended at most 64 KiB */
	unsigned long crossings;  /* steps that crossed 64 KiB, either way */
	bool was_small;
};

/* A number in [0, n). */
uint64_t fsx_below(struct fsx *x, uint64_t n);
/* This step's line in the log (replaces what it said). */
void fsx_note(struct fsx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Write the failure report; returns -1. */
int fsx_fail(struct fsx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Both sides answered alike: the same result, or the same errno.  r[i] is
 * the result, e[i] errno when r[i] < 0.  Returns 0 or fsx_fail(). */
int fsx_same(struct fsx *x, const char *what, const long r[2], const int e[2]);
/* Open both files O_RDWR (| extra); close both. */
int fsx_open(struct fsx *x, int extra);
void fsx_close(struct fsx *x);
/* Unmount and mount again (files closed first, opened again after). */
int fsx_remount(struct fsx *x);

/* The operations (fsx_ops.c): each does one random act on both sides and
 * returns 0 or fsx_fail(). */
enum fsx_op {
	OP_WRITE,
	OP_TRUNCATE,
	OP_FALLOCATE,
	OP_COPY,
	OP_MMAP,
	OP_REOPEN,
	OP_FSYNC,
	OP_REMOUNT,
	OP_COUNT
};
extern const char *const fsx_op_names[OP_COUNT];
int fsx_op(struct fsx *x, enum fsx_op op);

/* Sizes and offsets that cross 64 KiB often. */
uint64_t fsx_offset(struct fsx *x, uint64_t size);
uint64_t fsx_length(struct fsx *x);

#endif
