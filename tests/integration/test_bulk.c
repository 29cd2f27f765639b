// SPDX-License-Identifier: MIT
/*
 * test_bulk.c - bulk deploys: deployctl deploy ENV A@1 B@2 ... (and
 * setxattr user.deployfs.deploy on ENV, which it uses) deploys every
 * package in one transaction or none; one audit line each with a shared
 * batch id and the notes; a refusal of one entry refuses the batch, names
 * the entry, is recorded and deploys nothing; the kernel sees what went.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define ENV "\"$MNT/environments/test\""
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

TestSuite(bulk, .init = setup, .fini = teardown, .timeout = 300);

/* Components a, b, c (process, one file each holding NAME1) packaged as
 * @1; environments/test (0777). */
static void prepare(void)
{
	dfs_need_mount(&m, setup_rc);
	dfs_ok(&m, "cd \"$MNT\" && for c in a b c; do mkdir build/process/$c "
		   "&& echo ${c}1 >build/process/$c/f && mkdir "
		   "packages/$c/$c@1 || exit 1; done && mkdir "
		   "environments/test && chmod 0777 environments/test");
}

/* Package version 2 of component c (its file holding c2). */
static void package_v2(const char *c)
{
	dfs_ok(&m,
	       "cd \"$MNT\" && echo %s2 >build/process/%s/f && mkdir "
	       "packages/%s/%s@2",
	       c, c, c, c);
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

static char *ls_env(char *buf, size_t cap)
{
	return dfs_out(&m, buf, cap, "ls " ENV " | tr '\\n' ' '");
}

Test(bulk, three_packages_deploy_together_with_one_batch_id)
{
	char buf[4096], batch[64], words[256];
	long n0;

	prepare();
	dfs_ok(&m, "test ! -e " ENV "/a && test ! -e " ENV "/a@1");
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "deploy test a@1 b@1 c@1 --notes 'rel "
				     "9'" AT " 2>&1 | head -3"),
			 "deployed a@1 to test\ndeployed b@1 to test\n"
			 "deployed c@1 to test");
	cr_assert_str_eq(ls_env(buf, sizeof(buf)), "a a@1 b b@1 c c@1 ");
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf), "cat " ENV "/a/f " ENV "/a@1/f"),
		"a1\na1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "status test" AT " | awk '$1 == \"test\" "
				     "{ print $2, $3, $4 }'"),
			 "a 1 1\nb 1 1\nc 1 1");
	/* One line each, one batch id (the seq of its first line). */
	dfs_out(&m, batch, sizeof(batch),
		"tail -n +%ld \"$MNT/audit.log\" | head -1 | "
		"sed 's/.* seq=\\([0-9]*\\) .*/\\1/'",
		n0 + 1);
	for (int i = 1; i <= 3; i++) {
		snprintf(words, sizeof(words),
			 "action=deploy env=test component=%c version=1 "
			 "result=ok reason=\"batch %s, %d of 3; notes: rel 9\"",
			 'a' + i - 1, batch, i);
		cr_assert_eq(audit_count(n0, words), 1, "no line: %s", words);
	}
	cr_assert_eq(dfs_audit_lines(&m), n0 + 3);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "getfattr --only-values -n "
				 "user.deployfs.notes " ENV "/c@1"),
			 "rel 9");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "history test" AT " | grep -c 'rel 9'"),
			 "3");

	/* A second batch replaces a and c, leaves b: the kernel follows. */
	package_v2("a");
	package_v2("c");
	dfs_ok(&m, "stat " ENV "/a@1 " ENV "/c@1 >/dev/null && cat " ENV
		   "/a/f " ENV "/c/f >/dev/null");
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, CTL "deploy test a@2 b@1 c@2" AT " >/dev/null 2>&1");
	cr_assert_str_eq(ls_env(buf, sizeof(buf)), "a a@2 b b@1 c c@2 ");
	dfs_ok(&m, "test ! -e " ENV "/a@1 && test ! -e " ENV "/c@1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cat " ENV "/a/f " ENV "/c/f " ENV "/b/f"),
			 "a2\nc2\nb1");
	cr_assert_eq(audit_count(n0, "action=deploy env=test component=a "
				     "version=2 from=1 deployment=2 "
				     "result=ok reason=\"batch "),
		     1);
	cr_assert_eq(audit_count(n0, "component=b version=1 from=1 "
				     "deployment=1 result=unchanged"),
		     1);
	/* A batch going back a version is a rollback, as one deploy is. */
	dfs_ok(&m, CTL "deploy test a@1 c@2" AT " >/dev/null 2>&1");
	cr_assert_eq(audit_count(n0, "action=rollback env=test component=a "
				     "version=1 from=2 deployment=3 result=ok"),
		     1);
	/* The single form is what it was. */
	dfs_ok(&m, CTL "deploy a@2 test" AT " | grep -qx 'deployed a@2 to "
		       "test'");
}

/* deployctl deploy test LIST: exit status, then stderr's last line. */
static char *refused(char *buf, size_t cap, const char *list)
{
	return dfs_out(&m, buf, cap,
		       CTL "deploy test %s" AT " 2>$DIR/err >/dev/null; echo "
			   "$?; tail -1 $DIR/err",
		       list);
}

Test(bulk, one_refused_entry_deploys_nothing_and_is_named)
{
	char buf[4096], before[1024];
	long n0;

	prepare();
	package_v2("a");
	package_v2("b");
	dfs_ok(&m, CTL "deploy test a@1 b@1" AT " >/dev/null 2>&1");
	ls_env(before, sizeof(before));

	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(refused(buf, sizeof(buf), "a@2 b@2 zz@1"),
			 "1\ndeployctl: deploy to test refused, nothing "
			 "deployed: No such file or directory: entry 3 of 3 "
			 "(zz@1): no such component");
	cr_assert_eq(audit_count(n0, "action=deploy env=test component=zz "
				     "version=1 result=refused"),
		     1);
	cr_assert_str_eq(refused(buf, sizeof(buf), "a@2 b@9 c@1"),
			 "1\ndeployctl: deploy to test refused, nothing "
			 "deployed: No such file or directory: entry 2 of 3 "
			 "(b@9): no such version of the component is "
			 "packaged (or it was removed)");
	cr_assert_str_eq(refused(buf, sizeof(buf), "a@2 c@1 a@1"),
			 "1\ndeployctl: deploy to test refused, nothing "
			 "deployed: Invalid argument: entry 3 of 3 (a@1): "
			 "its component is listed twice");
	cr_assert_str_eq(refused(buf, sizeof(buf), "a@2 b@ c@1"),
			 "1\ndeployctl: deploy to test refused, nothing "
			 "deployed: Invalid argument: entry 2 of 3 (b@): not "
			 "NAME@VERSION");
	/* A removed package, a bad release. */
	dfs_ok(&m, CTL "package remove c@1" AT " >/dev/null");
	cr_assert_str_eq(refused(buf, sizeof(buf), "a@2 c@1"),
			 "1\ndeployctl: deploy to test refused, nothing "
			 "deployed: No such file or directory: entry 2 of 2 "
			 "(c@1): no such version of the component is "
			 "packaged (or it was removed)");
	dfs_ok(&m, CTL "package mark-bad b@2 --reason slow" AT " >/dev/null");
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(refused(buf, sizeof(buf), "a@2 b@2"),
			 "1\ndeployctl: deploy to test refused, nothing "
			 "deployed: Operation not permitted: entry 2 of 2 "
			 "(b@2): b@2 is marked bad (slow): deployctl deploy "
			 "--force deploys it anyway");
	cr_assert_eq(audit_count(n0, "action=deploy env=test component=b "
				     "version=2 result=refused "
				     "reason=\"Operation not permitted: entry "
				     "2 of 2 (b@2)"),
		     1);
	/* Nothing of any of them was deployed. */
	cr_assert_str_eq(ls_env(buf, sizeof(buf)), before);
	dfs_ok(&m, "test ! -e " ENV "/a@2");
	cr_assert_eq(audit_count(n0, "result=ok"), 0);

	/* Forcing needs root or the environment's owner; root may. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 AS_NOBODY CTL "deploy test a@2 b@2 --force" AT
					       " >/dev/null 2>&1; echo $?"),
			 "1");
	cr_assert_eq(audit_count(n0, "action=deploy env=test uid=65534 "
				     "result=refused reason=\"Operation not "
				     "permitted: the batch: forcing a deploy "
				     "needs root"),
		     1);
	cr_assert_str_eq(ls_env(buf, sizeof(buf)), before);
	dfs_ok(&m, CTL "deploy test a@2 b@2 --force" AT " >/dev/null 2>&1");
	cr_assert_str_eq(ls_env(buf, sizeof(buf)), "a a@2 b b@2 ");
	cr_assert_eq(audit_count(n0, "component=b version=2 from=1 "
				     "deployment=2 result=ok reason=\"batch "),
		     1);

	/* Anyone who may write ENV deploys (no force); others may not. */
	dfs_ok(&m, AS_NOBODY CTL "deploy test a@1 b@1" AT " >/dev/null 2>&1");
	cr_assert_str_eq(ls_env(buf, sizeof(buf)), "a a@1 b b@1 ");
	dfs_ok(&m, "chmod 0755 " ENV);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 AS_NOBODY CTL "deploy test a@2 b@2" AT
					       " 2>&1 >/dev/null; echo $?"),
			 "deployctl: deploy to test refused, nothing "
			 "deployed: Permission denied\n1");
	cr_assert_str_eq(ls_env(buf, sizeof(buf)), "a a@1 b b@1 ");
}

Test(bulk, the_xattr_refuses_bad_lists_with_their_errno)
{
	char buf[4096], before[1024];
	long n0;

	prepare();
	ls_env(before, sizeof(before));
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf),
			"dx() { setfattr -n user.deployfs.deploy -v \"$1\" " ENV
			" 2>&1 | sed 's/.*: //'; }; dx \"$(printf 'a@1\\n"
			"zz@1')\"; dx \"$(printf 'a@1\\nforce\\n\\n')\"; "
			"dx \"$(printf 'notes only')\"; "
			"dx \"$(seq -f 'x%%g@1' 1001)\"; "
			"dx \"$(printf 'a@1\\nb@1\\nnotes %%01001d' 0)\""),
		"No such file or directory\nInvalid argument\n"
		"Argument list too long\nArgument list too long");
	/* The second (a@1 alone, forced by root) deployed; the rest not. */
	cr_assert_str_eq(ls_env(buf, sizeof(buf)), "a a@1 ");
	cr_assert_eq(audit_count(n0, "result=refused"), 4);
	cr_assert_eq(audit_count(n0, "reason=\"Argument list too long: the "
				     "batch: more than 1000 packages"),
		     1);
	cr_assert_eq(audit_count(n0, "reason=\"Invalid argument: the batch: "
				     "no package to deploy"),
		     1);
	/* The environment must exist. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "deploy nowhere a@1 b@1" AT
				     " 2>&1 >/dev/null; echo $?"),
			 "deployctl: deploy to nowhere refused, nothing "
			 "deployed: No such file or directory\n1");
}

Test(bulk, unmet_requirements_warn_as_for_one_deploy)
{
	char buf[4096];

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0, "cp -a of the workspace");
	dfs_ok(&m, "cd \"$MNT\" && mkdir packages/order-sync/order-sync@1 "
		   "packages/partner-cert/partner-cert@1 environments/test "
		   "environments/prod");
	/* order-sync alone: deployed, with the warning one deploy gives. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "deploy test order-sync@1 x@1" AT
				     " 2>&1 >/dev/null; echo $?"),
			 "deployctl: deploy to test refused, nothing "
			 "deployed: No such file or directory: entry 2 of 2 "
			 "(x@1): no such component\n1");
	dfs_out(&m, buf, sizeof(buf),
		CTL "deploy order-sync@1 prod" AT " 2>&1 >/dev/null");
	cr_assert_neq(strstr(buf, "requires partner-cert"), NULL, "%s", buf);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "deploy test order-sync@1" AT
				     " 2>&1 >/dev/null | grep -c 'deployctl: "
				     "order-sync@1: requires partner-cert, "
				     "not deployed in test'"),
			 "1");
	dfs_ok(&m, "getfattr --only-values -n user.deployfs.warning " ENV
		   "/order-sync@1 | grep -q 'requires partner-cert'");
	/* What the batch brings itself is met: no warning. */
	dfs_ok(&m, "cd \"$MNT\" && mkdir environments/stage");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "deploy stage order-sync@1 "
				     "partner-cert@1" AT " 2>&1 >/dev/null | "
				     "grep -c requires || :"),
			 "0");
}

Test(bulk, a_batch_of_250_packages_is_one_transaction)
{
	char buf[4096], list[4096], batch[64];
	long n0;

	dfs_need_mount(&m, setup_rc);
	dfs_ok(&m, "cd \"$MNT\" && mkdir environments/big && for i in "
		   "$(seq -w 1 250); do mkdir build/process/p$i && echo $i "
		   ">build/process/p$i/f && mkdir packages/p$i/p$i@1 || "
		   "exit 1; done");
	dfs_out(&m, list, sizeof(list),
		"seq -f 'p%%03g@1' 1 250 | tr '\\n' ' '");
	n0 = dfs_audit_lines(&m);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "deploy big %s --notes bulk" AT
				     " | tail -1 | sed 's/batch [0-9]*/batch "
				     "N/'",
				 list),
			 "batch N: 250 packages deployed to big in one "
			 "transaction");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "ls \"$MNT/environments/big\" | wc -l; cat "
				 "\"$MNT/environments/big/p250/f\""),
			 "500\n250");
	dfs_out(&m, batch, sizeof(batch),
		"tail -n +%ld \"$MNT/audit.log\" | head -1 | "
		"sed 's/.* seq=\\([0-9]*\\) .*/\\1/'",
		n0 + 1);
	snprintf(list, sizeof(list),
		 "action=deploy env=big result=ok reason=\"batch %s, ", batch);
	cr_assert_eq(audit_count(n0, list), 250);
	cr_assert_eq(audit_count(n0, "of 250; notes: bulk\""), 250);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "status big" AT " | grep -c '^big '"),
			 "250");
	/* One refused entry among 250: none of them moves. */
	dfs_out(&m, list, sizeof(list),
		"seq -f 'p%%03g@1' 1 249 | tr '\\n' ' '");
	dfs_ok(&m, "mkdir \"$MNT/environments/big2\"");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 CTL "deploy big2 %s p250@7" AT
				     " 2>&1 >/dev/null; echo $?; ls "
				     "\"$MNT/environments/big2\" | wc -l",
				 list),
			 "deployctl: deploy to big2 refused, nothing "
			 "deployed: No such file or directory: entry 250 of "
			 "250 (p250@7): no such version of the component is "
			 "packaged (or it was removed)\n1\n0");
}

/* A runtime watching ENV with inotify hears a bulk deploy as one ATTRIB
 * on ENV itself (the setxattr of the list): its cue to read every N. */
Test(bulk, a_watcher_hears_the_batch_as_attrib_on_env)
{
	char path[PATH_MAX], ev[4096] __attribute__((aligned(8)));
	int fd, attrib = 0;
	ssize_t n;

	prepare();
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	cr_assert_geq(fd, 0, "inotify_init1: %s", strerror(errno));
	dfs_path(path, sizeof(path), "%s/environments/test", m.mnt);
	cr_assert_geq(inotify_add_watch(fd, path, IN_ALL_EVENTS), 0,
		      "inotify_add_watch %s: %s", path, strerror(errno));
	dfs_ok(&m, CTL "deploy test a@1 b@1" AT " >/dev/null 2>&1");
	/* Queued before setxattr returned: no waiting. */
	while ((n = read(fd, ev, sizeof(ev))) > 0) {
		for (char *p = ev; p < ev + n;) {
			struct inotify_event *e = (struct inotify_event *)p;

			attrib += (e->mask & IN_ATTRIB) && e->len == 0;
			p += sizeof(*e) + e->len;
		}
	}
	close(fd);
	cr_assert_eq(attrib, 1, "ATTRIB events on ENV: %d", attrib);
}
