// SPDX-License-Identifier: MIT
/*
 * log.c - the logger: one line per message on stderr, with a level
 * prefix.  The only mutable global besides the I/O seam's test switch.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "deployfs/log.h"

static enum dfs_log_level max_level = DFS_LOG_INFO;

void dfs_log_set_level(enum dfs_log_level max)
{
	max_level = max;
}

void dfs_log(enum dfs_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {
		[DFS_LOG_ERR] = "error",
		[DFS_LOG_WARN] = "warning",
		[DFS_LOG_INFO] = "info",
		[DFS_LOG_DEBUG] = "debug",
	};
	char line[1024];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "deployfs: %s: %s\n",
		level <= DFS_LOG_DEBUG && names[level] ? names[level] : "log",
		line);
}
