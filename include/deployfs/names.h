/* SPDX-License-Identifier: MIT */
/*
 * names.h - component types and the rules for names and version labels.
 *
 * A component, environment or version label is 1-64 of A-Z a-z 0-9 . _ -
 * (versions may also use +), starting with a letter or digit.
 */
#ifndef DEPLOYFS_NAMES_H
#define DEPLOYFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define DFS_LABEL_MAX 64

struct dfs_type {
	const char *name; /* the folder under build/ */
	bool deployable;  /* may be packaged and deployed on its own */
	/* Independently deployable: a link to it from another component
	 * stays a link, a requirement.  A link to any other type is an
	 * include (a process linked to is a subprocess, included too). */
	bool independent;
};

size_t dfs_type_count(void);
const struct dfs_type *dfs_type_at(size_t i);
/* NULL when name is not a component type. */
const struct dfs_type *dfs_type_find(const char *name);

bool dfs_name_valid(const char *name);
bool dfs_version_valid(const char *version);

#endif
