/* SPDX-License-Identifier: MIT */
/*
 * deployctl.h - what the files of deployctl share: the usage text, how a
 * command finds the mount and the store behind it, and the commands.
 * Each command takes its own argv (argv[0] is its name) and returns an
 * exit code (sysexits(3)).
 */
#ifndef DFS_DEPLOYCTL_H
#define DFS_DEPLOYCTL_H

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct dfs_store;

#define CTL_HELP_OPTION                        \
	{                                      \
		"help", no_argument, NULL, 'h' \
	}

/* Every command and what it does (deployctl --help). */
void usage(FILE *out);
/* The help of cmd ("package", or one form: "package remove") on stdout:
 * 0 (EX_USAGE when there is no such command). */
int ctl_help(const char *cmd);
/* The usage lines of cmd on stderr: returns EX_USAGE. */
int ctl_usage(const char *cmd);
/* For a command without options: -h/--help answered (its exit code), an
 * unknown option refused (EX_USAGE), else -1 with optind at the first
 * argument. */
int ctl_no_options(int argc, char **argv);

/* ctl_mount.c.  The mount a command acts on when no --mount is given:
 * the deployfs mount the current folder is in, else $DEPLOYFS_MOUNT,
 * else ~/deployfs (in buf). */
const char *default_mount(char *buf, size_t cap);
/* The deployfs mount the absolute path is in (the longest mount point
 * above it), into buf: 0 or -ENOENT. */
int mount_holding(const char *path, char *buf, size_t cap);
/* The store behind the mount mnt: its source in /proc/self/mountinfo;
 * 0 or -errno (-ENOENT: not a deployfs mount). */
int store_of_mount(const char *mnt, char *buf, size_t cap);
/* Open the store the mount mnt serves (not as its daemon): 0 or an exit
 * code, the reason printed. */
int open_mount_store(const char *mnt, struct dfs_store **ret);

int cmd_init(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_package(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_undeploy(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
/* ctl_bulk.c: deploy ENV A@1 B@2 ... (ENV without '@', then NAME@Vs),
 * one transaction in the daemon. */
bool deploy_is_bulk(int argc, char **argv);
int cmd_deploy_bulk(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
/* ctl_history.c, ctl_diff.c, ctl_why.c: reports that read the store or,
 * when it is not the caller's, the mount (ctl_trail.h). */
int cmd_history(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_why(int argc, char **argv);
/* ctl_export.c, ctl_import.c: packages that travel between stores. */
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);

/* ctl_names.c: what exists, for messages that name it. */
/* The names in the folder dir that start with prefix ("": all), shown
 * without it, in readdir order (sorted by strcmp when sort), but
 * "latest" and dot names, joined by ", " into buf (cut with ", ..." when
 * full): the count, or -errno. */
int list_names(const char *dir, const char *prefix, bool sort, char *buf,
	       size_t cap);
/* When the component name, its version (either NULL: not asked) or the
 * environment env (NULL: not asked) does not exist under mnt: a message
 * saying which, and what does exist, in buf, and true. */
bool explain_missing(const char *mnt, const char *name, const char *version,
		     const char *env, char *buf, size_t cap);

/* release.c: deployctl package mark-bad|mark-good NAME@V. */
int package_mark(int argc, char **argv, bool bad);
/* ctl_gc.c: deployctl gc [--grace SECONDS] [--mount MNT]. */
int cmd_gc(int argc, char **argv);
/* ctl_prune.c: deployctl package keep|unkeep NAME@V; deployctl prune. */
int package_keep(int argc, char **argv, bool keep);

/* The argument of a package form that acts on one version: [--mount MNT]
 * NAME@V.  package_arg() parses it (argv[0] is the form's last word;
 * form names it for help): -1, or the exit code (usage printed). */
struct pkg_arg {
	char mbuf[PATH_MAX];
	const char *mnt;	  /* the mount */
	const char *arg;	  /* NAME@V, as given */
	char name[256];		  /* NAME */
	const char *version;	  /* V, in arg */
	char dir[PATH_MAX + 300]; /* MNT/packages/NAME */
};
int package_arg(int argc, char **argv, const char *form, struct pkg_arg *p);
int cmd_prune(int argc, char **argv);
/* Is NAME@VERSION marked bad (through the mount mnt)? */
bool package_is_bad(const char *mnt, const char *name, const char *version);

#endif
