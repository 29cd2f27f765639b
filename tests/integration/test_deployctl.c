// SPDX-License-Identifier: MIT
/*
 * test_deployctl.c - deployctl package: creates packages through the
 * mount, and records the refusals the kernel answers before the daemon
 * sees them (an existing version, an unknown component).  deploy,
 * undeploy and rollback through the mount, and their refusals; status,
 * log and log --json read from the store behind the mount.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct dfs_mount m;
static int mount_rc;

static void setup(void)
{
	mount_rc = dfs_mount_setup(&m);
	if (mount_rc == 0)
		mount_rc = dfs_copy_workspace(&m);
}

static void teardown(void)
{
	dfs_mount_teardown(&m);
}

TestSuite(deployctl, .init = setup, .fini = teardown, .timeout = 120);

static int refusals(const char *version)
{
	char out[64];

	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"sqlite3 \"$STORE/deployfs.db\" \"SELECT"
				" count(*) FROM audit WHERE action = 'package'"
				" AND result = 'refused' AND version IS '%s'"
				" AND cmd LIKE '%%deployctl package%%'\"",
				version),
		     0);
	return atoi(out);
}

Test(deployctl, packages_with_the_next_version_and_notes)
{
	char out[512];

	cr_assert_eq(mount_rc, 0);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" package order-sync --mount "
				"\"$MNT\" --notes 'first cut'"),
		     0);
	cr_assert(strstr(out, "/packages/order-sync/order-sync@1"), "%s", out);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" package order-sync --mount "
				"\"$MNT\""),
		     0);
	cr_assert(strstr(out, "order-sync@2"), "%s", out);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"getfattr --only-values -n user.deployfs.notes"
				" \"$MNT/packages/order-sync/order-sync@1\""),
		     0);
	cr_assert_str_eq(out, "first cut");
}

Test(deployctl, an_existing_version_is_refused_and_recorded)
{
	cr_assert_eq(mount_rc, 0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" package order-sync --mount "
				"\"$MNT\" --version 1 >/dev/null"),
		     0);
	cr_assert_eq(refusals("1"), 0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" package order-sync --mount "
				"\"$MNT\" --version 1 2>/dev/null"),
		     1);
	cr_assert_eq(refusals("1"), 1);
	cr_assert_eq(dfs_sh(&m,
			    "ls \"$MNT/packages/order-sync\" | "
			    "tr '\\n' ' ' | grep -qx 'latest order-sync@1 '"),
		     0, "the listing changed");
}

Test(deployctl, an_unknown_component_is_refused_and_recorded)
{
	cr_assert_eq(mount_rc, 0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" package no-such --mount "
				"\"$MNT\" --version 3 2>/dev/null"),
		     66);
	cr_assert_eq(refusals("3"), 1);
	cr_assert_eq(dfs_sh(&m, "grep -q \" $MNT fuse.deployfs \" "
				"/proc/mounts && grep \" $MNT \" /proc/mounts "
				"| grep -q \"^$STORE \""),
		     0, "the mount's source is its store");
}

/* ---- deploy, undeploy, rollback, status, log ------------------------------ */

/*
 * Package order-sync `versions` times and partner-cert once, and make the
 * environment test.  order-sync requires partner-cert.
 */
static void prepare(int versions)
{
	cr_assert_eq(mount_rc, 0);
	for (int i = 0; i < versions; i++)
		cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" package order-sync "
					"--mount \"$MNT\" >/dev/null"),
			     0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" package partner-cert "
				"--mount \"$MNT\" >/dev/null"),
		     0);
	cr_assert_eq(dfs_sh(&m, "mkdir \"$MNT/environments/test\""), 0);
}

/* What environments/ENV/NAME links to ("" when it does not exist). */
static void deployed(const char *env, const char *name, char *out, size_t cap)
{
	out[0] = '\0';
	(void)dfs_sh_out(&m, out, cap,
			 "readlink \"$MNT/environments/%s/%s\" | tr -d '\\n'",
			 env, name);
}

static void expect_deployed(const char *env, const char *name,
			    const char *version)
{
	char out[512], want[512];

	deployed(env, name, out, sizeof(out));
	if (version)
		snprintf(want, sizeof(want), "../../packages/%s/%s@%s", name,
			 name, version);
	else
		want[0] = '\0';
	cr_assert_str_eq(out, want, "%s/%s", env, name);
}

/* No temporary link of deployctl is left in environments/ENV. */
static void expect_no_leftovers(const char *env)
{
	cr_assert_eq(dfs_sh(&m,
			    "! ls -a \"$MNT/environments/%s\" | "
			    "grep -q deployctl",
			    env),
		     0, "a temporary link was left in %s", env);
}

/* The audit trail as deployctl log --json prints it, slurped by jq and
 * run through filter; jq's output in out, its exit status returned. */
static int jq(char *out, size_t cap, const char *filter)
{
	return dfs_sh_out(&m, out, cap,
			  "\"$DEPLOYCTL\" log --json --mount \"$MNT\" | "
			  "jq -e -r -s '%s'",
			  filter);
}

Test(deployctl, deploy_links_the_package_and_sets_its_notes)
{
	char out[512];

	prepare(1);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" deploy order-sync@1 test "
				"--notes 'first rollout' --mount \"$MNT\""),
		     0);
	cr_assert(strstr(out, "order-sync@1"), "%s", out);
	expect_deployed("test", "order-sync", "1");
	expect_no_leftovers("test");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"getfattr --only-values -n "
				"user.deployfs.notes "
				"\"$MNT/environments/test/order-sync@1\""),
		     0);
	cr_assert_str_eq(out, "first rollout");
	cr_assert_eq(jq(out, sizeof(out),
			"map(select(.action == \"deploy\")) | length"),
		     0);
	cr_assert_str_eq(out, "1\n");
}

Test(deployctl, a_refused_deploy_says_why_and_leaves_nothing)
{
	char out[1024];

	prepare(1);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" deploy order-sync@9 test "
				"--mount \"$MNT\" 2>&1"),
		     66);
	cr_assert(strstr(out, "deployctl: deploy order-sync@9 to test: "
			      "order-sync has no version 9 (versions: 1)"),
		  "%s", out);
	expect_deployed("test", "order-sync", NULL);
	expect_no_leftovers("test");

	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" deploy order-sync@1 nowhere "
				"--mount \"$MNT\" 2>&1"),
		     66);
	cr_assert(strstr(out, "deployctl: deploy order-sync@1 to nowhere: "
			      "no environment \"nowhere\" (environments: "
			      "test)"),
		  "%s", out);
	cr_assert_eq(dfs_sh(&m, "test ! -e \"$MNT/environments/nowhere\""), 0);
}

Test(deployctl, deploy_usage_errors_exit_64)
{
	cr_assert_eq(mount_rc, 0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" deploy order-sync test "
				"--mount \"$MNT\" 2>/dev/null"),
		     64, "no version");
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" deploy order-sync@1 "
				"--mount \"$MNT\" 2>/dev/null"),
		     64, "no environment");
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" deploy order-sync@1 test "
				"--bogus --mount \"$MNT\" 2>/dev/null"),
		     64, "unknown option");
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" deploy order-sync@1 ../x "
				"--mount \"$MNT\" 2>/dev/null"),
		     64, "a path for an environment");
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" undeploy order-sync "
				"--mount \"$MNT\" 2>/dev/null"),
		     64);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" rollback order-sync test "
				"--to '' --mount \"$MNT\" 2>/dev/null"),
		     64);
	expect_deployed("test", "order-sync", NULL);
}

Test(deployctl, undeploy_removes_the_link)
{
	char out[1024];

	prepare(1);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" deploy order-sync@1 test "
				"--mount \"$MNT\" >/dev/null"),
		     0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" undeploy order-sync test "
				"--mount \"$MNT\" >/dev/null"),
		     0);
	expect_deployed("test", "order-sync", NULL);
	cr_assert_eq(dfs_sh(&m, "test ! -e "
				"\"$MNT/environments/test/order-sync@1\""),
		     0, "the deployed folder is still listed");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" undeploy order-sync test "
				"--mount \"$MNT\" 2>&1"),
		     1);
	cr_assert(strstr(out, "deployctl: undeploy order-sync from test: "
			      "order-sync is not deployed there"),
		  "%s", out);
	cr_assert_eq(jq(out, sizeof(out),
			"map(select(.action == \"undeploy\")) | length"),
		     0);
	cr_assert_str_eq(out, "1\n");
}

Test(deployctl, rollback_deploys_the_version_before)
{
	char out[1024];

	prepare(3);
	cr_assert_eq(dfs_sh(&m, "for v in 1 2 3; do \"$DEPLOYCTL\" deploy "
				"order-sync@$v test --mount \"$MNT\" || "
				"exit 1; done >/dev/null"),
		     0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" rollback order-sync test "
				"--mount \"$MNT\" >/dev/null"),
		     0);
	expect_deployed("test", "order-sync", "2");
	expect_no_leftovers("test");
	cr_assert_eq(jq(out, sizeof(out),
			"map(select(.component == \"order-sync\" and "
			".env == \"test\")) | last | .action"),
		     0);
	cr_assert_str_eq(out, "rollback\n");
	/* #1 @1, #2 @2, #3 @3 (ended), #4 @2: before @2 came @3 */
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" rollback order-sync test "
				"--mount \"$MNT\" >/dev/null"),
		     0);
	expect_deployed("test", "order-sync", "3");
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" rollback order-sync test "
				"--to 1 --mount \"$MNT\" >/dev/null"),
		     0);
	expect_deployed("test", "order-sync", "1");
}

Test(deployctl, rollback_skips_deployments_of_the_version_deployed_now)
{
	prepare(2);
	/* #1 @1, #2 @2 (undeployed), #3 @2: before @2 came @1 */
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" deploy order-sync@1 test "
				"--mount \"$MNT\" && "
				"\"$DEPLOYCTL\" deploy order-sync@2 test "
				"--mount \"$MNT\" && "
				"\"$DEPLOYCTL\" undeploy order-sync test "
				"--mount \"$MNT\" && "
				"\"$DEPLOYCTL\" deploy order-sync@2 test "
				"--mount \"$MNT\" && "
				"\"$DEPLOYCTL\" rollback order-sync test "
				"--mount \"$MNT\" >/dev/null"),
		     0);
	expect_deployed("test", "order-sync", "1");
}

Test(deployctl, rollback_without_a_previous_version_is_refused)
{
	char out[1024];

	prepare(2);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" rollback order-sync test "
				"--mount \"$MNT\" 2>&1"),
		     1, "never deployed");
	cr_assert(strstr(out, "nothing to roll back to"), "%s", out);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" deploy order-sync@1 test "
				"--mount \"$MNT\" >/dev/null"),
		     0);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" rollback order-sync test "
				"--mount \"$MNT\" 2>&1"),
		     1, "only one deployment");
	cr_assert(strstr(out, "nothing to roll back to"), "%s", out);
	expect_deployed("test", "order-sync", "1");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" rollback order-sync test "
				"--to 7 --mount \"$MNT\" 2>&1"),
		     66, "no such version");
	cr_assert(strstr(out, "deployctl: rollback order-sync in test: "
			      "order-sync has no version 7 (versions: 1, 2)"),
		  "%s", out);
	expect_deployed("test", "order-sync", "1");
	expect_no_leftovers("test");
}

Test(deployctl, status_shows_deployments_copies_and_unmet_requirements)
{
	char out[4096];

	prepare(2);
	cr_assert_eq(dfs_sh(&m, "mkdir \"$MNT/environments/prod\" && "
				"\"$DEPLOYCTL\" deploy order-sync@2 test "
				"--mount \"$MNT\" >/dev/null && "
				"mkdir \"$MNT/environments/prod/"
				"partner-cert@1\""),
		     0);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" status --mount \"$MNT\""),
		     0);
	cr_assert_eq(dfs_sh(&m,
			    "\"$DEPLOYCTL\" status --mount \"$MNT\" | head -1 "
			    "| grep -Eq '^ENV +COMPONENT +VERSION +DEPLOYMENT "
			    "+WHEN +WHO$'"),
		     0, "%s", out);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" status --mount \"$MNT\" | "
				"grep -Eq '^test +order-sync +2 +1 +"
				"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
				"[0-9]{2}:[0-9]{2}Z +root$'"),
		     0, "%s", out);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" status --mount \"$MNT\" | "
				"grep -Eq '^prod +- +- +- +- +-$'"),
		     0, "an empty environment is missing:\n%s", out);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" status --mount \"$MNT\" | "
				"sed -n '/^Copies in progress:/,/^$/p' | "
				"grep -Eq '^  prod +partner-cert@1 +0/[1-9]'"),
		     0, "the copy in progress is missing:\n%s", out);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" status --mount \"$MNT\" | "
				"sed -n '/^Unmet requirements:/,$p' | "
				"grep -Eq '^  test +order-sync@2 +"
				"certificate/partner-cert$'"),
		     0, "the unmet requirement is missing:\n%s", out);

	/* one environment */
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" status prod --mount \"$MNT\""),
		     0);
	cr_assert_null(strstr(out, "order-sync"), "%s", out);
	cr_assert(strstr(out, "partner-cert@1"), "%s", out);
}

Test(deployctl, status_of_an_unknown_environment_or_mount_fails)
{
	char out[1024];

	prepare(1);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" status nowhere --mount "
				"\"$MNT\" 2>&1"),
		     66);
	cr_assert(strstr(out, "no environment \"nowhere\""), "%s", out);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" status --mount \"$DIR\" "
				"2>/dev/null"),
		     66, "not a mount");
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" status a b --mount \"$MNT\" "
				"2>/dev/null"),
		     64);
}

Test(deployctl, log_prints_the_audit_trail_with_filters)
{
	char out[8192];

	prepare(2);
	cr_assert_eq(dfs_sh(&m, "mkdir \"$MNT/environments/prod\" && "
				"\"$DEPLOYCTL\" deploy order-sync@1 test "
				"--mount \"$MNT\" >/dev/null && "
				"\"$DEPLOYCTL\" deploy partner-cert@1 prod "
				"--mount \"$MNT\" >/dev/null"),
		     0);
	/* the whole trail is audit.log */
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" log --mount \"$MNT\" | "
				"cmp -s - \"$MNT/audit.log\""),
		     0, "deployctl log differs from audit.log");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" log --env test --component "
				"order-sync --mount \"$MNT\""),
		     0);
	cr_assert(strstr(out, "action=deploy env=test component=order-sync "
			      "version=1"),
		  "%s", out);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" log --env test --component "
				"order-sync --mount \"$MNT\" | "
				"grep -v ' env=test component=order-sync ' "
				"| grep -q ."),
		     1, "the filters let other events through");
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" log --env prod --mount "
				"\"$MNT\" | grep -c . | grep -qx 2"),
		     0, "env-create and deploy in prod");
	/* since: tomorrow has nothing, the epoch everything */
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" log --since "
				"\"$(date -u -d tomorrow +%%Y-%%m-%%d)\" "
				"--mount \"$MNT\""),
		     0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" log --since @0 --mount "
				"\"$MNT\" | cmp -s - \"$MNT/audit.log\""),
		     0);
	cr_assert_eq(dfs_sh(&m,
			    "\"$DEPLOYCTL\" log --since "
			    "\"$(date -u -d '1 hour ago' "
			    "+%%Y-%%m-%%dT%%H:%%M:%%S)\" --mount \"$MNT\" | "
			    "cmp -s - \"$MNT/audit.log\""),
		     0);
}

Test(deployctl, log_json_is_one_object_a_line)
{
	char out[4096];

	prepare(1);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" deploy order-sync@1 test "
				"--notes n --mount \"$MNT\" >/dev/null"),
		     0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" log --json --mount \"$MNT\" "
				"| python3 -c 'import json,sys;"
				"[json.loads(l) for l in sys.stdin]'"),
		     0, "not JSON lines");
	cr_assert_eq(dfs_sh(&m, "test \"$(\"$DEPLOYCTL\" log --json --mount "
				"\"$MNT\" | wc -l)\" = \"$(wc -l < "
				"\"$MNT/audit.log\")\""),
		     0, "not one line per event");
	cr_assert_eq(jq(out, sizeof(out),
			"all(.[]; has(\"ts\") and has(\"seq\") and "
			"has(\"actor\") and has(\"uid\") and has(\"pid\") and "
			"has(\"cmd\") and has(\"action\") and has(\"env\") and "
			"has(\"component\") and has(\"version\") and "
			"has(\"from\") and has(\"deployment\") and "
			"has(\"result\") and has(\"reason\"))"),
		     0, "a key is missing: %s", out);
	cr_assert_eq(jq(out, sizeof(out),
			"map(select(.action == \"deploy\")) | .[0] | "
			"[.env, .component, .version, .deployment, "
			".result] | @tsv"),
		     0);
	cr_assert_str_eq(out, "test\torder-sync\t1\t1\tok\n");
	cr_assert_eq(jq(out, sizeof(out),
			"all(.[]; .ts | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T"
			"[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{9}Z$\"))"),
		     0, "a ts is not ISO 8601 with ns");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" log --json --env test "
				"--component partner-cert --mount \"$MNT\""),
		     0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" log --json --env test "
				"--mount \"$MNT\" | jq -e -s 'length > 0 and "
				"all(.[]; .env == \"test\")' >/dev/null"),
		     0);
}

Test(deployctl, log_refuses_a_bad_since)
{
	static const char *const bad[] = {
		"yesterday",	    "2026-02-30", "2026-11-27T25:00",
		"2026-11-27 10:00", "@-5",	  "@12x",
		"2026-1-2",	    "",
	};
	char out[1024];

	cr_assert_eq(mount_rc, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
					"\"$DEPLOYCTL\" log --since '%s' "
					"--mount \"$MNT\" 2>&1",
					bad[i]),
			     64, "--since '%s' was taken", bad[i]);
		cr_assert(strstr(out, "--since"), "%s", out);
	}
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" log --since 2026-11-27T10:00Z "
				"--mount \"$MNT\" >/dev/null"),
		     0);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" log --mount \"$DIR\" "
				"2>/dev/null"),
		     66, "not a mount");
}
