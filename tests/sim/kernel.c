/* SPDX-License-Identifier: MIT */
/*
 * kernel.c: the kernel model behind the tree.  Every behaviour cites the
 * section of shared/kernel-abi.md it follows; where that document is unsure,
 * the choice made is written down here and in README.md.
 *
 * Locking: every function here runs with sim->lock held (main.c takes it).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sim.h"

/* mdev core: MAX_ZDEV_ENTRIES_EXT (256 x 256) instances (kernel-abi.md §2.4) */
#define MAX_INSTANCES 65536
/* 3 x "0x" + 64 digits, 2 commas, newline (kernel-abi.md §2.5 ap_config) */
#define AP_CONFIG_STRLEN 201

static const char *drv_name(const struct sim *s, enum drv d)
{
	switch (d) {
	case DRV_CEX4CARD:
		return "cex4card";
	case DRV_CEX4QUEUE:
		return "cex4queue";
	case DRV_VFIO:
		return s->prof.vfio_drv;
	default:
		return NULL;
	}
}

/* ---- profiles (kernel-abi.md §5) ---------------------------------------- */

static int profile_init(struct profile *p, const char *name)
{
	unsigned major, minor;
	char tail;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (streq(name, "rfc2017")) {
		/* kernel-abi.md §6 and seed/ap-matrix-rfc-2017-review.txt */
		p->rfc = true;
		p->vfio_drv = "vfio_ap_matrix";
		p->matrix_root = "devices/ap_matrix";
		p->matrix_bus = "ap_matrix";
		p->matrix_drv = "vfio_ap_matrix";
		p->type_name = "ap_matrix-passthrough";
		p->mdev_drv = "vfio_mdev";
		p->module = "vfio_ap_matrix";
		return 0;
	}
	if (sscanf(name, "%u.%u%c", &major, &minor, &tail) != 2 || minor > 99)
		return -EINVAL;
	p->version = major * 100 + minor;
	if (p->version < 420)
		return -EINVAL; /* vfio_ap arrived in 4.20 */
	p->masks = true;
	p->queue_mode = true;
	p->bindings = p->version >= 510;
	p->remove_blocks = p->version >= 502;
	p->queue_status = p->version >= 517;
	p->mask_uevents = p->version >= 519;
	p->dynamic = p->version >= 600;
	p->mask_busy = p->version >= 600;
	p->ap_config = p->version >= 610;
	p->features = p->version >= 612;
	p->driver_override = p->version >= 619;
	p->vfio_drv = "vfio_ap";
	p->matrix_root = "devices/vfio_ap";
	p->matrix_bus = "matrix";
	p->matrix_drv = "vfio_ap";
	p->type_name = "vfio_ap-passthrough";
	p->mdev_drv = p->version >= 515 ? "vfio_ap_mdev" : "vfio_mdev";
	p->module = "vfio_ap";
	return 0;
}

/* ---- kernel parsing primitives (kernel-abi.md §2) ----------------------- */

static int digit_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return 99;
}

/* kstrtoul(): optional '+', radix fixup for base 0, one trailing '\n'. */
static int kstrtoul(const char *s, unsigned base, unsigned long *ret)
{
	unsigned long v = 0;
	bool any = false;

	if (*s == '+')
		s++;
	if (base == 0) {
		if (s[0] == '0') {
			if (tolower((unsigned char)s[1]) == 'x' && isxdigit((unsigned char)s[2]))
				base = 16;
			else
				base = 8;
		} else {
			base = 10;
		}
	}
	if (base == 16 && s[0] == '0' && tolower((unsigned char)s[1]) == 'x')
		s += 2;
	for (; digit_val(*s) < (int)base; s++) {
		unsigned long d = (unsigned long)digit_val(*s);
		if (v > (~0UL - d) / base)
			return -ERANGE;
		v = v * base + d;
		any = true;
	}
	if (!any)
		return -EINVAL;
	if (*s == '\n')
		s++;
	if (*s)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* simple_strtoul(s, &end, 0): no error reporting, stops at the first non-digit. */
static unsigned long simple_strtoul0(const char *s, const char **end)
{
	unsigned base = 10;
	unsigned long v = 0;

	if (s[0] == '0') {
		if (tolower((unsigned char)s[1]) == 'x' && isxdigit((unsigned char)s[2])) {
			base = 16;
			s += 2;
		} else {
			base = 8;
		}
	}
	for (; digit_val(*s) < (int)base; s++)
		v = v * base + (unsigned long)digit_val(*s);
	*end = s;
	return v;
}

/* modify_bitmap(): "+N", "-N", "+N-M" terms separated by ',' or '\n' runs. */
static int modify_bitmap(const char *str, struct bitmap256 *b)
{
	while (*str) {
		char sign = *str++;
		const char *np;
		unsigned long a, z;

		if (sign != '+' && sign != '-')
			return -EINVAL;
		a = z = simple_strtoul0(str, &np);
		if (str == np || a >= 256)
			return -EINVAL;
		str = np;
		if (*str == '-') {
			z = simple_strtoul0(++str, &np);
			if (str == np || a > z || z >= 256)
				return -EINVAL;
			str = np;
		}
		for (unsigned long i = a; i <= z; i++) {
			if (sign == '+')
				bitmap_set(b, (unsigned)i);
			else
				bitmap_clear(b, (unsigned)i);
		}
		while (*str == ',' || *str == '\n')
			str++;
	}
	return 0;
}

/* ap_parse_mask_str(): relative list or absolute hex bitmap. */
static int parse_mask(const char *buf, const struct bitmap256 *cur, struct bitmap256 *ret)
{
	struct bitmap256 b = *cur;

	if (buf[0] == '+' || buf[0] == '-') {
		if (modify_bitmap(buf, &b) < 0)
			return -EINVAL;
	} else if (bitmap_from_kernel(buf, &b) < 0) {
		return -EINVAL;
	}
	*ret = b;
	return 0;
}

/* Assign attributes: base 0 on mainline, hex in the 2017 RFC (§6). */
static int parse_id(const struct sim *s, const char *buf, unsigned long *ret)
{
	return kstrtoul(buf, s->prof.rfc ? 16 : 0, ret);
}

/* sysfs_streq()-style copy: one trailing newline dropped. */
static char *strip_nl(const char *buf)
{
	size_t n = strlen(buf);

	if (n > 0 && buf[n - 1] == '\n')
		n--;
	return strndup(buf, n);
}

/* ---- small helpers ------------------------------------------------------ */

static struct queue *find_queue(const struct sim *s, unsigned a, unsigned d)
{
	if (a > 255 || d > 255 || !s->cards[a])
		return NULL;
	return s->cards[a]->queues[d];
}

#define FOREACH_QUEUE(s, q)                                                  \
	for (unsigned _a = 0; _a < 256; _a++)                                \
		for (unsigned _d = 0; _d < 256; _d++)                        \
			for (struct queue *q = find_queue((s), _a, _d); q; q = NULL)

static bool queue_owned_by_def_drv(const struct sim *s, const struct queue *q)
{
	if (q && q->driver_override && *q->driver_override)
		return q->drv == DRV_CEX4QUEUE;
	return bitmap_test(&s->apmask, q->card->id) && bitmap_test(&s->aqmask, q->dom);
}

/* ap_apqn_in_matrix_owned_by_def_drv() for a whole matrix */
static bool matrix_host_owned(const struct sim *s, const struct bitmap256 *apm, const struct bitmap256 *aqm)
{
	if (!s->prof.masks)
		return false;
	BITMAP_FOREACH(a, apm) {
		BITMAP_FOREACH(d, aqm) {
			struct queue *q = find_queue(s, (unsigned)a, (unsigned)d);
			if (q ? queue_owned_by_def_drv(s, q)
			      : bitmap_test(&s->apmask, (unsigned)a) && bitmap_test(&s->aqmask, (unsigned)d))
				return true;
		}
	}
	return false;
}

static bool matrix_shared(const struct sim *s, const struct mdev *self, const struct bitmap256 *apm,
			  const struct bitmap256 *aqm)
{
	for (size_t i = 0; i < s->n_mdevs; i++) {
		const struct mdev *m = s->mdevs[i];
		if (m == self)
			continue;
		if (bitmap_intersects(&m->apm, apm) && bitmap_intersects(&m->aqm, aqm))
			return true;
	}
	return false;
}

static struct bitmap256 qci_apm(const struct sim *s)
{
	struct bitmap256 b = { { 0 } };

	for (unsigned a = 0; a < 256; a++)
		if (s->cards[a] && s->cards[a]->config)
			bitmap_set(&b, a);
	return b;
}

/*
 * vfio_ap_mdev_filter_matrix() + filter_cdoms(): the shadow becomes the
 * matrix within the LPAR's configuration, without every adapter that has an
 * APQN not bound to vfio_ap.  Called only where the kernel filters: a
 * successful assign, ap_config, a queue probe, a configuration that adds.
 */
static void shadow_filter(const struct sim *s, struct mdev *m)
{
	struct bitmap256 cfg = qci_apm(s);

	m->sapm = bitmap_and(&m->apm, &cfg);
	m->saqm = bitmap_and(&m->aqm, &s->qci_aqm);
	m->sadm = bitmap_and(&m->adm, &s->qci_adm);
	BITMAP_FOREACH(a, &m->sapm) {
		BITMAP_FOREACH(d, &m->saqm) {
			struct queue *q = find_queue(s, (unsigned)a, (unsigned)d);
			if (!q || q->drv != DRV_VFIO || q->unusable) {
				bitmap_clear(&m->sapm, (unsigned)a);
				break;
			}
		}
	}
}

/*
 * What the guest gets (kernel-abi.md §2.5.1).  Before 6.0 the whole matrix
 * goes to the guest; the RFC also made every usage domain a control domain.
 * From 6.0 on the shadow, which is state: an unassign clears a bit but
 * does not filter again, so an adapter left out because of a domain stays
 * out after that domain is unassigned, until the next filter.
 */
static void guest_view(const struct sim *s, const struct mdev *m, struct bitmap256 *apm, struct bitmap256 *aqm,
		       struct bitmap256 *adm)
{
	if (!s->prof.dynamic) {
		*apm = m->apm;
		*aqm = m->aqm;
		*adm = s->prof.rfc ? bitmap_or(&m->adm, &m->aqm) : m->adm;
		return;
	}
	*apm = m->sapm;
	*aqm = m->saqm;
	*adm = m->sadm;
}

/* vfio_ap_mdev_probe_queue(): the mdev the new vfio queue is assigned to filters again */
static void shadow_queue_bound(struct sim *s, const struct queue *q)
{
	if (!s->prof.dynamic)
		return;
	for (size_t i = 0; i < s->n_mdevs; i++) {
		struct mdev *m = s->mdevs[i];
		if (bitmap_test(&m->apm, q->card->id) && bitmap_test(&m->aqm, q->dom))
			shadow_filter(s, m);
	}
}

/* vfio_ap_mdev_remove_queue(): a queue in the guest takes its adapter out (no new filter) */
static void shadow_queue_gone(struct sim *s, const struct queue *q)
{
	if (!s->prof.dynamic)
		return;
	for (size_t i = 0; i < s->n_mdevs; i++) {
		struct mdev *m = s->mdevs[i];
		if (bitmap_test(&m->sapm, q->card->id) && bitmap_test(&m->saqm, q->dom))
			bitmap_clear(&m->sapm, q->card->id);
	}
}

/*
 * vfio_ap_on_cfg_changed() / on_scan_complete(): what left the LPAR's
 * configuration leaves the shadow; an mdev that has something added filters
 * again.  old_apm/old_aqm: the configuration before the change.
 */
static void shadow_config_changed(struct sim *s, const struct bitmap256 *old_apm, const struct bitmap256 *old_aqm)
{
	struct bitmap256 cfg = qci_apm(s);
	struct bitmap256 add_a = bitmap_andnot(&cfg, old_apm), add_d = bitmap_andnot(&s->qci_aqm, old_aqm);

	if (!s->prof.dynamic)
		return;
	for (size_t i = 0; i < s->n_mdevs; i++) {
		struct mdev *m = s->mdevs[i];

		m->sapm = bitmap_and(&m->sapm, &cfg);
		m->saqm = bitmap_and(&m->saqm, &s->qci_aqm);
		m->sadm = bitmap_and(&m->sadm, &s->qci_adm);
		if (bitmap_intersects(&m->apm, &add_a) || bitmap_intersects(&m->aqm, &add_d))
			shadow_filter(s, m);
	}
}

static char *format_matrix(const struct bitmap256 *apm, const struct bitmap256 *aqm, unsigned max_a,
			   unsigned max_d)
{
	struct bitmap256 ma = bitmap_upto(max_a), md = bitmap_upto(max_d);
	struct bitmap256 a = bitmap_and(apm, &ma);
	struct bitmap256 d = bitmap_and(aqm, &md);
	char *out = NULL;
	size_t len = 0, cap = 0;
	char line[16];

	buf_append(&out, &len, &cap, "", 0);
	if (!bitmap_empty(&a) && !bitmap_empty(&d)) {
		BITMAP_FOREACH(x, &a) {
			BITMAP_FOREACH(y, &d) {
				int n = snprintf(line, sizeof(line), "%02x.%04x\n", x, y);
				buf_append(&out, &len, &cap, line, (size_t)n);
			}
		}
	} else if (!bitmap_empty(&a)) {
		BITMAP_FOREACH(x, &a) {
			int n = snprintf(line, sizeof(line), "%02x.\n", x);
			buf_append(&out, &len, &cap, line, (size_t)n);
		}
	} else {
		BITMAP_FOREACH(y, &d) {
			int n = snprintf(line, sizeof(line), ".%04x\n", y);
			buf_append(&out, &len, &cap, line, (size_t)n);
		}
	}
	return out;
}

static char *format_list(const struct bitmap256 *b, const char *fmt)
{
	char *out = NULL;
	size_t len = 0, cap = 0;
	char line[16];

	buf_append(&out, &len, &cap, "", 0);
	BITMAP_FOREACH(x, b) {
		int n = snprintf(line, sizeof(line), fmt, x);
		buf_append(&out, &len, &cap, line, (size_t)n);
	}
	return out;
}

/* ---- uevents (kernel-abi.md §4) ----------------------------------------- */

static char *card_vars(const struct sim *s, const struct card *c)
{
	_cleanup_free_ char *drv = c->drv ? xasprintf("DRIVER=%s\n", drv_name(s, c->drv)) : xstrdup("");

	return xasprintf("DEVTYPE=ap_card\n%sDEV_TYPE=%04X\nMODALIAS=ap:t%02X\nMODE=%s\n", drv, c->hwtype,
			 c->hwtype, card_mode_to_string(c->mode));
}

static char *queue_vars(const struct sim *s, const struct queue *q)
{
	_cleanup_free_ char *drv = q->drv ? xasprintf("DRIVER=%s\n", drv_name(s, q->drv)) : xstrdup("");

	if (!s->prof.queue_mode)
		return xasprintf("DEVTYPE=ap_queue\n%sDEV_TYPE=%04X\nMODALIAS=ap:t%02X\n", drv, q->card->hwtype,
				 q->card->hwtype);
	return xasprintf("DEVTYPE=ap_queue\n%sMODE=%s\n", drv, card_mode_to_string(q->card->mode));
}

static char *matrix_vars(const struct sim *s)
{
	return xasprintf("DRIVER=%s\n", s->prof.matrix_drv);
}

static char *mdev_vars(const struct sim *s, const struct mdev *m)
{
	(void)m;
	return xasprintf("DRIVER=%s\n", s->prof.mdev_drv);
}

static void emit(struct sim *s, const char *action, const struct node *dir, const char *subsystem,
		 const char *const *env, const char *vars)
{
	_cleanup_free_ char *p = node_path(dir);
	_cleanup_free_ char *devpath = xasprintf("/%s", p);

	control_uevent(s, action, devpath, subsystem, env, vars);
}

static void emit_card(struct sim *s, const char *action, const struct card *c, const char *const *env)
{
	_cleanup_free_ char *v = card_vars(s, c);

	emit(s, action, c->dir, "ap", env, v);
}

static void emit_queue(struct sim *s, const char *action, const struct queue *q, const char *const *env)
{
	_cleanup_free_ char *v = queue_vars(s, q);

	emit(s, action, q->dir, "ap", env, v);
}

static struct node *ap_root(const struct sim *s)
{
	return node_lookup(s->root, "devices/ap");
}

static struct node *matrix_dir(const struct sim *s)
{
	_cleanup_free_ char *p = xasprintf("%s/matrix", s->prof.matrix_root);

	return node_lookup(s->root, p);
}

static struct node *type_dir(const struct sim *s)
{
	_cleanup_free_ char *p = xasprintf("%s/matrix/mdev_supported_types/%s", s->prof.matrix_root,
					   s->prof.type_name);

	return node_lookup(s->root, p);
}

static void emit_ap_root(struct sim *s, const char *const *env)
{
	emit(s, "change", ap_root(s), "ap", env, "");
}

/*
 * Writing an action word into a `uevent` file makes the kernel send a
 * synthetic event (kobject_synth_uevent): "ACTION [UUID [KEY=VALUE ...]]".
 */
static int synth_uevent(struct sim *s, const struct node *dir, const char *subsystem, const char *vars,
			const char *buf)
{
	static const char *const actions[] = { "add", "remove", "change", "move", "online", "offline", "bind", "unbind" };
	_cleanup_free_ char *copy = strip_nl(buf);
	char *save = NULL, *action, *uuid;
	const char *env[32];
	char *envs[32];
	size_t n = 0;
	bool ok = false;
	int r = 0;

	action = strtok_r(copy, " ", &save);
	if (!action)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
		ok |= streq(action, actions[i]);
	if (!ok)
		return -EINVAL;
	uuid = strtok_r(NULL, " ", &save);
	if (uuid && strlen(uuid) != 36)
		return -EINVAL;
	envs[n++] = xasprintf("SYNTH_UUID=%s", uuid ? uuid : "0");
	for (char *kv = strtok_r(NULL, " ", &save); kv && n < ARRAY_SIZE(envs) - 1; kv = strtok_r(NULL, " ", &save)) {
		if (!strchr(kv, '=')) {
			r = -EINVAL;
			break;
		}
		envs[n++] = xasprintf("SYNTH_ARG_%s", kv);
	}
	if (r == 0) {
		for (size_t i = 0; i < n; i++)
			env[i] = envs[i];
		env[n] = NULL;
		emit(s, action, dir, subsystem, env, vars);
	}
	for (size_t i = 0; i < n; i++)
		free(envs[i]);
	return r;
}

/* ---- driver binding (kernel-abi.md §1, §2.1 effects) -------------------- */

/* defined next to the attribute tables further down */
static void card_driver_files(struct card *c, bool add);
static void queue_driver_files(const struct sim *s, struct queue *q, bool add);

static void bindings_probed(struct sim *s);

static struct node *drv_dir(const struct sim *s, enum drv d)
{
	_cleanup_free_ char *p = xasprintf("bus/ap/drivers/%s", drv_name(s, d));

	return node_lookup(s->root, p);
}

static void card_bind(struct sim *s, struct card *c, enum drv d)
{
	_cleanup_free_ char *to = xasprintf("devices/ap/card%02x", c->id);
	_cleanup_free_ char *drv = xasprintf("bus/ap/drivers/%s", drv_name(s, d));
	struct node *dd = drv_dir(s, d);

	c->drv = d;
	node_add_link(c->dir, "driver", drv);
	node_add_link(dd, c->dir->name, to);
	card_driver_files(c, true);
	emit_card(s, "bind", c, NULL);
	bindings_probed(s);
}

static void card_unbind(struct sim *s, struct card *c)
{
	if (!c->drv)
		return;
	node_remove_child(drv_dir(s, c->drv), c->dir->name);
	node_remove_child(c->dir, "driver");
	card_driver_files(c, false);
	c->drv = DRV_NONE;
	emit_card(s, "unbind", c, NULL);
}

static void queue_bind(struct sim *s, struct queue *q, enum drv d)
{
	_cleanup_free_ char *to = xasprintf("devices/ap/card%02x/%s", q->card->id, q->dir->name);
	_cleanup_free_ char *drv = xasprintf("bus/ap/drivers/%s", drv_name(s, d));

	q->drv = d;
	node_add_link(q->dir, "driver", drv);
	node_add_link(drv_dir(s, d), q->dir->name, to);
	queue_driver_files(s, q, true);
	emit_queue(s, "bind", q, NULL);
	if (d == DRV_VFIO)
		shadow_queue_bound(s, q);
	bindings_probed(s);
}

static void queue_unbind(struct sim *s, struct queue *q)
{
	if (!q->drv)
		return;
	if (q->drv == DRV_VFIO)
		shadow_queue_gone(s, q);
	node_remove_child(drv_dir(s, q->drv), q->dir->name);
	node_remove_child(q->dir, "driver");
	queue_driver_files(s, q, false);
	q->drv = DRV_NONE;
	emit_queue(s, "unbind", q, NULL);
}

/* ap_device_probe(): default drivers only for host-owned APQNs, vfio only for the others. */
static bool queue_may_bind(const struct sim *s, const struct queue *q, enum drv d)
{
	if (d == DRV_VFIO && !s->vfio_loaded)
		return false;
	if (d != DRV_CEX4QUEUE && d != DRV_VFIO)
		return false;
	if (q->driver_override && *q->driver_override)
		return streq(q->driver_override, drv_name(s, d));
	if (!s->prof.masks)
		return true;
	return (d == DRV_CEX4QUEUE) == queue_owned_by_def_drv(s, q);
}

static void queue_probe(struct sim *s, struct queue *q)
{
	if (q->drv)
		return;
	if (queue_may_bind(s, q, DRV_CEX4QUEUE))
		queue_bind(s, q, DRV_CEX4QUEUE);
	else if (queue_may_bind(s, q, DRV_VFIO))
		queue_bind(s, q, DRV_VFIO);
}

/* ap_bus_revise_bindings(): reprobe every queue whose driver no longer fits. */
static void revise_bindings(struct sim *s)
{
	FOREACH_QUEUE(s, q) {
		if (q->drv && !queue_may_bind(s, q, q->drv))
			queue_unbind(s, q);
		queue_probe(s, q);
	}
}

/*
 * The BINDINGS=complete uevent (kernel-abi.md §4.2), modelled on
 * ap_check_bindings_complete(), ap_device_probe(), ap_scan_bus() and
 * ap_driver_register() in drivers/s390/crypto/ap_bus.c.  Two eras:
 *
 * 5.10 - 6.8 (ap_bus.c copies with ap_init_apqn_bindings_complete):
 *   ap_device_probe() calls the check after every successful probe, of a
 *   card or a queue, and ap_scan_bus() only after the first scan.  The
 *   completion is never re-armed and does not gate the uevent: every
 *   successful probe that leaves all queues bound (once a scan was done)
 *   sends one.  A hot plugged card with N queues that all bind sends N + 1
 *   (its card probe comes before its queues exist, then one per queue); a
 *   mask write that moves K queues sends K; unplugging sends none.
 *
 * 6.9 on (306d6bda8f97 "s390/ap: Fix bind complete udev event sent after
 * each AP bus scan", 2024, fixing 778412ab915d "s390/ap: rearm APQNs
 * bindings complete completion" and queued for 6.9.y; plus b4f5bd60d558,
 * queued for 6.10.y, which runs the check in ap_driver_register(); as in
 * the 6.12 - 6.18 copy kernel-abi.md §0 calls BUS): every probe that passes
 * the mask check re-arms the completion (reinit_completion), as does a scan
 * that finds new adapters or domains; the check runs at the end of every
 * bus scan and when a driver registers, and sends the uevent only when it
 * completes the completion.  So one uevent per settling: a hot plugged card
 * gives one, however many queues it has; unplugging (no probe) gives none.
 * 6.9 without the fix (778412ab915d alone: a uevent after every scan, none
 * after a probe) is not modelled.
 *
 * Not simulated: the periodic scan (config_time).  A re-armed completion is
 * checked after every write to the simulator instead (main.c), so a mask
 * write's rebinding completes at once rather than at the next scan.
 */
static bool bindings_rearmed_by_probe(const struct sim *s)
{
	return s->prof.version >= 609;
}

static bool all_queues_bound(struct sim *s)
{
	FOREACH_QUEUE(s, q)
		if (q->drv == DRV_NONE)
			return false;
	return true;
}

static void send_bindings_complete(struct sim *s)
{
	char cnt[64];
	const char *env[] = { "BINDINGS=complete", cnt, NULL };

	s->bindings_complete = true;
	s->complete_count++;
	snprintf(cnt, sizeof(cnt), "COMPLETECOUNT=%llu", (unsigned long long)s->complete_count);
	emit_ap_root(s, env);
}

/* the end of a successful ap_device_probe() (a card or a queue bound) */
static void bindings_probed(struct sim *s)
{
	if (!s->prof.bindings)
		return;
	if (bindings_rearmed_by_probe(s))
		s->bindings_complete = false;
	else if (s->scans > 0 && all_queues_bound(s))
		send_bindings_complete(s);
}

/* ap_check_bindings_complete() from a bus scan or a driver registering */
void sim_check_bindings(struct sim *s)
{
	if (!s->prof.bindings || s->scans == 0)
		return;
	if (!bindings_rearmed_by_probe(s))
		return; /* the probes sent it already; the first scan's check is in sim_init() */
	if (!s->bindings_complete && all_queues_bound(s))
		send_bindings_complete(s);
}

/* ---- attribute helpers ---------------------------------------------------- */

static int show_str(char **ret, const char *s)
{
	*ret = xstrdup(s);
	return 0;
}

#define SHOW_FMT(ret, ...) (*(ret) = xasprintf(__VA_ARGS__), 0)

static int show_mask(char **ret, const struct bitmap256 *b)
{
	char k[BITMAP_KERNEL_LEN];

	bitmap_to_kernel(b, k);
	return SHOW_FMT(ret, "%s\n", k);
}

static int store_ignore(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)s, (void)obj, (void)buf, (void)len;
	return 0;
}

/* ---- /sys/bus/<bus> generic files --------------------------------------- */

static int bus_uevent_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	const char *bus = obj;
	_cleanup_free_ char *p = xasprintf("bus/%s", bus);
	struct node *dir = node_lookup(s->root, p);

	(void)len;
	return dir ? synth_uevent(s, dir, "bus", "", buf) : -ENODEV;
}

static int autoprobe_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return SHOW_FMT(ret, "%d\n", s->autoprobe);
}

static int autoprobe_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	s->autoprobe = buf[0] != '0';
	return 0;
}

/* Find an AP device by its name ("card05", "05.0004"). */
static int ap_find_device(const struct sim *s, const char *buf, struct card **ret_card, struct queue **ret_queue)
{
	_cleanup_free_ char *name = strip_nl(buf);
	unsigned a, d;
	char canon[32];

	*ret_card = NULL;
	*ret_queue = NULL;
	if (sscanf(name, "card%2x", &a) == 1) {
		snprintf(canon, sizeof(canon), "card%02x", a);
		if (streq(canon, name) && s->cards[a]) {
			*ret_card = s->cards[a];
			return 0;
		}
	} else if (sscanf(name, "%2x.%4x", &a, &d) == 2) {
		snprintf(canon, sizeof(canon), "%02x.%04x", a, d);
		if (streq(canon, name) && find_queue(s, a, d)) {
			*ret_queue = find_queue(s, a, d);
			return 0;
		}
	}
	return -ENODEV;
}

static int ap_drivers_probe_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	struct card *c;
	struct queue *q;
	int r = ap_find_device(s, buf, &c, &q);

	(void)obj, (void)len;
	if (r < 0)
		return r;
	if (c && !c->drv)
		card_bind(s, c, DRV_CEX4CARD);
	if (q)
		queue_probe(s, q);
	return 0;
}

static int generic_drivers_probe_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)s, (void)obj, (void)buf, (void)len;
	return -ENODEV;
}

/* ---- /sys/bus/ap attributes (kernel-abi.md §2.1) ------------------------ */

static int ap_domain_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return SHOW_FMT(ret, "%d\n", s->ap_domain);
}

static int ap_domain_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	int d;

	(void)obj, (void)len;
	if (sscanf(buf, "%i\n", &d) != 1 || d < 0 || (unsigned)d > s->max_apqi ||
	    (s->prof.masks && !bitmap_test(&s->aqmask, (unsigned)d)))
		return -EINVAL;
	s->ap_domain = d;
	return 0;
}

static int ap_adapter_mask_show(struct sim *s, void *obj, char **ret)
{
	struct bitmap256 b = qci_apm(s);

	(void)obj;
	return show_mask(ret, &b);
}

static int ap_usage_mask_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return show_mask(ret, &s->qci_aqm);
}

static int ap_control_mask_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return show_mask(ret, &s->qci_adm);
}

static int ap_interrupts_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "1\n");
}

static int config_time_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return SHOW_FMT(ret, "%u\n", s->config_time);
}

static int config_time_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	int t;

	(void)obj, (void)len;
	if (sscanf(buf, "%d\n", &t) != 1 || t < 5 || t > 120)
		return -EINVAL;
	s->config_time = (unsigned)t;
	return 0;
}

static int poll_thread_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return SHOW_FMT(ret, "%d\n", s->poll_thread);
}

static int poll_thread_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	/* kstrtobool */
	switch (buf[0]) {
	case 'y': case 'Y': case '1': case 't': case 'T':
		s->poll_thread = true;
		return 0;
	case 'n': case 'N': case '0': case 'f': case 'F':
		s->poll_thread = false;
		return 0;
	case 'o': case 'O':
		if (buf[1] == 'n' || buf[1] == 'N') {
			s->poll_thread = true;
			return 0;
		}
		if (buf[1] == 'f' || buf[1] == 'F') {
			s->poll_thread = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int poll_timeout_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return SHOW_FMT(ret, "%llu\n", (unsigned long long)s->poll_timeout);
}

static int poll_timeout_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	unsigned long v;
	int r = kstrtoul(buf, 0, &v);

	(void)obj, (void)len;
	if (r < 0)
		return r;
	if (v > 120000000000UL)
		return -EINVAL;
	s->poll_timeout = v;
	return 0;
}

static int max_domain_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return SHOW_FMT(ret, "%u\n", s->max_apqi);
}

static int max_adapter_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return SHOW_FMT(ret, "%u\n", s->max_apid);
}

static bool any_override(const struct sim *s)
{
	FOREACH_QUEUE(s, q)
		if (q->driver_override && *q->driver_override)
			return true;
	return false;
}

/* apmask_store()/aqmask_store() and their commit (kernel-abi.md §2.1) */
static int mask_store(struct sim *s, bool adapters, const char *buf)
{
	struct bitmap256 *cur = adapters ? &s->apmask : &s->aqmask;
	struct bitmap256 nm, newly;
	char k[BITMAP_KERNEL_LEN];
	_cleanup_free_ char *var = NULL;
	const char *env[2];

	/* 6.19: masks and driver_override exclude each other (§2.6, EINVAL unconfirmed) */
	if (s->prof.driver_override && any_override(s))
		return -EINVAL;
	if (parse_mask(buf, cur, &nm) < 0)
		return -EINVAL;
	if (bitmap_equal(&nm, cur))
		return 0;
	newly = bitmap_andnot(&nm, cur);
	if (s->prof.mask_busy && !bitmap_empty(&newly)) {
		for (size_t i = 0; i < s->n_mdevs; i++) {
			const struct mdev *m = s->mdevs[i];
			bool busy = adapters ? bitmap_intersects(&newly, &m->apm) && bitmap_intersects(&s->aqmask, &m->aqm)
					     : bitmap_intersects(&s->apmask, &m->apm) && bitmap_intersects(&newly, &m->aqm);
			if (busy)
				return -EBUSY;
		}
	}
	*cur = nm;
	revise_bindings(s);
	if (s->prof.mask_uevents) {
		/* the kernel's value ends in '\n'; the log keeps one line per variable */
		bitmap_to_kernel(&nm, k);
		var = xasprintf("%s=%s", adapters ? "APMASK" : "AQMASK", k);
		env[0] = var;
		env[1] = NULL;
		emit_ap_root(s, env);
	}
	return 0;
}

static int apmask_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return show_mask(ret, &s->apmask);
}

static int apmask_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	return mask_store(s, true, buf);
}

static int aqmask_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return show_mask(ret, &s->aqmask);
}

static int aqmask_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	return mask_store(s, false, buf);
}

static int scans_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return SHOW_FMT(ret, "%llu\n", (unsigned long long)s->scans);
}

static int scans_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)buf, (void)len;
	s->scans++;
	return 0;
}

static int bindings_show(struct sim *s, void *obj, char **ret)
{
	unsigned total = 0, bound = 0;

	(void)obj;
	FOREACH_QUEUE(s, q) {
		total++;
		bound += q->drv != DRV_NONE;
	}
	if (bound == total && s->scans > 0)
		return SHOW_FMT(ret, "%u/%u (complete)\n", bound, total);
	return SHOW_FMT(ret, "%u/%u\n", bound, total);
}

static int features_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "APSC APXA QACT\n");
}

static int complete_count_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return SHOW_FMT(ret, "%llu\n", (unsigned long long)s->complete_count);
}

static const struct attr ap_bus_attrs[] = {
	{ "uevent", 0200, NULL, bus_uevent_store },
	{ "drivers_autoprobe", 0644, autoprobe_show, autoprobe_store },
	{ "drivers_probe", 0200, NULL, ap_drivers_probe_store },
	{ "ap_domain", 0644, ap_domain_show, ap_domain_store },
	{ "ap_adapter_mask", 0444, ap_adapter_mask_show, NULL },
	{ "ap_usage_domain_mask", 0444, ap_usage_mask_show, NULL },
	{ "ap_control_domain_mask", 0444, ap_control_mask_show, NULL },
	{ "ap_interrupts", 0444, ap_interrupts_show, NULL },
	{ "config_time", 0644, config_time_show, config_time_store },
	{ "poll_thread", 0644, poll_thread_show, poll_thread_store },
	{ "poll_timeout", 0644, poll_timeout_show, poll_timeout_store },
	{ "ap_max_domain_id", 0444, max_domain_show, NULL },
};

static const struct attr ap_bus_mask_attrs[] = {
	{ "ap_max_adapter_id", 0444, max_adapter_show, NULL },
	{ "apmask", 0644, apmask_show, apmask_store },
	{ "aqmask", 0644, aqmask_show, aqmask_store },
	{ "scans", 0644, scans_show, scans_store },
	{ "bindings", 0444, bindings_show, NULL },
	{ "features", 0444, features_show, NULL },
};

/* 6.19 (51d921a613b1); the file name is not confirmed (kernel-abi.md §7.2) */
static const struct attr ap_bus_count_attr = { "bindings_complete_count", 0444, complete_count_show, NULL };

static const struct attr generic_bus_attrs[] = {
	{ "uevent", 0200, NULL, bus_uevent_store },
	{ "drivers_autoprobe", 0644, autoprobe_show, autoprobe_store },
	{ "drivers_probe", 0200, NULL, generic_drivers_probe_store },
};

/* ---- AP bus drivers: bind/unbind ---------------------------------------- */

static int drv_bind_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	enum drv d = (enum drv)(uintptr_t)obj;
	struct card *c;
	struct queue *q;
	int r = ap_find_device(s, buf, &c, &q);

	(void)len;
	if (r < 0)
		return r;
	if (c) {
		if (d != DRV_CEX4CARD)
			return -ENODEV; /* driver_match_device() fails */
		if (c->drv)
			return -EBUSY;
		card_bind(s, c, d);
		return 0;
	}
	if (d == DRV_CEX4CARD)
		return -ENODEV;
	if (q->drv)
		return -EBUSY;
	if (!queue_may_bind(s, q, d))
		return -ENODEV; /* probe refused: APQN owned by the other side of the masks */
	queue_bind(s, q, d);
	return 0;
}

static int drv_unbind_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	enum drv d = (enum drv)(uintptr_t)obj;
	struct card *c;
	struct queue *q;
	int r = ap_find_device(s, buf, &c, &q);

	(void)len;
	if (r < 0)
		return r;
	if (c && c->drv == d) {
		card_unbind(s, c);
		return 0;
	}
	if (q && q->drv == d) {
		queue_unbind(s, q);
		return 0;
	}
	return -ENODEV;
}

static int drv_uevent_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)s, (void)obj, (void)len;
	/* driver kobjects: accepted, the event is not modelled */
	return strlen(buf) ? 0 : -EINVAL;
}

static const struct attr drv_attrs[] = {
	{ "bind", 0200, NULL, drv_bind_store },
	{ "unbind", 0200, NULL, drv_unbind_store },
	{ "uevent", 0200, NULL, drv_uevent_store },
};

static int nodrv_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)s, (void)obj, (void)buf, (void)len;
	return -ENODEV;
}

/* mdev driver: bind/unbind exist but manual rebinding is not modelled */
static const struct attr mdev_drv_attrs[] = {
	{ "bind", 0200, NULL, nodrv_store },
	{ "unbind", 0200, NULL, nodrv_store },
	{ "uevent", 0200, NULL, drv_uevent_store },
};

/* ---- /sys/kernel/uevent_seqnum: the number of the last uevent sent ------ */

static int uevent_seqnum_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	*ret = xasprintf("%llu\n", (unsigned long long)s->seqnum);
	return 0;
}

static const struct attr kernel_attrs[] = {
	{ "uevent_seqnum", 0444, uevent_seqnum_show, NULL },
};

/* ---- /sys/devices/ap (kernel-abi.md §2.2, §2.3) -------------------------- */

static int root_uevent_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "");
}

static int root_uevent_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)obj, (void)len;
	return synth_uevent(s, ap_root(s), "ap", "", buf);
}

static const struct attr ap_root_attrs[] = {
	{ "uevent", 0644, root_uevent_show, root_uevent_store },
};

static int card_uevent_show(struct sim *s, void *obj, char **ret)
{
	*ret = card_vars(s, obj);
	return 0;
}

static int card_uevent_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	struct card *c = obj;
	_cleanup_free_ char *v = card_vars(s, c);

	(void)len;
	return synth_uevent(s, c->dir, "ap", v, buf);
}

static int card_hwtype_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	return SHOW_FMT(ret, "%u\n", ((struct card *)obj)->hwtype);
}

static int card_depth_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "8\n");
}

static unsigned functions_of(enum card_mode m)
{
	/* APSC | CCA/ACCEL/EP11 | APXA, derived from the bit layout (kernel-abi.md §2.2) */
	return m == MODE_CCA ? 0x92000000u : m == MODE_ACCEL ? 0x8A000000u : 0x86000000u;
}

static int card_functions_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	return SHOW_FMT(ret, "0x%08X\n", functions_of(((struct card *)obj)->mode));
}

static int card_request_count_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	return SHOW_FMT(ret, "%llu\n", (unsigned long long)((struct card *)obj)->request_count);
}

static int card_request_count_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	struct card *c = obj;

	(void)s, (void)buf, (void)len;
	c->request_count = 0;
	for (unsigned d = 0; d < 256; d++)
		if (c->queues[d])
			c->queues[d]->request_count = 0;
	return 0;
}

static int zero_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "0\n");
}

static int card_modalias_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	return SHOW_FMT(ret, "ap:t%02X\n", ((struct card *)obj)->hwtype);
}

static int card_config_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	return SHOW_FMT(ret, "%d\n", ((struct card *)obj)->config);
}

static int card_config_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	struct card *c = obj;
	const char *env[] = { NULL, NULL };
	struct bitmap256 old_apm = qci_apm(s);
	int v;

	(void)len;
	if (sscanf(buf, "%d", &v) != 1 || v < 0 || v > 1)
		return -EINVAL;
	if (c->config == (bool)v)
		return 0;
	c->config = v;
	shadow_config_changed(s, &old_apm, &s->qci_aqm);
	if (!v)
		c->online = false;
	env[0] = v ? "CONFIG=1" : "CONFIG=0";
	emit_card(s, "change", c, env);
	for (unsigned d = 0; d < 256; d++)
		if (c->queues[d])
			emit_queue(s, "change", c->queues[d], env);
	return 0;
}

static int card_max_msg_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "12288\n");
}

static int card_type_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	return SHOW_FMT(ret, "%s\n", ((struct card *)obj)->type);
}

static int card_online_show(struct sim *s, void *obj, char **ret)
{
	struct card *c = obj;

	(void)s;
	return SHOW_FMT(ret, "%d\n", c->config && c->online);
}

static int card_online_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	struct card *c = obj;
	const char *env[] = { NULL, NULL };
	int v;

	(void)len;
	if (sscanf(buf, "%d\n", &v) != 1 || v < 0 || v > 1)
		return -EINVAL;
	if (v && !c->config)
		return -ENODEV;
	env[0] = v ? "ONLINE=1" : "ONLINE=0";
	if (c->online != (bool)v) {
		c->online = v;
		emit_card(s, "change", c, env);
	}
	for (unsigned d = 0; d < 256; d++) {
		struct queue *q = c->queues[d];
		if (q && q->online != (bool)v) {
			q->online = v;
			emit_queue(s, "change", q, env);
		}
	}
	return 0;
}

static int card_serialnr_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	return SHOW_FMT(ret, "9300%04X\n", ((struct card *)obj)->id);
}

static int mkvps_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "AES NEW: empty 0x0000000000000000\nAES CUR: empty 0x0000000000000000\n");
}

static int op_modes_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "\n");
}

static int ep11_api_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "4\n");
}

static int ep11_fw_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "4.3\n");
}

static const struct attr card_attrs[] = {
	{ "uevent", 0644, card_uevent_show, card_uevent_store },
	{ "hwtype", 0444, card_hwtype_show, NULL },
	{ "raw_hwtype", 0444, card_hwtype_show, NULL },
	{ "depth", 0444, card_depth_show, NULL },
	{ "ap_functions", 0444, card_functions_show, NULL },
	{ "request_count", 0644, card_request_count_show, card_request_count_store },
	{ "requestq_count", 0444, zero_show, NULL },
	{ "pendingq_count", 0444, zero_show, NULL },
	{ "modalias", 0444, card_modalias_show, NULL },
	{ "config", 0644, card_config_show, card_config_store },
	{ "chkstop", 0444, zero_show, NULL },
	{ "max_msg_size", 0444, card_max_msg_show, NULL },
};

static const struct attr card_cex4_attrs[] = {
	{ "type", 0444, card_type_show, NULL },
	{ "online", 0644, card_online_show, card_online_store },
	{ "load", 0444, zero_show, NULL },
};

static const struct attr card_cca_attrs[] = {
	{ "serialnr", 0444, card_serialnr_show, NULL },
};

static const struct attr card_ep11_attrs[] = {
	{ "serialnr", 0444, card_serialnr_show, NULL },
	{ "API_ordinalnr", 0444, ep11_api_show, NULL },
	{ "FW_version", 0444, ep11_fw_show, NULL },
	{ "op_modes", 0444, op_modes_show, NULL },
};

static int queue_uevent_show(struct sim *s, void *obj, char **ret)
{
	*ret = queue_vars(s, obj);
	return 0;
}

static int queue_uevent_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	struct queue *q = obj;
	_cleanup_free_ char *v = queue_vars(s, q);

	(void)len;
	return synth_uevent(s, q->dir, "ap", v, buf);
}

static int queue_request_count_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	return SHOW_FMT(ret, "%llu\n", (unsigned long long)((struct queue *)obj)->request_count);
}

static int queue_request_count_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	(void)s, (void)buf, (void)len;
	((struct queue *)obj)->request_count = 0;
	return 0;
}

static int queue_reset_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "No Reset Timer set.\n");
}

static int queue_interrupt_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "Interrupts enabled.\n");
}

static int queue_config_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	return SHOW_FMT(ret, "%d\n", ((struct queue *)obj)->card->config);
}

static int queue_functions_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	return SHOW_FMT(ret, "0x%08X\n", functions_of(((struct queue *)obj)->card->mode));
}

static int queue_override_show(struct sim *s, void *obj, char **ret)
{
	struct queue *q = obj;

	(void)s;
	return SHOW_FMT(ret, "%s\n", q->driver_override ? q->driver_override : "");
}

/* 6.19 driver_override (kernel-abi.md §2.6): only while both masks are all ones */
static int queue_override_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	struct queue *q = obj;
	struct bitmap256 full = bitmap_full();
	char *v;

	(void)len;
	if (!bitmap_equal(&s->apmask, &full) || !bitmap_equal(&s->aqmask, &full))
		return -EINVAL;
	v = strip_nl(buf);
	free(q->driver_override);
	q->driver_override = *v ? v : NULL;
	if (!*v)
		free(v);
	return 0;
}

static int queue_online_show(struct sim *s, void *obj, char **ret)
{
	struct queue *q = obj;

	(void)s;
	return SHOW_FMT(ret, "%d\n", q->card->config && q->online);
}

static int queue_online_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	struct queue *q = obj;
	const char *env[] = { NULL, NULL };
	int v;

	(void)len;
	if (sscanf(buf, "%d\n", &v) != 1 || v < 0 || v > 1)
		return -EINVAL;
	if (v && !q->card->config)
		return -ENODEV;
	if (v && !q->card->online)
		return -EINVAL;
	if (q->online != (bool)v) {
		q->online = v;
		env[0] = v ? "ONLINE=1" : "ONLINE=0";
		emit_queue(s, "change", q, env);
	}
	return 0;
}

static bool apqn_in_guest(const struct sim *s, const struct mdev *m, unsigned a, unsigned d)
{
	struct bitmap256 apm, aqm, adm;

	guest_view(s, m, &apm, &aqm, &adm);
	return bitmap_test(&apm, a) && bitmap_test(&aqm, d);
}

/* vfio_ap queue `status` (kernel-abi.md §2.3, with the stable fix) */
static const char *queue_status(const struct sim *s, const struct queue *q)
{
	for (size_t i = 0; i < s->n_mdevs; i++) {
		const struct mdev *m = s->mdevs[i];
		if (!bitmap_test(&m->apm, q->card->id) || !bitmap_test(&m->aqm, q->dom))
			continue;
		if (m->attached && apqn_in_guest(s, m, q->card->id, q->dom))
			return "in use";
		return "assigned";
	}
	return "unassigned";
}

static int queue_status_show(struct sim *s, void *obj, char **ret)
{
	return SHOW_FMT(ret, "%s\n", queue_status(s, obj));
}

static const struct attr queue_attrs[] = {
	{ "uevent", 0644, queue_uevent_show, queue_uevent_store },
	{ "request_count", 0644, queue_request_count_show, queue_request_count_store },
	{ "requestq_count", 0444, zero_show, NULL },
	{ "pendingq_count", 0444, zero_show, NULL },
	{ "reset", 0644, queue_reset_show, store_ignore },
	{ "interrupt", 0444, queue_interrupt_show, NULL },
	{ "config", 0444, queue_config_show, NULL },
	{ "chkstop", 0444, zero_show, NULL },
	{ "ap_functions", 0444, queue_functions_show, NULL },
};

static const struct attr queue_override_attr = { "driver_override", 0644, queue_override_show,
						 queue_override_store };

static const struct attr queue_cex4_attrs[] = {
	{ "online", 0644, queue_online_show, queue_online_store },
	{ "load", 0444, zero_show, NULL },
};

static const struct attr queue_cca_attrs[] = {
	{ "mkvps", 0444, mkvps_show, NULL },
};

static const struct attr queue_ep11_attrs[] = {
	{ "mkvps", 0444, mkvps_show, NULL },
	{ "op_modes", 0444, op_modes_show, NULL },
};

static const struct attr queue_vfio_attrs[] = {
	{ "status", 0444, queue_status_show, NULL },
};

static void files(struct node *dir, const struct attr *attrs, size_t n, void *obj, bool add)
{
	for (size_t i = 0; i < n; i++) {
		if (add)
			node_add_file(dir, &attrs[i], obj);
		else
			node_remove_child(dir, attrs[i].name);
	}
}

/* zcrypt_cex4 adds these while bound; their mode decides the extras */
static void card_driver_files(struct card *c, bool add)
{
	files(c->dir, card_cex4_attrs, ARRAY_SIZE(card_cex4_attrs), c, add);
	if (c->mode == MODE_CCA)
		files(c->dir, card_cca_attrs, ARRAY_SIZE(card_cca_attrs), c, add);
	else if (c->mode == MODE_EP11)
		files(c->dir, card_ep11_attrs, ARRAY_SIZE(card_ep11_attrs), c, add);
}

static void queue_driver_files(const struct sim *s, struct queue *q, bool add)
{
	if (q->drv == DRV_CEX4QUEUE) {
		files(q->dir, queue_cex4_attrs, ARRAY_SIZE(queue_cex4_attrs), q, add);
		if (q->card->mode == MODE_CCA)
			files(q->dir, queue_cca_attrs, ARRAY_SIZE(queue_cca_attrs), q, add);
		else if (q->card->mode == MODE_EP11)
			files(q->dir, queue_ep11_attrs, ARRAY_SIZE(queue_ep11_attrs), q, add);
	} else if (q->drv == DRV_VFIO && s->prof.queue_status) {
		files(q->dir, queue_vfio_attrs, ARRAY_SIZE(queue_vfio_attrs), q, add);
	}
}

/* ---- matrix device and mdev type (kernel-abi.md §2.4) -------------------- */

static int matrix_uevent_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	*ret = matrix_vars(s);
	return 0;
}

static int matrix_uevent_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	_cleanup_free_ char *v = matrix_vars(s);

	(void)obj, (void)len;
	return synth_uevent(s, matrix_dir(s), s->prof.matrix_bus, v, buf);
}

static int matrix_features_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "guest_matrix hotplug ap_config\n");
}

static const struct attr matrix_attrs[] = {
	{ "uevent", 0644, matrix_uevent_show, matrix_uevent_store },
};

static const struct attr matrix_features_attr = { "features", 0444, matrix_features_show, NULL };

static int type_name_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return show_str(ret, s->prof.rfc ? "AP Matrix Passthrough Device\n" : "VFIO AP Passthrough Device\n");
}

static int type_api_show(struct sim *s, void *obj, char **ret)
{
	(void)s, (void)obj;
	return show_str(ret, "vfio-ap\n");
}

static int type_avail_show(struct sim *s, void *obj, char **ret)
{
	(void)obj;
	return SHOW_FMT(ret, "%zu\n", MAX_INSTANCES - s->n_mdevs);
}

static void mdev_create(struct sim *s, const char *uuid);

/* mdev core create_store() + mdev_device_create() */
static int type_create_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	char uuid[37];

	(void)obj;
	if (len < 36 || len > 37)
		return -EINVAL;
	for (unsigned i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? buf[i] != '-' : !isxdigit((unsigned char)buf[i]))
			return -EINVAL;
		uuid[i] = (char)tolower((unsigned char)buf[i]);
	}
	uuid[36] = '\0';
	if (sim_find_mdev(s, uuid))
		return -EEXIST;
	if (s->n_mdevs >= MAX_INSTANCES)
		return -EUSERS;
	mdev_create(s, uuid);
	return 0;
}

static const struct attr type_attrs[] = {
	{ "create", 0200, NULL, type_create_store },
	{ "name", 0444, type_name_show, NULL },
	{ "device_api", 0444, type_api_show, NULL },
	{ "available_instances", 0444, type_avail_show, NULL },
};

/* ---- mdevs (kernel-abi.md §2.5) ------------------------------------------ */

static int mdev_uevent_show(struct sim *s, void *obj, char **ret)
{
	*ret = mdev_vars(s, obj);
	return 0;
}

static int mdev_uevent_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	struct mdev *m = obj;
	_cleanup_free_ char *v = mdev_vars(s, m);

	(void)len;
	return synth_uevent(s, m->dir, "mdev", v, buf);
}

enum which {
	W_ADAPTER,
	W_DOMAIN,
	W_CONTROL,
};

/*
 * Before 6.0 (OPS-static): every APQN of (new adapter x assigned domains)
 * must be a queue bound to vfio_ap; with no domains assigned yet, at least
 * one queue of that adapter.  Symmetric for domains.
 */
static bool static_reserved(const struct sim *s, const struct mdev *m, enum which w, unsigned id)
{
	const struct bitmap256 *other = w == W_ADAPTER ? &m->aqm : &m->apm;

	if (bitmap_empty(other)) {
		FOREACH_QUEUE(s, q)
			if ((w == W_ADAPTER ? q->card->id : q->dom) == id && q->drv == DRV_VFIO)
				return true;
		return false;
	}
	BITMAP_FOREACH(o, other) {
		struct queue *q = w == W_ADAPTER ? find_queue(s, id, (unsigned)o) : find_queue(s, (unsigned)o, id);
		if (!q || q->drv != DRV_VFIO)
			return false;
	}
	return true;
}

static int mdev_assign(struct sim *s, struct mdev *m, enum which w, const char *buf)
{
	struct bitmap256 apm = m->apm, aqm = m->aqm;
	unsigned long id;
	unsigned max = w == W_ADAPTER ? s->max_apid : s->max_apqi;
	struct bitmap256 *bm = w == W_ADAPTER ? &m->apm : w == W_DOMAIN ? &m->aqm : &m->adm;
	int r;

	/* pre-6.0: no hot plug, changes to an mdev in use are refused first */
	if (!s->prof.dynamic && !s->prof.rfc && m->attached)
		return -EBUSY;
	r = parse_id(s, buf, &id);
	if (r < 0)
		return r;
	if (id > max)
		return -ENODEV;
	if (w == W_CONTROL) {
		/* no mask or overlap validation for control domains */
		if (s->prof.dynamic && bitmap_test(bm, (unsigned)id))
			return 0;
		bitmap_set(bm, (unsigned)id);
		if (s->prof.dynamic)
			m->sadm = bitmap_and(&m->adm, &s->qci_adm); /* filter_cdoms() */
		return 0;
	}
	if (s->prof.dynamic) {
		if (bitmap_test(bm, (unsigned)id))
			return 0;
		bitmap_set(w == W_ADAPTER ? &apm : &aqm, (unsigned)id);
		if (matrix_host_owned(s, &apm, &aqm))
			return -EADDRNOTAVAIL;
	} else {
		if (!static_reserved(s, m, w, (unsigned)id))
			return -EADDRNOTAVAIL;
		bitmap_set(w == W_ADAPTER ? &apm : &aqm, (unsigned)id);
	}
	if (matrix_shared(s, m, &apm, &aqm))
		return -EADDRINUSE;
	m->apm = apm;
	m->aqm = aqm;
	if (s->prof.dynamic)
		shadow_filter(s, m);
	return 0;
}

static int mdev_unassign(struct sim *s, struct mdev *m, enum which w, const char *buf)
{
	unsigned long id;
	unsigned max = w == W_ADAPTER ? s->max_apid : s->max_apqi;
	int r;

	if (!s->prof.dynamic && !s->prof.rfc && m->attached)
		return -EBUSY;
	r = parse_id(s, buf, &id);
	if (r < 0)
		return r;
	if (id > max)
		return -ENODEV;
	bitmap_clear(w == W_ADAPTER ? &m->apm : w == W_DOMAIN ? &m->aqm : &m->adm, (unsigned)id);
	/* hot unplug: the bit leaves the shadow, nothing is filtered again */
	bitmap_clear(w == W_ADAPTER ? &m->sapm : w == W_DOMAIN ? &m->saqm : &m->sadm, (unsigned)id);
	return 0;
}

#define MDEV_STORE(fn, op, w)                                                              \
	static int fn(struct sim *s, void *obj, const char *buf, size_t len)               \
	{                                                                                  \
		(void)len;                                                                 \
		return op(s, obj, w, buf);                                                 \
	}
MDEV_STORE(assign_adapter_store, mdev_assign, W_ADAPTER)
MDEV_STORE(assign_domain_store, mdev_assign, W_DOMAIN)
MDEV_STORE(assign_control_store, mdev_assign, W_CONTROL)
MDEV_STORE(unassign_adapter_store, mdev_unassign, W_ADAPTER)
MDEV_STORE(unassign_domain_store, mdev_unassign, W_DOMAIN)
MDEV_STORE(unassign_control_store, mdev_unassign, W_CONTROL)

static int mdev_matrix_show(struct sim *s, void *obj, char **ret)
{
	struct mdev *m = obj;

	*ret = format_matrix(&m->apm, &m->aqm, s->max_apid, s->max_apqi);
	return 0;
}

static int mdev_guest_matrix_show(struct sim *s, void *obj, char **ret)
{
	struct bitmap256 apm, aqm, adm;

	guest_view(s, obj, &apm, &aqm, &adm);
	*ret = format_matrix(&apm, &aqm, s->max_apid, s->max_apqi);
	return 0;
}

static int mdev_control_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	*ret = format_list(&((struct mdev *)obj)->adm, "%04x\n");
	return 0;
}

static int mdev_adapters_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	*ret = format_list(&((struct mdev *)obj)->apm, "%02x\n");
	return 0;
}

static int mdev_domains_show(struct sim *s, void *obj, char **ret)
{
	(void)s;
	*ret = format_list(&((struct mdev *)obj)->aqm, "%04x\n");
	return 0;
}

static int mdev_ap_config_show(struct sim *s, void *obj, char **ret)
{
	struct mdev *m = obj;
	char a[BITMAP_KERNEL_LEN], d[BITMAP_KERNEL_LEN], c[BITMAP_KERNEL_LEN];

	(void)s;
	bitmap_to_kernel(&m->apm, a);
	bitmap_to_kernel(&m->aqm, d);
	bitmap_to_kernel(&m->adm, c);
	return SHOW_FMT(ret, "%s,%s,%s\n", a, d, c);
}

/* ap_config_store(): one transaction, EINVAL > EADDRNOTAVAIL > EADDRINUSE > ENODEV */
static int mdev_ap_config_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	struct mdev *m = obj;
	_cleanup_free_ char *copy = strndup(buf, len < AP_CONFIG_STRLEN ? len : AP_CONFIG_STRLEN);
	struct bitmap256 b[3], over[3];
	struct bitmap256 amax = bitmap_upto(s->max_apid), dmax = bitmap_upto(s->max_apqi);
	char *rest = copy;

	for (int i = 0; i < 3; i++) {
		char *tok = strsep(&rest, ",\n");
		if (!tok || bitmap_from_kernel(tok, &b[i]) < 0)
			return -EINVAL;
	}
	if (matrix_host_owned(s, &b[0], &b[1]))
		return -EADDRNOTAVAIL;
	if (matrix_shared(s, m, &b[0], &b[1]))
		return -EADDRINUSE;
	over[0] = bitmap_andnot(&b[0], &amax);
	over[1] = bitmap_andnot(&b[1], &dmax);
	over[2] = bitmap_andnot(&b[2], &dmax);
	if (!bitmap_empty(&over[0]) || !bitmap_empty(&over[1]) || !bitmap_empty(&over[2]))
		return -ENODEV;
	m->apm = b[0];
	m->aqm = b[1];
	m->adm = b[2];
	shadow_filter(s, m);
	return 0;
}

static void mdev_destroy(struct sim *s, struct mdev *m);

/* mdev core remove_store() (kernel-abi.md §2.5 `remove`) */
static int mdev_remove_store(struct sim *s, void *obj, const char *buf, size_t len)
{
	struct mdev *m = obj;
	unsigned long v;
	int r = kstrtoul(buf, 0, &v);

	(void)len;
	if (r < 0)
		return r;
	if (!v || m->removing)
		return 0;
	if (m->attached) {
		if (!s->prof.remove_blocks)
			return -EBUSY;
		/*
		 * device_remove_file_self(): the file goes away at once; the
		 * writer then waits until the user (QEMU) lets go.
		 */
		m->removing = true;
		node_remove_child(m->dir, "remove");
		while (m->attached)
			pthread_cond_wait(&s->cond, &s->lock);
	}
	mdev_destroy(s, m);
	return 0;
}

static const struct attr mdev_attrs[] = {
	{ "uevent", 0644, mdev_uevent_show, mdev_uevent_store },
	{ "remove", 0200, NULL, mdev_remove_store },
	{ "assign_adapter", 0200, NULL, assign_adapter_store },
	{ "unassign_adapter", 0200, NULL, unassign_adapter_store },
	{ "assign_domain", 0200, NULL, assign_domain_store },
	{ "unassign_domain", 0200, NULL, unassign_domain_store },
	{ "assign_control_domain", 0200, NULL, assign_control_store },
	{ "unassign_control_domain", 0200, NULL, unassign_control_store },
	{ "control_domains", 0444, mdev_control_show, NULL },
};

static const struct attr mdev_matrix_attr = { "matrix", 0444, mdev_matrix_show, NULL };
static const struct attr mdev_guest_matrix_attr = { "guest_matrix", 0444, mdev_guest_matrix_show, NULL };

/*
 * The mdev's vfio group device, /dev/vfio/N on a real host (.sim/vfio/N
 * here, README.md): the kernel lets one process open a group at a time, so
 * while a guest (QEMU) holds it, open() fails with EBUSY.
 */
int sim_vfio_group_open(struct sim *s, void *obj)
{
	const struct mdev *m = obj;

	(void)s;
	return m->attached ? -EBUSY : 0;
}

static const struct attr vfio_group_attr = { "vfio group", 0600, NULL, NULL };
static const struct attr mdev_ap_config_attr = { "ap_config", 0644, mdev_ap_config_show, mdev_ap_config_store };
static const struct attr mdev_rfc_attrs[] = {
	{ "adapters", 0444, mdev_adapters_show, NULL },
	{ "domains", 0444, mdev_domains_show, NULL },
};

struct mdev *sim_find_mdev(struct sim *s, const char *uuid)
{
	for (size_t i = 0; i < s->n_mdevs; i++)
		if (streq(s->mdevs[i]->uuid, uuid))
			return s->mdevs[i];
	return NULL;
}

static void mdev_create(struct sim *s, const char *uuid)
{
	struct mdev *m = xcalloc(1, sizeof(*m));
	struct node *md = matrix_dir(s), *td = type_dir(s);
	_cleanup_free_ char *mpath = node_path(md);
	_cleanup_free_ char *self = xasprintf("%s/%s", mpath, uuid);
	_cleanup_free_ char *drv = xasprintf("bus/mdev/drivers/%s", s->prof.mdev_drv);
	_cleanup_free_ char *grp = NULL;
	_cleanup_free_ char *grp_dir = NULL;
	_cleanup_free_ char *v = NULL;
	struct node *d;
	size_t at = 0;

	snprintf(m->uuid, sizeof(m->uuid), "%s", uuid);
	m->iommu_group = s->next_iommu_group++;
	/* keep s->mdevs sorted by UUID: dump and listings come out in order */
	while (at < s->n_mdevs && strcmp(s->mdevs[at]->uuid, uuid) < 0)
		at++;
	s->mdevs = xgrow(s->mdevs, &s->cap_mdevs, s->n_mdevs + 1, sizeof(*s->mdevs));
	memmove(s->mdevs + at + 1, s->mdevs + at, (s->n_mdevs - at) * sizeof(*s->mdevs));
	s->mdevs[at] = m;
	s->n_mdevs++;

	d = m->dir = node_mkdir(md, uuid);
	node_mkdir(d, "power");
	node_add_files(d, mdev_attrs, ARRAY_SIZE(mdev_attrs), m);
	if (s->prof.rfc)
		node_add_files(d, mdev_rfc_attrs, ARRAY_SIZE(mdev_rfc_attrs), m);
	else
		node_add_file(d, &mdev_matrix_attr, m);
	if (s->prof.dynamic)
		node_add_file(d, &mdev_guest_matrix_attr, m);
	if (s->prof.ap_config)
		node_add_file(d, &mdev_ap_config_attr, m);
	node_add_link(d, "subsystem", "bus/mdev");
	/* the mdev core links the type relative to the parent (kernel-abi.md §1) */
	{
		_cleanup_free_ char *t = xasprintf("../mdev_supported_types/%s", s->prof.type_name);
		node_add_link_raw(d, "mdev_type", t);
	}
	grp = xasprintf("kernel/iommu_groups/%u", m->iommu_group);
	grp_dir = xasprintf("%s/devices", grp);
	node_add_link(node_mkdir(s->root, grp_dir), uuid, self);
	node_add_link(d, "iommu_group", grp);
	node_add_file_as(node_mkdir(s->root, ".sim/vfio"), strrchr(grp, '/') + 1, &vfio_group_attr, m);
	{
		_cleanup_free_ char *t = xasprintf("../../../%s", uuid);
		node_add_link_raw(node_lookup(td, "devices"), uuid, t);
	}
	node_add_link(node_mkdir(s->root, "bus/mdev/devices"), uuid, self);
	emit(s, "add", d, "mdev", NULL, "");
	node_add_link(d, "driver", drv);
	node_add_link(node_lookup(s->root, drv), uuid, self);
	v = mdev_vars(s, m);
	emit(s, "bind", d, "mdev", NULL, v);
}

static void mdev_destroy(struct sim *s, struct mdev *m)
{
	_cleanup_free_ char *drv = xasprintf("bus/mdev/drivers/%s", s->prof.mdev_drv);
	_cleanup_free_ char *grp = xasprintf("kernel/iommu_groups/%u", m->iommu_group);
	size_t i;

	node_remove_child(node_lookup(s->root, drv), m->uuid);
	node_remove_child(m->dir, "driver");
	emit(s, "unbind", m->dir, "mdev", NULL, "");
	emit(s, "remove", m->dir, "mdev", NULL, "");
	node_remove_child(node_lookup(s->root, "bus/mdev/devices"), m->uuid);
	node_remove_child(node_lookup(type_dir(s), "devices"), m->uuid);
	node_remove_child(node_lookup(s->root, "kernel/iommu_groups"), strrchr(grp, '/') + 1);
	node_remove_child(node_lookup(s->root, ".sim/vfio"), strrchr(grp, '/') + 1);
	node_remove_child(m->dir->parent, m->uuid);
	for (i = 0; i < s->n_mdevs && s->mdevs[i] != m; i++)
		;
	memmove(s->mdevs + i, s->mdevs + i + 1, (s->n_mdevs - i - 1) * sizeof(*s->mdevs));
	s->n_mdevs--;
	free(m);
}

/* ---- building the tree --------------------------------------------------- */

static void add_driver_dir(struct sim *s, enum drv d, const char *module)
{
	_cleanup_free_ char *p = xasprintf("bus/ap/drivers/%s", drv_name(s, d));
	_cleanup_free_ char *mod = xasprintf("module/%s", module);
	struct node *dir = node_mkdir(s->root, p);

	for (size_t i = 0; i < ARRAY_SIZE(drv_attrs); i++)
		node_add_file(dir, &drv_attrs[i], (void *)(uintptr_t)d);
	node_mkdir(s->root, mod);
	node_add_link(dir, "module", mod);
}

static void add_bus(struct sim *s, const char *bus)
{
	_cleanup_free_ char *p = xasprintf("bus/%s", bus);
	struct node *dir = node_mkdir(s->root, p);

	for (size_t i = 0; i < ARRAY_SIZE(generic_bus_attrs); i++)
		node_add_file(dir, &generic_bus_attrs[i], (void *)bus);
	node_mkdir(dir, "devices");
	node_mkdir(dir, "drivers");
}

static struct queue *queue_add(struct sim *s, struct card *c, unsigned d)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	char name[16];

	q->card = c;
	q->dom = d;
	q->online = true;
	c->queues[d] = q;
	snprintf(name, sizeof(name), "%02x.%04x", c->id, d);
	q->dir = node_mkdir(c->dir, name);
	node_mkdir(q->dir, "power");
	node_add_files(q->dir, queue_attrs, ARRAY_SIZE(queue_attrs), q);
	if (s->prof.driver_override)
		node_add_file(q->dir, &queue_override_attr, q);
	node_add_link(q->dir, "subsystem", "bus/ap");
	{
		_cleanup_free_ char *to = xasprintf("devices/ap/card%02x/%s", c->id, name);
		node_add_link(node_lookup(s->root, "bus/ap/devices"), name, to);
	}
	emit_queue(s, "add", q, NULL);
	return q;
}

static struct card *card_add(struct sim *s, const struct topo_card *tc)
{
	struct card *c = xcalloc(1, sizeof(*c));
	char name[16];
	_cleanup_free_ char *to = NULL;

	c->id = tc->id;
	snprintf(c->type, sizeof(c->type), "%s", tc->type);
	c->hwtype = tc->hwtype;
	c->mode = tc->mode;
	c->config = true;
	c->online = true;
	c->domains = tc->domains;
	s->cards[c->id] = c;
	snprintf(name, sizeof(name), "card%02x", c->id);
	c->dir = node_mkdir(ap_root(s), name);
	node_mkdir(c->dir, "power");
	node_add_files(c->dir, card_attrs, ARRAY_SIZE(card_attrs), c);
	node_add_link(c->dir, "subsystem", "bus/ap");
	to = xasprintf("devices/ap/%s", name);
	node_add_link(node_lookup(s->root, "bus/ap/devices"), name, to);
	emit_card(s, "add", c, NULL);
	if (s->autoprobe)
		card_bind(s, c, DRV_CEX4CARD);
	BITMAP_FOREACH(d, &c->domains) {
		struct queue *q = queue_add(s, c, (unsigned)d);
		if (s->autoprobe)
			queue_probe(s, q);
	}
	return c;
}

static void card_remove(struct sim *s, struct card *c)
{
	for (unsigned d = 0; d < 256; d++) {
		struct queue *q = c->queues[d];
		if (!q)
			continue;
		queue_unbind(s, q);
		emit_queue(s, "remove", q, NULL);
		node_remove_child(node_lookup(s->root, "bus/ap/devices"), q->dir->name);
		free(q->driver_override);
		free(q);
		c->queues[d] = NULL;
	}
	card_unbind(s, c);
	emit_card(s, "remove", c, NULL);
	node_remove_child(node_lookup(s->root, "bus/ap/devices"), c->dir->name);
	node_remove_child(c->dir->parent, c->dir->name);
	s->cards[c->id] = NULL;
	free(c);
}

static void recompute_qci(struct sim *s, const struct bitmap256 *extra_adm)
{
	struct bitmap256 aqm = { { 0 } };

	for (unsigned a = 0; a < 256; a++)
		if (s->cards[a])
			aqm = bitmap_or(&aqm, &s->cards[a]->domains);
	s->qci_aqm = aqm;
	s->qci_adm = bitmap_or(&aqm, extra_adm);
}

/* vfio_ap_init(): matrix device, AP queue driver, mdev parent (kernel-abi.md §1, §4.2) */
static void vfio_load(struct sim *s)
{
	const struct profile *p = &s->prof;
	_cleanup_free_ char *mpath = xasprintf("%s/matrix", p->matrix_root);
	_cleanup_free_ char *bus_drv = xasprintf("bus/%s/drivers/%s", p->matrix_bus, p->matrix_drv);
	_cleanup_free_ char *bus_dev = xasprintf("bus/%s/devices", p->matrix_bus);
	_cleanup_free_ char *bus = xasprintf("bus/%s", p->matrix_bus);
	_cleanup_free_ char *types = xasprintf("mdev_supported_types/%s", p->type_name);
	_cleanup_free_ char *mdrv = xasprintf("bus/mdev/drivers/%s", p->mdev_drv);
	_cleanup_free_ char *mod = xasprintf("module/%s", p->module);
	_cleanup_free_ char *v = NULL;
	const char *env[] = { "MDEV_STATE=registered", NULL };
	struct node *root, *md, *td, *dir;

	s->vfio_loaded = true;
	/* vfio_ap needs vfio, whose /dev/vfio (the container device) exists from then on */
	node_mkdir(s->root, ".sim/vfio");
	root = node_mkdir(s->root, p->matrix_root);
	node_mkdir(root, "power");
	{
		static const struct attr plain_uevent = { "uevent", 0644, root_uevent_show, store_ignore };
		node_add_file(root, &plain_uevent, NULL);
	}
	add_bus(s, p->matrix_bus);
	md = node_mkdir(s->root, mpath);
	node_mkdir(md, "power");
	node_add_files(md, matrix_attrs, ARRAY_SIZE(matrix_attrs), NULL);
	if (p->features)
		node_add_file(md, &matrix_features_attr, NULL);
	node_add_link(md, "subsystem", bus);
	node_add_link(node_mkdir(s->root, bus_dev), "matrix", mpath);
	emit(s, "add", md, p->matrix_bus, NULL, "");
	dir = node_mkdir(s->root, bus_drv);
	{
		/* suppress_bind_attrs: only uevent, no module link (kernel-abi.md §1) */
		static const struct attr drv_uevent = { "uevent", 0200, NULL, drv_uevent_store };
		node_add_file(dir, &drv_uevent, NULL);
	}
	node_add_link(dir, "matrix", mpath);
	node_add_link(md, "driver", bus_drv);
	v = matrix_vars(s);
	emit(s, "bind", md, p->matrix_bus, NULL, v);

	add_driver_dir(s, DRV_VFIO, p->module);
	FOREACH_QUEUE(s, q)
		queue_probe(s, q);

	add_bus(s, "mdev");
	dir = node_mkdir(s->root, mdrv);
	for (size_t i = 0; i < ARRAY_SIZE(mdev_drv_attrs); i++)
		node_add_file(dir, &mdev_drv_attrs[i], NULL);
	node_mkdir(s->root, mod);
	node_add_link(dir, "module", mod);
	td = node_mkdir(md, types);
	node_add_files(td, type_attrs, ARRAY_SIZE(type_attrs), NULL);
	node_mkdir(td, "devices");
	node_add_link(node_mkdir(s->root, "class/mdev_bus"), "matrix", mpath);
	emit(s, "change", md, p->matrix_bus, env, v);
}

int sim_modprobe(struct sim *s, const char *module)
{
	_cleanup_free_ char *m = strip_nl(module);

	if (streq(m, "zcrypt_cex4") || streq(m, "ap"))
		return 0;
	if (!streq(m, s->prof.module))
		return -ENOENT;
	if (s->vfio_loaded)
		return 0;
	vfio_load(s);
	sim_check_bindings(s);
	return 0;
}

int sim_hotplug(struct sim *s, const char *line)
{
	_cleanup_free_ char *l = strip_nl(line);
	_cleanup_free_ char *err = NULL;
	struct topo_card tc;
	struct bitmap256 old_apm, old_aqm;
	unsigned long id;
	int r;

	if (strncmp(l, "remove ", 7) == 0) {
		if (kstrtoul(l + 7, 0, &id) < 0 || id > 255 || !s->cards[id])
			return -ENODEV;
		old_apm = qci_apm(s);
		old_aqm = s->qci_aqm;
		card_remove(s, s->cards[id]);
		recompute_qci(s, &s->qci_adm);
		shadow_config_changed(s, &old_apm, &old_aqm);
		s->scans++;
		return 0;
	}
	r = topology_parse_card(l, s->max_apid, s->max_apqi, &tc, &err);
	if (r < 0)
		return r;
	if (s->cards[tc.id])
		return -EEXIST;
	old_apm = qci_apm(s);
	old_aqm = s->qci_aqm;
	/* ap_scan_bus(): a new adapter re-arms the completion (6.9 on) */
	if (bindings_rearmed_by_probe(s))
		s->bindings_complete = false;
	card_add(s, &tc);
	recompute_qci(s, &s->qci_adm);
	shadow_config_changed(s, &old_apm, &old_aqm);
	s->scans++;
	sim_check_bindings(s);
	return 0;
}

int sim_guest(struct sim *s, const char *cmd)
{
	_cleanup_free_ char *c = strip_nl(cmd);
	struct mdev *m;
	const char *uuid;
	bool attach;

	if (strncmp(c, "attach ", 7) == 0)
		attach = true;
	else if (strncmp(c, "detach ", 7) == 0)
		attach = false;
	else
		return -EINVAL;
	uuid = c + 7;
	m = sim_find_mdev(s, uuid);
	if (!m)
		return -ENOENT;
	m->attached = attach;
	pthread_cond_broadcast(&s->cond);
	return 0;
}

int sim_queue_state(struct sim *s, const char *cmd)
{
	_cleanup_free_ char *c = strip_nl(cmd);
	unsigned a, d;
	char tail;
	bool unusable;
	struct queue *q;

	if (strncmp(c, "unusable ", 9) == 0)
		unusable = true;
	else if (strncmp(c, "usable ", 7) == 0)
		unusable = false;
	else
		return -EINVAL;
	if (sscanf(c + (unusable ? 9 : 7), "%2x.%4x%c", &a, &d, &tail) != 2 || a > 255 || d > 255)
		return -EINVAL;
	q = find_queue(s, a, d);
	if (!q)
		return -ENODEV;
	q->unusable = unusable;
	return 0;
}

int sim_init(struct sim *s, const struct topology *t, char **ret_err)
{
	struct node *ap, *bus;
	const char *initscan[] = { "INITSCAN=done", NULL };
	int r;

	memset(s, 0, sizeof(*s));
	r = profile_init(&s->prof, t->profile);
	if (r < 0) {
		*ret_err = xasprintf("unknown kernel profile '%s' (5.15, 6.0, 6.10, 6.12, 6.19, rfc2017, ...)",
				     t->profile);
		return r;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->max_apid = t->max_adapter;
	s->max_apqi = t->max_domain;
	s->apmask = s->prof.masks ? t->apmask : bitmap_full();
	s->aqmask = s->prof.masks ? t->aqmask : bitmap_full();
	s->ap_domain = -1;
	s->config_time = 30;
	s->poll_timeout = 250000;
	s->autoprobe = true;
	s->root = node_new_root();

	/* AP bus, built in (no module link for the bus itself) */
	bus = node_mkdir(s->root, "bus/ap");
	node_add_files(bus, ap_bus_attrs, ARRAY_SIZE(ap_bus_attrs), NULL);
	if (s->prof.masks)
		node_add_files(bus, ap_bus_mask_attrs, ARRAY_SIZE(ap_bus_mask_attrs), NULL);
	if (s->prof.driver_override)
		node_add_file(bus, &ap_bus_count_attr, NULL);
	node_mkdir(bus, "devices");
	node_mkdir(bus, "drivers");
	add_driver_dir(s, DRV_CEX4CARD, "zcrypt_cex4");
	add_driver_dir(s, DRV_CEX4QUEUE, "zcrypt_cex4");
	ap = node_mkdir(s->root, "devices/ap");
	node_mkdir(ap, "power");
	node_add_files(ap, ap_root_attrs, ARRAY_SIZE(ap_root_attrs), NULL);
	node_mkdir(s->root, "class");
	node_mkdir(s->root, "kernel/iommu_groups");
	node_add_files(node_mkdir(s->root, "kernel"), kernel_attrs, ARRAY_SIZE(kernel_attrs), NULL);

	for (size_t i = 0; i < t->n_cards; i++)
		card_add(s, &t->cards[i]);
	recompute_qci(s, &t->control_domains);
	for (unsigned a = 0; a < 256 && s->ap_domain < 0; a++)
		if (s->cards[a])
			s->ap_domain = bitmap_next(&s->cards[a]->domains, 0);
	s->scans = 1;
	if (s->prof.bindings)
		emit_ap_root(s, initscan);
	/* the first scan's check, in both eras */
	if (s->prof.bindings && !bindings_rearmed_by_probe(s) && all_queues_bound(s))
		send_bindings_complete(s);
	sim_check_bindings(s);
	if (t->vfio_loaded) {
		vfio_load(s);
		sim_check_bindings(s);
	}
	return 0;
}

void sim_done(struct sim *s)
{
	while (s->n_mdevs)
		mdev_destroy(s, s->mdevs[0]);
	for (unsigned a = 0; a < 256; a++) {
		struct card *c = s->cards[a];
		if (!c)
			continue;
		for (unsigned d = 0; d < 256; d++) {
			if (c->queues[d])
				free(c->queues[d]->driver_override);
			free(c->queues[d]);
		}
		free(c);
	}
	free(s->mdevs);
	node_free(s->root);
	free(s->writes);
	free(s->uevents);
	for (size_t i = 0; i < s->n_faults; i++)
		free(s->faults[i].glob);
	free(s->faults);
}

/* ---- dump (format in README.md) ------------------------------------------ */

char *sim_dump(struct sim *s)
{
	char *out = NULL;
	size_t len = 0, cap = 0;
	char k[BITMAP_KERNEL_LEN];
	unsigned total = 0, bound = 0;

#define P(...)                                                    \
	do {                                                      \
		_cleanup_free_ char *_l = xasprintf(__VA_ARGS__); \
		buf_append(&out, &len, &cap, _l, strlen(_l));     \
	} while (0)

	P("profile %s\n", s->prof.name);
	P("vfio_ap %s\n", s->vfio_loaded ? "loaded" : "unloaded");
	P("max_adapter 0x%02x\n", s->max_apid);
	P("max_domain 0x%02x\n", s->max_apqi);
	if (s->prof.masks) {
		bitmap_to_kernel(&s->apmask, k);
		P("apmask %s\n", k);
		bitmap_to_kernel(&s->aqmask, k);
		P("aqmask %s\n", k);
	} else {
		P("apmask -\naqmask -\n");
	}
	FOREACH_QUEUE(s, q) {
		total++;
		bound += q->drv != DRV_NONE;
	}
	P("bindings %u/%u%s\n", bound, total, bound == total ? " complete" : "");
	for (unsigned a = 0; a < 256; a++) {
		struct card *c = s->cards[a];
		if (!c)
			continue;
		P("card %02x %s %s %s%s\n", c->id, c->type, card_mode_to_string(c->mode),
		  c->drv ? drv_name(s, c->drv) : "-", c->config ? "" : " deconfigured");
		for (unsigned d = 0; d < 256; d++) {
			struct queue *q = c->queues[d];
			if (!q)
				continue;
			if (q->drv == DRV_VFIO && s->prof.queue_status)
				P("queue %02x.%04x %s %s%s\n", a, d, drv_name(s, q->drv), queue_status(s, q),
				  q->unusable ? " unusable" : "");
			else
				P("queue %02x.%04x %s%s\n", a, d, q->drv ? drv_name(s, q->drv) : "-",
				  q->unusable ? " unusable" : "");
		}
	}
	for (size_t i = 0; i < s->n_mdevs; i++) {
		struct mdev *m = s->mdevs[i];
		struct bitmap256 apm, aqm, adm;
		_cleanup_free_ char *ad = bitmap_format_ranges(&m->apm, 2);
		_cleanup_free_ char *dd = bitmap_format_ranges(&m->aqm, 4);
		_cleanup_free_ char *cd = bitmap_format_ranges(&m->adm, 4);
		_cleanup_free_ char *mx = format_matrix(&m->apm, &m->aqm, s->max_apid, s->max_apqi);
		_cleanup_free_ char *gm = NULL;
		_cleanup_free_ char *ga = NULL;

		guest_view(s, m, &apm, &aqm, &adm);
		gm = format_matrix(&apm, &aqm, s->max_apid, s->max_apqi);
		ga = bitmap_format_ranges(&adm, 4);
		for (char *p = mx; *p; p++)
			if (*p == '\n')
				*p = p[1] ? ' ' : '\0';
		for (char *p = gm; *p; p++)
			if (*p == '\n')
				*p = p[1] ? ' ' : '\0';
		P("mdev %s %s%s\n", m->uuid, m->attached ? "attached" : "detached", m->removing ? " removing" : "");
		P("  adapters %s\n", ad);
		P("  domains %s\n", dd);
		P("  control_domains %s\n", cd);
		P("  matrix %s\n", *mx ? mx : "-");
		P("  guest_matrix %s\n", *gm ? gm : "-");
		P("  guest_control_domains %s\n", ga);
	}
#undef P
	return out;
}
