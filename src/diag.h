/* SPDX-License-Identifier: MIT */
/*
 * diag.h: source marks and the list of diagnostics that config, compile,
 * live and apply append to.  Only main.c prints them (STYLE R2).
 *
 * Text form, one line per diagnostic (DESIGN §3, STYLE R13):
 *   apmatrix: FILE:LINE:COL: message
 *   apmatrix: FILE:LINE:COL: warning: message
 *   apmatrix: FILE: warning: message               (the whole file: line 0)
 *   apmatrix: guest1: APQN 05.0047: message        (no source mark)
 * A message never repeats the file its mark names.
 * The guest name is part of the message text; diag.guest only feeds JSON.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "macro.h"

/*
 * 1-based line and column; file points into the diag_list's file table.
 * line == 0 (and col == 0): the file as a whole, e.g. one that is not read.
 */
struct mark {
	const char *file;
	unsigned line;
	unsigned col;
};

enum diag_severity {
	DIAG_ERROR,
	DIAG_WARNING,
	DIAG_NOTE,
	_DIAG_SEVERITY_MAX,
};

struct diag {
	enum diag_severity severity;
	struct mark mark; /* file == NULL when there is no source position; line == 0: the whole file */
	char *guest;      /* may be NULL */
	char *message;
};

struct diag_list {
	struct diag *items;
	size_t n, cap;
	char **files; /* interned file names, owned here, live as long as the list */
	size_t n_files, cap_files;
};

/* Return a stable copy of path owned by the list (same pointer for equal names). */
const char *diag_intern_file(struct diag_list *l, const char *path);

void diag_add(struct diag_list *l, enum diag_severity sev, const struct mark *m, const char *guest,
	      const char *fmt, ...) _printf_(5, 6);
/* A diagnostic about the file (or directory) path as a whole: no line, no column. */
void diag_add_file(struct diag_list *l, enum diag_severity sev, const char *path, const char *guest,
		   const char *fmt, ...) _printf_(5, 6);
void diag_addv(struct diag_list *l, enum diag_severity sev, const struct mark *m, const char *guest,
	       const char *fmt, va_list ap) _printf_(5, 0);

size_t diag_count(const struct diag_list *l, enum diag_severity sev);

/* Append from's diagnostics to to's, in order; from is left empty.  Marks must name files interned in to. */
void diag_move(struct diag_list *to, struct diag_list *from);

/* Remove every diagnostic of severity sev from l, keeping the order of the rest. */
void diag_drop_severity(struct diag_list *l, enum diag_severity sev);

/* Sort by file (in order of interning), line (the whole file first), column; stable otherwise. */
void diag_sort(struct diag_list *l);

/* "FILE:LINE:COL: [warning: ]message" ("FILE: ..." for the whole file) without the program name; malloc'd. */
char *diag_format(const struct diag *d);

void diag_print_text(const struct diag_list *l, FILE *f, const char *prog);
/* A JSON array of {severity, file, line, column, guest, message}; line and column null for the whole file. */
void diag_print_json(const struct diag_list *l, FILE *f);
/* One element of that array. */
void diag_print_json_item(const struct diag *d, FILE *f);

const char *diag_severity_to_string(enum diag_severity s);

void diag_list_done(struct diag_list *l);

/* Write s as a JSON string literal (with quotes), or null when s is NULL. Shared by every JSON writer. */
void json_string(FILE *f, const char *s);
