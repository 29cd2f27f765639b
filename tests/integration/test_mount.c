// SPDX-License-Identifier: MIT
/*
 * test_mount.c - the daemon's command line, the tree it shows at the mount
 * root, and the stores it must refuse to serve.
 *
 * Every refusal is checked three ways: exit status 1, a message on stderr
 * that names the store, and a store that is byte for byte what it was
 * (sha256 of every file, and the list of entries).  Commands run through
 * timeout(1), so a daemon that wrongly starts serving cannot hang a test;
 * anything it mounted is unmounted by .fini.
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define DEADLINE_MS 20000
#define TYPE_FOLDERS                                         \
	"api-proxy,api-service,certificate,connection,"      \
	"custom-library,flow-service,map,operation,process," \
	"process-route,processing-group,profile,script"

static struct dfs_mount m;
static int setup_rc;
static char mnt2[PATH_MAX]; /* a second mount point, for a 2nd daemon */

static void suite_init(void)
{
	setup_rc = dfs_mount_setup(&m);
	if (m.dir[0])
		dfs_path(mnt2, sizeof(mnt2), "%s/mnt2", m.dir);
}

static void suite_fini(void)
{
	if (mnt2[0] && dfs_is_mounted(mnt2))
		umount2(mnt2, MNT_DETACH);
	dfs_mount_teardown(&m);
}

TestSuite(mount, .init = suite_init, .fini = suite_fini, .timeout = 120);

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in path but . and .., sorted, comma separated; or -errno. */
static int list_names(const char *path, char *out, size_t cap)
{
	DIR *dir = opendir(path);
	size_t n = 0, len = 0;
	struct dirent *de;
	char *names[64];

	out[0] = '\0';
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < 64)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (names[n] = strdup(de->d_name)))
			n++;
	closedir(dir);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (len < cap)
			len += (size_t)snprintf(out + len, cap - len, "%s%s",
						i ? "," : "", names[i]);
		free(names[i]);
	}
	return (int)n;
}

/* Every entry under dir with its type, and the sha256 of every file. */
static int digest(const char *dir, char *out, size_t cap)
{
	return dfs_sh_out(&m, out, cap,
			  "cd '%s' && find . -printf '%%y %%p\\n'"
			  " | LC_ALL=C sort && find . -type f -print0 | "
			  "LC_ALL=C sort -z | xargs -0 -r sha256sum",
			  dir);
}

/*
 * Run deployfs on store and mountpoint in the background mode, with a
 * deadline; its stderr goes to err.  Returns its exit status.
 */
static int run_deployfs(const char *store, const char *mnt, char *err,
			size_t cap)
{
	char path[PATH_MAX];
	ssize_t n;
	int rc;

	dfs_path(path, sizeof(path), "%s/stderr.txt", m.dir);
	rc = dfs_sh(&m,
		    "timeout 20 \"$DEPLOYFS\" '%s' '%s' >/dev/null "
		    "2>'%s'",
		    store, mnt, path);
	n = dfs_read_file(path, err, cap - 1);
	err[n > 0 ? n : 0] = '\0';
	return rc;
}

static bool has_version(const char *s)
{
	for (; s[0] && s[1] && s[2]; s++)
		if (isdigit((unsigned char)s[0]) && s[1] == '.' &&
		    isdigit((unsigned char)s[2]))
			return true;
	return false;
}

/* The pid of the deployfs serving store on mnt (not our child), or 0. */
static pid_t find_daemon(const char *store, const char *mnt)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;

	while (proc && !found && (de = readdir(proc))) {
		bool has_store = false, has_mnt = false;
		int pid = atoi(de->d_name);
		char path[64], args[4096];
		ssize_t n;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		n = dfs_read_file(path, args, sizeof(args) - 1);
		if (n <= 0)
			continue;
		args[n] = '\0';
		for (ssize_t i = 0; i < n; i += (ssize_t)strlen(args + i) + 1) {
			has_store |= strcmp(args + i, store) == 0;
			has_mnt |= strcmp(args + i, mnt) == 0;
		}
		if (has_store && has_mnt && strstr(args, "deployfs") &&
		    !strstr(args, "timeout"))
			found = pid;
	}
	if (proc)
		closedir(proc);
	return found;
}

/* True while pid runs (a zombie waiting for a reaper counts as gone). */
static bool alive(pid_t pid)
{
	char path[64], stat[256];
	ssize_t n;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = dfs_read_file(path, stat, sizeof(stat) - 1);
	if (n <= 0)
		return false;
	stat[n] = '\0';
	p = strrchr(stat, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Poll until path is unmounted and pid (if any) has gone; false on time. */
static bool wait_gone(const char *path, pid_t pid)
{
	long deadline = dfs_now_ms() + DEADLINE_MS;

	while (dfs_is_mounted(path) || (pid > 0 && alive(pid))) {
		if (dfs_now_ms() > deadline)
			return false;
		dfs_sleep_ms(5);
	}
	return true;
}

Test(mount, root_lists_build_packages_environments_audit_log)
{
	static const struct {
		const char *name;
		mode_t mode;
	} want[] = {
		{ "build", S_IFDIR | 0755 },
		{ "packages", S_IFDIR | 0555 },
		{ "environments", S_IFDIR | 0555 },
		{ "audit.log", S_IFREG | 0444 },
	};
	char names[512], path[PATH_MAX];
	struct stat st;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	cr_assert_eq(list_names(m.mnt, names, sizeof(names)), 4,
		     "root lists: %s", names);
	cr_expect_str_eq(names, "audit.log,build,environments,packages");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		dfs_path(path, sizeof(path), "%s/%s", m.mnt, want[i].name);
		cr_assert_eq(lstat(path, &st), 0, "lstat %s: %s", path,
			     strerror(errno));
		cr_expect_eq(st.st_mode, want[i].mode, "%s: mode %o, not %o",
			     want[i].name, st.st_mode, want[i].mode);
		cr_expect_eq(st.st_uid, getuid(), "%s: owner %u", want[i].name,
			     st.st_uid);
	}
}

Test(mount, build_lists_the_13_type_folders)
{
	char names[1024], path[PATH_MAX];
	char *save = NULL, *name;
	struct stat st;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	cr_expect_eq(list_names(m.build, names, sizeof(names)), 13,
		     "build/ lists: %s", names);
	cr_assert_str_eq(names, TYPE_FOLDERS);
	for (name = strtok_r(names, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		dfs_path(path, sizeof(path), "%s/%s", m.build, name);
		cr_assert_eq(lstat(path, &st), 0, "lstat %s: %s", path,
			     strerror(errno));
		cr_expect(S_ISDIR(st.st_mode), "build/%s is not a folder",
			  name);
	}
}

Test(mount, deployfs_version_prints_a_version)
{
	char out[512];
	int rc;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	rc = dfs_sh_out(&m, out, sizeof(out),
			"timeout 20 \"$DEPLOYFS\" --version");
	cr_expect_eq(rc, 0, "deployfs --version exited %d", rc);
	cr_expect(has_version(out), "no version on stdout: \"%s\"", out);
}

Test(mount, deployfs_help_mentions_store_and_mountpoint)
{
	char out[8192];
	int rc;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	rc = dfs_sh_out(&m, out, sizeof(out),
			"timeout 20 \"$DEPLOYFS\" --help");
	cr_expect_eq(rc, 0, "deployfs --help exited %d", rc);
	cr_expect(strstr(out, "STORE"), "STORE not on stdout: \"%s\"", out);
	cr_expect(strstr(out, "MOUNTPOINT"),
		  "MOUNTPOINT not on stdout: "
		  "\"%s\"",
		  out);
}

Test(mount, refuses_a_missing_store)
{
	char store[PATH_MAX], err[4096];
	int rc;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	cr_assert_eq(dfs_mount_stop(&m), 0);
	dfs_path(store, sizeof(store), "%s/missing", m.dir);
	rc = run_deployfs(store, m.mnt, err, sizeof(err));
	cr_expect_eq(rc, 1, "exit status %d, stderr: %s", rc, err);
	cr_expect(strstr(err, store), "stderr does not name %s: \"%s\"", store,
		  err);
	cr_expect_not(dfs_is_mounted(m.mnt), "it mounted anyway");
	cr_expect_eq(access(store, F_OK), -1, "%s was created", store);
}

Test(mount, refuses_an_empty_folder)
{
	char store[PATH_MAX], err[4096], names[256];
	int rc;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	cr_assert_eq(dfs_mount_stop(&m), 0);
	dfs_path(store, sizeof(store), "%s/empty", m.dir);
	cr_assert_eq(mkdir(store, 0755), 0);
	rc = run_deployfs(store, m.mnt, err, sizeof(err));
	cr_expect_eq(rc, 1, "exit status %d, stderr: %s", rc, err);
	cr_expect(strstr(err, store), "stderr does not name %s: \"%s\"", store,
		  err);
	cr_expect_not(dfs_is_mounted(m.mnt), "it mounted anyway");
	cr_expect_eq(list_names(store, names, sizeof(names)), 0,
		     "it wrote into the folder: %s", names);
}

struct refusal {
	int prep_rc;			  /* of damaging the store, 0 */
	int rc;				  /* deployfs' exit status, 1 */
	bool mounted;			  /* it mounted anyway */
	char err[4096];			  /* its stderr */
	char before[65536], after[65536]; /* digests of the store */
};

/* Stop the mount, damage the store with cmd, try to mount it. */
static void try_damaged_store(const char *cmd, struct refusal *r)
{
	r->prep_rc = dfs_mount_stop(&m);
	if (!r->prep_rc)
		r->prep_rc =
			dfs_sh(&m, "test -f \"$STORE/deployfs.db\" && %s", cmd);
	if (!r->prep_rc)
		r->prep_rc = digest(m.store, r->before, sizeof(r->before));
	if (r->prep_rc)
		return;
	r->rc = run_deployfs(m.store, m.mnt, r->err, sizeof(r->err));
	r->mounted = dfs_is_mounted(m.mnt);
	if (digest(m.store, r->after, sizeof(r->after)))
		snprintf(r->after, sizeof(r->after), "(digest failed)");
}

Test(mount, refuses_a_corrupt_database)
{
	static struct refusal r;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	try_damaged_store("yes 'this is not an SQLite database' | "
			  "head -c 65536 >\"$STORE/deployfs.db\"",
			  &r);
	cr_assert_eq(r.prep_rc, 0, "could not prepare the store");
	cr_expect_eq(r.rc, 1, "exit status %d, stderr: %s", r.rc, r.err);
	cr_expect(strstr(r.err, m.store), "stderr does not name %s: \"%s\"",
		  m.store, r.err);
	cr_expect_not(r.mounted, "it mounted anyway");
	cr_expect_str_eq(r.after, r.before, "the store changed");
}

Test(mount, refuses_a_database_from_a_newer_schema)
{
	static struct refusal r;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	try_damaged_store("sqlite3 \"$STORE/deployfs.db\" "
			  "'PRAGMA user_version=999'",
			  &r);
	cr_assert_eq(r.prep_rc, 0, "could not prepare the store");
	cr_expect_eq(r.rc, 1, "exit status %d, stderr: %s", r.rc, r.err);
	cr_expect(strstr(r.err, m.store), "stderr does not name %s: \"%s\"",
		  m.store, r.err);
	cr_expect_not(r.mounted, "it mounted anyway");
	cr_expect_str_eq(r.after, r.before, "the store changed");
}

Test(mount, refuses_a_store_already_mounted)
{
	static char before[65536], after[65536];
	char err[4096];
	struct stat st;
	int rc;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	cr_assert_eq(dfs_mount_stop(&m), 0);
	cr_assert_eq(digest(m.store, before, sizeof(before)), 0);
	cr_assert_eq(dfs_mount_start(&m), 0);
	cr_assert_eq(mkdir(mnt2, 0755), 0);
	rc = run_deployfs(m.store, mnt2, err, sizeof(err));
	cr_expect_eq(rc, 1, "exit status %d, stderr: %s", rc, err);
	cr_expect(strstr(err, m.store), "stderr does not name %s: \"%s\"",
		  m.store, err);
	cr_expect_not(dfs_is_mounted(mnt2), "a second daemon mounted");
	cr_expect_eq(stat(m.build, &st), 0, "first mount broken: %s",
		     strerror(errno));
	if (dfs_is_mounted(mnt2))
		umount2(mnt2, MNT_DETACH);
	cr_assert_eq(dfs_mount_stop(&m), 0,
		     "first daemon did not stop "
		     "cleanly (status %d)",
		     m.daemon_status);
	cr_assert_eq(digest(m.store, after, sizeof(after)), 0);
	cr_expect_str_eq(after, before, "the store changed");
}

Test(mount, deployctl_init_refuses_a_non_empty_folder)
{
	static char before[8192], after[8192];
	char dir[PATH_MAX], err[4096];
	int rc;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	dfs_path(dir, sizeof(dir), "%s/full", m.dir);
	cr_assert_eq(dfs_sh(&m, "mkdir '%s' && echo keep >'%s/file'", dir, dir),
		     0);
	cr_assert_eq(digest(dir, before, sizeof(before)), 0);
	rc = dfs_sh_out(&m, err, sizeof(err),
			"\"$DEPLOYCTL\" init '%s' 2>&1 >/dev/null", dir);
	cr_expect_neq(rc, 0, "deployctl init on a non-empty folder: 0");
	cr_expect_neq(err[0], '\0', "no message on stderr");
	cr_assert_eq(digest(dir, after, sizeof(after)), 0);
	cr_expect_str_eq(after, before, "the folder changed");
}

Test(mount, deployctl_version_and_help)
{
	char out[8192];
	int rc;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	rc = dfs_sh_out(&m, out, sizeof(out), "\"$DEPLOYCTL\" --version");
	cr_expect_eq(rc, 0, "deployctl --version exited %d", rc);
	cr_expect(has_version(out), "no version on stdout: \"%s\"", out);
	rc = dfs_sh_out(&m, out, sizeof(out), "\"$DEPLOYCTL\" --help");
	cr_expect_eq(rc, 0, "deployctl --help exited %d", rc);
	cr_expect(strstr(out, "init") && strstr(out, "fsck"),
		  "help does not list init and fsck: \"%s\"", out);
}

Test(mount, deployctl_fsck_passes_on_a_fresh_store)
{
	char out[4096];
	int rc;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	rc = dfs_sh_out(&m, out, sizeof(out),
			"\"$DEPLOYCTL\" init "
			"\"$DIR/fresh\" >/dev/null && \"$DEPLOYCTL\" fsck "
			"\"$DIR/fresh\"");
	cr_expect_eq(rc, 0, "fsck of a fresh store exited %d: %s", rc, out);
	rc = dfs_sh_out(&m, out, sizeof(out),
			"\"$DEPLOYCTL\" fsck "
			"\"$STORE\"");
	cr_expect_eq(rc, 0, "fsck of the mounted store exited %d: %s", rc, out);
}

/*
 * Without -f deployfs returns once the mount is up; after an unmount by
 * fusermount3 -u, then by umount, the daemon goes away and the store can
 * be mounted again.
 */
Test(mount, background_mount_then_fusermount_u_and_umount)
{
	static const char *const unmount[] = { "fusermount3 -u", "umount" };
	char names[512];

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	cr_assert_eq(dfs_mount_stop(&m), 0);
	for (int i = 0; i < 2; i++) {
		pid_t pid;
		int rc;

		rc = dfs_sh(&m, "timeout 20 \"$DEPLOYFS\" \"$STORE\" "
				"\"$MNT\" >\"$DIR/bg.log\" 2>&1");
		cr_assert_eq(rc, 0, "background deployfs exited %d", rc);
		cr_assert(dfs_is_mounted(m.mnt), "not mounted when deployfs "
						 "returned");
		cr_expect_eq(list_names(m.mnt, names, sizeof(names)), 4,
			     "root lists: %s", names);
		pid = find_daemon(m.store, m.mnt);
		rc = dfs_sh(&m, "%s \"$MNT\"", unmount[i]);
		cr_expect_eq(rc, 0, "%s exited %d", unmount[i], rc);
		cr_assert(wait_gone(m.mnt, pid),
			  "after %s: mounted=%d, "
			  "daemon %d alive=%d after %d ms",
			  unmount[i], dfs_is_mounted(m.mnt), (int)pid,
			  alive(pid), DEADLINE_MS);
	}
	cr_expect_eq(dfs_mount_start(&m), 0,
		     "the store cannot be mounted "
		     "again after the unmounts");
}

/*
 * The readahead the daemon raises is what the mount gets: the kernel
 * keeps the smaller of the bdi's and what INIT asks for, and INIT used
 * to take it back to 128 KiB, so cold sequential reads ran in 128 KiB
 * round trips.  1008 KiB, not 1 MiB: a READ of that size is answered
 * by splice, its reply with libfuse's margin within a 1 MiB pipe (at
 * 1 MiB, libfuse fell back to a read() and a writev() per READ).
 */
Test(mount, the_mount_reads_ahead_1008_kib)
{
	char out[64];

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	cr_assert_eq(dfs_sh_out(&m, out, sizeof(out),
				"cat /sys/class/bdi/$(mountpoint -d \"$MNT\")"
				"/read_ahead_kb"),
		     0);
	cr_expect_str_eq(out, "1008\n", "read_ahead_kb: %s", out);
}

/*
 * Files still open when the daemon stops (an unmount that races the
 * kernel's last RELEASE, or a SIGTERM while a program holds them) are
 * released by the daemon itself: a written file keeps its bytes, and
 * nothing is leaked (under the sanitizer a leak ends the daemon with a
 * failing status; CI once saw audit.log's handle leak that way).
 */
Test(mount, files_left_open_at_the_end_are_released_and_kept)
{
	int log_fd, rd_fd, wr_fd;
	char buf[64], path[PATH_MAX];
	ssize_t n;

	cr_assert_eq(setup_rc, 0, "mount setup: %s", strerror(-setup_rc));
	dfs_ok(&m, "printf 'kept' > \"$MNT/build/script/open-read.txt\"");
	log_fd = open(dfs_path(path, sizeof(path), "%s/audit.log", m.mnt),
		      O_RDONLY);
	rd_fd = open(dfs_path(path, sizeof(path),
			      "%s/build/script/open-read.txt", m.mnt),
		     O_RDONLY);
	wr_fd = open(dfs_path(path, sizeof(path),
			      "%s/build/script/open-write.txt", m.mnt),
		     O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(log_fd >= 0 && rd_fd >= 0 && wr_fd >= 0, "open: %s",
		  strerror(errno));
	cr_assert(read(log_fd, buf, 1) >= 0);
	cr_assert_eq(write(wr_fd, "answered", 8), 8);

	/* The mount is busy: umount fails and the daemon gets SIGTERM. */
	cr_expect_eq(dfs_mount_stop(&m), 0, "the daemon ended with status %#x",
		     m.daemon_status);
	close(log_fd);
	close(rd_fd);
	close(wr_fd);
	cr_expect_eq(
		dfs_sh(&m, "grep -q 'released 3 file(s)' \"$DIR/daemon.log\""),
		0, "the daemon did not release the 3 open files");

	cr_assert_eq(dfs_mount_start(&m), 0);
	n = dfs_read_file(dfs_path(path, sizeof(path),
				   "%s/build/script/open-write.txt", m.mnt),
			  buf, sizeof(buf) - 1);
	cr_assert_eq(n, 8, "read back %zd bytes", n);
	cr_expect(memcmp(buf, "answered", 8) == 0);
}
