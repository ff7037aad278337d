/* SPDX-License-Identifier: MIT */
/*
 * render.h: everything apmatrix shows, written to a FILE * it is given
 * (STYLE R2): the matrix grid, the per-guest lszcrypt-style view, the plan as
 * text ("would ..." verbs), as shell commands and as JSON, and the check and
 * status documents.  JSON documents carry a top-level "version" (R27).
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "compile.h"
#include "diag.h"
#include "live.h"
#include "plan.h"

#define RENDER_JSON_VERSION 1

struct render_opts {
	bool color;
	const char *sysfs_root; /* for shell form: "/sys" */
};

/* Letter code of guest i for the grid legend ("A".."Z", then "A1"...). */
const char *render_guest_code(size_t i, char buf[8]);

void render_grid(FILE *f, const struct desired *d, const struct live *l, const struct render_opts *o);
void render_guest(FILE *f, const struct desired *d, const struct desired_guest *g, const struct live *l,
		  const struct render_opts *o);

/*
 * host_checked: the configuration was checked against the host read from
 * sysfs (false: --no-live, no AP bus, or the host could not be read).
 * only: list that guest alone in "guests" (show GUEST --json); NULL: every guest.
 */
void render_check_json(FILE *f, const struct desired *d, const struct diag_list *diags, bool valid,
		       bool host_checked, const struct desired_guest *only);

/* One line per action: "+ guest1: assign adapter 0x05"; dry_run selects "would" wording in summaries. */
char *render_action(const struct action *a);
void render_plan_text(FILE *f, const struct plan *p, const struct render_opts *o);
void render_plan_shell(FILE *f, const struct plan *p, const struct render_opts *o);
void render_plan_json(FILE *f, const struct plan *p, const struct diag_list *diags);
/*
 * One action as a JSON object, without the closing brace, so that apply
 * --json can add what became of it; with_depends adds the plan's
 * depends_on (indices into that plan).
 */
void render_action_json_open(FILE *f, const struct action *a, bool with_depends);

void render_status(FILE *f, const struct desired *d, const struct live *l, const struct render_opts *o);
/*
 * d or l NULL: the configuration or the host could not be read; the
 * document then holds the diagnostics alone (host and taken null, empty
 * lists), so that a --json run always prints one.
 */
void render_status_json(FILE *f, const struct desired *d, const struct live *l, const struct desired_guest *only,
			const struct diag_list *diags);

/* JSON helpers shared by the writers above. */
void render_json_numbers(FILE *f, const struct bitmap256 *b);
void render_json_apqns(FILE *f, const struct apqn_matrix *m);
