// SPDX-License-Identifier: MIT
/*
 * regtrail.c - the refusals a host made while the registry could not be
 * reached, put in the registry's trail once it can.  Such a refusal is
 * recorded in the host's audit trail at once, with its row named in
 * reg_outbox in the same transaction (audit.c); after each catching up
 * the follower (regfollow.c) appends them to `events`, result "refused",
 * with the time they were made and their audit seq as `origin`: a unique
 * key of (host, origin), so a replay that died before the outbox was
 * emptied adds nothing the second time.  Refused events are the trail's,
 * not acts: no host applies them (regact.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

static const char sql_pending[] =
	"SELECT a.seq, a.ts, a.actor, a.uid, a.cmd, a.action, a.env,"
	" a.component, a.version, a.reason FROM reg_outbox o"
	" JOIN audit a ON a.seq = o.seq ORDER BY o.seq LIMIT 256";
static const char sql_done[] = "DELETE FROM reg_outbox WHERE seq <= ?1";

static const char *text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

/* The row s holds, into the registry's trail (in c's transaction). */
static int put(struct dfs_registry *reg, PGconn *c, sqlite3_stmt *s, char *why,
	       size_t cap)
{
	char seq[24], ts[24], uid[24], cmd[DFS_CMD_MAX], reason[1024];
	const char *v[] = { ts,		reg->host,  text(s, 2), text(s, 5),
			    text(s, 7), text(s, 8), reason,	text(s, 6),
			    uid,	cmd,	    seq };

	snprintf(seq, sizeof(seq), "%lld",
		 (long long)sqlite3_column_int64(s, 0));
	snprintf(ts, sizeof(ts), "%lld", (long long)sqlite3_column_int64(s, 1));
	snprintf(uid, sizeof(uid), "%lld",
		 (long long)sqlite3_column_int64(s, 3));
	/* The host's own words, made text PostgreSQL takes. */
	snprintf(cmd, sizeof(cmd), "%s", text(s, 4) ? text(s, 4) : "");
	snprintf(reason, sizeof(reason), "%s", text(s, 9) ? text(s, 9) : "");
	dfs_reg_utf8(cmd);
	dfs_reg_utf8(reason);
	if (!v[2])
		v[2] = "?";
	return dfs_reg_run(
		c, "replaying a refusal", why, cap, NULL,
		"INSERT INTO events (at, host, actor, action,"
		" component, version, result, reason, env, uid, cmd,"
		" origin) VALUES (to_timestamp($1::bigint /"
		" 1e9::double precision), $2, $3, $4, $5, $6,"
		" 'refused', $7, $8, $9::bigint, $10, $11::bigint)"
		" ON CONFLICT (host, origin) WHERE origin IS NOT NULL"
		" DO NOTHING",
		11, v, NULL, NULL);
}

int dfs_reg_replay_locked(struct dfs_store *st, char *why, size_t cap)
{
	struct dfs_registry *reg = st->registry;
	sqlite3_stmt *s = NULL;
	PGconn *c = NULL;
	int64_t last = 0;
	int rc = dfs_query_sql(st, sql_pending, &s, "");

	if (rc <= 0)
		return rc;
	rc = dfs_reg_conn(reg, &c, why, cap);
	if (rc == 0)
		rc = dfs_reg_exec(c, "replaying refusals",
				  "BEGIN; LOCK TABLE events IN EXCLUSIVE MODE",
				  why, cap);
	while (rc == 0) {
		last = sqlite3_column_int64(s, 0);
		rc = put(reg, c, s, why, cap);
		if (rc == 0)
			rc = dfs_next(s);
		if (rc == 0) /* no more rows: s is reset */
			break;
		rc = rc > 0 ? 0 : rc;
	}
	if (rc < 0)
		sqlite3_reset(s);
	if (rc == 0)
		rc = dfs_reg_exec(c, "replaying refusals",
				  "SELECT pg_notify('deployfs', 'refusals');"
				  " COMMIT",
				  why, cap);
	dfs_reg_end(c);
	if (rc == 0)
		rc = dfs_db_begin(st);
	if (rc == 0)
		rc = dfs_finish(st, dfs_exec_sql(st, sql_done, "i", last));
	return rc;
}
