// SPDX-License-Identifier: MIT
/*
 * test_extensions.c - environment extensions (issue #11, item 1):
 * ENV/extensions/NAME/PATH overrides the file PATH of component NAME in
 * ENV.  ENV/NAME@V stays the package byte for byte, ENV/.effective/NAME@V
 * shows the override; an override survives a deploy of a new version and
 * is not carried by a copy of the deployment to another environment; a
 * path the package lacks is ENOENT, recorded; each change is recorded
 * with its old and new content hash; deployctl diff lists extensions
 * apart from versions; only the environment's owner (or root) may write
 * them.  See docs/environments.md, "Extensions".
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENVS "\"$MNT/environments\""
#define TEST ENVS "/test"
#define EXT TEST "/extensions/order-sync"
#define CONF "erp-http/connection.conf"
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

TestSuite(extensions, .init = setup, .fini = teardown, .timeout = 120);

/* order-sync@1 and @2 packaged (@2's process.xml differs); @1 deployed in
 * test; prod made. */
static void prepare(void)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0, "cp -a of the workspace");
	dfs_ok(&m, "mkdir \"$MNT/packages/order-sync/order-sync@1\" && "
		   "echo '<!-- 2 -->' >> \"$BUILD/process/order-sync/"
		   "process.xml\" && "
		   "mkdir \"$MNT/packages/order-sync/order-sync@2\" " ENVS
		   "/test " ENVS "/prod");
	dfs_ok(&m, "ln -s ../../packages/order-sync/order-sync@1 " TEST
		   "/order-sync");
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

/* An override's content hash, as the audit trail names it. */
static char *hash_of(const char *path, char *buf, size_t cap)
{
	return dfs_out(&m, buf, cap,
		       "getfattr --absolute-names --only-values -n "
		       "user.deployfs.hash %s",
		       path);
}

Test(extensions, an_override_changes_the_effective_view_not_the_package)
{
	char pkg[4096], eff[4096], buf[4096];

	prepare();
	dfs_ok(&m, "mkdir -p " EXT "/erp-http && echo 'base_url = "
		   "https://erp-test.internal/api' > " EXT "/" CONF);
	/* ENV/NAME@V is the package byte for byte */
	dfs_ok(&m, "cmp " TEST "/order-sync@1/" CONF
		   " \"$MNT/packages/order-sync/order-sync@1/" CONF "\"");
	dfs_ok(&m, "cd " TEST "/order-sync@1 && find . -type f | while read "
		   "-r f; do cmp \"$f\" \"$MNT/packages/order-sync/"
		   "order-sync@1/$f\" || exit 1; done");
	/* ENV/.effective/NAME@V reads the override, the rest the package */
	cr_assert_str_eq(dfs_out(&m, eff, sizeof(eff),
				 "cat " TEST "/.effective/order-sync@1/" CONF),
			 "base_url = https://erp-test.internal/api");
	dfs_out(&m, pkg, sizeof(pkg), "cat " TEST "/order-sync@1/" CONF);
	cr_assert_str_neq(pkg, eff);
	dfs_ok(&m, "cmp " TEST "/.effective/order-sync@1/process.xml " TEST
		   "/order-sync@1/process.xml");
	/* ENV lists what is deployed, not extensions/ or .effective/ */
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf), "ls -A " TEST " | tr '\\n' ' '"),
		"order-sync order-sync@1 ");
	/* ENV/.effective/NAME names the deployed version */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "readlink " TEST "/.effective/order-sync"),
			 "order-sync@1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "ls " TEST "/.effective | tr '\\n' ' '"),
			 "order-sync order-sync@1 ");
	/* edited with sed -i (a temporary renamed over it): shows at once */
	dfs_ok(&m,
	       "sed -i s/erp-test.internal/erp-test2.internal/ " EXT "/" CONF);
	cr_assert_str_eq(dfs_out(&m, eff, sizeof(eff),
				 "cat " TEST "/.effective/order-sync/" CONF),
			 "base_url = https://erp-test2.internal/api");
	dfs_ok(&m, "ls -a " EXT "/erp-http | grep -vx '[.]*' | grep -qx "
		   "connection.conf");
	/* the effective view is read-only */
	cr_assert_neq(dfs_sh(&m, "echo x > " TEST
				 "/.effective/order-sync@1/process.xml"),
		      0);
	/* removed: the package's file shows again */
	dfs_ok(&m, "rm " EXT "/" CONF);
	dfs_ok(&m, "cmp " TEST "/.effective/order-sync@1/" CONF " " TEST
		   "/order-sync@1/" CONF);
}

Test(extensions, an_override_survives_a_deploy_and_stays_in_its_environment)
{
	char buf[4096];

	prepare();
	dfs_ok(&m, "mkdir -p " EXT "/erp-http && echo test-endpoint > " EXT
		   "/" CONF);
	dfs_ok(&m, CTL "deploy order-sync@2 test" AT " >/dev/null 2>&1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "readlink " TEST "/.effective/order-sync"),
			 "order-sync@2");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cat " TEST "/.effective/order-sync/" CONF),
			 "test-endpoint");
	/* a copy of the deployment to prod deploys the package only */
	dfs_ok(&m, "cp -r " TEST "/order-sync@2 " ENVS "/prod/");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "readlink " ENVS "/prod/order-sync"),
			 "../../packages/order-sync/order-sync@2");
	dfs_ok(&m, "cmp " ENVS "/prod/.effective/order-sync/" CONF
		   " \"$MNT/packages/order-sync/order-sync@2/" CONF "\"");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "find " ENVS
				 "/prod/extensions -type f | wc -l"),
			 "0");
	/* so is a copy of the effective view: it is the package's paths */
	dfs_ok(&m, "test \"$(cat " TEST "/.effective/order-sync/" CONF
		   ")\" = test-endpoint");
}

Test(extensions, a_path_the_package_lacks_is_enoent_and_recorded)
{
	char buf[4096];
	long n0;

	prepare();
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "mkdir -p " EXT "/erp-http");
	/* a file the deployed version lacks */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "bash -c 'echo x > " EXT
				 "/erp-http/extra.conf' 2>&1 | "
				 "grep -c 'No such file or directory'"),
			 "1");
	cr_assert_eq(audit_count(n0, "action=extension env=test "
				     "component=order-sync version=1 "
				     "result=refused reason=\"No such file or "
				     "directory: erp-http/extra.conf is not a "
				     "file of order-sync@1\""),
		     1);
	/* a folder it lacks, a component that does not exist */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "mkdir " EXT "/nowhere 2>&1 | grep -c 'No "
				 "such file'; mkdir " TEST "/extensions/nosuch "
				 "2>&1 | grep -c 'No such file'"),
			 "1\n1");
	cr_assert_eq(audit_count(n0,
				 "action=extension env=test "
				 "result=refused nosuch is not a component"),
		     1);
	/* a renamed file may not take a name the package lacks */
	dfs_ok(&m, "echo x > " EXT "/erp-http/.tmp1");
	cr_assert_neq(dfs_sh(&m, "mv " EXT "/erp-http/.tmp1 " EXT
				 "/erp-http/other.conf"),
		      0);
	/* links and files at the top are refused too */
	cr_assert_neq(dfs_sh(&m, "ln -s x " EXT "/erp-http/l"), 0);
	cr_assert_eq(audit_count(n0, "action=extension env=test "
				     "component=order-sync result=refused "
				     "Operation not permitted: only files and "
				     "folders"),
		     1);
	cr_assert_neq(dfs_sh(&m, "echo x > " TEST "/extensions/file"), 0);
	/* extensions/ and .effective/ stay */
	cr_assert_neq(dfs_sh(&m, "rmdir " TEST "/.effective"), 0);
	cr_assert_neq(dfs_sh(&m, "mv " TEST "/extensions " TEST "/x"), 0);
	/* nothing deployed: checked against the newest version */
	dfs_ok(&m, "mkdir -p " ENVS "/prod/extensions/order-sync/erp-http && "
		   "echo p > " ENVS "/prod/extensions/order-sync/" CONF);
	cr_assert_neq(dfs_sh(&m, "echo p > " ENVS
				 "/prod/extensions/order-sync/nope.conf"),
		      0);
}

Test(extensions, every_change_is_recorded_with_old_and_new_hash)
{
	char h1[128], h2[128], h3[128];
	char words[1024];
	long n0;

	prepare();
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "mkdir -p " EXT "/erp-http && echo one > " EXT "/" CONF);
	hash_of(EXT "/" CONF, h1, sizeof(h1));
	cr_assert_eq(strlen(h1), 32, "hash %s", h1);
	snprintf(words, sizeof(words),
		 "action=extension env=test component=order-sync version=1 "
		 "result=ok reason=\"" CONF " old=- new=%s\"",
		 h1);
	cr_assert_eq(audit_count(n0, words), 1, "create: %s", words);
	/* sed -i: a temporary renamed over it; one line for the override */
	dfs_ok(&m, "sed -i s/one/two/ " EXT "/" CONF);
	hash_of(EXT "/" CONF, h2, sizeof(h2));
	snprintf(words, sizeof(words), "reason=\"" CONF " old=%s new=%s\"", h1,
		 h2);
	cr_assert_eq(audit_count(n0, words), 1, "sed -i: %s", words);
	cr_assert_eq(audit_count(n0, "action=extension erp-http/sed"), 0);
	/* cp over it */
	dfs_ok(&m, "echo three > \"$DIR/three\" && cp \"$DIR/three\" " EXT
		   "/" CONF);
	hash_of(EXT "/" CONF, h3, sizeof(h3));
	snprintf(words, sizeof(words), "reason=\"" CONF " old=%s new=%s\"", h2,
		 h3);
	cr_assert_eq(audit_count(n0, words), 1, "cp: %s", words);
	/* who: the process and its command line, as for every act */
	snprintf(words, sizeof(words),
		 "actor=root uid=0 cmd=\"cp reason=\"" CONF " old=%s", h2);
	cr_assert_eq(audit_count(n0, words), 1, "cp: %s", words);
	/* vim (with a backup file, a temporary that is let in) */
	dfs_ok(&m, "HOME=\"$DIR\" vim -Es -u NONE -c 'set backup' -c "
		   "'%%s/three/four/' -c wq " EXT "/" CONF);
	cr_assert_str_eq(dfs_out(&m, h2, sizeof(h2), "cat " EXT "/" CONF),
			 "four");
	snprintf(words, sizeof(words), "reason=\"" CONF " old=%s new=", h3);
	cr_assert_eq(audit_count(n0, words), 1, "vim: %s", words);
	hash_of(EXT "/" CONF, h3, sizeof(h3));
	/* rm */
	dfs_ok(&m, "rm " EXT "/" CONF);
	snprintf(words, sizeof(words), "reason=\"" CONF " old=%s new=-\"", h3);
	cr_assert_eq(audit_count(n0, words), 1, "rm: %s", words);
	/* writing the same bytes again changes nothing: no line */
	dfs_ok(&m, "echo same > " EXT "/" CONF);
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "echo same > " EXT "/" CONF);
	cr_assert_eq(audit_count(n0, "action=extension"), 0);
}

Test(extensions, diff_shows_extensions_apart_from_versions)
{
	char buf[4096];

	prepare();
	dfs_ok(&m, "ln -s ../../packages/order-sync/order-sync@1 " ENVS
		   "/prod/order-sync");
	cr_assert_eq(dfs_sh(&m, CTL "diff test prod" AT), 0);
	dfs_ok(&m,
	       "mkdir -p " EXT "/erp-http " ENVS
	       "/prod/extensions/order-sync/erp-http && echo t > " EXT "/" CONF
	       " && echo p > " ENVS "/prod/extensions/order-sync/" CONF
	       " && echo t > " EXT "/process.xml");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "diff test prod" AT "; echo rc=$?"),
			 "extensions\n"
			 "changed  order-sync/" CONF "\n"
			 "removed  order-sync/process.xml\n"
			 "rc=1");
	/* against a package: every override of the environment */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "diff order-sync@1 prod/order-sync" AT
				     "; echo rc=$?"),
			 "extensions\n"
			 "added    order-sync/" CONF "\n"
			 "rc=1");
}

Test(extensions, only_the_environments_owner_or_root_writes_extensions)
{
	char buf[4096];

	prepare();
	dfs_ok(&m, "mkdir -p " EXT "/erp-http && echo root > " EXT "/" CONF);
	/* test belongs to root, 0755: nobody may read, not write */
	dfs_ok(&m, AS_NOBODY "cat " TEST "/.effective/order-sync/" CONF
			     " >/dev/null");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 AS_NOBODY
				 "sh -c 'echo x > " EXT "/" CONF
				 "' 2>&1 | grep -c 'Permission "
				 "denied'; " AS_NOBODY "mkdir " ENVS
				 "/test/extensions/x "
				 "2>&1 | grep -c 'Permission denied'"),
			 "1\n1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "cat " EXT "/" CONF),
			 "root");
	/* chown ENV to nobody: the extensions follow their environment */
	dfs_ok(&m, "chown 65534:65534 " ENVS "/prod");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "stat -c %%u " ENVS "/prod/extensions"),
			 "65534");
	dfs_ok(&m, AS_NOBODY "sh -c 'mkdir -p " ENVS
			     "/prod/extensions/order-sync/erp-http && echo n "
			     "> " ENVS "/prod/extensions/order-sync/" CONF "'");
	/* the folder itself keeps its environment's owner and mode */
	cr_assert_neq(
		dfs_sh(&m, AS_NOBODY "chmod 777 " ENVS "/prod/extensions"), 0);
}

Test(extensions, an_override_of_a_path_a_new_version_drops_is_kept_inert)
{
	char buf[4096];
	long n0;

	prepare();
	dfs_ok(&m, "echo legacy > \"$BUILD/process/order-sync/legacy.conf\" && "
		   "mkdir \"$MNT/packages/order-sync/order-sync@3\" && "
		   "ln -sfn ../../packages/order-sync/order-sync@3 " TEST
		   "/order-sync");
	dfs_ok(&m,
	       "mkdir -p " EXT " && echo test-legacy > " EXT "/legacy.conf");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cat " TEST
				 "/.effective/order-sync/legacy.conf"),
			 "test-legacy");
	/* @2 has no legacy.conf: the override stays, overriding nothing */
	dfs_ok(&m, "ln -sfn ../../packages/order-sync/order-sync@2 " TEST
		   "/order-sync");
	cr_assert_neq(dfs_sh(&m, "test -e " TEST
				 "/.effective/order-sync/legacy.conf"),
		      0);
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf), "cat " EXT "/legacy.conf"),
		"test-legacy");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "diff order-sync@2 test" AT
				     " | tail -n 1"),
			 "added    order-sync/legacy.conf");
	/* editing it is recorded; making a new one like it is refused */
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "echo edited > " EXT "/legacy.conf");
	cr_assert_eq(audit_count(n0, "action=extension env=test "
				     "component=order-sync version=2 "
				     "result=ok reason=\"legacy.conf old="),
		     1);
	cr_assert_neq(dfs_sh(&m, "echo x > " EXT "/legacy2.conf"), 0);
	/* a version that has the path again: it applies again */
	dfs_ok(&m, "ln -sfn ../../packages/order-sync/order-sync@3 " TEST
		   "/order-sync");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cat " TEST
				 "/.effective/order-sync/legacy.conf"),
			 "edited");
	/* the pinned path of a version not deployed answers as well */
	cr_assert_neq(dfs_sh(&m, "test -e " TEST
				 "/.effective/order-sync@2/legacy.conf"),
		      0);
	dfs_ok(&m, "test -f " TEST "/.effective/order-sync@1/process.xml");
	cr_assert_neq(dfs_sh(&m, "ls " TEST "/.effective/order-sync@9"), 0);
}

Test(extensions, the_example_runtime_runs_the_override)
{
	char want[256], got[256];

	prepare();
	dfs_ok(&m, "mkdir -p " EXT "/erp-http && echo runtime-test > " EXT
		   "/" CONF);
	dfs_out(&m, want, sizeof(want),
		"sha256sum < " EXT "/" CONF " | cut -d' ' -f1");
	/* one run of what test runs: the package with the override */
	dfs_out(&m, got, sizeof(got),
		"timeout 60 \"$FIXTURES/../../tools/deployfs-runtime\" --runs 1 "
		"\"$MNT\" test order-sync | awk '$3 == \"file\" && $4 == "
		"\"" CONF "\" { print $5 }'");
	cr_assert_str_eq(got, want);
	cr_assert_neq(strlen(want), 0);
}

Test(extensions, overrides_outlive_a_remount_and_copy_on_purpose)
{
	char buf[4096];
	long n0;

	prepare();
	dfs_ok(&m, "mkdir -p " EXT "/erp-http && echo kept > " EXT "/" CONF);
	cr_assert_eq(dfs_mount_stop(&m), 0, "unmount");
	cr_assert_eq(dfs_mount_start(&m), 0, "mount again");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cat " TEST "/.effective/order-sync/" CONF),
			 "kept");
	/* still an extension after the restart: edits are checked and
	 * recorded */
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "echo edited > " EXT "/" CONF);
	cr_assert_eq(audit_count(n0, "action=extension env=test result=ok"), 1);
	cr_assert_neq(dfs_sh(&m, "echo x > " EXT "/erp-http/nope.conf"), 0);
	/* carried to prod only on purpose, checked against prod's package */
	dfs_ok(&m,
	       "ln -s ../../packages/order-sync/order-sync@2 " ENVS
	       "/prod/order-sync && cp -r " EXT " " ENVS "/prod/extensions/");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cat " ENVS
				 "/prod/.effective/order-sync/" CONF),
			 "edited");
	cr_assert_eq(audit_count(n0, "action=extension env=prod result=ok"), 1);
}
