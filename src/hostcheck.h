/* SPDX-License-Identifier: MIT */
/*
 * hostcheck.h: checks of the configuration against the live host that only
 * `apmatrix check` makes (warnings about over-provisioning).
 */
#pragma once

#include "compile.h"
#include "diag.h"
#include "live.h"

void hostcheck(const struct desired *d, const struct live *l, struct diag_list *diags);
