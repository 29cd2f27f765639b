// SPDX-License-Identifier: MIT
/*
 * fsx_ops.c - the operations of the random-operation tester (see fsx.h),
 * each done on the mount's file first and then on the native one, with
 * the same arguments, and both answers compared.
 */
#include "fsx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SMALL (64 * 1024) /* the mount keeps files up to this in memory */
#define PAGE 4096

const char *const fsx_op_names[OP_COUNT] = {
	[OP_WRITE] = "write",	      [OP_TRUNCATE] = "truncate",
	[OP_FALLOCATE] = "fallocate", [OP_COPY] = "copy",
	[OP_MMAP] = "mmap",	      [OP_REOPEN] = "reopen",
	[OP_FSYNC] = "fsync",	      [OP_REMOUNT] = "remount",
};

static const struct {
	int mode;
	const char *name;
	bool required; /* the mount must accept it at every size */
} modes[] = {
	{ 0, "allocate", true },
	{ FALLOC_FL_KEEP_SIZE, "allocate-keep-size", true },
	{ FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, "punch-hole", true },
	{ FALLOC_FL_ZERO_RANGE, "zero-range", true },
	{ FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, "zero-range-keep-size",
	  true },
	{ FALLOC_FL_COLLAPSE_RANGE, "collapse-range", false },
	{ FALLOC_FL_INSERT_RANGE, "insert-range", false },
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

/* The native file's size: what the mount's must be. */
static uint64_t cur_size(struct fsx *x)
{
	struct stat sb;

	return fstat(x->fd[N], &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

uint64_t fsx_offset(struct fsx *x, uint64_t size)
{
	switch (fsx_below(x, 4)) {
	case 0:
		return fsx_below(x, x->o->maxlen);
	case 1: /* around the small-file threshold */
		return SMALL - 16384 + fsx_below(x, 32768);
	case 2: /* around the end */
		return size > 8192 ? size - 8192 + fsx_below(x, 16384)
				   : fsx_below(x, 16384);
	default:
		return fsx_below(x, 16384);
	}
}

uint64_t fsx_length(struct fsx *x)
{
	switch (fsx_below(x, 4)) {
	case 0:
		return 1 + fsx_below(x, 16);
	case 1:
		return 1 + fsx_below(x, PAGE);
	default:
		return 1 + fsx_below(x, x->o->maxlen / 8);
	}
}

/* Keep off + len where the buffers reach. */
static uint64_t clamp(struct fsx *x, uint64_t off, uint64_t len)
{
	uint64_t end = (uint64_t)x->o->maxlen + SMALL;

	if (off >= end)
		return 1;
	return off + len > end ? end - off : len;
}

static void fill(struct fsx *x, size_t len)
{
	uint64_t s = fsx_below(x, UINT64_MAX) | 1;

	for (size_t i = 0; i < len; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		x->data[i] = (char)(s >> 24);
	}
}

static int op_write(struct fsx *x)
{
	uint64_t off = fsx_offset(x, cur_size(x));
	uint64_t len = clamp(x, off, fsx_length(x));
	long r[2];
	int e[2] = { 0, 0 };

	fill(x, len);
	for (int i = D; i <= N; i++) {
		r[i] = (long)pwrite(x->fd[i], x->data, len, (off_t)off);
		e[i] = errno;
	}
	fsx_note(x, "write %llu at %llu -> %ld | %ld", (unsigned long long)len,
		 (unsigned long long)off, r[D], r[N]);
	return fsx_same(x, "write", r, e);
}

static int op_truncate(struct fsx *x)
{
	uint64_t size, was = cur_size(x);
	long r[2];
	int e[2] = { 0, 0 };

	switch (fsx_below(x, 4)) {
	case 0:
	case 1:
		size = SMALL - 16384 + fsx_below(x, 32768);
		break;
	case 2:
		size = fsx_below(x, 16384);
		break;
	default:
		size = fsx_below(x, (uint64_t)x->o->maxlen + 1);
	}
	for (int i = D; i <= N; i++) {
		r[i] = ftruncate(x->fd[i], (off_t)size);
		e[i] = errno;
	}
	fsx_note(x, "truncate %llu -> %s (was %llu)", (unsigned long long)size,
		 r[D] == 0 ? "ok" : strerror(e[D]), (unsigned long long)was);
	return fsx_same(x, "ftruncate", r, e);
}

/* The mount refuses a mode (EOPNOTSUPP) at every size or at none. */
static int refused(struct fsx *x, unsigned k, bool refuse, uint64_t size)
{
	int was = x->mode_seen[k];

	if (refuse && modes[k].required)
		return fsx_fail(x, "fallocate %s refused at size %llu",
				modes[k].name, (unsigned long long)size);
	if (was && was != (refuse ? 2 : 1))
		return fsx_fail(x, "fallocate %s %s at size %llu, %s before",
				modes[k].name, refuse ? "refused" : "accepted",
				(unsigned long long)size,
				refuse ? "accepted" : "refused");
	x->mode_seen[k] = refuse ? 2 : 1;
	return 0;
}

static int op_fallocate(struct fsx *x)
{
	uint64_t size = cur_size(x), off, len;
	unsigned k = (unsigned)fsx_below(x, NMODES + 2);
	long r[2] = { 0, 0 };
	int e[2] = { 0, 0 };

	if (k >= NMODES)
		k = 2; /* punch holes more often */
	off = fsx_offset(x, size);
	len = clamp(x, off, fsx_length(x));
	if (fsx_below(x, 4) != 0 &&
	    (modes[k].mode &
	     (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))) {
		off &= ~(uint64_t)(PAGE - 1);
		len = (len + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	}
	r[D] = fallocate(x->fd[D], modes[k].mode, (off_t)off, (off_t)len);
	e[D] = errno;
	if (r[D] < 0 && e[D] == EOPNOTSUPP) {
		fsx_note(x, "fallocate %s %llu at %llu (size %llu) -> refused",
			 modes[k].name, (unsigned long long)len,
			 (unsigned long long)off, (unsigned long long)size);
		x->timed = false; /* nothing was done natively */
		return refused(x, k, true, size);
	}
	if (refused(x, k, false, size) < 0)
		return -1;
	r[N] = fallocate(x->fd[N], modes[k].mode, (off_t)off, (off_t)len);
	e[N] = errno;
	fsx_note(x, "fallocate %s %llu at %llu (size %llu) -> %s | %s",
		 modes[k].name, (unsigned long long)len,
		 (unsigned long long)off, (unsigned long long)size,
		 r[D] == 0 ? "ok" : strerror(e[D]),
		 r[N] == 0 ? "ok" : strerror(e[N]));
	return fsx_same(x, "fallocate", r, e);
}

/* copy_file_range as cp does it: read and write where the kernel says
 * the two files cannot share it. */
static long copy(struct fsx *x, int i, uint64_t off_in, uint64_t off_out,
		 uint64_t len, bool *fell_back)
{
	loff_t in = (loff_t)off_in, out = (loff_t)off_out;
	uint64_t done = 0;
	ssize_t n;

	while (done < len) {
		n = copy_file_range(x->sfd[i], &in, x->fd[i], &out, len - done,
				    0);
		if (n < 0 && (errno == EOPNOTSUPP || errno == EXDEV)) {
			*fell_back = true;
			n = pread(x->sfd[i], x->buf[i], len - done, in);
			if (n > 0)
				n = pwrite(x->fd[i], x->buf[i], (size_t)n, out);
			if (n > 0) {
				in += n;
				out += n;
			}
		}
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (uint64_t)n;
	}
	return (long)done;
}

static int op_copy(struct fsx *x)
{
	uint64_t off_in = fsx_below(x, x->srclen + PAGE);
	uint64_t off_out = fsx_offset(x, cur_size(x));
	uint64_t len = clamp(x, off_out, fsx_length(x));
	bool fell_back[2] = { false, false };
	long r[2];
	int e[2] = { 0, 0 };

	for (int i = D; i <= N; i++) {
		r[i] = copy(x, i, off_in, off_out, len, &fell_back[i]);
		e[i] = errno;
	}
	fsx_note(x, "copy_file_range %llu from %llu to %llu -> %ld%s | %ld%s",
		 (unsigned long long)len, (unsigned long long)off_in,
		 (unsigned long long)off_out, r[D],
		 fell_back[D] ? " (read/write)" : "", r[N],
		 fell_back[N] ? " (read/write)" : "");
	return fsx_same(x, "copy_file_range", r, e);
}

static long map_write(struct fsx *x, int i, uint64_t off, uint64_t len)
{
	uint64_t start = off & ~(uint64_t)(PAGE - 1);
	size_t maplen = (size_t)(off + len - start);
	char *p = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
		       x->fd[i], (off_t)start);
	int rc = 0;

	if (p == MAP_FAILED)
		return -1;
	memcpy(p + (off - start), x->data, len);
	if (msync(p, maplen, MS_SYNC) < 0)
		rc = -1;
	munmap(p, maplen);
	return rc < 0 ? -1 : (long)len;
}

static int op_mmap(struct fsx *x)
{
	uint64_t size = cur_size(x), off, len;
	long r[2];
	int e[2] = { 0, 0 };

	if (size == 0) {
		fsx_note(x, "mmap: empty file, nothing mapped");
		x->timed = false;
		return 0;
	}
	off = fsx_below(x, size);
	len = fsx_length(x);
	if (len > size - off)
		len = size - off;
	fill(x, len);
	for (int i = D; i <= N; i++) {
		r[i] = map_write(x, i, off, len);
		e[i] = errno;
	}
	fsx_note(x, "mmap write %llu at %llu + msync (size %llu) -> %ld | %ld",
		 (unsigned long long)len, (unsigned long long)off,
		 (unsigned long long)size, r[D], r[N]);
	return fsx_same(x, "mmap write", r, e);
}

static int op_reopen(struct fsx *x)
{
	bool trunc = fsx_below(x, 4) == 0;
	uint64_t size = cur_size(x);

	fsx_note(x, "close, open%s (size %llu)", trunc ? " O_TRUNC" : "",
		 (unsigned long long)size);
	fsx_close(x);
	if (fsx_open(x, trunc ? O_TRUNC : 0) < 0)
		return -1;
	/* What the next read sees comes from the daemon. */
	(void)posix_fadvise(x->fd[D], 0, 0, POSIX_FADV_DONTNEED);
	return 0;
}

static int op_fsync(struct fsx *x)
{
	long r[2];
	int e[2] = { 0, 0 };

	for (int i = D; i <= N; i++) {
		r[i] = fsync(x->fd[i]);
		e[i] = errno;
	}
	fsx_note(x, "fsync -> %ld | %ld", r[D], r[N]);
	return fsx_same(x, "fsync", r, e);
}

static int op_remount(struct fsx *x)
{
	fsx_note(x, "close, unmount, mount, open (size %llu)",
		 (unsigned long long)cur_size(x));
	return fsx_remount(x);
}

int fsx_op(struct fsx *x, enum fsx_op op)
{
	static int (*const fn[OP_COUNT])(struct fsx *) = {
		[OP_WRITE] = op_write,	       [OP_TRUNCATE] = op_truncate,
		[OP_FALLOCATE] = op_fallocate, [OP_COPY] = op_copy,
		[OP_MMAP] = op_mmap,	       [OP_REOPEN] = op_reopen,
		[OP_FSYNC] = op_fsync,	       [OP_REMOUNT] = op_remount,
	};

	return fn[op](x);
}
