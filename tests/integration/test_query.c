// SPDX-License-Identifier: MIT
/*
 * test_query.c - the reports a newcomer asks first: deployctl history
 * (every deployment to an environment, how each was made, which is
 * active), diff (which versions and files differ between environments and
 * packages) and why (the refusals recorded for the caller or a path,
 * with their reasons); their --json; and that a user who cannot open the
 * store (nobody: the store folder is 0700) gets the same answers through
 * the mount, and log too.
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

TestSuite(query, .init = setup, .fini = teardown, .timeout = 120);

#define CTL "\"$DEPLOYCTL\" "
#define AT " --mount \"$MNT\""
/* Run what follows as nobody (65534), no supplementary groups. */
#define NOBODY "setpriv --reuid=65534 --regid=65534 --clear-groups "

/*
 * order-sync@1 and @2 (@2: the map changed, a file added, one removed,
 * a link retargeted), partner-cert@1; test gets partner-cert@1 by
 * deployctl, order-sync@1 by cp -r, @2 by ln -sfn, then a rollback to
 * @1; production gets partner-cert@1 and order-sync@2 (with notes).
 */
static void deploy_history(void)
{
	cr_assert_eq(mount_rc, 0);
	dfs_ok(&m, "cd \"$BUILD/process/order-sync\" && "
		   "ln -s process.xml current && echo old >retired.txt");
	dfs_ok(&m, "cd \"$MNT\" && mkdir packages/order-sync/order-sync@1 "
		   "packages/partner-cert/partner-cert@1");
	dfs_ok(&m, "cd \"$BUILD\" && sed -i 's|/order/customer/number|"
		   "/order/customer/id|' map/order-map/map.xml && "
		   "rm process/order-sync/retired.txt && "
		   "echo new >process/order-sync/added.txt && "
		   "ln -sfn sftp-in process/order-sync/current");
	dfs_ok(&m, CTL "package order-sync" AT " >/dev/null");
	dfs_ok(&m, "cd \"$MNT\" && mkdir environments/test "
		   "environments/production");
	dfs_ok(&m, CTL "deploy partner-cert@1 test" AT " >/dev/null");
	dfs_ok(&m, CTL "deploy partner-cert@1 production" AT " >/dev/null");
	dfs_ok(&m, "cd \"$MNT\" && "
		   "cp -r packages/order-sync/order-sync@1 environments/test/");
	dfs_ok(&m, "cd \"$MNT\" && ln -sfn ../../packages/order-sync/"
		   "order-sync@2 environments/test/order-sync");
	dfs_ok(&m, CTL "deploy order-sync@2 production --notes 'release 2'" AT
		       " >/dev/null");
	dfs_ok(&m, CTL "rollback order-sync test" AT " >/dev/null");
}

/* ---- history ------------------------------------------------------------ */

/* history's table, without its header, as "# COMPONENT VERSION HOW
 * ACTIVE" a row, rows separated by "|". */
static char *history_rows(char *out, size_t cap, const char *args)
{
	return dfs_out(&m, out, cap,
		       CTL
		       "history %s" AT " | awk 'NR > 1 { printf \"%%s%%s "
		       "%%s %%s %%s %%s\", (NR > 2 ? \"|\" : \"\"), $1, $2, "
		       "$3, $7, $8 }'",
		       args);
}

Test(query, history_lists_every_deployment_newest_first_with_how)
{
	char out[4096];

	deploy_history();
	history_rows(out, sizeof(out), "test");
	cr_assert_str_eq(out, "3 order-sync 1 rollback yes|"
			      "2 order-sync 2 link no|"
			      "1 order-sync 1 copy no|"
			      "1 partner-cert 1 deployctl yes");
	/* the header names the columns; who is the user and the uid */
	dfs_out(&m, out, sizeof(out), CTL "history test" AT " | head -n 2");
	cr_assert(strstr(out, "COMPONENT") && strstr(out, "WHEN") &&
			  strstr(out, "root (0)"),
		  "%s", out);
	cr_assert(strstr(out, "Z root"), "when is UTC ISO 8601: %s", out);
}

Test(query, history_of_one_component_and_sorted)
{
	char out[4096];

	deploy_history();
	history_rows(out, sizeof(out), "test partner-cert");
	cr_assert_str_eq(out, "1 partner-cert 1 deployctl yes");
	/* by version, then newest first: partner-cert@1 came first */
	history_rows(out, sizeof(out), "test --sort version");
	cr_assert_str_eq(out, "3 order-sync 1 rollback yes|"
			      "1 order-sync 1 copy no|"
			      "1 partner-cert 1 deployctl yes|"
			      "2 order-sync 2 link no");
	history_rows(out, sizeof(out), "test --sort component");
	cr_assert_str_eq(out, "3 order-sync 1 rollback yes|"
			      "2 order-sync 2 link no|"
			      "1 order-sync 1 copy no|"
			      "1 partner-cert 1 deployctl yes");
	cr_assert_eq(
		dfs_sh(&m, CTL "history test --sort size" AT " 2>/dev/null"),
		64);
}

Test(query, history_json_is_one_array_with_notes)
{
	char out[4096];

	deploy_history();
	dfs_out(&m, out, sizeof(out),
		CTL "history production --json" AT
		    " | jq -r '.[] | \"\\(.env) \\(.deployment) \\(.component)"
		    " \\(.version) \\(.user) \\(.uid) \\(.how) \\(.active) "
		    "\\(.notes)\"'");
	cr_assert_str_eq(out, "production 1 order-sync 2 root 0 deployctl "
			      "true release 2\n"
			      "production 1 partner-cert 1 root 0 deployctl "
			      "true null");
	dfs_out(&m, out, sizeof(out),
		CTL "history test --json" AT " | jq -r 'type, length, "
		    "(.[0].when | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T"
		    "[0-9:]{8}Z$\"))'");
	cr_assert_str_eq(out, "array\n4\ntrue");
}

/* JSON from a writer: quotes, backslashes and control characters escaped,
 * bytes that are not UTF-8 made U+FFFD; the same through the mount. */
Test(query, history_json_escapes_what_notes_hold)
{
	static const char want[] =
		"say \"hi\"\\\t\001 caf\303\251 \357\277\275";
	char out[1024];

	deploy_history();
	dfs_ok(&m, CTL "deploy order-sync@2 test" AT " --notes \"$(printf "
		       "'say \"hi\"\\\\\\t\\001 caf\\303\\251 \\377')\" "
		       ">/dev/null");
	dfs_out(&m, out, sizeof(out),
		CTL "history test --json" AT " | jq -r '.[0].notes'");
	cr_assert_str_eq(out, want);
	dfs_out(&m, out, sizeof(out),
		NOBODY CTL "history test --json" AT " | jq -r '.[0].notes'");
	cr_assert_str_eq(out, want);
}

Test(query, history_of_an_unknown_environment_names_those_that_exist)
{
	char out[1024];

	deploy_history();
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				CTL "history staging" AT " 2>&1"),
		     66);
	cr_assert(strstr(out, "\"staging\"") && strstr(out, "test") &&
			  strstr(out, "production"),
		  "%s", out);
}

Test(query, every_new_command_has_help_and_refuses_unknown_options)
{
	static const char *const cmds[] = { "history", "diff", "why" };
	static char out[16384];

	cr_assert_eq(mount_rc, 0);
	for (int i = 0; i < 3; i++) {
		dfs_out(&m, out, sizeof(out), CTL "%s --help", cmds[i]);
		cr_assert(strncmp(out, "usage: deployctl ", 17) == 0 &&
				  strstr(out, cmds[i]),
			  "%s --help: %s", cmds[i], out);
		dfs_out(&m, out, sizeof(out), CTL "%s -h", cmds[i]);
		cr_assert(strstr(out, "usage: deployctl "), "%s", out);
		/* options come first: nothing is read */
		cr_assert_eq(
			dfs_sh(&m, CTL "%s --bogus test 2>/dev/null", cmds[i]),
			64, "%s --bogus", cmds[i]);
	}
	cr_assert_eq(dfs_sh(&m, CTL "history 2>/dev/null"), 64);
	cr_assert_eq(dfs_sh(&m, CTL "diff test 2>/dev/null"), 64);
	cr_assert_eq(dfs_sh(&m, CTL "why -n 0 2>/dev/null"), 64);
	cr_assert_eq(dfs_sh(&m, CTL "why -n x 2>/dev/null"), 64);
	dfs_out(&m, out, sizeof(out), CTL "--help");
	cr_assert(strstr(out, "history ENV") && strstr(out, "diff A B") &&
			  strstr(out, "why [PATH]"),
		  "deployctl --help names them: %s", out);
}

/* ---- diff ------------------------------------------------------------------ */

Test(query, diff_of_the_same_environments_is_silent_and_exits_0)
{
	char out[1024];

	deploy_history();
	dfs_ok(&m, CTL "deploy order-sync@2 test" AT " >/dev/null");
	dfs_out(&m, out, sizeof(out), CTL "diff test production" AT);
	cr_assert_str_eq(out, "");
	dfs_out(&m, out, sizeof(out),
		CTL "diff test/order-sync order-sync@2" AT);
	cr_assert_str_eq(out, "");
}

Test(query, diff_of_environments_gives_versions_then_files)
{
	char out[4096];

	deploy_history();
	cr_assert_eq(
		dfs_sh_out(&m, out, sizeof(out), CTL "diff test production" AT),
		1);
	cr_assert_str_eq(out,
			 "COMPONENT                test         production\n"
			 "order-sync               1            2\n"
			 "added    order-sync: added.txt\n"
			 "changed  order-sync: current\n"
			 "changed  order-sync: order-map/map.xml\n"
			 "removed  order-sync: retired.txt\n");
	/* a component on one side only */
	dfs_ok(&m, "rm \"$MNT/environments/test/partner-cert\"");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				CTL "diff test production" AT " | grep "
				    "partner-cert"),
		     0);
	cr_assert_str_eq(out, "partner-cert             -            1\n");
}

Test(query, diff_of_packages_and_of_one_component)
{
	char out[4096];

	deploy_history();
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				CTL "diff order-sync@2 order-sync@1" AT
				    " | tail -n +2"),
		     0);
	cr_assert_str_eq(out, "order-sync               2            1\n"
			      "removed  order-sync: added.txt\n"
			      "changed  order-sync: current\n"
			      "changed  order-sync: order-map/map.xml\n"
			      "added    order-sync: retired.txt\n");
	/* ENV/NAME against a whole environment compares that component */
	cr_assert_eq(dfs_sh(&m, CTL "diff test/partner-cert production" AT), 0);
	cr_assert_eq(dfs_sh(&m, CTL "diff production/order-sync test" AT
				    " >/dev/null"),
		     1);
	cr_assert_eq(dfs_sh(&m, CTL "diff test/order-sync order-sync@1" AT), 0);
	/* two components: each is on one side only */
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				CTL "diff order-sync@1 partner-cert@1" AT),
		     1);
	cr_assert(strstr(out, "order-sync               1            -\n") &&
			  strstr(out,
				 "partner-cert             -            1\n"),
		  "%s", out);
}

Test(query, diff_of_what_does_not_exist_is_trouble)
{
	char out[1024];

	deploy_history();
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				CTL "diff test staging" AT " 2>&1"),
		     2);
	cr_assert(strstr(out, "\"staging\""), "%s", out);
	cr_assert_eq(dfs_sh(&m, CTL "diff order-sync@9 test" AT " 2>/dev/null"),
		     2);
	cr_assert_eq(dfs_sh(&m, CTL "diff test/a/b test" AT " 2>/dev/null"), 2);
}

/* ---- why ------------------------------------------------------------------- */

Test(query, why_shows_the_callers_refusals_with_errno_and_reason)
{
	char out[4096];

	deploy_history();
	cr_assert_neq(dfs_sh(&m, "touch \"$MNT/environments/test/"
				 "order-sync@1/new\" 2>/dev/null"),
		      0);
	dfs_out(&m, out, sizeof(out), CTL "why" AT);
	cr_assert(strstr(out, "EROFS deploy environments/test/order-sync@1 "
			      "(root, uid 0: touch "),
		  "%s", out);
	cr_assert(strstr(out, "Read-only file system: making new: "),
		  "the reason: %s", out);
	/* from inside the mount, a relative path */
	dfs_out(&m, out, sizeof(out),
		"cd \"$MNT/environments/test\" && " CTL "why order-sync@1/new "
		"--json | jq -r '.[] | \"\\(.errno) \\(.operation) \\(.path) "
		"\\(.uid)\"'");
	cr_assert_str_eq(out, "EROFS deploy environments/test/order-sync@1 0");
	/* the mount reached through a link, as ~/deployfs */
	dfs_out(&m, out, sizeof(out),
		"ln -s \"$MNT\" \"$DIR/link\" && " CTL
		"why --json \"$DIR/link/environments/test/order-sync@1/new\""
		" | jq -r '.[].path'");
	cr_assert_str_eq(out, "environments/test/order-sync@1");
	dfs_out(&m, out, sizeof(out),
		CTL "why \"$MNT/environments/production\"");
	cr_assert_str_eq(out,
			 "no refusals recorded for environments/production");
}

Test(query, why_keeps_the_last_n)
{
	char out[4096];

	deploy_history();
	for (int i = 0; i < 12; i++)
		cr_assert_neq(dfs_sh(&m,
				     "touch \"$MNT/environments/test/"
				     "order-sync@1/f%d\" 2>/dev/null",
				     i),
			      0);
	dfs_out(&m, out, sizeof(out),
		CTL "why --json" AT " | jq -r 'length, .[-1].reason'");
	cr_assert(strncmp(out, "10\n", 3) == 0, "%s", out);
	cr_assert(strstr(out, "making f11:"), "the last is last: %s", out);
	dfs_out(&m, out, sizeof(out),
		CTL "why -n 2 --json" AT " | jq -r '.[].reason'");
	cr_assert(strstr(out, "making f10:") && strstr(out, "making f11:") &&
			  !strstr(out, "making f9:"),
		  "%s", out);
	cr_assert_eq(dfs_sh(&m, CTL "why /tmp 2>/dev/null"), 66);
}

/* ---- as another user: through the mount ------------------------------------ */

Test(query, nobody_reads_history_why_log_and_diff_through_the_mount)
{
	static char out[65536], want[65536];

	deploy_history();
	/* the store is not nobody's to open */
	cr_assert_neq(dfs_sh(&m, NOBODY "ls \"$STORE\" >/dev/null 2>&1"), 0);
	cr_assert_neq(dfs_sh(&m, NOBODY "ln -sfn ../../packages/order-sync/"
					"order-sync@1 \"$MNT/environments/"
					"production/order-sync\" 2>/dev/null"),
		      0);

	/* history: what root sees from the store */
	dfs_out(&m, want, sizeof(want), CTL "history test" AT);
	dfs_out(&m, out, sizeof(out), NOBODY CTL "history test" AT);
	cr_assert_str_eq(out, want);
	dfs_out(&m, out, sizeof(out),
		NOBODY CTL "history production --json" AT
			   " | jq -r '.[0] | \"\\(.how) \\(.notes)\"'");
	cr_assert_str_eq(out, "deployctl release 2");

	/* why: nobody's own refusal, its reason */
	dfs_out(&m, out, sizeof(out),
		"cd \"$MNT\" && " NOBODY CTL "why --json | jq -r '.[] | "
		"\"\\(.errno) \\(.operation) \\(.path) \\(.uid)\"'");
	cr_assert_str_eq(out, "EACCES access environments/production 65534");

	/* log: the same lines and JSON as root's */
	dfs_out(&m, want, sizeof(want), CTL "log --env production" AT);
	dfs_out(&m, out, sizeof(out), NOBODY CTL "log --env production" AT);
	cr_assert_str_eq(out, want);
	cr_assert(strstr(out, "actor=nobody uid=65534"), "%s", out);
	dfs_out(&m, want, sizeof(want), CTL "log --json" AT);
	dfs_out(&m, out, sizeof(out), NOBODY CTL "log --json" AT);
	cr_assert_str_eq(out, want);

	/* diff reads the trees */
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				NOBODY CTL "diff test production" AT),
		     1);
	cr_assert(strstr(out, "changed  order-sync: order-map/map.xml"), "%s",
		  out);
}
