/* SPDX-License-Identifier: MIT */
/*
 * live.c: the host as it is.  Everything is read through sysfs.c, with as
 * few look-ups as the facts allow: the devices and their drivers from the
 * drivers' device lists (bus/ap/devices too when bus/ap/bindings does not
 * vouch that those lists hold every queue), a queue's `status` only where
 * it tells whether a guest runs (bench/RESULTS.md).
 *
 * Profile and features come from files (DESIGN §6, kernel-abi.md §5):
 *   devices/ap_matrix/matrix                 -> rfc2017
 *   guest_matrix in an mdev, "guest_matrix" in matrix/features, ap_config in
 *   an mdev or driver_override on a queue    -> dynamic (6.0+)
 *   otherwise                                -> static (before 6.0)
 * A 6.0 - 6.11 host without any mdev looks exactly like a static one; the
 * static profile is the careful choice (it only adds ordering constraints,
 * and the plan does not refuse absent queues while profile_certain is
 * false), and the next read after the first create sees guest_matrix.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "live.h"
#include "log.h"
#include "macro.h"
#include "owner.h"
#include "sysfs.h"

static const char *const profile_table[_PROFILE_MAX] = {
	[PROFILE_NONE] = "none",
	[PROFILE_STATIC] = "static",
	[PROFILE_DYNAMIC] = "dynamic",
	[PROFILE_RFC2017] = "rfc2017",
};

static const char *const queue_driver_table[_QUEUE_DRIVER_MAX] = {
	[QUEUE_DRIVER_NONE] = "none",
	[QUEUE_DRIVER_HOST] = "host",
	[QUEUE_DRIVER_VFIO] = "vfio",
	[QUEUE_DRIVER_OTHER] = "other",
};

static const char *const queue_status_table[_QUEUE_STATUS_MAX] = {
	[QUEUE_STATUS_UNKNOWN] = "unknown",
	[QUEUE_STATUS_UNASSIGNED] = "unassigned",
	[QUEUE_STATUS_ASSIGNED] = "assigned",
	[QUEUE_STATUS_IN_USE] = "in use",
};

const char *kernel_profile_to_string(enum kernel_profile p)
{
	return p >= 0 && p < _PROFILE_MAX ? profile_table[p] : NULL;
}

void live_print_interface(FILE *f, const struct live *l)
{
	if (l->profile_certain)
		fprintf(f, "%s kernel interface", kernel_profile_to_string(l->profile));
	else
		fputs("mainline kernel interface (static or dynamic: no mdev yet to tell)", f);
}

const char *live_lacks_ap_config(const struct live *l, bool *ret_unsure)
{
	*ret_unsure = false;
	if ((l->features & FEATURE_AP_CONFIG) || (l->profile != PROFILE_STATIC && l->profile != PROFILE_DYNAMIC))
		return NULL;
	if (!l->profile_certain) {
		*ret_unsure = true;
		return NULL;
	}
	return l->profile == PROFILE_STATIC ? "static kernel interface, before 6.0"
					    : "dynamic kernel interface, before 6.10";
}

const char *queue_driver_to_string(enum queue_driver d)
{
	return d < _QUEUE_DRIVER_MAX ? queue_driver_table[d] : NULL;
}

const char *queue_status_to_string(enum queue_status s)
{
	return s < _QUEUE_STATUS_MAX ? queue_status_table[s] : NULL;
}

/* Everything live_read() carries around while it reads. */
struct reader {
	struct sysfs *s;
	struct live *l;
	struct diag_list *diags;
	size_t cap_cards, cap_queues, cap_mdevs;
	/* what the listings found; cards and queues are then made in this order */
	struct bitmap256 seen_queues[256];
	struct bitmap256 seen_cards;
	/* per APQN, 1 + the index in live.driver_names of the driver it is bound to */
	unsigned char (*bound_to)[256];
	/* bus/ap/bindings: "(complete)", and how many queues there are (its M of "N/M") */
	bool all_bound;
	unsigned n_queues_said;
	int has_override; /* -1: not probed yet; queues carry driver_override (6.19+) or none do */
	unsigned flags;   /* enum live_read_flags */
	/* mdev files are a property of the kernel: one mdev tells for all */
	bool probed_ap_config, probed_guest_matrix;
	bool to_log; /* a read on demand: warnings go to the log, not to diags */
};

static void warn(struct reader *rd, const char *fmt, ...) _printf_(2, 3);
static void warn(struct reader *rd, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	if (!rd->diags && !rd->to_log)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (rd->to_log)
		log_warning("%s", msg ? msg : "(out of memory)");
	else
		diag_add(rd->diags, DIAG_WARNING, NULL, NULL, "%s", msg ? msg : "(out of memory)");
}

static void warn_read(struct reader *rd, const char *path, int r)
{
	warn(rd, "cannot read %s/%s: %s", sysfs_root(rd->s), path, strerror(-r));
}

/*
 * A read the ownership records depend on failed: the read is incomplete
 * (live.incomplete_errno); the first failure is kept for the message.
 */
static void incomplete(struct reader *rd, const char *path, int r)
{
	if (rd->l->incomplete_errno)
		return;
	rd->l->incomplete_errno = -r;
	rd->l->incomplete_path = xstrdup(path);
}

/* An mdev's assignment not read: a file missing from an mdev that is there is warned about */
static void mdev_unread(struct reader *rd, const char *path, int r)
{
	if (r == -ENOENT)
		warn_read(rd, path, r);
	else
		incomplete(rd, path, r);
}

/*
 * Read an optional attribute: 0 and *ret set when present, -ENOENT when
 * absent (silently), other errors become a warning.
 */
static int read_opt(struct reader *rd, const char *path, char **ret)
{
	int r = sysfs_read_line(rd->s, path, ret);

	if (r < 0 && r != -ENOENT)
		warn_read(rd, path, r);
	return r;
}

/* Decimal "%d" attribute. */
static int parse_int(const char *s, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	while (*end == ' ' || *end == '\n')
		end++;
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* One hex number (optionally 0x-prefixed, as the rfc2017 listings may be). */
static int parse_hex_id(const char *s, unsigned *ret)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	return parse_hex_digits(s, strlen(s), 255, ret);
}

static bool word_in_list(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; *p;) {
		size_t k = strcspn(p, " \t\n");

		if (k == n && strncmp(p, word, n) == 0)
			return true;
		p += k;
		p += strspn(p, " \t\n");
	}
	return false;
}

/* ---- AP bus ------------------------------------------------------------ */

static void read_max_id(struct reader *rd, const char *path, unsigned dflt, unsigned *ret)
{
	_cleanup_free_ char *v = NULL;
	long n;

	*ret = dflt;
	if (read_opt(rd, path, &v) < 0)
		return; /* older kernels: no APXA, the fixed limits apply */
	if (parse_int(v, &n) < 0 || n < 0 || n > 255) {
		warn(rd, "%s/%s: unexpected value '%s', assuming %u", sysfs_root(rd->s), path, v, dflt);
		return;
	}
	*ret = (unsigned)n;
}

static int read_mask(struct reader *rd, const char *path, struct bitmap256 *ret)
{
	_cleanup_free_ char *v = NULL;
	int r;

	r = read_opt(rd, path, &v);
	if (r < 0)
		return r;
	r = bitmap_from_kernel(v, ret);
	if (r < 0)
		warn(rd, "%s/%s: malformed mask '%s'", sysfs_root(rd->s), path, v);
	return r;
}

static void read_bus(struct reader *rd)
{
	struct live *l = rd->l;
	struct bitmap256 ap, aq, cfg[3];
	static const char *const qci[3] = { "bus/ap/ap_adapter_mask", "bus/ap/ap_usage_domain_mask",
					    "bus/ap/ap_control_domain_mask" };
	_cleanup_free_ char *v = NULL;
	bool ok = true;

	read_max_id(rd, "bus/ap/ap_max_adapter_id", 63, &l->max_adapter);
	read_max_id(rd, "bus/ap/ap_max_domain_id", 15, &l->max_domain);

	if (read_mask(rd, SYSFS_APMASK, &ap) == 0 && read_mask(rd, SYSFS_AQMASK, &aq) == 0) {
		l->apmask = ap;
		l->aqmask = aq;
		l->features |= FEATURE_MASKS;
	}

	/* QCI view of the LPAR: "not supported" without QCI (kernel-abi.md §2.1) */
	for (int i = 0; i < 3; i++) {
		_cleanup_free_ char *m = NULL;

		cfg[i] = (struct bitmap256){ { 0 } };
		if (read_opt(rd, qci[i], &m) < 0 || streq(m, "not supported")) {
			ok = false;
			continue;
		}
		if (bitmap_from_kernel(m, &cfg[i]) < 0) {
			warn(rd, "%s/%s: malformed mask '%s'", sysfs_root(rd->s), qci[i], m);
			ok = false;
		}
	}
	if (ok) {
		l->has_qci = true;
		l->cfg_adapters = cfg[0];
		l->cfg_domains = cfg[1];
		l->cfg_control_domains = cfg[2];
	}

	/* "N/M" or "N/M (complete)"; before ~5.10 there is no such file */
	if (read_opt(rd, "bus/ap/bindings", &v) < 0)
		l->bindings_complete = true;
	else {
		unsigned bound, all;

		l->bindings_complete = strstr(v, "(complete)") != NULL;
		if (sscanf(v, "%u/%u", &bound, &all) == 2 && bound == all) {
			rd->all_bound = l->bindings_complete;
			rd->n_queues_said = all;
		}
	}
}

/* ---- cards and queues -------------------------------------------------- */

/* "card05": adapter 0x05 */
static bool parse_card_name(const char *name, unsigned *ret)
{
	return strlen(name) == 6 && strncmp(name, "card", 4) == 0 && parse_hex_digits(name + 4, 2, 0xff, ret) == 0;
}

/* "05.0047": adapter 0x05, domain 0x47 (by hand: thousands of names on a large LPAR). */
static bool parse_queue_name(const char *name, unsigned *ret_a, unsigned *ret_d)
{
	unsigned a, d;

	if (strlen(name) != 7 || name[2] != '.' || parse_hex_digits(name, 2, 0xff, &a) < 0 ||
	    parse_hex_digits(name + 3, 4, 0xff, &d) < 0)
		return false;
	*ret_a = a;
	*ret_d = d;
	return true;
}

/* MODE=... from a device's uevent file. */
static char *uevent_value(struct reader *rd, const char *dev, const char *key)
{
	_cleanup_free_ char *path = xasprintf("%s/uevent", dev), *text = NULL;
	size_t n = strlen(key);

	if (sysfs_read_attr(rd->s, path, &text) < 0)
		return NULL;
	for (char *line = text; *line;) {
		size_t k = strcspn(line, "\n");

		if (k > n && strncmp(line, key, n) == 0 && line[n] == '=')
			return strndup(line + n + 1, k - n - 1);
		line += k;
		if (*line)
			line++;
	}
	return NULL;
}

/* A card's type and mode: `type` exists while cex4card is bound, MODE (uevent) since 5.x. */
static void read_card_details(struct reader *rd, struct live_card *c)
{
	_cleanup_free_ char *dev = xasprintf("%s/card%02x", SYSFS_AP_DEVICES, c->id);
	_cleanup_free_ char *p_type = xasprintf("%s/type", dev);
	char *type = NULL;

	if (read_opt(rd, p_type, &type) == 0 && *type)
		c->type = type;
	else
		free(type);
	c->mode = uevent_value(rd, dev, "MODE");
	c->details_read = true;
}

static void add_card(struct reader *rd, unsigned id)
{
	struct live *l = rd->l;
	struct live_card *c;

	l->cards = xgrow(l->cards, &rd->cap_cards, l->n_cards + 1, sizeof(*l->cards));
	c = &l->cards[l->n_cards++];
	*c = (struct live_card){ .id = id };
	/* drawn by show and status; apply reads them on demand (live_card_details()) */
	if (rd->flags & LIVE_READ_DETAILS)
		read_card_details(rd, c);
}

static enum queue_driver classify_driver(const struct live *l, const char *name)
{
	size_t n;

	if (!name)
		return QUEUE_DRIVER_NONE;
	if (l->vfio_driver && streq(name, l->vfio_driver))
		return QUEUE_DRIVER_VFIO;
	/* the default zcrypt queue drivers: cex2aqueue, cex2cqueue, cex4queue */
	n = strlen(name);
	if (n > 8 && strncmp(name, "cex", 3) == 0 && streq(name + n - 5, "queue"))
		return QUEUE_DRIVER_HOST;
	return QUEUE_DRIVER_OTHER;
}

/* The driver name kept in l->driver_names (taking name), each name once. */
static const char *intern_driver(struct live *l, char *name)
{
	for (size_t i = 0; i < l->n_driver_names; i++)
		if (streq(l->driver_names[i], name)) {
			free(name);
			return l->driver_names[i];
		}
	l->driver_names = xrealloc(l->driver_names, (l->n_driver_names + 1) * sizeof(*l->driver_names));
	l->driver_names[l->n_driver_names++] = name;
	return name;
}

static void add_queue(struct reader *rd, unsigned a, unsigned d)
{
	struct live *l = rd->l;
	struct live_queue *q;
	_cleanup_free_ char *override = NULL, *dev = NULL; /* devices/ap/cardNN/NN.DDDD, when needed */
	unsigned k;

	l->queues = xgrow(l->queues, &rd->cap_queues, l->n_queues + 1, sizeof(*l->queues));
	q = &l->queues[l->n_queues++];
	q->adapter = a;
	q->domain = d;

	/*
	 * The driver comes from the drivers' device lists (read_queue_drivers);
	 * a queue none of them lists (unbound) is asked through its own link.
	 */
	k = rd->bound_to ? rd->bound_to[a][d] : 0;
	if (k)
		q->driver = l->driver_names[k - 1];
	else {
		_cleanup_free_ char *p_driver = NULL;
		char *driver = NULL;
		int r;

		dev = sysfs_path_queue(a, d);
		p_driver = xasprintf("%s/driver", dev);
		r = sysfs_read_link_name(rd->s, p_driver, &driver);
		if (r < 0 && r != -ENOENT)
			warn_read(rd, p_driver, r);
		q->driver = r < 0 ? NULL : intern_driver(l, driver);
	}
	q->kind = classify_driver(l, q->driver);
	/* `status` is read per mdev, where it tells a running guest (mark_in_use) */
	q->status = QUEUE_STATUS_UNKNOWN;

	/*
	 * driver_override is a property of the kernel (6.19+): all queues have
	 * it or none has, so one absent file saves the look-up on every queue.
	 */
	if (rd->has_override != 0) {
		_cleanup_free_ char *p_override = NULL;
		int r;

		if (!dev)
			dev = sysfs_path_queue(a, d);
		p_override = xasprintf("%s/driver_override", dev);
		r = read_opt(rd, p_override, &override);

		if (rd->has_override < 0)
			rd->has_override = r != -ENOENT;
		if (r == 0) {
			l->features |= FEATURE_DRIVER_OVERRIDE;
			/* "(null)": the generic driver-core show of an unset override */
			if (*override && !streq(override, "(null)")) {
				q->driver_override = TAKE_PTR(override);
				l->driver_override_in_use = true;
			}
		}
	}
}

/*
 * A card or a queue by its name in a listing (a queue implies its card);
 * true for a queue, whose adapter and domain are then in *ret_a, *ret_d.
 */
static bool note_name(struct reader *rd, const char *name, unsigned *ret_a, unsigned *ret_d)
{
	if (parse_card_name(name, ret_a)) {
		bitmap_set(&rd->seen_cards, *ret_a);
		return false;
	}
	if (!parse_queue_name(name, ret_a, ret_d))
		return false;
	bitmap_set(&rd->seen_cards, *ret_a);
	bitmap_set(&rd->seen_queues[*ret_a], *ret_d);
	return true;
}

/*
 * Which driver each queue is bound to, from the device links in
 * bus/ap/drivers/<driver>/ (the same fact as each queue's `driver` link,
 * kernel-abi.md §1): a few directory reads instead of one look-up per queue.
 */
struct driver_listing {
	struct reader *rd;
	unsigned char index; /* 1 + the driver's index in live.driver_names */
};

/* A device in a driver's list: that it exists, and what it is bound to. */
static void note_bound(const char *name, void *userdata)
{
	struct driver_listing *dl = userdata;
	unsigned a, d;

	if (note_name(dl->rd, name, &a, &d))
		dl->rd->bound_to[a][d] = dl->index;
}

static void read_queue_drivers(struct reader *rd)
{
	char **names = NULL;
	size_t n = 0;
	int r;

	r = sysfs_list_dir(rd->s, "bus/ap/drivers", &names);
	if (r < 0) {
		if (r != -ENOENT)
			warn_read(rd, "bus/ap/drivers", r);
		return;
	}
	rd->bound_to = xcalloc(256, sizeof(*rd->bound_to));
	/* the names go to live.driver_names: bound_to indexes them */
	for (char **drv = names; *drv; drv++)
		rd->l->n_driver_names++;
	rd->l->driver_names = names;
	for (char **drv = names; *drv && n < 255; drv++, n++) {
		_cleanup_free_ char *dir = xasprintf("bus/ap/drivers/%s", *drv);
		struct driver_listing dl = { rd, (unsigned char)(n + 1) };

		r = sysfs_foreach_entry(rd->s, dir, note_bound, &dl);
		if (r < 0) {
			warn_read(rd, dir, r);
			rd->all_bound = false; /* a list not read: the devices are listed whole */
		}
	}
}

/* An entry of bus/ap/devices. */
static void note_device(const char *name, void *userdata)
{
	unsigned a, d;

	(void)note_name(userdata, name, &a, &d);
}

struct card_listing {
	struct reader *rd;
	unsigned adapter;
};

/* NN.DDDD below cardNN: only this card's queues. */
static void note_card_queue(const char *name, void *userdata)
{
	struct card_listing *cl = userdata;
	unsigned a, d;

	if (parse_queue_name(name, &a, &d) && a == cl->adapter)
		bitmap_set(&cl->rd->seen_queues[a], d);
}

/* devices/ap/cardNN/NN.DDDD, one listing per card. */
static void walk_ap_devices(struct reader *rd)
{
	char **cards = NULL;
	int r;

	r = sysfs_list_dir(rd->s, SYSFS_AP_DEVICES, &cards);
	if (r < 0) {
		if (r != -ENOENT)
			incomplete(rd, SYSFS_AP_DEVICES, r);
		return;
	}
	for (char **c = cards; *c; c++) {
		_cleanup_free_ char *dev = NULL;
		struct card_listing cl = { rd, 0 };

		if (!parse_card_name(*c, &cl.adapter))
			continue;
		bitmap_set(&rd->seen_cards, cl.adapter);
		dev = xasprintf("%s/%s", SYSFS_AP_DEVICES, *c);
		r = sysfs_foreach_entry(rd->s, dev, note_card_queue, &cl);
		if (r < 0 && r != -ENOENT) /* ENOENT: the card went meanwhile */
			incomplete(rd, dev, r);
	}
	strv_free(cards);
}

/*
 * The drivers' lists name every bound card and queue.  When bus/ap/bindings
 * says "N/N (complete)" every queue is bound (kernel-abi.md §2.1), and when
 * the lists hold those N queues they are all the listing needed (a card
 * without queues, unbound, would be missed: it offers nothing to assign).
 * Otherwise every card and queue from one listing: bus/ap/devices links to
 * them all (kernel-abi.md §1), where walking devices/ap costs one listing
 * per card; without that directory, the walk.  The listings only note what
 * exists; the cards and queues are then made in order (no sort of
 * thousands).
 */
static unsigned count_seen_queues(const struct reader *rd)
{
	unsigned n = 0;

	for (unsigned a = 0; a < 256; a++)
		n += bitmap_count(&rd->seen_queues[a]);
	return n;
}

static void read_ap_devices(struct reader *rd)
{
	unsigned listed;
	int r;

	/*
	 * The directories are listed directly: a libudev enumeration costs
	 * several look-ups per device (thousands on a large LPAR) to learn the
	 * same names (bench/RESULTS.md).
	 */
	read_queue_drivers(rd);
	listed = count_seen_queues(rd);
	r = rd->all_bound && listed == rd->n_queues_said ? 0 :
	    sysfs_foreach_entry(rd->s, SYSFS_AP_BUS_DEVICES, note_device, rd);
	if (r < 0) {
		if (r != -ENOENT)
			warn_read(rd, SYSFS_AP_BUS_DEVICES, r);
		walk_ap_devices(rd);
	}
	BITMAP_FOREACH(a, &rd->seen_cards)
		add_card(rd, a);
	/* one allocation for them all (5,440 queues on a 64 x 85 LPAR); the listing may have added some */
	listed = count_seen_queues(rd);
	if (rd->l->n_queues + listed > rd->cap_queues) {
		struct live *l = rd->l;

		l->queues = xrealloc(l->queues, (l->n_queues + listed) * sizeof(*l->queues));
		memset(l->queues + rd->cap_queues, 0, (l->n_queues + listed - rd->cap_queues) * sizeof(*l->queues));
		rd->cap_queues = l->n_queues + listed;
	}
	for (unsigned a = 0; a < 256; a++)
		BITMAP_FOREACH(d, &rd->seen_queues[a])
			add_queue(rd, a, d);
}

static int card_cmp(const void *a, const void *b)
{
	const struct live_card *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static int queue_key(const struct live_queue *q)
{
	return (int)(q->adapter << 8 | q->domain);
}

static int queue_cmp(const void *a, const void *b)
{
	return queue_key(a) - queue_key(b);
}

/* ---- the matrix device and its mdevs ----------------------------------- */

static bool uuid_ok(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/*
 * Read an attribute of one value per line and hand each non-empty line to
 * parse(); a line it refuses (< 0) is warned about and skipped.
 */
static int read_lines(struct reader *rd, const char *path, int (*parse)(const char *line, void *data), void *data)
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = sysfs_read_attr(rd->s, path, &text);
	if (r < 0)
		return r;
	for (char *line = text; *line;) {
		size_t k = strcspn(line, "\n");
		char save = line[k];

		line[k] = '\0';
		if (k && parse(line, data) < 0)
			warn(rd, "%s/%s: unexpected line '%s'", sysfs_root(rd->s), path, line);
		line[k] = save;
		line += k;
		if (*line)
			line++;
	}
	return 0;
}

static int parse_matrix_line(const char *line, void *m)
{
	return matrix_parse_kernel_line(line, m);
}

/* `matrix` / `guest_matrix`: one "aa.dddd", "aa." or ".dddd" per line. */
static int read_matrix_file(struct reader *rd, const char *path, struct apqn_matrix *m)
{
	return read_lines(rd, path, parse_matrix_line, m);
}

static int parse_id_line(const char *line, void *b)
{
	unsigned id;

	if (parse_hex_id(line, &id) != 0)
		return -EINVAL;
	bitmap_set(b, id);
	return 0;
}

/*
 * One number per line into a bitmap: "%04x" for control_domains on
 * mainline, hex (with or without 0x) on rfc2017.
 */
static int read_id_list(struct reader *rd, const char *path, struct bitmap256 *b)
{
	return read_lines(rd, path, parse_id_line, b);
}

/*
 * `ap_config`: "0x<64 hex>,0x<64 hex>,0x<64 hex>\n", adapters, usage domains,
 * control domains (kernel-abi.md §2.5).
 */
static int read_ap_config(struct reader *rd, const char *path, struct apqn_matrix *m)
{
	_cleanup_free_ char *text = NULL;
	struct bitmap256 *dst[3] = { &m->adapters, &m->domains, &m->control_domains };
	const char *p;
	int r;

	r = sysfs_read_attr(rd->s, path, &text);
	if (r < 0)
		return r;
	text[strcspn(text, "\n")] = '\0'; /* the one line, for the fields and for a warning */
	p = text;
	for (int i = 0; i < 3; i++) {
		size_t k = strcspn(p, ",");
		char field[72];

		if (k >= sizeof(field) || (i < 2 && p[k] != ','))
			goto malformed;
		memcpy(field, p, k);
		field[k] = '\0';
		if (bitmap_from_kernel(field, dst[i]) < 0)
			goto malformed;
		p += k + (p[k] ? 1 : 0);
	}
	return 0;

malformed:
	warn(rd, "%s/%s: malformed ap_config '%s'", sysfs_root(rd->s), path, text);
	*m = (struct apqn_matrix){ 0 };
	return 0;
}

static void read_guest_matrix(struct reader *rd, struct live_mdev *m)
{
	struct live *l = rd->l;
	_cleanup_free_ char *p_gm = sysfs_path_mdev_attr(l->matrix_path, m->uuid, "guest_matrix");
	int r;

	if (m->guest_matrix_read)
		return;
	m->guest_matrix_read = true;
	r = read_matrix_file(rd, p_gm, &m->guest_matrix);
	if (r == 0) {
		m->has_guest_matrix = true;
		m->guest_matrix.control_domains = m->matrix.control_domains;
		l->features |= FEATURE_GUEST_MATRIX;
	} else if (r != -ENOENT) {
		warn_read(rd, p_gm, r);
	}
}

/*
 * After the first read of an mdev failed with r: is the mdev itself gone
 * (listed by its type but absent)?  Asked only then: a look-up of the
 * directory before every mdev's first read would be one more per mdev.
 */
static bool mdev_absent(struct reader *rd, const char *uuid, int r)
{
	_cleanup_free_ char *dir = NULL;

	if (r != -ENOENT)
		return false;
	dir = xasprintf("%s/%s", rd->l->matrix_path, uuid);
	r = sysfs_check_dir(rd->s, dir);
	if (r == 0)
		return false;
	if (r != -ENOENT && r != -ENOTDIR) { /* there or not, nothing tells: the mdev is kept */
		incomplete(rd, dir, r);
		return false;
	}
	warn(rd, "%s/%s: mdev listed by its type but absent, skipping", sysfs_root(rd->s), dir);
	rd->l->n_mdevs--;
	return true;
}

static void read_mdev(struct reader *rd, const char *uuid, const struct owner_db *owner)
{
	struct live *l = rd->l;
	struct live_mdev *m;
	const struct owner_mdev *om;
	_cleanup_free_ char *p_gm = NULL, *p_cfg = NULL;
	int r;

	l->mdevs = xgrow(l->mdevs, &rd->cap_mdevs, l->n_mdevs + 1, sizeof(*l->mdevs));
	m = &l->mdevs[l->n_mdevs++];
	*m = (struct live_mdev){ 0 }; /* the slot of an absent one may be taken again */
	for (int i = 0; i < 37; i++)
		m->uuid[i] = (char)tolower((unsigned char)uuid[i]);

	if (l->profile == PROFILE_RFC2017) {
		/* kernel-abi.md §6: adapters/domains/control_domains, hex, one per line */
		static const char *const files[3] = { "adapters", "domains", "control_domains" };
		struct bitmap256 *dst[3] = { &m->matrix.adapters, &m->matrix.domains,
					     &m->matrix.control_domains };

		for (int i = 0; i < 3; i++) {
			_cleanup_free_ char *p = sysfs_path_mdev_attr(l->matrix_path, m->uuid, files[i]);

			r = read_id_list(rd, p, dst[i]);
			if (i == 0 && mdev_absent(rd, uuid, r))
				return;
			if (r < 0)
				mdev_unread(rd, p, r);
		}
	} else if (l->features & FEATURE_AP_CONFIG) {
		/* the whole assignment in one read (6.10+) */
		p_cfg = sysfs_path_mdev_attr(l->matrix_path, m->uuid, "ap_config");
		r = read_ap_config(rd, p_cfg, &m->matrix);
		if (mdev_absent(rd, uuid, r))
			return;
		if (r < 0)
			mdev_unread(rd, p_cfg, r);
	} else {
		_cleanup_free_ char *p_m = sysfs_path_mdev_attr(l->matrix_path, m->uuid, "matrix");
		_cleanup_free_ char *p_cd = sysfs_path_mdev_attr(l->matrix_path, m->uuid, "control_domains");

		r = read_matrix_file(rd, p_m, &m->matrix);
		if (mdev_absent(rd, uuid, r))
			return;
		if (r < 0)
			mdev_unread(rd, p_m, r);
		r = read_id_list(rd, p_cd, &m->matrix.control_domains);
		if (r < 0)
			mdev_unread(rd, p_cd, r);
		/* 6.10 and 6.11 have ap_config without matrix/features */
		if (!rd->probed_ap_config) {
			rd->probed_ap_config = true;
			p_cfg = sysfs_path_mdev_attr(l->matrix_path, m->uuid, "ap_config");
			if (sysfs_exists(rd->s, p_cfg))
				l->features |= FEATURE_AP_CONFIG;
		}
	}
	/* 6.0 - 6.11: the file tells the dynamic model; read_mdev_details() reads it */
	if (l->profile != PROFILE_RFC2017 && !(l->features & FEATURE_GUEST_MATRIX) && !rd->probed_guest_matrix) {
		rd->probed_guest_matrix = true;
		p_gm = sysfs_path_mdev_attr(l->matrix_path, m->uuid, "guest_matrix");
		if (sysfs_exists(rd->s, p_gm))
			l->features |= FEATURE_GUEST_MATRIX;
	}

	if (owner) {
		m->kept_out = owner_kept_out(owner, m->uuid);
		om = owner_find_mdev(owner, m->uuid);
		if (om) {
			m->owned = true;
			m->owner_guest = xstrdup(om->guest);
		}
	}
}

/* UUIDs compare without case, as live_find_mdev() looks them up */
static int mdev_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct live_mdev *)a)->uuid, ((const struct live_mdev *)b)->uuid);
}

static void read_mdevs(struct reader *rd, const struct owner_db *owner)
{
	struct live *l = rd->l;
	_cleanup_free_ char *dir = xasprintf("%s/mdev_supported_types/%s/devices", l->matrix_path,
					     l->mdev_type);
	char **names = NULL;
	int r;

	r = sysfs_list_dir(rd->s, dir, &names);
	if (r < 0) {
		if (r != -ENOENT)
			incomplete(rd, dir, r);
		return;
	}
	for (char **n = names; *n; n++) {
		if (!uuid_ok(*n)) {
			warn(rd, "%s/%s/%s: not a UUID, skipping", sysfs_root(rd->s), dir, *n);
			continue;
		}
		read_mdev(rd, *n, owner);
	}
	strv_free(names);
	if (l->n_mdevs)
		qsort(l->mdevs, l->n_mdevs, sizeof(*l->mdevs), mdev_cmp);
}

/*
 * Whether a process (QEMU) holds the mdev's vfio group: the kernel lets one
 * open it at a time, so our open fails with EBUSY (DESIGN section 5).  For
 * mdevs whose queues cannot say it: kernels before 5.17 have no queue
 * `status`, and there writing `remove` to an mdev in use blocks until the
 * guest lets go (5.2+), so this must be known first; the rfc2017 interface
 * has no queue `status` at all, and a queue of a running guest's mdev must
 * not go back to the host driver.  The open is closed
 * at once; a guest started in that instant finds the group busy and can be
 * started again.  (A QEMU that uses the device's cdev and iommufd instead,
 * 6.6+, makes the group's open fail with EBUSY too, from VFIO_DEVICE_BIND_IOMMUFD
 * on: cdev_device_open_cnt; and those kernels have queue `status` anyway.)
 * 1 when held, 0 when free or when there is nothing to ask
 * (no vfio directory: another sysfs root; no group link: no driver bound),
 * -1 when the group device cannot be opened to ask (warned).
 */
static int vfio_group_busy(struct reader *rd, const struct live_mdev *m)
{
	const char *dir = sysfs_vfio_dir(rd->s);
	_cleanup_free_ char *link = NULL, *group = NULL, *dev = NULL;
	int fd;

	if (!dir)
		return 0;
	link = sysfs_path_mdev_attr(rd->l->matrix_path, m->uuid, "iommu_group");
	if (sysfs_read_link_name(rd->s, link, &group) < 0 || !group[0] || strspn(group, "0123456789") != strlen(group))
		return 0; /* no vfio group (no driver bound): nothing can hold it */
	dev = xasprintf("%s/%s", dir, group);
	/* the group's open() takes any access mode; reading is all we need */
	fd = open(dev, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0) {
		(void)close(fd);
		return 0;
	}
	if (errno == EBUSY)
		return 1;
	if (m->fresh) {
		/* apmatrix made it moments ago: nothing had it to hand to a guest */
		log_debug("%s: cannot tell whether a guest holds mdev %s (%s); created by this run, so free", dev,
			  m->uuid, strerror(errno));
		return 0;
	}
	/*
	 * The group exists (the kernel makes its device with the link), so
	 * ENOENT means a /dev without it (a sandbox: PrivateDevices=), EACCES or
	 * EPERM a user or device policy that may not open it.  Taking the mdev
	 * for free then could write `remove` to a running guest's mdev, which
	 * blocks until the guest stops (5.2 and later; before 5.17 nothing
	 * else tells).
	 */
	warn(rd, "%s: cannot tell whether a guest holds mdev %s (%s); taken as in use", dev, m->uuid,
	     strerror(errno));
	return -1;
}

/*
 * A running guest shows as `status` = "in use" on its vfio-bound queues
 * (5.17+), on every queue of its guest matrix alike (kernel-abi.md §2.3), so
 * one queue per mdev tells: the first of its guest matrix (6.0+), or of its
 * matrix on older kernels, that is bound to vfio.
 */
static struct live_queue *status_queue(struct live *l, const struct apqn_matrix *gm)
{
	struct live_queue *q = NULL;

	BITMAP_FOREACH(a, &gm->adapters) {
		BITMAP_FOREACH(d, &gm->domains) {
			struct live_queue *c = (struct live_queue *)live_find_queue(l, (unsigned)a, (unsigned)d);

			if (c && c->kind == QUEUE_DRIVER_VFIO) {
				q = c;
				break;
			}
		}
		if (q)
			break;
	}
	return q;
}

/* m->in_use and m->in_use_unknown, from queue q (status_queue()), else from the vfio group */
static void read_mdev_running(struct reader *rd, struct live_mdev *m, struct live_queue *q)
{

	if (q && q->status == QUEUE_STATUS_UNKNOWN) {
		_cleanup_free_ char *dev = sysfs_path_queue(q->adapter, q->domain);
		_cleanup_free_ char *p_status = xasprintf("%s/status", dev), *status = NULL;

		if (read_opt(rd, p_status, &status) == 0) {
			rd->l->features |= FEATURE_QUEUE_STATUS;
			if (streq(status, "in use"))
				q->status = QUEUE_STATUS_IN_USE;
			else if (streq(status, "assigned"))
				q->status = QUEUE_STATUS_ASSIGNED;
			else if (streq(status, "unassigned"))
				q->status = QUEUE_STATUS_UNASSIGNED;
			else
				warn(rd, "%s/%s: unknown status '%s'", sysfs_root(rd->s), p_status, status);
		}
	}
	/* a queue's status tells when there is one (5.17+); otherwise only the group can */
	if (q && q->status != QUEUE_STATUS_UNKNOWN)
		m->in_use = q->status == QUEUE_STATUS_IN_USE;
	else {
		int busy = vfio_group_busy(rd, m);

		m->in_use = busy != 0;
		m->in_use_unknown = busy < 0;
	}
}

static void read_mdev_details(struct reader *rd, struct live_mdev *m)
{
	if (m->details_read)
		return;
	m->details_read = true;
	if (rd->l->profile != PROFILE_RFC2017 && (rd->l->features & FEATURE_GUEST_MATRIX))
		read_guest_matrix(rd, m);
	read_mdev_running(rd, m, status_queue(rd->l, m->has_guest_matrix ? &m->guest_matrix : &m->matrix));
}

static void read_matrix_features(struct reader *rd)
{
	struct live *l = rd->l;
	_cleanup_free_ char *path = xasprintf("%s/features", l->matrix_path), *v = NULL;

	if (read_opt(rd, path, &v) < 0)
		return;
	/* a word list, not a fixed string (kernel-abi.md §2.4) */
	l->features |= FEATURE_MATRIX_FEATURES;
	if (word_in_list(v, "guest_matrix"))
		l->features |= FEATURE_GUEST_MATRIX;
	if (word_in_list(v, "ap_config"))
		l->features |= FEATURE_AP_CONFIG;
}

/* ---- public ------------------------------------------------------------ */

static int read_seqnum(struct sysfs *s, unsigned long long *ret)
{
	_cleanup_free_ char *v = NULL;
	int r = sysfs_read_line(s, SYSFS_UEVENT_SEQNUM, &v); /* without its newline */

	return r < 0 ? r : parse_decimal_ull(v, ret);
}

bool live_host_changed(const struct live *l)
{
	unsigned long long now;

	return l->has_seqnum && read_seqnum(l->sysfs, &now) == 0 && now != l->uevent_seqnum;
}

int live_read(struct sysfs *s, const struct owner_db *owner, unsigned flags, struct live **ret,
	      struct diag_list *diags)
{
	struct live *l = xcalloc(1, sizeof(*l));
	struct reader rd = { .s = s, .l = l, .diags = diags, .has_override = -1, .flags = flags };

	l->sysfs = s;
	/* before anything else: an event during the read moves it too */
	l->has_seqnum = read_seqnum(s, &l->uevent_seqnum) == 0;

	if (owner) {
		l->apmask_taken = owner->apmask_taken;
		l->aqmask_taken = owner->aqmask_taken;
		memcpy(l->queues_taken, owner->queues_taken, sizeof(l->queues_taken));
	}

	if (!sysfs_is_dir(s, SYSFS_AP_BUS)) {
		l->profile = PROFILE_NONE;
		*ret = l;
		return -ENODEV;
	}

	if (sysfs_is_dir(s, SYSFS_MATRIX_RFC2017)) {
		l->profile = PROFILE_RFC2017;
		l->matrix_path = SYSFS_MATRIX_RFC2017;
		l->mdev_type = SYSFS_TYPE_RFC2017;
		l->vfio_driver = SYSFS_VFIO_DRIVER_RFC2017;
		l->vfio_loaded = true;
	} else {
		l->profile = PROFILE_STATIC;
		l->matrix_path = SYSFS_MATRIX_MAINLINE;
		l->mdev_type = SYSFS_TYPE_MAINLINE;
		l->vfio_driver = SYSFS_VFIO_DRIVER_MAINLINE;
		l->vfio_loaded = sysfs_is_dir(s, SYSFS_MATRIX_MAINLINE);
	}

	read_bus(&rd);
	read_ap_devices(&rd);
	if (l->vfio_loaded) {
		if (l->profile != PROFILE_RFC2017)
			read_matrix_features(&rd);
		read_mdevs(&rd, owner);
	}
	if (flags & LIVE_READ_DETAILS)
		for (size_t i = 0; i < l->n_mdevs; i++)
			read_mdev_details(&rd, &l->mdevs[i]);
	free(rd.bound_to);

	if (l->profile == PROFILE_STATIC &&
	    (l->features & (FEATURE_GUEST_MATRIX | FEATURE_AP_CONFIG | FEATURE_DRIVER_OVERRIDE)))
		l->profile = PROFILE_DYNAMIC;
	l->profile_certain = l->profile == PROFILE_RFC2017 || l->n_mdevs > 0 ||
			     (l->features & (FEATURE_MATRIX_FEATURES | FEATURE_DRIVER_OVERRIDE));

	*ret = l;
	return 0;
}

struct live *live_free(struct live *l)
{
	if (!l)
		return NULL;
	for (size_t i = 0; i < l->n_cards; i++) {
		free(l->cards[i].type);
		free(l->cards[i].mode);
	}
	free(l->cards);
	for (size_t i = 0; i < l->n_queues; i++) {
		free(l->queues[i].driver_override);
	}
	free(l->queues);
	for (size_t i = 0; i < l->n_driver_names; i++)
		free(l->driver_names[i]);
	free(l->driver_names);
	for (size_t i = 0; i < l->n_mdevs; i++) {
		free(l->mdevs[i].owner_guest);
		free(l->mdevs[i].mdevctl_path);
	}
	free(l->mdevs);
	free(l->incomplete_path);
	free(l);
	return NULL;
}

bool live_mdev_in_use(const struct live *l, const struct live_mdev *m)
{
	if (!m->details_read) {
		/* a cache filled on demand: l and m are the caller's own objects */
		struct reader rd = { .s = l->sysfs, .l = (struct live *)l, .to_log = true };

		read_mdev_details(&rd, (struct live_mdev *)m);
	}
	return m->in_use;
}

bool live_mdev_in_use_now(const struct live *l, const struct live_mdev *m)
{
	struct reader rd = { .s = l->sysfs, .l = (struct live *)l, .to_log = true };
	struct live_mdev *w = (struct live_mdev *)m; /* a cache, as in live_mdev_in_use() */
	_cleanup_free_ char *p_m = sysfs_path_mdev_attr(l->matrix_path, m->uuid, "matrix");
	struct apqn_matrix now = {};
	struct live_queue *q = NULL;

	if (!m->details_read)
		return live_mdev_in_use(l, m); /* read now for the first time */
	/*
	 * A queue the mdev holds now: an earlier write of this run may have
	 * taken the one it was read from out of it, and that queue's status
	 * then says nothing about this mdev ("unassigned", or another mdev's).
	 * Without one (or its matrix), the vfio group tells.
	 */
	if (read_matrix_file(&rd, p_m, &now) == 0)
		q = status_queue(rd.l, &now);
	if (q)
		q->status = QUEUE_STATUS_UNKNOWN;
	w->in_use = w->in_use_unknown = false;
	read_mdev_running(&rd, w, q);
	return m->in_use;
}

const struct apqn_matrix *live_mdev_guest_view(const struct live *l, const struct live_mdev *m)
{
	if (!m->guest_matrix_read && !m->details_read && l->profile != PROFILE_RFC2017 &&
	    (l->features & FEATURE_GUEST_MATRIX)) {
		/* a cache filled on demand, as in live_mdev_in_use() */
		struct reader rd = { .s = l->sysfs, .l = (struct live *)l, .to_log = true };

		read_guest_matrix(&rd, (struct live_mdev *)m);
	}
	return m->has_guest_matrix ? &m->guest_matrix : NULL;
}

struct bitmap256 live_stale_adapters(const struct live *l, const struct live_mdev *m,
				     const struct apqn_matrix *matrix, const struct apqn_matrix *gm)
{
	struct bitmap256 out = { { 0 } };
	struct bitmap256 ad = bitmap_andnot(&matrix->adapters, &gm->adapters);

	ad = bitmap_andnot(&ad, &m->kept_out);
	struct bitmap256 dm = matrix->domains;

	/* 6.10+: apmatrix writes ap_config, which filters on every write */
	if (l->profile != PROFILE_DYNAMIC || (l->features & FEATURE_AP_CONFIG))
		return out;
	if (l->has_qci) {
		ad = bitmap_and(&ad, &l->cfg_adapters);
		dm = bitmap_and(&dm, &l->cfg_domains);
	}
	BITMAP_FOREACH(a, &ad) {
		bool passes = true;

		BITMAP_FOREACH(d, &dm) {
			const struct live_queue *q = live_find_queue(l, (unsigned)a, (unsigned)d);

			if (!q || q->kind != QUEUE_DRIVER_VFIO) {
				passes = false;
				break;
			}
		}
		if (passes)
			bitmap_set(&out, (unsigned)a);
	}
	return out;
}

void live_mark_fresh(struct live *l, const char *uuid)
{
	struct live_mdev *m = (struct live_mdev *)live_find_mdev(l, uuid);

	if (m)
		m->fresh = true;
}

/* bsearch() key: a UUID against an mdev, in mdev_cmp()'s order */
static int uuid_mdev_cmp(const void *key, const void *elem)
{
	return strcasecmp(key, ((const struct live_mdev *)elem)->uuid);
}

const struct live_mdev *live_find_mdev(const struct live *l, const char *uuid)
{
	if (!l->n_mdevs)
		return NULL;
	return bsearch(uuid, l->mdevs, l->n_mdevs, sizeof(*l->mdevs), uuid_mdev_cmp);
}

const struct live_queue *live_find_queue(const struct live *l, unsigned adapter, unsigned domain)
{
	struct live_queue key = { .adapter = adapter, .domain = domain };

	if (!l->n_queues)
		return NULL;
	return bsearch(&key, l->queues, l->n_queues, sizeof(*l->queues), queue_cmp);
}

const struct live_card *live_find_card(const struct live *l, unsigned id)
{
	struct live_card key = { .id = id };

	if (!l->n_cards)
		return NULL;
	return bsearch(&key, l->cards, l->n_cards, sizeof(*l->cards), card_cmp);
}

void live_outside_masks(const struct live *l, struct bitmap256 *ret_ap, struct bitmap256 *ret_aq)
{
	struct bitmap256 ap = { { 0 } }, aq = { { 0 } };

	if ((l->features & FEATURE_MASKS) && l->profile != PROFILE_RFC2017) {
		struct bitmap256 upto = bitmap_upto(l->max_adapter < 255 ? l->max_adapter : 255);

		ap = bitmap_andnot(&upto, &l->apmask);
		ap = bitmap_andnot(&ap, &l->apmask_taken);
		upto = bitmap_upto(l->max_domain < 255 ? l->max_domain : 255);
		aq = bitmap_andnot(&upto, &l->aqmask);
		aq = bitmap_andnot(&aq, &l->aqmask_taken);
	}
	*ret_ap = ap;
	*ret_aq = aq;
}

const struct live_card *live_card_details(const struct live *l, unsigned id)
{
	const struct live_card *c = live_find_card(l, id);

	if (c && !c->details_read) {
		/* a cache filled on demand, as in live_mdev_in_use() */
		struct reader rd = { .s = l->sysfs, .l = (struct live *)l, .to_log = true };

		read_card_details(&rd, (struct live_card *)c);
	}
	return c;
}
