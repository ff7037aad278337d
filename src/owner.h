/* SPDX-License-Identifier: MIT */
/*
 * owner.h: what apmatrix itself did, so that it only ever undoes that
 * (DESIGN §5), and the locks that serialise appliers.
 *
 * State lives in RUNDIR/state (RUNDIR = /run/apmatrix), which has the
 * lifetime of the kernel objects it describes: mdevs and mask changes are
 * gone at reboot, and so is /run.  It is rewritten atomically (temp file,
 * fsync, rename, fsync of the directory) after every change, so a crash
 * leaves either the old or the new record, never a torn one.  The card
 * records (struct owner_card) live beside it in RUNDIR/cards, written the
 * same way.
 *
 * Locks: RUNDIR/lock (flock) first, then the s390-tools lock
 * /run/lock/s390apconfig.lock (link()-based PID file, same protocol as
 * s390-tools' libutil util_lockfile, so chzdev and mdevctl's ap-check callout
 * wait for us and we for them; a stale lock of a dead PID is broken).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bitmap.h"

#define OWNER_DEFAULT_RUNDIR "/run/apmatrix"
#define OWNER_S390_LOCK "/run/lock/s390apconfig.lock"

struct owner_mdev {
	char uuid[37];
	char *guest;
};

/*
 * Adapters of an mdev that apmatrix assigned again so that the kernel (6.0 -
 * 6.9) would filter the guest's view again, and that the kernel still kept
 * out (plan.c plan_refilter()): not assigned again until the kernel shows
 * the adapter, or it leaves the mdev's matrix, or the mdev goes (or the
 * next boot), so that apply settles instead of writing the same two lines
 * on every run.
 */
struct owner_kept_out {
	char uuid[37];
	struct bitmap256 adapters;
};

/*
 * What a card in an mdev apmatrix owns was when apmatrix last saw it, so
 * that apply can tell when another type or mode took its place (hot plug).
 * type NULL: no record; mode NULL: the kernel did not tell.  Kept in
 * RUNDIR/cards, apart from the ownership records: an observation, loaded
 * leniently (owner.c).
 */
struct owner_card {
	char *type; /* "CEX5A" */
	char *mode; /* "accel", "cca", "ep11" */
};

/* An mdev whose create failed in the last apply run (RUNDIR/failed, owner.c) */
struct owner_failed_create {
	char uuid[37];
	char err[24]; /* the errno's name ("EIO"), "" when it has none */
};

struct owner_db {
	char *rundir;
	struct owner_mdev *mdevs; /* sorted by uuid */
	size_t n_mdevs, cap_mdevs;
	struct bitmap256 apmask_taken; /* apmask bits apmatrix cleared */
	struct bitmap256 aqmask_taken; /* aqmask bits apmatrix cleared */
	/* rfc2017 profile: queues apmatrix moved from the host driver to the vfio driver */
	struct bitmap256 queues_taken[256]; /* queues_taken[adapter] = domains */
	struct owner_kept_out *kept_out; /* in no order; few */
	size_t n_kept_out, cap_kept_out;
	struct owner_card cards[256]; /* by adapter; RUNDIR/cards */
	/* the kernel's uevent number when the card records were last checked against the cards */
	bool has_cards_seqnum;
	unsigned long long cards_seqnum;
	char cards_boot[37]; /* and the kernel's boot ID then */
	bool cards_unsaved;  /* cards differ from RUNDIR/cards */
	bool state_outdated; /* RUNDIR/state is of version 2, or of another boot: written back */
	char boot[37];       /* this boot's ID, "" when it cannot be read */
	char state_boot[37]; /* RUNDIR/boot: the boot RUNDIR/state was written in, "" if unknown */
	struct owner_failed_create *failed_creates; /* RUNDIR/failed, as loaded; in no order */
	size_t n_failed_creates;
};

/* Load RUNDIR/state; a missing directory or file is an empty database. */
int owner_load(const char *rundir, struct owner_db **ret);
/*
 * The same; on failure *ret_why (if not NULL) names the file and says why:
 * "/run/apmatrix/state: line 3 ('bogus 1') is not a record this apmatrix
 * writes" when it is not a state file (-EBADMSG), the errno's text
 * otherwise.  On success it is a warning, or NULL: records of another boot
 * (RUNDIR/boot) are not trusted, the database is empty as if the file had
 * been moved aside, and the next owner_save() replaces them.  The caller
 * frees it.
 */
int owner_load_explained(const char *rundir, struct owner_db **ret, char **ret_why);
/*
 * Write RUNDIR/state atomically (0644; creates RUNDIR 0755 when needed), and
 * RUNDIR/cards when the card records changed (best effort: the result is
 * that of the state).
 */
int owner_save(struct owner_db *db);
/*
 * Write RUNDIR/failed (owner.c): the mdevs whose create failed in this
 * apply run (sorted here; a UUID twice is written once), or remove it when
 * there are none.  Returns 0 or -errno.
 */
int owner_save_failed_creates(const char *rundir, struct owner_failed_create *v, size_t n);
/* The errno's name ("" when none) of mdev uuid's create that failed in the last apply run, NULL if none did. */
const char *owner_create_failed(const struct owner_db *db, const char *uuid);
/* Whether what owner_save() writes differs from the files (cards, an old state version). */
bool owner_unsaved(const struct owner_db *db);
struct owner_db *owner_free(struct owner_db *db);

/*
 * Write a file the administrator asked for (`import -o FILE`) atomically: a
 * temporary file next to it, fsync, then rename over path (replace) or
 * link() to path, which fails with -EEXIST when path exists (no replace).
 * The file gets mode 0644 (less the umask).  Returns 0 or -errno; path is
 * untouched on failure.
 */
int owner_write_file(const char *path, const char *text, size_t len, bool replace);

/*
 * The file `import -o path` is to write: path itself, or, when path is a
 * symbolic link, the file the link leads to (a chain followed to its end), so
 * that the link stays and its target gets the new text (a configuration kept
 * in a repository and linked into /etc).  *ret is the path to hand to
 * owner_write_file().  Returns 0, -ENOENT for a link that leads nowhere
 * (dangling), -ELOOP for a loop of links, -EISDIR for a link to a directory,
 * or another -errno from resolving it.
 */
int owner_output_target(const char *path, char **ret);

const struct owner_mdev *owner_find_mdev(const struct owner_db *db, const char *uuid);
void owner_record_mdev(struct owner_db *db, const char *uuid, const char *guest);
void owner_forget_mdev(struct owner_db *db, const char *uuid);

/* The adapters the kernel kept out of mdev uuid's view (an empty set when none). */
struct bitmap256 owner_kept_out(const struct owner_db *db, const char *uuid);
void owner_record_kept_out(struct owner_db *db, const char *uuid, unsigned adapter);
/* Forget what is not in keep (all of it for an empty keep); returns whether anything went. */
bool owner_trim_kept_out(struct owner_db *db, const char *uuid, const struct bitmap256 *keep);

/*
 * Record adapter's card as type and mode (mode NULL: unknown).  Values the
 * state file cannot carry (not [A-Za-z0-9_.+-]{1,32}) are not recorded: a
 * type, then nothing at all, a mode, then as unknown.  Returns whether the
 * record changed.
 */
bool owner_record_card(struct owner_db *db, unsigned adapter, const char *type, const char *mode);
void owner_forget_card(struct owner_db *db, unsigned adapter);
/* The card records are those of the cards at uevent seqnum of boot (a canonical UUID); true if that changed. */
bool owner_record_cards_seqnum(struct owner_db *db, unsigned long long seqnum, const char *boot);

struct owner_lock;
/*
 * Take both locks, waiting up to timeout_ms in all (-1 = forever).
 * s390_lock may be NULL to take only the apmatrix lock.
 * Returns -EWOULDBLOCK/-ETIMEDOUT when they stay taken; *ret_busy (if not
 * NULL) is then s390_lock when that one was the obstacle, NULL when it was
 * apmatrix's own lock.  -EINTR when a signal that the caller blocks came
 * while it waited (apply's SIGTERM, SIGINT, SIGHUP): the caller takes it.
 * Run as root, the run directory and those on the way are checked first
 * and made only where that passes (owner.c): -EPERM with *ret_why (if not
 * NULL; a malloc'd reason with the fix) when one is not trusted.
 */
int owner_lock(const char *rundir, const char *s390_lock, int timeout_ms, struct owner_lock **ret,
	       const char **ret_busy, char **ret_why);
/* The PID written in the s390-tools lock file, 0 if none can be read. */
long owner_s390_lock_holder(const char *s390_lock);
struct owner_lock *owner_unlock(struct owner_lock *l);
/*
 * The PID of the process that holds the apmatrix lock in rundir (an apply
 * at work), from /proc/locks, so that users who may not open the lock can
 * tell too; 0 when nobody holds it or it cannot be told.
 */
long owner_lock_holder(const char *rundir);
/*
 * RUNDIR/rerun: a request for one more plan, made by the libvirt QEMU hook
 * (hooks/libvirt-qemu-hook) when a guest with a vfio-ap hostdev has stopped,
 * before it asks systemd to start apmatrix-apply.service.  A start request
 * that comes while the unit runs is merged into the running job, and a guest
 * stop makes no uevent, so the running apply must see it itself: it takes
 * the request under its lock before it reads the host (a read that follows
 * the stop covers it), and again before it lets the lock go (a stop after
 * its last read: it plans once more).  Taking is unlink(): true when there
 * was a request, false when there was none or it cannot be removed (which
 * never makes apply loop).  Only apply takes it; diff and status never do.
 */
#define OWNER_RERUN_FILE "rerun"
bool owner_rerun_take(const char *rundir);
