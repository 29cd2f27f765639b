// SPDX-License-Identifier: MIT
/*
 * fsck.c - checking a store: first the database itself (SQLite's
 * integrity_check of every page and index, and its foreign_key_check),
 * then every blob that a row refers to exists and hashes to its name,
 * every work file that an inode names exists, every directory entry names
 * an inode; files under blobs/ and work/ that no row names are reported as
 * orphans (a sealed file's work file, removed just after its seal commits,
 * is not one).  Many orphans, or a work file of an inode the database
 * never made, mean the database is older than its files (a copy of the
 * store without its -wal file): one more problem says so.  Safe while the
 * store is mounted: a finding is checked again against the current rows
 * before it is reported, so a seal in progress is not mistaken for damage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "storage.h"

/* Orphans from which the database looks older than its files. */
#define STALE_MIN_ORPHANS 8
/* Lines of integrity_check reported, at most. */
#define INTEGRITY_MAX 100

struct fsck {
	struct dfs_store *st;
	dfs_fsck_fn fn;
	void *ctx;
	int problems;
	int orphan_blobs;
	int orphan_work;
	int64_t orphan_ino_max; /* highest inode an orphan work file names */
};

static void report(struct fsck *f, const char *kind, const char *what,
		   uint64_t ino)
{
	struct dfs_fsck_problem p = { kind, what, ino };

	f->problems++;
	if (f->fn)
		f->fn(f->ctx, &p);
}

/* Does sql (one ? parameter, blob or int) still return a row? */
static bool still(struct dfs_store *st, const char *sql, const void *blob,
		  int64_t ino)
{
	sqlite3_stmt *s;
	bool row = false;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return true;
	if (blob)
		sqlite3_bind_blob(s, 1, blob, DFS_HASH_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_int64(s, 1, ino);
	row = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return row;
}

/* A blob kept in the database: check its bytes.  true if inline. */
static bool check_inline(struct fsck *f, const struct dfs_hash *h,
			 const char *hex)
{
	XXH128_canonical_t c;
	sqlite3_stmt *s;
	bool inl = false;

	if (sqlite3_prepare_v2(f->st->db,
			       "SELECT d.data FROM blobs b JOIN blob_data d"
			       " ON d.id = b.data WHERE b.hash = ?1",
			       -1, &s, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_blob(s, 1, h->b, DFS_HASH_LEN, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL) {
		inl = true;
		XXH128_canonicalFromHash(
			&c, XXH3_128bits(sqlite3_column_blob(s, 0),
					 (size_t)sqlite3_column_bytes(s, 0)));
		if (memcmp(c.digest, h->b, DFS_HASH_LEN) != 0)
			report(f, "corrupt", hex, 0);
	}
	sqlite3_finalize(s);
	return inl;
}

/* A problem with the database: SQLite's text after the file's name. */
static void report_db(struct fsck *f, const char *kind, const char *text)
{
	char what[600];

	snprintf(what, sizeof(what), "%s: ", DFS_DB_NAME);
	dfs_sql_msg_append(what + strlen(what), sizeof(what) - strlen(what),
			   text);
	report(f, kind, what, 0);
}

static void report_db_error(struct fsck *f, const char *pragma)
{
	char text[300];

	snprintf(text, sizeof(text), "%s stopped: %s", pragma,
		 sqlite3_errmsg(f->st->db));
	report_db(f, "database", text);
}

/* A row of integrity_check may hold several findings, one a line, after
 * a heading ("*** in database main ***"): one problem each. */
static void report_lines(struct fsck *f, const char *text)
{
	char line[512];

	while (*text) {
		size_t len = strcspn(text, "\n");

		if (len && strncmp(text, "***", 3) != 0) {
			snprintf(line, sizeof(line), "%.*s", (int)len, text);
			report_db(f, "database", line);
		}
		text += len;
		if (*text)
			text++;
	}
}

/* Every page, cell and index entry, as SQLite itself checks them. */
static void check_integrity(struct fsck *f)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_prepare_v2(
		f->st->db, "PRAGMA integrity_check(" DFS_STR(INTEGRITY_MAX) ")",
		-1, &s, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		const char *line;

		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW)
			break;
		line = (const char *)sqlite3_column_text(s, 0);
		if (!line || strcmp(line, "ok") != 0)
			report_lines(f, line ? line : "(no text)");
	}
	if (rc != SQLITE_DONE)
		report_db_error(f, "PRAGMA integrity_check");
	sqlite3_finalize(s);
}

/* Rows whose REFERENCES name a row that is not there. */
static void check_foreign_keys(struct fsck *f)
{
	sqlite3_stmt *s = NULL;
	char text[300];
	int rc;

	rc = sqlite3_prepare_v2(f->st->db, "PRAGMA foreign_key_check", -1, &s,
				NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW)
			break;
		snprintf(text, sizeof(text),
			 "row %lld of %s refers to a missing row of %s",
			 (long long)sqlite3_column_int64(s, 1),
			 (const char *)sqlite3_column_text(s, 0),
			 (const char *)sqlite3_column_text(s, 2));
		report_db(f, "foreign-key", text);
	}
	if (rc != SQLITE_DONE)
		report_db_error(f, "PRAGMA foreign_key_check");
	sqlite3_finalize(s);
}

static void check_blobs(struct fsck *f)
{
	static const char *const referenced =
		"SELECT blob FROM inodes WHERE blob IS NOT NULL"
		" UNION SELECT blob FROM snodes WHERE blob IS NOT NULL"
		" UNION SELECT hash FROM blobs WHERE refs > 0";
	static const char *const again =
		"SELECT 1 FROM inodes WHERE blob = ?1 UNION ALL"
		" SELECT 1 FROM snodes WHERE blob = ?1 UNION ALL"
		" SELECT 1 FROM blobs WHERE hash = ?1 AND refs > 0";
	struct dfs_store *st = f->st;
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(st->db, referenced, -1, &s, NULL) != SQLITE_OK) {
		report(f, "unreadable", "blob references", 0);
		return;
	}
	while (sqlite3_step(s) == SQLITE_ROW) {
		struct dfs_hash h, got;
		char hex[DFS_HASH_HEX];
		int fd;

		if (sqlite3_column_bytes(s, 0) != DFS_HASH_LEN)
			continue;
		memcpy(h.b, sqlite3_column_blob(s, 0), DFS_HASH_LEN);
		dfs_hash_hex(&h, hex);
		if (check_inline(f, &h, hex))
			continue;
		fd = dfs_blob_open(st, &h);
		if (fd < 0) {
			/* Not fetched from the registry yet: checked when
			 * it is (model/regfetch.c). */
			if (dfs_blob_is_remote(st, &h) == 1)
				continue;
			if (still(st, again, h.b, 0))
				report(f, "missing", hex, 0);
			continue;
		}
		if (dfs_hash_fd(fd, &got) < 0 || memcmp(&got, &h, sizeof(h)))
			report(f, "corrupt", hex, 0);
		close(fd);
	}
	sqlite3_finalize(s);
}

static void check_work(struct fsck *f)
{
	struct dfs_store *st = f->st;
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(st->db, "SELECT ino FROM inodes WHERE work = 1",
			       -1, &s, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(s) == SQLITE_ROW) {
		int64_t ino = sqlite3_column_int64(s, 0);
		char name[32];

		dfs_work_name((uint64_t)ino, name);
		if (faccessat(st->work_fd, name, F_OK, 0) < 0 &&
		    still(st, "SELECT 1 FROM inodes WHERE ino = ? AND work = 1",
			  NULL, ino))
			report(f, "missing-work", name, (uint64_t)ino);
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(st->db,
			       "SELECT d.parent, d.name, d.ino FROM dirents d"
			       " LEFT JOIN inodes i ON i.ino = d.ino"
			       " WHERE i.ino IS NULL",
			       -1, &s, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(s) == SQLITE_ROW)
		report(f, "dangling-entry",
		       (const char *)sqlite3_column_text(s, 1),
		       (uint64_t)sqlite3_column_int64(s, 2));
	sqlite3_finalize(s);
}

/* Files in dir (an fd relative to the store) that no row names. */
static void scan_dir(struct fsck *f, int dirfd, const char *sub, bool blobs)
{
	int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct dfs_hash h;
		char what[300];
		bool named;

		if (de->d_name[0] == '.')
			continue;
		snprintf(what, sizeof(what), "%s/%s", sub, de->d_name);
		if (blobs)
			named = dfs_hash_parse(de->d_name, &h) == 0 &&
				(still(f->st,
				       "SELECT 1 FROM blobs WHERE hash = ?",
				       h.b, 0) ||
				 still(f->st,
				       "SELECT 1 FROM inodes WHERE blob = ?",
				       h.b, 0));
		else
			/* A sealed file's work file goes right after the
			 * commit that names its blob (or at the next mount,
			 * after a crash): not an orphan. */
			named = still(f->st,
				      "SELECT 1 FROM inodes WHERE ino = ?"
				      " AND (work = 1 OR blob IS NOT NULL)",
				      NULL, strtoll(de->d_name, NULL, 10));
		if (named || faccessat(dirfd, what, F_OK, 0) < 0)
			continue;
		report(f, "orphan", what, 0);
		if (blobs) {
			f->orphan_blobs++;
		} else {
			int64_t ino = strtoll(de->d_name, NULL, 10);

			f->orphan_work++;
			if (ino > f->orphan_ino_max)
				f->orphan_ino_max = ino;
		}
	}
	closedir(d);
}

/*
 * A database restored without its -wal file (or any older copy) lacks the
 * rows of the newest files: they show up as orphans, and work files name
 * inodes beyond the last one the database made.  Say so once, after them.
 */
static void check_stale(struct fsck *f)
{
	int64_t last = 0;
	char what[600], beyond[160] = "";

	(void)dfs_query_int(f->st,
			    "SELECT max(ifnull((SELECT seq FROM sqlite_sequence"
			    " WHERE name = 'inodes'), 0),"
			    " ifnull((SELECT max(ino) FROM inodes), 0))",
			    &last, "");
	if (f->orphan_work && f->orphan_ino_max > last)
		snprintf(beyond, sizeof(beyond),
			 "; work file %lld names an inode the database never "
			 "made (its last is %lld)",
			 (long long)f->orphan_ino_max, (long long)last);
	if (f->orphan_blobs + f->orphan_work < STALE_MIN_ORPHANS && !beyond[0])
		return;
	snprintf(what, sizeof(what),
		 "%s: %d blob file%s and %d work file%s are named by no "
		 "row%s: the database looks older than its files (a copy "
		 "restored without its -wal file?)",
		 DFS_DB_NAME, f->orphan_blobs, f->orphan_blobs == 1 ? "" : "s",
		 f->orphan_work, f->orphan_work == 1 ? "" : "s", beyond);
	report(f, "stale-database", what, 0);
}

int dfs_store_fsck(struct dfs_store *st, dfs_fsck_fn fn, void *ctx)
{
	struct fsck f = { .st = st, .fn = fn, .ctx = ctx };

	pthread_mutex_lock(&st->lock);
	check_integrity(&f);
	check_foreign_keys(&f);
	check_blobs(&f);
	check_work(&f);
	for (int i = 0; i < 256; i++) {
		char sub[16];

		snprintf(sub, sizeof(sub), "%s/%02x", DFS_BLOBS_DIR, i);
		scan_dir(&f, st->dirfd, sub, true);
	}
	scan_dir(&f, st->dirfd, DFS_WORK_DIR, false);
	check_stale(&f);
	pthread_mutex_unlock(&st->lock);
	return f.problems;
}
