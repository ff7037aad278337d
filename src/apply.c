/* SPDX-License-Identifier: MIT */
/* apply.c: run a plan, keep going per guest, record what apmatrix did. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "apply.h"
#include "uuid.h"

bool apply_prune_owner(struct owner_db *o, const struct live *l)
{
	bool kept_changed = false;

	for (size_t i = 0; i < o->n_kept_out;) {
		const struct live_mdev *m = live_find_mdev(l, o->kept_out[i].uuid);
		const struct apqn_matrix *gm = m ? live_mdev_guest_view(l, m) : NULL;
		struct bitmap256 keep = { { 0 } };
		size_t n = o->n_kept_out;

		if (m && gm) {
			keep = bitmap_and(&o->kept_out[i].adapters, &m->matrix.adapters);
			keep = bitmap_andnot(&keep, &gm->adapters);
		}
		kept_changed |= owner_trim_kept_out(o, o->kept_out[i].uuid, &keep);
		if (o->n_kept_out == n)
			i++;
	}
	for (size_t i = 0; i < o->n_mdevs;) {
		if (!live_find_mdev(l, o->mdevs[i].uuid)) {
			char uuid[37];
			memcpy(uuid, o->mdevs[i].uuid, sizeof(uuid));
			owner_forget_mdev(o, uuid);
		} else
			i++;
	}
	if (l->features & FEATURE_MASKS) {
		o->apmask_taken = bitmap_andnot(&o->apmask_taken, &l->apmask);
		o->aqmask_taken = bitmap_andnot(&o->aqmask_taken, &l->aqmask);
	}
	for (unsigned a = 0; a < 256; a++) {
		struct bitmap256 still = { { 0 } };
		BITMAP_FOREACH(d, &o->queues_taken[a])
		{
			const struct live_queue *q = live_find_queue(l, a, (unsigned)d);
			/* on no driver: a move of apmatrix's that failed halfway, which the next plan finishes */
			if (q && (q->kind == QUEUE_DRIVER_VFIO || q->kind == QUEUE_DRIVER_NONE))
				bitmap_set(&still, (unsigned)d);
		}
		o->queues_taken[a] = still;
	}
	return kept_changed;
}

/* "a CEX5A accelerator", "a CEX7P in EP11 mode" */
static char *describe_card(const char *type, const char *mode)
{
	if (!mode)
		return xasprintf("a %s", type);
	if (streq(mode, "accel"))
		return xasprintf("a %s accelerator", type);
	if (streq(mode, "cca") || streq(mode, "ep11"))
		return xasprintf("a %s in %s mode", type, streq(mode, "cca") ? "CCA" : "EP11");
	return xasprintf("a %s in mode %s", type, mode);
}

static bool card_changed(const struct owner_card *was, const struct live_card *now)
{
	return !streq(was->type, now->type) || (was->mode && now->mode && !streq(was->mode, now->mode));
}

static void warn_card_changed(const struct live *l, const struct live_mdev *m, const char *guest, unsigned a,
			      const struct owner_card *was, const struct live_card *now, struct diag_list *diags)
{
	_cleanup_free_ char *then = describe_card(was->type, was->mode), *is = describe_card(now->type, now->mode);
	_cleanup_free_ char *who = guest && *guest ? xasprintf("guest '%s'", guest) : xasprintf("mdev %s", m->uuid);
	bool running = live_mdev_in_use(l, m); /* true too when nothing could tell (in_use_unknown) */
	const struct apqn_matrix *gm = running ? live_mdev_guest_view(l, m) : NULL;
	const char *state = m->in_use_unknown ? "maybe running" : running ? "running" : "not running";
	const char *sees = "the guest sees the new card";

	if (!running)
		sees = "the guest gets the new card when it starts";
	else if (gm && !bitmap_test(&gm->adapters, a))
		sees = "the kernel keeps the new card out of the guest's view for now";
	else if (m->in_use_unknown)
		sees = "the guest sees the new card if it runs, and gets it when it starts otherwise";

	diag_add(diags, DIAG_WARNING, NULL, guest && *guest ? guest : NULL,
		 "%s (%s): adapter 0x%02x is now %s; it was %s when apmatrix last saw it; %s", who, state, a, is,
		 then, sees);
}

bool apply_check_cards(struct owner_db *o, const struct live *l, bool record, struct diag_list *diags)
{
	struct bitmap256 held = { { 0 } };
	bool changed = false, unread = false;
	/* the kernel's boot ID, read by owner_load(); "" when it could not be read */
	const char *boot = o->boot;
	bool has_boot = l->has_seqnum && boot[0];
	/* no uevent since the records were checked, in this boot: they still tell the cards (owner.c) */
	bool unmoved = has_boot && o->has_cards_seqnum && o->cards_seqnum == l->uevent_seqnum &&
		       streq(o->cards_boot, boot);

	for (size_t i = 0; i < o->n_mdevs; i++) {
		const struct live_mdev *m = live_find_mdev(l, o->mdevs[i].uuid);

		if (m)
			held = bitmap_or(&held, &m->matrix.adapters);
	}
	for (unsigned a = 0; a < 256; a++) {
		struct owner_card *was = &o->cards[a];
		const struct live_card *now;
		bool swapped;

		if (!bitmap_test(&held, a)) {
			if (record && was->type) {
				owner_forget_card(o, a);
				changed = true;
			}
			continue;
		}
		if (unmoved && was->type)
			continue;
		now = live_card_details(l, a);
		if (now && !now->type)
			unread = true; /* checked at this number it was not: the number is not recorded */
		if (!now || !now->type)
			continue; /* away, or its type cannot be read: the record stays */
		swapped = was->type && card_changed(was, now);
		if (swapped) {
			for (size_t i = 0; i < o->n_mdevs; i++) {
				const struct live_mdev *m = live_find_mdev(l, o->mdevs[i].uuid);

				if (m && bitmap_test(&m->matrix.adapters, a))
					warn_card_changed(l, m, o->mdevs[i].guest, a, was, now, diags);
			}
		}
		/* a mode the kernel did not tell this time does not replace one it told before */
		if (record && (!was->type || swapped || (!was->mode && now->mode))) {
			if (owner_record_card(o, a, now->type, now->mode)) {
				changed = true;
			} else if (swapped) {
				/* a type the records cannot carry: warned once, then no record */
				owner_forget_card(o, a);
				changed = true;
			}
		}
	}
	/* checked as of the uevent number read before the host (live_read()) */
	if (record && has_boot && !unread && !bitmap_empty(&held))
		changed |= owner_record_cards_seqnum(o, l->uevent_seqnum, boot);
	return changed;
}

/* The (other) mdev that holds an APQN this action's guest wants, for EADDRINUSE. */
static char *explain_in_use(const struct action *a, const struct live *l)
{
	for (size_t i = 0; i < l->n_mdevs; i++) {
		const struct live_mdev *m = &l->mdevs[i];
		const struct live_mdev *self = live_find_mdev(l, a->uuid);
		struct apqn_matrix want = { 0 };

		if (streq(m->uuid, a->uuid))
			continue;
		if (a->kind == ACTION_WRITE_AP_CONFIG)
			want = a->matrix;
		else {
			if (self)
				want = self->matrix;
			if (a->kind == ACTION_ASSIGN_ADAPTER)
				bitmap_set(&want.adapters, a->number);
			else if (a->kind == ACTION_ASSIGN_DOMAIN)
				bitmap_set(&want.domains, a->number);
		}
		if (matrix_overlap(&want, &m->matrix)) {
			_cleanup_free_ char *q = matrix_format_overlap(&want, &m->matrix, 4);
			return xasprintf("APQN %s is assigned to mdev %s (%s)", q ? q : "?", m->uuid,
					 m->owned ? "created by apmatrix" : "not managed by apmatrix");
		}
	}
	return xstrdup("the kernel reports an APQN of it as assigned to another mdev (none is visible now)");
}

static bool is_matrix_action(const struct action *a)
{
	return a->kind == ACTION_WRITE_AP_CONFIG || a->kind == ACTION_ASSIGN_ADAPTER ||
	       a->kind == ACTION_ASSIGN_DOMAIN || a->kind == ACTION_ASSIGN_CONTROL_DOMAIN;
}

char *apply_explain(const struct action *a, int err, const struct live *l)
{
	switch (err) {
	case EADDRINUSE:
		if (is_matrix_action(a))
			return explain_in_use(a, l);
		break;
	case EADDRNOTAVAIL:
		return xstrdup(l->profile == PROFILE_STATIC || l->profile == PROFILE_RFC2017
				       ? "a queue of the new matrix is not bound to the vfio driver"
				       : "a queue of the new matrix is still reserved for host drivers (apmask/aqmask)");
	case EBUSY:
		if (a->kind == ACTION_RELEASE_APMASK || a->kind == ACTION_RELEASE_AQMASK)
			return xstrdup("an mdev still holds a queue that would go back to the host");
		if (a->kind == ACTION_TAKE_APMASK || a->kind == ACTION_TAKE_AQMASK)
			return xstrdup("the AP bus is busy (a scan or another mask change); the masks are unchanged");
		if (a->kind == ACTION_CREATE_MDEV)
			return xstrdup("the kernel is busy; the mdev was not created");
		if (a->kind == ACTION_TAKE_QUEUE || a->kind == ACTION_RELEASE_QUEUE)
			return xstrdup("the queue is busy (in use, or still held by an mdev)");
		/* only kernels before 6.0 refuse matrix changes of an mdev in use */
		if (l->profile == PROFILE_STATIC || l->profile == PROFILE_RFC2017 || a->kind == ACTION_REMOVE_MDEV)
			return xstrdup("the mdev is in use by a running guest");
		return xstrdup("the kernel answered busy (is the mdev in use?)");
	case EEXIST:
		/* apmatrix lists the vfio_ap mdevs: this one appeared meanwhile, or has another parent */
		return xasprintf("an mdev with UUID %s already exists: made by another tool meanwhile, or an mdev of "
				 "another parent (such as vfio_ccw) uses the UUID; see /sys/bus/mdev/devices/%s",
				 a->uuid, a->uuid);
	case ENODEV:
		if (a->kind == ACTION_CREATE_MDEV)
			return xstrdup("the mdev type is gone (vfio_ap unloaded, or its matrix device removed)");
		if (a->kind == ACTION_REMOVE_MDEV)
			return xstrdup("the mdev is gone");
		if (action_is_mask(a))
			return xstrdup("a bit is beyond the host's maximum, or the AP bus is gone");
		if (a->kind == ACTION_TAKE_QUEUE || a->kind == ACTION_RELEASE_QUEUE)
			return xstrdup("the queue is gone");
		return xstrdup("the number is beyond the host's maximum, or the mdev is gone");
	case EINVAL:
		return xasprintf("the kernel rejected the value '%s'", a->n_writes ? a->writes[0].value : "");
	case ENOENT:
		return xstrdup("the sysfs attribute does not exist (device gone, or vfio_ap not loaded)");
	default:
		break;
	}
	return xasprintf("%s", strerror(err));
}

/*
 * Make (claim) or withdraw the ownership claim of a take or a create: made
 * and saved before its writes, so that a run killed halfway still knows
 * what it took; withdrawn when the action failed.  A claim made before a
 * failed create is false (EEXIST included: someone else made that mdev),
 * and so is one made before a failed mask take: the kernel commits a mask
 * whole or not at all, and the bits a take names were the host's.
 */
static void set_claim(struct owner_db *o, const struct action *a, bool claim)
{
	switch (a->kind) {
	case ACTION_CREATE_MDEV:
		if (claim)
			owner_record_mdev(o, a->uuid, a->guest ? a->guest : "");
		else
			owner_forget_mdev(o, a->uuid);
		break;
	case ACTION_TAKE_APMASK:
		o->apmask_taken = claim ? bitmap_or(&o->apmask_taken, &a->bits) : bitmap_andnot(&o->apmask_taken, &a->bits);
		break;
	case ACTION_TAKE_AQMASK:
		o->aqmask_taken = claim ? bitmap_or(&o->aqmask_taken, &a->bits) : bitmap_andnot(&o->aqmask_taken, &a->bits);
		break;
	case ACTION_TAKE_QUEUE:
		if (claim)
			bitmap_set(&o->queues_taken[a->number >> 8], a->number & 0xff);
		else
			bitmap_clear(&o->queues_taken[a->number >> 8], a->number & 0xff);
		break;
	default:
		break;
	}
}

static bool record_after(struct owner_db *o, const struct action *a)
{
	switch (a->kind) {
	case ACTION_REMOVE_MDEV:
		owner_forget_mdev(o, a->uuid);
		return true;
	case ACTION_RELEASE_APMASK:
		o->apmask_taken = bitmap_andnot(&o->apmask_taken, &a->bits);
		return true;
	case ACTION_RELEASE_AQMASK:
		o->aqmask_taken = bitmap_andnot(&o->aqmask_taken, &a->bits);
		return true;
	case ACTION_RELEASE_QUEUE:
		bitmap_clear(&o->queues_taken[a->number >> 8], a->number & 0xff);
		return true;
	default:
		return false;
	}
}

/* a take that is the bind alone of a queue apmatrix recorded when the host was read: its move failed halfway */
static bool finishes_move(const struct live *l, const struct action *a)
{
	return a->n_writes == 1 && bitmap_test(&l->queues_taken[a->number >> 8], a->number & 0xff);
}

/*
 * A queue move whose write w - 1 failed after an unbind went through, or a
 * bind alone that failed: the queue is on no driver (its claim stays, and
 * the next run's plan binds it again).
 */
static bool left_unbound(const struct action *a, size_t w)
{
	if (a->kind != ACTION_TAKE_QUEUE && a->kind != ACTION_RELEASE_QUEUE)
		return false;
	return w > 1 || a->n_writes == 1;
}

void apply_history_done(struct apply_history *h)
{
	for (size_t i = 0; i < h->n_guests; i++)
		free(h->guests[i]);
	free(h->guests);
	free(h->host);
	free(h->refiltered);
	free(h->said);
	*h = (struct apply_history){};
}

bool apply_history_refiltered(const struct apply_history *h, const struct action *a)
{
	for (size_t k = 0; h && a->refilter && k < h->n_refiltered; k++)
		if (h->refiltered[k].number == a->number && streq(h->refiltered[k].uuid, a->uuid))
			return true;
	return false;
}

static void history_note_refilter(struct apply_history *h, const struct action *a)
{
	if (!h || a->kind != ACTION_ASSIGN_ADAPTER || apply_history_refiltered(h, a))
		return;
	h->refiltered = xgrow(h->refiltered, &h->cap_refiltered, h->n_refiltered + 1, sizeof(*h->refiltered));
	h->refiltered[h->n_refiltered] = (struct action){ .kind = a->kind, .number = a->number };
	snprintf(h->refiltered[h->n_refiltered++].uuid, sizeof(a->uuid), "%s", a->uuid);
}

static bool history_has_guest(const struct apply_history *h, const char *guest)
{
	for (size_t k = 0; h && guest && k < h->n_guests; k++)
		if (streq(h->guests[k], guest))
			return true;
	return false;
}

/* The same write as a host-level action that failed before: the same mask, a bit of it again, or the same queue. */
static bool history_has_host(const struct apply_history *h, const struct action *a)
{
	for (size_t k = 0; h && !a->guest && k < h->n_host; k++) {
		const struct action *f = &h->host[k];

		if (f->kind != a->kind)
			continue;
		if (action_is_mask(a) ? bitmap_intersects(&f->bits, &a->bits) : f->number == a->number)
			return true;
	}
	return false;
}

/* The same guest action: kind, mdev, number, bits and, for an ap_config write, the matrix written. */
static bool same_action(const struct action *f, const struct action *a)
{
	return f->kind == a->kind && f->number == a->number && streq(f->uuid, a->uuid) &&
	       bitmap_equal(&f->bits, &a->bits) &&
	       (a->kind != ACTION_WRITE_AP_CONFIG || memcmp(&f->matrix, &a->matrix, sizeof(a->matrix)) == 0);
}

/* a guest action that failed or was skipped in an earlier round of this run (not this one) */
static bool history_said(const struct apply_history *h, const struct action *a)
{
	for (size_t k = 0; h && a->guest && k < h->n_said; k++)
		if (h->said[k].round < h->round && same_action(&h->said[k].a, a))
			return true;
	return false;
}

static void history_note_said(struct apply_history *h, const struct action *a)
{
	if (!h || !a->guest)
		return;
	for (size_t k = 0; k < h->n_said; k++)
		if (same_action(&h->said[k].a, a))
			return;
	h->said = xgrow(h->said, &h->cap_said, h->n_said + 1, sizeof(*h->said));
	h->said[h->n_said].a = (struct action){ .kind = a->kind, .number = a->number, .bits = a->bits, .matrix = a->matrix };
	snprintf(h->said[h->n_said].a.uuid, sizeof(a->uuid), "%s", a->uuid);
	h->said[h->n_said++].round = h->round;
}

static void history_note(struct apply_history *h, const struct action *a)
{
	if (!h)
		return;
	history_note_said(h, a);
	if (a->guest) {
		if (history_has_guest(h, a->guest))
			return;
		h->guests = xgrow(h->guests, &h->cap_guests, h->n_guests + 1, sizeof(*h->guests));
		h->guests[h->n_guests++] = xstrdup(a->guest);
	} else {
		h->host = xgrow(h->host, &h->cap_host, h->n_host + 1, sizeof(*h->host));
		h->host[h->n_host++] = (struct action){ .kind = a->kind, .number = a->number, .bits = a->bits };
	}
}

static bool records_before(const struct action *a)
{
	return a->kind == ACTION_CREATE_MDEV || a->kind == ACTION_TAKE_APMASK || a->kind == ACTION_TAKE_AQMASK ||
	       a->kind == ACTION_TAKE_QUEUE;
}

/* The actions from i on that this run would still try: neither held back nor failed in an earlier round. */
static size_t count_left(const struct plan *p, size_t i, const struct apply_history *history)
{
	size_t n = 0;

	for (; i < p->n; i++) {
		const struct action *a = &p->actions[i];

		if (!a->pending && !history_has_host(history, a) && !apply_history_refiltered(history, a) &&
		    !history_has_guest(history, a->guest))
			n++;
	}
	return n;
}

/*
 * The plan held back what would change a running guest; a guest may have
 * started since (virsh start while apply runs: a whole run on 6.0-6.9 with
 * large matrices is seconds).  So before each write to an mdev that was
 * there when the host was read, look again.  Returns why the action must wait
 * now (the plan's reason for it, and that the guest started meanwhile), or
 * NULL: the guest still does not run, the plan knew it runs (a->hot, --force),
 * or --force lets a running guest be changed on this kernel.
 */
static char *started_meanwhile(const struct plan *p, const struct live *l, const struct action *a,
			       bool *force_helps, bool *maybe)
{
	const struct live_mdev *m;
	const char *reason;

	if (!a->uuid[0] || a->kind == ACTION_CREATE_MDEV || a->hot)
		return NULL;
	m = live_find_mdev(l, a->uuid);
	if (!m || m->fresh || !live_mdev_in_use_now(l, m))
		return NULL;
	*maybe = m->in_use_unknown;
	*force_helps = false;
	if (a->kind == ACTION_REMOVE_MDEV) /* even with --force: removing an mdev in use blocks until the guest stops */
		reason = *maybe ? REASON_MAYBE_NO_REMOVE : REASON_NO_REMOVE;
	else if (l->profile != PROFILE_DYNAMIC)
		reason = *maybe ? REASON_MAYBE_NO_HOTPLUG : REASON_NO_HOTPLUG;
	else if (p->flags & PLAN_FORCE)
		return NULL;
	else {
		reason = *maybe ? REASON_MAYBE_FORCE : REASON_FORCE;
		*force_helps = true;
	}
	return xasprintf("%s; it started while apply ran", reason);
}

/* One more pending action in res: one --force would do (force_helps), held back as maybe running (maybe). */
static void count_pending(struct apply_result *res, bool force_helps, bool maybe)
{
	res->pending++;
	res->pending_force += force_helps;
	res->pending_maybe += maybe;
}

void apply_count_pending(const struct plan *p, struct apply_result *ret)
{
	ret->pending = ret->pending_force = ret->pending_maybe = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->actions[i].pending)
			count_pending(ret, p->actions[i].force_helps, p->actions[i].maybe_running);
}

/* Report a, which the plan would have done, as pending after all: why, and what --force would do. */
static void hold_back(const struct action *a, const struct action *cause, bool force_helps, bool maybe, const char *why,
		      apply_report_fn report, void *userdata, struct apply_result *res)
{
	struct action held = *a; /* the pointers stay the plan's */

	held.pending = true;
	held.force_helps = force_helps;
	/*
	 * What --force would do to this guest, as the plan says it: nothing
	 * when it waits for another mdev, nor for a refilter (an adapter the
	 * guest does not see: nothing of the guest's comes or goes).
	 */
	held.force_hot = force_helps && streq(cause->uuid, a->uuid) && !a->refilter ? plan_action_hot(a) : 0;
	held.maybe_running = maybe;
	held.reason = (char *)why;
	held.waits_for = cause->waits_for ? cause->waits_for : (char *)cause->uuid;
	count_pending(res, force_helps, maybe);
	report(userdata, &held, APPLY_PENDING, 0, why);
}

/* an action held back in this run: the mdev action whose guest started (cause NULL: not held back) */
struct held {
	const struct action *cause;
	bool force_helps, maybe;
};

static bool is_mask_take(const struct action *a)
{
	return a->kind == ACTION_TAKE_APMASK || a->kind == ACTION_TAKE_AQMASK;
}

static bool is_take(const struct action *a)
{
	return is_mask_take(a) || a->kind == ACTION_TAKE_QUEUE;
}

/* failed, or not tried (skipped) */
static bool unwritten(enum apply_outcome o)
{
	return o == APPLY_FAILED || o == APPLY_SKIPPED;
}

/* What take t's dependents look at: whether each would be held back now (spec, valid where stamp == gen). */
struct take_check {
	const struct plan *p;
	const struct live *l;
	const struct held *held;
	size_t t;
	struct held *spec;
	size_t *stamp, gen;
	/* the actions that need take j: users[user_at[j]] to users[user_at[j + 1]], in plan order */
	size_t *user_at, *users;
};

/* a give-back of the other mask may rely on a mask take to keep an mdev's APQN from the host */
static enum action_kind other_release(const struct action *t)
{
	return t->kind == ACTION_TAKE_APMASK   ? ACTION_RELEASE_AQMASK
	       : t->kind == ACTION_TAKE_AQMASK ? ACTION_RELEASE_APMASK
					       : _ACTION_KIND_INVALID;
}

/* Index, once a run, what needs each take: what depends on it, and for a mask take the other mask's give-backs. */
static void take_check_init(struct take_check *tc)
{
	const struct plan *p = tc->p;
	size_t n_users = 0, masks[2], n_masks = 0;

	tc->spec = xcalloc(p->n, sizeof(*tc->spec));
	tc->stamp = xcalloc(p->n, sizeof(*tc->stamp));
	tc->user_at = xcalloc(p->n + 1, sizeof(*tc->user_at));
	/* the part of a split take that the plan left pending is never written: the written part needs the give-backs */
	for (size_t j = 0; j < p->n; j++)
		if (is_mask_take(&p->actions[j]) && !p->actions[j].pending)
			if (n_masks < ARRAY_SIZE(masks))
				masks[n_masks++] = j;
	/* twice: count, then fill (user_at[j + 1] counts up to where take j's users end) */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t k = 0; k < p->n; k++) {
			const struct action *a = &p->actions[k];

			for (size_t d = 0; d < a->n_depends_on; d++) {
				size_t j = a->depends_on[d];

				if (j < k && is_take(&p->actions[j])) {
					if (pass)
						tc->users[tc->user_at[j]++] = k;
					else
						tc->user_at[j + 1]++;
				}
			}
			for (size_t m = 0; m < n_masks; m++) {
				if (masks[m] >= k || a->kind != other_release(&p->actions[masks[m]]))
					continue;
				if (pass)
					tc->users[tc->user_at[masks[m]]++] = k;
				else
					tc->user_at[masks[m] + 1]++;
			}
		}
		if (!pass) {
			for (size_t j = 0; j < p->n; j++)
				tc->user_at[j + 1] += tc->user_at[j];
			n_users = tc->user_at[p->n];
			tc->users = xcalloc(n_users ? n_users : 1, sizeof(*tc->users));
		} else {
			/* the fill moved each start to the next one's: back by one take */
			memmove(tc->user_at + 1, tc->user_at, p->n * sizeof(*tc->user_at));
			tc->user_at[0] = 0;
		}
	}
}

/* Whether action k would be held back now, were take t not written; its cause, or a zeroed held. */
static struct held would_hold(struct take_check *tc, size_t k)
{
	const struct action *a = &tc->p->actions[k];
	struct held h = { 0 };
	char *why;

	if (k < tc->t)
		return tc->held[k];
	if (k == tc->t)
		return h;
	if (tc->stamp[k] == tc->gen)
		return tc->spec[k];
	why = started_meanwhile(tc->p, tc->l, a, &h.force_helps, &h.maybe);
	if (why)
		h.cause = a;
	free(why);
	for (size_t j = 0; j < a->n_depends_on && !h.cause; j++)
		if (a->depends_on[j] < k)
			h = would_hold(tc, a->depends_on[j]);
	tc->spec[k] = h;
	tc->stamp[k] = tc->gen;
	return h;
}

/*
 * Take t waits when every action of this run that needs it waits now too (a
 * guest started since the plan, which holds back a take that only pending
 * actions need): written, it would leave the host with fewer queues until
 * --force or the guest's stop.  What needs a take: what depends on it, and
 * for a mask take, a give-back of the other mask (the plan may trade bits:
 * the take keeps an mdev's APQN from the host that the give-back would hand
 * it).  A take that nothing needs, or something that does not wait, is
 * written as planned.  Returns the cause, or a zeroed held: written.
 */
static struct held take_waits(struct take_check *tc)
{
	const struct plan *p = tc->p;
	struct held first = { 0 };

	if (!tc->user_at)
		take_check_init(tc);
	tc->gen++;
	for (size_t u = tc->user_at[tc->t]; u < tc->user_at[tc->t + 1]; u++) {
		size_t k = tc->users[u];
		struct held h;

		if (p->actions[k].pending)
			continue;
		h = would_hold(tc, k);
		if (!h.cause)
			return (struct held){ 0 }; /* written in this run: it needs the take */
		if (!first.cause)
			first = h;
	}
	return first;
}

/* Whether action b relies on a step before t that failed or was skipped, other than a mask take. */
static bool needs_unwritten(const struct plan *p, const enum apply_outcome *outcome, const struct action *b, size_t t)
{
	for (size_t d = 0; d < b->n_depends_on; d++) {
		size_t j = b->depends_on[d];

		if (j < t && unwritten(outcome[j]) && !is_mask_take(&p->actions[j]))
			return true;
	}
	return false;
}

/*
 * Whether action k, after take t, is bound to be skipped in this run: it
 * relies on a step before t that failed or was skipped, or, for a guest's
 * action, its guest failed in an earlier round, an action of its guest
 * before t failed or was skipped, or one between t and k relies on such a
 * step.  A mask take does not count there: the other mask's take may stand
 * in for it (plan_needs_met()).
 */
static bool doomed(const struct plan *p, const struct apply_history *history, const enum apply_outcome *outcome,
		   size_t t, size_t k)
{
	const char *g = p->actions[k].guest;

	if (!g)
		return needs_unwritten(p, outcome, &p->actions[k], t);
	if (history_has_guest(history, g))
		return true;
	for (size_t m = 0; m <= k; m++) {
		const struct action *b = &p->actions[m];

		if (!b->guest || !streq(b->guest, g))
			continue;
		if (m < t) {
			if (unwritten(outcome[m]))
				return true;
			continue;
		}
		if (!b->pending && needs_unwritten(p, outcome, b, t))
			return true;
	}
	return false;
}

/*
 * Whether take t is needed by nothing this run can still write: every
 * action that needs it (a give-back of the other mask among them) and is
 * not pending is bound to be skipped.  Written, it would only leave the
 * host without its queues until the next run.
 */
static bool take_useless(struct take_check *tc, const struct apply_history *history, const enum apply_outcome *outcome)
{
	const struct plan *p = tc->p;
	size_t n = 0;

	if (!tc->user_at)
		take_check_init(tc);
	for (size_t u = tc->user_at[tc->t]; u < tc->user_at[tc->t + 1]; u++) {
		size_t k = tc->users[u];

		if (p->actions[k].pending)
			continue;
		if (!doomed(p, history, outcome, tc->t, k))
			return false;
		n++;
	}
	return n > 0;
}

/*
 * What each mask action moves once apply leaves one the plan meant to write
 * unwritten (held back, failed or skipped), as reported from then on.
 */
struct recount {
	unsigned *unwritten; /* NULL, or each mask action's recount when apply left it unwritten, 0 written */
	unsigned n;          /* recounts so far */
	struct action *shown; /* NULL, or the actions as plan_host_queues() counted them last */
};

/*
 * Mask action i is not written: count again what each mask action moves.
 * The other mask's give-backs after a take go unwritten with it (a held
 * take's wait with it, a failed or skipped one's are skipped): counted so
 * now, so that what it is reported to move holds.  A mask write is one
 * write that the kernel takes whole or not at all: a failed one moved
 * nothing.  Those left unwritten earlier keep what they were reported to
 * move (plan_host_queues() counts the latest first).
 */
static void recount_unwritten(const struct plan *p, const struct live *l, size_t i, struct recount *rc)
{
	if (!action_is_mask(&p->actions[i]))
		return;
	if (rc->unwritten && rc->unwritten[i])
		return; /* counted so when the take before it was left unwritten */
	if (!rc->unwritten)
		rc->unwritten = xcalloc(p->n, sizeof(*rc->unwritten));
	rc->unwritten[i] = ++rc->n;
	for (size_t k = i + 1; k < p->n; k++)
		if (p->actions[k].kind == other_release(&p->actions[i]) && !p->actions[k].pending && !rc->unwritten[k])
			rc->unwritten[k] = rc->n;
	if (rc->shown)
		plan_host_queues_free(p, rc->shown);
	else
		rc->shown = xcalloc(p->n, sizeof(*rc->shown));
	plan_host_queues(p, l, rc->unwritten, rc->shown);
}

int apply_plan(struct sysfs *s, struct owner_db *o, const struct plan *p, const struct live *l,
	       struct apply_history *history, apply_report_fn report, apply_stop_fn stop, void *userdata,
	       struct apply_result *ret)
{
	struct apply_result res = { 0 };
	_cleanup_free_ enum apply_outcome *outcome = xcalloc(p->n ? p->n : 1, sizeof(*outcome));
	_cleanup_free_ struct held *held = xcalloc(p->n ? p->n : 1, sizeof(*held));
	struct take_check tc = { .p = p, .l = l, .held = held };
	/* once a mask action the plan meant to write is not written: what each moves now, as reported */
	struct recount rc = { 0 };
	/* the mask bits this round's written takes cleared */
	struct bitmap256 taken_ap = { { 0 } }, taken_aq = { { 0 } };
	int r;

	if (history)
		history->round++;

	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->actions[i];
		_cleanup_free_ char *why = NULL;
		int err = 0;

		if (rc.shown)
			a = &rc.shown[i];
		if (a->pending) {
			outcome[i] = APPLY_PENDING;
			count_pending(&res, a->force_helps, a->maybe_running);
			report(userdata, a, APPLY_PENDING, 0, a->reason);
			continue;
		}
		/*
		 * The same host-level write failed in an earlier round: said and
		 * counted then; what needs it is skipped below.
		 */
		if (history_has_host(history, a)) {
			outcome[i] = APPLY_SKIPPED;
			recount_unwritten(p, l, i, &rc);
			continue;
		}
		/* assigned again in an earlier round and still left out: once per run (the verification says so) */
		if (apply_history_refiltered(history, a)) {
			outcome[i] = APPLY_SKIPPED;
			continue;
		}
		/* an earlier action of the same guest, or one this relies on, failed */
		if (history_has_guest(history, a->guest))
			why = xasprintf("not tried: an earlier step for guest '%s' failed", a->guest);
		for (size_t k = 0; k < a->n_depends_on && !why; k++) {
			size_t dep = a->depends_on[k];

			if (dep >= i || !unwritten(outcome[dep]))
				continue;
			/* a mask take that the other mask's written take stood in for */
			if (is_mask_take(&p->actions[dep]) && plan_needs_met(p, l, i, &taken_ap, &taken_aq))
				continue;
			why = xasprintf("not tried: it needs an earlier step that failed");
		}
		/*
		 * a give-back of the other mask counts on a mask take before it
		 * (take_waits()): not written, the take may leave an mdev's APQN
		 * with the host drivers that the give-back would hand them
		 */
		for (size_t k = 0; k < i && !why && (a->kind == ACTION_RELEASE_APMASK || a->kind == ACTION_RELEASE_AQMASK);
		     k++)
			if (unwritten(outcome[k]) && other_release(&p->actions[k]) == a->kind)
				why = xasprintf("not tried: it needs an earlier step that failed");
		for (size_t k = 0; k < i && !why && a->guest; k++)
			if (p->actions[k].guest && streq(p->actions[k].guest, a->guest) && unwritten(outcome[k]))
				why = xasprintf("not tried: an earlier step for guest '%s' failed", a->guest);
		/* once something was left unwritten: a take that only what is skipped needs */
		if (!why && is_take(a) && (res.failed || res.skipped || (history && (history->n_guests || history->n_host)))) {
			tc.t = i;
			if (take_useless(&tc, history, outcome))
				why = xasprintf("not tried: the steps that need it are not tried (an earlier step failed)");
		}
		if (why) {
			outcome[i] = APPLY_SKIPPED;
			/* it failed or was skipped in an earlier round of the run: said and counted then */
			if (history_said(history, a))
				continue;
			res.skipped++;
			history_note_said(history, a);
			report(userdata, a, APPLY_SKIPPED, 0, why);
			recount_unwritten(p, l, i, &rc);
			continue;
		}
		/* its own guest started meanwhile: the plan's reason for that, as for a guest running at plan time */
		why = started_meanwhile(p, l, a, &held[i].force_helps, &held[i].maybe);
		if (why)
			held[i].cause = a;
		/* what relies on an action held back here waits with it, as the plan's propagation does */
		for (size_t k = 0; k < a->n_depends_on && !why; k++) {
			size_t dep = a->depends_on[k];

			if (dep < i && held[dep].cause) {
				held[i] = held[dep];
				why = plan_waits_reason(held[i].cause, held[i].maybe);
			}
		}
		/* a take that only what waits now needs waits with it */
		if (!why && is_take(a)) {
			tc.t = i;
			held[i] = take_waits(&tc);
			if (held[i].cause)
				why = plan_waits_reason(held[i].cause, held[i].maybe);
		}
		/*
		 * A give-back of the other mask counts on a mask take the plan
		 * made before it (take_waits()): held, the give-back waits too,
		 * even if what held it lets go meanwhile, so that the host is
		 * never handed a queue an mdev still holds.
		 */
		for (size_t k = 0; k < i && !why && (a->kind == ACTION_RELEASE_APMASK || a->kind == ACTION_RELEASE_AQMASK);
		     k++)
			if (held[k].cause && other_release(&p->actions[k]) == a->kind) {
				held[i] = held[k];
				why = plan_waits_reason(held[i].cause, held[i].maybe);
			}
		if (why) {
			outcome[i] = APPLY_PENDING;
			/* the mask actions after it move what it leaves, and it what they leave */
			recount_unwritten(p, l, i, &rc);
			if (rc.shown)
				a = &rc.shown[i];
			hold_back(a, held[i].cause, held[i].force_helps, held[i].maybe, why, report, userdata, &res);
			continue;
		}
		/* between two actions, never inside one: the previous one's writes and records are complete */
		if (stop) {
			res.stopped = stop(userdata);
			if (res.stopped) {
				res.left = count_left(p, i, history);
				break;
			}
		}

		if (records_before(a)) {
			set_claim(o, a, true);
			r = owner_save(o);
			if (r < 0) {
				/* nothing written: the claim must not reach a later save of this run */
				set_claim(o, a, false);
				outcome[i] = APPLY_FAILED;
				res.failed++;
				if (!res.first_error)
					res.first_error = r;
				why = xasprintf("cannot record ownership under %s: %s", o->rundir, strerror(-r));
				history_note(history, a);
				report(userdata, a, APPLY_FAILED, -r, why);
				recount_unwritten(p, l, i, &rc);
				continue;
			}
		}
		size_t w;
		for (w = 0; w < a->n_writes && !err; w++) {
			res.writes++;
			r = sysfs_write_attr(s, a->writes[w].path, a->writes[w].value);
			if (r < 0)
				err = -r;
		}
		if (err) {
			outcome[i] = APPLY_FAILED;
			res.failed++;
			if (!res.first_error)
				res.first_error = -err;
			if (records_before(a)) {
				/*
				 * A queue's claim stays when its writes may have begun (the
				 * failed one was not the first, w - 1 went through: a failed
				 * rfc2017 move may have done its first write), and when the
				 * queue was apmatrix's already (the bind alone that finishes
				 * a move left on no driver); apply_prune_owner() sorts that
				 * out on the next run.
				 */
				if (a->kind != ACTION_TAKE_QUEUE || (w == 1 && !finishes_move(l, a)))
					set_claim(o, a, false);
				/* a claim left on disk would name what another tool made (EEXIST) as apmatrix's */
				r = owner_save(o);
				if (r < 0 && !res.unsaved++)
					res.unsaved_error = r;
			}
			why = apply_explain(a, err, l);
			if (left_unbound(a, w)) {
				char *t = why, q[APQN_STR_LEN];

				why = xasprintf("%s; queue %s is now bound to no driver, the next apply binds it again", t,
						apqn_format(q, a->number >> 8, a->number & 0xff));
				free(t);
			}
			history_note(history, a);
			report(userdata, a, APPLY_FAILED, err, why);
			recount_unwritten(p, l, i, &rc);
			continue;
		}
		/* unsaved, the records claim what is no longer apmatrix's: the run stops after this round */
		if (record_after(o, a)) {
			r = owner_save(o);
			if (r < 0 && !res.unsaved++)
				res.unsaved_error = r;
		}
		outcome[i] = APPLY_DONE;
		if (a->kind == ACTION_TAKE_APMASK)
			taken_ap = bitmap_or(&taken_ap, &a->bits);
		else if (a->kind == ACTION_TAKE_AQMASK)
			taken_aq = bitmap_or(&taken_aq, &a->bits);
		res.done++;
		if (a->refilter)
			history_note_refilter(history, a);
		report(userdata, a, APPLY_DONE, 0, NULL);
	}
	if (rc.shown)
		plan_host_queues_free(p, rc.shown);
	free(rc.shown);
	free(rc.unwritten);
	free(tc.spec);
	free(tc.stamp);
	free(tc.user_at);
	free(tc.users);
	*ret = res;
	return res.failed ? res.first_error : 0;
}
