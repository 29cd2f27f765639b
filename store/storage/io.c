// SPDX-License-Identifier: MIT
/*
 * io.c - the I/O seam of store/: every durability step (fsync, syncfs,
 * link, rename, write) goes through here, so tests can make the nth call
 * of a step fail and check that the store stays all-or-nothing.  The
 * armed failure is the only mutable global besides the logger; it is off
 * unless a test arms it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "storage.h"

enum io_step { IO_FSYNC, IO_LINK, IO_RENAME, IO_WRITE, IO_STEPS };

static const char *const step_names[IO_STEPS] = {
	"fsync",
	"link",
	"rename",
	"write",
};

static struct {
	pthread_mutex_t lock;
	unsigned fail_at[IO_STEPS]; /* 1-based call that fails; 0 off */
	unsigned calls[IO_STEPS];
	int err[IO_STEPS];
} seam = { .lock = PTHREAD_MUTEX_INITIALIZER };

void dfs_io_fail_at(const char *step, unsigned n, int err)
{
	pthread_mutex_lock(&seam.lock);
	for (int i = 0; i < IO_STEPS; i++) {
		if (strcmp(step, step_names[i]) == 0) {
			seam.fail_at[i] = n;
			seam.calls[i] = 0;
			seam.err[i] = err > 0 ? err : -err;
		}
	}
	pthread_mutex_unlock(&seam.lock);
}

/* 0, or the -errno an armed test failure asks for. */
static int injected(enum io_step step)
{
	int rc = 0;

	pthread_mutex_lock(&seam.lock);
	if (seam.fail_at[step] && ++seam.calls[step] == seam.fail_at[step])
		rc = -seam.err[step];
	pthread_mutex_unlock(&seam.lock);
	return rc;
}

/* The "fsync" step: fsync(), or fdatasync() for the data and the size
 * of fd without its times (what a WAL needs). */
static int sync_step(int fd, int (*sync_fn)(int))
{
	int rc = injected(IO_FSYNC);

	if (rc == 0 && sync_fn(fd) < 0)
		rc = -errno;
	return rc;
}

int dfs_io_fsync(int fd)
{
	return sync_step(fd, fsync);
}

int dfs_io_fdatasync(int fd)
{
	return sync_step(fd, fdatasync);
}

int dfs_io_syncfs(int fd)
{
	int rc = injected(IO_FSYNC);

	if (rc == 0 && syncfs(fd) < 0)
		rc = -errno;
	return rc;
}

int dfs_io_linkat(int olddir, const char *old, int newdir, const char *new)
{
	int rc = injected(IO_LINK);

	if (rc == 0 && linkat(olddir, old, newdir, new, 0) < 0)
		rc = -errno;
	return rc;
}

int dfs_io_renameat(int olddir, const char *old, int newdir, const char *new,
		    unsigned flags)
{
	int rc = injected(IO_RENAME);

	if (rc == 0 && renameat2(olddir, old, newdir, new, flags) < 0)
		rc = -errno;
	return rc;
}

int dfs_io_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	int rc = injected(IO_WRITE);

	while (rc == 0 && len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	return rc;
}

int dfs_io_write_all_at(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	int rc = injected(IO_WRITE);

	while (rc == 0 && len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return rc;
}
