// SPDX-License-Identifier: MIT
/*
 * test_deploy_copy.c - deploy by copy (docs/environments.md, issue #4):
 * cp -r, cp -a, rsync -a, tar -x and a copy from another environment into
 * environments/ENV/ deploy a package once every entry is in place and
 * verified; the link ENV/order-sync then names the concrete version, the
 * folder is the package (diff -r finds nothing), and audit.log has the
 * deployment.  A staging folder refuses what is not in the package (with
 * its errno, recorded, the deployed version untouched), an interrupted
 * copy (by hand, a writer or rsync killed midway, a daemon restart or
 * kill -9) never deploys and rm -r removes it, copying the deployed
 * version again changes nothing, an earlier version is a rollback, and
 * copy_file_range from the package moves and stores no data.  Packages
 * with empty files and folders, odd names, dotfiles and sparse files
 * deploy with every tool; chmod/chown/utimes/setxattr succeed on staging
 * entries and on deployed ones only when they change nothing.  Each test
 * builds the fixture workspace (process order-sync and what it includes)
 * in build/, packages it and drives the mount with real tools.
 */
#include "expect.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* Folders of the mount, quoted for the shell. */
#define PKGS "\"$MNT/packages/order-sync\""
#define ENVS "\"$MNT/environments\""
#define MAP_XML "\"$BUILD/map/order-map/map.xml\""
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

TestSuite(deploy_copy, .init = setup, .fini = teardown, .timeout = 300);

/* ---- shell helpers -------------------------------------------------------- */

/* ---- the workspace, packages and environments ------------------------------ */

/*
 * Build the fixture workspace in build/, package it as order-sync@1 and
 * make the environments test and production.
 */
static void prepare(void)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0,
		     "cp -a of the fixture workspace");
	dfs_ok(&m, "mkdir " PKGS "/order-sync@1");
	dfs_ok(&m, "mkdir " ENVS "/test " ENVS "/production");
}

static void package(const char *version)
{
	dfs_ok(&m, "mkdir " PKGS "/order-sync@%s", version);
}

/* The map change of the platform example (v2 differs from v1 by it). */
static void edit_map(void)
{
	dfs_ok(&m, "sed -i 's|Line/UnitPrice|Line/NetPrice|' " MAP_XML);
}

/* cp -r packages/order-sync/order-sync@VERSION environments/ENV/ */
static void cp_r(const char *version, const char *env)
{
	dfs_ok(&m,
	       "cd \"$MNT\" && cp -r packages/order-sync/order-sync@%s "
	       "environments/%s/",
	       version, env);
}

static char *env_path(char *buf, const char *env, const char *rel)
{
	return dfs_path(buf, PATH_MAX, "%s/environments/%s/%s", m.mnt, env,
			rel);
}

/* user.deployfs.NAME of environments/ENV/REL, read with getfattr. */
static char *env_meta(char *buf, size_t cap, const char *env, const char *rel,
		      const char *name)
{
	return dfs_out(&m, buf, cap,
		       "getfattr --absolute-names --only-values "
		       "-n user.deployfs.%s " ENVS "/%s/%s",
		       name, env, rel);
}

/* Entries (files, folders, links) below packages/order-sync/REL. */
static long pkg_entries(const char *rel)
{
	char buf[64];

	return atol(dfs_out(&m, buf, sizeof(buf),
			    "find " PKGS "/%s -mindepth 1 | wc -l", rel));
}

/*
 * order-sync@VERSION is deployed in ENV as deployment number: the link
 * names the concrete version, the folder is the package (content, links,
 * modes, owners, sizes and times), its state and number are right and
 * it is the only version ENV lists.
 */
static void assert_deployed(const char *env, const char *version, long number)
{
	char want[256], buf[8192], pkg[8192];

	dfs_path(want, sizeof(want), "../../packages/order-sync/order-sync@%s",
		 version);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "readlink " ENVS "/%s/order-sync", env),
			 want, "%s/order-sync", env);
	dfs_path(want, sizeof(want), "order-sync@%s", version);
	cr_assert_str_eq(env_meta(buf, sizeof(buf), env, want, "state"),
			 "deployed", "%s/%s", env, want);
	cr_assert_eq(atol(env_meta(buf, sizeof(buf), env, want, "deployment")),
		     number, "%s/%s: deployment %s, want %ld", env, want, buf,
		     number);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cd \"$MNT\" && diff -r --no-dereference "
				 "-x partner-cert "
				 "packages/order-sync/order-sync@%s "
				 "environments/%s/order-sync@%s 2>&1",
				 version, env, version),
			 "", "diff -r of %s/order-sync@%s", env, version);
	/* The deployed view shows the package's metadata. */
	dfs_out(&m, pkg, sizeof(pkg),
		"cd " PKGS "/order-sync@%s && find . ! -name partner-cert "
		"-printf '%%m %%U %%G %%s %%T@ %%y %%p %%l\\n' | sort -k7",
		version);
	dfs_out(&m, buf, sizeof(buf),
		"cd " ENVS "/%s/order-sync@%s && find . ! -name partner-cert "
		"-printf '%%m %%U %%G %%s %%T@ %%y %%p %%l\\n' | sort -k7",
		env, version);
	cr_assert_str_eq(buf, pkg, "%s/order-sync@%s: metadata differs", env,
			 version);
	/* The requirement leads to ENV's deployment of partner-cert. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cd " ENVS "/%s/order-sync@%s && "
				 "readlink partner-cert && "
				 "stat -c '%%s %%U %%a' partner-cert",
				 env, version),
			 "../partner-cert\n15 root 777",
			 "%s/order-sync@%s/partner-cert", env, version);
	dfs_path(want, sizeof(want), "order-sync\norder-sync@%s", version);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "ls " ENVS "/%s | grep '^order-sync'", env),
			 want, "ls environments/%s", env);
}

/*
 * What ENV has deployed, to compare before and after: the link, the
 * deployed folder's entries, content and attributes.
 */
static void deployed_state(char *buf, size_t cap, const char *env)
{
	dfs_out(&m, buf, cap,
		"cd " ENVS "/%s && v=$(readlink order-sync) && v=${v##*/} && "
		"echo \"$v\" && find \"$v\" -printf "
		"'%%i %%m %%U %%G %%s %%T@ %%p %%l\\n' | sort -k7 && "
		"find \"$v\" -type f -exec md5sum {} + | sort -k2 && "
		"getfattr --absolute-names -d \"$v\"",
		env);
	cr_assert(strstr(buf, "process.xml"), "deployed state:\n%s", buf);
}

/* ---- audit.log ------------------------------------------------------------- */

/*
 * Lines of audit.log after the first `after` that hold every key=value of
 * pairs ('|'-separated; a pair ending in '*' matches as a prefix).
 */
static long audit_count(long after, const char *pairs)
{
	char buf[64];

	return atol(dfs_out(&m, buf, sizeof(buf),
			    "tail -n +%ld \"$MNT/audit.log\" | awk -v w='%s' "
			    "'BEGIN { n = split(w, k, \"|\") } "
			    "{ l = \" \" $0 \" \"; hit = 1; "
			    "for (i = 1; i <= n; i++) { p = k[i]; "
			    "if (substr(p, length(p)) == \"*\") { "
			    "if (!index(l, \" \" substr(p, 1, length(p) - 1))) "
			    "hit = 0 } "
			    "else if (!index(l, \" \" p \" \")) hit = 0 } "
			    "c += hit } END { print c + 0 }'",
			    after + 1, pairs));
}

/* audit_count, waiting (with a deadline) until it reaches want. */
static long audit_wait(long after, const char *pairs, long want)
{
	long deadline = dfs_now_ms() + AUDIT_DEADLINE_MS, n;

	while ((n = audit_count(after, pairs)) < want &&
	       dfs_now_ms() < deadline)
		dfs_sleep_ms(20);
	return n;
}

/*
 * Make an environment (an audited act) and wait for its line: every event
 * before it is then in audit.log.  Returns the number of lines.
 */
static long audit_barrier(void)
{
	static int seq;
	char pairs[128];

	seq++;
	dfs_ok(&m, "mkdir " ENVS "/barrier-%d", seq);
	dfs_path(pairs, sizeof(pairs), "action=env-create|env=barrier-%d", seq);
	cr_assert_eq(audit_wait(0, pairs, 1), 1, "no audit line for %s", pairs);
	return dfs_audit_lines(&m);
}

/* Exactly one line after n0 is the deployment of order-sync@VERSION. */
static void assert_deploy_line(long n0, const char *env, const char *version)
{
	char pairs[256];

	dfs_path(pairs, sizeof(pairs),
		 "action=deploy|env=%s|component=order-sync|version=%s|"
		 "result=ok",
		 env, version);
	cr_assert_eq(audit_wait(n0, pairs, 1), 1,
		     "audit.log lines after %ld with %s", n0, pairs);
}

/* Exactly one line after n0 is a refusal in ENV with err's text. */
static void assert_refused_line(long n0, const char *env, const char *what,
				int err)
{
	char pairs[256];

	dfs_path(pairs, sizeof(pairs), "env=%s|result=refused|reason=\"%s*",
		 env, strerror(err));
	cr_assert_eq(audit_wait(n0, pairs, 1), 1,
		     "%s: audit.log lines after %ld with %s", what, n0, pairs);
}

/* No deployment was recorded after n0 (call after audit_barrier). */
static void assert_no_deploy_line(long n0, const char *what)
{
	long n = audit_count(n0, "action=deploy|result=ok");

	cr_assert_eq(n, 0, "%s: %ld deploy lines in audit.log", what, n);
	n = audit_count(n0, "action=rollback|result=ok");
	cr_assert_eq(n, 0, "%s: %ld rollback lines in audit.log", what, n);
}

/* ---- staging ----------------------------------------------------------------- */

/*
 * order-sync@1 deployed in test by cp -r (deployment 1), the map changed
 * and packaged as order-sync@2.
 */
static void deployed_1_packaged_2(void)
{
	prepare();
	cp_r("1", "test");
	assert_deployed("test", "1", 1);
	edit_map();
	package("2");
}

/*
 * Copy order-sync@VERSION into ENV by hand: mkdir the staging folder and
 * cp -RP each top-level entry but those named in except (a case pattern,
 * e.g. "process.xml|order-map").
 */
static void stage_partial(const char *env, const char *version,
			  const char *except)
{
	dfs_ok(&m,
	       "mkdir " ENVS "/%s/order-sync@%s && cd " PKGS
	       "/order-sync@%s && "
	       "for f in *; do case $f in %s) ;; *) "
	       "cp -RP \"$f\" " ENVS
	       "/%s/order-sync@%s/ || exit 1;; esac; done",
	       env, version, version, except, env, version);
}

/* user.deployfs.progress of ENV/order-sync@VERSION as done and total. */
static void progress(const char *env, const char *version, long *done,
		     long *total)
{
	char rel[64], buf[64];
	char *slash;

	dfs_path(rel, sizeof(rel), "order-sync@%s", version);
	env_meta(buf, sizeof(buf), env, rel, "progress");
	slash = strchr(buf, '/');
	cr_assert(slash && slash > buf && slash[1], "progress %s", buf);
	*done = atol(buf);
	*total = atol(slash + 1);
}

static void assert_staging(const char *env, const char *version)
{
	char rel[64], buf[64];

	dfs_path(rel, sizeof(rel), "order-sync@%s", version);
	cr_assert_str_eq(env_meta(buf, sizeof(buf), env, rel, "state"),
			 "staging", "%s/%s", env, rel);
}

/* ENV/order-sync@VERSION stays staging and will not deploy: a refusal
 * named what. */
static void assert_tainted(const char *env, const char *version,
			   const char *what)
{
	char rel[64], buf[1024];

	dfs_path(rel, sizeof(rel), "order-sync@%s", version);
	env_meta(buf, sizeof(buf), env, rel, "state");
	cr_assert(strncmp(buf, "staging, will not deploy (refused: ", 35) ==
				  0 &&
			  strstr(buf, what),
		  "%s/%s: state %s", env, rel, buf);
}

/* Open, write and close a file; close()'s result (0 or -errno).  open and
 * every write must succeed. */
static int write_close(const char *path, int flags, const void *data,
		       size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0644);
	const char *p = data;

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		cr_assert_gt(n, 0, "write %s: %s", path, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return close(fd) == 0 ? 0 : -errno;
}

/* Content of packages/order-sync/REL into buf; its length. */
static size_t pkg_content(char *buf, size_t cap, const char *rel)
{
	char p[PATH_MAX];
	ssize_t n = dfs_read_file(
		dfs_path(p, sizeof(p), "%s/packages/order-sync/%s", m.mnt, rel),
		buf, cap);

	cr_assert_gt(n, 0, "read %s: %s", p, strerror((int)-n));
	cr_assert_lt((size_t)n, cap, "%s is too large", p);
	return (size_t)n;
}

/*
 * In a prepared mount, run cmd in $MNT (a command line that copies
 * order-sync@1 into environments/test/) and check that it deployed it as
 * deployment 1 with its audit line.  Returns the audit.log lines before.
 */
static long copy_deploys(const char *cmd)
{
	long n0;

	prepare();
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "cd \"$MNT\" && %s", cmd);
	assert_deployed("test", "1", 1);
	assert_deploy_line(n0, "test", "1");
	return n0;
}

/* ---- deploying by copy ------------------------------------------------------- */

Test(deploy_copy, cp_r_deploys_a_package)
{
	char buf[256], want[64];
	long n0;
	struct tm tm = { 0 };
	char *end;

	n0 = copy_deploys("cp -r packages/order-sync/order-sync@1 "
			  "environments/test/");
	cr_assert_eq(audit_count(n0, "action=deploy|env=test|"
				     "component=order-sync|version=1|from=|"
				     "deployment=1|actor=root|uid=0|"
				     "cmd=\"cp -r packages/order-sync/"
				     "order-sync@1 environments/test/\"|"
				     "result=ok"),
		     1, "the deploy line's keys");
	dfs_path(want, sizeof(want), "%ld/%ld", pkg_entries("order-sync@1"),
		 pkg_entries("order-sync@1"));
	cr_assert_str_eq(
		env_meta(buf, sizeof(buf), "test", "order-sync@1", "progress"),
		want);
	/* The link inside is the package's, not dereferenced. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "readlink " ENVS
				 "/test/order-sync@1/partner-cert"),
			 "../partner-cert");
	cr_assert_str_eq(env_meta(buf, sizeof(buf), "test", "order-sync@1",
				  "deployed_by"),
			 "root");
	env_meta(buf, sizeof(buf), "test", "order-sync@1", "deployed");
	end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	cr_assert(end && (*end == 'Z' || *end == '.') &&
			  buf[strlen(buf) - 1] == 'Z',
		  "deployed %s is not ISO 8601 UTC", buf);
	cr_assert_str_eq(
		env_meta(buf, sizeof(buf), "test", "order-sync@1", "component"),
		"order-sync");
	cr_assert_str_eq(
		env_meta(buf, sizeof(buf), "test", "order-sync@1", "version"),
		"1");
	/* production has nothing. */
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf), "ls -A " ENVS "/production"), "");
}

/* Run a shell command line as nobody (uid and gid 65534). */
#define AS_NOBODY "setpriv --reuid=65534 --regid=65534 --clear-groups "

Test(deploy_copy, who_may_write_the_environment_may_deploy_by_copy)
{
	char buf[256];
	long n0;

	prepare();
	dfs_ok(&m, "chown 65534:65534 " ENVS "/production");
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "cd \"$MNT\" && " AS_NOBODY "cp -r "
		   "packages/order-sync/order-sync@1 environments/production/");
	assert_deployed("production", "1", 1);
	cr_assert_eq(audit_count(n0, "actor=nobody|uid=65534|action=deploy|"
				     "env=production|version=1|result=ok"),
		     1, "the deploy line of nobody");
	cr_assert_str_eq(env_meta(buf, sizeof(buf), "production",
				  "order-sync@1", "deployed_by"),
			 "nobody");
	/* test is root's (0755): the kernel refuses nobody. */
	cr_assert_neq(dfs_sh_out(&m, buf, sizeof(buf),
				 "cd \"$MNT\" && " AS_NOBODY "cp -r "
				 "packages/order-sync/order-sync@1 "
				 "environments/test/ 2>&1"),
		      0, "nobody deployed into root's test");
	cr_assert(strstr(buf, "Permission denied"), "cp said: %s", buf);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls -A " ENVS "/test"),
			 "");
}

Test(deploy_copy, cp_a_deploys_a_package)
{
	copy_deploys(
		"cp -a packages/order-sync/order-sync@1 environments/test/");
}

Test(deploy_copy, rsync_a_deploys_a_package)
{
	/* rsync writes .NAME.XXXXXX and renames it into place. */
	copy_deploys("rsync -a packages/order-sync/order-sync@1 "
		     "environments/test/");
	dfs_ok(&m, "! ls -aR " ENVS "/test | grep -q '^\\.[^.]'");
}

Test(deploy_copy, cp_preserve_all_and_rsync_aX_deploy_and_copy_again)
{
	/* Tools that copy extended attributes: the package's user.deployfs.*
	 * set on staging entries, the environment's own (state, progress,
	 * deployment...) that the package lacks removed by rsync -X. */
	prepare();
	dfs_ok(&m, "cd \"$MNT\" && cp -r --preserve=all "
		   "packages/order-sync/order-sync@1 environments/test/");
	assert_deployed("test", "1", 1);
	dfs_ok(&m, "cd \"$MNT\" && rsync -aX packages/order-sync/order-sync@1 "
		   "environments/production/");
	assert_deployed("production", "1", 1);
	/* Again: rsync finds nothing to do; cp would write into the
	 * deployed folder, which is read-only. */
	dfs_ok(&m, "cd \"$MNT\" && rsync -aX packages/order-sync/order-sync@1 "
		   "environments/test/");
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && cp -r --preserve=all "
				 "packages/order-sync/order-sync@1 "
				 "environments/production/ 2>/dev/null"),
		      0);
	assert_deployed("test", "1", 1);
	assert_deployed("production", "1", 1);
}

Test(deploy_copy, tar_x_deploys_a_package)
{
	/* GNU tar writes a link with ../ in its target as an empty
	 * placeholder file first and replaces it at the end. */
	copy_deploys(
		"tar -C packages/order-sync -cf \"$NATIVE/T\" "
		"order-sync@1 && tar -C environments/test -xf \"$NATIVE/T\"");
}

Test(deploy_copy, a_copy_from_another_environment_deploys)
{
	long n0;

	prepare();
	edit_map();
	package("2");
	cp_r("2", "test");
	assert_deployed("test", "2", 1);
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "cd \"$MNT\" && cp -r environments/test/order-sync@2 "
		   "environments/production/");
	assert_deployed("production", "2", 1);
	assert_deploy_line(n0, "production", "2");
	assert_deployed("test", "2", 1);
	dfs_ok(&m, "cd " ENVS " && diff -r --no-dereference test production");
}

/* Both deployed order-sync@2 folders: entries, metadata and content. */
#define DEPLOYED_2                                                           \
	"cd " ENVS " && for e in test production; do "                       \
	"readlink $e/order-sync && find $e/order-sync@2 -printf "            \
	"'%%i %%m %%U %%G %%s %%T@ %%p %%l\\n' | sort -k7 && "               \
	"find $e/order-sync@2 -type f -exec md5sum {} + | sort -k2 || exit " \
	"1; done"

Test(deploy_copy, platform_example_test_then_production)
{
	char a[16384], b[16384];
	long n0;

	n0 = copy_deploys("cp -r packages/order-sync/order-sync@1 "
			  "environments/test/");

	edit_map();
	package("2");
	n0 = dfs_audit_lines(&m);
	cp_r("2", "test");
	assert_deployed("test", "2", 2);
	cr_assert_str_eq(dfs_out(&m, a, sizeof(a), "ls " ENVS "/test"),
			 "order-sync\norder-sync@2", "order-sync@1 not gone");
	cr_assert_eq(audit_count(n0, "action=deploy|env=test|"
				     "component=order-sync|version=2|from=1|"
				     "deployment=2|result=ok"),
		     1, "deploy line of order-sync@2 in test");
	dfs_ok(&m, "grep -qF NetPrice " ENVS
		   "/test/order-sync@2/order-map/map.xml");

	n0 = dfs_audit_lines(&m);
	cp_r("2", "production");
	assert_deployed("production", "2", 1);
	cr_assert_eq(audit_count(n0, "action=deploy|env=production|"
				     "component=order-sync|version=2|from=|"
				     "deployment=1|result=ok"),
		     1, "deploy line of order-sync@2 in production");
	assert_deployed("test", "2", 2);

	/* Further edits in build/ change neither. */
	dfs_out(&m, a, sizeof(a), DEPLOYED_2);
	dfs_ok(&m,
	       "sed -i 's|Line/Quantity|Line/Qty|' " MAP_XML " && "
	       "echo '<extra/>' >\"$BUILD/process/order-sync/extra.xml\" && "
	       "echo '// more' >>\"$BUILD/script/normalize-sku/normalize-sku.js\"");
	dfs_out(&m, b, sizeof(b), DEPLOYED_2);
	cr_assert_str_eq(b, a, "an edit in build/ reached a deployment");
	dfs_ok(&m, "cd \"$MNT\" && diff -r --no-dereference "
		   "environments/test/order-sync@2 "
		   "environments/production/order-sync@2");
	cr_assert_str_eq(dfs_out(&m, a, sizeof(a),
				 "cd \"$MNT\" && diff -r --no-dereference "
				 "environments/test environments/production "
				 "2>&1"),
			 "", "diff -r of the environments");
	cr_assert_str_eq(dfs_out(&m, a, sizeof(a), "ls " ENVS "/production"),
			 "order-sync\norder-sync@2");
}

/* ---- unusual entries ------------------------------------------------------- */

/*
 * Deploy order-sync@2 by each tool into an environment of its own; every
 * tool runs (a failure is reported, not fatal) before the deployments
 * are checked.
 */
static void deploy_by_each_tool(bool sparse)
{
	static const char *const tools[][2] = {
		{ "test", "cp -r packages/order-sync/order-sync@2 "
			  "environments/test/" },
		{ "production", "cp -a packages/order-sync/order-sync@2 "
				"environments/production/" },
		{ "e3", "rsync -a packages/order-sync/order-sync@2 "
			"environments/e3/" },
		{ "e4", "tar -C packages/order-sync -cf \"$NATIVE/T\" "
			"order-sync@2 && tar -C environments/e4 -xf "
			"\"$NATIVE/T\"" },
		{ "e5", "rsync -aS packages/order-sync/order-sync@2 "
			"environments/e5/" },
		{ "e6",
		  "cp -r --sparse=always packages/order-sync/order-sync@2 "
		  "environments/e6/" },
	};
	size_t n = sparse ? 6 : 4;
	int rc[6];

	dfs_ok(&m, "mkdir " ENVS "/e3 " ENVS "/e4 " ENVS "/e5 " ENVS "/e6");
	for (size_t i = 0; i < n; i++) {
		rc[i] = dfs_sh(&m, "cd \"$MNT\" && %s", tools[i][1]);
		cr_expect_eq(rc[i], 0, "exit %d: %s", rc[i], tools[i][1]);
	}
	for (size_t i = 0; i < n; i++)
		if (rc[i] == 0)
			assert_deployed(tools[i][0], "2", 1);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(rc[i], 0, "exit %d: %s", rc[i], tools[i][1]);
}

Test(deploy_copy, empty_files_empty_folders_and_odd_names_deploy)
{
	prepare();
	dfs_ok(&m, "cd \"$BUILD/process/order-sync\" && : >empty.txt && "
		   "mkdir emptydir && echo n >notes.part && "
		   "echo s >'with space=and \"quote\".txt' && "
		   "mkdir sub && : >sub/empty2.txt");
	package("2");
	dfs_ok(&m, "test -f " PKGS "/order-sync@2/notes.part && test -d " PKGS
		   "/order-sync@2/emptydir");
	deploy_by_each_tool(false);
}

Test(deploy_copy, read_only_modes_and_other_owners_deploy)
{
	/* cp, rsync and tar create folders writable and set their modes
	 * after filling them; a file's owner is set after its content. */
	prepare();
	dfs_ok(&m,
	       "cd \"$BUILD/process/order-sync\" && echo ro >ro.txt && "
	       "chmod 444 ro.txt && echo secret >secret.txt && "
	       "chown 1234:5678 secret.txt && chmod 600 secret.txt && "
	       "mkdir locked && echo in >locked/in.txt && chmod 555 locked && "
	       "chmod 750 \"$BUILD/connection/sftp-in\" && "
	       "chown 42:43 \"$BUILD/connection/sftp-in\"");
	package("2");
	dfs_ok(&m, "test $(stat -c %%a " PKGS "/order-sync@2/locked) = 555");
	deploy_by_each_tool(false);
}

Test(deploy_copy, a_dotfile_deploys)
{
	/* rsync names the temporary of .hidden .hidden.XXXXXX (no second
	 * dot). */
	prepare();
	dfs_ok(&m, "cd \"$BUILD/process/order-sync\" && echo h >.hidden && "
		   "echo g >.git-keep.cfg");
	package("2");
	dfs_ok(&m, "test -f " PKGS "/order-sync@2/.hidden");
	deploy_by_each_tool(false);
}

Test(deploy_copy, a_name_of_254_bytes_deploys)
{
	/* rsync cuts NAME in its temporary .NAME.XXXXXX to fit 255 bytes. */
	prepare();
	dfs_ok(&m,
	       "cd \"$BUILD/process/order-sync\" && "
	       "n=$(printf '%%0250d' 0 | tr 0 L).txt && echo long >\"$n\" && "
	       "test ${#n} = 254");
	package("2");
	deploy_by_each_tool(false);
}

Test(deploy_copy, a_sparse_file_deploys)
{
	/* cp copies the data (SEEK_DATA/SEEK_HOLE) and extends the file
	 * with ftruncate; rsync -S seeks over zeros. */
	prepare();
	dfs_ok(&m,
	       "cd \"$BUILD/process/order-sync\" && truncate -s 5M sparse.bin && "
	       "printf data | dd of=sparse.bin bs=1 seek=2000000 conv=notrunc "
	       "2>/dev/null && head -c 8192 /dev/zero >zeros.bin");
	package("2");
	deploy_by_each_tool(true);
}

/* ---- refusals ------------------------------------------------------------------ */

Test(deploy_copy, mkdir_of_a_name_not_a_component_version_is_einval)
{
	static const char *const names[] = { "nonsense@1", "nonsense",
					     "order-sync@", "order-sync@1@2" };
	char before[16384], after[16384], p[PATH_MAX];
	long n0, start;

	deployed_1_packaged_2();
	deployed_state(before, sizeof(before), "test");
	start = dfs_audit_lines(&m);
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		struct stat st;

		n0 = dfs_audit_lines(&m);
		ASSERT_ERRNO(mkdir(env_path(p, "test", names[i]), 0755),
			     EINVAL);
		assert_refused_line(n0, "test", names[i], EINVAL);
		ASSERT_ERRNO(lstat(p, &st), ENOENT);
	}
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "a refused mkdir changed test");
	audit_barrier();
	assert_no_deploy_line(start, "a refused mkdir");
	cr_assert_str_eq(dfs_out(&m, after, sizeof(after), "ls " ENVS "/test"),
			 "order-sync\norder-sync@1");
}

Test(deploy_copy, mkdir_of_an_unknown_version_is_enoent)
{
	char before[16384], after[16384], p[PATH_MAX], pairs[128];
	struct stat st;
	long n0;

	deployed_1_packaged_2();
	deployed_state(before, sizeof(before), "test");
	n0 = dfs_audit_lines(&m);
	ASSERT_ERRNO(mkdir(env_path(p, "test", "order-sync@99"), 0755), ENOENT);
	assert_refused_line(n0, "test", "order-sync@99", ENOENT);
	dfs_path(pairs, sizeof(pairs),
		 "component=order-sync|version=99|result=refused");
	cr_assert_eq(audit_count(n0, pairs), 1, "%s", pairs);
	ASSERT_ERRNO(lstat(p, &st), ENOENT);
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "a refused mkdir changed test");
	cr_assert_str_eq(dfs_out(&m, after, sizeof(after), "ls " ENVS "/test"),
			 "order-sync\norder-sync@1");
}

Test(deploy_copy, an_entry_not_in_the_package_is_eperm)
{
	char before[16384], after[16384], p[PATH_MAX], buf[64];
	long n0, done, total;
	struct stat st;

	deployed_1_packaged_2();
	deployed_state(before, sizeof(before), "test");
	dfs_ok(&m, "mkdir " ENVS "/test/order-sync@2 " ENVS
		   "/test/order-sync@2/order-map");
	assert_staging("test", "2");

	n0 = dfs_audit_lines(&m);
	ASSERT_ERRNO(open(env_path(p, "test", "order-sync@2/bogus.xml"),
			  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644),
		     EPERM);
	assert_refused_line(n0, "test", "a file", EPERM);
	ASSERT_ERRNO(lstat(p, &st), ENOENT);

	n0 = dfs_audit_lines(&m);
	ASSERT_ERRNO(
		open(env_path(p, "test", "order-sync@2/order-map/bogus.xml"),
		     O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644),
		EPERM);
	assert_refused_line(n0, "test", "a file in a folder", EPERM);

	n0 = dfs_audit_lines(&m);
	ASSERT_ERRNO(mkdir(env_path(p, "test", "order-sync@2/bogus"), 0755),
		     EPERM);
	assert_refused_line(n0, "test", "a folder", EPERM);

	/* A file where the package has a folder. */
	n0 = dfs_audit_lines(&m);
	ASSERT_ERRNO(open(env_path(p, "test", "order-sync@2/sftp-in"),
			  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644),
		     EPERM);
	assert_refused_line(n0, "test", "a file for a folder", EPERM);

	/* A link with another target, and one not in the package. */
	n0 = dfs_audit_lines(&m);
	ASSERT_ERRNO(symlink("../../certificate/other-cert",
			     env_path(p, "test", "order-sync@2/partner-cert")),
		     EPERM);
	assert_refused_line(n0, "test", "a link's target", EPERM);
	n0 = dfs_audit_lines(&m);
	ASSERT_ERRNO(symlink("process.xml",
			     env_path(p, "test", "order-sync@2/bogus-link")),
		     EPERM);
	assert_refused_line(n0, "test", "a link", EPERM);

	/* The same through a tool. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cd " ENVS "/test/order-sync@2 && "
				 "{ echo x >bogus2.xml; } 2>&1 | "
				 "grep -c 'Operation not permitted'"),
			 "1");

	assert_tainted("test", "2", "bogus.xml is not in order-sync@2");
	progress("test", "2", &done, &total);
	cr_assert_eq(total, pkg_entries("order-sync@2"), "progress %ld/%ld",
		     done, total);
	cr_assert_eq(done, 1, "progress %ld/%ld (order-map only)", done, total);
	cr_assert_str_eq(dfs_out(&m, after, sizeof(after),
				 "cd " ENVS
				 "/test/order-sync@2 && find . | sort"),
			 ".\n./order-map");
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "a refusal changed what is deployed");
	n0 = audit_barrier();

	/* A copy that had a refusal is not the package: finished, it still
	 * does not deploy; rm -r and a copy again do. */
	cp_r("2", "test");
	assert_tainted("test", "2", "bogus.xml is not in order-sync@2");
	audit_barrier();
	assert_no_deploy_line(n0, "a copy with refusals");
	dfs_ok(&m, "rm -r " ENVS "/test/order-sync@2");
	cp_r("2", "test");
	assert_deployed("test", "2", 2);
	assert_deploy_line(n0, "test", "2");
}

Test(deploy_copy, content_that_differs_or_is_short_fails_close_with_eio)
{
	static char want[65536];
	static const char other[] = "<process name=\"order-sync\"/>\n";
	char before[16384], after[16384], p[PATH_MAX];
	long n0, start, done, total;
	size_t len;

	deployed_1_packaged_2();
	start = dfs_audit_lines(&m);
	len = pkg_content(want, sizeof(want), "order-sync@2/process.xml");
	deployed_state(before, sizeof(before), "test");
	stage_partial("test", "2", "process.xml");
	env_path(p, "test", "order-sync@2/process.xml");

	/* Other content. */
	n0 = dfs_audit_lines(&m);
	cr_assert_eq(write_close(p, O_CREAT | O_EXCL, other, sizeof(other) - 1),
		     -EIO, "close of process.xml with other content");
	assert_refused_line(n0, "test", "other content", EIO);
	assert_staging("test", "2");

	/* The same length, one byte changed. */
	want[len / 2] ^= 1;
	n0 = dfs_audit_lines(&m);
	cr_assert_eq(write_close(p, O_CREAT | O_TRUNC, want, len), -EIO,
		     "close of process.xml with one byte changed");
	assert_refused_line(n0, "test", "a changed byte", EIO);
	want[len / 2] ^= 1;
	assert_staging("test", "2");

	/* Short. */
	n0 = dfs_audit_lines(&m);
	cr_assert_eq(write_close(p, O_CREAT | O_TRUNC, want, len / 2), -EIO,
		     "close of a short process.xml");
	assert_refused_line(n0, "test", "short content", EIO);
	assert_staging("test", "2");
	progress("test", "2", &done, &total);
	cr_assert_eq(total, pkg_entries("order-sync@2"));
	cr_assert_eq(done, total - 1, "progress %ld/%ld", done, total);

	/* Longer: the package's content and more. */
	memcpy(want + len, "more\n", 5);
	n0 = dfs_audit_lines(&m);
	cr_assert_eq(write_close(p, O_CREAT | O_TRUNC, want, len + 5), -EIO,
		     "close of a longer process.xml");
	assert_refused_line(n0, "test", "longer content", EIO);
	assert_staging("test", "2");
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "a refusal changed what is deployed");
	audit_barrier();
	assert_no_deploy_line(start, "refused content");

	/* The package's content deploys. */
	n0 = dfs_audit_lines(&m);
	cr_assert_eq(write_close(p, O_CREAT | O_TRUNC, want, len), 0,
		     "close of process.xml as in the package");
	assert_deployed("test", "2", 2);
	assert_deploy_line(n0, "test", "2");
}

Test(deploy_copy, writes_out_of_order_and_overlapping_are_compared_by_range)
{
	static char want[65536];
	char p[PATH_MAX];
	size_t len, h;
	int fd;

	deployed_1_packaged_2();
	len = pkg_content(want, sizeof(want), "order-sync@2/process.xml");
	h = len / 2;
	stage_partial("test", "2", "process.xml");
	env_path(p, "test", "order-sync@2/process.xml");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "open: %s", strerror(errno));
	/* The second half, then the first overlapping it, then the middle
	 * again. */
	cr_assert_eq(pwrite(fd, want + h, len - h, (off_t)h),
		     (ssize_t)(len - h));
	cr_assert_eq(pwrite(fd, want, h + 10, 0), (ssize_t)(h + 10));
	cr_assert_eq(pwrite(fd, want + h - 5, 20, (off_t)(h - 5)), 20);
	cr_assert_eq(close(fd), 0, "close: %s", strerror(errno));
	assert_deployed("test", "2", 2);
}

Test(deploy_copy, a_file_rewritten_wrong_after_it_was_verified_is_out_again)
{
	static char want[65536];
	char p[PATH_MAX];
	long n0, start, d1, d2, d3, total;
	size_t len;

	deployed_1_packaged_2();
	start = dfs_audit_lines(&m);
	len = pkg_content(want, sizeof(want), "order-sync@2/process.xml");
	stage_partial("test", "2", "process.xml|sftp-in");
	env_path(p, "test", "order-sync@2/process.xml");
	progress("test", "2", &d1, &total);
	cr_assert_eq(write_close(p, O_CREAT | O_EXCL, want, len), 0);
	progress("test", "2", &d2, &total);
	cr_assert_eq(d2, d1 + 1, "progress %ld, then %ld", d1, d2);

	want[0] ^= 1;
	n0 = dfs_audit_lines(&m);
	cr_assert_eq(write_close(p, O_TRUNC, want, len), -EIO,
		     "close of process.xml rewritten wrong");
	want[0] ^= 1;
	assert_refused_line(n0, "test", "rewritten wrong", EIO);
	progress("test", "2", &d3, &total);
	cr_assert_eq(d3, d1, "progress %ld after the wrong rewrite, want %ld",
		     d3, d1);

	/* The rest arrives: not deployed, process.xml is wrong. */
	dfs_ok(&m, "cp -r " PKGS "/order-sync@2/sftp-in " ENVS
		   "/test/order-sync@2/");
	assert_staging("test", "2");
	progress("test", "2", &d3, &total);
	cr_assert_eq(d3, total - 1, "progress %ld/%ld", d3, total);
	audit_barrier();
	assert_no_deploy_line(start, "a file rewritten wrong");

	cr_assert_eq(write_close(p, O_TRUNC, want, len), 0);
	assert_deployed("test", "2", 2);
}

Test(deploy_copy, truncate_or_rm_of_a_verified_staging_file_takes_it_out)
{
	long start, d0, d, total;

	deployed_1_packaged_2();
	start = dfs_audit_lines(&m);
	stage_partial("test", "2", "sftp-in");
	progress("test", "2", &d0, &total);
	cr_assert_eq(d0, total - 2, "progress %ld/%ld", d0, total);

	/* truncate -s 0 (open, ftruncate, close) of a verified file: short,
	 * so out again; its close fails with EIO. */
	cr_assert_neq(dfs_sh(&m, "truncate -s 0 " ENVS
				 "/test/order-sync@2/process.xml 2>/dev/null"),
		      0, "truncate -s 0 of a staging file succeeded");
	progress("test", "2", &d, &total);
	cr_assert_eq(d, d0 - 1, "progress %ld after truncate, want %ld", d,
		     d0 - 1);
	/* rm of a verified file. */
	dfs_ok(&m, "rm " ENVS "/test/order-sync@2/order-map/map.xml");
	progress("test", "2", &d, &total);
	cr_assert_eq(d, d0 - 2, "progress %ld after rm, want %ld", d, d0 - 2);

	/* The rest arrives: not deployed. */
	dfs_ok(&m, "cp -r " PKGS "/order-sync@2/sftp-in " ENVS
		   "/test/order-sync@2/");
	assert_staging("test", "2");
	audit_barrier();
	assert_no_deploy_line(start, "truncate and rm in staging");

	dfs_ok(&m, "cp " PKGS "/order-sync@2/process.xml " ENVS
		   "/test/order-sync@2/ && "
		   "cp " PKGS "/order-sync@2/order-map/map.xml " ENVS
		   "/test/order-sync@2/order-map/");
	assert_deployed("test", "2", 2);
}

/*
 * copy_file_range of packages/order-sync/order-sync@2/REL into the staging
 * folder in test: first the package's bytes shifted by 10 (other content:
 * close fails with EIO), then at the same offsets in two ranges, the
 * second first (accepted).
 */
static void cfr_shifted_then_right(const char *rel)
{
	char src[PATH_MAX], dst[PATH_MAX], r[256];
	struct stat st;
	size_t len, h;
	long n0;
	int in, out_fd;

	dfs_path(src, sizeof(src), "%s/packages/order-sync/order-sync@2/%s",
		 m.mnt, rel);
	dfs_path(r, sizeof(r), "order-sync@2/%s", rel);
	env_path(dst, "test", r);
	in = open(src, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(in, 0, "open %s: %s", src, strerror(errno));
	cr_assert_eq(fstat(in, &st), 0);
	len = (size_t)st.st_size;
	h = len / 2;

	n0 = dfs_audit_lines(&m);
	out_fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	cr_assert_geq(out_fd, 0, "open %s: %s", dst, strerror(errno));
	cr_assert_eq(dfs_copy_range(in, 10, out_fd, 0, len - 10),
		     (ssize_t)(len - 10));
	cr_assert_eq(dfs_copy_range(in, 0, out_fd, (loff_t)(len - 10), 10), 10);
	errno = 0;
	cr_assert_eq(close(out_fd), -1,
		     "%s: close after copy_file_range at other offsets "
		     "succeeded",
		     rel);
	cr_assert_eq(errno, EIO, "%s: close: %s, want EIO", rel,
		     strerror(errno));
	assert_refused_line(n0, "test", rel, EIO);
	assert_staging("test", "2");

	out_fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(out_fd, 0, "open %s: %s", dst, strerror(errno));
	cr_assert_eq(dfs_copy_range(in, (loff_t)h, out_fd, (loff_t)h, len - h),
		     (ssize_t)(len - h));
	cr_assert_eq(dfs_copy_range(in, 0, out_fd, 0, h), (ssize_t)h);
	cr_assert_eq(close(out_fd), 0, "%s: close: %s", rel, strerror(errno));
	close(in);
}

Test(deploy_copy, copy_file_range_from_the_package_at_other_offsets_is_compared)
{
	/* A small file (content in the database) and a large one (a blob
	 * whose identity lets copy_file_range move no data). */
	prepare();
	cp_r("1", "test");
	dfs_ok(&m, "head -c 3145728 /dev/urandom "
		   ">\"$BUILD/process/order-sync/big.bin\"");
	package("2");
	stage_partial("test", "2", "process.xml|big.bin");
	cfr_shifted_then_right("process.xml");
	assert_staging("test", "2");
	cfr_shifted_then_right("big.bin");
	assert_deployed("test", "2", 2);
}

/*
 * Write an rsync-style temporary TMP in test/order-sync@2 and rename it to
 * NAME; the result of close() and of rename() (0 or -errno).
 */
static void temp_then_rename(const char *tmp, const char *name,
			     const void *data, size_t len, int *close_rc,
			     int *rename_rc)
{
	char p[PATH_MAX], q[PATH_MAX], rel[256];

	dfs_path(rel, sizeof(rel), "order-sync@2/%s", tmp);
	env_path(p, "test", rel);
	dfs_path(rel, sizeof(rel), "order-sync@2/%s", name);
	env_path(q, "test", rel);
	*close_rc = write_close(p, O_CREAT | O_EXCL, data, len);
	*rename_rc = rename(p, q) == 0 ? 0 : -errno;
}

Test(deploy_copy, an_rsync_temporary_with_other_content_does_not_deploy)
{
	static char want[65536];
	static const char other[] = "<process name=\"order-sync\"/>\n";
	char before[16384], after[16384], p[PATH_MAX];
	int crc, rrc;
	long n0, start, done, total;
	size_t len;
	struct stat st;

	deployed_1_packaged_2();
	start = dfs_audit_lines(&m);
	len = pkg_content(want, sizeof(want), "order-sync@2/process.xml");
	deployed_state(before, sizeof(before), "test");
	stage_partial("test", "2", "process.xml");

	n0 = dfs_audit_lines(&m);
	temp_then_rename(".process.xml.AbC123", "process.xml", other,
			 sizeof(other) - 1, &crc, &rrc);
	cr_assert(crc == 0 || crc == -EIO, "close: %s", strerror(-crc));
	cr_assert(crc != 0 || rrc == -EPERM,
		  "rename of a temporary with other content: %s, want EPERM",
		  rrc ? strerror(-rrc) : "succeeded");
	assert_refused_line(n0, "test", "other content",
			    crc == 0 ? EPERM : EIO);
	if (rrc != 0)
		ASSERT_ERRNO(
			lstat(env_path(p, "test", "order-sync@2/process.xml"),
			      &st),
			ENOENT);
	assert_staging("test", "2");
	progress("test", "2", &done, &total);
	cr_assert_eq(total, pkg_entries("order-sync@2"));
	cr_assert_eq(done, total - 1, "progress %ld/%ld", done, total);
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "a refusal changed what is deployed");
	audit_barrier();
	assert_no_deploy_line(start, "a refused temporary");

	/* rsync removes its temporary; the next one, right, deploys. */
	env_path(p, "test", "order-sync@2/.process.xml.AbC123");
	cr_assert(unlink(p) == 0 || errno == ENOENT, "unlink %s: %s", p,
		  strerror(errno));
	n0 = dfs_audit_lines(&m);
	temp_then_rename(".process.xml.XyZ789", "process.xml", want, len, &crc,
			 &rrc);
	cr_assert_eq(crc, 0, "close: %s", strerror(-crc));
	cr_assert_eq(rrc, 0, "rename: %s", strerror(-rrc));
	assert_deployed("test", "2", 2);
	assert_deploy_line(n0, "test", "2");
	dfs_ok(&m, "! ls -a " ENVS "/test/order-sync@2 | grep -q AbC123");
}

Test(deploy_copy, a_temporary_whose_name_is_not_in_the_package_is_eperm)
{
	static const char *const temps[][2] = {
		{ ".bogus.xml.AbC123", "bogus.xml" },
		{ "bogus.xml.part", "bogus.xml" },
		{ ".process.xml2.AbC123", "process.xml2" },
		{ "order-map/.bogus.xml.AbC123", "order-map/bogus.xml" },
		{ "order-map/map.xml2.part", "order-map/map.xml2" },
	};
	char before[16384], after[16384], p[PATH_MAX], rel[256];
	long n0, start;
	int crc, rrc;

	deployed_1_packaged_2();
	start = dfs_audit_lines(&m);
	deployed_state(before, sizeof(before), "test");
	stage_partial("test", "2", "process.xml");
	for (size_t i = 0; i < sizeof(temps) / sizeof(*temps); i++) {
		struct stat st;

		n0 = dfs_audit_lines(&m);
		/* Temporary names are let in; the rename is refused. */
		temp_then_rename(temps[i][0], temps[i][1], "x\n", 2, &crc,
				 &rrc);
		cr_assert_eq(crc, 0, "close of %s: %s", temps[i][0],
			     strerror(-crc));
		cr_assert_eq(rrc, -EPERM, "rename %s to %s: %s, want EPERM",
			     temps[i][0], temps[i][1],
			     rrc ? strerror(-rrc) : "succeeded");
		assert_refused_line(n0, "test", temps[i][1], EPERM);
		dfs_path(rel, sizeof(rel), "order-sync@2/%s", temps[i][1]);
		ASSERT_ERRNO(lstat(env_path(p, "test", rel), &st), ENOENT);
		dfs_path(rel, sizeof(rel), "order-sync@2/%s", temps[i][0]);
		env_path(p, "test", rel);
		cr_assert(unlink(p) == 0 || errno == ENOENT, "unlink %s: %s", p,
			  strerror(errno));
	}
	cr_assert_str_eq(dfs_out(&m, after, sizeof(after),
				 "cd " ENVS "/test/order-sync@2 && ls -A"),
			 "erp-http\nerp-post-order\norder-map\npartner-cert\n"
			 "sftp-in");
	assert_tainted("test", "2", "bogus.xml is not in order-sync@2");
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "a refusal changed what is deployed");
	audit_barrier();
	assert_no_deploy_line(start, "a refused temporary");
}

Test(deploy_copy, another_version_copied_under_this_name_does_not_deploy)
{
	char before[16384], after[16384], buf[4096];
	long start, done, total;

	prepare();
	cp_r("1", "test");
	/* The same size, other content: copy_file_range from order-sync@1
	 * must not pass for order-sync@2's map.xml. */
	dfs_ok(&m, "sed -i 's|Line/UnitPrice|Line/UnitPrize|' " MAP_XML);
	package("2");
	dfs_ok(&m,
	       "test $(stat -c %%s " PKGS "/order-sync@1/order-map/map.xml) = "
	       "$(stat -c %%s " PKGS "/order-sync@2/order-map/map.xml)");
	start = dfs_audit_lines(&m);
	deployed_state(before, sizeof(before), "test");
	cr_assert_neq(dfs_sh_out(&m, buf, sizeof(buf),
				 "cd \"$MNT\" && cp -r "
				 "packages/order-sync/order-sync@1 "
				 "environments/test/order-sync@2 2>&1"),
		      0, "cp of order-sync@1 as order-sync@2 succeeded");
	cr_assert(strstr(buf, "map.xml") && strstr(buf, "Input/output error"),
		  "cp said:\n%s", buf);
	assert_refused_line(start, "test", "map.xml of order-sync@1", EIO);
	assert_staging("test", "2");
	progress("test", "2", &done, &total);
	cr_assert_eq(done, total - 1, "progress %ld/%ld", done, total);
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "a refused copy changed the deployed");
	audit_barrier();
	assert_no_deploy_line(start, "order-sync@1 as order-sync@2");

	/* The right map.xml from outside the mount (plain writes) finishes
	 * the copy. */
	dfs_ok(&m,
	       "cp " PKGS
	       "/order-sync@2/order-map/map.xml \"$NATIVE/map.xml\" && "
	       "cp \"$NATIVE/map.xml\" " ENVS "/test/order-sync@2/order-map/");
	assert_deployed("test", "2", 2);
}

Test(deploy_copy, files_with_the_content_from_anywhere_deploy)
{
	/* From build/ (work files), from outside the mount, by cat. */
	prepare();
	dfs_ok(&m,
	       "mkdir " ENVS "/test/order-sync@1 && "
	       "cd " PKGS "/order-sync@1 && "
	       "cp -RP erp-http erp-post-order partner-cert " ENVS
	       "/test/order-sync@1/ && "
	       "cp -RP \"$BUILD/connection/sftp-in\" " ENVS
	       "/test/order-sync@1/ && "
	       "mkdir " ENVS "/test/order-sync@1/order-map && "
	       "cp -RP order-map/erp-order-xml order-map/normalize-sku " ENVS
	       "/test/order-sync@1/order-map/ && "
	       "cp -r \"$FIXTURES/workspace/profile/order-json\" " ENVS
	       "/test/order-sync@1/order-map/ && "
	       "cat \"$BUILD/map/order-map/map.xml\" >" ENVS
	       "/test/order-sync@1/order-map/map.xml");
	assert_staging("test", "1");
	dfs_ok(&m,
	       "cp \"$FIXTURES/workspace/process/order-sync/process.xml\" " ENVS
	       "/test/order-sync@1/");
	assert_deployed("test", "1", 1);
}

/* ---- interrupted copies ----------------------------------------------------- */

Test(deploy_copy, an_interrupted_copy_stays_staging_and_rm_r_removes_it)
{
	char before[16384], after[16384], buf[256];
	long n0, start, done, total, copied;

	deployed_1_packaged_2();
	start = dfs_audit_lines(&m);
	deployed_state(before, sizeof(before), "test");
	stage_partial("test", "2", "process.xml|order-map");
	copied = atol(
		dfs_out(&m, buf, sizeof(buf),
			"cd " PKGS "/order-sync@2 && find . -mindepth 1 "
			"! -path './order-map*' ! -name process.xml | wc -l"));

	assert_staging("test", "2");
	progress("test", "2", &done, &total);
	cr_assert_lt(done, total, "progress %ld/%ld", done, total);
	cr_assert_eq(total, pkg_entries("order-sync@2"), "progress %ld/%ld",
		     done, total);
	cr_assert_eq(done, copied, "progress %ld/%ld, want %ld done", done,
		     total, copied);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls " ENVS "/test"),
			 "order-sync\norder-sync@1\norder-sync@2");
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "a staging copy changed the deployed");
	audit_barrier();
	assert_no_deploy_line(start, "a partial copy");

	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "rm -r " ENVS "/test/order-sync@2");
	dfs_ok(&m, "test ! -e " ENVS "/test/order-sync@2");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls " ENVS "/test"),
			 "order-sync\norder-sync@1");
	cr_assert_eq(audit_wait(n0,
				"action=staging-remove|env=test|"
				"component=order-sync|version=2|result=ok",
				1),
		     1, "no staging-remove line");
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before,
			 "rm -r of staging changed the deployed");
	assert_deployed("test", "1", 1);
}

Test(deploy_copy, an_empty_staging_folder_goes_by_rmdir_and_keeps_its_env)
{
	char p[PATH_MAX], q[PATH_MAX], buf[256];
	long n0;

	prepare();
	dfs_ok(&m, "mkdir " ENVS "/production/order-sync@1");
	assert_staging("production", "1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "ls -A " ENVS "/production/order-sync@1"),
			 "");
	/* Something is staging there. */
	n0 = dfs_audit_lines(&m);
	ASSERT_ERRNO(rmdir(dfs_path(p, sizeof(p), "%s/environments/production",
				    m.mnt)),
		     ENOTEMPTY);
	assert_refused_line(n0, "production", "rmdir of the environment",
			    ENOTEMPTY);
	/* mv of a staging folder: EXDEV (mv would copy, then remove). */
	ASSERT_ERRNO(rename(env_path(p, "production", "order-sync@1"),
			    env_path(q, "production", "order-sync@2")),
		     EXDEV);
	ASSERT_ERRNO(rename(p, dfs_path(q, sizeof(q), "%s/x", m.build)), EXDEV);
	assert_staging("production", "1");

	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "rmdir " ENVS "/production/order-sync@1");
	cr_assert_eq(audit_wait(n0,
				"action=staging-remove|env=production|"
				"component=order-sync|version=1|result=ok",
				1),
		     1, "no staging-remove line");
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf), "ls -A " ENVS "/production"), "");
	dfs_ok(&m, "rmdir " ENVS "/production");
}

Test(deploy_copy, a_writer_killed_midway_leaves_staging)
{
	static char want[65536];
	char before[16384], after[16384], p[PATH_MAX], buf[256], c;
	long start, done, total;
	int pfd[2], st;
	size_t len;
	pid_t pid;

	deployed_1_packaged_2();
	start = dfs_audit_lines(&m);
	len = pkg_content(want, sizeof(want), "order-sync@2/process.xml");
	deployed_state(before, sizeof(before), "test");
	stage_partial("test", "2", "process.xml");
	env_path(p, "test", "order-sync@2/process.xml");

	/* A copy of process.xml killed after half of it. */
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

		if (fd < 0 || write(fd, want, len / 2) != (ssize_t)(len / 2))
			_exit(1);
		if (write(pfd[1], "w", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	cr_assert_eq(read(pfd[0], &c, 1), 1, "the writer failed");
	close(pfd[0]);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st), "the writer was not killed");

	assert_staging("test", "2");
	progress("test", "2", &done, &total);
	cr_assert_lt(done, total, "progress %ld/%ld", done, total);
	cr_assert_eq(done, total - 1, "progress %ld/%ld", done, total);
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "a killed copy changed the deployed");
	audit_barrier();
	assert_no_deploy_line(start, "a killed copy");

	dfs_ok(&m, "rm -r " ENVS "/test/order-sync@2");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls " ENVS "/test"),
			 "order-sync\norder-sync@1");
	assert_deployed("test", "1", 1);
}

/* Is there an entry in DIR whose name starts with prefix? */
static bool has_entry(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d)))
		found = strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return found;
}

/*
 * Run tool (a command line run in $MNT) in a process group of its own,
 * wait (with a deadline) until an entry whose name starts with prefix
 * shows in dir, and kill the group.
 */
static void kill_midway(const char *tool, const char *dir, const char *prefix)
{
	char cmd[PATH_MAX + 256];
	long deadline;
	int st;
	pid_t pid;

	dfs_path(cmd, sizeof(cmd), "cd '%s' && exec %s", m.mnt, tool);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	deadline = dfs_now_ms() + 60000;
	while (!has_entry(dir, prefix)) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			cr_assert_fail("%s ended (status %#x) before %s%s* "
				       "showed",
				       tool, st, dir, prefix);
		if (dfs_now_ms() > deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			cr_assert_fail("no %s/%s* in 60 s", dir, prefix);
		}
		dfs_sleep_ms(5);
	}
	cr_assert_eq(kill(-pid, SIGKILL), 0, "kill: %s", strerror(errno));
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st), "%s was not killed (status %#x)", tool, st);
}

/* After a killed copy of order-sync@2 into test: staging, not deployed,
 * and rm -r removes it. */
static void assert_killed_copy(long start, const char *before)
{
	char after[16384], buf[256];
	long done, total;

	assert_staging("test", "2");
	progress("test", "2", &done, &total);
	cr_assert_lt(done, total, "progress %ld/%ld", done, total);
	cr_assert_eq(total, pkg_entries("order-sync@2"), "progress %ld/%ld",
		     done, total);
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "a killed copy changed the deployed");
	audit_barrier();
	assert_no_deploy_line(start, "a killed copy");

	dfs_ok(&m, "rm -r " ENVS "/test/order-sync@2");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls -A " ENVS "/test"),
			 "order-sync\norder-sync@1");
	cr_assert_eq(audit_wait(start,
				"action=staging-remove|env=test|"
				"component=order-sync|version=2|result=ok",
				1),
		     1, "no staging-remove line");
	assert_deployed("test", "1", 1);
}

Test(deploy_copy, an_rsync_killed_midway_stays_staging, .timeout = 600)
{
	char before[16384], dir[PATH_MAX];
	long start;

	prepare();
	cp_r("1", "test");
	assert_deployed("test", "1", 1);
	dfs_ok(&m, "head -c 209715200 /dev/urandom "
		   ">\"$BUILD/process/order-sync/big.bin\"");
	package("2");
	start = dfs_audit_lines(&m);
	deployed_state(before, sizeof(before), "test");

	/* Killed while it writes .big.bin.XXXXXX, the first file of
	 * order-sync@2 (rsync goes by name). */
	kill_midway("rsync -a packages/order-sync/order-sync@2 "
		    "environments/test/",
		    env_path(dir, "test", "order-sync@2"), ".big.bin.");
	dfs_ok(&m, "test ! -e " ENVS "/test/order-sync@2/big.bin");
	assert_killed_copy(start, before);
}

Test(deploy_copy, a_cp_killed_midway_stays_staging)
{
	char before[16384], dir[PATH_MAX];
	long start;

	prepare();
	cp_r("1", "test");
	assert_deployed("test", "1", 1);
	/* 2000 files: cp takes a while (copy_file_range makes a large file
	 * take no time). */
	dfs_ok(&m,
	       "cd \"$BUILD/process/order-sync\" && mkdir many && cd many && "
	       "for d in 1 2 3 4 5 6 7 8 9 10; do mkdir d$d && "
	       "for f in $(seq 200); do echo $d.$f >d$d/f$f; done || exit 1; "
	       "done");
	package("2");
	start = dfs_audit_lines(&m);
	deployed_state(before, sizeof(before), "test");
	/* Killed once the second folder of many/ shows. */
	kill_midway("cp -r packages/order-sync/order-sync@2 environments/test/",
		    env_path(dir, "test", "order-sync@2/many"), "d2");
	assert_killed_copy(start, before);
}

Test(deploy_copy, a_restart_drops_staging_folders)
{
	char buf[256];

	deployed_1_packaged_2();
	stage_partial("test", "2", "process.xml");
	assert_staging("test", "2");
	cr_assert_eq(dfs_mount_stop(&m), 0,
		     "daemon did not exit cleanly (status %#x)",
		     m.daemon_status);
	cr_assert_eq(dfs_mount_start(&m), 0);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls " ENVS "/test"),
			 "order-sync\norder-sync@1");
	assert_deployed("test", "1", 1);
	/* The copy can start over. */
	cp_r("2", "test");
	assert_deployed("test", "2", 2);
}

Test(deploy_copy, a_kill9_of_the_daemon_drops_staging_keeps_deployments)
{
	char before[16384], after[16384], buf[256];

	deployed_1_packaged_2();
	deployed_state(before, sizeof(before), "test");
	stage_partial("test", "2", "process.xml|order-map");
	assert_staging("test", "2");
	cr_assert_eq(dfs_mount_kill9(&m), 0);
	cr_assert_eq(dfs_mount_start(&m), 0);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls -A " ENVS "/test"),
			 "order-sync\norder-sync@1");
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "kill -9 changed the deployed");
	assert_deployed("test", "1", 1);
	cp_r("2", "test");
	assert_deployed("test", "2", 2);
	/* A deployment is durable when the call that made it returns. */
	cr_assert_eq(dfs_mount_kill9(&m), 0);
	cr_assert_eq(dfs_mount_start(&m), 0);
	assert_deployed("test", "2", 2);
	assert_deploy_line(0, "test", "2");
}

/* ---- metadata, rollback, concurrency ----------------------------------------- */

Test(deploy_copy,
     metadata_calls_succeed_on_staging_and_on_deployed_if_unchanged)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct timespec ts[2] = { { 978307200, 0 }, { 978307200, 0 } };
	struct stat pst;
	long n0;

	deployed_1_packaged_2();
	stage_partial("test", "2", "process.xml");
	env_path(p, "test", "order-sync@2/order-map/map.xml");
	cr_assert_eq(chmod(p, 0600), 0, "chmod on staging: %s",
		     strerror(errno));
	cr_assert_eq(chown(p, 123, 456), 0, "chown on staging: %s",
		     strerror(errno));
	cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0,
		     "utimensat on staging: %s", strerror(errno));
	cr_assert_eq(
		lchown(env_path(q, "test", "order-sync@2/partner-cert"), 7, 7),
		0, "lchown of a link on staging: %s", strerror(errno));
	dfs_ok(&m, "chmod 700 " ENVS "/test/order-sync@2/order-map && "
		   "touch -d 2001-01-01 " ENVS "/test/order-sync@2/order-map");
	cr_expect_eq(setxattr(p, "user.x", "1", 1, 0), 0,
		     "setxattr on staging: %s", strerror(errno));
	dfs_ok(&m, "cp " PKGS "/order-sync@2/process.xml " ENVS
		   "/test/order-sync@2/");
	/* The deployed view shows the package's metadata. */
	assert_deployed("test", "2", 2);

	/* Deployed: what changes nothing succeeds, the rest is EROFS. */
	cr_assert_eq(stat(dfs_path(q, sizeof(q),
				   "%s/packages/order-sync/order-sync@2/"
				   "order-map/map.xml",
				   m.mnt),
			  &pst),
		     0);
	cr_assert_eq(chmod(p, pst.st_mode & 07777), 0,
		     "chmod to the same mode: %s", strerror(errno));
	cr_assert_eq(chown(p, pst.st_uid, pst.st_gid), 0,
		     "chown to the same owner: %s", strerror(errno));
	ts[0] = pst.st_atim;
	ts[1] = pst.st_mtim;
	cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0,
		     "utimensat to the same times: %s", strerror(errno));
	dfs_ok(&m, "cd " ENVS "/test/order-sync@2 && chmod --reference=" PKGS
		   "/order-sync@2/process.xml process.xml && touch -r " PKGS
		   "/order-sync@2/process.xml process.xml");
	ASSERT_ERRNO(chmod(p, (pst.st_mode & 07777) ^ 0100), EROFS);
	ASSERT_ERRNO(chown(p, pst.st_uid + 1, pst.st_gid), EROFS);
	ASSERT_ERRNO(utimensat(AT_FDCWD, p, NULL, 0), EROFS);
	ASSERT_ERRNO(setxattr(p, "user.x", "1", 1, 0), EROFS);
	assert_deployed("test", "2", 2);

	/* A deployed folder is the package: writing is refused at open,
	 * a new file too, and recorded. */
	n0 = dfs_audit_lines(&m);
	ASSERT_ERRNO(open(p, O_WRONLY | O_APPEND | O_CLOEXEC), EROFS);
	ASSERT_ERRNO(open(p, O_WRONLY | O_TRUNC | O_CLOEXEC), EROFS);
	ASSERT_ERRNO(open(env_path(q, "test", "order-sync@2/new.xml"),
			  O_WRONLY | O_CREAT | O_CLOEXEC, 0644),
		     EROFS);
	cr_assert_eq(audit_wait(n0,
				"env=test|result=refused|reason=\"Read-only "
				"file system: writing to map.xml*",
				2),
		     2, "writing into a deployed folder: not recorded");
	assert_deployed("test", "2", 2);
}

Test(deploy_copy, a_copy_of_an_earlier_version_is_a_rollback)
{
	char buf[256];
	long n0;

	prepare();
	edit_map();
	package("2");
	cp_r("1", "test");
	cp_r("2", "test");
	assert_deployed("test", "2", 2);
	n0 = dfs_audit_lines(&m);
	cp_r("1", "test");
	assert_deployed("test", "1", 3);
	cr_assert_eq(audit_wait(n0,
				"action=rollback|env=test|"
				"component=order-sync|version=1|from=2|"
				"deployment=3|result=ok",
				1),
		     1, "no rollback line");
	cr_assert_eq(audit_count(n0, "action=deploy"), 0);
	dfs_ok(&m, "grep -qF UnitPrice " ENVS
		   "/test/order-sync@1/order-map/map.xml");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls " ENVS "/test"),
			 "order-sync\norder-sync@1");
}

Test(deploy_copy, two_versions_staged_at_once_the_last_to_finish_wins)
{
	char buf[256];
	long n0;

	deployed_1_packaged_2();
	dfs_ok(&m, "sed -i 's|Line/Quantity|Line/Qty|' " MAP_XML);
	package("3");
	stage_partial("test", "2", "process.xml");
	stage_partial("test", "3", "process.xml");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls " ENVS "/test"),
			 "order-sync\norder-sync@1\norder-sync@2\n"
			 "order-sync@3");

	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "cp " PKGS "/order-sync@3/process.xml " ENVS
		   "/test/order-sync@3/");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls " ENVS "/test"),
			 "order-sync\norder-sync@2\norder-sync@3");
	cr_assert_eq(audit_count(n0, "action=deploy|env=test|version=3|"
				     "from=1|deployment=2|result=ok"),
		     1);
	assert_staging("test", "2");

	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "cp " PKGS "/order-sync@2/process.xml " ENVS
		   "/test/order-sync@2/");
	assert_deployed("test", "2", 3);
	cr_assert_eq(audit_count(n0, "action=rollback|env=test|version=2|"
				     "from=3|deployment=3|result=ok"),
		     1);
}

Test(deploy_copy, copies_into_four_environments_at_once_each_deploy)
{
	char buf[256];
	long n0;

	prepare();
	dfs_ok(&m, "mkdir " ENVS "/e3 " ENVS "/e4");
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "cd \"$MNT\" && pids= && for e in test production e3 e4; do "
		   "cp -r packages/order-sync/order-sync@1 environments/$e/ & "
		   "pids=\"$pids $!\"; done; "
		   "for p in $pids; do wait $p || exit 1; done");
	assert_deployed("test", "1", 1);
	assert_deployed("production", "1", 1);
	assert_deployed("e3", "1", 1);
	assert_deployed("e4", "1", 1);
	cr_assert_eq(audit_count(n0, "action=deploy|component=order-sync|"
				     "version=1|deployment=1|result=ok"),
		     4, "deploy lines");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "sqlite3 \"$STORE/deployfs.db\" "
				 "'SELECT count(*) FROM deployments'"),
			 "4");
}

/* ---- copying what is deployed; large files ---------------------------------- */

Test(deploy_copy, copying_the_deployed_version_again_changes_nothing)
{
	char before[16384], after[16384];
	long n0;

	prepare();
	cp_r("1", "test");
	assert_deployed("test", "1", 1);
	deployed_state(before, sizeof(before), "test");
	n0 = audit_barrier();

	/* The deployed folder is the package, read-only: cp and cp -a
	 * (which write each file again), tar and cp --remove-destination
	 * (which remove each entry first) fail loudly with EROFS; rsync
	 * finds nothing to do.  None changes a thing. */
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && cp -r "
				 "packages/order-sync/order-sync@1 "
				 "environments/test/ 2>/dev/null"),
		      0);
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && cp -a "
				 "packages/order-sync/order-sync@1 "
				 "environments/test/ 2>/dev/null"),
		      0);
	dfs_ok(&m, "cd \"$MNT\" && rsync -a packages/order-sync/order-sync@1 "
		   "environments/test/");
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && tar -C packages/order-sync "
				 "-cf \"$NATIVE/T\" order-sync@1 && tar -C "
				 "environments/test -xf \"$NATIVE/T\" "
				 "2>/dev/null"),
		      0);
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && cp -r --remove-destination "
				 "packages/order-sync/order-sync@1 "
				 "environments/test/ 2>/dev/null"),
		      0);

	assert_deployed("test", "1", 1);
	deployed_state(after, sizeof(after), "test");
	cr_assert_str_eq(after, before, "copying the deployed version again");
	audit_barrier();
	assert_no_deploy_line(n0, "copying it again");
	cr_assert_gt(audit_count(n0, "result=refused|reason=\"Read-only*"), 0,
		     "the refusals were not recorded");
}

/* The KiB the store takes (du -sk). */
static long store_kib(void)
{
	char buf[64];

	return atol(
		dfs_out(&m, buf, sizeof(buf), "du -sk \"$STORE\" | cut -f1"));
}

/*
 * Run cmd in $MNT (a copy of order-sync@2, which holds the 256 MiB
 * big.bin, into ENV) and check that it deployed it with its audit line,
 * that big.bin is the package's and that the store, which took `before`
 * KiB, grew by less than 32 MiB.  Returns the KiB the store takes now.
 */
static long deploys_big(const char *cmd, const char *env, long before)
{
	long after, n0 = dfs_audit_lines(&m);

	dfs_ok(&m, "cd \"$MNT\" && %s", cmd);
	after = store_kib();
	assert_deployed(env, "2", 1);
	assert_deploy_line(n0, env, "2");
	dfs_ok(&m,
	       "cmp " PKGS "/order-sync@2/big.bin " ENVS
	       "/%s/order-sync@2/big.bin",
	       env);
	cr_assert_lt(after - before, 32 * 1024,
		     "the store grew by %ld KiB for %s of 256 MiB",
		     after - before, cmd);
	return after;
}

Test(deploy_copy, copy_file_range_of_a_large_file_deploys_it_without_storing_it,
     .timeout = 600)
{
	long kib;

	prepare();
	dfs_ok(&m, "head -c 268435456 /dev/urandom "
		   ">\"$BUILD/process/order-sync/big.bin\"");
	package("2");
	dfs_ok(&m, "cmp \"$BUILD/process/order-sync/big.bin\" " PKGS
		   "/order-sync@2/big.bin");
	/* The database and its WAL settle before the measure. */
	audit_barrier();
	kib = deploys_big("cp -r packages/order-sync/order-sync@2 "
			  "environments/test/",
			  "test", store_kib());
	/* rsync writes it (no copy_file_range): compared, not stored. */
	(void)deploys_big("rsync -a packages/order-sync/order-sync@2 "
			  "environments/production/",
			  "production", kib);
}

/* While copied, a package's nodes are the copier's (and writable by it);
 * once deployed they are the package's again.  The kernel keeps the
 * attributes it was told during the copy, so the deploy must tell it that
 * they changed: an open descriptor (fstat asks the daemon nothing unless
 * told) and a stat by path show the package's owners, modes and sizes,
 * for every node (a link's size is its target's length, which differs:
 * it leads to ENV/NAME, not packages/NAME). */
Test(deploy_copy, a_copy_shows_the_packages_owners_and_modes_once_deployed)
{
	static const char list[] =
		"cd %s && { find . -mindepth 1 ! -type l "
		"-printf '%%U %%G %%m %%s %%p\\n'; find . -type l "
		"-printf '%%U %%G %%m %%p\\n'; } | sort";
	static char pkg[16384], env[16384];
	char p[PATH_MAX];
	struct stat st;
	int fd;

	prepare();
	dfs_ok(&m, "cd \"$BUILD/process/order-sync\" && echo ro >ro.txt && "
		   "chmod 444 ro.txt");
	package("2");
	dfs_ok(&m, "mkdir " ENVS "/test/order-sync@2 && cp " PKGS
		   "/order-sync@2/ro.txt " ENVS "/test/order-sync@2/");
	fd = open(dfs_path(p, sizeof(p),
			   "%s/environments/test/order-sync@2/ro.txt", m.mnt),
		  O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s", strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0644, "while copied: %o",
		     st.st_mode & 07777);
	/* The rest: the last close deploys it. */
	dfs_ok(&m, "cd " PKGS "/order-sync@2 && for f in *; do "
		   "[ \"$f\" = ro.txt ] || cp -r \"$f\" " ENVS
		   "/test/order-sync@2/ || exit 1; done");
	/* Before any walk: a lookup would refresh it too. */
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0444, "deployed, open: %o",
		     st.st_mode & 07777);
	close(fd);
	assert_deployed("test", "2", 1);

	dfs_ok(&m, "chown 65534:65534 " ENVS "/production");
	dfs_ok(&m, "cd \"$MNT\" && " AS_NOBODY "cp -r "
		   "packages/order-sync/order-sync@2 environments/production/");
	assert_deployed("production", "2", 1);
	dfs_out(&m, env, sizeof(env), list, ENVS "/production/order-sync@2");
	dfs_out(&m, pkg, sizeof(pkg), list, PKGS "/order-sync@2");
	cr_assert(strstr(pkg, "0 0 444 3 ./ro.txt"), "%s", pkg);
	cr_assert_str_eq(env, pkg, "a deployed copy shows:\n%s", env);
}
