// SPDX-License-Identifier: MIT
/*
 * regact.c - one order of acts for every host of a registry.
 *
 * An act made on a host served with a registry is not applied there
 * first: it is appended to the registry's events, then the host
 * applies every event up to and including its own, in order, through
 * st->registry->apply (the trees' code that applies the act, as for an act
 * of a host alone), and answers with its own act's result.  Every host
 * applies the same acts in the same order to the same packages, so all
 * reach the same deployments, numbered the same, with one active per
 * environment and component: two hosts deploying at the same moment are
 * two events, one after the other, everywhere.
 *
 * Events are appended with the table locked (LOCK TABLE events IN
 * EXCLUSIVE MODE, also by regpub.c), so the order of their numbers is the
 * order of their commits: a host that read up to number N has seen every
 * event before N.  Each act applied from the registry records its audit
 * rows with its number (audit.reg_seq, in the act's own transaction), so
 * after a crash a host starts after the last it applied and applies none
 * twice.  A package event (regpub.c) is made here through pkgimport.c
 * unless the package is here already.
 *
 * An act refused where it is applied (say an undeploy of a deployment
 * another host replaced just before) is refused on every host alike and
 * recorded; a failure of this host alone (EIO, ENOSPC, ENOMEM, the
 * registry lost) stops the catching up there, to try again later.
 *
 * The acts (struct dfs_reg_act, model.h) and what each carries:
 *   env-create       env, mode
 *   env-remove       env
 *   env-attr         env, and mode, uid, gid as valid says
 *   deploy           env, component, version, via (link or copy)
 *   undeploy         env, component, version, deployment (its number)
 *   notes            env, component, version, value (a deployment's)
 *   classify         env, value (test or production)
 *   bulk             env, value (the list, as written to bulk-deploy)
 *   prune            value ("KEEP MINAGE_S", then the "N@V" removed)
 *   package-remove, package-restore, package-keep, package-unkeep,
 *   package-mark-good  component, version
 *   package-mark-bad component, version, value (the reason)
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"

static bool local_failure(int rc)
{
	return rc == -EIO || rc == -ENOSPC || rc == -EDQUOT || rc == -ENOMEM ||
	       rc == -EHOSTDOWN;
}

/* component@version from the registry, made here: staged in a folder of
 * the store (by the follower ahead of time, without st->lock, when it
 * could: regsub.c), made in one transaction, the folder removed. */
static int make_package(struct dfs_store *st, PGconn *c,
			const struct dfs_actor *actor, const char *component,
			const char *version, const char *host)
{
	char stage[PATH_MAX], why[512] = "";
	int rc = dfs_pkg_known(st, component, version);
	bool ready;

	dfs_reg_stage_path(st, st->reg_applying, stage, sizeof(stage));
	ready = access(stage, F_OK) == 0;
	if (rc != 0) {
		if (ready)
			dfs_reg_unstage(stage);
		return rc < 0 ? rc : 0;
	}
	if (!ready) {
		snprintf(stage, sizeof(stage), "%s/regstage.XXXXXX", st->path);
		if (!mkdtemp(stage))
			return -errno;
		rc = dfs_reg_stage(c, component, version, stage, host, why,
				   sizeof(why));
	}
	if (rc == 0)
		rc = dfs_pkg_import(st, actor, stage, why, sizeof(why));
	if (rc < 0)
		dfs_log(DFS_LOG_ERR, "registry: %s@%s from %s not made: %s",
			component, version, host, why[0] ? why : strerror(-rc));
	dfs_reg_unstage(stage);
	return rc > 0 ? 0 : rc;
}

static const char *col(const PGresult *r, int row, int i)
{
	return PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
}

static int64_t col_int(const PGresult *r, int row, int i)
{
	return PQgetisnull(r, row, i) ? 0 : dfs_reg_int(r, row, i);
}

/* Event row of r, applied here: 0 done (or refused alike everywhere),
 * or a failure of this host alone. */
static int apply_row(struct dfs_store *st, PGconn *c, const PGresult *r,
		     int row, const struct dfs_actor *own)
{
	struct dfs_registry *reg = st->registry;
	struct dfs_actor actor = { 0 };
	struct dfs_reg_act act = {
		.action = col(r, row, 2),
		.component = col(r, row, 3),
		.version = col(r, row, 4),
		.env = col(r, row, 5),
		.via = col(r, row, 9),
		.mode = (uint32_t)col_int(r, row, 10),
		.deployment = col_int(r, row, 11),
		.uid = (uint32_t)col_int(r, row, 12),
		.gid = (uint32_t)col_int(r, row, 13),
		.value = col(r, row, 15),
		.unseen = !own,
	};
	const char *host = col(r, row, 1);
	int rc = 0;

	/* A refusal replayed into the trail (regtrail.c): nothing to do. */
	if (strcmp(col(r, row, 14), "ok") != 0)
		return 0;
	if (own) {
		actor = *own;
	} else {
		actor.uid = (uint32_t)col_int(r, row, 6);
		actor.gid = (uint32_t)col_int(r, row, 7);
		snprintf(actor.cmd, sizeof(actor.cmd), "%s: %s", host,
			 col(r, row, 8) ? col(r, row, 8) : "?");
	}
	/* env-attr: what is not NULL is set. */
	act.valid = (PQgetisnull(r, row, 10) ? 0 : DFS_SET_MODE) |
		    (PQgetisnull(r, row, 12) ? 0 : DFS_SET_UID) |
		    (PQgetisnull(r, row, 13) ? 0 : DFS_SET_GID);
	st->reg_applying = dfs_reg_int(r, row, 0);
	if (!strcmp(act.action, "package") && act.component && act.version) {
		if (!own)
			snprintf(actor.cmd, sizeof(actor.cmd), "registry");
		rc = make_package(st, c, &actor, act.component, act.version,
				  host);
	} else if (reg->apply) {
		rc = reg->apply(st, &actor, &act);
	}
	st->reg_applying = 0;
	return rc;
}

int dfs_reg_catch_up_locked(struct dfs_store *st, int64_t upto,
			    const struct dfs_actor *actor, int64_t own,
			    int *own_rc, char *why, size_t cap)
{
	struct dfs_registry *reg = st->registry;
	char after[24], last[24];
	const char *v[] = { after, last };
	PGresult *r = NULL;
	PGconn *c = NULL;
	int rc = dfs_reg_conn(reg, &c, why, cap);

	snprintf(after, sizeof(after), "%lld", (long long)reg->applied);
	snprintf(last, sizeof(last), "%lld", (long long)upto);
	if (rc == 0)
		rc = dfs_reg_run(c, "catching up", why, cap, &r,
				 "SELECT seq, host, action, component, version,"
				 " env, uid, gid, cmd, via, mode, deployment,"
				 " owner, grp, result, value"
				 " FROM events WHERE seq > $1::bigint"
				 " AND seq <= $2::bigint ORDER BY seq",
				 2, v, NULL, NULL);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		int64_t seq = dfs_reg_int(r, i, 0);
		int got = apply_row(st, c, r, i, seq == own ? actor : NULL);

		if (seq == own && own_rc)
			*own_rc = got;
		if (local_failure(got)) {
			snprintf(why, cap,
				 "applying the registry's act %lld: %s",
				 (long long)seq, strerror(-got));
			rc = got;
			break;
		}
		reg->applied = seq;
	}
	PQclear(r);
	return rc;
}

int dfs_reg_act_locked(struct dfs_store *st, const struct dfs_actor *actor,
		       const struct dfs_reg_act *act, char *why, size_t cap)
{
	struct dfs_registry *reg = st->registry;
	struct dfs_actor who = *actor;
	char user[64], uid[16], gid[16], mode[16], dep[24], seq[24] = "";
	char owner[16], grp[16], cmd[sizeof(who.cmd)];
	bool attr = !strcmp(act->action, "env-attr");
	const char *v[] = { reg->host,
			    user,
			    act->action,
			    act->component,
			    act->version,
			    act->env,
			    uid,
			    gid,
			    cmd,
			    act->via,
			    !attr || (act->valid & DFS_SET_MODE) ? mode : NULL,
			    dep,
			    attr && (act->valid & DFS_SET_UID) ? owner : NULL,
			    attr && (act->valid & DFS_SET_GID) ? grp : NULL,
			    act->value };
	/* value: bytes (notes may hold any but NUL), the rest text */
	int len[15] = { [14] = act->value ? (int)strlen(act->value) : 0 };
	int fmt[15] = { [14] = 1 };
	PGresult *r = NULL;
	PGconn *c = NULL;
	int own_rc = -EIO, rc = dfs_reg_conn(reg, &c, why, cap);

	if (!who.cmd[0])
		dfs_actor_resolve(&who);
	snprintf(cmd, sizeof(cmd), "%s", who.cmd);
	dfs_reg_utf8(cmd);
	dfs_user_name(who.uid, user, sizeof(user));
	snprintf(uid, sizeof(uid), "%u", who.uid);
	snprintf(gid, sizeof(gid), "%u", who.gid);
	snprintf(mode, sizeof(mode), "%u", act->mode);
	snprintf(dep, sizeof(dep), "%lld", (long long)act->deployment);
	snprintf(owner, sizeof(owner), "%u", act->uid);
	snprintf(grp, sizeof(grp), "%u", act->gid);
	if (rc == 0)
		rc = dfs_reg_exec(c, "ordering the act",
				  "BEGIN; LOCK TABLE events IN EXCLUSIVE MODE",
				  why, cap);
	if (rc == 0)
		rc = dfs_reg_run(
			c, "ordering the act", why, cap, &r,
			"INSERT INTO events (host, actor, action,"
			" component, version, result, env, uid, gid,"
			" cmd, via, mode, deployment, owner, grp, value)"
			" VALUES ($1, $2, $3, $4, $5, 'ok', $6,"
			" $7::bigint, $8::bigint, $9, $10,"
			" $11::integer, nullif($12::bigint, 0),"
			" $13::bigint, $14::bigint, $15) RETURNING seq::text",
			15, v, len, fmt);
	if (rc == 0)
		snprintf(seq, sizeof(seq), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	if (rc == 0)
		rc = dfs_reg_run(c, "ordering the act", why, cap, NULL,
				 "SELECT pg_notify('deployfs', $1)", 1,
				 (const char *const[]){ seq }, NULL, NULL);
	if (rc == 0)
		rc = dfs_reg_exec(c, "ordering the act", "COMMIT", why, cap);
	dfs_reg_end(c);
	if (rc < 0)
		return rc;
	rc = dfs_reg_catch_up_locked(st, strtoll(seq, NULL, 10), &who,
				     strtoll(seq, NULL, 10), &own_rc, why, cap);
	if (rc < 0)
		dfs_log(DFS_LOG_ERR,
			"registry: %s: the act %s is in the"
			" registry, and will be applied here later",
			why, seq);
	return rc < 0 ? rc : own_rc;
}
