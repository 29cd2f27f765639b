// SPDX-License-Identifier: MIT
/*
 * registry.c - the registry many hosts share, kept in PostgreSQL
 * (deployfs -o registry=URL): its connection, the schema `deployctl init
 * --registry URL` makes, and what PostgreSQL's failures mean as errno.
 * regpub.c publishes a package into it; regsub.c reads packages out of
 * it.  docs/registry.md says why PostgreSQL and how the pieces fit.
 *
 * The registry is the order all hosts share: every act it takes is a row
 * of `events` (append-only, a trigger refuses UPDATE, DELETE and
 * TRUNCATE), numbered by one sequence, and announced on the channel
 * `deployfs` (NOTIFY) in the transaction that makes it.  Blobs are kept
 * by content hash in chunks of at most DFS_REG_CHUNK bytes, so a large
 * file is never in memory whole on either side.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"

/* Schema versions: the first is 1; a migration appends to steps[]. */
static const char *const steps[] = {
	/* 1: blobs, packages and the events that order them. */
	"CREATE TABLE registry (version integer NOT NULL);"
	"INSERT INTO registry VALUES (0);"
	"CREATE TABLE blobs (hash bytea PRIMARY KEY,"
	" size bigint NOT NULL, chunks integer NOT NULL);"
	"CREATE TABLE chunks (hash bytea NOT NULL, idx integer NOT NULL,"
	" data bytea NOT NULL, PRIMARY KEY (hash, idx));"
	/* Blobs are often compressed already: no second try. */
	"ALTER TABLE chunks ALTER COLUMN data SET STORAGE EXTERNAL;"
	"CREATE TABLE events (seq bigserial PRIMARY KEY,"
	" at timestamptz NOT NULL DEFAULT now(), host text NOT NULL,"
	" actor text NOT NULL, action text NOT NULL, component text,"
	" version text, result text NOT NULL, reason text,"
	/* what another host needs to apply the act (regact.c) */
	" env text, uid bigint, gid bigint, cmd text, via text,"
	" mode integer, deployment bigint, owner bigint, grp bigint,"
	/* a refusal made while the registry was away: the host's own
	 * audit seq, so a second replay adds nothing */
	" origin bigint, value bytea);"
	"CREATE UNIQUE INDEX events_origin ON events (host, origin)"
	" WHERE origin IS NOT NULL;"
	"CREATE TABLE packages (component text NOT NULL,"
	" version text NOT NULL, type text NOT NULL,"
	" content_hash bytea NOT NULL, meta bytea NOT NULL,"
	" manifest bytea NOT NULL,"
	" seq bigint NOT NULL UNIQUE REFERENCES events,"
	" PRIMARY KEY (component, version));"
	"CREATE FUNCTION deployfs_append_only() RETURNS trigger"
	" LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION"
	" 'the audit trail is append-only' USING ERRCODE = '42501';"
	" END $$;"
	"CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events"
	" FOR EACH ROW EXECUTE FUNCTION deployfs_append_only();"
	"CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events"
	" FOR EACH STATEMENT EXECUTE FUNCTION deployfs_append_only();",
};
#define STEPS ((int)(sizeof(steps) / sizeof(steps[0])))

void dfs_reg_msg(char *why, size_t cap, const char *what, const char *msg)
{
	size_t n;

	snprintf(why, cap, "%s: %s", what, msg && *msg ? msg : "failed");
	n = strlen(why);
	while (n && (why[n - 1] == '\n' || why[n - 1] == ' '))
		why[--n] = '\0';
	for (char *p = why; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
}

int dfs_reg_errno(PGconn *c, PGresult *r, const char *what, char *why,
		  size_t cap)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r ? PQresultErrorMessage(r) : NULL;
	int rc = -EIO;

	if (!msg || !*msg)
		msg = PQerrorMessage(c);
	if (PQstatus(c) != CONNECTION_OK) {
		char sub[256];

		snprintf(sub, sizeof(sub), "cannot reach the registry (%s)",
			 what);
		dfs_reg_msg(why, cap, sub, msg);
		return -EHOSTDOWN;
	}
	if (state && !strcmp(state, "23505"))
		rc = -EEXIST;
	else if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01")))
		rc = -EAGAIN;
	else if (state && !strcmp(state, "42501"))
		rc = -EPERM;
	else if (state && !strncmp(state, "08", 2))
		rc = -EHOSTDOWN;
	dfs_reg_msg(why, cap, what, msg);
	return rc;
}

void dfs_reg_utf8(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		int n = *p < 0x80			    ? 1
			: (*p & 0xe0) == 0xc0 && *p >= 0xc2 ? 2
			: (*p & 0xf0) == 0xe0		    ? 3
			: (*p & 0xf8) == 0xf0 && *p <= 0xf4 ? 4
							    : 0;
		int i = 1;

		while (i < n && (p[i] & 0xc0) == 0x80)
			i++;
		if (n == 0 || i < n) {
			*p++ = '?'; /* not UTF-8: PostgreSQL's text refuses it */
			continue;
		}
		p += n;
	}
}

int dfs_reg_run(PGconn *c, const char *what, char *why, size_t cap,
		PGresult **ret, const char *sql, int n,
		const char *const *values, const int *lengths,
		const int *formats)
{
	PGresult *r =
		PQexecParams(c, sql, n, NULL, values, lengths, formats, 1);
	ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	int rc;

	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
		if (ret)
			*ret = r;
		else
			PQclear(r);
		return 0;
	}
	rc = dfs_reg_errno(c, r, what, why, cap);
	PQclear(r);
	return rc;
}

/* PQexec: sql may be several statements (the schema's steps). */
int dfs_reg_exec(PGconn *c, const char *what, const char *sql, char *why,
		 size_t cap)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	int rc = 0;

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		rc = dfs_reg_errno(c, r, what, why, cap);
	PQclear(r);
	return rc;
}

int64_t dfs_reg_int(const PGresult *r, int row, int col)
{
	uint64_t v = 0;
	const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);

	/* Binary results: int8 big-endian; int4 too (shorter). */
	for (int i = 0; i < PQgetlength(r, row, col); i++)
		v = v << 8 | p[i];
	if (PQgetlength(r, row, col) == 4)
		return (int32_t)(uint32_t)v;
	return (int64_t)v;
}

void dfs_reg_end(PGconn *c)
{
	PGresult *r;

	if (!c || PQtransactionStatus(c) == PQTRANS_IDLE ||
	    PQstatus(c) != CONNECTION_OK)
		return;
	r = PQexec(c, "ROLLBACK");
	PQclear(r);
}

/* Connect to url: a libpq URL or key=value string.  Not connected:
 * -EHOSTDOWN with libpq's sentence. */
static int connect_to(const char *url, PGconn **ret, char *why, size_t cap)
{
	/* On TCP, a registry cut off by the network is seen within seconds
	 * (keepalives, and a send left unacknowledged), not after the
	 * kernel's retries of many minutes: an act is refused, not hung. */
	/* dbname (the URL) last: what it says wins over these. */
	const char *const keys[] = { "connect_timeout",
				     "application_name",
				     "keepalives",
				     "keepalives_idle",
				     "keepalives_interval",
				     "keepalives_count",
				     "tcp_user_timeout",
				     "dbname",
				     NULL };
	const char *const values[] = { "3", "deployfs", "1", "5", "2",
				       "2", "5000",	url, NULL };
	PGconn *c = PQconnectdbParams(keys, values, 1);

	if (!c)
		return -ENOMEM;
	if (PQstatus(c) != CONNECTION_OK) {
		dfs_reg_msg(why, cap, "cannot reach the registry",
			    PQerrorMessage(c));
		PQfinish(c);
		return -EHOSTDOWN;
	}
	*ret = c;
	return 0;
}

/* The schema version of the database behind c: 0 none.  Asks first
 * whether the table is there: a failed statement would end the caller's
 * transaction. */
static int schema_version(PGconn *c, int *ret, char *why, size_t cap)
{
	PGresult *r = NULL;
	int rc = dfs_reg_run(c, "reading the registry's version", why, cap, &r,
			     "SELECT to_regclass('registry') IS NOT NULL", 0,
			     NULL, NULL, NULL);
	bool there = rc == 0 && PQgetvalue(r, 0, 0)[0] != 0;

	PQclear(r);
	r = NULL;
	*ret = 0;
	if (rc < 0 || !there)
		return rc;
	rc = dfs_reg_run(c, "reading the registry's version", why, cap, &r,
			 "SELECT version FROM registry", 0, NULL, NULL, NULL);
	if (rc == 0 && PQntuples(r) == 1)
		*ret = (int)dfs_reg_int(r, 0, 0);
	PQclear(r);
	return rc;
}

int dfs_reg_connect(const char *url, PGconn **ret, char *why, size_t cap)
{
	PGconn *c = NULL;
	int version = 0, rc = connect_to(url, &c, why, cap);

	if (rc == 0)
		rc = schema_version(c, &version, why, cap);
	if (rc == 0 && version != STEPS) {
		snprintf(why, cap,
			 version ? "the registry has schema %d, this deployfs"
				   " knows %d: deployctl init --registry URL"
				 : "the database is not a registry: deployctl"
				   " init --registry URL",
			 version, STEPS);
		rc = version > STEPS ? -EPROTO : -ENOMEDIUM;
	}
	if (rc < 0) {
		if (c)
			PQfinish(c);
		return rc;
	}
	*ret = c;
	return 0;
}

int dfs_registry_init(const char *url, int *ret_from, char *why, size_t cap)
{
	PGconn *c = NULL;
	char num[16];
	int version = 0, rc = connect_to(url, &c, why, cap);

	if (rc < 0)
		return rc;
	/* One transaction; a second init waits for the first's lock. */
	rc = dfs_reg_exec(c, "init", "BEGIN", why, cap);
	if (rc == 0)
		rc = dfs_reg_exec(c, "init",
				  "SELECT pg_advisory_xact_lock(4242)", why,
				  cap);
	if (rc == 0)
		rc = schema_version(c, &version, why, cap);
	if (rc == 0 && version > STEPS) {
		snprintf(why, cap, "the registry has schema %d, newer than %d",
			 version, STEPS);
		rc = -EPROTO;
	}
	for (int i = version; rc == 0 && i < STEPS; i++)
		rc = dfs_reg_exec(c, "a schema step", steps[i], why, cap);
	snprintf(num, sizeof(num), "%d", STEPS);
	if (rc == 0 && version < STEPS) {
		const char *v[] = { num };

		rc = dfs_reg_run(c, "init", why, cap, NULL,
				 "UPDATE registry SET version = $1::integer", 1,
				 v, NULL, NULL);
	}
	if (rc == 0)
		rc = dfs_reg_exec(c, "init", "COMMIT", why, cap);
	dfs_reg_end(c);
	PQfinish(c);
	if (rc == 0 && ret_from)
		*ret_from = version;
	return rc;
}

int dfs_registry_schema(void)
{
	return STEPS;
}

int dfs_registry_open(struct dfs_store *st, const char *url, char *why,
		      size_t cap)
{
	struct dfs_registry *reg;
	int rc;

	why[0] = '\0';
	reg = calloc(1, sizeof(*reg));
	if (!reg || !(reg->url = strdup(url))) {
		free(reg);
		return -ENOMEM;
	}
	pthread_mutex_init(&reg->fetch_lock, NULL);
	if (gethostname(reg->host, sizeof(reg->host) - 1) < 0)
		snprintf(reg->host, sizeof(reg->host), "unknown");
	rc = dfs_reg_connect(url, &reg->conn, why, cap);
	/* Not reachable now: served from what is here, reconnected later.
	 * A database that is not a registry is a mistake to say at once. */
	if (rc < 0 && rc != -EHOSTDOWN) {
		pthread_mutex_destroy(&reg->fetch_lock);
		free(reg->url);
		free(reg);
		return rc;
	}
	st->registry = reg;
	return rc;
}

void dfs_registry_set_host(struct dfs_store *st, const char *host)
{
	if (st->registry && host && *host)
		snprintf(st->registry->host, sizeof(st->registry->host), "%s",
			 host);
}

/* *slot, a connection to url, made again when it was lost. */
static int keep_conn(const char *url, PGconn **slot, char *why, size_t cap)
{
	/* A server that went away since is only seen on the next use: ask
	 * (one round trip; acts that publish are few). */
	if (*slot && PQstatus(*slot) == CONNECTION_OK) {
		PGresult *r = PQexec(*slot, "SELECT 1");

		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			PQreset(*slot);
		PQclear(r);
	}
	if (*slot && PQstatus(*slot) != CONNECTION_OK) {
		PQfinish(*slot);
		*slot = NULL;
	}
	return *slot ? 0 : dfs_reg_connect(url, slot, why, cap);
}

int dfs_reg_conn(struct dfs_registry *reg, PGconn **ret, char *why, size_t cap)
{
	int rc = keep_conn(reg->url, &reg->conn, why, cap);

	if (rc == 0)
		*ret = reg->conn;
	return rc;
}

int dfs_reg_fetch_conn(struct dfs_registry *reg, PGconn **ret, char *why,
		       size_t cap)
{
	int rc = keep_conn(reg->url, &reg->fetch, why, cap);

	if (rc == 0)
		*ret = reg->fetch;
	return rc;
}

void dfs_registry_close(struct dfs_store *st)
{
	struct dfs_registry *reg = st->registry;

	if (!reg)
		return;
	if (reg->conn)
		PQfinish(reg->conn);
	if (reg->fetch)
		PQfinish(reg->fetch);
	pthread_mutex_destroy(&reg->fetch_lock);
	free(reg->url);
	free(reg);
	st->registry = NULL;
}
