/* SPDX-License-Identifier: MIT */
/*
 * hostcheck.h: checks of the configuration against the host beyond the
 * plan's: over-provisioning (check only) and mdevctl definitions (check,
 * diff and apply).
 */
#pragma once

#include "compile.h"
#include "diag.h"
#include "live.h"

void hostcheck(struct desired *d, const struct live *l, struct diag_list *diags);

/*
 * The mdevctl definitions alone: sets each guest's refused when one that
 * mdevctl starts at boot shares its queues (an error in diags), so that
 * diff and apply leave that guest out as check refuses it.
 */
void hostcheck_mdevctl(struct desired *d, struct diag_list *diags);
