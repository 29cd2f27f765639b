// SPDX-License-Identifier: MIT
/*
 * ctl_why.c - deployctl why [PATH]: the last refusals the audit trail
 * recorded for the caller (its uid), or for PATH, with their reasons.
 * The shell shows only "Read-only file system" or "Permission denied";
 * the trail says what was refused and why.
 *
 * A refusal's reason starts with the errno's text (strerror), which
 * gives its name (EROFS); its path is the one the reason names ("OP
 * PATH", as store/trees/refuse.c records an operation), else the
 * environment or package the act was about.  PATH matches a refusal whose
 * path is PATH, under it, or a folder PATH is in.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "ctl_trail.h"
#include "deployctl.h"
#include "jsonw.h"

#define WHY_DEFAULT 10
#define WHY_MAX 10000

struct refusal {
	int64_t ts;
	int64_t seq;
	int64_t uid;
	const char *err; /* EROFS, ...; static */
	char *op;
	char *path;
	char *reason;
	char *actor;
	char *cmd;
};

struct why {
	const char *rel; /* PATH in the mount ("" the root), or NULL */
	int64_t uid;	 /* without PATH */
	struct refusal *ring;
	size_t n;    /* wanted */
	size_t seen; /* matched so far; the last n are in ring */
	int err;
};

static void refusal_clear(struct refusal *r)
{
	free(r->op);
	free(r->path);
	free(r->reason);
	free(r->actor);
	free(r->cmd);
	memset(r, 0, sizeof(*r));
}

/* The errno whose text starts reason ("Read-only file system: ..."). */
static const char *errno_name(const char *reason)
{
	const char *best = NULL;
	size_t best_len = 0;

	for (int e = 1; reason && e < 256; e++) {
		const char *text = strerror(e), *name = strerrorname_np(e);
		size_t n = strlen(text);

		if (name && n > best_len && strncmp(reason, text, n) == 0 &&
		    (reason[n] == ':' || reason[n] == '\0')) {
			best = name;
			best_len = n;
		}
	}
	return best ? best : "?";
}

/* What follows the errno's text in reason. */
static const char *reason_rest(const char *reason)
{
	const char *colon = reason ? strstr(reason, ": ") : NULL;

	return colon ? colon + 2 : "";
}

/* The path a refusal is about (see the top of the file), into buf. */
static void refusal_path(const struct dfs_audit_event *ev, char *buf,
			 size_t cap)
{
	const char *rest = reason_rest(ev->reason), *to;
	size_t n = ev->action ? strlen(ev->action) : 0;

	if (n && strncmp(rest, ev->action, n) == 0 && rest[n] == ' ') {
		rest += n + 1;
		to = strstr(rest, " to ");
		snprintf(buf, cap, "%.*s",
			 (int)(to ? (size_t)(to - rest) : strlen(rest)), rest);
		return;
	}
	if (ev->env && ev->component && ev->version)
		snprintf(buf, cap, "environments/%s/%s@%s", ev->env,
			 ev->component, ev->version);
	else if (ev->env && ev->component)
		snprintf(buf, cap, "environments/%s/%s", ev->env,
			 ev->component);
	else if (ev->env)
		snprintf(buf, cap, "environments/%s", ev->env);
	else if (ev->component && ev->version)
		snprintf(buf, cap, "packages/%s/%s@%s", ev->component,
			 ev->component, ev->version);
	else if (ev->component)
		snprintf(buf, cap, "packages/%s", ev->component);
	else
		buf[0] = '\0';
}

/* Is a under b, or b itself (paths in the mount, "" the root)? */
static bool within(const char *a, const char *b)
{
	size_t n = strlen(b);

	return n == 0 || (strncmp(a, b, n) == 0 && (!a[n] || a[n] == '/'));
}

static char *dup_text(const char *s, int *err)
{
	char *d = strdup(s ? s : "");

	if (!d)
		*err = -ENOMEM;
	return d;
}

static int collect(void *ctx, const struct dfs_audit_event *ev)
{
	struct why *w = ctx;
	char path[PATH_MAX];
	struct refusal *r;

	if (!ev->result || strcmp(ev->result, "refused") != 0)
		return 0;
	refusal_path(ev, path, sizeof(path));
	if (w->rel ? !(within(path, w->rel) || within(w->rel, path))
		   : ev->uid != w->uid)
		return 0;
	r = &w->ring[w->seen++ % w->n];
	refusal_clear(r);
	r->ts = ev->ts;
	r->seq = ev->seq;
	r->uid = ev->uid;
	r->err = errno_name(ev->reason);
	r->op = dup_text(ev->action, &w->err);
	r->path = dup_text(path, &w->err);
	r->reason = dup_text(ev->reason, &w->err);
	r->actor = dup_text(ev->actor, &w->err);
	r->cmd = dup_text(ev->cmd, &w->err);
	return w->err != 0;
}

/* ---- PATH ------------------------------------------------------------------ */

/* The folder of path as realpath() gives it (a mount reached through a
 * link, ~/deployfs), then path's last name: into tmp.  -errno when the
 * folder is not there. */
static int real_folder(const char *path, char *tmp, size_t cap)
{
	char dir[PATH_MAX], real[PATH_MAX], *slash;
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(dir))
		return -EINVAL;
	memcpy(dir, path, n + 1);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (!realpath(slash ? (dir[0] ? dir : "/") : ".", real))
		return -errno;
	if ((size_t)snprintf(tmp, cap, "%s/%s", real,
			     slash ? slash + 1 : dir) >= cap)
		return -ENAMETOOLONG;
	return 0;
}

/* abs made absolute and normal (no ".", "..", "//"), following links
 * only in its folder: the path may name what was refused, which does not
 * exist, or a link (ENV/NAME) that is not its target. */
static int absolute(const char *path, char *buf, size_t cap)
{
	char tmp[PATH_MAX], *save = NULL, *tok;
	size_t n = 0;

	if (real_folder(path, tmp, sizeof(tmp)) == 0) {
		/* tmp is set */
	} else if (path[0] == '/') {
		snprintf(tmp, sizeof(tmp), "%s", path);
	} else {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", cwd, path) >=
		    sizeof(tmp))
			return -ENAMETOOLONG;
	}
	buf[0] = '\0';
	for (tok = strtok_r(tmp, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			char *slash = strrchr(buf, '/');

			n = slash ? (size_t)(slash - buf) : 0;
			buf[n] = '\0';
			continue;
		}
		if (n + 1 + strlen(tok) + 1 > cap)
			return -ENAMETOOLONG;
		n += (size_t)snprintf(buf + n, cap - n, "/%s", tok);
	}
	if (!buf[0])
		snprintf(buf, cap, "/");
	return 0;
}

/* PATH as a path in the mount mnt (found when mnt is NULL). */
static int path_in_mount(const char *path, const char **mnt, char *mbuf,
			 size_t mcap, char *rel, size_t rcap)
{
	char abs[PATH_MAX], real[PATH_MAX];
	size_t n;
	int rc = absolute(path, abs, sizeof(abs));

	if (rc < 0)
		return rc;
	if (!*mnt) {
		rc = mount_holding(abs, mbuf, mcap);
		if (rc < 0)
			return rc;
		*mnt = mbuf;
	}
	if (!realpath(*mnt, real))
		return -errno;
	if (!within(abs, real))
		return -ENOENT;
	n = strlen(real) == 1 ? 0 : strlen(real);
	snprintf(rel, rcap, "%s", abs[n] == '/' ? abs + n + 1 : abs + n);
	return 0;
}

/* ---- output ------------------------------------------------------------------ */

static const struct refusal *nth(const struct why *w, size_t i)
{
	size_t kept = w->seen < w->n ? w->seen : w->n;

	return &w->ring[(w->seen - kept + i) % w->n];
}

static size_t kept(const struct why *w)
{
	return w->seen < w->n ? w->seen : w->n;
}

static int print_json(const struct why *w)
{
	struct jsonw j;

	jsonw_begin(&j, stdout);
	jsonw_array_open(&j);
	for (size_t i = 0; i < kept(w); i++) {
		const struct refusal *r = nth(w, i);
		char when[32];

		trail_when(r->ts, when, sizeof(when));
		jsonw_object_open(&j);
		jsonw_kv_string(&j, "when", when);
		jsonw_kv_int(&j, "seq", r->seq);
		jsonw_kv_string(&j, "errno", r->err);
		jsonw_kv_string(&j, "operation", r->op);
		jsonw_kv_string(&j, "path", r->path);
		jsonw_kv_string(&j, "reason", r->reason);
		jsonw_kv_string(&j, "user", r->actor);
		jsonw_kv_int(&j, "uid", r->uid);
		jsonw_kv_string(&j, "cmd", r->cmd);
		jsonw_object_close(&j);
	}
	jsonw_array_close(&j);
	return jsonw_end(&j);
}

static int print_text(const struct why *w)
{
	if (kept(w) == 0) {
		if (w->rel)
			printf("no refusals recorded for %s\n",
			       w->rel[0] ? w->rel : "/");
		else
			printf("no refusals recorded for uid %lld\n",
			       (long long)w->uid);
	}
	for (size_t i = 0; i < kept(w); i++) {
		const struct refusal *r = nth(w, i);
		char when[32];

		trail_when(r->ts, when, sizeof(when));
		printf("%s %s %s %s (%s, uid %lld: %s)\n    %s\n", when, r->err,
		       r->op, r->path[0] ? r->path : "/", r->actor,
		       (long long)r->uid, r->cmd, r->reason);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		return -EIO;
	return 0;
}

static void why_usage(FILE *out)
{
	fprintf(out,
		"usage: deployctl why [PATH] [-n N] [--json] [--mount MNT]\n"
		"  the last N (default 10) refusals the audit trail recorded\n"
		"  for you (your uid), or for PATH (in the mount, absolute or\n"
		"  relative to the current folder): when, the errno, the\n"
		"  operation, the path and the reason\n");
}

int cmd_why(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "mount", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct why w = { .n = WHY_DEFAULT, .uid = (int64_t)getuid() };
	char mbuf[PATH_MAX], rel[PATH_MAX];
	const char *mnt = NULL;
	struct trail t;
	bool json = false;
	char *end;
	long n;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "n:jm:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 ||
			    n > WHY_MAX) {
				fprintf(stderr,
					"deployctl: why: -n \"%s\": not a "
					"number from 1 to %d\n",
					optarg, WHY_MAX);
				return EX_USAGE;
			}
			w.n = (size_t)n;
			break;
		case 'j':
			json = true;
			break;
		case 'm':
			mnt = optarg;
			break;
		case 'h':
			why_usage(stdout);
			return 0;
		default:
			why_usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc - optind > 1) {
		why_usage(stderr);
		return EX_USAGE;
	}
	if (argc - optind == 1) {
		rc = path_in_mount(argv[optind], &mnt, mbuf, sizeof(mbuf), rel,
				   sizeof(rel));
		if (rc < 0) {
			fprintf(stderr, "deployctl: why: \"%s\": %s\n",
				argv[optind],
				rc == -ENOENT ? "not in a deployfs mount"
					      : strerror(-rc));
			return EX_NOINPUT;
		}
		w.rel = rel;
	}
	if (!mnt) /* the mount we are in, else the default */
		mnt = default_mount(mbuf, sizeof(mbuf));
	w.ring = calloc(w.n, sizeof(*w.ring));
	if (!w.ring) {
		fprintf(stderr, "deployctl: why: %s\n", strerror(ENOMEM));
		return EX_OSERR;
	}
	rc = trail_open(mnt, &t);
	if (rc)
		goto out_free;
	rc = trail_each(&t, collect, &w);
	if (rc == 0)
		rc = w.err;
	if (rc == 0)
		rc = json ? print_json(&w) : print_text(&w);
	if (rc < 0) {
		fprintf(stderr, "deployctl: why: %s\n", strerror(-rc));
		rc = EX_IOERR;
	}
	trail_close(&t);
out_free:
	for (size_t i = 0; i < w.n; i++)
		refusal_clear(&w.ring[i]);
	free(w.ring);
	return rc;
}
