/* SPDX-License-Identifier: MIT */
/*
 * util.c: allocation helpers that never return NULL, string vectors, an
 * arena, hex digits, decimal numbers, reading a whole file, escaping a
 * name for a message.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "macro.h"

static void oom(void)
{
	fputs("apmatrix: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	return s;
}

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

void strv_freep(char ***p)
{
	strv_free(*p);
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort(char **v, size_t n)
{
	if (n)
		qsort(v, n, sizeof(*v), strp_cmp);
}

bool strv_contains(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (streq(*v, s))
			return true;
	return false;
}

void *xgrow_raw(void *items, size_t *cap, size_t need, size_t sz)
{
	size_t n;

	if (need <= *cap)
		return items;
	n = *cap ? *cap * 2 : 8;
	while (n < need)
		n *= 2;
	items = xrealloc(items, n * sz);
	*cap = n;
	return items;
}

size_t str_hash(const char *s)
{
	size_t h = 14695981039346656037ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

long str_index_find(const struct str_index *x, const char *key, str_index_key_fn key_of, const void *items)
{
	if (!x->cap)
		return -1;
	for (size_t i = str_hash(key) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
		unsigned k = x->slots[i];

		if (!k)
			return -1;
		if (streq(key_of(items, k - 1), key))
			return (long)k - 1;
	}
}

static void str_index_put(struct str_index *x, size_t n, str_index_key_fn key_of, const void *items)
{
	size_t i = str_hash(key_of(items, n)) & (x->cap - 1);

	while (x->slots[i])
		i = (i + 1) & (x->cap - 1);
	x->slots[i] = (unsigned)n + 1;
}

void str_index_add(struct str_index *x, size_t n, str_index_key_fn key_of, const void *items)
{
	if (2 * (n + 1) > x->cap) {
		free(x->slots);
		x->cap = x->cap ? 2 * x->cap : 16;
		x->slots = xcalloc(x->cap, sizeof(*x->slots));
		for (size_t k = 0; k < n; k++)
			str_index_put(x, k, key_of, items);
	}
	str_index_put(x, n, key_of, items);
}

void str_index_done(struct str_index *x)
{
	free(x->slots);
	*x = (struct str_index){ 0 };
}

void *xgrow(void *items, size_t *cap, size_t need, size_t sz)
{
	size_t old = *cap;

	items = xgrow_raw(items, cap, need, sz);
	if (*cap > old)
		memset((char *)items + old * sz, 0, (*cap - old) * sz);
	return items;
}

struct arena_chunk {
	struct arena_chunk *next;
	char data[]; /* 8-byte aligned: pointers, sizes, unsigned; nothing in an arena needs more */
};

#define ARENA_FIRST_CHUNK 4096
#define ARENA_MAX_CHUNK (256 * 1024)

void *arena_alloc(struct arena *a, size_t n)
{
	const size_t align = 8;
	char *p;

	n = (n + align - 1) & ~(align - 1);
	if (n > a->left) {
		size_t size = a->chunk_size ? a->chunk_size : ARENA_FIRST_CHUNK;
		struct arena_chunk *c;

		while (size < n)
			size *= 2;
		c = xmalloc(sizeof(*c) + size);
		c->next = a->chunks;
		a->chunks = c;
		a->next = (char *)c->data;
		a->left = size;
		a->chunk_size = size < ARENA_MAX_CHUNK ? size * 2 : size;
	}
	p = a->next;
	a->next += n;
	a->left -= n;
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(arena_alloc(a, n), s, n);
}

void arena_move(struct arena *to, struct arena *from)
{
	struct arena_chunk **tail = &to->chunks;

	if (!to->chunks) {
		*to = *from;
	} else {
		/* behind to's newest chunk, which stays the one to allocate from */
		tail = &to->chunks->next;
		while (*tail)
			tail = &(*tail)->next;
		*tail = from->chunks;
	}
	*from = (struct arena){ 0 };
}

void arena_free(struct arena *a)
{
	while (a->chunks) {
		struct arena_chunk *c = a->chunks;

		a->chunks = c->next;
		free(c);
	}
	*a = (struct arena){ 0 };
}

/* Levenshtein distance, for "did you mean"; keys and names are short. */
size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	_cleanup_free_ size_t *row = xcalloc(lb + 1, sizeof(*row));

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int parse_hex_digits(const char *s, size_t n, unsigned max, unsigned *ret)
{
	unsigned v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int d = hex_value(s[i]);

		if (d < 0)
			return -EINVAL;
		v = v * 16 + (unsigned)d;
		if (v > max)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

int parse_decimal_ull(const char *s, unsigned long long *ret)
{
	unsigned long long n;
	char *end;

	if (!isdigit((unsigned char)*s) || strlen(s) > 20)
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = n;
	return 0;
}

int read_fd_all(int fd, size_t max, bool short_read_ends, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 4096;

	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t k;

		if (len == cap) {
			/* room for one byte past max at most: that byte tells EFBIG */
			cap = cap > max / 2 ? max + 1 : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		len += (size_t)k;
		if (len > max)
			return -EFBIG;
		if (short_read_ends && len < cap)
			break;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

size_t control_char_at(const unsigned char *c)
{
	if (*c < 0x20 || *c == 0x7f)
		return 1;
	if (c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f)
		return 2; /* a terminal may read U+009B as CSI, as ESC [ */
	return 0;
}

size_t utf8_char_len(const unsigned char *p, size_t avail)
{
	unsigned char b = p[0], lo = 0x80, hi = 0xbf;
	size_t more;

	if (!avail)
		return 0;
	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		more = 1;
	else if (b >= 0xe0 && b <= 0xef) {
		more = 2;
		if (b == 0xe0)
			lo = 0xa0; /* not overlong */
		else if (b == 0xed)
			hi = 0x9f; /* not a surrogate */
	} else if (b >= 0xf0 && b <= 0xf4) {
		more = 3;
		if (b == 0xf0)
			lo = 0x90; /* not overlong */
		else if (b == 0xf4)
			hi = 0x8f; /* not above U+10FFFF */
	} else
		return 0;
	if (more >= avail)
		return 0;
	for (size_t k = 1; k <= more; k++) {
		unsigned char f = p[k];

		if (k == 1 ? f < lo || f > hi : f < 0x80 || f > 0xbf)
			return 0;
	}
	return 1 + more;
}

char *escape_for_message(const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	for (const unsigned char *c = (const unsigned char *)s;; c++) {
		if (!*c)
			return xstrdup(s); /* the usual case: nothing to escape */
		if (control_char_at(c))
			break;
	}
	f = open_memstream(&out, &len);

	if (!f)
		return xstrdup("?");
	for (const unsigned char *c = (const unsigned char *)s; *c;) {
		size_t n = control_char_at(c);

		if (!n)
			fputc(*c++, f);
		for (; n; n--)
			fprintf(f, "\\x%02x", *c++);
	}
	fclose(f);
	return out;
}

/* The path that a symbolic link at link, whose text is to, leads to: to when absolute, else to beside link. */
static char *link_target_path(const char *link, const char *to)
{
	const char *slash = strrchr(link, '/');

	if (to[0] == '/' || !slash)
		return xstrdup(to);
	return xasprintf("%.*s/%s", (int)(slash - link), link, to);
}

/* The text of the symbolic link at path, or NULL when path is none (or gone). */
static char *read_link(const char *path)
{
	char buf[PATH_MAX];
	ssize_t k = readlink(path, buf, sizeof(buf) - 1);

	if (k < 0)
		return NULL;
	buf[k] = '\0';
	return xstrdup(buf);
}

#define LINK_CHAIN_MAX 40 /* the kernel's MAXSYMLINKS */

struct link_chain {
	char *path[LINK_CHAIN_MAX + 2]; /* path[0] the link; path[i + 1] where path[i]'s text leads */
	size_t n;
	size_t end;   /* the last path followed: no link (lstat() errno in err, 0: another file), or a link seen before */
	size_t again; /* where path[end] was seen first, when it was; else SIZE_MAX */
	size_t dir_at; /* the first path[i] that is a link in a directory part of where path[i - 1] leads (0: none) */
	int err;
	bool complete; /* false: longer than LINK_CHAIN_MAX, or a link could not be read */
};

/* The directory part of path that is a link in a loop (stat() fails with ELOOP there first), or NULL. */
static char *looping_dir(const char *path)
{
	for (const char *slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		_cleanup_free_ char *dir = xasprintf("%.*s", (int)(slash - path), path);
		struct stat st;

		if (stat(dir, &st) < 0 && errno == ELOOP)
			return TAKE_PTR(dir);
	}
	return NULL;
}

/*
 * Follow the links from path one at a time, as the kernel does, recording each
 * path on the way.  Where the path a link leads to cannot be looked at for a
 * loop in a directory part of it, the chain goes on from the link there.
 */
static void follow_links(const char *path, struct link_chain *c)
{
	dev_t dev[LINK_CHAIN_MAX + 1];
	ino_t ino[LINK_CHAIN_MAX + 1];

	*c = (struct link_chain){ .again = SIZE_MAX };
	c->path[c->n++] = xstrdup(path);
	for (;;) {
		size_t i = c->n - 1;
		struct stat st;
		char *to;

		if (lstat(c->path[i], &st) < 0 && errno == ELOOP && (to = looping_dir(c->path[i]))) {
			free(c->path[i]);
			c->path[i] = to;
			if (!c->dir_at)
				c->dir_at = i;
			continue; /* a link, which lstat() now reaches */
		}
		if (lstat(c->path[i], &st) < 0 || !S_ISLNK(st.st_mode)) {
			c->err = lstat(c->path[i], &st) < 0 ? errno : 0;
			c->end = i;
			c->complete = true;
			return;
		}
		dev[i] = st.st_dev;
		ino[i] = st.st_ino;
		for (size_t j = 0; j < i; j++)
			if (dev[j] == dev[i] && ino[j] == ino[i]) {
				c->end = i;
				c->again = j;
				c->complete = true;
				return;
			}
		if (i == LINK_CHAIN_MAX)
			return;
		to = read_link(c->path[i]);
		if (!to)
			return;
		c->path[c->n++] = link_target_path(c->path[i], to);
		free(to);
	}
}

static void link_chain_done(struct link_chain *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->path[i]);
}

/* The first len bytes of out (made a string) are a directory (for "..": no link, follow false): "." or ".." after it is lexical. */
static bool plain_dir(char *out, size_t len, bool follow)
{
	struct stat st;

	out[len] = '\0';
	return (follow ? stat(out, &st) : lstat(out, &st)) == 0 && S_ISDIR(st.st_mode);
}

/*
 * path with "." and ".." resolved lexically where the kernel would come to the
 * same: after a directory that exists (for "..", one that is no link); from
 * the first "." or ".." after anything else, the rest as written.  Repeated
 * '/' are one.  A new string.
 */
static char *tidy_path(const char *path)
{
	const bool abs = path[0] == '/';
	size_t cap = strlen(path) + 2, o = 0, depth = 0, fixed = 0;
	_cleanup_free_ size_t *at = xmalloc(cap * sizeof(*at)); /* where each component starts in out */
	char *out = xmalloc(cap);
	const char *s = path;

	for (;;) {
		size_t len;
		bool dot, up;

		while (*s == '/')
			s++;
		if (!*s)
			break;
		len = strcspn(s, "/");
		dot = len == 1 && s[0] == '.';
		up = len == 2 && s[0] == '.' && s[1] == '.';
		if ((dot || up) && depth > fixed && !plain_dir(out, o, dot))
			break; /* through a link, or where nothing is: as written */
		if (up && depth > fixed)
			o = at[--depth];
		else if (!dot && !(up && abs)) { /* "/.." is "/"; a relative path keeps its leading ".." */
			if (up)
				fixed++;
			at[depth++] = o;
			if (o > 0 || abs)
				out[o++] = '/';
			memcpy(out + o, s, len);
			o += len;
		}
		s += len;
	}
	if (*s) {
		if (o > 0 || abs)
			out[o++] = '/';
		o += strlen(strcpy(out + o, s));
	}
	if (o == 0)
		out[o++] = abs ? '/' : '.';
	out[o] = '\0';
	return out;
}

/* A path of a chain as a message shows it: tidied and escaped (a link's text is anybody's). */
static char *shown_path(const char *path)
{
	_cleanup_free_ char *tidy = tidy_path(path);

	return escape_for_message(tidy);
}

/*
 * Why a link that leads nowhere (-ENOENT) or round (-ELOOP) does, told from
 * its chain; NULL when the chain does not show it.  "it is KIND (to 'TO',
 * WHICH)": WHICH says what path[1] is, "which PRED", when that is where the
 * link's text leads and the chain short; else what the end of the chain is,
 * "a chain of links ending at 'S', which PRED" or "a chain of links where 'S'
 * links back to 'F'".  S is the missing path, or the link closing the loop.
 */
static char *chain_problem(const struct link_chain *c, const char *to, int r)
{
	_cleanup_free_ char *subject = NULL, *back = NULL, *chain = NULL;
	const char *kind, *pred;
	bool near, where = false;

	if (!c->complete || c->end < 1)
		return NULL;
	if (r == -ENOENT && c->again == SIZE_MAX && c->err == ENOENT) {
		kind = "a dangling symbolic link";
		subject = shown_path(c->path[c->end]);
		pred = "does not exist";
		near = c->end == 1;
	} else if (r == -ELOOP && c->again != SIZE_MAX) {
		/* path[end - 1] links to path[end], the same link as path[again]: that closes the loop */
		kind = c->again == 0 ? "a symbolic link in a loop of links" : "a symbolic link into a loop of links";
		subject = shown_path(c->path[c->end - 1]);
		near = c->end <= 2 && c->dir_at != 1;
		if (c->end == 1 && near)
			pred = "is this link itself";
		else if (c->again == c->end - 1)
			pred = "links to itself";
		else {
			_cleanup_free_ char *first = shown_path(c->path[c->again]);

			pred = back = xasprintf("links back to '%s'", first);
			where = true;
		}
	} else
		return NULL;
	if (!near)
		chain = where ? xasprintf("a chain of links where '%s' ", subject)
			      : xasprintf("a chain of links ending at '%s', ", subject);
	return xasprintf("it is %s (to '%s', %s%s%s)", kind, to, chain ? chain : "", where && !near ? "" : "which ",
			 pred);
}

char *symlink_problem(const char *path, int r)
{
	_cleanup_free_ char *text = read_link(path), *to = NULL, *why = NULL;
	struct link_chain c;

	if (!text)
		return NULL; /* no symbolic link (EINVAL), or gone */
	to = escape_for_message(text); /* a link's text is anybody's: one line, no escape sequence */
	if (r == -ENOENT || r == -ELOOP) {
		follow_links(path, &c);
		why = chain_problem(&c, to, r);
		link_chain_done(&c);
		if (why)
			return TAKE_PTR(why);
	}
	switch (r) {
	case -ENOENT:
		return xasprintf("it is a dangling symbolic link (to '%s', which does not exist)", to);
	case -ELOOP:
		return xasprintf("it is a symbolic link in a loop of links (to '%s')", to);
	case -EISDIR:
		return xasprintf("it is a symbolic link to a directory ('%s')", to);
	default:
		return xasprintf("cannot follow the symbolic link (to '%s'): %s", to, strerror(-r));
	}
}
