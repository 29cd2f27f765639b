// SPDX-License-Identifier: MIT
/*
 * pkgimport.c - a package that comes from another store (deployctl
 * import).  deployctl reads and checks the archive, then stages the
 * package in a folder STAGE: STAGE/meta (NUL-ended "key=value" records:
 * component, type, version, created, created_by, uid, notes, revisions,
 * requires, hash, origin) and STAGE/tree (the package's tree, with its
 * modes, owners and times).  Here it becomes a package in ONE durable
 * transaction: the component (kept without a build folder when this store
 * has none), the snapshot rows, the blobs (written and synced before the
 * rows that name them, storage/blobput.c), the packages row with the
 * metadata it had, and an `import` audit line naming the origin store.
 *
 * The content hash is computed again from the staged tree, as snapshot.c
 * computes it (names, types, permission bits, contents, link targets),
 * and must be the one the archive states: else EBADMSG, nothing made.
 * The same version with the same hash already here: 1 (nothing to do,
 * recorded as result=unchanged); with another hash: EEXIST.
 *
 * A package applied from the registry names its larger blobs without
 * their bytes (STAGE/remote, regsub.c): they come on first read
 * (regfetch.c), checked against their names then.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "registry.h"
#include "snapshot.h"

#define META_MAX (256 * 1024)

static const char sql_comp_insert[] =
	"INSERT INTO components (name, type, dir) VALUES (?1, ?2, NULL)";
static const char sql_existing[] =
	"SELECT p.content_hash, p.removed, p.line IS NOT NULL"
	" FROM packages p WHERE p.component = ?1 AND p.version = ?2"
	" ORDER BY p.id DESC LIMIT 1";
static const char sql_tomb_delete[] =
	"DELETE FROM packages WHERE component = ?1 AND version = ?2"
	" AND removed <> 0";
static const char sql_pkg_insert[] =
	"INSERT INTO packages (component, version, root, created, created_by,"
	" uid, notes, revisions, requires, content_hash, line, seq, nodes)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

struct import_meta {
	char *buf; /* the records, NUL-ended */
	const char *component, *type, *version, *created_by, *notes;
	const char *revisions, *requires, *origin;
	int64_t created;
	int64_t uid;
	struct dfs_hash hash;
};

/* A staged file whose blob comes on first read (STAGE/remote). */
struct remote {
	uint64_t ino;
	struct dfs_hash hash;
};

struct import {
	struct dfs_store *st;
	struct dfs_snapw *sw;
	int64_t entries;
	struct remote *remote; /* sorted by ino */
	size_t nremote;
	char *why;
	size_t cap;
};

static int cmp_remote(const void *a, const void *b)
{
	const struct remote *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* STAGE/remote ("INO HASH" lines), which only a package staged from the
 * registry has and only one being applied from it may use: the blob of
 * a file is then named, not read (model/regfetch.c fetches it). */
static int read_remote(struct import *im, int dirfd)
{
	int fd = openat(dirfd, DFS_STAGE_REMOTE,
			O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	char hex[DFS_HASH_HEX + 1];
	unsigned long long ino;
	size_t cap = 0;
	int rc = 0;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return errno == ENOENT ? 0 : -errno;
	}
	while (rc == 0 && fscanf(f, "%llu %32s", &ino, hex) == 2) {
		if (im->nremote == cap) {
			struct remote *v;

			cap = cap ? 2 * cap : 64;
			v = realloc(im->remote, cap * sizeof(*v));
			if (!v) {
				rc = -ENOMEM;
				break;
			}
			im->remote = v;
		}
		im->remote[im->nremote].ino = ino;
		rc = dfs_hash_parse(hex, &im->remote[im->nremote++].hash);
	}
	fclose(f);
	if (rc == 0 && im->nremote > 0) /* qsort() takes no NULL */
		qsort(im->remote, im->nremote, sizeof(*im->remote), cmp_remote);
	return rc;
}

/* The blob of regular file sb: named in STAGE/remote, else its bytes. */
static int put_blob(struct import *im, int dirfd, const char *name,
		    const struct stat *sb, struct dfs_hash *ret)
{
	struct remote key = { .ino = sb->st_ino }, *r;
	int fd, rc;

	r = im->nremote ? bsearch(&key, im->remote, im->nremote, sizeof(key),
				  cmp_remote)
			: NULL;
	if (r && sb->st_size > DFS_INLINE_MAX) {
		*ret = r->hash;
		return dfs_blob_remote_add(im->st, &r->hash,
					   (uint64_t)sb->st_size);
	}
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	rc = dfs_blob_put_fd(im->st, fd, (uint64_t)sb->st_size, ret);
	close(fd);
	return rc;
}

static int read_meta(int dirfd, struct import_meta *m, char *why, size_t cap)
{
	int fd = openat(dirfd, "meta", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	const char *hash = NULL, *created = NULL, *uid = NULL;
	ssize_t n;

	if (fd < 0) {
		snprintf(why, cap, "no meta in the staged folder");
		return -EINVAL;
	}
	m->buf = malloc(META_MAX + 1);
	n = m->buf ? read(fd, m->buf, META_MAX + 1) : -1;
	close(fd);
	if (n <= 0 || n > META_MAX || m->buf[n - 1] != '\0') {
		snprintf(why, cap, "the staged meta is unreadable");
		return m->buf ? -EINVAL : -ENOMEM;
	}
	for (char *p = m->buf, *next; p < m->buf + n; p = next) {
		char *eq = strchr(p, '=');
		const char **slot = NULL;

		next = p + strlen(p) + 1;
		if (!eq)
			continue;
		*eq = '\0';
		if (!strcmp(p, "component"))
			slot = &m->component;
		else if (!strcmp(p, "type"))
			slot = &m->type;
		else if (!strcmp(p, "version"))
			slot = &m->version;
		else if (!strcmp(p, "created_by"))
			slot = &m->created_by;
		else if (!strcmp(p, "notes"))
			slot = &m->notes;
		else if (!strcmp(p, "revisions"))
			slot = &m->revisions;
		else if (!strcmp(p, "requires"))
		slot = &m->requires;
		else if (!strcmp(p, "origin")) slot = &m->origin;
		else if (!strcmp(p, "hash")) slot = &hash;
		else if (!strcmp(p, "created")) slot = &created;
		else if (!strcmp(p, "uid")) slot = &uid;
		if (slot)
			*slot = eq + 1;
	}
	if (!m->component || !m->type || !m->version || !m->created_by ||
	    !m->revisions || !m->requires || !hash || !created ||
	    dfs_hash_parse(hash, &m->hash) < 0) {
		snprintf(why, cap, "the staged meta lacks a key");
		return -EINVAL;
	}
	m->created = strtoll(created, NULL, 10);
	m->uid = uid ? strtoll(uid, NULL, 10) : 0;
	if (!m->origin)
		m->origin = "unknown";
	return 0;
}

static void hash_parts(const char *tag, const void *a, size_t alen,
		       const void *b, size_t blen, struct dfs_hash *ret)
{
	XXH3_state_t s;
	XXH128_canonical_t c;

	XXH3_128bits_reset(&s);
	XXH3_128bits_update(&s, tag, 1);
	XXH3_128bits_update(&s, a, alen);
	if (b)
		XXH3_128bits_update(&s, b, blen);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&s));
	memcpy(ret->b, c.digest, DFS_HASH_LEN);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the folder fd, sorted as snapshot.c walks them. */
static int sorted_names(int fd, char ***ret, size_t *ret_n)
{
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;

	if (!d) {
		if (dup >= 0)
			close(dup);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			char **nv;

			cap = cap ? 2 * cap : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[n] = strdup(de->d_name);
		if (!v[n]) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc < 0) {
		while (n)
			free(v[--n]);
		free(v);
		return rc;
	}
	qsort(v, n, sizeof(*v), cmp_names);
	*ret = v;
	*ret_n = n;
	return 0;
}

static int put_dir(struct import *im, int fd, int64_t sid, uint32_t mode,
		   int depth, struct dfs_hash *ret);

/* One entry name of the folder dirfd (snode parent): its row, its hash. */
static int put_entry(struct import *im, int dirfd, int64_t parent,
		     const char *name, int depth, struct dfs_hash *ret,
		     bool *ret_dir)
{
	char target[DFS_SYMLINK_MAX + 1];
	struct dfs_snode_row r = { 0 };
	uint32_t perm;
	struct dfs_hash blob = dfs_empty_hash;
	struct stat sb;
	int64_t sid;
	ssize_t tlen = 0;
	int fd = -1, rc;

	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	perm = sb.st_mode & 07777;
	*ret_dir = S_ISDIR(sb.st_mode);
	if (dfs_name_check(name) < 0) {
		snprintf(im->why, im->cap, "a name is not valid");
		return -EINVAL;
	}
	if (S_ISLNK(sb.st_mode)) {
		tlen = readlinkat(dirfd, name, target, sizeof(target));
		if (tlen < 0 || (size_t)tlen >= sizeof(target))
			return tlen < 0 ? -errno : -ENAMETOOLONG;
		target[tlen] = '\0';
		hash_parts("L", target, (size_t)tlen, NULL, 0, ret);
	} else if (S_ISREG(sb.st_mode)) {
		rc = put_blob(im, dirfd, name, &sb, &blob);
		if (rc < 0)
			return rc;
		hash_parts("F", &perm, sizeof(perm), blob.b, DFS_HASH_LEN, ret);
	} else if (!S_ISDIR(sb.st_mode)) {
		snprintf(im->why, im->cap,
			 "\"%s\" is not a file, folder or link", name);
		return -EINVAL;
	}
	r.mode = sb.st_mode;
	r.uid = sb.st_uid;
	r.gid = sb.st_gid;
	r.size = (uint64_t)(S_ISREG(sb.st_mode) ? sb.st_size : tlen);
	r.blocks = S_ISREG(sb.st_mode) ? ((uint64_t)sb.st_size + 511) / 512 : 0;
	r.mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	r.atime = r.ctime = r.mtime;
	r.blob = S_ISREG(sb.st_mode) ? &blob : NULL;
	r.target = S_ISLNK(sb.st_mode) ? target : NULL;
	rc = dfs_snapw_add(im->sw, parent, name, &r, &sid);
	if (rc < 0)
		return rc;
	im->entries++;
	if (!S_ISDIR(sb.st_mode))
		return 0;
	fd = openat(dirfd, name,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	rc = put_dir(im, fd, sid, sb.st_mode, depth + 1, ret);
	close(fd);
	return rc;
}

/* The folder fd as the snode sid's children; its hash as snapshot.c's. */
static int put_dir(struct import *im, int fd, int64_t sid, uint32_t mode,
		   int depth, struct dfs_hash *ret)
{
	uint32_t perm = mode & 07777;
	XXH3_state_t *s = NULL;
	XXH128_canonical_t cn;
	int64_t subdirs = 0;
	char **names = NULL;
	size_t n = 0;
	int rc;

	if (depth > DFS_WALK_DEPTH_MAX) {
		snprintf(im->why, im->cap, "the tree is too deep");
		return -ENAMETOOLONG;
	}
	rc = sorted_names(fd, &names, &n);
	if (rc < 0)
		return rc;
	s = XXH3_createState();
	if (!s)
		rc = -ENOMEM;
	if (rc == 0) {
		XXH3_128bits_reset(s);
		XXH3_128bits_update(s, "D", 1);
		XXH3_128bits_update(s, &perm, sizeof(perm));
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct dfs_hash h;
		bool dir = false;

		rc = put_entry(im, fd, sid, names[i], depth, &h, &dir);
		if (rc < 0)
			break;
		subdirs += dir;
		XXH3_128bits_update(s, names[i], strlen(names[i]) + 1);
		XXH3_128bits_update(s, h.b, DFS_HASH_LEN);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rc == 0)
		rc = dfs_snapw_dir_done(im->sw, sid, (uint32_t)(2 + subdirs));
	if (rc == 0) {
		XXH128_canonicalFromHash(&cn, XXH3_128bits_digest(s));
		memcpy(ret->b, cn.digest, DFS_HASH_LEN);
	}
	XXH3_freeState(s);
	return rc;
}

/* 1: NAME@VERSION is here with the same hash; 0: absent; -EEXIST. */
static int existing(struct dfs_store *st, const struct dfs_component *c,
		    const struct import_meta *m, char *why, size_t cap)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_existing, &s, "is", c->id, m->version);
	bool same, removed, kept;

	if (rc <= 0)
		return rc;
	same = sqlite3_column_bytes(s, 0) == DFS_HASH_LEN &&
	       memcmp(sqlite3_column_blob(s, 0), m->hash.b, DFS_HASH_LEN) == 0;
	removed = sqlite3_column_int64(s, 1) != 0;
	kept = sqlite3_column_int64(s, 2) != 0;
	sqlite3_reset(s);
	/* Removed and reclaimed: only its row is left; made again. */
	if (removed && !kept)
		return dfs_exec_sql(st, sql_tomb_delete, "is", c->id,
				    m->version);
	if (removed) {
		snprintf(why, cap,
			 "%s@%s was removed here: deployctl package restore "
			 "%s@%s brings it back",
			 c->name, m->version, c->name, m->version);
		return -EEXIST;
	}
	if (same)
		return 1;
	snprintf(why, cap, "%s@%s exists here with another content hash",
		 c->name, m->version);
	return -EEXIST;
}

/* The component m names: found (the same type) or made without a build
 * folder, so packages/NAME shows it. */
static int component_for(struct dfs_store *st, const struct import_meta *m,
			 struct dfs_component *ret, char *why, size_t cap)
{
	const struct dfs_type *type = dfs_type_find(m->type);
	int rc;

	if (!type || !type->deployable || !dfs_name_valid(m->component) ||
	    !dfs_version_valid(m->version)) {
		snprintf(why, cap, "%s/%s@%s is not a deployable package",
			 m->type, m->component, m->version);
		return -EINVAL;
	}
	rc = dfs_component_by_name(st, m->component, ret);
	if (rc == 0 && strcmp(ret->type, m->type) != 0) {
		snprintf(why, cap, "%s is a %s here, a %s in the archive",
			 m->component, ret->type, m->type);
		return -EINVAL;
	}
	if (rc != -ENOENT)
		return rc;
	rc = dfs_exec_sql(st, sql_comp_insert, "ss", m->component, m->type);
	if (rc == 0)
		rc = dfs_component_by_id(st, dfs_last_rowid(st), ret);
	return rc;
}

static int import_locked(struct import *im, int tree,
			 const struct import_meta *m, struct dfs_component *c,
			 int64_t *ret_root)
{
	struct dfs_store *st = im->st;
	char name[DFS_NAME_MAX + DFS_LABEL_MAX + 2];
	struct dfs_snode_row r = { 0 };
	struct dfs_snap_place place;
	struct dfs_hash got;
	struct stat sb;
	int64_t root = 0;
	int rc;

	if (fstat(tree, &sb) < 0)
		return -errno;
	snprintf(name, sizeof(name), "%s@%s", c->name, m->version);
	r.mode = sb.st_mode;
	r.uid = sb.st_uid;
	r.gid = sb.st_gid;
	r.atime = r.mtime = r.ctime = m->created;
	rc = dfs_snapw_begin(st, c->id, false, &im->sw);
	if (rc == 0)
		rc = dfs_snapw_add(im->sw, 0, name, &r, &root);
	if (rc == 0)
		rc = put_dir(im, tree, root, sb.st_mode, 0, &got);
	if (rc == 0)
		rc = dfs_snapw_end(im->sw, &place);
	dfs_snapw_free(im->sw);
	im->sw = NULL;
	if (rc < 0)
		return rc;
	if (memcmp(got.b, m->hash.b, DFS_HASH_LEN) != 0) {
		char want[DFS_HASH_HEX], have[DFS_HASH_HEX];

		dfs_hash_hex(&m->hash, want);
		dfs_hash_hex(&got, have);
		snprintf(im->why, im->cap,
			 "content hash %s, the archive says %s", have, want);
		return -EBADMSG;
	}
	rc = dfs_exec_sql(st, sql_pkg_insert, "isiisissshiii", c->id,
			  m->version, root, m->created, m->created_by, m->uid,
			  m->notes, m->revisions, m->requires, &m->hash,
			  place.line, place.seq, place.nodes);
	if (rc == 0)
		rc = dfs_component_changed(st, c->id, dfs_now_ns());
	if (rc == 0)
		*ret_root = root;
	return rc;
}

int dfs_pkg_import(struct dfs_store *st, const struct dfs_actor *actor,
		   const char *stage, char *why, size_t cap)
{
	struct import_meta m = { 0 };
	struct import im = { .st = st, .why = why, .cap = cap };
	struct dfs_audit_event ev = { .action = "import" };
	struct dfs_component c = { 0 };
	char reason[600];
	int dirfd, tree = -1, rc;
	int64_t root = 0;
	bool done;

	why[0] = '\0';
	dirfd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dirfd < 0) {
		rc = -errno;
		snprintf(why, cap, "cannot open the staged folder %s", stage);
		goto out_refuse;
	}
	rc = read_meta(dirfd, &m, why, cap);
	if (rc == 0 && st->reg_applying)
		rc = read_remote(&im, dirfd);
	if (rc == 0) {
		tree = openat(dirfd, "tree",
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (tree < 0) {
			rc = -EINVAL;
			snprintf(why, cap, "no tree in the staged folder");
		}
	}
	close(dirfd);
	if (rc == 0)
		rc = dfs_db_begin_whole(st);
	if (rc < 0)
		goto out_refuse;
	rc = component_for(st, &m, &c, why, cap);
	if (rc == 0)
		rc = existing(st, &c, &m, why, cap);
	if (rc == 0)
		rc = import_locked(&im, tree, &m, &c, &root);
	snprintf(reason, sizeof(reason), "from store %s%s", m.origin,
		 rc == 1 ? ": the same content hash is here already" : "");
	ev.component = m.component;
	ev.version = m.version;
	ev.revisions = m.revisions;
	ev.result = rc == 1 ? "unchanged" : "ok";
	ev.reason = reason;
	done = rc == 1;
	rc = dfs_audit_act(st, actor, &ev, done ? 0 : rc);
	if (rc == 0 && done)
		rc = 1;
	if (rc < 0)
		goto out_refuse;
	close(tree);
	free(m.buf);
	free(im.remote);
	return rc;
out_refuse:
	if (tree >= 0)
		close(tree);
	if (rc != -ENOMEM && rc != -EIO)
		dfs_audit_refuse(st, actor, "import", NULL, m.component,
				 m.version, rc, why);
	free(m.buf);
	free(im.remote);
	return rc;
}
