// SPDX-License-Identifier: MIT
/*
 * ctl_import.c - deployctl import FILE [--mount MNT]: the packages of an
 * archive deployctl export wrote, into the store behind the mount.  The
 * whole archive is read and checked first, into a private staging folder
 * (TMPDIR): every entry inside a package folder, no path that climbs out,
 * each package's manifest equal to what was read (so a changed byte, an
 * extra or a missing file, or a changed mode or link shows), its metadata
 * digest equal to its DEPLOYFS.* keys, its folder named
 * DEPLOYFS.component@DEPLOYFS.version.  Anything wrong: nothing is made,
 * exit 65, and the refusal is recorded.  Then each package is handed to
 * the daemon (user.deployfs.import on MNT/packages, root), which hashes
 * the staged tree again against DEPLOYFS.hash and makes it in one
 * transaction (store/model/pkgimport.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sysexits.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "deployfs/names.h"
#include "deployfs/store.h"

#include "ctl_xfer.h"
#include "deployctl.h"
#include "tarw.h"

#define PKGS_MAX 1024
#define MANIFEST_MAX (256u << 20)

struct dirfix {
	char *path;
	struct tar_entry e;
};

struct ipkg {
	char name[XFER_NAME_MAX + DFS_LABEL_MAX + 2];
	char dir[PATH_MAX];	 /* STAGE/N */
	char tree[PATH_MAX + 8]; /* STAGE/N/tree */
	struct xbuf manifest;	 /* as read */
	bool done;		 /* its manifest checked */
};

struct import {
	struct tar_reader r;
	char stage[PATH_MAX / 2];
	struct ipkg *pkgs;
	size_t npkgs;
	struct dirfix *dirs;
	size_t ndirs, capdirs;
	char why[1024];
};

static int refuse(struct import *im, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int refuse(struct import *im, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(im->why, sizeof(im->why), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* A path inside a package: no empty, "." or ".." part. */
static bool path_safe(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (const char *s = p; s;) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);

		if (len == 0 || len > XFER_NAME_MAX ||
		    (len == 1 && s[0] == '.') ||
		    (len == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s = slash ? slash + 1 : NULL;
	}
	return true;
}

static int add_dir(struct import *im, const char *path,
		   const struct tar_entry *e)
{
	struct dirfix *d;

	if (im->ndirs == im->capdirs) {
		size_t cap = im->capdirs ? 2 * im->capdirs : 64;
		struct dirfix *nd = realloc(im->dirs, cap * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		im->dirs = nd;
		im->capdirs = cap;
	}
	d = &im->dirs[im->ndirs];
	d->path = strdup(path);
	if (!d->path)
		return -ENOMEM;
	d->e = *e;
	d->e.nkeys = 0;
	d->e.path = d->e.linkpath = NULL;
	im->ndirs++;
	return 0;
}

static int write_meta(struct import *im, struct ipkg *p, const char *v[])
{
	static const char *const names[XK_COUNT] = {
		"component", "type",	   "version", "hash",
		"notes",     "created_by", "created", "revisions",
		"requires",  "uid",	   "origin",
	};
	char path[PATH_MAX + 8];
	FILE *f;

	snprintf(path, sizeof(path), "%s/meta", p->dir);
	f = fopen(path, "wx");
	if (!f)
		return -errno;
	for (int i = 0; i < XK_COUNT; i++)
		if (v[i])
			fprintf(f, "%s=%s%c", names[i], v[i], '\0');
	return fclose(f) == 0 ? 0 : -EIO;
}

/* The folder entry NAME@V: a new package. */
static int begin_package(struct import *im)
{
	const char *v[XK_COUNT];
	char digest[DFS_HASH_HEX], name[XFER_NAME_MAX + DFS_LABEL_MAX + 2];
	struct ipkg *p;
	int rc;

	if (im->npkgs && !im->pkgs[im->npkgs - 1].done)
		return refuse(im, "%s has no manifest (an entry is missing)",
			      im->pkgs[im->npkgs - 1].name);
	if (im->npkgs == PKGS_MAX)
		return refuse(im, "%s: too many packages", im->r.e.path);
	for (int i = 0; i < XK_COUNT; i++)
		v[i] = tar_key(&im->r, xfer_keys[i]);
	for (int i = 0; i < XK_COUNT; i++)
		if (!v[i] && i != XK_NOTES)
			return refuse(im, "%s lacks its DEPLOYFS metadata",
				      im->r.e.path);
	snprintf(name, sizeof(name), "%s@%s", v[XK_COMPONENT], v[XK_VERSION]);
	if (strcmp(name, im->r.e.path) != 0)
		return refuse(im,
			      "the folder %s is not named by its metadata "
			      "(DEPLOYFS.component@DEPLOYFS.version)",
			      im->r.e.path);
	p = &im->pkgs[im->npkgs++];
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->dir, sizeof(p->dir), "%s/%zu", im->stage, im->npkgs);
	snprintf(p->tree, sizeof(p->tree), "%s/tree", p->dir);
	xfer_meta_digest(v, digest);
	if (mkdir(p->dir, 0700) < 0 || mkdir(p->tree, 0700) < 0)
		return -errno;
	rc = write_meta(im, p, v);
	if (rc == 0)
		rc = xbuf_printf(&p->manifest,
				 "deployfs-manifest 1\nmeta %s\nD %o .\n",
				 digest, im->r.e.mode);
	if (rc == 0)
		rc = add_dir(im, p->tree, &im->r.e);
	return rc;
}

static void set_owner_times(int dirfd, const char *name,
			    const struct tar_entry *e)
{
	struct timespec ts[2] = {
		{ e->mtime / 1000000000, e->mtime % 1000000000 },
		{ e->mtime / 1000000000, e->mtime % 1000000000 },
	};

	(void)fchownat(dirfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW);
	(void)utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

/*
 * The folder that holds rest (a path below tree), opened one part at a
 * time without following links: an archive cannot write through a link
 * it made (pkg/link -> /etc, then pkg/link/passwd).  The fd, or -EBADMSG
 * (why); *ret_leaf: rest's last part.
 */
static int open_parent(struct import *im, const char *tree, const char *rest,
		       const char **ret_leaf)
{
	int fd = open(tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	const char *s = rest, *slash;

	while (fd >= 0 && (slash = strchr(s, '/'))) {
		char part[XFER_NAME_MAX + 1];
		int next;

		snprintf(part, sizeof(part), "%.*s", (int)(slash - s), s);
		next = openat(fd, part,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		s = slash + 1;
	}
	if (fd < 0)
		return refuse(im,
			      "%s comes before its folder, or goes through a "
			      "link",
			      im->r.e.path);
	*ret_leaf = s;
	return fd;
}

/* The data of a file entry into leaf of dirfd, hashed as a blob is: hex. */
static int extract_file(struct import *im, int dirfd, const char *leaf,
			char hex[DFS_HASH_HEX])
{
	XXH3_state_t s;
	XXH128_canonical_t c;
	struct dfs_hash h;
	char buf[1 << 16];
	int fd = openat(dirfd, leaf,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	long n;
	int rc = 0;

	if (fd < 0)
		return refuse(im, "%s comes twice", im->r.e.path);
	XXH3_128bits_reset(&s);
	while ((n = tar_read_data(&im->r, buf, sizeof(buf))) > 0) {
		XXH3_128bits_update(&s, buf, (size_t)n);
		if (write(fd, buf, (size_t)n) != n) {
			rc = -errno;
			break;
		}
	}
	if (n < 0)
		rc = refuse(im, "the archive is cut short in %s", im->r.e.path);
	if (rc == 0 && fchmod(fd, im->r.e.mode) < 0)
		rc = -errno;
	close(fd);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&s));
	memcpy(h.b, c.digest, DFS_HASH_LEN);
	dfs_hash_hex(&h, hex);
	return rc;
}

/* An entry NAME@V/REST of the current package. */
static int extract_entry(struct import *im, struct ipkg *p, const char *rest)
{
	const struct tar_entry *e = &im->r.e;
	char path[2 * PATH_MAX], hex[DFS_HASH_HEX];
	const char *leaf = "";
	int dirfd, rc = 0;

	if (!path_safe(rest) || strlen(p->tree) + strlen(rest) + 2 > PATH_MAX)
		return refuse(im, "%s is not a path inside its package",
			      e->path);
	snprintf(path, sizeof(path), "%s/%s", p->tree, rest);
	dirfd = open_parent(im, p->tree, rest, &leaf);
	if (dirfd < 0)
		return dirfd;
	if (e->type == '5') {
		if (mkdirat(dirfd, leaf, 0700) < 0)
			rc = refuse(im, "%s comes twice", e->path);
		if (rc == 0)
			rc = add_dir(im, path, e);
		if (rc == 0)
			rc = xbuf_printf(&p->manifest, "D %o ", e->mode);
	} else if (e->type == '2') {
		if (symlinkat(e->linkpath, dirfd, leaf) < 0)
			rc = refuse(im, "%s comes twice", e->path);
		if (rc == 0) {
			set_owner_times(dirfd, leaf, e);
			rc = xbuf_printf(&p->manifest, "L ");
		}
	} else {
		rc = extract_file(im, dirfd, leaf, hex);
		if (rc == 0) {
			set_owner_times(dirfd, leaf, e);
			rc = xbuf_printf(&p->manifest, "F %o %s %llu ", e->mode,
					 hex, (unsigned long long)e->size);
		}
	}
	close(dirfd);
	if (rc == 0)
		rc = xbuf_escaped(&p->manifest, rest);
	if (rc == 0 && e->type == '2') {
		rc = xbuf_printf(&p->manifest, " ");
		if (rc == 0)
			rc = xbuf_escaped(&p->manifest, e->linkpath);
	}
	if (rc == 0)
		rc = xbuf_printf(&p->manifest, "\n");
	return rc;
}

static int check_manifest(struct import *im)
{
	const char *name = im->r.e.path + strlen(".deployfs/");
	struct ipkg *p = im->npkgs ? &im->pkgs[im->npkgs - 1] : NULL;
	size_t len = strlen(name);
	char *text;
	long n;
	int rc;

	if (!p || p->done || len != strlen(p->name) + 9 ||
	    strncmp(name, p->name, strlen(p->name)) != 0 ||
	    strcmp(name + strlen(p->name), ".manifest") != 0)
		return refuse(im,
			      "%s is not the manifest of the package "
			      "before it",
			      im->r.e.path);
	if (im->r.e.type != '0' || im->r.e.size > MANIFEST_MAX)
		return refuse(im, "%s is not a manifest", im->r.e.path);
	text = malloc(im->r.e.size + 1);
	if (!text)
		return -ENOMEM;
	n = tar_read_data(&im->r, text, im->r.e.size);
	if (n < 0 || (uint64_t)n != im->r.e.size) {
		free(text);
		return refuse(im, "the archive is cut short in %s",
			      im->r.e.path);
	}
	text[n] = '\0';
	if (xfer_manifest_differs(text, p->manifest.p ? p->manifest.p : "",
				  p->name, im->why, sizeof(im->why)))
		rc = -EBADMSG;
	else
		rc = 0;
	free(text);
	p->done = true;
	return rc;
}

static int read_archive(struct import *im)
{
	int rc;

	while ((rc = tar_read_next(&im->r, im->why, sizeof(im->why))) == 1) {
		const char *path = im->r.e.path, *slash = strchr(path, '/');
		struct ipkg *p = im->npkgs ? &im->pkgs[im->npkgs - 1] : NULL;

		if (strncmp(path, ".deployfs/", 10) == 0)
			rc = check_manifest(im);
		else if (!slash && im->r.e.type == '5')
			rc = begin_package(im);
		else if (p && !p->done && slash &&
			 (size_t)(slash - path) == strlen(p->name) &&
			 strncmp(path, p->name, strlen(p->name)) == 0)
			rc = extract_entry(im, p, slash + 1);
		else
			rc = refuse(im,
				    "%s is outside any package (an extra "
				    "entry)",
				    path);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	if (im->npkgs == 0)
		return refuse(im, "%s", "the archive holds no package");
	if (!im->pkgs[im->npkgs - 1].done)
		return refuse(im, "%s has no manifest (an entry is missing)",
			      im->pkgs[im->npkgs - 1].name);
	/* Folders last, deepest first: their modes may forbid writing. */
	for (size_t i = im->ndirs; i-- > 0;) {
		(void)chmod(im->dirs[i].path, im->dirs[i].e.mode);
		set_owner_times(AT_FDCWD, im->dirs[i].path, &im->dirs[i].e);
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *sb, int flag,
		      struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		(void)chmod(path, 0700);
	return remove(path) < 0 && errno != ENOENT ? 0 : 0;
}

static void stage_remove(struct import *im)
{
	/* Folders made read-only by their modes: writable again first. */
	for (size_t i = 0; i < im->ndirs; i++)
		(void)chmod(im->dirs[i].path, 0700);
	(void)nftw(im->stage, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Record a refusal of the archive in the store behind mnt (as root). */
static void record_refusal(const char *mnt, const char *file, const char *why)
{
	struct dfs_audit_event ev = { .action = "import", .result = "refused" };
	char reason[1400], store[PATH_MAX];
	struct dfs_store *st;

	if (store_of_mount(mnt, store, sizeof(store)) < 0 ||
	    dfs_store_open(store, 0, &st) < 0) {
		fprintf(stderr,
			"deployctl: the refusal could not be recorded "
			"(the store behind %s is not yours to open)\n",
			mnt);
		return;
	}
	snprintf(reason, sizeof(reason), "%s: %s: %s", strerror(EBADMSG), file,
		 why);
	ev.reason = reason;
	if (dfs_audit_record(st, NULL, &ev) < 0)
		fprintf(stderr, "deployctl: the refusal could not be "
				"recorded\n");
	dfs_store_free(st);
}

/* Hand package p to the daemon: an exit code. */
static int hand_over(const char *mnt, const struct ipkg *p, bool *ret_made)
{
	char dir[PATH_MAX + 16], res[700];
	ssize_t n;
	int err = 0;

	snprintf(dir, sizeof(dir), "%s/packages", mnt);
	if (setxattr(dir, "user.deployfs.import", p->dir, strlen(p->dir), 0) <
	    0)
		err = errno;
	n = getxattr(dir, "user.deployfs.import_result", res, sizeof(res) - 1);
	res[n > 0 ? n : 0] = '\0';
	if (err == 0 && strcmp(res, "unchanged") == 0) {
		printf("%s is here already with the same content hash: "
		       "nothing to do\n",
		       p->name);
		return 0;
	}
	if (err == 0) {
		printf("imported %s\n", p->name);
		*ret_made = true;
		return 0;
	}
	fprintf(stderr, "deployctl: import %s: %s%s%s\n", p->name,
		strerror(err), n > 0 ? " - " : "", n > 0 ? res : "");
	switch (err) {
	case EPERM:
	case EACCES:
		return EX_NOPERM;
	case EBADMSG:
		return EX_DATAERR;
	case ENOTSUP:
	case ENOENT:
		return EX_NOINPUT;
	default:
		return 1;
	}
}

int cmd_import(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	struct import im = { 0 };
	const char *mnt = NULL, *file, *tmp = getenv("TMPDIR");
	char mbuf[PATH_MAX], store[PATH_MAX];
	bool made = false;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:h", longopts, NULL)) != -1) {
		if (c == 'h')
			return ctl_help(argv[0]);
		if (c != 'm')
			return ctl_usage(argv[0]);
		mnt = optarg;
	}
	if (optind != argc - 1)
		return ctl_usage(argv[0]);
	file = argv[optind];
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	if (store_of_mount(mnt, store, sizeof(store)) < 0) {
		fprintf(stderr,
			"deployctl: %s is not a deployfs mount (name one with "
			"--mount MNT)\n",
			mnt);
		return EX_NOINPUT;
	}
	im.r.in = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
	if (!im.r.in) {
		fprintf(stderr, "deployctl: import: cannot open \"%s\": %s\n",
			file, strerror(errno));
		return EX_NOINPUT;
	}
	snprintf(im.stage, sizeof(im.stage), "%s/deployctl-import.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	im.pkgs = calloc(PKGS_MAX, sizeof(*im.pkgs));
	if (!im.pkgs || !mkdtemp(im.stage)) {
		fprintf(stderr,
			"deployctl: import: cannot make a staging "
			"folder: %s\n",
			strerror(errno));
		rc = EX_CANTCREAT;
		goto out_close;
	}
	rc = read_archive(&im);
	if (rc < 0) {
		fprintf(stderr,
			"deployctl: import %s refused, nothing made: %s\n",
			file, im.why[0] ? im.why : strerror(-rc));
		if (rc == -EBADMSG)
			record_refusal(mnt, file, im.why);
		rc = rc == -EBADMSG ? EX_DATAERR : EX_IOERR;
		goto out_stage;
	}
	for (size_t i = 0; rc == 0 && i < im.npkgs; i++)
		rc = hand_over(mnt, &im.pkgs[i], &made);
out_stage:
	stage_remove(&im);
out_close:
	if (im.r.in != stdin)
		fclose(im.r.in);
	tar_reader_release(&im.r);
	for (size_t i = 0; im.pkgs && i < im.npkgs; i++)
		xbuf_release(&im.pkgs[i].manifest);
	for (size_t i = 0; i < im.ndirs; i++)
		free(im.dirs[i].path);
	free(im.dirs);
	free(im.pkgs);
	return rc;
}
