// SPDX-License-Identifier: MIT
/*
 * test_inode.c - unit tests of the namespace and of file content inside a
 * type folder: create, link, unlink, rename (NOREPLACE, EXCHANGE and its
 * refusals), link counts, name lengths, readdir offsets, setattr, reading
 * and writing through the file API, sparse files, unlinked open files,
 * forget, and persistence across close and reopen.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deployfs/store.h"
#include "fixture.h"

static struct dfs_fixture fx;

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)
#define GiB (1024ull * 1024 * 1024)

static void setup(void)
{
	dfs_fixture_setup(&fx, "inode", OPEN_FLAGS);
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(inode, .init = setup, .fini = teardown, .timeout = 120);

static struct dfs_attr mkfile(uint64_t parent, const char *name)
{
	struct dfs_attr a;

	cr_assert_eq(dfs_node_mknod(fx.st, &fx.me, parent, name, S_IFREG | 0644,
				    0, &a),
		     0, "mknod %s", name);
	return a;
}

static struct dfs_attr mkdir_in(uint64_t parent, const char *name)
{
	struct dfs_attr a;

	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, parent, name, 0755, &a), 0,
		     "mkdir %s", name);
	return a;
}

static struct dfs_attr getattr(uint64_t ino)
{
	struct dfs_attr a;

	cr_assert_eq(dfs_node_getattr(fx.st, ino, &a), 0, "getattr %llu",
		     (unsigned long long)ino);
	return a;
}

/* The inode behind parent/name, 0 when there is none. */
static uint64_t ino_of(uint64_t parent, const char *name)
{
	struct dfs_attr a;
	int rc = dfs_node_lookup(fx.st, parent, name, &a);

	cr_assert(rc == 0 || rc == -ENOENT, "lookup %s: %d", name, rc);
	return rc == 0 ? a.ino : 0;
}

/* dfs_node_rename in the fixture's store. */
static int ren(uint64_t parent, const char *name, uint64_t newparent,
	       const char *newname, unsigned flags)
{
	return dfs_node_rename(fx.st, parent, name, newparent, newname, flags);
}

static void write_at(uint64_t ino, int flags, const void *data, size_t len,
		     uint64_t off)
{
	struct dfs_file *f = NULL;
	int fd;

	cr_assert_eq(dfs_file_open(fx.st, ino, flags, &f), 0);
	fd = dfs_file_fd_get(f);
	cr_assert_eq(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
	dfs_file_fd_put(fx.st, f, true, off + len);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
}

/* Read up to cap bytes at off; returns the count. */
static size_t read_at(uint64_t ino, void *buf, size_t cap, uint64_t off)
{
	struct dfs_file *f = NULL;
	ssize_t n;

	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), 0);
	n = pread(dfs_file_fd_get(f), buf, cap, (off_t)off);
	dfs_file_fd_put(fx.st, f, false, 0);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	cr_assert_geq(n, 0);
	return (size_t)n;
}

static void check_content(uint64_t ino, const char *text)
{
	char buf[256];
	size_t n = read_at(ino, buf, sizeof(buf), 0);

	cr_assert_eq(n, strlen(text), "read %zu bytes", n);
	cr_assert_arr_eq(buf, text, n);
	cr_assert_eq(getattr(ino).size, strlen(text));
}

/* ---- creating and removing ---------------------------------------- */

Test(inode, mkdir_mknod_symlink_and_readlink)
{
	struct dfs_attr d, f, l, a;
	char buf[64];

	FIXTURE_OK();
	d = mkdir_in(fx.proc, "orders");
	cr_assert_eq(d.mode, S_IFDIR | 0755);
	cr_assert_eq(d.nlink, 2);
	f = mkfile(d.ino, "process.xml");
	cr_assert_eq(f.mode, S_IFREG | 0644);
	cr_assert_eq(f.nlink, 1);
	cr_assert_eq(f.size, 0);
	cr_assert_eq(dfs_node_symlink(fx.st, &fx.me, d.ino, "link",
				      "process.xml", &l),
		     0);
	cr_assert(S_ISLNK(l.mode));
	cr_assert_eq(l.size, strlen("process.xml"));
	cr_assert_eq(dfs_node_readlink(fx.st, l.ino, buf, sizeof(buf)),
		     (int)strlen("process.xml"));
	cr_assert_str_eq(buf, "process.xml");

	cr_assert_eq(dfs_node_lookup(fx.st, d.ino, "process.xml", &a), 0);
	cr_assert_eq(a.ino, f.ino);
	cr_assert_eq(
		dfs_node_mkdir(fx.st, &fx.me, d.ino, "process.xml", 0755, &a),
		-EEXIST);
	cr_assert_eq(getattr(d.ino).nlink, 2, "a failed mkdir counted");
}

Test(inode, unlink_and_rmdir_remove_and_refuse_the_wrong_kind)
{
	struct dfs_attr d, f, sub;

	FIXTURE_OK();
	d = mkdir_in(fx.proc, "d");
	f = mkfile(d.ino, "f");
	sub = mkdir_in(d.ino, "sub");

	cr_assert_eq(dfs_node_unlink(fx.st, d.ino, "sub"), -EISDIR);
	cr_assert_eq(dfs_node_rmdir(fx.st, NULL, d.ino, "f"), -ENOTDIR);
	cr_assert_eq(dfs_node_rmdir(fx.st, NULL, fx.proc, "d"), -ENOTEMPTY);
	cr_assert_eq(dfs_node_unlink(fx.st, d.ino, "nothing"), -ENOENT);
	cr_assert_eq(ino_of(d.ino, "sub"), sub.ino);
	cr_assert_eq(ino_of(d.ino, "f"), f.ino);
	cr_assert_eq(getattr(d.ino).nlink, 3);

	cr_assert_eq(dfs_node_unlink(fx.st, d.ino, "f"), 0);
	cr_assert_eq(dfs_node_rmdir(fx.st, NULL, d.ino, "sub"), 0);
	cr_assert_eq(ino_of(d.ino, "f"), 0);
	cr_assert_eq(dfs_node_getattr(fx.st, f.ino, &f), -ENOENT);
	cr_assert_eq(dfs_node_getattr(fx.st, sub.ino, &sub), -ENOENT);
	cr_assert_eq(getattr(d.ino).nlink, 2);
	cr_assert_eq(dfs_node_rmdir(fx.st, NULL, fx.proc, "d"), 0);
	cr_assert_eq(getattr(fx.proc).nlink, 2);
}

Test(inode, hard_links_count_and_folders_count_their_subfolders)
{
	struct dfs_attr d, e, f, l;

	FIXTURE_OK();
	d = mkdir_in(fx.proc, "d");
	e = mkdir_in(fx.proc, "e");
	f = mkfile(d.ino, "f");
	cr_assert_eq(getattr(fx.proc).nlink, 4);

	cr_assert_eq(dfs_node_link(fx.st, f.ino, e.ino, "g", &l), 0);
	cr_assert_eq(l.ino, f.ino);
	cr_assert_eq(l.nlink, 2);
	cr_assert_eq(getattr(f.ino).nlink, 2);
	cr_assert_eq(ino_of(e.ino, "g"), f.ino);
	cr_assert_eq(dfs_node_link(fx.st, f.ino, e.ino, "g", &l), -EEXIST);
	cr_assert_eq(getattr(f.ino).nlink, 2);
	cr_assert_eq(dfs_node_link(fx.st, d.ino, e.ino, "dirlink", &l), -EPERM);

	(void)mkdir_in(d.ino, "a");
	(void)mkdir_in(d.ino, "b");
	(void)mkfile(d.ino, "c");
	cr_assert_eq(getattr(d.ino).nlink, 2 + 2);
	cr_assert_eq(getattr(e.ino).nlink, 2, "files do not count");

	cr_assert_eq(dfs_node_unlink(fx.st, d.ino, "f"), 0);
	cr_assert_eq(getattr(f.ino).nlink, 1);
	cr_assert_eq(ino_of(e.ino, "g"), f.ino);
}

Test(inode, names_of_255_bytes_are_fine_and_256_are_too_long)
{
	char name[257];
	struct dfs_attr a, d;

	FIXTURE_OK();
	d = mkdir_in(fx.proc, "d");
	memset(name, 'n', 255);
	name[255] = '\0';
	a = mkfile(d.ino, name);
	cr_assert_eq(ino_of(d.ino, name), a.ino);

	name[255] = 'x';
	name[256] = '\0';
	cr_assert_eq(dfs_node_mknod(fx.st, &fx.me, d.ino, name, S_IFREG | 0644,
				    0, &a),
		     -ENAMETOOLONG);
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, d.ino, name, 0755, &a),
		     -ENAMETOOLONG);
	cr_assert_eq(ren(fx.proc, "d", fx.proc, name, 0), -ENAMETOOLONG);
	cr_assert_eq(dfs_node_lookup(fx.st, d.ino, name, &a), -ENAMETOOLONG);
	cr_assert_eq(getattr(d.ino).nlink, 2, "a too-long mkdir counted");
	cr_assert_eq(ino_of(fx.proc, "d"), d.ino);
}

/* ---- rename ------------------------------------------------------- */

Test(inode, rename_moves_replaces_and_with_noreplace_refuses)
{
	struct dfs_attr d, e, f, g;

	FIXTURE_OK();
	d = mkdir_in(fx.proc, "d");
	e = mkdir_in(fx.proc, "e");
	f = mkfile(d.ino, "f");
	g = mkfile(e.ino, "g");

	cr_assert_eq(ren(d.ino, "f", d.ino, "f2", 0), 0);
	cr_assert_eq(ino_of(d.ino, "f"), 0);
	cr_assert_eq(ino_of(d.ino, "f2"), f.ino);
	cr_assert_eq(ren(d.ino, "f2", e.ino, "g", 0), 0);
	cr_assert_eq(ino_of(d.ino, "f2"), 0);
	cr_assert_eq(ino_of(e.ino, "g"), f.ino);
	cr_assert_eq(dfs_node_getattr(fx.st, g.ino, &g), -ENOENT,
		     "the replaced file is still there");
	cr_assert_eq(ren(d.ino, "gone", e.ino, "x", 0), -ENOENT);

	/* With NOREPLACE, an existing name is refused and left alone. */
	g = mkfile(d.ino, "g");
	cr_assert_eq(ren(e.ino, "g", d.ino, "g", DFS_RENAME_NOREPLACE),
		     -EEXIST);
	cr_assert_eq(ino_of(e.ino, "g"), f.ino);
	cr_assert_eq(ino_of(d.ino, "g"), g.ino);
	cr_assert_eq(getattr(g.ino).nlink, 1);
	cr_assert_eq(ren(e.ino, "g", d.ino, "h", DFS_RENAME_NOREPLACE), 0);
	cr_assert_eq(ino_of(d.ino, "h"), f.ino);
}

Test(inode, rename_exchange_swaps_a_file_and_a_folder)
{
	struct dfs_attr d, e, f, sub;

	FIXTURE_OK();
	d = mkdir_in(fx.proc, "d");
	e = mkdir_in(fx.proc, "e");
	f = mkfile(d.ino, "x");
	sub = mkdir_in(e.ino, "y");
	cr_assert_eq(ren(d.ino, "x", e.ino, "y", DFS_RENAME_EXCHANGE), 0);
	cr_assert_eq(ino_of(d.ino, "x"), sub.ino);
	cr_assert_eq(ino_of(e.ino, "y"), f.ino);
	cr_assert_eq(getattr(d.ino).nlink, 3);
	cr_assert_eq(getattr(e.ino).nlink, 2);
	cr_assert_eq(getattr(f.ino).nlink, 1);
	cr_assert_eq(getattr(sub.ino).nlink, 2);

	cr_assert_eq(ren(d.ino, "x", e.ino, "absent", DFS_RENAME_EXCHANGE),
		     -ENOENT);
	cr_assert_eq(ino_of(d.ino, "x"), sub.ino);
	cr_assert_eq(ino_of(e.ino, "absent"), 0);
}

Test(inode, rename_refuses_loops_and_mismatched_replacements)
{
	struct dfs_attr d, sub, deep, f, full, empty;

	FIXTURE_OK();
	d = mkdir_in(fx.proc, "d");
	sub = mkdir_in(d.ino, "sub");
	deep = mkdir_in(sub.ino, "deep");
	f = mkfile(fx.proc, "f");
	full = mkdir_in(fx.proc, "full");
	(void)mkfile(full.ino, "inside");
	empty = mkdir_in(fx.proc, "empty");

	cr_assert_eq(ren(fx.proc, "d", deep.ino, "d", 0), -EINVAL);
	cr_assert_eq(ren(fx.proc, "d", d.ino, "d", 0), -EINVAL);
	cr_assert_eq(ren(fx.proc, "empty", fx.proc, "full", 0), -ENOTEMPTY);
	cr_assert_eq(ren(fx.proc, "f", fx.proc, "empty", 0), -EISDIR);
	cr_assert_eq(ren(fx.proc, "empty", fx.proc, "f", 0), -ENOTDIR);

	/* Nothing moved, nothing was counted. */
	cr_assert_eq(ino_of(fx.proc, "d"), d.ino);
	cr_assert_eq(ino_of(deep.ino, "d"), 0);
	cr_assert_eq(ino_of(fx.proc, "f"), f.ino);
	cr_assert_eq(ino_of(fx.proc, "full"), full.ino);
	cr_assert_eq(ino_of(fx.proc, "empty"), empty.ino);
	cr_assert_neq(ino_of(full.ino, "inside"), 0);
	cr_assert_eq(getattr(fx.proc).nlink, 2 + 3);

	/* An empty folder may be replaced. */
	cr_assert_eq(ren(d.ino, "sub", fx.proc, "empty", 0), 0);
	cr_assert_eq(ino_of(fx.proc, "empty"), sub.ino);
	cr_assert_eq(dfs_node_getattr(fx.st, empty.ino, &empty), -ENOENT);
	cr_assert_eq(getattr(fx.proc).nlink, 2 + 3);
	cr_assert_eq(getattr(d.ino).nlink, 2);
}

/* ---- readdir ------------------------------------------------------------- */

struct page {
	char names[32][16];
	uint64_t offs[32];
	size_t n, max;
};

static int take(void *ctx, const struct dfs_dirent *de)
{
	struct page *p = ctx;

	if (p->n == p->max)
		return 1; /* full: this entry is not taken */
	snprintf(p->names[p->n], sizeof(p->names[0]), "%s", de->name);
	p->offs[p->n++] = de->off;
	return 0;
}

Test(inode, readdir_offsets_are_stable_while_entries_come_and_go)
{
	struct page first = { .max = 3 }, rest = { .max = 32 };
	struct page all = { .max = 32 }, again = { .max = 32 };
	static const char *const want[] = { "f3", "f4", "f6", "f7",
					    "f8", "f9", "new" };
	struct dfs_attr d;
	char name[8];

	FIXTURE_OK();
	d = mkdir_in(fx.proc, "d");
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		(void)mkfile(d.ino, name);
	}
	cr_assert_eq(dfs_node_readdir(fx.st, d.ino, 0, false, take, &all), 0);
	cr_assert_eq(all.n, 10);
	for (size_t i = 1; i < all.n; i++)
		cr_assert_gt(all.offs[i], all.offs[i - 1]);

	cr_assert_eq(dfs_node_readdir(fx.st, d.ino, 0, false, take, &first), 0);
	cr_assert_eq(first.n, 3);
	cr_assert_str_eq(first.names[2], "f2");
	/* Between calls: remove a seen and an unseen entry, add one. */
	cr_assert_eq(dfs_node_unlink(fx.st, d.ino, "f1"), 0);
	cr_assert_eq(dfs_node_unlink(fx.st, d.ino, "f5"), 0);
	(void)mkfile(d.ino, "new");
	cr_assert_eq(dfs_node_readdir(fx.st, d.ino, first.offs[2], false, take,
				      &rest),
		     0);
	cr_assert_eq(rest.n, 7, "got %zu entries", rest.n);
	for (size_t i = 0; i < rest.n; i++)
		cr_assert_str_eq(rest.names[i], want[i]);

	/* The surviving entries kept their offsets. */
	cr_assert_eq(dfs_node_readdir(fx.st, d.ino, 0, false, take, &again), 0);
	cr_assert_eq(again.n, 9);
	cr_assert_str_eq(again.names[0], "f0");
	cr_assert_eq(again.offs[0], all.offs[0]);
	cr_assert_str_eq(again.names[1], "f2");
	cr_assert_eq(again.offs[1], all.offs[2]);
	cr_assert_str_eq(again.names[7], "f9");
	cr_assert_eq(again.offs[7], all.offs[9]);
	cr_assert_str_eq(again.names[8], "new");
}

/* ---- attributes ---------------------------------------------------------- */

Test(inode, setattr_sets_mode_owner_size_and_times_to_the_nanosecond)
{
	static const char text[] = "hello world";
	struct dfs_setattr sa = { .valid = 0 };
	struct timespec t0;
	struct dfs_attr f, a;
	char buf[32];

	FIXTURE_OK();
	f = mkfile(fx.proc, "f");
	write_at(f.ino, O_WRONLY, text, strlen(text), 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);

	sa.valid = DFS_SET_MODE | DFS_SET_UID | DFS_SET_GID;
	sa.mode = 0600;
	sa.uid = 1234;
	sa.gid = 5678;
	cr_assert_eq(dfs_node_setattr(fx.st, f.ino, &sa, &a), 0);
	cr_assert_eq(a.mode, S_IFREG | 0600, "mode %o", a.mode);
	cr_assert_eq(a.uid, 1234);
	cr_assert_eq(a.gid, 5678);

	sa.valid = DFS_SET_SIZE;
	sa.size = 5;
	cr_assert_eq(dfs_node_setattr(fx.st, f.ino, &sa, &a), 0);
	cr_assert_eq(a.size, 5);
	cr_assert_eq(read_at(f.ino, buf, sizeof(buf), 0), 5);
	cr_assert_arr_eq(buf, "hello", 5);
	sa.size = 8;
	cr_assert_eq(dfs_node_setattr(fx.st, f.ino, &sa, &a), 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(read_at(f.ino, buf, sizeof(buf), 0), 8);
	cr_assert_arr_eq(buf, "hello\0\0\0", 8);

	clock_gettime(CLOCK_REALTIME, &t0);
	sa.valid = DFS_SET_ATIME | DFS_SET_MTIME;
	sa.atime = (struct timespec){ 1000000000, 123456789 };
	sa.mtime = (struct timespec){ 1500000000, 987654321 };
	cr_assert_eq(dfs_node_setattr(fx.st, f.ino, &sa, &a), 0);
	a = getattr(f.ino);
	cr_assert_eq(a.atime.tv_sec, 1000000000);
	cr_assert_eq(a.atime.tv_nsec, 123456789);
	cr_assert_eq(a.mtime.tv_sec, 1500000000);
	cr_assert_eq(a.mtime.tv_nsec, 987654321);
	cr_assert_geq(a.ctime.tv_sec, t0.tv_sec, "ctime follows the change");

	sa.valid = DFS_SET_CTIME;
	sa.ctime = (struct timespec){ 1600000000, 1 };
	cr_assert_eq(dfs_node_setattr(fx.st, f.ino, &sa, &a), 0);
	cr_assert_eq(a.ctime.tv_sec, 1600000000);
	cr_assert_eq(a.ctime.tv_nsec, 1);
	cr_assert_eq(a.mtime.tv_nsec, 987654321);

	sa.valid = DFS_SET_SIZE;
	cr_assert_eq(dfs_node_setattr(fx.st, fx.proc, &sa, &a), -EISDIR);
	cr_assert_eq(dfs_node_setattr(fx.st, DFS_INO_AUDIT, &sa, &a), -EROFS);
	/* Not truncated: it holds one line, that refusal. */
	cr_assert_gt(getattr(DFS_INO_AUDIT).size, 0);
}

/* ---- content ------------------------------------------------------------- */

Test(inode, written_content_reads_back_after_close_and_sync)
{
	static const char text[] = "<process name=\"orders\"/>\n";
	struct dfs_hash h;
	struct dfs_attr f;
	char buf[64];

	FIXTURE_OK();
	f = mkfile(fx.proc, "process.xml");
	write_at(f.ino, O_WRONLY, text, strlen(text), 0);
	cr_assert_eq(getattr(f.ino).size, strlen(text));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, f.ino, &h), 0, "not sealed");
	check_content(f.ino, text);

	/* Rewriting part of a sealed file keeps the rest. */
	write_at(f.ino, O_RDWR, "PROCESS", 7, 1);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(read_at(f.ino, buf, sizeof(buf), 0), strlen(text));
	cr_assert_arr_eq(buf, "<PROCESS name", 13);
}

Test(inode, a_write_at_5_gib_makes_a_sparse_file)
{
	struct dfs_attr f, a;
	char buf[8], zero[8] = { 0 };

	FIXTURE_OK();
	f = mkfile(fx.proc, "big");
	write_at(f.ino, O_WRONLY, "end", 3, 5 * GiB);
	a = getattr(f.ino);
	cr_assert_eq(a.size, 5 * GiB + 3);
	cr_assert_lt(a.blocks, 1024, "blocks %llu",
		     (unsigned long long)a.blocks);
	cr_assert_eq(read_at(f.ino, buf, 3, 5 * GiB), 3);
	cr_assert_arr_eq(buf, "end", 3);
	cr_assert_eq(read_at(f.ino, buf, sizeof(buf), 4 * GiB), sizeof(buf));
	cr_assert_arr_eq(buf, zero, sizeof(buf));

	cr_assert_eq(dfs_store_sync(fx.st), 0);
	a = getattr(f.ino);
	cr_assert_eq(a.size, 5 * GiB + 3);
	cr_assert_lt(a.blocks, 1024, "sealing filled the holes");
	cr_assert_eq(read_at(f.ino, buf, 3, 5 * GiB), 3);
	cr_assert_arr_eq(buf, "end", 3);
}

Test(inode, opening_with_o_trunc_empties_the_file)
{
	struct dfs_file *fh = NULL;
	struct dfs_hash h, empty;
	struct dfs_attr f;
	char buf[16];

	FIXTURE_OK();
	f = mkfile(fx.proc, "f");
	cr_assert_eq(dfs_node_content_hash(fx.st, f.ino, &empty), 0);
	write_at(f.ino, O_WRONLY, "content", 7, 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(getattr(f.ino).size, 7);

	cr_assert_eq(dfs_file_open(fx.st, f.ino, O_WRONLY | O_TRUNC, &fh), 0);
	cr_assert_eq(getattr(f.ino).size, 0, "O_TRUNC did not empty it");
	cr_assert_eq(dfs_file_release(fx.st, fh), 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(getattr(f.ino).size, 0);
	cr_assert_eq(read_at(f.ino, buf, sizeof(buf), 0), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, f.ino, &h), 0);
	cr_assert_arr_eq(h.b, empty.b, DFS_HASH_LEN);
}

Test(inode, an_unlinked_open_file_stays_until_release_and_forget)
{
	static const char text[] = "still here\n";
	struct dfs_file *fh = NULL;
	struct dfs_attr f, a;
	char buf[32];
	ssize_t n;

	FIXTURE_OK();
	f = mkfile(fx.proc, "f");
	dfs_node_hold(fx.st, f.ino); /* the kernel's lookup */
	write_at(f.ino, O_WRONLY, text, strlen(text), 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);

	cr_assert_eq(dfs_file_open(fx.st, f.ino, O_RDONLY, &fh), 0);
	cr_assert_eq(dfs_node_unlink(fx.st, fx.proc, "f"), 0);
	cr_assert_eq(ino_of(fx.proc, "f"), 0);
	cr_assert_eq(getattr(f.ino).nlink, 0);
	n = pread(dfs_file_fd_get(fh), buf, sizeof(buf), 0);
	dfs_file_fd_put(fx.st, fh, false, 0);
	cr_assert_eq(n, (ssize_t)strlen(text));
	cr_assert_arr_eq(buf, text, strlen(text));
	cr_assert_eq(dfs_file_release(fx.st, fh), 0);

	a = getattr(f.ino); /* still held by the kernel */
	cr_assert_eq(a.nlink, 0);
	cr_assert_eq(a.size, strlen(text));
	dfs_node_forget(fx.st, f.ino, 1);
	cr_assert_eq(dfs_node_getattr(fx.st, f.ino, &a), -ENOENT);
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
}

Test(inode, an_unlinked_file_forgotten_before_its_seal_is_deleted)
{
	struct dfs_attr f, a = { .nlink = 0 };

	FIXTURE_OK();
	f = mkfile(fx.proc, "f");
	dfs_node_hold(fx.st, f.ino);
	write_at(f.ino, O_WRONLY, "short-lived", 11, 0);
	cr_assert_eq(dfs_node_unlink(fx.st, fx.proc, "f"), 0);
	dfs_node_forget(fx.st, f.ino, 1);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(dfs_node_getattr(fx.st, f.ino, &a), -ENOENT,
		     "nlink %u: the node outlived its last link and hold",
		     a.nlink);
}

/*
 * The table of held inodes doubles as the kernel holds more (4,096 chains
 * at first, two inodes a chain before it grows): 20,000 holds make it grow
 * twice, and an unlinked file held before the growth and one held after
 * are still there, then go with their last forget.
 */
Test(inode, held_inodes_are_found_while_the_table_grows)
{
	const uint64_t other = 1u << 30, n = 20000;
	struct dfs_attr a, b, at;

	FIXTURE_OK();
	a = mkfile(fx.proc, "a");
	b = mkfile(fx.proc, "b");
	dfs_node_hold(fx.st, a.ino);
	cr_assert_eq(dfs_node_unlink(fx.st, fx.proc, "a"), 0);
	for (uint64_t i = 0; i < n; i++)
		dfs_node_hold(fx.st, other + i);
	dfs_node_hold(fx.st, b.ino);
	cr_assert_eq(dfs_node_unlink(fx.st, fx.proc, "b"), 0);

	cr_assert_eq(dfs_node_getattr(fx.st, a.ino, &at), 0);
	cr_assert_eq(at.nlink, 0);
	cr_assert_eq(dfs_node_getattr(fx.st, b.ino, &at), 0);
	cr_assert_eq(at.nlink, 0);
	for (uint64_t i = 0; i < n; i++)
		dfs_node_forget(fx.st, other + i, 1);
	cr_assert_eq(dfs_node_getattr(fx.st, a.ino, &at), 0, "a went early");
	dfs_node_forget(fx.st, a.ino, 1);
	dfs_node_forget(fx.st, b.ino, 1);
	cr_assert_eq(dfs_node_getattr(fx.st, a.ino, &at), -ENOENT);
	cr_assert_eq(dfs_node_getattr(fx.st, b.ino, &at), -ENOENT);
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
}

/* ---- persistence --------------------------------------------------------- */

Test(inode, everything_persists_across_close_and_reopen)
{
	static const char text[] = "kept across restarts\n";
	struct dfs_setattr sa = { .valid = DFS_SET_MTIME };
	struct dfs_attr d, f, l, s, a;
	char buf[64];

	FIXTURE_OK();
	d = mkdir_in(fx.proc, "orders");
	f = mkfile(d.ino, "process.xml");
	write_at(f.ino, O_WRONLY, text, strlen(text), 0);
	cr_assert_eq(dfs_node_link(fx.st, f.ino, fx.proc, "alias", &l), 0);
	cr_assert_eq(dfs_node_symlink(fx.st, &fx.me, d.ino, "sym",
				      "process.xml", &s),
		     0);
	sa.mtime = (struct timespec){ 1700000000, 42 };
	cr_assert_eq(dfs_node_setattr(fx.st, f.ino, &sa, &f), 0);
	sa.valid = DFS_SET_MODE;
	sa.mode = 0710;
	cr_assert_eq(dfs_node_setattr(fx.st, d.ino, &sa, &d), 0);

	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);

	cr_assert_eq(dfs_node_lookup(fx.st, fx.proc, "orders", &a), 0);
	cr_assert_eq(a.ino, d.ino);
	cr_assert_eq(a.mode, S_IFDIR | 0710);
	cr_assert_eq(dfs_node_lookup(fx.st, d.ino, "process.xml", &a), 0);
	cr_assert_eq(a.ino, f.ino);
	cr_assert_eq(a.mode, S_IFREG | 0644);
	cr_assert_eq(a.nlink, 2);
	cr_assert_eq(a.mtime.tv_sec, 1700000000);
	cr_assert_eq(a.mtime.tv_nsec, 42);
	cr_assert_eq(ino_of(fx.proc, "alias"), f.ino);
	check_content(f.ino, text);
	cr_assert_eq(dfs_node_lookup(fx.st, d.ino, "sym", &a), 0);
	cr_assert_eq(a.ino, s.ino);
	cr_assert_eq(dfs_node_readlink(fx.st, s.ino, buf, sizeof(buf)), 11);
	cr_assert_str_eq(buf, "process.xml");

	/* New inode numbers do not reuse old ones. */
	cr_assert_gt(mkfile(d.ino, "later").ino, s.ino);
}
