// SPDX-License-Identifier: MIT
/*
 * packages.c - packages/: the folder of each component (packages/NAME),
 * its `latest` link and the snapshot nodes (packages/NAME/NAME@VERSION/
 * ...).  Snapshot nodes never change (DFS_NODE_IMMUTABLE); `latest`
 * changes when packages come and go (DFS_NODE_VOLATILE), and the names
 * packages/NAME and NAME@V may go then: the kernel keeps them and is
 * told (DFS_NODE_ENTRY_TOLD).  mkdir packages/NAME/NAME@V makes a package;
 * everything else here is read-only (EROFS), and rmdir of a folder that
 * has entries is ENOTEMPTY, as POSIX says: a package goes only by
 * deployctl package remove (the user.deployfs.remove attribute of
 * packages/NAME), a soft delete that user.deployfs.restore undoes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trees.h"

int dfs_snode_attr_locked(struct dfs_store *st, int64_t id,
			  struct dfs_attr *ret)
{
	char shown[DFS_SYMLINK_MAX + 1];
	int rc = dfs_snode_attr(st, id, ret);

	if (rc == 0) {
		ret->ino = DFS_INO_SNODE_BASE + (uint64_t)id;
		ret->flags = DFS_NODE_IMMUTABLE;
	}
	/* A link to a required component leads to packages/NAME. */
	if (rc == 0 && S_ISLNK(ret->mode) &&
	    dfs_link_shown(st, id, 2, shown, sizeof(shown)) == 0)
		ret->size = strlen(shown);
	return rc;
}

/* packages/NAME: there while the component is in build/ or packaged.  The
 * kernel may keep its entry and attributes: what changes them tells it,
 * model's dfs_component_changed() and dfs_component_detach(), and
 * dfs_pkgdir_of_changed() for the build folder they follow.  Once gone,
 * its attributes are ENOENT, so a walk through a kept entry stops there
 * (each walk asks for them again: default_permissions). */
static int pkgdir_attr(struct dfs_store *st, int64_t comp, struct dfs_attr *ret)
{
	struct dfs_attr a = { 0 };
	struct dfs_component c;
	struct dfs_pkg_folder f;
	int rc = dfs_component_by_id(st, comp, &c);

	if (rc == 0)
		rc = dfs_pkg_folder(st, comp, &f);
	if (rc < 0)
		return rc;
	if (!c.dir && f.count == 0)
		return -ENOENT;
	a.ino = DFS_INO_PKGDIR_BASE + (uint64_t)comp;
	a.mode = S_IFDIR | 0755;
	a.nlink = 2 + (uint32_t)f.count;
	a.uid = f.uid;
	a.gid = f.gid;
	/* Changes when its packages come and go, not with build/. */
	a.mtime = a.ctime = a.atime = dfs_ns_to_ts(f.changed);
	a.size = 4096;
	a.blocks = 8;
	a.flags = DFS_NODE_ENTRY_TOLD;
	*ret = a;
	return 0;
}

/* The build folder dir changed (its owner, mode, times or entries): if it
 * is a component's, so may packages/NAME's attributes. */
void dfs_pkgdir_of_changed(struct dfs_store *st, uint64_t dir)
{
	struct dfs_component c;

	if (dfs_component_by_dir(st, dir, &c) == 0)
		dfs_notice_attr(st, DFS_INO_PKGDIR_BASE + (uint64_t)c.id);
}

static int latest_attr(struct dfs_store *st, int64_t pkg, struct dfs_attr *ret)
{
	struct dfs_attr a = { 0 };
	struct dfs_pkg p;
	int rc = dfs_pkg_by_id(st, pkg, &p);

	if (rc < 0)
		return rc;
	a.ino = DFS_INO_LATEST_BASE + (uint64_t)pkg;
	a.mode = S_IFLNK | 0777;
	a.nlink = 1;
	a.size = strlen(p.component) + 1 + strlen(p.version);
	a.mtime = a.ctime = a.atime = dfs_ns_to_ts(p.created);
	a.uid = p.uid;
	a.flags = DFS_NODE_VOLATILE;
	*ret = a;
	return 0;
}

int dfs_packages_attr_locked(struct dfs_store *st, uint64_t ino,
			     struct dfs_attr *ret)
{
	if (ino == DFS_INO_PACKAGES)
		return dfs_inode_attr(st, ino, ret);
	if (ino >= DFS_INO_LATEST_BASE)
		return latest_attr(st, (int64_t)(ino - DFS_INO_LATEST_BASE),
				   ret);
	if (ino >= DFS_INO_PKGDIR_BASE)
		return pkgdir_attr(st, (int64_t)(ino - DFS_INO_PKGDIR_BASE),
				   ret);
	/* A removed package's folder: its entry may still be in the
	 * kernel's cache (see lookup_in_pkgdir). */
	if (dfs_pkg_root_removed(st, (int64_t)(ino - DFS_INO_SNODE_BASE)))
		return -ENOENT;
	return dfs_snode_attr_locked(st, (int64_t)(ino - DFS_INO_SNODE_BASE),
				     ret);
}

static int lookup_in_pkgdir(struct dfs_store *st, int64_t comp,
			    const char *name, struct dfs_attr *ret)
{
	struct dfs_component c;
	const char *version;
	struct dfs_pkg p;
	int rc = dfs_component_by_id(st, comp, &c);

	if (rc < 0)
		return rc;
	if (strcmp(name, "latest") == 0) {
		rc = dfs_pkg_latest(st, c.name, &p);
		return rc < 0 ? rc : latest_attr(st, p.id, ret);
	}
	if (dfs_pkg_parse(&c, name, &version) < 0)
		return -ENOENT;
	rc = dfs_pkg_by_version(st, c.name, version, &p);
	if (rc == 0)
		rc = dfs_snode_attr_locked(st, p.root, ret);
	/* It never changes, but deployctl package remove and prune take it
	 * away behind the kernel's back.  They tell it (model's
	 * dfs_pkg_notice_gone()), and the folder's attributes are ENOENT
	 * from then on: a walk through a kept entry asks for them. */
	if (rc == 0)
		ret->flags |= DFS_NODE_ENTRY_TOLD;
	return rc;
}

static int pkg_lookup(struct dfs_store *st, uint64_t parent, const char *name,
		      struct dfs_attr *ret)
{
	struct dfs_component c;
	int64_t id;
	int rc;

	if (parent == DFS_INO_PACKAGES) {
		rc = dfs_component_by_name(st, name, &c);
		return rc < 0 ? rc : pkgdir_attr(st, c.id, ret);
	}
	if (parent >= DFS_INO_LATEST_BASE)
		return -ENOTDIR;
	if (parent >= DFS_INO_PKGDIR_BASE)
		return lookup_in_pkgdir(
			st, (int64_t)(parent - DFS_INO_PKGDIR_BASE), name, ret);
	rc = dfs_snode_child(st, (int64_t)(parent - DFS_INO_SNODE_BASE), name,
			     &id);
	return rc < 0 ? rc : dfs_snode_attr_locked(st, id, ret);
}

/* ---- listings ------------------------------------------------------------ */

/* Emit each (id, name) of l with attr()'s attributes; offsets are ids. */
static int emit_rows(struct dfs_store *st, struct dfs_idnames *l, int rc,
		     int (*attr)(struct dfs_store *, int64_t,
				 struct dfs_attr *),
		     bool hold, dfs_readdir_fn fn, void *ctx)
{
	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		struct dfs_attr a;

		if (attr(st, l->v[i].id, &a) < 0)
			continue;
		if (dfs_emit(st, fn, ctx, hold, l->v[i].name,
			     (uint64_t)l->v[i].id, &a))
			break;
	}
	dfs_idnames_free(l);
	return rc;
}

static int list_components(struct dfs_store *st, uint64_t off, bool hold,
			   dfs_readdir_fn fn, void *ctx)
{
	struct dfs_idnames l = { 0 };
	int rc = dfs_component_list(st, (int64_t)off, &l);

	return emit_rows(st, &l, rc, pkgdir_attr, hold, fn, ctx);
}

/* Natural order of versions; a tie (cannot happen) by id. */
static int version_order(const char *a, int64_t aid, const char *b, int64_t bid)
{
	int c = strverscmp(a, b);

	return c ? c : aid < bid ? -1 : aid > bid;
}

static int version_cmp(const void *a, const void *b)
{
	const struct dfs_version *x = a, *y = b;

	return version_order(x->label, x->id, y->label, y->id);
}

/*
 * packages/NAME: latest, then the versions in natural order.  Offsets: 1
 * after latest, 2 + package id after a version.  Resuming after a version
 * continues with the versions that sort after it, even if it was removed
 * meanwhile (its tombstone row keeps its label), so entries are neither
 * skipped nor repeated while the folder changes.
 */
static int list_versions(struct dfs_store *st, int64_t comp, uint64_t off,
			 bool hold, dfs_readdir_fn fn, void *ctx)
{
	char after[DFS_LABEL_MAX + 1] = "",
				   name[DFS_NAME_MAX + DFS_LABEL_MAX + 2];
	struct dfs_versions v = { 0 };
	struct dfs_component c;
	struct dfs_attr a;
	struct dfs_pkg p;
	int64_t after_id = (int64_t)off - 2;
	size_t i = 0;
	int rc = dfs_component_by_id(st, comp, &c);

	if (rc == 0 && off > 1 &&
	    dfs_pkg_label(st, after_id, after, sizeof(after)) < 0)
		after[0] = '\0';
	if (rc == 0)
		rc = dfs_pkg_versions(st, comp, &v);
	if (rc < 0)
		goto out_free;
	if (v.n > 1)
		qsort(v.v, v.n, sizeof(*v.v), version_cmp);
	if (off < 1 && dfs_pkg_latest(st, c.name, &p) == 0 &&
	    latest_attr(st, p.id, &a) == 0 &&
	    dfs_emit(st, fn, ctx, hold, "latest", 1, &a))
		goto out_free;
	while (off > 1 && i < v.n &&
	       version_order(v.v[i].label, v.v[i].id, after, after_id) <= 0)
		i++;
	for (; i < v.n; i++) {
		if (dfs_snode_attr_locked(st, v.v[i].root, &a) < 0)
			continue;
		a.flags |= DFS_NODE_ENTRY_TOLD; /* see lookup_in_pkgdir */
		snprintf(name, sizeof(name), "%s@%s", c.name, v.v[i].label);
		if (dfs_emit(st, fn, ctx, hold, name, (uint64_t)v.v[i].id + 2,
			     &a))
			break;
	}
out_free:
	free(v.v);
	return rc;
}

static int list_snode(struct dfs_store *st, int64_t dir, uint64_t off,
		      bool hold, dfs_readdir_fn fn, void *ctx)
{
	struct dfs_idnames l = { 0 };
	int rc = dfs_snode_children(st, dir, (int64_t)off, &l);

	return emit_rows(st, &l, rc, dfs_snode_attr_locked, hold, fn, ctx);
}

static int pkg_readdir(struct dfs_store *st, uint64_t ino, uint64_t off,
		       bool hold, dfs_readdir_fn fn, void *ctx)
{
	struct dfs_attr a;
	int rc;

	if (ino == DFS_INO_PACKAGES)
		return list_components(st, off, hold, fn, ctx);
	rc = dfs_packages_attr_locked(st, ino, &a);
	if (rc < 0)
		return rc;
	if (!S_ISDIR(a.mode))
		return -ENOTDIR;
	if (ino >= DFS_INO_PKGDIR_BASE)
		return list_versions(st, (int64_t)(ino - DFS_INO_PKGDIR_BASE),
				     off, hold, fn, ctx);
	return list_snode(st, (int64_t)(ino - DFS_INO_SNODE_BASE), off, hold,
			  fn, ctx);
}

static int pkg_readlink(struct dfs_store *st, uint64_t ino, char *buf,
			size_t cap)
{
	struct dfs_pkg p;
	int rc, len;

	if (ino >= DFS_INO_LATEST_BASE) {
		rc = dfs_pkg_by_id(st, (int64_t)(ino - DFS_INO_LATEST_BASE),
				   &p);
		if (rc < 0)
			return rc;
		len = snprintf(buf, cap, "%s@%s", p.component, p.version);
		return len < (int)cap ? len : -ENAMETOOLONG;
	}
	if (ino >= DFS_INO_PKGDIR_BASE || ino == DFS_INO_PACKAGES)
		return -EINVAL;
	rc = dfs_link_shown(st, (int64_t)(ino - DFS_INO_SNODE_BASE), 2, buf,
			    cap);
	return rc < 0 ? rc : (int)strlen(buf);
}

/* ---- making and removing packages ------------------------------------------ */

static int pkg_create(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t parent, const char *name, uint32_t mode,
		      uint64_t rdev, const char *target, struct dfs_attr *ret)
{
	int64_t root = 0;
	int rc;

	if (!S_ISDIR(mode) || !dfs_is_pkgdir(parent))
		return -EROFS;
	if (dfs_reserve_spent(st))
		return -ENOSPC;	    /* the last room is for what frees space */
	(void)dfs_content_sync(st); /* seal what was closed */
	rc = dfs_pkg_create(st, actor, (int64_t)(parent - DFS_INO_PKGDIR_BASE),
			    name, &root);
	if (rc == 0)
		rc = dfs_snode_attr_locked(st, root, ret);
	if (rc == 0)
		ret->flags |= DFS_NODE_ENTRY_TOLD; /* see lookup_in_pkgdir */
	return rc;
}

/* rmdir: ENOTEMPTY for a folder with entries, else EROFS (EPERM for a
 * package: removing one is deployctl package remove). */
static int pkg_remove(struct dfs_store *st, const struct dfs_actor *actor,
		      uint64_t parent, const char *name, bool dir)
{
	struct dfs_idnames kids = { 0 };
	struct dfs_attr a;
	int rc;

	if (!dir)
		return -EROFS;
	rc = pkg_lookup(st, parent, name, &a);
	if (rc == 0 && !S_ISDIR(a.mode))
		rc = -ENOTDIR;
	if (rc < 0)
		return rc;
	if (!dfs_ino_is_snode(a.ino))
		return a.nlink > 2 ? -ENOTEMPTY : -EROFS;
	rc = dfs_snode_children(st, (int64_t)(a.ino - DFS_INO_SNODE_BASE), 0,
				&kids);
	if (rc == 0)
		rc = kids.n		     ? -ENOTEMPTY
		     : dfs_is_pkgdir(parent) ? -EPERM
					     : -EROFS;
	dfs_idnames_free(&kids);
	if (dfs_is_pkgdir(parent)) {
		const char *at = strchr(name, '@');
		char why[DFS_NAME_MAX + 64];
		struct dfs_component c = { 0 };

		(void)dfs_component_by_id(
			st, (int64_t)(parent - DFS_INO_PKGDIR_BASE), &c);
		snprintf(why, sizeof(why),
			 "rmdir removes no package: deployctl package remove "
			 "%s does",
			 name);
		dfs_audit_refuse(st, actor, "package-remove", NULL,
				 c.name[0] ? c.name : NULL, at ? at + 1 : name,
				 rc, why);
	}
	return rc;
}

static int pkg_setattr(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t ino, const struct dfs_setattr *sa,
		       struct dfs_attr *ret)
{
	int rc = dfs_packages_attr_locked(st, ino, ret);

	if (rc < 0)
		return rc;
	/* packages/ itself is read-only; what is below it never changes,
	 * so only a change to the same values succeeds (cp -a and rsync -a
	 * setting what is already there). */
	if (ino == DFS_INO_PACKAGES)
		return -EROFS;
	return dfs_setattr_is_noop(ret, sa) ? 0 : -EROFS;
}

static int pkg_open(struct dfs_store *st, const struct dfs_actor *actor,
		    uint64_t ino, int flags, struct dfs_file **ret)
{
	struct dfs_blob_src src;
	int rc;

	if (!dfs_ino_is_snode(ino))
		return -EISDIR;
	pthread_mutex_lock(&st->lock);
	rc = dfs_snode_blob(st, (int64_t)(ino - DFS_INO_SNODE_BASE), &src.mode,
			    &src.size, &src.hash);
	pthread_mutex_unlock(&st->lock);
	if (rc < 0)
		return rc;
	if (S_ISDIR(src.mode))
		return -EISDIR;
	if (!S_ISREG(src.mode))
		return -EINVAL;
	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	return dfs_content_open(st, ino, flags, &src, ret);
}

/* ---- metadata: user.deployfs.* of a package folder --------------------------- */

static int pkg_xattr_get(struct dfs_store *st, uint64_t ino, const char *name,
			 void *buf, size_t cap)
{
	int rc = dfs_retention_get(st, ino, name, buf, cap);

	if (rc != 1)
		return rc;
	if (ino == DFS_INO_PACKAGES &&
	    strcmp(name, "user.deployfs.import_result") == 0 &&
	    st->trees->import_result[0]) {
		const char *v = st->trees->import_result;

		if (cap && strlen(v) > cap)
			return -ERANGE;
		if (cap)
			memcpy(buf, v, strlen(v));
		return (int)strlen(v);
	}
	if (!dfs_ino_is_snode(ino))
		return -ENODATA;
	rc = dfs_pkg_meta_get(st, (int64_t)(ino - DFS_INO_SNODE_BASE), name,
			      buf, cap);
	return rc == -ENOENT ? -ENODATA : rc;
}

/* user.deployfs.remove / restore = VERSION on packages/NAME. */
static int set_removed(struct dfs_store *st, const struct dfs_actor *actor,
		       uint64_t ino, bool removed, const void *value,
		       size_t size)
{
	char version[DFS_LABEL_MAX + 1];
	int rc;

	if (size == 0 || size >= sizeof(version) || memchr(value, 0, size))
		return -EINVAL;
	memcpy(version, value, size);
	version[size] = '\0';
	if (st->registry)
		return dfs_reg_pkg_shared(
			st, actor,
			removed ? "package-remove" : "package-restore",
			(int64_t)(ino - DFS_INO_PKGDIR_BASE), version, NULL);
	rc = dfs_pkg_set_removed(st, actor,
				 (int64_t)(ino - DFS_INO_PKGDIR_BASE), version,
				 removed);
	return rc;
}

/* user.deployfs.mark-bad = "VERSION REASON", mark-good = VERSION on
 * packages/NAME. */
static int set_bad(struct dfs_store *st, const struct dfs_actor *actor,
		   uint64_t ino, bool bad, const void *value, size_t size)
{
	char text[1024], *reason = NULL;

	if (size == 0 || size >= sizeof(text) || memchr(value, 0, size))
		return -EINVAL;
	memcpy(text, value, size);
	text[size] = '\0';
	if (bad) {
		reason = strchr(text, ' ');
		if (reason)
			*reason++ = '\0';
		else
			reason = text + size; /* "": refused, recorded */
	}
	if (st->registry)
		return dfs_reg_pkg_shared(
			st, actor,
			bad ? "package-mark-bad" : "package-mark-good",
			(int64_t)(ino - DFS_INO_PKGDIR_BASE), text, reason);
	return dfs_pkg_set_bad(st, actor, (int64_t)(ino - DFS_INO_PKGDIR_BASE),
			       text, reason);
}

static int pkg_xattr_set(struct dfs_store *st, const struct dfs_actor *actor,
			 uint64_t ino, const char *name, const void *value,
			 size_t size, unsigned flags)
{
	int rc;

	if (dfs_retention_attr(ino, name)) /* keep, prune, gc */
		return dfs_retention_set(st, actor, ino, name, value, size);
	if (ino == DFS_INO_PACKAGES &&
	    strcmp(name, "user.deployfs.import") == 0)
		return dfs_import_xattr(st, actor, value, size);
	if (dfs_is_pkgdir(ino) && strcmp(name, "user.deployfs.remove") == 0)
		return set_removed(st, actor, ino, true, value, size);
	if (dfs_is_pkgdir(ino) && strcmp(name, "user.deployfs.restore") == 0)
		return set_removed(st, actor, ino, false, value, size);
	if (dfs_is_pkgdir(ino) && strcmp(name, "user.deployfs.mark-bad") == 0)
		return set_bad(st, actor, ino, true, value, size);
	if (dfs_is_pkgdir(ino) && strcmp(name, "user.deployfs.mark-good") == 0)
		return set_bad(st, actor, ino, false, value, size);
	if (!dfs_ino_is_snode(ino))
		return -EROFS;
	rc = dfs_pkg_meta_set(st, actor, (int64_t)(ino - DFS_INO_SNODE_BASE),
			      name, value, size);
	return rc == -ENOENT ? -EROFS : rc;
}

static int pkg_xattr_list(struct dfs_store *st, uint64_t ino, char *buf,
			  size_t cap)
{
	int rc;

	if (!dfs_ino_is_snode(ino))
		return 0;
	rc = dfs_pkg_meta_list(st, (int64_t)(ino - DFS_INO_SNODE_BASE), buf,
			       cap);
	return rc == -ENOENT ? 0 : rc;
}

/* packages/, packages/N, its latest, a snapshot node. */
static void pkg_describe(struct dfs_store *st, uint64_t ino,
			 struct dfs_where *ret)
{
	struct dfs_component c;
	struct dfs_pkg p;
	const char *name = "";

	if (dfs_ino_is_snode(ino)) {
		dfs_snode_where(st, (int64_t)(ino - DFS_INO_SNODE_BASE), NULL,
				ret);
		return;
	}
	if (dfs_is_pkgdir(ino) &&
	    dfs_component_by_id(st, (int64_t)(ino - DFS_INO_PKGDIR_BASE), &c) ==
		    0)
		name = c.name;
	else if (ino >= DFS_INO_LATEST_BASE &&
		 dfs_pkg_by_id(st, (int64_t)(ino - DFS_INO_LATEST_BASE), &p) ==
			 0)
		name = p.component;
	snprintf(ret->component, sizeof(ret->component), "%s", name);
	snprintf(ret->path, sizeof(ret->path), "packages%s%s%s",
		 name[0] ? "/" : "", name,
		 ino >= DFS_INO_LATEST_BASE ? "/latest" : "");
	snprintf(ret->scope, sizeof(ret->scope), "packages%s%s",
		 name[0] ? "/" : "", name);
}

const struct dfs_tree_ops dfs_packages_tree = {
	.name = "packages",
	.none = -EROFS,
	.describe = pkg_describe,
	.lookup = pkg_lookup,
	.getattr = dfs_packages_attr_locked,
	.readdir = pkg_readdir,
	.readlink = pkg_readlink,
	.create = pkg_create,
	.remove = pkg_remove,
	.setattr = pkg_setattr,
	.open = pkg_open,
	.xattr_get = pkg_xattr_get,
	.xattr_set = pkg_xattr_set,
	.xattr_list = pkg_xattr_list,
};
