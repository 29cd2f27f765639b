// SPDX-License-Identifier: MIT
/*
 * test_store.c - unit tests of opening a store and of its fixed tree:
 * create/open/free, the refusals of dfs_store_open() (each leaves the
 * folder untouched), the daemon lock, statfs, the system nodes and the
 * rules that protect them.  Drives store/ directly, without FUSE.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "deployfs/names.h"
#include "deployfs/store.h"
#include "fixture.h"

static struct dfs_fixture fx;

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)

static void setup(void)
{
	dfs_fixture_setup(&fx, "store", OPEN_FLAGS);
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static const struct dfs_actor *me(void)
{
	static struct dfs_actor a;

	a.uid = getuid();
	a.gid = getgid();
	a.pid = getpid();
	return &a;
}

/* The whole content of path (malloc'd) and its length; NULL on error. */
static char *slurp(const char *path, size_t *ret_len)
{
	struct stat sb;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) < 0 || !(buf = malloc((size_t)sb.st_size + 1))) {
		close(fd);
		return NULL;
	}
	if (pread(fd, buf, (size_t)sb.st_size, 0) != sb.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	*ret_len = (size_t)sb.st_size;
	return buf;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in folder path, '/'-separated, into out. */
static void listing(const char *path, char *out, size_t cap)
{
	char *names[512];
	size_t n = 0, used = 0;
	struct dirent *de;
	DIR *d = opendir(path);

	out[0] = '\0';
	if (!d) {
		snprintf(out, cap, "<%s>", strerror(errno));
		return;
	}
	while ((de = readdir(d)) && n < 512)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		used += (size_t)snprintf(out + used,
					 used < cap ? cap - used : 0, "%s/",
					 names[i]);
		free(names[i]);
	}
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	cr_assert_eq(close(fd), 0);
}

static void set_user_version(const char *store, int version)
{
	char dbpath[256], sql[64];
	sqlite3 *db = NULL;

	snprintf(dbpath, sizeof(dbpath), "%s/deployfs.db", store);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
	cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s",
		     sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_close(db), SQLITE_OK);
}

/*
 * Close the fixture's store, then check that opening it fails with want
 * and leaves deployfs.db and the folder listing exactly as they were.
 */
static void expect_refusal_untouched(int want)
{
	char dbpath[256], before[4096], after[4096];
	struct dfs_store *st = (struct dfs_store *)&fx;
	size_t len0 = 0, len1 = 0;
	char *bytes0, *bytes1;

	snprintf(dbpath, sizeof(dbpath), "%s/deployfs.db", fx.path);
	bytes0 = slurp(dbpath, &len0);
	cr_assert_not_null(bytes0);
	listing(fx.path, before, sizeof(before));

	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &st), want,
		     "expected %s", strerror(-want));
	cr_assert_eq(st, (struct dfs_store *)&fx, "ret written on failure");
	cr_assert_eq(dfs_store_open(fx.path, 0, &st), want);
	cr_assert_not_null(dfs_store_strerror(want));

	bytes1 = slurp(dbpath, &len1);
	cr_assert_not_null(bytes1);
	cr_assert_eq(len1, len0, "deployfs.db changed size");
	cr_assert_arr_eq(bytes1, bytes0, len0, "deployfs.db bytes changed");
	listing(fx.path, after, sizeof(after));
	cr_assert_str_eq(after, before, "the store folder changed");
	free(bytes0);
	free(bytes1);
}

/* ---- creating and opening ---------------------------------------------- */

Test(store, create_open_free_round_trip)
{
	char path[256], names[4096];
	struct dfs_store *st = NULL;
	struct dfs_attr proc, dir, again;

	FIXTURE_OK();
	snprintf(path, sizeof(path), "%s/fresh", fx.tmp);
	cr_assert_eq(dfs_store_create(path), 0);
	listing(path, names, sizeof(names));
	cr_assert_str_eq(names, "blobs/deployfs.db/lock/work/");

	cr_assert_eq(dfs_store_open(path, OPEN_FLAGS, &st), 0);
	cr_assert_not_null(st);
	cr_assert_eq(dfs_node_lookup(st, DFS_INO_BUILD, "process", &proc), 0);
	cr_assert_eq(dfs_node_mkdir(st, me(), proc.ino, "orders", 0750, &dir),
		     0);
	cr_assert_null(dfs_store_free(st));

	st = NULL;
	cr_assert_eq(dfs_store_open(path, OPEN_FLAGS, &st), 0);
	cr_assert_eq(dfs_node_lookup(st, proc.ino, "orders", &again), 0);
	cr_assert_eq(again.ino, dir.ino);
	cr_assert_eq(again.mode, S_IFDIR | 0750);
	cr_assert_null(dfs_store_free(st));
	cr_assert_null(dfs_store_free(NULL));
}

Test(store, create_accepts_an_existing_empty_folder)
{
	char path[256];
	struct dfs_store *st = NULL;

	FIXTURE_OK();
	snprintf(path, sizeof(path), "%s/empty", fx.tmp);
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert_eq(dfs_store_create(path), 0);
	cr_assert_eq(dfs_store_open(path, OPEN_FLAGS, &st), 0);
	cr_assert_null(dfs_store_free(st));
}

Test(store, create_refuses_a_non_empty_folder)
{
	char path[256], file[512], names[4096];
	char *bytes;
	size_t len = 0;

	FIXTURE_OK();
	snprintf(path, sizeof(path), "%s/full", fx.tmp);
	snprintf(file, sizeof(file), "%s/keep.txt", path);
	cr_assert_eq(mkdir(path, 0700), 0);
	write_bytes(file, "precious\n", 9);

	cr_assert_eq(dfs_store_create(path), -ENOTEMPTY);
	listing(path, names, sizeof(names));
	cr_assert_str_eq(names, "keep.txt/");
	bytes = slurp(file, &len);
	cr_assert_not_null(bytes);
	cr_assert_eq(len, 9);
	cr_assert_arr_eq(bytes, "precious\n", 9);
	free(bytes);

	/* An existing store is a non-empty folder too. */
	listing(fx.path, names, sizeof(names));
	cr_assert_eq(dfs_store_create(fx.path), -ENOTEMPTY);
	listing(fx.path, file, sizeof(file));
	cr_assert_str_eq(file, names);
}

Test(store, open_refuses_a_missing_path_with_enoent)
{
	char path[256];
	struct dfs_store *st = (struct dfs_store *)&fx;

	FIXTURE_OK();
	snprintf(path, sizeof(path), "%s/nowhere", fx.tmp);
	cr_assert_eq(dfs_store_open(path, OPEN_FLAGS, &st), -ENOENT);
	cr_assert_eq(st, (struct dfs_store *)&fx);
	cr_assert_eq(access(path, F_OK), -1, "open created the folder");
	cr_assert_eq(errno, ENOENT);
}

Test(store, open_refuses_a_file_with_enotdir)
{
	char path[256];
	struct dfs_store *st = (struct dfs_store *)&fx;

	FIXTURE_OK();
	snprintf(path, sizeof(path), "%s/plain", fx.tmp);
	write_bytes(path, "x", 1);
	cr_assert_eq(dfs_store_open(path, OPEN_FLAGS, &st), -ENOTDIR);
	cr_assert_eq(st, (struct dfs_store *)&fx);
}

Test(store, open_refuses_a_folder_without_database_with_emediumtype)
{
	char path[256], file[512], names[4096];
	struct dfs_store *st = (struct dfs_store *)&fx;

	FIXTURE_OK();
	snprintf(path, sizeof(path), "%s/other", fx.tmp);
	snprintf(file, sizeof(file), "%s/notes.txt", path);
	cr_assert_eq(mkdir(path, 0700), 0);
	write_bytes(file, "hello", 5);

	cr_assert_eq(dfs_store_open(path, OPEN_FLAGS, &st), -EMEDIUMTYPE);
	cr_assert_eq(st, (struct dfs_store *)&fx);
	listing(path, names, sizeof(names));
	cr_assert_str_eq(names, "notes.txt/", "open wrote into the folder");
}

Test(store, open_refuses_a_garbage_database_with_euclean_untouched)
{
	char dbpath[256], garbage[8192];

	FIXTURE_OK();
	fx.st = dfs_store_free(fx.st);
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)("not a database! "[i % 16] ^ (i >> 4));
	snprintf(dbpath, sizeof(dbpath), "%s/deployfs.db", fx.path);
	write_bytes(dbpath, garbage, sizeof(garbage));

	expect_refusal_untouched(-EUCLEAN);
}

Test(store, open_refuses_a_newer_schema_with_eprotonosupport_untouched)
{
	FIXTURE_OK();
	fx.st = dfs_store_free(fx.st);
	set_user_version(fx.path, 999);

	expect_refusal_untouched(-EPROTONOSUPPORT);
}

Test(store, open_refuses_a_foreign_sqlite_database_with_emediumtype)
{
	FIXTURE_OK();
	fx.st = dfs_store_free(fx.st);
	set_user_version(fx.path, 0);

	expect_refusal_untouched(-EMEDIUMTYPE);
}

Test(store, a_second_daemon_gets_ebusy_and_the_first_stays_usable)
{
	struct dfs_store *second = (struct dfs_store *)&fx;
	struct dfs_attr proc, dir, found;

	FIXTURE_OK();
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &second), -EBUSY);
	cr_assert_eq(second, (struct dfs_store *)&fx);
	cr_assert_eq(dfs_store_open(fx.path, DFS_OPEN_DAEMON, &second), -EBUSY);

	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_BUILD, "process", &proc),
		     0);
	cr_assert_eq(
		dfs_node_mkdir(fx.st, me(), proc.ino, "still-here", 0755, &dir),
		0);
	cr_assert_eq(dfs_node_lookup(fx.st, proc.ino, "still-here", &found), 0);
	cr_assert_eq(found.ino, dir.ino);

	/* Once the first daemon is gone, the lock is free again. */
	fx.st = dfs_store_free(fx.st);
	second = NULL;
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &second), 0);
	cr_assert_eq(dfs_node_lookup(second, proc.ino, "still-here", &found),
		     0);
	cr_assert_null(dfs_store_free(second));
}

Test(store, statfs_reports_names_of_up_to_255_bytes)
{
	struct statvfs sv;

	FIXTURE_OK();
	memset(&sv, 0, sizeof(sv));
	cr_assert_eq(dfs_store_statfs(fx.st, &sv), 0);
	cr_assert_eq(sv.f_namemax, 255);
	cr_assert_gt(sv.f_bsize, 0);
	cr_assert_gt(sv.f_blocks, 0);
}

/* ---- the fixed tree ----------------------------------------------------- */

struct seen {
	char names[64][256];
	struct dfs_attr attr[64];
	size_t n;
};

static int collect(void *ctx, const struct dfs_dirent *de)
{
	struct seen *s = ctx;

	if (s->n == 64)
		return 1;
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", de->name);
	s->attr[s->n++] = de->attr;
	return 0;
}

static void check_sysnode(const char *name, uint64_t ino, uint32_t mode,
			  uint32_t flags)
{
	struct dfs_attr a;

	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_ROOT, name, &a), 0,
		     "%s missing", name);
	cr_assert_eq(a.ino, ino, "%s ino", name);
	cr_assert_eq(a.mode, mode, "%s mode %o", name, a.mode);
	cr_assert_eq(a.flags & flags, flags, "%s flags %#x", name, a.flags);
	cr_assert_eq(a.uid, getuid());
}

Test(store, root_holds_build_packages_environments_and_audit_log)
{
	struct dfs_attr root;
	struct seen s = { .n = 0 };

	FIXTURE_OK();
	cr_assert_eq(dfs_node_getattr(fx.st, DFS_INO_ROOT, &root), 0);
	cr_assert(S_ISDIR(root.mode));
	cr_assert_eq(root.nlink, 5, "root nlink %u", root.nlink);

	check_sysnode("build", DFS_INO_BUILD, S_IFDIR | 0755,
		      DFS_NODE_SYSTEM | DFS_NODE_FENCED);
	check_sysnode("packages", DFS_INO_PACKAGES, S_IFDIR | 0555,
		      DFS_NODE_SYSTEM | DFS_NODE_READONLY);
	check_sysnode("environments", DFS_INO_ENVIRONMENTS, S_IFDIR | 0555,
		      DFS_NODE_SYSTEM | DFS_NODE_READONLY);
	check_sysnode("audit.log", DFS_INO_AUDIT, S_IFREG | 0444,
		      DFS_NODE_SYSTEM | DFS_NODE_READONLY);

	cr_assert_eq(
		dfs_node_readdir(fx.st, DFS_INO_ROOT, 0, false, collect, &s),
		0);
	cr_assert_eq(s.n, 4);
	cr_assert_str_eq(s.names[0], "build");
	cr_assert_str_eq(s.names[1], "packages");
	cr_assert_str_eq(s.names[2], "environments");
	cr_assert_str_eq(s.names[3], "audit.log");
	cr_assert_eq(s.attr[3].size, 0);
}

Test(store, build_holds_the_13_type_folders)
{
	struct dfs_attr build;
	struct seen s = { .n = 0 };

	FIXTURE_OK();
	cr_assert_eq(dfs_type_count(), 13);
	cr_assert_eq(
		dfs_node_readdir(fx.st, DFS_INO_BUILD, 0, false, collect, &s),
		0);
	cr_assert_eq(s.n, 13, "build has %zu entries", s.n);
	for (size_t i = 0; i < s.n; i++) {
		struct dfs_attr a;

		cr_assert_str_eq(s.names[i], dfs_type_at(i)->name);
		cr_assert_eq(s.attr[i].mode, S_IFDIR | 0755);
		cr_assert_eq(s.attr[i].flags &
				     (DFS_NODE_SYSTEM | DFS_NODE_TYPEDIR),
			     DFS_NODE_SYSTEM | DFS_NODE_TYPEDIR);
		cr_assert_eq(s.attr[i].nlink, 2);
		cr_assert_eq(
			dfs_node_lookup(fx.st, DFS_INO_BUILD, s.names[i], &a),
			0);
		cr_assert_eq(a.ino, s.attr[i].ino);
		cr_assert_gt(a.ino, DFS_INO_AUDIT);
	}
	cr_assert_eq(dfs_node_getattr(fx.st, DFS_INO_BUILD, &build), 0);
	cr_assert_eq(build.nlink, 2 + 13);
}

/* ---- protecting the system nodes ---------------------------------------- */

/* build's listing as one string, to show that a refusal changed nothing. */
static void build_names(char *out, size_t cap)
{
	struct seen s = { .n = 0 };
	size_t used = 0;

	cr_assert_eq(
		dfs_node_readdir(fx.st, DFS_INO_BUILD, 0, false, collect, &s),
		0);
	out[0] = '\0';
	for (size_t i = 0; i < s.n; i++)
		used += (size_t)snprintf(
			out + used, used < cap ? cap - used : 0, "%s=%llu/",
			s.names[i], (unsigned long long)s.attr[i].ino);
}

Test(store, type_folders_cannot_be_removed_or_renamed)
{
	char before[2048], after[2048];
	struct dfs_attr proc, map, sub, again;

	FIXTURE_OK();
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_BUILD, "process", &proc),
		     0);
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_BUILD, "map", &map), 0);
	cr_assert_eq(dfs_node_mkdir(fx.st, me(), map.ino, "sub", 0755, &sub),
		     0);
	build_names(before, sizeof(before));

	cr_assert_eq(dfs_node_rmdir(fx.st, NULL, DFS_INO_BUILD, "process"),
		     -EPERM);
	cr_assert_eq(dfs_node_unlink(fx.st, DFS_INO_BUILD, "process"), -EPERM);
	cr_assert_eq(dfs_node_rename(fx.st, DFS_INO_BUILD, "process",
				     DFS_INO_BUILD, "processes", 0),
		     -EPERM);
	cr_assert_eq(dfs_node_rename(fx.st, DFS_INO_BUILD, "process", sub.ino,
				     "process", 0),
		     -EPERM);
	cr_assert_eq(dfs_node_rename(fx.st, DFS_INO_BUILD, "process",
				     DFS_INO_BUILD, "map", DFS_RENAME_EXCHANGE),
		     -EPERM);
	/* Nor replaced by a rename onto it. */
	cr_assert_eq(dfs_node_rename(fx.st, map.ino, "sub", DFS_INO_BUILD,
				     "process", 0),
		     -EPERM);

	build_names(after, sizeof(after));
	cr_assert_str_eq(after, before);
	cr_assert_eq(dfs_node_lookup(fx.st, map.ino, "sub", &again), 0);
	cr_assert_eq(again.ino, sub.ino);
	cr_assert_eq(dfs_node_getattr(fx.st, proc.ino, &again), 0);
	cr_assert_eq(again.nlink, 2);
}

Test(store, nodes_at_the_root_cannot_be_removed_or_renamed)
{
	static const char *const names[] = { "build", "packages",
					     "environments", "audit.log" };
	struct seen before = { .n = 0 }, after = { .n = 0 };

	FIXTURE_OK();
	cr_assert_eq(dfs_node_readdir(fx.st, DFS_INO_ROOT, 0, false, collect,
				      &before),
		     0);
	for (size_t i = 0; i < 4; i++) {
		/* The root itself is read-only (docs/behaviour.md). */
		cr_assert_eq(
			dfs_node_rmdir(fx.st, NULL, DFS_INO_ROOT, names[i]),
			-EROFS, "rmdir %s", names[i]);
		cr_assert_eq(dfs_node_unlink(fx.st, DFS_INO_ROOT, names[i]),
			     -EROFS, "unlink %s", names[i]);
		cr_assert_eq(dfs_node_rename(fx.st, DFS_INO_ROOT, names[i],
					     DFS_INO_ROOT, "renamed", 0),
			     -EROFS, "rename %s", names[i]);
	}
	cr_assert_eq(dfs_node_readdir(fx.st, DFS_INO_ROOT, 0, false, collect,
				      &after),
		     0);
	cr_assert_eq(after.n, before.n);
	for (size_t i = 0; i < after.n; i++) {
		cr_assert_str_eq(after.names[i], before.names[i]);
		cr_assert_eq(after.attr[i].ino, before.attr[i].ino);
	}
}

Test(store, creating_directly_in_build_is_eperm)
{
	char before[2048], after[2048];
	struct dfs_attr proc, file, a = { .ino = 0 };

	FIXTURE_OK();
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_BUILD, "process", &proc),
		     0);
	cr_assert_eq(dfs_node_mknod(fx.st, me(), proc.ino, "p.xml",
				    S_IFREG | 0644, 0, &file),
		     0);
	build_names(before, sizeof(before));

	cr_assert_eq(dfs_node_mknod(fx.st, me(), DFS_INO_BUILD, "f",
				    S_IFREG | 0644, 0, &a),
		     -EPERM);
	cr_assert_eq(dfs_node_mkdir(fx.st, me(), DFS_INO_BUILD, "d", 0755, &a),
		     -EPERM);
	cr_assert_eq(dfs_node_symlink(fx.st, me(), DFS_INO_BUILD, "l",
				      "process", &a),
		     -EPERM);
	cr_assert_eq(dfs_node_link(fx.st, file.ino, DFS_INO_BUILD, "h", &a),
		     -EPERM);
	cr_assert_eq(dfs_node_rename(fx.st, proc.ino, "p.xml", DFS_INO_BUILD,
				     "p.xml", 0),
		     -EPERM);
	cr_assert_eq(a.ino, 0, "ret written on failure");

	build_names(after, sizeof(after));
	cr_assert_str_eq(after, before);
	cr_assert_eq(dfs_node_lookup(fx.st, proc.ino, "p.xml", &a), 0);
	cr_assert_eq(a.ino, file.ino);
	cr_assert_eq(a.nlink, 1);
}

Test(store, creating_under_read_only_folders_is_erofs)
{
	static const uint64_t dirs[] = { DFS_INO_PACKAGES, DFS_INO_ROOT };
	struct dfs_attr proc, file, a = { .ino = 0 };

	FIXTURE_OK();
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_BUILD, "process", &proc),
		     0);
	cr_assert_eq(dfs_node_mknod(fx.st, me(), proc.ino, "p.xml",
				    S_IFREG | 0644, 0, &file),
		     0);
	for (size_t i = 0; i < 2; i++) {
		struct seen s = { .n = 0 };

		cr_assert_eq(dfs_node_mknod(fx.st, me(), dirs[i], "f",
					    S_IFREG | 0644, 0, &a),
			     -EROFS);
		cr_assert_eq(
			dfs_node_mkdir(fx.st, me(), dirs[i], "d", 0755, &a),
			-EROFS);
		cr_assert_eq(
			dfs_node_symlink(fx.st, me(), dirs[i], "l", "x", &a),
			-EROFS);
		cr_assert_eq(dfs_node_link(fx.st, file.ino, dirs[i], "h", &a),
			     -EROFS);
		cr_assert_eq(dfs_node_rename(fx.st, proc.ino, "p.xml", dirs[i],
					     "p.xml", 0),
			     -EROFS);
		cr_assert_eq(a.ino, 0, "ret written on failure");
		cr_assert_eq(
			dfs_node_readdir(fx.st, dirs[i], 0, false, collect, &s),
			0);
		cr_assert_eq(s.n, dirs[i] == DFS_INO_ROOT ? 4 : 0);
	}
	cr_assert_eq(dfs_node_lookup(fx.st, proc.ino, "p.xml", &a), 0);
	cr_assert_eq(a.nlink, 1);
}

/* ---- the reserve ------------------------------------------------------------ */

/* The daemon keeps STORE/reserve: 1/64 of the file system, between 1 and
 * 32 MiB, allocated (not a sparse promise). */
Test(store, the_daemon_keeps_a_reserve_sized_for_its_disk)
{
	long long want, total;
	struct statvfs sv;
	struct stat sb;
	char path[256];

	snprintf(path, sizeof(path), "%s/reserve", fx.path);
	cr_assert_eq(stat(path, &sb), 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(statvfs(fx.path, &sv), 0);
	total = (long long)sv.f_blocks * (long long)sv.f_frsize;
	want = total / 64;
	if (want < 1 << 20)
		want = 1 << 20;
	if (want > 32 << 20)
		want = 32 << 20;
	cr_assert_gt((long long)sv.f_bavail * (long long)sv.f_frsize, want,
		     "the test needs a disk with room for the reserve");
	cr_assert_eq(sb.st_size, want, "reserve of %lld bytes",
		     (long long)sb.st_size);
	cr_assert_geq((long long)sb.st_blocks * 512, want,
		      "reserve not allocated: %lld blocks",
		      (long long)sb.st_blocks);
}
