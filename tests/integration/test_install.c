// SPDX-License-Identifier: MIT
/*
 * test_install.c - what a newcomer meets first: meson install puts the
 * binaries, man pages, bash completion and systemd unit in place; mount(8)
 * and mount.fuse3 mount deployfs as fstab would; the man pages render
 * without warnings and name every command and option; the completion
 * completes names read from a real mount; tools/run --stop without a
 * folder unmounts what tools/run mounted, wherever that was.
 *
 * The build folder is the one of DEPLOYFS_BIN (BUILD/fs/deployfs).  Every
 * installed file goes under DIR (meson install --destdir), never /usr/local.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

static struct dfs_mount m;
static int setup_rc;

/* Exported to every command: $BUILDDIR (the meson build folder), $SRC
 * (the source tree) and $DEPLOYFS_BIN (absolute). */
#define ENV_SH                                                      \
	"BUILDDIR=$(cd \"$(dirname \"$DEPLOYFS\")/..\" && pwd) && " \
	"SRC=$(cd \"$FIXTURES/../..\" && pwd) && "                  \
	"DEPLOYFS_BIN=$(cd \"$(dirname \"$DEPLOYFS\")\" && pwd)/deployfs; "

/*
 * For commands run as nobody: a clone nobody may not enter (one made in a
 * mktemp -d folder, or under root's 0700 home) is reached through
 * $DIR/src, a small tmpfs holding a read-only bind mount of each of the
 * clone's entries (the suite's teardown detaches it whole); $SRC and
 * $BUILDDIR then point there.  After ENV_SH.
 */
#define NOBODY_REACH_SH                                                     \
	"if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "  \
	"\"$SRC/tools/run\"; then "                                         \
	"if ! mountpoint -q \"$DIR/src\"; then mkdir -p \"$DIR/src\" && "   \
	"mount -t tmpfs -o mode=0755,size=1m dfs-src \"$DIR/src\" && "      \
	"for e in \"$SRC\"/* \"$SRC\"/.[!.]*; do [ -e \"$e\" ] || "         \
	"continue; t=\"$DIR/src/${e##*/}\"; if [ -d \"$e\" ]; then "        \
	"mkdir \"$t\"; else : >\"$t\"; fi && "                              \
	"mount --bind -o ro \"$e\" \"$t\" || exit 1; done; fi && "          \
	"BUILDDIR=\"$DIR/src/${BUILDDIR#\"$SRC\"/}\" && SRC=\"$DIR/src\"; " \
	"fi && "

/* Wait (20 s at most) until no daemon holds the store: polled. */
#define RELEASED_SH(store)                                             \
	"for i in $(seq 200); do flock -n \"" store "/lock\" true && " \
	"break; sleep 0.1; done; flock -n \"" store "/lock\" true"

static const char *const extra_mounts[] = { "mnt2", "elsewhere",
					    "home/deployfs", "nhome/deployfs",
					    "src" };

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
}

/* Nothing a test mounted outside the harness stays mounted. */
static void teardown(void)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0;
	     m.dir[0] && i < sizeof(extra_mounts) / sizeof(extra_mounts[0]);
	     i++) {
		dfs_path(path, sizeof(path), "%s/%s", m.dir, extra_mounts[i]);
		if (dfs_is_mounted(path))
			umount2(path, MNT_DETACH);
	}
	dfs_mount_teardown(&m);
}

TestSuite(install, .init = setup, .fini = teardown, .timeout = 180);

Test(install, meson_install_puts_every_file_in_place)
{
	char out[4096];
	int rc;

	dfs_need_mount(&m, setup_rc);
	rc = dfs_sh_out(&m, out, sizeof(out),
			ENV_SH "meson install -C \"$BUILDDIR\" --no-rebuild "
			       "--quiet --destdir \"$DIR/dest\" 2>&1");
	cr_assert_eq(rc, 0, "meson install --destdir failed (%d):\n%s", rc,
		     out);
	rc = dfs_sh_out(
		&m, out, sizeof(out),
		"p=\"$DIR/dest/usr/local\" && for f in bin/deployfs "
		"bin/deployctl; do test -x \"$p/$f\" || echo \"no $f\"; "
		"done; for f in share/man/man8/deployfs.8 "
		"share/man/man1/deployctl.1 "
		"share/bash-completion/completions/deployctl "
		"lib/systemd/system/deployfs@.service; do "
		"test -s \"$p/$f\" || echo \"no $f\"; done");
	cr_assert_eq(rc, 0);
	cr_assert_str_empty(out, "missing from the install:\n%s", out);
	/* The installed programs run, and the unit names them. */
	dfs_ok(&m, "\"$DIR/dest/usr/local/bin/deployctl\" --version "
		   "| grep -q deployctl");
	dfs_ok(&m, "\"$DIR/dest/usr/local/bin/deployfs\" --version "
		   "| grep -q deployfs");
	dfs_ok(&m,
	       "grep -qx 'ExecStart=/usr/local/bin/deployfs -o allow_other"
	       " /var/lib/deployfs/%%i %%f' "
	       "\"$DIR/dest/usr/local/lib/systemd/system/deployfs@.service\"");
}

/*
 * mount(8) runs "mount.fuse STORE MNT -o rw,OPTS -t fuse.deployfs" with
 * the default PATH; here the same call with the build's deployfs first
 * on PATH, and fstab's options that mount.fuse3 passes on.
 */
Test(install, mount_fuse3_runs_deployfs_by_name_with_fstab_options)
{
	char out[4096];
	int rc;

	dfs_need_mount(&m, setup_rc);
	/* What mount(8) leaves: no PATH, so sh's own, which has the
	 * folder meson installs into (deployfs(8) says so). */
	dfs_ok(&m, "env -i /bin/sh -c 'echo \"$PATH\"' | tr : '\\n' | "
		   "grep -qx /usr/local/bin");
	cr_assert_eq(dfs_mount_stop(&m), 0, "the harness daemon did not stop");
	dfs_ok(&m, ENV_SH "mkdir -p \"$DIR/bin\" \"$DIR/mnt2\" && "
			  "ln -s \"$DEPLOYFS_BIN\" \"$DIR/bin/deployfs\"");
	rc = dfs_sh_out(&m, out, sizeof(out),
			"PATH=\"$DIR/bin:$PATH\" mount.fuse3 \"$STORE\" "
			"\"$DIR/mnt2\" -t fuse.deployfs -o "
			"rw,defaults,allow_other,noatime,nofail,_netdev,"
			"x-systemd.automount 2>&1");
	cr_assert_eq(rc, 0, "mount.fuse3 failed (%d):\n%s", rc, out);
	dfs_ok(&m, "grep -q \" $DIR/mnt2 fuse.deployfs rw,.*allow_other\" "
		   "/proc/mounts");
	dfs_out(&m, out, sizeof(out), "ls \"$DIR/mnt2\" | tr '\\n' ' '");
	cr_assert_str_eq(out, "audit.log build environments packages ");
	dfs_ok(&m, "umount \"$DIR/mnt2\" && " RELEASED_SH("$STORE"));
	dfs_ok(&m, "! grep -q \" $DIR/mnt2 \" /proc/mounts");

	/* An option that means nothing is still refused. */
	rc = dfs_sh_out(&m, out, sizeof(out),
			"PATH=\"$DIR/bin:$PATH\" mount.fuse3 \"$STORE\" "
			"\"$DIR/mnt2\" -t fuse.deployfs -o bogus 2>&1");
	cr_assert_neq(rc, 0, "-o bogus mounted:\n%s", out);
	cr_assert(strstr(out, "bogus"), "no word of the option:\n%s", out);
}

/* mount(8) itself, from an fstab file (its own PATH is the default one,
 * so the program is named by its path, fuse's PROGRAM#SOURCE form). */
Test(install, mount_reads_an_fstab_line)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_mount_stop(&m), 0, "the harness daemon did not stop");
	dfs_ok(&m,
	       ENV_SH "mkdir -p \"$DIR/mnt2\" && "
		      "printf '%%s#%%s %%s fuse defaults,allow_other 0 0\\n'"
		      " \"$DEPLOYFS_BIN\" \"$STORE\" \"$DIR/mnt2\" "
		      ">\"$DIR/fstab\"");
	dfs_ok(&m, "mount --fstab \"$DIR/fstab\" \"$DIR/mnt2\"");
	dfs_ok(&m, "grep -q \" $DIR/mnt2 fuse.deployfs .*allow_other\" "
		   "/proc/mounts && test -d \"$DIR/mnt2/packages\"");
	dfs_ok(&m, "umount \"$DIR/mnt2\" && " RELEASED_SH("$STORE"));
	dfs_ok(&m, "! grep -q \" $DIR/mnt2 \" /proc/mounts");
}

Test(install, man_pages_render_without_warnings)
{
	char out[8192];
	int rc;

	dfs_need_mount(&m, setup_rc);
	rc = dfs_sh_out(&m, out, sizeof(out),
			"cd \"$FIXTURES/../../docs/man\" && for f in "
			"deployfs.8 deployctl.1; do groff -ww -man -z \"$f\" "
			"2>&1; LC_ALL=C MANWIDTH=80 man -l \"$f\" 2>&1 "
			">/dev/null; done");
	cr_assert_eq(rc, 0);
	cr_assert_str_empty(out, "warnings:\n%s", out);
}

/* Every command and option that deployctl --help lists is in the page. */
Test(install, deployctl_page_covers_every_command_and_option)
{
	char out[8192];
	int rc;

	dfs_need_mount(&m, setup_rc);
	rc = dfs_sh_out(
		&m, out, sizeof(out),
		"LC_ALL=C MANWIDTH=200 man -l "
		"\"$FIXTURES/../../docs/man/deployctl.1\" 2>/dev/null "
		">\"$DIR/page\" && test -s \"$DIR/page\" && "
		"\"$DEPLOYCTL\" --help >\"$DIR/help\" && "
		"for c in $(sed -n 's/^  \\([a-z][a-z-]*\\)\\( .*\\)\\{0,1\\}$/"
		"\\1/p' \"$DIR/help\"); do grep -qE \"^ +$c( |$)\" "
		"\"$DIR/page\" || echo \"command $c\"; done; "
		"for o in $(grep -o -- '--[a-z][a-z-]*' \"$DIR/help\" | sort -u);"
		" do grep -q -- \"$o\" \"$DIR/page\" || echo \"option $o\"; "
		"done; test $(sed -n 's/^  \\([a-z][a-z-]*\\).*/\\1/p' "
		"\"$DIR/help\" | wc -l) -ge 10 || echo 'too few commands'");
	cr_assert_eq(rc, 0);
	cr_assert_str_empty(out, "deployctl.1 lacks:\n%s", out);
	/* And the ones it must name: exit codes and the environment. */
	dfs_ok(&m, "for w in DEPLOYFS_MOUNT XDG_DATA_HOME DEPLOYFS_STORE "
		   "history diff why EX_USAGE EX_NOINPUT EX_IOERR errors.md; "
		   "do grep -q \"$w\" \"$DIR/page\" || exit 1; done");
}

Test(install, deployfs_page_covers_every_option)
{
	char out[4096];
	int rc;

	dfs_need_mount(&m, setup_rc);
	rc = dfs_sh_out(&m, out, sizeof(out),
			"LC_ALL=C MANWIDTH=200 man -l "
			"\"$FIXTURES/../../docs/man/deployfs.8\" 2>/dev/null "
			">\"$DIR/page\" && test -s \"$DIR/page\" && "
			"for o in $(\"$DEPLOYFS\" --help | sed -n "
			"'s/^    \\(-[a-zA-Z]\\)\\(, \\(--[a-z]*\\)\\)\\{0,1\\}"
			" .*/\\1 \\3/p'); do grep -qE -- \"^ +$o|, $o\" "
			"\"$DIR/page\" || echo \"option $o\"; done; "
			"for w in fuse.deployfs fstab deployfs@ errors.md; do "
			"grep -q \"$w\" \"$DIR/page\" || echo \"$w\"; done");
	cr_assert_eq(rc, 0);
	cr_assert_str_empty(out, "deployfs.8 lacks:\n%s", out);
}

/*
 * docs/errors.md has a section for each errno a user meets, names every
 * one the daemon answers (but those it uses inside only), and the README
 * and both man pages point to it.
 */
Test(install, errors_doc_names_every_errno_the_daemon_answers)
{
	char out[4096];
	int rc;

	dfs_need_mount(&m, setup_rc);
	rc = dfs_sh_out(
		&m, out, sizeof(out),
		"cd \"$FIXTURES/../..\" && for e in EROFS EPERM EACCES EINVAL "
		"ENOENT EEXIST ENOTEMPTY EBUSY EXDEV ELOOP ENAMETOOLONG ENOSPC "
		"EIO EOPNOTSUPP ENODATA; do grep -q \"^## $e \" docs/errors.md "
		"|| echo \"no section $e\"; done; "
		"for e in $(grep -rhoE -- '-E[A-Z0-9]+' store/trees "
		"store/content fs | sort -u | tr -d -); do case $e in "
		"ESTALE|EINTR|ENXIO) continue;; esac; "
		"grep -qw \"$e\" docs/errors.md || echo \"not named $e\"; done; "
		"for f in README.md docs/man/deployfs.8 docs/man/deployctl.1; "
		"do grep -q 'errors\\.md' \"$f\" || echo \"$f: no link\"; "
		"done");
	cr_assert_eq(rc, 0);
	cr_assert_str_empty(out, "docs/errors.md:\n%s", out);
}

/* Completion with COMP_WORDS/COMP_CWORD set, as bash would call it. */
#define COMPLETE_SH                                                          \
	". \"$FIXTURES/../../contrib/bash-completion/deployctl\" && "        \
	"t() { COMP_WORDS=(\"$@\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); " \
	"_deployctl; echo \"${COMPREPLY[*]}\"; }; "

Test(install, completion_reads_names_from_the_mount)
{
	char out[4096];

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0, "cp -a of the workspace");
	dfs_ok(&m, "mkdir \"$MNT/packages/order-sync/order-sync@1\" "
		   "\"$MNT/environments/test\" && ln -s "
		   "../../packages/order-sync/order-sync@1 "
		   "\"$MNT/environments/test/order-sync\"");

	/* In the mount: found through /proc/self/mountinfo. */
	dfs_out(&m, out, sizeof(out),
		"cd \"$MNT/build\" && HOME=/nonexistent DEPLOYFS_MOUNT= "
		"bash -c '" COMPLETE_SH
		"t deployctl de; t deployctl deploy \"\"; "
		"t deployctl deploy order-sync@1 \"\"; "
		"t deployctl history test order-sync --sort v; "
		"t deployctl package mark-bad \"\"; "
		"t deployctl rollback order-sync test --to \"\"; "
		"t deployctl status --j; t deployctl diff test/'");
	cr_assert_str_eq(out, "deploy\n"
			      "order-sync@1\n"
			      "test\n"
			      "version\n"
			      "order-sync@1\n"
			      "1\n"
			      "--json\n"
			      "test/order-sync");

	/* Elsewhere: $DEPLOYFS_MOUNT, then ~/deployfs. */
	dfs_out(&m, out, sizeof(out),
		"cd / && DEPLOYFS_MOUNT=\"$MNT\" bash -c '" COMPLETE_SH
		"t deployctl undeploy o; t deployctl log --env \"\"'");
	cr_assert_str_eq(out, "order-sync orders-api\ntest");
	dfs_out(&m, out, sizeof(out),
		"mkdir -p \"$DIR/h\" && ln -sfn \"$MNT\" \"$DIR/h/deployfs\" && "
		"cd / && HOME=\"$DIR/h\" DEPLOYFS_MOUNT= bash -c '" COMPLETE_SH
		"t deployctl status \"\"; t deployctl status --mount /nonexistent "
		"\"\"'");
	cr_assert_str_eq(out, "test");
}

/*
 * Other mounts come and go while the completion looks for the one it is
 * in (the CI of stop 30 lost it so, once: the mounts of tests running
 * beside it).  Read a line at a time, bash seeks back after each read of
 * /proc/self/mountinfo; the kernel then lists from the top again, and a
 * mount removed above the reader meanwhile shifts what it reads next:
 * a line is lost.  Read front to back without a seek, the kernel's
 * cursor keeps the reader's place.  A race (a few looks in a hundred
 * lost the mount while 200 others were unmounted around it, and most
 * looked fine), so the test is what decides it, every time: strace shows
 * the file read and never sought.
 */
Test(install, completion_reads_mountinfo_without_seeking)
{
	char out[4096];

	dfs_need_mount(&m, setup_rc);
	dfs_out(&m, out, sizeof(out),
		"cd \"$MNT/build\" && strace -f -y -qq -e trace=read,lseek "
		"-o \"$DIR/mi.trace\" bash -c '"
		". \"$FIXTURES/../../contrib/bash-completion/deployctl\" && "
		"_deployctl_cwd_mount' >\"$DIR/mi.out\" && "
		"{ [ \"$(cat \"$DIR/mi.out\")\" = \"$MNT\" ] || "
		"echo \"found $(cat \"$DIR/mi.out\")\"; } && "
		"grep -qE \"^[0-9]+ +read\\([0-9]+</proc/[0-9]+/mountinfo>\" "
		"\"$DIR/mi.trace\" || echo 'mountinfo not read'; "
		"grep -E \"lseek\\([0-9]+</proc/[0-9]+/mountinfo>\" "
		"\"$DIR/mi.trace\" | head -3");
	cr_assert_str_eq(out, "", "%s", out);
}

/* tools/run with HOME and the store in DIR, the build of this test, and
 * its install under DIR/dest: every step it skips is already done. */
#define RUN_SH                                                                \
	ENV_SH "HOME=\"$DIR/home\" DEPLOYFS_STORE=\"$DIR/rstore\" "           \
	       "DEPLOYFS_BUILD=\"$BUILDDIR\" DEPLOYFS_DESTDIR=\"$DIR/dest\" " \
	       "\"$SRC/tools/run\" "

Test(install, run_stop_without_a_folder_unmounts_where_run_mounted)
{
	char out[8192];
	int rc;

	dfs_need_mount(&m, setup_rc);
	dfs_ok(&m, "mkdir -p \"$DIR/home\"");
	rc = dfs_sh_out(&m, out, sizeof(out), RUN_SH "\"$DIR/elsewhere\" 2>&1");
	cr_assert_eq(rc, 0, "tools/run DIR failed (%d):\n%s", rc, out);
	dfs_ok(&m, "grep -q \" $DIR/elsewhere fuse.deployfs \" /proc/mounts");
	dfs_ok(&m, "test -x \"$DIR/dest/usr/local/bin/deployctl\"");

	/* No folder: the store's mount, not ~/deployfs. */
	rc = dfs_sh_out(&m, out, sizeof(out), RUN_SH "--stop 2>&1");
	cr_assert_eq(rc, 0, "tools/run --stop failed (%d):\n%s", rc, out);
	cr_assert(strstr(out, "unmounted"), "%s", out);
	dfs_ok(&m, "! grep -q \" $DIR/elsewhere \" /proc/mounts");
	/* Again: nothing to stop, and it says so. */
	rc = dfs_sh_out(&m, out, sizeof(out), RUN_SH "--stop 2>&1");
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "not mounted"), "%s", out);
	/* A folder that is no mount is an error. */
	rc = dfs_sh_out(&m, out, sizeof(out),
			RUN_SH "--stop \"$DIR/elsewhere\" 2>&1");
	cr_assert_eq(rc, 1, "--stop of a plain folder: exit %d:\n%s", rc, out);

	/* The default ~/deployfs, at once after the stop. */
	rc = dfs_sh_out(&m, out, sizeof(out), RUN_SH "2>&1");
	cr_assert_eq(rc, 0, "tools/run failed (%d):\n%s", rc, out);
	dfs_ok(&m,
	       "grep -q \" $DIR/home/deployfs fuse.deployfs \" "
	       "/proc/mounts && test -d \"$DIR/home/deployfs/build/process\"");
	rc = dfs_sh_out(&m, out, sizeof(out),
			RUN_SH "--stop 2>&1 && " RELEASED_SH("$DIR/rstore"));
	cr_assert_eq(rc, 0, "tools/run --stop failed (%d):\n%s", rc, out);
	dfs_ok(&m, "! grep -q \" $DIR/home/deployfs \" /proc/mounts");
}

/* As nobody: the same commands, $DIR/nhome its HOME. */
#define NOBODY_SH                                                          \
	"mkdir -p \"$DIR/nhome\" && chown 65534:65534 \"$DIR/nhome\" && "  \
	"cd / && HOME=\"$DIR/nhome\" setpriv --reuid=65534 --regid=65534 " \
	"--clear-groups "

/*
 * A user who is not root: tools/run mounts their own store where FUSE
 * lets them (/dev/fuse open to them), and says what to do otherwise;
 * either way it does not install, and says which command would.
 */
Test(install, run_as_a_user_mounts_or_says_what_to_do)
{
	char out[8192];
	bool fuse_for_users;
	int rc;

	dfs_need_mount(&m, setup_rc);
	fuse_for_users = dfs_sh(&m, NOBODY_SH "test -r /dev/fuse -a "
					      "-w /dev/fuse") == 0;
	rc = dfs_sh_out(&m, out, sizeof(out),
			ENV_SH NOBODY_REACH_SH NOBODY_SH
			"env DEPLOYFS_BUILD=\"$BUILDDIR\" "
			"\"$SRC/tools/run\" </dev/null 2>&1");
	if (!fuse_for_users) {
		cr_assert_eq(rc, 1, "exit %d:\n%s", rc, out);
		cr_assert(strstr(out, "/dev/fuse") && strstr(out, "As root"),
			  "no word of /dev/fuse:\n%s", out);
		return;
	}
	cr_assert_eq(rc, 0, "tools/run as a user failed (%d):\n%s", rc, out);
	cr_assert(strstr(out, "sudo meson install"), "%s", out);
	dfs_ok(&m,
	       "grep -q \" $DIR/nhome/deployfs fuse.deployfs \" "
	       "/proc/mounts && test -d \"$DIR/nhome/.local/share/deployfs\"");
	rc = dfs_sh_out(&m, out, sizeof(out),
			ENV_SH NOBODY_REACH_SH NOBODY_SH
			"\"$SRC/tools/run\" --stop 2>&1");
	cr_assert_eq(rc, 0, "tools/run --stop as a user (%d):\n%s", rc, out);
	dfs_ok(&m, "! grep -q \" $DIR/nhome/deployfs \" /proc/mounts");
}

/* Packages missing, not root, no sudo without a password: the exact
 * apt-get command, and a failure. */
Test(install, deps_name_the_command_when_not_root)
{
	char out[4096];
	int rc;

	dfs_need_mount(&m, setup_rc);
	rc = dfs_sh_out(&m, out, sizeof(out),
			ENV_SH NOBODY_REACH_SH NOBODY_SH
			"bash -c '. \"$1/tools/deps.sh\" && "
			"DFS_PACKAGES+=(dfs-no-such-package) && "
			"dfs_install_deps' sh \"$SRC\" </dev/null 2>&1");
	cr_assert_eq(rc, 1, "exit %d:\n%s", rc, out);
	cr_assert(strstr(out, "apt-get install -y --no-install-recommends "
			      "dfs-no-such-package"),
		  "no command to run:\n%s", out);
}
