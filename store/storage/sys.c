// SPDX-License-Identifier: MIT
/*
 * sys.c - what store/ asks of the system: clocks, user names, the process
 * that asks (for the audit trail: its thread group and command line, from
 * /proc), the names of work files, and buffers: one that grows, one
 * that holds a whole file.
 */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage.h"

int64_t dfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return dfs_ts_to_ns(ts);
}

struct timespec dfs_ns_to_ts(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = ns / 1000000000LL;
	ts.tv_nsec = ns % 1000000000LL;
	if (ts.tv_nsec < 0) {
		ts.tv_sec -= 1;
		ts.tv_nsec += 1000000000LL;
	}
	return ts;
}

int64_t dfs_ts_to_ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void dfs_iso_time(int64_t ns, char *buf, size_t cap)
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * User names, remembered for a few seconds: every audited act names its
 * user, and getpwuid_r() reads /etc/passwd (or asks NSS) each time.  A
 * rename in /etc/passwd shows in the trail within DFS_USER_TTL_NS.
 */
#define DFS_USER_SLOTS 16
#define DFS_USER_TTL_NS (5 * 1000000000LL)
static struct {
	uint32_t uid;
	int64_t until; /* monotonic ns; 0: empty */
	char name[64];
} user_cache[DFS_USER_SLOTS];
static pthread_mutex_t user_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return dfs_ts_to_ns(ts);
}

static bool user_cached(uint32_t uid, int64_t now, char *buf, size_t cap)
{
	bool hit = false;

	pthread_mutex_lock(&user_lock);
	for (int i = 0; i < DFS_USER_SLOTS && !hit; i++)
		if (user_cache[i].until > now && user_cache[i].uid == uid) {
			snprintf(buf, cap, "%s", user_cache[i].name);
			hit = true;
		}
	pthread_mutex_unlock(&user_lock);
	return hit;
}

static void user_remember(uint32_t uid, int64_t now, const char *name)
{
	int slot = (int)(uid % DFS_USER_SLOTS);

	pthread_mutex_lock(&user_lock);
	user_cache[slot].uid = uid;
	user_cache[slot].until = now + DFS_USER_TTL_NS;
	snprintf(user_cache[slot].name, sizeof(user_cache[slot].name), "%s",
		 name);
	pthread_mutex_unlock(&user_lock);
}

void dfs_user_name(uint32_t uid, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	int64_t now = mono_ns();
	char tmp[1024];

	if (user_cached(uid, now, buf, cap))
		return;
	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) != 0 || !res) {
		snprintf(buf, cap, "%u", uid);
		return;
	}
	snprintf(buf, cap, "%s", pw.pw_name);
	if (strlen(pw.pw_name) < sizeof(user_cache[0].name))
		user_remember(uid, now, pw.pw_name);
}

/* The supplementary groups from a "Groups:" line of /proc/TID/status. */
static void parse_groups(const char *list, struct dfs_actor *a)
{
	char *end;

	a->ngroups = 0;
	while (a->ngroups < DFS_GROUPS_MAX) {
		unsigned long g = strtoul(list, &end, 10);

		if (end == list)
			break;
		a->groups[a->ngroups++] = (uint32_t)g;
		list = end;
	}
}

/*
 * From one read of /proc/TID/status: the thread group of thread tid (tid
 * if it is gone) and, when groups is set, the supplementary groups into
 * a (none if it is gone).
 */
static int32_t read_status(int32_t tid, struct dfs_actor *groups)
{
	char path[64], line[4096];
	int32_t tgid = tid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return tid;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Tgid:", 5)) {
			sscanf(line + 5, "%d", &tgid);
			if (!groups)
				break;
		} else if (groups && !strncmp(line, "Groups:", 7)) {
			parse_groups(line + 7, groups);
			break;
		}
	}
	fclose(f);
	return tgid > 0 ? tgid : tid;
}

static bool needs_quotes(const char *arg, size_t len)
{
	if (len == 0)
		return true;
	for (size_t i = 0; i < len; i++)
		if (strchr(" '\"\\", arg[i]) || (unsigned char)arg[i] < 0x20 ||
		    arg[i] == 0x7f)
			return true;
	return false;
}

/* Append arg to out (n bytes so far, cap with its NUL), quoted when
 * needed; returns the new length. */
static size_t put_arg(char *out, size_t cap, size_t n, const char *arg,
		      size_t len)
{
	bool q = needs_quotes(arg, len);

#define PUT(c)                          \
	do {                            \
		if (n + 1 < cap)        \
			out[n++] = (c); \
	} while (0)
	if (n)
		PUT(' ');
	if (q)
		PUT('\'');
	for (size_t i = 0; i < len; i++) {
		if (arg[i] == '\'') {
			/* 'it'\''s' */
			PUT('\'');
			PUT('\\');
			PUT('\'');
		}
		PUT(arg[i]);
	}
	if (q)
		PUT('\'');
#undef PUT
	out[n] = '\0';
	return n;
}

/* The command line of pid, its arguments kept apart, into cmd. */
static void read_cmdline(int32_t pid, char cmd[DFS_CMD_MAX])
{
	char path[64], raw[4096];
	size_t n = 0, len;
	FILE *f;

	cmd[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	len = fread(raw, 1, sizeof(raw) - 1, f);
	fclose(f);
	raw[len] = '\0';
	for (size_t i = 0; i < len && n + 1 < DFS_CMD_MAX;) {
		size_t a = strlen(raw + i);

		n = put_arg(cmd, DFS_CMD_MAX, n, raw + i, a);
		i += a + 1;
	}
}

void dfs_actor_resolve(struct dfs_actor *a)
{
	if (a->cmd[0])
		return;
	a->pid = read_status(a->pid, NULL);
	read_cmdline(a->pid, a->cmd);
}

void dfs_actor_resolve_groups(struct dfs_actor *a)
{
	a->ngroups = 0;
	a->pid = read_status(a->pid, a);
	if (!a->cmd[0])
		read_cmdline(a->pid, a->cmd);
}

const struct dfs_actor *dfs_actor_or_self(const struct dfs_actor *actor,
					  struct dfs_actor *self)
{
	if (actor)
		return actor;
	memset(self, 0, sizeof(*self));
	self->uid = (uint32_t)getuid();
	self->gid = (uint32_t)getgid();
	self->pid = (int32_t)getpid();
	dfs_actor_resolve(self);
	return self;
}

void dfs_work_name(uint64_t ino, char out[32])
{
	snprintf(out, 32, "%llu", (unsigned long long)ino);
}

int dfs_bytes_put(struct dfs_bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *q;

		while (cap < b->len + n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void dfs_bytes_free(struct dfs_bytes *b)
{
	free(b->p);
	*b = (struct dfs_bytes){ 0 };
}

int dfs_read_whole(int fd, char **ret, size_t *ret_len)
{
	struct stat sb;
	char *buf;
	ssize_t n;

	if (fstat(fd, &sb) < 0)
		return -errno;
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf)
		return -ENOMEM;
	n = pread(fd, buf, (size_t)sb.st_size, 0);
	if (n != sb.st_size) {
		free(buf);
		return n < 0 ? -errno : -EIO;
	}
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}
