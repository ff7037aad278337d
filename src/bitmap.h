/* SPDX-License-Identifier: MIT */
/*
 * bitmap.h: 256-bit sets, one bit per adapter or domain number (0..255).
 *
 * Internally bit n lives in w[n / 64] at position n % 64.  The kernel's text
 * form (apmask, aqmask, ap_config) numbers bits from the most significant bit
 * of the leftmost hex digit; bitmap_to_kernel()/bitmap_from_kernel() convert.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BITMAP_BITS 256
/* "0x" + 64 hex digits + NUL */
#define BITMAP_KERNEL_LEN 67

struct bitmap256 {
	uint64_t w[4];
};

static inline void bitmap_set(struct bitmap256 *b, unsigned n)
{
	b->w[(n >> 6) & 3] |= 1ULL << (n & 63);
}

static inline void bitmap_clear(struct bitmap256 *b, unsigned n)
{
	b->w[(n >> 6) & 3] &= ~(1ULL << (n & 63));
}

static inline bool bitmap_test(const struct bitmap256 *b, unsigned n)
{
	return n < BITMAP_BITS && (b->w[n >> 6] >> (n & 63)) & 1;
}

static inline void bitmap_set_range(struct bitmap256 *b, unsigned lo, unsigned hi)
{
	for (unsigned n = lo; n <= hi && n < BITMAP_BITS; n++)
		bitmap_set(b, n);
}

static inline struct bitmap256 bitmap_and(const struct bitmap256 *a, const struct bitmap256 *b)
{
	struct bitmap256 r;
	for (int i = 0; i < 4; i++)
		r.w[i] = a->w[i] & b->w[i];
	return r;
}

static inline struct bitmap256 bitmap_or(const struct bitmap256 *a, const struct bitmap256 *b)
{
	struct bitmap256 r;
	for (int i = 0; i < 4; i++)
		r.w[i] = a->w[i] | b->w[i];
	return r;
}

/* a & ~b */
static inline struct bitmap256 bitmap_andnot(const struct bitmap256 *a, const struct bitmap256 *b)
{
	struct bitmap256 r;
	for (int i = 0; i < 4; i++)
		r.w[i] = a->w[i] & ~b->w[i];
	return r;
}

static inline bool bitmap_empty(const struct bitmap256 *b)
{
	return !(b->w[0] | b->w[1] | b->w[2] | b->w[3]);
}

static inline bool bitmap_equal(const struct bitmap256 *a, const struct bitmap256 *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] && a->w[3] == b->w[3];
}

static inline bool bitmap_intersects(const struct bitmap256 *a, const struct bitmap256 *b)
{
	return (a->w[0] & b->w[0]) | (a->w[1] & b->w[1]) | (a->w[2] & b->w[2]) | (a->w[3] & b->w[3]);
}

static inline unsigned bitmap_count(const struct bitmap256 *b)
{
	return (unsigned)(__builtin_popcountll(b->w[0]) + __builtin_popcountll(b->w[1]) +
			  __builtin_popcountll(b->w[2]) + __builtin_popcountll(b->w[3]));
}

static inline struct bitmap256 bitmap_full(void)
{
	struct bitmap256 r = { { ~0ULL, ~0ULL, ~0ULL, ~0ULL } };
	return r;
}

/* Bits 0..max set. */
static inline struct bitmap256 bitmap_upto(unsigned max)
{
	struct bitmap256 r = { { 0 } };
	bitmap_set_range(&r, 0, max);
	return r;
}

/* Smallest set bit >= from, or -1. */
static inline int bitmap_next(const struct bitmap256 *b, int from)
{
	if (from < 0)
		from = 0;
	for (int i = from >> 6; i < 4; i++) {
		uint64_t w = b->w[i];

		if (i == from >> 6)
			w &= ~0ULL << (from & 63);
		if (w)
			return i * 64 + __builtin_ctzll(w);
	}
	return -1;
}

#define BITMAP_FOREACH(n, b) for (int n = bitmap_next((b), 0); n >= 0; n = bitmap_next((b), n + 1))

/* Kernel text form: "0x" + 64 lowercase hex digits, bit 0 = MSB of first digit. */
void bitmap_to_kernel(const struct bitmap256 *b, char out[BITMAP_KERNEL_LEN]);
/*
 * Parse like the kernel's ap_hex2bitmap(): optional "0x" or "x" prefix, up to
 * 64 hex digits, optional single trailing newline, empty string = all zero.
 * Returns 0 or -EINVAL.
 */
int bitmap_from_kernel(const char *s, struct bitmap256 *ret);

/*
 * Human form with ranges, numbers as 0x%02x: "0x05-0x07,0x0a".  "-" when empty.
 * Returns a malloc'd string.
 */
char *bitmap_format_ranges(const struct bitmap256 *b, int width);

/*
 * The kernel's relative mask list, each number with sign: "-0x04,-0xab" or
 * "+0x05" (kernel-abi.md §2).  "" when empty.  Returns a malloc'd string.
 */
char *bitmap_format_relative(const struct bitmap256 *b, char sign);
