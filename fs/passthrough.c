// SPDX-License-Identifier: MIT
/*
 * passthrough.c - FUSE passthrough for files that never change.
 *
 * Since Linux 6.9 the kernel can read an open FUSE file straight from a
 * file of the daemon's (a "backing" file) without a READ request: reads
 * cost what they cost on the disk below.  libfuse 3.14 (Debian 12) knows
 * nothing of it, so the daemon speaks it itself: its own I/O for the
 * session (fuse_session_custom_io) reads and writes /dev/fuse as libfuse
 * would, except that the reply to INIT also asks for passthrough when the
 * kernel offers it (flags2 and max_stack_depth, ABI 7.40).  An open the
 * store says may pass through (dfs_file_backing) is answered with
 * FOPEN_PASSTHROUGH and the id under which its fd was registered
 * (FUSE_DEV_IOC_BACKING_OPEN; needs CAP_SYS_ADMIN).  Where anything of it
 * is missing, files are read through the daemon as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "deployfs/log.h"
#include "fs.h"

/* The kernel's ABI 7.40, which Debian 12's <linux/fuse.h> predates. */
#define DFS_FUSE_PASSTHROUGH (1ull << 37)
#define DFS_FOPEN_NOFLUSH (1u << 5)
#define DFS_FOPEN_PASSTHROUGH (1u << 7)
#define DFS_INIT_EXT (1u << 30)
struct dfs_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define DFS_IOC_BACKING_OPEN _IOW(229, 1, struct dfs_backing_map)
#define DFS_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)
struct dfs_init_in {
	uint32_t major, minor, max_readahead, flags, flags2;
};
struct dfs_init_out {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2, max_stack_depth;
};
struct dfs_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

static struct {
	atomic_uint_fast64_t init_unique; /* INIT read, not yet answered */
	atomic_bool offered;		  /* the kernel offered passthrough */
	atomic_bool on;			  /* and the INIT reply took it */
	int fd;				  /* the session's /dev/fuse */
} pt = { .fd = -1 };

/* ---- the session's I/O --------------------------------------------------- */

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	const struct fuse_in_header *h = buf;
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (n >= (ssize_t)(sizeof(*h) + sizeof(struct dfs_init_in)) &&
	    h->opcode == FUSE_INIT) {
		const struct dfs_init_in *in = (const void *)(h + 1);
		uint64_t flags = in->flags;

		if (in->flags & DFS_INIT_EXT)
			flags |= (uint64_t)in->flags2 << 32;
		atomic_store(&pt.offered, (flags & DFS_FUSE_PASSTHROUGH) != 0);
		atomic_store(&pt.init_unique, h->unique);
	}
	return n;
}

/* The INIT reply libfuse made: iov[0] the header, iov[1] fuse_init_out. */
static void patch_init(struct iovec *iov, int count)
{
	const struct fuse_out_header *h = iov[0].iov_base;
	struct dfs_init_out *out;

	if (count < 2 || iov[0].iov_len < sizeof(*h) || h->error != 0 ||
	    iov[1].iov_len < sizeof(*out))
		return;
	out = iov[1].iov_base;
	if (!atomic_load(&pt.offered) || !(out->flags & DFS_INIT_EXT))
		return;
	out->flags2 |= (uint32_t)(DFS_FUSE_PASSTHROUGH >> 32);
	out->max_stack_depth = 1; /* a store on a disk, not on a stack */
	atomic_store(&pt.on, true);
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	uint64_t want = atomic_load(&pt.init_unique);

	(void)userdata;
	if (want && count > 0 &&
	    iov[0].iov_len >= sizeof(struct fuse_out_header) &&
	    ((const struct fuse_out_header *)iov[0].iov_base)->unique == want) {
		patch_init(iov, count);
		atomic_store(&pt.init_unique, 0);
	}
	return writev(fd, iov, count);
}

static ssize_t io_splice_receive(int fdin, off_t *offin, int fdout,
				 off_t *offout, size_t len, unsigned int flags,
				 void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static ssize_t io_splice_send(int fdin, off_t *offin, int fdout, off_t *offout,
			      size_t len, unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static const struct fuse_custom_io io = {
	.read = io_read,
	.writev = io_writev,
	.splice_receive = io_splice_receive,
	.splice_send = io_splice_send,
};

/* ---- backing files ------------------------------------------------------- */

static int backing_open(void *ctx, int fd)
{
	struct dfs_backing_map map = { .fd = fd };
	int id;

	(void)ctx;
	if (!atomic_load(&pt.on))
		return -EOPNOTSUPP;
	id = ioctl(pt.fd, DFS_IOC_BACKING_OPEN, &map);
	if (id > 0)
		return id;
	/* Not allowed (not root) or not possible here: read through us. */
	if (errno == EPERM || errno == ENOTTY || errno == EINVAL ||
	    errno == ELOOP) {
		dfs_log(DFS_LOG_INFO,
			"files are read through the daemon: the kernel "
			"refused a passthrough backing file: %s",
			strerror(errno));
		atomic_store(&pt.on, false);
	}
	return -errno;
}

static void backing_close(void *ctx, int id)
{
	uint32_t u = (uint32_t)id;

	(void)ctx;
	if (ioctl(pt.fd, DFS_IOC_BACKING_CLOSE, &u) < 0)
		dfs_log(DFS_LOG_WARN, "closing passthrough backing %d: %s", id,
			strerror(errno));
}

int dfs_passthrough_start(struct dfs_fs *fs)
{
	static const struct dfs_backing b = { backing_open, backing_close,
					      NULL };
	int fd = fuse_session_fd(fs->se);
	int rc = fuse_session_custom_io(fs->se, &io, fd);

	if (rc != 0) {
		dfs_log(DFS_LOG_WARN, "custom session I/O refused: %s",
			strerror(-rc));
		return rc;
	}
	pt.fd = fd;
	dfs_store_set_backing(fs->st, &b);
	return 0;
}

void dfs_passthrough_stop(struct dfs_fs *fs)
{
	dfs_store_set_backing(fs->st, NULL);
	atomic_store(&pt.on, false);
}

/* Answer an open the kernel is to read through backing id. */
int dfs_reply_open_backing(fuse_req_t req, const struct fuse_file_info *fi,
			   int id)
{
	struct dfs_open_out out = {
		.fh = fi->fh,
		.open_flags = DFS_FOPEN_PASSTHROUGH |
			      (fi->noflush ? DFS_FOPEN_NOFLUSH : 0),
		.backing_id = id
	};
	struct iovec iov = { &out, sizeof(out) };

	return fuse_reply_iov(req, &iov, 1);
}
