// SPDX-License-Identifier: MIT
/*
 * pkgmeta.c - the metadata of a package (component, type, version,
 * created, created_by, notes, revisions, requires, content_hash, and a
 * warning when an earlier version has the same content hash), by key;
 * the notes may be set once, recorded in the audit trail.  st->lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const char sql_set_notes[] =
	"UPDATE packages SET notes = ?2 WHERE id = ?1 AND notes IS NULL";
static const char sql_pkg_meta[] =
	"SELECT p.id, c.name, c.type, p.version, p.created, p.created_by,"
	" p.notes, p.revisions, p.requires, p.content_hash, p.bad,"
	" p.component, p.kept"
	" FROM packages p"
	" JOIN components c ON c.id = p.component WHERE p.root = ?1"
	" AND p.removed = 0";
/* ---- metadata ---------------------------------------------------------- */

struct pkg_meta {
	int64_t id;
	char component[DFS_NAME_MAX + 1];
	char type[32];
	char version[DFS_LABEL_MAX + 1];
	char created[32];
	char created_by[64];
	char *notes;
	char *revisions;
	char *requires;
	char hash[DFS_HASH_HEX];
	const char *status; /* "good" or "bad" */
	char *bad_reason;   /* NULL unless bad */
	char *warning;	    /* NULL: none */
	const char *keep;   /* "1" when kept, else NULL */
};

static char *dup_text(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	return t ? strdup(t) : NULL;
}

static void meta_free(struct pkg_meta *m)
{
	free(m->notes);
	free(m->revisions);
	free(m->requires);
	free(m->bad_reason);
	free(m->warning);
}

/* The metadata of the package whose root snode is root; -ENOENT if none. */
static int meta_load(struct dfs_store *st, int64_t root, struct pkg_meta *m)
{
	struct dfs_hash h = { { 0 } };
	char same[DFS_NAME_MAX + 128];
	int64_t comp;
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_pkg_meta, &s, "i", root);

	memset(m, 0, sizeof(*m));
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	m->id = sqlite3_column_int64(s, 0);
	snprintf(m->component, sizeof(m->component), "%s",
		 sqlite3_column_text(s, 1));
	snprintf(m->type, sizeof(m->type), "%s", sqlite3_column_text(s, 2));
	snprintf(m->version, sizeof(m->version), "%s",
		 sqlite3_column_text(s, 3));
	dfs_iso_time(sqlite3_column_int64(s, 4), m->created,
		     sizeof(m->created));
	snprintf(m->created_by, sizeof(m->created_by), "%s",
		 sqlite3_column_text(s, 5));
	m->notes = dup_text(s, 6);
	m->revisions = dup_text(s, 7);
	m->requires = dup_text(s, 8);
	if (sqlite3_column_bytes(s, 9) == DFS_HASH_LEN) {
		memcpy(h.b, sqlite3_column_blob(s, 9), DFS_HASH_LEN);
		dfs_hash_hex(&h, m->hash);
	}
	m->bad_reason = dup_text(s, 10);
	m->status = m->bad_reason ? "bad" : "good";
	comp = sqlite3_column_int64(s, 11);
	m->keep = sqlite3_column_int64(s, 12) ? "1" : NULL;
	rc = dfs_stmt_done(s, SQLITE_ROW);
	if (rc == 0)
		rc = dfs_pkg_same_warning(st, comp, m->component, &h, m->id,
					  same, sizeof(same));
	if (rc > 0) {
		m->warning = strdup(same);
		rc = m->warning ? 0 : -ENOMEM;
	}
	if (rc < 0)
		meta_free(m);
	return rc;
}

#define META_PREFIX "user.deployfs."

static const char *const meta_keys[] = {
	"component",  "type",	   "version",  "created",      "created_by",
	"notes",      "revisions", "requires", "content_hash", "status",
	"bad_reason", "warning",   "keep",
};

static const char *meta_value(const struct pkg_meta *m, const char *key)
{
	const char *v[] = { m->component, m->type,	 m->version,
			    m->created,	  m->created_by, m->notes,
			    m->revisions, m->requires,	 m->hash,
			    m->status,	  m->bad_reason, m->warning,
			    m->keep };

	for (size_t i = 0; i < sizeof(meta_keys) / sizeof(*meta_keys); i++)
		if (strcmp(key, meta_keys[i]) == 0)
			return v[i];
	return NULL;
}

/* getxattr on a package root (snode id root): -ENOENT if not one. */
int dfs_pkg_meta_get(struct dfs_store *st, int64_t root, const char *name,
		     void *buf, size_t cap)
{
	struct pkg_meta m;
	const char *v;
	size_t len;
	int rc = meta_load(st, root, &m);

	if (rc < 0)
		return rc;
	v = strncmp(name, META_PREFIX, strlen(META_PREFIX)) == 0
		    ? meta_value(&m, name + strlen(META_PREFIX))
		    : NULL;
	if (!v) {
		meta_free(&m);
		return -ENODATA;
	}
	len = strlen(v);
	if (cap && len > cap)
		rc = -ERANGE;
	else if (cap)
		memcpy(buf, v, len);
	meta_free(&m);
	return rc < 0 ? rc : (int)len;
}

int dfs_pkg_meta_list(struct dfs_store *st, int64_t root, char *buf, size_t cap)
{
	struct pkg_meta m;
	size_t total = 0;
	int rc = meta_load(st, root, &m);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(meta_keys) / sizeof(*meta_keys); i++) {
		size_t len = strlen(META_PREFIX) + strlen(meta_keys[i]) + 1;

		if (!meta_value(&m, meta_keys[i]))
			continue;
		if (cap && total + len > cap) {
			meta_free(&m);
			return -ERANGE;
		}
		if (cap)
			snprintf(buf + total, len, "%s%s", META_PREFIX,
				 meta_keys[i]);
		total += len;
	}
	meta_free(&m);
	return (int)total;
}

/* Notes may be set once; everything else about a package is fixed. */
int dfs_pkg_meta_set(struct dfs_store *st, const struct dfs_actor *actor,
		     int64_t root, const char *name, const void *value,
		     size_t size)
{
	struct dfs_audit_event ev = { 0 };
	struct pkg_meta m;
	char *notes;
	int rc = meta_load(st, root, &m);

	if (rc < 0)
		return rc;
	if (strcmp(name, META_PREFIX "notes") != 0) {
		meta_free(&m);
		return -EROFS;
	}
	ev.action = "notes";
	ev.component = m.component;
	ev.version = m.version;
	if (m.notes) {
		dfs_audit_refuse(st, actor, "notes", NULL, m.component,
				 m.version, -EPERM,
				 "notes are immutable once written");
		meta_free(&m);
		return -EPERM;
	}
	notes = strndup(value, size);
	rc = notes ? dfs_db_begin(st) : -ENOMEM;
	if (rc == 0) {
		rc = dfs_exec_sql(st, sql_set_notes, "is", m.id, notes);
		ev.result = "ok";
		ev.reason = NULL;
		rc = dfs_audit_act(st, actor, &ev, rc);
	}
	free(notes);
	meta_free(&m);
	return rc;
}
