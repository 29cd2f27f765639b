// SPDX-License-Identifier: MIT
/*
 * jsonw.c - a tiny streaming JSON writer (see jsonw.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "jsonw.h"

static void put(struct jsonw *w, const char *s, size_t n)
{
	if (n && fwrite(s, 1, n, w->out) != n)
		w->failed = true;
}

static void puts_(struct jsonw *w, const char *s)
{
	put(w, s, strlen(s));
}

/* Before a value: the comma that separates it from the one before. */
static void value_start(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->has_item[w->depth])
		puts_(w, ",");
	w->has_item[w->depth] = true;
}

void jsonw_begin(struct jsonw *w, FILE *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

int jsonw_end(struct jsonw *w)
{
	puts_(w, "\n");
	if (fflush(w->out) != 0 || ferror(w->out))
		w->failed = true;
	return w->failed || w->depth != 0 ? -EIO : 0;
}

static void open_(struct jsonw *w, const char *c)
{
	value_start(w);
	puts_(w, c);
	if (w->depth + 1 >= JSONW_DEPTH) {
		w->failed = true; /* a programmer error: too deep */
		return;
	}
	w->has_item[++w->depth] = false;
}

static void close_(struct jsonw *w, const char *c)
{
	puts_(w, c);
	if (w->depth > 0)
		w->depth--;
}

void jsonw_array_open(struct jsonw *w)
{
	open_(w, "[");
}

void jsonw_array_close(struct jsonw *w)
{
	close_(w, "]");
}

void jsonw_object_open(struct jsonw *w)
{
	open_(w, "{");
}

void jsonw_object_close(struct jsonw *w)
{
	close_(w, "}");
}

/* The length of the UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static void string_body(struct jsonw *w, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str);

	while (n) {
		size_t len = utf8_len(s, n);
		char esc[8];

		if (len == 0) {
			puts_(w, "\\ufffd");
			s++, n--;
			continue;
		}
		if (*s == '"' || *s == '\\') {
			snprintf(esc, sizeof(esc), "\\%c", *s);
			puts_(w, esc);
		} else if (*s == '\n') {
			puts_(w, "\\n");
		} else if (*s == '\t') {
			puts_(w, "\\t");
		} else if (*s == '\r') {
			puts_(w, "\\r");
		} else if (*s < 0x20 || *s == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *s);
			puts_(w, esc);
		} else {
			put(w, (const char *)s, len);
		}
		s += len, n -= len;
	}
}

void jsonw_key(struct jsonw *w, const char *key)
{
	value_start(w);
	puts_(w, "\"");
	string_body(w, key);
	puts_(w, "\":");
	w->after_key = true;
}

void jsonw_string(struct jsonw *w, const char *s)
{
	if (!s) {
		jsonw_null(w);
		return;
	}
	value_start(w);
	puts_(w, "\"");
	string_body(w, s);
	puts_(w, "\"");
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	char num[32];

	value_start(w);
	snprintf(num, sizeof(num), "%" PRId64, v);
	puts_(w, num);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	value_start(w);
	puts_(w, v ? "true" : "false");
}

void jsonw_null(struct jsonw *w)
{
	value_start(w);
	puts_(w, "null");
}

void jsonw_kv_string(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_string(w, s);
}

void jsonw_kv_int(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_int(w, v);
}

void jsonw_kv_bool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}
