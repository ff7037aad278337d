/* SPDX-License-Identifier: MIT */
/*
 * topology.c: the simulated host, read from YAML (format in README.md).
 * Scalars are taken as text, so `kernel: 6.10` stays "6.10".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "macro.h"
#include "sim.h"

struct ctx {
	yaml_document_t *doc;
	char **err;
};

_printf_(3, 4) static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(*c->err);
	if (n)
		*c->err = xasprintf("%zu:%zu: %s", n->start_mark.line + 1, n->start_mark.column + 1,
				    msg ? msg : "error");
	else
		*c->err = xstrdup(msg ? msg : "error");
	return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int parse_num(struct ctx *c, const yaml_node_t *n, unsigned max, unsigned *ret)
{
	const char *s = scalar(n);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return fail(c, n, "expected a number");
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > max)
		return fail(c, n, "invalid number '%s' (0..%u)", s, max);
	*ret = (unsigned)v;
	return 0;
}

/* A number or a "LOW-HIGH" range into a bitmap. */
static int parse_range(struct ctx *c, const yaml_node_t *n, unsigned max, struct bitmap256 *b)
{
	const char *s = scalar(n);
	const char *dash;
	unsigned lo, hi;
	char *end;

	if (!s)
		return fail(c, n, "expected a number or a range");
	dash = strchr(s + 1, '-');
	if (!dash) {
		int r = parse_num(c, n, max, &lo);
		if (r < 0)
			return r;
		bitmap_set(b, lo);
		return 0;
	}
	lo = (unsigned)strtoul(s, &end, 0);
	if (end != dash)
		return fail(c, n, "invalid range '%s'", s);
	hi = (unsigned)strtoul(dash + 1, &end, 0);
	if (*end || lo > hi || hi > max)
		return fail(c, n, "invalid range '%s' (0..%u)", s, max);
	bitmap_set_range(b, lo, hi);
	return 0;
}

static int parse_set(struct ctx *c, const yaml_node_t *n, unsigned max, struct bitmap256 *b)
{
	if (n->type == YAML_SCALAR_NODE)
		return parse_range(c, n, max, b);
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "expected a list");
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
		int r = parse_range(c, yaml_document_get_node(c->doc, *i), max, b);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_mask(struct ctx *c, const yaml_node_t *n, struct bitmap256 *b)
{
	const char *s = scalar(n);

	if (!s)
		return fail(c, n, "expected 'all' or a 0x... bitmap");
	if (streq(s, "all")) {
		*b = bitmap_full();
		return 0;
	}
	if (bitmap_from_kernel(s, b) < 0)
		return fail(c, n, "invalid mask '%s'", s);
	return 0;
}

static int card_type(const char *s, struct topo_card *card)
{
	size_t len = strlen(s);

	if (len != 5 || strncmp(s, "CEX", 3) || s[3] < '4' || s[3] > '8')
		return -EINVAL;
	switch (s[4]) {
	case 'A':
		card->mode = MODE_ACCEL;
		break;
	case 'C':
		card->mode = MODE_CCA;
		break;
	case 'P':
		card->mode = MODE_EP11;
		break;
	default:
		return -EINVAL;
	}
	snprintf(card->type, sizeof(card->type), "%s", s);
	/* CEX4 = 10 ... CEX8 = 14 (kernel-abi.md §2.2 hwtype) */
	card->hwtype = 10 + (unsigned)(s[3] - '4');
	return 0;
}

const char *card_mode_to_string(enum card_mode m)
{
	switch (m) {
	case MODE_ACCEL:
		return "accel";
	case MODE_CCA:
		return "cca";
	case MODE_EP11:
		return "ep11";
	}
	return "?";
}

/*
 * One card mapping.  `id` may be a range ("0x00-0x3f"): then *ret_ids gets
 * every id and the other fields are shared.
 */
static int parse_card(struct ctx *c, const yaml_node_t *n, unsigned max_adapter, unsigned max_domain,
		      struct topo_card *card, struct bitmap256 *ret_ids)
{
	bool have_id = false, have_type = false, have_mode = false;
	struct bitmap256 ids = { { 0 } };

	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n, "a card is a mapping {id, type, mode, domains}");
	memset(card, 0, sizeof(*card));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		const char *key = scalar(k);
		int r = 0;

		if (!key)
			return fail(c, k, "expected a key");
		if (streq(key, "id")) {
			r = parse_range(c, v, max_adapter, &ids);
			have_id = true;
		} else if (streq(key, "type")) {
			if (!scalar(v) || card_type(scalar(v), card) < 0)
				return fail(c, v, "unknown card type (CEX4A..CEX8P)");
			have_type = true;
		} else if (streq(key, "mode")) {
			const char *m = scalar(v);
			if (m && streq(m, "cca"))
				card->mode = MODE_CCA;
			else if (m && streq(m, "accel"))
				card->mode = MODE_ACCEL;
			else if (m && streq(m, "ep11"))
				card->mode = MODE_EP11;
			else
				return fail(c, v, "mode is cca, accel or ep11");
			have_mode = true;
		} else if (streq(key, "domains")) {
			r = parse_set(c, v, max_domain, &card->domains);
		} else {
			return fail(c, k, "unknown card key '%s'", key);
		}
		if (r < 0)
			return r;
	}
	if (!have_id || !have_type)
		return fail(c, n, "a card needs id and type");
	if (have_mode) {
		/* the letter of the type follows the mode, as lszcrypt shows it */
		card->type[4] = card->mode == MODE_CCA ? 'C' : card->mode == MODE_EP11 ? 'P' : 'A';
	}
	card->id = (unsigned)bitmap_next(&ids, 0);
	*ret_ids = ids;
	return 0;
}

static int load_doc(struct ctx *c, struct topology *t)
{
	yaml_node_t *root = yaml_document_get_root_node(c->doc);
	struct bitmap256 seen = { { 0 } };

	if (!root || root->type != YAML_MAPPING_NODE)
		return fail(c, root, "the topology is a mapping");
	snprintf(t->profile, sizeof(t->profile), "6.12");
	t->vfio_loaded = true;
	t->max_adapter = 0x3f;
	t->max_domain = 0x54;
	t->apmask = bitmap_full();
	t->aqmask = bitmap_full();

	/* max ids first: card and domain ranges are checked against them */
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		const char *key = scalar(yaml_document_get_node(c->doc, p->key));
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		int r = 0;

		if (key && streq(key, "max_adapter"))
			r = parse_num(c, v, 255, &t->max_adapter);
		else if (key && streq(key, "max_domain"))
			r = parse_num(c, v, 255, &t->max_domain);
		if (r < 0)
			return r;
	}

	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		const char *key = scalar(k);
		int r = 0;

		if (!key)
			return fail(c, k, "expected a key");
		if (streq(key, "kernel")) {
			const char *s = scalar(v);
			if (!s || strlen(s) >= sizeof(t->profile))
				return fail(c, v, "kernel: expected a version like 6.12 or rfc2017");
			snprintf(t->profile, sizeof(t->profile), "%s", s);
		} else if (streq(key, "vfio_ap")) {
			const char *s = scalar(v);
			if (s && streq(s, "loaded"))
				t->vfio_loaded = true;
			else if (s && streq(s, "unloaded"))
				t->vfio_loaded = false;
			else
				return fail(c, v, "vfio_ap is loaded or unloaded");
		} else if (streq(key, "max_adapter") || streq(key, "max_domain")) {
			continue;
		} else if (streq(key, "apmask")) {
			r = parse_mask(c, v, &t->apmask);
		} else if (streq(key, "aqmask")) {
			r = parse_mask(c, v, &t->aqmask);
		} else if (streq(key, "control_domains")) {
			r = parse_set(c, v, t->max_domain, &t->control_domains);
		} else if (streq(key, "cards")) {
			if (v->type != YAML_SEQUENCE_NODE)
				return fail(c, v, "cards: expected a list");
			for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
			     i++) {
				yaml_node_t *cn = yaml_document_get_node(c->doc, *i);
				struct topo_card card;
				struct bitmap256 ids;

				r = parse_card(c, cn, t->max_adapter, t->max_domain, &card, &ids);
				if (r < 0)
					return r;
				if (bitmap_intersects(&ids, &seen))
					return fail(c, cn, "card defined twice");
				seen = bitmap_or(&seen, &ids);
				BITMAP_FOREACH(id, &ids) {
					t->cards = xrealloc(t->cards, (t->n_cards + 1) * sizeof(*t->cards));
					card.id = (unsigned)id;
					t->cards[t->n_cards++] = card;
				}
			}
		} else {
			return fail(c, k, "unknown key '%s'", key);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int load_parser(yaml_parser_t *parser, struct topology *t, char **ret_err)
{
	yaml_document_t doc;
	struct ctx c = { .doc = &doc, .err = ret_err };
	int r;

	if (!yaml_parser_load(parser, &doc)) {
		*ret_err = xasprintf("%zu:%zu: %s", parser->problem_mark.line + 1,
				     parser->problem_mark.column + 1,
				     parser->problem ? parser->problem : "YAML error");
		return -EINVAL;
	}
	r = load_doc(&c, t);
	yaml_document_delete(&doc);
	return r;
}

int topology_load(const char *path, struct topology *ret, char **ret_err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	yaml_parser_t parser;
	struct topology t;
	int r;

	memset(&t, 0, sizeof(t));
	if (!f) {
		*ret_err = xasprintf("%s: %m", path);
		return -errno;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	r = load_parser(&parser, &t, ret_err);
	yaml_parser_delete(&parser);
	if (r < 0) {
		_cleanup_free_ char *e = *ret_err;
		*ret_err = xasprintf("%s:%s", path, e);
		topology_done(&t);
		return r;
	}
	*ret = t;
	return 0;
}

int topology_parse_card(const char *text, unsigned max_adapter, unsigned max_domain,
			struct topo_card *ret, char **ret_err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct ctx c = { .doc = &doc, .err = ret_err };
	struct bitmap256 ids;
	yaml_node_t *root;
	int r;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&parser, &doc)) {
		*ret_err = xstrdup(parser.problem ? parser.problem : "YAML error");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	root = yaml_document_get_root_node(&doc);
	/* accept "- {..}" as well as "{..}" */
	if (root && root->type == YAML_SEQUENCE_NODE && root->data.sequence.items.top > root->data.sequence.items.start)
		root = yaml_document_get_node(&doc, *root->data.sequence.items.start);
	r = root ? parse_card(&c, root, max_adapter, max_domain, ret, &ids)
		 : fail(&c, NULL, "empty card");
	if (r == 0 && bitmap_count(&ids) != 1)
		r = fail(&c, root, "hotplug takes one card id");
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return r;
}

void topology_done(struct topology *t)
{
	free(t->cards);
	t->cards = NULL;
	t->n_cards = 0;
}
