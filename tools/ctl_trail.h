/* SPDX-License-Identifier: MIT */
/*
 * ctl_trail.h - where deployctl's reports (log, history, why) read the
 * audit trail: the store behind the mount, as root does today, or, when
 * the store cannot be opened for want of permission (the store folder is
 * its owner's alone), the mount's own audit.log, parsed.  What a user
 * other than the store's owner sees then follows the mount's permissions
 * (docs/deployctl.md).
 */
#ifndef DFS_CTL_TRAIL_H
#define DFS_CTL_TRAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deployfs/store.h"

struct trail {
	const char *mnt;
	struct dfs_store *st; /* NULL: read through the mount */
};

/* Find the store behind mnt and open it, or fall back to the mount when
 * that is refused (EACCES, EPERM).  0 or an exit code, the reason
 * printed. */
int trail_open(const char *mnt, struct trail *t);
void trail_close(struct trail *t);
/* Each event, oldest first, until fn returns non-zero.  Strings in ev
 * live until fn returns.  0 or -errno. */
int trail_each(struct trail *t, dfs_audit_fn fn, void *ctx);

/* "2026-12-05T23:41:02Z" (UTC, seconds) for ns since the epoch. */
void trail_when(int64_t ns, char *buf, size_t cap);
/* The program an audited command line ran (its first word's base name),
 * into buf; its second word into arg1 (may be ""). */
void trail_cmd_words(const char *cmd, char *prog, size_t pcap, char *arg1,
		     size_t acap);

/* deployctl log through the mount: audit.log filtered as cmd_log does,
 * as lines or JSON lines; an exit code. */
int log_via_mount(const char *mnt, const char *env, const char *component,
		  int64_t since, bool json);

#endif
