// SPDX-License-Identifier: MIT
/*
 * test_ckpt.c - the daemon's checkpoints (store/storage/ckpt.c): the tick
 * copies the WAL into the database file through a connection of its own,
 * so the store's calls go on while it copies; what they commit meanwhile
 * reaches the database file by the next checkpoint, and the WAL still
 * starts over from its head.
 *
 * A checkpoint is held at its sync of the database file (a hook of the
 * VFS, storage/walvfs.c) for as long as the test says.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../store/content/content.h"
#include "../../store/storage/storage.h"
#include "fixture.h"

static struct dfs_fixture fx;

/* The held checkpoint: the tick waits in hold() until released. */
static pthread_mutex_t hmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hcv = PTHREAD_COND_INITIALIZER;
static bool armed, held, released;

static struct timespec in_s(int s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s;
	return ts;
}

/* Runs in the tick: holds the first sync once armed, 60 s at most (a
 * store whose calls wait for it would otherwise hang the suite). */
static void hold(void)
{
	struct timespec until = in_s(60);

	pthread_mutex_lock(&hmu);
	if (armed && !held) {
		held = true;
		pthread_cond_broadcast(&hcv);
		while (!released &&
		       pthread_cond_timedwait(&hcv, &hmu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&hmu);
}

static void release(void)
{
	pthread_mutex_lock(&hmu);
	released = true;
	pthread_cond_broadcast(&hcv);
	pthread_mutex_unlock(&hmu);
}

static void setup(void)
{
	armed = held = released = false;
	dfs_walvfs_on_db_sync(hold);
	dfs_fixture_setup(&fx, "ckpt", DFS_OPEN_DAEMON); /* with its tick */
}

static void teardown(void)
{
	release();
	dfs_walvfs_on_db_sync(NULL);
	dfs_fixture_teardown(&fx);
}

TestSuite(ckpt, .init = setup, .fini = teardown, .timeout = 120);

/* A new file dir/name holding data; as the fixture's, but without its
 * assertions (this runs in a thread of its own; the test checks what
 * was written from the database). */
static void write_file(uint64_t dir, const char *name, const void *data,
		       size_t len)
{
	struct dfs_file *f = NULL;
	struct dfs_attr a;
	ssize_t n;

	if (dfs_node_mknod(fx.st, &fx.me, dir, name, S_IFREG | 0644, 0, &a) <
		    0 ||
	    dfs_file_open(fx.st, a.ino, O_WRONLY, &f) < 0)
		return;
	n = pwrite(dfs_file_fd_get(f), data, len, 0);
	dfs_file_fd_put(fx.st, f, n > 0, n > 0 ? (uint64_t)n : 0);
	(void)dfs_file_release(fx.st, f);
}

/* What to write until the tick holds a checkpoint: 1024 pages of
 * commits call for one, or 5 s. */
struct fill {
	uint64_t dir;
	size_t size; /* of each file, kept in the database (<= 64 KiB) */
	int max;     /* files */
};

static bool is_held(void)
{
	bool yes;

	pthread_mutex_lock(&hmu);
	yes = held;
	pthread_mutex_unlock(&hmu);
	return yes;
}

static void *write_until_held(void *arg)
{
	static char data[60 * 1024];
	const struct fill *fl = arg;
	char name[32];

	for (int i = 0; i < fl->max && !is_held(); i++) {
		snprintf(name, sizeof(name), "f%d", i);
		memset(data, 'a' + i % 26, fl->size);
		memcpy(data, name, strlen(name)); /* no two alike */
		write_file(fl->dir, name, data, fl->size);
	}
	return NULL;
}

/* Arm the hook; true once the tick holds a checkpoint (60 s at most). */
static void arm(void)
{
	pthread_mutex_lock(&hmu);
	armed = true;
	pthread_mutex_unlock(&hmu);
}

/* Wait (s seconds at most) until *flag, which is set under hmu with a
 * broadcast of hcv; its value then. */
static bool wait_flag(const bool *flag, int s)
{
	struct timespec until = in_s(s);
	bool yes;

	pthread_mutex_lock(&hmu);
	while (!*flag &&
	       pthread_cond_timedwait(&hcv, &hmu, &until) != ETIMEDOUT)
		;
	yes = *flag;
	pthread_mutex_unlock(&hmu);
	return yes;
}

static bool wait_held(void)
{
	return wait_flag(&held, 60);
}

struct probe {
	int rc;
	bool done;
};

/* A call made while the checkpoint is held. */
static void *make_env(void *arg)
{
	struct probe *p = arg;
	struct dfs_attr env;
	int rc = dfs_node_mkdir(fx.st, &fx.me, DFS_INO_ENVIRONMENTS, "during",
				0755, &env);

	pthread_mutex_lock(&hmu);
	p->rc = rc;
	p->done = true;
	pthread_cond_broadcast(&hcv);
	pthread_mutex_unlock(&hmu);
	return NULL;
}

/* What a copy of the database file alone (no WAL) says of the
 * environment: 1 there, 0 not yet, -1 no sound copy (taken while the
 * tick wrote it). */
static int env_in_file_alone(void)
{
	char copy[256], cmd[1024];
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;
	int n = -1;

	snprintf(copy, sizeof(copy), "%s/copy", fx.tmp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s' && cp '%s' '%s/'",
		 copy, copy, fx.db, copy);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	strcat(copy, "/deployfs.db");
	if (sqlite3_open_v2(copy, &db, SQLITE_OPEN_READWRITE, NULL) ==
		    SQLITE_OK &&
	    sqlite3_prepare_v2(db,
			       "SELECT count(*) FROM envs WHERE removed = 0 "
			       "AND CAST(name AS TEXT) = 'during'",
			       -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

Test(ckpt, calls_go_on_while_the_tick_copies_the_wal)
{
	struct probe p = { 0 };
	struct fill fl = { .size = 60 * 1024, .max = 400 };
	pthread_t writer, prober;
	int n = -1;

	FIXTURE_OK();
	fl.dir = dfs_fixture_component(&fx, "process", "many");
	arm();
	cr_assert_eq(pthread_create(&writer, NULL, write_until_held, &fl), 0);
	cr_assert(wait_held(), "no checkpoint after 400 files of 60 KiB");

	/* The checkpoint is held at its sync: a call still gets through. */
	cr_assert_eq(pthread_create(&prober, NULL, make_env, &p), 0);
	cr_expect(wait_flag(&p.done, 20),
		  "a call waited 20 s for a checkpoint to finish");
	release();
	cr_assert_eq(pthread_join(prober, NULL), 0);
	cr_assert_eq(pthread_join(writer, NULL), 0);
	cr_assert_eq(p.rc, 0, "mkdir environments/during: %s", strerror(-p.rc));

	/* Committed while the tick copied: in the file by the next
	 * checkpoint, DFS_CHECKPOINT_MS later at most (polled; 30 s for a
	 * loaded machine). */
	for (int64_t deadline =
		     dfs_now_ns() / 1000000 + DFS_CHECKPOINT_MS + 30000;
	     dfs_now_ns() / 1000000 < deadline; usleep(50 * 1000))
		if ((n = env_in_file_alone()) == 1)
			break;
	cr_assert_eq(n, 1,
		     "the environment made during a checkpoint is not in the "
		     "database file alone %d ms later",
		     DFS_CHECKPOINT_MS + 30000);
}

/* The WAL header's checkpoint sequence number and salts: they change
 * each time the WAL starts over from its head. */
static void wal_salts(char ret[12])
{
	char wal[256];
	FILE *f;

	snprintf(wal, sizeof(wal), "%s-wal", fx.db);
	f = fopen(wal, "rb");
	cr_assert_not_null(f, "%s: %s", wal, strerror(errno));
	cr_assert_eq(fseek(f, 12, SEEK_SET), 0);
	cr_assert_eq(fread(ret, 1, 12, f), 12u);
	fclose(f);
}

static bool settled(void)
{
	bool done;

	pthread_mutex_lock(&fx.st->lock);
	done = !fx.st->txn_open && !fx.st->ckpt_catchup;
	pthread_mutex_unlock(&fx.st->lock);
	return done;
}

/*
 * The WAL starts over from its head only at a write whose transaction
 * began after a checkpoint copied all of it.  A call made while the tick
 * copies without the lock begins its transaction before that, so the tick
 * copies what it committed with the lock, and the next write starts the
 * WAL over.  (Without that second copy an untar grew the WAL by every page
 * it wrote: 292 MB for 30,000 files.)
 */
Test(ckpt, the_wal_starts_over_after_calls_made_during_a_checkpoint)
{
	static char data[4096];
	struct fill fl = { .size = sizeof(data), .max = 4000 };
	char before[12], after[12];
	struct dfs_attr a;
	int rc;

	FIXTURE_OK();
	fl.dir = dfs_fixture_component(&fx, "process", "many");
	arm();
	write_until_held(&fl);
	cr_assert(wait_held(), "no checkpoint after 4,000 files of 4 KiB");
	wal_salts(before);

	/* A create while the tick copies: its transaction stays open. */
	rc = dfs_node_mknod(fx.st, &fx.me, fl.dir, "during", S_IFREG | 0644, 0,
			    &a);
	cr_assert_eq(rc, 0, "mknod during the checkpoint: %s", strerror(-rc));
	pthread_mutex_lock(&fx.st->lock);
	cr_assert(fx.st->txn_open, "the create's transaction is not open");
	pthread_mutex_unlock(&fx.st->lock);
	release();

	/* The tick commits it (20 ms) and copies the rest; then a write. */
	for (int64_t deadline = dfs_now_ns() + 30000000000LL;
	     !settled() && dfs_now_ns() < deadline; usleep(5000))
		;
	cr_assert(settled(), "the tick did not commit the create in 30 s");
	write_file(fl.dir, "after", data, sizeof(data));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	wal_salts(after);
	cr_assert_neq(memcmp(before, after, sizeof(before)), 0,
		      "the WAL did not start over after the checkpoint");
}

struct closer {
	struct dfs_store *st;
	bool done;
};

static void *close_store(void *arg)
{
	struct closer *c = arg;

	(void)dfs_store_free(c->st);
	pthread_mutex_lock(&hmu);
	c->done = true;
	pthread_cond_broadcast(&hcv);
	pthread_mutex_unlock(&hmu);
	return NULL;
}

static bool stopping(struct dfs_store *st)
{
	bool yes;

	pthread_mutex_lock(&st->lock);
	yes = st->content->stopping;
	pthread_mutex_unlock(&st->lock);
	return yes;
}

/*
 * The store is closed (unmount) while the tick copies without the lock,
 * with nothing committed meanwhile: the tick must see that it is told to
 * stop, rather than wait for work that will never come.  (Its wake-up
 * came while it copied; an fsx run hung 20 s at unmount, 1 in 3.)
 */
Test(ckpt, a_store_closes_while_its_tick_copies_the_wal)
{
	static char data[4096];
	struct closer c = { 0 };
	pthread_t t;
	uint64_t dir;

	FIXTURE_OK();
	dir = dfs_fixture_component(&fx, "process", "few");
	memset(data, 'x', sizeof(data));
	write_file(dir, "f", data, sizeof(data));
	cr_assert_eq(dfs_store_sync(fx.st), 0);
	/* Nothing more is written: the checkpoint comes by the time bound
	 * (DFS_CHECKPOINT_MS), and nothing is committed while it copies. */
	arm();
	cr_assert(wait_held(), "no checkpoint within 60 s");

	c.st = fx.st;
	fx.st = NULL; /* closed here, not by the teardown */
	cr_assert_eq(pthread_create(&t, NULL, close_store, &c), 0);
	for (int64_t deadline = dfs_now_ns() + 30000000000LL;
	     !stopping(c.st) && dfs_now_ns() < deadline; usleep(2000))
		;
	cr_assert(stopping(c.st), "the close did not tell the tick to stop");
	release();

	cr_assert(wait_flag(&c.done, 20),
		  "the store did not close in 20 s: its tick waits");
	cr_assert_eq(pthread_join(t, NULL), 0);
}
