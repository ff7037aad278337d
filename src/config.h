/* SPDX-License-Identifier: MIT */
/*
 * config.h: the raw configuration model, read with libyaml's event API
 * (DESIGN §2).  Every value keeps its source mark (STYLE R14).  Nothing here
 * checks semantics beyond syntax and types: overlaps, duplicates, UUID
 * derivation and the like belong to compile.c.  Numbers are the exception:
 * every config_item holds a valid 0 <= lo <= hi <= 0xff, because the
 * messages about numbers need the text as written and the scalar's style.
 *
 * Ownership: struct config owns all its strings; marks point into the
 * diag_list's file table, which must outlive the config and anything
 * compiled from it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "macro.h"

/*
 * Where the configuration is read without -c and --config-dir: make's
 * SYSCONFDIR (-DAPMATRIX_SYSCONFDIR, /etc by default), where make install
 * puts the example and the drop-in directory.
 */
#ifndef APMATRIX_SYSCONFDIR
#define APMATRIX_SYSCONFDIR "/etc"
#endif
#define CONFIG_DEFAULT_PATH APMATRIX_SYSCONFDIR "/apmatrix.yaml"
#define CONFIG_DEFAULT_DROPIN_DIR APMATRIX_SYSCONFDIR "/apmatrix.d"

/*
 * Limits (apmatrix.yaml(5), LIMITS).  A configuration beyond one of them is
 * refused with one error, so that any input is read in bounded time and
 * memory.  Each is far above what a host can use: 256 adapters x 256
 * domains, a guest needs at least one APQN, and the grammar is 4 levels deep.
 */
#define CONFIG_MAX_FILE_SIZE (1024 * 1024) /* bytes in one file */
#define CONFIG_MAX_DROPINS 256             /* *.yaml files in the drop-in directory */
#define CONFIG_MAX_DEPTH 16                /* nested mappings and sequences */
#define CONFIG_MAX_SCALAR 256              /* bytes in one key or value (a name is at most 64) */
#define CONFIG_MAX_GUESTS 16384            /* guests in all files */
#define CONFIG_MAX_LIST 256                /* entries in one number list */
#define CONFIG_MAX_ENTRIES 65536           /* list entries in all files */
#define CONFIG_MAX_ERRORS 100              /* errors in one file; reading it stops there */

/* One entry of a number list: a single number (lo == hi) or a "LO-HI" range. */
struct config_item {
	unsigned lo, hi;
	struct mark mark;
};

struct config_list {
	bool present;      /* the key was given */
	struct mark mark;  /* of the key */
	struct config_item *items;
	size_t n, cap;
};

/* A guest's name and where it was defined: for duplicates across files. */
struct config_name {
	const char *name; /* in the arena */
	struct mark mark;
};

/*
 * Takes one guest as soon as it is read (compile.c): g and what it points
 * to stay valid while the config does (strings and lists are in its arena).
 */
struct config_guest;
typedef void (*config_take_guest_fn)(void *data, const struct config_guest *g);

enum config_masks {
	CONFIG_MASKS_AUTO,
	CONFIG_MASKS_OFF,
	_CONFIG_MASKS_MAX,
	_CONFIG_MASKS_INVALID = -22,
};

struct config_guest {
	char *name;
	struct mark mark; /* of the guest's key */
	char *uuid;       /* as written, NULL when omitted */
	struct mark uuid_mark;
	struct config_list adapters;
	struct config_list domains;
	struct config_list control_domains;
	int usage_as_control; /* -1 not given, else 0/1 */
	struct mark usage_as_control_mark;
	bool incomplete; /* cut short by a syntax error, or has an unknown key: skip completeness checks */
};

struct config {
	int version; /* 0 when no file gave one */
	struct mark version_mark;
	bool host_present;
	struct mark host_mark;
	bool keep_present; /* host.keep was given */
	struct mark keep_mark;
	struct config_list keep_adapters;
	struct config_list keep_domains;
	enum config_masks masks;
	struct mark masks_mark;
	/*
	 * In file order, files in load order; empty when take_guest is set:
	 * then each guest goes to take_guest instead, as soon as it is read
	 * (compile_begin(): the configuration is never held twice).
	 */
	struct config_guest *guests;
	size_t n_guests, cap_guests;
	config_take_guest_fn take_guest;
	void *take_data;
	struct config_name *names; /* every guest accepted, kept or taken; guest_index indexes these */
	size_t n_names, cap_names;
	char **files; /* the files that were read, in order (names owned by the diag_list) */
	size_t n_files, cap_files;
	size_t n_entries; /* list entries in all files (CONFIG_MAX_ENTRIES) */
	bool too_many_guests; /* CONFIG_MAX_GUESTS was reported: later files stop at their first guest */
	/*
	 * A file was not read to its end: a YAML syntax or encoding error, or
	 * a limit (nesting, errors, guests) stopped it.  What is above is the
	 * part before; show and status draw nothing from it.
	 */
	bool incomplete;
	struct str_index guest_index; /* over names */
	struct config_inputs *inputs; /* config_keep_inputs(): the bytes of every file read are kept here */
	/*
	 * The strings and lists above (guest names, UUIDs, number lists) live
	 * here; config_free() frees it, unless compile_config() has taken it.
	 */
	struct arena arena;
};

/*
 * The bytes that loads read, file by file in load order.  apply keeps what
 * it read before taking its locks, so that under the locks it parses the
 * configuration again only when a file changed (config_inputs_same()), and
 * reads standard input once: it cannot be read twice.
 */
struct config_input {
	char *name; /* the path, or "<stdin>" */
	char *buf;
	size_t len;
};

struct config_inputs {
	struct config_input *items;
	size_t n, cap;
};

/*
 * Keep the bytes of every file that loads into cfg read in in (each file
 * is then read whole before it is parsed, not as it is parsed), and take
 * standard input from in when in holds it already.
 */
void config_keep_inputs(struct config *cfg, struct config_inputs *in);
/*
 * Whether reading path and dropin_dir again (as config_load_into() would:
 * the same trust checks, the same drop-in files in the same order) gives
 * the bytes in in, file for file.  Standard input counts as unchanged.
 * False on any problem: the caller then loads again, which reports it.
 */
bool config_inputs_same(const struct config_inputs *in, const char *path, const char *dropin_dir);
void config_inputs_done(struct config_inputs *in);

/*
 * Load path ("-" = stdin) and then dropin_dir/\*.yaml in name order (dropin_dir
 * may be NULL or missing).  Files and the drop-in directory must be trusted
 * (trust.h): owned by root or the effective user, writable by nobody else,
 * and regular files; stdin is read as it is.  Every problem found is added to diags.  Returns 0
 * when no error was recorded, -EINVAL when some were, or another negative
 * errno when the main file could not be read at all (also recorded in diags).
 * *ret is set in every case except allocation failure, so that callers can
 * still show what was understood.
 */
int config_load(const char *path, const char *dropin_dir, struct config **ret, struct diag_list *diags);
/* The same into cfg (made by config_new(), perhaps with a take_guest); cfg stays the caller's. */
int config_load_into(struct config *cfg, const char *path, const char *dropin_dir, struct diag_list *diags);

/* Parse one document from a memory buffer and merge it into cfg (tests, fuzzing). */
int config_load_buffer(struct config *cfg, const char *name, const char *buf, size_t len,
		       struct diag_list *diags);

struct config *config_new(void);
struct config *config_free(struct config *c);

const char *config_masks_to_string(enum config_masks m);
