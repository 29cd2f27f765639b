// SPDX-License-Identifier: MIT
/*
 * test_retention.c - retention and garbage collection on a real mount:
 * deployctl package keep|unkeep (shown as user.deployfs.keep, recorded,
 * a kept package is refused to package remove with EPERM); deployctl
 * prune [NAME] --keep N [--min-age D] [--dry-run] [-v] (the newest N by
 * packaging order stay, and so does every package deployed, being
 * copied, kept or too young; one package-remove line each; bad input
 * exits 64 or 66 with nothing removed; a prune racing deploys never
 * removes a deployed package); deployctl gc's progress bar on a terminal
 * and what it freed; and a loop of package, remove and gc while a reader
 * compares a deployed file byte for byte, after which fsck is clean and
 * every remaining package reads back as it was packaged.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PKGS "\"$MNT/packages/order-sync\""
#define ENVS "\"$MNT/environments\""
#define SRC "\"$BUILD/process/order-sync\""
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

TestSuite(retention, .init = setup, .fini = teardown, .timeout = 300);

/* The workspace, environment test (anyone may deploy) and order-sync
 * packaged as each of versions, in that order. */
static void prepare(const char *versions)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0, "cp -a of the workspace");
	dfs_ok(&m, "mkdir " ENVS "/test && chmod 0777 " ENVS "/test");
	dfs_ok(&m,
	       "for v in %s; do mkdir " PKGS "/order-sync@$v || exit 1; "
	       "done",
	       versions);
}

/* The versions of order-sync in packages/, in the listing's order. */
static char *versions(char *buf, size_t cap)
{
	return dfs_out(&m, buf, cap,
		       "ls " PKGS " | grep -v '^latest$' | sed 's/.*@//' | "
		       "tr '\\n' ' '");
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

/* ---- keep ------------------------------------------------------------------- */

Test(retention, a_kept_package_is_shown_recorded_and_not_removed)
{
	char buf[4096];
	long n0;

	prepare("1 2 3");
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "package keep order-sync@2" AT),
			 "kept order-sync@2");
	cr_assert_eq(audit_count(n0, "action=package-keep "
				     "component=order-sync version=2 "
				     "result=ok"),
		     1);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "getfattr --only-values -n "
				 "user.deployfs.keep " PKGS "/order-sync@2"),
			 "1");
	dfs_ok(&m, "getfattr -d " PKGS "/order-sync@2 | grep -qx "
		   "'user.deployfs.keep=\"1\"'");
	cr_assert_neq(dfs_sh(&m, "getfattr -d " PKGS "/order-sync@1 | grep -q "
				 "keep"),
		      0, "an unkept package shows keep");

	/* package remove of a kept package: EPERM, recorded, still there. */
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "package remove order-sync@2" AT
				     " 2>&1; echo $?"),
			 "deployctl: cannot remove order-sync@2: Operation not "
			 "permitted (it is kept: deployctl package unkeep it "
			 "first)\n1");
	cr_assert_eq(audit_count(n0, "action=package-remove "
				     "component=order-sync version=2 "
				     "result=refused reason=\"Operation not "
				     "permitted: order-sync@2 is kept"),
		     1);
	dfs_ok(&m, "test -d " PKGS "/order-sync@2");

	/* unkeep: recorded, the attribute goes, remove works. */
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "package unkeep order-sync@2" AT),
			 "unkept order-sync@2");
	cr_assert_eq(audit_count(n0, "action=package-unkeep "
				     "component=order-sync version=2 "
				     "result=ok"),
		     1);
	cr_assert_neq(dfs_sh(&m, "getfattr -n user.deployfs.keep " PKGS
				 "/order-sync@2 2>/dev/null"),
		      0);
	dfs_ok(&m, CTL "package remove order-sync@2" AT " >/dev/null");
	cr_assert_str_eq(versions(buf, sizeof(buf)), "1 3 ");
}

Test(retention, keep_refuses_bad_input)
{
	char buf[4096];
	long n0;

	prepare("1");
	n0 = dfs_audit_lines(&m);
	/* An unknown version or component: 66, the version recorded. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "package keep order-sync@9" AT
				     " 2>/dev/null; echo $?; " CTL
				     "package keep no-such@1" AT
				     " 2>/dev/null; echo $?"),
			 "66\n66");
	cr_assert_eq(audit_count(n0, "action=package-keep "
				     "component=order-sync version=9 "
				     "result=refused"),
		     1);
	/* Not NAME@VERSION, an unknown option, no argument: 64. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "package keep order-sync" AT
				     " 2>/dev/null; echo $?; " CTL
				     "package keep --bogus order-sync@1" AT
				     " 2>/dev/null; echo $?; " CTL
				     "package unkeep" AT
				     " 2>/dev/null; echo $?; " CTL
				     "package keep 'order-sync@1 2'" AT
				     " 2>/dev/null; echo $?"),
			 "64\n64\n64\n64");
	cr_assert_neq(dfs_sh(&m, "getfattr -d " PKGS "/order-sync@1 | grep -q "
				 "keep"),
		      0, "a refused keep kept");
	dfs_ok(&m, CTL "package keep --help | grep -q '^usage: deployctl "
		       "package keep'");
	/* Setting the attribute by hand to garbage: EINVAL. */
	cr_assert_neq(dfs_sh(&m, "setfattr -n user.deployfs.keep -v '' " PKGS
				 " 2>/dev/null"),
		      0);
}

/* ---- prune ------------------------------------------------------------------ */

Test(retention, prune_keeps_the_newest_deployed_and_kept)
{
	char buf[8192];
	long n0;

	/* 2.1-hotfix is packaged last: it is the newest, not 3. */
	prepare("1 2 3 4 5 2.1-hotfix");
	dfs_ok(&m, CTL "deploy order-sync@2 test" AT " >/dev/null 2>&1");
	dfs_ok(&m, CTL "package keep order-sync@3" AT " >/dev/null");

	/* --dry-run says what would go and what stays, and changes nothing. */
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "prune order-sync --keep 2 --dry-run" AT),
			 "kept order-sync@2.1-hotfix: among the newest 2\n"
			 "kept order-sync@5: among the newest 2\n"
			 "would remove order-sync@4\n"
			 "kept order-sync@3: kept (deployctl package unkeep)\n"
			 "kept order-sync@2: deployed in test\n"
			 "would remove order-sync@1");
	cr_assert_str_eq(versions(buf, sizeof(buf)), "1 2 2.1-hotfix 3 4 5 ");
	cr_assert_eq(audit_count(n0, "action=package-remove"), 0);

	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "prune order-sync --keep 2" AT),
			 "removed order-sync@4\nremoved order-sync@1");
	cr_assert_str_eq(versions(buf, sizeof(buf)), "2 2.1-hotfix 3 5 ");
	cr_assert_eq(audit_count(n0, "action=package-remove "
				     "component=order-sync result=ok "
				     "reason=\"pruned: not among the newest 2"),
		     2);
	cr_assert_eq(audit_count(n0, "version=4 result=ok reason=\"pruned"), 1);
	/* Removed as package remove does: restorable until gc. */
	dfs_ok(&m, CTL "package restore order-sync@4" AT " >/dev/null");
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf), "readlink " PKGS "/latest"),
		"order-sync@2.1-hotfix");

	/* Again: nothing more to remove, -v says why each stays. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "prune order-sync --keep 3 -v" AT
				     " | tail -n 2"),
			 "kept order-sync@2: deployed in test\n"
			 "removed nothing");
}

Test(retention, prune_spares_young_packages_and_covers_every_component)
{
	char buf[8192];

	prepare("1 2 3");
	dfs_ok(&m, "mkdir \"$MNT/packages/orders-api/orders-api@1\" "
		   "\"$MNT/packages/orders-api/orders-api@2\"");
	/* Everything was packaged just now: younger than an hour. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "prune --keep 1 --min-age 1h -v" AT
				     " | grep -c 'younger than the minimum "
				     "age'"),
			 "3");
	cr_assert_str_eq(versions(buf, sizeof(buf)), "1 2 3 ");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "prune --keep 1 --min-age 0" AT
				     " | LC_ALL=C sort"),
			 "removed order-sync@1\nremoved order-sync@2\n"
			 "removed orders-api@1");
	cr_assert_str_eq(versions(buf, sizeof(buf)), "3 ");
	dfs_ok(&m, "test ! -e \"$MNT/packages/orders-api/orders-api@1\" && "
		   "test -d \"$MNT/packages/orders-api/orders-api@2\"");
	/* --keep 0 removes every package not deployed, kept or young. */
	dfs_ok(&m, CTL "deploy order-sync@3 test" AT " >/dev/null 2>&1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "prune --keep 0 --min-age 30m" AT),
			 "removed nothing");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), CTL "prune --keep 0" AT),
			 "removed orders-api@2");
	cr_assert_str_eq(versions(buf, sizeof(buf)), "3 ");
}

Test(retention, prune_spares_a_package_being_copied)
{
	char buf[4096];

	prepare("1 2 3");
	/* mkdir ENV/N@V starts a copy: in flight until it is complete. */
	dfs_ok(&m, "mkdir " ENVS "/test/order-sync@1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "prune order-sync --keep 1 -v" AT),
			 "kept order-sync@3: among the newest 1\n"
			 "removed order-sync@2\n"
			 "kept order-sync@1: a copy is in progress in test");
	dfs_ok(&m, "rm -r " ENVS "/test/order-sync@1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "prune order-sync --keep 1" AT),
			 "removed order-sync@1");
	cr_assert_str_eq(versions(buf, sizeof(buf)), "3 ");
}

Test(retention, prune_refuses_bad_input_and_removes_nothing)
{
	char buf[4096];
	long n0;

	prepare("1 2 3");
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf),
			CTL
			"prune order-sync" AT " 2>/dev/null; echo $?; " CTL
			"prune order-sync --keep -1" AT
			" 2>/dev/null; echo $?; " CTL
			"prune order-sync --keep two" AT
			" 2>/dev/null; echo $?; " CTL
			"prune order-sync --keep 1x" AT
			" 2>/dev/null; echo $?; " CTL
			"prune order-sync --keep 1 --min-age 5x" AT
			" 2>/dev/null; echo $?; " CTL
			"prune order-sync --keep 1 --bogus" AT
			" 2>/dev/null; echo $?; " CTL "prune a b --keep 1" AT
			" 2>/dev/null; echo $?; " CTL "prune ../x --keep 1" AT
			" 2>/dev/null; echo $?"),
		"64\n64\n64\n64\n64\n64\n64\n64");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "prune order-sync" AT
				     " 2>&1 >/dev/null | head -1"),
			 "deployctl: prune needs --keep N (how many of the "
			 "newest packages stay)");
	/* An unknown component: 66, named. */
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf),
			CTL "prune no-such --keep 1" AT
			    " 2>&1 | sed 's/ (.*//'; " CTL
			    "prune no-such --keep 1" AT
			    " 2>/dev/null; echo $?"),
		"deployctl: cannot prune: no component \"no-such\"\n66");
	cr_assert_str_eq(versions(buf, sizeof(buf)), "1 2 3 ");
	cr_assert_eq(audit_count(n0, "action=package-remove"), 0);
	/* The attribute by hand, malformed: EINVAL, recorded. */
	cr_assert_neq(dfs_sh(&m, "setfattr -n user.deployfs.prune -v '1' " PKGS
				 " 2>/dev/null"),
		      0);
	cr_assert_neq(dfs_sh(&m, "setfattr -n user.deployfs.prune -v '1 0 "
				 "wet' " PKGS " 2>/dev/null"),
		      0);
	cr_assert_eq(audit_count(n0, "action=prune result=refused"), 2);
	cr_assert_str_eq(versions(buf, sizeof(buf)), "1 2 3 ");
	dfs_ok(&m, CTL "prune --help | grep -q '^usage: deployctl prune'");
	/* Without write permission on packages/NAME (the kernel checks
	 * it): refused, nothing removed, nothing kept. */
	cr_assert_eq(dfs_sh(&m, AS_NOBODY CTL "prune order-sync --keep 0" AT
					      " >/dev/null 2>&1"),
		     1, "nobody pruned");
	cr_assert_neq(dfs_sh(&m, AS_NOBODY CTL "package keep order-sync@1" AT
					       " >/dev/null 2>&1"),
		      0, "nobody kept");
	cr_assert_str_eq(versions(buf, sizeof(buf)), "1 2 3 ");
	cr_assert_eq(audit_count(n0, "action=package-"), 0);
}

/*
 * A deployer restores and deploys versions one after another while a
 * pruner prunes everything it may: each package is deployed or removed,
 * never both.  Every deploy that succeeded finds its package still in
 * packages/ right after, and after every prune what is deployed is
 * still in packages/.
 */
Test(retention, a_prune_racing_deploys_never_removes_a_deployed_package)
{
	char buf[4096];

	prepare("1 2 3 4 5 6");
	dfs_ok(&m,
	       "(for i in $(seq 1 30); do v=$((i %% 6 + 1)); " CTL
	       "package restore order-sync@$v" AT " >/dev/null 2>&1; "
	       "if " CTL "deploy order-sync@$v test" AT " >/dev/null 2>&1; "
	       "then test -d " PKGS "/order-sync@$v || echo \"gone $v\"; "
	       "echo ok >>\"$DIR/deploys\"; fi; done) >\"$DIR/race\" & "
	       "for i in $(seq 1 30); do " CTL "prune order-sync --keep 0" AT
	       " >/dev/null || echo \"prune failed\" >>\"$DIR/race2\"; "
	       /* only the deployer changes what is deployed, only this
	        * loop prunes: what is deployed now must be there */
	       "v=$(readlink " ENVS "/test/order-sync) && { test -d " PKGS
	       "/${v##*/} || echo \"deployed ${v##*/} removed\" "
	       ">>\"$DIR/race2\"; }; done; wait; touch \"$DIR/race2\"");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "cat \"$DIR/race2\""),
			 "");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "cat \"$DIR/race\""),
			 "");
	cr_assert_gt(
		atol(dfs_out(&m, buf, sizeof(buf), "wc -l <\"$DIR/deploys\"")),
		0, "no deploy succeeded");
	/* What is deployed is in packages/ and reads as it. */
	dfs_ok(&m, "v=$(readlink " ENVS "/test/order-sync) && test -d " PKGS
		   "/${v##*/} && diff -r -x partner-cert " PKGS
		   "/${v##*/} " ENVS "/test/${v##*/}");
	dfs_ok(&m, "\"$DEPLOYCTL\" fsck \"$STORE\" >/dev/null 2>&1");
}

/* ---- gc ---------------------------------------------------------------------- */

Test(retention, gc_draws_a_bar_on_a_terminal_and_says_what_it_freed)
{
	char buf[8192];
	long n0;

	prepare("");
	dfs_ok(&m, "for v in 1 2 3 4 5; do head -c 65536 /dev/urandom >" SRC
		   "/data.bin && mkdir " PKGS "/order-sync@$v || exit 1; "
		   "done");
	dfs_ok(&m, CTL "prune order-sync --keep 1" AT " >/dev/null");
	/* The steps deployctl takes: "GRACE 0 0" says what is due and
	 * records nothing; "GRACE 1 0" reclaims one package (its
	 * data.bin is then due: nothing names it) and says what is left. */
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf),
			"setfattr -n user.deployfs.gc -v '0 0 0' "
			"\"$MNT/packages\" && getfattr --only-values "
			"-n user.deployfs.gc_result \"$MNT/packages\""),
		"0 packages, 0 entries, 0 blobs, 0 bytes; due 4 "
		"packages, 0 blobs, 0 bytes");
	cr_assert_eq(audit_count(n0, "action=gc"), 0);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "setfattr -n user.deployfs.gc -v '0 1 0' "
				 "\"$MNT/packages\" && getfattr --only-values "
				 "-n user.deployfs.gc_result \"$MNT/packages\" "
				 "| sed 's/ [0-9]* entries/ E entries/'"),
			 "1 packages, E entries, 0 blobs, 0 bytes; due 3 "
			 "packages, 1 blobs, 65536 bytes");
	cr_assert_eq(audit_count(n0, "action=gc result=ok reason=\"reclaimed "
				     "1 packages"),
		     1);
	n0 = dfs_audit_lines(&m);
	/* script(1) gives deployctl a terminal; the bar goes to stderr. */
	dfs_out(&m, buf, sizeof(buf),
		"script -qec '\"$DEPLOYCTL\" gc --grace 0 --mount \"$MNT\"' "
		"/dev/null");
	cr_assert(strstr(buf, "gc: packages [###"), "no bar: %s", buf);
	cr_assert(strstr(buf, "] 3/3"), "no count: %s", buf);
	cr_assert(strstr(buf, "gc: blobs"), "no blob bar: %s", buf);
	cr_assert(strstr(buf, "reclaimed 3 packages, "), "%s", buf);
	cr_assert(strstr(buf, " 4 blobs, 262144 bytes"), "%s", buf);
	cr_assert_geq(audit_count(n0, "action=gc result=ok reason=\"reclaimed"),
		      2, "each step is recorded");
	/* Piped: one call, one line, no bar; nothing left to free. */
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf), CTL "gc --grace 0" AT " 2>&1"),
		"reclaimed 0 packages, 0 entries, 0 blobs, 0 bytes");
	cr_assert_eq(audit_count(n0, "action=gc"), 1);
	/* Bad input: 64, nothing done. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "gc --grace soon" AT
				     " 2>/dev/null; echo $?; " CTL
				     "gc --bogus" AT " 2>/dev/null; echo $?"),
			 "64\n64");
	cr_assert_eq(audit_count(n0, "action=gc"), 1);
	dfs_ok(&m, "\"$DEPLOYCTL\" fsck \"$STORE\" >/dev/null 2>&1");
}

/*
 * The safety loop: 20 rounds of package (a new data.bin each), remove the
 * previous one and gc with no grace, while a reader keeps comparing the
 * deployed order-sync@1 with what it was packaged from.  Then fsck is
 * clean and every remaining package reads back byte for byte.
 */
Test(retention, package_remove_gc_while_reading_deployed_files_loses_nothing)
{
	char buf[4096];

	prepare("");
	/* expect/V: package V copied out right after it was made, its
	 * data.bin compared with the native random bytes it came from. */
	dfs_ok(&m, "mkdir \"$DIR/expect\" && head -c 300000 /dev/urandom "
		   ">\"$DIR/data.1\" && cp \"$DIR/data.1\" " SRC "/data.bin && "
		   "mkdir " PKGS "/order-sync@1 && cp -a " PKGS "/order-sync@1 "
		   "\"$DIR/expect/1\" && cmp \"$DIR/data.1\" "
		   "\"$DIR/expect/1/data.bin\" && " CTL
		   "deploy order-sync@1 test" AT " >/dev/null 2>&1");
	dfs_ok(&m,
	       /* the reader: until told to stop, at least once */
	       "(n=0; while :; do n=$((n + 1)); "
	       "cmp -s \"$DIR/data.1\" " ENVS
	       "/test/order-sync@1/data.bin || echo \"differs at $n\"; "
	       "diff -r -x partner-cert \"$DIR/expect/1\" " ENVS
	       "/test/order-sync@1 >/dev/null || echo \"tree at $n\"; "
	       "test -e \"$DIR/stop\" && break; done; echo $n "
	       ">\"$DIR/reads\") >\"$DIR/reader\" 2>&1 & "
	       /* the writer */
	       "for v in $(seq 2 21); do "
	       "head -c $((v * 7919)) /dev/urandom >\"$DIR/data.$v\" && "
	       "cp \"$DIR/data.$v\" " SRC "/data.bin && "
	       "mkdir " PKGS "/order-sync@$v && "
	       "cp -a " PKGS "/order-sync@$v \"$DIR/expect/$v\" && "
	       "cmp \"$DIR/data.$v\" \"$DIR/expect/$v/data.bin\" && "
	       "if [ $v -gt 2 ] && [ $((v %% 3)) -ne 0 ]; then " CTL
	       "package remove order-sync@$((v - 1))" AT " >/dev/null; "
	       "fi && " CTL "gc --grace 0" AT " >>\"$DIR/gc\" || "
	       "{ echo \"round $v failed\"; break; }; done >\"$DIR/writer\" "
	       "2>&1; touch \"$DIR/stop\"; wait");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cat \"$DIR/writer\" \"$DIR/reader\" | "
				 "head -c 2000"),
			 "");
	cr_assert_gt(atol(dfs_out(&m, buf, sizeof(buf), "cat \"$DIR/reads\"")),
		     0);
	/* gc freed the blobs of the removed packages. */
	cr_assert_gt(atol(dfs_out(&m, buf, sizeof(buf),
				  "awk '{ b += $6 } END { print b + 0 }' "
				  "\"$DIR/gc\"")),
		     0, "gc freed no blob");
	dfs_ok(&m, "\"$DEPLOYCTL\" fsck \"$STORE\" >/dev/null 2>&1");
	/* Every remaining package reads back as it was packaged. */
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf), "ls " PKGS " | grep -c @"), "9");
	dfs_ok(&m, "for p in " PKGS "/order-sync@*; do v=${p##*@}; "
		   "diff -r -x partner-cert \"$DIR/expect/$v\" \"$p\" || "
		   "exit 1; done");
	dfs_ok(&m, "diff -r -x partner-cert \"$DIR/expect/1\" " ENVS
		   "/test/order-sync@1");
}
