/* SPDX-License-Identifier: MIT */
/*
 * macro.h: small helpers shared by every module: cleanup attributes,
 * TAKE_PTR, ARRAY_SIZE, printf-format checking.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _pure_ __attribute__((pure))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd); /* read-only or already-checked descriptors */
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
	if (*f)
		(void)fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand the pointer over to someone else and leave NULL behind. */
#define TAKE_PTR(p)                          \
	({                                   \
		__typeof__(p) _tp_ = (p);    \
		(p) = NULL;                  \
		_tp_;                        \
	})

#define streq(a, b) (strcmp((a), (b)) == 0)

/* Abort on out-of-memory: there is nothing sensible a CLI can do. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
/* Grow *items so that it holds at least need elements of size sz. */
void *xgrow(void *items, size_t *cap, size_t need, size_t sz);
/* The value of one hex digit, or -1. */
int hex_value(char c);
/* Exactly n hex digits at s (no prefix), at most max, into *ret; -EINVAL otherwise. */
int parse_hex_digits(const char *s, size_t n, unsigned max, unsigned *ret);
/* xgrow() without zeroing the new slots: for arrays whose elements are assigned whole. */
void *xgrow_raw(void *items, size_t *cap, size_t need, size_t sz);
