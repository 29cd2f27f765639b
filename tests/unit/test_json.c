// SPDX-License-Identifier: MIT
/*
 * test_json.c - tools/json.c, the JSON writer of deployctl's --json
 * output: separators, escaping (quotes, backslashes, control characters,
 * bytes that are not UTF-8), and misuse refused with -EINVAL.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static char *buf;
static size_t len;
static FILE *out;
static struct json j;

static void setup(void)
{
	out = open_memstream(&buf, &len);
	json_init(&j, out);
}

static void teardown(void)
{
	if (out)
		fclose(out);
	free(buf);
}

TestSuite(json, .init = setup, .fini = teardown);

/* Finish the document: json_finish()'s result; the text in buf. */
static int finish(void)
{
	int rc = json_finish(&j);

	fflush(out);
	return rc;
}

Test(json, objects_and_arrays_get_commas_and_colons)
{
	json_begin_object(&j);
	json_key(&j, "a");
	json_int(&j, -3);
	json_key(&j, "b");
	json_begin_array(&j);
	json_bool(&j, true);
	json_bool(&j, false);
	json_null(&j);
	json_begin_object(&j);
	json_end_object(&j);
	json_begin_array(&j);
	json_end_array(&j);
	json_end_array(&j);
	json_key(&j, "c");
	json_string(&j, NULL);
	json_end_object(&j);
	cr_assert_eq(finish(), 0);
	cr_assert_str_eq(
		buf, "{\"a\":-3,\"b\":[true,false,null,{},[]],\"c\":null}\n");
}

Test(json, strings_are_escaped)
{
	json_begin_array(&j);
	json_string(&j, "say \"hi\"\\ now");
	json_string(&j, "tab\there\nnl\r\b\f\x01\x1f end");
	json_string(&j, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	json_end_array(&j);
	cr_assert_eq(finish(), 0);
	cr_assert_str_eq(buf,
			 "[\"say \\\"hi\\\"\\\\ now\","
			 "\"tab\\there\\nnl\\r\\b\\f\\u0001\\u001f end\","
			 "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]\n");
}

Test(json, bytes_that_are_not_utf8_become_replacement_characters)
{
	json_begin_array(&j);
	json_string(&j, "a\xff"
			"b");		 /* never valid */
	json_string(&j, "\xc3");	 /* cut short at the end */
	json_string(&j, "\xc0\xaf");	 /* overlong '/' */
	json_string(&j, "\xed\xa0\x80"); /* a surrogate */
	json_string(&j, "\xe2\x82"
			"x"); /* cut short before x */
	json_end_array(&j);
	cr_assert_eq(finish(), 0);
	cr_assert_str_eq(buf, "[\"a\\ufffdb\",\"\\ufffd\","
			      "\"\\ufffd\\ufffd\","
			      "\"\\ufffd\\ufffd\\ufffd\","
			      "\"\\ufffd\\ufffdx\"]\n");
}

Test(json, a_value_where_a_key_is_due_is_refused)
{
	json_begin_object(&j);
	json_string(&j, "no key");
	json_end_object(&j);
	cr_assert_eq(finish(), -EINVAL);
}

Test(json, a_key_outside_an_object_is_refused)
{
	json_begin_array(&j);
	json_key(&j, "k");
	json_end_array(&j);
	cr_assert_eq(finish(), -EINVAL);
}

Test(json, misnesting_an_open_document_and_two_documents_are_refused)
{
	json_begin_object(&j);
	json_end_array(&j);
	cr_assert_eq(finish(), -EINVAL);

	json_init(&j, out);
	json_begin_array(&j);
	cr_assert_eq(finish(), -EINVAL, "left open");

	json_init(&j, out);
	cr_assert_eq(finish(), -EINVAL, "nothing written");

	json_init(&j, out);
	json_int(&j, 1);
	json_int(&j, 2);
	cr_assert_eq(finish(), -EINVAL, "two documents");

	json_init(&j, out);
	json_begin_object(&j);
	json_key(&j, "k");
	json_end_object(&j);
	cr_assert_eq(finish(), -EINVAL, "a key without its value");
}

Test(json, nesting_deeper_than_the_limit_is_refused)
{
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		json_begin_array(&j);
	cr_assert_eq(j.err, -EINVAL);
	cr_assert_eq(finish(), -EINVAL);
}
