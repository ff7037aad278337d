/* SPDX-License-Identifier: MIT */
/*
 * owner.c: the record of what apmatrix did (DESIGN §5) and the two locks.
 *
 * RUNDIR/state is a small line format, versioned by its first line:
 *
 *   apmatrix-state 1
 *   mdev 4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c guest1
 *   apmask-taken 0x<64 hex digits>
 *   aqmask-taken 0x<64 hex digits>
 *   queue 05.0047
 *   kept-out 4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c 0x<64 hex digits>
 *
 * mdev lines come sorted by UUID, queue lines (rfc2017 profile) by APQN.
 * Empty mask lines are not written.  Loading is strict: anything unexpected
 * (unknown keyword, malformed value, duplicate, missing final newline, a
 * newer version) is -EBADMSG, because guessing about ownership could make
 * apmatrix undo something it did not do.  The file is replaced atomically,
 * so a torn file means tampering or a bug, not a crash.
 *
 * RUNDIR/cards holds what the cards in the adapters of apmatrix's mdevs
 * were when it last saw them, sorted by adapter (the mode "-" when the
 * kernel did not tell):
 *
 *   apmatrix-cards 1
 *   seqnum 4711 0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0
 *   card 06 CEX5A accel
 *
 * seqnum is /sys/kernel/uevent_seqnum as the check of the records against
 * the cards read it (before it read them), and the kernel's boot ID.  A card
 * can neither come, go nor change its type or mode without a uevent, so
 * while the number has not moved in this boot the records are still true
 * and apply does not read the cards again.  The kernel starts the number
 * over at boot; the boot ID tells a RUNDIR that outlived one (not /run).
 * A card whose type could not be read keeps the number from being recorded.
 * Versions that do not know the line skip it, and drop it when they write
 * the file; without it the cards are read.
 *
 * That is an observation, not ownership, so it has a file of its own, loaded
 * leniently: a line it cannot read is skipped, a file it cannot read (or of
 * another version) holds no records, and the next record rewrites it.  The
 * state file keeps its version 1, which every apmatrix reads, so that a
 * package downgrade on a running host keeps working.  A state file of
 * version 2 (the same lines and card lines, written by earlier versions) is
 * read too, strictly; its card records move to RUNDIR/cards and it is
 * written back as version 1 by the next apply.
 *
 * RUNDIR/boot holds the kernel's boot ID (/proc/sys/kernel/random/boot_id)
 * of the boot RUNDIR/state was written in, one line.  /run is cleared at
 * boot, but an APMATRIX_RUNDIR elsewhere may outlive one, and after a boot
 * the records no longer tell what apmatrix did: the kernel set the masks
 * and made the mdevs anew.  A state of another boot is not trusted (as if
 * moved aside, with a warning) and the next save replaces it.  Without the
 * file (written by versions before it, or the ID unreadable) the state is
 * trusted as before.  A file of its own, not a state line: every version
 * reads state version 1 strictly, and a downgrade must keep working.  An
 * older version ignores RUNDIR/boot and does not update it, so a state it
 * wrote in a later boot is not trusted once this version is back; that
 * leaves things alone, it never undoes.  Written before the state.
 *
 * RUNDIR/failed holds the mdevs whose create failed in the last apply run
 * that wrote to the host (or tried to), with the errno's name ("-" when it
 * has none), sorted by UUID, so that status can tell such a guest from one
 * that apply has not tried yet:
 *
 *   apmatrix-failed 1
 *   create 4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c EIO
 *
 * Written at the end of such a run, after its last state write, and
 * removed by one with no failed create.  A note, not ownership: loaded
 * leniently (a line it cannot read is skipped), never with records of
 * another boot, and only while it is not older than RUNDIR/state.  Every
 * create apmatrix tries writes the state (the claim, then its withdrawal),
 * so a later apply of a version that does not know the file, which neither
 * reads nor updates it, leaves it older than the state: not trusted.  A
 * file of its own for the reason RUNDIR/boot is: the state stays version 1.
 *
 * RUNDIR/rerun, an empty file, is the libvirt hook's request for one more
 * plan (owner_rerun_take() in owner.h).
 *
 * Locks (owner_lock): an flock() on RUNDIR/lock serialises apmatrix
 * processes; then the s390-tools lock is taken with the protocol of
 * s390-tools libutil/util_lockfile.c, so that chzdev and mdevctl's ap-check
 * callout wait for us and we for them:
 *   - write "<pid>\n" into a private temporary file "<lock><pid %05d><t %02x>"
 *     next to the lock, then link() it to the lock name; link() is atomic
 *     and fails with EEXIST while someone holds the lock;
 *   - while it is held, read the PID in it: a PID that does not exist
 *     (kill(pid, 0) == ESRCH) marks a stale lock, which is unlinked and the
 *     link retried at once; an empty or zero PID older than 120 s is stale
 *     too (its writer died between creating and filling it);
 *   - release: unlink the lock only if it still carries our PID.
 * s390-tools sleeps 5, 10, ... up to 60 s between tries; apmatrix polls
 * faster (from 10 ms up to 500 ms) and gives up after the caller's timeout.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "owner.h"
#include "trust.h"
#include "uuid.h"

#define OWNER_STATE_FILE "state"
#define OWNER_CARDS_FILE "cards"
#define OWNER_BOOT_FILE "boot"
#define OWNER_FAILED_FILE "failed"
#define OWNER_FAILED_HEADER "apmatrix-failed 1"
#define OWNER_MAX_FAILED (1024 * 1024)
#define OWNER_BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"
#define OWNER_LOCK_FILE "lock"
/*
 * The records are readable by everyone: diff, show and status need them to
 * tell apmatrix's mdevs from others, a non-root user may run those
 * (apmatrix.yaml(5), PERMISSIONS), and they hold nothing that sysfs does
 * not show but the guests' names.  Only root writes them.  The lock stays
 * 0600: only an applier takes it.
 */
#define OWNER_RUNDIR_MODE 0755
#define OWNER_STATE_MODE 0644
#define OWNER_STATE_HEADER "apmatrix-state 1"
#define OWNER_STATE_HEADER_2 "apmatrix-state 2" /* read: with card lines */
#define OWNER_CARDS_HEADER "apmatrix-cards 1"
#define OWNER_MAX_CARDS (64 * 1024) /* 256 lines of up to 73 bytes, and room */
#define OWNER_MAX_STATE (4 * 1024 * 1024)
#define S390_LOCK_WAITPID 120 /* s390-tools: seconds a new lock may stay without a PID */

struct owner_lock {
	int fd;          /* flock on RUNDIR/lock */
	char *s390_lock; /* path of the s390-tools lock we hold, NULL if none */
};

/* ---- state database ---------------------------------------------------- */

/* Guest names as DESIGN §2 allows them: [A-Za-z0-9_.-]{1,64}. */
static bool guest_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

/* A card type or mode as the state file can carry it: [A-Za-z0-9_.+-]{1,32}, not "-". */
static bool card_token_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || streq(s, "-"))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.+-", s[i]))
			return false;
	return true;
}

static int mdev_cmp(const void *a, const void *b)
{
	return strcmp(((const struct owner_mdev *)a)->uuid, ((const struct owner_mdev *)b)->uuid);
}

/* The key for uuid: its first 36 characters, lowercase. */
static void mdev_key(struct owner_mdev *key, const char *uuid)
{
	size_t i;

	for (i = 0; i < 36 && uuid[i]; i++)
		key->uuid[i] = (char)tolower((unsigned char)uuid[i]);
	key->uuid[i] = '\0';
}

/* Where key is, or would go, in the sorted db->mdevs. */
static size_t mdev_slot(const struct owner_db *db, const struct owner_mdev *key)
{
	size_t lo = 0, hi = db->n_mdevs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mdev_cmp(&db->mdevs[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct owner_mdev *find_mdev(const struct owner_db *db, const char *uuid)
{
	struct owner_mdev key = { 0 };
	size_t i;

	if (strlen(uuid) != 36)
		return NULL;
	mdev_key(&key, uuid);
	i = mdev_slot(db, &key);
	return i < db->n_mdevs && mdev_cmp(&db->mdevs[i], &key) == 0 ? &db->mdevs[i] : NULL;
}

const struct owner_mdev *owner_find_mdev(const struct owner_db *db, const char *uuid)
{
	return find_mdev(db, uuid);
}

void owner_record_mdev(struct owner_db *db, const char *uuid, const char *guest)
{
	struct owner_mdev key = { 0 };
	size_t i;

	mdev_key(&key, uuid);
	i = mdev_slot(db, &key); /* one search, for both cases */
	if (i < db->n_mdevs && mdev_cmp(&db->mdevs[i], &key) == 0) {
		free(db->mdevs[i].guest);
		db->mdevs[i].guest = xstrdup(guest);
		return;
	}
	/* into its sorted place (the state file lists them sorted: at the end) */
	db->mdevs = xgrow_raw(db->mdevs, &db->cap_mdevs, db->n_mdevs + 1, sizeof(*db->mdevs));
	memmove(&db->mdevs[i + 1], &db->mdevs[i], (db->n_mdevs - i) * sizeof(*db->mdevs));
	key.guest = xstrdup(guest);
	db->mdevs[i] = key;
	db->n_mdevs++;
}

void owner_forget_mdev(struct owner_db *db, const char *uuid)
{
	struct owner_mdev *m = find_mdev(db, uuid);
	size_t i;

	if (!m)
		return;
	i = (size_t)(m - db->mdevs);
	free(m->guest);
	memmove(m, m + 1, (db->n_mdevs - i - 1) * sizeof(*m));
	db->n_mdevs--;
}

static struct owner_kept_out *find_kept_out(const struct owner_db *db, const char *uuid)
{
	for (size_t i = 0; i < db->n_kept_out; i++)
		if (strcasecmp(db->kept_out[i].uuid, uuid) == 0)
			return &db->kept_out[i];
	return NULL;
}

struct bitmap256 owner_kept_out(const struct owner_db *db, const char *uuid)
{
	const struct owner_kept_out *k = db ? find_kept_out(db, uuid) : NULL;

	return k ? k->adapters : (struct bitmap256){ { 0 } };
}

void owner_record_kept_out(struct owner_db *db, const char *uuid, unsigned adapter)
{
	struct owner_kept_out *k = find_kept_out(db, uuid);

	if (!k) {
		struct owner_mdev key = { 0 };

		db->kept_out = xgrow_raw(db->kept_out, &db->cap_kept_out, db->n_kept_out + 1, sizeof(*db->kept_out));
		k = &db->kept_out[db->n_kept_out++];
		*k = (struct owner_kept_out){ 0 };
		mdev_key(&key, uuid);
		memcpy(k->uuid, key.uuid, sizeof(k->uuid));
	}
	bitmap_set(&k->adapters, adapter);
}

bool owner_trim_kept_out(struct owner_db *db, const char *uuid, const struct bitmap256 *keep)
{
	struct owner_kept_out *k = find_kept_out(db, uuid);
	struct bitmap256 left;

	if (!k)
		return false;
	left = bitmap_and(&k->adapters, keep);
	if (bitmap_equal(&left, &k->adapters))
		return false;
	k->adapters = left;
	if (bitmap_empty(&left)) {
		size_t i = (size_t)(k - db->kept_out);

		memmove(k, k + 1, (db->n_kept_out - i - 1) * sizeof(*k));
		db->n_kept_out--;
	}
	return true;
}

bool owner_record_card(struct owner_db *db, unsigned adapter, const char *type, const char *mode)
{
	const struct owner_card *c;

	if (adapter > 255 || !type || !card_token_ok(type))
		return false;
	if (mode && !card_token_ok(mode))
		mode = NULL; /* as if the kernel had not told it */
	c = &db->cards[adapter];
	if (c->type && streq(c->type, type) && (c->mode && mode ? streq(c->mode, mode) : c->mode == mode))
		return false;
	owner_forget_card(db, adapter);
	db->cards[adapter].type = xstrdup(type);
	db->cards[adapter].mode = mode ? xstrdup(mode) : NULL;
	db->cards_unsaved = true;
	return true;
}

bool owner_record_cards_seqnum(struct owner_db *db, unsigned long long seqnum, const char *boot)
{
	if (!boot || !uuid_is_canonical(boot))
		return false;
	if (db->has_cards_seqnum && db->cards_seqnum == seqnum && streq(db->cards_boot, boot))
		return false;
	db->has_cards_seqnum = true;
	db->cards_seqnum = seqnum;
	memcpy(db->cards_boot, boot, sizeof(db->cards_boot));
	db->cards_unsaved = true;
	return true;
}

void owner_forget_card(struct owner_db *db, unsigned adapter)
{
	if (adapter > 255 || !db->cards[adapter].type)
		return;
	free(db->cards[adapter].type);
	free(db->cards[adapter].mode);
	db->cards[adapter] = (struct owner_card){ 0 };
	db->cards_unsaved = true;
}

struct owner_db *owner_free(struct owner_db *db)
{
	if (!db)
		return NULL;
	for (unsigned a = 0; a < 256; a++)
		owner_forget_card(db, a);
	for (size_t i = 0; i < db->n_mdevs; i++)
		free(db->mdevs[i].guest);
	free(db->mdevs);
	free(db->kept_out);
	free(db->failed_creates);
	free(db->rundir);
	free(db);
	return NULL;
}

static void owner_freep(struct owner_db **db)
{
	owner_free(*db);
}

/* "0x" + exactly 64 hex digits, as bitmap_to_kernel() writes it. */
static int parse_mask(const char *s, struct bitmap256 *ret)
{
	if (strncmp(s, "0x", 2) != 0 || strlen(s) != 66)
		return -EBADMSG;
	for (int i = 2; i < 66; i++)
		if (!isxdigit((unsigned char)s[i]))
			return -EBADMSG;
	return bitmap_from_kernel(s, ret) < 0 ? -EBADMSG : 0;
}

static int parse_apqn(const char *s, unsigned *ret_a, unsigned *ret_d)
{
	unsigned v[2] = { 0, 0 };

	if (strlen(s) != 7 || s[2] != '.')
		return -EBADMSG;
	for (int i = 0; i < 7; i++) {
		if (i == 2)
			continue;
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return -EBADMSG;
		v[i > 2] = v[i > 2] * 16 + (unsigned)(isdigit((unsigned char)s[i]) ? s[i] - '0' : s[i] - 'a' + 10);
	}
	if (v[1] > 255)
		return -EBADMSG;
	*ret_a = v[0];
	*ret_d = v[1];
	return 0;
}

/* "card AA TYPE MODE" after the keyword (AA as in a queue line), recorded unless a record exists */
static int parse_card(struct owner_db *db, const char *aa, const char *type, const char *mode)
{
	_cleanup_free_ char *apqn = NULL;
	unsigned a, d;

	if (!aa || !type || !mode)
		return -EBADMSG;
	apqn = xasprintf("%s.0000", aa);
	if (parse_apqn(apqn, &a, &d) < 0 || db->cards[a].type || !card_token_ok(type) ||
	    (!streq(mode, "-") && !card_token_ok(mode)))
		return -EBADMSG;
	(void)owner_record_card(db, a, type, streq(mode, "-") ? NULL : mode);
	return 0;
}

/*
 * A record line of either file into its keyword and the fields after it,
 * f[0] .. f[4] (NULL where there are fewer; f[4] set: one too many): false
 * unless the fields are split by exactly one space, nothing else.
 */
static bool split_record(char *line, char *f[5])
{
	char *save = NULL;

	if (!*line || line[0] == ' ' || strstr(line, "  ") || line[strlen(line) - 1] == ' ' ||
	    strpbrk(line, "\t\r"))
		return false;
	f[0] = strtok_r(line, " ", &save);
	for (size_t i = 1; i < 5; i++)
		f[i] = strtok_r(NULL, " ", &save);
	return true;
}

/* *ret_lineno: the line that was not understood (0: the file as a whole) */
static int parse_state(struct owner_db *db, char *text, unsigned *ret_lineno)
{
	bool have_ap = false, have_aq = false;
	char *line, *next;
	bool first = true, v2 = false;

	*ret_lineno = 0;
	if (!*text || text[strlen(text) - 1] != '\n')
		return -EBADMSG; /* empty or cut short */
	for (line = text; *line; line = next) {
		char *nl = strchr(line, '\n'), *f[5], *key, *a1, *a2, *a3, *extra;

		*nl = '\0';
		next = nl + 1;
		++*ret_lineno;
		if (first) {
			v2 = streq(line, OWNER_STATE_HEADER_2);
			if (!v2 && !streq(line, OWNER_STATE_HEADER))
				return -EBADMSG;
			db->state_outdated = v2; /* written back as version 1 */
			first = false;
			continue;
		}
		if (!split_record(line, f))
			return -EBADMSG;
		key = f[0];
		a1 = f[1];
		a2 = f[2];
		a3 = f[3]; /* card lines only */
		extra = f[4];
		if (!key || !a1 || extra || (a3 && !streq(key, "card")))
			return -EBADMSG;
		if (streq(key, "mdev")) {
			if (!a2 || !uuid_is_canonical(a1) || !guest_name_ok(a2) || find_mdev(db, a1))
				return -EBADMSG;
			owner_record_mdev(db, a1, a2);
		} else if (streq(key, "apmask-taken") || streq(key, "aqmask-taken")) {
			bool ap = key[1] == 'p';

			if (a2 || (ap ? have_ap : have_aq))
				return -EBADMSG;
			if (parse_mask(a1, ap ? &db->apmask_taken : &db->aqmask_taken) < 0)
				return -EBADMSG;
			*(ap ? &have_ap : &have_aq) = true;
		} else if (streq(key, "queue")) {
			unsigned a, d;

			if (a2 || parse_apqn(a1, &a, &d) < 0 || bitmap_test(&db->queues_taken[a], d))
				return -EBADMSG;
			bitmap_set(&db->queues_taken[a], d);
		} else if (streq(key, "kept-out")) {
			struct bitmap256 b;

			if (!a2 || !uuid_is_canonical(a1) || find_kept_out(db, a1) || parse_mask(a2, &b) < 0 ||
			    bitmap_empty(&b))
				return -EBADMSG;
			BITMAP_FOREACH(a, &b)
			owner_record_kept_out(db, a1, (unsigned)a);
		} else if (streq(key, "card") && v2) {
			if (parse_card(db, a1, a2, a3) < 0)
				return -EBADMSG;
		} else {
			return -EBADMSG;
		}
	}
	return 0;
}

static bool any_card(const struct owner_db *db)
{
	for (unsigned a = 0; a < 256; a++)
		if (db->cards[a].type)
			return true;
	return false;
}

/* "seqnum N BOOT" of RUNDIR/cards: N decimal digits only, as the kernel prints it; BOOT a canonical UUID */
static void parse_seqnum(struct owner_db *db, const char *v, const char *boot)
{
	unsigned long long n;

	if (parse_decimal_ull(v, &n) < 0 || !uuid_is_canonical(boot))
		return;
	db->has_cards_seqnum = true;
	db->cards_seqnum = n;
	memcpy(db->cards_boot, boot, sizeof(db->cards_boot));
}

/*
 * Run as root, the records are trusted only as the configuration is
 * (trust.h): the run directory and every directory on the way owned by
 * root and writable by no one else (a sticky one is fine: a tmpfs mounted
 * without mode=), checked from "/" down before anything is read or made in
 * them, and the state owned by root and writable by root alone.  Not run as
 * root, nothing is checked (a user's own copy, as for check on captured
 * records).
 */
static char *untrusted(const struct stat *st, const char *path)
{
	_cleanup_free_ char *what = NULL;

	if (geteuid() != 0)
		return NULL;
	what = xasprintf("%s is ", path);
	return trust_why(st, what, path, false);
}

/* Whether root may not trust the records file at path: its leniently read companions are then not read. */
static bool untrusted_quiet(const struct stat *st, const char *path)
{
	_cleanup_free_ char *why = untrusted(st, path);

	return why != NULL;
}

/*
 * RUNDIR/cards, leniently (see the top): what cannot be read is no record.
 * Card lines of a version 2 state file, loaded before, win over it: the
 * version that wrote them did not know this file.
 */
static void load_cards(struct owner_db *db)
{
	bool unsaved = db->cards_unsaved; /* loading what is saved changes nothing */
	_cleanup_free_ char *path = xasprintf("%s/%s", db->rundir, OWNER_CARDS_FILE), *text = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	char *line, *save = NULL;
	struct stat st;
	size_t len = 0;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || untrusted_quiet(&st, path) ||
	    read_fd_all(fd, OWNER_MAX_CARDS, false, &text, &len) < 0 || strlen(text) != len)
		return;
	line = strtok_r(text, "\n", &save);
	if (!line || !streq(line, OWNER_CARDS_HEADER))
		return;
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *f[5];

		if (!split_record(line, f) || !f[0])
			continue;
		/* a bad line or a second one for an adapter: skipped */
		if (streq(f[0], "card") && !f[4])
			(void)parse_card(db, f[1], f[2], f[3]);
		else if (streq(f[0], "seqnum") && f[1] && f[2] && !f[3] && !db->has_cards_seqnum)
			parse_seqnum(db, f[1], f[2]);
	}
	db->cards_unsaved = unsaved;
}

/* An errno's name as RUNDIR/failed carries it: [A-Z0-9]{1,23} */
static bool errno_token_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(((struct owner_failed_create *)NULL)->err))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * RUNDIR/failed, leniently (see the top), when it is not older than the
 * state file (state_st; NULL: nothing is older).
 */
static void load_failed_creates(struct owner_db *db, const struct stat *state_st)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", db->rundir, OWNER_FAILED_FILE), *text = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	size_t len = 0, cap = 0;
	char *line, *save = NULL;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || untrusted_quiet(&st, path))
		return; /* another user's note is none */
	if (state_st && (st.st_mtim.tv_sec < state_st->st_mtim.tv_sec ||
			 (st.st_mtim.tv_sec == state_st->st_mtim.tv_sec && st.st_mtim.tv_nsec < state_st->st_mtim.tv_nsec)))
		return; /* an apply since did not write it: one of a version that does not know it */
	if (read_fd_all(fd, OWNER_MAX_FAILED, false, &text, &len) < 0 || strlen(text) != len)
		return;
	line = strtok_r(text, "\n", &save);
	if (!line || !streq(line, OWNER_FAILED_HEADER))
		return;
	while ((line = strtok_r(NULL, "\n", &save))) {
		struct owner_failed_create *c;
		char *f[5];

		if (!split_record(line, f) || !f[0] || !streq(f[0], "create") || !f[1] || !f[2] || f[3] ||
		    !uuid_is_canonical(f[1]) || (!streq(f[2], "-") && !errno_token_ok(f[2])) ||
		    owner_create_failed(db, f[1]))
			continue;
		db->failed_creates = xgrow(db->failed_creates, &cap, db->n_failed_creates + 1, sizeof(*db->failed_creates));
		c = &db->failed_creates[db->n_failed_creates++];
		memcpy(c->uuid, f[1], sizeof(c->uuid));
		snprintf(c->err, sizeof(c->err), "%s", streq(f[2], "-") ? "" : f[2]);
	}
}

const char *owner_create_failed(const struct owner_db *db, const char *uuid)
{
	for (size_t i = 0; db && i < db->n_failed_creates; i++)
		if (streq(db->failed_creates[i].uuid, uuid))
			return db->failed_creates[i].err;
	return NULL;
}

/* Why text (a state file) is not one: "line 3 ('bogus 1') is not ..." */
static char *explain_state(const char *text, bool has_nul, unsigned lineno)
{
	const char *line = text;
	size_t n;
	char *quoted;

	if (has_nul)
		return xstrdup("it holds a NUL byte, which apmatrix never writes");
	if (lineno == 0)
		return xstrdup(*text ? "it is cut short (no newline at its end)" : "it is empty");
	for (unsigned i = 1; i < lineno; i++)
		line = strchr(line, '\n') + 1;
	n = strcspn(line, "\n");
	quoted = xasprintf("'%.*s%s'", (int)(n > 64 ? 64 : n), line, n > 64 ? "..." : "");
	for (char *c = quoted; *c; c++)
		if (!isprint((unsigned char)*c))
			*c = '?';
	if (lineno == 1) {
		char *why = xasprintf("line 1 (%s) is not a format this apmatrix reads (%s or %s; a newer apmatrix "
				      "wrote it?)",
				      quoted, OWNER_STATE_HEADER, OWNER_STATE_HEADER_2);
		free(quoted);
		return why;
	}
	char *why = xasprintf("line %u (%s) is not a record this apmatrix writes", lineno, quoted);
	free(quoted);
	return why;
}

/* r, with *ret_why = "PATH: WHY" (why taken; strerror when NULL) if ret_why */
static int load_failed(const char *path, int r, char *why, char **ret_why)
{
	if (ret_why)
		*ret_why = xasprintf("%s: %s", path, why ? why : strerror(-r));
	free(why);
	return r;
}

/*
 * A boot ID, one canonical UUID and a newline, from path into id; "" when
 * there is none, or when it is RUNDIR's and root may not trust it: in a
 * sticky run directory another user could otherwise make root's records be
 * taken for another boot's.
 */
static void read_boot_file(int dfd, const char *path, bool records, char id[static 37])
{
	_cleanup_close_ int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	_cleanup_free_ char *text = NULL;
	struct stat st;
	size_t len = 0;

	id[0] = '\0';
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (records && untrusted_quiet(&st, path)) ||
	    read_fd_all(fd, 128, false, &text, &len) < 0 || len != 37 || text[36] != '\n')
		return;
	text[36] = '\0';
	if (uuid_is_canonical(text))
		memcpy(id, text, 37);
}

int owner_load(const char *rundir, struct owner_db **ret)
{
	return owner_load_explained(rundir, ret, NULL);
}

int owner_load_explained(const char *rundir, struct owner_db **ret, char **ret_why)
{
	_cleanup_(owner_freep) struct owner_db *db = NULL;
	_cleanup_free_ char *path = NULL, *text = NULL, *copy = NULL, *boot_path = NULL;
	_cleanup_close_ int fd = -EBADF, dfd = -EBADF;
	unsigned lineno = 0;
	struct stat st;
	size_t len = 0;
	bool nul;
	int r;

	db = xcalloc(1, sizeof(*db));
	db->rundir = xstrdup(rundir ? rundir : OWNER_DEFAULT_RUNDIR);
	read_boot_file(AT_FDCWD, OWNER_BOOT_ID_PATH, false, db->boot);
	path = xasprintf("%s/%s", db->rundir, OWNER_STATE_FILE);
	if (geteuid() == 0) {
		char *why = NULL;

		dfd = trust_open_workdir(db->rundir, 0, &why);
		if (dfd == -ENOENT || dfd == -ENOTDIR) {
			/* no run directory (the ones on the way to it checked): no records */
			free(why);
			load_cards(db);
			*ret = TAKE_PTR(db);
			return 0;
		}
		if (dfd < 0)
			return load_failed(path, dfd, why, ret_why);
	}
	/* O_NONBLOCK: a FIFO put there must not block the open (with the locks held) */
	fd = openat(dfd >= 0 ? dfd : AT_FDCWD, dfd >= 0 ? OWNER_STATE_FILE : path,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return load_failed(path, -errno, NULL, ret_why);
		load_cards(db);
		/* no RUNDIR/failed: every create writes the state first, so a note without one is older */
		*ret = TAKE_PTR(db);
		return 0;
	}
	if (fstat(fd, &st) < 0)
		return load_failed(path, -errno, NULL, ret_why);
	if (S_ISDIR(st.st_mode))
		return load_failed(path, -EISDIR, NULL, ret_why);
	if (!S_ISREG(st.st_mode))
		return load_failed(path, -EINVAL, xstrdup("it is not a regular file"), ret_why);
	{
		char *why = untrusted(&st, path);

		if (why)
			return load_failed(path, -EPERM, why, ret_why);
	}
	r = read_fd_all(fd, OWNER_MAX_STATE, false, &text, &len);
	if (r < 0)
		return load_failed(path, r, NULL, ret_why);
	nul = strlen(text) != len;
	copy = ret_why ? xstrdup(text) : NULL; /* parse_state() cuts text up */
	r = nul ? -EBADMSG : parse_state(db, text, &lineno);
	if (r < 0)
		return load_failed(path, r, ret_why ? explain_state(copy, nul, lineno) : NULL, ret_why);
	/* card records from a version 2 state are not in RUNDIR/cards yet */
	db->cards_unsaved = db->state_outdated && any_card(db);
	boot_path = xasprintf("%s/%s", db->rundir, OWNER_BOOT_FILE);
	read_boot_file(AT_FDCWD, boot_path, true, db->state_boot);
	if (db->boot[0] && db->state_boot[0] && !streq(db->boot, db->state_boot)) {
		/* another boot's: as if moved aside (apmatrix(8), FILES); written back */
		_cleanup_(owner_freep) struct owner_db *fresh = xcalloc(1, sizeof(*fresh));

		fresh->rundir = TAKE_PTR(db->rundir);
		memcpy(fresh->boot, db->boot, sizeof(fresh->boot));
		memcpy(fresh->state_boot, db->state_boot, sizeof(fresh->state_boot));
		fresh->state_outdated = true;
		owner_free(TAKE_PTR(db));
		db = TAKE_PTR(fresh);
		if (ret_why)
			*ret_why = xasprintf("the ownership records in %s are of another boot (%s, this is %s): not "
					     "trusting them, as if moved aside; apply replaces them",
					     path, db->state_boot, db->boot);
	} else
		load_failed_creates(db, &st);
	load_cards(db);
	*ret = TAKE_PTR(db);
	return 0;
}

/* mkdir -p with mode for the last component; existing directories are fine. */
static int mkdir_parents(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Earlier versions made the directory 0700 and the state 0600, and /run
 * keeps them until the next boot; a umask of 077 makes the same modes, and
 * a replaced file keeps its mode.  Open exactly those modes up, on files of
 * our own, so that a converged host (no state written) is readable too.
 */
static void open_up_records(const char *rundir)
{
	static const char *const files[] = { OWNER_STATE_FILE, OWNER_CARDS_FILE, OWNER_FAILED_FILE };
	struct stat st;

	if (lstat(rundir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	    (st.st_mode & 07777) == 0700)
		(void)chmod(rundir, OWNER_RUNDIR_MODE);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", rundir, files[i]);

		/* one name only: a hard link in a sticky directory is a file elsewhere too */
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_nlink == 1 &&
		    (st.st_mode & 07777) == 0600)
			(void)chmod(path, OWNER_STATE_MODE);
	}
}

static char *format_state(const struct owner_db *db, size_t *ret_len)
{
	static const struct bitmap256 zero;
	char *out = NULL, buf[BITMAP_KERNEL_LEN];
	FILE *f = open_memstream(&out, ret_len);

	if (!f)
		return NULL;
	fprintf(f, "%s\n", OWNER_STATE_HEADER);
	for (size_t i = 0; i < db->n_mdevs; i++)
		fprintf(f, "mdev %s %s\n", db->mdevs[i].uuid, db->mdevs[i].guest);
	if (!bitmap_equal(&db->apmask_taken, &zero)) {
		bitmap_to_kernel(&db->apmask_taken, buf);
		fprintf(f, "apmask-taken %s\n", buf);
	}
	if (!bitmap_equal(&db->aqmask_taken, &zero)) {
		bitmap_to_kernel(&db->aqmask_taken, buf);
		fprintf(f, "aqmask-taken %s\n", buf);
	}
	for (unsigned a = 0; a < 256; a++)
		BITMAP_FOREACH(d, &db->queues_taken[a])
			fprintf(f, "queue %02x.%04x\n", a, (unsigned)d);
	for (size_t i = 0; i < db->n_kept_out; i++) {
		bitmap_to_kernel(&db->kept_out[i].adapters, buf);
		fprintf(f, "kept-out %s %s\n", db->kept_out[i].uuid, buf);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static char *format_cards(const struct owner_db *db, size_t *ret_len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, ret_len);

	if (!f)
		return NULL;
	fprintf(f, "%s\n", OWNER_CARDS_HEADER);
	if (db->has_cards_seqnum)
		fprintf(f, "seqnum %llu %s\n", db->cards_seqnum, db->cards_boot);
	for (unsigned a = 0; a < 256; a++)
		if (db->cards[a].type)
			fprintf(f, "card %02x %s %s\n", a, db->cards[a].type,
				db->cards[a].mode ? db->cards[a].mode : "-");
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/*
 * Write text to dir/base through a temporary name in the same directory
 * (".BASE.PID.tmp"; remove_stale_temp_files() knows those of the state),
 * fsync it, then rename it over base (replace) or link it to base, which
 * fails with -EEXIST when base exists; last, fsync the directory so that
 * the name is durable.
 * On any error the temporary name is removed and base is as it was.
 */
static int write_file_in(const char *dir, const char *base, const char *text, size_t len, mode_t mode,
			 bool replace, bool records)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	size_t off = 0;
	int fd, r = 0;

	if (dfd < 0)
		return -errno;
	tmp = xasprintf(".%s.%d.tmp", base, (int)getpid());
	(void)unlinkat(dfd, tmp, 0); /* a leftover of a crashed run with our PID */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	/*
	 * the records: always root's and 0644 (mode), whoever owned what they
	 * replace; chown only where needed (a setgid directory's group): the
	 * unit runs without CAP_CHOWN and without the chown system calls
	 */
	if (records && geteuid() == 0) {
		if (fstat(fd, &st) < 0 || ((st.st_uid != 0 || st.st_gid != 0) && fchown(fd, 0, 0) < 0) ||
		    fchmod(fd, mode) < 0)
			r = -errno;
	}
	/* a file replaced keeps its mode and owner (import -o --force over a 0600 file) */
	if (!records && replace && fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
		if (fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM)
			r = -errno;
		if (r == 0 && fchmod(fd, st.st_mode & 07777) < 0)
			r = -errno;
	}
	while (r == 0 && off < len) {
		ssize_t k = write(fd, text + off, len - off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		off += (size_t)k;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && replace && renameat(dfd, tmp, dfd, base) < 0)
		r = -errno;
	if (r == 0 && !replace && linkat(dfd, tmp, dfd, base, 0) < 0)
		r = -errno;
	if (r < 0 || !replace)
		(void)unlinkat(dfd, tmp, 0); /* linked, or failed (best effort: the error is what matters) */
	if (r < 0)
		return r;
	if (fsync(dfd) < 0)
		return -errno;
	return 0;
}

int owner_save(struct owner_db *db)
{
	_cleanup_free_ char *text = NULL, *cards = NULL;
	size_t len = 0, cards_len = 0;
	int r;

	for (size_t i = 0; i < db->n_mdevs; i++)
		if (!uuid_is_canonical(db->mdevs[i].uuid) || !guest_name_ok(db->mdevs[i].guest))
			return -EINVAL; /* would not load again */
	for (size_t i = 0; i < db->n_kept_out; i++)
		if (!uuid_is_canonical(db->kept_out[i].uuid))
			return -EINVAL;
	text = format_state(db, &len);
	if (!text)
		return -ENOMEM;

	r = mkdir_parents(db->rundir, OWNER_RUNDIR_MODE);
	if (r < 0)
		return r;
	/*
	 * The cards first: a version 2 state gives its card records up only
	 * once they are in their own file.  Best effort: they are observations,
	 * kept in memory as unsaved for the next save if this one fails.
	 */
	if (db->cards_unsaved) {
		cards = format_cards(db, &cards_len);
		if (cards && write_file_in(db->rundir, OWNER_CARDS_FILE, cards, cards_len, OWNER_STATE_MODE, true, true) == 0)
			db->cards_unsaved = false;
	}
	/*
	 * The boot first, so that a state is never taken for one of another
	 * boot; but a state of another boot goes before: were the new state's
	 * write to fail after the boot's, the old one would be trusted as this
	 * boot's.  A state left with the other boot's ID is the safe failure.
	 */
	if (db->boot[0] && !streq(db->boot, db->state_boot)) {
		_cleanup_free_ char *line = xasprintf("%s\n", db->boot);

		if (db->state_boot[0]) {
			_cleanup_free_ char *old = xasprintf("%s/%s", db->rundir, OWNER_STATE_FILE);

			if (unlink(old) < 0 && errno != ENOENT)
				return -errno;
		}
		r = write_file_in(db->rundir, OWNER_BOOT_FILE, line, strlen(line), OWNER_STATE_MODE, true, true);
		if (r < 0)
			return r;
		memcpy(db->state_boot, db->boot, sizeof(db->state_boot));
	}
	r = write_file_in(db->rundir, OWNER_STATE_FILE, text, len, OWNER_STATE_MODE, true, true);
	if (r < 0)
		return r;
	db->state_outdated = false;
	open_up_records(db->rundir); /* made under a umask of 077 */
	return 0;
}

static int failed_create_cmp(const void *a, const void *b)
{
	return strcmp(((const struct owner_failed_create *)a)->uuid, ((const struct owner_failed_create *)b)->uuid);
}

int owner_save_failed_creates(const char *rundir, struct owner_failed_create *v, size_t n)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (!rundir)
		rundir = OWNER_DEFAULT_RUNDIR;
	if (n == 0) {
		path = xasprintf("%s/%s", rundir, OWNER_FAILED_FILE);
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	}
	for (size_t i = 0; i < n; i++)
		if (!uuid_is_canonical(v[i].uuid) || (v[i].err[0] && !errno_token_ok(v[i].err)))
			return -EINVAL;
	qsort(v, n, sizeof(*v), failed_create_cmp);
	f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\n", OWNER_FAILED_HEADER);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || !streq(v[i].uuid, v[i - 1].uuid))
			fprintf(f, "create %s %s\n", v[i].uuid, v[i].err[0] ? v[i].err : "-");
	if (fclose(f) != 0)
		return -ENOMEM;
	r = mkdir_parents(rundir, OWNER_RUNDIR_MODE);
	if (r < 0)
		return r;
	r = write_file_in(rundir, OWNER_FAILED_FILE, text, len, OWNER_STATE_MODE, true, true);
	if (r == 0)
		open_up_records(rundir);
	return r;
}

bool owner_unsaved(const struct owner_db *db)
{
	return db->cards_unsaved || db->state_outdated;
}

int owner_write_file(const char *path, const char *text, size_t len, bool replace)
{
	_cleanup_free_ char *dir = NULL;
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;

	if (*base == '\0' || streq(base, ".") || streq(base, ".."))
		return -EISDIR;
	dir = slash ? xasprintf("%.*s", slash == path ? 1 : (int)(slash - path), path) : xstrdup(".");
	return write_file_in(dir, base, text, len, 0644, replace, false);
}

int owner_output_target(const char *path, char **ret)
{
	struct stat st;
	char *real;

	if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode)) {
		*ret = xstrdup(path); /* a file, a new one, or an error owner_write_file() reports */
		return 0;
	}
	real = realpath(path, NULL);
	if (!real)
		return -errno;
	if (stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
		free(real);
		return -EISDIR;
	}
	*ret = real;
	return 0;
}

/* ---- locks ------------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Wait before the next try.  Returns 0 to try again, or -EWOULDBLOCK
 * (timeout 0) / -ETIMEDOUT when the deadline has passed.
 */
/*
 * A signal the caller blocks and that has come ends the wait: apply blocks
 * SIGTERM, SIGINT and SIGHUP to take them between two steps, and waiting
 * for the locks is such a point (sigpending() lists only blocked signals).
 */
static bool blocked_signal_pending(void)
{
	sigset_t pending;

	if (sigpending(&pending) < 0)
		return false;
	for (int sig = 1; sig < SIGRTMIN; sig++)
		if (sigismember(&pending, sig) == 1)
			return true;
	return false;
}

static int backoff(int timeout_ms, long long deadline, long long *snooze)
{
	long long left;

	if (blocked_signal_pending())
		return -EINTR;
	if (timeout_ms == 0)
		return -EWOULDBLOCK;
	*snooze = *snooze ? *snooze * 2 : 10;
	if (*snooze > 500)
		*snooze = 500;
	if (timeout_ms > 0) {
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (*snooze > left)
			*snooze = left;
	}
	sleep_ms(*snooze);
	return 0;
}

static bool pid_alive(pid_t pid)
{
	/* EPERM: it exists, we only may not signal it (s390-tools does the same) */
	return kill(pid, 0) == 0 || errno != ESRCH;
}

/* The PID an s390-tools lock file holds, 0 when it holds none (yet). */
static long read_pid(int fd)
{
	char buf[40], *end;
	ssize_t k = read(fd, buf, sizeof(buf) - 1);
	long pid;

	if (k <= 0)
		return 0;
	buf[k] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	return errno || pid < 0 || pid > INT32_MAX ? 0 : pid;
}

/*
 * Open the s390-tools lock file path for reading, *st its status: the fd,
 * or -errno; -EISDIR for a directory and -EINVAL for another file that is
 * no regular one (a symbolic link: -ELOOP).  O_NONBLOCK: a FIFO put there
 * must not block the open.
 */
static int open_lock_file(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK), r;

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0)
		r = -errno;
	else if (!S_ISREG(st->st_mode))
		r = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	else
		return fd;
	(void)close(fd);
	return r;
}

/*
 * The lock exists: is it stale?  Returns 1 after removing a stale lock (try
 * again at once), 0 when a live owner holds it (wait), -errno when the path
 * is no lock file that s390-tools would write (a symbolic link: -ELOOP, a
 * directory: -EISDIR, a FIFO or device: -EINVAL) or a stale one cannot be
 * removed: waiting would never end.
 */
static int s390_lock_break_stale(const char *path)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	long pid;

	fd = open_lock_file(path, &st);
	if (fd < 0)
		return fd == -ENOENT ? 1 : fd; /* gone in the meantime: retry now */
	pid = read_pid(fd);
	if (pid > 0 && !pid_alive((pid_t)pid))
		return unlink(path) == 0 || errno == ENOENT ? 1 : -errno; /* stale: its owner is dead */
	if (pid > 0)
		return 0;
	/* no PID (yet): a lock being created, or one whose writer died */
	if (time(NULL) > st.st_mtime + S390_LOCK_WAITPID)
		return unlink(path) == 0 || errno == ENOENT ? 1 : -errno;
	return 0;
}

static int s390_lock_take(const char *path, int timeout_ms)
{
	long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	_cleanup_free_ char *tmp = NULL, *dir = NULL;
	char pidbuf[40];
	long long snooze = 0;
	int fd, len, r = 0, broken = 0;
	ssize_t k;
	char *slash;

	/* /run/lock exists on every systemd host; create it where it does not */
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		r = mkdir_parents(dir, 0755);
		if (r < 0)
			return r;
	}

	len = snprintf(pidbuf, sizeof(pidbuf), "%d\n", (int)getpid());
	tmp = xasprintf("%s%05d%02x", path, (int)getpid(), (unsigned)time(NULL) & 255);
	(void)unlink(tmp); /* only a crashed process with our PID can have left it */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	k = write(fd, pidbuf, (size_t)len);
	if (k < 0)
		r = -errno;
	else if (k != len)
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;

	while (r == 0) {
		if (link(tmp, path) == 0)
			break;
		if (errno != EEXIST) {
			r = -errno;
			break;
		}
		r = s390_lock_break_stale(path);
		if (r < 0)
			break;
		/* a stale lock removed: at once, unless others keep making stale ones (then as busy) */
		if (r > 0 && ++broken < 16) {
			r = 0;
			continue;
		}
		r = backoff(timeout_ms, deadline, &snooze);
	}
	(void)unlink(tmp); /* the lock name keeps the inode alive */
	return r;
}

static void s390_lock_release(const char *path)
{
	/* only our own lock: someone may have broken it as stale meanwhile */
	if (owner_s390_lock_holder(path) == (long)getpid())
		(void)unlink(path); /* nothing to do if it is already gone */
}

/*
 * Remove the temporary files of owner_save() runs that were killed between
 * creating and renaming them (their PID is not ours, so owner_save() would
 * never reuse the name).  Only under the flock: no other writer exists then.
 */
static void remove_stale_temp_files(const char *rundir)
{
	static const char *const prefixes[] = { "." OWNER_STATE_FILE ".", "." OWNER_CARDS_FILE ".",
						"." OWNER_FAILED_FILE "." };
	DIR *d = opendir(rundir);
	struct dirent *de;
	size_t sl = strlen(".tmp");

	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
			size_t pl = strlen(prefixes[i]);

			if (n > pl + sl && strncmp(de->d_name, prefixes[i], pl) == 0 &&
			    streq(de->d_name + n - sl, ".tmp")) {
				(void)unlinkat(dirfd(d), de->d_name, 0); /* best effort: it is only litter */
				break;
			}
		}
	}
	closedir(d);
}

long owner_s390_lock_holder(const char *s390_lock)
{
	struct stat st;
	_cleanup_close_ int fd = open_lock_file(s390_lock, &st);

	return fd < 0 ? 0 : read_pid(fd);
}

/*
 * The lock file, opened read-write, made 0600 when missing: an existing one
 * is opened without O_CREAT, which fs.protected_regular refuses even to
 * root for another user's file in a sticky directory (lock_untrusted()
 * then says why); made with O_EXCL so that one made meanwhile is opened as
 * an existing one.
 */
static int open_our_lock(int dfd, const char *name)
{
	for (unsigned tries = 0; tries < 8; tries++) {
		int fd = openat(dfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

		if (fd >= 0 || errno != ENOENT)
			return fd >= 0 ? fd : -errno;
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EAGAIN;
}

/*
 * Why root must not take the lock file at path (st its status): anyone who
 * can open it can hold its flock and keep apply from running, so it must be
 * root's regular file (owner_lock() makes it root's alone to open: one made
 * by flock(1) is 0644).  NULL when it is.
 */
static char *lock_untrusted(const struct stat *st, const char *path, const char *rundir)
{
	if (!S_ISREG(st->st_mode))
		return xasprintf("%s is not a regular file; fix: rm %s", path, path);
	/* another name of a file elsewhere (a hard link made in a sticky directory): its mode is not ours to change */
	if (st->st_nlink != 1)
		return xasprintf("%s has %ju names (a hard link), so it is a file elsewhere too, whose mode apply "
				 "would change; fix: rm %s, and let no one but root write %s",
				 path, (uintmax_t)st->st_nlink, path, rundir);
	if (st->st_uid != 0) {
		_cleanup_free_ char *who = trust_user_name(st->st_uid);

		return xasprintf("%s is owned by user %s, who could hold it and keep apply from running; fix: rm %s, "
				 "and let no one but root write %s",
				 path, who, path, rundir);
	}
	return NULL;
}

int owner_lock(const char *rundir, const char *s390_lock, int timeout_ms, struct owner_lock **ret,
	       const char **ret_busy, char **ret_why)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int dfd = -EBADF;
	long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	long long snooze = 0;
	struct owner_lock *l;
	int fd, r;

	if (ret_busy)
		*ret_busy = NULL;
	if (ret_why)
		*ret_why = NULL;
	if (!rundir)
		rundir = OWNER_DEFAULT_RUNDIR;
	if (geteuid() == 0) {
		/* checked before anything is made in it, and made only under directories that are trusted */
		char *why = NULL;

		dfd = trust_open_workdir(rundir, OWNER_RUNDIR_MODE, &why);
		if (dfd < 0) {
			if (ret_why)
				*ret_why = why;
			else
				free(why);
			return dfd;
		}
		free(why);
	} else {
		r = mkdir_parents(rundir, OWNER_RUNDIR_MODE);
		if (r < 0)
			return r;
	}
	open_up_records(rundir);
	path = xasprintf("%s/%s", rundir, OWNER_LOCK_FILE);
	fd = open_our_lock(dfd >= 0 ? dfd : AT_FDCWD, dfd >= 0 ? OWNER_LOCK_FILE : path);
	if (fd < 0)
		return fd;
	if (dfd >= 0) {
		struct stat st;
		char *why = NULL;

		r = fstat(fd, &st) < 0 ? -errno : 0;
		if (r == 0 && (why = lock_untrusted(&st, path, rundir)))
			r = -EPERM;
		if (r == 0 && (st.st_mode & 077) && fchmod(fd, st.st_mode & 07700) < 0)
			r = -errno;
		if (r < 0) {
			if (ret_why)
				*ret_why = why;
			else
				free(why);
			goto fail;
		}
	}
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			r = -errno;
			goto fail;
		}
		r = backoff(timeout_ms, deadline, &snooze);
		if (r < 0)
			goto fail;
	}
	remove_stale_temp_files(rundir);
	if (s390_lock) {
		/* what is left of the one wait that --wait gives both locks */
		int left = timeout_ms;
		if (timeout_ms > 0) {
			long long rest = deadline - now_ms();
			left = rest < 1 ? 1 : (int)rest;
		}
		r = s390_lock_take(s390_lock, left);
		if (r < 0) {
			if (ret_busy)
				*ret_busy = s390_lock;
			goto fail;
		}
	}
	l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->s390_lock = s390_lock ? xstrdup(s390_lock) : NULL;
	*ret = l;
	return 0;
fail:
	(void)close(fd); /* drops the flock, if we had it */
	return r;
}

/*
 * /proc/locks, one lock a line: "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF",
 * the device in hex major:minor and the inode in decimal; a process that
 * waits for the lock is a line with "->" after the number.
 */
long owner_lock_holder(const char *rundir)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", rundir ? rundir : OWNER_DEFAULT_RUNDIR, OWNER_LOCK_FILE);
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	struct stat st;
	long pid = 0;

	if (stat(path, &st) < 0 || !(f = fopen("/proc/locks", "re")))
		return 0;
	while (pid == 0 && getline(&line, &cap, f) > 0) {
		unsigned maj, min;
		unsigned long long ino;
		long p;
		char type[16], mode[16];

		if (sscanf(line, "%*u: %15s %*s %15s %ld %x:%x:%llu", type, mode, &p, &maj, &min, &ino) != 6)
			continue; /* also the "->" lines of waiters */
		if (streq(type, "FLOCK") && streq(mode, "WRITE") && ino == (unsigned long long)st.st_ino &&
		    maj == major(st.st_dev) && min == minor(st.st_dev))
			pid = p > 0 ? p : 0;
	}
	return pid;
}

bool owner_rerun_take(const char *rundir)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", rundir ? rundir : OWNER_DEFAULT_RUNDIR, OWNER_RERUN_FILE);

	return unlink(path) == 0;
}

struct owner_lock *owner_unlock(struct owner_lock *l)
{
	if (!l)
		return NULL;
	/* s390-tools lock first: it was taken last */
	if (l->s390_lock)
		s390_lock_release(l->s390_lock);
	free(l->s390_lock);
	(void)close(l->fd); /* closing drops the flock; nothing was written */
	free(l);
	return NULL;
}
