// SPDX-License-Identifier: MIT
/*
 * test_readme.c - the README runs as written.  Every ```sh block of
 * README.md under "## Using it by hand" runs, in order, in one shell with
 * -e (so every command must succeed), against a fresh mount holding the
 * example workspace, with HOME set so that ~/deployfs is that mount and
 * the built deployctl and deployfs first on PATH (absolute, so that an
 * installed copy in /usr/local/bin never answers instead).  A line whose comment
 * says "# exit N" must exit with N (diff's 1 for "they differ").
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

TestSuite(readme, .init = setup, .fini = teardown, .timeout = 120);

/* The README's usage blocks, concatenated, into DIR/readme.sh. */
static void extract(void)
{
	dfs_ok(&m, "awk '/^## / { use = ($0 == \"## Using it by hand\") } "
		   "use && /^```/ { if (sh) sh = 0; else if ($0 == \"```sh\") "
		   "{ sh = 1; n++ } next } "
		   "sh && match($0, /# exit [0-9]+/) { "
		   "want = substr($0, RSTART + 7, RLENGTH - 7); "
		   "print \"set +e\"; print; print \"rc=$?; set -e; \" "
		   "\"test $rc = \" want; next } "
		   "sh { print } END { if (n < 2) exit 1 }' "
		   "\"$FIXTURES/../../README.md\" >\"$DIR/readme.sh\"");
}

Test(readme, the_usage_blocks_run_as_written)
{
	char out[16384];
	int rc;

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0, "cp -a of the workspace");
	extract();
	rc = dfs_sh_out(
		&m, out, sizeof(out),
		"bins=$(cd \"$(dirname \"$DEPLOYCTL\")\" && pwd):"
		"$(cd \"$(dirname \"$DEPLOYFS\")\" && pwd) && "
		"mkdir \"$DIR/home\" && ln -s \"$MNT\" "
		"\"$DIR/home/deployfs\" && cd \"$DIR/home\" && "
		"HOME=\"$DIR/home\" PATH=\"$bins:$PATH\" "
		"bash -e -o pipefail -x \"$DIR/readme.sh\" 2>&1 && "
		"test \"$(PATH=\"$bins:$PATH\" command -v deployctl)\" = "
		"\"${bins%%%%:*}/deployctl\"");
	cr_assert_eq(rc, 0, "the README's usage failed (exit %d):\n%s", rc,
		     out);
	/* It did what it says. */
	dfs_ok(&m, "test \"$(readlink \"$MNT/environments/production/"
		   "order-sync\")\" = ../../packages/order-sync/order-sync@2");
	dfs_ok(&m, "test ! -e \"$MNT/packages/order-sync/order-sync@1\" && "
		   "test -d \"$MNT/packages/order-sync/order-sync@2\"");
}
