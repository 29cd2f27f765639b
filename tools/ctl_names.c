// SPDX-License-Identifier: MIT
/*
 * ctl_names.c - what exists under a mount, read through it, for messages
 * that name it: "order-sync has no version 9 (versions: 1, 2, 3)", "no
 * environment \"tst\" (environments: production, test)".  Removed
 * packages are not listed by packages/, so they are not named either.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deployctl.h"

#define MAX_NAMES 4096

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append name to buf (", " between); false once it no longer fits. */
static bool append(char *buf, size_t cap, size_t *len, const char *name)
{
	int n = snprintf(buf + *len, cap - *len, "%s%s", *len ? ", " : "",
			 name);

	if (n < 0 || (size_t)n >= cap - *len - 5) {
		buf[*len] = '\0';
		snprintf(buf + *len, cap - *len, "%s...", *len ? ", " : "");
		*len = strlen(buf);
		return false;
	}
	*len += (size_t)n;
	return true;
}

int list_names(const char *dir, const char *prefix, bool sort, char *buf,
	       size_t cap)
{
	size_t plen = strlen(prefix), n = 0, len = 0;
	struct dirent *de;
	char **names;
	int rc = 0;
	DIR *d;

	if (cap < 8)
		return -EINVAL;
	buf[0] = '\0';
	names = calloc(MAX_NAMES, sizeof(*names));
	if (!names)
		return -ENOMEM;
	d = opendir(dir);
	if (!d) {
		rc = -errno;
		goto out_free;
	}
	while (n < MAX_NAMES && (de = readdir(d))) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "latest") == 0 ||
		    strncmp(de->d_name, prefix, plen) != 0)
			continue;
		names[n] = strdup(de->d_name + plen);
		if (!names[n]) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == 0 && sort)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!append(buf, cap, &len, names[i]))
			break;
	if (rc == 0)
		rc = (int)n;
out_free:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* Does path not exist?  (Another error, EACCES say, is not "missing".) */
static bool missing(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) < 0 && errno == ENOENT;
}

bool explain_missing(const char *mnt, const char *name, const char *version,
		     const char *env, char *buf, size_t cap)
{
	char path[PATH_MAX + 600], names[2048], prefix[300];
	int n;

	if (name)
		snprintf(path, sizeof(path), "%s/packages/%s", mnt, name);
	if (name && missing(path)) {
		snprintf(buf, cap,
			 "no component \"%s\" (ls %s/packages lists them)",
			 name, mnt);
		return true;
	}
	if (name && version)
		snprintf(path, sizeof(path), "%s/packages/%s/%s@%s", mnt, name,
			 name, version);
	if (name && version && missing(path)) {
		snprintf(path, sizeof(path), "%s/packages/%s", mnt, name);
		snprintf(prefix, sizeof(prefix), "%s@", name);
		n = list_names(path, prefix, false, names, sizeof(names));
		if (n > 0)
			snprintf(buf, cap,
				 "%s has no version %s (versions: %s)", name,
				 version, names);
		else
			snprintf(buf, cap,
				 "%s has no version %s (it has none yet: "
				 "deployctl package %s makes one)",
				 name, version, name);
		return true;
	}
	if (env)
		snprintf(path, sizeof(path), "%s/environments/%s", mnt, env);
	if (env && missing(path)) {
		snprintf(path, sizeof(path), "%s/environments", mnt);
		n = list_names(path, "", true, names, sizeof(names));
		if (n > 0)
			snprintf(buf, cap,
				 "no environment \"%s\" (environments: %s)",
				 env, names);
		else
			snprintf(buf, cap,
				 "no environment \"%s\" (there is none yet: "
				 "mkdir %s/environments/%s as root)",
				 env, mnt, env);
		return true;
	}
	return false;
}
