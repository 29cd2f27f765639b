// SPDX-License-Identifier: MIT
/*
 * bulk.c - a bulk deploy: setxattr user.deployfs.deploy on
 * environments/ENV with a list of packages deploys them all in one
 * transaction, or none (deployctl deploy ENV A@1 B@2 ...).  The value is
 * text, one item a line:
 *
 *	NAME@VERSION		a package to deploy (at least one)
 *	force			bad releases deploy too (root or ENV's owner)
 *	notes TEXT		the notes of every deployment: the rest of
 *				the value, newlines included (last)
 *
 * Every entry is judged before anything changes: a malformed entry, a
 * component listed twice or not deployable (EINVAL), an unknown component
 * or version or a removed package (ENOENT), a bad release not forced or
 * forcing without the right (EPERM), a damaged blob (EIO, pkgcheck.c)
 * refuses the whole batch, recorded with the entry and why; nothing is
 * deployed.  Then model/batch.c deploys them; the kernel hears of the
 * ENV/N@OLD entries that went, as for one deploy (stage.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trees.h"

struct bulk {
	char *text;   /* the value, NUL-ended; entries point into it */
	char **entry; /* "NAME@VERSION" */
	size_t n;
	bool force;
	const char *notes; /* NULL: none */
	struct dfs_batch_item *item;
};

static void bulk_release(struct bulk *b)
{
	free(b->text);
	free(b->entry);
	free(b->item);
}

/* Record the refusal of the batch for entry i (SIZE_MAX: the whole). */
static int refuse(struct dfs_store *st, const struct dfs_actor *actor,
		  const struct dfs_env *e, const struct bulk *b, size_t i,
		  int rc, const char *why)
{
	char comp[DFS_NAME_MAX + 1] = "", msg[700];
	const char *version = NULL, *at;

	if (i < b->n) {
		at = strchr(b->entry[i], '@');
		if (at && (size_t)(at - b->entry[i]) <= DFS_NAME_MAX) {
			snprintf(comp, sizeof(comp), "%.*s",
				 (int)(at - b->entry[i]), b->entry[i]);
			version = at + 1;
		}
		snprintf(msg, sizeof(msg), "entry %zu of %zu (%.300s): %s",
			 i + 1, b->n, b->entry[i], why);
	} else {
		snprintf(msg, sizeof(msg), "the batch: %s", why);
	}
	dfs_audit_refuse(st, actor, "deploy", e->name, comp[0] ? comp : NULL,
			 comp[0] ? version : NULL, rc, msg);
	return rc;
}

/* Split the value into entries, force and notes. */
static int parse(const void *value, size_t size, struct bulk *b,
		 const char **ret_why)
{
	char *line, *next;
	size_t cap = 0;

	if (size == 0 || memchr(value, 0, size)) {
		*ret_why = "the list is empty or holds a NUL byte";
		return -EINVAL;
	}
	b->text = strndup(value, size);
	if (!b->text)
		return -ENOMEM;
	for (line = b->text; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "notes ", 6) == 0) {
			/* The rest of the value, newlines included. */
			if (next)
				next[-1] = '\n';
			b->notes = line + 6;
			break;
		}
		if (strcmp(line, "force") == 0) {
			b->force = true;
			continue;
		}
		if (!*line)
			continue;
		if (b->n == DFS_BATCH_MAX) {
			*ret_why = "more than 1000 packages in one batch";
			return -E2BIG;
		}
		if (b->n == cap) {
			void *nv =
				realloc(b->entry, (cap = cap ? 2 * cap : 64) *
							  sizeof(*b->entry));

			if (!nv)
				return -ENOMEM;
			b->entry = nv;
		}
		b->entry[b->n++] = line;
	}
	if (b->n == 0) {
		*ret_why = "no package to deploy";
		return -EINVAL;
	}
	if (b->notes && strlen(b->notes) > DFS_BATCH_NOTES_MAX) {
		*ret_why = "notes longer than 1000 bytes";
		return -E2BIG;
	}
	b->item = calloc(b->n, sizeof(*b->item));
	return b->item ? 0 : -ENOMEM;
}

/* Entry i as a package of a deployable component, into b->item[i]. */
static int resolve(struct dfs_store *st, struct bulk *b, size_t i,
		   const char **ret_why)
{
	const char *s = b->entry[i], *at = strchr(s, '@');
	char comp[DFS_NAME_MAX + 1];
	const struct dfs_type *t;
	struct dfs_component c;

	if (!at || at == s || (size_t)(at - s) > DFS_NAME_MAX ||
	    strchr(at + 1, '@') || !dfs_version_valid(at + 1)) {
		*ret_why = "not NAME@VERSION";
		return -EINVAL;
	}
	snprintf(comp, sizeof(comp), "%.*s", (int)(at - s), s);
	if (!dfs_name_valid(comp) || dfs_component_by_name(st, comp, &c) < 0) {
		*ret_why = "no such component";
		return -ENOENT;
	}
	t = dfs_type_find(c.type);
	if (!t || !t->deployable) {
		*ret_why = "the component is not deployable";
		return -EINVAL;
	}
	for (size_t j = 0; j < i; j++) {
		if (b->item[j].pkg.comp == c.id) {
			*ret_why = "its component is listed twice";
			return -EINVAL;
		}
	}
	if (dfs_pkg_by_version(st, comp, at + 1, &b->item[i].pkg) < 0) {
		*ret_why = "no such version of the component is packaged "
			   "(or it was removed)";
		return -ENOENT;
	}
	return 0;
}

/* Judge every entry; *ret_i: the one refused. */
static int judge(struct dfs_store *st, struct bulk *b, size_t *ret_i, char *why,
		 size_t cap)
{
	char bad[512];
	const char *w = NULL;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < b->n; i++) {
		*ret_i = i;
		b->item[i].forced = false;
		rc = resolve(st, b, i, &w);
		if (rc < 0) {
			snprintf(why, cap, "%s", w);
			break;
		}
		rc = dfs_pkg_bad_reason(st, b->item[i].pkg.id, bad,
					sizeof(bad));
		if (rc > 0 && !b->force) {
			snprintf(why, cap,
				 "%s is marked bad (%s): deployctl deploy "
				 "--force deploys it anyway",
				 b->entry[i], bad);
			rc = -EPERM;
		} else if (rc > 0) {
			b->item[i].forced = true;
			rc = 0;
		}
	}
	return rc;
}

/* Check every package's blobs (st->lock may be let go): EIO recorded. */
static int check_blobs(struct dfs_store *st, const struct dfs_actor *actor,
		       const struct dfs_env *e, struct bulk *b, size_t *ret_i)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < b->n; i++) {
		*ret_i = i;
		rc = dfs_pkg_check(st, actor, e->id, b->item[i].pkg.id);
	}
	return rc;
}

/* What went, what came: the kernel hears of it; copies of them end. */
static void notify(struct dfs_store *st, const struct dfs_env *e,
		   const struct bulk *b)
{
	char name[DFS_NAME_MAX + DFS_LABEL_MAX + 2];
	struct dfs_stage *sg;

	for (size_t i = 0; i < b->n; i++) {
		const struct dfs_batch_item *v = &b->item[i];

		if (v->unchanged)
			continue;
		if (v->has_old)
			dfs_env_notice_gone(st, &v->old, true);
		snprintf(name, sizeof(name), "%s@%s", v->pkg.component,
			 v->pkg.version);
		dfs_notice_push(st, DFS_INO_ENV_BASE + (uint64_t)e->id, 0, name,
				false);
		if (!v->has_old) /* ENV/N, looked up before it was there */
			dfs_notice_push(st, DFS_INO_ENV_BASE + (uint64_t)e->id,
					0, v->pkg.component, false);
		sg = dfs_stage_find(st, e->id, v->pkg.id);
		if (sg)
			dfs_stage_drop(st, sg);
	}
}

/* With a registry, the list judged here is an act of its order: every
 * host deploys it in one transaction (dfs_env_bulk_apply()). */
static int shared(struct dfs_store *st, const struct dfs_actor *actor,
		  const struct dfs_env *e, const void *value, size_t size)
{
	struct dfs_reg_act act = { .action = "bulk", .env = e->name };
	int rc;

	if (memchr(value, 0, size))
		return -EINVAL;
	act.value = strndup(value, size);
	rc = act.value ? dfs_reg_shared(st, actor, &act) : -ENOMEM;
	free((char *)act.value);
	return rc;
}

int dfs_env_bulk_deploy(struct dfs_store *st, const struct dfs_actor *actor,
			int64_t env, const void *value, size_t size)
{
	struct bulk b = { 0 };
	char why[700] = "";
	const char *w = "";
	int64_t batch = 0;
	struct dfs_env e;
	size_t at = SIZE_MAX;
	int rc = dfs_env_by_id(st, env, &e);

	if (rc < 0)
		return rc;
	rc = parse(value, size, &b, &w);
	if (rc < 0) {
		if (rc != -ENOMEM)
			refuse(st, actor, &e, &b, SIZE_MAX, rc, w);
		goto out_release;
	}
	if (b.force && actor->uid != 0 && actor->uid != e.uid) {
		rc = refuse(st, actor, &e, &b, SIZE_MAX, -EPERM,
			    "forcing a deploy needs root or the owner of the "
			    "environment");
		goto out_release;
	}
	rc = judge(st, &b, &at, why, sizeof(why));
	if (rc == 0 && dfs_reserve_spent(st))
		rc = -ENOSPC; /* the last room is for what frees space */
	if (rc == 0) {
		/* EIO is recorded there; st->lock may be let go: look again. */
		rc = check_blobs(st, actor, &e, &b, &at);
		if (rc == 0 && dfs_env_by_id(st, env, &e) < 0)
			rc = -ENOENT;
		if (rc == 0)
			rc = judge(st, &b, &at, why, sizeof(why));
	}
	if (rc < 0 && why[0])
		refuse(st, actor, &e, &b, at, rc, why);
	if (rc == 0 && st->registry)
		rc = shared(st, actor, &e, value, size);
	else if (rc == 0)
		rc = dfs_deploy_batch(st, actor, &e, b.item, b.n, b.notes,
				      &batch);
	if (rc == 0 && !st->registry)
		notify(st, &e, &b);
out_release:
	bulk_release(&b);
	return rc;
}

int dfs_env_bulk_apply(struct dfs_store *st, const struct dfs_actor *actor,
		       const struct dfs_env *e, const char *list)
{
	struct bulk b = { 0 };
	char why[700] = "";
	const char *w = "";
	size_t at = SIZE_MAX;
	int64_t batch = 0;
	int rc = parse(list, strlen(list), &b, &w);

	/* Judged again here: the same on every host, as the same acts came
	 * before it. */
	if (rc == 0)
		rc = judge(st, &b, &at, why, sizeof(why));
	if (rc < 0 && rc != -ENOMEM)
		refuse(st, actor, e, &b, at, rc, why[0] ? why : w);
	if (rc == 0)
		rc = dfs_deploy_batch(st, actor, e, b.item, b.n, b.notes,
				      &batch);
	if (rc == 0)
		notify(st, e, &b);
	bulk_release(&b);
	return rc;
}
