/* SPDX-License-Identifier: MIT */
/*
 * trees.h - layer 4 of store/: what the mount shows.  Each tree of the
 * mount fills one table of operations (struct dfs_tree_ops); dispatch.c
 * picks the table by the inode's class, in that one place, and
 * implements the namespace calls of store.h with it.  A slot left empty
 * answers the table's `none` errno (EROFS or EPERM).
 *
 *   root.c      /                     the four entries below
 *   build.c     build/                read-write workspace (build_attr.c)
 *   packages.c  packages/             components, versions, snapshots
 *   envs.c      environments/, ENV/   environments, deployment links
 *   views.c     ENV/NAME@VERSION/...  deployed and staging folders
 *   temps.c     copy tools' temporaries and links waiting for a rename
 *   ext_tree.c  ENV/extensions/...    per-environment overrides (ext.c)
 *   effective.c ENV/.effective/...    the package with the overrides
 *   auditlog.c  audit.log
 *
 * stage.c keeps what is in flight in environments/ (copies filling a
 * staging folder, re-copies into a deployed one, temporaries), in memory
 * under st->lock; envfile.c is the file a copy writes there, checked
 * against its package.  Every slot but open is called with st->lock
 * held; open takes it itself (content/ opens files under it).
 */
#ifndef DFS_TREES_H
#define DFS_TREES_H

#include <string.h>

#include "../content/content.h"

/* ---- inode numbers ------------------------------------------------------- */

#define DFS_ENV_ID_MAX ((1ull << 23) - 1)
#define DFS_SNODE_ID_MASK ((1ull << 40) - 1)

static inline bool dfs_is_env_dir(uint64_t ino)
{
	return ino >= DFS_INO_ENV_BASE && ino < DFS_INO_DEPLINK_BASE;
}

static inline bool dfs_is_deplink(uint64_t ino)
{
	return ino >= DFS_INO_DEPLINK_BASE && ino < DFS_INO_TEMP_BASE;
}

static inline bool dfs_is_temp(uint64_t ino)
{
	return ino >= DFS_INO_TEMP_BASE && ino < (7ull << 40);
}

static inline bool dfs_is_eview(uint64_t ino)
{
	return ino >= DFS_INO_EVIEW_BASE;
}

/* environments/ and everything below it. */
static inline bool dfs_is_env_ino(uint64_t ino)
{
	return ino == DFS_INO_ENVIRONMENTS ||
	       (ino >= DFS_INO_ENV_BASE && ino < (7ull << 40)) ||
	       dfs_is_eview(ino);
}

static inline uint64_t dfs_eview_ino(int64_t env, int64_t snode)
{
	return DFS_INO_EVIEW_BASE | ((uint64_t)env << 40) | (uint64_t)snode;
}

static inline int64_t dfs_eview_env(uint64_t ino)
{
	return (int64_t)((ino & ~DFS_INO_EVIEW_BASE) >> 40);
}

static inline int64_t dfs_eview_snode(uint64_t ino)
{
	return (int64_t)(ino & DFS_SNODE_ID_MASK);
}

static inline bool dfs_is_pkgdir(uint64_t ino)
{
	return ino >= DFS_INO_PKGDIR_BASE && ino < DFS_INO_LATEST_BASE;
}

/* ---- the table of operations ---------------------------------------------- */

/* A node as the audit trail names it (describe()). */
struct dfs_where {
	char env[DFS_LABEL_MAX + 1];
	char component[DFS_NAME_MAX + 1];
	char version[DFS_LABEL_MAX + 1];
	/* What refusals alike fold by: the package, deployment or
	 * environment the node belongs to ("": the node itself). */
	char scope[768];
	char path[768]; /* from the mount's root; a long one cut in front */
};

struct dfs_tree_ops {
	const char *name;
	int none;   /* the answer of an empty slot: -EROFS or -EPERM */
	bool quiet; /* its refusals are a workspace's POSIX answers: not
		     * recorded (build/) */
	/* Name node ino for the audit trail (ret zeroed; empty slot: the
	 * tree's name). */
	void (*describe)(struct dfs_store *st, uint64_t ino,
			 struct dfs_where *ret);
	int (*lookup)(struct dfs_store *st, uint64_t parent, const char *name,
		      struct dfs_attr *ret);
	int (*getattr)(struct dfs_store *st, uint64_t ino,
		       struct dfs_attr *ret);
	int (*readdir)(struct dfs_store *st, uint64_t ino, uint64_t off,
		       bool hold, dfs_readdir_fn fn, void *ctx);
	int (*readlink)(struct dfs_store *st, uint64_t ino, char *buf,
			size_t cap);
	/* mknod, mkdir and symlink (target); mode includes the type. */
	int (*create)(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t parent, const char *name, uint32_t mode,
		      uint64_t rdev, const char *target, struct dfs_attr *ret);
	int (*link)(struct dfs_store *st, uint64_t ino, uint64_t newparent,
		    const char *newname, struct dfs_attr *ret);
	int (*remove)(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t parent, const char *name, bool dir);
	int (*rename)(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t parent, const char *name, uint64_t newparent,
		      const char *newname, unsigned flags);
	int (*setattr)(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t ino, const struct dfs_setattr *sa,
		       struct dfs_attr *ret);
	int (*open)(struct dfs_store *st, const struct dfs_actor *actor,
		    uint64_t ino, int flags, struct dfs_file **ret);
	int (*xattr_get)(struct dfs_store *st, uint64_t ino, const char *name,
			 void *buf, size_t cap);
	int (*xattr_set)(struct dfs_store *st, const struct dfs_actor *actor,
			 uint64_t ino, const char *name, const void *value,
			 size_t size, unsigned flags);
	int (*xattr_list)(struct dfs_store *st, uint64_t ino, char *buf,
			  size_t cap);
	int (*xattr_remove)(struct dfs_store *st, uint64_t ino,
			    const char *name);
};

extern const struct dfs_tree_ops dfs_root_tree;
extern const struct dfs_tree_ops dfs_build_tree;
extern const struct dfs_tree_ops dfs_packages_tree;
extern const struct dfs_tree_ops dfs_envs_tree;
extern const struct dfs_tree_ops dfs_views_tree;
extern const struct dfs_tree_ops dfs_temps_tree;
extern const struct dfs_tree_ops dfs_auditlog_tree;
extern const struct dfs_tree_ops dfs_ext_tree;
extern const struct dfs_tree_ops dfs_eff_tree;

/* The table of node ino's tree (dispatch.c: the one place that picks). */
const struct dfs_tree_ops *dfs_tree_of(uint64_t ino);

/* ---- refuse.c: refusals no act recorded ------------------------------------- */

/* A call, as the audit trail tells it. */
struct dfs_ask {
	const char *op;	   /* mkdir, open, rename, ... */
	uint64_t ino;	   /* the node, or the folder holding name */
	const char *name;  /* NULL: ino itself */
	uint64_t ino2;	   /* rename, link: the folder it goes to (0: none) */
	const char *name2; /* and the name there */
	bool query;	   /* lookup, getxattr, listxattr: ERANGE is an
			    * answer, not a refusal */
};
/*
 * After a call answered rc, with before the value of st->refusals when it
 * began: record rc when it is a refusal, outside a quiet tree, that the
 * act did not record itself; repeats alike from one process fold into a
 * count.  st->lock held.  Returns rc.
 */
int dfs_refused(struct dfs_store *st, const struct dfs_actor *actor,
		const struct dfs_ask *q, uint64_t before, int rc);
/* Record every count folded so far (st->lock held): audit.log is read,
 * the store closes. */
void dfs_refusals_flush(struct dfs_store *st);

/* Repeats of one refusal from one process, not yet recorded. */
#define DFS_FOLDS 16
struct dfs_fold {
	bool used;
	int32_t pid;
	int err;
	char op[16];
	struct dfs_where w;
	struct dfs_actor actor;
	int64_t count; /* repeats since the line recorded */
	int64_t first; /* ns: that line */
	int64_t last;  /* ns: the last repeat */
};

/* ---- helpers the trees share ------------------------------------------------ */

/* Name snapshot node id: its package and its path, under packages/N
 * (env NULL) or environments/ENV. */
void dfs_snode_where(struct dfs_store *st, int64_t id, const char *env,
		     struct dfs_where *ret);

/* Emit one listing entry (and its hold); 1 when fn is full. */
int dfs_emit(struct dfs_store *st, dfs_readdir_fn fn, void *ctx, bool hold,
	     const char *name, uint64_t off, const struct dfs_attr *a);
/* May actor read a (a folder: list and search it), as POSIX says? */
bool dfs_may_read(const struct dfs_actor *actor, const struct dfs_attr *a);
/* Is a requested change a no-op for the unchanging node a? */
bool dfs_setattr_is_noop(const struct dfs_attr *a,
			 const struct dfs_setattr *sa);
/* Copy v (its strlen) into buf (cap 0: size only): xattr values. */
int dfs_put_value(const char *v, void *buf, size_t cap);
/* Append name and its NUL to a list of xattr names. */
int dfs_add_name(char *buf, size_t cap, size_t *total, const char *name);

/* Entries of a listing that mixes kinds of nodes: collected, then
 * emitted in the order of their stable offsets. */
struct dfs_item {
	uint64_t off;
	uint64_t ino;
	char name[DFS_NAME_MAX + 1];
};
struct dfs_items {
	struct dfs_item *v;
	size_t n;
	size_t cap;
};
int dfs_items_add(struct dfs_items *it, uint64_t off, uint64_t ino,
		  const char *name);
/* Emit the entries after off, each with attr()'s attributes; frees it. */
void dfs_items_emit(struct dfs_store *st, struct dfs_items *it, uint64_t off,
		    int (*attr)(struct dfs_store *, uint64_t,
				struct dfs_attr *),
		    bool hold, dfs_readdir_fn fn, void *ctx);

/*
 * Begin a call that changes build/ inode ino's attributes: lazy (group
 * commit) while ino is open for writing, whose close reports a commit
 * that failed; else eager, so the call itself reports it (chmod of a
 * path answered, then undone by a full disk, would be silent).
 */
int dfs_build_begin_for(struct dfs_store *st, uint64_t ino);

/* Attributes of the fixed nodes under the root (st->lock held). */
int dfs_build_attr_locked(struct dfs_store *st, uint64_t ino,
			  struct dfs_attr *ret);
int dfs_packages_attr_locked(struct dfs_store *st, uint64_t ino,
			     struct dfs_attr *ret);
int dfs_envs_attr_locked(struct dfs_store *st, uint64_t ino,
			 struct dfs_attr *ret);
int dfs_auditlog_attr_locked(struct dfs_store *st, struct dfs_attr *ret);
/* packages/NAME's attributes changed behind the kernel (packages.c). */
void dfs_pkgdir_of_changed(struct dfs_store *st, uint64_t dir);
/* A snapshot node's attributes (its packages/ inode). */
int dfs_snode_attr_locked(struct dfs_store *st, int64_t id,
			  struct dfs_attr *ret);

/* ---- build_attr.c: build/'s extended attributes ------------------------------ */

int dfs_build_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
			void *buf, size_t cap);
int dfs_build_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
			uint64_t ino, const char *name, const void *value,
			size_t size, unsigned flags);
int dfs_build_xattr_list(struct dfs_store *st, uint64_t ino, char *buf,
			 size_t cap);
int dfs_build_xattr_remove(struct dfs_store *st, uint64_t ino,
			   const char *name);

/* ---- idset.c ------------------------------------------------------------------ */

/* A set of snapshot node ids (open addressing). */
struct dfs_idset {
	int64_t *v;
	size_t n;
	size_t cap;
};
bool dfs_idset_has(const struct dfs_idset *s, int64_t id);
int dfs_idset_add(struct dfs_idset *s, int64_t id);
void dfs_idset_del(struct dfs_idset *s, int64_t id);
void dfs_idset_free(struct dfs_idset *s);

/* ---- ext.c, ext_tree.c: ENV/extensions ---------------------------------------- */

struct dfs_ext_where {
	int64_t env;
	int depth; /* 0: ENV/extensions, 1: NAME, 2 and more: below it */
	char comp[DFS_NAME_MAX + 1];
	char path[1024]; /* below NAME; "" for NAME and above */
};

struct dfs_ext_write {
	uint64_t ino;
	int writers;
	bool had;
	struct dfs_hash old;
	struct dfs_actor actor; /* who opened it first: the close's record */
	struct dfs_ext_write *next;
};

bool dfs_ext_has(struct dfs_store *st, uint64_t ino);
/* ino is (on) or is no longer (!on) a node of ENV/extensions. */
void dfs_ext_mark(struct dfs_store *st, uint64_t ino, bool on);
int dfs_ext_where_of(struct dfs_store *st, uint64_t ino,
		     struct dfs_ext_where *w);
int dfs_ext_child_path(const struct dfs_ext_where *w, const char *name,
		       char *buf, size_t cap);
/* The build node of ENV/extensions (made if make). */
int dfs_ext_root(struct dfs_store *st, int64_t env, bool make, uint64_t *ret);
/* The owner and permissions the root shows: env's. */
int dfs_ext_root_fix(struct dfs_store *st, int64_t env, struct dfs_attr *a);
/* ENV/extensions, as ENV lists it (made on first use). */
int dfs_ext_root_attr(struct dfs_store *st, int64_t env, struct dfs_attr *ret);
/* The override file of comp's path in env (-ENOENT: none). */
int dfs_ext_find(struct dfs_store *st, int64_t env, const char *comp,
		 const char *path, uint64_t *ret);
bool dfs_ext_temp_name(const char *name);
/* Record a refusal in env's extensions (action=extension); returns rc. */
int dfs_ext_refuse(struct dfs_store *st, const struct dfs_actor *actor,
		   int64_t env, const char *comp, const char *version, int rc,
		   const char *why);
int dfs_ext_file_hash(struct dfs_store *st, uint64_t ino, struct dfs_hash *ret);
/* Record a change of an override (had/has: an old/new content). */
void dfs_ext_record(struct dfs_store *st, const struct dfs_actor *actor,
		    int64_t env, const char *comp, const char *path,
		    const struct dfs_hash *old, bool had,
		    const struct dfs_hash *now, bool has);
int dfs_ext_check_new(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t dir, const char *name, bool isdir,
		      struct dfs_ext_where *w, char *path, size_t cap,
		      bool *counts);
bool dfs_ext_is_override(struct dfs_store *st, const struct dfs_ext_where *w,
			 const char *name, const char *path);
struct dfs_ext_write *dfs_ext_write_of(struct dfs_store *st, uint64_t ino,
				       bool make);
void dfs_ext_write_drop(struct dfs_store *st, struct dfs_ext_write *x);
void dfs_ext_writes_free(struct dfs_store *st);
bool dfs_ext_writes(int flags);
/* A file of ino opened with flags was closed (takes st->lock). */
void dfs_ext_closed(struct dfs_store *st, const struct dfs_actor *actor,
		    uint64_t ino, int flags);

/* The names ENV always has: extensions/ and .effective/ (envs.c). */
#define DFS_ENV_EXTENSIONS "extensions"
#define DFS_ENV_EFFECTIVE ".effective"
static inline bool dfs_env_reserved(const char *name)
{
	return strcmp(name, DFS_ENV_EXTENSIONS) == 0 ||
	       strcmp(name, DFS_ENV_EFFECTIVE) == 0;
}

/* ---- effective.c: ENV/.effective ------------------------------------------------ */

#define DFS_INO_EFF_BASE (7ull << 40) /* + an index, in memory */
static inline bool dfs_is_eff(uint64_t ino)
{
	return ino >= DFS_INO_EFF_BASE && ino < DFS_INO_EVIEW_BASE;
}
struct dfs_eff {
	int64_t env;
	int64_t pkg;  /* 0: ENV/.effective itself, or a link ENV/.effective/N */
	int64_t comp; /* that link's component N */
	int64_t snode; /* the package's folder or link */
	char path[1024];
};
/* ENV/.effective, as ENV lists it. */
int dfs_eff_top_attr(struct dfs_store *st, int64_t env, struct dfs_attr *ret);
void dfs_eff_free(struct dfs_store *st);

/* ---- stage.c: what is in flight in environments/ ---------------------------- */

/*
 * A copy in progress into ENV/N@V (a staging folder): the entries made so
 * far and those verified.  A refusal taints it: it never deploys (why
 * says what was refused).  A deployed folder has no stage: it is the
 * package, read-only.
 */
struct dfs_stage {
	int64_t env;
	int64_t package;
	int64_t root;	 /* snode id of N@V */
	int64_t entries; /* snodes below root */
	int64_t row;	 /* staging table row */
	uint32_t uid;
	uint32_t gid;
	char name[DFS_NAME_MAX + DFS_LABEL_MAX + 2]; /* N@V */
	struct dfs_idset made;			     /* created */
	struct dfs_idset ok;			     /* verified */
	char why[DFS_NAME_MAX + 128];		     /* tainted: what */
	struct dfs_stage *next;
};

/* A copy tool's temporary file, or a link waiting to be renamed. */
struct dfs_temp {
	uint64_t id; /* ino = DFS_INO_TEMP_BASE + id */
	int64_t env;
	uint64_t parent; /* the ENV folder or a folder below N@V */
	char name[DFS_NAME_MAX + 1];
	bool is_link;
	bool same_link;	 /* rsync's new copy of the package's link expect */
	int64_t package; /* link: the package it names */
	int64_t expect;	 /* file: the snode it stands for, 0 unknown */
	struct dfs_verify *v;
	bool verified; /* file: its last close found it identical */
	uint64_t size; /* file: as written, once closed */
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	int64_t ctime;
	struct dfs_temp *next;
};

#define DFS_FORCES 16
struct dfs_force { /* force.c */
	int64_t env;
	int64_t pkg;
	uint32_t uid;
	int64_t until; /* dfs_now_ns(); 0: used */
};

struct dfs_trees {
	struct dfs_force forces[DFS_FORCES];
	char gc_result[160];	  /* the last gc's, user.deployfs.gc_result */
	char prune_result[32768]; /* the last prune's (retention.c) */
	/* the last import's, user.deployfs.import_result */
	char import_result[640];
	struct dfs_stage *stages;
	struct dfs_temp *temps;
	uint64_t next_temp;
	struct dfs_fold folds[DFS_FOLDS]; /* refuse.c */
	/* dfs_tree_of(), for refuse.c, which calls no other tree file: it
	 * is what dispatch.c and the trees call. */
	const struct dfs_tree_ops *(*tree_of)(uint64_t ino);
	struct dfs_idset checked; /* packages found whole (pkgcheck.c) */
	/* Build nodes below ENV/extensions (ext.c), under ext_lock. */
	pthread_mutex_t ext_lock;
	struct dfs_idset ext;
	struct dfs_ext_write *ext_writes; /* overrides open for writing */
	struct dfs_eff *effs;		  /* folders of ENV/.effective */
	size_t neff, capeff;
};

struct dfs_stage *dfs_stage_find(struct dfs_store *st, int64_t env,
				 int64_t package);
struct dfs_stage *dfs_stage_new(struct dfs_store *st, const struct dfs_pkg *p,
				int64_t env, const struct dfs_actor *actor);
void dfs_stage_drop(struct dfs_store *st, struct dfs_stage *sg);
/* A refusal in sg's copy: it will not deploy (the first reason stays). */
void dfs_stage_taint(struct dfs_stage *sg, const char *why);
/* Copies in progress and temporaries in env. */
int64_t dfs_stage_busy(struct dfs_store *st, int64_t env);
void dfs_trees_free(struct dfs_store *st);
/* Entry snode of sg is in place and verified; the last one deploys an
 * untainted stage (and frees sg: the folder is then the package). */
int dfs_stage_done(struct dfs_store *st, const struct dfs_actor *actor,
		   struct dfs_stage *sg, int64_t snode);
void dfs_stage_save_progress(struct dfs_store *st, struct dfs_stage *sg);
/*
 * Where snode s of env stands: its package p, whether p is deployed in
 * env (*ret_deployed) and its stage (NULL if none).  Visible: every node
 * of a deployed package; the root of a staging one and the nodes its copy
 * has made.
 */
bool dfs_stage_visible(struct dfs_store *st, int64_t env, int64_t s,
		       struct dfs_pkg *p, bool *ret_deployed,
		       struct dfs_stage **ret_sg);
struct dfs_temp *dfs_temp_by_ino(struct dfs_store *st, uint64_t ino);
struct dfs_temp *dfs_temp_by_name(struct dfs_store *st, uint64_t parent,
				  const char *name);
struct dfs_temp *dfs_temp_new(struct dfs_store *st, int64_t env,
			      uint64_t parent, const char *name, uint32_t mode,
			      const struct dfs_actor *actor);
void dfs_temp_drop(struct dfs_store *st, struct dfs_temp *t);
/* The name a copy tool's temporary name stands for (false: not one). */
bool dfs_temp_base(const char *name, char *buf, size_t cap);
int dfs_temp_attr_locked(struct dfs_store *st, struct dfs_temp *t,
			 struct dfs_attr *ret);
/* Listing offsets of temporaries: 2^42 + id. */
#define DFS_OFF_TEMP (1ull << 42)
/* Add the temporaries in folder dir to a listing. */
int dfs_temps_list(struct dfs_store *st, uint64_t dir, struct dfs_items *it);

/* ---- envs.c, views.c ------------------------------------------------------------ */

/* "N@V" as a package of a deployable component (-EINVAL: not that form
 * or no such component; -ENOENT: no such version). */
int dfs_env_parse_pkg(struct dfs_store *st, const char *name,
		      struct dfs_pkg *ret);
/* ../../packages/N/N@V, the target of a deployment link. */
void dfs_dep_target(const char *component, const char *version, char *buf,
		    size_t cap);
void dfs_link_attr(uint64_t ino, const char *component, const char *version,
		   uint32_t uid, uint32_t gid, int64_t when,
		   struct dfs_attr *ret);
int dfs_deplink_attr_locked(struct dfs_store *st, int64_t dep,
			    struct dfs_attr *ret);
int dfs_view_attr_locked(struct dfs_store *st, uint64_t ino,
			 struct dfs_attr *ret);
/* The attributes of a view's node or a temporary. */
int dfs_view_entry_attr(struct dfs_store *st, uint64_t ino,
			struct dfs_attr *ret);
/* The kernel hears that deployment d's ENV/N@V (and ENV/N, unless
 * link_stays: it names another version now) went. */
void dfs_env_notice_gone(struct dfs_store *st, const struct dfs_dep *d,
			 bool link_stays);
/* ---- force.c: forcing the deploy of a bad release ---------------------- */

/* user.deployfs.force = N@V on ENV (root or ENV's owner; recorded). */
int dfs_force_set(struct dfs_store *st, const struct dfs_actor *actor,
		  int64_t env, const void *value, size_t size);
/* Is the deploy of pkg in env by actor forced?  consume: use it up. */
bool dfs_force_take(struct dfs_store *st, const struct dfs_actor *actor,
		    int64_t env, int64_t pkg, bool consume);

/* ---- bulk.c: a bulk deploy ---------------------------------------------- */

/* user.deployfs.deploy = "N@V\n..." on ENV: all deploy in one
 * transaction or none (a refusal recorded with the entry and why). */
int dfs_env_bulk_deploy(struct dfs_store *st, const struct dfs_actor *actor,
			int64_t env, const void *value, size_t size);
int dfs_env_bulk_apply(struct dfs_store *st, const struct dfs_actor *actor,
		       const struct dfs_env *e, const char *list);
/* refuse.c, with a registry: an act ordered there, applied here after
 * every act before it (model/regact.c), -EHOSTDOWN recorded; pkg: on
 * version of comp. */
int dfs_reg_shared(struct dfs_store *st, const struct dfs_actor *actor,
		   const struct dfs_reg_act *act);
int dfs_reg_pkg_shared(struct dfs_store *st, const struct dfs_actor *actor,
		       const char *action, int64_t comp, const char *version,
		       const char *value);
/* Deploy p in e (stage.c), undeploy d (envs.c) here, the kernel told. */
int dfs_env_deploy_here(struct dfs_store *st, const struct dfs_actor *actor,
			const struct dfs_env *e, const struct dfs_pkg *p,
			const char *via);
int dfs_env_undeploy_here(struct dfs_store *st, const struct dfs_actor *actor,
			  const struct dfs_env *e, const struct dfs_dep *d);
/* Deploy p in env e (a link or the last file of a copy). */
int dfs_env_deploy_locked(struct dfs_store *st, const struct dfs_actor *actor,
			  const struct dfs_env *e, const struct dfs_pkg *p,
			  const char *via);
/* A symlink in ENV: N deploys; another name waits for its rename. */
int dfs_env_symlink(struct dfs_store *st, const struct dfs_actor *actor,
		    const struct dfs_env *e, uint64_t dir, const char *name,
		    const char *target, struct dfs_attr *ret);
/* rename under environments/ (temps.c): a temporary put in place. */
int dfs_env_rename(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t parent, const char *name, uint64_t newparent,
		   const char *newname, unsigned flags);
/* ln -sfn's temporary link renamed over N: the deployment. */
int dfs_env_rename_link(struct dfs_store *st, const struct dfs_actor *actor,
			struct dfs_temp *t, uint64_t newparent,
			const char *newname);
int dfs_env_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
		      void *buf, size_t cap);
int dfs_env_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, const char *name, const void *value,
		      size_t size, unsigned flags);
int dfs_env_xattr_list(struct dfs_store *st, uint64_t ino, char *buf,
		       size_t cap);

/* ---- pkgcheck.c ----------------------------------------------------------------- */

/*
 * Before environment env deploys package pkg: every blob of it checked
 * against its name.  st->lock held, and let go while blob files are read
 * (the caller looks again at what it found before).  0; -EIO when a blob
 * is damaged or missing (refusal recorded); -ENOENT when the environment
 * or the package went away meanwhile.
 */
int dfs_pkg_check(struct dfs_store *st, const struct dfs_actor *actor,
		  int64_t env, int64_t pkg);

/* ---- envfile.c ------------------------------------------------------------------ */

/* Open a file of a view or a temporary for writing: checked, not kept. */
int dfs_envfile_open(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t ino, int flags, struct dfs_file **ret);

/* ---- retention.c: keep, prune and gc attributes of packages/ ----------------- */

/* Is name one of retention.c's attributes to set on ino? */
bool dfs_retention_attr(uint64_t ino, const char *name);
int dfs_retention_set(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t ino, const char *name, const void *value,
		      size_t size);
/* Its value, or 1 when name on ino is not one of retention.c's. */
int dfs_retention_get(struct dfs_store *st, uint64_t ino, const char *name,
		      void *buf, size_t cap);

/* ---- store.c -------------------------------------------------------------------- */

int dfs_trees_init(struct dfs_store *st);

/* import.c: user.deployfs.import = STAGED_FOLDER on packages/ (root). */
int dfs_import_xattr(struct dfs_store *st, const struct dfs_actor *actor,
		     const void *value, size_t size);

#endif
