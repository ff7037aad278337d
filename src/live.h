/* SPDX-License-Identifier: MIT */
/*
 * live.h: the host as it is, read through sysfs.c (and owner.c for what
 * apmatrix did).  Profile and features are detected from files, never from
 * uname (DESIGN §6, kernel-abi.md §5).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "matrix.h"

struct sysfs;
struct owner_db;

enum kernel_profile {
	PROFILE_NONE,    /* no AP bus: not an s390 host */
	PROFILE_STATIC,  /* mainline before 6.0: no hot plug, assign needs vfio-bound queues */
	PROFILE_DYNAMIC, /* mainline 6.0+: guest_matrix, hot plug, over-provisioning */
	PROFILE_RFC2017, /* the 2017 proposal: ap_matrix bus, per-queue reservation */
	_PROFILE_MAX,
	_PROFILE_INVALID = -22,
};

enum live_feature {
	FEATURE_GUEST_MATRIX = 1 << 0,    /* mdev guest_matrix (6.0+) */
	FEATURE_QUEUE_STATUS = 1 << 1,    /* vfio queue status (5.17+) */
	FEATURE_AP_CONFIG = 1 << 2,       /* mdev ap_config (6.10+) */
	FEATURE_MATRIX_FEATURES = 1 << 3, /* matrix/features (6.12+) */
	FEATURE_DRIVER_OVERRIDE = 1 << 4, /* queue driver_override (6.19+) */
	FEATURE_MASKS = 1 << 5,           /* bus/ap/apmask + aqmask exist */
};

enum queue_driver {
	QUEUE_DRIVER_NONE,  /* unbound */
	QUEUE_DRIVER_HOST,  /* a default zcrypt driver (cex4queue, ...) */
	QUEUE_DRIVER_VFIO,  /* vfio_ap (vfio_ap_matrix on rfc2017) */
	QUEUE_DRIVER_OTHER, /* anything else */
	_QUEUE_DRIVER_MAX,
};

enum queue_status {
	QUEUE_STATUS_UNKNOWN, /* no status file */
	QUEUE_STATUS_UNASSIGNED,
	QUEUE_STATUS_ASSIGNED,
	QUEUE_STATUS_IN_USE,
	_QUEUE_STATUS_MAX,
};

struct live_card {
	unsigned id;
	/* read with LIVE_READ_DETAILS, otherwise on demand by live_card_details() (details_read tells): */
	char *type; /* "CEX5C", NULL when unknown */
	char *mode; /* "cca", "accel", "ep11" from uevent MODE, NULL when unknown */
	bool details_read;
};

struct live_queue {
	unsigned adapter, domain;
	const char *driver; /* name (one of live.driver_names), NULL when unbound */
	enum queue_driver kind;
	enum queue_status status;
	char *driver_override; /* NULL when absent or empty */
};

struct live_mdev {
	char uuid[37];
	struct apqn_matrix matrix; /* assigned: adapters, usage domains, control domains */
	/*
	 * Read with LIVE_READ_DETAILS, otherwise on demand by
	 * live_mdev_in_use() (details_read tells which):
	 */
	struct apqn_matrix guest_matrix; /* valid when has_guest_matrix (control domains copied) */
	bool has_guest_matrix;
	bool guest_matrix_read; /* also alone, by live_mdev_guest_view() */
	bool in_use;  /* a running guest holds it, or in_use_unknown */
	bool in_use_unknown; /* nothing could tell (the vfio group device could not be opened): taken as in use */
	bool details_read;
	bool fresh;   /* created by this apply (live_mark_fresh()): no guest can hold it yet */
	bool owned;   /* created by apmatrix (owner db) */
	char *owner_guest; /* the guest name recorded at creation, when owned */
	/*
	 * Set by hostcheck_mdevctl(): the mdevctl definition of this UUID
	 * (NULL when none) and whether mdevctl starts it at boot; handed_over:
	 * apmatrix made it for a guest no longer declared, and the definition
	 * hands it over to mdevctl (owned is false then).
	 */
	char *mdevctl_path;
	bool mdevctl_auto;
	bool handed_over;
	/* adapters the kernel kept out after apply assigned them again (owner db, owner_kept_out()) */
	struct bitmap256 kept_out;
};

struct live {
	enum kernel_profile profile;
	unsigned features; /* enum live_feature bits */
	/*
	 * False on a mainline host without matrix/features and without any
	 * mdev: 6.0-6.11 (dynamic, maybe ap_config) then look exactly like a
	 * static host, because guest_matrix and ap_config are mdev files.
	 * apply then creates the mdevs first and plans the rest again.
	 */
	bool profile_certain;
	bool vfio_loaded;  /* the matrix device exists */
	bool bindings_complete;
	unsigned max_adapter, max_domain;
	struct bitmap256 apmask, aqmask; /* host-owned (valid with FEATURE_MASKS) */
	bool has_qci;                    /* the LPAR configuration masks below are known */
	bool has_seqnum;                 /* uevent_seqnum: the kernel's last uevent before the read */
	unsigned long long uevent_seqnum;
	struct bitmap256 cfg_adapters, cfg_domains, cfg_control_domains;
	const char *matrix_path; /* SYSFS_MATRIX_* (static string) */
	const char *mdev_type;   /* SYSFS_TYPE_* */
	const char *vfio_driver; /* SYSFS_VFIO_DRIVER_* (AP bus driver) */
	struct live_card *cards; /* sorted by id */
	size_t n_cards;
	struct live_queue *queues; /* sorted by adapter, domain */
	size_t n_queues;
	char **driver_names; /* the queues' drivers, each name once (owned) */
	size_t n_driver_names;
	struct live_mdev *mdevs; /* sorted by uuid, ignoring case (live_find_mdev() relies on it); vfio_ap type only */
	size_t n_mdevs;
	/* from the owner db */
	struct bitmap256 apmask_taken, aqmask_taken;
	struct bitmap256 queues_taken[256];
	bool driver_override_in_use;
	/*
	 * The first read that failed (for another reason than absence) of those
	 * the ownership records are checked against: the listing of the mdevs,
	 * the listing of devices/ap and its cards (when it is read), an mdev's
	 * assignment, whether a listed mdev is there.  0: the read is complete.
	 * An incomplete read shows mdevs apmatrix made as gone (and queues it
	 * took as unbound): nothing may be pruned, saved or planned from it.
	 */
	int incomplete_errno;
	char *incomplete_path; /* relative to the sysfs root */
	/* borrowed for reads on demand: close it only after live_free() */
	struct sysfs *sysfs;
};

enum live_read_flags {
	/*
	 * Also the cards' type and mode, every mdev's guest matrix and
	 * whether its guest runs: what `show` and `status` draw.  Without
	 * it (plan, apply) a guest's running state is read on demand, for
	 * the mdevs a plan would change (live_mdev_in_use()).
	 */
	LIVE_READ_DETAILS = 1 << 0,
};

/*
 * Read everything.  owner may be NULL (nothing is owned).  Problems that do
 * not stop reading (an unreadable attribute, a strange line) become warnings
 * in diags.  Returns -ENODEV when there is no AP bus at all (ret is still
 * set, with PROFILE_NONE).
 */
int live_read(struct sysfs *s, const struct owner_db *owner, unsigned flags, struct live **ret,
	      struct diag_list *diags);
struct live *live_free(struct live *l);

/*
 * Whether the kernel has sent a uevent since l was read (a card came or
 * went, a queue was bound, somebody wrote an attribute): the number in
 * /sys/kernel/uevent_seqnum moved.  false when it cannot be told.
 */
bool live_host_changed(const struct live *l);

/*
 * Whether a running guest holds m (its vfio queues say "in use").  Reads the
 * mdev's guest matrix and one queue's status the first time it is asked
 * (warnings then go to the log); m belongs to l.
 */
bool live_mdev_in_use(const struct live *l, const struct live_mdev *m);
/*
 * The same, read again now (the queue's status, or the vfio group): a guest
 * may have started since live_mdev_in_use() was asked.  Updates m.
 */
bool live_mdev_in_use_now(const struct live *l, const struct live_mdev *m);

/*
 * The mdev's guest_matrix, what its guest gets (6.0+), read the first time
 * it is asked (warnings then go to the log); NULL where the host has none.
 */
const struct apqn_matrix *live_mdev_guest_view(const struct live *l, const struct live_mdev *m);

/*
 * The adapters of matrix that the guest's view gm of mdev m lacks although
 * the kernel's filter would let them in now (configured, and every queue
 * with a configured domain of matrix bound to vfio_ap): left out by an
 * earlier filter that no later one has undone.  What apply assigns again:
 * only on 6.0-6.9 (dynamic, no ap_config), empty elsewhere, and not those
 * that the kernel kept out when apply assigned them again (m->kept_out).
 */
struct bitmap256 live_stale_adapters(const struct live *l, const struct live_mdev *m,
				     const struct apqn_matrix *matrix, const struct apqn_matrix *gm);

/*
 * The mask bits up to the host's maxima that the live masks give to
 * vfio_ap although apmatrix did not clear them (owner db): taken from the
 * host outside apmatrix (boot parameter, chzdev, by hand).  apmatrix never
 * gives them back.  Empty sets where the masks decide nothing (no masks,
 * rfc2017).
 */
void live_outside_masks(const struct live *l, struct bitmap256 *ret_ap, struct bitmap256 *ret_aq);

const struct live_mdev *live_find_mdev(const struct live *l, const char *uuid);
const struct live_queue *live_find_queue(const struct live *l, unsigned adapter, unsigned domain);
const struct live_card *live_find_card(const struct live *l, unsigned id);
/* The card with its type and mode, read the first time it is asked (warnings then go to the log); NULL when absent. */
const struct live_card *live_card_details(const struct live *l, unsigned id);

/*
 * The mdev uuid was created by this apply, before this read (a staged
 * round): where only its vfio group could tell whether a guest holds it and
 * the group cannot be opened (a sandbox whose device policy was fixed before
 * vfio was loaded), it is taken as free, not as in use, so that the boot run
 * configures the mdevs it creates.  Before any live_mdev_in_use() of it.
 */
void live_mark_fresh(struct live *l, const char *uuid);

const char *kernel_profile_to_string(enum kernel_profile p);

/*
 * Whether the mdevs of l's kernel have no ap_config attribute (6.10+):
 * "dynamic kernel interface, before 6.10" (or "static ..., before 6.0")
 * when that is certain, NULL when they have it, the host is rfc2017 or not
 * an AP host, or no mdev tells yet (live.h, profile_certain: *ret_unsure is
 * then true).  mdevctl's start of a definition that sets ap_config fails
 * there ("Invalid attribute").
 */
const char *live_lacks_ap_config(const struct live *l, bool *ret_unsure);
/* "static kernel interface", or when it cannot be told yet "mainline kernel interface (static or dynamic: ...)" */
void live_print_interface(FILE *f, const struct live *l);
const char *queue_driver_to_string(enum queue_driver d);
const char *queue_status_to_string(enum queue_status s);
