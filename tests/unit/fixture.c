// SPDX-License-Identifier: MIT
/*
 * fixture.c - the unit suites' temporary store (see fixture.h).
 */
#include "fixture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void dfs_fixture_setup(struct dfs_fixture *fx, const char *suite,
		       unsigned flags)
{
	struct dfs_attr a;

	memset(fx, 0, sizeof(*fx));
	fx->me = (struct dfs_actor){ .uid = getuid(),
				     .gid = getgid(),
				     .pid = getpid() };
	snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/dfs-unit-%s-XXXXXX", suite);
	if (!mkdtemp(fx->tmp)) {
		fx->rc = -errno;
		fx->tmp[0] = '\0';
		return;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/store", fx->tmp);
	snprintf(fx->db, sizeof(fx->db), "%s/deployfs.db", fx->path);
	fx->rc = dfs_store_create(fx->path);
	if (fx->rc < 0 || !flags)
		return;
	fx->rc = dfs_store_open(fx->path, flags, &fx->st);
	if (fx->rc == 0)
		fx->rc = dfs_node_lookup(fx->st, DFS_INO_BUILD, "process", &a);
	if (fx->rc == 0)
		fx->proc = a.ino;
}

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	chmod(path, 0700);
	return remove(path);
}

void dfs_fixture_teardown(struct dfs_fixture *fx)
{
	fx->st = dfs_store_free(fx->st);
	if (fx->tmp[0])
		(void)nftw(fx->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t dfs_fixture_mkdir(const struct dfs_fixture *fx, uint64_t parent,
			   const char *name, uint32_t mode)
{
	struct dfs_attr a;
	int rc = dfs_node_mkdir(fx->st, &fx->me, parent, name, mode, &a);

	cr_assert_eq(rc, 0, "mkdir %s: %s", name, strerror(-rc));
	return a.ino;
}

uint64_t dfs_fixture_component(const struct dfs_fixture *fx, const char *type,
			       const char *name)
{
	struct dfs_attr t;

	cr_assert_eq(dfs_node_lookup(fx->st, DFS_INO_BUILD, type, &t), 0,
		     "build/%s", type);
	return dfs_fixture_mkdir(fx, t.ino, name, 0755);
}

void dfs_fixture_write(const struct dfs_fixture *fx, uint64_t ino,
		       const void *data, size_t len)
{
	struct dfs_file *f = NULL;

	cr_assert_eq(dfs_file_open(fx->st, ino, O_WRONLY | O_TRUNC, &f), 0);
	cr_assert_eq(pwrite(dfs_file_fd_get(f), data, len, 0), (ssize_t)len);
	dfs_file_fd_put(fx->st, f, true, len);
	cr_assert_eq(dfs_file_release(fx->st, f), 0);
}

uint64_t dfs_fixture_put_file(const struct dfs_fixture *fx, uint64_t parent,
			      const char *name, const void *data, size_t len)
{
	struct dfs_attr a;
	int rc = dfs_node_mknod(fx->st, &fx->me, parent, name, S_IFREG | 0644,
				0, &a);

	cr_assert_eq(rc, 0, "mknod %s: %s", name, strerror(-rc));
	dfs_fixture_write(fx, a.ino, data, len);
	cr_assert_eq(dfs_store_sync(fx->st), 0);
	return a.ino;
}

uint64_t dfs_fixture_put_text(const struct dfs_fixture *fx, uint64_t parent,
			      const char *name, const char *text)
{
	return dfs_fixture_put_file(fx, parent, name, text, strlen(text));
}

void dfs_fixture_symlink(const struct dfs_fixture *fx, uint64_t parent,
			 const char *name, const char *target)
{
	struct dfs_attr a;
	int rc = dfs_node_symlink(fx->st, &fx->me, parent, name, target, &a);

	cr_assert_eq(rc, 0, "symlink %s -> %s: %s", name, target,
		     strerror(-rc));
}

struct dfs_attr dfs_fixture_entry(const struct dfs_fixture *fx, uint64_t parent,
				  const char *name)
{
	struct dfs_attr a;
	int rc = dfs_node_lookup(fx->st, parent, name, &a);

	cr_assert_eq(rc, 0, "lookup %s: %s", name, strerror(-rc));
	return a;
}

uint64_t dfs_fixture_at(const struct dfs_fixture *fx, uint64_t dir,
			const char *path)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = strtok_r(buf, "/", &save); p;
	     p = strtok_r(NULL, "/", &save)) {
		struct dfs_attr a;

		if (dfs_node_lookup(fx->st, dir, p, &a) < 0)
			return 0;
		dir = a.ino;
	}
	return dir;
}

char *dfs_fixture_meta(const struct dfs_fixture *fx, uint64_t ino,
		       const char *key, char *buf, size_t cap)
{
	char name[64];
	int n;

	snprintf(name, sizeof(name), "user.deployfs.%s", key);
	n = dfs_xattr_get(fx->st, ino, name, buf, cap - 1);
	cr_assert_geq(n, 0, "getxattr %s: %s", name, strerror(-n));
	buf[n] = '\0';
	return buf;
}

void dfs_fixture_expect_text(const struct dfs_fixture *fx, uint64_t ino,
			     const char *text)
{
	struct dfs_file *f = NULL;
	char buf[256];
	ssize_t n;

	cr_assert_eq(dfs_file_open(fx->st, ino, O_RDONLY, &f), 0);
	n = pread(dfs_file_fd_get(f), buf, sizeof(buf), 0);
	dfs_file_fd_put(fx->st, f, false, 0);
	cr_assert_eq(dfs_file_release(fx->st, f), 0);
	cr_assert_eq(n, (ssize_t)strlen(text), "read %zd bytes", n);
	cr_assert_arr_eq(buf, text, (size_t)n);
}
