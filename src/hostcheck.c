/* SPDX-License-Identifier: MIT */
/*
 * hostcheck.c: what `apmatrix check` adds when it runs on an AP host, beyond
 * the plan's own refusals (ranges, foreign mdevs, host.keep, driver_override):
 *
 *   - adapters, usage domains and control domains that this LPAR does not
 *     have (the QCI masks ap_adapter_mask, ap_usage_domain_mask,
 *     ap_control_domain_mask): a warning, because on 6.0+ they are assigned
 *     anyway (over-provisioning) and the guest gets them when they appear
 *     (before 6.0 the kernel refuses absent queues: the plan says so, per
 *     APQN).
 *
 * One diagnostic per list entry (a range names all its missing numbers), at
 * the entry's position, so a 0x00-0xff range gives one line, not 256.
 */
#include <stdlib.h>

#include "hostcheck.h"
#include "macro.h"

static const char *const dim_what[_DIM_MAX][2] = {
	[DIM_ADAPTER] = { "adapter", "adapters" },
	[DIM_DOMAIN] = { "usage domain", "usage domains" },
	[DIM_CONTROL_DOMAIN] = { "control domain", "control domains" },
};

static void check_dim(const struct desired_guest *g, enum desired_dim dim, const struct bitmap256 *have,
		      unsigned max, struct diag_list *diags)
{
	struct bitmap256 lim = bitmap_upto(max);

	for (size_t i = 0; i < g->n_src[dim]; i++) {
		const struct desired_src *src = &g->src[dim][i];
		struct bitmap256 b = { { 0 } }, missing;
		_cleanup_free_ char *list = NULL;
		bool many;

		bitmap_set_range(&b, src->lo, src->hi);
		b = bitmap_and(&b, &lim); /* beyond the maximum is the plan's error */
		missing = bitmap_andnot(&b, have);
		if (bitmap_empty(&missing))
			continue;
		list = bitmap_format_ranges(&missing, 2);
		many = bitmap_count(&missing) > 1;
		diag_add(diags, DIAG_WARNING, &src->mark, g->name,
				 "guest '%s': %s %s %s not configured in this LPAR (over-provisioned: assigned "
				 "anyway, the guest gets %s when %s added to the LPAR)",
				 g->name, dim_what[dim][many], list ? list : "?", many ? "are" : "is",
				 many ? "them" : "it", many ? "they are" : "it is");
	}
}

void hostcheck(const struct desired *d, const struct live *l, struct diag_list *diags)
{
	if (!l->has_qci || l->profile == PROFILE_NONE)
		return;
	for (size_t i = 0; i < d->n_guests; i++) {
		const struct desired_guest *g = &d->guests[i];

		check_dim(g, DIM_ADAPTER, &l->cfg_adapters, l->max_adapter, diags);
		check_dim(g, DIM_DOMAIN, &l->cfg_domains, l->max_domain, diags);
		/* explicit entries only: usage domains were just checked */
		check_dim(g, DIM_CONTROL_DOMAIN, &l->cfg_control_domains, l->max_domain, diags);
	}
}
