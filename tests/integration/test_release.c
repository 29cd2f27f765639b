// SPDX-License-Identifier: MIT
/*
 * test_release.c - bad releases: deployctl package mark-bad NAME@V
 * --reason TEXT (recorded, shown as user.deployfs.status = bad); a bad
 * release is refused by every way of deploying (EPERM, recorded) unless
 * forced by root or the environment's owner; rollback skips it; what is
 * deployed stays; mark-good undoes the mark.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PKGS "\"$MNT/packages/order-sync\""
#define ENVS "\"$MNT/environments\""
#define CTL "\"$DEPLOYCTL\" "
#define AT " --mount \"$MNT\""
#define AS_NOBODY "setpriv --reuid=65534 --regid=65534 --clear-groups "

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

TestSuite(release, .init = setup, .fini = teardown, .timeout = 120);

/* order-sync@1..3 packaged; @1 then @2 deployed in test. */
static void prepare(void)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0, "cp -a of the workspace");
	dfs_ok(&m, "mkdir " PKGS "/order-sync@1 " PKGS "/order-sync@2 " PKGS
		   "/order-sync@3 " ENVS "/test && chmod 0777 " ENVS "/test");
	dfs_ok(&m, CTL "deploy order-sync@1 test" AT " >/dev/null 2>&1 && " CTL
		       "deploy order-sync@2 test" AT " >/dev/null 2>&1");
}

/* audit.log lines after n0 holding every word of words. */
static long audit_count(long n0, const char *words)
{
	char buf[32];

	return atol(dfs_out(&m, buf, sizeof(buf),
			    "tail -n +%ld \"$MNT/audit.log\" | awk -v w='%s' "
			    "'BEGIN { n = split(w, k, \" \") } { hit = 1; "
			    "for (i = 1; i <= n; i++) if (!index($0, k[i])) "
			    "hit = 0; c += hit } END { print c + 0 }'",
			    n0 + 1, words));
}

static char *active(char *buf, size_t cap)
{
	return dfs_out(&m, buf, cap, "readlink " ENVS "/test/order-sync");
}

Test(release, a_bad_release_is_refused_everywhere_unless_forced)
{
	char buf[4096];
	long n0;

	prepare();
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, CTL "package mark-bad order-sync@3 --reason 'drops "
		       "orders'" AT " >/dev/null");
	cr_assert_eq(audit_count(n0, "action=package-mark-bad "
				     "component=order-sync version=3 "
				     "result=ok reason=\"drops orders\""),
		     1);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "getfattr --only-values -n "
				 "user.deployfs.status " PKGS "/order-sync@3; "
				 "echo; getfattr --only-values -n "
				 "user.deployfs.bad_reason " PKGS
				 "/order-sync@3; echo; getfattr "
				 "--only-values -n user.deployfs.status " PKGS
				 "/order-sync@2"),
			 "bad\ndrops orders\ngood");

	/* By copy, by link, by deployctl: EPERM, recorded, nothing moves. */
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cd \"$MNT\" && cp -r packages/order-sync/"
				 "order-sync@3 environments/test/ 2>&1 | "
				 "head -1 | sed 's/.*: //'; ln -sfn "
				 "../../packages/order-sync/order-sync@3 "
				 "environments/test/order-sync 2>&1 | "
				 "sed 's/.*: //'; " CTL "deploy order-sync@3 "
				 "test" AT " >/dev/null 2>&1; echo $?"),
			 "Operation not permitted\nOperation not "
			 "permitted\n1");
	cr_assert_geq(audit_count(n0, "action=deploy env=test "
				      "component=order-sync version=3 "
				      "result=refused reason=\"Operation not "
				      "permitted: order-sync@3 is marked bad "
				      "(drops orders)"),
		      3);
	cr_assert_str_eq(active(buf, sizeof(buf)),
			 "../../packages/order-sync/order-sync@2");
	dfs_ok(&m, "test ! -e " ENVS "/test/order-sync@3");

	/* Forcing needs root or the environment's owner. */
	n0 = dfs_audit_lines(&m);
	cr_assert_neq(dfs_sh(&m, AS_NOBODY CTL "deploy --force order-sync@3 "
					       "test" AT " >/dev/null 2>&1"),
		      0, "nobody forced a bad release");
	cr_assert_eq(audit_count(n0, "action=deploy-force env=test "
				     "component=order-sync version=3 "
				     "uid=65534 result=refused"),
		     1);
	dfs_ok(&m, CTL "deploy --force order-sync@3 test" AT " >/dev/null "
		       "2>&1");
	cr_assert_str_eq(active(buf, sizeof(buf)),
			 "../../packages/order-sync/order-sync@3");
	dfs_ok(&m, CTL "status test" AT " | grep -q '3 (bad)'");
	/* Forced once: the next plain deploy of it is refused again. */
	dfs_ok(&m, CTL "deploy order-sync@2 test" AT " >/dev/null 2>&1");
	cr_assert_neq(dfs_sh(&m, CTL "deploy order-sync@3 test" AT
				     " >/dev/null 2>&1"),
		      0, "a force was used twice");
}

Test(release, rollback_skips_bad_releases_and_mark_good_undoes)
{
	char buf[4096];
	long n0;

	prepare();
	dfs_ok(&m, CTL "deploy order-sync@3 test" AT " >/dev/null 2>&1");
	/* What is deployed stays deployed when it is marked. */
	dfs_ok(&m, CTL "package mark-bad order-sync@3 --reason late" AT
		       " >/dev/null && " CTL "package mark-bad order-sync@2 "
		       "--reason slow" AT " >/dev/null");
	cr_assert_str_eq(active(buf, sizeof(buf)),
			 "../../packages/order-sync/order-sync@3");
	dfs_ok(&m, CTL "rollback order-sync test" AT " >/dev/null 2>&1");
	cr_assert_str_eq(active(buf, sizeof(buf)),
			 "../../packages/order-sync/order-sync@1",
			 "rollback did not skip the bad order-sync@2");

	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, CTL "package mark-good order-sync@2" AT " >/dev/null");
	cr_assert_eq(audit_count(n0, "action=package-mark-good "
				     "component=order-sync version=2 "
				     "result=ok"),
		     1);
	dfs_ok(&m, "ln -sfn ../../packages/order-sync/order-sync@2 " ENVS
		   "/test/order-sync");

	/* Bad input: no reason, no such version, not the owner. */
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL
				 "package mark-bad order-sync@1" AT
				 " >/dev/null 2>&1; echo $?; " CTL
				 "package mark-bad order-sync@9 --reason "
				 "x" AT " >/dev/null 2>&1; echo $?; "
				 "setfattr -n user.deployfs.mark-bad -v 1 " PKGS
				 " 2>&1 | sed 's/.*: //'; " AS_NOBODY CTL
				 "package mark-bad order-sync@1 --reason x" AT
				 " >/dev/null 2>&1; echo $?"),
			 "64\n66\nInvalid argument\n1");
	cr_assert_eq(audit_count(n0, "action=package-mark-bad "
				     "component=order-sync version=9 "
				     "result=refused reason=\"No such file or "
				     "directory: order-sync has no version 9"),
		     1);
	cr_assert_eq(audit_count(n0, "action=package-mark-bad "
				     "component=order-sync version=1 "
				     "result=refused reason=\"Invalid "
				     "argument: a bad release needs a reason"),
		     1);
	dfs_ok(&m, "getfattr --only-values -n user.deployfs.status " PKGS
		   "/order-sync@1 | grep -qx good");
}

/* Blob files of exactly 1 MiB in the store (big.bin's). */
static long big_blobs(void)
{
	char buf[32];

	return atol(dfs_out(&m, buf, sizeof(buf),
			    "find \"$STORE/blobs\" -type f -size 1048576c | "
			    "wc -l"));
}

/*
 * gc reclaims the snapshot of a package removed longer ago than the
 * grace period, and the blobs nothing else names; never a copy in
 * flight; what remains reads back byte for byte and fsck is clean.
 */
Test(release, gc_reclaims_removed_packages_and_their_blobs)
{
	char buf[4096];
	long n0;

	prepare();
	dfs_ok(&m, "mkdir " PKGS "/order-sync@4 && head -c 1048576 "
		   "/dev/urandom >\"$BUILD/process/order-sync/big.bin\" && "
		   "mkdir " PKGS "/order-sync@5 && rm "
		   "\"$BUILD/process/order-sync/big.bin\"");
	/* A copy in flight keeps its package from removal. */
	dfs_ok(&m, "mkdir " ENVS "/test/order-sync@5");
	cr_assert_neq(
		dfs_sh(&m, CTL "package remove order-sync@5" AT " 2>/dev/null"),
		0, "a package being copied was removed");
	dfs_ok(&m, CTL "package remove order-sync@4" AT " >/dev/null");
	dfs_ok(&m, "sync");
	cr_assert_eq(big_blobs(), 1, "big.bin's blob");

	/* Within the grace period nothing goes; restore still works. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), CTL "gc" AT),
			 "reclaimed 0 packages, 0 entries, 0 blobs, 0 bytes");
	dfs_ok(&m, CTL "package restore order-sync@4" AT " >/dev/null && " CTL
		       "package remove order-sync@4" AT " >/dev/null");

	n0 = dfs_audit_lines(&m);
	cr_assert_neq(
		dfs_sh(&m, AS_NOBODY CTL "gc --grace 0" AT " >/dev/null 2>&1"),
		0, "nobody reclaimed space");
	/* order-sync@5 holds big.bin: its blob stays. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "gc --grace 0" AT " | cut -d, -f1,3"),
			 "reclaimed 1 packages, 0 blobs");
	cr_assert_eq(big_blobs(), 1, "big.bin's blob went with @5 alive");
	dfs_ok(&m,
	       "tail -n +%ld \"$MNT/audit.log\" | grep -q "
	       "'action=gc .*result=ok reason=\"reclaimed 1 packages'",
	       n0 + 1);
	/* Reclaimed: not restorable; the version may be made again (with
	 * the content it had: a registry keeps every version it was told
	 * of, and refuses the same version with other content). */
	cr_assert_neq(dfs_sh(&m, CTL "package restore order-sync@4" AT
				     " >/dev/null 2>&1"),
		      0);
	dfs_ok(&m, "mkdir " PKGS "/order-sync@4");

	/* Once the copy ends, order-sync@5 can go, and big.bin's blob
	 * with it. */
	dfs_ok(&m, "rm -r " ENVS "/test/order-sync@5 && " CTL
		   "package remove order-sync@5" AT " >/dev/null");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "gc --grace 0" AT " | cut -d, -f1,3,4"),
			 "reclaimed 1 packages, 1 blobs, 1048576 bytes");
	cr_assert_eq(big_blobs(), 0, "big.bin's blob is still there");

	/* What remains reads back byte for byte; fsck is clean. */
	dfs_ok(&m, "diff -r -x partner-cert \"$BUILD/process/order-sync\" " PKGS
		   "/order-sync@4 >/dev/null || true; diff -r -x "
		   "partner-cert " PKGS "/order-sync@2 " ENVS
		   "/test/order-sync@2 && diff -r -x partner-cert " PKGS
		   "/order-sync@1 " PKGS "/order-sync@3");
	dfs_ok(&m, "\"$DEPLOYCTL\" fsck \"$STORE\" >/dev/null 2>&1");
}
