// SPDX-License-Identifier: MIT
/*
 * pkgcheck.c - a package is checked before it is deployed: every blob its
 * files name is checked against its name (once per blob per mount:
 * storage remembers the good ones), when a copy starts (`mkdir ENV/N@V`)
 * and when a link deploys it (`ln -s`, `ln -sfn`).  A package found whole
 * is remembered for the mount, so deploying it again costs nothing.  A
 * damaged or missing blob refuses the deploy with EIO, recorded with the
 * blob's name: a package that cannot be served must not be deployed.  A
 * blob of the registry not fetched yet is fetched first (EHOSTDOWN when
 * the registry cannot be reached): what a host deploys, it can serve.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "trees.h"

/* Record the refusal of deploying p in env for the damaged blob b (rc
 * -EIO), or one the registry could not be reached for (-EHOSTDOWN). */
static void refuse(struct dfs_store *st, const struct dfs_actor *actor,
		   int64_t env, const struct dfs_pkg *p,
		   const struct dfs_blobref *b, int rc)
{
	char why[DFS_NAME_MAX + 160], hex[DFS_HASH_HEX];
	struct dfs_snode si = { 0 };
	struct dfs_env e;

	if (dfs_env_by_id(st, env, &e) < 0)
		return;
	if (dfs_snode_info(st, b->snode, &si) < 0)
		snprintf(si.name, sizeof(si.name), "a file");
	dfs_hash_hex(&b->hash, hex);
	snprintf(why, sizeof(why),
		 rc == -EHOSTDOWN ? "%s: the package's blob %s is not fetched"
				    " and the registry cannot be reached"
				  : "%s: the package's blob %s is damaged or "
				    "missing",
		 si.name, hex);
	dfs_audit_refuse(st, actor, "deploy", e.name, p->component, p->version,
			 rc, why);
}

/*
 * Check the blobs b[0..n) not yet found good: those kept in the database
 * here, under st->lock; blob files after letting it go (they are read
 * whole).  *ret_unlocked: the lock was let go.  Returns 0, -EIO with
 * *ret_bad the damaged one, or -errno.
 */
static int check_blobs(struct dfs_store *st, struct dfs_blobref *b, size_t n,
		       size_t *ret_bad, bool *ret_unlocked)
{
	size_t nfiles = 0, *files = calloc(n ? n : 1, sizeof(*files));
	int rc = files ? 0 : -ENOMEM;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (dfs_blob_is_good(st, &b[i].hash))
			continue;
		rc = dfs_inline_check(st, &b[i].hash);
		if (rc == -ENOENT) {
			files[nfiles++] = i;
			rc = 0;
		} else if (rc == -EIO) {
			*ret_bad = i;
		}
	}
	if (rc == 0 && nfiles > 0) {
		*ret_unlocked = true;
		pthread_mutex_unlock(&st->lock);
		for (size_t j = 0; rc == 0 && j < nfiles; j++) {
			struct dfs_blobref *f = &b[files[j]];

			rc = dfs_blob_check_fetch(st, &f->hash, f->size);
			if (rc == -ENOENT)
				rc = dfs_blob_missing(&f->hash);
			if (rc == -EIO || rc == -EHOSTDOWN)
				*ret_bad = files[j];
		}
		pthread_mutex_lock(&st->lock);
	}
	free(files);
	return rc;
}

int dfs_pkg_check(struct dfs_store *st, const struct dfs_actor *actor,
		  int64_t env, int64_t pkg)
{
	struct dfs_blobref *b = NULL;
	size_t n = 0, bad = 0;
	bool unlocked = false;
	struct dfs_env e;
	struct dfs_pkg p;
	int rc;

	if (dfs_idset_has(&st->trees->checked, pkg))
		return 0;
	rc = dfs_pkg_by_id(st, pkg, &p);
	if (rc == 0)
		rc = dfs_snode_blobs(st, p.root, &b, &n);
	if (rc == 0)
		rc = check_blobs(st, b, n, &bad, &unlocked);
	if (unlocked &&
	    (dfs_env_by_id(st, env, &e) < 0 || dfs_pkg_by_id(st, pkg, &p) < 0))
		rc = -ENOENT;
	if (rc == -EIO || rc == -EHOSTDOWN)
		refuse(st, actor, env, &p, &b[bad], rc);
	else if (rc == 0)
		(void)dfs_idset_add(&st->trees->checked, pkg);
	free(b);
	return rc;
}
