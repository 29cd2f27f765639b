// SPDX-License-Identifier: MIT
/*
 * test_fsx.c - file content under random operations (issue 9, item 5).
 * First the cases fsx (xfstests) found: a hole punched in a small file
 * (kept in memory while open) lost at close, ZERO_RANGE refused on a small
 * file only, and punch hole leaving the times alone.  Then every fallocate
 * mode at sizes on both sides of the small-file threshold, and short
 * seeded runs of the random-operation tester (fsx.c) against a native
 * folder.  The long run is tools/soak.
 */
#include "fsx.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct dfs_mount m;
static int setup_rc;

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
}

static void teardown(void)
{
	dfs_mount_teardown(&m);
}

TestSuite(fsx, .init = setup, .fini = teardown, .timeout = 300);

/* build/process/fsx/NAME, made with size bytes of c. */
static char *make_file(char *path, const char *name, size_t size, char c)
{
	char *data = malloc(size);

	cr_assert_not_null(data);
	memset(data, c, size);
	dfs_path(path, PATH_MAX, "%s/process/fsx", m.build);
	cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s",
		  path, strerror(errno));
	dfs_path(path, PATH_MAX, "%s/process/fsx/%s", m.build, name);
	cr_assert_eq(dfs_write_file(path, data, size), 0, "write %s", path);
	free(data);
	return path;
}

/* path holds size bytes: want[i] for each i, read from the daemon. */
static void expect_bytes(const char *path, const char *want, size_t size,
			 const char *when)
{
	char *got = malloc(size + 1);
	struct stat sb;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	cr_assert_eq(fstat(fd, &sb), 0);
	cr_assert_eq((size_t)sb.st_size, size, "%s: size %lld, want %zu", when,
		     (long long)sb.st_size, size);
	n = pread(fd, got, size + 1, 0);
	close(fd);
	cr_assert_eq((size_t)n, size, "%s: read %zd bytes", when, n);
	for (size_t i = 0; i < size; i++)
		cr_assert_eq(got[i], want[i],
			     "%s: byte %zu is 0x%02x, not 0x%02x", when, i,
			     (unsigned char)got[i], (unsigned char)want[i]);
	free(got);
}

static void remount(void)
{
	int rc = dfs_mount_stop(&m);

	cr_assert_eq(rc, 0, "unmount: %s, daemon status 0x%x", strerror(-rc),
		     m.daemon_status);
	rc = dfs_mount_start(&m);
	cr_assert_eq(rc, 0, "mount again: %s", strerror(-rc));
}

Test(fsx, punch_hole_in_a_small_file_survives_close_and_remount)
{
	char path[PATH_MAX], want[16384];
	int fd;

	dfs_need_mount(&m, setup_rc);
	make_file(path, "small", sizeof(want), 'a');
	memset(want, 'a', sizeof(want));
	memset(want + 4096, 0, 4096);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       4096, 4096),
		     0, "punch hole: %s", strerror(errno));
	cr_assert_eq(close(fd), 0);
	expect_bytes(path, want, sizeof(want), "after close");
	remount();
	expect_bytes(path, want, sizeof(want), "after remount");
}

Test(fsx, zero_range_works_on_a_small_file)
{
	char path[PATH_MAX], want[13000];
	int fd;

	dfs_need_mount(&m, setup_rc);
	make_file(path, "small", 10000, 'b');
	memset(want, 'b', 10000);
	memset(want + 10000, 0, sizeof(want) - 10000);
	memset(want + 2000, 0, 1000);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fallocate(fd, FALLOC_FL_ZERO_RANGE, 2000, 1000), 0,
		     "zero range: %s", strerror(errno));
	cr_assert_eq(fallocate(fd, FALLOC_FL_ZERO_RANGE, 9000, 4000), 0,
		     "zero range past the end: %s", strerror(errno));
	memset(want + 9000, 0, 1000);
	cr_assert_eq(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			       12000, 8000),
		     0, "zero range, keep size: %s", strerror(errno));
	cr_assert_eq(close(fd), 0);
	expect_bytes(path, want, sizeof(want), "after close");
	remount();
	expect_bytes(path, want, sizeof(want), "after remount");
}

/* mode on a file of size bytes moves mtime and ctime, open and closed. */
static void expect_times_move(size_t size, int mode, off_t off, off_t len)
{
	const struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	char path[PATH_MAX], name[64];
	struct stat before, after;
	int fd;

	snprintf(name, sizeof(name), "times-%zu-%x", size, (unsigned)mode);
	make_file(path, name, size, 'c');
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(futimens(fd, old), 0);
	cr_assert_eq(fstat(fd, &before), 0);
	cr_assert_eq(fallocate(fd, mode, off, len), 0,
		     "fallocate 0x%x on %zu bytes: %s", (unsigned)mode, size,
		     strerror(errno));
	cr_assert_eq(fstat(fd, &after), 0);
	cr_assert_eq(close(fd), 0);
	cr_assert_neq(after.st_mtim.tv_sec, old[0].tv_sec,
		      "fallocate 0x%x on %zu bytes left mtime", (unsigned)mode,
		      size);
	cr_assert(after.st_ctim.tv_sec != before.st_ctim.tv_sec ||
			  after.st_ctim.tv_nsec != before.st_ctim.tv_nsec,
		  "fallocate 0x%x on %zu bytes left ctime", (unsigned)mode,
		  size);
	cr_assert_eq(stat(path, &after), 0);
	cr_assert_neq(after.st_mtim.tv_sec, old[0].tv_sec,
		      "fallocate 0x%x on %zu bytes: mtime not kept at close",
		      (unsigned)mode, size);
}

Test(fsx, punch_hole_moves_mtime_and_ctime)
{
	dfs_need_mount(&m, setup_rc);
	expect_times_move(16384, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  4096, 4096);
	expect_times_move(200000, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  4096, 4096);
	expect_times_move(16384, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			  4096, 4096);
	expect_times_move(200000, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			  4096, 4096);
	expect_times_move(16384, FALLOC_FL_KEEP_SIZE, 0, 4096);
	expect_times_move(200000, FALLOC_FL_KEEP_SIZE, 0, 4096);
}

/*
 * The modes the mount accepts work at every size, on either side of the
 * small-file threshold; collapse and insert are refused (EOPNOTSUPP: the
 * kernel's FUSE passes only allocation, punch hole and zero range) at
 * every size alike.
 */
Test(fsx, every_fallocate_mode_answers_alike_at_every_size)
{
	static const size_t sizes[] = { 0, 4096, 60000, 65536, 70000, 300000 };
	static const struct {
		int mode, want;
	} modes[] = {
		{ 0, 0 },
		{ FALLOC_FL_KEEP_SIZE, 0 },
		{ FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0 },
		{ FALLOC_FL_ZERO_RANGE, 0 },
		{ FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0 },
		{ FALLOC_FL_COLLAPSE_RANGE, EOPNOTSUPP },
		{ FALLOC_FL_INSERT_RANGE, EOPNOTSUPP },
		{ FALLOC_FL_PUNCH_HOLE, EOPNOTSUPP }, /* needs KEEP_SIZE */
	};
	char path[PATH_MAX];

	dfs_need_mount(&m, setup_rc);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
			int fd, rc;

			make_file(path, "modes", sizes[s], 'd');
			fd = open(path, O_RDWR);
			cr_assert_geq(fd, 0);
			rc = fallocate(fd, modes[k].mode, 0, 4096) < 0 ? errno
								       : 0;
			close(fd);
			cr_assert_eq(rc, modes[k].want,
				     "fallocate 0x%x on %zu bytes: %s, want %s",
				     (unsigned)modes[k].mode, sizes[s],
				     strerror(rc), strerror(modes[k].want));
		}
	}
}

static void random_run(uint64_t seed)
{
	struct fsx_opts o;
	char *report = malloc(16384);
	int rc;

	dfs_need_mount(&m, setup_rc);
	cr_assert_not_null(report);
	fsx_opts_default(&o, seed, 1500);
	rc = fsx_run(&m, &o, report, 16384);
	cr_assert_eq(rc, 0, "%s", report);
	free(report);
}

Test(fsx, random_operations_seed_1)
{
	random_run(1);
}

Test(fsx, random_operations_seed_2)
{
	random_run(2);
}

Test(fsx, random_operations_seed_3)
{
	random_run(3);
}
