// SPDX-License-Identifier: MIT
/*
 * test_backup.c - dfs_store_backup(): a copy of an open store into a
 * folder that opens as a store with the same files, packages and audit
 * trail; incremental (only new blobs); a blob reclaimed during the copy
 * starts a new round; a file being written is copied as it is; refusals
 * change nothing; an unfinished backup does not open and the next one
 * completes it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deployfs/store.h"
#include "fixture.h"

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)
#define BIG (200 * 1024)

static struct dfs_fixture fx;
static char dest[160];

static void setup(void)
{
	dfs_fixture_setup(&fx, "backup", OPEN_FLAGS);
	snprintf(dest, sizeof(dest), "%s/backup", fx.tmp);
}

static void teardown(void)
{
	dfs_io_fail_at("link", 0, 0);
	dfs_fixture_teardown(&fx);
}

TestSuite(backup, .init = setup, .fini = teardown, .timeout = 60);

static void fill(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(seed * 31 + i * 7 + (i >> 9));
}

/* A large file (a blob file) build/process/NAME/FILE made from seed. */
static uint64_t big_file(uint64_t comp, const char *name, unsigned seed)
{
	static char buf[BIG];

	fill(buf, sizeof(buf), seed);
	return dfs_fixture_put_file(&fx, comp, name, buf, sizeof(buf));
}

/* The content of ino in st, which must be len bytes from seed. */
static void assert_big(struct dfs_store *st, uint64_t ino, unsigned seed)
{
	static char want[BIG], got[BIG + 1];
	struct dfs_file *f = NULL;
	ssize_t n;

	fill(want, sizeof(want), seed);
	cr_assert_eq(dfs_file_open(st, ino, O_RDONLY, &f), 0);
	n = pread(dfs_file_fd_get(f), got, sizeof(got), 0);
	dfs_file_fd_put(st, f, false, 0);
	(void)dfs_file_release(st, f);
	cr_assert_eq(n, (ssize_t)BIG);
	cr_assert_arr_eq(got, want, BIG);
}

static int count_event(void *ctx, const struct dfs_audit_event *ev)
{
	(void)ev;
	(*(int *)ctx)++;
	return 0;
}

static int events(struct dfs_store *st)
{
	int n = 0;

	cr_assert_eq(dfs_audit_each(st, 0, count_event, &n), 0);
	return n;
}

static struct dfs_store *open_dest(void)
{
	struct dfs_store *st = NULL;
	int rc = dfs_store_open(dest, OPEN_FLAGS, &st);

	cr_assert_eq(rc, 0, "the backup does not open: %s",
		     dfs_store_strerror(rc));
	cr_assert_eq(dfs_store_fsck(st, NULL, NULL), 0, "fsck of the backup");
	return st;
}

static void package(uint64_t comp, const char *name)
{
	struct dfs_attr pk, a;

	(void)comp;
	cr_assert_eq(dfs_node_lookup(fx.st, DFS_INO_PACKAGES, "order", &pk), 0);
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, pk.ino, name, 0755, &a), 0,
		     "mkdir packages/order/%s", name);
}

Test(backup, copies_a_store_that_opens_with_the_same_content)
{
	struct dfs_backup_stats s;
	struct dfs_attr a, pk;
	struct dfs_store *bk;
	uint64_t comp, big;

	FIXTURE_OK();
	comp = dfs_fixture_component(&fx, "process", "order");
	big = big_file(comp, "big.bin", 1);
	dfs_fixture_put_text(&fx, comp, "small.xml", "<small/>\n");
	package(comp, "order@1");
	cr_assert_eq(dfs_store_backup(fx.st, dest, 0, NULL, NULL, &s), 0);
	cr_assert_eq(s.rounds, 1);
	cr_assert_geq(s.blobs_linked + s.blobs_copied, 1);
	bk = open_dest();
	assert_big(bk, big, 1);
	cr_assert_eq(dfs_node_lookup(bk, comp, "small.xml", &a), 0);
	cr_assert_eq(a.size, 9);
	cr_assert_eq(dfs_node_lookup(bk, DFS_INO_PACKAGES, "order", &pk), 0);
	cr_assert_eq(dfs_node_lookup(bk, pk.ino, "order@1", &a), 0);
	cr_assert_eq(events(bk), events(fx.st));
	cr_assert_gt(events(bk), 0);
	dfs_store_free(bk);
}

Test(backup, a_second_backup_copies_only_new_blobs)
{
	struct dfs_backup_stats s1, s2;
	struct stat before, after;
	char path[300], hex[DFS_HASH_HEX];
	struct dfs_hash h;
	uint64_t comp, first;

	FIXTURE_OK();
	comp = dfs_fixture_component(&fx, "process", "order");
	first = big_file(comp, "a.bin", 1);
	cr_assert_eq(dfs_store_backup(fx.st, dest, 0, NULL, NULL, &s1), 0);
	cr_assert_eq(dfs_node_content_hash(fx.st, first, &h), 0);
	dfs_hash_hex(&h, hex);
	snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", dest, hex, hex);
	cr_assert_eq(stat(path, &before), 0, "%s", path);
	big_file(comp, "b.bin", 2);
	cr_assert_eq(dfs_store_backup(fx.st, dest, 0, NULL, NULL, &s2), 0);
	cr_assert_eq(s2.blobs_linked + s2.blobs_copied, 1, "only b.bin's blob");
	cr_assert_eq(s2.blobs_kept, s1.blobs_linked + s1.blobs_copied);
	cr_assert_eq(stat(path, &after), 0);
	cr_assert_eq(after.st_ino, before.st_ino, "a kept blob is not copied");
	dfs_store_free(open_dest());
}

struct remover {
	uint64_t comp;
	int calls;
};

/* On the first call: delete both big files; the next seal reclaims their
 * blobs (rows and files). */
static void remove_during_copy(void *ctx, const struct dfs_backup_progress *p)
{
	struct remover *r = ctx;

	if (r->calls++ || p->round != 1)
		return;
	cr_assert_eq(dfs_node_unlink(fx.st, r->comp, "a.bin"), 0);
	cr_assert_eq(dfs_node_unlink(fx.st, r->comp, "b.bin"), 0);
	big_file(r->comp, "c.bin", 3);
}

Test(backup, a_blob_reclaimed_during_the_copy_starts_a_new_round)
{
	struct remover r = { 0 };
	struct dfs_backup_stats s;
	struct dfs_store *bk;
	struct dfs_attr a;

	FIXTURE_OK();
	r.comp = dfs_fixture_component(&fx, "process", "order");
	big_file(r.comp, "a.bin", 1);
	big_file(r.comp, "b.bin", 2);
	cr_assert_eq(
		dfs_store_backup(fx.st, dest, 0, remove_during_copy, &r, &s),
		0);
	cr_assert_eq(s.rounds, 2, "the copy found the blobs gone");
	bk = open_dest();
	cr_assert_eq(dfs_node_lookup(bk, r.comp, "a.bin", &a), -ENOENT);
	cr_assert_eq(dfs_node_lookup(bk, r.comp, "c.bin", &a), 0);
	assert_big(bk, a.ino, 3);
	dfs_store_free(bk);
}

Test(backup, a_file_being_written_is_copied_as_it_is)
{
	static char buf[BIG];
	struct dfs_backup_stats s;
	struct dfs_file *f = NULL;
	struct dfs_store *bk;
	struct dfs_attr a;
	uint64_t comp;

	FIXTURE_OK();
	comp = dfs_fixture_component(&fx, "process", "order");
	cr_assert_eq(dfs_node_mknod(fx.st, &fx.me, comp, "open.bin",
				    S_IFREG | 0644, 0, &a),
		     0);
	fill(buf, sizeof(buf), 3);
	cr_assert_eq(dfs_file_open(fx.st, a.ino, O_WRONLY, &f), 0);
	cr_assert_eq(pwrite(dfs_file_fd_get(f), buf, sizeof(buf), 0),
		     (ssize_t)sizeof(buf));
	dfs_file_fd_put(fx.st, f, true, sizeof(buf));
	cr_assert_eq(dfs_store_backup(fx.st, dest, 0, NULL, NULL, &s), 0);
	(void)dfs_file_release(fx.st, f);
	cr_assert_eq(s.work_copied, 1, "the work file");
	/* Its first mount seals it, as after a crash of the daemon. */
	bk = open_dest();
	cr_assert_eq(dfs_store_sync(bk), 0);
	assert_big(bk, a.ino, 3);
	dfs_store_free(bk);
}

Test(backup, a_folder_with_other_things_is_refused_untouched)
{
	char path[300];
	struct stat sb;

	FIXTURE_OK();
	cr_assert_eq(mkdir(dest, 0755), 0);
	snprintf(path, sizeof(path), "%s/notes.txt", dest);
	cr_assert_eq(close(open(path, O_WRONLY | O_CREAT, 0644)), 0);
	cr_assert_eq(dfs_store_backup(fx.st, dest, 0, NULL, NULL, NULL),
		     -ENOTEMPTY);
	snprintf(path, sizeof(path), "%s/blobs", dest);
	cr_assert_eq(stat(path, &sb), -1, "nothing was made");
	snprintf(path, sizeof(path), "%s/lock", dest);
	cr_assert_eq(stat(path, &sb), -1, "nothing was made");
}

Test(backup, a_served_destination_and_the_store_itself_are_refused)
{
	struct dfs_store *served = NULL;

	FIXTURE_OK();
	cr_assert_eq(dfs_store_backup(fx.st, fx.path, 0, NULL, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(dfs_store_backup(fx.st, dest, 0, NULL, NULL, NULL), 0);
	served = open_dest();
	cr_assert_eq(dfs_store_backup(fx.st, dest, 0, NULL, NULL, NULL),
		     -EBUSY);
	dfs_store_free(served);
	/* Restoring goes into a new store only. */
	cr_assert_eq(
		dfs_store_backup(fx.st, dest, DFS_BACKUP_NEW, NULL, NULL, NULL),
		-ENOTEMPTY);
}

Test(backup, an_unfinished_backup_does_not_open_until_one_completes)
{
	struct dfs_store *bk = NULL;
	uint64_t comp;

	FIXTURE_OK();
	comp = dfs_fixture_component(&fx, "process", "order");
	big_file(comp, "a.bin", 1);
	dfs_io_fail_at("link", 1, EIO);
	cr_assert_eq(dfs_store_backup(fx.st, dest, 0, NULL, NULL, NULL), -EIO);
	dfs_io_fail_at("link", 0, 0);
	cr_assert_eq(dfs_store_open(dest, OPEN_FLAGS, &bk), -EINPROGRESS);
	cr_assert_eq(dfs_store_backup(fx.st, dest, 0, NULL, NULL, NULL), 0);
	bk = open_dest();
	dfs_store_free(bk);
}
