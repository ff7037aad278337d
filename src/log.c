/* SPDX-License-Identifier: MIT */
/* log.c: stderr logging; to the journal with priority prefixes and without the program's name. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "macro.h"

static enum log_level max_level = LOG_LEVEL_NOTICE;
static int journal = -1;

static bool detect_journal(void)
{
	const char *e = secure_getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(enum log_level max)
{
	max_level = max;
	journal = detect_journal();
}

void log_set_max_level(enum log_level max)
{
	max_level = max;
}

enum log_level log_get_max_level(void)
{
	return max_level;
}

bool log_to_journal(void)
{
	if (journal < 0)
		journal = detect_journal();
	return journal;
}

/*
 * The journal: a priority prefix, and no program name (the journal names
 * the program, "apmatrix[PID]:", and a second "apmatrix:" would follow it).
 */
static void start_line(enum log_level level)
{
	if (log_to_journal())
		fprintf(stderr, "<%d>", (int)level);
	else
		fputs("apmatrix: ", stderr);
}

/*
 * text and a newline: a control character in it (a path or a value that
 * holds a newline, an escape sequence) as \xNN, so that one message is
 * one line, in a terminal and in the journal (which would start a line
 * without a priority at a newline).
 */
static void put_line(const char *text)
{
	char *shown = escape_for_message(text); /* text itself copied when it has none */

	fprintf(stderr, "%s\n", shown); /* one write: stderr is unbuffered */
	free(shown);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	char *text;
	int r;

	if (level > max_level)
		return;
	start_line(level);
	if (level == LOG_LEVEL_WARNING)
		fputs("warning: ", stderr);
	va_start(ap, fmt);
	r = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (r < 0) {
		fputs("(out of memory)\n", stderr);
		return;
	}
	put_line(text);
	free(text);
}

void log_line(enum log_level level, const char *text)
{
	if (level > max_level)
		return;
	start_line(level);
	put_line(text);
}
