/* SPDX-License-Identifier: MIT */
/*
 * old_schema.h - SQL that takes a store of the current schema back to an
 * older one, for the tests of migrations (run with the store closed).
 */
#ifndef DFS_TEST_OLD_SCHEMA_H
#define DFS_TEST_OLD_SCHEMA_H

/* Schema 14 taken away: small contents found by their hash again. */
#define DROP_V14                                                     \
	"DROP TRIGGER blob_data_del;"                                \
	"CREATE UNIQUE INDEX blob_data_by_hash ON blob_data (hash);" \
	"CREATE TRIGGER blob_data_del AFTER DELETE ON blobs BEGIN"   \
	" DELETE FROM blob_data WHERE hash = OLD.hash; END;"         \
	"ALTER TABLE blobs DROP COLUMN data;"
/* Schema 13 taken away: no blobs fetched from the registry later. */
#define DROP_V13 \
	DROP_V14 "DROP TRIGGER blob_remote_del; DROP TABLE blob_remote;"
/* Schema 12 taken away: no registry places in the audit trail. */
#define DROP_V12 \
	DROP_V13 \
	"ALTER TABLE audit DROP COLUMN reg_seq; DROP TABLE reg_outbox;"

/* Schema 11 taken away: each package's nodes as rows of their own again,
 * ids root + node, each counted in its blob's row as schema 10 counted
 * them. */
#define DROP_V11                                                               \
	DROP_V12                                                               \
	"CREATE TABLE snodes_v10 (id INTEGER PRIMARY KEY AUTOINCREMENT,"       \
	" parent INTEGER NOT NULL, name BLOB NOT NULL, mode INTEGER NOT NULL," \
	" uid INTEGER NOT NULL, gid INTEGER NOT NULL,"                         \
	" nlink INTEGER NOT NULL DEFAULT 1, size INTEGER NOT NULL DEFAULT 0,"  \
	" blocks INTEGER NOT NULL DEFAULT 0, rdev INTEGER NOT NULL DEFAULT 0," \
	" atime INTEGER NOT NULL, mtime INTEGER NOT NULL,"                     \
	" ctime INTEGER NOT NULL, blob BLOB, target BLOB);"                    \
	"INSERT INTO snodes_v10 (id, parent, name, mode, uid, gid, nlink,"     \
	" size, blocks, rdev, atime, mtime, ctime, blob, target)"              \
	" SELECT p.root + s.node, CASE WHEN s.parent < 0 THEN 0"               \
	" ELSE p.root + s.parent END, s.name, s.mode, s.uid, s.gid,"           \
	" s.nlink, s.size, s.blocks, s.rdev, s.atime, s.mtime, s.ctime,"       \
	" s.blob, s.target FROM packages p JOIN snodes s ON s.line = p.line"   \
	" AND s.vfrom <= p.seq AND (s.vto IS NULL OR s.vto > p.seq);"          \
	"UPDATE blobs SET refs = refs - (SELECT count(*) FROM snodes s"        \
	" WHERE s.blob = blobs.hash) + (SELECT count(*) FROM snodes_v10 o"     \
	" WHERE o.blob = blobs.hash);"                                         \
	"DROP TABLE snodes; ALTER TABLE snodes_v10 RENAME TO snodes;"          \
	"CREATE INDEX snodes_by_name ON snodes (parent, name);"                \
	"CREATE TRIGGER snode_blob_del AFTER DELETE ON snodes"                 \
	" WHEN OLD.blob IS NOT NULL BEGIN"                                     \
	" UPDATE blobs SET refs = refs - 1 WHERE hash = OLD.blob; END;"        \
	"DROP INDEX packages_by_line; ALTER TABLE packages DROP COLUMN line;"  \
	"ALTER TABLE packages DROP COLUMN seq;"                                \
	"ALTER TABLE packages DROP COLUMN nodes;"                              \
	"DROP TABLE lines; DROP TABLE snode_ids;"

#endif
