// SPDX-License-Identifier: MIT
/*
 * build_attr.c - extended attributes in build/: user.* of any node, kept
 * in rows, and user.deployfs.revision of a component folder, computed
 * (read-only: EPERM).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "trees.h"

#define REVISION_XATTR "user.deployfs.revision"

/* user.deployfs.revision of a component folder, as text. */
static int revision_xattr(struct dfs_store *st, uint64_t ino, void *buf,
			  size_t cap)
{
	char text[32];
	int64_t rev;
	int rc, len;

	(void)dfs_content_sync(st); /* the revision counts saved content */
	rc = dfs_component_revision(st, ino, &rev);
	if (rc < 0)
		return rc == -ENOENT ? -ENODATA : rc;
	len = snprintf(text, sizeof(text), "%lld", (long long)rev);
	if (cap && (size_t)len > cap)
		return -ERANGE;
	if (cap)
		memcpy(buf, text, (size_t)len);
	return len;
}

int dfs_build_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
			void *buf, size_t cap)
{
	int rc;

	if (strcmp(name, REVISION_XATTR) == 0)
		return revision_xattr(st, ino, buf, cap);
	rc = dfs_inode_xattr_get(st, ino, name, buf, cap);
	return rc;
}

int dfs_build_begin_for(struct dfs_store *st, uint64_t ino)
{
	struct dfs_oinode *oi = dfs_oinode_find(st, ino);

	return oi && oi->writers ? dfs_db_begin_lazy(st, ino)
				 : dfs_db_begin(st);
}

int dfs_build_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
			uint64_t ino, const char *name, const void *value,
			size_t size, unsigned flags)
{
	int rc;

	if (strcmp(name, REVISION_XATTR) == 0)
		return -EPERM;
	rc = dfs_build_begin_for(st, ino);
	if (rc == 0)
		rc = dfs_finish(st, dfs_inode_xattr_set(st, ino, name, value,
							size, flags));
	return rc;
}

int dfs_build_xattr_list(struct dfs_store *st, uint64_t ino, char *buf,
			 size_t cap)
{
	return dfs_inode_xattr_list(st, ino, buf, cap);
}

int dfs_build_xattr_remove(struct dfs_store *st, uint64_t ino, const char *name)
{
	int rc;

	rc = dfs_db_begin(st);
	if (rc == 0)
		rc = dfs_finish(st, dfs_inode_xattr_remove(st, ino, name));
	return rc;
}
