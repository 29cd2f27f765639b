// SPDX-License-Identifier: MIT
/*
 * test_verify.c - content is checked, not trusted (issue #8, item 7): a
 * blob file of the store with one byte flipped, cut to 100 bytes or
 * deleted is never served.  Through build/, packages/ or environments/,
 * opening a file whose blob is cut or missing fails with EIO; reading one
 * whose blob has a flipped byte fails with EIO at the chunk (128 KiB) that
 * holds it, the chunks before it read right and no byte of the damaged
 * chunk is ever returned; the daemon's log names the blob.  A deploy of
 * a package holding it (cp -r, ln -s, ln -sfn,
 * a copy from outside, a re-copy into the deployed version) is refused
 * with EIO and recorded in audit.log, and nothing is deployed.  A damaged
 * blob is not remembered: once its bytes are put back it is served and
 * deployed again without a remount.
 *
 * The daemon checks a blob once per mount (the ones it wrote itself not
 * at all), so each test damages the blob while the store is unmounted and
 * mounts it again before the first read.  Each test builds the fixture
 * workspace with two large files (each a blob file of its own), packages
 * it as order-sync@1 and deploys that in environments/test by link.
 */
#include "expect.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PKGS "\"$MNT/packages/order-sync\""
#define ENVS "\"$MNT/environments\""
#define BIG_LEN (2u << 20) /* big.bin: damaged by the tests */
#define OK_LEN (3u << 20)  /* ok.bin: left alone */
#define FLIP_AT 1234567
#define CHUNK (128u << 10) /* the daemon checks a blob file chunk by chunk */
/* How long an audit line may take to show (refusals may be recorded
 * lazily); a deadline, not a delay. */
#define AUDIT_DEADLINE_MS 10000

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

TestSuite(verify, .init = setup, .fini = teardown, .timeout = 180);

enum damage { FLIP, TRUNCATE, DELETE, NOTHING };

/* The blob file of big.bin and its name (the hash). */
static char blob[PATH_MAX];
static char blob_hex[64];

/*
 * The workspace with big.bin and ok.bin (random bytes, kept in $NATIVE
 * too) in process order-sync, packaged as order-sync@1 and deployed in
 * test by link; environments prod is empty.  Finds big.bin's blob file.
 */
static void prepare(void)
{
	char out[PATH_MAX];
	const char *slash;

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0,
		     "cp -a of the fixture workspace");
	dfs_ok(&m,
	       "head -c %u /dev/urandom >\"$NATIVE/big.bin\" && "
	       "head -c %u /dev/urandom >\"$NATIVE/ok.bin\" && "
	       "cp \"$NATIVE/big.bin\" \"$NATIVE/ok.bin\" "
	       "\"$BUILD/process/order-sync/\"",
	       BIG_LEN, OK_LEN);
	dfs_ok(&m, "mkdir " PKGS "/order-sync@1");
	dfs_ok(&m, "mkdir " ENVS "/test " ENVS "/prod");
	dfs_ok(&m, "ln -s ../../packages/order-sync/order-sync@1 " ENVS
		   "/test/order-sync");
	/* The one blob file of BIG_LEN bytes (the fixture's files are
	 * small enough to be kept in the database). */
	dfs_out(&m, out, sizeof(out), "find \"$STORE/blobs\" -type f -size %uc",
		BIG_LEN);
	cr_assert(out[0] && !strchr(out, '\n'),
		  "want one blob file of %u bytes, found:\n%s", BIG_LEN, out);
	snprintf(blob, sizeof(blob), "%s", out);
	slash = strrchr(blob, '/');
	cr_assert_not_null(slash);
	snprintf(blob_hex, sizeof(blob_hex), "%s", slash + 1);
	cr_assert_eq(strlen(blob_hex), 32, "blob name %s", blob_hex);
}

/* Flip one byte of the blob file (it is read-only: 0400). */
static void flip_byte(void)
{
	unsigned char c;
	int fd;

	cr_assert_eq(chmod(blob, 0600), 0, "chmod %s: %s", blob,
		     strerror(errno));
	fd = open(blob, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0, "open %s: %s", blob, strerror(errno));
	cr_assert_eq(pread(fd, &c, 1, FLIP_AT), 1);
	c ^= 0xff;
	cr_assert_eq(pwrite(fd, &c, 1, FLIP_AT), 1);
	cr_assert_eq(close(fd), 0);
	cr_assert_eq(chmod(blob, 0400), 0);
}

/* Unmount, damage big.bin's blob as asked, mount again. */
static void damage(enum damage how)
{
	cr_assert_eq(dfs_mount_stop(&m), 0, "unmount");
	switch (how) {
	case FLIP:
		flip_byte();
		break;
	case TRUNCATE:
		cr_assert_eq(truncate(blob, 100), 0, "truncate %s: %s", blob,
			     strerror(errno));
		break;
	case DELETE:
		cr_assert_eq(unlink(blob), 0, "rm %s: %s", blob,
			     strerror(errno));
		break;
	case NOTHING:
		break;
	}
	cr_assert_eq(dfs_mount_start(&m), 0, "mount again");
}

/* Put big.bin's bytes back into its blob file (a repair). */
static void repair(void)
{
	dfs_ok(&m, "rm -f '%s' && cp \"$NATIVE/big.bin\" '%s'", blob, blob);
}

/* Where big.bin (or another file) is seen in each tree. */
static const char *const trees[] = {
	"build/process/order-sync",
	"packages/order-sync/order-sync@1",
	"environments/test/order-sync@1",
};

static char *in_tree(char *buf, int tree, const char *file)
{
	return dfs_path(buf, PATH_MAX, "%s/%s/%s", m.mnt, trees[tree], file);
}

/* open(2) of path fails with EIO (an fd it did give is closed first, so
 * the mount can be taken down). */
static void assert_open_eio(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), e = errno;

	if (fd >= 0)
		close(fd);
	cr_assert_lt(fd, 0, "open %s succeeded", path);
	cr_assert_eq(e, EIO, "open %s: errno %s, want EIO", path,
		     strerrorname_np(e));
}

/* open(2) of big.bin in every tree fails with EIO; so does cat. */
static void assert_eio_everywhere(void)
{
	char path[PATH_MAX];

	for (int i = 0; i < 3; i++) {
		assert_open_eio(in_tree(path, i, "big.bin"));
		cr_assert_neq(dfs_sh(&m, "cat '%s' >/dev/null 2>&1", path), 0,
			      "cat %s succeeded", path);
	}
}

/*
 * Reading path whole (cat) fails, and what it returned before failing is
 * big.bin's own bytes, all before the chunk with the flipped byte.
 */
static void assert_read_stops_before_the_damage(const char *path)
{
	char out[64];
	long got;

	cr_assert_neq(dfs_sh(&m, "cat '%s' >\"$DIR/cat.out\"", path), 0,
		      "cat %s succeeded", path);
	got = atol(
		dfs_out(&m, out, sizeof(out), "stat -c %%s \"$DIR/cat.out\""));
	cr_assert_leq(got, FLIP_AT / CHUNK * CHUNK,
		      "%s: %ld bytes read, some from the damaged chunk", path,
		      got);
	dfs_ok(&m, "head -c %ld \"$NATIVE/big.bin\" | cmp - \"$DIR/cat.out\"",
	       got);
	/* The chunks before the damaged one read right. */
	dfs_ok(&m,
	       "head -c %u \"$NATIVE/big.bin\" >\"$DIR/want\" && "
	       "head -c %u '%s' | cmp - \"$DIR/want\"",
	       FLIP_AT / CHUNK * CHUNK, FLIP_AT / CHUNK * CHUNK, path);
}

/* big.bin opens in every tree, but no read returns its damaged chunk. */
static void assert_damage_never_served(void)
{
	char path[PATH_MAX];

	for (int i = 0; i < 3; i++)
		assert_read_stops_before_the_damage(
			in_tree(path, i, "big.bin"));
}

/* ok.bin, whose blob is intact, reads right in every tree. */
static void assert_ok_bin_reads(void)
{
	char path[PATH_MAX];

	for (int i = 0; i < 3; i++)
		dfs_ok(&m, "cmp \"$NATIVE/ok.bin\" '%s'",
		       in_tree(path, i, "ok.bin"));
}

/* The daemon's log has a line that names the blob. */
static void assert_logged(const char *what)
{
	dfs_ok(&m, "grep -q 'blob \"%s\" is %s' \"$DIR/daemon.log\"", blob_hex,
	       what);
}

/* ---- audit.log --------------------------------------------------------------- */

/* Lines of audit.log after the first `after` that hold each word of
 * words (space-separated substrings). */
static long audit_count(long after, const char *words)
{
	char buf[64];

	return atol(dfs_out(&m, buf, sizeof(buf),
			    "tail -n +%ld \"$MNT/audit.log\" | awk -v w='%s' "
			    "'BEGIN { n = split(w, k, \" \") } "
			    "{ hit = 1; for (i = 1; i <= n; i++) "
			    "if (!index($0, k[i])) hit = 0; c += hit } "
			    "END { print c + 0 }'",
			    after + 1, words));
}

/* Exactly one line after n0 refuses a deploy in env with EIO, naming the
 * damaged blob. */
static void assert_refused(long n0, const char *env)
{
	long deadline = dfs_now_ms() + AUDIT_DEADLINE_MS, n;
	char words[256];

	dfs_path(words, sizeof(words),
		 "action=deploy env=%s component=order-sync version=1 "
		 "result=refused reason=\"Input/output error %s",
		 env, blob_hex);
	while ((n = audit_count(n0, words)) < 1 && dfs_now_ms() < deadline)
		dfs_sleep_ms(20);
	cr_assert_eq(n, 1, "audit.log lines after %ld with %s", n0, words);
}

/* Nothing is deployed in prod, and no deployment was recorded after n0. */
static void assert_nothing_deployed(long n0)
{
	char out[256];

	dfs_out(&m, out, sizeof(out), "ls -A " ENVS "/prod");
	cr_assert_str_eq(out, "", "environments/prod lists:\n%s", out);
	cr_assert_eq(audit_count(n0, "action=deploy result=ok"), 0,
		     "a deployment was recorded");
}

/* ---- reading ------------------------------------------------------------------ */

Test(verify, flipped_byte_is_eio_at_its_chunk_in_every_tree)
{
	prepare();
	damage(FLIP);
	assert_damage_never_served();
	assert_logged("damaged");
	assert_ok_bin_reads();
}

Test(verify, truncated_blob_is_eio_while_stat_says_its_size)
{
	char path[PATH_MAX];
	struct stat sb;

	prepare();
	damage(TRUNCATE);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(stat(in_tree(path, i, "big.bin"), &sb), 0);
		cr_assert_eq(sb.st_size, BIG_LEN, "%s: stat size", path);
	}
	assert_eio_everywhere();
	assert_logged("damaged");
	assert_ok_bin_reads();
}

Test(verify, deleted_blob_is_eio_not_enoent)
{
	prepare();
	damage(DELETE);
	assert_eio_everywhere();
	assert_logged("missing");
	assert_ok_bin_reads();
}

Test(verify, repaired_blob_is_served_again_without_a_remount)
{
	char path[PATH_MAX];

	prepare();
	damage(FLIP);
	assert_read_stops_before_the_damage(in_tree(path, 1, "big.bin"));
	repair();
	for (int i = 0; i < 3; i++)
		dfs_ok(&m, "cmp \"$NATIVE/big.bin\" '%s'",
		       in_tree(path, i, "big.bin"));
}

Test(verify, intact_blobs_are_served_after_a_remount)
{
	char path[PATH_MAX];
	long n0;

	prepare();
	damage(NOTHING);
	for (int i = 0; i < 3; i++)
		dfs_ok(&m, "cmp \"$NATIVE/big.bin\" '%s'",
		       in_tree(path, i, "big.bin"));
	assert_ok_bin_reads();
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "cd \"$MNT\" && cp -r packages/order-sync/order-sync@1 "
		   "environments/prod/");
	cr_assert_eq(audit_count(n0, "action=deploy env=prod result=ok"), 1);
}

/* ---- deploying ------------------------------------------------------------------ */

Test(verify, copy_deploy_of_a_damaged_package_is_refused_and_recorded)
{
	long n0;

	prepare();
	damage(FLIP);
	n0 = dfs_audit_lines(&m);
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && cp -r "
				 "packages/order-sync/order-sync@1 "
				 "environments/prod/"),
		      0, "cp -r of a damaged package succeeded");
	assert_refused(n0, "prod");
	assert_nothing_deployed(n0);
	assert_logged("damaged");
}

Test(verify, link_deploy_of_a_damaged_package_is_refused_and_recorded)
{
	char link[PATH_MAX];
	long n0;

	prepare();
	damage(TRUNCATE);
	n0 = dfs_audit_lines(&m);
	dfs_path(link, sizeof(link), "%s/environments/prod/order-sync", m.mnt);
	ASSERT_ERRNO(symlink("../../packages/order-sync/order-sync@1", link),
		     EIO);
	assert_refused(n0, "prod");
	assert_nothing_deployed(n0);
	/* ln -sfn over a deployment: a temporary link renamed over it. */
	n0 = dfs_audit_lines(&m);
	cr_assert_neq(dfs_sh(&m, "ln -sfn ../../packages/order-sync/"
				 "order-sync@1 " ENVS "/test/order-sync"),
		      0, "ln -sfn of a damaged package succeeded");
	assert_refused(n0, "test");
	cr_assert_eq(audit_count(n0, "action=deploy result=ok"), 0);
	cr_assert_eq(audit_count(n0, "action=deploy result=unchanged"), 0);
}

/*
 * A copy from outside whose bytes are the package's own is refused too:
 * with its blob damaged the package cannot be served from any
 * environment, so it does not deploy until the blob is repaired.
 */
Test(verify, correct_copy_from_outside_is_refused_until_the_blob_is_repaired)
{
	char out[PATH_MAX];
	long n0;

	prepare();
	dfs_ok(&m, "mkdir \"$NATIVE/saved\" && cp -r " PKGS
		   "/order-sync@1 \"$NATIVE/saved/\"");
	damage(FLIP);
	n0 = dfs_audit_lines(&m);
	cr_assert_neq(dfs_sh(&m, "cp -r \"$NATIVE/saved/order-sync@1\" " ENVS
				 "/prod/"),
		      0, "a copy of a damaged package deployed");
	assert_refused(n0, "prod");
	assert_nothing_deployed(n0);
	repair();
	dfs_ok(&m, "cp -r \"$NATIVE/saved/order-sync@1\" " ENVS "/prod/");
	dfs_out(&m, out, sizeof(out), "readlink " ENVS "/prod/order-sync");
	cr_assert_str_eq(out, "../../packages/order-sync/order-sync@1");
	dfs_ok(&m,
	       "cmp \"$NATIVE/big.bin\" " ENVS "/prod/order-sync@1/big.bin");
}

Test(verify, recopy_into_a_deployed_version_with_a_damaged_blob_is_refused)
{
	char out[PATH_MAX];
	long n0, n;

	prepare();
	damage(FLIP);
	n0 = dfs_audit_lines(&m);
	/* Deployed, the folder is the package, read-only: refused before
	 * any byte is compared with the damaged blob. */
	cr_assert_neq(dfs_sh(&m, "cp \"$NATIVE/big.bin\" " ENVS
				 "/test/order-sync@1/big.bin"),
		      0, "a file checked against a damaged blob was let in");
	n = audit_count(n0,
			"action=deploy env=test component=order-sync "
			"version=1 result=refused "
			"reason=\"Read-only file system: writing to big.bin");
	cr_assert_eq(n, 1, "the refusal is not recorded once");
	/* The deployment itself stays as it was. */
	dfs_out(&m, out, sizeof(out), "readlink " ENVS "/test/order-sync");
	cr_assert_str_eq(out, "../../packages/order-sync/order-sync@1");
}
