// SPDX-License-Identifier: MIT
/*
 * tarw.c - a small POSIX pax writer and reader (see tarw.h).  Written
 * here rather than with libarchive: libarchive's pax writer has no way to
 * add keys of our own (DEPLOYFS.*), and its reader would hand them back
 * only as unknown keys it drops; ustar headers and pax records are a
 * page of code, and one fewer package for CI.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tarw.h"

#define BLOCK 512

/* v in len - 1 octal digits and a NUL (the caller keeps v in range). */
static void octal(char *field, size_t len, uint64_t v)
{
	field[len - 1] = '\0';
	for (size_t i = len - 1; i-- > 0; v >>= 3)
		field[i] = (char)('0' + (v & 7));
}

/* One pax record "LEN key=value\n" (LEN counts itself). */
static int add_record(char **buf, size_t *len, size_t *cap, const char *key,
		      const char *value)
{
	size_t body = strlen(key) + strlen(value) + 3, n = body + 1, digits;

	for (;;) {
		digits = (size_t)snprintf(NULL, 0, "%zu", n);
		if (digits + body == n)
			break;
		n = digits + body;
	}
	if (*len + n + 1 > *cap) {
		size_t ncap = (*len + n + 1) * 2;
		char *nb = realloc(*buf, ncap);

		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = ncap;
	}
	*len += (size_t)snprintf(*buf + *len, *cap - *len, "%zu %s=%s\n", n,
				 key, value);
	return 0;
}

static void checksum(unsigned char *h)
{
	unsigned sum = 0;

	memset(h + 148, ' ', 8);
	for (int i = 0; i < BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

static int put_header(FILE *out, const char *name, char type, uint32_t mode,
		      uint32_t uid, uint32_t gid, int64_t mtime_s,
		      uint64_t size, const char *link)
{
	unsigned char h[BLOCK] = { 0 };

	snprintf((char *)h, 100, "%s", name);
	octal((char *)h + 100, 8, mode & 07777);
	octal((char *)h + 108, 8, uid & 07777777);
	octal((char *)h + 116, 8, gid & 07777777);
	octal((char *)h + 124, 12, size);
	octal((char *)h + 136, 12, mtime_s < 0 ? 0 : (uint64_t)mtime_s);
	h[156] = (unsigned char)type;
	if (link)
		snprintf((char *)h + 157, 100, "%s", link);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	checksum(h);
	return fwrite(h, BLOCK, 1, out) == 1 ? 0 : -EIO;
}

int tar_write_header(FILE *out, const struct tar_entry *e)
{
	char *pax = NULL, mt[48], num[24], shortname[100];
	size_t len = 0, cap = 0;
	int rc;

	snprintf(mt, sizeof(mt), "%" PRId64 ".%09" PRId64,
		 e->mtime / 1000000000, e->mtime % 1000000000);
	snprintf(num, sizeof(num), "%" PRIu64, e->size);
	rc = add_record(&pax, &len, &cap, "path", e->path);
	if (rc == 0)
		rc = add_record(&pax, &len, &cap, "mtime", mt);
	if (rc == 0 && e->linkpath)
		rc = add_record(&pax, &len, &cap, "linkpath", e->linkpath);
	if (rc == 0 && e->size > 077777777777ull)
		rc = add_record(&pax, &len, &cap, "size", num);
	for (int i = 0; rc == 0 && i < e->nkeys; i++)
		rc = add_record(&pax, &len, &cap, e->keys[i].key,
				e->keys[i].value);
	/* The 'x' header's name, as GNU tar writes it: a hint only. */
	snprintf(shortname, sizeof(shortname), "PaxHeaders/%.80s", e->path);
	if (rc == 0)
		rc = put_header(out, shortname, 'x', 0644, 0, 0,
				e->mtime / 1000000000, len, NULL);
	if (rc == 0)
		rc = tar_write_data(out, pax, len);
	if (rc == 0)
		rc = tar_write_pad(out, len);
	free(pax);
	if (rc == 0)
		rc = put_header(out, e->path, e->type, e->mode, e->uid, e->gid,
				e->mtime / 1000000000,
				e->type == '0' && e->size <= 077777777777ull
					? e->size
					: 0,
				e->linkpath);
	return rc;
}

int tar_write_data(FILE *out, const void *buf, size_t len)
{
	return len == 0 || fwrite(buf, len, 1, out) == 1 ? 0 : -EIO;
}

int tar_write_pad(FILE *out, uint64_t size)
{
	static const char zero[BLOCK];
	size_t pad = (BLOCK - size % BLOCK) % BLOCK;

	return tar_write_data(out, zero, pad);
}

int tar_write_end(FILE *out)
{
	static const char zero[2 * BLOCK];

	return tar_write_data(out, zero, sizeof(zero));
}

/* ---- reading ------------------------------------------------------------ */

static uint64_t from_octal(const unsigned char *f, size_t len, bool *ok)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && f[i] == ' ')
		i++;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++)
		v = v * 8 + (uint64_t)(f[i] - '0');
	if (i < len && f[i] != '\0' && f[i] != ' ')
		*ok = false;
	return v;
}

static int read_block(FILE *in, unsigned char *h)
{
	return fread(h, BLOCK, 1, in) == 1 ? 0 : -EBADMSG;
}

static bool header_ok(unsigned char *h)
{
	unsigned sum = 0;
	bool ok = true;
	uint64_t want = from_octal(h + 148, 8, &ok);

	for (int i = 0; i < BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return ok && want == sum;
}

static int skip(FILE *in, uint64_t n)
{
	char buf[BLOCK];

	while (n) {
		size_t k = n < BLOCK ? (size_t)n : BLOCK;

		if (fread(buf, k, 1, in) != 1)
			return -EBADMSG;
		n -= k;
	}
	return 0;
}

/* Read the 'x' records of size bytes into r->pax (checked). */
static int read_pax(struct tar_reader *r, uint64_t size, char *why, size_t cap)
{
	if (size > TAR_KEYS_MAX * (uint64_t)TAR_VALUE_MAX) {
		snprintf(why, cap, "a pax header is too large");
		return -EBADMSG;
	}
	free(r->pax);
	r->pax = malloc(size + 1);
	if (!r->pax)
		return -ENOMEM;
	if (size && fread(r->pax, size, 1, r->in) != 1) {
		snprintf(why, cap, "the archive is cut short");
		return -EBADMSG;
	}
	r->pax[size] = '\0';
	for (char *p = r->pax; p < r->pax + size;) {
		char *end;
		unsigned long n = strtoul(p, &end, 10);

		if (*end != ' ' || n == 0 || p + n > r->pax + size ||
		    p[n - 1] != '\n' || !memchr(end, '=', n)) {
			snprintf(why, cap, "a pax record is malformed");
			return -EBADMSG;
		}
		p += n;
	}
	if (skip(r->in, (BLOCK - size % BLOCK) % BLOCK) < 0) {
		snprintf(why, cap, "the archive is cut short");
		return -EBADMSG;
	}
	return 0;
}

const char *tar_key(const struct tar_reader *r, const char *key)
{
	size_t klen = strlen(key);

	if (!r->pax)
		return NULL;
	for (char *p = r->pax; *p;) {
		char *end, *k;
		unsigned long n = strtoul(p, &end, 10);

		k = end + 1;
		if (strncmp(k, key, klen) == 0 && k[klen] == '=') {
			/* Values end at their record's newline. */
			p[n - 1] = '\0';
			return k + klen + 1;
		}
		p += n;
	}
	return NULL;
}

static void take(char *dst, size_t cap, const char *pax, const char *hdr,
		 size_t hlen)
{
	if (pax)
		snprintf(dst, cap, "%s", pax);
	else
		snprintf(dst, cap, "%.*s", (int)strnlen(hdr, hlen), hdr);
}

int tar_read_next(struct tar_reader *r, char *why, size_t cap)
{
	unsigned char h[BLOCK];
	const char *v;
	bool ok = true;
	uint64_t size;
	int rc;

	rc = skip(r->in, r->left + r->pad);
	r->left = r->pad = 0;
	free(r->pax);
	r->pax = NULL;
	for (;;) {
		if (rc == 0)
			rc = read_block(r->in, h);
		if (rc < 0) {
			snprintf(why, cap, "the archive is cut short");
			return rc;
		}
		if (h[0] == '\0') {
			static const unsigned char zero[BLOCK];

			if (memcmp(h, zero, BLOCK) != 0) {
				snprintf(why, cap, "a header is damaged");
				return -EBADMSG;
			}
			return 0;
		}
		if (!header_ok(h)) {
			snprintf(why, cap, "a header checksum is wrong");
			return -EBADMSG;
		}
		size = from_octal(h + 124, 12, &ok);
		if (h[156] != 'x')
			break;
		rc = read_pax(r, size, why, cap);
		if (rc < 0)
			return rc;
	}
	memset(&r->e, 0, sizeof(r->e));
	r->e.type = h[156] == '\0' ? '0' : (char)h[156];
	if (r->e.type != '0' && r->e.type != '5' && r->e.type != '2') {
		snprintf(why, cap,
			 "an entry of type '%c' is not a file, "
			 "folder or link",
			 r->e.type);
		return -EBADMSG;
	}
	r->e.mode = (uint32_t)from_octal(h + 100, 8, &ok) & 07777;
	r->e.uid = (uint32_t)from_octal(h + 108, 8, &ok);
	r->e.gid = (uint32_t)from_octal(h + 116, 8, &ok);
	r->e.mtime = (int64_t)from_octal(h + 136, 12, &ok) * 1000000000;
	if (!ok) {
		snprintf(why, cap, "a header field is malformed");
		return -EBADMSG;
	}
	v = tar_key(r, "size");
	if (v)
		size = strtoull(v, NULL, 10);
	v = tar_key(r, "mtime");
	if (v) {
		char *dot;
		int64_t s = strtoll(v, &dot, 10), ns = 0;

		if (*dot == '.') {
			char frac[10] = "000000000";

			memcpy(frac, dot + 1, strnlen(dot + 1, 9));
			ns = strtoll(frac, NULL, 10);
		}
		r->e.mtime = s * 1000000000 + ns;
	}
	take(r->path, sizeof(r->path), tar_key(r, "path"), (char *)h, 100);
	take(r->link, sizeof(r->link), tar_key(r, "linkpath"), (char *)h + 157,
	     100);
	/* A folder may be named with a trailing slash (GNU tar, Python). */
	for (size_t n = strlen(r->path); n > 1 && r->path[n - 1] == '/';)
		r->path[--n] = '\0';
	r->e.path = r->path;
	r->e.linkpath = r->e.type == '2' ? r->link : NULL;
	r->e.size = r->e.type == '0' ? size : 0;
	r->left = r->e.size;
	r->pad = (BLOCK - r->left % BLOCK) % BLOCK;
	if (r->e.type != '0' && size) {
		r->left = size;
		r->pad = (BLOCK - size % BLOCK) % BLOCK;
	}
	return 1;
}

long tar_read_data(struct tar_reader *r, void *buf, size_t cap)
{
	size_t want = r->left < cap ? (size_t)r->left : cap;

	if (want == 0)
		return 0;
	if (fread(buf, want, 1, r->in) != 1)
		return -EBADMSG;
	r->left -= want;
	return (long)want;
}

void tar_reader_release(struct tar_reader *r)
{
	free(r->pax);
	r->pax = NULL;
}
