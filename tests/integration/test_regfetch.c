// SPDX-License-Identifier: MIT
/*
 * test_regfetch.c - the bytes of a package another host published come
 * on first read.  Two hosts share a registry in a real PostgreSQL server
 * (pgserver.h).  Host 0 publishes a package with a 3 MiB file; host 1
 * makes the package at once but fetches that file's blob only when it
 * is first read (its store holds no such file before), checked against
 * its name; fsck and backup on host 1 take the blob not yet fetched as
 * fine.  With PostgreSQL stopped a file never fetched is EIO at once,
 * not a hang, while what was fetched and the small files (which come
 * with the package) are still served; when it returns the file comes.
 * A deploy on host 1 fetches what it deploys, so it is served with the
 * registry gone.  A chunk damaged in the registry is EIO and nothing is
 * kept, and the file comes once the chunk is whole again.  A file open
 * on host 1 reads the old bytes after host 0 deploys another version.
 */
#include "harness.h"
#include "pgserver.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOSTS 2
#define PKG "packages/order-sync/order-sync@1"
#define BIG 3145728 /* bytes: larger than what the database keeps */
#define WAIT_MS 10000

static struct dfs_pg pg;
static struct dfs_mount host[HOSTS];
static int setup_rc;

static void setup(void)
{
	setup_rc = dfs_pg_hosts_setup(&pg, host, HOSTS);
}

static void teardown(void)
{
	dfs_pg_hosts_teardown(&pg, host, HOSTS);
}

TestSuite(regfetch, .init = setup, .fini = teardown, .timeout = 180);

/* Host 0 publishes order-sync@1 with big.bin (BIG random bytes); host 1
 * has made it within WAIT_MS.  $A is host 0's mount. */
static void publish(void)
{
	long deadline = dfs_now_ms() + WAIT_MS;

	dfs_need_mount(&host[0], setup_rc);
	cr_assert_eq(dfs_copy_workspace(&host[0]), 0, "cp -a of the workspace");
	dfs_ok(&host[0],
	       "head -c %d /dev/urandom > \"$BUILD/process/order-sync/big.bin\""
	       " && mkdir \"$MNT/" PKG "\"",
	       BIG);
	while (dfs_sh(&host[1], "test -d \"$MNT/" PKG "\"") != 0) {
		cr_assert(dfs_now_ms() < deadline, "host1 has " PKG);
		dfs_sleep_ms(20);
	}
	setenv("A", host[0].mnt, 1);
}

/* Blob files of BIG bytes in host h's store. */
static int big_blobs(int h)
{
	char out[32];

	return atoi(dfs_out(&host[h], out, sizeof(out),
			    "find \"$STORE/blobs\" -type f -size %dc | wc -l",
			    BIG));
}

/* Read big.bin on host 1 (through path under its mount): "rc=N" and the
 * seconds it took, in out. */
static char *read_big(const char *path, char *out, size_t cap)
{
	return dfs_out(
		&host[1], out, cap,
		"t=$(date +%%s%%N); cat \"$MNT/%s/big.bin\" >\"$DIR/got\""
		" 2>\"$DIR/err\"; rc=$?; echo rc=$rc"
		" ms=$((($(date +%%s%%N) - t) / 1000000));"
		" cat \"$DIR/err\"",
		path);
}

Test(regfetch, a_large_file_comes_on_first_read_checked)
{
	char out[512];

	publish();
	cr_assert_eq(big_blobs(0), 1, "host0 has the blob it published");
	cr_assert_eq(big_blobs(1), 0, "host1 made the package without it");
	/* Its size and attributes are there before its bytes. */
	dfs_ok(&host[1],
	       "test \"$(stat -c %%s \"$MNT/" PKG "/big.bin\")\" = %d", BIG);
	/* Not fetched yet is not damage: fsck and a backup say fine. */
	cr_assert_eq(dfs_sh_out(&host[1], out, sizeof(out),
				"\"$DEPLOYCTL\" fsck \"$STORE\" 2>&1"),
		     0, "fsck: %s", out);
	cr_assert_eq(dfs_sh_out(&host[1], out, sizeof(out),
				"\"$DEPLOYCTL\" backup --mount \"$MNT\""
				" \"$DIR/bk\" 2>&1 </dev/null"),
		     0, "backup: %s", out);
	dfs_ok(&host[1], "cmp \"$A/" PKG "/big.bin\" \"$MNT/" PKG "/big.bin\"");
	cr_assert_eq(big_blobs(1), 1, "fetched into host1's store");
	dfs_ok(&host[1], "cmp \"$A/" PKG "/big.bin\" \"$MNT/" PKG "/big.bin\"");
	dfs_ok(&host[1],
	       "diff -r --no-dereference \"$A/" PKG "\" \"$MNT/" PKG "\"");
	cr_assert_eq(dfs_sh_out(&host[1], out, sizeof(out),
				"\"$DEPLOYCTL\" fsck \"$STORE\" 2>&1"),
		     0, "fsck after the fetch: %s", out);
}

Test(regfetch, with_postgresql_stopped_a_file_never_fetched_is_EIO_at_once)
{
	char out[512];
	long ms;

	publish();
	cr_assert_eq(dfs_pg_stop(&pg), 0);
	read_big(PKG, out, sizeof(out));
	cr_assert(strstr(out, "rc=1") && strstr(out, "Input/output error"),
		  "%s", out);
	ms = atol(strstr(out, "ms=") + 3);
	cr_assert_lt(ms, 5000, "refused at once, not hung: %ld ms", ms);
	cr_assert_eq(big_blobs(1), 0, "nothing kept");
	dfs_ok(&host[1], "grep -q 'not fetched: .*cannot reach the registry'"
			 " \"$DIR/daemon.log\"");
	/* The small files came with the package. */
	dfs_ok(&host[1],
	       "cmp \"$A/" PKG "/process.xml\" \"$MNT/" PKG "/process.xml\"");
	cr_assert_eq(dfs_pg_restart(&pg), 0);
	read_big(PKG, out, sizeof(out));
	cr_assert(strstr(out, "rc=0"), "%s", out);
	dfs_ok(&host[1], "cmp \"$A/" PKG "/big.bin\" \"$DIR/got\"");
	/* Fetched once, served with the registry gone. */
	cr_assert_eq(dfs_pg_stop(&pg), 0);
	dfs_ok(&host[1], "cmp \"$A/" PKG "/big.bin\" \"$MNT/" PKG "/big.bin\"");
}

Test(regfetch, a_deploy_fetches_what_it_deploys)
{
	char out[512];

	publish();
	dfs_ok(&host[1], "mkdir \"$MNT/environments/prod\" && ln -s ../../" PKG
			 " \"$MNT/environments/prod/order-sync\"");
	cr_assert_eq(big_blobs(1), 1, "the deploy fetched the blob");
	cr_assert_eq(dfs_pg_stop(&pg), 0);
	read_big("environments/prod/order-sync", out, sizeof(out));
	cr_assert(strstr(out, "rc=0"), "%s", out);
	dfs_ok(&host[1], "cmp \"$A/" PKG "/big.bin\" \"$DIR/got\"");
}

Test(regfetch, a_damaged_chunk_in_the_registry_is_EIO_and_nothing_is_kept)
{
	const char *flip = "UPDATE chunks SET data = set_byte(data, 7,"
			   " get_byte(data, 7) # 1) WHERE idx = 1";
	char out[512];

	publish();
	cr_assert_eq(dfs_pg_sql(&pg, NULL, 0, "%s", flip), 0);
	read_big(PKG, out, sizeof(out));
	cr_assert(strstr(out, "rc=1") && strstr(out, "Input/output error"),
		  "%s", out);
	cr_assert_eq(big_blobs(1), 0, "nothing kept");
	dfs_ok(&host[1], "grep -q 'not fetched: blob .* from the registry is"
			 " damaged' \"$DIR/daemon.log\"");
	/* Whole again (the same flip undoes it): the file comes. */
	cr_assert_eq(dfs_pg_sql(&pg, NULL, 0, "%s", flip), 0);
	dfs_ok(&host[1], "cmp \"$A/" PKG "/big.bin\" \"$MNT/" PKG "/big.bin\"");
	cr_assert_eq(big_blobs(1), 1);
}

/* In-flight work on a host keeps the old version, as on one host: a file
 * of order-sync@1 open on host 1 reads @1's bytes to its end after host 0
 * deployed @2 over it. */
Test(regfetch, an_open_file_reads_old_bytes_after_another_hosts_redeploy)
{
	publish();
	dfs_ok(&host[0],
	       "head -c %d /dev/urandom > \"$BUILD/process/order-sync/big.bin\""
	       " && mkdir \"$MNT/packages/order-sync/order-sync@2\" \"$MNT/"
	       "environments/prod\" && ln -s ../../" PKG
	       " \"$MNT/environments/prod/order-sync\"",
	       BIG);
	dfs_ok(&host[1],
	       "E=\"$MNT/environments/prod\"; i=0; until test -f"
	       " \"$E/order-sync@1/big.bin\"; do i=$((i+1)); [ $i -lt 1000 ]"
	       " || exit 2; sleep 0.01; done; exec 3<\"$E/order-sync@1/big.bin\""
	       " && head -c 4096 <&3 >/dev/null && cd \"$A/environments/prod\""
	       " && ln -sfn ../../packages/order-sync/order-sync@2 order-sync"
	       " && i=0; until readlink \"$E/order-sync\" | grep -q '@2$'; do"
	       " i=$((i+1)); [ $i -lt 1000 ] || exit 3; sleep 0.01; done;"
	       " test ! -e \"$E/order-sync@1\" && cat <&3 >\"$DIR/rest\" &&"
	       " tail -c +4097 \"$A/" PKG "/big.bin\" | cmp - \"$DIR/rest\"");
	dfs_ok(&host[1], "cmp \"$A/packages/order-sync/order-sync@2/big.bin\""
			 " \"$MNT/environments/prod/order-sync@2/big.bin\"");
}
