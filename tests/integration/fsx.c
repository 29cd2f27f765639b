// SPDX-License-Identifier: MIT
/*
 * fsx.c - the run of the random-operation tester (see fsx.h): its state,
 * the seeded generator, the log of the last operations, the comparison of
 * the two files after each step and of their times, and the report.
 */
#include "fsx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OLD_TIME 1000000000 /* 2001: what a checked step starts from */

void fsx_opts_default(struct fsx_opts *o, uint64_t seed, unsigned long ops)
{
	memset(o, 0, sizeof(*o));
	o->seed = seed;
	o->ops = ops;
	o->maxlen = 256 * 1024;
	o->remount_every = 400;
	o->times_every = 8;
}

/* splitmix64: the same numbers from the same seed on every machine. */
static uint64_t next(struct fsx *x)
{
	uint64_t z = (x->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

uint64_t fsx_below(struct fsx *x, uint64_t n)
{
	return n ? next(x) % n : 0;
}

void fsx_note(struct fsx *x, const char *fmt, ...)
{
	char *line = x->log[x->step % FSX_LOG];
	int n = snprintf(line, FSX_LINE, "#%lu ", x->step);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line + n, FSX_LINE - (size_t)n, fmt, ap);
	va_end(ap);
	if (x->o->verbose)
		fprintf(stderr, "%s\n", line);
}

int fsx_fail(struct fsx *x, const char *fmt, ...)
{
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	len = (size_t)snprintf(x->report, x->rcap, "fsx: seed %llu, step %lu: ",
			       (unsigned long long)x->o->seed, x->step);
	if (len < x->rcap)
		len += (size_t)vsnprintf(x->report + len, x->rcap - len, fmt,
					 ap);
	va_end(ap);
	if (len < x->rcap)
		len += (size_t)snprintf(
			x->report + len, x->rcap - len,
			"\nlast operations (mount | native):\n");
	for (unsigned long s = x->step >= FSX_LOG ? x->step - FSX_LOG + 1 : 1;
	     s <= x->step && len < x->rcap; s++)
		len += (size_t)snprintf(x->report + len, x->rcap - len,
					"  %s\n", x->log[s % FSX_LOG]);
	if (len < x->rcap)
		snprintf(x->report + len, x->rcap - len,
			 "reproduce: _build/tests/fsx -s %llu -n %lu -l %u "
			 "-r %u -t %u -v\n",
			 (unsigned long long)x->o->seed, x->step, x->o->maxlen,
			 x->o->remount_every, x->o->times_every);
	return -1;
}

int fsx_same(struct fsx *x, const char *what, const long r[2], const int e[2])
{
	if (r[D] >= 0 && r[N] >= 0 && r[D] == r[N])
		return 0;
	if (r[D] < 0 && r[N] < 0 && e[D] == e[N]) {
		x->timed = false; /* ext4 moves times on some refusals */
		return 0;
	}
	return fsx_fail(x, "%s: the mount answered %ld (%s), native %ld (%s)",
			what, r[D], r[D] < 0 ? strerror(e[D]) : "ok", r[N],
			r[N] < 0 ? strerror(e[N]) : "ok");
}

int fsx_open(struct fsx *x, int extra)
{
	for (int i = D; i <= N; i++) {
		x->fd[i] = open(x->path[i], O_RDWR | O_CLOEXEC | extra, 0644);
		if (x->fd[i] < 0)
			return fsx_fail(x, "open %s: %s", x->path[i],
					strerror(errno));
	}
	return 0;
}

void fsx_close(struct fsx *x)
{
	for (int i = D; i <= N; i++) {
		if (x->fd[i] >= 0)
			close(x->fd[i]);
		x->fd[i] = -1;
	}
}

static int open_sources(struct fsx *x)
{
	for (int i = D; i <= N; i++) {
		x->sfd[i] = open(x->src[i], O_RDONLY | O_CLOEXEC);
		if (x->sfd[i] < 0)
			return fsx_fail(x, "open %s: %s", x->src[i],
					strerror(errno));
	}
	return 0;
}

static void close_sources(struct fsx *x)
{
	for (int i = D; i <= N; i++) {
		if (x->sfd[i] >= 0)
			close(x->sfd[i]);
		x->sfd[i] = -1;
	}
}

int fsx_remount(struct fsx *x)
{
	int rc;

	fsx_close(x);
	close_sources(x);
	rc = dfs_mount_stop(x->m);
	if (rc < 0)
		return fsx_fail(x, "unmount: %s (daemon status 0x%x)",
				strerror(-rc), x->m->daemon_status);
	rc = dfs_mount_start(x->m);
	if (rc < 0)
		return fsx_fail(x, "mount again: %s", strerror(-rc));
	rc = open_sources(x);
	return rc < 0 ? rc : fsx_open(x, 0);
}

/* ---- comparing ------------------------------------------------------------ */

static int read_all(struct fsx *x, int i, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got < size) {
		n = pread(x->fd[i], x->buf[i] + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fsx_fail(x, "read %s at %zu: %s", x->path[i],
					got, strerror(errno));
		if (n == 0)
			return fsx_fail(x, "%s ends at %zu, its size is %zu",
					x->path[i], got, size);
		got += (size_t)n;
	}
	if (pread(x->fd[i], x->buf[i], 1, (off_t)size) != 0)
		return fsx_fail(x, "%s reads past its size %zu", x->path[i],
				size);
	return 0;
}

static int compare(struct fsx *x)
{
	struct stat sb[2];
	size_t size, at;

	for (int i = D; i <= N; i++)
		if (fstat(x->fd[i], &sb[i]) < 0)
			return fsx_fail(x, "fstat %s: %s", x->path[i],
					strerror(errno));
	if (sb[D].st_size != sb[N].st_size)
		return fsx_fail(x, "size %lld on the mount, %lld native",
				(long long)sb[D].st_size,
				(long long)sb[N].st_size);
	size = (size_t)sb[N].st_size;
	if (size <= 65536)
		x->small++;
	if (x->step > 1 && x->was_small != (size <= 65536))
		x->crossings++;
	x->was_small = size <= 65536;
	if (size > x->cap)
		return fsx_fail(x, "size %zu past the test's cap %zu", size,
				x->cap);
	/* Half the time from the daemon, not the kernel's page cache. */
	if (fsx_below(x, 2))
		(void)posix_fadvise(x->fd[D], 0, 0, POSIX_FADV_DONTNEED);
	for (int i = D; i <= N; i++)
		if (read_all(x, i, size) < 0)
			return -1;
	if (memcmp(x->buf[D], x->buf[N], size) == 0)
		return 0;
	for (at = 0; x->buf[D][at] == x->buf[N][at]; at++)
		;
	return fsx_fail(x,
			"content differs at %zu of %zu: 0x%02x on the mount, "
			"0x%02x native",
			at, size, (unsigned char)x->buf[D][at],
			(unsigned char)x->buf[N][at]);
}

/* ---- times ---------------------------------------------------------------- */

/* Set both files' mtime back to OLD_TIME and note their ctimes. */
static int arm_times(struct fsx *x)
{
	const struct timespec old[2] = { { OLD_TIME, 0 }, { OLD_TIME, 0 } };
	struct stat sb;

	for (int i = D; i <= N; i++) {
		if (futimens(x->fd[i], old) < 0 || fstat(x->fd[i], &sb) < 0)
			return fsx_fail(x, "futimens %s: %s", x->path[i],
					strerror(errno));
		x->ctime0[i] = sb.st_ctim;
	}
	return 0;
}

/* mtime and ctime moved on the mount exactly when they moved natively. */
static int check_times(struct fsx *x)
{
	bool mmoved[2], cmoved[2];
	struct stat sb;

	for (int i = D; i <= N; i++) {
		if (fstat(x->fd[i], &sb) < 0)
			return fsx_fail(x, "fstat %s: %s", x->path[i],
					strerror(errno));
		mmoved[i] = sb.st_mtim.tv_sec != OLD_TIME ||
			    sb.st_mtim.tv_nsec != 0;
		cmoved[i] = sb.st_ctim.tv_sec != x->ctime0[i].tv_sec ||
			    sb.st_ctim.tv_nsec != x->ctime0[i].tv_nsec;
	}
	if (mmoved[D] != mmoved[N] || cmoved[D] != cmoved[N])
		return fsx_fail(x,
				"times: mtime %s and ctime %s on the mount, "
				"mtime %s and ctime %s native",
				mmoved[D] ? "moved" : "stayed",
				cmoved[D] ? "moved" : "stayed",
				mmoved[N] ? "moved" : "stayed",
				cmoved[N] ? "moved" : "stayed");
	return 0;
}

/* ---- the run -------------------------------------------------------------- */

static enum fsx_op pick(struct fsx *x)
{
	static const unsigned weight[OP_REMOUNT] = {
		[OP_WRITE] = 28, [OP_TRUNCATE] = 10, [OP_FALLOCATE] = 26,
		[OP_COPY] = 8,	 [OP_MMAP] = 8,	     [OP_REOPEN] = 14,
		[OP_FSYNC] = 3,
	};
	unsigned total = 0, r;

	if (x->o->remount_every && fsx_below(x, x->o->remount_every) == 0)
		return OP_REMOUNT;
	for (int op = 0; op < OP_REMOUNT; op++)
		total += weight[op];
	r = (unsigned)fsx_below(x, total);
	for (int op = 0; op < OP_REMOUNT; op++) {
		if (r < weight[op])
			return (enum fsx_op)op;
		r -= weight[op];
	}
	return OP_WRITE;
}

static int make_sources(struct fsx *x)
{
	x->srclen = 96 * 1024 + 123;
	for (size_t i = 0; i < x->srclen; i++)
		x->data[i] = (char)fsx_below(x, 256);
	for (int i = D; i <= N; i++)
		if (dfs_write_file(x->src[i], x->data, x->srclen) < 0)
			return fsx_fail(x, "write %s: %s", x->src[i],
					strerror(errno));
	return open_sources(x);
}

static int setup(struct fsx *x)
{
	char dir[PATH_MAX];

	dfs_path(dir, sizeof(dir), "%s/process/fsx", x->m->build);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return fsx_fail(x, "mkdir %s: %s", dir, strerror(errno));
	dfs_path(x->path[D], PATH_MAX, "%s/f", dir);
	dfs_path(x->src[D], PATH_MAX, "%s/src", dir);
	dfs_path(x->path[N], PATH_MAX, "%s/f", x->m->native);
	dfs_path(x->src[N], PATH_MAX, "%s/src", x->m->native);
	x->cap = (size_t)x->o->maxlen + 256 * 1024;
	x->buf[D] = malloc(x->cap + 1);
	x->buf[N] = malloc(x->cap + 1);
	x->data = malloc(x->cap);
	if (!x->buf[D] || !x->buf[N] || !x->data)
		return fsx_fail(x, "out of memory");
	if (make_sources(x) < 0)
		return -1;
	return fsx_open(x, O_CREAT | O_TRUNC);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int one_step(struct fsx *x)
{
	enum fsx_op op = pick(x);
	double t0 = now();
	int rc;

	x->counts[op]++;
	x->timed = op != OP_REMOUNT && op != OP_FSYNC && x->o->times_every &&
		   fsx_below(x, x->o->times_every) == 0;
	if (x->timed && arm_times(x) < 0)
		return -1;
	if (fsx_op(x, op) < 0)
		return -1;
	if (x->timed && check_times(x) < 0)
		return -1;
	rc = compare(x);
	x->seconds[op] += now() - t0;
	return rc;
}

int fsx_run(struct dfs_mount *m, const struct fsx_opts *o, char *report,
	    size_t cap)
{
	struct fsx *x = calloc(1, sizeof(*x));
	int rc = -1;

	report[0] = '\0';
	if (!x) {
		snprintf(report, cap, "fsx: out of memory");
		return -1;
	}
	x->m = m;
	x->o = o;
	x->rng = o->seed;
	x->report = report;
	x->rcap = cap;
	x->fd[D] = x->fd[N] = x->sfd[D] = x->sfd[N] = -1;
	if (setup(x) == 0) {
		for (x->step = 1; x->step <= o->ops; x->step++)
			if (one_step(x) < 0)
				break;
		rc = x->step > o->ops ? 0 : -1;
	}
	fsx_close(x);
	close_sources(x);
	if (rc == 0 && o->verbose) {
		for (int op = 0; op < OP_COUNT; op++)
			fprintf(stderr, "fsx: %-10s %6lu steps %7.2f s\n",
				fsx_op_names[op], x->counts[op],
				x->seconds[op]);
		fprintf(stderr,
			"fsx: %lu steps ended at most 64 KiB, %lu crossed it\n",
			x->small, x->crossings);
	}
	free(x->buf[D]);
	free(x->buf[N]);
	free(x->data);
	free(x);
	return rc;
}
