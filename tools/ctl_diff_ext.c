// SPDX-License-Identifier: MIT
/*
 * ctl_diff_ext.c - the "extensions" section of deployctl diff: the
 * overrides (environments/ENV/extensions/NAME/PATH) one side has and the
 * other has not, or has with other content, read through the mount.  A
 * package (NAME@V) has none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_diff_ext.h"

#define EXT_FILES_MAX 100000

struct files {
	char **v;
	size_t n, cap;
};

static void files_free(struct files *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i]);
	free(f->v);
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file below root/rel, as NAME/PATH, into f. */
static int walk(const char *root, const char *rel, struct files *f)
{
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	struct stat sb;
	int rc = 0;
	DIR *dir;

	if (snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "",
		     rel) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT && !rel[0] ? 0 : -errno;
	while (rc == 0 && (de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "",
			     de->d_name) >= (int)sizeof(sub) ||
		    snprintf(path, sizeof(path), "%s/%s", root, sub) >=
			    (int)sizeof(path)) {
			rc = -ENAMETOOLONG;
			break;
		}
		if (lstat(path, &sb) < 0) {
			rc = -errno;
		} else if (S_ISDIR(sb.st_mode)) {
			rc = walk(root, sub, f);
		} else if (S_ISREG(sb.st_mode) && f->n < EXT_FILES_MAX) {
			if (f->n == f->cap) {
				size_t cap = f->cap ? 2 * f->cap : 32;
				char **v = realloc(f->v, cap * sizeof(*v));

				if (!v) {
					rc = -ENOMEM;
					break;
				}
				f->v = v;
				f->cap = cap;
			}
			f->v[f->n] = strdup(sub);
			if (!f->v[f->n])
				rc = -ENOMEM;
			else
				f->n++;
		}
	}
	closedir(dir);
	return rc;
}

/* Do the files a and b hold the same bytes?  1 yes, 0 no, -errno. */
static int same_file(const char *a, const char *b)
{
	char ba[65536], bb[65536];
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = -1, rc = 1;

	if (fa >= 0)
		fb = open(b, O_RDONLY | O_CLOEXEC);
	if (fa < 0 || fb < 0)
		rc = -errno;
	while (rc == 1) {
		ssize_t ra = read(fa, ba, sizeof(ba)),
			rb = read(fb, bb, ra > 0 ? (size_t)ra : 1);

		if (ra < 0 || rb < 0)
			rc = -errno;
		else if (ra != rb || memcmp(ba, bb, (size_t)ra) != 0)
			rc = 0;
		else if (ra == 0)
			break;
	}
	if (fb >= 0)
		close(fb);
	if (fa >= 0)
		close(fa);
	return rc;
}

/* Does rel belong to component only (or only is NULL)? */
static bool wanted(const char *rel, const char *only)
{
	size_t n = only ? strlen(only) : 0;

	return !only || (strncmp(rel, only, n) == 0 && rel[n] == '/');
}

static void line(struct ctl_diff_ext *x, bool *header, const char *what,
		 const char *rel)
{
	if (!*header)
		printf("extensions\n");
	*header = true;
	printf("%-8s %s\n", what, rel);
	x->different = true;
}

void ctl_diff_extensions(const char *mnt, const char *env_a, const char *env_b,
			 const char *only, struct ctl_diff_ext *x)
{
	const char *env[2] = { env_a, env_b };
	char root[2][PATH_MAX], pa[PATH_MAX], pb[PATH_MAX];
	struct files f[2] = { { 0 }, { 0 } };
	bool header = false;
	size_t i = 0, j = 0;
	int rc = 0;

	for (int k = 0; k < 2 && rc == 0; k++) {
		if (!env[k])
			continue;
		if (snprintf(root[k], sizeof(root[k]),
			     "%s/environments/%s/extensions", mnt,
			     env[k]) >= (int)sizeof(root[k]))
			rc = -ENAMETOOLONG;
		if (rc == 0)
			rc = walk(root[k], "", &f[k]);
		if (rc < 0)
			fprintf(stderr, "deployctl: diff: %s: %s\n", root[k],
				strerror(-rc));
		if (f[k].n)
			qsort(f[k].v, f[k].n, sizeof(*f[k].v), by_str);
	}
	if (rc < 0) {
		x->trouble = true;
		goto out;
	}
	while (i < f[0].n || j < f[1].n) {
		int c = i == f[0].n   ? 1
			: j == f[1].n ? -1
				      : strcmp(f[0].v[i], f[1].v[j]);
		const char *rel = c <= 0 ? f[0].v[i] : f[1].v[j];

		if (!wanted(rel, only)) {
			/* not the component compared */
		} else if (c < 0) {
			line(x, &header, "removed", rel);
		} else if (c > 0) {
			line(x, &header, "added", rel);
		} else {
			rc = snprintf(pa, sizeof(pa), "%s/%s", root[0], rel) <
						     (int)sizeof(pa) &&
					     snprintf(pb, sizeof(pb), "%s/%s",
						      root[1],
						      rel) < (int)sizeof(pb)
				     ? same_file(pa, pb)
				     : -ENAMETOOLONG;
			if (rc < 0) {
				fprintf(stderr, "deployctl: diff: %s: %s\n",
					rel, strerror(-rc));
				x->trouble = true;
			} else if (rc == 0) {
				line(x, &header, "changed", rel);
			}
		}
		i += c <= 0;
		j += c >= 0;
	}
out:
	files_free(&f[0]);
	files_free(&f[1]);
}
