// SPDX-License-Identifier: MIT
/*
 * names.c - the component types of build/ and the name rules (names.h).
 */
#include <string.h>

#include "deployfs/names.h"

/* Deployable: processes and the independently deployable types. */
static const struct dfs_type types[] = {
	{ "process", true },	      { "map", false },
	{ "profile", false },	      { "connection", false },
	{ "operation", false },	      { "script", false },
	{ "api-proxy", true },	      { "api-service", true },
	{ "certificate", true },      { "custom-library", true },
	{ "flow-service", true },     { "process-route", true },
	{ "processing-group", true },
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
