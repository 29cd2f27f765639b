// SPDX-License-Identifier: MIT
/*
 * test_names.c - unit tests of names.h: which component names and version
 * labels are accepted (a table of edge cases: length, first character,
 * separators, '+', non-ASCII bytes), the table of component types, and
 * which types may be packaged and deployed on their own.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "deployfs/names.h"

TestSuite(names, .timeout = 30);

/* s, padded with 'x' up to pad characters when pad is not 0. */
struct label_case {
	const char *s;
	size_t pad;
	bool name_ok;
	bool version_ok;
};

static const struct label_case labels[] = {
	{ "", 0, false, false },
	{ "a", 0, true, true },
	{ "Z", 0, true, true },
	{ "7", 0, true, true },
	{ "order-sync", 0, true, true },
	{ "Order_Map.v2", 0, true, true },
	{ "a-", 0, true, true },
	{ "1.0.0", 0, true, true },
	{ "a", 64, true, true },
	{ "a", 65, false, false },
	{ "a", 200, false, false },
	{ ".hidden", 0, false, false },
	{ ".", 0, false, false },
	{ "..", 0, false, false },
	{ "-a", 0, false, false },
	{ "_a", 0, false, false },
	{ "+a", 0, false, false },
	{ "a@b", 0, false, false },
	{ "@", 0, false, false },
	{ "a/b", 0, false, false },
	{ "/a", 0, false, false },
	{ "a b", 0, false, false },
	{ " a", 0, false, false },
	{ "a\tb", 0, false, false },
	{ "a\nb", 0, false, false },
	{ "a:b", 0, false, false },
	{ "a*", 0, false, false },
	{ "a\\b", 0, false, false },
	{ "1.0+build.5", 0, false, true },
	{ "a+", 0, false, true },
	{ "1.0+", 64, false, true },
	{ "1.0+", 65, false, false },
	{ "caf\xc3\xa9", 0, false, false },
	{ "\xc3\xa9t\xc3\xa9", 0, false, false },
	{ "a\x7f", 0, false, false },
	{ "a\xff", 0, false, false },
};

Test(names, names_and_versions_follow_the_label_rules)
{
	char buf[256];

	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		const struct label_case *c = &labels[i];
		size_t len = strlen(c->s);

		cr_assert_lt(c->pad, sizeof(buf));
		snprintf(buf, sizeof(buf), "%s", c->s);
		for (; len < c->pad; len++)
			buf[len] = 'x';
		buf[len] = '\0';
		cr_expect_eq(dfs_name_valid(buf), c->name_ok,
			     "case %zu: name \"%s\" (%zu chars): want %s", i,
			     buf, len, c->name_ok ? "accepted" : "refused");
		cr_expect_eq(dfs_version_valid(buf), c->version_ok,
			     "case %zu: version \"%s\" (%zu chars): want %s", i,
			     buf, len, c->version_ok ? "accepted" : "refused");
	}
}

Test(names, every_length_up_to_64_is_accepted_and_none_above)
{
	char buf[DFS_LABEL_MAX + 8];

	for (size_t len = 1; len < sizeof(buf); len++) {
		memset(buf, '9', len);
		buf[len] = '\0';
		cr_expect_eq(dfs_name_valid(buf), len <= DFS_LABEL_MAX,
			     "name of %zu chars", len);
		cr_expect_eq(dfs_version_valid(buf), len <= DFS_LABEL_MAX,
			     "version of %zu chars", len);
	}
}

Test(names, a_null_label_is_refused)
{
	cr_assert_not(dfs_name_valid(NULL));
	cr_assert_not(dfs_version_valid(NULL));
}

/* ---- types --------------------------------------------------------------- */

/* Name, deployable, independent: a process is deployable but not
 * independent (linked from another component it is a subprocess and is
 * included); the seven independently deployable types are both. */
static const struct dfs_type want_types[] = {
	{ "process", true, false },	  { "api-proxy", true, true },
	{ "api-service", true, true },	  { "certificate", true, true },
	{ "custom-library", true, true }, { "flow-service", true, true },
	{ "process-route", true, true },  { "processing-group", true, true },
	{ "map", false, false },	  { "profile", false, false },
	{ "connection", false, false },	  { "operation", false, false },
	{ "script", false, false },
};
#define NWANT (sizeof(want_types) / sizeof(want_types[0]))

Test(names, each_type_is_found_with_its_deployable_and_independent_flags)
{
	for (size_t i = 0; i < NWANT; i++) {
		const struct dfs_type *t = dfs_type_find(want_types[i].name);

		cr_assert_not_null(t, "type %s not found", want_types[i].name);
		cr_expect_str_eq(t->name, want_types[i].name);
		cr_expect_eq(t->deployable, want_types[i].deployable,
			     "%s: deployable is %d", t->name, t->deployable);
		cr_expect_eq(t->independent, want_types[i].independent,
			     "%s: independent is %d", t->name, t->independent);
	}
}

Test(names, the_type_table_holds_exactly_these_types_once_each)
{
	bool seen[NWANT] = { false };

	cr_assert_eq(dfs_type_count(), NWANT, "%zu types", dfs_type_count());
	for (size_t i = 0; i < dfs_type_count(); i++) {
		const struct dfs_type *t = dfs_type_at(i);
		size_t j;

		cr_assert_not_null(t, "dfs_type_at(%zu)", i);
		for (j = 0; j < NWANT; j++)
			if (strcmp(t->name, want_types[j].name) == 0)
				break;
		cr_assert_lt(j, NWANT, "unexpected type %s", t->name);
		cr_assert_not(seen[j], "type %s listed twice", t->name);
		seen[j] = true;
		cr_expect_eq(dfs_type_find(t->name), t);
	}
	cr_assert_null(dfs_type_at(dfs_type_count()));
	cr_assert_null(dfs_type_at((size_t)-1));
}

Test(names, unknown_types_are_not_found)
{
	static const char *const unknown[] = {
		"",	 "processes", "Process",  "PROCESS",	   "process ",
		" map",	 "maps",      "api",	  "api_proxy",	   "proc",
		"build", "packages",  "process/", "certificate\n",
	};

	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		cr_expect_null(dfs_type_find(unknown[i]), "\"%s\" was found",
			       unknown[i]);
}
