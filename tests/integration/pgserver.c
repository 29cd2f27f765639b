// SPDX-License-Identifier: MIT
/*
 * pgserver.c - initdb, start, stop and remove a throwaway PostgreSQL server
 * for a test.  See pgserver.h for the contract.
 *
 * What a server leaves on disk, for whoever cleans up by hand:
 *   DIR/data/postmaster.pid  its first line is the postmaster's pid
 *   DIR/.s.PGSQL.5432        the socket, with DIR/.s.PGSQL.5432.lock
 *   DIR/log                  initdb, pg_ctl and server output
 *
 * Nothing here asserts with Criterion, so .init and .fini may call it all.
 * dfs_pg_hosts_setup() mounts stores with harness.c for suites of hosts.
 */
#include "pgserver.h"
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOBODY 65534

/*
 * Every server uses the same port.  With listen_addresses='' the port only
 * names the socket DIR/.s.PGSQL.5432 and its lock file, and DIR is unique,
 * so servers in parallel do not collide.  Nothing else in PostgreSQL 12 and
 * later depends on it: the SysV shared memory key comes from the data
 * folder's inode (sysv_shmem.c, which moves on to the next key when one is
 * taken), Linux builds use unnamed POSIX semaphores inside shared memory,
 * and dynamic shared memory segments get random names.  (Checked by
 * starting several servers at once, all on 5432.)
 */
#define PG_PORT 5432
#define STR_(x) #x
#define STR(x) STR_(x)
#define PG_SOCKET "/.s.PGSQL." STR(PG_PORT)
#define PG_USER "deployfs"
#define PG_DB "deployfs"

/* pg_ctl -t: a start does crash recovery after an immediate stop, and the
 * machine may be busy with parallel tests; 60 s is pg_ctl's own default. */
#define PG_WAIT "60"
/* How long a killed server may take to go away before SIGKILL. */
#define KILL_WAIT_MS 10000

enum { AS_NOBODY = 1, IN_PATH = 2 };

static void say(const struct dfs_pg *pg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct dfs_pg *pg, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pgserver: %s: ", pg->dir[0] ? pg->dir : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* snprintf "DIR/name" into buf. */
static int in_dir(char *buf, size_t cap, const struct dfs_pg *pg,
		  const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", pg->dir, name);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int in_bindir(char *buf, size_t cap, const char *bindir,
		     const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", bindir, name);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The end of DIR/log on stderr: why initdb or the server failed.  The
 * folder is removed right after a failed start, so this is all we keep. */
static void show_log(const struct dfs_pg *pg)
{
	char path[PATH_MAX], buf[4096];
	struct stat st;
	off_t off = 0;
	ssize_t n;
	char *p;
	int fd;

	if (in_dir(path, sizeof(path), pg, "log") < 0)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		say(pg, "no log (%s)", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (st.st_size > (off_t)sizeof(buf) - 1)
		off = st.st_size - (off_t)sizeof(buf) + 1;
	n = pread(fd, buf, sizeof(buf) - 1, off);
	close(fd);
	if (n < 0)
		return;
	buf[n] = '\0';
	/* from the first whole line */
	p = off > 0 && strchr(buf, '\n') ? strchr(buf, '\n') + 1 : buf;
	fprintf(stderr, "pgserver: the end of %s:\n%s", path, p);
	if (n > 0 && buf[n - 1] != '\n')
		fputc('\n', stderr);
}

/*
 * The environment of everything we run: none of the test's (PGHOST,
 * PGDATA, PGOPTIONS, LD_PRELOAD, sanitizer options) may change what
 * initdb, the server or psql do.
 */
struct env {
	char path[PATH_MAX + 32];
	char *v[3];
};

static char *const *make_env(struct env *e, const struct dfs_pg *pg)
{
	snprintf(e->path, sizeof(e->path), "PATH=%s:/usr/bin:/bin", pg->bindir);
	e->v[0] = e->path;
	e->v[1] = (char *)"PGCONNECT_TIMEOUT=10";
	e->v[2] = NULL;
	return e->v;
}

/*
 * Fork and exec argv with env: in DIR (nobody may not reach the test's
 * working folder), stdin from /dev/null, stdout to out and stderr to err
 * (-1: the test's own), and no other file open, since the server outlives
 * us and must not hold a pipe of the test's open (meson waits for those to
 * close).  Only async-signal-safe calls after fork(): the test may have
 * threads.  The pid, or -errno.
 */
static pid_t spawn(const struct dfs_pg *pg, char *const argv[],
		   char *const env[], int flags, int out, int err)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid_t pid;

	if (null < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		pid = -errno;
		close(null);
		return pid;
	}
	if (pid == 0) {
		if (dup2(null, STDIN_FILENO) < 0 ||
		    (out >= 0 && dup2(out, STDOUT_FILENO) < 0) ||
		    (err >= 0 && dup2(err, STDERR_FILENO) < 0))
			_exit(126);
		for (int fd = 0; fd < 3; fd++)
			fcntl(fd, F_SETFD, 0);
		if (close_range(3, ~0U, 0) < 0)
			for (int fd = 3; fd < 4096; fd++)
				close(fd);
		if (pg->dir[0] && chdir(pg->dir) < 0)
			_exit(126);
		if ((flags & AS_NOBODY) &&
		    (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
		     setuid(NOBODY) < 0))
			_exit(126);
		if (flags & IN_PATH)
			execvpe(argv[0], argv, env);
		else
			execve(argv[0], argv, env);
		_exit(127);
	}
	close(null);
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * Run argv to its end, as spawn() does; when buf is not NULL its stdout
 * goes into buf (at most cap-1 bytes and a NUL; the rest is read and
 * dropped, so it never blocks on a full pipe).  Its exit status, or -1.
 */
static int run(const struct dfs_pg *pg, char *const argv[], char *const env[],
	       int flags, int out, int err, char *buf, size_t cap)
{
	int pfd[2] = { -1, -1 };
	pid_t pid;

	if (buf && pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = spawn(pg, argv, env, flags, buf ? pfd[1] : out, err);
	if (buf)
		close(pfd[1]);
	if (pid < 0) {
		if (buf)
			close(pfd[0]);
		return -1;
	}
	if (buf) {
		dfs_read_capped(pfd[0], buf, cap);
		close(pfd[0]);
	}
	return wait_exit(pid);
}

/* Run a PostgreSQL program as nobody, its output appended to DIR/log
 * after a line naming it. */
static int run_logged(const struct dfs_pg *pg, char *const argv[])
{
	char path[PATH_MAX];
	struct env env;
	int fd, rc;

	if (in_dir(path, sizeof(path), pg, "log") < 0)
		return -1;
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -1;
	dprintf(fd, "pgserver: $");
	for (int i = 0; argv[i]; i++)
		dprintf(fd, " %s", argv[i]);
	dprintf(fd, "\n");
	rc = run(pg, argv, make_env(&env, pg), AS_NOBODY, fd, fd, NULL, 0);
	close(fd);
	return rc;
}

static bool has_initdb(const char *bindir)
{
	char path[PATH_MAX];

	return in_bindir(path, sizeof(path), bindir, "initdb") == 0 &&
	       access(path, X_OK) == 0;
}

static int set_bindir(struct dfs_pg *pg, const char *dir)
{
	int n = snprintf(pg->bindir, sizeof(pg->bindir), "%s", dir);

	if (n < 0 || (size_t)n >= sizeof(pg->bindir) || !has_initdb(dir))
		return -ENOENT;
	return 0;
}

/*
 * $DFS_PG_BINDIR, else pg_config --bindir if it has an initdb (Debian's
 * pg_config comes with libpq-dev, whose version need not be the server's),
 * else the highest /usr/lib/postgresql/N/bin with an initdb.
 */
static int find_bindir(struct dfs_pg *pg)
{
	const char *dflt = getenv("DFS_PG_BINDIR");
	char *argv[] = { (char *)"pg_config", (char *)"--bindir", NULL };
	char out[PATH_MAX];
	struct dirent *de;
	long best = -1;
	DIR *d;

	if (dflt && *dflt)
		return set_bindir(pg, dflt);
	if (run(pg, argv, environ, IN_PATH, -1, -1, out, sizeof(out)) == 0) {
		out[strcspn(out, "\n")] = '\0';
		if (set_bindir(pg, out) == 0)
			return 0;
	}
	d = opendir("/usr/lib/postgresql");
	if (!d)
		return -ENOENT;
	while ((de = readdir(d))) {
		char bin[PATH_MAX], *end;
		long v = strtol(de->d_name, &end, 10);

		if (end == de->d_name || *end || v <= best)
			continue;
		snprintf(bin, sizeof(bin), "/usr/lib/postgresql/%s/bin",
			 de->d_name);
		if (set_bindir(pg, bin) == 0)
			best = v;
	}
	closedir(d);
	if (best < 0)
		return -ENOENT;
	snprintf(pg->bindir, sizeof(pg->bindir), "/usr/lib/postgresql/%ld/bin",
		 best);
	return 0;
}

/*
 * mkdtemp "$TMPDIR/pg.XXXXXX", or "/tmp/dfspg.XXXXXX" when the socket's
 * path in it would not fit in sun_path (PostgreSQL wants it shorter than
 * 108 bytes, NUL included).  Owned by nobody, who runs the server and
 * creates the socket there; 0755 so that we and the daemon under test can
 * reach the socket.
 */
static int make_dir(struct dfs_pg *pg)
{
	const size_t max =
		sizeof(((struct sockaddr_un *)0)->sun_path) - sizeof(PG_SOCKET);
	const char *tmp = getenv("TMPDIR");
	int n, rc;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	n = snprintf(pg->dir, sizeof(pg->dir), "%s/pg.XXXXXX", tmp);
	if (n < 0 || (size_t)n > max)
		snprintf(pg->dir, sizeof(pg->dir), "/tmp/dfspg.XXXXXX");
	if (!mkdtemp(pg->dir)) {
		rc = -errno;
		say(pg, "mkdtemp: %s", strerror(-rc));
		pg->dir[0] = '\0';
		return rc;
	}
	if (chown(pg->dir, NOBODY, NOBODY) < 0 || chmod(pg->dir, 0755) < 0) {
		rc = -errno;
		say(pg, "chown/chmod: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* DIR/log, created by us but owned by nobody, who appends to it. */
static int make_log(const struct dfs_pg *pg)
{
	char path[PATH_MAX];
	int fd, rc = 0;

	if (in_dir(path, sizeof(path), pg, "log") < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || fchown(fd, NOBODY, NOBODY) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		say(pg, "%s: %s", path, strerror(-rc));
	return rc;
}

/* A libpq URL for database db.  DIR goes in a query value, so anything
 * but unreserved characters and '/' is percent-encoded. */
static int make_url(const struct dfs_pg *pg, const char *db, char *buf,
		    size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	char host[3 * sizeof(pg->dir)];
	size_t j = 0;
	int n;

	for (const unsigned char *s = (const unsigned char *)pg->dir; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~/", *s)) {
			host[j++] = (char)*s;
		} else {
			host[j++] = '%';
			host[j++] = hex[*s >> 4];
			host[j++] = hex[*s & 15];
		}
	}
	host[j] = '\0';
	n = snprintf(buf, cap, "postgresql:///%s?host=%s&port=%d&user=%s", db,
		     host, pg->port, PG_USER);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* C.UTF-8 when this libc has it (Debian's has it built in), else C: both
 * sort bytewise, so results do not depend on the machine. */
static const char *pick_locale(void)
{
	locale_t l = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);

	if (!l)
		return "--locale=C";
	freelocale(l);
	return "--locale=C.UTF-8";
}

static int initdb(const struct dfs_pg *pg)
{
	char bin[PATH_MAX], data[PATH_MAX];
	char *argv[] = { bin, (char *)"-D", data, (char *)"--auth=trust",
			 (char *)"--username=" PG_USER, (char *)"-E",
			 (char *)"UTF8", (char *)pick_locale(),
			 /* initdb's fsyncs only: the server keeps fsync on */
			 (char *)"--no-sync", (char *)"--no-instructions",
			 NULL };
	int rc;

	if (in_bindir(bin, sizeof(bin), pg->bindir, "initdb") < 0 ||
	    in_dir(data, sizeof(data), pg, "data") < 0)
		return -ENAMETOOLONG;
	rc = run_logged(pg, argv);
	if (rc != 0) {
		say(pg, "initdb failed (exit %d)", rc);
		show_log(pg);
		return -EIO;
	}
	return 0;
}

/*
 * Appended to postgresql.conf (later lines win), so that a restart with a
 * plain pg_ctl start gets them again.  A quoted value takes '' for ' and
 * \\ for \.
 */
static int write_conf(const struct dfs_pg *pg)
{
	char path[PATH_MAX], dir[2 * sizeof(pg->dir)];
	size_t j = 0;
	FILE *f;
	int err, rc = 0;

	for (const char *s = pg->dir; *s; s++) {
		if (*s == '\'' || *s == '\\')
			dir[j++] = *s;
		dir[j++] = *s;
	}
	dir[j] = '\0';
	if (in_dir(path, sizeof(path), pg, "data/postgresql.conf") < 0)
		return -ENAMETOOLONG;
	/* root writes nobody's 0600 file; appending keeps its owner */
	f = fopen(path, "ae");
	if (!f) {
		rc = -errno;
		say(pg, "%s: %s", path, strerror(-rc));
		return rc;
	}
	fprintf(f,
		"\n# tests/integration/pgserver.c: private and small.\n"
		"listen_addresses = '%s'\n"
		"port = %d\n"
		"unix_socket_directories = '%s'\n"
		"shared_buffers = 16MB\n"
		"max_connections = 50\n",
		pg->listen, pg->port, dir);
	err = ferror(f);
	if (fclose(f) == EOF || err) {
		rc = -EIO;
		say(pg, "%s: cannot write", path);
	}
	/* On TCP (dfs_pg_start_on): anyone who reaches it, as on loopback. */
	if (rc == 0 && pg->listen[0]) {
		if (in_dir(path, sizeof(path), pg, "data/pg_hba.conf") < 0)
			return -ENAMETOOLONG;
		f = fopen(path, "ae");
		if (!f || fprintf(f, "host all all 0.0.0.0/0 trust\n") < 0)
			rc = -EIO;
		if (f && fclose(f) == EOF)
			rc = -EIO;
	}
	return rc;
}

/* pg_ctl start (mode NULL), or pg_ctl stop -m mode. */
static int pg_ctl(const struct dfs_pg *pg, const char *action, const char *mode)
{
	char bin[PATH_MAX], data[PATH_MAX], log[PATH_MAX];
	char *argv[] = { bin,
			 (char *)action,
			 (char *)"-w",
			 (char *)"-t",
			 (char *)PG_WAIT,
			 (char *)"-D",
			 data,
			 (char *)(mode ? "-m" : "-l"),
			 mode ? (char *)mode : log,
			 NULL };

	if (in_bindir(bin, sizeof(bin), pg->bindir, "pg_ctl") < 0 ||
	    in_dir(data, sizeof(data), pg, "data") < 0 ||
	    in_dir(log, sizeof(log), pg, "log") < 0)
		return -1;
	return run_logged(pg, argv);
}

static int server_start(struct dfs_pg *pg)
{
	int rc = pg_ctl(pg, "start", NULL);

	if (rc != 0) {
		say(pg, "pg_ctl start failed (exit %d)", rc);
		show_log(pg);
		return -EIO;
	}
	pg->running = true;
	return 0;
}

/* The pid in DIR/data/postmaster.pid, or 0.  Plain open and read: the
 * watchdog calls it after fork(). */
static pid_t read_pidfile(const struct dfs_pg *pg)
{
	char path[PATH_MAX], buf[32];
	ssize_t n;
	int fd;

	if (in_dir(path, sizeof(path), pg, "data/postmaster.pid") < 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (pid_t)atol(buf);
}

/*
 * Whether pid is a live (not zombie) postgres of nobody's: a pid file left
 * by a killed server may name a pid that was reused since.  The postmaster
 * is not our child (pg_ctl detached it), so once dead it is a zombie until
 * init reaps it, and kill(pid, 0) would still succeed.
 */
static bool is_postgres(pid_t pid)
{
	char path[64], buf[256], *p;
	struct stat st;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || st.st_uid != NOBODY) {
		close(fd);
		return false;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* "pid (comm) S ..." */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X' &&
	       strstr(buf, " (postgres) ") == strchr(buf, ' ');
}

/*
 * SIGQUIT (an immediate shutdown: the postmaster stops its children and
 * exits), then SIGKILL if it lingers.  For when pg_ctl could not, and for
 * the watchdog, which must not depend on anything but the pid file.
 */
static void kill_server(const struct dfs_pg *pg)
{
	pid_t pid = read_pidfile(pg);
	long deadline;

	if (!is_postgres(pid))
		return;
	kill(pid, SIGQUIT);
	deadline = now_ms() + KILL_WAIT_MS;
	while (is_postgres(pid) && now_ms() < deadline)
		sleep_ms(10);
	if (is_postgres(pid)) {
		kill(pid, SIGKILL);
		deadline = now_ms() + KILL_WAIT_MS;
		while (is_postgres(pid) && now_ms() < deadline)
			sleep_ms(10);
	}
}

static int rm_one(const char *path, const struct stat *st, int type,
		  struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		fprintf(stderr, "pgserver: rm %s: %s\n", path, strerror(errno));
	return 0;
}

static void rm_dir(const char *dir)
{
	if (!getenv("DFS_KEEP_TMP"))
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/*
 * The watchdog: a child of the test that waits for the test to die
 * without dfs_pg_teardown() (a crash, a Criterion timeout, SIGKILL), then
 * stops the server and removes DIR.  Without it, such a server would run
 * for ever: pg_ctl detaches it, so PR_SET_PDEATHSIG cannot reach it.  (The
 * postmaster does check once a minute that DIR/data/postmaster.pid is
 * still its own, and shuts down if not: removing DIR stops it within a
 * minute, 58 s when tried.  But a crashed test never removes DIR.)
 * It notices the death as EOF on a pipe whose only writer is the test
 * (O_CLOEXEC, so programs the test runs do not keep it open), or as a new
 * parent, checked every second, in case a forked child of the test still
 * holds the pipe.  It ignores the signals that a ^C or a runner
 * sends to the whole process group and leaves the group, so that it lives
 * to clean up after them; dfs_pg_teardown() ends it with SIGKILL.
 */
static __attribute__((noreturn)) void watchdog(const struct dfs_pg *pg, int rfd,
					       pid_t parent)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE };
	struct sigaction sa = { .sa_handler = SIG_IGN };
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	setsid();
	prctl(PR_SET_NAME, "dfs-pg-watchdog");
	/* Keep only stderr, for one line, and the pipe, as fd 3. */
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
	}
	if (rfd != 3)
		rfd = dup2(rfd, 3);
	close_range(4, ~0U, 0);
	for (;;) {
		struct pollfd p = { .fd = rfd, .events = POLLIN };
		int n = poll(&p, 1, 1000);

		if (n > 0 || (n < 0 && errno != EINTR) || getppid() != parent)
			break;
	}
	fprintf(stderr,
		"pgserver: %s: the test died without dfs_pg_teardown(); "
		"stopping its server\n",
		pg->dir);
	kill_server(pg);
	rm_dir(pg->dir);
	_exit(0);
}

static int watchdog_start(struct dfs_pg *pg)
{
	pid_t parent = getpid(), pid;
	int pfd[2], rc;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rc = -errno;
		say(pg, "pipe: %s", strerror(-rc));
		return rc;
	}
	fflush(NULL); /* or the child may print our buffered output again */
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		say(pg, "fork: %s", strerror(-rc));
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	if (pid == 0) {
		close(pfd[1]);
		watchdog(pg, pfd[0], parent);
	}
	close(pfd[0]);
	pg->watchdog = pid;
	pg->watch_fd = pfd[1];
	return 0;
}

static void watchdog_stop(struct dfs_pg *pg)
{
	if (pg->watchdog > 0) {
		kill(pg->watchdog, SIGKILL);
		(void)wait_exit(pg->watchdog);
		pg->watchdog = 0;
	}
	if (pg->watch_fd >= 0) {
		close(pg->watch_fd);
		pg->watch_fd = -1;
	}
}

static int run_psql(const struct dfs_pg *pg, const char *url, char *out,
		    size_t cap, const char *sql)
{
	char bin[PATH_MAX];
	char *argv[] = { bin,
			 (char *)"-X",
			 (char *)"-q",
			 (char *)"-v",
			 (char *)"ON_ERROR_STOP=1",
			 (char *)"-At",
			 (char *)"-d",
			 (char *)url,
			 (char *)"-c",
			 (char *)sql,
			 NULL };
	struct env env;

	if (in_bindir(bin, sizeof(bin), pg->bindir, "psql") < 0)
		return -1;
	/* As the caller (root is fine: auth is trust on a 0777 socket), so
	 * that psql's \copy reaches the caller's files. */
	return run(pg, argv, make_env(&env, pg), 0, -1, -1, out, cap);
}

static int create_db(const struct dfs_pg *pg)
{
	char url[sizeof(pg->url)];
	int rc;

	if (make_url(pg, "postgres", url, sizeof(url)) < 0)
		return -ENAMETOOLONG;
	rc = run_psql(pg, url, NULL, 0, "CREATE DATABASE " PG_DB);
	if (rc != 0) {
		say(pg, "CREATE DATABASE " PG_DB " failed (exit %d)", rc);
		show_log(pg);
		return -EIO;
	}
	return 0;
}

int dfs_pg_start(struct dfs_pg *pg)
{
	return dfs_pg_start_on(pg, "");
}

int dfs_pg_start_on(struct dfs_pg *pg, const char *addr)
{
	int rc;

	memset(pg, 0, sizeof(*pg));
	snprintf(pg->listen, sizeof(pg->listen), "%s", addr);
	pg->port = PG_PORT;
	pg->watch_fd = -1;
	rc = find_bindir(pg);
	if (rc < 0) {
		say(pg, "no PostgreSQL server (initdb) found: install "
			"postgresql-15, or set DFS_PG_BINDIR");
		return rc;
	}
	rc = make_dir(pg);
	if (rc < 0)
		goto fail;
	rc = make_url(pg, PG_DB, pg->url, sizeof(pg->url));
	if (rc < 0)
		goto fail;
	rc = make_log(pg);
	if (rc < 0)
		goto fail;
	/* before there is a server to leave behind */
	rc = watchdog_start(pg);
	if (rc < 0)
		goto fail;
	rc = initdb(pg);
	if (rc < 0)
		goto fail;
	rc = write_conf(pg);
	if (rc < 0)
		goto fail;
	rc = server_start(pg);
	if (rc < 0)
		goto fail;
	rc = create_db(pg);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	dfs_pg_teardown(pg);
	return rc;
}

int dfs_pg_stop(struct dfs_pg *pg)
{
	int rc;

	if (!pg->dir[0] || !pg->running)
		return -ESRCH;
	rc = pg_ctl(pg, "stop", "fast");
	if (rc == 0) {
		pg->running = false;
		return 0;
	}
	/* Killed by the test, say: then there is nothing to stop. */
	pg->running = is_postgres(read_pidfile(pg));
	if (!pg->running)
		return -ESRCH;
	say(pg, "pg_ctl stop failed (exit %d)", rc);
	show_log(pg);
	return -EIO;
}

int dfs_pg_restart(struct dfs_pg *pg)
{
	int rc;

	if (!pg->dir[0])
		return -EINVAL;
	if (pg->running) {
		rc = dfs_pg_stop(pg);
		if (rc < 0 && rc != -ESRCH)
			return rc;
	}
	return server_start(pg);
}

void dfs_pg_teardown(struct dfs_pg *pg)
{
	if (!pg->dir[0])
		return;
	watchdog_stop(pg);
	/* Even if !running: a pg_ctl start that timed out leaves a server. */
	if (is_postgres(read_pidfile(pg)))
		(void)pg_ctl(pg, "stop", "immediate");
	kill_server(pg);
	pg->running = false;
	rm_dir(pg->dir);
	pg->dir[0] = '\0';
}

int dfs_pg_sql(const struct dfs_pg *pg, char *out, size_t cap, const char *fmt,
	       ...)
{
	char *sql = NULL;
	va_list ap;
	size_t n;
	int rc;

	if (out && cap)
		out[0] = '\0';
	if (!pg->dir[0])
		return -1;
	va_start(ap, fmt);
	rc = vasprintf(&sql, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	rc = run_psql(pg, pg->url, out, out ? cap : 0, sql);
	free(sql);
	if (out && cap && (n = strlen(out)) > 0 && out[n - 1] == '\n')
		out[n - 1] = '\0';
	return rc;
}

int dfs_pg_hosts_setup(struct dfs_pg *pg, struct dfs_mount *hosts, int n)
{
	char opts[sizeof(pg->url) + 64];
	int rc = dfs_pg_start(pg);

	if (rc == 0)
		rc = dfs_sh(&hosts[0], "\"$DEPLOYCTL\" init --registry '%s'",
			    pg->url);
	for (int i = 0; rc == 0 && i < n; i++) {
		snprintf(opts, sizeof(opts), "registry=%s,registry_host=host%d",
			 pg->url, i);
		rc = dfs_mount_setup_opts(&hosts[i], opts);
	}
	return rc;
}

void dfs_pg_hosts_teardown(struct dfs_pg *pg, struct dfs_mount *hosts, int n)
{
	for (int i = 0; i < n; i++)
		dfs_mount_teardown(&hosts[i]);
	dfs_pg_teardown(pg);
}
