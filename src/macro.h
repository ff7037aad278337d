/* SPDX-License-Identifier: MIT */
/*
 * macro.h: small helpers shared by every module: cleanup attributes,
 * TAKE_PTR, ARRAY_SIZE, printf-format checking.
 */
#pragma once

#include <stdbool.h>
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
/*
 * A string vector: NULL-terminated, each string and the array its owner's.
 * strv_free(NULL) does nothing; strv_freep is its cleanup form.
 */
void strv_free(char **v);
void strv_freep(char ***p);
/* Sort v's first n strings in byte order (strcmp), not the locale's: no order may depend on LANG. */
void strv_sort(char **v, size_t n);
/* Whether s is one of v's strings (v may be NULL). */
bool strv_contains(char *const *v, const char *s);
/* FNV-1a of a string, for str_index (a power-of-two table). */
size_t str_hash(const char *s);

/*
 * A hash index over strings that an array owned by someone else holds:
 * element k's key is key_of(items, k).  Open addressing, linear probing;
 * each slot holds an element number + 1 (0 = empty), and the table doubles
 * and is rebuilt when it would be more than half full.  A zeroed struct
 * str_index is empty and ready.  The config's guest names, the keys of one
 * YAML mapping and apply's messages said once all use it, so that 10,000
 * guests are not a quadratic scan.
 */
typedef const char *(*str_index_key_fn)(const void *items, size_t k);
struct str_index {
	unsigned *slots;
	size_t cap; /* 0, or a power of two, at least twice the elements indexed */
};
/* The element whose key is key, or -1. */
long str_index_find(const struct str_index *x, const char *key, str_index_key_fn key_of, const void *items);
/* Index element n, the newest: elements 0..n-1 are indexed already (n < UINT_MAX). */
void str_index_add(struct str_index *x, size_t n, str_index_key_fn key_of, const void *items);
void str_index_done(struct str_index *x);
/* The value of one hex digit, or -1. */
/* Levenshtein distance between a and b, for "did you mean". */
size_t edit_distance(const char *a, const char *b);
int hex_value(char c);
/* Exactly n hex digits at s (no prefix), at most max, into *ret; -EINVAL otherwise. */
int parse_hex_digits(const char *s, size_t n, unsigned max, unsigned *ret);
/*
 * A decimal number as the kernel prints one (a uevent number): 1 to 20
 * digits and nothing else (no sign, no space, no newline), at most
 * ULLONG_MAX, into *ret; -EINVAL otherwise.
 */
int parse_decimal_ull(const char *s, unsigned long long *ret);
/* xgrow() without zeroing the new slots: for arrays whose elements are assigned whole. */
void *xgrow_raw(void *items, size_t *cap, size_t need, size_t sz);
/*
 * Read fd to its end into a new NUL-terminated buffer (*ret, length in
 * *ret_len when not NULL).  -EFBIG when it holds more than max bytes.
 * short_read_ends: a read that returns less than asked for is the end (a
 * sysfs attribute comes whole in its first read).  Returns 0 or -errno.
 */
int read_fd_all(int fd, size_t max, bool short_read_ends, char **ret, size_t *ret_len);

/*
 * A name that someone else chose (a guest's, a UUID as written, a process's
 * comm) as it may appear in a message or a `show` line: control characters
 * (C0, DEL, C1 in UTF-8) escaped byte by byte ("\x0a"), so that one message
 * is one line and no escape sequence reaches a terminal.  A new string.
 */
char *escape_for_message(const char *s);
/*
 * The length (1-4) of the UTF-8 character at p, of which avail bytes may be
 * read, or 0 where p holds no whole one: a stray or missing trailing byte,
 * an overlong form, a surrogate or a code point above U+10FFFF (RFC 3629).
 * In a NUL-terminated string avail may be 4: the NUL is no trailing byte,
 * so nothing after it is read.
 */
size_t utf8_char_len(const unsigned char *p, size_t avail);
/*
 * Why path, a symbolic link, leads to no file apmatrix can use, r being the
 * error of following it: "it is a dangling symbolic link (to 'X', which does
 * not exist)" (-ENOENT; for a chain of links "(to 'X', a chain of links
 * ending at 'Z', which does not exist)", Z the missing path at its end),
 * "... in a loop of links (to 'X', which links back to 'P')" (-ELOOP; the
 * link that closes the loop named, or "... into a loop" when path is not in
 * it; a loop in a directory part of a target is told the same way, from the
 * link there), "... to a directory" (-EISDIR), else "cannot follow the
 * symbolic link (to 'X'): strerror".  X is the link's text, escaped; the
 * paths of the chain have "." and ".." resolved where a directory that is no
 * link comes before them.  NULL when path is no symbolic link.  A new string.
 */
char *symlink_problem(const char *path, int r);
/* A control character at c: C0, DEL, or C1 (U+0080-U+009F, UTF-8 0xc2 0x80-0x9f); its length in bytes, or 0. */
size_t control_char_at(const unsigned char *c);

/*
 * An arena: many small allocations that all live until arena_free(), made
 * from a few large chunks (no per-allocation header or free).  The config
 * keeps its names, UUIDs and number lists in one; compile takes it over.
 * A zeroed struct arena is empty and ready.
 */
struct arena_chunk;
struct arena {
	struct arena_chunk *chunks; /* newest first */
	char *next;                 /* free space in the newest chunk */
	size_t left;
	size_t chunk_size; /* of the next chunk; doubles up to a limit */
};
/* n bytes, 8-byte aligned (not for long double or vector types); never NULL. */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
/* Append from's chunks to to's (to keeps allocating from its own newest chunk); from is left empty. */
void arena_move(struct arena *to, struct arena *from);
void arena_free(struct arena *a);
