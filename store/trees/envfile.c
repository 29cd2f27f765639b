// SPDX-License-Identifier: MIT
/*
 * envfile.c - a file a copy writes under environments/ (a view's file or a
 * copy tool's temporary): its bytes are compared with the package as
 * they arrive and never stored (content/verify.c).  Its close puts it in
 * place when complete and identical (the last entry of a copy deploys);
 * otherwise the close fails with EIO, recorded.  A temporary only
 * remembers the verdict for its rename.  Opening one whose package's blob
 * is damaged fails with EIO, recorded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "trees.h"

/* ---- opening files --------------------------------------------------------------- */

/* Has the copy put the view's file ino in place, verified? */
static bool verified(struct dfs_store *st, uint64_t ino)
{
	int64_t s = dfs_eview_snode(ino);
	struct dfs_stage *sg;
	struct dfs_pkg p;

	if (dfs_pkg_of_snode(st, s, &p) < 0)
		return false;
	sg = dfs_stage_find(st, dfs_eview_env(ino), p.id);
	return sg && dfs_idset_has(&sg->ok, s);
}

/*
 * close() of a file written under environments/: complete and identical
 * puts it in place (the last entry of a copy deploys it); otherwise EIO,
 * recorded.  A temporary file only remembers the verdict for its rename.
 */
static int flush_locked(struct dfs_store *st, struct dfs_file *f)
{
	struct dfs_verify *v = f->v;
	struct dfs_stage *sg;
	struct dfs_temp *t;
	struct dfs_env e;
	struct dfs_pkg p;
	char why[DFS_NAME_MAX + 128];
	const char *name = "a file";
	struct dfs_snode si;
	int64_t s, env;
	bool complete;
	int rc = 0;

	rc = dfs_verify_fill_gaps(st, v);
	complete = rc == 0 && dfs_verify_complete(v);
	rc = 0;
	t = dfs_is_eview(v->ino) ? NULL : dfs_temp_by_ino(st, v->ino);
	if (t) {
		t->verified = complete;
		s = t->expect;
		env = t->env;
		if (!s)
			goto out; /* refused at its rename */
	} else {
		s = dfs_eview_snode(v->ino);
		env = dfs_eview_env(v->ino);
	}
	if (dfs_pkg_of_snode(st, s, &p) < 0 || dfs_env_by_id(st, env, &e) < 0) {
		rc = complete ? 0 : -EIO;
		goto out;
	}
	sg = dfs_stage_find(st, env, p.id);
	if (complete) {
		if (!t && sg)
			rc = dfs_stage_done(st, &v->actor, sg, s);
		goto out;
	}
	if (!t && dfs_snode_info(st, s, &si) == 0)
		name = si.name;
	snprintf(why, sizeof(why), "%s%s", t ? t->name : name,
		 v->bad ? ": its content differs from the package's"
			: ": shorter than the package's");
	dfs_audit_refuse(st, &v->actor, "deploy", e.name, p.component,
			 p.version, -EIO, why);
	/* Rewritten wrong after it was verified: no longer in place. */
	if (!t && sg && dfs_idset_has(&sg->ok, s)) {
		dfs_idset_del(&sg->ok, s);
		dfs_stage_save_progress(st, sg);
	}
	rc = -EIO;
out:
	return rc;
}

/* A refusal the close met on its way (a deployment the disk could not
 * take) is recorded when the close did not record one itself. */
static int envfile_flush(struct dfs_store *st, struct dfs_file *f)
{
	struct dfs_ask q = { .op = "close", .ino = f->v->ino };
	uint64_t before;
	int rc;

	if ((f->flags & O_ACCMODE) == O_RDONLY)
		return 0;
	pthread_mutex_lock(&st->lock);
	before = st->refusals;
	rc = flush_locked(st, f);
	rc = dfs_refused(st, &f->v->actor, &q, before, rc);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static void envfile_release(struct dfs_store *st, struct dfs_file *f)
{
	struct dfs_verify *v = f->v;
	struct dfs_temp *t;

	pthread_mutex_lock(&st->lock);
	t = dfs_is_eview(v->ino) ? NULL : dfs_temp_by_ino(st, v->ino);
	if (t && v->refs == 1) {
		t->size = v->size;
		t->v = NULL;
	}
	/* A copy's file shows what was written while it is open, then the
	 * package's size if it was found identical, else 0 (views.c). */
	if (!t && v->refs == 1)
		dfs_notice_attr(st, v->ino);
	dfs_verify_put(st, v);
	pthread_mutex_unlock(&st->lock);
	free(f);
}

/* What a copy writes: compared with the package, never stored. */
static ssize_t envfile_write(struct dfs_store *st, struct dfs_file *f,
			     const void *buf, size_t n, uint64_t off)
{
	return dfs_verify_write(st, f->v, buf, n, off);
}

/*
 * Reading what a copy wrote: the bytes it wrote equal to the package's
 * (they are not stored, so the package's copy of them is read), zeros
 * where it wrote none, EIO where it wrote others.  Never a byte of the
 * package that the copy did not write itself.
 */
static ssize_t envfile_read(struct dfs_store *st, struct dfs_file *f, void *buf,
			    size_t n, uint64_t off)
{
	struct dfs_verify *v = f->v;
	uint64_t size, in = 0, next = UINT64_MAX;
	bool bad;
	ssize_t got;
	int fd;

	pthread_mutex_lock(&st->lock);
	size = v->size;
	bad = v->bad || !v->known;
	for (size_t i = 0; i < v->nr; i++) {
		if (v->r[i].a <= off && off < v->r[i].b) {
			in = v->r[i].b;
			break;
		}
		if (v->r[i].a > off) {
			next = v->r[i].a;
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	if (off >= size)
		return 0;
	if (bad)
		return -EIO; /* what it wrote differs, and is not kept */
	if (n > size - off)
		n = (size_t)(size - off);
	if (!in) {
		/* Not written here: zeros up to the next written range. */
		if (next - off < n)
			n = (size_t)(next - off);
		memset(buf, 0, n);
		return (ssize_t)n;
	}
	if (n > in - off)
		n = (size_t)(in - off);
	fd = dfs_verify_fd(st, v);
	if (fd < 0)
		return fd;
	got = pread(fd, buf, n, (off_t)off);
	return got < 0 ? -errno : got;
}

static const struct dfs_file_ops envfile_ops = {
	.read = envfile_read,
	.write = envfile_write,
	.flush = envfile_flush,
	.release = envfile_release,
};

/* A write into ino was refused: the package's blob h is damaged. */
static void refuse_damaged(struct dfs_store *st, const struct dfs_actor *actor,
			   uint64_t ino, const struct dfs_hash *h)
{
	char why[DFS_NAME_MAX + 96], hex[DFS_HASH_HEX];
	struct dfs_snode si = { 0 };
	struct dfs_temp *t = NULL;
	struct dfs_env e;
	struct dfs_pkg p;
	int64_t s, env;

	pthread_mutex_lock(&st->lock);
	if (!dfs_is_eview(ino)) {
		t = dfs_temp_by_ino(st, ino);
		if (!t)
			goto out_unlock;
		s = t->expect;
		env = t->env;
	} else {
		s = dfs_eview_snode(ino);
		env = dfs_eview_env(ino);
	}
	if (dfs_pkg_of_snode(st, s, &p) < 0 || dfs_env_by_id(st, env, &e) < 0)
		goto out_unlock;
	if (t)
		snprintf(si.name, sizeof(si.name), "%s", t->name);
	else if (dfs_snode_info(st, s, &si) < 0)
		snprintf(si.name, sizeof(si.name), "a file");
	dfs_hash_hex(h, hex);
	snprintf(why, sizeof(why),
		 "%s: the package's blob %s is damaged or missing", si.name,
		 hex);
	dfs_audit_refuse(st, actor, "deploy", e.name, p.component, p.version,
			 -EIO, why);
out_unlock:
	pthread_mutex_unlock(&st->lock);
}

int dfs_envfile_open(struct dfs_store *st, const struct dfs_actor *actor,
		     uint64_t ino, int flags, struct dfs_file **ret)
{
	bool writing = (flags & O_ACCMODE) != O_RDONLY;
	struct dfs_verify *v = NULL;
	struct dfs_snode si = { 0 };
	struct dfs_temp *t = NULL;
	struct dfs_file *f;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	if (!dfs_is_eview(ino)) {
		t = dfs_temp_by_ino(st, ino);
		rc = t ? 0 : -ENOENT;
		if (rc == 0 && t->expect)
			rc = dfs_snode_info(st, t->expect, &si);
		if (rc < 0)
			goto out_unlock;
		v = dfs_verify_get(st, ino, &si.blob, si.size, t->expect != 0,
				   actor);
	} else {
		rc = dfs_snode_info(st, dfs_eview_snode(ino), &si);
		if (rc < 0)
			goto out_unlock;
		v = dfs_verify_get(st, ino, &si.blob, si.size, true, actor);
	}
	if (!v) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	if (t)
		t->v = v;
	if (writing && (flags & O_TRUNC))
		dfs_verify_reset(v, 0);
	else if (writing && v->refs == 1 && v->known && !t && verified(st, ino))
		/* Opened for writing without O_TRUNC: it holds the
		 * package's bytes already. */
		(void)dfs_verify_cover(v, 0, v->want);
	f = dfs_file_new(st, &envfile_ops, ino, flags, v);
	if (!f) {
		dfs_verify_put(st, v);
		rc = -ENOMEM;
		goto out_unlock;
	}
out_unlock:
	pthread_mutex_unlock(&st->lock);
	if (rc < 0)
		return rc;
	/* What it is compared with (and reads) is checked against its name
	 * first: a damaged package takes no copy. */
	rc = v->known ? dfs_blob_verify(st, &v->hash, v->want) : 0;
	if (rc < 0) {
		if (writing)
			refuse_damaged(st, actor, ino, &v->hash);
		envfile_release(st, f);
		return rc;
	}
	*ret = f;
	return 0;
}
