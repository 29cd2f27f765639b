// SPDX-License-Identifier: MIT
/*
 * regpub.c - a package published to the registry (registry.c), from
 * inside the local transaction that makes it (package.c): each blob it
 * names that the registry lacks goes up first, chunk by chunk, in a
 * transaction of its own (a blob is there whole or not at all: its
 * `blobs` row is written after its chunks); then one transaction writes
 * the package's event, its row (its metadata and its manifest: one
 * record per node) and the NOTIFY that tells the other hosts.  Only if
 * that commits does the local transaction commit; so a package is in
 * the registry whole or not at all, and a host that dies after the
 * registry's commit but before its own finds the package there again
 * when it catches up (regsub.c).
 *
 * A version another host published first with other content: -EEXIST,
 * and the local transaction rolls back.  The same content: nothing to do.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

struct pub {
	struct dfs_store *st;
	PGconn *c;
	struct dfs_bytes meta, manifest;
	char component[DFS_NAME_MAX + 1];
	char type[DFS_NAME_MAX + 1];
	struct dfs_hash hash;
	char *buf; /* one chunk */
	char *why;
	size_t cap;
};

static int put_str(struct dfs_bytes *b, const char *s)
{
	return dfs_bytes_put(b, s ? s : "", strlen(s ? s : "") + 1);
}

static int put_kv(struct dfs_bytes *b, const char *key, const char *value)
{
	char head[64];
	int rc;

	if (!value)
		return 0;
	snprintf(head, sizeof(head), "%s=", key);
	rc = dfs_bytes_put(b, head, strlen(head));
	return rc < 0 ? rc : put_str(b, value);
}

static int put_meta(struct pub *p, const struct dfs_pkg_record *r)
{
	char created[24], uid[24], hash[DFS_HASH_HEX];
	const char *const kv[][2] = {
		{ "component", r->component },	 { "type", r->type },
		{ "version", r->version },	 { "created", created },
		{ "created_by", r->created_by }, { "uid", uid },
		{ "notes", r->notes },		 { "revisions", r->revisions },
		{ "requires", r->requires },	 { "hash", hash },
	};
	int rc = 0;

	snprintf(created, sizeof(created), "%lld", (long long)r->created);
	snprintf(uid, sizeof(uid), "%lld", (long long)r->uid);
	dfs_hash_hex(&r->content_hash, hash);
	snprintf(p->component, sizeof(p->component), "%s", r->component);
	snprintf(p->type, sizeof(p->type), "%s", r->type);
	p->hash = r->content_hash;
	for (size_t i = 0; rc == 0 && i < sizeof(kv) / sizeof(kv[0]); i++)
		rc = put_kv(&p->meta, kv[i][0], kv[i][1]);
	return rc;
}

/* The registry has blob h whole: 1, else 0, or -errno. */
static int has_blob(struct pub *p, const struct dfs_hash *h)
{
	const char *v[] = { (const char *)h->b };
	const int len[] = { DFS_HASH_LEN }, fmt[] = { 1 };
	PGresult *r = NULL;
	int rc = dfs_reg_run(p->c, "looking a blob up", p->why, p->cap, &r,
			     "SELECT 1 FROM blobs WHERE hash = $1", 1, v, len,
			     fmt);

	if (rc == 0)
		rc = PQntuples(r) > 0;
	PQclear(r);
	return rc;
}

static int put_chunk(struct pub *p, const struct dfs_hash *h, uint32_t idx,
		     size_t n)
{
	char num[16];
	const char *v[] = { (const char *)h->b, num, p->buf };
	const int len[] = { DFS_HASH_LEN, 0, (int)n }, fmt[] = { 1, 0, 1 };

	snprintf(num, sizeof(num), "%u", idx);
	return dfs_reg_run(p->c, "uploading a chunk", p->why, p->cap, NULL,
			   "INSERT INTO chunks (hash, idx, data)"
			   " VALUES ($1, $2::integer, $3)"
			   " ON CONFLICT DO NOTHING",
			   3, v, len, fmt);
}

/* Blob h (size bytes) into the registry, its chunks then its row, in one
 * transaction: the bytes read are checked against h first. */
static int upload(struct pub *p, const struct dfs_hash *h, uint64_t size)
{
	char nsize[24], nchunks[16];
	const char *v[] = { (const char *)h->b, nsize, nchunks };
	const int len[] = { DFS_HASH_LEN, 0, 0 }, fmt[] = { 1, 0, 0 };
	uint32_t chunks =
		(uint32_t)((size + DFS_REG_CHUNK - 1) / DFS_REG_CHUNK);
	int fd = -1, rc = has_blob(p, h);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = dfs_blob_open_checked(p->st, h, size, &fd);
	if (rc == 0)
		rc = dfs_reg_exec(p->c, "uploading a blob", "BEGIN", p->why,
				  p->cap);
	for (uint32_t i = 0; rc == 0 && i < chunks; i++) {
		uint64_t off = (uint64_t)i * DFS_REG_CHUNK;
		size_t n = size - off < DFS_REG_CHUNK ? (size_t)(size - off)
						      : DFS_REG_CHUNK;
		ssize_t got = pread(fd, p->buf, n, (off_t)off);

		if (got != (ssize_t)n)
			rc = got < 0 ? -errno : -EIO;
		else
			rc = put_chunk(p, h, i, n);
	}
	snprintf(nsize, sizeof(nsize), "%llu", (unsigned long long)size);
	snprintf(nchunks, sizeof(nchunks), "%u", chunks);
	if (rc == 0)
		rc = dfs_reg_run(p->c, "uploading a blob", p->why, p->cap, NULL,
				 "INSERT INTO blobs (hash, size, chunks)"
				 " VALUES ($1, $2::bigint, $3::integer)"
				 " ON CONFLICT DO NOTHING",
				 3, v, len, fmt);
	if (rc == 0)
		rc = dfs_reg_exec(p->c, "uploading a blob", "COMMIT", p->why,
				  p->cap);
	dfs_reg_end(p->c);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int add_node(void *ctx, const struct dfs_pkg_record *r,
		    const struct dfs_pkg_node *n)
{
	struct pub *p = ctx;
	char line[160], hash[DFS_HASH_HEX] = "";
	int rc = 0;

	if (!p->meta.len)
		rc = put_meta(p, r);
	if (rc == 0 && S_ISREG(n->mode)) {
		dfs_hash_hex(&n->blob, hash);
		rc = upload(p, &n->blob, n->size);
	}
	/* path, then "mode uid gid mtime size hash", then the link's text */
	snprintf(line, sizeof(line), "%o %u %u %lld %llu %s", n->mode, n->uid,
		 n->gid, (long long)n->mtime, (unsigned long long)n->size,
		 hash[0] ? hash : "-");
	if (rc == 0)
		rc = put_str(&p->manifest, n->path);
	if (rc == 0)
		rc = put_str(&p->manifest, line);
	if (rc == 0)
		rc = put_str(&p->manifest, n->target);
	return rc;
}

/* Published already: 0 when with the same content, else -EEXIST. */
static int clash(struct pub *p, const char *version)
{
	const char *v[] = { p->component, version };
	PGresult *r = NULL;
	int rc = dfs_reg_run(p->c, "reading the registry", p->why, p->cap, &r,
			     "SELECT p.content_hash, e.host FROM packages p"
			     " JOIN events e ON e.seq = p.seq"
			     " WHERE p.component = $1 AND p.version = $2",
			     2, v, NULL, NULL);

	if (rc < 0)
		return rc;
	rc = -EEXIST;
	if (PQntuples(r) == 1 && PQgetlength(r, 0, 0) == DFS_HASH_LEN &&
	    !memcmp(PQgetvalue(r, 0, 0), p->hash.b, DFS_HASH_LEN))
		rc = 0;
	else
		snprintf(p->why, p->cap,
			 "version %s is in the registry already, published"
			 " by %s with other content",
			 version, PQntuples(r) ? PQgetvalue(r, 0, 1) : "?");
	PQclear(r);
	return rc;
}

static int publish_row(struct pub *p, const struct dfs_actor *actor,
		       const char *version)
{
	struct dfs_registry *reg = p->st->registry;
	char user[64];
	const char *ev[] = { reg->host, user, p->component, version };
	const char *pv[7] = { p->component, version,
			      p->type,	    (const char *)p->hash.b,
			      p->meta.p,    p->manifest.p,
			      NULL };
	const int plen[] = {
		0, 0, 0, DFS_HASH_LEN, (int)p->meta.len, (int)p->manifest.len, 0
	};
	const int pfmt[] = { 0, 0, 0, 1, 1, 1, 0 };
	char seq[24];
	PGresult *r = NULL;
	int rc;

	dfs_user_name(actor->uid, user, sizeof(user));
	/* The table locked: events commit in the order of their numbers
	 * (regact.c says why). */
	rc = dfs_reg_exec(p->c, "publishing",
			  "BEGIN; LOCK TABLE events IN EXCLUSIVE MODE", p->why,
			  p->cap);
	if (rc == 0)
		rc = dfs_reg_run(p->c, "publishing", p->why, p->cap, &r,
				 "INSERT INTO events (host, actor, action,"
				 " component, version, result)"
				 " VALUES ($1, $2, 'package', $3, $4, 'ok')"
				 " RETURNING seq::text",
				 4, ev, NULL, NULL);
	if (rc == 0) {
		snprintf(seq, sizeof(seq), "%s", PQgetvalue(r, 0, 0));
		pv[6] = seq;
	}
	PQclear(r);
	if (rc == 0)
		rc = dfs_reg_run(p->c, "publishing", p->why, p->cap, NULL,
				 "INSERT INTO packages (component, version,"
				 " type, content_hash, meta, manifest, seq)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7::bigint)",
				 7, pv, plen, pfmt);
	if (rc == 0)
		rc = dfs_reg_run(p->c, "publishing", p->why, p->cap, NULL,
				 "SELECT pg_notify('deployfs', $1)", 1,
				 (const char *const[]){ seq }, NULL, NULL);
	if (rc == 0)
		rc = dfs_reg_exec(p->c, "publishing", "COMMIT", p->why, p->cap);
	dfs_reg_end(p->c);
	if (rc == -EEXIST)
		rc = clash(p, version);
	return rc;
}

int dfs_reg_publish_locked(struct dfs_store *st, const struct dfs_actor *actor,
			   const char *component, const char *version,
			   char *why, size_t cap)
{
	struct pub p = { .st = st, .why = why, .cap = cap };
	int rc;

	if (!st->registry)
		return 0;
	rc = dfs_reg_conn(st->registry, &p.c, why, cap);
	if (rc < 0)
		return rc;
	p.buf = malloc(DFS_REG_CHUNK);
	if (!p.buf)
		return -ENOMEM;
	rc = dfs_pkg_export_locked(st, component, version, add_node, &p);
	if (rc == 0)
		rc = publish_row(&p, actor, version);
	if (rc < 0 && rc != -EEXIST)
		dfs_log(DFS_LOG_ERR, "registry: publishing %s@%s: %s",
			component, version, why);
	free(p.buf);
	dfs_bytes_free(&p.meta);
	dfs_bytes_free(&p.manifest);
	return rc;
}
