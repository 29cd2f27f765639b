/* SPDX-License-Identifier: MIT */
/*
 * fixture.h - the temporary store every unit suite starts from: a private
 * folder under /tmp holding a new store, opened (or not) with the flags
 * the suite asks for.  Setup never asserts (Criterion ignores it there):
 * it leaves its result in rc, and each test checks it first.
 */
#ifndef DFS_TEST_FIXTURE_H
#define DFS_TEST_FIXTURE_H

#include <stdint.h>

#include "deployfs/store.h"

struct dfs_fixture {
	char tmp[64];	      /* the test's private folder */
	char path[128];	      /* tmp/store */
	char db[160];	      /* tmp/store/deployfs.db */
	struct dfs_store *st; /* the open store, NULL while closed */
	uint64_t proc;	      /* build/process (when opened) */
	uint64_t ino;	      /* for the suite's own use */
	struct dfs_actor me;  /* this process */
	int rc;		      /* setup result, checked by each test */
};

/* Create the folder and the store; open it with flags unless 0. */
void dfs_fixture_setup(struct dfs_fixture *fx, const char *suite,
		       unsigned flags);
/* Close the store and remove the folder. */
void dfs_fixture_teardown(struct dfs_fixture *fx);

#define FIXTURE_OK() \
	cr_assert_eq(fx.rc, 0, "setup failed: %s", strerror(-fx.rc))

#endif
