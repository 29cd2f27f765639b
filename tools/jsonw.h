/* SPDX-License-Identifier: MIT */
/*
 * jsonw.h - a tiny streaming JSON writer for deployctl: one document to a
 * FILE, commas and escapes written for the caller, so no JSON is ever
 * concatenated by hand.  Strings are escaped as RFC 8259 asks (quote,
 * backslash, control characters); bytes that are not UTF-8 become
 * U+FFFD, so the output is always valid JSON.  A NULL string is null.
 *
 * Write errors are sticky: jsonw_end() returns -EIO if any write failed.
 */
#ifndef DFS_JSONW_H
#define DFS_JSONW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSONW_DEPTH 16

struct jsonw {
	FILE *out;
	int depth;
	bool has_item[JSONW_DEPTH]; /* a value written at this depth */
	bool after_key;
	bool failed;
};

void jsonw_begin(struct jsonw *w, FILE *out);
/* The document is complete: a newline; 0 or -EIO. */
int jsonw_end(struct jsonw *w);

void jsonw_array_open(struct jsonw *w);
void jsonw_array_close(struct jsonw *w);
void jsonw_object_open(struct jsonw *w);
void jsonw_object_close(struct jsonw *w);

void jsonw_key(struct jsonw *w, const char *key);
void jsonw_string(struct jsonw *w, const char *s);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

/* key and value in one call. */
void jsonw_kv_string(struct jsonw *w, const char *key, const char *s);
void jsonw_kv_int(struct jsonw *w, const char *key, int64_t v);
void jsonw_kv_bool(struct jsonw *w, const char *key, bool v);

#endif
