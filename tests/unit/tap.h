/* SPDX-License-Identifier: MIT */
/*
 * tap.h: a tiny TAP harness for the C unit tests.  Each test is a function;
 * CHECK() records a failure with file:line and keeps going.  The runner prints
 * one "ok N - name" / "not ok N - name" line per test.
 */
#pragma once

#include <stdio.h>
#include <string.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

static int tap_failed_;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			tap_failed_ = 1;                                              \
		}                                                                     \
	} while (0)

#define CHECK_STREQ(a, b)                                                                          \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
			printf("#   %s:%d: '%s' != '%s'\n", __FILE__, __LINE__, a_ ? a_ : "(null)", \
			       b_ ? b_ : "(null)");                                                \
			tap_failed_ = 1;                                                           \
		}                                                                                  \
	} while (0)

struct tap_test {
	const char *name;
	void (*fn)(void);
};

#define TAP_TEST(fn) { #fn, fn }

static inline int tap_run(const struct tap_test *tests, size_t n)
{
	int bad = 0;

	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		tap_failed_ = 0;
		tests[i].fn();
		printf("%sok %zu - %s\n", tap_failed_ ? "not " : "", i + 1, tests[i].name);
		fflush(stdout);
		bad |= tap_failed_;
	}
	return bad;
}
