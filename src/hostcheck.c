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
 *     APQN).  diff, apply, status and show --json give this warning too.
 *
 *   - mdevctl definitions (/etc/mdevctl.d/matrix/UUID) that share a usage
 *     APQN with a declared guest: an error when mdevctl starts them at boot
 *     ("start": "auto"), because whichever of the two comes first takes the
 *     queue and the other fails with EADDRINUSE; a warning otherwise (it
 *     fails only when someone starts it).  A definition of the guest's own
 *     UUID with other adapters or usage domains is the same race; with
 *     other control domains alone it is a warning (check_mdevctl_own()).
 *     diff and apply make this check too and leave such a guest out (as the
 *     plan leaves out one whose queue a foreign mdev holds): whichever came
 *     first at the next boot, one of the two would fail.  status and show
 *     make it too, and say which guests are left out and which mdevs a
 *     definition defines.  A definition whose start fails on this host (a
 *     number beyond its maxima, ap_config before 6.10) is a warning, and
 *     its queues do not count.  What import says of the definitions (one
 *     mdevctl cannot load, two files of one UUID) is said as a warning.
 *
 *   - host.keep that is not in effect: a kept queue that an mdev holds (a
 *     foreign one, one apmatrix made for a guest no longer declared whose
 *     guest still runs, a declared guest's that still has it), or that is
 *     bound to vfio_ap or to no driver because the masks do not reserve it.
 *     A warning at host.keep, one per holder, naming the APQNs and what
 *     puts keep in effect: the configuration is right, the host is not
 *     (yet), and show would otherwise draw the queue as the host's.
 *
 *   - vfio_ap not loaded while guests are declared: no mdev can be
 *     created.  The plan's refusal (check, diff, apply); status and show
 *     make it too, and guest says it instead of "run apmatrix apply".
 *
 * One diagnostic per list entry (a range names all its missing numbers), at
 * the entry's position, so a 0x00-0xff range gives one line, not 256.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "hostcheck.h"
#include "import.h"
#include "macro.h"
#include "sysfs.h"

static const char *const dim_what[_DIM_MAX][2] = {
	[DIM_ADAPTER] = { "adapter", "adapters" },
	[DIM_DOMAIN] = { "usage domain", "usage domains" },
	[DIM_CONTROL_DOMAIN] = { "control domain", "control domains" },
};

/*
 * m: the guest's mdev, NULL when it does not exist.  The same words for a
 * number never in the LPAR (over-provisioning) and one that left it under
 * a running guest (a card hot unplugged): neither is a mistake of the
 * configuration.  A running guest is said to be one, as the warning of a
 * card swap says it.
 */
static void check_dim(const struct live *l, const struct live_mdev *m, const struct desired_guest *g,
		      enum desired_dim dim, const struct bitmap256 *have, unsigned max, struct diag_list *diags)
{
	struct bitmap256 lim = bitmap_upto(max);
	/* the running state as the card-swap warning says it */
	const char *state = "";
	bool checked = false;

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
		if (m && !checked) {
			checked = true;
			if (live_mdev_in_use(l, m))
				state = m->in_use_unknown ? " (maybe running)" : " (running)";
		}
		diag_add(diags, DIAG_WARNING, &src->mark, g->name,
			 "guest '%s'%s: %s %s %s not configured in this LPAR now (assigned all the same: the guest "
			 "gets %s as soon as the LPAR has %s)",
			 g->name, state, dim_what[dim][many], list ? list : "?", many ? "are" : "is", many ? "them" : "it",
			 many ? "them" : "it");
	}
}

/* At most this many APQNs named per guest and definition, then a count. */
#define MAX_NAMED 4

/*
 * "adapters (definition: 0x05, configuration: 0x05,0x06) and usage domains
 * (definition: -, configuration: 0x04,0xab)": where the definition's matrix
 * differs from the guest's, among the dimensions from..to.
 */
static char *matrix_mismatch(const struct apqn_matrix *def, const struct apqn_matrix *want, int from, int to)
{
	static const char *const names[MATRIX_DIMS] = { "adapters", "usage domains", "control domains" };
	char *out = NULL;
	size_t len = 0;
	unsigned n = 0, total = 0;
	FILE *f;

	for (int k = from; k <= to; k++)
		total += !bitmap_equal(matrix_dim(def, k), matrix_dim(want, k));
	f = open_memstream(&out, &len);
	if (!f)
		return xstrdup("another matrix");
	for (int k = from; k <= to; k++) {
		_cleanup_free_ char *there = NULL, *here = NULL;

		if (bitmap_equal(matrix_dim(def, k), matrix_dim(want, k)))
			continue;
		there = bitmap_format_ranges(matrix_dim(def, k), 2);
		here = bitmap_format_ranges(matrix_dim(want, k), 2);
		n++;
		fprintf(f, "%s%s (definition: %s, configuration: %s)", n == 1 ? "" : n == total ? " and " : ", ",
			names[k], there ? there : "?", here ? here : "?");
	}
	if (fclose(f) != 0 || !out) {
		free(out);
		return xstrdup("another matrix");
	}
	return out;
}

/*
 * A definition of the guest's own UUID.  Another adapter or usage domain is
 * the race of a shared queue: whichever of mdevctl and apmatrix comes first
 * at boot, the mdev has the other's queues until apply runs (or mdevctl's
 * start fails), and a definition started at boot refuses the guest.
 * Control domains alone are not: the kernel never checks them against other
 * mdevs or the masks (no EADDRINUSE, no EADDRNOTAVAIL), the UUID is declared
 * so apply manages the mdev whoever made it and sets the declared control
 * domains (apmatrix-apply.service runs before libvirtd), and when apmatrix
 * made it first, mdevctl's start fails because the mdev exists: a warning,
 * the guest is not left out.
 */
static bool check_mdevctl_own(struct desired *d, struct desired_guest *g, const struct mdevctl_def *def,
			      const char *when, struct diag_list *diags)
{
	enum diag_severity sev = def->autostart ? DIAG_ERROR : DIAG_WARNING;
	_cleanup_free_ char *usage = matrix_mismatch(&def->matrix, &g->matrix, 0, 1);
	_cleanup_free_ char *what = NULL;

	g->mdevctl_path = arena_strdup(&d->arena, def->path);
	g->mdevctl_auto = def->autostart;
	if (matrix_equal(&def->matrix, &g->matrix))
		return false;
	what = matrix_mismatch(&def->matrix, &g->matrix, 0, MATRIX_DIMS - 1);
	if (!*usage) /* control domains alone */
		when = def->autostart ? "mdevctl creates it at boot (start: auto) with those until apply sets the declared "
					"ones, or fails because the mdev exists"
				      : "started (start: manual), it fails while the mdev exists";
	diag_add(diags, *usage ? sev : DIAG_WARNING, &g->uuid_mark, g->name,
		 "guest '%s': mdevctl definition %s has the guest's UUID with other %s; %s: remove it "
		 "(mdevctl undefine -u %s) or make it match",
		 g->name, def->path, what, when, def->uuid);
	if (!*usage)
		return false;
	if (def->autostart && !g->refused_why) {
		_cleanup_free_ char *why = xasprintf("mdevctl definition %s (start: auto) has its UUID with other %s",
						     def->path, usage);

		g->refused_why = arena_strdup(&d->arena, why);
	}
	return def->autostart;
}

/* Returns true when it refuses the guest (an error). */
static bool check_mdevctl_def(struct desired *d, struct desired_guest *g, const struct mdevctl_def *def,
			      struct diag_list *diags)
{
	enum diag_severity sev = def->autostart ? DIAG_ERROR : DIAG_WARNING;
	const char *when = def->autostart ? "mdevctl creates it at boot (start: auto)"
					  : "it fails when started (start: manual)";
	char first[APQN_STR_LEN] = "";
	unsigned n = 0;

	if (streq(def->uuid, g->uuid))
		return check_mdevctl_own(d, g, def, when, diags);
	BITMAP_FOREACH(a, &g->matrix.adapters)
	BITMAP_FOREACH(dm, &g->matrix.domains)
	{
		char buf[APQN_STR_LEN];

		if (!matrix_has_apqn(&def->matrix, (unsigned)a, (unsigned)dm))
			continue;
		if (!n)
			apqn_format(first, (unsigned)a, (unsigned)dm);
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
	if (def->autostart && n && !g->refused_why) {
		_cleanup_free_ char *more = n > 1 ? xasprintf(" and %u more", n - 1) : NULL;
		_cleanup_free_ char *why = xasprintf("mdevctl definition %s (start: auto) also assigns APQN%s %s%s",
						     def->path, n > 1 ? "s" : "", first, more ? more : "");

		g->refused_why = arena_strdup(&d->arena, why);
	}
	return def->autostart && n;
}

static const struct desired_guest *guest_of_uuid(const struct desired *d, const char *uuid);

/*
 * An mdev apmatrix made for a guest no longer declared, which definition
 * def now defines: handed over (hostcheck_mdevctl()).  Returns whether the
 * records in o changed.
 */
static bool hand_over(struct live_mdev *m, const struct mdevctl_def *def, struct owner_db *o, struct diag_list *diags)
{
	diag_add(diags, DIAG_NOTE, NULL, m->owner_guest,
		 "mdev %s, which apmatrix made for guest '%s', is no longer declared and mdevctl defines it (%s): "
		 "apmatrix leaves it to mdevctl",
		 m->uuid, m->owner_guest ? m->owner_guest : "?", def->path);
	m->owned = false;
	m->handed_over = true;
	if (!o)
		return false;
	owner_forget_mdev(o, m->uuid);
	return true;
}

/*
 * Whether def assigns a number beyond host's maxima: the kernel refuses
 * that write (ENODEV), mdevctl's start fails and removes the mdev again, so
 * the definition never holds a queue: said as a warning, and left out.
 */
static bool beyond_host(const struct mdevctl_def *def, const struct live *host, struct diag_list *diags)
{
	_cleanup_free_ char *what = matrix_format_beyond(&def->written, host->max_adapter, host->max_domain);

	if (!what)
		return false;
	diag_add(diags, DIAG_WARNING, NULL, NULL,
		 "mdevctl definition %s assigns %s: its start fails and mdevctl removes the mdev again, so its "
		 "queues do not count",
		 def->path, what);
	return true;
}

/*
 * Whether def sets ap_config on a kernel whose mdevs certainly lack it
 * (before 6.10): mdevctl's start fails ("Invalid attribute") and removes
 * the mdev, as beyond_host() says; warned about and left out the same way.
 */
static bool ap_config_missing(const struct mdevctl_def *def, const struct live *host, struct diag_list *diags)
{
	bool unsure;
	const char *kernel = def->ap_config ? live_lacks_ap_config(host, &unsure) : NULL;

	if (!kernel)
		return false;
	diag_add(diags, DIAG_WARNING, NULL, NULL,
		 "mdevctl definition %s (mdev %s) sets ap_config, which this host's kernel (%s) does not have: its "
		 "start fails (\"Invalid attribute 'ap_config'\") and mdevctl removes the mdev again, so its queues "
		 "do not count",
		 def->path, def->uuid, kernel);
	return true;
}

/*
 * l: also hand over (hand_over()) the mdevs of l that a definition defines;
 * host: the host's maxima (NULL: not read).  Returns whether o changed.
 */
static bool check_mdevctl(struct desired *d, const char *dir, struct live *l, const struct live *host,
			  struct owner_db *o, struct diag_list *diags)
{
	struct diag_list rd = {};
	struct mdevctl_def *defs = NULL;
	size_t n = 0;
	struct stat st;
	bool forgot = false, *startless = NULL;

	for (size_t i = 0; i < d->n_guests; i++) {
		d->guests[i].refused = false;
		d->guests[i].refused_why = NULL;
		d->guests[i].mdevctl_path = NULL;
	}
	for (size_t i = 0; l && i < l->n_mdevs; i++) {
		free(l->mdevs[i].mdevctl_path);
		l->mdevs[i].mdevctl_path = NULL;
	}
	if (stat(dir, &st) < 0)
		return false; /* no mdevctl definitions: nothing to say */
	(void)import_mdevctl_defs(dir, &defs, &n, &rd);
	/* a broken definition is mdevctl's business: say so, as a warning */
	for (size_t i = 0; i < rd.n; i++) {
		struct mark m = rd.items[i].mark;

		if (m.file)
			m.file = diag_intern_file(diags, m.file);
		diag_add(diags, DIAG_WARNING, m.file ? &m : NULL, NULL, "mdevctl: %s", rd.items[i].message);
	}
	diag_list_done(&rd);
	/*
	 * A definition that cannot start on this host holds no queues, but
	 * still defines its UUID: an mdev apmatrix made under it (assigns
	 * where it sets ap_config) is handed over all the same.
	 */
	startless = xcalloc(n ? n : 1, sizeof(*startless));
	for (size_t k = 0; host && k < n; k++)
		startless[k] = beyond_host(&defs[k], host, diags) || ap_config_missing(&defs[k], host, diags);
	for (size_t i = 0; l && i < l->n_mdevs; i++) {
		struct live_mdev *m = &l->mdevs[i];

		for (size_t k = 0; k < n; k++)
			if (strcasecmp(defs[k].uuid, m->uuid) == 0) {
				m->mdevctl_path = xstrdup(defs[k].path);
				m->mdevctl_auto = defs[k].autostart;
				if (m->owned && !guest_of_uuid(d, m->uuid))
					forgot |= hand_over(m, &defs[k], o, diags);
				break;
			}
	}
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < d->n_guests && !startless[k]; i++)
			if (check_mdevctl_def(d, &d->guests[i], &defs[k], diags))
				d->guests[i].refused = true;
	mdevctl_defs_free(defs, n);
	free(startless);
	return forgot;
}

bool hostcheck_mdevctl(struct desired *d, struct live *l, struct owner_db *o, struct diag_list *diags)
{
	return check_mdevctl(d, IMPORT_MDEVCTL_DIR, l, l, o, diags);
}

const struct live_mdev *hostcheck_keep_holder(const struct live *l, unsigned a, unsigned dom)
{
	for (size_t i = 0; i < l->n_mdevs; i++)
		if (matrix_has_apqn(&l->mdevs[i].matrix, a, dom))
			return &l->mdevs[i];
	return NULL;
}

bool hostcheck_keep_lost(const struct live *l, unsigned a, unsigned dom)
{
	const struct live_queue *q;

	if (hostcheck_keep_holder(l, a, dom))
		return true;
	/* an absent queue: nobody has it; another driver than vfio_ap: the host's business */
	q = live_find_queue(l, a, dom);
	return q && (q->kind == QUEUE_DRIVER_VFIO || q->kind == QUEUE_DRIVER_NONE);
}

/* The APQNs of rows[] (rows[a] = domains), at most MAX_KEEP_NAMED, then how many more. */
#define MAX_KEEP_NAMED 8

static char *apqn_names(const struct bitmap256 rows[static 256], unsigned *ret_n)
{
	char *out = NULL, buf[APQN_STR_LEN];
	size_t len = 0;
	unsigned n = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return xstrdup("?");
	for (unsigned a = 0; a < 256; a++)
		BITMAP_FOREACH(dom, &rows[a])
		if (n++ < MAX_KEEP_NAMED)
			fprintf(f, "%s%s", n > 1 ? " " : "", apqn_format(buf, a, (unsigned)dom));
	if (n > MAX_KEEP_NAMED)
		fprintf(f, " and %u more", n - MAX_KEEP_NAMED);
	if (fclose(f) != 0 || !out)
		return xstrdup("?");
	*ret_n = n;
	return out;
}

static const struct desired_guest *guest_of_uuid(const struct desired *d, const char *uuid)
{
	for (size_t i = 0; i < d->n_guests; i++)
		if (!strcasecmp(d->guests[i].uuid, uuid))
			return &d->guests[i];
	return NULL;
}

/* What an mdev that holds kept queues is, and what takes them out of it. */
static void keep_held(const struct desired *d, const struct live *l, const struct live_mdev *m,
		      const char *list, unsigned n, struct diag_list *diags)
{
	const struct desired_guest *g = guest_of_uuid(d, m->uuid);
	bool running = live_mdev_in_use(l, m);
	const char *them = n > 1 ? "them" : "it", *s = n > 1 ? "s" : "";
	const char *runs = m->in_use_unknown ? "maybe in use (cannot tell)" : "in use by a running guest";

	if (g)
		diag_add(diags, DIAG_WARNING, &d->keep_mark, g->name,
			 "host.keep is not in effect for APQN%s %s: mdev %s of guest '%s'%s%s%s still holds %s; "
			 "apply unassigns %s%s",
			 s, list, m->uuid, g->name, running ? ", " : "", running ? runs : "", running ? "," : "", them,
			 them,
			 running ? " with --force (kernel 6.0 or later) or once the guest is stopped" : "");
	else if (m->owned)
		diag_add(diags, DIAG_WARNING, &d->keep_mark, m->owner_guest,
			 "host.keep is not in effect for APQN%s %s: mdev %s that apmatrix made for guest '%s', "
			 "no longer declared, %s%s holds %s; apply removes it%s",
			 s, list, m->uuid, m->owner_guest ? m->owner_guest : "?", running ? runs : "",
			 running ? ", still" : "still", them,
			 running ? " once its guest stops (run apmatrix apply then, or enable the libvirt hook)" : "");
	else
		diag_add(diags, DIAG_WARNING, &d->keep_mark, NULL,
			 "host.keep is not in effect for APQN%s %s: mdev %s (not managed by apmatrix%s%s) holds "
			 "%s; remove it (echo 1 > /sys/%s/%s/remove)%s, or leave %s out of host.keep",
			 s, list, m->uuid, running ? ", " : "", running ? runs : "", them,
			 l->matrix_path ? l->matrix_path : SYSFS_MATRIX_MAINLINE, m->uuid,
			 running ? " once its guest is stopped" : "", them);
}

/* "echo +0x47,+0xff > /sys/bus/ap/aqmask", or "" when bits is empty. */
static char *mask_set_command(const struct bitmap256 *bits, const char *attr)
{
	_cleanup_free_ char *v = NULL;

	if (bitmap_empty(bits))
		return xstrdup("");
	v = bitmap_format_relative(bits, '+');
	return xasprintf("echo %s > /sys/%s", v, attr);
}

/* "apmask bits 0x06, aqmask bit 0x47" */
static char *clear_bits(const struct bitmap256 *ap, const struct bitmap256 *aq)
{
	_cleanup_free_ char *a = bitmap_format_ranges(ap, 2), *q = bitmap_format_ranges(aq, 2);

	return xasprintf("%s%s%s%s%s%s%s", bitmap_empty(ap) ? "" : "apmask bit",
			 bitmap_count(ap) > 1 ? "s " : bitmap_empty(ap) ? "" : " ", bitmap_empty(ap) ? "" : a,
			 bitmap_empty(ap) || bitmap_empty(aq) ? "" : ", ", bitmap_empty(aq) ? "" : "aqmask bit",
			 bitmap_count(aq) > 1 ? "s " : bitmap_empty(aq) ? "" : " ", bitmap_empty(aq) ? "" : q);
}

/*
 * ", once no mdev holds an APQN under them (mdev U holds 05.0047)" when an
 * mdev holds an APQN that the bits ap or aq alone keep from the host (its
 * other bit is the host's): the give-back waits for it.  Else "".
 */
static char *held_under(const struct live *l, const struct bitmap256 *ap, const struct bitmap256 *aq)
{
	for (size_t i = 0; i < l->n_mdevs; i++) {
		const struct apqn_matrix *m = &l->mdevs[i].matrix;

		BITMAP_FOREACH(a, &m->adapters)
		BITMAP_FOREACH(dm, &m->domains)
		if ((bitmap_test(aq, (unsigned)dm) && bitmap_test(&l->apmask, (unsigned)a)) ||
		    (bitmap_test(ap, (unsigned)a) && bitmap_test(&l->aqmask, (unsigned)dm))) {
			char q[APQN_STR_LEN];

			return xasprintf(", once no mdev holds an APQN under %s (mdev %s holds %s)",
					 bitmap_count(ap) + bitmap_count(aq) > 1 ? "them" : "it", l->mdevs[i].uuid,
					 apqn_format(q, (unsigned)a, (unsigned)dm));
		}
	}
	return xstrdup("");
}

/* Kept queues that no mdev holds but that are bound to vfio_ap or to no driver. */
static void keep_unreserved(const struct desired *d, const struct live *l, struct diag_list *diags)
{
	struct bitmap256 rows[256], ap = { { 0 } }, aq = { { 0 } };
	_cleanup_free_ char *list = NULL, *bits = NULL, *set_ap = NULL, *set_aq = NULL;
	bool any = false, override = false;
	bool masks = (l->features & FEATURE_MASKS) && l->profile != PROFILE_RFC2017;
	const char *them;
	unsigned n = 0;

	memset(rows, 0, sizeof(rows));
	for (size_t i = 0; i < l->n_queues; i++) {
		const struct live_queue *q = &l->queues[i];

		if (q->adapter > 255 || q->domain > 255 || !desired_keeps(d, q->adapter, q->domain) ||
		    hostcheck_keep_holder(l, q->adapter, q->domain) || !hostcheck_keep_lost(l, q->adapter, q->domain))
			continue;
		bitmap_set(&rows[q->adapter], q->domain);
		any = true;
		override |= q->driver_override != NULL;
		if (masks && !bitmap_test(&l->apmask, q->adapter))
			bitmap_set(&ap, q->adapter);
		if (masks && !bitmap_test(&l->aqmask, q->domain))
			bitmap_set(&aq, q->domain);
	}
	if (!any)
		return;
	list = apqn_names(rows, &n);
	them = n > 1 ? "them" : "it";
	if (!masks || override || (bitmap_empty(&ap) && bitmap_empty(&aq))) {
		diag_add(diags, DIAG_WARNING, &d->keep_mark, NULL,
			 "host.keep is not in effect for APQN%s %s: not bound to a host driver%s; bind %s to the "
			 "host's zcrypt driver",
			 n > 1 ? "s" : "", list, override ? " (a driver_override says so)" : "", them);
		return;
	}
	bits = clear_bits(&ap, &aq);
	if (d->masks == CONFIG_MASKS_AUTO) {
		/* apmatrix gives back the bits it cleared (owner db), never the others */
		struct bitmap256 ours_ap = bitmap_and(&ap, &l->apmask_taken), ours_aq = bitmap_and(&aq, &l->aqmask_taken);

		if (!bitmap_empty(&ours_ap) || !bitmap_empty(&ours_aq)) {
			_cleanup_free_ char *ours = clear_bits(&ours_ap, &ours_aq), *until = held_under(l, &ours_ap, &ours_aq);

			diag_add(diags, DIAG_WARNING, &d->keep_mark, NULL,
				 "host.keep is not in effect for APQN%s %s: bound to %s, because the masks do not "
				 "reserve %s (%s clear); apply gives back %s, which apmatrix cleared%s",
				 n > 1 ? "s" : "", list, l->vfio_driver ? l->vfio_driver : SYSFS_VFIO_DRIVER_MAINLINE,
				 them, bits, ours, until);
			return;
		}
	}
	set_ap = mask_set_command(&ap, SYSFS_APMASK);
	set_aq = mask_set_command(&aq, SYSFS_AQMASK);
	diag_add(diags, DIAG_WARNING, &d->keep_mark, NULL,
		 "host.keep is not in effect for APQN%s %s: bound to %s, because the masks do not reserve %s "
		 "(%s clear), and apmatrix gives back only bits it cleared: %s%s%s",
		 n > 1 ? "s" : "", list, l->vfio_driver ? l->vfio_driver : SYSFS_VFIO_DRIVER_MAINLINE, them, bits,
		 set_ap, *set_ap && *set_aq ? "; " : "", set_aq);
}

void hostcheck_keep(const struct desired *d, const struct live *l, struct diag_list *diags)
{
	if (!d->has_keep || l->profile == PROFILE_NONE)
		return;
	for (size_t i = 0; i < l->n_mdevs; i++) {
		const struct live_mdev *m = &l->mdevs[i];
		struct bitmap256 rows[256];
		_cleanup_free_ char *list = NULL;
		struct bitmap256 ka = bitmap_and(&m->matrix.adapters, &d->keep_adapters);
		struct bitmap256 kd = bitmap_and(&m->matrix.domains, &d->keep_domains);
		unsigned n = 0;

		if (bitmap_empty(&ka) || bitmap_empty(&kd))
			continue;
		memset(rows, 0, sizeof(rows));
		BITMAP_FOREACH(a, &ka)
		rows[a] = kd;
		list = apqn_names(rows, &n);
		keep_held(d, l, m, list, n, diags);
	}
	keep_unreserved(d, l, diags);
}

void hostcheck_lpar(const struct desired *d, const struct live *l, struct diag_list *diags)
{
	/*
	 * Before 6.0 absent queues are not assigned "anyway": the plan refuses
	 * them, per APQN, and this warning would contradict it.  A host that
	 * only looks static (6.0 - 6.11 without an mdev: live.h,
	 * profile_certain) gets the plan's note instead, and apply warns once
	 * its first create has told a 6.0+ interface.
	 */
	bool assigns_absent = l->profile != PROFILE_STATIC;

	if (!l->has_qci || l->profile == PROFILE_NONE)
		return;
	for (size_t i = 0; i < d->n_guests; i++) {
		const struct desired_guest *g = &d->guests[i];
		const struct live_mdev *m = live_find_mdev(l, g->uuid);

		if (assigns_absent) {
			check_dim(l, m, g, DIM_ADAPTER, &l->cfg_adapters, l->max_adapter, diags);
			check_dim(l, m, g, DIM_DOMAIN, &l->cfg_domains, l->max_domain, diags);
		}
		/* explicit entries only: usage domains were just checked */
		check_dim(l, m, g, DIM_CONTROL_DOMAIN, &l->cfg_control_domains, l->max_domain, diags);
	}
}

char *hostcheck_no_vfio(const struct live *l)
{
	if (l->vfio_loaded)
		return NULL;
	return xasprintf("vfio_ap is not loaded (no %s)",
			 l->matrix_path ? l->matrix_path
			 : l->profile == PROFILE_RFC2017 ? SYSFS_MATRIX_RFC2017
							 : SYSFS_MATRIX_MAINLINE);
}

bool hostcheck_vfio(const struct desired *d, const struct live *l, struct diag_list *diags)
{
	_cleanup_free_ char *why = NULL;

	if (!d->n_guests || l->profile == PROFILE_NONE)
		return false;
	why = hostcheck_no_vfio(l);
	if (why)
		diag_add(diags, DIAG_ERROR, NULL, NULL, "%s: guests are declared but no mdev can be created", why);
	return why != NULL;
}

void hostcheck(struct desired *d, const struct live *l, bool invalid, struct diag_list *diags)
{
	(void)check_mdevctl(d, IMPORT_MDEVCTL_DIR, NULL, l, NULL, diags);
	if (!invalid)
		hostcheck_keep(d, l, diags);
	hostcheck_lpar(d, l, diags);
}
