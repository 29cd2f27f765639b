// SPDX-License-Identifier: MIT
/*
 * test_runtime.c - a runtime on this machine consumes an environment as
 * docs/runtimes.md says, shown by the example runtime tools/deployfs-runtime:
 * it learns of a deployment through inotify on the environment's folder,
 * runs the deployed version from its pinned path, and a run in flight
 * finishes on the old version while a new one is deployed.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define PKGS "\"$MNT/packages/order-sync\""
#define ENVS "\"$MNT/environments\""
#define RUNTIME "\"$FIXTURES/../../tools/deployfs-runtime\" "
/* Wait (up to ~60 s) until the runtime's output holds a line matching
 * the extended regular expression re; else print it and fail. */
#define UNTIL(re)                                                             \
	"i=0; until grep -Eq '" re "' \"$DIR/rt.out\"; do i=$((i+1)); "       \
	"[ $i -lt 1200 ] || { echo 'no \"" re "\" in:'; cat \"$DIR/rt.out\" " \
	"\"$DIR/rt.err\"; exit 1; }; sleep 0.05; done"

static struct dfs_mount m;
static int setup_rc;

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
}

static void teardown(void)
{
	/* A runtime a failed test left running ends with it. */
	(void)dfs_sh(&m, "[ ! -f \"$DIR/rt.pid\" ] || kill $(cat "
			 "\"$DIR/rt.pid\") 2>/dev/null; true");
	dfs_mount_teardown(&m);
}

TestSuite(runtime, .init = setup, .fini = teardown, .timeout = 180);

/* order-sync@1, then @2 with a changed map; @1 deployed in test. */
static void prepare(void)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0, "cp -a of the workspace");
	dfs_ok(&m, "mkdir " PKGS "/order-sync@1 && sed -i "
		   "'s|/order/customer/number|/order/customer/id|' "
		   "\"$BUILD/map/order-map/map.xml\" && mkdir " PKGS
		   "/order-sync@2 " ENVS "/test && \"$DEPLOYCTL\" deploy "
		   "order-sync@1 test --mount \"$MNT\" >/dev/null 2>&1");
}

/* The map.xml line of run k of the runtime's output, and the SHA-256 of
 * order-sync@V's map.xml: the same when run k read version V. */
static void assert_run_read(int k, int v)
{
	char got[128], want[128];

	dfs_out(&m, got, sizeof(got),
		"awk '$1 == \"run\" && $2 == %d && $3 == \"file\" && "
		"$4 == \"order-map/map.xml\" { print $5 }' \"$DIR/rt.out\"",
		k);
	dfs_out(&m, want, sizeof(want),
		"sha256sum < " PKGS "/order-sync@%d/order-map/map.xml | "
		"cut -d' ' -f1",
		v);
	cr_assert(want[0] != '\0');
	cr_assert_str_eq(got, want, "run %d read the map of order-sync@%d", k,
			 v);
}

Test(runtime, a_run_in_flight_finishes_on_the_old_version)
{
	prepare();
	dfs_ok(&m, "mkfifo \"$DIR/hold\" && { " RUNTIME "--runs 2 --hold "
		   "\"$DIR/hold\" \"$MNT\" test order-sync >\"$DIR/rt.out\" "
		   "2>\"$DIR/rt.err\" & echo $! >\"$DIR/rt.pid\"; }");
	/* Run 1 of @1 has read its first file and waits. */
	dfs_ok(&m, UNTIL("^run 1 file "));
	dfs_ok(&m, "ln -sfn ../../packages/order-sync/order-sync@2 " ENVS
		   "/test/order-sync");
	/* The runtime heard of @2 and ran it whole while run 1 waits. */
	dfs_ok(&m, UNTIL("^deployed order-sync@2$"));
	dfs_ok(&m, UNTIL("^run 2 done order-sync@2 8$"));
	dfs_ok(&m, "! grep -q '^run 1 done' \"$DIR/rt.out\"");
	dfs_ok(&m, "echo go >\"$DIR/hold\"");
	dfs_ok(&m, "pid=$(cat \"$DIR/rt.pid\"); i=0; while kill -0 $pid "
		   "2>/dev/null; do i=$((i+1)); [ $i -lt 1200 ] || exit 1; "
		   "sleep 0.05; done");
	dfs_ok(&m, "grep -qx 'run 1 done order-sync@1 8' \"$DIR/rt.out\" && "
		   "! grep -q failed \"$DIR/rt.out\"");
	assert_run_read(1, 1);
	assert_run_read(2, 2);
	/* The two versions differ where the test changed them. */
	dfs_ok(&m, "! cmp -s " PKGS "/order-sync@1/order-map/map.xml " PKGS
		   "/order-sync@2/order-map/map.xml");
}

Test(runtime, an_undeploy_and_a_copy_deploy_start_a_new_run)
{
	prepare();
	dfs_ok(&m, "{ " RUNTIME "--runs 2 \"$MNT\" test order-sync "
		   ">\"$DIR/rt.out\" 2>\"$DIR/rt.err\" & echo $! "
		   ">\"$DIR/rt.pid\"; }");
	dfs_ok(&m, UNTIL("^run 1 done order-sync@1 8$"));
	/* Undeployed, then deployed again by a copy: the last file the
	 * copy closes deploys it, and the runtime hears that close. */
	dfs_ok(&m, "rm " ENVS "/test/order-sync && cp -r " PKGS
		   "/order-sync@2 " ENVS "/test/");
	dfs_ok(&m, UNTIL("^run 2 done order-sync@2 8$"));
	dfs_ok(&m, "pid=$(cat \"$DIR/rt.pid\"); i=0; while kill -0 $pid "
		   "2>/dev/null; do i=$((i+1)); [ $i -lt 1200 ] || exit 1; "
		   "sleep 0.05; done");
	assert_run_read(2, 2);
}

Test(runtime, bad_arguments_are_usage_errors)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_sh(&m, RUNTIME "\"$MNT\" test >/dev/null 2>&1"), 64);
	cr_assert_eq(dfs_sh(&m, RUNTIME "--bogus \"$MNT\" test order-sync "
					">/dev/null 2>&1"),
		     64);
	cr_assert_eq(dfs_sh(&m, RUNTIME "\"$MNT\" nosuch order-sync "
					">/dev/null 2>&1"),
		     66);
	dfs_ok(&m, RUNTIME "--help | grep -q 'pins its version'");
}
