// SPDX-License-Identifier: MIT
/*
 * test_trust.c - what is deployed is exactly the package, to every
 * reader, and nobody reads what they may not (issue #8, items 1 to 6):
 * a staging folder never shows a byte of the package that its copier did
 * not write, nor lets anyone make an entry they may not read in
 * packages/; a deployed folder is read-only, so a re-copy never changes
 * what its readers see; a copy that had a refusal never deploys; a
 * listing never shows a name twice; rmdir never removes a package.
 * Each test builds the fixture workspace in build/ with a few files of
 * its own in order-sync (a root-only file, a root-only folder, a
 * readable file and a 500,000-byte file), packages order-sync@1 and makes
 * the environment test, which anyone may write.
 */
#include "expect.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define ENVS "\"$MNT/environments\""
#define PKG "\"$MNT/packages/order-sync/order-sync@1\""
#define BIG_LEN 500000
#define AUDIT_DEADLINE_MS 10000

static struct dfs_mount m;
static int setup_rc;
static pid_t reader; /* killed by teardown if still there */

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
}

static void teardown(void)
{
	if (reader > 0) {
		kill(reader, SIGKILL);
		waitpid(reader, NULL, 0);
		reader = 0;
	}
	dfs_mount_teardown(&m);
}

TestSuite(trust, .init = setup, .fini = teardown, .timeout = 240);

/* MNT/environments/test/REL */
__attribute__((format(printf, 2, 3))) static char *tp(char *buf,
						      const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(rel));
	return dfs_path(buf, PATH_MAX, "%s/environments/test/%s", m.mnt, rel);
}

static void prepare(void)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0, "cp -a of the workspace");
	dfs_ok(&m,
	       "cd \"$BUILD/process/order-sync\" && "
	       "echo 'the root password is hunter2' >secret.txt && "
	       "chmod 0600 secret.txt && mkdir -m 0700 private && "
	       "echo 'private notes' >private/notes.txt && "
	       "echo 'readable content' >readable.txt && "
	       "head -c %d /dev/urandom >big.bin",
	       BIG_LEN);
	dfs_ok(&m, "mkdir \"$MNT/packages/order-sync/order-sync@1\"");
	dfs_ok(&m, "mkdir " ENVS "/test && chmod 0777 " ENVS "/test");
}

/* Lines of audit.log after the first `after` holding every key=value of
 * pairs ('|'-separated; a pair ending in '*' matches as a prefix), with
 * a deadline for refusals recorded lazily. */
static long audit_wait(long after, const char *pairs, long want)
{
	long deadline = dfs_now_ms() + AUDIT_DEADLINE_MS, n;
	char buf[64];

	for (;;) {
		n = atol(dfs_out(
			&m, buf, sizeof(buf),
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
		if (n >= want || dfs_now_ms() >= deadline)
			return n;
		dfs_sleep_ms(20);
	}
}

/* A refusal with err's text after line n0 (at least one). */
static void assert_refused(long n0, int err, const char *what)
{
	char pairs[256];

	dfs_path(pairs, sizeof(pairs), "result=refused|reason=\"%s*",
		 strerror(err));
	cr_assert_geq(audit_wait(n0, pairs, 1), 1,
		      "%s: no audit line after %ld with %s", what, n0, pairs);
}

/* ---- 1. a staging folder discloses nothing ------------------------------ */

/* Do the n bytes at buf hold a part of the package's text want? */
static bool leaks(const char *buf, ssize_t n, const char *want)
{
	return n > 0 && memmem(want, strlen(want), buf, (size_t)n) != NULL &&
	       memchr(buf, '\0', (size_t)n) == NULL;
}

/* As nobody: try to read the package's bytes through a staging folder. */
static int nobody_probes_staging(void *arg)
{
	char p[PATH_MAX], buf[256];
	ssize_t n;
	int fd;

	(void)arg;
	if (mkdir(tp(p, "order-sync@1"), 0755) != 0)
		return 10;
	/* A root-only file, and a folder only root may list. */
	errno = 0;
	fd = open(tp(p, "order-sync@1/secret.txt"), O_RDWR | O_CREAT, 0644);
	if (fd >= 0 || errno != EACCES)
		return 11;
	if (truncate(tp(p, "order-sync@1/secret.txt"), 10) == 0)
		return 12;
	fd = open(tp(p, "order-sync@1/secret.txt"), O_RDONLY);
	if (fd >= 0 && leaks(buf, read(fd, buf, sizeof(buf)), "hunter2"))
		return 13;
	errno = 0;
	if (mkdir(tp(p, "order-sync@1/private"), 0755) == 0 || errno != EACCES)
		return 14;
	/* A file nobody may read: made and sized, or guessed wrong, it
	 * reads back what nobody wrote, never the package's bytes. */
	fd = open(tp(p, "order-sync@1/readable.txt"), O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return 15;
	if (ftruncate(fd, 10) != 0)
		return 16;
	n = pread(fd, buf, sizeof(buf), 0);
	if (leaks(buf, n, "readable content"))
		return 17;
	close(fd);
	if (truncate(tp(p, "order-sync@1/readable.txt"), 10) == 0) {
		fd = open(tp(p, "order-sync@1/readable.txt"), O_RDONLY);
		if (fd >= 0 &&
		    leaks(buf, read(fd, buf, sizeof(buf)), "readable content"))
			return 18;
	}
	fd = open(tp(p, "order-sync@1/readable.txt"), O_RDONLY);
	if (fd < 0)
		return 19;
	if (leaks(buf, read(fd, buf, sizeof(buf)), "readable content"))
		return 20;
	close(fd);
	fd = open(tp(p, "order-sync@1/readable.txt"), O_WRONLY | O_TRUNC);
	if (fd < 0 || pwrite(fd, "readaXle", 8, 0) != 8)
		return 21;
	close(fd);
	fd = open(tp(p, "order-sync@1/readable.txt"), O_RDONLY);
	if (fd >= 0 &&
	    leaks(buf, read(fd, buf, sizeof(buf)), "readable content"))
		return 22;
	return 0;
}

Test(trust, a_staging_folder_never_shows_package_bytes_to_its_copier)
{
	long n0;
	int rc;

	prepare();
	n0 = dfs_audit_lines(&m);
	rc = dfs_as_nobody(nobody_probes_staging, NULL);
	cr_assert_eq(rc, 0, "nobody's probe failed at step %d", rc);
	assert_refused(n0, EACCES, "a root-only file made by nobody");
	/* And root, who may read everything, still copies it whole. */
	dfs_ok(&m, "rm -r " ENVS "/test/order-sync@1");
	dfs_ok(&m, "cd \"$MNT\" && cp -r packages/order-sync/order-sync@1 "
		   "environments/test/");
	dfs_ok(&m, "diff -r --no-dereference -x partner-cert " PKG " " ENVS
		   "/test/order-sync@1");
}

/* A staging folder's entries keep the package's group and others' bits:
 * a third user reads there no more than in packages/. */
static int nobody_reads_root_copy(void *arg)
{
	char p[PATH_MAX], buf[256];
	int fd;

	(void)arg;
	errno = 0;
	fd = open(tp(p, "order-sync@1/secret.txt"), O_RDONLY);
	if (fd >= 0 || errno != EACCES)
		return 30;
	errno = 0;
	fd = open(tp(p, "order-sync@1/private/notes.txt"), O_RDONLY);
	if (fd >= 0 || errno != EACCES)
		return 31;
	fd = open(tp(p, "order-sync@1/readable.txt"), O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf)) < 0)
		return 32;
	close(fd);
	return 0;
}

Test(trust, a_copy_by_root_keeps_the_package_permissions_for_others)
{
	int rc;

	prepare();
	/* Staging (one file left out), then deployed. */
	dfs_ok(&m, "mkdir " ENVS "/test/order-sync@1 && cd " PKG
		   " && cp -r secret.txt private readable.txt " ENVS
		   "/test/order-sync@1/");
	rc = dfs_as_nobody(nobody_reads_root_copy, NULL);
	cr_assert_eq(rc, 0, "staging: nobody's reads failed at step %d", rc);
	dfs_ok(&m, "cd \"$MNT\" && cp -rn packages/order-sync/order-sync@1 "
		   "environments/test/");
	rc = dfs_as_nobody(nobody_reads_root_copy, NULL);
	cr_assert_eq(rc, 0, "deployed: nobody's reads failed at step %d", rc);
}

/* ---- 2 and 3. a deployed folder is the package, read-only --------------- */

static unsigned char big[BIG_LEN];

/* Read the deployed folder's files over and over until stop exists;
 * exit 0 if every read saw the package, else what went wrong. */
static int read_loop(const char *stop)
{
	static unsigned char got[BIG_LEN + 1];
	char p[PATH_MAX];
	long rounds = 0;

	while (access(stop, F_OK) != 0 || rounds < 20) {
		struct stat sb;
		size_t len = 0;
		ssize_t n;
		int fd;

		fd = open(tp(p, "order-sync@1/big.bin"), O_RDONLY);
		if (fd < 0)
			return 40; /* missing */
		if (fstat(fd, &sb) != 0 || sb.st_size != BIG_LEN)
			return 41; /* wrong size */
		while ((n = read(fd, got + len, sizeof(got) - len)) > 0)
			len += (size_t)n;
		close(fd);
		if (n < 0)
			return 42;
		if (len != BIG_LEN)
			return 43; /* partial */
		if (memcmp(got, big, BIG_LEN) != 0)
			return 44; /* foreign */
		if (stat(tp(p, "order-sync@1/readable.txt"), &sb) != 0 ||
		    sb.st_size != 17)
			return 45;
		rounds++;
	}
	return 0;
}

Test(trust, copying_the_deployed_version_again_never_changes_what_readers_see)
{
	char stop[PATH_MAX], p[PATH_MAX], before[8192], after[8192];
	int st;

	prepare();
	dfs_ok(&m, "cd \"$MNT\" && cp -r packages/order-sync/order-sync@1 "
		   "environments/test/");
	cr_assert_eq(dfs_read_file(tp(p, "order-sync@1/big.bin"), big, BIG_LEN),
		     BIG_LEN);
	dfs_out(&m, before, sizeof(before),
		"cd " ENVS "/test && find . -printf '%%p %%s %%m %%U\\n' | "
		"sort && getfattr --absolute-names -n user.deployfs.deployment "
		"--only-values order-sync@1");
	dfs_path(stop, sizeof(stop), "%s/stop", m.dir);
	reader = fork();
	cr_assert_geq(reader, 0);
	if (reader == 0)
		_exit(read_loop(stop));
	/* Each may fail (loudly) or do nothing; none may change a thing. */
	for (int i = 0; i < 3; i++) {
		(void)dfs_sh(&m, "cd \"$MNT\" && cp -r "
				 "packages/order-sync/order-sync@1 "
				 "environments/test/ 2>/dev/null");
		(void)dfs_sh(&m,
			     "cd \"$MNT\" && tar -C packages/order-sync "
			     "-cf - order-sync@1 | tar -C environments/test "
			     "-xf - 2>/dev/null");
		(void)dfs_sh(&m, "cd \"$MNT\" && cp -a --remove-destination "
				 "packages/order-sync/order-sync@1 "
				 "environments/test/ 2>/dev/null");
	}
	dfs_ok(&m, "cd \"$MNT\" && rsync -a packages/order-sync/order-sync@1 "
		   "environments/test/");
	cr_assert_eq(dfs_write_file(stop, "", 0), 0);
	cr_assert_eq(waitpid(reader, &st, 0), reader);
	reader = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "a reader saw a damaged file (step %d)",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	dfs_out(&m, after, sizeof(after),
		"cd " ENVS "/test && find . -printf '%%p %%s %%m %%U\\n' | "
		"sort && getfattr --absolute-names -n user.deployfs.deployment "
		"--only-values order-sync@1");
	cr_assert_str_eq(after, before);
}

Test(trust, a_deployed_folder_refuses_removing_appending_and_writing)
{
	char p[PATH_MAX], buf[8192], before[8192];
	struct stat sb;
	long n0;

	prepare();
	dfs_ok(&m, "cd \"$MNT\" && ln -s ../../packages/order-sync/order-sync@1"
		   " environments/test/order-sync");
	dfs_out(&m, before, sizeof(before),
		"cd " ENVS "/test && find . -printf '%%p %%s\\n' | sort && "
		"md5sum order-sync@1/readable.txt");
	n0 = dfs_audit_lines(&m);

	ASSERT_ERRNO(unlink(tp(p, "order-sync@1/readable.txt")), EROFS);
	ASSERT_ERRNO(
		open(tp(p, "order-sync@1/readable.txt"), O_WRONLY | O_APPEND),
		EROFS);
	ASSERT_ERRNO(open(tp(p, "order-sync@1/readable.txt"), O_WRONLY), EROFS);
	ASSERT_ERRNO(open(tp(p, "order-sync@1/readable.txt"), O_RDWR), EROFS);
	ASSERT_ERRNO(
		open(tp(p, "order-sync@1/readable.txt"), O_WRONLY | O_TRUNC),
		EROFS);
	ASSERT_ERRNO(truncate(tp(p, "order-sync@1/readable.txt"), 3), EROFS);
	ASSERT_ERRNO(
		open(tp(p, "order-sync@1/new.txt"), O_WRONLY | O_CREAT, 0644),
		EROFS);
	ASSERT_ERRNO(mkdir(tp(p, "order-sync@1/new"), 0755), EROFS);
	ASSERT_ERRNO(rmdir(tp(p, "order-sync@1/private")), EROFS);
	cr_assert_neq(
		dfs_sh(&m, "echo x >>" ENVS "/test/order-sync@1/readable.txt"),
		0, "echo >> exited 0");
	cr_assert_neq(dfs_sh(&m, "rm -r " ENVS "/test/order-sync@1 "
				 "2>/dev/null"),
		      0, "rm -r of a deployed folder exited 0");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cd " ENVS "/test && find . -printf "
				 "'%%p %%s\\n' | sort && "
				 "md5sum order-sync@1/readable.txt"),
			 before);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "getfattr --absolute-names --only-values -n "
				 "user.deployfs.state " ENVS
				 "/test/order-sync@1"),
			 "deployed");
	assert_refused(n0, EROFS, "writing in a deployed folder");
	/* Undeploying stays whole and easy. */
	dfs_ok(&m, "rmdir " ENVS "/test/order-sync@1");
	ASSERT_ERRNO(stat(tp(p, "order-sync"), &sb), ENOENT);
	ASSERT_ERRNO(stat(tp(p, "order-sync@1"), &sb), ENOENT);
}

/* ---- 4. a copy with a refused entry never deploys ----------------------- */

static void assert_not_deployed(const char *why)
{
	char p[PATH_MAX], buf[512];
	struct stat sb;

	ASSERT_ERRNO(lstat(tp(p, "order-sync"), &sb), ENOENT);
	dfs_out(&m, buf, sizeof(buf),
		"getfattr --absolute-names --only-values -n "
		"user.deployfs.state " ENVS "/test/order-sync@1");
	cr_assert(strncmp(buf, "staging, will not deploy", 24) == 0 &&
			  strstr(buf, why),
		  "state: %s", buf);
	/* rm -r leaves the environment as it was. */
	dfs_ok(&m, "rm -r " ENVS "/test/order-sync@1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls -A " ENVS "/test"),
			 "");
}

Test(trust, a_copy_with_an_extra_entry_never_deploys)
{
	long n0;

	prepare();
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "mkdir " ENVS "/test/order-sync@1");
	cr_assert_neq(dfs_sh(&m, "echo x >" ENVS "/test/order-sync@1/extra.txt"
				 " 2>/dev/null"),
		      0);
	/* Everything the package has, after the refusal. */
	dfs_ok(&m, "cp -r " PKG "/. " ENVS "/test/order-sync@1/");
	assert_not_deployed("extra.txt");
	cr_assert_eq(audit_wait(n0, "action=deploy|result=ok", 0), 0);
	assert_refused(n0, EPERM, "the extra file");
}

Test(trust, a_temporary_renamed_to_an_extra_name_never_deploys)
{
	prepare();
	dfs_ok(&m, "mkdir " ENVS "/test/order-sync@1");
	/* rsync's way: a temporary, renamed to a name the package lacks. */
	dfs_ok(&m, "echo x >" ENVS "/test/order-sync@1/.extra.txt.AbCdEf");
	cr_assert_neq(dfs_sh(&m, "mv " ENVS "/test/order-sync@1/"
				 ".extra.txt.AbCdEf " ENVS
				 "/test/order-sync@1/extra.txt 2>/dev/null"),
		      0);
	dfs_ok(&m, "rm " ENVS "/test/order-sync@1/.extra.txt.AbCdEf");
	dfs_ok(&m, "cp -r " PKG "/. " ENVS "/test/order-sync@1/");
	assert_not_deployed("extra.txt");
}

/* ---- 5. one name, once ------------------------------------------------- */

Test(trust, deploying_by_link_ends_a_copy_of_the_same_version)
{
	char buf[4096];

	prepare();
	dfs_ok(&m, "mkdir " ENVS "/test/order-sync@1 && cp " PKG
		   "/readable.txt " ENVS "/test/order-sync@1/");
	dfs_ok(&m, "ln -sfn ../../packages/order-sync/order-sync@1 " ENVS
		   "/test/order-sync");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls " ENVS "/test"),
			 "order-sync\norder-sync@1");
	dfs_ok(&m, "diff -r --no-dereference -x partner-cert " PKG " " ENVS
		   "/test/order-sync@1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "getfattr --absolute-names --only-values -n "
				 "user.deployfs.state " ENVS
				 "/test/order-sync@1"),
			 "deployed");
}

/* ---- 6. rmdir never removes a package; deployctl does, softly ---------- */

Test(trust, rmdir_never_removes_a_package)
{
	char p[PATH_MAX];
	long n0;

	prepare();
	n0 = dfs_audit_lines(&m);
	/* The usual clean-up of empty folders. */
	cr_assert_neq(dfs_sh(&m, "find \"$MNT/packages/order-sync\" "
				 "-mindepth 1 -type d -exec rmdir {} + "
				 "2>/dev/null"),
		      0);
	ASSERT_ERRNO(
		rmdir(dfs_path(p, sizeof(p),
			       "%s/packages/order-sync/order-sync@1", m.mnt)),
		ENOTEMPTY);
	ASSERT_ERRNO(rmdir(dfs_path(p, sizeof(p),
				    "%s/packages/order-sync/order-sync@1/"
				    "private",
				    m.mnt)),
		     ENOTEMPTY);
	ASSERT_ERRNO(
		rmdir(dfs_path(p, sizeof(p), "%s/packages/order-sync", m.mnt)),
		ENOTEMPTY);
	dfs_ok(&m,
	       "test -f " PKG "/big.bin && test -f " PKG "/private/notes.txt");
	assert_refused(n0, ENOTEMPTY, "rmdir of a package");
}

Test(trust, deployctl_removes_and_restores_a_package)
{
	char buf[4096];
	long n0;

	prepare();
	dfs_ok(&m, "mkdir \"$MNT/packages/order-sync/order-sync@2\"");
	dfs_ok(&m, "ln -s ../../packages/order-sync/order-sync@1 " ENVS
		   "/test/order-sync");
	n0 = dfs_audit_lines(&m);
	/* Deployed: refused, naming where. */
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" package remove order-sync@1 "
				"--mount \"$MNT\" 2>/dev/null"),
		     1);
	cr_assert_eq(audit_wait(n0,
				"action=package-remove|component=order-sync|"
				"version=1|result=refused|reason=\"Device or "
				"resource busy: order-sync@1 is deployed in "
				"test\"",
				1),
		     1);
	dfs_ok(&m, "test -d " PKG);
	dfs_ok(&m, "rm " ENVS "/test/order-sync");

	dfs_ok(&m, "\"$DEPLOYCTL\" package remove order-sync@1 --mount "
		   "\"$MNT\" >/dev/null");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "ls \"$MNT/packages/order-sync\""),
			 "latest\norder-sync@2");
	cr_assert_neq(
		dfs_sh(&m, "ln -s ../../packages/order-sync/order-sync@1 " ENVS
			   "/test/order-sync 2>/dev/null"),
		0, "a removed package deployed");
	/* Its version is not made again while it can be restored. */
	cr_assert_neq(dfs_sh(&m, "mkdir " PKG " 2>/dev/null"), 0);
	dfs_ok(&m, "\"$DEPLOYCTL\" package restore order-sync@1 --mount "
		   "\"$MNT\" >/dev/null");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "ls \"$MNT/packages/order-sync\""),
			 "latest\norder-sync@1\norder-sync@2");
	dfs_ok(&m, "cmp \"$BUILD/process/order-sync/big.bin\" " PKG "/big.bin");
	cr_assert_eq(audit_wait(n0, "action=package-remove|result=ok", 1), 1);
	cr_assert_eq(audit_wait(n0, "action=package-restore|result=ok", 1), 1);
	/* Restoring what is there, removing what is not. */
	cr_assert_neq(dfs_sh(&m, "\"$DEPLOYCTL\" package restore "
				 "order-sync@1 --mount \"$MNT\" 2>/dev/null"),
		      0);
	cr_assert_neq(dfs_sh(&m, "\"$DEPLOYCTL\" package remove order-sync@9 "
				 "--mount \"$MNT\" 2>/dev/null"),
		      0);
}

/* ---- 9. requirement links lead somewhere ----------------------------------- */

/* readlink of MNT/REL, and that the link's size is its text's length. */
static char *link_of(char *buf, size_t cap, const char *rel)
{
	char size[64];

	dfs_out(&m, buf, cap, "readlink \"$MNT/%s\"", rel);
	cr_assert_eq(atol(dfs_out(&m, size, sizeof(size),
				  "stat -c %%s \"$MNT/%s\"", rel)),
		     (long)strlen(buf), "%s: size and text differ", rel);
	return buf;
}

Test(trust, requirement_links_lead_to_the_required_component)
{
	char buf[4096], err[4096], hash1[128], hash2[128];

	prepare();
	/* One more, a folder down. */
	dfs_ok(&m, "mkdir \"$BUILD/process/order-sync/conf\" && ln -s "
		   "../../../certificate/partner-cert "
		   "\"$BUILD/process/order-sync/conf/cert\"");
	dfs_ok(&m, "mkdir \"$MNT/packages/order-sync/order-sync@2\" "
		   "\"$MNT/packages/partner-cert/partner-cert@1\"");
	cr_assert_str_eq(link_of(buf, sizeof(buf),
				 "packages/order-sync/order-sync@2/"
				 "partner-cert"),
			 "../../partner-cert");
	cr_assert_str_eq(link_of(buf, sizeof(buf),
				 "packages/order-sync/order-sync@2/conf/cert"),
			 "../../../partner-cert");
	/* In packages/: the component's folder of versions. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "ls \"$MNT/packages/order-sync/order-sync@2/"
				 "conf/cert/\""),
			 "latest\npartner-cert@1");

	/* In an environment: its deployment, dangling while unmet. */
	dfs_ok(&m, "cd \"$MNT\" && cp -r packages/order-sync/order-sync@2 "
		   "environments/test/");
	cr_assert_str_eq(link_of(buf, sizeof(buf),
				 "environments/test/order-sync@2/"
				 "partner-cert"),
			 "../partner-cert");
	cr_assert_str_eq(link_of(buf, sizeof(buf),
				 "environments/test/order-sync@2/conf/cert"),
			 "../../partner-cert");
	cr_assert_neq(dfs_sh(&m, "test -e " ENVS "/test/order-sync@2/"
				 "partner-cert"),
		      0, "an unmet requirement leads somewhere");
	dfs_ok(&m, "ln -s ../../packages/partner-cert/partner-cert@1 " ENVS
		   "/test/partner-cert");
	dfs_ok(&m, "cmp \"$BUILD/certificate/partner-cert/partner.pem\" " ENVS
		   "/test/order-sync@2/conf/cert/partner.pem");

	/* deployctl warns of what is unmet; diff -r of two environments
	 * follows the links. */
	dfs_ok(&m, "mkdir " ENVS "/production");
	dfs_out(&m, err, sizeof(err),
		"\"$DEPLOYCTL\" deploy order-sync@2 production --mount "
		"\"$MNT\" 2>&1 >/dev/null");
	cr_assert(strstr(err, "partner-cert"), "no warning: %s", err);
	dfs_out(&m, err, sizeof(err),
		"\"$DEPLOYCTL\" deploy partner-cert@1 production --mount "
		"\"$MNT\" 2>&1 >/dev/null");
	cr_assert_str_eq(err, "");
	dfs_ok(&m, "cd " ENVS " && diff -r test/order-sync@2 "
		   "production/order-sync@2");
	/* A copy from another environment, and from a tar of packages/. */
	dfs_ok(&m, "rm " ENVS "/production/order-sync && cd " ENVS
		   " && cp -r test/order-sync@2 production/");
	dfs_ok(&m, "rmdir " ENVS "/production/order-sync@2 && cd "
		   "\"$MNT/packages/order-sync\" && tar -cf - order-sync@2 | "
		   "tar -C " ENVS "/production -xf -");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "getfattr --absolute-names --only-values -n "
				 "user.deployfs.state " ENVS
				 "/production/order-sync@2"),
			 "deployed");

	/* The content hash is a function of what was captured. */
	dfs_ok(&m, "mkdir \"$MNT/packages/order-sync/order-sync@3\"");
	dfs_out(&m, hash1, sizeof(hash1),
		"getfattr --absolute-names --only-values -n "
		"user.deployfs.content_hash "
		"\"$MNT/packages/order-sync/order-sync@2\"");
	dfs_out(&m, hash2, sizeof(hash2),
		"getfattr --absolute-names --only-values -n "
		"user.deployfs.content_hash "
		"\"$MNT/packages/order-sync/order-sync@3\"");
	cr_assert_str_eq(hash1, hash2);
}
