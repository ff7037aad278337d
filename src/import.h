/* SPDX-License-Identifier: MIT */
/*
 * import.h: the configuration that reproduces what a host already has
 * (DESIGN §3 `import`): guests from the live vfio_ap mdevs or from mdevctl's
 * definitions, named after the libvirt domain that uses each mdev, with
 * their UUIDs, control domains and the host's share of the queues
 * (host.keep) where the masks say so exactly.  Reads files, writes nothing:
 * the caller gets YAML text.
 */
#pragma once

#include "diag.h"
#include "live.h"

#define IMPORT_LIBVIRT_DIR "/etc/libvirt/qemu"
#define IMPORT_MDEVCTL_DIR "/etc/mdevctl.d/matrix"

enum import_source {
	IMPORT_FROM_LIVE,    /* the mdevs in sysfs */
	IMPORT_FROM_MDEVCTL, /* /etc/mdevctl.d/matrix/\* (JSON, ordered attrs) */
	_IMPORT_SOURCE_MAX,
	_IMPORT_SOURCE_INVALID = -22,
};

struct import_opts {
	enum import_source from;
	const char *libvirt_dir; /* NULL: IMPORT_LIBVIRT_DIR */
	const char *mdevctl_dir; /* NULL: IMPORT_MDEVCTL_DIR */
};

/*
 * Build the YAML text into *ret.  l is the live host; it may be NULL with
 * IMPORT_FROM_MDEVCTL (no host.keep then).  Unreadable or malformed input
 * becomes an error in diags (FILE:LINE:COL where known), anything that is
 * imported less than exactly a warning.  Returns 0, or -EINVAL when an
 * error was recorded (*ret is NULL then).
 */
int import_config(const struct live *l, const struct import_opts *o, char **ret, struct diag_list *diags);

/* One mdevctl definition of a vfio_ap device, its attrs replayed into a matrix. */
struct mdevctl_def {
	char uuid[37];
	struct apqn_matrix matrix;
	/* every number its attrs wrote, unassigned since or not: the kernel refuses one beyond the maxima (ENODEV) */
	struct apqn_matrix written;
	bool autostart; /* "start": "auto": mdevctl creates it at boot */
	bool ap_config; /* it sets ap_config, which mdevs have from 6.10 on (live_lacks_ap_config()) */
	char *path;
};

/*
 * Read every vfio_ap definition in dir (NULL: IMPORT_MDEVCTL_DIR).  A
 * missing directory is a warning and no definitions.  Returns 0, or -EINVAL
 * when a definition was malformed (reported in diags; the others are kept).
 * A malformed definition is not returned: mdevctl cannot load it (JSON,
 * "mdev_type", "start", an attrs entry that is not one string attribute),
 * or it can but its start fails and removes the mdev (a value the kernel
 * refuses, an attribute the mdev does not have), so it never has its mdev.
 */
int import_mdevctl_defs(const char *dir, struct mdevctl_def **ret, size_t *ret_n, struct diag_list *diags);
void mdevctl_defs_free(struct mdevctl_def *defs, size_t n);

const char *import_source_to_string(enum import_source s);
enum import_source import_source_from_string(const char *s);

/*
 * Parse a number as the kernel parses an assign_* value: base 0 (kstrtoul:
 * 0x hex, leading 0 octal, else decimal; one trailing newline) or base 16
 * (the rfc2017 interface).  Returns 0 and *ret <= 255, or -EINVAL/-ERANGE.
 */
int import_parse_number(const char *s, int base, unsigned *ret);
