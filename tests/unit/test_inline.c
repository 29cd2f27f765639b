// SPDX-License-Identifier: MIT
/*
 * test_inline.c - small content (up to 64 KiB) is kept in the database:
 * no blob file, committed when the file is closed, readable after the
 * store is reopened; content that grows past the limit moves to a work
 * file and is sealed into a blob file; fsck checks inline bytes too.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deployfs/store.h"

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)

static struct {
	char tmp[64];
	char path[128];
	struct dfs_store *st;
	uint64_t proc;
	int rc;
} fx;

static const struct dfs_actor me = { .cmd = "" };

static int rm_entry(const char *p, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void setup(void)
{
	struct dfs_attr a;

	snprintf(fx.tmp, sizeof(fx.tmp), "/tmp/dfs-unit-inline-XXXXXX");
	fx.rc = mkdtemp(fx.tmp) ? 0 : -errno;
	snprintf(fx.path, sizeof(fx.path), "%s/store", fx.tmp);
	if (fx.rc == 0)
		fx.rc = dfs_store_create(fx.path);
	if (fx.rc == 0)
		fx.rc = dfs_store_open(fx.path, OPEN_FLAGS, &fx.st);
	if (fx.rc == 0)
		fx.rc = dfs_node_lookup(fx.st, DFS_INO_BUILD, "process", &a);
	fx.proc = a.ino;
}

static void teardown(void)
{
	fx.st = dfs_store_free(fx.st);
	nftw(fx.tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(inline, .init = setup, .fini = teardown, .timeout = 60);

static uint64_t write_new(const char *name, const void *data, size_t len)
{
	struct dfs_file *f = NULL;
	struct dfs_attr a;
	int fd;

	cr_assert_eq(dfs_node_mknod(fx.st, &me, fx.proc, name, S_IFREG | 0644,
				    0, &a),
		     0);
	cr_assert_eq(dfs_file_open(fx.st, a.ino, O_WRONLY | O_TRUNC, &f), 0);
	fd = dfs_file_fd_get(f);
	cr_assert_eq(pwrite(fd, data, len, 0), (ssize_t)len);
	dfs_file_fd_put(fx.st, f, true, len);
	cr_assert_eq(dfs_file_flush(fx.st, f), 0);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	return a.ino;
}

static void check(uint64_t ino, const void *data, size_t len)
{
	struct dfs_file *f = NULL;
	char *buf = malloc(len + 1);
	ssize_t n;

	cr_assert_not_null(buf);
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), 0);
	n = pread(dfs_file_fd_get(f), buf, len + 1, 0);
	dfs_file_fd_put(fx.st, f, false, 0);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	cr_assert_eq(n, (ssize_t)len);
	cr_assert_arr_eq(buf, data, len);
	free(buf);
}

static int blob_files(void)
{
	char cmd[256];
	int n = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "find %s/blobs -type f | wc -l", fx.path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

Test(inline, small_content_lives_in_the_database_and_survives_reopen)
{
	static const char text[] = "<map name=\"order-map\"/>\n";
	struct dfs_hash h;
	uint64_t ino;
	int before;

	cr_assert_eq(fx.rc, 0);
	before = blob_files();
	ino = write_new("map.xml", text, strlen(text));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &h), 0,
		     "committed at close, no seal needed");
	cr_assert_eq(blob_files(), before, "no blob file for small content");
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	check(ino, text, strlen(text));
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
}

Test(inline, content_past_the_limit_becomes_a_blob_file)
{
	size_t len = 100 * 1024;
	char *big = malloc(len);
	uint64_t ino;
	int before;

	cr_assert_eq(fx.rc, 0);
	cr_assert_not_null(big);
	for (size_t i = 0; i < len; i++)
		big[i] = (char)('a' + i % 26);
	before = blob_files();
	ino = write_new("big.xml", big, len);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(blob_files(), before + 1);
	check(ino, big, len);
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
	free(big);
}

Test(inline, truncating_small_content_commits_it)
{
	static const char text[] = "0123456789";
	struct dfs_setattr sa = { .valid = DFS_SET_SIZE, .size = 4 };
	struct dfs_attr a;
	uint64_t ino;

	cr_assert_eq(fx.rc, 0);
	ino = write_new("t.txt", text, strlen(text));
	cr_assert_eq(dfs_node_setattr(fx.st, ino, &sa, &a), 0);
	cr_assert_eq(a.size, 4);
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	check(ino, "0123", 4);
}

Test(inline, fsck_reports_corrupt_inline_bytes)
{
	static const char text[] = "partner = acme\n";
	char db[256];
	sqlite3 *h = NULL;

	cr_assert_eq(fx.rc, 0);
	(void)write_new("c.conf", text, strlen(text));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
	snprintf(db, sizeof(db), "%s/deployfs.db", fx.path);
	cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	cr_assert_eq(sqlite3_exec(h,
				  "UPDATE blob_data SET data = CAST('tampered'"
				  " AS BLOB) WHERE length(data) = 15",
				  NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(h));
	sqlite3_close(h);
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 1);
}

Test(inline, damaged_inline_bytes_are_eio_when_loaded)
{
	static const char text[] = "partner = acme\n";
	struct dfs_file *f = NULL;
	struct dfs_hash h;
	char db[256];
	sqlite3 *d = NULL;
	uint64_t ino;

	cr_assert_eq(fx.rc, 0);
	ino = write_new("c.conf", text, strlen(text));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &h), 0);
	check(ino, text, strlen(text));
	snprintf(db, sizeof(db), "%s/deployfs.db", fx.path);
	cr_assert_eq(sqlite3_open(db, &d), SQLITE_OK);
	sqlite3_busy_timeout(d, 5000);
	cr_assert_eq(sqlite3_exec(d,
				  "UPDATE blob_data SET data = CAST('partner ="
				  " evil\n' AS BLOB) WHERE length(data) = 15",
				  NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(d));
	cr_assert_eq(sqlite3_changes(d), 1);
	sqlite3_close(d);
	/* Checked each time it is loaded, also in the same open store. */
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), -EIO);
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDWR, &f), -EIO);
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	cr_assert_eq(dfs_blob_verify(fx.st, &h, strlen(text)), -EIO);
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), -EIO);
}

/* The one integer query returns, read with the store's database open
 * beside it. */
static int db_int(const char *query)
{
	char db[256];
	sqlite3 *d = NULL;
	sqlite3_stmt *s = NULL;
	int v;

	snprintf(db, sizeof(db), "%s/deployfs.db", fx.path);
	cr_assert_eq(sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL),
		     SQLITE_OK);
	sqlite3_busy_timeout(d, 5000);
	cr_assert_eq(sqlite3_prepare_v2(d, query, -1, &s, NULL), SQLITE_OK,
		     "%s: %s", query, sqlite3_errmsg(d));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", query);
	v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(d);
	return v;
}

/* Run sql on the database of the closed store. */
static void db_exec(const char *sql)
{
	char db[256];
	sqlite3 *d = NULL;

	snprintf(db, sizeof(db), "%s/deployfs.db", fx.path);
	cr_assert_eq(sqlite3_open(db, &d), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(d, sql, NULL, NULL, NULL), SQLITE_OK,
		     "%s: %s", sql, sqlite3_errmsg(d));
	sqlite3_close(d);
}

/* Schema 14: a blob's row names its bytes; equal contents share them,
 * and the row and its bytes go together. */
Test(inline, equal_small_contents_share_one_row_of_bytes)
{
	static const char text[] = "endpoint = https://erp.example/orders\n";
	uint64_t a, b;

	cr_assert_eq(fx.rc, 0);
	a = write_new("a.conf", text, strlen(text));
	b = write_new("b.conf", text, strlen(text));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(db_int("SELECT count(*) FROM blob_data"
			    " WHERE length(data) = 38"),
		     1);
	cr_assert_eq(db_int("SELECT refs FROM blobs b JOIN blob_data d"
			    " ON d.id = b.data WHERE length(d.data) = 38"),
		     2);
	check(a, text, strlen(text));
	check(b, text, strlen(text));
	/* Reclaiming the row (as inline.c does once nothing names it)
	 * takes the bytes along. */
	cr_assert_eq(dfs_node_unlink(fx.st, fx.proc, "a.conf"), 0);
	cr_assert_eq(dfs_node_unlink(fx.st, fx.proc, "b.conf"), 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	fx.st = dfs_store_free(fx.st);
	db_exec("DELETE FROM blobs WHERE refs = 0 AND size = 38");
	cr_assert_eq(db_int("SELECT count(*) FROM blob_data"
			    " WHERE length(data) = 38"),
		     0);
}

/* A blob whose row names no bytes (a store from before small contents
 * were kept in the database had a file instead) gains them when the
 * same bytes are written again, and every file naming it reads them. */
Test(inline, a_row_without_bytes_gains_them_from_the_next_write)
{
	static const char text[] = "retries = 3\n";
	uint64_t a, b;

	cr_assert_eq(fx.rc, 0);
	a = write_new("a.conf", text, strlen(text));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	fx.st = dfs_store_free(fx.st);
	db_exec("UPDATE blobs SET data = NULL WHERE size = 12;"
		"DELETE FROM blob_data WHERE length(data) = 12");
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	b = write_new("b.conf", text, strlen(text));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(db_int("SELECT count(*) FROM blobs b JOIN blob_data d"
			    " ON d.id = b.data WHERE b.size = 12"),
		     1);
	check(a, text, strlen(text));
	check(b, text, strlen(text));
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
}
