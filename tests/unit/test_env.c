// SPDX-License-Identifier: MIT
/*
 * test_env.c - unit tests of environments/ and audit.log through the store
 * API, without FUSE (store/env.c, stage.c, audit.c; the contract is
 * docs/environments.md): environment folders, their names, removal and
 * classification; deploying by link (concrete and `latest` targets,
 * ln -sfn's temporary link, numbers, rollback, undeploy, packages that
 * cannot be removed while deployed); deploying by copy (staging, progress,
 * content checks, names outside the package, rsync's temporary names,
 * copy_file_range from the package); audit.log's lines and reads.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deployfs/store.h"
#include "fixture.h"

static struct dfs_fixture fx;

#define OPEN_FLAGS (DFS_OPEN_DAEMON | DFS_OPEN_NO_SEALER)

static void setup(void)
{
	dfs_fixture_setup(&fx, "env", OPEN_FLAGS);
}

static void teardown(void)
{
	dfs_fixture_teardown(&fx);
}

TestSuite(env, .init = setup, .fini = teardown, .timeout = 120);

/* ---- building a store ---------------------------------------------------- */

#define XML_LEN 100000	      /* above the inline limit: a blob file */
#define BIG_LEN (1536 * 1024) /* above copy_file_range's 1 MiB read */
#define ENTRIES 6	      /* below svc@V: see svc() */

static char xml[XML_LEN], big[BIG_LEN];

static bool exists(uint64_t parent, const char *name)
{
	struct dfs_attr a;
	int rc = dfs_node_lookup(fx.st, parent, name, &a);

	cr_assert(rc == 0 || rc == -ENOENT, "lookup %s: %s", name,
		  strerror(-rc));
	return rc == 0;
}

/* packages/comp/comp@version: the package's root (a snapshot node). */
static uint64_t package(const char *comp, const char *version)
{
	char name[128];
	struct dfs_attr a;
	uint64_t dir = dfs_fixture_entry(&fx, DFS_INO_PACKAGES, comp).ino;
	int rc;

	snprintf(name, sizeof(name), "%s@%s", comp, version);
	rc = dfs_node_mkdir(fx.st, &fx.me, dir, name, 0755, &a);
	cr_assert_eq(rc, 0, "packaging %s: %s", name, strerror(-rc));
	return a.ino;
}

static uint64_t pkg_root(const char *comp, const char *version)
{
	char name[128];

	snprintf(name, sizeof(name), "%s@%s", comp, version);
	return dfs_fixture_entry(
		       &fx, dfs_fixture_entry(&fx, DFS_INO_PACKAGES, comp).ino,
		       name)
		.ino;
}

/*
 * build/process/svc: process.xml (XML_LEN bytes), big.bin (BIG_LEN),
 * conf/app.properties, readme -> process.xml, small.txt ("vN\n"), packaged
 * as svc@1 ... svc@versions, small.txt changing from one to the next.
 */
static void svc(int versions)
{
	uint64_t dir = dfs_fixture_component(&fx, "process", "svc"), small;
	char text[16], v[16];

	for (size_t i = 0; i < XML_LEN; i++)
		xml[i] = (char)('a' + (i * 7 + i / 13) % 26);
	for (size_t i = 0; i < BIG_LEN; i++)
		big[i] = (char)((i * 131 + i / 4099) & 0xff);
	(void)dfs_fixture_put_file(&fx, dir, "process.xml", xml, XML_LEN);
	(void)dfs_fixture_put_file(&fx, dir, "big.bin", big, BIG_LEN);
	(void)dfs_fixture_put_file(
		&fx, dfs_fixture_mkdir(&fx, dir, "conf", 0755),
		"app.properties", "port=8080\n", strlen("port=8080\n"));
	dfs_fixture_symlink(&fx, dir, "readme", "process.xml");
	small = dfs_fixture_put_file(&fx, dir, "small.txt", "v1\n", 3);
	for (int n = 1; n <= versions; n++) {
		snprintf(text, sizeof(text), "v%d\n", n);
		snprintf(v, sizeof(v), "%d", n);
		if (n > 1) {
			dfs_fixture_write(&fx, small, text, strlen(text));
			cr_assert_eq(dfs_store_sync(fx.st), 0);
		}
		(void)package("svc", v);
	}
}

static uint64_t env(const char *name)
{
	return dfs_fixture_mkdir(&fx, DFS_INO_ENVIRONMENTS, name, 0755);
}

static int deploy_link(uint64_t env_ino, const char *name, const char *target)
{
	struct dfs_attr a;

	return dfs_node_symlink(fx.st, &fx.me, env_ino, name, target, &a);
}

/* ln -s ../../packages/svc/svc@version ENV/svc */
static void deploy(uint64_t env_ino, const char *version)
{
	char target[128];
	int rc;

	snprintf(target, sizeof(target), "../../packages/svc/svc@%s", version);
	rc = deploy_link(env_ino, "svc", target);
	cr_assert_eq(rc, 0, "deploying svc@%s: %s", version, strerror(-rc));
}

/* ln -sfn ../../packages/svc/svc@version ENV/svc: a new link svc.new
 * renamed over svc. */
static void redeploy(uint64_t env_ino, const char *version)
{
	char target[128];
	int rc;

	snprintf(target, sizeof(target), "../../packages/svc/svc@%s", version);
	rc = deploy_link(env_ino, "svc.new", target);
	cr_assert_eq(rc, 0, "linking svc@%s: %s", version, strerror(-rc));
	rc = dfs_node_rename_as(fx.st, &fx.me, env_ino, "svc.new", env_ino,
				"svc", 0);
	cr_assert_eq(rc, 0, "renaming svc.new over svc: %s", strerror(-rc));
}

/* Check the fixture, package svc@1..versions and make the environment
 * test; returns test. */
static uint64_t svc_in_test(int versions)
{
	FIXTURE_OK();
	svc(versions);
	return env("test");
}

struct str {
	char s[4096];
};

static struct str readlink_of(uint64_t parent, const char *name)
{
	struct dfs_attr a = dfs_fixture_entry(&fx, parent, name);
	struct str v;
	int n;

	cr_assert(S_ISLNK(a.mode), "%s: mode %o, not a link", name, a.mode);
	n = dfs_node_readlink(fx.st, a.ino, v.s, sizeof(v.s));
	cr_assert_geq(n, 0, "readlink %s: %s", name, strerror(-n));
	cr_assert_eq((size_t)n, strlen(v.s));
	return v;
}

/* The xattr user.deployfs.KEY of ino. */
static struct str meta(uint64_t ino, const char *key)
{
	struct str v;

	dfs_fixture_meta(&fx, ino, key, v.s, sizeof(v.s));
	return v;
}

/* Names in a folder, in readdir order, joined by commas. */
static int add_name(void *ctx, const struct dfs_dirent *de)
{
	struct str *v = ctx;
	size_t n = strlen(v->s);

	snprintf(v->s + n, sizeof(v->s) - n, "%s%s", n ? "," : "", de->name);
	return 0;
}

static struct str list(uint64_t dir)
{
	struct str v = { "" };

	cr_assert_eq(dfs_node_readdir(fx.st, dir, 0, false, add_name, &v), 0);
	return v;
}

/* ---- what the store reports ---------------------------------------------- */

struct audit {
	int n; /* rows */
	char action[32], env[300], component[80], version[64], from[64];
	char result[16], reason[800];
	int64_t deployment;
};

static int take_row(void *ctx, const struct dfs_audit_event *ev)
{
	struct audit *a = ctx;

#define COPY(f) snprintf(a->f, sizeof(a->f), "%s", ev->f ? ev->f : "")
	a->n++;
	COPY(action);
	COPY(env);
	COPY(component);
	COPY(version);
	COPY(from);
	COPY(result);
	COPY(reason);
#undef COPY
	a->deployment = ev->deployment;
	return 0;
}

/* The number of rows and the last one. */
static struct audit audit(void)
{
	struct audit a = { 0 };

	cr_assert_eq(dfs_audit_each(fx.st, 0, take_row, &a), 0);
	return a;
}

/* One more row than before: action, result refused, reason mentioning
 * why. */
static void expect_refusal(const struct audit *before, const char *action,
			   const char *why)
{
	struct audit a = audit();

	cr_assert_eq(a.n, before->n + 1, "%d audit rows added, want 1",
		     a.n - before->n);
	cr_assert_str_eq(a.action, action);
	cr_assert_str_eq(a.result, "refused");
	cr_assert(strstr(a.reason, why), "reason \"%s\" lacks \"%s\"", a.reason,
		  why);
}

static int deployment_row(void *ctx, const struct dfs_deployment_info *d)
{
	struct str *r = ctx;
	size_t n = strlen(r->s);

	snprintf(r->s + n, sizeof(r->s) - n, "%s %s@%s #%lld %s %s;", d->env,
		 d->component, d->version, (long long)d->number,
		 d->active ? "active" : "ended", d->via);
	return 0;
}

static struct str deployments(const char *in)
{
	struct str r = { "" };

	cr_assert_eq(dfs_deployments_each(fx.st, in, false, deployment_row, &r),
		     0);
	return r;
}

/* ---- copying ------------------------------------------------------------- */

struct ent {
	char name[256];
	uint64_t ino;
	uint32_t mode;
};

struct ents {
	struct ent v[16];
	int n;
};

static int take_ent(void *ctx, const struct dfs_dirent *de)
{
	struct ents *e = ctx;

	cr_assert_lt(e->n, 16);
	snprintf(e->v[e->n].name, sizeof(e->v[0].name), "%s", de->name);
	e->v[e->n].ino = de->attr.ino;
	e->v[e->n].mode = de->attr.mode;
	e->n++;
	return 0;
}

static struct ents entries(uint64_t dir)
{
	struct ents e = { .n = 0 };

	cr_assert_eq(dfs_node_readdir(fx.st, dir, 0, false, take_ent, &e), 0);
	return e;
}

/* The bytes of a package's file (a snapshot node). */
static size_t read_pkg(uint64_t ino, char *buf, size_t cap)
{
	struct dfs_file *f = NULL;
	size_t got = 0;
	ssize_t n;

	cr_assert_eq(dfs_file_open(fx.st, ino, O_RDONLY, &f), 0);
	while ((n = pread(dfs_file_fd_get(f), buf + got, cap - got,
			  (off_t)got)) > 0) {
		dfs_file_fd_put(fx.st, f, false, 0);
		got += (size_t)n;
	}
	dfs_file_fd_put(fx.st, f, false, 0);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	return got;
}

/* Write data in three chunks, out of order (middle, first, last). */
static void write_chunks(struct dfs_file *f, const char *data, size_t len)
{
	size_t cut[4] = { 0, len / 3, 2 * len / 3, len };
	static const int order[3] = { 1, 0, 2 };

	for (int i = 0; i < 3; i++) {
		size_t a = cut[order[i]], b = cut[order[i] + 1];
		ssize_t n = dfs_file_write(fx.st, f, data + a, b - a, a);

		cr_assert_eq(n, (ssize_t)(b - a), "write [%zu, %zu): %zd", a, b,
			     n);
	}
}

/* Create dir/name and write data into it as a copy would; returns what
 * its close (flush) says. */
static int copy_file(uint64_t dir, const char *name, const char *data,
		     size_t len)
{
	struct dfs_file *f = NULL;
	struct dfs_attr a;
	int rc =
		dfs_node_mknod(fx.st, &fx.me, dir, name, S_IFREG | 0644, 0, &a);

	cr_assert_eq(rc, 0, "mknod %s: %s", name, strerror(-rc));
	rc = dfs_file_open_as(fx.st, &fx.me, a.ino, O_WRONLY, &f);
	cr_assert_eq(rc, 0, "open %s: %s", name, strerror(-rc));
	cr_assert(dfs_file_buffered(f));
	write_chunks(f, data, len);
	rc = dfs_file_flush(fx.st, f);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	return rc;
}

struct copy {
	uint64_t top;	  /* ENV/svc@V */
	int done;	  /* entries put in place */
	int total;	  /* entries of the package */
	bool use_cfr;	  /* files by copy_file_range from the package */
	const char *skip; /* a name left out (a copy interrupted) */
};

static char pkgbuf[BIG_LEN + 1];

/* Fill dst with a copy of the file src of the package, through
 * copy_file_range from an open package file. */
static int copy_range_file(uint64_t dst, const char *name, uint64_t src,
			   size_t len)
{
	struct dfs_file *in = NULL, *out = NULL;
	struct dfs_attr a;
	ssize_t n;
	int rc =
		dfs_node_mknod(fx.st, &fx.me, dst, name, S_IFREG | 0644, 0, &a);

	cr_assert_eq(rc, 0, "mknod %s: %s", name, strerror(-rc));
	cr_assert_eq(dfs_file_open(fx.st, src, O_RDONLY, &in), 0);
	cr_assert_eq(dfs_file_open_as(fx.st, &fx.me, a.ino, O_WRONLY, &out), 0);
	/* cp asks for much more than the file holds, then for the rest. */
	n = dfs_file_copy_range(fx.st, in, 0, out, 0, 1u << 30);
	cr_assert_eq(n, (ssize_t)len, "%s: copy_file_range gave %zd of %zu",
		     name, n, len);
	n = dfs_file_copy_range(fx.st, in, len, out, len, 1u << 30);
	cr_assert_eq(n, 0, "%s: copy_file_range past the end gave %zd", name,
		     n);
	rc = dfs_file_flush(fx.st, out);
	cr_assert_eq(dfs_file_release(fx.st, out), 0);
	cr_assert_eq(dfs_file_release(fx.st, in), 0);
	return rc;
}

static void check_progress(const struct copy *c)
{
	char want[32];

	snprintf(want, sizeof(want), "%d/%d", c->done, c->total);
	cr_assert_str_eq(meta(c->top, "progress").s, want);
	cr_assert_str_eq(meta(c->top, "state").s,
			 c->done == c->total ? "deployed" : "staging",
			 "after %d of %d entries", c->done, c->total);
}

/* Copy the package folder src into the view folder dst, entry by entry,
 * in the package's order, checking the progress after each. */
static void copy_tree(struct copy *c, uint64_t src, uint64_t dst)
{
	struct ents e = entries(src);
	struct dfs_attr a;
	char target[4096];
	int rc;

	for (int i = 0; i < e.n; i++) {
		const struct ent *x = &e.v[i];

		if (c->skip && strcmp(x->name, c->skip) == 0)
			continue;
		if (S_ISDIR(x->mode)) {
			rc = dfs_node_mkdir(fx.st, &fx.me, dst, x->name, 0755,
					    &a);
			cr_assert_eq(rc, 0, "mkdir %s: %s", x->name,
				     strerror(-rc));
		} else if (S_ISLNK(x->mode)) {
			rc = dfs_node_readlink(fx.st, x->ino, target,
					       sizeof(target));
			cr_assert_geq(rc, 0);
			rc = dfs_node_symlink(fx.st, &fx.me, dst, x->name,
					      target, &a);
			cr_assert_eq(rc, 0, "symlink %s: %s", x->name,
				     strerror(-rc));
		} else if (c->use_cfr) {
			rc = copy_range_file(
				dst, x->name, x->ino,
				read_pkg(x->ino, pkgbuf, sizeof(pkgbuf)));
			cr_assert_eq(rc, 0, "close %s: %s", x->name,
				     strerror(-rc));
		} else {
			size_t len = read_pkg(x->ino, pkgbuf, sizeof(pkgbuf));

			rc = copy_file(dst, x->name, pkgbuf, len);
			cr_assert_eq(rc, 0, "close %s: %s", x->name,
				     strerror(-rc));
		}
		c->done++;
		check_progress(c);
		if (S_ISDIR(x->mode))
			copy_tree(c, x->ino,
				  dfs_fixture_entry(&fx, dst, x->name).ino);
	}
}

/* Open the existing dir/name with O_TRUNC and write data again. */
static int rewrite_file(uint64_t dir, const char *name, const char *data,
			size_t len)
{
	struct dfs_file *f = NULL;
	int rc;

	rc = dfs_file_open_as(fx.st, &fx.me,
			      dfs_fixture_entry(&fx, dir, name).ino,
			      O_WRONLY | O_TRUNC, &f);
	cr_assert_eq(rc, 0, "open %s: %s", name, strerror(-rc));
	write_chunks(f, data, len);
	rc = dfs_file_flush(fx.st, f);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	return rc;
}

/* mkdir ENV/svc@version: the staging folder, checked. */
static struct copy stage(uint64_t env_ino, const char *version)
{
	char name[64];
	struct dfs_attr a;
	struct copy c = { .total = ENTRIES };
	int rc;

	snprintf(name, sizeof(name), "svc@%s", version);
	rc = dfs_node_mkdir(fx.st, &fx.me, env_ino, name, 0755, &a);
	cr_assert_eq(rc, 0, "mkdir %s: %s", name, strerror(-rc));
	cr_assert(S_ISDIR(a.mode));
	c.top = a.ino;
	check_progress(&c);
	return c;
}

/* ---- environments -------------------------------------------------------- */

Test(env, mkdir_creates_an_environment_owned_by_the_caller)
{
	struct dfs_attr a, l, g;
	struct audit row;

	FIXTURE_OK();
	cr_assert_str_eq(list(DFS_INO_ENVIRONMENTS).s, "");
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "test",
				    0750, &a),
		     0);
	cr_assert_eq(a.mode, S_IFDIR | 0750, "mode %o", a.mode);
	l = dfs_fixture_entry(&fx, DFS_INO_ENVIRONMENTS, "test");
	cr_assert_eq(l.ino, a.ino);
	cr_assert_eq(dfs_node_getattr(fx.st, a.ino, &g), 0);
	cr_assert_eq(g.mode, S_IFDIR | 0750, "mode %o", g.mode);
	cr_assert_eq(g.uid, fx.me.uid);
	cr_assert_eq(g.gid, fx.me.gid);
	cr_assert_str_eq(list(DFS_INO_ENVIRONMENTS).s, "test");
	cr_assert_str_eq(list(a.ino).s, "");
	(void)env("prod");
	cr_assert_str_eq(list(DFS_INO_ENVIRONMENTS).s, "test,prod");
	row = audit();
	cr_assert_eq(row.n, 2);
	cr_assert_str_eq(row.action, "env-create");
	cr_assert_str_eq(row.env, "prod");
	cr_assert_str_eq(row.result, "ok");
	/* On a mount the kernel answers this one; the store records it. */
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "test",
				    0755, &a),
		     -EEXIST);
	expect_refusal(&row, "mkdir", "File exists: mkdir environments/test");
}

Test(env, a_bad_environment_name_is_einval_and_recorded)
{
	static const char *const bad[] = {
		".hidden",
		"_scratch",
		"-dash",
		"",
		"has space",
		"a/b",
		"quote\"d",
		"tab\there",
		"ünïcode",
		"x123456789012345678901234567890123456789012345678901234567890123"
		"4",
	};
	struct audit a0;
	struct dfs_attr a;

	FIXTURE_OK();
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		a0 = audit();
		cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS,
					    bad[i], 0755, &a),
			     -EINVAL, "mkdir \"%s\"", bad[i]);
		expect_refusal(&a0, "env-create", "Invalid argument");
		cr_assert_str_eq(audit().env, bad[i]);
		cr_assert_str_eq(list(DFS_INO_ENVIRONMENTS).s, "",
				 "\"%s\" was created", bad[i]);
	}
	/* Only folders go in environments/. */
	cr_assert_eq(dfs_node_mknod(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "f",
				    S_IFREG | 0644, 0, &a),
		     -EPERM);
	cr_assert_eq(dfs_node_symlink(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "l",
				      "test", &a),
		     -EPERM);
	cr_assert_str_eq(list(DFS_INO_ENVIRONMENTS).s, "");
}

Test(env, names_the_contract_allows_are_accepted)
{
	/* docs/environments.md: 1-64 of A-Z a-z 0-9 . _ -, starting with
	 * a letter or digit. */
	static const char *const good[] = {
		"a",
		"9",
		"test.eu-1_b",
		"Prod..2",
		"x12345678901234567890123456789012345678901234567890123456789012"
		"3",
	};
	struct dfs_attr a;
	int rc;

	FIXTURE_OK();
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		rc = dfs_node_mkdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS,
				    good[i], 0755, &a);
		cr_assert_eq(rc, 0, "mkdir \"%s\": %s", good[i], strerror(-rc));
		cr_assert(exists(DFS_INO_ENVIRONMENTS, good[i]));
	}
}

Test(env, rmdir_refuses_an_environment_with_a_deployment)
{
	uint64_t t;
	struct audit a0;

	t = svc_in_test(1);
	deploy(t, "1");
	a0 = audit();
	cr_assert_eq(
		dfs_node_rmdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "test"),
		-ENOTEMPTY);
	expect_refusal(&a0, "env-remove", "Directory not empty");
	cr_assert_str_eq(audit().env, "test");
	cr_assert_str_eq(list(DFS_INO_ENVIRONMENTS).s, "test");
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@1");

	/* A staging folder keeps it too. */
	cr_assert_eq(dfs_node_unlink_as(fx.st, &fx.me, t, "svc"), 0);
	(void)stage(t, "1");
	cr_assert_eq(
		dfs_node_rmdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "test"),
		-ENOTEMPTY);
	cr_assert_eq(dfs_node_rmdir(fx.st, &fx.me, t, "svc@1"), 0);

	cr_assert_eq(
		dfs_node_rmdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "test"), 0);
	cr_assert_str_eq(list(DFS_INO_ENVIRONMENTS).s, "");
	cr_assert(!exists(DFS_INO_ENVIRONMENTS, "test"));
	cr_assert_str_eq(audit().action, "env-remove");
	cr_assert_str_eq(audit().result, "ok");
}

Test(env, classification_is_set_once_to_test_or_production)
{
	static const char key[] = "user.deployfs.classification";
	uint64_t t, p;
	struct audit a0;
	char buf[32];

	FIXTURE_OK();
	t = env("test");
	p = env("prod");
	cr_assert_eq(dfs_xattr_get(fx.st, t, key, buf, sizeof(buf)), -ENODATA);

	/* A bad value on an unset environment: EINVAL, recorded. */
	a0 = audit();
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, t, key, "staging", 7, 0),
		     -EINVAL);
	expect_refusal(&a0, "classification", "Invalid argument");
	cr_assert_eq(dfs_xattr_get(fx.st, t, key, buf, sizeof(buf)), -ENODATA);
	/* A prefix of a good value is not one. */
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, t, key, "tes", 3, 0),
		     -EINVAL);
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, t, key, "testing", 7, 0),
		     -EINVAL);

	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, t, key, "test", 4, 0), 0);
	cr_assert_str_eq(audit().action, "classification");
	cr_assert_str_eq(audit().result, "ok");
	cr_assert_eq(dfs_xattr_get(fx.st, t, key, NULL, 0), 4);
	cr_assert_eq(dfs_xattr_get(fx.st, t, key, buf, 2), -ERANGE);
	cr_assert_str_eq(meta(t, "classification").s, "test");

	a0 = audit();
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, t, key, "production", 10, 0),
		     -EPERM);
	expect_refusal(&a0, "classification", "Operation not permitted");
	a0 = audit();
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, t, key, "test", 4, 0), -EPERM,
		     "a second set, even of the same value");
	expect_refusal(&a0, "classification", "Operation not permitted");
	a0 = audit();
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, t, key, "bogus", 5, 0),
		     -EINVAL);
	expect_refusal(&a0, "classification", "Invalid argument");
	cr_assert_str_eq(meta(t, "classification").s, "test");

	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, p, key, "production", 10, 0),
		     0);
	cr_assert_str_eq(meta(p, "classification").s, "production");
	cr_assert_str_eq(meta(t, "classification").s, "test");
}

/* ---- deploy by link ----------------------------------------------------- */

Test(env, a_link_deploys_and_reads_back_the_concrete_version)
{
	uint64_t t, view;
	struct audit row;

	t = svc_in_test(2);
	deploy(t, "1");
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@1");
	cr_assert_str_eq(list(t).s, "svc,svc@1");
	view = dfs_fixture_entry(&fx, t, "svc@1").ino;
	cr_assert(S_ISDIR(dfs_fixture_entry(&fx, t, "svc@1").mode));
	cr_assert_str_eq(list(view).s, list(pkg_root("svc", "1")).s);
	cr_assert_str_eq(meta(view, "state").s, "deployed");
	cr_assert_str_eq(meta(view, "deployment").s, "1");
	cr_assert_str_eq(meta(view, "component").s, "svc");
	cr_assert_str_eq(meta(view, "version").s, "1");
	row = audit();
	cr_assert_str_eq(row.action, "deploy");
	cr_assert_str_eq(row.result, "ok");
	cr_assert_str_eq(row.env, "test");
	cr_assert_str_eq(row.component, "svc");
	cr_assert_str_eq(row.version, "1");
	cr_assert_str_eq(row.from, "");
	cr_assert_eq(row.deployment, 1);
	cr_assert_str_eq(deployments("test").s, "test svc@1 #1 active link;");

	/* Absolute, with a trailing slash, through packages/ anywhere. */
	cr_assert_eq(dfs_node_unlink_as(fx.st, &fx.me, t, "svc"), 0);
	cr_assert_eq(deploy_link(t, "svc", "/mnt/deployfs/packages/svc/svc@2/"),
		     0);
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@2");
}

Test(env, a_link_to_latest_deploys_the_latest_version)
{
	uint64_t t;

	t = svc_in_test(3);
	cr_assert_eq(deploy_link(t, "svc", "../../packages/svc/latest"), 0);
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@3");
	cr_assert(exists(t, "svc@3"));
	cr_assert_str_eq(audit().version, "3");
	cr_assert_str_eq(deployments("test").s, "test svc@3 #1 active link;");

	/* latest moves on; the deployment does not. */
	(void)package("svc", "4");
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@3");
	cr_assert_eq(dfs_node_unlink_as(fx.st, &fx.me, t, "svc"), 0);
	cr_assert_eq(deploy_link(t, "svc", "../../packages/svc/latest/"), 0);
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@4");
}

Test(env, a_link_that_is_not_to_a_package_of_its_name_is_einval)
{
	static const struct {
		const char *name, *target;
	} bad[] = {
		{ "svc", "../../packages/svc/svc@9" },
		{ "svc", "../../packages/svc/svc@1/process.xml" },
		{ "svc", "../../packages/svc" },
		{ "svc", "../../packages/other/other@1" },
		{ "svc", "../../packages/other/svc@1" },
		{ "svc", "../../build/process/svc" },
		{ "svc", "/tmp/svc@1" },
		{ "svc", "svc@1" },
		{ "svc", "../../packages/svc/svc@" },
		{ "svc", "../../packages/svc/oldest" },
		{ "other", "../../packages/svc/svc@1" },
		{ "svc@1", "../../packages/svc/svc@1" },
	};
	struct audit a0;
	uint64_t t;

	FIXTURE_OK();
	svc(1);
	(void)dfs_fixture_put_file(
		&fx, dfs_fixture_component(&fx, "process", "other"), "o.xml",
		"<o/>", 4);
	(void)package("other", "1");
	t = env("test");
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		a0 = audit();
		cr_assert_eq(deploy_link(t, bad[i].name, bad[i].target),
			     -EINVAL, "%s -> %s", bad[i].name, bad[i].target);
		expect_refusal(&a0, "deploy", "Invalid argument");
		cr_assert_str_eq(audit().env, "test");
		cr_assert_str_eq(list(t).s, "", "%s -> %s left something",
				 bad[i].name, bad[i].target);
	}
	cr_assert_str_eq(deployments(NULL).s, "");
}

Test(env, a_temporary_link_renamed_over_the_name_redeploys)
{
	uint64_t t;
	struct audit a0;

	t = svc_in_test(2);
	deploy(t, "1");

	/* ln -sfn: a link with a temporary name, pending until renamed. */
	a0 = audit();
	cr_assert_eq(deploy_link(t, "svc.tmp8f3a", "../../packages/svc/svc@2"),
		     0);
	cr_assert_eq(audit().n, a0.n, "a pending link is not an event");
	cr_assert_str_eq(readlink_of(t, "svc.tmp8f3a").s,
			 "../../packages/svc/svc@2");
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@1");
	cr_assert_str_eq(deployments("test").s, "test svc@1 #1 active link;");

	cr_assert_eq(dfs_node_rename_as(fx.st, &fx.me, t, "svc.tmp8f3a", t,
					"svc", 0),
		     0);
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@2");
	cr_assert(!exists(t, "svc.tmp8f3a"));
	cr_assert(!exists(t, "svc@1"), "the old version is still listed");
	cr_assert_str_eq(list(t).s, "svc,svc@2");
	cr_assert_str_eq(deployments("test").s,
			 "test svc@1 #1 ended link;test svc@2 #2 active link;");
	cr_assert_str_eq(audit().action, "deploy");
	cr_assert_str_eq(audit().from, "1");
	cr_assert_eq(audit().deployment, 2);

	/* Renamed to any other name: EINVAL, and it stays pending. */
	cr_assert_eq(deploy_link(t, "svc.tmp9", "../../packages/svc/svc@1"), 0);
	a0 = audit();
	cr_assert_eq(
		dfs_node_rename_as(fx.st, &fx.me, t, "svc.tmp9", t, "other", 0),
		-EINVAL);
	expect_refusal(&a0, "deploy", "Invalid argument");
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@2");
	cr_assert_eq(dfs_node_unlink_as(fx.st, &fx.me, t, "svc.tmp9"), 0);
	cr_assert(!exists(t, "svc.tmp9"));
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@2");
}

Test(env, deployments_are_numbered_per_environment_and_component)
{
	uint64_t t, p;

	t = svc_in_test(3);
	p = env("prod");
	deploy(t, "1");
	redeploy(t, "2");
	redeploy(t, "3");
	deploy(p, "2");

	cr_assert_str_eq(deployments(NULL).s, "prod svc@2 #1 active link;"
					      "test svc@1 #1 ended link;"
					      "test svc@2 #2 ended link;"
					      "test svc@3 #3 active link;");
	cr_assert_str_eq(
		meta(dfs_fixture_entry(&fx, t, "svc@3").ino, "deployment").s,
		"3");
	cr_assert_str_eq(
		meta(dfs_fixture_entry(&fx, p, "svc@2").ino, "deployment").s,
		"1");

	/* Re-deploying what is deployed changes nothing. */
	redeploy(t, "3");
	cr_assert_str_eq(audit().result, "unchanged");
	cr_assert_str_eq(
		meta(dfs_fixture_entry(&fx, t, "svc@3").ino, "deployment").s,
		"3");
	cr_assert(!exists(t, "svc.new"));
}

Test(env, deploying_an_older_version_is_a_rollback)
{
	uint64_t t;
	struct audit row;

	t = svc_in_test(2);
	deploy(t, "2");
	cr_assert_eq(deploy_link(t, ".svc.XyZ", "../../packages/svc/svc@1"), 0);
	cr_assert_eq(
		dfs_node_rename_as(fx.st, &fx.me, t, ".svc.XyZ", t, "svc", 0),
		0);
	row = audit();
	cr_assert_str_eq(row.action, "rollback");
	cr_assert_str_eq(row.version, "1");
	cr_assert_str_eq(row.from, "2");
	cr_assert_eq(row.deployment, 2);
	cr_assert_str_eq(row.result, "ok");
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@1");

	/* Forward again: a deploy. */
	cr_assert_eq(dfs_node_unlink_as(fx.st, &fx.me, t, "svc"), 0);
	deploy(t, "2");
	cr_assert_str_eq(audit().action, "deploy");
	cr_assert_str_eq(audit().from, "", "nothing was deployed before");
}

Test(env, unlink_of_the_link_undeploys)
{
	uint64_t t;
	struct audit row;

	t = svc_in_test(1);
	deploy(t, "1");
	cr_assert_eq(dfs_node_unlink_as(fx.st, &fx.me, t, "svc"), 0);
	cr_assert(!exists(t, "svc"));
	cr_assert(!exists(t, "svc@1"));
	cr_assert_str_eq(list(t).s, "");
	row = audit();
	cr_assert_str_eq(row.action, "undeploy");
	cr_assert_str_eq(row.version, "1");
	cr_assert_eq(row.deployment, 1);
	cr_assert_str_eq(deployments("test").s, "test svc@1 #1 ended link;");
	cr_assert_eq(dfs_node_unlink_as(fx.st, &fx.me, t, "svc"), -ENOENT);

	/* rmdir ENV/N@V undeploys too. */
	deploy(t, "1");
	cr_assert_eq(dfs_node_rmdir(fx.st, &fx.me, t, "svc@1"), 0);
	cr_assert(!exists(t, "svc"));
	cr_assert_str_eq(audit().action, "undeploy");
	cr_assert_eq(audit().deployment, 2);
}

Test(env, a_deployed_package_cannot_be_removed)
{
	uint64_t t, dir;
	struct audit a0;

	t = svc_in_test(1);
	deploy(t, "1");
	dir = dfs_fixture_entry(&fx, DFS_INO_PACKAGES, "svc").ino;
	a0 = audit();
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, dir, "user.deployfs.remove",
				   "1", 1, 0),
		     -EBUSY);
	expect_refusal(&a0, "package-remove", "Device or resource busy");
	cr_assert(strstr(audit().reason, "deployed in test"), "%s",
		  audit().reason);
	cr_assert(exists(dir, "svc@1"));
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@1");

	cr_assert_eq(dfs_node_unlink_as(fx.st, &fx.me, t, "svc"), 0);
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, dir, "user.deployfs.remove",
				   "1", 1, 0),
		     0);
	cr_assert(!exists(dir, "svc@1"));
}

/* ---- deploy by copy ------------------------------------------------------ */

Test(env, a_copy_deploys_when_its_last_entry_is_verified)
{
	struct copy c;
	uint64_t t;
	struct audit row;

	t = svc_in_test(2);
	c = stage(t, "2");
	cr_assert_str_eq(list(t).s, "svc@2");
	cr_assert(!exists(t, "svc"));
	cr_assert_str_eq(meta(c.top, "progress").s, "0/6");
	copy_tree(&c, pkg_root("svc", "2"), c.top);
	cr_assert_eq(c.done, ENTRIES);
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@2");
	cr_assert_str_eq(meta(c.top, "state").s, "deployed");
	cr_assert_str_eq(meta(c.top, "deployment").s, "1");
	cr_assert_str_eq(list(c.top).s, list(pkg_root("svc", "2")).s);
	cr_assert_str_eq(deployments("test").s, "test svc@2 #1 active copy;");
	row = audit();
	cr_assert_str_eq(row.action, "deploy");
	cr_assert_str_eq(row.result, "ok");
	cr_assert_str_eq(row.version, "2");
	cr_assert_eq(row.deployment, 1);
	cr_assert_eq(dfs_fixture_entry(&fx, c.top, "big.bin").size, BIG_LEN);
}

Test(env, a_staging_folder_must_name_a_packaged_version)
{
	struct audit a0;
	struct dfs_attr a;
	uint64_t t;

	t = svc_in_test(1);
	a0 = audit();
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, t, "svc@7", 0755, &a),
		     -ENOENT);
	expect_refusal(&a0, "deploy", "No such file or directory");
	a0 = audit();
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, t, "nope@1", 0755, &a),
		     -EINVAL);
	expect_refusal(&a0, "deploy", "Invalid argument");
	cr_assert_str_eq(list(t).s, "");
}

Test(env, differing_bytes_fail_the_close_with_eio)
{
	struct copy c;
	uint64_t t;
	struct audit a0;
	char *bad;

	t = svc_in_test(1);
	c = stage(t, "1");
	bad = pkgbuf;
	memcpy(bad, xml, XML_LEN);
	bad[XML_LEN - 10] ^= 1;
	a0 = audit();
	cr_assert_eq(copy_file(c.top, "process.xml", bad, XML_LEN), -EIO);
	expect_refusal(&a0, "deploy", "Input/output error");
	cr_assert(strstr(audit().reason, "process.xml"), "%s", audit().reason);
	cr_assert_str_eq(audit().version, "1");
	cr_assert_str_eq(meta(c.top, "progress").s, "0/6");
	cr_assert_str_eq(meta(c.top, "state").s, "staging");

	/* Every other entry in place: still not deployed. */
	c.skip = "process.xml";
	copy_tree(&c, pkg_root("svc", "1"), c.top);
	cr_assert_eq(c.done, ENTRIES - 1);
	cr_assert(!exists(t, "svc"));
	cr_assert_str_eq(deployments(NULL).s, "");

	/* Written again, right: it deploys. */
	cr_assert_eq(rewrite_file(c.top, "process.xml", xml, XML_LEN), 0);
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@1");
}

Test(env, a_short_file_fails_the_close_with_eio)
{
	struct copy c;
	uint64_t t;
	struct audit a0;

	t = svc_in_test(1);
	c = stage(t, "1");
	a0 = audit();
	cr_assert_eq(copy_file(c.top, "process.xml", xml, XML_LEN - 1), -EIO);
	expect_refusal(&a0, "deploy", "Input/output error");
	cr_assert(strstr(audit().reason, "process.xml"), "%s", audit().reason);
	cr_assert_str_eq(meta(c.top, "progress").s, "0/6");

	/* A hole: every byte but a range in the middle. */
	a0 = audit();
	{
		struct dfs_file *f = NULL;

		cr_assert_eq(dfs_file_open_as(fx.st, &fx.me,
					      dfs_fixture_entry(&fx, c.top,
								"process.xml")
						      .ino,
					      O_WRONLY | O_TRUNC, &f),
			     0);
		cr_assert_eq(dfs_file_write(fx.st, f, xml, 1000, 0), 1000);
		cr_assert_eq(dfs_file_write(fx.st, f, xml + 2000,
					    XML_LEN - 2000, 2000),
			     XML_LEN - 2000);
		cr_assert_eq(dfs_file_flush(fx.st, f), -EIO);
		cr_assert_eq(dfs_file_release(fx.st, f), 0);
	}
	expect_refusal(&a0, "deploy", "Input/output error");

	/* Longer than the package's: differs. */
	{
		char *more = pkgbuf;

		memcpy(more, xml, XML_LEN);
		more[XML_LEN] = 'x';
		cr_assert_eq(
			rewrite_file(c.top, "process.xml", more, XML_LEN + 1),
			-EIO);
	}
	cr_assert_str_eq(meta(c.top, "progress").s, "0/6");
	cr_assert(!exists(t, "svc"));
}

Test(env, a_name_not_in_the_package_is_eperm)
{
	struct copy c;
	uint64_t t, conf;
	struct audit a0;
	struct dfs_attr a;

	t = svc_in_test(1);
	c = stage(t, "1");
	a0 = audit();
	cr_assert_eq(dfs_node_mknod(fx.st, &fx.me, c.top, "process.xml2",
				    S_IFREG | 0644, 0, &a),
		     -EPERM);
	expect_refusal(&a0, "deploy", "process.xml2 is not in svc@1");
	cr_assert_str_eq(audit().env, "test");
	cr_assert_str_eq(audit().component, "svc");
	cr_assert_str_eq(audit().version, "1");

	a0 = audit();
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, c.top, "extra", 0755, &a),
		     -EPERM);
	expect_refusal(&a0, "deploy", "Operation not permitted");
	/* The right name with the wrong type or target. */
	a0 = audit();
	cr_assert_eq(
		dfs_node_mkdir(fx.st, &fx.me, c.top, "small.txt", 0755, &a),
		-EPERM);
	expect_refusal(&a0, "deploy", "Operation not permitted");
	a0 = audit();
	cr_assert_eq(
		dfs_node_symlink(fx.st, &fx.me, c.top, "readme", "big.bin", &a),
		-EPERM);
	expect_refusal(&a0, "deploy", "Operation not permitted");
	a0 = audit();
	cr_assert_eq(dfs_node_symlink(fx.st, &fx.me, c.top, "conf",
				      "process.xml", &a),
		     -EPERM);
	expect_refusal(&a0, "deploy", "Operation not permitted");

	/* Below a folder of the package too. */
	conf = dfs_fixture_mkdir(&fx, c.top, "conf", 0755);
	a0 = audit();
	cr_assert_eq(dfs_node_mknod(fx.st, &fx.me, conf, "other.properties",
				    S_IFREG | 0644, 0, &a),
		     -EPERM);
	expect_refusal(&a0, "deploy", "other.properties is not in svc@1");

	cr_assert_str_eq(list(c.top).s, "conf");
	cr_assert_str_eq(list(conf).s, "");
	cr_assert_str_eq(meta(c.top, "progress").s, "1/6");
}

/* An rsync temporary .NAME.XXXXXX in dir, written with data and closed:
 * returns the close's result. */
static int rsync_temp(uint64_t dir, const char *temp, const char *data,
		      size_t len)
{
	return copy_file(dir, temp, data, len);
}

Test(env, an_rsync_temporary_renamed_into_place_counts)
{
	char buf[16];
	struct copy c;
	uint64_t t;
	size_t len;

	t = svc_in_test(1);
	c = stage(t, "1");
	len = read_pkg(
		dfs_fixture_entry(&fx, pkg_root("svc", "1"), "small.txt").ino,
		buf, sizeof(buf));
	cr_assert_eq(len, 3);
	cr_assert_eq(rsync_temp(c.top, ".small.txt.AbC123", buf, len), 0);
	cr_assert(exists(c.top, ".small.txt.AbC123"));
	cr_assert_eq(dfs_fixture_entry(&fx, c.top, ".small.txt.AbC123").size,
		     3);
	cr_assert_str_eq(meta(c.top, "progress").s, "0/6",
			 "a temporary counts only once renamed");
	cr_assert_eq(dfs_node_rename_as(fx.st, &fx.me, c.top,
					".small.txt.AbC123", c.top, "small.txt",
					0),
		     0);
	cr_assert(!exists(c.top, ".small.txt.AbC123"));
	cr_assert(exists(c.top, "small.txt"));
	cr_assert_str_eq(meta(c.top, "progress").s, "1/6");

	/* The rest, copied plainly, deploys. */
	c.done = 1;
	c.skip = "small.txt";
	copy_tree(&c, pkg_root("svc", "1"), c.top);
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@1");
}

Test(env, an_rsync_temporary_renamed_to_another_name_is_eperm)
{
	char buf[16];
	struct copy c;
	uint64_t t;
	struct audit a0;
	size_t len;

	t = svc_in_test(1);
	c = stage(t, "1");
	len = read_pkg(
		dfs_fixture_entry(&fx, pkg_root("svc", "1"), "small.txt").ino,
		buf, sizeof(buf));
	cr_assert_eq(rsync_temp(c.top, ".small.txt.AbC123", buf, len), 0);
	a0 = audit();
	cr_assert_eq(dfs_node_rename_as(fx.st, &fx.me, c.top,
					".small.txt.AbC123", c.top, "notes.txt",
					0),
		     -EPERM);
	expect_refusal(&a0, "deploy", "Operation not permitted");
	/* Another file of the package is not what it was checked against. */
	a0 = audit();
	cr_assert_eq(dfs_node_rename_as(fx.st, &fx.me, c.top,
					".small.txt.AbC123", c.top,
					"process.xml", 0),
		     -EPERM);
	expect_refusal(&a0, "deploy", "Operation not permitted");
	cr_assert_str_eq(meta(c.top, "progress").s, "0/6");
	cr_assert(!exists(c.top, "small.txt"));
	cr_assert(!exists(c.top, "process.xml"));

	/* A temporary whose content differs is refused at its rename. */
	cr_assert_eq(
		dfs_node_unlink_as(fx.st, &fx.me, c.top, ".small.txt.AbC123"),
		0);
	(void)rsync_temp(c.top, ".small.txt.QwE456", "v9\n", 3);
	a0 = audit();
	cr_assert_eq(dfs_node_rename_as(fx.st, &fx.me, c.top,
					".small.txt.QwE456", c.top, "small.txt",
					0),
		     -EPERM);
	expect_refusal(&a0, "deploy", "differs");
	cr_assert_str_eq(meta(c.top, "progress").s, "0/6");
}

Test(env, copy_file_range_from_the_package_moves_no_data)
{
	struct copy c = { 0 };
	uint64_t t;

	t = svc_in_test(1);
	c = stage(t, "1");
	c.use_cfr = true;
	/* big.bin is larger than what the reading path moves in one call:
	 * all of it in one call means nothing was read. */
	copy_tree(&c, pkg_root("svc", "1"), c.top);
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@1");
	cr_assert_str_eq(deployments("test").s, "test svc@1 #1 active copy;");
}

Test(env, copy_file_range_from_another_file_is_compared)
{
	struct dfs_file *in = NULL, *out = NULL;
	struct copy c;
	struct dfs_attr a;
	uint64_t t, other;
	ssize_t n;

	t = svc_in_test(1);
	c = stage(t, "1");
	/* A build file with other bytes of the same size. */
	other = dfs_fixture_put_file(&fx, fx.proc, "decoy", big, XML_LEN);
	cr_assert_eq(dfs_node_mknod(fx.st, &fx.me, c.top, "process.xml",
				    S_IFREG | 0644, 0, &a),
		     0);
	cr_assert_eq(dfs_file_open(fx.st, other, O_RDONLY, &in), 0);
	cr_assert_eq(dfs_file_open_as(fx.st, &fx.me, a.ino, O_WRONLY, &out), 0);
	n = dfs_file_copy_range(fx.st, in, 0, out, 0, XML_LEN);
	cr_assert_eq(n, XML_LEN, "copy_file_range gave %zd", n);
	cr_assert_eq(dfs_file_flush(fx.st, out), -EIO);
	cr_assert_eq(dfs_file_release(fx.st, out), 0);
	cr_assert_eq(dfs_file_release(fx.st, in), 0);
	cr_assert_str_eq(meta(c.top, "progress").s, "0/6");
}

Test(env, an_interrupted_copy_stays_staging_and_rmdir_removes_it)
{
	struct copy c;
	uint64_t t;

	t = svc_in_test(1);
	c = stage(t, "1");
	c.skip = "small.txt";
	copy_tree(&c, pkg_root("svc", "1"), c.top);
	cr_assert_str_eq(meta(c.top, "progress").s, "5/6");
	cr_assert_str_eq(meta(c.top, "state").s, "staging");
	cr_assert(!exists(t, "svc"));
	cr_assert_eq(dfs_node_rmdir(fx.st, &fx.me, t, "svc@1"), 0);
	cr_assert_str_eq(audit().action, "staging-remove");
	cr_assert_str_eq(list(t).s, "");
	cr_assert_str_eq(deployments(NULL).s, "");
}

/* ---- audit.log ----------------------------------------------------------- */

Test(env, audit_format_quotes_and_escapes_values)
{
	struct dfs_audit_event ev = {
		.seq = 12,
		.ts = 123456789,
		.actor = "root",
		.uid = 0,
		.pid = 4242,
		.cmd = "cp -r a b",
		.action = "deploy",
		.env = "",
		.component = NULL,
		.version = "1",
		.from = "x=y",
		.deployment = 3,
		.result = "refused",
		.reason = "say \"hi\" to C:\\dir\nnow",
	};
	static const char want[] =
		"ts=1970-01-01T00:00:00.123456789Z seq=12 actor=root uid=0"
		" pid=4242 cmd=\"cp -r a b\" action=deploy env= component="
		" version=1 from=\"x=y\" deployment=3 result=refused"
		" reason=\"say \\\"hi\\\" to C:\\\\dir\\nnow\"\n";
	char buf[512], small[20];
	int n;

	n = dfs_audit_format(&ev, buf, sizeof(buf));
	cr_assert_eq(n, (int)strlen(want), "length %d, want %zu", n,
		     strlen(want));
	cr_assert_str_eq(buf, want);

	/* Only a quote, only a newline, only a control character. */
	ev.cmd = "\"";
	ev.env = "a\nb";
	ev.version = "tab\there";
	ev.reason = NULL;
	ev.from = NULL;
	ev.deployment = 0;
	n = dfs_audit_format(&ev, buf, sizeof(buf));
	cr_assert(strstr(buf, " cmd=\"\\\"\" "), "%s", buf);
	cr_assert(strstr(buf, " env=\"a\\nb\" "), "%s", buf);
	cr_assert(strstr(buf, " version=\"tab"), "%s", buf);
	cr_assert(strstr(buf, " from= deployment= result=refused reason=\n"),
		  "%s", buf);
	cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "one line: %s", buf);

	/* A short buffer: cut, NUL-ended, the full length returned. */
	cr_assert_eq(dfs_audit_format(&ev, small, sizeof(small)), n);
	cr_assert_eq(strlen(small), sizeof(small) - 1);
	cr_assert_arr_eq(small, buf, sizeof(small) - 1);
	cr_assert_eq(dfs_audit_format(&ev, NULL, 0), n);
}

Test(env, audit_format_prints_every_key_when_values_are_missing)
{
	struct dfs_audit_event ev = { .ts = 1000000000LL * 86400 };
	char buf[512];
	int n;

	n = dfs_audit_format(&ev, buf, sizeof(buf));
	cr_assert_str_eq(buf,
			 "ts=1970-01-02T00:00:00.000000000Z seq=0 actor= uid=0"
			 " pid=0 cmd= action= env= component= version= from="
			 " deployment= result= reason=\n");
	cr_assert_eq(n, (int)strlen(buf));
}

/* The concatenation of dfs_audit_format() of every event. */
/* Static buffers: a failed assertion leaks nothing. */
#define LOG_CAP (1u << 20)
static char log_a[LOG_CAP], log_b[LOG_CAP], log_read[LOG_CAP];

struct log {
	char *s;
	size_t len, cap;
};

static int log_line(void *ctx, const struct dfs_audit_event *ev)
{
	struct log *l = ctx;
	char line[8192];
	int n = dfs_audit_format(ev, line, sizeof(line));

	cr_assert_lt(n, (int)sizeof(line));
	cr_assert_lt(l->len + (size_t)n, l->cap, "audit.log over %zu bytes",
		     l->cap);
	memcpy(l->s + l->len, line, (size_t)n + 1);
	l->len += (size_t)n;
	return 0;
}

static struct log expected_log(char *into)
{
	struct log l = { into, 0, LOG_CAP };

	cr_assert_eq(dfs_audit_each(fx.st, 0, log_line, &l), 0);
	return l;
}

/* Read n bytes of audit.log at off through one open handle. */
static ssize_t read_log(struct dfs_file *f, char *buf, size_t n, uint64_t off)
{
	return dfs_file_read(fx.st, f, buf, n, off);
}

/* Events with values that need quoting: names with quotes, spaces,
 * newlines and backslashes, a command line with spaces, and enough of
 * them to take several pages. */
static void make_events(int plain)
{
	struct dfs_actor me = fx.me;
	char name[32];
	uint64_t t;
	struct dfs_attr a;

	snprintf(me.cmd, sizeof(me.cmd), "mkdir \"environments/x y\" -p");
	t = env("test");
	cr_assert_eq(dfs_node_mkdir(fx.st, &me, DFS_INO_ENVIRONMENTS,
				    "bad \"q\"", 0755, &a),
		     -EINVAL);
	cr_assert_eq(dfs_node_mkdir(fx.st, &me, DFS_INO_ENVIRONMENTS,
				    "new\nline", 0755, &a),
		     -EINVAL);
	cr_assert_eq(dfs_node_mkdir(fx.st, &me, DFS_INO_ENVIRONMENTS,
				    "back\\slash", 0755, &a),
		     -EINVAL);
	cr_assert_eq(deploy_link(t, "svc", "../../pack ages/\"x\"\\y\n"),
		     -EINVAL);
	cr_assert_eq(dfs_xattr_set(fx.st, &me, t,
				   "user.deployfs.classification", "test", 4,
				   0),
		     0);
	for (int i = 0; i < plain; i++) {
		snprintf(name, sizeof(name), "env%03d", i);
		(void)env(name);
	}
}

Test(env, audit_log_reads_reproduce_the_formatted_events)
{
	static const size_t sizes[] = { 1, 7, 64, 333, 4096, 100000 };
	struct dfs_file *f = NULL;
	struct dfs_attr a, l;
	struct log want;
	char *buf;
	ssize_t n;

	FIXTURE_OK();
	make_events(300);
	want = expected_log(log_a);
	cr_assert_gt(audit().n, 300);
	cr_assert(strstr(want.s, "env=\"bad \\\"q\\\"\""), "no quoted env");
	cr_assert(strstr(want.s, "env=\"new\\nline\""), "no escaped newline");
	cr_assert(strstr(want.s, "cmd=\"mkdir \\\"environments/x y\\\" -p\""),
		  "no quoted cmd");

	cr_assert_eq(dfs_node_getattr(fx.st, DFS_INO_AUDIT, &a), 0);
	cr_assert_eq(a.size, want.len, "size %llu, want %zu",
		     (unsigned long long)a.size, want.len);
	l = dfs_fixture_entry(&fx, DFS_INO_ROOT, "audit.log");
	cr_assert_eq(l.size, want.len);

	buf = log_read;
	cr_assert_eq(dfs_file_open(fx.st, DFS_INO_AUDIT, O_RDONLY, &f), 0);
	cr_assert(dfs_file_buffered(f));
	n = read_log(f, buf, want.len + 100, 0);
	cr_assert_eq(n, (ssize_t)want.len, "read %zd of %zu", n, want.len);
	cr_assert_arr_eq(buf, want.s, want.len);

	for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
		for (size_t off = 0; off <= want.len; off += 97 + k) {
			size_t exp = want.len - off < sizes[k] ? want.len - off
							       : sizes[k];

			n = read_log(f, buf, sizes[k], off);
			cr_assert_eq(n, (ssize_t)exp,
				     "read %zu at %zu: %zd bytes, want %zu",
				     sizes[k], off, n, exp);
			cr_assert_arr_eq(buf, want.s + off, exp,
					 "read %zu at %zu differs", sizes[k],
					 off);
		}
	}
	/* Line by line, as a reader following the lines would. */
	for (size_t off = 0; off < want.len;) {
		size_t end = (size_t)(strchr(want.s + off, '\n') - want.s) + 1;

		n = read_log(f, buf, end - off, off);
		cr_assert_eq(n, (ssize_t)(end - off));
		cr_assert_arr_eq(buf, want.s + off, end - off);
		off = end;
	}
	cr_assert_eq(read_log(f, buf, 10, want.len), 0);
	cr_assert_eq(read_log(f, buf, 10, want.len + 5), 0);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
}

Test(env, audit_log_grows_by_each_new_line)
{
	struct dfs_file *f = NULL;
	struct dfs_attr a0, a1;
	struct log before, after;
	char buf[8192];
	ssize_t n;

	FIXTURE_OK();
	make_events(3);
	before = expected_log(log_a);
	cr_assert_eq(dfs_node_getattr(fx.st, DFS_INO_AUDIT, &a0), 0);
	cr_assert_eq(a0.size, before.len);
	cr_assert_eq(dfs_file_open(fx.st, DFS_INO_AUDIT, O_RDONLY, &f), 0);
	cr_assert_eq(read_log(f, buf, sizeof(buf), a0.size), 0);

	(void)env("later");
	after = expected_log(log_b);
	cr_assert_eq(dfs_node_getattr(fx.st, DFS_INO_AUDIT, &a1), 0);
	cr_assert_eq(a1.size, after.len);
	cr_assert_gt(a1.size, a0.size);
	cr_assert_arr_eq(after.s, before.s, before.len, "history changed");
	n = read_log(f, buf, sizeof(buf), a0.size);
	cr_assert_eq(n, (ssize_t)(after.len - before.len));
	cr_assert_arr_eq(buf, after.s + before.len, (size_t)n);
	cr_assert(strstr(buf, "action=env-create env=later "), "%.*s", (int)n,
		  buf);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
}

Test(env, audit_log_is_read_only)
{
	struct dfs_file *f = NULL;

	FIXTURE_OK();
	cr_assert_eq(dfs_file_open(fx.st, DFS_INO_AUDIT, O_WRONLY, &f), -EROFS);
	cr_assert_eq(dfs_file_open(fx.st, DFS_INO_AUDIT, O_RDWR, &f), -EROFS);
}

/* The deployment a full disk fails reaches its caller as ENOSPC: that
 * refusal is in the audit trail too, after whatever the act recorded. */
static void expect_enospc_recorded(const struct audit *before, int rc,
				   const char *op)
{
	struct audit a = audit();

	cr_assert_eq(rc, -ENOSPC, "got %d (%s)", rc, strerror(-rc));
	cr_assert_gt(a.n, before->n, "nothing recorded");
	cr_assert_str_eq(a.action, op);
	cr_assert_str_eq(a.result, "refused");
	cr_assert_str_eq(a.env, "test");
	cr_assert(strstr(a.reason, strerror(ENOSPC)), "reason \"%s\"",
		  a.reason);
}

Test(env, a_link_deploy_failing_with_enospc_is_recorded)
{
	struct audit a0;
	uint64_t t;
	int rc;

	t = svc_in_test(1);
	a0 = audit();
	/* The deployment's durable commit: its WAL sync finds the disk
	 * full. */
	dfs_io_fail_at("fsync", 1, ENOSPC);
	rc = deploy_link(t, "svc", "../../packages/svc/svc@1");
	dfs_io_fail_at("fsync", 0, 0);
	expect_enospc_recorded(&a0, rc, "symlink");
}

Test(env, a_copy_deploy_failing_with_enospc_is_recorded)
{
	struct audit a0;
	struct copy c;
	uint64_t t;
	int rc;

	t = svc_in_test(1);
	c = stage(t, "1");
	c.skip = "small.txt";
	copy_tree(&c, pkg_root("svc", "1"), c.top);
	a0 = audit();
	/* The last entry's close deploys; the commit finds the disk full. */
	dfs_io_fail_at("fsync", 1, ENOSPC);
	rc = copy_file(c.top, "small.txt", "v1\n", 3);
	dfs_io_fail_at("fsync", 0, 0);
	expect_enospc_recorded(&a0, rc, "close");
}

/* ---- more of the contract ------------------------------------------------ */

Test(env, a_copy_replaces_the_version_deployed_before)
{
	struct copy c;
	uint64_t t;
	struct audit row;

	t = svc_in_test(2);
	deploy(t, "1");
	c = stage(t, "2");
	cr_assert_str_eq(list(t).s, "svc,svc@1,svc@2");
	copy_tree(&c, pkg_root("svc", "2"), c.top);
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@2");
	cr_assert_str_eq(list(t).s, "svc,svc@2");
	row = audit();
	cr_assert_str_eq(row.action, "deploy");
	cr_assert_str_eq(row.from, "1");
	cr_assert_eq(row.deployment, 2);
	cr_assert_str_eq(deployments("test").s,
			 "test svc@1 #1 ended link;test svc@2 #2 active copy;");
}

Test(env, a_file_rewritten_wrong_after_it_was_verified_does_not_count)
{
	struct copy c;
	uint64_t t;

	t = svc_in_test(1);
	c = stage(t, "1");
	cr_assert_eq(copy_file(c.top, "small.txt", "v1\n", 3), 0);
	cr_assert_str_eq(meta(c.top, "progress").s, "1/6");
	cr_assert_eq(rewrite_file(c.top, "small.txt", "v2\n", 3), -EIO);
	cr_expect_str_eq(meta(c.top, "progress").s, "0/6",
			 "a file whose last close failed still counts");
	/* Everything else copied: the copy must not deploy. */
	c.skip = "small.txt";
	c.done = 0;
	{
		struct ents e = entries(pkg_root("svc", "1"));
		char target[256];
		struct dfs_attr a;

		for (int i = 0; i < e.n; i++) {
			const struct ent *x = &e.v[i];
			size_t len;

			if (strcmp(x->name, "small.txt") == 0)
				continue;
			if (S_ISDIR(x->mode)) {
				cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me,
							    c.top, x->name,
							    0755, &a),
					     0);
				len = read_pkg(
					dfs_fixture_entry(&fx, x->ino,
							  "app.properties")
						.ino,
					pkgbuf, sizeof(pkgbuf));
				cr_assert_eq(copy_file(a.ino, "app.properties",
						       pkgbuf, len),
					     0);
			} else if (S_ISLNK(x->mode)) {
				cr_assert_geq(dfs_node_readlink(fx.st, x->ino,
								target,
								sizeof(target)),
					      0);
				cr_assert_eq(dfs_node_symlink(fx.st, &fx.me,
							      c.top, x->name,
							      target, &a),
					     0);
			} else {
				len = read_pkg(x->ino, pkgbuf, sizeof(pkgbuf));
				cr_assert_eq(
					copy_file(c.top, x->name, pkgbuf, len),
					0);
			}
		}
	}
	cr_assert(!exists(t, "svc"),
		  "deployed although small.txt's last close failed");
	cr_assert_str_eq(deployments(NULL).s, "");
}

Test(env, xattrs_of_a_deployed_folder_are_listed_once)
{
	char buf[2048], *p;
	uint64_t t, view;
	int n, size;

	t = svc_in_test(1);
	deploy(t, "1");
	view = dfs_fixture_entry(&fx, t, "svc@1").ino;
	size = dfs_xattr_list(fx.st, view, NULL, 0);
	cr_assert_gt(size, 0);
	n = dfs_xattr_list(fx.st, view, buf, sizeof(buf));
	cr_assert_eq(n, size, "size query %d, list %d", size, n);
	for (p = buf; p < buf + n; p += strlen(p) + 1) {
		int k = 0;

		for (char *q = buf; q < buf + n; q += strlen(q) + 1)
			k += strcmp(p, q) == 0;
		cr_assert_eq(k, 1, "%s listed %d times", p, k);
		cr_assert_geq(dfs_xattr_get(fx.st, view, p, NULL, 0), 0,
			      "%s is listed but cannot be read", p);
	}
	cr_assert(memmem(buf, (size_t)n, "user.deployfs.state", 20));
	cr_assert(memmem(buf, (size_t)n, "user.deployfs.deployment", 25));
	cr_assert(memmem(buf, (size_t)n, "user.deployfs.version", 22));
}

Test(env, a_deployed_folder_is_read_only)
{
	struct dfs_file *f = NULL;
	uint64_t t, view;
	struct audit a0;
	struct dfs_attr a;
	char buf[16];

	t = svc_in_test(1);
	deploy(t, "1");
	view = dfs_fixture_entry(&fx, t, "svc@1").ino;
	/* What cp -r, tar -x or rm would do onto what is there: EEXIST for
	 * what exists, EROFS for every change, recorded. */
	a0 = audit();
	cr_assert_eq(dfs_node_mkdir(fx.st, &fx.me, t, "svc@1", 0755, &a),
		     -EEXIST);
	expect_refusal(&a0, "mkdir", "File exists");
	a0 = audit();
	cr_assert_eq(
		dfs_file_open_as(fx.st, &fx.me,
				 dfs_fixture_entry(&fx, view, "small.txt").ino,
				 O_WRONLY | O_TRUNC, &f),
		-EROFS);
	expect_refusal(&a0, "deploy", "Read-only file system");
	cr_assert(strstr(audit().reason, "small.txt"), "%s", audit().reason);
	cr_assert_eq(
		dfs_file_open_as(fx.st, &fx.me,
				 dfs_fixture_entry(&fx, view, "small.txt").ino,
				 O_WRONLY | O_APPEND, &f),
		-EROFS);
	cr_assert_eq(dfs_node_unlink_as(fx.st, &fx.me, view, "readme"), -EROFS);
	cr_assert_eq(dfs_node_symlink(fx.st, &fx.me, view, "readme",
				      "process.xml", &a),
		     -EEXIST);
	cr_assert_eq(dfs_node_mknod(fx.st, &fx.me, view, "new.txt",
				    S_IFREG | 0644, 0, &a),
		     -EROFS);
	cr_assert_str_eq(list(view).s, list(pkg_root("svc", "1")).s);
	cr_assert_str_eq(deployments("test").s, "test svc@1 #1 active link;");
	cr_assert_eq(read_pkg(dfs_fixture_entry(&fx, view, "small.txt").ino,
			      buf, sizeof(buf)),
		     3);
	cr_assert_arr_eq(buf, "v1\n", 3);
}

Test(env, metadata_changes_on_deployed_entries_are_erofs)
{
	struct dfs_setattr same = { .valid = DFS_SET_MODE };
	struct dfs_setattr other = { .valid = DFS_SET_MODE, .mode = 0600 };
	struct dfs_attr a, f;
	struct copy c;
	uint64_t t;

	t = svc_in_test(2);
	deploy(t, "1");
	f = dfs_fixture_entry(&fx, dfs_fixture_entry(&fx, t, "svc@1").ino,
			      "small.txt");
	same.mode = f.mode & 07777;
	cr_assert_eq(dfs_node_setattr(fx.st, f.ino, &same, &a), 0);
	cr_assert_eq(dfs_node_setattr(fx.st, f.ino, &other, &a), -EROFS);
	cr_assert_eq(dfs_fixture_entry(&fx,
				       dfs_fixture_entry(&fx, t, "svc@1").ino,
				       "small.txt")
			     .mode,
		     f.mode);

	/* Staging entries take anything; the deployed view shows the
	 * package's. */
	c = stage(t, "2");
	cr_assert_eq(copy_file(c.top, "small.txt", "v2\n", 3), 0);
	f = dfs_fixture_entry(&fx, c.top, "small.txt");
	cr_assert_eq(dfs_node_setattr(fx.st, f.ino, &other, &a), 0);
	c.done = 1;
	c.skip = "small.txt";
	copy_tree(&c, pkg_root("svc", "2"), c.top);
	cr_assert_eq(
		dfs_fixture_entry(&fx, c.top, "small.txt").mode & 07777,
		dfs_fixture_entry(&fx, pkg_root("svc", "2"), "small.txt").mode &
			07777);
}

Test(env, notes_of_a_deployment_are_set_once)
{
	static const char key[] = "user.deployfs.notes";
	uint64_t t, view;
	struct audit a0;

	t = svc_in_test(1);
	deploy(t, "1");
	view = dfs_fixture_entry(&fx, t, "svc@1").ino;
	cr_assert_eq(dfs_xattr_get(fx.st, view, key, NULL, 0), -ENODATA);
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, view, key, "CHG-1", 5, 0), 0);
	cr_assert_str_eq(meta(view, "notes").s, "CHG-1");
	cr_assert_str_eq(audit().action, "notes");
	a0 = audit();
	cr_assert_eq(dfs_xattr_set(fx.st, &fx.me, view, key, "CHG-2", 5, 0),
		     -EPERM);
	expect_refusal(&a0, "notes", "Operation not permitted");
	cr_assert_str_eq(meta(view, "notes").s, "CHG-1");
}

Test(env, moving_a_deployment_is_exdev)
{
	uint64_t t, p;

	t = svc_in_test(1);
	p = env("prod");
	deploy(t, "1");
	cr_assert_eq(dfs_node_rename_as(fx.st, &fx.me, t, "svc", p, "svc", 0),
		     -EXDEV);
	cr_assert_eq(dfs_node_rename_as(fx.st, &fx.me, t, "svc", t, "svc2", 0),
		     -EXDEV);
	cr_assert_eq(
		dfs_node_rename_as(fx.st, &fx.me, t, "svc@1", p, "svc@1", 0),
		-EXDEV);
	cr_assert_str_eq(readlink_of(t, "svc").s, "../../packages/svc/svc@1");
	cr_assert_str_eq(list(p).s, "");
}

Test(env, an_event_with_long_escaped_values_is_one_whole_line)
{
	struct dfs_actor me = fx.me;
	char name[201], target[601], *buf;
	struct dfs_file *f = NULL;
	struct log want;
	uint64_t t;
	ssize_t n;

	FIXTURE_OK();
	t = env("test");
	/* Control characters are written as \xNN: four bytes each. */
	memset(me.cmd, '\x01', sizeof(me.cmd) - 1);
	me.cmd[sizeof(me.cmd) - 1] = '\0';
	memset(name, '\x01', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memset(target, '\x02', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	cr_assert_eq(dfs_node_symlink(fx.st, &me, t, name, target,
				      &(struct dfs_attr){ 0 }),
		     -EINVAL);
	want = expected_log(log_a);
	buf = log_read;
	cr_assert_eq(dfs_file_open(fx.st, DFS_INO_AUDIT, O_RDONLY, &f), 0);
	n = read_log(f, buf, want.len + 1, 0);
	cr_assert_eq(dfs_file_release(fx.st, f), 0);
	cr_assert_eq(n, (ssize_t)want.len, "audit.log has %zd bytes, want %zu",
		     n, want.len);
	cr_assert_arr_eq(buf, want.s, want.len);
}

Test(env, a_part_temporary_renamed_into_place_counts)
{
	struct copy c;
	uint64_t t;

	t = svc_in_test(1);
	c = stage(t, "1");
	cr_assert_eq(copy_file(c.top, "process.xml.part", xml, XML_LEN), 0);
	cr_assert_str_eq(meta(c.top, "progress").s, "0/6");
	cr_assert_eq(dfs_node_rename_as(fx.st, &fx.me, c.top,
					"process.xml.part", c.top,
					"process.xml", 0),
		     0);
	cr_assert_str_eq(meta(c.top, "progress").s, "1/6");
	cr_assert_eq(dfs_fixture_entry(&fx, c.top, "process.xml").size,
		     XML_LEN);
}

Test(env, removing_a_copied_entry_takes_back_its_progress)
{
	struct copy c;
	uint64_t t;

	t = svc_in_test(1);
	c = stage(t, "1");
	cr_assert_eq(copy_file(c.top, "small.txt", "v1\n", 3), 0);
	(void)dfs_fixture_mkdir(&fx, c.top, "conf", 0755);
	cr_assert_str_eq(meta(c.top, "progress").s, "2/6");
	cr_assert_str_eq(list(c.top).s, "conf,small.txt");
	cr_assert_eq(dfs_node_unlink_as(fx.st, &fx.me, c.top, "small.txt"), 0);
	cr_assert_str_eq(meta(c.top, "progress").s, "1/6");
	cr_assert_eq(dfs_node_rmdir(fx.st, &fx.me, c.top, "conf"), 0);
	cr_assert_str_eq(meta(c.top, "progress").s, "0/6");
	cr_assert_str_eq(list(c.top).s, "");
}

Test(env, a_deployed_folder_shows_its_deployment)
{
	uint64_t t, view;
	struct str when;

	t = svc_in_test(1);
	deploy(t, "1");
	view = dfs_fixture_entry(&fx, t, "svc@1").ino;
	cr_assert_str_eq(meta(view, "progress").s, "6/6");
	when = meta(view, "deployed");
	cr_assert_eq(strlen(when.s), 20, "deployed: %s", when.s);
	cr_assert(when.s[4] == '-' && when.s[10] == 'T' && when.s[19] == 'Z',
		  "deployed: %s", when.s);
	cr_assert_gt(strlen(meta(view, "deployed_by").s), 0);
	cr_assert_eq(
		dfs_xattr_get(fx.st, view, "user.deployfs.warning", NULL, 0),
		-ENODATA);
}
