/* SPDX-License-Identifier: MIT */
/*
 * sim.h: apmatrix-sim, a FUSE stand-in for the kernel's AP bus and vfio_ap
 * sysfs tree (shared/kernel-abi.md).  One big lock (struct sim.lock) guards
 * everything; the FUSE loop is multi-threaded so that a write that blocks
 * (mdev remove while a guest is attached) does not stop the others.
 *
 * Modules:
 *   tree.c      in-memory directory tree: dirs, attribute files, symlinks
 *   topology.c  YAML host description -> struct topology
 *   kernel.c    the kernel model: profiles, cards, queues, drivers, masks,
 *               mdevs, every attribute's show/store, uevents
 *   control.c   the .sim control directory: write log, faults, dump
 *   main.c      FUSE glue, argument parsing, mounting
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bitmap.h"

struct sim;
struct node;

/* ---- tree.c ---------------------------------------------------------- */

enum node_type {
	NODE_DIR,
	NODE_FILE,
	NODE_LINK,
};

/*
 * An attribute: show() returns a malloc'd string or a negative errno,
 * store() gets the written bytes NUL-terminated and returns 0 or -errno.
 * A missing show/store makes the file write-only/read-only (EACCES on open,
 * like kernfs).
 */
struct attr {
	const char *name;
	mode_t mode;
	int (*show)(struct sim *s, void *obj, char **ret);
	int (*store)(struct sim *s, void *obj, const char *buf, size_t len);
};

struct node {
	char *name;
	enum node_type type;
	struct node *parent;
	/* NODE_DIR: children sorted by name */
	struct node **children;
	size_t n_children;
	size_t cap_children;
	/* NODE_FILE */
	const struct attr *attr;
	void *obj;
	/* NODE_LINK */
	char *target;
};

struct node *node_new_root(void);
struct node *node_child(const struct node *dir, const char *name);
struct node *node_lookup(struct node *root, const char *path);
/* mkdir -p relative to dir; returns the (possibly existing) directory */
struct node *node_mkdir(struct node *dir, const char *relpath);
struct node *node_add_file(struct node *dir, const struct attr *attr, void *obj);
struct node *node_add_file_as(struct node *dir, const char *name, const struct attr *attr, void *obj);
void node_add_files(struct node *dir, const struct attr *attrs, size_t n, void *obj);
/* Symlink in dir pointing at the root-relative path `to`, made relative. */
struct node *node_add_link(struct node *dir, const char *name, const char *to);
/* Symlink with a literal target (for the few links the kernel makes short). */
struct node *node_add_link_raw(struct node *dir, const char *name, const char *target);
/* Remove a child by name (recursively); no-op if absent. */
void node_remove_child(struct node *dir, const char *name);
void node_free(struct node *n);
/* Root-relative path without leading slash, malloc'd. */
char *node_path(const struct node *n);

/* ---- topology.c ------------------------------------------------------ */

enum card_mode {
	MODE_ACCEL,
	MODE_CCA,
	MODE_EP11,
};

struct topo_card {
	unsigned id;
	char type[16]; /* "CEX5C" */
	unsigned hwtype;
	enum card_mode mode;
	struct bitmap256 domains;
};

struct topology {
	char profile[16];
	bool vfio_loaded;
	unsigned max_adapter;
	unsigned max_domain;
	struct bitmap256 apmask;
	struct bitmap256 aqmask;
	struct bitmap256 control_domains; /* extra QCI ADM bits */
	struct topo_card *cards;
	size_t n_cards;
};

/* Parse a topology file; on error return -errno and a message in *ret_err. */
int topology_load(const char *path, struct topology *ret, char **ret_err);
/* Parse one card given as a YAML flow mapping (hotplug). */
int topology_parse_card(const char *text, unsigned max_adapter, unsigned max_domain,
			struct topo_card *ret, char **ret_err);
void topology_done(struct topology *t);
const char *card_mode_to_string(enum card_mode m);

/* ---- kernel.c -------------------------------------------------------- */

enum drv {
	DRV_NONE,
	DRV_CEX4CARD,
	DRV_CEX4QUEUE,
	DRV_VFIO, /* AP-bus queue driver vfio_ap (rfc2017: vfio_ap_matrix) */
	DRV_MAX,
};

struct profile {
	char name[16];
	unsigned version; /* major * 100 + minor, 0 for rfc2017 */
	bool rfc;
	bool masks;            /* apmask/aqmask exist (not rfc2017) */
	bool dynamic;          /* 6.0+: hot plug, guest_matrix, over-provisioning */
	bool queue_status;     /* 5.17+ */
	bool mask_uevents;     /* 5.19+ */
	bool mask_busy;        /* 6.0+: EBUSY on handing back an assigned APQN */
	bool ap_config;        /* 6.10+ */
	bool features;         /* 6.12+ */
	bool driver_override;  /* 6.19+ */
	bool remove_blocks;    /* 5.2+: remove of an in-use mdev blocks (mdev core takes it off the bus first) */
	bool queue_mode;       /* queue uevents carry MODE (else DEV_TYPE/MODALIAS) */
	bool bindings;         /* bindings attribute, BINDINGS uevents */
	const char *vfio_drv;  /* AP-bus queue driver name */
	const char *matrix_root;  /* "devices/vfio_ap" */
	const char *matrix_bus;   /* "matrix" */
	const char *matrix_drv;   /* driver of the matrix device on its bus */
	const char *type_name;    /* "vfio_ap-passthrough" */
	const char *mdev_drv;     /* "vfio_ap_mdev" */
	const char *module;       /* "vfio_ap" */
};

struct queue {
	struct card *card;
	unsigned dom;
	enum drv drv;
	bool online;
	bool unusable; /* .sim/queue: the filter drops its adapter (the kernel's reset_rc, or not passable) */
	char *driver_override;
	uint64_t request_count;
	struct node *dir;
};

struct card {
	unsigned id;
	char type[16];
	unsigned hwtype;
	enum card_mode mode;
	bool config;
	bool online;
	enum drv drv;
	struct bitmap256 domains;
	struct queue *queues[256];
	uint64_t request_count;
	struct node *dir;
};

struct mdev {
	char uuid[37];
	struct bitmap256 apm, aqm, adm;
	/*
	 * 6.0+: the guest's view (shadow_apcb), what guest_matrix shows and a
	 * guest gets.  Filtered again only where the kernel does (shadow_*()
	 * in kernel.c); an unassign only clears its bit.
	 */
	struct bitmap256 sapm, saqm, sadm;
	bool attached;
	bool removing;
	unsigned iommu_group;
	struct node *dir;
};

struct fault {
	char *glob;      /* NULL for "after N" */
	int err;         /* positive errno */
	unsigned count;  /* remaining failures (glob) */
	unsigned after;  /* writes to let through first ("after N") */
	unsigned delay_ms; /* delay rule: glob + delay, err == 0 */
	bool on_read;      /* rdelay: the next matching read waits (once); rfail: reads and listings fail */
	bool once;         /* wdelay: the next matching write waits, and the rule goes */
};

struct sim {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct profile prof;
	unsigned max_apid, max_apqi;
	struct bitmap256 apmask, aqmask;
	struct bitmap256 qci_aqm, qci_adm; /* LPAR usage/control domains */
	struct card *cards[256];
	bool vfio_loaded;
	struct mdev **mdevs;
	size_t n_mdevs, cap_mdevs;
	unsigned next_iommu_group;
	uint64_t seqnum;
	uint64_t complete_count;
	bool bindings_complete;
	uint64_t scans;
	int ap_domain;
	unsigned config_time;
	bool poll_thread;
	uint64_t poll_timeout;
	bool autoprobe;
	struct node *root;
	/* control directory state */
	uint64_t requests; /* file system requests outside .sim/ (atomic) */
	char *writes;
	size_t writes_len, writes_cap;
	char *uevents;
	size_t uevents_len, uevents_cap;
	struct fault *faults;
	size_t n_faults, cap_faults;
};

int sim_init(struct sim *s, const struct topology *t, char **ret_err);
void sim_done(struct sim *s);
int sim_modprobe(struct sim *s, const char *module);
int sim_hotplug(struct sim *s, const char *line);
int sim_guest(struct sim *s, const char *cmd);
/* "unusable AA.DDDD" / "usable AA.DDDD": a queue state the next guest filter heeds */
int sim_queue_state(struct sim *s, const char *cmd);
/* open() of .sim/vfio/N, the mdev's vfio group device: EBUSY while a guest holds it. */
int sim_vfio_group_open(struct sim *s, void *obj);
char *sim_dump(struct sim *s);
/* Bindings bookkeeping after a top-level operation (may emit a uevent). */
void sim_check_bindings(struct sim *s);
struct mdev *sim_find_mdev(struct sim *s, const char *uuid);

/* ---- control.c ------------------------------------------------------- */

void control_build(struct sim *s);
/* Record one kernel attribute write in .sim/writes. */
void control_log_write(struct sim *s, const char *path, const char *buf, size_t len, int r);
/* Fault injection: returns -errno to fail this write, 0 to go on. */
int control_fault(struct sim *s, const char *path, unsigned *ret_delay_ms);
/*
 * rfail: -errno when a read of the attribute or a listing of the directory
 * path is to fail (the first rfail rule that matches, COUNT times), else 0.
 */
int control_read_fault(struct sim *s, const char *path);
/* The milliseconds a read of path waits: the first rdelay rule that matches, which goes. */
unsigned control_read_delay(struct sim *s, const char *path);
/*
 * Append one uevent to .sim/uevents.  env: extra "K=V" lines (NULL-terminated
 * array, may be NULL); vars: the device's own uevent variables, "K=V\n"...
 */
void control_uevent(struct sim *s, const char *action, const char *devpath, const char *subsystem,
		    const char *const *env, const char *vars);
const char *errno_name(int err);
int errno_from_name(const char *name);

/* Shared buffer helper: append to a growing string. */
void buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n);
