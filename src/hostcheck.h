/* SPDX-License-Identifier: MIT */
/*
 * hostcheck.h: checks of the configuration against the host beyond the
 * plan's: over-provisioning (check, diff, apply, status, show), mdevctl
 * definitions (check, diff, apply, status, show) and host.keep in effect
 * (check, diff, status, show).
 */
#pragma once

#include "compile.h"
#include "diag.h"
#include "live.h"
#include "owner.h"

/*
 * invalid: the configuration has errors and will not be applied; where
 * host.keep is not in effect is then not told, since every such warning
 * says what apply does about it.
 */
void hostcheck(struct desired *d, const struct live *l, bool invalid, struct diag_list *diags);

/*
 * Over-provisioning alone: a warning at each guest's list entry that names
 * adapters, usage domains or control domains this LPAR is not configured
 * with (the QCI masks; nothing on a host without them).  Part of
 * hostcheck(); diff, apply, status and show --json make it too, so that a
 * mistyped number is not assigned without a word.
 */
void hostcheck_lpar(const struct desired *d, const struct live *l, struct diag_list *diags);

/*
 * The mdevctl definitions alone: sets each guest's refused when one that
 * mdevctl starts at boot shares its queues (an error in diags), so that
 * diff and apply leave that guest out as check refuses it (refused_why
 * says why, for status and show).  Marks each guest and each mdev of l
 * that a definition defines (mdevctl_path, mdevctl_auto).  An mdev of l
 * apmatrix made for a guest no longer declared, which a definition now
 * defines (mdevctl define on it, libvirt's nodedev-define), is handed over,
 * not removed: marked not owned (and handed_over) in l and, with o (apply),
 * forgotten in the ownership records (returns true then); a note says so.
 * status and show pass no o: they change nothing.
 */
bool hostcheck_mdevctl(struct desired *d, struct live *l, struct owner_db *o, struct diag_list *diags);

/*
 * host.keep alone: a warning at host.keep for each mdev that holds kept
 * queues, and one for kept queues bound to vfio_ap or to no driver (part
 * of hostcheck(); nothing without host.keep or off an AP host).
 */
void hostcheck_keep(const struct desired *d, const struct live *l, struct diag_list *diags);

/*
 * Why no mdev can be created on this host, "vfio_ap is not loaded (no
 * devices/vfio_ap/matrix)" (the caller frees it), or NULL when vfio_ap is
 * loaded.
 */
char *hostcheck_no_vfio(const struct live *l);

/*
 * The error when guests are declared and vfio_ap is not loaded: the plan
 * refuses them (check, diff, apply) and status and show give it too.
 * Returns true when it made the error.
 */
bool hostcheck_vfio(const struct desired *d, const struct live *l, struct diag_list *diags);

/*
 * host.keep on the live host: the mdev that holds the queue a.d (NULL when
 * none), and whether keep is lost for it, i.e. an mdev holds it or it
 * exists bound to vfio_ap or to no driver.  An absent queue that no mdev
 * holds is not lost: nobody has it.  check warns where it is lost (why, and
 * what puts keep in effect); show draws it so.
 */
const struct live_mdev *hostcheck_keep_holder(const struct live *l, unsigned a, unsigned dom);
bool hostcheck_keep_lost(const struct live *l, unsigned a, unsigned dom);
