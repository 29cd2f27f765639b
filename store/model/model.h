/* SPDX-License-Identifier: MIT */
/*
 * model.h - layer 2 of store/: the domain as rows and transactions on
 * ids, with no inode numbers of the mount and no open files: the build
 * workspace's nodes, components, snapshots and packages, environments and
 * deployments, the audit trail, and the registry hosts share.  An act and
 * its audit row commit in one transaction; every refusal is recorded.
 * Everything runs with st->lock held, except what says otherwise.
 */
#ifndef DFS_MODEL_H
#define DFS_MODEL_H

#include <limits.h>

#include "../storage/storage.h"

/* A list of (id, name) collected from rows. */
struct dfs_idname {
	int64_t id;
	char name[DFS_NAME_MAX + 1];
};
struct dfs_idnames {
	struct dfs_idname *v;
	size_t n, cap;
};
int dfs_idnames_add(struct dfs_idnames *l, int64_t id, const char *name);
void dfs_idnames_free(struct dfs_idnames *l);
/* The rows (id, name) of sql, int64 parameters a, b as fmt says. */
int dfs_idnames_query(struct dfs_store *st, const char *sql, const char *fmt,
		      int64_t a, int64_t b, struct dfs_idnames *ret);
/* The (id, name) rows of s, stepped to its first row when rc is 1 (as
 * dfs_query_sql() leaves it), into ret; rc < 0 is returned as is. */
int dfs_idnames_collect(sqlite3_stmt *s, int rc, struct dfs_idnames *ret);

/* ---- inode.c, rename.c, iattr.c: the build workspace's rows ------------ */

struct dfs_irow {
	struct dfs_attr a;
	bool work; /* its bytes are the work file work/INO */
};
typedef int (*dfs_irow_fn)(void *ctx, const char *name, uint64_t off,
			   const struct dfs_irow *r);

/* -ENOENT for an empty name, -ENAMETOOLONG beyond DFS_NAME_MAX. */
int dfs_name_check(const char *name);
int dfs_inode_get(struct dfs_store *st, uint64_t ino, struct dfs_irow *ret);
int dfs_inode_attr(struct dfs_store *st, uint64_t ino, struct dfs_attr *ret);
int dfs_inode_lookup(struct dfs_store *st, uint64_t parent, const char *name,
		     struct dfs_irow *ret);
int dfs_inode_attr_at(struct dfs_store *st, uint64_t parent, const char *name,
		      struct dfs_attr *ret);
/* A folder name in the system folder parent (read-only to every call),
 * which lists only what its tree shows: environments/ keeps each
 * environment's extensions so (trees/ext.c). */
int dfs_inode_create_hidden(struct dfs_store *st, const struct dfs_actor *owner,
			    uint64_t parent, const char *name,
			    uint64_t *ret_ino);
/* An entry naming ino: its folder and its name (-ENOENT: none). */
int dfs_inode_parent(struct dfs_store *st, uint64_t ino, uint64_t *ret_parent,
		     char *name, size_t cap);
/* Entries after offset off, by their stable offsets; fn returns non-zero
 * to stop. */
int dfs_inode_readdir(struct dfs_store *st, uint64_t dir, uint64_t off,
		      dfs_irow_fn fn, void *ctx);
int dfs_inode_readlink(struct dfs_store *st, uint64_t ino, char *buf,
		       size_t cap);
/* The folder parent may get a new entry (named adding) or lose one
 * (adding NULL).  A fenced folder (build/) takes only dot names. */
int dfs_inode_check_dir(struct dfs_store *st, uint64_t parent,
			const char *adding, struct dfs_attr *ret);
int dfs_inode_has_children(struct dfs_store *st, uint64_t ino, bool *ret);
int dfs_inode_touch(struct dfs_store *st, uint64_t ino, bool mtime);
int dfs_inode_set_ctime(struct dfs_store *st, uint64_t ino, int64_t ns);
int dfs_inode_nlink_add(struct dfs_store *st, uint64_t ino, int delta);
int dfs_inode_create(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t parent, const char *name, uint32_t mode,
		     uint64_t rdev, const char *target, uint64_t *ret_ino);
int dfs_inode_link(struct dfs_store *st, uint64_t ino, uint64_t newparent,
		   const char *newname);
/*
 * Removing an entry: *ret_orphan is set to the node's ino when its last
 * link went; the caller deletes it (dfs_inode_delete()) unless something
 * still holds it open.
 */
int dfs_inode_remove(struct dfs_store *st, uint64_t parent, const char *name,
		     bool dir, uint64_t *ret_orphan);
int dfs_inode_unlink_entry(struct dfs_store *st, uint64_t parent,
			   const char *name, const struct dfs_attr *a,
			   uint64_t *ret_orphan);
int dfs_inode_rename(struct dfs_store *st, uint64_t parent, const char *name,
		     uint64_t newparent, const char *newname, unsigned flags,
		     uint64_t *ret_orphan);
/* The node's rows and extended attributes (not its work file). */
int dfs_inode_delete(struct dfs_store *st, uint64_t ino);
/* Mode and owner as sa asks. */
int dfs_inode_set_ids(struct dfs_store *st, const struct dfs_attr *a,
		      const struct dfs_setattr *sa);
int dfs_inode_set_times_as(struct dfs_store *st, uint64_t ino,
			   const struct dfs_setattr *sa, int64_t now);
int dfs_inode_set_times(struct dfs_store *st, uint64_t ino, int64_t mtime,
			int64_t ctime);
int dfs_inode_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
			void *buf, size_t cap);
int dfs_inode_xattr_set(struct dfs_store *st, uint64_t ino, const char *name,
			const void *value, size_t size, unsigned flags);
int dfs_inode_xattr_list(struct dfs_store *st, uint64_t ino, char *buf,
			 size_t cap);
int dfs_inode_xattr_remove(struct dfs_store *st, uint64_t ino,
			   const char *name);

/* Where a regular file's content is. */
struct dfs_content_row {
	uint32_t mode;
	uint32_t nlink;
	uint32_t flags;
	uint64_t size;
	bool work;
	bool has_blob;
	struct dfs_hash blob;
};
int dfs_inode_content(struct dfs_store *st, uint64_t ino,
		      struct dfs_content_row *ret);
int dfs_inode_set_work(struct dfs_store *st, uint64_t ino, uint64_t size);
/* The sealed blob of a work file; -ESTALE if it was deleted meanwhile. */
int dfs_inode_seal(struct dfs_store *st, uint64_t ino, const struct dfs_hash *h,
		   uint64_t size, uint64_t blocks);
/* A work file's content as last closed, kept while it is rewritten. */
int dfs_inode_keep_blob(struct dfs_store *st, uint64_t ino,
			const struct dfs_hash *h);
/* Small content committed from memory. */
int dfs_inode_point(struct dfs_store *st, uint64_t ino,
		    const struct dfs_hash *h, uint64_t size);
/* Recovery: delete nodes no entry names; list the work files to seal. */
int dfs_inode_purge_unlinked(struct dfs_store *st);
int dfs_inode_work_list(struct dfs_store *st, int (*fn)(void *, uint64_t),
			void *ctx);

/* ---- component.c ---------------------------------------------------------- */

struct dfs_component {
	int64_t id;
	char name[DFS_NAME_MAX + 1];
	char type[32];
	uint64_t dir; /* build inode, 0 when the folder is gone */
	int64_t revision;
	bool has_hash;
	struct dfs_hash tree_hash;
};
int dfs_component_by_name(struct dfs_store *st, const char *name,
			  struct dfs_component *ret);
int dfs_component_by_id(struct dfs_store *st, int64_t id,
			struct dfs_component *ret);
int dfs_component_by_dir(struct dfs_store *st, uint64_t dir,
			 struct dfs_component *ret);
/* May a folder named name appear in the type folder typedir? */
int dfs_component_check(struct dfs_store *st, uint64_t typedir,
			const char *name);
int dfs_component_attach(struct dfs_store *st, uint64_t typedir,
			 const char *name, uint64_t ino);
int dfs_component_detach(struct dfs_store *st, uint64_t ino);
/* Component id's packages came or went at time now: packages/NAME's
 * attributes change (the kernel is told). */
int dfs_component_changed(struct dfs_store *st, int64_t id, int64_t now);
int dfs_component_revise(struct dfs_store *st, struct dfs_component *c,
			 const struct dfs_hash *own);
int dfs_component_list(struct dfs_store *st, int64_t after,
		       struct dfs_idnames *ret);

/* ---- reference.c ---------------------------------------------------------- */

/* The component a link in folder dir (relative to build/) names with
 * target: 1 and *ret, or 0 when it names none. */
int dfs_resolve_reference(struct dfs_store *st, const char *dir,
			  const char *target, struct dfs_component *ret);

/* ---- snapshot.c: walking a component ---------------------------------- */

/* A snapshot is at most this deep (a path of PATH_MAX holds as many
 * one-letter folders); deeper is ENAMETOOLONG. */
#define DFS_WALK_DEPTH_MAX (PATH_MAX / 2)
/* The revision of the component whose folder is dir, taken now (a
 * transaction of its own). */
int dfs_component_revision(struct dfs_store *st, uint64_t dir, int64_t *ret);
/* The walks kept (snapcache.c; snapshot.h has the walk and the rest). */
void dfs_snapcache_free(struct dfs_store *st);

/* ---- snode.c: snapshot nodes ------------------------------------------------ */

struct dfs_snode {
	int64_t id;
	int64_t parent;
	uint32_t mode;
	uint64_t size;
	bool has_blob;
	struct dfs_hash blob;
	char target[DFS_SYMLINK_MAX + 1];
	char name[DFS_NAME_MAX + 1];
};
/* Attributes (ino and flags left 0 for the tree to set). */
int dfs_snode_attr(struct dfs_store *st, int64_t id, struct dfs_attr *ret);
int dfs_snode_info(struct dfs_store *st, int64_t id, struct dfs_snode *ret);
int dfs_snode_child(struct dfs_store *st, int64_t dir, const char *name,
		    int64_t *ret);
/* The one child of dir whose name starts with prefix (-ENOENT: none or
 * several). */
int dfs_snode_prefix(struct dfs_store *st, int64_t dir, const char *prefix,
		     int64_t *ret);
/* Children with an id above after, by id. */
int dfs_snode_children(struct dfs_store *st, int64_t dir, int64_t after,
		       struct dfs_idnames *ret);
int dfs_snode_target(struct dfs_store *st, int64_t id, char *buf, size_t cap);
int dfs_snode_blob(struct dfs_store *st, int64_t id, uint32_t *mode,
		   uint64_t *size, struct dfs_hash *ret);
/* The row of node id (children: of the nodes in folder id, by name),
 * stepped (1; the caller resets it), 0 for none, or -errno.  Columns: id,
 * name, mode, uid, gid, mtime, size, blob, target. */
int dfs_snode_rows(struct dfs_store *st, int64_t id, bool children,
		   sqlite3_stmt **ret);
/* Entries below root (root not counted). */
int dfs_snode_tree_size(struct dfs_store *st, int64_t root, int64_t *ret);
/* A blob the files of a snapshot name: its size, one node naming it. */
struct dfs_blobref {
	struct dfs_hash hash;
	uint64_t size;
	int64_t snode;
};
/* The distinct blobs of the regular files at and below root (the caller
 * frees *ret). */
int dfs_snode_blobs(struct dfs_store *st, int64_t root,
		    struct dfs_blobref **ret, size_t *ret_n);

/* ---- reqlink.c: what a link to a required component shows ------------------ */

/* The target link snode s shows `up` folders above its package's root:
 * 2 in packages/, 1 in an environment (see reqlink.c).  -EINVAL: not a
 * link. */
int dfs_link_shown(struct dfs_store *st, int64_t s, int up, char *buf,
		   size_t cap);
/* Is target what link snode s holds, as captured or as a tree shows it? */
bool dfs_link_target_is(struct dfs_store *st, int64_t s, const char *target);

/* ---- package.c, pkgquery.c, pkgmeta.c ---------------------------------------- */

struct dfs_pkg {
	int64_t id;
	int64_t root; /* snode id of NAME@VERSION */
	int64_t comp;
	char component[DFS_NAME_MAX + 1];
	char version[DFS_LABEL_MAX + 1];
	int64_t created;
	uint32_t uid;
};
/* Split "NAME@VERSION" of component c; -EINVAL if malformed or not c's. */
int dfs_pkg_parse(const struct dfs_component *c, const char *name,
		  const char **ret_version);
/* Snapshot component comp as the package name (one durable transaction,
 * recorded; a refusal is recorded with its reason). */
int dfs_pkg_create(struct dfs_store *st, const struct dfs_actor *actor,
		   int64_t comp, const char *name, int64_t *ret_root);
/* deployctl package remove|restore: a soft delete of comp's package
 * version (EBUSY while deployed), undone until the space is reclaimed. */
int dfs_pkg_set_removed(struct dfs_store *st, const struct dfs_actor *actor,
			int64_t comp, const char *version, bool removed);
/* ---- gc.c: reclaiming removed packages ----------------------------------- */

struct dfs_gc_result {
	int64_t packages; /* snapshots reclaimed */
	int64_t entries;  /* their snode rows */
	int64_t blobs;	  /* blobs deleted */
	int64_t bytes;	  /* their bytes */
};
struct dfs_gc_due {
	int64_t packages; /* removed packages due for reclaiming */
	int64_t blobs;	  /* blobs nothing names */
	int64_t bytes;	  /* their bytes */
};
/* Reclaim packages removed longer than grace_ns ago (deployed nowhere,
 * no copy in flight) and every blob nothing names; one audit line. */
int dfs_gc(struct dfs_store *st, const struct dfs_actor *actor,
	   int64_t grace_ns, struct dfs_gc_result *ret);
/* One step of a run: at most max_packages packages, then (none due left)
 * at most max_batches batches of 256 blobs (< 0: no limit; both 0: only
 * say what is due, record nothing); what is still due in ret_due (may be
 * NULL).  A step that may reclaim records one audit line. */
int dfs_gc_step(struct dfs_store *st, const struct dfs_actor *actor,
		int64_t grace_ns, int64_t max_packages, int64_t max_batches,
		struct dfs_gc_result *ret, struct dfs_gc_due *ret_due);

/* ---- retention.c: keeping packages, pruning old ones --------------------- */

/* deployctl package keep|unkeep: comp's package version is kept from
 * pruning (and from package remove, EPERM), or no more; recorded, and
 * so is a refusal. */
int dfs_pkg_set_keep(struct dfs_store *st, const struct dfs_actor *actor,
		     int64_t comp, const char *version, bool keep);
/* What prune decided for one package: why is NULL when it was (or, dry,
 * would be) removed, else why it stays. */
typedef void (*dfs_prune_fn)(void *ctx, const char *component,
			     const char *version, const char *why);
/* Soft-remove all but the newest keep packages of comp (0: of all), never
 * one deployed, being copied, kept, or packaged less than min_age_ns ago
 * (only: the "N@V" lines another host decided on).  One transaction, a
 * package-remove audit line each; dry: decide only.  How many went. */
int dfs_pkg_prune(struct dfs_store *st, const struct dfs_actor *actor,
		  int64_t comp, int64_t keep, int64_t min_age_ns, bool dry,
		  const char *only, dfs_prune_fn fn, void *ctx,
		  int64_t *ret_removed);

/* ---- pkgimport.c: packages from another store (deployctl import) -------- */

/* Make the package staged in stage (pkgimport.c) in one durable
 * transaction, recorded: 0 made, 1 here already with the same hash, or
 * -errno with why: -EEXIST here with another hash, -EBADMSG the tree does
 * not hash to the stated hash, -EINVAL a malformed stage. */
int dfs_pkg_import(struct dfs_store *st, const struct dfs_actor *actor,
		   const char *stage, char *why, size_t cap);

/* ---- pkgstatus.c: bad releases ------------------------------------------ */

/* deployctl package mark-bad (reason) | mark-good (reason NULL): comp's
 * package version; recorded, and so is a refusal. */
int dfs_pkg_set_bad(struct dfs_store *st, const struct dfs_actor *actor,
		    int64_t comp, const char *version, const char *reason);
/* 1 and its reason in buf if package pkg is marked bad, else 0. */
int dfs_pkg_bad_reason(struct dfs_store *st, int64_t pkg, char *buf,
		       size_t cap);
/* May p be deployed in env?  -EPERM (recorded) if it is marked bad and
 * the deploy is not forced. */
int dfs_pkg_deployable(struct dfs_store *st, const struct dfs_actor *actor,
		       const char *env, const struct dfs_pkg *p, bool forced);

int dfs_pkg_by_id(struct dfs_store *st, int64_t id, struct dfs_pkg *ret);
int dfs_pkg_by_version(struct dfs_store *st, const char *component,
		       const char *version, struct dfs_pkg *ret);
int dfs_pkg_latest(struct dfs_store *st, const char *component,
		   struct dfs_pkg *ret);
int dfs_pkg_of_snode(struct dfs_store *st, int64_t snode, struct dfs_pkg *ret);
/* Is snode the root of a removed package? */
bool dfs_pkg_root_removed(struct dfs_store *st, int64_t snode);
/* Tell the kernel package p is going (removed or pruned). */
void dfs_pkg_notice_gone(struct dfs_store *st, const struct dfs_pkg *p);
/*
 * A package of comp (named name) made before package id before (INT64_MAX:
 * a new one) with the same content hash: 1 and "same content hash as
 * NAME@W" (the latest such W) in buf, 0 when there is none, or -errno.
 * A mkdir in packages/ snapshots build/ as it is now: a copy of packages/
 * extracted into a mount makes every version of the current build, and
 * this says so (user.deployfs.warning and the audit line).
 */
int dfs_pkg_same_warning(struct dfs_store *st, int64_t comp, const char *name,
			 const struct dfs_hash *hash, int64_t before, char *buf,
			 size_t cap);
/* The version label of package id, removed or not. */
int dfs_pkg_label(struct dfs_store *st, int64_t id, char *buf, size_t cap);
struct dfs_version {
	char label[DFS_LABEL_MAX + 1];
	int64_t root;
	int64_t id;
};
struct dfs_versions {
	struct dfs_version *v;
	size_t n;
	size_t cap;
};
int dfs_pkg_versions(struct dfs_store *st, int64_t comp,
		     struct dfs_versions *ret);
struct dfs_pkg_folder {
	int64_t count;	 /* packages */
	int64_t changed; /* when packages last came or went */
	uint32_t uid;	 /* of the component's build folder */
	uint32_t gid;
};
int dfs_pkg_folder(struct dfs_store *st, int64_t comp,
		   struct dfs_pkg_folder *ret);
/* user.deployfs.* of the package whose root snode is root (-ENOENT: not
 * a package root). */
int dfs_pkg_meta_get(struct dfs_store *st, int64_t root, const char *name,
		     void *buf, size_t cap);
int dfs_pkg_meta_list(struct dfs_store *st, int64_t root, char *buf,
		      size_t cap);
int dfs_pkg_meta_set(struct dfs_store *st, const struct dfs_actor *actor,
		     int64_t root, const char *name, const void *value,
		     size_t size);

/* ---- env.c ---------------------------------------------------------------- */

struct dfs_env {
	int64_t id;
	char name[DFS_LABEL_MAX + 1];
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	int64_t mtime;
	int64_t ctime;
	char cls[16]; /* classification, "" when not set */
};
int dfs_env_by_id(struct dfs_store *st, int64_t id, struct dfs_env *ret);
int dfs_env_by_name(struct dfs_store *st, const char *name,
		    struct dfs_env *ret);
int dfs_env_list(struct dfs_store *st, struct dfs_idnames *ret);
int dfs_env_count(struct dfs_store *st, int64_t *ret);
int dfs_env_touch(struct dfs_store *st, int64_t id, int64_t now);
int dfs_env_create(struct dfs_store *st, const struct dfs_actor *actor,
		   const char *name, uint32_t mode, int64_t *ret_id);
/* busy: copies in progress there (kept in memory by the caller). */
int dfs_env_remove(struct dfs_store *st, const struct dfs_actor *actor,
		   const char *name, int64_t busy);
int dfs_env_set(struct dfs_store *st, int64_t id, const struct dfs_setattr *sa);
int dfs_env_classify(struct dfs_store *st, const struct dfs_actor *actor,
		     int64_t id, const char *value, size_t size);

/* ---- deploy.c --------------------------------------------------------------- */

struct dfs_dep {
	int64_t id;
	int64_t env;
	int64_t number;
	char component[DFS_NAME_MAX + 1];
	char version[DFS_LABEL_MAX + 1];
	int64_t root;
	int64_t package;
	int64_t created;
	uint32_t uid;
	uint32_t gid;
	char created_by[64];
	bool has_notes;
};
int dfs_dep_by_id(struct dfs_store *st, int64_t id, struct dfs_dep *ret);
int dfs_dep_of_comp(struct dfs_store *st, int64_t env, int64_t comp,
		    struct dfs_dep *ret);
int dfs_dep_of_pkg(struct dfs_store *st, int64_t env, int64_t pkg,
		   struct dfs_dep *ret);
/* The active deployments of env, by id (free *ret). */
int dfs_dep_active(struct dfs_store *st, int64_t env, struct dfs_dep **ret,
		   size_t *ret_n);
/* The notes (or with warning, the warning) of deployment id. */
int dfs_dep_text(struct dfs_store *st, int64_t id, bool warning, char *buf,
		 size_t cap);
/*
 * Deploy p in e: one durable transaction that ends the active deployment
 * of its component there, records the new one and its audit row.
 * Deploying what is deployed changes nothing (recorded as unchanged).
 * *ret_replaced: the package that was deployed before, or 0.
 */
int dfs_deploy(struct dfs_store *st, const struct dfs_actor *actor,
	       const struct dfs_env *e, const struct dfs_pkg *p,
	       const char *via, int64_t *ret_replaced);
int dfs_undeploy(struct dfs_store *st, const struct dfs_actor *actor,
		 const struct dfs_env *e, const struct dfs_dep *d);
/* The steps of dfs_deploy, inside the caller's transaction (batch.c): end
 * deployment d; the requirements of p that e lacks as "requires a, b, not
 * deployed in ENV" in buf ("" when none); record p's new deployment. */
int dfs_dep_end(struct dfs_store *st, const struct dfs_dep *d, int64_t now);
int dfs_dep_unmet(struct dfs_store *st, const struct dfs_env *e,
		  const struct dfs_pkg *p, char *buf, size_t cap);
int dfs_dep_insert(struct dfs_store *st, const struct dfs_actor *actor,
		   const struct dfs_env *e, const struct dfs_pkg *p,
		   const char *via, const char *warning, int64_t *ret_number);

/* ---- batch.c: many packages deployed in one transaction ------------------- */

#define DFS_BATCH_MAX 1000	 /* packages in one batch */
#define DFS_BATCH_NOTES_MAX 1000 /* bytes of a batch's notes */

struct dfs_batch_item {
	struct dfs_pkg pkg; /* to deploy (resolved by the caller) */
	bool forced;	    /* a bad release, forced */
	/* Set by dfs_deploy_batch: */
	bool has_old;	/* the component was deployed (old) */
	bool unchanged; /* ... and already as pkg */
	struct dfs_dep old;
};
/*
 * Deploy v[0..n) in e as one durable transaction: all or nothing.  Each
 * gets its audit line (deploy, rollback or unchanged) carrying the batch
 * id (the seq of the batch's first line: "batch 1234, 2 of 3") and notes
 * (also each new deployment's notes).  Requirements are judged once all
 * are in: what the batch brings is met.  *ret_batch: the batch id.
 */
int dfs_deploy_batch(struct dfs_store *st, const struct dfs_actor *actor,
		     const struct dfs_env *e, struct dfs_batch_item *v,
		     size_t n, const char *notes, int64_t *ret_batch);
int dfs_dep_set_notes(struct dfs_store *st, const struct dfs_actor *actor,
		      const struct dfs_env *e, const struct dfs_pkg *p,
		      const char *value, size_t size);
int dfs_staging_add(struct dfs_store *st, const struct dfs_actor *actor,
		    int64_t env, int64_t pkg, int64_t entries,
		    int64_t *ret_row);
void dfs_staging_progress(struct dfs_store *st, int64_t row, int64_t done);
void dfs_staging_drop(struct dfs_store *st, int64_t row);
int dfs_staging_clear(struct dfs_store *st);

/* ---- audit.c ------------------------------------------------------------------ */

/* Record ev inside the caller's transaction. */
int dfs_audit_record_in(struct dfs_store *st, const struct dfs_actor *a,
			const struct dfs_audit_event *ev);
/* The end of an act begun with a transaction: rc == 0 records ev and
 * commits durably; otherwise (or if recording fails) rolls back.
 * Returns 0 or -errno. */
int dfs_audit_act(struct dfs_store *st, const struct dfs_actor *a,
		  const struct dfs_audit_event *ev, int rc);
/* Record ev in a durable transaction of its own. */
int dfs_audit_commit(struct dfs_store *st, const struct dfs_actor *a,
		     const struct dfs_audit_event *ev);
/* Record a refused act; reason: rc's text, then why. */
void dfs_audit_refuse(struct dfs_store *st, const struct dfs_actor *a,
		      const char *action, const char *env,
		      const char *component, const char *version, int rc,
		      const char *why);
/* audit.log: index rows recorded before it existed; its size; a read. */
int dfs_audit_index(struct dfs_store *st);
int64_t dfs_audit_log_size(struct dfs_store *st);
ssize_t dfs_audit_read(struct dfs_store *st, void *buf, size_t n, uint64_t off);

/* ---- registry*.c: the registry hosts share (PostgreSQL) ---------------- */

/* An act in the registry's order (regact.c says which fields each has). */
struct dfs_reg_act {
	const char *action, *env, *component, *version, *via, *value;
	uint32_t mode, uid, gid;
	unsigned valid;
	int64_t deployment;
	bool unseen; /* not made by a call here: show it to watchers */
};
typedef int (*dfs_reg_apply_fn)(struct dfs_store *st,
				const struct dfs_actor *actor,
				const struct dfs_reg_act *act);
/* Order act in the registry, apply all acts up to it here: its result. */
int dfs_reg_act_locked(struct dfs_store *st, const struct dfs_actor *actor,
		       const struct dfs_reg_act *act, char *why, size_t cap);
/* Follow the registry at url, other hosts' acts applied here by apply:
 * 0, -EHOSTDOWN (followed once reachable), or -errno with why. */
int dfs_registry_start(struct dfs_store *st, const char *url, const char *host,
		       dfs_reg_apply_fn apply, char *why, size_t cap);
void dfs_registry_stop(struct dfs_store *st); /* st->lock not held */
/* regfetch.c: blob h's file checked (dfs_blob_check()), fetched from the
 * registry first when it came from there and is not here yet.  Without
 * st->lock: 0, -ENOENT no file, -EHOSTDOWN, -EIO, or another -errno. */
int dfs_blob_check_fetch(struct dfs_store *st, const struct dfs_hash *h,
			 uint64_t size);

#endif
