/* SPDX-License-Identifier: MIT */
/* bitmap.c: the non-inline parts of the 256-bit set. */
#include <errno.h>
#include <string.h>

#include "bitmap.h"
#include "macro.h"

void bitmap_to_kernel(const struct bitmap256 *b, char out[BITMAP_KERNEL_LEN])
{
	static const char hex[] = "0123456789abcdef";

	out[0] = '0';
	out[1] = 'x';
	for (unsigned digit = 0; digit < 64; digit++) {
		unsigned v = 0;
		for (unsigned k = 0; k < 4; k++)
			v = (v << 1) | bitmap_test(b, digit * 4 + k);
		out[2 + digit] = hex[v];
	}
	out[66] = '\0';
}

int bitmap_from_kernel(const char *s, struct bitmap256 *ret)
{
	struct bitmap256 b = { { 0 } };
	size_t n;

	if (s[0] == '0' && s[1] == 'x')
		s += 2;
	else if (s[0] == 'x')
		s++;
	n = strlen(s);
	if (n > 0 && s[n - 1] == '\n')
		n--;
	if (n > 64)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		/* a digit's most significant bit is its lowest-numbered one */
		static const uint8_t reversed[16] = { 0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15 };
		int v = hex_value(s[i]);

		if (v < 0)
			return -EINVAL;
		b.w[i / 16] |= (uint64_t)reversed[v] << (4 * (i % 16));
	}
	*ret = b;
	return 0;
}

char *bitmap_format_relative(const struct bitmap256 *b, char sign)
{
	char *out = NULL;
	size_t len = 0;
	bool first = true;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return xstrdup("");
	BITMAP_FOREACH(n, b)
	{
		fprintf(f, "%s%c0x%02x", first ? "" : ",", sign, n);
		first = false;
	}
	if (fclose(f) != 0 || !out)
		return xstrdup("");
	return out;
}

char *bitmap_format_ranges(const struct bitmap256 *b, int width)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if (bitmap_empty(b))
		return xstrdup("-");
	f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	for (int n = bitmap_next(b, 0), first = 1; n >= 0; first = 0) {
		int e = n;
		while (e + 1 < BITMAP_BITS && bitmap_test(b, (unsigned)e + 1))
			e++;
		fprintf(f, "%s0x%0*x", first ? "" : ",", width, n);
		if (e > n)
			fprintf(f, "%s0x%0*x", e == n + 1 ? "," : "-", width, e);
		n = bitmap_next(b, e + 1);
	}
	fclose(f);
	return out;
}
