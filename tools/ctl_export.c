// SPDX-License-Identifier: MIT
/*
 * ctl_export.c - deployctl export NAME@V... [--with-requirements]
 * [-o FILE] [--mount MNT]: the packages, read from the store behind the
 * mount (root: link targets as captured, which the mount does not show),
 * into one POSIX pax archive (ctl_xfer.h says its layout).  With
 * --with-requirements, also the latest package of each component they
 * require (TYPE/NAME in user.deployfs.requires names a component, not a
 * version: the latest is what packages/NAME/latest shows, unless the
 * command line names a version of it).  -o FILE is written whole or not
 * at all (a temporary name, renamed at the end).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "deployfs/names.h"
#include "deployfs/store.h"

#include "ctl_xfer.h"
#include "deployctl.h"
#include "tarw.h"

#define EXPORT_MAX 1024

struct want {
	char name[XFER_NAME_MAX + 1];
	char version[DFS_LABEL_MAX + 1]; /* "": the latest */
};

struct export
{
	struct dfs_store *st;
	FILE *out;
	const char *origin;
	struct want *wants;
	size_t nwants;
	bool with_req;
	struct xbuf manifest;
	char pkg[XFER_NAME_MAX + DFS_LABEL_MAX + 2];
	char why[512];
	int64_t files;
};

static bool wanted(const struct export *x, const char *name)
{
	for (size_t i = 0; i < x->nwants; i++)
		if (strcmp(x->wants[i].name, name) == 0)
			return true;
	return false;
}

/* Is NAME@V itself (two versions of one component may travel) wanted? */
static bool wanted_version(const struct export *x, const struct want *w)
{
	for (size_t i = 0; i < x->nwants; i++)
		if (strcmp(x->wants[i].name, w->name) == 0 &&
		    strcmp(x->wants[i].version, w->version) == 0)
			return true;
	return false;
}

/* Each "TYPE/NAME" in the JSON array json, not yet wanted, as its latest. */
static int want_requirements(struct export *x, const char *json)
{
	for (const char *p = strchr(json, '"'); p; p = strchr(p + 1, '"')) {
		const char *end = strchr(p + 1, '"'), *slash;
		struct want *w;

		if (!end)
			break;
		slash = memchr(p + 1, '/', (size_t)(end - p - 1));
		if (slash && (size_t)(end - slash - 1) <= XFER_NAME_MAX) {
			char name[XFER_NAME_MAX + 1];

			snprintf(name, sizeof(name), "%.*s",
				 (int)(end - slash - 1), slash + 1);
			if (!wanted(x, name)) {
				if (x->nwants == EXPORT_MAX)
					return -E2BIG;
				w = &x->wants[x->nwants++];
				snprintf(w->name, sizeof(w->name), "%s", name);
				w->version[0] = '\0';
			}
		}
		p = end;
	}
	return 0;
}

static int write_file(struct export *x, const struct dfs_pkg_node *n)
{
	char buf[1 << 16];
	uint64_t done = 0;
	int fd, rc = dfs_pkg_blob_open(x->st, &n->blob, n->size, &fd);

	if (rc < 0) {
		snprintf(x->why, sizeof(x->why), "%s/%s: %s", x->pkg, n->path,
			 strerror(-rc));
		return rc;
	}
	while (rc == 0 && done < n->size) {
		ssize_t got = pread(fd, buf, sizeof(buf), (off_t)done);

		if (got <= 0) {
			rc = got < 0 ? -errno : -EIO;
			snprintf(x->why, sizeof(x->why), "%s/%s: cut short",
				 x->pkg, n->path);
			break;
		}
		if ((uint64_t)got > n->size - done)
			got = (ssize_t)(n->size - done);
		rc = tar_write_data(x->out, buf, (size_t)got);
		done += (uint64_t)got;
	}
	close(fd);
	if (rc == 0)
		rc = tar_write_pad(x->out, n->size);
	return rc;
}

static int root_entry(struct export *x, const struct dfs_pkg_record *p,
		      const struct dfs_pkg_node *n)
{
	const char *v[XK_COUNT];
	char hash[DFS_HASH_HEX], created[24], uid[24], digest[DFS_HASH_HEX];
	struct tar_entry e = { .type = '5', .path = x->pkg };
	int rc;

	dfs_hash_hex(&p->content_hash, hash);
	snprintf(created, sizeof(created), "%lld", (long long)p->created);
	snprintf(uid, sizeof(uid), "%lld", (long long)p->uid);
	v[XK_COMPONENT] = p->component;
	v[XK_TYPE] = p->type;
	v[XK_VERSION] = p->version;
	v[XK_HASH] = hash;
	v[XK_NOTES] = p->notes;
	v[XK_CREATOR] = p->created_by;
	v[XK_CREATED] = created;
	v[XK_REVISIONS] = p->revisions;
	v[XK_REQUIRES] = p->requires;
	v[XK_UID] = uid;
	v[XK_ORIGIN] = x->origin;
	for (int i = 0; i < XK_COUNT; i++)
		if (v[i])
			e.keys[e.nkeys++] =
				(struct tar_key){ xfer_keys[i], v[i] };
	e.mode = n->mode & 07777;
	e.uid = n->uid;
	e.gid = n->gid;
	e.mtime = n->mtime;
	xfer_meta_digest(v, digest);
	xbuf_release(&x->manifest);
	rc = xbuf_printf(&x->manifest, "deployfs-manifest 1\nmeta %s\n",
			 digest);
	if (rc == 0)
		rc = xbuf_printf(&x->manifest, "D %o .\n", e.mode);
	if (rc == 0)
		rc = tar_write_header(x->out, &e);
	if (rc == 0 && x->with_req)
		rc = want_requirements(x, p->requires);
	return rc;
}

static int node_entry(void *ctx, const struct dfs_pkg_record *p,
		      const struct dfs_pkg_node *n)
{
	struct export *x = ctx;
	char path[PATH_MAX + 300], hex[DFS_HASH_HEX];
	struct tar_entry e = { .path = path };
	int rc;

	if (n->path[0] == '\0') {
		snprintf(x->pkg, sizeof(x->pkg), "%s@%s", p->component,
			 p->version);
		return root_entry(x, p, n);
	}
	snprintf(path, sizeof(path), "%s/%s", x->pkg, n->path);
	e.mode = n->mode & 07777;
	e.uid = n->uid;
	e.gid = n->gid;
	e.mtime = n->mtime;
	if (S_ISDIR(n->mode)) {
		e.type = '5';
		rc = xbuf_printf(&x->manifest, "D %o ", e.mode);
	} else if (S_ISLNK(n->mode)) {
		e.type = '2';
		e.linkpath = n->target;
		rc = xbuf_printf(&x->manifest, "L ");
	} else {
		e.type = '0';
		e.size = n->size;
		dfs_hash_hex(&n->blob, hex);
		rc = xbuf_printf(&x->manifest, "F %o %s %llu ", e.mode, hex,
				 (unsigned long long)n->size);
		x->files++;
	}
	if (rc == 0)
		rc = xbuf_escaped(&x->manifest, n->path);
	if (rc == 0 && e.linkpath) {
		rc = xbuf_printf(&x->manifest, " ");
		if (rc == 0)
			rc = xbuf_escaped(&x->manifest, n->target);
	}
	if (rc == 0)
		rc = xbuf_printf(&x->manifest, "\n");
	if (rc == 0)
		rc = tar_write_header(x->out, &e);
	if (rc == 0 && e.type == '0')
		rc = write_file(x, n);
	return rc;
}

static int write_manifest(struct export *x)
{
	char path[XFER_NAME_MAX + DFS_LABEL_MAX + 40];
	struct tar_entry e = { .type = '0', .mode = 0644 };
	int rc;

	snprintf(path, sizeof(path), ".deployfs/%s.manifest", x->pkg);
	e.path = path;
	e.size = x->manifest.len;
	e.mtime = (int64_t)time(NULL) * 1000000000;
	rc = tar_write_header(x->out, &e);
	if (rc == 0)
		rc = tar_write_data(x->out, x->manifest.p, x->manifest.len);
	if (rc == 0)
		rc = tar_write_pad(x->out, x->manifest.len);
	return rc;
}

static int parse_want(const char *arg, struct want *w)
{
	const char *at = strchr(arg, '@');

	if (!at || (size_t)(at - arg) > XFER_NAME_MAX ||
	    !dfs_version_valid(at + 1))
		return -EINVAL;
	snprintf(w->name, sizeof(w->name), "%.*s", (int)(at - arg), arg);
	snprintf(w->version, sizeof(w->version), "%s", at + 1);
	return dfs_name_valid(w->name) ? 0 : -EINVAL;
}

static int export_all(struct export *x, const char *mnt)
{
	for (size_t i = 0; i < x->nwants; i++) {
		struct want *w = &x->wants[i];
		int rc = dfs_pkg_export(x->st, w->name,
					w->version[0] ? w->version : NULL,
					node_entry, x);

		if (rc == -ENOENT) {
			char why[1024];

			if (!w->version[0])
				snprintf(why, sizeof(why),
					 "%s is required, but has no package: "
					 "package it first",
					 w->name);
			else if (!explain_missing(mnt, w->name, w->version,
						  NULL, why, sizeof(why)))
				snprintf(why, sizeof(why), "no package %s@%s",
					 w->name, w->version);
			fprintf(stderr, "deployctl: export: %s\n", why);
			return EX_NOINPUT;
		}
		if (rc == 0)
			rc = write_manifest(x);
		if (rc < 0) {
			fprintf(stderr, "deployctl: export %s: %s\n",
				x->why[0] ? x->why : w->name, strerror(-rc));
			return rc == -EIO ? EX_IOERR : 1;
		}
		fprintf(stderr, "exported %s\n", x->pkg);
	}
	return tar_write_end(x->out) < 0 ? EX_IOERR : 0;
}

static int parse_export(int argc, char **argv, struct export *x,
			const char **ret_out, const char **ret_mnt)
{
	static const struct option longopts[] = {
		{ "with-requirements", no_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "mount", required_argument, NULL, 'm' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "ro:m:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return ctl_help(argv[0]);
		case 'r':
			x->with_req = true;
			break;
		case 'o':
			*ret_out = optarg;
			break;
		case 'm':
			*ret_mnt = optarg;
			break;
		default:
			return ctl_usage(argv[0]);
		}
	}
	if (optind == argc || argc - optind > EXPORT_MAX)
		return ctl_usage(argv[0]);
	for (int i = optind; i < argc; i++) {
		struct want w;

		if (parse_want(argv[i], &w) < 0) {
			fprintf(stderr,
				"deployctl: \"%s\" is not NAME@VERSION\n",
				argv[i]);
			return EX_USAGE;
		}
		if (!wanted_version(x, &w))
			x->wants[x->nwants++] = w;
	}
	return -1;
}

int cmd_export(int argc, char **argv)
{
	struct export x = { 0 };
	const char *out = NULL, *mnt = NULL;
	char mbuf[PATH_MAX], store[PATH_MAX], host[256], origin[PATH_MAX + 300];
	char tmp[PATH_MAX + 32];
	int rc;

	x.wants = calloc(EXPORT_MAX, sizeof(*x.wants));
	if (!x.wants)
		return EX_OSERR;
	rc = parse_export(argc, argv, &x, &out, &mnt);
	if (rc >= 0)
		goto out_free;
	if (!out && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "deployctl: export: stdout is a terminal; "
				"name a file with -o FILE\n");
		rc = EX_USAGE;
		goto out_free;
	}
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	rc = open_mount_store(mnt, &x.st);
	if (rc)
		goto out_free;
	if (store_of_mount(mnt, store, sizeof(store)) < 0 ||
	    gethostname(host, sizeof(host)) < 0)
		snprintf(store, sizeof(store), "?");
	host[sizeof(host) - 1] = '\0';
	snprintf(origin, sizeof(origin), "%s:%s", host, store);
	x.origin = origin;
	x.out = stdout;
	if (out) {
		snprintf(tmp, sizeof(tmp), "%s.partial", out);
		x.out = fopen(tmp, "wbx");
		if (!x.out) {
			fprintf(stderr,
				"deployctl: export: cannot create "
				"\"%s\": %s\n",
				tmp, strerror(errno));
			rc = EX_CANTCREAT;
			goto out_store;
		}
	}
	rc = export_all(&x, mnt);
	if (fflush(x.out) != 0 || (out && fsync(fileno(x.out)) < 0))
		rc = rc ? rc : EX_IOERR;
	if (out) {
		fclose(x.out);
		if (rc == 0 && rename(tmp, out) < 0) {
			fprintf(stderr, "deployctl: export: %s: %s\n", out,
				strerror(errno));
			rc = EX_CANTCREAT;
		}
		if (rc)
			unlink(tmp);
	}
out_store:
	dfs_store_free(x.st);
out_free:
	xbuf_release(&x.manifest);
	free(x.wants);
	return rc;
}
