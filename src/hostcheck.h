/* SPDX-License-Identifier: MIT */
/*
 * hostcheck.h: checks of the configuration against the live host that only
 * `apmatrix check` makes: over-provisioning, mdevctl definitions.
 */
#pragma once

#include "compile.h"
#include "diag.h"
#include "live.h"

void hostcheck(const struct desired *d, const struct live *l, struct diag_list *diags);
