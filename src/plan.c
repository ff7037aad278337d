/* SPDX-License-Identifier: MIT */
/*
 * plan.c: desired + live -> an ordered list of actions (DESIGN §4-5,
 * kernel-abi.md §3, STYLE R4/R5/R12).
 *
 * plan_build() is pure: it reads its two inputs, appends diagnostics and
 * returns data; it performs no I/O and does not log.  Everything it decides
 * is deterministic: guests are walked in name order and mdevs in UUID order
 * whatever order the inputs use, and the final list is sorted by (phase,
 * host-level first, guest name, kind, number).
 *
 * The steps:
 *   1. classify mdevs: managed (a declared guest's UUID), owned (created by
 *      apmatrix, no longer declared: removed) and foreign (never written);
 *   2. per guest checks that would make its writes fail (ranges, foreign
 *      overlap, absent queues before 6.0, host-owned APQNs with masks off,
 *      a guest that wants a queue host.keep reserves, which compile has
 *      reported); a guest with errors gets no actions at all;
 *   3. masks: the minimum weighted vertex cover of the guest APQNs that are
 *      still host-owned, by max-flow / min-cut (DESIGN §4);
 *   4. per mdev actions, then mask (or rfc2017 queue) takes;
 *      (and a note where a usage domain passes from one guest to another);
 *      on 6.0-6.9 what an mdev that gains loses is unassigned after its
 *      assigns where the kernel allows (late_unassigns()), as ap_config
 *      changes it in one write from 6.10;
 *   5. dependencies and "pending" (running guests), then the releases, which
 *      must never hand the host an APQN that any mdev still holds: they come
 *      last, after the writes that take such APQNs out of the mdevs; a take
 *      that only pending actions need is pending with them (a mask take
 *      needed now for some bits: the bits only they need);
 *   6. sort, remap dependency indices.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "hostcheck.h"
#include "macro.h"
#include "plan.h"
#include "sysfs.h"

#define MAX_APQN_DIAGS 8
/* APQNs named in an action's text before " ..." */
#define APQNS_NAMED 8


static bool matrix_grows(const struct apqn_matrix *from, const struct apqn_matrix *to);

static const char *const action_kind_table[_ACTION_KIND_MAX] = {
	[ACTION_UNASSIGN_ADAPTER] = "unassign adapter",
	[ACTION_UNASSIGN_DOMAIN] = "unassign domain",
	[ACTION_UNASSIGN_CONTROL_DOMAIN] = "unassign control domain",
	[ACTION_REMOVE_MDEV] = "remove mdev",
	[ACTION_RELEASE_APMASK] = "release apmask",
	[ACTION_RELEASE_AQMASK] = "release aqmask",
	[ACTION_RELEASE_QUEUE] = "release queue",
	[ACTION_TAKE_APMASK] = "take apmask",
	[ACTION_TAKE_AQMASK] = "take aqmask",
	[ACTION_TAKE_QUEUE] = "take queue",
	[ACTION_CREATE_MDEV] = "create mdev",
	[ACTION_WRITE_AP_CONFIG] = "write ap_config",
	[ACTION_ASSIGN_ADAPTER] = "assign adapter",
	[ACTION_ASSIGN_DOMAIN] = "assign domain",
	[ACTION_ASSIGN_CONTROL_DOMAIN] = "assign control domain",
};

static const char *const plan_phase_table[_PHASE_MAX] = {
	[PHASE_UNASSIGN] = "unassign",
	[PHASE_REMOVE_MDEV] = "remove mdev",
	[PHASE_TAKE_MASK] = "take mask",
	[PHASE_RELEASE_MASK] = "release mask",
	[PHASE_CREATE_MDEV] = "create mdev",
	[PHASE_ASSIGN] = "assign",
	[PHASE_UNASSIGN_LATE] = "late unassign",
};

const char *action_kind_to_string(enum action_kind k)
{
	return k >= 0 && k < _ACTION_KIND_MAX ? action_kind_table[k] : NULL;
}

const char *plan_phase_to_string(enum plan_phase p)
{
	return p < _PHASE_MAX ? plan_phase_table[p] : NULL;
}

/* The three dimensions of an mdev, with their individual attributes. */
static const struct {
	enum action_kind unassign, assign;
	const char *unassign_attr, *assign_attr;
} dim_table[3] = {
	{ ACTION_UNASSIGN_ADAPTER, ACTION_ASSIGN_ADAPTER, "unassign_adapter", "assign_adapter" },
	{ ACTION_UNASSIGN_DOMAIN, ACTION_ASSIGN_DOMAIN, "unassign_domain", "assign_domain" },
	{ ACTION_UNASSIGN_CONTROL_DOMAIN, ACTION_ASSIGN_CONTROL_DOMAIN, "unassign_control_domain",
	  "assign_control_domain" },
};

enum mdev_class {
	MDEV_MANAGED, /* a declared guest's UUID (exists or will be created) */
	MDEV_OWNED,   /* created by apmatrix, no longer declared: removed */
	MDEV_FOREIGN, /* not ours: never written, but counts for overlap */
};

struct mstate {
	const struct live_mdev *m; /* NULL: does not exist yet */
	const char *uuid;          /* points into live or desired */
	enum mdev_class class;
	ssize_t guest;    /* index into ctx.guests, -1 when undeclared */
	const char *who;  /* guest name, or the UUID: for "waits for ..." */
	struct apqn_matrix live; /* empty when m == NULL */
	bool blocked;     /* in use and cannot be changed now (valid once block_checked) */
	bool block_checked;
	const char *block_reason;
	bool force_helps; /* blocked, but --force would hot plug the change */
	bool hot;         /* in use, and --force changes it all the same */
	bool has_pending; /* some action of this mdev is pending (after propagation) */
	ssize_t create_id, remove_id, inter_id, final_id;
	/*
	 * Individual unassign actions by number: ua[adapter], ud[domain], -1
	 * none; NULL until the first (a converged host makes none, and 4 KiB
	 * for each of hundreds of mdevs is what a re-apply would touch).
	 */
	ssize_t *ua, *ud;
	/*
	 * 6.0-6.9: the adapters and usage domains it loses after its assigns
	 * (PHASE_UNASSIGN_LATE, late_unassigns()); until then the assigns
	 * write them into a matrix that still has them.
	 */
	struct bitmap256 late_a, late_d;
};

struct gstate {
	const struct desired_guest *g;
	ssize_t ms; /* its mstate */
	bool skip;  /* errors: no actions at all */
	char *why;  /* skipped: why, in a few words (struct plan.left_out) */
	bool needs_dynamic; /* names absent queues on a host whose interface is not known yet */
};

struct ctx {
	const struct desired *d;
	const struct live *l;
	unsigned flags;
	struct diag_list *diags;
	bool errors;

	struct plan *p;
	const struct mstate **who; /* parallel to p->actions: the mdev whose running guest blocks it */
	const struct mstate **own; /* parallel to p->actions: the action's own mdev, NULL for host actions */
	size_t cap_who, cap_own;

	struct gstate *guests;
	size_t n_guests;
	struct mstate *ms;
	size_t n_ms;

	const char *matrix_path, *mdev_type, *vfio_driver;
	bool ap_config;
	bool masks;      /* mask logic applies at all (FEATURE_MASKS, not rfc2017) */
	bool masks_auto; /* ... and apmatrix may write them */

	/* wanted[a] = domains any declared guest wants on adapter a */
	struct bitmap256 wanted[256];
	/* queues: existing, bound to the host driver, bound to the vfio driver */
	struct bitmap256 q_exists[256], q_host[256], q_vfio[256], q_unbound[256];

	struct bitmap256 base_ap, base_aq;     /* live mask | what apmatrix took */
	struct bitmap256 cover_ap, cover_aq;   /* bits that must be clear in the end */
	struct bitmap256 take_ap, take_aq;
	ssize_t take_ap_id, take_aq_id;
	ssize_t *qtake; /* rfc2017: TAKE_QUEUE id by a << 8 | d */
};

/* ---- small helpers ---- */

static void plan_error_va(struct ctx *c, const struct mark *m, const char *guest, const char *fmt, va_list ap)
{
	diag_addv(c->diags, DIAG_ERROR, m && m->file ? m : NULL, guest, fmt, ap);
	c->errors = true;
}

static void plan_error(struct ctx *c, const char *guest, const char *fmt, ...) _printf_(3, 4);
static void plan_error(struct ctx *c, const char *guest, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	plan_error_va(c, NULL, guest, fmt, ap);
	va_end(ap);
}

/* An error about a guest's declaration, at the source position of the entry it concerns. */
static void plan_error_at(struct ctx *c, const struct mark *m, const char *guest, const char *fmt, ...)
	_printf_(4, 5);
static void plan_error_at(struct ctx *c, const struct mark *m, const char *guest, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	plan_error_va(c, m, guest, fmt, ap);
	va_end(ap);
}

static bool apqn_in(const struct bitmap256 *rows, unsigned a, unsigned d)
{
	return bitmap_test(&rows[a], d);
}

static struct apqn_matrix matrix_intersect(const struct apqn_matrix *a, const struct apqn_matrix *b)
{
	return (struct apqn_matrix){
		.adapters = bitmap_and(&a->adapters, &b->adapters),
		.domains = bitmap_and(&a->domains, &b->domains),
		.control_domains = bitmap_and(&a->control_domains, &b->control_domains),
	};
}

static struct apqn_matrix matrix_union(const struct apqn_matrix *a, const struct apqn_matrix *b)
{
	return (struct apqn_matrix){
		.adapters = bitmap_or(&a->adapters, &b->adapters),
		.domains = bitmap_or(&a->domains, &b->domains),
		.control_domains = bitmap_or(&a->control_domains, &b->control_domains),
	};
}

static char *ap_config_value(const struct apqn_matrix *m)
{
	char a[BITMAP_KERNEL_LEN], d[BITMAP_KERNEL_LEN], cd[BITMAP_KERNEL_LEN];

	bitmap_to_kernel(&m->adapters, a);
	bitmap_to_kernel(&m->domains, d);
	bitmap_to_kernel(&m->control_domains, cd);
	return xasprintf("%s,%s,%s", a, d, cd);
}

static ssize_t action_new(struct ctx *c, enum action_kind kind, enum plan_phase phase, const char *guest,
			  const char *uuid, unsigned number, const struct mstate *who)
{
	struct plan *p = c->p;
	struct action *a;

	p->actions = xgrow(p->actions, &p->cap, p->n + 1, sizeof(*p->actions));
	c->who = xgrow(c->who, &c->cap_who, p->n + 1, sizeof(*c->who));
	c->own = xgrow(c->own, &c->cap_own, p->n + 1, sizeof(*c->own));
	a = &p->actions[p->n];
	*a = (struct action){ .kind = kind, .phase = phase, .number = number };
	if (guest)
		a->guest = xstrdup(guest);
	if (uuid)
		snprintf(a->uuid, sizeof(a->uuid), "%s", uuid);
	c->who[p->n] = c->own[p->n] = who;
	return (ssize_t)p->n++;
}

/* Takes ownership of path and value. */
static void action_write(struct ctx *c, ssize_t i, char *path, char *value)
{
	struct action *a = &c->p->actions[i];

	if (a->n_writes >= ARRAY_SIZE(a->writes)) {
		free(path);
		free(value);
		return;
	}
	a->writes[a->n_writes++] = (struct plan_write){ .path = path, .value = value };
}

static void action_reason(struct ctx *c, ssize_t i, char *reason)
{
	struct action *a = &c->p->actions[i];

	free(a->reason);
	a->reason = reason;
}

static void action_dep(struct ctx *c, ssize_t i, ssize_t dep)
{
	struct action *a = &c->p->actions[i];

	if (dep < 0 || dep == i)
		return;
	for (size_t k = 0; k < a->n_depends_on; k++)
		if (a->depends_on[k] == (size_t)dep)
			return;
	a->depends_on = xrealloc(a->depends_on, (a->n_depends_on + 1) * sizeof(*a->depends_on));
	a->depends_on[a->n_depends_on++] = (size_t)dep;
}

/*
 * Whether a running guest keeps ms from being changed now.  Asked only for
 * mdevs that get an action: a running guest is read off the host on demand,
 * so a converged host costs no look-up at all.
 */
static bool ms_blocked(struct ctx *c, struct mstate *ms)
{
	bool maybe; /* nothing could tell whether a guest runs: said so in the reason */

	if (ms->block_checked)
		return ms->blocked;
	ms->block_checked = true;
	if (!ms->m || !live_mdev_in_use(c->l, ms->m))
		return false;
	maybe = ms->m->in_use_unknown;
	if (ms->class == MDEV_OWNED) {
		ms->blocked = true;
		ms->block_reason = maybe ? REASON_MAYBE_NO_REMOVE : REASON_NO_REMOVE;
	} else if (ms->class == MDEV_MANAGED) {
		if (c->l->profile != PROFILE_DYNAMIC) {
			ms->blocked = true;
			ms->block_reason = maybe ? REASON_MAYBE_NO_HOTPLUG : REASON_NO_HOTPLUG;
		} else if (!(c->flags & PLAN_FORCE)) {
			ms->blocked = true;
			ms->block_reason = maybe ? REASON_MAYBE_FORCE : REASON_FORCE;
			ms->force_helps = true;
		} else
			ms->hot = true;
	}
	return ms->blocked;
}

/* What a change of this kind does to a running guest; ap_config: ap_config_action(). */
static unsigned action_hot(enum action_kind kind)
{
	switch (kind) {
	case ACTION_ASSIGN_ADAPTER:
	case ACTION_ASSIGN_DOMAIN:
	case ACTION_ASSIGN_CONTROL_DOMAIN:
		return HOT_PLUG;
	case ACTION_UNASSIGN_ADAPTER:
	case ACTION_UNASSIGN_DOMAIN:
	case ACTION_UNASSIGN_CONTROL_DOMAIN:
	case ACTION_REMOVE_MDEV:
		return HOT_UNPLUG;
	default:
		return 0;
	}
}

/* The dimension of the configuration an assign or unassign changes, else -1. */
static int action_dim(enum action_kind kind)
{
	switch (kind) {
	case ACTION_ASSIGN_ADAPTER:
	case ACTION_UNASSIGN_ADAPTER:
		return DIM_ADAPTER;
	case ACTION_ASSIGN_DOMAIN:
	case ACTION_UNASSIGN_DOMAIN:
		return DIM_DOMAIN;
	case ACTION_ASSIGN_CONTROL_DOMAIN:
	case ACTION_UNASSIGN_CONTROL_DOMAIN:
		return DIM_CONTROL_DOMAIN;
	default:
		return -1;
	}
}

unsigned plan_action_hot(const struct action *a)
{
	if (a->kind == ACTION_WRITE_AP_CONFIG)
		return (matrix_grows(&a->from, &a->matrix) ? HOT_PLUG : 0) |
		       (matrix_grows(&a->matrix, &a->from) ? HOT_UNPLUG : 0);
	return action_hot(a->kind);
}

/*
 * An action on mdev ms; pending right away when the mdev is blocked.  It
 * points at the guest's declaration: the list entry of its number, or the
 * guest's key (an unassign: the number is no longer listed).
 */
static ssize_t mdev_action(struct ctx *c, struct mstate *ms, enum action_kind kind, enum plan_phase phase,
			   unsigned number)
{
	const char *guest = ms->guest >= 0 ? c->guests[ms->guest].g->name
			    : ms->m && ms->m->owner_guest ? ms->m->owner_guest
							  : NULL;
	ssize_t i = action_new(c, kind, phase, guest, ms->uuid, number, ms);
	struct action *a = &c->p->actions[i];

	/* what waits for this mdev's guest names it so, at plan time or when apply holds it back */
	a->waits_for = xstrdup(ms->who);
	a->undeclared = ms->guest < 0 && ms->m && ms->m->owned && ms->m->owner_guest;
	if (ms->guest >= 0) {
		const struct desired_guest *g = c->guests[ms->guest].g;
		const struct mark *mk = action_dim(kind) >= 0 ? desired_guest_mark(g, action_dim(kind), number) : &g->mark;

		if (mk->file) {
			a->file = xstrdup(mk->file);
			a->line = mk->line;
			a->column = mk->col;
		}
	}
	if (ms_blocked(c, ms)) {
		a->pending = true;
		a->force_helps = ms->force_helps;
		a->force_hot = ms->force_helps ? action_hot(kind) : 0;
		a->maybe_running = ms->m->in_use_unknown; /* blocked: ms->m is set */
		action_reason(c, i, xstrdup(ms->block_reason));
	} else if (ms->hot)
		a->hot = action_hot(kind);
	return i;
}

/* ---- classification and checks ---- */

static int guest_cmp(const void *a, const void *b)
{
	const struct gstate *x = a, *y = b;

	return strcmp(x->g->name, y->g->name);
}

static int mdev_ptr_cmp(const void *a, const void *b)
{
	const struct live_mdev *const *x = a, *const *y = b;

	return strcasecmp((*x)->uuid, (*y)->uuid);
}

static void classify(struct ctx *c)
{
	const struct live *l = c->l;
	const struct live_mdev **sorted = xcalloc(l->n_mdevs, sizeof(*sorted));

	for (size_t i = 0; i < l->n_mdevs; i++)
		sorted[i] = &l->mdevs[i];
	qsort(sorted, l->n_mdevs, sizeof(*sorted), mdev_ptr_cmp);

	c->ms = xcalloc(l->n_mdevs + c->n_guests, sizeof(*c->ms));
	for (size_t i = 0; i < l->n_mdevs; i++) {
		struct mstate *ms = &c->ms[c->n_ms++];

		*ms = (struct mstate){ .m = sorted[i], .uuid = sorted[i]->uuid, .guest = -1,
				       .live = sorted[i]->matrix, .who = sorted[i]->uuid };
		ms->class = sorted[i]->owned ? MDEV_OWNED : MDEV_FOREIGN;
	}
	free(sorted);

	for (size_t gi = 0; gi < c->n_guests; gi++) {
		struct gstate *g = &c->guests[gi];
		ssize_t found = -1;

		g->ms = -1;
		/* the live mdevs come first in c->ms, in the order of mdev_ptr_cmp() */
		{
			size_t lo = 0, hi = l->n_mdevs;

			while (lo < hi && found < 0) {
				size_t mid = lo + (hi - lo) / 2;
				int r = strcasecmp(c->ms[mid].uuid, g->g->uuid);

				if (!r)
					found = (ssize_t)mid;
				else if (r < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
		}
		if (found >= 0 && c->ms[found].guest >= 0) {
			plan_error(c, g->g->name, "guest '%s': uuid %s is also used by guest '%s'", g->g->name, g->g->uuid,
				   c->guests[c->ms[found].guest].g->name);
			g->skip = true;
			continue;
		}
		if (found < 0) {
			found = (ssize_t)c->n_ms++;
			c->ms[found] = (struct mstate){ .uuid = g->g->uuid };
		}
		c->ms[found].class = MDEV_MANAGED;
		c->ms[found].guest = (ssize_t)gi;
		c->ms[found].who = g->g->name;
		g->ms = found;
	}

	for (size_t k = 0; k < c->n_ms; k++) {
		struct mstate *ms = &c->ms[k];

		ms->create_id = ms->remove_id = ms->inter_id = ms->final_id = -1;
	}
}

static void index_queues(struct ctx *c)
{
	for (size_t i = 0; i < c->l->n_queues; i++) {
		const struct live_queue *q = &c->l->queues[i];

		if (q->adapter > 255 || q->domain > 255)
			continue;
		bitmap_set(&c->q_exists[q->adapter], q->domain);
		if (q->kind == QUEUE_DRIVER_HOST)
			bitmap_set(&c->q_host[q->adapter], q->domain);
		else if (q->kind == QUEUE_DRIVER_VFIO)
			bitmap_set(&c->q_vfio[q->adapter], q->domain);
		else if (q->kind == QUEUE_DRIVER_NONE)
			bitmap_set(&c->q_unbound[q->adapter], q->domain);
	}
	for (size_t gi = 0; gi < c->n_guests; gi++) {
		const struct apqn_matrix *m = &c->guests[gi].g->matrix;

		if (c->guests[gi].g->failed) /* its mdev stays as it is: what it would gain goes back */
			continue;
		BITMAP_FOREACH(a, &m->adapters)
		c->wanted[a] = bitmap_or(&c->wanted[a], &m->domains);
	}
}

static const struct live_queue *find_queue(const struct live *l, unsigned a, unsigned d)
{
	for (size_t i = 0; i < l->n_queues; i++)
		if (l->queues[i].adapter == a && l->queues[i].domain == d)
			return &l->queues[i];
	return NULL;
}

static bool host_owned_live(const struct ctx *c, unsigned a, unsigned d)
{
	const struct live_queue *q = live_find_queue(c->l, a, d);

	/* 6.19+: an override decides instead of the masks (ap_owned_by_def_drv, kernel-abi.md §2.6) */
	if (q && q->driver_override)
		return !streq(q->driver_override, c->vfio_driver);
	return c->masks && bitmap_test(&c->l->apmask, a) && bitmap_test(&c->l->aqmask, d);
}

/*
 * " (FILE:LINE:COL)" of a host setting when a message at here (a guest's
 * line) invokes it and it was given in another file, e.g. a drop-in: the
 * reader must not assume it is in the file the message names.  Else "".
 */
static char *setting_at(const struct mark *setting, const struct mark *here)
{
	if (!setting->file || (here && here->file && streq(here->file, setting->file)))
		return xstrdup("");
	return xasprintf(" (%s:%u:%u)", setting->file, setting->line, setting->col);
}

/*
 * With host.masks: off the admin reserves the queues (masks, chzdev,
 * driver_override): say which write releases this one.  Either mask bit
 * does, and each releases a whole row or column of the host's queues.
 */
static char *masks_off_reserved(const struct ctx *c, const struct gstate *g, unsigned a, unsigned d)
{
	const struct live_queue *q = live_find_queue(c->l, a, d);
	_cleanup_free_ char *at = setting_at(&c->d->masks_mark, desired_guest_mark(g->g, DIM_DOMAIN, d));
	char buf[APQN_STR_LEN];

	apqn_format(buf, a, d);
	/* a host that reserves per queue (6.19+) refuses mask writes: the override is the way there */
	if (q && (q->driver_override || c->l->driver_override_in_use)) {
		_cleanup_free_ char *has = q->driver_override ? xasprintf("has driver_override '%s'", q->driver_override)
							      : xstrdup("has no driver_override on a host that uses them");
		_cleanup_free_ char *unbind = q->driver ? xasprintf("; echo %s > /sys/%s/%s/unbind", buf,
								  SYSFS_AP_BUS "/drivers", q->driver)
							: NULL;

		return xasprintf("guest '%s': APQN %s %s and host.masks is off%s: hand it to %s "
				 "(echo %s > /sys/%s/%s/driver_override%s; echo %s > /sys/%s/drivers_probe)",
				 g->g->name, buf, has, at, c->vfio_driver, c->vfio_driver, SYSFS_AP_BUS_DEVICES,
				 buf, unbind ? unbind : "", buf, SYSFS_AP_BUS);
	}
	return xasprintf("guest '%s': APQN %s is still reserved for host drivers and host.masks is off%s: clear "
			 "apmask bit 0x%02x (all of adapter 0x%02x) or aqmask bit 0x%02x (all of domain 0x%02x), "
			 "e.g. echo -0x%02x > /sys/%s, or set host.masks: auto",
			 g->g->name, buf, at, a, a, d, d, d, SYSFS_AQMASK);
}

static void check_range(struct ctx *c, struct gstate *g, const struct bitmap256 *bits, unsigned max,
			enum desired_dim dim, const char *what)
{
	struct bitmap256 lim = bitmap_upto(max), over = bitmap_andnot(bits, &lim);
	_cleanup_free_ char *list = NULL;

	if (bitmap_empty(&over))
		return;
	list = bitmap_format_ranges(&over, 2);
	plan_error_at(c, desired_guest_mark(g->g, dim, (unsigned)bitmap_next(&over, 0)), g->g->name,
		      "guest '%s': %s %s beyond this host's maximum 0x%02x", g->g->name, what, list ? list : "?", max);
	g->skip = true;
}

/* Per-APQN errors for one guest: at most MAX_APQN_DIAGS lines, then a count. */
struct apqn_report {
	struct ctx *c;
	struct gstate *g;
	unsigned n;
	bool note; /* only a note: the guest is not refused */
};

/* Counts one APQN; true when its line is to be said (the first MAX_APQN_DIAGS). */
static bool apqn_report_count(struct apqn_report *r)
{
	r->n++;
	if (!r->note) {
		r->g->skip = true;
		r->c->errors = true;
	} else {
		r->g->needs_dynamic = true;
		if (r->c->flags & PLAN_DEFER_UNCERTAIN)
			return false; /* apply plans the guest again once it knows */
	}
	return r->n <= MAX_APQN_DIAGS;
}

static void apqn_report_text(struct apqn_report *r, unsigned d, const char *text)
{
	/* The domain entry: a domain list is where an admin moves a queue between guests. */
	const struct mark *m = desired_guest_mark(r->g->g, DIM_DOMAIN, d);

	diag_add(r->c->diags, r->note ? DIAG_NOTE : DIAG_ERROR, m && m->file ? m : NULL, r->g->g->name, "%s", text);
}

/* fmt takes the guest's name and the APQN */
static void apqn_report(struct apqn_report *r, unsigned a, unsigned d, const char *fmt)
{
	char buf[APQN_STR_LEN];
	_cleanup_free_ char *text = NULL;

	if (!apqn_report_count(r))
		return;
	text = xasprintf(fmt, r->g->g->name, apqn_format(buf, a, d));
	apqn_report_text(r, d, text);
}

static void apqn_report_done(struct apqn_report *r)
{
	if (r->n <= MAX_APQN_DIAGS || (r->note && (r->c->flags & PLAN_DEFER_UNCERTAIN)))
		return;
	/* apqn_report() has set c->errors already when it is an error */
	diag_add(r->c->diags, r->note ? DIAG_NOTE : DIAG_ERROR, NULL, r->g->g->name,
		 "guest '%s': %u more APQNs with the same problem", r->g->g->name, r->n - MAX_APQN_DIAGS);
}

static bool keep_forbids_adapter(const struct ctx *c, unsigned a)
{
	return c->d->has_keep && bitmap_test(&c->d->keep_adapters, a);
}

static bool keep_forbids_domain(const struct ctx *c, unsigned d)
{
	return c->d->has_keep && bitmap_test(&c->d->keep_domains, d);
}

/* An APQN that host.keep reserves (compile's check_keep() reports a guest that wants one) */
static bool kept(const struct ctx *c, unsigned a, unsigned d)
{
	return keep_forbids_adapter(c, a) && keep_forbids_domain(c, d);
}

/*
 * The short why of a guest left out for the queues mdev ms holds: "APQN
 * 05.0047 is assigned to mdev UUID (not managed by apmatrix)", "APQNs 05.0047
 * 05.0048 are ...", "APQNs 05.0047 05.0048 05.0049 ... (5) are ...";
 * what: after the UUID.  malloc'd.
 */
static char *held_why(const struct apqn_matrix *want, const struct mstate *ms, const char *what)
{
	unsigned n = 0;
	_cleanup_free_ char *list = matrix_format_overlap_n(want, &ms->live, 3, &n);
	_cleanup_free_ char *more = n > 3 ? xasprintf(" ... (%u)", n) : NULL;

	return xasprintf("APQN%s %s%s %s assigned to mdev %s%s", n == 1 ? "" : "s", list ? list : "?",
			 more ? more : "", n == 1 ? "is" : "are", ms->uuid, what);
}

/*
 * The short why of a guest left out for errors of its own: the first the
 * plan gave about it, without its "guest 'NAME': "; malloc'd.
 */
static char *own_error_why(const struct ctx *c, const char *name)
{
	_cleanup_free_ char *prefix = xasprintf("guest '%s': ", name);

	for (size_t i = 0; i < c->diags->n; i++) {
		const struct diag *e = &c->diags->items[i];

		if (e->severity == DIAG_ERROR && e->guest && streq(e->guest, name))
			return xstrdup(e->message + (strncmp(e->message, prefix, strlen(prefix)) ? 0 : strlen(prefix)));
	}
	return xstrdup("errors of its own");
}

/* Checks that depend on this guest only (and on the host). */
static void check_guest(struct ctx *c, size_t gi)
{
	struct gstate *g = &c->guests[gi];
	const struct apqn_matrix *want = &g->g->matrix;
	const struct live *l = c->l;
	const struct mstate *own = g->ms >= 0 ? &c->ms[g->ms] : NULL;

	if (g->g->refused) { /* hostcheck_mdevctl() has said why */
		g->skip = true;
		c->errors = true;
		return;
	}
	if (g->g->failed) { /* apply has said what failed: its mdev stays as it is */
		g->skip = true;
		return;
	}
	check_range(c, g, &want->adapters, l->max_adapter, DIM_ADAPTER, "adapters");
	check_range(c, g, &want->domains, l->max_domain, DIM_DOMAIN, "domains");
	{
		/* a usage domain that is a control domain too (usage-as-control) is said once, as a domain */
		struct bitmap256 control = bitmap_andnot(&want->control_domains, &want->domains);

		check_range(c, g, &control, l->max_domain, DIM_CONTROL_DOMAIN, "control domains");
	}

	/* Foreign mdevs are never written: whatever they hold stays there. */
	for (size_t k = 0; k < c->n_ms; k++) {
		const struct mstate *ms = &c->ms[k];
		struct apqn_report r = { c, g, 0, false };
		_cleanup_free_ char *fmt = NULL;

		if (ms->class != MDEV_FOREIGN || !matrix_overlap(want, &ms->live))
			continue;
		/*
		 * Say what unblocks the guest: apmatrix never removes an mdev it
		 * did not make, but manages one whose UUID is declared (FILES,
		 * /run/apmatrix/state).
		 */
		fmt = xasprintf("guest '%%s': APQN %%s is assigned to mdev %s (not managed by apmatrix); remove it "
				"(echo 1 > /sys/%s/%s/remove) once its guest is stopped, or declare it: uuid: %s "
				"on the guest that should have the queue",
				ms->uuid, c->matrix_path, ms->uuid, ms->uuid);
		BITMAP_FOREACH(a, &want->adapters)
		BITMAP_FOREACH(d, &want->domains)
		if (matrix_has_apqn(&ms->live, (unsigned)a, (unsigned)d))
			apqn_report(&r, (unsigned)a, (unsigned)d, fmt);
		apqn_report_done(&r);
		if (!g->why)
			g->why = held_why(want, ms, " (not managed by apmatrix)");
	}

	/*
	 * Two declared guests with the same APQN: compile has said so, naming
	 * both places (only check and show plan such a configuration); the
	 * guest is left out, without saying it again in other words.
	 */
	for (size_t oi = 0; oi < c->n_guests && !g->skip; oi++)
		if (oi != gi && matrix_overlap(want, &c->guests[oi].g->matrix)) {
			g->skip = true;
			c->errors = true;
		}

	/*
	 * An APQN that host.keep reserves: compile has said so too, naming the
	 * guest, the APQNs and where host.keep is (check_keep()); the guest is
	 * left out, and the checks below pass over kept APQNs, which no mask
	 * write could give the guest.
	 */
	if (c->d->has_keep) {
		const struct apqn_matrix keep = { .adapters = c->d->keep_adapters, .domains = c->d->keep_domains };

		if (matrix_overlap(want, &keep)) {
			g->skip = true;
			c->errors = true;
		}
	}

	/*
	 * Before 6.0 assignment needs the queue, bound to vfio_ap (kernel-abi.md
	 * §2.5).  A 6.0 - 6.11 host without any mdev looks static too (live.h,
	 * profile_certain): there the guest is not refused, only told; apply
	 * creates the mdevs first and plans again with the interface known.
	 */
	if (l->profile == PROFILE_STATIC) {
		struct apqn_report r = { c, g, 0, !l->profile_certain };

		BITMAP_FOREACH(a, &want->adapters)
		BITMAP_FOREACH(d, &want->domains)
		if (!apqn_in(c->q_exists, (unsigned)a, (unsigned)d) &&
		    !(own && matrix_has_apqn(&own->live, (unsigned)a, (unsigned)d)) &&
		    (unsigned)a <= l->max_adapter && (unsigned)d <= l->max_domain) /* beyond: check_range() said it */
			apqn_report(&r, (unsigned)a, (unsigned)d,
				    l->profile_certain
					    ? "guest '%s': APQN %s does not exist on this host; kernels before 6.0 cannot "
					      "assign absent queues"
					    : "guest '%s': APQN %s does not exist on this host; it can be assigned only if "
					      "the kernel is 6.0 or later, which the first mdev tells");
		apqn_report_done(&r);
	}

	if (c->masks && !c->masks_auto) {
		struct apqn_report r = { c, g, 0, false };

		BITMAP_FOREACH(a, &want->adapters)
		BITMAP_FOREACH(d, &want->domains)
		if (host_owned_live(c, (unsigned)a, (unsigned)d) && !kept(c, (unsigned)a, (unsigned)d) &&
		    apqn_report_count(&r)) {
			_cleanup_free_ char *text = masks_off_reserved(c, g, (unsigned)a, (unsigned)d);
			apqn_report_text(&r, (unsigned)d, text);
		}
		apqn_report_done(&r);
	}

}

/*
 * A guest with errors keeps its mdev as it is; another guest that wants what
 * that mdev holds would fail with EADDRINUSE, so it is skipped too (to a
 * fixpoint).
 */
static void check_kept_mdevs(struct ctx *c)
{
	bool changed = true;

	while (changed) {
		changed = false;
		for (size_t gi = 0; gi < c->n_guests; gi++) {
			struct gstate *g = &c->guests[gi];
			char buf[APQN_STR_LEN];

			if (g->skip)
				continue;
			for (size_t k = 0; k < c->n_ms && !g->skip; k++) {
				const struct mstate *ms = &c->ms[k];
				const struct apqn_matrix *want = &g->g->matrix;

				if (ms->class != MDEV_MANAGED || ms->guest < 0 || (size_t)ms->guest == gi ||
				    !c->guests[ms->guest].skip || !matrix_overlap(want, &ms->live))
					continue;
				BITMAP_FOREACH(a, &want->adapters)
				BITMAP_FOREACH(d, &want->domains)
				if (!g->skip && matrix_has_apqn(&ms->live, (unsigned)a, (unsigned)d)) {
					_cleanup_free_ char *of = xasprintf(" of guest '%s', left unchanged because of its errors",
									    c->guests[ms->guest].g->name);

					plan_error(c, g->g->name,
						   "guest '%s': APQN %s is assigned to mdev %s of guest '%s', which is "
						   "left unchanged because of its errors",
						   g->g->name, apqn_format(buf, (unsigned)a, (unsigned)d),
						   ms->uuid, c->guests[ms->guest].g->name);
					if (!g->why)
						g->why = held_why(want, ms, of);
					g->skip = true;
					changed = true;
				}
			}
		}
	}
}

/*
 * A guest renamed without uuid: its derived UUID changes with the name, so
 * the plan removes the old mdev and creates another, and the libvirt domain
 * that names the old UUID no longer starts.  Nothing is wrong with the
 * configuration as such: warn where an mdev apmatrix made for a guest no
 * longer declared has exactly the matrix of a newly declared guest whose
 * UUID is derived, naming both UUIDs and how to keep the old one.
 */
static void rename_hints(struct ctx *c)
{
	for (size_t gi = 0; gi < c->n_guests; gi++) {
		const struct gstate *g = &c->guests[gi];
		const struct desired_guest *dg = g->g;

		if (!dg->uuid_derived || g->ms < 0 || c->ms[g->ms].m)
			continue;
		for (size_t k = 0; k < c->n_ms; k++) {
			const struct mstate *ms = &c->ms[k];
			const char *old = ms->m ? ms->m->owner_guest : NULL;

			/* the old name still declared (with a uuid: of its own): no rename */
			if (ms->class != MDEV_OWNED || !old || desired_find_guest(c->d, old) ||
			    !matrix_equal(&ms->live, &dg->matrix))
				continue;
			diag_add(c->diags, DIAG_WARNING, dg->mark.file ? &dg->mark : NULL, dg->name,
				 "guest '%s': looks like guest '%s' renamed: its UUID changes from %s to %s (derived "
				 "from the name); libvirt domains that name %s will not find it: keep it with uuid: %s",
				 dg->name, old, ms->uuid, dg->uuid, ms->uuid, ms->uuid);
			break;
		}
	}
}

/*
 * PLAN_DEFER_UNCERTAIN: a guest that names absent queues on a host whose
 * interface cannot be told yet waits for the next round when another
 * guest's create tells it; only when every guest would wait are they
 * created (an mdev must exist for the kernel to show its interface).
 */
static void defer_uncertain(struct ctx *c)
{
	bool other = false;

	if (!(c->flags & PLAN_DEFER_UNCERTAIN) || c->l->profile_certain)
		return;
	for (size_t gi = 0; gi < c->n_guests && !other; gi++)
		other = !c->guests[gi].skip && !c->guests[gi].needs_dynamic;
	for (size_t gi = 0; other && gi < c->n_guests; gi++)
		if (c->guests[gi].needs_dynamic)
			c->guests[gi].skip = true;
}

/* ---- masks: minimum weighted vertex cover by max-flow / min-cut ---- */

#define FLOW_INF ((int64_t)1 << 52)
#define FLOW_FORBIDDEN ((int64_t)1 << 50)
#define FLOW_SOURCE 0
#define FLOW_SINK 1
#define FLOW_ADAPTER(a) (2 + (a))
#define FLOW_DOMAIN(d) (2 + 256 + (d))
#define FLOW_NODES (2 + 512)

struct flow_edge {
	int to, next;
	int64_t cap;
};

struct flow {
	struct flow_edge *e;
	size_t n, cap;
	int head[FLOW_NODES], it[FLOW_NODES], level[FLOW_NODES];
};

static void flow_add(struct flow *f, int u, int v, int64_t cap)
{
	f->e = xgrow_raw(f->e, &f->cap, f->n + 2, sizeof(*f->e)); /* sized by compute_cover() */
	f->e[f->n] = (struct flow_edge){ .to = v, .next = f->head[u], .cap = cap };
	f->head[u] = (int)f->n++;
	f->e[f->n] = (struct flow_edge){ .to = u, .next = f->head[v], .cap = 0 };
	f->head[v] = (int)f->n++;
}

static bool flow_bfs(struct flow *f)
{
	int queue[FLOW_NODES], qh = 0, qt = 0;

	for (int i = 0; i < FLOW_NODES; i++)
		f->level[i] = -1;
	f->level[FLOW_SOURCE] = 0;
	queue[qt++] = FLOW_SOURCE;
	while (qh < qt) {
		int u = queue[qh++];

		for (int i = f->head[u]; i >= 0; i = f->e[i].next)
			if (f->e[i].cap > 0 && f->level[f->e[i].to] < 0) {
				f->level[f->e[i].to] = f->level[u] + 1;
				queue[qt++] = f->e[i].to;
			}
	}
	return f->level[FLOW_SINK] >= 0;
}

static int64_t flow_dfs(struct flow *f, int u, int64_t pushed)
{
	if (u == FLOW_SINK)
		return pushed;
	for (; f->it[u] >= 0; f->it[u] = f->e[f->it[u]].next) {
		int i = f->it[u];
		struct flow_edge *e = &f->e[i];

		if (e->cap > 0 && f->level[e->to] == f->level[u] + 1) {
			int64_t r = flow_dfs(f, e->to, pushed < e->cap ? pushed : e->cap);

			if (r > 0) {
				e->cap -= r;
				f->e[i ^ 1].cap += r;
				return r;
			}
		}
	}
	return 0;
}

/*
 * Weight of clearing a mask bit, in three ranks that never trade against
 * each other: the existing host queues it would take that no declared guest
 * wants (COVER_QUEUE each), then a bit apmatrix does not hold yet
 * (COVER_NEW), then a bit apmatrix holds already (COVER_HELD).  No number
 * of new bits outweighs one host queue, and no number of held bits
 * outweighs one new bit: the cover takes from the host only what it must,
 * then keeps the layout that is in place whenever it still covers, so a
 * converged host keeps its cover and a change does not trade held bits for
 * a smaller set of new ones (a write on each mask and Ansible's "changed",
 * for nothing).  Among covers of held bits alone the smallest wins: bits
 * left out are given back.  An adapter bit of a card that is not there
 * (hot unplugged, out of the LPAR for now) weighs the queues the card would
 * have when it comes back: one per domain of the LPAR (a card has the
 * LPAR's usage domains; without QCI, the domains the present cards have).
 * Counted as free, it would be the cheap cover while the card is away, and
 * its return would hand the whole card to vfio_ap, then the plan would
 * trade it for the old bits again: host queues taken and given back on
 * every unplug and plug.  The minimal source side of the min cut is unique,
 * which makes the result independent of augmenting order.
 */
#define COVER_HELD ((int64_t)1)
#define COVER_NEW ((int64_t)1024)	     /* > 512 held bits */
#define COVER_QUEUE ((int64_t)1 << 20) /* > 512 new bits; 2^16 queues * 2 stay below FLOW_FORBIDDEN */
static void compute_cover(struct ctx *c)
{
	const struct live *l = c->l;
	struct bitmap256 edge_ap = { { 0 } }, edge_aq = { { 0 } };
	struct bitmap256 present_ap = { { 0 } }, seen_aq = { { 0 } }, away;
	struct bitmap256 edges[256];
	int64_t w_ap[256] = { 0 }, w_aq[256] = { 0 };
	struct flow *f;
	bool reach[FLOW_NODES] = { false };
	int queue[FLOW_NODES], qh = 0, qt = 0;

	memset(edges, 0, sizeof(edges));
	for (size_t gi = 0; gi < c->n_guests; gi++) {
		const struct gstate *g = &c->guests[gi];

		if (g->skip)
			continue;
		BITMAP_FOREACH(a, &g->g->matrix.adapters)
		{
			struct bitmap256 dd;

			if (!bitmap_test(&c->base_ap, (unsigned)a))
				continue;
			dd = bitmap_and(&g->g->matrix.domains, &c->base_aq);
			if (bitmap_empty(&dd))
				continue;
			edges[a] = bitmap_or(&edges[a], &dd);
			bitmap_set(&edge_ap, (unsigned)a);
			edge_aq = bitmap_or(&edge_aq, &dd);
		}
	}
	if (bitmap_empty(&edge_ap))
		return;

	/* host queues lost per bit */
	for (size_t i = 0; i < l->n_queues; i++) {
		unsigned a = l->queues[i].adapter, d = l->queues[i].domain;

		if (a > 255 || d > 255)
			continue;
		bitmap_set(&present_ap, a);
		bitmap_set(&seen_aq, d);
		if (!bitmap_test(&c->base_ap, a) || !bitmap_test(&c->base_aq, d) || apqn_in(c->wanted, a, d))
			continue;
		w_ap[a] += COVER_QUEUE;
		w_aq[d] += COVER_QUEUE;
	}
	/*
	 * Cards away (a guest's, or the LPAR's by QCI): the host queues they
	 * bring back, lost with their adapter bit or with a domain bit, so
	 * that a card's unplug and return change no mask.
	 */
	away = l->has_qci ? bitmap_or(&l->cfg_adapters, &edge_ap) : edge_ap;
	away = bitmap_andnot(&away, &present_ap);
	away = bitmap_and(&away, &c->base_ap);
	BITMAP_FOREACH(a, &away)
	{
		struct bitmap256 back = l->has_qci ? l->cfg_domains : seen_aq;

		back = bitmap_and(&back, &c->base_aq);
		back = bitmap_andnot(&back, &c->wanted[a]);
		w_ap[a] += COVER_QUEUE * bitmap_count(&back);
		BITMAP_FOREACH(d, &back)
		w_aq[d] += COVER_QUEUE;
	}
	for (unsigned n = 0; n < 256; n++) {
		bool held_ap = bitmap_test(&l->apmask_taken, n) && !bitmap_test(&l->apmask, n);
		bool held_aq = bitmap_test(&l->aqmask_taken, n) && !bitmap_test(&l->aqmask, n);

		w_ap[n] += held_ap ? COVER_HELD : COVER_NEW;
		w_aq[n] += held_aq ? COVER_HELD : COVER_NEW;
		if (keep_forbids_adapter(c, n))
			w_ap[n] = FLOW_FORBIDDEN;
		if (keep_forbids_domain(c, n))
			w_aq[n] = FLOW_FORBIDDEN;
	}

	f = xcalloc(1, sizeof(*f));
	for (int i = 0; i < FLOW_NODES; i++)
		f->head[i] = -1;
	/* every edge and its reverse, in one allocation of the right size */
	f->cap = (size_t)bitmap_count(&edge_ap) + bitmap_count(&edge_aq);
	for (int a = 0; a < 256; a++)
		f->cap += bitmap_count(&edges[a]);
	f->cap *= 2;
	f->e = xmalloc(f->cap * sizeof(*f->e));
	/* added in descending order so that adjacency lists run ascending */
	for (int a = 255; a >= 0; a--)
		if (bitmap_test(&edge_ap, (unsigned)a))
			flow_add(f, FLOW_SOURCE, FLOW_ADAPTER(a), w_ap[a]);
	for (int d = 255; d >= 0; d--)
		if (bitmap_test(&edge_aq, (unsigned)d))
			flow_add(f, FLOW_DOMAIN(d), FLOW_SINK, w_aq[d]);
	for (int a = 255; a >= 0; a--) {
		int ds[256], n = 0;

		if (!bitmap_test(&edge_ap, (unsigned)a))
			continue;
		BITMAP_FOREACH(d, &edges[a])
		ds[n++] = d;
		while (n > 0)
			flow_add(f, FLOW_ADAPTER(a), FLOW_DOMAIN(ds[--n]), FLOW_INF);
	}

	while (flow_bfs(f)) {
		for (int i = 0; i < FLOW_NODES; i++)
			f->it[i] = f->head[i];
		while (flow_dfs(f, FLOW_SOURCE, FLOW_INF) > 0)
			;
	}

	/* source side of the minimal min cut */
	reach[FLOW_SOURCE] = true;
	queue[qt++] = FLOW_SOURCE;
	while (qh < qt) {
		int u = queue[qh++];

		for (int i = f->head[u]; i >= 0; i = f->e[i].next)
			if (f->e[i].cap > 0 && !reach[f->e[i].to]) {
				reach[f->e[i].to] = true;
				queue[qt++] = f->e[i].to;
			}
	}
	/* adapters cut off from the source and domains still reached are the cover */
	BITMAP_FOREACH(a, &edge_ap)
	{
		if (!reach[FLOW_ADAPTER(a)])
			bitmap_set(&c->cover_ap, (unsigned)a);
	}
	BITMAP_FOREACH(d, &edge_aq)
	{
		if (reach[FLOW_DOMAIN(d)])
			bitmap_set(&c->cover_aq, (unsigned)d);
	}
	free(f->e);
	free(f);
}

static void setup_masks(struct ctx *c)
{
	const struct live *l = c->l;

	c->masks = (l->features & FEATURE_MASKS) && l->profile != PROFILE_RFC2017;
	c->masks_auto = c->masks && c->d->masks == CONFIG_MASKS_AUTO;
	c->take_ap_id = c->take_aq_id = -1;
	if (!c->masks_auto)
		return;
	c->base_ap = bitmap_or(&l->apmask, &l->apmask_taken);
	c->base_aq = bitmap_or(&l->aqmask, &l->aqmask_taken);
}

/* ---- per mdev actions ---- */

/*
 * Does an existing mdev's loss of usage APQNs have to happen before the
 * assign phase?  Yes when another guest wants one of them (EADDRINUSE until
 * it is gone).  An APQN that a mask release hands back to the host needs no
 * early write: the releases come after the assign phase and wait for the
 * one ap_config write that takes it out (kernel-abi.md §3: EBUSY on 6.0+).
 * Control domains never conflict.
 */
static bool removal_needed_early(const struct ctx *c, const struct mstate *ms, const struct apqn_matrix *want)
{
	BITMAP_FOREACH(a, &ms->live.adapters)
	BITMAP_FOREACH(d, &ms->live.domains)
	{
		if (matrix_has_apqn(want, (unsigned)a, (unsigned)d))
			continue;
		if (apqn_in(c->wanted, (unsigned)a, (unsigned)d))
			return true;
	}
	return false;
}

/* Whether to has an adapter, usage or control domain that from has not. */
static bool matrix_grows(const struct apqn_matrix *from, const struct apqn_matrix *to)
{
	for (int dim = 0; dim < 3; dim++) {
		struct bitmap256 added = bitmap_andnot(matrix_dim(to, dim), matrix_dim(from, dim));

		if (!bitmap_empty(&added))
			return true;
	}
	return false;
}

/* from: the matrix the write replaces (what the mdev has, or an earlier ap_config's) */
static ssize_t ap_config_action(struct ctx *c, struct mstate *ms, enum plan_phase phase,
				const struct apqn_matrix *from, const struct apqn_matrix *m)
{
	ssize_t i = mdev_action(c, ms, ACTION_WRITE_AP_CONFIG, phase, 0);
	struct action *a = &c->p->actions[i];

	a->matrix = *m;
	/* an mdev with nothing assigned: the delta would be the whole matrix again */
	a->has_from = ms->m && (!bitmap_empty(&from->adapters) || !bitmap_empty(&from->domains) ||
				!bitmap_empty(&from->control_domains));
	a->from = *from;
	if (ms->hot)
		a->hot = plan_action_hot(a);
	else if (a->pending && a->force_helps)
		a->force_hot = plan_action_hot(a);
	action_write(c, i, sysfs_path_mdev_attr(c->matrix_path, ms->uuid, "ap_config"), ap_config_value(m));
	return i;
}

/*
 * 6.0+ with single assigns: the kernel filters the guest's view only on an
 * assign that adds, a queue probe or a configuration change.  An unassign
 * clears its bit and nothing more, so an adapter left out because of a
 * domain stays out of the guest's view after that domain is gone
 * (kernel-abi.md §2.5.1), and re-writing an assigned adapter changes
 * nothing (the kernel returns early).  For an mdev whose plan adds no
 * adapter and no domain, every such adapter is unassigned and assigned
 * again: the unassign of an adapter the guest does not see touches no queue
 * of the guest, the assign filters again.  6.10+ is not planned here:
 * ap_config filters on every write.
 */
static void plan_refilter(struct ctx *c, struct mstate *ms, const struct apqn_matrix *want)
{
	const struct apqn_matrix *gm;
	struct bitmap256 stale;

	if (!ms->m)
		return;
	gm = live_mdev_guest_view(c->l, ms->m); /* NULL before 6.0 */
	if (!gm)
		return;
	stale = live_stale_adapters(c->l, ms->m, want, gm);
	{
		struct bitmap256 out = bitmap_andnot(&want->adapters, &gm->adapters);

		out = bitmap_and(&out, &ms->m->kept_out);
		BITMAP_FOREACH(a, &out)
		diag_add(c->diags, DIAG_WARNING, NULL, ms->who,
			 "guest '%s': the kernel keeps adapter 0x%02x out of the guest's view, also after apply "
			 "assigned it again: one of its queues cannot be used (lszcrypt -V, the kernel log); "
			 "apply assigns it again once the kernel has shown it, or after it was unassigned",
			 ms->who, a);
	}
	BITMAP_FOREACH(a, &stale)
	{
		ssize_t u = mdev_action(c, ms, ACTION_UNASSIGN_ADAPTER, PHASE_UNASSIGN, (unsigned)a);
		ssize_t i = mdev_action(c, ms, ACTION_ASSIGN_ADAPTER, PHASE_ASSIGN, (unsigned)a);

		action_write(c, u, sysfs_path_mdev_attr(c->matrix_path, ms->uuid, "unassign_adapter"),
			     xasprintf("0x%02x", a));
		action_write(c, i, sysfs_path_mdev_attr(c->matrix_path, ms->uuid, "assign_adapter"),
			     xasprintf("0x%02x", a));
		action_dep(c, i, u);
		c->p->actions[u].refilter = c->p->actions[i].refilter = true;
		/* an adapter the guest does not see: nothing of the guest's comes or goes */
		c->p->actions[u].hot = c->p->actions[i].hot = 0;
		c->p->actions[u].force_hot = c->p->actions[i].force_hot = 0;
		/* held back for a running guest: still say that this unassign takes nothing away */
		action_reason(c, u,
			      xasprintf("%s%sleft out of the guest's view by an earlier filter of the kernel, although "
					"all its queues are bound to vfio_ap; assigned again next",
					ms->blocked ? ms->block_reason : "", ms->blocked ? "; " : ""));
		action_reason(c, i,
			      xasprintf("%s%sagain, so that the kernel filters the guest's view and shows it",
					ms->blocked ? ms->block_reason : "", ms->blocked ? "; " : ""));
	}
}

/*
 * Whether APQN (a, d) is reserved for the host drivers when the assign
 * phase runs: after the mask takes of this run (the cover's bits the live
 * masks still have, plan_takes()); an override decides alone.
 */
static bool host_owned_at_assign(const struct ctx *c, unsigned a, unsigned d)
{
	const struct live_queue *q;

	if (!host_owned_live(c, a, d))
		return false;
	q = live_find_queue(c->l, a, d);
	if (q && q->driver_override)
		return true;
	return !(c->masks_auto && (bitmap_test(&c->cover_ap, a) || bitmap_test(&c->cover_aq, d)));
}

/*
 * Whether an assign may write APQN (a, d) into ms while ms still holds a
 * number it loses later: no other guest wants it, no other mdev holds it
 * (EADDRINUSE), and the host drivers do not have it then (EADDRNOTAVAIL).
 */
static bool transient_ok(const struct ctx *c, const struct mstate *ms, unsigned a, unsigned d)
{
	if (apqn_in(c->wanted, a, d) || host_owned_at_assign(c, a, d))
		return false;
	for (size_t k = 0; k < c->n_ms; k++)
		if (&c->ms[k] != ms && c->ms[k].m && matrix_has_apqn(&c->ms[k].live, a, d))
			return false;
	return true;
}

/* Whether queue (a, d) is bound to vfio_ap once the takes of this run are written. */
static bool vfio_at_assign(const struct ctx *c, unsigned a, unsigned d)
{
	const struct live_queue *q = live_find_queue(c->l, a, d);

	if (!q)
		return false;
	if (q->kind == QUEUE_DRIVER_VFIO)
		return true;
	return q->kind == QUEUE_DRIVER_HOST && host_owned_live(c, a, d) && !host_owned_at_assign(c, a, d);
}

/*
 * 6.0-6.9 (one assign or unassign per write, hot plug): which of the
 * adapters and usage domains an existing mdev loses are unassigned after its
 * assigns (ms->late_a, ms->late_d), so that a running guest is never left
 * with less than both its old and its new matrix when a mask take or an
 * assign fails on the way (it keeps the old one: what comes after a failed
 * step of a guest is not tried), as ap_config does from 6.10
 * (removal_needed_early()).  Only for an mdev that gains an adapter or a
 * usage domain: else there is no assign to wait for, and an adapter the
 * kernel's filter left out is assigned again after the unassigns
 * (plan_refilter()).  A number is unassigned first, as before, when
 *   - another guest wants an APQN it frees (EADDRINUSE until it is gone);
 *   - the assigns would write, with it still there, an APQN that is not
 *     this guest's and not the mdev's (a lost adapter x a gained domain, a
 *     gained adapter x a lost domain) that another guest wants, another
 *     mdev holds or the host drivers have at that time (transient_ok());
 *   - a usage domain whose queue on an adapter the guest keeps or gains is
 *     not bound to vfio_ap: the kernel filters on the last assign and would
 *     keep that adapter out of the guest's view after the domain is gone
 *     (an unassign does not filter again, kernel-abi.md §2.5.1).
 * Control domains are never checked by the kernel: always after (true is
 * returned where this applies at all, and the caller unassigns them late).
 * Pre-6.0 kernels refuse any change of a running guest and check every
 * queue of the new matrix; there, and with ap_config, nothing changes.
 */
static bool late_unassigns(struct ctx *c, struct mstate *ms, const struct apqn_matrix *want)
{
	const struct live *l = c->l;
	struct bitmap256 add_a = bitmap_andnot(&want->adapters, &ms->live.adapters);
	struct bitmap256 add_d = bitmap_andnot(&want->domains, &ms->live.domains);
	struct bitmap256 la = bitmap_andnot(&ms->live.adapters, &want->adapters);
	struct bitmap256 ld = bitmap_andnot(&ms->live.domains, &want->domains);

	if (l->profile != PROFILE_DYNAMIC || c->ap_config || !ms->m || (bitmap_empty(&add_a) && bitmap_empty(&add_d)))
		return false;
	/* what another guest wants goes first: both numbers, as freeing_action() depends on both */
	BITMAP_FOREACH(a, &ms->live.adapters)
	BITMAP_FOREACH(d, &ms->live.domains)
	{
		if (!matrix_has_apqn(want, (unsigned)a, (unsigned)d) && apqn_in(c->wanted, (unsigned)a, (unsigned)d)) {
			bitmap_clear(&la, (unsigned)a);
			bitmap_clear(&ld, (unsigned)d);
		}
	}
	/* the APQNs the assigns would write only because a lost number is still there */
	BITMAP_FOREACH(a, &la)
	BITMAP_FOREACH(d, &add_d)
	{
		if (!transient_ok(c, ms, (unsigned)a, (unsigned)d)) {
			bitmap_clear(&la, (unsigned)a);
			break;
		}
	}
	BITMAP_FOREACH(d, &ld)
	BITMAP_FOREACH(a, &add_a)
	{
		if (!transient_ok(c, ms, (unsigned)a, (unsigned)d)) {
			bitmap_clear(&ld, (unsigned)d);
			break;
		}
	}
	/*
	 * the filter on the last assign must not see a domain that keeps an
	 * adapter of the guest out (live_stale_adapters(): only what the LPAR
	 * has counts)
	 */
	BITMAP_FOREACH(d, &ld)
	BITMAP_FOREACH(a, &want->adapters)
	{
		if (l->has_qci && (!bitmap_test(&l->cfg_domains, (unsigned)d) || !bitmap_test(&l->cfg_adapters, (unsigned)a)))
			continue;
		if (!vfio_at_assign(c, (unsigned)a, (unsigned)d)) {
			bitmap_clear(&ld, (unsigned)d);
			break;
		}
	}
	ms->late_a = la;
	ms->late_d = ld;
	return true;
}

static void plan_guest(struct ctx *c, size_t gi)
{
	struct gstate *g = &c->guests[gi];
	struct mstate *ms = &c->ms[g->ms];
	const struct apqn_matrix *want = &g->g->matrix;
	bool filters = false; /* an assign that adds: the kernel filters the guest's view again */
	bool late_cdoms;      /* control domains go after the assigns (late_unassigns()) */

	if (!ms->m) {
		ms->create_id = mdev_action(c, ms, ACTION_CREATE_MDEV, PHASE_CREATE_MDEV, 0);
		action_write(c, ms->create_id, sysfs_path_create(c->matrix_path, c->mdev_type), xstrdup(ms->uuid));
	}

	if (c->ap_config) {
		if (matrix_equal(&ms->live, want))
			return;
		if (ms->m && removal_needed_early(c, ms, want)) {
			struct apqn_matrix inter = matrix_intersect(&ms->live, want);

			ms->inter_id = ap_config_action(c, ms, PHASE_UNASSIGN, &ms->live, &inter);
			ms->final_id = matrix_equal(&inter, want) ? ms->inter_id
								   : ap_config_action(c, ms, PHASE_ASSIGN, &inter, want);
		} else
			ms->final_id = ap_config_action(c, ms, PHASE_ASSIGN, &ms->live, want);
		return;
	}

	late_cdoms = late_unassigns(c, ms, want);
	for (int dim = 0; dim < 3; dim++) {
		struct bitmap256 gone = bitmap_andnot(matrix_dim(&ms->live, dim), matrix_dim(want, dim));
		struct bitmap256 added = bitmap_andnot(matrix_dim(want, dim), matrix_dim(&ms->live, dim));

		if (dim < 2 && !bitmap_empty(&added))
			filters = true;

		BITMAP_FOREACH(n, &gone)
		{
			bool late = dim == 0   ? bitmap_test(&ms->late_a, (unsigned)n)
				    : dim == 1 ? bitmap_test(&ms->late_d, (unsigned)n)
					       : late_cdoms;
			ssize_t i = mdev_action(c, ms, dim_table[dim].unassign, late ? PHASE_UNASSIGN_LATE : PHASE_UNASSIGN,
						(unsigned)n);

			action_write(c, i, sysfs_path_mdev_attr(c->matrix_path, ms->uuid, dim_table[dim].unassign_attr),
				     xasprintf("0x%02x", n));
			if (dim < 2 && !ms->ua) {
				ms->ua = xmalloc(2 * 256 * sizeof(*ms->ua));
				ms->ud = ms->ua + 256;
				for (int k = 0; k < 2 * 256; k++)
					ms->ua[k] = -1;
			}
			if (dim == 0)
				ms->ua[n] = i;
			else if (dim == 1)
				ms->ud[n] = i;
		}
		BITMAP_FOREACH(n, &added)
		{
			ssize_t i = mdev_action(c, ms, dim_table[dim].assign, PHASE_ASSIGN, (unsigned)n);

			action_write(c, i, sysfs_path_mdev_attr(c->matrix_path, ms->uuid, dim_table[dim].assign_attr),
				     xasprintf("0x%02x", n));
		}
	}
	if (!filters)
		plan_refilter(c, ms, want);
}

/* At most this many APQNs named in a note that a usage domain changes guests, then a count. */
#define MAX_MOVED_NAMED 4

/*
 * A usage domain keeps its master keys when it passes from one guest to
 * another: the card holds them per domain, whichever mdev the domain is
 * in, and the new guest can use the old guest's secure keys with them.  A
 * note per (old holder, new guest) pair, at the new guest's domain entry,
 * naming the usage domains, adapters and APQNs.  The old holder is a
 * declared guest's mdev or one apmatrix made for a guest no longer
 * declared; a foreign mdev is the plan's error, the host (a first
 * bring-up) holds no guest's keys, and control domains hold none.
 */
static void note_moved_usage(struct ctx *c)
{
	for (size_t gi = 0; gi < c->n_guests; gi++) {
		const struct gstate *g = &c->guests[gi];
		const struct apqn_matrix *want = &g->g->matrix;

		if (g->skip || g->ms < 0)
			continue;
		for (size_t k = 0; k < c->n_ms; k++) {
			const struct mstate *ms = &c->ms[k], *self = &c->ms[g->ms];
			const struct apqn_matrix *other = ms->guest >= 0 ? &c->guests[ms->guest].g->matrix : NULL;
			const char *old = ms->guest >= 0 ? c->guests[ms->guest].g->name : ms->m ? ms->m->owner_guest : NULL;
			struct bitmap256 ad = { { 0 } }, dm = { { 0 } };
			_cleanup_free_ char *apqns = NULL, *ads = NULL, *dms = NULL, *from = NULL, *keys = NULL;
			const struct mark *mark;
			char buf[APQN_STR_LEN];
			size_t len = 0;
			unsigned n = 0;
			FILE *f;
			bool many;

			if ((ssize_t)k == g->ms || !ms->m || ms->class == MDEV_FOREIGN || (old && streq(old, g->g->name)) ||
			    !matrix_overlap(want, &ms->live))
				continue;
			f = open_memstream(&apqns, &len);
			if (!f)
				continue;
			BITMAP_FOREACH(a, &want->adapters)
			BITMAP_FOREACH(d, &want->domains)
			{
				/* still the other declared guest's (its error), or already this guest's */
				if (!matrix_has_apqn(&ms->live, (unsigned)a, (unsigned)d) ||
				    matrix_has_apqn(&self->live, (unsigned)a, (unsigned)d) ||
				    (other && matrix_has_apqn(other, (unsigned)a, (unsigned)d)))
					continue;
				bitmap_set(&ad, (unsigned)a);
				bitmap_set(&dm, (unsigned)d);
				if (n++ < MAX_MOVED_NAMED)
					fprintf(f, "%s%s", n > 1 ? " " : "", apqn_format(buf, (unsigned)a, (unsigned)d));
			}
			if (n > MAX_MOVED_NAMED)
				fprintf(f, " and %u more", n - MAX_MOVED_NAMED);
			if (fclose(f) != 0 || !n)
				continue;
			many = bitmap_count(&dm) > 1;
			ads = bitmap_format_ranges(&ad, 2);
			dms = bitmap_format_ranges(&dm, 2);
			if (old) {
				from = xasprintf("guest '%s'%s", old,
						 ms->guest < 0 && !desired_find_guest(c->d, old) ? " (no longer declared)" : "");
				keys = xasprintf("'%s'", old);
			} else {
				from = xasprintf("mdev %s (made by apmatrix)", ms->uuid);
				keys = xstrdup("its guest");
			}
			mark = desired_guest_mark(g->g, DIM_DOMAIN, (unsigned)bitmap_next(&dm, 0));
			diag_add(c->diags, DIAG_NOTE, mark->file ? mark : NULL, g->g->name,
				 "guest '%s': takes usage domain%s %s on adapter%s %s (APQN%s %s) from %s: the domain%s "
				 "keep%s the master keys that %s set; zeroize %s (TKE or HMC) unless '%s' may use the secure "
				 "keys of %s",
				 g->g->name, many ? "s" : "", dms ? dms : "?", bitmap_count(&ad) > 1 ? "s" : "",
				 ads ? ads : "?", n > 1 ? "s" : "", apqns ? apqns : "?", from, many ? "s" : "",
				 many ? "" : "s", keys, many ? "them" : "it", g->g->name, keys);
		}
	}
}

static void plan_removals(struct ctx *c)
{
	for (size_t k = 0; k < c->n_ms; k++) {
		struct mstate *ms = &c->ms[k];

		if (ms->class != MDEV_OWNED)
			continue;
		ms->remove_id = mdev_action(c, ms, ACTION_REMOVE_MDEV, PHASE_REMOVE_MDEV, 0);
		action_write(c, ms->remove_id, sysfs_path_mdev_attr(c->matrix_path, ms->uuid, "remove"), xstrdup("1"));
		if (!ms->blocked)
			action_reason(c, ms->remove_id, xstrdup("no longer declared; created by apmatrix"));
	}
}

/* "guest1, guest2 need them" for the guests that have an APQN in rows. */
static char *needers(const struct ctx *c, const struct bitmap256 *ap, const struct bitmap256 *aq,
		     const char *one, const char *many)
{
	char *out = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	for (size_t gi = 0; gi < c->n_guests; gi++) {
		const struct gstate *g = &c->guests[gi];
		bool needs = false;

		if (g->skip)
			continue;
		BITMAP_FOREACH(a, &g->g->matrix.adapters)
		BITMAP_FOREACH(d, &g->g->matrix.domains)
		if (!needs && bitmap_test(ap, (unsigned)a) && bitmap_test(aq, (unsigned)d))
			needs = true;
		if (needs)
			fprintf(f, "%s%s", n++ ? ", " : "", g->g->name);
	}
	fprintf(f, " %s", n == 1 ? one : many);
	if (fclose(f) != 0)
		return NULL;
	return out;
}

/*
 * The queues in ap x aq that exist and that no guest of this plan uses
 * (skipped guests do not count: their queues get no mdev now): what a
 * mask take moves from the host drivers to vfio_ap beyond the guests'
 * queues (the cross product of the masks, DESIGN section 4).  cover_ap and
 * cover_aq already keep this as small as it can be; the plan says it, so
 * that nobody learns it from `status` afterwards.
 */
static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return (x > y) - (x < y);
}

/* What a mask action moves, or a list of queues: their APQNs sorted, as apqn_list_format() words them. */
static char *queues_format(uint16_t *apqns, size_t n)
{
	if (n) /* qsort's array may not be NULL, even for 0 elements */
		qsort(apqns, n, sizeof(*apqns), cmp_u16);
	return apqn_list_format(apqns, n, APQNS_NAMED);
}

/* used[a]: the domains of adapter a that the declared guests use, all 256 of them */
static void guests_used(const struct ctx *c, struct bitmap256 *used)
{
	memset(used, 0, 256 * sizeof(*used));
	for (size_t gi = 0; gi < c->n_guests; gi++) {
		const struct gstate *g = &c->guests[gi];

		if (g->skip)
			continue;
		BITMAP_FOREACH(a, &g->g->matrix.adapters)
		used[a] = bitmap_or(&used[a], &g->g->matrix.domains);
	}
}

/* *ret_list: the first of them, as queues_format() words them (NULL for none) */
static size_t collateral(const struct ctx *c, const struct bitmap256 *ap, const struct bitmap256 *aq,
			 char **ret_list)
{
	struct bitmap256 used[256];
	_cleanup_free_ uint16_t *v = NULL;
	size_t n = 0, cap = 0;

	guests_used(c, used);
	for (size_t i = 0; i < c->l->n_queues; i++) {
		const struct live_queue *q = &c->l->queues[i];

		if (bitmap_test(ap, q->adapter) && bitmap_test(aq, q->domain) &&
		    !bitmap_test(&used[q->adapter], q->domain)) {
			v = xgrow(v, &cap, n + 1, sizeof(*v));
			v[n++] = (uint16_t)(q->adapter << 8 | q->domain);
		}
	}
	*ret_list = queues_format(v, n);
	return n;
}

/* A take's words for n other queues leaving the host drivers (list: the first of them), after who needs them. */
static char *take_reason_text(const char *who, size_t n, const char *list)
{
	if (!who || !n)
		return who ? xstrdup(who) : NULL;
	return xasprintf("%s; %zu other queue%s the host too: %s", who, n, n == 1 ? " leaves" : "s leave", list);
}

/*
 * The reason of mask take i: the guests with an APQN in need_ap x need_aq,
 * and how many other queues leave the host drivers (lose_ap x lose_aq).
 */
static void take_reason(struct ctx *c, ssize_t i, const struct bitmap256 *need_ap, const struct bitmap256 *need_aq,
			const struct bitmap256 *lose_ap, const struct bitmap256 *lose_aq)
{
	struct action *a = &c->p->actions[i];
	char *who = needers(c, need_ap, need_aq, "needs them", "need them");
	_cleanup_free_ char *list = NULL;
	size_t n = collateral(c, lose_ap, lose_aq, &list);

	action_reason(c, i, take_reason_text(who, n, list));
	free(a->reason_base);
	a->reason_base = who;
}

static void plan_takes(struct ctx *c)
{
	const struct live *l = c->l;

	if (c->masks_auto) {
		c->take_ap = bitmap_and(&c->cover_ap, &l->apmask);
		c->take_aq = bitmap_and(&c->cover_aq, &l->aqmask);
		if (!bitmap_empty(&c->take_ap)) {
			ssize_t i = action_new(c, ACTION_TAKE_APMASK, PHASE_TAKE_MASK, NULL, NULL, 0, NULL);

			c->p->actions[i].bits = c->take_ap;
			action_write(c, i, xstrdup(SYSFS_APMASK), bitmap_format_relative(&c->take_ap, '-'));
			take_reason(c, i, &c->take_ap, &c->base_aq, &c->take_ap, &l->aqmask);
			c->take_ap_id = i;
		}
		if (!bitmap_empty(&c->take_aq)) {
			ssize_t i = action_new(c, ACTION_TAKE_AQMASK, PHASE_TAKE_MASK, NULL, NULL, 0, NULL);

			c->p->actions[i].bits = c->take_aq;
			action_write(c, i, xstrdup(SYSFS_AQMASK), bitmap_format_relative(&c->take_aq, '-'));
			struct bitmap256 rest_ap = bitmap_andnot(&l->apmask, &c->take_ap); /* the apmask take counts these */

			take_reason(c, i, &c->base_ap, &c->take_aq, &rest_ap, &c->take_aq);
			c->take_aq_id = i;
		}
		return;
	}

	if (l->profile != PROFILE_RFC2017)
		return;
	/* rfc2017: per queue, unbind from the host driver and bind to the vfio driver (§6) */
	c->qtake = xcalloc(256 * 256, sizeof(*c->qtake));
	for (size_t n = 0; n < 256 * 256; n++)
		c->qtake[n] = -1;
	for (size_t gi = 0; gi < c->n_guests; gi++) {
		const struct gstate *g = &c->guests[gi];

		if (g->skip)
			continue;
		BITMAP_FOREACH(a, &g->g->matrix.adapters)
		BITMAP_FOREACH(d, &g->g->matrix.domains)
		{
			unsigned number = (unsigned)a << 8 | (unsigned)d;
			char buf[APQN_STR_LEN];
			const struct live_queue *q;
			ssize_t i;

			if (!apqn_in(c->q_host, (unsigned)a, (unsigned)d) &&
			    !apqn_in(c->q_unbound, (unsigned)a, (unsigned)d))
				continue;
			q = find_queue(l, (unsigned)a, (unsigned)d);
			apqn_format(buf, (unsigned)a, (unsigned)d);
			i = action_new(c, ACTION_TAKE_QUEUE, PHASE_TAKE_MASK, NULL, NULL, number, NULL);
			if (q && q->kind == QUEUE_DRIVER_HOST)
				action_write(c, i,
					     sysfs_path_ap_driver_attr(q->driver ? q->driver : SYSFS_HOST_QUEUE_DRIVER,
								 "unbind"),
					     xstrdup(buf));
			action_write(c, i, sysfs_path_ap_driver_attr(c->vfio_driver, "bind"), xstrdup(buf));
			/* on no driver and recorded: a move of apmatrix's that failed halfway, the bind alone finishes it */
			action_reason(c, i,
				      apqn_in(c->q_unbound, (unsigned)a, (unsigned)d) &&
						      apqn_in(l->queues_taken, (unsigned)a, (unsigned)d)
					      ? xasprintf("%s needs it; an earlier move left it on no driver", g->g->name)
					      : xasprintf("%s needs it", g->g->name));
			c->qtake[number] = i;
		}
	}
}

/*
 * The action of mdev ms that frees APQN (a, d), or -1 (none).  Only the
 * releases, after the assign phase, can wait for an mdev's one ap_config
 * write (final_id without inter_id) or for an unassign after the assigns
 * (PHASE_UNASSIGN_LATE): an APQN another guest wants is freed early
 * (removal_needed_early(), late_unassigns(); both its numbers).
 */
static ssize_t freeing_action(const struct mstate *ms, unsigned a, unsigned d, ssize_t extra[static 1])
{
	extra[0] = -1;
	if (ms->remove_id >= 0)
		return ms->remove_id;
	if (ms->inter_id >= 0)
		return ms->inter_id;
	if (ms->final_id >= 0)
		return ms->final_id;
	if (!ms->ua)
		return -1;
	if (ms->ua[a] >= 0) {
		extra[0] = ms->ud[d];
		return ms->ua[a];
	}
	return ms->ud[d];
}

/* Make action i depend on whatever frees the APQNs na x nd held by mdevs other than self. */
static void depend_on_freeing(struct ctx *c, ssize_t i, const struct mstate *self, const struct bitmap256 *na,
			      const struct bitmap256 *nd)
{
	for (size_t k = 0; k < c->n_ms; k++) {
		const struct mstate *ms = &c->ms[k];
		struct bitmap256 ia, id;

		if (ms == self || !ms->m)
			continue;
		ia = bitmap_and(na, &ms->live.adapters);
		id = bitmap_and(nd, &ms->live.domains);
		if (bitmap_empty(&ia) || bitmap_empty(&id))
			continue;
		BITMAP_FOREACH(a, &ia)
		BITMAP_FOREACH(d, &id)
		{
			ssize_t extra, f = freeing_action(ms, (unsigned)a, (unsigned)d, &extra);

			action_dep(c, i, f);
			action_dep(c, i, extra);
		}
	}
}

/* The declared guest's mdev of assign (or ap_config) action a, or NULL. */
static const struct mstate *assign_mdev(const struct ctx *c, const struct action *a)
{
	if (a->phase != PHASE_ASSIGN)
		return NULL;
	for (size_t k = 0; k < c->n_ms; k++)
		if (c->ms[k].guest >= 0 && streq(c->ms[k].uuid, a->uuid))
			return &c->ms[k];
	return NULL;
}

/*
 * The APQNs na x nd that assign a of ms writes into the mdev (with what it
 * loses only after the assigns still there); false for a control domain,
 * which needs none.
 */
static bool assign_needs(const struct ctx *c, const struct action *a, const struct mstate *ms, struct bitmap256 *na,
			 struct bitmap256 *nd)
{
	const struct apqn_matrix *want = &c->guests[ms->guest].g->matrix;

	switch (a->kind) {
	case ACTION_ASSIGN_ADAPTER:
		*na = (struct bitmap256){ { 0 } };
		bitmap_set(na, a->number);
		*nd = bitmap_or(&want->domains, &ms->late_d); /* what goes later is still there */
		return true;
	case ACTION_ASSIGN_DOMAIN:
		*na = bitmap_or(&want->adapters, &ms->late_a);
		*nd = (struct bitmap256){ { 0 } };
		bitmap_set(nd, a->number);
		return true;
	case ACTION_WRITE_AP_CONFIG:
		*na = want->adapters;
		*nd = want->domains;
		return true;
	default:
		return false;
	}
}

static void plan_assign_deps(struct ctx *c)
{
	size_t n = c->p->n;

	for (size_t i = 0; i < n; i++) {
		struct action *a = &c->p->actions[i];
		const struct mstate *ms = assign_mdev(c, a);
		struct bitmap256 na, nd;

		if (!ms)
			continue;
		action_dep(c, (ssize_t)i, ms->create_id);
		if (!assign_needs(c, a, ms, &na, &nd))
			continue; /* control domains need nothing */
		depend_on_freeing(c, (ssize_t)i, ms, &na, &nd);
		/* an override decides instead of the masks: no take can stand in for another then */
		if (c->masks && !c->l->driver_override_in_use) {
			a->has_needs = true;
			a->need_a = na;
			a->need_d = nd;
		}
		BITMAP_FOREACH(x, &na)
		BITMAP_FOREACH(y, &nd)
		{
			if (host_owned_live(c, (unsigned)x, (unsigned)y)) {
				if (bitmap_test(&c->take_ap, (unsigned)x))
					action_dep(c, (ssize_t)i, c->take_ap_id);
				if (bitmap_test(&c->take_aq, (unsigned)y))
					action_dep(c, (ssize_t)i, c->take_aq_id);
			}
			if (c->qtake)
				action_dep(c, (ssize_t)i, c->qtake[(unsigned)x << 8 | (unsigned)y]);
		}
	}
}

bool plan_needs_met(const struct plan *p, const struct live *l, size_t i, const struct bitmap256 *done_ap,
		    const struct bitmap256 *done_aq)
{
	const struct action *a = &p->actions[i];
	struct bitmap256 host_a, host_d;

	if (!a->has_needs)
		return false;
	/* still with the host drivers: both bits set in the masks read, neither taken since */
	host_a = bitmap_andnot(&l->apmask, done_ap);
	host_a = bitmap_and(&host_a, &a->need_a);
	host_d = bitmap_andnot(&l->aqmask, done_aq);
	host_d = bitmap_and(&host_d, &a->need_d);
	return bitmap_empty(&host_a) || bitmap_empty(&host_d);
}

/* ---- pending ---- */

static int phase_order_cmp_ctx(const struct plan *p, size_t x, size_t y)
{
	if (p->actions[x].phase != p->actions[y].phase)
		return p->actions[x].phase < p->actions[y].phase ? -1 : 1;
	return x < y ? -1 : x > y;
}

/*
 * "waits for 'guest1' (running)"; an mdev apmatrix made for a guest no
 * longer declared is named by that guest as its record has it, with the
 * UUID, else by the UUID alone.  ms is never NULL: only mdev_action() makes
 * an action pending at first (with its mstate as who), and
 * propagate_pending() copies who from a pending dependency.
 */
static char *waits_text(const char *who, const char *gone_guest, const char *uuid, bool maybe_running)
{
	const char *state = maybe_running ? "maybe running" : "running";

	if (gone_guest)
		return xasprintf("waits for guest '%s', no longer declared (mdev %s, %s)", gone_guest, uuid, state);
	return xasprintf("waits for '%s' (%s)", who, state);
}

static char *waits_for(const struct mstate *ms, bool maybe_running)
{
	assert(ms);
	return waits_text(ms->who, ms->guest < 0 && ms->m && ms->m->owned ? ms->m->owner_guest : NULL, ms->uuid,
			  maybe_running);
}

char *plan_waits_reason(const struct action *cause, bool maybe_running)
{
	return waits_text(cause->waits_for ? cause->waits_for : cause->uuid, cause->undeclared ? cause->guest : NULL,
			  cause->uuid, maybe_running);
}

/*
 * Dependencies always point to an earlier phase, so one walk in phase order
 * carries "pending" to everything that waits for a running guest.
 */
static void propagate_pending(struct ctx *c)
{
	struct plan *p = c->p;
	size_t *order = xcalloc(p->n, sizeof(*order));

	for (size_t i = 0; i < p->n; i++)
		order[i] = i;
	/* insertion sort: stable and plans are small */
	for (size_t i = 1; i < p->n; i++) {
		size_t v = order[i], j = i;

		while (j > 0 && phase_order_cmp_ctx(p, order[j - 1], v) > 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	for (size_t k = 0; k < p->n; k++) {
		size_t i = order[k];
		struct action *a = &p->actions[i];

		if (a->pending)
			continue;
		for (size_t j = 0; j < a->n_depends_on; j++) {
			size_t dep = a->depends_on[j];

			if (!p->actions[dep].pending)
				continue;
			a->pending = true;
			a->force_helps = p->actions[dep].force_helps; /* it waits for what that waits for */
			a->maybe_running = p->actions[dep].maybe_running;
			c->who[i] = c->who[dep];
			free(a->waits_for);
			a->waits_for = xstrdup(c->who[dep]->who);
			action_reason(c, (ssize_t)i, waits_for(c->who[dep], a->maybe_running));
			break;
		}
	}
	free(order);

	for (size_t k = 0; k < c->n_ms; k++)
		c->ms[k].has_pending = false;
	for (size_t i = 0; i < p->n; i++)
		if (p->actions[i].pending && c->own[i])
			c->ms[c->own[i] - c->ms].has_pending = true;
}

static bool host_drivers_own(const struct bitmap256 *ap, const struct bitmap256 *aq, const struct live_queue *q)
{
	return bitmap_test(ap, q->adapter) && bitmap_test(aq, q->domain);
}

static bool is_give_back(const struct action *a)
{
	return a->kind == ACTION_RELEASE_APMASK || a->kind == ACTION_RELEASE_AQMASK;
}

/*
 * The queues that mask action a moves, with the masks at *ap and *aq
 * before it: into *queues (sorted), *n_queues; *ap and *aq become the
 * masks after it.
 */
static void mask_moves(const struct live *l, const struct action *a, struct bitmap256 *ap, struct bitmap256 *aq,
		       uint16_t **queues, size_t *n_queues)
{
	struct bitmap256 nap = *ap, naq = *aq;
	size_t cap = 0;

	if (a->kind == ACTION_TAKE_APMASK)
		nap = bitmap_andnot(ap, &a->bits);
	else if (a->kind == ACTION_TAKE_AQMASK)
		naq = bitmap_andnot(aq, &a->bits);
	else if (a->kind == ACTION_RELEASE_APMASK)
		nap = bitmap_or(ap, &a->bits);
	else
		naq = bitmap_or(aq, &a->bits);
	for (size_t k = 0; k < l->n_queues; k++) {
		const struct live_queue *q = &l->queues[k];

		if (host_drivers_own(ap, aq, q) == host_drivers_own(&nap, &naq, q))
			continue;
		*queues = xgrow(*queues, &cap, *n_queues + 1, sizeof(**queues));
		(*queues)[(*n_queues)++] = (uint16_t)(q->adapter << 8 | q->domain);
	}
	if (*n_queues)
		qsort(*queues, *n_queues, sizeof(**queues), cmp_u16);
	*ap = nap;
	*aq = naq;
}

/* A give-back's reason (base; NULL: no declared guest needs them) with the n queues it returns. */
static char *give_back_reason(const char *base, const uint16_t *queues, size_t n)
{
	_cleanup_free_ char *list = apqn_list_format(queues, n, APQNS_NAMED);

	return xasprintf("%s; %zu queue%s to the host drivers: %s", base ? base : "no declared guest needs them", n,
			 n == 1 ? " returns" : "s return", list);
}

/*
 * The queues each mask action moves between the host drivers and vfio_ap
 * (action.queues): those it takes from the host drivers, or gives back to
 * them, that exist now.  The actions that are not pending change the masks
 * in the plan's order, as apply writes them, so that a queue in a taken
 * adapter and a taken domain is the first take's; the pending ones come
 * after them, in the plan's order too: what each would move after those
 * before it.  Each queue is so named once.  A give-back says them in its reason ("2 queues
 * return to the host drivers: ..."); a take names in its own only the
 * queues no guest uses (take_reason()).  An rfc2017 queue action moves its
 * one queue.  plan_host_queues() counts them again for an apply that does
 * not write a mask action the plan meant to write (held back, failed or
 * skipped): the pending ones still come last, and they keep the lists
 * counted here (the plan's mask actions change distinct bits: the others,
 * in any order, leave the masks as here).
 */
static void note_host_queues(struct ctx *c)
{
	const struct live *l = c->l;
	struct bitmap256 ap = l->apmask, aq = l->aqmask;
	bool any = false;

	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < c->p->n; i++) {
			struct action *a = &c->p->actions[i];

			if (a->kind == ACTION_TAKE_QUEUE || a->kind == ACTION_RELEASE_QUEUE) {
				if (pass == 0) {
					a->queues = xmalloc(sizeof(*a->queues));
					a->queues[a->n_queues++] = (uint16_t)a->number;
				}
				continue;
			}
			if (!action_is_mask(a) || a->pending != (pass == 1))
				continue;
			any = true;
			mask_moves(l, a, &ap, &aq, &a->queues, &a->n_queues);
			if (a->pending)
				continue;
			if (is_give_back(a)) {
				free(a->reason_base);
				a->reason_base = a->reason ? xstrdup(a->reason) : NULL;
				if (a->n_queues)
					action_reason(c, (ssize_t)i, give_back_reason(a->reason_base, a->queues, a->n_queues));
			}
		}
	if (any) {
		c->p->used = xcalloc(256, sizeof(*c->p->used));
		guests_used(c, c->p->used);
	}
}

/*
 * The pass in which plan_host_queues() counts mask action i: 0 written;
 * then the ones apply did not write (held[i] n > 0), the latest first
 * (pass 1 + max - n); then those pending at plan time (pass max + 1).
 */
static unsigned host_queues_pass(const struct action *a, unsigned held, unsigned max)
{
	if (a->pending)
		return max + 1;
	return held ? 1 + max - held : 0;
}

void plan_host_queues(const struct plan *p, const struct live *l, const unsigned *held, struct action *out)
{
	struct bitmap256 ap = l->apmask, aq = l->aqmask;
	unsigned max = 0;

	for (size_t i = 0; i < p->n; i++) {
		out[i] = p->actions[i];
		if (action_is_mask(&p->actions[i]) && !p->actions[i].pending && held[i] > max)
			max = held[i];
	}
	for (unsigned pass = 0; pass <= max + 1; pass++)
		for (size_t i = 0; i < p->n; i++) {
			const struct action *a = &p->actions[i];
			struct action *o = &out[i];
			_cleanup_free_ uint16_t *v = NULL;
			size_t n = 0;

			if (!action_is_mask(a) || host_queues_pass(a, held[i], max) != pass)
				continue;
			mask_moves(l, a, &ap, &aq, &v, &n);
			if (n == a->n_queues && (!n || !memcmp(v, a->queues, n * sizeof(*v))))
				continue;
			o->n_queues = n;
			o->queues = TAKE_PTR(v);
			/*
			 * pending at plan time: the plan's reason, which names no
			 * queues (as apply's for one it holds back, which replaces
			 * the one made here)
			 */
			if (a->pending)
				continue;
			if (is_give_back(a))
				o->reason = n ? give_back_reason(a->reason_base, o->queues, n)
					      : a->reason_base ? xstrdup(a->reason_base) : NULL;
			else {
				/* the other queues: those it moves that no declared guest uses, as take_reason() counts them */
				_cleanup_free_ uint16_t *other = xcalloc(n ? n : 1, sizeof(*other));
				_cleanup_free_ char *list = NULL;
				size_t m = 0;

				for (size_t k = 0; k < n; k++)
					if (!p->used || !bitmap_test(&p->used[o->queues[k] >> 8], o->queues[k] & 0xff))
						other[m++] = o->queues[k];
				list = queues_format(other, m);
				o->reason = take_reason_text(a->reason_base, m, list);
			}
		}
}

void plan_host_queues_free(const struct plan *p, struct action *out)
{
	for (size_t i = 0; i < p->n; i++) {
		if (out[i].queues != p->actions[i].queues)
			free(out[i].queues);
		if (out[i].reason != p->actions[i].reason)
			free(out[i].reason);
	}
}

/*
 * The usage APQNs each mdev action takes from its guest and gives it
 * (action.loses, action.gains; shown for one that is pending, at plan
 * time or when apply holds it back, and one that changes a running guest):
 * an unassign takes what the mdev has of that number, an assign gives what
 * the guest declares of it, ap_config the difference of the two matrices.
 * 6.0-6.9, where numbers go after the assigns (late_unassigns()): an assign
 * gives with them what they make with it, until they go; of these, the
 * adapters go first (the order of kinds), then the domains.  A control
 * domain is no queue: none.  A refilter concerns an adapter the guest does
 * not see: none either.
 */
static void note_apqns(struct ctx *c)
{
	for (size_t i = 0; i < c->p->n; i++) {
		struct action *a = &c->p->actions[i];
		const struct mstate *ms = c->own[i];
		struct apqn_matrix want = {}, x = {};

		if (!ms || a->refilter)
			continue;
		if (ms->class == MDEV_MANAGED && ms->guest >= 0)
			want = c->guests[ms->guest].g->matrix;
		switch (a->kind) {
		case ACTION_UNASSIGN_ADAPTER:
			bitmap_set(&x.adapters, a->number);
			x.domains = a->phase == PHASE_UNASSIGN_LATE ? bitmap_or(&want.domains, &ms->late_d)
								    : ms->live.domains;
			a->loses = matrix_format_minus(&x, NULL, APQNS_NAMED);
			break;
		case ACTION_UNASSIGN_DOMAIN:
			x.adapters = a->phase == PHASE_UNASSIGN_LATE ? want.adapters : ms->live.adapters;
			bitmap_set(&x.domains, a->number);
			a->loses = matrix_format_minus(&x, NULL, APQNS_NAMED);
			break;
		case ACTION_REMOVE_MDEV:
			a->loses = matrix_format_minus(&ms->live, NULL, APQNS_NAMED);
			break;
		case ACTION_ASSIGN_ADAPTER:
		case ACTION_ASSIGN_DOMAIN:
			/* what the assign writes into the mdev, as its dependencies count it */
			(void)assign_needs(c, a, ms, &x.adapters, &x.domains);
			a->gains = matrix_format_minus(&x, NULL, APQNS_NAMED);
			break;
		case ACTION_WRITE_AP_CONFIG:
			x = a->has_from ? a->from : (struct apqn_matrix){};
			a->loses = matrix_format_minus(&x, &a->matrix, APQNS_NAMED);
			a->gains = matrix_format_minus(&a->matrix, &x, APQNS_NAMED);
			break;
		default:
			break;
		}
	}
}

/* ---- releases ---- */

/* What mdev ms holds once the plan has run (as far as it will run); false when it is gone. */
static bool after_matrix(const struct ctx *c, const struct mstate *ms, struct apqn_matrix *ret)
{
	switch (ms->class) {
	case MDEV_FOREIGN:
		*ret = ms->live;
		return ms->m != NULL;
	case MDEV_OWNED:
		*ret = ms->live;
		return ms->remove_id < 0 || c->p->actions[ms->remove_id].pending;
	case MDEV_MANAGED:
	default:
		if (ms->guest < 0 || c->guests[ms->guest].skip) {
			*ret = ms->live;
			return ms->m != NULL;
		}
		*ret = c->guests[ms->guest].g->matrix;
		if (ms->has_pending)
			*ret = matrix_union(ret, &ms->live);
		return true;
	}
}

/* Make release i depend on what frees, in any mdev, the APQNs in host (rows). */
static void depend_on_freeing_rows(struct ctx *c, ssize_t i, const struct bitmap256 *rows)
{
	for (size_t k = 0; k < c->n_ms; k++) {
		const struct mstate *ms = &c->ms[k];

		if (!ms->m)
			continue;
		BITMAP_FOREACH(a, &ms->live.adapters)
		BITMAP_FOREACH(d, &ms->live.domains)
		if (apqn_in(rows, (unsigned)a, (unsigned)d)) {
			ssize_t extra, f = freeing_action(ms, (unsigned)a, (unsigned)d, &extra);

			action_dep(c, i, f);
			action_dep(c, i, extra);
		}
		/* what its assigns write while a number it loses after them is still there (late_unassigns()) */
		if (ms->guest >= 0 && (!bitmap_empty(&ms->late_a) || !bitmap_empty(&ms->late_d))) {
			const struct apqn_matrix *want = &c->guests[ms->guest].g->matrix;
			struct bitmap256 add_a = bitmap_andnot(&want->adapters, &ms->live.adapters);
			struct bitmap256 add_d = bitmap_andnot(&want->domains, &ms->live.domains);

			BITMAP_FOREACH(a, &ms->late_a)
			BITMAP_FOREACH(d, &add_d)
			if (apqn_in(rows, (unsigned)a, (unsigned)d))
				action_dep(c, i, ms->ua[a]);
			BITMAP_FOREACH(d, &ms->late_d)
			BITMAP_FOREACH(a, &add_a)
			if (apqn_in(rows, (unsigned)a, (unsigned)d))
				action_dep(c, i, ms->ud[d]);
		}
	}
}

static void note_kept_bit(struct ctx *c, const char *mask, unsigned n, unsigned a, unsigned d,
			  const struct mstate *ms)
{
	char buf[APQN_STR_LEN];
	_cleanup_free_ char *whose = ms->guest >= 0 ? xasprintf(" (guest '%s')", c->guests[ms->guest].g->name)
				     : ms->m && ms->m->owned && ms->m->owner_guest
					     ? xasprintf(" (made for guest '%s', no longer declared)", ms->m->owner_guest)
				     : ms->class == MDEV_FOREIGN
					     ? xstrdup(" (not managed by apmatrix, which never removes it: once it is removed or "
						       "no longer has the APQN, apply gives the bit back)")
								   : xstrdup("");

	diag_add(c->diags, DIAG_NOTE, NULL, NULL, "%s bit 0x%02x stays taken: APQN %s is still assigned to mdev %s%s",
		 mask, n, apqn_format(buf, a, d), ms->uuid, whose);
}

/*
 * Takes that wait: a mask or queue take that no action of this run needs,
 * only actions that are pending themselves, waits with them.  Written now,
 * it would leave the host, until --force or the guest's stop, with less
 * than both the layout in place and the one planned, while the bits still
 * held cover what the mdevs hold meanwhile.  A take that an action of this
 * run needs stays (a give-back that trades held bits for it, an assign that
 * does not wait), and a take with nothing to wait for is written as before.
 * With --force nothing waits for a running guest on 6.0+, and nothing
 * changes.
 */

/* Whether an action of this run depends on take i; else *cause: the first pending one, or -1. */
static bool take_needed_now(const struct ctx *c, ssize_t i, ssize_t *cause)
{
	const struct plan *p = c->p;

	*cause = -1;
	for (size_t k = 0; k < p->n; k++) {
		const struct action *a = &p->actions[k];

		for (size_t j = 0; j < a->n_depends_on; j++) {
			if (a->depends_on[j] != (size_t)i)
				continue;
			if (!a->pending)
				return true;
			if (*cause < 0)
				*cause = (ssize_t)k;
		}
	}
	return false;
}

/* Take i waits for what pending action cause waits for. */
static void hold_back_take(struct ctx *c, ssize_t i, size_t cause)
{
	struct action *a = &c->p->actions[i];
	const struct action *w = &c->p->actions[cause];

	a->pending = true;
	a->force_helps = w->force_helps;
	a->maybe_running = w->maybe_running;
	free(a->waits_for);
	a->waits_for = w->waits_for ? xstrdup(w->waits_for) : NULL;
	c->who[i] = c->who[cause];
	action_reason(c, i, waits_for(c->who[cause], a->maybe_running));
}

static bool any_pending(const struct ctx *c)
{
	for (size_t i = 0; i < c->p->n; i++)
		if (c->p->actions[i].pending)
			return true;
	return false;
}

/* The first pending action of mdev ms, or -1. */
static ssize_t first_pending_of(const struct ctx *c, const struct mstate *ms)
{
	if (!ms->has_pending)
		return -1;
	for (size_t i = 0; i < c->p->n; i++)
		if (c->p->actions[i].pending && streq(c->p->actions[i].uuid, ms->uuid))
			return (ssize_t)i;
	return -1;
}

/*
 * The first pending action of a pending mdev that keeps back the give-back
 * of kept (bits of the other mask than the take's, adapters: the take is
 * the apmask's): one whose matrix after the run (afters_ad) holds an APQN
 * under such a bit; mdev k, which the take serves, first.  Or -1.  The
 * take only replaces those bits for later: the mdev it serves need not be
 * the one that holds them (its own queues stay kept from the host by them
 * meanwhile).
 */
static ssize_t first_pending_keeping(const struct ctx *c, size_t k, bool adapters, const struct bitmap256 *kept,
				     const struct bitmap256 *afters_ad)
{
	ssize_t f = first_pending_of(c, &c->ms[k]);

	for (size_t j = 0; f < 0 && j < c->n_ms; j++)
		if (bitmap_intersects(kept, &afters_ad[2 * j + adapters]))
			f = first_pending_of(c, &c->ms[j]);
	return f;
}

/*
 * The bits of mask take take (adapters: the apmask's) that action k, which
 * depends on it, needs: those of the host-owned APQNs it assigns
 * (plan_assign_deps()); all of them for any other dependent.
 */
static struct bitmap256 take_bits_needed(const struct ctx *c, size_t k, bool adapters, const struct bitmap256 *take)
{
	const struct action *a = &c->p->actions[k];
	const struct mstate *ms = assign_mdev(c, a);
	struct bitmap256 na, nd, need = { { 0 } };

	if (!ms || !assign_needs(c, a, ms, &na, &nd))
		return *take;
	BITMAP_FOREACH(x, &na)
	BITMAP_FOREACH(y, &nd)
	{
		unsigned b = adapters ? (unsigned)x : (unsigned)y;

		if (host_owned_live(c, (unsigned)x, (unsigned)y) && bitmap_test(take, b))
			bitmap_set(&need, b);
	}
	return bitmap_empty(&need) ? *take : need;
}

static bool depends_on(const struct action *a, size_t dep)
{
	for (size_t j = 0; j < a->n_depends_on; j++)
		if (a->depends_on[j] == dep)
			return true;
	return false;
}

static void action_undep(struct ctx *c, size_t i, size_t dep)
{
	struct action *a = &c->p->actions[i];

	for (size_t j = 0; j < a->n_depends_on; j++)
		if (a->depends_on[j] == dep) {
			a->depends_on[j] = a->depends_on[--a->n_depends_on];
			return;
		}
}

/*
 * Mask take id, with bits take, needed now for some of its bits only: the
 * bits wait, which only pending actions need, become a take of their own
 * that waits for what pending action cause waits for; id keeps the rest.
 * Each dependent then depends on the part that holds the bits it needs.
 * id's reason is the caller's (it counts what the other mask's take leaves).
 */
static void split_mask_take(struct ctx *c, ssize_t id, bool adapters, const struct bitmap256 *take,
			    const struct bitmap256 *wait, size_t cause)
{
	size_t n = c->p->n;
	ssize_t h = action_new(c, c->p->actions[id].kind, PHASE_TAKE_MASK, NULL, NULL, 0, NULL);
	struct action *t = &c->p->actions[id];

	c->p->actions[h].bits = *wait;
	action_write(c, h, xstrdup(t->writes[0].path), bitmap_format_relative(wait, '-'));
	hold_back_take(c, h, cause);
	t->bits = bitmap_andnot(&t->bits, wait);
	free(t->writes[0].value);
	t->writes[0].value = bitmap_format_relative(&t->bits, '-');
	for (size_t k = 0; k < n; k++) {
		struct bitmap256 need;

		if (!depends_on(&c->p->actions[k], (size_t)id))
			continue;
		need = take_bits_needed(c, k, adapters, take);
		if (bitmap_intersects(&need, wait))
			action_dep(c, (ssize_t)k, h);
		if (!bitmap_intersects(&need, &c->p->actions[id].bits))
			action_undep(c, k, (size_t)id);
	}
}

/*
 * Mask take id, with bits take: the apmask's (adapters) or the aqmask's.
 * rel: the give-backs of the other mask that this run writes; kept: those
 * held back because an mdev still holds an APQN they would hand the host
 * (afters_ad: what each mdev holds after the run, adapters then domains).
 * Needed now when an action of this run depends on it or a give-back of
 * this run relies on it to keep an APQN an mdev holds from the host.  Else
 * it waits with a pending assign that needs it, or with the pending mdev
 * that keeps back a give-back whose bits still keep the queues of an mdev
 * it serves from the host (first_pending_keeping(): that of the mdev
 * served or of another one).  Needed now for some bits only,
 * while others serve only what waits, it is split: those others wait
 * (split_mask_take()).  Returns the bits that wait.
 */
static struct bitmap256 hold_back_mask_take(struct ctx *c, ssize_t id, bool adapters, const struct bitmap256 *take,
					    const struct bitmap256 *rel, const struct bitmap256 *kept,
					    const struct bitmap256 *afters_ad)
{
	struct bitmap256 none = { { 0 } }, now = { { 0 } }, wait = { { 0 } };
	ssize_t cause, wait_cause = -1;
	bool needed;

	if (id < 0 || !any_pending(c))
		return none;
	needed = take_needed_now(c, id, &cause);
	for (size_t k = 0; k < c->n_ms; k++) {
		const struct bitmap256 *mine = &afters_ad[2 * k + !adapters], *other = &afters_ad[2 * k + adapters];
		struct bitmap256 t = bitmap_and(take, mine), r = bitmap_and(rel, other), kk = bitmap_and(kept, other);

		if (bitmap_empty(&t))
			continue;
		if (!bitmap_empty(&r)) {
			needed = true; /* a give-back of this run relies on it */
			now = bitmap_or(&now, &t);
		}
		if (cause < 0 && !bitmap_empty(&kk))
			cause = first_pending_keeping(c, k, adapters, &kk, afters_ad);
	}
	if (!needed) {
		if (cause < 0)
			return none;
		hold_back_take(c, id, (size_t)cause);
		return *take;
	}

	/* needed now: which bits, and which serve only what waits */
	for (size_t k = 0; k < c->p->n; k++)
		if (!c->p->actions[k].pending && depends_on(&c->p->actions[k], (size_t)id)) {
			struct bitmap256 need = take_bits_needed(c, k, adapters, take);

			now = bitmap_or(&now, &need);
		}
	for (size_t k = 0; k < c->p->n; k++)
		if (c->p->actions[k].pending && depends_on(&c->p->actions[k], (size_t)id)) {
			struct bitmap256 need = take_bits_needed(c, k, adapters, take);

			need = bitmap_andnot(&need, &now);
			if (!bitmap_empty(&need) && wait_cause < 0)
				wait_cause = (ssize_t)k;
			wait = bitmap_or(&wait, &need);
		}
	for (size_t k = 0; k < c->n_ms; k++) {
		const struct bitmap256 *mine = &afters_ad[2 * k + !adapters], *other = &afters_ad[2 * k + adapters];
		struct bitmap256 t = bitmap_and(take, mine), kk = bitmap_and(kept, other);
		ssize_t f;

		t = bitmap_andnot(&t, &now);
		if (bitmap_empty(&t) || bitmap_empty(&kk) || (f = first_pending_keeping(c, k, adapters, &kk, afters_ad)) < 0)
			continue;
		if (wait_cause < 0)
			wait_cause = f;
		wait = bitmap_or(&wait, &t);
	}
	if (bitmap_empty(&wait) || wait_cause < 0)
		return none;
	split_mask_take(c, id, adapters, take, &wait, (size_t)wait_cause);
	return wait;
}

/* Whether mdev ms's assign of kind kind, number n, is pending. */
static bool assign_pending(const struct ctx *c, const struct mstate *ms, enum action_kind kind, unsigned n)
{
	for (size_t i = 0; i < c->p->n; i++) {
		const struct action *a = &c->p->actions[i];

		if (a->kind == kind && a->number == n && a->pending && streq(a->uuid, ms->uuid))
			return true;
	}
	return false;
}

/*
 * An assign (6.0-6.9, or the static interface) that does not wait but whose
 * mdev's other assigns do: it needs mask take id (bits take; adapters: the
 * apmask's) only for the APQNs it makes with the numbers the mdev has when
 * it is written, not with those that wait.  Where none of those needs a bit
 * of the take, it no longer depends on it: the take can wait with them
 * (before 6.0, only while the mdev keeps a number of the other dimension).
 */
static void drop_waiting_needs(struct ctx *c, ssize_t id, bool adapters, const struct bitmap256 *take)
{
	if (id < 0 || !any_pending(c))
		return;
	for (size_t k = 0; k < c->p->n; k++) {
		const struct action *a = &c->p->actions[k];
		const struct mstate *ms;
		struct bitmap256 na, nd;
		bool needs = false;

		if (a->pending || (a->kind != ACTION_ASSIGN_ADAPTER && a->kind != ACTION_ASSIGN_DOMAIN) ||
		    !depends_on(a, (size_t)id) || !(ms = assign_mdev(c, a)) || !assign_needs(c, a, ms, &na, &nd))
			continue;
		if (a->kind == ACTION_ASSIGN_DOMAIN) {
			BITMAP_FOREACH(x, &na)
			if (!bitmap_test(&ms->live.adapters, (unsigned)x) &&
			    assign_pending(c, ms, ACTION_ASSIGN_ADAPTER, (unsigned)x))
				bitmap_clear(&na, (unsigned)x);
		} else {
			BITMAP_FOREACH(y, &nd)
			if (!bitmap_test(&ms->live.domains, (unsigned)y) &&
			    assign_pending(c, ms, ACTION_ASSIGN_DOMAIN, (unsigned)y))
				bitmap_clear(&nd, (unsigned)y);
		}
		/*
		 * Before 6.0 the kernel checks an assign against the queues bound
		 * to vfio_ap: with no number of the other dimension it wants one
		 * queue of the adapter (domain) there, which a take may be the one
		 * to make.
		 */
		if (c->l->profile == PROFILE_STATIC && (bitmap_empty(&na) || bitmap_empty(&nd)))
			continue;
		BITMAP_FOREACH(x, &na)
		BITMAP_FOREACH(y, &nd)
		if (!needs && host_owned_live(c, (unsigned)x, (unsigned)y) &&
		    bitmap_test(take, adapters ? (unsigned)x : (unsigned)y))
			needs = true;
		if (!needs)
			action_undep(c, k, (size_t)id);
	}
}

/* The queues of the host (existing ones, index_queues()) with adapter in ap and domain in aq. */
static size_t count_queues(const struct ctx *c, const struct bitmap256 *ap, const struct bitmap256 *aq)
{
	size_t n = 0;

	BITMAP_FOREACH(a, ap)
	{
		struct bitmap256 q = bitmap_and(&c->q_exists[a], aq);

		n += bitmap_count(&q);
	}
	return n;
}

/*
 * Mask take id (bits take; adapters: the apmask's) that no action of this
 * run needs, while give-backs of the other mask (rel) rely on it to keep
 * the APQNs of pending mdevs from the host (a trade of held bits).  Where
 * the trade would give the host fewer queues than the take moves away, it
 * waits: those give-back bits move to kept (the mdevs still hold their
 * APQNs; noted), and hold_back_mask_take() then holds the take back with
 * the pending mdev.  A trade that leaves the host as many queues or more is
 * made, as the run after the guest's stop would make it.
 */
static void defer_costly_trade(struct ctx *c, ssize_t id, bool adapters, const struct bitmap256 *take,
			       struct bitmap256 *rel, struct bitmap256 *kept, const struct bitmap256 *afters_ad)
{
	const struct live *l = c->l;
	struct bitmap256 relied = { { 0 } }, stays, host_mine, host_other;
	ssize_t cause;
	size_t loses, gets;

	if (id < 0 || !any_pending(c) || take_needed_now(c, id, &cause))
		return;
	for (size_t k = 0; k < c->n_ms; k++) {
		const struct bitmap256 *mine = &afters_ad[2 * k + !adapters], *other = &afters_ad[2 * k + adapters];
		struct bitmap256 r = bitmap_and(rel, other);

		if (!bitmap_intersects(take, mine) || bitmap_empty(&r))
			continue;
		/* nothing pending to wait for: the trade is the final layout's */
		if (first_pending_keeping(c, k, adapters, &r, afters_ad) < 0)
			return;
		relied = bitmap_or(&relied, &r);
	}
	if (bitmap_empty(&relied))
		return;
	host_mine = adapters ? l->apmask : l->aqmask;
	host_other = adapters ? l->aqmask : l->apmask;
	stays = bitmap_andnot(&host_mine, take);
	host_mine = bitmap_and(&host_mine, take);
	loses = adapters ? count_queues(c, &host_mine, &host_other) : count_queues(c, &host_other, &host_mine);
	gets = adapters ? count_queues(c, &stays, &relied) : count_queues(c, &relied, &stays);
	if (gets >= loses)
		return;
	*rel = bitmap_andnot(rel, &relied);
	*kept = bitmap_or(kept, &relied);
	/* the note names, for each bit, an APQN an mdev holds now that the take would cover instead */
	for (size_t k = 0; k < c->n_ms; k++) {
		const struct mstate *ms = &c->ms[k];
		const struct bitmap256 *mine = adapters ? &ms->live.adapters : &ms->live.domains;
		const struct bitmap256 *other = adapters ? &ms->live.domains : &ms->live.adapters;
		struct bitmap256 t = bitmap_and(take, mine), r = bitmap_and(&relied, other);
		int n = bitmap_next(&t, 0);

		if (!ms->m || n < 0)
			continue;
		BITMAP_FOREACH(b, &r)
		note_kept_bit(c, adapters ? "aqmask" : "apmask", (unsigned)b, adapters ? (unsigned)n : (unsigned)b,
			      adapters ? (unsigned)b : (unsigned)n, &c->ms[k]);
		relied = bitmap_andnot(&relied, &r);
	}
}

/* rfc2017: a queue take that only pending assigns need waits with them. */
static void hold_back_queue_takes(struct ctx *c)
{
	if (!c->qtake || !any_pending(c))
		return;
	for (size_t n = 0; n < 256 * 256; n++) {
		ssize_t cause;

		if (c->qtake[n] >= 0 && !take_needed_now(c, c->qtake[n], &cause) && cause >= 0)
			hold_back_take(c, c->qtake[n], (size_t)cause);
	}
}

/*
 * Why mask bits (bits; the apmask's when adapters) go back: no declared
 * guest needs them, or only guests whose change failed in this apply run
 * (desired_guest.failed), which the next run takes them for again.  Such a
 * guest needs them only if some of its queues return to the host with them:
 * those whose other index stays in the other mask's final value (fin_other,
 * the aqmask's when adapters); the rest stay vfio_ap's through that mask.
 */
static char *release_reason(const struct ctx *c, const struct bitmap256 *bits, bool adapters,
			    const struct bitmap256 *fin_other)
{
	_cleanup_free_ char *names = NULL;
	size_t n = 0;

	for (size_t gi = 0; gi < c->n_guests; gi++) {
		const struct desired_guest *g = c->guests[gi].g;
		const struct bitmap256 *mine = adapters ? &g->matrix.adapters : &g->matrix.domains;
		const struct bitmap256 *other = adapters ? &g->matrix.domains : &g->matrix.adapters;

		if (!g->failed || !bitmap_intersects(mine, bits) || !bitmap_intersects(other, fin_other))
			continue;
		char *more = xasprintf("%s%s'%s'", names ? names : "", names ? ", " : "", g->name);
		free(names);
		names = more;
		n++;
	}
	if (!n)
		return xstrdup("no declared guest needs them");
	return xasprintf("the change of guest%s %s that needs them failed: the next run takes them again",
			 n > 1 ? "s" : "", names);
}

/*
 * Of the two bits that keep APQN a.d from the host drivers, both give-back
 * candidates: whether the apmask's stays, that is, whether the give-back of
 * apmask bit a returns no more queues than that of aqmask bit d (the
 * apmask's stays on a tie).  A give-back returns the queues of its index
 * whose other index is the host's in the other mask's final value (fin_ap,
 * fin_aq), a and d counted as the host's: they are, where both would go
 * back.
 */
static bool apmask_bit_stays(const struct ctx *c, unsigned a, unsigned d, const struct bitmap256 *fin_ap,
			     const struct bitmap256 *fin_aq)
{
	struct bitmap256 fa = *fin_ap, fq = *fin_aq, qa;
	unsigned back_d = 0;

	bitmap_set(&fa, a);
	bitmap_set(&fq, d);
	qa = bitmap_and(&c->q_exists[a], &fq);
	BITMAP_FOREACH(x, &fa)
	back_d += bitmap_test(&c->q_exists[x], d);
	return bitmap_count(&qa) <= back_d;
}

/* Whether the round after would keep a give-back's bit (rows, the apmask's when adapters) for an APQN of rows x cols. */
static bool give_back_bit_stays(const struct ctx *c, const struct bitmap256 *rows, const struct bitmap256 *cols,
				bool adapters, const struct bitmap256 *fin_ap, const struct bitmap256 *fin_aq)
{
	BITMAP_FOREACH(r, rows)
	BITMAP_FOREACH(t, cols)
	if (apmask_bit_stays(c, (unsigned)(adapters ? r : t), (unsigned)(adapters ? t : r), fin_ap, fin_aq) == adapters)
		return true;
	return false;
}

/*
 * Give-back i of rel (the apmask's when adapters) leaves an APQN that a
 * declared guest's mdev holds now to a bit of the other mask that this run
 * takes (take_other): it waits for that guest's changes where that lets the
 * round after a failed one give the take back.  Should one fail, the
 * give-back is not tried, and that round, planned with the mdev as it is
 * (holding the APQN under both bits), keeps one of the two bits; written,
 * the give-back would leave the take the only bit that keeps the APQN from
 * the host, and the host without the take's queues until the next run.
 * The round after keeps the bit whose give-back returns fewer queues
 * (plan_mask_releases()): where that is the take's bit, it would give this
 * give-back's bit back itself, the dependency would change nothing but say
 * "not tried" before a round that writes it anyway, and it is not added
 * (counted with the final masks of this plan, fin_ap and fin_aq, as that
 * round cannot know them better; review 22 F1).
 */
static void depend_on_guests_covered(struct ctx *c, ssize_t i, const struct bitmap256 *rel, bool adapters,
				     const struct bitmap256 *take_other, const struct bitmap256 *fin_ap,
				     const struct bitmap256 *fin_aq)
{
	for (size_t k = 0; k < c->n_ms; k++) {
		const struct mstate *ms = &c->ms[k];
		const struct bitmap256 *mine = adapters ? &ms->live.adapters : &ms->live.domains;
		const struct bitmap256 *other = adapters ? &ms->live.domains : &ms->live.adapters;
		struct bitmap256 rows, cols;

		if (!ms->m || ms->guest < 0)
			continue;
		rows = bitmap_and(rel, mine);
		cols = bitmap_and(take_other, other);
		if (!give_back_bit_stays(c, &rows, &cols, adapters, fin_ap, fin_aq))
			continue;
		for (size_t j = 0; j < c->p->n; j++)
			if (c->own[j] == ms && !c->p->actions[j].pending && c->p->actions[j].phase < PHASE_RELEASE_MASK)
				action_dep(c, i, (ssize_t)j);
	}
}

static void plan_mask_releases(struct ctx *c)
{
	const struct live *l = c->l;
	struct bitmap256 rel_ap, rel_aq, rel0_ap, rel0_aq, kept_ap, kept_aq, fin_ap, fin_aq;
	struct bitmap256 *afters_ad = xcalloc(c->n_ms * 2, sizeof(*afters_ad));
	bool changed = true;

	rel_ap = bitmap_andnot(&l->apmask_taken, &l->apmask);
	rel_ap = bitmap_andnot(&rel_ap, &c->cover_ap);
	rel_aq = bitmap_andnot(&l->aqmask_taken, &l->aqmask);
	rel_aq = bitmap_andnot(&rel_aq, &c->cover_aq);
	rel0_ap = rel_ap;
	rel0_aq = rel_aq;

	for (size_t k = 0; k < c->n_ms; k++) {
		struct apqn_matrix m;

		if (after_matrix(c, &c->ms[k], &m)) {
			afters_ad[2 * k] = m.adapters;
			afters_ad[2 * k + 1] = m.domains;
		}
	}

	/*
	 * Never hand the host an APQN an mdev still holds (EBUSY on 6.0+,
	 * silent before).  First the bits that must stay: an APQN held with
	 * one bit given back while its other bit stays the host's (set now and
	 * not taken, so not a give-back either).  That does not depend on what
	 * else is kept, and keeping a bit frees nothing else to go back: one
	 * pass reaches the fixed point, the loop only says so.  Then an APQN
	 * whose two bits would both go back: one stays, the one whose
	 * give-back returns fewer queues (the apmask's on a tie), and what
	 * that settles is looked at again.  Keeping the first bit met instead
	 * (the apmask's) could keep both where one suffices: the aqmask bit
	 * forced by another adapter of the mdev keeps the APQN from the host
	 * alone (review 22 F1).
	 */
	while (changed) {
		struct bitmap256 stay_ap, stay_aq;

		changed = false;
		fin_ap = bitmap_andnot(&l->apmask, &c->take_ap);
		stay_ap = bitmap_andnot(&fin_ap, &rel_ap); /* the host's now, and after the run */
		fin_ap = bitmap_or(&fin_ap, &rel_ap);
		fin_aq = bitmap_andnot(&l->aqmask, &c->take_aq);
		stay_aq = bitmap_andnot(&fin_aq, &rel_aq);
		fin_aq = bitmap_or(&fin_aq, &rel_aq);
		for (size_t k = 0; k < c->n_ms; k++) {
			const struct bitmap256 *ma = &afters_ad[2 * k], *md = &afters_ad[2 * k + 1];
			struct bitmap256 ra = bitmap_and(&rel_ap, ma), rd = bitmap_and(&rel_aq, md);
			struct bitmap256 hd = bitmap_and(&stay_aq, md), ha = bitmap_and(&stay_ap, ma);
			int d = bitmap_next(&hd, 0), a = bitmap_next(&ha, 0);

			if (d >= 0)
				BITMAP_FOREACH(x, &ra)
				{
					bitmap_clear(&rel_ap, (unsigned)x);
					note_kept_bit(c, "apmask", (unsigned)x, (unsigned)x, (unsigned)d, &c->ms[k]);
					changed = true;
				}
			if (a >= 0)
				BITMAP_FOREACH(y, &rd)
				{
					bitmap_clear(&rel_aq, (unsigned)y);
					note_kept_bit(c, "aqmask", (unsigned)y, (unsigned)a, (unsigned)y, &c->ms[k]);
					changed = true;
				}
		}
		if (changed)
			continue;
		for (size_t k = 0; k < c->n_ms && !changed; k++) {
			const struct bitmap256 *ma = &afters_ad[2 * k], *md = &afters_ad[2 * k + 1];
			struct bitmap256 ra = bitmap_and(&rel_ap, ma), rd = bitmap_and(&rel_aq, md);
			int a = bitmap_next(&ra, 0), d = bitmap_next(&rd, 0);

			if (a < 0 || d < 0)
				continue;
			if (apmask_bit_stays(c, (unsigned)a, (unsigned)d, &fin_ap, &fin_aq)) {
				bitmap_clear(&rel_ap, (unsigned)a);
				note_kept_bit(c, "apmask", (unsigned)a, (unsigned)a, (unsigned)d, &c->ms[k]);
			} else {
				bitmap_clear(&rel_aq, (unsigned)d);
				note_kept_bit(c, "aqmask", (unsigned)d, (unsigned)a, (unsigned)d, &c->ms[k]);
			}
			changed = true;
		}
	}
	/* takes that only serve what waits: pending with it, and no longer part of the final masks */
	kept_ap = bitmap_andnot(&rel0_ap, &rel_ap);
	kept_aq = bitmap_andnot(&rel0_aq, &rel_aq);
	drop_waiting_needs(c, c->take_ap_id, true, &c->take_ap);
	drop_waiting_needs(c, c->take_aq_id, false, &c->take_aq);
	defer_costly_trade(c, c->take_ap_id, true, &c->take_ap, &rel_aq, &kept_aq, afters_ad);
	defer_costly_trade(c, c->take_aq_id, false, &c->take_aq, &rel_ap, &kept_ap, afters_ad);
	{
		struct bitmap256 wait_ap = hold_back_mask_take(c, c->take_ap_id, true, &c->take_ap, &rel_aq, &kept_aq,
							       afters_ad);
		struct bitmap256 wait_aq = hold_back_mask_take(c, c->take_aq_id, false, &c->take_aq, &rel_ap, &kept_ap,
							       afters_ad);
		bool split_ap = !bitmap_empty(&wait_ap) && !c->p->actions[c->take_ap_id].pending;
		bool split_aq = !bitmap_empty(&wait_aq) && !c->p->actions[c->take_aq_id].pending;

		c->take_ap = bitmap_andnot(&c->take_ap, &wait_ap);
		c->take_aq = bitmap_andnot(&c->take_aq, &wait_aq);
		/* a split take's part written now: its own guests and queues */
		if (split_ap)
			take_reason(c, c->take_ap_id, &c->take_ap, &c->base_aq, &c->take_ap, &l->aqmask);
		/* the aqmask take counted the queues of the apmask take's adapters with that; now it takes them */
		if ((!bitmap_empty(&wait_ap) || split_aq) && c->take_aq_id >= 0 &&
		    !c->p->actions[c->take_aq_id].pending) {
			struct bitmap256 rest_ap = bitmap_andnot(&l->apmask, &c->take_ap);

			take_reason(c, c->take_aq_id, &c->base_ap, &c->take_aq, &rest_ap, &c->take_aq);
		}
	}
	free(afters_ad);

	fin_ap = bitmap_andnot(&l->apmask, &c->take_ap);
	fin_ap = bitmap_or(&fin_ap, &rel_ap);
	fin_aq = bitmap_andnot(&l->aqmask, &c->take_aq);
	fin_aq = bitmap_or(&fin_aq, &rel_aq);

	if (!bitmap_empty(&rel_ap)) {
		ssize_t i = action_new(c, ACTION_RELEASE_APMASK, PHASE_RELEASE_MASK, NULL, NULL, 0, NULL);
		struct bitmap256 rows[256];

		c->p->actions[i].bits = rel_ap;
		action_write(c, i, xstrdup(SYSFS_APMASK), bitmap_format_relative(&rel_ap, '+'));
		action_reason(c, i, release_reason(c, &rel_ap, true, &fin_aq));
		for (int a = 0; a < 256; a++)
			rows[a] = bitmap_test(&rel_ap, (unsigned)a) ? fin_aq : (struct bitmap256){ { 0 } };
		depend_on_freeing_rows(c, i, rows);
		depend_on_guests_covered(c, i, &rel_ap, true, &c->take_aq, &fin_ap, &fin_aq);
	}
	if (!bitmap_empty(&rel_aq)) {
		ssize_t i = action_new(c, ACTION_RELEASE_AQMASK, PHASE_RELEASE_MASK, NULL, NULL, 0, NULL);
		struct bitmap256 rows[256];

		c->p->actions[i].bits = rel_aq;
		action_write(c, i, xstrdup(SYSFS_AQMASK), bitmap_format_relative(&rel_aq, '+'));
		action_reason(c, i, release_reason(c, &rel_aq, false, &fin_ap));
		for (int a = 0; a < 256; a++)
			rows[a] = bitmap_test(&fin_ap, (unsigned)a) ? rel_aq : (struct bitmap256){ { 0 } };
		depend_on_freeing_rows(c, i, rows);
		depend_on_guests_covered(c, i, &rel_aq, false, &c->take_ap, &fin_ap, &fin_aq);
	}
}

/* The name of a guest whose change failed in this apply run and that wants APQN a.d, or NULL. */
static const char *failed_guest_wants(const struct ctx *c, unsigned a, unsigned d)
{
	for (size_t gi = 0; gi < c->n_guests; gi++)
		if (c->guests[gi].g->failed && matrix_has_apqn(&c->guests[gi].g->matrix, a, d))
			return c->guests[gi].g->name;
	return NULL;
}

static void plan_queue_releases(struct ctx *c)
{
	const struct live *l = c->l;

	for (unsigned a = 0; a < 256; a++) {
		BITMAP_FOREACH(d, &l->queues_taken[a])
		{
			char buf[APQN_STR_LEN];
			struct bitmap256 rows[256];
			bool held = false, unbound = apqn_in(c->q_unbound, a, (unsigned)d);
			_cleanup_free_ char *why = NULL;
			const char *failed;
			ssize_t i;

			/* on no driver: a move of apmatrix's that failed halfway; the bind alone finishes the give-back */
			if (apqn_in(c->wanted, a, (unsigned)d) || (!apqn_in(c->q_vfio, a, (unsigned)d) && !unbound))
				continue;
			for (size_t k = 0; k < c->n_ms && !held; k++) {
				struct apqn_matrix m;

				if (after_matrix(c, &c->ms[k], &m) && matrix_has_apqn(&m, a, (unsigned)d)) {
					held = true;
					if (failed_guest_wants(c, a, (unsigned)d))
						break; /* its own queue, kept as it is: nothing to tell */
					diag_add(c->diags, DIAG_NOTE, NULL, NULL,
						 "queue %s stays %s %s: it is still assigned to mdev %s",
						 apqn_format(buf, a, (unsigned)d), unbound ? "on" : "with",
						 unbound ? "no driver" : c->vfio_driver, c->ms[k].uuid);
				}
			}
			if (held)
				continue;
			apqn_format(buf, a, (unsigned)d);
			i = action_new(c, ACTION_RELEASE_QUEUE, PHASE_RELEASE_MASK, NULL, NULL, a << 8 | (unsigned)d,
				       NULL);
			if (!unbound)
				action_write(c, i, sysfs_path_ap_driver_attr(c->vfio_driver, "unbind"), xstrdup(buf));
			action_write(c, i, sysfs_path_ap_driver_attr(SYSFS_HOST_QUEUE_DRIVER, "bind"), xstrdup(buf));
			failed = failed_guest_wants(c, a, (unsigned)d);
			why = failed ? xasprintf("the change of guest '%s' that needs it failed: the next run takes it again",
						 failed)
				     : xstrdup("no declared guest needs it");
			action_reason(c, i, xasprintf("%s%s", why, unbound ? "; an earlier move left it on no driver" : ""));
			memset(rows, 0, sizeof(rows));
			bitmap_set(&rows[a], (unsigned)d);
			depend_on_freeing_rows(c, i, rows);
		}
	}
}

/* ---- final order ---- */

static int action_cmp(const struct action *x, const struct action *y)
{
	bool hx = !x->uuid[0], hy = !y->uuid[0];
	int r;

	if (x->phase != y->phase)
		return x->phase < y->phase ? -1 : 1;
	if (hx != hy)
		return hx ? -1 : 1;
	if (!hx) {
		r = strcmp(x->guest ? x->guest : "", y->guest ? y->guest : "");
		if (r)
			return r;
	}
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	return strcmp(x->uuid, y->uuid);
}

static int order_cmp(const void *a, const void *b, void *userdata)
{
	const struct plan *p = userdata;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int r = action_cmp(&p->actions[x], &p->actions[y]);

	return r ? r : (x < y ? -1 : x > y);
}

static int size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static void sort_plan(struct ctx *c)
{
	struct plan *p = c->p;
	size_t *order, *inv;
	struct action *sorted;
	const struct mstate **who, **own;

	if (p->n == 0)
		return;
	order = xcalloc(p->n, sizeof(*order));
	inv = xcalloc(p->n, sizeof(*inv));
	for (size_t i = 0; i < p->n; i++)
		order[i] = i;
	qsort_r(order, p->n, sizeof(*order), order_cmp, p);
	for (size_t i = 0; i < p->n; i++)
		inv[order[i]] = i;

	sorted = xcalloc(p->cap ? p->cap : 1, sizeof(*sorted));
	who = xcalloc(p->n, sizeof(*who));
	own = xcalloc(p->n, sizeof(*own));
	for (size_t i = 0; i < p->n; i++) {
		sorted[i] = p->actions[order[i]];
		who[i] = c->who[order[i]];
		own[i] = c->own[order[i]];
		for (size_t j = 0; j < sorted[i].n_depends_on; j++)
			sorted[i].depends_on[j] = inv[sorted[i].depends_on[j]];
		if (sorted[i].n_depends_on > 1)
			qsort(sorted[i].depends_on, sorted[i].n_depends_on, sizeof(size_t), size_cmp);
	}
	free(p->actions);
	p->actions = sorted;
	free(c->who);
	c->who = who;
	c->cap_who = p->n;
	free(c->own);
	c->own = own;
	c->cap_own = p->n;
	free(order);
	free(inv);
}

/*
 * A plan that changes the masks while mask bits are taken outside apmatrix
 * (live_outside_masks()) is shaped by them: one note that says so.  Not on a
 * plan without mask changes, so that a host with boot-time masks does not
 * log it on every converged run.
 */
static void note_outside_masks(struct ctx *c)
{
	struct bitmap256 ap, aq;
	_cleanup_free_ char *ra = NULL, *rq = NULL, *a = NULL, *q = NULL;
	bool mask_action = false;
	unsigned n;

	for (size_t i = 0; i < c->p->n && !mask_action; i++)
		mask_action = action_is_mask(&c->p->actions[i]);
	if (!mask_action)
		return;
	live_outside_masks(c->l, &ap, &aq);
	n = bitmap_count(&ap) + bitmap_count(&aq);
	if (!n)
		return;
	ra = bitmap_format_ranges(&ap, 2);
	rq = bitmap_format_ranges(&aq, 2);
	a = bitmap_empty(&ap) ? xstrdup("") : xasprintf("apmask %s", ra ? ra : "?");
	q = bitmap_empty(&aq) ? xstrdup("") : xasprintf("aqmask %s", rq ? rq : "?");
	diag_add(c->diags, DIAG_NOTE, NULL, NULL,
		 "%s%s%s %s taken from the host outside apmatrix (boot setting, chzdev or by hand): the planned mask "
		 "changes leave %s as %s and plan around %s",
		 a, *a && *q ? " and " : "", q, n > 1 ? "were" : "was", n > 1 ? "them" : "it",
		 n > 1 ? "they are" : "it is", n > 1 ? "them" : "it");
}

/* ---- entry points ---- */

int plan_build(const struct desired *d, const struct live *l, unsigned flags, struct plan **ret,
	       struct diag_list *diags)
{
	struct ctx *c = xcalloc(1, sizeof(*c));
	struct plan *p = xcalloc(1, sizeof(*p));
	int r;

	*c = (struct ctx){ .d = d, .l = l, .flags = flags, .diags = diags, .p = p };
	p->flags = flags;

	if (l->profile == PROFILE_NONE || l->profile >= _PROFILE_MAX) {
		plan_error(c, NULL, "no AP bus on this host: nothing can be configured");
		goto done;
	}
	if (hostcheck_vfio(d, l, diags)) { /* the same error from status and show */
		c->errors = true;
		goto done;
	}

	c->matrix_path = l->matrix_path ? l->matrix_path
			 : l->profile == PROFILE_RFC2017 ? SYSFS_MATRIX_RFC2017
							 : SYSFS_MATRIX_MAINLINE;
	c->mdev_type = l->mdev_type ? l->mdev_type
		       : l->profile == PROFILE_RFC2017 ? SYSFS_TYPE_RFC2017
						       : SYSFS_TYPE_MAINLINE;
	c->vfio_driver = l->vfio_driver ? l->vfio_driver
			 : l->profile == PROFILE_RFC2017 ? SYSFS_VFIO_DRIVER_RFC2017
							 : SYSFS_VFIO_DRIVER_MAINLINE;
	c->ap_config = (l->features & FEATURE_AP_CONFIG) && l->profile == PROFILE_DYNAMIC;

	/*
	 * A host that reserves queues by driver_override (6.19+) cannot change
	 * its masks: the kernel refuses mask writes while any override is set
	 * (kernel-abi.md §2.6).  Stop before the first write, not halfway.
	 */
	if (l->driver_override_in_use && d->masks == CONFIG_MASKS_AUTO && d->n_guests > 0) {
		const struct live_queue *q = NULL;
		char buf[APQN_STR_LEN];

		for (size_t i = 0; i < l->n_queues && !q; i++)
			if (l->queues[i].driver_override)
				q = &l->queues[i];
		plan_error_at(c, &d->masks_mark, NULL,
			      "queue %s has driver_override '%s': this host reserves queues per queue, and the "
			      "kernel refuses mask changes while any override is set; set host.masks: off and "
			      "bind the guests' queues with driver_override, or clear every override",
			      apqn_format(buf, q->adapter, q->domain), q->driver_override);
		goto done;
	}

	c->n_guests = d->n_guests;
	c->guests = xcalloc(d->n_guests, sizeof(*c->guests));
	for (size_t i = 0; i < d->n_guests; i++)
		c->guests[i].g = &d->guests[i];
	qsort(c->guests, c->n_guests, sizeof(*c->guests), guest_cmp);

	setup_masks(c);
	classify(c);
	index_queues(c);
	for (size_t gi = 0; gi < c->n_guests; gi++)
		if (c->guests[gi].ms >= 0)
			check_guest(c, gi);
	check_kept_mdevs(c);
	rename_hints(c);
	defer_uncertain(c);

	if (c->masks_auto)
		compute_cover(c);

	for (size_t gi = 0; gi < c->n_guests; gi++)
		if (!c->guests[gi].skip)
			plan_guest(c, gi);
	note_moved_usage(c);
	plan_removals(c);
	plan_takes(c);
	plan_assign_deps(c);
	propagate_pending(c);

	if (c->masks_auto)
		plan_mask_releases(c);
	else if (l->profile == PROFILE_RFC2017) {
		hold_back_queue_takes(c);
		plan_queue_releases(c);
	}
	if (c->masks_auto)
		note_outside_masks(c);

	sort_plan(c);
	propagate_pending(c);
	note_apqns(c);
	note_host_queues(c);

done:
	for (size_t i = 0; i < p->n; i++)
		p->n_pending += p->actions[i].pending;
	for (size_t gi = 0; gi < c->n_guests; gi++) {
		struct gstate *g = &c->guests[gi];

		/* left out for errors of its own (beyond the maximum, an absent queue): the first says why */
		if (!g->why && g->skip && !g->g->refused && !g->g->failed)
			g->why = own_error_why(c, g->g->name);
		if (!g->why)
			continue;
		p->left_out = xrealloc(p->left_out, (p->n_left_out + 1) * sizeof(*p->left_out));
		p->left_out[p->n_left_out++] = (struct plan_left_out){ .guest = g->g->name, .why = g->why };
		g->why = NULL;
	}
	r = c->errors ? -EINVAL : 0;
	free(c->who);
	free(c->own);
	free(c->guests);
	for (size_t k = 0; k < c->n_ms; k++)
		free(c->ms[k].ua); /* ud shares the allocation */
	free(c->ms);
	free(c->qtake);
	free(c);
	*ret = p;
	return r;
}

struct plan *plan_free(struct plan *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n; i++) {
		struct action *a = &p->actions[i];

		free(a->guest);
		free(a->reason);
		free(a->reason_base);
		free(a->waits_for);
		free(a->loses);
		free(a->gains);
		free(a->queues);
		free(a->file);
		for (size_t k = 0; k < a->n_writes; k++) {
			free(a->writes[k].path);
			free(a->writes[k].value);
		}
		free(a->depends_on);
	}
	free(p->actions);
	free(p->used);
	for (size_t i = 0; i < p->n_left_out; i++)
		free(p->left_out[i].why);
	free(p->left_out);
	free(p);
	return NULL;
}
