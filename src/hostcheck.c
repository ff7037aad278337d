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
 *   - mdevctl definitions (/etc/mdevctl.d/matrix/UUID) that share a usage
 *     APQN with a declared guest: an error when mdevctl starts them at boot
 *     ("start": "auto"), because whichever of the two comes first takes the
 *     queue and the other fails with EADDRINUSE; a warning otherwise (it
 *     fails only when someone starts it).  A definition of the guest's own
 *     UUID with another matrix is the same race.  diff and apply make this
 *     check too and leave such a guest out (as the plan leaves out one
 *     whose queue a foreign mdev holds): whichever came first at the next
 *     boot, one of the two would fail.
 *
 * One diagnostic per list entry (a range names all its missing numbers), at
 * the entry's position, so a 0x00-0xff range gives one line, not 256.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hostcheck.h"
#include "import.h"
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
		const struct config_item *src = &g->src[dim][i];
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

/* At most this many APQNs named per guest and definition, then a count. */
#define MAX_NAMED 4

/* Returns true when it refuses the guest (an error). */
static bool check_mdevctl_def(const struct desired_guest *g, const struct mdevctl_def *def,
			      struct diag_list *diags)
{
	enum diag_severity sev = def->autostart ? DIAG_ERROR : DIAG_WARNING;
	const char *when = def->autostart ? "mdevctl creates it at boot (start: auto)"
					  : "it fails when started (start: manual)";
	unsigned n = 0;

	if (streq(def->uuid, g->uuid)) {
		if (!matrix_equal(&def->matrix, &g->matrix))
			diag_add(diags, sev, &g->uuid_mark, g->name,
				 "guest '%s': mdevctl definition %s has the guest's UUID with another matrix; %s: "
				 "remove it (mdevctl undefine -u %s) or make it match",
				 g->name, def->path, when, def->uuid);
		return def->autostart && !matrix_equal(&def->matrix, &g->matrix);
	}
	BITMAP_FOREACH(a, &g->matrix.adapters)
	BITMAP_FOREACH(dm, &g->matrix.domains)
	{
		char buf[APQN_STR_LEN];

		if (!matrix_has_apqn(&def->matrix, (unsigned)a, (unsigned)dm))
			continue;
		if (++n > MAX_NAMED)
			continue;
		diag_add(diags, sev, desired_guest_mark(g, DIM_DOMAIN, (unsigned)dm), g->name,
			 "guest '%s': APQN %s is also assigned by mdevctl definition %s; %s: remove it "
			 "(mdevctl undefine -u %s) or leave the queue out",
			 g->name, apqn_format(buf, (unsigned)a, (unsigned)dm), def->path, when, def->uuid);
	}
	if (n > MAX_NAMED)
		diag_add(diags, sev, &g->mark, g->name, "guest '%s': %u more APQNs shared with mdevctl definition %s",
			 g->name, n - MAX_NAMED, def->path);
	return def->autostart && n;
}

static void check_mdevctl(struct desired *d, const char *dir, struct diag_list *diags)
{
	struct diag_list rd = {};
	struct mdevctl_def *defs = NULL;
	size_t n = 0;
	struct stat st;

	for (size_t i = 0; i < d->n_guests; i++)
		d->guests[i].refused = false;
	if (stat(dir, &st) < 0)
		return; /* no mdevctl definitions: nothing to say */
	(void)import_mdevctl_defs(dir, &defs, &n, &rd);
	/* a broken definition is mdevctl's business: say so, as a warning */
	for (size_t i = 0; i < rd.n; i++) {
		struct mark m = rd.items[i].mark;

		if (m.file)
			m.file = diag_intern_file(diags, m.file);
		diag_add(diags, DIAG_WARNING, m.file ? &m : NULL, NULL, "mdevctl: %s", rd.items[i].message);
	}
	diag_list_done(&rd);
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < d->n_guests; i++)
			if (check_mdevctl_def(&d->guests[i], &defs[k], diags))
				d->guests[i].refused = true;
	mdevctl_defs_free(defs, n);
}

void hostcheck_mdevctl(struct desired *d, struct diag_list *diags)
{
	check_mdevctl(d, IMPORT_MDEVCTL_DIR, diags);
}

void hostcheck(struct desired *d, const struct live *l, struct diag_list *diags)
{
	check_mdevctl(d, IMPORT_MDEVCTL_DIR, diags);

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
