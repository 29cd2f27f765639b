// SPDX-License-Identifier: MIT
/*
 * regfetch.c - blobs that come from the registry, fetched when they are
 * first needed.  A package another host published is made here with the
 * rows of its larger blobs only (regsub.c stages them as empty files,
 * pkgimport.c records them in blob_remote); the bytes of such a blob are
 * fetched the first time an open, a deploy's check or an export needs
 * them: streamed from the registry's chunks in order into a temporary
 * file of the blob folder, hashed as they come, and named (synced, then
 * linked, as every blob file is) only when they hash to the blob's name.
 * From then on it is a blob like any other, found good for this mount.
 *
 * The registry unreachable: -EHOSTDOWN at once (libpq's connect timeout
 * bounds the wait; an open says EIO); a chunk missing or bytes that are
 * not the blob's: -EIO.  One log line says why, and nothing is named.  Fetches run without
 * st->lock, one at a time on a connection of their own.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "registry.h"

#include <deployfs/log.h>

static const char sql_chunks[] =
	"SELECT idx, data FROM chunks WHERE hash = $1 ORDER BY idx";

struct fetch {
	const struct dfs_hash *h;
	uint64_t size, off;
	int64_t idx;
	int fd;
	XXH3_state_t *x;
	char *why;
	size_t cap;
};

/* One chunk row (idx, data) in order: written at f->off and hashed. */
static int put_chunk(struct fetch *f, const PGresult *r)
{
	int n = PQgetlength(r, 0, 1);
	char hex[DFS_HASH_HEX];
	int rc;

	if (dfs_reg_int(r, 0, 0) != f->idx || n <= 0 ||
	    (uint64_t)n > f->size - f->off) {
		dfs_hash_hex(f->h, hex);
		snprintf(f->why, f->cap,
			 "blob %s: chunk %lld is missing in the registry", hex,
			 (long long)f->idx);
		return -EIO;
	}
	rc = dfs_io_write_all_at(f->fd, PQgetvalue(r, 0, 1), (size_t)n,
				 (off_t)f->off);
	if (rc < 0)
		return rc;
	XXH3_128bits_update(f->x, PQgetvalue(r, 0, 1), (size_t)n);
	f->off += (uint64_t)n;
	f->idx++;
	return 0;
}

/* Ask the server to stop sending the rows of the query in progress. */
static void cancel(PGconn *c)
{
	PGcancel *cn = PQgetCancel(c);
	char buf[256];

	if (cn) {
		(void)PQcancel(cn, buf, sizeof(buf));
		PQfreeCancel(cn);
	}
}

int dfs_reg_fetch_into(PGconn *c, const struct dfs_hash *h, uint64_t size,
		       int fd, char *why, size_t cap)
{
	const char *v[] = { (const char *)h->b };
	const int len[] = { DFS_HASH_LEN }, fmt[] = { 1 };
	struct fetch f = {
		.h = h, .size = size, .fd = fd, .why = why, .cap = cap
	};
	char hex[DFS_HASH_HEX];
	XXH128_canonical_t got;
	PGresult *r;
	int rc = 0;

	f.x = XXH3_createState();
	if (!f.x)
		return -ENOMEM;
	XXH3_128bits_reset(f.x);
	/* A row at a time: a large blob never sits in memory whole. */
	if (!PQsendQueryParams(c, sql_chunks, 1, NULL, v, len, fmt, 1) ||
	    !PQsetSingleRowMode(c))
		rc = dfs_reg_errno(c, NULL, "fetching a blob", why, cap);
	while ((r = PQgetResult(c))) {
		ExecStatusType t = PQresultStatus(r);
		bool failed = rc < 0;

		if (rc == 0 && t == PGRES_SINGLE_TUPLE)
			rc = put_chunk(&f, r);
		else if (rc == 0 && t != PGRES_TUPLES_OK)
			rc = dfs_reg_errno(c, r, "fetching a blob", why, cap);
		PQclear(r);
		if (rc < 0 && !failed)
			cancel(c); /* the rest is not wanted */
	}
	dfs_hash_hex(h, hex);
	if (rc == 0 && f.off != size) {
		snprintf(why, cap,
			 "blob %s: chunk %lld is missing in the registry", hex,
			 (long long)f.idx);
		rc = -EIO;
	}
	XXH128_canonicalFromHash(&got, XXH3_128bits_digest(f.x));
	XXH3_freeState(f.x);
	if (rc == 0 && memcmp(got.digest, h->b, DFS_HASH_LEN) != 0) {
		snprintf(why, cap, "blob %s from the registry is damaged", hex);
		rc = -EIO;
	}
	return rc;
}

/* Fetch blob h into a blob file of its name (reg->fetch_lock held). */
static int fetch_file(struct dfs_store *st, const struct dfs_hash *h,
		      uint64_t size, char *why, size_t cap)
{
	char tmp[64];
	PGconn *c = NULL;
	int fd, rc = dfs_reg_fetch_conn(st->registry, &c, why, cap);

	if (rc < 0)
		return rc;
	fd = dfs_blob_tmp(st, tmp);
	if (fd < 0) {
		snprintf(why, cap, "cannot make a file in the blob folder");
		return fd;
	}
	rc = dfs_reg_fetch_into(c, h, size, fd, why, cap);
	if (rc == 0)
		rc = dfs_blob_link(st, fd, tmp, h);
	else
		(void)unlinkat(st->blobs_fd, tmp, 0);
	if (rc < 0 && !why[0])
		snprintf(why, cap, "cannot write the blob file");
	close(fd);
	return rc;
}

/* Blob h's file: here (0), fetched now (0), -ENOENT not a blob of the
 * registry, or -EIO / a local -errno (logged) when it cannot be had. */
static int fetch(struct dfs_store *st, const struct dfs_hash *h, uint64_t size)
{
	struct dfs_registry *reg = st->registry;
	char path[40], hex[DFS_HASH_HEX], why[600] = "";
	int rc;

	dfs_blob_relpath(h, path);
	if (faccessat(st->blobs_fd, path, F_OK, 0) == 0)
		return 0;
	pthread_mutex_lock(&st->lock);
	rc = dfs_blob_is_remote(st, h);
	pthread_mutex_unlock(&st->lock);
	if (rc <= 0)
		return rc < 0 ? rc : -ENOENT;
	if (!reg) {
		snprintf(why, sizeof(why),
			 "it is in the registry and this mount has none"
			 " (-o registry=URL)");
		rc = -EIO;
	} else {
		pthread_mutex_lock(&reg->fetch_lock);
		rc = faccessat(st->blobs_fd, path, F_OK, 0) == 0
			     ? 0 /* fetched meanwhile */
			     : fetch_file(st, h, size, why, sizeof(why));
		pthread_mutex_unlock(&reg->fetch_lock);
	}
	if (rc < 0) {
		dfs_hash_hex(h, hex);
		dfs_log(DFS_LOG_ERR,
			"blob \"%s\" not fetched: %s path=" DFS_BLOBS_DIR
			"/%.2s/%s",
			hex, why, hex, hex);
		return rc == -EHOSTDOWN || rc == -ENOMEM || rc == -ENOSPC ||
				       rc == -EDQUOT
			       ? rc
			       : -EIO;
	}
	dfs_blob_mark_good(st, h);
	return 0;
}

int dfs_blob_check_fetch(struct dfs_store *st, const struct dfs_hash *h,
			 uint64_t size)
{
	int rc = dfs_blob_check(st, h, size);

	return rc == -ENOENT ? fetch(st, h, size) : rc;
}
