// SPDX-License-Identifier: MIT
/*
 * test_export.c - packages travel between stores: deployctl export of a
 * package (and what it requires) from one mount (test) into one pax
 * archive, deployctl import of it into another (production), where it is
 * the same package (tree and metadata) and deploys; importing it again
 * does nothing; the same version with another hash is EEXIST; a tampered
 * archive (a changed byte, an extra or a missing file, edited metadata)
 * is refused with nothing made and the refusal recorded; bad arguments
 * are refused before anything is done.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL "\"$DEPLOYCTL\" "
#define ARCH "\"$DIR/out.tar\""
#define TPKG "\"$MNT/packages/order-sync/order-sync@1\""
#define PPKG "\"$P/packages/order-sync/order-sync@1\""
#define AS_NOBODY "setpriv --reuid=65534 --regid=65534 --clear-groups "

static struct dfs_mount m; /* test */
static struct dfs_mount p; /* production */
static int setup_rc;

static void setup(void)
{
	setup_rc = dfs_mount_setup(&m);
	if (setup_rc == 0)
		setup_rc = dfs_mount_setup(&p);
	if (setup_rc == 0)
		setenv("P", p.mnt, 1);
}

static void teardown(void)
{
	dfs_mount_teardown(&p);
	dfs_mount_teardown(&m);
}

TestSuite(export, .init = setup, .fini = teardown, .timeout = 120);

/* order-sync@1 (with notes) and partner-cert@1 packaged in test, and
 * exported together into $DIR/out.tar. */
static void prepare(void)
{
	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0, "cp -a of the workspace");
	dfs_ok(&m, "mkdir \"$MNT/packages/partner-cert/partner-cert@1\" " TPKG
		   " && setfattr -n user.deployfs.notes -v 'release 1' " TPKG);
	dfs_ok(&m, CTL "export order-sync@1 --with-requirements -o " ARCH
		       " --mount \"$MNT\" 2>/dev/null");
}

/* The exit code of sh -c cmd (run for the test mount). */
static int status(const char *cmd)
{
	char buf[32];

	return atoi(dfs_out(&m, buf, sizeof(buf), "%s >/dev/null 2>&1; echo $?",
			    cmd));
}

/* Entries of production's packages/ (0: nothing was made there). */
static int production_packages(void)
{
	char buf[32];

	return atoi(
		dfs_out(&m, buf, sizeof(buf), "ls \"$P/packages\" | wc -l"));
}

/* audit.log lines of production holding text. */
static int production_audit(const char *text)
{
	char buf[32];

	return atoi(dfs_out(&m, buf, sizeof(buf),
			    "grep -cF -- '%s' \"$P/audit.log\" || true", text));
}

Test(export, a_package_moves_from_test_to_production_and_deploys)
{
	char a[4096], b[4096];

	prepare();
	/* A standard tar: GNU tar lists it and extracts the trees. */
	dfs_ok(&m, "tar -tf " ARCH " 2>/dev/null | grep -qx "
		   "order-sync@1/process.xml && tar -tf " ARCH " 2>/dev/null"
		   " | grep -qx partner-cert@1/partner.pem && tar -tf " ARCH
		   " 2>/dev/null | grep -qx .deployfs/order-sync@1.manifest");
	dfs_ok(&m, "mkdir \"$DIR/x\" && tar --pax-option='delete=DEPLOYFS.*' "
		   "-xf " ARCH " -C \"$DIR/x\" && cmp \"$DIR/x/order-sync@1/"
		   "process.xml\" " TPKG "/process.xml");
	dfs_ok(&m, "tar --pax-option='delete=DEPLOYFS.*' -xOf " ARCH
		   " .deployfs/order-sync@1.manifest | grep -q "
		   "'^F 644 [0-9a-f]\\{32\\} [0-9]* process.xml$'");
	dfs_ok(&m, "test \"$(stat -c %%a \"$DIR/x/order-sync@1\")\" = 755");

	dfs_ok(&m, CTL "import " ARCH " --mount \"$P\" >\"$DIR/import.out\"");
	cr_assert_str_eq(dfs_out(&m, a, sizeof(a), "cat \"$DIR/import.out\""),
			 "imported order-sync@1\nimported partner-cert@1");
	/* The same tree, times and modes included, and the same metadata. */
	dfs_ok(&m, "diff -r --no-dereference " TPKG " " PPKG);
	dfs_ok(&m, "test \"$(cd " TPKG " && find . -printf '%%p %%m %%T@ "
		   "%%y\\n' | sort)\" = \"$(cd " PPKG " && find . -printf "
		   "'%%p %%m %%T@ %%y\\n' | sort)\"");
	dfs_out(&m, a, sizeof(a),
		"cd \"$MNT/packages/order-sync\" && "
		"getfattr -d order-sync@1");
	dfs_out(&m, b, sizeof(b),
		"cd \"$P/packages/order-sync\" && "
		"getfattr -d order-sync@1");
	cr_assert_str_eq(a, b);
	cr_assert(strstr(b, "user.deployfs.notes=\"release 1\""), "%s", b);
	cr_assert_eq(production_audit("action=import env= "
				      "component=order-sync version=1"),
		     1);
	cr_assert_eq(production_audit("result=ok reason=\"from store "), 2);

	/* Deployed in production, as any package. */
	dfs_ok(&m, "mkdir \"$P/environments/production\" && " CTL
		   "deploy partner-cert@1 production --mount \"$P\" && " CTL
		   "deploy order-sync@1 production --mount \"$P\" >/dev/null");
	dfs_ok(&m,
	       "cmp \"$P/environments/production/order-sync/process.xml\" " TPKG
	       "/process.xml");

	/* Again: nothing to do, said and recorded. */
	dfs_out(&m, a, sizeof(a),
		CTL "import " ARCH " --mount \"$P\"; echo rc=$?");
	cr_assert(strstr(a, "order-sync@1 is here already with the same "
			    "content hash: nothing to do"),
		  "%s", a);
	cr_assert(strstr(a, "rc=0"), "%s", a);
	cr_assert_eq(production_audit("component=order-sync version=1 from= "
				      "deployment= result=unchanged"),
		     1);
}

Test(export, the_same_version_with_another_hash_is_EEXIST)
{
	char before[128], after[128], out[1024];

	prepare();
	dfs_ok(&m, "cp -a \"$FIXTURES/workspace/.\" \"$P/build/\" && echo "
		   "changed >>\"$P/build/process/order-sync/process.xml\" && "
		   "mkdir " PPKG);
	dfs_out(&m, before, sizeof(before),
		"getfattr --only-values -n user.deployfs.content_hash " PPKG);
	dfs_out(&m, out, sizeof(out),
		CTL "import " ARCH " --mount \"$P\" 2>&1; echo rc=$?");
	cr_assert(strstr(out, "File exists"), "%s", out);
	cr_assert(strstr(out, "another content hash"), "%s", out);
	cr_assert(strstr(out, "rc=1"), "%s", out);
	dfs_out(&m, after, sizeof(after),
		"getfattr --only-values -n user.deployfs.content_hash " PPKG);
	cr_assert_str_eq(before, after);
	cr_assert_eq(production_audit("action=import env= component=order-sync"
				      " version=1 from= deployment= "
				      "result=refused"),
		     1);
}

/* Rewrite the archive with Python's tarfile (pax headers kept), applying
 * a change to the member list: an expression on ms. */
#define REWRITE(change)                                                  \
	"python3 -c 'import tarfile, io\n"                               \
	"src = tarfile.open(\"'\"$DIR\"'/out.tar\")\n"                   \
	"ms = [(t, src.extractfile(t).read() if t.isfile() else None) "  \
	"for t in src.getmembers()]\n" change                            \
	"\nout = tarfile.open(\"'\"$DIR\"'/bad.tar\", \"w\", "           \
	"format=tarfile.PAX_FORMAT)\n"                                   \
	"for t, d in ms:\n"                                              \
	"    out.addfile(t, io.BytesIO(d) if d is not None else None)\n" \
	"out.close()'"

/* Import $DIR/bad.tar into production: refused with exit 65 naming
 * what (words in its message), nothing made, the refusal recorded. */
static void refused(const char *what, int *recorded)
{
	char out[2048];

	dfs_out(&m, out, sizeof(out),
		CTL "import \"$DIR/bad.tar\" --mount \"$P\" 2>&1; echo rc=$?");
	cr_assert(strstr(out, "refused, nothing made"), "%s", out);
	cr_assert(strstr(out, what), "want \"%s\" in: %s", what, out);
	cr_assert(strstr(out, "rc=65"), "%s", out);
	cr_assert_eq(production_packages(), 0, "nothing made");
	cr_assert_eq(production_audit("action=import env= component= "
				      "version= from= deployment= "
				      "result=refused"),
		     ++*recorded);
}

Test(export, a_tampered_archive_is_refused_with_nothing_made)
{
	int n = 0;

	prepare();
	dfs_need_mount(&p, setup_rc);
	/* A changed byte in a file. */
	dfs_ok(&m, REWRITE("ms = [(t, d.replace(b\"<\", b\">\", 1) if "
			   "t.name.endswith(\"process.xml\") else d) "
			   "for t, d in ms]"));
	refused("process.xml", &n);
	/* An extra file. */
	dfs_ok(&m, REWRITE("t = tarfile.TarInfo(\"order-sync@1/extra.txt\")\n"
			   "t.size = 3\nms.insert(1, (t, b\"hi\\n\"))"));
	refused("an entry its manifest lacks: F 644", &n);
	/* A missing file. */
	dfs_ok(&m, REWRITE("ms = [x for x in ms if not "
			   "x[0].name.endswith(\"/process.xml\")]"));
	refused("an entry of its manifest is missing: F 644", &n);
	/* Edited metadata: notes, the content hash, the version. */
	dfs_ok(&m, REWRITE("ms[0][0].pax_headers[\"DEPLOYFS.notes\"] = "
			   "\"release 2\""));
	refused("metadata was edited", &n);
	dfs_ok(&m, REWRITE("ms[0][0].pax_headers[\"DEPLOYFS.hash\"] = "
			   "\"0\" * 32"));
	refused("metadata was edited", &n);
	dfs_ok(&m, REWRITE("ms[0][0].pax_headers[\"DEPLOYFS.version\"] = "
			   "\"2\""));
	refused("not named by its metadata", &n);
	/* A link, then a file written through it: not outside. */
	dfs_ok(&m, "mkdir \"$DIR/outside\"");
	dfs_ok(&m,
	       REWRITE("t = tarfile.TarInfo(\"order-sync@1/zz\")\n"
		       "t.type = tarfile.SYMTYPE\n"
		       "t.linkname = \"'\"$DIR\"'/outside\"\n"
		       "e = tarfile.TarInfo(\"order-sync@1/zz/evil\")\n"
		       "e.size = 3\nms[1:1] = [(t, None), (e, b\"hi\\n\")]"));
	refused("goes through a link", &n);
	dfs_ok(&m, "test ! -e \"$DIR/outside/evil\"");
	/* Cut short, and not a tar at all. */
	dfs_ok(&m, "head -c 3000 " ARCH " >\"$DIR/bad.tar\"");
	refused("cut short", &n);
	/* Random bytes after a text: a first byte of 0 (1 run in 256 with
	 * random bytes alone) reads as the end-of-archive block. */
	dfs_ok(&m, "{ printf 'not a tar'; head -c 4087 /dev/urandom; } "
		   ">\"$DIR/bad.tar\"");
	refused("checksum", &n);
}

Test(export, bad_arguments_are_refused_before_anything_is_done)
{
	char out[1024];

	prepare();
	dfs_need_mount(&p, setup_rc);
	cr_assert_eq(status(CTL "export --mount \"$MNT\""), 64);
	cr_assert_eq(status(CTL "export order-sync --mount \"$MNT\" -o "
				"\"$DIR/u.tar\""),
		     64);
	cr_assert_eq(status(CTL "export --bogus order-sync@1 -o "
				"\"$DIR/u.tar\" --mount \"$MNT\""),
		     64);
	cr_assert_eq(status(CTL "import --bogus " ARCH " --mount \"$P\""), 64);
	cr_assert_eq(status(CTL "import --mount \"$P\""), 64);
	dfs_ok(&m, "test ! -e \"$DIR/u.tar\"");
	cr_assert_eq(production_packages(), 0);
	/* An unknown version: named, and no archive left behind. */
	dfs_out(&m, out, sizeof(out),
		CTL "export order-sync@9 -o \"$DIR/u.tar\" --mount \"$MNT\" "
		    "2>&1; echo rc=$?");
	cr_assert(strstr(out, "rc=66"), "%s", out);
	cr_assert(strstr(out, "9"), "%s", out);
	dfs_ok(&m, "test ! -e \"$DIR/u.tar\" && test ! -e \"$DIR/u.tar."
		   "partial\"");
	cr_assert_eq(status(CTL "import \"$DIR/none.tar\" --mount \"$P\""), 66);
	/* Help; importing without root: refused by the kernel (packages/
	 * is not the user's to write), exit 77, nothing made. */
	dfs_ok(&m, CTL "export --help | grep -q with-requirements");
	dfs_ok(&m, CTL "import -h | grep -q FILE");
	dfs_ok(&m, "chmod 644 " ARCH " && chmod 755 \"$DIR\"");
	cr_assert_eq(status("TMPDIR=/tmp " AS_NOBODY CTL "import " ARCH
			    " --mount \"$P\""),
		     77);
	cr_assert_eq(production_packages(), 0);
}

Test(export, a_requirement_without_a_package_is_named)
{
	char out[1024];

	dfs_need_mount(&m, setup_rc);
	cr_assert_eq(dfs_copy_workspace(&m), 0, "cp -a of the workspace");
	dfs_ok(&m, "mkdir " TPKG);
	dfs_out(&m, out, sizeof(out),
		CTL "export order-sync@1 --with-requirements -o " ARCH
		    " --mount \"$MNT\" 2>&1; echo rc=$?");
	cr_assert(strstr(out, "partner-cert is required, but has no package"),
		  "%s", out);
	cr_assert(strstr(out, "rc=66"), "%s", out);
	dfs_ok(&m, "test ! -e " ARCH " && test ! -e \"$DIR/out.tar.partial\"");
	/* Two versions of one component travel together. */
	dfs_ok(&m, "mkdir \"$MNT/packages/order-sync/order-sync@2\" && " CTL
		   "export order-sync@1 order-sync@2 order-sync@1 -o "
		   "\"$DIR/two.tar\" --mount \"$MNT\" 2>/dev/null && tar -tf "
		   "\"$DIR/two.tar\" 2>/dev/null | grep -c '^order-sync@[12]$' "
		   "| grep -qx 2");
	/* Without --with-requirements: the package alone. */
	dfs_ok(&m, CTL "export order-sync@1 -o " ARCH " --mount \"$MNT\" "
		       "2>/dev/null && tar -tf " ARCH " 2>/dev/null | grep -c "
		       "'^partner-cert@1' | grep -qx 0");
}
