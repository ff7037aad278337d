/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for util.c: string vectors, decimal numbers, the string index,
 * the arena, read_fd_all() and escape_for_message(); and diag.c's
 * json_string().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "diag.h"
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

static void test_strv(void)
{
	char **v = xcalloc(3, sizeof(*v));
	_cleanup_(strv_freep) char **p = NULL;

	CHECK(!strv_contains(NULL, "a"));
	strv_free(NULL); /* nothing */
	v[0] = xstrdup("a");
	v[1] = xstrdup("bc");
	CHECK(strv_contains(v, "a") && strv_contains(v, "bc"));
	CHECK(!strv_contains(v, "b") && !strv_contains(v, ""));
	p = v; /* freed on the way out */
}

static void test_parse_decimal_ull(void)
{
	static const char *const bad[] = { "", "-1", "+1", " 1", "1 ", "1\n", "0x10", "1a",
					   "18446744073709551616", "000000000000000000001" };
	unsigned long long n = 7;

	CHECK(parse_decimal_ull("0", &n) == 0 && n == 0);
	CHECK(parse_decimal_ull("4711", &n) == 0 && n == 4711);
	CHECK(parse_decimal_ull("18446744073709551615", &n) == 0 && n == 18446744073709551615ULL);
	CHECK(parse_decimal_ull("00000000000000000001", &n) == 0 && n == 1); /* 20 digits */
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		n = 7;
		CHECK(parse_decimal_ull(bad[i], &n) == -EINVAL && n == 7);
	}
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

/* A file of n bytes 'a', read back whole with the limit max. */
static int read_n(size_t n, size_t max, size_t *len, char **buf)
{
	char path[] = "/tmp/apmatrix-test-util-XXXXXX";
	int fd = mkstemp(path), r;
	char *data = malloc(n + 1);

	memset(data, 'a', n);
	CHECK(fd >= 0 && write(fd, data, n) == (ssize_t)n && lseek(fd, 0, SEEK_SET) == 0);
	(void)unlink(path);
	*buf = NULL;
	r = read_fd_all(fd, max, false, buf, len);
	(void)close(fd);
	free(data);
	return r;
}

static void test_read_fd_all_limit(void)
{
	size_t len = 0;
	char *buf;

	/* exactly the limit, across several doublings of the buffer */
	CHECK(read_n(20000, 20000, &len, &buf) == 0 && len == 20000 && buf[19999] == 'a' && buf[20000] == '\0');
	free(buf);
	/* one byte more is too big, and nothing is returned */
	CHECK(read_n(20001, 20000, &len, &buf) == -EFBIG && !buf);
	/* a limit below the first buffer; an empty file */
	CHECK(read_n(100, 99, &len, &buf) == -EFBIG && !buf);
	CHECK(read_n(99, 99, &len, &buf) == 0 && len == 99);
	free(buf);
	CHECK(read_n(0, 99, &len, &buf) == 0 && len == 0 && buf[0] == '\0');
	free(buf);
	/* a limit that is a power of two, as the buffer's sizes are */
	CHECK(read_n(8192, 8192, &len, &buf) == 0 && len == 8192);
	free(buf);
	CHECK(read_n(8193, 8192, &len, &buf) == -EFBIG);
}

static void check_escaped(const char *in, const char *want)
{
	char *got = escape_for_message(in);

	CHECK_STREQ(got, want);
	free(got);
}

static void test_escape_for_message(void)
{
	check_escaped("", "");
	check_escaped("guest-1.a_b", "guest-1.a_b");
	/* C0 (newline, ESC, tab), DEL: byte by byte */
	check_escaped("a\nb\x1b[31mc", "a\\x0ab\\x1b[31mc");
	check_escaped("\t\x7f", "\\x09\\x7f");
	/* C1 in UTF-8 (U+009B, CSI) is two bytes escaped; other UTF-8 is kept */
	check_escaped("x\xc2\x9by", "x\\xc2\\x9by");
	check_escaped("caf\xc3\xa9 \xc2\xa0", "caf\xc3\xa9 \xc2\xa0");
	/* a lone 0xc2 at the end is not read past */
	check_escaped("x\xc2", "x\xc2");
}

/* json_string(s) as a malloc'd string */
static char *json_of(const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	json_string(f, s);
	fclose(f);
	return out;
}

static void check_json(const char *s, const char *want)
{
	char *got = json_of(s);

	CHECK_STREQ(got, want);
	free(got);
}

/* JSON is UTF-8: every byte that is not part of a UTF-8 character becomes U+FFFD, the rest stays */
static void test_json_string(void)
{
	check_json(NULL, "null");
	check_json("a\"b\\c\n\t\x01\x7f", "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\"");
	/* whole characters of 2, 3 and 4 bytes, the highest code point */
	check_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"");
	/* Latin-1, a stray trailing byte, a cut sequence at the end and before ASCII */
	check_json("bad\xffname", "\"bad\\ufffdname\"");
	check_json("\x80x", "\"\\ufffdx\"");
	check_json("x\xe2\x82", "\"x\\ufffd\\ufffd\"");
	check_json("\xe2\x82x", "\"\\ufffd\\ufffdx\"");
	/* overlong forms, a surrogate, beyond U+10FFFF, the bytes never used */
	check_json("\xc0\x80", "\"\\ufffd\\ufffd\"");
	check_json("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
	check_json("\xf0\x8f\xbf\xbf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	check_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	check_json("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	check_json("\xfe\xf5", "\"\\ufffd\\ufffd\"");
}

int main(void)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_strv),
		TAP_TEST(test_parse_decimal_ull),
		TAP_TEST(test_str_index),
		TAP_TEST(test_arena),
		TAP_TEST(test_read_fd_all_limit),
		TAP_TEST(test_escape_for_message),
		TAP_TEST(test_json_string),
	};

	return tap_run(tests, ARRAY_SIZE(tests));
}
