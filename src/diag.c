/* SPDX-License-Identifier: MIT */
/* diag.c: diagnostics with source marks, as text and JSON. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

static const char *const severity_table[_DIAG_SEVERITY_MAX] = {
	[DIAG_ERROR] = "error",
	[DIAG_WARNING] = "warning",
	[DIAG_NOTE] = "note",
};

const char *diag_severity_to_string(enum diag_severity s)
{
	return s < _DIAG_SEVERITY_MAX ? severity_table[s] : NULL;
}

const char *diag_intern_file(struct diag_list *l, const char *path)
{
	for (size_t i = 0; i < l->n_files; i++)
		if (streq(l->files[i], path))
			return l->files[i];
	l->files = xgrow(l->files, &l->cap_files, l->n_files + 1, sizeof(*l->files));
	l->files[l->n_files] = xstrdup(path);
	return l->files[l->n_files++];
}

void diag_addv(struct diag_list *l, enum diag_severity sev, const struct mark *m, const char *guest,
	       const char *fmt, va_list ap)
{
	struct diag *d;

	l->items = xgrow(l->items, &l->cap, l->n + 1, sizeof(*l->items));
	d = &l->items[l->n++];
	*d = (struct diag){ .severity = sev };
	if (m)
		d->mark = *m;
	d->guest = guest ? xstrdup(guest) : NULL;
	if (vasprintf(&d->message, fmt, ap) < 0)
		d->message = xstrdup("(out of memory)");
}

void diag_add(struct diag_list *l, enum diag_severity sev, const struct mark *m, const char *guest,
	      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_addv(l, sev, m, guest, fmt, ap);
	va_end(ap);
}

void diag_add_file(struct diag_list *l, enum diag_severity sev, const char *path, const char *guest,
		   const char *fmt, ...)
{
	struct mark m = { .file = diag_intern_file(l, path) };
	va_list ap;

	va_start(ap, fmt);
	diag_addv(l, sev, &m, guest, fmt, ap);
	va_end(ap);
}

void diag_move(struct diag_list *to, struct diag_list *from)
{
	if (from->n) {
		to->items = xgrow(to->items, &to->cap, to->n + from->n, sizeof(*to->items));
		memcpy(to->items + to->n, from->items, from->n * sizeof(*from->items));
		to->n += from->n;
		from->n = 0; /* the strings moved with the items */
	}
	diag_list_done(from);
}

void diag_drop_severity(struct diag_list *l, enum diag_severity sev)
{
	size_t k = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (l->items[i].severity == sev) {
			free(l->items[i].guest);
			free(l->items[i].message);
			continue;
		}
		l->items[k++] = l->items[i];
	}
	l->n = k;
}

size_t diag_count(const struct diag_list *l, enum diag_severity sev)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += l->items[i].severity == sev;
	return n;
}

static size_t file_rank(const struct diag_list *l, const char *f)
{
	if (!f)
		return SIZE_MAX;
	for (size_t i = 0; i < l->n_files; i++)
		if (l->files[i] == f)
			return i;
	return SIZE_MAX - 1;
}

struct diag_key {
	size_t rank, index;
	struct diag d;
};

static int diag_key_cmp(const void *pa, const void *pb)
{
	const struct diag_key *a = pa, *b = pb;

	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	if (a->d.mark.line != b->d.mark.line)
		return a->d.mark.line < b->d.mark.line ? -1 : 1;
	if (a->d.mark.col != b->d.mark.col)
		return a->d.mark.col < b->d.mark.col ? -1 : 1;
	return a->index < b->index ? -1 : a->index > b->index; /* stable */
}

void diag_sort(struct diag_list *l)
{
	struct diag_key *k;

	if (l->n < 2)
		return;
	k = xcalloc(l->n, sizeof(*k));
	for (size_t i = 0; i < l->n; i++)
		k[i] = (struct diag_key){ file_rank(l, l->items[i].mark.file), i, l->items[i] };
	qsort(k, l->n, sizeof(*k), diag_key_cmp);
	for (size_t i = 0; i < l->n; i++)
		l->items[i] = k[i].d;
	free(k);
}

/* "FILE:LINE:COL: ", "FILE: " for the whole file, NULL without a file; malloc'd. */
static char *mark_format(const struct mark *m)
{
	_cleanup_free_ char *file = NULL;

	if (!m->file)
		return NULL;
	file = escape_for_message(m->file); /* a file name may hold a newline: one message, one line */
	if (!m->line)
		return xasprintf("%s: ", file);
	return xasprintf("%s:%u:%u: ", file, m->line, m->col);
}

char *diag_format(const struct diag *d)
{
	_cleanup_free_ char *loc = mark_format(&d->mark);

	return xasprintf("%s%s%s%s", loc ? loc : "", d->severity != DIAG_ERROR ? diag_severity_to_string(d->severity) : "",
			 d->severity != DIAG_ERROR ? ": " : "", d->message);
}

void diag_print_text(const struct diag_list *l, FILE *f, const char *prog)
{
	for (size_t i = 0; i < l->n; i++) {
		_cleanup_free_ char *s = diag_format(&l->items[i]);

		fprintf(f, "%s: %s\n", prog, s);
	}
}

/*
 * s as a JSON string, which is UTF-8 (RFC 8259): a byte that is not part
 * of a UTF-8 character (a file name in Latin-1, say) is written as U+FFFD.
 */
void json_string(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				fprintf(f, "\\u%04x", *p);
			} else if (*p < 0x80) {
				fputc(*p, f);
			} else {
				size_t n = utf8_char_len(p, 4); /* s ends in a NUL */

				if (!n) {
					fputs("\\ufffd", f);
					break;
				}
				fwrite(p, 1, n, f);
				p += n - 1;
			}
		}
	}
	fputc('"', f);
}

void diag_print_json_item(const struct diag *d, FILE *f)
{
	fprintf(f, "{\"severity\":\"%s\",\"file\":", diag_severity_to_string(d->severity));
	if (d->mark.file && d->mark.line) {
		json_string(f, d->mark.file);
		fprintf(f, ",\"line\":%u,\"column\":%u", d->mark.line, d->mark.col);
	} else if (d->mark.file) { /* the whole file */
		json_string(f, d->mark.file);
		fputs(",\"line\":null,\"column\":null", f);
	} else
		fputs("null,\"line\":null,\"column\":null", f);
	fputs(",\"guest\":", f);
	json_string(f, d->guest);
	fputs(",\"message\":", f);
	json_string(f, d->message);
	fputc('}', f);
}

void diag_print_json(const struct diag_list *l, FILE *f)
{
	fputc('[', f);
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			fputc(',', f);
		diag_print_json_item(&l->items[i], f);
	}
	fputc(']', f);
}

void diag_list_done(struct diag_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].guest);
		free(l->items[i].message);
	}
	free(l->items);
	for (size_t i = 0; i < l->n_files; i++)
		free(l->files[i]);
	free(l->files);
	*l = (struct diag_list){ 0 };
}
