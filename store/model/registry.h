/* SPDX-License-Identifier: MIT */
/*
 * registry.h - what registry.c, regpub.c and regsub.c share of the
 * registry in PostgreSQL; the rest of the store sees model.h's part.
 */
#ifndef DFS_MODEL_REGISTRY_H
#define DFS_MODEL_REGISTRY_H

#include <libpq-fe.h>

#include "model.h"

/* In a staged package: the blobs that come on first read (regsub.c). */
#define DFS_STAGE_REMOTE "remote"
/* Blobs go to the registry in chunks of this many bytes at most. */
#define DFS_REG_CHUNK (1u << 20)

struct dfs_registry {
	char *url;
	char host[256]; /* this host's name in the registry's events */
	PGconn *conn;	/* acts, used with st->lock held */
	struct dfs_reg_follower *follower; /* regfollow.c; NULL: none */
	dfs_reg_apply_fn apply;		   /* an act applied here (trees) */
	int64_t applied; /* the last event applied here (st->lock) */
	/* Blobs fetched on first read (regfetch.c), without st->lock: one
	 * at a time, on a connection of their own. */
	pthread_mutex_t fetch_lock;
	PGconn *fetch;
};

/* Apply here the registry's events after reg->applied, up to upto, in
 * order; the event own (if any) as actor's, its result in *own_rc.  0, or
 * -errno (why says) when the registry or this host failed: what is left
 * is applied by a later call. */
/* Where the package of event seq is staged ahead (STORE/regstage.SEQ);
 * removing a staged folder; all of them (at start). */
void dfs_reg_stage_path(const struct dfs_store *st, int64_t seq, char *buf,
			size_t cap);
void dfs_reg_unstage(const char *stage);
void dfs_reg_unstage_all(const struct dfs_store *st);
/* Stage, without st->lock, each package published after `after` that is
 * not here yet, so that applying it does not hold the store while its
 * bytes come (the follower, before it catches up). */
int dfs_reg_prestage(struct dfs_store *st, PGconn *c, int64_t after, char *why,
		     size_t cap);
/* Put the refusals made while the registry was away in its trail
 * (regtrail.c): 0 or -errno with why. */
int dfs_reg_replay_locked(struct dfs_store *st, char *why, size_t cap);
int dfs_reg_catch_up_locked(struct dfs_store *st, int64_t upto,
			    const struct dfs_actor *actor, int64_t own,
			    int *own_rc, char *why, size_t cap);

/* PostgreSQL's failure as -errno (-EHOSTDOWN not connected, -EEXIST a
 * unique key, -EAGAIN a serialization failure, -EPERM the append-only
 * trigger, else -EIO), with "what: its message" in why. */
int dfs_reg_errno(PGconn *c, PGresult *r, const char *what, char *why,
		  size_t cap);
void dfs_reg_msg(char *why, size_t cap, const char *what, const char *msg);
/* Run sql with n text or binary parameters (formats NULL: all text),
 * results binary: 0 with *ret (PQclear() it) when ret is not NULL, or
 * -errno as dfs_reg_errno(). */
int dfs_reg_run(PGconn *c, const char *what, char *why, size_t cap,
		PGresult **ret, const char *sql, int n,
		const char *const *values, const int *lengths,
		const int *formats);
/* Make s valid UTF-8 for a text column: each byte that is not, '?'. */
void dfs_reg_utf8(char *s);
/* A binary int4 or int8 column. */
int64_t dfs_reg_int(const PGresult *r, int row, int col);
/* Roll back a transaction a failure left open. */
void dfs_reg_end(PGconn *c);
/* st->registry's connection, made again when it was lost. */
int dfs_reg_conn(struct dfs_registry *reg, PGconn **ret, char *why, size_t cap);

/* The same for fetching blobs (reg->fetch_lock held). */
int dfs_reg_fetch_conn(struct dfs_registry *reg, PGconn **ret, char *why,
		       size_t cap);
/* regfetch.c: blob h of size bytes from the registry into fd (empty),
 * chunk by chunk, checked against h as it comes: 0, -EIO (a chunk
 * missing or the bytes not h's), or -errno, with why. */
int dfs_reg_fetch_into(PGconn *c, const struct dfs_hash *h, uint64_t size,
		       int fd, char *why, size_t cap);

/* Connect to the registry at url and check its schema: -EHOSTDOWN not
 * reachable, -ENOMEDIUM not a registry, -EPROTO a newer schema. */
int dfs_reg_connect(const char *url, PGconn **ret, char *why, size_t cap);
/* Run sql, which may be several statements: 0 or -errno as
 * dfs_reg_errno() (registry.h). */
int dfs_reg_exec(PGconn *c, const char *what, const char *sql, char *why,
		 size_t cap);
/* Whether component@version is here, removed or not: 1, 0, or -errno. */
int dfs_pkg_known(struct dfs_store *st, const char *component,
		  const char *version);
/* Stage component@version from the registry into the empty folder stage
 * for dfs_pkg_import(), its meta naming host as the publisher. */
int dfs_reg_stage(PGconn *c, const char *component, const char *version,
		  const char *stage, const char *host, char *why, size_t cap);
/* st->registry for url (this host named by gethostname()): 0, or
 * -EHOSTDOWN (set, not connected yet), or another -errno (not set). */
int dfs_registry_open(struct dfs_store *st, const char *url, char *why,
		      size_t cap);
void dfs_registry_set_host(struct dfs_store *st, const char *host);
void dfs_registry_close(struct dfs_store *st);

/* Publish component@version (made in the open transaction) to the
 * registry, if the store has one: 0 (also when the registry has it with
 * the same content), -EEXIST another host published that version with
 * other content, -EHOSTDOWN the registry is not reachable. */
int dfs_reg_publish_locked(struct dfs_store *st, const struct dfs_actor *actor,
			   const char *component, const char *version,
			   char *why, size_t cap);
/* The same as dfs_pkg_export() with st->lock held. */
int dfs_pkg_export_locked(struct dfs_store *st, const char *component,
			  const char *version, dfs_pkg_node_fn fn, void *ctx);
/* The last act applied from the registry, by its place there (0: none). */
int dfs_audit_reg_seq(struct dfs_store *st, int64_t *ret);

#endif
