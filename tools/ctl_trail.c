// SPDX-License-Identifier: MIT
/*
 * ctl_trail.c - the audit trail for deployctl's reports, from the store
 * behind the mount or, when that is refused, from the mount's audit.log
 * (see ctl_trail.h).  audit.log is logfmt as store/model/audit.c renders
 * it: key=value pairs separated by one space, a value quoted when it
 * holds a space, '=', '"', '\' or a control character, with \" \\ \n and
 * \xHH escapes inside the quotes.  An empty value is an absent field.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "ctl_trail.h"
#include "deployctl.h"
#include "jsonw.h"

#define LINE_CAP 20000 /* audit.log lines are at most 16384 bytes */

int trail_open(const char *mnt, struct trail *t)
{
	char store[PATH_MAX];
	int rc = store_of_mount(mnt, store, sizeof(store));

	t->mnt = mnt;
	t->st = NULL;
	if (rc == -ENOENT) {
		fprintf(stderr, "deployctl: %s is not a deployfs mount\n", mnt);
		return EX_NOINPUT;
	}
	if (rc < 0) {
		fprintf(stderr,
			"deployctl: cannot find the store behind %s: %s\n", mnt,
			strerror(-rc));
		return EX_NOINPUT;
	}
	rc = dfs_store_open(store, 0, &t->st);
	if (rc == -EACCES || rc == -EPERM) {
		t->st = NULL; /* not ours to open: read the mount */
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "deployctl: cannot open store \"%s\": %s\n",
			store, dfs_store_strerror(rc));
		return rc == -ENOENT || rc == -EMEDIUMTYPE ? EX_NOINPUT
							   : EX_IOERR;
	}
	return 0;
}

void trail_close(struct trail *t)
{
	t->st = dfs_store_free(t->st);
}

static int digits(const char *s, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = 10 * v + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

/* "YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ" as ns since the epoch. */
static int parse_ts(const char *s, int64_t *ret)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, ns = 0;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || digits(s, 4, &y) ||
	    digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
	    digits(s + 17, 2, &sec))
		return -EINVAL;
	if (s[19] == '.' && digits(s + 20, 9, &ns))
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*ret = (int64_t)timegm(&tm) * 1000000000 + ns;
	return 0;
}

void trail_when(int64_t ns, char *buf, size_t cap)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the value at *p into out (as long as the line), moving *p past
 * it; the value's start in out. */
static char *value(const char **p, char **out)
{
	const char *s = *p;
	char *start = *out, *o = *out;

	if (*s != '"') {
		while (*s && *s != ' ' && *s != '\n')
			*o++ = *s++;
	} else {
		for (s++; *s && *s != '"'; s++) {
			if (*s != '\\' || !s[1]) {
				*o++ = *s;
				continue;
			}
			s++;
			if (*s == 'n') {
				*o++ = '\n';
			} else if (*s == 'x' && hexval(s[1]) >= 0 &&
				   hexval(s[2]) >= 0) {
				*o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
				s += 2;
			} else {
				*o++ = *s;
			}
		}
		if (*s == '"')
			s++;
	}
	*o++ = '\0';
	*p = s;
	*out = o;
	return start;
}

static const char *text(const char *v)
{
	return v[0] ? v : NULL;
}

static void set_field(struct dfs_audit_event *ev, const char *key,
		      const char *v)
{
	if (strcmp(key, "ts") == 0)
		(void)parse_ts(v, &ev->ts);
	else if (strcmp(key, "seq") == 0)
		ev->seq = strtoll(v, NULL, 10);
	else if (strcmp(key, "actor") == 0)
		ev->actor = text(v);
	else if (strcmp(key, "uid") == 0)
		ev->uid = v[0] ? strtoll(v, NULL, 10) : -1;
	else if (strcmp(key, "pid") == 0)
		ev->pid = strtoll(v, NULL, 10);
	else if (strcmp(key, "cmd") == 0)
		ev->cmd = text(v);
	else if (strcmp(key, "action") == 0)
		ev->action = text(v);
	else if (strcmp(key, "env") == 0)
		ev->env = text(v);
	else if (strcmp(key, "component") == 0)
		ev->component = text(v);
	else if (strcmp(key, "version") == 0)
		ev->version = text(v);
	else if (strcmp(key, "from") == 0)
		ev->from = text(v);
	else if (strcmp(key, "deployment") == 0)
		ev->deployment = strtoll(v, NULL, 10);
	else if (strcmp(key, "result") == 0)
		ev->result = text(v);
	else if (strcmp(key, "reason") == 0)
		ev->reason = text(v);
}

/* One audit.log line into ev; its strings in out (LINE_CAP bytes).
 * -EINVAL when it is not a line of the trail. */
static int parse_line(const char *line, char *out, struct dfs_audit_event *ev)
{
	const char *p = line;

	memset(ev, 0, sizeof(*ev));
	ev->uid = -1;
	while (*p && *p != '\n') {
		char key[32];
		size_t n = strcspn(p, "= \n");

		if (p[n] != '=' || n == 0 || n >= sizeof(key))
			return -EINVAL;
		memcpy(key, p, n);
		key[n] = '\0';
		p += n + 1;
		set_field(ev, key, value(&p, &out));
		while (*p == ' ')
			p++;
	}
	return ev->seq > 0 && ev->action && ev->result ? 0 : -EINVAL;
}

static int each_via_mount(const char *mnt, dfs_audit_fn fn, void *ctx)
{
	char path[PATH_MAX], *line = malloc(LINE_CAP), *buf = malloc(LINE_CAP);
	struct dfs_audit_event ev;
	int rc = 0, stop = 0;
	FILE *f = NULL;

	snprintf(path, sizeof(path), "%s/audit.log", mnt);
	if (line && buf)
		f = fopen(path, "re");
	if (!line || !buf)
		rc = -ENOMEM;
	else if (!f)
		rc = -errno;
	while (rc == 0 && !stop && fgets(line, LINE_CAP, f)) {
		if (!strchr(line, '\n') && !feof(f)) {
			int c;

			/* longer than any line of the trail: not one */
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		if (parse_line(line, buf, &ev) == 0)
			stop = fn(ctx, &ev);
	}
	if (rc == 0 && ferror(f))
		rc = -EIO;
	if (f)
		fclose(f);
	free(line);
	free(buf);
	return rc;
}

int trail_each(struct trail *t, dfs_audit_fn fn, void *ctx)
{
	if (t->st)
		return dfs_audit_each(t->st, 0, fn, ctx);
	return each_via_mount(t->mnt, fn, ctx);
}

void trail_cmd_words(const char *cmd, char *prog, size_t pcap, char *arg1,
		     size_t acap)
{
	size_t n = cmd ? strcspn(cmd, " ") : 0;
	const char *slash, *rest;

	prog[0] = arg1[0] = '\0';
	if (!cmd)
		return;
	slash = memrchr(cmd, '/', n);
	if (slash) {
		n -= (size_t)(slash + 1 - cmd);
		cmd = slash + 1;
	}
	snprintf(prog, pcap, "%.*s", (int)n, cmd);
	rest = cmd + n;
	while (*rest == ' ')
		rest++;
	snprintf(arg1, acap, "%.*s", (int)strcspn(rest, " "), rest);
}

/* ---- deployctl log through the mount ------------------------------------- */

struct log_via {
	const char *env;
	const char *component;
	int64_t since;
	bool json; /* else as audit.log lines */
	char line[LINE_CAP];
};

static bool same(const char *want, const char *have)
{
	return !want || (have && strcmp(want, have) == 0);
}

static void json_event(struct jsonw *w, const struct dfs_audit_event *ev)
{
	char ts[48];
	time_t t = (time_t)(ev->ts / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(ts, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%09lldZ",
		 (long long)(ev->ts % 1000000000));
	/* the keys of dfs_audit_json_each() */
	jsonw_object_open(w);
	jsonw_kv_string(w, "ts", ts);
	jsonw_kv_int(w, "seq", ev->seq);
	jsonw_kv_string(w, "actor", ev->actor);
	jsonw_kv_int(w, "uid", ev->uid);
	jsonw_kv_int(w, "pid", ev->pid);
	jsonw_kv_string(w, "cmd", ev->cmd);
	jsonw_kv_string(w, "action", ev->action);
	jsonw_kv_string(w, "env", ev->env);
	jsonw_kv_string(w, "component", ev->component);
	jsonw_kv_string(w, "version", ev->version);
	jsonw_kv_string(w, "from", ev->from);
	jsonw_key(w, "deployment");
	if (ev->deployment)
		jsonw_int(w, ev->deployment);
	else
		jsonw_null(w);
	jsonw_kv_string(w, "result", ev->result);
	jsonw_kv_string(w, "reason", ev->reason);
	jsonw_object_close(w);
}

static int log_via_line(void *ctx, const struct dfs_audit_event *ev)
{
	struct log_via *l = ctx;

	if (ev->ts < l->since || !same(l->env, ev->env) ||
	    !same(l->component, ev->component))
		return 0;
	if (l->json) {
		struct jsonw w;

		/* one document a line, as the store's log --json */
		jsonw_begin(&w, stdout);
		json_event(&w, ev);
		return jsonw_end(&w) < 0;
	}
	(void)dfs_audit_format(ev, l->line, sizeof(l->line));
	return fputs(l->line, stdout) < 0;
}

int log_via_mount(const char *mnt, const char *env, const char *component,
		  int64_t since, bool json)
{
	struct log_via *l = calloc(1, sizeof(*l));
	int rc;

	if (!l) {
		fprintf(stderr, "deployctl: log: %s\n", strerror(ENOMEM));
		return EX_OSERR;
	}
	l->env = env;
	l->component = component;
	l->since = since;
	l->json = json;
	rc = each_via_mount(mnt, log_via_line, l);
	free(l);
	if (rc < 0) {
		fprintf(stderr, "deployctl: log: %s/audit.log: %s\n", mnt,
			strerror(-rc));
		return rc == -ENOENT ? EX_NOINPUT : EX_IOERR;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "deployctl: log: %s\n", strerror(errno));
		return EX_IOERR;
	}
	return 0;
}
