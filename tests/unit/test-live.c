/* SPDX-License-Identifier: MIT */
/*
 * test-live.c: live_read() on fake sysfs trees laid out as kernel-abi.md §1:
 * a dynamic 6.12 host, a static 5.15 host and an rfc2017 host.
 */
#include <errno.h>
#include <string.h>

#include "apply.h"
#include "diags.h"
#include "fakesys.h"
#include "live.h"
#include "macro.h"
#include "owner.h"
#include "sysfs.h"
#include "tap.h"

#define UUID_A "4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c"
#define UUID_B "7d1c2a3b-0000-4000-8000-00000000beef"
#define MASK0 "0x0000000000000000000000000000000000000000000000000000000000000000"

static char *mask_text(const struct bitmap256 *b)
{
	char buf[BITMAP_KERNEL_LEN];

	bitmap_to_kernel(b, buf);
	return xasprintf("%s\n", buf);
}

static void card(const char *root, unsigned a, const char *type, const char *mode)
{
	char *dir = xasprintf("sys/devices/ap/card%02x", a);
	char *p, *v;

	p = xasprintf("%s/uevent", dir);
	v = xasprintf("DEVTYPE=ap_card\nDRIVER=cex4card\nDEV_TYPE=000D\nMODALIAS=ap:t0D\nMODE=%s\n", mode);
	fake_file(root, p, v);
	free(p);
	free(v);
	p = xasprintf("%s/type", dir);
	v = xasprintf("%s\n", type);
	fake_file(root, p, v);
	free(p);
	free(v);
	p = xasprintf("%s/online", dir);
	fake_file(root, p, "1\n");
	free(p);
	p = xasprintf("%s/config", dir);
	fake_file(root, p, "1\n");
	free(p);
	p = xasprintf("%s/driver", dir);
	fake_link(root, p, "../../../bus/ap/drivers/cex4card");
	free(p);
	p = xasprintf("%s/subsystem", dir);
	fake_link(root, p, "../../../bus/ap");
	free(p);
	p = xasprintf("sys/bus/ap/devices/card%02x", a);
	v = xasprintf("../../../devices/ap/card%02x", a);
	fake_link(root, p, v);
	free(p);
	free(v);
	free(dir);
}

/* Another card in card()'s place: its type and mode files rewritten. */
static void retype(const char *root, unsigned a, const char *type, const char *mode)
{
	char *p = xasprintf("sys/devices/ap/card%02x/uevent", a);
	char *v = xasprintf("DEVTYPE=ap_card\nDRIVER=cex4card\nDEV_TYPE=000D\nMODALIAS=ap:t0D\nMODE=%s\n", mode);

	fake_file(root, p, v);
	free(p);
	free(v);
	p = xasprintf("sys/devices/ap/card%02x/type", a);
	v = xasprintf("%s\n", type);
	fake_file(root, p, v);
	free(p);
	free(v);
}

/* status: NULL = no status file */
static void queue(const char *root, unsigned a, unsigned d, const char *driver, const char *status)
{
	char *dir = xasprintf("sys/devices/ap/card%02x/%02x.%04x", a, a, d);
	char *p, *v;

	p = xasprintf("%s/uevent", dir);
	v = driver ? xasprintf("DEVTYPE=ap_queue\nDRIVER=%s\nMODE=cca\n", driver)
		   : xstrdup("DEVTYPE=ap_queue\nMODE=cca\n");
	fake_file(root, p, v);
	free(p);
	free(v);
	p = xasprintf("%s/config", dir);
	fake_file(root, p, "1\n");
	free(p);
	p = xasprintf("%s/subsystem", dir);
	fake_link(root, p, "../../../../bus/ap");
	free(p);
	if (driver) {
		p = xasprintf("%s/driver", dir);
		v = xasprintf("../../../../bus/ap/drivers/%s", driver);
		fake_link(root, p, v);
		free(p);
		free(v);
	}
	if (status) {
		p = xasprintf("%s/status", dir);
		v = xasprintf("%s\n", status);
		fake_file(root, p, v);
		free(p);
		free(v);
	}
	p = xasprintf("sys/bus/ap/devices/%02x.%04x", a, d);
	v = xasprintf("../../../devices/ap/card%02x/%02x.%04x", a, a, d);
	fake_link(root, p, v);
	free(p);
	free(v);
	free(dir);
}

static void mdev(const char *root, const char *matrix, const char *type, const char *uuid)
{
	char *p = xasprintf("sys/%s/mdev_supported_types/%s/devices/%s", matrix, type, uuid);
	char *t = xasprintf("../../../%s", uuid);

	fake_link(root, p, t);
	free(p);
	free(t);
	p = xasprintf("sys/%s/%s/uevent", matrix, uuid);
	fake_file(root, p, "DRIVER=vfio_ap_mdev\n");
	free(p);
}

static void mdev_attr(const char *root, const char *matrix, const char *uuid, const char *attr, const char *v)
{
	char *p = xasprintf("sys/%s/%s/%s", matrix, uuid, attr);

	fake_file(root, p, v);
	free(p);
}

static void bus_common(const char *root, const struct bitmap256 *ap, const struct bitmap256 *aq)
{
	char *v;

	v = mask_text(ap);
	fake_file(root, "sys/bus/ap/apmask", v);
	free(v);
	v = mask_text(aq);
	fake_file(root, "sys/bus/ap/aqmask", v);
	free(v);
	fake_dir(root, "sys/bus/ap/drivers/cex4card");
	fake_dir(root, "sys/bus/ap/drivers/cex4queue");
	fake_file(root, "sys/devices/ap/uevent", "");
}

/*
 * 6.12: cards 05 (CEX7C, cca) and 06 (CEX8A, accel), domains 0x04 (host) and
 * 0x47 (taken from aqmask, vfio_ap).  Guest A (owned) holds 05.0047 and
 * 06.0047 and is running; mdev B (foreign) is empty.
 */
static char *make_dynamic(void)
{
	char *root = fake_tmpdir();
	struct bitmap256 ap = bitmap_full(), aq = bitmap_full(), cfg = { { 0 } };
	const char *M = SYSFS_MATRIX_MAINLINE, *T = SYSFS_TYPE_MAINLINE;
	char *v;

	bitmap_clear(&aq, 0x47);
	bus_common(root, &ap, &aq);
	fake_file(root, "sys/bus/ap/ap_max_adapter_id", "255\n");
	fake_file(root, "sys/bus/ap/ap_max_domain_id", "84\n");
	bitmap_set(&cfg, 5);
	bitmap_set(&cfg, 6);
	v = mask_text(&cfg);
	fake_file(root, "sys/bus/ap/ap_adapter_mask", v);
	free(v);
	cfg = (struct bitmap256){ { 0 } };
	bitmap_set(&cfg, 0x04);
	bitmap_set(&cfg, 0x47);
	v = mask_text(&cfg);
	fake_file(root, "sys/bus/ap/ap_usage_domain_mask", v);
	bitmap_set(&cfg, 0x35);
	free(v);
	v = mask_text(&cfg);
	fake_file(root, "sys/bus/ap/ap_control_domain_mask", v);
	free(v);
	fake_file(root, "sys/bus/ap/bindings", "4/4 (complete)\n");
	fake_dir(root, "sys/bus/ap/drivers/vfio_ap");

	card(root, 5, "CEX7C", "cca");
	card(root, 6, "CEX8A", "accel");
	queue(root, 5, 0x04, "cex4queue", NULL);
	queue(root, 5, 0x47, "vfio_ap", "in use");
	queue(root, 6, 0x04, "cex4queue", NULL);
	queue(root, 6, 0x47, "vfio_ap", "in use");

	fake_file(root, "sys/devices/vfio_ap/matrix/features", "guest_matrix hotplug ap_config\n");
	fake_link(root, "sys/devices/vfio_ap/matrix/subsystem", "../../../bus/matrix");
	fake_file(root, "sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/name",
		  "VFIO AP Passthrough Device\n");
	mdev(root, M, T, UUID_A);
	mdev_attr(root, M, UUID_A, "matrix", "05.0047\n06.0047\n");
	mdev_attr(root, M, UUID_A, "guest_matrix", "05.0047\n06.0047\n");
	mdev_attr(root, M, UUID_A, "control_domains", "0035\n0047\n");
	mdev_attr(root, M, UUID_A, "ap_config",
		  "0x0600000000000000000000000000000000000000000000000000000000000000,0x0000000000000000010000000000000000000000000000000000000000000000,0x0000000000000400010000000000000000000000000000000000000000000000\n");
	mdev(root, M, T, UUID_B);
	mdev_attr(root, M, UUID_B, "matrix", "");
	mdev_attr(root, M, UUID_B, "guest_matrix", "");
	mdev_attr(root, M, UUID_B, "control_domains", "");
	mdev_attr(root, M, UUID_B, "ap_config", MASK0 "," MASK0 "," MASK0 "\n");
	return root;
}

static struct sysfs *open_root(const char *tmp)
{
	struct sysfs *s = NULL;
	char *p = xasprintf("%s/sys", tmp);

	CHECK(sysfs_open(p, &s) == 0);
	free(p);
	return s;
}

static void test_dynamic(void)
{
	char *tmp = make_dynamic();
	struct sysfs *s = open_root(tmp);
	struct diag_list diags = { 0 };
	struct owner_db *db = NULL;
	struct live *l = NULL;
	const struct live_mdev *m;
	const struct live_queue *q;
	const struct live_card *c;
	char *odir = xasprintf("%s/run", tmp);

	CHECK(owner_load(odir, &db) == 0);
	owner_record_mdev(db, UUID_A, "guest1");
	bitmap_set(&db->aqmask_taken, 0x47);

	CHECK(live_read(s, db, LIVE_READ_DETAILS, &l, &diags) == 0);
	for (size_t i = 0; i < diags.n; i++)
		printf("# diag: %s\n", diags.items[i].message);
	CHECK(diags.n == 0);
	CHECK(l->profile == PROFILE_DYNAMIC);
	CHECK_STREQ(kernel_profile_to_string(l->profile), "dynamic");
	CHECK(l->features ==
	      (FEATURE_GUEST_MATRIX | FEATURE_QUEUE_STATUS | FEATURE_AP_CONFIG | FEATURE_MATRIX_FEATURES |
	       FEATURE_MASKS));
	CHECK(l->vfio_loaded);
	CHECK(l->bindings_complete);
	CHECK(l->max_adapter == 255 && l->max_domain == 84);
	CHECK(bitmap_count(&l->apmask) == 256);
	CHECK(bitmap_count(&l->aqmask) == 255 && !bitmap_test(&l->aqmask, 0x47));
	CHECK(l->has_qci);
	CHECK(bitmap_count(&l->cfg_adapters) == 2 && bitmap_test(&l->cfg_adapters, 6));
	CHECK(bitmap_count(&l->cfg_domains) == 2 && bitmap_test(&l->cfg_domains, 0x47));
	CHECK(bitmap_count(&l->cfg_control_domains) == 3 && bitmap_test(&l->cfg_control_domains, 0x35));
	CHECK_STREQ(l->matrix_path, SYSFS_MATRIX_MAINLINE);
	CHECK_STREQ(l->mdev_type, SYSFS_TYPE_MAINLINE);
	CHECK_STREQ(l->vfio_driver, "vfio_ap");

	CHECK(l->n_cards == 2);
	c = live_find_card(l, 6);
	CHECK(c != NULL);
	if (c) {
		CHECK_STREQ(c->type, "CEX8A");
		CHECK_STREQ(c->mode, "accel");
	}
	CHECK(live_find_card(l, 7) == NULL);
	CHECK(l->n_queues == 4);
	CHECK(l->queues[0].adapter == 5 && l->queues[0].domain == 4);
	CHECK(l->queues[3].adapter == 6 && l->queues[3].domain == 0x47);
	q = live_find_queue(l, 5, 4);
	CHECK(q && q->kind == QUEUE_DRIVER_HOST && q->status == QUEUE_STATUS_UNKNOWN);
	if (q)
		CHECK_STREQ(q->driver, "cex4queue");
	/* status is read where it tells a running guest: the first queue of A's guest matrix */
	q = live_find_queue(l, 5, 0x47);
	CHECK(q && q->kind == QUEUE_DRIVER_VFIO && q->status == QUEUE_STATUS_IN_USE);
	q = live_find_queue(l, 6, 0x47);
	CHECK(q && q->kind == QUEUE_DRIVER_VFIO);
	CHECK(q && !q->driver_override);
	CHECK(live_find_queue(l, 7, 4) == NULL);
	CHECK(!l->driver_override_in_use);

	CHECK(l->n_mdevs == 2);
	m = live_find_mdev(l, UUID_A);
	CHECK(m != NULL);
	if (m) {
		CHECK(bitmap_count(&m->matrix.adapters) == 2 && bitmap_test(&m->matrix.adapters, 5));
		CHECK(bitmap_count(&m->matrix.domains) == 1 && bitmap_test(&m->matrix.domains, 0x47));
		CHECK(bitmap_count(&m->matrix.control_domains) == 2 &&
		      bitmap_test(&m->matrix.control_domains, 0x35));
		CHECK(m->has_guest_matrix && matrix_equal(&m->matrix, &m->guest_matrix));
		CHECK(m->in_use);
		CHECK(m->owned);
		CHECK_STREQ(m->owner_guest, "guest1");
	}
	m = live_find_mdev(l, UUID_B);
	CHECK(m && !m->in_use && !m->owned && !m->owner_guest && m->has_guest_matrix);
	CHECK(m && bitmap_empty(&m->matrix.adapters));
	CHECK(bitmap_test(&l->aqmask_taken, 0x47) && bitmap_count(&l->aqmask_taken) == 1);
	CHECK(bitmap_empty(&l->apmask_taken));

	live_free(l);
	owner_free(db);
	diag_list_done(&diags);
	sysfs_close(s);
	free(odir);
	fake_rmtree(tmp);
}

/*
 * A card swapped under an owned mdev (apply_check_cards()): one warning and
 * the new record; a type the records cannot carry (not from a real kernel,
 * but nothing stops it) is warned once too and leaves no record, so that
 * the next run is quiet instead of warning again about the old one.
 */
static void test_card_records(void)
{
	char *tmp = make_dynamic();
	struct sysfs *s = open_root(tmp);
	struct diag_list diags = { 0 };
	struct owner_db *db = NULL;
	struct live *l = NULL;
	char *odir = xasprintf("%s/run", tmp);

	CHECK(owner_load(odir, &db) == 0);
	owner_record_mdev(db, UUID_A, "guest1"); /* adapters 05, 06 */
	CHECK(owner_record_card(db, 6, "CEX8A", "accel"));
	CHECK(live_read(s, db, 0, &l, &diags) == 0 && diags.n == 0);
	/* first sight of card 05: recorded, nothing to say */
	CHECK(apply_check_cards(db, l, true, &diags));
	CHECK(diags.n == 0 && db->cards[5].type && streq(db->cards[5].type, "CEX7C"));
	CHECK(!apply_check_cards(db, l, true, &diags) && diags.n == 0);
	live_free(l);
	l = NULL;

	/* 06 is now a CEX7P in EP11 mode: said, and recorded only with record */
	retype(tmp, 6, "CEX7P", "ep11");
	CHECK(live_read(s, db, 0, &l, &diags) == 0 && diags.n == 0);
	CHECK(!apply_check_cards(db, l, false, &diags));
	CHECK(diags.n == 1 && streq(db->cards[6].type, "CEX8A"));
	CHECK(apply_check_cards(db, l, true, &diags));
	CHECK(diags.n == 2 && streq(db->cards[6].type, "CEX7P") && streq(db->cards[6].mode, "ep11"));
	if (diags.n == 2)
		CHECK_STREQ(diags.items[1].message,
			    "guest 'guest1' (running): adapter 0x06 is now a CEX7P in EP11 mode; it was a CEX8A "
			    "accelerator when apmatrix last saw it; the guest sees the new card");
	diag_list_done(&diags);
	CHECK(!apply_check_cards(db, l, true, &diags) && diags.n == 0);
	live_free(l);
	l = NULL;

	/* a type longer than the records carry: warned once, the old record goes */
	retype(tmp, 6, "CEX9P-A-TYPE-NAME-LONGER-THAN-32-CHARACTERS", "ep11");
	CHECK(live_read(s, db, 0, &l, &diags) == 0 && diags.n == 0);
	CHECK(apply_check_cards(db, l, true, &diags));
	CHECK(diags.n == 1 && db->cards[6].type == NULL);
	diag_list_done(&diags);
	CHECK(!apply_check_cards(db, l, true, &diags) && diags.n == 0);
	CHECK(db->cards[5].type != NULL); /* the other card keeps its record */

	live_free(l);
	owner_free(db);
	diag_list_done(&diags);
	sysfs_close(s);
	free(odir);
	fake_rmtree(tmp);
}

/*
 * Without LIVE_READ_DETAILS (plan, apply): the assignment comes from
 * ap_config alone (matrix and control_domains are not needed), card type
 * and mode are not read, and whether a guest runs is read on demand.
 */
static void test_lean(void)
{
	char *tmp = make_dynamic();
	struct sysfs *s;
	struct diag_list diags = { 0 };
	struct live *l = NULL;
	const struct live_mdev *m;

	CHECK(fake_unlink(tmp, "sys/devices/vfio_ap/matrix/" UUID_A "/matrix") == 0);
	CHECK(fake_unlink(tmp, "sys/devices/vfio_ap/matrix/" UUID_A "/control_domains") == 0);
	s = open_root(tmp);
	CHECK(live_read(s, NULL, 0, &l, &diags) == 0);
	CHECK(diags.n == 0);
	CHECK(l->profile == PROFILE_DYNAMIC && l->profile_certain);
	CHECK(l->features == (FEATURE_GUEST_MATRIX | FEATURE_AP_CONFIG | FEATURE_MATRIX_FEATURES | FEATURE_MASKS));
	CHECK(l->n_cards == 2 && !l->cards[0].type && !l->cards[0].mode);
	m = live_find_mdev(l, UUID_A);
	CHECK(m != NULL);
	if (m) {
		CHECK(matrix_apqn_count(&m->matrix) == 2 && matrix_has_apqn(&m->matrix, 6, 0x47));
		CHECK(bitmap_count(&m->matrix.control_domains) == 2 &&
		      bitmap_test(&m->matrix.control_domains, 0x35));
		CHECK(!m->details_read && !m->has_guest_matrix && !m->in_use);
		CHECK(live_find_queue(l, 5, 0x47)->status == QUEUE_STATUS_UNKNOWN);
		CHECK(live_mdev_in_use(l, m));
		CHECK(m->details_read && m->has_guest_matrix && matrix_equal(&m->guest_matrix, &m->matrix));
		CHECK(live_find_queue(l, 5, 0x47)->status == QUEUE_STATUS_IN_USE);
	}
	m = live_find_mdev(l, UUID_B);
	CHECK(m && !live_mdev_in_use(l, m) && m->details_read && bitmap_empty(&m->matrix.adapters));
	live_free(l);
	diag_list_done(&diags);
	sysfs_close(s);
	fake_rmtree(tmp);
}

/*
 * An mdev its type lists but that is gone (removed between the listing and
 * the read): skipped with a warning, found out by its failed read (no
 * look-up of every mdev's directory before), and the next mdev read into
 * the same slot carries nothing of it.
 */
static void test_listed_mdev_absent(void)
{
	char *tmp = make_dynamic();
	struct sysfs *s;
	struct diag_list diags = { 0 };
	struct live *l = NULL;
	const struct live_mdev *m;

	/* UUID_A sorts first; its directory goes, the listing's link stays */
	CHECK(fake_rm_rf(tmp, "sys/devices/vfio_ap/matrix/" UUID_A));
	s = open_root(tmp);
	CHECK(live_read(s, NULL, 0, &l, &diags) == 0);
	CHECK(diags.n == 1);
	if (diags.n == 1) {
		CHECK(diags.items[0].severity == DIAG_WARNING);
		CHECK(strstr(diags.items[0].message, UUID_A ": mdev listed by its type but absent, skipping") != NULL);
	}
	CHECK(l->n_mdevs == 1);
	CHECK(live_find_mdev(l, UUID_A) == NULL);
	m = live_find_mdev(l, UUID_B);
	CHECK(m && bitmap_empty(&m->matrix.adapters) && bitmap_empty(&m->matrix.control_domains) && !m->owned);
	live_free(l);
	diag_list_done(&diags);
	sysfs_close(s);
	fake_rmtree(tmp);
}

/* 6.10 - 6.11: ap_config and guest_matrix in the mdevs, no features file; one mdev tells. */
static void test_lean_without_features(void)
{
	char *tmp = make_dynamic();
	struct sysfs *s;
	struct live *l = NULL;

	CHECK(fake_unlink(tmp, "sys/devices/vfio_ap/matrix/features") == 0);
	s = open_root(tmp);
	CHECK(live_read(s, NULL, 0, &l, NULL) == 0);
	CHECK(l->profile == PROFILE_DYNAMIC);
	CHECK(l->features == (FEATURE_GUEST_MATRIX | FEATURE_AP_CONFIG | FEATURE_MASKS));
	CHECK(matrix_apqn_count(&live_find_mdev(l, UUID_A)->matrix) == 2);
	CHECK(bitmap_empty(&live_find_mdev(l, UUID_B)->matrix.adapters));
	live_free(l);
	sysfs_close(s);
	fake_rmtree(tmp);
}

/* The cards and queues come from bus/ap/devices; without it, from walking devices/ap. */
static void test_walk_without_bus_devices(void)
{
	char *tmp = make_dynamic();
	struct diag_list diags = { 0 };
	struct sysfs *s;
	struct live *l = NULL;

	CHECK(fake_rm_rf(tmp, "sys/bus/ap/devices"));
	s = open_root(tmp);
	CHECK(live_read(s, NULL, 0, &l, &diags) == 0);
	CHECK(diags.n == 0);
	CHECK(l->n_cards == 2 && l->cards[0].id == 5 && l->cards[1].id == 6);
	CHECK(l->n_queues == 4 && live_find_queue(l, 6, 0x47)->kind == QUEUE_DRIVER_VFIO);
	live_free(l);
	diag_list_done(&diags);
	sysfs_close(s);
	fake_rmtree(tmp);
}

/*
 * With bus/ap/bindings "N/N (complete)" and the drivers' lists holding the N
 * queues, those lists are the whole listing: bus/ap/devices is not read (here
 * a file, which a listing would report).  When the lists fall short of N,
 * bus/ap/devices is listed.
 */
static void test_devices_from_driver_lists(void)
{
	for (int short_lists = 0; short_lists <= 1; short_lists++) {
		char *tmp = make_dynamic();
			struct diag_list diags = { 0 };
		struct sysfs *s;
		struct live *l = NULL;
		static const struct {
			const char *name, *driver;
		} bound[] = {
			{ "card05", "cex4card" },   { "card06", "cex4card" },   { "05.0004", "cex4queue" },
			{ "06.0004", "cex4queue" }, { "05.0047", "vfio_ap" },   { "06.0047", "vfio_ap" },
		};

		CHECK(fake_rm_rf(tmp, "sys/bus/ap/devices"));
		fake_file(tmp, "sys/bus/ap/devices", "not a directory\n");
		for (size_t i = 0; i < ARRAY_SIZE(bound); i++) {
			char *link = xasprintf("sys/bus/ap/drivers/%s/%s", bound[i].driver, bound[i].name);
			char *target = bound[i].name[0] == 'c' ?
					       xasprintf("../../../../devices/ap/%s", bound[i].name) :
					       xasprintf("../../../../devices/ap/card%.2s/%s", bound[i].name, bound[i].name);

			fake_link(tmp, link, target);
			free(link);
			free(target);
		}
		if (short_lists)
			fake_file(tmp, "sys/bus/ap/bindings", "5/5 (complete)\n");
		s = open_root(tmp);
		CHECK(live_read(s, NULL, 0, &l, &diags) == 0);
		CHECK(diags.n == (size_t)short_lists); /* the listing of the file, then the walk */
		CHECK(l->n_cards == 2 && l->cards[0].id == 5 && l->cards[1].id == 6);
		CHECK(l->n_queues == 4 && live_find_queue(l, 6, 0x47)->kind == QUEUE_DRIVER_VFIO &&
		      live_find_queue(l, 5, 0x04)->kind == QUEUE_DRIVER_HOST);
		CHECK(streq(live_find_queue(l, 5, 0x04)->driver, "cex4queue"));
		live_free(l);
		diag_list_done(&diags);
		sysfs_close(s);
		fake_rmtree(tmp);
	}
}

/* Only "assigned", not "in use": the guest is not running. */
static void test_dynamic_not_running(void)
{
	char *tmp = make_dynamic();
	struct sysfs *s;
	struct live *l = NULL;

	fake_file(tmp, "sys/devices/ap/card05/05.0047/status", "assigned\n");
	fake_file(tmp, "sys/devices/ap/card06/06.0047/status", "assigned\n");
	s = open_root(tmp);
	CHECK(live_read(s, NULL, LIVE_READ_DETAILS, &l, NULL) == 0);
	CHECK(l->n_mdevs == 2 && !l->mdevs[0].in_use && !l->mdevs[1].in_use);
	CHECK(!l->mdevs[0].owned);
	CHECK(live_find_queue(l, 5, 0x47)->status == QUEUE_STATUS_ASSIGNED);
	live_free(l);
	sysfs_close(s);
	fake_rmtree(tmp);
}

/* 6.19: driver_override files; one queue has an override. */
static void test_driver_override(void)
{
	char *tmp = make_dynamic();
	struct sysfs *s;
	struct live *l = NULL;

	fake_file(tmp, "sys/devices/ap/card05/05.0004/driver_override", "\n");
	fake_file(tmp, "sys/devices/ap/card06/06.0004/driver_override", "vfio_ap\n");
	s = open_root(tmp);
	CHECK(live_read(s, NULL, LIVE_READ_DETAILS, &l, NULL) == 0);
	CHECK(l->features & FEATURE_DRIVER_OVERRIDE);
	CHECK(l->driver_override_in_use);
	CHECK(live_find_queue(l, 5, 4)->driver_override == NULL);
	CHECK_STREQ(live_find_queue(l, 6, 4)->driver_override, "vfio_ap");
	live_free(l);
	sysfs_close(s);
	fake_rmtree(tmp);
}

/* 6.0 - 6.11: no features file, but guest_matrix in an mdev. */
static void test_dynamic_without_features(void)
{
	char *tmp = make_dynamic();
	struct sysfs *s;
	struct live *l = NULL;

	CHECK(fake_unlink(tmp, "sys/devices/vfio_ap/matrix/features") == 0);
	CHECK(fake_unlink(tmp, "sys/devices/vfio_ap/matrix/" UUID_A "/ap_config") == 0);
	CHECK(fake_unlink(tmp, "sys/devices/vfio_ap/matrix/" UUID_B "/ap_config") == 0);
	s = open_root(tmp);
	CHECK(live_read(s, NULL, LIVE_READ_DETAILS, &l, NULL) == 0);
	CHECK(l->profile == PROFILE_DYNAMIC);
	CHECK(l->features == (FEATURE_GUEST_MATRIX | FEATURE_QUEUE_STATUS | FEATURE_MASKS));
	live_free(l);
	sysfs_close(s);
	fake_rmtree(tmp);
}

/*
 * 5.15: no ap_max_adapter_id (default 63), no QCI, no status, no
 * guest_matrix, bindings not complete yet, one unbound queue, card 07 not
 * bound (no type/online).
 */
static char *make_static(void)
{
	char *root = fake_tmpdir();
	struct bitmap256 ap = bitmap_full(), aq = bitmap_full();
	const char *M = SYSFS_MATRIX_MAINLINE, *T = SYSFS_TYPE_MAINLINE;

	bitmap_clear(&ap, 7);
	bus_common(root, &ap, &aq);
	fake_file(root, "sys/bus/ap/ap_max_domain_id", "15\n");
	fake_file(root, "sys/bus/ap/ap_adapter_mask", "not supported\n");
	fake_file(root, "sys/bus/ap/ap_usage_domain_mask", "not supported\n");
	fake_file(root, "sys/bus/ap/ap_control_domain_mask", "not supported\n");
	fake_file(root, "sys/bus/ap/bindings", "3/4\n");
	fake_dir(root, "sys/bus/ap/drivers/vfio_ap");
	card(root, 3, "CEX5C", "cca");
	queue(root, 3, 0x01, "cex4queue", NULL);
	queue(root, 3, 0x02, NULL, NULL);
	fake_file(root, "sys/devices/ap/card07/uevent", "DEVTYPE=ap_card\nMODE=ep11\n");
	fake_file(root, "sys/devices/ap/card07/config", "0\n");
	queue(root, 7, 0x01, "vfio_ap", NULL);
	queue(root, 7, 0x0a, "vfio_ap", NULL);
	mdev(root, M, T, UUID_B);
	mdev_attr(root, M, UUID_B, "matrix", "07.0001\n07.000a\n");
	mdev_attr(root, M, UUID_B, "control_domains", "0001\n000a\n");
	/* not a UUID: ignored with a warning */
	fake_link(root, "sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/devices/junk",
		  "../../../junk");
	fake_dir(root, "sys/devices/vfio_ap/matrix/junk");
	return root;
}

static void test_static(void)
{
	char *tmp = make_static();
	struct sysfs *s = open_root(tmp);
	struct diag_list diags = { 0 };
	struct live *l = NULL;
	const struct live_card *c;
	const struct live_queue *q;

	CHECK(live_read(s, NULL, LIVE_READ_DETAILS, &l, &diags) == 0);
	CHECK(diags.n == 1);
	if (diags.n == 1) {
		CHECK(diags.items[0].severity == DIAG_WARNING);
		CHECK(strstr(diags.items[0].message, "junk: not a UUID, skipping") != NULL);
	}
	CHECK(l->profile == PROFILE_STATIC);
	CHECK(l->features == FEATURE_MASKS);
	CHECK(l->vfio_loaded);
	CHECK(!l->bindings_complete);
	CHECK(l->max_adapter == 63 && l->max_domain == 15);
	CHECK(!l->has_qci);
	CHECK(!bitmap_test(&l->apmask, 7) && bitmap_test(&l->apmask, 3));
	CHECK(l->n_cards == 2);
	c = live_find_card(l, 7);
	CHECK(c && !c->type);
	if (c)
		CHECK_STREQ(c->mode, "ep11");
	c = live_find_card(l, 3);
	CHECK(c && c->type);
	CHECK(l->n_queues == 4);
	q = live_find_queue(l, 3, 2);
	CHECK(q && !q->driver && q->kind == QUEUE_DRIVER_NONE);
	q = live_find_queue(l, 7, 0x0a);
	CHECK(q && q->kind == QUEUE_DRIVER_VFIO && q->status == QUEUE_STATUS_UNKNOWN);
	CHECK(l->n_mdevs == 1);
	if (l->n_mdevs == 1) {
		const struct live_mdev *m = &l->mdevs[0];

		CHECK_STREQ(m->uuid, UUID_B);
		CHECK(!m->has_guest_matrix && !m->in_use && !m->owned);
		CHECK(matrix_apqn_count(&m->matrix) == 2 && matrix_has_apqn(&m->matrix, 7, 0x0a));
		CHECK(bitmap_count(&m->matrix.control_domains) == 2);
	}
	live_free(l);
	diag_list_done(&diags);
	sysfs_close(s);
	fake_rmtree(tmp);
}

/* vfio_ap not loaded: no matrix device, no mdevs. */
static void test_static_no_vfio(void)
{
	char *tmp = make_static();
	struct sysfs *s;
	struct live *l = NULL;

	CHECK(fake_rm_rf(tmp, "sys/devices/vfio_ap"));
	s = open_root(tmp);
	CHECK(live_read(s, NULL, LIVE_READ_DETAILS, &l, NULL) == 0);
	CHECK(!l->vfio_loaded && l->n_mdevs == 0 && l->profile == PROFILE_STATIC);
	CHECK(l->n_queues == 4);
	live_free(l);
	sysfs_close(s);
	fake_rmtree(tmp);
}

/* The 2017 proposal: ap_matrix parent, vfio_ap_matrix queue driver, hex listings. */
static char *make_rfc2017(void)
{
	char *root = fake_tmpdir();
	struct bitmap256 ap = bitmap_full(), aq = bitmap_full();
	const char *M = SYSFS_MATRIX_RFC2017, *T = SYSFS_TYPE_RFC2017;

	bus_common(root, &ap, &aq);
	fake_file(root, "sys/bus/ap/ap_max_domain_id", "255\n");
	fake_file(root, "sys/bus/ap/ap_max_adapter_id", "255\n");
	fake_dir(root, "sys/bus/ap/drivers/vfio_ap_matrix");
	fake_link(root, "sys/bus/ap_matrix/devices/matrix", "../../../devices/ap_matrix/matrix");
	card(root, 5, "CEX6C", "cca");
	queue(root, 5, 0x04, "cex4queue", NULL);
	queue(root, 5, 0x47, "vfio_ap_matrix", NULL);
	queue(root, 5, 0xab, "vfio_ap_matrix", NULL);
	mdev(root, M, T, UUID_A);
	mdev_attr(root, M, UUID_A, "adapters", "05\n");
	mdev_attr(root, M, UUID_A, "domains", "47\n0xab\n");
	mdev_attr(root, M, UUID_A, "control_domains", "47\nab\n");
	return root;
}

static void test_rfc2017(void)
{
	char *tmp = make_rfc2017();
	struct sysfs *s = open_root(tmp);
	struct diag_list diags = { 0 };
	struct owner_db *db = NULL;
	struct live *l = NULL;
	char *odir = xasprintf("%s/run", tmp);

	CHECK(owner_load(odir, &db) == 0);
	owner_record_mdev(db, UUID_A, "g");
	bitmap_set(&db->queues_taken[5], 0x47);
	bitmap_set(&db->queues_taken[5], 0xab);
	CHECK(live_read(s, db, LIVE_READ_DETAILS, &l, &diags) == 0);
	CHECK(diags.n == 0);
	CHECK(l->profile == PROFILE_RFC2017);
	CHECK_STREQ(kernel_profile_to_string(l->profile), "rfc2017");
	CHECK_STREQ(l->matrix_path, SYSFS_MATRIX_RFC2017);
	CHECK_STREQ(l->mdev_type, SYSFS_TYPE_RFC2017);
	CHECK_STREQ(l->vfio_driver, "vfio_ap_matrix");
	CHECK(l->vfio_loaded);
	CHECK(l->bindings_complete); /* no bindings file */
	CHECK(live_find_queue(l, 5, 0x47)->kind == QUEUE_DRIVER_VFIO);
	CHECK(live_find_queue(l, 5, 0x04)->kind == QUEUE_DRIVER_HOST);
	CHECK(l->n_mdevs == 1);
	if (l->n_mdevs == 1) {
		const struct live_mdev *m = &l->mdevs[0];

		CHECK(bitmap_count(&m->matrix.adapters) == 1 && bitmap_test(&m->matrix.adapters, 5));
		CHECK(bitmap_count(&m->matrix.domains) == 2 && bitmap_test(&m->matrix.domains, 0x47) &&
		      bitmap_test(&m->matrix.domains, 0xab));
		CHECK(bitmap_count(&m->matrix.control_domains) == 2);
		CHECK(!m->has_guest_matrix && m->owned && !m->in_use);
	}
	CHECK(bitmap_count(&l->queues_taken[5]) == 2);
	live_free(l);
	owner_free(db);
	diag_list_done(&diags);
	sysfs_close(s);
	free(odir);
	fake_rmtree(tmp);
}

/* A line of a per-line listing that is not a number is a warning; the others count. */
static void test_garbage_lines(void)
{
	char *tmp = make_rfc2017();
	struct sysfs *s;
	struct diag_list diags = { 0 };
	struct live *l = NULL;

	mdev_attr(tmp, SYSFS_MATRIX_RFC2017, UUID_A, "control_domains", "47\nxyz\n\nab\n");
	s = open_root(tmp);
	CHECK(live_read(s, NULL, LIVE_READ_DETAILS, &l, &diags) == 0);
	CHECK(diags.n == 1);
	CHECK(has_diag(&diags, DIAG_WARNING, "/control_domains: unexpected line 'xyz'"));
	CHECK(l->n_mdevs == 1);
	if (l->n_mdevs == 1) {
		const struct bitmap256 *cd = &l->mdevs[0].matrix.control_domains;

		CHECK(bitmap_count(cd) == 2 && bitmap_test(cd, 0x47) && bitmap_test(cd, 0xab));
	}
	live_free(l);
	diag_list_done(&diags);
	sysfs_close(s);
	fake_rmtree(tmp);
}

static void test_no_ap_bus(void)
{
	char *tmp = fake_tmpdir();
	struct sysfs *s;
	struct live *l = NULL;

	fake_dir(tmp, "sys/devices");
	s = open_root(tmp);
	CHECK(live_read(s, NULL, LIVE_READ_DETAILS, &l, NULL) == -ENODEV);
	CHECK(l && l->profile == PROFILE_NONE && l->n_queues == 0);
	live_free(l);
	sysfs_close(s);
	fake_rmtree(tmp);
}

/* A broken attribute is a warning, reading goes on. */
static void test_garbage_attrs(void)
{
	char *tmp = make_dynamic();
	struct sysfs *s;
	struct diag_list diags = { 0 };
	struct live *l = NULL;
	char *p;

	fake_file(tmp, "sys/bus/ap/apmask", "0xzz\n");
	p = xasprintf("sys/devices/vfio_ap/matrix/%s/guest_matrix", UUID_B);
	fake_file(tmp, p, "06.0004\nbogus\n");
	free(p);
	/* a malformed ap_config is a warning and an empty matrix, not a guess */
	p = xasprintf("sys/devices/vfio_ap/matrix/%s/ap_config", UUID_B);
	fake_file(tmp, p, "0x80,0x80\n");
	free(p);
	fake_file(tmp, "sys/devices/ap/card05/05.0047/status", "weird\n");
	s = open_root(tmp);
	CHECK(live_read(s, NULL, LIVE_READ_DETAILS, &l, &diags) == 0);
	for (size_t i = 0; i < diags.n; i++)
		printf("# diag: %s\n", diags.items[i].message);
	CHECK(diags.n == 4);
	CHECK(has_diag(&diags, DIAG_WARNING, "/guest_matrix: unexpected line 'bogus'"));
	CHECK(!(l->features & FEATURE_MASKS));
	CHECK(matrix_has_apqn(&live_find_mdev(l, UUID_B)->guest_matrix, 6, 0x04));
	CHECK(bitmap_empty(&live_find_mdev(l, UUID_B)->matrix.adapters));
	CHECK(live_find_queue(l, 5, 0x47)->status == QUEUE_STATUS_UNKNOWN);
	live_free(l);
	diag_list_done(&diags);
	sysfs_close(s);
	fake_rmtree(tmp);
}

static void test_strings(void)
{
	CHECK_STREQ(kernel_profile_to_string(PROFILE_STATIC), "static");
	CHECK(kernel_profile_to_string(_PROFILE_INVALID) == NULL);
	CHECK_STREQ(queue_driver_to_string(QUEUE_DRIVER_VFIO), "vfio");
	CHECK_STREQ(queue_status_to_string(QUEUE_STATUS_IN_USE), "in use");
	CHECK(live_free(NULL) == NULL);
}

int main(void)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_dynamic),
		TAP_TEST(test_card_records),
		TAP_TEST(test_dynamic_not_running),
		TAP_TEST(test_lean),
		TAP_TEST(test_listed_mdev_absent),
		TAP_TEST(test_lean_without_features),
		TAP_TEST(test_walk_without_bus_devices),
		TAP_TEST(test_devices_from_driver_lists),
		TAP_TEST(test_driver_override),
		TAP_TEST(test_dynamic_without_features),
		TAP_TEST(test_static),
		TAP_TEST(test_static_no_vfio),
		TAP_TEST(test_rfc2017),
		TAP_TEST(test_no_ap_bus),
		TAP_TEST(test_garbage_attrs),
		TAP_TEST(test_garbage_lines),
		TAP_TEST(test_strings),
	};

	return tap_run(tests, ARRAY_SIZE(tests));
}
