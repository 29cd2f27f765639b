/* SPDX-License-Identifier: MIT */
/*
 * ctl_xfer.h - what deployctl export and import share: the archive's
 * layout and how its manifest and metadata digest are written.
 *
 * For each package NAME@V the archive holds the folder NAME@V (its pax
 * header carries the DEPLOYFS.* keys below), the package's tree under
 * it, then the manifest .deployfs/NAME@V.manifest:
 *
 *   deployfs-manifest 1
 *   meta HASH                   XXH3-128 of the DEPLOYFS.* values
 *   D MODE PATH                 a folder ("." the package's root)
 *   F MODE HASH SIZE PATH       a file and its content hash
 *   L PATH TARGET               a link and its target as captured
 *
 * MODE in octal, PATH and TARGET escaped (%XX for bytes <= 0x20, '%'
 * and 0x7f).
 */
#ifndef DFS_CTL_XFER_H
#define DFS_CTL_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deployfs/store.h"

/* The longest component name (the store's DFS_NAME_MAX). */
#define XFER_NAME_MAX 255

/* The DEPLOYFS.* keys, in the order the digest takes them. */
enum {
	XK_COMPONENT,
	XK_TYPE,
	XK_VERSION,
	XK_HASH,
	XK_NOTES,
	XK_CREATOR,
	XK_CREATED,
	XK_REVISIONS,
	XK_REQUIRES,
	XK_UID,
	XK_ORIGIN,
	XK_COUNT,
};
extern const char *const xfer_keys[XK_COUNT]; /* "DEPLOYFS.component"... */

/* A growing text (the manifest). */
struct xbuf {
	char *p;
	size_t len;
	size_t cap;
};
int xbuf_printf(struct xbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* s escaped for a manifest line. */
int xbuf_escaped(struct xbuf *b, const char *s);
void xbuf_release(struct xbuf *b);

/* The digest of the values v (NULL: absent) as hex, into out. */
void xfer_meta_digest(const char *const v[XK_COUNT], char out[DFS_HASH_HEX]);

/* Does the manifest text differ from what was read (the manifest the
 * archive's entries make)?  Then a sentence in line (cap bytes) naming the
 * package pkg and the first difference: an extra entry, a missing one,
 * edited metadata, or a changed line. */
bool xfer_manifest_differs(const char *text, const char *read, const char *pkg,
			   char *line, size_t cap);

#endif
