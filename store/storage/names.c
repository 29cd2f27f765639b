// SPDX-License-Identifier: MIT
/*
 * names.c - the component types of build/ and the name rules (names.h).
 */
#include <string.h>

#include "deployfs/names.h"

/*
 * Deployable: processes and the independently deployable types.
 * Independent: the seven types packaged and deployed only on their own; a
 * process is deployable but, linked from another component, a subprocess
 * that is included like a map.
 */
static const struct dfs_type types[] = {
	{ "process", true, false },	    { "map", false, false },
	{ "profile", false, false },	    { "connection", false, false },
	{ "operation", false, false },	    { "script", false, false },
	{ "api-proxy", true, true },	    { "api-service", true, true },
	{ "certificate", true, true },	    { "custom-library", true, true },
	{ "flow-service", true, true },	    { "process-route", true, true },
	{ "processing-group", true, true },
};

size_t dfs_type_count(void)
{
	return sizeof(types) / sizeof(types[0]);
}

const struct dfs_type *dfs_type_at(size_t i)
{
	return i < dfs_type_count() ? &types[i] : NULL;
}

const struct dfs_type *dfs_type_find(const char *name)
{
	for (size_t i = 0; i < dfs_type_count(); i++)
		if (strcmp(types[i].name, name) == 0)
			return &types[i];
	return NULL;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool label_valid(const char *s, const char *extra)
{
	size_t n = 0;

	if (!s || !is_alnum(s[0]))
		return false;
	for (; s[n]; n++) {
		if (n >= DFS_LABEL_MAX)
			return false;
		if (!is_alnum(s[n]) && !strchr(extra, s[n]))
			return false;
	}
	return true;
}

bool dfs_name_valid(const char *name)
{
	return label_valid(name, "._-");
}

bool dfs_version_valid(const char *version)
{
	return label_valid(version, "._-+");
}
