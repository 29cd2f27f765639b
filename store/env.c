// SPDX-License-Identifier: MIT
/*
 * env.c - environments/: environment folders, deployments and the copies
 * and links that make them (see docs/environments.md).
 *
 * Environments and deployments are rows (envs, deployments); a deployment
 * shows as a link `N` and a folder `N@V` whose nodes are the package's
 * snapshot nodes seen from the environment.  What is in flight lives in
 * memory: stages (a copy filling a staging folder, or a re-copy into a
 * deployed folder), temporary files of copy tools and links waiting to be
 * renamed.  Deploying and undeploying are one durable transaction each,
 * with their audit row.  Every public function takes st->lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deployfs/log.h"
#include "deployfs/names.h"
#include "internal.h"

#define XATTR_PREFIX "user.deployfs."

#define ENV_COLS "id, name, mode, uid, gid, mtime, ctime, classification"
static const char sql_env_by_id[] =
	"SELECT " ENV_COLS " FROM envs WHERE id = ?1 AND removed = 0";
static const char sql_env_by_name[] =
	"SELECT " ENV_COLS " FROM envs WHERE name = ?1 AND removed = 0";
static const char sql_env_list[] =
	"SELECT id, name FROM envs WHERE removed = 0 AND id > ?1 ORDER BY id";
static const char sql_env_count[] =
	"SELECT count(*) FROM envs WHERE removed = 0";
static const char sql_env_insert[] =
	"INSERT INTO envs (name, mode, uid, gid, created, created_by, mtime,"
	" ctime) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, ?5)";
static const char sql_env_remove[] =
	"UPDATE envs SET removed = 1 WHERE id = ?1";
static const char sql_env_touch[] =
	"UPDATE envs SET mtime = ?2, ctime = ?2 WHERE id = ?1";
static const char sql_env_setattr[] =
	"UPDATE envs SET mode = ?2, uid = ?3, gid = ?4, mtime = ?5, ctime = ?6"
	" WHERE id = ?1";
static const char sql_env_classify[] =
	"UPDATE envs SET classification = ?2 WHERE id = ?1";
static const char sql_env_busy[] =
	"SELECT count(*) FROM deployments WHERE env = ?1 AND active = 1";

/* A deployment with its component and package (see dep_query()). */
#define DEP_SELECT                                                           \
	"SELECT d.id, d.number, c.name, p.version, p.root, p.id, d.created," \
	" d.uid, d.created_by, d.notes, d.warning, c.id, d.gid"              \
	" FROM deployments d JOIN components c ON c.id = d.component"        \
	" JOIN packages p ON p.id = d.package"
static const char sql_dep_active[] = DEP_SELECT
	" WHERE d.env = ?1 AND d.active = 1 AND d.id > ?2 ORDER BY d.id";
static const char sql_dep_by_id[] = DEP_SELECT " WHERE d.id = ?1";
static const char sql_dep_of_comp[] =
	DEP_SELECT " WHERE d.env = ?1 AND d.component = ?2 AND d.active = 1";
static const char sql_dep_of_pkg[] =
	DEP_SELECT " WHERE d.env = ?1 AND d.package = ?2 AND d.active = 1";
static const char sql_dep_next[] =
	"SELECT coalesce(max(number), 0) + 1 FROM deployments"
	" WHERE env = ?1 AND component = ?2";
static const char sql_dep_insert[] =
	"INSERT INTO deployments (env, component, package, number, created,"
	" created_by, uid, via, warning, gid, version)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char sql_dep_end[] =
	"UPDATE deployments SET active = 0, ended = ?2 WHERE id = ?1";
static const char sql_dep_notes[] =
	"UPDATE deployments SET notes = ?2 WHERE id = ?1 AND notes IS NULL";
static const char sql_pkg_deployed[] =
	"UPDATE packages SET deployed = deployed + ?2 WHERE id = ?1";
static const char sql_unmet[] =
	"SELECT group_concat(substr(j.value, instr(j.value, '/') + 1), ', ')"
	" FROM packages p, json_each(p.requires) j WHERE p.id = ?1"
	" AND NOT EXISTS (SELECT 1 FROM deployments d"
	" JOIN components c ON c.id = d.component WHERE d.env = ?2"
	" AND d.active = 1"
	" AND CAST(c.name AS TEXT) ="
	" substr(j.value, instr(j.value, '/') + 1))";

static const char sql_pkg_by_id[] =
	"SELECT p.id, p.root, c.id, c.name, p.version FROM packages p"
	" JOIN components c ON c.id = p.component"
	" WHERE p.id = ?1 AND p.removed = 0";
static const char sql_pkg_by_version[] =
	"SELECT p.id, p.root, c.id, c.name, p.version FROM packages p"
	" JOIN components c ON c.id = p.component"
	" WHERE c.name = ?1 AND p.version = ?2 AND p.removed = 0";
static const char sql_pkg_latest[] =
	"SELECT p.id, p.root, c.id, c.name, p.version FROM packages p"
	" JOIN components c ON c.id = p.component"
	" WHERE c.name = ?1 AND p.removed = 0 ORDER BY p.id DESC LIMIT 1";
static const char sql_pkg_of_snode[] =
	"SELECT p.id, p.root, c.id, c.name, p.version FROM packages p"
	" JOIN components c ON c.id = p.component"
	" WHERE p.root <= ?1 AND p.removed = 0 ORDER BY p.root DESC LIMIT 1";
static const char sql_tree_size[] =
	"WITH RECURSIVE t(id) AS (SELECT ?1 UNION ALL"
	" SELECT s.id FROM snodes s JOIN t ON s.parent = t.id)"
	" SELECT count(*) - 1 FROM t";
static const char sql_snode_child[] =
	"SELECT id FROM snodes WHERE parent = ?1 AND name = ?2";
static const char sql_snode_children[] =
	"SELECT id, name FROM snodes WHERE parent = ?1 AND id > ?2"
	" ORDER BY id";
static const char sql_snode_info[] =
	"SELECT parent, mode, size, blob, target, name FROM snodes"
	" WHERE id = ?1";
static const char sql_staging_insert[] =
	"INSERT INTO staging (env, package, started, started_by, uid, entries)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_staging_done[] =
	"UPDATE staging SET done = ?2 WHERE id = ?1";
static const char sql_staging_delete[] = "DELETE FROM staging WHERE id = ?1";

struct env_row {
	int64_t id;
	char name[DFS_LABEL_MAX + 1];
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	int64_t mtime;
	int64_t ctime;
	char cls[16];
};

struct dep_row {
	int64_t id;
	int64_t number;
	char component[DFS_NAME_MAX + 1];
	char version[DFS_LABEL_MAX + 1];
	int64_t root;
	int64_t package;
	int64_t created;
	uint32_t uid;
	char created_by[64];
	bool has_notes;
	uint32_t gid;
};

struct pkg_row {
	int64_t id;
	int64_t root;
	int64_t comp;
	char component[DFS_NAME_MAX + 1];
	char version[DFS_LABEL_MAX + 1];
};

struct snode_info {
	int64_t parent;
	uint32_t mode;
	uint64_t size;
	bool has_blob;
	struct dfs_hash blob;
	char target[DFS_SYMLINK_MAX + 1];
	char name[DFS_NAME_MAX + 1];
};

static void text(sqlite3_stmt *s, int col, char *buf, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

static int env_fill(sqlite3_stmt *s, int rc, struct env_row *ret)
{
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	ret->id = sqlite3_column_int64(s, 0);
	text(s, 1, ret->name, sizeof(ret->name));
	ret->mode = (uint32_t)sqlite3_column_int64(s, 2);
	ret->uid = (uint32_t)sqlite3_column_int64(s, 3);
	ret->gid = (uint32_t)sqlite3_column_int64(s, 4);
	ret->mtime = sqlite3_column_int64(s, 5);
	ret->ctime = sqlite3_column_int64(s, 6);
	text(s, 7, ret->cls, sizeof(ret->cls));
	return dfs_stmt_done(s, SQLITE_ROW);
}

static int env_by_id(struct dfs_store *st, int64_t id, struct env_row *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_env_by_id, &s, "i", id);

	return env_fill(s, rc, ret);
}

static int env_by_name(struct dfs_store *st, const char *name,
		       struct env_row *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_env_by_name, &s, "s", name);

	return env_fill(s, rc, ret);
}

static int dep_query(struct dfs_store *st, const char *sql, const char *fmt,
		     int64_t a, int64_t b, struct dep_row *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql, &s, fmt, a, b);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	ret->id = sqlite3_column_int64(s, 0);
	ret->number = sqlite3_column_int64(s, 1);
	text(s, 2, ret->component, sizeof(ret->component));
	text(s, 3, ret->version, sizeof(ret->version));
	ret->root = sqlite3_column_int64(s, 4);
	ret->package = sqlite3_column_int64(s, 5);
	ret->created = sqlite3_column_int64(s, 6);
	ret->uid = (uint32_t)sqlite3_column_int64(s, 7);
	text(s, 8, ret->created_by, sizeof(ret->created_by));
	ret->has_notes = sqlite3_column_type(s, 9) != SQLITE_NULL;
	ret->gid = (uint32_t)sqlite3_column_int64(s, 12);
	sqlite3_reset(s);
	return 0;
}

static int pkg_query(struct dfs_store *st, const char *sql, const char *fmt,
		     const void *a, const void *b, struct pkg_row *ret)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (fmt[0] == 'i')
		rc = dfs_query_sql(st, sql, &s, fmt, *(const int64_t *)a);
	else if (fmt[1])
		rc = dfs_query_sql(st, sql, &s, fmt, a, b);
	else
		rc = dfs_query_sql(st, sql, &s, fmt, a);
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	ret->id = sqlite3_column_int64(s, 0);
	ret->root = sqlite3_column_int64(s, 1);
	ret->comp = sqlite3_column_int64(s, 2);
	text(s, 3, ret->component, sizeof(ret->component));
	text(s, 4, ret->version, sizeof(ret->version));
	sqlite3_reset(s);
	return 0;
}

static int pkg_by_id(struct dfs_store *st, int64_t id, struct pkg_row *ret)
{
	return pkg_query(st, sql_pkg_by_id, "i", &id, NULL, ret);
}

/* The package a snapshot node belongs to: the snodes of one package are
 * one run of ids starting at its root. */
static int pkg_of_snode(struct dfs_store *st, int64_t snode,
			struct pkg_row *ret)
{
	return pkg_query(st, sql_pkg_of_snode, "i", &snode, NULL, ret);
}

static int one_int(struct dfs_store *st, const char *sql, const char *fmt,
		   int64_t a, int64_t b, int64_t *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql, &s, fmt, a, b);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	*ret = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

static int snode_info(struct dfs_store *st, int64_t id, struct snode_info *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_snode_info, &s, "i", id);
	int len;

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	ret->parent = sqlite3_column_int64(s, 0);
	ret->mode = (uint32_t)sqlite3_column_int64(s, 1);
	ret->size = (uint64_t)sqlite3_column_int64(s, 2);
	ret->has_blob = sqlite3_column_bytes(s, 3) == DFS_HASH_LEN;
	ret->blob = dfs_empty_hash;
	if (ret->has_blob)
		memcpy(ret->blob.b, sqlite3_column_blob(s, 3), DFS_HASH_LEN);
	len = sqlite3_column_bytes(s, 4);
	if (len > DFS_SYMLINK_MAX)
		len = DFS_SYMLINK_MAX;
	if (len > 0)
		memcpy(ret->target, sqlite3_column_blob(s, 4), (size_t)len);
	ret->target[len] = '\0';
	len = sqlite3_column_bytes(s, 5);
	if (len > DFS_NAME_MAX)
		len = DFS_NAME_MAX;
	if (len > 0)
		memcpy(ret->name, sqlite3_column_blob(s, 5), (size_t)len);
	ret->name[len] = '\0';
	sqlite3_reset(s);
	return 0;
}

static int snode_child(struct dfs_store *st, int64_t dir, const char *name,
		       int64_t *ret)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_snode_child, &s, "is", dir, name);

	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	*ret = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

/* The one child of dir whose name starts with prefix (-ENOENT: none or
 * several). */
static int snode_prefix(struct dfs_store *st, int64_t dir, const char *prefix,
			int64_t *ret)
{
	static const char sql[] = "SELECT id FROM snodes WHERE parent = ?1"
				  " AND substr(name, 1, ?2) = ?3 LIMIT 2";
	sqlite3_stmt *s = NULL;
	int n = 0, rc = dfs_query_sql(st, sql, &s, "iis", dir,
				      (int64_t)strlen(prefix), prefix);

	for (; rc == 1; rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0) {
		*ret = sqlite3_column_int64(s, 0);
		n++;
	}
	if (s)
		sqlite3_reset(s);
	return rc < 0 ? rc : n == 1 ? 0 : -ENOENT;
}

/* ---- the audit trail -------------------------------------------------------- */

/* ---- stages ------------------------------------------------------------------ */

static struct dfs_stage *stage_find(struct dfs_store *st, int64_t env,
				    int64_t package)
{
	for (struct dfs_stage *sg = st->trees->stages; sg; sg = sg->next)
		if (sg->env == env && sg->package == package)
			return sg;
	return NULL;
}

static void stage_drop(struct dfs_store *st, struct dfs_stage *sg)
{
	for (struct dfs_stage **p = &st->trees->stages; *p; p = &(*p)->next) {
		if (*p == sg) {
			*p = sg->next;
			break;
		}
	}
	if (sg->row && dfs_db_begin_lazy(st) == 0)
		(void)dfs_finish(
			st, dfs_exec_sql(st, sql_staging_delete, "i", sg->row));
	dfs_idset_free(&sg->made);
	dfs_idset_free(&sg->ok);
	dfs_idset_free(&sg->gone);
	free(sg);
}

static struct dfs_stage *stage_new(struct dfs_store *st,
				   const struct pkg_row *p, int64_t env,
				   bool staging, const struct dfs_actor *actor)
{
	struct dfs_stage *sg = calloc(1, sizeof(*sg));

	if (!sg)
		return NULL;
	sg->env = env;
	sg->package = p->id;
	sg->root = p->root;
	sg->staging = staging;
	sg->uid = actor->uid;
	sg->gid = actor->gid;
	snprintf(sg->name, sizeof(sg->name), "%s@%s", p->component, p->version);
	if (one_int(st, sql_tree_size, "i", p->root, 0, &sg->entries) < 0) {
		free(sg);
		return NULL;
	}
	sg->next = st->trees->stages;
	st->trees->stages = sg;
	return sg;
}

void dfs_env_free_locked(struct dfs_store *st)
{
	while (st->trees->stages) {
		struct dfs_stage *sg = st->trees->stages;

		st->trees->stages = sg->next;
		dfs_idset_free(&sg->made);
		dfs_idset_free(&sg->ok);
		dfs_idset_free(&sg->gone);
		free(sg);
	}
	while (st->trees->temps) {
		struct dfs_temp *t = st->trees->temps;

		st->trees->temps = t->next;
		free(t);
	}
}

/* ---- temporaries ------------------------------------------------------------- */

static struct dfs_temp *temp_by_ino(struct dfs_store *st, uint64_t ino)
{
	for (struct dfs_temp *t = st->trees->temps; t; t = t->next)
		if (DFS_INO_TEMP_BASE + t->id == ino)
			return t;
	return NULL;
}

static struct dfs_temp *temp_by_name(struct dfs_store *st, uint64_t parent,
				     const char *name)
{
	for (struct dfs_temp *t = st->trees->temps; t; t = t->next)
		if (t->parent == parent && strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static void temp_drop(struct dfs_store *st, struct dfs_temp *t)
{
	for (struct dfs_temp **p = &st->trees->temps; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	free(t);
}

static struct dfs_temp *temp_new(struct dfs_store *st, int64_t env,
				 uint64_t parent, const char *name,
				 uint32_t mode, const struct dfs_actor *actor)
{
	struct dfs_temp *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->id = ++st->trees->next_temp;
	t->env = env;
	t->parent = parent;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->mode = mode;
	t->uid = actor->uid;
	t->gid = actor->gid;
	t->ctime = dfs_now_ns();
	t->next = st->trees->temps;
	st->trees->temps = t;
	return t;
}

/*
 * The name a copy tool's temporary name stands for: rsync's .NAME.XXXXXX
 * and NAME.part.  false when name is not a temporary name.
 */
static bool temp_base(const char *name, char *buf, size_t cap)
{
	size_t len = strlen(name);

	if (len > 5 && strcmp(name + len - 5, ".part") == 0) {
		snprintf(buf, cap, "%.*s", (int)(len - 5), name);
		return true;
	}
	if (len > 9 && name[0] == '.' && name[len - 7] == '.') {
		for (size_t i = len - 6; i < len; i++) {
			char c = name[i];

			if (!((c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
				return false;
		}
		snprintf(buf, cap, "%.*s", (int)(len - 8), name + 1);
		return true;
	}
	return false;
}

/* ---- what is visible -------------------------------------------------------- */

/*
 * Where snode s of env stands: its package p, the active deployment of p
 * in env (*dep->id 0 if none) and its stage (NULL if none).  Visible: the
 * root of a deployed or staging package, or a node a deployed package
 * has and a re-copy did not remove, or a node a copy has made.
 */
static bool visible(struct dfs_store *st, int64_t env, int64_t s,
		    struct pkg_row *p, struct dep_row *dep,
		    struct dfs_stage **ret_sg)
{
	struct dfs_stage *sg;

	dep->id = 0;
	*ret_sg = NULL;
	if (pkg_of_snode(st, s, p) < 0)
		return false;
	sg = stage_find(st, env, p->id);
	*ret_sg = sg;
	if (dep_query(st, sql_dep_of_pkg, "ii", env, p->id, dep) < 0)
		dep->id = 0;
	if (dep->id)
		return s == p->root || !sg || !dfs_idset_has(&sg->gone, s);
	if (sg && sg->staging)
		return s == p->root || dfs_idset_has(&sg->made, s);
	return false;
}

/* ---- attributes ------------------------------------------------------------- */

static int env_attr(struct dfs_store *st, int64_t id, struct dfs_attr *ret)
{
	struct dfs_attr a = { 0 };
	struct env_row e;
	int rc = env_by_id(st, id, &e);

	if (rc < 0)
		return rc;
	a.ino = DFS_INO_ENV_BASE + (uint64_t)id;
	a.mode = S_IFDIR | (e.mode & 07777);
	a.uid = e.uid;
	a.gid = e.gid;
	a.nlink = 2;
	a.size = 4096;
	a.blocks = 8;
	a.mtime = a.atime = dfs_ns_to_ts(e.mtime);
	a.ctime = dfs_ns_to_ts(e.ctime);
	/* Its attributes change through the kernel (chmod, chown); what it
	 * lists changes as copies complete and others deploy. */
	a.flags = DFS_NODE_LIST_VOLATILE;
	*ret = a;
	return 0;
}

static void dep_target(const char *component, const char *version, char *buf,
		       size_t cap)
{
	snprintf(buf, cap, "../../packages/%s/%s@%s", component, component,
		 version);
}

static void link_attr(uint64_t ino, const char *component, const char *version,
		      uint32_t uid, uint32_t gid, int64_t when,
		      struct dfs_attr *ret)
{
	char target[DFS_SYMLINK_MAX + 1];

	dep_target(component, version, target, sizeof(target));
	memset(ret, 0, sizeof(*ret));
	ret->ino = ino;
	ret->mode = S_IFLNK | 0777;
	ret->nlink = 1;
	ret->uid = uid;
	ret->gid = gid;
	ret->size = strlen(target);
	ret->mtime = ret->ctime = ret->atime = dfs_ns_to_ts(when);
	ret->flags = DFS_NODE_VOLATILE;
}

static int deplink_attr(struct dfs_store *st, int64_t dep, struct dfs_attr *ret)
{
	struct dep_row d;
	int rc = dep_query(st, sql_dep_by_id, "i", dep, 0, &d);

	if (rc == 0)
		link_attr(DFS_INO_DEPLINK_BASE + (uint64_t)dep, d.component,
			  d.version, d.uid, d.gid, d.created, ret);
	return rc;
}

static int eview_attr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	int64_t env = dfs_eview_env(ino), s = dfs_eview_snode(ino);
	struct dfs_stage *sg = NULL;
	struct dfs_verify *v;
	struct pkg_row p;
	int rc = dfs_vnode_getattr_locked(st, DFS_INO_SNODE_BASE + (uint64_t)s,
					  ret);

	if (rc < 0)
		return rc;
	ret->ino = ino;
	ret->flags = 0;
	/* N@V comes and goes behind the kernel's back; what is below it is
	 * reached through it.  (The kernel keeps sizes of files being
	 * written itself.) */
	if (pkg_of_snode(st, s, &p) == 0) {
		sg = stage_find(st, env, p.id);
		if (s == p.root)
			ret->flags = DFS_NODE_ENTRY_VOLATILE;
	}
	if (sg && sg->staging) {
		/* A copy in progress belongs to whoever copies.  The kernel
		 * may keep that only where it is also what the deployed
		 * folder will show. */
		struct dfs_attr pkg = *ret;

		ret->uid = sg->uid;
		ret->gid = sg->gid;
		ret->mode |= S_ISDIR(ret->mode) ? S_IRWXU : S_IRUSR | S_IWUSR;
		if (ret->uid != pkg.uid || ret->gid != pkg.gid ||
		    ret->mode != pkg.mode)
			ret->flags = DFS_NODE_VOLATILE;
	}
	v = dfs_verify_find(st, ino);
	if (v && S_ISREG(ret->mode)) {
		ret->size = v->size;
	}
	return 0;
}

static int temp_attr(struct dfs_store *st, struct dfs_temp *t,
		     struct dfs_attr *ret)
{
	struct pkg_row p;

	if (t->is_link) {
		if (pkg_by_id(st, t->package, &p) < 0)
			return -ENOENT;
		link_attr(DFS_INO_TEMP_BASE + t->id, p.component, p.version,
			  t->uid, t->gid, t->ctime, ret);
		return 0;
	}
	memset(ret, 0, sizeof(*ret));
	ret->ino = DFS_INO_TEMP_BASE + t->id;
	ret->mode = S_IFREG | (t->mode & 07777);
	ret->nlink = 1;
	ret->uid = t->uid;
	ret->gid = t->gid;
	ret->size = t->v ? t->v->size : t->size;
	ret->mtime = ret->ctime = ret->atime = dfs_ns_to_ts(t->ctime);
	ret->flags = DFS_NODE_VOLATILE;
	return 0;
}

static int envs_attr(struct dfs_store *st, struct dfs_attr *ret)
{
	int64_t n = 0;
	int rc = dfs_node_row(st, DFS_INO_ENVIRONMENTS, ret);

	if (rc == 0 && one_int(st, sql_env_count, "", 0, 0, &n) == 0)
		ret->nlink = 2 + (uint32_t)n;
	ret->flags = DFS_NODE_VOLATILE | DFS_NODE_SYSTEM;
	return rc;
}

static int getattr_locked(struct dfs_store *st, uint64_t ino,
			  struct dfs_attr *ret)
{
	struct dfs_temp *t;

	if (ino == DFS_INO_ENVIRONMENTS)
		return envs_attr(st, ret);
	if (dfs_is_eview(ino))
		return eview_attr(st, ino, ret);
	if (ino >= DFS_INO_TEMP_BASE) {
		t = temp_by_ino(st, ino);
		return t ? temp_attr(st, t, ret) : -ENOENT;
	}
	if (ino >= DFS_INO_DEPLINK_BASE)
		return deplink_attr(st, (int64_t)(ino - DFS_INO_DEPLINK_BASE),
				    ret);
	return env_attr(st, (int64_t)(ino - DFS_INO_ENV_BASE), ret);
}

int dfs_env_getattr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret)
{
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = getattr_locked(st, ino, ret);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- lookup ------------------------------------------------------------------ */

/* Parse "N@V" into its package (-EINVAL not that form or no such
 * component, -ENOENT no such version). */
static int parse_pkg_name(struct dfs_store *st, const char *name,
			  struct pkg_row *ret)
{
	char comp[DFS_NAME_MAX + 1];
	const char *at = strchr(name, '@');
	struct dfs_component c;

	if (!at || at == name || (size_t)(at - name) > DFS_NAME_MAX ||
	    strchr(at + 1, '@') || !dfs_version_valid(at + 1))
		return -EINVAL;
	snprintf(comp, sizeof(comp), "%.*s", (int)(at - name), name);
	if (dfs_component_by_name(st, comp, &c) < 0)
		return -EINVAL;
	{
		const struct dfs_type *t = dfs_type_find(c.type);

		if (!t || !t->deployable)
			return -EINVAL;
	}
	return pkg_query(st, sql_pkg_by_version, "ss", comp, at + 1, ret);
}

static int lookup_in_env(struct dfs_store *st, int64_t env, uint64_t parent,
			 const char *name, struct dfs_attr *ret)
{
	struct dfs_component c;
	struct dfs_stage *sg;
	struct dfs_temp *t;
	struct pkg_row p;
	struct dep_row d;

	t = temp_by_name(st, parent, name);
	if (t)
		return temp_attr(st, t, ret);
	if (strchr(name, '@')) {
		if (parse_pkg_name(st, name, &p) < 0)
			return -ENOENT;
		sg = stage_find(st, env, p.id);
		if (dep_query(st, sql_dep_of_pkg, "ii", env, p.id, &d) < 0 &&
		    !(sg && sg->staging))
			return -ENOENT;
		return eview_attr(st, dfs_eview_ino(env, p.root), ret);
	}
	if (dfs_component_by_name(st, name, &c) < 0 ||
	    dep_query(st, sql_dep_of_comp, "ii", env, c.id, &d) < 0)
		return -ENOENT;
	return deplink_attr(st, d.id, ret);
}

static int lookup_in_view(struct dfs_store *st, uint64_t parent,
			  const char *name, struct dfs_attr *ret)
{
	int64_t env = dfs_eview_env(parent), s;
	struct dfs_stage *sg;
	struct dfs_temp *t;
	struct pkg_row p;
	struct dep_row d;

	t = temp_by_name(st, parent, name);
	if (t)
		return temp_attr(st, t, ret);
	if (snode_child(st, dfs_eview_snode(parent), name, &s) < 0)
		return -ENOENT;
	if (!visible(st, env, s, &p, &d, &sg))
		return -ENOENT;
	return eview_attr(st, dfs_eview_ino(env, s), ret);
}

int dfs_env_lookup(struct dfs_store *st, uint64_t parent, const char *name,
		   struct dfs_attr *ret)
{
	struct env_row e;
	int rc;

	if (strlen(name) > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&st->lock);
	if (parent == DFS_INO_ENVIRONMENTS) {
		rc = env_by_name(st, name, &e);
		if (rc == 0)
			rc = env_attr(st, e.id, ret);
	} else if (dfs_is_eview(parent)) {
		rc = lookup_in_view(st, parent, name, ret);
	} else if (parent >= DFS_INO_ENV_BASE &&
		   parent < DFS_INO_DEPLINK_BASE) {
		rc = lookup_in_env(st, (int64_t)(parent - DFS_INO_ENV_BASE),
				   parent, name, ret);
	} else {
		rc = -ENOTDIR;
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- listing ----------------------------------------------------------------- */

struct item {
	uint64_t off;
	uint64_t ino;
	char name[DFS_NAME_MAX + 1];
};

struct items {
	struct item *v;
	size_t n;
	size_t cap;
};

static int items_add(struct items *it, uint64_t off, uint64_t ino,
		     const char *name)
{
	if (it->n == it->cap) {
		size_t cap = it->cap ? 2 * it->cap : 32;
		void *nv = realloc(it->v, cap * sizeof(*it->v));

		if (!nv)
			return -ENOMEM;
		it->v = nv;
		it->cap = cap;
	}
	it->v[it->n].off = off;
	it->v[it->n].ino = ino;
	snprintf(it->v[it->n].name, sizeof(it->v[0].name), "%s", name);
	it->n++;
	return 0;
}

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Offsets: deployments 2 * id (+1 for N@V), stages 2^41 + root,
 * temporaries 2^42 + id, environments and snapshot nodes their ids. */
#define OFF_STAGE (1ull << 41)
#define OFF_TEMP (1ull << 42)

static int collect_env(struct dfs_store *st, int64_t env, uint64_t dir,
		       struct items *it)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_dep_active, &s, "ii", env, (int64_t)0);

	for (; rc == 1; rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0) {
		int64_t id = sqlite3_column_int64(s, 0);
		char comp[DFS_NAME_MAX + 1], name[2 * DFS_NAME_MAX + 2];

		text(s, 2, comp, sizeof(comp));
		snprintf(name, sizeof(name), "%s@%s", comp,
			 sqlite3_column_text(s, 3));
		rc = items_add(it, 2 * (uint64_t)id,
			       DFS_INO_DEPLINK_BASE + (uint64_t)id, comp);
		if (rc == 0)
			rc = items_add(
				it, 2 * (uint64_t)id + 1,
				dfs_eview_ino(env, sqlite3_column_int64(s, 4)),
				name);
		if (rc < 0)
			break;
	}
	if (s)
		sqlite3_reset(s);
	for (struct dfs_stage *sg = st->trees->stages; rc == 0 && sg;
	     sg = sg->next)
		if (sg->env == env && sg->staging)
			rc = items_add(it, OFF_STAGE + (uint64_t)sg->root,
				       dfs_eview_ino(env, sg->root), sg->name);
	for (struct dfs_temp *t = st->trees->temps; rc == 0 && t; t = t->next)
		if (t->parent == dir)
			rc = items_add(it, OFF_TEMP + t->id,
				       DFS_INO_TEMP_BASE + t->id, t->name);
	return rc;
}

static int collect_view(struct dfs_store *st, uint64_t dir, struct items *it)
{
	int64_t env = dfs_eview_env(dir);
	sqlite3_stmt *s = NULL;
	struct items kids = { 0 };
	int rc = dfs_query_sql(st, sql_snode_children, &s, "ii",
			       dfs_eview_snode(dir), (int64_t)0);

	for (; rc == 1; rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0) {
		char name[DFS_NAME_MAX + 1];
		int len = sqlite3_column_bytes(s, 1);

		if (len > DFS_NAME_MAX)
			continue;
		memcpy(name, sqlite3_column_blob(s, 1), (size_t)len);
		name[len] = '\0';
		rc = items_add(&kids, (uint64_t)sqlite3_column_int64(s, 0), 0,
			       name);
		if (rc < 0)
			break;
	}
	if (s)
		sqlite3_reset(s);
	for (size_t i = 0; rc == 0 && i < kids.n; i++) {
		struct dfs_stage *sg;
		struct pkg_row p;
		struct dep_row d;

		if (visible(st, env, (int64_t)kids.v[i].off, &p, &d, &sg))
			rc = items_add(
				it, kids.v[i].off,
				dfs_eview_ino(env, (int64_t)kids.v[i].off),
				kids.v[i].name);
	}
	free(kids.v);
	for (struct dfs_temp *t = st->trees->temps; rc == 0 && t; t = t->next)
		if (t->parent == dir)
			rc = items_add(it, OFF_TEMP + t->id,
				       DFS_INO_TEMP_BASE + t->id, t->name);
	return rc;
}

static int collect_envs(struct dfs_store *st, struct items *it)
{
	sqlite3_stmt *s = NULL;
	int rc = dfs_query_sql(st, sql_env_list, &s, "i", (int64_t)0);

	for (; rc == 1; rc = sqlite3_step(s) == SQLITE_ROW ? 1 : 0) {
		int64_t id = sqlite3_column_int64(s, 0);

		rc = items_add(it, (uint64_t)id,
			       DFS_INO_ENV_BASE + (uint64_t)id,
			       (const char *)sqlite3_column_text(s, 1));
		if (rc < 0)
			break;
	}
	if (s)
		sqlite3_reset(s);
	return rc;
}

int dfs_env_readdir(struct dfs_store *st, uint64_t ino, uint64_t off, bool hold,
		    dfs_readdir_fn fn, void *ctx)
{
	struct items it = { 0 };
	int rc;

	pthread_mutex_lock(&st->lock);
	if (ino == DFS_INO_ENVIRONMENTS)
		rc = collect_envs(st, &it);
	else if (dfs_is_eview(ino))
		rc = collect_view(st, ino, &it);
	else if (ino >= DFS_INO_ENV_BASE && ino < DFS_INO_DEPLINK_BASE)
		rc = collect_env(st, (int64_t)(ino - DFS_INO_ENV_BASE), ino,
				 &it);
	else
		rc = -ENOTDIR;
	if (rc == 0 && it.n > 1)
		qsort(it.v, it.n, sizeof(*it.v), item_cmp);
	for (size_t i = 0; rc == 0 && i < it.n; i++) {
		struct dfs_dirent de;

		if (it.v[i].off <= off ||
		    getattr_locked(st, it.v[i].ino, &de.attr) < 0)
			continue;
		de.name = it.v[i].name;
		de.off = it.v[i].off;
		if (fn(ctx, &de) != 0)
			break;
		if (hold)
			dfs_oinode_get(st, de.attr.ino)->holds++;
	}
	pthread_mutex_unlock(&st->lock);
	free(it.v);
	return rc;
}

int dfs_env_readlink(struct dfs_store *st, uint64_t ino, char *buf, size_t cap)
{
	struct dfs_attr a;
	struct pkg_row p;
	struct dep_row d;
	struct dfs_temp *t;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	if (dfs_is_eview(ino)) {
		struct snode_info si;

		rc = snode_info(st, dfs_eview_snode(ino), &si);
		if (rc == 0 && !S_ISLNK(si.mode))
			rc = -EINVAL;
		if (rc == 0)
			snprintf(buf, cap, "%s", si.target);
	} else if (ino >= DFS_INO_TEMP_BASE) {
		t = temp_by_ino(st, ino);
		rc = !t ? -ENOENT : !t->is_link ? -EINVAL : 0;
		if (rc == 0)
			rc = pkg_by_id(st, t->package, &p);
		if (rc == 0)
			dep_target(p.component, p.version, buf, cap);
	} else if (ino >= DFS_INO_DEPLINK_BASE) {
		rc = dep_query(st, sql_dep_by_id, "i",
			       (int64_t)(ino - DFS_INO_DEPLINK_BASE), 0, &d);
		if (rc == 0)
			dep_target(d.component, d.version, buf, cap);
	} else {
		rc = getattr_locked(st, ino, &a) < 0 ? -ENOENT : -EINVAL;
	}
	pthread_mutex_unlock(&st->lock);
	return rc < 0 ? rc : (int)strlen(buf);
}

/* ---- deploying ---------------------------------------------------------------- */

/* Drop the overlay of a package that is no longer deployed in env. */
static void forget_view(struct dfs_store *st, int64_t env, int64_t package)
{
	struct dfs_stage *sg = stage_find(st, env, package);

	if (sg && !sg->staging)
		stage_drop(st, sg);
}

/*
 * Deploy package p in env e: one durable transaction that ends the
 * active deployment of its component there (if any), records the new one
 * with its number and warning, and its audit row.  Deploying what is
 * already deployed changes nothing (recorded as unchanged).
 */
static int deploy_locked(struct dfs_store *st, const struct dfs_actor *actor,
			 const struct env_row *e, const struct pkg_row *p,
			 const char *via)
{
	struct dfs_audit_event ev = { 0 };
	char user[64], warning[512] = "", reason[600];
	struct dep_row old;
	int64_t number = 0, now = dfs_now_ns();
	bool has_old;
	sqlite3_stmt *s = NULL;
	int rc;

	has_old =
		dep_query(st, sql_dep_of_comp, "ii", e->id, p->comp, &old) == 0;
	ev.env = e->name;
	ev.component = p->component;
	ev.version = p->version;
	ev.from = has_old ? old.version : NULL;
	if (has_old && old.package == p->id) {
		ev.action = "deploy";
		ev.deployment = old.number;
		ev.result = "unchanged";
		ev.reason = "this version is already deployed";
		return dfs_audit_refusal_locked(st, actor, &ev);
	}
	rc = dfs_db_begin_whole(st);
	if (rc < 0)
		return rc;
	if (has_old) {
		rc = dfs_exec_sql(st, sql_dep_end, "ii", old.id, now);
		if (rc == 0)
			rc = dfs_exec_sql(st, sql_pkg_deployed, "ii",
					  old.package, (int64_t)-1);
	}
	if (rc == 0)
		rc = one_int(st, sql_dep_next, "ii", e->id, p->comp, &number);
	if (rc == 0 &&
	    dfs_query_sql(st, sql_unmet, &s, "ii", p->id, e->id) == 1) {
		if (sqlite3_column_type(s, 0) != SQLITE_NULL)
			snprintf(warning, sizeof(warning),
				 "requires %s, not deployed in %s",
				 sqlite3_column_text(s, 0), e->name);
		sqlite3_reset(s);
	}
	dfs_user_name(actor->uid, user, sizeof(user));
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_dep_insert, "iiiiisissis", e->id,
				  p->comp, p->id, number, now, user,
				  (int64_t)actor->uid, via,
				  warning[0] ? warning : (const char *)NULL,
				  (int64_t)actor->gid, p->version);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_pkg_deployed, "ii", p->id,
				  (int64_t)1);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_env_touch, "ii", e->id, now);
	ev.action = has_old && strverscmp(p->version, old.version) < 0
			    ? "rollback"
			    : "deploy";
	ev.deployment = number;
	ev.result = "ok";
	if (warning[0]) {
		snprintf(reason, sizeof(reason), "warning: %s", warning);
		ev.reason = reason;
	}
	if (rc == 0)
		rc = dfs_audit_record_locked(st, actor, &ev);
	if (rc == 0)
		rc = dfs_db_commit(st, true);
	else
		dfs_db_rollback(st);
	if (rc == 0 && has_old)
		forget_view(st, e->id, old.package);
	if (rc < 0)
		dfs_log(DFS_LOG_ERR, "deploy %s@%s to %s failed: %s",
			p->component, p->version, e->name, strerror(-rc));
	return rc;
}

static int undeploy_locked(struct dfs_store *st, const struct dfs_actor *actor,
			   const struct env_row *e, const struct dep_row *d)
{
	struct dfs_audit_event ev = { 0 };
	int64_t now = dfs_now_ns();
	int rc = dfs_db_begin_whole(st);

	if (rc < 0)
		return rc;
	rc = dfs_exec_sql(st, sql_dep_end, "ii", d->id, now);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_pkg_deployed, "ii", d->package,
				  (int64_t)-1);
	if (rc == 0)
		rc = dfs_exec_sql(st, sql_env_touch, "ii", e->id, now);
	ev.action = "undeploy";
	ev.env = e->name;
	ev.component = d->component;
	ev.version = d->version;
	ev.deployment = d->number;
	ev.result = "ok";
	if (rc == 0)
		rc = dfs_audit_record_locked(st, actor, &ev);
	if (rc == 0)
		rc = dfs_db_commit(st, true);
	else
		dfs_db_rollback(st);
	if (rc == 0)
		forget_view(st, e->id, d->package);
	return rc;
}

static void save_progress(struct dfs_store *st, struct dfs_stage *sg)
{
	if (sg->row && dfs_db_begin_lazy(st) == 0)
		(void)dfs_finish(st, dfs_exec_sql(st, sql_staging_done, "ii",
						  sg->row, (int64_t)sg->ok.n));
}

/* Entry snode of sg is in place and verified; the last one deploys. */
int dfs_env_stage_done_locked(struct dfs_store *st,
			      const struct dfs_actor *actor,
			      struct dfs_stage *sg, int64_t snode)
{
	struct env_row e;
	struct pkg_row p;
	int rc;

	if (!sg->staging) {
		dfs_idset_del(&sg->gone, snode);
		dfs_idset_del(&sg->made, snode);
		return 0;
	}
	if (snode != sg->root) {
		rc = dfs_idset_add(&sg->made, snode);
		if (rc == 0)
			rc = dfs_idset_add(&sg->ok, snode);
		if (rc < 0)
			return rc;
	}
	if ((int64_t)sg->ok.n < sg->entries) {
		save_progress(st, sg);
		return 0;
	}
	rc = env_by_id(st, sg->env, &e);
	if (rc == 0)
		rc = pkg_by_id(st, sg->package, &p);
	if (rc == 0)
		rc = deploy_locked(st, actor, &e, &p, "copy");
	if (rc < 0)
		return rc == -ENOENT ? -EIO : rc;
	/* The staging folder is now the deployed one. */
	if (sg->row && dfs_db_begin_lazy(st) == 0)
		(void)dfs_finish(
			st, dfs_exec_sql(st, sql_staging_delete, "i", sg->row));
	sg->row = 0;
	sg->staging = false;
	dfs_idset_free(&sg->made);
	dfs_idset_free(&sg->ok);
	return 0;
}

/* ---- creating ----------------------------------------------------------------- */

/* A link target naming a package: .../packages/N/N@V or .../packages/N/latest */
static int parse_target(struct dfs_store *st, const char *target,
			struct pkg_row *ret)
{
	char buf[DFS_SYMLINK_MAX + 1], *part[3] = { NULL, NULL, NULL };
	size_t len;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", target);
	len = strlen(buf);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	for (char *p = buf + len; n < 3;) {
		char *slash = NULL;

		for (char *q = p - 1; q >= buf; q--) {
			if (*q == '/') {
				slash = q;
				break;
			}
		}
		part[2 - n++] = slash ? slash + 1 : buf;
		if (!slash)
			break;
		*slash = '\0';
		p = slash;
	}
	if (n < 3 || strcmp(part[0], "packages") != 0)
		return -EINVAL;
	if (strcmp(part[2], "latest") == 0)
		return pkg_query(st, sql_pkg_latest, "s", part[1], NULL, ret) <
				       0
			       ? -EINVAL
			       : 0;
	if (parse_pkg_name(st, part[2], ret) < 0 ||
	    strcmp(ret->component, part[1]) != 0)
		return -EINVAL;
	return 0;
}

static int mkdir_env(struct dfs_store *st, const struct dfs_actor *actor,
		     const char *name, uint32_t mode, struct dfs_attr *ret)
{
	struct dfs_audit_event ev = { 0 };
	struct env_row e;
	char user[64];
	int rc;

	if (!dfs_name_valid(name)) {
		dfs_audit_refuse_locked(
			st, actor, "env-create", name, NULL, NULL, -EINVAL,
			"an environment name is 1-64 of A-Z a-z "
			"0-9 . _ -");
		return -EINVAL;
	}
	if (env_by_name(st, name, &e) == 0)
		return -EEXIST;
	dfs_user_name(actor->uid, user, sizeof(user));
	rc = dfs_db_begin_whole(st);
	if (rc < 0)
		return rc;
	rc = dfs_exec_sql(st, sql_env_insert, "siiiis", name,
			  (int64_t)(mode & 07777), (int64_t)actor->uid,
			  (int64_t)actor->gid, dfs_now_ns(), user);
	ev.action = "env-create";
	ev.env = name;
	ev.result = "ok";
	if (rc == 0)
		rc = dfs_audit_record_locked(st, actor, &ev);
	if (rc == 0)
		rc = dfs_db_commit(st, true);
	else
		dfs_db_rollback(st);
	if (rc == 0)
		rc = env_by_name(st, name, &e);
	if (rc == 0)
		rc = env_attr(st, e.id, ret);
	return rc;
}

/* mkdir ENV/N@V: a staging folder. */
static int mkdir_stage(struct dfs_store *st, const struct dfs_actor *actor,
		       const struct env_row *e, const char *name,
		       struct dfs_attr *ret)
{
	struct dfs_stage *sg;
	struct pkg_row p;
	struct dep_row d;
	char user[64];
	int rc = parse_pkg_name(st, name, &p);

	if (rc < 0) {
		/* ENOENT: a known component; name it in the record. */
		char comp[DFS_NAME_MAX + 1] = "";
		const char *at = strchr(name, '@');

		if (rc == -ENOENT && at)
			snprintf(comp, sizeof(comp), "%.*s", (int)(at - name),
				 name);
		dfs_audit_refuse_locked(
			st, actor, "deploy", e->name, comp[0] ? comp : NULL,
			comp[0] ? at + 1 : NULL, rc,
			rc == -ENOENT
				? "no such version of the component is packaged"
				: "not the name of a package (NAME@VERSION "
				  "of a deployable component)");
		return rc;
	}
	if (dep_query(st, sql_dep_of_pkg, "ii", e->id, p.id, &d) == 0)
		return -EEXIST;
	sg = stage_find(st, e->id, p.id);
	if (sg && sg->staging)
		return -EEXIST;
	if (sg)
		stage_drop(st, sg);
	sg = stage_new(st, &p, e->id, true, actor);
	if (!sg)
		return -ENOMEM;
	dfs_user_name(actor->uid, user, sizeof(user));
	rc = dfs_db_begin_lazy(st);
	if (rc == 0) {
		rc = dfs_exec_sql(st, sql_staging_insert, "iiisii", e->id, p.id,
				  dfs_now_ns(), user, (int64_t)actor->uid,
				  sg->entries);
		if (rc == 0)
			sg->row = sqlite3_last_insert_rowid(st->db);
		rc = dfs_finish(st, rc);
	}
	if (rc == 0 && sg->entries == 0)
		rc = dfs_env_stage_done_locked(st, actor, sg, sg->root);
	if (rc == 0)
		rc = eview_attr(st, dfs_eview_ino(e->id, p.root), ret);
	return rc;
}

/* A symlink in ENV: N deploys; another name waits for its rename. */
static int symlink_in_env(struct dfs_store *st, const struct dfs_actor *actor,
			  const struct env_row *e, uint64_t dir,
			  const char *name, const char *target,
			  struct dfs_attr *ret)
{
	struct dfs_component c;
	struct dfs_temp *t;
	struct pkg_row p;
	struct dep_row d;
	char why[DFS_SYMLINK_MAX + 96];
	int rc = parse_target(st, target, &p);

	if (rc == 0 &&
	    (strcmp(name, p.component) == 0 ||
	     dfs_component_by_name(st, name, &c) < 0) &&
	    !strchr(name, '@')) {
		if (strcmp(name, p.component) != 0) {
			t = temp_new(st, e->id, dir, name, 0777, actor);
			if (!t)
				return -ENOMEM;
			t->is_link = true;
			t->package = p.id;
			return temp_attr(st, t, ret);
		}
		if (dep_query(st, sql_dep_of_comp, "ii", e->id, p.comp, &d) ==
		    0)
			return -EEXIST;
		rc = deploy_locked(st, actor, e, &p, "link");
		if (rc == 0)
			rc = dep_query(st, sql_dep_of_comp, "ii", e->id, p.comp,
				       &d);
		return rc < 0 ? rc : deplink_attr(st, d.id, ret);
	}
	snprintf(why, sizeof(why),
		 rc < 0 ? "%s -> %s: not a package (../../packages/NAME/"
			  "NAME@VERSION or ../../packages/NAME/latest)"
			: "%s -> %s: a link to a package of one component "
			  "must be named after it",
		 name, target);
	dfs_audit_refuse_locked(st, actor, "deploy", e->name,
				rc < 0 ? NULL : name, NULL, -EINVAL, why);
	return -EINVAL;
}

/* Create name (mode's type) in the folder snode dir of env's view. */
static int create_in_view(struct dfs_store *st, const struct dfs_actor *actor,
			  uint64_t parent, const char *name, uint32_t mode,
			  const char *target, struct dfs_attr *ret)
{
	int64_t env = dfs_eview_env(parent), s = 0;
	struct dfs_stage *sg = NULL;
	struct snode_info si;
	struct env_row e;
	struct pkg_row p;
	struct dep_row d;
	char base[DFS_NAME_MAX + 1], why[2 * DFS_NAME_MAX + 64];
	int rc;

	if (!visible(st, env, dfs_eview_snode(parent), &p, &d, &sg))
		return -ENOENT;
	rc = env_by_id(st, env, &e);
	if (rc < 0)
		return rc;
	if (snode_child(st, dfs_eview_snode(parent), name, &s) == 0 &&
	    snode_info(st, s, &si) == 0 &&
	    (si.mode & S_IFMT) == (mode & S_IFMT) &&
	    (!S_ISLNK(mode) || strcmp(si.target, target) == 0)) {
		struct dfs_attr a;

		if (visible(st, env, s, &p, &d, &sg))
			return -EEXIST;
		if (!sg) {
			sg = stage_new(st, &p, env, false, actor);
			if (!sg)
				return -ENOMEM;
		}
		if (S_ISREG(mode)) {
			/* Made, empty: verified at its close. */
			rc = dfs_idset_add(&sg->made, s);
			dfs_idset_del(&sg->gone, s);
		} else {
			rc = dfs_env_stage_done_locked(st, actor, sg, s);
		}
		if (rc == 0)
			rc = eview_attr(st, dfs_eview_ino(env, s), &a);
		if (rc == 0)
			*ret = a;
		return rc;
	}
	if (S_ISREG(mode) && s && S_ISLNK(si.mode)) {
		/* tar extracts a link as an empty placeholder first, and
		 * swaps in the link at the end. */
		struct dfs_temp *t =
			temp_new(st, env, parent, name, mode, actor);

		return t ? temp_attr(st, t, ret) : -ENOMEM;
	}
	if (S_ISREG(mode) && temp_base(name, base, sizeof(base))) {
		struct dfs_temp *t =
			temp_new(st, env, parent, name, mode, actor);

		if (!t)
			return -ENOMEM;
		if (snode_child(st, dfs_eview_snode(parent), base, &s) == 0 &&
		    snode_info(st, s, &si) == 0 && S_ISREG(si.mode))
			t->expect = s;
		/* rsync cuts NAME to fit .NAME.XXXXXX in 255 bytes */
		if (!t->expect && strlen(name) > 200 &&
		    snode_prefix(st, dfs_eview_snode(parent), base, &s) == 0 &&
		    snode_info(st, s, &si) == 0 && S_ISREG(si.mode))
			t->expect = s;
		/* rsync's temporary of .NAME is .NAME.XXXXXX too */
		if (!t->expect && name[0] == '.') {
			char dotted[DFS_NAME_MAX + 2];

			snprintf(dotted, sizeof(dotted), ".%s", base);
			if (snode_child(st, dfs_eview_snode(parent), dotted,
					&s) == 0 &&
			    snode_info(st, s, &si) == 0 && S_ISREG(si.mode))
				t->expect = s;
		}
		return temp_attr(st, t, ret);
	}
	snprintf(why, sizeof(why), "%s is not in %s@%s%s", name, p.component,
		 p.version,
		 s ? (S_ISLNK(mode) ? " as a link to that target"
				    : " as that type")
		   : "");
	dfs_audit_refuse_locked(st, actor, "deploy", e.name, p.component,
				p.version, -EPERM, why);
	return -EPERM;
}

int dfs_env_create(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint32_t mode,
		   const char *target, struct dfs_attr *ret)
{
	struct env_row e;
	int rc;

	if (strlen(name) > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&st->lock);
	if (parent == DFS_INO_ENVIRONMENTS) {
		rc = S_ISDIR(mode) ? mkdir_env(st, actor, name, mode, ret)
				   : -EPERM;
	} else if (dfs_is_eview(parent)) {
		rc = create_in_view(st, actor, parent, name, mode, target, ret);
	} else if (parent >= DFS_INO_ENV_BASE &&
		   parent < DFS_INO_DEPLINK_BASE) {
		rc = env_by_id(st, (int64_t)(parent - DFS_INO_ENV_BASE), &e);
		if (rc == 0 && S_ISDIR(mode))
			rc = mkdir_stage(st, actor, &e, name, ret);
		else if (rc == 0 && S_ISLNK(mode))
			rc = symlink_in_env(st, actor, &e, parent, name, target,
					    ret);
		else if (rc == 0) {
			dfs_audit_refuse_locked(st, actor, "deploy", e.name,
						NULL, NULL, -EPERM,
						"only packages (folders or "
						"links) go in an environment");
			rc = -EPERM;
		}
	} else {
		rc = -ENOTDIR;
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int dfs_env_record_denied(struct dfs_store *st, const struct dfs_actor *actor,
			  uint64_t ino)
{
	char why[DFS_LABEL_MAX + 96];
	struct env_row e;
	int rc;

	if (ino < DFS_INO_ENV_BASE || ino >= DFS_INO_DEPLINK_BASE)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	rc = env_by_id(st, (int64_t)(ino - DFS_INO_ENV_BASE), &e);
	if (rc == 0) {
		snprintf(why, sizeof(why),
			 "no write permission on environments/%s (refused by "
			 "the kernel)",
			 e.name);
		dfs_audit_refuse_locked(st, actor, "access", e.name, NULL, NULL,
					-EACCES, why);
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- removing ----------------------------------------------------------------- */

static int rmdir_env(struct dfs_store *st, const struct dfs_actor *actor,
		     const char *name)
{
	struct dfs_audit_event ev = { 0 };
	struct env_row e;
	int64_t busy = 0;
	int rc = env_by_name(st, name, &e);

	if (rc < 0)
		return rc;
	rc = one_int(st, sql_env_busy, "i", e.id, 0, &busy);
	for (struct dfs_stage *sg = st->trees->stages; sg; sg = sg->next)
		busy += sg->env == e.id && sg->staging;
	for (struct dfs_temp *t = st->trees->temps; t; t = t->next)
		busy += t->env == e.id;
	if (rc == 0 && busy) {
		dfs_audit_refuse_locked(
			st, actor, "env-remove", name, NULL, NULL, -ENOTEMPTY,
			"something is deployed or staging there");
		return -ENOTEMPTY;
	}
	if (rc == 0)
		rc = dfs_db_begin_whole(st);
	if (rc < 0)
		return rc;
	rc = dfs_exec_sql(st, sql_env_remove, "i", e.id);
	ev.action = "env-remove";
	ev.env = name;
	ev.result = "ok";
	if (rc == 0)
		rc = dfs_audit_record_locked(st, actor, &ev);
	if (rc == 0)
		return dfs_db_commit(st, true);
	dfs_db_rollback(st);
	return rc;
}

static int remove_in_env(struct dfs_store *st, const struct dfs_actor *actor,
			 int64_t env, uint64_t dir, const char *name,
			 bool isdir)
{
	struct dfs_audit_event ev = { 0 };
	struct dfs_component c;
	struct dfs_stage *sg;
	struct dfs_temp *t;
	struct env_row e;
	struct pkg_row p;
	struct dep_row d;
	int rc = env_by_id(st, env, &e);

	if (rc < 0)
		return rc;
	t = temp_by_name(st, dir, name);
	if (t) {
		if (isdir)
			return -ENOTDIR;
		temp_drop(st, t);
		return 0;
	}
	if (!strchr(name, '@')) {
		if (dfs_component_by_name(st, name, &c) < 0 ||
		    dep_query(st, sql_dep_of_comp, "ii", env, c.id, &d) < 0)
			return -ENOENT;
		return isdir ? -ENOTDIR : undeploy_locked(st, actor, &e, &d);
	}
	if (parse_pkg_name(st, name, &p) < 0)
		return -ENOENT;
	if (!isdir)
		return -EISDIR;
	if (dep_query(st, sql_dep_of_pkg, "ii", env, p.id, &d) == 0)
		return undeploy_locked(st, actor, &e, &d);
	sg = stage_find(st, env, p.id);
	if (!sg || !sg->staging)
		return -ENOENT;
	ev.action = "staging-remove";
	ev.env = e.name;
	ev.component = p.component;
	ev.version = p.version;
	ev.result = "ok";
	stage_drop(st, sg);
	return dfs_audit_refusal_locked(st, actor, &ev);
}

static int remove_in_view(struct dfs_store *st, uint64_t dir, const char *name,
			  bool isdir)
{
	int64_t env = dfs_eview_env(dir), s, kid;
	struct dfs_stage *sg;
	struct snode_info si;
	struct dfs_temp *t;
	struct pkg_row p;
	struct dep_row d;
	sqlite3_stmt *q = NULL;
	int rc;

	t = temp_by_name(st, dir, name);
	if (t) {
		if (isdir)
			return -ENOTDIR;
		temp_drop(st, t);
		return 0;
	}
	if (snode_child(st, dfs_eview_snode(dir), name, &s) < 0 ||
	    !visible(st, env, s, &p, &d, &sg) || snode_info(st, s, &si) < 0)
		return -ENOENT;
	if (isdir != S_ISDIR(si.mode))
		return isdir ? -ENOTDIR : -EISDIR;
	if (isdir) {
		rc = dfs_query_sql(st, sql_snode_children, &q, "ii", s,
				   (int64_t)0);
		for (; rc == 1; rc = sqlite3_step(q) == SQLITE_ROW ? 1 : 0) {
			struct dfs_stage *sg2;

			kid = sqlite3_column_int64(q, 0);
			if (visible(st, env, kid, &p, &d, &sg2)) {
				rc = -ENOTEMPTY;
				break;
			}
		}
		if (q)
			sqlite3_reset(q);
		if (rc < 0)
			return rc;
		for (t = st->trees->temps; t; t = t->next)
			if (t->parent == dfs_eview_ino(env, s))
				return -ENOTEMPTY;
	}
	if (!sg) {
		struct dfs_actor nobody = { 0 };

		sg = stage_new(st, &p, env, false, &nobody);
		if (!sg)
			return -ENOMEM;
	}
	if (!sg->staging) {
		dfs_idset_del(&sg->made, s);
		return dfs_idset_add(&sg->gone, s);
	}
	dfs_idset_del(&sg->made, s);
	if (dfs_idset_has(&sg->ok, s)) {
		dfs_idset_del(&sg->ok, s);
		save_progress(st, sg);
	}
	return 0;
}

int dfs_env_remove(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, bool dir)
{
	int rc;

	pthread_mutex_lock(&st->lock);
	if (parent == DFS_INO_ENVIRONMENTS)
		rc = dir ? rmdir_env(st, actor, name) : -EISDIR;
	else if (dfs_is_eview(parent))
		rc = remove_in_view(st, parent, name, dir);
	else if (parent >= DFS_INO_ENV_BASE && parent < DFS_INO_DEPLINK_BASE)
		rc = remove_in_env(st, actor,
				   (int64_t)(parent - DFS_INO_ENV_BASE), parent,
				   name, dir);
	else
		rc = -ENOTDIR;
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- renaming ----------------------------------------------------------------- */

/* A temporary file renamed to the name it stands for puts it in place. */
static int rename_temp_file(struct dfs_store *st, const struct dfs_actor *actor,
			    struct dfs_temp *t, uint64_t newparent,
			    const char *newname)
{
	int64_t env = t->env, s = 0;
	struct dfs_stage *sg = NULL;
	struct snode_info si;
	struct env_row e;
	struct pkg_row p;
	struct dep_row d;
	char why[1024];
	int rc;

	rc = env_by_id(st, env, &e);
	if (rc < 0)
		return rc;
	visible(st, env, dfs_eview_snode(t->parent), &p, &d, &sg);
	if (newparent != t->parent ||
	    snode_child(st, dfs_eview_snode(t->parent), newname, &s) < 0 ||
	    s != t->expect || snode_info(st, s, &si) < 0 || !S_ISREG(si.mode))
		snprintf(why, sizeof(why), "%s is not in %s@%s", newname,
			 p.component, p.version);
	else if (!t->verified)
		snprintf(why, sizeof(why), "%s: its content differs from %s@%s",
			 newname, p.component, p.version);
	else
		why[0] = '\0';
	if (why[0]) {
		dfs_audit_refuse_locked(st, actor, "deploy", e.name,
					p.component, p.version, -EPERM, why);
		return -EPERM;
	}
	if (!sg) {
		sg = stage_new(st, &p, env, false, actor);
		if (!sg)
			return -ENOMEM;
	}
	temp_drop(st, t);
	return dfs_env_stage_done_locked(st, actor, sg, s);
}

static int rename_temp_link(struct dfs_store *st, const struct dfs_actor *actor,
			    struct dfs_temp *t, uint64_t newparent,
			    const char *newname)
{
	struct env_row e;
	struct pkg_row p;
	char why[1024];
	int rc = env_by_id(st, t->env, &e);

	if (rc == 0)
		rc = pkg_by_id(st, t->package, &p);
	if (rc < 0)
		return rc;
	if (newparent != t->parent)
		return -EXDEV;
	if (strcmp(newname, p.component) != 0) {
		snprintf(why, sizeof(why),
			 "a link to %s@%s must be named %s, not %s",
			 p.component, p.version, p.component, newname);
		dfs_audit_refuse_locked(st, actor, "deploy", e.name,
					p.component, p.version, -EINVAL, why);
		return -EINVAL;
	}
	rc = deploy_locked(st, actor, &e, &p, "link");
	if (rc == 0)
		temp_drop(st, t);
	return rc;
}

int dfs_env_rename(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint64_t newparent,
		   const char *newname, unsigned flags)
{
	struct dfs_temp *t;
	int rc = -EXDEV;

	if (strlen(newname) > DFS_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&st->lock);
	t = dfs_is_env_ino(parent) ? temp_by_name(st, parent, name) : NULL;
	if (t && (flags & DFS_RENAME_EXCHANGE))
		rc = -EINVAL;
	else if (t && t->is_link)
		rc = rename_temp_link(st, actor, t, newparent, newname);
	else if (t && dfs_is_eview(parent))
		rc = rename_temp_file(st, actor, t, newparent, newname);
	else if (parent == DFS_INO_ENVIRONMENTS ||
		 newparent == DFS_INO_ENVIRONMENTS)
		rc = -EPERM;
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- attributes that change ------------------------------------------------------ */

static int setattr_env(struct dfs_store *st, int64_t id,
		       const struct dfs_setattr *sa, struct dfs_attr *ret)
{
	struct env_row e;
	int64_t now = dfs_now_ns(), mtime;
	int rc = env_by_id(st, id, &e);

	if (rc < 0)
		return rc;
	if (sa->valid & DFS_SET_SIZE)
		return -EISDIR;
	if (sa->valid & DFS_SET_MODE)
		e.mode = sa->mode & 07777;
	if (sa->valid & DFS_SET_UID)
		e.uid = sa->uid;
	if (sa->valid & DFS_SET_GID)
		e.gid = sa->gid;
	mtime = (sa->valid & DFS_SET_MTIME)	  ? dfs_ts_to_ns(sa->mtime)
		: (sa->valid & DFS_SET_MTIME_NOW) ? now
						  : e.mtime;
	rc = dfs_db_begin(st);
	if (rc == 0)
		rc = dfs_finish(st,
				dfs_exec_sql(st, sql_env_setattr, "iiiiii", id,
					     (int64_t)e.mode, (int64_t)e.uid,
					     (int64_t)e.gid, mtime, now));
	return rc < 0 ? rc : env_attr(st, id, ret);
}

int dfs_env_setattr(struct dfs_store *st, uint64_t ino,
		    const struct dfs_setattr *sa, struct dfs_attr *ret)
{
	struct dfs_stage *sg = NULL;
	struct dfs_verify *v;
	struct pkg_row p;
	struct dfs_temp *t;
	int rc;

	pthread_mutex_lock(&st->lock);
	if (ino >= DFS_INO_ENV_BASE && ino < DFS_INO_DEPLINK_BASE) {
		rc = setattr_env(st, (int64_t)(ino - DFS_INO_ENV_BASE), sa,
				 ret);
		goto out;
	}
	rc = getattr_locked(st, ino, ret);
	if (rc < 0)
		goto out;
	v = dfs_verify_find(st, ino);
	t = ino >= DFS_INO_TEMP_BASE && !dfs_is_eview(ino)
		    ? temp_by_ino(st, ino)
		    : NULL;
	if ((sa->valid & DFS_SET_SIZE) && v) {
		rc = dfs_verify_truncate(st, v, sa->size);
		if (rc == 0)
			rc = getattr_locked(st, ino, ret);
		goto out;
	}
	if (t) {
		/* A copy tool setting what it will rename into place. */
		if (sa->valid & DFS_SET_MODE)
			t->mode = sa->mode & 07777;
		rc = temp_attr(st, t, ret);
		goto out;
	}
	if (dfs_is_eview(ino) &&
	    pkg_of_snode(st, dfs_eview_snode(ino), &p) == 0)
		sg = stage_find(st, dfs_eview_env(ino), p.id);
	/* Staging: the deployed folder shows the package's metadata, so
	 * whatever a copy sets is let through and left aside. */
	if (sg && sg->staging && !(sa->valid & DFS_SET_SIZE))
		goto out;
	/* A link N or a pending link shows when it was deployed or made:
	 * mv and cp -a restoring a link's times change nothing. */
	if (S_ISLNK(ret->mode) && !dfs_is_eview(ino) &&
	    !(sa->valid & ~(DFS_SET_ATIME | DFS_SET_MTIME | DFS_SET_ATIME_NOW |
			    DFS_SET_MTIME_NOW | DFS_SET_CTIME)))
		goto out;
	if (!dfs_setattr_is_noop(ret, sa))
		rc = ino == DFS_INO_ENVIRONMENTS ? -EPERM : -EROFS;
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- extended attributes ----------------------------------------------------- */

static int put_value(const char *v, void *buf, size_t cap)
{
	size_t len = strlen(v);

	if (cap && len > cap)
		return -ERANGE;
	if (cap)
		memcpy(buf, v, len);
	return (int)len;
}

static const char *const view_keys[] = {
	"state",       "progress", "deployment", "deployed",
	"deployed_by", "notes",	   "warning",
};

/* The deployment's own attributes on ENV/N@V; NULL value: not set. */
static int view_value(struct dfs_store *st, int64_t env,
		      const struct pkg_row *p, const char *key, char *buf,
		      size_t cap)
{
	struct dfs_stage *sg = stage_find(st, env, p->id);
	struct dep_row d;
	sqlite3_stmt *s = NULL;
	bool deployed =
		dep_query(st, sql_dep_of_pkg, "ii", env, p->id, &d) == 0;
	static const char sql_dep_text[] =
		"SELECT notes, warning FROM deployments WHERE id = ?1";

	buf[0] = '\0';
	if (strcmp(key, "state") == 0) {
		snprintf(buf, cap, "%s", deployed ? "deployed" : "staging");
	} else if (strcmp(key, "progress") == 0) {
		if (deployed || !sg)
			snprintf(buf, cap, "%lld/%lld",
				 (long long)(sg ? sg->entries : 0),
				 (long long)(sg ? sg->entries : 0));
		else
			snprintf(buf, cap, "%zu/%lld", sg->ok.n,
				 (long long)sg->entries);
		if (deployed && !sg) {
			int64_t n = 0;

			(void)one_int(st, sql_tree_size, "i", p->root, 0, &n);
			snprintf(buf, cap, "%lld/%lld", (long long)n,
				 (long long)n);
		}
	} else if (!deployed) {
		return -ENODATA;
	} else if (strcmp(key, "deployment") == 0) {
		snprintf(buf, cap, "%lld", (long long)d.number);
	} else if (strcmp(key, "deployed") == 0) {
		dfs_iso_time(d.created, buf, cap);
	} else if (strcmp(key, "deployed_by") == 0) {
		snprintf(buf, cap, "%s", d.created_by);
	} else if (dfs_query_sql(st, sql_dep_text, &s, "i", d.id) == 1) {
		int col = strcmp(key, "notes") == 0 ? 0 : 1;

		if (sqlite3_column_type(s, col) != SQLITE_NULL)
			snprintf(buf, cap, "%s", sqlite3_column_text(s, col));
		sqlite3_reset(s);
		if (!buf[0])
			return -ENODATA;
	}
	return 0;
}

static bool is_view_key(const char *key)
{
	for (size_t i = 0; i < sizeof(view_keys) / sizeof(*view_keys); i++)
		if (strcmp(key, view_keys[i]) == 0)
			return true;
	return false;
}

int dfs_env_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
		      void *buf, size_t cap)
{
	char val[1024];
	struct env_row e;
	struct pkg_row p;
	int rc = -ENODATA;

	pthread_mutex_lock(&st->lock);
	if (ino >= DFS_INO_ENV_BASE && ino < DFS_INO_DEPLINK_BASE) {
		rc = env_by_id(st, (int64_t)(ino - DFS_INO_ENV_BASE), &e);
		if (rc == 0)
			rc = strcmp(name, XATTR_PREFIX "classification") == 0 &&
					     e.cls[0]
				     ? put_value(e.cls, buf, cap)
				     : -ENODATA;
	} else if (dfs_is_eview(ino)) {
		int64_t s = dfs_eview_snode(ino);
		const char *key = name + strlen(XATTR_PREFIX);

		rc = pkg_of_snode(st, s, &p);
		if (rc == 0 && s == p.root &&
		    strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) == 0 &&
		    is_view_key(key) && strcmp(key, "notes") != 0) {
			rc = view_value(st, dfs_eview_env(ino), &p, key, val,
					sizeof(val));
			if (rc == 0)
				rc = put_value(val, buf, cap);
		} else if (rc == 0 && s == p.root &&
			   strcmp(key, "notes") == 0 &&
			   view_value(st, dfs_eview_env(ino), &p, key, val,
				      sizeof(val)) == 0) {
			rc = put_value(val, buf, cap);
		} else if (rc == 0) {
			rc = dfs_pkg_xattr_get_locked(st, s, name, buf, cap);
			rc = rc == -ENOENT ? -ENODATA : rc;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int add_name(char *buf, size_t cap, size_t *total, const char *name)
{
	size_t len = strlen(name) + 1;

	if (cap && *total + len > cap)
		return -ERANGE;
	if (cap)
		memcpy(buf + *total, name, len);
	*total += len;
	return 0;
}

int dfs_env_xattr_list(struct dfs_store *st, uint64_t ino, char *buf,
		       size_t cap)
{
	char val[1024], name[96];
	size_t total = 0;
	struct env_row e;
	struct pkg_row p;
	int rc = 0, n;

	pthread_mutex_lock(&st->lock);
	if (ino >= DFS_INO_ENV_BASE && ino < DFS_INO_DEPLINK_BASE) {
		rc = env_by_id(st, (int64_t)(ino - DFS_INO_ENV_BASE), &e);
		if (rc == 0 && e.cls[0])
			rc = add_name(buf, cap, &total,
				      XATTR_PREFIX "classification");
	} else if (dfs_is_eview(ino) &&
		   pkg_of_snode(st, dfs_eview_snode(ino), &p) == 0 &&
		   p.root == dfs_eview_snode(ino)) {
		for (size_t i = 0;
		     rc == 0 && i < sizeof(view_keys) / sizeof(*view_keys);
		     i++) {
			if (view_value(st, dfs_eview_env(ino), &p, view_keys[i],
				       val, sizeof(val)) < 0)
				continue;
			snprintf(name, sizeof(name), XATTR_PREFIX "%s",
				 view_keys[i]);
			rc = add_name(buf, cap, &total, name);
		}
		n = rc < 0 ? rc
			   : dfs_pkg_xattr_list_locked(st, p.root,
						       cap ? buf + total : NULL,
						       cap ? cap - total : 0);
		/* The package's keys, without the ones shown above. */
		if (n > 0) {
			size_t w = total, r = total, end = total + (size_t)n;

			for (; cap && r < end; r += strlen(buf + r) + 1) {
				const char *key =
					buf + r + strlen(XATTR_PREFIX);

				if (is_view_key(key))
					continue;
				memmove(buf + w, buf + r, strlen(buf + r) + 1);
				w += strlen(buf + w) + 1;
			}
			total = cap ? w : total + (size_t)n;
		}
		rc = n < 0 ? n : rc;
	}
	pthread_mutex_unlock(&st->lock);
	return rc < 0 ? rc : (int)total;
}

static int classify(struct dfs_store *st, const struct dfs_actor *actor,
		    int64_t id, const char *value, size_t size)
{
	struct dfs_audit_event ev = { 0 };
	char v[16];
	struct env_row e;
	int rc = env_by_id(st, id, &e);

	if (rc < 0)
		return rc;
	snprintf(v, sizeof(v), "%.*s", (int)(size < 15 ? size : 15), value);
	if (size >= sizeof(v) ||
	    (strcmp(v, "test") != 0 && strcmp(v, "production") != 0)) {
		dfs_audit_refuse_locked(st, actor, "classification", e.name,
					NULL, NULL, -EINVAL,
					"the classification is test or "
					"production");
		return -EINVAL;
	}
	if (e.cls[0]) {
		dfs_audit_refuse_locked(st, actor, "classification", e.name,
					NULL, NULL, -EPERM,
					"the classification is set once");
		return -EPERM;
	}
	rc = dfs_db_begin_whole(st);
	if (rc < 0)
		return rc;
	rc = dfs_exec_sql(st, sql_env_classify, "is", id, v);
	ev.action = "classification";
	ev.env = e.name;
	ev.result = "ok";
	ev.reason = v;
	if (rc == 0)
		rc = dfs_audit_record_locked(st, actor, &ev);
	if (rc == 0)
		return dfs_db_commit(st, true);
	dfs_db_rollback(st);
	return rc;
}

static int set_notes(struct dfs_store *st, const struct dfs_actor *actor,
		     int64_t env, const struct pkg_row *p, const char *value,
		     size_t size)
{
	struct dfs_audit_event ev = { 0 };
	struct env_row e;
	struct dep_row d;
	char *notes;
	int rc = env_by_id(st, env, &e);

	if (rc == 0)
		rc = dep_query(st, sql_dep_of_pkg, "ii", env, p->id, &d);
	if (rc < 0)
		return -EROFS; /* staging: nothing to note yet */
	if (d.has_notes) {
		dfs_audit_refuse_locked(st, actor, "notes", e.name,
					p->component, p->version, -EPERM,
					"notes are immutable once written");
		return -EPERM;
	}
	notes = strndup(value, size);
	if (!notes)
		return -ENOMEM;
	rc = dfs_db_begin_whole(st);
	if (rc == 0) {
		rc = dfs_exec_sql(st, sql_dep_notes, "is", d.id, notes);
		ev.action = "notes";
		ev.env = e.name;
		ev.component = p->component;
		ev.version = p->version;
		ev.deployment = d.number;
		ev.result = "ok";
		if (rc == 0)
			rc = dfs_audit_record_locked(st, actor, &ev);
		if (rc == 0)
			rc = dfs_db_commit(st, true);
		else
			dfs_db_rollback(st);
	}
	free(notes);
	return rc;
}

/* cp -a copies the notes of the package (or of the deployment it copies
 * from): the same text again changes nothing. */
static bool same_notes(struct dfs_store *st, int64_t env,
		       const struct pkg_row *p, const void *value, size_t size)
{
	char cur[1024];
	int n = dfs_pkg_xattr_get_locked(st, p->root, XATTR_PREFIX "notes", cur,
					 sizeof(cur));

	if (n >= 0 && (size_t)n == size && memcmp(cur, value, size) == 0)
		return true;
	if (view_value(st, env, p, "notes", cur, sizeof(cur)) < 0)
		return false;
	return strlen(cur) == size && memcmp(cur, value, size) == 0;
}

int dfs_env_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, const char *name, const void *value,
		      size_t size)
{
	char cur[1024];
	struct pkg_row p;
	int rc = -EPERM, n;

	pthread_mutex_lock(&st->lock);
	if (ino >= DFS_INO_ENV_BASE && ino < DFS_INO_DEPLINK_BASE) {
		if (strcmp(name, XATTR_PREFIX "classification") == 0)
			rc = classify(st, actor,
				      (int64_t)(ino - DFS_INO_ENV_BASE), value,
				      size);
	} else if (dfs_is_eview(ino) &&
		   pkg_of_snode(st, dfs_eview_snode(ino), &p) == 0) {
		bool root = p.root == dfs_eview_snode(ino);
		struct dfs_stage *sg = stage_find(st, dfs_eview_env(ino), p.id);

		if (root && strcmp(name, XATTR_PREFIX "notes") == 0 &&
		    !(sg && sg->staging) &&
		    !same_notes(st, dfs_eview_env(ino), &p, value, size)) {
			rc = set_notes(st, actor, dfs_eview_env(ino), &p, value,
				       size);
		} else if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) ==
				   0 ||
			   (sg && sg->staging)) {
			/* cp -a copying the package's (or another
			 * environment's) attributes: let through. */
			rc = 0;
		} else {
			n = dfs_pkg_xattr_get_locked(st, dfs_eview_snode(ino),
						     name, cur, sizeof(cur));
			rc = n >= 0 && (size_t)n == size &&
					     memcmp(cur, value, size) == 0
				     ? 0
				     : -EROFS;
		}
	} else {
		rc = -EROFS;
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* ---- opening files --------------------------------------------------------------- */

/* Does the view's file ino show the package's bytes (not a file a copy
 * has just made, empty until written)? */
static bool holds_package_bytes(struct dfs_store *st, uint64_t ino)
{
	int64_t s = dfs_eview_snode(ino);
	struct dfs_stage *sg;
	struct pkg_row p;

	if (pkg_of_snode(st, s, &p) < 0)
		return false;
	sg = stage_find(st, dfs_eview_env(ino), p.id);
	if (!sg)
		return true;
	return sg->staging ? dfs_idset_has(&sg->ok, s)
			   : !dfs_idset_has(&sg->made, s);
}

/*
 * close() of a file written under environments/: complete and identical
 * puts it in place (the last entry of a copy deploys it); otherwise EIO,
 * recorded.  A temporary file only remembers the verdict for its rename.
 */
int dfs_env_flush(struct dfs_store *st, struct dfs_file *f)
{
	struct dfs_verify *v = f->v;
	struct dfs_stage *sg;
	struct dfs_temp *t;
	struct env_row e;
	struct pkg_row p;
	char why[DFS_NAME_MAX + 128];
	const char *name = "a file";
	struct snode_info si;
	int64_t s, env;
	bool complete;
	int rc = 0;

	if ((f->flags & O_ACCMODE) == O_RDONLY)
		return 0;
	pthread_mutex_lock(&st->lock);
	rc = dfs_verify_fill_gaps(st, v);
	complete = rc == 0 && dfs_verify_complete(v);
	rc = 0;
	t = dfs_is_eview(v->ino) ? NULL : temp_by_ino(st, v->ino);
	if (t) {
		t->verified = complete;
		s = t->expect;
		env = t->env;
		if (!s)
			goto out_unlock; /* refused at its rename */
	} else {
		s = dfs_eview_snode(v->ino);
		env = dfs_eview_env(v->ino);
	}
	if (pkg_of_snode(st, s, &p) < 0 || env_by_id(st, env, &e) < 0) {
		rc = complete ? 0 : -EIO;
		goto out_unlock;
	}
	sg = stage_find(st, env, p.id);
	if (complete) {
		if (!t && sg)
			rc = dfs_env_stage_done_locked(st, &v->actor, sg, s);
		goto out_unlock;
	}
	if (!t && snode_info(st, s, &si) == 0)
		name = si.name;
	snprintf(why, sizeof(why), "%s%s", t ? t->name : name,
		 v->bad ? ": its content differs from the package's"
			: ": shorter than the package's");
	dfs_audit_refuse_locked(st, &v->actor, "deploy", e.name, p.component,
				p.version, -EIO, why);
	/* Rewritten wrong after it was verified: no longer in place. */
	if (!t && sg && sg->staging && dfs_idset_has(&sg->ok, s)) {
		dfs_idset_del(&sg->ok, s);
		save_progress(st, sg);
	}
	rc = -EIO;
out_unlock:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

void dfs_env_release(struct dfs_store *st, struct dfs_file *f)
{
	struct dfs_verify *v = f->v;
	struct dfs_temp *t;

	pthread_mutex_lock(&st->lock);
	t = dfs_is_eview(v->ino) ? NULL : temp_by_ino(st, v->ino);
	if (t && v->refs == 1) {
		t->size = v->size;
		t->v = NULL;
	}
	dfs_verify_put_locked(st, v);
	pthread_mutex_unlock(&st->lock);
	free(f);
}

int dfs_env_open(struct dfs_store *st, const struct dfs_actor *actor,
		 uint64_t ino, int flags, struct dfs_file **ret)
{
	bool writing = (flags & O_ACCMODE) != O_RDONLY;
	struct dfs_verify *v = NULL;
	struct snode_info si;
	struct dfs_temp *t = NULL;
	struct dfs_file *f;
	struct dfs_attr a;
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = getattr_locked(st, ino, &a);
	if (rc == 0 && S_ISDIR(a.mode))
		rc = -EISDIR;
	if (rc == 0 && !S_ISREG(a.mode))
		rc = -EINVAL;
	if (rc < 0)
		goto out_unlock;
	if (dfs_is_eview(ino) && !writing) {
		/* Reading: the package's own file. */
		pthread_mutex_unlock(&st->lock);
		return dfs_file_open(
			st, DFS_INO_SNODE_BASE + (uint64_t)dfs_eview_snode(ino),
			flags, ret);
	}
	if (!dfs_is_eview(ino)) {
		t = temp_by_ino(st, ino);
		rc = t ? 0 : -ENOENT;
		if (rc == 0 && t->expect)
			rc = snode_info(st, t->expect, &si);
		if (rc < 0)
			goto out_unlock;
		v = dfs_verify_get_locked(st, ino, &si.blob, si.size,
					  t->expect != 0, actor);
	} else {
		rc = snode_info(st, dfs_eview_snode(ino), &si);
		if (rc < 0)
			goto out_unlock;
		v = dfs_verify_get_locked(st, ino, &si.blob, si.size, true,
					  actor);
	}
	if (!v) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	if (t)
		t->v = v;
	if (writing && (flags & O_TRUNC))
		dfs_verify_reset(v, 0);
	else if (writing && v->refs == 1 && v->known && !t &&
		 holds_package_bytes(st, ino))
		/* Opened for writing without O_TRUNC: it holds the
		 * package's bytes already. */
		(void)dfs_verify_cover(v, 0, v->want);
	f = calloc(1, sizeof(*f));
	if (!f) {
		dfs_verify_put_locked(st, v);
		rc = -ENOMEM;
		goto out_unlock;
	}
	f->v = v;
	f->flags = flags;
	atomic_init(&f->refs, 1);
	*ret = f;
out_unlock:
	pthread_mutex_unlock(&st->lock);
	return rc;
}
