// SPDX-License-Identifier: MIT
/*
 * test_tools.c - the tools people already have, run on build/: tar -x,
 * cp -a, rsync -a, git, setfattr/getfattr and find, each checked against
 * the fixture workspace (content with diff -r, and metadata with find).
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

TestSuite(tools, .init = setup, .fini = teardown, .timeout = 180);

/*
 * A shell function that lists every entry below the component folders
 * that the fixture has (process/order-sync/..., map/order-map/...), with
 * mode, owner, group, size (not for folders), mtime in ns, type, path and
 * link target.  Folder sizes are left out: they are not comparable
 * between two filesystems.
 */
#define LST_FN                                                              \
	"lst() { (cd \"$1\" && for t in $(ls \"$FIXTURES/workspace\"); do " \
	"find \"$t\" -mindepth 1 ! -type d "                                \
	"-printf '%%m %%U %%G %%s %%T@ %%y %%p %%l\\n' || exit 1; "         \
	"find \"$t\" -mindepth 1 -type d "                                  \
	"-printf '%%m %%U %%G %%T@ %%y %%p\\n' || exit 1; done) "           \
	">\"$2.u\" && sort \"$2.u\" >\"$2\"; }; "

/* build/ holds the fixture: same bytes, same metadata. */
static void assert_same_as_fixture(const char *what)
{
	char out[16384];
	int rc;

	rc = dfs_sh_out(&m, out, sizeof(out),
			"cd \"$FIXTURES/workspace\" && for t in *; do "
			"diff -r --no-dereference \"$t\" \"$BUILD/$t\" "
			"|| exit 1; done 2>&1");
	cr_assert_eq(rc, 0, "%s: diff -r differs:\n%s", what, out);
	rc = dfs_sh_out(&m, out, sizeof(out),
			LST_FN "lst \"$FIXTURES/workspace\" \"$DIR/want\" && "
			       "lst \"$BUILD\" \"$DIR/got\" && "
			       "test -s \"$DIR/want\" && "
			       "diff \"$DIR/want\" \"$DIR/got\" 2>&1");
	cr_assert_eq(rc, 0, "%s: metadata differs (< fixture, > build):\n%s",
		     what, out);
}

static void copy_fixture(void)
{
	cr_assert_eq(dfs_copy_workspace(&m), 0,
		     "cp -a of the fixture into build/ failed");
}

Test(tools, tar_extract_matches_fixture)
{
	char out[4096];
	int rc;

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_sh(&m, "tar --format=posix -C \"$FIXTURES/workspace\""
				" -cf \"$DIR/ws.tar\" ."),
		     0);
	rc = dfs_sh_out(&m, out, sizeof(out),
			"tar -C \"$BUILD\" -xf \"$DIR/ws.tar\" 2>&1");
	cr_assert_eq(rc, 0, "tar -x exit %d:\n%s", rc, out);
	assert_same_as_fixture("tar -x");
	/* tar's own check: content, mode, owner, mtime, link targets. */
	rc = dfs_sh_out(&m, out, sizeof(out),
			"cd \"$FIXTURES/workspace\" && "
			"tar --format=posix -cf \"$DIR/parts.tar\" * && "
			"tar -C \"$BUILD\" --compare "
			"-f \"$DIR/parts.tar\" 2>&1");
	cr_assert_eq(rc, 0, "tar --compare exit %d:\n%s", rc, out);
}

Test(tools, cp_a_matches_fixture)
{
	char out[4096];
	int rc;

	dfs_need_mount(&m, setup_rc);
	rc = dfs_sh_out(&m, out, sizeof(out),
			"cp -a \"$FIXTURES/workspace/.\" \"$BUILD/\" 2>&1");
	cr_assert_eq(rc, 0, "cp -a exit %d:\n%s", rc, out);
	assert_same_as_fixture("cp -a");
	/* And back out again: the copy of the copy is the fixture. */
	rc = dfs_sh_out(&m, out, sizeof(out),
			"cp -a \"$BUILD/process\" \"$NATIVE/\" 2>&1 && "
			"diff -r --no-dereference "
			"\"$FIXTURES/workspace/process\" "
			"\"$NATIVE/process\" 2>&1");
	cr_assert_eq(rc, 0, "cp -a back out:\n%s", out);
}

Test(tools, rsync_a_then_second_run_transfers_nothing)
{
	char out[8192];
	int rc;

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_sh(&m, "cp -a \"$FIXTURES/workspace\" \"$NATIVE/ws\""),
		     0);
	rc = dfs_sh_out(&m, out, sizeof(out),
			"rsync -a \"$NATIVE/ws/\" \"$BUILD/\" 2>&1");
	cr_assert_eq(rc, 0, "rsync -a exit %d:\n%s", rc, out);
	assert_same_as_fixture("rsync -a");
	rc = dfs_sh_out(&m, out, sizeof(out),
			"rsync -a --itemize-changes \"$NATIVE/ws/\" "
			"\"$BUILD/\" 2>&1");
	cr_assert_eq(rc, 0, "second rsync exit %d:\n%s", rc, out);
	cr_assert_str_eq(out, "", "second rsync -a transferred:\n%s", out);
	/* One changed map: exactly that file goes over. */
	cr_assert_eq(dfs_sh(&m, "printf '<!-- v2 -->\\n' >>"
				" \"$NATIVE/ws/map/order-map/map.xml\""),
		     0);
	rc = dfs_sh_out(&m, out, sizeof(out),
			"rsync -a --itemize-changes \"$NATIVE/ws/\" "
			"\"$BUILD/\" 2>&1");
	cr_assert_eq(rc, 0, "third rsync exit %d:\n%s", rc, out);
	cr_assert_str_eq(out, ">f.st...... map/order-map/map.xml\n");
	cr_assert_eq(dfs_sh(&m, "cmp \"$NATIVE/ws/map/order-map/map.xml\" "
				"\"$BUILD/map/order-map/map.xml\""),
		     0);
}

#define GIT_ENV                                                        \
	"export HOME=\"$DIR\" GIT_CONFIG_NOSYSTEM=1 "                  \
	"GIT_AUTHOR_NAME=Dev GIT_AUTHOR_EMAIL=dev@example.com "        \
	"GIT_COMMITTER_NAME=Dev GIT_COMMITTER_EMAIL=dev@example.com; " \
	"cd \"$BUILD/process/order-sync\" && "

Test(tools, git_commit_log_status_in_component)
{
	char out[8192];
	int rc;

	dfs_need_mount(&m, setup_rc);
	copy_fixture();
	rc = dfs_sh_out(&m, out, sizeof(out),
			GIT_ENV
			"git init -q && git add -A && "
			"git commit -qm 'order-sync: first version' 2>&1");
	cr_assert_eq(rc, 0, "git init/add/commit exit %d:\n%s", rc, out);
	rc = dfs_sh_out(&m, out, sizeof(out),
			GIT_ENV "git log --format=%%s 2>&1");
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(out, "order-sync: first version\n");
	rc = dfs_sh_out(&m, out, sizeof(out),
			GIT_ENV "git status --porcelain --ignored 2>&1");
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(out, "", "git status not clean:\n%s", out);
	/* sed -i writes a temporary file and renames it over the old one. */
	rc = dfs_sh_out(&m, out, sizeof(out),
			GIT_ENV
			"sed -i 's/order-sync/order-sync-v2/' process.xml && "
			"git commit -qam 'order-sync: rename' && "
			"git gc -q && git fsck --strict --no-progress && "
			"git log --format=%%s && "
			"git diff --name-only HEAD~1 HEAD 2>&1");
	cr_assert_eq(rc, 0, "second commit/gc/fsck exit %d:\n%s", rc, out);
	cr_assert_str_eq(out, "order-sync: rename\n"
			      "order-sync: first version\nprocess.xml\n");
	rc = dfs_sh_out(&m, out, sizeof(out),
			GIT_ENV "git checkout -q HEAD~1 -- process.xml && "
				"cmp process.xml \"$FIXTURES/workspace/process/"
				"order-sync/process.xml\" && "
				"git status --porcelain 2>&1");
	cr_assert_eq(rc, 0, "checkout of the old revision:\n%s", out);
	cr_assert_str_eq(out, "M  process.xml\n");
}

Test(tools, setfattr_getfattr_roundtrip)
{
	char out[8192];
	int rc;

	dfs_need_mount(&m, setup_rc);
	copy_fixture();
	rc = dfs_sh_out(&m, out, sizeof(out),
			"f=\"$BUILD/certificate/partner-cert/partner.pem\"; "
			"setfattr -n user.deployfs.owner -v security-team "
			"\"$f\" && "
			"setfattr -n user.fingerprint -v 0x01020300ff \"$f\" "
			"&& getfattr --absolute-names --only-values "
			"-n user.deployfs.owner \"$f\""
			" 2>&1");
	cr_assert_eq(rc, 0, "setfattr/getfattr exit %d:\n%s", rc, out);
	cr_assert_str_eq(out, "security-team");
	rc = dfs_sh_out(&m, out, sizeof(out),
			"cd \"$BUILD\" && getfattr -e hex -d "
			"certificate/partner-cert/partner.pem 2>&1");
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(out,
			 "# file: certificate/partner-cert/partner.pem\n"
			 "user.deployfs.owner=0x73656375726974792d7465616d\n"
			 "user.fingerprint=0x01020300ff\n\n");
	/* Dump, remove, restore: the dump comes back identical. */
	rc = dfs_sh_out(&m, out, sizeof(out),
			"cd \"$BUILD\" && setfattr -n user.stage -v test "
			"process/order-sync && "
			"getfattr -R -d -e hex . >\"$DIR/x1\" && "
			"setfattr -x user.deployfs.owner "
			"certificate/partner-cert/partner.pem && "
			"setfattr -x user.stage process/order-sync && "
			"! getfattr -n user.stage process/order-sync "
			"2>/dev/null && "
			"setfattr --restore=\"$DIR/x1\" && "
			"getfattr -R -d -e hex . >\"$DIR/x2\" && "
			"grep -q user.stage \"$DIR/x1\" && "
			"diff \"$DIR/x1\" \"$DIR/x2\" 2>&1");
	cr_assert_eq(rc, 0, "dump/restore round trip:\n%s", out);
	/* cp -a carries xattrs both ways. */
	rc = dfs_sh_out(&m, out, sizeof(out),
			"echo key=1 >\"$NATIVE/x.conf\" && "
			"setfattr -n user.origin -v native "
			"\"$NATIVE/x.conf\" && "
			"cp -a \"$NATIVE/x.conf\" "
			"\"$BUILD/connection/sftp-in/\" "
			"&& getfattr --absolute-names --only-values "
			"-n user.origin \"$BUILD/connection/sftp-in/x.conf\"");
	cr_assert_eq(rc, 0, "cp -a with xattrs:\n%s", out);
	cr_assert_str_eq(out, "native");
}

/* The same find expression over the fixture and over build/. */
static void assert_same_find(const char *expr)
{
	char want[4096], got[4096];
	int rc;

	rc = dfs_sh_out(&m, want, sizeof(want),
			"cd \"$FIXTURES/workspace\" && find %s 2>&1", expr);
	cr_assert_eq(rc, 0, "find %s in the fixture: %s", expr, want);
	cr_assert_neq(want[0], '\0', "find %s found nothing", expr);
	rc = dfs_sh_out(&m, got, sizeof(got), "cd \"$BUILD\" && find %s 2>&1",
			expr);
	cr_assert_eq(rc, 0, "find %s in build/: %s", expr, got);
	cr_assert_str_eq(got, want, "find %s", expr);
}

Test(tools, find_counts_match_fixture)
{
	char out[4096], want[64];
	struct stat st;

	dfs_need_mount(&m, setup_rc);
	copy_fixture();
	assert_same_find("*/* -type f | wc -l");
	assert_same_find("*/* -type d | wc -l");
	assert_same_find("*/* -type l | wc -l");
	assert_same_find("*/* | sort");
	assert_same_find("-L process/order-sync -type f | wc -l");
	assert_same_find("-L process/order-sync -name '*.xml' | sort");
	assert_same_find("*/* -type l -lname '../../profile/*' | sort");
	/* find -inum finds a file by its inode number. */
	dfs_path(want, sizeof(want), "%s", "./map/order-map/map.xml\n");
	cr_assert_eq(stat(dfs_path(out, sizeof(out), "%s/map/order-map/map.xml",
				   m.build),
			  &st),
		     0);
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"cd \"$BUILD\" && find . -inum %llu",
				(unsigned long long)st.st_ino),
		     0);
	cr_assert_str_eq(out, want);
}

/*
 * git versions a whole workspace: dot names directly in build/ are
 * allowed and are not components; a .git folder inside a component
 * never goes into a package; other new names in build/ stay EPERM.
 */
Test(tools, git_init_in_build_versions_the_workspace)
{
	char out[4096];

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0, "cp -a of the workspace");
	dfs_ok(&m, "cd \"$BUILD\" && git init -q && printf '*.tmp\\n' "
		   ">.gitignore && git add -A && git -c user.name=t -c "
		   "user.email=t@example.com commit -qm workspace && "
		   "test -z \"$(git status --porcelain)\" && "
		   "sed -i 's|/order/customer/number|/order/customer/id|' "
		   "map/order-map/map.xml && git diff --stat | grep -q map.xml "
		   "&& git checkout -q -- . && "
		   "test -z \"$(git status --porcelain)\"");
	/* A repository inside a component stays out of its packages. */
	dfs_ok(&m,
	       "git init -q \"$BUILD/process/order-sync\" && "
	       "mkdir \"$MNT/packages/order-sync/order-sync@1\" && "
	       "test ! -e \"$MNT/packages/order-sync/order-sync@1/.git\" && "
	       "test -f \"$MNT/packages/order-sync/order-sync@1/"
	       "process.xml\"");
	/* Not components, and the fence holds for other names. */
	cr_assert_str_eq(dfs_out(&m, out, sizeof(out),
				 "ls -A \"$MNT/packages\" | grep '^\\.' ; "
				 "mkdir \"$BUILD/stray\" 2>&1 | "
				 "sed 's/.*: //'"),
			 "Operation not permitted");
}
