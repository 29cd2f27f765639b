// SPDX-License-Identifier: MIT
/*
 * redo.c - the close log: how a close is kept from a kill -9 without a
 * commit of its own.
 *
 * A commit per close made an untar of 10,000 small files write about 15
 * WAL frames a file, for pages (the folder's index leaves, the inode
 * table's last leaf) that the next file's commit writes again.  So a
 * close no longer commits: the statements of the open transaction (each
 * its SQL text and the values bound to it, binary; a statement run with
 * values not bound through db.c as SQLite expands it) are appended to
 * STORE/redo in one write, and the group commit (txn.c, at
 * most DFS_LAZY_MS later) commits them all at once.  A kill -9 loses no
 * write that reached the kernel, so what a close appended survives it;
 * the next open of the store runs the statements again, in order, on the
 * state they were first run on: the last commit.
 *
 * Each record: a header (magic, payload length, epoch, sequence number,
 * XXH3-64 of the payload seeded with the rest) and the statements: 'T'
 * and the SQL ending in '\0', or 'B', the SQL ending in '\0', the length
 * of its values (4 bytes) and the values ('i' and 8 bytes, 'b', a length
 * of 4 bytes and the bytes, or 'n' for NULL).  The records of one transaction share its epoch and
 * count up from 0; the transaction's commit stores its epoch in the
 * table redo (schema 10), so a log whose epoch the database already has
 * was committed and is not run again.  After a commit the next
 * transaction writes from offset 0 again, over the old records: reading
 * stops at the first record of another epoch, out of sequence, or whose
 * sum is wrong (a write torn by the kill, whose close was not answered).
 *
 * Only the daemon writes the log (it holds the store's lock); an open
 * that can take the lock (no daemon serves the store) runs a log left
 * behind.  A power cut is another matter: the log is not synced, as the
 * WAL is not; fsync of a file or a folder commits and syncs, as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "storage.h"

#define REDO_MAGIC 0x52534644u /* "DFSR" */

struct redo_hdr {
	uint32_t magic;
	uint32_t len;
	uint64_t epoch;
	uint64_t seq;
	uint64_t sum;
};

static uint64_t record_sum(const struct redo_hdr *h, const void *payload)
{
	return XXH3_64bits_withSeed(payload, h->len,
				    h->epoch ^ (h->seq << 32) ^ h->len);
}

/* ---- logging the open transaction's statements ---------------------------- */

static int append(struct dfs_redo *r, const char *s, size_t n)
{
	return dfs_bytes_put(&r->buf, s, n);
}

/* SQLite calls this as each statement starts; a statement that then fails
 * changed nothing, and running it again fails again. */
static int trace(unsigned type, void *ctx, void *p, void *x)
{
	struct dfs_store *st = ctx;
	struct dfs_redo *r = &st->redo;
	const char *sql = x;
	uint32_t plen;
	char *e;

	(void)type;
	if (!st->txn_open || st->txn_whole || r->broken)
		return 0;
	if (sql && sql[0] == '-' && sql[1] == '-')
		return 0; /* a trigger's: the statement that fired it is */
	if (p == r->bound) {
		r->bound = NULL;
		plen = (uint32_t)r->params.len;
		sql = sqlite3_sql(p);
		if (append(r, "B", 1) < 0 ||
		    append(r, sql, strlen(sql) + 1) < 0 ||
		    append(r, (const char *)&plen, sizeof(plen)) < 0 ||
		    append(r, r->params.p, r->params.len) < 0)
			r->broken = true;
		return 0;
	}
	if (sqlite3_stmt_readonly(p))
		return 0;
	e = sqlite3_expanded_sql(p);
	if (!e || append(r, "T", 1) < 0 || append(r, e, strlen(e) + 1) < 0)
		r->broken = true;
	sqlite3_free(e);
	return 0;
}

void dfs_redo_op_begin(struct dfs_store *st)
{
	struct dfs_redo *r = &st->redo;

	if (r->depth < DFS_REDO_DEPTH)
		r->mark[r->depth] = r->buf.len;
	else
		r->broken = true;
	r->depth++;
}

void dfs_redo_op_end(struct dfs_store *st, bool undone)
{
	struct dfs_redo *r = &st->redo;

	if (r->depth == 0)
		return;
	r->depth--;
	if (undone && r->depth < DFS_REDO_DEPTH) {
		if (r->mark[r->depth] < r->written)
			r->broken = true; /* undoes what the file holds */
		else
			r->buf.len = r->mark[r->depth];
	}
}

bool dfs_redo_pending(const struct dfs_store *st)
{
	return st->redo.written > 0;
}

/*
 * The open transaction's statements not yet in the file, appended in one
 * write.  0: a kill -9 from now on loses none of them; < 0: the caller
 * commits instead.
 */
int dfs_redo_write(struct dfs_store *st)
{
	struct dfs_redo *r = &st->redo;
	struct redo_hdr h;
	struct iovec iov[2];
	ssize_t n;

	if (r->fd < 0 || r->broken || st->txn_whole || !st->txn_open)
		return -EAGAIN;
	if (r->written == r->buf.len)
		return 0;
	h.magic = REDO_MAGIC;
	h.len = (uint32_t)(r->buf.len - r->written);
	h.epoch = r->epoch;
	h.seq = r->seq;
	h.sum = record_sum(&h, r->buf.p + r->written);
	iov[0] = (struct iovec){ &h, sizeof(h) };
	iov[1] = (struct iovec){ r->buf.p + r->written, h.len };
	n = pwritev(r->fd, iov, 2, r->off);
	if (n != (ssize_t)(sizeof(h) + h.len))
		return n < 0 ? -errno : -EIO;
	r->off += n;
	r->seq++;
	r->written = r->buf.len;
	return 0;
}

/* Before COMMIT: the transaction names the epoch of its records. */
int dfs_redo_seal(struct dfs_store *st)
{
	static const char sql[] = "UPDATE redo SET epoch = ?1";

	if (!dfs_redo_pending(st))
		return 0;
	return dfs_exec_sql(st, sql, "i", (int64_t)st->redo.epoch);
}

/* The transaction ended: committed (its records are done with) or
 * rolled back. */
void dfs_redo_end(struct dfs_store *st, bool committed)
{
	struct dfs_redo *r = &st->redo;

	/* Undone (and reported to the callers as lost): its records must
	 * not be run by the next open. */
	if (!committed && r->written > 0 && ftruncate(r->fd, 0) < 0)
		dfs_log(DFS_LOG_ERR,
			"\"%s/%s\": cannot empty it (%s); the next open runs "
			"calls whose loss was reported",
			st->path, DFS_REDO_NAME, strerror(errno));
	if (r->written > 0) {
		r->epoch++;
		r->seq = 0;
		r->off = 0;
	}
	r->retrying = false;
	r->buf.len = r->written = 0;
	r->depth = 0;
	r->broken = false;
}

/* ---- running a log again ----------------------------------------------------- */

/* Bind the values of a 'B' entry (at p, plen bytes) to s. */
static int bind_params(sqlite3_stmt *s, const char *p, uint32_t plen)
{
	const char *end = p + plen;
	int i = 1;

	while (p < end) {
		int64_t v;
		uint32_t n;

		switch (*p++) {
		case 'i':
			if (end - p < 8)
				return -EIO;
			memcpy(&v, p, sizeof(v));
			p += sizeof(v);
			sqlite3_bind_int64(s, i++, v);
			break;
		case 'b':
			if (end - p < 4)
				return -EIO;
			memcpy(&n, p, sizeof(n));
			p += sizeof(n);
			if ((size_t)(end - p) < n)
				return -EIO;
			sqlite3_bind_blob(s, i++, p, (int)n, SQLITE_STATIC);
			p += n;
			break;
		case 'n':
			sqlite3_bind_null(s, i++);
			break;
		default:
			return -EIO;
		}
	}
	return 0;
}

/* One 'B' entry: prepare, bind, step to its end. */
static int run_bound(struct dfs_store *st, const char *sql, const char *p,
		     uint32_t plen)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK && bind_params(s, p, plen) == 0) {
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Run the statements of buf (len bytes of entries) in the open
 * transaction; a statement that fails failed the first time too.
 * *ret_n: how many ran; returns how many failed, or -EIO for an entry
 * that cannot be read. */
static long run(struct dfs_store *st, const char *buf, size_t len,
		size_t *ret_n)
{
	long failed = 0;
	size_t i = 0, n = 0;

	while (i < len) {
		char kind = buf[i++];
		const char *sql = buf + i;
		size_t sl = strnlen(sql, len - i);
		uint32_t plen = 0;

		if (sl == len - i || (kind != 'T' && kind != 'B'))
			return -EIO;
		i += sl + 1;
		if (kind == 'T') {
			if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) !=
			    SQLITE_OK)
				failed++;
		} else {
			if (len - i < sizeof(plen))
				return -EIO;
			memcpy(&plen, buf + i, sizeof(plen));
			i += sizeof(plen);
			if (len - i < plen)
				return -EIO;
			if (run_bound(st, sql, buf + i, plen) < 0)
				failed++;
			i += plen;
		}
		n++;
	}
	*ret_n = n;
	return failed;
}

/*
 * The commit of a transaction whose closes the log holds failed (a full
 * disk) and SQLite rolled it back: run again what the file holds (the
 * closes answered, and what came before them) in a new transaction,
 * which the next tick commits; what came after is dropped.  0, or < 0
 * when even that failed (the caller reports the loss).
 */
int dfs_redo_rerun(struct dfs_store *st)
{
	struct dfs_redo *r = &st->redo;
	size_t n;

	if (r->written == 0 || r->broken)
		return -EIO;
	r->buf.len = r->written;
	if (dfs_db_exec(st, "BEGIN IMMEDIATE") < 0)
		return -EIO;
	if (run(st, r->buf.p, r->buf.len, &n) < 0) {
		(void)dfs_db_exec(st, "ROLLBACK");
		return -EIO;
	}
	r->depth = 0;
	return 0;
}

/* The records of the log's first epoch, in order and whole, run in one
 * durable transaction unless the database has that epoch already. */
static int replay(struct dfs_store *st, const char *buf, size_t len,
		  int64_t have, uint64_t *ret_epoch)
{
	size_t off = 0, stmts = 0, failed = 0, records = 0, n;
	uint64_t epoch = 0;
	long got;
	int rc;

	*ret_epoch = (uint64_t)have;
	while (off + sizeof(struct redo_hdr) <= len) {
		struct redo_hdr h;

		memcpy(&h, buf + off, sizeof(h));
		if (h.magic != REDO_MAGIC || h.len > len - off - sizeof(h) ||
		    (records == 0 ? (int64_t)h.epoch <= have
				  : h.epoch != epoch) ||
		    h.seq != records ||
		    record_sum(&h, buf + off + sizeof(h)) != h.sum)
			break;
		if (records == 0) {
			epoch = h.epoch;
			rc = dfs_db_exec(st, "BEGIN IMMEDIATE");
			if (rc < 0)
				return rc;
		}
		got = run(st, buf + off + sizeof(h), h.len, &n);
		if (got < 0) { /* summed right, read wrong: a bug */
			(void)dfs_db_exec(st, "ROLLBACK");
			dfs_log(DFS_LOG_ERR,
				"\"%s/%s\": record %zu at byte %zu cannot be "
				"read; the store is left as it is",
				st->path, DFS_REDO_NAME, records, off);
			return -EUCLEAN;
		}
		failed += (size_t)got;
		stmts += n;
		records++;
		off += sizeof(h) + h.len;
	}
	if (records == 0)
		return 0;
	rc = dfs_exec_sql(st, "UPDATE redo SET epoch = ?1", "i",
			  (int64_t)epoch);
	if (rc == 0)
		rc = dfs_db_exec(st, "COMMIT");
	if (rc < 0) {
		(void)dfs_db_exec(st, "ROLLBACK");
		return rc;
	}
	dfs_log(DFS_LOG_INFO,
		"\"%s\": ran again the %zu statements (%zu records) of calls "
		"answered before the daemon stopped without committing them%s",
		st->path, stmts, records,
		failed ? "; some failed as they did the first time" : "");
	*ret_epoch = epoch;
	return 1;
}

static int sync_wal(struct dfs_store *st)
{
	int fd = openat(st->dirfd, DFS_DB_NAME "-wal", O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = dfs_io_fsync(fd);
	close(fd);
	return rc;
}

/* Run what a log left behind holds, if nobody else serves the store
 * (daemon: st->lock_fd is its lock). */
static int recover(struct dfs_store *st, int fd, uint64_t *ret_epoch)
{
	int64_t have = 0;
	char *buf = NULL;
	size_t len = 0;
	int rc = dfs_query_int(st, "SELECT epoch FROM redo", &have, "");

	if (rc < 0)
		return rc;
	*ret_epoch = (uint64_t)have;
	rc = dfs_read_whole(fd, &buf, &len);
	if (rc == 0)
		rc = replay(st, buf, len, have, ret_epoch);
	free(buf);
	if (rc == 1)
		rc = sync_wal(st);
	else
		return rc; /* nothing run: the folder stays as it was */
	if (rc == 0 && ftruncate(fd, 0) < 0)
		rc = -errno;
	return rc;
}

/*
 * At open, before migrations (the statements are of this schema): run a
 * log left behind, and (daemon) keep the log open for the closes to come.
 */
int dfs_redo_open(struct dfs_store *st, int version)
{
	struct dfs_redo *r = &st->redo;
	bool daemon = st->flags & DFS_OPEN_DAEMON;
	uint64_t epoch = 0;
	int fd, lock = -1, rc;

	r->fd = -1;
	fd = openat(st->dirfd, DFS_REDO_NAME,
		    daemon ? O_RDWR | O_CREAT | O_CLOEXEC : O_RDWR | O_CLOEXEC,
		    0600);
	if (fd < 0) /* without a daemon: one that may not write reads on */
		return errno == ENOENT || !daemon ? 0 : -errno;
	if (!daemon) {
		lock = openat(st->dirfd, DFS_LOCK_NAME, O_RDWR | O_CLOEXEC);
		if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
			if (lock >= 0)
				close(lock);
			close(fd);
			return 0; /* a daemon serves it: its log */
		}
	}
	/* No log before schema 10; its table comes with the migration. */
	if (version >= 10)
		rc = recover(st, fd, &epoch);
	else
		rc = ftruncate(fd, 0) < 0 ? -errno : 0;
	if (lock >= 0)
		close(lock);
	if (rc < 0 || !daemon) {
		close(fd);
		return rc;
	}
	r->fd = fd;
	r->epoch = epoch + 1;
	sqlite3_trace_v2(st->db, SQLITE_TRACE_STMT, trace, st);
	return 0;
}

void dfs_redo_close(struct dfs_store *st)
{
	/* All committed: nothing for the next open to read. */
	if (st->redo.fd >= 0 && !st->txn_open && st->redo.written == 0)
		(void)ftruncate(st->redo.fd, 0);
	if (st->redo.fd >= 0)
		close(st->redo.fd);
	st->redo.fd = -1;
	dfs_bytes_free(&st->redo.buf);
	dfs_bytes_free(&st->redo.params);
	st->redo.written = 0;
}
