// SPDX-License-Identifier: MIT
/*
 * deployctl.c - the deployfs command-line tool: the table of commands,
 * their help (deployctl --help, deployctl help COMMAND, COMMAND --help),
 * init and fsck, and main().  The other commands are in ctl_*.c and
 * release.c; which mount they act on, in ctl_mount.c.
 *
 * Exit codes follow sysexits(3): 0 ok, 1 problems found or refused, 64
 * usage, 66 no such store, mount, environment, component or version, 73
 * cannot create, 74 I/O error, 75 try again (the store changed under
 * every backup attempt), 77 permission denied.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "deployfs/names.h"

#include "deployfs/store.h"

#include "deployctl.h"

/* deployctl init --registry URL: make or migrate a registry's schema. */
static int init_registry(const char *url)
{
	char why[1024] = "";
	int from = 0, rc = dfs_registry_init(url, &from, why, sizeof(why));

	if (rc < 0) {
		fprintf(stderr, "deployctl: cannot prepare the registry: %s\n",
			why[0] ? why : strerror(-rc));
		return rc == -EHOSTDOWN ? EX_UNAVAILABLE : EX_CANTCREAT;
	}
	if (from == dfs_registry_schema())
		printf("registry ready (schema %d)\n", from);
	else if (from)
		printf("registry schema %d -> %d\n", from,
		       dfs_registry_schema());
	else
		printf("created registry (schema %d)\n", dfs_registry_schema());
	return 0;
}

int cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "registry", required_argument, NULL, 'r' },
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	const char *store, *registry = NULL;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'r')
			registry = optarg;
		else
			return c == 'h' ? ctl_help(argv[0])
					: ctl_usage(argv[0]);
	}
	if (registry)
		return optind == argc ? init_registry(registry)
				      : ctl_usage(argv[0]);
	if (optind != argc - 1)
		return ctl_usage(argv[0]);
	store = argv[optind];
	rc = dfs_store_create(store);
	if (rc < 0) {
		fprintf(stderr, "deployctl: cannot create store \"%s\": %s\n",
			store, dfs_store_strerror(rc));
		return EX_CANTCREAT;
	}
	printf("created store %s\n", store);
	return 0;
}

static void print_problem(void *ctx, const struct dfs_fsck_problem *p)
{
	(void)ctx;
	if (p->ino)
		printf("%s %s ino=%llu\n", p->kind, p->what,
		       (unsigned long long)p->ino);
	else
		printf("%s %s\n", p->kind, p->what);
}

int cmd_fsck(int argc, char **argv)
{
	struct dfs_store *st;
	const char *store;
	char why[1024];
	int rc = ctl_no_options(argc, argv);

	if (rc >= 0)
		return rc;
	if (optind != argc - 1)
		return ctl_usage(argv[0]);
	store = argv[optind];
	rc = dfs_store_open_why(store, 0, &st, why, sizeof(why));
	if (rc == -EUCLEAN || rc == -ENODATA) {
		/* A database that cannot be read is what fsck looks for. */
		printf("database %s\n", why[0] ? why : dfs_store_strerror(rc));
		fprintf(stderr, "fsck %s: %s; 1 problem\n", store,
			dfs_store_strerror(rc));
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "deployctl: cannot open store \"%s\": %s\n",
			store, dfs_store_strerror(rc));
		return rc == -ENOENT || rc == -EMEDIUMTYPE ? EX_NOINPUT
							   : EX_IOERR;
	}
	rc = dfs_store_fsck(st, print_problem, NULL);
	dfs_store_free(st);
	if (rc < 0) {
		fprintf(stderr, "deployctl: fsck failed: %s\n", strerror(-rc));
		return EX_IOERR;
	}
	fprintf(stderr, "fsck %s: %d problem%s\n", store, rc,
		rc == 1 ? "" : "s");
	return rc ? 1 : 0;
}

/*
 * What each command (and each form of package) takes and does: printed
 * by deployctl --help, by deployctl help COMMAND and by COMMAND --help
 * (or -h), and in short on a usage error.  A new command adds one line
 * to commands[] below; its help text is optional.
 */
struct ctl_command {
	const char *name; /* "package", or a form: "package remove" */
	int (*run)(int argc, char **argv); /* NULL for a form */
	const char *synopsis;		   /* the arguments, after the name */
	const char *text;		   /* what it does, indented */
};

static int cmd_help(int argc, char **argv);

static const struct ctl_command commands[] = {
	{ "init", cmd_init, "STORE | --registry URL",
	  "                create an empty store in the folder STORE; or\n"
	  "                make (or migrate) the schema of the PostgreSQL\n"
	  "                registry at URL that hosts share\n" },
	{ "fsck", cmd_fsck, "STORE",
	  "                check the database (SQLite's integrity_check\n"
	  "                and foreign_key_check), that every referenced\n"
	  "                blob exists and hashes to its name; report\n"
	  "                orphans and a database older than its files\n" },
	{ "backup", cmd_backup, "[--mount MNT | --store STORE] DEST",
	  "                copy the store behind MNT, or STORE,\n"
	  "                consistently while it is in use, into the folder\n"
	  "                DEST, which mounts as a store; an earlier backup\n"
	  "                in DEST gets only the new blobs\n" },
	{ "restore", cmd_restore, "BACKUP STORE",
	  "                make the new store STORE (absent or empty) from\n"
	  "                the backup BACKUP\n" },
	{ "package", cmd_package,
	  "NAME [--version V] [--notes TEXT] [--mount MNT]",
	  "                snapshot component NAME as version V (default:\n"
	  "                the next whole number) through the mount MNT;\n"
	  "                prints the package's path\n" },
	{ "package remove", NULL, "NAME@V [--mount MNT]",
	  "                hide package NAME@V from packages/ (refused\n"
	  "                while it is deployed: the message names where)\n" },
	{ "package restore", NULL, "NAME@V [--mount MNT]",
	  "                bring a removed package back, until its space\n"
	  "                is reclaimed (gc)\n" },
	{ "package mark-bad", NULL, "NAME@V --reason TEXT [--mount MNT]",
	  "                a bad release is not deployed again unless\n"
	  "                forced, and rollback skips it\n" },
	{ "package mark-good", NULL, "NAME@V [--mount MNT]",
	  "                undo mark-bad\n" },
	{ "package keep", NULL, "NAME@V [--mount MNT]",
	  "                never prune NAME@V; package remove refuses it\n"
	  "                (EPERM) until unkeep\n" },
	{ "package unkeep", NULL, "NAME@V [--mount MNT]",
	  "                undo keep\n" },
	{ "status", cmd_status, "[ENV] [--json] [--mount MNT]",
	  "                what each environment (or ENV) has deployed,\n"
	  "                copies in progress and unmet requirements; read\n"
	  "                from the store, or through the mount by a user\n"
	  "                who may not open the store; --json: one JSON\n"
	  "                object\n" },
	{ "deploy", cmd_deploy,
	  "NAME@V ENV [--notes TEXT] [--force] [--mount MNT]",
	  "                deploy package NAME@V to ENV (as ln -sfn);\n"
	  "                --force deploys a release marked bad (root or\n"
	  "                the owner of ENV)\n"
	  "  deploy ENV NAME@V... [--notes TEXT] [--force] [--mount MNT]\n"
	  "                deploy up to 1000 packages to ENV in one\n"
	  "                transaction: all of them or, when one is\n"
	  "                refused (named, with why), none\n" },
	{ "undeploy", cmd_undeploy, "NAME ENV [--mount MNT]",
	  "                remove NAME from ENV\n" },
	{ "rollback", cmd_rollback, "NAME ENV [--to V] [--mount MNT]",
	  "                deploy V, or else the version deployed before\n"
	  "                the current one, of NAME to ENV\n" },
	{ "prune", cmd_prune,
	  "[NAME] --keep N [--min-age DURATION] [--dry-run] [-v]\n"
	  "      [--mount MNT]",
	  "                soft-remove (as package remove) all but the N\n"
	  "                most recently packaged versions of NAME, or of\n"
	  "                every component; never one deployed, being\n"
	  "                copied, kept, or packaged less than DURATION\n"
	  "                (7d, 12h, 30m, 45s, seconds) ago; prints what it\n"
	  "                removed, with -v or --dry-run also what stays\n"
	  "                and why\n" },
	{ "gc", cmd_gc, "[--grace SECONDS] [--mount MNT]",
	  "                reclaim the space of packages removed longer\n"
	  "                ago than SECONDS (default 86400) and of blobs\n"
	  "                nothing names; prints what it freed (root); a\n"
	  "                progress bar on a terminal\n" },
	{ "log", cmd_log,
	  "[--env E] [--component C] [--since WHEN] [--json]\n"
	  "      [--mount MNT]",
	  "                the audit trail, oldest first, as audit.log\n"
	  "                shows it or one JSON object a line; WHEN is\n"
	  "                YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or\n"
	  "                @UNIXSECONDS; read as history reads\n" },
	{ "history", cmd_history,
	  "ENV [NAME] [--json] [--sort FIELD] [--mount MNT]",
	  "                every deployment to ENV (of NAME), active and\n"
	  "                ended: number, version, when, who, how, notes;\n"
	  "                newest first, or by FIELD: time, component,\n"
	  "                version or who; read from the store, or from\n"
	  "                the mount's audit.log when the store is not\n"
	  "                yours to open\n" },
	{ "diff", cmd_diff, "A B [--mount MNT]",
	  "                A and B each ENV, ENV/NAME or NAME@V: the\n"
	  "                versions that differ, then the files added,\n"
	  "                removed or changed (read through the mount);\n"
	  "                exit 0 same, 1 different, 2 trouble\n" },
	{ "why", cmd_why, "[PATH] [-n N] [--json] [--mount MNT]",
	  "                the last N (10) refusals recorded for you, or\n"
	  "                for PATH, with their errno and reason; read as\n"
	  "                history reads\n" },
	{ "export", cmd_export,
	  "NAME@V... [--with-requirements] [-o FILE] [--mount MNT]",
	  "                write the packages (and, with --with-requirements,\n"
	  "                the latest package of each component they\n"
	  "                require) as one pax archive to FILE or stdout,\n"
	  "                with their metadata, content hash and a manifest\n"
	  "                of every file's hash (root: reads the store)\n" },
	{ "import", cmd_import, "FILE [--mount MNT]",
	  "                make the packages of an archive from export, with\n"
	  "                the same versions, metadata and content hash;\n"
	  "                a tampered archive is refused whole (exit 65),\n"
	  "                a version here with another hash is EEXIST\n"
	  "                (exit 1), with the same hash nothing to do (root)\n" },
	{ "help", cmd_help, "[COMMAND]",
	  "                what COMMAND takes and does (as COMMAND --help)\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(*commands))

static const char mount_note[] =
	"MNT: --mount MNT, else the deployfs mount the current folder is\n"
	"in, else $DEPLOYFS_MOUNT, else ~/deployfs.\n";

/* Is c the command asked for, or a form of it ("package" asks for all
 * forms of package)? */
static bool is_asked(const struct ctl_command *c, const char *cmd)
{
	size_t len = strlen(cmd);

	return strncmp(c->name, cmd, len) == 0 &&
	       (c->name[len] == '\0' || c->name[len] == ' ');
}

static void print_entry(FILE *out, const struct ctl_command *c)
{
	fprintf(out, "  %s %s\n%s", c->name, c->synopsis ? c->synopsis : "",
		c->text ? c->text : "");
}

/* The usage lines of cmd; false when there is no such command. */
static bool print_synopses(FILE *out, const char *cmd, bool *ret_mount)
{
	bool found = false;

	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct ctl_command *c = &commands[i];

		if (!is_asked(c, cmd))
			continue;
		fprintf(out, "%s deployctl %s %s\n",
			found ? "      " : "usage:", c->name,
			c->synopsis ? c->synopsis : "");
		if (c->synopsis && strstr(c->synopsis, "--mount"))
			*ret_mount = true;
		found = true;
	}
	return found;
}

void usage(FILE *out)
{
	fprintf(out, "usage: deployctl [--help] [--version] COMMAND [ARGS]\n"
		     "       deployctl COMMAND --help\n\n"
		     "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		print_entry(out, &commands[i]);
	fprintf(out, "\n%s", mount_note);
}

int ctl_help(const char *cmd)
{
	bool mount = false;

	if (!print_synopses(stdout, cmd, &mount)) {
		fprintf(stderr, "deployctl: no command \"%s\"\n", cmd);
		usage(stderr);
		return EX_USAGE;
	}
	putchar('\n');
	for (size_t i = 0, n = 0; i < NCOMMANDS; i++) {
		const struct ctl_command *c = &commands[i];

		if (!is_asked(c, cmd))
			continue;
		/* One entry: its usage line above says it all. */
		if (n++ == 0 &&
		    (i + 1 == NCOMMANDS || !is_asked(&commands[i + 1], cmd)))
			fputs(c->text ? c->text : "", stdout);
		else
			print_entry(stdout, c);
	}
	if (mount)
		printf("\n%s", mount_note);
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

int ctl_usage(const char *cmd)
{
	bool mount = false;

	if (!print_synopses(stderr, cmd, &mount))
		usage(stderr);
	else
		fprintf(stderr, "Try 'deployctl %s --help'.\n", cmd);
	return EX_USAGE;
}

int ctl_no_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		CTL_HELP_OPTION,
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
		return c == 'h' ? ctl_help(argv[0]) : ctl_usage(argv[0]);
	return -1;
}

/* deployctl help [COMMAND] */
static int cmd_help(int argc, char **argv)
{
	int rc = ctl_no_options(argc, argv);

	if (rc >= 0)
		return rc;
	if (argc - optind > 1)
		return ctl_usage("help");
	if (optind == argc) {
		usage(stdout);
		return 0;
	}
	return ctl_help(argv[optind]);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("deployctl %s (store schema %d)\n", DFS_VERSION,
			       dfs_store_schema_version());
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EX_USAGE;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].run && strcmp(argv[0], commands[i].name) == 0)
			return commands[i].run(argc, argv);
	fprintf(stderr, "deployctl: unknown command \"%s\"\n", argv[0]);
	usage(stderr);
	return EX_USAGE;
}
