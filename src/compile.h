/* SPDX-License-Identifier: MIT */
/*
 * compile.h: configuration -> desired state.  Expands number lists into
 * bitmaps, checks ranges and every cross-guest rule (overlap, duplicate
 * UUIDs, host.keep), and derives UUIDs from guest names.
 *
 * Ownership: struct desired copies everything it needs from struct config,
 * so config_free() may run right after compile (STYLE R21).  Marks point
 * into the diag_list's file table.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "diag.h"
#include "matrix.h"
#include "uuid.h"

/*
 * Namespace of the name-based (SHA-1, version 5) UUIDs given to guests that
 * declare none: UUIDv5(NameSpace_DNS, "apmatrix.s390x").  Never change it:
 * every derived UUID on every host depends on it.
 */
#define APMATRIX_UUID_NAMESPACE "19fe8257-6e13-5c48-b4dc-660a191abd94"

enum desired_dim {
	DIM_ADAPTER,
	DIM_DOMAIN,
	DIM_CONTROL_DOMAIN,
	_DIM_MAX,
};

struct desired_guest {
	/*
	 * As written; an invalid name with control characters is kept escaped
	 * ("g1\x0ax", an error already), so that whatever prints it stays on
	 * one line and sends no escape sequence.  A derived UUID is of the name
	 * as written.
	 */
	char *name;
	struct mark mark;
	char uuid[UUID_STR_LEN]; /* lowercase canonical */
	bool uuid_derived;
	bool uuid_valid; /* false: the given UUID was invalid (an error); uuid holds a derived one */
	bool usage_as_control;
	/*
	 * A host check refused it (hostcheck_mdevctl(): an mdevctl definition
	 * started at boot shares its queues): the plan leaves it out.
	 */
	bool refused;
	const char *refused_why; /* with refused: what refuses it, for status and show (in desired's arena) */
	/*
	 * An mdevctl definition of the guest's UUID (hostcheck_mdevctl()), its
	 * path (in desired's arena) or NULL, and whether mdevctl starts it at
	 * boot: status and show mark the guest so.
	 */
	const char *mdevctl_path;
	bool mdevctl_auto;
	/*
	 * A step of it failed earlier in this apply run: the plan leaves its
	 * mdev as it is (apply's last round gives back what no mdev needs).
	 */
	bool failed;
	/*
	 * status and show: the guest has no mdev, and its create failed in the
	 * last apply run (RUNDIR/failed): the errno's name, "" when it has none
	 * (in desired's arena); NULL otherwise.
	 */
	const char *create_failed;
	struct mark uuid_mark; /* of the uuid value, or the guest key when derived */
	/*
	 * adapters x domains are the usage APQNs.  control_domains already
	 * contains the usage domains when usage_as_control is set.
	 */
	struct apqn_matrix matrix;
	/* the list entries as written (in desired's arena): where each number came from */
	const struct config_item *src[_DIM_MAX];
	unsigned short n_src[_DIM_MAX]; /* at most CONFIG_MAX_LIST */
};

struct desired {
	/*
	 * The host keeps keep_adapters x keep_domains.  When only one of the two
	 * is given, the other is all 256 numbers (the whole card, or the domain
	 * on every card).  has_keep is false when host.keep is absent.
	 */
	bool has_keep;
	struct bitmap256 keep_adapters, keep_domains;
	struct mark keep_mark;
	enum config_masks masks;
	struct mark masks_mark; /* of host.masks; file NULL when it was not given */
	struct desired_guest *guests; /* sorted by name */
	size_t n_guests;
	struct arena arena; /* guest names and list entries: taken over from the config */
};

/*
 * Compile cfg.  *ret is always set (also when errors were found, so that
 * `show` can draw conflicts).  Returns 0, or -EINVAL when any error was
 * added to diags.  The desired state takes cfg's arena (guest names and
 * number lists, STYLE R21: a steal, not an alias): afterwards cfg's guests
 * and lists must not be read, only config_free()d.
 */
int compile_config(struct config *cfg, struct desired **ret, struct diag_list *diags);

/*
 * The same in two steps, so that each guest is compiled as it is read and
 * the configuration's guests are never held beside the compiled ones:
 * compile_begin() makes cfg hand its guests over (cfg->take_guest), then
 * config_load_into() reads the files, and compile_end() compiles what
 * remains (host.keep, pairs of guests) and ends like compile_config().
 * Diagnostics about guests are held until compile_end(), so they follow
 * the configuration's own, as with compile_config().  When a file was cut
 * short (cfg->incomplete) compile_end() adds none: the reader's errors say
 * what is wrong, and what was read of the file is not the configuration.
 */
struct compiler;
struct compiler *compile_begin(struct config *cfg);
int compile_end(struct compiler *c, struct config *cfg, struct desired **ret, struct diag_list *diags);

/* The mark of the list entry that contributed number n in dimension dim, or the guest's mark. */
const struct mark *desired_guest_mark(const struct desired_guest *g, enum desired_dim dim, unsigned n);

/* The control domains the guest's control-domains list gave (not those that are usage domains). */
struct bitmap256 desired_explicit_control_domains(const struct desired_guest *g);

const struct desired_guest *desired_find_guest(const struct desired *d, const char *name);

/* host.keep reserves APQN a.dom for the host */
bool desired_keeps(const struct desired *d, unsigned a, unsigned dom);

struct desired *desired_free(struct desired *d);
