/* SPDX-License-Identifier: MIT */
/*
 * expect.h - assertions the integration suites share (Criterion).
 */
#ifndef DFS_TEST_EXPECT_H
#define DFS_TEST_EXPECT_H

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

/* A call that must fail with exactly err. */
#define ASSERT_ERRNO(call, err)                                             \
	do {                                                                \
		long rc_;                                                   \
		int e_;                                                     \
		errno = 0;                                                  \
		rc_ = (long)(call);                                         \
		e_ = errno;                                                 \
		cr_assert_eq(rc_, -1, "%s returned %ld, want -1/%s", #call, \
			     rc_, strerrorname_np(err));                    \
		cr_assert_eq(e_, (err), "%s: errno %s, want %s", #call,     \
			     strerrorname_np(e_), strerrorname_np(err));    \
	} while (0)

#endif
