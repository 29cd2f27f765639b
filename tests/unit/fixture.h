/* SPDX-License-Identifier: MIT */
/*
 * fixture.h - the temporary store every unit suite starts from: a private
 * folder under /tmp holding a new store, opened (or not) with the flags
 * the suite asks for.  Setup never asserts (Criterion ignores it there):
 * it leaves its result in rc, and each test checks it first.
 */
#ifndef DFS_TEST_FIXTURE_H
#define DFS_TEST_FIXTURE_H

#include <stddef.h>
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

/*
 * Building and reading a tree for a test body: each asserts, so it fails
 * the calling test, naming the entry and the errno.  Not for .init or
 * .fini (Criterion ignores assertions there).  Those that make a node
 * return its inode.
 */
/* mkdir parent/name with mode. */
uint64_t dfs_fixture_mkdir(const struct dfs_fixture *fx, uint64_t parent,
			   const char *name, uint32_t mode);
/* mkdir build/TYPE/NAME (mode 0755): a component folder. */
uint64_t dfs_fixture_component(const struct dfs_fixture *fx, const char *type,
			       const char *name);
/* Write len bytes of data as the whole content of the build file ino (no
 * store sync). */
void dfs_fixture_write(const struct dfs_fixture *fx, uint64_t ino,
		       const void *data, size_t len);
/* A new file parent/name (mode 0644) holding data, then a store sync. */
uint64_t dfs_fixture_put_file(const struct dfs_fixture *fx, uint64_t parent,
			      const char *name, const void *data, size_t len);
/* dfs_fixture_put_file of the string text. */
uint64_t dfs_fixture_put_text(const struct dfs_fixture *fx, uint64_t parent,
			      const char *name, const char *text);
/* A symlink parent/name -> target. */
void dfs_fixture_symlink(const struct dfs_fixture *fx, uint64_t parent,
			 const char *name, const char *target);

/* What parent/name is, which must exist. */
struct dfs_attr dfs_fixture_entry(const struct dfs_fixture *fx, uint64_t parent,
				  const char *name);
/* The inode of path ("a/b") below the folder dir, or 0 if it is not
 * there. */
uint64_t dfs_fixture_at(const struct dfs_fixture *fx, uint64_t dir,
			const char *path);
/* The whole content of the file ino, read through the store, is text
 * (up to 255 bytes). */
void dfs_fixture_expect_text(const struct dfs_fixture *fx, uint64_t ino,
			     const char *text);
/* The xattr user.deployfs.KEY of ino into buf (NUL-ended, it must fit in
 * cap - 1 bytes); returns buf. */
char *dfs_fixture_meta(const struct dfs_fixture *fx, uint64_t ino,
		       const char *key, char *buf, size_t cap);

#define FIXTURE_OK() \
	cr_assert_eq(fx.rc, 0, "setup failed: %s", strerror(-fx.rc))

#endif
