/* SPDX-License-Identifier: MIT */
/*
 * deployctl.h - what the files of deployctl share.
 */
#ifndef DFS_DEPLOYCTL_H
#define DFS_DEPLOYCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The mount deployctl works through when --mount is not given. */
const char *default_mount(char *buf, size_t cap);
void usage(FILE *out);

/* release.c: deployctl package mark-bad|mark-good NAME@V. */
int package_mark(int argc, char **argv, bool bad);
/* deployctl gc [--grace SECONDS] [--mount MNT]. */
int cmd_gc(int argc, char **argv);
/* Is NAME@VERSION marked bad (through the mount mnt)? */
bool package_is_bad(const char *mnt, const char *name, const char *version);

#endif
