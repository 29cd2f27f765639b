/* SPDX-License-Identifier: MIT */
/*
 * log.h - the one logger of deployfs (stderr, or syslog-style when
 * daemonised).  Library code in store/ does not log errors it returns; the
 * caller that decides what to do logs once.
 */
#ifndef DEPLOYFS_LOG_H
#define DEPLOYFS_LOG_H

enum dfs_log_level {
	DFS_LOG_ERR = 3,
	DFS_LOG_WARN = 4,
	DFS_LOG_INFO = 6,
	DFS_LOG_DEBUG = 7,
};

void dfs_log_set_level(enum dfs_log_level max);
void dfs_log(enum dfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
