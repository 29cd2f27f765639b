// SPDX-License-Identifier: MIT
/*
 * ctl_xfer.c - what deployctl export and import share (ctl_xfer.h): the
 * DEPLOYFS.* keys, the manifest's text and escaping, the metadata digest,
 * and how a manifest is compared with what an archive holds.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "ctl_xfer.h"

const char *const xfer_keys[XK_COUNT] = {
	"DEPLOYFS.component", "DEPLOYFS.type",	    "DEPLOYFS.version",
	"DEPLOYFS.hash",      "DEPLOYFS.notes",	    "DEPLOYFS.creator",
	"DEPLOYFS.created",   "DEPLOYFS.revisions", "DEPLOYFS.requires",
	"DEPLOYFS.uid",	      "DEPLOYFS.origin",
};

int xbuf_printf(struct xbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = (b->len + (size_t)n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int xbuf_escaped(struct xbuf *b, const char *s)
{
	int rc = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++)
		rc = *p <= 0x20 || *p == '%' || *p == 0x7f
			     ? xbuf_printf(b, "%%%02X", *p)
			     : xbuf_printf(b, "%c", *p);
	return rc;
}

void xbuf_release(struct xbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void xfer_meta_digest(const char *const v[XK_COUNT], char out[DFS_HASH_HEX])
{
	XXH3_state_t s;
	XXH128_canonical_t c;
	struct dfs_hash h;

	XXH3_128bits_reset(&s);
	for (int i = 0; i < XK_COUNT; i++) {
		XXH3_128bits_update(&s, xfer_keys[i], strlen(xfer_keys[i]) + 1);
		if (v[i])
			XXH3_128bits_update(&s, v[i], strlen(v[i]) + 1);
		else
			XXH3_128bits_update(&s, "", 0);
		XXH3_128bits_update(&s, "\n", 1);
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&s));
	memcpy(h.b, c.digest, DFS_HASH_LEN);
	dfs_hash_hex(&h, out);
}

/* Is the line at l (to its newline) a whole line of text? */
static bool line_in(const char *text, const char *l)
{
	size_t len = strcspn(l, "\n");

	for (const char *t = text; t && *t;) {
		if (strncmp(t, l, len) == 0 && (t[len] == '\n' || !t[len]))
			return true;
		t = strchr(t, '\n');
		t = t ? t + 1 : NULL;
	}
	return false;
}

/* The first line where the manifest and what was read differ. */
bool xfer_manifest_differs(const char *text, const char *read, const char *pkg,
			   char *line, size_t cap)
{
	const char *a = text, *b = read;

	while (*a && *b) {
		size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");

		if (la != lb || memcmp(a, b, la) != 0)
			break;
		a += la + (a[la] == '\n');
		b += lb + (b[lb] == '\n');
	}
	if (!*a && !*b)
		return false;
	if (!*a)
		snprintf(line, cap,
			 "%s: the archive has an entry its manifest lacks: "
			 "%.*s",
			 pkg, (int)strcspn(b, "\n"), b);
	else if (!*b)
		snprintf(line, cap,
			 "%s: an entry of its manifest is missing: %.*s", pkg,
			 (int)strcspn(a, "\n"), a);
	else if (strncmp(a, "meta ", 5) == 0 && strncmp(b, "meta ", 5) == 0)
		snprintf(line, cap,
			 "%s: its DEPLOYFS metadata was edited (digest %.*s, "
			 "the manifest says %.*s)",
			 pkg, 32, b + 5, 32, a + 5);
	else if (!line_in(text, b) && line_in(read, a))
		snprintf(line, cap,
			 "%s: the archive has an entry its manifest lacks: "
			 "%.*s",
			 pkg, (int)strcspn(b, "\n"), b);
	else if (line_in(text, b) && !line_in(read, a))
		snprintf(line, cap,
			 "%s: an entry of its manifest is missing: %.*s", pkg,
			 (int)strcspn(a, "\n"), a);
	else
		snprintf(line, cap,
			 "%s: the manifest says \"%.*s\", the archive has "
			 "\"%.*s\"",
			 pkg, (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"),
			 b);
	return true;
}
