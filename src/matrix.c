/* SPDX-License-Identifier: MIT */
/* matrix.c: APQN set algebra and lszcrypt notation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "matrix.h"

const char *const matrix_dim_name[MATRIX_DIMS] = { "adapters", "domains", "control domains" };

char *apqn_format(char buf[APQN_STR_LEN], unsigned adapter, unsigned domain)
{
	snprintf(buf, APQN_STR_LEN, "%02x.%04x", adapter & 0xff, domain & 0xffff);
	return buf;
}

bool matrix_overlap(const struct apqn_matrix *a, const struct apqn_matrix *b)
{
	return bitmap_intersects(&a->adapters, &b->adapters) && bitmap_intersects(&a->domains, &b->domains);
}

unsigned matrix_apqn_count(const struct apqn_matrix *m)
{
	return bitmap_count(&m->adapters) * bitmap_count(&m->domains);
}

bool matrix_has_apqn(const struct apqn_matrix *m, unsigned adapter, unsigned domain)
{
	return bitmap_test(&m->adapters, adapter) && bitmap_test(&m->domains, domain);
}

bool matrix_equal(const struct apqn_matrix *a, const struct apqn_matrix *b)
{
	return bitmap_equal(&a->adapters, &b->adapters) && bitmap_equal(&a->domains, &b->domains) &&
	       bitmap_equal(&a->control_domains, &b->control_domains);
}

char *matrix_format_overlap_n(const struct apqn_matrix *a, const struct apqn_matrix *b, unsigned max,
			      unsigned *ret_n)
{
	struct bitmap256 ad = bitmap_and(&a->adapters, &b->adapters);
	struct bitmap256 dom = bitmap_and(&a->domains, &b->domains);
	char *out = NULL, buf[APQN_STR_LEN];
	size_t len = 0;
	unsigned n = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	BITMAP_FOREACH(x, &ad)
	{
		BITMAP_FOREACH(y, &dom)
		{
			if (n < max)
				fprintf(f, "%s%s", n ? " " : "", apqn_format(buf, (unsigned)x, (unsigned)y));
			n++;
		}
	}
	fclose(f);
	*ret_n = n;
	return out;
}

char *matrix_format_overlap(const struct apqn_matrix *a, const struct apqn_matrix *b, unsigned max)
{
	unsigned n;
	char *out = matrix_format_overlap_n(a, b, max, &n);

	if (out && n > max) {
		char *more = xasprintf("%s ...", out);

		free(out);
		out = more;
	}
	return out;
}

char *matrix_format_minus(const struct apqn_matrix *a, const struct apqn_matrix *b, unsigned max)
{
	char *out = NULL, *ret, buf[APQN_STR_LEN];
	size_t len = 0;
	unsigned n = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	BITMAP_FOREACH(x, &a->adapters)
	{
		BITMAP_FOREACH(y, &a->domains)
		{
			if (b && matrix_has_apqn(b, (unsigned)x, (unsigned)y))
				continue;
			if (n < max)
				fprintf(f, "%s%s", n ? " " : "", apqn_format(buf, (unsigned)x, (unsigned)y));
			n++;
		}
	}
	fclose(f);
	if (!out || n == 0) {
		free(out);
		return NULL;
	}
	ret = n == 1 ? xasprintf("APQN %s", out) : n <= max ? xasprintf("APQNs %s", out)
							   : xasprintf("APQNs %s ... (%u in all)", out, n);
	free(out);
	return ret;
}

char *apqn_list_format(const uint16_t *apqns, size_t n, unsigned max)
{
	char *out = NULL, buf[APQN_STR_LEN];
	size_t len = 0;
	FILE *f;

	if (n == 0)
		return NULL;
	f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < n && i < max; i++)
		fprintf(f, "%s%s", i ? " " : "", apqn_format(buf, apqns[i] >> 8, apqns[i] & 0xff));
	if (n > max)
		fputs(" ...", f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int matrix_parse_kernel_line(const char *line, struct apqn_matrix *m)
{
	size_t n = strcspn(line, "\n");
	const char *dot = memchr(line, '.', n);
	unsigned a, d;

	if (n == 0)
		return 0;
	if (!dot)
		return -EINVAL;
	if (dot > line && parse_hex_digits(line, (size_t)(dot - line), 255, &a) < 0)
		return -EINVAL;
	if ((size_t)(dot - line) + 1 < n && parse_hex_digits(dot + 1, n - (size_t)(dot - line) - 1, 255, &d) < 0)
		return -EINVAL;
	if (dot > line)
		bitmap_set(&m->adapters, a);
	if ((size_t)(dot - line) + 1 < n)
		bitmap_set(&m->domains, d);
	return 0;
}

char *matrix_format_beyond(const struct apqn_matrix *m, unsigned max_adapter, unsigned max_domain)
{
	static const char *const what[MATRIX_DIMS][2] = { { "adapter", "adapters" },
							  { "domain", "domains" },
							  { "control domain", "control domains" } };
	char *out = NULL;

	for (int k = 0; k < MATRIX_DIMS; k++) {
		unsigned max = k == MATRIX_ADAPTERS ? max_adapter : max_domain;
		struct bitmap256 lim = bitmap_upto(max), b = bitmap_andnot(matrix_dim(m, k), &lim);
		_cleanup_free_ char *list = NULL;
		char *more;

		if (bitmap_empty(&b))
			continue;
		list = bitmap_format_ranges(&b, 2);
		more = xasprintf("%s%s%s %s (this host's maximum 0x%02x)", out ? out : "", out ? " and " : "",
				 what[k][bitmap_count(&b) > 1], list ? list : "?", max);
		free(out);
		out = more;
	}
	return out;
}
