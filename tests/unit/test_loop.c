// SPDX-License-Identifier: MIT
/*
 * test_loop.c - fs/loop.c's choice of which requests its one thread
 * serves itself and which it hands to helpers, on raw requests as the
 * kernel sends them: calls that may wait (fsync, large writes,
 * an open for writing, a truncate, a snapshot, a deploy, a gc) go to
 * helpers; the rest, and a request too short to hold its arguments
 * (libfuse answers it), stay.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <string.h>

#include "fs.h"

static unsigned char req[sizeof(struct fuse_in_header) + 256];

/* A request of opcode op whose arguments are arg (n bytes): its length. */
static size_t make(uint32_t op, const void *arg, size_t n)
{
	struct fuse_in_header h = { .opcode = op, .unique = 2, .nodeid = 1 };

	h.len = (uint32_t)(sizeof(h) + n);
	memset(req, 0, sizeof(req));
	memcpy(req, &h, sizeof(h));
	if (n)
		memcpy(req + sizeof(h), arg, n);
	return h.len;
}

static bool helper_for(uint32_t op, const void *arg, size_t n)
{
	return dfs_loop_wants_helper(req, make(op, arg, n));
}

TestSuite(loop);

Test(loop, calls_that_may_wait_go_to_helpers)
{
	static const uint32_t ops[] = {
		FUSE_FSYNC,   FUSE_FSYNCDIR, FUSE_FALLOCATE,  FUSE_MKDIR,
		FUSE_SYMLINK, FUSE_LINK,     FUSE_RENAME,     FUSE_RENAME2,
		FUSE_RMDIR,   FUSE_SETXATTR, FUSE_REMOVEXATTR
	};
	char name[16] = "x";

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		cr_expect(helper_for(ops[i], name, sizeof(name)),
			  "opcode %u stayed", ops[i]);
}

Test(loop, the_calls_of_a_copy_stay_on_the_thread)
{
	static const uint32_t ops[] = {
		FUSE_LOOKUP,	FUSE_GETATTR,	     FUSE_CREATE,
		FUSE_FLUSH,	FUSE_RELEASE,	     FUSE_FORGET,
		FUSE_GETXATTR,	FUSE_READDIRPLUS,    FUSE_OPENDIR,
		FUSE_UNLINK,	FUSE_BATCH_FORGET,   FUSE_STATFS,
		FUSE_INTERRUPT, FUSE_INIT,	     FUSE_READLINK,
		FUSE_LISTXATTR, FUSE_COPY_FILE_RANGE
	};
	unsigned char arg[128] = { 0 };

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		cr_expect(!helper_for(ops[i], arg, sizeof(arg)),
			  "opcode %u went to a helper", ops[i]);
}

/* A READ (at most 1008 KiB) stays: handed over, cold reads were slower. */
Test(loop, writes_longer_than_128_kib_go_to_helpers_reads_stay)
{
	struct fuse_read_in r = { .size = 1008 << 10 };
	struct fuse_write_in w = { .size = 4096 };

	cr_expect(!helper_for(FUSE_READ, &r, sizeof(r)));
	cr_expect(!helper_for(FUSE_WRITE, &w, sizeof(w)));
	w.size = 128 << 10;
	cr_expect(!helper_for(FUSE_WRITE, &w, sizeof(w)));
	w.size = (128 << 10) + 4096;
	cr_expect(helper_for(FUSE_WRITE, &w, sizeof(w)));
	w.size = 1008 << 10;
	cr_expect(helper_for(FUSE_WRITE, &w, sizeof(w)));
}

Test(loop, an_open_for_writing_or_a_truncate_goes_to_a_helper)
{
	struct fuse_open_in o = { .flags = O_RDONLY };
	struct fuse_setattr_in s = { .valid = FATTR_MTIME | FATTR_UID };

	cr_expect(!helper_for(FUSE_OPEN, &o, sizeof(o)));
	o.flags = O_RDONLY | O_NOFOLLOW;
	cr_expect(!helper_for(FUSE_OPEN, &o, sizeof(o)));
	o.flags = O_WRONLY;
	cr_expect(helper_for(FUSE_OPEN, &o, sizeof(o)));
	o.flags = O_RDWR;
	cr_expect(helper_for(FUSE_OPEN, &o, sizeof(o)));
	o.flags = O_RDONLY | O_TRUNC;
	cr_expect(helper_for(FUSE_OPEN, &o, sizeof(o)));
	cr_expect(!helper_for(FUSE_SETATTR, &s, sizeof(s)));
	s.valid |= FATTR_SIZE;
	cr_expect(helper_for(FUSE_SETATTR, &s, sizeof(s)));
}

/* Arguments cut short are not read past the request; libfuse answers. */
Test(loop, a_request_too_short_for_its_arguments_stays)
{
	struct fuse_write_in w = { .size = 1008 << 10 };
	struct fuse_open_in o = { .flags = O_WRONLY };

	cr_expect(!helper_for(FUSE_WRITE, &w, sizeof(w) - 1));
	cr_expect(!helper_for(FUSE_OPEN, &o, 0));
	cr_expect(!helper_for(FUSE_SETATTR, NULL, 0));
	cr_expect(
		!dfs_loop_wants_helper(req, sizeof(struct fuse_in_header) - 1));
	cr_expect(!dfs_loop_wants_helper(req, 0));
}
