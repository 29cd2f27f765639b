/* SPDX-License-Identifier: MIT */
/*
 * fsx.h - a random-operation tester in the manner of xfstests' fsx.  One
 * file under the mount (build/process/fsx/f) and one in the test's native
 * folder (NATIVE/f) get the same random operations: pwrite anywhere (holes
 * past the end too), ftruncate up and down, every fallocate mode,
 * copy_file_range from a second file, mmap writes with msync, close and
 * reopen (with and without O_TRUNC), fsync, and now and then an unmount
 * and a mount again.  After each step the two files must have the same
 * size and bytes, and on the steps whose times are checked, mtime and
 * ctime must have moved on the mount exactly when they moved natively.
 * Sizes cross the small-file threshold (64 KiB: a memfd below it, a work
 * file above) often, both ways.
 *
 * A run is fixed by its seed: the same seed makes the same operations.  On
 * a mismatch the report names the seed, the step and the last operations.
 */
#ifndef DFS_TEST_FSX_H
#define DFS_TEST_FSX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

struct fsx_opts {
	uint64_t seed;
	unsigned long ops;	/* steps to run */
	unsigned maxlen;	/* sizes aimed at: 0 .. maxlen (and a bit) */
	unsigned remount_every; /* one step in N remounts; 0: never */
	unsigned times_every;	/* one step in N checks the times; 0: never */
	bool verbose;		/* every step on stderr */
};

/* Defaults: 256 KiB files, a remount every 400 steps, times every 8. */
void fsx_opts_default(struct fsx_opts *o, uint64_t seed, unsigned long ops);

/*
 * Run o->ops steps on the mounted m (which may be stopped and started
 * again on the way; it is left mounted).  Returns 0, or -1 with the
 * reason, the seed, the step and the last operations in report (cap
 * bytes, NUL-ended).
 */
int fsx_run(struct dfs_mount *m, const struct fsx_opts *o, char *report,
	    size_t cap);

#endif
