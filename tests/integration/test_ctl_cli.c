// SPDX-License-Identifier: MIT
/*
 * test_ctl_cli.c - deployctl behaves like the tools its users know:
 *   - run inside a mount, it acts on that mount (--mount, then the mount
 *     the cwd is in, then $DEPLOYFS_MOUNT, then ~/deployfs);
 *   - every command answers -h and --help with its own help on stdout,
 *     exit 0, and acts on nothing; an unknown option is exit 64 and
 *     changes nothing;
 *   - errors name what exists (versions, environments, where a package
 *     is deployed);
 *   - status works for a user who may not open the store (through the
 *     mount, as far as that user may read it), and --json is JSON.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct dfs_mount m, m2;
static int mount_rc;

static void setup(void)
{
	mount_rc = dfs_mount_setup(&m);
	if (mount_rc == 0)
		mount_rc = dfs_copy_workspace(&m);
}

static void teardown(void)
{
	dfs_mount_teardown(&m2);
	dfs_mount_teardown(&m);
}

TestSuite(ctl_cli, .init = setup, .fini = teardown, .timeout = 120);

#define CTL "\"$DEPLOYCTL\" "
#define AT " --mount \"$MNT\""
/* Run a shell command line as nobody (uid and gid 65534). */
#define AS_NOBODY "setpriv --reuid=65534 --regid=65534 --clear-groups "
/* Neither $DEPLOYFS_MOUNT nor ~/deployfs is a mount. */
#define NO_DEFAULTS                                                \
	"mkdir -p \"$DIR/nohome\" && export HOME=\"$DIR/nohome\" " \
	"DEPLOYFS_MOUNT=\"$DIR/elsewhere\" && "

/* Package order-sync 1, 2, 2.1-hotfix, 3 and partner-cert 1; make the
 * environments test and production. */
static void prepare(void)
{
	dfs_need_mount(&m, mount_rc);
	dfs_ok(&m, "for v in 1 2 2.1-hotfix 3; do " CTL "package order-sync "
		   "--version $v" AT " >/dev/null || exit 1; done && " CTL
		   "package partner-cert" AT " >/dev/null");
	dfs_ok(&m, "mkdir \"$MNT/environments/test\" "
		   "\"$MNT/environments/production\"");
}

/* ---- A. the mount the cwd is in ------------------------------------------ */

Test(ctl_cli, inside_a_mount_deployctl_acts_on_it)
{
	char out[4096], want[PATH_MAX + 64];

	dfs_need_mount(&m, mount_rc);
	/* Today's complaint: no component "order-sync" (it looked in
	 * ~/deployfs). */
	cr_assert_str_eq(dfs_out(&m, out, sizeof(out),
				 NO_DEFAULTS "cd \"$BUILD/process\" && " CTL
					     "package order-sync"),
			 dfs_path(want, sizeof(want),
				  "%s/packages/order-sync/order-sync@1",
				  m.mnt));
	dfs_ok(&m, "mkdir \"$MNT/environments/test\"");
	cr_assert_str_eq(dfs_out(&m, out, sizeof(out),
				 NO_DEFAULTS
				 "cd \"$MNT/environments/test\" && " CTL
				 "deploy order-sync@1 test"),
			 "deployed order-sync@1 to test");
	dfs_ok(&m, "test \"$(readlink \"$MNT/environments/test/order-sync\")\""
		   " = ../../packages/order-sync/order-sync@1");
	dfs_ok(&m, NO_DEFAULTS "cd \"$BUILD/process/order-sync\" && " CTL
			       "status | grep -Eq '^test +order-sync +1 +1 '");
	dfs_ok(&m, NO_DEFAULTS "cd \"$MNT\" && " CTL "status >/dev/null");
	/* Outside of it, with nothing else to go by: not a mount. */
	cr_assert_eq(dfs_sh(&m, NO_DEFAULTS "cd \"$DIR\" && " CTL
					    "status 2>/dev/null"),
		     66);
}

Test(ctl_cli, mount_precedence_is_option_cwd_variable_home)
{
	char out[4096], want[PATH_MAX + 64];

	dfs_need_mount(&m, mount_rc);
	cr_assert_eq(dfs_mount_setup(&m2), 0, "the second mount");
	cr_assert_eq(dfs_copy_workspace(&m2), 0);
	dfs_ok(&m,
	       "mkdir \"$MNT/environments/first\" && mkdir '%s/"
	       "environments/second'",
	       m2.mnt);
	/* cwd in the first, $DEPLOYFS_MOUNT the second: the cwd wins. */
	dfs_ok(&m,
	       "cd \"$BUILD\" && HOME=/nonexistent DEPLOYFS_MOUNT='%s' " CTL
	       "status | grep -q '^first '",
	       m2.mnt);
	/* --mount wins over the cwd. */
	dfs_ok(&m,
	       "cd \"$BUILD\" && " CTL "status --mount '%s' | "
	       "grep -q '^second '",
	       m2.mnt);
	cr_assert_eq(dfs_sh(&m, "cd \"$BUILD\" && " CTL "status --mount "
				"\"$DIR\" 2>/dev/null"),
		     66, "an explicit --mount that is no mount is not ignored");
	/* Outside of any mount: $DEPLOYFS_MOUNT, then ~/deployfs. */
	dfs_ok(&m,
	       "cd / && HOME=/nonexistent DEPLOYFS_MOUNT='%s' " CTL
	       "status | grep -q '^second '",
	       m2.mnt);
	dfs_ok(&m, "mkdir \"$DIR/home\" && ln -s \"$MNT\" "
		   "\"$DIR/home/deployfs\" && cd / && unset DEPLOYFS_MOUNT && "
		   "HOME=\"$DIR/home\" " CTL "status | grep -q '^first '");
	/* package goes where the cwd is, not to $DEPLOYFS_MOUNT */
	snprintf(want, sizeof(want), "%s/packages/order-sync/order-sync@1",
		 m2.mnt);
	cr_assert_str_eq(dfs_out(&m, out, sizeof(out),
				 "cd '%s/build' && DEPLOYFS_MOUNT=\"$MNT\" " CTL
				 "package order-sync",
				 m2.mnt),
			 want);
	dfs_ok(&m, "test ! -e \"$MNT/packages/order-sync/order-sync@1\"");
}

/* ---- B. help and options ----------------------------------------------- */

static const char *const commands[] = {
	"init",
	"fsck",
	"package",
	"package remove",
	"package restore",
	"package mark-bad",
	"package mark-good",
	"status",
	"deploy",
	"undeploy",
	"rollback",
	"log",
	"backup",
	"restore",
	"gc",
	"history",
	"diff",
	"why",
	"export",
	"import",
	"help",
};

#define NCOMMANDS (sizeof(commands) / sizeof(*commands))

Test(ctl_cli, every_command_has_help_that_acts_on_nothing)
{
	static const char *const flags[] = { "--help", "-h" };
	char out[8192];
	long lines;

	dfs_need_mount(&m, mount_rc);
	dfs_ok(&m, "mkdir \"$DIR/empty\"");
	lines = dfs_audit_lines(&m);
	for (size_t i = 0; i < NCOMMANDS; i++)
		for (size_t f = 0; f < 2; f++) {
			char want[128];
			int rc = dfs_sh_out(&m, out, sizeof(out),
					    "cd \"$DIR/empty\" && " CTL
					    "%s %s 2>\"$DIR/stderr\"",
					    commands[i], flags[f]);

			cr_assert_eq(rc, 0, "%s %s exited %d", commands[i],
				     flags[f], rc);
			snprintf(want, sizeof(want), "usage: deployctl %s ",
				 commands[i]);
			cr_assert(strncmp(out, want, strlen(want)) == 0,
				  "%s %s printed: %s", commands[i], flags[f],
				  out);
			dfs_ok(&m, "test ! -s \"$DIR/stderr\"");
			cr_assert_str_eq(dfs_out(&m, out, sizeof(out),
						 "ls -A \"$DIR/empty\""),
					 "", "%s %s made something",
					 commands[i], flags[f]);
		}
	/* The form's own help, not every form of package. */
	cr_assert_null(strstr(dfs_out(&m, out, sizeof(out),
				      CTL "package remove --help"),
			      "mark-bad"),
		       "%s", out);
	dfs_out(&m, out, sizeof(out), CTL "package --help");
	cr_assert(strstr(out, "mark-bad") && strstr(out, "package remove"),
		  "%s", out);
	/* Options anywhere: after the arguments too. */
	dfs_ok(&m, "cd \"$DIR/empty\" && " CTL "init x --help | "
		   "grep -q '^usage: deployctl init' && test ! -e x");
	/* deployctl help COMMAND is COMMAND --help. */
	dfs_ok(&m, CTL "help deploy >\"$DIR/a\" && " CTL "deploy --help "
		       ">\"$DIR/b\" && cmp \"$DIR/a\" \"$DIR/b\"");
	cr_assert_eq(dfs_sh(&m, CTL "help nosuch 2>/dev/null"), 64);
	cr_assert_eq(dfs_audit_lines(&m), lines, "help was recorded");
	/* The overview names every command. */
	dfs_out(&m, out, sizeof(out), CTL "--help");
	for (size_t i = 0; i < NCOMMANDS; i++)
		cr_assert(strstr(out, commands[i]), "--help lacks %s: %s",
			  commands[i], out);
}

Test(ctl_cli, unknown_options_exit_64_and_change_nothing)
{
	static const char *const lines[] = {
		"init --bogus",
		"init --bogus x",
		"init -x x",
		"fsck --bogus \"$STORE\"",
		"restore --bogus \"$STORE\" x",
		"restore \"$STORE\"",
		"backup --bogus x" AT,
		"package order-sync --bogus" AT,
		"package order-sync --version" AT,
		"package remove order-sync@1 --bogus" AT,
		"package restore order-sync@1 --bogus" AT,
		"package mark-bad order-sync@1 --reason x --bogus" AT,
		"package mark-good order-sync@1 --bogus" AT,
		"status --bogus" AT,
		"deploy order-sync@1 test --bogus" AT,
		"undeploy order-sync test --bogus" AT,
		"rollback order-sync test --bogus" AT,
		"log --bogus" AT,
		"gc --bogus" AT,
		"history test --bogus" AT,
		"diff test production --bogus" AT,
		"why --bogus" AT,
		"help --bogus",
	};
	char out[4096], before[4096], after[4096];
	long audit;

	prepare();
	dfs_ok(&m, CTL "deploy order-sync@1 test" AT " >/dev/null 2>&1");
	dfs_ok(&m, "mkdir \"$DIR/empty\"");
	audit = dfs_audit_lines(&m);
	dfs_out(&m, before, sizeof(before),
		"ls -R \"$MNT/packages\" \"$MNT/environments\" | cksum");
	for (size_t i = 0; i < sizeof(lines) / sizeof(*lines); i++) {
		int rc = dfs_sh_out(&m, out, sizeof(out),
				    "cd \"$DIR/empty\" && " CTL "%s 2>&1",
				    lines[i]);

		cr_assert_eq(rc, 64, "deployctl %s exited %d: %s", lines[i], rc,
			     out);
		cr_assert(strstr(out, "usage: deployctl"), "%s: %s", lines[i],
			  out);
		cr_assert_str_eq(
			dfs_out(&m, out, sizeof(out), "ls -A \"$DIR/empty\""),
			"", "deployctl %s made something", lines[i]);
	}
	dfs_out(&m, after, sizeof(after),
		"ls -R \"$MNT/packages\" \"$MNT/environments\" | cksum");
	cr_assert_str_eq(after, before);
	cr_assert_eq(dfs_audit_lines(&m), audit, "something was recorded");
	dfs_ok(&m, "test \"$(readlink \"$MNT/environments/test/order-sync\")\""
		   " = ../../packages/order-sync/order-sync@1");
}

/* ---- C. errors name what exists ---------------------------------------- */

/* Run cmd (with 2>&1), expect exit code want and msg in its output. */
static void expect_says(int want, const char *msg, const char *cmd)
{
	char out[4096];
	int rc = dfs_sh_out(&m, out, sizeof(out), "%s 2>&1", cmd);

	cr_assert_eq(rc, want, "%s exited %d: %s", cmd, rc, out);
	cr_assert(strstr(out, msg), "%s said: %s\nnot: %s", cmd, out, msg);
}

Test(ctl_cli, a_missing_version_lists_the_versions)
{
	prepare();
	expect_says(66,
		    "deployctl: deploy order-sync@9 to test: order-sync has "
		    "no version 9 (versions: 1, 2, 2.1-hotfix, 3)\n",
		    CTL "deploy order-sync@9 test" AT);
	expect_says(66, "order-sync has no version 7 (versions: 1, 2, ",
		    CTL "rollback order-sync test --to 7" AT);
	expect_says(66, "order-sync has no version 9 (versions: 1, 2, ",
		    CTL "package mark-bad order-sync@9 --reason x" AT);
	dfs_ok(&m, "test ! -e \"$MNT/environments/test/order-sync\"");
	/* A removed package is not offered. */
	dfs_ok(&m, CTL "package remove order-sync@2" AT " >/dev/null");
	expect_says(66, "(versions: 1, 2.1-hotfix, 3)\n",
		    CTL "deploy order-sync@2 test" AT);
	expect_says(66, "order-sync has no version 2 (versions: 1, ",
		    CTL "package remove order-sync@2" AT);
}

Test(ctl_cli, a_missing_component_says_so)
{
	prepare();
	expect_says(66, "deploy nosuch@1 to test: no component \"nosuch\" (ls ",
		    CTL "deploy nosuch@1 test" AT);
	expect_says(66, "no component \"nosuch\"", CTL "package nosuch" AT);
	expect_says(66, "/packages lists them)", CTL "package nosuch" AT);
	expect_says(66, "no component \"nosuch\"",
		    CTL "rollback nosuch test" AT);
	expect_says(66, "no component \"nosuch\"",
		    CTL "package remove nosuch@1" AT);
}

Test(ctl_cli, a_missing_environment_lists_the_environments)
{
	static const char *const cmds[] = {
		CTL "deploy order-sync@1 tst" AT,
		CTL "undeploy order-sync tst" AT,
		CTL "rollback order-sync tst" AT,
		CTL "status tst" AT,
	};

	prepare();
	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++)
		expect_says(66,
			    "no environment \"tst\" (environments: "
			    "production, test)\n",
			    cmds[i]);
	dfs_ok(&m, "test ! -e \"$MNT/environments/tst\"");
	/* In an environment that exists, what is not there. */
	expect_says(1,
		    "undeploy order-sync from test: order-sync is not "
		    "deployed there",
		    CTL "undeploy order-sync test" AT);
}

Test(ctl_cli, removing_a_deployed_package_names_where)
{
	char out[4096];

	prepare();
	dfs_ok(&m, CTL "deploy order-sync@1 test" AT " >/dev/null 2>&1 && " CTL
		       "deploy order-sync@1 production" AT " >/dev/null 2>&1");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				CTL "package remove order-sync@1" AT " 2>&1"),
		     1);
	cr_assert(strstr(out, "cannot remove order-sync@1: it is deployed"),
		  "%s", out);
	cr_assert(strstr(out, "production") && strstr(out, "test"), "%s", out);
	dfs_ok(&m, "test -d \"$MNT/packages/order-sync/order-sync@1\"");
	/* Only where it is: */
	dfs_ok(&m, CTL "deploy order-sync@3 production" AT " >/dev/null 2>&1");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				CTL "package remove order-sync@1" AT " 2>&1"),
		     1);
	cr_assert(strstr(out, "deployed (or being copied) in test;"), "%s",
		  out);
}

/* ---- D. status for everyone, and as JSON --------------------------------- */

/* order-sync@2 in test (its requirement partner-cert unmet), partner-cert
 * in production, nothing in empty. */
static void deploy_some(void)
{
	prepare();
	dfs_ok(&m,
	       "mkdir \"$MNT/environments/empty\" && " CTL
	       "deploy order-sync@2 test" AT " >/dev/null 2>&1 && " CTL
	       "deploy partner-cert@1 production" AT " >/dev/null 2>&1 && " CTL
	       "package mark-bad order-sync@2 --reason x" AT " >/dev/null");
}

Test(ctl_cli, nobody_sees_the_status_root_sees)
{
	char out[4096];

	deploy_some();
	dfs_ok(&m, "test \"$(stat -c %%a \"$STORE\")\" = 700");
	dfs_ok(&m, CTL "status" AT " >\"$DIR/root\"");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"cd \"$DIR\" && " AS_NOBODY CTL "status" AT
				" 2>&1 >nobody"),
		     0, "%s", out);
	cr_assert_str_eq(out, "", "stderr");
	dfs_ok(&m, "cat \"$DIR/nobody\" | grep -Eq '^test +order-sync +2 "
		   "\\(bad\\) +1 +20[0-9-]+T[0-9:]+Z +root$'");
	cr_assert_eq(dfs_sh(&m, "diff \"$DIR/root\" \"$DIR/nobody\" >&2"), 0,
		     "nobody's status differs from root's");
	dfs_ok(&m, "grep -Eq '^  test +order-sync@2 +certificate/partner-cert"
		   "$' \"$DIR/nobody\"");
	/* One environment */
	dfs_ok(&m, AS_NOBODY CTL
	       "status production" AT " >\"$DIR/p\" && "
	       "grep -Eq '^production +partner-cert' \"$DIR/p\" && "
	       "! grep -q order-sync \"$DIR/p\"");
	/* A copy in progress: the mount knows its progress and copier. */
	dfs_ok(&m, "mkdir \"$MNT/environments/empty/partner-cert@1\"");
	dfs_ok(&m, AS_NOBODY CTL
	       "status" AT " | sed -n '/^Copies/,/^$/p' | "
	       "grep -Eq '^  empty +partner-cert@1 +0/[1-9][0-9]* +- +"
	       "root$'");
}

Test(ctl_cli, nobody_does_not_see_an_environment_it_may_not_read)
{
	char out[4096];

	deploy_some();
	dfs_ok(&m, "mkdir \"$MNT/environments/secret\" && " CTL
		   "deploy partner-cert@1 secret" AT " >/dev/null 2>&1 && "
		   "chmod 0700 \"$MNT/environments/secret\"");
	dfs_ok(&m, CTL "status" AT " | grep -Eq '^secret +partner-cert'");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				AS_NOBODY CTL "status" AT " 2>\"$DIR/err\""),
		     0);
	cr_assert_null(strstr(out, "secret"), "%s", out);
	cr_assert(strstr(out, "partner-cert"), "%s", out);
	dfs_ok(&m, "grep -q 'environment \"secret\" left out: Permission "
		   "denied' \"$DIR/err\"");
	cr_assert_eq(
		dfs_sh(&m, AS_NOBODY CTL "status secret" AT " >/dev/null 2>&1"),
		77);
	cr_assert_eq(dfs_sh(&m, AS_NOBODY CTL "status nowhere" AT
					      " >/dev/null 2>&1"),
		     66);
}

/* A python3 check of status --json on stdin; prints its source. */
#define JSON_CHECK                                                             \
	"python3 -c 'import json, sys\n"                                       \
	"d = json.load(sys.stdin)\n"                                           \
	"e = {x[\"name\"]: x[\"deployments\"] for x in d[\"environments\"]}\n" \
	"assert sorted(e) == [\"empty\", \"production\", \"test\"], e\n"       \
	"assert e[\"empty\"] == [], e\n"                                       \
	"t = e[\"test\"][0]\n"                                                 \
	"assert (t[\"component\"], t[\"version\"], t[\"bad\"], "               \
	"t[\"deployment\"], t[\"deployed_by\"]) == "                           \
	"(\"order-sync\", \"2\", True, 1, \"root\"), t\n"                      \
	"assert t[\"deployed\"].endswith(\"Z\"), t\n"                          \
	"p = e[\"production\"][0]\n"                                           \
	"assert (p[\"component\"], p[\"bad\"]) == "                            \
	"(\"partner-cert\", False), p\n"                                       \
	"u = d[\"unmet_requirements\"]\n"                                      \
	"assert [(x[\"env\"], x[\"component\"], x[\"requires\"]) for x in "    \
	"u] == [(\"test\", \"order-sync\", \"certificate/partner-cert\")], "   \
	"u\n"                                                                  \
	"assert d[\"copies_in_progress\"] == []\n"                             \
	"print(d[\"source\"])'"

Test(ctl_cli, status_json_parses_and_holds_the_deployments)
{
	char out[256];

	deploy_some();
	cr_assert_str_eq(dfs_out(&m, out, sizeof(out),
				 CTL "status --json" AT " | " JSON_CHECK),
			 "store");
	cr_assert_str_eq(dfs_out(&m, out, sizeof(out),
				 "cd \"$DIR\" && " AS_NOBODY CTL
				 "status --json" AT " | " JSON_CHECK),
			 "mount");
	/* One line, and one environment when asked. */
	dfs_ok(&m, "test \"$(" CTL "status --json" AT " | wc -l)\" = 1");
	cr_assert_str_eq(dfs_out(&m, out, sizeof(out),
				 CTL "status production --json" AT
				     " | python3 -c 'import json, sys; "
				     "d = json.load(sys.stdin); print(["
				     "x[\"name\"] for x in "
				     "d[\"environments\"]])'"),
			 "['production']");
}
