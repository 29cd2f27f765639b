// SPDX-License-Identifier: MIT
/*
 * sys.c - what store/ asks of the system: clocks, user names, the calling
 * process (for the audit trail) and the names of work files.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
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

void dfs_user_name(uint32_t uid, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, cap, "%s", pw.pw_name);
	else
		snprintf(buf, cap, "%u", uid);
}

const struct dfs_actor *dfs_actor_or_self(const struct dfs_actor *actor,
					  struct dfs_actor *self)
{
	FILE *f;
	size_t n;

	if (actor)
		return actor;
	memset(self, 0, sizeof(*self));
	self->uid = (uint32_t)getuid();
	self->gid = (uint32_t)getgid();
	self->pid = (int32_t)getpid();
	f = fopen("/proc/self/cmdline", "re");
	if (f) {
		n = fread(self->cmd, 1, sizeof(self->cmd) - 1, f);
		fclose(f);
		for (size_t i = 0; i + 1 < n; i++)
			if (self->cmd[i] == '\0')
				self->cmd[i] = ' ';
	}
	return self;
}

void dfs_work_name(uint64_t ino, char out[32])
{
	snprintf(out, 32, "%llu", (unsigned long long)ino);
}
