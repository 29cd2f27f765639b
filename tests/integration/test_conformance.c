// SPDX-License-Identifier: MIT
/*
 * test_conformance.c - differential POSIX conformance of build/.
 *
 * In the spirit of pjdfstest: each case of the table is a short list of
 * syscall steps, run twice: under a plain folder of the host disk
 * (NATIVE/conf) and under the mount (BUILD/process/conf).  Every step must
 * give the same return value and errno and, for stat steps, the same file
 * type, mode bits, size, nlink, uid and gid (a folder's size never, its
 * nlink on STATN).  Times are compared exactly only where the case set
 * them, otherwise as relations to a SNAP taken before (CHANGED) or to the
 * clock (NOWCHK).  E(errno) after a step also requires the native run to
 * fail that way, so a slip in the table cannot pass unnoticed.
 *
 * One parameterized test a case, each on a fresh mount: a gap from POSIX
 * is a failing row whose message names the case, the step and both results.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MAX_STEPS 16
#define NSLOT 4
#define OLD 1000000000LL /* 2001-09-09 */
#define FNV0 14695981039346656037ULL

/* clang-format off */
#define OPS(X) \
	X(END) X(EXPECT) X(MKDIR) X(MKFILE) X(OPEN) X(OPENFD) X(CLOSE) \
	X(WRITE) X(PWRITE) X(PREAD) X(FSTAT) X(FTRUNC) X(UNLINK) X(RMDIR) \
	X(RENAME) X(LINK) X(SYMLINK) X(READLINK) X(CHMOD) X(CHOWN) \
	X(LCHOWN) X(TRUNC) X(UTIMENS) X(TOUCH) X(MKNOD) X(STAT) X(HASH) \
	X(LIST) X(SAMEINO) X(SNAP) X(CHANGED) X(NOWCHK)
/* clang-format on */
#define OP_ENUM(n) OP_##n,
#define OP_NAME(n) #n,
enum op { OPS(OP_ENUM) };
static const char *const op_names[] = { OPS(OP_NAME) };

#define ST_NOFOLLOW 1 /* stat step: lstat */
#define ST_TIMES 2    /* stat step: compare atime, mtime exactly */
#define ST_NLINK 4    /* stat step: compare a folder's nlink */

#define CH_MTIME_NEWER 1 /* CHANGED: mtime later than at SNAP */
#define CH_MTIME_SAME 2	 /* CHANGED: mtime as at SNAP */
#define CH_CTIME_KEPT 4	 /* CHANGED: ctime not earlier than at SNAP */

struct step {
	enum op op;
	const char *p1; /* relative to the root of the run */
	const char *p2;
	long long a, b, c, d; /* mode, ids, size, offset, times, errno */
	int fl;		      /* open, rename, utimensat or stat flags */
	int slot;	      /* fd or SNAP slot */
};

struct conf_case {
	const char *name;
	struct step s[MAX_STEPS];
};

#define MKDIR(p, m)                             \
	{                                       \
		.op = OP_MKDIR, .p1 = p, .a = m \
	}
#define MKF(p, n)                                \
	{                                        \
		.op = OP_MKFILE, .p1 = p, .b = n \
	}
#define OPEN(p, f, m)                                   \
	{                                               \
		.op = OP_OPEN, .p1 = p, .fl = f, .a = m \
	}
#define OPENFD(k, p, f)                                                 \
	{                                                               \
		.op = OP_OPENFD, .p1 = p, .fl = f, .a = 0644, .slot = k \
	}
#define CLOSE(k)                          \
	{                                 \
		.op = OP_CLOSE, .slot = k \
	}
#define WRITE(k, n)                                        \
	{                                                  \
		.op = OP_WRITE, .slot = k, .b = n, .c = -1 \
	}
#define PWRITE(k, n, o)                                    \
	{                                                  \
		.op = OP_PWRITE, .slot = k, .b = n, .c = o \
	}
#define PREAD(k, n, o)                                    \
	{                                                 \
		.op = OP_PREAD, .slot = k, .b = n, .c = o \
	}
#define FSTAT(k)                          \
	{                                 \
		.op = OP_FSTAT, .slot = k \
	}
#define FTRUNC(k, n)                               \
	{                                          \
		.op = OP_FTRUNC, .slot = k, .b = n \
	}
#define UNLINK(p)                        \
	{                                \
		.op = OP_UNLINK, .p1 = p \
	}
#define RMDIR(p)                        \
	{                               \
		.op = OP_RMDIR, .p1 = p \
	}
#define RENAME(x, y)                              \
	{                                         \
		.op = OP_RENAME, .p1 = x, .p2 = y \
	}
#define RENAME2(x, y, f)                                   \
	{                                                  \
		.op = OP_RENAME, .p1 = x, .p2 = y, .fl = f \
	}
#define LINK(x, y)                              \
	{                                       \
		.op = OP_LINK, .p1 = x, .p2 = y \
	}
#define SYMLINK(t, p)                              \
	{                                          \
		.op = OP_SYMLINK, .p1 = t, .p2 = p \
	}
#define LONGLINK(n, p)                            \
	{                                         \
		.op = OP_SYMLINK, .b = n, .p2 = p \
	}
#define READLINK(p)                        \
	{                                  \
		.op = OP_READLINK, .p1 = p \
	}
#define CHMOD(p, m)                             \
	{                                       \
		.op = OP_CHMOD, .p1 = p, .a = m \
	}
#define CHOWN(p, u, g)                                  \
	{                                               \
		.op = OP_CHOWN, .p1 = p, .a = u, .b = g \
	}
#define LCHOWN(p, u, g)                                  \
	{                                                \
		.op = OP_LCHOWN, .p1 = p, .a = u, .b = g \
	}
#define TRUNC(p, n)                             \
	{                                       \
		.op = OP_TRUNC, .p1 = p, .b = n \
	}
#define UTIMENS(p, as, an, ms, mn, f)                                          \
	{                                                                      \
		.op = OP_UTIMENS, .p1 = p, .a = as, .b = an, .c = ms, .d = mn, \
		.fl = f                                                        \
	}
#define SETOLD(p) UTIMENS(p, OLD, 0, OLD, 0, 0)
#define TOUCH(p)                        \
	{                               \
		.op = OP_TOUCH, .p1 = p \
	}
#define MKNOD(p, m)                             \
	{                                       \
		.op = OP_MKNOD, .p1 = p, .a = m \
	}
#define STAT(p)                        \
	{                              \
		.op = OP_STAT, .p1 = p \
	}
#define LSTAT(p)                                          \
	{                                                 \
		.op = OP_STAT, .p1 = p, .fl = ST_NOFOLLOW \
	}
#define STATT(p)                                       \
	{                                              \
		.op = OP_STAT, .p1 = p, .fl = ST_TIMES \
	}
#define LSTATT(p)                                                    \
	{                                                            \
		.op = OP_STAT, .p1 = p, .fl = ST_NOFOLLOW | ST_TIMES \
	}
#define STATN(p)                                       \
	{                                              \
		.op = OP_STAT, .p1 = p, .fl = ST_NLINK \
	}
#define HASH(p)                        \
	{                              \
		.op = OP_HASH, .p1 = p \
	}
#define LIST(p)                        \
	{                              \
		.op = OP_LIST, .p1 = p \
	}
#define SAMEINO(x, y)                              \
	{                                          \
		.op = OP_SAMEINO, .p1 = x, .p2 = y \
	}
#define SNAP(p, k)                                \
	{                                         \
		.op = OP_SNAP, .p1 = p, .slot = k \
	}
#define CHANGED(p, k)                                \
	{                                            \
		.op = OP_CHANGED, .p1 = p, .slot = k \
	}
#define NOWCHK(p)                        \
	{                                \
		.op = OP_NOWCHK, .p1 = p \
	}
#define E(e)                            \
	{                               \
		.op = OP_EXPECT, .a = e \
	}

#define RD O_RDONLY
#define WR (O_WRONLY | O_CREAT)
#define XCL (O_WRONLY | O_CREAT | O_EXCL)
#define NOREPL RENAME_NOREPLACE
#define XCHG RENAME_EXCHANGE
#define OMIT UTIME_OMIT
#define NOW UTIME_NOW
#define FIFO S_IFIFO
#define N16 "nnnnnnnnnnnnnnnn"
#define N64 N16 N16 N16 N16
#define N255 N64 N64 N64 N16 N16 N16 "nnnnnnnnnnnnnnn"
#define N256 N255 "n"

static const struct conf_case cases[] = {
	/* open, creat, read, write */
	{ "open_creat_excl",
	  { OPEN("f", XCL, 0640), LSTAT("f"), OPEN("f", XCL, 0600), E(EEXIST),
	    OPEN("f", WR, 0777), LSTAT("f"), OPEN("g", XCL, 07777),
	    LSTAT("g") } },
	{ "open_creat_dangling_symlink",
	  { SYMLINK("t", "l"), OPEN("l", XCL, 0600), E(EEXIST), LSTAT("t"),
	    E(ENOENT), OPEN("l", WR, 0600), LSTAT("t"), LSTAT("l") } },
	{ "open_trunc",
	  { MKF("f", 100), OPEN("f", O_WRONLY | O_TRUNC, 0), LSTAT("f"),
	    HASH("f"), MKF("g", 100), OPEN("g", O_RDWR | O_TRUNC, 0),
	    LSTAT("g") } },
	{ "open_trunc_updates_mtime",
	  { MKF("f", 100), SETOLD("f"), SNAP("f", 0),
	    OPEN("f", O_WRONLY | O_TRUNC, 0), CHANGED("f", 0) } },
	{ "open_directory",
	  { MKF("f", 1), MKDIR("d", 0755), OPEN("f", RD | O_DIRECTORY, 0),
	    E(ENOTDIR), OPEN("d", RD | O_DIRECTORY, 0) } },
	{ "open_nofollow_symlink",
	  { MKF("f", 1), SYMLINK("f", "l"), OPEN("l", RD | O_NOFOLLOW, 0),
	    E(ELOOP), OPEN("f", RD | O_NOFOLLOW, 0),
	    OPENFD(0, "l", O_PATH | O_NOFOLLOW), FSTAT(0), CLOSE(0) } },
	{ "open_append_then_pwrite",
	  { MKF("f", 10), OPENFD(0, "f", O_RDWR | O_APPEND), PWRITE(0, 5, 0),
	    WRITE(0, 3), FSTAT(0), PREAD(0, 100, 0), CLOSE(0), HASH("f") } },
	{ "open_write_on_dir",
	  { MKDIR("d", 0755), OPEN("d", O_WRONLY, 0), E(EISDIR),
	    OPEN("d", O_RDWR, 0), E(EISDIR), OPEN("d", RD | O_CREAT, 0644),
	    E(EISDIR), OPEN("d", XCL, 0644), E(EEXIST) } },
	{ "open_missing",
	  { OPEN("no", RD, 0), E(ENOENT), OPEN("no/x", RD, 0), E(ENOENT),
	    OPEN("no/x", WR, 0644), E(ENOENT), LIST(".") } },
	{ "open_creat_under_file",
	  { MKF("f", 1), OPEN("f/x", WR, 0644), E(ENOTDIR), OPEN("f/", RD, 0),
	    E(ENOTDIR), OPEN("n/", WR, 0644), E(EISDIR), LSTAT("n"),
	    E(ENOENT) } },
	{ "read_only_fd",
	  { MKF("f", 4), OPENFD(0, "f", RD), WRITE(0, 1), E(EBADF),
	    PREAD(0, 100, 2), PREAD(0, 10, 4), CLOSE(0) } },
	{ "write_sparse_hole_reads_zero",
	  { OPENFD(0, "f", O_RDWR | O_CREAT), PWRITE(0, 10, 1 << 20), FSTAT(0),
	    PREAD(0, 64, 1000), CLOSE(0), HASH("f") } },
	{ "write_past_4gib",
	  { OPENFD(0, "f", O_RDWR | O_CREAT), PWRITE(0, 10, 5LL << 30),
	    FSTAT(0), PREAD(0, 20, (5LL << 30) - 5), CLOSE(0) } },
	{ "write_updates_mtime",
	  { MKF("f", 10), SETOLD("f"), SNAP("f", 0), OPENFD(0, "f", O_WRONLY),
	    WRITE(0, 4), CLOSE(0), CHANGED("f", 0), HASH("f") } },
	{ "create_updates_parent_mtime",
	  { MKDIR("d", 0755), SETOLD("d"), SNAP("d", 0), MKF("d/f", 1),
	    CHANGED("d", 0) } },
	/* rename */
	{ "rename_file_over_file",
	  { MKF("a", 10), MKF("b", 20), RENAME("a", "b"), LSTAT("a"), E(ENOENT),
	    LSTAT("b"), HASH("b"), LIST(".") } },
	{ "rename_file_over_dir",
	  { MKF("a", 1), MKDIR("d", 0755), RENAME("a", "d"), E(EISDIR),
	    LIST(".") } },
	{ "rename_dir_over_file",
	  { MKDIR("d", 0755), MKF("f", 1), RENAME("d", "f"), E(ENOTDIR),
	    LIST(".") } },
	{ "rename_dir_over_empty_dir",
	  { MKDIR("a", 0700), MKF("a/x", 1), MKDIR("b", 0755), RENAME("a", "b"),
	    LSTAT("b"), LIST("b"), LSTAT("a"), E(ENOENT), STATN(".") } },
	{ "rename_dir_over_nonempty_dir",
	  { MKDIR("a", 0755), MKDIR("b", 0755), MKF("b/x", 1), RENAME("a", "b"),
	    E(ENOTEMPTY), LIST("b") } },
	{ "rename_dir_into_own_subdir",
	  { MKDIR("d", 0755), MKDIR("d/s", 0755), RENAME("d", "d/s/x"),
	    E(EINVAL), RENAME("d", "d/s"), E(EINVAL), LIST("d/s") } },
	{ "rename_missing_source_or_parent",
	  { RENAME("no", "x"), E(ENOENT), LSTAT("x"), E(ENOENT), MKF("a", 1),
	    RENAME("a", "no/a"), E(ENOENT), RENAME("a", "a/b"), E(ENOTDIR) } },
	{ "rename_same_name",
	  { MKF("a", 3), RENAME("a", "a"), LSTAT("a"), HASH("a") } },
	{ "rename_hard_links_of_same_inode",
	  { MKF("a", 3), LINK("a", "b"), RENAME("a", "b"), LSTAT("a"),
	    LSTAT("b"), SAMEINO("a", "b"), LIST(".") } },
	{ "rename_noreplace",
	  { MKF("a", 1), MKF("b", 2), RENAME2("a", "b", NOREPL), E(EEXIST),
	    HASH("a"), HASH("b"), RENAME2("a", "c", NOREPL), LIST("."),
	    HASH("c") } },
	{ "rename_exchange_files",
	  { MKF("a", 10), MKF("b", 20), CHMOD("b", 0600),
	    RENAME2("a", "b", XCHG), LSTAT("a"), LSTAT("b"), HASH("a"),
	    HASH("b") } },
	{ "rename_exchange_file_and_dir",
	  { MKF("a", 10), MKDIR("d", 0755), MKF("d/x", 1),
	    RENAME2("a", "d", XCHG), LSTAT("a"), LSTAT("d"), LIST("a"),
	    HASH("a/x") } },
	{ "rename_exchange_missing_target",
	  { MKF("a", 1), MKF("b", 2), RENAME2("a", "no", XCHG), E(ENOENT),
	    RENAME2("a", "b", XCHG | NOREPL), E(EINVAL), LSTAT("a"),
	    LIST(".") } },
	{ "rename_dir_moves_nlink",
	  { MKDIR("p", 0755), MKDIR("p/d", 0755), MKDIR("q", 0755),
	    RENAME("p/d", "q/d"), STATN("p"), STATN("q"), STATN("q/d") } },
	{ "rename_open_file_keeps_data",
	  { MKF("a", 50), OPENFD(0, "a", RD), RENAME("a", "b"),
	    PREAD(0, 100, 0), CLOSE(0), HASH("b") } },
	{ "rename_over_symlink",
	  { MKF("a", 5), MKF("t", 9), SYMLINK("t", "l"), RENAME("a", "l"),
	    LSTAT("l"), HASH("t") } },
	{ "rename_updates_parents_mtime",
	  { MKDIR("p", 0755), MKDIR("q", 0755), MKF("p/a", 1), SETOLD("p"),
	    SETOLD("q"), SNAP("p", 0), SNAP("q", 1), RENAME("p/a", "q/a"),
	    CHANGED("p", 0), CHANGED("q", 1) } },
	/* link, unlink */
	{ "link_to_dir",
	  { MKDIR("d", 0755), LINK("d", "l"), E(EPERM), STATN("d"), LSTAT("l"),
	    E(ENOENT) } },
	{ "link_existing_or_missing",
	  { MKF("a", 1), MKF("b", 2), LINK("a", "b"), E(EEXIST), LSTAT("a"),
	    HASH("b"), LINK("no", "c"), E(ENOENT), LINK("a", "no/c"), E(ENOENT),
	    LINK("a", "a/c"), E(ENOTDIR) } },
	{ "link_counts_nlink",
	  { MKF("a", 7), SETOLD("a"), SNAP("a", 0), LINK("a", "b"),
	    LINK("b", "c"), LSTAT("a"), CHANGED("a", 0), SAMEINO("a", "c"),
	    UNLINK("a"), LSTAT("b"), HASH("c") } },
	{ "link_to_symlink",
	  { SYMLINK("t", "l"), LINK("l", "l2"), LSTAT("l2"), SAMEINO("l", "l2"),
	    READLINK("l2") } },
	{ "unlink_dir_or_missing",
	  { MKDIR("d", 0755), UNLINK("d"), E(EISDIR), UNLINK("no"), E(ENOENT),
	    UNLINK("no/x"), E(ENOENT), MKF("f", 1), UNLINK("f/"), E(ENOTDIR),
	    LSTAT("f") } },
	{ "unlink_open_file_stays_usable",
	  { MKF("a", 10), OPENFD(0, "a", O_RDWR), UNLINK("a"), PWRITE(0, 5, 10),
	    PREAD(0, 100, 0), FSTAT(0), LIST("."), CLOSE(0) } },
	{ "unlink_symlink_keeps_target",
	  { MKF("t", 3), SYMLINK("t", "l"), SETOLD("."), SNAP(".", 0),
	    UNLINK("l"), CHANGED(".", 0), LSTAT("t"), LIST(".") } },
	/* rmdir, mkdir */
	{ "rmdir_not_a_dir",
	  { MKF("f", 1), RMDIR("f"), E(ENOTDIR), RMDIR("no"), E(ENOENT),
	    MKDIR("d", 0755), SYMLINK("d", "l"), RMDIR("l"), E(ENOTDIR),
	    LSTAT("d") } },
	{ "rmdir_nonempty",
	  { MKDIR("d", 0755), MKF("d/x", 1), RMDIR("d"), E(ENOTEMPTY),
	    LIST("d") } },
	{ "rmdir_dot",
	  { MKDIR("d", 0755), RMDIR("d/."), E(EINVAL), RMDIR("d/.."),
	    E(ENOTEMPTY), LSTAT("d") } },
	{ "rmdir_empty_drops_nlink",
	  { MKDIR("d", 0755), STATN("."), RMDIR("d"), STATN("."), LSTAT("d"),
	    E(ENOENT) } },
	{ "mkdir_existing",
	  { MKDIR("d", 0755), MKDIR("d", 0700), E(EEXIST), MKF("f", 1),
	    MKDIR("f", 0755), E(EEXIST), MKDIR("f/d", 0755), E(ENOTDIR),
	    MKDIR("no/d", 0755), E(ENOENT), MKDIR("e/", 0700), LSTAT("d"),
	    LSTAT("e") } },
	{ "mkdir_mode_bits",
	  { MKDIR("a", 0700), MKDIR("b", 0751), MKDIR("c", 01777),
	    MKDIR("e", 02755), MKDIR("g", 07777), LSTAT("a"), LSTAT("b"),
	    LSTAT("c"), LSTAT("e"), LSTAT("g") } },
	{ "mkdir_setgid_parent_inherits",
	  { MKDIR("d", 0755), CHOWN("d", 0, 4242), CHMOD("d", 02775),
	    MKDIR("d/s", 0755), MKF("d/f", 0), LSTAT("d/s"), LSTAT("d/f") } },
	{ "mkdir_updates_parent",
	  { MKDIR("d", 0755), SETOLD("d"), SNAP("d", 0), MKDIR("d/s", 0755),
	    STATN("d"), CHANGED("d", 0) } },
	/* chmod, chown */
	{ "chmod_special_bits_file",
	  { MKF("f", 1), CHMOD("f", 07755), LSTAT("f"), CHMOD("f", 04711),
	    LSTAT("f"), CHMOD("f", 02700), LSTAT("f"), CHMOD("f", 01644),
	    LSTAT("f") } },
	{ "chmod_special_bits_dir",
	  { MKDIR("d", 0755), CHMOD("d", 07777), LSTAT("d"), CHMOD("d", 01777),
	    LSTAT("d"), CHMOD("d", 0), LSTAT("d") } },
	{ "chmod_follows_symlink",
	  { MKF("f", 1), SYMLINK("f", "l"), SETOLD("f"), SNAP("f", 0),
	    CHMOD("l", 0600), CHANGED("f", 0), LSTAT("f"), LSTAT("l"),
	    CHMOD("no", 0600), E(ENOENT) } },
	{ "chown_clears_setuid_setgid",
	  { MKF("f", 1), CHMOD("f", 06755), CHOWN("f", 1234, 5678), LSTAT("f"),
	    MKF("g", 1), CHMOD("g", 02644), CHOWN("g", 1, 1), LSTAT("g"),
	    MKDIR("d", 0755), CHMOD("d", 06755), CHOWN("d", 1, 1),
	    LSTAT("d") } },
	{ "chown_arbitrary_ids",
	  { MKF("f", 1), CHOWN("f", 1234, 5678), LSTAT("f"),
	    CHOWN("f", 65534, 100000), LSTAT("f"), MKDIR("d", 0755),
	    CHOWN("d", 7, 8), LSTAT("d"), MKF("d/f", 0), LSTAT("d/f") } },
	{ "chown_minus_one_keeps",
	  { MKF("f", 1), SETOLD("f"), SNAP("f", 0), CHOWN("f", 1234, -1),
	    LSTAT("f"), CHOWN("f", -1, 99), LSTAT("f"), CHOWN("f", -1, -1),
	    LSTAT("f"), CHANGED("f", 0) } },
	{ "lchown_symlink",
	  { MKF("t", 1), SYMLINK("t", "l"), LCHOWN("l", 42, 43), LSTAT("l"),
	    LSTAT("t"), CHOWN("l", 44, 45), LSTAT("t"), LSTAT("l") } },
	/* utimensat */
	{ "utimens_ns_values",
	  { MKF("f", 1), UTIMENS("f", OLD, 123456789, 1234567890, 987654321, 0),
	    LSTATT("f"), MKDIR("d", 0755), UTIMENS("d", OLD, 7, OLD, 8, 0),
	    LSTATT("d") } },
	{ "utimens_omit_atime",
	  { MKF("f", 1), UTIMENS("f", OLD, 1, OLD, 2, 0),
	    UTIMENS("f", 0, OMIT, 1500000000, 3, 0), LSTATT("f") } },
	{ "utimens_omit_mtime",
	  { MKF("f", 1), UTIMENS("f", OLD, 1, OLD, 2, 0),
	    UTIMENS("f", 1500000000, 3, 0, OMIT, 0), LSTATT("f") } },
	{ "utimens_omit_both",
	  { MKF("f", 1), UTIMENS("f", OLD, 1, OLD, 2, 0),
	    UTIMENS("f", 5, OMIT, 6, OMIT, 0), LSTATT("f") } },
	{ "utimens_now",
	  { MKF("f", 1), SETOLD("f"), UTIMENS("f", 0, NOW, 0, NOW, 0),
	    NOWCHK("f"), MKF("g", 1), SETOLD("g"), TOUCH("g"), NOWCHK("g") } },
	{ "utimens_now_mtime_only",
	  { MKF("f", 1), SETOLD("f"), UTIMENS("f", 0, OMIT, 0, NOW, 0),
	    NOWCHK("f") } },
	{ "utimens_symlink_nofollow",
	  { MKF("t", 1), UTIMENS("t", OLD, 1, OLD, 2, 0), SYMLINK("t", "l"),
	    UTIMENS("l", 1100000000, 3, 1200000000, 4, AT_SYMLINK_NOFOLLOW),
	    LSTATT("l"), LSTATT("t"), STATT("l"),
	    UTIMENS("l", OLD, 5, OLD, 6, 0), LSTATT("t"), LSTAT("l") } },
	{ "utimens_invalid",
	  { MKF("f", 1), UTIMENS("f", 0, 1000000000, 0, 0, 0), E(EINVAL),
	    UTIMENS("no", 0, 0, 0, 0, 0), E(ENOENT) } },
	{ "utimens_before_1970",
	  { MKF("f", 1), UTIMENS("f", -1, 500000000, -86400, 999999999, 0),
	    LSTATT("f") } },
	/* truncate */
	{ "truncate_grow_and_shrink",
	  { MKF("f", 100), TRUNC("f", 100000), LSTAT("f"), HASH("f"),
	    TRUNC("f", 10), LSTAT("f"), HASH("f"), TRUNC("f", 50),
	    HASH("f") } },
	{ "truncate_errors",
	  { MKF("f", 10), TRUNC("f", -1), E(EINVAL), MKDIR("d", 0755),
	    TRUNC("d", 0), E(EISDIR), TRUNC("no", 0), E(ENOENT), LSTAT("f") } },
	{ "truncate_updates_mtime",
	  { MKF("f", 10), SETOLD("f"), SNAP("f", 0), TRUNC("f", 20),
	    CHANGED("f", 0) } },
	{ "truncate_same_size",
	  { MKF("f", 10), SETOLD("f"), SNAP("f", 0), TRUNC("f", 10),
	    CHANGED("f", 0), HASH("f") } },
	{ "ftruncate",
	  { MKF("f", 10), OPENFD(0, "f", RD), FTRUNC(0, 0), E(EINVAL),
	    OPENFD(1, "f", O_RDWR), FTRUNC(1, 4096), FSTAT(1),
	    PREAD(1, 100, 4000), CLOSE(0), CLOSE(1) } },
	/* symlink, readlink */
	{ "symlink_existing",
	  { MKF("f", 1), SYMLINK("x", "f"), E(EEXIST), SYMLINK("x", "l"),
	    SYMLINK("y", "l"), E(EEXIST), READLINK("l"), SYMLINK("x", "f/l"),
	    E(ENOTDIR), SYMLINK("", "e"), E(ENOENT) } },
	{ "symlink_dangling",
	  { SYMLINK("no/where", "l"), LSTAT("l"), STAT("l"), E(ENOENT),
	    READLINK("l") } },
	{ "readlink_not_a_symlink",
	  { MKF("f", 1), READLINK("f"), E(EINVAL), MKDIR("d", 0755),
	    READLINK("d"), E(EINVAL), READLINK("no"), E(ENOENT) } },
	{ "symlink_long_target",
	  { LONGLINK(4095, "l"), READLINK("l"), LSTAT("l"), LONGLINK(4096, "m"),
	    E(ENAMETOOLONG), LSTAT("m"), E(ENOENT) } },
	{ "symlink_loop_and_traversal",
	  { SYMLINK("b", "a"), SYMLINK("a", "b"), OPEN("a", RD, 0), E(ELOOP),
	    MKDIR("d", 0755), MKF("d/f", 9), SYMLINK("d", "l"), HASH("l/f"),
	    LIST("l"), STAT("l") } },
	/* mknod, mkfifo */
	{ "mkfifo",
	  { MKNOD("p", FIFO | 0640), LSTAT("p"), MKNOD("p", FIFO | 0600),
	    E(EEXIST), OPEN("p", O_WRONLY | O_NONBLOCK, 0), E(ENXIO),
	    OPEN("p", RD | O_NONBLOCK, 0), RENAME("p", "q"), LSTAT("q"),
	    LIST(".") } },
	{ "mknod_regular",
	  { MKNOD("f", S_IFREG | 0600), LSTAT("f"), HASH("f") } },
	/* name length */
	{ "name_255",
	  { OPEN(N255, XCL, 0644), LSTAT(N255), MKDIR("d", 0755),
	    MKDIR("d/" N255, 0700), RENAME("d/" N255, "d/x"), LIST("."),
	    LIST("d") } },
	{ "name_256_create",
	  { OPEN(N256, XCL, 0644), E(ENAMETOOLONG), LSTAT(N256),
	    E(ENAMETOOLONG), MKDIR(N256, 0755), E(ENAMETOOLONG),
	    MKNOD(N256, FIFO | 0600), E(ENAMETOOLONG), LIST(".") } },
	{ "name_256_link_rename_symlink",
	  { MKF("a", 1), LINK("a", N256), E(ENAMETOOLONG), RENAME("a", N256),
	    E(ENAMETOOLONG), SYMLINK("a", N256), E(ENAMETOOLONG), LSTAT("a"),
	    LIST(".") } },
	{ "mixed_listing",
	  { MKDIR("d", 0755), MKF("f", 1), SYMLINK("f", "l"),
	    MKNOD("p", FIFO | 0600), LINK("f", "h"), RENAME("h", "d/h"),
	    LIST("."), LIST("d"), LSTAT("f") } },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))
_Static_assert(NCASES >= 60, "the brief asks for at least 60 cases");

struct result {
	long long rc;
	int err;
	bool has_st, has_aux;
	struct stat st;
	uint64_t aux;  /* hash of data read, a listing, a target */
	char text[72]; /* its start, for the message */
};

struct run {
	const char *root;
	int fd[NSLOT];
	struct stat snap[NSLOT];
	struct timespec t0;
	struct result res[MAX_STEPS];
};

static struct dfs_mount m;
static int setup_rc;

static void suite_init(void)
{
	setup_rc = dfs_mount_setup(&m);
}

static void suite_fini(void)
{
	dfs_mount_teardown(&m);
}

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len--)
		h = (h ^ *p++) * 1099511628211ULL;
	return h;
}

/* n pattern bytes at off (off < 0: at the file position) */
static long long write_pattern(int fd, long long n, long long off, int seed)
{
	unsigned char buf[4096];
	long long done = 0;

	while (done < n) {
		size_t len = n - done > 4096 ? 4096 : (size_t)(n - done);
		ssize_t w;

		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)((done + i) * 7 + seed * 31);
		w = off < 0 ? write(fd, buf, len)
			    : pwrite(fd, buf, len, off + done);
		if (w <= 0)
			return -1;
		done += w;
	}
	return done;
}

static long long make_file(const char *path, long long n, int seed)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	long long rc;

	if (fd < 0)
		return -1;
	rc = write_pattern(fd, n, -1, seed);
	if (close(fd) < 0)
		rc = -1;
	return rc < 0 ? -1 : 0;
}

/* Read all of fd from off (or the file position) into the hash. */
static long long hash_fd(int fd, long long max, long long off,
			 struct result *res)
{
	unsigned char buf[8192];
	long long total = 0;
	ssize_t n = 1;

	res->aux = FNV0;
	while (total < max && n > 0) {
		size_t len = max - total > 8192 ? 8192 : (size_t)(max - total);

		n = off < 0 ? read(fd, buf, len)
			    : pread(fd, buf, len, off + total);
		if (n > 0) {
			res->aux = fnv(res->aux, buf, (size_t)n);
			total += n;
		}
	}
	return n < 0 ? -1 : total;
}

static long long hash_file(const char *path, struct result *res)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long long rc;

	if (fd < 0)
		return -1;
	rc = hash_fd(fd, 1LL << 30, -1, res);
	close(fd);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names but . and ..: count in rc, hash in aux. */
static long long list_dir(const char *path, struct result *res)
{
	DIR *dir = opendir(path);
	size_t n = 0, len = 0;
	struct dirent *de;
	char *names[64];

	if (!dir)
		return -1;
	while ((de = readdir(dir)) && n < 64)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (names[n] = strdup(de->d_name)))
			n++;
	closedir(dir);
	qsort(names, n, sizeof(names[0]), cmp_names);
	res->aux = FNV0;
	for (size_t i = 0; i < n; i++) {
		res->aux = fnv(res->aux, names[i], strlen(names[i]) + 1);
		if (len < sizeof(res->text))
			len += (size_t)snprintf(
				res->text + len, sizeof(res->text) - len,
				"%s%.12s", i ? "," : "", names[i]);
		free(names[i]);
	}
	return (long long)n;
}

static long long do_symlink(const struct step *s, const char *path)
{
	char target[4200];

	if (s->p1)
		return symlink(s->p1, path);
	if (s->b >= (long long)sizeof(target))
		return -1;
	memset(target, 'c', (size_t)s->b);
	target[s->b] = '\0';
	return symlink(target, path);
}

static long long do_readlink(const char *path, struct result *res)
{
	char buf[4200];
	ssize_t n = readlink(path, buf, sizeof(buf));

	if (n < 0)
		return -1;
	res->aux = fnv(FNV0, buf, (size_t)n);
	snprintf(res->text, sizeof(res->text), "%.*s", (int)n, buf);
	return n;
}

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

/* 1 if t is between the start of the run (less 2 s) and now (plus 2 s) */
static long long near_now(const struct run *r, const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return t->tv_sec >= r->t0.tv_sec - 2 && t->tv_sec <= now.tv_sec + 2;
}

static long long time_bits(const struct run *r, const struct step *s,
			   const char *path)
{
	const struct stat *old = &r->snap[s->slot];
	struct stat st;

	if (lstat(path, &st) < 0)
		return -1;
	if (s->op == OP_NOWCHK)
		return near_now(r, &st.st_atim) |
		       near_now(r, &st.st_mtim) << 1 |
		       near_now(r, &st.st_ctim) << 2;
	return (ts_cmp(&st.st_mtim, &old->st_mtim) > 0 ? CH_MTIME_NEWER : 0) |
	       (ts_cmp(&st.st_mtim, &old->st_mtim) == 0 ? CH_MTIME_SAME : 0) |
	       (ts_cmp(&st.st_ctim, &old->st_ctim) >= 0 ? CH_CTIME_KEPT : 0);
}

static long long exec_step(struct run *r, int i, const struct step *s,
			   struct result *res)
{
	struct timespec ts[2] = { { s->a, s->b }, { s->c, s->d } };
	int fd = r->fd[s->slot];
	char p1[PATH_MAX], p2[PATH_MAX];
	struct stat st;
	long long rc;

	dfs_path(p1, sizeof(p1), "%s/%s", r->root, s->p1 ? s->p1 : "");
	dfs_path(p2, sizeof(p2), "%s/%s", r->root, s->p2 ? s->p2 : "");
	switch (s->op) {
	case OP_MKDIR:
		return mkdir(p1, (mode_t)s->a);
	case OP_MKFILE:
		return make_file(p1, s->b, i);
	case OP_OPEN:
		rc = open(p1, s->fl | O_CLOEXEC, (mode_t)s->a);
		return rc < 0 ? -1 : close((int)rc);
	case OP_OPENFD:
		r->fd[s->slot] = open(p1, s->fl | O_CLOEXEC, (mode_t)s->a);
		return r->fd[s->slot] < 0 ? -1 : 0;
	case OP_CLOSE:
		r->fd[s->slot] = -1;
		return close(fd);
	case OP_WRITE:
	case OP_PWRITE:
		return write_pattern(fd, s->b, s->c, i);
	case OP_PREAD:
		return hash_fd(fd, s->b, s->c, res);
	case OP_FSTAT:
		return fstat(fd, &res->st);
	case OP_FTRUNC:
		return ftruncate(fd, s->b);
	case OP_UNLINK:
		return unlink(p1);
	case OP_RMDIR:
		return rmdir(p1);
	case OP_RENAME:
		return renameat2(AT_FDCWD, p1, AT_FDCWD, p2, (unsigned)s->fl);
	case OP_LINK:
		return link(p1, p2);
	case OP_SYMLINK:
		return do_symlink(s, p2);
	case OP_READLINK:
		return do_readlink(p1, res);
	case OP_CHMOD:
		return chmod(p1, (mode_t)s->a);
	case OP_CHOWN:
		return chown(p1, (uid_t)s->a, (gid_t)s->b);
	case OP_LCHOWN:
		return lchown(p1, (uid_t)s->a, (gid_t)s->b);
	case OP_TRUNC:
		return truncate(p1, s->b);
	case OP_UTIMENS:
		return utimensat(AT_FDCWD, p1, ts, s->fl);
	case OP_TOUCH:
		return utimensat(AT_FDCWD, p1, NULL, 0);
	case OP_MKNOD:
		return mknod(p1, (mode_t)s->a, 0);
	case OP_STAT:
		if (s->fl & ST_NOFOLLOW)
			return lstat(p1, &res->st);
		return stat(p1, &res->st);
	case OP_HASH:
		return hash_file(p1, res);
	case OP_LIST:
		return list_dir(p1, res);
	case OP_SAMEINO:
		if (lstat(p1, &st) < 0 || lstat(p2, &res->st) < 0)
			return -1;
		return st.st_dev == res->st.st_dev &&
		       st.st_ino == res->st.st_ino;
	case OP_SNAP:
		return lstat(p1, &r->snap[s->slot]);
	case OP_CHANGED:
	case OP_NOWCHK:
		return time_bits(r, s, p1);
	case OP_END:
	case OP_EXPECT:
		break;
	}
	return 0;
}

static void run_case(const struct conf_case *c, struct run *r)
{
	for (int k = 0; k < NSLOT; k++)
		r->fd[k] = -1;
	clock_gettime(CLOCK_REALTIME, &r->t0);
	for (int i = 0; i < MAX_STEPS && c->s[i].op != OP_END; i++) {
		struct result *res = &r->res[i];
		enum op op = c->s[i].op;

		memset(res, 0, sizeof(*res));
		if (op == OP_EXPECT)
			continue;
		errno = 0;
		res->rc = exec_step(r, i, &c->s[i], res);
		res->err = res->rc < 0 ? errno : 0;
		res->has_st = res->rc >= 0 && (op == OP_STAT || op == OP_FSTAT);
		res->has_aux =
			res->rc >= 0 && (op == OP_PREAD || op == OP_HASH ||
					 op == OP_LIST || op == OP_READLINK);
	}
	for (int k = 0; k < NSLOT; k++)
		if (r->fd[k] >= 0)
			close(r->fd[k]);
}

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

static size_t fmt_res(char *buf, size_t cap, const struct result *res)
{
	const struct stat *st = &res->st;
	size_t n;

	if (res->rc < 0)
		return (size_t)snprintf(buf, cap, "-1 %s", ename(res->err));
	n = (size_t)snprintf(buf, cap, "%lld", res->rc);
	if (res->has_st && n < cap)
		n += (size_t)snprintf(
			buf + n, cap - n,
			" [type=%c mode=%04o size=%lld nlink=%lu uid=%u gid=%u"
			" atime=%lld.%09ld mtime=%lld.%09ld]",
			"?pc?d?b?-?l?s???"[(st->st_mode >> 12) & 15],
			st -> st_mode & 07777, (long long)st -> st_size,
			(unsigned long)st -> st_nlink, st -> st_uid,
			st -> st_gid, (long long)st -> st_atim.tv_sec,
			st->st_atim.tv_nsec, (long long)st->st_mtim.tv_sec,
			st->st_mtim.tv_nsec);
	if (res->has_aux && n < cap)
		n += (size_t)snprintf(buf + n, cap - n, " [hash=%016llx %s]",
				      (unsigned long long)res->aux, res->text);
	return n;
}

static bool same_result(const struct result *a, const struct result *b, int fl)
{
	const struct stat *x = &a->st, *y = &b->st;
	bool dir = S_ISDIR(x->st_mode);

	if (a->rc != b->rc || a->err != b->err || a->has_st != b->has_st ||
	    a->has_aux != b->has_aux || (a->has_aux && a->aux != b->aux))
		return false;
	if (!a->has_st)
		return true;
	if (x->st_mode != y->st_mode || x->st_uid != y->st_uid ||
	    x->st_gid != y->st_gid || (!dir && x->st_size != y->st_size) ||
	    ((!dir || fl & ST_NLINK) && x->st_nlink != y->st_nlink))
		return false;
	return !(fl & ST_TIMES) || (!ts_cmp(&x->st_atim, &y->st_atim) &&
				    !ts_cmp(&x->st_mtim, &y->st_mtim));
}

#define CAT(...) \
	(len +=  \
	 (size_t)snprintf(msg + len, len < cap ? cap - len : 0, __VA_ARGS__))

/* One line in msg for each step that differs or breaks the table. */
static int compare_runs(const struct conf_case *c, const struct run *nat,
			const struct run *dfs, char *msg, size_t cap)
{
	size_t len = 0;
	int bad = 0;

	msg[0] = '\0';
	for (int i = 0; i < MAX_STEPS && c->s[i].op != OP_END; i++) {
		const struct step *s = &c->s[i];
		int want = i + 1 < MAX_STEPS && s[1].op == OP_EXPECT
				   ? (int)s[1].a
				   : 0;
		const struct result *a = &nat->res[i], *b = &dfs->res[i];
		bool table_ok =
			want ? a->rc == -1 && a->err == want : a->rc >= 0;

		if (s->op == OP_EXPECT ||
		    (table_ok && same_result(a, b, s->fl)))
			continue;
		bad++;
		CAT("\n  step %d %s(%.20s%s%.20s", i, op_names[s->op],
		    s->p1 ? s->p1 : "", s->p2 ? ", " : "", s->p2 ? s->p2 : "");
		if (s->fl)
			CAT(", flags=%#x", s->fl);
		CAT(")");
		if (!table_ok)
			CAT(" TABLE: native should give %s;",
			    want ? ename(want) : "success");
		CAT(" native: ");
		if (len < cap)
			len += fmt_res(msg + len, cap - len, a);
		CAT(" | deployfs: ");
		if (len < cap)
			len += fmt_res(msg + len, cap - len, b);
	}
	return bad;
}

TestSuite(conformance, .init = suite_init, .fini = suite_fini, .timeout = 120);

static void free_params(struct criterion_test_params *p)
{
	cr_free(p->params);
}

ParameterizedTestParameters(conformance, posix_case)
{
	int *idx = cr_malloc(NCASES * sizeof(*idx));

	for (size_t i = 0; i < NCASES; i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, NCASES, free_params);
}

ParameterizedTest(int *idx, conformance, posix_case)
{
	const struct conf_case *c = &cases[*idx];
	static struct run nat, dfs;
	static char msg[8192];
	char nroot[PATH_MAX], droot[PATH_MAX];
	int bad;

	cr_log_info("case %d: %s", *idx, c->name);
	cr_assert_eq(setup_rc, 0, "mount setup failed: %s",
		     strerror(-setup_rc));
	umask(0);
	dfs_path(nroot, sizeof(nroot), "%s/conf", m.native);
	dfs_path(droot, sizeof(droot), "%s/process/conf", m.build);
	cr_assert_eq(mkdir(nroot, 0755), 0, "mkdir %s: %s", nroot,
		     strerror(errno));
	cr_assert_eq(mkdir(droot, 0755), 0, "mkdir %s: %s", droot,
		     strerror(errno));
	nat.root = nroot;
	dfs.root = droot;
	run_case(c, &nat);
	run_case(c, &dfs);
	bad = compare_runs(c, &nat, &dfs, msg, sizeof(msg));
	cr_expect_eq(bad, 0, "case %s: %d step(s) differ:%s", c->name, bad,
		     msg);
}
