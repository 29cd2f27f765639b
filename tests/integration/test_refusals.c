// SPDX-License-Identifier: MIT
/*
 * test_refusals.c - what packaging refuses and that the audit trail sees
 * every refusal the daemon sees: a loop through a subprocess (a process
 * another component links to is included, not required), devices in a
 * component, FIFOs and sockets left out of a snapshot, components deeper
 * than a few hundred levels, and the refusals no act records itself
 * (EROFS under packages/ and audit.log, EXDEV renames, ...), each one
 * audit.log line, repeats folded into a count, with the caller's process
 * id and its command line with argument boundaries kept.
 */
#include "expect.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PKGS "\"$MNT/packages/order-sync\""

static struct dfs_mount m;
static int setup_rc;
static char lines[1 << 16];

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
}

static void teardown(void)
{
	dfs_mount_teardown(&m);
}

TestSuite(refusals, .init = setup, .fini = teardown, .timeout = 240);

/* Build the fixture workspace in build/. */
static void prepare(void)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0,
		     "cp -a of the fixture workspace");
}

/* The lines of audit.log after its first n. */
static char *audit_after(long n)
{
	return dfs_out(&m, lines, sizeof(lines),
		       "tail -n +%ld \"$MNT/audit.log\"", n + 1);
}

/* The first line of text holding every one of the (up to 4) non-NULL
 * needles, or NULL. */
static const char *line_with(const char *text, const char *a, const char *b,
			     const char *c, const char *d)
{
	const char *need[] = { a, b, c, d };

	for (const char *l = text; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		bool all = true;

		for (size_t i = 0; i < 4 && all; i++) {
			const char *hit = need[i] ? strstr(l, need[i]) : l;

			all = hit &&
			      hit + strlen(need[i] ? need[i] : "") <= l + len;
		}
		if (all)
			return l;
		l = end ? end + 1 : NULL;
	}
	return NULL;
}

/* ---- subprocesses --------------------------------------------------------- */

Test(refusals, a_loop_through_a_subprocess_is_eloop_and_recorded)
{
	char p[PATH_MAX];
	long n0;

	prepare();
	/* order-sync includes map order-map, which includes profile
	 * order-json, which now links back to the process. */
	dfs_ok(&m, "ln -s ../../process/order-sync "
		   "\"$BUILD/profile/order-json/loop\"");
	n0 = dfs_audit_lines(&m);
	dfs_path(p, sizeof(p), "%s/packages/order-sync/order-sync@3", m.mnt);
	ASSERT_ERRNO(mkdir(p, 0755), ELOOP);
	cr_assert_not_null(line_with(audit_after(n0), "action=package",
				     "component=order-sync version=3",
				     "result=refused",
				     "include loop through process/order-sync"),
			   "no refusal line:\n%s", lines);
	ASSERT_ERRNO(access(p, F_OK), ENOENT);
}

/* ---- depth ---------------------------------------------------------------- */

Test(refusals, a_component_300_levels_deep_is_packaged_and_read)
{
	char deep[PATH_MAX], p[PATH_MAX], buf[64];
	size_t n = 0;

	prepare();
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "d/");
	deep[n - 1] = '\0';
	dfs_ok(&m,
	       "mkdir -p \"$BUILD/process/order-sync/%s\" && "
	       "echo bottom >\"$BUILD/process/order-sync/%s/f\"",
	       deep, deep);
	dfs_path(p, sizeof(p), "%s/packages/order-sync/order-sync@1", m.mnt);
	cr_assert_eq(mkdir(p, 0755), 0, "packaging: %s", strerror(errno));
	dfs_path(p, sizeof(p), "%s/packages/order-sync/order-sync@1/%s/f",
		 m.mnt, deep);
	cr_assert_eq(dfs_read_file(p, buf, sizeof(buf)), 7, "reading %s", p);
	cr_assert_arr_eq(buf, "bottom\n", 7);
}

/* ---- devices, FIFOs and sockets ---------------------------------------------- */

Test(refusals, a_device_in_a_component_refuses_its_package_with_eperm)
{
	static const struct {
		const char *path, *args, *kind;
	} devs[] = {
		{ "$BUILD/process/order-sync/null", "c 1 3",
		  "character device" },
		{ "$BUILD/map/order-map/loop0", "b 7 0", "block device" },
	};
	char p[PATH_MAX];
	long n0;

	prepare();
	dfs_path(p, sizeof(p), "%s/packages/order-sync/order-sync@1", m.mnt);
	for (size_t i = 0; i < 2; i++) {
		/* build/ holds devices, as any POSIX tree (tar -x). */
		dfs_ok(&m, "mknod \"%s\" %s && test -%c \"%s\"", devs[i].path,
		       devs[i].args, devs[i].args[0], devs[i].path);
		n0 = dfs_audit_lines(&m);
		ASSERT_ERRNO(mkdir(p, 0755), EPERM);
		cr_assert_not_null(
			line_with(audit_after(n0), "action=package",
				  "version=1 ", "result=refused", devs[i].kind),
			"no refusal line for a %s:\n%s", devs[i].kind, lines);
		ASSERT_ERRNO(access(p, F_OK), ENOENT);
		dfs_ok(&m, "rm \"%s\"", devs[i].path);
	}
	cr_assert_eq(mkdir(p, 0755), 0, "without devices: %s", strerror(errno));
}

Test(refusals, fifos_and_sockets_are_left_out_of_a_snapshot_and_counted)
{
	char p[PATH_MAX], h1[64], h2[64];
	long n0;

	prepare();
	dfs_ok(&m, "mkfifo \"$BUILD/process/order-sync/fifo\" && "
		   "mkfifo \"$BUILD/map/order-map/fifo\" && "
		   "python3 -c 'import socket,sys; "
		   "socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "
		   "\"$BUILD/process/order-sync/sock\"");
	n0 = dfs_audit_lines(&m);
	dfs_ok(&m, "mkdir " PKGS "/order-sync@1");
	cr_assert_not_null(line_with(audit_after(n0), "action=package",
				     "version=1 ", "result=ok",
				     "3 FIFOs or sockets left out"),
			   "no package line counting them:\n%s", lines);
	dfs_path(p, sizeof(p), "%s/packages/order-sync/order-sync@1", m.mnt);
	dfs_ok(&m,
	       "test \"$(find %s \\( -type p -o -type s \\) | wc -l)\" = 0 "
	       "&& test -f %s/process.xml && test -f %s/order-map/map.xml",
	       p, p, p);
	/* The package is what it would be without them. */
	dfs_ok(&m, "rm \"$BUILD/process/order-sync/fifo\" "
		   "\"$BUILD/map/order-map/fifo\" "
		   "\"$BUILD/process/order-sync/sock\" && "
		   "mkdir " PKGS "/order-sync@2");
	dfs_out(&m, h1, sizeof(h1),
		"getfattr --absolute-names --only-values "
		"-n user.deployfs.content_hash " PKGS "/order-sync@1");
	dfs_out(&m, h2, sizeof(h2),
		"getfattr --absolute-names --only-values "
		"-n user.deployfs.content_hash " PKGS "/order-sync@2");
	cr_assert_str_eq(h1, h2);
}

/* ---- refusals no act records ---------------------------------------------- */

/* order-sync@1 packaged and deployed in environments/test. */
static void package_and_deploy(void)
{
	dfs_ok(&m, "mkdir " PKGS "/order-sync@1 && "
		   "mkdir \"$MNT/environments/test\" && "
		   "ln -s ../../packages/order-sync/order-sync@1 "
		   "\"$MNT/environments/test/order-sync\"");
}

static char *in_mnt(char *buf, const char *rel)
{
	return dfs_path(buf, PATH_MAX, "%s/%s", m.mnt, rel);
}

#define PKG "packages/order-sync/order-sync@1"
#define SYNC "build/process/order-sync"

/* What one probe must leave: a line with each of these. */
struct seen {
	const char *action, *where, *reason;
};

Test(refusals, every_refusal_outside_build_leaves_one_line)
{
	static const struct seen want[] = {
		{ "action=open", "component=order-sync version=1",
		  "Read-only file system: open " PKG "/process.xml" },
		{ "action=mkdir", "component=order-sync version=1",
		  "Read-only file system: mkdir " PKG "/new" },
		{ "action=unlink", "component=order-sync version=1",
		  "Read-only file system: unlink " PKG "/process.xml" },
		{ "action=setattr", "component=order-sync version=1",
		  "Read-only file system: setattr " PKG "/process.xml" },
		{ "action=setxattr", "component=order-sync version=1",
		  "Read-only file system: setxattr " PKG "/process.xml" },
		{ "action=removexattr", "component=order-sync version=1",
		  "Read-only file system: removexattr " PKG "\"" },
		{ "action=rename", "component=order-sync version=1",
		  "Read-only file system: rename " PKG "/process.xml to " PKG
		  "/renamed" },
		{ "action=open", "env= component= version=",
		  "Read-only file system: open audit.log" },
		{ "action=setattr", "env= component= version=",
		  "Read-only file system: setattr audit.log" },
		{ "action=unlink", "env= component= version=",
		  "Read-only file system: unlink audit.log" },
		{ "action=rename", "env=test component= version=",
		  "Invalid cross-device link: rename build/.../process.xml to "
		  "environments/test/process.xml" },
		{ "action=rename", "env=test component=order-sync version=1",
		  "Invalid cross-device link: rename "
		  "environments/test/order-sync to build/" },
		{ "action=link", "component=order-sync version=1",
		  "Invalid cross-device link: link " PKG "/process.xml to "
		  "build/" },
	};
	char p[PATH_MAX], q[PATH_MAX];
	const char *text;
	long n0;

	prepare();
	package_and_deploy();
	n0 = dfs_audit_lines(&m);
	ASSERT_ERRNO(open(in_mnt(p, PKG "/process.xml"), O_WRONLY), EROFS);
	ASSERT_ERRNO(mkdir(in_mnt(p, PKG "/new"), 0755), EROFS);
	ASSERT_ERRNO(unlink(in_mnt(p, PKG "/process.xml")), EROFS);
	ASSERT_ERRNO(chmod(in_mnt(p, PKG "/process.xml"), 0600), EROFS);
	ASSERT_ERRNO(
		setxattr(in_mnt(p, PKG "/process.xml"), "user.x", "1", 1, 0),
		EROFS);
	ASSERT_ERRNO(removexattr(in_mnt(p, PKG), "user.deployfs.notes"), EROFS);
	ASSERT_ERRNO(rename(in_mnt(p, PKG "/process.xml"),
			    in_mnt(q, PKG "/renamed")),
		     EROFS);
	ASSERT_ERRNO(open(in_mnt(p, "audit.log"), O_WRONLY), EROFS);
	ASSERT_ERRNO(truncate(in_mnt(p, "audit.log"), 0), EROFS);
	ASSERT_ERRNO(unlink(in_mnt(p, "audit.log")), EROFS);
	ASSERT_ERRNO(rename(in_mnt(p, SYNC "/process.xml"),
			    in_mnt(q, "environments/test/process.xml")),
		     EXDEV);
	ASSERT_ERRNO(rename(in_mnt(p, "environments/test/order-sync"),
			    in_mnt(q, SYNC "/moved")),
		     EXDEV);
	ASSERT_ERRNO(
		link(in_mnt(p, PKG "/process.xml"), in_mnt(q, SYNC "/linked")),
		EXDEV);
	text = audit_after(n0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_not_null(line_with(text, want[i].action,
					     want[i].where, "result=refused",
					     want[i].reason),
				   "no line %s %s %s", want[i].action,
				   want[i].where, want[i].reason);
	cr_assert_eq(dfs_audit_lines(&m) - n0,
		     (long)(sizeof(want) / sizeof(want[0])),
		     "one line a refusal:\n%s", text);
}

Test(refusals, rm_r_of_a_package_leaves_a_line_and_a_count)
{
	char out[64], want[64];
	long n0, files;

	prepare();
	dfs_ok(&m, "mkdir \"$BUILD/process/order-sync/many\" && "
		   "cd \"$BUILD/process/order-sync/many\" && "
		   "for i in $(seq 300); do echo $i >f$i; done");
	dfs_ok(&m, "mkdir " PKGS "/order-sync@1");
	files = atol(dfs_out(&m, out, sizeof(out),
			     "find " PKGS "/order-sync@1 ! -type d | wc -l"));
	cr_assert_gt(files, 300);
	n0 = dfs_audit_lines(&m);
	cr_assert_neq(dfs_sh(&m, "rm -rf " PKGS "/order-sync@1 2>/dev/null"), 0,
		      "rm -r of a package succeeded");
	dfs_ok(&m, "test -f " PKGS "/order-sync@1/process.xml");
	/* Reading audit.log shows every refusal seen so far. */
	audit_after(n0);
	cr_assert_not_null(line_with(lines, "action=unlink",
				     "component=order-sync version=1",
				     "result=refused",
				     "Read-only file system: unlink " PKG "/"),
			   "no first line:\n%s", lines);
	dfs_path(want, sizeof(want), "repeated %ld more times", files - 1);
	cr_assert_not_null(line_with(lines, "action=unlink",
				     "component=order-sync version=1",
				     "result=refused", want),
			   "no line with the count (%s):\n%s", want, lines);
	cr_assert_leq(dfs_audit_lines(&m) - n0, 4,
		      "%ld files, too many lines:\n%s", files, lines);
}

struct opener {
	char path[PATH_MAX];
	int err;
};

/* open(path, O_WRONLY) from a thread of this process; its errno. */
static void *open_for_writing(void *arg)
{
	struct opener *o = arg;
	int fd = open(o->path, O_WRONLY);

	o->err = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	return NULL;
}

Test(refusals, the_pid_is_the_callers_process_not_its_thread)
{
	struct opener o = { .err = -1 };
	char want[64];
	pthread_t t;
	long n0;

	prepare();
	package_and_deploy();
	in_mnt(o.path, PKG "/process.xml");
	n0 = dfs_audit_lines(&m);
	cr_assert_eq(pthread_create(&t, NULL, open_for_writing, &o), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(o.err, EROFS, "open in a thread: %s", strerror(o.err));
	dfs_path(want, sizeof(want), " pid=%d ", (int)getpid());
	cr_assert_not_null(line_with(audit_after(n0), "action=open", want,
				     "result=refused", NULL),
			   "no line with%s:\n%s", want, lines);
}

Test(refusals, the_command_line_keeps_its_argument_boundaries)
{
	prepare();
	package_and_deploy();
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && mkdir '" PKG "/a b' "
				 "\"" PKG "/it's\" 2>/dev/null"),
		      0);
	cr_assert_not_null(line_with(audit_after(0), "action=mkdir",
				     "cmd=\"mkdir '" PKG "/a b' '" PKG
				     "/it'\\\\''s'\"",
				     "result=refused", NULL),
			   "no line with the quoted command:\n%s", lines);
}

/* An open of a package's file resolves who asked only when it is refused
 * (files.c): the line still names the process and its command. */
Test(refusals, a_refused_open_in_a_package_names_its_command)
{
	long n0;

	prepare();
	package_and_deploy();
	n0 = dfs_audit_lines(&m);
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && dd if=/dev/null of=" PKG
				 "/process.xml conv=notrunc status=none "
				 "2>/dev/null"),
		      0);
	cr_assert_not_null(line_with(audit_after(n0), "action=open",
				     "cmd=\"dd if=/dev/null of=" PKG
				     "/process.xml conv=notrunc status=none\"",
				     "result=refused", NULL),
			   "no line with dd's command:\n%s", lines);
}
