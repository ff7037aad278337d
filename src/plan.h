/* SPDX-License-Identifier: MIT */
/*
 * plan.h: desired + live -> an ordered list of actions (DESIGN §4, STYLE
 * R4/R5).  plan_build() is a pure function: no I/O, no logging,
 * deterministic.  `diff` renders the plan, `apply` executes exactly it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "diag.h"
#include "live.h"

enum plan_phase {
	PHASE_UNASSIGN,     /* take away from mdevs what must go first (another guest or the
			     * kernel's checks need it gone) */
	PHASE_REMOVE_MDEV,  /* remove undeclared mdevs apmatrix created */
	PHASE_TAKE_MASK,    /* take from the host what the guests need (clearing never fails) */
	PHASE_CREATE_MDEV,
	PHASE_ASSIGN,
	PHASE_UNASSIGN_LATE, /* 6.0-6.9: what goes from an mdev that also gains, after its assigns,
			      * so that a failed take or assign leaves the guest what it had */
	PHASE_RELEASE_MASK, /* give back what apmatrix took and no one needs, last: a release
			     * can only fail, EBUSY, while an mdev holds the APQN, and the
			     * one ap_config write that takes it out is in PHASE_ASSIGN, an
			     * unassign in PHASE_UNASSIGN_LATE at the latest */
	_PHASE_MAX,
};

enum action_kind {
	ACTION_UNASSIGN_ADAPTER,
	ACTION_UNASSIGN_DOMAIN,
	ACTION_UNASSIGN_CONTROL_DOMAIN,
	ACTION_REMOVE_MDEV,
	ACTION_RELEASE_APMASK,  /* set apmask bits: "+0x05,+0x06" */
	ACTION_RELEASE_AQMASK,
	ACTION_RELEASE_QUEUE,   /* rfc2017: unbind from vfio driver, then bind to host driver */
	ACTION_TAKE_APMASK,     /* clear apmask bits: "-0x05" */
	ACTION_TAKE_AQMASK,
	ACTION_TAKE_QUEUE,      /* rfc2017: unbind from host driver, then bind to vfio driver */
	ACTION_CREATE_MDEV,
	ACTION_WRITE_AP_CONFIG, /* the whole matrix in one write (6.10+) */
	ACTION_ASSIGN_ADAPTER,
	ACTION_ASSIGN_DOMAIN,
	ACTION_ASSIGN_CONTROL_DOMAIN,
	_ACTION_KIND_MAX,
	_ACTION_KIND_INVALID = -22,
};

/* One sysfs write. */
struct plan_write {
	char *path;  /* relative to the sysfs root */
	char *value; /* exactly what is written (no trailing newline) */
};

/* what a forced change does to a running guest (struct action.hot) */
enum {
	HOT_PLUG = 1 << 0,   /* the guest gets crypto resources while it runs */
	HOT_UNPLUG = 1 << 1, /* the guest loses them */
};

struct action {
	enum action_kind kind;
	enum plan_phase phase;
	char *guest;             /* declared guest name; NULL for host-level actions */
	char uuid[37];           /* mdev, "" for host-level actions */
	unsigned number;         /* adapter/domain number; for queues adapter << 8 | domain */
	struct bitmap256 bits;   /* mask actions: the bits taken or released */
	struct apqn_matrix matrix; /* ACTION_WRITE_AP_CONFIG: the new matrix */
	char *reason;            /* why, for humans: "guest1, guest2 need them" */
	/*
	 * A mask action not pending: its reason without the queues it names
	 * (take: the guests that need them, or NULL; give-back: the reason
	 * before its list), for plan_host_queues().
	 */
	char *reason_base;
	bool pending;            /* blocked by a running guest */
	bool force_helps;        /* pending, and --force would do it (hot plug); else the guest must stop */
	bool maybe_running;      /* pending because nothing could tell whether the guest runs (warned) */
	bool foreign;            /* reserved: never set for mdevs apmatrix does not own */
	bool refilter;           /* assigns again an adapter the kernel left out of the guest's view */
	unsigned hot;            /* HOT_PLUG | HOT_UNPLUG: --force changes a running guest's crypto now */
	unsigned force_hot;      /* pending and force_helps: what --force would do to the running guest (HOT_*) */
	/*
	 * Pending: the guest it waits for, or the UUID of an mdev no guest
	 * declares.  Set on every mdev action, pending or not: what it and what
	 * needs it would wait for, its own mdev's (the guest, or that UUID),
	 * should a guest start on it while apply runs (apply_plan()).
	 */
	char *waits_for;
	bool undeclared;         /* an mdev action, of an mdev apmatrix made for guest, no longer declared */
	/*
	 * The usage APQNs the guest loses and gains by this action ("APQNs
	 * 06.0004 06.00ab", truncated; matrix_format_minus()), NULL for none
	 * (and for a refilter, and host actions): set for every mdev action,
	 * since apply may hold one back when a guest starts meanwhile; shown
	 * only when pending or hot.
	 */
	char *loses, *gains;
	/*
	 * Host actions: the queues that exist now and that it moves from the
	 * host drivers to vfio_ap (a take) or back (a give-back), as
	 * adapter << 8 | domain, sorted (note_host_queues()); none for mdev
	 * actions.
	 */
	uint16_t *queues;
	size_t n_queues;
	/* where the guest is declared (the list entry of the number, if any); file NULL otherwise */
	char *file;
	unsigned line, column;
	bool has_from;           /* ACTION_WRITE_AP_CONFIG on an existing mdev: */
	struct apqn_matrix from; /* the matrix this write replaces */
	/* The writes, in order (rfc2017 queue moves are two, everything else one). */
	struct plan_write writes[2];
	size_t n_writes;
	/*
	 * Assigns and ap_config writes whose dependencies on the mask takes
	 * plan_assign_deps() made: the APQNs it needs off the host drivers
	 * (need_a x need_d), for plan_needs_met().
	 */
	bool has_needs;
	struct bitmap256 need_a, need_d;
	/* Indices of earlier actions that must have succeeded first. */
	size_t *depends_on;
	size_t n_depends_on;
};

/* What a's change does to a running guest (HOT_*): for an ap_config write, from its from and matrix. */
unsigned plan_action_hot(const struct action *a);

/*
 * The reason of an action that waits for the mdev of mdev action cause:
 * "waits for 'guest1' (running)", or for an mdev apmatrix made for a guest
 * no longer declared "waits for guest 'old', no longer declared (mdev
 * UUID, running)".
 */
char *plan_waits_reason(const struct action *cause, bool maybe_running);

/* apmask or aqmask, taken or released (the action's bits) */
static inline bool action_is_mask(const struct action *a)
{
	return a->kind == ACTION_TAKE_APMASK || a->kind == ACTION_TAKE_AQMASK || a->kind == ACTION_RELEASE_APMASK ||
	       a->kind == ACTION_RELEASE_AQMASK;
}

/* why an action waits for a running guest (struct action.reason) */
#define REASON_FORCE "guest is running (use --force)"
#define REASON_NO_HOTPLUG "guest is running (this kernel cannot change a running guest; stop it first)"
#define REASON_NO_REMOVE "guest is running (an mdev in use is never removed)"
/* the same where nothing can tell whether a guest runs (live_mdev.in_use_unknown) */
#define REASON_MAYBE_FORCE "cannot tell whether a guest is running (use --force)"
#define REASON_MAYBE_NO_HOTPLUG "cannot tell whether a guest is running (this kernel cannot change a running guest)"
#define REASON_MAYBE_NO_REMOVE "cannot tell whether a guest is running (an mdev that may be in use is never removed)"

enum plan_flags {
	PLAN_FORCE = 1 << 0, /* change guests that are running */
	/*
	 * apply, while no mdev tells the kernel's interface (live.h,
	 * profile_certain): a guest that names absent queues (which only 6.0+
	 * can assign) is left to the round after the first create, unless
	 * every guest is such a guest; no diagnostic is added for it.
	 */
	PLAN_DEFER_UNCERTAIN = 1 << 1,
};

/*
 * A guest the plan leaves out because an mdev holds queues it wants (an mdev
 * apmatrix does not manage, or that of a guest left out for its errors), or
 * for errors of its own against the host: the why in a few words, for status
 * and show ("APQN 05.0047 is assigned to mdev UUID (not managed by
 * apmatrix)", "adapters 0x40 beyond this host's maximum 0x3f"); the
 * diagnostics say it in full.
 */
struct plan_left_out {
	const char *guest; /* the desired's name */
	char *why;
};

struct plan {
	struct action *actions;
	size_t n, cap;
	size_t n_pending;
	unsigned flags; /* plan_build()'s enum plan_flags */
	struct plan_left_out *left_out;
	size_t n_left_out;
	/* [256] by adapter: the domains the declared guests use (a take's "other queues"); NULL for none */
	struct bitmap256 *used;
};

/*
 * Build the plan.  Problems that prevent parts of it (a declared APQN held by
 * a foreign mdev, masks: off with guest APQNs still host-owned, APQNs beyond
 * the host's maxima) are added to diags as errors naming guest and APQN, and
 * the affected guest gets no actions that would fail.  A guest that compile
 * has refused already (an APQN of another guest's, or one that host.keep
 * reserves) is left out without a second diagnostic.  Returns 0, or -EINVAL
 * when guests were left out so.  *ret is always set.
 */
int plan_build(const struct desired *d, const struct live *l, unsigned flags, struct plan **ret,
	       struct diag_list *diags);
struct plan *plan_free(struct plan *p);

/*
 * Whether assign i finds every queue it needs off the host drivers once the
 * mask takes written in this round (the bits done_ap, done_aq) are added to
 * the masks the plan read: a failed or skipped take it depends on then
 * takes nothing from it (the other mask's take covered its queues).  False
 * for actions without needs (has_needs).
 */
bool plan_needs_met(const struct plan *p, const struct live *l, size_t i, const struct bitmap256 *done_ap,
		    const struct bitmap256 *done_aq);

static inline bool plan_is_empty(const struct plan *p)
{
	return p->n == 0;
}

/*
 * For an apply that does not write mask actions the plan meant to write
 * (held back, failed or skipped: held[i] n > 0, at its n-th recount; 0
 * for the others): each action of p as apply reports it (out[i], p->n of
 * them), where a mask action's queues are those it moves counted as
 * note_host_queues() does, but in three passes: the written ones, then
 * those apply did not write, the latest first (so that each keeps what it
 * was reported to move), then those pending at plan time, which keep the
 * plan's.  A mask action not pending at plan time whose queues so change
 * names the new ones in its reason.  out[i] shares the plan's pointers
 * where nothing changed: free with plan_host_queues_free().
 */
void plan_host_queues(const struct plan *p, const struct live *l, const unsigned *held, struct action *out);
void plan_host_queues_free(const struct plan *p, struct action *out);

const char *action_kind_to_string(enum action_kind k);
const char *plan_phase_to_string(enum plan_phase p);
