/* SPDX-License-Identifier: MIT */
/*
 * json.h - a tiny streaming JSON writer for deployctl's --json output.
 *
 *	struct json j;
 *
 *	json_init(&j, stdout);
 *	json_begin_object(&j);
 *	json_key(&j, "env");
 *	json_string(&j, "test");
 *	json_end_object(&j);
 *	rc = json_finish(&j);	(0, or -errno: a write failed or the
 *				 document was left open or misnested)
 *
 * Commas, colons and the escaping of strings are the writer's: "\" and
 * '\\' are escaped, control characters become \n, \t, ... or \u00XX, and
 * a byte that is not part of valid UTF-8 becomes U+FFFD, so any C string
 * (a user's notes, a name from the store) makes valid JSON.  A misuse
 * (a value where a key is due, nesting deeper than JSON_MAX_DEPTH) is
 * remembered as -EINVAL and writes nothing more.  Output is compact, one
 * line; json_finish() ends it with a newline.
 */
#ifndef DFS_JSON_H
#define DFS_JSON_H

#include <stdbool.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
	FILE *out;
	int depth;
	int err;			    /* 0, or the first -errno */
	bool key_due;			    /* in an object, a key comes next */
	bool empty[JSON_MAX_DEPTH + 1];	    /* nothing written at this level */
	bool in_object[JSON_MAX_DEPTH + 1]; /* the level is an object */
};

void json_init(struct json *j, FILE *out);
void json_begin_object(struct json *j);
void json_end_object(struct json *j);
void json_begin_array(struct json *j);
void json_end_array(struct json *j);
/* The key of the next value, in an object. */
void json_key(struct json *j, const char *key);
/* A string; NULL writes null. */
void json_string(struct json *j, const char *s);
void json_int(struct json *j, long long v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* End the document with a newline and flush: 0 or -errno. */
__attribute__((warn_unused_result)) int json_finish(struct json *j);

#endif
