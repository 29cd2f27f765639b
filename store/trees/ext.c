// SPDX-License-Identifier: MIT
/*
 * ext.c - environments/ENV/extensions: files that override a file of a
 * component in one environment (docs/environments.md, "Extensions").
 *
 * The folder is a build/-style tree kept in the store's inode rows: its
 * root is the folder named ".ext-ID" (ID the environment's id) in the
 * inode row of environments/, which no listing shows; every node below is
 * a build node served by build/'s operations, wrapped here with the rules
 * of extensions.  Which build nodes are extensions is kept in memory
 * (st->trees->ext, its own lock: dispatch.c asks before taking st->lock):
 * the kernel learns of every node through a lookup, a listing or a create
 * answered here, so every node it names is marked before it uses it.
 *
 *   ENV/extensions/NAME        a folder per component NAME
 *   ENV/extensions/NAME/PATH   a file overriding PATH of NAME's package
 *
 * PATH must be a file (a folder for mkdir) of the package deployed in ENV
 * (of the newest version when none is deployed): otherwise ENOENT,
 * recorded, unless the name is an editor's or copy tool's temporary.
 * Every change of an override (write, create, rename over it, removal) is
 * recorded as action=extension with the old and the new content hash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deployfs/log.h"
#include "trees.h"

#define EXT_PREFIX ".ext-"
#define EXT_DEPTH_MAX 64

/* ---- which build nodes are extensions --------------------------------------- */

bool dfs_ext_has(struct dfs_store *st, uint64_t ino)
{
	bool has;

	if (ino <= DFS_INO_AUDIT || ino >= DFS_INO_VIRTUAL_BASE)
		return false;
	pthread_mutex_lock(&st->trees->ext_lock);
	has = dfs_idset_has(&st->trees->ext, (int64_t)ino);
	pthread_mutex_unlock(&st->trees->ext_lock);
	return has;
}

void dfs_ext_mark(struct dfs_store *st, uint64_t ino, bool on)
{
	pthread_mutex_lock(&st->trees->ext_lock);
	if (on) {
		if (dfs_idset_add(&st->trees->ext, (int64_t)ino) < 0)
			dfs_log(DFS_LOG_WARN,
				"extensions: cannot mark node %llu",
				(unsigned long long)ino);
	} else {
		dfs_idset_del(&st->trees->ext, (int64_t)ino);
	}
	pthread_mutex_unlock(&st->trees->ext_lock);
}

/* ---- where a node is -------------------------------------------------------- */

int dfs_ext_where_of(struct dfs_store *st, uint64_t ino,
		     struct dfs_ext_where *w)
{
	static const size_t cap = DFS_NAME_MAX + 1;
	char(*names)[DFS_NAME_MAX + 1] = malloc(EXT_DEPTH_MAX * cap);
	char name[DFS_NAME_MAX + 1] = "";
	uint64_t up = 0;
	size_t len = 0;
	int n = 0, rc = names ? 0 : -ENOMEM;

	while (rc == 0) {
		rc = dfs_inode_parent(st, ino, &up, name, sizeof(name));
		if (rc < 0 || up == DFS_INO_ENVIRONMENTS)
			break;
		if (n == EXT_DEPTH_MAX) {
			rc = -ENAMETOOLONG;
			break;
		}
		snprintf(names[n++], cap, "%s", name);
		ino = up;
	}
	if (rc == 0 && strncmp(name, EXT_PREFIX, strlen(EXT_PREFIX)) != 0)
		rc = -ENOENT;
	if (rc == 0) {
		memset(w, 0, sizeof(*w));
		w->env = strtoll(name + strlen(EXT_PREFIX), NULL, 10);
		w->depth = n;
		if (n > 0)
			snprintf(w->comp, sizeof(w->comp), "%s", names[n - 1]);
		for (int i = n - 2; i >= 0 && rc == 0; i--) {
			int k = snprintf(w->path + len, sizeof(w->path) - len,
					 "%s%s", len ? "/" : "", names[i]);

			if (k < 0 || (size_t)k >= sizeof(w->path) - len)
				rc = -ENAMETOOLONG;
			else
				len += (size_t)k;
		}
	}
	free(names);
	return rc;
}

/* w's path with name appended, in buf. */
int dfs_ext_child_path(const struct dfs_ext_where *w, const char *name,
		       char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s%s%s", w->path, w->path[0] ? "/" : "",
			 name);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* ---- the root of an environment's extensions --------------------------------- */

int dfs_ext_root(struct dfs_store *st, int64_t env, bool make, uint64_t *ret)
{
	char name[32];
	struct dfs_actor owner = { 0 };
	struct dfs_attr a;
	struct dfs_env e;
	int rc;

	snprintf(name, sizeof(name), EXT_PREFIX "%lld", (long long)env);
	rc = dfs_inode_attr_at(st, DFS_INO_ENVIRONMENTS, name, &a);
	if (rc == 0) {
		*ret = a.ino;
		return 0;
	}
	if (rc != -ENOENT || !make)
		return rc;
	rc = dfs_env_by_id(st, env, &e);
	if (rc < 0)
		return rc;
	owner.uid = e.uid;
	owner.gid = e.gid;
	rc = dfs_db_begin(st);
	if (rc == 0)
		rc = dfs_finish(st, dfs_inode_create_hidden(
					    st, &owner, DFS_INO_ENVIRONMENTS,
					    name, ret));
	if (rc < 0)
		dfs_log(DFS_LOG_WARN,
			"extensions of environment %lld: cannot make "
			"their folder: %s",
			(long long)env, strerror(-rc));
	return rc;
}

/* The root shows its environment's owner and permissions: who may
 * deploy there may change its extensions. */
int dfs_ext_root_fix(struct dfs_store *st, int64_t env, struct dfs_attr *a)
{
	struct dfs_env e;
	int rc = dfs_env_by_id(st, env, &e);

	if (rc == 0) {
		a->mode = S_IFDIR | (e.mode & 07777);
		a->uid = e.uid;
		a->gid = e.gid;
		a->flags |= DFS_NODE_SYSTEM | DFS_NODE_VOLATILE;
	}
	return rc;
}

int dfs_ext_root_attr(struct dfs_store *st, int64_t env, struct dfs_attr *ret)
{
	uint64_t ino;
	int rc = dfs_ext_root(st, env, true, &ino);

	if (rc == 0)
		rc = dfs_build_attr_locked(st, ino, ret);
	if (rc == 0)
		rc = dfs_ext_root_fix(st, env, ret);
	if (rc == 0)
		dfs_ext_mark(st, ino, true);
	return rc;
}

int dfs_ext_find(struct dfs_store *st, int64_t env, const char *comp,
		 const char *path, uint64_t *ret)
{
	char buf[1024], *save = NULL;
	struct dfs_irow r;
	uint64_t at;
	int rc = dfs_ext_root(st, env, false, &at);

	if (rc == 0)
		rc = dfs_inode_lookup(st, at, comp, &r);
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = strtok_r(buf, "/", &save); rc == 0 && s;
	     s = strtok_r(NULL, "/", &save)) {
		rc = dfs_inode_lookup(st, r.a.ino, s, &r);
	}
	if (rc == 0 && !S_ISREG(r.a.mode))
		rc = -ENOENT;
	if (rc == 0)
		*ret = r.a.ino;
	return rc;
}

/* ---- the package an override is checked against ------------------------------ */

/* The package of comp deployed in env, else its newest version. */
static int package_of(struct dfs_store *st, int64_t env, const char *comp,
		      struct dfs_pkg *p)
{
	struct dfs_component c;
	struct dfs_dep d;
	int rc = dfs_component_by_name(st, comp, &c);

	if (rc == 0 && dfs_dep_of_comp(st, env, c.id, &d) == 0)
		return dfs_pkg_by_id(st, d.package, p);
	return rc < 0 ? rc : dfs_pkg_latest(st, comp, p);
}

/* The snapshot node at path below package root. */
static int snode_at(struct dfs_store *st, int64_t root, const char *path,
		    int64_t *ret)
{
	char buf[1024], *save = NULL;
	int rc = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	*ret = root;
	for (char *s = strtok_r(buf, "/", &save); rc == 0 && s;
	     s = strtok_r(NULL, "/", &save))
		rc = dfs_snode_child(st, *ret, s, ret);
	return rc;
}

/* Is path a file (dir: a folder) of p? */
static bool package_has(struct dfs_store *st, const struct dfs_pkg *p,
			const char *path, bool dir)
{
	struct dfs_snode sn;
	int64_t s;

	return snode_at(st, p->root, path, &s) == 0 &&
	       dfs_snode_info(st, s, &sn) == 0 &&
	       (dir ? S_ISDIR(sn.mode) : S_ISREG(sn.mode));
}

/* An editor's or copy tool's temporary: .NAME (vim's .NAME.swp, rsync's
 * .NAME.XXXXXX), NAME~, NAME.tmp, NAME.part, NAME.swp, sed -i's sedXXXXXX,
 * vim's probe 4913 (digits only). */
bool dfs_ext_temp_name(const char *name)
{
	size_t n = strlen(name);
	static const char *const ends[] = { "~", ".tmp", ".part", ".swp" };
	bool digits = n > 0;

	if (name[0] == '.')
		return true;
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		size_t k = strlen(ends[i]);

		if (n > k && strcmp(name + n - k, ends[i]) == 0)
			return true;
	}
	if (n == 9 && strncmp(name, "sed", 3) == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		digits = digits && name[i] >= '0' && name[i] <= '9';
	return digits;
}

/* ---- the audit trail ---------------------------------------------------------- */

static void hash_text(const struct dfs_hash *h, bool has, char *out)
{
	if (has)
		dfs_hash_hex(h, out);
	else
		snprintf(out, DFS_HASH_HEX, "-");
}

/* The content hash of build file ino (-EAGAIN: open for writing). */
int dfs_ext_file_hash(struct dfs_store *st, uint64_t ino, struct dfs_hash *ret)
{
	int rc = dfs_content_hash(st, ino, ret);

	if (rc == -EAGAIN) {
		(void)dfs_content_sync(st);
		rc = dfs_content_hash(st, ino, ret);
	}
	return rc;
}

void dfs_ext_record(struct dfs_store *st, const struct dfs_actor *actor,
		    int64_t env, const char *comp, const char *path,
		    const struct dfs_hash *old, bool had,
		    const struct dfs_hash *now, bool has)
{
	char why[1200], ho[DFS_HASH_HEX], hn[DFS_HASH_HEX];
	struct dfs_audit_event ev = { 0 };
	struct dfs_env e;
	struct dfs_pkg p;
	int rc;

	if (had && has && memcmp(old, now, sizeof(*old)) == 0)
		return;
	if (dfs_env_by_id(st, env, &e) < 0)
		return;
	hash_text(old, had, ho);
	hash_text(now, has, hn);
	snprintf(why, sizeof(why), "%s old=%s new=%s", path, ho, hn);
	ev.action = "extension";
	ev.env = e.name;
	ev.component = comp;
	ev.version = package_of(st, env, comp, &p) == 0 ? p.version : NULL;
	ev.result = "ok";
	ev.reason = why;
	rc = dfs_audit_commit(st, actor, &ev);
	if (rc < 0)
		dfs_log(DFS_LOG_WARN,
			"extension %s/%s/%s: cannot record the change: "
			"%s",
			e.name, comp, path, strerror(-rc));
}

int dfs_ext_refuse(struct dfs_store *st, const struct dfs_actor *actor,
		   int64_t env, const char *comp, const char *version, int rc,
		   const char *why)
{
	struct dfs_env e;

	if (dfs_env_by_id(st, env, &e) == 0)
		dfs_audit_refuse(st, actor, "extension", e.name, comp, version,
				 rc, why);
	return rc;
}

/*
 * May name be made in folder dir (a folder if isdir)?  *counts: it is an
 * override (a path of the package), not a temporary.
 */
int dfs_ext_check_new(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t dir, const char *name, bool isdir,
		      struct dfs_ext_where *w, char *path, size_t cap,
		      bool *counts)
{
	char why[1200];
	struct dfs_component c;
	struct dfs_pkg p;
	int rc = dfs_ext_where_of(st, dir, w);

	*counts = false;
	if (rc < 0)
		return rc;
	if (w->depth == 0) {
		snprintf(why, sizeof(why),
			 "\"%s\" is not a component with a package (only a "
			 "folder per component goes in extensions/)",
			 name);
		if (!isdir)
			return dfs_ext_refuse(st, actor, w->env, NULL, NULL,
					      -EPERM, why);
		if (dfs_component_by_name(st, name, &c) < 0 ||
		    package_of(st, w->env, name, &p) < 0)
			return dfs_ext_refuse(st, actor, w->env, NULL, NULL,
					      -ENOENT, why);
		return 0;
	}
	rc = dfs_ext_child_path(w, name, path, cap);
	if (rc == 0)
		rc = package_of(st, w->env, w->comp, &p);
	if (rc < 0)
		return rc;
	if (package_has(st, &p, path, isdir)) {
		*counts = !isdir;
		return 0;
	}
	if (!isdir && dfs_ext_temp_name(name))
		return 0;
	snprintf(why, sizeof(why), "%s is not a %s of %s@%s", path,
		 isdir ? "folder" : "file", p.component, p.version);
	return dfs_ext_refuse(st, actor, w->env, w->comp, p.version, -ENOENT,
			      why);
}

/* Is the existing file name in dir an override (not a temporary)? */
bool dfs_ext_is_override(struct dfs_store *st, const struct dfs_ext_where *w,
			 const char *name, const char *path)
{
	struct dfs_pkg p;

	if (w->depth == 0)
		return false;
	if (package_of(st, w->env, w->comp, &p) == 0 &&
	    package_has(st, &p, path, false))
		return true;
	return !dfs_ext_temp_name(name);
}

/* ---- writers -------------------------------------------------------------------- */

struct dfs_ext_write *dfs_ext_write_of(struct dfs_store *st, uint64_t ino,
				       bool make)
{
	struct dfs_ext_write *x;

	for (x = st->trees->ext_writes; x; x = x->next)
		if (x->ino == ino)
			return x;
	if (!make)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (x) {
		x->ino = ino;
		x->next = st->trees->ext_writes;
		st->trees->ext_writes = x;
	}
	return x;
}

void dfs_ext_write_drop(struct dfs_store *st, struct dfs_ext_write *x)
{
	struct dfs_ext_write **pp = &st->trees->ext_writes;

	while (*pp && *pp != x)
		pp = &(*pp)->next;
	if (*pp)
		*pp = x->next;
	free(x);
}

void dfs_ext_writes_free(struct dfs_store *st)
{
	while (st->trees->ext_writes)
		dfs_ext_write_drop(st, st->trees->ext_writes);
}

bool dfs_ext_writes(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

void dfs_ext_closed(struct dfs_store *st, const struct dfs_actor *actor,
		    uint64_t ino, int flags)
{
	struct dfs_ext_write *x;
	struct dfs_ext_where w;
	struct dfs_hash h;
	bool has;

	if (!dfs_ext_writes(flags) || !dfs_ext_has(st, ino))
		return;
	pthread_mutex_lock(&st->lock);
	x = dfs_ext_write_of(st, ino, false);
	if (x && --x->writers <= 0) {
		has = dfs_ext_file_hash(st, ino, &h) == 0;
		if (dfs_ext_where_of(st, ino, &w) == 0)
			dfs_ext_record(st, x->actor.pid ? &x->actor : actor,
				       w.env, w.comp, w.path, &x->old, x->had,
				       &h, has);
		dfs_ext_write_drop(st, x);
	}
	pthread_mutex_unlock(&st->lock);
}
