// SPDX-License-Identifier: MIT
/*
 * test_dbcheck.c - the database checked as a database: a daemon's open runs
 * SQLite's quick_check and refuses a damaged page untouched, saying what
 * SQLite found; an empty (0-byte) database is called empty; fsck runs
 * integrity_check and foreign_key_check, and says when the database looks
 * older than the files beside it (a copy restored without its -wal).
 * Drives store/ directly, without FUSE.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deployfs/store.h"
#include "fixture.h"

static struct dfs_fixture fx;

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)

static void setup(void)
{
	dfs_fixture_setup(&fx, "dbcheck", OPEN_FLAGS);
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(dbcheck, .init = setup, .fini = teardown, .timeout = 60);

struct problems {
	char kind[16][32];
	char what[16][600];
	size_t n;
	int total;
};

static void record(void *ctx, const struct dfs_fsck_problem *p)
{
	struct problems *ps = ctx;

	ps->total++;
	if (ps->n == 16)
		return;
	snprintf(ps->kind[ps->n], sizeof(ps->kind[0]), "%s", p->kind);
	snprintf(ps->what[ps->n], sizeof(ps->what[0]), "%s", p->what);
	ps->n++;
}

/* The index of the first problem of kind, or -1. */
static int find_kind(const struct problems *ps, const char *kind)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->kind[i], kind) == 0)
			return (int)i;
	return -1;
}

/* The single int sql returns from the closed store's database. */
static int64_t db_int(const char *sql)
{
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;
	int64_t v;

	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READWRITE, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK,
		     "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sql);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	cr_assert_eq(sqlite3_close(db), SQLITE_OK);
	return v;
}

static void db_exec(const char *sql)
{
	sqlite3 *db = NULL;

	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READWRITE, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK,
		     "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_close(db), SQLITE_OK);
}

/* Page page (1-based) of the database overwritten with bytes that look
 * random (always the same ones). */
static void scramble_page(int64_t page)
{
	int64_t size = db_int("PRAGMA page_size");
	uint64_t x = 0x9E3779B97F4A7C15ull;
	char *buf = malloc((size_t)size);
	int fd;

	cr_assert_not_null(buf);
	for (int64_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (char)(x >> 24);
	}
	fd = open(fx.db, O_WRONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", fx.db, strerror(errno));
	cr_assert_eq(pwrite(fd, buf, (size_t)size, (page - 1) * size), size);
	cr_assert_eq(close(fd), 0);
	free(buf);
}

/* The whole content of the database file (malloc'd). */
static char *slurp_db(size_t *ret_len)
{
	struct stat sb;
	char *buf;
	int fd = open(fx.db, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	*ret_len = (size_t)sb.st_size;
	return buf;
}

static bool exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", fx.path, name);
	return access(path, F_OK) == 0;
}

/* A few files in build/ so that the tables hold rows. */
static void some_rows(void)
{
	uint64_t dir = dfs_fixture_component(&fx, "process", "order-sync");
	char name[32];

	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "file-%02d.xml", i);
		(void)dfs_fixture_put_text(&fx, dir, name, "<map/>\n");
	}
	fx.st = dfs_store_free(fx.st);
}

Test(dbcheck, daemon_open_refuses_a_damaged_table_page_untouched)
{
	struct dfs_store *st = (struct dfs_store *)&fx;
	struct problems ps = { .n = 0 };
	char why[1024], *before, *after;
	size_t len0, len1;
	int rc;

	FIXTURE_OK();
	some_rows();
	scramble_page(db_int("SELECT rootpage FROM sqlite_schema"
			     " WHERE name = 'inodes'"));
	before = slurp_db(&len0);

	rc = dfs_store_open_why(fx.path, OPEN_FLAGS, &st, why, sizeof(why));
	cr_assert_eq(rc, -EUCLEAN, "open: %s", strerror(-rc));
	cr_assert_eq(st, (struct dfs_store *)&fx, "ret written on failure");
	cr_expect(strstr(why, fx.db), "why does not name %s: %s", fx.db, why);
	cr_expect(strstr(why, "quick_check"), "why: %s", why);
	after = slurp_db(&len1);
	cr_assert_eq(len1, len0, "deployfs.db changed size");
	cr_assert_arr_eq(after, before, len0, "deployfs.db bytes changed");
	cr_expect_not(exists("deployfs.db-wal"), "a -wal was left behind");
	free(after);

	/* fsck opens it (no quick_check) and reports SQLite's findings. */
	cr_assert_eq(dfs_store_open(fx.path, 0, &st), 0);
	rc = dfs_store_fsck(st, record, &ps);
	st = dfs_store_free(st);
	cr_expect_gt(rc, 0, "fsck found nothing");
	cr_assert_geq(find_kind(&ps, "database"), 0, "no database problem");
	cr_expect(strncmp(ps.what[find_kind(&ps, "database")],
			  "deployfs.db: ", 13) == 0,
		  "%s", ps.what[0]);
	free(before);
}

Test(dbcheck, a_damaged_header_is_refused_naming_what_sqlite_said)
{
	struct dfs_store *st = (struct dfs_store *)&fx;
	char why[1024];

	FIXTURE_OK();
	some_rows();
	scramble_page(1);

	cr_assert_eq(
		dfs_store_open_why(fx.path, OPEN_FLAGS, &st, why, sizeof(why)),
		-EUCLEAN);
	cr_expect(strstr(why, fx.db), "why: %s", why);
	cr_expect(strstr(why, "not a database"), "why: %s", why);
	cr_assert_eq(dfs_store_open_why(fx.path, 0, &st, why, sizeof(why)),
		     -EUCLEAN);
	cr_expect(strstr(why, "not a database"), "why: %s", why);
}

Test(dbcheck, an_empty_database_is_enodata_and_called_empty)
{
	struct dfs_store *st = (struct dfs_store *)&fx;
	struct stat sb;
	char why[1024];

	FIXTURE_OK();
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(truncate(fx.db, 0), 0);

	cr_assert_eq(
		dfs_store_open_why(fx.path, OPEN_FLAGS, &st, why, sizeof(why)),
		-ENODATA);
	cr_expect(strstr(why, fx.db) && strstr(why, "empty (0 bytes)"),
		  "why: %s", why);
	cr_expect(strstr(dfs_store_strerror(-ENODATA), "empty"), "%s",
		  dfs_store_strerror(-ENODATA));
	cr_assert_eq(dfs_store_open(fx.path, 0, &st), -ENODATA);
	cr_assert_eq(stat(fx.db, &sb), 0);
	cr_expect_eq(sb.st_size, 0, "the empty database was written");
	cr_expect_not(exists("deployfs.db-wal"));
	cr_expect_not(exists("deployfs.db-shm"));
}

Test(dbcheck, fsck_reports_a_row_that_refers_to_a_missing_row)
{
	struct problems ps = { .n = 0 };
	struct dfs_store *st = NULL;
	int i;

	FIXTURE_OK();
	fx.st = dfs_store_free(fx.st);
	db_exec("INSERT INTO staging (id, env, package, started, started_by,"
		" uid, entries) VALUES (7, 41, 42, 0, 'test', 0, 1)");

	cr_assert_eq(dfs_store_open(fx.path, 0, &st), 0);
	cr_expect_gt(dfs_store_fsck(st, record, &ps), 0);
	st = dfs_store_free(st);
	i = find_kind(&ps, "foreign-key");
	cr_assert_geq(i, 0, "no foreign-key problem (%d in all)", ps.total);
	cr_expect(strstr(ps.what[i], "row 7 of staging"), "%s", ps.what[i]);
}

/* A file under the store folder, with the given bytes. */
static void stray_file(const char *rel, const char *text)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fx.path, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(close(fd), 0);
}

Test(dbcheck, fsck_says_a_database_is_older_than_its_blob_files)
{
	struct problems ps = { .n = 0 };
	char rel[128];
	int i;

	FIXTURE_OK();
	for (i = 0; i < 12; i++) {
		snprintf(rel, sizeof(rel),
			 "blobs/%02x/%02x23456789abcdef0123456789abcd", i, i);
		stray_file(rel, "newer than the database");
	}

	cr_assert_eq(dfs_store_fsck(fx.st, record, &ps), 13);
	i = find_kind(&ps, "stale-database");
	cr_assert_geq(i, 0, "no stale-database problem");
	cr_expect(strstr(ps.what[i], "12 blob files and 0 work files"), "%s",
		  ps.what[i]);
	cr_expect(strstr(ps.what[i], "older than its files"), "%s", ps.what[i]);
}

Test(dbcheck, a_few_orphans_are_not_called_a_stale_database)
{
	struct problems ps = { .n = 0 };

	FIXTURE_OK();
	stray_file("blobs/ab/ab23456789abcdef0123456789abcd01", "stray");
	cr_assert_eq(dfs_store_fsck(fx.st, record, &ps), 1);
	cr_assert_str_eq(ps.kind[0], "orphan");
}

Test(dbcheck, fsck_says_so_of_a_work_file_beyond_the_last_inode)
{
	struct problems ps = { .n = 0 };
	int i;

	FIXTURE_OK();
	stray_file("work/999999", "written after the database's copy");
	cr_assert_eq(dfs_store_fsck(fx.st, record, &ps), 2);
	i = find_kind(&ps, "stale-database");
	cr_assert_geq(i, 0, "no stale-database problem");
	cr_expect(strstr(ps.what[i], "work file 999999"), "%s", ps.what[i]);
}
