// SPDX-License-Identifier: MIT
/*
 * test_environments.c - environments/ and audit.log (issue #4, the
 * contract in docs/environments.md): environment folders and who may
 * deploy there, classification, deploy and redeploy by link (ln -s,
 * ln -sfn), rollback, undeploy (rm, rmdir, rm -r), moves (EXDEV, so mv
 * copies then removes), open files across a redeploy, packages busy while
 * deployed, warnings and notes of a deployment, durability across a
 * kill -9 of the daemon, concurrent deployers, and audit.log itself
 * (read-only, every key on every line, seq increasing, quoting, tail -f).
 * Each test builds the fixture workspace in build/, packages order-sync
 * (twice, the map differs) and partner-cert, and drives the mount with
 * real tools.  The audit trail is read through audit.log and parsed.
 */
#include "expect.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define ENVS "\"$MNT/environments\""
#define PKGS "\"$MNT/packages\""
/* A link target, relative to environments/ENV/. */
#define REL "../../packages/order-sync/order-sync@"
#define MAP_XML "\"$BUILD/map/order-map/map.xml\""
#define NOBODY 65534
#define BIG_LEN (1u << 20)
#define AUDIT_CAP (4u << 20)
#define DEADLINE_MS 5000
#define MAX_CHILDREN 4

static struct dfs_mount m;
static int setup_rc;
static pid_t children[MAX_CHILDREN]; /* killed by teardown if still there */
static char tree_before[65536], tree_after[65536];

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
}

static void teardown(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0) {
			/* Its own process group: the shell and its ln. */
			kill(-children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
	dfs_mount_teardown(&m);
}

TestSuite(environments, .init = setup, .fini = teardown, .timeout = 240);

/* ---- shell, paths, time ------------------------------------------------- */

/* MNT/environments/REL */
__attribute__((format(printf, 2, 3))) static char *ep(char *buf,
						      const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(rel));
	return dfs_path(buf, PATH_MAX, "%s/environments/%s", m.mnt, rel);
}

/* ---- setup of a test ---------------------------------------------------- */

static void copy_workspace(void)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0,
		     "cp -a of the fixture workspace");
}

static void package(const char *component, const char *version)
{
	dfs_ok(&m, "mkdir " PKGS "/%s/%s@%s", component, component, version);
}

/* order-sync@1 and @2 (the map differs) and partner-cert@1. */
static void packages(void)
{
	package("order-sync", "1");
	dfs_ok(&m, "sed -i 's|Line/UnitPrice|Line/NetPrice|' " MAP_XML);
	package("order-sync", "2");
	package("partner-cert", "1");
}

static void make_envs(void)
{
	dfs_ok(&m, "mkdir " ENVS "/test " ENVS "/production");
}

/* The workspace, the packages, environments test and production. */
static void prepare(void)
{
	copy_workspace();
	packages();
	make_envs();
}

/* ---- what an environment shows ----------------------------------------- */

/* The names in environments/ENV, one line, space separated. */
static char *ls_env(char *buf, size_t cap, const char *env)
{
	return dfs_out(&m, buf, cap, "ls -A " ENVS "/%s | paste -sd' '", env);
}

/* user.deployfs.NAME of environments/REL, read with getfattr. */
static char *meta(char *buf, size_t cap, const char *rel, const char *name)
{
	return dfs_out(&m, buf, cap,
		       "getfattr --absolute-names --only-values "
		       "-n user.deployfs.%s " ENVS "/%s",
		       name, rel);
}

static char *readlink_env(char *buf, size_t cap, const char *rel)
{
	return dfs_out(&m, buf, cap, "readlink " ENVS "/%s", rel);
}

/* ln FLAGS ../../packages/C/C@V environments/ENV/C, run in $MNT. */
static void link_deploy(const char *flags, const char *env, const char *comp,
			const char *version)
{
	dfs_ok(&m,
	       "cd \"$MNT\" && ln %s ../../packages/%s/%s@%s environments/%s/%s",
	       flags, comp, comp, version, env, comp);
}

/* order-sync@V is what ENV shows, and nothing else is. */
static void assert_only(const char *env, const char *version)
{
	char buf[512], want[256], rel[128];

	dfs_path(want, sizeof(want), "order-sync order-sync@%s", version);
	cr_assert_str_eq(ls_env(buf, sizeof(buf), env), want, "ls %s", env);
	dfs_path(rel, sizeof(rel), "%s/order-sync", env);
	dfs_path(want, sizeof(want), REL "%s", version);
	cr_assert_str_eq(readlink_env(buf, sizeof(buf), rel), want,
			 "readlink %s", rel);
	dfs_path(rel, sizeof(rel), "%s/order-sync@%s", env, version);
	cr_assert_str_eq(meta(buf, sizeof(buf), rel, "state"), "deployed");
	cr_assert_str_eq(meta(buf, sizeof(buf), rel, "version"), version);
	cr_assert_str_eq(meta(buf, sizeof(buf), rel, "component"),
			 "order-sync");
}

static void assert_empty(const char *env)
{
	char buf[512];

	cr_assert_str_eq(ls_env(buf, sizeof(buf), env), "", "ls %s", env);
}

static long deployment_number(const char *env, const char *version)
{
	char buf[64], rel[128];

	dfs_path(rel, sizeof(rel), "%s/order-sync@%s", env, version);
	return atol(meta(buf, sizeof(buf), rel, "deployment"));
}

/* environments/ to depth 2 with the attributes of the N@V folders. */
static void env_tree(char *buf, size_t cap)
{
	dfs_out(&m, buf, cap,
		"cd " ENVS " && find . -maxdepth 2 -printf "
		"'%%M %%U %%G %%p %%l\\n' | sort -k4 && "
		"for d in */*@*; do [ -e \"$d\" ] || continue; "
		"getfattr -d \"$d\"; done; ls " PKGS "/*");
}

static void snapshot(void)
{
	env_tree(tree_before, sizeof(tree_before));
}

static void assert_unchanged(const char *what)
{
	env_tree(tree_after, sizeof(tree_after));
	cr_assert_str_eq(tree_after, tree_before, "%s changed environments/",
			 what);
}

/* ---- audit.log ---------------------------------------------------------- */

enum {
	K_TS,
	K_SEQ,
	K_ACTOR,
	K_UID,
	K_PID,
	K_CMD,
	K_ACTION,
	K_ENV,
	K_COMPONENT,
	K_VERSION,
	K_FROM,
	K_DEPLOYMENT,
	K_RESULT,
	K_REASON,
	NKEYS
};

static const char *const keys[NKEYS] = {
	"ts",  "seq",	    "actor",   "uid",  "pid",	     "cmd",    "action",
	"env", "component", "version", "from", "deployment", "result", "reason",
};

struct event {
	char val[NKEYS][1024];
	bool has[NKEYS];
};

static char audit_buf[AUDIT_CAP + 1];

static int key_index(const char *k, size_t len)
{
	for (int i = 0; i < NKEYS; i++)
		if (strlen(keys[i]) == len && memcmp(keys[i], k, len) == 0)
			return i;
	return -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parse one line (without its newline) into ev.  Every key of keys[] must
 * be there exactly once and in that order (others are skipped); a value
 * with a space, '=', '"' or a control character must be quoted.  Returns
 * NULL or what is wrong.
 */
static const char *parse_line(const char *s, size_t len, struct event *ev)
{
	const char *end = s + len;
	int last = -1;

	memset(ev, 0, sizeof(*ev));
	while (s < end) {
		const char *k = s, *eq = memchr(s, '=', (size_t)(end - s));
		char tmp[1024];
		size_t n = 0;
		int idx;

		if (!eq || eq == k)
			return "a field without key=";
		for (const char *c = k; c < eq; c++)
			if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
				return "a key that is not [a-z_]";
		idx = key_index(k, (size_t)(eq - k));
		s = eq + 1;
		if (s < end && *s == '"') {
			for (s++;; s++) {
				if (s >= end)
					return "an unterminated quote";
				if (*s == '"')
					break;
				if ((unsigned char)*s < 0x20)
					return "a raw control character";
				if (*s == '\\') {
					if (++s >= end)
						return "a trailing backslash";
					if (*s == 'n')
						tmp[n] = '\n';
					else if (*s == 't')
						tmp[n] = '\t';
					else if (*s == '"' || *s == '\\')
						tmp[n] = *s;
					else if (*s == 'x' && end - s > 2 &&
						 hexval(s[1]) >= 0 &&
						 hexval(s[2]) >= 0) {
						tmp[n] = (char)(hexval(s[1]) *
									16 +
								hexval(s[2]));
						s += 2;
					} else
						return "an unknown escape";
				} else
					tmp[n] = *s;
				if (++n >= sizeof(tmp))
					return "a value too long for the test";
			}
			s++;
		} else {
			for (; s < end && *s != ' '; s++) {
				if (*s == '"' || *s == '=' ||
				    (unsigned char)*s < 0x20 || *s == 0x7f)
					return "an unquoted value with '\"', "
					       "'=' or a control character";
				tmp[n] = *s;
				if (++n >= sizeof(tmp))
					return "a value too long for the test";
			}
		}
		tmp[n] = '\0';
		if (s < end) {
			if (*s != ' ')
				return "no space after a value";
			s++;
			if (s == end)
				return "a trailing space";
		}
		if (idx < 0)
			continue;
		if (ev->has[idx])
			return "a key twice";
		if (idx < last)
			return "keys out of order";
		last = idx;
		ev->has[idx] = true;
		memcpy(ev->val[idx], tmp, n + 1);
	}
	for (int i = 0; i < NKEYS; i++)
		if (!ev->has[i])
			return "a key missing";
	return NULL;
}

/* The whole of audit.log into audit_buf; its length. */
static size_t read_audit(void)
{
	char p[PATH_MAX];
	ssize_t n = dfs_read_file(dfs_path(p, sizeof(p), "%s/audit.log", m.mnt),
				  audit_buf, AUDIT_CAP);

	cr_assert_geq(n, 0, "read audit.log: %s", strerror((int)-n));
	cr_assert_lt(n, (ssize_t)AUDIT_CAP, "audit.log too large for the test");
	audit_buf[n] = '\0';
	return (size_t)n;
}

/* The last bytes of audit_buf, for failure messages. */
static const char *audit_tail(void)
{
	size_t n = strlen(audit_buf);

	return n > 2500 ? audit_buf + n - 2500 : audit_buf;
}

/*
 * Does ev match spec, "key=value;key=value"?  A value ending in '*' is a
 * prefix; "a|b" are alternatives.
 */
static bool matches(const struct event *ev, const char *spec)
{
	char copy[1024], *save = NULL, *pair;

	snprintf(copy, sizeof(copy), "%s", spec);
	for (pair = strtok_r(copy, ";", &save); pair;
	     pair = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(pair, '='), *alt, *asave = NULL;
		bool any = false;
		int idx;

		cr_assert_not_null(eq, "bad spec %s", spec);
		idx = key_index(pair, (size_t)(eq - pair));
		cr_assert_geq(idx, 0, "bad key in spec %s", spec);
		if (!eq[1])
			any = ev->val[idx][0] == '\0';
		for (alt = strtok_r(eq + 1, "|", &asave); alt && !any;
		     alt = strtok_r(NULL, "|", &asave)) {
			size_t n = strlen(alt);

			if (n && alt[n - 1] == '*')
				any = strncmp(ev->val[idx], alt, n - 1) == 0;
			else
				any = strcmp(ev->val[idx], alt) == 0;
		}
		if (!any)
			return false;
	}
	return true;
}

/*
 * Call fn on each event of audit_buf (after read_audit) in order; asserts
 * every line is whole and parses.  Returns the number of lines.
 */
static long each_event(void (*fn)(const struct event *ev, void *arg), void *arg)
{
	static struct event ev;
	const char *s = audit_buf;
	long lines = 0;

	while (*s) {
		const char *nl = strchr(s, '\n');
		const char *err;

		cr_assert_not_null(nl, "audit.log ends in a partial line: %s",
				   s);
		err = parse_line(s, (size_t)(nl - s), &ev);
		cr_assert_null(err, "audit.log line %ld has %s:\n%.*s",
			       lines + 1, err, (int)(nl - s), s);
		if (fn)
			fn(&ev, arg);
		lines++;
		s = nl + 1;
	}
	return lines;
}

struct count_arg {
	const char *spec;
	long n;
	struct event last;
};

static void count_one(const struct event *ev, void *arg)
{
	struct count_arg *c = arg;

	if (matches(ev, c->spec)) {
		c->n++;
		c->last = *ev;
	}
}

/* Events matching spec now in audit.log. */
static long audit_count(const char *spec)
{
	static struct count_arg c;

	c.spec = spec;
	c.n = 0;
	read_audit();
	each_event(count_one, &c);
	return c.n;
}

/*
 * Wait (deadline DEADLINE_MS) until audit.log has want events matching
 * spec, then assert it has exactly want; returns the last such event.
 */
static const struct event *audit_expect(const char *spec, long want)
{
	static struct count_arg c;
	long deadline = dfs_now_ms() + DEADLINE_MS;

	for (;;) {
		c.spec = spec;
		c.n = 0;
		read_audit();
		each_event(count_one, &c);
		if (c.n >= want || dfs_now_ms() > deadline)
			break;
		dfs_sleep_ms(10);
	}
	cr_assert_eq(c.n, want,
		     "%ld audit events match %s, want %ld; audit.log ends:\n%s",
		     c.n, spec, want, audit_tail());
	return &c.last;
}

/* spec with ";reason=STRERROR(err)*" and result=refused. */
static char *refused_spec(char *buf, size_t cap, const char *spec, int err)
{
	return dfs_path(buf, cap, "%s;result=refused;reason=%s*", spec,
			strerror(err));
}

/* ---- environments ------------------------------------------------------- */

Test(environments, mkdir_and_rmdir_an_environment)
{
	char p[PATH_MAX], buf[512];
	const struct event *ev;
	struct stat st;
	mode_t old;

	copy_workspace();
	packages();
	old = umask(027);
	cr_assert_eq(mkdir(ep(p, "test"), 0777), 0, "mkdir: %s",
		     strerror(errno));
	umask(old);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0750, "mode %o, umask 027 ignored",
		     st.st_mode & 07777);
	cr_assert_eq(st.st_uid, 0);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf), "ls " ENVS), "test");
	ev = audit_expect("action=env-create;env=test;result=ok;actor=root;"
			  "uid=0",
			  1);
	cr_assert_str_eq(ev->val[K_REASON], "");

	/* Not empty: ENOTEMPTY, recorded, still there. */
	link_deploy("-s", "test", "order-sync", "1");
	ASSERT_ERRNO(rmdir(p), ENOTEMPTY);
	audit_expect(refused_spec(buf, sizeof(buf),
				  "action=env-remove;env=test", ENOTEMPTY),
		     1);
	assert_only("test", "1");

	/* Empty: removed, recorded; the name can be used again. */
	dfs_ok(&m, "rm " ENVS "/test/order-sync");
	cr_assert_eq(rmdir(p), 0, "rmdir: %s", strerror(errno));
	ASSERT_ERRNO(stat(p, &st), ENOENT);
	audit_expect("action=env-remove;env=test;result=ok", 1);
	cr_assert_null(
		strstr(dfs_out(&m, buf, sizeof(buf), "ls -A " ENVS), "test"));
	dfs_ok(&m, "mkdir " ENVS "/test");
	assert_empty("test");
	audit_expect("action=env-create;env=test;result=ok", 2);
}

/*
 * environments/ itself is cached by the kernel (a deploy by link walks
 * it several times): its link count still follows each mkdir and rmdir
 * of an environment at once, since only they change it.
 */
Test(environments, the_environments_folder_counts_its_environments)
{
	struct stat st;
	char p[PATH_MAX];

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(
		stat(dfs_path(p, sizeof(p), "%s/environments", m.mnt), &st), 0);
	cr_expect_eq(st.st_nlink, 2, "nlink %lu with no environment",
		     (unsigned long)st.st_nlink);
	cr_assert_eq(mkdir(ep(p, "one"), 0755), 0);
	cr_assert_eq(mkdir(ep(p, "two"), 0755), 0);
	cr_assert_eq(
		stat(dfs_path(p, sizeof(p), "%s/environments", m.mnt), &st), 0);
	cr_expect_eq(st.st_nlink, 4, "nlink %lu with two environments",
		     (unsigned long)st.st_nlink);
	cr_assert_eq(rmdir(ep(p, "one")), 0);
	cr_assert_eq(
		stat(dfs_path(p, sizeof(p), "%s/environments", m.mnt), &st), 0);
	cr_expect_eq(st.st_nlink, 3, "nlink %lu after one rmdir",
		     (unsigned long)st.st_nlink);
	ASSERT_ERRNO(stat(ep(p, "one"), &st), ENOENT);
	cr_expect_eq(stat(ep(p, "two"), &st), 0);
}

Test(environments, a_staging_copy_keeps_its_environment)
{
	char p[PATH_MAX], buf[256], spec[256];

	prepare();
	dfs_ok(&m, "mkdir " ENVS "/test/order-sync@1");
	cr_assert_str_eq(meta(buf, sizeof(buf), "test/order-sync@1", "state"),
			 "staging");
	ASSERT_ERRNO(rmdir(ep(p, "test")), ENOTEMPTY);
	audit_expect(refused_spec(spec, sizeof(spec),
				  "action=env-remove;env=test", ENOTEMPTY),
		     1);
	dfs_ok(&m, "rm -r " ENVS "/test/order-sync@1");
	audit_expect("action=staging-remove;env=test;component=order-sync;"
		     "version=1;result=ok",
		     1);
	cr_assert_eq(rmdir(p), 0, "rmdir: %s", strerror(errno));
	cr_assert_eq(audit_count("action=deploy|rollback;result=ok"), 0);
}

Test(environments, names_at_the_edges_of_the_rule_are_valid)
{
	static const char *const good[] = {
		"Prod_1.2-x",
		"x",
		"0",
		"a.",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char p[PATH_MAX], spec[256];
	struct stat st;

	copy_workspace();
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_expect_eq(mkdir(ep(p, "%s", good[i]), 0755), 0,
			     "mkdir environments/%s: %s", good[i],
			     strerrorname_np(errno));
		cr_expect_eq(stat(p, &st), 0, "%s", good[i]);
		dfs_path(spec, sizeof(spec),
			 "action=env-create;env=%s;result=ok", good[i]);
		cr_expect_eq(audit_count(spec), 1, "%s", spec);
	}
}

Test(environments, a_bad_environment_name_is_einval_and_recorded)
{
	static const char *const bad[] = {
		".hidden",
		"-x",
		"_x",
		"two words",
		"x!y",
		"a@1",
		"col:on",
		"caf\xc3\xa9",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char p[PATH_MAX], spec[256];
	long n0;

	copy_workspace();
	packages();
	make_envs();
	spec[0] = '\0';
	refused_spec(spec, sizeof(spec), "action=env-create", EINVAL);
	n0 = audit_count(spec);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snapshot();
		errno = 0;
		cr_assert_eq(mkdir(ep(p, "%s", bad[i]), 0755), -1,
			     "mkdir environments/%s succeeded", bad[i]);
		cr_assert_eq(errno, EINVAL, "mkdir environments/%s: %s", bad[i],
			     strerrorname_np(errno));
		assert_unchanged(bad[i]);
		audit_expect(spec, n0 + (long)i + 1);
	}
}

Test(environments, only_folders_in_environments)
{
	char p[PATH_MAX], q[PATH_MAX];

	prepare();
	snapshot();
	ASSERT_ERRNO(open(ep(p, "file"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644),
		     EPERM);
	ASSERT_ERRNO(symlink("test", ep(p, "link")), EPERM);
	ASSERT_ERRNO(mkfifo(ep(p, "fifo"), 0644), EPERM);
	dfs_path(q, sizeof(q), "%s/process/order-sync/process.xml", m.build);
	/* A hard link: EPERM by the table; EXDEV would do (another area). */
	errno = 0;
	cr_assert_eq(link(q, ep(p, "hard")), -1);
	cr_assert(errno == EPERM || errno == EXDEV, "link: %s",
		  strerrorname_np(errno));
	assert_unchanged("a file in environments/");
}

/* Runs as nobody. */
struct nb_op {
	enum { NB_SYMLINK, NB_MKDIR } op;
	const char *target;
	char path[PATH_MAX];
};

/* 0, or the errno of the call. */
static int nobody_op(void *arg)
{
	const struct nb_op *o = arg;
	int rc;

	umask(022);
	if (o->op == NB_SYMLINK)
		rc = symlink(o->target, o->path);
	else
		rc = mkdir(o->path, 0755);
	return rc == 0 ? 0 : errno;
}

static int as_nobody(int op, const char *target, const char *path)
{
	static struct nb_op o;

	o.op = op;
	o.target = target;
	snprintf(o.path, sizeof(o.path), "%s", path);
	return dfs_as_nobody(nobody_op, &o);
}

Test(environments, chmod_chown_chgrp_decide_who_may_deploy)
{
	char p[PATH_MAX], buf[512];
	struct stat st;
	int rc;

	prepare();
	ep(p, "test");
	cr_assert_eq(chmod(p, 0750), 0, "chmod: %s", strerror(errno));
	dfs_ok(&m, "chgrp %d " ENVS "/test", NOBODY);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0750, "mode %o", st.st_mode & 07777);
	cr_assert_eq(st.st_gid, NOBODY, "gid %u", st.st_gid);
	cr_assert_eq(st.st_uid, 0);

	/* The group may read, not deploy. */
	rc = as_nobody(NB_SYMLINK, REL "1", ep(buf, "test/order-sync"));
	cr_assert_eq(rc, EACCES, "nobody ln -s in 0750: %s", strerror(rc));
	assert_empty("test");

	/* Group write: nobody may deploy. */
	dfs_ok(&m, "chmod g+w " ENVS "/test");
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0770, "mode %o", st.st_mode & 07777);
	rc = as_nobody(NB_SYMLINK, REL "1", ep(buf, "test/order-sync"));
	cr_assert_eq(rc, 0, "nobody ln -s in 0770 group nobody: %s",
		     strerror(rc));
	assert_only("test", "1");
	cr_assert_str_eq(
		meta(buf, sizeof(buf), "test/order-sync@1", "deployed_by"),
		"nobody");
	audit_expect("action=deploy;env=test;component=order-sync;version=1;"
		     "result=ok;actor=nobody;uid=65534",
		     1);

	/* The owner: chown, and the change survives a remount. */
	cr_assert_eq(chown(ep(p, "production"), NOBODY, 0), 0, "chown: %s",
		     strerror(errno));
	dfs_ok(&m, "chmod 0700 " ENVS "/production");
	cr_assert_eq(dfs_mount_stop(&m), 0, "daemon exit status %#x",
		     m.daemon_status);
	cr_assert_eq(dfs_mount_start(&m), 0);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0700, "mode %o after remount",
		     st.st_mode & 07777);
	cr_assert_eq(st.st_uid, NOBODY, "uid %u after remount", st.st_uid);
	cr_assert_eq(st.st_gid, 0, "gid %u after remount", st.st_gid);
	cr_assert_eq(stat(ep(p, "test"), &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0770);
	cr_assert_eq(st.st_gid, NOBODY);
	rc = as_nobody(NB_SYMLINK, REL "2", ep(buf, "production/order-sync"));
	cr_assert_eq(rc, 0, "owner nobody ln -s: %s", strerror(rc));
	assert_only("production", "2");
}

Test(environments, nobody_needs_write_permission_to_deploy)
{
	char p[PATH_MAX];
	int rc;

	prepare();
	/* environments/test is 0755 root: the kernel answers EACCES. */
	rc = as_nobody(NB_SYMLINK, REL "1", ep(p, "test/order-sync"));
	cr_assert_eq(rc, EACCES, "nobody ln -s: %s", strerror(rc));
	rc = as_nobody(NB_MKDIR, NULL, ep(p, "test/order-sync@1"));
	cr_assert_eq(rc, EACCES, "nobody mkdir N@V: %s", strerror(rc));
	/* The kernel refused both; the daemon learns of it from the
	 * kernel's second look at the folder's attributes. */
	audit_expect("action=access;env=test;result=refused;actor=nobody;"
		     "uid=65534",
		     2);
	rc = as_nobody(NB_MKDIR, NULL, ep(p, "nobodys"));
	cr_assert_eq(rc, EACCES, "nobody mkdir environments/ENV: %s",
		     strerror(rc));
	assert_empty("test");
	cr_assert_eq(audit_count("action=deploy|rollback;result=ok"), 0);

	dfs_ok(&m, "chmod 777 " ENVS "/test");
	rc = as_nobody(NB_SYMLINK, REL "1", ep(p, "test/order-sync"));
	cr_assert_eq(rc, 0, "nobody ln -s in a 0777 environment: %s",
		     strerror(rc));
	assert_only("test", "1");
	audit_expect("action=deploy;env=test;component=order-sync;version=1;"
		     "result=ok;actor=nobody;uid=65534;deployment=1",
		     1);
}

Test(environments, classification_is_set_once)
{
	char p[PATH_MAX], buf[256], spec[256];
	const struct event *ev;

	prepare();
	ep(p, "test");
	ASSERT_ERRNO(
		getxattr(p, "user.deployfs.classification", buf, sizeof(buf)),
		ENODATA);
	dfs_ok(&m, "setfattr -n user.deployfs.classification -v test " ENVS
		   "/test");
	dfs_ok(&m,
	       "setfattr -n user.deployfs.classification -v production " ENVS
	       "/production");
	cr_assert_str_eq(meta(buf, sizeof(buf), "test", "classification"),
			 "test");
	cr_assert_str_eq(meta(buf, sizeof(buf), "production", "classification"),
			 "production");
	ev = audit_expect("action=classification;env=test;result=ok", 1);
	cr_assert_str_eq(ev->val[K_ACTOR], "root");
	audit_expect("action=classification;env=production;result=ok", 1);

	/* A second set: EPERM, recorded, unchanged. */
	ASSERT_ERRNO(setxattr(p, "user.deployfs.classification", "production",
			      10, 0),
		     EPERM);
	cr_assert_str_eq(meta(buf, sizeof(buf), "test", "classification"),
			 "test");
	audit_expect(refused_spec(spec, sizeof(spec),
				  "action=classification;env=test", EPERM),
		     1);

	/* Another value: EINVAL, recorded, still unset. */
	dfs_ok(&m, "mkdir " ENVS "/staging");
	ep(p, "staging");
	ASSERT_ERRNO(setxattr(p, "user.deployfs.classification", "qa", 2, 0),
		     EINVAL);
	ASSERT_ERRNO(
		getxattr(p, "user.deployfs.classification", buf, sizeof(buf)),
		ENODATA);
	audit_expect(refused_spec(spec, sizeof(spec),
				  "action=classification;env=staging", EINVAL),
		     1);
	/* It can still be set once after the refusal. */
	cr_assert_eq(setxattr(p, "user.deployfs.classification", "test", 4, 0),
		     0, "setxattr: %s", strerror(errno));
	cr_assert_str_eq(meta(buf, sizeof(buf), "staging", "classification"),
			 "test");
}

/* ---- deploy by link ----------------------------------------------------- */

/* Entries of a tree with their metadata, relative to it. */
#define TREE_OF(dir)                                     \
	"cd " dir " && find . ! -name partner-cert "     \
	"-printf '%%m %%U %%G %%s %%T@ %%y %%p %%l\\n' " \
	"| sort -k7"

Test(environments, ln_s_deploys_and_ln_sfn_redeploys)
{
	char buf[16384], want[16384];
	const struct event *ev;

	prepare();
	link_deploy("-s", "test", "order-sync", "1");
	assert_only("test", "1");
	cr_assert_eq(deployment_number("test", "1"), 1);
	ev = audit_expect("action=deploy;env=test;component=order-sync;"
			  "version=1;from=;deployment=1;result=ok",
			  1);
	cr_assert_str_eq(ev->val[K_CMD],
			 "ln -s " REL "1 environments/test/order-sync");
	cr_assert_str_eq(ev->val[K_ACTOR], "root");
	cr_assert_str_eq(ev->val[K_UID], "0");
	cr_assert_gt(atol(ev->val[K_PID]), 0);
	cr_assert_str_eq(
		meta(buf, sizeof(buf), "test/order-sync@1", "deployed_by"),
		"root");

	/* The folder is the package: content and metadata. */
	dfs_ok(&m, "diff -r --no-dereference -x partner-cert " PKGS
		   "/order-sync/order-sync@1 " ENVS "/test/order-sync@1");
	dfs_out(&m, want, sizeof(want),
		TREE_OF(PKGS "/order-sync/order-sync@1"));
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 TREE_OF(ENVS "/test/order-sync@1")),
			 want);
	/* The link leads to packages/. */
	dfs_ok(&m,
	       "cmp \"$FIXTURES/workspace/process/order-sync/process.xml\" " ENVS
	       "/test/order-sync/process.xml");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "realpath " ENVS "/test/order-sync"),
			 dfs_out(&m, want, sizeof(want),
				 "realpath " PKGS "/order-sync/order-sync@1"));
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cd \"$MNT\" && realpath --relative-to=. "
				 "environments/test/order-sync"),
			 "packages/order-sync/order-sync@1");

	/* ln -sfn: the rename is the deployment, the old version goes. */
	link_deploy("-sfn", "test", "order-sync", "2");
	assert_only("test", "2");
	cr_assert_eq(deployment_number("test", "2"), 2);
	ASSERT_ERRNO(access(ep(buf, "test/order-sync@1"), F_OK), ENOENT);
	ev = audit_expect("action=deploy;env=test;component=order-sync;"
			  "version=2;from=1;deployment=2;result=ok",
			  1);
	cr_assert_str_eq(ev->val[K_CMD],
			 "ln -sfn " REL "2 environments/test/order-sync");
	dfs_ok(&m,
	       "cmp " MAP_XML " " ENVS "/test/order-sync@2/order-map/map.xml");
	dfs_ok(&m,
	       "cmp " MAP_XML " " ENVS "/test/order-sync/order-map/map.xml");
	/* Both deployments are records; the replaced one ended. */
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf),
			"sqlite3 \"$STORE/deployfs.db\" 'SELECT number, "
			"active, via, ended IS NOT NULL, uid, created_by "
			"FROM deployments ORDER BY number'"),
		"1|0|link|1|0|root\n2|1|link|0|0|root");
	/* No temporary link of ln is left over anywhere. */
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "find " ENVS " -mindepth 2 -maxdepth 2 "
				 "-printf '%%P\\n' | sort | paste -sd' '"),
			 "test/order-sync test/order-sync@2");
}

Test(environments, a_link_to_latest_or_absolute_reads_back_concrete)
{
	char buf[512];

	prepare();
	dfs_ok(&m, "cd \"$MNT\" && ln -s ../../packages/order-sync/latest "
		   "environments/test/order-sync");
	assert_only("test", "2");
	audit_expect("action=deploy;env=test;component=order-sync;version=2;"
		     "result=ok",
		     1);
	/* latest moves on; what was deployed does not. */
	package("order-sync", "3");
	cr_assert_str_eq(readlink_env(buf, sizeof(buf), "test/order-sync"),
			 REL "2");

	/* Absolute, with a trailing slash. */
	dfs_ok(&m, "ln -s \"$MNT/packages/order-sync/order-sync@1/\" " ENVS
		   "/production/order-sync");
	assert_only("production", "1");
	dfs_ok(&m, "ln -sfn \"$MNT/packages/order-sync/latest/\" " ENVS
		   "/production/order-sync");
	assert_only("production", "3");
	audit_expect("action=deploy;env=production;component=order-sync;"
		     "version=3;from=1;deployment=2;result=ok",
		     1);
}

/* symlink(target, environments/ENV/name) fails with EINVAL, changes
 * nothing and is recorded once. */
static void refused_link(const char *target, const char *env, const char *name)
{
	char p[PATH_MAX], spec[256];
	int rc, e;
	long n0;

	dfs_path(spec, sizeof(spec), "env=%s;result=refused;reason=%s*", env,
		 strerror(EINVAL));
	n0 = audit_count(spec);
	snapshot();
	errno = 0;
	rc = symlink(target, ep(p, "%s/%s", env, name));
	e = errno;
	cr_assert(rc == -1 && e == EINVAL, "ln -s %s %s/%s: %s, want EINVAL",
		  target, env, name, rc == 0 ? "success" : strerrorname_np(e));
	assert_unchanged(target);
	audit_expect(spec, n0 + 1);
}

Test(environments, a_link_to_anything_but_a_package_of_n_is_einval)
{
	char p[PATH_MAX], spec[256], buf[256];
	long n0;

	prepare();
	refused_link("../../build/process/order-sync", "test", "order-sync");
	refused_link("../../packages/partner-cert/partner-cert@1", "test",
		     "order-sync");
	refused_link("nonsense", "test", "order-sync");
	refused_link(REL "9", "test", "order-sync");
	refused_link("../../packages/order-sync", "test", "order-sync");
	refused_link(dfs_path(p, sizeof(p), "%s/process/order-sync", m.build),
		     "test", "order-sync");
	/* Named after another component, or N@V. */
	refused_link(REL "1", "test", "partner-cert");
	refused_link(REL "1", "test", "order-sync@1");
	assert_empty("test");
	cr_assert_eq(audit_count("action=deploy|rollback;result=ok"), 0);

	/* Any other name waits for its rename; only to N it deploys. */
	cr_assert_eq(symlink(REL "1", ep(p, "test/tmp-link")), 0,
		     "a pending link: %s", strerror(errno));
	cr_assert_eq(audit_count("action=deploy|rollback;result=ok"), 0);
	cr_assert_str_eq(readlink_env(buf, sizeof(buf), "test/tmp-link"),
			 REL "1");
	n0 = audit_count("env=test;result=refused");
	ASSERT_ERRNO(rename(p, ep(spec, "test/partner-cert")), EINVAL);
	audit_expect("env=test;result=refused;reason=Invalid argument*",
		     n0 + 1);
	cr_assert_eq(audit_count("action=deploy|rollback;result=ok"), 0);
	cr_assert_eq(rename(p, ep(spec, "test/order-sync")), 0,
		     "rename of a pending link to N: %s", strerror(errno));
	assert_only("test", "1");
	link_deploy("-sfn", "production", "order-sync", "1");
	dfs_ok(&m,
	       "rm " ENVS "/production/order-sync " ENVS "/test/order-sync");

	/* The same over a deployment, through ln -sfn: it stays. */
	link_deploy("-s", "test", "order-sync", "1");
	dfs_path(spec, sizeof(spec), "env=test;result=refused;reason=%s*",
		 strerror(EINVAL));
	n0 = audit_count(spec);
	snapshot();
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && ln -sfn ../../build/process/"
				 "order-sync environments/test/order-sync"),
		      0);
	cr_assert_neq(
		dfs_sh(&m, "cd \"$MNT\" && ln -sfn ../../packages/partner-cert/"
			   "partner-cert@1 environments/test/order-sync"),
		0);
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && ln -sfn nonsense "
				 "environments/test/order-sync"),
		      0);
	assert_unchanged("ln -sfn to a non-package");
	audit_expect(spec, n0 + 3);
	assert_only("test", "1");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "cd \"$MNT\" && realpath --relative-to=. "
				 "environments/test/order-sync"),
			 "packages/order-sync/order-sync@1");
}

Test(environments, rollback_and_redeploying_the_same_version)
{
	const struct event *ev;

	prepare();
	link_deploy("-s", "test", "order-sync", "1");
	link_deploy("-sfn", "test", "order-sync", "2");
	link_deploy("-sfn", "test", "order-sync", "1");
	assert_only("test", "1");
	cr_assert_eq(deployment_number("test", "1"), 3);
	ev = audit_expect("action=rollback;env=test;component=order-sync;"
			  "version=1;from=2;deployment=3;result=ok",
			  1);
	cr_assert_str_eq(ev->val[K_CMD],
			 "ln -sfn " REL "1 environments/test/order-sync");
	audit_expect("action=rollback", 1);

	/* The version deployed again: unchanged, no new deployment. */
	link_deploy("-sfn", "test", "order-sync", "1");
	assert_only("test", "1");
	cr_assert_eq(deployment_number("test", "1"), 3);
	audit_expect("env=test;component=order-sync;version=1;result=unchanged",
		     1);
	audit_expect("action=deploy|rollback;result=ok", 3);
	/* Numbers are per environment and component. */
	link_deploy("-s", "production", "order-sync", "2");
	cr_assert_eq(deployment_number("production", "2"), 1);
}

Test(environments, a_deployed_folder_keeps_the_package_content)
{
	char f[PATH_MAX], q[PATH_MAX], buf[64], spec[256];
	int fd;

	prepare();
	link_deploy("-s", "test", "order-sync", "1");
	ep(f, "test/order-sync@1/process.xml");
	snapshot();
	ASSERT_ERRNO(chmod(f, 0600), EROFS);
	ASSERT_ERRNO(utimensat(AT_FDCWD, f, NULL, 0), EROFS);
	ASSERT_ERRNO(setxattr(f, "user.x", "1", 1, 0), EROFS);
	/* Not in the package. */
	ASSERT_ERRNO(open(ep(q, "test/order-sync@1/new.xml"),
			  O_WRONLY | O_CREAT | O_CLOEXEC, 0644),
		     EROFS);
	/* What changes nothing succeeds (cp -a, rsync -a do that). */
	dfs_ok(&m, "cd " ENVS "/test/order-sync@1 && chmod 644 process.xml && "
		   "chmod --reference=process.xml process.xml && "
		   "chown --reference=process.xml process.xml && "
		   "touch -r process.xml process.xml");
	/* Writing over a deployed file is refused at open, recorded (as
	 * new.xml was, and touch's open for writing). */
	fd = open(f, O_WRONLY | O_TRUNC | O_CLOEXEC);
	cr_assert_eq(fd, -1, "opened a deployed file for writing");
	cr_assert_eq(errno, EROFS);
	cr_assert_geq(audit_count(refused_spec(spec, sizeof(spec),
					       "env=test;component=order-sync;"
					       "action=deploy",
					       EROFS)),
		      2);
	assert_unchanged("a refused change in a deployed folder");
	dfs_ok(&m,
	       "cmp \"$FIXTURES/workspace/process/order-sync/process.xml\" " ENVS
	       "/test/order-sync@1/process.xml");
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "stat -c %%a " ENVS
				 "/test/order-sync@1/process.xml"),
			 "644");
	assert_only("test", "1");
	cr_assert_eq(deployment_number("test", "1"), 1);
}

/* ---- undeploy and moves ------------------------------------------------- */

static void undeployed(const char *cmd, long n)
{
	char spec[256];

	dfs_ok(&m, "cd \"$MNT\" && %s", cmd);
	assert_empty("test");
	cr_assert_str_eq(
		dfs_out(&m, spec, sizeof(spec), "ls " PKGS "/order-sync"),
		"latest\norder-sync@1\norder-sync@2",
		"an undeploy touched packages/");
	audit_expect("action=undeploy;env=test;component=order-sync;"
		     "version=1;result=ok",
		     n);
	dfs_path(spec, sizeof(spec),
		 "action=undeploy;env=test;component=order-sync;"
		 "version=1;result=ok;cmd=%s",
		 cmd);
	audit_expect(spec, 1);
}

/* ENV/N@V and a file below it, as the kernel keeps them after a stat. */
static void kept(char *dir, char *file, const char *version)
{
	struct stat st;

	ep(dir, "test/order-sync@%s", version);
	ep(file, "test/order-sync@%s/process.xml", version);
	cr_assert_eq(stat(dir, &st), 0, "stat %s: %s", dir, strerror(errno));
	cr_assert_eq(stat(file, &st), 0, "stat %s: %s", file, strerror(errno));
}

static void gone_now(const char *dir, const char *file)
{
	struct stat st;

	ASSERT_ERRNO(access(dir, F_OK), ENOENT);
	ASSERT_ERRNO(stat(dir, &st), ENOENT);
	ASSERT_ERRNO(stat(file, &st), ENOENT);
}

/*
 * The kernel keeps ENV/N@V's entry (a copy into it names each file by its
 * path), and is told when a call on another name takes it away: right
 * after that call returns, in the same process, N@V and what is below it
 * are gone.
 */
Test(environments, a_folder_taken_away_by_another_name_is_gone_at_once)
{
	char dir[PATH_MAX], file[PATH_MAX], tmp[PATH_MAX], n[PATH_MAX];

	prepare();
	dfs_ok(&m, "cp -r " PKGS "/order-sync/order-sync@1 " ENVS "/test/");
	assert_only("test", "1");
	kept(dir, file, "1");
	/* ln -sfn's two calls, here: symlink to a temporary, rename. */
	cr_assert_eq(symlink(REL "2", ep(tmp, "test/.order-sync.new")), 0,
		     "symlink: %s", strerror(errno));
	cr_assert_eq(rename(tmp, ep(n, "test/order-sync")), 0, "rename: %s",
		     strerror(errno));
	gone_now(dir, file);
	assert_only("test", "2");

	kept(dir, file, "2");
	cr_assert_eq(unlink(n), 0, "rm ENV/N: %s", strerror(errno));
	gone_now(dir, file);
	assert_empty("test");

	/* Copied again, it is there again. */
	dfs_ok(&m, "cp -r " PKGS "/order-sync/order-sync@1 " ENVS "/test/");
	assert_only("test", "1");
	kept(dir, file, "1");
}

Test(environments, rm_and_rmdir_undeploy_and_rm_r_is_refused)
{
	char p[PATH_MAX], spec[256];

	prepare();
	link_deploy("-s", "test", "order-sync", "1");
	undeployed("rm environments/test/order-sync", 1);
	ASSERT_ERRNO(access(ep(p, "test/order-sync@1"), F_OK), ENOENT);

	link_deploy("-s", "test", "order-sync", "1");
	undeployed("rmdir environments/test/order-sync@1", 2);
	ASSERT_ERRNO(access(ep(p, "test/order-sync"), F_OK), ENOENT);

	/* rm -r removes entries one by one: a deployed folder is the
	 * package, read-only, so it fails loudly and changes nothing. */
	link_deploy("-s", "test", "order-sync", "1");
	snapshot();
	cr_assert_neq(dfs_sh(&m, "rm -r " ENVS "/test/order-sync@1 "
				 "2>/dev/null"),
		      0);
	assert_unchanged("rm -r of a deployed folder");
	cr_assert_gt(audit_count(refused_spec(spec, sizeof(spec),
					      "env=test;component=order-sync",
					      EROFS)),
		     0);
	undeployed("rmdir environments/test/order-sync@1/", 3);
	/* And a deploy after all that starts anew, number 4. */
	link_deploy("-s", "test", "order-sync", "1");
	cr_assert_eq(deployment_number("test", "1"), 4);
}

Test(environments, rename_is_exdev_so_mv_copies_then_removes)
{
	char a[PATH_MAX], b[PATH_MAX], buf[512];

	prepare();
	link_deploy("-s", "test", "order-sync", "1");
	snapshot();
	ASSERT_ERRNO(rename(ep(a, "test/order-sync@1"),
			    ep(b, "production/order-sync@1")),
		     EXDEV);
	ASSERT_ERRNO(rename(ep(a, "test/order-sync"),
			    ep(b, "production/order-sync")),
		     EXDEV);
	ASSERT_ERRNO(
		rename(ep(a, "test/order-sync@1"), ep(b, "test/order-sync@2")),
		EXDEV);
	ASSERT_ERRNO(rename(ep(a, "test/order-sync"), ep(b, "test/other")),
		     EXDEV);
	ASSERT_ERRNO(rename(ep(a, "test/order-sync@1"),
			    dfs_path(b, sizeof(b), "%s/moved", m.build)),
		     EXDEV);
	assert_unchanged("a refused rename");

	/* mv: copy (a deploy in production), then remove entry by entry,
	 * which a deployed folder refuses (EROFS): mv fails loudly, and
	 * rmdir undeploys the source whole. */
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && mv "
				 "environments/test/order-sync@1 "
				 "environments/production/ 2>/dev/null"),
		      0);
	assert_only("test", "1");
	dfs_ok(&m, "rmdir " ENVS "/test/order-sync@1");
	assert_empty("test");
	assert_only("production", "1");
	dfs_ok(&m, "diff -r --no-dereference -x partner-cert " PKGS
		   "/order-sync/order-sync@1 " ENVS "/production/order-sync@1");
	audit_expect("action=deploy;env=production;component=order-sync;"
		     "version=1;result=ok",
		     1);
	audit_expect("action=undeploy;env=test;component=order-sync;"
		     "version=1;result=ok",
		     1);

	/* mv of the link: a link made in test, the one in production goes. */
	dfs_ok(&m, "cd \"$MNT\" && mv environments/production/order-sync "
		   "environments/test/");
	assert_empty("production");
	assert_only("test", "1");
	cr_assert_str_eq(readlink_env(buf, sizeof(buf), "test/order-sync"),
			 REL "1");
	audit_expect("action=undeploy;env=production;result=ok", 1);
	audit_expect("action=deploy;env=test;result=ok", 2);
}

/* ---- in-flight work and busy packages ----------------------------------- */

Test(environments, an_open_file_reads_old_bytes_after_a_redeploy)
{
	static unsigned char v1[BIG_LEN], v2[BIG_LEN], got[BIG_LEN];
	char p[PATH_MAX];
	size_t len;
	int fd;

	copy_workspace();
	for (size_t i = 0; i < BIG_LEN; i++) {
		v1[i] = (unsigned char)(i % 251);
		v2[i] = (unsigned char)(i % 241);
	}
	dfs_path(p, sizeof(p), "%s/process/order-sync/big.bin", m.build);
	cr_assert_eq(dfs_write_file(p, v1, BIG_LEN), 0);
	package("order-sync", "1");
	cr_assert_eq(dfs_write_file(p, v2, BIG_LEN), 0);
	package("order-sync", "2");
	make_envs();
	link_deploy("-s", "test", "order-sync", "1");

	fd = open(ep(p, "test/order-sync@1/big.bin"), O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "open: %s", strerror(errno));
	cr_assert_eq(read(fd, got, 4096), 4096);
	link_deploy("-sfn", "test", "order-sync", "2");
	assert_only("test", "2");
	ASSERT_ERRNO(access(ep(p, "test/order-sync@1"), F_OK), ENOENT);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	len = 4096;
	while (len < BIG_LEN) {
		ssize_t n = read(fd, got + len, BIG_LEN - len);

		cr_assert_geq(n, 0, "read after the redeploy: %s",
			      strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	cr_assert_eq(read(fd, got, 1), 0, "more than the old file");
	close(fd);
	cr_assert_eq(len, BIG_LEN, "read %zu bytes after the redeploy", len);
	cr_assert_arr_eq(got, v1, BIG_LEN, "not the old bytes");
	/* And the new folder has the new bytes. */
	cr_assert_eq(
		dfs_read_file(ep(p, "test/order-sync@2/big.bin"), got, BIG_LEN),
		(ssize_t)BIG_LEN);
	cr_assert_arr_eq(got, v2, BIG_LEN, "not the new bytes");
}

Test(environments, a_deployed_package_cannot_be_removed)
{
	char p[PATH_MAX], buf[256];

	prepare();
	link_deploy("-s", "test", "order-sync", "1");
	link_deploy("-s", "production", "order-sync", "1");
	dfs_path(p, sizeof(p), "%s/packages/order-sync/order-sync@1", m.mnt);
	snapshot();
	/* rmdir removes no package (ENOTEMPTY); deployctl does, not while
	 * deployed. */
	ASSERT_ERRNO(rmdir(p), ENOTEMPTY);
	cr_assert_neq(dfs_sh(&m, "rm -rf " PKGS "/order-sync/order-sync@1"), 0);
	cr_assert_neq(dfs_sh(&m, "\"$DEPLOYCTL\" package remove order-sync@1 "
				 "--mount \"$MNT\" 2>/dev/null"),
		      0);
	assert_unchanged("removing a deployed package");
	/* Still deployed in production. */
	dfs_ok(&m, "rm " ENVS "/test/order-sync");
	cr_assert_neq(dfs_sh(&m, "\"$DEPLOYCTL\" package remove order-sync@1 "
				 "--mount \"$MNT\" 2>/dev/null"),
		      0);
	/* Replaced there too: no longer deployed, it can go. */
	link_deploy("-sfn", "production", "order-sync", "2");
	dfs_ok(&m, "\"$DEPLOYCTL\" package remove order-sync@1 --mount "
		   "\"$MNT\" >/dev/null");
	cr_assert_str_eq(
		dfs_out(&m, buf, sizeof(buf), "ls " PKGS "/order-sync"),
		"latest\norder-sync@2");
	cr_assert_neq(dfs_sh(&m, "\"$DEPLOYCTL\" package remove order-sync@2 "
				 "--mount \"$MNT\" 2>/dev/null"),
		      0);
	assert_only("production", "2");
}

/* ---- deployment records ------------------------------------------------- */

Test(environments, warning_when_a_required_component_is_missing)
{
	char p[PATH_MAX], buf[512];
	struct tm tm = { 0 };
	char *end;
	time_t t0 = time(NULL), t;
	ssize_t n;

	prepare();
	link_deploy("-s", "test", "order-sync", "1");
	meta(buf, sizeof(buf), "test/order-sync@1", "warning");
	cr_assert(strstr(buf, "partner-cert"), "warning: %s", buf);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "getfattr --absolute-names -d " ENVS
				 "/test/order-sync@1 "
				 "| grep -c '^user\\.deployfs\\.warning='"),
			 "1", "the warning is not listed");

	/* partner-cert first: no warning. */
	dfs_ok(&m,
	       "cd \"$MNT\" && ln -s ../../packages/partner-cert/partner-cert@1 "
	       "environments/production/partner-cert");
	ASSERT_ERRNO(getxattr(ep(p, "production/partner-cert@1"),
			      "user.deployfs.warning", buf, sizeof(buf)),
		     ENODATA);
	link_deploy("-s", "production", "order-sync", "1");
	errno = 0;
	n = getxattr(ep(p, "production/order-sync@1"), "user.deployfs.warning",
		     buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	cr_assert(n == -1 && errno == ENODATA,
		  "partner-cert is deployed, yet a warning: %s", buf);
	cr_assert_str_eq(ls_env(buf, sizeof(buf), "production"),
			 "order-sync order-sync@1 partner-cert partner-cert@1");

	/* The other records of a deployment. */
	cr_assert_str_eq(meta(buf, sizeof(buf), "production/order-sync@1",
			      "deployed_by"),
			 "root");
	meta(buf, sizeof(buf), "production/order-sync@1", "deployed");
	end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	cr_assert(end && (*end == 'Z' || *end == '.') &&
			  buf[strlen(buf) - 1] == 'Z',
		  "deployed %s is not ISO 8601 UTC", buf);
	t = timegm(&tm);
	cr_assert(t >= t0 - 1 && t <= time(NULL) + 1, "deployed %s is not now",
		  buf);
	meta(buf, sizeof(buf), "production/order-sync@1", "progress");
	{
		long done = -1, total = -2;

		cr_assert_eq(sscanf(buf, "%ld/%ld", &done, &total), 2,
			     "progress %s", buf);
		cr_assert(done == total && total > 5, "progress %s", buf);
	}
}

Test(environments, notes_are_set_once_and_recorded)
{
	static const char notes[] = "approved: change 4711";
	char p[PATH_MAX], buf[256], spec[256];

	prepare();
	link_deploy("-s", "test", "order-sync", "1");
	ep(p, "test/order-sync@1");
	ASSERT_ERRNO(getxattr(p, "user.deployfs.notes", buf, sizeof(buf)),
		     ENODATA);
	dfs_ok(&m,
	       "setfattr -n user.deployfs.notes -v '%s' " ENVS
	       "/test/order-sync@1",
	       notes);
	cr_assert_str_eq(meta(buf, sizeof(buf), "test/order-sync@1", "notes"),
			 notes);
	audit_expect("env=test;component=order-sync;version=1;result=ok;"
		     "action=notes",
		     1);

	ASSERT_ERRNO(setxattr(p, "user.deployfs.notes", "second", 6, 0), EPERM);
	cr_assert_str_eq(meta(buf, sizeof(buf), "test/order-sync@1", "notes"),
			 notes);
	audit_expect(refused_spec(spec, sizeof(spec),
				  "env=test;component=order-sync;version=1",
				  EPERM),
		     1);
	/* Kept across a remount. */
	cr_assert_eq(dfs_mount_stop(&m), 0);
	cr_assert_eq(dfs_mount_start(&m), 0);
	cr_assert_str_eq(meta(buf, sizeof(buf), "test/order-sync@1", "notes"),
			 notes);
}

/* ---- durability and concurrency ----------------------------------------- */

static void kill9_and_restart(void)
{
	char buf[8192];
	int rc = dfs_mount_kill9(&m);

	cr_assert_eq(rc, 0, "kill -9: %s", strerror(-rc));
	rc = dfs_mount_start(&m);
	cr_assert_eq(rc, 0, "restart after kill -9: %s (see %s/daemon.log)",
		     strerror(-rc), m.dir);
	rc = dfs_sh_out(&m, buf, sizeof(buf),
			"\"$DEPLOYCTL\" fsck \"$STORE\" 2>&1");
	cr_assert_eq(rc, 0, "deployctl fsck after kill -9, exit %d:\n%s", rc,
		     buf);
}

Test(environments, a_deployment_survives_a_kill_9_right_after)
{
	prepare();
	link_deploy("-s", "test", "order-sync", "1");
	link_deploy("-sfn", "test", "order-sync", "2");
	kill9_and_restart();
	assert_only("test", "2");
	cr_assert_eq(deployment_number("test", "2"), 2);
	audit_expect("action=deploy;env=test;component=order-sync;version=2;"
		     "from=1;deployment=2;result=ok",
		     1);

	dfs_ok(&m, "rm " ENVS "/test/order-sync");
	kill9_and_restart();
	assert_empty("test");
	audit_expect("action=undeploy;env=test;version=2;result=ok", 1);

	link_deploy("-sfn", "test", "order-sync", "1");
	kill9_and_restart();
	assert_only("test", "1");
	cr_assert_eq(deployment_number("test", "1"), 3);
	audit_expect("env=test;version=1;deployment=3;result=ok", 1);

	/* A link waiting for its rename lives in memory only. */
	dfs_ok(&m, "ln -s " REL "2 " ENVS "/production/pending");
	kill9_and_restart();
	assert_empty("production");
	assert_only("test", "1");
}

#define ROUNDS 25

static pid_t spawn_sh(int slot, const char *cmd)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		_exit(dfs_sh(&m, "%s", cmd) == 0 ? 0 : 1);
	}
	setpgid(pid, pid);
	children[slot] = pid;
	return pid;
}

/* Wait (deadline ms) for children[slot]; its exit status or -1. */
static int wait_slot(int slot, long ms)
{
	long deadline = dfs_now_ms() + ms;
	int st;

	while (dfs_now_ms() < deadline) {
		if (waitpid(children[slot], &st, WNOHANG) == children[slot]) {
			children[slot] = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		dfs_sleep_ms(10);
	}
	return -1;
}

struct seq_arg {
	long ok, other, last_number, bad_order;
};

static void deploy_events(const struct event *ev, void *arg)
{
	struct seq_arg *s = arg;

	if (!matches(ev, "action=deploy|rollback;env=test;"
			 "component=order-sync"))
		return;
	if (strcmp(ev->val[K_RESULT], "ok") == 0) {
		if (atol(ev->val[K_DEPLOYMENT]) != s->last_number + 1)
			s->bad_order++;
		s->last_number = atol(ev->val[K_DEPLOYMENT]);
		s->ok++;
	} else if (strcmp(ev->val[K_RESULT], "unchanged") != 0)
		s->other++;
}

Test(environments, concurrent_deployers_serialise_and_the_last_wins)
{
	char cmd[1024], v[16], buf[512], rel[64], sql[128];
	struct seq_arg s = { 0 };
	long number;

	prepare();
	link_deploy("-s", "test", "order-sync", "1");
	for (int i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd),
			 "cd \"$MNT\" && i=0; while [ $i -lt %d ]; do "
			 "ln -sfn " REL "%d environments/test/order-sync && "
			 "ln -sfn " REL "%d environments/test/order-sync || "
			 "exit 1; i=$((i+1)); done",
			 ROUNDS, i ? 2 : 1, i ? 1 : 2);
		spawn_sh(i, cmd);
	}
	for (int i = 0; i < 2; i++)
		cr_assert_eq(wait_slot(i, 180000), 0, "deployer %d failed", i);

	/* Exactly one version, the link and the folder agree. */
	readlink_env(buf, sizeof(buf), "test/order-sync");
	cr_assert(strcmp(buf, REL "1") == 0 || strcmp(buf, REL "2") == 0,
		  "link %s", buf);
	v[0] = buf[strlen(REL)];
	v[1] = '\0';
	assert_only("test", v);
	number = deployment_number("test", v);

	/* Every ln -sfn recorded; one deployment per ok, in order. */
	read_audit();
	each_event(deploy_events, &s);
	cr_assert_eq(s.ok + audit_count("action=deploy|rollback;env=test;"
					"result=unchanged"),
		     1 + 4 * ROUNDS, "%ld ok deploy lines; audit.log ends:\n%s",
		     s.ok, audit_tail());
	cr_assert_eq(s.other, 0, "deploys neither ok nor unchanged");
	cr_assert_eq(s.bad_order, 0, "deployment numbers not 1, 2, 3... ");
	cr_assert_eq(s.ok, number, "%ld ok deploys, deployment number %ld",
		     s.ok, number);
	cr_assert_geq(s.ok, 2, "the deployers never changed a thing");
	dfs_path(sql, sizeof(sql),
		 "SELECT count(*), sum(active) FROM deployments");
	dfs_path(rel, sizeof(rel), "%ld|1", number);
	cr_assert_str_eq(dfs_out(&m, buf, sizeof(buf),
				 "sqlite3 \"$STORE/deployfs.db\" '%s'", sql),
			 rel);
	/* The last ok line names the version that stayed. */
	dfs_path(rel, sizeof(rel), "deployment=%ld;result=ok;version=%s",
		 number, v);
	audit_expect(rel, 1);
}

/* ---- audit.log ---------------------------------------------------------- */

static bool one_of(int e, int a, int b, int c)
{
	return e == a || e == b || e == c;
}

static int nobody_write_audit(void *arg)
{
	int fd = open(arg, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno;
}

Test(environments, audit_log_is_read_only)
{
	char p[PATH_MAX], *before;
	size_t len;
	struct stat st;
	static const int flags[] = { O_WRONLY, O_RDWR, O_WRONLY | O_APPEND,
				     O_WRONLY | O_TRUNC };
	int fd, rc;

	prepare();
	link_deploy("-s", "test", "order-sync", "1");
	dfs_path(p, sizeof(p), "%s/audit.log", m.mnt);
	len = read_audit();
	before = strdup(audit_buf);
	cr_assert_not_null(before);
	cr_assert_gt(len, 0);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 0222, 0, "mode %o", st.st_mode & 07777);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		errno = 0;
		fd = open(p, flags[i] | O_CLOEXEC);
		cr_assert_eq(fd, -1, "open flags %#x succeeded", flags[i]);
		cr_assert(one_of(errno, EACCES, EROFS, EPERM),
			  "open flags %#x: %s", flags[i],
			  strerrorname_np(errno));
	}
	errno = 0;
	cr_assert_eq(truncate(p, 0), -1);
	cr_assert(one_of(errno, EACCES, EROFS, EPERM), "truncate: %s",
		  strerrorname_np(errno));
	cr_assert_neq(dfs_sh(&m, "echo x >>\"$MNT/audit.log\""), 0);
	errno = 0;
	cr_assert_eq(unlink(p), -1);
	cr_assert(one_of(errno, EACCES, EROFS, EPERM) || errno == EBUSY,
		  "unlink: %s", strerrorname_np(errno));
	errno = 0;
	cr_assert_eq(chmod(p, 0644), -1);
	cr_assert(one_of(errno, EACCES, EROFS, EPERM), "chmod: %s",
		  strerrorname_np(errno));
	rc = dfs_as_nobody(nobody_write_audit, p);
	cr_assert_eq(rc, EACCES, "nobody open for writing: %s", strerror(rc));
	/* What was there is unchanged; the refusals were added, each a
	 * line of its own. */
	cr_assert_gt(read_audit(), len, "the refusals were not recorded");
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq((size_t)st.st_size, strlen(audit_buf));
	cr_assert_eq(strncmp(audit_buf, before, len), 0, "content changed");
	for (const char *l = audit_buf + len; *l; l = strchr(l, '\n') + 1) {
		const char *end = strchr(l, '\n');

		cr_assert_not_null(end, "a line without its end");
		cr_assert(memmem(l, (size_t)(end - l), " result=refused ", 16),
			  "an added line that is not a refusal: %.*s",
			  (int)(end - l), l);
	}
	free(before);
}

struct check_arg {
	long last_seq;
	char last_ts[1024];
	long lines;
};

static void check_event(const struct event *ev, void *arg)
{
	struct check_arg *c = arg;
	const char *ts = ev->val[K_TS];
	struct tm tm = { 0 };
	char *end;
	long seq;

	end = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
	cr_assert(end && end[0] == '.' && strspn(end + 1, "0123456789") == 9 &&
			  strcmp(end + 10, "Z") == 0,
		  "ts %s", ts);
	cr_assert(strspn(ev->val[K_SEQ], "0123456789") ==
				  strlen(ev->val[K_SEQ]) &&
			  ev->val[K_SEQ][0],
		  "seq %s", ev->val[K_SEQ]);
	seq = atol(ev->val[K_SEQ]);
	cr_assert_gt(seq, c->last_seq, "seq %ld after %ld", seq, c->last_seq);
	cr_assert_geq(strcmp(ts, c->last_ts), 0, "ts %s after %s", ts,
		      c->last_ts);
	c->last_seq = seq;
	snprintf(c->last_ts, sizeof(c->last_ts), "%s", ts);
	cr_assert(ev->val[K_UID][0] && strspn(ev->val[K_UID], "0123456789") ==
					       strlen(ev->val[K_UID]),
		  "uid %s", ev->val[K_UID]);
	cr_assert(strspn(ev->val[K_PID], "0123456789") ==
			  strlen(ev->val[K_PID]),
		  "pid %s", ev->val[K_PID]);
	cr_assert(strspn(ev->val[K_DEPLOYMENT], "0123456789") ==
			  strlen(ev->val[K_DEPLOYMENT]),
		  "deployment %s", ev->val[K_DEPLOYMENT]);
	cr_assert(ev->val[K_ACTION][0], "no action");
	cr_assert(matches(ev, "result=ok|unchanged|refused"), "result %s",
		  ev->val[K_RESULT]);
	if (strcmp(ev->val[K_RESULT], "refused") == 0)
		cr_assert(ev->val[K_REASON][0], "a refusal without a reason");
	c->lines++;
}

Test(environments, audit_log_lines_have_every_key_in_order)
{
	char p[PATH_MAX], small[7], name[PATH_MAX];
	static char chunked[AUDIT_CAP + 1];
	struct check_arg c = { .last_seq = 0 };
	const struct event *ev;
	size_t len, n = 0;
	struct stat st;
	ssize_t r;
	int fd;

	prepare();
	dfs_ok(&m, "setfattr -n user.deployfs.classification -v test " ENVS
		   "/test");
	link_deploy("-s", "test", "order-sync", "1");
	link_deploy("-sfn", "test", "order-sync", "2");
	link_deploy("-sfn", "test", "order-sync", "1");
	dfs_ok(&m, "rm " ENVS "/test/order-sync");
	/* Refusals whose command needs quoting and escapes. */
	cr_assert_neq(dfs_sh(&m, "cd \"$MNT\" && ln -s nonsense "
				 "'environments/test/we\"ird\\name=x'"),
		      0);
	cr_assert_neq(
		dfs_sh(&m,
		       "cd \"$MNT\" && ln -s nonsense "
		       "\"$(printf 'environments/test/new\\nline\\ttab')\""),
		0);
	/* Each argument stays one: quoted when it needs it. */
	ev = audit_expect(
		"cmd=ln -s nonsense 'environments/test/we\"ird\\name=x';"
		"result=refused",
		1);
	cr_assert_str_eq(ev->val[K_ENV], "test");
	audit_expect("cmd=ln -s nonsense 'environments/test/new\nline\ttab';"
		     "result=refused",
		     1);

	len = read_audit();
	each_event(check_event, &c);
	cr_assert_geq(c.lines, 10, "only %ld lines", c.lines);
	audit_expect("action=deploy;cmd=ln -s " REL
		     "1 environments/test/order-sync;version=1;deployment=1",
		     1);
	/* Oldest first: the package came before the deploys. */
	cr_assert(strstr(audit_buf, "action=package") <
			  strstr(audit_buf, "action=deploy"),
		  "not oldest first");

	/* Its size is what a read returns; reads of 7 bytes add up. */
	dfs_path(p, sizeof(p), "%s/audit.log", m.mnt);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq((size_t)st.st_size, len, "size %lld, read %zu",
		     (long long)st.st_size, len);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	while ((r = read(fd, small, sizeof(small))) > 0) {
		cr_assert_leq(n + (size_t)r, AUDIT_CAP);
		memcpy(chunked + n, small, (size_t)r);
		n += (size_t)r;
	}
	cr_assert_eq(r, 0, "read: %s", strerror(errno));
	close(fd);
	cr_assert_eq(n, len);
	cr_assert_arr_eq(chunked, audit_buf, len, "chunked reads differ");
	/* pread from the middle. */
	fd = open(p, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, name, 100, (off_t)len / 2), 100);
	close(fd);
	cr_assert_arr_eq(name, audit_buf + len / 2, 100, "pread differs");

	/* It grows with each event. */
	link_deploy("-s", "test", "order-sync", "2");
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_gt((size_t)st.st_size, len, "size did not grow");
	cr_assert_eq(read_audit(), (size_t)st.st_size);
	cr_assert_eq(memcmp(audit_buf, chunked, len), 0, "old lines changed");
}

static int occurrences(const char *s, const char *what)
{
	int n = 0;

	for (s = strstr(s, what); s; s = strstr(s + 1, what))
		n++;
	return n;
}

/* The bytes of fd from off on, read chunk bytes at a time. */
static size_t read_chunks(int fd, off_t off, char *into, size_t cap,
			  size_t chunk)
{
	size_t n = 0;
	ssize_t r;

	while ((r = pread(fd, into + n, chunk < cap - n ? chunk : cap - n,
			  off + (off_t)n)) > 0)
		n += (size_t)r;
	cr_assert_eq(r, 0, "read of %zu: %s", chunk, strerror(errno));
	return n;
}

Test(environments,
     audit_log_reads_of_any_size_agree_and_an_open_reader_sees_more)
{
	static char got[AUDIT_CAP + 1];
	char p[PATH_MAX];
	size_t len, n;
	int fd;

	prepare();
	/* More lines than one read of the daemon ever rendered at once. */
	dfs_ok(&m, "cd " ENVS "/test && for i in $(seq 150); do "
		   "ln -sfn " REL "$((i %% 2 + 1)) order-sync || exit 1; done");
	len = read_audit();
	cr_assert_geq(occurrences(audit_buf, " env=test component=order-sync "),
		      150);
	dfs_path(p, sizeof(p), "%s/audit.log", m.mnt);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	/* From the start, from inside a line, near the end. */
	const struct {
		size_t chunk;
		off_t off;
	} reads[] = {
		{ 1 << 20, 0 },
		{ 1 << 20, 1 },
		{ 65536, 77 },
		{ 4093, 0 },
		{ 4093, (off_t)len / 3 },
		{ 200, (off_t)len / 2 },
		{ 1, (off_t)len - 3000 },
	};
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		size_t chunk = reads[i].chunk;
		off_t off = reads[i].off;

		n = read_chunks(fd, off, got, AUDIT_CAP, chunk);
		cr_assert_eq(n, len - (size_t)off,
			     "reads of %zu from %lld: %zu bytes, want %zu",
			     chunk, (long long)off, n, len - (size_t)off);
		cr_assert_arr_eq(got, audit_buf + off, n,
				 "reads of %zu from %lld differ", chunk,
				 (long long)off);
	}

	/* A reader that keeps the file open reads on past the end it saw:
	 * the lines added since, and nothing else. */
	cr_assert_eq(lseek(fd, 0, SEEK_END), (off_t)len);
	cr_assert_eq(read(fd, got, 4096), 0);
	link_deploy("-sfn", "test", "order-sync", "2");
	n = read_chunks(fd, (off_t)len, got, AUDIT_CAP, 1 << 20);
	got[n] = '\0';
	close(fd);
	cr_assert_gt(n, 0, "the open reader saw nothing added");
	cr_assert_eq(got[n - 1], '\n');
	cr_assert(strstr(got, "action=deploy env=test component=order-sync "
			      "version=2 "),
		  "added:\n%s", got);
	cr_assert_eq(read_audit(), len + n);
	cr_assert_arr_eq(audit_buf + len, got, n, "the added lines differ");
}

Test(environments, tail_f_shows_a_deploy_within_2_s)
{
	char outp[PATH_MAX], log[PATH_MAX], buf[65536];
	long t0, t1, deadline;
	ssize_t n;
	pid_t pid;

	prepare();
	dfs_path(outp, sizeof(outp), "%s/tail.out", m.dir);
	dfs_path(log, sizeof(log), "%s/audit.log", m.mnt);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		setpgid(0, 0);
		if (fd < 0)
			_exit(126);
		dup2(fd, STDOUT_FILENO);
		execlp("tail", "tail", "-f", log, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	children[2] = pid;

	/* tail prints the last lines first. */
	deadline = dfs_now_ms() + DEADLINE_MS;
	for (;;) {
		n = dfs_read_file(outp, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		if (strstr(buf, "env=production") || dfs_now_ms() > deadline)
			break;
		dfs_sleep_ms(10);
	}
	cr_assert(strstr(buf, "action=env-create env=production"),
		  "tail -f printed:\n%s", buf);
	cr_assert_null(strstr(buf, "action=deploy"));

	t0 = dfs_now_ms();
	link_deploy("-s", "test", "order-sync", "1");
	deadline = t0 + DEADLINE_MS;
	for (;;) {
		n = dfs_read_file(outp, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		if (strstr(buf, "action=deploy") || dfs_now_ms() > deadline)
			break;
		dfs_sleep_ms(20);
	}
	t1 = dfs_now_ms();
	cr_assert(strstr(buf, "action=deploy env=test component=order-sync "
			      "version=1 "),
		  "tail -f did not show the deploy in %ld ms:\n%s", t1 - t0,
		  buf);
	cr_assert_leq(t1 - t0, 2000, "tail -f showed the deploy after %ld ms",
		      t1 - t0);
	cr_log_info("tail -f showed the deploy after %ld ms", t1 - t0);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	children[2] = 0;
	/* Exactly one such line: tail did not see it twice. */
	n = dfs_read_file(outp, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	cr_assert_eq(occurrences(buf, "action=deploy "), 1, "tail -f:\n%s",
		     buf);
	cr_assert_eq(occurrences(buf, "action=env-create "), 2, "tail -f:\n%s",
		     buf);
}

/* ---- watchers ------------------------------------------------------------ */

/*
 * A runtime or a file manager watching ENV learns of deploys through
 * inotify: a deploy by link (ln -sfn, deployctl deploy, rollback) is
 * MOVED_TO N, a copy is CREATE,ISDIR N@V, an undeploy DELETE N.
 * inotifywait runs in the background of one shell, bounded by timeout
 * and killed by the shell's trap; its events are polled with a deadline.
 */
#define WATCH(env, act, want)                                                \
	"d=$(mktemp -d \"$DIR/watch.XXXXXX\") || exit 4; "                   \
	"timeout 60 inotifywait -m -e delete,create,moved_to --format "      \
	"'%%e %%f' " ENVS "/" env " >\"$d/events\" 2>\"$d/watch\" & w=$!; "  \
	"trap 'kill $w 2>/dev/null; wait $w 2>/dev/null' EXIT; i=0; "        \
	"until grep -q 'Watches established' \"$d/watch\"; do "              \
	"i=$((i+1)); [ $i -lt 3000 ] || exit 2; sleep 0.01; done; " act "; " \
	"i=0; until grep -qx '" want "' \"$d/events\"; do i=$((i+1)); "      \
	"[ $i -lt 3000 ] || { echo \"no '" want "' in:\"; od -c "            \
	"\"$d/events\"; cat \"$d/watch\"; ls -la " ENVS "/" env "; "         \
	"exit 1; }; sleep 0.01; done"

Test(environments, inotify_watchers_see_deploys_and_undeploys)
{
	prepare();
	dfs_ok(&m,
	       WATCH("test",
		     "cd \"$MNT\" && cp -r packages/order-sync/order-sync@1 "
		     "environments/test/",
		     "CREATE,ISDIR order-sync@1"));
	dfs_ok(&m, "ls -l " ENVS "/test/ >/dev/null");
	dfs_ok(&m, WATCH("test",
			 "\"$DEPLOYCTL\" deploy order-sync@2 test --mount "
			 "\"$MNT\" >/dev/null || exit 3",
			 "MOVED_TO order-sync"));
	/* The kernel's cache follows at once: order-sync@1 is gone. */
	dfs_ok(&m, "test ! -e " ENVS "/test/order-sync@1 && test -d " ENVS
		   "/test/order-sync@2");
	dfs_ok(&m, WATCH("test", "rm " ENVS "/test/order-sync",
			 "DELETE order-sync"));
	assert_empty("test");
}
