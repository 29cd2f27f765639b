// SPDX-License-Identifier: MIT
/*
 * json.c - a tiny streaming JSON writer (see json.h): separators by a
 * stack of levels, strings escaped byte by byte with UTF-8 checked.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

void json_init(struct json *j, FILE *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
	j->empty[0] = true;
}

/* Before any value: the comma, and whether a value may come here. */
static bool value_start(struct json *j)
{
	if (j->err)
		return false;
	if (j->in_object[j->depth] && j->key_due) {
		j->err = -EINVAL; /* a value where a key is due */
		return false;
	}
	if (j->depth == 0 && !j->empty[0]) {
		j->err = -EINVAL; /* a second document */
		return false;
	}
	if (!j->in_object[j->depth] && !j->empty[j->depth])
		fputc(',', j->out);
	j->empty[j->depth] = false;
	j->key_due = j->in_object[j->depth];
	return true;
}

static void begin(struct json *j, bool object)
{
	if (!value_start(j))
		return;
	if (j->depth == JSON_MAX_DEPTH) {
		j->err = -EINVAL;
		return;
	}
	fputc(object ? '{' : '[', j->out);
	j->depth++;
	j->empty[j->depth] = true;
	j->in_object[j->depth] = object;
	j->key_due = object;
}

static void end(struct json *j, bool object)
{
	if (j->err)
		return;
	if (j->depth == 0 || j->in_object[j->depth] != object ||
	    (object && !j->key_due)) {
		j->err = -EINVAL; /* misnested, or a key without its value */
		return;
	}
	fputc(object ? '}' : ']', j->out);
	j->depth--;
	j->key_due = j->in_object[j->depth];
}

void json_begin_object(struct json *j)
{
	begin(j, true);
}

void json_end_object(struct json *j)
{
	end(j, true);
}

void json_begin_array(struct json *j)
{
	begin(j, false);
}

void json_end_array(struct json *j)
{
	end(j, false);
}

/* The length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong, a surrogate, or past U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static void write_string(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', out);
	while (*s) {
		size_t n = utf8_len(s);

		if (n == 0) {
			fputs("\\ufffd", out);
			s++;
		} else if (*s == '"' || *s == '\\') {
			fputc('\\', out);
			fputc(*s++, out);
		} else if (*s < 0x20) {
			const char *esc = *s == '\n'   ? "\\n"
					  : *s == '\t' ? "\\t"
					  : *s == '\r' ? "\\r"
					  : *s == '\b' ? "\\b"
					  : *s == '\f' ? "\\f"
						       : NULL;

			if (esc)
				fputs(esc, out);
			else
				fprintf(out, "\\u%04x", *s);
			s++;
		} else {
			fwrite(s, 1, n, out);
			s += n;
		}
	}
	fputc('"', out);
}

void json_key(struct json *j, const char *key)
{
	if (j->err)
		return;
	if (!j->in_object[j->depth] || !j->key_due || !key) {
		j->err = -EINVAL;
		return;
	}
	if (!j->empty[j->depth])
		fputc(',', j->out);
	j->empty[j->depth] = false;
	write_string(j->out, key);
	fputc(':', j->out);
	j->key_due = false;
}

void json_string(struct json *j, const char *s)
{
	if (!s) {
		json_null(j);
		return;
	}
	if (value_start(j))
		write_string(j->out, s);
}

void json_int(struct json *j, long long v)
{
	if (value_start(j))
		fprintf(j->out, "%lld", v);
}

void json_bool(struct json *j, bool v)
{
	if (value_start(j))
		fputs(v ? "true" : "false", j->out);
}

void json_null(struct json *j)
{
	if (value_start(j))
		fputs("null", j->out);
}

int json_finish(struct json *j)
{
	if (j->err == 0 && (j->depth != 0 || j->empty[0]))
		j->err = -EINVAL;
	if (j->err)
		return j->err;
	fputc('\n', j->out);
	if (fflush(j->out) != 0 || ferror(j->out))
		return errno ? -errno : -EIO;
	return 0;
}
