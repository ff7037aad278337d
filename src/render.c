/* SPDX-License-Identifier: MIT */
/*
 * render.c: pictures and documents.  The grid is the picture the 2017 review
 * asked for: adapters down, domains across, one cell per APQN naming its
 * owner, so that a good matrix and a conflicting one can be told apart at a
 * glance.  Only rows and columns in use are drawn, in blocks of at most
 * GRID_BLOCK columns, so even a 256 x 256 space stays readable.
 */
#include <string.h>

#include "hostcheck.h"
#include "render.h"

#define GRID_BLOCK 24

#define C_RESET "\033[0m"
#define C_RED "\033[1;31m"
#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"

static const char *const guest_colors[] = { "\033[32m", "\033[34m", "\033[35m", "\033[36m", "\033[33m" };

const char *render_guest_code(size_t i, char buf[8])
{
	if (i < 26)
		snprintf(buf, 8, "%c", (int)('A' + i));
	else
		snprintf(buf, 8, "%c%u", (int)('A' + i % 26), (unsigned)(i / 26 % 1000));
	return buf;
}

/* Cell states beyond "owned by guest i". */
enum cell {
	CELL_NONE = -1,     /* nothing declared, no queue */
	CELL_CONFLICT = -2, /* two declarations claim it */
	CELL_KEEP = -3,     /* host.keep */
	CELL_HOST = -4,     /* live: bound to a host driver */
	CELL_FREE = -5,     /* live: bound to vfio_ap, in no mdev */
	CELL_FOREIGN = -6,  /* live: in an mdev apmatrix does not manage */
	CELL_UNBOUND = -7,  /* live: queue exists, no driver */
	CELL_UNDECLARED = -8, /* live: in an mdev apmatrix created for a guest no longer declared */
};

struct grid {
	struct bitmap256 rows, cols;
	int cell[256][256]; /* guest index or enum cell */
	bool pending[256][256]; /* declared but not (yet) assigned live */
	bool lost[256][256];    /* live: kept (host.keep), but the host does not have it */
	bool gone[256][256];    /* live: still in a declared guest's mdev, no longer declared for it */
	bool left_out[256][256]; /* live: declared for a guest diff and apply leave out, not in its mdev */
};

/* g's mdev; none for a guest whose uuid: is invalid (an error): its derived UUID is not the configuration's */
static const struct live_mdev *declared_mdev(const struct live *l, const struct desired_guest *g)
{
	return l && g->uuid_valid ? live_find_mdev(l, g->uuid) : NULL;
}

static bool uuid_declared(const struct desired *d, const char *uuid)
{
	for (size_t i = 0; i < d->n_guests; i++)
		if (d->guests[i].uuid_valid && streq(d->guests[i].uuid, uuid))
			return true;
	return false;
}

/* mdevctl's "start": "auto" or "manual" */
static const char *mdevctl_start(bool autostart)
{
	return autostart ? "auto" : "manual";
}

/* JSON: the mdevctl definition of a UUID, {"path":...,"start":"auto"|"manual"}, or null */
static void json_mdevctl(FILE *f, const char *path, bool autostart)
{
	if (!path) {
		fputs("null", f);
		return;
	}
	fputs("{\"path\":", f);
	json_string(f, path);
	fprintf(f, ",\"start\":\"%s\"}", mdevctl_start(autostart));
}

static void grid_build(struct grid *gr, const struct desired *d, const struct live *l)
{
	memset(gr, 0, sizeof(*gr));
	for (unsigned a = 0; a < 256; a++)
		for (unsigned dom = 0; dom < 256; dom++)
			gr->cell[a][dom] = CELL_NONE;

	if (l) {
		for (size_t i = 0; i < l->n_queues; i++) {
			const struct live_queue *q = &l->queues[i];
			int c = q->kind == QUEUE_DRIVER_HOST ? CELL_HOST
				: q->kind == QUEUE_DRIVER_VFIO ? CELL_FREE
							       : CELL_UNBOUND;
			gr->cell[q->adapter][q->domain] = c;
			bitmap_set(&gr->rows, q->adapter);
			bitmap_set(&gr->cols, q->domain);
		}
		for (size_t i = 0; i < l->n_mdevs; i++) {
			const struct live_mdev *m = &l->mdevs[i];
			if (uuid_declared(d, m->uuid))
				continue;
			BITMAP_FOREACH(a, &m->matrix.adapters)
			BITMAP_FOREACH(dom, &m->matrix.domains)
			{
				gr->cell[a][dom] = m->owned ? CELL_UNDECLARED : CELL_FOREIGN;
				bitmap_set(&gr->rows, (unsigned)a);
				bitmap_set(&gr->cols, (unsigned)dom);
			}
		}
	}
	if (d->has_keep && !l) {
		/* config view: show kept APQNs only where a guest row/column is drawn */
	}
	for (size_t i = 0; i < d->n_guests; i++) {
		const struct desired_guest *g = &d->guests[i];
		const struct live_mdev *m = declared_mdev(l, g);

		BITMAP_FOREACH(a, &g->matrix.adapters)
		BITMAP_FOREACH(dom, &g->matrix.domains)
		{
			int *c = &gr->cell[a][dom];
			bool taken_by_guest = *c >= 0 || *c == CELL_CONFLICT;

			bitmap_set(&gr->rows, (unsigned)a);
			bitmap_set(&gr->cols, (unsigned)dom);
			/*
			 * An undeclared mdev of apmatrix's own is no conflict: apply
			 * removes it before it assigns (once its guest stops); the
			 * cell is the declared guest's, not yet in effect.
			 */
			if (taken_by_guest || *c == CELL_FOREIGN || desired_keeps(d, (unsigned)a, (unsigned)dom))
				*c = CELL_CONFLICT;
			else
				*c = (int)i;
			/* a guest diff and apply leave out does not get it: not pending, left out */
			if (l && (!m || !matrix_has_apqn(&m->matrix, (unsigned)a, (unsigned)dom)))
				*(g->refused ? &gr->left_out[a][dom] : &gr->pending[a][dom]) = true;
		}
	}
	/*
	 * What a declared guest's mdev still has but the configuration no longer
	 * gives it (apply takes it out, from a running guest only with --force):
	 * drawn as that guest's where no other guest is declared on it, so that
	 * show never draws a queue a guest may use as free.
	 */
	for (size_t i = 0; l && i < d->n_guests; i++) {
		const struct desired_guest *g = &d->guests[i];
		const struct live_mdev *m = declared_mdev(l, g);

		if (!m)
			continue;
		BITMAP_FOREACH(a, &m->matrix.adapters)
		BITMAP_FOREACH(dom, &m->matrix.domains)
		{
			int *c = &gr->cell[a][dom];

			if (matrix_has_apqn(&g->matrix, (unsigned)a, (unsigned)dom) || *c >= 0 || *c == CELL_CONFLICT)
				continue;
			*c = (int)i;
			gr->gone[a][dom] = !g->refused; /* left out: apply leaves its mdev as it is */
			bitmap_set(&gr->rows, (unsigned)a);
			bitmap_set(&gr->cols, (unsigned)dom);
		}
	}
	/*
	 * Kept APQNs inside the drawn area.  On a live host "k" only where the
	 * host has the queue (or nobody has it): a kept queue that an mdev holds
	 * or that is bound to vfio_ap is drawn as what has it, marked lost, so
	 * that show never claims a queue for the host that a guest may use.
	 */
	BITMAP_FOREACH(a, &gr->rows)
	BITMAP_FOREACH(dom, &gr->cols)
	{
		const struct live_mdev *m;

		if (!desired_keeps(d, (unsigned)a, (unsigned)dom) || gr->cell[a][dom] == CELL_CONFLICT)
			continue;
		if (!l || !hostcheck_keep_lost(l, (unsigned)a, (unsigned)dom)) {
			gr->cell[a][dom] = CELL_KEEP;
			continue;
		}
		gr->lost[a][dom] = true;
		/* a declared guest's mdev that still holds it (apply unassigns it): that guest */
		m = hostcheck_keep_holder(l, (unsigned)a, (unsigned)dom);
		for (size_t i = 0; m && i < d->n_guests; i++)
			if (streq(d->guests[i].uuid, m->uuid))
				gr->cell[a][dom] = (int)i;
	}
}

/*
 * What brings the pending cells ("*") into effect, as the plan has it
 * (plan.c ms_blocked()): plain apply, but a running guest's mdev changes
 * only with apply --force on a 6.0+ host (hot plug), and only once the guest
 * stops on an older one.
 */
static const char *pending_hint(const struct grid *gr, const struct desired *d, const struct live *l,
				const int *cols, int n_cols)
{
	static const char *const hint[2][2][2] = {
		/* [some cell's guest is not running][dynamic][nothing can tell whether it runs] */
		{ { "the guest is running: run apmatrix apply once it stops",
		    "the guest may be running: run apmatrix apply once it stops" },
		  { "run apmatrix apply --force; the guest is running",
		    "run apmatrix apply --force; the guest may be running" } },
		{ { "run apmatrix apply; where the guest is running, once it stops",
		    "run apmatrix apply; where the guest may be running, once it stops" },
		  { "run apmatrix apply; where the guest is running, apmatrix apply --force",
		    "run apmatrix apply; where the guest may be running, apmatrix apply --force" } },
	};
	bool idle = false, running = false, maybe = false;

	BITMAP_FOREACH(a, &gr->rows)
	for (int k = 0; k < n_cols; k++) {
		int c = gr->cell[a][cols[k]];
		const struct live_mdev *m = c >= 0 ? declared_mdev(l, &d->guests[c]) : NULL;

		if (!gr->pending[a][cols[k]] || gr->lost[a][cols[k]])
			continue;
		if (m && live_mdev_in_use(l, m)) {
			running = true;
			maybe |= m->in_use_unknown;
		} else
			idle = true;
	}
	if (!running)
		return "run apmatrix apply";
	return hint[idle][l->profile == PROFILE_DYNAMIC][maybe];
}

/*
 * mark: the cell's second character, ' ' or '*' (pending), '-' (no longer
 * declared), '~' (keep lost) or 'x' (its guest is left out)
 */
static void put_cell(FILE *f, int c, char mark, int width, const struct render_opts *o)
{
	char code[8];
	const char *s, *col = NULL;

	switch (c) {
	case CELL_NONE:
		s = ".";
		col = C_DIM;
		break;
	case CELL_CONFLICT:
		s = "!";
		col = C_RED;
		break;
	case CELL_KEEP:
		s = "k";
		col = C_BOLD;
		break;
	case CELL_HOST:
		s = "h";
		col = C_DIM;
		break;
	case CELL_FREE:
		s = "v";
		break;
	case CELL_FOREIGN:
		s = "f";
		col = C_RED;
		break;
	case CELL_UNDECLARED:
		s = "u";
		col = C_BOLD;
		break;
	case CELL_UNBOUND:
		s = "-";
		col = C_DIM;
		break;
	default:
		s = render_guest_code((size_t)c, code);
		col = guest_colors[(size_t)c % ARRAY_SIZE(guest_colors)];
	}
	if (o->color && col)
		fprintf(f, " %s%*s%c%s", col, width - 1, s, mark, C_RESET);
	else
		fprintf(f, " %*s%c", width - 1, s, mark);
}

/*
 * One entry of the grid's legend, written for a code column 3 wide ("  X   "
 * before each line), with the column code_w wide: the longest guest code
 * (4 from guest 2,601 on) widens it, and the symbols' lines with it.
 */

/* whether a drawn cell is kept (drawn 'k', '~' or as a conflict) */
static bool keep_drawn(const struct grid *gr, const struct desired *d, const int *cols, int n_cols)
{
	BITMAP_FOREACH(a, &gr->rows)
	for (int k = 0; k < n_cols; k++)
		if (desired_keeps(d, (unsigned)a, (unsigned)cols[k]))
			return true;
	return false;
}

/* "  host.keep: adapter 0x03, every domain (no queue of it is drawn)": host.keep drawn nowhere */
static char *describe_keep(const struct desired *d)
{
	_cleanup_free_ char *ad = bitmap_format_ranges(&d->keep_adapters, 2);
	_cleanup_free_ char *dm = bitmap_format_ranges(&d->keep_domains, 2);
	bool all_ad = bitmap_count(&d->keep_adapters) == 256, all_dm = bitmap_count(&d->keep_domains) == 256;
	bool one_ad = bitmap_count(&d->keep_adapters) == 1, one_dm = bitmap_count(&d->keep_domains) == 1;

	if (all_dm)
		return xasprintf("  host.keep: adapter%s %s, every domain (no queue of it is drawn)\n", one_ad ? "" : "s",
				 ad ? ad : "");
	if (all_ad)
		return xasprintf("  host.keep: domain%s %s on every adapter (no queue of it is drawn)\n",
				 one_dm ? "" : "s", dm ? dm : "");
	return xasprintf("  host.keep: adapter%s %s x domain%s %s (no queue of it is drawn)\n", one_ad ? "" : "s",
			 ad ? ad : "", one_dm ? "" : "s", dm ? dm : "");
}
static void legend_put(FILE *f, int code_w, const char *text)
{
	for (const char *s = text; *s;) {
		size_t n = strcspn(s, "\n");

		if (code_w <= 3 || n < 6)
			fprintf(f, "%.*s\n", (int)n, s);
		else
			fprintf(f, "  %-*.*s %.*s\n", code_w, 3, s + 2, (int)n - 6, s + 6);
		s += n + (s[n] == '\n');
	}
}

void render_grid(FILE *f, const struct desired *d, const struct live *l, const struct render_opts *o)
{
	struct grid *gr = xcalloc(1, sizeof(*gr));
	char code[8];
	/* the longest code is the last guest's (at most 4 characters: CONFIG_MAX_GUESTS) */
	int code_w = d->n_guests ? (int)strlen(render_guest_code(d->n_guests - 1, code)) : 1;
	/* a cell: a space, the code right-aligned, the mark */
	int width = d->n_guests > 26 ? 4 : 3;
	int cols[256], n_cols = 0;
	bool pending = false; /* a cell shows "*": its legend line is printed */
	bool lost = false;    /* a cell shows "~" */
	bool kept = false;    /* a cell shows "k" */
	bool gone = false;    /* a cell shows "-" after a guest's code */
	bool left_out = false; /* a cell shows "x" */

	if (width < code_w + 1)
		width = code_w + 1;
	code_w = code_w < 3 ? 3 : code_w; /* the legend's column: as wide as its symbols' at least */
	grid_build(gr, d, l);
	BITMAP_FOREACH(dom, &gr->cols)
	cols[n_cols++] = dom;

	fprintf(f, "APQN matrix: %zu guest%s, %u adapter%s x %d domain%s drawn%s\n", d->n_guests,
		d->n_guests == 1 ? "" : "s", bitmap_count(&gr->rows), bitmap_count(&gr->rows) == 1 ? "" : "s", n_cols,
		n_cols == 1 ? "" : "s", l ? " (live host)" : " (configuration only)");
	if (n_cols == 0)
		fputs("  (nothing declared)\n", f);
	for (int start = 0; start < n_cols; start += GRID_BLOCK) {
		int end = start + GRID_BLOCK < n_cols ? start + GRID_BLOCK : n_cols;

		fprintf(f, "\n  card |");
		for (int k = start; k < end; k++)
			fprintf(f, " %*s%02x", width - 2, "", cols[k]);
		fprintf(f, "   <- domain\n  -----+");
		for (int k = start; k < end; k++)
			fprintf(f, "%.*s", width + 1, "------");
		fputc('\n', f);
		BITMAP_FOREACH(a, &gr->rows)
		{
			char *row = NULL;
			size_t len = 0;
			FILE *rf = open_memstream(&row, &len);

			if (!rf)
				break;
			fprintf(rf, "    %02x |", a);
			for (int k = start; k < end; k++)
				put_cell(rf, gr->cell[a][cols[k]],
					 gr->lost[a][cols[k]]	    ? '~'
					 : gr->gone[a][cols[k]]	    ? '-'
					 : gr->pending[a][cols[k]]  ? '*'
					 : gr->left_out[a][cols[k]] ? 'x'
								    : ' ',
					 width, o);
			fclose(rf);
			while (len > 0 && row[len - 1] == ' ')
				row[--len] = '\0';
			fprintf(f, "%s\n", row);
			free(row);
		}
	}
	fputs("\n", f);
	/* the legend in columns: names and adapter lists padded to the longest */
	int name_w = 0, ad_w = 0;

	for (size_t i = 0; i < d->n_guests; i++) {
		_cleanup_free_ char *ad = bitmap_format_ranges(&d->guests[i].matrix.adapters, 2);
		int n = (int)strlen(d->guests[i].name), a = ad ? (int)strlen(ad) : 0;

		name_w = n > name_w ? n : name_w;
		ad_w = a > ad_w ? a : ad_w;
	}
	for (size_t i = 0; i < d->n_guests; i++) {
		const struct desired_guest *g = &d->guests[i];
		_cleanup_free_ char *ad = bitmap_format_ranges(&g->matrix.adapters, 2);
		_cleanup_free_ char *dm = bitmap_format_ranges(&g->matrix.domains, 2);

		fprintf(f, "  %-*s %-*s  %s  adapters %-*s  domains %s%s\n", code_w, render_guest_code(i, code), name_w,
			g->name, g->uuid, ad_w, ad ? ad : "", dm ? dm : "",
			l && g->refused ? "  (left out by diff and apply: see the error)" : "");
	}
	{
		bool conflict = false, undeclared = false;

		BITMAP_FOREACH(a, &gr->rows)
		for (int k = 0; k < n_cols; k++) {
			conflict |= gr->cell[a][cols[k]] == CELL_CONFLICT;
			undeclared |= gr->cell[a][cols[k]] == CELL_UNDECLARED;
			pending |= gr->pending[a][cols[k]] && !gr->lost[a][cols[k]];
			lost |= gr->lost[a][cols[k]];
			gone |= gr->gone[a][cols[k]] && !gr->lost[a][cols[k]];
			left_out |= gr->left_out[a][cols[k]] && !gr->lost[a][cols[k]];
			kept |= gr->cell[a][cols[k]] == CELL_KEEP;
		}
		if (conflict)
			legend_put(f, code_w,
				   "  !   conflict: claimed twice, held by an mdev apmatrix does not manage, or kept by the\n"
				   "      host\n");
		if (undeclared)
			legend_put(f, code_w,
				   "  u   in an mdev apmatrix created for a guest no longer declared (apply removes it,\n"
				   "      not while its guest runs)\n");
	}
	if (d->has_keep && kept)
		legend_put(f, code_w, "  k   kept by the host (host.keep)\n");
	else if (d->has_keep && !bitmap_empty(&d->keep_adapters) && !bitmap_empty(&d->keep_domains) &&
		 !keep_drawn(gr, d, cols, n_cols)) { /* an empty list (an error) keeps nothing */
		/* declared, but none of it in the drawn rows and columns: said, not drawn */
		_cleanup_free_ char *s = describe_keep(d);

		legend_put(f, code_w, s);
	}
	if (lost)
		legend_put(f, code_w,
			   "  ~   kept by host.keep, but not in effect: drawn as what has the queue now (apmatrix check\n"
			   "      says why)\n");
	if (!l)
		legend_put(f, code_w, "  .   not declared\n");
	if (l)
		legend_put(f, code_w,
			   "  h   host driver   v   vfio_ap, unused   f   foreign mdev   -   unbound   .   absent\n");
	if (pending && !l->vfio_loaded) /* only where a cell has it */
		legend_put(f, code_w, "  *   declared, not in effect: vfio_ap is not loaded, no mdev can be created\n");
	else if (pending) {
		_cleanup_free_ char *s =
			xasprintf("  *   declared, not yet in effect (%s)", pending_hint(gr, d, l, cols, n_cols));

		legend_put(f, code_w, s);
	}
	if (gone)
		legend_put(f, code_w,
			   "  -   (after a guest) still in that guest's mdev, no longer declared: apply takes it out\n"
			   "      (from a running guest only with --force)\n");
	if (left_out)
		legend_put(f, code_w,
			   "  x   declared, not assigned: diff and apply leave its guest out (see the error)\n");
	free(gr);
}

static const char *mode_label(const char *mode)
{
	if (!mode)
		return "";
	if (streq(mode, "cca"))
		return "CCA-Coproc";
	if (streq(mode, "accel"))
		return "Accelerator";
	if (streq(mode, "ep11"))
		return "EP11-Coproc";
	return mode;
}

static void append_dropped(char **list, const char *noun, const struct bitmap256 *b, const char *why)
{
	_cleanup_free_ char *nums = NULL;
	char *t;

	if (bitmap_empty(b))
		return;
	nums = bitmap_format_ranges(b, 2);
	t = xasprintf("%s%s%s%s %s (%s)", *list ? *list : "", *list ? "; " : "", noun,
		      bitmap_count(b) > 1 ? "s" : "", nums ? nums : "?", why);
	free(*list);
	*list = t;
}

/*
 * What an mdev has and its guest does not see, but for the stale adapters
 * apply assigns again: "adapter 0x05 (not in this LPAR); domain 0x47
 * (filtered out by the kernel)", or NULL.  An adapter without its card is
 * "not in this LPAR" when the LPAR's configuration (QCI) lacks it too (the
 * card was taken out of the LPAR, or never was in it), else "card away"; a
 * domain that QCI lacks is "not in this LPAR" too.
 * malloc'd.
 */
static char *not_visible(const struct live *l, const struct live_mdev *m, const struct bitmap256 *stale)
{
	struct bitmap256 ga = bitmap_andnot(&m->matrix.adapters, &m->guest_matrix.adapters);
	struct bitmap256 gd = bitmap_andnot(&m->matrix.domains, &m->guest_matrix.domains);
	struct bitmap256 away = { { 0 } }, unconfigured = { { 0 } }, unconfigured_d = { { 0 } };
	char *list = NULL;

	ga = bitmap_andnot(&ga, stale);
	BITMAP_FOREACH(a, &ga)
	if (!live_find_card(l, (unsigned)a))
		bitmap_set(l->has_qci && !bitmap_test(&l->cfg_adapters, (unsigned)a) ? &unconfigured : &away, (unsigned)a);
	ga = bitmap_andnot(&ga, &away);
	ga = bitmap_andnot(&ga, &unconfigured);
	append_dropped(&list, "adapter", &unconfigured, "not in this LPAR"); /* as show's prediction says it */
	append_dropped(&list, "adapter", &away, "card away");
	append_dropped(&list, "adapter", &ga, "filtered out by the kernel");
	if (l->has_qci) {
		unconfigured_d = bitmap_andnot(&gd, &l->cfg_domains);
		gd = bitmap_andnot(&gd, &unconfigured_d);
	}
	append_dropped(&list, "domain", &unconfigured_d, "not in this LPAR");
	append_dropped(&list, "domain", &gd, "filtered out by the kernel");
	return list;
}

/*
 * What the guest will see once apply has run, on a 6.0+ host: the kernel's
 * guest filter (kernel-abi.md §2.5.1) keeps the assigned adapters and domains
 * the LPAR has, then drops every adapter that lacks a queue for one of those
 * domains.  Anything dropped is named in *dropped (malloc'd, or NULL).
 */
static struct apqn_matrix predict_guest_matrix(const struct apqn_matrix *want, const struct live *l,
					       char **dropped)
{
	struct apqn_matrix v = *want;
	struct bitmap256 gone_a = { { 0 } }, gone_d = { { 0 } }, holes = { { 0 } };

	*dropped = NULL;
	if (l->has_qci) {
		gone_a = bitmap_andnot(&v.adapters, &l->cfg_adapters);
		gone_d = bitmap_andnot(&v.domains, &l->cfg_domains);
		v.adapters = bitmap_and(&v.adapters, &l->cfg_adapters);
		v.domains = bitmap_and(&v.domains, &l->cfg_domains);
	}
	BITMAP_FOREACH(a, &v.adapters)
	BITMAP_FOREACH(d, &v.domains)
	if (!live_find_queue(l, (unsigned)a, (unsigned)d))
		bitmap_set(&holes, (unsigned)a);
	v.adapters = bitmap_andnot(&v.adapters, &holes);
	append_dropped(dropped, "adapter", &gone_a, "not in this LPAR");
	append_dropped(dropped, "domain", &gone_d, "not in this LPAR");
	append_dropped(dropped, "adapter", &holes, "a queue is missing for one of the domains");
	return v;
}

void render_guest(FILE *f, const struct desired *d, const struct desired_guest *g, const struct live *l,
		  const struct render_opts *o)
{
	_cleanup_free_ char *ad = bitmap_format_ranges(&g->matrix.adapters, 2);
	_cleanup_free_ char *dm = bitmap_format_ranges(&g->matrix.domains, 2);
	_cleanup_free_ char *cd = bitmap_format_ranges(&g->matrix.control_domains, 2);
	_cleanup_free_ char *dropped = NULL;
	const struct live_mdev *m = declared_mdev(l, g);
	struct apqn_matrix predicted;
	const struct apqn_matrix *view = &g->matrix;
	const char *title = "what the guest will see:";
	const char *held = NULL; /* why apply without --force leaves the view predicted here pending */
	char buf[APQN_STR_LEN];

	(void)d;
	(void)o;
	if (!g->uuid_valid)
		fprintf(f, "%s  (its uuid: is invalid)\n", g->name);
	else
		fprintf(f, "%s  %s%s\n", g->name, g->uuid, g->uuid_derived ? "  (derived from the name)" : "");
	fprintf(f, "  adapters         %s\n  usage domains    %s\n  control domains  %s\n", ad, dm, cd);
	if (l) {
		if (!m && g->refused)
			fputs("  mdev             absent (apply leaves this guest out: see the error)\n", f);
		else if (!g->uuid_valid)
			fputs("  mdev             none (its uuid: is invalid: see the error)\n", f);
		else if (!m && g->create_failed)
			fprintf(f, "  mdev             absent (the last apply failed to create it%s%s; %s)\n",
				*g->create_failed ? ": " : "", g->create_failed,
				l->vfio_loaded ? "run apmatrix apply" : "vfio_ap is not loaded: it cannot be created");
		else if (!m)
			fputs(l->vfio_loaded ? "  mdev             absent (run apmatrix apply)\n"
					     : "  mdev             absent (vfio_ap is not loaded: it cannot be created)\n",
			      f);
		else
			fprintf(f, "  mdev             /sys/%s/%s%s\n", l->matrix_path, m->uuid,
				m->in_use_unknown ? "  (maybe in use: cannot tell)" : m->in_use ? "  (in use)" : "");
		if (g->mdevctl_path)
			fprintf(f, "  mdevctl          %s (start: %s)\n", g->mdevctl_path, mdevctl_start(g->mdevctl_auto));
		if (g->refused)
			fprintf(f, "  left out         by diff and apply: %s\n", g->refused_why ? g->refused_why : "see the error");
		if (m && matrix_equal(&m->matrix, &g->matrix) && m->has_guest_matrix) {
			/* what apply assigns again (plan.c plan_refilter()) */
			struct bitmap256 stale = live_stale_adapters(l, m, &m->matrix, &m->guest_matrix);

			view = &m->guest_matrix;
			title = "what the guest sees (guest_matrix):";
			dropped = not_visible(l, m, &stale); /* as status says it */
			append_dropped(&dropped, "adapter", &stale,
				       "left out by an earlier filter of the kernel; apmatrix apply assigns it again");
		} else if (m && matrix_equal(&m->matrix, &g->matrix)) {
			view = &m->matrix;
			title = "what the guest sees (matrix):";
		} else if (g->refused) {
			title = "what the guest would see (apply leaves it out):";
		} else if (l->profile == PROFILE_DYNAMIC) {
			predicted = predict_guest_matrix(&g->matrix, l, &dropped);
			view = &predicted;
			title = "what the guest will see after apply:";
			/* as the plan: a running guest's mdev changes only with --force (plan.c ms_blocked()) */
			if (m && live_mdev_in_use(l, m)) {
				title = "what the guest will see after apply --force:";
				held = m->in_use_unknown ? "cannot tell whether the guest is running: apply without --force "
							   "leaves this change pending"
							 : "the guest is running: apply without --force leaves this change "
							   "pending";
			}
		}
	}
	fprintf(f, "\n  %s\n", title);
	if (held)
		fprintf(f, "  (%s)\n", held);
	fprintf(f, "  %-12s %-6s %s\n  ------------------------------\n", "CARD.DOMAIN", "TYPE", "MODE");
	if (!bitmap_empty(&view->domains))
		BITMAP_FOREACH(a, &view->adapters)
		{
			const struct live_card *c = l ? live_find_card(l, (unsigned)a) : NULL;
			const char *type = c && c->type ? c->type : "-";
			const char *mode = c ? mode_label(c->mode) : "-";

			fprintf(f, "  %02x           %-6s %s\n", a, type, mode);
			BITMAP_FOREACH(dom, &view->domains)
			fprintf(f, "  %-12s %-6s %s\n", apqn_format(buf, (unsigned)a, (unsigned)dom), type, mode);
		}
	if (bitmap_empty(&view->adapters) || bitmap_empty(&view->domains))
		fputs("  (no queues)\n", f);
	if (dropped)
		fprintf(f, "  assigned but not visible: %s\n", dropped);
}

void render_json_numbers(FILE *f, const struct bitmap256 *b)
{
	bool first = true;

	fputc('[', f);
	BITMAP_FOREACH(n, b)
	{
		fprintf(f, "%s%d", first ? "" : ",", n);
		first = false;
	}
	fputc(']', f);
}

void render_json_apqns(FILE *f, const struct apqn_matrix *m)
{
	char buf[APQN_STR_LEN];
	bool first = true;

	fputc('[', f);
	BITMAP_FOREACH(a, &m->adapters)
	BITMAP_FOREACH(d, &m->domains)
	{
		fprintf(f, "%s\"%s\"", first ? "" : ",", apqn_format(buf, (unsigned)a, (unsigned)d));
		first = false;
	}
	fputc(']', f);
}

static void json_guest(FILE *f, const struct desired_guest *g)
{
	fputs("{\"name\":", f);
	json_string(f, g->name);
	/* an invalid uuid: (an error) has no UUID: the one derived for drawing is not the configuration's */
	fputs(",\"uuid\":", f);
	json_string(f, g->uuid_valid ? g->uuid : NULL);
	fprintf(f, ",\"uuid_derived\":%s,\"adapters\":", g->uuid_valid && g->uuid_derived ? "true" : "false");
	render_json_numbers(f, &g->matrix.adapters);
	fputs(",\"domains\":", f);
	render_json_numbers(f, &g->matrix.domains);
	fputs(",\"control_domains\":", f);
	render_json_numbers(f, &g->matrix.control_domains);
	fputs(",\"apqns\":", f);
	render_json_apqns(f, &g->matrix);
	fputc('}', f);
}

void render_check_json(FILE *f, const struct desired *d, const struct diag_list *diags, bool valid,
		       bool host_checked, const struct desired_guest *only)
{
	bool first = true;

	fprintf(f, "{\"version\":%d,\"document\":\"check\",\"valid\":%s,\"host_checked\":%s,\"diagnostics\":",
		RENDER_JSON_VERSION, valid ? "true" : "false", host_checked ? "true" : "false");
	diag_print_json(diags, f);
	fputs(",\"host\":", f);
	if (d) {
		fprintf(f, "{\"masks\":\"%s\",\"keep\":", config_masks_to_string(d->masks));
		if (d->has_keep) {
			fputs("{\"adapters\":", f);
			render_json_numbers(f, &d->keep_adapters);
			fputs(",\"domains\":", f);
			render_json_numbers(f, &d->keep_domains);
			fputc('}', f);
		} else
			fputs("null", f);
		fputs("},\"guests\":[", f);
		for (size_t i = 0; i < d->n_guests; i++) {
			if (only && only != &d->guests[i])
				continue;
			if (!first)
				fputc(',', f);
			first = false;
			json_guest(f, &d->guests[i]);
		}
		fputs("]}\n", f);
	} else
		fputs("null,\"guests\":[]}\n", f);
}

static void bits_list(FILE *f, const struct bitmap256 *b)
{
	bool first = true;

	BITMAP_FOREACH(n, b)
	{
		fprintf(f, "%s0x%02x", first ? "" : " ", n);
		first = false;
	}
}

static const char *short_uuid(const char *uuid, char buf[16])
{
	snprintf(buf, 16, "%.8s...", uuid);
	return buf;
}

/* action.hot (HOT_PLUG | HOT_UNPLUG) in the text and in the JSON */
static const struct {
	const char *text, *json;
} hot_words[4] = {
	[HOT_PLUG] = { "hot plug into the running guest", "plug" },
	[HOT_UNPLUG] = { "hot unplug from the running guest", "unplug" },
	[HOT_PLUG | HOT_UNPLUG] = { "hot plug and unplug in the running guest", "plug and unplug" },
};

/* "adapters +0x06, domains -0xab,+0xac": what an ap_config write changes, per dimension */
static char *matrix_delta(const struct apqn_matrix *from, const struct apqn_matrix *to)
{
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);

	if (!m)
		return NULL;
	for (int k = 0, n = 0; k < MATRIX_DIMS; k++) {
		struct bitmap256 gone = bitmap_andnot(matrix_dim(from, k), matrix_dim(to, k));
		struct bitmap256 added = bitmap_andnot(matrix_dim(to, k), matrix_dim(from, k));
		_cleanup_free_ char *minus = bitmap_format_relative(&gone, '-');
		_cleanup_free_ char *plus = bitmap_format_relative(&added, '+');

		if (bitmap_empty(&gone) && bitmap_empty(&added))
			continue;
		fprintf(m, "%s%s %s%s%s", n++ ? ", " : "", matrix_dim_name[k], bitmap_empty(&gone) ? "" : minus,
			bitmap_empty(&gone) || bitmap_empty(&added) ? "" : ",", bitmap_empty(&added) ? "" : plus);
	}
	fclose(m);
	return out;
}

/*
 * What the running guest sees of an action, and the usage APQNs it loses or
 * gains: "hot unplug from the running guest: it loses APQNs 06.0004
 * 06.00ab"; a pending one "it would lose APQN 05.00ab"; NULL for neither.
 */
static char *action_apqns(const struct action *a)
{
	const char *hot = a->pending ? NULL : hot_words[a->hot & 3].text;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	/* loses and gains are there for most changes of an mdev: said when they concern a running guest */
	if (!a->pending && !a->hot)
		return NULL;
	if (!a->loses && !a->gains)
		return hot ? xstrdup(hot) : NULL;
	f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	if (hot)
		fprintf(f, "%s: ", hot);
	fprintf(f, "it %s", a->pending ? "would " : "");
	if (a->gains)
		fprintf(f, "%s %s%s", a->pending ? "gain" : "gains", a->gains, a->loses ? ", " : "");
	if (a->loses)
		fprintf(f, "%s %s", a->pending ? "lose" : "loses", a->loses);
	fclose(f);
	return out;
}

char *render_action(const struct action *a)
{
	char *out = NULL, ub[16];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	const char *who = a->guest ? a->guest : "(undeclared)";
	char sign;

	if (!f)
		return NULL;
	switch (a->phase) {
	case PHASE_UNASSIGN:
	case PHASE_UNASSIGN_LATE:
	case PHASE_REMOVE_MDEV:
		sign = '-';
		break;
	case PHASE_CREATE_MDEV:
	case PHASE_ASSIGN:
		sign = '+';
		break;
	default:
		sign = '~';
	}
	if (a->kind == ACTION_WRITE_AP_CONFIG)
		sign = '~';
	fprintf(f, "%c ", a->pending ? '!' : sign);
	switch (a->kind) {
	case ACTION_TAKE_APMASK:
	case ACTION_TAKE_AQMASK:
		fprintf(f, "%s: take ", a->kind == ACTION_TAKE_APMASK ? "apmask" : "aqmask");
		bits_list(f, &a->bits);
		fputs(" from host drivers", f);
		break;
	case ACTION_RELEASE_APMASK:
	case ACTION_RELEASE_AQMASK:
		fprintf(f, "%s: give ", a->kind == ACTION_RELEASE_APMASK ? "apmask" : "aqmask");
		bits_list(f, &a->bits);
		fputs(" back to host drivers", f);
		break;
	case ACTION_TAKE_QUEUE:
	case ACTION_RELEASE_QUEUE: {
		char q[APQN_STR_LEN];
		/* one write: the queue is on no driver, and the bind alone is left */
		fprintf(f, "queue %s: %s", apqn_format(q, a->number >> 8, a->number & 0xff),
			a->kind == ACTION_TAKE_QUEUE
				? (a->n_writes == 1 ? "bind to the vfio driver" : "move from the host driver to vfio")
				: (a->n_writes == 1 ? "bind to the host driver" : "give back to the host driver"));
		break;
	}
	case ACTION_CREATE_MDEV:
		fprintf(f, "%s %s: create mdev", who, a->uuid);
		break;
	case ACTION_REMOVE_MDEV:
		fprintf(f, "%s %s: remove mdev", who, a->uuid);
		break;
	case ACTION_WRITE_AP_CONFIG: {
		_cleanup_free_ char *ad = bitmap_format_ranges(&a->matrix.adapters, 2);
		_cleanup_free_ char *dm = bitmap_format_ranges(&a->matrix.domains, 2);
		_cleanup_free_ char *cd = bitmap_format_ranges(&a->matrix.control_domains, 2);
		fprintf(f, "%s %s: set matrix: adapters %s, domains %s, control domains %s", who,
			short_uuid(a->uuid, ub), ad, dm, cd);
		break;
	}
	case ACTION_ASSIGN_ADAPTER:
	case ACTION_ASSIGN_DOMAIN:
	case ACTION_ASSIGN_CONTROL_DOMAIN:
	case ACTION_UNASSIGN_ADAPTER:
	case ACTION_UNASSIGN_DOMAIN:
	case ACTION_UNASSIGN_CONTROL_DOMAIN:
		fprintf(f, "%s: %s 0x%02x", who, action_kind_to_string(a->kind), a->number);
		break;
	default:
		fprintf(f, "%s: %s", who, action_kind_to_string(a->kind));
	}
	/* in parentheses: what ap_config changes, what the running guest sees of it, why */
	{
		_cleanup_free_ char *delta = a->kind == ACTION_WRITE_AP_CONFIG && a->has_from
						     ? matrix_delta(&a->from, &a->matrix)
						     : NULL;
		_cleanup_free_ char *hot = action_apqns(a);
		const char *why = a->pending ? NULL : a->reason;
		const char *parts[] = { delta && *delta ? delta : NULL, hot, why };
		bool open = false;

		for (size_t k = 0; k < ARRAY_SIZE(parts); k++) {
			if (!parts[k])
				continue;
			fprintf(f, "%s%s", open ? "; " : " (", parts[k]);
			open = true;
		}
		if (open)
			fputc(')', f);
	}
	if (a->pending)
		fprintf(f, " pending: %s", a->reason ? a->reason : "blocked");
	fclose(f);
	return out;
}

void render_plan_text(FILE *f, const struct plan *p, const struct render_opts *o)
{
	for (size_t i = 0; i < p->n; i++) {
		_cleanup_free_ char *s = render_action(&p->actions[i]);
		if (o->color && p->actions[i].pending)
			fprintf(f, C_RED "%s" C_RESET "\n", s);
		else
			fprintf(f, "%s\n", s);
	}
	if (p->n_pending)
		fprintf(f, "%zu change%s, %zu pending\n", p->n - p->n_pending, p->n - p->n_pending == 1 ? "" : "s",
			p->n_pending);
	else
		fprintf(f, "%zu change%s\n", p->n, p->n == 1 ? "" : "s");
}

/* path for sh: as it is when it has only characters sh takes literally, else in single quotes; malloc'd */
static char *shell_quote(const char *path)
{
	size_t n = 3; /* the quotes and the NUL */
	char *out, *o;

	if (*path && strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-+,:@%") ==
			     strlen(path))
		return xstrdup(path);
	for (const char *c = path; *c; c++)
		n += *c == '\'' ? 4 : 1;
	o = out = xmalloc(n);
	*o++ = '\'';
	for (const char *c = path; *c; c++) {
		if (*c == '\'') {
			memcpy(o, "'\\''", 4); /* end the quotes, a quoted ', quote again */
			o += 4;
		} else
			*o++ = *c;
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

void render_plan_shell(FILE *f, const struct plan *p, const struct render_opts *o)
{
	/* the sysfs root (APMATRIX_SYSFS_ROOT) may hold a space, a '$' or a quote */
	_cleanup_free_ char *root = shell_quote(o->sysfs_root ? o->sysfs_root : "/sys");

	fputs("#!/bin/sh\n# apmatrix plan as shell commands; run as root, in this order\nset -e\n", f);
	for (size_t i = 0; i < p->n; i++) {
		const struct action *a = &p->actions[i];
		_cleanup_free_ char *s = render_action(a);

		fprintf(f, "# %s\n", s);
		for (size_t w = 0; w < a->n_writes; w++)
			fprintf(f, "%secho %s > %s/%s\n", a->pending ? "# " : "", a->writes[w].value, root,
				a->writes[w].path);
	}
}

void render_action_json_open(FILE *f, const struct action *a, bool with_depends)
{
	_cleanup_free_ char *s = render_action(a);

	fprintf(f, "{\"phase\":\"%s\",\"kind\":\"%s\",\"guest\":", plan_phase_to_string(a->phase),
		action_kind_to_string(a->kind));
	json_string(f, a->guest);
	fputs(",\"uuid\":", f);
	if (a->uuid[0])
		json_string(f, a->uuid);
	else
		fputs("null", f);
	fprintf(f, ",\"pending\":%s,\"reason\":", a->pending ? "true" : "false");
	json_string(f, a->reason);
	/* pending: what --force would do, so that a play can tell an unplug without a second diff */
	fputs(",\"hot\":", f);
	json_string(f, hot_words[(a->pending ? a->force_hot : a->hot) & 3].json);
	fprintf(f, ",\"force_helps\":%s,\"waits_for\":", a->pending && a->force_helps ? "true" : "false");
	json_string(f, a->pending ? a->waits_for : NULL);
	fputs(",\"file\":", f);
	json_string(f, a->file);
	if (a->file && a->line)
		fprintf(f, ",\"line\":%u,\"column\":%u", a->line, a->column);
	else
		fputs(",\"line\":null,\"column\":null", f);
	fputs(",\"text\":", f);
	json_string(f, s);
	fputs(",\"writes\":[", f);
	for (size_t w = 0; w < a->n_writes; w++) {
		fprintf(f, "%s{\"path\":", w ? "," : "");
		json_string(f, a->writes[w].path);
		fputs(",\"value\":", f);
		json_string(f, a->writes[w].value);
		fputc('}', f);
	}
	fputs("],\"queues\":[", f);
	for (size_t k = 0; k < a->n_queues; k++) {
		char q[APQN_STR_LEN];

		fprintf(f, "%s\"%s\"", k ? "," : "", apqn_format(q, a->queues[k] >> 8, a->queues[k] & 0xff));
	}
	fputc(']', f);
	if (with_depends) {
		fputs(",\"depends_on\":[", f);
		for (size_t k = 0; k < a->n_depends_on; k++)
			fprintf(f, "%s%zu", k ? "," : "", a->depends_on[k]);
		fputc(']', f);
	}
}

void render_plan_json(FILE *f, const struct plan *p, const struct diag_list *diags)
{
	fprintf(f, "{\"version\":%d,\"document\":\"diff\",\"changes\":%zu,\"pending\":%zu,\"actions\":[",
		RENDER_JSON_VERSION, p->n - p->n_pending, p->n_pending);
	for (size_t i = 0; i < p->n; i++) {
		if (i)
			fputc(',', f);
		render_action_json_open(f, &p->actions[i], true);
		fputc('}', f);
	}
	fputs("],\"diagnostics\":", f);
	diag_print_json(diags, f);
	fputs("}\n", f);
}

enum guest_state {
	GUEST_ABSENT,
	GUEST_MATCHES,
	GUEST_DIFFERS,
	GUEST_LEFT_OUT, /* diff and apply leave it out (desired_guest.refused): its mdev is one of the above */
	_GUEST_STATE_MAX,
};

static const char *const guest_state_table[_GUEST_STATE_MAX] = {
	[GUEST_ABSENT] = "absent",
	[GUEST_MATCHES] = "matches",
	[GUEST_DIFFERS] = "differs",
	[GUEST_LEFT_OUT] = "left_out",
};

static enum guest_state guest_state(const struct desired_guest *g, const struct live_mdev *m)
{
	if (!m)
		return GUEST_ABSENT;
	return matrix_equal(&g->matrix, &m->matrix) ? GUEST_MATCHES : GUEST_DIFFERS;
}

/* "+adapters 0x07 -domains 0x47" for what the live mdev lacks or has too much. */
static char *guest_differences(const struct desired_guest *g, const struct live_mdev *m)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	for (int k = 0; k < MATRIX_DIMS; k++) {
		struct bitmap256 add = bitmap_andnot(matrix_dim(&g->matrix, k), matrix_dim(&m->matrix, k));
		struct bitmap256 del = bitmap_andnot(matrix_dim(&m->matrix, k), matrix_dim(&g->matrix, k));
		if (!bitmap_empty(&add)) {
			_cleanup_free_ char *s = bitmap_format_ranges(&add, 2);
			fprintf(f, "%smissing %s %s", ftell(f) ? ", " : "", matrix_dim_name[k], s);
		}
		if (!bitmap_empty(&del)) {
			_cleanup_free_ char *s = bitmap_format_ranges(&del, 2);
			fprintf(f, "%sextra %s %s", ftell(f) ? ", " : "", matrix_dim_name[k], s);
		}
	}
	fclose(f);
	return out;
}

/*
 * Whether only mask bits taken outside apmatrix (out_ap, out_aq from
 * live_outside_masks()) give queue q to vfio_ap: none that apmatrix cleared
 * does.
 */
static bool queue_outside(const struct live *l, const struct live_queue *q, const struct bitmap256 *out_ap,
			  const struct bitmap256 *out_aq)
{
	if (q->adapter > 255 || q->domain > 255 ||
	    (!bitmap_test(out_ap, q->adapter) && !bitmap_test(out_aq, q->domain)))
		return false;
	return !(bitmap_test(&l->apmask_taken, q->adapter) && !bitmap_test(&l->apmask, q->adapter)) &&
	       !(bitmap_test(&l->aqmask_taken, q->domain) && !bitmap_test(&l->aqmask, q->domain));
}

/*
 * The queues bound to vfio_ap that no mdev uses: counted, and listed on f
 * when f is given, as a JSON array's items or space-separated.  With out_ap
 * and out_aq (live_outside_masks()): only those that mask bits taken outside
 * apmatrix alone give to vfio_ap.
 */
static size_t unused_vfio_queues(const struct live *l, FILE *f, bool json, const struct bitmap256 *out_ap,
				 const struct bitmap256 *out_aq)
{
	char buf[APQN_STR_LEN];
	size_t n = 0;

	for (size_t i = 0; i < l->n_queues; i++) {
		const struct live_queue *q = &l->queues[i];
		bool used = false;

		if (q->kind != QUEUE_DRIVER_VFIO || (out_ap && !queue_outside(l, q, out_ap, out_aq)))
			continue;
		for (size_t k = 0; k < l->n_mdevs && !used; k++)
			used = matrix_has_apqn(&l->mdevs[k].matrix, q->adapter, q->domain);
		if (used)
			continue;
		if (f && json)
			fprintf(f, "%s\"%s\"", n ? "," : "", apqn_format(buf, q->adapter, q->domain));
		else if (f)
			fprintf(f, " %s", apqn_format(buf, q->adapter, q->domain));
		n++;
	}
	return n;
}

/*
 * The adapters of mdev m without a queue on this host for any of its
 * domains: a card removed under the mdev.  For hosts without guest_matrix
 * (before 6.0), where nothing else shows it.
 */
static struct bitmap256 no_queues(const struct live *l, const struct live_mdev *m)
{
	struct bitmap256 gone = { { 0 } };

	if (bitmap_empty(&m->matrix.domains))
		return gone;
	BITMAP_FOREACH(a, &m->matrix.adapters) {
		bool any = false;

		BITMAP_FOREACH(d, &m->matrix.domains)
		if (live_find_queue(l, (unsigned)a, (unsigned)d)) {
			any = true;
			break;
		}
		if (!any)
			bitmap_set(&gone, (unsigned)a);
	}
	return gone;
}

/* status: "HEADING:" and the apmask and aqmask bits of ap and aq, nothing when both are empty */
static void print_mask_bits(FILE *f, const char *heading, const struct bitmap256 *ap, const struct bitmap256 *aq)
{
	const struct bitmap256 *bits[] = { ap, aq };
	static const char *const names[] = { "apmask", "aqmask" };

	if (bitmap_empty(ap) && bitmap_empty(aq))
		return;
	fprintf(f, "\n%s:\n", heading);
	for (size_t i = 0; i < ARRAY_SIZE(bits); i++) {
		_cleanup_free_ char *s = NULL;

		if (bitmap_empty(bits[i]))
			continue;
		s = bitmap_format_ranges(bits[i], 2);
		fprintf(f, "  %s %s\n", names[i], s ? s : "");
	}
}

void render_status(FILE *f, const struct desired *d, const struct live *l, const struct render_opts *o)
{
	struct bitmap256 out_ap, out_aq;
	size_t n_unused;
	bool any_foreign = false;

	int w = 16; /* the GUEST column: as wide as the longest name */

	(void)o;
	for (size_t i = 0; i < d->n_guests; i++)
		if (strlen(d->guests[i].name) > (size_t)w)
			w = (int)strlen(d->guests[i].name);
	fputs("host: ", f);
	live_print_interface(f, l);
	fprintf(f, ", vfio_ap %s, max adapter 0x%02x, max domain 0x%02x\n", l->vfio_loaded ? "loaded" : "not loaded",
		l->max_adapter, l->max_domain);
	fprintf(f, "\n%-*s UUID                                  STATE\n", w, "GUEST");
	for (size_t i = 0; i < d->n_guests; i++) {
		const struct desired_guest *g = &d->guests[i];
		const struct live_mdev *m = declared_mdev(l, g);
		enum guest_state st = guest_state(g, m);

		/* left out: why, then the mdev as it is (diff and apply do not change it) */
		fprintf(f, "%-*s %-36s  %s%s", w, g->name, g->uuid_valid ? g->uuid : "(its uuid: is invalid)",
			g->refused ? "left out" : guest_state_table[st],
			m && m->in_use_unknown ? ", maybe running (cannot tell)" : m && m->in_use ? ", running" : "");
		if (g->refused)
			fprintf(f, ": %s%s(see the error); mdev %s", g->refused_why ? g->refused_why : "",
				g->refused_why ? " " : "", guest_state_table[st]);
		if (st == GUEST_ABSENT && g->create_failed)
			fprintf(f, "%s the last apply failed to create it%s%s%s", g->refused ? ";" : ":",
				*g->create_failed ? " (" : "", g->create_failed, *g->create_failed ? ")" : "");
		if (st == GUEST_DIFFERS) {
			_cleanup_free_ char *s = guest_differences(g, m);
			fprintf(f, ": %s", s ? s : "");
		} else if (st == GUEST_MATCHES && m->has_guest_matrix) {
			struct bitmap256 stale = live_stale_adapters(l, m, &m->matrix, &m->guest_matrix);
			_cleanup_free_ char *hidden = not_visible(l, m, &stale);

			if (!bitmap_empty(&stale)) {
				_cleanup_free_ char *s = bitmap_format_ranges(&stale, 2);
				fprintf(f, "; adapter%s %s left out of the guest's view by an earlier filter (apply "
					   "assigns %s again)",
					bitmap_count(&stale) > 1 ? "s" : "", s ? s : "", bitmap_count(&stale) > 1 ? "them" : "it");
			}
			if (hidden)
				fprintf(f, "; not in the guest's view: %s", hidden);
		}
		if (m && !m->has_guest_matrix) {
			/* before 6.0 the mdev keeps an adapter whose card went away */
			struct bitmap256 gone = no_queues(l, m);

			if (!bitmap_empty(&gone)) {
				_cleanup_free_ char *s = bitmap_format_ranges(&gone, 2);
				fprintf(f, "; adapter%s %s: no queues on this host (card removed?)",
					bitmap_count(&gone) > 1 ? "s" : "", s ? s : "");
			}
		}
		if (g->mdevctl_path)
			fprintf(f, "; defined in mdevctl (start: %s)", mdevctl_start(g->mdevctl_auto));
		fputc('\n', f);
	}
	for (size_t i = 0; i < l->n_mdevs; i++) {
		const struct live_mdev *m = &l->mdevs[i];
		if (uuid_declared(d, m->uuid))
			continue;
		if (!any_foreign)
			fputs("\nmdevs not declared in the configuration:\n", f);
		any_foreign = true;
		/* an mdev in use is never removed: say when apply does it; one mdevctl now defines is not removed */
		if (m->handed_over)
			fprintf(f, "  %s  created by apmatrix for guest '%s', now defined in mdevctl (start: %s): apply "
				   "leaves it to mdevctl%s\n",
				m->uuid, m->owner_guest ? m->owner_guest : "?", mdevctl_start(m->mdevctl_auto),
				m->in_use_unknown ? ", maybe in use (cannot tell)" : m->in_use ? ", in use" : "");
		else
			fprintf(f, "  %s  %s%s%s%s%s\n", m->uuid,
				!m->owned			  ? "not managed by apmatrix (apply never changes or removes it)"
				: m->in_use || m->in_use_unknown ? "created by apmatrix (apply removes it once its guest stops: "
								    "run apmatrix apply then, or enable the libvirt hook)"
								  : "created by apmatrix (will be removed by apply)",
				m->in_use_unknown ? ", maybe in use (cannot tell)" : m->in_use ? ", in use" : "",
				m->mdevctl_path ? "; defined in mdevctl (start: " : "",
				m->mdevctl_path ? mdevctl_start(m->mdevctl_auto) : "", m->mdevctl_path ? ")" : "");
		for (size_t k = 0; k < d->n_guests; k++) {
			if (!matrix_overlap(&m->matrix, &d->guests[k].matrix))
				continue;
			_cleanup_free_ char *s = matrix_format_overlap(&m->matrix, &d->guests[k].matrix, 8);
			fprintf(f, "    overlaps guest '%s' on %s\n", d->guests[k].name, s ? s : "");
		}
	}
	print_mask_bits(f, "mask bits taken from the host by apmatrix", &l->apmask_taken, &l->aqmask_taken);
	if (d->masks == CONFIG_MASKS_OFF && !(bitmap_empty(&l->apmask_taken) && bitmap_empty(&l->aqmask_taken)))
		fputs("  (kept while host.masks is off; with host.masks: auto, apply gives back those no mdev uses)\n",
		      f);
	live_outside_masks(l, &out_ap, &out_aq);
	print_mask_bits(f,
			"mask bits taken from the host outside apmatrix (boot setting, chzdev or by hand; apmatrix "
			"leaves them as they are)",
			&out_ap, &out_aq);
	n_unused = unused_vfio_queues(l, NULL, false, NULL, NULL);
	if (n_unused) {
		size_t n_outside = unused_vfio_queues(l, NULL, false, &out_ap, &out_aq);

		fprintf(f, "\nqueues bound to %s that no mdev uses (%zu):\n ", l->vfio_driver ? l->vfio_driver : "vfio",
			n_unused);
		unused_vfio_queues(l, f, false, NULL, NULL);
		fputc('\n', f);
		if (n_outside) {
			fprintf(f, "of these, bound to %s only because of mask bits taken outside apmatrix (%zu):\n ",
				l->vfio_driver ? l->vfio_driver : "vfio", n_outside);
			unused_vfio_queues(l, f, false, &out_ap, &out_aq);
			fputc('\n', f);
		}
	}
}

void render_status_json(FILE *f, const struct desired *d, const struct live *l, const struct desired_guest *only,
			const struct diag_list *diags)
{
	struct bitmap256 out_ap, out_aq;
	bool first = true, first_guest = true;

	fprintf(f, "{\"version\":%d,\"document\":\"status\",\"diagnostics\":", RENDER_JSON_VERSION);
	diag_print_json(diags, f);
	if (!d || !l) {
		/* nothing to compare: the diagnostics say why; nothing is said about the host */
		fputs(",\"host\":null,\"guests\":[],\"undeclared_mdevs\":[],\"taken\":null,\"unused_vfio_queues\":[],"
		      "\"outside\":null}\n",
		      f);
		return;
	}
	/*
	 * A mainline host without matrix/features and without any mdev looks
	 * the same before 6.0 (static) and after (dynamic): "mainline" says
	 * that, where "static" would be a guess.
	 */
	fprintf(f, ",\"host\":{\"profile\":\"%s\",\"vfio_loaded\":%s,\"max_adapter\":%u,\"max_domain\":%u},",
		l->profile_certain || l->profile == PROFILE_NONE ? kernel_profile_to_string(l->profile) : "mainline",
		l->vfio_loaded ? "true" : "false", l->max_adapter, l->max_domain);
	fputs("\"guests\":[", f);
	for (size_t i = 0; i < d->n_guests; i++) {
		const struct desired_guest *g = &d->guests[i];
		const struct live_mdev *m = declared_mdev(l, g);
		enum guest_state st = guest_state(g, m);

		if (only && only != g)
			continue;
		fprintf(f, "%s{\"name\":", first_guest ? "" : ",");
		first_guest = false;
		json_string(f, g->name);
		fputs(",\"uuid\":", f);
		json_string(f, g->uuid_valid ? g->uuid : NULL); /* as check's document */
		fprintf(f, ",\"state\":\"%s\",\"running\":%s,\"left_out\":",
			guest_state_table[g->refused ? GUEST_LEFT_OUT : st], m && m->in_use ? "true" : "false");
		if (g->refused)
			json_string(f, g->refused_why ? g->refused_why : "");
		else
			fputs("null", f);
		fputs(",\"create_failed\":", f);
		if (st == GUEST_ABSENT && g->create_failed) {
			fputs("{\"errno\":", f);
			json_string(f, *g->create_failed ? g->create_failed : NULL);
			fputc('}', f);
		} else
			fputs("null", f);
		fputs(",\"mdevctl\":", f);
		json_mdevctl(f, g->mdevctl_path, g->mdevctl_auto);
		fputs(",\"differences\":", f);
		if (st == GUEST_DIFFERS) {
			_cleanup_free_ char *s = guest_differences(g, m);
			json_string(f, s ? s : "");
		} else
			fputs("null", f);
		fputs(",\"live\":", f);
		if (m) {
			fputs("{\"adapters\":", f);
			render_json_numbers(f, &m->matrix.adapters);
			fputs(",\"domains\":", f);
			render_json_numbers(f, &m->matrix.domains);
			fputs(",\"control_domains\":", f);
			render_json_numbers(f, &m->matrix.control_domains);
			fputs(",\"guest_matrix\":", f);
			if (m->has_guest_matrix)
				render_json_apqns(f, &m->guest_matrix);
			else
				fputs("null", f);
			fputc('}', f);
		} else
			fputs("null", f);
		fputc('}', f);
	}
	fputs("],\"undeclared_mdevs\":[", f);
	for (size_t i = 0; i < l->n_mdevs; i++) {
		const struct live_mdev *m = &l->mdevs[i];
		if (uuid_declared(d, m->uuid))
			continue;
		fprintf(f, "%s{\"uuid\":\"%s\",\"owned\":%s,\"handed_over\":%s,\"in_use\":%s,\"mdevctl\":",
			first ? "" : ",", m->uuid, m->owned ? "true" : "false", m->handed_over ? "true" : "false",
			m->in_use ? "true" : "false");
		json_mdevctl(f, m->mdevctl_path, m->mdevctl_auto);
		fputs(",\"apqns\":", f);
		render_json_apqns(f, &m->matrix);
		/* as the text's "overlaps guest": the declared guests it shares usage APQNs with */
		fputs(",\"overlaps\":[", f);
		for (size_t k = 0, n = 0; k < d->n_guests; k++) {
			struct apqn_matrix both = {
				.adapters = bitmap_and(&m->matrix.adapters, &d->guests[k].matrix.adapters),
				.domains = bitmap_and(&m->matrix.domains, &d->guests[k].matrix.domains),
			};

			if (!matrix_overlap(&m->matrix, &d->guests[k].matrix))
				continue;
			fprintf(f, "%s{\"guest\":", n++ ? "," : "");
			json_string(f, d->guests[k].name);
			fputs(",\"apqns\":", f);
			render_json_apqns(f, &both);
			fputc('}', f);
		}
		fputs("]}", f);
		first = false;
	}
	fputs("],\"taken\":{\"apmask\":", f);
	render_json_numbers(f, &l->apmask_taken);
	fputs(",\"aqmask\":", f);
	render_json_numbers(f, &l->aqmask_taken);
	fputs("},\"unused_vfio_queues\":[", f);
	unused_vfio_queues(l, f, true, NULL, NULL);
	live_outside_masks(l, &out_ap, &out_aq);
	fputs("],\"outside\":{\"apmask\":", f);
	render_json_numbers(f, &out_ap);
	fputs(",\"aqmask\":", f);
	render_json_numbers(f, &out_aq);
	fputs(",\"unused_vfio_queues\":[", f);
	unused_vfio_queues(l, f, true, &out_ap, &out_aq);
	fputs("]}}\n", f);
}
