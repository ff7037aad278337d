/* SPDX-License-Identifier: MIT */
/*
 * matrix.h: APQN sets.  A vfio_ap matrix is the cross product of adapters and
 * usage domains, plus a separate set of control domains.  Two matrices
 * conflict when both their adapter sets and their usage-domain sets
 * intersect (kernel-abi.md §3).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bitmap.h"

struct apqn_matrix {
	struct bitmap256 adapters;
	struct bitmap256 domains;         /* usage domains */
	struct bitmap256 control_domains; /* everything the guest may control */
};

/* The three dimensions of a matrix, in this order, with their names in messages. */
enum { MATRIX_ADAPTERS, MATRIX_DOMAINS, MATRIX_CONTROL_DOMAINS, MATRIX_DIMS };
extern const char *const matrix_dim_name[MATRIX_DIMS]; /* "adapters", "domains", "control domains" */

static inline const struct bitmap256 *matrix_dim(const struct apqn_matrix *m, int dim)
{
	return dim == MATRIX_ADAPTERS ? &m->adapters : dim == MATRIX_DOMAINS ? &m->domains : &m->control_domains;
}

/* lszcrypt notation "05.0047" */
#define APQN_STR_LEN 8
char *apqn_format(char buf[APQN_STR_LEN], unsigned adapter, unsigned domain);

/* True when a and b share at least one (adapter, usage domain) pair. */
bool matrix_overlap(const struct apqn_matrix *a, const struct apqn_matrix *b);

/* Number of APQNs (adapters x usage domains). */
unsigned matrix_apqn_count(const struct apqn_matrix *m);

bool matrix_has_apqn(const struct apqn_matrix *m, unsigned adapter, unsigned domain);

bool matrix_equal(const struct apqn_matrix *a, const struct apqn_matrix *b);

/*
 * The shared APQNs of a and b as a list "01.0006 02.0006", at most max items
 * followed by " ..." when there are more.  malloc'd.
 */
char *matrix_format_overlap(const struct apqn_matrix *a, const struct apqn_matrix *b, unsigned max);
/* The same without the " ...": *ret_n is how many APQNs a and b share, the caller says the rest. */
char *matrix_format_overlap_n(const struct apqn_matrix *a, const struct apqn_matrix *b, unsigned max,
			      unsigned *ret_n);

/*
 * The usage APQNs of a that b lacks (b NULL: all of a's): "APQN 06.0004",
 * "APQNs 06.0004 06.00ab", "APQNs 05.0000 ... 05.0007 (64 in all)" past max
 * items; NULL when there are none.  malloc'd.
 */
char *matrix_format_minus(const struct apqn_matrix *a, const struct apqn_matrix *b, unsigned max);

/*
 * What m assigns beyond a host's maxima (max_adapter for adapters,
 * max_domain for both kinds of domain), each dimension with its numbers and
 * maximum: "adapter 0x40 (this host's maximum 0x3f) and domains 0xfe,0xff
 * (this host's maximum 0xfd)"; NULL when nothing is beyond.  malloc'd.
 */
char *matrix_format_beyond(const struct apqn_matrix *m, unsigned max_adapter, unsigned max_domain);

/*
 * APQNs given as adapter << 8 | domain, in the order given: "07.0004
 * 07.00ff", at most max items followed by " ..." when there are more;
 * NULL for none.  malloc'd.
 */
char *apqn_list_format(const uint16_t *apqns, size_t n, unsigned max);

/*
 * Parse one line of the kernel's `matrix`/`guest_matrix` format ("05.0047",
 * "05." or ".0047") into m.  Returns 0 or -EINVAL.
 */
int matrix_parse_kernel_line(const char *line, struct apqn_matrix *m);
