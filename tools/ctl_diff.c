// SPDX-License-Identifier: MIT
/*
 * ctl_diff.c - deployctl diff A B: what differs between two deployed or
 * packaged states, each side an environment (ENV), one component in an
 * environment (ENV/NAME) or a package (NAME@V).  First the versions per
 * component (only those that differ, and components on one side only),
 * then the files of each component deployed on both sides in different
 * versions: paths added, removed and changed, by content (a symbolic link
 * by its target).  Exit 0 the same, 1 different, 2 trouble, as diff(1).
 *
 * Everything is read through the mount (environments/ENV/NAME links to
 * its package; environments/ENV/NAME@V is its tree), so any user who can
 * read the mount may compare what it can read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "ctl_diff_ext.h"
#include "deployctl.h"

#define DIFF_SAME 0
#define DIFF_DIFFERENT 1
#define DIFF_TROUBLE 2
#define DIR_MAX 100000 /* entries of one folder we compare */
#define NAME_LEN 256

struct comp {
	char name[NAME_LEN];
	char version[NAME_LEN];
	char tree[PATH_MAX];
};

struct side {
	const char *label;
	const char *only;   /* one component (ENV/NAME, NAME@V), or NULL */
	char env[NAME_LEN]; /* the environment (ENV, ENV/NAME), or "" */
	struct comp *c;
	size_t n, cap;
};

struct diff {
	const char *mnt;
	bool different;
	bool trouble;
};

static void trouble(struct diff *d, const char *what, int err)
{
	fprintf(stderr, "deployctl: diff: %s: %s\n", what, strerror(err));
	d->trouble = true;
}

/* snprintf into a path buffer: 0, or -ENAMETOOLONG when it is cut. */
__attribute__((format(printf, 3, 4))) static int pathf(char *buf, size_t cap,
						       const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static struct comp *add_comp(struct side *s)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct comp *c;

		if (cap > DIR_MAX)
			return NULL;
		c = realloc(s->c, cap * sizeof(*c));
		if (!c)
			return NULL;
		s->c = c;
		s->cap = cap;
	}
	memset(&s->c[s->n], 0, sizeof(*s->c));
	return &s->c[s->n++];
}

/* environments/ENV/NAME links to ../../packages/NAME/NAME@V: its
 * version into c.  -ENOENT when NAME is not deployed there. */
static int deployed(const char *mnt, const char *env, const char *name,
		    struct comp *c)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	size_t n = strlen(name);
	ssize_t len;

	if (pathf(path, sizeof(path), "%s/environments/%s/%s", mnt, env, name) <
	    0)
		return -ENAMETOOLONG;
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0)
		return errno == EINVAL ? -ENOENT : -errno;
	target[len] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strncmp(base, name, n) != 0 || base[n] != '@' || n >= NAME_LEN)
		return -ENOENT; /* not a deployment's link */
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->version, sizeof(c->version), "%s", base + n + 1);
	return pathf(c->tree, sizeof(c->tree), "%s/environments/%s/%s", mnt,
		     env, base);
}

static int is_dir(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) < 0)
		return -errno;
	return S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
}

/* Every component deployed to env. */
static int env_comps(const char *mnt, const char *env, struct side *s)
{
	char path[PATH_MAX];
	struct dirent *de;
	int rc = 0;
	DIR *dir;

	if (pathf(path, sizeof(path), "%s/environments/%s", mnt, env) < 0)
		return -ENAMETOOLONG;
	dir = strchr(env, '/') || env[0] == '.' ? NULL : opendir(path);
	if (!dir)
		return strchr(env, '/') || env[0] == '.' ? -ENOENT : -errno;
	while (rc == 0 && (de = readdir(dir))) {
		struct comp c;

		if (de->d_name[0] == '.' || strchr(de->d_name, '@') ||
		    deployed(mnt, env, de->d_name, &c) < 0)
			continue;
		if (!add_comp(s))
			rc = -ENOMEM;
		else
			s->c[s->n - 1] = c;
	}
	closedir(dir);
	return rc;
}

/* Resolve arg (ENV, ENV/NAME, NAME@V) into s; 0 or -errno, said. */
static int resolve(const char *mnt, const char *arg, struct side *s)
{
	char path[PATH_MAX], env[NAME_LEN];
	const char *slash = strchr(arg, '/'), *at = strrchr(arg, '@');
	struct comp c;
	int rc;

	s->label = arg;
	if (at && !slash) {
		size_t n = (size_t)(at - arg);

		if (n == 0 || n >= NAME_LEN || !at[1])
			return -EINVAL;
		s->only = NULL;
		snprintf(c.name, sizeof(c.name), "%.*s", (int)n, arg);
		snprintf(c.version, sizeof(c.version), "%s", at + 1);
		rc = pathf(c.tree, sizeof(c.tree), "%s/packages/%s/%s", mnt,
			   c.name, arg);
		if (rc == 0)
			rc = is_dir(c.tree);
		if (rc < 0)
			return rc;
		if (!add_comp(s))
			return -ENOMEM;
		s->c[0] = c;
		s->only = s->c[0].name;
		return 0;
	}
	if (slash) {
		size_t n = (size_t)(slash - arg);

		if (n == 0 || n >= NAME_LEN || !slash[1] ||
		    strchr(slash + 1, '/'))
			return -EINVAL;
		snprintf(env, sizeof(env), "%.*s", (int)n, arg);
		snprintf(s->env, sizeof(s->env), "%s", env);
		rc = pathf(path, sizeof(path), "%s/environments/%s", mnt, env);
		if (rc == 0)
			rc = is_dir(path);
		if (rc < 0)
			return rc;
		s->only = slash + 1;
		rc = deployed(mnt, env, slash + 1, &c);
		if (rc == -ENOENT)
			return 0; /* not deployed there: nothing on this side */
		if (rc < 0)
			return rc;
		if (!add_comp(s))
			return -ENOMEM;
		s->c[0] = c;
		return 0;
	}
	snprintf(s->env, sizeof(s->env), "%s", arg);
	return env_comps(mnt, arg, s);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct comp *)a)->name,
		      ((const struct comp *)b)->name);
}

/* ---- files -------------------------------------------------------------- */

struct names {
	char **v;
	size_t n;
};

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The names in folder path, sorted. */
static int list(const char *path, struct names *ret)
{
	struct names l = { 0 };
	size_t cap = 0;
	struct dirent *de;
	int rc = 0;
	DIR *dir = opendir(path);

	if (!dir)
		return -errno;
	while (rc == 0 && (de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (l.n == cap) {
			char **v = NULL;

			cap = cap ? 2 * cap : 32;
			if (cap <= 2 * DIR_MAX)
				v = realloc(l.v, cap * sizeof(*v));
			if (!v) {
				rc = cap > 2 * DIR_MAX ? -EFBIG : -ENOMEM;
				break;
			}
			l.v = v;
		}
		l.v[l.n] = strdup(de->d_name);
		if (!l.v[l.n])
			rc = -ENOMEM;
		else
			l.n++;
	}
	closedir(dir);
	if (rc < 0) {
		names_free(&l);
		return rc;
	}
	qsort(l.v, l.n, sizeof(*l.v), by_str);
	*ret = l;
	return 0;
}

/* Do files a and b hold the same bytes?  1 same, 0 not, or -errno. */
static int same_content(const char *a, const char *b, off_t size)
{
	static const size_t chunk = 65536;
	char *ba = malloc(chunk), *bb = malloc(chunk);
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = -1, rc = 1;

	if (fa >= 0)
		fb = open(b, O_RDONLY | O_CLOEXEC);
	if (!ba || !bb)
		rc = -ENOMEM;
	else if (fa < 0 || fb < 0)
		rc = -errno;
	for (off_t off = 0; rc == 1 && off < size;) {
		size_t want = (size_t)(size - off) < chunk
				      ? (size_t)(size - off)
				      : chunk;
		ssize_t ra = pread(fa, ba, want, off),
			rb = pread(fb, bb, want, off);

		if (ra < 0 || rb < 0)
			rc = -errno;
		else if (ra != rb || ra == 0 || memcmp(ba, bb, (size_t)ra))
			rc = 0;
		else
			off += ra;
	}
	if (fb >= 0)
		close(fb);
	if (fa >= 0)
		close(fa);
	free(ba);
	free(bb);
	return rc;
}

static void report(struct diff *d, const char *what, const char *comp,
		   const char *rel)
{
	printf("%-8s %s: %s\n", what, comp, rel);
	d->different = true;
}

static void compare_dirs(struct diff *d, const char *comp, const char *a,
			 const char *b, const char *rel);

/* Entry rel (a in A, b in B, both there). */
static void compare_entry(struct diff *d, const char *comp, const char *a,
			  const char *b, const char *rel)
{
	struct stat sa, sb;
	int rc;

	if (lstat(a, &sa) < 0 || lstat(b, &sb) < 0) {
		trouble(d, rel, errno);
		return;
	}
	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
		report(d, "changed", comp, rel);
		return;
	}
	if (S_ISDIR(sa.st_mode)) {
		compare_dirs(d, comp, a, b, rel);
	} else if (S_ISLNK(sa.st_mode)) {
		char ta[PATH_MAX], tb[PATH_MAX];
		ssize_t la = readlink(a, ta, sizeof(ta) - 1),
			lb = readlink(b, tb, sizeof(tb) - 1);

		if (la < 0 || lb < 0)
			trouble(d, rel, errno);
		else if (la != lb || memcmp(ta, tb, (size_t)la) != 0)
			report(d, "changed", comp, rel);
	} else if (S_ISREG(sa.st_mode)) {
		rc = sa.st_size != sb.st_size ? 0
					      : same_content(a, b, sa.st_size);
		if (rc < 0)
			trouble(d, rel, -rc);
		else if (rc == 0)
			report(d, "changed", comp, rel);
	}
}

static void compare_dirs(struct diff *d, const char *comp, const char *a,
			 const char *b, const char *rel)
{
	struct names la, lb;
	size_t i = 0, j = 0;
	int rc = list(a, &la);

	if (rc < 0) {
		trouble(d, a, -rc);
		return;
	}
	rc = list(b, &lb);
	if (rc < 0) {
		trouble(d, b, -rc);
		names_free(&la);
		return;
	}
	while (i < la.n || j < lb.n) {
		int c = i == la.n   ? 1
			: j == lb.n ? -1
				    : strcmp(la.v[i], lb.v[j]);
		const char *name = c <= 0 ? la.v[i] : lb.v[j];
		char pa[PATH_MAX], pb[PATH_MAX], r[PATH_MAX];

		if (pathf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "",
			  name) < 0) {
			trouble(d, name, ENAMETOOLONG);
			break;
		}
		if (c < 0) {
			report(d, "removed", comp, r);
			i++;
			continue;
		}
		if (c > 0) {
			report(d, "added", comp, r);
			j++;
			continue;
		}
		if (pathf(pa, sizeof(pa), "%s/%s", a, name) < 0 ||
		    pathf(pb, sizeof(pb), "%s/%s", b, name) < 0)
			trouble(d, r, ENAMETOOLONG);
		else
			compare_entry(d, comp, pa, pb, r);
		i++, j++;
	}
	names_free(&la);
	names_free(&lb);
}

/* ---- the command ------------------------------------------------------------ */

static void diff_usage(FILE *out)
{
	fprintf(out,
		"usage: deployctl diff A B [--mount MNT]\n"
		"  A and B: ENV, ENV/NAME or NAME@V.  The versions that differ\n"
		"  per component, then the files added, removed or changed\n"
		"  (by content) from A to B, then the extensions (overrides in\n"
		"  ENV/extensions) added, removed or changed.  Exit 0 the same,\n"
		"  1 different, 2 trouble\n");
}

/* What a side has of component name, or NULL. */
static const struct comp *find(const struct side *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->c[i].name, name) == 0)
			return &s->c[i];
	return NULL;
}

/* A side that is one component makes the other side that component. */
static void restrict_to(struct side *s, const char *only)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->c[i].name, only) == 0)
			s->c[k++] = s->c[i];
	s->n = k;
}

static void compare(struct diff *d, struct side *a, struct side *b)
{
	const struct side *s[2] = { a, b };
	bool header = false;

	/* the versions: every component of A, then those only in B */
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < s[k]->n; i++) {
			const struct comp *ca =
				k ? find(a, s[k]->c[i].name) : &a->c[i];
			const struct comp *cb = find(b, s[k]->c[i].name);

			if ((k && ca) ||
			    (ca && cb && strcmp(ca->version, cb->version) == 0))
				continue;
			if (!header)
				printf("%-24s %-12s %s\n", "COMPONENT",
				       a->label, b->label);
			header = true;
			printf("%-24s %-12s %s\n", s[k]->c[i].name,
			       ca ? ca->version : "-", cb ? cb->version : "-");
			d->different = true;
		}
	/* the files of what both have in other versions */
	for (size_t i = 0; i < a->n; i++) {
		const struct comp *cb = find(b, a->c[i].name);

		if (cb && strcmp(a->c[i].version, cb->version) != 0)
			compare_dirs(d, a->c[i].name, a->c[i].tree, cb->tree,
				     "");
	}
}

int cmd_diff(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct side side[2] = { 0 };
	struct diff d = { 0 };
	char mbuf[PATH_MAX];
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			d.mnt = optarg;
			break;
		case 'h':
			diff_usage(stdout);
			return 0;
		default:
			diff_usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc - optind != 2) {
		diff_usage(stderr);
		return EX_USAGE;
	}
	if (!d.mnt)
		d.mnt = default_mount(mbuf, sizeof(mbuf));
	for (int k = 0; k < 2; k++) {
		const char *arg = argv[optind + k];

		rc = resolve(d.mnt, arg, &side[k]);
		if (rc < 0) {
			fprintf(stderr,
				"deployctl: diff: \"%s\": %s (an environment, "
				"ENV/NAME or NAME@V of %s)\n",
				arg,
				rc == -ENOENT || rc == -ENOTDIR
					? "no such environment or package"
					: strerror(-rc),
				d.mnt);
			d.trouble = true;
			goto out;
		}
	}
	for (int k = 0; k < 2; k++) {
		if (side[k].n) /* an empty side may have no array */
			qsort(side[k].c, side[k].n, sizeof(*side[k].c),
			      by_name);
		/* two single components of other names stay as they are */
		if (side[k].only && !side[1 - k].only)
			restrict_to(&side[1 - k], side[k].only);
	}
	compare(&d, &side[0], &side[1]);
	/* then the extensions of the environments, apart from versions */
	if (side[0].env[0] || side[1].env[0]) {
		struct ctl_diff_ext x = { 0 };

		ctl_diff_extensions(d.mnt, side[0].env[0] ? side[0].env : NULL,
				    side[1].env[0] ? side[1].env : NULL,
				    side[0].only ? side[0].only : side[1].only,
				    &x);
		d.different |= x.different;
		d.trouble |= x.trouble;
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		trouble(&d, "stdout", errno);
out:
	free(side[0].c);
	free(side[1].c);
	return d.trouble     ? DIFF_TROUBLE
	       : d.different ? DIFF_DIFFERENT
			     : DIFF_SAME;
}
