/* SPDX-License-Identifier: MIT */
/*
 * config-read FILE: apmatrix's configuration reader alone - the same parse,
 * checks, guest-name index and number lists as `apmatrix check`, with every
 * guest handed to a taker that drops it instead of compiling it.  The
 * compile benchmark (bench/RESULTS.md, scenario 4) puts it between the bare
 * libyaml parse (bench/yaml-parse) and `apmatrix check`: what the reader
 * costs, and what the compiler adds on top.
 *
 * Prints "N guests, E errors" and exits 0, or 1 when FILE cannot be read
 * or holds errors.
 */
#include <stdio.h>

#include "config.h"
#include "diag.h"

static void drop_guest(void *data, const struct config_guest *g)
{
	(void)g;
	(*(size_t *)data)++;
}

int main(int argc, char **argv)
{
	struct diag_list diags = { 0 };
	struct config *cfg;
	size_t n = 0, errors;
	int r;

	if (argc != 2) {
		fputs("usage: config-read FILE\n", stderr);
		return 2;
	}
	cfg = config_new();
	cfg->take_guest = drop_guest;
	cfg->take_data = &n;
	r = config_load_into(cfg, argv[1], NULL, &diags);
	errors = diag_count(&diags, DIAG_ERROR);
	printf("%zu guests, %zu errors\n", n, errors);
	diag_list_done(&diags);
	config_free(cfg);
	return r < 0 || errors ? 1 : 0;
}
