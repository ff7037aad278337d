/* SPDX-License-Identifier: MIT */
/*
 * log.h: the only way main.c and apply's callback talk to the user on
 * stderr.  One event per line, "apmatrix: " prefix; when stderr is the
 * journal ($JOURNAL_STREAM names stderr's device:inode), each line starts
 * with a syslog priority prefix "<3>" so journald files it at the right
 * level (STYLE R32).  Debug lines are switched on by -v or a non-empty
 * APMATRIX_DEBUG (main.c).
 */
#pragma once

#include <stdbool.h>

#include "macro.h"

enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* max: messages above this level are dropped. */
void log_setup(enum log_level max);
void log_set_max_level(enum log_level max);
enum log_level log_get_max_level(void);
bool log_to_journal(void);

void log_msg(enum log_level level, const char *fmt, ...) _printf_(2, 3);
/* Print text as it is (no "warning: " word), with prefix and journal priority. */
void log_line(enum log_level level, const char *text);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
