// SPDX-License-Identifier: MIT
/*
 * retention.c - the retention attributes of packages/ (packages.c hands
 * them here): on packages/NAME, user.deployfs.keep and .unkeep = VERSION
 * (deployctl package keep|unkeep) and user.deployfs.prune = "N MINAGE"
 * or "N MINAGE dry" (deployctl prune NAME); on packages/ itself the
 * same prune for every component and user.deployfs.gc = "GRACE" (a whole
 * run) or "GRACE PACKAGES BATCHES" (one step: deployctl gc on a terminal,
 * drawing its progress bar between steps).  What the last prune and gc
 * did is read back from user.deployfs.prune_result and .gc_result.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trees.h"

#define NS 1000000000LL

bool dfs_retention_attr(uint64_t ino, const char *name)
{
	static const char *const pkgdir[] = { "user.deployfs.keep",
					      "user.deployfs.unkeep",
					      "user.deployfs.prune" };
	static const char *const root[] = { "user.deployfs.gc",
					    "user.deployfs.prune" };

	for (size_t i = 0; dfs_is_pkgdir(ino) && i < 3; i++)
		if (strcmp(name, pkgdir[i]) == 0)
			return true;
	for (size_t i = 0; ino == DFS_INO_PACKAGES && i < 2; i++)
		if (strcmp(name, root[i]) == 0)
			return true;
	return false;
}

/* value as a string in buf; -EINVAL if empty, too long or holding NUL. */
static int text_of(const void *value, size_t size, char *buf, size_t cap)
{
	if (size == 0 || size >= cap || memchr(value, 0, size))
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = '\0';
	return 0;
}

/* Up to three whole numbers >= 0 and an optional last word; the count. */
static int numbers(const char *text, long long *ret, int max,
		   const char **ret_word)
{
	const char *p = text;
	int n = 0;

	*ret_word = NULL;
	while (*p) {
		char *end;

		if (*p < '0' || *p > '9') {
			*ret_word = p;
			return strchr(p, ' ') ? -EINVAL : n;
		}
		if (n == max)
			return -EINVAL;
		ret[n++] = strtoll(p, &end, 10);
		if (ret[n - 1] < 0 || ret[n - 1] >= INT64_MAX / NS ||
		    (*end && *end != ' ') || (*end == ' ' && !end[1]))
			return -EINVAL;
		p = *end ? end + 1 : end;
	}
	return n;
}

/* ---- prune ------------------------------------------------------------------ */

struct prune_out {
	char *buf;
	size_t cap;
	size_t len;
	int64_t left_out; /* lines that did not fit */
	bool dry;
	/* With a registry: the versions to remove, "N@V" lines, then one
	 * act of its order. */
	struct dfs_bytes *shared;
};

static void prune_line(void *ctx, const char *component, const char *version,
		       const char *why)
{
	struct prune_out *o = ctx;
	char line[DFS_NAME_MAX + DFS_LABEL_MAX + 128];
	int n;

	if (o->shared && !why && o->shared->len != SIZE_MAX) {
		n = snprintf(line, sizeof(line), "%s@%s\n", component, version);
		if (n < 0 || dfs_bytes_put(o->shared, line, (size_t)n) < 0)
			o->shared->len = SIZE_MAX; /* refused below */
	}
	if (why)
		n = snprintf(line, sizeof(line), "kept %s@%s: %s\n", component,
			     version, why);
	else
		n = snprintf(line, sizeof(line), "%s %s@%s\n",
			     o->dry ? "would remove" : "removed", component,
			     version);
	if (n < 0 || o->len + (size_t)n + 64 >= o->cap) {
		o->left_out++;
		return;
	}
	memcpy(o->buf + o->len, line, (size_t)n);
	o->len += (size_t)n;
	o->buf[o->len] = '\0';
}

/* With a registry, a prune is decided here and the versions it removes
 * are one act of the registry's order: every host removes those, in one
 * transaction (dfs_pkg_prune()'s only). */
static int prune_shared(struct dfs_store *st, const struct dfs_actor *actor,
			int64_t comp, const long long v[2], struct prune_out *o,
			int64_t *ret_removed)
{
	struct dfs_reg_act act = { .action = "prune" };
	struct dfs_bytes list = { 0 };
	char head[64];
	int n = snprintf(head, sizeof(head), "%lld %lld\n", v[0], v[1]);
	int rc = dfs_bytes_put(&list, head, (size_t)n);

	o->shared = &list;
	if (rc == 0)
		rc = dfs_pkg_prune(st, actor, comp, v[0], v[1] * NS, true, NULL,
				   prune_line, o, ret_removed);
	o->shared = NULL;
	if (rc == 0 && list.len == SIZE_MAX)
		rc = -ENOMEM;
	if (rc == 0 && (size_t)n < list.len)
		rc = dfs_bytes_put(&list, "", 1);
	if (rc == 0 && (size_t)n < list.len) {
		act.value = list.p;
		rc = dfs_reg_shared(st, actor, &act);
	}
	dfs_bytes_free(&list);
	return rc;
}

static int prune(struct dfs_store *st, const struct dfs_actor *actor,
		 uint64_t ino, const void *value, size_t size)
{
	struct prune_out o = { .buf = st->trees->prune_result,
			       .cap = sizeof(st->trees->prune_result) };
	int64_t comp =
		dfs_is_pkgdir(ino) ? (int64_t)(ino - DFS_INO_PKGDIR_BASE) : 0;
	char text[64];
	const char *word;
	long long v[2];
	int64_t removed = 0;
	int rc = text_of(value, size, text, sizeof(text));

	if (rc == 0)
		rc = numbers(text, v, 2, &word);
	if (rc >= 0 && (rc != 2 || (word && strcmp(word, "dry") != 0)))
		rc = -EINVAL;
	if (rc < 0) {
		dfs_audit_refuse(st, actor, "prune", NULL, NULL, NULL, -EINVAL,
				 "the value is \"KEEP MINAGE_SECONDS [dry]\"");
		return -EINVAL;
	}
	o.dry = word != NULL;
	o.buf[0] = '\0';
	if (st->registry && !o.dry)
		rc = prune_shared(st, actor, comp, v, &o, &removed);
	else
		rc = dfs_pkg_prune(st, actor, comp, v[0], v[1] * NS, o.dry,
				   NULL, prune_line, &o, &removed);
	if (rc == 0 && o.left_out)
		snprintf(o.buf + o.len, o.cap - o.len,
			 "... and %lld more lines\n", (long long)o.left_out);
	if (rc < 0)
		o.buf[0] = '\0';
	return rc;
}

/* ---- gc ---------------------------------------------------------------------- */

static int gc(struct dfs_store *st, const struct dfs_actor *actor,
	      const void *value, size_t size)
{
	struct dfs_gc_result r = { 0 };
	struct dfs_gc_due due = { 0 };
	char text[80], *out = st->trees->gc_result;
	size_t cap = sizeof(st->trees->gc_result);
	const char *word;
	long long v[3];
	int len, n, rc = text_of(value, size, text, sizeof(text));

	n = rc < 0 ? rc : numbers(text, v, 3, &word);
	if (n < 0 || word || (n != 1 && n != 3))
		return -EINVAL;
	if (actor->uid != 0) {
		dfs_audit_refuse(st, actor, "gc", NULL, NULL, NULL, -EPERM,
				 "reclaiming space needs root");
		return -EPERM;
	}
	if (n == 1)
		rc = dfs_gc(st, actor, v[0] * NS, &r);
	else
		rc = dfs_gc_step(st, actor, v[0] * NS, v[1], v[2], &r, &due);
	len = snprintf(out, cap,
		       "%lld packages, %lld entries, %lld blobs, %lld bytes",
		       (long long)r.packages, (long long)r.entries,
		       (long long)r.blobs, (long long)r.bytes);
	if (n == 3 && len > 0 && (size_t)len < cap)
		snprintf(out + len, cap - (size_t)len,
			 "; due %lld packages, %lld blobs, %lld bytes",
			 (long long)due.packages, (long long)due.blobs,
			 (long long)due.bytes);
	return rc;
}

/* ---- the attributes ----------------------------------------------------------- */

int dfs_retention_set(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, const char *name, const void *value,
		      size_t size)
{
	char version[DFS_LABEL_MAX + 1];
	int rc;

	if (strcmp(name, "user.deployfs.gc") == 0)
		return gc(st, actor, value, size);
	if (strcmp(name, "user.deployfs.prune") == 0)
		return prune(st, actor, ino, value, size);
	rc = text_of(value, size, version, sizeof(version));
	if (rc < 0)
		return rc;
	if (st->registry)
		return dfs_reg_pkg_shared(
			st, actor,
			strcmp(name, "user.deployfs.keep") == 0
				? "package-keep"
				: "package-unkeep",
			(int64_t)(ino - DFS_INO_PKGDIR_BASE), version, NULL);
	return dfs_pkg_set_keep(st, actor, (int64_t)(ino - DFS_INO_PKGDIR_BASE),
				version,
				strcmp(name, "user.deployfs.keep") == 0);
}

int dfs_retention_get(struct dfs_store *st, uint64_t ino, const char *name,
		      void *buf, size_t cap)
{
	const char *v = NULL;
	size_t len;

	if (ino == DFS_INO_PACKAGES &&
	    strcmp(name, "user.deployfs.gc_result") == 0)
		v = st->trees->gc_result;
	else if ((ino == DFS_INO_PACKAGES || dfs_is_pkgdir(ino)) &&
		 strcmp(name, "user.deployfs.prune_result") == 0)
		v = st->trees->prune_result;
	if (!v)
		return 1; /* not one of these */
	len = strlen(v);
	if (len == 0)
		return -ENODATA;
	if (cap && len > cap)
		return -ERANGE;
	if (cap)
		memcpy(buf, v, len);
	return (int)len;
}
