// SPDX-License-Identifier: MIT
/*
 * test_migrate.c - unit tests of schema migration at open: a store from
 * schema version 1 (no dirents_by_ino index) is brought to the current
 * version with its data intact, and a migration that fails changes
 * nothing (all-or-nothing).  Old stores are simulated with the sqlite3 C
 * API while the store is closed.
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
#include "fixture.h"
#include "old_schema.h"

static struct dfs_fixture fx;

/* What a test put in the store before making it old. */
struct sample {
	uint64_t dir;
	uint64_t file;
	uint64_t link;
};

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)
#define TEXT "<connection url=\"sftp://in\"/>\n"
/* What schema versions 2 to 11 added, taken away again (11: old_schema.h). */
#define DROP_V10 DROP_V11 "DROP TABLE redo;"
#define DROP_V9                                                \
	DROP_V10                                               \
	"CREATE TRIGGER snode_blob_ins AFTER INSERT ON snodes" \
	" WHEN NEW.blob IS NOT NULL BEGIN"                     \
	" UPDATE blobs SET refs = refs + 1 WHERE hash = NEW.blob; END;"
#define DROP_V8                                                      \
	DROP_V9                                                      \
	"CREATE TABLE blob_data_v7 (hash BLOB PRIMARY KEY,"          \
	" data BLOB NOT NULL) WITHOUT ROWID;"                        \
	"INSERT INTO blob_data_v7 SELECT hash, data FROM blob_data;" \
	"DROP TRIGGER blob_data_del; DROP TABLE blob_data;"          \
	"ALTER TABLE blob_data_v7 RENAME TO blob_data;"              \
	"CREATE TRIGGER blob_data_del AFTER DELETE ON blobs BEGIN"   \
	" DELETE FROM blob_data WHERE hash = OLD.hash; END;"
#define DROP_V7 DROP_V8 "ALTER TABLE packages DROP COLUMN kept;"
#define DROP_V6 DROP_V7 "DROP TRIGGER blob_chunks_del; DROP TABLE blob_chunks;"
#define DROP_V5 DROP_V6 "ALTER TABLE packages DROP COLUMN bad;"
#define DROP_V4                                                               \
	DROP_V5                                                               \
	"DROP TABLE audit_lines; DROP TABLE staging; DROP TABLE deployments;" \
	"DROP TABLE envs;"
#define DROP_V3                                                     \
	DROP_V4                                                     \
	"DROP TABLE audit; DROP TABLE packages; DROP TABLE snodes;" \
	"DROP TABLE components; DROP TRIGGER blob_data_del;"        \
	"DROP TABLE blob_data;"
#define TO_V1 DROP_V3 "DROP INDEX dirents_by_ino; PRAGMA user_version = 1;"

static void setup(void)
{
	dfs_fixture_setup(&fx, "migrate", 0);
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(migrate, .init = setup, .fini = teardown, .timeout = 60);

static void sql_exec(const char *sql)
{
	sqlite3 *db = NULL;

	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READWRITE, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK,
		     "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_close(db), SQLITE_OK);
}

/* The one integer that query returns. */
/*
 * Before schema 3 every blob was a file: write the blobs kept in the
 * database out as files, as an older store had them.
 */
static void materialize_inline_blobs(void)
{
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;

	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READONLY, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT lower(hex(hash)), data FROM"
					" blob_data",
					-1, &s, NULL),
		     SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *hex = (const char *)sqlite3_column_text(s, 0);
		char path[512];
		FILE *f;

		snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", fx.path, hex,
			 hex);
		f = fopen(path, "we");
		cr_assert_not_null(f, "%s", path);
		cr_assert_eq(fwrite(sqlite3_column_blob(s, 1), 1,
				    (size_t)sqlite3_column_bytes(s, 1), f),
			     (size_t)sqlite3_column_bytes(s, 1));
		cr_assert_eq(fclose(f), 0);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static int sql_int(const char *query)
{
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;
	int v;

	cr_assert_eq(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READONLY, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, query, -1, &s, NULL), SQLITE_OK,
		     "%s: %s", query, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", query);
	v = sqlite3_column_int(s, 0);
	cr_assert_eq(sqlite3_finalize(s), SQLITE_OK);
	cr_assert_eq(sqlite3_close(db), SQLITE_OK);
	return v;
}

static int user_version(void)
{
	return sql_int("PRAGMA user_version");
}

/* How many schema objects of type are named name. */
static int schema_has(const char *type, const char *name)
{
	char q[160];

	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM sqlite_master"
		 " WHERE type = '%s' AND name = '%s'",
		 type, name);
	return sql_int(q);
}

/* Fill the store with a folder, a sealed file, a link and an xattr. */
static struct sample fill(void)
{
	struct dfs_actor me = { .uid = getuid(),
				.gid = getgid(),
				.pid = getpid() };
	struct dfs_attr conn, dir, file, link;
	struct dfs_file *f = NULL;
	struct sample s;
	int fd;

	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_BUILD, "connection", &conn),
		     0);
	cr_assert_eq(
		dfs_node_mkdir(fx.st, &me, conn.ino, "sftp-in", 0750, &dir), 0);
	cr_assert_eq(dfs_node_mknod(fx.st, &me, dir.ino, "connection.conf",
				    S_IFREG | 0640, 0, &file),
		     0);
	cr_assert_eq(dfs_file_open(fx.st, file.ino, O_WRONLY, &f), 0);
	fd = dfs_file_fd_get(f);
	cr_assert_eq(pwrite(fd, TEXT, strlen(TEXT), 0), (ssize_t)strlen(TEXT));
	dfs_file_fd_put(fx.st, f, true, strlen(TEXT));
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	cr_assert_eq(dfs_node_symlink(fx.st, &me, dir.ino, "current",
				      "connection.conf", &link),
		     0);
	cr_assert_eq(
		dfs_xattr_set(fx.st, NULL, file.ino, "user.env", "prod", 4, 0),
		0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	fx.st = dfs_store_free(fx.st);
	s.dir = dir.ino;
	s.file = file.ino;
	s.link = link.ino;
	return s;
}

/* Open the store and find exactly what fill() left. */
static void check_sample(const struct sample *s)
{
	struct dfs_attr conn, a;
	struct dfs_file *f = NULL;
	char buf[64];
	ssize_t n;

	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_BUILD, "connection", &conn),
		     0);
	cr_assert_eq(dfs_node_lookup(fx.st, conn.ino, "sftp-in", &a), 0);
	cr_assert_eq(a.ino, s->dir);
	cr_assert_eq(a.mode, S_IFDIR | 0750);
	cr_assert_eq(dfs_node_lookup(fx.st, s->dir, "connection.conf", &a), 0);
	cr_assert_eq(a.ino, s->file);
	cr_assert_eq(a.mode, S_IFREG | 0640);
	cr_assert_eq(a.size, strlen(TEXT));
	cr_assert_eq(dfs_file_open(fx.st, s->file, O_RDONLY, &f), 0);
	n = pread(dfs_file_fd_get(f), buf, sizeof(buf), 0);
	dfs_file_fd_put(fx.st, f, false, 0);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	cr_assert_eq(n, (ssize_t)strlen(TEXT));
	cr_assert_arr_eq(buf, TEXT, strlen(TEXT));
	cr_assert_eq(dfs_node_readlink(fx.st, s->link, buf, sizeof(buf)), 15);
	cr_assert_str_eq(buf, "connection.conf");
	cr_assert_eq(
		dfs_xattr_get(fx.st, s->file, "user.env", buf, sizeof(buf)), 4);
	cr_assert_arr_eq(buf, "prod", 4);
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
	fx.st = dfs_store_free(fx.st);
}

Test(migrate, a_new_store_is_at_the_current_schema_version)
{
	FIXTURE_OK();
	cr_assert_eq(dfs_store_schema_version(), 14);
	cr_assert_eq(user_version(), dfs_store_schema_version());
	/* 14: a blob's row names its small content's row */
	cr_assert_eq(sql_int("SELECT count(*) FROM pragma_table_info('blobs')"
			     " WHERE name = 'data'"),
		     1);
	cr_assert_eq(schema_has("index", "dirents_by_ino"), 1);
	cr_assert_eq(sql_int("PRAGMA application_id"), 1684435761);
	/* 13: blobs fetched from the registry on first read */
	cr_assert_eq(schema_has("table", "blob_remote"), 1);
	/* 12: an act applied from the registry names its place there */
	cr_assert_eq(sql_int("SELECT count(*) FROM pragma_table_info('audit')"
			     " WHERE name = 'reg_seq'"),
		     1);
	/* 5: a release can be marked bad */
	cr_assert_eq(sql_int("SELECT count(*) FROM pragma_table_info"
			     "('packages') WHERE name = 'bad'"),
		     1);
	/* 7: a package can be kept from pruning */
	cr_assert_eq(sql_int("SELECT count(*) FROM pragma_table_info"
			     "('packages') WHERE name = 'kept'"),
		     1);
	/* 8: small contents in the order they were written (14: found
	 * through their blob's row, no index of their own) */
	cr_assert_eq(schema_has("table", "blob_data"), 1);
	cr_assert_eq(schema_has("index", "blob_data_by_hash"), 0);
	/* 9: snapshots count their blobs without a trigger */
	cr_assert_eq(schema_has("trigger", "snode_blob_ins"), 0);
	cr_assert_eq(schema_has("trigger", "snode_blob_del"), 1);
	/* 10: the close log's epoch, one row */
	cr_assert_eq(sql_int("SELECT count(*) FROM redo"), 1);
	/* 11: snapshots in lines */
	cr_assert_eq(schema_has("table", "lines"), 1);
	cr_assert_eq(schema_has("index", "snodes_by_name"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM snode_ids"), 1);
}

static void expect_text(uint64_t ino, const char *text)
{
	dfs_fixture_expect_text(&fx, ino, text);
}

/*
 * Schema 11: each package a version 10 store holds becomes a line of its
 * own, its nodes keeping their ids (inode numbers a kernel may hold) and
 * its blobs their counts; the next package shares with none of them, and
 * reclaiming one takes its rows.
 */
Test(migrate, a_version_10_store_keeps_its_packages_and_their_ids)
{
	struct dfs_attr dir, r1, r2, f1, f2, a;
	uint64_t p, file;
	int refs;

	FIXTURE_OK();
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	p = dfs_fixture_component(&fx, "process", "p");
	file = dfs_fixture_put_text(&fx, p, "p.xml", "<one/>");
	(void)dfs_fixture_put_text(&fx, dfs_fixture_mkdir(&fx, p, "sub", 0755),
				   "s.xml", "<s/>");
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_PACKAGES, "p", &dir), 0);
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, dir.ino, "p@1", 0755, &r1),
		     0);
	dfs_fixture_write(&fx, file, "<two/>", 6);
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, dir.ino, "p@2", 0755, &r2),
		     0);
	cr_assert_eq(dfs_node_lookup(fx.st, r1.ino, "p.xml", &f1), 0);
	cr_assert_eq(dfs_node_lookup(fx.st, r2.ino, "p.xml", &f2), 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	fx.st = dfs_store_free(fx.st);
	sql_exec(DROP_V11 "PRAGMA user_version = 10;");
	cr_assert_eq(sql_int("SELECT count(*) FROM snodes"), 8,
		     "two packages of root, p.xml, sub, sub/s.xml");
	refs = sql_int("SELECT refs FROM blobs WHERE hash = (SELECT blob"
		       " FROM inodes WHERE ino IN (SELECT ino FROM dirents"
		       " WHERE name = CAST('s.xml' AS BLOB)))");
	cr_assert_eq(refs, 3, "the file and a node of each package");

	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	cr_assert_eq(user_version(), dfs_store_schema_version());
	cr_assert_eq(dfs_node_lookup(fx.st, dir.ino, "p@1", &a), 0);
	cr_assert_eq(a.ino, r1.ino);
	cr_assert_eq(dfs_node_lookup(fx.st, r1.ino, "p.xml", &a), 0);
	cr_assert_eq(a.ino, f1.ino);
	expect_text(f1.ino, "<one/>");
	expect_text(f2.ino, "<two/>");
	cr_assert_eq(dfs_node_lookup(fx.st, r2.ino, "sub", &a), 0);
	cr_assert_eq(dfs_node_lookup(fx.st, a.ino, "s.xml", &a), 0);
	expect_text(a.ino, "<s/>");
	/* The next package, then p@1 reclaimed. */
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, dir.ino, "p@3", 0755, &a),
		     0);
	cr_assert_eq(dfs_node_lookup(fx.st, a.ino, "p.xml", &a), 0);
	expect_text(a.ino, "<two/>");
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, dir.ino,
				   "user.deployfs.remove", "1", 1, 0),
		     0);
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, DFS_INO_PACKAGES,
				   "user.deployfs.gc", "0", 1, 0),
		     0);
	expect_text(f2.ino, "<two/>");
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(sql_int("SELECT count(*) FROM snodes"), 8,
		     "p@2's 4 and p@3's 4");
	cr_assert_eq(sql_int("SELECT refs FROM blobs WHERE hash = (SELECT blob"
			     " FROM inodes WHERE ino IN (SELECT ino FROM"
			     " dirents WHERE name = CAST('s.xml' AS BLOB)))"),
		     3, "the file, p@2's node and p@3's");
}

Test(migrate, a_version_8_store_counts_its_snapshots_blobs_once)
{
	struct sample s;
	struct dfs_attr a;
	uint64_t q;

	FIXTURE_OK();
	s = fill();
	sql_exec(DROP_V9 "PRAGMA user_version = 8;");
	cr_assert_eq(schema_has("trigger", "snode_blob_ins"), 1);

	check_sample(&s);
	cr_assert_eq(user_version(), dfs_store_schema_version());
	cr_assert_eq(schema_has("trigger", "snode_blob_ins"), 0);
	/* A package taken now counts its file once, not twice. */
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	q = dfs_fixture_component(&fx, "process", "q");
	(void)dfs_fixture_put_text(&fx, q, "q.xml", "<q/>");
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_PACKAGES, "q", &a), 0);
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, a.ino, "q@1", 0755, &a), 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(
		sql_int("SELECT refs FROM blobs WHERE hash ="
			" (SELECT blob FROM inodes WHERE ino ="
			" (SELECT ino FROM dirents WHERE name = CAST('q.xml' AS BLOB)))"),
		2, "the file and the package's node");
}

Test(migrate, a_version_7_store_keeps_its_small_contents_in_the_new_layout)
{
	struct sample s;

	FIXTURE_OK();
	s = fill();
	sql_exec(DROP_V8 "PRAGMA user_version = 7;");
	cr_assert_eq(schema_has("index", "blob_data_by_hash"), 0);
	cr_assert_eq(sql_int("SELECT count(*) FROM blob_data"), 1);

	check_sample(&s);
	cr_assert_eq(user_version(), dfs_store_schema_version());
	cr_assert_eq(sql_int("SELECT count(*) FROM blob_data"), 1);
	/* The content's row lives as long as its blob row, as before. */
	sql_exec("DELETE FROM blobs WHERE hash IN (SELECT hash FROM"
		 " blob_data)");
	cr_assert_eq(sql_int("SELECT count(*) FROM blob_data"), 0);
}

/*
 * Schema 14: a blob's row names the row of its small content; the index
 * of those rows by hash goes, and the content still goes with its blob.
 */
Test(migrate, a_version_13_store_finds_its_small_contents_from_their_blobs)
{
	struct sample s;

	FIXTURE_OK();
	s = fill();
	sql_exec(DROP_V14 "PRAGMA user_version = 13;");
	cr_assert_eq(schema_has("index", "blob_data_by_hash"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM pragma_table_info('blobs')"
			     " WHERE name = 'data'"),
		     0);
	/* A row of bytes no blob names (none should be) is dropped. */
	sql_exec("INSERT INTO blob_data (hash, data) VALUES"
		 " (x'00112233445566778899aabbccddeeff', x'00')");
	cr_assert_eq(sql_int("SELECT count(*) FROM blob_data"), 2);

	check_sample(&s);
	cr_assert_eq(user_version(), dfs_store_schema_version());
	cr_assert_eq(schema_has("index", "blob_data_by_hash"), 0);
	cr_assert_eq(sql_int("SELECT count(*) FROM blob_data"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM blobs b JOIN blob_data d"
			     " ON d.id = b.data AND d.hash = b.hash"),
		     1);
	sql_exec("DELETE FROM blobs WHERE data IS NOT NULL");
	cr_assert_eq(sql_int("SELECT count(*) FROM blob_data"), 0);
}

Test(migrate, a_version_6_store_gains_kept_and_its_packages_are_not_kept)
{
	struct dfs_actor me = { .uid = getuid(),
				.gid = getgid(),
				.pid = getpid() };
	struct dfs_attr dir, pkg;
	uint64_t p;
	char buf[8];

	FIXTURE_OK();
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	p = dfs_fixture_component(&fx, "process", "p");
	(void)dfs_fixture_put_text(&fx, p, "process.xml", "<process/>");
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_PACKAGES, "p", &dir), 0);
	cr_assert_eq(dfs_node_mkdir(fx.st, &me, dir.ino, "p@1", 0755, &pkg), 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	fx.st = dfs_store_free(fx.st);
	sql_exec(DROP_V7 "PRAGMA user_version = 6;");
	cr_assert_eq(user_version(), 6);

	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	cr_assert_eq(user_version(), dfs_store_schema_version());
	cr_assert_eq(sql_int("SELECT count(*) FROM packages WHERE kept = 0"),
		     1);
	/* The package is there, not kept; keeping it works. */
	cr_assert_eq(dfs_xattr_get(fx.st, pkg.ino, "user.deployfs.keep", buf,
				   sizeof(buf)),
		     -ENODATA);
	cr_assert_eq(dfs_xattr_set(fx.st, &me, dir.ino, "user.deployfs.keep",
				   "1", 1, 0),
		     0);
	cr_assert_eq(dfs_xattr_get(fx.st, pkg.ino, "user.deployfs.keep", buf,
				   sizeof(buf)),
		     1);
	cr_assert_eq(buf[0], '1');
	fx.st = dfs_store_free(fx.st);
}

Test(migrate, a_version_1_store_is_migrated_on_open)
{
	struct sample s;

	FIXTURE_OK();
	s = fill();
	materialize_inline_blobs();
	sql_exec(TO_V1);
	cr_assert_eq(user_version(), 1);
	cr_assert_eq(schema_has("index", "dirents_by_ino"), 0);

	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(user_version(), dfs_store_schema_version());
	cr_assert_eq(schema_has("index", "dirents_by_ino"), 1);
	check_sample(&s);
	/* Opening a migrated store again changes nothing. */
	cr_assert_eq(user_version(), dfs_store_schema_version());
	cr_assert_eq(schema_has("index", "dirents_by_ino"), 1);
}

Test(migrate, a_migrated_store_works_where_the_new_index_is_used)
{
	struct dfs_actor me = { .uid = getuid(),
				.gid = getgid(),
				.pid = getpid() };
	struct dfs_attr proc, a, b;

	FIXTURE_OK();
	materialize_inline_blobs();
	sql_exec(TO_V1);
	cr_assert_eq(dfs_store_open(fx.path, 0, &fx.st), 0,
		     "a plain (non-daemon) open migrates too");
	cr_assert_eq(user_version(), dfs_store_schema_version());
	/* Rename loop detection walks parents through dirents_by_ino. */
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_BUILD, "process", &proc),
		     0);
	cr_assert_eq(dfs_node_mkdir(fx.st, &me, proc.ino, "a", 0755, &a), 0);
	cr_assert_eq(dfs_node_mkdir(fx.st, &me, a.ino, "b", 0755, &b), 0);
	cr_assert_eq(dfs_node_rename(fx.st, proc.ino, "a", b.ino, "a", 0),
		     -EINVAL);
	cr_assert_eq(dfs_node_lookup(fx.st, proc.ino, "a", &b), 0);
	cr_assert_eq(b.ino, a.ino);
}

Test(migrate, a_failed_migration_refuses_to_open_and_changes_nothing)
{
	struct dfs_store *st = (struct dfs_store *)&fx;
	struct sample s;
	int rc;

	FIXTURE_OK();
	s = fill();
	materialize_inline_blobs();
	sql_exec(DROP_V3 "DROP INDEX dirents_by_ino;"
			 "CREATE TABLE dirents_by_ino (x);"
			 "INSERT INTO dirents_by_ino VALUES (42);"
			 "PRAGMA user_version = 1;");

	rc = dfs_store_open(fx.path, OPEN_FLAGS, &st);
	cr_assert_lt(rc, 0, "opened although the migration cannot run");
	cr_assert_neq(rc, -EBUSY);
	cr_assert_eq(st, (struct dfs_store *)&fx, "ret written on failure");
	cr_assert_eq(user_version(), 1, "user_version moved without the index");
	cr_assert_eq(schema_has("index", "dirents_by_ino"), 0);
	cr_assert_eq(schema_has("table", "dirents_by_ino"), 1);
	cr_assert_eq(sql_int("SELECT x FROM dirents_by_ino"), 42);
	cr_assert_eq(sql_int("SELECT count(*) FROM dirents"
			     " WHERE name = CAST('sftp-in' AS BLOB)"),
		     1);

	/* The same refusal again: the failed attempt left no half state. */
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &st), rc);
	cr_assert_eq(user_version(), 1);

	/* Once the obstacle is gone, the migration runs and data is whole. */
	sql_exec("DROP TABLE dirents_by_ino;");
	check_sample(&s);
	cr_assert_eq(user_version(), dfs_store_schema_version());
	cr_assert_eq(schema_has("index", "dirents_by_ino"), 1);
}
