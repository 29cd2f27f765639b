// SPDX-License-Identifier: MIT
/*
 * package.c - creating packages (mkdir packages/NAME/NAME@VERSION),
 * removing and restoring them (deployctl package remove|restore).  A
 * package is one durable transaction: its snapshot rows, its packages row
 * and its audit row commit together or not at all.  Removing one is a
 * soft delete: it leaves packages/ but keeps its snapshot, so it can be
 * restored until the space is reclaimed.  Every refusal is recorded in
 * the audit trail with its reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "registry.h"
#include "snapshot.h"

static const char sql_pkg_insert[] =
	"INSERT INTO packages (component, version, root, created, created_by,"
	" uid, revisions, requires, content_hash, line, seq, nodes)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
static const char sql_pkg_find[] =
	"SELECT id, root, deployed, kept FROM packages WHERE component = ?1"
	" AND version = ?2 AND removed = 0";
/* A removed package keeps its row (its version keeps readdir offsets
 * stable) and, until the space is reclaimed, its snapshot: then it can be
 * restored, and its version is not made again.  Once reclaimed (its root
 * snode gone), a new package of the same version replaces the row. */
static const char sql_pkg_removed[] =
	"UPDATE packages SET removed = ?2 WHERE id = ?1";
static const char sql_removed_find[] =
	"SELECT p.id, p.root FROM packages p WHERE p.line IS NOT NULL"
	" AND p.component = ?1 AND p.version = ?2 AND p.removed <> 0"
	" ORDER BY p.id DESC LIMIT 1";
static const char sql_tomb_delete[] =
	"DELETE FROM packages WHERE component = ?1 AND version = ?2"
	" AND removed <> 0";
static const char sql_copied_in[] =
	"SELECT e.name FROM staging g JOIN envs e ON e.id = g.env"
	" WHERE g.package = ?1 ORDER BY e.name LIMIT 1";
static const char sql_deployed_in[] =
	"SELECT e.name FROM deployments d JOIN envs e ON e.id = d.env"
	" WHERE d.package = ?1 AND d.active = 1 AND e.removed = 0"
	" ORDER BY e.name";

/* Split "NAME@VERSION" of component c; -EINVAL if malformed or not c's. */
int dfs_pkg_parse(const struct dfs_component *c, const char *name,
		  const char **ret_version)
{
	const char *at = strchr(name, '@');
	size_t len;

	if (!at || strchr(at + 1, '@'))
		return -EINVAL;
	len = (size_t)(at - name);
	if (len != strlen(c->name) || strncmp(name, c->name, len) != 0)
		return -EINVAL;
	if (!dfs_version_valid(at + 1))
		return -EINVAL;
	*ret_version = at + 1;
	return 0;
}

struct found {
	int64_t id;
	int64_t root;
	int64_t deployed;
	int64_t kept;
};

static int find_pkg(struct dfs_store *st, int64_t comp, const char *version,
		    struct found *ret)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_pkg_find, &s, "is", comp, version);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	ret->id = sqlite3_column_int64(s, 0);
	ret->root = sqlite3_column_int64(s, 1);
	ret->deployed = sqlite3_column_int64(s, 2);
	ret->kept = sqlite3_column_int64(s, 3);
	return dfs_stmt_done(s, SQLITE_ROW);
}

static void json_revisions(const struct dfs_walk *w, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "{");

	for (int i = 0; i < w->nrev && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\":%lld",
				      i ? "," : "", w->revs[i].name,
				      (long long)w->revs[i].revision);
	if (n < cap)
		snprintf(buf + n, cap - n, "}");
}

static void json_requires(const struct dfs_walk *w, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "[");

	for (int i = 0; i < w->nreq && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\"",
				      i ? "," : "", w->reqs[i]);
	if (n < cap)
		snprintf(buf + n, cap - n, "]");
}

/* The root takes the component folder's mode and owner, and the time it
 * was packaged: sorting versions by date orders them by creation.  Its
 * entries are the line's current rows when nothing changed since the
 * last snapshot (snapcache.c; nlink then the kept one), else the walk's. */
static int insert_root(struct dfs_store *st, struct dfs_snapw *sw,
		       const struct dfs_component *c, const char *name,
		       int64_t now, const uint32_t *nlink, int64_t *ret)
{
	struct dfs_attr a;
	int rc = dfs_inode_attr(st, c->dir, &a);
	struct dfs_snode_row r = { .mode = a.mode,
				   .uid = a.uid,
				   .gid = a.gid,
				   .atime = now,
				   .mtime = now,
				   .ctime = now };

	if (rc < 0)
		return rc;
	return nlink ? dfs_snapw_root_only(sw, name, &r, *nlink, ret)
		     : dfs_snapw_add(sw, 0, name, &r, ret);
}

/* Every entry of c walked under a new root. */
static int walk_all(struct dfs_store *st, struct dfs_walk *w,
		    struct dfs_component *c, const char *name, int64_t now,
		    int64_t *root)
{
	int rc = insert_root(st, w->sw, c, name, now, NULL, root);

	w->nrev = w->nreq = 0;
	w->left_out = 0;
	return rc < 0 ? rc : dfs_walk_component(w, c, *root, &w->own, &w->full);
}

/* The snapshot of c as the next version of its line: w holds the walk's
 * results and where the snapshot went. */
static int snapshot(struct dfs_store *st, struct dfs_walk *w,
		    struct dfs_component *c, const char *name, int64_t now)
{
	int64_t root = 0;
	int rc = dfs_snapw_begin(st, c->id, true, &w->sw);

	if (rc == 0)
		rc = dfs_snapcache_find(st, c->id, w);
	if (rc == 1)
		rc = insert_root(st, w->sw, c, name, now, &w->root_nlink,
				 &root);
	else if (rc == 0)
		rc = walk_all(st, w, c, name, now, &root);
	if (rc == -ESTALE) /* no root row to follow after all */
		rc = walk_all(st, w, c, name, now, &root);
	if (rc == 0)
		rc = dfs_snapw_end(w->sw, &w->place);
	dfs_snapw_free(w->sw);
	w->sw = NULL;
	return rc;
}

static int create_locked(struct dfs_store *st, const struct dfs_actor *actor,
			 struct dfs_component *c, const char *name,
			 const char *version, struct dfs_walk *w,
			 int64_t *ret_root)
{
	char revs[64 * 80], reqs[64 * 80], note[64], same[DFS_NAME_MAX + 128];
	char reason[sizeof(note) + sizeof(same) + 2];
	struct dfs_audit_event ev = { 0 };
	const struct dfs_type *type = dfs_type_find(c->type);
	struct found old;
	sqlite3_stmt *s;
	char user[64];
	int64_t root = 0, now = dfs_now_ns();
	int rc;

	if (!type || !type->deployable) {
		snprintf(w->why, sizeof(w->why),
			 "%s is an included-only "
			 "type: package the process that includes it",
			 c->type);
		return -EPERM;
	}
	if (!c->dir) {
		snprintf(w->why, sizeof(w->why), "build/%s/%s is gone", c->type,
			 c->name);
		return -ENOENT;
	}
	rc = find_pkg(st, c->id, version, &old);
	if (rc == 0) {
		snprintf(w->why, sizeof(w->why), "version %s exists", version);
		return -EEXIST;
	}
	if (rc != -ENOENT)
		return rc;
	rc = dfs_query_sql(st, sql_removed_find, &s, "is", c->id, version);
	if (rc > 0) {
		dfs_stmt_done(s, SQLITE_ROW);
		snprintf(w->why, sizeof(w->why),
			 "version %s was removed: deployctl package restore "
			 "%s@%s",
			 version, c->name, version);
		return -EEXIST;
	}
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_tomb_delete, "is", c->id, version);
	if (rc == 0)
		rc = snapshot(st, w, c, name, now);
	if (rc < 0)
		return rc;
	root = w->place.root;
	json_revisions(w, revs, sizeof(revs));
	json_requires(w, reqs, sizeof(reqs));
	ev.revisions = revs;
	rc = dfs_component_changed(st, c->id, dfs_now_ns());
	if (rc < 0)
		return rc;
	/* Before its own row: the earlier package it is identical to. */
	rc = dfs_pkg_same_warning(st, c->id, c->name, &w->full, INT64_MAX, same,
				  sizeof(same));
	if (rc < 0)
		return rc;
	if (rc == 0)
		same[0] = '\0';
	dfs_user_name(actor->uid, user, sizeof(user));
	rc = dfs_exec_sql(st, sql_pkg_insert, "isiisisshiii", c->id, version,
			  root, now, user, (int64_t)actor->uid, revs, reqs,
			  &w->full, w->place.line, w->place.seq,
			  w->place.nodes);
	ev.action = "package";
	ev.component = c->name;
	ev.version = version;
	ev.result = "ok";
	note[0] = '\0';
	if (w->left_out)
		snprintf(note, sizeof(note), "%lld %s left out",
			 (long long)w->left_out,
			 w->left_out == 1 ? "FIFO or socket"
					  : "FIFOs or sockets");
	if (same[0] || note[0]) {
		snprintf(reason, sizeof(reason), "%s%s%s", same,
			 same[0] && note[0] ? "; " : "", note);
		ev.reason = reason;
	}
	if (rc == 0)
		rc = dfs_audit_record_in(st, actor, &ev);
	if (rc == 0)
		*ret_root = root;
	return rc;
}

int dfs_pkg_create(struct dfs_store *st, const struct dfs_actor *actor,
		   int64_t comp, const char *name, int64_t *ret_root)
{
	struct dfs_walk *w = calloc(1, sizeof(*w));
	struct dfs_component c = { 0 };
	const char *version = NULL;
	int64_t root = 0;
	int rc;

	if (!w)
		return -ENOMEM;
	w->st = st;
	w->expand = true;
	w->revise = true;
	rc = dfs_component_by_id(st, comp, &c);
	if (rc == 0 && dfs_pkg_parse(&c, name, &version) < 0) {
		snprintf(w->why, sizeof(w->why),
			 "\"%s\" is not %s@VERSION "
			 "with a valid version",
			 name, c.name);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = dfs_db_begin_whole(st);
	if (rc == 0) {
		rc = create_locked(st, actor, &c, name, version, w, &root);
		/* In the registry first: if it refuses, nothing is made. */
		if (rc == 0)
			rc = dfs_reg_publish_locked(st, actor, c.name, version,
						    w->why, sizeof(w->why));
		if (rc == 0)
			rc = dfs_db_commit(st, true);
		else
			dfs_db_rollback(st);
		if (rc == 0)
			dfs_snapcache_keep(st, c.id, w);
		else
			dfs_snapcache_forget(st, c.id);
	}
	if (rc < 0 && rc != -ENOMEM && rc != -EIO)
		dfs_audit_refuse(st, actor, "package", NULL, c.name,
				 version ? version : name, rc, w->why);
	if (rc == 0)
		*ret_root = root;
	free(w);
	return rc;
}

/* The environments package id is deployed in, "a, b", into buf. */
static int deployed_in(struct dfs_store *st, int64_t id, char *buf, size_t cap)
{
	sqlite3_stmt *s;
	size_t n = 0;
	int rc = dfs_query_sql(st, sql_deployed_in, &s, "i", id);

	buf[0] = '\0';
	while (rc > 0) {
		if (n < cap)
			n += (size_t)snprintf(
				buf + n, cap - n, "%s%s", n ? ", " : "",
				(const char *)sqlite3_column_text(s, 0));
		rc = dfs_next(s);
	}
	return rc;
}

static void notice_gone(struct dfs_store *st, const struct dfs_component *c,
			const char *version, int64_t root)
{
	struct dfs_pkg p = { .root = root, .comp = c->id };

	snprintf(p.component, sizeof(p.component), "%s", c->name);
	snprintf(p.version, sizeof(p.version), "%s", version);
	dfs_pkg_notice_gone(st, &p);
}

/* Remove (removed 1) or restore (0) the package NAME@version of comp. */
static int set_removed(struct dfs_store *st, const struct dfs_actor *actor,
		       const struct dfs_component *c, const char *version,
		       int removed, char *why, size_t cap)
{
	struct found p = { 0 };
	sqlite3_stmt *s;
	char envs[256];
	int rc;

	rc = find_pkg(st, c->id, version, &p);
	if (removed && rc == 0 &&
	    dfs_query_sql(st, sql_copied_in, &s, "i", p.id) > 0) {
		snprintf(why, cap, "a copy of %s@%s is in progress in %s",
			 c->name, version,
			 (const char *)sqlite3_column_text(s, 0));
		sqlite3_reset(s);
		return -EBUSY;
	}
	if (removed && rc == 0 && p.deployed > 0) {
		rc = deployed_in(st, p.id, envs, sizeof(envs));
		snprintf(why, cap, "%s@%s is deployed in %s", c->name, version,
			 rc == 0 ? envs : "an environment");
		return -EBUSY;
	}
	/* A keep is a release manager's word that this one stays: taking
	 * it back is an act of its own (deployctl package unkeep). */
	if (removed && rc == 0 && p.kept) {
		snprintf(why, cap,
			 "%s@%s is kept: deployctl package unkeep it first",
			 c->name, version);
		return -EPERM;
	}
	if (!removed && rc == 0) {
		snprintf(why, cap, "%s@%s is not removed", c->name, version);
		return -EEXIST;
	}
	if (!removed && rc == -ENOENT) {
		rc = dfs_query_sql(st, sql_removed_find, &s, "is", c->id,
				   version);
		if (rc > 0) {
			p.id = sqlite3_column_int64(s, 0);
			rc = dfs_stmt_done(s, SQLITE_ROW);
		} else if (rc == 0) {
			rc = -ENOENT;
		}
	}
	if (rc == -ENOENT)
		snprintf(why, cap,
			 removed ? "no package %s@%s"
				 : "no removed package %s@%s (or its space "
				   "was reclaimed)",
			 c->name, version);
	if (rc < 0)
		return rc;
	rc = dfs_db_begin_whole(st);
	if (rc < 0)
		return rc;
	/* removed: when (for gc's grace period), 0 when not */
	rc = dfs_exec_sql(st, sql_pkg_removed, "ii", p.id,
			  removed ? dfs_now_ns() : 0);
	if (rc == 0 && removed)
		notice_gone(st, c, version, p.root);
	if (rc == 0)
		rc = dfs_component_changed(st, c->id, dfs_now_ns());
	return dfs_audit_act(st, actor,
			     &(struct dfs_audit_event){
				     .action = removed ? "package-remove"
						       : "package-restore",
				     .component = c->name,
				     .version = version,
				     .result = "ok" },
			     rc);
}

int dfs_pkg_set_removed(struct dfs_store *st, const struct dfs_actor *actor,
			int64_t comp, const char *version, bool removed)
{
	const char *act = removed ? "package-remove" : "package-restore";
	struct dfs_component c;
	char why[512] = "";
	int rc;

	rc = dfs_component_by_id(st, comp, &c);
	if (rc < 0)
		return rc;
	if (!dfs_version_valid(version)) {
		snprintf(why, sizeof(why), "\"%s\" is not a valid version",
			 version);
		rc = -EINVAL;
	} else {
		rc = set_removed(st, actor, &c, version, removed, why,
				 sizeof(why));
	}
	if (rc < 0 && why[0])
		dfs_audit_refuse(st, actor, act, NULL, c.name, version, rc,
				 why);
	return rc;
}
