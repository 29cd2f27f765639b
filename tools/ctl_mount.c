// SPDX-License-Identifier: MIT
/*
 * ctl_mount.c - which mount deployctl acts on, and the store behind it.
 *
 * The mount: --mount MNT when given; else the deployfs mount the current
 * folder is in (the longest fuse.deployfs mount point of
 * /proc/self/mountinfo that holds the cwd); else $DEPLOYFS_MOUNT; else
 * ~/deployfs.  The store behind a mount is its source in mountinfo (the
 * daemon mounts with fsname=STORE).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "deployfs/store.h"

#include "deployctl.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
					(s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

struct mount_entry {
	char point[PATH_MAX];
	char source[PATH_MAX];
};

typedef bool (*mount_fn)(void *ctx, const struct mount_entry *e);

/* Call fn for each deployfs mount until it returns true: 0 when it did,
 * -ENOENT when none matched, or -errno. */
static int deployfs_mounts_each(mount_fn fn, void *ctx)
{
	struct mount_entry *e = malloc(sizeof(*e));
	char line[2 * PATH_MAX + 512];
	int rc = -ENOENT;
	FILE *f;

	if (!e)
		return -ENOMEM;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		rc = -errno;
		free(e);
		return rc;
	}
	while (rc == -ENOENT && fgets(line, sizeof(line), f)) {
		char type[64];
		const char *sep = strstr(line, " - ");

		if (!sep ||
		    sscanf(line, "%*s %*s %*s %*s %4095s", e->point) != 1 ||
		    sscanf(sep, " - %63s %4095s", type, e->source) != 2 ||
		    strcmp(type, "fuse.deployfs") != 0)
			continue;
		unescape(e->point);
		unescape(e->source);
		if (e->source[0] == '/' && fn(ctx, e))
			rc = 0;
	}
	fclose(f);
	free(e);
	return rc;
}

struct store_query {
	const char *real; /* the mount point asked about */
	char *buf;
	size_t cap;
};

static bool is_the_mount(void *ctx, const struct mount_entry *e)
{
	struct store_query *q = ctx;

	if (strcmp(e->point, q->real) != 0)
		return false;
	snprintf(q->buf, q->cap, "%s", e->source);
	return true;
}

/*
 * The daemon answers some calls before it commits them (a group commit
 * of up to 20 ms): an fsync of the mount's root commits them, so that
 * what deployctl then reads from the store itself holds every act the
 * mount has answered (a copy just begun, say).  Best effort: a daemon
 * that cannot be asked leaves the store as it is.
 */
static void settle_mount(const char *real)
{
	int fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

int store_of_mount(const char *mnt, char *buf, size_t cap)
{
	char real[PATH_MAX];
	struct store_query q = { real, buf, cap };
	int rc;

	if (!realpath(mnt, real))
		return -errno;
	rc = deployfs_mounts_each(is_the_mount, &q);
	if (rc == 0)
		settle_mount(real);
	return rc;
}

struct cwd_query {
	const char *cwd; /* the path whose mount is sought */
	size_t best;	 /* the length of the longest mount point found */
	char *buf;
	size_t cap;
};

static bool holds_cwd(void *ctx, const struct mount_entry *e)
{
	struct cwd_query *q = ctx;
	size_t len = strlen(e->point);

	if (len == 1) /* a deployfs mount on / */
		len = 0;
	if (strncmp(q->cwd, e->point, len) == 0 &&
	    (q->cwd[len] == '/' || q->cwd[len] == '\0') &&
	    (len > q->best || !q->buf[0])) {
		q->best = len;
		snprintf(q->buf, q->cap, "%s", e->point);
	}
	return false; /* look at them all: the longest wins */
}

int mount_holding(const char *path, char *buf, size_t cap)
{
	struct cwd_query q = { path, 0, buf, cap };

	buf[0] = '\0';
	(void)deployfs_mounts_each(holds_cwd, &q);
	return buf[0] ? 0 : -ENOENT;
}

const char *default_mount(char *buf, size_t cap)
{
	const char *env = getenv("DEPLOYFS_MOUNT"), *home = getenv("HOME");
	char cwd[PATH_MAX];

	if (getcwd(cwd, sizeof(cwd)) && mount_holding(cwd, buf, cap) == 0)
		return buf;
	if (env && *env)
		return env;
	snprintf(buf, cap, "%s/deployfs", home ? home : "");
	return buf;
}

int open_mount_store(const char *mnt, struct dfs_store **ret)
{
	char store[PATH_MAX];
	int rc = store_of_mount(mnt, store, sizeof(store));

	if (rc == -ENOENT) {
		fprintf(stderr,
			"deployctl: %s is not a deployfs mount (name one with "
			"--mount MNT, or run deployctl inside it)\n",
			mnt);
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
