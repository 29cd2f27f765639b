/* SPDX-License-Identifier: MIT */
/*
 * tarw.h - a small POSIX pax (ustar + 'x' records) writer and reader for
 * deployctl export and import: 512-byte blocks, header checksums, the
 * pax keys path, linkpath, size, mtime and any others (DEPLOYFS.*).  The
 * reader takes regular files, folders and symbolic links; anything else
 * is refused (-EBADMSG, as is a bad checksum or a cut archive).
 */
#ifndef DFS_TARW_H
#define DFS_TARW_H

#include <stdint.h>
#include <stdio.h>

#define TAR_KEYS_MAX 32
#define TAR_VALUE_MAX (64 * 1024)

struct tar_key {
	const char *key;
	const char *value;
};

struct tar_entry {
	char type; /* '0' file, '5' folder, '2' link */
	const char *path;
	const char *linkpath; /* links */
	uint32_t mode;	      /* permission bits */
	uint32_t uid;
	uint32_t gid;
	int64_t mtime; /* ns */
	uint64_t size; /* files */
	int nkeys;     /* further pax keys */
	struct tar_key keys[TAR_KEYS_MAX];
};

/* Write e's headers (a pax 'x' header, then the ustar header): 0 or
 * -errno.  A file's size bytes follow with tar_write_data(). */
int tar_write_header(FILE *out, const struct tar_entry *e);
/* len bytes of the current file; tar_write_pad() after its last. */
int tar_write_data(FILE *out, const void *buf, size_t len);
int tar_write_pad(FILE *out, uint64_t size);
/* The end: two zero blocks. */
int tar_write_end(FILE *out);

/* The reader's copy of one entry's headers (strings owned by r). */
struct tar_reader {
	FILE *in;
	struct tar_entry e;
	char *pax; /* the 'x' records of the entry */
	char path[4096];
	char link[4096];
	uint64_t left; /* bytes of the entry's data not read */
	uint64_t pad;
};
/* The next entry into r->e: 1, 0 at the end, or -EBADMSG (why). */
int tar_read_next(struct tar_reader *r, char *why, size_t cap);
/* Up to cap bytes of the entry's data: the count, 0 at its end, -errno. */
long tar_read_data(struct tar_reader *r, void *buf, size_t cap);
/* The value of the pax key of r's entry, or NULL. */
const char *tar_key(const struct tar_reader *r, const char *key);
void tar_reader_release(struct tar_reader *r);

#endif
