/* SPDX-License-Identifier: MIT */
/* Unit tests for util.c: the string index and the arena. */
#include <stdlib.h>

#include "macro.h"
#include "tap.h"

static const char *key_of(const void *items, size_t k)
{
	return ((char *const *)items)[k];
}

static void test_str_index(void)
{
	enum { N = 5000 };
	static char *keys[N];
	struct str_index x = { 0 };

	CHECK(str_index_find(&x, "k0", key_of, keys) == -1); /* empty: no table at all */
	for (size_t i = 0; i < N; i++) {
		keys[i] = xasprintf("k%zu", i);
		str_index_add(&x, i, key_of, keys);
		/* every key so far is found, through every doubling of the table */
		if (i == 15 || i == 16 || i == 1000 || i == N - 1)
			for (size_t k = 0; k <= i; k++)
				CHECK(str_index_find(&x, keys[k], key_of, keys) == (long)k);
		CHECK(2 * (i + 1) <= x.cap && (x.cap & (x.cap - 1)) == 0);
	}
	CHECK(str_index_find(&x, "k5000", key_of, keys) == -1);
	CHECK(str_index_find(&x, "", key_of, keys) == -1);
	CHECK(str_index_find(&x, "k", key_of, keys) == -1);
	str_index_done(&x);
	CHECK(x.cap == 0 && !x.slots);
	CHECK(str_index_find(&x, "k1", key_of, keys) == -1);
	for (size_t i = 0; i < N; i++)
		free(keys[i]);
}

static void test_arena(void)
{
	struct arena a = { 0 }, b = { 0 };
	char *s[300];

	/* many strings across several chunks keep their bytes, 8-byte aligned */
	for (size_t i = 0; i < 300; i++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "string %zu %0*d", i, (int)(i % 40), 0);
		s[i] = arena_strdup(&a, buf);
		CHECK(((unsigned long)s[i] & 7) == 0);
	}
	for (size_t i = 0; i < 300; i++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "string %zu %0*d", i, (int)(i % 40), 0);
		CHECK_STREQ(s[i], buf);
	}
	/* one allocation larger than any chunk so far */
	char *big = arena_alloc(&b, 100000);
	memset(big, 'x', 100000);
	arena_move(&a, &b);
	CHECK(!b.chunks && b.left == 0);
	CHECK(big[99999] == 'x');
	CHECK_STREQ(s[0], "string 0 0"); /* the move leaves a's own chunks as they were */
	CHECK_STREQ(s[299], "string 299 0000000000000000000");
	arena_free(&a);
	CHECK(!a.chunks);
}

int main(void)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_str_index),
		TAP_TEST(test_arena),
	};

	return tap_run(tests, ARRAY_SIZE(tests));
}
