// SPDX-License-Identifier: MIT
/*
 * reference.c - which component a link names: a symlink whose target,
 * taken relative to the link's folder, is exactly build/TYPE/NAME of a
 * component folder refers to that component (snapshot.c makes it an
 * include or a requirement).  Its own file: it asks inode.c and
 * component.c, which ask each other nothing of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"

/*
 * Normalise dir + "/" + target (both relative to build/) and, if the
 * result is exactly TYPE/NAME of a component folder, return it in ret.
 * 1: a component; 0: not one.  Any depth: the normalised path is built
 * in place, one part at a time.
 */
int dfs_resolve_reference(struct dfs_store *st, const char *dir,
			  const char *target, struct dfs_component *ret)
{
	size_t cap = strlen(dir) + strlen(target) + 2, n = 0;
	char *buf, *out, *save = NULL, *tok, *slash;
	const struct dfs_type *type;
	struct dfs_attr a;
	int parts = 0, rc = 0;

	if (target[0] == '/')
		return 0;
	buf = malloc(2 * cap);
	if (!buf)
		return -ENOMEM;
	out = buf + cap;
	snprintf(buf, cap, "%s/%s", dir, target);
	for (tok = strtok_r(buf, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			if (parts == 0)
				goto out_free; /* leaves build/ */
			while (n > 0 && out[n - 1] != '/')
				n--;
			n -= n > 0;
			parts--;
			continue;
		}
		if (n)
			out[n++] = '/';
		memcpy(out + n, tok, strlen(tok));
		n += strlen(tok);
		parts++;
	}
	out[n] = '\0';
	slash = strchr(out, '/');
	if (parts != 2 || !slash)
		goto out_free;
	*slash = '\0';
	if (!(type = dfs_type_find(out)))
		goto out_free;
	rc = dfs_inode_attr_at(st, DFS_INO_BUILD, type->name, &a);
	if (rc == 0)
		rc = dfs_inode_attr_at(st, a.ino, slash + 1, &a);
	if (rc == 0 && !S_ISDIR(a.mode))
		rc = -ENOENT;
	if (rc == 0)
		rc = dfs_component_by_dir(st, a.ino, ret);
	if (rc == -ENOENT || rc == -ENAMETOOLONG)
		rc = 0;
	else if (rc == 0)
		rc = 1;
out_free:
	free(buf);
	return rc;
}
