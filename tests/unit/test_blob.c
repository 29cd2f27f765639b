// SPDX-License-Identifier: MIT
/*
 * test_blob.c - unit tests of content blobs: hashing, durable and
 * deduplicated writes (also when the I/O seam makes fsync, link or write
 * fail), sealing of files written through the file API, fsck (a blob of
 * the registry not fetched yet is fine), and the check of a blob against
 * its name before its bytes are served (a flipped byte, a cut or a
 * missing file is EIO; once per open store).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deployfs/store.h"
#include "fixture.h"
/* The set of blobs found good is storage's own: tested directly. */
#include "../../store/storage/storage.h"

static struct dfs_fixture fx;

/* These tests are about blob files: keep small content out of the
 * database (test_inline covers that path). */
#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER | DFS_OPEN_NO_INLINE)
#define EMPTY_HEX "99aa06d3014798d86001c324468d497f"

static void setup(void)
{
	dfs_fixture_setup(&fx, "blob", OPEN_FLAGS);
}

static void teardown(void)
{
	dfs_io_fail_at("fsync", 0, 0);
	dfs_io_fail_at("link", 0, 0);
	dfs_io_fail_at("write", 0, 0);
	dfs_fixture_teardown(&fx);
}

TestSuite(blob, .init = setup, .fini = teardown, .timeout = 60);

static const struct dfs_actor *me(void)
{
	static struct dfs_actor a;

	a.uid = getuid();
	a.gid = getgid();
	a.pid = getpid();
	return &a;
}

/* Regular files under blobs/XX/ (blob_files) and elsewhere in blobs/. */
struct blob_count {
	unsigned blob_files;
	unsigned loose; /* temporary files at the top of blobs/ */
};

static struct blob_count count_blobs(void)
{
	struct blob_count c = { 0, 0 };
	char dir[256], sub[600];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/blobs", fx.path);
	d = opendir(dir);
	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		struct dirent *e;
		DIR *s;

		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_DIR) {
			c.loose++;
			continue;
		}
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		s = opendir(sub);
		cr_assert_not_null(s);
		while ((e = readdir(s)))
			if (e->d_name[0] != '.')
				c.blob_files++;
		closedir(s);
	}
	closedir(d);
	return c;
}

static void blob_path(const struct dfs_hash *h, char *out, size_t cap)
{
	char hex[DFS_HASH_HEX];

	dfs_hash_hex(h, hex);
	snprintf(out, cap, "%s/blobs/%.2s/%s", fx.path, hex, hex);
}

/* The hash of len bytes, computed apart from the store (memfd). */
static struct dfs_hash hash_of(const void *data, size_t len)
{
	struct dfs_hash h;
	int fd = memfd_create("hash", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	cr_assert_eq(dfs_hash_fd(fd, &h), 0);
	close(fd);
	return h;
}

static uint64_t new_file(const char *name)
{
	struct dfs_attr a;

	cr_assert_eq(dfs_node_mknod(fx.st, me(), fx.proc, name, S_IFREG | 0644,
				    0, &a),
		     0, "mknod %s", name);
	return a.ino;
}

static void write_file(uint64_t ino, const void *data, size_t len)
{
	struct dfs_file *f = NULL;
	int fd;

	cr_assert_eq(dfs_file_open(fx.st, ino, O_WRONLY | O_TRUNC, &f), 0);
	fd = dfs_file_fd_get(f);
	cr_assert_eq(pwrite(fd, data, len, 0), (ssize_t)len);
	dfs_file_fd_put(fx.st, f, true, len);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
}

static void check_content(uint64_t ino, const void *data, size_t len)
{
	struct dfs_file *f = NULL;
	struct dfs_attr a;
	char buf[256];
	ssize_t n;

	cr_assert_leq(len, sizeof(buf));
	cr_assert_eq(dfs_node_getattr(fx.st, ino, &a), 0);
	cr_assert_eq(a.size, len, "size %llu", (unsigned long long)a.size);
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), 0);
	n = pread(dfs_file_fd_get(f), buf, sizeof(buf), 0);
	dfs_file_fd_put(fx.st, f, false, 0);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	cr_assert_eq(n, (ssize_t)len);
	cr_assert_arr_eq(buf, data, len);
}

/* ---- hashing and putting ------------------------------------------ */

Test(blob, the_same_bytes_put_twice_are_stored_once)
{
	static const char text[] = "<process name=\"orders\"/>\n";
	struct dfs_hash h1, h2;
	struct blob_count before, after;
	char path[512], buf[64];
	struct stat sb;
	int fd;

	FIXTURE_OK();
	before = count_blobs();
	cr_assert_eq(before.blob_files, 1, "a new store holds the empty blob");
	cr_assert_eq(dfs_blob_put(fx.st, text, strlen(text), &h1), 0);
	cr_assert_eq(dfs_blob_put(fx.st, text, strlen(text), &h2), 0);
	cr_assert_arr_eq(h1.b, h2.b, DFS_HASH_LEN);

	after = count_blobs();
	cr_assert_eq(after.blob_files, 2);
	cr_assert_eq(after.loose, 0);
	blob_path(&h1, path, sizeof(path));
	cr_assert_eq(stat(path, &sb), 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(sb.st_size, (off_t)strlen(text));
	cr_assert_eq(sb.st_nlink, 1);

	fd = dfs_blob_open(fx.st, &h1);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, sizeof(buf), 0), (ssize_t)strlen(text));
	cr_assert_arr_eq(buf, text, strlen(text));
	close(fd);
}

Test(blob, different_bytes_get_different_hashes)
{
	struct dfs_hash a, b, c;

	FIXTURE_OK();
	cr_assert_eq(dfs_blob_put(fx.st, "alpha", 5, &a), 0);
	cr_assert_eq(dfs_blob_put(fx.st, "alphb", 5, &b), 0);
	cr_assert_eq(dfs_blob_put(fx.st, "alpha\n", 6, &c), 0);
	cr_assert_arr_neq(a.b, b.b, DFS_HASH_LEN);
	cr_assert_arr_neq(a.b, c.b, DFS_HASH_LEN);
	cr_assert_arr_neq(b.b, c.b, DFS_HASH_LEN);
	cr_assert_eq(count_blobs().blob_files, 4);
}

Test(blob, hash_fd_matches_the_hash_of_blob_put)
{
	static char big[3 << 20]; /* more than one hashing chunk */
	struct dfs_hash put, got;
	int fd;

	FIXTURE_OK();
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + (i >> 12));
	cr_assert_eq(dfs_blob_put(fx.st, big, sizeof(big), &put), 0);
	got = hash_of(big, sizeof(big));
	cr_assert_arr_eq(got.b, put.b, DFS_HASH_LEN);

	fd = dfs_blob_open(fx.st, &put);
	cr_assert_geq(fd, 0);
	cr_assert_eq(lseek(fd, 12345, SEEK_SET), 12345);
	cr_assert_eq(dfs_hash_fd(fd, &got), 0, "hashes from offset 0");
	cr_assert_arr_eq(got.b, put.b, DFS_HASH_LEN);
	close(fd);
}

Test(blob, hash_hex_and_parse_round_trip_and_parse_rejects_bad_hex)
{
	static const char *const bad[] = {
		"",
		"99aa06d3014798d86001c324468d497",   /* 31 digits */
		"99aa06d3014798d86001c324468d497f0", /* 33 digits */
		"99aa06d3014798d86001c324468d497g",
		"99aa06d3014798d86001c324468d497 ",
		"-9aa06d3014798d86001c324468d497f",
		"99AA06D3014798D86001C324468D497F", /* names are lowercase */
	};
	struct dfs_hash h, back, untouched;
	char hex[DFS_HASH_HEX], again[DFS_HASH_HEX];

	FIXTURE_OK();
	for (int i = 0; i < DFS_HASH_LEN; i++)
		h.b[i] = (uint8_t)(i * 17 + 3);
	dfs_hash_hex(&h, hex);
	cr_assert_eq(strlen(hex), 32);
	cr_assert_str_eq(hex, "031425364758697a8b9cadbecfe0f102");
	cr_assert_eq(dfs_hash_parse(hex, &back), 0);
	cr_assert_arr_eq(back.b, h.b, DFS_HASH_LEN);
	dfs_hash_hex(&back, again);
	cr_assert_str_eq(again, hex);

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(&untouched, 0x5a, sizeof(untouched));
		cr_assert_eq(dfs_hash_parse(bad[i], &untouched), -EINVAL,
			     "accepted \"%s\"", bad[i]);
		for (int j = 0; j < DFS_HASH_LEN; j++)
			cr_assert_eq(untouched.b[j], 0x5a,
				     "ret written for \"%s\"", bad[i]);
	}
}

Test(blob, the_empty_content_hash_is_fixed)
{
	struct dfs_hash put, parsed, file;
	char hex[DFS_HASH_HEX];
	uint64_t ino;

	FIXTURE_OK();
	cr_assert_eq(dfs_blob_put(fx.st, "", 0, &put), 0);
	dfs_hash_hex(&put, hex);
	cr_assert_str_eq(hex, EMPTY_HEX);
	parsed = hash_of("", 0);
	cr_assert_arr_eq(parsed.b, put.b, DFS_HASH_LEN);
	cr_assert_eq(count_blobs().blob_files, 1);

	ino = new_file("empty.xml");
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &file), 0);
	cr_assert_arr_eq(file.b, put.b, DFS_HASH_LEN);
}

/* ---- durability through the I/O seam ------------------------------------ */

/* Arm step, check dfs_blob_put fails with -EIO and leaves nothing. */
static void put_fails_cleanly(const char *step)
{
	static const char text[] = "bytes that never become a blob";
	struct dfs_hash h, want = hash_of(text, strlen(text));
	struct blob_count before = count_blobs(), after;
	char path[512];

	memset(&h, 0x5a, sizeof(h));
	dfs_io_fail_at(step, 1, EIO);
	cr_assert_eq(dfs_blob_put(fx.st, text, strlen(text), &h), -EIO,
		     "%s failure not reported", step);
	dfs_io_fail_at(step, 0, 0);
	cr_assert_eq(h.b[0], 0x5a, "ret written on failure");

	after = count_blobs();
	cr_assert_eq(after.blob_files, before.blob_files,
		     "a blob was left after a failed %s", step);
	cr_assert_eq(after.loose, 0, "a temporary file was left after %s",
		     step);
	blob_path(&want, path, sizeof(path));
	cr_assert_eq(access(path, F_OK), -1);
	cr_assert_eq(dfs_blob_open(fx.st, &want), -ENOENT);

	/* Disarmed, the same put succeeds. */
	cr_assert_eq(dfs_blob_put(fx.st, text, strlen(text), &h), 0);
	cr_assert_arr_eq(h.b, want.b, DFS_HASH_LEN);
	cr_assert_eq(access(path, F_OK), 0);
	cr_assert_eq(count_blobs().blob_files, before.blob_files + 1);
	cr_assert_eq(count_blobs().loose, 0);
}

Test(blob, a_failed_fsync_leaves_no_blob_and_no_temporary_file)
{
	FIXTURE_OK();
	put_fails_cleanly("fsync");
}

Test(blob, a_failed_link_leaves_no_blob_and_no_temporary_file)
{
	FIXTURE_OK();
	put_fails_cleanly("link");
}

Test(blob, a_failed_write_leaves_no_blob_and_no_temporary_file)
{
	FIXTURE_OK();
	put_fails_cleanly("write");
}

/* ---- sealing files ------------------------------------------------------ */

Test(blob, identical_files_share_one_blob_after_sync)
{
	static const char text[] = "shared = true\n";
	struct dfs_hash h1, h2, other, want = hash_of(text, strlen(text));
	uint64_t a, b, c;
	char path[512];
	struct stat sb;

	FIXTURE_OK();
	a = new_file("a.conf");
	b = new_file("b.conf");
	c = new_file("c.conf");
	write_file(a, text, strlen(text));
	write_file(b, text, strlen(text));
	write_file(c, "different\n", 10);
	cr_assert_eq(dfs_store_sync(fx.st), 0);

	cr_assert_eq(dfs_node_content_hash(fx.st, a, &h1), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, b, &h2), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, c, &other), 0);
	cr_assert_arr_eq(h1.b, want.b, DFS_HASH_LEN);
	cr_assert_arr_eq(h2.b, h1.b, DFS_HASH_LEN);
	cr_assert_arr_neq(other.b, h1.b, DFS_HASH_LEN);
	cr_assert_eq(count_blobs().blob_files, 3, "empty, shared, different");

	blob_path(&h1, path, sizeof(path));
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_size, (off_t)strlen(text));
	check_content(a, text, strlen(text));
	check_content(b, text, strlen(text));
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
}

Test(blob, a_failed_seal_keeps_the_work_file_and_a_later_sync_seals_it)
{
	static const char text[] = "<map/>\n";
	struct dfs_hash h, want = hash_of(text, strlen(text));
	char work[512];
	uint64_t ino;

	FIXTURE_OK();
	ino = new_file("m.xml");
	write_file(ino, text, strlen(text));
	dfs_io_fail_at("fsync", 1, EIO);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	dfs_io_fail_at("fsync", 0, 0);

	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &h), -EAGAIN,
		     "sealed although syncfs failed");
	snprintf(work, sizeof(work), "%s/work/%llu", fx.path,
		 (unsigned long long)ino);
	cr_assert_eq(access(work, F_OK), 0, "the work file is gone");
	check_content(ino, text, strlen(text));

	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &h), 0,
		     "a later dfs_store_sync() did not seal the file");
	cr_assert_arr_eq(h.b, want.b, DFS_HASH_LEN);
	cr_assert_eq(access(work, F_OK), -1);
	check_content(ino, text, strlen(text));
}

Test(blob, a_failed_seal_is_sealed_after_reopen)
{
	static const char text[] = "<map/>\n";
	struct dfs_hash h, want = hash_of(text, strlen(text));
	uint64_t ino;

	FIXTURE_OK();
	ino = new_file("m.xml");
	write_file(ino, text, strlen(text));
	dfs_io_fail_at("link", 1, EIO);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	dfs_io_fail_at("link", 0, 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &h), -EAGAIN);
	check_content(ino, text, strlen(text));

	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &h), 0);
	cr_assert_arr_eq(h.b, want.b, DFS_HASH_LEN);
	check_content(ino, text, strlen(text));
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
}

/* ---- fsck --------------------------------------------------------------- */

struct problems {
	char kind[8][32];
	char what[8][300];
	size_t n;
	int total;
};

static void record(void *ctx, const struct dfs_fsck_problem *p)
{
	struct problems *ps = ctx;

	ps->total++;
	if (ps->n == 8)
		return;
	snprintf(ps->kind[ps->n], sizeof(ps->kind[0]), "%s", p->kind);
	snprintf(ps->what[ps->n], sizeof(ps->what[0]), "%s", p->what);
	ps->n++;
}

/* A sealed file holding text; its blob's path into path. */
static struct dfs_hash sealed_file(const char *text, char *path, size_t cap)
{
	struct dfs_hash h;
	uint64_t ino = new_file("sealed.conf");

	write_file(ino, text, strlen(text));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &h), 0);
	blob_path(&h, path, cap);
	cr_assert_eq(dfs_store_fsck(fx.st, NULL, NULL), 0);
	return h;
}

Test(blob, fsck_finds_nothing_in_a_clean_store)
{
	struct problems ps = { .n = 0 };
	char path[512];

	FIXTURE_OK();
	cr_assert_eq(dfs_store_fsck(fx.st, record, &ps), 0);
	cr_assert_eq(ps.total, 0);
	(void)sealed_file("clean\n", path, sizeof(path));
	cr_assert_eq(dfs_store_fsck(fx.st, record, &ps), 0);
	cr_assert_eq(ps.total, 0, "first: %s %s", ps.kind[0], ps.what[0]);
}

Test(blob, fsck_reports_a_corrupt_blob)
{
	struct problems ps = { .n = 0 };
	char path[512], hex[DFS_HASH_HEX];
	struct dfs_hash h;
	int fd;

	FIXTURE_OK();
	h = sealed_file("the original bytes\n", path, sizeof(path));
	dfs_hash_hex(&h, hex);
	cr_assert_eq(chmod(path, 0600), 0);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(pwrite(fd, "THE", 3, 0), 3);
	close(fd);

	cr_assert_gt(dfs_store_fsck(fx.st, record, &ps), 0);
	cr_assert_eq(ps.total, 1);
	cr_assert_str_eq(ps.kind[0], "corrupt");
	cr_assert_str_eq(ps.what[0], hex);
}

Test(blob, fsck_reports_a_missing_blob)
{
	struct problems ps = { .n = 0 };
	char path[512], hex[DFS_HASH_HEX];
	struct dfs_hash h;

	FIXTURE_OK();
	h = sealed_file("soon gone\n", path, sizeof(path));
	dfs_hash_hex(&h, hex);
	cr_assert_eq(unlink(path), 0);

	cr_assert_eq(dfs_store_fsck(fx.st, record, &ps), 1);
	cr_assert_eq(ps.total, 1);
	cr_assert_str_eq(ps.kind[0], "missing");
	cr_assert_str_eq(ps.what[0], hex);
}

/* A blob of the registry not fetched yet (model/regfetch.c) has a row in
 * blob_remote and no file: not missing, and only such a one. */
Test(blob, fsck_takes_a_blob_of_the_registry_not_fetched_yet_as_fine)
{
	struct problems ps = { .n = 0 };
	char path[512], hex[DFS_HASH_HEX], *sql;
	struct dfs_hash h;

	FIXTURE_OK();
	h = sealed_file("fetched on first read\n", path, sizeof(path));
	dfs_hash_hex(&h, hex);
	cr_assert_eq(unlink(path), 0);
	pthread_mutex_lock(&fx.st->lock);
	cr_assert_eq(dfs_blob_is_remote(fx.st, &h), 0);
	sql = sqlite3_mprintf("INSERT INTO blob_remote VALUES (x'%s')", hex);
	cr_assert_eq(sqlite3_exec(fx.st->db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_free(sql);
	cr_assert_eq(dfs_blob_is_remote(fx.st, &h), 1);
	pthread_mutex_unlock(&fx.st->lock);
	cr_assert_eq(dfs_store_fsck(fx.st, record, &ps), 0);
	cr_assert_eq(ps.total, 0, "first: %s %s", ps.kind[0], ps.what[0]);
}

Test(blob, fsck_reports_an_orphan_blob_file)
{
	static const char name[] = "ab0123456789abcdef0123456789abcd";
	struct problems ps = { .n = 0 };
	char path[512];
	int fd;

	FIXTURE_OK();
	snprintf(path, sizeof(path), "%s/blobs/ab/%s", fx.path, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "stray", 5), 5);
	close(fd);

	cr_assert_eq(dfs_store_fsck(fx.st, record, &ps), 1);
	cr_assert_eq(ps.total, 1);
	cr_assert_str_eq(ps.kind[0], "orphan");
	cr_assert_not_null(strstr(ps.what[0], name), "what: %s", ps.what[0]);
	cr_assert_eq(access(path, F_OK), 0, "fsck must not delete");
}

/* ---- checking blobs against their names --------------------------------- */

/* Close the store and open it again: a fresh set of blobs found good. */
static void reopen(void)
{
	fx.st = dfs_store_free(fx.st);
	cr_assert_eq(dfs_store_open(fx.path, OPEN_FLAGS, &fx.st), 0);
}

/* A blob file of len pattern bytes, put by the store; its path too. */
static struct dfs_hash put_pattern(char *buf, size_t len, char *path,
				   size_t cap)
{
	struct dfs_hash h;

	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 7 + i / 4096);
	cr_assert_eq(dfs_blob_put(fx.st, buf, len, &h), 0);
	blob_path(&h, path, cap);
	return h;
}

/* Flip the byte at off of the (read-only) file at path. */
static void flip_byte_at(const char *path, off_t off)
{
	unsigned char c;
	int fd;

	cr_assert_eq(chmod(path, 0600), 0);
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x01;
	cr_assert_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

#define CHECK_LEN (300 * 1024)

Test(blob, verify_accepts_an_intact_blob_file)
{
	static char buf[CHECK_LEN];
	char path[512];
	struct dfs_hash h;

	FIXTURE_OK();
	h = put_pattern(buf, sizeof(buf), path, sizeof(path));
	reopen();
	cr_assert_eq(dfs_blob_verify(fx.st, &h, sizeof(buf)), 0);
	cr_assert_eq(dfs_blob_verify(fx.st, &dfs_empty_hash, 0), 0);
}

Test(blob, verify_refuses_a_flipped_byte_each_time_until_repaired)
{
	static char buf[CHECK_LEN];
	char path[512];
	struct dfs_hash h;

	FIXTURE_OK();
	h = put_pattern(buf, sizeof(buf), path, sizeof(path));
	reopen();
	flip_byte_at(path, CHECK_LEN / 2);
	cr_assert_eq(dfs_blob_verify(fx.st, &h, sizeof(buf)), -EIO);
	/* A damaged blob is not remembered: it is read again. */
	cr_assert_eq(dfs_blob_verify(fx.st, &h, sizeof(buf)), -EIO);
	flip_byte_at(path, CHECK_LEN / 2);
	cr_assert_eq(dfs_blob_verify(fx.st, &h, sizeof(buf)), 0);
}

Test(blob, verify_refuses_a_truncated_blob_and_a_wrong_size)
{
	static char buf[CHECK_LEN];
	char path[512];
	struct dfs_hash h;

	FIXTURE_OK();
	h = put_pattern(buf, sizeof(buf), path, sizeof(path));
	reopen();
	cr_assert_eq(dfs_blob_verify(fx.st, &h, sizeof(buf) + 1), -EIO,
		     "the size recorded is checked too");
	cr_assert_eq(truncate(path, 100), 0);
	cr_assert_eq(dfs_blob_verify(fx.st, &h, sizeof(buf)), -EIO);
	cr_assert_eq(dfs_blob_verify(fx.st, &h, 100), -EIO,
		     "100 bytes that do not hash to its name");
}

Test(blob, verify_refuses_a_missing_blob)
{
	static char buf[CHECK_LEN];
	char path[512];
	struct dfs_hash h;

	FIXTURE_OK();
	h = put_pattern(buf, sizeof(buf), path, sizeof(path));
	reopen();
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(dfs_blob_verify(fx.st, &h, sizeof(buf)), -EIO);
}

Test(blob, a_blob_found_good_is_checked_once_per_open_store)
{
	static char buf[CHECK_LEN];
	char path[512];
	struct dfs_hash h;

	FIXTURE_OK();
	h = put_pattern(buf, sizeof(buf), path, sizeof(path));
	reopen();
	cr_assert_eq(dfs_blob_verify(fx.st, &h, sizeof(buf)), 0);
	flip_byte_at(path, 0);
	cr_assert_eq(dfs_blob_verify(fx.st, &h, sizeof(buf)), 0,
		     "found good once: not read again while open");
	reopen();
	cr_assert_eq(dfs_blob_verify(fx.st, &h, sizeof(buf)), -EIO);
}

Test(blob, opening_a_file_on_a_damaged_blob_is_eio_and_changes_nothing)
{
	static char buf[CHECK_LEN];
	struct dfs_file *f = NULL;
	struct dfs_hash h, after;
	char path[512];
	uint64_t ino;

	FIXTURE_OK();
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i % 251);
	ino = new_file("big.bin");
	write_file(ino, buf, sizeof(buf));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &h), 0);
	blob_path(&h, path, sizeof(path));
	reopen();
	flip_byte_at(path, 12345);
	/* Sealed with a chunk list: open checks its size, the read what
	 * it serves (test_chunks covers that). */
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), 0);
	cr_assert_eq(dfs_file_fd_get_range(fx.st, f, 0, 4096), -EIO);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDWR, &f), -EIO,
		     "its bytes would be copied into a work file");
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &after), 0);
	cr_assert_arr_eq(after.b, h.b, DFS_HASH_LEN, "the file still names it");
	/* Writing it anew serves none of its old bytes. */
	cr_assert_eq(dfs_file_open(fx.st, ino, O_WRONLY | O_TRUNC, &f), 0);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
}

Test(blob, opening_a_file_whose_blob_is_missing_is_eio_not_enoent)
{
	static char buf[CHECK_LEN];
	struct dfs_file *f = NULL;
	char path[512];
	struct dfs_hash h;
	uint64_t ino;

	FIXTURE_OK();
	memset(buf, 'x', sizeof(buf));
	ino = new_file("gone.bin");
	write_file(ino, buf, sizeof(buf));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, ino, &h), 0);
	blob_path(&h, path, sizeof(path));
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), -EIO);
}

/* The set of blobs found good (storage's own, tested directly). */
Test(blob, the_set_of_good_blobs_holds_many_and_only_those)
{
	enum { N = 50000 };
	struct dfs_hash h;

	FIXTURE_OK();
	for (uint32_t i = 0; i < N; i++) {
		dfs_hash_buf(&i, sizeof(i), &h);
		cr_assert(!dfs_blob_is_good(fx.st, &h));
		dfs_blob_mark_good(fx.st, &h);
	}
	for (uint32_t i = 0; i < 2 * N; i++) {
		dfs_hash_buf(&i, sizeof(i), &h);
		cr_assert_eq(dfs_blob_is_good(fx.st, &h), i < N, "hash %u", i);
	}
}
