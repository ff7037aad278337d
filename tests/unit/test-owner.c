/* SPDX-License-Identifier: MIT */
/*
 * test-owner.c: the ownership state file (round trip, atomic rewrite,
 * strict loading) and the two locks (apmatrix flock, s390-tools PID lock).
 * Everything happens in a temporary directory.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "fakesys.h"
#include "macro.h"
#include "owner.h"
#include "tap.h"

#define UUID_A "4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c"
#define UUID_B "7d1c2a3b-0000-4000-8000-00000000beef"
#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"
#define ZERO62 "00000000000000000000000000000000000000000000000000000000000000"

static long long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_missing(void)
{
	char *tmp = fake_tmpdir();
	char *dir = xasprintf("%s/run/apmatrix", tmp);
	struct owner_db *db = NULL;

	CHECK(owner_load(dir, &db) == 0);
	CHECK(db && db->n_mdevs == 0 && bitmap_empty(&db->apmask_taken));
	CHECK(db && streq(db->rundir, dir));
	owner_free(db);
	db = NULL;
	fake_dir(tmp, "run/apmatrix");
	CHECK(owner_load(dir, &db) == 0);
	CHECK(db && db->n_mdevs == 0);
	owner_free(db);
	CHECK(owner_free(NULL) == NULL);
	free(dir);
	fake_rmtree(tmp);
}

static void test_round_trip(void)
{
	char *tmp = fake_tmpdir();
	char *dir = xasprintf("%s/run/apmatrix", tmp);
	struct owner_db *db = NULL, *db2 = NULL;
	struct stat st;
	char *text, *expect, *p;

	CHECK(owner_load(dir, &db) == 0);
	owner_record_mdev(db, UUID_B, "guest2");
	owner_record_mdev(db, "4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C", "guest1");
	CHECK(db->n_mdevs == 2 && streq(db->mdevs[0].uuid, UUID_A));
	bitmap_set(&db->aqmask_taken, 0x47);
	bitmap_set(&db->aqmask_taken, 0xab);
	bitmap_set(&db->queues_taken[5], 0x47);
	bitmap_set(&db->queues_taken[0xff], 0xff);
	CHECK(owner_save(db) == 0);

	text = fake_slurp(tmp, "run/apmatrix/state");
	expect = xasprintf("apmatrix-state 1\n"
			   "mdev " UUID_A " guest1\n"
			   "mdev " UUID_B " guest2\n"
			   "aqmask-taken 0x0000000000000000010000000000000000000000001000000000000000000000\n"
			   "queue 05.0047\n"
			   "queue ff.00ff\n");
	CHECK_STREQ(text, expect);
	free(text);
	free(expect);
	p = xasprintf("%s/state", dir);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0644);
	free(p);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0755);

	CHECK(owner_load(dir, &db2) == 0);
	CHECK(db2 && db2->n_mdevs == 2);
	if (db2 && db2->n_mdevs == 2) {
		CHECK_STREQ(db2->mdevs[1].uuid, UUID_B);
		CHECK_STREQ(db2->mdevs[1].guest, "guest2");
	}
	CHECK(db2 && bitmap_equal(&db2->aqmask_taken, &db->aqmask_taken));
	CHECK(db2 && bitmap_empty(&db2->apmask_taken));
	CHECK(db2 && bitmap_test(&db2->queues_taken[5], 0x47) && bitmap_count(&db2->queues_taken[5]) == 1);
	CHECK(db2 && bitmap_test(&db2->queues_taken[0xff], 0xff));
	CHECK(owner_find_mdev(db2, UUID_A) && streq(owner_find_mdev(db2, UUID_A)->guest, "guest1"));
	CHECK(owner_find_mdev(db2, "4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C") != NULL);
	CHECK(owner_find_mdev(db2, "00000000-0000-0000-0000-000000000000") == NULL);

	/* re-recording renames, forgetting removes */
	owner_record_mdev(db2, UUID_A, "renamed");
	CHECK(db2->n_mdevs == 2 && streq(owner_find_mdev(db2, UUID_A)->guest, "renamed"));
	owner_forget_mdev(db2, UUID_A);
	owner_forget_mdev(db2, UUID_A);
	CHECK(db2->n_mdevs == 1 && streq(db2->mdevs[0].uuid, UUID_B));

	owner_free(db);
	owner_free(db2);
	free(dir);
	fake_rmtree(tmp);
}

static void test_atomic_rewrite(void)
{
	char *tmp = fake_tmpdir();
	char *dir = xasprintf("%s/run/apmatrix", tmp), *p = xasprintf("%s/state", dir), *text;
	struct owner_db *db = NULL, *db2 = NULL;
	struct stat st1, st2;
	int fd;

	CHECK(owner_load(dir, &db) == 0);
	owner_record_mdev(db, UUID_A, "guest1");
	CHECK(owner_save(db) == 0);
	CHECK(stat(p, &st1) == 0);
	/* an open reader keeps seeing the old contents: the file is replaced, not rewritten */
	fd = open(p, O_RDONLY);
	CHECK(fd >= 0);
	owner_forget_mdev(db, UUID_A);
	bitmap_set(&db->apmask_taken, 0);
	CHECK(owner_save(db) == 0);
	CHECK(stat(p, &st2) == 0);
	CHECK(st1.st_ino != st2.st_ino);
	text = fake_slurp(tmp, "run/apmatrix/state");
	CHECK(text && strstr(text, "apmask-taken 0x80000000") && !strstr(text, "mdev"));
	free(text);
	if (fd >= 0) {
		char buf[256];
		ssize_t k = read(fd, buf, sizeof(buf) - 1);

		CHECK(k > 0);
		if (k > 0) {
			buf[k] = '\0';
			CHECK(strstr(buf, UUID_A) != NULL);
		}
		close(fd);
	}
	/* no temporary file left behind: the state and the boot it was written in */
	CHECK(count_entries(dir) == 2);
	CHECK(owner_load(dir, &db2) == 0);
	CHECK(db2 && db2->n_mdevs == 0 && bitmap_test(&db2->apmask_taken, 0) &&
	      bitmap_count(&db2->apmask_taken) == 1);

	/* names that could not be read back are refused before anything is written */
	owner_record_mdev(db, UUID_B, "two words");
	CHECK(owner_save(db) == -EINVAL);
	CHECK(count_entries(dir) == 2);
	text = fake_slurp(tmp, "run/apmatrix/state");
	CHECK(text && !strstr(text, "two words"));
	free(text);

	owner_free(db);
	owner_free(db2);
	free(dir);
	free(p);
	fake_rmtree(tmp);
}

/* adapters the kernel kept out: recorded, saved, loaded, trimmed */
static void test_kept_out(void)
{
	char *tmp = fake_tmpdir();
	char *dir = xasprintf("%s/run/apmatrix", tmp);
	struct owner_db *db = NULL, *db2 = NULL;
	struct bitmap256 keep = { { 0 } }, b;
	char *text;

	CHECK(owner_load(dir, &db) == 0);
	b = owner_kept_out(db, UUID_A);
	CHECK(bitmap_empty(&b));
	owner_record_kept_out(db, "4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C", 0x06); /* UUID_A in capitals */
	owner_record_kept_out(db, UUID_A, 0x07);
	owner_record_kept_out(db, UUID_B, 0x00);
	CHECK(db->n_kept_out == 2);
	CHECK(owner_save(db) == 0);
	text = fake_slurp(tmp, "run/apmatrix/state");
	CHECK_STREQ(text, "apmatrix-state 1\n"
			  "kept-out " UUID_A " 0x03" ZERO62 "\n"
			  "kept-out " UUID_B " 0x80" ZERO62 "\n");
	free(text);

	CHECK(owner_load(dir, &db2) == 0);
	b = owner_kept_out(db2, UUID_A);
	CHECK(bitmap_count(&b) == 2 && bitmap_test(&b, 0x06) && bitmap_test(&b, 0x07));
	/* trimmed to what stays: nothing changes, then one goes, then the entry */
	bitmap_set(&keep, 0x06);
	bitmap_set(&keep, 0x07);
	CHECK(!owner_trim_kept_out(db2, UUID_A, &keep));
	bitmap_clear(&keep, 0x07);
	CHECK(owner_trim_kept_out(db2, UUID_A, &keep));
	b = owner_kept_out(db2, UUID_A);
	CHECK(bitmap_count(&b) == 1 && bitmap_test(&b, 0x06));
	bitmap_clear(&keep, 0x06);
	CHECK(owner_trim_kept_out(db2, UUID_A, &keep));
	CHECK(db2->n_kept_out == 1 && streq(db2->kept_out[0].uuid, UUID_B));
	CHECK(!owner_trim_kept_out(db2, UUID_A, &keep));

	owner_free(db);
	owner_free(db2);
	free(dir);
	fake_rmtree(tmp);
}

/*
 * Card records: recorded, saved sorted to RUNDIR/cards (the state file stays
 * version 1, which every apmatrix reads), loaded; written only when they
 * changed; a version 2 state file's card lines move there.
 */
static void test_cards(void)
{
	char *tmp = fake_tmpdir();
	char *dir = xasprintf("%s/run/apmatrix", tmp), *cp = xasprintf("%s/cards", dir);
	struct owner_db *db = NULL, *db2 = NULL;
	struct stat st;
	char *text;

	CHECK(owner_load(dir, &db) == 0);
	CHECK(!owner_unsaved(db));
	owner_record_mdev(db, UUID_A, "guest1");
	CHECK(owner_record_card(db, 0x06, "CEX5A", "accel"));
	CHECK(owner_unsaved(db));
	CHECK(owner_record_card(db, 0x05, "CEX5C", "cca"));
	CHECK(owner_record_card(db, 0x0a, "CEX8S", NULL)); /* mode not told */
	CHECK(!owner_record_card(db, 0x07, "CEX 7", "ep11")); /* would not load again */
	CHECK(!owner_record_card(db, 0x07, "-", "ep11"));
	CHECK(!owner_record_card(db, 0x07, NULL, "ep11"));
	CHECK(!owner_record_card(db, 256, "CEX7P", "ep11"));
	CHECK(db->cards[7].type == NULL);
	CHECK(owner_record_card(db, 0x07, "CEX7P", "ep 11")); /* a mode it cannot carry: as unknown */
	CHECK(streq(db->cards[7].type, "CEX7P") && db->cards[7].mode == NULL);
	CHECK(!owner_record_card(db, 0x07, "CEX7P", "")); /* the same again: no change */
	owner_forget_card(db, 0x07);
	CHECK(!owner_record_card(db, 0x06, "CEX5A", "accel")); /* the same: no change */
	CHECK(owner_record_card(db, 0x06, "CEX5A", NULL));     /* replaces */
	CHECK(owner_record_card(db, 0x06, "CEX7P", "ep11"));   /* replaces */
	CHECK(owner_save(db) == 0);
	CHECK(!owner_unsaved(db));
	text = fake_slurp(tmp, "run/apmatrix/state");
	CHECK_STREQ(text, "apmatrix-state 1\nmdev " UUID_A " guest1\n");
	free(text);
	text = fake_slurp(tmp, "run/apmatrix/cards");
	CHECK_STREQ(text, "apmatrix-cards 1\n"
			  "card 05 CEX5C cca\n"
			  "card 06 CEX7P ep11\n"
			  "card 0a CEX8S -\n");
	free(text);
	CHECK(stat(cp, &st) == 0 && (st.st_mode & 0777) == 0644);

	CHECK(owner_load(dir, &db2) == 0);
	CHECK(db2 && !owner_unsaved(db2)); /* loading what is saved changes nothing */
	CHECK(db2 && streq(db2->cards[5].type, "CEX5C") && streq(db2->cards[5].mode, "cca"));
	CHECK(db2 && streq(db2->cards[6].type, "CEX7P") && streq(db2->cards[6].mode, "ep11"));
	CHECK(db2 && streq(db2->cards[0x0a].type, "CEX8S") && db2->cards[0x0a].mode == NULL);
	CHECK(db2 && db2->cards[7].type == NULL);
	/* a save without a card change leaves the cards file alone */
	owner_record_mdev(db2, UUID_B, "guest2");
	CHECK(fake_unlink(tmp, "run/apmatrix/cards") == 0);
	CHECK(owner_save(db2) == 0);
	CHECK(stat(cp, &st) < 0 && errno == ENOENT);
	owner_forget_card(db2, 0x06);
	CHECK(owner_unsaved(db2));
	owner_forget_card(db2, 0x06);
	CHECK(db2->cards[6].type == NULL && db2->cards[6].mode == NULL);
	CHECK(owner_save(db2) == 0);
	text = fake_slurp(tmp, "run/apmatrix/cards");
	CHECK_STREQ(text, "apmatrix-cards 1\ncard 05 CEX5C cca\ncard 0a CEX8S -\n");
	free(text);
	text = fake_slurp(tmp, "run/apmatrix/state");
	CHECK_STREQ(text, "apmatrix-state 1\nmdev " UUID_A " guest1\nmdev " UUID_B " guest2\n");
	free(text);
	owner_free(db2);
	db2 = NULL;

	/*
	 * A version 2 state (earlier versions kept the card lines in it): loaded
	 * strictly, its card lines win over the cards file for their adapters,
	 * and a save writes the state as version 1 and the cards apart.
	 */
	fake_file(tmp, "run/apmatrix/state",
		  "apmatrix-state 2\nmdev " UUID_A " guest1\nqueue 05.0047\ncard 06 CEX5A accel\n");
	fake_file(tmp, "run/apmatrix/cards", "apmatrix-cards 1\ncard 06 CEX7P ep11\ncard 07 CEX8S cca\n");
	CHECK(owner_load(dir, &db2) == 0);
	CHECK(db2 && db2->n_mdevs == 1 && bitmap_test(&db2->queues_taken[5], 0x47));
	CHECK(db2 && streq(db2->cards[6].type, "CEX5A") && streq(db2->cards[6].mode, "accel"));
	CHECK(db2 && streq(db2->cards[7].type, "CEX8S"));
	CHECK(db2 && owner_unsaved(db2));
	CHECK(db2 && owner_save(db2) == 0);
	CHECK(db2 && !owner_unsaved(db2));
	text = fake_slurp(tmp, "run/apmatrix/state");
	CHECK_STREQ(text, "apmatrix-state 1\nmdev " UUID_A " guest1\nqueue 05.0047\n");
	free(text);
	text = fake_slurp(tmp, "run/apmatrix/cards");
	CHECK_STREQ(text, "apmatrix-cards 1\ncard 06 CEX5A accel\ncard 07 CEX8S cca\n");
	free(text);
	owner_free(db2);
	db2 = NULL;
	/* version 2 without card lines: only the header is outdated */
	fake_file(tmp, "run/apmatrix/state", "apmatrix-state 2\nmdev " UUID_A " guest1\n");
	CHECK(owner_load(dir, &db2) == 0);
	CHECK(db2 && owner_unsaved(db2) && streq(db2->cards[6].type, "CEX5A"));
	owner_free(db2);
	db2 = NULL;

	/* version 1 and no cards file: no card records, nothing to write */
	fake_file(tmp, "run/apmatrix/state", "apmatrix-state 1\nmdev " UUID_A " guest1\n");
	CHECK(fake_unlink(tmp, "run/apmatrix/cards") == 0);
	CHECK(owner_load(dir, &db2) == 0);
	for (unsigned a = 0; db2 && a < 256; a++)
		if (db2->cards[a].type)
			CHECK(!"a card record without a cards file");
	CHECK(db2 && !owner_unsaved(db2));
	owner_free(db2);
	db2 = NULL;

	/* and without a state file, the card records still load */
	fake_file(tmp, "run/apmatrix/cards", "apmatrix-cards 1\ncard 0b CEX7C cca\n");
	CHECK(fake_unlink(tmp, "run/apmatrix/state") == 0);
	CHECK(owner_load(dir, &db2) == 0);
	CHECK(db2 && db2->n_mdevs == 0 && streq(db2->cards[0x0b].type, "CEX7C"));

	owner_free(db);
	owner_free(db2);
	free(dir);
	free(cp);
	fake_rmtree(tmp);
}

/* The cards file is an observation: what cannot be read is skipped, the load never fails for it. */
static void test_cards_lenient(void)
{
	static const struct {
		const char *text;
		const char *expect; /* "AA TYPE MODE;" of the records, in order */
	} cases[] = {
		{ "apmatrix-cards 1\ncard 06 CEX5A accel\nbogus\ncard 6 CEX7P ep11\ncard 07 CEX 7 ep11\n"
		  "card 06 CEX7P ep11\ncard 08 CEX7P ep11 x\ncard 09  CEX7P ep11\ncard 0A CEX7P ep11\n"
		  "card 100 CEX7P ep11\ncard 0b - accel\ncard 0c CEX7P ac/cel\ncard 0d CEX7P\n"
		  "card 0e CEX8S -\ncard 0f CEX8P\tep11\ncard 10 CEX8P ep11 \n\nmdev " UUID_A " g\n",
		  "06 CEX5A accel;0e CEX8S -;" },
		{ "apmatrix-cards 1\ncard 06 CEX5A accel", "06 CEX5A accel;" }, /* no final newline */
		{ "apmatrix-cards 2\ncard 06 CEX5A accel\n", "" },                /* another version */
		{ "card 06 CEX5A accel\n", "" },                                  /* no header */
		{ "", "" },
		{ "apmatrix-state 1\ncard 06 CEX5A accel\n", "" },
	};
	char *tmp = fake_tmpdir();
	char *dir = xasprintf("%s/run", tmp);

	fake_file(tmp, "run/state", "apmatrix-state 1\nmdev " UUID_A " g\n");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct owner_db *db = NULL;
		char *got = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&got, &len);

		fake_file(tmp, "run/cards", cases[i].text);
		CHECK(owner_load(dir, &db) == 0);
		for (unsigned a = 0; db && a < 256; a++)
			if (db->cards[a].type)
				fprintf(f, "%02x %s %s;", a, db->cards[a].type, db->cards[a].mode ? db->cards[a].mode : "-");
		fclose(f);
		if (!streq(got, cases[i].expect))
			printf("#   case %zu: got \"%s\"\n", i, got);
		CHECK(streq(got, cases[i].expect));
		CHECK(db && db->n_mdevs == 1 && !owner_unsaved(db));
		free(got);
		owner_free(db);
	}
	/* a NUL in it, or a directory in its place: no records, and the state loads */
	{
		struct owner_db *db = NULL;
		char *p = xasprintf("%s/cards", dir);
		FILE *f = fopen(p, "we");

		CHECK(f != NULL);
		if (f) {
			fwrite("apmatrix-cards 1\ncard 06 CEX5A accel\n\0card 07 X y\n", 1, 50, f);
			fclose(f);
		}
		CHECK(owner_load(dir, &db) == 0);
		CHECK(db && db->cards[6].type == NULL && db->n_mdevs == 1);
		owner_free(db);
		db = NULL;
		CHECK(unlink(p) == 0);
		fake_dir(tmp, "run/cards");
		CHECK(owner_load(dir, &db) == 0);
		CHECK(db && db->cards[6].type == NULL && db->n_mdevs == 1);
		owner_free(db);
		free(p);
	}
	free(dir);
	fake_rmtree(tmp);
}

/*
 * "seqnum N" in the cards file: the uevent number the records were checked
 * at; saved after the header, read leniently (a bad line is none), the
 * first one counts.
 */
static void test_cards_seqnum(void)
{
#define BOOT "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
#define BOOT2 "1f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
	static const struct {
		const char *text;
		long long seqnum; /* -1: none */
	} cases[] = {
		{ "apmatrix-cards 1\nseqnum 12 " BOOT "\ncard 06 CEX5A accel\n", 12 },
		{ "apmatrix-cards 1\ncard 06 CEX5A accel\nseqnum 0 " BOOT "\n", 0 },
		{ "apmatrix-cards 1\nseqnum 5 " BOOT "\nseqnum 6 " BOOT "\n", 5 },
		{ "apmatrix-cards 1\nseqnum 18446744073709551615 " BOOT "\n", -2 }, /* the largest: ULLONG_MAX */
		{ "apmatrix-cards 1\nseqnum 18446744073709551616 " BOOT "\n", -1 }, /* out of range */
		{ "apmatrix-cards 1\nseqnum -1 " BOOT "\n", -1 },
		{ "apmatrix-cards 1\nseqnum +1 " BOOT "\n", -1 },
		{ "apmatrix-cards 1\nseqnum 1x " BOOT "\n", -1 },
		{ "apmatrix-cards 1\nseqnum 12\n", -1 },                                   /* no boot ID */
		{ "apmatrix-cards 1\nseqnum 12 0F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0\n", -1 }, /* not canonical */
		{ "apmatrix-cards 1\nseqnum 12 " BOOT " x\n", -1 },
		{ "apmatrix-cards 1\nseqnum\n", -1 },
		{ "apmatrix-cards 1\nseqnum  1 " BOOT "\n", -1 },
		{ "apmatrix-cards 2\nseqnum 12 " BOOT "\n", -1 }, /* another version */
	};
	char *tmp = fake_tmpdir();
	char *dir = xasprintf("%s/run", tmp);
	struct owner_db *db = NULL;
	char *text;

	fake_file(tmp, "run/state", "apmatrix-state 1\nmdev " UUID_A " g\n");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		bool ok;

		fake_file(tmp, "run/cards", cases[i].text);
		db = NULL;
		CHECK(owner_load(dir, &db) == 0);
		if (cases[i].seqnum == -1)
			ok = db && !db->has_cards_seqnum;
		else if (cases[i].seqnum == -2)
			ok = db && db->has_cards_seqnum && db->cards_seqnum == ULLONG_MAX && streq(db->cards_boot, BOOT);
		else
			ok = db && db->has_cards_seqnum && db->cards_seqnum == (unsigned long long)cases[i].seqnum &&
			     streq(db->cards_boot, BOOT);
		if (!ok)
			printf("#   case %zu: has %d, %llu\n", i, db ? db->has_cards_seqnum : -1, db ? db->cards_seqnum : 0);
		CHECK(ok);
		CHECK(db && !owner_unsaved(db));
		owner_free(db);
	}
	/* recorded: unsaved once, saved after the header, loaded back the same; another boot is a change */
	fake_file(tmp, "run/cards", "apmatrix-cards 1\ncard 06 CEX5A accel\n");
	db = NULL;
	CHECK(owner_load(dir, &db) == 0);
	CHECK(db && !owner_record_cards_seqnum(db, 4711, NULL) && !owner_record_cards_seqnum(db, 4711, "x"));
	CHECK(db && !owner_unsaved(db));
	CHECK(db && owner_record_cards_seqnum(db, 4711, BOOT) && owner_unsaved(db));
	CHECK(db && owner_save(db) == 0 && !owner_unsaved(db));
	CHECK(db && !owner_record_cards_seqnum(db, 4711, BOOT) && !owner_unsaved(db));
	text = fake_slurp(tmp, "run/cards");
	CHECK_STREQ(text, "apmatrix-cards 1\nseqnum 4711 " BOOT "\ncard 06 CEX5A accel\n");
	free(text);
	owner_free(db);
	db = NULL;
	CHECK(owner_load(dir, &db) == 0);
	CHECK(db && db->has_cards_seqnum && db->cards_seqnum == 4711 && streq(db->cards_boot, BOOT));
	CHECK(db && !owner_unsaved(db));
	CHECK(db && owner_record_cards_seqnum(db, 4711, BOOT2) && streq(db->cards_boot, BOOT2));
	CHECK(db && owner_record_cards_seqnum(db, 4712, BOOT2));
	owner_free(db);
	free(dir);
	fake_rmtree(tmp);
#undef BOOT
#undef BOOT2
}

static void test_garbage(void)
{
	static const char *const bad[] = {
		"",
		"apmatrix-state 1",                           /* no final newline */
		"apmatrix-state 3\n",                         /* newer format */
		"apmatrix-state 1\nbogus 1\n",                /* unknown keyword */
		"apmatrix-state 1\n\n",                       /* empty line */
		"mdev " UUID_A " g\n",                        /* no header */
		"apmatrix-state 1\nmdev " UUID_A "\n",        /* no guest */
		"apmatrix-state 1\nmdev " UUID_A " g x\n",    /* extra field */
		"apmatrix-state 1\nmdev " UUID_A "  g\n",     /* double space */
		"apmatrix-state 1\nmdev " UUID_A " g \n",     /* trailing space */
		"apmatrix-state 1\nmdev " UUID_A "\tg\n",     /* tab */
		"apmatrix-state 1\nmdev 4b0f7c1e g\n",        /* short uuid */
		"apmatrix-state 1\nmdev 4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C g\n",
		"apmatrix-state 1\nmdev 4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3z g\n",
		"apmatrix-state 1\nmdev " UUID_A " g\nmdev " UUID_A " h\n", /* duplicate */
		"apmatrix-state 1\nmdev " UUID_A " g/h\n",   /* bad guest name */
		"apmatrix-state 1\napmask-taken 0x00\n",      /* short mask */
		"apmatrix-state 1\napmask-taken " ZERO64 "\n",
		"apmatrix-state 1\napmask-taken 0x" ZERO64 "0\n",
		"apmatrix-state 1\napmask-taken 0x" ZERO64 "\napmask-taken 0x" ZERO64 "\n",
		"apmatrix-state 1\naqmask-taken 0xg" ZERO64 "\n",
		"apmatrix-state 1\nqueue 05.0100\n",          /* domain > 0xff */
		"apmatrix-state 1\nqueue 5.0047\n",
		"apmatrix-state 1\nqueue 05.0047\nqueue 05.0047\n",
		"apmatrix-state 1\nqueue 05:0047\n",
		"apmatrix-state 1\nqueue 05.0047 x\n",
		"apmatrix-state 1\nkept-out " UUID_A "\n",                /* no mask */
		"apmatrix-state 1\nkept-out " UUID_A " 0x" ZERO64 "\n",  /* empty */
		"apmatrix-state 1\nkept-out 4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C 0x02" ZERO62 "\n",
		"apmatrix-state 1\nkept-out " UUID_A " 0x02" ZERO62 "\nkept-out " UUID_A " 0x04" ZERO62 "\n",
		"apmatrix-state 1\ncard 06 CEX5A accel\n",   /* card lines: version 2 only */
		"apmatrix-state 2\ncard 06 CEX5A\n",         /* no mode */
		"apmatrix-state 2\ncard 06 CEX5A accel x\n", /* extra field */
		"apmatrix-state 2\ncard 6 CEX5A accel\n",
		"apmatrix-state 2\ncard 0A CEX5A accel\n",   /* adapter in capitals */
		"apmatrix-state 2\ncard 100 CEX5A accel\n",
		"apmatrix-state 2\ncard 06 - accel\n",       /* no type */
		"apmatrix-state 2\ncard 06 CEX5A ac/cel\n",
		"apmatrix-state 2\ncard 06 CEX5A accel\ncard 06 CEX7P ep11\n", /* duplicate */
		"apmatrix-state 2\nqueue 05.0047 x y\n",     /* three fields are card lines only */
	};
	char *tmp = fake_tmpdir();
	char *dir = xasprintf("%s/run", tmp);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct owner_db *db = NULL;
		int r;

		fake_file(tmp, "run/state", bad[i]);
		r = owner_load(dir, &db);
		if (r != -EBADMSG)
			printf("#   case %zu: got %d\n", i, r);
		CHECK(r == -EBADMSG);
		CHECK(db == NULL);
	}
	/* why, naming the line */
	{
		static const struct {
			const char *text;
			size_t len;
			const char *why;
		} cases[] = {
			{ "apmatrix-state 1\nmdev " UUID_A " g\nbogus 1\n", 0,
			  "line 3 ('bogus 1') is not a record this apmatrix writes" },
			{ "apmatrix-state 3\n", 0,
			  "line 1 ('apmatrix-state 3') is not a format this apmatrix reads (apmatrix-state 1 or "
			  "apmatrix-state 2; a newer apmatrix wrote it?)" },
			{ "apmatrix-state 1\nqueue\t05.0047\n", 0,
			  "line 2 ('queue?05.0047') is not a record this apmatrix writes" },
			{ "apmatrix-state 1\nmdev " UUID_A " g", 0, "it is cut short (no newline at its end)" },
			{ "", 0, "it is empty" },
			{ "apmatrix-state 1\n\0\n", 19, "it holds a NUL byte, which apmatrix never writes" },
			{ "apmatrix-state 1\nmdev 0123456789012345678901234567890123456789012345678901234567890123456789\n",
			  0, "line 2 ('mdev 01234567890123456789012345678901234567890123456789012345678...') is not a "
			     "record this apmatrix writes" },
		};

		for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
			struct owner_db *db = NULL;
			char *p = xasprintf("%s/state", dir), *why = NULL;
			FILE *f = fopen(p, "we");

			CHECK(f != NULL);
			if (f) {
				fwrite(cases[i].text, 1, cases[i].len ? cases[i].len : strlen(cases[i].text), f);
				fclose(f);
			}
			char *want = xasprintf("%s: %s", p, cases[i].why);

			CHECK(owner_load_explained(dir, &db, &why) == -EBADMSG && db == NULL);
			if (!why || !streq(why, want))
				printf("#   case %zu: %s\n", i, why ? why : "(null)");
			CHECK(why && streq(why, want));
			free(why);
			free(want);
			free(p);
		}
		/* a read error names the file too (a directory: EISDIR) */
		{
			struct owner_db *db = NULL;
			char *p = xasprintf("%s/state", dir), *why = NULL;
			char *want = xasprintf("%s: %s", p, strerror(EISDIR));

			CHECK(unlink(p) == 0 && mkdir(p, 0755) == 0);
			CHECK(owner_load_explained(dir, &db, &why) == -EISDIR && db == NULL);
			if (!why || !streq(why, want))
				printf("#   read error: %s\n", why ? why : "(null)");
			CHECK(why && streq(why, want));
			CHECK(rmdir(p) == 0);
			free(why);
			free(want);
			free(p);
		}
	}
	/* and a good one with every kind of line, to be sure the loop is not vacuous */
	{
		struct owner_db *db = NULL;

		fake_file(tmp, "run/state",
			  "apmatrix-state 1\nmdev " UUID_A " g.1_x-y\napmask-taken 0x" ZERO64
			  "\naqmask-taken 0x" ZERO64 "\nqueue 05.00ab\n");
		CHECK(owner_load(dir, &db) == 0);
		CHECK(db && db->n_mdevs == 1 && bitmap_test(&db->queues_taken[5], 0xab));
		owner_free(db);
		db = NULL;
		fake_file(tmp, "run/state",
			  "apmatrix-state 2\nmdev " UUID_A " g.1_x-y\nqueue 05.00ab\nkept-out " UUID_A " 0x02" ZERO62
			  "\ncard 06 CEX5A accel\ncard ff CEX8S -\n");
		CHECK(owner_load(dir, &db) == 0);
		CHECK(db && db->n_mdevs == 1 && db->n_kept_out == 1 && streq(db->cards[6].type, "CEX5A") &&
		      db->cards[0xff].type && !db->cards[0xff].mode);
		owner_free(db);
	}
	free(dir);
	fake_rmtree(tmp);
}

/* ---- locks ---- */

struct paths {
	char *tmp, *rundir, *s390;
};

static struct paths paths_new(void)
{
	struct paths p;

	p.tmp = fake_tmpdir();
	p.rundir = xasprintf("%s/run/apmatrix", p.tmp);
	p.s390 = xasprintf("%s/run/lock/s390apconfig.lock", p.tmp);
	return p;
}

static void paths_done(struct paths *p)
{
	free(p->rundir);
	free(p->s390);
	fake_rmtree(p->tmp);
}

/* Leave a forked child without leaks (valgrind checks children too). */
static _Noreturn void child_exit(struct paths *p, int code)
{
	free(p->tmp);
	free(p->rundir);
	free(p->s390);
	_exit(code);
}

static long read_pid(const char *path)
{
	FILE *f = fopen(path, "re");
	long pid = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

static void write_pid_file(const char *path, long pid)
{
	FILE *f;

	fake_parent(path);
	f = fopen(path, "we");
	if (!f)
		abort();
	if (pid >= 0)
		fprintf(f, "%ld\n", pid);
	fclose(f);
}

static void test_lock_basic(void)
{
	struct paths p = paths_new();
	struct owner_lock *l = NULL;
	char *lockfile = xasprintf("%s/lock", p.rundir);

	CHECK(owner_lock(p.rundir, p.s390, 1000, &l, NULL, NULL) == 0);
	CHECK(l != NULL);
	CHECK(read_pid(p.s390) == (long)getpid());
	CHECK(access(lockfile, F_OK) == 0);
	/* only the lock itself in /run/lock: the temporary link source is gone */
	{
		char *ld = xasprintf("%s/run/lock", p.tmp);

		CHECK(count_entries(ld) == 1);
		free(ld);
	}
	CHECK(owner_unlock(l) == NULL);
	CHECK(access(p.s390, F_OK) < 0 && errno == ENOENT);
	CHECK(owner_unlock(NULL) == NULL);

	/* without the s390-tools lock */
	CHECK(owner_lock(p.rundir, NULL, 0, &l, NULL, NULL) == 0);
	CHECK(access(p.s390, F_OK) < 0);
	owner_unlock(l);
	free(lockfile);
	paths_done(&p);
}

static void test_lock_contended(void)
{
	struct paths p = paths_new();
	struct owner_lock *l = NULL;
	int to_child[2], to_parent[2];
	long long t0;
	pid_t pid;
	char c;

	CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0);
	pid = fork();
	if (pid == 0) {
		struct owner_lock *cl = NULL;

		if (owner_lock(p.rundir, p.s390, 1000, &cl, NULL, NULL) < 0)
			child_exit(&p, 1);
		if (write(to_parent[1], "x", 1) != 1)
			child_exit(&p, 1);
		if (read(to_child[0], &c, 1) != 1)
			child_exit(&p, 1);
		owner_unlock(cl);
		child_exit(&p, 0);
	}
	CHECK(pid > 0);
	CHECK(read(to_parent[0], &c, 1) == 1);

	t0 = ms_now();
	CHECK(owner_lock(p.rundir, p.s390, 0, &l, NULL, NULL) == -EWOULDBLOCK);
	CHECK(owner_lock(p.rundir, p.s390, 200, &l, NULL, NULL) == -ETIMEDOUT);
	CHECK(ms_now() - t0 >= 190);
	CHECK(l == NULL);
	/* the s390 lock still belongs to the child */
	CHECK(read_pid(p.s390) == (long)pid);

	/* a signal the caller blocks ends the wait at once (apply: SIGTERM while it waits) */
	{
		sigset_t term, old;
		int sig = 0;

		sigemptyset(&term);
		sigaddset(&term, SIGTERM);
		CHECK(sigprocmask(SIG_BLOCK, &term, &old) == 0);
		CHECK(raise(SIGTERM) == 0);
		t0 = ms_now();
		CHECK(owner_lock(p.rundir, p.s390, 5000, &l, NULL, NULL) == -EINTR);
		CHECK(ms_now() - t0 < 1000);
		CHECK(l == NULL);
		CHECK(sigwait(&term, &sig) == 0 && sig == SIGTERM);
		CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
		/* nothing pending: the wait runs its course */
		CHECK(owner_lock(p.rundir, p.s390, 100, &l, NULL, NULL) == -ETIMEDOUT);
	}

	/* released: the waiting locker gets it */
	CHECK(write(to_child[1], "x", 1) == 1);
	CHECK(owner_lock(p.rundir, p.s390, 5000, &l, NULL, NULL) == 0);
	CHECK(read_pid(p.s390) == (long)getpid());
	owner_unlock(l);
	{
		int status = 0;

		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
	paths_done(&p);
}

static void test_lock_stale(void)
{
	struct paths p = paths_new();
	struct owner_lock *l = NULL;
	struct timespec old[2];
	pid_t dead;
	long long t0;

	/* a PID that surely does not exist any more: a reaped child */
	dead = fork();
	if (dead == 0)
		child_exit(&p, 0);
	CHECK(dead > 0 && waitpid(dead, NULL, 0) == dead);
	write_pid_file(p.s390, dead);
	t0 = ms_now();
	CHECK(owner_lock(p.rundir, p.s390, 0, &l, NULL, NULL) == 0);
	CHECK(ms_now() - t0 < 1000);
	CHECK(read_pid(p.s390) == (long)getpid());
	owner_unlock(l);
	l = NULL;

	/* an empty lock file is a lock being set up: wait ... */
	write_pid_file(p.s390, -1);
	CHECK(owner_lock(p.rundir, p.s390, 100, &l, NULL, NULL) == -ETIMEDOUT);
	/* ... unless it is older than two minutes */
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 600;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	CHECK(utimensat(AT_FDCWD, p.s390, old, 0) == 0);
	CHECK(owner_lock(p.rundir, p.s390, 100, &l, NULL, NULL) == 0);
	owner_unlock(l);

	/* unlock removes only our own lock */
	CHECK(owner_lock(p.rundir, p.s390, 100, &l, NULL, NULL) == 0);
	write_pid_file(p.s390, (long)getppid());
	owner_unlock(l);
	CHECK(read_pid(p.s390) == (long)getppid());
	paths_done(&p);
}

static void test_lock_waits_for_s390(void)
{
	struct paths p = paths_new();
	struct owner_lock *l = NULL;
	long long t0, dt;
	pid_t pid;
	int sync[2];
	char c;

	CHECK(pipe(sync) == 0);
	/* a live process holds the s390-tools lock for 300 ms (as chzdev would) */
	pid = fork();
	if (pid == 0) {
		struct timespec ts = { 0, 300 * 1000000 };

		write_pid_file(p.s390, (long)getpid());
		if (write(sync[1], "x", 1) != 1)
			child_exit(&p, 1);
		nanosleep(&ts, NULL);
		unlink(p.s390);
		child_exit(&p, 0);
	}
	CHECK(read(sync[0], &c, 1) == 1);
	t0 = ms_now();
	CHECK(owner_lock(p.rundir, p.s390, 5000, &l, NULL, NULL) == 0);
	dt = ms_now() - t0;
	CHECK(dt >= 200);
	CHECK(dt < 4000);
	CHECK(read_pid(p.s390) == (long)getpid());
	owner_unlock(l);
	CHECK(waitpid(pid, NULL, 0) == pid);
	close(sync[0]);
	close(sync[1]);
	paths_done(&p);
}

int main(void)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_missing),         TAP_TEST(test_round_trip),     TAP_TEST(test_kept_out),     TAP_TEST(test_cards),
		TAP_TEST(test_cards_lenient), TAP_TEST(test_cards_seqnum),   TAP_TEST(test_atomic_rewrite),
		TAP_TEST(test_garbage),         TAP_TEST(test_lock_basic),     TAP_TEST(test_lock_contended),
		TAP_TEST(test_lock_stale),      TAP_TEST(test_lock_waits_for_s390),
	};

	return tap_run(tests, ARRAY_SIZE(tests));
}
