/* SPDX-License-Identifier: MIT */
/* util.c: allocation helpers that never return NULL, and hex digits. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

static void oom(void)
{
	fputs("apmatrix: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	return s;
}

void *xgrow_raw(void *items, size_t *cap, size_t need, size_t sz)
{
	size_t n;

	if (need <= *cap)
		return items;
	n = *cap ? *cap * 2 : 8;
	while (n < need)
		n *= 2;
	items = xrealloc(items, n * sz);
	*cap = n;
	return items;
}

void *xgrow(void *items, size_t *cap, size_t need, size_t sz)
{
	size_t old = *cap;

	items = xgrow_raw(items, cap, need, sz);
	if (*cap > old)
		memset((char *)items + old * sz, 0, (*cap - old) * sz);
	return items;
}

int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int parse_hex_digits(const char *s, size_t n, unsigned max, unsigned *ret)
{
	unsigned v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int d = hex_value(s[i]);

		if (d < 0)
			return -EINVAL;
		v = v * 16 + (unsigned)d;
		if (v > max)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}
