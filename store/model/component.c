// SPDX-License-Identifier: MIT
/*
 * component.c - components: a folder build/TYPE/NAME is one.  The
 * components table gives each a stable id (the inode number of
 * packages/NAME), enforces that a name is unique across all types, and
 * keeps the revision: it goes up by one each time the component's own
 * content (its tree, with includes as the links they are) is seen to have
 * changed since the revision was last taken, i.e. when it is packaged or
 * its user.deployfs.revision is read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"

static const char sql_by_name[] =
	"SELECT id, name, type, dir, revision, tree_hash FROM components"
	" WHERE name = ?1";
static const char sql_by_id[] =
	"SELECT id, name, type, dir, revision, tree_hash FROM components"
	" WHERE id = ?1";
static const char sql_by_dir[] =
	"SELECT id, name, type, dir, revision, tree_hash FROM components"
	" WHERE dir = ?1";
static const char sql_insert[] =
	"INSERT INTO components (name, type, dir) VALUES (?1, ?2, ?3)";
static const char sql_attach[] = "UPDATE components SET dir = ?2 WHERE id = ?1";
static const char sql_detach[] =
	"UPDATE components SET dir = NULL WHERE dir = ?1";
static const char sql_forget[] =
	"DELETE FROM components WHERE dir IS NULL AND NOT EXISTS"
	" (SELECT 1 FROM packages p WHERE p.component = components.id)";
static const char sql_type_of[] =
	"SELECT name FROM dirents WHERE ino = ?1 AND parent = 2";
static const char sql_set_rev[] =
	"UPDATE components SET revision = ?2, tree_hash = ?3 WHERE id = ?1";

static int comp_query(struct dfs_store *st, const char *sql, const char *fmt,
		      int64_t i, const char *s, struct dfs_component *ret)
{
	struct dfs_component c = { 0 };
	sqlite3_stmt *q;
	int rc = s ? dfs_query_sql(st, sql, &q, fmt, s)
		   : dfs_query_sql(st, sql, &q, fmt, i);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	c.id = sqlite3_column_int64(q, 0);
	snprintf(c.name, sizeof(c.name), "%s", sqlite3_column_text(q, 1));
	snprintf(c.type, sizeof(c.type), "%s", sqlite3_column_text(q, 2));
	c.dir = sqlite3_column_type(q, 3) == SQLITE_NULL
			? 0
			: (uint64_t)sqlite3_column_int64(q, 3);
	c.revision = sqlite3_column_int64(q, 4);
	if (sqlite3_column_bytes(q, 5) == DFS_HASH_LEN) {
		memcpy(c.tree_hash.b, sqlite3_column_blob(q, 5), DFS_HASH_LEN);
		c.has_hash = true;
	}
	*ret = c;
	return dfs_stmt_done(q, SQLITE_ROW);
}

int dfs_component_by_name(struct dfs_store *st, const char *name,
			  struct dfs_component *ret)
{
	return comp_query(st, sql_by_name, "s", 0, name, ret);
}

int dfs_component_by_id(struct dfs_store *st, int64_t id,
			struct dfs_component *ret)
{
	return comp_query(st, sql_by_id, "i", id, NULL, ret);
}

int dfs_component_by_dir(struct dfs_store *st, uint64_t dir,
			 struct dfs_component *ret)
{
	return comp_query(st, sql_by_dir, "i", (int64_t)dir, NULL, ret);
}

/* The type name of the type folder typedir. */
static int type_of(struct dfs_store *st, uint64_t typedir, char *buf,
		   size_t cap)
{
	sqlite3_stmt *q;
	int rc = dfs_query_sql(st, sql_type_of, &q, "i", (int64_t)typedir);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	snprintf(buf, cap, "%s", sqlite3_column_text(q, 0));
	return dfs_stmt_done(q, SQLITE_ROW);
}

/*
 * May a folder named name appear in the type folder typedir?  Names are
 * unique across all types: -EEXIST if another type has it.  A folder
 * there is a component, so its name must be one (-EINVAL), but for a
 * dot name (.git, .cache): hidden, not a component.
 */
int dfs_component_check(struct dfs_store *st, uint64_t typedir,
			const char *name)
{
	struct dfs_component c;
	char type[32];
	int rc;

	if (!dfs_name_valid(name))
		return name[0] == '.' ? 0 : -EINVAL;
	rc = dfs_component_by_name(st, name, &c);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	rc = type_of(st, typedir, type, sizeof(type));
	if (rc < 0)
		return rc;
	if (strcmp(type, c.type) != 0)
		return -EEXIST;
	return 0;
}

/* The folder ino now stands at typedir/name: it is that component. */
int dfs_component_attach(struct dfs_store *st, uint64_t typedir,
			 const char *name, uint64_t ino)
{
	struct dfs_component c;
	char type[32];
	int rc;

	if (!dfs_name_valid(name))
		return 0;
	rc = dfs_component_by_name(st, name, &c);
	if (rc == 0)
		dfs_notice_attr(st, DFS_INO_PKGDIR_BASE + (uint64_t)c.id);
	if (rc == 0)
		return dfs_exec_sql(st, sql_attach, "ii", c.id, (int64_t)ino);
	if (rc != -ENOENT)
		return rc;
	rc = type_of(st, typedir, type, sizeof(type));
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_insert, "ssi", name, type,
				  (int64_t)ino);
	return rc;
}

/* The folder ino left its type folder (removed or renamed away).
 * packages/NAME no longer takes its owner from it. */
int dfs_component_detach(struct dfs_store *st, uint64_t ino)
{
	struct dfs_component c;
	int rc = dfs_component_by_dir(st, ino, &c);

	if (rc == 0)
		dfs_notice_attr(st, DFS_INO_PKGDIR_BASE + (uint64_t)c.id);
	rc = dfs_exec_sql(st, sql_detach, "i", (int64_t)ino);

	if (rc == 0)
		rc = dfs_exec_sql(st, sql_forget, "");
	return rc;
}

static const char sql_changed[] =
	"UPDATE components SET changed = ?2 WHERE id = ?1";

int dfs_component_changed(struct dfs_store *st, int64_t id, int64_t now)
{
	dfs_notice_attr(st, DFS_INO_PKGDIR_BASE + (uint64_t)id);
	return dfs_exec_sql(st, sql_changed, "ii", id, now);
}

/* Take the revision of component c whose own content hashes to own. */
int dfs_component_revise(struct dfs_store *st, struct dfs_component *c,
			 const struct dfs_hash *own)
{
	int rc;

	if (c->has_hash && memcmp(&c->tree_hash, own, sizeof(*own)) == 0 &&
	    c->revision > 0)
		return 0;
	rc = dfs_exec_sql(st, sql_set_rev, "iih", c->id, c->revision + 1, own);
	if (rc == 0) {
		c->revision++;
		c->tree_hash = *own;
		c->has_hash = true;
	}
	return rc;
}

static const char sql_list[] =
	"SELECT id, name, type FROM components c WHERE id > ?1 AND"
	" (dir IS NOT NULL OR EXISTS (SELECT 1 FROM packages p"
	" WHERE p.component = c.id AND p.removed = 0)) ORDER BY id";

/* The components that can be packaged or have packages, by id. */
int dfs_component_list(struct dfs_store *st, int64_t after,
		       struct dfs_idnames *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_list, &s, "i", after);

	for (; rc == 1; rc = dfs_next(s)) {
		const struct dfs_type *t =
			dfs_type_find((const char *)sqlite3_column_text(s, 2));
		char name[DFS_NAME_MAX + 1];

		if (!t || !t->deployable)
			continue;
		dfs_col_text(s, 1, name, sizeof(name));
		rc = dfs_idnames_add(ret, sqlite3_column_int64(s, 0), name);
		if (rc < 0) {
			sqlite3_reset(s);
			break;
		}
	}
	return rc < 0 ? rc : 0;
}
