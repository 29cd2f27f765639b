// SPDX-License-Identifier: MIT
/*
 * refuse.c - the audit trail sees every refusal the daemon sees.  An act
 * that refuses records why itself (dfs_audit_refuse(), which counts in
 * st->refusals); any other refusal dispatch.c answers, or a copy's close,
 * outside build/ is recorded here: action the operation, reason the
 * errno's text, the operation and the path, with the package or the
 * environment the node belongs to.
 *
 * Repeats alike from one process (same operation, errno and package,
 * environment or file) fold: the first is recorded at once, the others
 * are counted and recorded as one line "OP repeated N more times in
 * SCOPE" when that process is refused something else, when they have
 * stopped for a second (the background tick), at least once a minute
 * while they go on, when audit.log is opened, and when the store closes.
 * So `rm -r` of a package leaves two lines, not one per file.  Everything
 * here runs with st->lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "trees.h"

#define QUIET_NS 1000000000LL	  /* recorded after 1 s without repeats */
#define FOLD_MAX_NS 60000000000LL /* and at least once a minute */

/*
 * Not refusals: a name or an attribute that is not there (ENOENT,
 * ENODATA: answers, and the kernel's own lookups see most of them), an
 * attribute namespace this mount does not have (EOPNOTSUPP: cp -a tries
 * them all), a buffer too small for a query (ERANGE: the caller asks
 * again), and failures of the daemon itself (ENOMEM, EAGAIN, EINTR).
 */
static bool is_refusal(const struct dfs_ask *q, int rc)
{
	switch (rc) {
	case -ENOMEM:
	case -EAGAIN:
	case -EINTR:
	case -ENOENT:
	case -ENODATA:
	case -EOPNOTSUPP:
		return false;
	case -ERANGE:
		return !q->query;
	default:
		return rc < 0;
	}
}

/* Append "/name" (or name at the root) to w->path. */
static void add_name(struct dfs_where *w, const char *name)
{
	size_t n = strlen(w->path);

	snprintf(w->path + n, sizeof(w->path) - n, "%s%s", n ? "/" : "", name);
}

/* w: node ino, or name in it (as itself when it is there). */
static const struct dfs_tree_ops *describe(struct dfs_store *st, uint64_t ino,
					   const char *name,
					   struct dfs_where *w)
{
	const struct dfs_tree_ops *t = st->trees->tree_of(ino);
	struct dfs_attr a;

	if (name && t->lookup && strlen(name) <= DFS_NAME_MAX &&
	    t->lookup(st, ino, name, &a) == 0 &&
	    !st->trees->tree_of(a.ino)->quiet) {
		(void)describe(st, a.ino, NULL, w);
		return t;
	}
	memset(w, 0, sizeof(*w));
	if (t->describe)
		t->describe(st, ino, w);
	else
		snprintf(w->path, sizeof(w->path), "%s", t->name);
	if (name)
		add_name(w, name);
	else if (!w->path[0])
		snprintf(w->path, sizeof(w->path), "/");
	if (!w->scope[0])
		snprintf(w->scope, sizeof(w->scope), "%s", w->path);
	return t;
}

static const char *or_null(const char *s)
{
	return s[0] ? s : NULL;
}

static void record(struct dfs_store *st, const struct dfs_actor *who,
		   const char *op, int err, const struct dfs_where *w,
		   const char *why)
{
	dfs_audit_refuse(st, who, op, or_null(w->env), or_null(w->component),
			 or_null(w->version), -err, why);
}

/* Record f's repeats, if any, and start counting again. */
static void fold_record(struct dfs_store *st, struct dfs_fold *f, int64_t now)
{
	char why[sizeof(f->w.scope) + 64];

	if (f->count > 0) {
		snprintf(why, sizeof(why), "%s repeated %lld more times in %s",
			 f->op, (long long)f->count, f->w.scope);
		record(st, &f->actor, f->op, f->err, &f->w, why);
	}
	f->count = 0;
	f->first = now;
}

static void fold_free(struct dfs_store *st, struct dfs_fold *f, int64_t now)
{
	fold_record(st, f, now);
	f->used = false;
}

/* Record the folds that are due; when to look again (0: never). */
static int64_t folds_due(struct dfs_store *st, int64_t now)
{
	int64_t next = 0;

	for (int i = 0; i < DFS_FOLDS; i++) {
		struct dfs_fold *f = &st->trees->folds[i];

		if (!f->used)
			continue;
		if (now - f->last >= QUIET_NS) {
			fold_free(st, f, now);
			continue;
		}
		if (f->count > 0 && now - f->first >= FOLD_MAX_NS)
			fold_record(st, f, now);
		if (!next || f->last + QUIET_NS < next)
			next = f->last + QUIET_NS;
	}
	return next;
}

/* The background tick (st->later). */
static void folds_tick(struct dfs_store *st)
{
	st->later_due = folds_due(st, dfs_now_ns());
}

static void arm(struct dfs_store *st, int64_t due)
{
	st->later = folds_tick;
	if (due && (!st->later_due || due < st->later_due)) {
		st->later_due = due;
		pthread_cond_signal(&st->wake);
	}
}

static bool same(const struct dfs_fold *f, int32_t pid, const char *op, int err,
		 const struct dfs_where *w)
{
	return f->used && f->pid == pid && f->err == err &&
	       strcmp(f->op, op) == 0 && strcmp(f->w.env, w->env) == 0 &&
	       strcmp(f->w.component, w->component) == 0 &&
	       strcmp(f->w.version, w->version) == 0 &&
	       strcmp(f->w.scope, w->scope) == 0;
}

/* The slot of pid's repeats: its own, a free one or the one quiet the
 * longest (recorded first). */
static struct dfs_fold *fold_of(struct dfs_store *st, int32_t pid, int64_t now)
{
	struct dfs_fold *free = NULL, *oldest = NULL;

	for (int i = 0; i < DFS_FOLDS; i++) {
		struct dfs_fold *f = &st->trees->folds[i];

		if (f->used && f->pid == pid)
			return f;
		if (!f->used && !free)
			free = f;
		if (f->used && (!oldest || f->last < oldest->last))
			oldest = f;
	}
	if (!free) {
		fold_free(st, oldest, now);
		free = oldest;
	}
	return free;
}

/* Where the refusal happened: the side outside build/ of a move. */
static void where_of(struct dfs_store *st, const struct dfs_ask *q,
		     struct dfs_where *w, char *why, size_t cap)
{
	struct dfs_where to;
	const struct dfs_tree_ops *t = describe(st, q->ino, q->name, w);

	if (!q->ino2) {
		snprintf(why, cap, "%s %s", q->op, w->path);
		return;
	}
	(void)describe(st, q->ino2, q->name2, &to);
	snprintf(why, cap, "%s %s to %s", q->op, w->path, to.path);
	if (t->quiet)
		*w = to;
}

int dfs_refused(struct dfs_store *st, const struct dfs_actor *actor,
		const struct dfs_ask *q, uint64_t before, int rc)
{
	int64_t now = dfs_now_ns();
	struct dfs_actor who;
	struct dfs_where w;
	struct dfs_fold *f;
	char why[2 * 768 + 64];

	if (!is_refusal(q, rc) || st->refusals != before || !st->trees)
		return rc;
	if (st->trees->tree_of(q->ino)->quiet &&
	    (!q->ino2 || st->trees->tree_of(q->ino2)->quiet))
		return rc;
	actor = dfs_actor_or_self(actor, &who);
	if (actor != &who)
		who = *actor;
	dfs_actor_resolve(&who);
	where_of(st, q, &w, why, sizeof(why));
	(void)folds_due(st, now);
	f = fold_of(st, who.pid, now);
	if (same(f, who.pid, q->op, -rc, &w)) {
		f->count++;
		f->last = now;
		arm(st, now + QUIET_NS);
		return rc;
	}
	if (f->used)
		fold_free(st, f, now);
	record(st, &who, q->op, -rc, &w, why);
	f->used = true;
	f->pid = who.pid;
	f->err = -rc;
	snprintf(f->op, sizeof(f->op), "%s", q->op);
	f->w = w;
	f->actor = who;
	f->count = 0;
	f->first = f->last = now;
	arm(st, now + QUIET_NS);
	return rc;
}

void dfs_refusals_flush(struct dfs_store *st)
{
	int64_t now = dfs_now_ns();

	if (!st->trees)
		return;
	for (int i = 0; i < DFS_FOLDS; i++)
		if (st->trees->folds[i].used)
			fold_free(st, &st->trees->folds[i], now);
	st->later_due = 0;
}

int dfs_reg_shared(struct dfs_store *st, const struct dfs_actor *actor,
		   const struct dfs_reg_act *act)
{
	struct dfs_actor nobody = { 0 };
	char why[512];
	int rc;

	if (!actor)
		actor = &nobody;
	rc = dfs_reg_act_locked(st, actor, act, why, sizeof(why));
	if (rc == -EHOSTDOWN)
		dfs_audit_refuse(st, actor, act->action, act->env,
				 act->component, act->version, rc, why);
	return rc;
}

int dfs_reg_pkg_shared(struct dfs_store *st, const struct dfs_actor *actor,
		       const char *action, int64_t comp, const char *version,
		       const char *value)
{
	struct dfs_reg_act act = { .action = action,
				   .version = version,
				   .value = value };
	struct dfs_component c;
	int rc = dfs_component_by_id(st, comp, &c);

	if (rc < 0)
		return rc;
	act.component = c.name;
	return dfs_reg_shared(st, actor, &act);
}
