/* SPDX-License-Identifier: MIT */
/* Unit tests for bitmap.h/.c and matrix.h/.c. */
#include <errno.h>
#include <stdlib.h>

#include "bitmap.h"
#include "matrix.h"
#include "tap.h"

static void test_set_test_count(void)
{
	struct bitmap256 b = { { 0 } };

	CHECK(bitmap_empty(&b));
	bitmap_set(&b, 0);
	bitmap_set(&b, 63);
	bitmap_set(&b, 64);
	bitmap_set(&b, 255);
	CHECK(bitmap_test(&b, 0) && bitmap_test(&b, 63) && bitmap_test(&b, 64) && bitmap_test(&b, 255));
	CHECK(!bitmap_test(&b, 1) && !bitmap_test(&b, 256));
	CHECK(bitmap_count(&b) == 4);
	bitmap_clear(&b, 63);
	CHECK(!bitmap_test(&b, 63) && bitmap_count(&b) == 3);
}

static void test_next_and_foreach(void)
{
	struct bitmap256 b = { { 0 } };
	int seen[4], n = 0;

	bitmap_set(&b, 5);
	bitmap_set(&b, 64);
	bitmap_set(&b, 200);
	CHECK(bitmap_next(&b, 0) == 5);
	CHECK(bitmap_next(&b, 6) == 64);
	CHECK(bitmap_next(&b, 65) == 200);
	CHECK(bitmap_next(&b, 201) == -1);
	BITMAP_FOREACH(x, &b)
	{
		if (n < 4)
			seen[n] = x;
		n++;
	}
	CHECK(n == 3 && seen[0] == 5 && seen[1] == 64 && seen[2] == 200);
}

static void test_kernel_format_bit_order(void)
{
	struct bitmap256 b = { { 0 } };
	char s[BITMAP_KERNEL_LEN];

	/* bit 0 is the MSB of the first digit (kernel-abi.md notation) */
	bitmap_set(&b, 0);
	bitmap_set(&b, 7);
	bitmap_to_kernel(&b, s);
	CHECK_STREQ(s, "0x8100000000000000000000000000000000000000000000000000000000000000");
	bitmap_set(&b, 255);
	bitmap_to_kernel(&b, s);
	CHECK(s[65] == '1');
}

static void test_kernel_parse(void)
{
	struct bitmap256 b;

	CHECK(bitmap_from_kernel("0x41", &b) == 0);
	CHECK(bitmap_test(&b, 1) && bitmap_test(&b, 7) && bitmap_count(&b) == 2);
	/* a bare number is hex in the kernel's absolute mask syntax */
	CHECK(bitmap_from_kernel("15\n", &b) == 0);
	CHECK(bitmap_test(&b, 3) && bitmap_test(&b, 5) && bitmap_test(&b, 7) && bitmap_count(&b) == 3);
	CHECK(bitmap_from_kernel("", &b) == 0 && bitmap_empty(&b));
	CHECK(bitmap_from_kernel("0xg", &b) == -EINVAL);
	CHECK(bitmap_from_kernel("0x1 ", &b) == -EINVAL);
	CHECK(bitmap_from_kernel("0x"
				 "00000000000000000000000000000000000000000000000000000000000000000",
				 &b) == -EINVAL); /* 65 digits */
	/* round trip */
	struct bitmap256 c = { { 0 } }, d;
	char s[BITMAP_KERNEL_LEN];
	for (unsigned n = 3; n < 256; n += 17)
		bitmap_set(&c, n);
	bitmap_to_kernel(&c, s);
	CHECK(bitmap_from_kernel(s, &d) == 0 && bitmap_equal(&c, &d));
}

static void test_format_ranges(void)
{
	struct bitmap256 b = { { 0 } };
	char *s;

	s = bitmap_format_ranges(&b, 2);
	CHECK_STREQ(s, "-");
	free(s);
	bitmap_set_range(&b, 4, 7);
	bitmap_set(&b, 0x0a);
	bitmap_set(&b, 0xab);
	bitmap_set(&b, 0xac);
	s = bitmap_format_ranges(&b, 2);
	CHECK_STREQ(s, "0x04-0x07,0x0a,0xab,0xac");
	free(s);
}

static void test_matrix_overlap(void)
{
	/* the seed's Example 1 (valid) and Example 2 (conflict on 01.0006) */
	struct apqn_matrix g1 = { 0 }, g2 = { 0 }, g3 = { 0 };
	char *s;

	bitmap_set(&g1.adapters, 1);
	bitmap_set(&g1.adapters, 2);
	bitmap_set(&g1.domains, 5);
	bitmap_set(&g1.domains, 6);
	g2 = g1;
	g2.domains = (struct bitmap256){ { 0 } };
	bitmap_set(&g2.domains, 7);
	CHECK(!matrix_overlap(&g1, &g2));
	bitmap_set(&g3.adapters, 1);
	bitmap_set(&g3.domains, 6);
	bitmap_set(&g3.domains, 7);
	CHECK(matrix_overlap(&g1, &g3));
	s = matrix_format_overlap(&g1, &g3, 8);
	CHECK_STREQ(s, "01.0006");
	free(s);
	CHECK(matrix_apqn_count(&g1) == 4);
	/* control domains never make an overlap */
	struct apqn_matrix c1 = { 0 }, c2 = { 0 };
	bitmap_set(&c1.control_domains, 4);
	bitmap_set(&c2.control_domains, 4);
	CHECK(!matrix_overlap(&c1, &c2));
}

static void test_overlap_list_capped(void)
{
	struct apqn_matrix a = { 0 };
	char *s;

	bitmap_set_range(&a.adapters, 0, 3);
	bitmap_set_range(&a.domains, 0, 3);
	s = matrix_format_overlap(&a, &a, 3);
	CHECK_STREQ(s, "00.0000 00.0001 00.0002 ...");
	free(s);
}

static void test_parse_kernel_lines(void)
{
	struct apqn_matrix m = { 0 };
	char b[APQN_STR_LEN];

	CHECK(matrix_parse_kernel_line("05.0047\n", &m) == 0);
	CHECK(matrix_parse_kernel_line("06.", &m) == 0);
	CHECK(matrix_parse_kernel_line(".00ab", &m) == 0);
	CHECK(matrix_parse_kernel_line("", &m) == 0);
	CHECK(bitmap_test(&m.adapters, 5) && bitmap_test(&m.adapters, 6) && bitmap_count(&m.adapters) == 2);
	CHECK(bitmap_test(&m.domains, 0x47) && bitmap_test(&m.domains, 0xab));
	CHECK(matrix_parse_kernel_line("05-0047", &m) == -EINVAL);
	CHECK(matrix_parse_kernel_line("zz.0001", &m) == -EINVAL);
	CHECK(matrix_parse_kernel_line("05.0100", &m) == -EINVAL);
	CHECK_STREQ(apqn_format(b, 1, 6), "01.0006");
}

static void test_format_beyond(void)
{
	struct apqn_matrix m = { 0 };
	char *s;

	bitmap_set(&m.adapters, 5);
	bitmap_set(&m.domains, 0x47);
	CHECK(matrix_format_beyond(&m, 0x3f, 0x54) == NULL);
	/* every dimension beyond, singular and plural, each with its maximum */
	bitmap_set(&m.adapters, 0x40);
	bitmap_set_range(&m.domains, 0xfe, 0xff);
	bitmap_set(&m.control_domains, 0xfe);
	s = matrix_format_beyond(&m, 0x3f, 0xfd);
	CHECK_STREQ(s, "adapter 0x40 (this host's maximum 0x3f) and domains 0xfe,0xff (this host's maximum 0xfd) "
		       "and control domain 0xfe (this host's maximum 0xfd)");
	free(s);
	/* only the later dimensions: no leading "and" */
	bitmap_clear(&m.adapters, 0x40);
	s = matrix_format_beyond(&m, 0x3f, 0xfe);
	CHECK_STREQ(s, "domain 0xff (this host's maximum 0xfe)");
	free(s);
}

int main(void)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_set_test_count),     TAP_TEST(test_next_and_foreach), TAP_TEST(test_kernel_format_bit_order),
		TAP_TEST(test_kernel_parse),       TAP_TEST(test_format_ranges),    TAP_TEST(test_matrix_overlap),
		TAP_TEST(test_overlap_list_capped), TAP_TEST(test_parse_kernel_lines), TAP_TEST(test_format_beyond),
	};
	return tap_run(tests, ARRAY_SIZE(tests));
}
