// SPDX-License-Identifier: MIT
/*
 * fixture.c - the unit suites' temporary store (see fixture.h).
 */
#include "fixture.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void dfs_fixture_setup(struct dfs_fixture *fx, const char *suite,
		       unsigned flags)
{
	struct dfs_attr a;

	memset(fx, 0, sizeof(*fx));
	fx->me = (struct dfs_actor){ getuid(), getgid(), getpid(), "" };
	snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/dfs-unit-%s-XXXXXX", suite);
	if (!mkdtemp(fx->tmp)) {
		fx->rc = -errno;
		fx->tmp[0] = '\0';
		return;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/store", fx->tmp);
	snprintf(fx->db, sizeof(fx->db), "%s/deployfs.db", fx->path);
	fx->rc = dfs_store_create(fx->path);
	if (fx->rc < 0 || !flags)
		return;
	fx->rc = dfs_store_open(fx->path, flags, &fx->st);
	if (fx->rc == 0)
		fx->rc = dfs_node_lookup(fx->st, DFS_INO_BUILD, "process", &a);
	if (fx->rc == 0)
		fx->proc = a.ino;
}

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	chmod(path, 0700);
	return remove(path);
}

void dfs_fixture_teardown(struct dfs_fixture *fx)
{
	fx->st = dfs_store_free(fx->st);
	if (fx->tmp[0])
		(void)nftw(fx->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
