// SPDX-License-Identifier: MIT
/*
 * ctl_bulk.c - deployctl deploy ENV A@1 B@2 ... [--notes TEXT] [--force]:
 * a bulk deploy, one transaction in the daemon, all or nothing.  The
 * list goes as the value of user.deployfs.deploy on environments/ENV
 * (store/trees/bulk.c).  Told apart from `deploy NAME@V ENV` by its first
 * argument, which holds no '@', and every one after it, which do.
 *
 * A setxattr answers only with an errno: which entry was refused and why
 * (or, on success, the batch id) is read from the audit.log lines this
 * process caused, after the size audit.log had before the call.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sysexits.h>
#include <unistd.h>

#include "deployfs/names.h"

#include "deployctl.h"

#define VALUE_MAX 65536 /* XATTR_SIZE_MAX */
#define LINE_CAP 20000	/* audit.log lines are at most 16384 bytes */

static const struct option longopts[] = {
	{ "mount", required_argument, NULL, 'm' },
	{ "notes", required_argument, NULL, 'n' },
	{ "force", no_argument, NULL, 'f' },
	{ NULL, 0, NULL, 0 },
};

bool deploy_is_bulk(int argc, char **argv)
{
	int c, saved = opterr;
	bool bulk;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "m:n:f", longopts, NULL)) != -1)
		if (c == '?' || c == ':')
			break;
	opterr = saved;
	bulk = c == -1 && argc - optind >= 2 && !strchr(argv[optind], '@');
	for (int i = optind + 1; bulk && i < argc; i++)
		bulk = strchr(argv[i], '@') != NULL;
	optind = 0;
	return bulk;
}

/* Read the logfmt value at p (quoted or not) into buf; returns its end. */
static const char *value_at(const char *p, char *buf, size_t cap)
{
	bool q = *p == '"';
	size_t n = 0;

	for (p += q; *p && *p != '\n' && (q ? *p != '"' : *p != ' '); p++) {
		char ch = *p;

		if (q && ch == '\\' && p[1]) {
			ch = *++p;
			if (ch == 'n') {
				ch = '\n';
			} else if (ch == 'x' && p[1] && p[2]) {
				char hex[3] = { p[1], p[2], 0 };

				ch = (char)strtol(hex, NULL, 16);
				p += 2;
			}
		}
		if (n + 1 < cap)
			buf[n++] = ch;
	}
	if (cap)
		buf[n] = '\0';
	return *p == '"' ? p + 1 : p;
}

/* The value of logfmt key in line, unescaped, into buf; false if absent. */
static bool field(const char *line, const char *key, char *buf, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = line;

	while (*p && *p != '\n') {
		const char *eq = strchr(p, '=');

		if (!eq)
			return false;
		if ((size_t)(eq - p) == klen && strncmp(p, key, klen) == 0) {
			value_at(eq + 1, buf, cap);
			return true;
		}
		p = value_at(eq + 1, NULL, 0);
		while (*p == ' ')
			p++;
	}
	return false;
}

/* The size of audit.log: where the lines of this call will start. */
static off_t log_end(const char *mnt)
{
	char path[PATH_MAX + 16];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/audit.log", mnt);
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/*
 * Find the last line after off that this process caused in env with
 * result want ("refused", or "" for any other): its reason into reason.
 * 0, or -ENOENT.
 */
static int my_line(const char *mnt, off_t off, const char *env,
		   const char *want, char *reason, size_t rcap)
{
	char path[PATH_MAX + 16], pid[32], *line = malloc(LINE_CAP);
	char val[DFS_LABEL_MAX + 256];
	FILE *f;
	int rc = -ENOENT;

	snprintf(path, sizeof(path), "%s/audit.log", mnt);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	f = line && off >= 0 ? fopen(path, "r") : NULL;
	if (!f || fseeko(f, off, SEEK_SET) != 0)
		goto out;
	while (fgets(line, LINE_CAP, f)) {
		if (!field(line, "pid", val, sizeof(val)) ||
		    strcmp(val, pid) != 0 ||
		    !field(line, "env", val, sizeof(val)) ||
		    strcmp(val, env) != 0 ||
		    !field(line, "result", val, sizeof(val)) ||
		    (strcmp(val, "refused") == 0) != (want[0] != '\0'))
			continue;
		if (!field(line, "reason", reason, rcap))
			reason[0] = '\0';
		rc = 0;
	}
out:
	if (f)
		fclose(f);
	free(line);
	return rc;
}

/* entries, then force, then notes: the value of user.deployfs.deploy. */
static char *batch_value(char **entry, int n, bool force, const char *notes,
			 size_t *ret_len)
{
	size_t len = 16 + (notes ? strlen(notes) : 0);
	char *v, *p;

	for (int i = 0; i < n; i++)
		len += strlen(entry[i]) + 1;
	v = malloc(len);
	if (!v)
		return NULL;
	p = v;
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%s\n", entry[i]);
	if (force)
		p += sprintf(p, "force\n");
	if (notes)
		p += sprintf(p, "notes %s", notes);
	*ret_len = (size_t)(p - v);
	return v;
}

/* Print each deployed package, its warning, and the batch. */
static void report(const char *mnt, const char *env, char **entry, int n,
		   off_t off)
{
	char path[PATH_MAX + 600], warning[1024], reason[2048];
	ssize_t len;

	for (int i = 0; i < n; i++) {
		printf("deployed %s to %s\n", entry[i], env);
		snprintf(path, sizeof(path), "%s/environments/%s/%s", mnt, env,
			 entry[i]);
		/* Unmet requirements: the deployment's warning, on stderr. */
		len = getxattr(path, "user.deployfs.warning", warning,
			       sizeof(warning) - 1);
		if (len > 0) {
			warning[len] = '\0';
			fprintf(stderr, "deployctl: %s: %s\n", entry[i],
				warning);
		}
	}
	if (my_line(mnt, off, env, "", reason, sizeof(reason)) == 0 &&
	    strncmp(reason, "batch ", 6) == 0)
		printf("%.*s: %d package%s deployed to %s in one "
		       "transaction\n",
		       (int)strcspn(reason, ","), reason, n, n == 1 ? "" : "s",
		       env);
}

int cmd_deploy_bulk(int argc, char **argv)
{
	const char *mnt = NULL, *notes = NULL, *env;
	char mbuf[PATH_MAX], dir[PATH_MAX + 300], reason[2048];
	bool force = false;
	size_t len = 0;
	char *value;
	off_t off;
	int c, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:n:f", longopts, NULL)) != -1) {
		if (c == 'm') {
			mnt = optarg;
		} else if (c == 'n') {
			notes = optarg;
		} else if (c == 'f') {
			force = true;
		} else {
			return ctl_usage(argv[0]);
		}
	}
	env = argv[optind];
	if (!*env || strlen(env) > DFS_LABEL_MAX || strchr(env, '/') ||
	    env[0] == '.') {
		fprintf(stderr,
			"deployctl: \"%s\" is not an environment name\n", env);
		return EX_USAGE;
	}
	for (int i = optind + 1; i < argc; i++) {
		if (strchr(argv[i], '\n')) {
			fprintf(stderr,
				"deployctl: \"%s\" is not a valid "
				"NAME@VERSION\n",
				argv[i]);
			return EX_USAGE;
		}
	}
	if (!mnt)
		mnt = default_mount(mbuf, sizeof(mbuf));
	value = batch_value(argv + optind + 1, argc - optind - 1, force, notes,
			    &len);
	if (!value) {
		fprintf(stderr, "deployctl: deploy to %s: %s\n", env,
			strerror(ENOMEM));
		return EX_OSERR;
	}
	if (len > VALUE_MAX) {
		fprintf(stderr,
			"deployctl: deploy to %s: the list is %zu bytes, more "
			"than one call takes (%d); deploy in two batches\n",
			env, len, VALUE_MAX);
		free(value);
		return EX_USAGE;
	}
	snprintf(dir, sizeof(dir), "%s/environments/%s", mnt, env);
	off = log_end(mnt);
	err = setxattr(dir, "user.deployfs.deploy", value, len, 0) < 0 ? errno
								       : 0;
	free(value);
	if (err == 0) {
		report(mnt, env, argv + optind + 1, argc - optind - 1, off);
		return 0;
	}
	if (my_line(mnt, off, env, "refused", reason, sizeof(reason)) == 0)
		fprintf(stderr,
			"deployctl: deploy to %s refused, nothing deployed: "
			"%s\n",
			env, reason);
	else
		fprintf(stderr,
			"deployctl: deploy to %s refused, nothing deployed: "
			"%s\n",
			env, strerror(err));
	return 1;
}
