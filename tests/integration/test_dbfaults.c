// SPDX-License-Identifier: MIT
/*
 * test_dbfaults.c - the store's database as a file that can be damaged,
 * emptied, or copied without its -wal: `deployctl fsck` must report it and
 * the daemon must refuse it (untouched, saying which file and what SQLite
 * found), and the database file must never lag far behind its WAL, so a
 * copy of it alone holds all but the last few seconds of commits.
 *
 * The checkpoint bound tested is the one docs/behaviour.md states:
 * BOUND_MS of commits, or BOUND_PAGES pages of them.  A copy of the
 * database file is taken with the daemon stopped (SIGSTOP), so that no
 * checkpoint writes it meanwhile, and used only if SQLite's quick_check
 * finds it sound.  Waits are polls with deadlines.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BOUND_MS 5000	  /* docs/behaviour.md: at most 5 s of commits */
#define BOUND_PAGES 1024  /* ... or 1024 pages of them */
#define SLACK_MS 15000	  /* a loaded machine, sanitizers */
#define DEADLINE_MS 20000 /* for anything else to happen */
#define MANY 2000	  /* the workload of small files */
/* Each file of 8 KiB (its own bytes: no two alike) commits at least 2
 * pages of them, so the bound in pages leaves at most BOUND_PAGES / 2
 * files out, plus those of the group commit still open (closes within
 * its 20 ms: docs/behaviour.md). */
#define MANY_LAG (BOUND_PAGES / 2 + 64)

static struct dfs_mount m;
static int setup_rc;
static pid_t reader_pid;   /* a sqlite3 holding a read transaction */
static int reader_fd = -1; /* its stdin */

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
}

static void stop_reader(void)
{
	if (reader_fd >= 0)
		close(reader_fd); /* EOF: sqlite3 ends its transaction */
	reader_fd = -1;
	if (reader_pid > 0)
		waitpid(reader_pid, NULL, 0);
	reader_pid = 0;
}

static void teardown(void)
{
	if (reader_pid > 0)
		kill(reader_pid, SIGKILL);
	stop_reader();
	dfs_mount_teardown(&m);
}

TestSuite(dbfaults, .init = setup, .fini = teardown, .timeout = 300);

/* Every entry under dir with its type, and the sha256 of every file. */
static void digest(const char *dir, char *out, size_t cap)
{
	cr_assert_eq(dfs_sh_out(&m, out, cap,
				"cd '%s' && find . -printf '%%y %%p\\n'"
				" | LC_ALL=C sort && find . -type f -print0 | "
				"LC_ALL=C sort -z | xargs -0 -r sha256sum",
				dir),
		     0, "digest of %s", dir);
}

/* deployfs on the store in its background mode: its exit status, its
 * stderr into err. */
static int run_deployfs(char *err, size_t cap)
{
	char path[PATH_MAX];
	ssize_t n;
	int rc;

	dfs_path(path, sizeof(path), "%s/stderr.txt", m.dir);
	rc = dfs_sh(&m,
		    "timeout 20 \"$DEPLOYFS\" \"$STORE\" \"$MNT\" >/dev/null "
		    "2>'%s'",
		    path);
	n = dfs_read_file(path, err, cap - 1);
	err[n > 0 ? n : 0] = '\0';
	return rc;
}

/* deployctl fsck of dir: its exit status, stdout and stderr into out. */
static int run_fsck(const char *dir, char *out, size_t cap)
{
	return dfs_sh_out(&m, out, cap, "\"$DEPLOYCTL\" fsck '%s' 2>&1", dir);
}

/* Page page (1-based) of the store's database overwritten with bytes
 * that look random (the same ones each run). */
static void scramble_page(long page)
{
	char db[PATH_MAX], out[64], buf[65536];
	uint64_t x = 0x9E3779B97F4A7C15ull;
	long size;
	int fd;

	size = strtol(dfs_out(&m, out, sizeof(out),
			      "sqlite3 \"$STORE/deployfs.db\" "
			      "'PRAGMA page_size'"),
		      NULL, 10);
	cr_assert(size >= 512 && size <= (long)sizeof(buf), "page size %ld",
		  size);
	for (long i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (char)(x >> 24);
	}
	dfs_path(db, sizeof(db), "%s/deployfs.db", m.store);
	fd = open(db, O_WRONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", db, strerror(errno));
	cr_assert_eq(pwrite(fd, buf, (size_t)size, (page - 1) * size), size);
	cr_assert_eq(close(fd), 0);
}

/* A store with rows in every table the audit trail touches, unmounted:
 * the workspace, a package and an environment. */
static void store_with_rows(void)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0);
	dfs_ok(&m, "mkdir \"$MNT/packages/order-sync/order-sync@1\" "
		   "\"$MNT/environments/test\"");
	cr_assert_eq(dfs_mount_stop(&m), 0, "daemon status %d",
		     m.daemon_status);
}

/* Damage the store with scramble_page(page); fsck must report it and
 * exit 1; mounting must fail, naming the database and quoting SQLite
 * (both say expect), and change no byte of the store. */
static void expect_damage_seen(long page, const char *expect)
{
	static char before[65536], after[65536], out[65536];
	char db[PATH_MAX], err[4096];
	int rc;

	scramble_page(page);
	digest(m.store, before, sizeof(before));
	dfs_path(db, sizeof(db), "%s/deployfs.db", m.store);

	rc = run_fsck(m.store, out, sizeof(out));
	cr_expect_eq(rc, 1, "fsck exit %d:\n%s", rc, out);
	cr_expect(strstr(out, "database "), "no database problem:\n%s", out);
	cr_expect(strstr(out, expect), "fsck does not say \"%s\":\n%s", expect,
		  out);

	rc = run_deployfs(err, sizeof(err));
	cr_expect_eq(rc, 1, "deployfs exit %d, stderr: %s", rc, err);
	cr_expect_not(dfs_is_mounted(m.mnt), "it mounted anyway");
	cr_expect(strstr(err, db), "stderr does not name %s: %s", db, err);
	cr_expect(strstr(err, expect), "stderr does not say \"%s\": %s", expect,
		  err);
	digest(m.store, after, sizeof(after));
	cr_expect_str_eq(after, before, "the store changed");
}

Test(dbfaults, a_damaged_table_page_is_reported_and_refused_untouched)
{
	char out[64], expect[64];
	long page;

	store_with_rows();
	/* The packages table's page: it holds the row of the package just
	 * made, and opening the store reads nothing from it. */
	page = strtol(dfs_out(&m, out, sizeof(out),
			      "sqlite3 \"$STORE/deployfs.db\" \"SELECT "
			      "rootpage FROM sqlite_schema WHERE name = "
			      "'packages'\""),
		      NULL, 10);
	cr_assert_gt(page, 1);
	snprintf(expect, sizeof(expect), "Page %ld: ", page);
	expect_damage_seen(page, expect);
}

Test(dbfaults, a_damaged_header_is_reported_and_refused_untouched)
{
	store_with_rows();
	expect_damage_seen(1, "file is not a database");
}

Test(dbfaults, an_empty_database_is_called_empty)
{
	static char before[65536], after[65536];
	char err[4096], out[4096];
	int rc;

	store_with_rows();
	dfs_ok(&m, ": >\"$STORE/deployfs.db\"");
	digest(m.store, before, sizeof(before));

	rc = run_fsck(m.store, out, sizeof(out));
	cr_expect_eq(rc, 1, "fsck exit %d:\n%s", rc, out);
	cr_expect(strstr(out, "is empty (0 bytes)"), "fsck:\n%s", out);
	rc = run_deployfs(err, sizeof(err));
	cr_expect_eq(rc, 1, "deployfs exit %d, stderr: %s", rc, err);
	cr_expect_not(dfs_is_mounted(m.mnt), "it mounted anyway");
	cr_expect(strstr(err, "deployfs.db\" is empty (0 bytes)"), "stderr: %s",
		  err);
	cr_expect_not(strstr(err, "no deployfs.db"), "stderr: %s", err);
	digest(m.store, after, sizeof(after));
	cr_expect_str_eq(after, before, "the store changed");
}

/* A copy of the database file alone in $DIR/snap (no -wal beside it),
 * taken while the daemon is stopped: 0 if SQLite finds it sound. */
static int copy_main_file(void)
{
	return dfs_sh(&m,
		      "rm -rf \"$DIR/snap\" && mkdir \"$DIR/snap\" && "
		      "kill -STOP %d && { cp \"$STORE/deployfs.db\" "
		      "\"$DIR/snap/\"; rc=$?; kill -CONT %d; [ $rc = 0 ]; } && "
		      "[ \"$(sqlite3 \"$DIR/snap/deployfs.db\" "
		      "'PRAGMA quick_check' 2>&1)\" = ok ]",
		      (int)m.pid, (int)m.pid);
}

/* The number sql returns from the copy of the database file alone, or
 * -1 when no sound copy could be taken before the deadline. */
static long main_file_count(const char *sql)
{
	long deadline = dfs_now_ms() + DEADLINE_MS;
	char out[64];

	while (copy_main_file() != 0) {
		if (dfs_now_ms() > deadline)
			return -1;
		dfs_sleep_ms(10);
	}
	if (dfs_sh_out(&m, out, sizeof(out),
		       "sqlite3 \"$DIR/snap/deployfs.db\" \"%s\"", sql) != 0)
		return -1;
	return strtol(out, NULL, 10);
}

/* Poll until the database file alone holds want of sql; the ms it took,
 * or -1 past BOUND_MS + SLACK_MS.  *ret_got: the last count seen. */
static long wait_main_file(const char *sql, long want, long *ret_got)
{
	long start = dfs_now_ms();

	for (;;) {
		*ret_got = main_file_count(sql);
		if (*ret_got == want)
			return dfs_now_ms() - start;
		if (dfs_now_ms() - start > BOUND_MS + SLACK_MS)
			return -1;
		dfs_sleep_ms(50);
	}
}

Test(dbfaults, the_database_file_is_at_most_seconds_behind_its_wal)
{
	static const char many_sql[] =
		"SELECT count(*) FROM dirents WHERE parent ="
		" (SELECT ino FROM dirents WHERE name = CAST('many' AS BLOB))";
	char kept_sql[512];
	long audit, got, took, lag;

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0);
	dfs_ok(&m, "mkdir \"$MNT/packages/order-sync/order-sync@1\" "
		   "\"$MNT/environments/test\"");
	audit = dfs_audit_lines(&m);
	cr_assert_geq(audit, 2);
	snprintf(
		kept_sql, sizeof(kept_sql),
		"SELECT (SELECT count(*) FROM packages WHERE CAST(version AS TEXT) = '1')"
		" + (SELECT count(*) FROM envs WHERE CAST(name AS TEXT) = 'test')"
		" + ((SELECT count(*) FROM audit) >= %ld)",
		audit);

	/* Few commits: the time bound brings them into the file. */
	took = wait_main_file(kept_sql, 3, &got);
	cr_expect_geq(took, 0,
		      "after %d ms the database file alone still lacks the "
		      "package, the environment or their %ld audit rows "
		      "(%ld of 3 found)",
		      BOUND_MS + SLACK_MS, audit, got);

	/* Many small files: the bound in pages keeps the file close
	 * behind while they are written, the time bound brings in the
	 * rest. */
	dfs_ok(&m,
	       "mkdir \"$BUILD/process/order-sync/many\" && "
	       "cd \"$BUILD/process/order-sync/many\" && i=0 && "
	       "while [ $i -lt %d ]; do i=$((i+1)); "
	       "printf '%%08192d' $i >f$i || exit 1; done",
	       MANY);
	got = main_file_count(many_sql);
	cr_assert_geq(got, 0, "no sound copy of the database file");
	lag = MANY - got;
	cr_expect_leq(lag, MANY_LAG,
		      "right after %d creates the database file alone lacks "
		      "%ld of them (bound: %d pages, at most %d creates)",
		      MANY, lag, BOUND_PAGES, MANY_LAG);
	took = wait_main_file(many_sql, MANY, &got);
	cr_expect_geq(took, 0,
		      "%d ms after the last create the database file alone "
		      "holds %ld of %d",
		      BOUND_MS + SLACK_MS, got, MANY);
}

/* Poll until daemon.log holds text; false past the deadline. */
static bool daemon_logged(const char *text)
{
	long deadline = dfs_now_ms() + BOUND_MS + SLACK_MS;

	while (dfs_sh(&m, "grep -qF '%s' \"$DIR/daemon.log\"", text) != 0) {
		if (dfs_now_ms() > deadline)
			return false;
		dfs_sleep_ms(50);
	}
	return true;
}

/* A sqlite3 process holding a read transaction on the store's database,
 * begun now: until stop_reader(), no checkpoint can copy past it. */
static void start_reader(void)
{
	char fifo[PATH_MAX], ready[PATH_MAX], db[PATH_MAX];
	long deadline = dfs_now_ms() + DEADLINE_MS;
	pid_t pid;

	dfs_path(fifo, sizeof(fifo), "%s/reader.in", m.dir);
	dfs_path(ready, sizeof(ready), "%s/reader.out", m.dir);
	dfs_path(db, sizeof(db), "%s/deployfs.db", m.store);
	cr_assert_eq(mkfifo(fifo, 0600), 0, "%s", strerror(errno));
	/* Read-write, so neither end waits for the other to open; close on
	 * exec, so the daemon started later does not keep it open. */
	reader_fd = open(fifo, O_RDWR | O_CLOEXEC);
	cr_assert_geq(reader_fd, 0, "%s", strerror(errno));
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int in = open(fifo, O_RDONLY);
		int null = open("/dev/null", O_WRONLY);

		if (in < 0 || null < 0 || dup2(in, 0) < 0 ||
		    dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(126);
		execlp("sqlite3", "sqlite3", db, (char *)NULL);
		_exit(127);
	}
	reader_pid = pid;
	dprintf(reader_fd,
		"BEGIN;\n.once %s\nSELECT 'reading', count(*) FROM inodes;\n",
		ready);
	while (dfs_sh(&m, "grep -q reading '%s'", ready) != 0) {
		cr_assert_leq(dfs_now_ms(), deadline,
			      "sqlite3 did not start reading");
		dfs_sleep_ms(20);
	}
}

Test(dbfaults, a_copy_without_its_wal_is_older_than_its_files)
{
	static char out[1 << 16];
	char path[PATH_MAX], data[100000];
	long deadline;
	int fd, rc;

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_mount_stop(&m), 0);
	/* A reader (say a backup tool) from before the mount: while it
	 * reads, nothing can be checkpointed into the database file. */
	start_reader();
	cr_assert_eq(dfs_mount_start(&m), 0);

	/* Files too large to be kept in the database: blob files. */
	dfs_ok(&m, "mkdir \"$BUILD/process/big\" && cd \"$BUILD/process/big\""
		   " && for i in 1 2 3 4 5 6 7 8 9 10 11 12; do "
		   "head -c 100000 /dev/urandom >f$i || exit 1; done");
	deadline = dfs_now_ms() + DEADLINE_MS;
	while (dfs_sh(&m,
		      "[ $(find \"$STORE/blobs\" -type f | wc -l) -ge 13 ]")) {
		cr_assert_leq(dfs_now_ms(), deadline,
			      "the files were not sealed");
		dfs_sleep_ms(50);
	}
	/* And one still open: its work file. */
	dfs_path(path, sizeof(path), "%s/process/big/open.bin", m.build);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "%s", strerror(errno));
	memset(data, 'w', sizeof(data));
	cr_assert_eq(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	cr_assert_eq(dfs_sh(&m, "[ -n \"$(ls \"$STORE/work\")\" ]"), 0,
		     "no work file for the open file");

	/* The backup: the store folder without its -wal (and -shm). */
	dfs_ok(&m, "mkdir \"$DIR/copy\" && cd \"$STORE\" && cp -a blobs work "
		   "lock deployfs.db \"$DIR/copy/\"");
	cr_expect(daemon_logged("past the bound"),
		  "the daemon did not log that its checkpoints were blocked");
	cr_assert_eq(close(fd), 0);
	stop_reader();
	cr_expect(daemon_logged("has caught up"),
		  "the daemon did not log that it caught up");

	dfs_path(path, sizeof(path), "%s/copy", m.dir);
	rc = run_fsck(path, out, sizeof(out));
	cr_expect_eq(rc, 1, "fsck exit %d:\n%s", rc, out);
	cr_expect(strstr(out, "stale-database deployfs.db: 12 blob files and "
			      "1 work file are named by no row"),
		  "no summary of the orphans:\n%s", out);
	cr_expect(strstr(out, "the database looks older than its files"),
		  "fsck:\n%s", out);
	cr_expect(strstr(out, "names an inode the database never made"),
		  "fsck:\n%s", out);
}
