/* SPDX-License-Identifier: MIT */
/*
 * pgserver.h - a real, throwaway PostgreSQL server for an integration test.
 *
 * Each server lives in a fresh temporary folder DIR (mode 0755, owned by
 * nobody) holding its cluster in DIR/data, its log in DIR/log and its unix
 * socket DIR/.s.PGSQL.PORT.  It has no TCP listener, so servers of tests
 * running in parallel cannot see each other.  PostgreSQL refuses to run as
 * root, so initdb, pg_ctl and the server run as uid/gid 65534 (nobody);
 * psql runs as the caller.  fsync stays on: the tests check durability.
 *
 * The binaries come from $DFS_PG_BINDIR, else pg_config --bindir if it
 * holds an initdb (Debian's pg_config comes with libpq-dev and may be of
 * another version), else the highest /usr/lib/postgresql/N/bin.
 *
 * A server outlives the process that started it (pg_ctl detaches it), so
 * call dfs_pg_teardown() from .fini.  For a test process that dies without
 * running .fini, dfs_pg_start() leaves a watchdog: a child process that
 * stops the server and removes DIR when the test process is gone.  So do
 * not wait() for any child in a test that uses this, only for your own.
 */
#ifndef DFS_TEST_PGSERVER_H
#define DFS_TEST_PGSERVER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct dfs_pg {
	char dir[PATH_MAX]; /* the temporary folder: data/ and the socket */
	/* a libpq URL: postgresql:///deployfs?host=DIR&port=PORT&user=deployfs */
	char url[PATH_MAX + 64];
	int port; /* the port number in the socket file name */
	bool running;
	char listen[64];       /* listen_addresses: "" the socket only */
	char bindir[PATH_MAX]; /* initdb, pg_ctl, postgres and psql */
	pid_t watchdog;	       /* stops the server if we die; 0 if none */
	int watch_fd;	       /* its pipe: EOF when we die; -1 if none */
};

/* Create a temporary folder under $TMPDIR (or /tmp), mode 0755, owned by
 * uid 65534 (nobody), initdb it there as nobody (superuser role "deployfs",
 * auth trust, no TCP: listen_addresses='', unix socket in DIR), start it with
 * pg_ctl -w, and create the database "deployfs". Returns 0 or -errno, with a
 * message on stderr saying what failed (and the server log's tail).  On
 * failure nothing is left behind (DFS_KEEP_TMP=1 keeps DIR). */
int dfs_pg_start(struct dfs_pg *pg);
/* The same, listening on TCP at addr too (any host that reaches it may
 * connect, trust): for tests that cut a host off in a network namespace. */
int dfs_pg_start_on(struct dfs_pg *pg, const char *addr);
/* pg_ctl stop -m fast (the server stays initialised: dfs_pg_restart starts it again). */
int dfs_pg_stop(struct dfs_pg *pg);
/* Start an initialised server again, on the same port and socket (stopping
 * it first, -m fast, if it is running). */
int dfs_pg_restart(struct dfs_pg *pg);
/* Stop if running (-m immediate) and remove DIR. Safe to call twice; for .fini.
 * DFS_KEEP_TMP=1 in the environment keeps DIR (the server is stopped all
 * the same). */
void dfs_pg_teardown(struct dfs_pg *pg);
struct dfs_mount;
/* For a suite of several hosts on one registry: start pg, make the
 * registry (deployctl init --registry), and mount n stores, hosts[i] with
 * -o registry=URL,registry_host=hostI.  0, or the first failure. */
int dfs_pg_hosts_setup(struct dfs_pg *pg, struct dfs_mount *hosts, int n);
/* Unmount the n hosts and stop pg (for .fini). */
void dfs_pg_hosts_teardown(struct dfs_pg *pg, struct dfs_mount *hosts, int n);
/* Run psql -X -q -v ON_ERROR_STOP=1 -At -c SQL on the database as the
 * superuser; stdout captured into out (cap bytes, NUL-ended, trailing
 * newline cut) when out is not NULL. Returns psql's exit status or -1. */
int dfs_pg_sql(const struct dfs_pg *pg, char *out, size_t cap, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));

#endif
