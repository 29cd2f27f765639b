// SPDX-License-Identifier: MIT
/*
 * test_partition.c - a host the network cuts off from the registry.  The
 * suite starts PostgreSQL on TCP at the root end of a veth pair and puts
 * the daemon of host "far" in a network namespace of its own (ip netns,
 * the other end of the pair; the daemon runs under nsenter --net, so its
 * mount is in ours); host "near" reaches the server directly.  With the
 * link down, far keeps serving what it has and refuses acts with
 * EHOSTDOWN in bounded time (TCP keepalives and tcp_user_timeout, not the
 * kernel's retries of many minutes), while near goes on; with the link
 * up again, far catches up by itself and its refusal reaches the
 * registry's trail.
 */
#include "harness.h"
#include "pgserver.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 20000
#define PKG "packages/order-sync/order-sync@"
#define ENV "environments/test"

static struct dfs_pg pg;
static struct dfs_mount near, far;
static char ns[32], veth[16], peer[16], addr[32];
static int setup_rc;

/* A /30 of its own per test process, so parallel runs do not meet. */
static int make_netns(void)
{
	struct dfs_mount none = { 0 };
	int n = getpid() % 16000;

	snprintf(ns, sizeof(ns), "dfs-part-%d", getpid());
	snprintf(veth, sizeof(veth), "dfr%d", getpid() % 100000);
	snprintf(peer, sizeof(peer), "dff%d", getpid() % 100000);
	snprintf(addr, sizeof(addr), "10.%d.%d.1", 200 + n / 4000,
		 (n % 4000) / 16);
	return dfs_sh(&none,
		      "set -e; ip netns add %s; ip link add %s type veth peer"
		      " name %s; ip link set %s netns %s; ip addr add %s/30"
		      " dev %s; ip link set %s up; ip -n %s addr add %.*s2/30"
		      " dev %s; ip -n %s link set %s up; ip -n %s link set lo"
		      " up",
		      ns, veth, peer, peer, ns, addr, veth, veth, ns,
		      (int)strlen(addr) - 1, addr, peer, ns, peer, ns);
}

static void setup(void)
{
	char url[256], opts[320];

	setup_rc = make_netns();
	if (setup_rc == 0)
		setup_rc = dfs_pg_start_on(&pg, addr);
	snprintf(url, sizeof(url),
		 "postgresql://deployfs@%s:5432/deployfs?connect_timeout=2",
		 addr);
	if (setup_rc == 0)
		setup_rc = dfs_sh(&near,
				  "\"$DEPLOYCTL\" init --registry '%s'"
				  " >/dev/null",
				  url);
	snprintf(opts, sizeof(opts), "registry=%s,registry_host=near", url);
	if (setup_rc == 0)
		setup_rc = dfs_mount_setup_opts(&near, opts);
	snprintf(opts, sizeof(opts), "registry=%s,registry_host=far", url);
	if (setup_rc == 0)
		setup_rc = dfs_mount_setup_in(&far, opts, ns);
	setenv("FAR", far.mnt, 1);
}

static void teardown(void)
{
	struct dfs_mount none = { 0 };

	dfs_mount_teardown(&far);
	dfs_mount_teardown(&near);
	dfs_pg_teardown(&pg);
	if (ns[0])
		dfs_sh(&none, "ip link del %s 2>/dev/null; ip netns del %s",
		       veth, ns);
}

TestSuite(partition, .init = setup, .fini = teardown, .timeout = 240);

static bool eventually(const struct dfs_mount *m, const char *cond)
{
	long deadline = dfs_now_ms() + WAIT_MS;

	while (dfs_sh(m, "%s", cond) != 0) {
		if (dfs_now_ms() > deadline)
			return false;
		dfs_sleep_ms(50);
	}
	return true;
}

Test(partition, a_host_cut_off_refuses_acts_serves_what_it_has_and_catches_up)
{
	char out[512];
	long t0;

	dfs_need_mount(&far, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&near), 0);
	dfs_ok(&near,
	       "mkdir \"$MNT/" PKG "1\" \"$MNT/" ENV "\" && cd \"$MNT/" ENV
	       "\" && ln -s ../../packages/order-sync/order-sync@1"
	       " order-sync");
	cr_assert(eventually(&far, "test -d \"$FAR/" ENV "/order-sync@1\""),
		  "far sees the deploy over TCP");

	/* Cut: far's end stays up, the root end goes down. */
	dfs_ok(&near, "ip link set %s down", veth);
	t0 = dfs_now_ms();
	dfs_out(&far, out, sizeof(out),
		"cd \"$MNT/" ENV "\" && timeout 60 rm order-sync 2>&1;"
		" echo rc=$?");
	cr_assert(strstr(out, "Host is down") && strstr(out, "rc=1"),
		  "refused, not hung (%ld ms): %s", dfs_now_ms() - t0, out);
	cr_log_info("refused after %ld ms", dfs_now_ms() - t0);
	/* What it has is served. */
	dfs_ok(&far, "cat \"$MNT/" ENV "/order-sync/process.xml\" >/dev/null"
		     " && test -L \"$MNT/" ENV "/order-sync\"");
	/* The other side goes on: a new version, deployed. */
	dfs_ok(&near,
	       "echo '<!-- 2 -->' >> \"$BUILD/process/order-sync/"
	       "process.xml\" && mkdir \"$MNT/" PKG "2\" && cd \"$MNT/" ENV
	       "\" && ln -sfn ../../packages/order-sync/"
	       "order-sync@2 order-sync");

	/* Healed: far catches up by itself, and its refusal reaches the
	 * registry's trail. */
	dfs_ok(&near, "ip link set %s up", veth);
	cr_assert(eventually(&far,
			     "readlink \"$MNT/" ENV "/order-sync\" |"
			     " grep -q '@2$' && test -d \"$MNT/" PKG "2\""),
		  "far caught up");
	t0 = dfs_now_ms();
	do {
		cr_assert_eq(dfs_pg_sql(&pg, out, sizeof(out),
					"SELECT count(*) FROM events WHERE"
					" host = 'far' AND result = 'refused'"
					" AND action = 'undeploy'"),
			     0);
		if (!strcmp(out, "1"))
			break;
		dfs_sleep_ms(50);
	} while (dfs_now_ms() - t0 < WAIT_MS);
	cr_assert_str_eq(out, "1", "far's refusal is in the registry's trail");
}
