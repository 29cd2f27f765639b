// SPDX-License-Identifier: MIT
/*
 * reqlink.c - what a package's link to a component it requires shows.
 * The snapshot keeps such a link as captured (build/'s relative target,
 * ../../certificate/partner-cert), and its content hash covers that text.
 * Shown as captured it would lead nowhere; so a requirement link (its
 * target ends in TYPE/NAME, after ../ and ./ only, and its package
 * requires TYPE/NAME) shows a target that climbs to the package's root
 * and `up` folders more, then names NAME: in packages/ (up 2) that is
 * packages/NAME, the component's folder of versions; in
 * environments/ENV/ (up 1) it is ENV/NAME, that environment's deployment
 * of NAME, dangling exactly while the requirement is unmet.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"

static const char sql_requires[] =
	"SELECT requires FROM packages WHERE id = ?1";

/* Does package pkg require "TYPE/NAME" req? */
static bool requires(struct dfs_store *st, int64_t pkg, const char *req)
{
	char json[8192], quoted[DFS_SYMLINK_MAX + 3];
	sqlite3_stmt *s;

	if (dfs_query_sql(st, sql_requires, &s, "i", pkg) <= 0)
		return false;
	dfs_col_text(s, 0, json, sizeof(json));
	sqlite3_reset(s);
	snprintf(quoted, sizeof(quoted), "\"%s\"", req);
	return strstr(json, quoted) != NULL;
}

/*
 * The TYPE/NAME a captured target names after ../ and ./ only (a
 * trailing slash allowed, not copied) into req; false if it names none.
 */
static bool required_name(const char *target, char *req, size_t cap,
			  bool *slashed)
{
	const char *t = target, *slash;
	size_t len;

	for (;;) {
		if (strncmp(t, "../", 3) == 0)
			t += 3;
		else if (strncmp(t, "./", 2) == 0)
			t += 2;
		else
			break;
	}
	len = strlen(t);
	*slashed = len > 0 && t[len - 1] == '/';
	if (*slashed)
		len--;
	slash = memchr(t, '/', len);
	if (!slash || slash == t || slash == t + len - 1 ||
	    memchr(slash + 1, '/', len - (size_t)(slash + 1 - t)) || len >= cap)
		return false;
	memcpy(req, t, len);
	req[len] = '\0';
	return true;
}

int dfs_link_shown(struct dfs_store *st, int64_t s, int up, char *buf,
		   size_t cap)
{
	char req[DFS_SYMLINK_MAX + 1];
	struct dfs_snode si, dir;
	bool slashed;
	struct dfs_pkg p;
	int depth = 0, rc;
	size_t n = 0;

	rc = dfs_snode_info(st, s, &si);
	if (rc < 0)
		return rc;
	if (!S_ISLNK(si.mode))
		return -EINVAL;
	snprintf(buf, cap, "%s", si.target);
	if (!required_name(si.target, req, sizeof(req), &slashed) ||
	    dfs_pkg_of_snode(st, s, &p) < 0 || !requires(st, p.id, req))
		return 0;
	/* Folders between the link and the package's root. */
	for (int64_t id = si.parent; id != p.root; id = dir.parent) {
		if (dfs_snode_info(st, id, &dir) < 0 || !dir.parent)
			return 0;
		depth++;
	}
	for (int i = 0; i < depth + up && n + 3 < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "../");
	if (n < cap)
		snprintf(buf + n, cap - n, "%s%s", strchr(req, '/') + 1,
			 slashed ? "/" : "");
	return 0;
}

bool dfs_link_target_is(struct dfs_store *st, int64_t s, const char *target)
{
	char shown[DFS_SYMLINK_MAX + 1];
	struct dfs_snode si;

	if (dfs_snode_info(st, s, &si) < 0 || !S_ISLNK(si.mode))
		return false;
	if (strcmp(si.target, target) == 0)
		return true;
	/* As packages/ (2) or an environment (1) shows it. */
	for (int up = 1; up <= 2; up++)
		if (dfs_link_shown(st, s, up, shown, sizeof(shown)) == 0 &&
		    strcmp(shown, target) == 0)
			return true;
	return false;
}
