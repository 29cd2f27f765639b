// SPDX-License-Identifier: MIT
/*
 * test_registry.c - three hosts share one registry in a real PostgreSQL
 * server the suite starts (pgserver.h): three daemons on three stores,
 * each mounted with -o registry=URL.  A package made on one host is made
 * on the others (the same tree, metadata and content hash, recorded as
 * an import from the registry); the same version made on all three at
 * once is made once, the others refused with EEXIST; with PostgreSQL
 * stopped a package is refused with EHOSTDOWN, recorded, nothing made,
 * what is here still served, and the hosts reconnect by themselves when
 * it returns; a publisher killed with kill -9 in the middle of its upload
 * leaves no package anywhere; a hostile manifest writes nothing outside
 * its staging folder; the registry's trail is append-only; a database
 * that is not a registry refuses the mount.
 */
#include "harness.h"
#include "pgserver.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HOSTS 3
#define PKG "packages/order-sync/order-sync@"
#define WAIT_MS 10000

static struct dfs_pg pg;
static struct dfs_mount host[HOSTS];
static int setup_rc;

static void setup(void)
{
	char out[256];

	setup_rc = dfs_pg_hosts_setup(&pg, host, HOSTS);
	if (setup_rc == 0)
		setup_rc = dfs_pg_sql(&pg, out, sizeof(out),
				      "SELECT version FROM registry");
	if (setup_rc == 0 && strcmp(out, "1") != 0)
		setup_rc = -EPROTO;
}

static void teardown(void)
{
	dfs_pg_hosts_teardown(&pg, host, HOSTS);
}

TestSuite(registry, .init = setup, .fini = teardown, .timeout = 180);

/* Wait until sh -c cond succeeds on host h: true, or false at the
 * deadline. */
static bool eventually(int h, const char *cond)
{
	long deadline = dfs_now_ms() + WAIT_MS;

	while (dfs_sh(&host[h], "%s", cond) != 0) {
		if (dfs_now_ms() > deadline)
			return false;
		dfs_sleep_ms(20);
	}
	return true;
}

static char *xattr(int h, const char *path, const char *name, char *buf,
		   size_t cap)
{
	return dfs_out(&host[h], buf, cap,
		       "getfattr --only-values -n user.deployfs.%s \"$MNT/%s\"",
		       name, path);
}

/* Lines of file (a shell word, "$MNT/audit.log") on host h matching the
 * basic regular expression re. */
static int lines(int h, const char *re, const char *file)
{
	char buf[32];

	return atoi(dfs_out(&host[h], buf, sizeof(buf),
			    "grep -c -- '%s' %s || true", re, file));
}

/* Exactly one refusal matching cond reaches the registry's trail (the
 * follower replays it after catching up), and no second one after
 * another round. */
static bool in_trail(const char *cond)
{
	long deadline = dfs_now_ms() + WAIT_MS;
	char out[64];

	do {
		if (dfs_pg_sql(&pg, out, sizeof(out),
			       "SELECT count(*) FROM events WHERE"
			       " result = 'refused' AND %s",
			       cond) != 0)
			return false;
		if (!strcmp(out, "1"))
			break;
		dfs_sleep_ms(20);
	} while (dfs_now_ms() < deadline);
	/* Another act makes every follower go round again. */
	dfs_ok(&host[0], "mkdir \"$MNT/environments/again$$\"");
	for (int h = 0; h < HOSTS; h++)
		if (!eventually(h, "ls \"$MNT/environments\" | grep -q again"))
			return false;
	return dfs_pg_sql(&pg, out, sizeof(out),
			  "SELECT count(*) FROM events WHERE"
			  " result = 'refused' AND %s",
			  cond) == 0 &&
	       !strcmp(out, "1");
}

static void workspace(int h, const char *mark)
{
	dfs_need_mount(&host[h], setup_rc);
	cr_assert_eq(dfs_copy_workspace(&host[h]), 0, "cp -a of the workspace");
	if (mark)
		dfs_ok(&host[h],
		       "echo '<!-- %s -->' >> \"$BUILD/process/order-sync/"
		       "process.xml\"",
		       mark);
}

Test(registry, a_package_made_on_one_host_is_made_on_the_others)
{
	char a[256], b[256], path[128];
	long t0;

	workspace(0, NULL);
	dfs_ok(&host[0], "mkdir \"$MNT/" PKG "1\"");
	t0 = dfs_now_ms();
	for (int h = 1; h < HOSTS; h++)
		cr_assert(eventually(h, "test -d \"$MNT/" PKG "1\""),
			  "host%d has order-sync@1 within %d ms", h, WAIT_MS);
	cr_log_info("seen on the other hosts after %ld ms", dfs_now_ms() - t0);
	snprintf(path, sizeof(path), PKG "1");
	for (int h = 1; h < HOSTS; h++) {
		const char *keys[] = { "content_hash", "created",  "created_by",
				       "revisions",    "requires", "type" };

		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			cr_assert_str_eq(xattr(h, path, keys[k], b, sizeof(b)),
					 xattr(0, path, keys[k], a, sizeof(a)),
					 "host%d's %s", h, keys[k]);
		/* The same tree: names, modes, owners, times, bytes. */
		setenv("A", host[0].mnt, 1);
		dfs_ok(&host[h],
		       "cd \"$A/" PKG "1\" && find . -printf '%%p %%M %%u %%g "
		       "%%s %%T@ %%l\\n' | sort > \"$DIR/a\" && cd \"$MNT/" PKG
		       "1\" && find . -printf '%%p %%M %%u %%g %%s %%T@ "
		       "%%l\\n' | sort > \"$DIR/b\" && diff \"$DIR/a\" "
		       "\"$DIR/b\" && diff -r --no-dereference \"$A/" PKG
		       "1\" \"$MNT/" PKG "1\"");
		cr_assert_eq(lines(h,
				   "action=import .*version=1 .*result=ok "
				   "reason=\"from store registry (published "
				   "by host0)\"",
				   "\"$MNT/audit.log\""),
			     1, "host%d records the import once", h);
	}
	cr_assert_eq(dfs_pg_sql(&pg, a, sizeof(a),
				"SELECT host || ' ' || action || ' ' ||"
				" component || '@' || version FROM events"),
		     0);
	cr_assert_str_eq(a, "host0 package order-sync@1");
}

Test(registry, the_same_version_made_on_all_hosts_at_once_is_made_once)
{
	char out[512], a[64], b[64];
	int refused = 0;

	for (int h = 0; h < HOSTS; h++) {
		char mark[16];

		snprintf(mark, sizeof(mark), "host%d", h);
		workspace(h, mark);
		setenv(h == 0 ? "M0" : h == 1 ? "M1" : "M2", host[h].mnt, 1);
	}
	/* Three mkdirs at once, each one's exit status in a file.  A
	 * session holding the lock publishers take on the trail keeps all
	 * three from finishing until each has reached its daemon and is
	 * waiting on it (pg_locks): so no host can learn of the package
	 * from another before its own mkdir asks. */
	setenv("PSQL", pg.bindir, 1);
	setenv("PGURL", pg.url, 1);
	dfs_out(&host[0], out, sizeof(out),
		"q() { \"$PSQL/psql\" -XAtq \"$PGURL\" -c \"SELECT count(*)"
		" FROM pg_locks WHERE relation = 'events'::regclass AND"
		" $1\"; }; mkfifo \"$DIR/pgin\" && { \"$PSQL/psql\" -Xq"
		" \"$PGURL\" <\"$DIR/pgin\" >/dev/null & } && exec 4>\"$DIR/pgin\""
		" && echo 'BEGIN; LOCK TABLE events IN EXCLUSIVE MODE;' >&4 &&"
		" i=0; until [ \"$(q granted)\" = 1 ]; do i=$((i+1));"
		" [ $i -lt 3000 ] || exit 2; sleep 0.01; done;"
		" for m in \"$M0\" \"$M1\" \"$M2\"; do"
		" (mkdir \"$m/" PKG "7\" 2>\"$m.err\"; echo $? > \"$m.rc\") &"
		" done; i=0; until [ \"$(q 'NOT granted')\" = 3 ]; do"
		" i=$((i+1)); [ $i -lt 3000 ] || exit 3; sleep 0.01; done;"
		" echo 'COMMIT;' >&4; exec 4>&-; wait; cat \"$M0.rc\" \"$M1.rc\""
		" \"$M2.rc\" | sort | tr '\\n' ' '");
	cr_assert_str_eq(out, "0 1 1 ", "one made, two refused: %s", out);
	dfs_out(&host[0], out, sizeof(out),
		"cat \"$M0.err\" \"$M1.err\" \"$M2.err\" |"
		" grep -c 'File exists' || true");
	cr_assert_str_eq(out, "2", "two refused with EEXIST");
	cr_assert_eq(dfs_pg_sql(&pg, out, sizeof(out),
				"SELECT count(*) FROM packages WHERE"
				" version = '7'"),
		     0);
	cr_assert_str_eq(out, "1");
	/* Every host ends with the one that was made; the two others
	 * recorded their refusals. */
	for (int h = 0; h < HOSTS; h++) {
		cr_assert(eventually(h, "test -d \"$MNT/" PKG "7\""), "host%d",
			  h);
		cr_assert_str_eq(
			xattr(h, PKG "7", "content_hash", b, sizeof(b)),
			xattr(0, PKG "7", "content_hash", a, sizeof(a)));
		refused += lines(h,
				 "action=package .*version=7 .*result=refused"
				 " reason=\"File exists",
				 "\"$MNT/audit.log\"");
	}
	cr_assert_eq(refused, 2);
}

Test(registry, with_postgresql_stopped_a_package_is_EHOSTDOWN_and_comes_later)
{
	char out[512];

	workspace(0, NULL);
	dfs_ok(&host[0], "mkdir \"$MNT/" PKG "1\"");
	cr_assert(eventually(1, "test -d \"$MNT/" PKG "1\""));
	cr_assert_eq(dfs_pg_stop(&pg), 0);
	dfs_out(&host[0], out, sizeof(out),
		"mkdir \"$MNT/" PKG "2\" 2>&1; echo rc=$?");
	cr_assert(strstr(out, "Host is down") && strstr(out, "rc=1"), "%s",
		  out);
	cr_assert_neq(dfs_sh(&host[0], "test -e \"$MNT/" PKG "2\""), 0,
		      "nothing made");
	cr_assert_eq(lines(0,
			   "action=package .*version=2 .*result=refused "
			   "reason=\"Host is down: cannot reach the registry",
			   "\"$MNT/audit.log\""),
		     1);
	/* What is here is still served, on every host. */
	dfs_ok(&host[1], "cat \"$MNT/" PKG "1/process.xml\" >/dev/null");
	dfs_ok(&host[0],
	       "cat \"$BUILD/process/order-sync/process.xml\" "
	       ">/dev/null && touch \"$BUILD/process/order-sync/new.txt\"");
	cr_assert_eq(dfs_pg_restart(&pg), 0);
	/* Back: the next act goes through, and the others hear of it. */
	dfs_ok(&host[0], "mkdir \"$MNT/" PKG "2\"");
	for (int h = 1; h < HOSTS; h++)
		cr_assert(eventually(h, "test -d \"$MNT/" PKG "2\""),
			  "host%d reconnected and has order-sync@2", h);
	/* The refusal made meanwhile is in the registry's trail, once. */
	cr_assert(in_trail("action = 'package' AND version = '2'"));
}

Test(registry, a_publisher_killed_in_its_upload_leaves_no_package)
{
	char out[256];
	long deadline;

	workspace(0, NULL);
	/* Four blobs of 32 MiB of random bytes, each a transaction of 32
	 * chunks: killed once the first is in, while the others go up. */
	dfs_ok(&host[0], "for i in 1 2 3 4; do head -c 33554432 /dev/urandom"
			 " > \"$BUILD/process/order-sync/big$i.bin\"; done");
	dfs_ok(&host[0], "mkdir \"$MNT/" PKG "3\" 2>/dev/null &");
	deadline = dfs_now_ms() + WAIT_MS;
	do {
		cr_assert(dfs_now_ms() < deadline, "no blob uploaded in time");
		dfs_sleep_ms(5);
		cr_assert_eq(dfs_pg_sql(&pg, out, sizeof(out),
					"SELECT count(*) FROM blobs"
					" WHERE size = 33554432"),
			     0);
	} while (atoi(out) < 1);
	cr_assert_eq(dfs_mount_kill9(&host[0]), 0);
	cr_assert_eq(dfs_pg_sql(&pg, out, sizeof(out),
				"SELECT count(*) FROM packages"),
		     0);
	cr_assert_str_eq(out, "0", "no package in the registry");
	cr_assert_eq(dfs_pg_sql(&pg, out, sizeof(out),
				"SELECT count(*) FROM blobs"
				" WHERE size = 33554432"),
		     0);
	cr_assert_neq(strcmp(out, "4"), 0, "killed before its last blob");
	cr_assert_eq(dfs_pg_sql(&pg, out, sizeof(out),
				"SELECT count(*) FROM blobs b WHERE"
				" (SELECT count(*) FROM chunks c WHERE"
				" c.hash = b.hash) <> b.chunks"),
		     0);
	cr_assert_str_eq(out, "0", "every blob the registry has is whole");
	cr_assert_eq(dfs_mount_start(&host[0]), 0);
	cr_assert_neq(dfs_sh(&host[0], "test -e \"$MNT/" PKG "3\""), 0,
		      "not made on the publisher");
	cr_assert_neq(dfs_sh(&host[1], "test -e \"$MNT/" PKG "3\""), 0,
		      "nor elsewhere");
	/* Made again, it goes through whole. */
	dfs_ok(&host[0], "mkdir \"$MNT/" PKG "3\"");
	setenv("A", host[0].mnt, 1);
	cr_assert(eventually(1, "cmp \"$MNT/" PKG "3/big4.bin\" \"$A/" PKG
				"3/big4.bin\" 2>/dev/null"));
}

Test(registry, a_hostile_manifest_writes_nothing_outside_its_stage)
{
	static const char *const manifests[] = {
		/* a path that climbs out */
		"\\000"
		"40755 0 0 0 0 -"
		"\\000\\000"
		"../../escaped"
		"\\000"
		"100644 0 0 0 0 "
		"99aabbccddeeff00112233445566778a"
		"\\000\\000",
		/* a link, then a file through it */
		"\\000"
		"40755 0 0 0 0 -"
		"\\000\\000"
		"l"
		"\\000"
		"120777 0 0 0 4 -"
		"\\000"
		"/tmp"
		"\\000"
		"l/escaped"
		"\\000"
		"100644 0 0 0 0 "
		"99aabbccddeeff00112233445566778a"
		"\\000\\000",
	};
	char out[256];

	dfs_need_mount(&host[1], setup_rc);
	for (size_t i = 0; i < 2; i++) {
		cr_assert_eq(
			dfs_pg_sql(&pg, NULL, 0,
				   "WITH e AS (INSERT INTO events (host, actor,"
				   " action, component, version, result)"
				   " VALUES ('evil', 'x', 'package', 'evil',"
				   " '%zu', 'ok') RETURNING seq)"
				   " INSERT INTO packages SELECT 'evil', '%zu',"
				   " 'process', '\\x00', decode('component=evil"
				   "\\000type=process\\000version=%zu"
				   "\\000', 'escape'), decode('%s', 'escape'),"
				   " seq FROM e; NOTIFY deployfs",
				   i + 1, i + 1, i + 1, manifests[i]),
			0, "manifest %zu", i);
		/* Refused, logged; the next package still comes. */
	}
	workspace(0, NULL);
	dfs_ok(&host[0], "mkdir \"$MNT/" PKG "4\"");
	cr_assert(eventually(1, "test -d \"$MNT/" PKG "4\""));
	cr_assert_neq(dfs_sh(&host[1], "ls \"$MNT/packages/evil/\"*@* "
				       ">/dev/null 2>&1"),
		      0, "no evil package made");
	dfs_out(&host[1], out, sizeof(out),
		"find \"$STORE\" / -xdev -maxdepth 3 -name escaped 2>/dev/null"
		" | wc -l");
	cr_assert_str_eq(out, "0", "nothing escaped");
	cr_assert_eq(
		lines(1, "registry: evil@.* not made", "\"$DIR/daemon.log\""),
		2);
}

Test(registry, the_registry_trail_is_append_only)
{
	char out[512];

	workspace(0, NULL);
	dfs_ok(&host[0], "mkdir \"$MNT/" PKG "5\"");
	cr_assert_neq(dfs_pg_sql(&pg, NULL, 0, "UPDATE events SET host = 'x'"),
		      0);
	cr_assert_neq(dfs_pg_sql(&pg, NULL, 0, "DELETE FROM events"), 0);
	cr_assert_neq(dfs_pg_sql(&pg, NULL, 0, "TRUNCATE events CASCADE"), 0);
	cr_assert_eq(
		dfs_pg_sql(&pg, out, sizeof(out), "SELECT host FROM events"),
		0);
	cr_assert_str_eq(out, "host0");
}

Test(registry, a_database_that_is_not_a_registry_refuses_the_mount)
{
	struct dfs_mount m;
	char opts[sizeof(pg.url) + 32], url[sizeof(pg.url)], out[1024];
	const char *db;

	dfs_need_mount(&host[0], setup_rc);
	cr_assert_eq(dfs_pg_sql(&pg, NULL, 0, "CREATE DATABASE plain"), 0);
	db = strstr(pg.url, "/deployfs?");
	cr_assert(db);
	snprintf(url, sizeof(url), "%.*s/plain?%s", (int)(db - pg.url), pg.url,
		 db + strlen("/deployfs?"));
	snprintf(opts, sizeof(opts), "registry=%s", url);
	cr_assert_eq(dfs_mount_setup_opts(&m, opts), -EIO, "refused");
	dfs_out(&m, out, sizeof(out), "cat \"$DIR/daemon.log\"");
	dfs_mount_teardown(&m);
	cr_assert(strstr(out, "not a registry: deployctl init --registry"),
		  "%s", out);
}

/* ---- environments ------------------------------------------------------ */

#define ENV "environments/test"
/* ENV/order-sync links to order-sync@V */
#define LINKS_TO(v) \
	"readlink \"$MNT/" ENV "/order-sync\" | grep -q 'order-sync@" v "$'"

/* The deploy, rollback and undeploy lines of host h's audit.log, without
 * what differs between hosts (time, seq, pid, command, host). */
static char *acts(int h, char *buf, size_t cap)
{
	return dfs_out(&host[h], buf, cap,
		       "grep -E 'action=(deploy|rollback|undeploy) ' "
		       "\"$MNT/audit.log\" | grep -v result=refused | "
		       "grep -v result=unchanged | "
		       "sed -E 's/.* action=/action=/; s/ from= / /' | "
		       "tr '\\n' ';'");
}

/* order-sync@1 and @2 made on host0, seen everywhere; environments/test
 * made on host0, seen everywhere. */
static void two_versions_and_an_env(void)
{
	workspace(0, NULL);
	dfs_ok(&host[0], "mkdir \"$MNT/" PKG "1\" && echo '<!-- 2 -->' >> "
			 "\"$BUILD/process/order-sync/process.xml\" && mkdir "
			 "\"$MNT/" PKG "2\" && mkdir \"$MNT/" ENV "\"");
	for (int h = 1; h < HOSTS; h++)
		cr_assert(eventually(h, "test -d \"$MNT/" PKG "2\" && test -d "
					"\"$MNT/" ENV "\""),
			  "host%d", h);
}

Test(registry, a_deploy_rollback_and_undeploy_on_one_host_reach_the_others)
{
	char a[2048], b[2048];

	two_versions_and_an_env();
	/* A link deploy on host0, seen on host1 and host2. */
	dfs_ok(&host[0], "cd \"$MNT/" ENV "\" && ln -s "
			 "../../packages/order-sync/order-sync@1 order-sync");
	for (int h = 1; h < HOSTS; h++)
		cr_assert(eventually(h, "cmp \"$MNT/" ENV "/order-sync@1/"
					"process.xml\" \"$MNT/" PKG
					"1/process.xml\" && " LINKS_TO("1")),
			  "host%d sees order-sync@1 deployed", h);
	/* A copy deploy of @2 on host1, a rollback by ln -sfn on host2. */
	dfs_ok(&host[1], "cd \"$MNT\" && cp -r packages/order-sync/"
			 "order-sync@2 " ENV "/");
	cr_assert(eventually(2, LINKS_TO("2")));
	dfs_ok(&host[2], "cd \"$MNT/" ENV "\" && ln -sfn "
			 "../../packages/order-sync/order-sync@1 order-sync");
	for (int h = 0; h < HOSTS; h++)
		cr_assert(eventually(h,
				     LINKS_TO("1") " && ! test -e \"$MNT/" ENV
						   "/order-sync@2\""),
			  "host%d has rolled back", h);
	/* The same acts, numbered the same, on every host. */
	acts(0, a, sizeof(a));
	cr_assert(strstr(a, "action=deploy env=test component=order-sync "
			    "version=1 deployment=1 result=ok"),
		  "%s", a);
	cr_assert(strstr(a, "action=rollback env=test component=order-sync "
			    "version=1 from=2 deployment=3 result=ok"),
		  "%s", a);
	for (int h = 1; h < HOSTS; h++)
		cr_assert_str_eq(acts(h, b, sizeof(b)), a, "host%d", h);
	/* An undeploy on host1. */
	dfs_ok(&host[1], "rm \"$MNT/" ENV "/order-sync\"");
	for (int h = 0; h < HOSTS; h++)
		cr_assert(eventually(h, "test -z \"$(ls \"$MNT/" ENV "\")\""),
			  "host%d has nothing deployed", h);
	/* The registry's trail: every act once, in one order. */
	cr_assert_eq(dfs_pg_sql(&pg, a, sizeof(a),
				"SELECT string_agg(host || ':' || action ||"
				" coalesce(':' || version, ''), ' ' ORDER BY"
				" seq) FROM events WHERE env IS NOT NULL"),
		     0);
	cr_assert_str_eq(a, "host0:env-create host0:deploy:1 host1:deploy:2 "
			    "host2:deploy:1 host1:undeploy:1");
}

/*
 * inotifywait -m on host1's ENV while act runs (on host0's mount, $A):
 * the event want must come (within the 30 s bound; issue #13 asks for one
 * second, which the trail's and the follower's figures show).  As in
 * test_environments.c, bounded by timeout and killed by the shell's trap.
 */
#define WATCH_B(act, want)                                                   \
	"d=$(mktemp -d \"$DIR/watch.XXXXXX\") || exit 4; "                   \
	"timeout 60 inotifywait -m -e delete,create,moved_to --format "      \
	"'%%e %%f' \"$MNT/" ENV "\" >\"$d/events\" 2>\"$d/watch\" & w=$!; "  \
	"trap 'kill $w 2>/dev/null; wait $w 2>/dev/null' EXIT; i=0; "        \
	"until grep -q 'Watches established' \"$d/watch\"; do "              \
	"i=$((i+1)); [ $i -lt 3000 ] || exit 2; sleep 0.01; done; " act "; " \
	"i=0; until grep -qx '" want "' \"$d/events\"; do i=$((i+1)); "      \
	"[ $i -lt 3000 ] || { echo \"no '" want "' in:\"; od -c "            \
	"\"$d/events\"; cat \"$d/watch\"; exit 1; }; sleep 0.01; done"

Test(registry, watchers_on_another_host_see_deploys_and_undeploys)
{
	char out[256];

	two_versions_and_an_env();
	setenv("A", host[0].mnt, 1);
	dfs_ok(&host[1], WATCH_B("cd \"$A\" && cp -r packages/order-sync/"
				 "order-sync@1 " ENV "/",
				 "CREATE,ISDIR order-sync@1"));
	dfs_ok(&host[1], WATCH_B("cd \"$A/" ENV "\" && ln -sfn ../../packages/"
				 "order-sync/order-sync@2 order-sync",
				 "MOVED_TO order-sync"));
	/* What watchers were shown is what is there. */
	dfs_ok(&host[1],
	       LINKS_TO("2") " && test -d \"$MNT/" ENV
			     "/order-sync@2\" && ! test -e \"$MNT/" ENV
			     "/order-sync@1\"");
	dfs_ok(&host[1],
	       WATCH_B("rm \"$A/" ENV "/order-sync\"", "DELETE order-sync"));
	cr_assert_str_eq(
		dfs_out(&host[1], out, sizeof(out), "ls -A \"$MNT/" ENV "\""),
		"");
	/* Showing them is no act: nothing more in the trail or audit. */
	cr_assert_eq(dfs_pg_sql(&pg, out, sizeof(out),
				"SELECT string_agg(host || ':' || action,"
				" ' ' ORDER BY seq) FROM events WHERE env"
				" IS NOT NULL"),
		     0);
	cr_assert_str_eq(out, "host0:env-create host0:deploy host0:deploy "
			      "host0:undeploy");
	cr_assert_eq(lines(1, "result=refused", "\"$MNT/audit.log\""), 0);
}

Test(registry, deploys_from_all_hosts_at_once_are_one_order_everywhere)
{
	char a[8192], b[8192], out[64];

	two_versions_and_an_env();
	for (int h = 0; h < HOSTS; h++)
		setenv(h == 0 ? "M0" : h == 1 ? "M1" : "M2", host[h].mnt, 1);
	/* Each host flips order-sync between @1 and @2 ten times, all at
	 * once; ln -sfn of what is deployed already is no act. */
	dfs_ok(&host[0],
	       "for m in \"$M0\" \"$M1\" \"$M2\"; do (cd \"$m/" ENV "\" &&"
	       " for i in 1 2 3 4 5 6 7 8 9 10; do v=$((i %% 2 + 1));"
	       " ln -sfn ../../packages/order-sync/order-sync@$v order-sync"
	       " || exit 1; done) & done; wait");
	/* Every host applied every act: the same lines, 1, 2, 3... */
	acts(0, a, sizeof(a));
	for (int h = 1; h < HOSTS; h++) {
		long deadline = dfs_now_ms() + WAIT_MS;

		while (strcmp(acts(h, b, sizeof(b)), a) != 0 &&
		       dfs_now_ms() < deadline) {
			dfs_sleep_ms(50);
			acts(0, a, sizeof(a));
		}
		cr_assert_str_eq(b, a, "host%d", h);
	}
	dfs_out(&host[0], out, sizeof(out),
		"echo '%s' | tr ';' '\\n' | grep -o 'deployment=[0-9]*' | "
		"cut -d= -f2 | awk '$1 != NR { bad = 1 } END { print NR, "
		"bad + 0 }'",
		a);
	cr_assert_eq(atoi(out) >= 2, 1, "%s: %s", out, a);
	cr_assert(strstr(out, " 0"), "numbers 1, 2, 3... with no gap: %s", a);
	/* One active deployment, the same on every host. */
	for (int h = 0; h < HOSTS; h++)
		cr_assert_str_eq(dfs_out(&host[h], b, sizeof(b),
					 "ls \"$MNT/" ENV "\" | tr '\\n' ' '"),
				 dfs_out(&host[0], a, sizeof(a),
					 "ls \"$MNT/" ENV "\" | tr '\\n' ' '"),
				 "host%d", h);
	cr_assert_str_eq(dfs_out(&host[0], out, sizeof(out),
				 "ls \"$MNT/" ENV "\" | grep -c @"),
			 "1", "one active deployment");
}

Test(registry,
     with_postgresql_stopped_a_deploy_is_EHOSTDOWN_and_what_is_deployed_stays)
{
	char out[512];

	two_versions_and_an_env();
	dfs_ok(&host[0], "cd \"$MNT/" ENV "\" && ln -s "
			 "../../packages/order-sync/order-sync@1 order-sync");
	cr_assert(eventually(1, "test -L \"$MNT/" ENV "/order-sync\""));
	cr_assert_eq(dfs_pg_stop(&pg), 0);
	dfs_out(&host[1], out, sizeof(out),
		"cd \"$MNT/" ENV "\" && ln -sfn ../../packages/order-sync/"
		"order-sync@2 order-sync 2>&1; echo rc=$?");
	cr_assert(strstr(out, "Host is down") && strstr(out, "rc=1"), "%s",
		  out);
	/* Nothing moved, on any host; what is deployed is served. */
	for (int h = 0; h < HOSTS; h++)
		dfs_ok(&host[h],
		       LINKS_TO("1") " && cat "
				     "\"$MNT/" ENV "/order-sync/process.xml\" "
				     ">/dev/null");
	cr_assert_eq(lines(1,
			   "action=deploy env=test .*version=2 .*result=refused"
			   " reason=\"Host is down: cannot reach the registry",
			   "\"$MNT/audit.log\""),
		     1);
	cr_assert_eq(dfs_pg_restart(&pg), 0);
	dfs_ok(&host[1], "cd \"$MNT/" ENV "\" && ln -sfn ../../packages/"
			 "order-sync/order-sync@2 order-sync");
	for (int h = 0; h < HOSTS; h++)
		cr_assert(eventually(h, LINKS_TO("2")), "host%d", h);
	cr_assert(in_trail("action = 'deploy' AND version = '2' AND"
			   " host = 'host1'"));
}

#define AS_1000 "setpriv --reuid=1000 --regid=1000 --clear-groups "

Test(registry, an_environments_owner_and_mode_are_the_registrys_everywhere)
{
	char out[256];

	two_versions_and_an_env();
	dfs_ok(&host[0], "chown 65534:65534 \"$MNT/" ENV "\" && chmod 750 "
			 "\"$MNT/" ENV "\"");
	for (int h = 0; h < HOSTS; h++)
		cr_assert(eventually(h,
				     "test \"$(stat -c '%u %g %a' \"$MNT/" ENV
				     "\")\" = '65534 65534 750'"),
			  "host%d", h);
	/* Enforced on another host: uid 1000 may not deploy there. */
	dfs_out(&host[2], out, sizeof(out),
		AS_1000
		"ln -s ../../packages/order-sync/order-sync@1 \"$MNT/" ENV
		"/order-sync\" 2>&1; echo rc=$?");
	cr_assert(strstr(out, "Permission denied") && strstr(out, "rc=1"), "%s",
		  out);
	cr_assert_eq(dfs_pg_sql(&pg, out, sizeof(out),
				"SELECT action || ' ' || coalesce(owner::text,"
				" '-') || ' ' || coalesce(grp::text, '-') ||"
				" ' ' || coalesce(to_char(mode, 'FM9999'), '-')"
				" FROM events WHERE action = 'env-attr' ORDER"
				" BY seq LIMIT 1"),
		     0);
	cr_assert(strstr(out, "env-attr 65534 65534"), "%s", out);
}

Test(registry, bulk_deploys_prunes_and_removed_environments_reach_all)
{
	char out[512];

	two_versions_and_an_env();
	/* A bulk deploy on host1: one act, everywhere. */
	dfs_ok(&host[1], "\"$DEPLOYCTL\" deploy test order-sync@2 --mount "
			 "\"$MNT\" >/dev/null");
	for (int h = 0; h < HOSTS; h++)
		cr_assert(eventually(h, LINKS_TO("2")), "host%d", h);
	/* A prune on host2 removes the same versions on every host. */
	dfs_ok(&host[2], "\"$DEPLOYCTL\" prune order-sync --keep 1 --mount "
			 "\"$MNT\" >/dev/null");
	for (int h = 0; h < HOSTS; h++)
		cr_assert(eventually(h,
				     "! test -e \"$MNT/" PKG "1\" && test -d "
				     "\"$MNT/" PKG "2\""),
			  "host%d pruned order-sync@1", h);
	/* Something deployed keeps the environment, on every host alike. */
	dfs_out(&host[0], out, sizeof(out),
		"rmdir \"$MNT/" ENV "\" 2>&1; echo rc=$?");
	cr_assert(strstr(out, "Directory not empty\nrc=1"), "%s", out);
	dfs_ok(&host[0], "rm \"$MNT/" ENV "/order-sync\"");
	for (int h = 0; h < HOSTS; h++)
		cr_assert(eventually(h, "test -z \"$(ls \"$MNT/" ENV "\")\""),
			  "host%d", h);
	dfs_ok(&host[1], "rmdir \"$MNT/" ENV "\"");
	for (int h = 0; h < HOSTS; h++)
		cr_assert(eventually(h, "! test -e \"$MNT/" ENV "\""), "host%d",
			  h);
}

Test(registry, marks_removals_notes_and_classes_reach_every_host)
{
	char out[512];

	two_versions_and_an_env();
	/* A release marked bad on host1 is refused on host0. */
	dfs_ok(&host[1], "setfattr -n user.deployfs.mark-bad -v '2 broken' "
			 "\"$MNT/packages/order-sync\"");
	for (int h = 0; h < HOSTS; h++)
		cr_assert(eventually(h, "getfattr --only-values -n "
					"user.deployfs.status \"$MNT/" PKG
					"2\" | grep -q bad"),
			  "host%d", h);
	dfs_out(&host[0], out, sizeof(out),
		"cd \"$MNT/" ENV "\" && ln -s ../../packages/order-sync/"
		"order-sync@2 order-sync 2>&1; echo rc=$?");
	cr_assert(strstr(out, "Operation not permitted") && strstr(out, "rc=1"),
		  "%s", out);
	/* Notes of a deployment and the environment's class, from host0. */
	dfs_ok(&host[0], "cd \"$MNT/" ENV "\" && ln -s ../../packages/"
			 "order-sync/order-sync@1 order-sync && setfattr -n "
			 "user.deployfs.notes -v 'ticket 42' order-sync@1 && "
			 "setfattr -n user.deployfs.classification -v "
			 "production .");
	for (int h = 0; h < HOSTS; h++)
		cr_assert(
			eventually(h,
				   "getfattr --only-values -n "
				   "user.deployfs.notes \"$MNT/" ENV
				   "/order-sync@1\" | grep -qx 'ticket 42' && "
				   "getfattr --only-values -n "
				   "user.deployfs.classification \"$MNT/" ENV
				   "\" | grep -qx production"),
			"host%d", h);
	/* A version removed on host2 is gone everywhere. */
	dfs_ok(&host[2], "setfattr -n user.deployfs.remove -v 2 "
			 "\"$MNT/packages/order-sync\"");
	for (int h = 0; h < HOSTS; h++)
		cr_assert(eventually(h, "! test -e \"$MNT/" PKG "2\""),
			  "host%d", h);
}

/* The README's "Many hosts" block, as written, makes a fourth host that
 * has what the others made. */
Test(registry, the_readmes_many_hosts_block_runs)
{
	char out[1024];

	workspace(0, NULL);
	dfs_ok(&host[0], "mkdir \"$MNT/" PKG "1\" \"$MNT/" ENV "\"");
	setenv("REGISTRY", pg.url, 1);
	setenv("DEPLOYFS_DIR", dfs_bin_deployfs(), 1);
	dfs_out(&host[0], out, sizeof(out),
		"awk '/^## / { on = ($0 == \"## Many hosts\") } on && /^```/ {"
		" sh = !sh; next } on && sh' \"$FIXTURES/../../README.md\" > "
		"\"$DIR/many.sh\" && test -s \"$DIR/many.sh\" && export "
		"STORE=\"$DIR/web4/store\" MNT=\"$DIR/web4/mnt\" HOST=web4 && "
		"mkdir -p \"$MNT\" && trap 'fusermount3 -u \"$MNT\" 2>/dev/null' "
		"EXIT && PATH=\"$(dirname \"$DEPLOYFS_DIR\"):$(dirname "
		"\"$DEPLOYCTL\"):$PATH\" sh -e \"$DIR/many.sh\" 2>&1; echo "
		"rc=$?");
	cr_assert(strstr(out, "registry ready (schema 1)"), "%s", out);
	cr_assert(strstr(out, "order-sync") && strstr(out, "test\n"), "%s",
		  out);
	cr_assert(strstr(out, "rc=0"), "%s", out);
}
