// SPDX-License-Identifier: MIT
/*
 * import.c - the request deployctl import hands the daemon: the attribute
 * user.deployfs.import of packages/ set to a staged folder (root only),
 * made a package by store/model/pkgimport.c in one transaction.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "trees.h"

/* user.deployfs.import = STAGED_FOLDER on packages/ (root): deployctl
 * import, see model/pkgimport.c.  user.deployfs.import_result says what
 * was done: "made NAME@V", "unchanged NAME@V", or the reason refused. */
int dfs_import_xattr(struct dfs_store *st, const struct dfs_actor *actor,
		     const void *value, size_t size)
{
	char *res = st->trees->import_result, stage[PATH_MAX], why[512];
	int rc;

	if (size == 0 || size >= sizeof(stage) || memchr(value, 0, size) ||
	    ((const char *)value)[0] != '/')
		return -EINVAL;
	memcpy(stage, value, size);
	stage[size] = '\0';
	if (actor->uid != 0) {
		snprintf(res, sizeof(st->trees->import_result),
			 "importing needs root");
		dfs_audit_refuse(st, actor, "import", NULL, NULL, NULL, -EPERM,
				 "importing needs root");
		return -EPERM;
	}
	rc = dfs_pkg_import(st, actor, stage, why, sizeof(why));
	snprintf(res, sizeof(st->trees->import_result), "%s%s",
		 rc == 1   ? "unchanged"
		 : rc == 0 ? "made"
			   : "refused: ",
		 rc >= 0 ? "" : why);
	return rc > 0 ? 0 : rc;
}
