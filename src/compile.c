/* SPDX-License-Identifier: MIT */
/*
 * compile.c: struct config -> struct desired.  Expands number lists into
 * bitmaps and checks everything that needs more than one value at a time:
 * guest names, UUIDs (explicit or derived, unique), guests that cannot form
 * a single APQN, numbers listed twice, APQNs claimed by two guests and
 * APQNs the host keeps (DESIGN §2, kernel-abi.md §3).
 *
 * Every guest is checked, and every pair of guests (STYLE R11).  A conflict
 * is reported at the later definition (config order: main file first, then
 * drop-ins by name) and names the earlier one in the text (R14).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

_Static_assert(CONFIG_MAX_LIST <= USHRT_MAX, "desired_guest.n_src counts list entries");

/* Conflict messages list at most this many APQNs. */
#define OVERLAP_LIST_MAX 8
/* Conflicts with earlier guests listed for one guest; the rest are counted. */
#define CONFLICTS_LISTED 10
/* Repeated numbers warned about in one list; the rest are counted, as conflicts are. */
#define REPEATS_LISTED 10

static const char *const dim_noun[_DIM_MAX][2] = {
	[DIM_ADAPTER] = { "adapter", "adapters" },
	[DIM_DOMAIN] = { "domain", "domains" },
	[DIM_CONTROL_DOMAIN] = { "control domain", "control domains" },
};

static char *mark_string(const struct mark *m)
{
	return xasprintf("%s:%u:%u", m->file, m->line, m->col);
}

/* [A-Za-z0-9_.-]{1,64}, and not "." or "..", which would be path tricks. */
static bool guest_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 64 || streq(s, ".") || streq(s, ".."))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '.' || *s == '-'))
			return false;
	return true;
}

/* escape_for_message(name), made at the first message and kept in *cache. */
static const char *msg_name(char **cache, const char *name)
{
	if (!*cache)
		*cache = escape_for_message(name);
	return *cache;
}

const struct mark *desired_guest_mark(const struct desired_guest *g, enum desired_dim dim, unsigned n)
{
	for (size_t i = 0; i < g->n_src[dim]; i++)
		if (g->src[dim][i].lo <= n && n <= g->src[dim][i].hi)
			return &g->src[dim][i].mark;
	/* a control domain that is there because it is a usage domain */
	if (dim == DIM_CONTROL_DOMAIN && g->usage_as_control)
		return desired_guest_mark(g, DIM_DOMAIN, n);
	return &g->mark;
}

/*
 * The union of list l's entries.  A number given twice is harmless, so it
 * is a warning, at the repeat, naming the entry that gave it first; guest:
 * whose list it is (NULL: host.keep's).  The first REPEATS_LISTED
 * repeating entries are warned about, the others counted in one more
 * warning, at the first of them: a list of 256 entries would otherwise
 * make 255 lines, a configuration 65536.
 */
static struct bitmap256 expand_entries(const struct config_list *l, enum desired_dim dim, const char *guest,
				       struct diag_list *diags)
{
	struct bitmap256 all = { { 0 } };
	const struct mark *unlisted = NULL; /* the first repeat not warned about */
	size_t repeats = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct config_item *it = &l->items[i];
		struct bitmap256 b = { { 0 } }, dup;

		bitmap_set_range(&b, it->lo, it->hi);
		dup = bitmap_and(&all, &b);
		all = bitmap_or(&all, &b);
		if (bitmap_empty(&dup))
			continue;
		if (repeats++ >= REPEATS_LISTED) {
			if (!unlisted)
				unlisted = &it->mark;
		} else {
			_cleanup_free_ char *nums = bitmap_format_ranges(&dup, 2), *first = NULL, *whose = NULL;
			unsigned n = (unsigned)bitmap_next(&dup, 0);
			size_t j = 0;

			while (j < i && !(l->items[j].lo <= n && n <= l->items[j].hi))
				j++;
			first = mark_string(&l->items[j].mark); /* j < i: n is in all, from an earlier entry */
			whose = guest ? xasprintf("guest '%s'", guest) : xstrdup("host.keep");
			diag_add(diags, DIAG_WARNING, &it->mark, guest,
				 "%s: %s %s listed more than once (first at %s), ignoring the repeat", whose,
				 dim_noun[dim][bitmap_count(&dup) > 1], nums ? nums : "?", first);
		}
	}
	if (unlisted) {
		_cleanup_free_ char *whose = guest ? xasprintf("guest '%s'", guest) : xstrdup("host.keep");

		diag_add(diags, DIAG_WARNING, unlisted, guest,
			 "%s: %zu more %s entries repeat earlier ones (not listed), ignoring the repeats", whose,
			 repeats - REPEATS_LISTED, dim_noun[dim][0]);
	}
	return all;
}

/* Point g->src[dim] at the list's entries (desired_guest_mark()) and return their union. */
static struct bitmap256 expand_list(struct desired_guest *g, enum desired_dim dim,
				    const struct config_list *l, struct diag_list *diags)
{
	g->src[dim] = l->items; /* in the arena desired takes over */
	g->n_src[dim] = (unsigned short)l->n; /* at most CONFIG_MAX_LIST */
	return expand_entries(l, dim, g->name, diags);
}

/* host.keep's list: as a guest's, but an omitted one is all 256. */
static struct bitmap256 expand_keep(const struct config_list *l, enum desired_dim dim, struct diag_list *diags)
{
	if (!l->present)
		return bitmap_full();
	return expand_entries(l, dim, NULL, diags);
}


/* APMATRIX_UUID_NAMESPACE as bytes, parsed once (a constant, valid by construction). */
static const unsigned char *namespace_uuid(void)
{
	static unsigned char ns[16];
	static bool parsed;

	if (!parsed)
		parsed = uuid_to_bytes(APMATRIX_UUID_NAMESPACE, ns);
	return ns;
}

static void check_uuid(struct desired_guest *g, const struct config_guest *cg, char **msgname,
		       struct diag_list *diags)
{
	unsigned char u[16];

	g->uuid_valid = true;
	if (cg->uuid) {
		g->uuid_mark = cg->uuid_mark;
		if (uuid_canonicalize(cg->uuid, g->uuid))
			return;
		_cleanup_free_ char *v = escape_for_message(cg->uuid);
		diag_add(diags, DIAG_ERROR, &cg->uuid_mark, g->name,
			 "guest '%s': invalid UUID '%s'; expected 36 characters such as %s",
			 msg_name(msgname, cg->name), v,
			 "4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c");
		g->uuid_valid = false;
		/* fall through: derive one, so that show can still draw the guest */
	} else {
		g->uuid_mark = g->mark;
	}
	g->uuid_derived = true;
	/* from the name as written: g->name may be the escaped one */
	uuid_v5(namespace_uuid(), cg->name, strlen(cg->name), u);
	uuid_format(u, g->uuid);
}

static void compile_guest(struct desired_guest *g, const struct config_guest *cg, struct arena *arena,
			  struct diag_list *diags)
{
	_cleanup_free_ char *msgname = NULL; /* msg_name() */
	struct bitmap256 usage_as_control, explicit_control;

	g->name = cg->name; /* in the arena desired takes over */
	g->mark = cg->mark;
	g->usage_as_control = cg->usage_as_control != 0;

	if (!guest_name_valid(cg->name)) {
		/*
		 * Only an invalid name can hold a control character.  The guest
		 * keeps it escaped, so that every later message (plan, hostcheck,
		 * apply) and every `show` line is one line without raw escapes.
		 */
		if (!streq(msg_name(&msgname, cg->name), cg->name))
			g->name = arena_strdup(arena, msgname);
		diag_add(diags, DIAG_ERROR, &cg->mark, g->name,
			 "guest '%s': invalid name; use 1-64 characters from A-Z a-z 0-9 _ . - (not '.' or '..')",
			 msgname);
	}

	check_uuid(g, cg, &msgname, diags);

	g->matrix.adapters = expand_list(g, DIM_ADAPTER, &cg->adapters, diags);
	g->matrix.domains = expand_list(g, DIM_DOMAIN, &cg->domains, diags);
	explicit_control = expand_list(g, DIM_CONTROL_DOMAIN, &cg->control_domains, diags);
	usage_as_control = g->usage_as_control ? g->matrix.domains : (struct bitmap256){ { 0 } };
	g->matrix.control_domains = bitmap_or(&explicit_control, &usage_as_control);

	/* Cut short by a syntax error or with an unknown key: what is "missing" may be there. */
	if (cg->incomplete)
		return;
	if (cg->adapters.present && !cg->domains.present)
		diag_add(diags, DIAG_ERROR, &cg->adapters.mark, g->name,
			 "guest '%s': adapters given but no usage domains; add 'domains'",
			 msg_name(&msgname, cg->name));
	else if (cg->domains.present && !cg->adapters.present)
		diag_add(diags, DIAG_ERROR, &cg->domains.mark, g->name,
			 "guest '%s': domains given but no adapters; add 'adapters'",
			 msg_name(&msgname, cg->name));
	else if (!cg->adapters.present && cg->control_domains.present)
		diag_add(diags, DIAG_ERROR, &cg->control_domains.mark, g->name,
			 "guest '%s': control domains without adapters and usage domains; "
			 "a guest needs at least one APQN", msg_name(&msgname, cg->name));
	else if (!cg->adapters.present)
		diag_add(diags, DIAG_ERROR, &cg->mark, g->name,
			 "guest '%s': no adapters and no domains; a guest needs at least one APQN",
			 msg_name(&msgname, cg->name));
}

/* "APQN 01.0006" or "APQNs 01.0005 01.0006" or "APQNs 05.0000 ... (64 in all)" */
static char *apqn_list(const struct apqn_matrix *a, const struct apqn_matrix *b)
{
	struct bitmap256 ad = bitmap_and(&a->adapters, &b->adapters), dom = bitmap_and(&a->domains, &b->domains);
	unsigned n = bitmap_count(&ad) * bitmap_count(&dom);
	_cleanup_free_ char *list = matrix_format_overlap(a, b, OVERLAP_LIST_MAX);

	if (n == 1)
		return xasprintf("APQN %s", list ? list : "?");
	if (n <= OVERLAP_LIST_MAX)
		return xasprintf("APQNs %s", list ? list : "?");
	return xasprintf("APQNs %s (%u in all)", list ? list : "?", n);
}

/* Where a conflict sits in g: the entry of the first shared usage domain. */
static const struct mark *conflict_mark(const struct desired_guest *g, const struct apqn_matrix *other)
{
	struct bitmap256 dom = bitmap_and(&g->matrix.domains, &other->domains);

	return desired_guest_mark(g, DIM_DOMAIN, (unsigned)bitmap_next(&dom, 0));
}

static size_t uuid_hash(const char *u)
{
	size_t h = 14695981039346656037ULL; /* FNV-1a over the 36 characters */

	for (size_t i = 0; i < UUID_STR_LEN - 1; i++)
		h = (h ^ (unsigned char)u[i]) * 1099511628211ULL;
	return h;
}

/*
 * Which guests share a queue or a valid UUID with an earlier one, noted as
 * each guest is compiled (while it is still in the cache): the union of the
 * earlier guests' queues per adapter and a hash table of their UUIDs,
 * instead of comparing every pair (bench/RESULTS.md: 10,000 guests).  Only
 * those guests go through the pairwise loop in check_pairs(), which finds
 * the partners.  A slot keeps the UUID's hash beside the guest number, so
 * growing the table does not read the guests again.
 */
struct uuid_slot {
	unsigned guest; /* guest number + 1, 0 = empty */
	unsigned hash;
};

struct conflict_finder {
	struct bitmap256 *taken; /* [256], per adapter: the domains earlier guests use */
	struct uuid_slot *slot;
	size_t cap, n_uuids; /* cap: 0 or a power of two */
	bool *flag;          /* per guest: conflicts with an earlier one */
	size_t cap_flag;
};

static void uuid_slot_put(struct conflict_finder *cf, struct uuid_slot v)
{
	size_t i = v.hash & (cf->cap - 1);

	while (cf->slot[i].guest)
		i = (i + 1) & (cf->cap - 1);
	cf->slot[i] = v;
}

/* Guest j (gs[j]) is compiled: note whether it meets an earlier one. */
static void note_conflicts(struct conflict_finder *cf, const struct desired_guest *gs, size_t j)
{
	const struct desired_guest *g = &gs[j];
	bool hit = false;
	unsigned h;

	if (!cf->taken)
		cf->taken = xcalloc(256, sizeof(*cf->taken));
	BITMAP_FOREACH(a, &g->matrix.adapters) {
		if (bitmap_intersects(&cf->taken[a], &g->matrix.domains))
			hit = true;
		cf->taken[a] = bitmap_or(&cf->taken[a], &g->matrix.domains);
	}
	if (g->uuid_valid) {
		if (4 * (cf->n_uuids + 1) > 3 * cf->cap) { /* at most 3/4 full */
			struct uuid_slot *old = cf->slot;
			size_t old_cap = cf->cap;

			cf->cap = old_cap ? 2 * old_cap : 64;
			cf->slot = xcalloc(cf->cap, sizeof(*cf->slot));
			for (size_t i = 0; i < old_cap; i++)
				if (old[i].guest)
					uuid_slot_put(cf, old[i]);
			free(old);
		}
		h = (unsigned)uuid_hash(g->uuid);
		for (size_t i = h & (cf->cap - 1);; i = (i + 1) & (cf->cap - 1)) {
			const struct uuid_slot *sl = &cf->slot[i];

			if (!sl->guest) {
				cf->slot[i] = (struct uuid_slot){ (unsigned)j + 1, h };
				cf->n_uuids++;
				break;
			}
			if (sl->hash == h && streq(gs[sl->guest - 1].uuid, g->uuid)) {
				hit = true; /* the later of the two */
				break;
			}
		}
	}
	cf->flag = xgrow_raw(cf->flag, &cf->cap_flag, j + 1, sizeof(*cf->flag));
	cf->flag[j] = hit;
}

static void conflict_finder_free(struct conflict_finder *cf)
{
	free(cf->taken);
	free(cf->slot);
	free(cf->flag);
}

/*
 * Every pair is checked, but a guest's conflicts are listed up to
 * CONFLICTS_LISTED, then counted: 4096 guests that all claim one queue
 * would otherwise make millions of messages.
 */
static void check_pairs(struct desired_guest *gs, size_t n, const bool *conflicting, struct diag_list *diags)
{
	for (size_t j = 1; j < n; j++) {
		struct desired_guest *b = &gs[j];
		_cleanup_free_ char *bname = NULL;
		size_t found = 0;

		if (!conflicting[j])
			continue;
		bname = escape_for_message(b->name);

		for (size_t i = 0; i < j; i++) {
			struct desired_guest *a = &gs[i];
			bool same_uuid = a->uuid_valid && b->uuid_valid && streq(a->uuid, b->uuid);
			bool overlap = matrix_overlap(&a->matrix, &b->matrix);
			_cleanup_free_ char *aname = NULL;

			if (!same_uuid && !overlap)
				continue;
			if (found++ >= CONFLICTS_LISTED)
				continue;
			aname = escape_for_message(a->name);
			if (same_uuid) {
				_cleanup_free_ char *first = mark_string(&a->uuid_mark);
				diag_add(diags, DIAG_ERROR, &b->uuid_mark, b->name,
					 "guest '%s': UUID %s%s is also the UUID of guest '%s'%s (%s)", bname,
					 b->uuid, b->uuid_derived ? " (derived from the name)" : "", aname,
					 a->uuid_derived ? " (derived from its name)" : "", first);
			}
			if (overlap) {
				_cleanup_free_ char *list = apqn_list(&a->matrix, &b->matrix);
				_cleanup_free_ char *first = mark_string(conflict_mark(a, &b->matrix));

				diag_add(diags, DIAG_ERROR, conflict_mark(b, &a->matrix), b->name,
					 "guest '%s': %s already assigned to guest '%s' (%s)", bname, list, aname, first);
			}
		}
		if (found > CONFLICTS_LISTED)
			diag_add(diags, DIAG_ERROR, &b->mark, b->name,
				 "guest '%s': conflicts with %zu more earlier guests (not listed)", bname,
				 found - CONFLICTS_LISTED);
	}
}

static void check_keep(const struct desired *d, const struct desired_guest *gs, size_t n,
		       struct diag_list *diags)
{
	const struct apqn_matrix keep = { .adapters = d->keep_adapters, .domains = d->keep_domains };
	_cleanup_free_ char *where = NULL;

	if (!d->has_keep)
		return;
	where = mark_string(&d->keep_mark);
	for (size_t i = 0; i < n; i++) {
		const struct desired_guest *g = &gs[i];

		if (matrix_overlap(&g->matrix, &keep)) {
			_cleanup_free_ char *list = apqn_list(&g->matrix, &keep), *gname = escape_for_message(g->name);
			diag_add(diags, DIAG_ERROR, conflict_mark(g, &keep), g->name,
				 "guest '%s': %s kept by the host (host.keep at %s)", gname, list, where);
		}
	}
}

static int cmp_guests(const void *a, const void *b)
{
	return strcmp(((const struct desired_guest *)a)->name, ((const struct desired_guest *)b)->name);
}

struct compiler {
	struct desired *d;
	size_t cap_guests;
	struct diag_list diags; /* about single guests, until compile_end() */
	struct conflict_finder cf;
	bool unsorted; /* a guest's name sorts before the one before it */
};

static void take_guest(void *data, const struct config_guest *cg)
{
	struct compiler *c = data;
	struct desired *d = c->d;

	/* in config order: conflicts are reported at the later definition */
	d->guests = xgrow_raw(d->guests, &c->cap_guests, d->n_guests + 1, sizeof(*d->guests));
	d->guests[d->n_guests] = (struct desired_guest){ 0 };
	compile_guest(&d->guests[d->n_guests], cg, &d->arena, &c->diags);
	note_conflicts(&c->cf, d->guests, d->n_guests);
	if (d->n_guests > 0 && cmp_guests(&d->guests[d->n_guests - 1], &d->guests[d->n_guests]) > 0)
		c->unsorted = true;
	d->n_guests++;
}

struct compiler *compile_begin(struct config *cfg)
{
	struct compiler *c = xcalloc(1, sizeof(*c));

	c->d = xcalloc(1, sizeof(*c->d));
	cfg->take_guest = take_guest;
	cfg->take_data = c;
	return c;
}

int compile_end(struct compiler *c, struct config *cfg, struct desired **ret, struct diag_list *diags)
{
	struct desired *d = c->d;
	size_t before = diag_count(diags, DIAG_ERROR);

	cfg->take_guest = NULL;
	cfg->take_data = NULL;
	/* guests the config kept: compile_config() (a config read with a taker keeps none) */
	for (size_t i = 0; i < cfg->n_guests; i++)
		take_guest(c, &cfg->guests[i]);
	/*
	 * A file cut short (a YAML syntax error, or a limit: config.h,
	 * incomplete) is not the configuration: what was read of it may lack
	 * a key the rest of the file gives (a "domains:" indented wrongly), so
	 * every judgement of it would be a guess.  Only the reader's errors
	 * are said (the syntax error among them), none of compile's, for
	 * any file: a guest or an overlap may span the files.
	 */
	if (cfg->incomplete)
		diag_list_done(&c->diags);
	else
		diag_move(diags, &c->diags);

	d->masks = cfg->masks;
	d->masks_mark = cfg->masks_mark;
	if (cfg->keep_present && (cfg->keep_adapters.present || cfg->keep_domains.present)) {
		struct diag_list *kd = cfg->incomplete ? &c->diags : diags; /* c->diags: dropped below */

		d->has_keep = true;
		d->keep_mark = cfg->keep_mark;
		d->keep_adapters = expand_keep(&cfg->keep_adapters, DIM_ADAPTER, kd);
		d->keep_domains = expand_keep(&cfg->keep_domains, DIM_DOMAIN, kd);
	}
	if (!cfg->incomplete) {
		check_pairs(d->guests, d->n_guests, c->cf.flag, diags);
		check_keep(d, d->guests, d->n_guests, diags);
	}
	diag_list_done(&c->diags);

	/* sorted by name; configurations are often written in that order already */
	if (c->unsorted)
		qsort(d->guests, d->n_guests, sizeof(*d->guests), cmp_guests);
	conflict_finder_free(&c->cf);
	free(c);
	arena_move(&d->arena, &cfg->arena);
	*ret = d;
	return diag_count(diags, DIAG_ERROR) > before ? -EINVAL : 0;
}

int compile_config(struct config *cfg, struct desired **ret, struct diag_list *diags)
{
	return compile_end(compile_begin(cfg), cfg, ret, diags);
}

struct bitmap256 desired_explicit_control_domains(const struct desired_guest *g)
{
	struct bitmap256 b = { { 0 } };

	for (size_t i = 0; i < g->n_src[DIM_CONTROL_DOMAIN]; i++)
		bitmap_set_range(&b, g->src[DIM_CONTROL_DOMAIN][i].lo, g->src[DIM_CONTROL_DOMAIN][i].hi);
	return b;
}

const struct desired_guest *desired_find_guest(const struct desired *d, const char *name)
{
	const struct desired_guest key = { .name = (char *)name };

	if (!d->n_guests)
		return NULL;
	return bsearch(&key, d->guests, d->n_guests, sizeof(*d->guests), cmp_guests);
}

bool desired_keeps(const struct desired *d, unsigned a, unsigned dom)
{
	return d->has_keep && bitmap_test(&d->keep_adapters, a) && bitmap_test(&d->keep_domains, dom);
}

struct desired *desired_free(struct desired *d)
{
	if (!d)
		return NULL;
	free(d->guests);
	arena_free(&d->arena);
	free(d);
	return NULL;
}
