/* SPDX-License-Identifier: MIT */
/*
 * ctl_diff_ext.h - deployctl diff's "extensions" section (ctl_diff_ext.c).
 */
#ifndef DFS_CTL_DIFF_EXT_H
#define DFS_CTL_DIFF_EXT_H

#include <stdbool.h>

struct ctl_diff_ext {
	bool different;
	bool trouble;
};

/* Print the overrides of environments env_a and env_b (NULL: a package,
 * none) that differ, as "extensions" then "added|removed|changed
 * NAME/PATH" lines; only: one component (or NULL). */
void ctl_diff_extensions(const char *mnt, const char *env_a, const char *env_b,
			 const char *only, struct ctl_diff_ext *x);

#endif
