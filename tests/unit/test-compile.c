/* SPDX-License-Identifier: MIT */
/* test-compile.c: config -> desired: matrices, UUIDs, overlaps, host.keep, and their messages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "compile.h"
#include "tap.h"

struct fx {
	struct diag_list dl;
	struct config *c;
	struct desired *d;
	int load_r, r;
};

static void fx_compile(struct fx *f, const char *yaml)
{
	*f = (struct fx){ .c = config_new() };
	f->load_r = config_load_buffer(f->c, "t.yaml", yaml, strlen(yaml), &f->dl);
	f->r = compile_config(f->c, &f->d, &f->dl);
	/* desired must not point into config (STYLE R21) */
	f->c = config_free(f->c);
	diag_sort(&f->dl);
}

static void fx_done(struct fx *f)
{
	f->d = desired_free(f->d);
	diag_list_done(&f->dl);
}

static char *ranges(const struct bitmap256 *b)
{
	return bitmap_format_ranges(b, 2);
}

#define CHECK_SET(b, want)                     \
	do {                                   \
		char *s_ = ranges(b);          \
		CHECK_STREQ(s_, want);         \
		free(s_);                      \
	} while (0)

/* The only diagnostic must be an error at line:col with exactly this text. */
static void expect_one(const char *yaml, unsigned line, unsigned col, const char *msg)
{
	struct fx f;

	fx_compile(&f, yaml);
	CHECK(f.r == -EINVAL);
	CHECK(f.dl.n == 1);
	if (f.dl.n >= 1) {
		CHECK(f.dl.items[0].severity == DIAG_ERROR);
		CHECK(f.dl.items[0].mark.line == line && f.dl.items[0].mark.col == col);
		if (f.dl.items[0].mark.line != line || f.dl.items[0].mark.col != col)
			printf("#   got %u:%u, want %u:%u\n", f.dl.items[0].mark.line, f.dl.items[0].mark.col, line, col);
		CHECK_STREQ(f.dl.items[0].message, msg);
	}
	fx_done(&f);
}

static void test_namespace(void)
{
	uuid_t ns, dns;
	char s[UUID_STR_LEN];

	/* APMATRIX_UUID_NAMESPACE is UUIDv5(NameSpace_DNS, "apmatrix.s390x") */
	CHECK(uuid_parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8", dns) == 0);
	uuid_generate_sha1(ns, dns, "apmatrix.s390x", strlen("apmatrix.s390x"));
	uuid_unparse_lower(ns, s);
	CHECK_STREQ(s, APMATRIX_UUID_NAMESPACE);
}

static void test_seed_example(void)
{
	struct fx f;
	const struct desired_guest *g;

	fx_compile(&f, "version: 1\n"
		       "guests:\n"
		       "  guest2:\n"
		       "    adapters: [0x05]\n"
		       "    domains: [0x47, 0xff]\n"
		       "  guest1:\n"
		       "    adapters: [0x05, 0x06]\n"
		       "    domains: [0x04, 0xab]\n");
	CHECK(f.load_r == 0 && f.r == 0 && f.dl.n == 0);
	CHECK(f.d->n_guests == 2);
	CHECK(!f.d->has_keep);
	CHECK(f.d->masks == CONFIG_MASKS_AUTO);
	/* sorted by name */
	CHECK_STREQ(f.d->guests[0].name, "guest1");
	CHECK_STREQ(f.d->guests[1].name, "guest2");
	g = &f.d->guests[0];
	CHECK_SET(&g->matrix.adapters, "0x05,0x06");
	CHECK_SET(&g->matrix.domains, "0x04,0xab");
	CHECK_SET(&g->matrix.control_domains, "0x04,0xab");
	{
		struct bitmap256 x = desired_explicit_control_domains(g);

		CHECK(bitmap_empty(&x));
	}
	CHECK(g->usage_as_control);
	CHECK(matrix_apqn_count(&g->matrix) == 4);
	/* derived: UUIDv5(APMATRIX_UUID_NAMESPACE, name), lowercase */
	CHECK(g->uuid_derived);
	CHECK_STREQ(g->uuid, "a4d8e314-29c2-57af-90ec-3bcb0bc33855");
	CHECK(g->uuid_mark.line == 6 && g->uuid_mark.col == 3);
	CHECK_STREQ(f.d->guests[1].uuid, "777a2a03-2a5a-5868-8709-08e19ebdd5d7");
	CHECK(!matrix_overlap(&f.d->guests[0].matrix, &f.d->guests[1].matrix));
	fx_done(&f);
}

static void test_explicit_uuid_and_control(void)
{
	struct fx f;

	fx_compile(&f, "version: 1\n"
		       "guests:\n"
		       "  a:\n"
		       "    uuid: 4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C\n"
		       "    adapters: [1]\n"
		       "    domains: [\"0x10-0x12\"]\n"
		       "    control-domains: [0x2f]\n"
		       "    usage-as-control: false\n"
		       "  b:\n"
		       "    adapters: [1]\n"
		       "    domains: [0x20]\n"
		       "    control-domains: [0x2f, 0x10]\n");
	CHECK(f.r == 0 && f.dl.n == 0);
	if (f.d->n_guests == 2) {
		const struct desired_guest *a = &f.d->guests[0], *b = &f.d->guests[1];
		struct bitmap256 xa = desired_explicit_control_domains(a), xb = desired_explicit_control_domains(b);

		CHECK_STREQ(a->uuid, "4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c");
		CHECK(!a->uuid_derived);
		CHECK(a->uuid_mark.line == 4 && a->uuid_mark.col == 11);
		CHECK(!a->usage_as_control);
		CHECK_SET(&a->matrix.control_domains, "0x2f");
		CHECK_SET(&xa, "0x2f");
		/* control domains are shared freely, also with usage domains */
		CHECK_SET(&b->matrix.control_domains, "0x10,0x20,0x2f");
		CHECK_SET(&xb, "0x10,0x2f");
	}
	fx_done(&f);
}

static void test_marks(void)
{
	struct fx f;
	const struct desired_guest *g;

	fx_compile(&f, "version: 1\n"
		       "guests:\n"
		       "  a:\n"
		       "    adapters: [1, \"3-5\"]\n"
		       "    domains: [\"0x10-0x1f\", 0x40]\n"
		       "    control-domains: [0x50]\n");
	CHECK(f.r == 0);
	g = desired_find_guest(f.d, "a");
	CHECK(g != NULL);
	if (g) {
		CHECK(desired_guest_mark(g, DIM_ADAPTER, 4)->col == 19);
		CHECK(desired_guest_mark(g, DIM_DOMAIN, 0x18)->col == 15);
		CHECK(desired_guest_mark(g, DIM_DOMAIN, 0x40)->col == 28);
		CHECK(desired_guest_mark(g, DIM_CONTROL_DOMAIN, 0x50)->line == 6);
		/* a control domain that is one because it is a usage domain */
		CHECK(desired_guest_mark(g, DIM_CONTROL_DOMAIN, 0x40)->col == 28);
		/* nothing there: the guest */
		CHECK(desired_guest_mark(g, DIM_ADAPTER, 9) == &g->mark);
		CHECK(g->n_src[DIM_ADAPTER] == 2 && g->src[DIM_ADAPTER][1].lo == 3 && g->src[DIM_ADAPTER][1].hi == 5);
	}
	CHECK(desired_find_guest(f.d, "b") == NULL);
	fx_done(&f);
}

static void test_seed_example2_overlap(void)
{
	expect_one("version: 1\n"
		   "guests:\n"
		   "  Guest1:\n"
		   "    adapters: [1, 2]\n"
		   "    domains: [5, 6]\n"
		   "  Guest2:\n"
		   "    adapters: [1]\n"
		   "    domains: [6, 7]\n",
		   8, 15, "guest 'Guest2': APQN 01.0006 already assigned to guest 'Guest1' (t.yaml:5:18)");
}

static void test_overlap_lists(void)
{
	expect_one("version: 1\n"
		   "guests:\n"
		   "  a:\n"
		   "    adapters: [1, 2]\n"
		   "    domains: [\"0-0x0f\"]\n"
		   "  b:\n"
		   "    adapters: [2]\n"
		   "    domains: [0x20, 3, 4]\n",
		   8, 21, "guest 'b': APQNs 02.0003 02.0004 already assigned to guest 'a' (t.yaml:5:15)");
	expect_one("version: 1\n"
		   "guests:\n"
		   "  a:\n"
		   "    adapters: [\"0-0xff\"]\n"
		   "    domains: [\"0-0xff\"]\n"
		   "  b:\n"
		   "    adapters: [2, 3]\n"
		   "    domains: [\"0x10-0x14\"]\n",
		   8, 15,
		   "guest 'b': APQNs 02.0010 02.0011 02.0012 02.0013 02.0014 03.0010 03.0011 03.0012 ... (10 in all) "
		   "already assigned to guest 'a' (t.yaml:5:15)");
}

static void test_overlap_every_pair(void)
{
	struct fx f;

	/* one error per pair, each at the later guest; order of definition, not of names */
	fx_compile(&f, "version: 1\n"
		       "guests:\n"
		       "  z:\n"
		       "    adapters: [1]\n"
		       "    domains: [1]\n"
		       "  y:\n"
		       "    adapters: [1]\n"
		       "    domains: [1]\n"
		       "  x:\n"
		       "    adapters: [1]\n"
		       "    domains: [1]\n");
	CHECK(f.r == -EINVAL);
	CHECK(f.dl.n == 3);
	if (f.dl.n == 3) {
		CHECK_STREQ(f.dl.items[0].message, "guest 'y': APQN 01.0001 already assigned to guest 'z' (t.yaml:5:15)");
		CHECK_STREQ(f.dl.items[1].message, "guest 'x': APQN 01.0001 already assigned to guest 'z' (t.yaml:5:15)");
		CHECK_STREQ(f.dl.items[2].message, "guest 'x': APQN 01.0001 already assigned to guest 'y' (t.yaml:8:15)");
		CHECK_STREQ(f.dl.items[2].guest, "x");
	}
	/* still compiled, for show */
	CHECK(f.d->n_guests == 3 && streq(f.d->guests[0].name, "x"));
	fx_done(&f);
}

static void test_host_keep(void)
{
	struct fx f;

	fx_compile(&f, "version: 1\nhost:\n  keep:\n    adapters: [3]\n  masks: off\n");
	CHECK(f.r == 0);
	CHECK(f.d->has_keep);
	CHECK(f.d->masks == CONFIG_MASKS_OFF);
	CHECK(f.d->keep_mark.line == 3 && f.d->keep_mark.col == 3);
	CHECK_SET(&f.d->keep_adapters, "0x03");
	/* an omitted dimension is all 256 */
	CHECK(bitmap_count(&f.d->keep_domains) == 256);
	fx_done(&f);

	fx_compile(&f, "version: 1\nhost:\n  keep:\n    domains: [\"0-1\"]\n");
	CHECK(f.r == 0 && f.d->has_keep);
	CHECK(bitmap_count(&f.d->keep_adapters) == 256);
	CHECK_SET(&f.d->keep_domains, "0x00,0x01");
	fx_done(&f);

	expect_one("version: 1\n"
		   "host:\n"
		   "  keep:\n"
		   "    adapters: [5, 6]\n"
		   "    domains: [4]\n"
		   "guests:\n"
		   "  g:\n"
		   "    adapters: [6]\n"
		   "    domains: [0x47, 4]\n",
		   9, 21, "guest 'g': APQN 06.0004 kept by the host (host.keep at t.yaml:3:3)");
	expect_one("version: 1\n"
		   "host:\n"
		   "  keep:\n"
		   "    adapters: [3]\n"
		   "guests:\n"
		   "  g:\n"
		   "    adapters: [3, 4]\n"
		   "    domains: [1, 2]\n",
		   8, 15, "guest 'g': APQNs 03.0001 03.0002 kept by the host (host.keep at t.yaml:3:3)");

	/* control domains never conflict with host.keep */
	fx_compile(&f, "version: 1\nhost:\n  keep:\n    domains: [4]\nguests:\n  g:\n    adapters: [1]\n"
		       "    domains: [5]\n    control-domains: [4]\n");
	CHECK(f.r == 0 && f.dl.n == 0);
	fx_done(&f);
}

static void test_uuids(void)
{
	expect_one("version: 1\nguests:\n  a:\n    uuid: nope\n    adapters: [1]\n    domains: [1]\n", 4, 11,
		   "guest 'a': invalid UUID 'nope'; expected 36 characters such as 4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c");
	/* libuuid would take the first 36 characters; we do not */
	expect_one("version: 1\nguests:\n  a:\n    uuid: 4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3cc\n    adapters: [1]\n"
		   "    domains: [1]\n",
		   4, 11,
		   "guest 'a': invalid UUID '4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3cc'; expected 36 characters such as "
		   "4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c");
	expect_one("version: 1\nguests:\n"
		   "  a:\n    uuid: 4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c\n    adapters: [1]\n    domains: [1]\n"
		   "  b:\n    uuid: 4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C\n    adapters: [2]\n    domains: [1]\n",
		   8, 11,
		   "guest 'b': UUID 4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c is also the UUID of guest 'a' (t.yaml:4:11)");
	/* an explicit UUID equal to another guest's derived one */
	expect_one("version: 1\nguests:\n"
		   "  guest1:\n    adapters: [1]\n    domains: [1]\n"
		   "  b:\n    uuid: a4d8e314-29c2-57af-90ec-3bcb0bc33855\n    adapters: [2]\n    domains: [1]\n",
		   7, 11,
		   "guest 'b': UUID a4d8e314-29c2-57af-90ec-3bcb0bc33855 is also the UUID of guest 'guest1' (derived "
		   "from its name) (t.yaml:3:3)");

	/* an invalid UUID still gets a derived one, so that show can draw the guest */
	struct fx f;
	fx_compile(&f, "version: 1\nguests:\n  guest1:\n    uuid: x\n    adapters: [1]\n    domains: [1]\n");
	CHECK(f.r == -EINVAL);
	CHECK(f.d->n_guests == 1 && streq(f.d->guests[0].uuid, "a4d8e314-29c2-57af-90ec-3bcb0bc33855"));
	fx_done(&f);
}

static void test_names(void)
{
	static const char *const good[] = { "a", "Z_9.-x", "123", "...", "a.b",
					    "gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg" };
	static const char *const bad[] = { "\"\"", "\"a b\"", "\".\"", "\"..\"", "\"a/b\"", "\"ä\"",
					   "ggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg" };

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		char *yaml = NULL;
		struct fx f;

		if (asprintf(&yaml, "version: 1\nguests:\n  %s:\n    adapters: [1]\n    domains: [1]\n", good[i]) < 0)
			abort();
		fx_compile(&f, yaml);
		CHECK(f.r == 0 && f.dl.n == 0);
		if (f.r != 0)
			printf("#   name %s\n", good[i]);
		fx_done(&f);
		free(yaml);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *yaml = NULL;
		struct fx f;

		if (asprintf(&yaml, "version: 1\nguests:\n  %s:\n    adapters: [1]\n    domains: [1]\n", bad[i]) < 0)
			abort();
		fx_compile(&f, yaml);
		CHECK(f.r == -EINVAL && f.dl.n == 1);
		if (f.dl.n == 1)
			CHECK(strstr(f.dl.items[0].message, "invalid name; use 1-64 characters from A-Z a-z 0-9 _ . - "
							     "(not '.' or '..')") != NULL);
		fx_done(&f);
		free(yaml);
	}
}

/* A name with control characters is kept escaped: every message and show line stays one line. */
static void test_control_characters_in_names(void)
{
	struct fx f;
	unsigned char u[16];
	char want[UUID_STR_LEN];

	fx_compile(&f, "version: 1\nguests:\n"
		       "  \"g1\\nx\": {adapters: [5], domains: [4, 4]}\n"
		       "  \"g2\\e[31m\\u009b\": {adapters: [6], domains: [4]}\n");
	CHECK(f.r == -EINVAL && f.dl.n == 3 && f.d->n_guests == 2);
	if (f.d->n_guests == 2) {
		CHECK_STREQ(f.d->guests[0].name, "g1\\x0ax");
		CHECK_STREQ(f.d->guests[1].name, "g2\\x1b[31m\\xc2\\x9b");
		/* the derived UUID is the name's as written */
		uuid_v5((const unsigned char[16]){ 0x19, 0xfe, 0x82, 0x57, 0x6e, 0x13, 0x5c, 0x48, 0xb4, 0xdc, 0x66,
						   0x0a, 0x19, 0x1a, 0xbd, 0x94 },
			"g1\nx", 4, u);
		uuid_format(u, want);
		CHECK_STREQ(f.d->guests[0].uuid, want);
	}
	for (size_t i = 0; i < f.dl.n; i++) {
		CHECK(!strchr(f.dl.items[i].message, '\n') && !strchr(f.dl.items[i].message, '\x1b'));
		CHECK(!strstr(f.dl.items[i].message, "\xc2\x9b"));
	}
	if (f.dl.n == 3)
		CHECK_STREQ(f.dl.items[1].message, "guest 'g1\\x0ax': domain 0x04 listed more than once (first at "
						   "t.yaml:3:38), ignoring the repeat");
	fx_done(&f);
}

/* yaml ends in a syntax error: that error is the one diagnostic, compile adds none */
static void expect_syntax_error_alone(const char *yaml, unsigned line, unsigned col, const char *msg)
{
	struct fx f;

	fx_compile(&f, yaml);
	CHECK(f.load_r == -EINVAL);
	CHECK(f.r == 0); /* no error of compile's */
	CHECK(f.dl.n == 1);
	for (size_t i = 0; f.dl.n != 1 && i < f.dl.n; i++)
		printf("#   %u:%u: %s\n", f.dl.items[i].mark.line, f.dl.items[i].mark.col, f.dl.items[i].message);
	if (f.dl.n >= 1) {
		CHECK(f.dl.items[0].mark.line == line && f.dl.items[0].mark.col == col);
		CHECK_STREQ(f.dl.items[0].message, msg);
	}
	fx_done(&f);
}

static void test_incomplete_guests(void)
{
	expect_one("version: 1\nguests:\n  g:\n    adapters: [1]\n", 4, 5,
		   "guest 'g': adapters given but no usage domains; add 'domains'");
	expect_one("version: 1\nguests:\n  g:\n    domains: [1]\n", 4, 5,
		   "guest 'g': domains given but no adapters; add 'adapters'");
	expect_one("version: 1\nguests:\n  g:\n    control-domains: [1]\n", 4, 5,
		   "guest 'g': control domains without adapters and usage domains; a guest needs at least one APQN");
	expect_one("version: 1\nguests:\n  g: {}\n", 3, 3,
		   "guest 'g': no adapters and no domains; a guest needs at least one APQN");
	expect_one("version: 1\nguests:\n  g:\n", 3, 3,
		   "guest 'g': no adapters and no domains; a guest needs at least one APQN");
	expect_one("version: 1\nguests:\n  g:\n    usage-as-control: false\n", 3, 3,
		   "guest 'g': no adapters and no domains; a guest needs at least one APQN");
	/*
	 * A YAML syntax error after a guest libyaml has ended: the guest is
	 * not missing its domains (indented one space short), and nothing
	 * compile says of a file cut short is said, in any file.
	 */
	expect_syntax_error_alone("version: 1\nguests:\n  guest1:\n    adapters: [0x05]\n   domains: [0x04]\n", 5, 4,
				  "YAML syntax error: did not find expected key (while parsing a block mapping at 3:3)");
	expect_syntax_error_alone("version: 1\nhost: {keep: {adapters: [3, 3]}}\nguests:\n"
				  "  a: {adapters: [1], domains: [1], uuid: x}\n  b: {adapters: [1], domains: [1]}\n"
				  "  \"c d\": {adapters: [3]}\n  e:\n    adapters: [2]\n   domains: [2]\n", 9, 4,
				  "YAML syntax error: did not find expected key (while parsing a block mapping at 4:3)");
}

static void test_repeats_are_warnings(void)
{
	struct fx f;

	fx_compile(&f, "version: 1\n"
		       "host:\n  keep:\n    adapters: [3, 3]\n    domains: [\"1-3\", 9, \"2-4\"]\n"
		       "guests:\n"
		       "  g:\n"
		       "    adapters: [1]\n"
		       "    domains: [\"0x04-0x07\", 5, \"6-9\"]\n");
	CHECK(f.r == 0);
	CHECK(diag_count(&f.dl, DIAG_ERROR) == 0);
	CHECK(diag_count(&f.dl, DIAG_WARNING) == 4);
	if (f.dl.n == 4) {
		CHECK_STREQ(f.dl.items[0].message,
			    "host.keep: adapter 0x03 listed more than once (first at t.yaml:4:16), ignoring the repeat");
		CHECK(f.dl.items[0].mark.col == 19);
		CHECK_STREQ(f.dl.items[1].message,
			    "host.keep: domains 0x02,0x03 listed more than once (first at t.yaml:5:15), ignoring the repeat");
		CHECK(f.dl.items[1].mark.col == 25);
		CHECK_STREQ(f.dl.items[2].message,
			    "guest 'g': domain 0x05 listed more than once (first at t.yaml:9:15), ignoring the repeat");
		CHECK(f.dl.items[2].mark.col == 28);
		CHECK_STREQ(f.dl.items[3].message,
			    "guest 'g': domains 0x06,0x07 listed more than once (first at t.yaml:9:15), ignoring the repeat");
	}
	CHECK_SET(&f.d->guests[0].matrix.domains, "0x04-0x09");
	fx_done(&f);
}

/* One text for a whole compile: every diagnostic (sorted) and every guest. */
static char *compile_text(const struct desired *d, struct diag_list *dl)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	diag_sort(dl);
	for (size_t i = 0; i < dl->n; i++) {
		char *s = diag_format(&dl->items[i]);

		fprintf(f, "%s\n", s);
		free(s);
	}
	for (size_t i = 0; d && i < d->n_guests; i++) {
		const struct desired_guest *g = &d->guests[i];
		char *a = ranges(&g->matrix.adapters), *u = ranges(&g->matrix.domains), *c = ranges(&g->matrix.control_domains);

		fprintf(f, "%s %s %d %s %s %s %u:%u %u/%u/%u\n", g->name, g->uuid, g->uuid_derived, a, u, c, g->mark.line,
			g->mark.col, g->n_src[0], g->n_src[1], g->n_src[2]);
		free(a), free(u), free(c);
	}
	fclose(f);
	return out;
}

/*
 * apmatrix compiles each guest as it is read (compile_begin(), then the
 * files, then compile_end()); compile_config() compiles a config read
 * beforehand.  Both must say and build the same, errors included.
 */
static void test_streamed_equals_whole(void)
{
	static const char *const files[][2] = {
		{ "version: 1\nguests:\n  b:\n    adapters: [1, 1]\n    domains: [2]\n  a:\n    uuid: nope\n"
		  "    adapters: [1]\n    domains: [2]\n  c:\n    domains: [3]\n", NULL },
		{ "version: 1\nguests:\n  a:\n    adapters: [1]\n    domains: [2]\n  a:\n    adapters: [3]\n"
		  "    domains: [4]\n  x: 5\n  x:\n    adapters: [1]\n", "version: 1\nguests:\n  a:\n    adapters: [7]\n"
		  "    domains: [7]\n  y:\n    uuid: 4B0F7C1E-8D5E-4B1A-9D36-0C1F6A1E2B3C\n    adapters: [1]\n    domains: [2]\n" },
		{ "version: 1\nhost:\n  keep:\n    domains: [2]\nguests:\n  g:\n    adapters: [1]\n    domains: [2, \"0-3\"]\n"
		  "  h:\n    adapters: [1]\n    domains: [3\n", NULL },
		{ "version: 1\nguests:\n  g:\n    adapters: [1]\n    domains: [2]\n    typo: 1\n  h: *x\n", NULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		struct diag_list dl1 = { 0 }, dl2 = { 0 };
		struct config *c1 = config_new(), *c2 = config_new();
		struct desired *d1 = NULL, *d2 = NULL;
		struct compiler *k = compile_begin(c2);
		char *t1, *t2;
		int r1, r2;

		for (int j = 0; j < 2 && files[i][j]; j++) {
			const char *name = j ? "drop-in.yaml" : "main.yaml";

			(void)config_load_buffer(c1, name, files[i][j], strlen(files[i][j]), &dl1);
			(void)config_load_buffer(c2, name, files[i][j], strlen(files[i][j]), &dl2);
		}
		CHECK(c2->n_guests == 0); /* taken as read, not kept */
		CHECK(c1->n_names == c2->n_names);
		r1 = compile_config(c1, &d1, &dl1);
		r2 = compile_end(k, c2, &d2, &dl2);
		c1 = config_free(c1);
		c2 = config_free(c2);
		t1 = compile_text(d1, &dl1);
		t2 = compile_text(d2, &dl2);
		CHECK(r1 == r2);
		CHECK(dl1.n > 0); /* every case has something to say */
		CHECK_STREQ(t1, t2);
		free(t1), free(t2);
		desired_free(d1), desired_free(d2);
		diag_list_done(&dl1), diag_list_done(&dl2);
	}
}

static void test_examples(void)
{
	struct diag_list dl = { 0 };
	struct config *c = NULL;
	struct desired *d = NULL;

	CHECK(config_load(FIXTURESDIR "/../examples/apmatrix.yaml", FIXTURESDIR "/../examples/apmatrix.d", &c, &dl) == 0);
	CHECK(compile_config(c, &d, &dl) == 0);
	CHECK(dl.n == 0);
	CHECK(d->n_guests == 6);
	CHECK(d->has_keep);
	CHECK(desired_find_guest(d, "web2") != NULL);
	c = config_free(c);
	d = desired_free(d);
	diag_list_done(&dl);

	CHECK(config_load(FIXTURESDIR "/../examples/seed-example2-invalid.yaml", NULL, &c, &dl) == 0);
	CHECK(compile_config(c, &d, &dl) == -EINVAL);
	CHECK(dl.n == 1);
	if (dl.n == 1) {
		CHECK(dl.items[0].mark.line == 11);
		CHECK(strstr(dl.items[0].message, "APQN 01.0006 already assigned to guest 'Guest1'") != NULL);
		CHECK(strstr(dl.items[0].message, "seed-example2-invalid.yaml:8:18)") != NULL);
	}
	c = config_free(c);
	d = desired_free(d);
	diag_list_done(&dl);

	CHECK(desired_free(NULL) == NULL);
}

int main(void)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_namespace),
		TAP_TEST(test_seed_example),
		TAP_TEST(test_explicit_uuid_and_control),
		TAP_TEST(test_marks),
		TAP_TEST(test_seed_example2_overlap),
		TAP_TEST(test_overlap_lists),
		TAP_TEST(test_overlap_every_pair),
		TAP_TEST(test_host_keep),
		TAP_TEST(test_uuids),
		TAP_TEST(test_names),
		TAP_TEST(test_control_characters_in_names),
		TAP_TEST(test_incomplete_guests),
		TAP_TEST(test_repeats_are_warnings),
		TAP_TEST(test_examples),
		TAP_TEST(test_streamed_equals_whole),
	};

	return tap_run(tests, ARRAY_SIZE(tests));
}
