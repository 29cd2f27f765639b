// SPDX-License-Identifier: MIT
/*
 * test_backup.c - deployctl backup and restore against the real daemon:
 * a backup taken while the store is mounted (and while a writer is
 * busy) restores into a fresh store that mounts with the same packages
 * (diff -r --no-dereference, getfattr), deployments (links, numbers) and
 * audit trail up to the backup point; a second backup copies only new
 * blobs; a round trip through restic; and a tar of the mount extracted
 * into another mount says which snapshots are the same as an earlier
 * version (user.deployfs.warning and the audit line).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct dfs_mount m; /* the store backed up */
static struct dfs_mount r; /* where it is restored */
static int mount_rc;

static void setup(void)
{
	mount_rc = dfs_mount_setup(&m);
	if (mount_rc == 0)
		mount_rc = dfs_copy_workspace(&m);
}

static void teardown(void)
{
	dfs_mount_teardown(&r);
	dfs_mount_teardown(&m);
}

TestSuite(backup, .init = setup, .fini = teardown, .timeout = 240);

/*
 * Two versions of order-sync (the map edited between them), partner-cert
 * deployed to test and production, order-sync@1 deployed to test by
 * copy and then @2 by link, and a 3 MiB file (a blob file of its own).
 */
static void prepare(void)
{
	cr_assert_eq(mount_rc, 0);
	dfs_ok(&m, "cd \"$MNT\" && mkdir packages/order-sync/order-sync@1 && "
		   "sed -i 's|number|id|' build/map/order-map/map.xml && "
		   "head -c 3145728 /dev/urandom "
		   ">build/process/order-sync/data.bin && "
		   "mkdir packages/order-sync/order-sync@2 "
		   "packages/partner-cert/partner-cert@1 && "
		   "mkdir environments/test environments/production");
	dfs_ok(&m,
	       "cd \"$MNT\" && for e in test production; do \"$DEPLOYCTL\" "
	       "deploy partner-cert@1 $e --mount . >/dev/null || exit 1; done "
	       "&& cp -r packages/order-sync/order-sync@1 environments/test/ "
	       "&& ln -sfn ../../packages/order-sync/order-sync@2 "
	       "environments/test/order-sync");
}

/* A fresh store restored from the backup BACKUP, mounted as r. */
static void restore(const char *backup)
{
	char out[1024];

	cr_assert_eq(dfs_mount_setup(&r), 0);
	cr_assert_eq(dfs_mount_stop(&r), 0);
	dfs_ok(&r, "rm -rf \"$STORE\"");
	cr_assert_eq(dfs_sh_out(&r, out, sizeof(out),
				"\"$DEPLOYCTL\" restore '%s' \"$STORE\" 2>&1",
				backup),
		     0, "%s", out);
	cr_assert(strstr(out, "restored "), "%s", out);
	cr_assert_eq(dfs_mount_start(&r), 0);
}

/* The package N@V is the same in m and r: files, links, modes, times,
 * metadata. */
static void same_package(const char *name, const char *version)
{
	dfs_ok(&m,
	       "diff -r --no-dereference \"$MNT/packages/%s/%s@%s\" "
	       "'%s/packages/%s/%s@%s'",
	       name, name, version, r.mnt, name, name, version);
	dfs_ok(&m,
	       "cd \"$MNT/packages/%s\" && find %s@%s -printf '%%p %%m %%T@ "
	       "%%s %%l\\n' | sort >\"$DIR/a.find\" && "
	       "getfattr -h -d -R %s@%s >\"$DIR/a.xattr\" 2>&1 && cd '%s/packages/%s' "
	       "&& find %s@%s -printf '%%p %%m %%T@ %%s %%l\\n' | sort | "
	       "diff \"$DIR/a.find\" - && getfattr -h -d -R %s@%s 2>&1 | "
	       "diff \"$DIR/a.xattr\" -",
	       name, name, version, name, version, r.mnt, name, name, version,
	       name, version);
}

Test(backup, a_backup_while_mounted_restores_everything_up_to_its_point)
{
	char out[512];
	long lines;

	prepare();
	dfs_ok(&m, "\"$DEPLOYCTL\" status --mount \"$MNT\" >\"$DIR/status\"");
	lines = dfs_audit_lines(&m);
	dfs_ok(&m, "\"$DEPLOYCTL\" backup --mount \"$MNT\" \"$DIR/bk\" "
		   ">\"$DIR/out\" 2>&1 </dev/null");
	/* Not a terminal: one line, no progress bar. */
	cr_assert_str_eq(dfs_out(&m, out, sizeof(out), "wc -l <\"$DIR/out\""),
			 "1");
	/* Life goes on after the backup point. */
	dfs_ok(&m, "cd \"$MNT\" && mkdir packages/order-sync/order-sync@3 && "
		   "\"$DEPLOYCTL\" deploy order-sync@1 production --mount . "
		   ">/dev/null");
	dfs_ok(&m, "\"$DEPLOYCTL\" fsck \"$DIR/bk\" 2>/dev/null");
	restore(dfs_path(out, sizeof(out), "%s/bk", m.dir));

	same_package("order-sync", "1");
	same_package("order-sync", "2");
	same_package("partner-cert", "1");
	dfs_ok(&r, "test ! -e \"$MNT/packages/order-sync/order-sync@3\"");
	dfs_ok(&m, "diff -r --no-dereference \"$BUILD\" '%s/build'", r.mnt);
	dfs_ok(&m,
	       "test \"$(stat -c %%i \"$BUILD/map/order-map/map.xml\")\" = "
	       "\"$(stat -c %%i '%s/build/map/order-map/map.xml')\"",
	       r.mnt);
	/* Deployments: the links, the copies, the numbers. */
	cr_assert_str_eq(dfs_out(&r, out, sizeof(out),
				 "readlink \"$MNT/environments/test/"
				 "order-sync\""),
			 "../../packages/order-sync/order-sync@2");
	dfs_ok(&r, "test ! -e \"$MNT/environments/production/order-sync\"");
	dfs_ok(&r,
	       "\"$DEPLOYCTL\" status --mount \"$MNT\" | "
	       "diff '%s/status' -",
	       m.dir);
	/* The audit trail, identical up to the backup point. */
	cr_assert_eq(dfs_audit_lines(&r), lines);
	dfs_ok(&r, "head -n %ld '%s/mnt/audit.log' | diff - \"$MNT/audit.log\"",
	       lines, m.dir);
}

Test(backup, a_backup_while_a_writer_is_busy_is_consistent)
{
	char out[512];

	prepare();
	dfs_ok(&m, "mkdir \"$BUILD/process/order-sync/w\"");
	/* The writer makes files of 200 KiB (work files, then blobs) until
	 * it is told to stop; the backup starts once it has made one. */
	dfs_ok(&m, "(i=0; while [ ! -e \"$DIR/stop\" ]; do head -c 204800 "
		   "/dev/urandom >\"$BUILD/process/order-sync/w/f$i\"; "
		   "i=$((i+1)); done; touch \"$DIR/stopped\") "
		   ">/dev/null 2>&1 </dev/null &");
	dfs_ok(&m, "for i in $(seq 1000); do [ -e \"$BUILD/process/order-sync/"
		   "w/f1\" ] && exit 0; head -c 1 /dev/zero >/dev/null; done; "
		   "exit 1");
	dfs_ok(&m, "\"$DEPLOYCTL\" backup --mount \"$MNT\" \"$DIR/bk\" "
		   ">/dev/null");
	dfs_ok(&m, "touch \"$DIR/stop\" && while [ ! -e \"$DIR/stopped\" ]; "
		   "do head -c 1 /dev/zero >/dev/null; done");
	dfs_ok(&m, "\"$DEPLOYCTL\" fsck \"$DIR/bk\" 2>/dev/null");
	restore(dfs_path(out, sizeof(out), "%s/bk", m.dir));
	same_package("order-sync", "2");
	/* Every file the backup has reads; each is the writer's file, but
	 * at most one (written at that moment) holds a prefix of it. */
	dfs_ok(&r,
	       "cd \"$MNT/build/process/order-sync/w\" && ls | wc -l | "
	       "grep -qv '^0$' && partial=0 && for f in *; do "
	       "cat \"$f\" >/dev/null || exit 1; "
	       "cmp -s \"$f\" '%s/build/process/order-sync/w/'\"$f\" && "
	       "continue; partial=$((partial+1)); "
	       "cmp -n \"$(stat -c %%s \"$f\")\" \"$f\" "
	       "'%s/build/process/order-sync/w/'\"$f\" || exit 2; done; "
	       "[ $partial -le 1 ]",
	       m.mnt, m.mnt);
}

Test(backup, a_second_backup_copies_only_new_blobs)
{
	char out[1024];

	prepare();
	/* /dev/shm: another file system, so blobs are copied, not linked. */
	dfs_ok(&m, "d=$(mktemp -d /dev/shm/dfs-backup.XXXXXX) && "
		   "echo \"$d\" >\"$DIR/shm\"");
	dfs_ok(&m, "\"$DEPLOYCTL\" backup --mount \"$MNT\" \"$(cat "
		   "\"$DIR/shm\")/bk\" >\"$DIR/first\"");
	dfs_ok(&m, "cd \"$(cat \"$DIR/shm\")/bk/blobs\" && find . -type f "
		   "-printf '%%i %%T@ %%p\\n' | sort >\"$DIR/blobs1\"");
	/* Packaging seals what was closed: new.bin is a blob file, not a
	 * work file, when the second backup starts. */
	dfs_ok(&m, "head -c 1048576 /dev/urandom "
		   ">\"$BUILD/process/order-sync/new.bin\" && "
		   "mkdir \"$MNT/packages/order-sync/order-sync@3\" && "
		   "\"$DEPLOYCTL\" backup --mount \"$MNT\" \"$(cat "
		   "\"$DIR/shm\")/bk\" >\"$DIR/second\"");
	dfs_out(&m, out, sizeof(out), "cat \"$DIR/first\" \"$DIR/second\"");
	cr_assert(strstr(out, " 0 blobs linked, 1 copied, "), "%s", out);
	/* The blobs of the first backup are the same files, untouched. */
	dfs_ok(&m,
	       "cd \"$(cat \"$DIR/shm\")/bk/blobs\" && find . -type f "
	       "-printf '%%i %%T@ %%p\\n' | sort >\"$DIR/blobs2\" && "
	       "test $(comm -23 \"$DIR/blobs1\" \"$DIR/blobs2\" | wc -l) = 0 "
	       "&& test $(comm -13 \"$DIR/blobs1\" \"$DIR/blobs2\" | wc -l) "
	       "= 1");
	dfs_ok(&m,
	       "\"$DEPLOYCTL\" fsck \"$(cat \"$DIR/shm\")/bk\" 2>/dev/null; "
	       "s=$?; rm -rf \"$(cat \"$DIR/shm\")\"; exit $s");
}

Test(backup, refusals_change_nothing)
{
	char out[1024];

	cr_assert_eq(mount_rc, 0);
	dfs_ok(&m, "mkdir \"$DIR/full\" && echo keep >\"$DIR/full/notes\"");
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"\"$DEPLOYCTL\" backup --mount \"$MNT\" "
				"\"$DIR/full\" 2>&1"),
		     73, "%s", out);
	dfs_ok(&m, "test \"$(ls \"$DIR/full\")\" = notes");
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" backup --mount \"$DIR\" "
				"\"$DIR/bk\" 2>/dev/null"),
		     66);
	/* A store a daemon serves is not overwritten. */
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" backup --mount \"$MNT\" "
				"\"$STORE\" 2>/dev/null"),
		     73);
	cr_assert_eq(dfs_sh(&m, "\"$DEPLOYCTL\" restore \"$STORE\" \"$STORE\" "
				"2>/dev/null"),
		     73);
	dfs_ok(&m, "ls \"$MNT/build/process/order-sync\" >/dev/null");
}

Test(backup, a_restic_round_trip_of_the_staging_folder_mounts)
{
	char out[512];

	prepare();
	dfs_ok(&m,
	       "cd \"$DIR\" && echo 'not a secret' >pw && "
	       "restic init -q --repo repo --password-file pw && "
	       "\"$DEPLOYCTL\" backup --mount \"$MNT\" staging >/dev/null && "
	       "restic backup -q --repo repo --password-file pw staging && "
	       "restic restore -q latest --repo repo --password-file pw "
	       "--target restic-out && test -f restic-out/staging/"
	       "deployfs.db");
	restore(dfs_path(out, sizeof(out), "%s/restic-out/staging", m.dir));
	same_package("order-sync", "1");
	same_package("order-sync", "2");
	dfs_ok(&m, "diff \"$MNT/audit.log\" '%s/audit.log'", r.mnt);
	cr_assert_str_eq(dfs_out(&r, out, sizeof(out),
				 "readlink \"$MNT/environments/test/"
				 "order-sync\""),
			 "../../packages/order-sync/order-sync@2");
}

Test(backup, a_tar_of_the_mount_extracted_elsewhere_warns_of_same_snapshots)
{
	char out[1024];

	cr_assert_eq(mount_rc, 0);
	dfs_ok(&m, "cd \"$MNT\" && for v in 1 2 3; do "
		   "echo \"<v$v/>\" >build/map/order-map/v.xml && "
		   "mkdir packages/order-sync/order-sync@$v || exit 1; done && "
		   "tar -cf \"$DIR/mount.tar\" packages environments");
	cr_assert_eq(dfs_mount_setup(&r), 0);
	cr_assert_eq(dfs_copy_workspace(&r), 0);
	/* tar makes each version folder (a snapshot of build/ now), then
	 * fails to write into it: its status is not the point here. */
	(void)dfs_sh(&r, "tar -C \"$MNT\" -xf '%s/mount.tar' >/dev/null 2>&1",
		     m.dir);
	dfs_ok(&r, "test -d \"$MNT/packages/order-sync/order-sync@3\"");
	cr_assert_neq(dfs_sh(&r, "getfattr -n user.deployfs.warning "
				 "\"$MNT/packages/order-sync/order-sync@1\" "
				 ">/dev/null 2>&1"),
		      0, "@1 is the first: nothing to compare with");
	cr_assert_str_eq(dfs_out(&r, out, sizeof(out),
				 "getfattr --only-values -n "
				 "user.deployfs.warning \"$MNT/packages/"
				 "order-sync/order-sync@2\" 2>/dev/null"),
			 "same content hash as order-sync@1");
	cr_assert_str_eq(dfs_out(&r, out, sizeof(out),
				 "getfattr --only-values -n "
				 "user.deployfs.warning \"$MNT/packages/"
				 "order-sync/order-sync@3\" 2>/dev/null"),
			 "same content hash as order-sync@2");
	dfs_ok(&r, "grep -q 'action=package .*version=3 .*result=ok "
		   "reason=\"same content hash as order-sync@2\"' "
		   "\"$MNT/audit.log\"");
	/* In the original, each version differs: no warning. */
	cr_assert_neq(dfs_sh(&m,
			     "getfattr -d \"$MNT/packages/order-sync/"
			     "order-sync@3\" 2>/dev/null | grep -q warning"),
		      0);
}

Test(backup, a_terminal_gets_a_progress_bar)
{
	char out[4096];

	prepare();
	/* script(1) gives deployctl a terminal; the bar goes to stderr. */
	dfs_out(&m, out, sizeof(out),
		"script -qec '\"$DEPLOYCTL\" backup --mount \"$MNT\" "
		"\"$DIR/bk\"' /dev/null");
	cr_assert(strstr(out, "[###"), "no progress bar: %s", out);
	cr_assert(strstr(out, "100%"), "%s", out);
	cr_assert(strstr(out, "backed up "), "%s", out);
}
