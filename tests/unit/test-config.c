/* SPDX-License-Identifier: MIT */
/* test-config.c: the YAML loader: model, marks, and one test per kind of message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fakesys.h"
#include "tap.h"

struct fx {
	struct diag_list dl;
	struct config *c;
	int r;
};

static void fx_load(struct fx *f, const char *yaml)
{
	*f = (struct fx){ .c = config_new() };
	f->r = config_load_buffer(f->c, "t.yaml", yaml, strlen(yaml), &f->dl);
}

static void fx_done(struct fx *f)
{
	f->c = config_free(f->c);
	diag_list_done(&f->dl);
}

/* The only diagnostic must be an error at line:col with exactly this text. */
/* guest: the diagnostic's guest (--json "guest"); NULL: none */
static void expect_one_guest(const char *yaml, unsigned line, unsigned col, const char *msg, const char *guest)
{
	struct fx f;

	fx_load(&f, yaml);
	CHECK(f.r == -EINVAL);
	CHECK(f.dl.n == 1);
	if (f.dl.n >= 1) {
		CHECK(f.dl.items[0].severity == DIAG_ERROR);
		CHECK(f.dl.items[0].mark.line == line);
		CHECK(f.dl.items[0].mark.col == col);
		CHECK_STREQ(f.dl.items[0].message, msg);
		if (guest)
			CHECK_STREQ(f.dl.items[0].guest ? f.dl.items[0].guest : "(null)", guest);
		if (f.dl.items[0].mark.line != line || f.dl.items[0].mark.col != col)
			printf("#   got %u:%u, want %u:%u\n", f.dl.items[0].mark.line, f.dl.items[0].mark.col, line, col);
	}
	fx_done(&f);
}

static void expect_one(const char *yaml, unsigned line, unsigned col, const char *msg)
{
	expect_one_guest(yaml, line, col, msg, NULL);
}

#define GUEST "version: 1\nguests:\n  g1:\n    adapters: [0x05]\n"

/* A domain list entry on line 5; col 15 is the first entry. */
static void expect_domain(const char *entries, const char *msg)
{
	char *yaml = NULL;

	if (asprintf(&yaml, GUEST "    domains: [%s]\n", entries) < 0)
		abort();
	expect_one(yaml, 5, 15, msg);
	free(yaml);
}

static void test_model(void)
{
	struct fx f;

	fx_load(&f, "version: 1\n"
		    "host:\n"
		    "  keep:\n"
		    "    adapters: [0x05, 6]\n"
		    "  masks: off\n"
		    "guests:\n"
		    "  guest1:\n"
		    "    uuid: 4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c\n"
		    "    adapters: [0x05, 0x06]\n"
		    "    domains: [\"0x04-0x07\", 0xab, \"0x10\"]\n"
		    "    control-domains: [0x35]\n"
		    "    usage-as-control: false\n"
		    "  guest2:\n"
		    "    adapters: [5]\n"
		    "    domains: [0x47]\n");
	CHECK(f.r == 0);
	CHECK(f.dl.n == 0);
	CHECK(f.c->version == 1);
	CHECK(f.c->version_mark.line == 1 && f.c->version_mark.col == 10);
	CHECK(f.c->host_present);
	CHECK(f.c->keep_present);
	CHECK(f.c->keep_mark.line == 3 && f.c->keep_mark.col == 3);
	CHECK(f.c->keep_adapters.present && f.c->keep_adapters.n == 2);
	CHECK(f.c->keep_adapters.items[1].lo == 6 && f.c->keep_adapters.items[1].hi == 6);
	CHECK(!f.c->keep_domains.present);
	CHECK(f.c->masks == CONFIG_MASKS_OFF);
	CHECK(f.c->n_guests == 2);
	CHECK(f.c->n_files == 1);
	if (f.c->n_guests == 2) {
		struct config_guest *g = &f.c->guests[0];

		CHECK_STREQ(g->name, "guest1");
		CHECK(g->mark.line == 7 && g->mark.col == 3);
		CHECK_STREQ(g->uuid, "4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c");
		CHECK(g->uuid_mark.line == 8 && g->uuid_mark.col == 11);
		CHECK(g->adapters.present && g->adapters.n == 2);
		CHECK(g->adapters.mark.line == 9 && g->adapters.mark.col == 5);
		CHECK(g->domains.n == 3);
		CHECK(g->domains.items[0].lo == 4 && g->domains.items[0].hi == 7);
		CHECK(g->domains.items[0].mark.line == 10 && g->domains.items[0].mark.col == 15);
		CHECK(g->domains.items[1].lo == 0xab && g->domains.items[1].mark.col == 28);
		CHECK(g->domains.items[2].lo == 0x10 && g->domains.items[2].hi == 0x10);
		CHECK(g->control_domains.n == 1 && g->control_domains.items[0].lo == 0x35);
		CHECK(g->usage_as_control == 0);
		CHECK(!g->incomplete);
		CHECK(f.c->guests[1].usage_as_control == -1);
		CHECK(f.c->guests[1].uuid == NULL);
		CHECK(f.c->guests[1].adapters.items[0].lo == 5);
	}
	fx_done(&f);
}

static void test_defaults(void)
{
	struct fx f;

	fx_load(&f, "version: 1\n");
	CHECK(f.r == 0 && f.dl.n == 0);
	CHECK(!f.c->host_present && !f.c->keep_present);
	CHECK(f.c->masks == CONFIG_MASKS_AUTO);
	CHECK(f.c->n_guests == 0);
	fx_done(&f);

	fx_load(&f, "version: 1\nhost:\nguests:\n");
	CHECK(f.r == 0 && f.dl.n == 0);
	fx_done(&f);

	CHECK_STREQ(config_masks_to_string(CONFIG_MASKS_AUTO), "auto");
	CHECK_STREQ(config_masks_to_string(CONFIG_MASKS_OFF), "off");
	CHECK(config_masks_to_string(_CONFIG_MASKS_INVALID) == NULL);
}

static void test_numbers_ok(void)
{
	struct fx f;

	fx_load(&f, GUEST "    domains: [0, 255, 0xff, 0xAB, \"0x00-0xff\", \" 1 - 2 \", \"7\"]\n");
	CHECK(f.r == 0 && f.dl.n == 0);
	if (f.c->n_guests == 1 && f.c->guests[0].domains.n == 7) {
		struct config_item *it = f.c->guests[0].domains.items;

		CHECK(it[0].lo == 0 && it[1].lo == 255 && it[2].lo == 255 && it[3].lo == 0xab);
		CHECK(it[4].lo == 0 && it[4].hi == 255);
		CHECK(it[5].lo == 1 && it[5].hi == 2);
		CHECK(it[6].lo == 7 && it[6].hi == 7);
	} else {
		CHECK(!"seven domain entries");
	}
	fx_done(&f);
}

static void test_leading_zeros(void)
{
	expect_domain("047", "guest 'g1': domain '047' has a leading zero, which YAML 1.1 and the kernel read as "
			     "octal (39); did you mean 0x47 or 47?");
	expect_domain("0010", "guest 'g1': domain '0010' has a leading zero, which YAML 1.1 and the kernel read as "
			      "octal (8); did you mean 0x10 or 10?");
	expect_domain("09", "guest 'g1': domain '09' has a leading zero, which YAML 1.1 and the kernel read as "
			    "octal; did you mean 9?");
	expect_domain("00", "guest 'g1': domain '00' has a leading zero, which YAML 1.1 and the kernel read as "
			    "octal (0); did you mean 0?");
	expect_domain("0300", "guest 'g1': domain '0300' has a leading zero, which YAML 1.1 and the kernel read as "
			      "octal (192)");
	expect_domain("\"0x40-047\"", "guest 'g1': domain range '0x40-047': '047' has a leading zero, which YAML 1.1 "
				      "and the kernel read as octal (39); did you mean 0x47 or 47?");
}

static void test_bad_numbers(void)
{
	expect_domain("-1", "guest 'g1': domain '-1' is negative; numbers are 0x00-0xff");
	expect_domain("\"-1\"", "guest 'g1': domain '-1' is negative; numbers are 0x00-0xff");
	expect_domain("256", "guest 'g1': domain '256' out of range 0x00-0xff");
	expect_domain("0x100", "guest 'g1': domain '0x100' out of range 0x00-0xff");
	expect_domain("18446744073709551616", "guest 'g1': domain '18446744073709551616' out of range 0x00-0xff");
	expect_domain("0xffffffffffffffffffff", "guest 'g1': domain '0xffffffffffffffffffff' out of range 0x00-0xff");
	expect_domain("1.5", "guest 'g1': domain '1.5' is not an integer");
	expect_domain("1e3", "guest 'g1': domain '1e3' is not an integer");
	expect_domain(".inf", "guest 'g1': domain '.inf' is not an integer");
	expect_domain("true", "guest 'g1': domain 'true' is a boolean, not a number");
	expect_domain("no", "guest 'g1': domain 'no' is a boolean, not a number");
	expect_domain("\"yes\"", "guest 'g1': domain 'yes' is not a number; write decimal (71) or 0x hex (0x47)");
	expect_domain("0x", "guest 'g1': domain '0x' has no hex digits after 0x");
	expect_domain("0x4g", "guest 'g1': domain '0x4g' is not a number; write decimal (71) or 0x hex (0x47)");
	expect_domain("0X05", "guest 'g1': domain '0X05' is not a number; write decimal (71) or 0x hex (0x47)");
	expect_domain("+5", "guest 'g1': domain '+5' is not a number; write decimal (71) or 0x hex (0x47)");
	expect_domain("~", "guest 'g1': empty domain entry; expected a number such as 0x05");
	expect_domain("\"\"", "guest 'g1': domain is empty; expected a number such as 0x05");
	expect_domain("[1]", "guest 'g1': expected a domain (a number or a \"LOW-HIGH\" range), got a sequence");
	/* the article fits each noun the message is made with */
	expect_one("version: 1\nguests:\n  g1: {adapters: [[5]], domains: [4]}\n", 3, 19,
		   "guest 'g1': expected an adapter (a number or a \"LOW-HIGH\" range), got a sequence");
	expect_one("version: 1\nguests:\n  g1: {adapters: [5], domains: [4], control-domains: [{}]}\n", 3, 55,
		   "guest 'g1': expected a control domain (a number or a \"LOW-HIGH\" range), got a mapping");
	expect_one("version: 1\nhost: {keep: {adapters: [[5]]}}\n", 2, 26,
		   "host.keep: expected an adapter (a number or a \"LOW-HIGH\" range), got a sequence");
}

static void test_ranges(void)
{
	expect_domain("\"0x07-0x04\"", "guest 'g1': domain range '0x07-0x04' is reversed; write \"0x04-0x07\"");
	expect_domain("0x04-0x07", "guest 'g1': domain range '0x04-0x07' must be quoted: \"0x04-0x07\"");
	expect_domain("\"0x05-\"", "guest 'g1': domain range '0x05-' has no upper end; write LOW-HIGH, such as "
				   "\"0x04-0x07\"");
	expect_domain("\"1-2-3\"", "guest 'g1': domain range '1-2-3' must be LOW-HIGH, such as \"0x04-0x07\"");
	expect_domain("\"0xf0-0x1ff\"", "guest 'g1': domain range '0xf0-0x1ff': '0x1ff' out of range 0x00-0xff");
	expect_domain("\"a-b\"", "guest 'g1': domain range 'a-b': 'a' is not a number; write decimal (71) or 0x hex "
				 "(0x47)");
	/* a dash alone or before a blank is a range with no lower end; a minus sign is right before a digit */
	expect_domain("\"-\"", "guest 'g1': domain range '-' has no lower end; write LOW-HIGH, such as \"0x04-0x07\"");
	expect_domain("\"- 5\"", "guest 'g1': domain range '- 5' has no lower end; write LOW-HIGH, such as "
				  "\"0x04-0x07\"");
	expect_domain("\" -5\"", "guest 'g1': domain '-5' is negative; numbers are 0x00-0xff");
	expect_domain("-", "guest 'g1': domain '-' is not a number; write decimal (71) or 0x hex (0x47)");
	expect_domain("-x", "guest 'g1': domain '-x' is not a number; write decimal (71) or 0x hex (0x47)");
	/* a plain a-b that is no range stays "not a number" */
	expect_domain("a-b", "guest 'g1': domain 'a-b' is not a number; write decimal (71) or 0x hex (0x47)");
}

static void test_lists(void)
{
	expect_one(GUEST "    domains: []\n", 5, 14,
		   "guest 'g1': domains is an empty list; list at least one domain or remove the key");
	expect_one(GUEST "    domains:\n", 5, 13,
		   "guest 'g1': domains has no value; expected a list such as [0x05, 0x06]");
	expect_one("version: 1\nguests:\n  g1:\n    adapters: 5\n    domains: [1]\n", 4, 15,
		   "guest 'g1': adapters: expected a sequence, got a scalar '5'");
	expect_one("version: 1\nhost:\n  keep:\n    adapters: []\n", 4, 15,
		   "host.keep: adapters is an empty list; list at least one adapter or remove the key");
	expect_one("version: 1\nhost:\n  keep:\n    adapters: [0x1ff]\n", 4, 16,
		   "host.keep: adapter '0x1ff' out of range 0x00-0xff");

	/* empty control-domains: nothing extra, fine */
	struct fx f;
	fx_load(&f, GUEST "    domains: [1]\n    control-domains: []\n");
	CHECK(f.r == 0 && f.dl.n == 0);
	CHECK(f.c->n_guests == 1 && f.c->guests[0].control_domains.present);
	fx_done(&f);
}

static void test_keys(void)
{
	expect_one(GUEST "    domain: [1]\n", 5, 5,
		   "guest 'g1': unknown key 'domain'; did you mean 'domains'? (valid keys: uuid, adapters, domains, "
		   "control-domains, usage-as-control)");
	expect_one("version: 1\nfoo: 1\n", 2, 1, "unknown key 'foo' (valid keys: version, host, guests)");
	expect_one("version: 1\nhost:\n  mask: auto\n", 3, 3,
		   "host: unknown key 'mask'; did you mean 'masks'? (valid keys: keep, masks)");
	expect_one("version: 1\nhost:\n  keep:\n    cards: [1]\n    domains: [1]\n", 4, 5,
		   "host.keep: unknown key 'cards' (valid keys: adapters, domains)");
	expect_one(GUEST "    domains: [1]\n    adapters: [2]\n", 6, 5,
		   "guest 'g1': adapters: duplicate key (first at t.yaml:4:5)");
	expect_one("version: 1\nversion: 1\n", 2, 1, "version: duplicate key (first at t.yaml:1:1)");
	expect_one(GUEST "    domains: [1]\n  g1:\n    adapters: [1]\n    domains: [1]\n", 6, 3,
		   "guest 'g1': defined twice (first at t.yaml:3:3)");
	expect_one("version: 1\nhost:\n  masks: [auto]\n", 3, 10, "host.masks: expected a scalar, got a sequence");
	expect_one("version: 1\nhost:\n  masks: manual\n", 3, 10, "host.masks: expected 'auto' or 'off', got 'manual'");
	expect_one(GUEST "    domains: [1]\n    usage-as-control: yes\n", 6, 23,
		   "guest 'g1': usage-as-control: expected true or false, got 'yes'");
	expect_one("version: 1\nguests: [g1]\n", 2, 9, "guests: expected a mapping, got a sequence");
	expect_one_guest("version: 1\nguests:\n  g1: 5\n", 3, 7, "guest 'g1': expected a mapping, got a scalar '5'", "g1");
	expect_one("version: 1\nhost:\n  keep: {}\n", 3, 3,
		   "host.keep: no adapters and no domains given; list what the host keeps or remove the key");
	expect_one(GUEST "    domains: [1]\n    [x]: 1\n", 6, 5, "guest 'g1': mapping keys must be scalars");
	expect_one(GUEST "    domains: [1]\n    uuid:\n", 6, 10, "guest 'g1': uuid: expected a scalar, got an empty value");
	/* a version key without a usable value: not also "missing 'version: 1'" */
	expect_one("version:\n", 1, 9, "version: expected a scalar, got an empty value");
	expect_one("version: ~\n", 1, 10, "version: expected a scalar, got null");
	expect_one("version: [1]\n", 1, 10, "version: expected a scalar, got a sequence");
	/* an unknown key in host.keep may be the missing one: not also "no adapters and no domains" */
	expect_one("version: 1\nhost:\n  keep:\n    control-domains: [5]\n", 4, 5,
		   "host.keep: unknown key 'control-domains' (valid keys: adapters, domains)");
}

static void test_unknown_key_suppresses_completeness(void)
{
	struct fx f;

	/* the typo'd key may be the missing domains: the loader marks the guest */
	fx_load(&f, GUEST "    domain: [1]\n");
	CHECK(f.c->n_guests == 1 && f.c->guests[0].incomplete);
	fx_done(&f);
}

static void test_anchors_aliases_tags(void)
{
	struct fx f;

	fx_load(&f, GUEST "    domains: &d [1]\n    control-domains: *d\n");
	CHECK(f.r == -EINVAL);
	CHECK(f.dl.n == 2);
	if (f.dl.n == 2) {
		CHECK_STREQ(f.dl.items[0].message, "guest 'g1': anchors are not supported (anchor 'd')");
		CHECK(f.dl.items[0].mark.line == 5 && f.dl.items[0].mark.col == 14);
		CHECK_STREQ(f.dl.items[1].message, "guest 'g1': aliases are not supported (alias 'd')");
		CHECK(f.dl.items[1].mark.line == 6 && f.dl.items[1].mark.col == 22);
	}
	/* the aliased list counts as given: no "missing" messages on top */
	CHECK(f.c->n_guests == 1 && f.c->guests[0].control_domains.present);
	fx_done(&f);

	expect_one(GUEST "    domains: [!!int 1]\n", 5, 15, "guest 'g1': YAML tags are not supported (tag '!!int')");
	expect_one(GUEST "    domains: [1]\n    uuid: \"a\\0b\"\n", 6, 11, "NUL character inside a scalar");
}

static void test_documents(void)
{
	expect_one("", 1, 1, "empty configuration; expected at least 'version: 1'");
	expect_one("# nothing\n", 1, 1, "empty configuration; expected at least 'version: 1'");
	expect_one("---\n", 1, 1, "empty configuration; expected at least 'version: 1'");
	expect_one("- 1\n", 1, 1, "expected a mapping at the top level, got a sequence");
	expect_one("version: 1\n---\nversion: 1\n", 2, 1,
		   "more than one YAML document; a configuration file holds one document");
	expect_one("guests: {}\n", 1, 1, "missing 'version: 1' at the top level");
	expect_one("version: 2\n", 1, 10, "version: unsupported version '2'; this apmatrix reads version: 1");
	expect_one("version: \"1\"\n", 1, 10,
		   "version: unsupported version '1' (a quoted string); this apmatrix reads version: 1");
}

static void test_syntax_errors(void)
{
	/* libyaml's problem and context, with its 0-based marks made 1-based */
	expect_one("version: 1\nguests:\n  g1:\n    adapters: [0x04\n  g2: {}\n", 5, 5,
		   "YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at 4:15)");
	expect_one("version: 1\nguests:\n\tg1: {}\n", 3, 1,
		   "YAML syntax error: found character that cannot start any token (while scanning for the next "
		   "token at 3:1); YAML does not allow tabs for indentation");
	expect_one("version: 1\nguests: {g1: {adapters: [1], domains: [1]}\n", 3, 1,
		   "YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping at 2:9)");

	/* a guest cut short is marked, so compile does not invent missing keys */
	struct fx f;
	fx_load(&f, "version: 1\nguests:\n  g1:\n    adapters: [1]\n    domains: [1\n");
	CHECK(f.r == -EINVAL);
	CHECK(f.c->n_guests == 1 && f.c->guests[0].incomplete);
	/* and so is the configuration: show and status draw nothing from it */
	CHECK(f.c->incomplete);
	fx_done(&f);

	/* an error that does not end the file leaves it complete */
	fx_load(&f, "version: 1\nguests:\n  g1:\n    adapters: [1]\n    domains: [1]\n    colour: red\n");
	CHECK(f.r == -EINVAL && !f.c->incomplete);
	fx_done(&f);
	/* bytes that are not UTF-8 end it as a syntax error does */
	fx_load(&f, "version: 1\nguests:\n  g1: {adapters: [1], domains: [1]}\n\xff\n");
	CHECK(f.r == -EINVAL && f.c->incomplete);
	fx_done(&f);
}

static void test_all_errors_in_one_run(void)
{
	struct fx f;

	fx_load(&f, "version: 1\n"
		    "host:\n"
		    "  masks: maybe\n"
		    "guests:\n"
		    "  a:\n"
		    "    adapters: [047, 0x100]\n"
		    "    domains: [\"3-1\"]\n"
		    "    colour: red\n"
		    "  b:\n"
		    "    adapters: 1\n");
	CHECK(f.r == -EINVAL);
	CHECK(diag_count(&f.dl, DIAG_ERROR) == 6);
	fx_done(&f);
}

static void test_dropin_merge(void)
{
	struct fx f;
	static const char d1[] = "guests:\n  g2:\n    adapters: [2]\n    domains: [2]\n";
	static const char d2[] = "version: 1\nhost:\n  masks: off\nguests:\n  g1:\n    adapters: [3]\n    domains: [3]\n";
	static const char d3[] = "version: 2\n";
	static const char d4[] = "# empty\n";

	fx_load(&f, GUEST "    domains: [1]\nhost: {masks: auto}\n");
	CHECK(f.r == 0);
	/* a drop-in may omit version */
	CHECK(config_load_buffer(f.c, "d1.yaml", d1, strlen(d1), &f.dl) == 0);
	CHECK(f.c->n_guests == 2);
	/* the same guest in another file, host again */
	CHECK(config_load_buffer(f.c, "d2.yaml", d2, strlen(d2), &f.dl) == -EINVAL);
	CHECK(f.c->n_guests == 2);
	CHECK(f.c->masks == CONFIG_MASKS_AUTO);
	CHECK(f.dl.n == 2);
	if (f.dl.n == 2) {
		CHECK_STREQ(f.dl.items[0].message, "host: already given at t.yaml:6:1; give host settings in one file only");
		CHECK_STREQ(f.dl.items[0].mark.file, "d2.yaml");
		CHECK(f.dl.items[0].mark.line == 2 && f.dl.items[0].mark.col == 1);
		CHECK_STREQ(f.dl.items[1].message,
			    "guest 'g1': already defined at t.yaml:3:3; a guest is defined in one file only");
		CHECK(f.dl.items[1].mark.line == 5 && f.dl.items[1].mark.col == 3);
		CHECK(f.dl.items[0].guest == NULL);
		CHECK_STREQ(f.dl.items[1].guest ? f.dl.items[1].guest : "(null)", "g1");
	}
	/* if a drop-in says version, it must be 1 */
	CHECK(config_load_buffer(f.c, "d3.yaml", d3, strlen(d3), &f.dl) == -EINVAL);
	/* an empty drop-in is only a warning */
	CHECK(config_load_buffer(f.c, "d4.yaml", d4, strlen(d4), &f.dl) == 0);
	CHECK(f.dl.n == 4);
	if (f.dl.n == 4) {
		CHECK(f.dl.items[3].severity == DIAG_WARNING);
		CHECK_STREQ(f.dl.items[3].message, "empty drop-in file, ignoring");
	}
	CHECK(f.c->n_files == 5);
	fx_done(&f);
}

/* host: in a drop-in is read (one file holds it), with a warning at its key that names the main file */
static void test_dropin_host(void)
{
	struct fx f;
	static const char d1[] = "guests:\n  g2: {adapters: [2], domains: [2]}\nhost:\n  masks: off\n";

	fx_load(&f, GUEST "    domains: [1]\n");
	CHECK(f.r == 0 && f.dl.n == 0);
	CHECK(config_load_buffer(f.c, "d1.yaml", d1, strlen(d1), &f.dl) == 0);
	CHECK(f.c->masks == CONFIG_MASKS_OFF);
	CHECK_STREQ(f.c->masks_mark.file, "d1.yaml");
	CHECK(f.c->masks_mark.line == 4 && f.c->masks_mark.col == 10);
	CHECK(f.dl.n == 1);
	if (f.dl.n == 1) {
		CHECK(f.dl.items[0].severity == DIAG_WARNING);
		CHECK_STREQ(f.dl.items[0].message,
			    "host settings in a drop-in apply to the whole host; keep them in t.yaml");
		CHECK_STREQ(f.dl.items[0].mark.file, "d1.yaml");
		CHECK(f.dl.items[0].mark.line == 3 && f.dl.items[0].mark.col == 1);
	}
	fx_done(&f);

	/* in the main file: no warning */
	fx_load(&f, GUEST "    domains: [1]\nhost:\n  masks: off\n");
	CHECK(f.r == 0 && f.dl.n == 0);
	fx_done(&f);
}

static void test_load_files(void)
{
	struct diag_list dl = { 0 };
	struct config *c = NULL;
	int r;

	r = config_load(FIXTURESDIR "/../examples/apmatrix.yaml", FIXTURESDIR "/../examples/apmatrix.d/", &c, &dl);
	CHECK(r == 0);
	CHECK(dl.n == 0);
	CHECK(c && c->n_files == 3);
	if (c && c->n_files == 3) {
		CHECK(strstr(c->files[1], "examples/apmatrix.d/10-databases.yaml") != NULL);
		CHECK(strstr(c->files[2], "examples/apmatrix.d/20-web.yaml") != NULL);
		/* no "//" when the directory is given with a slash */
		CHECK(strstr(c->files[1], "//") == NULL);
		CHECK(c->n_guests == 6);
		CHECK_STREQ(c->guests[0].name, "hsm-gw");
		CHECK_STREQ(c->guests[1].name, "db1");
		CHECK_STREQ(c->guests[5].name, "web3");
	}
	c = config_free(c);
	diag_list_done(&dl);

	/* a missing drop-in directory is fine */
	r = config_load(FIXTURESDIR "/cases/good-seed-two-guests/config.yaml", FIXTURESDIR "/no-such-dir", &c, &dl);
	CHECK(r == 0 && dl.n == 0);
	c = config_free(c);
	diag_list_done(&dl);

	/* a missing main file is an error about the whole file: its name, no line */
	r = config_load(FIXTURESDIR "/no-such-file.yaml", NULL, &c, &dl);
	CHECK(r == -ENOENT);
	CHECK(c != NULL);
	CHECK(dl.n == 1 && dl.items[0].mark.file && dl.items[0].mark.line == 0 && dl.items[0].mark.col == 0);
	if (dl.n == 1) {
		_cleanup_free_ char *s = diag_format(&dl.items[0]);

		CHECK_STREQ(dl.items[0].mark.file, FIXTURESDIR "/no-such-file.yaml");
		CHECK_STREQ(dl.items[0].message, "cannot read: No such file or directory");
		CHECK_STREQ(s, FIXTURESDIR "/no-such-file.yaml: cannot read: No such file or directory");
	}
	c = config_free(c);
	diag_list_done(&dl);

	/* a directory is not a configuration file */
	r = config_load(FIXTURESDIR, NULL, &c, &dl);
	CHECK(r == -EISDIR);
	c = config_free(c);
	diag_list_done(&dl);

	CHECK(config_free(NULL) == NULL);
}

static void test_odd_input(void)
{
	/* control characters in names stay on one line in messages */
	expect_one("version: 1\nguests:\n  \"a\\nb\": 5\n", 3, 11, "guest 'a\\nb': expected a mapping, got a scalar '5'");
	/* C1 controls too (a terminal may read U+009B as ESC [), in a quoted value */
	expect_one("version: 1\nguests:\n  g1: \"\\u009b31m\"\n", 3, 7,
		   "guest 'g1': expected a mapping, got a scalar '\\xc2\\x9b31m'");
	/* very long values are shortened in messages */
	struct fx f;
	char *yaml = NULL;
	if (asprintf(&yaml, GUEST "    domains: [%0200d]\n", 1) < 0)
		abort();
	fx_load(&f, yaml);
	CHECK(f.dl.n == 1 && strlen(f.dl.items[0].message) < 250);
	fx_done(&f);
	free(yaml);
	/* an incomplete UTF-8 sequence names its first byte (libyaml says -1) */
#define NOT_UTF8 "; a configuration file is UTF-8 text (if it is Latin-1: iconv -f latin1 -t utf8)"
	expect_one("version: 1\n# caf\xe9\n", 2, 6, "invalid UTF-8 at byte 0xE9" NOT_UTF8);
	expect_one("version: 1\n# \xc3", 2, 3, "invalid UTF-8 at byte 0xC3" NOT_UTF8);
	/* a bad trailing byte: the lead byte before it (libyaml names the trailing one, a column late) */
	expect_one("version: 1\n# caf\xe9\nguests:\n", 2, 6, "invalid UTF-8 at byte 0xE9" NOT_UTF8);
	expect_one("version: 1\n# \xf0\x9f\x98x\n", 2, 3, "invalid UTF-8 at byte 0xF0" NOT_UTF8);
	expect_one("version: 1\n# \xff\n", 2, 3, "invalid UTF-8 at byte 0xFF" NOT_UTF8);
#undef NOT_UTF8
	/* names cut at the length limit: reported once, by the name cut ("guest '000...'"), never "defined twice", and no guest */
	if (asprintf(&yaml, "version: 1\nguests:\n  %0257d: {adapters: [1], domains: [1]}\n"
			    "  %0258d: {adapters: [1], domains: [1]}\n", 1, 1) < 0)
		abort();
	fx_load(&f, yaml);
	CHECK(f.r == -EINVAL && f.dl.n == 2 && f.c->n_guests == 0);
	for (size_t i = 0; i < f.dl.n; i++)
		CHECK(strncmp(f.dl.items[i].message, "guest '0000", 11) == 0 &&
		      strstr(f.dl.items[i].message, "...': a key or value of 25"));
	fx_done(&f);
	free(yaml);
	/* a long UUID, key or list entry: only its length, after the guest */
	static const char *const longs[] = { "uuid: \"%0300d\"", "%0300d: 5", "control-domains: [\"%0300d\"]" };
	for (size_t i = 0; i < ARRAY_SIZE(longs); i++) {
		char *body = NULL;

		if (asprintf(&body, longs[i], 0) < 0 ||
		    asprintf(&yaml, "version: 1\nguests:\n  g1: {adapters: [1], domains: [1], %s}\n", body) < 0)
			abort();
		fx_load(&f, yaml);
		CHECK(f.r == -EINVAL && f.dl.n == 1);
		if (f.dl.n)
			CHECK_STREQ(f.dl.items[0].message, "guest 'g1': a key or value of 300 bytes; the limit is 256");
		CHECK(f.c->n_guests == 1 && !f.c->guests[0].uuid);
		fx_done(&f);
		free(yaml);
		free(body);
	}
	/* binary garbage: an error, no crash */
	static const char junk[] = "\xff\xfe\x00\x01:\n\t[{";
	fx_load(&f, "");
	fx_done(&f);
	f = (struct fx){ .c = config_new() };
	f.r = config_load_buffer(f.c, "junk", junk, sizeof(junk) - 1, &f.dl);
	CHECK(f.r == -EINVAL);
	fx_done(&f);
}

/* Load root/main.yaml and root/d keeping the bytes in *in. */
static int load_kept(const char *root, struct config_inputs *in, size_t *ret_guests)
{
	struct diag_list dl = { 0 };
	struct config *c = config_new();
	char *main_path, *dir;
	int r;

	if (asprintf(&main_path, "%s/main.yaml", root) < 0 || asprintf(&dir, "%s/d", root) < 0)
		abort();
	config_keep_inputs(c, in);
	r = config_load_into(c, main_path, dir, &dl);
	*ret_guests = c->n_guests;
	config_free(c);
	diag_list_done(&dl);
	free(main_path);
	free(dir);
	return r;
}

static bool same_kept(const char *root, const struct config_inputs *in)
{
	char *main_path, *dir;
	bool same;

	if (asprintf(&main_path, "%s/main.yaml", root) < 0 || asprintf(&dir, "%s/d", root) < 0)
		abort();
	same = config_inputs_same(in, main_path, dir);
	free(main_path);
	free(dir);
	return same;
}

static void test_kept_inputs(void)
{
	char *root = fake_tmpdir();
	struct config_inputs in = { 0 };
	size_t n_guests = 0;

	fake_file(root, "main.yaml", "version: 1\nguests:\n  g1: {adapters: [1], domains: [2]}\n");
	fake_file(root, "d/10-a.yaml", "guests:\n  g2: {adapters: [1], domains: [3]}\n");
	fake_file(root, "d/20-b.yaml", "guests:\n  g3: {adapters: [1], domains: [4]}\n");
	fake_dir(root, "d/15-dir.yaml"); /* skipped, as by the load */
	CHECK(load_kept(root, &in, &n_guests) == 0);
	CHECK(n_guests == 3); /* parsed as when read as it is parsed */
	CHECK(in.n == 3);
	if (in.n == 3) {
		CHECK(strstr(in.items[0].name, "/main.yaml") != NULL);
		CHECK(strstr(in.items[2].name, "/d/20-b.yaml") != NULL);
		CHECK(in.items[1].len == strlen("guests:\n  g2: {adapters: [1], domains: [3]}\n"));
		CHECK(memcmp(in.items[1].buf, "guests:\n  g2:", 13) == 0);
	}
	CHECK(same_kept(root, &in));

	/* one byte of a drop-in, same length */
	fake_file(root, "d/20-b.yaml", "guests:\n  g3: {adapters: [1], domains: [5]}\n");
	CHECK(!same_kept(root, &in));
	fake_file(root, "d/20-b.yaml", "guests:\n  g3: {adapters: [1], domains: [4]}\n");
	CHECK(same_kept(root, &in));
	/* a drop-in more, one less */
	fake_file(root, "d/30-c.yaml", "guests: {}\n");
	CHECK(!same_kept(root, &in));
	CHECK(fake_unlink(root, "d/30-c.yaml") == 0);
	CHECK(fake_unlink(root, "d/10-a.yaml") == 0);
	CHECK(!same_kept(root, &in));
	fake_file(root, "d/10-a.yaml", "guests:\n  g2: {adapters: [1], domains: [3]}\n");
	CHECK(same_kept(root, &in));
	/* the main file grown; then no longer trusted */
	fake_file(root, "main.yaml", "version: 1\nguests:\n  g1: {adapters: [1], domains: [2]}\n\n");
	CHECK(!same_kept(root, &in));
	fake_file(root, "main.yaml", "version: 1\nguests:\n  g1: {adapters: [1], domains: [2]}\n");
	CHECK(same_kept(root, &in));
	{
		char *p;

		if (asprintf(&p, "%s/d/10-a.yaml", root) < 0)
			abort();
		CHECK(chmod(p, 0666) == 0);
		CHECK(!same_kept(root, &in));
		CHECK(chmod(p, 0644) == 0);
		CHECK(same_kept(root, &in));
		free(p);
	}
	/* the drop-in directory gone */
	CHECK(fake_rm_rf(root, "d"));
	CHECK(!same_kept(root, &in));
	config_inputs_done(&in);
	CHECK(in.n == 0 && in.items == NULL);
	fake_rmtree(root);
}

int main(void)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_model),
		TAP_TEST(test_defaults),
		TAP_TEST(test_numbers_ok),
		TAP_TEST(test_leading_zeros),
		TAP_TEST(test_bad_numbers),
		TAP_TEST(test_ranges),
		TAP_TEST(test_lists),
		TAP_TEST(test_keys),
		TAP_TEST(test_unknown_key_suppresses_completeness),
		TAP_TEST(test_anchors_aliases_tags),
		TAP_TEST(test_documents),
		TAP_TEST(test_syntax_errors),
		TAP_TEST(test_all_errors_in_one_run),
		TAP_TEST(test_dropin_merge),
		TAP_TEST(test_dropin_host),
		TAP_TEST(test_load_files),
		TAP_TEST(test_kept_inputs),
		TAP_TEST(test_odd_input),
	};

	return tap_run(tests, ARRAY_SIZE(tests));
}
