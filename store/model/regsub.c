// SPDX-License-Identifier: MIT
/*
 * regsub.c - packages read out of the registry (registry.c): which ones
 * were published after a point of its order, and one of them staged in a
 * folder as deployctl import stages an archive (STAGE/meta and
 * STAGE/tree, owners, modes and times as published), so that
 * pkgimport.c makes it a package here in one transaction and checks it
 * whole against its content hash.  A small blob is fetched now (its
 * bytes go in the database), checked against its hash; a larger one is
 * an empty file of its size named in STAGE/remote, fetched on first read
 * (regfetch.c).
 *
 * The manifest comes from another host: every path is resolved under
 * the staged tree with no symbolic link followed (openat2,
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a hostile one cannot write
 * outside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "registry.h"

static const char sql_known[] =
	"SELECT 1 FROM packages p JOIN components c ON c.id = p.component"
	" WHERE c.name = ?1 AND p.version = ?2";

int dfs_pkg_known(struct dfs_store *st, const char *component,
		  const char *version)
{
	sqlite3_stmt *s;
	int rc = dfs_query_sql(st, sql_known, &s, "ss", component, version);

	if (rc > 0)
		sqlite3_reset(s);
	return rc;
}

struct stage {
	PGconn *c;
	int tree;   /* STAGE/tree */
	int remote; /* STAGE/remote */
	char *why;
	size_t cap;
};

/* path's folder under the tree, opened with no link followed; *ret_name
 * is its last name.  The root ("") is the tree itself: -EEXIST. */
static int open_parent(struct stage *s, char *path, const char **ret_name)
{
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
				.resolve =
					RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS };
	char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	long fd;

	if (dfs_name_check(name) < 0 || !strcmp(name, ".") ||
	    !strcmp(name, "..")) {
		snprintf(s->why, s->cap, "the manifest names \"%s\"", path);
		return -EINVAL;
	}
	*ret_name = name;
	if (!slash)
		return fcntl(s->tree, F_DUPFD_CLOEXEC, 0);
	*slash = '\0';
	fd = syscall(SYS_openat2, s->tree, path, &how, sizeof(how));
	*slash = '/';
	if (fd < 0) {
		snprintf(s->why, s->cap,
			 "the manifest's \"%s\" is not under a"
			 " folder of it",
			 path);
		return -EINVAL;
	}
	return (int)fd;
}

/* A blob too large to keep in the database comes on first read
 * (regfetch.c): an empty file of its size, named in STAGE/remote by its
 * inode number for pkgimport.c. */
static int put_remote(struct stage *s, int fd, const struct dfs_hash *h,
		      uint64_t size)
{
	char hex[DFS_HASH_HEX];
	struct stat sb;

	if (ftruncate(fd, (off_t)size) < 0 || fstat(fd, &sb) < 0)
		return -errno;
	dfs_hash_hex(h, hex);
	if (dprintf(s->remote, "%llu %s\n", (unsigned long long)sb.st_ino,
		    hex) < 0)
		return -EIO;
	return 0;
}

static int own(int dirfd, const char *name, uint32_t mode, uint32_t uid,
	       uint32_t gid, int64_t mtime)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
				  { .tv_sec = mtime / 1000000000,
				    .tv_nsec = mtime % 1000000000 } };

	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISLNK(mode) && fchmodat(dirfd, name, mode & 07777, 0) < 0)
		return -errno;
	if (!S_ISDIR(mode) &&
	    utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* One manifest record: path, "mode uid gid mtime size hash", target. */
static int put_node(struct stage *s, char *path, const char *line,
		    const char *target)
{
	unsigned mode, uid, gid;
	long long mtime;
	unsigned long long size;
	char hex[DFS_HASH_HEX + 1];
	struct dfs_hash h;
	const char *name;
	int dirfd, fd, rc = 0;

	if (sscanf(line, "%o %u %u %lld %llu %33s", &mode, &uid, &gid, &mtime,
		   &size, hex) != 6 ||
	    (S_ISREG(mode) && dfs_hash_parse(hex, &h) < 0) ||
	    !(S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode))) {
		snprintf(s->why, s->cap, "a manifest record is malformed");
		return -EINVAL;
	}
	if (!path[0]) { /* the root: the tree itself */
		if (!S_ISDIR(mode))
			return -EINVAL;
		if (fchown(s->tree, uid, gid) < 0 ||
		    fchmod(s->tree, mode & 07777) < 0)
			return -errno;
		return 0;
	}
	dirfd = open_parent(s, path, &name);
	if (dirfd < 0)
		return dirfd;
	if (S_ISDIR(mode)) {
		rc = mkdirat(dirfd, name, 0700) < 0 ? -errno : 0;
	} else if (S_ISLNK(mode)) {
		rc = symlinkat(target, dirfd, name) < 0 ? -errno : 0;
	} else {
		fd = openat(dirfd, name,
			    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0600);
		if (fd < 0)
			rc = -errno;
		else if (size > DFS_INLINE_MAX)
			rc = put_remote(s, fd, &h, size);
		else
			rc = dfs_reg_fetch_into(s->c, &h, size, fd, s->why,
						s->cap);
		if (fd >= 0)
			close(fd);
	}
	if (rc == 0)
		rc = own(dirfd, name, mode, uid, gid, mtime);
	close(dirfd);
	return rc;
}

static int write_meta(int stagefd, const char *meta, size_t len,
		      const char *host)
{
	char tail[600];
	int n = snprintf(tail, sizeof(tail),
			 "origin=registry (published by %s)", host) +
		1;
	int fd = openat(stagefd, "meta",
			O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, meta, len) != (ssize_t)len ||
	    write(fd, tail, (size_t)n) != n)
		rc = -EIO;
	close(fd);
	return rc;
}

/* Folders get their times last: making their entries changed them. */
static int folder_times(struct stage *s, const char *m, size_t len)
{
	for (const char *p = m; p < m + len;) {
		const char *path = p, *line = path + strlen(path) + 1;
		unsigned mode;
		long long mtime;
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT } };

		p = line + strlen(line) + 1;
		p += strlen(p) + 1;
		if (sscanf(line, "%o %*u %*u %lld", &mode, &mtime) != 2 ||
		    !S_ISDIR(mode))
			continue;
		ts[1].tv_sec = mtime / 1000000000;
		ts[1].tv_nsec = mtime % 1000000000;
		if (utimensat(s->tree, path[0] ? path : ".", ts,
			      AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	return 0;
}

int dfs_reg_stage(PGconn *c, const char *component, const char *version,
		  const char *stage, const char *host, char *why, size_t cap)
{
	const char *v[] = { component, version };
	struct stage s = {
		.c = c, .tree = -1, .remote = -1, .why = why, .cap = cap
	};
	PGresult *r = NULL;
	char *m = NULL, *end;
	size_t len = 0;
	int stagefd, rc;

	stagefd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (stagefd < 0)
		return -errno;
	rc = dfs_reg_run(c, "reading a package", why, cap, &r,
			 "SELECT meta, manifest FROM packages"
			 " WHERE component = $1 AND version = $2",
			 2, v, NULL, NULL);
	if (rc == 0 && PQntuples(r) != 1) {
		snprintf(why, cap, "%s@%s is not in the registry", component,
			 version);
		rc = -ENOENT;
	}
	if (rc == 0)
		rc = write_meta(stagefd, PQgetvalue(r, 0, 0),
				(size_t)PQgetlength(r, 0, 0), host);
	if (rc == 0 && mkdirat(stagefd, "tree", 0700) < 0)
		rc = -errno;
	if (rc == 0) {
		s.remote =
			openat(stagefd, DFS_STAGE_REMOTE,
			       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		rc = s.remote < 0 ? -errno : 0;
	}
	if (rc == 0) {
		s.tree = openat(stagefd, "tree",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = s.tree < 0 ? -errno : 0;
	}
	if (rc == 0) {
		len = (size_t)PQgetlength(r, 0, 1);
		m = malloc(len + 1);
		rc = m ? 0 : -ENOMEM;
	}
	if (rc == 0) {
		memcpy(m, PQgetvalue(r, 0, 1), len);
		m[len] = '\0';
		if (len && m[len - 1] != '\0')
			rc = -EINVAL;
	}
	PQclear(r);
	end = m + len;
	for (char *p = m; rc == 0 && p < end;) {
		char *path = p, *line = path + strlen(path) + 1;
		char *target = line < end ? line + strlen(line) + 1 : end;

		if (target >= end) {
			snprintf(why, cap, "the manifest is cut short");
			rc = -EINVAL;
			break;
		}
		p = target + strlen(target) + 1;
		rc = put_node(&s, path, line, target);
	}
	if (rc == 0)
		rc = folder_times(&s, m, len);
	free(m);
	if (s.tree >= 0)
		close(s.tree);
	if (s.remote >= 0 && close(s.remote) < 0 && rc == 0)
		rc = -errno;
	close(stagefd);
	return rc;
}

void dfs_reg_stage_path(const struct dfs_store *st, int64_t seq, char *buf,
			size_t cap)
{
	snprintf(buf, cap, "%s/regstage.%lld", st->path, (long long)seq);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -errno : 0;
}

void dfs_reg_unstage(const char *stage)
{
	nftw(stage, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void dfs_reg_unstage_all(const struct dfs_store *st)
{
	char pattern[PATH_MAX];
	glob_t g;

	snprintf(pattern, sizeof(pattern), "%s/regstage.*", st->path);
	if (glob(pattern, 0, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++)
		dfs_reg_unstage(g.gl_pathv[i]);
	globfree(&g);
}

/* One package ahead: staged in STAGE.part, renamed to STAGE once whole,
 * so that make_package() (regact.c) finds it whole or not at all. */
static int stage_ahead(struct dfs_store *st, PGconn *c, const PGresult *r,
		       int row, char *why, size_t cap)
{
	const char *component = PQgetvalue(r, row, 0);
	const char *version = PQgetvalue(r, row, 1);
	char ready[PATH_MAX], part[PATH_MAX + 8];
	int known, rc;

	dfs_reg_stage_path(st, dfs_reg_int(r, row, 2), ready, sizeof(ready));
	pthread_mutex_lock(&st->lock);
	known = dfs_pkg_known(st, component, version);
	pthread_mutex_unlock(&st->lock);
	if (known != 0 || access(ready, F_OK) == 0)
		return known < 0 ? known : 0;
	snprintf(part, sizeof(part), "%s.part", ready);
	dfs_reg_unstage(part);
	if (mkdir(part, 0700) < 0)
		return -errno;
	rc = dfs_reg_stage(c, component, version, part, PQgetvalue(r, row, 3),
			   why, cap);
	if (rc == 0 && rename(part, ready) < 0)
		rc = -errno;
	if (rc < 0)
		dfs_reg_unstage(part);
	return rc;
}

int dfs_reg_prestage(struct dfs_store *st, PGconn *c, int64_t after, char *why,
		     size_t cap)
{
	char num[24];
	const char *v[] = { num };
	PGresult *r = NULL;
	int rc;

	snprintf(num, sizeof(num), "%lld", (long long)after);
	rc = dfs_reg_run(c, "reading the registry", why, cap, &r,
			 "SELECT p.component, p.version, p.seq, e.host"
			 " FROM packages p JOIN events e ON e.seq = p.seq"
			 " WHERE p.seq > $1::bigint ORDER BY p.seq",
			 1, v, NULL, NULL);
	/* A package that cannot be staged is staged again, and refused
	 * with its reason, when it is applied. */
	for (int i = 0; rc == 0 && i < PQntuples(r); i++)
		if (stage_ahead(st, c, r, i, why, cap) == -EHOSTDOWN)
			rc = -EHOSTDOWN;
	PQclear(r);
	return rc;
}
