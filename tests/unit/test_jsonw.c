// SPDX-License-Identifier: MIT
/*
 * test_jsonw.c - tools/jsonw.c, the JSON writer of deployctl's --json
 * output: separators, escaping (quotes, backslashes, control characters,
 * bytes that are not UTF-8), and a document left open or nested too deep
 * is an error at jsonw_end().
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

static char *buf;
static size_t len;
static FILE *out;
static struct jsonw w;

static void setup(void)
{
	out = open_memstream(&buf, &len);
	jsonw_begin(&w, out);
}

static void teardown(void)
{
	if (out)
		fclose(out);
	free(buf);
}

TestSuite(jsonw, .init = setup, .fini = teardown);

/* End the document: jsonw_end()'s result; the text is in buf. */
static int finish(void)
{
	int rc = jsonw_end(&w);

	fflush(out);
	return rc;
}

Test(jsonw, objects_and_arrays_get_commas_and_colons)
{
	jsonw_object_open(&w);
	jsonw_key(&w, "a");
	jsonw_int(&w, -3);
	jsonw_key(&w, "b");
	jsonw_array_open(&w);
	jsonw_bool(&w, true);
	jsonw_bool(&w, false);
	jsonw_null(&w);
	jsonw_object_open(&w);
	jsonw_object_close(&w);
	jsonw_array_open(&w);
	jsonw_array_close(&w);
	jsonw_array_close(&w);
	jsonw_kv_string(&w, "c", NULL);
	jsonw_kv_int(&w, "d", 9007199254740993LL);
	jsonw_kv_bool(&w, "e", true);
	jsonw_object_close(&w);
	cr_assert_eq(finish(), 0);
	cr_assert_str_eq(buf,
			 "{\"a\":-3,\"b\":[true,false,null,{},[]],"
			 "\"c\":null,\"d\":9007199254740993,\"e\":true}\n");
}

Test(jsonw, strings_and_keys_are_escaped)
{
	jsonw_object_open(&w);
	jsonw_kv_string(&w, "k\"ey\\", "say \"hi\"\\ now");
	jsonw_kv_string(&w, "c", "tab\there\nnl\r\x01\x1f\x7f end");
	jsonw_kv_string(&w, "u", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	jsonw_object_close(&w);
	cr_assert_eq(finish(), 0);
	cr_assert_str_eq(buf, "{\"k\\\"ey\\\\\":\"say \\\"hi\\\"\\\\ now\","
			      "\"c\":\"tab\\there\\nnl\\r\\u0001\\u001f\\u007f "
			      "end\","
			      "\"u\":\"caf\xc3\xa9 \xe2\x82\xac "
			      "\xf0\x9f\x98\x80\"}\n");
}

Test(jsonw, bytes_that_are_not_utf8_become_replacement_characters)
{
	jsonw_array_open(&w);
	jsonw_string(&w, "a\xff"
			 "b");		  /* never valid */
	jsonw_string(&w, "\xc3");	  /* cut short at the end */
	jsonw_string(&w, "\xc0\xaf");	  /* an overlong '/' */
	jsonw_string(&w, "\xed\xa0\x80"); /* a surrogate */
	jsonw_string(&w, "\xe2\x82"
			 "x"); /* cut short before x */
	jsonw_array_close(&w);
	cr_assert_eq(finish(), 0);
	cr_assert_str_eq(buf, "[\"a\\ufffdb\",\"\\ufffd\","
			      "\"\\ufffd\\ufffd\","
			      "\"\\ufffd\\ufffd\\ufffd\","
			      "\"\\ufffd\\ufffdx\"]\n");
}

Test(jsonw, a_document_left_open_is_an_error)
{
	jsonw_object_open(&w);
	jsonw_key(&w, "a");
	jsonw_array_open(&w);
	cr_assert_eq(finish(), -EIO);
}

Test(jsonw, nesting_deeper_than_the_limit_is_an_error)
{
	for (int i = 0; i < JSONW_DEPTH; i++)
		jsonw_array_open(&w);
	for (int i = 0; i < JSONW_DEPTH; i++)
		jsonw_array_close(&w);
	cr_assert_eq(finish(), -EIO);
}

Test(jsonw, a_failed_write_is_an_error)
{
	FILE *full = fopen("/dev/full", "we");

	cr_assert_not_null(full);
	jsonw_begin(&w, full);
	jsonw_array_open(&w);
	for (int i = 0; i < 10000; i++)
		jsonw_string(&w, "0123456789");
	jsonw_array_close(&w);
	cr_assert_eq(jsonw_end(&w), -EIO);
	fclose(full);
}
