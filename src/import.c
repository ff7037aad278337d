/* SPDX-License-Identifier: MIT */
/*
 * import.c: write down what a host already has (import.h).
 *
 * Two small readers live here because nothing else needs them: a JSON
 * reader for mdevctl's definitions (objects, arrays, strings, numbers,
 * literals; depth and size limits) and an XML scanner that pulls out of a
 * libvirt domain just its <name> and the UUIDs of its mdev <hostdev>s.  The
 * XML scanner knows elements, attributes, comments, CDATA, processing
 * instructions and the five predefined and numeric character references;
 * a DOCTYPE (and so any entity definition) makes it give up on the file.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "import.h"
#include "sysfs.h"
#include "uuid.h"

static char *xstrndup(const char *s, size_t n)
{
	char *r = strndup(s, n);

	if (!r)
		abort(); /* like xstrdup(): out of memory */
	return r;
}

#define MAX_INPUT_SIZE (4u << 20) /* a domain XML or definition larger than this is not one */
#define MAX_DEPTH 64 /* XML elements */
/* arrays and objects one in another: as serde_json (mdevctl) reads, whose limit of 128 refuses the 128th */
#define JSON_MAX_CONTAINERS 127
#define GUEST_NAME_MAX 64
#define AP_CONFIG_MAX_LEN 201 /* what ap_config_store() reads of a write: 3 x 66 + 3 (kernel-abi.md §2.5) */

static const char *const import_source_table[_IMPORT_SOURCE_MAX] = {
	[IMPORT_FROM_LIVE] = "live",
	[IMPORT_FROM_MDEVCTL] = "mdevctl",
};

const char *import_source_to_string(enum import_source s)
{
	return s >= 0 && s < _IMPORT_SOURCE_MAX ? import_source_table[s] : NULL;
}

enum import_source import_source_from_string(const char *s)
{
	for (int i = 0; i < _IMPORT_SOURCE_MAX; i++)
		if (streq(s, import_source_table[i]))
			return (enum import_source)i;
	return _IMPORT_SOURCE_INVALID;
}

int import_parse_number(const char *s, int base, unsigned *ret)
{
	unsigned long v = 0;
	const char *p = s;
	int b = base, digits = 0;

	if (*p == '+')
		p++;
	if (b == 0) {
		if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
			b = 16;
			p += 2;
		} else if (p[0] == '0' && p[1] != '\0' && p[1] != '\n') {
			b = 8;
			p++;
		} else
			b = 10;
	} else if (b == 16 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; *p && *p != '\n'; p++, digits++) {
		int d = hex_value(*p);

		if (d < 0 || d >= b)
			return -EINVAL;
		v = v * (unsigned long)b + (unsigned long)d;
		if (v > 255)
			return -ERANGE;
	}
	if (digits == 0 || (*p == '\n' && p[1] != '\0'))
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* ---- files -------------------------------------------------------------- */

/* Read a whole regular file (at most MAX_INPUT_SIZE).  Returns 0 or -errno. */
static int read_file(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len;
	int r;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EISDIR;
	r = read_fd_all(fd, MAX_INPUT_SIZE, false, &buf, &len);
	if (r < 0)
		return r;
	if (memchr(buf, '\0', len))
		return -EINVAL;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

/* Regular-looking entries of dir ending in suffix ("" = any, no dot files), sorted, NULL-terminated (strv_free()). */
static int list_dir(const char *dir, const char *suffix, char ***ret, size_t *ret_n)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0, cap = 0, sl = strlen(suffix);
	struct dirent *de;

	*ret = NULL;
	*ret_n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.' || l <= sl || !streq(de->d_name + l - sl, suffix))
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
			continue;
		names = xgrow(names, &cap, n + 2, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
		names[n] = NULL;
	}
	closedir(d);
	strv_sort(names, n);
	*ret = names;
	*ret_n = n;
	return 0;
}

/* Same rule as compile.c: [A-Za-z0-9_.-]{1,64}, not "." or "..". */
static bool guest_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > GUEST_NAME_MAX || streq(s, ".") || streq(s, ".."))
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* ---- a position in a text, for FILE:LINE:COL --------------------------- */

#define MARK_STEP 256

struct cursor {
	const char *text;
	size_t len, pos;
	const char *file; /* interned */
	const struct mark *steps; /* cursor_index(): the mark of every MARK_STEP-th byte; NULL: none */
};

static void mark_advance(struct mark *m, char ch)
{
	if (ch == '\n') {
		m->line++;
		m->col = 1;
	} else if (((unsigned char)ch & 0xc0) != 0x80)
		m->col++;
}

/*
 * The mark of every MARK_STEP-th byte of c's text, which c then uses: a
 * mark costs at most MARK_STEP steps, not one per byte before it (a text
 * with a mark for each of its many parts).  The caller frees the result.
 */
static struct mark *cursor_index(struct cursor *c)
{
	struct mark *steps = xmalloc((c->len / MARK_STEP + 1) * sizeof(*steps));
	struct mark m = { .file = c->file, .line = 1, .col = 1 };

	for (size_t i = 0;; i++) {
		if (i % MARK_STEP == 0)
			steps[i / MARK_STEP] = m;
		if (i == c->len)
			break;
		mark_advance(&m, c->text[i]);
	}
	c->steps = steps;
	return steps;
}

static struct mark cursor_mark(const struct cursor *c, size_t pos)
{
	struct mark m = { .file = c->file, .line = 1, .col = 1 };
	size_t end = pos < c->len ? pos : c->len, i = 0;

	if (c->steps) {
		i = end / MARK_STEP * MARK_STEP;
		m = c->steps[end / MARK_STEP];
	}
	for (; i < end; i++)
		mark_advance(&m, c->text[i]);
	return m;
}

/* Append code point cp as UTF-8. */
static void put_utf8(char *out, size_t *n, uint32_t cp)
{
	if (cp < 0x80)
		out[(*n)++] = (char)cp;
	else if (cp < 0x800) {
		out[(*n)++] = (char)(0xc0 | cp >> 6);
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*n)++] = (char)(0xe0 | cp >> 12);
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*n)++] = (char)(0xf0 | cp >> 18);
		out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	}
}

/* ---- JSON (mdevctl definitions) ------------------------------------------ */

enum jtype { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

struct jval {
	enum jtype type;
	char *str; /* J_STRING: the value; J_NUMBER: the text; J_BOOL: "true"/"false" */
	size_t len; /* of str, which may hold a NUL ("\u0000") before it ends */
	struct jval *items; /* J_ARRAY, J_OBJECT (values) */
	char **keys;        /* J_OBJECT */
	size_t *key_len;    /* J_OBJECT: of each key (a key may hold a NUL too) */
	size_t *key_pos;    /* J_OBJECT: where each key starts */
	size_t n, cap;
	size_t pos; /* where it starts */
};

/* A key given twice in one object: the last value is the one kept. */
struct jdup {
	char *key;
	size_t pos, first_pos; /* of this key, and of its first */
};

struct jdups {
	struct jdup *items;
	size_t n, cap;
};

static void jdups_done(struct jdups *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->items[i].key);
	free(d->items);
	*d = (struct jdups){ 0 };
}

static void jval_done(struct jval *v)
{
	for (size_t i = 0; i < v->n; i++) {
		jval_done(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->key_len);
	free(v->key_pos);
	free(v->str);
	*v = (struct jval){ 0 };
}

struct jparser {
	struct cursor c;
	const char *error; /* static message */
	size_t error_pos;
	struct jdups *dups;
};

static void jskip_ws(struct jparser *p)
{
	while (p->c.pos < p->c.len && strchr(" \t\r\n", p->c.text[p->c.pos]))
		p->c.pos++;
}

static int jfail(struct jparser *p, size_t pos, const char *msg)
{
	if (!p->error) {
		p->error = msg;
		p->error_pos = pos;
	}
	return -EINVAL;
}

static int hex4(const char *s, uint32_t *ret)
{
	unsigned v = 0;
	int r = parse_hex_digits(s, 4, 0xffff, &v);

	*ret = v;
	return r;
}

/* Whether the JSON string s (of len bytes, NULs included) is the C string lit. */
static bool jstr_is(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* s (of len bytes) to show in a message: a NUL as \u0000.  The caller frees it. */
static char *jstr_show(const char *s, size_t len)
{
	size_t nuls = 0, n = 0;
	char *r;

	for (size_t i = 0; i < len; i++)
		nuls += s[i] == '\0';
	r = xmalloc(len + 5 * nuls + 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0') {
			memcpy(r + n, "\\u0000", 6);
			n += 6;
		} else
			r[n++] = s[i];
	}
	r[n] = '\0';
	return r;
}

/* A string at p->c.pos into *ret (NUL-terminated) and its length, NULs included, into *ret_len. */
static int jparse_string(struct jparser *p, char **ret, size_t *ret_len)
{
	const char *t = p->c.text;
	size_t i = p->c.pos + 1, n = 0, end = i;
	_cleanup_free_ char *out = NULL;

	/*
	 * The output is never longer than the string's text: find where that
	 * ends (the first '"' not escaped, or the end of the input) to size it.
	 */
	while (end < p->c.len && t[end] != '"')
		end += t[end] == '\\' ? 2 : 1;
	out = xmalloc((end < p->c.len ? end : p->c.len) - p->c.pos + 1);
	for (;;) {
		unsigned char ch;

		if (i >= p->c.len)
			return jfail(p, p->c.pos, "unterminated string");
		ch = (unsigned char)t[i];
		if (ch == '"')
			break;
		if (ch < 0x20)
			return jfail(p, i, "control character in a string");
		if (ch != '\\') {
			out[n++] = (char)ch;
			i++;
			continue;
		}
		if (i + 1 >= p->c.len)
			return jfail(p, i, "unterminated string");
		switch (t[i + 1]) {
		case '"':
		case '\\':
		case '/':
			out[n++] = t[i + 1];
			break;
		case 'b':
			out[n++] = '\b';
			break;
		case 'f':
			out[n++] = '\f';
			break;
		case 'n':
			out[n++] = '\n';
			break;
		case 'r':
			out[n++] = '\r';
			break;
		case 't':
			out[n++] = '\t';
			break;
		case 'u': {
			uint32_t cp, lo;

			if (i + 6 > p->c.len || hex4(t + i + 2, &cp) < 0)
				return jfail(p, i, "bad \\u escape");
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return jfail(p, i, "lone low surrogate in \\u escape");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (i + 12 > p->c.len || t[i + 6] != '\\' || t[i + 7] != 'u' ||
				    hex4(t + i + 8, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
					return jfail(p, i, "lone high surrogate in \\u escape");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
			/* mdevctl (serde_json) takes "\u0000" as a NUL in the string */
			put_utf8(out, &n, cp);
			i += 6;
			continue;
		}
		default:
			return jfail(p, i, "bad escape in a string");
		}
		i += 2;
	}
	out[n] = '\0';
	p->c.pos = i + 1;
	*ret = TAKE_PTR(out);
	*ret_len = n;
	return 0;
}

static int jparse_value(struct jparser *p, struct jval *v, int depth);

static size_t jkey_hash(const char *s, size_t len)
{
	size_t h = 14695981039346656037ULL; /* FNV-1a, as str_hash(), over len bytes */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

/* In tab (nslots, a power of 2; 0: empty, else a key's index + 1), the slot of key or the empty one it would take. */
static size_t *jkey_slot(const struct jval *o, size_t *tab, size_t nslots, const char *key, size_t len)
{
	for (size_t h = jkey_hash(key, len) & (nslots - 1);; h = (h + 1) & (nslots - 1))
		if (!tab[h] || (o->key_len[tab[h] - 1] == len && memcmp(o->keys[tab[h] - 1], key, len) == 0))
			return &tab[h];
}

static int jparse_container(struct jparser *p, struct jval *v, int depth, bool object)
{
	char close = object ? '}' : ']';

	v->type = object ? J_OBJECT : J_ARRAY;
	p->c.pos++;
	jskip_ws(p);
	if (p->c.pos < p->c.len && p->c.text[p->c.pos] == close) {
		p->c.pos++;
		return 0;
	}
	/* an object's keys by hash, once it has many (a linear search each would be quadratic) */
	_cleanup_free_ size_t *tab = NULL;
	size_t nslots = 0;

	for (;;) {
		_cleanup_free_ char *key = NULL;
		struct jval item = { 0 };
		size_t key_pos = 0, key_len = 0, dup = SIZE_MAX;
		int r;

		jskip_ws(p);
		if (object) {
			if (p->c.pos >= p->c.len || p->c.text[p->c.pos] != '"')
				return jfail(p, p->c.pos, "expected a string key");
			key_pos = p->c.pos;
			r = jparse_string(p, &key, &key_len);
			if (r < 0)
				return r;
			/*
			 * mdevctl (1.2.0) reads a definition into a serde_json
			 * Value, whose object keeps the last value of a key
			 * given twice: so does this, and says where.
			 */
			if (v->n < 16) {
				for (size_t k = 0; k < v->n && dup == SIZE_MAX; k++)
					if (v->key_len[k] == key_len && memcmp(v->keys[k], key, key_len) == 0)
						dup = k;
			} else {
				size_t *slot;

				if (2 * (v->n + 1) > nslots) {
					for (nslots = nslots ? nslots * 2 : 64; 2 * (v->n + 1) > nslots; nslots *= 2)
						;
					free(tab);
					tab = xcalloc(nslots, sizeof(*tab));
					for (size_t k = 0; k < v->n; k++)
						*jkey_slot(v, tab, nslots, v->keys[k], v->key_len[k]) = k + 1;
				}
				slot = jkey_slot(v, tab, nslots, key, key_len);
				if (*slot)
					dup = *slot - 1;
			}
			jskip_ws(p);
			if (p->c.pos >= p->c.len || p->c.text[p->c.pos] != ':')
				return jfail(p, p->c.pos, "expected ':'");
			p->c.pos++;
		}
		r = jparse_value(p, &item, depth + 1);
		if (r < 0) {
			jval_done(&item);
			return r;
		}
		if (dup != SIZE_MAX) {
			struct jdups *d = p->dups;

			d->items = xgrow(d->items, &d->cap, d->n + 1, sizeof(*d->items));
			d->items[d->n++] = (struct jdup){ .key = TAKE_PTR(key), .pos = key_pos,
							  .first_pos = v->key_pos[dup] };
			jval_done(&v->items[dup]);
			v->items[dup] = item;
		} else {
			/* from one slot up: a definition can hold many small objects */
			if (v->n == v->cap) {
				v->cap = v->cap ? v->cap * 2 : 1;
				v->items = xrealloc(v->items, v->cap * sizeof(*v->items));
				if (object) {
					v->keys = xrealloc(v->keys, v->cap * sizeof(*v->keys));
					v->key_len = xrealloc(v->key_len, v->cap * sizeof(*v->key_len));
					v->key_pos = xrealloc(v->key_pos, v->cap * sizeof(*v->key_pos));
				}
			}
			if (object) {
				v->keys[v->n] = TAKE_PTR(key);
				v->key_len[v->n] = key_len;
				if (tab)
					*jkey_slot(v, tab, nslots, v->keys[v->n], key_len) = v->n + 1;
				v->key_pos[v->n] = key_pos;
			}
			v->items[v->n] = item;
			v->n++;
		}
		jskip_ws(p);
		if (p->c.pos < p->c.len && p->c.text[p->c.pos] == ',') {
			p->c.pos++;
			continue;
		}
		if (p->c.pos < p->c.len && p->c.text[p->c.pos] == close) {
			p->c.pos++;
			return 0;
		}
		return jfail(p, p->c.pos, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int jparse_value(struct jparser *p, struct jval *v, int depth)
{
	const char *t = p->c.text;
	size_t s;

	jskip_ws(p);
	v->pos = s = p->c.pos;
	if (s >= p->c.len)
		return jfail(p, s, "unexpected end of input");
	switch (t[s]) {
	case '{':
	case '[':
		if (depth >= JSON_MAX_CONTAINERS)
			return jfail(p, s, "nested too deeply: more than 127 arrays and objects, which mdevctl cannot load");
		return jparse_container(p, v, depth, t[s] == '{');
	case '"':
		v->type = J_STRING;
		return jparse_string(p, &v->str, &v->len);
	}
	if (strncmp(t + s, "true", 4) == 0 || strncmp(t + s, "false", 5) == 0 || strncmp(t + s, "null", 4) == 0) {
		size_t l = t[s] == 'f' ? 5 : 4;
		v->type = t[s] == 'n' ? J_NULL : J_BOOL;
		v->str = xstrndup(t + s, l);
		p->c.pos += l;
		return 0;
	}
	if (t[s] == '-' || isdigit((unsigned char)t[s])) {
		size_t e = s + (t[s] == '-');

		if (e >= p->c.len || !isdigit((unsigned char)t[e]))
			return jfail(p, s, "bad number");
		/* RFC 8259 section 6, as serde_json (mdevctl) reads it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
		if (t[e] == '0' && e + 1 < p->c.len && isdigit((unsigned char)t[e + 1]))
			return jfail(p, s, "number with a leading zero");
		while (e < p->c.len && isdigit((unsigned char)t[e]))
			e++;
		if (e < p->c.len && t[e] == '.') {
			if (++e >= p->c.len || !isdigit((unsigned char)t[e]))
				return jfail(p, e, "bad number: no digit after the decimal point");
			while (e < p->c.len && isdigit((unsigned char)t[e]))
				e++;
		}
		if (e < p->c.len && (t[e] == 'e' || t[e] == 'E')) {
			e++;
			if (e < p->c.len && (t[e] == '+' || t[e] == '-'))
				e++;
			if (e >= p->c.len || !isdigit((unsigned char)t[e]))
				return jfail(p, e, "bad number: no digit in the exponent");
			while (e < p->c.len && isdigit((unsigned char)t[e]))
				e++;
		}
		v->type = J_NUMBER;
		v->str = xstrndup(t + s, e - s);
		/* serde_json refuses a number no f64 holds (1e400), not one that underflows to 0 */
		if (isinf(strtod(v->str, NULL)))
			return jfail(p, s, "number out of range");
		p->c.pos = e;
		return 0;
	}
	return jfail(p, s, "unexpected character");
}

/*
 * Where the first byte of text that is not UTF-8 is (a sequence that is cut
 * short, overlong, a surrogate or above U+10FFFF), or SIZE_MAX when it is
 * all UTF-8: mdevctl reads a definition into a Rust String, which refuses
 * such a file ("stream did not contain valid UTF-8") whatever its JSON.
 */
static size_t utf8_invalid_at(const char *text, size_t len)
{
	size_t n;

	for (size_t i = 0; i < len; i += n)
		if (!(n = utf8_char_len((const unsigned char *)text + i, len - i)))
			return i;
	return SIZE_MAX;
}

/* Parse c into *ret; keys given twice in an object (the last value kept) go to *dups. */
static int json_parse(struct cursor c, struct jval *ret, struct jdups *dups, struct mark *err_mark, const char **err)
{
	struct jparser p = { .c = c, .dups = dups };
	int r = jparse_value(&p, ret, 0);

	if (r == 0) {
		jskip_ws(&p);
		if (p.c.pos != p.c.len)
			r = jfail(&p, p.c.pos, "text after the JSON value");
	}
	if (r < 0) {
		jval_done(ret);
		*err_mark = cursor_mark(&c, p.error_pos);
		*err = p.error ? p.error : "invalid JSON";
	}
	return r;
}

static const struct jval *jget(const struct jval *o, const char *key)
{
	if (o->type != J_OBJECT)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (jstr_is(o->keys[i], o->key_len[i], key))
			return &o->items[i];
	return NULL;
}

/* ---- XML (libvirt domains) ---------------------------------------------- */

struct xml_domain {
	char *name;
	char *file;
	char (*uuids)[37]; /* of <hostdev type='mdev'> */
	size_t n_uuids, cap_uuids;
};

struct xscan {
	struct cursor c;
	const char *error;
	size_t error_pos;
	char *stack[MAX_DEPTH];
	int depth;
	/* state of the current hostdev */
	bool in_mdev_hostdev;
	int hostdev_depth;
	struct xml_domain *dom;
	bool name_seen;
};

static int xfail(struct xscan *x, size_t pos, const char *msg)
{
	if (!x->error) {
		x->error = msg;
		x->error_pos = pos;
	}
	return -EINVAL;
}

/* Decode text with character references into a new string. */
static int xdecode(struct xscan *x, size_t start, size_t end, char **ret)
{
	const char *t = x->c.text;
	char *out = xmalloc(end - start + 1);
	size_t n = 0;

	for (size_t i = start; i < end;) {
		static const struct {
			const char *name;
			char ch;
		} ents[] = { { "lt;", '<' }, { "gt;", '>' }, { "amp;", '&' }, { "quot;", '"' }, { "apos;", '\'' } };
		bool done = false;

		if (t[i] != '&') {
			out[n++] = t[i++];
			continue;
		}
		for (size_t k = 0; k < ARRAY_SIZE(ents) && !done; k++) {
			size_t l = strlen(ents[k].name);
			if (i + 1 + l <= end && strncmp(t + i + 1, ents[k].name, l) == 0) {
				out[n++] = ents[k].ch;
				i += 1 + l;
				done = true;
			}
		}
		if (done)
			continue;
		if (i + 2 < end && t[i + 1] == '#') {
			bool hex = t[i + 2] == 'x';
			size_t j = i + 2 + hex;
			uint32_t cp = 0;
			int digits = 0;

			for (; j < end && t[j] != ';' && digits < 8; j++, digits++) {
				int d = hex_value(t[j]);

				if (d < 0 || (!hex && d > 9))
					break;
				cp = cp * (hex ? 16 : 10) + (uint32_t)d;
			}
			if (j < end && t[j] == ';' && digits > 0 && cp > 0 && cp <= 0x10ffff &&
			    !(cp >= 0xd800 && cp <= 0xdfff) && j + 1 - i >= 4) {
				put_utf8(out, &n, cp);
				i = j + 1;
				continue;
			}
		}
		free(out);
		return xfail(x, i, "unknown entity or character reference");
	}
	out[n] = '\0';
	*ret = out;
	return 0;
}

static bool xname_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '.' || ch == ':' || (unsigned char)ch >= 0x80;
}

/* Is the element stack exactly the given path? */
static bool xpath_is(const struct xscan *x, const char *const *path, int n)
{
	if (x->depth != n)
		return false;
	for (int i = 0; i < n; i++)
		if (!streq(x->stack[i], path[i]))
			return false;
	return true;
}

static void xml_domain_add_uuid(struct xml_domain *d, const char uuid[37])
{
	for (size_t i = 0; i < d->n_uuids; i++)
		if (streq(d->uuids[i], uuid))
			return;
	d->uuids = xgrow(d->uuids, &d->cap_uuids, d->n_uuids + 1, sizeof(*d->uuids));
	memcpy(d->uuids[d->n_uuids++], uuid, 37);
}

/* A start tag at x->c.pos ('<' already seen and it is a name). */
static int xstart_tag(struct xscan *x)
{
	static const char *const p_hostdev[] = { "domain", "devices", "hostdev" };
	static const char *const p_address[] = { "domain", "devices", "hostdev", "source", "address" };
	const char *t = x->c.text;
	size_t i = x->c.pos + 1, s = i;
	bool self_close = false;
	_cleanup_free_ char *type = NULL, *uuid = NULL;
	char *name;
	int r;

	while (i < x->c.len && xname_char(t[i]))
		i++;
	if (i == s)
		return xfail(x, s, "bad element name");
	name = xstrndup(t + s, i - s);
	if (!name)
		return -ENOMEM;
	for (;;) {
		size_t as, ae, vs, ve;
		char q;
		_cleanup_free_ char *aname = NULL, *value = NULL;

		while (i < x->c.len && isspace((unsigned char)t[i]))
			i++;
		if (i >= x->c.len) {
			free(name);
			return xfail(x, x->c.pos, "unterminated tag");
		}
		if (t[i] == '>') {
			i++;
			break;
		}
		if (t[i] == '/' && i + 1 < x->c.len && t[i + 1] == '>') {
			self_close = true;
			i += 2;
			break;
		}
		as = i;
		while (i < x->c.len && xname_char(t[i]))
			i++;
		ae = i;
		while (i < x->c.len && isspace((unsigned char)t[i]))
			i++;
		if (ae == as || i >= x->c.len || t[i] != '=') {
			free(name);
			return xfail(x, i, "bad attribute");
		}
		i++;
		while (i < x->c.len && isspace((unsigned char)t[i]))
			i++;
		if (i >= x->c.len || (t[i] != '\'' && t[i] != '"')) {
			free(name);
			return xfail(x, i, "attribute value without quotes");
		}
		q = t[i++];
		vs = i;
		while (i < x->c.len && t[i] != q && t[i] != '<')
			i++;
		if (i >= x->c.len || t[i] != q) {
			free(name);
			return xfail(x, vs, "unterminated attribute value");
		}
		ve = i++;
		aname = xstrndup(t + as, ae - as);
		r = xdecode(x, vs, ve, &value);
		if (r < 0) {
			free(name);
			return r;
		}
		if (streq(aname, "type") && !type)
			type = TAKE_PTR(value);
		else if (streq(aname, "uuid") && !uuid)
			uuid = TAKE_PTR(value);
	}
	if (x->depth >= MAX_DEPTH) {
		free(name);
		return xfail(x, x->c.pos, "nested too deeply");
	}
	x->stack[x->depth++] = name;
	if (x->depth == 1 && !streq(name, "domain")) {
		x->c.pos = i;
		return xfail(x, s, "not a libvirt domain (the root element is not <domain>)");
	}
	if (xpath_is(x, p_hostdev, 3)) {
		x->in_mdev_hostdev = type && streq(type, "mdev");
		x->hostdev_depth = x->depth;
	}
	if (x->in_mdev_hostdev && xpath_is(x, p_address, 5) && uuid) {
		char u[37];
		if (!uuid_canonicalize(uuid, u))
			return xfail(x, s, "mdev address with a malformed uuid");
		xml_domain_add_uuid(x->dom, u);
	}
	x->c.pos = i;
	if (self_close) {
		if (x->depth == x->hostdev_depth)
			x->in_mdev_hostdev = false;
		free(x->stack[--x->depth]);
	}
	return 0;
}

static int xml_scan(struct cursor c, struct xml_domain *dom, struct mark *err_mark, const char **err)
{
	static const char *const p_name[] = { "domain", "name" };
	struct xscan x = { .c = c, .dom = dom, .hostdev_depth = -1 };
	const char *t = c.text;
	int r = 0;
	bool root_seen = false;

	while (r == 0 && x.c.pos < x.c.len) {
		size_t i = x.c.pos;

		if (t[i] != '<') {
			size_t e = i;
			while (e < x.c.len && t[e] != '<')
				e++;
			if (xpath_is(&x, p_name, 2)) {
				char *text = NULL;
				r = xdecode(&x, i, e, &text);
				if (r < 0)
					break;
				if (x.name_seen) {
					/* text split by a comment: keep it together */
					char *joined = xasprintf("%s%s", dom->name ? dom->name : "", text);
					free(text);
					text = joined;
				}
				free(dom->name);
				dom->name = text;
				x.name_seen = true;
			} else if (x.depth == 0) {
				for (size_t k = i; k < e; k++)
					if (!isspace((unsigned char)t[k])) {
						r = xfail(&x, k, "text outside the root element");
						break;
					}
			}
			x.c.pos = e;
			continue;
		}
		if (strncmp(t + i, "<!--", 4) == 0) {
			const char *e = strstr(t + i + 4, "-->");
			if (!e) {
				r = xfail(&x, i, "unterminated comment");
				break;
			}
			x.c.pos = (size_t)(e - t) + 3;
		} else if (strncmp(t + i, "<![CDATA[", 9) == 0) {
			const char *e = strstr(t + i + 9, "]]>");
			if (!e) {
				r = xfail(&x, i, "unterminated CDATA section");
				break;
			}
			if (xpath_is(&x, p_name, 2)) {
				char *text = xstrndup(t + i + 9, (size_t)(e - t) - i - 9);
				char *joined = xasprintf("%s%s", x.name_seen && dom->name ? dom->name : "", text);
				free(text);
				free(dom->name);
				dom->name = joined;
				x.name_seen = true;
			}
			x.c.pos = (size_t)(e - t) + 3;
		} else if (strncmp(t + i, "<?", 2) == 0) {
			const char *e = strstr(t + i + 2, "?>");
			if (!e) {
				r = xfail(&x, i, "unterminated processing instruction");
				break;
			}
			x.c.pos = (size_t)(e - t) + 2;
		} else if (strncmp(t + i, "<!", 2) == 0) {
			r = xfail(&x, i, "DOCTYPE or other declaration (not read, for safety)");
		} else if (t[i + 1] == '/') {
			size_t s = i + 2, e = s;
			while (e < x.c.len && xname_char(t[e]))
				e++;
			if (x.depth == 0 || strlen(x.stack[x.depth - 1]) != e - s ||
			    strncmp(x.stack[x.depth - 1], t + s, e - s) != 0) {
				r = xfail(&x, i, "mismatched end tag");
				break;
			}
			while (e < x.c.len && isspace((unsigned char)t[e]))
				e++;
			if (e >= x.c.len || t[e] != '>') {
				r = xfail(&x, i, "unterminated end tag");
				break;
			}
			if (x.depth == x.hostdev_depth) {
				x.in_mdev_hostdev = false;
				x.hostdev_depth = -1;
			}
			free(x.stack[--x.depth]);
			x.c.pos = e + 1;
		} else {
			if (x.depth == 0 && root_seen) {
				r = xfail(&x, i, "a second root element");
				break;
			}
			root_seen = x.depth == 0 ? true : root_seen;
			r = xstart_tag(&x);
		}
	}
	if (r == 0 && x.depth > 0)
		r = xfail(&x, x.c.len, "unterminated element");
	if (r == 0 && !root_seen)
		r = xfail(&x, 0, "no root element");
	while (x.depth > 0)
		free(x.stack[--x.depth]);
	if (r < 0) {
		*err_mark = cursor_mark(&c, x.error_pos);
		*err = x.error ? x.error : "invalid XML";
	}
	return r;
}

/* ---- the guests to write ------------------------------------------------- */

struct iguest {
	char uuid[37];
	struct apqn_matrix m;
	/* mdevctl: every number an attribute wrote, unassigned since or not (one beyond the maxima fails the start) */
	struct apqn_matrix written;
	char *name;
	char *comment;     /* after the guest key */
	char *source;      /* mdevctl: the definition file and its start */
	char *file;        /* mdevctl: the definition file */
	const char *owner; /* live: the name apmatrix recorded */
	bool skip;         /* written as a comment only */
	char *skip_reason;
	bool autostart;    /* mdevctl: "start": "auto" */
	bool carried;      /* mdevctl: no definition, but a live mdev apmatrix created (carry_owned()) */
	bool broken;       /* mdevctl: a definition mdevctl cannot load, or whose start fails (an error said) */
	bool ap_config;    /* mdevctl: it sets ap_config (a 6.10+ attribute) */
	bool beyond;       /* mdevctl: it assigns a number beyond the host's maxima (mdevctl_beyond_host()) */
};

struct import {
	const struct live *l;
	const struct import_opts *o;
	struct diag_list *diags;
	struct iguest *g;
	size_t n, cap;
	struct xml_domain *doms;
	size_t n_doms, cap_doms;
	bool errors;
};

static struct iguest *add_guest(struct import *im, const char uuid[37])
{
	struct iguest *g;

	im->g = xgrow(im->g, &im->cap, im->n + 1, sizeof(*im->g));
	g = &im->g[im->n++];
	*g = (struct iguest){ 0 };
	memcpy(g->uuid, uuid, 37);
	return g;
}

static void from_live(struct import *im)
{
	for (size_t i = 0; i < im->l->n_mdevs; i++) {
		const struct live_mdev *m = &im->l->mdevs[i];
		struct iguest *g = add_guest(im, m->uuid);

		g->m = m->matrix;
		g->owner = m->owned ? m->owner_guest : NULL;
	}
}

struct attr_op {
	const char *name;
	int dim;  /* 0 adapters, 1 domains, 2 control domains */
	bool set; /* assign or unassign */
};

static const struct attr_op attr_ops[] = {
	{ "assign_adapter", 0, true },		{ "unassign_adapter", 0, false },
	{ "assign_domain", 1, true },		{ "unassign_domain", 1, false },
	{ "assign_control_domain", 2, true }, { "unassign_control_domain", 2, false },
};

static struct bitmap256 *dim_of(struct apqn_matrix *m, int dim)
{
	return dim == 0 ? &m->adapters : dim == 1 ? &m->domains : &m->control_domains;
}

/*
 * "047": the kernel's kstrtoul(base 0) reads a leading zero as octal, 0x27,
 * and so does import; an administrator who wrote it likely meant 47.  Warn
 * when the two readings differ ("07" and "0" read the same either way).
 */
static void warn_octal(struct import *im, const struct cursor *c, size_t pos, const struct iguest *g,
		       const char *key, const char *str, const struct attr_op *op, unsigned num)
{
	static const char *const what[] = { "adapter", "domain", "control domain" };
	const char *p = str + (str[0] == '+'), *dec;
	struct mark mk;
	size_t len;

	if (p[0] != '0' || p[1] < '0' || p[1] > '9')
		return;
	dec = p + strspn(p, "0");
	len = strcspn(dec, "\n");
	if (len == 0 || (len <= 3 && strtoul(dec, NULL, 10) == num))
		return;
	mk = cursor_mark(c, pos);
	diag_add(im->diags, DIAG_WARNING, &mk, NULL,
		 "mdev %s: %s \"%.*s\" has a leading zero: the kernel reads it as octal, %s 0x%02x (%u), not %.*s; "
		 "imported as 0x%02x, as the kernel %s it",
		 g->uuid, key, (int)strcspn(str, "\n"), str, what[op->dim], num, num, (int)len, dec, num,
		 op->set ? "assigns" : "unassigns");
}

#define MDEVCTL_CANNOT_LOAD "mdevctl cannot load the definition"

/*
 * ap_config on a kernel whose mdevs lack it (before 6.10): mdevctl loads
 * the definition, but its start fails ("Invalid attribute 'ap_config'") and
 * removes the mdev.  The masks still say the matrix, which is imported: a
 * warning, not an error (the file may well be meant for a newer kernel, and
 * apply creates the mdev with assign_* writes); a note when no mdev tells
 * yet whether this kernel has it.
 */
static void warn_ap_config(struct import *im, const struct cursor *c, size_t pos, const struct iguest *g)
{
	struct mark mk = cursor_mark(c, pos);
	const char *kernel;
	bool unsure;

	if (!im->l)
		return;
	kernel = live_lacks_ap_config(im->l, &unsure);
	if (kernel)
		diag_add(im->diags, DIAG_WARNING, &mk, NULL,
			 "mdev %s: ap_config: this host's kernel (%s) has no ap_config attribute, so mdevctl's "
			 "start of this definition fails (\"Invalid attribute 'ap_config'\"); its masks are imported",
			 g->uuid, kernel);
	else if (unsure)
		diag_add(im->diags, DIAG_NOTE, &mk, NULL,
			 "mdev %s: ap_config: mdevs have it from kernel 6.10 on, and no mdev tells yet whether this "
			 "host's has it; if not, mdevctl's start of this definition fails (\"Invalid attribute "
			 "'ap_config'\"); its masks are imported",
			 g->uuid);
}

/*
 * Whether mdevctl (1.2.0, MDev::add_attributes() in src/mdev.rs) loads a
 * definition's attrs, whatever its mdev type: not an entry that is not an
 * object with exactly one key (its error "invalid JSON format for
 * attribute: too many fields", also for {}), nor a value that is not a JSON
 * string (it panics on "as_str().unwrap()", a number included).  The first
 * such entry is said, with severity sev, under the definition's uuid.
 */
static bool attrs_loadable(struct import *im, const struct cursor *c, const struct jval *attrs, const char *uuid,
			   enum diag_severity sev)
{
	for (size_t i = 0; i < attrs->n; i++) {
		const struct jval *a = &attrs->items[i], *v;
		struct mark mk;

		if (a->type == J_OBJECT && a->n == 1 && a->items[0].type == J_STRING)
			continue;
		mk = cursor_mark(c, a->pos);
		if (a->type != J_OBJECT) {
			diag_add(im->diags, sev, &mk, NULL, "mdev %s: an attrs entry is not an object; %s", uuid,
				 MDEVCTL_CANNOT_LOAD);
			return false;
		}
		if (a->n == 0) {
			diag_add(im->diags, sev, &mk, NULL,
				 "mdev %s: an attrs entry has no attribute; mdevctl takes exactly one per entry: %s",
				 uuid, MDEVCTL_CANNOT_LOAD);
			return false;
		}
		if (a->n > 1) {
			diag_add(im->diags, sev, &mk, NULL,
				 "mdev %s: an attrs entry has %zu attributes (%s, %s%s); mdevctl takes exactly "
				 "one per entry ({\"%s\": ...}, {\"%s\": ...}): %s",
				 uuid, a->n, a->keys[0], a->keys[1], a->n > 2 ? ", ..." : "", a->keys[0], a->keys[1],
				 MDEVCTL_CANNOT_LOAD);
			return false;
		}
		v = &a->items[0];
		mk = cursor_mark(c, v->pos);
		if (v->type == J_NUMBER) {
			diag_add(im->diags, sev, &mk, NULL,
				 "mdev %s: %s: the value %s is a JSON number, not a string (\"%s\"); %s", uuid,
				 a->keys[0], v->str, v->str, MDEVCTL_CANNOT_LOAD);
			return false;
		}
		if (v->type != J_STRING) {
			diag_add(im->diags, sev, &mk, NULL, "mdev %s: %s: the value is not a string; %s", uuid,
				 a->keys[0], MDEVCTL_CANNOT_LOAD);
			return false;
		}
	}
	return true;
}

/*
 * Replay one definition's attrs (attrs_loadable()) in order, as mdevctl
 * writes them to the mdev.  A value the kernel refuses, or an attribute the
 * mdev does not have, mdevctl loads, but its start fails and removes the mdev.
 */
static int replay_attrs(struct import *im, const struct cursor *c, const struct jval *attrs, int base, struct iguest *g)
{
	for (size_t i = 0; i < attrs->n; i++) {
		const struct jval *a = &attrs->items[i];

		for (size_t k = 0; k < a->n; k++) {
			const char *key = a->keys[k];
			const struct jval *v = &a->items[k];
			struct mark mk;
			const struct attr_op *op = NULL;

			for (size_t n = 0; n < ARRAY_SIZE(attr_ops); n++)
				if (jstr_is(key, a->key_len[k], attr_ops[n].name))
					op = &attr_ops[n];
			if (op) {
				unsigned num;
				int r = import_parse_number(v->str, base, &num);

				if (r < 0) {
					_cleanup_free_ char *shown = escape_for_message(v->str);

					mk = cursor_mark(c, v->pos);
					diag_add(im->diags, DIAG_ERROR, &mk, NULL,
						 "mdev %s: %s '%s': not a number from 0 to 255 as the kernel reads it%s",
						 g->uuid, key, shown, base == 16 ? " (hex)" : "");
					return -EINVAL;
				}
				if (base == 0)
					warn_octal(im, c, v->pos, g, key, v->str, op, num);
				if (op->set)
					bitmap_set(dim_of(&g->m, op->dim), num);
				else
					bitmap_clear(dim_of(&g->m, op->dim), num);
				bitmap_set(dim_of(&g->written, op->dim), num);
			} else if (jstr_is(key, a->key_len[k], "ap_config") && base == 0) {
				/*
				 * "apm,aqm,adm" read as the kernel's ap_config_store() reads it
				 * (kernel-abi.md §2.5): its first 201 bytes, split at ',' and
				 * '\n', three hex masks (an empty one is all zero); whatever
				 * follows the third is ignored
				 */
				_cleanup_free_ char *s = strndup(v->str, AP_CONFIG_MAX_LEN);
				char *rest = s;
				struct bitmap256 b[3];
				bool ok = s != NULL;

				for (int d = 0; d < 3 && ok; d++) {
					char *f = strsep(&rest, ",\n");

					ok = f && bitmap_from_kernel(f, &b[d]) == 0;
				}
				if (!ok) {
					_cleanup_free_ char *shown = escape_for_message(v->str);

					mk = cursor_mark(c, v->pos);
					diag_add(im->diags, DIAG_ERROR, &mk, NULL,
						 "mdev %s: ap_config '%s': expected three hex masks 'APM,AQM,ADM'", g->uuid,
						 shown);
					return -EINVAL;
				}
				g->m = (struct apqn_matrix){ .adapters = b[0], .domains = b[1], .control_domains = b[2] };
				for (int d = 0; d < MATRIX_DIMS; d++)
					*dim_of(&g->written, d) = bitmap_or(dim_of(&g->written, d), &b[d]);
				g->ap_config = true;
				warn_ap_config(im, c, a->pos, g);
			} else {
				struct mark km = cursor_mark(c, a->pos);
				_cleanup_free_ char *shown = jstr_show(key, a->key_len[k]);

				diag_add(im->diags, DIAG_ERROR, &km, NULL,
					 "mdev %s: attribute '%s' cannot be imported (only assign_*, unassign_*%s)", g->uuid,
					 shown, base == 0 ? ", ap_config" : "");
				return -EINVAL;
			}
		}
	}
	return 0;
}

/*
 * A key given twice in a definition: mdevctl takes the last value, and so
 * does import, but it is almost always a mistake (an edit that added a key
 * rather than changing it): say where both are.
 */
static void warn_dups(struct import *im, const struct cursor *c, const char *uuid, const struct jdups *dups)
{
	for (size_t i = 0; i < dups->n; i++) {
		const struct jdup *d = &dups->items[i];
		struct mark m = cursor_mark(c, d->pos), first = cursor_mark(c, d->first_pos);
		_cleanup_free_ char *lit = NULL;
		size_t len = 0, n = strlen(d->key);
		FILE *f = open_memstream(&lit, &len);

		/* as a JSON string (one line), at most 64 bytes of it */
		if (f && n > 64) {
			_cleanup_free_ char *cut = NULL;

			for (n = 64; n > 0 && ((unsigned char)d->key[n] & 0xc0) == 0x80; n--)
				;
			cut = xasprintf("%.*s...", (int)n, d->key);
			json_string(f, cut);
		} else if (f)
			json_string(f, d->key);
		if (f)
			fclose(f);
		diag_add(im->diags, DIAG_WARNING, &m, NULL,
			 "mdev %s: duplicate key %s (first at %u:%u): mdevctl takes the last one, and so does "
			 "apmatrix",
			 uuid, lit ? lit : "?", first.line, first.col);
	}
}

/*
 * Two files that name one UUID (in two of the forms mdevctl reads, say in
 * upper and lower case): mdevctl lists both, starts the first it reads, and
 * the other's start fails.  An error, one per pair, naming both files;
 * import_mdevctl_defs() gives it too, so check and the others warn the same.
 */
static void mdevctl_same_uuid(struct import *im)
{
	for (size_t i = 0; i < im->n; i++)
		for (size_t j = i + 1; j < im->n; j++) {
			const struct iguest *a = &im->g[i], *b = &im->g[j];
			bool ab;

			if (a->carried || b->carried || !streq(a->uuid, b->uuid))
				continue;
			ab = strcmp(a->file, b->file) < 0;
			diag_add(im->diags, DIAG_ERROR, NULL, NULL,
				 "%s and %s both define mdev %s: mdevctl starts the first it reads, and the "
				 "other's start fails (the mdev exists); undefine or remove one of them",
				 ab ? a->file : b->file, ab ? b->file : a->file, a->uuid);
			im->errors = true;
		}
}

static void from_mdevctl(struct import *im)
{
	const char *dir = im->o->mdevctl_dir ? im->o->mdevctl_dir : IMPORT_MDEVCTL_DIR;
	char **names;
	size_t n;
	bool unloadable = false;
	int r;

	r = list_dir(dir, "", &names, &n);
	if (r == -ENOENT) {
		diag_add(im->diags, DIAG_WARNING, NULL, NULL, "%s does not exist: no mdevctl definitions", dir);
		return;
	}
	if (r < 0) {
		diag_add(im->diags, DIAG_ERROR, NULL, NULL, "cannot read %s: %s", dir, strerror(-r));
		im->errors = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]), *text = NULL;
		_cleanup_free_ struct mark *steps = NULL;
		struct cursor c = { 0 };
		struct jval root = { 0 };
		struct jdups dups = { 0 };
		struct mark em = { 0 };
		const char *err = NULL;
		const struct jval *type, *attrs, *start;
		char uuid[37];
		enum diag_severity sev;
		bool vfio_ap, loads, bad_attrs;
		struct iguest *g;
		size_t bad;
		int base;

		if (!uuid_canonicalize_any(names[i], uuid)) {
			diag_add_file(im->diags, DIAG_WARNING, path, NULL,
				      "not named by a UUID, not an mdevctl definition; skipped");
			continue;
		}
		r = read_file(path, &text, &c.len);
		if (r < 0) {
			diag_add(im->diags, DIAG_ERROR, NULL, NULL, "cannot read %s: %s", path, strerror(-r));
			im->errors = true;
			continue;
		}
		c.text = text;
		c.file = diag_intern_file(im->diags, path);
		steps = cursor_index(&c);
		bad = utf8_invalid_at(text, c.len);
		if (bad != SIZE_MAX) {
			struct mark mk = cursor_mark(&c, bad);

			diag_add(im->diags, DIAG_ERROR, &mk, NULL,
				 "mdev %s: invalid UTF-8 at byte 0x%02X; mdevctl reads a definition as UTF-8 text and "
				 "cannot load this one", uuid, (unsigned char)text[bad]);
			im->errors = true;
			unloadable = true;
			continue;
		}
		r = json_parse(c, &root, &dups, &em, &err);
		warn_dups(im, &c, uuid, &dups);
		jdups_done(&dups);
		if (r < 0) {
			diag_add(im->diags, DIAG_ERROR, &em, NULL, "mdev %s: %s", uuid, err);
			im->errors = true;
			unloadable = true;
			continue;
		}
		/* mdevctl's MDev::load_from_json(): "mdev_type" and "start" must not be missing or null */
		type = jget(&root, "mdev_type");
		attrs = jget(&root, "attrs");
		start = jget(&root, "start");
		if (attrs && attrs->type == J_NULL)
			attrs = NULL; /* mdevctl: no attrs */
		if (!type || type->type != J_STRING) {
			struct mark mk = cursor_mark(&c, root.pos);
			diag_add(im->diags, DIAG_ERROR, &mk, NULL, "mdev %s: no \"mdev_type\" string; %s", uuid,
				 MDEVCTL_CANNOT_LOAD);
			im->errors = true;
			unloadable = true;
			jval_done(&root);
			continue;
		}
		/*
		 * What mdevctl cannot load stops its start of every definition
		 * here, whatever the type: said for another type too (a warning,
		 * as that definition is not imported), with the note below.
		 */
		vfio_ap = jstr_is(type->str, type->len, SYSFS_TYPE_MAINLINE) ||
			  jstr_is(type->str, type->len, SYSFS_TYPE_RFC2017);
		sev = vfio_ap ? DIAG_ERROR : DIAG_WARNING;
		loads = bad_attrs = false;
		if (!start || start->type == J_NULL) {
			struct mark mk = cursor_mark(&c, start ? start->pos : root.pos);
			diag_add(im->diags, sev, &mk, NULL, "mdev %s: no \"start\" (\"auto\" or \"manual\"); %s", uuid,
				 MDEVCTL_CANNOT_LOAD);
		} else if (attrs && attrs->type != J_ARRAY) {
			struct mark mk = cursor_mark(&c, attrs->pos);
			diag_add(im->diags, sev, &mk, NULL, "mdev %s: \"attrs\" is not an array; %s", uuid,
				 MDEVCTL_CANNOT_LOAD);
		} else if (attrs && !attrs_loadable(im, &c, attrs, uuid, sev))
			bad_attrs = true;
		else
			loads = true;
		if (!loads) {
			unloadable = true;
			im->errors |= vfio_ap;
		}
		if (!vfio_ap) {
			_cleanup_free_ char *shown = jstr_show(type->str, type->len);

			diag_add(im->diags, DIAG_WARNING, NULL, NULL, "%s: mdev type '%s' is not vfio_ap; skipped", path,
				 shown);
		} else if (loads || bad_attrs) {
			base = jstr_is(type->str, type->len, SYSFS_TYPE_RFC2017) ? 16 : 0;
			g = add_guest(im, uuid);
			g->file = xstrdup(path);
			/* mdevctl (1.2.0) starts at boot for "auto" alone, and lists anything else as manual */
			g->autostart = start->type == J_STRING && jstr_is(start->str, start->len, "auto");
			g->source = xasprintf("%s (start: %s)", path, g->autostart ? "auto" : "manual");
			if (bad_attrs || (attrs && replay_attrs(im, &c, attrs, base, g) < 0)) {
				im->errors = true;
				g->broken = true;
			}
		}
		jval_done(&root);
	}
	mdevctl_same_uuid(im);
	/*
	 * mdevctl 1.2.0 reads every definition of the parent before it starts
	 * any (defined_devices() in src/main.rs, with "?" on each load), so
	 * one it cannot load stops them all.
	 */
	if (unloadable)
		diag_add(im->diags, DIAG_NOTE, NULL, NULL,
			 "while mdevctl cannot load a definition in %s, \"mdevctl list --defined\" fails and mdevctl "
			 "starts none of the definitions there at boot (start-parent-mdevs); \"mdevctl start -u\" "
			 "still starts each of the others",
			 dir);
	strv_free(names);
}

/*
 * The live mdevs apmatrix created that no definition has (by UUID): apply
 * removes an mdev apmatrix created once no guest declares it, so a file of
 * the definitions alone would take them from their guests.  They go into the
 * file as --from live writes them, named after their libvirt domain or the
 * guest apmatrix recorded; mdevctl_conflicts() then refuses a definition
 * that assigns one of their queues, and mdevctl_carried() notes each.
 */
static void carry_owned(struct import *im)
{
	size_t n_defs = im->n;

	for (size_t i = 0; i < im->l->n_mdevs; i++) {
		const struct live_mdev *m = &im->l->mdevs[i];
		bool defined = false;
		struct iguest *g;

		if (!m->owned)
			continue;
		for (size_t k = 0; k < n_defs && !defined; k++)
			defined = strcasecmp(im->g[k].uuid, m->uuid) == 0;
		if (defined)
			continue;
		g = add_guest(im, m->uuid);
		g->m = m->matrix;
		g->owner = m->owner_guest;
		g->carried = true;
		g->source = m->owner_guest
				    ? xasprintf("the live mdev apmatrix created for guest '%s' (no mdevctl definition)",
						m->owner_guest)
				    : xstrdup("the live mdev apmatrix created (no mdevctl definition)");
	}
}

static int cmp_guest_uuid(const void *a, const void *b)
{
	return strcmp(((const struct iguest *)a)->uuid, ((const struct iguest *)b)->uuid);
}

static void read_libvirt(struct import *im)
{
	const char *dir = im->o->libvirt_dir ? im->o->libvirt_dir : IMPORT_LIBVIRT_DIR;
	char **names;
	size_t n;
	int r;

	r = list_dir(dir, ".xml", &names, &n);
	if (r < 0) {
		if (r != -ENOENT)
			diag_add(im->diags, DIAG_WARNING, NULL, NULL, "cannot read %s: %s; guests are named by UUID", dir,
				 strerror(-r));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]), *text = NULL;
		struct cursor c = { 0 };
		struct xml_domain d = { 0 };
		struct mark em;
		const char *err;

		r = read_file(path, &text, &c.len);
		if (r < 0) {
			diag_add(im->diags, DIAG_WARNING, NULL, NULL, "cannot read %s: %s; skipped", path, strerror(-r));
			continue;
		}
		c.text = text;
		c.file = diag_intern_file(im->diags, path);
		r = xml_scan(c, &d, &em, &err);
		if (r < 0 || !d.name) {
			if (r < 0)
				diag_add(im->diags, DIAG_WARNING, &em, NULL, "%s; skipped", err);
			else
				diag_add(im->diags, DIAG_WARNING, NULL, NULL, "%s: no domain <name>; skipped", path);
			free(d.name);
			free(d.uuids);
			continue;
		}
		d.file = TAKE_PTR(path);
		if (d.n_uuids > 1)
			diag_add(im->diags, DIAG_WARNING, NULL, d.name,
				 "%s: libvirt domain '%s' has %zu mdev hostdevs; QEMU allows one vfio-ap device per guest",
				 d.file, d.name, d.n_uuids);
		im->doms = xgrow(im->doms, &im->cap_doms, im->n_doms + 1, sizeof(*im->doms));
		im->doms[im->n_doms++] = d;
	}
	strv_free(names);
}

/* The libvirt domain that uses g's mdev (the first, with a warning, when several do). */
static const struct xml_domain *domain_of(struct import *im, const struct iguest *g)
{
	const struct xml_domain *dom = NULL;

	for (size_t k = 0; k < im->n_doms; k++)
		for (size_t u = 0; u < im->doms[k].n_uuids; u++)
			if (streq(im->doms[k].uuids[u], g->uuid)) {
				if (!dom)
					dom = &im->doms[k];
				else
					diag_add(im->diags, DIAG_WARNING, NULL, NULL,
						 "mdev %s is used by libvirt domains '%s' (%s) and '%s' (%s); "
						 "named after the first",
						 g->uuid, dom->name, dom->file, im->doms[k].name, im->doms[k].file);
			}
	return dom;
}

static const struct iguest *guest_named(const struct import *im, const char *name)
{
	for (size_t i = 0; i < im->n; i++)
		if (im->g[i].name && streq(im->g[i].name, name))
			return &im->g[i];
	return NULL;
}

/* "NAME-UUID8" for a second mdev that would have NAME: a valid guest name (64 characters at most) */
static char *fallback_name(const char *name, const char *uuid)
{
	return xasprintf("%.55s-%.8s", name, uuid);
}

/*
 * Name the guests: first after the libvirt domain that uses the mdev (the
 * name the guest really runs under), then, for the mdevs no domain names,
 * after the guest apmatrix recorded when it created the mdev, else by UUID.
 * A recorded name that a libvirt domain now gives another mdev goes to that
 * mdev; this one is named apart, with a warning.
 */
static void name_guests(struct import *im)
{
	const struct xml_domain **doms = im->n ? xcalloc(im->n, sizeof(*doms)) : NULL;

	for (size_t i = 0; i < im->n; i++) {
		struct iguest *g = &im->g[i];
		const struct iguest *other;
		const struct xml_domain *dom;

		if (g->skip) {
			g->name = xstrdup(g->uuid);
			continue;
		}
		dom = doms[i] = domain_of(im, g);
		if (!dom || !guest_name_valid(dom->name))
			continue;
		other = guest_named(im, dom->name);
		if (!other) {
			g->name = xstrdup(dom->name);
			g->comment = xasprintf("libvirt domain in %s", dom->file);
			continue;
		}
		_cleanup_free_ char *alt = fallback_name(dom->name, g->uuid);
		if (guest_named(im, alt))
			continue;
		g->name = TAKE_PTR(alt);
		if (doms[other - im->g] == dom)
			g->comment = xasprintf("the second mdev of libvirt domain '%s' (%s): QEMU allows one "
					       "vfio-ap device per guest",
					       dom->name, dom->file);
		else {
			g->comment = xasprintf("libvirt domain '%s' in %s; the libvirt domain in %s has that name too",
					       dom->name, dom->file, doms[other - im->g]->file);
			diag_add(im->diags, DIAG_WARNING, NULL, NULL,
				 "libvirt domains in %s and %s are both named '%s': mdev %s is named '%s', mdev %s '%s'",
				 doms[other - im->g]->file, dom->file, dom->name, other->uuid, other->name, g->uuid,
				 g->name);
		}
	}
	for (size_t i = 0; i < im->n; i++) {
		struct iguest *g = &im->g[i];
		const struct xml_domain *dom = doms[i];
		const struct iguest *other;

		if (g->name)
			continue;
		if (dom && guest_name_valid(dom->name)) {
			/* its name and the name with the UUID both taken */
			g->name = xstrdup(g->uuid);
			g->comment = xasprintf("named by its UUID: the name of libvirt domain '%s' (%s) is taken",
					       dom->name, dom->file);
			diag_add(im->diags, DIAG_WARNING, NULL, NULL,
				 "libvirt domain '%s' (%s): its name is taken by another mdev; mdev %s is named by its UUID",
				 dom->name, dom->file, g->uuid);
			continue;
		}
		if (dom)
			diag_add(im->diags, DIAG_WARNING, NULL, NULL,
				 "libvirt domain '%s' (%s) is not a valid guest name ([A-Za-z0-9_.-], 1-64); mdev %s is "
				 "named by its UUID",
				 dom->name, dom->file, g->uuid);
		if (g->owner && guest_name_valid(g->owner)) {
			other = guest_named(im, g->owner);
			if (!other) {
				g->name = xstrdup(g->owner);
				g->comment = xstrdup("the name apmatrix recorded when it created the mdev");
				continue;
			}
			_cleanup_free_ char *alt = fallback_name(g->owner, g->uuid);
			if (!dom && !guest_named(im, alt)) {
				const struct xml_domain *od = doms[other - im->g];

				g->name = TAKE_PTR(alt);
				g->comment = xasprintf("apmatrix recorded the name '%s' when it created the mdev; %s", g->owner,
						       od ? "a libvirt domain of that name uses another mdev"
							  : "another mdev has that name");
				if (od)
					diag_add(im->diags, DIAG_WARNING, NULL, NULL,
						 "mdev %s: apmatrix recorded the name '%s' when it created it, but libvirt "
						 "domain '%s' (%s) uses mdev %s: that one is named '%s', this one '%s'",
						 g->uuid, g->owner, od->name, od->file, other->uuid, other->name, g->name);
				else
					diag_add(im->diags, DIAG_WARNING, NULL, NULL,
						 "mdev %s: apmatrix recorded the name '%s' when it created it, as for mdev "
						 "%s (named '%s'): this one is named '%s'",
						 g->uuid, g->owner, other->uuid, other->name, g->name);
				continue;
			}
			if (!dom) {
				/* the recorded name and NAME-UUID8 both taken */
				const struct iguest *alt_holder = guest_named(im, alt);

				g->name = xstrdup(g->uuid);
				g->comment = xasprintf("named by its UUID: apmatrix recorded the name '%s' when it created the "
						       "mdev; that name and '%s' are taken",
						       g->owner, alt);
				diag_add(im->diags, DIAG_WARNING, NULL, NULL,
					 "mdev %s: apmatrix recorded the name '%s' when it created it, but mdev %s is named "
					 "'%s' and mdev %s '%s': this one is named by its UUID",
					 g->uuid, g->owner, other->uuid, other->name, alt_holder->uuid, alt);
				continue;
			}
		}
		g->name = xstrdup(g->uuid);
		g->comment = xstrdup(dom ? "named by its UUID: the libvirt domain name is not a valid guest name"
					 : "no libvirt domain uses this mdev");
	}
	free(doms);
}

/* ---- YAML ---------------------------------------------------------------- */

static void put_numbers(FILE *f, const struct bitmap256 *b)
{
	bool first = true;

	fputc('[', f);
	for (int n = bitmap_next(b, 0); n >= 0;) {
		int e = n;

		while (e < 255 && bitmap_test(b, (unsigned)e + 1))
			e++;
		fputs(first ? "" : ", ", f);
		first = false;
		if (e - n >= 2) {
			fprintf(f, "\"0x%02x-0x%02x\"", n, e);
			n = bitmap_next(b, e + 1);
		} else {
			fprintf(f, "0x%02x", n);
			n = bitmap_next(b, n + 1);
		}
	}
	fputc(']', f);
}

/* A mapping key: plain when YAML cannot read it as anything but a string. */
static void put_key(FILE *f, const char *name)
{
	static const char *const words[] = { "y", "n", "yes", "no", "true", "false", "on", "off", "null" };
	bool plain = isalpha((unsigned char)name[0]) || name[0] == '_';

	for (size_t i = 0; i < ARRAY_SIZE(words) && plain; i++)
		if (strcasecmp(name, words[i]) == 0)
			plain = false;
	if (plain)
		fputs(name, f);
	else
		fprintf(f, "'%s'", name); /* valid names hold no quote */
}

static void put_guest(FILE *f, const struct iguest *g, const char *indent)
{
	struct bitmap256 extra;
	bool uac = true;

	fprintf(f, "%s", indent);
	put_key(f, g->name);
	fprintf(f, ":%s%s\n", g->comment ? "  # " : "", g->comment ? g->comment : "");
	if (g->source)
		fprintf(f, "%s  # from %s\n", indent, g->source);
	fprintf(f, "%s  uuid: %s\n%s  adapters: ", indent, g->uuid, indent);
	put_numbers(f, &g->m.adapters);
	fprintf(f, "\n%s  domains: ", indent);
	put_numbers(f, &g->m.domains);
	fputc('\n', f);
	/*
	 * Usage domains are control domains by default (DESIGN §2): say so only
	 * when the mdev has them all; otherwise turn the default off, so that
	 * the control domains are exactly what the mdev has.
	 */
	extra = bitmap_andnot(&g->m.domains, &g->m.control_domains);
	if (!bitmap_empty(&extra)) {
		uac = false;
		fprintf(f, "%s  usage-as-control: false   # the mdev lacks some usage domains as control domains\n",
			indent);
	}
	extra = uac ? bitmap_andnot(&g->m.control_domains, &g->m.domains) : g->m.control_domains;
	if (!bitmap_empty(&extra)) {
		fprintf(f, "%s  control-domains: ", indent);
		put_numbers(f, &extra);
		fputc('\n', f);
	}
}

/*
 * host.keep from what host drivers hold now.  With masks (mainline) that
 * is exactly apmask x aqmask over the queues that exist, a cross product by
 * construction; without (rfc2017, per-queue binding) only when the host's
 * queues happen to form one.
 *
 * The imported guests may claim queues that host drivers hold now (an
 * mdevctl definition that is not started: the masks still give its queues
 * to the host).  apply takes those from the host, so keep must leave them
 * out, or check rejects the file.  keep is adapters x domains: for each such
 * guest it loses either the guest's adapters or its domains.  keep_trim()
 * finds the keep that holds the most queues host drivers hold now (with very
 * many guests on very many adapters and domains, a good one).  With
 * masks that is also what the host holds after apply, since a mask bit
 * frees a whole adapter or a whole domain.
 */
#define KEEP_TRIM_ALL_COMBINATIONS 12

/* hd[a]: the domains of adapter a that host drivers hold. */
static unsigned keep_count(const struct bitmap256 *hd, const struct apqn_matrix *k)
{
	unsigned n = 0;

	BITMAP_FOREACH(a, &k->adapters) {
		struct bitmap256 x = bitmap_and(&hd[a], &k->domains);

		n += bitmap_count(&x);
	}
	return n;
}

/* The better of two: more queues; on a tie more adapters (the guests' domains left out). */
static void keep_consider(struct apqn_matrix *best, unsigned *best_n, const struct apqn_matrix *k,
			  const struct bitmap256 *hd)
{
	unsigned n = keep_count(hd, k);

	if (n > *best_n ||
	    (n == *best_n && n > 0 && bitmap_count(&k->adapters) > bitmap_count(&best->adapters))) {
		*best = *k;
		*best_n = n;
	}
}

/* Guest g takes its domains (or adapters) out of k, unless another guest's choice already did. */
static void keep_take_out(struct apqn_matrix *k, const struct apqn_matrix *g, bool domains_out)
{
	if (!matrix_overlap(g, k))
		return;
	if (domains_out)
		k->domains = bitmap_andnot(&k->domains, &g->domains);
	else
		k->adapters = bitmap_andnot(&k->adapters, &g->adapters);
}

/*
 * keep without the domains (dim_domains) or adapters in out, and then
 * without the other dimension of every guest still in it: the most a keep
 * without out can hold.
 */
static struct apqn_matrix keep_without(const struct apqn_matrix *keep, const struct bitmap256 *out,
				       bool dim_domains, const struct apqn_matrix *const *ov, size_t n_ov)
{
	struct apqn_matrix k = *keep;
	struct bitmap256 *mine = dim_domains ? &k.domains : &k.adapters;

	*mine = bitmap_andnot(mine, out);
	for (size_t i = 0; i < n_ov; i++)
		keep_take_out(&k, ov[i], !dim_domains);
	return k;
}

/*
 * A valid keep is (adapters x domains) less, per guest, its adapters or its
 * domains.  The best one is found by trying every set of the guests'
 * adapters (or domains, whichever are fewer) to leave out, the other
 * dimension then following; or else every choice per guest; or, with many
 * of both, guest by guest, and the two choices for all guests alike.
 */
static void keep_trim(struct apqn_matrix *keep, const struct bitmap256 *hd, const struct apqn_matrix *const *ov,
		      size_t n_ov)
{
	struct bitmap256 ua = { { 0 } }, ud = { { 0 } }, *u;
	struct apqn_matrix best = { 0 }, k;
	unsigned best_n = 0, m;
	int nums[KEEP_TRIM_ALL_COMBINATIONS];
	bool dim_domains;

	if (n_ov == 0)
		return;
	for (size_t i = 0; i < n_ov; i++) {
		struct bitmap256 a = bitmap_and(&ov[i]->adapters, &keep->adapters),
				 d = bitmap_and(&ov[i]->domains, &keep->domains);

		ua = bitmap_or(&ua, &a);
		ud = bitmap_or(&ud, &d);
	}
	dim_domains = bitmap_count(&ud) < bitmap_count(&ua);
	u = dim_domains ? &ud : &ua;
	m = bitmap_count(u);
	if (m <= KEEP_TRIM_ALL_COMBINATIONS) {
		unsigned j = 0;

		BITMAP_FOREACH(x, u)
		nums[j++] = x;
		for (uint32_t c = 0; c < (1u << m); c++) {
			struct bitmap256 out = { { 0 } };

			for (unsigned i = 0; i < m; i++)
				if ((c >> i) & 1)
					bitmap_set(&out, (unsigned)nums[i]);
			k = keep_without(keep, &out, dim_domains, ov, n_ov);
			keep_consider(&best, &best_n, &k, hd);
		}
	} else if (n_ov <= KEEP_TRIM_ALL_COMBINATIONS) {
		for (uint32_t c = 0; c < (1u << n_ov); c++) {
			k = *keep;
			for (size_t i = 0; i < n_ov; i++)
				keep_take_out(&k, ov[i], (c >> i) & 1);
			keep_consider(&best, &best_n, &k, hd);
		}
	} else {
		k = *keep;
		for (size_t i = 0; i < n_ov; i++) {
			struct apqn_matrix d = k, a = k;

			keep_take_out(&d, ov[i], true);
			keep_take_out(&a, ov[i], false);
			k = keep_count(hd, &d) >= keep_count(hd, &a) ? d : a;
		}
		keep_consider(&best, &best_n, &k, hd);
		for (int all_domains = 0; all_domains < 2; all_domains++) {
			k = *keep;
			for (size_t i = 0; i < n_ov; i++)
				keep_take_out(&k, ov[i], all_domains);
			keep_consider(&best, &best_n, &k, hd);
		}
	}
	*keep = best;
}

/*
 * The queues host drivers hold (hd) that a guest claims (claimed) or else that
 * neither keep nor a guest has: up to 8 as "05.0004 06.0047 ...", and how many.
 */
static char *keep_list(const struct import *im, const struct bitmap256 *hd, const struct apqn_matrix *keep,
		       bool claimed, unsigned *ret_n)
{
	char *s = NULL, buf[APQN_STR_LEN];
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	unsigned n = 0;

	if (!f)
		abort(); /* out of memory */
	for (unsigned a = 0; a < 256; a++)
		BITMAP_FOREACH(d, &hd[a]) {
			bool guest = false;

			for (size_t i = 0; i < im->n && !guest; i++)
				guest = !im->g[i].skip && matrix_has_apqn(&im->g[i].m, a, (unsigned)d);
			if (claimed ? !guest : guest || matrix_has_apqn(keep, a, (unsigned)d))
				continue;
			if (n < 8)
				fprintf(f, "%s%s", n ? " " : "", apqn_format(buf, a, (unsigned)d));
			else if (n == 8)
				fputs(" ...", f);
			n++;
		}
	if (fclose(f) != 0)
		abort();
	*ret_n = n;
	return s;
}

static void put_keep(FILE *f, const struct import *im)
{
	const struct live *l = im->l;
	struct bitmap256 hd[256] = { { { 0 } } };
	struct apqn_matrix keep = { 0 };
	bool masks = (l->features & FEATURE_MASKS) && l->profile != PROFILE_RFC2017;
	size_t n_host = 0, n_cross = 0, n_ov = 0;
	unsigned n_keep;
	_cleanup_free_ const struct apqn_matrix **ov = NULL;
	_cleanup_free_ char *claimed = NULL, *lost = NULL;

	for (size_t i = 0; i < l->n_queues; i++) {
		const struct live_queue *q = &l->queues[i];
		bool host = masks ? bitmap_test(&l->apmask, q->adapter) && bitmap_test(&l->aqmask, q->domain)
				  : q->kind == QUEUE_DRIVER_HOST;
		if (!host)
			continue;
		bitmap_set(&keep.adapters, q->adapter);
		bitmap_set(&keep.domains, q->domain);
		bitmap_set(&hd[q->adapter], q->domain);
		n_host++;
	}
	if (n_host == 0) {
		fputs("# host.keep: host drivers hold no queue now, so there is nothing to keep\n", f);
		return;
	}
	if (!masks) {
		for (size_t i = 0; i < l->n_queues; i++)
			if (matrix_has_apqn(&keep, l->queues[i].adapter, l->queues[i].domain))
				n_cross++;
		if (n_cross != n_host) {
			_cleanup_free_ char *a = bitmap_format_ranges(&keep.adapters, 2),
					    *d = bitmap_format_ranges(&keep.domains, 2);
			fprintf(f,
				"# host.keep is not written: the %zu queues host drivers hold (adapters %s, domains %s)\n"
				"# are not all the queues of some adapters x domains, and host.keep can only say that.\n",
				n_host, a, d);
			return;
		}
	}
	ov = xcalloc(im->n ? im->n : 1, sizeof(*ov));
	for (size_t i = 0; i < im->n; i++)
		if (!im->g[i].skip && matrix_overlap(&im->g[i].m, &keep))
			ov[n_ov++] = &im->g[i].m;
	keep_trim(&keep, hd, ov, n_ov);
	n_keep = keep_count(hd, &keep);
	if (n_ov > 0) {
		unsigned n_claimed, n_lost;

		claimed = keep_list(im, hd, &keep, true, &n_claimed);
		lost = keep_list(im, hd, &keep, false, &n_lost);
		if (n_claimed > 0)
			fprintf(f,
				"# host.keep leaves out the %u queue%s host drivers hold now that the imported guests\n"
				"# claim (apply takes %s from the host, and a guest may not claim a kept queue):\n#   %s\n",
				n_claimed, n_claimed == 1 ? "" : "s", n_claimed == 1 ? "it" : "them", claimed);
		else
			fputs("# host.keep leaves out the imported guests' adapters or domains: a guest may not claim\n"
			      "# a kept queue.\n",
			      f);
		if (n_lost > 0)
			fprintf(f,
				"# It also leaves out %u queue%s no guest claims, as host.keep is adapters x domains%s:\n"
				"#   %s\n",
				n_lost, n_lost == 1 ? "" : "s",
				masks ? "\n# and the masks take a guest's queues from the host by whole adapters or domains"
				      : "\n# (apply leaves them with the host drivers)",
				lost);
	}
	if (n_keep == 0) {
		fputs("# host.keep is not written: no adapters x domains of the queues host drivers hold\n"
		      "# is free of the guests' queues.\n",
		      f);
		return;
	}
	/* a snapshot that reads like a wish: say what it will refuse, and how to undo it */
	fputs("# host.keep reserves its queues for the host: a guest added later on one of them\n"
	      "# fails check (\"kept by the host\"). To give one to a guest, take its adapter or\n"
	      "# domain out of host.keep, or remove host.keep.\n",
	      f);
	if (n_ov > 0)
		fprintf(f, "host:\n  keep:  # %u of the %zu queues host drivers hold now (%s)\n    adapters: ", n_keep,
			n_host, masks ? "apmask x aqmask" : "bound to host drivers");
	else
		fprintf(f, "host:\n  keep:  # the %zu queue%s host drivers hold now (%s)\n    adapters: ", n_host,
			n_host == 1 ? "" : "s", masks ? "apmask x aqmask" : "bound to host drivers");
	put_numbers(f, &keep.adapters);
	fputs("\n    domains: ", f);
	put_numbers(f, &keep.domains);
	fputc('\n', f);
}

/* Bytewise by name (strcmp), then by place in im->g: stable, though names are unique. */
static int cmp_guest_name(const void *a, const void *b)
{
	const struct iguest *x = *(const struct iguest *const *)a, *y = *(const struct iguest *const *)b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x > y) - (x < y);
}

static char *write_yaml(const struct import *im)
{
	char *out = NULL;
	size_t len = 0, n_written = 0;
	_cleanup_free_ const struct iguest **order = NULL;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	fprintf(f, "# apmatrix configuration written by `apmatrix import --from %s`", import_source_to_string(im->o->from));
	if (im->l) {
		fputs(" on a host with the ", f);
		live_print_interface(f, im->l);
	}
	fputs(".\n# Check it with `apmatrix -c FILE check`; `apmatrix -c FILE diff` then shows what apply\n"
	      "# would change (nothing, when the host is as imported).\nversion: 1\n",
	      f);
	if (im->l)
		put_keep(f, im);
	else
		fputs("# host.keep is not written: the host was not read\n", f);
	for (size_t i = 0; i < im->n; i++)
		n_written += !im->g[i].skip;
	fprintf(f, "guests:%s\n", n_written ? "" : " {}");
	for (size_t i = 0; i < im->n; i++)
		if (im->g[i].skip)
			fprintf(f, "  # not imported: mdev %s %s\n", im->g[i].uuid, im->g[i].skip_reason);
	/* by name, as an administrator looks a guest up (named in UUID order, so the names stay the same) */
	order = n_written ? xcalloc(n_written, sizeof(*order)) : NULL;
	for (size_t i = 0, k = 0; i < im->n; i++)
		if (!im->g[i].skip)
			order[k++] = &im->g[i];
	if (n_written)
		qsort(order, n_written, sizeof(*order), cmp_guest_name);
	for (size_t k = 0; k < n_written; k++)
		put_guest(f, order[k], "  ");
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int import_mdevctl_defs(const char *dir, struct mdevctl_def **ret, size_t *ret_n, struct diag_list *diags)
{
	struct import_opts o = { .from = IMPORT_FROM_MDEVCTL, .mdevctl_dir = dir };
	struct import im = { .o = &o, .diags = diags };
	struct mdevctl_def *defs;

	size_t n = 0;

	from_mdevctl(&im);
	defs = im.n ? xcalloc(im.n, sizeof(*defs)) : NULL;
	for (size_t i = 0; i < im.n; i++) {
		struct iguest *g = &im.g[i];

		/* mdevctl never has its mdev: it cannot load it, or its start fails and removes the mdev */
		if (!g->broken) {
			memcpy(defs[n].uuid, g->uuid, sizeof(defs[n].uuid));
			defs[n].matrix = g->m;
			defs[n].written = g->written;
			defs[n].autostart = g->autostart;
			defs[n].ap_config = g->ap_config;
			defs[n].path = g->file; /* the name the directory has: not always the UUID apmatrix writes */
			g->file = NULL;
			n++;
		}
		free(g->source);
		free(g->file);
	}
	free(im.g);
	*ret = defs;
	*ret_n = n;
	return im.errors ? -EINVAL : 0;
}

void mdevctl_defs_free(struct mdevctl_def *defs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(defs[i].path);
	free(defs);
}

/* The APQNs two definitions both assign, at most this many named (then how many more). */
#define MAX_CONFLICT_NAMED 8

/*
 * Two definitions that assign one queue, or a definition and an mdev
 * apmatrix created (carry_owned()): the kernel gives it to one mdev only,
 * and check refuses a configuration that gives it to two guests.  An
 * error, like a definition that cannot be read: nothing is written.  Two
 * files of one UUID are mdevctl_same_uuid()'s.
 */
static void mdevctl_conflicts(struct import *im)
{
	for (size_t i = 0; i < im->n; i++)
		for (size_t j = i + 1; j < im->n; j++) {
			const struct iguest *a = &im->g[i], *b = &im->g[j];
			_cleanup_free_ char *list = NULL, *more = NULL;
			unsigned n;

			if (!a->carried && !b->carried && streq(a->uuid, b->uuid))
				continue; /* mdevctl_same_uuid() has said it */
			if ((a->carried && b->carried) || !matrix_overlap(&a->m, &b->m))
				continue; /* two live mdevs: the kernel keeps them apart */
			list = matrix_format_overlap_n(&a->m, &b->m, MAX_CONFLICT_NAMED, &n);
			if (!list)
				abort(); /* out of memory */
			more = n > MAX_CONFLICT_NAMED ? xasprintf(" and %u more", n - MAX_CONFLICT_NAMED) : xstrdup("");
			if (a->carried || b->carried) {
				const struct iguest *def = a->carried ? b : a, *own = a->carried ? a : b;
				_cleanup_free_ char *who = own->owner ? xasprintf(" for guest '%s'", own->owner)
								      : xstrdup("");

				diag_add(im->diags, DIAG_ERROR, NULL, NULL,
					 "%s and mdev %s, which apmatrix created%s, both assign APQN%s %s%s: a queue "
					 "can be in one mdev only; undefine or edit the definition, or import --from live",
					 def->file, own->uuid, who, n > 1 ? "s" : "", list, more);
			} else
				diag_add(im->diags, DIAG_ERROR, NULL, NULL,
					 "%s and %s both assign APQN%s %s%s: a queue can be in one mdev only; undefine "
					 "or edit one of them",
					 a->file, b->file, n > 1 ? "s" : "", list, more);
			im->errors = true;
		}
}

/*
 * A definition that assigns a number beyond the host's maxima (the AP bus's
 * ap_max_adapter_id, ap_max_domain_id): the kernel refuses that write, so
 * mdevctl's start fails and removes the mdev; imported as it is (it may be
 * meant for another host), but check refuses such a guest and diff and
 * apply leave it out, so apply does not create its mdev either: said, each
 * dimension with its numbers and maximum, in place of mdevctl_not_started()'s
 * warning.
 */
static void mdevctl_beyond_host(struct import *im)
{
	if (!im->l || im->l->profile == PROFILE_NONE)
		return;
	for (size_t i = 0; i < im->n; i++) {
		struct iguest *g = &im->g[i];
		_cleanup_free_ char *out = NULL, *final = NULL;

		if (g->skip || g->carried)
			continue;
		out = matrix_format_beyond(&g->written, im->l->max_adapter, im->l->max_domain);
		if (!out)
			continue;
		/* unassigned again by a later attribute: what is imported is within the maxima */
		final = matrix_format_beyond(&g->m, im->l->max_adapter, im->l->max_domain);
		g->beyond = final != NULL;
		if (g->beyond)
			diag_add(im->diags, DIAG_WARNING, NULL, NULL,
				 "%s: mdev %s assigns %s: the kernel refuses it, so mdevctl's start of the definition "
				 "fails on this host, and check refuses the guest as imported (diff and apply leave it "
				 "out: no mdev is created); edit the definition, or import it on the host it is meant for",
				 g->file, g->uuid, out);
		else
			diag_add(im->diags, DIAG_WARNING, NULL, NULL,
				 "%s: mdev %s assigns %s, unassigned again by a later attribute: the kernel refuses the "
				 "assignment, so mdevctl's start of the definition fails on this host; the guest is "
				 "imported with the matrix the definition ends with, whose mdev apply creates; remove "
				 "those attributes from the definition",
				 g->file, g->uuid, out);
	}
}

/*
 * A definition that is not started (or not at boot, when the host was not
 * read) has no mdev: apply creates it, and diff says so.
 */
static void mdevctl_not_started(struct import *im)
{
	for (size_t i = 0; i < im->n; i++) {
		const struct iguest *g = &im->g[i];

		if (g->skip || g->carried || g->beyond)
			continue;
		if (im->l ? live_find_mdev(im->l, g->uuid) != NULL : g->autostart)
			continue;
		diag_add(im->diags, DIAG_WARNING, NULL, NULL,
			 "%s: %s, so apply will create the mdev; once apmatrix manages it, undefine the "
			 "definition (mdevctl undefine -u %s) so that mdevctl and apmatrix do not both manage it",
			 g->file, im->l ? "the definition is not started" : "mdevctl does not start it at boot",
			 g->uuid);
	}
}

static char *matrix_describe(const struct apqn_matrix *m);

/*
 * A definition whose mdev was changed after mdevctl started it (an assign
 * by hand): the definition is what is imported, so diff and apply would set
 * the mdev back to it.  Said, with both matrices, as live_defined() says it
 * the other way round.
 */
static void mdevctl_started_differs(struct import *im)
{
	for (size_t i = 0; im->l && i < im->n; i++) {
		const struct iguest *g = &im->g[i];
		const struct live_mdev *m;
		_cleanup_free_ char *live = NULL, *defined = NULL;

		if (g->skip || g->carried || !(m = live_find_mdev(im->l, g->uuid)) || matrix_equal(&m->matrix, &g->m))
			continue;
		live = matrix_describe(&m->matrix);
		defined = matrix_describe(&g->m);
		diag_add(im->diags, DIAG_WARNING, NULL, NULL,
			 "mdev %s: its definition %s gives it another matrix (%s) than it has live (%s): the "
			 "definition's is imported, so apply would set the mdev to it; import --from live "
			 "imports the live one",
			 g->uuid, g->file, defined, live);
	}
}

/* Say which guests come from the live host, not from a definition (carry_owned()). */
static void mdevctl_carried(struct import *im)
{
	for (size_t i = 0; i < im->n; i++) {
		const struct iguest *g = &im->g[i];
		_cleanup_free_ char *who = NULL;

		if (g->skip || !g->carried)
			continue;
		who = g->owner ? xasprintf(" (guest '%s')", g->owner) : xstrdup("");
		diag_add(im->diags, DIAG_NOTE, NULL, NULL,
			 "mdev %s%s was created by apmatrix and has no mdevctl definition: imported as it is now, "
			 "as --from live does, since apply with a file without it would remove the mdev",
			 g->uuid, who);
	}
}

static char *matrix_describe(const struct apqn_matrix *m)
{
	_cleanup_free_ char *a = bitmap_format_ranges(&m->adapters, 2), *d = bitmap_format_ranges(&m->domains, 2),
			    *c = bitmap_format_ranges(&m->control_domains, 2);

	return xasprintf("adapters %s, domains %s, control domains %s", a, d, c);
}

/* The definition files of one UUID named in a message, at most this many (then how many more). */
#define MAX_DEFS_NAMED 4

/*
 * --from live: a live mdev that also has an mdevctl definition (by UUID)
 * would be managed by both once the file is applied.  The live mdev is
 * what is imported; say so, naming every file that defines it (two may:
 * mdevctl reads several forms of a UUID), and for each whose definition
 * gives it another matrix, both.
 */
static void live_defined(struct import *im)
{
	const char *dir = im->o->mdevctl_dir ? im->o->mdevctl_dir : IMPORT_MDEVCTL_DIR;
	struct import_opts o = { .from = IMPORT_FROM_MDEVCTL, .mdevctl_dir = dir };
	struct import defs = { .o = &o, .diags = &(struct diag_list){} };
	char **names;
	size_t n_names;
	struct stat st;

	if (list_dir(dir, "", &names, &n_names) < 0)
		return;
	from_mdevctl(&defs);
	for (size_t i = 0; i < im->n; i++) {
		const struct iguest *g = &im->g[i];
		_cleanup_free_ char *list = NULL;
		char **paths = NULL;
		size_t n_paths = 0, cap_paths = 0, len = 0;
		FILE *f;

		if (g->skip)
			continue;
		/* the files as the directory names them: mdevctl reads other forms of the UUID too, and two may name one */
		for (size_t k = 0; k < n_names; k++) {
			char u[UUID_STR_LEN], *path;

			if (!uuid_canonicalize_any(names[k], u) || strcasecmp(u, g->uuid) != 0)
				continue;
			path = xasprintf("%s/%s", dir, names[k]);
			if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
				free(path);
				continue;
			}
			paths = xgrow(paths, &cap_paths, n_paths + 2, sizeof(*paths));
			paths[n_paths++] = path;
			paths[n_paths] = NULL;
		}
		if (!n_paths)
			continue;
		f = open_memstream(&list, &len);
		if (!f)
			abort(); /* out of memory */
		for (size_t k = 0; k < n_paths && k < MAX_DEFS_NAMED; k++)
			fprintf(f, "%s%s", k == 0 ? "" : k + 1 == n_paths ? " and " : ", ", paths[k]);
		if (n_paths > MAX_DEFS_NAMED)
			fprintf(f, " and %zu more", n_paths - MAX_DEFS_NAMED);
		if (fclose(f) != 0 || !list)
			abort(); /* out of memory */
		if (n_paths == 1)
			diag_add(im->diags, DIAG_WARNING, NULL, NULL,
				 "mdev %s also has an mdevctl definition, %s: imported as it is live, so apmatrix and "
				 "mdevctl would both manage it; undefine the definition (mdevctl undefine -u %s), or "
				 "import --from mdevctl instead",
				 g->uuid, list, g->uuid);
		else
			diag_add(im->diags, DIAG_WARNING, NULL, NULL,
				 "mdev %s also has %zu mdevctl definitions, %s: imported as it is live, so apmatrix and "
				 "mdevctl would both manage it; undefine the definitions (mdevctl undefine -u %s, and "
				 "remove the other files), or import --from mdevctl instead",
				 g->uuid, n_paths, list, g->uuid);
		/* each file's own definition: from_mdevctl() names it as the directory does */
		for (size_t p = 0; p < n_paths; p++) {
			const struct iguest *def = NULL;

			for (size_t k = 0; k < defs.n && !def; k++)
				if (defs.g[k].file && streq(defs.g[k].file, paths[p]))
					def = &defs.g[k];
			if (!def || def->broken)
				diag_add(im->diags, DIAG_WARNING, NULL, NULL,
					 "mdev %s: mdevctl cannot load or start its definition %s (import --from mdevctl "
					 "says why); the live mdev is imported",
					 g->uuid, paths[p]);
			else if (!matrix_equal(&def->m, &g->m)) {
				_cleanup_free_ char *live = matrix_describe(&g->m), *defined = matrix_describe(&def->m);

				diag_add(im->diags, DIAG_WARNING, NULL, NULL,
					 "mdev %s: its definition %s gives it another matrix (%s) than it has live (%s): "
					 "the live one is imported%s",
					 g->uuid, paths[p], defined, live,
					 def->autostart && !(bitmap_equal(&def->m.adapters, &g->m.adapters) &&
							     bitmap_equal(&def->m.domains, &g->m.domains))
						 /* control domains alone: check warns (hostcheck.c, check_mdevctl_own()) */
						 ? "; check refuses the guest while the definition has start: auto"
						 : "");
			}
		}
		strv_free(paths);
	}
	for (size_t i = 0; i < defs.n; i++) {
		free(defs.g[i].source);
		free(defs.g[i].file);
	}
	free(defs.g);
	diag_list_done(defs.diags);
	strv_free(names);
}

int import_config(const struct live *l, const struct import_opts *o, char **ret, struct diag_list *diags)
{
	struct import im = { .l = l, .o = o, .diags = diags };
	int r = 0;

	*ret = NULL;
	if (o->from == IMPORT_FROM_LIVE) {
		if (!l)
			return -EINVAL;
		from_live(&im);
	} else {
		from_mdevctl(&im);
		if (l && !im.errors)
			carry_owned(&im);
	}
	if (im.n)
		qsort(im.g, im.n, sizeof(*im.g), cmp_guest_uuid);
	for (size_t i = 0; i < im.n; i++) {
		struct iguest *g = &im.g[i];

		if (!im.errors && (bitmap_empty(&g->m.adapters) || bitmap_empty(&g->m.domains))) {
			g->skip = true;
			if (g->owner) {
				/* apmatrix's own: no guest declares it then, and apply removes it */
				g->skip_reason = xasprintf("has no adapters or no usage domains, which a guest cannot "
							   "declare; apmatrix created it (guest '%s'): apply removes it",
							   g->owner);
				diag_add(diags, DIAG_WARNING, NULL, NULL,
					 "mdev %s (guest '%s') has no adapters or no usage domains: not imported; apmatrix "
					 "created it, so apply with this file removes it",
					 g->uuid, g->owner);
			} else {
				g->skip_reason = xstrdup("has no adapters or no usage domains, which a guest cannot declare");
				diag_add(diags, DIAG_WARNING, NULL, NULL,
					 "mdev %s has no adapters or no usage domains: not imported (apmatrix leaves it alone)",
					 g->uuid);
			}
		}
	}
	if (o->from == IMPORT_FROM_LIVE)
		live_defined(&im);
	if (o->from == IMPORT_FROM_MDEVCTL && !im.errors) {
		mdevctl_conflicts(&im);
		if (!im.errors) {
			mdevctl_beyond_host(&im);
			mdevctl_not_started(&im);
			mdevctl_started_differs(&im);
			mdevctl_carried(&im);
		}
	}
	read_libvirt(&im);
	name_guests(&im);
	if (im.errors || diag_count(diags, DIAG_ERROR))
		r = -EINVAL;
	else {
		*ret = write_yaml(&im);
		if (!*ret)
			r = -ENOMEM;
	}
	for (size_t i = 0; i < im.n; i++) {
		free(im.g[i].name);
		free(im.g[i].comment);
		free(im.g[i].source);
		free(im.g[i].file);
		free(im.g[i].skip_reason);
	}
	free(im.g);
	for (size_t i = 0; i < im.n_doms; i++) {
		free(im.doms[i].name);
		free(im.doms[i].file);
		free(im.doms[i].uuids);
	}
	free(im.doms);
	return r;
}
