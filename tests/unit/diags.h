/* SPDX-License-Identifier: MIT */
/* diags.h: looking for a diagnostic in a diag_list, for the unit tests. */
#pragma once

#include <stdbool.h>
#include <string.h>

#include "diag.h"

/* Whether dl holds a diagnostic of severity sev whose message contains text. */
static inline bool has_diag(const struct diag_list *dl, enum diag_severity sev, const char *text)
{
	for (size_t i = 0; i < dl->n; i++)
		if (dl->items[i].severity == sev && strstr(dl->items[i].message, text))
			return true;
	return false;
}
