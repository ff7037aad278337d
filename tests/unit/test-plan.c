/* SPDX-License-Identifier: MIT */
/*
 * test-plan.c: plan_build() on hand-built live and desired states.  Most
 * cases start from the seed host (examples/hosts/seed.yaml: cards 05 and 06,
 * each with domains 0004 0047 00ab 00ff) with the seed's two guests:
 *   guest1: adapters 05 06, domains 0004 00ab
 *   guest2: adapter 05, domains 0047 00ff
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apply.h"
#include "diags.h"
#include "plan.h"
#include "tap.h"

#define U1 "4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c"
#define U2 "5c2a8d2f-9e6f-4c2b-8e47-1d2a7b2f3c4d"
#define U3 "6d3b9e30-0f70-4d3c-9f58-2e3b8c304d5e"
#define UF "7d1c0a41-1234-4abc-8def-0123456789ab"
#define UO "8e2d1b52-2345-4bcd-9ef0-123456789abc"

#define F_612 (FEATURE_MASKS | FEATURE_GUEST_MATRIX | FEATURE_QUEUE_STATUS | FEATURE_AP_CONFIG | FEATURE_MATRIX_FEATURES)
#define F_60 (FEATURE_MASKS | FEATURE_GUEST_MATRIX | FEATURE_QUEUE_STATUS)
#define F_515 (FEATURE_MASKS)

#define MATRIX "devices/vfio_ap/matrix"
#define CREATE MATRIX "/mdev_supported_types/vfio_ap-passthrough/create"

/* ---- builders ---- */

/* set(b, 5, 6, -1) */
static void set(struct bitmap256 *b, ...)
{
	va_list ap;
	int n;

	va_start(ap, b);
	while ((n = va_arg(ap, int)) >= 0)
		bitmap_set(b, (unsigned)n);
	va_end(ap);
}

static struct live *live_new(enum kernel_profile prof, unsigned features)
{
	struct live *l = calloc(1, sizeof(*l));

	l->profile = prof;
	l->features = features;
	l->vfio_loaded = true;
	l->bindings_complete = true;
	l->profile_certain = true; /* as with an mdev; test_uncertain_* clear it */
	l->max_adapter = 0xff;
	l->max_domain = 0xff;
	if (prof == PROFILE_RFC2017) {
		l->matrix_path = "devices/ap_matrix/matrix";
		l->mdev_type = "ap_matrix-passthrough";
		l->vfio_driver = "vfio_ap_matrix";
	} else {
		l->matrix_path = MATRIX;
		l->mdev_type = "vfio_ap-passthrough";
		l->vfio_driver = "vfio_ap";
		l->apmask = bitmap_full();
		l->aqmask = bitmap_full();
	}
	return l;
}

static void live_queue(struct live *l, unsigned a, unsigned d, enum queue_driver kind)
{
	struct live_queue *q;

	l->queues = realloc(l->queues, (l->n_queues + 1) * sizeof(*l->queues));
	q = &l->queues[l->n_queues++];
	*q = (struct live_queue){ .adapter = a, .domain = d, .kind = kind };
	q->driver = kind == QUEUE_DRIVER_HOST ? "cex4queue"
		    : kind == QUEUE_DRIVER_VFIO ? (char *)l->vfio_driver
						: NULL;
}

static struct live_mdev *live_mdev(struct live *l, const char *uuid, bool owned, bool in_use)
{
	struct live_mdev *m;

	size_t i = 0;

	/* in uuid order, as live_read() leaves them (live.h) */
	l->mdevs = realloc(l->mdevs, (l->n_mdevs + 1) * sizeof(*l->mdevs));
	while (i < l->n_mdevs && strcasecmp(l->mdevs[i].uuid, uuid) < 0)
		i++;
	memmove(&l->mdevs[i + 1], &l->mdevs[i], (l->n_mdevs - i) * sizeof(*l->mdevs));
	l->n_mdevs++;
	m = &l->mdevs[i];
	*m = (struct live_mdev){ .owned = owned, .in_use = in_use, .details_read = true };
	snprintf(m->uuid, sizeof(m->uuid), "%s", uuid);
	return m;
}

static void live_done(struct live *l)
{
	free(l->queues);
	free(l->mdevs);
	free(l);
}

static struct desired *desired_new(void)
{
	struct desired *d = calloc(1, sizeof(*d));

	d->masks = CONFIG_MASKS_AUTO;
	return d;
}

/* A guest; usage domains are control domains (call after setting domains: cdoms_from_usage()). */
static struct desired_guest *guest(struct desired *d, const char *name, const char *uuid)
{
	struct desired_guest *g;

	d->guests = realloc(d->guests, (d->n_guests + 1) * sizeof(*d->guests));
	g = &d->guests[d->n_guests++];
	*g = (struct desired_guest){ .name = strdup(name), .usage_as_control = true };
	snprintf(g->uuid, sizeof(g->uuid), "%s", uuid);
	return g;
}

static void usage_as_control(struct apqn_matrix *m)
{
	m->control_domains = bitmap_or(&m->control_domains, &m->domains);
}

static void desired_done(struct desired *d)
{
	for (size_t i = 0; i < d->n_guests; i++)
		free(d->guests[i].name);
	free(d->guests);
	free(d);
}

static void seed_queues(struct live *l, enum queue_driver kind)
{
	live_queue(l, 5, 0x04, kind);
	live_queue(l, 5, 0x47, kind);
	live_queue(l, 5, 0xab, kind);
	live_queue(l, 5, 0xff, kind);
	live_queue(l, 6, 0x04, kind);
	live_queue(l, 6, 0x47, kind);
	live_queue(l, 6, 0xab, kind);
	live_queue(l, 6, 0xff, kind);
}

static void seed_matrix1(struct apqn_matrix *m)
{
	set(&m->adapters, 5, 6, -1);
	set(&m->domains, 0x04, 0xab, -1);
	usage_as_control(m);
}

static void seed_matrix2(struct apqn_matrix *m)
{
	set(&m->adapters, 5, -1);
	set(&m->domains, 0x47, 0xff, -1);
	usage_as_control(m);
}

static struct desired *seed_desired(void)
{
	struct desired *d = desired_new();

	seed_matrix1(&guest(d, "guest1", U1)->matrix);
	seed_matrix2(&guest(d, "guest2", U2)->matrix);
	return d;
}

/* The seed host before anything was done: every queue with the host driver. */
static struct live *seed_empty(enum kernel_profile prof, unsigned features)
{
	struct live *l = live_new(prof, features);

	seed_queues(l, QUEUE_DRIVER_HOST);
	return l;
}

/*
 * The seed host after apmatrix brought up the seed config: adapter 05 and
 * domains 0004/00ab taken (the host keeps 06.0047 and 06.00ff), or on
 * rfc2017 the six guest queues moved to the vfio driver.
 */
static struct live *seed_converged(enum kernel_profile prof, unsigned features)
{
	struct live *l = live_new(prof, features);

	seed_queues(l, QUEUE_DRIVER_VFIO);
	l->queues[5].kind = l->queues[7].kind = QUEUE_DRIVER_HOST; /* 06.0047 06.00ff */
	l->queues[5].driver = l->queues[7].driver = "cex4queue";
	if (prof == PROFILE_RFC2017) {
		set(&l->queues_taken[5], 0x04, 0x47, 0xab, 0xff, -1);
		set(&l->queues_taken[6], 0x04, 0xab, -1);
	} else {
		bitmap_clear(&l->apmask, 5);
		bitmap_clear(&l->aqmask, 0x04);
		bitmap_clear(&l->aqmask, 0xab);
		set(&l->apmask_taken, 5, -1);
		set(&l->aqmask_taken, 0x04, 0xab, -1);
	}
	seed_matrix1(&live_mdev(l, U1, true, false)->matrix);
	seed_matrix2(&live_mdev(l, U2, true, false)->matrix);
	return l;
}

/* ---- inspection ---- */

static struct plan *build(const struct desired *d, const struct live *l, unsigned flags, int expect_r,
			  struct diag_list *diags)
{
	struct plan *p = NULL;
	int r = plan_build(d, l, flags, &p, diags);

	CHECK(r == expect_r);
	CHECK(p != NULL);
	if (r != expect_r)
		printf("#   plan_build returned %d\n", r);
	/* invariants: phases in order, dependencies point backwards, pending counted */
	if (p) {
		size_t pending = 0;

		for (size_t i = 0; i < p->n; i++) {
			const struct action *a = &p->actions[i];

			if (i > 0)
				CHECK(p->actions[i - 1].phase <= a->phase);
			for (size_t k = 0; k < a->n_depends_on; k++)
				CHECK(a->depends_on[k] < i);
			CHECK(a->n_writes >= 1);
			pending += a->pending;
		}
		CHECK(pending == p->n_pending);
	}
	return p;
}

static char *dump(const struct plan *p)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->actions[i];

		fprintf(f, "%zu %s %s %s %s 0x%x%s", i, plan_phase_to_string(a->phase), action_kind_to_string(a->kind),
			a->guest ? a->guest : "-", a->uuid[0] ? a->uuid : "-", a->number, a->pending ? " pending" : "");
		for (size_t k = 0; k < a->n_writes; k++)
			fprintf(f, " [%s <- %s]", a->writes[k].path, a->writes[k].value);
		fprintf(f, " deps:");
		for (size_t k = 0; k < a->n_depends_on; k++)
			fprintf(f, "%s%zu", k ? "," : "", a->depends_on[k]);
		fprintf(f, " (%s)\n", a->reason ? a->reason : "");
	}
	fclose(f);
	return out;
}

static void show(const struct plan *p)
{
	char *s = dump(p);

	for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
		printf("#     %s\n", line);
	free(s);
}

/* show_free: the plan shown when the test has failed, then freed */
static void show_free(struct plan *p)
{
	if (tap_failed_)
		show(p);
	plan_free(p);
}

/* finish: a test's end: show_free(p), then the states and diagnostics freed */
static void finish(struct plan *p, struct live *l, struct desired *d, struct diag_list *dl)
{
	show_free(p);
	live_done(l);
	desired_done(d);
	diag_list_done(dl);
}

/* Check action i: kind, guest (NULL for host-level), number. */
static const struct action *expect(const struct plan *p, size_t i, enum action_kind kind, const char *guest,
				   unsigned number)
{
	const struct action *a;

	if (i >= p->n) {
		printf("#   no action %zu (plan has %zu)\n", i, p->n);
		tap_failed_ = 1;
		return NULL;
	}
	a = &p->actions[i];
	if (a->kind != kind || a->number != number || (guest ? !a->guest || strcmp(a->guest, guest) : !!a->guest)) {
		printf("#   action %zu: want %s %s 0x%x, have %s %s 0x%x\n", i, action_kind_to_string(kind),
		       guest ? guest : "-", number, action_kind_to_string(a->kind), a->guest ? a->guest : "-",
		       a->number);
		tap_failed_ = 1;
	}
	return a;
}

static bool deps_are(const struct action *a, size_t n, ...)
{
	va_list ap;
	bool ok = a && a->n_depends_on == n;

	va_start(ap, n);
	for (size_t k = 0; ok && k < n; k++)
		ok = a->depends_on[k] == va_arg(ap, size_t);
	va_end(ap);
	return ok;
}

static char *mdev_path(const char *uuid, const char *attr)
{
	char *s;

	if (asprintf(&s, MATRIX "/%s/%s", uuid, attr) < 0)
		abort();
	return s;
}

static char *ap_config_of(const struct apqn_matrix *m)
{
	char a[BITMAP_KERNEL_LEN], d[BITMAP_KERNEL_LEN], c[BITMAP_KERNEL_LEN], *s;

	bitmap_to_kernel(&m->adapters, a);
	bitmap_to_kernel(&m->domains, d);
	bitmap_to_kernel(&m->control_domains, c);
	if (asprintf(&s, "%s,%s,%s", a, d, c) < 0)
		abort();
	return s;
}

static void check_write(const struct action *a, size_t k, const char *path, const char *value)
{
	if (!a || k >= a->n_writes) {
		CHECK(!"write missing");
		return;
	}
	CHECK_STREQ(a->writes[k].path, path);
	CHECK_STREQ(a->writes[k].value, value);
}

static void check_mdev_write(const struct action *a, const char *uuid, const char *attr, const char *value)
{
	char *path = mdev_path(uuid, attr);

	check_write(a, 0, path, value);
	free(path);
}

static bool touches(const struct plan *p, const char *uuid)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->actions[i].uuid, uuid) == 0)
			return true;
	return false;
}

/* ---- tests ---- */

static void test_bringup_ap_config(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_empty(PROFILE_DYNAMIC, F_612);
	struct plan *p = build(d, l, 0, 0, &dl);
	const struct action *a;
	char *v;

	CHECK(p->n == 6);
	CHECK(p->n_pending == 0);
	CHECK(!has_diag(&dl, DIAG_ERROR, "guest1"));
	/*
	 * Cover: adapter 05 and domains 0004/00ab cost no host queue; adapter 06
	 * or domains 0047/00ff would take 06.0047/06.00ff from the host.
	 */
	a = expect(p, 0, ACTION_TAKE_APMASK, NULL, 0);
	check_write(a, 0, "bus/ap/apmask", "-0x05");
	CHECK_STREQ(a->reason, "guest1, guest2 need them");
	CHECK(a && a->phase == PHASE_TAKE_MASK && a->n_depends_on == 0);
	a = expect(p, 1, ACTION_TAKE_AQMASK, NULL, 0);
	check_write(a, 0, "bus/ap/aqmask", "-0x04,-0xab");
	CHECK_STREQ(a->reason, "guest1 needs them");
	a = expect(p, 2, ACTION_CREATE_MDEV, "guest1", 0);
	check_write(a, 0, CREATE, U1);
	CHECK(a && a->phase == PHASE_CREATE_MDEV);
	a = expect(p, 3, ACTION_CREATE_MDEV, "guest2", 0);
	check_write(a, 0, CREATE, U2);
	a = expect(p, 4, ACTION_WRITE_AP_CONFIG, "guest1", 0);
	v = ap_config_of(&d->guests[0].matrix);
	check_mdev_write(a, U1, "ap_config", v);
	/* bit order: adapters 5 and 6 are the 0x04 and 0x02 bits of the first byte */
	CHECK(strncmp(v, "0x06000000", 10) == 0);
	free(v);
	CHECK(deps_are(a, 3, (size_t)0, (size_t)1, (size_t)2));
	CHECK(a && matrix_equal(&a->matrix, &d->guests[0].matrix));
	a = expect(p, 5, ACTION_WRITE_AP_CONFIG, "guest2", 0);
	v = ap_config_of(&d->guests[1].matrix);
	check_mdev_write(a, U2, "ap_config", v);
	free(v);
	CHECK(deps_are(a, 2, (size_t)0, (size_t)3));
	finish(p, l, d, &dl);
}

static void test_bringup_individual(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_empty(PROFILE_DYNAMIC, F_60);
	struct plan *p = build(d, l, 0, 0, &dl);
	const struct action *a;

	CHECK(p->n == 15);
	a = expect(p, 0, ACTION_TAKE_APMASK, NULL, 0);
	check_write(a, 0, "bus/ap/apmask", "-0x05");
	a = expect(p, 1, ACTION_TAKE_AQMASK, NULL, 0);
	check_write(a, 0, "bus/ap/aqmask", "-0x04,-0xab");
	expect(p, 2, ACTION_CREATE_MDEV, "guest1", 0);
	expect(p, 3, ACTION_CREATE_MDEV, "guest2", 0);
	a = expect(p, 4, ACTION_ASSIGN_ADAPTER, "guest1", 5);
	check_mdev_write(a, U1, "assign_adapter", "0x05");
	CHECK(deps_are(a, 3, (size_t)0, (size_t)1, (size_t)2));
	a = expect(p, 5, ACTION_ASSIGN_ADAPTER, "guest1", 6);
	CHECK(deps_are(a, 2, (size_t)1, (size_t)2)); /* 06.0004 06.00ab: the domains */
	a = expect(p, 6, ACTION_ASSIGN_DOMAIN, "guest1", 0x04);
	check_mdev_write(a, U1, "assign_domain", "0x04");
	a = expect(p, 7, ACTION_ASSIGN_DOMAIN, "guest1", 0xab);
	check_mdev_write(a, U1, "assign_domain", "0xab");
	a = expect(p, 8, ACTION_ASSIGN_CONTROL_DOMAIN, "guest1", 0x04);
	check_mdev_write(a, U1, "assign_control_domain", "0x04");
	CHECK(deps_are(a, 1, (size_t)2)); /* control domains need only the mdev */
	expect(p, 9, ACTION_ASSIGN_CONTROL_DOMAIN, "guest1", 0xab);
	expect(p, 10, ACTION_ASSIGN_ADAPTER, "guest2", 5);
	a = expect(p, 11, ACTION_ASSIGN_DOMAIN, "guest2", 0x47);
	check_mdev_write(a, U2, "assign_domain", "0x47");
	CHECK(deps_are(a, 2, (size_t)0, (size_t)3));
	expect(p, 12, ACTION_ASSIGN_DOMAIN, "guest2", 0xff);
	expect(p, 13, ACTION_ASSIGN_CONTROL_DOMAIN, "guest2", 0x47);
	expect(p, 14, ACTION_ASSIGN_CONTROL_DOMAIN, "guest2", 0xff);
	finish(p, l, d, &dl);
}

static void test_converged_is_empty(void)
{
	static const struct {
		enum kernel_profile prof;
		unsigned features;
	} hosts[] = {
		{ PROFILE_DYNAMIC, F_612 },
		{ PROFILE_DYNAMIC, F_60 },
		{ PROFILE_STATIC, F_515 },
		{ PROFILE_RFC2017, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(hosts); i++) {
		struct diag_list dl = { 0 };
		struct desired *d = seed_desired();
		struct live *l = seed_converged(hosts[i].prof, hosts[i].features);
		struct plan *p = build(d, l, 0, 0, &dl);

		CHECK(plan_is_empty(p));
		CHECK(dl.n == 0);
		show_free(p);
		/* idempotence also holds for running guests and with --force */
		l->mdevs[0].in_use = l->mdevs[1].in_use = true;
		p = build(d, l, PLAN_FORCE, 0, &dl);
		CHECK(plan_is_empty(p));
		plan_free(p);
		live_done(l);
		desired_done(d);
		diag_list_done(&dl);
	}
}

/* Move domain 0x47 from guest2 to guest1. */
static struct desired *moved_desired(void)
{
	struct desired *d = seed_desired();

	bitmap_set(&d->guests[0].matrix.domains, 0x47);
	bitmap_set(&d->guests[0].matrix.control_domains, 0x47);
	bitmap_clear(&d->guests[1].matrix.domains, 0x47);
	bitmap_clear(&d->guests[1].matrix.control_domains, 0x47);
	return d;
}

static void test_move_domain_individual(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = moved_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_60);
	struct plan *p = build(d, l, 0, 0, &dl);
	const struct action *a;

	/* 06.0047 now goes to guest1 as well: domain 0047 leaves the host */
	CHECK(p->n == 5);
	a = expect(p, 0, ACTION_UNASSIGN_DOMAIN, "guest2", 0x47);
	check_mdev_write(a, U2, "unassign_domain", "0x47");
	CHECK(a && a->phase == PHASE_UNASSIGN);
	expect(p, 1, ACTION_UNASSIGN_CONTROL_DOMAIN, "guest2", 0x47);
	a = expect(p, 2, ACTION_TAKE_AQMASK, NULL, 0);
	check_write(a, 0, "bus/ap/aqmask", "-0x47");
	CHECK_STREQ(a->reason, "guest1 needs them");
	a = expect(p, 3, ACTION_ASSIGN_DOMAIN, "guest1", 0x47);
	check_mdev_write(a, U1, "assign_domain", "0x47");
	CHECK(deps_are(a, 2, (size_t)0, (size_t)2));
	a = expect(p, 4, ACTION_ASSIGN_CONTROL_DOMAIN, "guest1", 0x47);
	CHECK(a && a->n_depends_on == 0);
	finish(p, l, d, &dl);
}

static size_t count_diag(const struct diag_list *dl, enum diag_severity sev, const char *text)
{
	size_t n = 0;

	for (size_t i = 0; i < dl->n; i++)
		n += dl->items[i].severity == sev && strstr(dl->items[i].message, text);
	return n;
}

/*
 * A usage domain that passes from one guest's mdev to another's: a note, once
 * per pair, naming who had it; from an mdev apmatrix made for a guest no
 * longer declared too (by its UUID where no name was recorded); not from a
 * guest's own earlier mdev (its uuid changed), not from the host.
 */
static void test_moved_domain_notes(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = moved_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_60);
	struct plan *p = build(d, l, 0, 0, &dl);

	CHECK(count_diag(&dl, DIAG_NOTE, "takes usage domain") == 1);
	CHECK(has_diag(&dl, DIAG_NOTE,
		       "guest 'guest1': takes usage domain 0x47 on adapter 0x05 (APQN 05.0047) from guest 'guest2': "
		       "the domain keeps the master keys that 'guest2' set; zeroize it (TKE or HMC) unless 'guest1' "
		       "may use the secure keys of 'guest2'"));
	plan_free(p);
	diag_list_done(&dl);

	/* guest2 no longer declared, its mdev still there, no name recorded */
	d->n_guests = 1;
	free(d->guests[1].name);
	p = build(d, l, 0, 0, &dl);
	CHECK(count_diag(&dl, DIAG_NOTE, "takes usage domain") == 1);
	CHECK(has_diag(&dl, DIAG_NOTE,
		       "guest 'guest1': takes usage domain 0x47 on adapter 0x05 (APQN 05.0047) from mdev " U2
		       " (made by apmatrix): the domain keeps the master keys that its guest set;"));
	plan_free(p);
	diag_list_done(&dl);

	/* ... with its name recorded */
	for (size_t i = 0; i < l->n_mdevs; i++)
		if (!strcmp(l->mdevs[i].uuid, U2))
			l->mdevs[i].owner_guest = "guest2";
	p = build(d, l, 0, 0, &dl);
	CHECK(has_diag(&dl, DIAG_NOTE, "from guest 'guest2' (no longer declared): the domain keeps the master keys "
				       "that 'guest2' set;"));
	plan_free(p);
	diag_list_done(&dl);
	desired_done(d);

	/* guest2 declared with another uuid: from its own earlier mdev, no note */
	d = seed_desired();
	snprintf(d->guests[1].uuid, sizeof(d->guests[1].uuid), "%s", U3);
	p = build(d, l, 0, 0, &dl);
	CHECK(count_diag(&dl, DIAG_NOTE, "takes usage domain") == 0);
	plan_free(p);
	diag_list_done(&dl);
	live_done(l);

	/* bring-up: every domain comes from the host, no note */
	l = seed_empty(PROFILE_DYNAMIC, F_60);
	p = build(d, l, 0, 0, &dl);
	CHECK(count_diag(&dl, DIAG_NOTE, "takes usage domain") == 0);
	plan_free(p);
	live_done(l);
	desired_done(d);
	diag_list_done(&dl);
}

/*
 * 6.0 - 6.9: guest1's view lacks adapter 06 although every queue of it is
 * bound to vfio_ap (an earlier filter, then an unassign that did not filter
 * again): unassigned and assigned again, the assign after the unassign.
 * Not when a queue of 06 is not bound (the filter would drop it again), not
 * on 6.10+ (ap_config filters), not when the plan adds a domain anyway.
 */
static void test_refilter_stale_adapter(void)
{
	for (int round = 0; round < 4; round++) {
		struct diag_list dl = { 0 };
		struct desired *d = seed_desired();
		struct live *l = seed_converged(PROFILE_DYNAMIC, round == 2 ? F_612 : F_60);
		struct live_mdev *m = (struct live_mdev *)live_find_mdev(l, U1);
		struct plan *p;
		const struct action *a;

		m->has_guest_matrix = true;
		m->guest_matrix = m->matrix;
		bitmap_clear(&m->guest_matrix.adapters, 6);
		if (round == 1) {
			l->queues[6].kind = QUEUE_DRIVER_HOST; /* 06.00ab */
			l->queues[6].driver = "cex4queue";
		}
		if (round == 3) /* guest1 also gets domain 0x10, which no card has yet */
			set(&d->guests[0].matrix.domains, 0x10, -1);
		p = build(d, l, 0, 0, &dl);
		if (round == 0) {
			CHECK(p->n == 2);
			a = expect(p, 0, ACTION_UNASSIGN_ADAPTER, "guest1", 6);
			check_mdev_write(a, U1, "unassign_adapter", "0x06");
			CHECK(a && a->phase == PHASE_UNASSIGN && !a->pending);
			a = expect(p, 1, ACTION_ASSIGN_ADAPTER, "guest1", 6);
			check_mdev_write(a, U1, "assign_adapter", "0x06");
			CHECK(a && a->phase == PHASE_ASSIGN);
			CHECK(deps_are(a, 1, (size_t)0));
		} else if (round == 3) {
			for (size_t i = 0; i < p->n; i++)
				CHECK(p->actions[i].kind != ACTION_UNASSIGN_ADAPTER &&
				      p->actions[i].kind != ACTION_ASSIGN_ADAPTER);
			CHECK(p->n > 0);
		} else {
			CHECK(p->n == 0);
		}
		if (tap_failed_)
			printf("#   round %d\n", round);
		finish(p, l, d, &dl);
	}
}

static bool depends_on(const struct action *a, size_t dep)
{
	for (size_t j = 0; a && j < a->n_depends_on; j++)
		if (a->depends_on[j] == dep)
			return true;
	return false;
}

/* The action of guest's mdev (or host-level, guest NULL) of this kind and number, or NULL. */
static const struct action *find_action(const struct plan *p, enum action_kind kind, const char *guest,
					unsigned number)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->actions[i];

		if (a->kind == kind && a->number == number && (guest ? a->guest && !strcmp(a->guest, guest) : !a->guest))
			return a;
	}
	return NULL;
}

/*
 * The host of review 22 F2 on 6.0-6.9: guest1's mdev U1 holds {05,06}x{04}
 * (aqmask 0x04 taken by apmatrix), every other seed queue is the host's.
 */
static struct live *late_live(bool running)
{
	struct live *l = live_new(PROFILE_DYNAMIC, F_60);
	struct live_mdev *m;

	seed_queues(l, QUEUE_DRIVER_HOST);
	l->queues[0].kind = l->queues[4].kind = QUEUE_DRIVER_VFIO; /* 05.0004 06.0004 */
	l->queues[0].driver = l->queues[4].driver = "vfio_ap";
	bitmap_clear(&l->aqmask, 0x04);
	set(&l->aqmask_taken, 0x04, -1);
	m = live_mdev(l, U1, true, running);
	set(&m->matrix.adapters, 5, 6, -1);
	set(&m->matrix.domains, 0x04, -1);
	usage_as_control(&m->matrix);
	return l;
}

/*
 * 6.0-6.9, one write per number (review 22 F2): what an existing mdev loses
 * is unassigned after its assigns (PHASE_UNASSIGN_LATE), so that a running
 * guest keeps its old matrix when the mask take or an assign fails (apply
 * tries nothing of a guest after its failed step); the give-back waits for
 * the unassign.  Same order whether the guest runs (--force) or not, and
 * the same writes.  First, as before, only what must go first: an APQN
 * another guest wants, an assign that would otherwise write an APQN another
 * guest wants or the host drivers have, a domain that would keep an
 * adapter out of the guest's view on the kernel's last filter.
 */
static void test_late_unassign_individual(void)
{
	for (int running = 0; running < 2; running++) {
		struct diag_list dl = { 0 };
		struct desired *d = desired_new();
		struct live *l = late_live(running);
		struct apqn_matrix *w = &guest(d, "guest1", U1)->matrix;
		struct plan *p;
		const struct action *a;

		set(&w->adapters, 5, 6, -1);
		set(&w->domains, 0x47, -1);
		usage_as_control(w);
		p = build(d, l, running ? PLAN_FORCE : 0, 0, &dl);
		CHECK(p->n == 6);
		CHECK(p->n_pending == 0);
		a = expect(p, 0, ACTION_TAKE_AQMASK, NULL, 0);
		check_write(a, 0, "bus/ap/aqmask", "-0x47");
		a = expect(p, 1, ACTION_ASSIGN_DOMAIN, "guest1", 0x47);
		check_mdev_write(a, U1, "assign_domain", "0x47");
		CHECK(a && a->phase == PHASE_ASSIGN && deps_are(a, 1, (size_t)0));
		CHECK(a && a->hot == (running ? HOT_PLUG : 0));
		a = expect(p, 2, ACTION_ASSIGN_CONTROL_DOMAIN, "guest1", 0x47);
		CHECK(a && a->phase == PHASE_ASSIGN);
		a = expect(p, 3, ACTION_UNASSIGN_DOMAIN, "guest1", 0x04);
		check_mdev_write(a, U1, "unassign_domain", "0x04");
		CHECK(a && a->phase == PHASE_UNASSIGN_LATE && a->hot == (running ? HOT_UNPLUG : 0));
		a = expect(p, 4, ACTION_UNASSIGN_CONTROL_DOMAIN, "guest1", 0x04);
		CHECK(a && a->phase == PHASE_UNASSIGN_LATE);
		a = expect(p, 5, ACTION_RELEASE_AQMASK, NULL, 0);
		check_write(a, 0, "bus/ap/aqmask", "+0x04");
		CHECK(a && a->phase == PHASE_RELEASE_MASK && deps_are(a, 1, (size_t)3));
		CHECK_STREQ(plan_phase_to_string(PHASE_UNASSIGN_LATE), "late unassign");
		if (tap_failed_)
			printf("#   running %d\n", running);
		finish(p, l, d, &dl);
	}

	/* guest2 (new) wants 05.0004: domain 0x04 goes first, guest2's assigns wait for it */
	{
		struct diag_list dl = { 0 };
		struct desired *d = desired_new();
		struct live *l = late_live(false);
		struct apqn_matrix *w = &guest(d, "guest1", U1)->matrix, *w2;
		struct plan *p;
		const struct action *a, *u;

		set(&w->adapters, 5, 6, -1);
		set(&w->domains, 0x47, -1);
		usage_as_control(w);
		w2 = &guest(d, "guest2", U2)->matrix;
		set(&w2->adapters, 5, -1);
		set(&w2->domains, 0x04, -1);
		usage_as_control(w2);
		p = build(d, l, 0, 0, &dl);
		u = find_action(p, ACTION_UNASSIGN_DOMAIN, "guest1", 0x04);
		CHECK(u && u->phase == PHASE_UNASSIGN);
		a = find_action(p, ACTION_UNASSIGN_CONTROL_DOMAIN, "guest1", 0x04);
		CHECK(a && a->phase == PHASE_UNASSIGN_LATE); /* the kernel never checks control domains */
		a = find_action(p, ACTION_ASSIGN_DOMAIN, "guest2", 0x04);
		CHECK(a && u && depends_on(a, (size_t)(u - p->actions)));
		finish(p, l, d, &dl);
	}

	/*
	 * guest1 {05,06}x{04} -> {05}x{04,47}: with adapter 0x06 still there,
	 * the assign of 0x47 writes 06.0047 too.  First when the host drivers
	 * have 06.0047 then (round 0: the cover takes apmask 0x05, 05.0047
	 * alone; round 2: masks off, only apmask 0x05 clear) or guest2 wants it
	 * (round 1); late when apmask 0x06 is clear until the give-backs, which
	 * wait for the unassign (round 3: apmatrix took it earlier).
	 */
	for (int round = 0; round < 4; round++) {
		struct diag_list dl = { 0 };
		struct desired *d = desired_new();
		struct live *l = late_live(false);
		struct apqn_matrix *w = &guest(d, "guest1", U1)->matrix;
		struct plan *p;
		const struct action *a, *u;

		set(&w->adapters, 5, -1);
		set(&w->domains, 0x04, 0x47, -1);
		usage_as_control(w);
		if (round == 1) {
			struct apqn_matrix *w2 = &guest(d, "guest2", U2)->matrix;

			set(&w2->adapters, 6, -1);
			set(&w2->domains, 0x47, -1);
			usage_as_control(w2);
		}
		if (round == 2) {
			d->masks = CONFIG_MASKS_OFF;
			bitmap_clear(&l->apmask, 5); /* 05.* are not the host's: only 06.0047 is */
		}
		if (round == 3) {
			bitmap_clear(&l->apmask, 6);
			set(&l->apmask_taken, 6, -1);
		}
		p = build(d, l, 0, 0, &dl);
		u = find_action(p, ACTION_UNASSIGN_ADAPTER, "guest1", 6);
		CHECK(u && u->phase == (round == 3 ? PHASE_UNASSIGN_LATE : PHASE_UNASSIGN));
		a = find_action(p, ACTION_ASSIGN_DOMAIN, "guest1", 0x47);
		CHECK(a && a->phase == PHASE_ASSIGN);
		if (round == 0) /* 05.0047 alone leaves the host */
			CHECK(find_action(p, ACTION_TAKE_APMASK, NULL, 0) && !find_action(p, ACTION_TAKE_AQMASK, NULL, 0));
		if (round == 3) {
			const struct action *r = find_action(p, ACTION_RELEASE_APMASK, NULL, 0);

			/* apmask 0x06 goes back after the unassign that frees 06.0004 and 06.0047 */
			CHECK(r && u && r->phase == PHASE_RELEASE_MASK && depends_on(r, (size_t)(u - p->actions)));
			CHECK(p->n == 6);
			/* 06.0047 comes with the assign of 0x47 and goes with the unassign of 0x06 */
			CHECK_STREQ(a ? a->gains : NULL, "APQNs 05.0047 06.0047");
			CHECK_STREQ(u ? u->loses : NULL, "APQNs 06.0004 06.0047");
		}
		if (tap_failed_)
			printf("#   round %d\n", round);
		finish(p, l, d, &dl);
	}

	/* 06.0004 on no driver: the filter on the assign of 0x47 would keep adapter 06 out; 0x04 goes first */
	{
		struct diag_list dl = { 0 };
		struct desired *d = desired_new();
		struct live *l = late_live(false);
		struct apqn_matrix *w = &guest(d, "guest1", U1)->matrix;
		struct plan *p;
		const struct action *a;

		l->queues[4].kind = QUEUE_DRIVER_NONE;
		l->queues[4].driver = NULL;
		set(&w->adapters, 5, 6, -1);
		set(&w->domains, 0x47, -1);
		usage_as_control(w);
		p = build(d, l, 0, 0, &dl);
		a = find_action(p, ACTION_UNASSIGN_DOMAIN, "guest1", 0x04);
		CHECK(a && a->phase == PHASE_UNASSIGN);
		finish(p, l, d, &dl);
	}

	/* before 6.0 (no hot plug; every queue of the new matrix checked): first, as always */
	{
		struct diag_list dl = { 0 };
		struct desired *d = desired_new();
		struct live *l = late_live(false);
		struct apqn_matrix *w = &guest(d, "guest1", U1)->matrix;
		struct plan *p;

		l->profile = PROFILE_STATIC;
		l->features = F_515;
		set(&w->adapters, 5, 6, -1);
		set(&w->domains, 0x47, -1);
		usage_as_control(w);
		p = build(d, l, 0, 0, &dl);
		for (size_t i = 0; i < p->n; i++)
			CHECK(p->actions[i].phase != PHASE_UNASSIGN_LATE);
		CHECK(find_action(p, ACTION_UNASSIGN_DOMAIN, "guest1", 0x04) != NULL);
		finish(p, l, d, &dl);
	}
}

static void test_move_domain_ap_config(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = moved_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_612);
	struct plan *p = build(d, l, 0, 0, &dl);
	const struct action *a;
	char *v;

	/* guest2 only loses: its final matrix is written early, guest1 waits for it */
	CHECK(p->n == 3);
	a = expect(p, 0, ACTION_WRITE_AP_CONFIG, "guest2", 0);
	CHECK(a && a->phase == PHASE_UNASSIGN);
	v = ap_config_of(&d->guests[1].matrix);
	check_mdev_write(a, U2, "ap_config", v);
	free(v);
	expect(p, 1, ACTION_TAKE_AQMASK, NULL, 0);
	a = expect(p, 2, ACTION_WRITE_AP_CONFIG, "guest1", 0);
	CHECK(a && a->phase == PHASE_ASSIGN);
	CHECK(deps_are(a, 2, (size_t)0, (size_t)1));
	finish(p, l, d, &dl);
}

static void test_ap_config_intermediate(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = moved_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_612);
	struct plan *p;
	const struct action *a;
	struct apqn_matrix inter;
	char *v;

	/* guest2 gives 0047 to guest1 and gets 0010: lose early, gain late */
	live_queue(l, 5, 0x10, QUEUE_DRIVER_VFIO);
	bitmap_set(&d->guests[1].matrix.domains, 0x10);
	bitmap_set(&d->guests[1].matrix.control_domains, 0x10);
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 4);
	a = expect(p, 0, ACTION_WRITE_AP_CONFIG, "guest2", 0);
	CHECK(a && a->phase == PHASE_UNASSIGN);
	inter = l->mdevs[1].matrix;
	bitmap_clear(&inter.domains, 0x47);
	bitmap_clear(&inter.control_domains, 0x47);
	v = ap_config_of(&inter);
	check_mdev_write(a, U2, "ap_config", v);
	free(v);
	expect(p, 1, ACTION_TAKE_AQMASK, NULL, 0);
	a = expect(p, 2, ACTION_WRITE_AP_CONFIG, "guest1", 0);
	CHECK(deps_are(a, 2, (size_t)0, (size_t)1));
	a = expect(p, 3, ACTION_WRITE_AP_CONFIG, "guest2", 0);
	CHECK(a && a->phase == PHASE_ASSIGN && matrix_equal(&a->matrix, &d->guests[1].matrix));
	finish(p, l, d, &dl);
}

/*
 * guest2's adapter 0x05 is replaced by 0x06 (6.12): one ap_config write,
 * after the take of adapter 0x06 and before the give back of 0x05, which
 * waits for it (the kernel refuses to hand an assigned queue to the host).
 */
static void test_renumber_one_ap_config(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_612);
	struct plan *p;
	const struct action *a;
	size_t n_config = 0, config = 0, take = 0, release = 0;

	d->guests[1].matrix.adapters = (struct bitmap256){ { 0 } };
	bitmap_set(&d->guests[1].matrix.adapters, 6);
	p = build(d, l, 0, 0, &dl);
	for (size_t i = 0; i < p->n; i++) {
		a = &p->actions[i];
		if (a->kind == ACTION_WRITE_AP_CONFIG) {
			n_config++;
			config = i;
			CHECK_STREQ(a->guest, "guest2");
			CHECK(matrix_equal(&a->matrix, &d->guests[1].matrix));
		} else if (a->kind == ACTION_TAKE_APMASK || a->kind == ACTION_TAKE_AQMASK)
			take = i;
		else if (a->kind == ACTION_RELEASE_APMASK) {
			release = i;
			CHECK(bitmap_test(&a->bits, 5));
		}
	}
	CHECK(n_config == 1);
	CHECK(take < config && config < release);
	a = &p->actions[release];
	CHECK(a->kind == ACTION_RELEASE_APMASK && a->phase == PHASE_RELEASE_MASK);
	CHECK(deps_are(a, 1, config));
	finish(p, l, d, &dl);
}

static void test_drop_owned_guest(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_60);
	struct plan *p;
	const struct action *a;

	d->n_guests = 1; /* guest2 dropped */
	free(d->guests[1].name);
	p = build(d, l, 0, 0, &dl);
	/*
	 * guest2's mdev goes; 05.0047 and 05.00ff become host queues nobody
	 * wants, so adapter 05 goes back to the host once the mdev is gone;
	 * domains 0004/00ab alone keep guest1's queues away from the host.
	 */
	CHECK(p->n == 2);
	a = expect(p, 0, ACTION_REMOVE_MDEV, NULL, 0);
	check_mdev_write(a, U2, "remove", "1");
	CHECK_STREQ(a->reason, "no longer declared; created by apmatrix");
	CHECK(a && a->phase == PHASE_REMOVE_MDEV);
	a = expect(p, 1, ACTION_RELEASE_APMASK, NULL, 0);
	check_write(a, 0, "bus/ap/apmask", "+0x05");
	CHECK_STREQ(a->reason, "no declared guest needs them; 2 queues return to the host drivers: 05.0047 05.00ff");
	CHECK(deps_are(a, 1, (size_t)0));
	CHECK(!touches(p, U1));
	finish(p, l, d, &dl);
}

/* apply's last round after a guest's step failed: its mdev stays, what the run took for it goes back */
static void test_failed_guest_gives_back(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_60);
	struct plan *p;
	const struct action *a;

	/* guest2 gains adapter 0x07; the run took apmask 0x07 for it, then its assign failed */
	set(&d->guests[1].matrix.adapters, 7, -1);
	bitmap_clear(&l->apmask, 7);
	set(&l->apmask_taken, 7, -1);
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 1);
	expect(p, 0, ACTION_ASSIGN_ADAPTER, "guest2", 7);
	show_free(p);

	d->guests[1].failed = true;
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 1);
	a = expect(p, 0, ACTION_RELEASE_APMASK, NULL, 0);
	check_write(a, 0, "bus/ap/apmask", "+0x07");
	CHECK_STREQ(a->reason, "the change of guest 'guest2' that needs them failed: the next run takes them again");
	CHECK(!touches(p, U2));
	finish(p, l, d, &dl);
}

/*
 * Review 22 F1: guest1's mdev holds {05,06}x{04}; apmatrix took aqmask 0x04
 * and, in this run, apmask 0x05 for guest1's move to {05}x{04,47,ab,ff},
 * whose write failed.  Both bits are give-back candidates for 05.0004, but
 * 06.0004 (apmask 0x06 stays the host's) forces aqmask 0x04 to stay, and
 * that alone keeps 05.0004 from the host: apmask 0x05 goes back, with
 * 05.0047 05.00ab 05.00ff.  Keeping the first bit met (apmask 0x05) kept
 * both.  With both bits free to go (adapter 0x06 not in the mdev) the one
 * whose give-back returns fewer queues stays: aqmask 0x04 (06.0004, and
 * 05.0004 that the mdev holds) rather than apmask 0x05 (05.0047 05.00ab
 * 05.00ff, and 05.0004).
 */
static void test_give_back_keeps_forced_bit(void)
{
	for (int round = 0; round < 2; round++) {
		struct diag_list dl = { 0 };
		struct desired *d = desired_new();
		struct live *l = live_new(PROFILE_DYNAMIC, F_612);
		struct desired_guest *g = guest(d, "guest1", U1);
		struct live_mdev *m;
		struct plan *p;
		const struct action *a;

		seed_queues(l, QUEUE_DRIVER_VFIO);
		l->queues[5].kind = l->queues[6].kind = l->queues[7].kind = QUEUE_DRIVER_HOST; /* 06.0047-06.00ff */
		l->queues[5].driver = l->queues[6].driver = l->queues[7].driver = "cex4queue";
		bitmap_clear(&l->apmask, 5);
		set(&l->apmask_taken, 5, -1);
		bitmap_clear(&l->aqmask, 0x04);
		set(&l->aqmask_taken, 0x04, -1);
		m = live_mdev(l, U1, true, false);
		set(&m->matrix.adapters, 5, -1);
		if (round == 0)
			set(&m->matrix.adapters, 6, -1);
		set(&m->matrix.domains, 0x04, -1);
		usage_as_control(&m->matrix);
		set(&g->matrix.adapters, 5, -1);
		set(&g->matrix.domains, 0x04, 0x47, 0xab, 0xff, -1);
		usage_as_control(&g->matrix);
		g->failed = true;
		p = build(d, l, 0, 0, &dl);
		CHECK(p->n == 1);
		a = expect(p, 0, ACTION_RELEASE_APMASK, NULL, 0);
		check_write(a, 0, "bus/ap/apmask", "+0x05");
		CHECK(!touches(p, U1));
		CHECK(has_diag(&dl, DIAG_NOTE, round == 0 ? "aqmask bit 0x04 stays taken: APQN 06.0004 is still assigned to mdev " U1
							  : "aqmask bit 0x04 stays taken: APQN 05.0004 is still assigned to mdev " U1));
		CHECK(!has_diag(&dl, DIAG_NOTE, "apmask bit 0x05 stays taken"));
		if (tap_failed_)
			printf("#   round %d\n", round);
		finish(p, l, d, &dl);
	}
}

static void test_drop_owned_guest_recorded_name(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_612);
	struct plan *p;

	l->mdevs[1].owner_guest = "guest2";
	d->n_guests = 1;
	free(d->guests[1].name);
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n >= 1);
	expect(p, 0, ACTION_REMOVE_MDEV, "guest2", 0);
	plan_free(p);
	live_done(l);
	desired_done(d);
	diag_list_done(&dl);
}

static void test_drop_foreign_guest(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_60);
	struct plan *p;

	l->mdevs[1].owned = false; /* made by hand */
	d->n_guests = 1;
	free(d->guests[1].name);
	p = build(d, l, 0, 0, &dl);
	/* never written; adapter 05 stays taken because 05.0047 is still assigned there */
	CHECK(!touches(p, U2));
	CHECK(plan_is_empty(p));
	CHECK(has_diag(&dl, DIAG_NOTE,
		       "apmask bit 0x05 stays taken: APQN 05.0047 is still assigned to mdev " U2 " (not managed by apmatrix, which never removes it: once it is removed or no longer has the APQN, apply gives the bit back)"));
	CHECK(diag_count(&dl, DIAG_ERROR) == 0);
	finish(p, l, d, &dl);
}

static void test_add_control_domain(void)
{
	static const unsigned features[] = { F_60, F_612 };

	for (size_t i = 0; i < ARRAY_SIZE(features); i++) {
		struct diag_list dl = { 0 };
		struct desired *d = seed_desired();
		struct live *l = seed_converged(PROFILE_DYNAMIC, features[i]);
		struct plan *p;
		const struct action *a;

		bitmap_set(&d->guests[0].matrix.control_domains, 0x35);
		p = build(d, l, 0, 0, &dl);
		CHECK(p->n == 1);
		if (features[i] & FEATURE_AP_CONFIG) {
			a = expect(p, 0, ACTION_WRITE_AP_CONFIG, "guest1", 0);
			CHECK(a && a->phase == PHASE_ASSIGN);
		} else {
			a = expect(p, 0, ACTION_ASSIGN_CONTROL_DOMAIN, "guest1", 0x35);
			check_mdev_write(a, U1, "assign_control_domain", "0x35");
		}
		finish(p, l, d, &dl);
	}
}

static void test_running_guest(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = moved_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_60);
	struct plan *p;
	const struct action *a;

	l->mdevs[1].in_use = true; /* guest2 runs */
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 5);
	CHECK(p->n_pending == 4);
	a = expect(p, 0, ACTION_UNASSIGN_DOMAIN, "guest2", 0x47);
	CHECK(a && a->pending);
	CHECK_STREQ(a->reason, "guest is running (use --force)");
	a = expect(p, 1, ACTION_UNASSIGN_CONTROL_DOMAIN, "guest2", 0x47);
	CHECK(a && a->pending);
	/* only the assign that waits needs the take: it waits too, the host keeps 0x47 meanwhile */
	a = expect(p, 2, ACTION_TAKE_AQMASK, NULL, 0);
	CHECK(a && a->pending && a->force_helps);
	CHECK_STREQ(a->reason, "waits for 'guest2' (running)");
	a = expect(p, 3, ACTION_ASSIGN_DOMAIN, "guest1", 0x47);
	CHECK(a && a->pending);
	CHECK_STREQ(a->reason, "waits for 'guest2' (running)");
	a = expect(p, 4, ACTION_ASSIGN_CONTROL_DOMAIN, "guest1", 0x47);
	CHECK(a && !a->pending);
	plan_free(p);

	/* --force: hot unplug on 6.0+ */
	p = build(d, l, PLAN_FORCE, 0, &dl);
	CHECK(p->n == 5);
	CHECK(p->n_pending == 0);
	plan_free(p);
	live_done(l);
	desired_done(d);
	diag_list_done(&dl);
}

static void test_running_guest_static(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = moved_desired();
	struct live *l = seed_converged(PROFILE_STATIC, F_515);
	struct plan *p;
	const struct action *a;

	l->mdevs[1].in_use = true;
	p = build(d, l, PLAN_FORCE, 0, &dl);
	CHECK(p->n == 5);
	CHECK(p->n_pending == 4);
	a = expect(p, 0, ACTION_UNASSIGN_DOMAIN, "guest2", 0x47);
	CHECK(a && a->pending && a->reason && strstr(a->reason, "cannot change a running guest"));
	a = expect(p, 2, ACTION_TAKE_AQMASK, NULL, 0);
	CHECK(a && a->pending && !a->force_helps);
	CHECK_STREQ(a->reason, "waits for 'guest2' (running)");
	plan_free(p);
	live_done(l);
	desired_done(d);
	diag_list_done(&dl);
}

static void test_owned_in_use_never_removed(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_60);
	struct plan *p;
	const struct action *a;

	l->mdevs[1].in_use = true;
	d->n_guests = 1;
	free(d->guests[1].name);
	p = build(d, l, PLAN_FORCE, 0, &dl);
	a = expect(p, 0, ACTION_REMOVE_MDEV, NULL, 0);
	CHECK(a && a->pending);
	CHECK_STREQ(a->reason, "guest is running (an mdev in use is never removed)");
	/* and the mask under it is not given back */
	for (size_t i = 0; i < p->n; i++)
		CHECK(p->actions[i].kind != ACTION_RELEASE_APMASK || !bitmap_test(&p->actions[i].bits, 5));
	finish(p, l, d, &dl);
}

/* Where nothing can tell whether a guest runs (live_mdev.in_use_unknown), each case of a running guest, said so. */
static void test_maybe_running(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = moved_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_60);
	struct plan *p;
	const struct action *a;

	l->mdevs[1].in_use = l->mdevs[1].in_use_unknown = true;
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 5);
	CHECK(p->n_pending == 4);
	a = expect(p, 0, ACTION_UNASSIGN_DOMAIN, "guest2", 0x47);
	CHECK(a && a->pending && a->force_helps && a->maybe_running);
	CHECK_STREQ(a->reason, "cannot tell whether a guest is running (use --force)");
	a = expect(p, 3, ACTION_ASSIGN_DOMAIN, "guest1", 0x47);
	CHECK(a && a->pending && a->force_helps && a->maybe_running);
	CHECK_STREQ(a->reason, "waits for 'guest2' (maybe running)");
	a = expect(p, 2, ACTION_TAKE_AQMASK, NULL, 0);
	CHECK(a && a->pending && a->force_helps && a->maybe_running);
	CHECK_STREQ(a->reason, "waits for 'guest2' (maybe running)");
	plan_free(p);
	/* --force changes it as it would a running guest's (hot plug) */
	p = build(d, l, PLAN_FORCE, 0, &dl);
	CHECK(p->n == 5);
	CHECK(p->n_pending == 0);
	plan_free(p);
	live_done(l);

	l = seed_converged(PROFILE_STATIC, F_515);
	l->mdevs[1].in_use = l->mdevs[1].in_use_unknown = true;
	p = build(d, l, PLAN_FORCE, 0, &dl);
	CHECK(p->n_pending == 4);
	a = expect(p, 0, ACTION_UNASSIGN_DOMAIN, "guest2", 0x47);
	CHECK(a && a->pending && !a->force_helps && a->maybe_running);
	CHECK_STREQ(a->reason, "cannot tell whether a guest is running (this kernel cannot change a running guest)");
	plan_free(p);
	live_done(l);
	desired_done(d);

	d = seed_desired();
	l = seed_converged(PROFILE_DYNAMIC, F_60);
	l->mdevs[1].in_use = l->mdevs[1].in_use_unknown = true;
	d->n_guests = 1;
	free(d->guests[1].name);
	p = build(d, l, PLAN_FORCE, 0, &dl);
	a = expect(p, 0, ACTION_REMOVE_MDEV, NULL, 0);
	CHECK(a && a->pending && !a->force_helps && a->maybe_running);
	CHECK_STREQ(a->reason, "cannot tell whether a guest is running (an mdev that may be in use is never removed)");
	finish(p, l, d, &dl);
}

static void test_foreign_conflict(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_empty(PROFILE_DYNAMIC, F_612);
	struct live_mdev *m;
	struct plan *p;
	const struct action *a;

	/* someone cleared aqmask 0x47 by hand and made an mdev with 05.0047 */
	bitmap_clear(&l->aqmask, 0x47);
	m = live_mdev(l, UF, false, false);
	set(&m->matrix.adapters, 5, -1);
	set(&m->matrix.domains, 0x47, -1);
	p = build(d, l, 0, -EINVAL, &dl);
	CHECK(has_diag(&dl, DIAG_ERROR, "guest 'guest2': APQN 05.0047 is assigned to mdev " UF " (not managed by apmatrix)"));
	/* and what to do about it, on the same line */
	CHECK(has_diag(&dl, DIAG_ERROR,
		       "(not managed by apmatrix); remove it (echo 1 > /sys/devices/vfio_ap/matrix/" UF
		       "/remove) once its guest is stopped, or declare it: uuid: " UF
		       " on the guest that should have the queue"));
	CHECK(diag_count(&dl, DIAG_ERROR) == 1);
	CHECK(!touches(p, UF));
	CHECK(!touches(p, U2));
	CHECK(p->n == 3);
	a = expect(p, 0, ACTION_TAKE_AQMASK, NULL, 0);
	check_write(a, 0, "bus/ap/aqmask", "-0x04,-0xab");
	CHECK_STREQ(a->reason, "guest1 needs them");
	expect(p, 1, ACTION_CREATE_MDEV, "guest1", 0);
	expect(p, 2, ACTION_WRITE_AP_CONFIG, "guest1", 0);
	finish(p, l, d, &dl);
}

/* Cards 05 and 06 serve many host domains; only domain 0004 is wanted on them. */
static void test_cover_domains_beat_adapters(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = desired_new();
	struct live *l = live_new(PROFILE_DYNAMIC, F_60);
	struct desired_guest *g = guest(d, "guest1", U1);
	struct plan *p;
	const struct action *a;

	for (unsigned dom = 0x10; dom < 0x1a; dom++) {
		live_queue(l, 5, dom, QUEUE_DRIVER_HOST);
		live_queue(l, 6, dom, QUEUE_DRIVER_HOST);
	}
	live_queue(l, 5, 4, QUEUE_DRIVER_HOST);
	live_queue(l, 6, 4, QUEUE_DRIVER_HOST);
	set(&g->matrix.adapters, 5, 6, -1);
	set(&g->matrix.domains, 4, -1);
	usage_as_control(&g->matrix);
	p = build(d, l, 0, 0, &dl);
	a = expect(p, 0, ACTION_TAKE_AQMASK, NULL, 0);
	check_write(a, 0, "bus/ap/aqmask", "-0x04");
	CHECK_STREQ(a->reason, "guest1 needs them"); /* 05.0004 and 06.0004 only: nothing else leaves */
	for (size_t i = 0; i < p->n; i++)
		CHECK(p->actions[i].kind != ACTION_TAKE_APMASK);
	finish(p, l, d, &dl);
}

/* Domains 0004-0007 are in use by the host on cards 07 and 08; card 05 is wanted whole. */
static void test_cover_adapters_beat_domains(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = desired_new();
	struct live *l = live_new(PROFILE_DYNAMIC, F_60);
	struct desired_guest *g = guest(d, "guest1", U1);
	struct plan *p;
	const struct action *a;

	for (unsigned dom = 4; dom < 8; dom++) {
		live_queue(l, 5, dom, QUEUE_DRIVER_HOST);
		live_queue(l, 7, dom, QUEUE_DRIVER_HOST);
		live_queue(l, 8, dom, QUEUE_DRIVER_HOST);
	}
	set(&g->matrix.adapters, 5, -1);
	set(&g->matrix.domains, 4, 5, 6, 7, -1);
	usage_as_control(&g->matrix);
	p = build(d, l, 0, 0, &dl);
	a = expect(p, 0, ACTION_TAKE_APMASK, NULL, 0);
	check_write(a, 0, "bus/ap/apmask", "-0x05");
	for (size_t i = 0; i < p->n; i++)
		CHECK(p->actions[i].kind != ACTION_TAKE_AQMASK);
	finish(p, l, d, &dl);
}

static void test_cover_keep(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = desired_new();
	struct live *l = live_new(PROFILE_DYNAMIC, F_60);
	struct desired_guest *g = guest(d, "guest1", U1);
	struct plan *p;
	const struct action *a;

	/* taking domain 0004 would cost one host queue, adapter 05 ten ... */
	for (unsigned dom = 0x10; dom < 0x1a; dom++)
		live_queue(l, 5, dom, QUEUE_DRIVER_HOST);
	live_queue(l, 5, 4, QUEUE_DRIVER_HOST);
	live_queue(l, 7, 4, QUEUE_DRIVER_HOST);
	set(&g->matrix.adapters, 5, -1);
	set(&g->matrix.domains, 4, -1);
	usage_as_control(&g->matrix);
	p = build(d, l, 0, 0, &dl);
	a = expect(p, 0, ACTION_TAKE_AQMASK, NULL, 0);
	check_write(a, 0, "bus/ap/aqmask", "-0x04");
	CHECK_STREQ(a->reason, "guest1 needs them; 1 other queue leaves the host too: 07.0004"); /* 07.0004 */
	plan_free(p);

	/* ... but host.keep: adapters [0x07] keeps card 07 whole, so domains are off limits */
	d->has_keep = true;
	set(&d->keep_adapters, 7, -1);
	d->keep_domains = bitmap_full();
	p = build(d, l, 0, 0, &dl);
	a = expect(p, 0, ACTION_TAKE_APMASK, NULL, 0);
	check_write(a, 0, "bus/ap/apmask", "-0x05");
	CHECK_STREQ(a->reason, "guest1 needs them; 10 other queues leave the host too: 05.0010 05.0011 05.0012 05.0013 05.0014 05.0015 05.0016 05.0017 ..."); /* 05.0010-05.0019 */
	CHECK(p->n == 5);
	plan_free(p);

	/* keeping card 05 itself leaves no way: guest skipped; compile's check_keep() says why, the plan not again */
	set(&d->keep_adapters, 5, -1);
	p = build(d, l, 0, -EINVAL, &dl);
	CHECK(plan_is_empty(p));
	CHECK(!has_diag(&dl, DIAG_ERROR, "guest1"));
	plan_free(p);
	live_done(l);
	desired_done(d);
	diag_list_done(&dl);
}

/*
 * A plan that takes an adapter and a domain says how many queues beyond
 * the guests' leave the host with each, counting the queue both take once.
 */
static void test_take_reason_counts_other_queues(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = desired_new();
	struct live *l = live_new(PROFILE_DYNAMIC, F_60);
	struct desired_guest *g; /* guest() may move the earlier ones */
	struct plan *p;
	const struct action *a;

	/* guest1: card 05 x 0010-0019, domains the host uses on cards 06 and 09 too */
	for (unsigned dom = 0x10; dom < 0x1a; dom++) {
		live_queue(l, 5, dom, QUEUE_DRIVER_HOST);
		live_queue(l, 6, dom, QUEUE_DRIVER_HOST);
		live_queue(l, 9, dom, QUEUE_DRIVER_HOST);
	}
	live_queue(l, 5, 0x20, QUEUE_DRIVER_HOST); /* leaves with adapter 05 */
	live_queue(l, 5, 0x04, QUEUE_DRIVER_HOST); /* adapter 05 and domain 0004: counted once */
	g = guest(d, "guest1", U1);
	set(&g->matrix.adapters, 5, -1);
	for (unsigned dom = 0x10; dom < 0x1a; dom++)
		set(&g->matrix.domains, dom, -1);
	usage_as_control(&g->matrix);
	/* guest2: cards 07, 08 x 0004; the host uses cards 07 and 08 at 0030-0039 */
	for (unsigned card = 7; card <= 8; card++) {
		live_queue(l, card, 0x04, QUEUE_DRIVER_HOST);
		for (unsigned dom = 0x30; dom < 0x3a; dom++)
			live_queue(l, card, dom, QUEUE_DRIVER_HOST);
	}
	live_queue(l, 9, 0x04, QUEUE_DRIVER_HOST); /* leaves with domain 0004 */
	g = guest(d, "guest2", U2);
	set(&g->matrix.adapters, 7, 8, -1);
	set(&g->matrix.domains, 4, -1);
	usage_as_control(&g->matrix);

	p = build(d, l, 0, 0, &dl);
	a = expect(p, 0, ACTION_TAKE_APMASK, NULL, 0);
	check_write(a, 0, "bus/ap/apmask", "-0x05");
	CHECK_STREQ(a->reason, "guest1 needs them; 2 other queues leave the host too: 05.0004 05.0020");
	/* what moves: the guest's queues too, each queue with the first take that moves it */
	CHECK(a->n_queues == 12 && a->queues[0] == 0x0504 && a->queues[1] == 0x0510 && a->queues[11] == 0x0520);
	a = expect(p, 1, ACTION_TAKE_AQMASK, NULL, 0);
	check_write(a, 0, "bus/ap/aqmask", "-0x04");
	CHECK_STREQ(a->reason, "guest2 needs them; 1 other queue leaves the host too: 09.0004");
	CHECK(a->n_queues == 3 && a->queues[0] == 0x0704 && a->queues[1] == 0x0804 && a->queues[2] == 0x0904);
	finish(p, l, d, &dl);
}

/*
 * The seed's guests behind apmask 0x05 0x06 on a host with card 07 of the
 * host's; guest1 (U1) runs.
 */
static struct live *three_cards_masks_05_06(void)
{
	struct live *l = live_new(PROFILE_DYNAMIC, F_60);

	seed_queues(l, QUEUE_DRIVER_VFIO);
	live_queue(l, 7, 0x04, QUEUE_DRIVER_HOST);
	live_queue(l, 7, 0x47, QUEUE_DRIVER_HOST);
	live_queue(l, 7, 0xab, QUEUE_DRIVER_HOST);
	live_queue(l, 7, 0xff, QUEUE_DRIVER_HOST);
	bitmap_clear(&l->apmask, 5);
	bitmap_clear(&l->apmask, 6);
	set(&l->apmask_taken, 5, 6, -1);
	seed_matrix1(&live_mdev(l, U1, true, true)->matrix);
	seed_matrix2(&live_mdev(l, U2, true, false)->matrix);
	return l;
}

static const struct action *find_kind(const struct plan *p, enum action_kind kind)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->actions[i].kind == kind)
			return &p->actions[i];
	return NULL;
}

/*
 * The same, with guest1 running on an mdev that has nothing yet: its assign
 * of adapter 0x05 waits, and so does the apmask take that only it needs.
 * The aqmask take then takes 05.0004 too, which the apmask take counted:
 * its reason counts it (review8 F7).
 */
static void test_take_reason_when_other_take_waits(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = desired_new();
	struct live *l = live_new(PROFILE_DYNAMIC, F_60);
	struct desired_guest *g;
	struct plan *p;
	const struct action *a;

	for (unsigned dom = 0x10; dom < 0x1a; dom++) {
		live_queue(l, 5, dom, QUEUE_DRIVER_HOST);
		live_queue(l, 6, dom, QUEUE_DRIVER_HOST);
		live_queue(l, 9, dom, QUEUE_DRIVER_HOST);
	}
	live_queue(l, 5, 0x20, QUEUE_DRIVER_HOST);
	live_queue(l, 5, 0x04, QUEUE_DRIVER_HOST);
	g = guest(d, "guest1", U1);
	set(&g->matrix.adapters, 5, -1);
	for (unsigned dom = 0x10; dom < 0x1a; dom++)
		set(&g->matrix.domains, dom, -1);
	usage_as_control(&g->matrix);
	for (unsigned card = 7; card <= 8; card++) {
		live_queue(l, card, 0x04, QUEUE_DRIVER_HOST);
		for (unsigned dom = 0x30; dom < 0x3a; dom++)
			live_queue(l, card, dom, QUEUE_DRIVER_HOST);
	}
	live_queue(l, 9, 0x04, QUEUE_DRIVER_HOST);
	g = guest(d, "guest2", U2);
	set(&g->matrix.adapters, 7, 8, -1);
	set(&g->matrix.domains, 4, -1);
	usage_as_control(&g->matrix);
	live_mdev(l, U1, true, true);

	p = build(d, l, 0, 0, &dl);
	a = find_kind(p, ACTION_TAKE_APMASK);
	CHECK(a && a->pending);
	a = find_kind(p, ACTION_TAKE_AQMASK);
	CHECK(a && !a->pending);
	if (a) {
		check_write(a, 0, "bus/ap/aqmask", "-0x04");
		CHECK_STREQ(a->reason, "guest2 needs them; 2 other queues leave the host too: 05.0004 09.0004"); /* 05.0004 09.0004 */
	}
	if (tap_failed_)
		show(p);
	plan_free(p);
	live_done(l);
	desired_done(d);
	diag_list_done(&dl);
}

/*
 * A mask take that only pending actions need waits with them: domain 0xab
 * moves from the running guest1 to guest2.  The new cover (apmask 0x05,
 * aqmask 0x04) would take 07.0004 from the host, but the give back of
 * apmask 0x06 that it serves waits for guest1, and the bits held cover
 * everything meanwhile.  A take that a give back of this run needs (guest1
 * grows by adapter 0x07: aqmask 0x04 0xab for apmask 0x06) stays.
 */
static void test_take_waits_with_pending_give_back(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = three_cards_masks_05_06();
	struct plan *p;
	const struct action *a;

	bitmap_clear(&d->guests[0].matrix.domains, 0xab);
	bitmap_clear(&d->guests[0].matrix.control_domains, 0xab);
	set(&d->guests[1].matrix.domains, 0xab, -1);
	usage_as_control(&d->guests[1].matrix);
	p = build(d, l, 0, 0, &dl);
	a = find_kind(p, ACTION_TAKE_AQMASK);
	CHECK(a && a->pending && a->force_helps);
	if (a) {
		check_write(a, 0, "bus/ap/aqmask", "-0x04");
		CHECK_STREQ(a->reason, "waits for 'guest1' (running)");
	}
	CHECK(!find_kind(p, ACTION_TAKE_APMASK));
	CHECK(!find_kind(p, ACTION_RELEASE_APMASK)); /* 06.00ab is still guest1's */
	for (size_t i = 0; i < p->n; i++)
		CHECK(p->actions[i].pending || p->actions[i].kind == ACTION_ASSIGN_CONTROL_DOMAIN);
	show_free(p);

	/* --force: as before, the take, then the give back */
	p = build(d, l, PLAN_FORCE, 0, &dl);
	CHECK(p->n_pending == 0);
	a = find_kind(p, ACTION_TAKE_AQMASK);
	CHECK(a && !a->pending);
	a = find_kind(p, ACTION_RELEASE_APMASK);
	CHECK(a && !a->pending);
	if (a)
		check_write(a, 0, "bus/ap/apmask", "+0x06");
	plan_free(p);
	desired_done(d);

	/* guest1 grows by 0x07: the give back of apmask 0x06 runs now and needs the take */
	d = seed_desired();
	set(&d->guests[0].matrix.adapters, 7, -1);
	p = build(d, l, 0, 0, &dl);
	a = find_kind(p, ACTION_TAKE_AQMASK);
	CHECK(a && !a->pending);
	if (a)
		check_write(a, 0, "bus/ap/aqmask", "-0x04,-0xab");
	a = find_kind(p, ACTION_RELEASE_APMASK);
	CHECK(a && !a->pending);
	a = find_kind(p, ACTION_ASSIGN_ADAPTER);
	CHECK(a && a->pending);
	finish(p, l, d, &dl);
}

/* The first action of kind for guest, or NULL. */
static const struct action *find_guest_kind(const struct plan *p, enum action_kind kind, const char *guest)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->actions[i].kind == kind && p->actions[i].guest && !strcmp(p->actions[i].guest, guest))
			return &p->actions[i];
	return NULL;
}

/* Whether action a depends on action b (both of plan p). */
static bool action_depends_on(const struct plan *p, const struct action *a, const struct action *b)
{
	for (size_t k = 0; k < a->n_depends_on; k++)
		if (&p->actions[a->depends_on[k]] == b)
			return true;
	return false;
}

/*
 * A mask take needed now for some bits only is split (audit 9 F1): the
 * running guest1 moves from adapter 0x05 to 0x06, a new guest2 gets 0x07.
 * guest2's assign needs apmask 0x07 now; 0x06 only guest1's pending assign
 * needs: that part waits with it, and each assign depends on the part that
 * holds its bits.  With --force, one take as before.
 */
static void test_split_mask_take(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = desired_new();
	struct live *l = live_new(PROFILE_DYNAMIC, F_60);
	struct desired_guest *g;
	struct plan *p;
	const struct action *now = NULL, *held = NULL, *a1, *a2;

	seed_queues(l, QUEUE_DRIVER_VFIO);
	for (size_t i = 4; i < 8; i++) { /* card 06's */
		l->queues[i].kind = QUEUE_DRIVER_HOST;
		l->queues[i].driver = "cex4queue";
	}
	live_queue(l, 7, 0x04, QUEUE_DRIVER_HOST);
	live_queue(l, 7, 0x47, QUEUE_DRIVER_HOST);
	live_queue(l, 7, 0xab, QUEUE_DRIVER_HOST);
	live_queue(l, 7, 0xff, QUEUE_DRIVER_HOST);
	bitmap_clear(&l->apmask, 5);
	set(&l->apmask_taken, 5, -1);
	g = guest(d, "guest1", U1);
	set(&g->matrix.adapters, 6, -1);
	set(&g->matrix.domains, 0x04, 0x47, 0xab, -1);
	usage_as_control(&g->matrix);
	g = guest(d, "guest2", U2);
	set(&g->matrix.adapters, 7, -1);
	set(&g->matrix.domains, 0x04, 0x47, 0xab, -1);
	usage_as_control(&g->matrix);
	{
		struct live_mdev *m = live_mdev(l, U1, true, true);

		set(&m->matrix.adapters, 5, -1);
		set(&m->matrix.domains, 0x04, 0x47, 0xab, -1);
		usage_as_control(&m->matrix);
	}

	p = build(d, l, 0, 0, &dl);
	for (size_t i = 0; i < p->n; i++)
		if (p->actions[i].kind == ACTION_TAKE_APMASK)
			*(p->actions[i].pending ? &held : &now) = &p->actions[i];
	CHECK(now && held);
	if (now) {
		check_write(now, 0, "bus/ap/apmask", "-0x07");
		CHECK_STREQ(now->reason, "guest2 needs them; 1 other queue leaves the host too: 07.00ff"); /* 07.00ff */
	}
	if (held) {
		check_write(held, 0, "bus/ap/apmask", "-0x06");
		CHECK(held->force_helps);
		CHECK_STREQ(held->reason, "waits for 'guest1' (running)");
		CHECK_STREQ(held->waits_for, "guest1");
	}
	CHECK(!find_kind(p, ACTION_TAKE_AQMASK));
	CHECK(!find_kind(p, ACTION_RELEASE_APMASK)); /* 0x05 is still guest1's */
	a1 = find_guest_kind(p, ACTION_ASSIGN_ADAPTER, "guest1");
	a2 = find_guest_kind(p, ACTION_ASSIGN_ADAPTER, "guest2");
	CHECK(a1 && a1->pending && a2 && !a2->pending);
	if (a1 && a2 && now && held) {
		CHECK(action_depends_on(p, a1, held) && !action_depends_on(p, a1, now));
		CHECK(action_depends_on(p, a2, now) && !action_depends_on(p, a2, held));
	}
	show_free(p);

	/* --force: nothing waits, one take */
	p = build(d, l, PLAN_FORCE, 0, &dl);
	CHECK(p->n_pending == 0);
	now = find_kind(p, ACTION_TAKE_APMASK);
	if (now)
		check_write(now, 0, "bus/ap/apmask", "-0x06,-0x07");
	CHECK(now && now + 1 < p->actions + p->n && now[1].kind != ACTION_TAKE_APMASK);
	finish(p, l, d, &dl);
}

/* Equal costs: adapters win the tie; a bit apmatrix already holds keeps the cover where it is. */
static void test_cover_tie_and_stickiness(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = desired_new();
	struct live *l = live_new(PROFILE_DYNAMIC, F_60);
	struct desired_guest *g = guest(d, "guest1", U1);
	struct plan *p;
	const struct action *a;

	live_queue(l, 5, 4, QUEUE_DRIVER_HOST);
	set(&g->matrix.adapters, 5, -1);
	set(&g->matrix.domains, 4, -1);
	usage_as_control(&g->matrix);
	p = build(d, l, 0, 0, &dl);
	a = expect(p, 0, ACTION_TAKE_APMASK, NULL, 0);
	check_write(a, 0, "bus/ap/apmask", "-0x05");
	plan_free(p);

	/* domain 0004 was taken earlier (by an older apmatrix decision): no churn */
	bitmap_clear(&l->aqmask, 4);
	set(&l->aqmask_taken, 4, -1);
	l->queues[0].kind = QUEUE_DRIVER_VFIO;
	live_mdev(l, U1, true, false)->matrix = g->matrix;
	p = build(d, l, 0, 0, &dl);
	CHECK(plan_is_empty(p));
	finish(p, l, d, &dl);
}

/* A new guest that wants what a running, no longer declared mdev holds waits for it. */
/*
 * Apply holds an action back when a guest starts while it runs, and says
 * what the plan would have said: every mdev action carries what it would
 * wait for (the guest, or the UUID of an mdev no guest declares), the
 * APQNs it takes or gives, and plan_waits_reason() words it (review8 F3, F4).
 */
static void test_mdev_actions_carry_waits_for(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_60);
	struct desired_guest *g;
	struct plan *p;
	size_t n_remove = 0, n_assign = 0;

	l->mdevs[1].owner_guest = "guest2";
	free(d->guests[1].name);
	d->n_guests = 1;
	g = guest(d, "guest3", U3);
	set(&g->matrix.adapters, 5, -1);
	set(&g->matrix.domains, 0x47, -1);
	usage_as_control(&g->matrix);
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n_pending == 0);
	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->actions[i];
		char *why = a->uuid[0] ? plan_waits_reason(a, false) : NULL;

		if (a->kind == ACTION_REMOVE_MDEV) {
			n_remove++;
			CHECK_STREQ(a->waits_for, U2);
			CHECK(a->undeclared);
			CHECK_STREQ(why, "waits for guest 'guest2', no longer declared (mdev " U2 ", running)");
			CHECK_STREQ(a->loses, "APQNs 05.0047 05.00ff");
		} else if (a->kind == ACTION_ASSIGN_ADAPTER || a->kind == ACTION_ASSIGN_DOMAIN) {
			n_assign++;
			CHECK_STREQ(a->waits_for, "guest3");
			CHECK(!a->undeclared);
			CHECK_STREQ(why, "waits for 'guest3' (running)");
			CHECK_STREQ(a->gains, "APQN 05.0047");
			CHECK(!a->loses);
		} else if (!a->uuid[0])
			CHECK(!a->waits_for);
		free(why);
	}
	CHECK(n_remove == 1 && n_assign == 2);
	if (tap_failed_)
		show(p);
	plan_free(p);
	l->mdevs[1].owner_guest = NULL;
	live_done(l);
	desired_done(d);
	diag_list_done(&dl);
}

static void test_waits_for_undeclared_running(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_60);
	struct desired_guest *g;
	struct plan *p;

	l->mdevs[1].in_use = true;
	free(d->guests[1].name);
	d->n_guests = 1;
	g = guest(d, "guest3", U3);
	set(&g->matrix.adapters, 5, -1);
	set(&g->matrix.domains, 0x47, -1);
	usage_as_control(&g->matrix);
	p = build(d, l, PLAN_FORCE, 0, &dl);
	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->actions[i];

		if (a->kind == ACTION_ASSIGN_ADAPTER || a->kind == ACTION_ASSIGN_DOMAIN) {
			CHECK(a->pending);
			CHECK_STREQ(a->reason, "waits for '" U2 "' (running)");
		}
		if (a->kind == ACTION_CREATE_MDEV)
			CHECK(!a->pending);
	}
	CHECK(p->n_pending == 3); /* remove, assign adapter, assign domain */
	show_free(p);

	/* the record names the guest the mdev was made for: so does the reason */
	l->mdevs[1].owner_guest = "guest2";
	p = build(d, l, PLAN_FORCE, 0, &dl);
	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->actions[i];

		if (a->kind == ACTION_ASSIGN_ADAPTER || a->kind == ACTION_ASSIGN_DOMAIN)
			CHECK_STREQ(a->reason, "waits for guest 'guest2', no longer declared (mdev " U2 ", running)");
	}
	CHECK(p->n_pending == 3);
	l->mdevs[1].owner_guest = NULL;
	finish(p, l, d, &dl);
}

static void test_masks_off(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_empty(PROFILE_DYNAMIC, F_60);
	struct plan *p;

	d->masks = CONFIG_MASKS_OFF;
	p = build(d, l, 0, -EINVAL, &dl);
	CHECK(plan_is_empty(p));
	CHECK(has_diag(&dl, DIAG_ERROR, "guest 'guest2': APQN 05.0047 is still reserved for host drivers and host.masks is off: clear apmask bit 0x05 (all of adapter 0x05) or aqmask bit 0x47 (all of domain 0x47), e.g. echo -0x47 > /sys/bus/ap/aqmask, or set host.masks: auto"));
	CHECK(diag_count(&dl, DIAG_ERROR) == 6);
	plan_free(p);
	diag_list_done(&dl);

	/* the admin cleared the masks: plan without a single mask write */
	bitmap_clear(&l->apmask, 5);
	bitmap_clear(&l->apmask, 6);
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 13);
	for (size_t i = 0; i < p->n; i++)
		CHECK(p->actions[i].phase != PHASE_TAKE_MASK && p->actions[i].phase != PHASE_RELEASE_MASK);
	plan_free(p);

	/* and bits apmatrix took earlier are not given back either */
	set(&l->aqmask_taken, 0x30, -1);
	bitmap_clear(&l->aqmask, 0x30);
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 13);
	plan_free(p);
	live_done(l);
	desired_done(d);
	diag_list_done(&dl);
}

static void test_rfc2017_bringup(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_empty(PROFILE_RFC2017, 0);
	struct plan *p = build(d, l, 0, 0, &dl);
	const struct action *a;

	/* 6 queue moves, 2 creates, 6 + 5 individual assigns */
	CHECK(p->n == 19);
	a = expect(p, 0, ACTION_TAKE_QUEUE, NULL, 0x0504);
	CHECK(a && a->n_writes == 2);
	check_write(a, 0, "bus/ap/drivers/cex4queue/unbind", "05.0004");
	check_write(a, 1, "bus/ap/drivers/vfio_ap_matrix/bind", "05.0004");
	CHECK_STREQ(a->reason, "guest1 needs it");
	expect(p, 5, ACTION_TAKE_QUEUE, NULL, 0x06ab);
	a = expect(p, 6, ACTION_CREATE_MDEV, "guest1", 0);
	check_write(a, 0, "devices/ap_matrix/matrix/mdev_supported_types/ap_matrix-passthrough/create", U1);
	a = expect(p, 8, ACTION_ASSIGN_ADAPTER, "guest1", 5);
	check_write(a, 0, "devices/ap_matrix/matrix/" U1 "/assign_adapter", "0x05");
	/* adapter 05 of guest1 needs 05.0004 and 05.00ab (queue moves 0 and 2) */
	CHECK(deps_are(a, 3, (size_t)0, (size_t)2, (size_t)6));
	finish(p, l, d, &dl);
}

static void test_rfc2017_queue_moves(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_converged(PROFILE_RFC2017, 0);
	struct plan *p;
	const struct action *a;

	/* guest2 dropped: its mdev goes, then its queues go back to the host driver */
	d->n_guests = 1;
	free(d->guests[1].name);
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 3);
	a = expect(p, 0, ACTION_REMOVE_MDEV, NULL, 0);
	check_write(a, 0, "devices/ap_matrix/matrix/" U2 "/remove", "1");
	a = expect(p, 1, ACTION_RELEASE_QUEUE, NULL, 0x0547);
	check_write(a, 0, "bus/ap/drivers/vfio_ap_matrix/unbind", "05.0047");
	check_write(a, 1, "bus/ap/drivers/cex4queue/bind", "05.0047");
	CHECK(deps_are(a, 1, (size_t)0));
	a = expect(p, 2, ACTION_RELEASE_QUEUE, NULL, 0x05ff);
	CHECK(deps_are(a, 1, (size_t)0));
	show_free(p);

	/* a new guest3 takes 05.0047 back from the host (queue was given back) */
	l->queues[1].kind = QUEUE_DRIVER_HOST;
	bitmap_clear(&l->queues_taken[5], 0x47);
	l->n_mdevs = 1;
	d->n_guests = 1;
	{
		struct desired_guest *g = guest(d, "guest3", U3);

		set(&g->matrix.adapters, 5, -1);
		set(&g->matrix.domains, 0x47, -1);
		usage_as_control(&g->matrix);
	}
	p = build(d, l, 0, 0, &dl);
	a = expect(p, 0, ACTION_TAKE_QUEUE, NULL, 0x0547);
	CHECK_STREQ(a->reason, "guest3 needs it");
	expect(p, 1, ACTION_CREATE_MDEV, "guest3", 0);
	/* 05.00ff is still taken but no guest wants it: given back last */
	CHECK(p->n == 6);
	a = expect(p, 5, ACTION_RELEASE_QUEUE, NULL, 0x05ff);
	CHECK(a && a->phase == PHASE_RELEASE_MASK);
	finish(p, l, d, &dl);
}

/*
 * A queue apmatrix recorded as taken that is on no driver: a move whose
 * second write failed.  The bind alone finishes it, to the vfio driver for a
 * guest that needs it, to the host driver otherwise; a queue on no driver
 * that apmatrix did not record is left alone.
 */
static void test_rfc2017_half_moves(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_converged(PROFILE_RFC2017, 0);
	struct plan *p;
	const struct action *a;

	l->queues[1].kind = QUEUE_DRIVER_NONE; /* 05.0047, recorded */
	l->queues[1].driver = NULL;
	l->queues[5].kind = QUEUE_DRIVER_NONE; /* 06.0047, not recorded, no guest's */
	l->queues[5].driver = NULL;

	/* the records: 05.0047 on no driver stays apmatrix's; a queue back on the host driver is not */
	{
		struct owner_db o = { 0 };

		memcpy(o.queues_taken, l->queues_taken, sizeof(o.queues_taken));
		l->queues[4].kind = QUEUE_DRIVER_HOST; /* 06.0004 */
		(void)apply_prune_owner(&o, l);
		CHECK(bitmap_test(&o.queues_taken[5], 0x47) && bitmap_test(&o.queues_taken[5], 0xff));
		CHECK(!bitmap_test(&o.queues_taken[6], 0x04) && bitmap_test(&o.queues_taken[6], 0xab));
		CHECK(!bitmap_test(&o.queues_taken[6], 0x47));
		l->queues[4].kind = QUEUE_DRIVER_VFIO;
	}

	/* guest2 still declared: 05.0047 is bound to the vfio driver, no unbind */
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 1);
	a = expect(p, 0, ACTION_TAKE_QUEUE, NULL, 0x0547);
	CHECK(a && a->n_writes == 1);
	check_write(a, 0, "bus/ap/drivers/vfio_ap_matrix/bind", "05.0047");
	CHECK_STREQ(a ? a->reason : NULL, "guest2 needs it; an earlier move left it on no driver");
	show_free(p);

	/* guest2 and its mdev gone: 05.0047 is bound to the host driver alone, 05.00ff moved back */
	d->n_guests = 1;
	free(d->guests[1].name);
	l->n_mdevs = 1;
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 2);
	a = expect(p, 0, ACTION_RELEASE_QUEUE, NULL, 0x0547);
	CHECK(a && a->n_writes == 1);
	check_write(a, 0, "bus/ap/drivers/cex4queue/bind", "05.0047");
	CHECK_STREQ(a ? a->reason : NULL, "no declared guest needs it; an earlier move left it on no driver");
	a = expect(p, 1, ACTION_RELEASE_QUEUE, NULL, 0x05ff);
	CHECK(a && a->n_writes == 2);
	CHECK_STREQ(a ? a->reason : NULL, "no declared guest needs it");
	show_free(p);

	/* not recorded: not apmatrix's, left on no driver */
	bitmap_clear(&l->queues_taken[5], 0x47);
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 1);
	expect(p, 0, ACTION_RELEASE_QUEUE, NULL, 0x05ff);
	finish(p, l, d, &dl);
}

static void test_static_absent_queue(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = live_new(PROFILE_STATIC, F_515);
	struct plan *p;
	const struct action *a;

	/* the seed host without 06.00ab */
	seed_queues(l, QUEUE_DRIVER_HOST);
	l->queues[6] = l->queues[--l->n_queues];
	p = build(d, l, 0, -EINVAL, &dl);
	CHECK(has_diag(&dl, DIAG_ERROR,
		       "guest 'guest1': APQN 06.00ab does not exist on this host; kernels before 6.0 cannot assign absent queues"));
	CHECK(diag_count(&dl, DIAG_ERROR) == 1);
	CHECK(!touches(p, U1));
	/* guest2 goes ahead: adapters before domains */
	CHECK(p->n == 7);
	a = expect(p, 0, ACTION_TAKE_APMASK, NULL, 0);
	check_write(a, 0, "bus/ap/apmask", "-0x05");
	expect(p, 1, ACTION_CREATE_MDEV, "guest2", 0);
	expect(p, 2, ACTION_ASSIGN_ADAPTER, "guest2", 5);
	expect(p, 3, ACTION_ASSIGN_DOMAIN, "guest2", 0x47);
	expect(p, 4, ACTION_ASSIGN_DOMAIN, "guest2", 0xff);
	finish(p, l, d, &dl);
}

/*
 * A 6.0 - 6.11 host without any mdev looks static (profile not certain): an
 * absent queue is only a note there, and the guest is planned in full, so
 * that apply creates its mdev and learns the interface.
 */
static void test_uncertain_absent_queue(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = live_new(PROFILE_STATIC, F_515);
	size_t creates = 0, absent = 0;
	struct plan *p;

	l->profile_certain = false;
	seed_queues(l, QUEUE_DRIVER_HOST);
	l->queues[6] = l->queues[--l->n_queues];
	p = build(d, l, 0, 0, &dl);
	CHECK(diag_count(&dl, DIAG_ERROR) == 0);
	CHECK(has_diag(&dl, DIAG_NOTE,
		       "guest 'guest1': APQN 06.00ab does not exist on this host; it can be assigned only if the kernel "
		       "is 6.0 or later, which the first mdev tells"));
	CHECK(touches(p, U1) && touches(p, U2));
	for (size_t i = 0; i < p->n; i++) {
		creates += p->actions[i].kind == ACTION_CREATE_MDEV;
		absent += p->actions[i].kind == ACTION_ASSIGN_DOMAIN && p->actions[i].number == 0xab;
	}
	CHECK(creates == 2 && absent == 1);
	show_free(p);
	diag_list_done(&dl);

	/* apply's first round: guest2's create tells the interface; guest1 waits for the next, unsaid */
	dl = (struct diag_list){ 0 };
	p = build(d, l, PLAN_DEFER_UNCERTAIN, 0, &dl);
	CHECK(!has_diag(&dl, DIAG_ERROR, "guest1"));
	CHECK(!touches(p, U1) && touches(p, U2));
	show_free(p);
	diag_list_done(&dl);

	/* when every guest would wait, they are created: only an mdev tells */
	CHECK(l->queues[1].adapter == 5 && l->queues[1].domain == 0x47);
	l->queues[1] = l->queues[--l->n_queues]; /* without 05.0047 guest2 waits too */
	dl = (struct diag_list){ 0 };
	p = build(d, l, PLAN_DEFER_UNCERTAIN, 0, &dl);
	CHECK(!has_diag(&dl, DIAG_ERROR, "guest1"));
	CHECK(touches(p, U1) && touches(p, U2));
	finish(p, l, d, &dl);
}

/* A bit apmatrix took is not handed back while a foreign mdev sits on one of its APQNs. */
static void test_release_blocked_by_foreign(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = desired_new();
	struct live *l = live_new(PROFILE_DYNAMIC, F_60);
	struct live_mdev *m;
	struct plan *p;

	live_queue(l, 5, 0x47, QUEUE_DRIVER_VFIO);
	live_queue(l, 5, 0x48, QUEUE_DRIVER_VFIO);
	bitmap_clear(&l->aqmask, 0x47);
	bitmap_clear(&l->aqmask, 0x48);
	set(&l->aqmask_taken, 0x47, 0x48, -1);
	m = live_mdev(l, UF, false, false);
	set(&m->matrix.adapters, 5, -1);
	set(&m->matrix.domains, 0x47, -1);
	p = build(d, l, 0, 0, &dl);
	CHECK(p->n == 1);
	expect(p, 0, ACTION_RELEASE_AQMASK, NULL, 0);
	check_write(p->n ? &p->actions[0] : NULL, 0, "bus/ap/aqmask", "+0x48");
	CHECK(has_diag(&dl, DIAG_NOTE,
		       "aqmask bit 0x47 stays taken: APQN 05.0047 is still assigned to mdev " UF " (not managed by apmatrix, which never removes it: once it is removed or no longer has the APQN, apply gives the bit back)"));
	CHECK(!touches(p, UF));
	finish(p, l, d, &dl);
}

static void test_ranges(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_empty(PROFILE_DYNAMIC, F_60);
	struct plan *p;

	l->max_adapter = 0x3f;
	l->max_domain = 0x54;
	bitmap_set(&d->guests[0].matrix.adapters, 0x50);
	p = build(d, l, 0, -EINVAL, &dl);
	CHECK(has_diag(&dl, DIAG_ERROR, "guest 'guest1': adapters 0x50 beyond this host's maximum 0x3f"));
	/* guest2's 0xff is beyond the maximum domain as well */
	CHECK(has_diag(&dl, DIAG_ERROR, "guest 'guest2': domains 0xff beyond"));
	CHECK(plan_is_empty(p));
	plan_free(p);
	live_done(l);
	diag_list_done(&dl);

	/* static or not yet told (5.15, no mdev): beyond the maximum is that error alone, no "6.0 or later" note */
	dl = (struct diag_list){ 0 };
	l = seed_empty(PROFILE_STATIC, 0);
	l->max_domain = 0x54;
	bitmap_set(&d->guests[1].matrix.domains, 0x60); /* no such queue either */
	p = build(d, l, 0, -EINVAL, &dl);
	CHECK(has_diag(&dl, DIAG_ERROR, "guest 'guest2': domains 0x60,0xff beyond this host's maximum 0x54"));
	CHECK(!has_diag(&dl, DIAG_NOTE, "APQN 05.0060 does not exist"));
	CHECK(!has_diag(&dl, DIAG_ERROR, "APQN 05.0060 does not exist"));
	plan_free(p);
	live_done(l);
	desired_done(d);
	diag_list_done(&dl);
}

static void test_no_vfio_no_bus(void)
{
	struct diag_list dl = { 0 };
	struct desired *d = seed_desired();
	struct live *l = seed_empty(PROFILE_DYNAMIC, F_60);
	struct plan *p;

	l->vfio_loaded = false;
	p = build(d, l, 0, -EINVAL, &dl);
	CHECK(plan_is_empty(p));
	CHECK(diag_count(&dl, DIAG_ERROR) == 1);
	CHECK(has_diag(&dl, DIAG_ERROR, "vfio_ap is not loaded"));
	plan_free(p);
	diag_list_done(&dl);

	l->profile = PROFILE_NONE;
	p = build(d, l, 0, -EINVAL, &dl);
	CHECK(plan_is_empty(p));
	CHECK(diag_count(&dl, DIAG_ERROR) == 1);
	plan_free(p);
	live_done(l);
	desired_done(d);
	diag_list_done(&dl);
}

/* A busy host: move, drop, foreign mdev, new guest, running guest, mask changes. */
static void busy(struct desired **ret_d, struct live **ret_l)
{
	struct desired *d = moved_desired();
	struct live *l = seed_converged(PROFILE_DYNAMIC, F_60);
	struct desired_guest *g;
	struct live_mdev *m;

	for (unsigned dom = 0x20; dom < 0x24; dom++)
		live_queue(l, 7, dom, QUEUE_DRIVER_HOST);
	g = guest(d, "aaa", U3);
	set(&g->matrix.adapters, 7, -1);
	set(&g->matrix.domains, 0x20, 0x21, -1);
	usage_as_control(&g->matrix);
	m = live_mdev(l, UO, true, false);
	set(&m->matrix.adapters, 9, -1);
	set(&m->matrix.domains, 0x30, -1);
	m = live_mdev(l, UF, false, true);
	set(&m->matrix.adapters, 0x0a, -1);
	set(&m->matrix.domains, 0x31, -1);
	set(&l->apmask_taken, 9, 0x0a, -1);
	bitmap_clear(&l->apmask, 9);
	bitmap_clear(&l->apmask, 0x0a);
	l->mdevs[0].in_use = true;
	*ret_d = d;
	*ret_l = l;
}

static void reverse(void *base, size_t n, size_t sz)
{
	char *tmp = malloc(sz), *b = base;

	for (size_t i = 0; i < n / 2; i++) {
		memcpy(tmp, b + i * sz, sz);
		memcpy(b + i * sz, b + (n - 1 - i) * sz, sz);
		memcpy(b + (n - 1 - i) * sz, tmp, sz);
	}
	free(tmp);
}

static void test_shuffle_determinism(void)
{
	struct diag_list dl1 = { 0 }, dl2 = { 0 };
	struct desired *d;
	struct live *l;
	struct plan *p1, *p2;
	char *s1, *s2;

	busy(&d, &l);
	p1 = build(d, l, 0, 0, &dl1);
	CHECK(p1->n > 5);
	CHECK(p1->n_pending > 0);
	reverse(d->guests, d->n_guests, sizeof(*d->guests));
	reverse(l->mdevs, l->n_mdevs, sizeof(*l->mdevs));
	reverse(l->queues, l->n_queues, sizeof(*l->queues));
	p2 = build(d, l, 0, 0, &dl2);
	s1 = dump(p1);
	s2 = dump(p2);
	CHECK_STREQ(s1, s2);
	CHECK(dl1.n == dl2.n);
	for (size_t i = 0; i < dl1.n && i < dl2.n; i++)
		CHECK_STREQ(dl1.items[i].message, dl2.items[i].message);
	if (tap_failed_ || getenv("PLAN_SHOW"))
		show(p1);
	free(s1);
	free(s2);
	plan_free(p1);
	plan_free(p2);
	live_done(l);
	desired_done(d);
	diag_list_done(&dl1);
	diag_list_done(&dl2);
}

static void test_busy_host(void)
{
	struct diag_list dl = { 0 };
	struct desired *d;
	struct live *l;
	struct plan *p;
	bool removed_old = false, took_aa = false;

	busy(&d, &l);
	p = build(d, l, 0, 0, &dl);
	CHECK(!touches(p, UF));
	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->actions[i];

		if (a->kind == ACTION_REMOVE_MDEV && strcmp(a->uuid, UO) == 0)
			removed_old = !a->pending;
		/* 07.0022 07.0023 stay with the host: the domains go, not the card */
		if (a->kind == ACTION_TAKE_AQMASK && bitmap_test(&a->bits, 0x20) && bitmap_test(&a->bits, 0x21))
			took_aa = true;
		CHECK(a->kind != ACTION_TAKE_APMASK || !bitmap_test(&a->bits, 7));
		/* adapter 0x0a stays taken under the (running) foreign mdev, 9 goes back */
		if (a->kind == ACTION_RELEASE_APMASK) {
			CHECK(!bitmap_test(&a->bits, 0x0a));
			CHECK(bitmap_test(&a->bits, 9));
			CHECK(a->n_depends_on == 1);
		}
	}
	CHECK(removed_old);
	CHECK(took_aa);
	finish(p, l, d, &dl);
}

static void test_strings(void)
{
	for (int k = 0; k < _ACTION_KIND_MAX; k++)
		CHECK(action_kind_to_string((enum action_kind)k) != NULL);
	for (int ph = 0; ph < _PHASE_MAX; ph++)
		CHECK(plan_phase_to_string((enum plan_phase)ph) != NULL);
	CHECK(action_kind_to_string(_ACTION_KIND_INVALID) == NULL);
	CHECK(action_kind_to_string(_ACTION_KIND_MAX) == NULL);
	CHECK(plan_phase_to_string(_PHASE_MAX) == NULL);
	CHECK_STREQ(action_kind_to_string(ACTION_WRITE_AP_CONFIG), "write ap_config");
	CHECK(plan_free(NULL) == NULL);
}

int main(void)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_bringup_ap_config),
		TAP_TEST(test_bringup_individual),
		TAP_TEST(test_converged_is_empty),
		TAP_TEST(test_move_domain_individual),
		TAP_TEST(test_moved_domain_notes),
		TAP_TEST(test_refilter_stale_adapter),
		TAP_TEST(test_late_unassign_individual),
		TAP_TEST(test_move_domain_ap_config),
		TAP_TEST(test_ap_config_intermediate),
		TAP_TEST(test_renumber_one_ap_config),
		TAP_TEST(test_drop_owned_guest),
		TAP_TEST(test_failed_guest_gives_back),
		TAP_TEST(test_give_back_keeps_forced_bit),
		TAP_TEST(test_drop_owned_guest_recorded_name),
		TAP_TEST(test_drop_foreign_guest),
		TAP_TEST(test_add_control_domain),
		TAP_TEST(test_running_guest),
		TAP_TEST(test_running_guest_static),
		TAP_TEST(test_owned_in_use_never_removed),
		TAP_TEST(test_maybe_running),
		TAP_TEST(test_foreign_conflict),
		TAP_TEST(test_cover_domains_beat_adapters),
		TAP_TEST(test_cover_adapters_beat_domains),
		TAP_TEST(test_cover_keep),
		TAP_TEST(test_take_reason_counts_other_queues),
		TAP_TEST(test_take_reason_when_other_take_waits),
		TAP_TEST(test_cover_tie_and_stickiness),
		TAP_TEST(test_take_waits_with_pending_give_back),
		TAP_TEST(test_split_mask_take),
		TAP_TEST(test_waits_for_undeclared_running),
		TAP_TEST(test_mdev_actions_carry_waits_for),
		TAP_TEST(test_masks_off),
		TAP_TEST(test_rfc2017_bringup),
		TAP_TEST(test_rfc2017_queue_moves),
		TAP_TEST(test_rfc2017_half_moves),
		TAP_TEST(test_static_absent_queue),
		TAP_TEST(test_uncertain_absent_queue),
		TAP_TEST(test_release_blocked_by_foreign),
		TAP_TEST(test_ranges),
		TAP_TEST(test_no_vfio_no_bus),
		TAP_TEST(test_shuffle_determinism),
		TAP_TEST(test_busy_host),
		TAP_TEST(test_strings),
	};

	return tap_run(tests, ARRAY_SIZE(tests));
}
