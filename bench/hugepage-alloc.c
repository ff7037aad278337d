/* SPDX-License-Identifier: MIT */
/*
 * hugepage-alloc.so: a malloc for LD_PRELOAD that makes memory nearly free
 * to touch, so that the compile benchmark (bench/RESULTS.md, scenario 4)
 * can tell what apmatrix costs from what this machine charges for memory.
 *
 * On a virtual machine the first touch of each 4 KiB page is a page fault
 * that can cost as much as parsing a kilobyte of YAML, so a program that
 * keeps what it reads (apmatrix keeps every compiled guest) pays for its
 * memory twice.  Here every allocation comes from one region advised for
 * transparent huge pages (MADV_HUGEPAGE): one fault maps 2 MiB.  Nothing is
 * ever given back (free() does nothing), so both programs compared under it
 * also lose the work of freeing.  A measuring tool, not an allocator to
 * ship: single-threaded, no reuse, 1 GiB of address space at most.
 *
 * Where the kernel gives no huge pages (transparent_hugepage "never"), the
 * region is touched page by page as usual and the figures show no gain.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define REGION (1UL << 30)
#define HUGE (2UL << 20)
#define ALIGN 16UL

struct header {
	size_t size; /* usable bytes */
	size_t pad;  /* keeps the block ALIGN-aligned */
};

static char *next, *end;

static void die(const char *msg)
{
	ssize_t r = write(STDERR_FILENO, msg, strlen(msg));

	(void)r;
	_exit(127);
}

static void *take(size_t size, size_t align)
{
	struct header *h;
	uintptr_t p;

	if (!next) {
		char *m = mmap(NULL, REGION + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (m == MAP_FAILED)
			die("hugepage-alloc: cannot map the region\n");
		next = (char *)(((uintptr_t)m + HUGE - 1) & ~(HUGE - 1));
		end = next + REGION;
		(void)madvise(next, REGION, MADV_HUGEPAGE);
	}
	if (align < ALIGN)
		align = ALIGN;
	if (size > REGION)
		return NULL;
	size = (size + ALIGN - 1) & ~(ALIGN - 1);
	p = ((uintptr_t)next + sizeof(*h) + align - 1) & ~(align - 1);
	if (p + size > (uintptr_t)end)
		die("hugepage-alloc: region exhausted\n");
	h = (struct header *)p - 1;
	h->size = size;
	next = (char *)(p + size);
	return (void *)p;
}

void *malloc(size_t n)
{
	void *p = take(n, ALIGN);

	if (!p)
		errno = ENOMEM;
	return p;
}

void free(void *p)
{
	(void)p;
}

void *calloc(size_t a, size_t b)
{
	size_t n;

	if (__builtin_mul_overflow(a, b, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(n); /* never used before: zero */
}

void *realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (!p)
		return malloc(n);
	old = ((struct header *)p - 1)->size;
	if (n <= old)
		return p;
	q = malloc(n);
	if (q)
		memcpy(q, p, old);
	return q;
}

void *reallocarray(void *p, size_t a, size_t b)
{
	size_t n;

	if (__builtin_mul_overflow(a, b, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n);
}

int posix_memalign(void **ret, size_t align, size_t n)
{
	void *p = take(n, align);

	if (!p)
		return ENOMEM;
	*ret = p;
	return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
	return take(n, align);
}

void *memalign(size_t align, size_t n)
{
	return take(n, align);
}

size_t malloc_usable_size(void *p)
{
	return p ? ((struct header *)p - 1)->size : 0;
}
