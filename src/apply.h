/* SPDX-License-Identifier: MIT */
/*
 * apply.h: execute a plan through sysfs.c, record ownership through owner.c.
 *
 * Rules (DESIGN §5, STYLE R12): pending actions are skipped; a failed write
 * stops the remaining actions of that guest and every action that depends
 * on it, other guests go on; ownership is recorded before a create or a mask
 * take (so a crash can only leave a claim on something that does not exist,
 * which the next run prunes) and cleared after a remove or release.
 * Non-logging: results go to the report callback.
 */
#pragma once

#include <stddef.h>

#include "live.h"
#include "owner.h"
#include "plan.h"
#include "sysfs.h"

struct apply_result {
	size_t done;    /* actions completed */
	size_t failed;  /* actions whose write failed */
	size_t skipped; /* not tried because an earlier step of the guest failed */
	size_t pending; /* blocked by a running guest */
	size_t pending_force; /* of those, the ones --force would do */
	size_t pending_maybe; /* of those, the ones held back because nothing could tell whether a guest runs */
	size_t writes;  /* sysfs writes issued */
	size_t left;    /* not tried because the run was stopped (apply_stop_fn) */
	int stopped;    /* what apply_stop_fn returned (a signal number), 0 if the plan ran to its end */
	int first_error; /* -errno of the first failure, 0 if none */
	size_t unsaved; /* records of writes made (or withdrawn claims of writes that failed) not saved */
	int unsaved_error; /* -errno of the first such save */
};

enum apply_outcome {
	APPLY_DONE,
	APPLY_FAILED,
	APPLY_SKIPPED,
	APPLY_PENDING,
};

/* Called once per action; explanation is set for failures and skips. */
typedef void (*apply_report_fn)(void *userdata, const struct action *a, enum apply_outcome outcome, int err,
				const char *explanation);

/*
 * Asked before each action that would write, never during one: nonzero
 * (main.c returns the number of a signal that came) stops the plan there,
 * after the previous action's writes and ownership records are complete.
 */
typedef int (*apply_stop_fn)(void *userdata);

/*
 * Drop claims on mdevs that no longer exist and on mask bits the host has
 * again, and the adapters kept out (owner_db.kept_out) that the kernel shows
 * now or that left their mdev.  Returns whether kept_out changed: apply
 * saves that, so that a later run assigns such an adapter again when the
 * kernel leaves it out once more.
 */
bool apply_prune_owner(struct owner_db *o, const struct live *l);

/*
 * The cards of the adapters in the mdevs apmatrix owns, against the type
 * and mode the records say they had (owner_db.cards): a card of another
 * type or mode in an adapter's place (hot plug) is a warning in diags for
 * each guest whose mdev holds the adapter.  record (apply, under its lock):
 * then make the records what is seen now, and drop those of adapters in no
 * such mdev; a card that is away, or whose type cannot be read, keeps its
 * record, and note the uevent number the host was read at.  Without record
 * (diff, status) the records only serve to compare.  While that number has
 * not moved, a recorded card is not read again (owner.c).  Returns whether
 * the records changed.
 */
bool apply_check_cards(struct owner_db *o, const struct live *l, bool record, struct diag_list *diags);

/*
 * What the earlier rounds of one apply run failed at (apply_plan() adds to
 * it): nothing in it is tried again in the same run.  A guest a step of
 * which failed gets no more actions; a host-level step (a mask write, a
 * queue move) that failed is not tried again, and what needs it is skipped,
 * so that the guests that do not need it still get their matrix.
 */
struct apply_history {
	char **guests;
	size_t n_guests, cap_guests;
	struct action *host; /* kind, number and bits of each failed host-level action */
	size_t n_host, cap_host;
	/*
	 * Adapters assigned again (action.refilter) in an earlier round: not
	 * again in this run.  If the kernel still keeps one out, something the
	 * host does not show (a queue it cannot use) does.
	 */
	struct action *refiltered; /* uuid and number */
	size_t n_refiltered, cap_refiltered;
	/*
	 * The guest actions that failed or were skipped (kind, uuid, number,
	 * bits and the matrix written), and in which round: said and counted
	 * once a run, not in every round that plans them again.
	 */
	struct apply_said {
		struct action a;
		unsigned round;
	} *said;
	size_t n_said, cap_said;
	unsigned round; /* apply_plan() calls so far */
};

void apply_history_done(struct apply_history *h);
/* a is a refilter action for an adapter assigned again earlier in this run */
bool apply_history_refiltered(const struct apply_history *h, const struct action *a);

/*
 * Run the plan's actions in order.  history may be NULL (one round); stop
 * may be NULL (never stop early).  ret->stopped and ret->left say whether
 * stop ended the run early, and how many actions it left untried.
 */
int apply_plan(struct sysfs *s, struct owner_db *o, const struct plan *p, const struct live *l,
	       struct apply_history *history, apply_report_fn report, apply_stop_fn stop, void *userdata,
	       struct apply_result *ret);
/* Set ret's pending, pending_force and pending_maybe to p's pending actions, as apply_plan() counts them. */
void apply_count_pending(const struct plan *p, struct apply_result *ret);

/* Explain a failed write in words, naming APQNs and the mdev in the way. malloc'd. */
char *apply_explain(const struct action *a, int err, const struct live *l);
